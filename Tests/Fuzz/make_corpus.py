#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus under Tests/Fuzz/Corpus/<harness>/: small valid inputs of each
kind (and a few near misses), made here with the standard library only, plus small files from
Tests/Golden. Run from anywhere; rewrites the folders. The seeds are committed."""
import json
import os
import shutil
import struct
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(HERE, "Corpus")


def folder(name):
    path = os.path.join(CORPUS, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write(path, data):
    with open(path, "wb") as file:
        file.write(data)


def npy(shape, values, header=None):
    if header is None:
        dims = "(%s)" % (", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % dims
    text = header.encode()
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + struct.pack("<%df" % len(values), *values)


def safetensors(tensors, metadata):
    header = {"__metadata__": metadata} if metadata else {}
    data = b""
    for name, (shape, values) in tensors.items():
        begin = len(data)
        data += struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [begin, len(data)]}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def ramp(count, scale=0.1):
    return [((i % 7) - 3) * scale for i in range(count)]


def gru(inputs, hidden, classes):
    return {
        "weight_ih_l0": ([3 * hidden, inputs], ramp(3 * hidden * inputs)),
        "weight_hh_l0": ([3 * hidden, hidden], ramp(3 * hidden * hidden, 0.05)),
        "bias_ih_l0": ([3 * hidden], ramp(3 * hidden, 0.01)),
        "bias_hh_l0": ([3 * hidden], ramp(3 * hidden, 0.02)),
        "head.weight": ([classes, hidden], ramp(classes * hidden, 0.3)),
        "head.bias": ([classes], ramp(classes, 0.1)),
    }


FEATURES = [
    {"kind": "logmel", "sample_rate": 16000, "n_fft": 64, "win_length": 64, "hop_length": 32, "n_mels": 4},
    {"kind": "fbank", "sample_frequency": 8000, "frame_length": 8, "frame_shift": 4, "num_mel_bins": 4},
    {"kind": "logmel", "n_mels": 4, "center": True, "mel_scale": "slaney", "norm": "slaney", "int16_scale": True},
]
FRONTEND = {
    "type": "stft_conv", "sample_rate": 16000, "chunk_samples": 64, "context_samples": 16,
    "stft": {"hop_length": 4, "pad_right": 8, "pad_mode": "reflect"},
    "convs": [{"stride": 1, "padding": 1, "activation": "relu"}],
}


GRAPH = {"version": 1, "output_activation": "softmax", "layers": [
    {"type": "normalize", "mean": "v3", "std": "v3"}, {"type": "linear", "weight": "w", "bias": "b"},
    {"type": "activation", "function": "gelu", "approximate": "tanh"},
    {"type": "conv1d", "weight": "c", "dilation": 2, "padding": "causal"},
    {"type": "layernorm", "weight": "v4", "bias": "b", "eps": 1e-5}, {"type": "dropout"},
    {"type": "gru", "prefix": "rnn."}, {"type": "frame_stack", "frames": 2}, {"type": "subsample", "every": 2},
    {"type": "activation", "function": "leaky_relu", "negative_slope": 0.1}]}


def main():
    target = folder("FuzzNpy")
    write(os.path.join(target, "vector.npy"), npy([3], [1, 2, 3]))
    write(os.path.join(target, "matrix.npy"), npy([2, 3], ramp(6)))
    write(os.path.join(target, "scalar.npy"), npy([], [0.5]))
    write(os.path.join(target, "empty.npy"), npy([0, 4], []))
    write(os.path.join(target, "fortran.npy"), npy([2], [1, 2], "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }"))
    write(os.path.join(target, "double.npy"), npy([1], [0, 0], "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }"))

    target = folder("FuzzSafeTensors")
    for name in ["rnn_tanh_bi_1x10_in3", "lstm_f16_1x13_in5_head2", "gru_bf16_1x21_in4"]:
        shutil.copy(os.path.join(ROOT, "Tests/Golden/recurrent", name, "model.safetensors"), os.path.join(target, name + ".safetensors"))
    for index, features in enumerate(FEATURES):
        write(os.path.join(target, "features%d.safetensors" % index),
              safetensors(gru(4, 3, 2), {"kind": "gru", "labels": '["a","b"]', "head_activation": "softmax", "features": json.dumps(features)}))
    frontend = gru(4, 3, 1)
    frontend["frontend.stft.basis"] = ([6, 1, 8], ramp(48))
    frontend["frontend.conv0.weight"] = ([4, 3, 3], ramp(36, 0.05))
    frontend["frontend.conv0.bias"] = ([4], ramp(4))
    chain = {
        "v3": ([3], [1.0, 2.0, 3.0]), "w": ([4, 3], ramp(12)), "b": ([4], ramp(4)), "c": ([4, 4, 2], ramp(32)),
        "v4": ([4], [0.5, 1.0, 1.5, 2.0]), "rnn.weight_ih_l0": ([9, 4], ramp(36, 0.05)),
        "rnn.weight_hh_l0": ([9, 3], ramp(27, 0.05)),
        "t.weight_ih": ([9, 6], ramp(54, 0.05)), "t.weight_hh": ([9, 3], ramp(27, 0.05)),
    }
    layers = GRAPH["layers"] + [{"type": "gru_textbook", "weight_ih": "t.weight_ih", "weight_hh": "t.weight_hh",
                                 "update": "z_takes_candidate"}]
    write(os.path.join(target, "graph.safetensors"),
          safetensors(chain, {"graph": json.dumps(dict(GRAPH, layers=layers)), "labels": '["a","b","c"]'}))
    write(os.path.join(target, "frontend.safetensors"),
          safetensors(frontend, {"kind": "gru", "labels": '["speech"]', "head_activation": "sigmoid", "head_input_activation": "relu", "frontend": json.dumps(FRONTEND)}))

    target = folder("FuzzMetadata")
    write(os.path.join(target, "graph.json"), json.dumps(GRAPH).encode())
    for index, features in enumerate(FEATURES):
        write(os.path.join(target, "features%d.json" % index), json.dumps(features).encode())
    write(os.path.join(target, "frontend.json"), json.dumps(FRONTEND).encode())

    target = folder("FuzzJSON")
    for index, value in enumerate(FEATURES + [FRONTEND, [1, -2.5e-3, "\u00e9\ud83d\ude00", None, True, {}], "a\\\"b"]):
        write(os.path.join(target, "value%d.json" % index), json.dumps(value).encode())

    target = folder("FuzzAudio")
    for rate, channels, width in [(16000, 1, 2), (8000, 2, 1), (44100, 1, 3), (22050, 2, 4)]:
        path = os.path.join(target, "pcm_%d_%dch_%dbit.wav" % (rate, channels, 8 * width))
        with wave.open(path, "wb") as audio:
            audio.setnchannels(channels)
            audio.setsampwidth(width)
            audio.setframerate(rate)
            audio.writeframes(bytes((i * 37) % 256 for i in range(200 * channels * width)))
    floats = struct.pack("<100f", *[((i % 11) - 5) * 0.1 for i in range(100)])
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(floats)) + floats
    write(os.path.join(target, "float_16000.wav"), b"RIFF" + struct.pack("<I", len(body)) + body)


if __name__ == "__main__":
    main()
