"""`kerasblocks plot` / `kerasblocks.api.plot`: the DOT against the Keras model,
composite layers expanded into frames, rendered files, errors, atomic writes.

Boxes and edges are read back from the DOT text and compared with references
taken independently: the model's serialized config (`inbound_nodes`) for the
edges, shapes and parameter counts written out by hand, the sublayer names the
composite layers document.
"""

import html
import os
import re
import shutil
import stat
import textwrap
import xml.etree.ElementTree as ET

import keras
import pytest

from kerasblocks import _dot, api, cli
from kerasblocks.errors import UsageError
from kerasblocks.plotting import to_dot

needs_graphviz = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed"
)

# Three parallel branches into a Concatenate, an Add taking the same tensor
# twice (two edges), two outputs.
BRANCH_SPEC = textwrap.dedent(
    """\
    kerasblocks: 1
    name: branchy
    inputs:
      image: {shape: [8, 8, 3]}
    layers:
      - Conv2D: {filters: 4, kernel_size: 3, padding: same, activation: relu, name: stem}
      - Conv2D: {filters: 2, kernel_size: 1, name: left, inputs: stem}
      - Conv2D: {filters: 3, kernel_size: 3, padding: same, name: middle, inputs: stem}
      - MaxPooling2D: {pool_size: 3, strides: 1, padding: same, name: right, inputs: stem}
      - Concatenate: {inputs: [left, middle, right], name: merge}
      - Add: {inputs: [merge, merge], name: twice}
      - Flatten: {name: flat}
      - Dense: {units: 5, activation: softmax, name: probs}
      - Dense: {units: 1, name: aux, inputs: flat}
    outputs: [probs, aux]
    """
)
BRANCH_SHAPES = {  # by hand: 'same' padding keeps 8x8; 2 + 3 + 4 channels concatenated
    "image": "(None, 8, 8, 3)",
    "stem": "(None, 8, 8, 4)",
    "left": "(None, 8, 8, 2)",
    "middle": "(None, 8, 8, 3)",
    "right": "(None, 8, 8, 4)",
    "merge": "(None, 8, 8, 9)",
    "twice": "(None, 8, 8, 9)",
    "flat": "(None, 576)",
    "probs": "(None, 5)",
    "aux": "(None, 1)",
}

COMPOSITE_SPEC = textwrap.dedent(
    """\
    kerasblocks: 1
    name: composites
    inputs:
      image: {shape: [16, 16, 3]}
    layers:
      - Conv2D: {filters: 8, kernel_size: 3, padding: same, name: stem}
      - ResidualUnit: {filters: 8, name: same_unit}
      - ResidualUnit: {filters: 16, strides: 2, variant: postact, bottleneck: true, name: down_unit}
      - InceptionBlock: {preset: v1, filters: [8, 8, 8, 4, 8, 8], name: mixed}
      - GlobalAveragePooling2D: {name: pool}
      - Dense: {units: 3, name: logits}
    """
)

_BOX_LINE = re.compile(r"^\s*(n\d+) \[label=<(.*?)>((?:, \w+=\"[^\"]*\")*)\];$", re.MULTILINE)
_EDGE_LINE = re.compile(r"^\s*(n\d+) -> (n\d+);$", re.MULTILINE)
_CLUSTER = re.compile(r"^\s*subgraph (cluster\w*) \{\n(.*?)^\s*\}$", re.MULTILINE | re.DOTALL)


def _text(markup):
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _boxes(dot):
    """{box id: {"name", "type", "rows" (the label's further lines), "attributes"}}."""
    boxes = {}
    for box_id, label, attributes in _BOX_LINE.findall(dot):
        rows = [_text(row) for row in label.split("<br/>")]
        boxes[box_id] = {
            "name": rows[0],
            "type": rows[1],
            "rows": rows[2:],
            "attributes": dict(re.findall(r'(\w+)="([^"]*)"', attributes)),
        }
    return boxes


def _named_edges(dot, boxes):
    return [(boxes[a]["name"], boxes[b]["name"]) for a, b in _EDGE_LINE.findall(dot)]


def _config_edges(model):
    """(source layer, target layer) per input tensor, from the model's config."""
    def tensors(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from tensors(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from tensors(item)

    return [
        (tensor["config"]["keras_history"][0], layer["name"])
        for layer in model.get_config()["layers"]
        for tensor in tensors(layer["inbound_nodes"])
    ]


def _clusters(dot):
    """{cluster label's first line: {box name: box}} for un-nested clusters."""
    clusters = {}
    for _, body in _CLUSTER.findall(dot):
        label = re.search(r"label=<(.*?)>\];$", body, re.MULTILINE).group(1)
        clusters[_text(label.split("<br/>")[0])] = {
            box["name"]: box for box in _boxes(body).values()
        }
    return clusters


@pytest.fixture(scope="module")
def branch_model():
    return api.build(BRANCH_SPEC)


@pytest.fixture(scope="module")
def composite_model():
    return api.build(COMPOSITE_SPEC)


# --- the graph ----------------------------------------------------------------


def test_one_box_per_layer_with_name_type_shape_and_params(branch_model):
    dot = to_dot(branch_model)
    boxes = _boxes(dot)
    config_layers = {
        layer["name"]: layer["class_name"] for layer in branch_model.get_config()["layers"]
    }
    assert sorted(box["name"] for box in boxes.values()) == sorted(config_layers)
    for box in boxes.values():
        assert box["type"] == config_layers[box["name"]]
        assert box["rows"][0] == BRANCH_SHAPES[box["name"]]
    by_name = {box["name"]: box for box in boxes.values()}
    assert "2,885 params" in by_name["probs"]["rows"]  # 576 * 5 + 5
    assert "112 params" in by_name["stem"]["rows"]  # 3 * 3 * 3 * 4 + 4
    assert not any("params" in row for row in by_name["merge"]["rows"])
    assert "then relu" in by_name["stem"]["rows"]
    assert "then softmax" in by_name["probs"]["rows"]


def test_edges_are_exactly_the_models_connections(branch_model):
    dot = to_dot(branch_model)
    edges = _named_edges(dot, _boxes(dot))
    assert sorted(edges) == sorted(_config_edges(branch_model))
    assert edges.count(("merge", "twice")) == 2  # Add([merge, merge])
    assert len(edges) == 12


def test_inputs_and_outputs_are_styled_apart(branch_model):
    boxes = {box["name"]: box for box in _boxes(to_dot(branch_model)).values()}
    fill = {name: box["attributes"].get("fillcolor") for name, box in boxes.items()}
    others = {fill[name] for name in boxes if name not in ("image", "probs", "aux")}
    assert fill["probs"] == fill["aux"]
    assert len({fill["image"], fill["probs"], *others}) == 3


def test_expand_nested_draws_composites_as_frames_of_their_sublayers(composite_model):
    collapsed = to_dot(composite_model)
    assert "subgraph" not in collapsed
    types = {box["name"]: box["type"] for box in _boxes(collapsed).values()}
    assert types["mixed"] == "InceptionBlock" and types["down_unit"] == "ResidualUnit"

    dot = to_dot(composite_model, expand_nested=True)
    clusters = _clusters(dot)
    assert set(clusters) == {
        "same_unit ResidualUnit", "down_unit ResidualUnit", "mixed InceptionBlock"
    }
    # The sublayer names ResidualUnit and InceptionBlock document, plus the merge.
    assert set(clusters["same_unit ResidualUnit"]) == {"bn1", "conv1", "bn2", "conv2", "add"}
    assert set(clusters["down_unit ResidualUnit"]) == {
        "conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "shortcut_conv", "shortcut_bn", "add"
    }
    assert set(clusters["mixed InceptionBlock"]) == {
        "branch0_step0_conv",
        "branch1_step0_conv", "branch1_step1_conv",
        "branch2_step0_conv", "branch2_step1_conv",
        "branch3_step0_maxpool", "branch3_step1_conv",
        "concatenate",
    }
    # Shapes by hand: the unit halves 16x16, its bottleneck has 16 // 4 channels;
    # the v1 block concatenates 8 + 8 + 8 + 8 channels.
    down = clusters["down_unit ResidualUnit"]
    assert down["conv1"]["rows"][0] == "(None, 8, 8, 4)"
    assert down["shortcut_conv"]["rows"][0] == "(None, 8, 8, 16)"
    assert "then relu" in down["add"]["rows"]  # postact: activation after the add
    mixed = clusters["mixed InceptionBlock"]
    assert mixed["branch2_step0_conv"]["rows"][0] == "(None, 8, 8, 4)"
    assert mixed["concatenate"]["rows"][0] == "(None, 8, 8, 32)"
    # The unexpanded layers are all there, outside the frames.
    outside = {box["name"] for box in _boxes(dot).values()} - {
        name for members in clusters.values() for name in members
    }
    assert outside == {"image", "stem", "pool", "logits"}


def test_expanded_edges_follow_each_composites_dataflow(composite_model):
    dot = to_dot(composite_model, expand_nested=True)
    named = {box_id: box["name"] for box_id, box in _boxes(dot).items()}
    frames = [  # in model order: {sublayer name: box id}
        {box["name"]: box_id for box_id, box in _boxes(body).items()}
        for _, body in _CLUSTER.findall(dot)
    ]
    same, down, mixed = frames
    into = {}
    for source, target in _EDGE_LINE.findall(dot):
        into.setdefault(target, []).append(source)
    stem = next(box_id for box_id, name in named.items() if name == "stem")
    pool = next(box_id for box_id, name in named.items() if name == "pool")
    # Identity pre-activation unit: the input goes to bn1 and straight to the add.
    assert into[same["bn1"]] == [stem]
    assert sorted(named[s] for s in into[same["add"]]) == ["conv2", "stem"]
    # Projection unit: conv1 and shortcut_conv both read the previous unit's add.
    assert into[down["conv1"]] == [same["add"]]
    assert into[down["shortcut_conv"]] == [same["add"]]
    assert sorted(named[s] for s in into[down["add"]]) == ["bn3", "shortcut_bn"]
    # Four branches from the previous add, merged by the concatenation.
    heads = ["branch0_step0_conv", "branch1_step0_conv", "branch2_step0_conv",
             "branch3_step0_maxpool"]
    assert all(into[mixed[head]] == [down["add"]] for head in heads)
    assert sorted(named[s] for s in into[mixed["concatenate"]]) == [
        "branch0_step0_conv", "branch1_step1_conv", "branch2_step1_conv", "branch3_step1_conv"
    ]
    assert into[pool] == [mixed["concatenate"]]
    # Branches are kept left to right in order: an invisible chain on one rank.
    assert f"rank=same; {' -> '.join(mixed[head] for head in heads)} [style=invis]" in dot


def test_inception_fashion_expands_its_four_blocks():
    model = api.build("inception_fashion")
    assert "subgraph" not in to_dot(model)
    clusters = _clusters(to_dot(model, expand_nested=True))
    assert len(clusters) == 4
    for label, members in clusters.items():
        assert label.endswith(" InceptionBlock")
        assert "concatenate" in members
        assert sum(1 for box in members.values() if box["type"] == "Conv2D") == 5


def test_nested_model_and_shared_layer(tmp_path):
    inner_input = keras.Input((3,), name="inner_in")
    inner = keras.Model(
        inner_input, keras.layers.Dense(2, name="inner_dense")(inner_input), name="inner"
    )
    x = keras.Input((3,), name="x")
    shared = keras.layers.Dense(2, name="shared")
    y = inner(x)
    model = keras.Model(x, keras.layers.Add(name="sum")([shared(y), shared(x[:, :2] * 0 + y)]))

    collapsed = to_dot(model)
    names = [box["name"] for box in _boxes(collapsed).values()]
    assert names.count("shared") == 1 and "inner" in names and "inner_dense" not in names

    dot = to_dot(model, expand_nested=True)
    boxes = _boxes(dot)
    edges = _named_edges(dot, boxes)
    assert set(_clusters(dot)["inner Functional"]) == {"inner_in", "inner_dense"}
    assert ("x", "inner_in") in edges and ("inner_dense", "shared") in edges
    assert [edge for edge in edges if edge[1] == "sum"] == [("shared", "sum"), ("shared", "sum")]


def test_a_model_without_a_graph_is_a_usage_error():
    class Subclassed(keras.Model):
        def call(self, inputs):
            return inputs

    with pytest.raises(UsageError, match=r"cannot draw model .*no graph of layers"):
        to_dot(Subclassed(name="sub"))
    with pytest.raises(UsageError, match="no graph of layers"):
        to_dot(keras.Sequential([keras.layers.Dense(2)]))


def test_names_with_markup_and_unicode_are_escaped(tmp_path):
    names = ['a"<b>&amp;', "it's ]} -> {", "名前 ünï", "in put"]
    x = keras.Input((4,), name=names[3])
    a = keras.layers.Dense(3, name=names[0])(x)
    b = keras.layers.Dense(3, name=names[1])(x)
    model = keras.Model(x, keras.layers.Add(name=names[2])([a, b]), name="m <&> 'q'")
    dot = to_dot(model)
    assert sorted(box["name"] for box in _boxes(dot).values()) == sorted(names)
    assert len(_EDGE_LINE.findall(dot)) == 4
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    path = api.plot(model, tmp_path / "weird.svg")
    texts = [element.text for element in ET.parse(path).iter("{http://www.w3.org/2000/svg}text")]
    assert set(names) | {"m <&> 'q'"} <= set(texts)


def test_control_characters_are_shown_not_passed_to_graphviz():
    assert _dot.escape("a\tb\n<c>") == "a\\x09b\\x0a&lt;c&gt;"


# --- files and the command line -------------------------------------------------


@needs_graphviz
def test_cli_writes_svg_with_every_layer_name(tmp_path, capsys):
    spec = tmp_path / "branchy.yaml"
    spec.write_text(BRANCH_SPEC)
    output = tmp_path / "net.svg"
    assert cli.main(["plot", str(spec), "-o", str(output)]) == 0
    assert capsys.readouterr().out == f"Wrote {output}\n"
    texts = {element.text for element in ET.parse(output).iter("{http://www.w3.org/2000/svg}text")}
    assert set(BRANCH_SHAPES) <= texts
    assert set(BRANCH_SHAPES.values()) <= texts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["branchy.yaml", "net.svg"]


@needs_graphviz
@pytest.mark.parametrize("suffix, signature", [(".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF-")])
def test_cli_writes_png_and_pdf(tmp_path, suffix, signature):
    spec = tmp_path / "composites.yaml"
    spec.write_text(COMPOSITE_SPEC)
    output = tmp_path / f"net{suffix}"
    assert cli.main(["plot", str(spec), "--expand-nested", "-o", str(output)]) == 0
    assert output.read_bytes().startswith(signature)


def test_dot_output_needs_no_graphviz_and_keras_files_plot_like_their_model(
    composite_model, tmp_path, monkeypatch
):
    saved = api.save_model(composite_model, tmp_path / "model.keras")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for expand_nested in (False, True):
        path = api.plot(saved, tmp_path / "net.dot", expand_nested=expand_nested)
        # The loaded model draws exactly as the model it was saved from.
        assert path.read_text(encoding="utf-8") == to_dot(
            composite_model, expand_nested=expand_nested
        )
    with pytest.raises(UsageError, match=r"vars \(filters\) apply to specs"):
        api.plot(saved, tmp_path / "again.dot", filters=3)


@needs_graphviz
def test_cli_plots_a_keras_file(composite_model, tmp_path, capsys):
    saved = api.save_model(composite_model, tmp_path / "model.keras")
    output = tmp_path / "model.svg"
    assert cli.main(["plot", str(saved), "-o", str(output)]) == 0
    texts = {element.text for element in ET.parse(output).iter("{http://www.w3.org/2000/svg}text")}
    assert {"same_unit", "down_unit", "mixed", "ResidualUnit", "InceptionBlock"} <= texts


def test_missing_graphviz_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot` to be found
    message = (
        "Graphviz's `dot` was not found; install it (Debian/Ubuntu: `apt-get install "
        "graphviz`, macOS: `brew install graphviz`) or write .dot output"
    )
    with pytest.raises(UsageError) as raised:
        api.plot(BRANCH_SPEC, tmp_path / "net.png")
    assert str(raised.value) == message

    spec = tmp_path / "branchy.yaml"
    spec.write_text(BRANCH_SPEC)
    output = tmp_path / "net.svg"
    assert cli.main(["plot", str(spec), "-o", str(output)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"kerasblocks: error: {message}\n"
    assert "Traceback" not in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["branchy.yaml"]


def test_unknown_suffix_lists_the_formats_before_building_anything(tmp_path):
    with pytest.raises(UsageError, match=r"net\.jpg.*\.svg, \.png, \.pdf, \.dot"):
        api.plot(object(), tmp_path / "net.jpg")  # not even a source: never read


def _fake_dot(tmp_path, script):
    folder = tmp_path / "fake_bin"
    folder.mkdir()
    executable = folder / "dot"
    executable.write_text("#!/bin/sh\n" + script)
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR)
    return folder


def test_failing_dot_keeps_the_earlier_file_and_leaves_no_partial_one(
    branch_model, tmp_path, monkeypatch
):
    # A `dot` that writes half a file to its -o argument, then fails.
    fake_bin = _fake_dot(
        tmp_path,
        'while [ "$1" != "-o" ]; do shift; done\n'
        'echo "<svg partial" > "$2"\n'
        'echo "Error: <stdin>: syntax error in line 3" >&2\n'
        'echo "second line" >&2\n'
        "exit 1\n",
    )
    monkeypatch.setenv("PATH", str(fake_bin))
    output = tmp_path / "out" / "net.svg"
    output.parent.mkdir()
    output.write_bytes(b"<svg>the earlier picture</svg>")
    with pytest.raises(UsageError) as raised:
        api.plot(branch_model, output)
    assert str(raised.value) == (
        f"Graphviz's `dot` could not draw {output}: Error: <stdin>: syntax error in line 3"
    )
    assert output.read_bytes() == b"<svg>the earlier picture</svg>"
    assert os.listdir(output.parent) == ["net.svg"]


def test_missing_output_folder_is_a_cli_error(tmp_path, capsys):
    output = tmp_path / "no_such_folder" / "net.dot"
    assert cli.main(["plot", "inception_fashion", "-o", str(output)]) == 2
    assert "no_such_folder" in capsys.readouterr().err
    assert not output.parent.exists()
