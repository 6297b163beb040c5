#!/usr/bin/env python3
"""Convert the official Silero VAD (16 kHz branch) to StreamRNN's model format.

Reads the TorchScript model shipped in the `silero-vad` wheel (silero_vad/data/silero_vad.jit; the
`.safetensors` in the wheel is an older checkpoint, so it is not used) and writes
Sources/CBundledModels/silero_vad_16k.safetensors (the default model of
`streamrnn replay` and `capture`, bundled as a resource) with:
  frontend.stft.basis      [258, 1, 256]  the STFT as a convolution (real rows 0-128, imaginary 129-257)
  frontend.conv{0..3}.weight/bias          the encoder's Conv1d layers (each followed by ReLU)
  rnn.weight_ih_l0 ... bias_hh_l0          the decoder's LSTMCell(128, 128), gates i|f|g|o
  head.weight [1, 128], head.bias [1]      the decoder's 1x1 Conv1d, applied after a ReLU
and metadata: kind lstm, labels ["speech"], head_activation sigmoid, head_input_activation relu,
frontend (JSON: chunking and layer hyper-parameters), source (package, version, file).

Run by hand: python3 -m venv /tmp/venv && /tmp/venv/bin/pip install silero-vad torch safetensors
             /tmp/venv/bin/python Scripts/convert_silero.py
"""
import importlib.metadata
import json
import os
import shutil

import silero_vad
import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    version = importlib.metadata.version("silero-vad")
    data = os.path.join(os.path.dirname(silero_vad.__file__), "data")
    jit = torch.jit.load(os.path.join(data, "silero_vad.jit"), map_location="cpu")
    model = jit._model
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    convs = []
    tensors = {"frontend.stft.basis": state["stft.forward_basis_buffer"]}
    for index in range(4):
        conv = getattr(model.encoder, str(index)).reparam_conv
        tensors[f"frontend.conv{index}.weight"] = state[f"encoder.{index}.reparam_conv.weight"]
        tensors[f"frontend.conv{index}.bias"] = state[f"encoder.{index}.reparam_conv.bias"]
        convs.append({"stride": conv.stride[0], "padding": conv.padding[0], "activation": "relu"})
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        tensors[f"rnn.{name}_l0"] = state[f"decoder.rnn.{name}"]
    tensors["head.weight"] = state["decoder.decoder.2.weight"].reshape(1, -1).contiguous()
    tensors["head.bias"] = state["decoder.decoder.2.bias"]
    frontend = {
        "type": "stft_conv",
        "sample_rate": 16000,
        "chunk_samples": 512,
        "context_samples": int(model.context_size_samples),
        "stft": {"hop_length": int(model.stft.hop_length), "pad_right": 64, "pad_mode": "reflect"},
        "convs": convs,
    }
    metadata = {
        "kind": "lstm",
        "labels": json.dumps(["speech"]),
        "head_activation": "sigmoid",
        "head_input_activation": "relu",
        "frontend": json.dumps(frontend),
        "source": f"silero-vad {version} (PyPI), silero_vad/data/silero_vad.jit, _model (16 kHz); MIT licence",
    }
    folder = os.path.join(ROOT, "Sources", "CBundledModels")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "silero_vad_16k.safetensors")
    save_file(tensors, path, metadata=metadata)
    licence = os.path.join(os.path.dirname(silero_vad.__file__), "..", f"silero_vad-{version}.dist-info", "licenses",
                           "LICENSE")
    if os.path.exists(licence):
        shutil.copy(licence, os.path.join(folder, "silero_vad_LICENSE"))
    # The binary embeds the file through CBundledModels.S (.incbin), a dependency the build does not
    # track: touching the assembly file makes the next build embed the new bytes.
    os.utime(os.path.join(folder, "CBundledModels.S"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes) from silero-vad {version}")


if __name__ == "__main__":
    main()
