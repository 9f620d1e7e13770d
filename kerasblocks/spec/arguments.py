"""Argument values Keras resolves by name: activations, initializers, regularizers, constraints.

Keras accepts these as a string (`"he_normal"`) or a config dict
(`{"class_name": "L2", "config": {"l2": 0.0005}}`). Specs may also use the
short form `{L2: {l2: 0.0005}}`, which `normalise` rewrites into the config
dict. Names are checked against the signature table, so a typo is caught
before Keras is imported. Registered plugin objects (`package>Name`) pass.

A Keras config may also say where its class lives (`module`,
`registered_name`) or carry a function's code (`class_name: __lambda__`).
Keras 3 resolves those cautiously in safe mode, but a spec never needs them:
`refusal` finds them anywhere in a value, so that no spec value can name a
Python module or code. It also refuses a `vocabulary` given as text, which the
lookup layers read as the path of a file to load: a spec never reads files.
"""

from kerasblocks.spec.signatures import load_table
from kerasblocks.spec.suggest import did_you_mean

# Argument name suffix -> (kind in messages, table attribute with the known names).
_OBJECT_ARGUMENTS = {
    "initializer": ("initializer", "initializers"),
    "regularizer": ("regularizer", "regularizers"),
    "constraint": ("constraint", "constraints"),
    "activation": ("activation", "activations"),
}
_CONFIG_KEYS = {"class_name", "config"}
# Keys of a Keras config that name where code lives.
_CODE_LOCATION_KEYS = ("module", "registered_name")
# Arguments that Keras reads as a file path when they are text (the lookup
# layers' `vocabulary`).
_FILE_ARGUMENTS = frozenset({"vocabulary"})


def normalise(argument_name, value):
    """Returns (value as Keras takes it, problem message or None).

    Only arguments named like `activation`, `*_initializer`, `*_regularizer`,
    `*_constraint` are touched; others pass unchanged.
    """
    kind = _object_kind(argument_name)
    if kind is None:
        return value, None
    noun, table_attribute = _OBJECT_ARGUMENTS[kind]
    known = getattr(load_table(), table_attribute)
    if isinstance(value, dict) and len(value) == 1 and not set(value) & _CONFIG_KEYS:
        ((class_name, config),) = value.items()
        if config is not None and not isinstance(config, dict):
            return value, (
                f"the config of {noun} '{class_name}' must be a mapping of its arguments, "
                f"e.g. {{{class_name}: {{...}}}}"
            )
        value = {"class_name": class_name, "config": config or {}}
    name = value.get("class_name") if isinstance(value, dict) else value
    if isinstance(name, str) and name not in known and ">" not in name:
        return value, f"unknown {noun} '{name}'{did_you_mean(name, known)}"
    return value, None


def _object_kind(argument_name):
    for suffix in _OBJECT_ARGUMENTS:
        if argument_name == suffix or argument_name.endswith("_" + suffix):
            return suffix
    return None


def refusal(argument_name, value):
    """Why a spec may not give `value` to `argument_name`, or None.

    See the module docstring: code references anywhere in the value, and
    vocabulary files.
    """
    if argument_name in _FILE_ARGUMENTS and isinstance(value, str):
        return (
            f"'{argument_name}' must be a list in a spec: text would be read as the path of "
            "a file to load, and a spec never reads files"
        )
    return code_reference(value)


def code_reference(value):
    """A problem message if `value` holds a Keras config naming code, else None.

    Looks through lists and mappings at any depth for a mapping with a
    `class_name` and a `module` or `registered_name` key, or a `class_name`
    of Keras' internal markers (`__lambda__`, `__numpy__`, ...).
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            class_name = item.get("class_name")
            if isinstance(class_name, str) and class_name.startswith("__"):
                return (
                    f"class_name '{class_name}' is not allowed in a spec: it stands for "
                    "code or raw data in Keras configs"
                )
            location_keys = [key for key in _CODE_LOCATION_KEYS if key in item]
            if class_name is not None and location_keys:
                return (
                    f"'{location_keys[0]}' is not allowed in a spec: specs name Keras objects "
                    "by `class_name` only, never a Python module"
                )
            pending.extend(item.values())
    return None
