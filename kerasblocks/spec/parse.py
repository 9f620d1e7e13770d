"""YAML text -> plain data plus the position of every value (safe loading only).

PyYAML's composer turns text into nodes that know their line and column; this
module turns those nodes into plain Python data (dict, list, str, int, float,
bool, None) and records, for every key path, where its key and its value were
written. No PyYAML constructor runs, so no tag can create a Python object.

Differences from `yaml.safe_load`, all deliberate:
- Scalars follow the YAML 1.2 core schema: `1e-4` is a float (PyYAML 1.1 reads
  a string), `yes`/`no`/`on`/`off` are strings, not booleans.
- Mapping keys are always strings (the key's text); duplicate keys are errors.
- Only the standard tags `!!str !!int !!float !!bool !!null !!seq !!map` are
  allowed; merge keys (`<<`) are refused: specs have `defaults` and `blocks`.
- Bounds: text size, nesting depth, the number of values after alias
  expansion (a "billion laughs" document is refused, located) and the size of
  integers (2**53 in magnitude, as for expression results).
"""

import dataclasses
import math
import re

import yaml

from kerasblocks.errors import Diagnostic, SourceLocation, SpecError
from kerasblocks.spec.expressions import MAX_MAGNITUDE, too_large_message

MAX_TEXT_CHARS = 1_000_000
MAX_DEPTH = 64
MAX_VALUES = 100_000
# Longer integer literals are refused before `int()` reads them (Python itself
# refuses more than 4300 digits); 2**53 has 16.
_MAX_INTEGER_DIGITS = 20

_YAML_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL, _SEQ, _MAP = (
    _YAML_TAG + name for name in ("str", "int", "float", "bool", "null", "seq", "map")
)

_NULL_RE = re.compile(r"(?:~|null|Null|NULL|)\Z")
_BOOL_RE = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
_INT_RE = re.compile(r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
_FLOAT_RE = re.compile(
    r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)\Z"
)


class _CoreSchemaResolver(yaml.resolver.BaseResolver):
    """Resolves plain scalars by the YAML 1.2 core schema (ints before floats)."""


for _tag, _pattern in ((_NULL, _NULL_RE), (_BOOL, _BOOL_RE), (_INT, _INT_RE), (_FLOAT, _FLOAT_RE)):
    _CoreSchemaResolver.add_implicit_resolver(_tag, _pattern, None)


class _TooDeep(Exception):
    def __init__(self, mark):
        self.mark = mark


class _Composer(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _CoreSchemaResolver,
):
    """PyYAML's composer with a depth bound (its recursion would overflow)."""

    def __init__(self, text):
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _CoreSchemaResolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


@dataclasses.dataclass(frozen=True)
class _Position:
    """Where a value (and, for a mapping value, its key) starts; 0-based."""

    line: int
    column: int
    key_line: int | None = None
    key_column: int | None = None
    # Columns from the value's start to its text: 1 for a quoted one-line
    # scalar, 0 for a plain one, None when offsets are meaningless (multi-line).
    text_offset: int | None = 0


@dataclasses.dataclass(frozen=True)
class Document:
    """A parsed spec: plain data and where each key path was written.

    Key paths are tuples of mapping keys (str) and list indexes (int), e.g.
    `("layers", 3, "Conv2D", "filters")`; `()` is the root.
    """

    data: object
    file: str
    positions: dict

    def location(self, path, offset=0):
        """Where the value at `path` is written; `offset` moves along its text.

        The offset (characters into a one-line scalar) lets an error inside an
        expression point at the offending character. Unknown paths fall back
        to their nearest recorded parent.
        """
        path = tuple(path)
        position, known = self._position(path)
        line, column = position.line, position.column
        if known and offset and position.text_offset is not None:
            column += position.text_offset + offset
        return SourceLocation(self.file, line + 1, column + 1, path)

    def key_location(self, path):
        """Where the key of the mapping value at `path` is written."""
        path = tuple(path)
        position, _ = self._position(path)
        if position.key_line is None:
            return self.location(path)
        return SourceLocation(self.file, position.key_line + 1, position.key_column + 1, path)

    def _position(self, path):
        for end in range(len(path), -1, -1):
            position = self.positions.get(path[:end])
            if position is not None:
                return position, end == len(path)
        return _Position(0, 0), False


def parse_yaml(text, file="<spec>"):
    """Parses spec text into a `Document`; raises `SpecError` located in the text."""
    if len(text) > MAX_TEXT_CHARS:
        raise SpecError(
            f"the spec is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}",
            SourceLocation(file, 1, 1),
        )
    composer = None
    try:
        composer = _Composer(text)
        root = composer.get_single_node()
    except _TooDeep as error:
        raise SpecError(
            f"values are nested more than {MAX_DEPTH} levels deep",
            _mark_location(file, error.mark),
        ) from None
    except yaml.MarkedYAMLError as error:
        raise SpecError(
            _yaml_error_message(error),
            _mark_location(file, error.problem_mark),
            _yaml_error_hint(error),
        ) from None
    except yaml.reader.ReaderError as error:  # a bad character; has no mark
        raise SpecError(
            f"character #x{error.character:04x} is not allowed in YAML text",
            _reader_error_location(file, text, error.position),
        ) from None
    finally:
        if composer is not None:
            composer.dispose()
    if root is None:
        raise SpecError("the spec is empty", SourceLocation(file, 1, 1))
    converter = _NodeConverter(file)
    data = converter.convert(root, ())
    if converter.diagnostics:
        raise SpecError(converter.diagnostics)
    return Document(data, file, converter.positions)


def parse_value(text, file="<value>"):
    """Parses one YAML value (as given to `--set name=value`) into plain data."""
    if not text.strip():
        return None
    return parse_yaml(text, file).data


class _NodeConverter:
    """Turns composed nodes into plain data, recording positions and problems."""

    def __init__(self, file):
        self.file = file
        self.positions = {}
        self.diagnostics = []
        self._values = 0
        self._active = set()  # ids of nodes being converted, to catch alias loops

    def convert(self, node, path, key_node=None):
        self._record(node, path, key_node)
        self._values += 1
        if self._values > MAX_VALUES:
            raise SpecError(
                f"the spec expands to more than {MAX_VALUES} values; "
                "aliases (*name) may be nested to blow it up",
                self._location(node, path),
            )
        if id(node) in self._active:
            raise SpecError(
                "an alias refers to a value that contains it", self._location(node, path)
            )
        if len(path) > MAX_DEPTH:
            raise SpecError(
                f"values are nested more than {MAX_DEPTH} levels deep", self._location(node, path)
            )
        if not self._check_tag(node, path):
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return [
                    self.convert(item, path + (index,)) for index, item in enumerate(node.value)
                ]
            return self._scalar(node, path)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node, path):
        result = {}
        first_seen = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._error(
                    "mapping keys must be plain text, not lists or mappings", key_node, path
                )
                continue
            if not self._check_tag(key_node, path):  # `? !!python/name:os.system`, ...
                continue
            key = key_node.value
            if key == "<<" and key_node.style is None:
                self._error(
                    "YAML merge keys ('<<') are not supported",
                    key_node,
                    path,
                    hint="use `defaults` for shared arguments or `blocks` for shared layers",
                )
                continue
            if key in first_seen:
                first = first_seen[key]
                self._error(
                    f"duplicate key '{key}' (first written at "
                    f"{first.line + 1}:{first.column + 1})",
                    key_node,
                    path + (key,),
                )
                continue
            first_seen[key] = key_node.start_mark
            result[key] = self.convert(value_node, path + (key,), key_node)
        return result

    def _scalar(self, node, path):
        text = node.value
        if node.tag == _STR:
            return text
        if node.tag == _NULL and _NULL_RE.match(text):
            return None
        if node.tag == _BOOL and _BOOL_RE.match(text):
            return text.lower() == "true"
        if node.tag == _INT and _INT_RE.match(text):
            return self._integer(text, node, path)
        if node.tag == _FLOAT and _FLOAT_RE.match(text):
            lowered = text.lower()
            if lowered.endswith(".nan"):
                return math.nan
            if lowered.endswith(".inf"):
                return -math.inf if lowered.startswith("-") else math.inf
            return float(text)
        kind = node.tag[len(_YAML_TAG) :]
        self._error(f"'{text}' is not a valid {kind}", node, path)
        return None

    def _integer(self, text, node, path):
        digits = text.lstrip("+-")
        base = {"0x": 16, "0o": 8}.get(digits[:2], 10)
        digits = digits[2:] if base != 10 else digits
        value = None
        if len(digits.lstrip("0")) <= _MAX_INTEGER_DIGITS:
            value = int(digits, base) * (-1 if text.startswith("-") else 1)
        if value is None or abs(value) > MAX_MAGNITUDE:
            shown = text if len(text) <= 30 else f"{text[:12]}... ({len(text)} characters)"
            self._error(too_large_message(f"the integer {shown}"), node, path)
            return None
        return value

    def _check_tag(self, node, path):
        allowed = {
            yaml.ScalarNode: (_STR, _INT, _FLOAT, _BOOL, _NULL),
            yaml.SequenceNode: (_SEQ,),
            yaml.MappingNode: (_MAP,),
        }[type(node)]
        if node.tag in allowed:
            return True
        tag = node.tag.replace(_YAML_TAG, "!!")
        self._error(
            f"YAML tag '{tag}' is not allowed",
            node,
            path,
            hint="specs hold plain values only (text, numbers, booleans, null, lists, mappings)",
        )
        return False

    def _record(self, node, path, key_node):
        mark = node.start_mark
        quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
        one_line = node.end_mark.line == mark.line
        position = _Position(
            mark.line,
            mark.column,
            key_node.start_mark.line if key_node is not None else None,
            key_node.start_mark.column if key_node is not None else None,
            (1 if quoted else 0) if one_line else None,
        )
        self.positions.setdefault(path, position)

    def _location(self, node, path):
        return _mark_location(self.file, node.start_mark, path)

    def _error(self, message, node, path, hint=None):
        self.diagnostics.append(Diagnostic(message, self._location(node, path), hint))


def _mark_location(file, mark, path=()):
    if mark is None:
        return SourceLocation(file, path=path)
    return SourceLocation(file, mark.line + 1, mark.column + 1, tuple(path))


def _yaml_error_message(error):
    if error.context == "expected a single document in the stream":
        return "a spec is a single YAML document; found a second one"
    message = f"YAML syntax error: {error.problem or error.context}"
    if error.problem and error.context:
        message += f" ({error.context})"
    return message


def _yaml_error_hint(error):
    if "block" in (error.problem or "") + (error.context or ""):
        return "check the indentation of this line and of the lines above it"
    return None


def _reader_error_location(file, text, position):
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return SourceLocation(file, line, column)
