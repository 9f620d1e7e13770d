"""Graphviz DOT text for a network diagram: boxes, clusters, edges; no Keras.

`kerasblocks.plotting` reads a Keras model into a `Diagram`; `to_dot` writes
it as DOT. Every box gets a generated id (`n0`, `n1`, ...), so layer names
never appear in DOT syntax: they go only into HTML-like labels, escaped here
(`&`, `<`, `>`, quotes; control characters shown as `\\xNN`). Unicode passes
through, the file being UTF-8 (`charset="UTF-8"`).
"""

import dataclasses
import unicodedata

ROLES = ("input", "output", "layer", "composite", "operation")
CLUSTER_KINDS = ("layer", "block")

# Fill and border per role: inputs green, outputs blue, collapsed composite
# layers orange; operations (a composite's add and concatenate, keras.ops
# nodes such as `add`) small, plain white, dashed.
_ROLE_STYLES = {
    "input": {"fillcolor": "#dcefd6", "color": "#4f8f3f"},
    "output": {"fillcolor": "#d6e6f7", "color": "#2f6aa8", "penwidth": "1.6"},
    "layer": {},
    "composite": {"fillcolor": "#fde4c4", "color": "#c0762a"},
    "operation": {
        "fillcolor": "#ffffff",
        "style": "rounded,filled,dashed",
        "fontsize": "9",
        "margin": "0.06,0.02",
        "height": "0.3",
    },
}
_GRAPH_ATTRIBUTES = {
    "rankdir": "TB",
    "charset": "UTF-8",
    "fontname": "Helvetica",
    "fontsize": "14",
    "labelloc": "t",
    "nodesep": "0.25",
    "ranksep": "0.3",
    "newrank": "true",  # ranks across clusters: branches line up
}
_NODE_DEFAULTS = {
    "shape": "box",
    "style": "rounded,filled",
    "fillcolor": "#f4f4f4",
    "color": "#8a8a8a",
    "fontname": "Helvetica",
    "fontsize": "10",
    "margin": "0.12,0.04",
}
_EDGE_DEFAULTS = {
    "color": "#5c5c5c",
    "arrowsize": "0.6",
    "fontname": "Helvetica",
    "fontsize": "8",
    "fontcolor": "#7a7a7a",
}
_CLUSTER_STYLE = {
    "style": "rounded,filled",
    "fillcolor": "#fff6ea",
    "color": "#c0762a",
    "fontname": "Helvetica",
    "fontsize": "10",
    "labeljust": "l",
    "margin": "10",
}
# A spec block use: blue-grey and dashed, apart from the orange frames of
# composite layers and nested models; each level of nesting a shade darker.
_BLOCK_STYLE = {**_CLUSTER_STYLE, "style": "rounded,filled,dashed", "color": "#5b7fa6"}
_BLOCK_FILLS = ("#f3f6fa", "#e6edf5", "#d9e4f0", "#ccdaeb")
_TYPE_COLOR = "#4d4d4d"
_DETAIL_COLOR = "#7a7a7a"
_NOTE_COLOR = "#a05a1c"


@dataclasses.dataclass
class Box:
    """One drawn node: a layer, a model input, or an operation (an add or
    concatenate inside a composite, or a keras.ops node of the graph).

    id: the DOT node id (`n<k>`).
    name: the layer name, first line, bold.
    type: the layer class (or operation) name, second line; an operation
        whose name is its type ("add") shows it once.
    shapes: output shapes as text, one line each (a shared layer may have
        several).
    params: parameter count, shown when positive.
    role: one of `ROLES`; decides the colours.
    notes: what is applied to the output before it goes on ("then relu",
        "then × 0.1"): activations of composite layers are functions, not
        layers, so they annotate the box they follow.
    """

    id: str
    name: str
    type: str
    shapes: list = dataclasses.field(default_factory=list)
    params: int = 0
    role: str = "layer"
    notes: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Cluster:
    """A framed group of boxes: the inside of a composite layer or nested
    model, or the layers of one use of a spec block.

    id: the DOT subgraph id; it must start with `cluster` for Graphviz to
        draw a frame.
    name, type, shapes, params: the composite layer's (or the block use's
        name, its block's name, and the parameters of the layers inside),
        shown as the frame's label: "mixed InceptionBlock", for a block use
        "stage1_unit2 (Bottleneck)" (a use of a `model:` block: "enc (Encoder,
        Functional)").
    kind: one of `CLUSTER_KINDS`: "layer" (a composite layer or a nested
        model) or "block" (a spec block use); decides the label and colours.
    notes: further words for the label's second line ("also used as p2":
        a later use of the block that shares this one's layers).
    side_by_side: lists of box ids to keep on one row, left to right in
        that order (the heads of parallel branches). Left alone, Graphviz
        tends to draw an InceptionBlock's branches right to left.
    """

    id: str
    name: str
    type: str
    shapes: list = dataclasses.field(default_factory=list)
    params: int = 0
    boxes: list = dataclasses.field(default_factory=list)
    clusters: list = dataclasses.field(default_factory=list)
    side_by_side: list = dataclasses.field(default_factory=list)
    kind: str = "layer"
    notes: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Diagram:
    """A whole picture: top-level boxes and clusters, and the edges between
    box ids in graph order (a pair may repeat: `Add([x, x])` has two).

    An edge is `(source, target)`, or `(source, target, label)` to write a
    small label on it (`[1]`: which output of a layer with several it
    carries).
    """

    title: str
    boxes: list = dataclasses.field(default_factory=list)
    clusters: list = dataclasses.field(default_factory=list)
    edges: list = dataclasses.field(default_factory=list)


def to_dot(diagram):
    """Returns the DOT text of a `Diagram`."""
    lines = ["digraph model {"]
    graph_attributes = {**_GRAPH_ATTRIBUTES, "label": _html(f"<b>{escape(diagram.title)}</b>")}
    lines.append(f"  graph [{_attributes(graph_attributes)}];")
    lines.append(f"  node [{_attributes(_NODE_DEFAULTS)}];")
    lines.append(f"  edge [{_attributes(_EDGE_DEFAULTS)}];")
    for box in diagram.boxes:
        lines.append(_box_line(box, "  "))
    for cluster in diagram.clusters:
        lines.extend(_cluster_lines(cluster, "  "))
    for edge in diagram.edges:
        source, target, *label = edge
        if label and label[0] is not None:
            lines.append(f"  {source} -> {target} [label=<{escape(label[0])}>];")
        else:
            lines.append(f"  {source} -> {target};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def escape(text):
    """`text` made safe inside a Graphviz HTML-like label.

    Markup characters become entities; control characters (which XML, and so
    Graphviz's label parser, rejects) are shown as `\\xNN`.
    """
    out = []
    for char in str(text):
        if char == "&":
            out.append("&amp;")
        elif char == "<":
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        elif char == '"':
            out.append("&quot;")
        elif char == "'":
            out.append("&#39;")
        elif unicodedata.category(char) in ("Cc", "Cs"):
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def _box_line(box, indent):
    if box.role not in ROLES:
        raise ValueError(f"`role` must be one of {ROLES}. Received: role={box.role!r}")
    rows = [f"<b>{escape(box.name)}</b>"]
    if not (box.role == "operation" and box.type == box.name):  # "add", not "add / add"
        rows.append(_colored(box.type, _TYPE_COLOR))
    rows.extend(escape(shape) for shape in box.shapes)
    if box.params:
        rows.append(_colored(f"{box.params:,} params", _DETAIL_COLOR, size=8))
    rows.extend(_colored(note, _NOTE_COLOR, size=9) for note in box.notes)
    attributes = {"label": _html("<br/>".join(rows)), **_ROLE_STYLES[box.role]}
    return f"{indent}{box.id} [{_attributes(attributes)}];"


def _cluster_lines(cluster, indent, block_depth=0):
    if cluster.kind not in CLUSTER_KINDS:
        raise ValueError(
            f"`kind` must be one of {CLUSTER_KINDS}. Received: kind={cluster.kind!r}"
        )
    if cluster.kind == "block":
        type_text = f"({cluster.type})" if cluster.type else ""
        style = {**_BLOCK_STYLE, "fillcolor": _BLOCK_FILLS[min(block_depth, len(_BLOCK_FILLS) - 1)]}
        block_depth += 1
    else:
        type_text = cluster.type
        style = _CLUSTER_STYLE
    title = f"<b>{escape(cluster.name)}</b> {_colored(type_text, _TYPE_COLOR)}"
    details = list(cluster.shapes)
    if cluster.params:
        details.append(f"{cluster.params:,} params")
    details.extend(cluster.notes)
    if details:
        title += "<br/>" + _colored(", ".join(details), _DETAIL_COLOR, size=9)
    inner = indent + "  "
    lines = [f"{indent}subgraph {cluster.id} {{"]
    lines.append(f"{inner}graph [{_attributes({**style, 'label': _html(title)})}];")
    for box in cluster.boxes:
        lines.append(_box_line(box, inner))
    for child in cluster.clusters:
        lines.extend(_cluster_lines(child, inner, block_depth))
    for row in cluster.side_by_side:
        if len(row) > 1:  # invisible edges within one rank fix the left-to-right order
            lines.append(f"{inner}{{ rank=same; {' -> '.join(row)} [style=invis]; }}")
    lines.append(f"{indent}}}")
    return lines


def _colored(text, color, size=None):
    size_attribute = f' point-size="{size}"' if size else ""
    return f'<font color="{color}"{size_attribute}>{escape(text)}</font>'


class _Html(str):
    """An HTML-like label value, written between `<` and `>` instead of quotes."""


def _html(markup):
    return _Html(markup)


def _attributes(attributes):
    parts = []
    for key, value in attributes.items():
        if isinstance(value, _Html):
            parts.append(f"{key}=<{value}>")
        else:
            quoted = str(value).replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'{key}="{quoted}"')
    return ", ".join(parts)
