"""Every shipped spec (specs/*.yaml), like timm's tests over its model registry.

For each spec: it validates (API and command line), it is listed with a
one-line description, its full-size parameter counts are the documented ones
(networks.md; built without running anything), and a small instance runs a
forward pass, round-trips through a `.keras` file and, for all but the
ImageNet-sized nets, trains a step. Layer-by-layer comparisons with
hand-written Keras models are in test_reference_networks.py (and, for the
specs of issue 11, test_new_shipped_specs.py).

A new spec in specs/ fails `test_every_shipped_spec_has_its_numbers` until it
gets a row in FULL_SIZE_COUNTS (and SMALL_INSTANCES if it is large).
"""

import math
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import kerasblocks
from kerasblocks import cli
from kerasblocks.api import parameter_counts
from kerasblocks.spec.catalog import shipped_specs
from kerasblocks.spec.load import SHIPPED_SPECS_DIR

REPO = Path(__file__).parents[1]
SPECS = {spec.name: spec for spec in shipped_specs()}
NAMES = sorted(SPECS)

# (total, trainable, non-trainable) with the spec's own vars, as
# `kerasblocks build NAME` prints them. The documented figures (networks.md)
# are marked; the others are derived in the comments.
FULL_SIZE_COUNTS = {
    "alexnet": (60_965_224, 60_965_224, 0),  # documented
    # conv 640 + 73,856 + 295,168; fc 4,195,328 + 1,049,600; logits 10,250
    "alexnet_mnist": (5_624_842, 5_624_842, 0),
    "googlenet": (13_378_280, 13_378_280, 0),  # documented, with the aux heads
    "inception_fashion": (294_218, 293_226, 992),  # documented (the article's summary)
    # BN moving statistics: 2 x (32 stem + 6 x 8 + 48 + 7 x 16 + 32 + 2 x (2 x 32 + 32 + 48 + 64))
    "inception_v3_modules": (187_778, 186_066, 1_712),
    "l2softmax_cnn_mnist": (1_669_002, 1_669_002, 0),  # documented, alpha fixed
    "mlp_mnist": (136_074, 136_074, 0),  # documented
    # stem 320; 3 blocks x (264 + 584 + 288); logits 330
    "residual_bottleneck": (4_058, 4_058, 0),
    "resnet50": (25_636_712, 25_583_592, 53_120),  # documented; = keras.applications
    # stem 640 + BN 256; 5 units x (2 x 36,928 + 2 x 256); head 5,770 + BN 40.
    # Non-trainable: the moving mean and variance of 64 + 5 x 128 + 10 channels.
    "resnet_preact": (378_546, 377_118, 1_428),
    "vgg16": (138_357_544, 138_357_544, 0),  # documented
    # Issue 11. Embeddings 640,000 + 6,400; one block: attention 4 x 2,112 - 32
    # (the output projection 64 x 32 + 32), 2 x 64 LN, 2 x 1,056 FFN; head 660 + 42.
    "transformer_text_classifier": (657_758, 657_758, 0),
    # patches 18,816; class token 384; positions 65 x 384; 12 x 1,774,464
    # (LN 768, attention 591,360, LN 768, MLP 591,360 + 590,208); LN 768; head 3,850
    "vit_small": (21_342_346, 21_342_346, 0),
    # encoder: BN 4, conv 104, conv 1,616, BN 1,024, Dense 2,570 (once: shared); BN 4; Dense 2
    "siamese": (5_324, 4_808, 516),  # the keras.io example's count
    # 4 levels x 2 convs (no bias) + BN, bottleneck, 4 transposed convs, 1x1 logits;
    # non-trainable: BN moving mean and variance, 2 x 2 x (2 x (16+32+64+128) + 256)
    "unet": (1_945_250, 1_942_306, 2_944),
    # Embedding 2,560,000; 2 x 98,816 (two LSTMs of 4 x (64 x 192 + 64)); logits 258
    "bilstm_classifier": (2_757_890, 2_757_890, 0),
    # LSTMs 4 x (256 x (71 + 256) + 256) and 4 x (256 x (93 + 256) + 256); Dense 23,901
    "lstm_seq2seq": (718_173, 718_173, 0),
    "mobilenet_v3_small": (2_554_968, 2_542_856, 12_112),  # = keras.applications
    "convnext_tiny": (28_589_128, 28_589_128, 0),  # = keras.applications
}
# Other documented settings of the same specs.
VARIANT_COUNTS = [
    ("googlenet", {"aux": False}, (6_998_552, 6_998_552, 0)),  # documented
    ("l2softmax_cnn_mnist", {"trainable_alpha": True}, (1_669_003, 1_669_003, 0)),  # + alpha
    ("l2softmax_cnn_mnist", {"alpha": "auto"}, (1_669_002, 1_669_002, 0)),
    ("l2softmax_cnn_mnist", {"l2_constrained": False}, (1_669_002, 1_669_002, 0)),  # baseline
]

# The ImageNet nets run at a small size (vars) and with 10 classes, ViT with
# fewer blocks; their counts follow from the full-size ones.
SMALL_INSTANCES = {
    # 32x32: fc1 takes 1x1x512 instead of 7x7x512 inputs; 990 classes fewer.
    "vgg16": (
        {"num_classes": 10, "input_shape": [32, 32, 3]},
        138_357_544 - (7 * 7 * 512 - 512) * 4096 - 990 * (4096 + 1),
    ),
    # 67x67: 17 -> 8 -> 8 -> 3 -> 3 -> 1, so fc6 takes 1x1x256 instead of 6x6x256.
    "alexnet": (
        {"num_classes": 10, "input_shape": [67, 67, 3]},
        60_965_224 - (6 * 6 * 256 - 256) * 4096 - 990 * (4096 + 1),
    ),
    # 96x96: 4a and 4d see 6x6, so the aux heads pool to 1x1 (128 features,
    # not 4x4x128) before their fc 1024; three classifiers of 990 classes fewer.
    "googlenet": (
        {"num_classes": 10, "input_shape": [96, 96, 3]},
        13_378_280 - 2 * (4 * 4 * 128 - 128) * 1024 - 3 * 990 * (1024 + 1),
    ),
    # 32x32 is the smallest input keras.applications accepts; 990 classes fewer.
    "resnet50": ({"num_classes": 10, "input_shape": [32, 32, 3]}, 25_636_712 - 990 * (2048 + 1)),
    "mobilenet_v3_small": (
        {"num_classes": 10, "input_shape": [32, 32, 3]},
        2_554_968 - 990 * (1024 + 1),
    ),
    "convnext_tiny": (
        {"num_classes": 10, "input_shape": [32, 32, 3]},
        28_589_128 - 990 * (768 + 1),
    ),
    # 2 of the 12 encoder blocks.
    "vit_small": ({"depth": 2}, 21_342_346 - 10 * 1_774_464),
}
# Too large for a training step on 2 CPU cores.
IMAGENET_NETS = sorted(set(SMALL_INSTANCES) - {"vit_small"})
SOFTMAX_OUTPUTS = {"alexnet", "resnet_preact", "lstm_seq2seq"}  # the others give logits
SIGMOID_OUTPUTS = {"siamese"}
# Each output's shape without the batch dimension where it is not (num_classes,);
# a sequence of unknown length is given SEQUENCE_LENGTH steps.
SEQUENCE_LENGTH = 7
OUTPUT_SHAPES = {
    "googlenet": [(10,)] * 3,  # logits and the two aux heads
    "transformer_text_classifier": [(2,)],
    "bilstm_classifier": [(2,)],
    "siamese": [(1,)],
    "unet": [(64, 64, 2)],
    "lstm_seq2seq": [(SEQUENCE_LENGTH, 93)],
}


def small_instance(name):
    """(vars, model) of the small instance of a shipped spec."""
    spec_vars = SMALL_INSTANCES[name][0] if name in SMALL_INSTANCES else {}
    return spec_vars, kerasblocks.build(name, **spec_vars)


def counts(model):
    c = parameter_counts(model)
    return c["total"], c["trainable"], c["non_trainable"]


def random_batch(model, size=2, seed=0):
    """Inputs for `model`: floats in [-1, 1], token ids in [0, 10) (0 is padding)."""
    rng = np.random.default_rng(seed)
    batch = []
    for tensor in model.inputs:
        shape = (size, *(SEQUENCE_LENGTH if n is None else n for n in tensor.shape[1:]))
        if "int" in str(tensor.dtype):
            batch.append(rng.integers(0, 10, shape).astype(tensor.dtype))
        else:
            batch.append(rng.uniform(-1, 1, shape).astype(tensor.dtype))
    return batch[0] if len(batch) == 1 else batch


def output_shapes(name, spec_vars):
    return OUTPUT_SHAPES.get(name, [(spec_vars.get("num_classes", 10),)])


def training_targets(name, model, size, rng):
    """(targets, loss) for a training step of a shipped spec."""
    # (), or the pixels / steps of a dense output
    shape = tuple(SEQUENCE_LENGTH if n is None else n for n in model.output_shape[1:-1])
    if name in SIGMOID_OUTPUTS:
        return rng.integers(0, 2, (size, 1)).astype("float32"), keras.losses.BinaryCrossentropy()
    classes = model.output_shape[-1]
    targets = np.arange(size * math.prod(shape)).reshape((size, *shape)) % classes
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=name not in SOFTMAX_OUTPUTS)
    return targets, loss


def as_list(outputs):
    return [np.asarray(output) for output in (outputs if isinstance(outputs, list) else [outputs])]


# --- the catalog ------------------------------------------------------------------


def test_every_shipped_spec_has_its_numbers():
    assert NAMES == sorted(FULL_SIZE_COUNTS)
    assert len(NAMES) >= 11


@pytest.mark.parametrize("name", NAMES)
def test_a_shipped_spec_is_listed_with_a_one_line_description(name):
    spec = SPECS[name]
    assert spec.path == SHIPPED_SPECS_DIR / f"{name}.yaml"
    assert kerasblocks.load_spec(name).name == name  # the spec's `name` is its file name
    assert 20 < len(spec.description) <= 160 and "\n" not in spec.description


def test_listing_the_shipped_specs_needs_no_keras():
    code = (
        "import sys; from kerasblocks.spec.catalog import shipped_specs; "
        "assert len(shipped_specs()) >= 11; "
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_shipped_specs_of_another_folder(tmp_path):
    (tmp_path / "tiny.yaml").write_text(
        "kerasblocks: 1\nname: tiny\ndescription: >-\n  Two\n  lines.\n"
        "inputs: {x: {shape: [2]}}\nlayers: [Dense: {units: 1}]\n"
    )
    assert shipped_specs(tmp_path) == [("tiny", "Two lines.", tmp_path / "tiny.yaml")]
    assert shipped_specs(tmp_path / "missing") == []


# --- validation ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_shipped_spec_validates_without_warnings(name, capsys):
    assert kerasblocks.validate(name) == []
    assert cli.main(["validate", str(SPECS[name].path)]) == 0
    assert capsys.readouterr().out.strip() == f"{SPECS[name].path}: ok"


def test_the_command_line_validates_every_shipped_spec():
    executable = shutil.which("kerasblocks")
    command = [executable] if executable else [sys.executable, "-m", "kerasblocks"]
    paths = [str(SPECS[name].path) for name in NAMES]
    result = subprocess.run(
        [*command, "validate", *paths], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == len(NAMES)


# --- parameter counts at full size (construction only) -------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_full_size_parameter_counts(name):
    assert counts(kerasblocks.build(name)) == FULL_SIZE_COUNTS[name]


@pytest.mark.parametrize(
    "name, spec_vars, expected", VARIANT_COUNTS, ids=[f"{n}-{v}" for n, v, _ in VARIANT_COUNTS]
)
def test_documented_variants_parameter_counts(name, spec_vars, expected):
    assert counts(kerasblocks.build(name, **spec_vars)) == expected


def test_a_shipped_spec_builds_by_name_on_the_command_line(capsys):
    assert cli.main(["build", "vgg16"]) == 0
    assert "Parameters: 138,357,544 total, 138,357,544 trainable, 0 non-trainable" in (
        capsys.readouterr().out
    )


# --- a small instance: forward pass, .keras round trip, a training step ---------------


@pytest.mark.parametrize("name", NAMES)
def test_forward_pass_and_keras_file_round_trip(name, tmp_path):
    spec_vars, model = small_instance(name)
    if name in SMALL_INSTANCES:
        total = SMALL_INSTANCES[name][1]
        assert counts(model)[0] == total
        assert counts(model)[2] == FULL_SIZE_COUNTS[name][2]
    else:
        assert counts(model) == FULL_SIZE_COUNTS[name]

    x = random_batch(model)
    outputs = as_list(model(x, training=False))
    assert [output.shape[1:] for output in outputs] == output_shapes(name, spec_vars)
    for output in outputs:
        assert output.shape[0] == 2 and np.all(np.isfinite(output))
        if name in SOFTMAX_OUTPUTS:
            np.testing.assert_allclose(output.sum(axis=-1), 1.0, rtol=1e-5)
        if name in SIGMOID_OUTPUTS:
            assert np.all((output > 0) & (output < 1))

    path = kerasblocks.save_model(model, tmp_path / f"{name}.keras")
    loaded = kerasblocks.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    for before, after in zip(outputs, as_list(loaded(x, training=False)), strict=True):
        np.testing.assert_array_equal(after, before)
    assert kerasblocks.inspect_model(path, count_params=False)["spec"].vars == spec_vars


@pytest.mark.parametrize("name", [name for name in NAMES if name not in IMAGENET_NETS])
def test_a_training_step(name):
    _, model = small_instance(name)
    y, loss_function = training_targets(name, model, 8, np.random.default_rng(1))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=loss_function,
        # Eager: tracing the step costs 5-20 s per net on 2 cores; the graph and
        # XLA paths are exercised by the example's test (inception_fashion).
        run_eagerly=True,
    )
    x = random_batch(model, size=8)
    before = [weight.numpy().copy() for weight in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    assert math.isfinite(float(loss))
    changed = [
        not np.array_equal(old, new.numpy())
        for old, new in zip(before, model.trainable_weights, strict=True)
    ]
    assert all(changed), [w.path for w, c in zip(model.trainable_weights, changed) if not c]
