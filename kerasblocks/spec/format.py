"""`format_expanded`: an expanded graph as a plain spec, with each value's origin.

This is what `kerasblocks expand` prints: no vars, defaults, blocks, repeat or
stack left, every layer named, and a trailing comment on each argument saying
where its value came from. The text is itself a valid spec that expands to
the same graph (`$` is written `$$`).
"""

import json
import math
import re

import yaml

from kerasblocks.spec import ops, registry
from kerasblocks.spec.calls import written_call, written_reference
from kerasblocks.spec.graph import Deferred, NestedLayer
from kerasblocks.spec.parse import parse_value

_PLAIN_TEXT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


def format_expanded(graph):
    """Returns the expanded spec as YAML text with origin comments.

    Args:
        graph: `kerasblocks.spec.graph.Graph` from `expand`.
    """
    lines = [
        f"# {graph.name}, expanded from {graph.file} by kerasblocks.",
        "# The comment after each argument says where its value came from.",
        "kerasblocks: 1",
        f"name: {flow(graph.name)}",
    ]
    if graph.description:
        lines.append(f"description: {flow(graph.description)}")
    for flag in ("input_dict", "input_list", "output_list"):
        if getattr(graph, flag):
            lines.append(f"{flag}: true")
    lines.append("inputs:")
    for node in graph.inputs:
        declaration = {"shape": list(node.shape), "dtype": node.dtype}
        if node.batch_size is not None:
            declaration["batch_size"] = node.batch_size
        declaration = flow(declaration)
        lines.append(f"  {node.name}: {declaration}  # {node.location}")
    models = _nested_models(graph)
    if models:  # each use of a `model:` block, as a block of its own expanded body
        lines.append("blocks:")
        for block_name, model in models.values():
            lines.append(f"  {block_name}:")
            lines.append(f"    model: {model.kind}")
            lines.append(f"    inputs: {flow([node.name for node in model.inputs])}")
            lines.append("    layers:")
            for node in model.layers:
                lines.extend(_layer_lines(node, models, indent="    "))
            lines.append(f"    outputs: {flow([str(ref) for ref in model.output_refs])}")
    lines.append("layers:")
    for node in graph.layers:
        lines.extend(_layer_lines(node, models))
    if graph.output_dict:
        refs = {key: str(ref) for key, ref in zip(graph.outputs, graph.output_refs)}
        lines.append(f"outputs: {flow(refs)}")
    else:
        lines.append(f"outputs: {flow([str(ref) for ref in graph.output_refs])}")
    if graph.train is not None:
        lines.append(yaml.safe_dump({"train": graph.train}, sort_keys=False).rstrip())
    return "\n".join(lines) + "\n"


def _nested_models(graph):
    """{node name: (block name, nested graph)} of every `model:` block use, inner ones first."""
    found = {}
    for node in graph.layers:
        if node.model is not None:
            found.update(_nested_models(node.model))
            found[node.name] = (_model_block_name(node), node.model)
    return found


def _model_block_name(node):
    """The expanded spec's block for one use: "Encoder_encoder_right"."""
    return f"{node.model.block}_{re.sub(r'[^A-Za-z0-9_]', '_', node.name)}"


def _layer_lines(node, models, indent=""):
    written = f"{node.location}"
    if node.blocks:
        written += f", in block {' > '.join(node.blocks)} written at {node.definition}"
    type_name = node.type
    if node.model is not None:
        type_name = _model_block_name(node)
    elif node.shares in models:  # a shared model: the block of the use it shares
        type_name = models[node.shares][0]
    lines = [f"{indent}  - {type_name}:  # {written}",
             f"{indent}      name: {flow(node.name)}"]
    if node.shares is not None:
        lines.append(
            f"{indent}      share: {flow(node.shares)}  # the layer of '{node.shares}' again"
        )
    if node.condition is not None:
        passed = f"'{node.passthrough}'" if node.passthrough is not None else "nothing"
        lines.append(
            f"{indent}      when: {flow(node.condition)}  # decided when built; if false, "
            f"the chain takes {passed}"
        )
    if ops.is_op_name(node.type):
        for operand, value in zip(ops.op_spec(node.type).operands, node.args):
            if value is not None:  # a default left out
                lines.append(f"{indent}      {operand.name}: {flow(written_reference(value))}")
    elif node.model is not None or node.type in ("Functional", "Sequential"):
        (value,) = node.args
        lines.append(f"{indent}      inputs: {flow(written_reference(value))}")
    else:
        call = written_call(registry.signature(node.type), node.args, node.kwargs)
        for key, value in call.items():
            lines.append(f"{indent}      {key}: {flow(value)}")
    for argument, value in node.arguments.items():
        line = f"{indent}      {argument}: {flow(value)}"
        origin = node.argument_origins.get(argument)
        if origin is not None:
            detail = f": {origin.detail}" if origin.detail else ""
            line += f"  # {origin.kind}{detail} ({origin.location})"
        lines.append(line)
    return lines


def flow(value):
    """A value as one line of YAML flow style that the spec parser reads back."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(item) for item in value) + "]"
    if isinstance(value, NestedLayer):
        return flow({value.type: value.arguments})
    if isinstance(value, Deferred):  # it reads shape(), known when built
        return json.dumps(standalone_text(value))
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(
                f"{_text(str(key), escape=False)}: {flow(item)}" for key, item in value.items()
            )
            + "}"
        )
    raise TypeError(f"cannot write a {type(value).__name__} into a spec")


_EXPRESSION_RE = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_TOKEN_RE = re.compile(r"\bshape\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)|[A-Za-z_][A-Za-z0-9_]*")
_WORDS = frozenset(
    {"and", "or", "not", "if", "else", "in", "true", "false", "null", "True", "False", "None",
     "len", "min", "max"}
)
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def standalone_text(deferred):
    """A `Deferred` value's text that means the same outside its block.

    The params and vars it uses are written as their values and `shape(input)`
    names the node the input is (`shape(stage1_add)`), so the expanded spec
    evaluates it again at build time. Where that cannot be said (a value that
    is text, a node name that is not an identifier) the text is kept as written.
    """
    text = deferred.text
    if not isinstance(text, str):
        return str(text)

    def literal(value):
        if isinstance(value, bool) or value is None:
            return {True: "true", False: "false", None: "null"}[value]
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, list):
            return "[" + ", ".join(literal(item) for item in value) + "]"
        raise ValueError(value)

    def token(match):
        if match.group(1) is not None:  # shape(name): the node it reads
            ref = deferred.inputs.get(match.group(1))
            if ref is None or ref.output is not None or not _IDENTIFIER_RE.match(ref.node):
                raise ValueError(match.group(0))
            return f"shape({ref.node})"
        word = match.group(0)
        if word in _WORDS or word not in deferred.values:
            return word
        return literal(deferred.values[word])

    def expression(match):
        body = match.group(1) if match.group(1) is not None else match.group(2)
        return "${" + _TOKEN_RE.sub(token, body) + "}"

    try:
        return _EXPRESSION_RE.sub(expression, text)
    except ValueError:
        return text


def _text(text, escape=True):
    if escape:
        text = text.replace("$", "$$")  # keep it literal when read back as a spec
    if _PLAIN_TEXT_RE.match(text) and parse_value(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)
