"""Checks of a spec's meaning that need no evaluation: types, argument names, blocks.

These run over the text as written, before expansion, so they cover every
layer entry once, including those in blocks nobody uses: layer types exist
and may be used in specs, argument names exist for the type (from the
signature table, without importing Keras), block params exist, blocks do not
use themselves, and every block is used. Everything that depends on values
(expressions, names, inputs, required arguments) is checked by the expansion.
"""

from kerasblocks.errors import Diagnostic
from kerasblocks.spec import registry
from kerasblocks.spec.suggest import did_you_mean
from kerasblocks.spec.syntax import (
    RESERVED_ARGUMENTS,
    WHEN_KEY,
    entry_kind,
    iter_entries,
    iter_layer_lists,
    layer_of,
)

_TYPE_HINT = (
    "layer types are Keras layer class names (keras.layers), kerasblocks layers, "
    "blocks declared under `blocks:`, or 'package>ClassName' for registered plugins"
)


def check_document(document):
    """Returns the errors and warnings (`Diagnostic`s) of a schema-valid spec."""
    return _StaticChecker(document).run()


class _StaticChecker:
    def __init__(self, document):
        self.document = document
        self.data = document.data
        self.blocks = self.data.get("blocks") or {}
        self.diagnostics = []
        # Block uses, as (user, used block, location); user None is the main list.
        self.block_uses = []

    def run(self):
        self._check_block_definitions()
        self._check_defaults(self.data.get("defaults"), ("defaults",))
        for list_path, entries in iter_layer_lists(self.data):
            user = list_path[1] if list_path[0] == "blocks" else None
            for path, entry in iter_entries(entries, list_path):
                self._check_entry(entry, path, user)
        self._check_recursion()
        self._check_unused_blocks()
        return self.diagnostics

    def _check_block_definitions(self):
        for block_name, block in self.blocks.items():
            if registry.signature(block_name) is not None:
                self._error(
                    f"block '{block_name}' has the name of a layer type; give it another name",
                    self.document.key_location(("blocks", block_name)),
                )
            for param in block.get("params") or {}:
                if param in RESERVED_ARGUMENTS:
                    self._error(
                        f"'{param}' cannot be a block param: every block use takes `{param}`",
                        self.document.key_location(("blocks", block_name, "params", param)),
                    )
            self._check_defaults(block.get("defaults"), ("blocks", block_name, "defaults"))

    def _check_entry(self, entry, path, user):
        kind = entry_kind(entry)
        if kind == "layer":
            type_name, arguments = layer_of(entry)
            location = self.document.key_location(path + (type_name,))
            if self._check_type(type_name, location, user):
                self._check_argument_names(type_name, arguments, path + (type_name,))
        elif kind == "stack":
            type_name = entry["stack"]
            if self._check_type(type_name, self.document.location(path + ("stack",)), user):
                for index, arguments in enumerate(entry["with"]):
                    self._check_argument_names(type_name, arguments or {}, path + ("with", index))
        self._check_defaults(entry.get("defaults"), path + ("defaults",))

    def _check_defaults(self, defaults, path):
        for type_name, arguments in (defaults or {}).items():
            location = self.document.key_location(path + (type_name,))
            if self._check_type(type_name, location, user=None, is_use=False):
                self._check_argument_names(
                    type_name, arguments or {}, path + (type_name,), in_defaults=True
                )

    def _check_type(self, type_name, location, user, is_use=True):
        """Reports unknown or refused types; True when arguments can be checked."""
        if type_name in self.blocks:
            if is_use:
                self.block_uses.append((user, type_name, location))
            return True
        signature = registry.signature(type_name)
        if signature is not None:
            if signature.refused:
                self._error(signature.refused, location)
                return False
            return True
        if not registry.is_plugin_name(type_name):
            suggestion = did_you_mean(type_name, [*registry.usable_type_names(), *self.blocks])
            self._error(
                f"unknown layer type '{type_name}'{suggestion}",
                location,
                hint=None if suggestion else _TYPE_HINT,
            )
        return False

    def _check_argument_names(self, type_name, arguments, path, in_defaults=False):
        if type_name in self.blocks:
            known = self.blocks[type_name].get("params") or {}
            owner = f"block {type_name} has no param"
        else:
            known = registry.signature(type_name).arguments
            owner = f"{type_name} has no argument"
        for key in arguments:
            location = self.document.key_location(path + (key,))
            if key in RESERVED_ARGUMENTS:
                if in_defaults and key == WHEN_KEY:
                    self._error(
                        "defaults cannot set 'when': write the condition on the layers, "
                        "or on a scope around them",
                        location,
                    )
                elif in_defaults:
                    self._error(
                        f"defaults cannot set '{key}': it differs for every layer", location
                    )
            elif key not in known:
                suggestion = did_you_mean(key, known)
                hint = None if suggestion else f"known: {', '.join(sorted(known)) or 'none'}"
                self._error(f"{owner} '{key}'{suggestion}", location, hint)

    def _check_recursion(self):
        uses = {}
        for user, used, location in self.block_uses:
            if user is not None:
                uses.setdefault(user, []).append((used, location))
        state = {}  # block name -> "active" while on the DFS stack, then "done"

        def visit(block_name, chain):
            state[block_name] = "active"
            for used, location in uses.get(block_name, []):
                if state.get(used) == "active":
                    cycle = chain[chain.index(used) :] + [used]
                    self._error(
                        f"block '{used}' uses itself: {' -> '.join(cycle)}",
                        location,
                        hint="blocks cannot be recursive; use `repeat` for repeated structure",
                    )
                elif used not in state:
                    visit(used, chain + [used])
            state[block_name] = "done"

        for block_name in self.blocks:
            if block_name not in state:
                visit(block_name, [block_name])

    def _check_unused_blocks(self):
        reachable = set()
        pending = [used for user, used, _ in self.block_uses if user is None]
        while pending:
            block_name = pending.pop()
            if block_name not in reachable:
                reachable.add(block_name)
                pending.extend(used for user, used, _ in self.block_uses if user == block_name)
        for block_name in self.blocks:
            if block_name not in reachable:
                self.diagnostics.append(
                    Diagnostic(
                        f"block '{block_name}' is never used",
                        self.document.key_location(("blocks", block_name)),
                        severity="warning",
                    )
                )

    def _error(self, message, location, hint=None):
        self.diagnostics.append(Diagnostic(message, location, hint))
