"""The user-facing exceptions: `SpecError` for bad specs, `UsageError` for the rest.

A spec error points at the text the user wrote: file, line and column (1-based),
the key path inside the document, a message and a hint. One `SpecError` carries
every problem found in a file (`diagnostics`), so a user fixes them in one go;
its own attributes describe the first one.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class SourceLocation:
    """Where a value was written: file, 1-based line and column, key path."""

    file: str = "<spec>"
    line: int | None = None
    column: int | None = None
    path: tuple = ()

    def __str__(self):
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    @property
    def key_path(self):
        """The key path as text, e.g. `layers[3].Conv2D.filters`."""
        return format_key_path(self.path)


def format_key_path(path):
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += f".{key}" if text else str(key)
    return text


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """One problem in a spec: an error or a warning."""

    message: str
    location: SourceLocation = SourceLocation()
    hint: str | None = None
    severity: str = "error"  # "error" or "warning"

    def __str__(self):
        text = f"{self.location}: {self.severity}: {self.message}"
        if self.location.path:
            text += f" (at {self.location.key_path})"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class SpecError(ValueError):
    """An invalid spec, with the position of every problem found.

    Attributes:
        diagnostics: list of `Diagnostic`, in file order; never empty.
        file, line, column, path, hint: those of the first diagnostic.
    """

    def __init__(self, message_or_diagnostics, location=None, hint=None):
        if isinstance(message_or_diagnostics, str):
            diagnostics = [
                Diagnostic(message_or_diagnostics, location or SourceLocation(), hint)
            ]
        else:
            diagnostics = list(message_or_diagnostics)
            if not diagnostics:
                raise TypeError("SpecError needs at least one diagnostic")
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))

    @property
    def first(self):
        return self.diagnostics[0]

    @property
    def message(self):
        return self.first.message

    @property
    def file(self):
        return self.first.location.file

    @property
    def line(self):
        return self.first.location.line

    @property
    def column(self):
        return self.first.location.column

    @property
    def path(self):
        return self.first.location.path

    @property
    def hint(self):
        return self.first.hint


class UsageError(ValueError):
    """A user-facing problem that has no place in a spec to point at.

    For example a model with unregistered custom layers given to `to_spec`,
    Graphviz missing for `plot`, or an export format that cannot hold a
    layer. The message says what is wrong and what to do; the CLI prints it
    and exits with 2. Problems located in a text file (a spec, a prototxt)
    are `SpecError`s instead.
    """
