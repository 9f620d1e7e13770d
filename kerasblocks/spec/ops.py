"""The operations table: the `keras.ops` calls a spec may use as graph nodes.

In a Keras functional model `x + 3.0` or `keras.ops.mean(x, axis=1)` records
an *operation* node: an instance of an `Operation` class (`Add`, `Mean`, in
`keras.src.ops.numpy` and its siblings) whose constructor takes the static
arguments (`axis`, `keepdims`, ...) and whose call takes the operands (tensors
or constants) by position. A spec writes such a node as an entry whose type is
the lowercase `keras.ops` function name, its arguments named as that function
names them:

    - add: {x2: 3.0}                      # keras.ops.add(previous, 3.0)
    - multiply: {x1: a, x2: b}            # a, b: node names
    - mean: {axis: [1, 2], keepdims: true}
    - get_item: {key: [":", 0]}           # x[:, 0]

This module is the one closed table of such operations, read three ways:

- **validation** (no Keras, no TensorFlow): `op_names`, `op_spec`,
  `is_op_name`, `check_op_arguments`, `bind_operands`;
- **the builder**: `apply_op` creates the operation and calls it, so a model
  built from a spec has the config a model written with `keras.ops` has;
- **to_spec** (no Keras either: it reads configs): `op_from_config`,
  `operands_from_config`.

Operands and static arguments
-----------------------------
An operand is a call argument of the operation; its *kind* says what a spec
may give:

- `tensor`: a node name (a string), or a number or boolean constant;
- `indices`: a node name, an integer, or a (nested) list of integers
  (`take`'s `indices`, `slice`'s `start_indices`);
- `tensors`: a list of node names (`concatenate`'s `xs`, `stack`'s `x`);
- `number`: a number constant (`arange`'s `start`, `stop`, `step`);
- `key`: `get_item`'s index key, below.

The previous node of the chain fills the first *required* `tensor` or
`indices` operand the entry does not give: `add: {x2: 3.0}` is previous + 3,
`subtract: {x1: 1.0}` is 1 - previous, `add: {}` is an error (x2 missing).
`tensors` operands are never filled from the previous node.

Static arguments are constructor arguments; each has JSON kinds: `null`,
`bool`, `int`, `number` (int or float), `string`, `ints` (list of integers),
`dtype` (a dtype name from the table). `name` and `when` are the entry's
reserved keys, never arguments.

The `get_item` key (`x[...]`)
-----------------------------
Keras records `x[:, 1:3, None, ...]` as a `GetItem` node called with
`(x, key)`, the key being an integer or a tuple of items. In a spec the key
is an integer, or a list whose items are:

- an integer: an index (`0`, `-1`);
- a slice as a string `"start:stop"` or `"start:stop:step"`, every part
  optional: `":"`, `"1:3"`, `"::2"`, `"-1:"` (quote them: YAML cannot read an
  unquoted `:` or `::2` in a flow list, and reads `[-1:]` as a mapping);
- a slice as a mapping `{start: 1, stop: 3, step: null}`, every key optional
  (`{}` is `:`); to_spec writes the string form;
- `"..."`: the ellipsis (at most one);
- `null`: a new axis (`None` in Python).

So `x[:, 0]` is `get_item: {key: [":", 0]}` and `x[..., -1]` is
`get_item: {key: ["...", -1]}`. A list key is a tuple key, as Keras's own
`GetItem` reads lists (`x[[0, 1]]` there is `x[0, 1]`, no fancy indexing).

Constant nodes
--------------
An operation whose operands are all constants is computed when the model is
built and records no node: `arange: {start: 0, stop: 16}` gives a concrete
tensor (int32 here), which Keras writes inline into the config of the
operations that use it (`{"class_name": "__tensor__", ...}`). Such a node can
only be an operand of other operations; a layer called on it would run once,
at build time, with its initial weights. `operands_from_config` reads an
inline constant that is an arange back as `ArangeConstant`. Position indices
that follow the input (any sequence length) are
`cumsum: {x: <ones_like of the tokens>, axis: 1}` minus 1.

The table
---------
The names, classes, operand order and defaults are generated from the
installed Keras into `op_table.json` (package data):

    python -m kerasblocks.spec.ops          # rewrite the table
    python -m kerasblocks.spec.ops --check  # exit 1 if it is stale

The choice of operations, their operand kinds and the argument kinds are
written below (`GROUPS`, `OPERAND_KINDS`, `ARGUMENT_KINDS`); generation fails
when Keras has an argument this module gives no kind.
"""

import dataclasses
import functools
import importlib
import importlib.resources
import inspect
import json
import math
import re
import sys
from pathlib import Path
from typing import NamedTuple

from kerasblocks.spec.suggest import did_you_mean

TABLE_FILE = "op_table.json"
# Keys of an op entry that are not arguments of the operation.
RESERVED_KEYS = frozenset({"name", "when"})

# The closed set, by group (the group only orders the README table).
GROUPS = {
    "arithmetic": (
        "add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "mod",
        "power", "maximum", "minimum", "matmul",
    ),
    "element-wise": (
        "negative", "abs", "square", "sqrt", "rsqrt", "reciprocal", "exp", "log", "log1p",
        "sign", "floor", "ceil", "round", "clip", "erf", "cos", "sin",
    ),
    "comparison and logic": (
        "equal", "not_equal", "greater", "greater_equal", "less", "less_equal",
        "logical_and", "logical_or", "logical_xor", "logical_not", "where",
    ),
    "reduction": (
        "mean", "sum", "max", "min", "prod", "std", "var", "argmax", "argmin", "any", "all",
        "logsumexp", "cumsum",
    ),
    "shape": (
        "reshape", "transpose", "expand_dims", "squeeze", "concatenate", "stack", "tile",
        "repeat", "broadcast_to", "flip",
    ),
    "indexing and creation": (
        "get_item", "take", "take_along_axis", "slice", "arange", "one_hot", "cast",
        "zeros_like", "ones_like", "full_like", "triu", "tril", "stop_gradient",
    ),
    "activation": (
        "relu", "relu6", "sigmoid", "hard_sigmoid", "hard_silu", "silu", "gelu", "softmax",
        "log_softmax", "tanh", "softplus", "softsign", "elu", "selu", "leaky_relu", "celu",
        "glu", "hard_tanh", "log_sigmoid", "normalize",
    ),
}  # fmt: skip
# Other keras.ops names for the same operation; to_spec writes the canonical one.
ALIASES = {"absolute": "abs", "hard_swish": "hard_silu", "swish": "silu"}
# Where the class is not the function name in CamelCase (`abs` calls `absolute`).
_CLASS_OVERRIDES = {"abs": "Absolute"}

OPERAND_KINDS = {
    ("concatenate", "xs"): "tensors",
    ("stack", "x"): "tensors",
    ("get_item", "key"): "key",
    ("take", "indices"): "indices",
    ("take_along_axis", "indices"): "indices",
    ("slice", "start_indices"): "indices",
    ("arange", "start"): "number",
    ("arange", "stop"): "number",
    ("arange", "step"): "number",
}  # any other operand: "tensor"
_REFERENCE_KINDS = frozenset({"tensor", "indices", "tensors"})
_FILLABLE_KINDS = frozenset({"tensor", "indices"})

ARGUMENT_KINDS = {
    "axis": ("int", "ints", "null"),
    "keepdims": ("bool",),
    "initial": ("number", "null"),
    "dtype": ("dtype", "null"),
    "newshape": ("int", "ints"),
    "axes": ("ints", "null"),
    "shape": ("ints",),
    "repeats": ("int", "ints"),
    "decimals": ("int",),
    "x_min": ("number",),
    "x_max": ("number",),
    "k": ("int",),
    "num_classes": ("int",),
    "sparse": ("bool",),
    "approximate": ("bool",),
    "alpha": ("number",),
    "negative_slope": ("number",),
    "order": ("int",),
    "epsilon": ("number", "null"),
}
ARGUMENT_KIND_OVERRIDES = {
    **{
        (op, "axis"): ("int", "null")
        for op in ("argmax", "argmin", "cumsum", "take", "take_along_axis", "repeat")
    },
    **{
        (op, "axis"): ("int",)
        for op in ("concatenate", "stack", "softmax", "log_softmax", "glu", "one_hot", "normalize")
    },
    ("expand_dims", "axis"): ("int", "ints"),
    ("cast", "dtype"): ("dtype",),
}
# Keras dtypes a spec may not name (no string tensors in a model graph).
_EXCLUDED_DTYPES = frozenset({"string"})

_VALUE_KIND_TEXT = {
    "null": "null",
    "bool": "true or false",
    "int": "an integer",
    "number": "a number",
    "string": "a string",
    "ints": "a list of integers",
    "dtype": "a dtype name",
}
_OPERAND_KIND_TEXT = {
    "tensor": "a node name or a number or boolean constant",
    "indices": "a node name, an integer or a list of integers",
    "tensors": "a list of node names",
    "number": "a number",
    "key": "an index key (an integer, or a list of integers, slices, '...' and null)",
}
KEY_HINT = (
    "key items are integers, slices as quoted strings (':', '1:3', '::2', '-1:') or "
    "{start, stop, step} mappings, '...' (at most once) and null (a new axis)"
)


# --- the table ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Operand:
    """One call argument of an operation, in call order."""

    name: str
    kind: str  # tensor | indices | tensors | number | key
    required: bool
    default: object = None

    @property
    def takes_reference(self):
        """Whether a string here names a node."""
        return self.kind in _REFERENCE_KINDS

    @property
    def fillable(self):
        """Whether the previous node may fill this operand."""
        return self.required and self.kind in _FILLABLE_KINDS


@dataclasses.dataclass(frozen=True)
class Argument:
    """One static (constructor) argument."""

    name: str
    kinds: tuple  # of "null", "bool", "int", "number", "string", "ints", "dtype"
    required: bool
    default: object = None


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """One operation of the table.

    name: the canonical spec name (= the keras.ops function name).
    function: `keras.ops.<name>`, what the node computes.
    module, class_name: the Operation class, as the model config names it.
    operands: (Operand, ...) in call order.
    arguments: {name: Argument}, the static arguments in the function's order.
    aliases: other spec names of this operation.
    doc: the first line of the function's docstring.
    """

    name: str
    function: str
    module: str
    class_name: str
    group: str
    operands: tuple
    arguments: dict
    aliases: tuple
    doc: str

    @property
    def operand_names(self):
        return tuple(operand.name for operand in self.operands)

    @property
    def constant(self):
        """True when no operand can be a node: the result is a build-time constant."""
        return not any(operand.takes_reference for operand in self.operands)

    def operand(self, name):
        return next((operand for operand in self.operands if operand.name == name), None)

    def takes(self):
        """`x, axis, keepdims`: every name an entry may give, for hints."""
        return ", ".join([*self.operand_names, *self.arguments])


@dataclasses.dataclass(frozen=True)
class OpTable:
    keras_version: str
    ops: dict  # canonical name -> OpSpec
    aliases: dict  # alias -> canonical name
    dtypes: tuple
    by_class: dict  # (module, class name) -> canonical name


@functools.cache
def load_table():
    """Reads the shipped table (cached). Does not import Keras."""
    text = importlib.resources.files("kerasblocks.spec").joinpath(TABLE_FILE).read_text("utf-8")
    return table_from_json(json.loads(text))


def table_from_json(data):
    ops, aliases = {}, {}
    for name, entry in data["ops"].items():
        operands = tuple(
            Operand(item["name"], item["kind"], "default" not in item, item.get("default"))
            for item in entry["operands"]
        )
        arguments = {
            item["name"]: Argument(
                item["name"], tuple(item["kinds"]), "default" not in item, item.get("default")
            )
            for item in entry["arguments"]
        }
        ops[name] = OpSpec(
            name,
            entry["function"],
            entry["module"],
            entry["class_name"],
            entry["group"],
            operands,
            arguments,
            tuple(entry.get("aliases", ())),
            entry["doc"],
        )
        for alias in entry.get("aliases", ()):
            aliases[alias] = name
    by_class = {(spec.module, spec.class_name): name for name, spec in ops.items()}
    return OpTable(data["keras_version"], ops, aliases, tuple(data["dtypes"]), by_class)


def op_names(include_aliases=True):
    """The spec names of all operations (sorted), aliases included by default."""
    table = load_table()
    names = set(table.ops) | (set(table.aliases) if include_aliases else set())
    return sorted(names)


def is_op_name(type_name):
    """Whether an entry type names an operation (canonical name or alias)."""
    table = load_table()
    return isinstance(type_name, str) and (type_name in table.ops or type_name in table.aliases)


def op_spec(name):
    """The `OpSpec` of an operation name or alias, or None."""
    table = load_table()
    if not isinstance(name, str):
        return None
    return table.ops.get(table.aliases.get(name, name))


def dtypes():
    """The dtype names an op's `dtype` argument accepts."""
    return load_table().dtypes


# --- validation (no Keras) -----------------------------------------------------------


class Problem(NamedTuple):
    """One thing wrong with an op entry: the argument (None: the entry), message, hint."""

    argument: str | None
    message: str
    hint: str | None


def check_op_arguments(name, arguments, *, previous_available=True):
    """Everything wrong with the arguments of op entry `name`, as `Problem`s.

    Args:
        name: the entry type (an op name or alias).
        arguments: the entry's mapping (None for none); `name` and `when`
            are skipped.
        previous_available: whether a previous node can fill the first
            required tensor operand (False for the first node of a chain).

    Returns:
        [(argument or None, message, hint)], empty when the entry is fine.
        Node names are not checked: any string is a reference here.
    """
    spec = op_spec(name)
    if spec is None:
        return [
            Problem(None, f"unknown operation '{name}'{did_you_mean(str(name), op_names())}", None)
        ]
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return [
            Problem(
                None,
                f"{name} takes a mapping of arguments, not {_describe(arguments)}",
                f"{name} takes {spec.takes()}",
            )
        ]
    problems = []
    for key, value in arguments.items():
        if key in RESERVED_KEYS:
            continue
        operand = spec.operand(key)
        if operand is not None:
            problem = _operand_problem(name, operand, value)
        elif key in spec.arguments:
            problem = _argument_problem(name, spec.arguments[key], value)
        else:
            problem = _unknown_argument(name, spec, key)
        if problem:
            problems.append(problem)
    problems.extend(_missing(name, spec, arguments, previous_available))
    if spec.name == "where":
        given = [key for key in ("x1", "x2") if arguments.get(key) is not None]
        if len(given) == 1:
            problems.append(
                Problem(
                    given[0],
                    "where needs both x1 and x2, or neither",
                    "where: {x1: a, x2: b} picks from a where the condition holds, else from b",
                )
            )
    return problems


def _unknown_argument(name, spec, key):
    hint = f"{name} takes {spec.takes()}"
    if key == "inputs":
        hint += "; operations name their operands instead of `inputs`"
    known = [*spec.operand_names, *spec.arguments]
    return Problem(key, f"{name} has no argument '{key}'{did_you_mean(str(key), known)}", hint)


def _missing(name, spec, arguments, previous_available):
    problems = []
    fill_used = False  # the previous node fills at most one operand
    for operand in spec.operands:
        if not operand.required or arguments.get(operand.name) is not None:
            continue
        why = ""
        if operand.fillable and not fill_used:
            fill_used = True
            if previous_available:
                continue
            why = "; there is no previous node to take it from"
        problems.append(
            Problem(
                None,
                f"{name} needs operand '{operand.name}' "
                f"({_OPERAND_KIND_TEXT[operand.kind]}){why}",
                f"{name} takes {spec.takes()}",
            )
        )
    for argument in spec.arguments.values():
        if argument.required and argument.name not in arguments:
            problems.append(
                Problem(
                    None,
                    f"{name} needs argument '{argument.name}' ({_kinds_text(argument.kinds)})",
                    f"{name} takes {spec.takes()}",
                )
            )
    return problems


def _operand_problem(name, operand, value):
    if value is None:
        if operand.required:
            return Problem(
                operand.name,
                f"operand '{operand.name}' of {name} must be {_OPERAND_KIND_TEXT[operand.kind]}, "
                "not null",
                None,
            )
        return None
    if operand.kind == "key":
        problem = key_problem(value)
        return Problem(operand.name, f"get_item key: {problem}", KEY_HINT) if problem else None
    if _operand_matches(operand.kind, value):
        return None
    hint = None
    if operand.kind == "tensor" and isinstance(value, list):
        hint = (
            "a constant operand is one number or boolean; Keras cannot add a Python list "
            "to a tensor"
        )
    elif operand.kind == "tensors" and isinstance(value, str):
        hint = f"write a list: {operand.name}: [{value}, ...]"
    elif operand.kind == "number" and isinstance(value, str) and _number_text(value):
        hint = f"write it without quotes: {operand.name}: {value.strip()}"
    return Problem(
        operand.name,
        f"operand '{operand.name}' of {name} must be {_OPERAND_KIND_TEXT[operand.kind]}, "
        f"not {_describe(value)}",
        hint,
    )


def _operand_matches(kind, value):
    if kind == "tensor":
        return isinstance(value, (str, bool)) or _is_number(value)
    if kind == "indices":
        return isinstance(value, str) or _is_int(value) or _is_int_array(value)
    if kind == "tensors":
        return (
            isinstance(value, (list, tuple))
            and len(value) > 0
            and all(isinstance(item, str) for item in value)
        )
    if kind == "number":
        return _is_number(value)
    raise AssertionError(kind)


def _argument_problem(name, argument, value):
    table = load_table()
    if any(_value_matches(kind, value, table.dtypes) for kind in argument.kinds):
        return None
    if "dtype" in argument.kinds and isinstance(value, str):
        return Problem(
            argument.name,
            f"unknown dtype '{value}' for argument '{argument.name}' of {name}"
            f"{did_you_mean(value, table.dtypes)}",
            None,
        )
    hint = None
    if isinstance(value, str) and _number_text(value):
        hint = f"write it without quotes: {argument.name}: {value.strip()}"
    return Problem(
        argument.name,
        f"argument '{argument.name}' of {name} must be {_kinds_text(argument.kinds)}, "
        f"not {_describe(value)}",
        hint,
    )


def _value_matches(kind, value, dtype_names):
    if kind == "null":
        return value is None
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return _is_int(value)
    if kind == "number":
        return _is_number(value)
    if kind == "string":
        return isinstance(value, str)
    if kind == "ints":
        return isinstance(value, (list, tuple)) and all(_is_int(item) for item in value)
    if kind == "dtype":
        return isinstance(value, str) and value in dtype_names
    raise AssertionError(kind)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int_array(value):
    if isinstance(value, (list, tuple)):
        return all(_is_int(item) or _is_int_array(item) for item in value)
    return False


def _number_text(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _kinds_text(kinds):
    return _join_or([_VALUE_KIND_TEXT[kind] for kind in kinds])


def _join_or(items):
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _describe(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string '{value}'"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


# --- the get_item key ---------------------------------------------------------------

_SLICE_TEXT_RE = re.compile(
    r"\s*(?P<start>[-+]?\d+)?\s*:\s*(?P<stop>[-+]?\d+)?\s*(?::\s*(?P<step>[-+]?\d+)?\s*)?\Z"
)
_SLICE_KEYS = ("start", "stop", "step")
ELLIPSIS_TEXT = "..."


def key_problem(key):
    """What is wrong with a spec key (a message), or None."""
    if isinstance(key, bool):
        return f"a key is an integer or a list, not {_describe(key)}"
    if _is_int(key):
        return None
    if not isinstance(key, (list, tuple)):
        return f"a key is an integer or a list, not {_describe(key)}"
    ellipses = 0
    for position, item in enumerate(key):
        problem = _key_item_problem(item)
        if problem:
            return f"item {position} ({_describe(item)}): {problem}"
        ellipses += item == ELLIPSIS_TEXT or item is Ellipsis
    if ellipses > 1:
        return f"'{ELLIPSIS_TEXT}' may appear once, not {ellipses} times"
    return None


def _key_item_problem(item):
    if item is None or item is Ellipsis or isinstance(item, slice) or _is_int(item):
        return None
    if isinstance(item, str):
        if item.strip() == ELLIPSIS_TEXT:
            return None
        match = _SLICE_TEXT_RE.match(item)
        if not match:
            if _number_text(item):
                return "an index is an integer: write it without quotes"
            return "not an index, a slice, '...' or null"
        if match["step"] is not None and int(match["step"]) == 0:
            return "a slice step cannot be 0"
        return None
    if isinstance(item, dict):
        unknown = [key for key in item if key not in _SLICE_KEYS]
        if unknown:
            return (
                f"a slice mapping has keys start, stop and step, not '{unknown[0]}' "
                "(YAML reads an unquoted '-1:' as a mapping: quote slices)"
            )
        for key, value in item.items():
            if value is not None and not _is_int(value):
                return f"slice {key} must be an integer or null, not {_describe(value)}"
        if item.get("step") == 0:
            return "a slice step cannot be 0"
        return None
    return "not an index, a slice, '...' or null"


def key_from_spec(key):
    """A spec key -> the Python key (int, or tuple of int/slice/None/Ellipsis)."""
    problem = key_problem(key)
    if problem:
        raise ValueError(f"get_item key: {problem}")
    if _is_int(key):
        return key
    return tuple(_key_item(item) for item in key)


def _key_item(item):
    if isinstance(item, str):
        if item.strip() == ELLIPSIS_TEXT:
            return Ellipsis
        match = _SLICE_TEXT_RE.match(item)
        return slice(*(None if match[part] is None else int(match[part]) for part in _SLICE_KEYS))
    if isinstance(item, dict):
        return slice(*(item.get(part) for part in _SLICE_KEYS))
    return item


def slice_text(start, stop, step):
    """`start:stop[:step]` with the None parts left out: ':' is the whole axis."""
    text = f"{'' if start is None else start}:{'' if stop is None else stop}"
    return text if step is None else f"{text}:{step}"


def key_to_spec(key):
    """A key as a model config records it (or a Python key) -> the spec form.

    Raises:
        UnsupportedOperation: for a key a spec cannot write (a tensor index).
    """
    if _is_int(key):
        return key
    if isinstance(key, (list, tuple)):
        return [_spec_key_item(item) for item in key]
    raise UnsupportedOperation(f"an index key {_short(key)} that a spec cannot write")


def _spec_key_item(item):
    if item is None or _is_int(item):
        return item
    if item is Ellipsis:
        return ELLIPSIS_TEXT
    if isinstance(item, slice):
        return slice_text(item.start, item.stop, item.step)
    if isinstance(item, dict) and item.get("class_name") == "__ellipsis__":
        return ELLIPSIS_TEXT
    if isinstance(item, dict) and item.get("class_name") == "__slice__":
        config = item.get("config") or {}
        parts = [config.get(part) for part in _SLICE_KEYS]
        if all(part is None or _is_int(part) for part in parts):
            return slice_text(*parts)
    raise UnsupportedOperation(
        f"an index key item {_short(item)} that a spec cannot write "
        "(keys hold integers, slices, '...' and new axes)"
    )


# --- binding operands (no Keras) ----------------------------------------------------


class _Previous:
    """The previous node of the chain, as an operand value."""

    def __repr__(self):
        return "PREVIOUS"


PREVIOUS = _Previous()


@dataclasses.dataclass(frozen=True)
class BoundOperand:
    """An operand of a bound entry.

    value: the spec value, PREVIOUS when the previous node fills it, or the
        operand's default when the entry does not give it.
    given: whether the entry wrote it.
    """

    name: str
    kind: str
    value: object
    given: bool

    @property
    def references(self):
        """The node names this operand refers to (PREVIOUS excluded)."""
        if self.kind == "tensors":
            return tuple(self.value)
        if self.kind in _FILLABLE_KINDS and isinstance(self.value, str):
            return (self.value,)
        return ()


@dataclasses.dataclass(frozen=True)
class OpBinding:
    """An op entry split into operands and static arguments.

    op: the canonical op name.
    operands: every operand, in call order (BoundOperand).
    static: the static arguments the entry gives (defaults not filled in).
    previous_operand: the operand the previous node fills, or None.
    """

    op: str
    operands: tuple
    static: dict
    previous_operand: str | None

    @property
    def references(self):
        """Node names the entry refers to, in operand order (the previous node excluded)."""
        return tuple(name for operand in self.operands for name in operand.references)

    def operand_values(self, lookup, previous=None):
        """{operand name: value} with node names replaced by `lookup(name)`.

        `previous` is the previous node's value (used for PREVIOUS). Constants
        and keys stay spec values; `apply_op` converts keys.
        """
        values = {}
        for operand in self.operands:
            value = operand.value
            if value is PREVIOUS:
                value = previous
            elif operand.kind == "tensors":
                value = [lookup(name) for name in value]
            elif operand.references:
                value = lookup(value)
            values[operand.name] = value
        return values


class OpArgumentError(ValueError):
    """An op entry that `check_op_arguments` refuses; `problems` holds them all."""

    def __init__(self, name, problems):
        super().__init__("; ".join(problem.message for problem in problems))
        self.name = name
        self.problems = problems


def bind_operands(name, arguments, previous_available):
    """Splits an op entry into operands and static arguments.

    The previous node (when `previous_available`) fills the first required
    `tensor` or `indices` operand that the entry does not give; that operand's
    value is `PREVIOUS`. Operands the entry leaves out that are optional get
    their default (None).

    Raises:
        OpArgumentError: when `check_op_arguments` reports problems.
    """
    arguments = {} if arguments is None else arguments
    problems = check_op_arguments(name, arguments, previous_available=previous_available)
    if problems:
        raise OpArgumentError(name, problems)
    spec = op_spec(name)
    operands, previous_operand = [], None
    for operand in spec.operands:
        value = arguments.get(operand.name)
        if value is not None:
            operands.append(BoundOperand(operand.name, operand.kind, value, True))
        elif operand.fillable and previous_available and previous_operand is None:
            previous_operand = operand.name
            operands.append(BoundOperand(operand.name, operand.kind, PREVIOUS, False))
        else:
            operands.append(BoundOperand(operand.name, operand.kind, operand.default, False))
    static = {key: value for key, value in arguments.items() if key in spec.arguments}
    return OpBinding(spec.name, tuple(operands), static, previous_operand)


# --- to_spec: model config -> spec (no Keras) -----------------------------------------


class UnsupportedOperation(ValueError):
    """An operation node a spec cannot write; the message names it."""


class TensorRef(NamedTuple):
    """A tensor in a model config: output `tensor_index` of node `node_index` of `layer`."""

    layer: str
    node_index: int
    tensor_index: int


class ArangeConstant(NamedTuple):
    """An inline constant that an `arange` node gives back exactly."""

    start: int
    stop: int
    step: int
    dtype: str | None  # None: the dtype arange infers (int32 for integers)

    def arguments(self):
        """The spec arguments of the arange node."""
        arguments = {"start": self.start, "stop": self.stop}
        if self.step != 1:
            arguments["step"] = self.step
        if self.dtype is not None:
            arguments["dtype"] = self.dtype
        return arguments


def spec_name_of_class(module, class_name):
    """The canonical op name of an Operation class, or None."""
    return load_table().by_class.get((module, class_name))


def op_from_config(entry):
    """One entry of `model.get_config()["layers"]` -> (op name, static arguments).

    The static arguments leave out those equal to the function's default
    (`{"axis": 1}` for `Max(axis=1, keepdims=False, initial=None)`); tuples
    become lists.

    Raises:
        UnsupportedOperation: for an operation not in the table, naming it.
    """
    name = spec_name_of_class(entry.get("module"), entry.get("class_name"))
    label = f"'{entry.get('name')}' ({entry.get('module')}.{entry.get('class_name')})"
    if name is None:
        raise UnsupportedOperation(
            f"{label} is a keras.ops operation that specs have no entry for; "
            f"spec operations: {', '.join(op_names(include_aliases=False))}"
        )
    spec = op_spec(name)
    static = {}
    for key, value in (entry.get("config") or {}).items():
        if key == "name":
            continue
        if key not in spec.arguments:
            raise UnsupportedOperation(
                f"{label} has argument '{key}', which the {name} entry of the operations "
                "table lacks (a newer Keras?)"
            )
        value = _plain(value)
        argument = spec.arguments[key]
        if not argument.required and _same(value, argument.default):
            continue
        problem = _argument_problem(name, argument, value)
        if problem:
            raise UnsupportedOperation(f"{label}: {problem.message}")
        static[key] = value
    return name, static


def operands_from_config(entry):
    """The operands of a config entry: {operand name: value}, in call order.

    Values: `TensorRef` for a tensor (a list of them for a `tensors` operand),
    the spec key for `get_item`, a plain constant, or `ArangeConstant` for an
    inline constant that is an arange. Optional operands equal to their
    default are left out.

    Raises:
        UnsupportedOperation: not in the table, called more than once, or an
            operand a spec cannot write (an inline array that is no arange).
    """
    name, _ = op_from_config(entry)
    spec = op_spec(name)
    label = f"'{entry.get('name')}' ({name})"
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) != 1:
        raise UnsupportedOperation(
            f"{label} is called {len(nodes)} times in the model; a spec operation is called once"
        )
    args, kwargs = list(nodes[0].get("args") or ()), dict(nodes[0].get("kwargs") or {})
    if len(args) > len(spec.operands):
        raise UnsupportedOperation(f"{label} is called with {len(args)} operands")
    values = dict(zip(spec.operand_names, args))
    for key, value in kwargs.items():
        if spec.operand(key) is None or key in values:
            raise UnsupportedOperation(f"{label} is called with keyword argument '{key}'")
        values[key] = value
    operands = {}
    for operand in spec.operands:
        if operand.name not in values:
            if operand.required:
                raise UnsupportedOperation(f"{label} is called without '{operand.name}'")
            continue
        value = _operand_from_config(label, operand, values[operand.name])
        if not operand.required and _same(value, operand.default):
            continue
        operands[operand.name] = value
    return operands


def _operand_from_config(label, operand, value):
    if operand.kind == "key":
        try:
            return key_to_spec(value)
        except UnsupportedOperation as error:
            raise UnsupportedOperation(f"{label}: {error}") from None
    if operand.kind == "tensors":
        refs = [_tensor_ref(item) for item in value] if isinstance(value, list) else [None]
        if None in refs:
            raise UnsupportedOperation(
                f"{label}: operand '{operand.name}' holds something other than tensors"
            )
        return refs
    ref = _tensor_ref(value)
    if ref is not None:
        if not operand.takes_reference:
            raise UnsupportedOperation(f"{label}: operand '{operand.name}' is a tensor")
        return ref
    if isinstance(value, dict) and value.get("class_name") in ("__tensor__", "__numpy__"):
        arange = arange_constant(value)
        if arange is None or operand.kind != "tensor":
            raise UnsupportedOperation(
                f"{label}: operand '{operand.name}' is an inline array constant "
                f"{_short(value.get('config', {}).get('value'))}, which a spec can write only "
                "when it is an arange"
            )
        return arange
    value = _plain(value)
    if value is None or (not isinstance(value, str) and _operand_matches(operand.kind, value)):
        return value
    raise UnsupportedOperation(
        f"{label}: operand '{operand.name}' is {_describe(value)}, not "
        f"{_OPERAND_KIND_TEXT[operand.kind]}"
    )


def _tensor_ref(value):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = value["config"]["keras_history"]
        return TensorRef(history[0], history[1], history[2])
    return None


def arange_constant(value):
    """An inline `__tensor__`/`__numpy__` constant -> ArangeConstant, or None."""
    config = value.get("config") or {}
    items, dtype = config.get("value"), config.get("dtype")
    if not isinstance(items, list) or not items or not isinstance(dtype, str):
        return None
    if not all(_is_number(item) and math.isfinite(item) and item == int(item) for item in items):
        return None
    numbers = [int(item) for item in items]
    step = numbers[1] - numbers[0] if len(numbers) > 1 else 1
    if step == 0 or any(b - a != step for a, b in zip(numbers, numbers[1:])):
        return None
    integers = all(_is_int(item) for item in items)
    inferred = dtype == "int32" and integers
    return ArangeConstant(numbers[0], numbers[-1] + step, step, None if inferred else dtype)


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _same(value, default):
    """Equal and of one kind: `1 == 1.0` counts, `True == 1` does not."""
    if _is_number(value) and _is_number(default):
        return value == default
    return type(value) is type(default) and value == default


def _short(value, limit=60):
    text = json.dumps(value, default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the builder (imports Keras) ------------------------------------------------------

# Functions that pass `dtype` through backend.standardize_dtype even when None.
_STANDARDIZE_DTYPE_ALWAYS = frozenset({"cast", "one_hot"})


def operation_class(name):
    """The Operation class of an op (imports Keras)."""
    spec = _known(name)
    return getattr(importlib.import_module(spec.module), spec.class_name)


def apply_op(name, node_name=None, operands=None, static=None):
    """Creates op `name` and calls it, as the keras.ops function would.

    Args:
        name: op name or alias.
        node_name: the Operation's name; None lets Keras name it (`add_1`).
        operands: {operand name: value} (or a sequence in call order):
            KerasTensors, constants, or for get_item the spec key. Missing
            optional operands get their defaults.
        static: {argument name: value}; missing ones get the defaults of
            the keras.ops function, so the config equals the function's.

    Returns:
        The output KerasTensor; a concrete tensor when every operand is a
        constant (no node is recorded then).
    """
    from keras import backend

    spec = _known(name)
    static = dict(static or {})
    unknown = set(static) - set(spec.arguments)
    if unknown:
        raise TypeError(f"{spec.name} has no argument(s) {sorted(unknown)}")
    values = {}
    for argument in spec.arguments.values():
        if argument.name in static:
            values[argument.name] = static[argument.name]
        elif argument.required:
            raise TypeError(f"{spec.name} needs argument '{argument.name}'")
        else:
            values[argument.name] = argument.default
    if "dtype" in values and (
        values["dtype"] is not None or spec.name in _STANDARDIZE_DTYPE_ALWAYS
    ):
        values["dtype"] = backend.standardize_dtype(values["dtype"])
    if spec.name == "reshape":
        newshape = values["newshape"]
        values["newshape"] = tuple(newshape) if isinstance(newshape, (list, tuple)) else (newshape,)

    if operands is None:
        operands = {}
    if not isinstance(operands, dict):
        if len(operands) > len(spec.operands):
            raise TypeError(f"{spec.name} takes {len(spec.operands)} operands")
        operands = dict(zip(spec.operand_names, operands))
    unknown = set(operands) - set(spec.operand_names)
    if unknown:
        raise TypeError(f"{spec.name} has no operand(s) {sorted(unknown)}")
    call_args = []
    for operand in spec.operands:
        value = operands.get(operand.name, operand.default)
        if value is None and operand.required:
            raise TypeError(f"{spec.name} needs operand '{operand.name}'")
        if operand.kind == "key":
            value = key_from_spec(value)
        elif operand.kind == "tensors":
            value = list(value)
        call_args.append(value)
    operation = operation_class(spec.name)(**values, name=node_name)
    return operation(*call_args)


def _known(name):
    spec = op_spec(name)
    if spec is None:
        raise KeyError(f"unknown operation '{name}'{did_you_mean(str(name), op_names())}")
    return spec


# --- generation (imports Keras) -------------------------------------------------------


def generate():
    """Introspects keras.ops; returns the table's JSON data."""
    import keras
    from keras.src.backend.common import dtypes as keras_dtypes
    from keras.src.ops.operation import Operation

    ops = {}
    aliases = {}
    for alias, canonical in ALIASES.items():
        aliases.setdefault(canonical, []).append(alias)
    for group, names in GROUPS.items():
        for name in names:
            ops[name] = _op_entry(keras, Operation, name, group, sorted(aliases.get(name, ())))
    for alias, canonical in ALIASES.items():
        if getattr(keras.ops, alias) is getattr(keras.ops, canonical):
            continue
        _, cls = _operation_of(keras, Operation, alias)
        entry = ops[canonical]
        if (cls.__module__, cls.__name__) != (entry["module"], entry["class_name"]):
            raise RuntimeError(f"keras.ops.{alias} is not the operation of {canonical}")
    return {
        "comment": "Generated by `python -m kerasblocks.spec.ops`; do not edit.",
        "keras_version": keras.__version__,
        "dtypes": sorted(set(keras_dtypes.ALLOWED_DTYPES) - _EXCLUDED_DTYPES),
        "ops": ops,
    }


def table_text(data):
    return json.dumps(data, indent=1) + "\n"


def _operation_of(keras, operation_base, name):
    function = getattr(keras.ops, name)
    module = importlib.import_module(function.__module__)
    class_name = _CLASS_OVERRIDES.get(name) or "".join(
        part.capitalize() for part in name.split("_")
    )
    cls = next(
        (
            getattr(module, candidate)
            for candidate in dir(module)
            if candidate.lower() == class_name.lower()
        ),
        None,
    )
    if not (inspect.isclass(cls) and issubclass(cls, operation_base)):
        raise RuntimeError(f"no Operation class {class_name} next to keras.ops.{name}")
    if name not in _CLASS_OVERRIDES and f"{cls.__name__}(" not in inspect.getsource(function):
        raise RuntimeError(f"keras.ops.{name} does not create {cls.__name__}; add an override")
    return function, cls


def _op_entry(keras, operation_base, name, group, aliases):
    function, cls = _operation_of(keras, operation_base, name)
    function_parameters = inspect.signature(function).parameters
    init = [p for p in list(inspect.signature(cls.__init__).parameters)[1:] if p != "name"]
    call = list(inspect.signature(cls.call).parameters)[1:]
    if set(function_parameters) != set(init) | set(call) or set(init) & set(call):
        raise RuntimeError(
            f"keras.ops.{name}{inspect.signature(function)} is not {cls.__name__}'s "
            f"constructor {init} plus call {call}"
        )
    operands = []
    for operand_name in call:
        item = {"name": operand_name, "kind": OPERAND_KINDS.get((name, operand_name), "tensor")}
        _add_default(item, function_parameters[operand_name])
        operands.append(item)
    arguments = []
    for argument_name in function_parameters:
        if argument_name not in init:
            continue
        kinds = ARGUMENT_KIND_OVERRIDES.get((name, argument_name)) or ARGUMENT_KINDS.get(
            argument_name
        )
        if kinds is None:
            raise RuntimeError(f"no kind for argument '{argument_name}' of {name}")
        item = {"name": argument_name, "kinds": list(kinds)}
        _add_default(item, function_parameters[argument_name])
        if "default" in item and not any(
            _value_matches(kind, item["default"], ("float32",)) for kind in kinds
        ):
            raise RuntimeError(f"the default of {name}.{argument_name} is not of kinds {kinds}")
        arguments.append(item)
    entry = {
        "function": f"keras.ops.{name}",
        "module": cls.__module__,
        "class_name": cls.__name__,
        "group": group,
        "operands": operands,
        "arguments": arguments,
    }
    if aliases:
        entry["aliases"] = aliases
    entry["doc"] = (inspect.getdoc(function) or "").strip().splitlines()[0]
    return entry


def _add_default(item, parameter):
    if parameter.default is parameter.empty:
        return
    default = parameter.default
    if isinstance(default, tuple):
        default = list(default)
    if not (default is None or isinstance(default, (bool, int, float, str, list))):
        raise RuntimeError(f"default {default!r} of {parameter.name} is not JSON")
    item["default"] = default


def main(argv=None):
    """Writes the table next to this module, or checks it with `--check`."""
    argv = sys.argv[1:] if argv is None else argv
    path = Path(__file__).with_name(TABLE_FILE)
    text = table_text(generate())
    from kerasblocks import _files

    return _files.write_or_check_table(path, text, argv, "kerasblocks.spec.ops")

if __name__ == "__main__":
    sys.exit(main())
