import keras
import numpy as np
import pytest

from kerasblocks.layers import ResidualUnit
from tests import reference_models as ref
from tests.layer_testing import (
    check_channels_first_matches_last,
    image_layer_cases,
    layer_test,
    random_inputs,
)

# (id, init kwargs, input shape, expected output shape, trainable, non-trainable)
LAYER_CASES = [
    # The article's pre-activation unit, identity shortcut.
    ("preact_identity", {"filters": 8, "activation": "elu"}, (2, 8, 8, 8), (2, 8, 8, 8), 8, 4),
    # Pre-activation, projection shortcut with stride 2 (conv only, no BN).
    ("preact_projection_s2", {"filters": 12, "strides": 2}, (2, 8, 8, 8), (2, 4, 4, 12), 10, 4),
    # ResNet v1 bottleneck (keras.applications.ResNet50 block), projection.
    (
        "postact_bottleneck",
        {
            "filters": 16,
            "strides": 2,
            "variant": "postact",
            "bottleneck": True,
            "epsilon": 1.001e-5,
        },
        (2, 8, 8, 8),
        (2, 4, 4, 16),
        16,
        8,
    ),
    # The article's TF-Slim bottleneck residual_block(x, f=8, r=4).
    (
        "plain_bottleneck_article",
        {"filters": 8, "variant": "plain", "bottleneck": True, "use_batchnorm": False},
        (2, 8, 8, 8),
        (2, 8, 8, 8),
        6,
        0,
    ),
    # Scaled residual, forced projection, regularizers, non-square kernel.
    (
        "residual_scale",
        {
            "filters": 8,
            "kernel_size": (3, 1),
            "residual_scale": 0.2,
            "shortcut": "projection",
            "kernel_regularizer": "l2",
            "use_bias": False,
        },
        (2, 8, 8, 8),
        (2, 8, 8, 8),
        7,  # kernels of conv1, conv2, shortcut_conv; gamma/beta of bn1, bn2
        4,
    ),
]


test_layer = layer_test(ResidualUnit, image_layer_cases(LAYER_CASES))


def test_channels_first_matches_channels_last():
    first = check_channels_first_matches_last(
        ResidualUnit,
        {"filters": 12, "strides": 2, "variant": "postact", "bottleneck": True},
        random_inputs((2, 8, 8, 6)),
    )
    assert first.compute_output_shape((None, 6, None, 8)) == (None, 12, None, 4)


def test_unknown_spatial_size():
    unit = ResidualUnit(16, strides=2)
    out = unit(keras.Input(shape=(None, None, 8)))
    assert tuple(out.shape) == (None, None, None, 16)
    assert unit(random_inputs((1, 7, 5, 8))).shape == (1, 4, 3, 16)


def test_article_preact_elu_unit_matches_reference():
    ours, reference = ref.residual_unit_pair(input_shape=(8, 8, 16), filters=16)
    ref.assert_same_outputs(ours, reference, random_inputs((2, 8, 8, 16)))
    assert ours.count_params() == reference.count_params()


def test_article_bottleneck_block_matches_reference():
    ours, reference = ref.bottleneck_block_pair(input_shape=(8, 8, 32), f=32, r=4)
    ref.assert_same_outputs(ours, reference, random_inputs((2, 8, 8, 32)))
    # conv1x1 32->8, conv3x3 8->8, conv1x1 8->32, all biased.
    assert ours.count_params() == reference.count_params() == 264 + 584 + 288


@pytest.mark.parametrize("strides, in_channels", [(1, 32), (2, 16)])
def test_resnet50_bottleneck_block_matches_reference(strides, in_channels):
    ours, reference = ref.resnet50_bottleneck_pair(
        input_shape=(8, 8, in_channels), filters=32, strides=strides
    )
    ref.assert_same_outputs(ours, reference, random_inputs((2, 8, 8, in_channels)))
    assert ours.count_params() == reference.count_params()


def test_preact_projection_matches_resnet_v2_convention():
    """Projection shortcut on the pre-activated input, no BN on it."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(8, 8, 8))
    pre = keras.layers.BatchNormalization(name="bn1")(inputs)
    pre = keras.layers.ReLU()(pre)
    shortcut = keras.layers.Conv2D(12, 1, strides=2, name="shortcut_conv")(pre)
    x = keras.layers.Conv2D(12, 3, strides=2, padding="same", name="conv1")(pre)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(12, 3, padding="same", name="conv2")(x)
    reference = keras.Model(inputs, keras.layers.Add()([shortcut, x]))
    ref.randomize_batchnorm_statistics(reference)

    unit = ResidualUnit(12, strides=2)
    ours = keras.Model(inputs, unit(inputs))
    assert ref.copy_weights(reference, unit) == 5
    ref.assert_same_outputs(ours, reference, random_inputs((2, 8, 8, 8)))


def test_residual_scale_scales_the_residual_only():
    x = random_inputs((2, 6, 6, 8))
    plain = ResidualUnit(8, residual_scale=1.0)
    scaled = ResidualUnit(8, residual_scale=0.2)
    plain.build(x.shape)
    scaled.build(x.shape)
    scaled.set_weights(plain.get_weights())
    residual = keras.ops.convert_to_numpy(plain(x)) - x
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(scaled(x)) - x, 0.2 * residual, rtol=1e-5, atol=1e-6
    )


RESNET50_PARAMS = 25_636_712


@pytest.fixture(scope="module")
def resnet50_models():
    """`(ResNet-50 from ResidualUnits, keras.applications.ResNet50)` with
    1000 classes and logits, built once for the tests below, at 64x64: the
    parameter counts do not depend on the input size."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    theirs = keras.applications.ResNet50(
        weights=None, input_shape=(64, 64, 3), classifier_activation=None
    )
    ours = ref.resnet50_from_units((64, 64, 3), 1000)
    yield ours, theirs
    keras.backend.clear_session()


def test_resnet50_from_units_has_keras_applications_param_count(resnet50_models):
    ours, theirs = resnet50_models
    assert theirs.count_params() == RESNET50_PARAMS
    assert ours.count_params() == RESNET50_PARAMS
    trainable = sum(int(np.prod(w.shape)) for w in ours.trainable_weights)
    assert trainable == sum(int(np.prod(w.shape)) for w in theirs.trainable_weights)


def test_resnet50_from_units_matches_keras_applications(resnet50_models):
    ours, theirs = resnet50_models
    ref.randomize_batchnorm_statistics(theirs)
    ref.copy_resnet50_weights(theirs, ours)
    assert ours.count_params() == theirs.count_params()
    ref.assert_same_outputs(ours, theirs, random_inputs((2, 64, 64, 3)), tolerance=1e-5)


BAD_ARGUMENTS = [
    ({"filters": 0}, "filters"),
    ({"filters": -4}, "filters"),
    ({"filters": 2.5}, "filters"),
    ({"filters": True}, "filters"),
    ({"filters": 8, "kernel_size": 0}, "kernel_size"),
    ({"filters": 8, "kernel_size": (3,)}, "kernel_size"),
    ({"filters": 8, "kernel_size": "3"}, "kernel_size"),
    ({"filters": 8, "strides": 0}, "strides"),
    ({"filters": 8, "strides": (2, 0)}, "strides"),
    ({"filters": 8, "variant": "v2"}, "variant"),
    ({"filters": 8, "bottleneck": "yes"}, "bottleneck"),
    ({"filters": 8, "reduction": 0}, "reduction"),
    ({"filters": 30, "bottleneck": True, "reduction": 4}, "reduction"),
    ({"filters": 8, "activation": "no_such_activation"}, "activation"),
    ({"filters": 8, "use_batchnorm": 1}, "use_batchnorm"),
    ({"filters": 8, "residual_scale": 0}, "residual_scale"),
    ({"filters": 8, "residual_scale": -0.1}, "residual_scale"),
    ({"filters": 8, "shortcut": "conv"}, "shortcut"),
    ({"filters": 8, "use_bias": "no"}, "use_bias"),
    ({"filters": 8, "momentum": 1.5}, "momentum"),
    ({"filters": 8, "epsilon": 0.0}, "epsilon"),
    ({"filters": 8, "data_format": "NHWC"}, "data_format"),
]


@pytest.mark.parametrize(
    "kwargs,argument", BAD_ARGUMENTS, ids=[f"{a}={k[a]!r}" for k, a in BAD_ARGUMENTS]
)
def test_bad_argument_raises_value_error_naming_it(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*Received: .*{argument}="):
        ResidualUnit(**kwargs)


def test_reduction_message_shows_both_values():
    with pytest.raises(ValueError) as error:
        ResidualUnit(30, bottleneck=True, reduction=4)
    assert "Received: filters=30, reduction=4" in str(error.value)


def test_unknown_channel_count_is_rejected():
    with pytest.raises(ValueError, match="channel"):
        ResidualUnit(8).build((None, 8, 8, None))


def _kernels(layer):
    return [w.numpy() for w in layer.weights if w.path.endswith("kernel")]


def test_sublayers_start_with_different_kernels():
    # Keras 3 initializers draw their seed once: shared, they would give
    # conv1 and conv2 the same starting kernel.
    unit = ResidualUnit(8)
    unit.build((None, 6, 6, 8))
    first, second = _kernels(unit)
    assert first.shape == second.shape and not np.array_equal(first, second)


def test_seeded_initializer_is_reproducible_and_still_distinct_per_sublayer():
    def make():
        unit = ResidualUnit(8, kernel_initializer=keras.initializers.HeNormal(seed=7))
        unit.build((None, 6, 6, 8))
        return _kernels(unit)

    first, again = make(), make()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])
