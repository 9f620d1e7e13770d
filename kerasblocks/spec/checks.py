"""Checks of a spec's meaning that need no evaluation: types, argument names, blocks.

These run over the text as written, before expansion, so they cover every
layer entry once, including those in blocks nobody uses: layer types exist
and may be used in specs, argument names exist for the type (from the
signature table, without importing Keras), block params exist, blocks do not
use themselves nor nest more than `MAX_BLOCK_DEPTH` deep, and every block is
used. Everything that depends on values (expressions, names, inputs, required
arguments) is checked by the expansion.
"""

import re

from kerasblocks.errors import Diagnostic
from kerasblocks.spec import ops, registry
from kerasblocks.spec.suggest import did_you_mean
from kerasblocks.spec.syntax import (
    RESERVED_ARGUMENTS,
    WHEN_KEY,
    entry_kind,
    iter_entries,
    iter_layer_lists,
    layer_of,
)

_OP_NAME_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
# Blocks using blocks using blocks ...: the longest chain allowed.
MAX_BLOCK_DEPTH = 32

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
        # {user: [(used block, location of the use), ...]} in file order; the
        # user is a block name, or None for the main layer list.
        self.uses = {}

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
            if "output" in block and "outputs" in block:
                self._error(
                    f"block {block_name} gives both `output` and `outputs`; keep one",
                    self.document.key_location(("blocks", block_name, "outputs")),
                )
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
                self.uses.setdefault(user, []).append((type_name, location))
            return True
        if _OP_NAME_RE.match(type_name):
            if not ops.is_op_name(type_name):  # an op's arguments are checked when expanded
                self._error(
                    f"unknown op '{type_name}'{did_you_mean(type_name, ops.op_names())}",
                    location,
                    hint="ops are the keras.ops functions listed in the README (add, mean, ...); "
                    "layer types start with a capital letter",
                )
            elif not is_use:
                self._error(f"defaults cannot be given for the op '{type_name}'", location)
            return False
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
        """Reports blocks that use themselves, else blocks nested too deep.

        Depth-first over the block uses, without recursion (chains of blocks
        may be long): a use of a block that is still open is a cycle. A block's
        height, the longest chain of uses from it (itself: 1), is known when it
        is done.
        """
        state = {}  # block name -> "active" while on the path, then "done"
        height = {}
        found_cycle = False
        for root in self.blocks:
            if root in state:
                continue
            state[root] = "active"
            path, stack = [root], [iter(self.uses.get(root, []))]
            while stack:
                step = next(stack[-1], None)
                if step is None:
                    stack.pop()
                    block_name = path.pop()
                    state[block_name] = "done"
                    height[block_name] = 1 + max(
                        (height.get(used, 0) for used, _ in self.uses.get(block_name, [])),
                        default=0,
                    )
                    continue
                used, location = step
                if state.get(used) == "active":
                    found_cycle = True
                    cycle = path[path.index(used) :] + [used]
                    self._error(
                        f"block '{used}' uses itself: {' -> '.join(cycle)}",
                        location,
                        hint="blocks cannot be recursive; use `repeat` for repeated structure",
                    )
                elif used not in state:
                    state[used] = "active"
                    path.append(used)
                    stack.append(iter(self.uses.get(used, [])))
        if not found_cycle:  # heights are only meaningful without cycles
            self._check_nesting_depth(height)

    def _check_nesting_depth(self, height):
        """Reports chains of blocks using blocks more than `MAX_BLOCK_DEPTH` deep."""
        used_by_blocks = {
            name for user, uses in self.uses.items() if user is not None for name, _ in uses
        }
        for root in self.blocks:
            if root in used_by_blocks or height[root] <= MAX_BLOCK_DEPTH:
                continue
            chain, location = [root], None
            while len(chain) <= MAX_BLOCK_DEPTH:  # follow the deepest use down
                block_name, location = max(self.uses[chain[-1]], key=lambda use: height[use[0]])
                chain.append(block_name)
            shown = chain if len(chain) <= 6 else chain[:3] + ["..."] + chain[-2:]
            self._error(
                f"blocks are nested more than {MAX_BLOCK_DEPTH} deep: {' -> '.join(shown)}",
                location,
                hint="a block may use other blocks, but not in a chain this long",
            )

    def _check_unused_blocks(self):
        reachable = set()
        pending = [used for used, _ in self.uses.get(None, [])]
        while pending:
            block_name = pending.pop()
            if block_name not in reachable:
                reachable.add(block_name)
                pending.extend(used for used, _ in self.uses.get(block_name, []))
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
