#!/usr/bin/env python3
"""Golden cases for layer chains (issue 14), from real PyTorch modules in eval mode.

Run by hand (CI never needs torch):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install "torch==2.11.*" numpy safetensors
    /tmp/venv/bin/python Scripts/make_network_golden.py

Each case writes Tests/Golden/network/<name>/: model.safetensors (the tensors plus a `graph`
metadata entry, written here by hand from the module's structure: the exporter comes later),
frames.npy [T, in] float32 and out.npy [T', out] float32, PyTorch's output for the whole sequence
(before the output activation), which the chain must match frame by frame within 1e-5.
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Golden", "network")
FRAMES = 1200
torch.manual_seed(2026)


def save(name, module, tensors, layers, frames, output_activation="none", labels=None):
    folder = os.path.join(ROOT, name)
    os.makedirs(folder, exist_ok=True)
    module.eval()
    with torch.no_grad():
        out = module(frames)
    metadata = {"graph": json.dumps({"version": 1, "output_activation": output_activation, "layers": layers})}
    if labels:
        metadata["labels"] = json.dumps(labels)
    save_file({k: v.detach().contiguous().float() for k, v in tensors.items()}, os.path.join(folder, "model.safetensors"), metadata)
    np.save(os.path.join(folder, "frames.npy"), frames.numpy().astype(np.float32))
    np.save(os.path.join(folder, "out.npy"), out.numpy().astype(np.float32))
    print(name, tuple(frames.shape), "->", tuple(out.shape))


class NormLinearGRUs(nn.Module):
    """CMVN → Linear → ReLU → GRU(16→12) → GRU(12→8) → Linear → GELU → Linear (3 classes)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.randn(10))
        self.register_buffer("std", torch.rand(10) + 0.5)
        self.fc = nn.Linear(10, 16)
        self.gru1 = nn.GRU(16, 12)
        self.gru2 = nn.GRU(12, 8)
        self.mlp1 = nn.Linear(8, 8)
        self.mlp2 = nn.Linear(8, 3)

    def forward(self, x):
        x = torch.relu(self.fc((x - self.mean) / self.std))
        x, _ = self.gru1(x)
        x, _ = self.gru2(x)
        return self.mlp2(F.gelu(self.mlp1(x)))


class ConvBNLSTM(nn.Module):
    """Causal dilated Conv1d → BatchNorm1d → ReLU → LSTM with projection → Linear (sigmoid)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(6, 8, kernel_size=3, dilation=2)
        self.bn = nn.BatchNorm1d(8)
        self.lstm = nn.LSTM(8, 10, proj_size=5)
        self.out = nn.Linear(5, 2)
        with torch.no_grad():
            self.bn.running_mean.copy_(torch.randn(8) * 0.3)
            self.bn.running_var.copy_(torch.rand(8) + 0.5)
            self.bn.weight.copy_(torch.rand(8) + 0.5)
            self.bn.bias.copy_(torch.randn(8) * 0.2)

    def forward(self, x):  # x: [T, 6]
        y = self.conv(F.pad(x.t().unsqueeze(0), (4, 0)))  # [1, 8, T]
        y = torch.relu(self.bn(y)).squeeze(0).t()
        y, _ = self.lstm(y)
        return self.out(y)


class LSTMGRUNorm(nn.Module):
    """LSTM → Dropout → GRU of another size → LayerNorm → Linear."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(7, 9, num_layers=2)
        self.drop = nn.Dropout(0.3)
        self.gru = nn.GRU(9, 5)
        self.norm = nn.LayerNorm(5)
        self.out = nn.Linear(5, 4)
        with torch.no_grad():
            self.norm.weight.copy_(torch.rand(5) + 0.5)
            self.norm.bias.copy_(torch.randn(5) * 0.1)

    def forward(self, x):
        y, _ = self.lstm(x)
        y, _ = self.gru(self.drop(y))
        return self.out(self.norm(y))


class DepthwiseActivations(nn.Module):
    """Depthwise causal Conv1d → PReLU per channel → Linear → ELU → Linear → SiLU → Linear →
    Softplus → RNN(relu) → Linear → Hardtanh."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, kernel_size=5, groups=4)
        self.prelu = nn.PReLU(4, init=0.2)
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(6, 6)
        self.c = nn.Linear(6, 5)
        self.rnn = nn.RNN(5, 7, nonlinearity="relu")
        self.d = nn.Linear(7, 3)
        with torch.no_grad():
            self.prelu.weight.copy_(torch.tensor([0.1, -0.2, 0.3, 0.05]))

    def forward(self, x):
        y = self.conv(F.pad(x.t().unsqueeze(0), (4, 0))).squeeze(0).t()
        y = F.elu(self.a(self.prelu(y)))
        y = F.softplus(self.c(F.silu(self.b(y))), beta=2.0, threshold=10.0)
        y, _ = self.rnn(y)
        return F.hardtanh(self.d(y), -0.5, 0.5)


def main():
    frames = torch.randn(FRAMES, 10) * 2 + 0.5
    m = NormLinearGRUs()
    t = {"mean": m.mean, "std": m.std, "fc.weight": m.fc.weight, "fc.bias": m.fc.bias,
         "mlp1.weight": m.mlp1.weight, "mlp1.bias": m.mlp1.bias, "mlp2.weight": m.mlp2.weight, "mlp2.bias": m.mlp2.bias}
    t.update({"gru1." + k: v for k, v in m.gru1.state_dict().items()})
    t.update({"gru2." + k: v for k, v in m.gru2.state_dict().items()})
    save("norm_linear_gru2_mlp", m, t, [
        {"type": "normalize", "mean": "mean", "std": "std"},
        {"type": "linear", "weight": "fc.weight", "bias": "fc.bias"},
        {"type": "activation", "function": "relu"},
        {"type": "gru", "prefix": "gru1."}, {"type": "gru", "prefix": "gru2."},
        {"type": "linear", "weight": "mlp1.weight", "bias": "mlp1.bias"},
        {"type": "activation", "function": "gelu"},
        {"type": "linear", "weight": "mlp2.weight", "bias": "mlp2.bias"},
    ], frames, "softmax", ["a", "b", "c"])

    m = ConvBNLSTM()
    t = {"conv.weight": m.conv.weight, "conv.bias": m.conv.bias, "bn.weight": m.bn.weight, "bn.bias": m.bn.bias,
         "bn.running_mean": m.bn.running_mean, "bn.running_var": m.bn.running_var,
         "out.weight": m.out.weight, "out.bias": m.out.bias}
    t.update({"lstm." + k: v for k, v in m.lstm.state_dict().items()})
    save("causalconv_bn_lstmproj", m, t, [
        {"type": "conv1d", "weight": "conv.weight", "bias": "conv.bias", "dilation": 2, "padding": "causal"},
        {"type": "batchnorm", "weight": "bn.weight", "bias": "bn.bias", "mean": "bn.running_mean",
         "var": "bn.running_var", "eps": m.bn.eps},
        {"type": "activation", "function": "relu"},
        {"type": "lstm", "prefix": "lstm."},
        {"type": "linear", "weight": "out.weight", "bias": "out.bias"},
    ], torch.randn(FRAMES, 6), "sigmoid", ["x", "y"])

    m = LSTMGRUNorm()
    t = {"norm.weight": m.norm.weight, "norm.bias": m.norm.bias, "out.weight": m.out.weight, "out.bias": m.out.bias}
    t.update({"lstm." + k: v for k, v in m.lstm.state_dict().items()})
    t.update({"gru." + k: v for k, v in m.gru.state_dict().items()})
    save("lstm_gru_layernorm", m, t, [
        {"type": "lstm", "prefix": "lstm."}, {"type": "dropout", "p": 0.3}, {"type": "gru", "prefix": "gru."},
        {"type": "layernorm", "weight": "norm.weight", "bias": "norm.bias", "eps": m.norm.eps},
        {"type": "linear", "weight": "out.weight", "bias": "out.bias"},
    ], torch.randn(FRAMES, 7))

    m = DepthwiseActivations()
    t = {"conv.weight": m.conv.weight, "conv.bias": m.conv.bias, "prelu.weight": m.prelu.weight,
         "a.weight": m.a.weight, "a.bias": m.a.bias, "b.weight": m.b.weight, "b.bias": m.b.bias,
         "c.weight": m.c.weight, "c.bias": m.c.bias, "d.weight": m.d.weight, "d.bias": m.d.bias}
    t.update({"rnn." + k: v for k, v in m.rnn.state_dict().items()})
    save("depthwise_activations", m, t, [
        {"type": "conv1d", "weight": "conv.weight", "bias": "conv.bias", "groups": 4},
        {"type": "activation", "function": "prelu", "weight": "prelu.weight"},
        {"type": "linear", "weight": "a.weight", "bias": "a.bias"}, {"type": "activation", "function": "elu"},
        {"type": "linear", "weight": "b.weight", "bias": "b.bias"}, {"type": "activation", "function": "silu"},
        {"type": "linear", "weight": "c.weight", "bias": "c.bias"},
        {"type": "activation", "function": "softplus", "beta": 2.0, "threshold": 10.0},
        {"type": "rnn_relu", "prefix": "rnn."},
        {"type": "linear", "weight": "d.weight", "bias": "d.bias"},
        {"type": "activation", "function": "hardtanh", "min_val": -0.5, "max_val": 0.5},
    ], torch.randn(FRAMES, 4))


if __name__ == "__main__":
    main()
