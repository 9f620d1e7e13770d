"""The four kerasblocks layers inside ordinary Keras code, no spec involved.

Builds a small functional model that uses every layer, trains it for a few
steps on generated images, saves it to `.keras` and loads it back with nothing
but `import kerasblocks` (no `custom_objects`), checking the outputs match.

    python examples/custom_layers_in_keras.py [--output-dir DIR]
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow start-up logs

import keras
import numpy as np

import kerasblocks
from kerasblocks import LRN, InceptionBlock, L2NormScale, ResidualUnit


def small_net(num_classes=10):
    inputs = keras.Input(shape=(32, 32, 3), name="image")
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    # AlexNet's LRN, written in the Caffe convention and mapped exactly.
    x = LRN(convention="caffe", size=5, alpha=1e-4, beta=0.75, k=1.0)(x)
    x = ResidualUnit(32, activation="elu")(x)  # pre-activation unit
    x = ResidualUnit(64, strides=2, bottleneck=True)(x)  # projection shortcut
    x = InceptionBlock(preset="v1", filters=[16, 24, 32, 4, 8, 8])(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(64)(x)
    # L2-constrained softmax: unit-norm features scaled by the paper's bound.
    x = L2NormScale(alpha="auto", num_classes=num_classes)(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="kerasblocks_layers_demo")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=tempfile.gettempdir())
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(64,))

    model = small_net()
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.summary()
    model.fit(x, y, batch_size=16, epochs=2, verbose=2)

    path = os.path.join(args.output_dir, "kerasblocks_layers_demo.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects needed
    same = np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    print(f"saved to {path}; reloaded outputs identical: {same}")
    print(f"kerasblocks {kerasblocks.__version__}, Keras {keras.__version__}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
