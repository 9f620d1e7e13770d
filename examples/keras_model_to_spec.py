"""A hand-written Keras model -> a spec -> the same model again.

Writes a small two-branch functional model as spec text with
`kerasblocks.to_spec`, prints it, builds the spec, copies the weights across
by layer name and checks that both models give the same outputs.

    python examples/keras_model_to_spec.py

The command-line equivalent for a saved model is
`kerasblocks from-keras model.keras -o spec.yaml`.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow start-up logs

import keras
import numpy as np

import kerasblocks
from kerasblocks import LRN
from kerasblocks.api import parameter_counts


def two_branch_net(num_classes=10):
    inputs = keras.Input(shape=(32, 32, 3), name="image")
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="stem")(inputs)
    x = LRN(depth_radius=2, alpha=2e-5, beta=0.75, name="norm")(x)
    # Two branches on the same features, added back together.
    wide = keras.layers.Conv2D(32, 3, padding="same", name="wide")(x)
    narrow = keras.layers.Conv2D(32, 1, kernel_initializer="he_normal", name="narrow")(x)
    x = keras.layers.Add(name="merge")([wide, narrow])
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="two_branch_net")


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    original = two_branch_net()
    text = kerasblocks.to_spec(original)
    print(text)

    rebuilt = kerasblocks.build(text)
    for layer in original.layers:
        rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
    images = np.random.default_rng(0).random((4, 32, 32, 3), dtype="float32")
    expected = np.asarray(original(images, training=False))
    found = np.asarray(rebuilt(images, training=False))
    same = [layer.name for layer in original.layers] == [layer.name for layer in rebuilt.layers]
    counts = parameter_counts(original), parameter_counts(rebuilt)
    totals = f"{counts[0]['total']:,} and {counts[1]['total']:,}"
    print(f"same layer names: {same}; parameters: {totals}")
    print(f"largest output difference: {np.max(np.abs(expected - found))}")
    if not (same and counts[0] == counts[1] and np.array_equal(expected, found)):
        raise SystemExit("the model built from the spec differs from the original")


if __name__ == "__main__":
    main()
