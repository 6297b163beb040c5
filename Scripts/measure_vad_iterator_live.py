#!/usr/bin/env python3
"""The reference side of the live VAD comparison: silero-vad's own VADIterator on the same device.

Plays Tests/Golden/silero/speech_noise.wav into the ALSA test kit's fifo_capture at real-time pace
(exactly as Scripts/measure_vad_live.py does for `streamrnn capture`), captures it with `arecord`
(16 kHz S16 mono, 512-frame periods) into this process, and runs VADIterator (the ONNX model that
the silero-vad wheel ships, onnxruntime on one thread, the package's defaults: threshold 0.5,
min_silence_duration_ms 100, speech_pad_ms 30) on each 32 ms chunk as it arrives. Delays are measured
against the same official get_speech_timestamps stamps, with the same time origin calibration
(chunk k arrives at origin + (k + 1) × 32 ms). Reports compute per chunk (median/p99), CPU (this
process + arecord) and peak RSS (this process; arecord's on its own).

Run by hand (needs ../shared/alsa, alsa-utils and the silero-vad package):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install silero-vad onnxruntime torch
    /tmp/venv/bin/python Scripts/measure_vad_iterator_live.py
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from silero_vad import VADIterator, load_silero_vad

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
KIT = os.path.join(ROOT, "..", "shared", "alsa")
AUDIO = os.path.join(ROOT, "Tests", "Golden", "silero", "speech_noise.wav")
CHUNK = 512
PAD = 480  # speech_pad_ms 30 at 16 kHz


def main():
    torch.set_num_threads(1)
    model = load_silero_vad(onnx=True)
    vad = VADIterator(model, sampling_rate=16000)
    official = json.load(open(os.path.join(ROOT, "Tests", "Golden", "silero", "timestamps.json")))["timestamps"]
    scratch = tempfile.mkdtemp()
    fifo = os.path.join(scratch, "capture.fifo")
    env = dict(os.environ, ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{os.path.abspath(KIT)}/asound-test.conf")
    feeder = subprocess.Popen([sys.executable, os.path.join(KIT, "alsa-feed.py"), "--fifo", fifo, "--chunk-frames",
                               str(CHUNK), AUDIO], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while "fifo-ready" not in feeder.stdout.readline():
        pass
    recorder = subprocess.Popen(
        ["/usr/bin/time", "-f", "TIME %U %S %M", "arecord", "-q", "-D", f"fifo_capture:FIFO={fifo}", "-f", "S16_LE",
         "-r", "16000", "-c", "1", "-t", "raw", f"--period-size={CHUNK}", f"--buffer-size={8 * CHUNK}",
         "-s", str(616 * CHUNK)],  # the whole chunks of the recording; the feeder then idles
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    usage_start = resource.getrusage(resource.RUSAGE_SELF)
    wall_start = time.monotonic()
    arrivals, computes, events = [], [], []
    while True:
        data = recorder.stdout.read(2 * CHUNK)
        if len(data) < 2 * CHUNK:
            break
        arrived = time.monotonic()
        chunk = torch.from_numpy(np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768)
        begin = time.perf_counter_ns()
        result = vad(chunk)
        computes.append((time.perf_counter_ns() - begin) / 1000)
        arrivals.append(arrived)
        if result:
            events.append((time.monotonic(), result))
    wall = time.monotonic() - wall_start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    recorder.wait()
    feeder.terminate()
    line = next(l for l in recorder.stderr.read().decode().splitlines() if l.startswith("TIME"))
    rec_user, rec_system, rec_rss = line.split()[1:]

    origin = statistics.median(t - (k + 1) * CHUNK / 16000 for k, t in enumerate(arrivals))
    start_delays, onset_delays, end_delays = [], [], []
    for t, event in events:
        if "start" in event:
            match = min(official, key=lambda s: abs(s["start"] - event["start"]))
            start_delays.append(t - (origin + match["start"] / 16000))
            onset_delays.append(t - (origin + (match["start"] + PAD) / 16000))
        else:
            match = min(official, key=lambda s: abs(s["end"] - event["end"]))
            end_delays.append(t - (origin + match["end"] / 16000))
    cpu = (usage.ru_utime - usage_start.ru_utime + usage.ru_stime - usage_start.ru_stime
           + float(rec_user) + float(rec_system)) / wall
    computes.sort()
    print(f"{len(arrivals)} chunks, {len(start_delays)} start events, {len(end_delays)} segments closed "
          f"(official: {len(official)})")
    print("start event after the start stamp (s): " + ", ".join(f"{d:.3f}" for d in start_delays))
    print("start event after the raw onset (s): " + ", ".join(f"{d:.3f}" for d in onset_delays))
    print("segment closed after its end stamp (s): " + ", ".join(f"{d:.3f}" for d in end_delays))
    print(f"CPU {100 * cpu:.2f} % of one core (VADIterator process + arecord), peak RSS "
          f"{usage.ru_maxrss / 1024:.1f} MiB (+ arecord {int(rec_rss) / 1024:.1f} MiB), compute per chunk "
          f"p50/p99 {computes[len(computes) // 2]:.1f}/{computes[int(len(computes) * 0.99)]:.1f} µs")


if __name__ == "__main__":
    main()
