#!/usr/bin/env python3
"""Exports a PyTorch module whose forward is a straight chain of layers to StreamRNN's `graph`
format, by tracing it with torch.fx (used by export_model.py for anything beyond an RNN + head).

The traced forward works on one sequence: `[T, features]` (or `[1, T, F]` / `[T, 1, F]` with
`batch_first` as the recurrent layers say). Mapped:
  * nn.Linear; nn.Conv1d (stride 1, groups 1 or depthwise) made causal by F.pad(x, (left, 0)) with
    left = dilation·(k−1) just before it, or centred by its own padding = dilation·(k−1)/2 (a
    lookahead of that many frames); transposes, permutes, (un)squeezes and contiguous() around it
    are layout only;
  * nn.BatchNorm1d (eval), nn.LayerNorm over the features, nn.Dropout (the identity);
  * nn.GRU / nn.LSTM / nn.RNN (`out, _ = rnn(x)`, i.e. output [0]; bidirectional ones make the
    model offline-only), with a
    starting state `rnn(x, self.h0)` / `lstm(x, (self.h0, self.c0))` from buffers or parameters;
  * activations as modules or functions: ReLU, LeakyReLU, PReLU, ELU, GELU (both forms), SiLU,
    Tanh, Sigmoid, Hardtanh, ReLU6, Softplus;
  * (x − a) / b and x · a + b with buffers or parameters of one value per feature;
  * FrameStack(k) and Subsample(n) from Scripts/streamrnn_layers.py (frame stacking, subsampling);
  * a final softmax / sigmoid over the features → the output activation.
Anything else is one error naming the node and its source line.

    from export_graph import export_graph
    export_graph(model, "model.safetensors", labels=["noise", "speech"], features={...})
"""
import json
import operator

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

from streamrnn_layers import FrameStack, Subsample

LAYOUT_METHODS = {"transpose", "permute", "unsqueeze", "squeeze", "contiguous", "t", "view", "reshape"}
LAYOUT_FUNCTIONS = {torch.transpose, torch.permute, torch.unsqueeze, torch.squeeze, torch.t}


class ExportError(Exception):
    pass


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer, keeping StreamRNN's own layer modules whole (each is one layer)."""

    def is_leaf_module(self, module, qualified_name):
        return isinstance(module, (FrameStack, Subsample)) or super().is_leaf_module(module, qualified_name)


def where(node):
    trace = node.meta.get("stack_trace") or ""
    lines = [line.strip() for line in trace.strip().splitlines() if line.strip().startswith("File")]
    return f"node '{node.name}' ({node.op} {getattr(node.target, '__name__', node.target)})" + (f" at {lines[-1]}" if lines else "")


def activation_entry(kind, node=None, module=None, args=(), kwargs=None):
    """Maps an activation module or function to a graph entry, or None."""
    kwargs = kwargs or {}
    if isinstance(module, nn.ReLU) or kind in (F.relu, torch.relu, "relu"):
        return {"function": "relu"}
    if isinstance(module, nn.ReLU6) or kind is F.relu6:
        return {"function": "relu6"}
    if isinstance(module, nn.LeakyReLU) or kind is F.leaky_relu:
        slope = module.negative_slope if module is not None else kwargs.get("negative_slope", args[1] if len(args) > 1 else 0.01)
        return {"function": "leaky_relu", "negative_slope": float(slope)}
    if isinstance(module, nn.ELU) or kind is F.elu:
        alpha = module.alpha if module is not None else kwargs.get("alpha", args[1] if len(args) > 1 else 1.0)
        return {"function": "elu", "alpha": float(alpha)}
    if isinstance(module, nn.GELU) or kind is F.gelu:
        approximate = module.approximate if module is not None else kwargs.get("approximate", "none")
        return {"function": "gelu", "approximate": approximate}
    if isinstance(module, nn.SiLU) or kind is F.silu:
        return {"function": "silu"}
    if isinstance(module, nn.Tanh) or kind in (torch.tanh, F.tanh, "tanh"):
        return {"function": "tanh"}
    if isinstance(module, nn.Sigmoid) or kind in (torch.sigmoid, F.sigmoid, "sigmoid"):
        return {"function": "sigmoid"}
    if isinstance(module, nn.Hardtanh) or kind is F.hardtanh:
        low = module.min_val if module is not None else kwargs.get("min_val", args[1] if len(args) > 1 else -1.0)
        high = module.max_val if module is not None else kwargs.get("max_val", args[2] if len(args) > 2 else 1.0)
        return {"function": "hardtanh", "min_val": float(low), "max_val": float(high)}
    if isinstance(module, nn.Softplus) or kind is F.softplus:
        beta = module.beta if module is not None else kwargs.get("beta", args[1] if len(args) > 1 else 1.0)
        threshold = module.threshold if module is not None else kwargs.get("threshold", args[2] if len(args) > 2 else 20.0)
        return {"function": "softplus", "beta": float(beta), "threshold": float(threshold)}
    return None


def input_width(entry, tensors):
    """Features into a graph entry that has weights, from its tensors (None when it has none)."""
    kind = entry["type"]
    if kind == "linear":
        return tensors[entry["weight"]].shape[1]
    if kind == "conv1d":
        return tensors[entry["weight"]].shape[1] * entry["groups"]
    if kind in ("gru", "lstm", "rnn_tanh", "rnn_relu"):
        return tensors[entry["prefix"] + "weight_ih_l0"].shape[1]
    if kind in ("normalize", "batchnorm"):
        return tensors[entry["mean"]].shape[0]
    if kind == "affine":
        return tensors[entry["scale"]].shape[0]
    if kind == "layernorm" and "weight" in entry:
        return tensors[entry["weight"]].shape[0]
    return None


def export_graph(model, path, labels=None, head_activation=None, features=None):
    """Traces `model` and writes its tensors and `graph` entry to `path`; returns the layers."""
    model = model.eval()
    traced = torch.fx.GraphModule(model, _Tracer().trace(model))
    modules = dict(traced.named_modules())
    tensors = {}
    layers = []
    output_activation = head_activation or "none"
    pending_pad = None
    pending_affine = None  # ("sub"|"mul", tensor) waiting for its div/add

    def tensor_name(prefix, value):
        name = prefix
        tensors[name] = value.detach().float().contiguous()
        return name

    def attribute(node):
        """The tensor a get_attr node names, else None."""
        if isinstance(node, torch.fx.Node) and node.op == "get_attr":
            value = traced
            for part in node.target.split("."):
                value = getattr(value, part)
            return node.target, value
        return None

    for node in traced.graph.nodes:
        if node.op in ("placeholder", "output", "get_attr"):
            continue
        module = modules.get(node.target) if node.op == "call_module" else None
        if output_activation != "none" and head_activation is None:
            raise ExportError(f"{where(node)}: comes after the output softmax/sigmoid")
        # Layout-only operations on the single sequence.
        if node.op == "call_method" and node.target in LAYOUT_METHODS or node.op == "call_function" and node.target in LAYOUT_FUNCTIONS:
            continue
        if node.op == "call_function" and node.target is operator.getitem:
            source = node.args[0]
            if isinstance(source, torch.fx.Node) and source.op == "call_module" and isinstance(modules[source.target], (nn.GRU, nn.LSTM, nn.RNN)):
                # `out, _ = rnn(x)`: the output goes on; the final state must not be used.
                if node.args[1] == 0 or not node.users:
                    continue
            raise ExportError(f"{where(node)}: indexing is only supported as `out, _ = rnn(x)`")
        if node.op == "call_function" and node.target is F.pad:
            pad = node.args[1] if len(node.args) > 1 else node.kwargs.get("pad")
            if len(pad) != 2 or pad[1] != 0:
                raise ExportError(f"{where(node)}: only left padding of the time axis (causal) is supported")
            pending_pad = pad[0]
            continue
        if isinstance(module, nn.Conv1d):
            k, d = module.kernel_size[0], module.dilation[0]
            built_in = module.padding[0] if isinstance(module.padding, tuple) else (0 if module.padding == "valid" else None)
            if module.padding == "same" and pending_pad is None and (d * (k - 1)) % 2 == 0:
                built_in = d * (k - 1) // 2
            if module.stride[0] != 1 or built_in is None or module.padding_mode != "zeros":
                raise ExportError(f"{where(node)}: stride 1 and zero padding (causal with F.pad, or centred)")
            if built_in == 0 and (pending_pad or 0) == d * (k - 1):
                padding = "causal"
            elif pending_pad is None and 2 * built_in == d * (k - 1) and built_in > 0:
                padding = "centred"
            else:
                raise ExportError(
                    f"{where(node)}: causal needs F.pad(x, ({d * (k - 1)}, 0)) just before it; centred needs "
                    f"padding={d * (k - 1) // 2} and no F.pad")
            if module.groups not in (1, module.in_channels):
                raise ExportError(f"{where(node)}: groups must be 1 or the channel count")
            entry = {"type": "conv1d", "weight": tensor_name(node.target + ".weight", module.weight), "dilation": d,
                     "groups": module.groups, "padding": padding}
            if module.bias is not None:
                entry["bias"] = tensor_name(node.target + ".bias", module.bias)
            layers.append(entry)
            pending_pad = None
            continue
        if pending_pad is not None:
            raise ExportError(f"{where(node)}: F.pad must be followed by the Conv1d it makes causal")
        if isinstance(module, nn.Linear):
            entry = {"type": "linear", "weight": tensor_name(node.target + ".weight", module.weight)}
            if module.bias is not None:
                entry["bias"] = tensor_name(node.target + ".bias", module.bias)
            layers.append(entry)
        elif isinstance(module, nn.BatchNorm1d):
            entry = {"type": "batchnorm", "mean": tensor_name(node.target + ".running_mean", module.running_mean),
                     "var": tensor_name(node.target + ".running_var", module.running_var), "eps": module.eps}
            if module.affine:
                entry["weight"] = tensor_name(node.target + ".weight", module.weight)
                entry["bias"] = tensor_name(node.target + ".bias", module.bias)
            layers.append(entry)
        elif isinstance(module, nn.LayerNorm):
            if len(module.normalized_shape) != 1:
                raise ExportError(f"{where(node)}: LayerNorm over the features only")
            entry = {"type": "layernorm", "eps": module.eps}
            if module.elementwise_affine:
                entry["weight"] = tensor_name(node.target + ".weight", module.weight)
                if module.bias is not None:
                    entry["bias"] = tensor_name(node.target + ".bias", module.bias)
            layers.append(entry)
        elif isinstance(module, nn.Dropout):
            layers.append({"type": "dropout"})
        elif isinstance(module, FrameStack):
            layers.append({"type": "frame_stack", "frames": module.frames})
        elif isinstance(module, Subsample):
            layers.append({"type": "subsample", "every": module.every})
        elif isinstance(module, (nn.GRU, nn.LSTM, nn.RNN)):
            # A bidirectional layer exports as itself (its *_reverse tensors under the prefix): the
            # model then runs offline only (streamrnn step); the streaming paths refuse it at load.
            kind = "gru" if isinstance(module, nn.GRU) else "lstm" if isinstance(module, nn.LSTM) else "rnn_" + module.nonlinearity
            for name, value in module.state_dict().items():
                tensor_name(node.target + "." + name, value)
            entry = {"type": kind, "prefix": node.target + "."}
            # rnn(x, h0) or lstm(x, (h0, c0)) with buffers or parameters: the stream's starting state.
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("hx")
            if start is not None:
                parts = list(start) if isinstance(start, (tuple, list)) else [start]
                found = [attribute(part) for part in parts]
                if any(item is None for item in found):
                    raise ExportError(f"{where(node)}: a starting state must be a buffer or parameter")
                entry["h0"] = tensor_name(found[0][0] + ".h0", found[0][1])
                if len(found) > 1:
                    entry["c0"] = tensor_name(found[1][0] + ".c0", found[1][1])
            layers.append(entry)
        elif isinstance(module, nn.PReLU):
            layers.append({"type": "activation", "function": "prelu", "weight": tensor_name(node.target + ".weight", module.weight)})
        elif module is not None and activation_entry(None, module=module):
            layers.append(dict(type="activation", **activation_entry(None, module=module)))
        elif node.op in ("call_function", "call_method") and node.target in (F.softmax, torch.softmax, "softmax"):
            output_activation = "softmax"
        elif node.op in ("call_function", "call_method") and node.target in (operator.sub, operator.mul, operator.truediv, operator.add, torch.sub, torch.mul, torch.div, torch.add):
            other = attribute(node.args[1]) if len(node.args) > 1 else None
            if other is None:
                raise ExportError(f"{where(node)}: arithmetic is only supported with a per-feature buffer or parameter")
            name, value = other
            value = value.detach().float().reshape(-1)
            op = node.target
            if op in (operator.sub, torch.sub):
                pending_affine = ("sub", name, value)
                continue
            if op in (operator.truediv, torch.div):
                if pending_affine and pending_affine[0] == "sub":
                    layers.append({"type": "normalize", "mean": tensor_name(pending_affine[1], pending_affine[2]), "std": tensor_name(name, value)})
                else:
                    layers.append({"type": "affine", "scale": tensor_name(name + ".reciprocal", 1 / value),
                                   "shift": tensor_name(name + ".zero", torch.zeros_like(value))})
                pending_affine = None
                continue
            if op in (operator.mul, torch.mul):
                pending_affine = ("mul", name, value)
                continue
            if pending_affine and pending_affine[0] == "mul":
                layers.append({"type": "affine", "scale": tensor_name(pending_affine[1], pending_affine[2]), "shift": tensor_name(name, value)})
            else:
                layers.append({"type": "affine", "scale": tensor_name(name + ".one", torch.ones_like(value)), "shift": tensor_name(name, value)})
            pending_affine = None
        else:
            entry = activation_entry(node.target, args=node.args, kwargs=node.kwargs)
            if entry is None:
                raise ExportError(f"{where(node)}: StreamRNN has no layer for this")
            if entry["function"] == "sigmoid" and node.next.op == "output" and head_activation is None:
                output_activation = "sigmoid"
            else:
                layers.append(dict(type="activation", **entry))
        if pending_affine is not None:
            raise ExportError(f"{where(node)}: a subtraction or multiplication must be followed by its division or addition")
    if pending_affine is not None:
        # `x - mean` alone, or `x * scale` alone.
        kind, name, value = pending_affine
        if kind == "sub":
            layers.append({"type": "affine", "scale": tensor_name(name + ".one", torch.ones_like(value)), "shift": tensor_name(name + ".negated", -value)})
        else:
            layers.append({"type": "affine", "scale": tensor_name(name, value), "shift": tensor_name(name + ".zero", torch.zeros_like(value))})
    # A frame stack or subsampler first has no tensor to size it: the first layer that has one
    # gives the features in, divided back through the stacks.
    leading = 0
    while leading < len(layers) and layers[leading]["type"] in ("frame_stack", "subsample", "dropout"):
        leading += 1
    if any(entry["type"] in ("frame_stack", "subsample") for entry in layers[:leading]):
        if leading == len(layers) or input_width(layers[leading], tensors) is None:
            raise ExportError("a FrameStack or Subsample first must be followed by a layer with weights (its size comes from them)")
        width = input_width(layers[leading], tensors)
        for entry in reversed(layers[:leading]):
            if entry["type"] == "frame_stack":
                if width % entry["frames"]:
                    raise ExportError(f"FrameStack({entry['frames']}) does not divide the {width} features after it")
                width //= entry["frames"]
            if entry["type"] in ("frame_stack", "subsample"):
                entry["size"] = width
    metadata = {"graph": json.dumps({"version": 1, "output_activation": output_activation, "layers": layers})}
    if labels is not None:
        metadata["labels"] = json.dumps(list(labels))
    if features is not None:
        metadata["features"] = json.dumps(features)
    save_file(tensors, path, metadata=metadata)
    return layers
