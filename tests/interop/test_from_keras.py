"""`to_spec` / `kerasblocks from-keras`: Keras model -> spec, and back.

The reference is always the original model: after build -> to_spec -> build
the two models have equal functional configs (every layer's class, name,
config, build shape and inbound connections, so also the layer order and
parameter counts), and with the weights copied layer by layer they give the
same outputs bit for bit. The originals are the shipped specs, hand-written
functional and Sequential models, a registered third-party layer and
`keras.applications.MobileNetV2`, which kerasblocks had no part in writing.
"""

import runpy
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import kerasblocks
from kerasblocks import cli
from kerasblocks.api import parameter_counts
from kerasblocks.errors import UsageError
from kerasblocks.interop.spec_writer import spec_to_yaml
from kerasblocks.spec.catalog import shipped_specs
from kerasblocks.spec.signatures import load_table
from tests.interop.round_trip import assert_same_model, round_trip

EXAMPLE = Path(__file__).parents[2] / "examples" / "keras_model_to_spec.py"
SPECS = {spec.name: spec for spec in shipped_specs()}
# Full size: 138M, 61M, 13M and 26M parameters; still seconds each.
LARGE = {"vgg16", "alexnet", "googlenet", "resnet50"}
SPEC_PARAMS = [
    pytest.param(name, marks=pytest.mark.slow) if name in LARGE else name for name in sorted(SPECS)
]
PLUGIN_PACKAGE = "kerasblocks_tests_from_keras"


@keras.saving.register_keras_serializable(package=PLUGIN_PACKAGE)
class Scale(keras.layers.Layer):
    """A third-party layer: multiplies by a constant."""

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=PLUGIN_PACKAGE)
class Fill(keras.initializers.Initializer):
    """A third-party initializer: a constant."""

    def __init__(self, value=0.5):
        self.value = value

    def __call__(self, shape, dtype=None):
        return keras.ops.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


@keras.saving.register_keras_serializable(package=PLUGIN_PACKAGE)
class Mismatched(keras.layers.Layer):
    """A third-party layer whose get_config() does not mirror __init__."""

    def __init__(self, size=1, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, inputs):
        return inputs

    def get_config(self):
        return {**super().get_config(), "width": self.size}


class Unregistered(keras.layers.Layer):
    def call(self, inputs):
        return inputs


# --- helpers ---------------------------------------------------------------------------


def written_layers(text):
    """[(type, arguments as written)] of a spec's top-level `layers`."""
    return [next(iter(item.items())) for item in kerasblocks.load_spec(text).data["layers"]]


# --- every shipped spec ------------------------------------------------------------------


# Runs of consecutive lines each written spec must hold, in this order (the
# full text is checked below, on hand-written models).
EXPECTED_LINES = {
    "vgg16": [
        [
            "defaults:",
            # kernel_size is a required argument: it stays on each line.
            "  Conv2D: {padding: same, activation: relu}",
            "",
            "layers:",
            "  - Conv2D: {filters: 64, kernel_size: 3, name: block1_conv1}",
            "  - Conv2D: {filters: 64, kernel_size: 3, name: block1_conv2}",
            "  - MaxPooling2D: {name: block1_pool}",  # pool_size 2 and strides 2 are the defaults
        ],
        [
            "  - Flatten: {}",  # Keras' own automatic name 'flatten': left out
            "  - Dense: {units: 4096, activation: relu, name: fc1}",
            "  - Dropout: {rate: 0.5}",
        ],
        ["  - Dense: {units: 1000, name: predictions}", "outputs: [predictions]"],
    ],
    # The auxiliary head is written where it leaves the main path, which
    # then names its input.
    "googlenet": [
        [
            "  - InceptionBlock: {filters: [192, 96, 208, 16, 48, 64], name: inception_4a}",
            "  - AveragePooling2D: {pool_size: 5, strides: 3, name: aux1_pool}",
            "  - Conv2D: {filters: 128, kernel_size: 1, name: aux1_conv}",
            "  - Flatten: {name: aux1_flatten}",
            "  - Dense: {units: 1024, activation: relu, name: aux1_fc}",
            "  - Dropout: {rate: 0.7, name: aux1_dropout}",
            "  - Dense: {units: 1000, name: aux1}",
            "  - InceptionBlock: {filters: [160, 112, 224, 24, 64, 64], name: inception_4b, "
            "inputs: inception_4a}",
        ],
        ["outputs: [logits, aux1, aux2]"],
    ],
    "resnet50": [
        ["  ResidualUnit: {variant: postact, bottleneck: true, epsilon: 1.001e-05}"],
        ["  - ZeroPadding2D: {padding: 3, name: conv1_pad}"],  # ((3, 3), (3, 3)) written short
        [
            "  - ResidualUnit: {filters: 256, name: conv2_block3}",
            "  - ResidualUnit: {filters: 512, strides: 2, name: conv3_block1}",
        ],
    ],
    "residual_bottleneck": [
        [
            "  - Conv2D: {filters: 32, kernel_size: 1, name: block1_expand}",
            "  - Add: {name: block1, inputs: [stem, block1_expand]}",
        ]
    ],
}


def assert_holds_runs(text, runs):
    """Each run of lines occurs in `text` as consecutive lines, runs in order."""
    lines = text.splitlines()
    start = 0
    for run in runs:
        found = [
            index
            for index in range(start, len(lines) - len(run) + 1)
            if lines[index : index + len(run)] == run
        ]
        assert found, f"not found after line {start + 1}: {run}"
        start = found[0] + len(run)


@pytest.mark.parametrize("name", SPEC_PARAMS)
def test_shipped_spec_round_trip(name):
    original = kerasblocks.build(name)
    try:
        text, rebuilt = round_trip(original)
        assert_same_model(original, rebuilt, batch_size=1 if name in LARGE else 2)
        # Compact: no argument is written with the value its signature defaults to.
        table = load_table().layers
        data = kerasblocks.load_spec(text).data
        written = written_layers(text) + list(data.get("defaults", {}).items())
        for type_name, arguments in written:
            if type_name not in table:
                continue  # an op, or a block
            for argument, value in (arguments or {}).items():
                signature_argument = table[type_name].arguments.get(argument)
                if signature_argument is not None and signature_argument.has_default:
                    assert value != signature_argument.default, (type_name, argument, value)
        assert_holds_runs(text, EXPECTED_LINES.get(name, []))
    finally:
        del original
        keras.backend.clear_session()


# --- hand-written models ------------------------------------------------------------------


def two_input_two_output_model():
    image = keras.Input((16, 16, 3), name="image")
    meta = keras.Input((5,), name="meta")
    stem = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(image)
    left = keras.layers.Conv2D(8, 1, name="left")(stem)
    right = keras.layers.Conv2D(
        8,
        (3, 3),
        padding="same",
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(5e-4),
        name="right",
    )(stem)
    merged = keras.layers.Add(name="merge")([left, right])
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(merged)
    meta_features = keras.layers.Dense(
        4, activation="tanh", use_bias=False, dtype="float64", name="meta_dense"
    )(meta)
    joined = keras.layers.Concatenate(name="joined")([pooled, meta_features])
    logits = keras.layers.Dense(3, name="logits")(joined)
    aux = keras.layers.Dense(
        1,
        activation="sigmoid",
        bias_initializer=keras.initializers.Constant(0.5),
        name="aux",
    )(pooled)
    model = keras.Model([image, meta], [logits, aux], name="two_heads")
    model.get_layer("left").trainable = False
    return model


# What to_spec writes for two_input_two_output_model(), after its two comment lines.
TWO_HEADS_SPEC = """\
kerasblocks: 1
name: two_heads
inputs:
  image: {shape: [16, 16, 3]}
  meta: {shape: [5]}

layers:
  - Conv2D: {filters: 8, kernel_size: 3, padding: same, activation: relu, name: stem, inputs: image}
  - Conv2D: {filters: 8, kernel_size: 1, trainable: false, name: left}
  - Conv2D:
      filters: 8
      kernel_size: 3
      padding: same
      kernel_initializer: he_normal
      kernel_regularizer: {L2: {l2: 0.0005}}
      name: right
      inputs: stem
  - Add: {name: merge, inputs: [left, right]}
  - GlobalAveragePooling2D: {name: pool}
  - Dense: {units: 1, activation: sigmoid, bias_initializer: {Constant: {value: 0.5}}, name: aux}
  - Dense:
      units: 4
      activation: tanh
      use_bias: false
      dtype: float64
      name: meta_dense
      inputs: meta
  - Concatenate: {name: joined, inputs: [pool, meta_dense]}
  - Dense: {units: 3, name: logits}
outputs: [logits, aux]
"""


def test_functional_model_with_branches_two_inputs_and_two_outputs():
    original = two_input_two_output_model()
    text, rebuilt = round_trip(original)
    assert text.split("\n", 2)[2] == TWO_HEADS_SPEC
    assert text.startswith("# Written from the Keras model 'two_heads' by kerasblocks ")
    for default in ("strides", "use_bias: true", "glorot_uniform", "zeros", "linear"):
        assert default not in text
    assert "data_format" not in text
    assert_same_model(original, rebuilt)
    assert parameter_counts(rebuilt)["non_trainable"] == 8 * 8 + 8  # 'left' stays frozen
    assert rebuilt.get_layer("meta_dense").dtype_policy.name == "float64"
    assert rebuilt.output_names == ["logits", "aux"]


def test_sequential_model_leaves_out_the_names_keras_chose():
    keras.backend.clear_session()  # Keras' automatic names start again at 'dense'
    original = keras.Sequential(
        [
            keras.Input((8,), name="features"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(4, kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02, 3)),
            keras.layers.Softmax(),
        ],
        name="classifier",
    )
    text, rebuilt = round_trip(original)
    assert text.split("\n", 2)[2] == textwrap.dedent(
        """\
        kerasblocks: 1
        name: classifier
        inputs:
          features: {shape: [8]}

        layers:
          - Dense: {units: 16, activation: relu}
          - Dropout: {rate: 0.25}
          - Dense: {units: 4, kernel_initializer: {RandomNormal: {seed: 3, stddev: 0.02}}}
          - Softmax: {name: softmax}
        outputs: [softmax]
        """
    )
    names = [layer.name for layer in rebuilt.layers[1:]]
    assert names == ["dense", "dropout", "dense_1", "softmax"]
    assert_same_model(original, rebuilt)


def test_names_the_spec_would_not_choose_are_written():
    keras.backend.clear_session()
    for _ in range(3):
        keras.layers.Dense(1)  # takes 'dense', 'dense_1', 'dense_2'
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(8)(inputs)  # 'dense_3'
    original = keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden), name="late")
    text, rebuilt = round_trip(original)
    assert "  - Dense: {units: 8, name: dense_3}\n" in text
    assert_same_model(original, rebuilt)


def test_registered_third_party_objects_are_written_with_their_package():
    inputs = keras.Input((3,), name="x")
    normalised = keras.layers.Normalization(
        mean=np.array([1.0, 2.0, 3.0]), variance=np.array([1.0, 4.0, 9.0]), name="norm"
    )(inputs)
    hidden = keras.layers.Dense(3, kernel_initializer=Fill(0.25), name="hidden")(normalised)
    original = keras.Model(inputs, Scale(2.5, name="scaled")(hidden), name="plugin")
    text, rebuilt = round_trip(original)
    norm = "  - Normalization: {mean: [1.0, 2.0, 3.0], variance: [1.0, 4.0, 9.0], name: norm}\n"
    assert norm in text  # NumPy arrays written as lists
    assert f'      kernel_initializer: {{"{PLUGIN_PACKAGE}>Fill": {{value: 0.25}}}}\n' in text
    assert f"  - {PLUGIN_PACKAGE}>Scale: {{factor: 2.5, name: scaled}}\n" in text
    assert "module" not in text  # specs name no Python modules
    assert type(rebuilt.get_layer("scaled")) is Scale
    assert_same_model(original, rebuilt)


def test_keras_applications_mobilenet_v2():
    original = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=10
    )
    text, rebuilt = round_trip(original)
    assert "  ReLU: {max_value: 6.0}\n" in text  # ReLU6, written once under defaults
    assert (
        "  - Add: {name: block_2_add, inputs: [block_1_project_BN, block_2_project_BN]}\n" in text
    )
    assert len(text.splitlines()) < len(original.layers) + 20  # one line per layer
    assert_same_model(original, rebuilt)


def test_the_spec_name_can_be_chosen():
    text = kerasblocks.to_spec(kerasblocks.build("mlp_mnist"), name="my_mlp")
    assert "\nname: my_mlp\n" in text
    assert kerasblocks.build(text).name == "my_mlp"


def test_the_example_runs(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", [str(EXAMPLE)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")  # raises SystemExit if the models differ
    output = capsys.readouterr().out
    assert "  - Add: {name: merge, inputs: [wide, narrow]}\n" in output
    assert output.endswith("largest output difference: 0.0\n")


# --- a .keras file, on the command line -----------------------------------------------------


def test_from_keras_command_round_trip(tmp_path, capsys):
    model_file, spec_file = tmp_path / "m.keras", tmp_path / "spec.yaml"
    assert cli.main(["build", "mlp_mnist", "-o", str(model_file)]) == 0
    assert cli.main(["from-keras", str(model_file), "-o", str(spec_file)]) == 0
    assert capsys.readouterr().out.endswith(f"Wrote {spec_file}\n")

    text = spec_file.read_text()
    assert "  - Dense: {units: 128, activation: relu, name: hidden1}\n" in text
    original = kerasblocks.load_model(model_file)
    assert_same_model(original, kerasblocks.build(str(spec_file)))

    assert cli.main(["from-keras", str(model_file)]) == 0  # no -o: printed
    assert capsys.readouterr().out == text


def test_from_keras_command_errors_leave_no_file(tmp_path, capsys):
    model_file = tmp_path / "m.keras"
    assert cli.main(["build", "mlp_mnist", "-o", str(model_file)]) == 0
    capsys.readouterr()
    missing_folder = tmp_path / "missing" / "spec.yaml"
    assert cli.main(["from-keras", str(model_file), "-o", str(missing_folder)]) == 2
    assert "missing" in capsys.readouterr().err
    assert not missing_folder.parent.exists()

    assert cli.main(["from-keras", str(tmp_path / "none.keras")]) == 2
    assert "No such model file" in capsys.readouterr().err
    not_a_model = tmp_path / "text.keras"
    not_a_model.write_text("hello")
    assert cli.main(["from-keras", str(not_a_model)]) == 2
    assert "is not a .keras model file" in capsys.readouterr().err


# --- what a spec cannot say ---------------------------------------------------------------------


def test_every_layer_a_spec_cannot_name_is_listed():
    inner_inputs = keras.Input((None, 8), name="steps")
    inner = keras.Model(inner_inputs, keras.layers.Dense(8)(inner_inputs), name="inner")
    inputs = keras.Input((5, 8), name="x")
    x = keras.layers.Lambda(lambda tensor: tensor * 2, name="double")(inputs)
    x = Unregistered(name="mine")(x)
    x = inner(x)  # a nested model is fine, but not one whose input shape differs
    x = keras.ops.argsort(x)  # an op the operations table does not have
    shared = keras.layers.Dense(8, name="shared")  # shared layers are fine
    x = keras.ops.add(shared(x), shared(x))
    model = keras.Model(inputs, x, name="bad")
    with pytest.raises(UsageError) as caught:
        kerasblocks.to_spec(model)
    lines = str(caught.value).splitlines()
    assert lines[0] == "model 'bad' cannot be written as a spec; 4 layers to change:"
    assert lines[1:] == [
        "  - 'double' (Lambda): Lambda layers can carry code and are refused in specs; write a "
        "registered custom layer instead",
        f"  - 'mine' ({__name__}.Unregistered): a custom layer class that is not registered with "
        "Keras; register it with @keras.saving.register_keras_serializable(package='my_package') "
        "and it is written 'my_package>Unregistered' (import that package before building the "
        "spec)",
        "  - 'argsort' (keras.ops Argsort): a keras.ops call (Argsort) that the spec's operations "
        "table does not have; use a Keras layer that does the same, or a registered custom layer",
        "  - 'inner' (Functional): its input 'steps' is (None, 8) float32 but it is called on "
        "(5, 8) float32; a spec's nested model takes the shape and dtype of what it is called "
        "on: build it with inputs of that shape",
    ]


def test_every_layer_whose_arguments_a_spec_cannot_hold_is_listed():
    inputs = keras.Input((3,), name="x")
    x = Mismatched(2, name="first")(inputs)
    x = keras.layers.Dense(2, name="fine")(x)
    model = keras.Model(inputs, Mismatched(3, name="second")(x), name="mismatched")
    with pytest.raises(UsageError) as caught:
        kerasblocks.to_spec(model)
    refusal = (
        f"({PLUGIN_PACKAGE}>Mismatched): it cannot be rebuilt from its get_config() (its "
        "constructor refuses its own config); a spec can only hold layers whose get_config() "
        "mirrors __init__"
    )
    assert str(caught.value).splitlines() == [
        "model 'mismatched' cannot be written as a spec; 2 layers to change:",
        f"  - 'first' {refusal}",
        f"  - 'second' {refusal}",
    ]


def test_call_options_are_written_as_keras_recorded_them():
    inputs = keras.Input((4,), name="x")
    x = keras.layers.Dropout(0.5, name="drop")(inputs, training=True)
    x = keras.layers.Dropout(0.5, name="plain")(x, training=False)  # what Keras records anyway
    x = keras.layers.Dropout(0.5, name="none")(x, training=None)  # differs from a plain call
    original = keras.Model(inputs, x, name="calls")
    text, rebuilt = round_trip(original)
    assert "  - Dropout: {rate: 0.5, name: drop, call: {training: true}}\n" in text
    assert "  - Dropout: {rate: 0.5, name: plain}\n" in text
    assert "  - Dropout: {rate: 0.5, name: none, call: {training: null}}\n" in text
    assert_same_model(original, rebuilt)


def test_models_that_are_not_graphs_are_refused():
    class Subclassed(keras.Model):
        def call(self, inputs):
            return inputs

    with pytest.raises(UsageError, match="is a subclassed keras.Model .*Subclassed"):
        kerasblocks.to_spec(Subclassed(name="sub"))
    with pytest.raises(UsageError, match="has no input shape yet"):
        kerasblocks.to_spec(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(TypeError, match="must be a keras.Model or the path"):
        kerasblocks.to_spec(42)


# --- the YAML writer -------------------------------------------------------------------------


def test_spec_writer_layout_and_exact_values():
    spec = {
        "kerasblocks": 1,
        "name": "layout",
        "description": "costs $5",
        "vars": {"n": 2},
        "inputs": {"x": {"shape": [None, 28, 1]}},
        "layers": [
            {"Flatten": {}},
            {"Dense": {"units": 10, "name": "d", "bias_initializer": {"Constant": {"value": 0.1}}}},
            {"InceptionBlock": {"branches": [[{"conv": {"filters": 32, "kernel_size": 1}}]] * 3}},
        ],
        "outputs": ["d"],
    }
    text = spec_to_yaml(spec, comment="first\nsecond", width=60)
    assert text == textwrap.dedent(
        """\
        # first
        # second
        kerasblocks: 1
        name: layout
        description: "costs $5"
        vars: {n: 2}
        inputs:
          x: {shape: [null, 28, 1]}

        layers:
          - Flatten: {}
          - Dense:
              units: 10
              name: d
              bias_initializer: {Constant: {value: 0.1}}
          - InceptionBlock:
              branches: [[{conv: {filters: 32, kernel_size: 1}}],
                         [{conv: {filters: 32, kernel_size: 1}}],
                         [{conv: {filters: 32, kernel_size: 1}}]]
        outputs: [d]
        """
    )
    parsed = kerasblocks.load_spec(text).data
    assert parsed["layers"][2] == spec["layers"][2]
    assert kerasblocks.expand(text).description == "costs $5"  # `$` stays literal


@pytest.mark.parametrize("value", [0.1, 1e-05, 1.001e-05, 1 / 3, 2.0e-5, 1e20, -0.0, 123456789.123])
def test_spec_writer_floats_read_back_exactly(value):
    text = spec_to_yaml({"kerasblocks": 1, "name": "f", "vars": {"v": value}})
    assert kerasblocks.load_spec(text).data["vars"]["v"] == value


@pytest.mark.parametrize("name", ["a/b", "", "two words"])
def test_a_name_no_spec_can_carry_is_refused(name):
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(inputs))
    with pytest.raises(UsageError, match="the spec name must be letters, digits"):
        kerasblocks.to_spec(model, name=name)
