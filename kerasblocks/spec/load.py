"""Reading a spec: a path, a shipped spec name, or YAML text -> `Spec`.

Shipped specs live in the `specs/` folder at the top of the kerasblocks source
tree (next to the `kerasblocks` package folder): `load_spec("vgg16")` reads
`specs/vgg16.yaml`. An installed wheel carries them as data files in
`<prefix>/share/kerasblocks/specs` (see pyproject.toml), used when there is no
source tree.
"""

import dataclasses
import os
import re
import sys
from pathlib import Path

from kerasblocks.errors import SourceLocation, SpecError
from kerasblocks.spec.parse import MAX_TEXT_CHARS, Document, parse_yaml


def _shipped_specs_dir():
    """The source tree's `specs/` folder, else where a wheel installs them."""
    source_tree = Path(__file__).resolve().parents[2] / "specs"
    if source_tree.is_dir():
        return source_tree
    return Path(sys.prefix) / "share" / "kerasblocks" / "specs"  # an installed wheel


SHIPPED_SPECS_DIR = _shipped_specs_dir()
_SPEC_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")


@dataclasses.dataclass(frozen=True)
class Spec:
    """A parsed spec, not yet checked beyond YAML syntax.

    text: the YAML text as read.
    file: display name used in messages (the path as given, or "<spec>").
    document: `kerasblocks.spec.parse.Document`: data plus positions.
    path: the file read, or None for text.
    """

    text: str
    file: str
    document: Document
    path: Path | None = None

    @property
    def data(self):
        """The parsed YAML as plain Python data."""
        return self.document.data

    @property
    def name(self):
        """The spec's `name`, else the file's stem, else "spec"."""
        data = self.document.data
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            return data["name"]
        return self.path.stem if self.path else "spec"


def load_spec(source, *, file=None):
    """Reads and parses a spec.

    Args:
        source: a path (str or `os.PathLike`) to a YAML file; the name of a
            shipped spec ("vgg16" -> specs/vgg16.yaml); YAML text (a str with
            a newline); or a `Spec`, returned as is.
        file: display name for messages; defaults to the path, the shipped
            spec's path, or "<spec>" for text.

    Returns:
        A `Spec`.

    Raises:
        SpecError: no such file or shipped spec, a file that is not UTF-8 or
            too large, or YAML that does not parse (located).
    """
    if isinstance(source, Spec):
        return source
    if isinstance(source, str) and "\n" in source:
        return _from_text(source, file or "<spec>", None)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"load_spec takes a path, a spec name or YAML text, not {type(source).__name__}"
        )
    path, display_name = _find(source)
    return _from_text(_read(path), file or display_name, path)


def shipped_spec_names():
    """Names of the specs in the shipped `specs/` folder (empty if absent)."""
    if not SHIPPED_SPECS_DIR.is_dir():
        return []
    return sorted(path.stem for path in SHIPPED_SPECS_DIR.glob("*.yaml"))


def _find(source):
    """Returns (path to read, name to show in messages)."""
    path = Path(source)
    if path.is_file():
        return path, os.fspath(source)
    name = os.fspath(source)
    if _SPEC_NAME_RE.match(name):
        shipped = SHIPPED_SPECS_DIR / f"{name}.yaml"
        if shipped.is_file():
            return shipped, str(shipped)
    names = ", ".join(shipped_spec_names()) or "none found"
    raise SpecError(
        f"no spec file '{name}' and no shipped spec of that name",
        SourceLocation(name),
        hint=f"shipped specs: {names}",
    )


def _read(path):
    if path.stat().st_size > MAX_TEXT_CHARS * 4:  # cheap bound before reading
        raise SpecError(f"{path} is too large for a spec", SourceLocation(str(path)))
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(
            f"the file is not UTF-8 text ({error.reason})", SourceLocation(str(path))
        ) from None


def _from_text(text, file, path):
    return Spec(text=text, file=file, document=parse_yaml(text, file), path=path)
