"""Argument values Keras resolves by name: activations, initializers, regularizers, constraints.

Keras accepts these as a string (`"he_normal"`) or a config dict
(`{"class_name": "L2", "config": {"l2": 0.0005}}`). Specs may also use the
short form `{L2: {l2: 0.0005}}`, which `normalise` rewrites into the config
dict. Names are checked against the signature table, so a typo is caught
before Keras is imported. Registered plugin objects (`package>Name`) pass.
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
