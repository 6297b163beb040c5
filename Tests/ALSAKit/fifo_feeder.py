#!/usr/bin/env python3
"""Feeds a 16-bit PCM WAV into a named pipe at the audio's real-time pace, for the
streamrnn_fifo test PCM (Tests/ALSAKit/streamrnn-test.conf). Standard library only.

  fifo_feeder.py --fifo PATH --chunk-frames N FILE.wav

Creates the pipe, prints "fifo-ready PATH" on standard output, waits for the reader to open it,
then writes the file's raw samples N frames at a time: the first chunk at once, chunk k at
k * N / rate seconds after it. After the file it writes paced silence, so that a reader that reads
on never sees stale data, until the reader closes the pipe (exit 0). The reader must read whole
chunks (its period equal to N, or a multiple of it).
"""
import argparse
import os
import sys
import time
import wave


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fifo", required=True)
    parser.add_argument("--chunk-frames", type=int, default=160)
    parser.add_argument("wav")
    args = parser.parse_args()
    with wave.open(args.wav, "rb") as audio:
        if audio.getsampwidth() != 2:
            print("fifo_feeder: only 16-bit PCM WAV files", file=sys.stderr)
            return 2
        rate = audio.getframerate()
        frame_bytes = audio.getsampwidth() * audio.getnchannels()
        data = audio.readframes(audio.getnframes())
    if not os.path.exists(args.fifo):
        os.mkfifo(args.fifo)
    print(f"fifo-ready {args.fifo}", flush=True)
    chunk_bytes = args.chunk_frames * frame_bytes
    silence = bytes(chunk_bytes)
    period = args.chunk_frames / rate
    try:
        with open(args.fifo, "wb", buffering=0) as pipe:
            start = time.monotonic()
            chunk = 0
            while True:
                piece = data[chunk * chunk_bytes:(chunk + 1) * chunk_bytes]
                piece = piece + silence[len(piece):]
                delay = start + chunk * period - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pipe.write(piece)
                chunk += 1
    except BrokenPipeError:
        return 0
    finally:
        try:
            os.unlink(args.fifo)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
