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
  python3 -m venv /tmp/ortvenv && /tmp/ortvenv/bin/pip install onnxruntime numpy
  /tmp/ortvenv/bin/pip download silero-vad==6.2.0 --no-deps -d /tmp/silero && (cd /tmp/silero && unzip -o *.whl)
  swift build -c release
  /tmp/ortvenv/bin/python Scripts/bench_streams_reference.py --onnx /tmp/silero/silero_vad/data/silero_vad.onnx \\
      --streamrnn .build/release/streamrnn [--seconds 10] [--json out.json]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--streamrnn", required=True)
    parser.add_argument("--audio", default="Examples/demo/speech_with_pauses.wav")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    audio = load_audio(args.audio)
    results = {}
    for mode, start in [("per-session", 8), ("shared-batched", 64)]:
        print(f"(a/b) onnxruntime {mode}:", flush=True)
        best = find_max(lambda n: run(mode, args.onnx, audio, n, args.seconds), start)
        results[mode] = {"streams_per_core": best[0] if best else 0, "p99_us": best[1] if best else None,
                         "bytes_per_stream": best[2] if best else None}
        print(f"  -> {results[mode]}", flush=True)
    print("(c) streamrnn bench --streams (engine, one worker thread, everything on CPU 0):", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "streams.json")
        subprocess.run(["taskset", "-c", "0", args.streamrnn, "bench", "--streams", "256", "--threads", "1",
                        "--seconds", str(args.seconds), "--find-max", "--json", out], check=True)
        with open(out) as f:
            document = json.load(f)
    best = max((t for t in document["trials"] if t["real_time"]), key=lambda t: t["sessions"], default=None)
    results["streamrnn"] = {"streams_per_core": document["streams_per_core"],
                            "p99_us": best["latency_us"]["p99"] if best else None,
                            "bytes_per_stream": best["bytes_per_session"] if best else None}
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
