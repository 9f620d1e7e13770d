import contextlib

import keras
import numpy as np
import pytest

# The independent reference, `tf.nn.local_response_normalization`, on every
# Keras backend (TensorFlow is a dependency of kerasblocks): compared as NumPy.
import tensorflow as tf

from kerasblocks.layers import LRN
from kerasblocks.layers.lrn import lrn_keras_ops, lrn_tensorflow
from tests.layer_testing import (
    BACKEND,
    JIT_COMPILE_SKIP_REASONS,
    backend_jit,
    layer_test,
    random_inputs,
    requires_tensorflow_backend,
    same_shape_case,
    value_and_gradients,
)

to_numpy = keras.ops.convert_to_numpy


def keras_ops_lrn(x, *args):
    """`lrn_keras_ops` on the NumPy array `x`, as NumPy: the path the JAX and
    PyTorch backends take, forced on TensorFlow too."""
    return to_numpy(lrn_keras_ops(keras.ops.convert_to_tensor(x), *args))


def caffe_lrn_reference(x, size, alpha, beta, k, channel_axis=-1):
    """Caffe/PyTorch LRN across channels, written out with loops.

    `y[c] = x[c] / (k + alpha / size * sum_{j in window(c)} x[j]^2)^beta` with
    the window `[c - size // 2, c + (size - 1) // 2]` clipped to the channels
    (Caffe's `pre_pad = (size - 1) / 2` for odd sizes; PyTorch's padding
    `(size // 2, (size - 1) // 2)` for any size).
    """
    x = np.moveaxis(np.asarray(x, "float64"), channel_axis, -1)
    channels = x.shape[-1]
    y = np.empty_like(x)
    for c in range(channels):
        total = np.zeros(x.shape[:-1])
        for j in range(c - size // 2, c + (size - 1) // 2 + 1):
            if 0 <= j < channels:
                total += x[..., j] ** 2
        y[..., c] = x[..., c] / (k + alpha / size * total) ** beta
    return np.moveaxis(y, -1, channel_axis)


def tf_lrn_nhwc(x, depth_radius, bias, alpha, beta):
    return tf.nn.local_response_normalization(
        x, depth_radius=depth_radius, bias=bias, alpha=alpha, beta=beta
    ).numpy()


# ---------------------------------------------------------------------------
# The shared layer checks, one per shipped configuration.

# Large alpha so that the normalisation does something at these magnitudes.
_TF = {"depth_radius": 2, "bias": 1.0, "alpha": 0.5, "beta": 0.75}


test_layer_checks = layer_test(
    LRN,
    [
        same_shape_case("tf_4d_last", dict(_TF), [(2, 5, 5, 8), (1, 3, 4, 8), (2, 2, 2, 3)]),
        same_shape_case(
            "tf_4d_first", dict(_TF, data_format="channels_first"), [(2, 8, 4, 5), (1, 3, 2, 2)]
        ),
        same_shape_case("tf_defaults_2d", {}, [(4, 16), (2, 3)]),
        same_shape_case("tf_3d", dict(_TF), [(2, 7, 12), (3, 1, 4)]),
        same_shape_case(
            "caffe",
            {"convention": "caffe", "size": 5, "alpha": 1.0, "beta": 0.75, "k": 2.0},
            [(2, 4, 4, 10), (1, 2, 3, 4)],
        ),
        same_shape_case(
            "pytorch_even_first",
            {"convention": "pytorch", "size": 4, "data_format": "channels_first"},
            [(2, 6, 3, 3), (1, 6, 2, 2, 2)],
        ),
    ],
)


# ---------------------------------------------------------------------------
# Numbers against tf.nn.local_response_normalization.


@pytest.mark.parametrize(
    "depth_radius, bias, alpha, beta",
    [
        (5, 1.0, 1.0, 0.5),  # TF defaults
        (2, 1.0, 2e-5, 0.75),  # AlexNet (TF port)
        (4, 1.0, 0.001 / 9.0, 0.75),  # the small MNIST AlexNet
        (2, 2.0, 1e-4, 0.75),  # AlexNet paper
        (0, 0.5, 0.3, 1.0),
        (1, 1.5, 0.2, 0.0),
    ],
)
def test_matches_tf_op(depth_radius, bias, alpha, beta):
    x = random_inputs((2, 5, 6, 12), seed=1) * 4.0
    expected = tf_lrn_nhwc(x, depth_radius, bias, alpha, beta)
    layer = LRN(depth_radius=depth_radius, bias=bias, alpha=alpha, beta=beta)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        keras_ops_lrn(x, -1, depth_radius, depth_radius, bias, alpha, beta),
        expected,
        rtol=1e-5,
        atol=1e-6,
    )


def test_default_arguments_are_tf_defaults():
    x = random_inputs((2, 3, 3, 16), seed=2)
    np.testing.assert_allclose(
        to_numpy(LRN()(x)), tf.nn.local_response_normalization(x), rtol=1e-6, atol=1e-7
    )
    config = LRN().get_config()
    assert (config["depth_radius"], config["bias"], config["alpha"], config["beta"]) == (
        5,
        1.0,
        1.0,
        0.5,
    )
    assert config["data_format"] == "channels_last"


@pytest.mark.parametrize(
    "shape, data_format, channel_axis",
    [
        ((4, 20), "channels_last", 1),
        ((4, 20), "channels_first", 1),
        ((2, 7, 20), "channels_last", 2),
        ((2, 20, 7), "channels_first", 1),
        ((2, 4, 5, 20), "channels_first", 1),
        ((2, 3, 4, 5, 20), "channels_last", 4),
        ((2, 20, 3, 4, 5), "channels_first", 1),
    ],
)
def test_ranks_and_data_formats_match_tf_op(shape, data_format, channel_axis):
    params = {"depth_radius": 3, "bias": 1.0, "alpha": 0.05, "beta": 0.75}
    x = random_inputs(shape, seed=3) * 3.0
    # Reference: move channels last, flatten to NHWC, native op, undo.
    moved = np.moveaxis(x, channel_axis, -1)
    flat = moved.reshape(-1, 1, 1, moved.shape[-1])
    expected = np.moveaxis(
        tf_lrn_nhwc(flat, **params).reshape(moved.shape), -1, channel_axis
    )
    layer = LRN(data_format=data_format, **params)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        keras_ops_lrn(x, channel_axis, 3, 3, 1.0, 0.05, 0.75), expected, rtol=1e-5, atol=1e-6
    )
    if BACKEND == "tensorflow":
        np.testing.assert_allclose(
            lrn_tensorflow(tf.constant(x), channel_axis, 3, 1.0, 0.05, 0.75),
            expected,
            rtol=1e-5,
            atol=1e-6,
        )


def test_keras_ops_long_window_matches_tf_op():
    x = random_inputs((2, 3, 3, 100), seed=4) * 2.0
    expected = tf_lrn_nhwc(x, 20, 1.0, 0.01, 0.75)
    np.testing.assert_allclose(
        keras_ops_lrn(x, 3, 20, 20, 1.0, 0.01, 0.75), expected, rtol=1e-5, atol=1e-6
    )


def test_native_op_is_used_on_the_tensorflow_backend_only(monkeypatch):
    from kerasblocks.layers import lrn

    calls = []

    def recording(*args):
        calls.append(args)
        return lrn_tensorflow(*args)

    monkeypatch.setattr(lrn, "lrn_tensorflow", recording)
    x = random_inputs((2, 3, 3, 8), seed=13) * 3.0
    expected = tf_lrn_nhwc(x, **_TF)
    np.testing.assert_allclose(to_numpy(LRN(**_TF)(x)), expected, rtol=1e-5, atol=1e-6)
    assert len(calls) == (1 if BACKEND == "tensorflow" else 0)


@requires_tensorflow_backend("a tf.function traced once for unknown spatial sizes")
@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_keras_ops_path_with_unknown_spatial_dimensions(data_format):
    # An even PyTorch window takes the keras.ops path on TensorFlow too.
    layer = LRN.from_torch(size=4, alpha=0.2, data_format=data_format)
    channel_axis = 1 if data_format == "channels_first" else -1
    spec_shape = [None, 6, None, None] if channel_axis == 1 else [None, None, None, 6]

    @tf.function(input_signature=[tf.TensorSpec(spec_shape, "float32")])
    def apply(t):
        return layer(t)

    x = random_inputs((2, 6, 3, 5) if channel_axis == 1 else (2, 3, 5, 6), seed=12)
    expected = caffe_lrn_reference(x, 4, 0.2, 0.75, 1.0, channel_axis=channel_axis)
    np.testing.assert_allclose(apply(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_symbolic_unknown_spatial_dimensions_then_compiled(data_format):
    # A model built on `None` spatial sizes, then run on two sizes, compiled
    # where the backend has `jit_compile` (eager on PyTorch).
    channel_axis = 1 if data_format == "channels_first" else -1
    inputs = keras.Input((6, None, None) if channel_axis == 1 else (None, None, 6))
    model = keras.Model(inputs, LRN.from_torch(size=4, alpha=0.2, data_format=data_format)(inputs))
    assert tuple(model.output.shape) == tuple(inputs.shape)
    apply = model if BACKEND in JIT_COMPILE_SKIP_REASONS else backend_jit(model)
    for seed, spatial in ((12, (3, 5)), (13, (4, 2))):
        shape = (2, 6, *spatial) if channel_axis == 1 else (2, *spatial, 6)
        x = random_inputs(shape, seed=seed)
        expected = caffe_lrn_reference(x, 4, 0.2, 0.75, 1.0, channel_axis=channel_axis)
        np.testing.assert_allclose(to_numpy(apply(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_keras_ops_gradient_matches_tf_op(jit_compile):
    x = random_inputs((2, 4, 4, 12), seed=5) * 3.0
    weights = random_inputs((2, 4, 4, 12), seed=6)

    def loss_and_outputs(t):
        y = lrn_keras_ops(t, -1, 2, 2, 1.0, 0.1, 0.75)
        return keras.ops.sum(keras.ops.multiply(y, weights)), y

    _, (gradient,), _ = value_and_gradients(loss_and_outputs, [x], jit_compile=jit_compile)

    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        loss = tf.reduce_sum(tf.nn.local_response_normalization(t, 2, 1.0, 0.1, 0.75) * weights)
    np.testing.assert_allclose(gradient, tape.gradient(loss, t).numpy(), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# Numbers against the Caffe / PyTorch formula.


@pytest.mark.parametrize(
    "size, alpha, beta, k",
    [
        (5, 1e-4, 0.75, 1.0),  # AlexNet (bvlc_alexnet)
        (5, 1e-4, 0.75, 2.0),
        (3, 0.5, 0.75, 1.0),
        (9, 1.0, 0.5, 1.0),
        (1, 0.3, 1.0, 1.0),
    ],
)
def test_caffe_convention_matches_caffe_formula(size, alpha, beta, k):
    x = random_inputs((2, 4, 5, 12), seed=7) * 4.0
    expected = caffe_lrn_reference(x, size, alpha, beta, k)
    layer = LRN.from_caffe(local_size=size, alpha=alpha, beta=beta, k=k)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)
    assert layer.get_config()["convention"] == "caffe"
    # The documented mapping to the TensorFlow convention gives the same numbers.
    mapped = LRN(depth_radius=(size - 1) // 2, bias=k, alpha=alpha / size, beta=beta)
    np.testing.assert_allclose(to_numpy(mapped(x)), expected, rtol=1e-5, atol=1e-6)
    assert layer.tensorflow_params == pytest.approx(
        {"depth_radius": (size - 1) // 2, "bias": k, "alpha": alpha / size, "beta": beta}
    )


def test_alexnet_values_agree_across_conventions():
    """TF port (r=2, alpha=2e-5) == Caffe (local_size=5, alpha=1e-4) == formula."""
    x = np.maximum(random_inputs((2, 13, 13, 96), seed=8) * 30.0, 0.0)  # after ReLU
    expected = caffe_lrn_reference(x, 5, 1e-4, 0.75, 1.0)
    tf_port = LRN(depth_radius=2, bias=1.0, alpha=2e-05, beta=0.75)
    caffe = LRN.from_caffe(local_size=5, alpha=1e-4, beta=0.75, k=1.0)
    torch_style = LRN.from_torch(size=5)  # torch defaults are AlexNet's values
    for layer in (tf_port, caffe, torch_style):
        np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        tf_lrn_nhwc(x, 2, 1.0, 2e-5, 0.75), expected, rtol=1e-5, atol=1e-5
    )
    # The AlexNet paper's k=2, n=5, alpha=1e-4 (no division by n) is the TF
    # convention with bias=2, alpha=1e-4.
    paper = LRN(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    np.testing.assert_allclose(
        to_numpy(paper(x)), caffe_lrn_reference(x, 5, 5e-4, 0.75, 2.0), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("size", [2, 4, 6])
@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_pytorch_even_size_uses_asymmetric_window(size, data_format):
    x = random_inputs((2, 10, 3, 3), seed=9) * 3.0
    channel_axis = 1 if data_format == "channels_first" else -1
    expected = caffe_lrn_reference(x, size, 0.2, 0.75, 1.0, channel_axis=channel_axis)
    layer = LRN.from_torch(size=size, alpha=0.2, data_format=data_format)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)
    assert layer.tensorflow_params["depth_radius"] == (size // 2, (size - 1) // 2)


def test_pytorch_defaults():
    config = LRN(convention="pytorch", size=3).get_config()
    assert (config["alpha"], config["beta"], config["k"]) == (1e-4, 0.75, 1.0)
    assert config["depth_radius"] is None and config["bias"] is None
    config = LRN(convention="caffe").get_config()
    assert (config["size"], config["alpha"], config["beta"], config["k"]) == (
        5,
        1.0,
        0.75,
        1.0,
    )


# ---------------------------------------------------------------------------
# Dtypes.


def test_mixed_float16_matches_float32():
    x = random_inputs((2, 4, 4, 16), seed=10) * 3.0
    full = to_numpy(LRN(**_TF)(x))
    half = LRN(dtype="mixed_float16", **_TF)(x)
    assert keras.backend.standardize_dtype(half.dtype) == "float16"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(half).astype("float32"), full, rtol=2e-3, atol=2e-3
    )


def test_float64_uses_keras_ops_path():
    x = random_inputs((2, 3, 3, 8), seed=11).astype("float64") * 3.0
    with float64_enabled():
        y = LRN(dtype="float64", **_TF)(x)
        assert keras.backend.standardize_dtype(y.dtype) == "float64"
        y = to_numpy(y)
    expected = caffe_lrn_reference(x, 5, 0.5 * 5, 0.75, 1.0)
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def float64_enabled():
    """A context in which the backend computes in float64: JAX truncates
    float64 to float32 unless `jax_enable_x64` is on."""
    if BACKEND == "jax":
        import jax

        return jax.enable_x64(True)
    return contextlib.nullcontext()


# ---------------------------------------------------------------------------
# Bad arguments.


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"depth_radius": -1}, r"`depth_radius` must be an integer >= 0.*depth_radius=-1"),
        ({"depth_radius": 2.5}, r"`depth_radius`.*Received: depth_radius=2.5"),
        ({"depth_radius": True}, r"`depth_radius`.*Received: depth_radius=True"),
        ({"bias": 0.0}, r"`bias` must be a positive.*Received: bias=0.0"),
        ({"bias": -1.0}, r"`bias`.*Received: bias=-1.0"),
        ({"bias": "1"}, r"`bias`.*Received: bias='1'"),
        ({"alpha": -1e-4}, r"`alpha` must be a number >= 0.*alpha=-0.0001"),
        ({"alpha": float("nan")}, r"`alpha`.*Received: alpha=nan"),
        ({"beta": -0.75}, r"`beta` must be a number >= 0.*beta=-0.75"),
        ({"beta": None, "alpha": "x"}, r"`alpha`.*Received: alpha='x'"),
        ({"data_format": "NHWC"}, r"`data_format`.*Received: data_format='NHWC'"),
        ({"convention": "torch"}, r"`convention`.*Received: convention='torch'"),
        ({"size": 5}, r"`size` belongs to the Caffe/PyTorch.*Received: size=5"),
        ({"k": 2.0}, r"`k` belongs.*Received: k=2.0"),
        ({"convention": "caffe", "depth_radius": 2}, r"`depth_radius` belongs.*depth_radius=2"),
        ({"convention": "caffe", "bias": 2.0}, r"`bias` belongs.*Received: bias=2.0"),
        ({"convention": "caffe", "size": 4}, r"`size` must be odd.*Received: size=4"),
        ({"convention": "caffe", "size": 0}, r"`size` must be an integer >= 1.*size=0"),
        ({"convention": "pytorch"}, r"`size` is required.*Received: size=None"),
        ({"convention": "pytorch", "size": 3, "k": 0.0}, r"`k` must be a positive.*k=0.0"),
        ({"convention": "pytorch", "size": 3, "beta": -1}, r"`beta`.*Received: beta=-1"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LRN(**kwargs)


def test_bad_input_shapes_raise():
    with pytest.raises(ValueError, match=r"rank >= 2.*Received: input_shape"):
        LRN()(np.zeros((4,), "float32"))
    with pytest.raises(ValueError, match=r"channel dimension.*Received: input_shape"):
        LRN()(keras.Input(shape=(3, None), batch_size=2))
