"""Stage 1 of `to_spec`: a Keras model -> its calls, as spec graph references.

The first stage of the spec pipeline run backwards (read -> simplify
arguments -> order and name -> write). It reads a functional (or Sequential)
model the way Keras records it, one `Node` per call, and gives back what a
spec says about each call:

- **which layer or operation** it calls, by spec type name: a table layer
  (`Conv2D`, `LayerScale`), a registered plugin (`package>Class`), an op of
  the operations table (`add`, `mean`), or a nested model;
- **its arguments**: positional and keyword tensors as `Ref`s (`lstm.1` for
  output 1 of a layer with several), constant call options, for an op its
  operands and static arguments;
- **which calls share a layer**: the first call of a layer is its entry, a
  later call is a sharing entry under a name of its own (`dense_call2`).

Keyword arguments that Keras adds to a call by itself are dropped, by the
rule in `written_kwargs`: a Dropout called as `drop(x)` records
`training=False`, an LSTM after a masking Embedding records the Embedding's
mask (and its implicit `not_equal` op joins the model config). Rebuilding the
call without them records them again, so the spec leaves them out; the ops
that only computed such a mask are left out too (`ModelGraph.implicit`).

Everything a spec cannot say is collected, one line per offending layer
with what to do, and raised together as one `UsageError`.
"""

import dataclasses
import re

from kerasblocks.errors import UsageError
from kerasblocks.spec import ops, registry
from kerasblocks.spec.calls import UnwritableCall, holds_refs, written_call
from kerasblocks.spec.graph import CallReferences, Ref
from kerasblocks.spec.signatures import load_table
from kerasblocks.spec.syntax import LAYER_ARGUMENTS, NODE_NAME_RE

# The spec name of a later call of a shared layer: "<layer>_call<n>" (n from 2).
SHARED_CALL_SUFFIX = "_call"


@dataclasses.dataclass
class InputEntry:
    """A model input: `keras.Input(shape=shape, dtype=dtype, name=name)`."""

    name: str
    shape: list  # without the batch dimension
    dtype: str
    batch_size: int | None = None


@dataclasses.dataclass(eq=False)
class CallEntry(CallReferences):
    """One call of a layer or an operation: one Keras `Node`, one spec entry.

    name: the spec name of the call. The first call of a layer has the
        layer's name; a later call of a shared layer has a name of its own.
    layer: the Keras layer or operation called.
    type_name: the spec type: a layer type, `package>Class`, an op name, or
        for a nested model "Functional" or "Sequential" (its block is
        `model.block`).
    kind: "layer", "op" or "model" (a nested Functional or Sequential model).
    args: positional call arguments: `Ref`s or lists of them.
    kwargs: keyword call arguments: `Ref`s (lists of them) and constants.
        For an op: {operand name: value} in call order (a `Ref`, a constant,
        the spec form of a `get_item` key), only the operands to write.
    shares: for a later call of a shared layer, the name of its first call.
    position: the layer's index in the model's config, for stable choices.
    config: the layer's serialised config (its first call only).
    static: an op's static arguments, non-default ones only.
    """

    name: str
    layer: object
    type_name: str
    kind: str
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    shares: str | None = None
    position: int = 0
    config: dict | None = None
    static: dict = dataclasses.field(default_factory=dict)
    model: "ModelGraph | None" = None  # a nested model (its first call): its calls
    build_config: dict | None = None  # the layer's, from the model's config (first call)
    # Filled in by the later stages.
    arguments: dict = dataclasses.field(default_factory=dict)  # written constructor arguments
    required: frozenset = frozenset()  # the constructor's arguments without a default
    chained_operand: str | None = None  # the argument the previous entry fills, if any
    write_name: bool = True

    @property
    def is_op(self):
        return self.kind == "op"

    @property
    def depends_on(self):
        """The names of the entries that must be written before this one."""
        names = list(self.inputs)
        if self.shares is not None:
            names.append(self.shares)
        return tuple(dict.fromkeys(names))

    def chain_candidate(self):
        """(argument, node name) that the previous entry can fill, or None.

        A layer call whose first positional tensor is a whole node's output
        is written after that node without it: no `inputs` for one tensor,
        else an `inputs` mapping without the call's first argument (the chain
        fills it). An op leaves out its first operand when that operand is
        the one the previous entry fills (the first required tensor operand)
        and holds a whole node's output.
        """
        if self.is_op:
            operands = ops.op_spec(self.type_name).operands
            first = operands[0] if operands else None
            if first is None or not first.fillable:
                return None
            value = self.kwargs.get(first.name)
            if isinstance(value, Ref) and value.output is None:
                return first.name, value.node
            return None
        if not self.args or not isinstance(self.args[0], Ref) or self.args[0].output is not None:
            return None
        several = len(self.args) > 1 or any(holds_refs(value) for value in self.kwargs.values())
        if several and (self.kind != "layer" or registry.signature(self.type_name) is None):
            return None  # only a layer with a known call fills a left-out first argument
        return 0, self.args[0].node


@dataclasses.dataclass
class ModelGraph:
    """A model as calls: what the spec says about it.

    outputs: [(key, Ref)]: key is the dict key of a model with dict outputs,
        else None.
    implicit: names of the operations left out because Keras makes them by
        itself when the model is rebuilt (an Embedding's mask `not_equal`).
    """

    name: str
    inputs: list  # of InputEntry, in call order
    calls: list  # of CallEntry, in the model's config order
    outputs: list
    output_dict: bool = False
    input_dict: bool = False
    input_list: bool = False
    output_list: bool = False
    implicit: tuple = ()
    kind: str = "functional"  # a nested model: "functional" or "sequential"
    block: str | None = None  # a nested model: the name of the `model:` block written for it

    def all_calls(self):
        """The calls of this model and of every nested model in it, outer ones first."""
        for _, call in self.calls_with_paths():
            yield call

    def calls_with_paths(self, path=()):
        """(names of the nested models a call sits in, call) for every call, as `all_calls`."""
        for call in self.calls:
            yield path, call
            if call.model is not None:
                yield from call.model.calls_with_paths((*path, call.name))


def read_model(model):
    """The `ModelGraph` of a functional or Sequential model.

    Raises:
        UsageError: listing every part of the model a spec cannot hold.
    """
    return _Reader(model).read()


class _Reader:
    def __init__(self, model, parent=None):
        self.model = model
        self.parent = parent
        root = parent.root if parent is not None else self
        self.root = root
        self.path = (*parent.path, model.name) if parent is not None else ()
        if parent is None:
            self.problems = {}  # layer label -> [problem], in the order found
            self.labels = {}  # layer label -> class label
            self.nested_layers = {}  # id(layer) -> the name of the (nested) model calling it
            self.table_classes = _table_classes()

    def problem(self, layer, message):
        key = " > ".join((*self.path, layer.name))
        messages = self.root.problems.setdefault(key, [])
        self.root.labels.setdefault(key, _class_label(layer))
        if message not in messages:
            messages.append(message)

    def raise_problems(self):
        if self.problems:
            raise problems_error(
                self.model.name,
                [(name, self.labels[name], messages) for name, messages in self.problems.items()],
            )

    def read(self):
        import keras

        functional = _functional_view(self.model)
        type_names = {}
        for operation in functional.operations:
            if isinstance(operation, keras.layers.InputLayer):
                continue
            type_name, problem = _type_name(operation, self.root.table_classes)
            if problem:
                self.problem(operation, problem)
            type_names[operation.name] = type_name
        try:
            config = functional.get_config()
        except Exception:
            self.root.raise_problems()  # an unregistered layer may have no usable get_config()
            raise
        self.calls_of, self.raw_index = _model_nodes(functional)
        self.by_name = {operation.name: operation for operation in functional.operations}
        self.names = self._call_names(functional)

        inputs, calls = {}, []
        configs = {layer_config["name"]: layer_config for layer_config in config["layers"]}
        for position, operation in enumerate(functional.operations):
            layer_config = configs[operation.name]
            if not NODE_NAME_RE.match(operation.name):
                self.problem(
                    operation,
                    "its name is not a spec name (letters, digits, '_', '.', '-'); rename it",
                )
            if isinstance(operation, keras.layers.InputLayer):
                inputs[operation.name] = self._input(operation)
                continue
            self._claim(operation)
            type_name = type_names[operation.name]
            if type_name is None:
                continue  # reported
            if type_name in _MODEL_TYPES:
                calls.extend(self._model_calls(operation, type_name, position))
            elif ops.is_op_name(type_name):
                calls.extend(self._op_calls(operation, type_name, layer_config, position))
            else:
                calls.extend(self._layer_calls(operation, type_name, layer_config, position))

        input_order = _history_names(config["input_layers"])
        input_dict = self._check_inputs_dict(config, input_order)
        structure = functional._inputs_struct
        input_list = isinstance(structure, (list, tuple)) and len(structure) == 1
        output_list = isinstance(functional._outputs_struct, (list, tuple)) and (
            len(functional._outputs_struct) == 1
        )
        if self.parent is not None and (input_list or output_list):
            self.problem_model(
                "its inputs or outputs are a list of one tensor; a spec's nested model takes "
                "and returns the tensor itself: rebuild it with keras.Model(model.inputs[0], "
                "model.outputs[0]) first"
            )
        outputs, output_dict = self._outputs(functional, config)
        if self.parent is None:
            self.raise_problems()
        calls, implicit = _without_implicit(calls, outputs)
        return ModelGraph(
            name=self.model.name,
            inputs=[inputs[name] for name in input_order],
            calls=calls,
            outputs=outputs,
            output_dict=output_dict,
            input_dict=input_dict,
            input_list=input_list,
            output_list=output_list,
            implicit=implicit,
            kind="sequential" if isinstance(self.model, keras.Sequential) else "functional",
        )

    def _claim(self, layer):
        """Notes a layer of a nested model; a layer in two models cannot be written."""
        owner = self.root.nested_layers.setdefault(id(layer), self.model.name)
        if owner != self.model.name:
            self.problem(
                layer,
                f"used both in model '{owner}' and in '{self.model.name}', one nested in the "
                "other; a spec's nested model owns its layers: give each model its own layer",
            )

    def _check_inputs_dict(self, config, input_order):
        """Whether the model takes a dict of its inputs (`input_dict: true`)."""
        if isinstance(config["input_layers"], dict):
            if list(config["input_layers"]) == input_order:
                return True
            self.problem_model(
                "its inputs are a dict ({keys}) whose keys are not its inputs' names in order; "
                "a spec's `input_dict` is keyed by the input names: rebuild the same graph with "
                "keras.Model({{t.name: t for t in model.inputs}}, model.outputs) first".format(
                    keys=", ".join(config["input_layers"])
                ),
            )
        return False

    def problem_model(self, message):
        key = " > ".join((*self.path, self.model.name)) if self.path else self.model.name
        messages = self.root.problems.setdefault(key, [])
        self.root.labels.setdefault(key, "the model" if self.parent is None else "a nested model")
        if message not in messages:
            messages.append(message)

    # --- names and references ---------------------------------------------------

    def _call_names(self, functional):
        """{(operation id, node index in the model): spec name of that call}."""
        import keras

        taken = self.taken = {operation.name for operation in functional.operations}
        names = {}
        for operation in functional.operations:
            if isinstance(operation, keras.layers.InputLayer):
                names[(id(operation), 0)] = operation.name
                continue
            for number, (index, _) in enumerate(self.calls_of.get(id(operation), [])):
                if number == 0:
                    names[(id(operation), index)] = operation.name
                    continue
                name = f"{operation.name}{SHARED_CALL_SUFFIX}{number + 1}"
                while name in taken:
                    name += "_"
                taken.add(name)
                names[(id(operation), index)] = name
        return names

    def ref(self, tensor):
        """The `Ref` of a KerasTensor of the model."""
        operation, node_index, tensor_index = tensor._keras_history
        return self._ref(operation, node_index, tensor_index)

    def _ref(self, operation, raw_index, tensor_index):
        name = self.names[(id(operation), raw_index)]
        if len(operation._inbound_nodes[raw_index].outputs) == 1:
            return Ref(name)
        return Ref(name, _output_key(operation, tensor_index))

    def _config_ref(self, tensor_ref):
        """An ops `TensorRef` (node indices as the config numbers them) -> `Ref`."""
        operation = self.by_name[tensor_ref.layer]
        raw_index = self.raw_index[(operation.name, tensor_ref.node_index)]
        return self._ref(operation, raw_index, tensor_ref.tensor_index)

    def _value(self, operation, value):
        """A call argument -> Refs (lists element-wise), or a constant; None if unwritable."""
        import keras

        if isinstance(value, keras.KerasTensor):
            return self.ref(value)
        if isinstance(value, list):
            items = [self._value(operation, item) for item in value]
            return _UNWRITABLE if any(item is _UNWRITABLE for item in items) else items
        if isinstance(value, (tuple, dict)) and holds_tensors(value):
            return _UNWRITABLE
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        return _UNWRITABLE

    # --- inputs and outputs ---------------------------------------------------------

    def _input(self, layer):
        config = layer.get_config()
        shape = list(config["batch_shape"][1:])
        entry = InputEntry(
            layer.name, shape, str(config.get("dtype") or "float32"), config["batch_shape"][0]
        )
        for flag in ("sparse", "ragged", "optional"):
            if config.get(flag):
                self.problem(layer, f"a {flag} input, which spec inputs cannot declare")
        return entry

    def _outputs(self, functional, config):
        structure = functional._outputs_struct
        if isinstance(structure, dict):
            if self.parent is not None:
                self.problem_model(
                    "it returns a dict; a spec's nested model returns one tensor or a list: "
                    "build it with a list of outputs"
                )
                return [], False
            return [(str(key), self.ref(tensor)) for key, tensor in structure.items()], True
        if isinstance(structure, (list, tuple)):
            if any(isinstance(item, (list, tuple, dict)) for item in structure):
                self.problem_model(
                    "its outputs are nested lists; a spec's model returns one tensor, a flat "
                    "list or a dict: wrap the same graph as keras.Model(model.inputs, "
                    "<flat list of outputs>) first"
                )
                return [], False
            return [(None, self.ref(tensor)) for tensor in structure], False
        return [(None, self.ref(structure))], False

    # --- layer calls ----------------------------------------------------------------

    def _layer_calls(self, layer, type_name, layer_config, position):
        calls = []
        for number, (raw_index, node) in enumerate(self.calls_of.get(id(layer), [])):
            name = self.names[(id(layer), raw_index)]
            args = [self._value(layer, value) for value in node.arguments.args]
            kwargs = {
                key: self._value(layer, value)
                for key, value in written_kwargs(layer, node).items()
            }
            unwritable = [
                f"argument {index + 1}" for index, value in enumerate(args) if value is _UNWRITABLE
            ] + [key for key, value in kwargs.items() if value is _UNWRITABLE]
            if unwritable:
                self.problem(
                    layer,
                    f"called with {', '.join(unwritable)} holding a tuple, a dict or an object; "
                    "a spec passes tensors, lists of tensors and plain constants",
                )
                continue
            constants = [index for index, value in enumerate(args) if not holds_refs(value)]
            if constants:
                self.problem(
                    layer,
                    "called with a constant passed by position; a spec passes constants "
                    "by keyword (`call: {...}`)",
                )
                continue
            try:
                written_call(registry.signature(type_name), args, kwargs)
            except UnwritableCall:
                self.problem(
                    layer,
                    f"called with {len(args)} tensors by position, and its call's parameters "
                    "are not known (a registered layer): pass the tensors after the first by "
                    "keyword",
                )
                continue
            calls.append(
                CallEntry(
                    name=name,
                    layer=layer,
                    type_name=type_name,
                    kind="layer",
                    args=tuple(args),
                    kwargs=kwargs,
                    shares=self.names[(id(layer), self.calls_of[id(layer)][0][0])]
                    if number
                    else None,
                    position=position,
                    config=layer_config.get("config") if number == 0 else None,
                    build_config=layer_config.get("build_config") if number == 0 else None,
                )
            )
        return calls

    def _model_calls(self, model, type_name, position):
        """The calls of a nested Functional or Sequential model."""
        graph = _Reader(model, parent=self).read()
        calls = []
        for number, (raw_index, node) in enumerate(self.calls_of.get(id(model), [])):
            args = node.arguments.args
            kwargs = written_kwargs(model, node)
            if kwargs:
                listing = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
                self.problem(
                    model,
                    f"called with {listing}; a spec calls a nested model on its inputs only",
                )
                continue
            tensors = args[0] if len(args) == 1 else None
            if isinstance(tensors, (list, tuple)) and len(graph.inputs) > 1:
                tensors = list(tensors)
            elif len(graph.inputs) == 1 and len(args) == 1:
                tensors = [tensors]
            else:
                self.problem(
                    model,
                    "called with something other than its inputs as one tensor or one list; a "
                    "spec calls a nested model as model(x) or model([a, b])",
                )
                continue
            value = self._value(model, tensors)
            if value is _UNWRITABLE or not all(isinstance(item, Ref) for item in value):
                self.problem(model, "called on something other than tensors")
                continue
            if number == 0:
                self._check_nested_inputs(model, graph, tensors)
            calls.append(
                CallEntry(
                    name=self.names[(id(model), raw_index)],
                    layer=model,
                    type_name=type_name,
                    kind="model",
                    args=(value[0] if len(graph.inputs) == 1 else value,),
                    shares=self.names[(id(model), self.calls_of[id(model)][0][0])]
                    if number
                    else None,
                    position=position,
                    model=graph if number == 0 else None,
                )
            )
        return calls

    def _check_nested_inputs(self, model, graph, tensors):
        """A spec's nested model takes the shapes and dtypes of the tensors it is called on."""
        from keras.src import backend

        for entry, tensor in zip(graph.inputs, tensors):
            shape = [None if size is None else int(size) for size in tensor.shape[1:]]
            dtype = backend.standardize_dtype(tensor.dtype)
            if shape != list(entry.shape) or dtype != entry.dtype:
                self.problem(
                    model,
                    f"its input '{entry.name}' is {_shape_text(entry.shape)} {entry.dtype} but "
                    f"it is called on {_shape_text(shape)} {dtype}; a spec's nested model takes "
                    "the shape and dtype of what it is called on: build it with inputs of "
                    "that shape",
                )
            if not _IDENTIFIER_RE.match(entry.name):
                self.problem(
                    model,
                    f"its input '{entry.name}' is no block input name (letters, digits and "
                    "'_', not starting with a digit); rename that keras.Input",
                )

    def _op_calls(self, operation, type_name, layer_config, position):
        try:
            _, static = ops.op_from_config(layer_config)
            operands = ops.operands_from_config(layer_config)
        except ops.UnsupportedOperation as error:
            self.problem(operation, _op_problem(str(error), operation))
            return []
        ((raw_index, _),) = self.calls_of[id(operation)]
        name = self.names[(id(operation), raw_index)]
        values, constants = {}, []
        for key, value in operands.items():
            if isinstance(value, ops.ArangeConstant):
                # Inline in the config; an `arange` entry of the spec gives it back.
                constants.append(self._arange_entry(f"{name}_{key}", value, position))
                values[key] = Ref(constants[-1].name)
            else:
                values[key] = _converted_operand(value, self._config_ref)
        return [
            *constants,
            CallEntry(
                name=name,
                layer=operation,
                type_name=type_name,
                kind="op",
                kwargs=values,
                position=position,
                config=layer_config.get("config"),
                static=static,
            ),
        ]

    def _arange_entry(self, base, constant, position):
        """An `arange` entry for an inline constant operand (no node in the model)."""
        name = base
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        arguments = constant.arguments()
        operands = ops.op_spec("arange").operand_names
        return CallEntry(
            name=name,
            layer=None,
            type_name="arange",
            kind="op",
            kwargs={key: value for key, value in arguments.items() if key in operands},
            position=position,
            static={key: value for key, value in arguments.items() if key not in operands},
        )

def problems_error(model_name, problems):
    """One `UsageError` listing every offending layer once: [(name, label, [messages])]."""
    listing = "\n".join(
        f"  - '{name}' ({label}): {'; and '.join(messages)}" for name, label, messages in problems
    )
    count = f"{len(problems)} layer{'s' if len(problems) != 1 else ''}"
    return UsageError(
        f"model '{model_name}' cannot be written as a spec; {count} to change:\n{listing}"
    )


_UNWRITABLE = object()
_MODEL_TYPES = ("Functional", "Sequential")
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _shape_text(shape):
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


def holds_tensors(value):
    import keras

    return any(isinstance(item, keras.KerasTensor) for item in keras.tree.flatten(value))


def _converted_operand(value, ref_of):
    if isinstance(value, ops.TensorRef):
        return ref_of(value)
    if isinstance(value, list) and value and all(isinstance(item, ops.TensorRef) for item in value):
        return [ref_of(item) for item in value]
    return value


def _op_problem(message, operation):
    """An ops-table message without its own "'name' (op): " label (the listing has one)."""
    return re.sub(rf"\A'{re.escape(operation.name)}' (\([^)]*\):? )?", "", message)


def _output_key(operation, tensor_index):
    """The spec's output reference of output `tensor_index` (flattened) of a call."""
    structure = getattr(operation, "_outputs_struct", None)
    if isinstance(structure, dict):
        import keras

        paths = [path for path, _ in keras.tree.flatten_with_path(structure)]
        return str(paths[tensor_index][0])
    return tensor_index


def _is_functional(operation):
    from keras.src.models.functional import Functional

    return isinstance(operation, Functional)


def _model_nodes(functional):
    """The calls of `functional`'s own nodes (a layer may be called in other models too).

    Returns:
        ({operation id: [(index in operation._inbound_nodes, node)]}, in call
        order, without nodes that take no tensor (Keras writes none for
        them); {(operation name, node index as the config numbers it): index
        in operation._inbound_nodes}, numbered as `Functional.get_config` numbers
        the tensors that calls take: by the model's own nodes only).
    """
    from keras.src.ops.function import make_node_key

    calls, raw_index = {}, {}
    for operation in functional.operations:
        config_index = 0
        for index, node in enumerate(operation._inbound_nodes):
            if make_node_key(operation, index) not in functional._nodes:
                continue
            raw_index[(operation.name, config_index)] = index
            config_index += 1
            if node.input_tensors:
                calls.setdefault(id(operation), []).append((index, node))
    return calls, raw_index


def _history_names(structure):
    """The layer names of `input_layers`: [name, node, index] or nests of them."""
    if (
        isinstance(structure, (list, tuple))
        and len(structure) == 3
        and isinstance(structure[0], str)
        and all(isinstance(item, int) for item in structure[1:])
    ):
        return [structure[0]]
    items = structure.values() if isinstance(structure, dict) else structure
    return [name for item in items for name in _history_names(item)]


def _without_implicit(calls, outputs):
    """Drops the op calls nothing written refers to: Keras makes them again by itself.

    An Embedding with `mask_zero=True` computes its mask with `not_equal` on
    its input; a layer after it records that mask as its `mask` keyword.
    Once the recorded keywords that a plain call gives again are dropped,
    such an op is referred to by nothing: rebuilding the model makes it anew.
    """
    used = {ref.node for _, ref in outputs}
    for call in calls:
        used.update(call.inputs)
        if call.shares is not None:
            used.add(call.shares)
    implicit = []
    kept = list(calls)
    while True:
        unused = [call for call in kept if call.is_op and call.name not in used]
        if not unused:
            break
        for call in unused:
            kept.remove(call)
            implicit.append(call.name)
        used = {ref.node for _, ref in outputs}
        for call in kept:
            used.update(call.inputs)
            if call.shares is not None:
                used.add(call.shares)
    return kept, tuple(implicit)


# --- the keyword arguments Keras records by itself ------------------------------------


def written_kwargs(layer, node):
    """The recorded keyword arguments of `node` that a spec must write.

    Keras adds `training` (the default of `call`'s `training` when it is not
    None) and `mask` (the input's Keras mask) to a call by itself, and the
    node records them only when the layer took its fast path (`layer(x)`,
    nothing else) or never converts its inputs (nested models, lookup
    layers). A layer that converts its inputs: if the recorded keywords are
    exactly what a plain call records, none are written, else all of them
    (written out, the call takes the conversion path, which records exactly
    what was passed). A layer that never converts: Keras adds its keys
    whatever else is passed but never over a given value, so the keys that
    equal what it adds are dropped one by one.
    """
    recorded = dict(node.arguments.kwargs)
    if not recorded:
        return recorded
    added = plain_call_kwargs(layer, node.arguments.args)
    if added is None:
        return recorded
    if getattr(layer, "_convert_input_args", True):
        same = recorded.keys() == added.keys() and all(
            _same_value(recorded[key], added[key]) for key in recorded
        )
        return {} if same else recorded
    return {
        key: value
        for key, value in recorded.items()
        if not (key in added and _same_value(value, added[key]))
    }


def plain_call_kwargs(layer, args):
    """The keywords Keras records on `layer(*args)` by itself; None if unknown.

    Follows `keras.layers.Layer.__call__` (Keras 3.15): step 1 (the fast path
    keeps the caller's kwargs dict), step 5 (`training` from `call`'s
    default: there is no outer call while a functional model is built) and
    step 6 (`mask`, or `<argument>_mask` for several tensor arguments).
    """
    try:
        from keras import tree
        from keras.src import backend
        from keras.src.backend import is_keras_tensor
        from keras.src.layers.layer import CallSpec

        fast = (
            len(args) == 1
            and is_keras_tensor(args[0])
            and backend.standardize_dtype(args[0].dtype) == layer.input_dtype
        )
        if getattr(layer, "_convert_input_args", True) and not fast:
            return {}
        kwargs = {}
        call_spec = CallSpec(layer._call_signature, layer._call_context_args, list(args), {})
        for name in layer._call_context_args:
            value = call_spec.arguments_dict.get(name)
            if layer._call_has_context_arg.get(name, False) and value is not None:
                kwargs[name] = value
        tensors = call_spec.tensor_arguments_dict
        if len(tensors) == 1:
            if "mask" in call_spec.argument_names and call_spec.arguments_dict["mask"] is None:
                (only,) = tensors.values()
                kwargs["mask"] = tree.map_structure(backend.get_keras_mask, only)
        elif len(tensors) > 1:
            for key, value in tensors.items():
                mask_name = f"{key}_mask"
                if (
                    mask_name in call_spec.argument_names
                    and call_spec.arguments_dict[mask_name] is None
                ):
                    kwargs[mask_name] = tree.map_structure(backend.get_keras_mask, value)
        return kwargs
    except Exception:  # an unusual call signature: keep every recorded keyword
        return None


def _same_value(a, b):
    """Tensors by identity, containers item by item, constants by type and value."""
    import keras

    if isinstance(a, keras.KerasTensor) or isinstance(b, keras.KerasTensor):
        return a is b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[key], b[key]) for key in a)
    return type(a) is type(b) and a == b


# --- the model, its layers' types ------------------------------------------------------


def _functional_view(model):
    """A functional model over `model`'s own layers (Sequential -> Functional)."""
    import keras
    from keras.src.models.functional import Functional  # Keras 3 has no public alias

    if isinstance(model, keras.Sequential):
        try:
            inputs, outputs = model.inputs, model.outputs
        except (AttributeError, ValueError) as error:
            raise UsageError(
                f"Sequential model '{model.name}' has no input shape yet, so its layers have "
                "no shapes to write; start it with keras.Input(shape=...) or call "
                "model.build(input_shape) first"
            ) from error
        # Traces the existing graph: no layer is called again, nothing is copied.
        return keras.Model(inputs[0], outputs[0], name=model.name)
    if isinstance(model, Functional):
        return model
    raise UsageError(
        f"model '{model.name}' is a subclassed keras.Model ({_class_path(type(model))}): its "
        "call() is Python code that a spec cannot describe; only functional and Sequential "
        "models can be written as specs"
    )


def _type_name(layer, table_classes):
    """The spec type name of `layer`, and None; or None and why not.

    Args:
        layer: a Keras operation of the model.
        table_classes: {class: type name} of the signature table's layers.
    """
    import keras

    from keras.src.models.functional import Functional

    cls = type(layer)
    if isinstance(layer, keras.Sequential):
        return "Sequential", None
    if isinstance(layer, Functional) and type(layer) in (Functional, keras.Model):
        return "Functional", None
    if isinstance(layer, keras.Model):
        return None, (
            f"a subclassed keras.Model ({_class_path(cls)}) used as a layer: its call() is "
            "Python code that a spec cannot describe; write it as a functional model"
        )
    if not isinstance(layer, keras.layers.Layer):
        name = ops.spec_name_of_class(cls.__module__, cls.__name__)
        if name is not None:
            return name, None
        instead = (
            f"keras.layers.{cls.__name__}"
            if isinstance(getattr(keras.layers, cls.__name__, None), type)
            else "a Keras layer that does the same"
        )
        return None, (
            f"a keras.ops call ({cls.__name__}) that the spec's operations table does not "
            f"have; use {instead}, or a registered custom layer"
        )
    if cls in table_classes:
        refused = registry.signature(table_classes[cls]).refused
        return (None, refused) if refused else (table_classes[cls], None)
    registered = keras.saving.get_registered_name(cls)
    plugin = registry.is_plugin_name(registered)
    if plugin and keras.saving.get_registered_object(registered) is cls:
        if issubclass(cls, keras.layers.Lambda):
            return None, (
                "a Lambda layer; Lambda layers can carry code and are refused in specs; "
                "write a registered custom layer instead"
            )
        return registered, None
    return None, (
        "a custom layer class that is not registered with Keras; register it with "
        "@keras.saving.register_keras_serializable(package='my_package') and it is written "
        f"'my_package>{cls.__name__}' (import that package before building the spec)"
    )


def _table_classes():
    """{layer class: its type name} for every layer in the signature table."""
    import keras

    classes = {}
    for type_name, signature in load_table().layers.items():
        if signature.refused:
            cls = getattr(keras.layers, type_name, None)
        else:
            cls = registry.resolve(type_name)
        # An alias (MaxPool2D for MaxPooling2D) gives way to the class's own name.
        if isinstance(cls, type) and (cls not in classes or type_name == cls.__name__):
            classes[cls] = type_name
    return classes


def layer_type_of_config(serialised):
    """The spec type name and class of a serialised layer (a nested layer argument)."""
    import keras

    registered = serialised.get("registered_name")
    if registered and registry.is_plugin_name(registered):
        cls = keras.saving.get_registered_object(registered)
        return (registered, cls) if cls is not None else (None, None)
    class_name = serialised.get("class_name")
    signature = registry.signature(class_name) if isinstance(class_name, str) else None
    if signature is None or signature.refused:
        return None, None
    return class_name, registry.resolve(class_name)


def is_layer_argument(key, value):
    """Whether a config entry is a layer given as an argument (a serialised layer)."""
    if key not in LAYER_ARGUMENTS:
        return False
    if isinstance(value, list):
        return bool(value) and all(is_layer_argument(key, item) for item in value)
    return isinstance(value, dict) and "class_name" in value and "config" in value


def _class_label(layer):
    import keras

    cls = type(layer)
    if not isinstance(layer, keras.layers.Layer):
        return f"keras.ops {cls.__name__}"
    if cls.__module__.startswith(("keras.", "kerasblocks.")):
        return cls.__name__
    return _class_path(cls)


def _class_path(cls):
    return f"{cls.__module__}.{cls.__qualname__}"
