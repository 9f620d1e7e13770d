"""The spec's `vars`: overrides, evaluation in any order, and cycles.

A var may use other vars in any order (`width: "${base * 2}"` above or below
`base`); each is evaluated once, when first needed, so an override of `base`
(`--set base=32`) flows into `width`. A var defined in terms of itself is a
located error. Overrides replace a var's written value and are used as if they
had been written in the spec.

Vars are evaluated in dependency order (the names their text mentions come
first), so a long chain of vars each using the next never recurses deeply; what
still recurses, a cycle, is cut at `MAX_VAR_CHAIN`.
"""

import contextlib

from kerasblocks.errors import Diagnostic, SourceLocation, SpecError
from kerasblocks.spec.expressions import ExpressionError, names_mentioned, substitute_all
from kerasblocks.spec.graph import ArgumentOrigin
from kerasblocks.spec.parse import parse_value
from kerasblocks.spec.scope import Binding, FailedValue, ValueScope
from kerasblocks.spec.suggest import did_you_mean

# The `file` of locations that point at an override rather than the spec text.
OVERRIDES_FILE = "<vars>"
COMMAND_LINE_FILE = "--set"
# Vars being evaluated through each other at once (only a cycle gets there).
MAX_VAR_CHAIN = 32


def evaluate_vars(document, overrides):
    """Evaluates every var of a parsed spec, with overrides applied.

    Args:
        document: `kerasblocks.spec.parse.Document` (schema-valid).
        overrides: {var name: value}.

    Returns:
        (`ValueScope` of the vars, [error Diagnostic]). Vars that failed are
        in the scope as failed names, so their uses add no second error. The
        scope's `used` already holds the vars that other vars use.
    """
    evaluator = _VarEvaluator(document, overrides)
    for name in _evaluation_order(evaluator.raw):
        with contextlib.suppress(FailedValue):  # reported where it failed
            evaluator.binding(name)
    scope = ValueScope(evaluator.bindings, failed=evaluator.failed)
    scope.used.update(evaluator.used)
    return scope, evaluator.diagnostics


def parse_var_overrides(assignments, spec=None):
    """Parses `--set` assignments ["name=value", ...] into {name: value}.

    Each value is read as a YAML value (`10` is an int, `[3, 3]` a list,
    `relu` text). With `spec` (a `Spec`), names must be vars of that spec.

    Raises:
        SpecError: every malformed assignment or unknown name, located at
            "--set" with the assignment's key path.
    """
    overrides, diagnostics = {}, []
    spec_vars = (
        (spec.data.get("vars") or {}) if spec is not None and isinstance(spec.data, dict) else None
    )
    for assignment in assignments:
        name, equals, text = assignment.partition("=")
        name = name.strip()
        location = SourceLocation(COMMAND_LINE_FILE, path=("vars", name))
        if not equals or not name.isidentifier():
            diagnostics.append(
                Diagnostic(
                    f"'{assignment}' is not an assignment name=value",
                    SourceLocation(COMMAND_LINE_FILE),
                )
            )
            continue
        if spec_vars is not None and name not in spec_vars:
            diagnostics.append(Diagnostic(_unknown_var_message(name, spec_vars), location))
            continue
        try:
            overrides[name] = parse_value(text, file=COMMAND_LINE_FILE)
        except SpecError as error:
            diagnostics.append(Diagnostic(f"the value of '{name}': {error.message}", location))
    if diagnostics:
        raise SpecError(diagnostics)
    return overrides


def _evaluation_order(raw):
    """The var names, each after the vars its text mentions (as far as possible).

    Only an order: evaluation itself finds the real dependencies. Vars on a
    cycle keep their file order at the end, so the cycle is reported from the
    var written first.
    """
    uses = {
        name: [used for used in names_mentioned(value) if used in raw]
        for name, value in raw.items()
    }
    order, state, cyclic = [], {}, set()
    for root in raw:
        if root in state:
            continue
        state[root] = "active"
        stack, path = [(root, iter(uses[root]))], [root]
        while stack:  # depth-first, without recursion: chains may be long
            name, pending = stack[-1]
            used = next(pending, None)
            if used is None:
                stack.pop()
                path.pop()
                state[name] = "done"
                order.append(name)
            elif state.get(used) == "active":
                cyclic.update(path[path.index(used) :])
            elif used not in state:
                state[used] = "active"
                path.append(used)
                stack.append((used, iter(uses[used])))
    return [name for name in order if name not in cyclic] + [
        name for name in raw if name in cyclic
    ]


def _unknown_var_message(name, spec_vars):
    known = ", ".join(spec_vars) or "none"
    return f"unknown var '{name}'{did_you_mean(name, spec_vars)} (the spec's vars: {known})"


class _VarEvaluator:
    def __init__(self, document, overrides):
        self.document = document
        self.raw = dict(document.data.get("vars") or {})
        self.overridden = set()
        self.diagnostics = []
        for name, value in overrides.items():
            if name in self.raw:
                self.raw[name] = value
                self.overridden.add(name)
            else:
                location = SourceLocation(OVERRIDES_FILE, path=("vars", name))
                self.diagnostics.append(Diagnostic(_unknown_var_message(name, self.raw), location))
        self.bindings = {}
        self.failed = set()
        self.used = set()  # vars used by other vars
        self._active = []  # vars being evaluated, outermost first

    def binding(self, name):
        """The var's `Binding`, evaluating it now if needed; raises FailedValue."""
        if name in self.bindings:
            return self.bindings[name]
        if name in self.failed:
            raise FailedValue(name)
        if name in self._active:
            cycle = self._active[self._active.index(name) :] + [name]
            self._error(
                f"var '{name}' is defined in terms of itself: {' -> '.join(cycle)}",
                self._location(name),
            )
            self.failed.update(cycle)
            raise FailedValue(name)
        if len(self._active) >= MAX_VAR_CHAIN:
            chain = " -> ".join(self._active[:3])
            self._error(
                f"vars are defined through each other more than {MAX_VAR_CHAIN} deep "
                f"({chain} -> ...)",
                self._location(self._active[0]),
            )
            self.failed.update(self._active + [name])
            raise FailedValue(name)
        self._active.append(name)
        try:
            value = substitute_all(self.raw[name], _VarLookup(self))
        except ExpressionError as error:
            self._error(error.message, self._location(name, error.path, error.offset), error.hint)
            self.failed.add(name)
            raise FailedValue(name) from None
        except FailedValue:
            self.failed.add(name)
            raise
        finally:
            self._active.pop()
        detail = f"{name} (overridden)" if name in self.overridden else name
        self.bindings[name] = Binding(value, ArgumentOrigin("var", self._location(name), detail))
        return self.bindings[name]

    def _location(self, name, subpath=(), offset=0):
        path = ("vars", name) + tuple(subpath)
        if name in self.overridden:
            return SourceLocation(OVERRIDES_FILE, path=path)
        return self.document.location(path, offset)

    def _error(self, message, location, hint=None):
        self.diagnostics.append(Diagnostic(message, location, hint))


class _VarLookup:
    """Expression lookup while evaluating vars: other vars, evaluated on demand."""

    def __init__(self, evaluator):
        self.evaluator = evaluator

    def value(self, name):
        if name not in self.evaluator.raw:
            raise KeyError(name)
        self.evaluator.used.add(name)
        return self.evaluator.binding(name).value

    def names(self):
        return self.evaluator.raw.keys()
