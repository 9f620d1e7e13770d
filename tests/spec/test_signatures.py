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
        ("Layer", "abstract base class"),
        ("InputLayer", "`inputs:` section"),
    ],
)
def test_code_carrying_and_unusable_layers_are_refused(type_name, reason):
    assert reason in registry.signature(type_name).refused
    with pytest.raises(SpecError, match="refused|cannot be used|cannot give"):
        registry.resolve(type_name)


def test_wrappers_are_usable_and_application_layers_resolve_from_their_modules():
    from keras.src.applications import convnext, inception_resnet_v2

    assert registry.signature("Bidirectional").refused is None
    assert registry.resolve("TimeDistributed") is keras.layers.TimeDistributed
    assert registry.resolve("LayerScale") is convnext.LayerScale
    assert registry.resolve("StochasticDepth") is convnext.StochasticDepth
    assert registry.resolve("CustomScaleLayer") is inception_resnet_v2.CustomScaleLayer
    assert registry.signature("LayerScale").module == "keras.src.applications.convnext"


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


# --- call signatures -------------------------------------------------------------


def _call_table(type_name):
    signature = registry.signature(type_name)
    return [
        (argument.name, argument.required, argument.has_default, argument.default)
        for argument in signature.call_arguments.values()
    ]


def test_call_signatures_of_attention_and_recurrent_layers():
    assert _call_table("MultiHeadAttention") == [
        ("query", True, False, None),
        ("value", True, False, None),
        ("key", False, True, None),
        ("query_mask", False, True, None),
        ("value_mask", False, True, None),
        ("key_mask", False, True, None),
        ("attention_mask", False, True, None),
        ("return_attention_scores", False, True, False),
        ("training", False, True, None),
        ("use_causal_mask", False, True, False),
    ]
    assert _call_table("LSTM") == [
        ("sequences", True, False, None),
        ("initial_state", False, True, None),
        ("mask", False, True, None),
        ("training", False, True, False),
    ]
    assert _call_table("Dense") == [("inputs", True, False, None), ("training", False, True, None)]
    assert _call_table("Attention") == [
        ("inputs", True, False, None),
        ("mask", False, True, None),
        ("training", False, True, False),
        ("return_attention_scores", False, True, False),
        ("use_causal_mask", False, True, False),
    ]
    lstm = registry.signature("LSTM")
    assert lstm.required_call_arguments() == ["sequences"]
    assert {argument.kind for argument in lstm.call_arguments.values()} == {
        signatures.POSITIONAL_OR_KEYWORD
    }
    assert not lstm.call_accepts_any_keyword and not lstm.call_accepts_any_positional
    assert lstm.accepts_call_argument("initial_state") and not lstm.accepts_call_argument("states")


def test_wrappers_and_other_refused_types_have_call_signatures_too():
    assert _call_table("Bidirectional") == [
        ("sequences", True, False, None),
        ("initial_state", False, True, None),
        ("mask", False, True, None),
        ("training", False, True, None),  # None here, False in LSTM
    ]
    assert list(registry.signature("TimeDistributed").call_arguments) == [
        "inputs",
        "training",
        "mask",
    ]
    assert list(registry.signature("RNN").call_arguments) == list(
        registry.signature("LSTM").call_arguments
    )
    torch = registry.signature("TorchModuleWrapper")  # call(self, *args, training=None, **kwargs)
    assert torch.refused
    assert torch.call_accepts_any_positional and torch.call_accepts_any_keyword
    assert torch.call_arguments["training"].kind == signatures.KEYWORD_ONLY
    assert torch.accepts_call_argument("anything")


def test_kerasblocks_layers_have_their_call_signatures():
    assert _call_table("ResidualUnit") == [
        ("inputs", True, False, None),
        ("training", False, True, None),
    ]
    assert _call_table("LRN") == [("inputs", True, False, None)]


def test_the_call_table_is_what_inspect_says_for_every_layer():
    for type_name, signature in load_table().layers.items():
        if signature.source == "keras.applications.model":  # a constructor: a Functional
            from keras.src.models.functional import Functional as cls
        elif signature.refused:
            home = kerasblocks.layers if signature.source == "kerasblocks" else keras.layers
            cls = getattr(home, type_name)
        else:
            cls = registry.resolve(type_name)
        parameters = list(inspect.signature(cls.call).parameters.values())[1:]
        named = [
            parameter
            for parameter in parameters
            if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        ]
        assert list(signature.call_arguments) == [parameter.name for parameter in named], type_name
        for parameter in named:
            argument = signature.call_arguments[parameter.name]
            assert argument.required == (parameter.default is parameter.empty)
            assert argument.has_default == (not argument.required)
            if argument.has_default and argument.default is not signatures.OPAQUE_DEFAULT:
                assert argument.default == parameter.default, (type_name, parameter.name)
        kinds = {parameter.kind for parameter in parameters}
        assert signature.call_accepts_any_keyword == (inspect.Parameter.VAR_KEYWORD in kinds)
        assert signature.call_accepts_any_positional == (inspect.Parameter.VAR_POSITIONAL in kinds)


def test_layers_with_one_call_signature_share_one_read_only_mapping():
    layers = load_table().layers
    assert layers["Conv2D"].call_arguments is layers["Flatten"].call_arguments
    with pytest.raises(TypeError):
        layers["Conv2D"].call_arguments["extra"] = None


@pytest.mark.parametrize(
    "type_name, given, count",
    [
        ("MultiHeadAttention", ["query", "value"], 2),
        ("MultiHeadAttention", ["query", "value", "key", "attention_mask"], 2),
        ("MultiHeadAttention", ["value", "query"], 2),  # signature order, not the mapping's
        ("MultiHeadAttention", ["query", "attention_mask"], 1),  # value missing: up to the gap
        ("MultiHeadAttention", ["value", "key"], 0),  # query missing: nothing by position
        ("MultiHeadAttention", [], 0),
        ("LSTM", ["sequences", "initial_state"], 1),
        ("LSTM", ["sequences", "initial_state", "mask", "training"], 1),
        ("LSTM", ["initial_state"], 0),
        ("Bidirectional", ["sequences", "initial_state"], 1),
        ("Attention", ["inputs", "mask"], 1),
        ("Dense", ["inputs"], 1),
        ("GRUCell", ["inputs", "states"], 2),
        ("GRUCell", ["states"], 0),
        ("TorchModuleWrapper", ["training"], 0),  # keyword-only
        ("Layer", ["inputs"], 0),  # *args, **kwargs: nothing named
    ],
)
def test_positional_count(type_name, given, count):
    assert registry.signature(type_name).positional_count(given) == count


def test_positional_count_takes_a_mapping_or_one_name():
    mha = registry.signature("MultiHeadAttention")
    assert mha.positional_count({"query": "q", "value": "v", "attention_mask": "m"}) == 2
    assert mha.positional_count("query") == 1
    assert registry.signature("RMSNormalization").positional_count("xx") == 0  # not {"x"}
    assert list(mha.call_arguments)[:2] == ["query", "value"]


def test_call_signatures_are_stored_once_under_a_readable_key():
    data = signatures.generate()
    calls = data["call_signatures"]
    assert len(calls) < len(data["layers"]) / 4
    lstm_key = "sequences, initial_state=None, mask=None, training=False"
    assert data["layers"]["LSTM"]["call"] == lstm_key
    assert data["layers"]["TorchModuleWrapper"]["call"] == "*args, training=None, **kwargs"
    assert calls["*args, training=None, **kwargs"] == {
        "arguments": [{"name": "training", "kind": "keyword_only", "default": None}],
        "args": True,
        "kwargs": True,
    }


def test_opaque_and_keyword_only_call_defaults_read_back():
    class Odd(keras.layers.Layer):
        def call(self, inputs, /, scale=float("inf"), *, flag=True, **options):
            return inputs

    key, entry = signatures._call_entry(Odd)
    assert key == "inputs, /, scale=..., *, flag=True, **options"
    arguments, any_positional, any_keyword = signatures._call_signature(entry)
    assert arguments["inputs"].kind == signatures.POSITIONAL_ONLY
    assert arguments["scale"].has_default
    assert arguments["scale"].default is signatures.OPAQUE_DEFAULT
    assert arguments["flag"] == signatures.CallArgument(
        "flag", required=False, has_default=True, default=True, kind=signatures.KEYWORD_ONLY
    )
    assert (any_positional, any_keyword) == (False, True)


def test_arguments_with_equal_entries_are_shared_but_not_confused():
    def layer(default):
        return {"source": "keras", "call": "inputs", "arguments": [{"name": "x", "default": default}]}

    table = signatures.table_from_json(
        {
            "base_layer_arguments": [],
            "call_signatures": {"inputs": {"arguments": [{"name": "inputs", "required": True}]}},
            "layers": {"A": layer(True), "B": layer(1), "C": layer(True)},
            "keras_version": "0",
            **{kind: [] for kind in ("activations", "initializers", "regularizers", "constraints")},
        }
    )
    a, b, c = (table.layers[name].arguments["x"] for name in "ABC")
    assert a is c and a.default is True and b.default == 1 and b.default is not True
