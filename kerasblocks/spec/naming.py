"""Final layer names: Keras-style automatic names, block-use prefixes, uniqueness.

During expansion a layer's name is a tuple of parts: the names of the block
uses it sits in, then its own name. A part is text (a name from the spec) or
an `AutoName` (none was given). Once every layer exists, `assign_names`
renders the parts joined by "_" (Keras 3 forbids "/"), choosing automatic
names the way Keras does (`conv2d`, `conv2d_1`, ...) but never taking a name
the spec gives explicitly, wherever that name appears.
"""

import re

from kerasblocks.errors import Diagnostic

SEPARATOR = "_"


def to_snake_case(name):
    """Keras' own class name -> layer name rule: Conv2D -> conv2d, ReLU -> re_lu."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class AutoName:
    """A name part to be chosen at the end, from `base` (one object per use)."""

    def __init__(self, base):
        self.base = base

    def __repr__(self):
        return f"AutoName({self.base!r})"


def _is_explicit(parts):
    return all(isinstance(part, str) for part in parts)


def assign_names(nodes, taken=()):
    """Chooses every node's final name.

    Args:
        nodes: objects with `name_parts` and `definition` (a SourceLocation),
            in file order.
        taken: names already in use (the model inputs).

    Returns:
        ({node: name}, [Diagnostic], render): an error for each name used
        twice, and `render(parts)`, which gives the name of a prefix of some
        node's parts (a block use: "stage1_unit2") as chosen for the nodes.
    """
    explicit = set(taken) | {
        SEPARATOR.join(node.name_parts) for node in nodes if _is_explicit(node.name_parts)
    }
    chooser = _AutoNameChooser(explicit)
    names = {}
    first_use = dict.fromkeys(taken)
    diagnostics = []
    for node in nodes:
        name = chooser.render(node.name_parts)
        if name in first_use:
            earlier = first_use[name]
            where = f" (also at {earlier.line}:{earlier.column})" if earlier else " (a model input)"
            diagnostics.append(
                Diagnostic(
                    f"layer name '{name}' is used twice{where}",
                    node.definition,
                    hint="layers inside a block use are named <use name>_<name inside the block>",
                )
            )
        first_use.setdefault(name, node.definition)
        names[node] = name
    return names, diagnostics, chooser.render


class _AutoNameChooser:
    def __init__(self, explicit):
        self.explicit = explicit
        self.chosen = {}  # AutoName -> rendered part
        self.claimed = set()  # full names claimed by an automatic part
        self.counters = {}  # (prefix, base) -> next number to try

    def render(self, parts):
        prefix = ""
        for part in parts:
            if not isinstance(part, str):
                part = self._choose(prefix, part)
            prefix = f"{prefix}{SEPARATOR}{part}" if prefix else part
        return prefix

    def _choose(self, prefix, auto_name):
        if auto_name in self.chosen:
            return self.chosen[auto_name]
        key = (prefix, auto_name.base)
        number = self.counters.get(key, 0)
        while True:
            part = auto_name.base if number == 0 else f"{auto_name.base}{SEPARATOR}{number}"
            full = f"{prefix}{SEPARATOR}{part}" if prefix else part
            number += 1
            if full not in self.explicit and full not in self.claimed:
                break
        self.counters[key] = number
        self.claimed.add(full)
        self.chosen[auto_name] = part
        return part
