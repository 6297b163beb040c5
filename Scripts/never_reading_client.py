#!/usr/bin/env python3
"""A WebSocket client that never reads, against a running `streamrnn serve` (run by hand).

Usage: Scripts/never_reading_client.py PORT [--seconds S] [--wav FILE]

It shrinks its socket's receive buffer, does the WebSocket handshake on /v1/stream, sends a config
with `outputs: frames`, then streams the WAV's 16-bit samples (looped) in 4,000-byte binary
messages as fast as the server takes them, and never reads another byte. The server's results pile
up until its write to this client is stuck; the server must then end the connection (its
stuck-writer limit is 5 s; the client sees a reset or a closed pipe), count it in
`streamrnn_rejected_connections_total{reason="slow_reader"}`, and hold the client back meanwhile
(TCP back-pressure: the bytes sent stop growing). Prints one line per second and a summary; exits
0 when the server ended the connection within the given time, 1 when it did not.

Only the Python standard library is used.
"""

import argparse
import socket
import struct
import sys
import time
import wave
from pathlib import Path

DEFAULT_WAV = Path(__file__).resolve().parent.parent / "Sources/CBundledModels/demo_speech_16k.wav"


def frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 section 5.2) with an all-zero masking key."""
    length = len(payload)
    if length < 126:
        header = bytes([0x80 | opcode, 0x80 | length])
    elif length < 65536:
        header = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack(">H", length)
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack(">Q", length)
    return header + b"\0\0\0\0" + payload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, default=30.0, help="give up after this long (default 30)")
    parser.add_argument("--wav", type=Path, default=DEFAULT_WAV, help="16-bit mono WAV at 16 kHz")
    args = parser.parse_args()

    with wave.open(str(args.wav)) as reader:
        audio = reader.readframes(reader.getnframes())
    audio = audio[: len(audio) // 2 * 2]
    if not audio:
        print("the WAV holds no samples", file=sys.stderr)
        return 2

    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    connection.connect(("127.0.0.1", args.port))
    connection.settimeout(0.2)
    connection.sendall(
        b"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: c3RyZWFtcm5uLXRlc3Qta2V5\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    answer = b""
    while not answer.endswith(b"\r\n\r\n"):
        byte = connection.recv(1)
        if not byte:
            print("the server closed during the handshake", file=sys.stderr)
            return 1
        answer += byte
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 101 " not in status + " ":
        print(f"handshake refused: {status}", file=sys.stderr)
        return 1
    connection.sendall(frame(1, b'{"type":"config","outputs":"frames"}'))

    start = time.monotonic()
    sent = 0
    position = 0
    last_report = start
    last_growth = start
    while time.monotonic() - start < args.seconds:
        piece = (audio + audio)[position : position + 4000]
        position = (position + 4000) % len(audio)
        message = frame(2, piece)
        offset = 0
        while offset < len(message) and time.monotonic() - start < args.seconds:
            try:
                count = connection.send(message[offset:])
            except socket.timeout:
                continue
            except OSError as error:
                now = time.monotonic() - start
                print(
                    f"the server ended the connection at {now:.1f} s ({error.strerror}) after {sent:,} bytes; "
                    f"the bytes sent last grew at {last_growth - start:.1f} s"
                )
                return 0
            offset += count
            sent += count
            last_growth = time.monotonic()
        if time.monotonic() - last_report >= 1:
            last_report = time.monotonic()
            print(f"{last_report - start:5.1f} s: {sent:,} bytes sent")
    print(f"the server did not end the connection within {args.seconds} s ({sent:,} bytes sent)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
