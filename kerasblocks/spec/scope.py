"""The two kinds of names in a spec, and where each is visible.

- Values (`ValueScope`): vars, block params and loop indices, used by `$name`
  and `${expression}`. Scoping is lexical: a block body sees the vars and its
  own params, not the loop indices around the place it is used.
- Layer names (`NameScope`): what `inputs:` and `outputs:` refer to. The main
  list is one scope; each use of a block is a scope of its own, so the same
  names inside a block never clash between uses.
"""

import dataclasses

from kerasblocks.errors import Diagnostic
from kerasblocks.spec.graph import ArgumentOrigin
from kerasblocks.spec.suggest import did_you_mean


@dataclasses.dataclass(frozen=True)
class Binding:
    """A value with where it came from."""

    value: object
    origin: ArgumentOrigin


class FailedValue(Exception):
    """Raised when an expression uses a name whose own definition failed.

    That failure was reported where it happened; the use is skipped silently
    instead of adding a misleading "unknown name" error.
    """


class NeedsShape(Exception):
    """An expression reads `shape(input)` (or a value that does): known at build time."""


class ValueScope:
    """Names usable in expressions; an inner scope shadows its parent.

    shape_inputs: the names `shape(name)` may read (the expansion's view of
        the inputs and layers defined so far; supports `in` and iteration);
        their shapes are known when the model is built, so a value reading
        one is evaluated then (`graph.Deferred`).
    """

    def __init__(self, bindings=None, parent=None, failed=(), shape_inputs=None):
        self._bindings = dict(bindings or {})
        self._parent = parent
        self._failed = frozenset(failed)
        self.shape_inputs = shape_inputs if shape_inputs is not None else (
            parent.shape_inputs if parent is not None else {}
        )
        self.used = set()  # names of this scope looked up so far

    def child(self, bindings):
        return ValueScope(bindings, parent=self)

    def snapshot(self):
        """{name: value} of every visible name (inner ones win), marking none used."""
        values, scope = {}, self
        while scope is not None:
            for name, binding in scope._bindings.items():
                values.setdefault(name, binding.value)
            scope = scope._parent
        return values

    def find(self, name):
        """The `Binding` of `name`, or None; raises `FailedValue` for a failed one."""
        scope = self
        while scope is not None:  # a loop: nested repeats make long chains
            if name in scope._bindings:
                scope.used.add(name)
                return scope._bindings[name]
            if name in scope._failed:
                raise FailedValue(name)
            scope = scope._parent
        return None

    def names(self):
        names, scope = set(), self
        while scope is not None:
            names |= set(scope._bindings) | scope._failed
            scope = scope._parent
        return names

    def recorder(self):
        """A lookup for `expressions.substitute` that remembers what it used."""
        return Recorder(self)


class Recorder:
    """Lookup protocol of `expressions.substitute`, recording the bindings used."""

    def __init__(self, scope):
        self.scope = scope
        self.used = {}  # name -> Binding, in order of first use

    def value(self, name):
        binding = self.scope.find(name)
        if binding is None:
            raise KeyError(name)
        self.used.setdefault(name, binding)
        if is_deferred(binding.value):  # a param that reads a shape: so does this
            raise NeedsShape(name)
        return binding.value

    def names(self):
        return self.scope.names()

    def shape(self, name):
        if name not in self.scope.shape_inputs:
            raise KeyError(name)
        raise NeedsShape(name)

    def shape_names(self):
        return sorted(self.scope.shape_inputs)


def is_deferred(value):
    from kerasblocks.spec.graph import Deferred

    return isinstance(value, Deferred)


@dataclasses.dataclass
class _Reference:
    name: str
    location: object  # SourceLocation of the name in `inputs`/`outputs`
    consumer: object  # the node that refers, or None


class NameScope:
    """Layer and input names visible in the main list or in one block use."""

    def __init__(self, description):
        self.description = description  # e.g. "block ConvBNReLU", for messages
        self._nodes = {}  # name -> (node, SourceLocation of its definition)
        self._unresolved = []
        self._switched_off = {}  # name -> SourceLocation of the false `when`

    def switch_off(self, name, when_location):
        """Records a named layer that a false `when` left out (for messages)."""
        self._switched_off.setdefault(name, when_location)

    def switched_off_at(self, name):
        """Where the `when` that left out the layer `name` is, or None."""
        return None if name in self._nodes else self._switched_off.get(name)

    def define(self, name, node, location):
        """Adds a name; an earlier definition of the same name is kept."""
        self._nodes.setdefault(name, (node, location))

    def find(self, name):
        entry = self._nodes.get(name)
        return entry[0] if entry else None

    def defined_at(self, name):
        """The location where `name` was defined, or None."""
        entry = self._nodes.get(name)
        return entry[1] if entry else None

    def names(self):
        return set(self._nodes)

    def refer(self, name, location, consumer=None):
        """Looks a reference up now; one not found yet is judged by `finish`."""
        node = self.find(name)
        if node is None:
            self._unresolved.append(_Reference(name, location, consumer))
        return node

    def finish(self):
        """Errors for references to names defined later, or never."""
        diagnostics = []
        for reference in self._unresolved:
            entry = self._nodes.get(reference.name)
            when = self.switched_off_at(reference.name)
            if entry is None and when is not None:
                diagnostics.append(
                    Diagnostic(
                        f"layer '{reference.name}' is left out: its `when` at "
                        f"{when.line}:{when.column} is false",
                        reference.location,
                        hint="give this layer the same condition, or take another input",
                    )
                )
            elif entry is None:
                message = f"no layer or input named '{reference.name}' in {self.description}"
                message += did_you_mean(reference.name, self._nodes)
                diagnostics.append(Diagnostic(message, reference.location))
            elif entry[0] is reference.consumer:
                diagnostics.append(
                    Diagnostic(
                        f"layer '{reference.name}' takes itself as input", reference.location
                    )
                )
            else:
                defined = entry[1]
                diagnostics.append(
                    Diagnostic(
                        f"'{reference.name}' is defined later, at {defined.line}:{defined.column}; "
                        "a layer can only take earlier layers",
                        reference.location,
                    )
                )
        return diagnostics
