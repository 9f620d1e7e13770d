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
edge per call), one edge per input tensor, in graph order. With
`expand_nested`, a kerasblocks composite layer becomes a frame holding its
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
            holding their sublayers. Defaults to `False`.
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
    model = _load_model(source, vars)
    text = to_dot(model, expand_nested=expand_nested)
    with _files.atomic_path(output) as temporary:
        if dot_executable is None:
            temporary.write_text(text, encoding="utf-8")
        else:
            _render(dot_executable, text, output_format, temporary, output)
    return output


def to_dot(model, *, expand_nested=False):
    """Returns the DOT text of a built functional or Sequential Keras model.

    Raises:
        UsageError: the model has no graph of layers (subclassed, not built).
    """
    return _dot.to_dot(_DiagramReader(expand_nested).read(model))


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
    """A Keras model from a spec, a `.keras` path or a model."""
    from kerasblocks.spec.graph import Graph
    from kerasblocks.spec.load import Spec

    is_text_or_path = isinstance(source, (str, os.PathLike))
    if isinstance(source, (Spec, Graph)) or (is_text_or_path and not _is_keras_file(source)):
        from kerasblocks import api

        return api.build(source, **vars)
    if vars:
        raise UsageError(
            f"vars ({', '.join(sorted(vars))}) apply to specs, not to a saved or built model"
        )
    if is_text_or_path:
        from kerasblocks import saving

        return saving.load_model(source, compile=False)

    import keras

    if not isinstance(source, keras.Model):
        raise TypeError(
            "`source` must be a spec (path, shipped name, YAML text or Spec), a .keras "
            f"path or a keras.Model. Received: source={source!r}"
        )
    return source


def _is_keras_file(source):
    path = os.fspath(source)
    return "\n" not in path and path.endswith(".keras")


class _DiagramReader:
    """Reads a Keras model's graph into a `_dot.Diagram`."""

    def __init__(self, expand_nested):
        self.expand_nested = expand_nested
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
        self._add_model(model, self.diagram.boxes, self.diagram.clusters, top_level=True)
        return self.diagram

    def new_box(self, name, type_name, shapes, params=0, role="layer"):
        box = _dot.Box(f"n{len(self._boxes)}", name, type_name, shapes, params, role)
        self._boxes[box.id] = box
        return box

    def box(self, box_id):
        return self._boxes[box_id]

    def _add_model(self, model, boxes, clusters, top_level=False):
        """Draws a model's layers and edges; returns its input and output tensors."""
        inputs, outputs = _graph_ends(model)
        calls = _calls_in_graph_order(inputs + outputs)  # unused inputs drawn too
        output_layers = {id(tensor._keras_history[0]) for tensor in outputs}
        calls_per_layer = {}
        for call in calls:
            calls_per_layer.setdefault(id(call.operation), (call.operation, []))[1].append(call)
        for layer, layer_calls in calls_per_layer.values():
            if id(layer) in self._entries:
                continue  # already drawn: a layer shared with an enclosing model
            role = "layer"
            if top_level and _is_input_layer(layer):
                role = "input"
            elif top_level and id(layer) in output_layers:
                role = "output"
            self._add_layer(layer, layer_calls, role, boxes, clusters)
        for call in calls:
            entries = self._entries[id(call.operation)]
            for position, tensor in enumerate(call.input_tensors):
                source = self._source_box(tensor)
                for target in entries[min(position, len(entries) - 1)]:
                    self.diagram.edges.append((source, target))
        return inputs, outputs

    def _source_box(self, tensor):
        layer, _, tensor_index = tensor._keras_history
        exits = self._exits[id(layer)]
        return exits[min(tensor_index, len(exits) - 1)]

    def _add_layer(self, layer, calls, role, boxes, clusters):
        """Draws one layer: a box, or with expand_nested a frame of its parts."""
        shapes = _unique(_format_shape(tensor.shape) for call in calls for tensor in call.outputs)
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
            return

        cluster = _dot.Cluster(
            f"cluster{next(self._cluster_numbers)}",
            layer.name,
            type(layer).__name__,
            shapes,
            _parameter_count(layer),
        )
        clusters.append(cluster)
        if describe_parts is not None:
            parts = _Parts(self, cluster)
            exit_box = describe_parts(layer, tuple(calls[0].input_tensors[0].shape), parts)
            self._entries[id(layer)] = [parts.entry_boxes]
            self._exits[id(layer)] = [exit_box]
        else:  # a nested functional or Sequential model
            inputs, outputs = self._add_model(layer, cluster.boxes, cluster.clusters)
            self._entries[id(layer)] = [[self._source_box(tensor)] for tensor in inputs]
            self._exits[id(layer)] = [self._source_box(tensor) for tensor in outputs]
        if role == "output":  # a frame: the boxes giving its outputs take the colour
            for box_id in self._exits[id(layer)]:
                self.box(box_id).role = "output"


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


def _parameter_count(layer):
    return sum(math.prod(weight.shape) for weight in getattr(layer, "weights", ()))


def _format_shape(shape):
    return str(tuple(shape))  # as Keras' summary shows it: (None, 28, 28, 64)


def _activation_notes(layer):
    """["then relu"] for a layer with a built-in activation (Conv2D, Dense), else []."""
    import keras

    activation = getattr(layer, "activation", None)
    if not callable(activation) or isinstance(layer, keras.layers.Activation):
        return []
    name = _function_name(activation)
    return [] if name == "linear" else [f"then {name}"]


def _function_name(function):
    return getattr(function, "__name__", None) or type(function).__name__


def _unique(items):
    return list(dict.fromkeys(items))
