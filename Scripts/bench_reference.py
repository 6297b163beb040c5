#!/usr/bin/env python3
"""Side-by-side per-step times: PyTorch eager, TorchScript, ONNX Runtime, StreamRNN, and the
hardware's matrix-vector limit, for the benchmark zoo, measured in one sitting.

Every engine runs one timestep of batch 1 per call with the state carried between calls, on one
thread, timed per call with a monotonic clock after warm-up; "median" is the lowest of 5
consecutive block medians (the same method as `streamrnn bench`).

Run by hand (not in CI), from the repository root:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch onnxruntime onnx onnxscript
    swift build -c release
    g++ -O3 -march=native -std=c++17 ../shared/bench/sgemv_bench.cpp -o /tmp/sgemv_bench
    /tmp/venv/bin/python Scripts/bench_reference.py --streamrnn .build/release/streamrnn --limit /tmp/sgemv_bench
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime
import torch

ZOO = [  # name, cell, input, hidden, layers, classes (as ../shared/bench/README.md)
    ("gru2x64+head", torch.nn.GRU, 40, 64, 2, 4),
    ("lstm2x64+head", torch.nn.LSTM, 40, 64, 2, 4),
    ("gru1x256", torch.nn.GRU, 40, 256, 1, 0),
    ("lstm1x256", torch.nn.LSTM, 40, 256, 1, 0),
    ("gru1x16", torch.nn.GRU, 16, 16, 1, 0),
]


class Step(torch.nn.Module):
    """One timestep with explicit state in and out (what a streaming caller does)."""

    def __init__(self, cell, input_size, hidden, layers, classes):
        super().__init__()
        self.lstm = cell is torch.nn.LSTM
        self.rnn = cell(input_size, hidden, num_layers=layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, classes) if classes else None

    def forward(self, x, h, c):
        if self.lstm:
            y, (h, c) = self.rnn(x, (h, c))
        else:
            y, h = self.rnn(x, h)
        if self.head is not None:
            y = torch.softmax(self.head(y), dim=-1)
        return y, h, c


def lowest_block_median(durations_ns):
    size = len(durations_ns) // 5
    return min(statistics.median(durations_ns[i * size:(i + 1) * size]) for i in range(5)) / 1000


def time_calls(call, steps, warmup):
    for _ in range(warmup):
        call()
    durations = []
    clock = time.perf_counter_ns
    for _ in range(steps):
        begin = clock()
        call()
        durations.append(clock() - begin)
    return lowest_block_median(durations)


def bench_torch(model, inputs, steps, warmup):
    x, h, c = inputs
    state = {"h": h, "c": c}

    def call():
        _, state["h"], state["c"] = model(x, state["h"], state["c"])

    with torch.inference_mode():
        return time_calls(call, steps, warmup)


def bench_onnx(model, inputs, steps, warmup):
    x, h, c = inputs
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "step.onnx")
        torch.onnx.export(model, (x, h, c), path, input_names=["x", "h", "c"], output_names=["y", "h_out", "c_out"],
                          dynamo=False)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    values = {name: onnxruntime.OrtValue.ortvalue_from_numpy(tensor.numpy()) for name, tensor in
              (("x", x), ("h", h), ("c", c)) if name in names}
    out_names = [o.name for o in session.get_outputs()]
    outputs = {name: onnxruntime.OrtValue.ortvalue_from_shape_and_type(
        session.run(None, {k: v.numpy() for k, v in values.items()})[out_names.index(name)].shape, np.float32)
        for name in out_names}
    # io_binding: preallocated inputs and outputs; the state ping-pongs between two buffers.
    bindings = []
    for swap in (False, True):
        binding = session.io_binding()
        for name in names:
            source = values[name] if (not swap or name == "x") else outputs[name + "_out"]
            binding.bind_ortvalue_input(name, source)
        for name in out_names:
            target = outputs[name] if (not swap or name == "y") else values[name.replace("_out", "")]
            binding.bind_ortvalue_output(name, target)
        bindings.append(binding)
    index = [0]

    def call():
        session.run_with_iobinding(bindings[index[0]])
        index[0] ^= 1

    return time_calls(call, steps, warmup)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streamrnn", required=True, help="the streamrnn binary (release build)")
    parser.add_argument("--limit", help="the sgemv_bench binary from ../shared/bench")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5, help="alternating StreamRNN / limit-tool runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    rows = {}
    for name, cell, input_size, hidden, layers, classes in ZOO:
        model = Step(cell, input_size, hidden, layers, classes).eval()
        inputs = (torch.randn(1, 1, input_size), torch.zeros(layers, 1, hidden), torch.zeros(layers, 1, hidden))
        eager = bench_torch(model, inputs, args.steps, args.warmup)
        with torch.inference_mode():
            # Traced (the Python branch on the cell type is fixed per model), frozen and optimised.
            scripted = torch.jit.optimize_for_inference(torch.jit.trace(model, inputs))
        script = bench_torch(scripted, inputs, args.steps, args.warmup)
        onnx = bench_onnx(model, inputs, args.steps, args.warmup)
        rows[name] = {"eager": eager, "torchscript": script, "onnxruntime": onnx}
        print(f"{name}: eager {eager:.2f} µs, TorchScript {script:.2f} µs, ONNX Runtime {onnx:.2f} µs", flush=True)

    # StreamRNN and the limit tool run alternately, --rounds times; each side reports the median
    # over rounds of its own per-run figure (StreamRNN's lowest block median, the limit tool's best
    # block). Both get the same treatment, so a quiet or a noisy moment on this shared machine
    # favours neither side of the ratio, and one lucky round does not set the limit.
    rounds_ours, rounds_half, rounds_limit = {}, {}, {}
    for _ in range(args.rounds):
        for weights, rounds in (("f32", rounds_ours), ("f16", rounds_half)):
            with tempfile.NamedTemporaryFile(suffix=".json") as report:
                subprocess.run([args.streamrnn, "bench", "--zoo", "--no-features", "--weights", weights, "--json",
                                report.name], check=True, stdout=subprocess.DEVNULL)
                for r in json.load(open(report.name))["results"]:
                    rounds.setdefault(r["model"], []).append(r)
        if args.limit:
            measured = json.loads(subprocess.run([args.limit], check=True, capture_output=True, text=True).stdout)
            for m in measured["models"]:
                rounds_limit.setdefault(m["model"], []).append(min(m["avx512_indep_ns"], m["avx2_indep_ns"]) / 1000)
    ours = {name: sorted(runs, key=lambda r: r["median_us"])[len(runs) // 2] for name, runs in rounds_ours.items()}
    half = {name: sorted(runs, key=lambda r: r["median_us"])[len(runs) // 2] for name, runs in rounds_half.items()}
    limits = {name: statistics.median(values) for name, values in rounds_limit.items()}
    print(f"StreamRNN and the limit: median of {args.rounds} alternating rounds each; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for name in rounds_ours:
        spread = sorted(r["median_us"] for r in rounds_ours[name])
        blocks = sorted(r["block_mean_us"] for r in rounds_ours[name])
        line = (f"  {name}: StreamRNN {spread[0]:.3f}–{spread[-1]:.3f} µs "
                f"(best block mean, the limit tool's method: {blocks[0]:.3f}–{blocks[-1]:.3f})")
        if name in rounds_limit:
            line += f", limit {min(rounds_limit[name]):.3f}–{max(rounds_limit[name]):.3f} µs"
        print(line)

    print()
    print("| model | PyTorch eager | TorchScript | ONNX Runtime | StreamRNN (p99) | matvec limit | StreamRNN / limit |"
          " StreamRNN f16 weights (p99) | f16 / limit | vs ONNX Runtime |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, *_ in ZOO:
        row, mine, mine_half = rows[name], ours[name], half[name]
        limit = limits.get(name)
        ratio = f"{mine['median_us'] / limit:.2f}x" if limit else "–"
        ratio_half = f"{mine_half['median_us'] / limit:.2f}x" if limit else "–"
        print(f"| {name} | {row['eager']:.1f} | {row['torchscript']:.1f} | {row['onnxruntime']:.2f} | "
              f"{mine['median_us']:.3f} ({mine['p99_us']:.3f}) | {f'{limit:.3f}' if limit else '–'} | {ratio} | "
              f"{mine_half['median_us']:.3f} ({mine_half['p99_us']:.3f}) | {ratio_half} | "
              f"{row['onnxruntime'] / mine['median_us']:.0f}x faster |")


if __name__ == "__main__":
    main()
