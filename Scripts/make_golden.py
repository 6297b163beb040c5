#!/usr/bin/env python3
"""Golden files for the recurrent core, computed by real PyTorch.

Writes Tests/Golden/recurrent/<case>/ (and the demo model in Examples/demo/) with:
  model.safetensors  the model (Scripts/export_model.py format)
  frames.npy         float32 [T, input_size]
  h0.npy, c0.npy     float32 initial state [num_layers*D, H_out] / [num_layers*D, hidden]
  out.npy            float32 [T, C] head logits, or [T, D*H_out] the last layer's output
  hn.npy, cn.npy     float32 final state, PyTorch's h_n / c_n without the batch dimension

Run by hand, outside CI (CI never needs torch):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch safetensors numpy
    /tmp/venv/bin/python Scripts/make_golden.py

Everything is seeded, so a rerun with the same torch version reproduces the files up to
float32 round-off of PyTorch's kernels.
"""
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_model import export_model  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Golden", "recurrent")


class WithHead(torch.nn.Module):
    """A recurrent stack plus a Linear classifier head, as users train them (prefix `rnn.`)."""

    def __init__(self, rnn, classes):
        super().__init__()
        self.rnn = rnn
        out = rnn.hidden_size if getattr(rnn, "proj_size", 0) == 0 else rnn.proj_size
        self.head = torch.nn.Linear(out * (2 if rnn.bidirectional else 1), classes)


def make_rnn(kind, input_size, hidden, layers, bias=True, bidirectional=False, proj=0):
    common = dict(num_layers=layers, bias=bias, bidirectional=bidirectional)
    if kind == "gru":
        return torch.nn.GRU(input_size, hidden, **common)
    if kind == "lstm":
        return torch.nn.LSTM(input_size, hidden, proj_size=proj, **common)
    return torch.nn.RNN(input_size, hidden, nonlinearity=kind.split("_")[1], **common)


def round_weights(module, dtype):
    """Rounds weights to `dtype` and back, so storing them as `dtype` loses nothing."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(parameter.to(dtype).to(torch.float32))


def write_case(name, kind, input_size, hidden, layers, steps=50, bias=True, bidirectional=False, proj=0,
               classes=0, storage=torch.float32, seed=0, input_scale=1.5):
    torch.manual_seed(seed)
    rnn = make_rnn(kind, input_size, hidden, layers, bias, bidirectional, proj)
    model = WithHead(rnn, classes) if classes else rnn
    model.eval()
    if storage != torch.float32:
        round_weights(model, storage)
    directions = 2 if bidirectional else 1
    h_out = proj if proj else hidden
    frames = torch.randn(steps, input_size) * input_scale
    h0 = torch.randn(layers * directions, h_out) * 0.5
    c0 = torch.randn(layers * directions, hidden) * 0.5
    with torch.no_grad():
        if kind == "lstm":
            output, (hn, cn) = rnn(frames, (h0, c0))
        else:
            output, hn = rnn(frames, h0)
            cn = None
        out = model.head(output) if classes else output

    folder = os.path.join(ROOT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    labels = [f"class{i}" for i in range(classes)] if classes else None
    export_model(model, os.path.join(folder, "model.safetensors"), labels=labels,
                 head_activation="softmax" if classes else None, dtype=storage)
    save = lambda file, tensor: np.save(os.path.join(folder, file),
                                        np.ascontiguousarray(tensor.numpy().astype(np.float32)))
    save("frames.npy", frames)
    save("h0.npy", h0)
    save("out.npy", out)
    save("hn.npy", hn)
    if kind == "lstm":
        save("c0.npy", c0)
        save("cn.npy", cn)
    print(f"{name}: out {tuple(out.shape)} hn {tuple(hn.shape)}")


def write_demo():
    """Examples/demo: the model `make run` steps through, with PyTorch's logits to compare against."""
    torch.manual_seed(42)
    model = WithHead(torch.nn.GRU(40, 64, num_layers=2), 2).eval()
    frames = torch.randn(300, 40)
    with torch.no_grad():
        logits = model.head(model.rnn(frames)[0])
    folder = os.path.join(os.path.dirname(ROOT), "..", "..", "Examples", "demo")
    os.makedirs(folder, exist_ok=True)
    export_model(model, os.path.join(folder, "gru2x64-head2.safetensors"), labels=["quiet", "active"],
                 head_activation="softmax",
                 features={"kind": "logmel", "sample_rate": 16000, "n_fft": 512, "win_length": 400,
                           "hop_length": 160, "n_mels": 40})
    np.save(os.path.join(folder, "frames.npy"), frames.numpy().astype(np.float32))
    np.save(os.path.join(folder, "pytorch-logits.npy"), logits.numpy().astype(np.float32))
    print("Examples/demo: gru2x64-head2, 300 frames")


def main():
    print(f"torch {torch.__version__}")
    write_case("gru_1x16_in10", "gru", 10, 16, 1)
    write_case("gru_3x33_in7_head5", "gru", 7, 33, 3, classes=5, seed=1)
    write_case("gru_nobias_2x9_in5", "gru", 5, 9, 2, bias=False, seed=2)
    write_case("lstm_2x24_in13", "lstm", 13, 24, 2, seed=3)
    write_case("lstm_proj_2x20p7_in11_head3", "lstm", 11, 20, 2, proj=7, classes=3, seed=4)
    write_case("lstm_nobias_1x17_in6", "lstm", 6, 17, 1, bias=False, seed=5)
    write_case("lstm_3x64_in40_head2", "lstm", 40, 64, 3, classes=2, seed=6)
    write_case("rnn_tanh_2x19_in9", "rnn_tanh", 9, 19, 2, seed=7)
    write_case("rnn_relu_3x12_in4_nobias", "rnn_relu", 4, 12, 3, bias=False, seed=8)
    write_case("gru_bi_2x15_in8_head4", "gru", 8, 15, 2, bidirectional=True, classes=4, seed=9)
    write_case("lstm_bi_proj_2x12p5_in6", "lstm", 6, 12, 2, bidirectional=True, proj=5, seed=10)
    write_case("rnn_tanh_bi_1x10_in3", "rnn_tanh", 3, 10, 1, bidirectional=True, seed=11)
    write_case("gru_f64_2x11_in6", "gru", 6, 11, 2, storage=torch.float64, seed=12)
    write_case("lstm_f16_1x13_in5_head2", "lstm", 5, 13, 1, classes=2, storage=torch.float16, seed=13)
    write_case("gru_bf16_1x21_in4", "gru", 4, 21, 1, storage=torch.bfloat16, seed=14)
    # No drift over a long stateful run: 10,000 steps, outputs compared at every step.
    write_case("gru_long_1x24_in8_head3", "gru", 8, 24, 1, steps=10_000, classes=3, seed=15)
    write_case("lstm_long_1x16_in6_head2", "lstm", 6, 16, 1, steps=10_000, classes=2, seed=16)
    write_demo()


if __name__ == "__main__":
    main()
