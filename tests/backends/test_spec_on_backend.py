"""Specs built and `.keras` files loaded on JAX / PyTorch give TensorFlow's numbers.

Run on a non-TensorFlow backend (`KERAS_BACKEND=jax python -m pytest
tests/backends/test_spec_on_backend.py`; `test_other_backends.py` does it for
JAX and PyTorch in CI). A TensorFlow-backend process writes the reference
(`write_tensorflow_reference`): for each spec, its `.keras` file, its weights as
NumPy arrays by layer name, an input batch and the TensorFlow outputs for it.
This backend then
- builds the same spec with `kerasblocks.build`, takes TensorFlow's weights
  layer by layer and must give TensorFlow's outputs, in inference and in
  training mode (batch statistics);
- loads TensorFlow's `.keras` file with `kerasblocks.load_model` (Keras 3 files
  are backend-independent) and must give the same outputs and keep the spec.

The specs use all four kerasblocks layers, channels last and channels first.
"""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasblocks

BACKEND = keras.backend.backend()
# Set by `test_other_backends.py` to a reference it wrote once for all backends.
REFERENCE_ENV = "KERASBLOCKS_TENSORFLOW_REFERENCE"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TOLERANCE = 1e-5

pytestmark = pytest.mark.skipif(
    BACKEND == "tensorflow",
    reason="compares the JAX / PyTorch backends with TensorFlow: run with "
    "KERAS_BACKEND=jax or torch (tests/backends/test_other_backends.py does)",
)

# Every kerasblocks layer in one small net; the second half is channels first
# (LRN with PyTorch's even window, ResidualUnit, InceptionBlock).
FOUR_LAYERS_SPEC = """\
kerasblocks: 1
name: four_layers
description: Every kerasblocks layer in one small net, channels last and first.
inputs:
  image: {shape: [12, 12, 3]}
layers:
  - Conv2D: {filters: 8, kernel_size: 3, padding: same, name: stem}
  - LRN: {convention: caffe, size: 5, alpha: 0.05, beta: 0.75, name: norm}
  - ResidualUnit: {filters: 8, activation: elu, name: unit}
  - InceptionBlock: {preset: v2, filters: [4, 4, 6, 2, 3, 3], name: inception}
  - Permute: {dims: [3, 1, 2], name: to_channels_first}
  - ResidualUnit:
      {filters: 16, strides: 2, variant: postact, bottleneck: true,
       data_format: channels_first, name: down}
  - LRN:
      {convention: pytorch, size: 4, alpha: 0.1, data_format: channels_first, name: norm_even}
  - InceptionBlock:
      {preset: fashion, filters: 4, data_format: channels_first, name: inception_first}
  - GlobalAveragePooling2D: {data_format: channels_first, name: pool}
  - Dense: {units: 12, name: features}
  - L2NormScale: {alpha: auto, num_classes: 10, trainable_alpha: true, name: l2_scale}
  - Dense: {units: 10, name: logits}
outputs: [logits]
"""

# name -> (what `kerasblocks.build` takes, input shape with batch).
SPECS = {
    "inception_fashion": ("inception_fashion", (4, 28, 28, 1)),
    "four_layers": (FOUR_LAYERS_SPEC, (4, 12, 12, 3)),
}


def write_tensorflow_reference(directory):
    """Writes, for each of `SPECS`, what TensorFlow makes of it into `directory`.

    Must run on the TensorFlow backend. Per spec `NAME`: `NAME.keras` (saved
    with `kerasblocks.save_model`), `NAME.weights.npz` (`"layer/index"` ->
    array, for every layer with weights) and `NAME.io.npz` (`x`, and the
    outputs `inference` and `training`). BN statistics and biases are
    randomised first, so that no weight passes by being zero or one.

    Args:
        directory: an existing folder (`str` or `pathlib.Path`).

    Raises:
        RuntimeError: the backend is not TensorFlow.
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "write_tensorflow_reference needs KERAS_BACKEND=tensorflow. "
            f"Received: backend={keras.backend.backend()!r}"
        )
    directory = pathlib.Path(directory)
    for seed, (name, (spec, input_shape)) in enumerate(sorted(SPECS.items())):
        keras.utils.set_random_seed(seed)
        model = kerasblocks.build(spec)
        _randomize_statistics_and_biases(model, seed)
        kerasblocks.save_model(model, directory / f"{name}.keras")
        np.savez(directory / f"{name}.weights.npz", **_weights_by_layer(model))
        x = np.random.default_rng(seed).normal(size=input_shape).astype("float32")
        # Inference first: training mode moves the BN statistics.
        inference = keras.ops.convert_to_numpy(model(x, training=False))
        training = keras.ops.convert_to_numpy(model(x, training=True))
        np.savez(directory / f"{name}.io.npz", x=x, inference=inference, training=training)


def _randomize_statistics_and_biases(model, seed):
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if variable.name in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif variable.name in ("beta", "moving_mean", "bias"):
            value = rng.normal(0.0, 0.1, shape)
        else:
            continue
        variable.assign(value.astype(variable.dtype))


def _weights_by_layer(model):
    return {
        f"{layer.name}/{index}": value
        for layer in model.layers
        for index, value in enumerate(layer.get_weights())
    }


@pytest.fixture(scope="module")
def tensorflow_reference(tmp_path_factory):
    """The folder `write_tensorflow_reference` filled: the one named by
    `$KERASBLOCKS_TENSORFLOW_REFERENCE`, else a new one filled by a
    TensorFlow-backend subprocess."""
    given = os.environ.get(REFERENCE_ENV)
    if given:
        return pathlib.Path(given)
    directory = tmp_path_factory.mktemp("tensorflow_reference")
    script = (
        "import sys\n"
        "from tests.backends.test_spec_on_backend import write_tensorflow_reference\n"
        "write_tensorflow_reference(sys.argv[1])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(directory)],
        cwd=REPO_ROOT,
        env=dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"the TensorFlow reference process failed:\n{result.stderr[-4000:]}"
    )
    return directory


def _reference(directory, name):
    io = np.load(directory / f"{name}.io.npz")
    return io["x"], io["inference"], io["training"]


def _assert_outputs_match(model, directory, name):
    x, inference, training = _reference(directory, name)
    for mode, expected in (("inference", inference), ("training", training)):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(model(x, training=mode == "training")),
            expected,
            rtol=TOLERANCE,
            atol=TOLERANCE,
            err_msg=f"{name}, {mode} mode: {BACKEND} differs from TensorFlow",
        )


@pytest.mark.parametrize("name", sorted(SPECS))
def test_built_spec_with_tensorflow_weights_gives_tensorflow_outputs(
    name, tensorflow_reference
):
    spec, _ = SPECS[name]
    model = kerasblocks.build(spec)
    weights = np.load(tensorflow_reference / f"{name}.weights.npz")
    # Same layers with the same weight shapes, in the same order.
    expected_keys = sorted(weights.files)
    assert sorted(_weights_by_layer(model)) == expected_keys
    for layer in model.layers:
        values = [weights[f"{layer.name}/{i}"] for i in range(len(layer.weights))]
        layer.set_weights(values)
    _assert_outputs_match(model, tensorflow_reference, name)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_keras_file_saved_on_tensorflow_loads_here(name, tensorflow_reference, tmp_path):
    path = tensorflow_reference / f"{name}.keras"
    model = kerasblocks.load_model(path)
    _assert_outputs_match(model, tensorflow_reference, name)
    # The spec stays with the model, and saving here keeps it.
    assert kerasblocks.saving.spec_record_of(model).name == name
    resaved = kerasblocks.save_model(model, tmp_path / f"{name}.keras")
    assert kerasblocks.saving.read_metadata(resaved)["spec"].name == name
    x, _, _ = _reference(tensorflow_reference, name)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(kerasblocks.load_model(resaved)(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
    )


def test_inception_fashion_has_the_articles_parameter_counts():
    model = kerasblocks.build("inception_fashion")
    assert kerasblocks.api.parameter_counts(model) == {
        "total": 294_218,
        "trainable": 293_226,
        "non_trainable": 992,
    }
