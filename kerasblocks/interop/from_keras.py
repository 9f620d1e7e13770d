"""`to_spec`: a functional or Sequential Keras model -> spec text.

The inverse of `kerasblocks.build`. The spec is written the way a person
would write it:

- **One entry per layer**, typed by its Keras class name (`Conv2D`), a
  kerasblocks layer (`LRN`) or, for a third-party layer registered with
  `keras.saving.register_keras_serializable`, its registered name
  `package>ClassName`.
- **Only the arguments that matter.** An argument is left out when the
  constructor gives the same `get_config()` value without it (the Keras
  default, or a value derived from other arguments, such as a pooling
  layer's `strides`). Values are written short where that is exact:
  `kernel_size: 3` for `(3, 3)`, `kernel_initializer: he_normal`,
  `kernel_regularizer: {L2: {l2: 0.0005}}`. Every layer is checked by
  constructing it from the written arguments and comparing `get_config()`
  with the original, so leaving an argument out never changes the layer.
- **`defaults`** hold an optional argument that all (three or more) layers
  of a type share with the same value (`Conv2D: {padding: same, activation:
  relu}`); required ones (`filters`, `kernel_size`) stay on each line.
- **Chains as chains.** Layers are written in an order that follows chains
  (a side branch such as an auxiliary head right where it leaves the main
  path); a layer whose one input is the previous layer's output has no
  `inputs`, the others name theirs.
- **Names are kept.** Every layer and input keeps its Keras name. A layer's
  `name` is left out only where the spec's automatic naming gives the same
  name back (`conv2d`, `conv2d_1`, ... in a model whose layers were not
  named) and nothing refers to it, so building the spec always gives the
  original names.
- A dtype policy other than float32 is written on the layer (`dtype:
  mixed_float16`); `trainable: false` likewise.

A model the spec language cannot express raises `UsageError` listing every
offending layer with what to do: nested models, layers called more than once
(shared), Lambda and other refused layers, custom layers that are not
registered, `keras.ops` calls in the graph, and layers called with keyword
arguments other than their `call` defaults (`training=True`) or with several
tensor arguments (attention layers).

The `repeat` and `stack` shorthands and blocks are not used: a repeat would
need name expressions for every layer, which reads worse than the list.

As a safety net the written text is expanded again (no Keras involved) and
compared with the model: the same layers, names, types, arguments and
connections, or an internal error.
"""

import dataclasses
import inspect
import json
import os
import re
from typing import NamedTuple

from kerasblocks._version import __version__
from kerasblocks.errors import SourceLocation, SpecError, UsageError
from kerasblocks.interop.spec_writer import spec_to_yaml
from kerasblocks.spec import registry
from kerasblocks.spec.arguments import normalise
from kerasblocks.spec.expand import expand
from kerasblocks.spec.load import load_spec
from kerasblocks.spec.naming import AutoName, assign_names, to_snake_case
from kerasblocks.spec.signatures import load_table
from kerasblocks.spec.syntax import NODE_NAME_RE

# An argument shared by this many layers of one type or more goes to `defaults`.
_MIN_LAYERS_FOR_DEFAULT = 3
_BASE_ARGUMENTS_LAST = ("trainable", "dtype")
_DEFAULT_DTYPE_POLICY = "float32"
_OBJECT_MODULES = ("initializer", "regularizer", "constraint", "activation")
_MISSING = object()


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
        with the same layers (names, classes, configs, order), connections
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
    graph = _read_graph(keras_model)
    writer = _ArgumentWriter()
    for entry in graph.layers:
        entry.arguments = writer.arguments(entry.layer, entry.type_name, entry.config)
        entry.required = writer.signature(entry.type_name, type(entry.layer)).required
    input_names = [entry.name for entry in graph.inputs]
    layers = _chain_order(graph.layers, input_names)
    _mark_chained(layers, input_names)
    referenced = set(graph.outputs).union(
        *(entry.inputs for entry in layers if not entry.chained)
    )
    _choose_written_names(layers, input_names, referenced)
    defaults = _shared_defaults(layers)
    spec = _spec_data(spec_name, graph, layers, defaults)
    comment = (
        f"Written from the Keras model '{keras_model.name}' by kerasblocks {__version__} "
        "(to_spec).\nLayers keep their names; arguments equal to Keras' defaults are left out."
    )
    text = spec_to_yaml(spec, comment=comment)
    _check_written_spec(text, spec_name, graph, layers)
    return text


# --- the model and its graph -----------------------------------------------------


@dataclasses.dataclass
class _InputEntry:
    name: str
    shape: list
    dtype: str


@dataclasses.dataclass(eq=False)
class _LayerEntry:
    """One layer as the spec writes it."""

    layer: object  # the keras layer
    type_name: str
    inputs: tuple  # names of the layers / model inputs it takes, in call order
    list_call: bool  # called with a list of tensors (merge layers)
    position: int  # index in the model's layer order, for stable choices
    config: dict = None  # the layer's serialised config, from the model's config
    arguments: dict = None  # spec argument values, in the order to write them
    required: frozenset = frozenset()  # the constructor's arguments without a default
    chained: bool = False  # takes the previous layer's output: no `inputs` written
    write_name: bool = True

    @property
    def name(self):
        return self.layer.name


@dataclasses.dataclass
class _Graph:
    inputs: list  # of _InputEntry
    layers: list  # of _LayerEntry, in the model's order
    outputs: list  # names


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
        return keras.Model(inputs, outputs, name=model.name)
    if isinstance(model, Functional):
        return model
    raise UsageError(
        f"model '{model.name}' is a subclassed keras.Model ({_class_path(type(model))}): its "
        "call() is Python code that a spec cannot describe; only functional and Sequential "
        "models can be written as specs"
    )


def _read_graph(model):
    """The inputs, layers and outputs of `model`.

    Raises:
        UsageError: listing every part of the model a spec cannot hold.
    """
    import keras

    functional = _functional_view(model)
    table_classes = _table_classes()
    problems = []
    type_names = {}
    for operation in functional.operations:
        if isinstance(operation, keras.layers.InputLayer):
            continue
        type_name, problem = _type_name(operation, table_classes)
        if problem:
            problems.append(f"'{operation.name}' ({_class_label(operation)}): {problem}")
        type_names[operation.name] = type_name
    try:
        config = functional.get_config()
    except Exception:
        if problems:  # an unregistered layer may have no usable get_config()
            _raise_problems(model, problems)
        raise
    layers_by_name = {operation.name: operation for operation in functional.operations}
    inputs, layers = [], []
    for position, layer_config in enumerate(config["layers"]):
        layer = layers_by_name[layer_config["name"]]
        if isinstance(layer, keras.layers.InputLayer):
            entry, problem = _input_entry(layer)
            inputs.append(entry)
        elif layer.name in type_names and type_names[layer.name] is None:
            continue  # reported above
        else:
            entry, problem = _layer_entry(layer, layer_config, type_names[layer.name], position)
            layers.append(entry)
        if problem is None and not NODE_NAME_RE.match(layer.name):
            problem = (
                "its name is not a spec name (letters, digits, '_', '.', '-'); rename the layer"
            )
        if problem:
            problems.append(f"'{layer.name}' ({_class_label(layer)}): {problem}")
    if problems:
        _raise_problems(model, problems)

    # Model inputs in call order (the config lists layers in graph order).
    by_name = {entry.name: entry for entry in inputs}
    input_order = [history[0] for history in _histories(config["input_layers"])]
    inputs = [by_name[input_name] for input_name in input_order]
    outputs = [history[0] for history in _histories(config["output_layers"])]
    return _Graph(inputs, layers, outputs)


def _raise_problems(model, problems):
    listing = "\n".join(f"  - {problem}" for problem in problems)
    count = f"{len(problems)} layer{'s' if len(problems) != 1 else ''}"
    raise UsageError(
        f"model '{model.name}' cannot be written as a spec; {count} to change:\n{listing}"
    )


def _type_name(layer, table_classes):
    """The spec type name of `layer`'s class, and None; or None and why not.

    Args:
        layer: a Keras operation of the model.
        table_classes: {class: type name} of the signature table's layers.
    """
    import keras

    cls = type(layer)
    if isinstance(layer, keras.Model):
        return None, (
            "a model used as a layer; specs have no nested models: call the inner model's "
            "layers on the outer model's tensors (flatten it), or write it as a block in the spec"
        )
    if not isinstance(layer, keras.layers.Layer):
        instead = (
            f"keras.layers.{cls.__name__}"
            if isinstance(getattr(keras.layers, cls.__name__, None), type)
            else "a Keras layer that does the same"
        )
        return None, (
            f"a keras.ops call, not a layer; a spec can only name layers: use {instead}, "
            "or a registered custom layer"
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

    import kerasblocks.layers

    classes = {}
    for type_name, signature in load_table().layers.items():
        home = kerasblocks.layers if signature.source == "kerasblocks" else keras.layers
        cls = getattr(home, type_name, None)
        # An alias (MaxPool2D for MaxPooling2D) gives way to the class's own name.
        if isinstance(cls, type) and (cls not in classes or type_name == cls.__name__):
            classes[cls] = type_name
    return classes


def _input_entry(layer):
    config = layer.get_config()
    shape = list(config["batch_shape"][1:])
    entry = _InputEntry(layer.name, shape, str(config.get("dtype") or "float32"))
    if config["batch_shape"][0] is not None:
        return entry, (
            f"a fixed batch size ({config['batch_shape'][0]}); spec inputs leave the batch "
            "size open: use keras.Input(shape=...) without batch_size"
        )
    for flag in ("sparse", "ragged", "optional"):
        if config.get(flag):
            return entry, f"a {flag} input, which spec inputs cannot declare"
    return entry, None


def _layer_entry(layer, layer_config, type_name, position):
    """A `_LayerEntry` from the layer's functional config, or a problem."""
    nodes = layer_config.get("inbound_nodes") or []
    entry = _LayerEntry(layer, type_name, (), False, position, layer_config.get("config"))
    if len(nodes) != 1:
        return entry, (
            f"called {len(nodes)} times in the model (a shared layer); a spec layer is "
            "called once, on the inputs it names"
        )
    args, kwargs = nodes[0].get("args") or (), nodes[0].get("kwargs") or {}
    # Keras records some call arguments even when the caller gave none (a
    # Dropout's `training=False`, a BatchNormalization's `mask=None`): the
    # defaults of the layer's `call`. Any other value was passed on purpose.
    call_defaults = _parameter_defaults(layer.call, skip_first=False)
    passed = {
        key: value for key, value in kwargs.items() if value != call_defaults.get(key)
    }
    if passed:
        listing = ", ".join(f"{key}={value!r}" for key, value in sorted(passed.items()))
        return entry, (
            f"called with keyword arguments ({listing}), which a spec cannot pass; a spec "
            "layer is called on its inputs only"
        )
    if len(args) != 1:
        return entry, (
            f"called with {len(args)} positional arguments; a spec layer takes one tensor "
            "or one list of tensors"
        )
    argument = args[0]
    list_call = isinstance(argument, (list, tuple))
    tensors = list(argument) if list_call else [argument]
    histories = [_tensor_history(tensor) for tensor in tensors]
    if not histories or None in histories:
        return entry, "called on something other than a tensor or a flat list of tensors"
    if any(history[2] != 0 for history in histories):
        return entry, "takes one of several outputs of a layer; spec layers have one output"
    entry.inputs = tuple(history[0] for history in histories)
    entry.list_call = list_call and len(tensors) > 1
    import keras

    if not isinstance(layer.output, keras.KerasTensor):
        return entry, "returns several tensors; spec layers have one output"
    return entry, None


def _tensor_history(value):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = value["config"]["keras_history"]
        return history[0], history[1], history[2]
    return None


def _histories(structure):
    """Flattens `input_layers` / `output_layers` ([name, node, index] or nests of them)."""
    if (
        isinstance(structure, (list, tuple))
        and len(structure) == 3
        and isinstance(structure[0], str)
        and all(isinstance(item, int) for item in structure[1:])
    ):
        return [tuple(structure)]
    items = structure.values() if isinstance(structure, dict) else structure
    return [history for item in items for history in _histories(item)]


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


# --- arguments -------------------------------------------------------------------


class _Signature(NamedTuple):
    """What a layer's constructor takes."""

    defaults: dict  # {argument: default value}, for plain defaults
    accepted: frozenset | None  # argument names; None: not known (a plugin)
    order: tuple  # argument names in the constructor's order
    required: frozenset  # arguments without a default


class _ArgumentWriter:
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

    def arguments(self, layer, type_name, config):
        """Returns {argument: spec value} for `layer`, in the order to write them.

        Args:
            layer: the Keras layer.
            type_name: its spec type name.
            config: its serialised config (`serialize_keras_object(layer)["config"]`,
                as the model's config holds it).

        Raises:
            UsageError: the layer's config does not give the layer back
                through its constructor, or holds values YAML cannot.
        """
        cls = type(layer)
        try:
            target = _plain(config)
        except _NotPlain as error:
            raise UsageError(
                f"layer '{layer.name}' ({type_name}): its config cannot be written ({error}); "
                "a spec can only hold layers whose get_config() returns their constructor "
                "arguments as plain values"
            ) from error
        target.pop("name", None)
        policy = layer.dtype_policy.name
        full = {key: _by_class_name(value) for key, value in target.items() if key != "dtype"}
        signature = self.signature(type_name, cls)

        kept = self._without_defaults(layer, cls, policy, target, full, signature, type_name)
        kept = self._shortest_forms(layer, cls, policy, target, kept, type_name)

        # The constructor's order (units, activation, ...), then trainable and dtype.
        rank = {name: index for index, name in enumerate(signature.order)}
        ordered = {
            key: kept[key]
            for key in sorted(kept, key=lambda key: rank.get(key, len(rank)))
            if key not in _BASE_ARGUMENTS_LAST
        }
        if kept.get("trainable", True) is not True:
            ordered["trainable"] = kept["trainable"]
        if policy != _DEFAULT_DTYPE_POLICY:
            ordered["dtype"] = policy
        raw = [key for key, value in ordered.items() if _holds_keras_marker(value)]
        if raw:
            raise UsageError(
                f"layer '{layer.name}' ({type_name}): its config holds {', '.join(raw)} as "
                "serialised code or raw data (a Keras `__...__` marker), which a spec cannot hold"
            )
        accepted = signature.accepted
        unknown = [key for key in ordered if accepted is not None and key not in accepted]
        if unknown:
            raise UsageError(
                f"layer '{layer.name}' ({type_name}): its config holds {', '.join(unknown)}, "
                f"which the spec's {type_name} does not take as arguments"
            )
        return ordered

    # The steps.

    def _without_defaults(self, layer, cls, policy, target, full, signature, type_name):
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
            differing = self._differences(cls, layer.name, policy, kept, target)
            if differing == set():
                break
            if differing is None or not differing & dropped:
                if dropped:  # dropping interacts with the rest: keep everything
                    dropped = set()
                    kept = dict(full)
                    continue
                self._raise_not_reconstructible(layer, type_name, differing)
            dropped -= differing
            kept = {key: value for key, value in full.items() if key not in dropped}
        # Values derived from other arguments (a pooling layer's strides): the
        # table default is None, the config holds the derived value.
        for key in [key for key, value in kept.items() if value is not None]:
            if key in defaults and defaults[key] is None:
                trial = {other: value for other, value in kept.items() if other != key}
                if self._differences(cls, layer.name, policy, trial, target) == set():
                    kept = trial
        return kept

    def _shortest_forms(self, layer, cls, policy, target, kept, type_name):
        """Writes each kept value in its shortest exact form."""
        forms = {key: self._forms(key, value) for key, value in kept.items()}
        if all(len(spellings) == 1 for spellings in forms.values()):
            return kept  # nothing shorter to try; `kept` itself is checked
        level = dict.fromkeys(forms, 0)
        while True:
            current = {key: forms[key][level[key]] for key in forms}
            differing = self._differences(cls, layer.name, policy, current, target)
            if differing == set():
                return current
            longer = [key for key in forms if level[key] < len(forms[key]) - 1]
            suspects = [key for key in longer if differing is None or key in differing]
            if not (suspects or longer):
                self._raise_not_reconstructible(layer, type_name, differing)
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

    def _differences(self, cls, name, policy, arguments, target):
        """Config keys that differ when the layer is rebuilt from `arguments`.

        Returns an empty set when the rebuilt layer has the same config,
        None when the constructor refuses the arguments.
        """
        keyword_arguments = {}
        for key, value in arguments.items():
            value, problem = normalise(key, value)
            if problem:
                return None
            keyword_arguments[key] = value
        try:
            rebuilt = cls(name=name, dtype=policy, **keyword_arguments)
            config = _plain(self._keras.saving.serialize_keras_object(rebuilt)["config"])
        except Exception:  # any refusal means "not this spelling"
            return None
        config.pop("name", None)
        # Compared as JSON: NaN equals NaN, 1 differs from 1.0 and from True.
        return {
            key
            for key in set(config) | set(target)
            if _canonical_json(config.get(key)) != _canonical_json(target.get(key))
        }

    def _raise_not_reconstructible(self, layer, type_name, differing):
        detail = (
            "its constructor refuses its own config"
            if differing is None
            else f"the rebuilt layer differs in {', '.join(sorted(differing))}"
        )
        raise UsageError(
            f"layer '{layer.name}' ({type_name}) cannot be rebuilt from its get_config() "
            f"({detail}); a spec can only hold layers whose get_config() mirrors __init__"
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
        """The constructor's `_Signature`: from the table, or a plugin's own `__init__`."""
        key = (type_name, cls)
        if key in self._signatures:
            return self._signatures[key]
        table_signature = registry.signature(type_name)
        if table_signature is not None:
            arguments = table_signature.arguments
            result = _Signature(
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
            result = _Signature(
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


# --- order, names, defaults ------------------------------------------------------


def _chain_order(layers, input_names):
    """The layers in an order a person would write: chains kept together.

    Any topological order builds the same model (Keras orders a functional
    model's layers by the graph alone), so the order is chosen for reading:
    after a layer comes, if possible, a layer taking it as its only input,
    the one closest to an output first (so a side branch such as an
    auxiliary head is written where it leaves, and the main path then names
    its input); otherwise a ready layer that takes the most recently written
    output, or the earliest model input.
    """
    by_name = {entry.name: entry for entry in layers}
    consumers = {entry.name: [] for entry in layers}
    for entry in layers:
        for name in entry.inputs:
            if name in consumers:
                consumers[name].append(entry)
    distance = {}  # layers to the furthest output or sink below
    for entry in reversed(_topological(layers, by_name)):
        distance[entry.name] = 1 + max(
            (distance[consumer.name] for consumer in consumers[entry.name]), default=-1
        )

    input_rank = {name: rank for rank, name in enumerate(input_names)}
    written_at = {}
    waiting = {entry.name: {name for name in entry.inputs if name in by_name} for entry in layers}
    ready = [entry for entry in layers if not waiting[entry.name]]
    ordered = []
    previous = input_names[0] if len(input_names) == 1 else None
    while ready:
        followers = [
            entry for entry in ready if entry.inputs == (previous,) and not entry.list_call
        ]
        if followers:
            chosen = min(followers, key=lambda entry: (distance[entry.name], entry.position))
        else:
            chosen = min(
                ready,
                key=lambda entry: (
                    -max((written_at.get(name, -1) for name in entry.inputs), default=-1),
                    min((input_rank.get(name, 0) for name in entry.inputs), default=0),
                    distance[entry.name],
                    entry.position,
                ),
            )
        ready.remove(chosen)
        written_at[chosen.name] = len(ordered)
        ordered.append(chosen)
        previous = chosen.name
        for consumer in consumers[chosen.name]:
            waiting[consumer.name].discard(chosen.name)
            if not waiting[consumer.name] and consumer not in ready:
                ready.append(consumer)
    return ordered


def _topological(layers, by_name):
    """`layers` sorted so that every layer comes after the layers it takes."""
    ordered, done = [], set()

    def visit(entry):
        stack = [(entry, iter(entry.inputs))]
        while stack:
            current, pending = stack[-1]
            for name in pending:
                if name in by_name and name not in done:
                    stack.append((by_name[name], iter(by_name[name].inputs)))
                    break
            else:
                stack.pop()
                if current.name not in done:
                    done.add(current.name)
                    ordered.append(current)

    for entry in layers:
        visit(entry)
    return ordered


def _mark_chained(layers, input_names):
    """Marks the layers that take the previous layer's output (or the one model input)."""
    previous = input_names[0] if len(input_names) == 1 else None
    for entry in layers:
        entry.chained = not entry.list_call and entry.inputs == (previous,)
        previous = entry.name


def _choose_written_names(layers, input_names, referenced):
    """Leaves out the names the spec's automatic naming gives back unchanged.

    Names that `inputs` or `outputs` refer to are always written: a spec
    refers only to names it writes.
    """
    def automatic_base(entry):
        base = to_snake_case(entry.type_name.rpartition(">")[2])
        pattern = rf"{re.escape(base)}(?:_\d+)?\Z"
        return base if ">" not in entry.type_name and re.match(pattern, entry.name) else None

    candidates = [
        entry for entry in layers if entry.name not in referenced and automatic_base(entry)
    ]
    for entry in layers:
        entry.write_name = entry not in candidates
    while candidates:
        probes = [
            _NameProbe(
                (entry.name,) if entry.write_name else (AutoName(automatic_base(entry)),),
                SourceLocation(),
            )
            for entry in layers
        ]
        names, _, _ = assign_names(probes, taken=input_names)
        wrong = [
            entry
            for entry, probe in zip(layers, probes)
            if not entry.write_name and names[probe] != entry.name
        ]
        if not wrong:
            break
        for entry in wrong:
            entry.write_name = True
        candidates = [entry for entry in candidates if not entry.write_name]


@dataclasses.dataclass(eq=False)
class _NameProbe:
    """What `naming.assign_names` needs of a node: its name parts and position."""

    name_parts: tuple
    definition: object


def _shared_defaults(layers):
    """{type: {argument: value}} that every layer of the type (3 or more) has alike.

    Required arguments (`filters`, `units`, `kernel_size`) stay on the layers,
    so each line shows what the layer is, as the Keras call would.
    """
    by_type = {}
    for entry in layers:
        by_type.setdefault(entry.type_name, []).append(entry)
    defaults = {}
    for type_name, entries in by_type.items():
        if len(entries) < _MIN_LAYERS_FOR_DEFAULT:
            continue
        shared = {
            key: value
            for key, value in entries[0].arguments.items()
            if key not in entries[0].required
            and all(
                key in entry.arguments
                and _canonical_json(entry.arguments[key]) == _canonical_json(value)
                for entry in entries
            )
        }
        if shared:
            defaults[type_name] = shared
    return defaults


# --- the spec ----------------------------------------------------------------------


def _spec_data(spec_name, graph, layers, defaults):
    spec = {"kerasblocks": 1, "name": spec_name, "inputs": {}}
    for entry in graph.inputs:
        declaration = {"shape": entry.shape}
        if entry.dtype != "float32":
            declaration["dtype"] = entry.dtype
        spec["inputs"][entry.name] = declaration
    if defaults:
        spec["defaults"] = defaults
    written = []
    for entry in layers:
        shared = defaults.get(entry.type_name, {})
        arguments = {key: value for key, value in entry.arguments.items() if key not in shared}
        if entry.write_name:
            arguments["name"] = entry.name
        if not entry.chained:
            arguments["inputs"] = list(entry.inputs) if entry.list_call else entry.inputs[0]
        written.append({entry.type_name: arguments})
    spec["layers"] = written
    spec["outputs"] = list(graph.outputs)
    return spec


def _check_written_spec(text, spec_name, graph, layers):
    """Expands `text` (no Keras) and checks it describes the model exactly."""
    try:
        expanded = expand(load_spec(text, file="<to_spec>"))
    except SpecError as error:
        _internal_error(spec_name, f"the spec does not validate:\n{error}")
    expected_inputs = [(entry.name, tuple(entry.shape), entry.dtype) for entry in graph.inputs]
    found_inputs = [(node.name, tuple(node.shape), node.dtype) for node in expanded.inputs]
    if found_inputs != expected_inputs:
        _internal_error(spec_name, f"inputs {found_inputs} instead of {expected_inputs}")
    if list(expanded.outputs) != list(graph.outputs):
        _internal_error(spec_name, f"outputs {expanded.outputs} instead of {graph.outputs}")
    if [node.name for node in expanded.layers] != [entry.name for entry in layers]:
        _internal_error(spec_name, "the layer names differ")
    for node, entry in zip(expanded.layers, layers):
        arguments = {key: normalise(key, value)[0] for key, value in entry.arguments.items()}
        found = (node.type, node.inputs, _canonical_json(node.arguments))
        if found != (entry.type_name, entry.inputs, _canonical_json(arguments)):
            _internal_error(spec_name, f"layer '{entry.name}' differs")


def _internal_error(spec_name, detail):
    raise RuntimeError(
        f"kerasblocks bug: the spec written for model '{spec_name}' does not describe the "
        f"model ({detail}); please report it with the model"
    )
