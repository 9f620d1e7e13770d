"""The vocabulary of the spec language, shared by the checks and the expansion.

Spec data has passed the JSON Schema before anything here looks at it, so the
shapes are known: a layer entry is `{Type: arguments-or-null}`, a `repeat`,
`stack` or `scope` entry is a mapping holding that keyword.
"""

import re

KEYWORDS = ("repeat", "stack", "scope")
# Keys of a layer's arguments that are not constructor arguments of the type.
NAME_KEY = "name"
INPUTS_KEY = "inputs"
# `when: <condition>` on a layer, a block use, a repeat/stack/scope entry or an
# output: the entry exists only when the condition is true.
WHEN_KEY = "when"
# The call of a layer: `call: {use_causal_mask: true}` (constant call options),
# `share: other` (call the layer object of `other` again), `positional: N`
# (how many leading named `inputs` go by position).
CALL_KEY = "call"
SHARE_KEY = "share"
POSITIONAL_KEY = "positional"
RESERVED_ARGUMENTS = (NAME_KEY, INPUTS_KEY, WHEN_KEY, CALL_KEY, SHARE_KEY, POSITIONAL_KEY)
# Constructor arguments that take a layer, written as a nested layer entry:
# `Bidirectional: {layer: {LSTM: {units: 32}}}`.
LAYER_ARGUMENTS = frozenset({"layer", "backward_layer", "cell", "cells"})
# `model: functional` or `model: sequential` on a block: each use is a nested
# Keras model of the block body.
MODEL_KEY = "model"
# A block param declared `required` has no default.
REQUIRED = "required"
DEFAULT_BLOCK_INPUTS = ("input",)
# Layer and input names: what Keras 3 accepts, minus '/', and usable in `inputs`.
NODE_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")


def entry_kind(entry):
    """'repeat', 'stack', 'scope' or 'layer' for an item of a `layers` list."""
    for keyword in KEYWORDS:
        if keyword in entry:
            return keyword
    return "layer"


def layer_of(entry):
    """(type name, arguments dict) of a layer entry; null arguments become {}."""
    ((type_name, arguments),) = entry.items()
    return type_name, arguments or {}


def constructor_arguments(arguments):
    """The arguments without `name`, `inputs` and `when`."""
    return {key: value for key, value in arguments.items() if key not in RESERVED_ARGUMENTS}


def iter_layer_lists(data):
    """Yields (path, list) for the main `layers` and every block's `layers`."""
    yield ("layers",), data["layers"]
    for block_name, block in (data.get("blocks") or {}).items():
        yield ("blocks", block_name, "layers"), block["layers"]


def iter_entries(entries, path):
    """Yields (path, entry) for every entry of a layer list, nested ones included."""
    for index, entry in enumerate(entries):
        entry_path = path + (index,)
        yield entry_path, entry
        if entry_kind(entry) in ("repeat", "scope"):
            yield from iter_entries(entry["layers"], entry_path + ("layers",))
