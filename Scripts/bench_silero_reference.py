#!/usr/bin/env python3
"""Per-chunk time of Silero VAD: the official ONNX model under onnxruntime (one thread; the
package's own wrapper and a bare session) next to `streamrnn bench`'s "silero-vad chunk" (frontend
+ LSTM + head), in one run. Same method as streamrnn bench: per-call monotonic timing after
warm-up, lowest of 5 block medians.

Run by hand: /tmp/venv/bin/pip install silero-vad onnxruntime numpy
             swift build -c release
             /tmp/venv/bin/python Scripts/bench_silero_reference.py --streamrnn .build/release/streamrnn
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
import silero_vad
import torch
from silero_vad import load_silero_vad


def lowest_block_median(durations):
    size = len(durations) // 5
    return min(statistics.median(durations[i * size:(i + 1) * size]) for i in range(5)) / 1000


def time_calls(call, steps, warmup):
    for _ in range(warmup):
        call()
    durations = []
    for _ in range(steps):
        begin = time.perf_counter_ns()
        call()
        durations.append(time.perf_counter_ns() - begin)
    return lowest_block_median(durations)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streamrnn", required=True)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    chunks = [rng.standard_normal(512).astype(np.float32) * 0.1 for _ in range(64)]

    wrapper = load_silero_vad(onnx=True)  # the package's OnnxWrapper (it sets one thread itself)
    index = [0]

    def wrapped():
        wrapper(torch.from_numpy(chunks[index[0] & 63]), 16000)
        index[0] += 1

    wrapper_us = time_calls(wrapped, args.steps, args.warmup)

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    path = os.path.join(os.path.dirname(silero_vad.__file__), "data", "silero_vad.onnx")
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros((1, 64), dtype=np.float32)
    sr = np.array(16000, dtype=np.int64)
    holder = {"state": state, "context": context}

    def bare():
        chunk = chunks[index[0] & 63][None, :]
        x = np.concatenate([holder["context"], chunk], axis=1)
        out, holder["state"] = session.run(None, {"input": x, "state": holder["state"], "sr": sr})
        holder["context"] = x[:, -64:]
        index[0] += 1

    bare_us = time_calls(bare, args.steps, args.warmup)

    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        subprocess.run([args.streamrnn, "bench", "--zoo", "--steps", str(args.steps), "--json", report.name],
                       check=True, stdout=subprocess.DEVNULL)
        ours = next(r for r in json.load(open(report.name))["features"] if r["model"] == "silero-vad chunk")
    print("| engine | µs per 32 ms chunk (median) |")
    print("|---|---|")
    print(f"| silero-vad OnnxWrapper (onnxruntime {onnxruntime.__version__}, 1 thread) | {wrapper_us:.1f} |")
    print(f"| onnxruntime bare session, 1 thread | {bare_us:.1f} |")
    print(f"| StreamRNN (frontend + LSTM + head) | {ours['median_us']:.1f} (p99 {ours['p99_us']:.1f}) |")
    print(f"ratio StreamRNN / bare onnxruntime: {ours['median_us'] / bare_us:.2f} (aim ≤ 0.7)")


if __name__ == "__main__":
    main()
