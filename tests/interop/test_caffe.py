"""`import_caffe` / `kerasblocks import-caffe`: Caffe prototxt -> spec.

References are independent of the importer: the published AlexNet and
GoogLeNet parameter counts and feature-map sizes, Caffe's output-size formulas
written out here with floating-point `math.ceil` as Caffe's C++ has them, and
NumPy loops that follow Caffe's pooling, LRN, BatchNorm and InnerProduct
forward passes.
"""

import itertools
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import kerasblocks
from kerasblocks import cli
from kerasblocks.errors import SpecError, UsageError
from kerasblocks.interop.caffe import import_caffe
from kerasblocks.interop.caffe.geometry import caffe_pooling_geometry
from kerasblocks.interop.prototxt import parse_prototxt

DATA = Path(__file__).parent / "data"
ALEXNET = DATA / "alexnet.prototxt"
GOOGLENET = DATA / "googlenet.prototxt"


def net(body, shape=(1, 3, 8, 8)):
    """Prototxt text: an Input blob `data` of Caffe shape `shape`, then `body`."""
    dims = " ".join(f"dim: {d}" for d in shape)
    header = 'layer { name: "data" type: "Input" top: "data" '
    return header + f"input_param {{ shape {{ {dims} }} }} }}\n" + textwrap.dedent(body)


def build(prototxt):
    return kerasblocks.build(import_caffe(prototxt))


def spec_data(prototxt):
    return kerasblocks.load_spec(import_caffe(prototxt)).data


def layer_entries(prototxt):
    """{name: (type, arguments)} of the spec's layers (arguments as written)."""
    entries = {}
    for item in spec_data(prototxt)["layers"]:
        ((type_, args),) = item.items()
        entries[args["name"]] = (type_, args)
    return entries


def header(text):
    """The spec's header comment as one line of text (it is wrapped at 100)."""
    return " ".join(line[1:].strip() for line in text.splitlines() if line.startswith("#"))


def random(*shape, seed=0, low=None):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=shape).astype("float32")
    return np.abs(values) if low == 0 else values


def predict(model, *inputs):
    outputs = model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(output) for output in outputs]
    return np.asarray(outputs)


def nchw(x):
    return np.transpose(x, (0, 3, 1, 2))


def nhwc(x):
    return np.transpose(x, (0, 2, 3, 1))


# --- Caffe's formulas, as its C++ computes them ---------------------------------


def caffe_conv_size(size, kernel, stride=1, pad=0, dilation=1):
    return (size + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1


def caffe_pool_size(size, kernel, stride, pad=0, any_pad=None):
    """pooling_layer.cpp: ceil, then the last window must start inside H + pad."""
    out = int(math.ceil(float(size + 2 * pad - kernel) / stride)) + 1
    if (pad if any_pad is None else any_pad) and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def caffe_pool_reference(x, kernel, stride, pad, method, out_size):
    """Caffe's Pooling forward (MAX / AVE) on NCHW `x`, as in pooling_layer.cpp."""
    n, c, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel, stride, pad, out_size
    y = np.zeros((n, c, oh, ow), dtype="float64")
    for i in range(oh):
        for j in range(ow):
            hstart, wstart = i * sh - ph, j * sw - pw
            hend, wend = min(hstart + kh, height + ph), min(wstart + kw, width + pw)
            pool_size = (hend - hstart) * (wend - wstart)
            hstart, wstart = max(hstart, 0), max(wstart, 0)
            hend, wend = min(hend, height), min(wend, width)
            window = x[:, :, hstart:hend, wstart:wend]
            if method == "MAX":
                y[:, :, i, j] = window.max(axis=(2, 3))
            else:
                y[:, :, i, j] = window.sum(axis=(2, 3)) / pool_size
    return y


def caffe_lrn_reference(x, local_size, alpha, beta, k):
    """lrn_layer.cpp ACROSS_CHANNELS on NCHW `x`: x / (k + alpha/n * sum x^2)^beta."""
    channels = x.shape[1]
    half = (local_size - 1) // 2
    y = np.empty_like(x, dtype="float64")
    for c in range(channels):
        window = x[:, max(0, c - half) : min(channels, c + half + 1)]
        scale = k + alpha / local_size * np.sum(window.astype("float64") ** 2, axis=1)
        y[:, c] = x[:, c] / scale**beta
    return y


def caffe_conv_reference(x, weights, bias, group=1, pad=0, stride=1):
    """Caffe's grouped convolution on NCHW `x`; weights (F, C/g, kh, kw)."""
    n, channels, height, width = x.shape
    filters, per_group, kh, kw = weights.shape
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (height + 2 * pad - kh) // stride + 1
    ow = (width + 2 * pad - kw) // stride + 1
    y = np.zeros((n, filters, oh, ow))
    out_per_group = filters // group
    for f in range(filters):
        g = f // out_per_group
        part = x[:, g * per_group : (g + 1) * per_group]
        for i in range(oh):
            for j in range(ow):
                patch = part[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                y[:, f, i, j] = np.sum(patch * weights[f], axis=(1, 2, 3)) + bias[f]
    return y


# --- AlexNet and GoogLeNet -----------------------------------------------------------


@pytest.fixture(scope="module")
def alexnet():
    return build(ALEXNET)


@pytest.fixture(scope="module")
def googlenet():
    return build(GOOGLENET)


def test_alexnet_imports_validates_and_has_the_published_parameter_count(alexnet):
    assert kerasblocks.validate(import_caffe(ALEXNET)) == []
    assert alexnet.count_params() == 60_965_224
    assert alexnet.name == "AlexNet"


def test_alexnet_layer_shapes_are_caffes(alexnet):
    # Caffe: convolutions round down, pools round up (no padding: no clip).
    size = {}
    size["conv1"] = caffe_conv_size(227, 11, stride=4)
    size["norm1"] = size["conv1"]
    size["pool1"] = caffe_pool_size(size["norm1"], 3, 2)
    size["conv2"] = caffe_conv_size(size["pool1"], 5, pad=2)
    size["norm2"] = size["conv2"]
    size["pool2"] = caffe_pool_size(size["norm2"], 3, 2)
    size["conv3"] = caffe_conv_size(size["pool2"], 3, pad=1)
    size["conv4"] = caffe_conv_size(size["conv3"], 3, pad=1)
    size["conv5"] = caffe_conv_size(size["conv4"], 3, pad=1)
    size["pool5"] = caffe_pool_size(size["conv5"], 3, 2)
    # The published sizes (Krizhevsky et al., bvlc_alexnet).
    assert [size[k] for k in ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "pool5")] == [
        55, 27, 27, 13, 13, 13, 6,
    ]
    channels = {"conv1": 96, "norm1": 96, "pool1": 96, "conv2": 256, "norm2": 256,
                "pool2": 256, "conv3": 384, "conv4": 384, "conv5": 256, "pool5": 256}
    expected = {name: (size[name], size[name], channels[name]) for name in size}
    expected.update({"fc6_flatten": (9216,), "fc6": (4096,), "drop6": (4096,),
                     "fc7": (4096,), "drop7": (4096,), "fc8": (1000,), "prob": (1000,)})
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in alexnet.layers[1:]}
    assert shapes == expected


def test_alexnet_spec_reads_like_the_network():
    entries = layer_entries(ALEXNET)
    data = spec_data(ALEXNET)
    assert data["inputs"] == {"data": {"shape": [227, 227, 3]}}
    assert data["defaults"]["LRN"] == {
        "convention": "caffe", "size": 5, "alpha": 1e-4, "beta": 0.75,
    }
    assert data["defaults"]["Conv2D"] == {"padding": "same", "activation": "relu"}
    assert entries["conv1"] == (
        "Conv2D",
        {"filters": 96, "kernel_size": 11, "strides": 4, "padding": "valid", "name": "conv1"},
    )
    assert entries["conv2"][1]["groups"] == 2 and entries["conv3"][1].get("groups") is None
    assert entries["fc8"] == ("Dense", {"units": 1000, "activation": None, "name": "fc8"})
    assert "relu1" not in entries  # folded into conv1's activation
    assert data["outputs"] == ["prob"]
    assert all("inputs" not in args for _, args in entries.values())  # one chain


def test_googlenet_has_the_published_count_and_caffes_ceil_mode_pooling(googlenet):
    assert googlenet.count_params() == 6_998_552  # networks.md: without the aux heads
    size = {"conv1_7x7_s2": caffe_conv_size(224, 7, stride=2, pad=3)}
    size["pool1_3x3_s2"] = caffe_pool_size(size["conv1_7x7_s2"], 3, 2)
    size["pool2_3x3_s2"] = caffe_pool_size(size["pool1_3x3_s2"], 3, 2)
    size["pool3_3x3_s2"] = caffe_pool_size(size["pool2_3x3_s2"], 3, 2)
    size["pool4_3x3_s2"] = caffe_pool_size(size["pool3_3x3_s2"], 3, 2)
    size["pool5_7x7_s1"] = caffe_pool_size(size["pool4_3x3_s2"], 7, 1)
    assert list(size.values()) == [112, 56, 28, 14, 7, 1]
    for name, expected in size.items():
        assert googlenet.get_layer(name).output.shape[1:3] == (expected, expected), name
    assert googlenet.get_layer("inception_3a_output").output.shape[1:] == (28, 28, 256)
    assert googlenet.get_layer("inception_5b_output").output.shape[1:] == (7, 7, 1024)
    assert googlenet.get_layer("loss3_classifier").output.shape[1:] == (1000,)


def test_googlenet_fillers_become_initializers_and_branches_are_named():
    data = spec_data(GOOGLENET)
    assert data["defaults"]["Conv2D"] == {
        "kernel_initializer": "lecun_uniform",  # Caffe's xavier: uniform, variance 1/fan_in
        "bias_initializer": {"Constant": {"value": 0.2}},
        "activation": "relu",
    }
    entries = layer_entries(GOOGLENET)
    assert entries["inception_3a_3x3_reduce"][1]["inputs"] == "pool2_3x3_s2"
    assert entries["inception_3a_output"] == (
        "Concatenate",
        {"name": "inception_3a_output", "inputs": [
            "inception_3a_1x1", "inception_3a_3x3", "inception_3a_5x5", "inception_3a_pool_proj",
        ]},
    )
    # Caffe's conv1 pads 3 on each side; Keras' "same" would pad 2 above: explicit padding.
    assert entries["conv1_7x7_s2_pad"] == (
        "ZeroPadding2D", {"padding": 3, "name": "conv1_7x7_s2_pad"},
    )


# --- pooling ------------------------------------------------------------------------

# (H, W, kernel, stride, pad) with kernel/stride/pad as (h, w) pairs.
POOLING_CASES = [
    (8, 8, (3, 3), (2, 2), (0, 0)),    # 3: floor and ceil agree
    (6, 6, (3, 3), (2, 2), (0, 0)),    # ceil 3, floor 2
    (112, 112, (3, 3), (2, 2), (0, 0)),  # GoogLeNet: 56, floor 55
    (13, 13, (3, 3), (2, 2), (1, 1)),  # 7
    (6, 6, (3, 3), (2, 2), (1, 1)),    # ceil 4, floor 3
    (5, 5, (2, 2), (2, 2), (1, 1)),    # ceil 4 clipped to 3
    (7, 7, (2, 2), (3, 3), (1, 1)),    # ceil 4 clipped to 3
    (8, 8, (5, 5), (3, 3), (2, 2)),    # 4
    (10, 10, (3, 3), (1, 1), (1, 1)),  # 10: Inception's 3x3/1 pad 1
    (7, 9, (4, 4), (3, 3), (0, 0)),    # overhang 2 on H ("same" cannot express it)
    (9, 6, (3, 2), (2, 2), (1, 0)),    # kernel_h/w, pad only on H: the clip applies to W too
    (3, 3, (3, 3), (2, 2), (0, 0)),    # 1
]


def pooling_net(height, width, kernel, stride, pad, method, channels=2):
    return net(
        f"""
        layer {{ name: "pool" type: "Pooling" bottom: "data" top: "pool"
          pooling_param {{ pool: {method} kernel_h: {kernel[0]} kernel_w: {kernel[1]}
            stride_h: {stride[0]} stride_w: {stride[1]} pad_h: {pad[0]} pad_w: {pad[1]} }} }}
        """,
        shape=(1, channels, height, width),
    )


def expected_pool_size(height, width, kernel, stride, pad):
    any_pad = pad != (0, 0)
    return (
        caffe_pool_size(height, kernel[0], stride[0], pad[0], any_pad),
        caffe_pool_size(width, kernel[1], stride[1], pad[1], any_pad),
    )


def test_pooling_cases_cover_floor_ceil_and_clip():
    def floor_size(size, k, s, p):
        return (size + 2 * p - k) // s + 1

    ceil_differs = clipped = 0
    for height, _, kernel, stride, pad in POOLING_CASES:
        ceil = caffe_pool_size(height, kernel[0], stride[0], pad[0], any_pad=False)
        ceil_differs += ceil != floor_size(height, kernel[0], stride[0], pad[0])
        clipped += ceil != caffe_pool_size(height, kernel[0], stride[0], pad[0], any_pad=True)
    assert ceil_differs >= 3 and clipped >= 2


def test_pooling_geometry_gives_caffes_size_and_valid_windows_that_fit():
    for size, kernel, stride in itertools.product(range(1, 12), range(1, 6), range(1, 5)):
        for pad, ceil_mode in itertools.product(range(kernel), (True, False)):
            out, before, after = caffe_pooling_geometry(size, kernel, stride, pad, ceil_mode)
            span = size + 2 * pad - kernel
            if ceil_mode:
                expected = caffe_pool_size(size, kernel, stride, pad)
            else:
                expected = span // stride + 1
                expected -= bool(pad) and (expected - 1) * stride >= size + pad
            assert (out, before) == (expected, pad)
            # "valid" windows over before + size + after cells give `out` outputs,
            # and one cell less after would give fewer: no padding the windows never use
            if out >= 1:
                assert (before + size + after - kernel) // stride + 1 == out
                assert after == 0 or (before + size + after - 1 - kernel) // stride + 1 < out


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("case", POOLING_CASES, ids=str)
def test_pooling_output_shape_is_caffes(case, method):
    height, width, kernel, stride, pad = case
    model = build(pooling_net(height, width, kernel, stride, pad, method))
    assert tuple(model.output.shape[1:]) == (*expected_pool_size(*case), 2)


@pytest.mark.parametrize("case", POOLING_CASES, ids=str)
def test_max_pooling_values_are_caffes_on_non_negative_input(case):
    height, width, kernel, stride, pad = case
    model = build(pooling_net(height, width, kernel, stride, pad, "MAX"))
    x = random(2, height, width, 2, low=0)
    expected = caffe_pool_reference(nchw(x), kernel, stride, pad, "MAX", expected_pool_size(*case))
    np.testing.assert_allclose(predict(model, x), nhwc(expected), rtol=1e-6, atol=1e-6)


def test_max_pooling_written_as_same_is_exact_for_negative_input_too():
    # GoogLeNet's 3/2 ceil-mode pool and Inception's 3x3/1 pad 1 are Keras' "same".
    for case in [POOLING_CASES[2], POOLING_CASES[8], POOLING_CASES[1]]:
        height, width, kernel, stride, pad = case
        prototxt = pooling_net(height, width, kernel, stride, pad, "MAX")
        assert layer_entries(prototxt)["pool"][1].get("padding") == "same"
        x = random(1, height, width, 2, seed=3) - 2.0  # mostly negative
        size = expected_pool_size(*case)
        expected = caffe_pool_reference(nchw(x), kernel, stride, pad, "MAX", size)
        np.testing.assert_allclose(predict(build(prototxt), x), nhwc(expected), rtol=1e-6)


def test_average_pooling_values_are_caffes_where_the_spec_says_nothing_else():
    exact = 0
    for case in POOLING_CASES:
        height, width, kernel, stride, pad = case
        prototxt = pooling_net(height, width, kernel, stride, pad, "AVE")
        text = import_caffe(prototxt)
        x = random(1, height, width, 2, seed=1)
        size = expected_pool_size(*case)
        expected = nhwc(caffe_pool_reference(nchw(x), kernel, stride, pad, "AVE", size))
        close = np.allclose(predict(build(prototxt), x), expected, rtol=1e-5, atol=1e-6)
        warned = "divide by the full window" in header(text)
        assert close != warned, case  # exact, or a comment in the spec says why not
        exact += close
    assert exact >= 9


def test_global_pooling_keeps_caffes_4d_shape():
    pooling = """
        layer { name: "gap" type: "Pooling" bottom: "data" top: "gap"
                pooling_param { pool: AVE global_pooling: true } }
        """
    gap = build(net(pooling))
    assert gap.output.shape[1:] == (1, 1, 3)
    x = random(2, 8, 8, 3)
    np.testing.assert_allclose(predict(gap, x), x.mean(axis=(1, 2), keepdims=True), rtol=1e-5)
    fc = """
        layer { name: "fc" type: "InnerProduct" bottom: "gap" top: "fc"
                inner_product_param { num_output: 4 } }
        """
    model = build(net(pooling + fc))
    assert model.get_layer("fc_flatten").output.shape[1:] == (3,)
    assert model.output.shape[1:] == (4,)


# --- LRN, convolution, element-wise, batch norm ------------------------------------


def test_lrn_matches_caffes_formula():
    prototxt = net(
        """
        layer { name: "norm" type: "LRN" bottom: "data" top: "norm"
                lrn_param { local_size: 5 alpha: 0.5 beta: 0.75 k: 2 } }
        """,
        shape=(1, 7, 4, 4),
    )
    assert layer_entries(prototxt)["norm"] == (
        "LRN",
        {"convention": "caffe", "size": 5, "alpha": 0.5, "beta": 0.75, "k": 2.0, "name": "norm"},
    )
    x = random(2, 4, 4, 7, seed=2) * 3
    expected = caffe_lrn_reference(nchw(x), 5, 0.5, 0.75, 2.0)
    np.testing.assert_allclose(predict(build(prototxt), x), nhwc(expected), rtol=1e-5)


def test_group_convolution_matches_caffes_grouping():
    prototxt = net(
        """
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
                convolution_param { num_output: 6 kernel_size: 3 pad: 1 stride: 2 group: 2 } }
        """,
        shape=(1, 4, 7, 7),
    )
    model = build(prototxt)
    conv = model.get_layer("conv")
    assert conv.groups == 2 and model.count_params() == 3 * 3 * 2 * 6 + 6
    caffe_weights = random(6, 2, 3, 3, seed=4)  # (F, C/g, kh, kw)
    bias = random(6, seed=5)
    conv.set_weights([caffe_weights.transpose(2, 3, 1, 0), bias])
    x = random(2, 7, 7, 4, seed=6)
    expected = caffe_conv_reference(nchw(x), caffe_weights, bias, group=2, pad=1, stride=2)
    np.testing.assert_allclose(predict(model, x), nhwc(expected), rtol=1e-4, atol=1e-5)


def test_convolution_with_pad_keras_same_cannot_express_gets_zero_padding():
    # 7x7/2 pad 3 on 16: Caffe 8x8 with 3 rows above; "same" would pad 2 above.
    prototxt = net(
        """
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
                convolution_param { num_output: 2 kernel_size: 7 stride: 2 pad: 3 } }
        """,
        shape=(1, 1, 16, 16),
    )
    assert list(layer_entries(prototxt)) == ["conv_pad", "conv"]
    model = build(prototxt)
    weights, bias = random(2, 1, 7, 7, seed=7), random(2, seed=8)
    model.get_layer("conv").set_weights([weights.transpose(2, 3, 1, 0), bias])
    x = random(1, 16, 16, 1, seed=9)
    expected = caffe_conv_reference(nchw(x), weights, bias, pad=3, stride=2)
    np.testing.assert_allclose(predict(model, x), nhwc(expected), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "operation, coefficients, keras_type, reference",
    [
        ("SUM", "", "Add", lambda a, b: a + b),
        ("SUM", "coeff: 1 coeff: -1", "Subtract", lambda a, b: a - b),
        ("PROD", "", "Multiply", lambda a, b: a * b),
        ("MAX", "", "Maximum", np.maximum),
    ],
)
def test_eltwise(operation, coefficients, keras_type, reference):
    prototxt = net(
        f"""
        layer {{ name: "a" type: "Convolution" bottom: "data" top: "a"
                convolution_param {{ num_output: 3 kernel_size: 1 }} }}
        layer {{ name: "sum" type: "Eltwise" bottom: "a" bottom: "data" top: "sum"
                eltwise_param {{ operation: {operation} {coefficients} }} }}
        """,
        shape=(1, 3, 4, 4),
    )
    entries = layer_entries(prototxt)
    assert entries["sum"] == (keras_type, {"name": "sum", "inputs": ["a", "data"]})
    model = kerasblocks.build(import_caffe(prototxt))
    model.get_layer("a").set_weights([random(1, 1, 3, 3, seed=1), random(3, seed=2)])
    x = random(2, 4, 4, 3, seed=3)
    a = x @ random(1, 1, 3, 3, seed=1)[0, 0] + random(3, seed=2)
    np.testing.assert_allclose(predict(model, x), reference(a, x), rtol=1e-5, atol=1e-6)


def test_concat_on_channels_and_on_height():
    prototxt = net(
        """
        layer { name: "a" type: "Convolution" bottom: "data" top: "a"
                convolution_param { num_output: 2 kernel_size: 1 } }
        layer { name: "c" type: "Concat" bottom: "data" bottom: "a" top: "c" }
        layer { name: "h" type: "Concat" bottom: "c" bottom: "c" top: "h" concat_param { axis: 2 } }
        """,
        shape=(1, 3, 4, 5),
    )
    entries = layer_entries(prototxt)
    assert entries["c"] == ("Concatenate", {"name": "c", "inputs": ["data", "a"]})
    assert entries["h"] == ("Concatenate", {"axis": 1, "name": "h", "inputs": ["c", "c"]})
    model = build(prototxt)
    assert model.get_layer("c").output.shape[1:] == (4, 5, 5)
    assert model.output.shape[1:] == (8, 5, 5)
    x = random(1, 4, 5, 3)
    c = np.concatenate([x, np.asarray(model.get_layer("a")(x))], axis=-1)
    np.testing.assert_allclose(predict(model, x), np.concatenate([c, c], axis=1), rtol=1e-6)


def test_batchnorm_and_scale_fold_into_one_batch_normalization():
    prototxt = net(
        """
        layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data"
                batch_norm_param { eps: 0.001 moving_average_fraction: 0.9 } }
        layer { name: "scale" type: "Scale" bottom: "data" top: "data"
                scale_param { bias_term: true } }
        """,
        shape=(1, 3, 4, 4),
    )
    entries = layer_entries(prototxt)
    assert entries == {
        "bn": ("BatchNormalization", {"momentum": 0.9, "epsilon": 0.001, "name": "bn"})
    }
    model = build(prototxt)
    # Caffe's blobs: mean and variance sums and their scale factor; Scale's gamma, beta.
    mean_sum, variance_sum, factor = random(3, seed=1), random(3, seed=2, low=0) + 0.5, 4.0
    gamma, beta = random(3, seed=3), random(3, seed=4)
    model.get_layer("bn").set_weights([gamma, beta, mean_sum / factor, variance_sum / factor])
    x = random(2, 4, 4, 3, seed=5)
    expected = (x - mean_sum / factor) / np.sqrt(variance_sum / factor + 0.001) * gamma + beta
    np.testing.assert_allclose(predict(model, x), expected, rtol=1e-5, atol=1e-5)


def test_batchnorm_without_scale_normalizes_only():
    prototxt = net(
        'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" }', shape=(1, 3, 2, 2)
    )
    assert layer_entries(prototxt)["bn"] == (
        "BatchNormalization",
        {"momentum": 0.999, "epsilon": 1e-05, "center": False, "scale": False, "name": "bn"},
    )
    assert build(prototxt).count_params() == 6  # moving mean and variance only


def test_in_place_relu_folds_only_when_nothing_read_the_value_before():
    prototxt = net(
        """
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
                convolution_param { num_output: 2 kernel_size: 1 } }
        layer { name: "before" type: "Pooling" bottom: "conv" top: "before"
                pooling_param { pool: MAX kernel_size: 1 } }
        layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
        layer { name: "after" type: "Pooling" bottom: "conv" top: "after"
                pooling_param { pool: MAX kernel_size: 1 } }
        """,
        shape=(1, 2, 3, 3),
    )
    entries = layer_entries(prototxt)
    assert entries["relu"] == ("ReLU", {"name": "relu", "inputs": "conv"})
    assert entries["after"][1].get("inputs") is None  # chained after relu
    assert "activation" not in entries["conv"][1]
    before, after = predict(build(prototxt), random(4, 3, 3, 2, seed=1))
    assert before.min() < 0
    np.testing.assert_array_equal(after, np.maximum(before, 0))

    folded = layer_entries(net(
        """
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
                convolution_param { num_output: 2 kernel_size: 1 } }
        layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
        layer { name: "sig" type: "Sigmoid" bottom: "conv" top: "s" }
        layer { name: "leaky" type: "ReLU" bottom: "s" top: "s" relu_param { negative_slope: 0.1 } }
        """
    ))
    assert folded["conv"][1]["activation"] == "relu" and "relu" not in folded
    assert folded["sig"] == ("Activation", {"activation": "sigmoid", "name": "sig"})
    assert folded["leaky"] == ("LeakyReLU", {"negative_slope": 0.1, "name": "leaky"})


def test_inner_product_after_conv_flattens_and_matches_caffe_with_reordered_weights():
    prototxt = net(
        """
        layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
                inner_product_param { num_output: 5 } }
        """,
        shape=(1, 3, 2, 4),
    )
    entries = layer_entries(prototxt)
    assert list(entries) == ["fc_flatten", "fc"] and entries["fc_flatten"][0] == "Flatten"
    assert "reorder the next layer's weights" in header(import_caffe(prototxt))
    model = build(prototxt)
    weights, bias = random(5, 3 * 2 * 4, seed=1), random(5, seed=2)  # Caffe: (units, C*H*W)
    kernel = weights.reshape(5, 3, 2, 4).transpose(2, 3, 1, 0).reshape(2 * 4 * 3, 5)
    model.get_layer("fc").set_weights([kernel, bias])  # as the module docstring says
    x = random(2, 2, 4, 3, seed=3)
    expected = nchw(x).reshape(2, -1) @ weights.T + bias
    np.testing.assert_allclose(predict(model, x), expected, rtol=1e-5, atol=1e-5)


# --- inputs, phases, formats ---------------------------------------------------------


def test_train_val_net_keeps_the_test_phase_and_leaves_losses_out():
    prototxt = """
    name: "LeNet"
    layer { name: "mnist" type: "Data" top: "data" top: "label" include { phase: TRAIN }
            transform_param { scale: 0.00390625 crop_size: 28 force_gray: true }
            data_param { source: "train_lmdb" batch_size: 64 backend: LMDB } }
    layer { name: "mnist" type: "Data" top: "data" top: "label" include { phase: TEST }
            transform_param { scale: 0.00390625 crop_size: 24 force_gray: true }
            data_param { source: "test_lmdb" batch_size: 100 backend: LMDB } }
    layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
            inner_product_param { num_output: 10 weight_filler { type: "gaussian" std: 0.01 } } }
    layer { name: "drop" type: "Dropout" bottom: "ip" top: "ip" exclude { phase: TEST } }
    layer { name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy"
            include { phase: TEST } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
    """
    text = import_caffe(prototxt)
    data = kerasblocks.load_spec(text).data
    assert data["inputs"] == {"data": {"shape": [24, 24, 1]}}
    assert data["layers"] == [
        {"Flatten": {"name": "ip_flatten"}},
        {"Dense": {
            "units": 10, "kernel_initializer": {"RandomNormal": {"stddev": 0.01}}, "name": "ip",
        }},
    ]
    assert data["outputs"] == ["ip"]
    assert "Left out (training only): accuracy (Accuracy), loss (SoftmaxWithLoss)." in header(text)
    assert "transform_param of 'mnist'" in header(text)
    assert kerasblocks.build(text).count_params() == 24 * 24 * 10 + 10


def test_v1_layers_and_input_dim():
    prototxt = """
    name: "old"
    input: "data"
    input_dim: 1 input_dim: 3 input_dim: 10 input_dim: 10
    layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv" blobs_lr: 1 blobs_lr: 2
             convolution_param { num_output: 4 kernel_size: 3 } }
    layers { name: "relu" type: RELU bottom: "conv" top: "conv" }
    layers { name: "pool" type: POOLING bottom: "conv" top: "pool"
             pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
    layers { name: "fc" type: INNER_PRODUCT bottom: "pool" top: "fc"
             inner_product_param { num_output: 2 } }
    layers { name: "prob" type: SOFTMAX bottom: "fc" top: "prob" }
    """
    model = build(prototxt)
    assert model.get_layer("pool").output.shape[1:] == (4, 4, 4)
    assert model.count_params() == (3 * 9 * 4 + 4) + (64 * 2 + 2)
    assert model.get_layer("conv").activation.__name__ == "relu"


def test_net_input_shape_split_and_names_with_slashes():
    prototxt = """
    input: "image"
    input_shape { dim: 1 dim: 2 dim: 6 dim: 6 }
    layer { name: "split" type: "Split" bottom: "image" top: "left" top: "right" }
    layer { name: "block/a" type: "Convolution" bottom: "left" top: "a"
            convolution_param { num_output: 2 kernel_size: 1 } }
    layer { name: "block/b" type: "ReLU" bottom: "right" top: "b" }
    layer { name: "block/sum" type: "Eltwise" bottom: "a" bottom: "b" top: "out" }
    """
    entries = layer_entries(prototxt)
    assert list(entries) == ["block_a", "block_b", "block_sum"]
    assert entries["block_b"][1]["inputs"] == "image"
    assert entries["block_sum"][1]["inputs"] == ["block_a", "block_b"]
    assert build(prototxt).output.shape[1:] == (6, 6, 2)


def test_path_or_text_and_name_override(tmp_path):
    path = tmp_path / "tiny.prototxt"
    path.write_text(net('layer { name: "relu" type: "ReLU" bottom: "data" top: "out" }'))
    from_path = import_caffe(path)
    assert "from tiny.prototxt" in from_path
    assert kerasblocks.load_spec(from_path).data["name"] == "tiny"  # no net name: the file's
    assert kerasblocks.load_spec(import_caffe(str(path), name="mine")).data["name"] == "mine"
    from_text = kerasblocks.load_spec(import_caffe(path.read_text())).data
    assert from_text["layers"] == kerasblocks.load_spec(from_path).data["layers"]
    with pytest.raises(UsageError, match="no such prototxt file: 'missing.prototxt'"):
        import_caffe("missing.prototxt")
    with pytest.raises(UsageError, match="cannot contain '/'"):
        import_caffe(path, name="a/b")


# --- errors ---------------------------------------------------------------------------


def error_of(prototxt):
    with pytest.raises(SpecError) as info:
        import_caffe(prototxt)
    error = info.value
    return str(error.first).split(" (at ")[0].split("\n")[0], error.line, error.column, error.hint


def test_unsupported_layer_type_is_located_at_its_type():
    prototxt = net(
        """
        layer {
          name: "up"
          type: "Deconvolution"
          bottom: "data"
          top: "up"
        }
        """
    )
    message, line, column, hint = error_of(prototxt)
    assert (message, line, column) == (
        "<prototxt>:5:9: error: unsupported Caffe layer type 'Deconvolution' (layer 'up')", 5, 9,
    )
    assert hint.startswith("supported: BatchNorm, Concat, Convolution, Data, ")
    assert "losses, Accuracy and Silence are left out" in hint


def test_unsupported_settings_are_located():
    line = (
        'layer { name: "n" type: "LRN" bottom: "data" top: "n" '
        "lrn_param { norm_region: WITHIN_CHANNEL } }"
    )
    column = line.index("WITHIN_CHANNEL") + 1
    assert error_of(net(line))[:3] == (
        f"<prototxt>:2:{column}: error: LRN with norm_region WITHIN_CHANNEL is not supported: "
        "the LRN layer normalizes across channels (layer 'n')", 2, column,
    )
    scale = net('layer { name: "s" type: "Scale" bottom: "data" top: "s" }')
    assert "supported only directly after a BatchNorm" in error_of(scale)[0]
    typo = net('layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n'
               "  convolution_param { num_output: 2 kernal_size: 3 } }")
    assert error_of(typo)[:3] == (
        "<prototxt>:3:37: error: unknown field 'convolution_param.kernal_size'; did you mean "
        "'kernel_size'? (layer 'c')", 3, 37,
    )
    no_size = (
        'layer { name: "data" type: "Data" top: "data" top: "label" data_param { source: "x" } }'
    )
    message, line, column, hint = error_of(no_size)
    assert message.startswith("<prototxt>:1:28: error: the Data layer does not say the size")
    assert hint.startswith('add an Input layer in its place: layer { name: "data" type: "Input"')


def test_syntax_errors_are_located():
    unclosed = 'name: "x"\nlayer {\n  name: "conv"\n  type: "ReLU"\n'
    message, line, column, hint = error_of(unclosed)
    assert (message, line, column) == (
        "<prototxt>:2:7: error: '{' is never closed: the text ends before its '}'", 2, 7,
    )
    assert error_of('layer { name: "c" num_output: 12abc }')[:3] == (
        "<prototxt>:1:31: error: invalid number '12abc'", 1, 31,
    )
    assert error_of("layer { name: }")[:3] == (
        "<prototxt>:1:15: error: expected a value for 'name', found '}'", 1, 15,
    )
    assert error_of('name: "unterminated\n')[:2] == (
        "<prototxt>:1:7: error: unterminated string: it needs a closing \" on the same line", 1,
    )
    assert error_of("layer { } }")[:3] == (
        "<prototxt>:1:11: error: unexpected '}': no message is open here", 1, 11,
    )


def test_bad_values_are_located():
    bad = net('layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n'
              "  convolution_param { num_output: 9.5 kernel_size: 3 } }")
    assert error_of(bad)[:3] == (
        "<prototxt>:3:35: error: 'convolution_param.num_output' must be a whole number; got 9.5 "
        "(layer 'c')", 3, 35,
    )
    pool = net('layer { name: "p" type: "Pooling" bottom: "data" top: "p"\n'
               "  pooling_param { pool: MEDIAN kernel_size: 2 } }")
    assert error_of(pool)[0] == (
        "<prototxt>:3:25: error: 'pooling_param.pool' must be one of MAX, AVE, STOCHASTIC; "
        "got MEDIAN (layer 'p')"
    )


def test_unknown_bottom_blob_is_located():
    prototxt = net(
        """
        layer { name: "conv" type: "Convolution" bottom: "dta" top: "conv"
                convolution_param { num_output: 2 kernel_size: 1 } }
        """
    )
    message, line, column, hint = error_of(prototxt)
    assert (message, line, column) == (
        "<prototxt>:3:50: error: unknown blob 'dta': no layer above writes it; did you mean "
        "'data'? (layer 'conv')", 3, 50,
    )
    label = """
    layer { name: "d" type: "Data" top: "data" top: "label" transform_param { crop_size: 4 } }
    layer { name: "use" type: "ReLU" bottom: "label" top: "x" }
    """
    assert "blob 'label' is the labels of data layer 'd'" in error_of(label)[0]


def test_prototxt_parser_reads_the_text_format():
    message = parse_prototxt(
        """
        # a comment
        name: 'it\\'s' "\\x41\\102"   # adjacent strings are joined
        shape: { dim: [1, 0x10, 010] }
        layer < type: "X"; value: -1.5e-3f, flag: true >
        nan_value: -inf
        """
    )
    assert [field.name for field in message.fields] == ["name", "shape", "layer", "nan_value"]
    assert message.fields[0].value == "it'sAB"
    dims = message.all("shape")[0].value.all("dim")
    assert [d.value for d in dims] == [1, 16, 8] and dims[1].value_location.column == 27
    layer = message.all("layer")[0].value
    assert [(f.name, f.value, f.kind) for f in layer.fields] == [
        ("type", "X", "string"), ("value", -1.5e-3, "float"), ("flag", "true", "identifier"),
    ]
    assert (message.fields[0].location.line, message.fields[0].location.column) == (3, 9)
    assert message.fields[3].value == "-inf"


# --- the command line and the import cost --------------------------------------------


def run_cli(capsys, *argv):
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_a_spec_that_validates(capsys, tmp_path):
    output = tmp_path / "alexnet.yaml"
    code, out, err = run_cli(capsys, "import-caffe", ALEXNET, "-o", output)
    assert (code, out.strip(), err) == (0, f"Wrote {output}", "")
    assert kerasblocks.validate(str(output)) == []
    assert kerasblocks.load_spec(str(output)).data["name"] == "AlexNet"


def test_cli_reports_a_bad_prototxt_and_writes_nothing(capsys, tmp_path):
    bad = tmp_path / "bad.prototxt"
    bad.write_text('layer {\n  name: "x"\n  type: "Crop"\n}\n')
    output = tmp_path / "out.yaml"
    code, out, err = run_cli(capsys, "import-caffe", bad, "-o", output)
    assert code == 2 and out == ""
    assert err.startswith(f"{bad}:3:9: error: unsupported Caffe layer type 'Crop' (layer 'x')")
    assert not output.exists() and list(tmp_path.iterdir()) == [bad]


def test_importing_loads_neither_tensorflow_nor_keras():
    code = f"""
    import sys, time
    import kerasblocks
    start = time.perf_counter()
    text = kerasblocks.import_caffe({str(GOOGLENET)!r})
    kerasblocks.validate(text)
    print(len(text) > 0, "tensorflow" in sys.modules, "keras" in sys.modules)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["True", "False", "False"]
