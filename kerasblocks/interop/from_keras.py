"""`to_spec`: a functional or Sequential Keras model -> spec text.

The inverse of `kerasblocks.build`, run as the spec pipeline backwards, one
stage per module:

1. **read** (`keras_graph`): the model's calls (one per Keras `Node`), their
   tensors as references (`lstm.1`), shared layers, keras.ops nodes, and the
   keyword arguments Keras adds by itself dropped;
2. **simplify arguments** (`layer_arguments`): only the arguments that
   matter, each in its shortest exact form, layers given as arguments as
   nested entries;
3. **order and name** (`spec_layout`): chains as chains, names kept (left
   out only where the automatic name is the same), shared settings as
   `defaults`;
4. **write** (here and `spec_writer`): spec data, then YAML.

The spec is written the way a person would write it:

- **One entry per call**, typed by its Keras class name (`Conv2D`), a
  kerasblocks layer (`LRN`), a layer of Keras' applications (`LayerScale`),
  an op of the operations table (`- add: {x2: 3.0}`) or, for a third-party
  layer registered with `keras.saving.register_keras_serializable`, its
  registered name `package>ClassName`.
- **Calls as Keras records them**: one tensor as `inputs: x`, a list as
  `inputs: [a, b]`, several tensor arguments by name (`inputs: {query: q,
  value: v}`, `inputs: {sequences: x, initial_state: [h, c]}`), call
  options as `call: {use_causal_mask: true}`, one output of several as
  `lstm.1`. A layer called again is `- Dense: {share: d, name: d_call2,
  inputs: ...}`.
- **Only the arguments that matter** (see `layer_arguments`); **`defaults`**
  for settings that three or more layers of a type share; **names kept**.
- A dtype policy other than float32 is written on the layer (`dtype:
  mixed_float16`); `trainable: false` likewise.

- **Nested models** (a Sequential stem, a Functional encoder) are
  `model: sequential|functional` blocks; a model called twice is a shared
  block use.

A model the spec language cannot express raises `UsageError` listing every
offending layer once with what to do: Lambda and other refused layers,
custom layers that are not registered, subclassed models, keras.ops calls
the operations table lacks, calls with arguments a spec cannot hold (tuples,
dicts, positional constants), nested models called on tensors of another
shape than their inputs, dict model inputs keyed by other names than the
inputs'.

The `repeat` and `stack` shorthands and blocks are not used: a repeat would
need name expressions for every layer, which reads worse than the list.

As a safety net the written text is expanded again (no Keras involved) and
compared with the model: the same inputs, outputs, entries, names, types,
arguments, call arguments (positional and keyword) and shared layers, or an
internal error.
"""

import json
import os

from kerasblocks._version import __version__
from kerasblocks.errors import SpecError, UsageError
from kerasblocks.interop.keras_graph import problems_error, read_model
from kerasblocks.interop.layer_arguments import (
    ArgumentWriter,
    UnwritableLayer,
    comparable,
    normalised,
    spec_value,
)
from kerasblocks.interop.spec_layout import lay_out
from kerasblocks.interop.spec_writer import spec_to_yaml
from kerasblocks.spec import ops, registry
from kerasblocks.spec.calls import written_call, written_reference
from kerasblocks.spec.expand import expand
from kerasblocks.spec.load import load_spec
from kerasblocks.spec.graph import Ref
from kerasblocks.spec.syntax import (
    DEFAULT_BLOCK_INPUTS,
    INPUTS_KEY,
    MODEL_KEY,
    NAME_KEY,
    NODE_NAME_RE,
    SHARE_KEY,
)


def to_spec(model, name=None):
    """Writes a Keras model as spec text.

    Args:
        model: a functional or Sequential `keras.Model` (a Sequential model
            must know its input shape), or a path to a `.keras` file, loaded
            with `kerasblocks.load_model(path, compile=False)` (safe mode).
        name: the spec's `name` (the built model's name); defaults to the
            model's name.

    Returns:
        YAML text of a valid spec; `kerasblocks.build(text)` gives a model
        with the same config (layers, names, connections, call arguments)
        and parameter counts.

    Raises:
        UsageError: the model has parts a spec cannot express (listed, each
            with what to do), or the file cannot be loaded (a custom layer
            whose package was not imported, a Lambda layer).
        FileNotFoundError: no such model file.
        kerasblocks.saving.ModelFileError: the file is not a `.keras` archive.
        TypeError: `model` is neither a Keras model nor a path.
    """
    keras_model = _as_model(model)
    spec_name = keras_model.name if name is None else name
    if not (isinstance(spec_name, str) and NODE_NAME_RE.match(spec_name)):
        raise UsageError(
            "the spec name must be letters, digits, '_', '.' and '-' (Keras model "
            f"names cannot contain '/'). Received: name={spec_name!r}"
        )
    graph = read_model(keras_model)
    _find_arguments(keras_model, graph)
    defaults = lay_out(graph)
    spec = _spec_data(spec_name, graph, defaults)
    comment = (
        f"Written from the Keras model '{keras_model.name}' by kerasblocks {__version__} "
        "(to_spec).\nLayers keep their names; arguments equal to Keras' defaults are left out."
    )
    text = spec_to_yaml(spec, comment=comment)
    _check_written_spec(text, spec_name, graph)
    return text


def _as_model(model):
    """`model` as a `keras.Model`: loads a `.keras` path (safe mode, no compile)."""
    from kerasblocks import _registration

    _registration.register_layers()
    import keras

    if isinstance(model, keras.Model):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(
            "`model` must be a keras.Model or the path to a .keras file. "
            f"Received: model={model!r}"
        )
    from kerasblocks import saving

    try:
        return saving.load_model(model, compile=False)
    except (FileNotFoundError, saving.ModelFileError):
        raise
    except (TypeError, ValueError) as error:  # Keras' refusals: unknown class, Lambda, ...
        reason = " ".join(str(error).split())
        raise UsageError(
            f"cannot load the model in '{os.fspath(model)}': {reason}\n"
            "  hint: import the package that registers the file's custom layers first "
            "(in Python: import it, then call kerasblocks.to_spec); Lambda layers cannot be "
            "loaded in safe mode"
        ) from error


def _find_arguments(model, graph):
    """Sets every layer's arguments; lists every layer a spec cannot hold in one error."""
    writer = ArgumentWriter()
    problems = []
    for path, entry in graph.calls_with_paths():
        if entry.kind != "layer" or entry.shares is not None:
            continue
        try:
            entry.arguments = writer.arguments(
                entry.layer, entry.type_name, entry.config, entry.build_config
            )
        except UnwritableLayer as error:
            problems.append((" > ".join((*path, entry.name)), entry.type_name, [str(error)]))
            continue
        entry.required = writer.signature(entry.type_name, type(entry.layer)).required
    if problems:
        raise problems_error(model.name, problems)


# --- the spec ----------------------------------------------------------------------


def _spec_data(spec_name, graph, defaults):
    spec = {"kerasblocks": 1, "name": spec_name, "inputs": {}}
    for entry in graph.inputs:
        declaration = {"shape": entry.shape}
        if entry.dtype != "float32":
            declaration["dtype"] = entry.dtype
        if entry.batch_size is not None:
            declaration["batch_size"] = entry.batch_size
        spec["inputs"][entry.name] = declaration
    if defaults:
        spec["defaults"] = {
            type_name: {key: spec_value(value) for key, value in shared.items()}
            for type_name, shared in defaults.items()
        }
    nested = [entry.model for entry in graph.all_calls() if entry.model is not None]
    if nested:
        spec["blocks"] = {model.block: _block_data(model, defaults) for model in nested}
    for flag in ("input_dict", "input_list", "output_list"):
        if getattr(graph, flag):
            spec[flag] = True
    spec["layers"] = _entries_data(graph, defaults)
    if graph.output_dict:
        spec["outputs"] = {key: str(ref) for key, ref in graph.outputs}
    else:
        spec["outputs"] = [str(ref) for _, ref in graph.outputs]
    return spec


def _block_data(model, defaults):
    """The `model: functional|sequential` block of a nested model."""
    block = {MODEL_KEY: model.kind}
    input_names = [entry.name for entry in model.inputs]
    if tuple(input_names) != DEFAULT_BLOCK_INPUTS:
        block[INPUTS_KEY] = input_names
    block["layers"] = _entries_data(model, defaults)
    refs = [ref for _, ref in model.outputs]
    last = model.calls[-1].name if model.calls else None
    if len(refs) > 1:
        block["outputs"] = [str(ref) for ref in refs]
    elif refs and refs[0] != Ref(last):
        block["output"] = str(refs[0])
    return block


def _entries_data(graph, defaults):
    owners = {entry.name: entry for entry in graph.calls}
    return [
        _entry_data(entry, defaults.get(entry.type_name, {}), owners) for entry in graph.calls
    ]


def _entry_data(entry, shared, owners):
    """`{Type: {arguments, name, inputs, ...}}` of one entry."""
    if entry.is_op:
        written = {
            operand: written_reference(value)
            for operand, value in entry.kwargs.items()
            if operand != entry.chained_operand
        }
        written.update(entry.static)
        if entry.write_name:
            written[NAME_KEY] = entry.name
        return {entry.type_name: written}
    type_name = entry.type_name
    if entry.kind == "model":
        type_name = (entry.model or owners[entry.shares].model).block
    if entry.shares is not None:
        written = {SHARE_KEY: entry.shares}
    else:
        written = {
            key: spec_value(value) for key, value in entry.arguments.items() if key not in shared
        }
    if entry.write_name:
        written[NAME_KEY] = entry.name
    if entry.kind == "model":
        call = {INPUTS_KEY: written_reference(entry.args[0])}
    else:
        call = written_call(registry.signature(entry.type_name), entry.args, entry.kwargs)
    if entry.chained_operand is not None:
        if isinstance(call[INPUTS_KEY], dict):  # the chain fills the first call argument
            del call[INPUTS_KEY][next(iter(call[INPUTS_KEY]))]
        else:
            del call[INPUTS_KEY]
    written.update(call)
    return {type_name: written}


# --- the safety net ------------------------------------------------------------------


def _check_written_spec(text, spec_name, graph):
    """Expands `text` (no Keras) and checks it describes the model exactly."""
    try:
        expanded = expand(load_spec(text, file="<to_spec>"))
    except SpecError as error:
        _internal_error(spec_name, f"the spec does not validate:\n{error}")
    expected_inputs = [
        (entry.name, tuple(entry.shape), entry.dtype, entry.batch_size) for entry in graph.inputs
    ]
    found_inputs = [
        (node.name, tuple(node.shape), node.dtype, node.batch_size) for node in expanded.inputs
    ]
    if found_inputs != expected_inputs:
        _internal_error(spec_name, f"inputs {found_inputs} instead of {expected_inputs}")
    _check_model(spec_name, expanded, graph)


def _check_model(spec_name, expanded, graph):
    """The expanded `Graph` (or a nested model's) has exactly the calls of `graph`."""
    where = f" of nested model '{graph.name}'" if graph.block is not None else ""
    if [node.name for node in expanded.inputs] != [entry.name for entry in graph.inputs]:
        _internal_error(spec_name, f"the input names{where} differ")
    expected_outputs = [ref for _, ref in graph.outputs]
    for flag in ("input_dict", "input_list", "output_list"):
        if getattr(expanded, flag) != getattr(graph, flag):
            _internal_error(spec_name, f"the model's {flag} differs")
    if list(expanded.output_refs) != expected_outputs or expanded.output_dict != graph.output_dict:
        _internal_error(
            spec_name, f"outputs{where} {list(expanded.outputs)} instead of {expected_outputs}"
        )
    if graph.output_dict and list(expanded.outputs) != [key for key, _ in graph.outputs]:
        _internal_error(spec_name, "the output keys differ")
    if [node.name for node in expanded.layers] != [entry.name for entry in graph.calls]:
        _internal_error(spec_name, f"the layer names{where} differ")
    for node, entry in zip(expanded.layers, graph.calls):
        if node.type != entry.type_name or node.shares != entry.shares:
            _internal_error(spec_name, f"layer '{entry.name}' differs in its type or sharing")
        if entry.is_op:
            expected = (_op_args(entry), {}, _canonical_json(entry.static))
            node_args = _without_trailing_defaults(entry.type_name, tuple(node.args))
            found = (node_args, dict(node.kwargs), _canonical_json(node.arguments))
        else:
            arguments = normalised(entry.arguments) if entry.kind == "layer" else {}
            if entry.shares is not None:
                arguments = {}
            expected = (tuple(entry.args), dict(entry.kwargs), _canonical_json(arguments))
            found = (tuple(node.args), dict(node.kwargs), _canonical_json(node.arguments))
        if found != expected:
            _internal_error(spec_name, f"layer '{entry.name}' differs: {found} != {expected}")
        if (node.model is None) != (entry.model is None):
            _internal_error(spec_name, f"layer '{entry.name}' differs in its nested model")
        if entry.model is not None:
            if node.model.kind != entry.model.kind:
                _internal_error(spec_name, f"nested model '{entry.name}' differs in its kind")
            _check_model(spec_name, node.model, entry.model)


def _op_args(entry):
    """An op's operands as the expanded node holds them: by position, defaults between."""
    operands = ops.op_spec(entry.type_name).operands
    args = tuple(entry.kwargs.get(operand.name, operand.default) for operand in operands)
    return _without_trailing_defaults(entry.type_name, args)


def _without_trailing_defaults(type_name, args):
    """Operands by position, those after the last given one left out."""
    operands = ops.op_spec(type_name).operands
    args = list(args)
    while args and len(args) <= len(operands) and args[-1] == operands[len(args) - 1].default:
        if operands[len(args) - 1].required:
            break
        args.pop()
    return tuple(args)


def _canonical_json(value):
    return json.dumps(comparable(value), sort_keys=True, default=str)


def _internal_error(spec_name, detail):
    raise RuntimeError(
        f"kerasblocks bug: the spec written for model '{spec_name}' does not describe the "
        f"model ({detail}); please report it with the model"
    )
