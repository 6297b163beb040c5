#!/usr/bin/env python3
"""Golden cases for layer chains (issue 14), from real PyTorch modules in eval mode.

Run by hand (CI never needs torch):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install "torch==2.11.*" numpy safetensors
    /tmp/venv/bin/python Scripts/make_network_golden.py

Each case writes Tests/Golden/network/<name>/: h_n_<i>.npy / c_n_<i>.npy (each recurrent layer's
final state, in chain order), model.safetensors (exported by
Scripts/export_graph.py, which traces the module with torch.fx),
frames.npy [T, in] float32 and out.npy [T', out] float32, PyTorch's output for the whole sequence
(before the output activation), which the chain must match frame by frame within 1e-5.
"""
import os

import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_graph import export_graph  # noqa: E402
from streamrnn_layers import FrameStack, Subsample  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Golden", "network")
FRAMES = 1200
torch.manual_seed(2026)


def save(name, module, frames, head_activation=None, labels=None):
    """Exports `module` with Scripts/export_graph.py and writes the case."""
    folder = os.path.join(ROOT, name)
    os.makedirs(folder, exist_ok=True)
    module.eval()
    # Each recurrent module's final state, in the order forward runs them (the chain's order).
    finals = []
    hooks = [m.register_forward_hook(lambda _m, _i, output: finals.append(output[1]))
             for m in module.modules() if isinstance(m, (nn.GRU, nn.LSTM, nn.RNN))]
    with torch.no_grad():
        out = module(frames)
    for hook in hooks:
        hook.remove()
    for index, state in enumerate(finals):
        h, c = state if isinstance(state, tuple) else (state, None)
        np.save(os.path.join(folder, f"h_n_{index}.npy"), h.numpy().astype(np.float32))
        if c is not None:
            np.save(os.path.join(folder, f"c_n_{index}.npy"), c.numpy().astype(np.float32))
    export_graph(module, os.path.join(folder, "model.safetensors"), labels=labels, head_activation=head_activation)
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
        self.register_buffer("h1", torch.randn(1, 12) * 0.5)  # nonzero starting states
        self.register_buffer("h2", torch.randn(1, 8) * 0.5)
        self.mlp1 = nn.Linear(8, 8)
        self.mlp2 = nn.Linear(8, 3)

    def forward(self, x):
        x = torch.relu(self.fc((x - self.mean) / self.std))
        x, _ = self.gru1(x, self.h1)
        x, _ = self.gru2(x, self.h2)
        return self.mlp2(F.gelu(self.mlp1(x)))


class ConvBNLSTM(nn.Module):
    """Causal dilated Conv1d → BatchNorm1d → ReLU → LSTM with projection → Linear (sigmoid)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(6, 8, kernel_size=3, dilation=2)
        self.bn = nn.BatchNorm1d(8)
        self.lstm = nn.LSTM(8, 10, proj_size=5)
        self.out = nn.Linear(5, 2)
        self.register_buffer("h0", torch.randn(1, 5) * 0.5)
        self.register_buffer("c0", torch.randn(1, 10) * 0.5)
        with torch.no_grad():
            self.bn.running_mean.copy_(torch.randn(8) * 0.3)
            self.bn.running_var.copy_(torch.rand(8) + 0.5)
            self.bn.weight.copy_(torch.rand(8) + 0.5)
            self.bn.bias.copy_(torch.randn(8) * 0.2)

    def forward(self, x):  # x: [T, 6]
        y = self.conv(F.pad(x.t().unsqueeze(0), (4, 0)))  # [1, 8, T]
        y = torch.relu(self.bn(y)).squeeze(0).t()
        y, _ = self.lstm(y, (self.h0, self.c0))
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


class CentredConvs(nn.Module):
    """Linear → centred Conv1d (k 5) → ReLU → GRU → centred depthwise Conv1d (k 3, dilation 2) →
    Linear: a total lookahead of 4 frames."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 6)
        self.conv = nn.Conv1d(6, 8, kernel_size=5, padding=2)
        self.gru = nn.GRU(8, 6)
        self.depthwise = nn.Conv1d(6, 6, kernel_size=3, dilation=2, padding=2, groups=6)
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        y = self.conv(self.fc(x).t().unsqueeze(0)).squeeze(0).t()
        y, _ = self.gru(torch.relu(y))
        y = self.depthwise(y.t().unsqueeze(0)).squeeze(0).t()
        return self.out(y)


class StackSubsample(nn.Module):
    """FrameStack(3) → Linear → ReLU → GRU → Subsample(2) → FrameStack(2) → Linear (softmax head):
    a context window in, half the output rate out."""

    def __init__(self):
        super().__init__()
        self.stack = FrameStack(3)
        self.fc = nn.Linear(12, 10)
        self.gru = nn.GRU(10, 8)
        self.halve = Subsample(2)
        self.stack2 = FrameStack(2)
        self.out = nn.Linear(16, 3)

    def forward(self, x):
        y, _ = self.gru(torch.relu(self.fc(self.stack(x))))
        return self.out(self.stack2(self.halve(y)))


def main():
    save("norm_linear_gru2_mlp", NormLinearGRUs(), torch.randn(FRAMES, 10) * 2 + 0.5, "softmax", ["a", "b", "c"])
    save("causalconv_bn_lstmproj", ConvBNLSTM(), torch.randn(FRAMES, 6), "sigmoid", ["x", "y"])
    save("lstm_gru_layernorm", LSTMGRUNorm(), torch.randn(FRAMES, 7))
    save("depthwise_activations", DepthwiseActivations(), torch.randn(FRAMES, 4))
    save("centred_convs", CentredConvs(), torch.randn(FRAMES, 5))
    save("stack_subsample", StackSubsample(), torch.randn(FRAMES + 1, 4), "softmax", ["a", "b", "c"])


if __name__ == "__main__":
    main()
