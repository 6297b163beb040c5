#!/usr/bin/env python3
"""Real-time streams per core, side by side in one sitting: Silero VAD (v6, 16 kHz, 32 ms chunks)
(a) under onnxruntime with one InferenceSession per stream (as LiveKit and Pipecat run it),
(b) under one shared onnxruntime session fed every due stream as one batch (the best a user can do
by hand), (c) `streamrnn bench --streams` (the engine, batched steps). Everything runs on one core
(this script pins itself and the streamrnn run to CPU 0 with sched_setaffinity / taskset).

Pacing, as streamrnn bench: stream i releases chunk k at start + k·32 ms + i·32 ms / N (phases
spread over one period); a chunk's added latency is its result's time minus that deadline. A load
is real time when p99 ≤ 5 ms and the run did not fall behind (the last chunk done within 5 ms of
the last deadline). The largest such N is found by doubling, then bisecting to 5 %.
Memory per stream: the growth of the process's resident set per stream opened.

Run by hand:
  python3 -m venv /tmp/ortvenv && /tmp/ortvenv/bin/pip install onnxruntime numpy onnx
  /tmp/ortvenv/bin/pip download silero-vad==6.2.0 --no-deps -d /tmp/silero && (cd /tmp/silero && unzip -o *.whl)
  swift build -c release
  /tmp/ortvenv/bin/python Scripts/bench_streams_reference.py --onnx /tmp/silero/silero_vad/data/silero_vad.onnx \\
      --streamrnn .build/release/streamrnn [--seconds 10] [--json out.json] \\
      [--gru-model gru2x64.safetensors]   (also gru2x64+head on log-mel: (a) and (c))
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
import wave

import numpy as np
import onnxruntime

CHUNK = 512
CONTEXT = 64
PERIOD = CHUNK / 16000


def load_audio(path):
    with wave.open(path) as w:
        assert w.getframerate() == 16000 and w.getsampwidth() == 2, "16 kHz 16-bit WAV expected"
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
    return data[:, 0].astype(np.float32) / 32768


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def options():
    o = onnxruntime.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    return o


def gru_onnx(path):
    """gru2x64+head as ONNX (two GRU nodes, PyTorch's linear_before_reset=1, then a Gemm head of 4
    classes), seeded random weights: for timing only."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(7)
    def w(name, shape):
        return numpy_helper.from_array((rng.uniform(-0.125, 0.125, shape)).astype(np.float32), name)
    inits = [w("W0", (1, 192, 40)), w("R0", (1, 192, 64)), w("B0", (1, 384)),
             w("W1", (1, 192, 64)), w("R1", (1, 192, 64)), w("B1", (1, 384)), w("Wh", (64, 4)), w("bh", (4,)),
             numpy_helper.from_array(np.array([1, 64], dtype=np.int64), "flat")]
    nodes = [
        helper.make_node("GRU", ["x", "W0", "R0", "B0", "", "h0"], ["y0", "h0n"], hidden_size=64, linear_before_reset=1),
        helper.make_node("Reshape", ["y0", "shape3"], ["y0s"]),  # [T, D, B, H] -> [T, B, H]
        helper.make_node("GRU", ["y0s", "W1", "R1", "B1", "", "h1"], ["y1", "h1n"], hidden_size=64, linear_before_reset=1),
        helper.make_node("Reshape", ["h1n", "flat"], ["last"]),
        helper.make_node("Gemm", ["last", "Wh", "bh"], ["logits"]),
    ]
    inits.append(numpy_helper.from_array(np.array([1, 1, 64], dtype=np.int64), "shape3"))
    graph = helper.make_graph(
        nodes, "gru2x64", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 40]),
                           helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, 1, 64]),
                           helper.make_tensor_value_info("h1", TensorProto.FLOAT, [1, 1, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4]),
         helper.make_tensor_value_info("h0n", TensorProto.FLOAT, [1, 1, 64]),
         helper.make_tensor_value_info("h1n", TensorProto.FLOAT, [1, 1, 64])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def mel_matrix():
    """torchaudio's HTK mel filterbank, 40 bins over 257 FFT bins at 16 kHz."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)
    points = 700 * (10 ** (np.linspace(mel(0), mel(8000), 42) / 2595) - 1)
    bins = np.linspace(0, 8000, 257)
    fb = np.zeros((257, 40), np.float32)
    for m in range(40):
        down = (bins - points[m]) / (points[m + 1] - points[m])
        up = (points[m + 2] - bins) / (points[m + 2] - points[m + 1])
        fb[:, m] = np.maximum(0, np.minimum(down, up))
    return fb


def run_gru(onnx_path, audio, streams, seconds):
    """gru2x64+head on 40-bin log-mel at a 10 ms hop, one onnxruntime session per stream, features
    in numpy per hop (window 400, FFT 512)."""
    before = resident_bytes()
    sessions = [onnxruntime.InferenceSession(onnx_path, options()) for _ in range(streams)]
    zeros = np.zeros((1, 1, 64), np.float32)
    for session in sessions:
        session.run(None, {"x": np.zeros((1, 1, 40), np.float32), "h0": zeros, "h1": zeros})
    per_stream = (resident_bytes() - before) / streams
    hop, window = 160, np.hanning(402)[1:-1].astype(np.float32)
    fb = mel_matrix()
    states = [[zeros, zeros] for _ in range(streams)]
    period = hop / 16000
    frames = int(seconds / period)
    offsets = [(i * 7919 * hop) % (len(audio) - 400) for i in range(streams)]
    start = time.monotonic() + 0.05
    latencies, done = [], [0] * streams
    last_deadline = start + (frames - 1) * period + (streams - 1) * period / streams
    deadline = lambda i, k: start + k * period + i * period / streams
    remaining = streams
    while remaining:
        now = time.monotonic()
        due = [i for i in range(streams) if done[i] < frames and deadline(i, done[i]) <= now]
        if not due:
            time.sleep(max(0, min(deadline(i, done[i]) for i in range(streams) if done[i] < frames) - time.monotonic()))
            continue
        for i in due:
            p = (offsets[i] + done[i] * hop) % (len(audio) - 400)
            spectrum = np.abs(np.fft.rfft(audio[p:p + 400] * window, 512)) ** 2
            x = np.log(spectrum @ fb + 1e-6).astype(np.float32)[None, None, :]
            logits, h0, h1 = sessions[i].run(None, {"x": x, "h0": states[i][0], "h1": states[i][1]})
            states[i] = [h0, h1]
            latencies.append(time.monotonic() - deadline(i, done[i]))
            done[i] += 1
            remaining -= done[i] == frames
    behind = time.monotonic() - last_deadline > 0.005
    return float(np.percentile(np.array(latencies) * 1e6, 99)), behind, per_stream, len(latencies)


def run(mode, onnx, audio, streams, seconds):
    """One paced run; returns (p99 µs, fell_behind, bytes per stream, chunks)."""
    before = resident_bytes()
    if mode == "per-session":
        sessions = [onnxruntime.InferenceSession(onnx, options()) for _ in range(streams)]
    else:
        shared = onnxruntime.InferenceSession(onnx, options())
    # Warm-up (the first run of a session sets it up), then the resident growth per stream.
    zeros = np.zeros((1, CONTEXT + CHUNK), dtype=np.float32)
    if mode == "per-session":
        for session in sessions:
            session.run(None, {"input": zeros, "state": np.zeros((2, 1, 128), np.float32),
                               "sr": np.array(16000, dtype=np.int64)})
    else:
        shared.run(None, {"input": np.zeros((streams, CONTEXT + CHUNK), np.float32),
                          "state": np.zeros((2, streams, 128), np.float32), "sr": np.array(16000, dtype=np.int64)})
    per_stream = (resident_bytes() - before) / streams
    states = np.zeros((2, streams, 128), dtype=np.float32)
    contexts = np.zeros((streams, CONTEXT), dtype=np.float32)
    sr = np.array(16000, dtype=np.int64)
    chunks = int(seconds / PERIOD)
    offsets = [(i * 7919 * CHUNK) % (len(audio) - CHUNK) // CHUNK * CHUNK for i in range(streams)]
    latencies = []
    start = time.monotonic() + 0.05
    done = [0] * streams  # chunks processed per stream
    last_deadline = start + (chunks - 1) * PERIOD + (streams - 1) * PERIOD / streams

    def deadline(i, k):
        return start + k * PERIOD + i * PERIOD / streams

    def chunk(i, k):
        p = (offsets[i] + k * CHUNK) % len(audio)
        if p + CHUNK > len(audio):
            p = 0
        return audio[p:p + CHUNK]

    finished = 0
    while finished < streams:
        now = time.monotonic()
        due = [i for i in range(streams) if done[i] < chunks and deadline(i, done[i]) <= now]
        if not due:
            nxt = min(deadline(i, done[i]) for i in range(streams) if done[i] < chunks)
            time.sleep(max(0, nxt - time.monotonic()))
            continue
        if mode == "per-session":
            for i in due:
                x = np.concatenate([contexts[i], chunk(i, done[i])])[None, :]
                out, state = sessions[i].run(None, {"input": x, "state": states[:, i:i + 1], "sr": sr})
                states[:, i:i + 1] = state
                contexts[i] = x[0, -CONTEXT:]
                latencies.append(time.monotonic() - deadline(i, done[i]))
                done[i] += 1
                finished += done[i] == chunks
        else:
            x = np.stack([np.concatenate([contexts[i], chunk(i, done[i])]) for i in due])
            out, state = shared.run(None, {"input": x, "state": np.ascontiguousarray(states[:, due]), "sr": sr})
            states[:, due] = state
            contexts[due] = x[:, -CONTEXT:]
            end = time.monotonic()
            for i in due:
                latencies.append(end - deadline(i, done[i]))
                done[i] += 1
                finished += done[i] == chunks
    behind = time.monotonic() - last_deadline > 0.005
    p99 = float(np.percentile(np.array(latencies) * 1e6, 99))
    return p99, behind, per_stream, len(latencies)


def find_max(trial, start):
    def real_time(n):
        p99, behind, per_stream, chunks = trial(n)
        ok = p99 <= 5000 and not behind
        print(f"  {n:6d} streams: p99 {p99:9.0f} µs, behind {behind}, {per_stream / 1e6:.2f} MB per stream,"
              f" {chunks} chunks -> {'real time' if ok else 'no'}", flush=True)
        return ok, p99, per_stream
    low, high, best = 0, max(1, start), None
    while True:
        ok, p99, mem = real_time(high)
        if not ok:
            break
        low, best = high, (high, p99, mem)
        high *= 2
    while high - low > max(1, low // 20):
        middle = (low + high) // 2
        ok, p99, mem = real_time(middle)
        if ok:
            low, best = middle, (middle, p99, mem)
        else:
            high = middle
    return best


def streamrnn_max(streamrnn, seconds, extra):
    """`streamrnn bench --streams --find-max` with its feeder, worker and delivery threads on CPU 0."""
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "streams.json")
        subprocess.run(["taskset", "-c", "0", streamrnn, "bench", "--streams", "256", "--threads", "1",
                        "--seconds", str(seconds), "--find-max", "--json", out] + extra, check=True)
        with open(out) as f:
            document = json.load(f)
    best = max((t for t in document["trials"] if t["real_time"]), key=lambda t: t["sessions"], default=None)
    return {"streams_per_core": document["streams_per_core"],
            "p99_us": best["latency_us"]["p99"] if best else None,
            "bytes_per_stream": best["bytes_per_session"] if best else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--streamrnn", required=True)
    parser.add_argument("--audio", default="Examples/demo/speech_with_pauses.wav")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--json")
    parser.add_argument("--gru-model", help="a gru2x64+head graph with log-mel features for streamrnn (c)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    audio = load_audio(args.audio)
    results = {}
    for mode, start in [("per-session", 8), ("shared-batched", 64)]:
        print(f"(a/b) onnxruntime {mode}:", flush=True)
        # An untimed warm-up first: the first trial of a fresh process otherwise pays onnxruntime's
        # start-up (two of three sittings saw the first per-session trial fail at 8 streams).
        run(mode, args.onnx, audio, 4, 1.0)
        best = find_max(lambda n: run(mode, args.onnx, audio, n, args.seconds), start)
        results[mode] = {"streams_per_core": best[0] if best else 0, "p99_us": best[1] if best else None,
                         "bytes_per_stream": best[2] if best else None}
        print(f"  -> {results[mode]}", flush=True)
    print("(c) streamrnn bench --streams (engine, one worker thread, everything on CPU 0):", flush=True)
    results["streamrnn"] = streamrnn_max(args.streamrnn, args.seconds, [])
    if args.gru_model:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "gru2x64.onnx")
            gru_onnx(path)
            print("(a) gru2x64+head + log-mel, onnxruntime per-session (features in numpy):", flush=True)
            best = find_max(lambda n: run_gru(path, audio, n, args.seconds), 8)
            results["gru per-session"] = {"streams_per_core": best[0] if best else 0,
                                          "p99_us": best[1] if best else None,
                                          "bytes_per_stream": best[2] if best else None}
        print("(c) streamrnn bench --streams --model gru (one worker, CPU 0):", flush=True)
        results["gru streamrnn"] = streamrnn_max(args.streamrnn, args.seconds, ["--model", args.gru_model])
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
