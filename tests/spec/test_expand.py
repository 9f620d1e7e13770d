"""Expansion without Keras: chains, defaults, repeat, stack, blocks, vars, names, origins."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kerasblocks.errors import SpecError
from kerasblocks.spec.expand import expand
from kerasblocks.spec.format import flow, format_expanded, standalone_text
from kerasblocks.spec.graph import Deferred
from kerasblocks.spec.load import SHIPPED_SPECS_DIR, load_spec

REPO = Path(__file__).parents[2]
ALL_SPECS = sorted(SHIPPED_SPECS_DIR.glob("*.yaml")) + sorted(
    (Path(__file__).parent / "data").glob("*.yaml")
)
HEADER = "kerasblocks: 1\nname: net\ninputs:\n  image: {shape: [8, 8, 3]}\n"


def _expand(body, vars=None):
    """Expands HEADER + body (dedented); the body starts on line 5."""
    return expand(HEADER + textwrap.dedent(body), vars)


def _error(body, vars=None):
    with pytest.raises(SpecError) as caught:
        _expand(body, vars)
    return caught.value


def _summary(graph):
    return [(node.name, node.type, node.arguments, node.inputs) for node in graph.layers]


def _call_summary(graph):
    """Each node's call, with values read at build time as they mean outside a block."""

    def meaning(value):
        return standalone_text(value) if isinstance(value, Deferred) else value

    return [
        (
            node.name,
            node.type,
            {key: meaning(value) for key, value in node.arguments.items()},
            node.args,
            node.kwargs,
            node.shares,
            meaning(node.condition),
            node.passthrough,
        )
        for node in graph.layers
    ]


# --- chains and branches --------------------------------------------------------------


def test_layers_chain_by_default_and_the_last_one_is_the_output():
    graph = _expand("""\
        layers:
          - Conv2D: {filters: 4, kernel_size: 3}
          - Flatten:
          - Dense: {units: 2}
        """)
    assert _summary(graph) == [
        ("conv2d", "Conv2D", {"filters": 4, "kernel_size": 3}, ("image",)),
        ("flatten", "Flatten", {}, ("conv2d",)),
        ("dense", "Dense", {"units": 2}, ("flatten",)),
    ]
    assert graph.outputs == ("dense",)
    assert (graph.name, graph.inputs[0].shape, graph.inputs[0].dtype) == (
        "net",
        (8, 8, 3),
        "float32",
    )


def test_named_inputs_make_branches_and_merges():
    graph = _expand("""\
        layers:
          - Conv2D: {filters: 4, kernel_size: 3, padding: same, name: stem}
          - Conv2D: {filters: 4, kernel_size: 3, padding: same, name: left}
          - Conv2D: {filters: 4, kernel_size: 1, name: right, inputs: stem}
          - Add: {inputs: [left, right, stem]}
          - Concatenate: {inputs: [image, stem]}
        outputs: [left, right]
        """)
    assert [node.inputs for node in graph.layers] == [
        ("image",),
        ("stem",),
        ("stem",),
        ("left", "right", "stem"),
        ("image", "stem"),
    ]
    assert graph.outputs == ("left", "right")


def test_several_model_inputs():
    graph = expand(textwrap.dedent("""\
            kerasblocks: 1
            name: two
            inputs:
              tokens: {shape: [null], dtype: int32}
              features: {shape: [4]}
            layers:
              - Embedding: {input_dim: 100, output_dim: 4, inputs: tokens}
              - GlobalAveragePooling1D: {name: pooled}
              - Concatenate: {inputs: [features, pooled]}
            """))
    assert [(node.name, node.shape, node.dtype) for node in graph.inputs] == [
        ("tokens", (None,), "int32"),
        ("features", (4,), "float32"),
    ]
    assert graph.layers[-1].inputs == ("features", "pooled")


# --- defaults -------------------------------------------------------------------------


def test_defaults_apply_and_a_layer_overrides_them():
    graph = _expand("""\
        defaults:
          Conv2D: {kernel_size: 3, padding: same, activation: relu}
        layers:
          - Conv2D: {filters: 4}
          - Conv2D: {filters: 8, activation: null}
        """)
    assert [node.arguments for node in graph.layers] == [
        {"kernel_size": 3, "padding": "same", "activation": "relu", "filters": 4},
        {"kernel_size": 3, "padding": "same", "activation": None, "filters": 8},
    ]


def test_defaults_are_scoped_and_inner_ones_win():
    graph = _expand("""\
        defaults:
          Dense: {units: 1, activation: relu}
        layers:
          - Flatten: {}
          - scope: head
            defaults: {Dense: {activation: tanh}}
            layers:
              - Dense: {}
              - repeat: 1
                defaults: {Dense: {units: 3}}
                layers: [Dense: {}]
          - Dense: {}
        """)
    assert [node.arguments for node in graph.layers[1:]] == [
        {"units": 1, "activation": "tanh"},
        {"units": 3, "activation": "tanh"},
        {"units": 1, "activation": "relu"},
    ]
    origins = graph.layers[2].argument_origins
    assert origins["activation"].detail == "scope head: layers[1].defaults.Dense"
    assert origins["units"].detail == "layers[1].layers[1].defaults.Dense"
    assert graph.layers[3].argument_origins["activation"].detail == "defaults.Dense"


def test_defaults_reach_into_blocks_and_block_defaults_win():
    graph = _expand("""\
        defaults:
          Dense: {units: 1, activation: relu, use_bias: false}
        blocks:
          Head:
            defaults: {Dense: {activation: tanh}}
            layers: [Dense: {}]
        layers:
          - Flatten: {}
          - scope: wide
            defaults: {Dense: {units: 9}}
            layers: [Head: {}]
        """)
    assert graph.layers[1].arguments == {"units": 9, "activation": "tanh", "use_bias": False}


def test_defaults_can_give_block_params():
    graph = _expand("""\
        blocks:
          Fc:
            params: {units: required, activation: relu}
            layers: [Dense: {units: $units, activation: $activation}]
        defaults:
          Fc: {units: 5}
        layers:
          - Flatten: {}
          - Fc: {}
          - Fc: {units: 2, activation: null}
        """)
    assert [node.arguments for node in graph.layers[1:]] == [
        {"units": 5, "activation": "relu"},
        {"units": 2, "activation": None},
    ]


def test_defaults_values_are_evaluated_where_they_are_written():
    graph = _expand("""\
        layers:
          - Flatten: {}
          - repeat: 2
            index: i
            defaults: {Dense: {units: "${2 ** i}"}}
            layers: [Dense: {}]
        """)
    assert [node.arguments["units"] for node in graph.layers[1:]] == [1, 2]


# --- repeat and stack -----------------------------------------------------------------


def test_repeat_copies_a_sub_list_with_its_index_in_arguments_and_names():
    graph = _expand("""\
        vars: {depth: 3}
        layers:
          - repeat: $depth
            index: i
            layers:
              - Conv2D: {filters: "${8 * (i + 1)}", kernel_size: 3, name: "conv${i + 1}"}
              - ReLU: {}
          - repeat: 0
            layers: [Dense: {units: 1}]
        """)
    assert _summary(graph) == [
        ("conv1", "Conv2D", {"filters": 8, "kernel_size": 3}, ("image",)),
        ("re_lu", "ReLU", {}, ("conv1",)),
        ("conv2", "Conv2D", {"filters": 16, "kernel_size": 3}, ("re_lu",)),
        ("re_lu_1", "ReLU", {}, ("conv2",)),
        ("conv3", "Conv2D", {"filters": 24, "kernel_size": 3}, ("re_lu_1",)),
        ("re_lu_2", "ReLU", {}, ("conv3",)),
    ]


def test_repeat_bodies_can_refer_to_the_copy_before():
    graph = _expand("""\
        layers:
          - Conv2D: {filters: 4, kernel_size: 1, name: x0}
          - repeat: 2
            index: i
            layers:
              - Conv2D: {filters: 4, kernel_size: 1, name: "x${i + 1}"}
              - Add: {inputs: ["x$i", "x${i + 1}"], name: "sum${i}"}
        """)
    assert [node.inputs for node in graph.layers[1:]] == [
        ("x0",),
        ("x0", "x1"),
        ("sum0",),
        ("x1", "x2"),
    ]


def test_stack_gives_one_type_a_list_of_settings():
    graph = _expand("""\
        layers:
          - Flatten: {}
          - stack: Dense
            index: i
            defaults: {Dense: {activation: relu}}
            with: [{units: 32}, {units: 64, name: "fc$i"}, {units: 128, activation: null}]
        """)
    assert _summary(graph)[1:] == [
        ("dense", "Dense", {"activation": "relu", "units": 32}, ("flatten",)),
        ("fc1", "Dense", {"activation": "relu", "units": 64}, ("dense",)),
        ("dense_1", "Dense", {"activation": None, "units": 128}, ("fc1",)),
    ]


# --- blocks ---------------------------------------------------------------------------

CONV_BN = """\
blocks:
  ConvBN:
    params: {filters: required, kernel_size: 3, padding: same}
    layers:
      - Conv2D: {filters: $filters, kernel_size: $kernel_size, padding: $padding}
      - BatchNormalization: {}
"""


def test_a_block_expands_to_its_layers_named_after_the_use():
    graph = _expand(CONV_BN + """\
layers:
  - ConvBN: {filters: 8, name: stem}
  - ConvBN: {filters: 16, kernel_size: 1}
  - ConvBN: {filters: 32}
""")
    assert _summary(graph) == [
        ("stem_conv2d", "Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same"}, ("image",)),
        ("stem", "BatchNormalization", {}, ("stem_conv2d",)),
        (
            "conv_bn_conv2d",
            "Conv2D",
            {"filters": 16, "kernel_size": 1, "padding": "same"},
            ("stem",),
        ),
        ("conv_bn", "BatchNormalization", {}, ("conv_bn_conv2d",)),
        (
            "conv_bn_1_conv2d",
            "Conv2D",
            {"filters": 32, "kernel_size": 3, "padding": "same"},
            ("conv_bn",),
        ),
        ("conv_bn_1", "BatchNormalization", {}, ("conv_bn_1_conv2d",)),
    ]


def test_block_layers_are_located_at_the_use_and_remember_where_they_are_written():
    graph = _expand(CONV_BN + "layers:\n  - ConvBN: {filters: 8}\n")
    conv = graph.layers[0]
    assert (conv.location.line, conv.location.column) == (12, 5)  # the use
    assert (conv.definition.line, conv.definition.column) == (9, 9)  # inside the block
    assert conv.blocks == ("ConvBN",)


def test_block_params_defaults_may_use_earlier_params_and_vars():
    graph = _expand("""\
        vars: {ratio: 4}
        blocks:
          Bottleneck:
            params: {filters: required, reduced: "${filters // ratio}"}
            layers:
              - Conv2D: {filters: $reduced, kernel_size: 1}
              - Conv2D: {filters: $filters, kernel_size: 1}
        layers: [Bottleneck: {filters: 32}]
        """)
    assert [node.arguments["filters"] for node in graph.layers] == [8, 32]


def test_blocks_use_blocks_and_branch_inside():
    graph = expand(REPO / "tests/spec/data/inception_fashion_blocks.yaml")
    first = [node for node in graph.layers if node.name.startswith("stage0_a")]
    assert [node.name for node in first][-1] == "stage0_a_merge"
    assert first[-1].inputs == (
        "stage0_a_branch1",
        "stage0_a_branch2",
        "stage0_a_branch3",
        "stage0_a_branch4",
    )
    branch3 = [node for node in first if node.name.startswith("stage0_a_branch3")]
    assert branch3[0].inputs == ("stage0_a_conv_bn_re_lu",)  # the unnamed 3x3 before it
    assert branch3[0].blocks == ("Inception", "ConvBNReLU")
    assert graph.layers[-2].inputs == ("stage1_b_merge",)
    assert len(graph.layers) == 3 + 4 * 17 + 2  # stem, 4 x (5 x ConvBNReLU + pool + concat), head


def test_a_named_output_layer_keeps_its_name_and_the_use_name_refers_to_it():
    graph = _expand("""\
        blocks:
          Head:
            layers:
              - Flatten: {}
              - Dense: {units: 2, name: logits}
              - Dropout: {rate: 0.5}
            output: logits
        layers:
          - Head: {name: main}
          - Dense: {units: 1, inputs: main}
        outputs: [main]
        """)
    assert [node.name for node in graph.layers] == [
        "main_flatten",
        "main_logits",
        "main_dropout",
        "dense",
    ]
    assert graph.layers[-1].inputs == ("main_logits",)
    assert graph.outputs == ("main_logits",)


def test_blocks_with_several_inputs():
    graph = _expand("""\
        blocks:
          Merge:
            inputs: [left, right]
            layers:
              - Add: {inputs: [left, right]}
              - ReLU: {}
        layers:
          - Conv2D: {filters: 3, kernel_size: 1, name: a}
          - Merge: {inputs: [image, a], name: m}
        """)
    assert _summary(graph)[1:] == [
        ("m_add", "Add", {}, ("image", "a")),
        ("m", "ReLU", {}, ("m_add",)),
    ]


def test_block_bodies_see_vars_and_params_but_not_the_loop_around_their_use():
    error = _error("""\
        blocks:
          Fc:
            layers: [Dense: {units: "${i + 1}"}]
        layers:
          - Flatten: {}
          - repeat: 2
            index: i
            layers: [Fc: {}]
        """)
    assert (error.line, error.column, error.message) == (7, 32, "unknown name 'i'")


def test_names_inside_a_block_are_local_to_each_use():
    error = _error("""\
        blocks:
          Fc:
            layers: [Dense: {units: 1, inputs: image}]
        layers: [Flatten: {}, Fc: {}]
        """)
    assert error.message == "no layer or input named 'image' in block Fc"


# --- vars -----------------------------------------------------------------------------


def test_vars_may_use_each_other_in_any_order_and_be_overridden():
    body = """\
        vars: {width: "${base * 2}", base: 4, kernel: [3, 3]}
        layers:
          - Conv2D: {filters: $width, kernel_size: $kernel}
        """
    assert _expand(body).layers[0].arguments == {"filters": 8, "kernel_size": [3, 3]}
    assert _expand(body, {"base": 16}).layers[0].arguments == {"filters": 32, "kernel_size": [3, 3]}
    assert _expand(body, {"kernel": [5, 1]}).layers[0].arguments["kernel_size"] == [5, 1]


def test_vars_in_shapes_names_and_outputs():
    graph = expand(textwrap.dedent("""\
            kerasblocks: 1
            name: "net_${size}"
            vars: {size: 28, head: logits}
            inputs: {x: {shape: [$size, $size, 1], dtype: float16}}
            layers: [Flatten: {}, Dense: {units: 1, name: $head}]
            outputs: $head
            """))
    assert (graph.name, graph.inputs[0].shape, graph.inputs[0].dtype) == (
        "net_28",
        (28, 28, 1),
        "float16",
    )
    assert graph.outputs == ("logits",)


# --- names ----------------------------------------------------------------------------


def test_automatic_names_never_take_an_explicit_name():
    graph = _expand("""\
        layers:
          - Flatten: {}
          - Dense: {units: 1}
          - Dense: {units: 1, name: dense_1}
          - Dense: {units: 1}
        """)
    assert [node.name for node in graph.layers] == ["flatten", "dense", "dense_1", "dense_2"]


def test_plugin_and_kerasblocks_type_names():
    graph = _expand("""\
        layers:
          - kerasblocks>LRN: {depth_radius: 2}
          - my_package>FancyLayer: {anything: [1, 2]}
        """)
    assert _summary(graph) == [
        ("lrn", "kerasblocks>LRN", {"depth_radius": 2}, ("image",)),
        ("fancy_layer", "my_package>FancyLayer", {"anything": [1, 2]}, ("lrn",)),
    ]


# --- argument values ------------------------------------------------------------------


def test_object_arguments_short_forms_are_normalised():
    graph = _expand("""\
        vars: {wd: 0.0005}
        defaults:
          Conv2D: {kernel_regularizer: {L2: {l2: $wd}}, kernel_initializer: {HeNormal: {seed: 1}}}
        layers:
          - Conv2D:
              {filters: 1, kernel_size: 1, bias_initializer: zeros, bias_constraint: {NonNeg: null}}
          - Conv2D: {filters: 1, kernel_size: 1, kernel_regularizer: {class_name: L1, config: {l1: 0.1}}}
        """)
    first, second = (node.arguments for node in graph.layers)
    assert first["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.0005}}
    assert first["kernel_initializer"] == {"class_name": "HeNormal", "config": {"seed": 1}}
    assert first["bias_initializer"] == "zeros"
    assert first["bias_constraint"] == {"class_name": "NonNeg", "config": {}}
    assert second["kernel_regularizer"] == {"class_name": "L1", "config": {"l1": 0.1}}


# --- origins --------------------------------------------------------------------------


def test_every_argument_knows_where_its_value_came_from():
    graph = _expand("""\
        vars: {width: 8}
        defaults:
          Conv2D: {kernel_size: 3}
        blocks:
          Unit:
            params: {filters: required}
            layers: [Conv2D: {filters: $filters, padding: same}]
        layers:
          - Unit: {filters: $width}
          - Conv2D: {filters: "${width * 2}", strides: 1}
          - Flatten: {}
          - stack: Dense
            with: [{units: $width}, {units: 3}]
        """)
    origins = {
        (node.name, argument): (
            origin.kind,
            origin.detail,
            origin.location.line,
            origin.location.column,
        )
        for node in graph.layers
        for argument, origin in node.argument_origins.items()
    }
    assert origins == {
        ("unit", "kernel_size"): ("default", "defaults.Conv2D", 7, 25),
        ("unit", "filters"): ("block", "Unit param filters <- width", 13, 21),
        ("unit", "padding"): ("block", "Unit", 11, 51),
        ("conv2d", "kernel_size"): ("default", "defaults.Conv2D", 7, 25),
        ("conv2d", "filters"): ("var", "${width * 2} with width=8", 14, 23),
        ("conv2d", "strides"): ("layer", "", 14, 48),
        ("dense", "units"): ("var", "width", 5, 15),
        ("dense_1", "units"): ("stack", "Dense with[1]", 17, 37),
    }


# --- the expanded text ----------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda path: path.stem)
def test_the_expanded_text_expands_to_the_same_graph(path):
    graph = expand(path)
    text = format_expanded(graph)
    again = expand(text)
    assert _call_summary(again) == _call_summary(graph)
    assert again.inputs == tuple(
        type(node)(node.name, node.shape, node.dtype, again.inputs[index].location)
        for index, node in enumerate(graph.inputs)
    )
    assert again.outputs == graph.outputs
    assert again.warnings == ()


def test_the_expanded_text_shows_origins():
    vgg = SHIPPED_SPECS_DIR / "vgg16.yaml"
    lines = format_expanded(expand(vgg)).splitlines()
    assert lines[2:4] == ["kerasblocks: 1", "name: vgg16"]
    first_conv = lines.index(
        f"  - Conv2D:  # {vgg}:23:12, in block VGGStage written at {vgg}:18:18"
    )
    assert lines[first_conv + 1 : first_conv + 7] == [
        "      name: block1_conv1",
        "      inputs: image",
        f"      kernel_size: 3  # default: defaults.Conv2D ({vgg}:9:25)",
        f"      padding: same  # default: defaults.Conv2D ({vgg}:9:37)",
        f"      activation: relu  # default: defaults.Conv2D ({vgg}:9:55)",
        f"      filters: 64  # block: VGGStage param filters ({vgg}:23:22)",
    ]


@pytest.mark.parametrize(
    "value, text",
    [
        ("same", "same"),
        ("1e-4", '"1e-4"'),
        ("true", '"true"'),
        ("cost $5", '"cost $$5"'),
        ("", '""'),
        (1e-05, "1e-05"),
        (float("inf"), ".inf"),
        ([1, None, True], "[1, null, true]"),
        ({"class_name": "L2", "config": {"l2": 0.1}}, "{class_name: L2, config: {l2: 0.1}}"),
    ],
)
def test_flow_writes_values_the_parser_reads_back(value, text):
    assert flow(value) == text


# --- shipped specs, without Keras -----------------------------------------------------


def test_shipped_specs_expand_to_the_documented_networks():
    vgg = expand("vgg16")
    assert [node.name for node in vgg.layers][:3] == ["block1_conv1", "block1_conv2", "block1_pool"]
    assert sum(node.type == "Conv2D" for node in vgg.layers) == 13
    assert [node.arguments["units"] for node in vgg.layers if node.type == "Dense"] == [
        4096,
        4096,
        1000,
    ]
    inception = expand("inception_fashion", vars={"num_classes": 100})
    blocks = [node.arguments for node in inception.layers if node.type == "InceptionBlock"]
    assert blocks == [
        {"preset": "fashion", "filters": 16, "strides": 2},
        {"preset": "fashion", "filters": 16, "strides": 1},
        {"preset": "fashion", "filters": 32, "strides": 2},
        {"preset": "fashion", "filters": 32, "strides": 1},
    ]
    assert inception.layers[-1].arguments == {"units": 100}


def test_shipped_specs_are_short():
    for name, limit in (("vgg16", 27), ("inception_fashion", 26)):
        text = (SHIPPED_SPECS_DIR / f"{name}.yaml").read_text()
        lines = text.split("\ntrain:")[0].splitlines()  # the network; the train section aside
        content = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
        assert len(content) <= limit, name


def test_graph_records_the_spec():
    spec = load_spec(
        HEADER + "description: tiny\nlayers: [Flatten: {}]\ntrain: {epochs: 2}\n", file="tiny.yaml"
    )
    graph = expand(spec)
    assert (graph.file, graph.source_text, graph.description, graph.train) == (
        "tiny.yaml",
        spec.text,
        "tiny",
        {"epochs": 2},
    )
    assert graph.layers[0].location.file == "tiny.yaml"


def test_validating_and_expanding_never_imports_keras_or_tensorflow():
    code = textwrap.dedent(f"""\
        import sys
        from kerasblocks.spec.expand import expand
        from kerasblocks.spec.format import format_expanded
        from kerasblocks.spec.schema import schema_text
        from kerasblocks.spec.validate import validate
        from kerasblocks.spec import registry
        for path in {[str(path) for path in ALL_SPECS]!r}:
            validate(path)
            format_expanded(expand(path))
        schema_text()
        registry.signature("Conv2D")
        loaded = {{"keras", "tensorflow"}} & {{name.split(".")[0] for name in sys.modules}}
        assert not loaded, loaded
        """)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
