"""The layer signature table and the registry (these tests import Keras)."""

import inspect
from pathlib import Path

import keras
import pytest

import kerasblocks.layers
from kerasblocks.errors import SourceLocation, SpecError
from kerasblocks.spec import registry, signatures
from kerasblocks.spec.signatures import load_table


def test_the_checked_in_table_is_what_the_installed_keras_produces():
    """If this fails after a Keras upgrade: python -m kerasblocks.spec.signatures"""
    checked_in = Path(signatures.__file__).with_name(signatures.TABLE_FILE).read_text("utf-8")
    assert signatures.table_text(signatures.generate()) == checked_in


def test_check_mode_of_the_generator(capsys):
    assert signatures.main(["--check"]) == 0
    assert "is up to date" in capsys.readouterr().out


def test_every_public_keras_layer_and_every_kerasblocks_layer_is_in_the_table():
    table = load_table().layers
    keras_layers = {
        name
        for name in dir(keras.layers)
        if inspect.isclass(getattr(keras.layers, name))
        and issubclass(getattr(keras.layers, name), keras.layers.Layer)
    }
    assert keras_layers <= set(table)
    for cls in kerasblocks.layers.ALL_LAYERS:
        assert table[cls.__name__].source == "kerasblocks"


def test_signatures_hold_required_and_default_arguments_and_the_base_layer_ones():
    conv = registry.signature("Conv2D")
    assert conv.required_arguments() == ["filters", "kernel_size"]
    assert conv.arguments["strides"].default == [1, 1] and conv.arguments["strides"].has_default
    for base in ("dtype", "trainable", "autocast", "activity_regularizer"):
        assert base in conv.arguments
    assert "name" not in conv.arguments  # given with the `name` key, never as an argument
    # No **kwargs: only the class's own parameters.
    assert set(registry.signature("SpatialDropout2D").arguments) == {
        "rate",
        "data_format",
        "seed",
        "dtype",
    }


@pytest.mark.parametrize(
    "type_name, reason",
    [
        (
            "Lambda",
            "Lambda layers can carry code and are refused in specs; write a registered custom layer instead",
        ),
        ("TFSMLayer", "TFSMLayer layers can carry code"),
        ("JaxLayer", "can carry code"),
        ("FlaxLayer", "can carry code"),
        ("TorchModuleWrapper", "can carry code"),
        ("Bidirectional", "takes layer objects (backward_layer, layer)"),
        ("Layer", "abstract base class"),
        ("InputLayer", "`inputs:` section"),
    ],
)
def test_code_carrying_and_unusable_layers_are_refused(type_name, reason):
    assert reason in registry.signature(type_name).refused
    with pytest.raises(SpecError, match="refused|cannot be used|cannot give"):
        registry.resolve(type_name)


def test_resolve_gives_keras_and_kerasblocks_classes():
    assert registry.resolve("Conv2D") is keras.layers.Conv2D
    assert registry.resolve("MaxPool2D") is keras.layers.MaxPooling2D
    assert registry.resolve("LRN") is kerasblocks.layers.LRN
    assert registry.resolve("kerasblocks>InceptionBlock") is kerasblocks.layers.InceptionBlock


def test_resolve_finds_registered_plugins_only():
    @keras.saving.register_keras_serializable(package="test_plugins")
    class Doubler(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2

    assert registry.resolve("test_plugins>Doubler") is Doubler
    where = SourceLocation("net.yaml", 3, 5)
    with pytest.raises(SpecError) as caught:
        registry.resolve("test_plugins>Missing", where)
    assert str(caught.value).startswith(
        "net.yaml:3:5: error: no layer is registered as 'test_plugins>Missing'"
    )


def test_resolve_refuses_registered_lambda_subclasses():
    @keras.saving.register_keras_serializable(package="test_plugins")
    class Sneaky(keras.layers.Lambda):
        pass

    with pytest.raises(SpecError, match="Lambda layers can carry code"):
        registry.resolve("test_plugins>Sneaky")


def test_resolve_suggests_for_unknown_names():
    with pytest.raises(SpecError, match=r"unknown layer type 'Conv2d'; did you mean 'Conv2D'\?"):
        registry.resolve("Conv2d")


def test_object_name_lists_cover_what_keras_resolves():
    table = load_table()
    assert {"relu", "gelu", "softmax", "linear"} <= table.activations
    assert {"HeNormal", "he_normal", "GlorotUniform", "zeros"} <= table.initializers
    assert {"L1", "L2", "L1L2", "l2"} <= table.regularizers
    assert {"MaxNorm", "NonNeg", "max_norm"} <= table.constraints
    assert "get" not in table.activations and "Initializer" not in table.initializers
