#!/usr/bin/env python3
"""Golden feature frames from real torchaudio, for the streaming extractors' tests.

Makes small test recordings (espeak-ng and sox, Debian packages), then writes
Tests/Golden/features/:
  audio/*.wav|flac      the recordings (speech, chirp + tone, white noise, digital silence,
                        stereo 44.1 kHz 24-bit, speech as 22.05 kHz FLAC)
  <case>.npy            float32 [frames, n_mels] from torchaudio
  manifest.json         per case: audio file, the `streamrnn features` arguments, the .npy

Reference path per case: soundfile (libsndfile) reads float32, channels are averaged, python-soxr
resamples to 16 kHz at 'HQ' when needed, optional ×32768 (int16 scale), then
  logmel: log(torchaudio.transforms.MelSpectrogram(...)(x) + 1e-6).T
  fbank:  torchaudio.compliance.kaldi.fbank(x, ..., dither=0.0)

Run by hand, outside CI (torchaudio 2.11 is the newest on PyPI and needs torch 2.11):
    apt-get install espeak-ng sox
    python3 -m venv /tmp/venv-audio
    /tmp/venv-audio/bin/pip install torch==2.11.0 torchaudio==2.11.0 soundfile soxr numpy
    /tmp/venv-audio/bin/python Scripts/make_feature_golden.py
"""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile
import soxr
import torch
import torchaudio

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Golden", "features")
AUDIO = os.path.join(ROOT, "audio")
RATE = 16000


def run(*command):
    subprocess.run(command, check=True)


def make_audio():
    os.makedirs(AUDIO, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        spoken = os.path.join(scratch, "spoken.wav")
        run("espeak-ng", "-s", "150", "-w", spoken, "Turn the lights on in the kitchen, please. Seven, eight, nine.")
        run("sox", spoken, "-r", "16000", "-b", "16", os.path.join(AUDIO, "speech_16k_s16.wav"))
        run("sox", spoken, "-C", "5", os.path.join(AUDIO, "speech_22k05.flac"))
        # A 100 Hz → 7 kHz chirp plus a 440 Hz tone, as 32-bit float WAV.
        run("sox", "-n", "-r", "16000", "-e", "floating-point", "-b", "32",
            os.path.join(AUDIO, "chirp_tone_16k_f32.wav"), "synth", "1.5", "sine", "100-7000", "sine", "440",
            "remix", "1-2", "gain", "-6")
        run("sox", "-R", "-n", "-r", "16000", "-b", "16", os.path.join(AUDIO, "noise_16k_s16.wav"),
            "synth", "1.0", "whitenoise", "gain", "-10")
        run("sox", "-n", "-r", "16000", "-b", "16", os.path.join(AUDIO, "silence_16k_s16.wav"), "trim", "0", "1.0")
        # Stereo 44.1 kHz 24-bit: speech on the left, a tone and noise on the right.
        left = os.path.join(scratch, "left.wav")
        right = os.path.join(scratch, "right.wav")
        run("sox", spoken, "-r", "44100", "-b", "24", left, "trim", "0", "1.0")
        run("sox", "-R", "-n", "-r", "44100", "-b", "24", right, "synth", "1.0", "sine", "1000", "whitenoise",
            "remix", "1-2", "gain", "-12")
        run("sox", "-M", left, right, "-b", "24", os.path.join(AUDIO, "stereo_44k1_s24.wav"))


def load(path):
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = samples.mean(axis=1, dtype=np.float32)
    if rate != RATE:
        mono = soxr.resample(mono, rate, RATE, quality="HQ").astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(mono))


def logmel(x, center, n_mels=40, n_fft=512, win_length=400, hop_length=160, f_min=0.0, f_max=None,
           power=2.0, mel_scale="htk", norm=None):
    transform = torchaudio.transforms.MelSpectrogram(
        sample_rate=RATE, n_fft=n_fft, win_length=win_length, hop_length=hop_length, f_min=f_min, f_max=f_max,
        n_mels=n_mels, power=power, center=center, mel_scale=mel_scale, norm=norm)
    return torch.log(transform(x) + 1e-6).T


def fbank(x, **options):
    options.setdefault("num_mel_bins", 40)
    return torchaudio.compliance.kaldi.fbank(x.unsqueeze(0), sample_frequency=RATE, dither=0.0, **options)


def main():
    print(f"torch {torch.__version__}, torchaudio {torchaudio.__version__}")
    shutil.rmtree(ROOT, ignore_errors=True)
    make_audio()
    manifest = []

    def case(name, audio, arguments, frames):
        np.save(os.path.join(ROOT, name + ".npy"), np.ascontiguousarray(frames.numpy().astype(np.float32)))
        manifest.append({"name": name, "audio": "audio/" + audio, "arguments": arguments, "frames": name + ".npy"})
        print(f"{name}: {tuple(frames.shape)}")

    for audio in sorted(os.listdir(AUDIO)):
        stem = os.path.splitext(audio)[0]
        x = load(os.path.join(AUDIO, audio))
        for scaled in (False, True):
            scale_args = ["--int16-scale"] if scaled else []
            signal = x * 32768 if scaled else x
            suffix = "_int16" if scaled else ""
            for center in (False, True):
                case(f"{stem}_logmel{'_center' if center else ''}{suffix}", audio,
                     ["--kind", "logmel"] + (["--center"] if center else []) + scale_args, logmel(signal, center))
            case(f"{stem}_fbank{suffix}", audio, ["--kind", "fbank"] + scale_args, fbank(signal))

    # Non-default parameters, on speech.
    speech = "speech_16k_s16.wav"
    x = load(os.path.join(AUDIO, speech))
    case("speech_logmel_slaney_80", speech,
         ["--kind", "logmel", "--center", "--n-mels", "80", "--n-fft", "400", "--win-length", "320",
          "--hop-length", "100", "--f-min", "20", "--f-max", "7600", "--mel-scale", "slaney", "--norm", "slaney"],
         logmel(x, True, n_mels=80, n_fft=400, win_length=320, hop_length=100, f_min=20.0, f_max=7600.0,
                mel_scale="slaney", norm="slaney"))
    case("speech_logmel_magnitude", speech, ["--kind", "logmel", "--power", "1", "--n-mels", "64"],
         logmel(x, False, n_mels=64, power=1.0))
    case("speech_fbank_hamming_23", speech,
         ["--kind", "fbank", "--n-mels", "23", "--window-type", "hamming", "--keep-dc-offset",
          "--preemphasis-coefficient", "0", "--low-freq", "60", "--high-freq=-400", "--int16-scale"],
         fbank(x * 32768, num_mel_bins=23, window_type="hamming", remove_dc_offset=False,
               preemphasis_coefficient=0.0, low_freq=60.0, high_freq=-400.0))
    case("speech_fbank_unpadded_magnitude", speech,
         ["--kind", "fbank", "--no-round-to-power-of-two", "--use-magnitude", "--window-type", "hanning",
          "--frame-length", "20", "--frame-shift", "12.5"],
         fbank(x, round_to_power_of_two=False, use_power=False, window_type="hanning", frame_length=20.0,
               frame_shift=12.5))
    case("speech_fbank_rectangular_30", speech,
         ["--kind", "fbank", "--window-type", "rectangular", "--n-mels", "30"],
         fbank(x, window_type="rectangular", num_mel_bins=30))
    case("speech_fbank_blackman", speech, ["--kind", "fbank", "--window-type", "blackman"],
         fbank(x, window_type="blackman"))

    with open(os.path.join(ROOT, "manifest.json"), "w") as file:
        json.dump({"generator": f"torch {torch.__version__}, torchaudio {torchaudio.__version__}",
                   "cases": manifest}, file, indent=1)


if __name__ == "__main__":
    main()
