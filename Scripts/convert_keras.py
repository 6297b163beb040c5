#!/usr/bin/env python3
"""Converts a Keras 3 model into a StreamRNN model file (safetensors with a `graph` entry).

    KERAS_BACKEND=torch python Scripts/convert_keras.py MODEL.keras OUT.safetensors \\
        [--labels a,b,c] [--features '{"kind": "logmel", "n_mels": 40}']

Keras runs on the torch backend here (pip install keras torch): no TensorFlow needed. Accepted:
a Sequential or straight-line functional model of InputLayer, Normalization, Dense, Conv1D
(padding "causal", stride 1), BatchNormalization, LayerNormalization, Activation/ReLU/LeakyReLU/
ELU/Softmax, Dropout, GRU (reset_after True → PyTorch's GRU, False → the textbook GRU), LSTM and
SimpleRNN, each recurrent layer with return_sequences=True. A final softmax or sigmoid becomes the
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
            if layer.padding != "causal" or tuple(layer.strides) != (1,):
                raise ConversionError(f"{name}: only padding='causal' with stride 1 streams (got {layer.padding}, {layer.strides})")
            entry = {"type": "conv1d", "weight": add(prefix + "weight", np.transpose(weights[0], (2, 1, 0))),
                     "dilation": int(layer.dilation_rate[0]), "groups": int(layer.groups), "padding": "causal"}
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
                    add(prefix + "weight_ih_l0", w_ih)
                    add(prefix + "weight_hh_l0", w_hh)
                    add(prefix + "bias_ih_l0", gate_blocks(bias[0], units, "zrn"))
                    add(prefix + "bias_hh_l0", gate_blocks(bias[1], units, "zrn"))
                    layers.append({"type": "gru", "prefix": prefix})
                else:
                    entry = {"type": "gru_textbook", "weight_ih": add(prefix + "weight_ih", w_ih),
                             "weight_hh": add(prefix + "weight_hh", w_hh), "update": "z_keeps_state"}
                    if bias is not None:
                        entry["bias_ih"] = add(prefix + "bias_ih", gate_blocks(bias, units, "zrn"))
                    layers.append(entry)
            elif kind == "LSTM":
                if layer.activation.__name__ != "tanh" or layer.recurrent_activation.__name__ != "sigmoid":
                    raise ConversionError(f"{name}: only tanh / sigmoid LSTMs are supported")
                add(prefix + "weight_ih_l0", kernel.T)
                add(prefix + "weight_hh_l0", recurrent.T)
                if bias is not None:
                    add(prefix + "bias_ih_l0", bias)
                    add(prefix + "bias_hh_l0", np.zeros_like(bias))
                layers.append({"type": "lstm", "prefix": prefix})
            else:
                act = layer.activation.__name__
                if act not in ("tanh", "relu"):
                    raise ConversionError(f"{name}: SimpleRNN activation must be tanh or relu")
                add(prefix + "weight_ih_l0", kernel.T)
                add(prefix + "weight_hh_l0", recurrent.T)
                if bias is not None:
                    add(prefix + "bias_ih_l0", bias)
                    add(prefix + "bias_hh_l0", np.zeros_like(bias))
                layers.append({"type": "rnn_" + act, "prefix": prefix})
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
