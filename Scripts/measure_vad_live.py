#!/usr/bin/env python3
"""Live event delays of `streamrnn capture --segments` with the bundled Silero VAD.

Plays Tests/Golden/silero/speech_noise.wav into the ALSA test kit's fifo_capture at real-time pace,
captures it with per-frame records and segments, and timestamps every output line as it arrives.
The stream's time origin is calibrated from the per-frame records (record k arrives at
origin + (k + 1) × 32 ms + its latency). Delays are measured against the official
get_speech_timestamps stamps as reported (padded by speech_pad_ms): a start event's arrival minus
its segment's start stamp (and minus the raw onset, start + pad), a segment's arrival minus its end
stamp. Also reports CPU and peak RSS.

Run by hand after `swift build -c release` (needs ../shared/alsa and python3):
    python3 Scripts/measure_vad_live.py
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
KIT = os.path.join(ROOT, "..", "shared", "alsa")
AUDIO = os.path.join(ROOT, "Tests", "Golden", "silero", "speech_noise.wav")
PAD = 480  # speech_pad_ms 30 at 16 kHz


def main():
    official = json.load(open(os.path.join(ROOT, "Tests", "Golden", "silero", "timestamps.json")))["timestamps"]
    scratch = tempfile.mkdtemp()
    fifo = os.path.join(scratch, "capture.fifo")
    env = dict(os.environ, ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{os.path.abspath(KIT)}/asound-test.conf")
    feeder = subprocess.Popen([sys.executable, os.path.join(KIT, "alsa-feed.py"), "--fifo", fifo, "--chunk-frames",
                               "512", AUDIO], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while "fifo-ready" not in feeder.stdout.readline():
        pass
    stats = os.path.join(scratch, "stats.json")
    capture = subprocess.Popen(
        ["/usr/bin/time", "-f", "TIME %U %S %M", os.path.join(ROOT, ".build", "release", "streamrnn"), "capture",
         "--device", f"fifo_capture:FIFO={fifo}", "--duration", "19.7", "--segments", "--stats-json", stats],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, bufsize=1)
    lines = []
    for line in capture.stdout:
        lines.append((time.monotonic(), json.loads(line)))
    _, err = capture.communicate()
    feeder.terminate()
    user, system, rss = next(l for l in err.splitlines() if l.startswith("TIME")).split()[1:]

    records = [(t, r) for t, r in lines if "frame" in r]
    origin = statistics.median(t - (r["frame"] + 1) * 0.032 - r["latency_us"] / 1e6 for t, r in records)
    starts = [(t, r) for t, r in lines if r.get("event") == "start"]
    segments = [(t, r) for t, r in lines if "end_sample" in r]
    start_delays, onset_delays = [], []
    for t, event in starts:
        match = min(official, key=lambda s: abs(s["start"] - event["start_sample"]))
        start_delays.append(t - (origin + match["start"] / 16000))
        onset_delays.append(t - (origin + (match["start"] + PAD) / 16000))
    end_delays = []
    for t, segment in segments:
        match = min(official, key=lambda s: abs(s["end"] - segment["end_sample"]))
        end_delays.append(t - (origin + match["end"] / 16000))
    report = json.load(open(stats))
    wall = report["audio_seconds"]
    print(f"{len(records)} chunks, {len(starts)} start events, {len(segments)} segments (official: {len(official)})")
    print("start event after the start stamp (s): " + ", ".join(f"{d:.3f}" for d in start_delays))
    print("start event after the raw onset (s): " + ", ".join(f"{d:.3f}" for d in onset_delays))
    print("segment closed after its end stamp (s): " + ", ".join(f"{d:.3f}" for d in end_delays))
    print(f"CPU {100 * (float(user) + float(system)) / wall:.2f} % of one core, peak RSS {int(rss) / 1024:.1f} MiB, "
          f"compute per chunk (frontend + LSTM + head) p50/p99/mean {report['compute']['p50_us']:.1f}/"
          f"{report['compute']['p99_us']:.1f}/{report['compute']['mean_us']:.1f} µs, "
          f"step alone p50/p99 {report['step']['p50_us']:.1f}/{report['step']['p99_us']:.1f} µs")


if __name__ == "__main__":
    main()
