#!/usr/bin/env python3
"""Export a PyTorch recurrent model to StreamRNN's safetensors format.

Accepted modules:
  * nn.GRU, nn.LSTM (proj_size allowed) or nn.RNN (tanh or relu), any num_layers, bias,
    bidirectional;
  * any module whose state_dict holds exactly such a module under one attribute (e.g. `rnn`)
    plus an optional nn.Linear named `head` (the classifier head).

The file holds the module's state_dict unchanged (PyTorch names, float32 unless a dtype is
asked for) and the metadata StreamRNN reads: `kind`, and when given `labels` (JSON list)
and `head_activation` (softmax | sigmoid | none), and `features`: the feature extractor the model
was trained on, as a dict with torchaudio's parameter names, e.g.
    {"kind": "logmel", "sample_rate": 16000, "n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 40}
    {"kind": "fbank", "sample_frequency": 16000, "num_mel_bins": 40, "frame_length": 25, "frame_shift": 10}
so `streamrnn replay x.wav --model m.safetensors` needs no feature flags.

As a library:
    from export_model import export_model
    export_model(model, "model.safetensors", labels=["noise", "speech"], head_activation="softmax")

From the shell, for a module saved whole with torch.save(model, "model.pt"):
    python Scripts/export_model.py model.pt model.safetensors --labels noise,speech --head-activation softmax

Needs: pip install torch safetensors (run outside the repository, e.g. in a venv).
"""
import argparse
import json
import sys

import torch
from safetensors.torch import save_file

RECURRENT_TYPES = (torch.nn.GRU, torch.nn.LSTM, torch.nn.RNN)


def recurrent_kind(rnn: torch.nn.Module) -> str:
    """StreamRNN's `kind` for an nn.GRU / nn.LSTM / nn.RNN."""
    if isinstance(rnn, torch.nn.GRU):
        return "gru"
    if isinstance(rnn, torch.nn.LSTM):
        return "lstm"
    if isinstance(rnn, torch.nn.RNN):
        return "rnn_" + rnn.nonlinearity
    raise TypeError(f"{type(rnn).__name__} is not nn.GRU, nn.LSTM or nn.RNN")


def find_parts(model: torch.nn.Module):
    """Returns (recurrent module, its state_dict prefix, head or None)."""
    if isinstance(model, RECURRENT_TYPES):
        return model, "", None
    children = dict(model.named_children())
    recurrent = [(name, child) for name, child in children.items() if isinstance(child, RECURRENT_TYPES)]
    if len(recurrent) != 1:
        raise TypeError(f"expected exactly one nn.GRU/nn.LSTM/nn.RNN child, found {len(recurrent)}")
    name, rnn = recurrent[0]
    head = children.get("head")
    if head is not None and not isinstance(head, torch.nn.Linear):
        raise TypeError("the `head` child must be an nn.Linear")
    extra = set(children) - {name, "head"}
    if any(sum(p.numel() for p in children[e].state_dict().values()) for e in extra):
        raise TypeError(f"children with weights that StreamRNN cannot run: {sorted(extra)}")
    return rnn, name + ".", head


FEATURE_KEYS = {
    "logmel": {"sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "f_min", "f_max", "power", "mel_scale",
               "norm", "center", "log_offset", "int16_scale"},
    "fbank": {"sample_frequency", "frame_length", "frame_shift", "num_mel_bins", "window_type",
              "preemphasis_coefficient", "remove_dc_offset", "round_to_power_of_two", "low_freq", "high_freq",
              "use_log_fbank", "use_power", "int16_scale"},
}


def check_features(features):
    """Raises ValueError for a features dict StreamRNN would reject."""
    kind = features.get("kind")
    if kind not in FEATURE_KEYS:
        raise ValueError("features['kind'] must be 'logmel' or 'fbank'")
    unknown = set(features) - FEATURE_KEYS[kind] - {"kind"}
    if unknown:
        raise ValueError(f"unknown {kind} feature keys: {sorted(unknown)}")


def export_model(model, path, labels=None, head_activation=None, dtype=torch.float32, extra_metadata=None,
                 features=None, batch_first=None):
    """Writes `model`'s state_dict and StreamRNN metadata to `path` (safetensors). A module that
    is not an RNN with an optional `head` is traced with torch.fx and written as a layer graph
    (Scripts/export_graph.py); `batch_first` is accepted for symmetry (the graph is traced on one
    sequence either way)."""
    try:
        rnn, prefix, head = find_parts(model)
    except TypeError:
        from export_graph import export_graph
        if features is not None:
            check_features(features)
        export_graph(model, path, labels=labels, head_activation=head_activation, features=features)
        return {"graph": "see the file"}
    # batch_first and dropout change how the module is called or trained, not its weights.
    metadata = {"kind": recurrent_kind(rnn)}
    if labels is not None:
        if head is None:
            raise ValueError("labels need a `head` nn.Linear")
        if len(labels) != head.out_features:
            raise ValueError(f"{len(labels)} labels for {head.out_features} head outputs")
        metadata["labels"] = json.dumps(list(labels))
    if head_activation is not None:
        if head_activation not in ("softmax", "sigmoid", "none"):
            raise ValueError("head_activation must be softmax, sigmoid or none")
        metadata["head_activation"] = head_activation
    if features is not None:
        check_features(features)
        size = features.get("n_mels" if features["kind"] == "logmel" else "num_mel_bins", 40)
        if size != rnn.input_size:
            raise ValueError(f"the features give {size} values per frame but the model takes {rnn.input_size}")
        metadata["features"] = json.dumps(features)
    metadata.update(extra_metadata or {})
    tensors = {}
    for name, tensor in rnn.state_dict().items():
        tensors[prefix + name] = tensor.detach().to(dtype).contiguous()
    if head is not None:
        for name, tensor in head.state_dict().items():
            tensors["head." + name] = tensor.detach().to(dtype).contiguous()
    save_file(tensors, path, metadata=metadata)
    return metadata


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module", help="a module saved whole with torch.save(model, path)")
    parser.add_argument("output", help="the .safetensors file to write")
    parser.add_argument("--labels", help="comma-separated class names, one per head output")
    parser.add_argument("--head-activation", choices=["softmax", "sigmoid", "none"])
    parser.add_argument("--features", help='feature configuration as JSON, e.g. \'{"kind": "logmel", "n_mels": 40}\'')
    args = parser.parse_args(argv)
    model = torch.load(args.module, weights_only=False, map_location="cpu")
    labels = args.labels.split(",") if args.labels else None
    features = json.loads(args.features) if args.features else None
    metadata = export_model(model, args.output, labels=labels, head_activation=args.head_activation,
                            features=features)
    print(f"wrote {args.output}: {metadata}", file=sys.stderr)


if __name__ == "__main__":
    main()
