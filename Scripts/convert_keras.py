#!/usr/bin/env python3
"""Converts a Keras 3 model into a StreamRNN model file (safetensors with a `graph` entry).

    KERAS_BACKEND=torch python Scripts/convert_keras.py MODEL.keras OUT.safetensors \\
        [--labels a,b,c] [--features '{"kind": "logmel", "n_mels": 40}']

Keras runs on the torch backend here (pip install keras torch): no TensorFlow needed. Accepted:
a Sequential or straight-line functional model of InputLayer, Normalization, Dense, Conv1D
(padding "causal", or "same" with an odd span: centred, a lookahead; stride 1), BatchNormalization, LayerNormalization, Activation/ReLU/LeakyReLU/
ELU/Softmax, Dropout, GRU (reset_after True → PyTorch's GRU, False → the textbook GRU), LSTM and
SimpleRNN, each recurrent layer with return_sequences=True, and Bidirectional of these (concat;
offline only: `streamrnn step` runs it, the streaming paths refuse it). A final softmax or sigmoid becomes the
output activation. Anything else is one error naming the layer.

Keras' layouts: Dense kernels are [in, out] (transposed here), Conv1D kernels [k, in, out]
(→ [out, in, k]), GRU gate blocks z | r | h (→ r | z | n), LSTM i | f | c | o (PyTorch's order,
kernel transposed), and a GRU with reset_after keeps an input and a recurrent bias.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402


class ConversionError(Exception):
    pass


def keras_activation(name, layer_name):
    """A Keras activation name → (graph activation entry or None, output activation or None)."""
    table = {
        "linear": None, "relu": {"function": "relu"}, "tanh": {"function": "tanh"},
        "sigmoid": {"function": "sigmoid"}, "silu": {"function": "silu"}, "swish": {"function": "silu"},
        "gelu": {"function": "gelu"}, "elu": {"function": "elu", "alpha": 1.0},
        "softplus": {"function": "softplus", "beta": 1.0, "threshold": 20.0},
        "relu6": {"function": "relu6"}, "leaky_relu": {"function": "leaky_relu", "negative_slope": 0.2},
    }
    if name == "softmax":
        return None, "softmax"
    if name not in table:
        raise ConversionError(f"{layer_name}: activation '{name}' is not supported")
    return table[name], None


def convert(model, path, labels=None, features=None):
    from safetensors.numpy import save_file

    tensors = {}
    layers = []
    output_activation = "none"

    def add(name, array):
        tensors[name] = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
        return name

    def activation_after(layer, name):
        nonlocal output_activation
        act = getattr(layer, "activation", None)
        act_name = getattr(act, "__name__", "linear") if act is not None else "linear"
        entry, final = keras_activation(act_name, name)
        if entry:
            layers.append(dict(type="activation", **entry))
        if final:
            output_activation = final

    def gate_blocks(array, hidden, order):
        """Reorders the last axis' gate blocks (given in `order`) to r | z | n."""
        blocks = {gate: array[..., i * hidden:(i + 1) * hidden] for i, gate in enumerate(order)}
        return np.concatenate([blocks["r"], blocks["z"], blocks["n"]], axis=-1)

    def recurrent_entry(layer, name, prefix, suffix, textbook_ok):
        """Adds a Keras GRU/LSTM/SimpleRNN's tensors as PyTorch's `*_l0{suffix}` (or a textbook
        GRU's) and returns its graph entry."""
        kind = type(layer).__name__
        if kind not in ("GRU", "LSTM", "SimpleRNN"):
            raise ConversionError(f"{name}: {kind} is not a GRU, LSTM or SimpleRNN")
        weights = [np.asarray(w) for w in layer.get_weights()]
        units = layer.units
        kernel, recurrent = weights[0], weights[1]
        bias = weights[2] if layer.use_bias else None
        if kind == "GRU":
            if layer.activation.__name__ != "tanh" or layer.recurrent_activation.__name__ != "sigmoid":
                raise ConversionError(f"{name}: only tanh / sigmoid GRUs are supported")
            w_ih = gate_blocks(kernel, units, "zrn").T
            w_hh = gate_blocks(recurrent, units, "zrn").T
            if layer.reset_after:
                bias = bias if bias is not None else np.zeros((2, 3 * units))
                add(prefix + "weight_ih_l0" + suffix, w_ih)
                add(prefix + "weight_hh_l0" + suffix, w_hh)
                add(prefix + "bias_ih_l0" + suffix, gate_blocks(bias[0], units, "zrn"))
                add(prefix + "bias_hh_l0" + suffix, gate_blocks(bias[1], units, "zrn"))
                return {"type": "gru", "prefix": prefix}
            if not textbook_ok:
                raise ConversionError(f"{name}: a bidirectional GRU needs reset_after=True")
            entry = {"type": "gru_textbook", "weight_ih": add(prefix + "weight_ih", w_ih),
                     "weight_hh": add(prefix + "weight_hh", w_hh), "update": "z_keeps_state"}
            if bias is not None:
                entry["bias_ih"] = add(prefix + "bias_ih", gate_blocks(bias, units, "zrn"))
            return entry
        if layer.activation.__name__ not in (("tanh",) if kind == "LSTM" else ("tanh", "relu")):
            raise ConversionError(f"{name}: activation {layer.activation.__name__} is not supported")
        if kind == "LSTM" and layer.recurrent_activation.__name__ != "sigmoid":
            raise ConversionError(f"{name}: only tanh / sigmoid LSTMs are supported")
        add(prefix + "weight_ih_l0" + suffix, kernel.T)
        add(prefix + "weight_hh_l0" + suffix, recurrent.T)
        if bias is not None:
            add(prefix + "bias_ih_l0" + suffix, bias)
            add(prefix + "bias_hh_l0" + suffix, np.zeros_like(bias))
        return {"type": "lstm" if kind == "LSTM" else "rnn_" + layer.activation.__name__, "prefix": prefix}

    for index, layer in enumerate(model.layers):
        kind = type(layer).__name__
        name = f"layer {index} ({kind} '{layer.name}')"
        prefix = f"l{index}."
        if output_activation != "none":
            raise ConversionError(f"{name}: comes after the output activation")
        weights = [np.asarray(w) for w in layer.get_weights()]
        if kind == "InputLayer":
            continue
        if kind == "Dropout":
            layers.append({"type": "dropout"})
        elif kind == "Normalization":
            if layer.invert:
                raise ConversionError(f"{name}: invert=True is not supported")
            mean = np.asarray(layer.mean).reshape(-1)
            std = np.maximum(np.sqrt(np.asarray(layer.variance).reshape(-1)), 1e-7)
            layers.append({"type": "normalize", "mean": add(prefix + "mean", mean), "std": add(prefix + "std", std)})
        elif kind == "Dense":
            entry = {"type": "linear", "weight": add(prefix + "weight", weights[0].T)}
            if layer.use_bias:
                entry["bias"] = add(prefix + "bias", weights[1])
            layers.append(entry)
            activation_after(layer, name)
        elif kind == "Conv1D":
            k, d = int(layer.kernel_size[0]), int(layer.dilation_rate[0])
            if tuple(layer.strides) != (1,) or layer.padding not in ("causal", "same"):
                raise ConversionError(f"{name}: padding 'causal' or 'same' with stride 1 streams (got {layer.padding}, {layer.strides})")
            # 'same' pads (k−1)·d // 2 before and the rest after: centred (a lookahead of that many
            # frames) when the two are equal.
            if layer.padding == "same" and (k - 1) * d % 2:
                raise ConversionError(f"{name}: padding='same' with an even span (k−1)·d = {(k - 1) * d} pads unequally; use an odd kernel")
            padding = "centred" if layer.padding == "same" and k > 1 else "causal"
            entry = {"type": "conv1d", "weight": add(prefix + "weight", np.transpose(weights[0], (2, 1, 0))),
                     "dilation": d, "groups": int(layer.groups), "padding": padding}
            if layer.use_bias:
                entry["bias"] = add(prefix + "bias", weights[1])
            layers.append(entry)
            activation_after(layer, name)
        elif kind == "BatchNormalization":
            values = list(weights)
            gamma = values.pop(0) if layer.scale else None
            beta = values.pop(0) if layer.center else None
            entry = {"type": "batchnorm", "mean": add(prefix + "mean", values[0]), "var": add(prefix + "var", values[1]),
                     "eps": float(layer.epsilon)}
            if gamma is not None:
                entry["weight"] = add(prefix + "weight", gamma)
            if beta is not None:
                entry["bias"] = add(prefix + "bias", beta)
            layers.append(entry)
        elif kind == "LayerNormalization":
            values = list(weights)
            entry = {"type": "layernorm", "eps": float(layer.epsilon)}
            if layer.scale:
                entry["weight"] = add(prefix + "weight", values.pop(0))
            if layer.center:
                entry["bias"] = add(prefix + "bias", values.pop(0))
            layers.append(entry)
        elif kind in ("Activation", "ReLU", "ELU", "LeakyReLU", "Softmax"):
            if kind == "Softmax":
                output_activation = "softmax"
            elif kind == "ReLU":
                if layer.max_value is not None or layer.negative_slope != 0 or layer.threshold != 0:
                    raise ConversionError(f"{name}: only plain ReLU is supported")
                layers.append({"type": "activation", "function": "relu"})
            elif kind == "LeakyReLU":
                layers.append({"type": "activation", "function": "leaky_relu", "negative_slope": float(layer.negative_slope)})
            elif kind == "ELU":
                layers.append({"type": "activation", "function": "elu", "alpha": float(layer.alpha)})
            else:
                activation_after(layer, name)
        elif kind in ("GRU", "LSTM", "SimpleRNN"):
            if not layer.return_sequences or layer.go_backwards:
                raise ConversionError(f"{name}: needs return_sequences=True and go_backwards=False to stream")
            layers.append(recurrent_entry(layer, name, prefix, "", textbook_ok=True))
        elif kind == "Bidirectional":
            # Offline only: PyTorch's bidirectional layout, the backward layer's tensors under
            # *_l0_reverse; Keras flips the backward outputs back before concatenating, as PyTorch.
            forward, backward = layer.forward_layer, layer.backward_layer
            if layer.merge_mode != "concat" or not forward.return_sequences or forward.go_backwards or not backward.go_backwards:
                raise ConversionError(f"{name}: needs merge_mode='concat' and return_sequences=True")
            if type(forward).__name__ != type(backward).__name__ or forward.units != backward.units:
                raise ConversionError(f"{name}: forward and backward layers must be of one kind and size")
            entry = recurrent_entry(forward, name, prefix, "", textbook_ok=False)
            recurrent_entry(backward, name, prefix, "_reverse", textbook_ok=False)
            layers.append(entry)
        else:
            raise ConversionError(f"{name}: not supported (see the script's notes)")
    metadata = {"graph": json.dumps({"version": 1, "output_activation": output_activation, "layers": layers})}
    if labels:
        metadata["labels"] = json.dumps(labels)
    if features:
        metadata["features"] = json.dumps(features)
    save_file(tensors, path, metadata)
    return layers, output_activation


def main():
    import keras

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--labels", help="comma-separated output names")
    parser.add_argument("--features", help="the features metadata, as JSON")
    args = parser.parse_args()
    try:
        model = keras.models.load_model(args.model)
        convert(model, args.out, args.labels.split(",") if args.labels else None,
                json.loads(args.features) if args.features else None)
    except ConversionError as error:
        print(f"convert_keras: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
