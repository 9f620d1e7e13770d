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

from kerasblocks.errors import Diagnostic, SourceLocation, SpecError, format_key_path
from kerasblocks.spec import arguments as argument_values
from kerasblocks.spec import registry
from kerasblocks.spec.checks import MAX_BLOCK_DEPTH, check_document
from kerasblocks.spec.expressions import ExpressionError, single_name, substitute_all
from kerasblocks.spec.graph import ArgumentOrigin, Graph, InputNode, LayerNode
from kerasblocks.spec.load import load_spec
from kerasblocks.spec.naming import AutoName, assign_names, to_snake_case
from kerasblocks.spec.schema import check_schema
from kerasblocks.spec.scope import Binding, FailedValue, NameScope, ValueScope
from kerasblocks.spec.suggest import did_you_mean
from kerasblocks.spec.syntax import (
    DEFAULT_BLOCK_INPUTS,
    INPUTS_KEY,
    NAME_KEY,
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
    inputs: list = dataclasses.field(default_factory=list)
    arguments: dict = dataclasses.field(default_factory=dict)
    origins: dict = dataclasses.field(default_factory=dict)


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
        self.layers = []  # _PendingLayer, in file order
        self.switched_off = False  # whether a `when` left something out
        self.steps = 0  # entries visited, for MAX_EXPANSION_STEPS

    # --- the walk ---------------------------------------------------------------

    def run(self):
        """Expands the spec; returns a `Graph` (meaningless if errors were found)."""
        self.globals, var_diagnostics = evaluate_vars(self.document, self.overrides)
        self.diagnostics += var_diagnostics
        names = NameScope("the spec")
        inputs = self._model_inputs(names)
        context = _Context(values=self.globals, names=names, defaults={})
        context = self._with_defaults(context, self.data.get("defaults"), ("defaults",))
        try:
            last = self._expand_list(
                self.data["layers"], ("layers",), context, inputs[0] if len(inputs) == 1 else None
            )
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
                binding = self._evaluate(raw, path + (type_name, argument), context.values, source)
                merged.setdefault(type_name, {})[argument] = binding  # None: failed, reported
        return dataclasses.replace(context, defaults=merged)

    # --- one use of a layer or block type ---------------------------------------

    def _use(self, type_name, arguments, arguments_path, location, context, previous, source):
        """Expands `- Type: arguments`; returns the node that the next entry takes."""
        name = self._layer_name(arguments, arguments_path, context)
        if not self._switched_on(arguments, arguments_path, context.values):
            if name is not None:
                when_location = self.document.location(arguments_path + (WHEN_KEY,))
                context.names.switch_off(name, when_location)
            return previous
        if name is not None and not self._name_is_free(context.names, name, location):
            name = None  # reported; an automatic name avoids follow-on clashes
        if type_name in self.blocks:
            return self._use_block(
                type_name, arguments, arguments_path, location, context, previous, name
            )
        node = _PendingLayer(
            type=type_name,
            name_parts=context.prefix + (name if name is not None else _auto_name(type_name),),
            definition=location,
            location=context.use_site or location,
            blocks=context.blocks,
        )
        self._add(node)
        node.inputs = self._inputs(
            arguments, arguments_path, location, context, previous, consumer=node
        )
        if name is not None:
            context.names.define(name, node, location)
        node.arguments, node.origins = self._layer_arguments(
            type_name, arguments, arguments_path, location, context, source
        )
        return node

    def _layer_arguments(self, type_name, arguments, arguments_path, location, context, source):
        """Defaults merged with the layer's own arguments; checked and normalised."""
        bindings = dict(context.defaults.get(type_name, {}))
        for argument, raw in constructor_arguments(arguments).items():
            bindings[argument] = self._evaluate(
                raw, arguments_path + (argument,), context.values, source
            )
        values = {argument: binding.value for argument, binding in bindings.items() if binding}
        origins = {argument: binding.origin for argument, binding in bindings.items() if binding}
        for argument, value in list(values.items()):  # plugins too: nothing may name code
            problem = argument_values.refusal(argument, value)
            if problem:
                self._error(problem, origins[argument].location)
                del values[argument]  # no follow-on errors about the same value
        signature = registry.signature(type_name)
        if signature is None or signature.refused:
            return values, origins  # plugins are unchecked; bad types were reported
        missing = [
            argument for argument in signature.required_arguments() if argument not in bindings
        ]
        if missing and set(bindings) <= set(signature.arguments):  # else a misspelling was reported
            self._error(
                f"{type_name} needs {_plural('argument', missing)} {_quoted(missing)}", location
            )
        for argument, value in values.items():
            values[argument], problem = argument_values.normalise(argument, value)
            if problem:
                self._error(problem, origins[argument].location)
        return values, origins

    def _use_block(self, block_name, arguments, arguments_path, location, context, previous, name):
        if block_name in context.blocks or len(context.blocks) >= MAX_BLOCK_DEPTH:
            return previous  # a recursive block, or too deep; reported by the static checks
        block = self.blocks[block_name]
        block_path = ("blocks", block_name)
        values = self._bind_params(block_name, block, arguments, arguments_path, location, context)
        declared_inputs = tuple(block.get("inputs") or DEFAULT_BLOCK_INPUTS)
        errors_before = self._error_count()
        inputs = self._inputs(arguments, arguments_path, location, context, previous, consumer=None)
        if len(inputs) != len(declared_inputs) and self._error_count() == errors_before:
            expected = f"{len(declared_inputs)} {_plural('input', declared_inputs)}"
            self._error(
                f"block {block_name} takes {expected} ({', '.join(declared_inputs)}), "
                f"got {len(inputs)}",
                location,
            )
        names = NameScope(f"block {block_name}")
        for index, input_name in enumerate(declared_inputs):  # missing ones: reported above
            names.define(
                input_name, inputs[index] if index < len(inputs) else _MISSING_INPUT, location
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
        first_input = inputs[0] if len(declared_inputs) == 1 and inputs else None
        last = self._expand_list(block["layers"], block_path + ("layers",), inner, first_input)
        self.diagnostics += names.finish()
        output = self._block_output(block_name, block, names, last)
        if _is_unnamed_layer_of(output, inner.prefix):
            output.name_parts = inner.prefix  # an unnamed output layer takes the use's name
        if name is not None and output is not None:
            context.names.define(name, output, location)
        return output

    def _bind_params(self, block_name, block, arguments, arguments_path, location, context):
        """The value scope of a block body: the vars plus the params of this use."""
        params = block.get("params") or {}
        given = constructor_arguments(arguments)
        preset = context.defaults.get(block_name, {})
        bindings, failed, missing = {}, set(), []
        for param, default in params.items():
            detail = f"{block_name} param {param}"
            if param in given:
                path = arguments_path + (param,)
                binding = self._evaluate(
                    given[param], path, context.values, _Source("block", detail)
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
                scope = ValueScope(bindings, parent=self.globals, failed=failed)
                path = ("blocks", block_name, "params", param)
                binding = self._evaluate(
                    default, path, scope, _Source("block", f"{detail} (default)")
                )
            if binding is None:
                failed.add(param)
            else:
                bindings[param] = binding
        if missing and set(given) <= set(params):  # else a misspelling was reported
            self._error(
                f"block {block_name} needs {_plural('param', missing)} {_quoted(missing)}", location
            )
        return ValueScope(bindings, parent=self.globals, failed=failed)

    def _block_output(self, block_name, block, names, last):
        output_name = block.get("output")
        if output_name is None:
            return last
        node = names.find(output_name)
        if node is None:
            suggestion = did_you_mean(output_name, names.names())
            self._error(
                f"block {block_name} has no layer named '{output_name}'{suggestion}",
                self.document.location(("blocks", block_name, "output")),
            )
            return last
        return node

    def _switched_on(self, mapping, path, values):
        """Whether an entry with an optional `when` condition is in the model.

        A condition that fails to evaluate, or is not true or false, is an
        error; the entry then counts as present, so that its other problems
        are reported and references to it raise no follow-on errors.
        """
        if WHEN_KEY not in mapping:
            return True
        when_path = path + (WHEN_KEY,)
        binding = self._evaluate(mapping[WHEN_KEY], when_path, values, _Source("layer"))
        if binding is None:
            return True
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

    def _inputs(self, arguments, arguments_path, location, context, previous, consumer):
        """The nodes a layer or block use takes: its `inputs:`, else the previous one."""
        if INPUTS_KEY not in arguments:
            if previous is None:
                self._error(
                    "this layer has no input: there is no single previous layer or input to take",
                    location,
                    hint="say which it takes with `inputs: name` (or a list of names)",
                )
                return []
            return [previous]
        path = arguments_path + (INPUTS_KEY,)
        binding = self._evaluate(arguments[INPUTS_KEY], path, context.values, _Source("layer"))
        if binding is None:
            return []
        references = binding.value if isinstance(binding.value, list) else [binding.value]
        if not references:
            self._error("`inputs` names no layer", self.document.location(path))
            return []
        paths = (
            [path + (index,) for index in range(len(references))]
            if isinstance(binding.value, list)
            else [path]
        )
        nodes = []
        for reference, reference_path in zip(references, paths, strict=True):
            reference_location = self.document.location(reference_path)
            if not isinstance(reference, str):
                self._error(
                    f"inputs are layer or input names, got {reference!r}", reference_location
                )
                continue
            node = context.names.refer(reference, reference_location, consumer)
            if node is not None and node is not _MISSING_INPUT:
                nodes.append(node)
        return nodes

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
            node = InputNode(name, shape, dtype, location)
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
        if "outputs" not in self.data:
            return [last] if last is not None else []
        written = self.data["outputs"]
        if isinstance(written, list):  # each item: a name, or {name: ..., when: ...}
            items = [(item, ("outputs", index)) for index, item in enumerate(written)]
        else:  # one name, or an expression giving one or a list of them
            binding = self._evaluate(written, ("outputs",), self.globals, _Source("layer"))
            if binding is None:
                return []
            values = binding.value if isinstance(binding.value, list) else [binding.value]
            items = [(value, None) for value in values]
        outputs = []
        for item, path in items:
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
            node = names.find(reference) if isinstance(reference, str) else None
            if node is not None:
                outputs.append(node)
            elif isinstance(reference, str) and names.switched_off_at(reference) is not None:
                when = names.switched_off_at(reference)
                self._error(
                    f"output '{reference}' is a layer left out by its `when` "
                    f"(at {when.line}:{when.column})",
                    location,
                    hint=f"give the output the same condition: `{{name: {reference}, when: ...}}`",
                )
            else:
                self._error(
                    f"no layer or input named {reference!r} for the outputs"
                    f"{did_you_mean(str(reference), names.names())}",
                    location,
                )
        if not outputs and self._error_count() == 0:
            self._error(
                "every output is left out by its `when`: the model has no output",
                self.document.location(("outputs",)),
            )
        return outputs

    # --- the graph ----------------------------------------------------------------

    def _graph(self, inputs, outputs):
        names, naming_errors = assign_names(self.layers, taken=[node.name for node in inputs])
        self.diagnostics += naming_errors

        def name_of(node):
            return node.name if isinstance(node, InputNode) else names[node]

        layers = tuple(
            LayerNode(
                name=names[node],
                type=node.type,
                arguments=node.arguments,
                inputs=tuple(name_of(upstream) for upstream in node.inputs),
                location=node.location,
                argument_origins=node.origins,
                definition=node.definition,
                blocks=node.blocks,
            )
            for node in self.layers
        )
        self._warn_unused(inputs, outputs, names)
        model_name = self._evaluate(self.data["name"], ("name",), self.globals, _Source("layer"))
        return Graph(
            name=model_name.value if model_name else "model",
            inputs=tuple(inputs),
            layers=layers,
            outputs=tuple(name_of(node) for node in outputs),
            description=self.data.get("description", ""),
            train=self.data.get("train"),
        )

    def _warn_unused(self, inputs, outputs, names):
        consumed = {id(node) for node in outputs}
        consumed.update(id(upstream) for node in self.layers for upstream in node.inputs)
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

    def _evaluate(self, raw, path, values, source):
        """Evaluates a written value; returns a `Binding`, or None (error recorded)."""
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
        if len(self.layers) > MAX_LAYERS:
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
