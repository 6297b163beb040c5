#!/usr/bin/env python3
"""Writes the layer-chain models that the README's chain speed table times (random weights,
exported with export_graph.py) into a folder, for `streamrnn bench --model`:

    /tmp/venv/bin/python Scripts/make_bench_chains.py /tmp/chains
    streamrnn bench --model /tmp/chains/mlp_gru2x64.safetensors --model … --json chains.json

mlp_gru2x64   CMVN(40) → Linear 40→64 → ReLU → GRU 64 → GRU 64 → Linear 64→64 → ReLU → Linear 64→4
conv_lstm64   causal Conv1d 40→64 (k 3) → BatchNorm → ReLU → LSTM 64 → Linear 64→4
linear256     Linear 256→256 (one matrix-vector product, 256 KiB of weights)
conv64k5      causal Conv1d 64→64 (k 5) (a 64×320 product over the window)
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_graph import export_graph  # noqa: E402


class MLPGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.randn(40))
        self.register_buffer("std", torch.rand(40) + 0.5)
        self.fc = nn.Linear(40, 64)
        self.gru1 = nn.GRU(64, 64)
        self.gru2 = nn.GRU(64, 64)
        self.mlp = nn.Linear(64, 64)
        self.out = nn.Linear(64, 4)

    def forward(self, x):
        y, _ = self.gru1(torch.relu(self.fc((x - self.mean) / self.std)))
        y, _ = self.gru2(y)
        return self.out(torch.relu(self.mlp(y)))


class ConvLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(40, 64, 3)
        self.bn = nn.BatchNorm1d(64)
        self.lstm = nn.LSTM(64, 64)
        self.out = nn.Linear(64, 4)

    def forward(self, x):
        y = self.bn(self.conv(F.pad(x.t().unsqueeze(0), (2, 0)))).squeeze(0).t()
        y, _ = self.lstm(torch.relu(y))
        return self.out(y)


class Conv64(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(64, 64, 5)

    def forward(self, x):
        return self.conv(F.pad(x.t().unsqueeze(0), (4, 0))).squeeze(0).t()


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/chains"
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(3)
    export_graph(MLPGRU(), os.path.join(folder, "mlp_gru2x64.safetensors"), head_activation="softmax")
    export_graph(ConvLSTM(), os.path.join(folder, "conv_lstm64.safetensors"), head_activation="softmax")
    export_graph(nn.Sequential(nn.Linear(256, 256)), os.path.join(folder, "linear256.safetensors"))
    export_graph(Conv64(), os.path.join(folder, "conv64k5.safetensors"))
    print("wrote", folder)


if __name__ == "__main__":
    main()
