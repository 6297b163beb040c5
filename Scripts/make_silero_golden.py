#!/usr/bin/env python3
"""Golden Silero VAD outputs from the official package, for the converted model's tests.

Makes Tests/Golden/silero/speech_noise.wav (espeak-ng sentences with pauses, mixed with white
noise by sox; 16 kHz, 16-bit, about 20 s = 625 chunks) and writes, from the official TorchScript
model (silero_vad.load_silero_vad(), 16 kHz, one stateful run):
  probabilities.npy   float32 [chunks]: the per-chunk speech probability (last chunk zero-padded,
                      as get_speech_timestamps pads it)
  timestamps.json     get_speech_timestamps(wav, model) with default parameters, in samples

Run by hand: apt-get install espeak-ng sox; /tmp/venv/bin/pip install silero-vad torch soundfile numpy
             /tmp/venv/bin/python Scripts/make_silero_golden.py
"""
import json
import os
import subprocess
import tempfile

import numpy as np
import soundfile
import torch
from silero_vad import get_speech_timestamps, load_silero_vad

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Golden", "silero")
SENTENCES = [
    "Please turn on the lights in the kitchen.",
    "The weather today is cloudy with a chance of rain.",
    "Seven, eight, nine, ten.",
    "Streaming audio needs care with every single frame.",
]


def make_audio(path):
    with tempfile.TemporaryDirectory() as scratch:
        parts = []
        for index, sentence in enumerate(SENTENCES):
            raw = os.path.join(scratch, f"s{index}.wav")
            subprocess.run(["espeak-ng", "-s", "150", "-w", raw, sentence], check=True)
            part = os.path.join(scratch, f"p{index}.wav")
            # 1.5 s of silence before each sentence, 16 kHz.
            subprocess.run(["sox", raw, "-r", "16000", "-b", "16", part, "pad", "1.5", "0"], check=True)
            parts.append(part)
        speech = os.path.join(scratch, "speech.wav")
        subprocess.run(["sox", *parts, speech, "pad", "0", "2.0"], check=True)
        duration = float(subprocess.run(["soxi", "-D", speech], check=True, capture_output=True, text=True).stdout)
        noise = os.path.join(scratch, "noise.wav")
        subprocess.run(["sox", "-R", "-n", "-r", "16000", "-b", "16", noise, "synth", str(duration), "whitenoise",
                        "gain", "-38"], check=True)
        subprocess.run(["sox", "-m", speech, noise, "-b", "16", path], check=True)


def main():
    os.makedirs(ROOT, exist_ok=True)
    wav_path = os.path.join(ROOT, "speech_noise.wav")
    make_audio(wav_path)
    samples, rate = soundfile.read(wav_path, dtype="float32")
    assert rate == 16000
    wav = torch.from_numpy(samples)
    model = load_silero_vad()
    model.reset_states()
    probabilities = []
    with torch.no_grad():
        for start in range(0, len(wav), 512):
            chunk = wav[start:start + 512]
            if len(chunk) < 512:
                chunk = torch.nn.functional.pad(chunk, (0, 512 - len(chunk)))
            probabilities.append(model(chunk, 16000).item())
    np.save(os.path.join(ROOT, "probabilities.npy"), np.array(probabilities, dtype=np.float32))
    model.reset_states()
    timestamps = get_speech_timestamps(wav, model, sampling_rate=16000)
    with open(os.path.join(ROOT, "timestamps.json"), "w") as file:
        json.dump({"source": "silero-vad get_speech_timestamps, default parameters", "timestamps": timestamps}, file,
                  indent=1)
    print(f"{len(probabilities)} chunks, {len(timestamps)} segments: {timestamps}")


if __name__ == "__main__":
    main()
