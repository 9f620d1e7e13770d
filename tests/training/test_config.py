"""The `train:` section: schema, semantic checks and overrides, all without TensorFlow."""

import subprocess
import sys
import textwrap

import pytest

import kerasblocks
from kerasblocks.errors import SpecError
from kerasblocks.training.config import parse_number, split_set_assignments, train_config

NET = """\
kerasblocks: 1
name: tiny
inputs:
  image: {shape: [8, 8, 1]}
layers:
  - Flatten: {}
  - Dense: {units: 4, name: logits}
outputs: [logits]
"""


def spec_with(train_text):
    return NET + "train:\n" + textwrap.indent(textwrap.dedent(train_text), "  ")


def errors_of(text, **overrides):
    with pytest.raises(SpecError) as info:
        train_config(text, **overrides)
    return info.value.diagnostics


def test_full_section_is_read_with_defaults():
    config, graph = train_config(
        spec_with(
            """\
            seed: 3
            epochs: 4
            batch_size: 64
            optimizer: {name: sgd, learning_rate: 0.1, momentum: 0.9}
            loss: {name: categorical_crossentropy, from_logits: true}
            dataset: {name: generated, scale: 1/255, shift: -0.5, validation: 0.1}
            """
        )
    )
    assert (config.seed, config.epochs, config.batch_size) == (3, 4, 64)
    assert config.optimizer.name == "sgd" and config.optimizer.arguments == {"momentum": 0.9}
    assert config.learning_rate == 0.1
    assert config.loss_name == "categorical_crossentropy" and config.from_logits is True
    assert config.dataset.scale == pytest.approx(1 / 255) and config.dataset.shift == -0.5
    assert config.dataset.validation == 0.1
    assert config.metrics == ("accuracy",)
    assert graph.outputs == ("logits",)


def test_shipped_specs_have_valid_train_sections():
    for name in ("inception_fashion", "mlp_mnist", "l2softmax_cnn_mnist"):
        config, _ = train_config(name)
        assert config.optimizer.name in ("adam", "sgd")
    config, _ = train_config("inception_fashion")
    assert (config.batch_size, config.epochs, config.learning_rate) == (512, 20, 0.001)
    assert config.dataset.shift == -0.5 and config.dataset.scale == pytest.approx(1 / 255)


@pytest.mark.parametrize(
    "train_text, line, column, fragment",
    [
        ("optimizer: adamm\n", 10, 14, "must be an optimizer name"),
        ("epochs: 0\n", 10, 11, "'epochs' must be >= 1"),
        ("batch_size: big\n", 10, 15, "'batch_size' must be an integer"),
        ("optimizer: {name: adam, learning_rate: -1}\n", 10, 14, "must be an optimizer name"),
        ("learning_rate: {schedule: linear}\n", 10, 18, "must be a positive number or a schedule"),
        ("dataset: {name: imagenet}\n", 10, 19, "must be one of fashion_mnist"),
        ("dataset: {scale: one/255}\n", 10, 20, "must be a number or a fraction"),
        ("epoks: 3\n", 10, 3, "unknown key 'epoks' in training settings; did you mean 'epochs'?"),
    ],
)
def test_schema_errors_are_located(train_text, line, column, fragment):
    with pytest.raises(SpecError) as info:
        kerasblocks.validate(spec_with(train_text))
    diagnostic = info.value.diagnostics[0]
    assert fragment in diagnostic.message, diagnostic.message
    assert (diagnostic.location.line, diagnostic.location.column) == (line, column), str(diagnostic)
    assert diagnostic.location.path[0] == "train"


def test_semantic_errors_are_located():
    diagnostics = errors_of(
        spec_with(
            """\
            loss_weights: {logits: 1.0, aux1: 0.3}
            learning_rate: {schedule: piecewise, boundaries: [100, 200], values: [0.1, 0.01]}
            dataset: {name: npz}
            """
        )
    )
    messages = [(d.location.line, d.message) for d in diagnostics]
    assert (10, "loss_weights names 'aux1', which is not an output of the model") in messages
    assert any("one more value than boundaries" in m and line == 11 for line, m in messages)
    assert any("dataset 'npz' needs a `path`" in m and line == 12 for line, m in messages)
    assert "the outputs are: logits" in str(diagnostics[0].hint)
    with pytest.raises(SpecError) as info:  # `kerasblocks validate` runs the same checks
        kerasblocks.validate(spec_with("loss_weights: {aux1: 0.3}\n"))
    assert info.value.diagnostics[0].location.line == 10


def test_no_section_and_no_data_is_an_error():
    (diagnostic,) = errors_of(NET)
    assert "no `train:` section" in diagnostic.message
    assert "--data" in diagnostic.hint
    config, _ = train_config(NET, data="generated")  # flags alone are enough
    assert config.dataset.name == "generated" and config.epochs == 1


def test_command_line_overrides():
    text = spec_with("epochs: 5\nsteps: 100\noptimizer: adam\ndataset: {name: fashion_mnist}\n")
    config, _ = train_config(
        text, epochs=2, batch_size=8, data="/some/where/data.npz",
        settings={"optimizer.learning_rate": 0.05, "dataset.flatten": True},
    )
    assert (config.epochs, config.steps, config.batch_size) == (2, None, 8)  # --epochs drops steps
    assert config.learning_rate == 0.05 and config.optimizer.name == "adam"
    assert (config.dataset.name, config.dataset.path) == ("npz", "/some/where/data.npz")
    assert config.dataset.flatten is True
    (diagnostic,) = errors_of(text, settings={"optimizer.learning_rate": "fast"})
    assert diagnostic.location.file == "<command line>"
    assert diagnostic.location.path == ("--set", "train.optimizer.learning_rate")


def test_split_set_assignments():
    assignments, settings = split_set_assignments(
        ["num_classes=3", "train.epochs=4", "train.dataset.scale=1/255"]
    )
    assert assignments == ["num_classes=3"]
    assert settings == {"epochs": 4, "dataset.scale": "1/255"}
    with pytest.raises(SpecError, match="not an assignment train.KEY=VALUE"):
        split_set_assignments(["train.=3"])


def test_parse_number():
    assert parse_number("1/255") == pytest.approx(1 / 255)
    assert parse_number("-0.5") == -0.5 and parse_number(2) == 2.0
    with pytest.raises(ValueError):
        parse_number("1/0")


def test_config_needs_no_tensorflow():
    code = (
        "import sys, kerasblocks\n"
        "from kerasblocks.training.config import train_config\n"
        "train_config('inception_fashion', epochs=2)\n"
        "kerasblocks.validate('inception_fashion')\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
