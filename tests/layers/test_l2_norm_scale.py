import keras
import numpy as np
import pytest

# The independent reference, `tf.math.l2_normalize`, on every Keras backend
# (TensorFlow is a dependency of kerasblocks): compared as NumPy arrays.
import tensorflow as tf

from kerasblocks.layers import L2NormScale
from kerasblocks.layers.l2_norm_scale import (
    alpha_lower_bound,
    l2_norm_scale_keras_ops,
    l2_norm_scale_tensorflow,
)
from tests.layer_testing import (
    check_config_round_trips,
    layer_test,
    random_inputs,
    requires_tensorflow_backend,
    same_shape_case,
    value_and_gradients,
)

to_numpy = keras.ops.convert_to_numpy

# ---------------------------------------------------------------------------
# The shared layer checks, one per shipped configuration.

test_layer_checks = layer_test(
    L2NormScale,
    [
        same_shape_case("fixed", {"alpha": 16.0}, [(4, 12), (1, 7), (3, 5, 6)]),
        same_shape_case("auto", {"alpha": "auto", "num_classes": 10}, [(4, 12), (2, 3)]),
        same_shape_case(
            "trainable",
            {"alpha": 4.0, "trainable_alpha": True},
            [(4, 12), (2, 3)],
            trainable_weights=1,
        ),
        same_shape_case("axis1_4d", {"alpha": 8.0, "axis": 1}, [(2, 6, 3, 4), (1, 2, 5, 5)]),
    ],
)


def test_axis_list_config_round_trips():
    check_config_round_trips(L2NormScale, {"alpha": 2.0, "axis": [1, 2]})
    assert type(L2NormScale(alpha=2.0, axis=[1, 2]).get_config()["axis"]) is list


# ---------------------------------------------------------------------------
# Numbers.


@pytest.mark.parametrize(
    "shape, axis",
    [((5, 16), -1), ((3, 4, 5, 6), 1), ((3, 4, 5, 6), -1), ((3, 4, 5, 6), [1, 2])],
)
def test_matches_tf_l2_normalize(shape, axis):
    x = random_inputs(shape, seed=3) * 7.0
    layer = L2NormScale(alpha=12.5, axis=axis)
    expected = (tf.math.l2_normalize(x, axis=axis) * 12.5).numpy()
    y = to_numpy(layer(x))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    # Every normalised vector has norm alpha.
    norms = np.sqrt(np.sum(np.square(y), axis=tuple(np.atleast_1d(axis))))
    np.testing.assert_allclose(norms, 12.5, rtol=1e-5)
    # The keras.ops path (the JAX / PyTorch one), forced on TensorFlow too.
    axes = sorted(a % len(shape) for a in np.atleast_1d(axis))
    np.testing.assert_allclose(
        to_numpy(l2_norm_scale_keras_ops(keras.ops.convert_to_tensor(x), axes, 12.5, 1e-6)),
        expected,
        rtol=1e-6,
        atol=1e-6,
    )


def test_norm_is_per_sample_not_per_batch():
    layer = L2NormScale(alpha=3.0)
    x = random_inputs((4, 10), seed=0)
    first = keras.ops.convert_to_numpy(layer(x))[0]
    other = random_inputs((6, 10), seed=1) * 100.0
    other[0] = x[0]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(other))[0], first, rtol=1e-6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x[:1]))[0], first, rtol=1e-6
    )


def _zero_and_ramp():
    """A zero vector and a non-zero one: the zero must not give NaN."""
    return np.stack([np.zeros(8), np.arange(8.0)]).astype("float32")


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("trainable_alpha", [False, True])
def test_zero_vector_gives_finite_output_and_gradient(trainable_alpha, jit_compile):
    # Under XLA, sqrt'(0) = inf times 0 gives NaN: the layer must not
    # differentiate through sqrt at 0 (eager TF happens to hide this).
    layer = L2NormScale(alpha=5.0, trainable_alpha=trainable_alpha)
    x = _zero_and_ramp()
    layer.build(x.shape)

    def loss_and_outputs(t):
        y = layer(t)
        return keras.ops.sum(y * keras.ops.arange(8, dtype="float32")), y

    y, input_gradients, weight_gradients = value_and_gradients(
        loss_and_outputs, [x], layer.trainable_weights, jit_compile=jit_compile
    )
    np.testing.assert_array_equal(y[0], np.zeros(8))
    np.testing.assert_allclose(np.linalg.norm(y[1]), 5.0, rtol=1e-6)
    assert len(weight_gradients) == int(trainable_alpha)
    for gradient in input_gradients + weight_gradients:
        assert gradient is not None
        assert np.all(np.isfinite(gradient))
    # d/dx of alpha * x / eps at x = 0: alpha / eps times the upstream gradient.
    np.testing.assert_allclose(input_gradients[0][0], 5.0 / 1e-6 * np.arange(8.0), rtol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_keras_ops_zero_vector_gradient(jit_compile):
    def loss_and_outputs(t):
        y = l2_norm_scale_keras_ops(t, [1], 5.0, 1e-6)
        return keras.ops.sum(y * keras.ops.arange(8, dtype="float32")), y

    y, (gradient,), _ = value_and_gradients(
        loss_and_outputs, [_zero_and_ramp()], jit_compile=jit_compile
    )
    np.testing.assert_array_equal(y[0], 0.0)
    assert np.all(np.isfinite(gradient))
    np.testing.assert_allclose(gradient[0], 5.0 / 1e-6 * np.arange(8.0), rtol=1e-5)


@requires_tensorflow_backend("the native tf.math.l2_normalize path")
@pytest.mark.parametrize("jit_compile", [False, True])
def test_tensorflow_zero_vector_gradient(jit_compile):
    x = tf.constant(_zero_and_ramp())

    @tf.function(jit_compile=jit_compile)
    def gradient():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = l2_norm_scale_tensorflow(x, [1], 5.0, 1e-6)
            loss = tf.reduce_sum(y * tf.range(8, dtype="float32"))
        return y, tape.gradient(loss, x)

    y, grad = gradient()
    np.testing.assert_array_equal(y.numpy()[0], 0.0)
    assert np.all(np.isfinite(grad.numpy()))
    np.testing.assert_allclose(grad.numpy()[0], 5.0 / 1e-6 * np.arange(8.0), rtol=1e-5)


def test_native_op_is_used_on_the_tensorflow_backend_only(monkeypatch):
    from kerasblocks.layers import l2_norm_scale

    calls = []

    def recording(*args):
        calls.append(args)
        return l2_norm_scale_tensorflow(*args)

    monkeypatch.setattr(l2_norm_scale, "l2_norm_scale_tensorflow", recording)
    x = random_inputs((2, 4))
    y = to_numpy(L2NormScale(alpha=2.0)(x))
    assert len(calls) == (1 if keras.backend.backend() == "tensorflow" else 0)
    np.testing.assert_allclose(y, 2.0 * x / np.linalg.norm(x, axis=-1, keepdims=True), rtol=1e-6)


def test_zero_vector_under_mixed_precision():
    layer = L2NormScale(alpha=5.0, dtype="mixed_float16")
    y = keras.ops.convert_to_numpy(layer(np.zeros((2, 4), "float32")))
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, 0.0)


def test_mixed_precision_large_features_do_not_overflow():
    # 1024 features of magnitude 10: the sum of squares (~1e5) overflows
    # float16, so the layer must compute it in float32.
    x = (random_inputs((4, 1024), seed=5) * 10.0).astype("float16")
    layer = L2NormScale(alpha=20.0, dtype="mixed_float16")
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.dtype == np.float16
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(
        np.linalg.norm(y.astype("float32"), axis=-1), 20.0, rtol=1e-2
    )


@pytest.mark.parametrize("num_classes, expected", [(10, 4.277), (100, 6.782), (1000, 9.103)])
def test_auto_alpha_is_the_papers_lower_bound(num_classes, expected):
    layer = L2NormScale(alpha="auto", num_classes=num_classes)
    assert layer.resolved_alpha == pytest.approx(expected, abs=1e-3)
    assert alpha_lower_bound(num_classes, 0.9) == pytest.approx(expected, abs=1e-3)
    x = random_inputs((3, 6))
    np.testing.assert_allclose(
        np.linalg.norm(keras.ops.convert_to_numpy(layer(x)), axis=-1),
        layer.resolved_alpha,
        rtol=1e-5,
    )
    # The config keeps "auto": the value is recomputed, not frozen.
    assert layer.get_config()["alpha"] == "auto"


def test_auto_alpha_follows_target_probability():
    layer = L2NormScale(alpha="auto", num_classes=10, target_probability=0.99)
    assert layer.resolved_alpha == pytest.approx(np.log(0.99 * 8 / 0.01))


def test_fixed_alpha_is_resolved_alpha():
    assert L2NormScale(alpha=50).resolved_alpha == 50.0
    assert isinstance(L2NormScale(alpha=50).get_config()["alpha"], float)


def test_trainable_alpha_adds_one_parameter_and_learns():
    def model(**kwargs):
        inputs = keras.Input((6,))
        features = keras.layers.Dense(8)(inputs)
        outputs = keras.layers.Dense(3)(L2NormScale(**kwargs)(features))
        return keras.Model(inputs, outputs)

    keras.utils.set_random_seed(0)
    fixed = model(alpha=2.0)
    keras.utils.set_random_seed(0)
    learned = model(alpha=2.0, trainable_alpha=True)
    assert learned.count_params() == fixed.count_params() + 1
    layer = learned.layers[2]
    assert layer.count_params() == 1
    assert layer.resolved_alpha == pytest.approx(2.0)

    x = random_inputs((32, 6))
    y = np.random.default_rng(0).integers(0, 3, size=32)
    learned.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    learned.fit(x, y, epochs=3, verbose=0)
    assert layer.resolved_alpha != pytest.approx(2.0, abs=1e-4)
    assert float(keras.ops.convert_to_numpy(layer.alpha_weight)) == layer.resolved_alpha


def test_trainable_alpha_scales_output():
    layer = L2NormScale(alpha=3.0, trainable_alpha=True)
    x = random_inputs((2, 5))
    layer.build(x.shape)
    layer.alpha_weight.assign(7.0)
    np.testing.assert_allclose(
        np.linalg.norm(keras.ops.convert_to_numpy(layer(x)), axis=-1), 7.0, rtol=1e-6
    )


# ---------------------------------------------------------------------------
# Bad arguments.


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alpha": 0.0}, r"`alpha` must be a positive.*Received: alpha=0.0"),
        ({"alpha": -1.0}, r"`alpha`.*Received: alpha=-1.0"),
        ({"alpha": float("inf")}, r"`alpha`.*Received: alpha=inf"),
        ({"alpha": True}, r"`alpha`.*Received: alpha=True"),
        ({"alpha": "learned"}, r"`alpha`.*'auto'.*Received: alpha='learned'"),
        ({"alpha": "auto"}, r"`num_classes`.*Received: num_classes=None"),
        ({"alpha": "auto", "num_classes": 2}, r"`num_classes`.*Received: num_classes=2"),
        ({"alpha": "auto", "num_classes": 10.5}, r"`num_classes`.*num_classes=10.5"),
        (
            {"alpha": "auto", "num_classes": 10, "target_probability": 1.0},
            r"`target_probability`.*Received: target_probability=1.0",
        ),
        (
            {"alpha": "auto", "num_classes": 10, "target_probability": 0.0},
            r"`target_probability`.*Received: target_probability=0.0",
        ),
        (
            {"alpha": "auto", "num_classes": 3, "target_probability": 0.1},
            r"target_probability.*num_classes=3, target_probability=0.1",
        ),
        ({"alpha": 1.0, "target_probability": 2.0}, r"target_probability=2.0"),
        ({"alpha": 1.0, "epsilon": 0.0}, r"`epsilon` must be a positive.*epsilon=0.0"),
        ({"alpha": 1.0, "epsilon": -1e-3}, r"`epsilon`.*epsilon=-0.001"),
        ({"alpha": 1.0, "axis": "last"}, r"`axis`.*Received: axis='last'"),
        ({"alpha": 1.0, "trainable_alpha": "yes"}, r"`trainable_alpha`.*'yes'"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L2NormScale(**kwargs)


@pytest.mark.parametrize("axis", [0, 2, -3])
def test_bad_axis_for_input_raises(axis):
    with pytest.raises(ValueError, match=rf"`axis`.*Received: axis={axis}"):
        L2NormScale(alpha=1.0, axis=axis)(random_inputs((2, 3)))
