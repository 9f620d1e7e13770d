"""A Keras model with attention, ops, shared layers and a wrapper -> a spec -> the same model.

Builds a small text model with the functional API, the way keras.io examples
write them: token and position embeddings (`keras.ops` for the positions),
masked multi-head self-attention with a residual `x + y`, a bidirectional
LSTM, and one Dense head shared by two pooled views. `kerasblocks.to_spec`
writes it as a spec; the spec builds the same model (same config), and with
the weights copied the same outputs, bit for bit.

    python examples/attention_model_to_spec.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow start-up logs

import json

import keras
import numpy as np
from keras import layers, ops

import kerasblocks


def text_model(vocabulary=100, length=12, width=16):
    tokens = keras.Input((length,), dtype="int32", name="tokens")
    mask = ops.not_equal(tokens, 0)
    positions = ops.cumsum(ops.ones_like(tokens), axis=1) - 1
    x = layers.Embedding(vocabulary, width, name="token_embedding")(tokens)
    x = x + layers.Embedding(length, width, name="position_embedding")(positions)
    attended = layers.MultiHeadAttention(2, width // 2, name="attention")(
        x, x, query_mask=mask, value_mask=mask
    )
    x = layers.LayerNormalization(name="norm")(x + attended)
    both = layers.Bidirectional(layers.LSTM(8, return_sequences=True), name="bilstm")(x)
    head = layers.Dense(3, name="head")  # one head, called on two views
    mean = head(layers.GlobalAveragePooling1D(name="mean")(both))
    peak = head(layers.GlobalMaxPooling1D(name="peak")(both))
    return keras.Model(tokens, {"mean": mean, "peak": peak}, name="text_model")


def main():
    original = text_model()
    text = kerasblocks.to_spec(original)
    print(text)
    rebuilt = kerasblocks.build(text)
    same_config = json.dumps(rebuilt.get_config(), default=str) == json.dumps(
        original.get_config(), default=str
    )
    rebuilt.set_weights(original.get_weights())
    tokens = np.random.default_rng(0).integers(0, 100, size=(4, 12)).astype("int32")
    tokens[:, 8:] = 0  # padding
    expected, found = original(tokens), rebuilt(tokens)
    same_outputs = all(
        np.array_equal(keras.ops.convert_to_numpy(expected[key]),
                       keras.ops.convert_to_numpy(found[key]))
        for key in ("mean", "peak")
    )
    print(f"parameters: {rebuilt.count_params():,} (original {original.count_params():,})")
    print(f"same config: {same_config}; same outputs: {same_outputs}")
    return same_config and same_outputs


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
