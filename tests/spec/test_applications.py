"""`keras.applications` constructors as graph nodes: a backbone in one line."""

import keras
import numpy as np
import pytest

import kerasblocks
from kerasblocks.errors import SpecError

SPEC = """kerasblocks: 1
name: transfer
inputs:
  image: {shape: [32, 32, 3]}
layers:
  - MobileNetV2: {include_top: false, pooling: avg, alpha: 0.35, name: backbone%s}
  - Dense: {units: 5, name: logits}
"""


def _reference():
    return keras.applications.MobileNetV2(
        include_top=False, pooling="avg", alpha=0.35, weights=None, input_shape=(32, 32, 3)
    )


def test_an_application_node_is_the_keras_application_nested():
    model = kerasblocks.build(SPEC % "")
    backbone = model.get_layer("backbone")
    assert isinstance(backbone, keras.Model)
    assert backbone.count_params() == _reference().count_params()
    assert model.output.shape == (None, 5)


def test_weights_come_from_a_local_file(tmp_path):
    reference = _reference()
    path = tmp_path / "backbone.weights.h5"
    reference.save_weights(path)
    model = kerasblocks.build(SPEC % f", weights: {path}")
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(model.get_layer("backbone")(images), reference(images))


def test_nothing_is_downloaded():
    with pytest.raises(SpecError) as caught:
        kerasblocks.validate(SPEC % ", weights: imagenet")
    assert caught.value.message.startswith(
        "weights 'imagenet' would be downloaded, and kerasblocks downloads nothing"
    )
    assert (caught.value.line, caught.value.column) == (6, 91)


def test_a_missing_weights_file_is_a_located_build_error(tmp_path):
    with pytest.raises(SpecError) as caught:
        kerasblocks.build(SPEC % f", weights: {tmp_path / 'none.weights.h5'}")
    assert "no such file" in caught.value.message
    assert caught.value.line == 6
