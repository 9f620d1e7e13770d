"""The expanded graph -> a functional `keras.Model`.

The builder does what a person writing the model by hand would do, one line
per node: `keras.Input(...)` for each input, `cls(name=..., **arguments)(x)`
for each layer, `keras.Model(inputs, outputs)`. Nothing else happens per layer
on the success path, so building from a spec costs what building by hand does.

When Keras refuses a node (a bad argument value, shapes that do not fit), the
error becomes a `SpecError` at the line that wrote the node, naming the layer,
the shapes it received and where they came from, with a hint. The Keras
exception stays chained (`__cause__`) for `kerasblocks --debug`.
"""

import copy
import dataclasses
import functools
import re

from kerasblocks.errors import Diagnostic, SourceLocation, SpecError
from kerasblocks.spec import arguments as argument_values
from kerasblocks.spec import expressions, ops
from kerasblocks.spec.graph import Deferred, NestedLayer, Ref
from kerasblocks.spec.naming import to_snake_case

# Layers that combine several same-shaped inputs element-wise.
_ELEMENTWISE_MERGE_TYPES = frozenset(
    {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"}
)
_CONCATENATE_TYPES = frozenset({"Concatenate"})

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_RANK_MISMATCH = re.compile(r"expected (min_|max_)?ndim=(\d+), found ndim=(\d+)")
_INPUT_COUNT_MISMATCH = re.compile(r"expects (\d+) input\(s\), but it received (\d+)")
# "<KerasTensor shape=(None, 8), dtype=float32, ...>" -> "(None, 8)".
_KERAS_TENSOR_REPR = re.compile(r"<KerasTensor shape=(\([^)]*\))[^>]*>")


def build_model(graph, *, resolve=None):
    """Builds the functional Keras model that `graph` describes.

    Args:
        graph: `kerasblocks.spec.graph.Graph`, the expanded spec.
        resolve: callable `type name -> layer class`. Defaults to
            `kerasblocks.spec.registry.resolve`, the closed registry; tests
            pass a stand-in.

    Returns:
        A `keras.Model` named `graph.name` whose layers carry the spec's layer
        names. One input (output) is passed as a tensor, several as a list in
        spec order (a dict for a spec whose `outputs` is a mapping).

    Raises:
        SpecError: a layer refused its arguments or its inputs; the error sits
            at the node's line and shows the input shapes.
    """
    return _build(graph, resolve)[0]


def _build(graph, resolve):
    """(model, {node name: the layer object that node made}) for `graph`."""
    import keras

    if resolve is None:
        from kerasblocks.spec.registry import resolve

    tensors = {}  # node name -> what its call returned
    for input_node in graph.inputs:
        try:
            tensors[input_node.name] = keras.Input(
                shape=tuple(input_node.shape),
                dtype=input_node.dtype,
                name=input_node.name,
                batch_size=input_node.batch_size,
            )
        except Exception as error:
            raise SpecError(
                f"input '{input_node.name}': {_keras_reason(error)}", input_node.location
            ) from error

    layers = {}  # node name -> layer, for the nodes that own one
    for node in graph.layers:
        if node.condition is not None and not _holds(node, graph, tensors):
            tensors[node.name] = _passed_on(node, graph, tensors)
            continue
        node = _with_shapes_read(node, graph, tensors)
        args = [_call_value(graph, node, value, tensors) for value in node.args]
        kwargs = {
            key: _call_value(graph, node, value, tensors) for key, value in node.kwargs.items()
        }
        if ops.is_op_name(node.type):
            call = functools.partial(_apply_op, node)
        elif node.shares is not None:
            call = layers[node.shares]
        elif node.model is not None:
            call = layers[node.name] = _nested_model(node, args, resolve)
        else:
            call = layers[node.name] = _construct_layer(node, resolve)
        try:
            tensors[node.name] = call(*args, **kwargs)
        except Exception as error:  # any refusal is reported at the node's line
            inputs = [(ref, _tensor_for(graph, node, ref, tensors)) for ref in node.refs]
            raise _call_error(node, inputs, error) from error

    model_inputs = [tensors[node.name] for node in graph.inputs]
    if graph.input_dict:
        model_inputs = {node.name: tensors[node.name] for node in graph.inputs}
    elif len(model_inputs) == 1 and not graph.input_list:
        model_inputs = model_inputs[0]
    model_outputs = [_tensor_for(graph, None, ref, tensors) for ref in graph.output_refs]
    if graph.output_dict:
        model_outputs = dict(zip(graph.outputs, model_outputs, strict=True))
    elif len(model_outputs) == 1 and not graph.output_list:
        model_outputs = model_outputs[0]
    try:
        model = keras.Model(
            inputs=model_inputs,
            outputs=model_outputs,
            name=graph.name,
        )
    except Exception as error:
        raise SpecError(
            f"could not assemble model '{graph.name}': {_keras_reason(error)}",
            SourceLocation(file=graph.file),
        ) from error
    return model, layers


def layer_parameter_counts(graph, *, resolve=None):
    """Counts the parameters of each layer of `graph` without allocating them.

    Builds the model in a `keras.StatelessScope` that leaves variables
    uninitialised: shapes only, so a spec asking for a trillion weights is
    measured in milliseconds instead of exhausting memory. The command line
    runs this before building (`--max-parameters`); a service that builds
    specs it did not write should too.

    Returns:
        {layer name: parameter count}, in graph order.

    Raises:
        SpecError: the model cannot be built (as `build_model` would say).
    """
    import keras
    from keras.src.backend.common import global_state

    # The scope queues the variables for a later initialisation; restore the
    # queue so nothing of this throw-away model is ever allocated.
    queue = "uninitialized_variables"
    queued = list(global_state.get_global_attribute(queue, None) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            _, layers = _build(graph, resolve)
        # From the layers made, not the model: a layer whose output is unused
        # is not in the model, and a shared layer counts once.
        return {name: layer.count_params() for name, layer in layers.items()}
    finally:
        global_state.set_global_attribute(queue, queued)


def check_parameter_count(graph, limit, *, resolve=None):
    """Raises a `SpecError` at the largest layer if `graph` has over `limit` parameters.

    Returns:
        The total parameter count.
    """
    counts = layer_parameter_counts(graph, resolve=resolve)
    total = sum(counts.values())
    if total <= limit:
        return total
    largest = max(graph.layers, key=lambda node: counts.get(node.name, 0))  # the first, on a tie
    raise SpecError(
        f"the model would have {total:,} parameters ({_format_bytes(total * 4)} as float32), "
        f"over the limit of {limit:,}; the largest layer, '{largest.name}', has "
        f"{counts.get(largest.name, 0):,}",
        largest.location,
        hint="check that layer's sizes (units, filters, input size); "
        "raise the limit with --max-parameters if the model is meant to be this big",
    )


def _format_bytes(count):
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000


def _construct_layer(node, resolve):
    """`resolve(node.type)(name=node.name, **node.arguments)`, errors located."""
    layer_class = _resolved(node, node.type, resolve)
    try:
        return layer_class(name=node.name, **_constructor_arguments(node, node.arguments, resolve))
    except Exception as error:
        raise _constructor_error(node, error) from error


class _BuildTimeValues:
    """The lookup that evaluates a `Deferred` value: its values, and real shapes."""

    def __init__(self, deferred, shape_of):
        self.deferred = deferred
        self.shape_of = shape_of

    def value(self, name):
        value = self.deferred.values[name]
        return _evaluated(value, self.shape_of) if isinstance(value, Deferred) else value

    def names(self):
        return set(self.deferred.values)

    def shape(self, name):
        return self.shape_of(self.deferred.inputs[name])

    def shape_names(self):
        return sorted(self.deferred.inputs)


def _evaluated(deferred, shape_of):
    return expressions.substitute_all(deferred.text, _BuildTimeValues(deferred, shape_of))


def _shape_reader(node, graph, tensors):
    return lambda ref: list(_tensor_for(graph, node, ref, tensors).shape)


def _evaluate_at_build(node, deferred, what, graph, tensors):
    try:
        return _evaluated(deferred, _shape_reader(node, graph, tensors))
    except expressions.ExpressionError as error:
        raise SpecError(
            f"{_describe_node(node)}: {what} {str(deferred.text)!r}: {error.message}",
            node.location,
            hint=error.hint,
        ) from error


def _holds(node, graph, tensors):
    """A `when` that reads shapes, decided now that they are known."""
    value = _evaluate_at_build(node, node.condition, "`when`", graph, tensors)
    if not isinstance(value, bool):
        raise SpecError(
            f"{_describe_node(node)}: `when` must be true or false, got {value!r}", node.location
        )
    return value


def _passed_on(node, graph, tensors):
    """What the chain takes past a layer that its `when` left out at build time."""
    if node.passthrough is None:
        raise SpecError(
            f"{_describe_node(node)} is left out by its `when`, and there is no single "
            "previous output to pass on in its place",
            node.location,
        )
    return _tensor_for(graph, node, node.passthrough, tensors)


def _with_shapes_read(node, graph, tensors):
    """The node with its `Deferred` arguments evaluated (they read input shapes)."""
    deferred = {key: value for key, value in node.arguments.items() if isinstance(value, Deferred)}
    if not deferred:
        return node
    arguments = dict(node.arguments)
    for key, value in deferred.items():
        value = _evaluate_at_build(node, value, f"argument {key}", graph, tensors)
        problem = argument_values.refusal(key, value)
        if problem is None:
            value, problem = argument_values.normalise(key, value)
        if problem:
            raise SpecError(f"{_describe_node(node)}: {problem}", node.location)
        arguments[key] = value
    return dataclasses.replace(node, arguments=arguments)


def _apply_op(node, *operands):
    return ops.apply_op(node.type, node.name, list(operands), node.arguments)


def _nested_model(node, args, resolve):
    """The nested model of a `model:` block use, its inputs shaped like the call's tensors."""
    import keras

    tensors = args[0] if len(node.model.inputs) > 1 else args[:1]
    inputs = tuple(
        dataclasses.replace(
            input_node, shape=tuple(tensor.shape[1:]), dtype=keras.backend.standardize_dtype(
                tensor.dtype)
        )
        for input_node, tensor in zip(node.model.inputs, tensors, strict=True)
    )
    if node.model.kind == "sequential":
        (input_node,) = inputs
        first = keras.Input(shape=input_node.shape, dtype=input_node.dtype, name=input_node.name)
        layers = [_construct_layer(inner, resolve) for inner in node.model.layers]
        try:
            return keras.Sequential([first, *layers], name=node.name)
        except Exception as error:
            raise SpecError(
                f"{_describe_node(node)}: {_keras_reason(error)}", node.location
            ) from error
    model, _ = _build(dataclasses.replace(node.model, inputs=inputs, name=node.name), resolve)
    return model


def _resolved(node, type_name, resolve):
    try:
        return resolve(type_name)
    except SpecError as error:
        # The registry does not know where the name was written; we do.
        raise SpecError(
            [Diagnostic(d.message, node.location, d.hint, d.severity) for d in error.diagnostics]
        ) from error


def _constructor_arguments(node, arguments, resolve):
    """Keyword arguments for a constructor, with nested layers made.

    Expansion may share one dict (say a `defaults` regularizer) between many
    nodes; containers are copied so no constructor can change another node's
    value.
    """
    made = {}
    for key, value in arguments.items():
        if isinstance(value, (NestedLayer, list)) and _holds_nested(value):
            made[key] = _nested(node, value, resolve)
        elif isinstance(value, (dict, list)):
            made[key] = copy.deepcopy(value)
        else:
            made[key] = value
    return made


def _holds_nested(value):
    return isinstance(value, NestedLayer) or (
        isinstance(value, list) and any(_holds_nested(item) for item in value)
    )


def _nested(node, value, resolve):
    """A `NestedLayer` (or a list of them) -> layer objects."""
    if isinstance(value, list):
        return [_nested(node, item, resolve) for item in value]
    layer_class = _resolved(node, value.type, resolve)
    arguments = _constructor_arguments(node, value.arguments, resolve)
    # Named as Keras would name the first such layer, so that a model built
    # twice is built the same (Keras' own counter differs per session).
    arguments.setdefault("name", to_snake_case(value.type.rpartition(">")[2]))
    try:
        return layer_class(**arguments)
    except Exception as error:
        raise SpecError(
            f"{_describe_node(node)}: its {value.type} argument: {_keras_reason(error)}",
            node.location,
        ) from error


def _call_value(graph, node, value, tensors):
    """A call argument: a `Ref` -> its tensor, lists element-wise, constants as written."""
    if isinstance(value, Ref):
        return _tensor_for(graph, node, value, tensors)
    if isinstance(value, list):
        return [_call_value(graph, node, item, tensors) for item in value]
    return value


def _tensor_for(graph, node, ref, tensors):
    """The tensor `ref` names: a node's output, or one of its outputs."""
    where = node.location if node is not None else SourceLocation(file=graph.file)
    user = f"layer '{node.name}'" if node is not None else "outputs"
    try:
        value = tensors[ref.node]
    except KeyError:
        # Expansion guarantees names are defined before use; this only fires
        # for hand-made graphs.
        raise SpecError(
            f"{user} refers to '{ref.node}', which is not an input or an earlier layer",
            where,
        ) from None
    several = isinstance(value, (list, tuple, dict))
    if ref.output is None:
        if not several:
            return value
        choices = list(value) if isinstance(value, dict) else range(len(value))
        raise SpecError(
            f"{user} takes '{ref.node}', which has {len(value)} outputs; say which one",
            where,
            hint="refer to one output as " + " or ".join(f"{ref.node}.{key}" for key in choices),
        )
    if isinstance(value, dict) and ref.output in value:
        return value[ref.output]
    if isinstance(value, (list, tuple)) and isinstance(ref.output, int) and ref.output < len(value):
        return value[ref.output]
    count = len(value) if several else 1
    raise SpecError(
        f"{user} takes '{ref}', but '{ref.node}' has {count} "
        f"{'output' if count == 1 else 'outputs'}"
        + (f" ({ref.node}.0 to {ref.node}.{count - 1})" if count > 1 else ""),
        where,
        hint=None if several else f"refer to it as '{ref.node}'; layers such as LSTM have "
        "more outputs with return_state: true",
    )


def _constructor_error(node, error):
    """A `SpecError` for `cls(**arguments)` failing: names the argument if it can."""
    reason = _keras_reason(error)
    argument = _argument_named_in(reason, node.arguments)
    if argument is None:
        return SpecError(f"{_describe_node(node)}: {reason}", node.location)
    origin = node.argument_origins.get(argument)
    # Point at the value itself (which may sit in `defaults` or a block), else
    # at the layer.
    location = origin.location if origin is not None else node.location
    message = (
        f"{_describe_node(node)}: invalid argument "
        f"{argument}={node.arguments[argument]!r}: {reason}"
    )
    if origin is not None and origin.kind != "layer":
        message += f" (value from {origin.detail or origin.kind})"
    return SpecError(message, location)


def _argument_named_in(reason, arguments):
    """The argument a Keras message is about, or None.

    Keras names it as `name`, name=... or {'name': ...}; failing that, a
    message that quotes a string value ("identifier: relux", 'relux') points
    at the argument holding that value.
    """
    for argument in arguments:
        escaped = re.escape(argument)
        if re.search(rf"`{escaped}`|\b{escaped}=|'{escaped}'", reason):
            return argument
    for argument, value in arguments.items():
        if not isinstance(value, str):
            continue
        quoted = re.escape(value)
        if re.search(rf": {quoted}\b|'{quoted}'|\"{quoted}\"", reason):
            return argument
    return None


def _call_error(node, inputs, error):
    """A `SpecError` for `layer(inputs)` failing, with every input's shape.

    inputs: [(Ref, tensor)] for each tensor the call took.
    """
    shapes = [tuple(tensor.shape) for _, tensor in inputs]
    received = _describe_inputs([str(ref) for ref, _ in inputs], shapes)
    reason = _keras_reason(error)
    message = f"{_describe_node(node)} got {received}"
    if "zero or negative" in reason:
        # Keras lists kernel, strides and dilation; the hint says what matters.
        message += ": its output would have no elements (size zero or negative)"
    elif not _is_merge_shape_clash(node, shapes, reason):
        # For a merge of different shapes the shapes say it all; else add why.
        message += f": {reason}"
    return SpecError(message, node.location, hint=_shape_hint(node, shapes, reason))


def _is_merge_shape_clash(node, shapes, reason):
    is_merge = node.type in _ELEMENTWISE_MERGE_TYPES or node.type in _CONCATENATE_TYPES
    return is_merge and len(set(shapes)) > 1 and "shape" in reason


def _describe_node(node):
    """Names a node: "Conv2D 'conv1'", plus the block and line for a block's layer.

    A block's layer is reported at the line that uses the block (where the
    user can act); the line inside the block body is named here.
    """
    text = f"{node.type} '{node.name}'"
    if node.blocks:
        text += f" (in block {' > '.join(node.blocks)}"
        if node.definition is not None:
            text += f", written at {node.definition}"
        text += ")"
    return text


def _describe_inputs(names, shapes):
    """Says what a node got: "shape (None, 8) from 'a'" or "shapes ... and ..."."""
    parts = [f"{_format_shape(shape)} from '{name}'" for name, shape in zip(names, shapes)]
    if not parts:
        return "no tensor inputs"
    if len(parts) == 1:
        return f"shape {parts[0]}"
    return "shapes " + ", ".join(parts[:-1]) + " and " + parts[-1]


def _format_shape(shape):
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


def _keras_reason(error):
    """The useful line(s) of a Keras exception, without colours or call dumps.

    Errors raised inside `call()` come wrapped as "Exception encountered when
    calling X.call(). <reason> Arguments received by X.call(): ..."; keep the
    reason only.
    """
    text = _ANSI_ESCAPE.sub("", str(error))
    if "Exception encountered when calling" in text:
        text = text.split("\n", 1)[-1]
        text = text.split("Arguments received by", 1)[0]
    text = _KERAS_TENSOR_REPR.sub(r"\1", " ".join(text.split()))
    if not text:
        text = type(error).__name__
    elif not isinstance(error, ValueError):
        # A TypeError or IndexError says less on its own; name it.
        text = f"{type(error).__name__}: {text}"
    return text


# --- hints -------------------------------------------------------------------


def _shape_hint(node, shapes, reason):
    """A suggestion for the most common shape mistakes, or None."""
    if "zero or negative" in reason:
        return _window_too_large_hint(node, shapes[0])
    rank_mismatch = _RANK_MISMATCH.search(reason)
    if rank_mismatch:
        bound, expected, found = rank_mismatch.groups()
        return _rank_hint(node, int(expected), int(found), bound)
    count_mismatch = _INPUT_COUNT_MISMATCH.search(reason)
    if count_mismatch:
        expected = int(count_mismatch.group(1))
        return f"{node.type} takes {expected} input(s); list {expected} name(s) in `inputs`"
    if "must be fully-defined" in reason:
        return (
            f"{node.type} needs a known size on its input's last axis; give the "
            "input a full shape, or Flatten / pool to a fixed size first"
        )
    if len(shapes) > 1 and (
        node.type in _ELEMENTWISE_MERGE_TYPES or node.type in _CONCATENATE_TYPES
    ):
        return _merge_hint(node, shapes)
    return None


def _window_too_large_hint(node, shape):
    window_argument = "kernel_size" if "kernel_size" in node.arguments else "pool_size"
    window = node.arguments.get(window_argument)
    spatial = _spatial_sizes(node, shape)
    size_text = "x".join(str(size) for size in spatial)
    window_text = f" ({window_argument}: {window})" if window is not None else ""
    return (
        f"the input is only {size_text} but the window{window_text} does not fit; "
        f"use padding: same, a smaller {window_argument}, or downsample less "
        f"before '{node.name}'"
    )


def _rank_hint(node, expected, found, bound):
    if bound == "max_" or (bound != "min_" and found > expected):
        return (
            f"{node.type} takes {expected}-D input (batch axis included) but got "
            f"{found}-D; add Flatten or a global pooling layer before '{node.name}'"
        )
    return (
        f"{node.type} takes {'at least ' if bound == 'min_' else ''}{expected}-D "
        f"input (batch axis included) but got {found}-D; add a Reshape before "
        f"'{node.name}' or take a different input"
    )


def _merge_hint(node, shapes):
    """Says which axes differ between two merged inputs and how to line them up."""
    first, other_index = shapes[0], None
    for index, shape in enumerate(shapes[1:], start=1):
        if shape != first:
            other_index = index
            break
    if other_index is None or len(shapes[other_index]) != len(first):
        return f"{node.type} needs inputs of the same rank and shape"
    other = shapes[other_index]
    names = (str(node.refs[0]), str(node.refs[other_index]))

    concat_axis = None
    if node.type in _CONCATENATE_TYPES:
        concat_axis = node.arguments.get("axis", -1) % len(first)
    differing = [
        axis
        for axis in range(1, len(first))
        if axis != concat_axis
        and first[axis] != other[axis]
        and None not in (first[axis], other[axis])
    ]
    if not differing:
        return None
    channel_axis = len(first) - 1
    hints = []
    spatial = [axis for axis in differing if axis != channel_axis]
    if spatial:
        hints.append(_resolution_hint(first, other, names, spatial[0]))
    if channel_axis in differing and concat_axis != channel_axis:
        hints.append(
            f"the channel counts differ ({first[-1]} from '{names[0]}', "
            f"{other[-1]} from '{names[1]}'): give both the same filters/units, or "
            "project one with a 1x1 Conv2D"
        )
    return "; ".join(hints)


def _resolution_hint(first, other, names, axis):
    """How to bring two spatial sizes together: strides, pooling or upsampling."""
    (small_name, small), (big_name, big) = sorted(
        [(names[0], first[axis]), (names[1], other[axis])], key=lambda item: item[1]
    )
    if big % small == 0:
        factor = big // small
        return (
            f"'{big_name}' is {factor}x larger: give the layer that makes it "
            f"strides: {factor} or pool it with pool_size: {factor}, or upsample "
            f"'{small_name}' (UpSampling2D size: {factor})"
        )
    return (
        f"'{big_name}' has size {big} where '{small_name}' has {small}: change "
        "strides, pooling or padding ('same' keeps sizes) so they match"
    )


def _spatial_sizes(node, shape):
    if node.arguments.get("data_format") == "channels_first":
        return shape[2:]
    return shape[1:-1]
