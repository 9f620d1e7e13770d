"""Stage 2 of `to_spec`: a layer's config -> the fewest, shortest exact arguments.

A layer is rebuilt as `cls(name=..., dtype=..., **arguments)` (with the
values normalised as the spec expander does) and its `get_config()` must
equal the original's; that check decides every choice:

- an argument is left out when the constructor gives the same config value
  without it (the Keras default, or a value derived from other arguments,
  such as a pooling layer's `strides`);
- a value is written short where that is exact: `kernel_size: 3` for
  `(3, 3)`, `kernel_initializer: he_normal`, `kernel_regularizer: {L2: {l2:
  0.0005}}`;
- a layer given as an argument (Bidirectional's `layer` and
  `backward_layer`, TimeDistributed's `layer`, an RNN's `cell`,
  StackedRNNCells' `cells`) becomes a nested entry `{LSTM: {units: 32,
  name: lstm}}` with its own non-default arguments and its name (Keras
  names nested layers from a session counter otherwise); the wrapper is
  rebuilt around it to check.
"""

import inspect
import json
from typing import NamedTuple

from kerasblocks.errors import UsageError
from kerasblocks.interop.keras_graph import is_layer_argument, layer_type_of_config
from kerasblocks.spec import registry
from kerasblocks.spec.arguments import normalise
from kerasblocks.spec.graph import NestedLayer
from kerasblocks.spec.naming import to_snake_case
from kerasblocks.spec.signatures import load_table

_BASE_ARGUMENTS_LAST = ("trainable", "dtype")
DEFAULT_DTYPE_POLICY = "float32"
_OBJECT_MODULES = ("initializer", "regularizer", "constraint", "activation")
# Keys of a serialised layer that describe its state, not its constructor.
_STATE_KEYS = ("build_config", "compile_config")
# Prefixes a wrapper puts on the layer it is given (Bidirectional: forward_lstm).
_WRAPPER_NAME_PREFIXES = ("forward_", "backward_")
_MISSING = object()


class Signature(NamedTuple):
    """What a layer's constructor takes."""

    defaults: dict  # {argument: default value}, for plain defaults
    accepted: frozenset | None  # argument names; None: not known (a plugin)
    order: tuple  # argument names in the constructor's order
    required: frozenset  # arguments without a default


class UnwritableLayer(UsageError):
    """A layer whose arguments a spec cannot hold; the message says why (no layer name)."""


class _Subject(NamedTuple):
    """The layer whose arguments are being written."""

    name: str
    cls: type
    policy: str  # the dtype policy's name
    type_name: str
    # Config keys not compared: a nested layer's wrapper sets them.
    ignored: frozenset = frozenset()
    build_config: dict | None = None  # the original's, to build a rebuilt layer the same


class ArgumentWriter:
    """Finds the arguments to write for a layer: as few and as short as exact.

    A layer is rebuilt as `cls(name=..., dtype=..., **arguments)` (with the
    values normalised as the spec expander does) and its `get_config()` must
    equal the original's; that check decides every choice below.
    """

    def __init__(self):
        import keras

        self._keras = keras
        self._aliases = {}
        self._resolved_defaults = {}
        self._signatures = {}
        self._base_defaults = _parameter_defaults(keras.layers.Layer.__init__)

    def arguments(self, layer, type_name, config, build_config=None):
        """Returns {argument: spec value} for `layer`, in the order to write them.

        Args:
            layer: the Keras layer.
            type_name: its spec type name.
            config: its serialised config (`serialize_keras_object(layer)["config"]`,
                as the model's config holds it).
            build_config: its build config, as the model's config holds it;
                for arguments whose config value the layer's build sets.

        Returns:
            {argument: value}: plain spec values, and `NestedLayer`s for
            layer-valued arguments (lists of them for `cells`).

        Raises:
            UnwritableLayer: the layer's config does not give the layer back
                through its constructor, or holds values YAML cannot.
        """
        subject = _Subject(
            layer.name, type(layer), layer.dtype_policy.name, type_name, build_config=build_config
        )
        return self._arguments(subject, config)

    def _arguments(self, subject, config):
        try:
            target = _plain(config)
        except _NotPlain as error:
            raise UnwritableLayer(
                f"its config cannot be written ({error}); a spec can only hold layers whose "
                "get_config() returns their constructor arguments as plain values"
            ) from error
        target.pop("name", None)
        for key in subject.ignored:
            target.pop(key, None)
        full = {key: _by_class_name(value) for key, value in target.items() if key != "dtype"}
        layer_keys = [key for key, value in target.items() if is_layer_argument(key, value)]
        for key in layer_keys:
            target[key] = _without_state(target[key])
            full[key] = self._as_written(subject, key, target[key])
        for key in layer_keys:
            full[key] = self._nested_argument(subject, key, full, target)
        signature = self.signature(subject.type_name, subject.cls)

        kept = self._without_defaults(subject, target, full, signature)
        kept = self._shortest_forms(subject, target, kept)

        # The constructor's order (units, activation, ...), then trainable and dtype.
        rank = {name: index for index, name in enumerate(signature.order)}
        ordered = {
            key: kept[key]
            for key in sorted(kept, key=lambda key: rank.get(key, len(rank)))
            if key not in _BASE_ARGUMENTS_LAST
        }
        if kept.get("trainable", True) is not True:
            ordered["trainable"] = kept["trainable"]
        if subject.policy != DEFAULT_DTYPE_POLICY:
            ordered["dtype"] = subject.policy
        raw = [key for key, value in ordered.items() if _holds_keras_marker(value)]
        if raw:
            raise UnwritableLayer(
                f"its config holds {', '.join(raw)} as serialised code or raw data (a Keras "
                "`__...__` marker), which a spec cannot hold"
            )
        accepted = signature.accepted
        unknown = [key for key in ordered if accepted is not None and key not in accepted]
        if unknown:
            raise UnwritableLayer(
                f"its config holds {', '.join(unknown)}, which the spec's {subject.type_name} "
                "does not take as arguments; a spec can only hold layers whose get_config() "
                "mirrors __init__"
            )
        return ordered

    # Layers given as arguments.

    def _nested_argument(self, subject, key, full, target):
        """The `NestedLayer` (a list for `cells`) to write for a layer-valued argument.

        Its own arguments are found as for any layer, comparing only what its
        constructor sets (a wrapper may set more: Bidirectional forces an
        RNN's `zero_output_for_mask`); then the wrapper is rebuilt around it
        with every other argument as it is, trying the nested name without
        the prefix a wrapper adds (`forward_lstm` -> `lstm`, as the user
        wrote it) and as recorded, and failing that with all the nested
        layer's arguments.
        """
        value = target[key]
        if isinstance(value, list):
            candidates = [[self._short_nested(subject, key, item) for item in value], full[key]]
        else:
            name = value["config"].get("name")
            names = [
                name[len(prefix) :]
                for prefix in _WRAPPER_NAME_PREFIXES
                if isinstance(name, str) and name.startswith(prefix) and len(name) > len(prefix)
            ] + [name]
            short = self._short_nested(subject, key, value)
            candidates = [
                _named(NestedLayer(nested.type, {**nested.arguments, "name": candidate}))
                for nested in (short, full[key])
                for candidate in names
            ]
        for candidate in candidates:
            differing = self._differences(subject, {**full, key: candidate}, target)
            if differing is not None and key not in differing:
                return candidate
        return full[key]

    def _short_nested(self, subject, key, value):
        """A nested layer with its own non-default arguments, and its name."""
        type_name, cls = self._nested_type(subject, key, value)
        config = value["config"]
        signature = self.signature(type_name, cls)
        ignored = (
            frozenset(item for item in config if item not in signature.accepted and item != "name")
            if signature.accepted is not None
            else frozenset()
        )
        nested = _Subject(config.get("name"), cls, _policy_name(config.get("dtype")), type_name,
                          ignored)
        try:
            arguments = self._arguments(nested, config)
        except UnwritableLayer as error:
            raise UnwritableLayer(f"its {key} ({type_name} '{nested.name}'): {error}") from error
        return _named(NestedLayer(type_name, {**arguments, "name": nested.name}))

    def _as_written(self, subject, key, value):
        """A nested layer with every argument of its config, and its name."""
        if isinstance(value, list):
            return [self._as_written(subject, key, item) for item in value]
        type_name, _ = self._nested_type(subject, key, value)
        config = value["config"]
        arguments = {}
        for item, argument in config.items():
            if item in ("name", "dtype"):
                continue
            arguments[item] = (
                self._as_written(subject, item, argument)
                if is_layer_argument(item, argument)
                else _by_class_name(argument)
            )
        policy = _policy_name(config.get("dtype"))
        if policy != DEFAULT_DTYPE_POLICY:
            arguments["dtype"] = policy
        arguments["name"] = config.get("name")
        return NestedLayer(type_name, arguments)

    def _nested_type(self, subject, key, value):
        type_name, cls = layer_type_of_config(value)
        if type_name is None:
            raise UnwritableLayer(
                f"its {key} is a {value.get('class_name')}, a layer type that a spec cannot "
                "name: use a Keras layer, or register the class with "
                "@keras.saving.register_keras_serializable(package='my_package')"
            )
        return type_name, cls

    # The steps.

    def _without_defaults(self, subject, target, full, signature):
        """Drops the arguments the constructor would give anyway."""
        defaults, accepted = signature.defaults, signature.accepted
        dropped = {
            key
            for key, value in full.items()
            if (key in defaults and self._looks_default(key, value, defaults[key]))
            # Config entries that are no constructor argument (an RNN's
            # zero_output_for_mask): a spec cannot give them; try without.
            or (accepted is not None and key not in accepted)
        }
        kept = {key: value for key, value in full.items() if key not in dropped}
        for _ in range(len(full) + 1):
            differing = self._differences(subject, kept, target)
            if differing == set():
                break
            if differing is None or not differing & dropped:
                if dropped:  # dropping interacts with the rest: keep everything
                    dropped = set()
                    kept = dict(full)
                    continue
                self._raise_not_reconstructible(subject, differing)
            dropped -= differing
            kept = {key: value for key, value in full.items() if key not in dropped}
        # Values derived from other arguments (a pooling layer's strides): the
        # table default is None, the config holds the derived value. Or
        # derived when the layer is built (MultiHeadAttention's attention_axes,
        # LayerNormalization's axis -1 as [-1]): compared with the layer
        # rebuilt and built on the original's input shapes.
        for key in [key for key, value in kept.items() if value is not None]:
            if key not in defaults:
                continue
            derived = defaults[key] is None
            if not (derived or self._looks_default(key, kept[key], defaults[key])):
                continue
            trial = {other: value for other, value in kept.items() if other != key}
            if derived and self._differences(subject, trial, target) == set():
                kept = trial
            elif subject.build_config and self._differences(
                subject, trial, target, built=True
            ) == set():
                kept = trial
        return kept

    def _shortest_forms(self, subject, target, kept):
        """Writes each kept value in its shortest exact form."""
        forms = {key: self._forms(key, value) for key, value in kept.items()}
        if all(len(spellings) == 1 for spellings in forms.values()):
            return kept  # nothing shorter to try; `kept` itself is checked
        level = dict.fromkeys(forms, 0)
        while True:
            current = {key: forms[key][level[key]] for key in forms}
            differing = self._differences(subject, current, target)
            if differing == set():
                return current
            longer = [key for key in forms if level[key] < len(forms[key]) - 1]
            suspects = [key for key in longer if differing is None or key in differing]
            if not (suspects or longer):
                self._raise_not_reconstructible(subject, differing)
            for key in suspects or longer:
                level[key] += 1

    def _forms(self, key, value):
        """Candidate spellings of `value`, shortest first, `value` itself last."""
        forms = []
        if isinstance(value, list) and value:
            same = _same_number(value)
            if same is not _MISSING:
                forms.append(same)  # kernel_size: 3 for [3, 3]; padding: 3 for [[3, 3], [3, 3]]
            per_axis = [_same_number(item) for item in value]
            if all(isinstance(item, list) for item in value) and _MISSING not in per_axis:
                forms.append(per_axis)  # padding: [1, 2] for [[1, 1], [2, 2]]
        kind = _object_kind(key)
        if kind is not None and _is_keras_object(value):
            forms.extend(self._object_forms(kind, value))
        forms.append(value)
        unique = []
        for form in forms:
            if form not in unique:
                unique.append(form)
        return unique

    def _object_forms(self, kind, value):
        """Spellings of a serialised initializer / regularizer / constraint."""
        forms = []
        alias = self._alias_table(kind).get(_canonical_json(value))
        if alias is not None and kind != "regularizer":
            forms.append(alias)  # kernel_initializer: he_normal
        class_name = value["class_name"]
        config = value.get("config") or {}
        if kind != "regularizer":  # a regularizer's strength is always written
            fresh = self._fresh_config(kind, value)
            if fresh is not None:
                changed = {
                    key: item for key, item in config.items() if fresh.get(key, _MISSING) != item
                }
                forms.append({class_name: changed})
        forms.append({class_name: config})
        return forms

    # Checks.

    def _differences(self, subject, arguments, target, built=False):
        """Config keys that differ when the layer is rebuilt from `arguments`.

        With `built`, the rebuilt layer is built on the original's input
        shapes first (without allocating its weights), as the model built
        from the spec builds it.

        Returns an empty set when the rebuilt layer has the same config,
        None when the constructor refuses the arguments.
        """
        try:
            keyword_arguments = _constructor_arguments(arguments)
        except _Refused:
            return None
        try:
            rebuilt = subject.cls(name=subject.name, dtype=subject.policy, **keyword_arguments)
            if built:
                _build_shapes_only(rebuilt, subject.build_config)
            config = _plain(self._keras.saving.serialize_keras_object(rebuilt)["config"])
        except Exception:  # any refusal means "not this spelling"
            return None
        config.pop("name", None)
        for key in subject.ignored:
            config.pop(key, None)
        for key, value in config.items():
            if is_layer_argument(key, value):
                config[key] = _without_state(value)
        # Compared as JSON: NaN equals NaN, 1 differs from 1.0 and from True.
        return {
            key
            for key in set(config) | set(target)
            if _canonical_json(config.get(key)) != _canonical_json(target.get(key))
        }

    def _raise_not_reconstructible(self, subject, differing):
        detail = (
            "its constructor refuses its own config"
            if differing is None
            else f"the rebuilt layer differs in {', '.join(sorted(differing))}"
        )
        raise UnwritableLayer(
            f"it cannot be rebuilt from its get_config() ({detail}); a spec can only hold "
            "layers whose get_config() mirrors __init__"
        )

    def _looks_default(self, key, value, default):
        if value == default:
            return True
        if isinstance(value, list) and value and all(item == default for item in value):
            return True  # strides (1, 1) for a default of 1
        kind = _object_kind(key)
        if kind is not None and (default is None or isinstance(default, str)):
            return value == self._resolved_default(kind, default)
        if key == "data_format" and default is None:
            return value == self._keras.config.image_data_format()
        return False

    # Tables, computed once.

    def signature(self, type_name, cls):
        """The constructor's `Signature`: from the table, or a plugin's own `__init__`."""
        key = (type_name, cls)
        if key in self._signatures:
            return self._signatures[key]
        table_signature = registry.signature(type_name)
        if table_signature is not None:
            arguments = table_signature.arguments
            result = Signature(
                defaults={
                    name: argument.default
                    for name, argument in arguments.items()
                    if argument.has_default
                },
                accepted=frozenset(arguments),
                order=tuple(arguments),
                required=frozenset(table_signature.required_arguments()),
            )
        else:  # a registered plugin: its own signature, plus Layer's base arguments
            parameters = [
                parameter
                for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]
                if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
            ]
            defaults = dict(self._base_defaults)
            defaults.update(_parameter_defaults(cls.__init__))
            result = Signature(
                defaults=defaults,
                accepted=None,  # the spec checks no plugin arguments
                order=tuple(parameter.name for parameter in parameters),
                required=frozenset(
                    parameter.name
                    for parameter in parameters
                    if parameter.default is parameter.empty
                ),
            )
        self._signatures[key] = result
        return result

    def _resolved_default(self, kind, default):
        key = (kind, default)
        if key not in self._resolved_defaults:
            module = _object_module(self._keras, kind)
            try:
                resolved = _by_class_name(_plain(module.serialize(module.get(default))))
            except Exception:
                resolved = _MISSING
            self._resolved_defaults[key] = resolved
        return self._resolved_defaults[key]

    def _alias_table(self, kind):
        """{canonical JSON of a serialised object: the string name Keras gives it by}."""
        if kind not in self._aliases:
            module = _object_module(self._keras, kind)
            names = getattr(load_table(), kind + "s")
            table = {}
            # Prefer snake_case names (he_normal over HeNormal), then shorter ones.
            for alias in sorted(names, key=lambda text: (text != text.lower(), len(text), text)):
                try:
                    serialised = _by_class_name(_plain(module.serialize(module.get(alias))))
                except Exception:
                    continue
                if _is_keras_object(serialised):
                    table.setdefault(_canonical_json(serialised), alias)
            self._aliases[kind] = table
        return self._aliases[kind]

    def _fresh_config(self, kind, value):
        """The config of the same class built with no arguments, or None."""
        module = _object_module(self._keras, kind)
        try:
            instance = module.get(value)
            return _plain(type(instance)().get_config())
        except Exception:
            return None


def _parameter_defaults(function, skip_first=True):
    """{parameter: default} of `function`, for defaults that are plain values."""
    defaults = {}
    parameters = list(inspect.signature(function).parameters.values())
    for parameter in parameters[1:] if skip_first else parameters:
        if parameter.default is not parameter.empty and parameter.name != "name":
            try:
                defaults[parameter.name] = _plain(parameter.default)
            except _NotPlain:
                pass
    return defaults


def _object_kind(argument_name):
    for kind in _OBJECT_MODULES:
        if argument_name == kind or argument_name.endswith("_" + kind):
            return kind
    return None


def _object_module(keras, kind):
    return getattr(keras, kind + "s")


def _is_keras_object(value):
    return isinstance(value, dict) and "class_name" in value and "config" in value


def _same_number(value):
    """The one number all leaves of a nested list hold (same type too), or _MISSING.

    `[3, 3]`, `[[3, 3], [3, 3]]` and `[3]` all give 3.
    """
    leaves = []

    def collect(item):
        if isinstance(item, list):
            for child in item:
                collect(child)
        else:
            leaves.append(item)

    collect(value)
    first = leaves[0] if leaves else None
    if (
        not leaves
        or not isinstance(first, (int, float))
        or isinstance(first, bool)
        or any(type(leaf) is not type(first) or leaf != first for leaf in leaves)
    ):
        return _MISSING
    return first


def _by_class_name(value):
    """`value` with every serialised Keras object named by class name only.

    `{"module": ..., "class_name": "L2", "config": {...}, "registered_name": None}`
    becomes `{"class_name": "L2", "config": {...}}`, and a registered object
    `{"class_name": "pkg>Name", ...}`: specs never name Python modules.
    """
    if isinstance(value, list):
        return [_by_class_name(item) for item in value]
    if not isinstance(value, dict):
        return value
    if _is_keras_object(value):
        return {
            "class_name": value.get("registered_name") or value["class_name"],
            "config": _by_class_name(value["config"]),
        }
    return {key: _by_class_name(item) for key, item in value.items()}


def _holds_keras_marker(value):
    """Whether `value` holds a `__lambda__`, `__numpy__`, ... serialisation marker."""
    if isinstance(value, list):
        return any(_holds_keras_marker(item) for item in value)
    if isinstance(value, dict):
        class_name = value.get("class_name")
        if isinstance(class_name, str) and class_name.startswith("__"):
            return True
        return any(_holds_keras_marker(item) for item in value.values())
    return False


def _canonical_json(value):
    return json.dumps(value, sort_keys=True, default=str)


class _NotPlain(TypeError):
    pass


def _plain(value):
    """A config value as YAML-writable data: tuples and arrays -> lists, NumPy scalars -> Python."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # NumPy arrays and scalars
        return _plain(value.tolist())
    try:
        import keras

        serialised = keras.saving.serialize_keras_object(value)
    except Exception as error:
        raise _NotPlain(f"cannot write a {type(value).__name__} into a spec") from error
    if serialised is value or not isinstance(serialised, (dict, str, list)):
        raise _NotPlain(f"cannot write a {type(value).__name__} into a spec")
    return _plain(serialised)



class _Refused(ValueError):
    pass


def _constructor_arguments(arguments):
    """Spec argument values -> constructor keyword arguments, nested layers made."""
    made = {}
    for key, value in arguments.items():
        if _holds_nested(value):
            made[key] = _made_layer(value)
            continue
        value, problem = normalise(key, value)
        if problem:
            raise _Refused(problem)
        made[key] = value
    return made


def _holds_nested(value):
    return isinstance(value, NestedLayer) or (
        isinstance(value, list) and bool(value) and all(_holds_nested(item) for item in value)
    )


def _made_layer(value):
    """A nested layer made as the builder makes it (named after its type by default)."""
    if isinstance(value, list):
        return [_made_layer(item) for item in value]
    cls = registry.resolve(value.type)
    arguments = _constructor_arguments(value.arguments)
    arguments.setdefault("name", _automatic_name(value.type))
    try:
        return cls(**arguments)
    except _Refused:
        raise
    except Exception as error:
        raise _Refused(str(error)) from error


def _without_state(value):
    """A serialised layer (or a list of them) without its build and compile configs."""
    if isinstance(value, list):
        return [_without_state(item) for item in value]
    stripped = {key: item for key, item in value.items() if key not in _STATE_KEYS}
    config = dict(stripped.get("config") or {})
    for key, item in config.items():
        if is_layer_argument(key, item):
            config[key] = _without_state(item)
    stripped["config"] = config
    return stripped


def _policy_name(dtype):
    """The dtype policy name of a serialised layer's `dtype` entry."""
    if isinstance(dtype, dict):
        return (dtype.get("config") or {}).get("name", DEFAULT_DTYPE_POLICY)
    return dtype or DEFAULT_DTYPE_POLICY


def comparable(value):
    """`value` with `NestedLayer`s as plain data, for comparing as JSON."""
    if isinstance(value, NestedLayer):
        return {"__nested__": value.type, "arguments": comparable(value.arguments)}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    return value


def normalised(arguments):
    """Spec arguments as the expander normalises them (nested layers included)."""
    result = {}
    for key, value in arguments.items():
        if _holds_nested(value):
            result[key] = _normalised_nested(value)
        else:
            result[key] = normalise(key, value)[0]
    return result


def _normalised_nested(value):
    if isinstance(value, list):
        return [_normalised_nested(item) for item in value]
    return NestedLayer(value.type, normalised(value.arguments))


def spec_value(value):
    """An argument value as spec data: `NestedLayer` -> `{Type: {arguments}}`."""
    if isinstance(value, NestedLayer):
        return {value.type: {key: spec_value(item) for key, item in value.arguments.items()}}
    if isinstance(value, list):
        return [spec_value(item) for item in value]
    return value


def _automatic_name(type_name):
    """The name the builder gives a nested layer without one: its type, snake_case."""
    return to_snake_case(type_name.rpartition(">")[2])


def _named(nested):
    """`nested` without its `name` where that is the name the builder gives it anyway."""
    if nested.arguments.get("name") != _automatic_name(nested.type):
        return nested
    return NestedLayer(
        nested.type, {key: value for key, value in nested.arguments.items() if key != "name"}
    )


def _build_shapes_only(layer, build_config):
    """Builds `layer` from a build config without allocating its weights."""
    import keras
    from keras.src.backend.common import global_state

    # The scope queues the variables for a later initialisation; restore the
    # queue so that nothing of this throw-away layer is ever allocated.
    queue = "uninitialized_variables"
    queued = list(global_state.get_global_attribute(queue, None) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            layer.build_from_config(build_config)
    finally:
        global_state.set_global_attribute(queue, queued)
