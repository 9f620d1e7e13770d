"""Expansion: a spec -> a flat `Graph` of plain layers, with every value's origin.

`expand` runs the whole front end: the JSON Schema, the static checks, then
this module's walk over the layers, which evaluates vars and expressions,
applies defaults, unrolls `repeat` and `stack`, instantiates blocks, resolves
`inputs:` references and names every layer. Problems do not stop the walk: it
carries on past them so that one run reports every error of the file.

Scoping, in short (the README's language reference has examples):
- vars are global; block params and loop indices are visible lexically (a
  block body sees the vars and its params, not the loop around its use);
- `defaults` apply dynamically, like TF-Slim's arg_scope: to every layer of
  the type below them, including inside blocks used there; inner defaults and
  a layer's own arguments win;
- layer names are global in the main list; each block use has its own names,
  which end up prefixed with the use's name (`stem_conv2d`); the block's output
  layer, unless the block names it, takes the use's name itself (`stem`).

`when: <condition>` on a layer, a block use, a `repeat`/`stack`/`scope` entry
or an output leaves that entry out when the condition is false, as if it were
not written: a chain passes over it, and its name is not defined (referring to
it is an error that says why).
"""

import dataclasses
import re

from kerasblocks.errors import Diagnostic, SourceLocation, SpecError, format_key_path
from kerasblocks.spec import arguments as argument_values
from kerasblocks.spec import applications, ops, registry
from kerasblocks.spec.checks import MAX_BLOCK_DEPTH, check_document
from kerasblocks.spec.expressions import (
    ExpressionError,
    names_mentioned,
    single_name,
    substitute_all,
)
from kerasblocks.spec.graph import (
    ArgumentOrigin,
    Deferred,
    Graph,
    InputNode,
    LayerNode,
    NestedLayer,
    Ref,
)
from kerasblocks.spec.load import load_spec
from kerasblocks.spec.naming import AutoName, assign_names, to_snake_case
from kerasblocks.spec.schema import check_schema
from kerasblocks.spec.scope import Binding, FailedValue, NameScope, NeedsShape, ValueScope
from kerasblocks.spec.suggest import did_you_mean
from kerasblocks.spec.syntax import (
    CALL_KEY,
    DEFAULT_BLOCK_INPUTS,
    MODEL_KEY,
    INPUTS_KEY,
    LAYER_ARGUMENTS,
    NAME_KEY,
    POSITIONAL_KEY,
    RESERVED_ARGUMENTS,
    SHARE_KEY,
    NODE_NAME_RE,
    REQUIRED,
    WHEN_KEY,
    constructor_arguments,
    entry_kind,
    layer_of,
)
from kerasblocks.spec.vars import evaluate_vars, parse_var_overrides

__all__ = ["expand", "parse_var_overrides"]

MAX_LAYERS = 10_000
# Entries visited, left-out ones and repeat passes included: `when: false`
# inside nested repeats adds no layer but still costs time.
MAX_EXPANSION_STEPS = 10 * MAX_LAYERS
# Layer lists inside each other while expanding: repeat and scope bodies and
# block bodies (a block used inside a repeat inside a block ...).
MAX_NESTING = 64
DTYPES = (
    "float16", "bfloat16", "float32", "float64",
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "bool", "string", "complex64", "complex128",
)  # fmt: skip


def expand(spec, vars=None):
    """Validates a spec and expands it into a flat graph.

    Args:
        spec: a `Spec`, or anything `load_spec` accepts (path, shipped spec
            name, YAML text).
        vars: optional {var name: value} overriding the spec's `vars`; values
            are used as if written in the spec (strings may hold `${...}`).

    Returns:
        `Graph`, with `graph.warnings` holding the warnings (unused vars,
        blocks, layers and inputs) as `Diagnostic`s.

    Raises:
        SpecError: every error found, in file order.
    """
    spec = load_spec(spec)
    schema_errors = check_schema(spec.document)
    if schema_errors:  # meaning cannot be judged on broken structure
        raise SpecError(schema_errors)
    expander = _Expander(spec.document, dict(vars or {}))
    graph = expander.run()
    diagnostics = _in_file_order(check_document(spec.document) + expander.diagnostics)
    errors = [diagnostic for diagnostic in diagnostics if diagnostic.severity == "error"]
    if errors:
        raise SpecError(errors)
    warnings = tuple(diagnostic for diagnostic in diagnostics if diagnostic.severity == "warning")
    return dataclasses.replace(
        graph, file=spec.file, source_text=spec.text, warnings=warnings, vars=dict(vars or {})
    )


def _in_file_order(diagnostics):
    """Drops repeats (a block used twice reports its problems once) and sorts."""
    unique = list(dict.fromkeys(diagnostics))
    return sorted(unique, key=lambda d: (d.location.line or 0, d.location.column or 0))


# Stands for a block input the use did not give (an error already reported).
_MISSING_INPUT = object()


class _ExpansionStopped(Exception):
    """Expansion hit a bound (MAX_LAYERS, ...); the error is recorded."""


@dataclasses.dataclass(eq=False)  # identity: nodes are referred to by object
class _PendingLayer:
    """A layer while the expansion runs; becomes a `LayerNode` at the end."""

    type: str
    name_parts: tuple  # see kerasblocks.spec.naming
    definition: SourceLocation
    location: SourceLocation
    blocks: tuple
    use_parts: tuple = ()  # name parts of the block uses it sits in
    args: list = dataclasses.field(default_factory=list)  # _PendingRef leaves
    kwargs: dict = dataclasses.field(default_factory=dict)
    shares: "_PendingLayer | None" = None
    model: "_PendingModel | None" = None  # a nested model: its own graph
    condition: object = None  # a `when` that reads a shape (Deferred)
    passthrough: object = None  # with `condition`: the chain's input (_PendingRef)
    arguments: dict = dataclasses.field(default_factory=dict)
    origins: dict = dataclasses.field(default_factory=dict)

    @property
    def refs(self):
        return list(_refs_in((self.args, list(self.kwargs.values()))))


@dataclasses.dataclass(frozen=True)
class _PendingRef:
    """One output of a pending layer or model input; becomes a `Ref`."""

    node: object  # _PendingLayer or InputNode
    output: int | str | None = None


@dataclasses.dataclass(eq=False)
class _PendingModel:
    """The body of a `model:` block use: a graph of its own, built as a nested model."""

    block: str
    kind: str  # "functional" or "sequential"
    inputs: list  # InputNodes, named as the block's inputs
    layers: list  # its _PendingLayers
    outputs: list  # (None, _PendingRef) per output


@dataclasses.dataclass(eq=False)
class _BlockUse:
    """What a block use's name refers to: its outputs and its inner names."""

    block: str
    names: NameScope  # the names inside this use: `use.inner`
    outputs: list  # a _PendingRef per block output (None where one failed)
    output_names: tuple  # the block's `outputs` as written: `use.h`
    layers: list  # the _PendingLayers this use made, in order
    values: ValueScope  # its params, for a use that shares it
    location: SourceLocation


def _refs_in(value):
    if isinstance(value, _PendingRef):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _refs_in(item)


@dataclasses.dataclass(frozen=True)
class _Context:
    """What is in effect at one point of the walk."""

    values: ValueScope  # vars, block params, loop indices
    names: NameScope  # layer names for `inputs:`
    defaults: dict  # {type: {argument: Binding, or None if it failed}}; never mutated
    prefix: tuple = ()  # name parts of the block uses we are in
    use_site: SourceLocation | None = None  # the outermost block use
    blocks: tuple = ()  # names of the blocks we are in, outermost first
    depth: int = 0  # layer lists we are in (repeat, scope and block bodies)


@dataclasses.dataclass(frozen=True)
class _Source:
    """Who wrote an argument, for `ArgumentOrigin` (kind and detail)."""

    kind: str
    detail: str = ""


class _Expander:
    def __init__(self, document, overrides):
        self.document = document
        self.data = document.data
        self.blocks = self.data.get("blocks") or {}
        self.overrides = overrides
        self.diagnostics = []
        self.layers = []  # _PendingLayer, in file order (of the model being expanded)
        self.layer_count = 0  # layers made, nested models' included, for MAX_LAYERS
        self.switched_off = False  # whether a `when` left something out
        self.steps = 0  # entries visited, for MAX_EXPANSION_STEPS

    # --- the walk ---------------------------------------------------------------

    def run(self):
        """Expands the spec; returns a `Graph` (meaningless if errors were found)."""
        self.globals, var_diagnostics = evaluate_vars(self.document, self.overrides)
        self.diagnostics += var_diagnostics
        names = NameScope("the spec")
        inputs = self._model_inputs(names)
        self.globals.shape_inputs = _ShapeNames(names)  # the layers' view; vars have none
        context = _Context(values=self.globals, names=names, defaults={})
        context = self._with_defaults(context, self.data.get("defaults"), ("defaults",))
        try:
            first = _PendingRef(inputs[0]) if len(inputs) == 1 else None
            last = self._expand_list(self.data["layers"], ("layers",), context, first)
        except _ExpansionStopped:
            return None
        self.diagnostics += names.finish()
        outputs = self._model_outputs(names, last)
        return self._graph(inputs, outputs)

    def _expand_list(self, entries, path, context, previous):
        """Expands a `layers` list; returns the node its last entry outputs."""
        for index, entry in enumerate(entries):
            previous = self._expand_entry(entry, path + (index,), context, previous)
        return previous

    def _expand_entry(self, entry, path, context, previous):
        self._step(path)
        kind = entry_kind(entry)
        if kind != "layer" and not self._switched_on(entry, path, context.values):
            return previous
        if kind == "repeat":
            return self._repeat(entry, path, context, previous)
        if kind == "stack":
            return self._stack(entry, path, context, previous)
        if kind == "scope":
            inner = self._nested(context, path)
            inner = self._with_defaults(
                inner, entry.get("defaults"), path + ("defaults",), label=entry["scope"]
            )
            return self._expand_list(entry["layers"], path + ("layers",), inner, previous)
        type_name, arguments = layer_of(entry)
        arguments_path = path + (type_name,)
        source = _Source("block", context.blocks[-1]) if context.blocks else _Source("layer")
        location = self.document.key_location(arguments_path)
        return self._use(type_name, arguments, arguments_path, location, context, previous, source)

    def _repeat(self, entry, path, context, previous):
        count = self._evaluate(
            entry["repeat"], path + ("repeat",), context.values, _Source("layer")
        )
        if count is None:
            return previous
        count = count.value
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_LAYERS:
            self._error(
                f"the repeat count must be a whole number from 0 to {MAX_LAYERS}, got {count!r}",
                self.document.location(path + ("repeat",)),
            )
            return previous
        nested = self._nested(context, path)
        for index in range(count):
            self._step(path)
            inner = self._with_index(nested, entry.get("index"), index, path, "repeat")
            inner = self._with_defaults(inner, entry.get("defaults"), path + ("defaults",))
            previous = self._expand_list(entry["layers"], path + ("layers",), inner, previous)
        return previous

    def _stack(self, entry, path, context, previous):
        type_name = entry["stack"]
        for index, arguments in enumerate(entry["with"]):
            self._step(path + ("with", index))
            inner = self._with_index(context, entry.get("index"), index, path, "stack")
            inner = self._with_defaults(inner, entry.get("defaults"), path + ("defaults",))
            arguments_path = path + ("with", index)
            source = _Source("stack", f"{type_name} with[{index}]")
            location = self.document.location(arguments_path)
            previous = self._use(
                type_name, arguments or {}, arguments_path, location, inner, previous, source
            )
        return previous

    def _with_index(self, context, index_name, index, path, keyword):
        if index_name is None:
            return context
        origin = ArgumentOrigin(
            "var",
            self.document.location(path + ("index",)),
            f"{index_name} = {index} ({keyword} index)",
        )
        return dataclasses.replace(
            context, values=context.values.child({index_name: Binding(index, origin)})
        )

    def _with_defaults(self, context, defaults, path, label=None):
        """The context with a `defaults` mapping applied (values evaluated here).

        `label`: a scope's label, shown in the origins of its defaults.
        """
        if not defaults:
            return context
        merged = {type_name: dict(arguments) for type_name, arguments in context.defaults.items()}
        for type_name, arguments in defaults.items():
            detail = format_key_path(path + (type_name,))
            source = _Source("default", f"scope {label}: {detail}" if label else detail)
            for argument, raw in constructor_arguments(arguments or {}).items():
                binding = self._evaluate(
                    raw, path + (type_name, argument), context.values, source, deferrable=True
                )
                merged.setdefault(type_name, {})[argument] = binding  # None: failed, reported
        return dataclasses.replace(context, defaults=merged)

    # --- one use of a layer or block type ---------------------------------------

    def _use(self, type_name, arguments, arguments_path, location, context, previous, source):
        """Expands `- Type: arguments`; returns the reference the next entry takes."""
        name = self._layer_name(arguments, arguments_path, context)
        switched_on = self._switched_on(
            arguments, arguments_path, context.values, deferrable=type_name not in self.blocks
        )
        if not switched_on:
            if name is not None:
                when_location = self.document.location(arguments_path + (WHEN_KEY,))
                context.names.switch_off(name, when_location)
            return previous
        if name is not None and not self._name_is_free(context.names, name, location):
            name = None  # reported; an automatic name avoids follow-on clashes
        shared = self._shared(type_name, arguments, arguments_path, context)
        if type_name in self.blocks:
            return self._use_block(
                type_name, arguments, arguments_path, location, context, previous, name, shared
            )
        node = _PendingLayer(
            type=type_name,
            name_parts=context.prefix + (name if name is not None else _auto_name(type_name),),
            definition=location,
            location=context.use_site or location,
            blocks=context.blocks,
            use_parts=context.prefix,
            shares=shared,
        )
        if isinstance(switched_on, Deferred):  # decided when built; false: the chain passes on
            node.condition, node.passthrough = switched_on, previous
        self._add(node)
        if ops.is_op_name(type_name):
            self._op_call(node, arguments, arguments_path, location, context, previous)
        else:
            node.args, node.kwargs = self._layer_call(
                type_name, arguments, arguments_path, location, context, previous, node
            )
            if SHARE_KEY not in arguments:  # a failed `share` was reported: no arguments
                node.arguments, node.origins = self._layer_arguments(
                    type_name, arguments, arguments_path, location, context, source
                )
        if name is not None:
            context.names.define(name, node, location)
        return _PendingRef(node)

    def _shared(self, type_name, arguments, arguments_path, context):
        """The layer (or block use) that `share:` names, checked; None if none or bad."""
        if SHARE_KEY not in arguments:
            return None
        path = arguments_path + (SHARE_KEY,)
        location = self.document.location(path)
        binding = self._evaluate(arguments[SHARE_KEY], path, context.values, _Source("layer"))
        if binding is None:
            return None
        if not isinstance(binding.value, str):
            self._error(f"`share` names a layer, got {binding.value!r}", location)
            return None
        target = context.names.find(binding.value)
        if target is None:
            self._error(
                f"no layer named '{binding.value}' to share in {context.names.description}"
                f"{did_you_mean(binding.value, context.names.names())}",
                location,
                hint="`share` names an earlier layer (or block use) of the same type",
            )
            return None
        target_node = target.node if isinstance(target, _PendingRef) else target
        if isinstance(target_node, _PendingLayer) and target_node.shares is not None:
            target_node = target_node.shares  # share with the owner of the layer
        if type_name in self.blocks:
            # A `model:` block use is one node holding its model; another block use
            # is a `_BlockUse` of its layers.
            is_model = MODEL_KEY in self.blocks[type_name]
            if is_model:
                owner = target_node
                model = getattr(owner, "model", None)
                block = model.block if model is not None else None
            else:
                owner = target
                block = target.block if isinstance(target, _BlockUse) else None
            if block != type_name:
                shared = "model" if is_model else "layers"
                self._error(
                    f"'{binding.value}' is not a use of block {type_name}: a shared block use "
                    f"shares the {shared} of an earlier use of the same block",
                    location,
                )
                return None
            self._refuse_own_arguments(
                arguments, arguments_path, binding.value, "block use", "params"
            )
            return owner
        if not isinstance(target_node, _PendingLayer):
            what = "a block use" if isinstance(target, _BlockUse) else "a model input"
            self._error(
                f"'{binding.value}' is {what}, not a layer of type {type_name}", location
            )
            return None
        if target_node.type != type_name or ops.is_op_name(type_name):
            self._error(
                f"{type_name} cannot share the layer of {target_node.type} "
                f"'{binding.value}': a shared layer is used again as it is, with its type",
                location,
                hint=f"write `- {target_node.type}: {{share: {binding.value}}}`",
            )
            return None
        self._refuse_own_arguments(arguments, arguments_path, binding.value, "layer", "settings")
        return target_node

    def _refuse_own_arguments(self, arguments, arguments_path, shared_name, what, taken):
        given = sorted(constructor_arguments(arguments))
        if given:
            self._error(
                f"a shared {what} takes its {taken} from '{shared_name}'; remove {_quoted(given)}",
                self.document.key_location(arguments_path + (given[0],)),
            )

    def _layer_call(self, type_name, arguments, arguments_path, location, context, previous, node):
        """(args, kwargs) of a layer call, from `inputs`, `positional` and `call`."""
        signature = registry.signature(type_name)
        written = self._written_inputs(arguments, arguments_path, context)
        if written is None:  # a chain: the previous output
            ref = self._chained(previous, location, node)
            args, kwargs = ([ref] if ref is not None else []), {}
        elif isinstance(written.value, dict):
            args, kwargs = self._named_call_inputs(
                type_name, signature, arguments, arguments_path, written, context, node, previous
            )
        else:
            args, kwargs = [self._reference_tree(written, context, node)], {}
            required = signature.required_call_arguments() if signature is not None else []
            if isinstance(written.value, list) and len(required) > 1:
                self._error(
                    f"{type_name} takes its tensors as separate call arguments "
                    f"({_quoted(required)}), not as one list",
                    self.document.location(written.path),
                    hint=f"name them: inputs: {{{', '.join(f'{a}: ...' for a in required)}}}",
                )
        if CALL_KEY in arguments:
            kwargs.update(
                self._call_options(type_name, signature, arguments, arguments_path, kwargs, context)
            )
        return args, kwargs

    def _written_inputs(self, arguments, arguments_path, context):
        """The evaluated `inputs` value with its path, or None when not written."""
        if INPUTS_KEY not in arguments:
            return None
        path = arguments_path + (INPUTS_KEY,)
        binding = self._evaluate(arguments[INPUTS_KEY], path, context.values, _Source("layer"))
        if binding is None:
            return _Written([], path)  # reported
        value = binding.value
        if value == [] or value == {}:
            self._error("`inputs` names no layer", self.document.location(path))
            return _Written([], path)
        return _Written(value, path)

    def _named_call_inputs(self, type_name, signature, arguments, arguments_path, written,
                           context, node, previous):
        """Call arguments by name: the leading ones by position, the rest by keyword.

        The call's first argument, when the mapping leaves it out, is the
        previous output, as in a chain (`inputs: {value: memory}`: the query is
        the previous layer).
        """
        entries = {}
        first = next(iter(signature.call_arguments), None) if signature is not None else None
        if first is not None and first not in written.value and previous is not None:
            entries[first] = self._chained(previous, self.document.location(written.path), node)
        for key, value in written.value.items():
            key_path = written.path + (key,)
            if signature is not None and not signature.accepts_call_argument(key):
                self._unknown_call_argument(type_name, signature, key, key_path)
                continue
            entries[key] = self._reference_tree(_Written(value, key_path), context, node)
        typo = any(key not in entries for key in written.value)  # reported
        if signature is not None and not typo:
            missing = [name for name in signature.required_call_arguments() if name not in entries]
            if missing:
                self._error(
                    f"{type_name} needs call {_plural('argument', missing)} {_quoted(missing)} "
                    "in `inputs`",
                    self.document.location(written.path),
                )
        count = self._positional_count(signature, arguments, arguments_path, entries, context)
        # By position in the order of the call's parameters, as Python binds them.
        order = list(signature.call_arguments) if signature is not None else list(entries)
        by_position = [name for name in order[:count] if name in entries]
        args = [entries[name] for name in by_position]
        return args, {key: value for key, value in entries.items() if key not in by_position}

    def _positional_count(self, signature, arguments, arguments_path, entries, context):
        if POSITIONAL_KEY in arguments:
            path = arguments_path + (POSITIONAL_KEY,)
            binding = self._evaluate(arguments[POSITIONAL_KEY], path, context.values,
                                     _Source("layer"))
            count = binding.value if binding is not None else 0
            if isinstance(count, bool) or not isinstance(count, int) or not (
                0 <= count <= len(entries)
            ):
                self._error(
                    f"`positional` counts the leading `inputs` passed by position: a whole "
                    f"number from 0 to {len(entries)}, got {count!r}",
                    self.document.location(path),
                )
                return 0
            return count
        if signature is None:
            return 1  # a plugin: its main input by position, the rest by keyword
        return signature.positional_count(entries)

    def _unknown_call_argument(self, type_name, signature, key, path):
        suggestion = did_you_mean(key, signature.call_arguments)
        known = ", ".join(signature.call_arguments)
        hint = None if suggestion else f"{type_name}.call takes: {known}"
        self._error(
            f"{type_name}.call has no argument '{key}'{suggestion}",
            self.document.key_location(path),
            hint,
        )

    def _call_options(self, type_name, signature, arguments, arguments_path, kwargs, context):
        """`call: {use_causal_mask: true, ...}`: constant keyword call arguments."""
        path = arguments_path + (CALL_KEY,)
        binding = self._evaluate(arguments[CALL_KEY], path, context.values, _Source("layer"))
        if binding is None:
            return {}
        if not isinstance(binding.value, dict):
            self._error(
                f"`call` is a mapping of call options, got {binding.value!r}",
                self.document.location(path),
            )
            return {}
        written_inputs = arguments.get(INPUTS_KEY)
        tensors = set(written_inputs) if isinstance(written_inputs, dict) else set()
        options = {}
        for key, value in binding.value.items():
            key_path = path + (key,)
            if signature is not None and not signature.accepts_call_argument(key):
                self._unknown_call_argument(type_name, signature, key, key_path)
            elif key in tensors:
                self._error(
                    f"'{key}' is given twice: in `inputs` and in `call`",
                    self.document.key_location(key_path),
                )
            else:
                options[key] = value
        return options

    def _op_call(self, node, arguments, arguments_path, location, context, previous):
        """An op node: operands (tensors or constants) in call order, static arguments."""
        values = {}  # every key but name and when: `inputs` is an operand of `slice`
        for argument, raw in arguments.items():
            if argument in ops.RESERVED_KEYS:
                continue
            binding = self._evaluate(
                raw, arguments_path + (argument,), context.values, _Source("layer")
            )
            if binding is not None:
                values[argument] = binding.value
                node.origins[argument] = binding.origin
        problems = ops.check_op_arguments(
            node.type, values, previous_available=previous is not None
        )
        for problem in problems:
            where = location
            if problem.argument in values:
                where = self.document.key_location(arguments_path + (problem.argument,))
            self._error(problem.message, where, problem.hint)
        if problems:
            return
        binding = ops.bind_operands(node.type, values, previous is not None)
        args = []
        for operand in binding.operands:
            if operand.value is ops.PREVIOUS:
                args.append(self._chained(previous, location, node))
            elif operand.references:
                written = _Written(operand.value, arguments_path + (operand.name,))
                args.append(self._reference_tree(written, context, node))
            else:
                args.append(operand.value)
        node.args = args
        node.arguments = binding.static
        node.origins = {key: node.origins[key] for key in binding.static if key in node.origins}

    def _layer_arguments(self, type_name, arguments, arguments_path, location, context, source):
        """Defaults merged with the layer's own arguments; checked and normalised."""
        bindings = dict(context.defaults.get(type_name, {}))
        for argument, raw in constructor_arguments(arguments).items():
            bindings[argument] = self._evaluate(
                raw, arguments_path + (argument,), context.values, source, deferrable=True
            )
        values = {argument: binding.value for argument, binding in bindings.items() if binding}
        origins = {argument: binding.origin for argument, binding in bindings.items() if binding}
        for argument, value in list(values.items()):  # plugins too: nothing may name code
            if isinstance(value, Deferred):
                continue  # expression results: numbers, text, lists; checked when built
            problem = argument_values.refusal(argument, value)
            if problem:
                self._error(problem, origins[argument].location)
                del values[argument]  # no follow-on errors about the same value
        signature = registry.signature(type_name)
        if signature is None or signature.refused:
            return values, origins  # plugins are unchecked; bad types were reported
        if signature.source == "keras.applications.model" and "weights" in values:
            problem = applications.weights_problem(values["weights"])
            if problem:
                self._error(problem, origins["weights"].location)
        missing = [
            argument for argument in signature.required_arguments() if argument not in bindings
        ]
        if missing and set(bindings) <= set(signature.arguments):  # else a misspelling was reported
            self._error(
                f"{type_name} needs {_plural('argument', missing)} {_quoted(missing)}", location
            )
        for argument, value in values.items():
            if isinstance(value, Deferred):
                continue
            if argument in LAYER_ARGUMENTS:
                values[argument] = self._nested_layer(value, arguments_path + (argument,))
                continue
            values[argument], problem = argument_values.normalise(argument, value)
            if problem:
                self._error(problem, origins[argument].location)
        return values, origins

    def _nested_layer(self, value, path):
        """`{LSTM: {units: 32}}` (a list of them for `cells`) -> `NestedLayer`, checked."""
        if isinstance(value, list):
            return [self._nested_layer(item, path + (index,)) for index, item in enumerate(value)]
        if not (
            isinstance(value, dict)
            and len(value) == 1
            and isinstance(next(iter(value.values())), (dict, type(None)))
        ):
            example = value if isinstance(value, str) and value[:1].isupper() else "Dense"
            self._error(
                f"`{path[-1]}` takes a layer, written as a layer entry such as "
                f"{{{example}: {{...}}}}; got {value!r}",
                self.document.location(path),
                hint=f"write `{path[-1]}: {{{example}: {{...its arguments...}}}}`",
            )
            return None
        ((type_name, arguments),) = value.items()
        arguments = dict(arguments or {})
        type_location = self.document.key_location(path + (type_name,))
        signature = registry.signature(type_name)
        if signature is None and not registry.is_plugin_name(type_name):
            names = registry.usable_type_names()
            self._error(
                f"unknown layer type '{type_name}'{did_you_mean(type_name, names)}", type_location
            )
            return None
        if signature is not None and signature.refused:
            self._error(signature.refused, type_location)
            return None
        for key in list(arguments):
            key_location = self.document.key_location(path + (type_name, key))
            if key in RESERVED_ARGUMENTS and key != NAME_KEY:
                self._error(
                    f"a layer given as an argument is not called in the graph: "
                    f"'{key}' does not apply to it",
                    key_location,
                )
                del arguments[key]
            elif signature is not None and key != NAME_KEY and key not in signature.arguments:
                self._error(
                    f"{type_name} has no argument '{key}'"
                    f"{did_you_mean(key, signature.arguments)}",
                    key_location,
                )
                del arguments[key]
        if signature is not None:
            missing = [name for name in signature.required_arguments() if name not in arguments]
            if missing:
                self._error(
                    f"{type_name} needs {_plural('argument', missing)} {_quoted(missing)}",
                    type_location,
                )
        for key, item in arguments.items():
            problem = argument_values.refusal(key, item)
            if problem is None and key in LAYER_ARGUMENTS:
                arguments[key] = self._nested_layer(item, path + (type_name, key))
                continue
            if problem is None:
                arguments[key], problem = argument_values.normalise(key, item)
            if problem:
                self._error(problem, self.document.location(path + (type_name, key)))
        return NestedLayer(type_name, arguments)

    def _use_block(
        self, block_name, arguments, arguments_path, location, context, previous, name, shared
    ):
        if block_name in context.blocks or len(context.blocks) >= MAX_BLOCK_DEPTH:
            return previous  # a recursive block, or too deep; reported by the static checks
        block = self.blocks[block_name]
        block_path = ("blocks", block_name)
        if MODEL_KEY in block:
            return self._use_model_block(
                block_name, arguments, arguments_path, location, context, previous, name, shared
            )
        declared_inputs = tuple(block.get("inputs") or DEFAULT_BLOCK_INPUTS)
        inputs = self._block_inputs(
            block_name, declared_inputs, arguments, arguments_path, location, context, previous
        )
        names = NameScope(f"block {block_name}")
        for input_name, ref in zip(declared_inputs, inputs, strict=True):
            names.define(input_name, ref, location)
        if shared is not None:
            values = shared.values
        else:
            values = self._bind_params(
                block_name, block, arguments, arguments_path, location, context, _ShapeNames(names)
            )
        use_name = name if name is not None else _auto_name(block_name)
        inner = dataclasses.replace(
            self._nested(context, arguments_path),
            values=values,
            names=names,
            prefix=context.prefix + (use_name,),
            use_site=context.use_site or location,
            blocks=context.blocks + (block_name,),
        )
        inner = self._with_defaults(inner, block.get("defaults"), block_path + ("defaults",))
        first_layer = len(self.layers)
        # A missing input was reported: _MISSING_INPUT keeps the body's chain quiet.
        first_input = inputs[0] if len(declared_inputs) == 1 else None
        last = self._expand_list(block["layers"], block_path + ("layers",), inner, first_input)
        self.diagnostics += names.finish()
        outputs, output_names = self._block_outputs(block_name, block, names, last)
        if (
            len(outputs) == 1
            and outputs[0] is not None
            and outputs[0].output is None
            and _is_unnamed_layer_of(outputs[0].node, inner.prefix)
        ):
            outputs[0].node.name_parts = inner.prefix  # an unnamed output takes the use's name
        use = _BlockUse(
            block_name, names, outputs, output_names, self.layers[first_layer:], values, location
        )
        if shared is not None:
            self._share_layers(use, shared, location)
        if name is not None:
            context.names.define(name, use, location)
        return use

    def _use_model_block(
        self, block_name, arguments, arguments_path, location, context, previous, name, shared
    ):
        """A use of a `model:` block: one node, a nested Keras model of the block body.

        Names inside are the nested model's own (not prefixed); `share` calls
        the model of an earlier use again.
        """
        block = self.blocks[block_name]
        declared_inputs = tuple(block.get("inputs") or DEFAULT_BLOCK_INPUTS)
        inputs = self._block_inputs(
            block_name, declared_inputs, arguments, arguments_path, location, context, previous
        )
        kind = block[MODEL_KEY]
        node = _PendingLayer(
            type=_MODEL_TYPES[kind],
            name_parts=context.prefix + (name if name is not None else _auto_name(block_name),),
            definition=location,
            location=context.use_site or location,
            blocks=context.blocks,
            use_parts=context.prefix,
            shares=shared,
        )
        given = [ref for ref in inputs if ref is not _MISSING_INPUT]
        if len(given) == len(declared_inputs):
            node.args = [given[0]] if len(given) == 1 else [given]
        if shared is None:
            node.model = self._model_body(
                block_name, block, kind, declared_inputs, arguments, arguments_path, location,
                context,
            )
        self._add(node)
        if name is not None:
            context.names.define(name, node, location)
        return _PendingRef(node)

    def _model_body(
        self, block_name, block, kind, declared_inputs, arguments, arguments_path, location,
        context,
    ):
        block_path = ("blocks", block_name)
        model_inputs = [InputNode(name, (), location=location) for name in declared_inputs]
        names = NameScope(f"block {block_name}")
        for input_node in model_inputs:
            names.define(input_node.name, _PendingRef(input_node), location)
        values = self._bind_params(
            block_name, block, arguments, arguments_path, location, context, _ShapeNames(names)
        )
        inner = dataclasses.replace(
            self._nested(context, block_path),
            values=values,
            names=names,
            prefix=(),
            use_site=context.use_site or location,
            blocks=context.blocks + (block_name,),
        )
        inner = self._with_defaults(inner, block.get("defaults"), block_path + ("defaults",))
        outer_layers, self.layers = self.layers, []
        try:
            first = _PendingRef(model_inputs[0]) if len(model_inputs) == 1 else None
            last = self._expand_list(block["layers"], block_path + ("layers",), inner, first)
            self.diagnostics += names.finish()
            outputs, _ = self._block_outputs(block_name, block, names, last)
            body = self.layers
        finally:
            self.layers = outer_layers
        if kind == "sequential":
            self._check_sequential(block_name, model_inputs, body, outputs)
        return _PendingModel(
            block_name, kind, model_inputs, body, [(None, ref) for ref in outputs if ref]
        )

    def _check_sequential(self, block_name, model_inputs, body, outputs):
        """A `model: sequential` block must be a chain: one input, each layer the next."""
        previous = model_inputs[0] if len(model_inputs) == 1 else None
        for node in body:
            if previous is None or [ref.node for ref in node.refs] != [previous] or node.kwargs:
                self._error(
                    f"block {block_name} is `model: sequential`, so it must be a chain: one "
                    "input, and every layer taking the one before it",
                    node.definition,
                    hint="use `model: functional` for branches and several inputs",
                )
                return
            previous = node
        last = outputs[0] if len(outputs) == 1 else None
        if last is None or last.node is not previous or last.output is not None:
            self._error(
                f"block {block_name} is `model: sequential`: its one output is its last layer",
                self.document.key_location(("blocks", block_name)),
            )

    def _block_inputs(
        self, block_name, declared, arguments, arguments_path, location, context, previous
    ):
        """A reference (or `_MISSING_INPUT`) for each declared input of a block."""
        written = self._written_inputs(arguments, arguments_path, context)
        if written is None:
            given = [self._chained(previous, location, None)]
        elif isinstance(written.value, dict):  # by the block's input names
            unknown = [key for key in written.value if key not in declared]
            for key in unknown:
                self._error(
                    f"block {block_name} has no input '{key}'{did_you_mean(key, declared)}",
                    self.document.key_location(written.path + (key,)),
                    hint=f"its inputs: {', '.join(declared)}",
                )
            refs = {}
            if declared[0] not in written.value and previous is not None:  # as in a chain
                refs[declared[0]] = self._chained(previous, location, None)
            missing = [
                input_name
                for input_name in declared
                if input_name not in written.value and input_name not in refs
            ]
            if missing and not unknown:
                self._error(
                    f"block {block_name} needs {_plural('input', missing)} {_quoted(missing)}",
                    self.document.location(written.path),
                )
            for input_name in declared:
                if input_name in written.value:
                    value = _Written(written.value[input_name], written.path + (input_name,))
                    refs[input_name] = self._reference_tree(value, context, None)
            return [refs.get(input_name) or _MISSING_INPUT for input_name in declared]
        else:
            tree = self._reference_tree(written, context, None)
            given = tree if isinstance(written.value, list) else [tree]
        empty = written is not None and written.value == []  # reported as naming nothing
        if len(given) != len(declared) and not empty:
            self._error(
                f"block {block_name} takes {len(declared)} {_plural('input', declared)} "
                f"({', '.join(declared)}), got {len(given)}",
                location,
            )
        given = [_MISSING_INPUT if ref is None else ref for ref in given]
        return (given + [_MISSING_INPUT] * len(declared))[: len(declared)]

    def _share_layers(self, use, shared, location):
        """Makes every layer of `use` call the layer of the same place in `shared`."""
        mine = [node for node in use.layers if not ops.is_op_name(node.type)]
        theirs = [node for node in shared.layers if not ops.is_op_name(node.type)]
        if len(mine) != len(theirs):  # the same params give the same layers
            self._error(
                f"this use of block {use.block} has {len(mine)} layers where the use it "
                f"shares has {len(theirs)}",
                location,
            )
            return
        for node, owner in zip(mine, theirs, strict=True):
            node.shares = owner.shares or owner
            node.arguments, node.origins = {}, {}

    def _bind_params(
        self, block_name, block, arguments, arguments_path, location, context, shape_inputs=None
    ):
        """The value scope of a block body: the vars plus the params of this use.

        shape_inputs: the names `shape()` reads in the body (`_ShapeNames`).
        """
        params = block.get("params") or {}
        given = constructor_arguments(arguments)
        preset = context.defaults.get(block_name, {})
        bindings, failed, missing = {}, set(), []
        for param, default in params.items():
            detail = f"{block_name} param {param}"
            if param in given:
                path = arguments_path + (param,)
                binding = self._evaluate(
                    given[param], path, context.values, _Source("block", detail), deferrable=True
                )
                if binding is not None and binding.origin.kind == "var":
                    origin = ArgumentOrigin(
                        "block",
                        self.document.location(path),
                        f"{detail} <- {binding.origin.detail}",
                    )
                    binding = Binding(binding.value, origin)
            elif param in preset:
                binding = preset[param]  # from `defaults`; None if it failed
            elif default == REQUIRED:
                missing.append(param)
                binding = None  # its uses in the body stay silent
            else:  # a default may use the vars and the params before it
                scope = ValueScope(
                    bindings, parent=self.globals, failed=failed, shape_inputs=shape_inputs
                )
                path = ("blocks", block_name, "params", param)
                binding = self._evaluate(
                    default, path, scope, _Source("block", f"{detail} (default)"), deferrable=True
                )
            if binding is None:
                failed.add(param)
            else:
                bindings[param] = binding
        if missing and set(given) <= set(params):  # else a misspelling was reported
            self._error(
                f"block {block_name} needs {_plural('param', missing)} {_quoted(missing)}", location
            )
        return ValueScope(bindings, parent=self.globals, failed=failed, shape_inputs=shape_inputs)

    def _block_outputs(self, block_name, block, names, last):
        """([_PendingRef or None], names as written) of a block use's outputs."""
        if "outputs" in block:
            written, paths = block["outputs"], [
                ("blocks", block_name, "outputs", index) for index in range(len(block["outputs"]))
            ]
        elif "output" in block:
            written, paths = [block["output"]], [("blocks", block_name, "output")]
        else:
            return [self._as_ref(last, "the block's last layer", None)], ()
        outputs = []
        for text, path in zip(written, paths, strict=True):
            location = self.document.location(path)
            if names.find(text) is None and names.find(text.split(".")[0]) is None:
                self._error(
                    f"block {block_name} has no layer named '{text}'"
                    f"{did_you_mean(text, names.names())}",
                    location,
                )
                outputs.append(None)
            else:
                outputs.append(self._reference(names, text, location, None))
        return outputs, tuple(written)

    def _switched_on(self, mapping, path, values, deferrable=False):
        """Whether an entry with an optional `when` condition is in the model.

        A condition that fails to evaluate, or is not true or false, is an
        error; the entry then counts as present, so that its other problems
        are reported and references to it raise no follow-on errors. A
        layer's condition that reads `shape()` is returned as a `Deferred`.
        """
        if WHEN_KEY not in mapping:
            return True
        when_path = path + (WHEN_KEY,)
        binding = self._evaluate(
            mapping[WHEN_KEY], when_path, values, _Source("layer"), deferrable=deferrable
        )
        if binding is None:
            return True
        if isinstance(binding.value, Deferred):
            return binding.value
        if not isinstance(binding.value, bool):
            self._error(
                f"`when` must be true or false, got {binding.value!r}",
                self.document.location(when_path),
                hint="a condition is a var holding true or false, e.g. `when: $aux`",
            )
            return True
        if not binding.value:
            self.switched_off = True
        return binding.value

    # --- names and references ---------------------------------------------------

    def _layer_name(self, arguments, arguments_path, context):
        if NAME_KEY not in arguments:
            return None
        path = arguments_path + (NAME_KEY,)
        binding = self._evaluate(arguments[NAME_KEY], path, context.values, _Source("layer"))
        if binding is None:
            return None
        name = binding.value
        if isinstance(name, int) and not isinstance(name, bool):
            name = str(name)
        if not isinstance(name, str) or not NODE_NAME_RE.match(name):
            self._error(
                f"layer name {name!r} must be made of letters, digits, '_', '.' and '-'",
                self.document.location(path),
            )
            return None
        return name

    def _name_is_free(self, names, name, location):
        """Reports a name already taken in this scope; returns whether it is free."""
        earlier = names.defined_at(name)
        if earlier is None:
            return True
        if earlier == location:
            message = f"every copy of this layer is named '{name}'"
            hint = "make the name depend on the loop index, e.g. name: conv${i}"
        else:
            message = f"the name '{name}' is already used at {earlier.line}:{earlier.column}"
            hint = None
        self._error(message, location, hint)
        return False

    def _chained(self, previous, location, consumer):
        """The previous output, taken by a layer that names no `inputs`."""
        if previous is None:
            self._error(
                "this layer has no input: there is no single previous layer or input to take",
                location,
                hint="say which it takes with `inputs: name` (or a list of names)",
            )
            return None
        if previous is _MISSING_INPUT:
            return None
        return self._as_ref(previous, "the previous entry", location)

    def _reference_tree(self, written, context, consumer):
        """A reference, or (nested) lists of them, as written in `inputs`."""
        value, path = written.value, written.path
        if isinstance(value, list):
            return [
                self._reference_tree(_Written(item, path + (index,)), context, consumer)
                for index, item in enumerate(value)
            ]
        location = self.document.location(path)
        if not isinstance(value, str):
            self._error(f"inputs are layer or input names, got {value!r}", location)
            return None
        return self._reference(context.names, value, location, consumer)

    def _reference(self, names, text, location, consumer):
        """`name`, `name.1` or `use.inner` -> `_PendingRef`; None if not found (reported)."""
        target, rest = names.find(text), []
        if target is None:
            parts = text.split(".")
            for cut in range(len(parts) - 1, 0, -1):  # the longest defined head
                target = names.find(".".join(parts[:cut]))
                if target is not None:
                    rest = parts[cut:]
                    break
            else:
                target = names.refer(parts[0] if len(parts) > 1 else text, location, consumer)
                if target is None:
                    return None  # judged by names.finish()
        for part in rest:
            target = self._output_of(target, part, text, location)
            if target is None:
                return None
        return self._as_ref(target, f"'{text}'", location)

    def _output_of(self, target, part, text, location):
        """One step of a dotted reference: an output index, or a name in a block use."""
        if target is _MISSING_INPUT:
            return None
        if isinstance(target, _BlockUse):
            count = len(target.outputs)
            if part.isdigit():
                if int(part) < count:
                    return target.outputs[int(part)]
                self._error(
                    f"'{text}': this use of block {target.block} has {count} "
                    f"{_plural('output', range(count))} (0 to {count - 1})",
                    location,
                )
                return None
            if part in target.output_names:
                return target.outputs[target.output_names.index(part)]
            inner = target.names.find(part)
            if inner is None:
                self._error(
                    f"'{text}': block {target.block} has no layer or output named '{part}'"
                    f"{did_you_mean(part, target.names.names())}",
                    location,
                )
            return inner
        node = target.node if isinstance(target, _PendingRef) and target.output is None else target
        if isinstance(node, _PendingLayer) and part.isdigit():
            return _PendingRef(node, int(part))
        if isinstance(node, _PendingLayer):
            head = text.rsplit(".", 1)[0]
            message = f"'{text}': outputs of a layer are numbered from 0, as in '{head}.1'"
        elif isinstance(node, InputNode):
            message = f"'{text}': model input '{node.name}' has one output"
        else:
            message = f"'{text}' refers to one output of an output"
        self._error(message, location)
        return None

    def _as_ref(self, target, what, location):
        """A `_PendingRef` for what a name stands for; a block use gives its one output."""
        if target is None or target is _MISSING_INPUT:
            return None
        if isinstance(target, _PendingRef):
            return target
        if isinstance(target, _BlockUse):
            if len(target.outputs) == 1:
                return target.outputs[0]
            self._error(
                f"{what} is a use of block {target.block}, which has {len(target.outputs)} "
                "outputs; say which one",
                location or target.location,
                hint=f"refer to <use name>.0 .. .{len(target.outputs) - 1}, or to an output "
                f"by name ({', '.join(target.output_names)})",
            )
            return None
        return _PendingRef(target)  # a layer or a model input

    # --- model inputs and outputs -----------------------------------------------

    def _model_inputs(self, names):
        inputs = []
        for name, declaration in self.data["inputs"].items():
            path = ("inputs", name)
            location = self.document.key_location(path)
            shape = self._evaluate(
                declaration["shape"], path + ("shape",), self.globals, _Source("layer")
            )
            dtype = self._evaluate(
                declaration.get("dtype", "float32"),
                path + ("dtype",),
                self.globals,
                _Source("layer"),
            )
            shape = self._checked_shape(shape, path + ("shape",))
            dtype = self._checked_dtype(dtype, path + ("dtype",))
            node = InputNode(name, shape, dtype, location, declaration.get("batch_size"))
            names.define(name, node, location)
            inputs.append(node)
        return inputs

    def _checked_shape(self, binding, path):
        if binding is None:
            return ()
        shape = binding.value
        if not isinstance(shape, list) or not all(_is_dimension(size) for size in shape):
            self._error(
                f"an input shape is a list of positive integers or null, got {shape!r}",
                self.document.location(path),
            )
            return ()
        return tuple(shape)

    def _checked_dtype(self, binding, path):
        if binding is None:
            return "float32"
        if binding.value not in DTYPES:
            self._error(
                f"unknown dtype {binding.value!r}{did_you_mean(str(binding.value), DTYPES)}",
                self.document.location(path),
            )
            return "float32"
        return binding.value

    def _model_outputs(self, names, last):
        """[(output name, _PendingRef)]; a mapping of `outputs` makes a dict model."""
        if "outputs" not in self.data:
            ref = self._as_ref(last, "the last entry", self.document.location(("layers",)))
            return [(None, ref)] if ref is not None else []
        written = self.data["outputs"]
        if isinstance(written, dict):  # {key: reference}: the model returns a dict
            items = [(item, ("outputs", key), key) for key, item in written.items()]
        elif isinstance(written, list):  # each item: a name, or {name: ..., when: ...}
            items = [(item, ("outputs", index), None) for index, item in enumerate(written)]
        else:  # one name, or an expression giving one or a list of them
            binding = self._evaluate(written, ("outputs",), self.globals, _Source("layer"))
            if binding is None:
                return []
            values = binding.value if isinstance(binding.value, list) else [binding.value]
            items = [(value, None, None) for value in values]
        outputs = []
        for item, path, key in items:
            reference, reference_path = item, path
            if isinstance(item, dict):
                if not self._switched_on(item, path, self.globals):
                    continue
                reference, reference_path = item[NAME_KEY], path + (NAME_KEY,)
            if path is not None:
                binding = self._evaluate(reference, reference_path, self.globals, _Source("layer"))
                if binding is None:
                    continue
                reference = binding.value
            location = self.document.location(reference_path or ("outputs",))
            ref = self._output_reference(names, reference, location)
            if ref is not None:
                outputs.append((key, ref))
        if not outputs and self._error_count() == 0:
            self._error(
                "every output is left out by its `when`: the model has no output",
                self.document.location(("outputs",)),
            )
        return outputs

    def _output_reference(self, names, reference, location):
        if not isinstance(reference, str):
            self._error(f"no layer or input named {reference!r} for the outputs", location)
            return None
        head = reference.split(".")[0]
        if names.find(reference) is None and names.find(head) is None:
            when = names.switched_off_at(reference) or names.switched_off_at(head)
            if when is not None:
                self._error(
                    f"output '{reference}' is a layer left out by its `when` "
                    f"(at {when.line}:{when.column})",
                    location,
                    hint=f"give the output the same condition: `{{name: {reference}, when: ...}}`",
                )
            else:
                self._error(
                    f"no layer or input named {reference!r} for the outputs"
                    f"{did_you_mean(reference, names.names())}",
                    location,
                )
            return None
        return self._reference(names, reference, location, None)

    # --- the graph ----------------------------------------------------------------

    def _graph(self, inputs, outputs):
        model_name = self._evaluate(self.data["name"], ("name",), self.globals, _Source("layer"))
        graph, names = self._graph_of(
            model_name.value if model_name else "model",
            inputs,
            self.layers,
            outputs,
            output_dict=isinstance(self.data.get("outputs"), dict),
        )
        self._warn_unused(inputs, [ref for _, ref in outputs], names)
        return dataclasses.replace(
            graph,
            description=self.data.get("description", ""),
            train=self.data.get("train"),
            input_dict=bool(self.data.get("input_dict", False)),
            input_list=bool(self.data.get("input_list", False)),
            output_list=bool(self.data.get("output_list", False)),
        )

    def _graph_of(self, name, inputs, pending, outputs, output_dict=False):
        """(`Graph`, {pending layer: final name}) of one model's pending layers."""
        names, naming_errors, render = assign_names(pending, taken=[node.name for node in inputs])
        self.diagnostics += naming_errors

        def ref_of(ref):
            node = ref.node
            return Ref(node.name if isinstance(node, InputNode) else names[node], ref.output)

        def converted(value):
            if isinstance(value, _PendingRef):
                return ref_of(value)
            if isinstance(value, list):
                return [converted(item) for item in value]
            if isinstance(value, Deferred):
                inputs = {name: ref_of(ref) for name, ref in value.inputs.items()}
                values = {name: converted(item) for name, item in value.values.items()}
                return Deferred(value.text, values, inputs)
            if isinstance(value, dict):
                return {key: converted(item) for key, item in value.items()}
            return value

        layers = tuple(
            LayerNode(
                name=names[node],
                type=node.type,
                arguments=converted(node.arguments),
                args=tuple(converted(value) for value in node.args),
                kwargs={key: converted(value) for key, value in node.kwargs.items()},
                shares=names[node.shares] if node.shares is not None else None,
                location=node.location,
                argument_origins=node.origins,
                definition=node.definition,
                blocks=node.blocks,
                block_uses=tuple(
                    render(node.use_parts[: depth + 1]) for depth in range(len(node.use_parts))
                ),
                model=self._nested_graph(names[node], node.model),
                condition=converted(node.condition),
                passthrough=ref_of(node.passthrough)
                if isinstance(node.passthrough, _PendingRef)
                else None,
            )
            for node in pending
        )
        output_refs = tuple(ref_of(ref) for _, ref in outputs)
        output_names = tuple(
            key if key is not None else str(ref) for (key, _), ref in zip(outputs, output_refs)
        )
        graph = Graph(
            name=name,
            inputs=tuple(inputs),
            layers=layers,
            outputs=output_names,
            output_refs=output_refs,
            output_dict=output_dict,
        )
        return graph, names

    def _nested_graph(self, name, model):
        if model is None:
            return None
        graph, _ = self._graph_of(name, model.inputs, model.layers, model.outputs)
        return dataclasses.replace(graph, kind=model.kind, block=model.block)

    def _warn_unused(self, inputs, outputs, names):
        consumed = {id(ref.node) for ref in outputs}
        consumed.update(id(ref.node) for node in self.layers for ref in node.refs)
        consumed.update(id(node.shares) for node in self.layers if node.shares is not None)
        for node in inputs:
            if id(node) not in consumed:
                self._warning(f"model input '{node.name}' is never used", node.location)
        for node in self.layers:
            if id(node) in consumed:
                continue
            if node.blocks:
                message = (
                    f"the output of this {node.type} layer of block {node.blocks[-1]} is never used"
                )
            else:
                message = f"the output of layer '{names[node]}' is never used"
            self._warning(message, node.definition)
        if self.switched_off:
            return  # vars used only by entries a `when` left out are still needed
        for var_name in self.data.get("vars") or {}:
            if var_name not in self.globals.used:
                self._warning(
                    f"var '{var_name}' is never used",
                    self.document.key_location(("vars", var_name)),
                )

    # --- values -------------------------------------------------------------------

    def _evaluate(self, raw, path, values, source, deferrable=False):
        """Evaluates a written value; returns a `Binding`, or None (error recorded).

        deferrable: whether the value may read `shape(input)` in a block
            body (layer arguments, block params, a layer's `when`); it is then
            a `Deferred`, evaluated when the model is built.
        """
        recorder = values.recorder()
        try:
            value = substitute_all(raw, recorder)
        except ExpressionError as error:
            self._error(
                error.message, self.document.location(path + error.path, error.offset), error.hint
            )
            return None
        except FailedValue:  # uses a var or param whose own error was reported
            return None
        except NeedsShape:
            if not deferrable:
                self._error(
                    "this value cannot depend on shape(): it decides the graph itself",
                    self.document.location(path),
                    hint="shape() of a block input may be used in layer arguments, block "
                    "params and a layer's `when`",
                )
                return None
            for name in names_mentioned(raw):  # used, for the unused-var warnings
                try:
                    values.find(name)
                except FailedValue:
                    return None
            read = {
                name: values.shape_inputs.reference(name)
                for name in _shape_arguments(raw)
                if name in values.shape_inputs
            }
            value = Deferred(raw, values.snapshot(), read)
        return Binding(value, self._origin(raw, path, recorder.used, source))

    def _origin(self, raw, path, used, source):
        """Where a value came from: its writer, or the var or param it names."""
        location = self.document.location(path)
        if not used:
            return ArgumentOrigin(source.kind, location, source.detail)
        uses = ", ".join(f"{name}={binding.value!r}" for name, binding in used.items())
        if source.kind == "default":
            return ArgumentOrigin("default", location, f"{source.detail} ({raw} with {uses})")
        name = single_name(raw)
        if name is not None:
            return used[name].origin
        return ArgumentOrigin("var", location, f"{raw} with {uses}")

    # --- bookkeeping --------------------------------------------------------------

    def _add(self, node):
        self.layers.append(node)
        self.layer_count += 1
        if self.layer_count > MAX_LAYERS:
            self._error(
                f"the spec expands to more than {MAX_LAYERS} layers",
                node.definition,
                hint="check the repeat counts",
            )
            raise _ExpansionStopped

    def _step(self, path):
        """Counts one entry (or repeat pass); stops the walk at MAX_EXPANSION_STEPS."""
        self.steps += 1
        if self.steps > MAX_EXPANSION_STEPS:
            self._error(
                f"the spec expands to more than {MAX_EXPANSION_STEPS} entries "
                "(layers, block uses, repeat passes and entries left out by `when`)",
                self.document.location(path),
                hint="check the repeat counts",
            )
            raise _ExpansionStopped

    def _nested(self, context, path):
        """The context one layer list deeper; stops the walk past MAX_NESTING."""
        if context.depth >= MAX_NESTING:
            self._error(
                f"layers are nested more than {MAX_NESTING} levels deep "
                "(repeat, scope and block bodies inside each other)",
                self.document.location(path),
            )
            raise _ExpansionStopped
        return dataclasses.replace(context, depth=context.depth + 1)

    def _error(self, message, location, hint=None):
        self.diagnostics.append(Diagnostic(message, location, hint))

    def _warning(self, message, location):
        self.diagnostics.append(Diagnostic(message, location, severity="warning"))

    def _error_count(self):
        return sum(diagnostic.severity == "error" for diagnostic in self.diagnostics)


# A `model:` block use is a node of this type, holding the block's graph.
_MODEL_TYPES = {"functional": "Functional", "sequential": "Sequential"}


class _ShapeNames:
    """What `shape(name)` may read: the inputs and layers defined so far in a name scope."""

    def __init__(self, names):
        self.names = names

    def reference(self, name):
        """The `_PendingRef` of `name`, or None (a block use with several outputs)."""
        target = self.names.find(name)
        if isinstance(target, _BlockUse):
            target = target.outputs[0] if len(target.outputs) == 1 else None
        if target is None or target is _MISSING_INPUT:
            return None
        return target if isinstance(target, _PendingRef) else _PendingRef(target)

    def __contains__(self, name):
        return self.reference(name) is not None

    def __iter__(self):
        return iter(sorted(self.names.names()))


_SHAPE_CALL_RE = re.compile(r"\bshape\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")


def _shape_arguments(raw):
    """The names a value passes to `shape()`, read from its text."""
    if isinstance(raw, str):
        return _SHAPE_CALL_RE.findall(raw)
    if isinstance(raw, dict):
        raw = list(raw.values())
    if isinstance(raw, list):
        return [name for item in raw for name in _shape_arguments(item)]
    return []


@dataclasses.dataclass(frozen=True)
class _Written:
    """A value as written (after substitution) and its key path, for messages."""

    value: object
    path: tuple


def _auto_name(type_name):
    """The automatic name part of a layer or block type, as Keras would choose it."""
    return AutoName(to_snake_case(type_name.rpartition(">")[2]))


def _is_unnamed_layer_of(node, prefix):
    """Whether `node` is a layer of the block use `prefix` that has no name of its own."""
    return (
        isinstance(node, _PendingLayer)
        and len(node.name_parts) == len(prefix) + 1
        and node.name_parts[: len(prefix)] == prefix
        and isinstance(node.name_parts[-1], AutoName)
    )


def _is_dimension(size):
    return size is None or (isinstance(size, int) and not isinstance(size, bool) and size > 0)


def _plural(noun, items):
    return noun if len(items) == 1 else noun + "s"


def _quoted(items):
    return ", ".join(f"'{item}'" for item in items)
