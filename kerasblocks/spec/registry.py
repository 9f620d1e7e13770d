"""Layer type names -> layer classes: the only bridge from spec text to code.

A type name in a spec is one of:
- a Keras layer class name in the signature table (`Conv2D`, `MaxPool2D`, ...);
- a kerasblocks layer (`LRN`, `InceptionBlock`, ...; also `kerasblocks>LRN`);
- a `keras.applications` constructor (`ResNet50`, `MobileNetV2`, ...): a whole
  model used as one node (`kerasblocks.spec.applications`);
- a layer class of Keras' applications that Keras does not export
  (`LayerScale`, `StochasticDepth`, `CustomScaleLayer`), from its module as
  the generated table records it;
- a third-party layer registered with
  `keras.saving.register_keras_serializable`, written as its registered name
  `package>ClassName`. Validation cannot see those without importing their
  package, so it accepts the syntax; `resolve` looks them up at build time.

Nothing is ever imported by a name taken from the text: the table is closed,
and plugins come from Keras' own registry of objects the user's code
registered. Looking names up here never imports Keras; `resolve` does.
"""

import re

from kerasblocks.errors import SpecError
from kerasblocks.spec.signatures import load_table
from kerasblocks.spec.suggest import did_you_mean

PLUGIN_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*>[A-Za-z_][A-Za-z0-9_]*\Z")
_KERASBLOCKS_PREFIX = "kerasblocks>"


def signature(type_name):
    """The `LayerSignature` of a table layer type (refused ones too), or None."""
    layers = load_table().layers
    if type_name.startswith(_KERASBLOCKS_PREFIX):
        found = layers.get(type_name[len(_KERASBLOCKS_PREFIX) :])
        return found if found is not None and found.source == "kerasblocks" else None
    return layers.get(type_name)


def is_plugin_name(type_name):
    """Whether `type_name` has the registered-name form `package>ClassName`."""
    if type_name.startswith(_KERASBLOCKS_PREFIX):
        return False  # kerasblocks' own layers are all in the table
    return bool(PLUGIN_NAME_RE.match(type_name))


def usable_type_names():
    """Every table layer type a spec may use (for suggestions)."""
    layers = load_table().layers
    names = [name for name, entry in layers.items() if not entry.refused]
    prefixed = [_KERASBLOCKS_PREFIX + name for name in names if layers[name].source == "kerasblocks"]
    return sorted(names + prefixed)


def resolve(type_name, location=None):
    """Returns the layer class for `type_name`; imports Keras.

    Args:
        type_name: a layer type as written in a spec (see the module doc).
        location: `SourceLocation` for the error, e.g. `LayerNode.location`.

    Raises:
        SpecError: unknown or refused type, or a plugin name nobody
            registered (its package was not imported).
    """
    found = signature(type_name)
    if found is not None:
        if found.refused:
            raise SpecError(found.refused, location)
        if found.source == "kerasblocks":
            import kerasblocks.layers

            return getattr(kerasblocks.layers, found.type_name)
        if found.source == "keras.applications.model":
            import functools

            from kerasblocks.spec.applications import Application

            return functools.partial(Application, found.type_name)
        if found.source == "keras.applications":  # the module comes from the table
            import importlib

            return getattr(importlib.import_module(found.module), found.type_name)
        import keras

        return getattr(keras.layers, found.type_name)
    if is_plugin_name(type_name):
        return _registered_layer(type_name, location)
    suggestion = did_you_mean(type_name, usable_type_names())
    raise SpecError(f"unknown layer type '{type_name}'{suggestion}", location)


def _registered_layer(type_name, location):
    import keras

    cls = keras.saving.get_registered_object(type_name)
    if cls is None:
        raise SpecError(
            f"no layer is registered as '{type_name}'",
            location,
            hint="import the package that registers it (keras.saving."
            "register_keras_serializable): kerasblocks --import PACKAGE ..., or "
            'imports=["PACKAGE"] in Python',
        )
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        raise SpecError(
            f"'{type_name}' is registered with Keras but is not a layer class", location
        )
    if issubclass(cls, keras.layers.Lambda):
        raise SpecError(
            f"{type_name} is a Lambda layer; Lambda layers can carry code and are "
            "refused in specs; write a registered custom layer instead",
            location,
        )
    return cls
