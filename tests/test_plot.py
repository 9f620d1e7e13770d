"""`kerasblocks plot` / `kerasblocks.api.plot`: the DOT against the Keras model,
composite layers expanded into frames, spec block uses as (nested) frames,
shared layers and shared block uses drawn once, keras.ops nodes, labelled
edges of multi-output layers, dict outputs, rendered files, errors, atomic
writes.

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
_EDGE_LINE = re.compile(r"^\s*(n\d+) -> (n\d+)(?: \[label=<([^>]*)>\])?;$", re.MULTILINE)
_FRAME_START = re.compile(r"^\s*subgraph (cluster\w*) \{$")
_FRAME_LABEL = re.compile(r"^\s*graph \[.*, label=<(.*)>\];$")
_TYPE_ROW = '<font color="#4d4d4d">'  # the second line of a box: its type


def _text(markup):
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _box(label, attributes):
    markup = label.split("<br/>")
    rows = [_text(row) for row in markup]
    # An operation named as its op ("add") shows the name alone.
    type_row = len(rows) > 1 and markup[1].startswith(_TYPE_ROW)
    return {
        "name": rows[0],
        "type": rows[1] if type_row else rows[0],
        "rows": rows[2:] if type_row else rows[1:],
        "attributes": dict(re.findall(r'(\w+)="([^"]*)"', attributes)),
    }


def _boxes(dot):
    """{box id: {"name", "type", "rows" (the label's further lines), "attributes"}}."""
    return {
        box_id: _box(label, attributes) for box_id, label, attributes in _BOX_LINE.findall(dot)
    }


def _edges(dot):
    """(source id, target id, label text or None) per edge, in DOT order."""
    return [
        (a, b, html.unescape(label) if label else None) for a, b, label in _EDGE_LINE.findall(dot)
    ]


def _named_edges(dot, boxes, labels=False):
    return [
        (boxes[a]["name"], boxes[b]["name"], *([label] if labels else []))
        for a, b, label in _edges(dot)
    ]


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


def _frames(dot):
    """Every frame (cluster), in DOT order: {"label" (its first line's text),
    "details" (the second line's), "parent" (the enclosing frame's label or
    None), "boxes" ({box id: box} directly inside), "inside" (the names of
    the boxes inside at any depth)}."""
    frames, open_frames = [], []
    for line in dot.splitlines():
        if _FRAME_START.match(line):
            parent = open_frames[-1]["label"] if open_frames else None
            frame = {"label": None, "details": "", "parent": parent, "boxes": {}, "inside": set()}
            frames.append(frame)
            open_frames.append(frame)
        elif open_frames and line.strip() == "}":
            open_frames.pop()
        elif open_frames and open_frames[-1]["label"] is None and _FRAME_LABEL.match(line):
            first, *rest = _FRAME_LABEL.match(line).group(1).split("<br/>")
            open_frames[-1]["label"] = _text(first)
            open_frames[-1]["details"] = _text(rest[0]) if rest else ""
        elif open_frames and _BOX_LINE.match(line):
            box_id, label, attributes = _BOX_LINE.match(line).groups()
            box = _box(label, attributes)
            open_frames[-1]["boxes"][box_id] = box
            for frame in open_frames:
                frame["inside"].add(box["name"])
    return frames


def _clusters(dot):
    """{frame label's first line: {box name: box}}, the boxes directly inside each frame."""
    return {
        frame["label"]: {box["name"]: box for box in frame["boxes"].values()}
        for frame in _frames(dot)
    }


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
        {box["name"]: box_id for box_id, box in frame["boxes"].items()} for frame in _frames(dot)
    ]
    same, down, mixed = frames
    into = {}
    for source, target, _ in _edges(dot):
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
    # The spec's one block use, the ConvBNReLU stem, is a frame even collapsed.
    stem = {"stem_conv2d", "stem_batch_normalization", "stem"}
    assert {label: set(boxes) for label, boxes in _clusters(to_dot(model)).items()} == {
        "stem (ConvBNReLU)": stem
    }
    clusters = _clusters(to_dot(model, expand_nested=True))
    assert set(clusters.pop("stem (ConvBNReLU)")) == stem
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


# --- what the spec adds: block uses, shared layers; ops and several outputs -----

# `first` and `second` use Unit twice; `stage1` nests two more uses of it.
BLOCKS_SPEC = textwrap.dedent(
    """\
    kerasblocks: 1
    name: blocky
    inputs:
      x: {shape: [6]}
    blocks:
      Unit:
        params: {units: required}
        layers:
          - Dense: {units: $units, name: fc}
          - ReLU: {name: act}
      Stage:
        params: {units: required}
        layers:
          - Unit: {units: $units, name: unit1}
          - Unit: {units: $units, name: unit2}
    layers:
      - Unit: {units: 4, name: first}
      - Unit: {units: 4, name: second}
      - Stage: {units: 3, name: stage1}
      - Dense: {units: 2, name: head}
    """
)
BLOCKS_FRAMES = {  # frame label: (enclosing frame, boxes directly inside, details)
    "first (Unit)": (None, {"first_fc", "first_act"}, "28 params"),  # 6 * 4 + 4
    "second (Unit)": (None, {"second_fc", "second_act"}, "20 params"),  # 4 * 4 + 4
    "stage1 (Stage)": (None, set(), "27 params"),  # the units': 15 + 12
    "stage1_unit1 (Unit)": (
        "stage1 (Stage)", {"stage1_unit1_fc", "stage1_unit1_act"}, "15 params"
    ),
    "stage1_unit2 (Unit)": (
        "stage1 (Stage)", {"stage1_unit2_fc", "stage1_unit2_act"}, "12 params"
    ),
}

# A layer called twice (`share:`), and a block use sharing the first use's layers.
SHARING_SPEC = textwrap.dedent(
    """\
    kerasblocks: 1
    name: sharing
    inputs:
      a: {shape: [5]}
      b: {shape: [5]}
    blocks:
      Proj:
        layers:
          - Dense: {units: 4, name: fc}
          - Dense: {units: 2, name: out}
    layers:
      - Dense: {units: 5, name: shared, inputs: a}
      - Dense: {share: shared, inputs: b, name: shared_again}
      - Proj: {name: p1, inputs: shared}
      - Proj: {share: p1, inputs: b, name: p2}
      - Concatenate: {inputs: [p1, p2, shared_again], name: both}
    """
)


@pytest.fixture(scope="module")
def blocks_model():
    return api.build(BLOCKS_SPEC)


def test_each_block_use_is_a_labelled_frame_of_its_layers(blocks_model):
    dot = to_dot(blocks_model)
    frames = _frames(dot)
    assert {
        frame["label"]: (
            frame["parent"], {box["name"] for box in frame["boxes"].values()}, frame["details"]
        )
        for frame in frames
    } == BLOCKS_FRAMES
    stage = next(frame for frame in frames if frame["label"] == "stage1 (Stage)")
    assert stage["inside"] == {
        "stage1_unit1_fc", "stage1_unit1_act", "stage1_unit2_fc", "stage1_unit2_act"
    }
    # The frames only group: the boxes and edges are the model's, as before.
    boxes = _boxes(dot)
    assert sorted(box["name"] for box in boxes.values()) == sorted(
        layer.name for layer in blocks_model.layers
    )
    assert sorted(_named_edges(dot, boxes)) == sorted(_config_edges(blocks_model))
    outside = {box["name"] for box in boxes.values()} - set().union(
        *(frame["inside"] for frame in frames)
    )
    assert outside == {"x", "head"}
    # Nested frames: the block style, each level a shade darker; composite frames stay orange.
    fills = re.findall(r'subgraph cluster\d+ \{\n\s*graph \[style="rounded,filled,dashed", '
                       r'fillcolor="(#\w+)"', dot)
    assert fills == ["#f3f6fa", "#f3f6fa", "#f3f6fa", "#e6edf5", "#e6edf5"]


def test_frames_come_from_the_spec_and_a_plain_keras_model_has_none(blocks_model, tmp_path):
    dot = to_dot(blocks_model)
    # The same network written in Keras, same names: no spec, so no frames;
    # boxes and edges as with the spec.
    x = keras.Input((6,), name="x")
    y = x
    for name, units in [("first", 4), ("second", 4), ("stage1_unit1", 3), ("stage1_unit2", 3)]:
        y = keras.layers.ReLU(name=f"{name}_act")(keras.layers.Dense(units, name=f"{name}_fc")(y))
    plain = keras.Model(x, keras.layers.Dense(2, name="head")(y), name="blocky")
    plain_dot = to_dot(plain)
    assert "subgraph" not in plain_dot
    assert sorted(_named_edges(plain_dot, _boxes(plain_dot))) == sorted(
        _named_edges(dot, _boxes(dot))
    )
    # A graph that does not fit the model (other layer names) draws no frames either.
    assert "subgraph" not in to_dot(blocks_model, graph=api.expand(SHARING_SPEC))
    # The spec a model remembers comes along into its .keras file.
    loaded = api.load_model(api.save_model(blocks_model, tmp_path / "blocky.keras"))
    assert to_dot(loaded) == dot
    assert api.plot(BLOCKS_SPEC, tmp_path / "blocky.dot").read_text(encoding="utf-8") == dot


def test_a_shared_layer_and_a_shared_block_use_are_drawn_once_with_an_edge_per_call():
    model = api.build(SHARING_SPEC)
    dot = to_dot(model)
    boxes = _boxes(dot)
    by_name = {box["name"]: box for box in boxes.values()}
    # One box per layer object: the calls that share one have none.
    assert sorted(by_name) == ["a", "b", "both", "p1_fc", "p1_out", "shared"]
    assert "also called as shared_again" in by_name["shared"]["rows"]
    edges = _named_edges(dot, boxes)
    assert sorted(edges) == sorted(_config_edges(model))
    into = {}
    for source, target in edges:
        into.setdefault(target, []).append(source)
    assert into["shared"] == ["a", "b"]  # two calls, one set of weights
    assert into["p1_fc"] == ["shared", "b"]  # p1's call, then p2's
    assert into["p1_out"] == ["p1_fc", "p1_fc"]
    assert into["both"] == ["p1_out", "p1_out", "shared"]  # [p1, p2, shared_again]
    # p2 shares p1: no frame of its own, its name noted on p1's.
    frames = _frames(dot)
    assert [frame["label"] for frame in frames] == ["p1 (Proj)"]
    assert {box["name"] for box in frames[0]["boxes"].values()} == {"p1_fc", "p1_out"}
    assert frames[0]["details"] == "34 params, also used as p2"  # 5 * 4 + 4 + 4 * 2 + 2


def test_operations_keras_adds_stay_outside_the_frames():
    # mask_zero: Keras computes the mask with a not_equal of its own; no spec
    # names it, and the frames are drawn all the same.
    spec = textwrap.dedent(
        """\
        kerasblocks: 1
        name: masked
        inputs:
          tokens: {shape: [5], dtype: int32}
        blocks:
          Embed:
            layers:
              - Embedding: {input_dim: 10, output_dim: 4, mask_zero: true, name: emb}
              - LSTM: {units: 3, name: rnn}
        layers:
          - Embed: {name: text}
        """
    )
    dot = to_dot(api.build(spec))
    frames = _frames(dot)
    assert [frame["label"] for frame in frames] == ["text (Embed)"]
    assert frames[0]["inside"] == {"text_emb", "text_rnn"}
    boxes = _boxes(dot)
    (mask,) = [box for box in boxes.values() if box["type"] == "not_equal"]
    assert mask["attributes"]["style"] == "rounded,filled,dashed"
    assert ("tokens", mask["name"]) in _named_edges(dot, boxes)
    assert (mask["name"], "text_rnn") in _named_edges(dot, boxes)


def test_block_frames_hold_expanded_composites_and_nested_models():
    spec = textwrap.dedent(
        """\
        kerasblocks: 1
        name: towers
        inputs:
          image: {shape: [4, 4, 4]}
        blocks:
          Unit:
            layers:
              - Conv2D: {filters: 4, kernel_size: 1, name: conv}
              - ResidualUnit: {filters: 4, name: res}
          Tower:
            model: functional
            layers:
              - Unit: {name: u1}
              - Conv2D: {filters: 4, kernel_size: 1, name: proj}
        layers:
          - Unit: {name: pre}
          - Tower: {name: t1}
          - Tower: {share: t1, name: t2}
          - GlobalAveragePooling2D: {name: pool}
        """
    )
    model = api.build(spec)
    collapsed = to_dot(model)
    assert [frame["label"] for frame in _frames(collapsed)] == ["pre (Unit)"]
    by_name = {box["name"]: box for box in _boxes(collapsed).values()}
    assert by_name["t1"]["type"] == "Functional"
    assert "also called as t2" in by_name["t1"]["rows"]

    frames = {frame["label"]: frame for frame in _frames(to_dot(model, expand_nested=True))}
    assert {label: frame["parent"] for label, frame in frames.items()} == {
        "pre (Unit)": None,
        "pre_res ResidualUnit": "pre (Unit)",
        "t1 (Tower, Functional)": None,  # a use of a `model:` block: its nested model
        "u1 (Unit)": "t1 (Tower, Functional)",  # names inside a nested model are its own
        "u1_res ResidualUnit": "u1 (Unit)",
    }
    assert {box["name"] for box in frames["pre (Unit)"]["boxes"].values()} == {"pre_conv"}
    assert {"bn1", "conv1", "add"} <= frames["pre_res ResidualUnit"]["inside"]
    assert frames["t1 (Tower, Functional)"]["details"].endswith("also called as t2")


def test_op_nodes_are_small_boxes_named_by_their_op():
    spec = textwrap.dedent(
        """\
        kerasblocks: 1
        name: opsy
        inputs:
          x: {shape: [4]}
        layers:
          - Dense: {units: 4, name: d}
          - add: {x2: 3.0}
          - multiply: {x2: d, name: scaled}
          - Dense: {units: 2, name: out}
        """
    )
    model = api.build(spec)
    dot = to_dot(model)
    boxes = _boxes(dot)
    by_name = {box["name"]: box for box in boxes.values()}
    assert set(by_name) == {"x", "d", "add", "scaled", "out"}
    assert (by_name["add"]["type"], by_name["add"]["rows"]) == ("add", ["(None, 4)"])
    assert (by_name["scaled"]["type"], by_name["scaled"]["rows"]) == ("multiply", ["(None, 4)"])
    for name in ("add", "scaled"):
        assert by_name[name]["attributes"]["style"] == "rounded,filled,dashed"
        assert by_name[name]["attributes"]["fontsize"] == "9"
    assert sorted(_named_edges(dot, boxes)) == sorted(_config_edges(model))
    assert sorted(_named_edges(dot, boxes)) == sorted(
        [("x", "d"), ("d", "add"), ("add", "scaled"), ("d", "scaled"), ("scaled", "out")]
    )
    # Operations in a plain Keras model too, named by the keras.ops function.
    x = keras.Input((3,), name="x")
    plain = keras.Model(x, keras.ops.mean(x[:, :2], axis=-1), name="plain")
    types = sorted(box["type"] for box in _boxes(to_dot(plain)).values())
    assert types == ["InputLayer", "get_item", "mean"]


def test_outputs_of_a_layer_with_several_are_labelled_on_their_edges():
    spec = textwrap.dedent(
        """\
        kerasblocks: 1
        name: recurrent
        inputs:
          x: {shape: [7, 3]}
        layers:
          - LSTM: {units: 4, return_sequences: true, return_state: true, name: lstm}
          - Dense: {units: 2, inputs: lstm.0, name: head}
          - LSTM: {units: 5, inputs: {sequences: x, initial_state: [lstm.1, lstm.2]}, name: dec}
        outputs: {a: head, b: dec}
        """
    )
    model = api.build(spec)
    dot = to_dot(model)
    boxes = _boxes(dot)
    assert sorted(_named_edges(dot, boxes)) == sorted(_config_edges(model))
    assert sorted(_named_edges(dot, boxes, labels=True), key=str) == sorted(
        [
            ("x", "lstm", None),
            ("lstm", "head", "[0]"),
            ("x", "dec", None),
            ("lstm", "dec", "[1]"),
            ("lstm", "dec", "[2]"),
        ],
        key=str,
    )
    by_name = {box["name"]: box for box in boxes.values()}
    assert by_name["lstm"]["rows"] == [  # 4 gates * 4 units * (3 inputs + 4 + 1)
        "[0] (None, 7, 4)", "[1] (None, 4)", "[2] (None, 4)", "128 params"
    ]
    # Dict outputs: each output box notes its key; the LSTMs' tanh is inside their cells.
    assert by_name["head"]["rows"][-1] == "output 'a'"
    assert by_name["dec"]["rows"][-1] == "output 'b'"
    assert not any("then" in row for row in by_name["lstm"]["rows"] + by_name["dec"]["rows"])
    assert by_name["head"]["attributes"]["fillcolor"] == by_name["dec"]["attributes"]["fillcolor"]


@needs_graphviz
def test_frames_and_labelled_edges_render(tmp_path):
    path = api.plot(SHARING_SPEC, tmp_path / "sharing.svg")
    texts = {element.text for element in ET.parse(path).iter("{http://www.w3.org/2000/svg}text")}
    assert {"p1", "(Proj)", "shared", "p1_fc", "p1_out"} <= texts
    assert "p2" not in texts and "shared_again" not in texts
    groups = [
        element.get("id")
        for element in ET.parse(path).iter("{http://www.w3.org/2000/svg}g")
        if element.get("class") == "cluster"
    ]
    assert len(groups) == 1


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
    assert len(_edges(dot)) == 4
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
