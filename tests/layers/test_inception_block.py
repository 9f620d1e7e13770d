import json

import keras
import numpy as np
import pytest

from kerasblocks.layers import InceptionBlock
from kerasblocks.layers.inception_block import inception_preset_branches
from tests import reference_models as ref
from tests.layer_testing import (
    check_channels_first_matches_last,
    image_layer_cases,
    layer_test,
    random_inputs,
)

SMALL = [4, 4, 6, 2, 3, 3]  # GoogLeNet table order, 16 output channels

CUSTOM_BRANCHES = [
    [{"conv": {"filters": 4, "kernel_size": 1}}],
    [
        {"conv": {"filters": 3, "kernel_size": 1, "use_batchnorm": False}},
        {"conv": {"filters": 5, "kernel_size": [1, 3]}},
        {"conv": {"filters": 5, "kernel_size": [3, 1], "activation": None}},
    ],
    [{"avgpool": {"pool_size": 3}}, {"conv": {"filters": 2, "kernel_size": 1, "use_bias": False}}],
    [{"maxpool": {"pool_size": 2}}],  # pool only: takes the block's stride
]

# (id, init kwargs, input shape, expected output shape, trainable, non-trainable)
LAYER_CASES = [
    ("v1", {"preset": "v1", "filters": SMALL}, (2, 8, 8, 6), (2, 8, 8, 16), 12, 0),
    ("v2", {"preset": "v2", "filters": SMALL, "pool": "avg"}, (2, 8, 8, 6), (2, 8, 8, 16), 28, 14),
    (
        "v3",
        {"preset": "v3", "filters": SMALL, "factor_size": 3},
        (2, 8, 8, 6),
        (2, 8, 8, 16),
        40,
        20,
    ),
    (
        "fashion_strides2",
        {"preset": "fashion", "filters": 4, "strides": 2},
        (2, 8, 8, 3),
        (2, 4, 4, 16),
        20,
        10,
    ),
    (
        "residual",
        {
            "preset": "v2",
            "filters": SMALL,
            "residual": True,
            "residual_scale": 0.2,
            "residual_activation": "relu",
        },
        (2, 8, 8, 6),
        (2, 8, 8, 6),
        30,
        14,
    ),
    (
        "custom_branches_strides2",
        {"branches": CUSTOM_BRANCHES, "strides": 2, "activation": "elu"},
        (2, 8, 8, 6),
        (2, 4, 4, 4 + 5 + 2 + 6),
        # convs: 2+2+2+2+1 kernels/biases; BN on 4 convs (not the first of b1)
        9 + 4 * 2,
        4 * 2,
    ),
]


test_layer = layer_test(InceptionBlock, image_layer_cases(LAYER_CASES))


def test_googlenet_3a_param_count_and_reference():
    ours, reference = ref.inception_3a_pair(input_shape=(28, 28, 192))
    block = ours.layers[-1]
    assert block.count_params() == 163_696
    assert reference.count_params() == 163_696
    assert ours.output.shape == (None, 28, 28, 256)
    ref.assert_same_outputs(ours, reference, random_inputs((2, 28, 28, 192)))


def test_fashion_block_matches_article_reference():
    ours, reference = ref.fashion_block_pair(input_shape=(12, 12, 8), ch=6, strides=2)
    assert ours.count_params() == reference.count_params()
    ref.assert_same_outputs(ours, reference, random_inputs((3, 12, 12, 8)))


def test_fashion_net_param_counts():
    model = ref.fashion_inception_net()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert model.count_params() == 294_218
    assert trainable == 293_226
    assert non_trainable == 992
    assert model.output.shape == (None, 10)


def test_presets_are_stored_as_given():
    block = InceptionBlock(preset="v1", filters=[64, 96, 128, 16, 32, 32])
    config = block.get_config()
    assert config["preset"] == "v1"
    assert config["filters"] == [64, 96, 128, 16, 32, 32]
    assert config["branches"] is None
    assert config["use_batchnorm"] is None
    json.dumps(config)


def test_preset_equals_its_expanded_branches():
    x = random_inputs((2, 8, 8, 6))
    cases = [("v1", SMALL, False), ("v3", SMALL, True), ("fashion", 4, True)]
    for preset, filters, batchnorm in cases:
        by_preset = InceptionBlock(preset=preset, filters=filters)
        by_branches = InceptionBlock(
            branches=inception_preset_branches(preset, filters), use_batchnorm=batchnorm
        )
        by_preset.build(x.shape)
        by_branches.build(x.shape)
        by_branches.set_weights(by_preset.get_weights())
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(by_preset(x)), keras.ops.convert_to_numpy(by_branches(x))
        )


def test_v3_factorises_with_n():
    branches = inception_preset_branches("v3", [1, 2, 3, 4, 5, 6], factor_size=5)
    kernels = [step["conv"]["kernel_size"] for step in branches[1]]
    assert kernels == [1, [1, 5], [5, 1]]
    assert [step["conv"]["filters"] for step in branches[2]] == [4, 4, 4, 4, 5]


def test_v2_replaces_5x5_by_two_3x3():
    branches = inception_preset_branches("v2", [1, 2, 3, 4, 5, 6])
    assert branches[2] == [
        {"conv": {"filters": 4, "kernel_size": 1}},
        {"conv": {"filters": 5, "kernel_size": 3}},
        {"conv": {"filters": 5, "kernel_size": 3}},
    ]


def test_residual_mode_is_input_plus_scaled_projection():
    x = random_inputs((2, 6, 6, 5))
    block = InceptionBlock(preset="v1", filters=SMALL, residual=True, residual_scale=0.3)
    plain = InceptionBlock(preset="v1", filters=SMALL)
    block.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(block.get_weights()[: len(plain.weights)])
    projected = keras.ops.convert_to_numpy(block.residual_conv(plain(x)))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(block(x)), x + 0.3 * projected, rtol=1e-5, atol=1e-6
    )


def test_channels_first_matches_channels_last():
    check_channels_first_matches_last(
        InceptionBlock,
        {"preset": "fashion", "filters": 3, "strides": 2},
        random_inputs((2, 8, 8, 6)),
    )


def test_unknown_spatial_size():
    block = InceptionBlock(preset="fashion", filters=4, strides=2)
    out = block(keras.Input(shape=(None, None, 3)))
    assert tuple(out.shape) == (None, None, None, 16)
    assert block(random_inputs((1, 7, 5, 3))).shape == (1, 4, 3, 16)


def _conv(f=4, k=1, **extra):
    return {"conv": {"filters": f, "kernel_size": k, **extra}}


BAD_ARGUMENTS = [
    ({}, "branches"),
    ({"preset": "v1", "filters": SMALL, "branches": [[_conv()]]}, "branches"),
    ({"preset": "v4", "filters": SMALL}, "preset"),
    ({"preset": "v1", "filters": [1, 2, 3]}, "filters"),
    ({"preset": "v1", "filters": None}, "filters"),
    ({"preset": "v1", "filters": [1, 2, 3, 4, 5, 0]}, "filters"),
    ({"preset": "fashion", "filters": [4]}, "filters"),
    ({"preset": "v1", "filters": SMALL, "factor_size": 5}, "factor_size"),
    ({"preset": "v3", "filters": SMALL, "factor_size": 0}, "factor_size"),
    ({"preset": "v1", "filters": SMALL, "pool": "min"}, "pool"),
    ({"branches": [[_conv()]], "filters": SMALL}, "filters"),
    ({"branches": [[_conv()]], "factor_size": 3}, "factor_size"),
    ({"branches": [[_conv()]], "pool": "avg"}, "pool"),
    ({"branches": []}, "branches"),
    ({"branches": "conv"}, "branches"),
    ({"branches": [[]]}, r"branches\[0\]"),
    ({"branches": [[{**_conv(), "maxpool": {}}]]}, r"branches\[0\]\[0\]"),
    ({"branches": [[{"dense": {"units": 4}}]]}, r"branches\[0\]\[0\]"),
    ({"branches": [[{"conv": 4}]]}, r"branches\[0\]\[0\]\.conv"),
    ({"branches": [[_conv(filter=3)]]}, r"branches\[0\]\[0\]\.conv"),
    ({"branches": [[{"conv": {"filters": 4}}]]}, "kernel_size"),
    ({"branches": [[_conv(f=0)]]}, r"branches\[0\]\[0\]\.conv\.filters"),
    ({"branches": [[_conv(k=[1, 2, 3])]]}, r"branches\[0\]\[0\]\.conv\.kernel_size"),
    ({"branches": [[_conv(strides=0)]]}, r"branches\[0\]\[0\]\.conv\.strides"),
    ({"branches": [[_conv(padding="causal")]]}, r"branches\[0\]\[0\]\.conv\.padding"),
    ({"branches": [[_conv(use_batchnorm="yes")]]}, r"branches\[0\]\[0\]\.conv\.use_batchnorm"),
    ({"branches": [[_conv(use_bias=1)]]}, r"branches\[0\]\[0\]\.conv\.use_bias"),
    ({"branches": [[_conv(activation="nope")]]}, r"branches\[0\]\[0\]\.conv\.activation"),
    ({"branches": [[{"maxpool": {"pool_size": 0}}]]}, r"branches\[0\]\[0\]\.maxpool\.pool_size"),
    ({"branches": [[_conv(strides=2)], [_conv()]]}, "branches"),
    ({"preset": "v1", "filters": SMALL, "strides": 0}, "strides"),
    ({"preset": "v1", "filters": SMALL, "activation": "nope"}, "activation"),
    ({"preset": "v1", "filters": SMALL, "use_batchnorm": "yes"}, "use_batchnorm"),
    ({"preset": "v1", "filters": SMALL, "use_bias": None}, "use_bias"),
    ({"preset": "v1", "filters": SMALL, "residual": 1}, "residual"),
    ({"preset": "v1", "filters": SMALL, "residual": True, "strides": 2}, "residual"),
    ({"preset": "v1", "filters": SMALL, "residual": True, "residual_scale": 0}, "residual_scale"),
    ({"preset": "v1", "filters": SMALL, "residual_scale": 0.2}, "residual_scale"),
    ({"preset": "v1", "filters": SMALL, "residual_activation": "relu"}, "residual_activation"),
    (
        {"preset": "v1", "filters": SMALL, "residual": True, "residual_activation": "nope"},
        "residual_activation",
    ),
    ({"preset": "v1", "filters": SMALL, "momentum": -0.1}, "momentum"),
    ({"preset": "v1", "filters": SMALL, "epsilon": 0}, "epsilon"),
    ({"preset": "v1", "filters": SMALL, "data_format": "NCHW"}, "data_format"),
]


@pytest.mark.parametrize(
    "kwargs,argument", BAD_ARGUMENTS, ids=[f"{i}-{a}" for i, (_, a) in enumerate(BAD_ARGUMENTS)]
)
def test_bad_argument_raises_value_error_naming_it(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}.*Received: "):
        InceptionBlock(**kwargs)


def test_mismatched_valid_padding_is_caught_at_build():
    block = InceptionBlock(
        branches=[[_conv(k=3, padding="valid")], [_conv(k=1)]],
    )
    with pytest.raises(ValueError, match="same spatial size"):
        block.build((None, 8, 8, 3))


def test_residual_with_shrinking_branches_is_caught_at_build():
    block = InceptionBlock(
        branches=[[_conv(k=3, padding="valid")], [_conv(k=3, padding="valid")]], residual=True
    )
    with pytest.raises(ValueError, match="residual"):
        block.build((None, 8, 8, 3))


def test_same_shaped_branch_kernels_start_different():
    # Four branches with one 1x1 kernel shape: a shared unseeded initializer
    # (Keras 3 draws its seed once) would start them identical.
    block = InceptionBlock(branches=[[_conv(f=8, k=1)] for _ in range(4)])
    block.build((None, 6, 6, 8))
    kernels = [w.numpy() for w in block.weights if w.path.endswith("kernel")]
    assert len(kernels) == 4
    assert all(k.shape == (1, 1, 8, 8) for k in kernels)
    assert len({k.tobytes() for k in kernels}) == 4


def test_get_config_returns_plain_lists_quickly_copied():
    block = InceptionBlock(preset="v1", filters=[64, 96, 128, 16, 32, 32])
    config = block.get_config()
    assert type(config["filters"]) is list and config["filters"] == [64, 96, 128, 16, 32, 32]
    config["filters"][0] = 1  # a copy: the layer is unchanged
    assert block.filters[0] == 64


def test_branch_steps_describe_what_call_runs():
    block = InceptionBlock(branches=CUSTOM_BRANCHES, activation="elu")
    steps = [
        [([layer.name for layer in sublayers], activation) for sublayers, activation in branch]
        for branch in block.branch_steps
    ]
    elu, linear = keras.activations.get("elu"), keras.activations.get("linear")
    assert steps == [
        [(["branch0_step0_conv", "branch0_step0_bn"], elu)],
        [
            (["branch1_step0_conv"], elu),
            (["branch1_step1_conv", "branch1_step1_bn"], elu),
            (["branch1_step2_conv", "branch1_step2_bn"], linear),  # activation: null
        ],
        [(["branch2_step0_avgpool"], None), (["branch2_step1_conv", "branch2_step1_bn"], elu)],
        [(["branch3_step0_maxpool"], None)],
    ]
    # Every sublayer appears once, and they are the layer's own (tracked) ones.
    listed = [
        layer for branch in block.branch_steps for sublayers, _ in branch for layer in sublayers
    ]
    assert listed == list(block.step_layers)
    with pytest.raises(AttributeError):
        block.branch_steps = ()
