#!/usr/bin/env python3
"""Golden cases for Keras models (issue 14), converted by Scripts/convert_keras.py.

Run by hand (CI never needs Keras):
    /tmp/venv/bin/pip install keras "torch==2.11.*" numpy safetensors
    KERAS_BACKEND=torch /tmp/venv/bin/python Scripts/make_keras_golden.py

Each case writes Tests/Golden/network/<name>/: model.safetensors, frames.npy [T, in] and out.npy
[T, out], Keras' output for the whole sequence *after* its final activation.
"""
import os
import sys

os.environ["KERAS_BACKEND"] = "torch"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from convert_keras import convert  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Golden", "network")
FRAMES = 1000
keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)


def save(name, model, frames):
    folder = os.path.join(ROOT, name)
    os.makedirs(folder, exist_ok=True)
    out = keras.ops.convert_to_numpy(model(frames[None].astype(np.float32), training=False))[0]
    convert(model, os.path.join(folder, "model.safetensors"))
    np.save(os.path.join(folder, "frames.npy"), frames.astype(np.float32))
    np.save(os.path.join(folder, "out.npy"), out.astype(np.float32))
    print(name, frames.shape, "->", out.shape)


def main():
    layers = keras.layers
    frames = rng.normal(1.0, 2.0, (FRAMES, 10))
    norm = layers.Normalization()
    norm.adapt(frames[:300])
    model = keras.Sequential([
        keras.Input((None, 10)), norm, layers.Dense(12, activation="relu"),
        layers.GRU(10, reset_after=False, return_sequences=True), layers.Dense(3, activation="softmax"),
    ])
    # Nonzero recurrent biases would be lost (reset_after=False has none); the input bias is random.
    model.layers[2].set_weights([w if i < 2 else rng.normal(0, 0.3, w.shape) for i, w in enumerate(model.layers[2].get_weights())])
    save("keras_gru_textbook", model, frames)

    frames = rng.normal(0, 1, (FRAMES, 6))
    model = keras.Sequential([
        keras.Input((None, 6)), layers.Conv1D(8, 3, padding="causal", dilation_rate=2, activation="relu"),
        layers.BatchNormalization(), layers.GRU(6, return_sequences=True), layers.Dense(2, activation="sigmoid"),
    ])
    bn = model.layers[1]
    bn.set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.2, 8), rng.normal(0, 0.3, 8), rng.uniform(0.5, 1.5, 8)])
    gru = model.layers[2]
    gru.set_weights([gru.get_weights()[0], gru.get_weights()[1], rng.normal(0, 0.3, gru.get_weights()[2].shape)])
    save("keras_conv_bn_gru", model, frames)

    frames = rng.normal(0, 1, (FRAMES, 7))
    model = keras.Sequential([
        keras.Input((None, 7)), layers.LSTM(9, return_sequences=True), layers.Dropout(0.2),
        layers.SimpleRNN(5, return_sequences=True), layers.LayerNormalization(),
        layers.Dense(4, activation="gelu"), layers.Dense(4),
    ])
    lstm = model.layers[0]
    lstm.set_weights([lstm.get_weights()[0], lstm.get_weights()[1], rng.normal(0, 0.3, lstm.get_weights()[2].shape)])
    ln = model.layers[3]
    ln.set_weights([rng.uniform(0.5, 1.5, 5), rng.normal(0, 0.1, 5)])
    save("keras_lstm_simplernn", model, frames)

    def random_biases(layer):
        layer.set_weights([w if w.ndim > 1 and i < 2 else rng.normal(0, 0.3, w.shape) for i, w in enumerate(layer.get_weights())])

    # Conv1D padding="same" (k 5, dilation 2): centred, a lookahead of 4 frames.
    frames = rng.normal(0, 1, (FRAMES, 5))
    model = keras.Sequential([
        keras.Input((None, 5)), layers.Conv1D(6, 5, padding="same", dilation_rate=2, activation="tanh"),
        layers.GRU(7, return_sequences=True), layers.Dense(2, activation="sigmoid"),
    ])
    random_biases(model.layers[1])
    save("keras_conv_same_gru", model, frames)

    # Bidirectional layers: offline only (OfflineChain, streamrnn step).
    frames = rng.normal(0, 1, (FRAMES, 4))
    model = keras.Sequential([
        keras.Input((None, 4)), layers.Bidirectional(layers.LSTM(6, return_sequences=True)),
        layers.Dense(8, activation="relu"), layers.Bidirectional(layers.GRU(5, return_sequences=True)),
        layers.Dense(3, activation="softmax"),
    ])
    for wrapper in (model.layers[0], model.layers[2]):
        random_biases(wrapper.forward_layer)
        random_biases(wrapper.backward_layer)
    save("keras_bidirectional", model, frames)


if __name__ == "__main__":
    main()
