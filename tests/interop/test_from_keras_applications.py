"""`to_spec` of every `keras.applications` constructor of the installed Keras.

Each application is built with `weights=None`, its top included with a few
classes, at the smallest input it allows (32x32, 75x75 for the Inception
nets, 71x71 for Xception), converted with `to_spec`, built again with
`kerasblocks.build` and compared with the original: equal functional configs
(every layer's class, name, config and call arguments; nested models'
configs too), equal layer names and parameter counts, and with
`model.set_weights(original.get_weights())` bit-identical outputs.

The list is read from `keras.applications` itself, so an application that a
newer Keras adds is tested without editing this file. Timing (Keras 3.15.1,
TensorFlow 2.21, two CPU cores shared with other jobs): all 40 applications
in 334 s; the 14 marked slow (10 s or more each: the large ConvNeXts,
DenseNets, EfficientNets, NASNets, ResNets and InceptionResNetV2) take 202 s
of it, the other 26 take 132 s (`-m "not slow"`).
"""

import inspect

import keras
import pytest

from tests.interop.round_trip import assert_same_model, round_trip

# The smallest input each application accepts; 32x32 for the others.
SMALLEST_INPUT = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
CLASSES = 7
# 10 s or more each on a shared CPU core (build, convert, build again, compare).
SLOW = {
    "ConvNeXtLarge",
    "ConvNeXtXLarge",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "EfficientNetV2L",
    "EfficientNetV2M",
    "InceptionResNetV2",
    "NASNetLarge",
    "NASNetMobile",
    "ResNet152",
    "ResNet152V2",
}


def application_names():
    """Every model constructor of keras.applications (ResNet50, MobileNetV3Small, ...)."""
    return sorted(
        name
        for name, value in vars(keras.applications).items()
        if name[:1].isupper() and inspect.isfunction(value)
    )


APPLICATIONS = application_names()


def test_every_application_is_listed():
    assert len(APPLICATIONS) >= 40  # Keras 3.15 has 40
    assert not SLOW - set(APPLICATIONS)


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in APPLICATIONS],
)
def test_keras_application_round_trip(name):
    keras.backend.clear_session()
    size = SMALLEST_INPUT.get(name, 32)
    original = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), include_top=True, classes=CLASSES
    )
    try:
        text, rebuilt = round_trip(original)
        assert_same_model(original, rebuilt, batch_size=1)
        # One entry per layer (a long one wraps over a few lines).
        entries = text.count("\n  - ") + text.count("\n      - ")
        assert entries == sum(
            1 for _ in _operations(original) if not isinstance(_, keras.layers.InputLayer)
        )
    finally:
        del original
        keras.backend.clear_session()


def _operations(model):
    """Every operation of `model` and of the models nested in it, the models too."""
    operations = model.layers if isinstance(model, keras.Sequential) else model.operations
    for operation in operations:
        yield operation
        if isinstance(operation, keras.Model):
            yield from _operations(operation)
