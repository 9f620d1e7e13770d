"""The layer signature table: which arguments each layer type accepts.

Validation must not import Keras (seconds of TensorFlow start-up), yet it must
tell `Conv2D: {filtrs: 8}` from `Conv2D: {filters: 8}`. So the constructor
signatures of every public layer class in `keras.layers` and of the kerasblocks
layers are generated once into `layer_signatures.json` (package data), and read
from there:

    python -m kerasblocks.spec.signatures          # rewrite the table
    python -m kerasblocks.spec.signatures --check  # exit 1 if it is stale

A test checks that the table equals what the installed Keras produces.

Layer types a spec must not use are in the table too, with the reason: layers
that carry code (`Lambda`, `TFSMLayer`, and anything taking a function, a module
or a file to execute) and abstract bases. Wrappers (`Bidirectional`,
`TimeDistributed`, `RNN`) are usable: a spec gives their layer as a nested
layer entry. A few layer classes of Keras' applications that Keras does not
export (`APPLICATION_LAYERS`: ConvNeXt's `LayerScale`, ...) are in the table
too, with their module.

Each layer type's `call` signature is recorded too (refused types included), so
validation can check call arguments given by name (`inputs: {query: q, value:
v}`) and call options (`call: {training: false}`) without Keras. Most layers
share a handful of call signatures, so the file stores each distinct one once,
under a key that reads like the Python signature (`"inputs, training=False"`),
and the layers name theirs by that key.
"""

import dataclasses
import functools
import importlib
import importlib.resources
import inspect
import json
import math
import sys
import types
from pathlib import Path

TABLE_FILE = "layer_signatures.json"

# Constructor parameters that carry code: a function, a module, a saved graph.
CODE_PARAMETERS = frozenset({"function", "call_fn", "init_fn", "module", "filepath"})
# Layer classes that Keras' applications define for themselves and use in
# their graphs (ConvNeXt, Inception-ResNet v2); Keras does not export or
# register them. The table names them with their modules, so that specs (and
# `to_spec` of those applications) can use them by their class names.
APPLICATION_LAYERS = {
    "LayerScale": "keras.src.applications.convnext",
    "StochasticDepth": "keras.src.applications.convnext",
    "CustomScaleLayer": "keras.src.applications.inception_resnet_v2",
}
ABSTRACT_LAYERS = {
    "Layer": "Layer is the abstract base class of all layers",
    "Wrapper": "Wrapper is an abstract base class",
    "InputLayer": "InputLayer is made from the spec's `inputs:` section",
}
# Names of public helper functions next to the objects in keras.activations etc.
_HELPER_FUNCTIONS = frozenset({"get", "serialize", "deserialize"})


@dataclasses.dataclass(frozen=True)
class Argument:
    """One constructor argument: required, or optional with a default."""

    name: str
    required: bool = False
    default: object = None  # only meaningful when `has_default`
    has_default: bool = False


class _OpaqueDefault:
    """The marker for a call parameter's default that is not JSON data."""

    def __repr__(self):
        return "OPAQUE_DEFAULT"

    def __reduce__(self):  # copies and pickles stay the one marker
        return "OPAQUE_DEFAULT"


OPAQUE_DEFAULT = _OpaqueDefault()

# CallArgument.kind: the `inspect.Parameter` kinds a named parameter can have.
POSITIONAL_ONLY = "positional_only"
POSITIONAL_OR_KEYWORD = "positional_or_keyword"
KEYWORD_ONLY = "keyword_only"
_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD: POSITIONAL_OR_KEYWORD,
    inspect.Parameter.KEYWORD_ONLY: KEYWORD_ONLY,
}


@dataclasses.dataclass(frozen=True)
class CallArgument:
    """One named parameter of a layer's `call` method.

    required: no default (the call fails without it).
    has_default / default: the default; `OPAQUE_DEFAULT` when it is not JSON
        data (none of Keras 3.15's layers has such a call default).
    kind: POSITIONAL_OR_KEYWORD, POSITIONAL_ONLY or KEYWORD_ONLY (the
        `inspect.Parameter` kind, lower case). `*args` and `**kwargs` are not
        arguments: see `LayerSignature.call_accepts_any_positional/keyword`.
    """

    name: str
    required: bool = False
    has_default: bool = False
    default: object = None  # only meaningful when `has_default`
    kind: str = POSITIONAL_OR_KEYWORD


_EMPTY_MAPPING = types.MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class LayerSignature:
    """What a spec may pass to one layer type.

    source: "keras", "kerasblocks", "keras.applications" (a layer class of
        Keras' applications, such as ConvNeXt's LayerScale) or
        "keras.applications.model" (an application constructor such as
        ResNet50: a node that is a whole nested model).
    arguments: {name: Argument}, base `Layer` arguments (`dtype`, `trainable`,
        ...) included when the class forwards `**kwargs` to `Layer`.
    refused: why specs may not use this type, or None.
    call_arguments: {name: CallArgument} of the class's `call` method, in
        parameter order, `self` left out (read-only; layers with the same call
        signature share one mapping). Refused types have theirs too.
    call_accepts_any_positional: `call` takes `*args`.
    call_accepts_any_keyword: `call` takes `**kwargs`.
    """

    type_name: str
    source: str
    arguments: dict
    refused: str | None = None
    call_arguments: types.MappingProxyType = dataclasses.field(
        default_factory=lambda: _EMPTY_MAPPING
    )
    call_accepts_any_positional: bool = False
    call_accepts_any_keyword: bool = False
    module: str | None = None  # source "keras.applications": the module defining it

    def required_arguments(self):
        return [argument.name for argument in self.arguments.values() if argument.required]

    def required_call_arguments(self):
        return [argument.name for argument in self.call_arguments.values() if argument.required]

    def accepts_call_argument(self, name):
        """Whether `call` takes an argument `name` by keyword."""
        argument = self.call_arguments.get(name)
        if argument is None:
            return self.call_accepts_any_keyword
        return argument.kind != POSITIONAL_ONLY

    def positional_count(self, given_names):
        """How many of the given call arguments go by position.

        The rule: the layer's leading call parameters that have no default
        are passed by position, the rest by keyword
        (`MultiHeadAttention.call(query, value, key=None, ...)`: query and
        value; `LSTM.call(sequences, initial_state=None, ...)`: sequences).
        Counting walks the signature and stops at the first parameter that
        has a default, is keyword-only, or is not among `given_names`: a
        mapping that skips a required parameter counts up to the gap
        (`{value: v}` for MultiHeadAttention gives 0, `{query: q}` gives 1).

        The positional arguments are then `list(self.call_arguments)[:n]`, in
        signature order, whatever the order of `given_names` (one name, or any
        iterable of names; a mapping gives its keys).
        """
        given = {given_names} if isinstance(given_names, str) else set(given_names)
        count = 0
        for argument in self.call_arguments.values():
            if not argument.required or argument.kind == KEYWORD_ONLY or argument.name not in given:
                break
            count += 1
        return count


@dataclasses.dataclass(frozen=True)
class SignatureTable:
    """The whole table: layers plus the names Keras resolves from strings."""

    keras_version: str
    layers: dict  # type name -> LayerSignature
    activations: frozenset
    initializers: frozenset
    regularizers: frozenset
    constraints: frozenset


@functools.cache
def load_table():
    """Reads the shipped table (cached). Does not import Keras."""
    text = importlib.resources.files("kerasblocks.spec").joinpath(TABLE_FILE).read_text("utf-8")
    return table_from_json(json.loads(text))


def table_from_json(data):
    argument = _argument_reader()
    base = [argument(entry) for entry in data["base_layer_arguments"]]
    calls = {key: _call_signature(entry) for key, entry in data["call_signatures"].items()}
    layers = {}
    for type_name, entry in data["layers"].items():
        arguments = {item["name"]: argument(item) for item in entry.get("arguments", ())}
        if entry.get("accepts_base_layer_arguments"):
            for base_argument in base:
                arguments.setdefault(base_argument.name, base_argument)
        layers[type_name] = LayerSignature(
            type_name,
            entry["source"],
            arguments,
            entry.get("refused"),
            *calls[entry["call"]],
            module=entry.get("module"),
        )
    return SignatureTable(
        data["keras_version"],
        layers,
        *(
            frozenset(data[kind])
            for kind in ("activations", "initializers", "regularizers", "constraints")
        ),
    )


def _argument_reader():
    """Returns a function: JSON argument entry -> `Argument`.

    Equal entries give one shared (frozen) object: most layers repeat
    `use_bias`, `kernel_initializer`, ..., and making fewer objects keeps
    `load_table` fast. Entries with list defaults are not shared.
    """
    made = {}

    def argument(entry):
        default = entry.get("default")
        if isinstance(default, list):
            return _argument(entry)
        # type(default) too: True == 1 == 1.0 as keys, but not as defaults.
        required, has_default = entry.get("required", False), "default" in entry
        key = (entry["name"], required, has_default, type(default), default)
        found = made.get(key)
        if found is None:
            found = made[key] = _argument(entry)
        return found

    return argument


def _argument(entry):
    return Argument(
        entry["name"],
        required=entry.get("required", False),
        default=entry.get("default"),
        has_default="default" in entry,
    )


def _call_signature(entry):
    """(call_arguments, accepts any positional, accepts any keyword) of a JSON entry."""
    arguments = {}
    for item in entry["arguments"]:
        required = item.get("required", False)
        if item.get("opaque_default"):
            default = OPAQUE_DEFAULT
        else:
            default = item.get("default")
        arguments[item["name"]] = CallArgument(
            item["name"],
            required=required,
            has_default=not required,
            default=default,
            kind=item.get("kind", POSITIONAL_OR_KEYWORD),
        )
    return (
        types.MappingProxyType(arguments),
        entry.get("args", False),
        entry.get("kwargs", False),
    )


# --- generation (imports Keras) -------------------------------------------------


def generate():
    """Introspects the installed Keras and kerasblocks layers; returns JSON data."""
    import keras

    from kerasblocks.layers import ALL_LAYERS

    layers = {}
    calls = {}
    for name in _public_names(keras.layers):
        cls = getattr(keras.layers, name)
        if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer):
            layers[name] = _layer_entry(name, cls, "keras", calls)
    for cls in ALL_LAYERS:
        layers[cls.__name__] = _layer_entry(cls.__name__, cls, "kerasblocks", calls)
    for name in _public_names(keras.applications):
        constructor = getattr(keras.applications, name)
        if name[:1].isupper() and inspect.isfunction(constructor):
            layers[name] = _application_entry(name, constructor, calls)
    for name, module_name in APPLICATION_LAYERS.items():
        try:
            cls = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):  # another Keras version: not there
            continue
        layers[name] = _layer_entry(name, cls, "keras.applications", calls)
        layers[name]["module"] = module_name
    return {
        "comment": "Generated by `python -m kerasblocks.spec.signatures`; do not edit.",
        "keras_version": keras.__version__,
        "base_layer_arguments": _without_name(_arguments_of(keras.layers.Layer)[0]),
        "call_signatures": dict(sorted(calls.items())),
        "layers": dict(sorted(layers.items())),
        "activations": _object_names(keras.activations, None),
        "initializers": _object_names(keras.initializers, keras.initializers.Initializer),
        "regularizers": _object_names(keras.regularizers, keras.regularizers.Regularizer),
        "constraints": _object_names(keras.constraints, keras.constraints.Constraint),
    }


def table_text(data):
    """The file's text: compact JSON, one line per layer and per call signature."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            items = [f" {_compact(name)}: {_compact(item)}" for name, item in value.items()]
            lines.append(f"{_compact(key)}: {{\n" + ",\n".join(items) + "\n}")
        else:
            lines.append(f"{_compact(key)}: {_compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _public_names(module):
    return sorted(name for name in dir(module) if not name.startswith("_"))


def _layer_entry(type_name, cls, source, calls):
    """The layer's JSON entry; adds its call signature to `calls` (key -> entry)."""
    arguments, accepts_kwargs = _arguments_of(cls)
    call_key, call_entry = _call_entry(cls)
    if calls.setdefault(call_key, call_entry) != call_entry:
        raise AssertionError(f"two call signatures have the key {call_key!r}")
    entry = {"source": source, "call": call_key}
    refused = _refusal(type_name, {argument["name"] for argument in arguments})
    if refused:
        entry["refused"] = refused
        return entry
    entry["arguments"] = _without_name(arguments)
    entry["accepts_base_layer_arguments"] = accepts_kwargs
    return entry


def _application_entry(name, constructor, calls):
    """A `keras.applications` constructor as a node type: a nested model.

    `input_tensor` is left out (the node's input is the tensor it is called
    with) and `weights` defaults to null: nothing is ever downloaded.
    """
    from keras.src.models.functional import Functional  # what constructors return

    call_key, call_entry = _call_entry(Functional)
    calls.setdefault(call_key, call_entry)
    arguments = []
    for parameter in inspect.signature(constructor).parameters.values():
        if parameter.name in ("input_tensor", "name"):
            continue
        entry = _argument_entry(parameter)
        if parameter.name == "weights":
            entry["default"] = None
        arguments.append(entry)
    return {"source": "keras.applications.model", "call": call_key, "arguments": arguments}


def _refusal(type_name, parameter_names):
    if type_name in ABSTRACT_LAYERS:
        return ABSTRACT_LAYERS[type_name] + " and cannot be used in specs"
    if parameter_names & CODE_PARAMETERS:
        return (
            f"{type_name} layers can carry code and are refused in specs; "
            "write a registered custom layer instead"
        )
    return None


def _without_name(arguments):
    """Drops `name`: specs give it with the layer's `name` key, never as a default."""
    return [argument for argument in arguments if argument["name"] != "name"]


def _arguments_of(cls):
    """Returns ([argument entries], whether **kwargs is accepted) of cls.__init__."""
    arguments = []
    accepts_kwargs = False
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind is parameter.VAR_KEYWORD:
            accepts_kwargs = True
        elif parameter.kind is not parameter.VAR_POSITIONAL:
            arguments.append(_argument_entry(parameter))
    return arguments, accepts_kwargs


def _argument_entry(parameter):
    if parameter.default is parameter.empty:
        return {"name": parameter.name, "required": True}
    entry = {"name": parameter.name}
    default = _json_value(parameter.default)
    if default is not _NOT_JSON:
        entry["default"] = default
    return entry


def _call_entry(cls):
    """(key, JSON entry) of cls.call's signature; the key reads like the signature."""
    arguments, words = [], []
    entry = {}
    keyword_only_marked = False
    parameters = list(inspect.signature(cls.call).parameters.values())
    if parameters and parameters[0].name == "self":
        parameters = parameters[1:]
    for index, parameter in enumerate(parameters):
        if parameter.kind is parameter.VAR_POSITIONAL:
            entry["args"] = True
            words.append("*" + parameter.name)
            keyword_only_marked = True
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            entry["kwargs"] = True
            words.append("**" + parameter.name)
            continue
        if parameter.kind is parameter.KEYWORD_ONLY and not keyword_only_marked:
            words.append("*")
            keyword_only_marked = True
        item = {"name": parameter.name}
        kind = _KINDS[parameter.kind]
        if kind != POSITIONAL_OR_KEYWORD:
            item["kind"] = kind
        if parameter.default is parameter.empty:
            item["required"] = True
            words.append(parameter.name)
        else:
            default = _json_value(parameter.default)
            if default is _NOT_JSON:
                item["opaque_default"] = True
                words.append(parameter.name + "=...")
            else:
                item["default"] = default
                words.append(f"{parameter.name}={default!r}")
        arguments.append(item)
        following = parameters[index + 1].kind if index + 1 < len(parameters) else None
        if parameter.kind is parameter.POSITIONAL_ONLY and following is not parameter.kind:
            words.append("/")
    return ", ".join(words), {"arguments": arguments, **entry}


_NOT_JSON = object()


def _json_value(value):
    """`value` as JSON data (tuples become lists), or _NOT_JSON."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NOT_JSON
    if isinstance(value, (list, tuple)):
        items = [_json_value(item) for item in value]
        return _NOT_JSON if _NOT_JSON in items else items
    return _NOT_JSON


def _object_names(module, base_class):
    """Public names in keras.activations / initializers / ... usable as strings."""
    names = []
    for name in _public_names(module):
        obj = getattr(module, name)
        if name in _HELPER_FUNCTIONS or obj is base_class:
            continue
        if inspect.isclass(obj) or callable(obj):
            names.append(name)
    return names


def main(argv=None):
    """Writes the table next to this module, or checks it with `--check`."""
    argv = sys.argv[1:] if argv is None else argv
    path = Path(__file__).with_name(TABLE_FILE)
    text = table_text(generate())
    from kerasblocks import _files

    return _files.write_or_check_table(path, text, argv, "kerasblocks.spec.signatures")

if __name__ == "__main__":
    sys.exit(main())
