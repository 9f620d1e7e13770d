"""`plot`: a picture of a network's graph, with layer names, types and shapes.

    kerasblocks.plot("googlenet", "googlenet.svg")
    kerasblocks.plot("inception_fashion", "net.png", expand_nested=True)

Why DOT written here and rendered by Graphviz's `dot` executable, rather than
`keras.utils.plot_model`: `plot_model` needs `pydot` (and `pyparsing`), and
its `expand_nested` opens only nested functional models: the inside of a
subclassed layer such as `InceptionBlock` is invisible to it, although that
is what one wants to see. Writing DOT ourselves (`kerasblocks._dot`) costs
a few hundred lines, adds no Python dependency, gives full control over the
labels (escaped HTML-like labels: any layer name is safe) and draws composite
layers as clusters of their sublayers. `.dot` output needs no Graphviz at all;
the other formats run `dot` in a subprocess with a timeout.

How a model becomes a picture: the graph is read from the built Keras model,
walking back from its outputs through each tensor's `_keras_history` (the
layer call that made it) as Keras' own `plot_model` does, so the shapes are
Keras' own. One box per layer (a shared layer is one box with an
edge per call), one edge per input tensor, in graph order. A `keras.ops`
operation in the graph (a spec's `- add: {x2: 3.0}`, or `x * 2` in Keras
code) is a small dashed box named by its op ("add"). A layer with several
outputs (LSTM with `return_state`) labels each edge it sends with the output
it carries (`[1]`), and lists its shapes by output; the outputs of a model
with dict outputs note their keys ("output 'a'").

What the spec adds: when the model comes from a spec (a spec given to
`plot`, or a model that remembers its spec: built by `kerasblocks.build`, or
loaded from a `.keras` file that recorded it), the expanded spec `Graph`
says which layers sit in which block use (`LayerNode.block_uses`, outermost
first, and `LayerNode.blocks`, their block types). Each block use becomes a
frame "<use> (<Block>)" holding its layers, nested block uses nested frames;
the frames are drawn always, as they add no boxes. A call that shares
another layer (`share:`) is no Keras layer of its own: it is an edge into the
owner's box, so a shared block use draws no frame, only edges into the first
use's frame. The spec is matched to the model by layer names: when they do
not fit (a record from another version of the spec), the picture is drawn
as for a plain Keras model, which is never framed.

With `expand_nested`, a kerasblocks composite layer becomes a frame holding its
sublayers as the dataflow its `call` runs (InceptionBlock: its branches side
by side, then the concatenation; ResidualUnit: the residual path and the
shortcut, then the add), and a nested functional or Sequential model a frame
holding its own graph. Activations inside composites are functions, not
layers: they annotate the box they follow ("then relu"), as a layer's own
`activation` does. A composite's drawing mirrors its `call` (below); a change
to ResidualUnit or InceptionBlock's dataflow must be mirrored there, and the
tests compare the drawn edges with the layers' documented structure.

Only this module's `plot` and `_render` touch the file system, writing
through `kerasblocks._files.atomic_path`: a failure leaves no file and an
earlier file intact.
"""

import itertools
import math
import os
import pathlib
import re
import shutil
import subprocess

from kerasblocks import _dot
from kerasblocks import _files
from kerasblocks.errors import UsageError

FORMATS = (".svg", ".png", ".pdf", ".dot")
RENDER_TIMEOUT_SECONDS = 300
_PNG_DPI = 144  # Graphviz's default 96 makes small text blurry

_MISSING_GRAPHVIZ = (
    "Graphviz's `dot` was not found; install it (Debian/Ubuntu: `apt-get install graphviz`, "
    "macOS: `brew install graphviz`) or write .dot output"
)
_INPUT = object()  # inside a composite: "the composite layer's input"


def plot(source, output, *, expand_nested=False, **vars):
    """Draws a network's graph to `output` (.svg, .png, .pdf or .dot).

    Args:
        source: a spec (path, shipped name, YAML text, `Spec`), a `.keras`
            path, or a built functional or Sequential `keras.Model`.
        output: str or path-like. The picture; its suffix gives the format.
        expand_nested: bool. Draw kerasblocks composite layers
            (`ResidualUnit`, `InceptionBlock`) and nested models as frames
            holding their sublayers. Defaults to `False`. A spec's block
            uses are frames either way.
        **vars: spec var overrides (specs only).

    Returns:
        The `pathlib.Path` written.

    Raises:
        UsageError: unknown output suffix; Graphviz's `dot` missing (for
            .svg, .png, .pdf) or failing; vars given with a model; a model
            with no graph of layers (subclassed, or not built).
        SpecError: the spec is invalid.
        FileNotFoundError: `output`'s folder, or the `.keras` file, is missing.
    """
    output = pathlib.Path(output)
    output_format = output_format_of(output)
    dot_executable = None if output_format == "dot" else find_dot()
    model, graph = _load_model(source, vars)
    text = to_dot(model, expand_nested=expand_nested, graph=graph)
    with _files.atomic_path(output) as temporary:
        if dot_executable is None:
            temporary.write_text(text, encoding="utf-8")
        else:
            _render(dot_executable, text, output_format, temporary, output)
    return output


def to_dot(model, *, expand_nested=False, graph=None):
    """Returns the DOT text of a built functional or Sequential Keras model.

    Args:
        model: the `keras.Model` to draw.
        expand_nested: as for `plot`.
        graph: the expanded spec `Graph` the model was built from, whose
            block uses become frames. Defaults to the spec the model
            remembers (`kerasblocks.saving.spec_record_of`), expanded again;
            none for a plain Keras model.

    Raises:
        UsageError: the model has no graph of layers (subclassed, not built).
    """
    if graph is None:
        graph = _remembered_graph(model)
    layout = None
    if graph is not None and graph.name == model.name:
        layout = _SpecLayout(graph)
    return _dot.to_dot(_DiagramReader(expand_nested, layout).read(model))


def output_format_of(path):
    """'svg', 'png', 'pdf' or 'dot' from `path`'s suffix; UsageError for others."""
    suffix = pathlib.Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(
            f"cannot tell the picture format of '{path}': name it with one of "
            f"{', '.join(FORMATS)} (.dot is Graphviz source, written without Graphviz)"
        )
    return suffix[1:]


def find_dot():
    """The path of Graphviz's `dot` executable; UsageError saying how to install it."""
    executable = shutil.which("dot")
    if executable is None:
        raise UsageError(_MISSING_GRAPHVIZ)
    return executable


def _render(dot_executable, text, output_format, temporary, output):
    command = [dot_executable, f"-T{output_format}", "-o", os.fspath(temporary)]
    if output_format == "png":
        command.insert(1, f"-Gdpi={_PNG_DPI}")
    try:
        result = subprocess.run(
            command,
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=RENDER_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise UsageError(
            f"Graphviz's `dot` took more than {RENDER_TIMEOUT_SECONDS} s drawing {output}; "
            "write .dot output and render it yourself, or plot without expand_nested"
        ) from error
    except OSError as error:
        raise UsageError(f"cannot run Graphviz's `dot` ({dot_executable}): {error}") from error
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        first_line = message.splitlines()[0] if message else f"exit status {result.returncode}"
        raise UsageError(f"Graphviz's `dot` could not draw {output}: {first_line}")


def _load_model(source, vars):
    """(Keras model, the expanded spec `Graph` or None) from a spec, a `.keras` path
    or a model. For a `.keras` file or a model, None: `to_dot` reads the spec
    the model remembers."""
    from kerasblocks.spec.graph import Graph
    from kerasblocks.spec.load import Spec

    is_text_or_path = isinstance(source, (str, os.PathLike))
    if isinstance(source, (Spec, Graph)) or (is_text_or_path and not _is_keras_file(source)):
        from kerasblocks import api

        if isinstance(source, Graph):
            return api.build(source, **vars), source  # vars: build's TypeError
        graph = api.expand(source, **vars)
        return api.build(graph), graph
    if vars:
        raise UsageError(
            f"vars ({', '.join(sorted(vars))}) apply to specs, not to a saved or built model"
        )
    if is_text_or_path:
        from kerasblocks import saving

        return saving.load_model(source, compile=False), None

    import keras

    if not isinstance(source, keras.Model):
        raise TypeError(
            "`source` must be a spec (path, shipped name, YAML text or Spec), a .keras "
            f"path or a keras.Model. Received: source={source!r}"
        )
    return source, None


def _remembered_graph(model):
    """The expanded `Graph` of the spec `model` remembers, or None.

    A record that no longer expands (a spec written for another kerasblocks
    version, a var that went away) only costs the frames: the model is
    drawn as a plain one.
    """
    from kerasblocks import saving

    record = saving.spec_record_of(model)
    if record is None or not record.text:
        return None
    from kerasblocks import api
    from kerasblocks.errors import SpecError

    try:
        return api.expand(api.load_spec(record.text, file=record.file or None), **record.vars)
    except (SpecError, UsageError):
        return None


class _SpecLayout:
    """Where a spec put the layers of one (possibly nested) model.

    Read from the expanded `Graph` only through its public fields: for each
    node that owns its layer (not `shares`), the block uses it sits in and
    their block types; for each use of a `model:` block, the layout of its
    own graph and the block's name. A call that shares a layer is drawn
    where its owner is, as edges: its name is kept as a note, "also called
    as NAME" on the owner's box or, for a use of a block that shares an
    earlier use, "also used as NAME" on that use's frame.
    """

    def __init__(self, graph):
        self.frames = {}  # layer (or op) name -> ((use name, block type), ...), outermost first
        self.nested = {}  # nested model's name -> _SpecLayout of its graph
        self.model_blocks = {}  # nested model's name -> the `model:` block it is a use of
        self.also_called = {}  # layer name -> names of the calls sharing it, in order
        self.also_used = {}  # frame (use names, outermost first) -> uses sharing it
        self.names = {node.name for node in graph.inputs}
        owners = {}
        for node in graph.layers:
            if node.shares is not None:
                self._note_sharing(node, owners.get(node.shares))
                continue
            owners[node.name] = node
            self.names.add(node.name)
            self.frames[node.name] = tuple(zip(node.block_uses, _block_types(node)))
            if node.model is not None:
                self.nested[node.name] = _SpecLayout(node.model)
                if node.model.block:
                    self.model_blocks[node.name] = node.model.block

    def _note_sharing(self, node, owner):
        if owner is None:
            return
        path, owner_path = tuple(node.block_uses), tuple(owner.block_uses)
        if path != owner_path and path and len(path) == len(owner_path):
            # A use of a block sharing an earlier use (`share:` on the use):
            # each frame where the names part is also that use.
            for depth, (use, owner_use) in enumerate(zip(path, owner_path)):
                if use != owner_use:
                    uses = self.also_used.setdefault(owner_path[: depth + 1], [])
                    if use not in uses:
                        uses.append(use)
            return
        self.also_called.setdefault(owner.name, []).append(node.name)

    def frame_notes(self, key):
        uses = self.also_used.get(key)
        return [f"also used as {', '.join(uses)}"] if uses else []

    def layer_notes(self, name):
        calls = self.also_called.get(name)
        return [f"also called as {', '.join(calls)}"] if calls else []

    def fits(self, layer_names):
        """Whether every layer drawn is one of this graph's (the spec fits the model).

        Only Layers count: Keras adds operations of its own to a graph (the
        `not_equal` computing an Embedding's `mask_zero` mask, the
        `logical_or` merging masks), which no spec names; they are drawn
        outside the frames.
        """
        return set(layer_names) <= self.names


def _block_types(node):
    """The block type of each of `node.block_uses`, the innermost last.

    Inside a `model:` block, `blocks` also names the blocks around the
    nested model, whose uses are not in that graph's `block_uses`: the two
    are matched from the innermost end.
    """
    uses, blocks = tuple(node.block_uses), tuple(node.blocks)
    if len(blocks) >= len(uses):
        return blocks[len(blocks) - len(uses):]
    return ("",) * (len(uses) - len(blocks)) + blocks


def _is_keras_file(source):
    path = os.fspath(source)
    return "\n" not in path and path.endswith(".keras")


class _DiagramReader:
    """Reads a Keras model's graph into a `_dot.Diagram`."""

    def __init__(self, expand_nested, layout=None):
        self.expand_nested = expand_nested
        self.layout = layout  # _SpecLayout of the top-level model, or None
        self.diagram = None
        self._boxes = {}  # box id -> Box
        self._cluster_numbers = itertools.count(1)
        # id(layer) -> where its picture is: per input position, the boxes
        # that input goes to (the last list serves further positions), and per
        # output, the box it comes from.
        self._entries = {}
        self._exits = {}

    def read(self, model):
        self.diagram = _dot.Diagram(title=model.name)
        self._add_model(
            model, self.diagram.boxes, self.diagram.clusters, top_level=True, layout=self.layout
        )
        self._note_output_keys(model)
        return self.diagram

    def new_box(self, name, type_name, shapes, params=0, role="layer"):
        box = _dot.Box(f"n{len(self._boxes)}", name, type_name, shapes, params, role)
        self._boxes[box.id] = box
        return box

    def box(self, box_id):
        return self._boxes[box_id]

    def new_cluster_id(self):
        return f"cluster{next(self._cluster_numbers)}"

    def _add_model(self, model, boxes, clusters, top_level=False, layout=None):
        """Draws a model's layers and edges; returns its input and output tensors.

        `layout`: the `_SpecLayout` of the spec graph `model` was built from,
        or None; its block uses become frames.
        """
        inputs, outputs = _graph_ends(model)
        calls = _calls_in_graph_order(inputs + outputs)  # unused inputs drawn too
        output_layers = {id(tensor._keras_history[0]) for tensor in outputs}
        calls_per_layer = {}
        for call in calls:
            calls_per_layer.setdefault(id(call.operation), (call.operation, []))[1].append(call)
        if layout is not None and not layout.fits(
            layer.name for layer, _ in calls_per_layer.values() if _is_layer(layer)
        ):
            layout = None  # not the model this spec builds: drawn as a plain one
        frames = _BlockFrames(self, boxes, clusters, layout)
        for layer, layer_calls in calls_per_layer.values():
            if id(layer) in self._entries:
                continue  # already drawn: a layer shared with an enclosing model
            role = "layer"
            if top_level and _is_input_layer(layer):
                role = "input"
            elif top_level and id(layer) in output_layers:
                role = "output"
            path = () if layout is None else layout.frames.get(layer.name, ())
            layer_boxes, layer_clusters = frames.place(path, _parameter_count(layer))
            drawn = self._add_layer(layer, layer_calls, role, layer_boxes, layer_clusters, layout)
            if layout is not None:
                drawn.notes.extend(layout.layer_notes(layer.name))
        for call in calls:
            entries = self._entries[id(call.operation)]
            for position, tensor in enumerate(call.input_tensors):
                source = self._source_box(tensor)
                label = self._output_label(tensor)
                for target in entries[min(position, len(entries) - 1)]:
                    self.diagram.edges.append((source, target, label))
        return inputs, outputs

    def _source_box(self, tensor):
        layer, _, tensor_index = tensor._keras_history
        exits = self._exits[id(layer)]
        return exits[min(tensor_index, len(exits) - 1)]

    def _output_label(self, tensor):
        """'[i]' for output i of a call with several drawn as one box; else None."""
        layer, _, tensor_index = tensor._keras_history
        if len(self._exits[id(layer)]) > 1 or len(_call_of(tensor).outputs) < 2:
            return None  # one output, or a frame whose boxes give each output
        return f"[{tensor_index}]"

    def _note_output_keys(self, model):
        """Notes "output 'key'" on the box giving each output of a dict-output model."""
        try:
            structure = model.output
        except (AttributeError, ValueError, TypeError):
            return
        if not isinstance(structure, dict):
            return
        for key, tensor in structure.items():
            label = self._output_label(tensor)
            note = f"output '{key}'" + (f" {label}" if label else "")
            self.box(self._source_box(tensor)).notes.append(note)

    def _add_layer(self, layer, calls, role, boxes, clusters, layout=None):
        """Draws one layer: a box, or with expand_nested a frame of its parts.

        Returns the `Box` or `Cluster` drawn.
        """
        shapes = _output_shapes(calls)
        if not _is_layer(layer):  # a keras.ops operation: no weights, no insides
            box = self.new_box(layer.name, _operation_name(layer), shapes, 0, "operation")
            if role == "output":
                box.role = "output"
            boxes.append(box)
            self._entries[id(layer)] = [[box.id]]
            self._exits[id(layer)] = [box.id]
            return box
        describe_parts = _composite_parts(layer)
        if not self.expand_nested or (describe_parts is None and not _has_graph(layer)):
            if role == "layer" and describe_parts is not None:
                role = "composite"
            box = self.new_box(
                layer.name, type(layer).__name__, shapes, _parameter_count(layer), role
            )
            box.notes.extend(_activation_notes(layer))
            boxes.append(box)
            self._entries[id(layer)] = [[box.id]]
            self._exits[id(layer)] = [box.id]
            return box

        cluster = _dot.Cluster(
            self.new_cluster_id(),
            layer.name,
            type(layer).__name__,
            shapes,
            _parameter_count(layer),
        )
        nested_layout = None
        if layout is not None and describe_parts is None:
            nested_layout = layout.nested.get(layer.name)
            block = layout.model_blocks.get(layer.name)
            if block is not None:  # a use of a `model:` block: framed as a block use
                cluster.kind, cluster.type = "block", f"{block}, {cluster.type}"
        clusters.append(cluster)
        if describe_parts is not None:
            parts = _Parts(self, cluster)
            exit_box = describe_parts(layer, tuple(calls[0].input_tensors[0].shape), parts)
            self._entries[id(layer)] = [parts.entry_boxes]
            self._exits[id(layer)] = [exit_box]
        else:  # a nested functional or Sequential model
            inputs, outputs = self._add_model(
                layer, cluster.boxes, cluster.clusters, layout=nested_layout
            )
            self._entries[id(layer)] = [[self._source_box(tensor)] for tensor in inputs]
            self._exits[id(layer)] = [self._source_box(tensor) for tensor in outputs]
        if role == "output":  # a frame: the boxes giving its outputs take the colour
            for box_id in self._exits[id(layer)]:
                self.box(box_id).role = "output"
        return cluster


class _BlockFrames:
    """The frames of the spec block uses in one model's picture, made as needed.

    `place(path, params)` returns the (boxes, clusters) lists a layer inside
    the block uses `path` ((use name, block type), outermost first) goes
    into, making the frames on the way, and adds the layer's parameters to
    each frame's count.
    """

    def __init__(self, reader, boxes, clusters, layout):
        self._reader = reader
        self._top = (boxes, clusters)
        self._layout = layout
        self._frames = {}  # use names, outermost first -> Cluster

    def place(self, path, params):
        boxes, clusters = self._top
        for depth, (use, block) in enumerate(path):
            key = tuple(name for name, _ in path[: depth + 1])
            frame = self._frames.get(key)
            if frame is None:
                frame = _dot.Cluster(
                    self._reader.new_cluster_id(),
                    use,
                    block,
                    kind="block",
                    notes=self._layout.frame_notes(key),
                )
                clusters.append(frame)
                self._frames[key] = frame
            frame.params += params
            boxes, clusters = frame.boxes, frame.clusters
        return boxes, clusters


class _Parts:
    """Builds the inside of one composite layer's frame.

    `layer` and `operation` add a box fed by the given sources, `_INPUT`
    standing for the composite's own input; `then` notes an activation or a
    scale applied to a box's output. Edges from `_INPUT` become edges from
    whatever feeds the composite (`entry_boxes`).
    """

    def __init__(self, reader, cluster):
        self._reader = reader
        self._cluster = cluster
        self.entry_boxes = []

    def layer(self, sublayer, source, input_shape):
        """Adds a box for `sublayer`; returns (its id, its output shape)."""
        shape = tuple(sublayer.compute_output_shape(input_shape))
        box_id = self._add(
            sublayer.name, type(sublayer).__name__, shape, [source], _parameter_count(sublayer)
        )
        self._reader.box(box_id).notes.extend(_activation_notes(sublayer))
        return box_id, shape

    def operation(self, name, type_name, sources, shape):
        """Adds a box for an operation (add, concatenate); returns its id."""
        return self._add(name, type_name, shape, sources, 0, role="operation")

    def then(self, source, note):
        """`note` applied to `source`'s output; returns what carries the result."""
        if source is _INPUT:  # nothing inside to annotate: a box of its own
            return self._add(note, "activation", None, [_INPUT], 0, role="operation")
        self._reader.box(source).notes.append(f"then {note}")
        return source

    def side_by_side(self, box_ids):
        """Keeps these boxes on one row, left to right (parallel branches)."""
        self._cluster.side_by_side.append(list(box_ids))

    def _add(self, name, type_name, shape, sources, params, role="layer"):
        shapes = [] if shape is None else [_format_shape(shape)]
        box = self._reader.new_box(name, type_name, shapes, params, role)
        self._cluster.boxes.append(box)
        for source in sources:
            if source is _INPUT:
                self.entry_boxes.append(box.id)
            else:
                self._reader.diagram.edges.append((source, box.id))
        return box.id


# --- the composite layers' insides --------------------------------------------
# Each mirrors its layer's `call`, reading only the layer's public attributes
# (InceptionBlock's `branch_steps`: what its `call` runs); each returns the box
# giving the output.


def _residual_unit_parts(unit, input_shape, parts):
    activation = _function_name(unit.activation)
    batchnorms = unit.batchnorms if unit.use_batchnorm else [None] * len(unit.convs)
    x, shape = _INPUT, input_shape
    if unit.variant == "preact":
        preactivated = None
        for index, (conv, batchnorm) in enumerate(zip(unit.convs, batchnorms)):
            if batchnorm is not None:
                x, shape = parts.layer(batchnorm, x, shape)
            x = parts.then(x, activation)
            if index == 0:
                preactivated = x
            x, shape = parts.layer(conv, x, shape)
            if index == 0:
                first_conv = x
        shortcut = _INPUT
        if unit.shortcut_conv is not None:
            shortcut, _ = parts.layer(unit.shortcut_conv, preactivated, input_shape)
            parts.side_by_side([first_conv, shortcut])
    else:
        last = len(unit.convs) - 1
        for index, (conv, batchnorm) in enumerate(zip(unit.convs, batchnorms)):
            x, shape = parts.layer(conv, x, shape)
            if index == 0:
                first_conv = x
            if batchnorm is not None:
                x, shape = parts.layer(batchnorm, x, shape)
            if index < last or unit.variant == "plain":
                x = parts.then(x, activation)
        shortcut = _INPUT
        if unit.shortcut_conv is not None:
            shortcut, shortcut_shape = parts.layer(unit.shortcut_conv, _INPUT, input_shape)
            parts.side_by_side([first_conv, shortcut])
            if unit.shortcut_bn is not None:
                shortcut, _ = parts.layer(unit.shortcut_bn, shortcut, shortcut_shape)
    if unit.residual_scale != 1.0:
        x = parts.then(x, f"× {unit.residual_scale:g}")
    added = parts.operation("add", "Add", [shortcut, x], shape)
    if unit.variant == "postact":
        parts.then(added, activation)
    return added


def _inception_block_parts(block, input_shape, parts):
    branch_heads, branch_ends, branch_shapes = [], [], []
    for branch in block.branch_steps:  # per branch: (sublayers, activation) per step
        x, shape = _INPUT, input_shape
        for sublayers, activation in branch:
            for sublayer in sublayers:
                x, shape = parts.layer(sublayer, x, shape)
                if len(branch_heads) == len(branch_ends):
                    branch_heads.append(x)
            if activation is not None:
                x = parts.then(x, _function_name(activation))
        branch_ends.append(x)
        branch_shapes.append(shape)
    parts.side_by_side(branch_heads)
    axis = -1 if block.data_format == "channels_last" else 1
    concat_shape = list(branch_shapes[0])
    concat_shape[axis] = sum(shape[axis] for shape in branch_shapes)
    concat_shape = tuple(concat_shape)
    output = parts.operation("concatenate", "Concatenate", branch_ends, concat_shape)
    if not block.residual:
        return output
    output, _ = parts.layer(block.residual_conv, output, concat_shape)
    if block.residual_scale != 1.0:
        parts.then(output, f"× {block.residual_scale:g}")
    output = parts.operation("add", "Add", [_INPUT, output], tuple(input_shape))
    if block.residual_activation is not None:
        parts.then(output, _function_name(block.residual_activation))
    return output


def _composite_parts(layer):
    """The function drawing `layer`'s inside, or None for other layers."""
    from kerasblocks.layers.inception_block import InceptionBlock
    from kerasblocks.layers.residual_unit import ResidualUnit

    if isinstance(layer, ResidualUnit):
        return _residual_unit_parts
    if isinstance(layer, InceptionBlock):
        return _inception_block_parts
    return None


# --- reading the Keras graph ------------------------------------------------------


def _graph_ends(model):
    """A model's input and output tensors; UsageError when it has no graph."""
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError, TypeError):
        inputs, outputs = None, None
    if not outputs:
        raise UsageError(
            f"cannot draw model '{model.name}' ({type(model).__name__}): it has no graph "
            "of layers to read. plot draws functional models, and Sequential models whose "
            "input shape is known (built, or started with keras.Input)"
        )
    return inputs, outputs


def _has_graph(layer):
    import keras

    if not isinstance(layer, keras.Model):
        return False
    try:
        return bool(layer.outputs)
    except (AttributeError, ValueError, TypeError):
        return False


def _calls_in_graph_order(tensors):
    """The layer calls (Keras `Node`s) behind `tensors`, each after its inputs.

    An iterative depth-first walk (deep nets would exceed Python's recursion
    limit) over each tensor's `_keras_history`: the layer, and which of its
    calls made the tensor. This is how Keras' own `map_graph` and
    `plot_model` walk a functional graph.
    """
    ordered, done = [], set()
    stack = [(_call_of(tensor), False) for tensor in reversed(tensors)]
    while stack:
        call, inputs_done = stack.pop()
        if id(call) in done:
            continue
        if inputs_done:
            done.add(id(call))
            ordered.append(call)
            continue
        stack.append((call, True))
        for tensor in reversed(call.input_tensors):
            parent = _call_of(tensor)
            if id(parent) not in done:
                stack.append((parent, False))
    return ordered


def _call_of(tensor):
    layer, node_index, _ = tensor._keras_history
    return layer._inbound_nodes[node_index]


def _is_input_layer(layer):
    import keras

    return isinstance(layer, keras.layers.InputLayer)


def _is_layer(operation):
    """Whether a graph node is a Keras Layer (else a keras.ops Operation)."""
    import keras

    return isinstance(operation, keras.layers.Layer)


def _operation_name(operation):
    """The keras.ops name of an Operation ("add", "get_item"), as a spec writes it."""
    from kerasblocks.spec import ops

    cls = type(operation)
    name = ops.spec_name_of_class(cls.__module__, cls.__name__)
    if name is None:  # not in the ops table: Keras' class name in snake_case
        name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", cls.__name__).lower()
    return name


def _output_shapes(calls):
    """The shape lines of a layer's box: one per distinct shape over its calls,
    prefixed with the output index ("[1] (None, 4)") for a layer with several."""
    several = any(len(call.outputs) > 1 for call in calls)
    return _unique(
        (f"[{index}] " if several else "") + _format_shape(tensor.shape)
        for call in calls
        for index, tensor in enumerate(call.outputs)
    )


def _parameter_count(layer):
    return sum(math.prod(weight.shape) for weight in getattr(layer, "weights", ()))


def _format_shape(shape):
    return str(tuple(shape))  # as Keras' summary shows it: (None, 28, 28, 64)


def _activation_notes(layer):
    """["then relu"] for a layer with a built-in activation (Conv2D, Dense), else []."""
    import keras

    activation = getattr(layer, "activation", None)
    if not callable(activation) or isinstance(layer, (keras.layers.Activation, keras.layers.RNN)):
        return []  # a recurrent layer's activation is inside its cell, not after it
    name = _function_name(activation)
    return [] if name == "linear" else [f"then {name}"]


def _function_name(function):
    return getattr(function, "__name__", None) or type(function).__name__


def _unique(items):
    return list(dict.fromkeys(items))
