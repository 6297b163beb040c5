#!/usr/bin/env python3
"""Load generator for `streamrnn serve`: N concurrent WebSocket sessions, each sending a WAV
(16-bit PCM, looped) in real-time-paced 20 ms messages, with per-frame outputs, for S seconds.

Reports, over every session: frames expected and received (lost), per-frame latency (the time the
frame's last sample was sent → the `frames` message holding it arrived; p50/p99/max), frames later
than 20 ms, sessions that failed or were closed by the server (with their close codes), and the
server's CPU use over the run when --server-pid is given (from /proc/PID/stat).

With --reconnect, a session the server closes with a code other than 1000 opens a new one (fresh
state) and goes on: used by Scripts/failover_demo.sh behind HAProxy.

Needs the `websockets` package (pip install websockets==17.4, in a venv outside the repo):
  python Scripts/loadgen.py ws://127.0.0.1:8080/v1/stream --streams 200 --file F.wav --seconds 30
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import wave

import websockets

MESSAGE_SECONDS = 0.02


def cpu_seconds(pid):
    """utime + stime of a process, seconds."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Totals:
    def __init__(self):
        self.latencies = []
        self.expected = 0
        self.received = 0
        self.late = 0
        self.failed = 0
        self.closes = {}
        self.reconnects = 0
        self.events = 0


async def session(index, args, pcm, rate, start, totals):
    """One stream: real-time paced sends, latencies from the frames messages."""
    samples_per_message = int(rate * MESSAGE_SECONDS)
    bytes_per_message = 2 * samples_per_message
    hop = 512 * rate // 16000
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    deadline = start + args.seconds
    await asyncio.sleep((index % 50) * MESSAGE_SECONDS / 50)  # spread the sends over a period
    while time.monotonic() < deadline:
        sent_times = []  # monotonic time each message was sent, by message number
        position = 0
        frames_seen = 0
        try:
            async with websockets.connect(args.url, additional_headers=headers, max_size=None,
                                          open_timeout=30, ping_interval=None) as ws:
                await ws.send(json.dumps({"type": "config", "sample_rate": rate,
                                          "encoding": "pcm_s16le", "outputs": "frames"}))
                ready = json.loads(await ws.recv())
                if ready.get("type") != "ready":
                    totals.failed += 1
                    return

                async def receive():
                    try:
                        await receive_all()
                    except websockets.ConnectionClosed:
                        pass  # the sender sees it too and reports the close

                async def receive_all():
                    nonlocal frames_seen
                    async for message in ws:
                        now = time.monotonic()
                        data = json.loads(message)
                        kind = data.get("type")
                        if kind == "frames":
                            first = data["start_frame"]
                            for offset in range(len(data["outputs"])):
                                frame = first + offset
                                last_sample = (frame + 1) * hop - 1
                                sent_index = last_sample // samples_per_message
                                if sent_index < len(sent_times):
                                    latency = now - sent_times[sent_index]
                                    totals.latencies.append(latency)
                                    if latency > 0.020:
                                        totals.late += 1
                            frames_seen += len(data["outputs"])
                        elif kind in ("start", "segment", "discard"):
                            totals.events += 1

                receiver = asyncio.create_task(receive())
                next_send = time.monotonic()
                while time.monotonic() < deadline:
                    begin = position % len(pcm)
                    chunk = pcm[begin:begin + bytes_per_message]
                    if len(chunk) < bytes_per_message:
                        chunk += pcm[:bytes_per_message - len(chunk)]
                    await ws.send(chunk)
                    sent_times.append(time.monotonic())
                    position += bytes_per_message
                    next_send += MESSAGE_SECONDS
                    delay = next_send - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await ws.send(json.dumps({"type": "eof"}))
                await asyncio.wait_for(receiver, timeout=30)
                code = ws.close_code
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
        except (OSError, asyncio.TimeoutError, websockets.InvalidStatus, websockets.InvalidHandshake):
            code = -1
        sent_samples = position // 2
        expected = -(-sent_samples // hop)  # the last partial frame is padded at eof
        totals.expected += expected
        totals.received += min(frames_seen, expected)
        totals.closes[code] = totals.closes.get(code, 0) + 1
        if code == 1000:
            return
        if not args.reconnect:
            totals.failed += 1
            return
        totals.reconnects += 1
        await asyncio.sleep(0.2)


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--file", required=True, help="a 16-bit PCM WAV (mono)")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--token")
    parser.add_argument("--server-pid", type=int, help="report this process's CPU use")
    parser.add_argument("--reconnect", action="store_true",
                        help="reopen a session the server closed with a code other than 1000")
    parser.add_argument("--json", help="also write the summary as JSON here")
    args = parser.parse_args()
    with wave.open(args.file) as source:
        if source.getsampwidth() != 2 or source.getnchannels() != 1:
            sys.exit("loadgen: --file must be a mono 16-bit PCM WAV")
        rate = source.getframerate()
        pcm = source.readframes(source.getnframes())
    totals = Totals()
    cpu_before = cpu_seconds(args.server_pid) if args.server_pid else None
    start = time.monotonic()
    client_cpu = time.process_time()
    await asyncio.gather(*(session(i, args, pcm, rate, start, totals) for i in range(args.streams)))
    wall = time.monotonic() - start
    summary = {
        "streams": args.streams, "seconds": args.seconds, "wall_seconds": round(wall, 2),
        "frames_expected": totals.expected, "frames_received": totals.received,
        "frames_lost": totals.expected - totals.received, "frames_late_20ms": totals.late,
        "latency_ms": {
            "p50": round(percentile(totals.latencies, 0.5) * 1000, 2),
            "p99": round(percentile(totals.latencies, 0.99) * 1000, 2),
            "max": round(max(totals.latencies, default=float("nan")) * 1000, 2),
        },
        "events": totals.events, "failed_sessions": totals.failed, "reconnects": totals.reconnects,
        "close_codes": {str(code): count for code, count in sorted(totals.closes.items())},
        "client_cpu_cores": round((time.process_time() - client_cpu) / wall, 3),
    }
    if cpu_before is not None:
        summary["server_cpu_cores"] = round((cpu_seconds(args.server_pid) - cpu_before) / wall, 3)
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle)


if __name__ == "__main__":
    asyncio.run(main())
