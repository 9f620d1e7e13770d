"""Protocol Buffers text format, as Caffe writes it -> messages with positions.

Caffe's `.prototxt` files are `caffe.NetParameter` messages in protobuf's text
format. Reading them with `google.protobuf.text_format` needs the compiled
`caffe.proto` descriptors, which only a Caffe installation has; this module
reads the syntax alone, without a schema, and keeps the line and column of
every field so that the Caffe importer can point at the text to fix.

The accepted syntax, a strict subset of what protobuf's own parser takes:

    name: "AlexNet"                     # a scalar field: `key: value`
    layer {                             # a message field: `key { ... }`,
      convolution_param: {              #   `key: { ... }` or `key < ... >`
        kernel_size: 11  stride: 4      # fields may share a line; `,` or `;`
        weight_filler { type: "gaussian" std: 0.01 }   # may end a field
      }
      include { phase: TEST }           # enum values are identifiers
      dim: [1, 3, 227, 227]             # a repeated field in list form
    }

Values: integers (decimal, `0x` hex, `0` octal), floats (`1e-4`, `.5`,
`1.0f`, `inf`, `-nan`), strings in single or double quotes with C escapes
(adjacent strings are joined), and identifiers (enum values, `true`,
`false`). Comments run from `#` to the end of the line. Extension fields
(`[pkg.ext] { ... }`) and `Any` expansions are refused.

A repeated field is simply a field name that occurs more than once; which
fields may repeat, and the types of values, are the reader's business
(`kerasblocks.interop.caffe`), since this parser has no schema.
"""

import bisect
import dataclasses
import re

from kerasblocks.errors import SourceLocation, SpecError

# Bounds: a real net definition is a few hundred kilobytes (weights live in the
# binary .caffemodel, not here) and nests messages four or five deep.
MAX_TEXT_CHARS = 10_000_000
MAX_DEPTH = 100

_CLOSING = {"{": "}", "<": ">"}
_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "?": "?", "'": "'", '"': '"',
}
_TOKEN_RE = re.compile(
    r"""
    (?P<space>[ \t\r\n\f\v]+|\#[^\n]*)
    |(?P<identifier>-?[A-Za-z_][A-Za-z0-9_]*)
    |(?P<number>-?(?:0[xX][0-9A-Fa-f]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?[fF]?)
        [A-Za-z0-9_.]*)
    |(?P<string>["'])
    |(?P<punctuation>[{}<>\[\]:,;])
    """,
    re.VERBOSE,
)
_INTEGER_RE = re.compile(r"-?(?:0[xX][0-9A-Fa-f]+|0[0-7]*|[1-9][0-9]*)\Z")
_FLOAT_RE = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?[fF]?\Z")


@dataclasses.dataclass(frozen=True)
class Field:
    """One `name: value` or `name { ... }` as written.

    Attributes:
        name: the field name.
        value: a `Message` for a message field; else an `int`, a `float`, or
            a `str` (the text of a string, or an identifier such as `MAX`).
        kind: `"message"`, `"integer"`, `"float"`, `"string"` or
            `"identifier"`.
        location: where the field name is written.
        value_location: where the value starts (the `{` of a message).
    """

    name: str
    value: object
    kind: str
    location: SourceLocation
    value_location: SourceLocation

    @property
    def text(self):
        """The value as it reads in a message: `"conv1"`, `MAX`, `96`."""
        if self.kind == "string":
            return '"' + self.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if self.kind == "message":
            return "{ ... }"
        return str(self.value)


@dataclasses.dataclass(frozen=True)
class Message:
    """A message body: its fields in the order written.

    Attributes:
        fields: tuple of `Field`.
        location: where the message starts (its `{`, or the start of the text
            for the top-level message).
    """

    fields: tuple
    location: SourceLocation

    def all(self, name):
        """Every field called `name`, in order (a repeated field's values)."""
        return [field for field in self.fields if field.name == name]

    def names(self):
        """The distinct field names, in the order they first occur."""
        return list(dict.fromkeys(field.name for field in self.fields))


def parse_prototxt(text, file="<prototxt>"):
    """Parses protobuf text format into a `Message` with positions.

    Args:
        text: the prototxt text.
        file: the name shown in error messages.

    Returns:
        The top-level `Message`.

    Raises:
        SpecError: a syntax error, at its line and column, or text over
            `MAX_TEXT_CHARS` characters.
    """
    if len(text) > MAX_TEXT_CHARS:
        raise SpecError(
            f"the prototxt is too large ({len(text):,} characters; at most "
            f"{MAX_TEXT_CHARS:,})",
            SourceLocation(file),
        )
    return _Parser(text, file).parse()


@dataclasses.dataclass(frozen=True)
class _Token:
    kind: str  # identifier, integer, float, string, punctuation, end
    text: str  # as written (for strings: the quote character)
    value: object
    offset: int


class _Parser:
    """Recursive descent over a token stream; one token of look-ahead."""

    def __init__(self, text, file):
        self._text = text
        self._file = file
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._offset = 0
        self._next = self._scan()

    def parse(self):
        fields = self._body(opening=None, depth=0)
        return Message(tuple(fields), self._location(0))

    # --- grammar ---------------------------------------------------------

    def _body(self, opening, depth):
        """Fields up to the closing bracket of `opening` (or the end)."""
        fields = []
        while True:
            token = self._take()
            if token.kind == "end":
                if opening is not None:
                    raise self._error(
                        f"'{opening.text}' is never closed: the text ends before "
                        f"its '{_CLOSING[opening.text]}'",
                        opening.offset,
                        hint=f"add the missing '{_CLOSING[opening.text]}' (a brace "
                        "left open earlier swallows the messages after it)",
                    )
                return fields
            if opening is not None and token.text == _CLOSING[opening.text] and (
                token.kind == "punctuation"
            ):
                return fields
            if token.kind == "punctuation" and token.text in "}>":
                raise self._error(f"unexpected '{token.text}': no message is open here", token)
            if token.kind == "punctuation" and token.text == "[":
                raise self._error(
                    "extension fields ('[name]') are not supported in Caffe net definitions",
                    token,
                )
            if token.kind != "identifier" or token.text.startswith("-"):
                raise self._error(f"expected a field name, found {_describe(token)}", token)
            fields.extend(self._field(token, depth))
            separator = self._peek()
            if separator.kind == "punctuation" and separator.text in ",;":
                self._take()

    def _field(self, name, depth):
        """The value(s) after a field name: one `Field`, or several for `[...]`."""
        after = self._peek()
        if after.kind == "punctuation" and after.text in "{<":
            return [self._message_field(name, depth)]
        if not (after.kind == "punctuation" and after.text == ":"):
            raise self._error(
                f"expected ':' or '{{' after '{name.text}', found {_describe(after)}", after
            )
        self._take()
        value = self._peek()
        if value.kind == "punctuation" and value.text in "{<":
            return [self._message_field(name, depth)]
        if value.kind == "punctuation" and value.text == "[":
            return self._list(name, depth)
        return [self._scalar_field(name)]

    def _list(self, name, depth):
        """`name: [v1, v2]` -> one field per item (a repeated field)."""
        opening = self._take()
        fields = []
        while True:
            token = self._peek()
            if token.kind == "punctuation" and token.text == "]" and not fields:
                self._take()
                return fields
            if token.kind == "end":
                raise self._error(
                    "'[' is never closed: the text ends before its ']'", opening
                )
            if token.kind == "punctuation" and token.text in "{<":
                fields.append(self._message_field(name, depth))
            else:
                fields.append(self._scalar_field(name))
            token = self._take()
            if token.kind == "punctuation" and token.text == "]":
                return fields
            if not (token.kind == "punctuation" and token.text == ","):
                raise self._error(
                    f"expected ',' or ']' in the list of '{name.text}', found "
                    f"{_describe(token)}",
                    token,
                )

    def _message_field(self, name, depth):
        opening = self._take()
        if depth + 1 > MAX_DEPTH:
            raise self._error(f"messages nest more than {MAX_DEPTH} deep", opening)
        body = self._body(opening, depth + 1)
        location = self._location(opening.offset)
        return Field(
            name.text,
            Message(tuple(body), location),
            "message",
            self._location(name.offset),
            location,
        )

    def _scalar_field(self, name):
        token = self._take()
        if token.kind not in ("identifier", "integer", "float", "string"):
            raise self._error(
                f"expected a value for '{name.text}', found {_describe(token)}", token
            )
        value = token.value
        if token.kind == "string":  # "a" "b" is "ab", as in C
            while self._peek().kind == "string":
                value += self._take().value
        return Field(
            name.text,
            value,
            token.kind,
            self._location(name.offset),
            self._location(token.offset),
        )

    # --- tokens ----------------------------------------------------------

    def _peek(self):
        return self._next

    def _take(self):
        token = self._next
        if token.kind != "end":
            self._next = self._scan()
        return token

    def _scan(self):
        """The next token after `self._offset`, skipping spaces and comments."""
        text = self._text
        while True:
            start = self._offset
            if start >= len(text):
                return _Token("end", "", None, start)
            match = _TOKEN_RE.match(text, start)
            if match is None:
                raise self._error(f"unexpected character {text[start]!r}", start)
            kind = match.lastgroup
            if kind == "space":
                self._offset = match.end()
                continue
            if kind == "string":
                return self._string(start)
            self._offset = match.end()
            word = match.group()
            if kind == "number":
                return self._number(word, start)
            return _Token(kind, word, word, start)

    def _number(self, word, start):
        if _INTEGER_RE.match(word):
            digits = word.lstrip("-")
            if digits[:2] in ("0x", "0X"):
                value = int(digits, 16)
            elif len(digits) > 1 and digits.startswith("0"):
                value = int(digits, 8)  # protobuf reads a leading 0 as octal
            else:
                value = int(digits)
            return _Token("integer", word, -value if word.startswith("-") else value, start)
        if _FLOAT_RE.match(word):
            return _Token("float", word, float(word.rstrip("fF")), start)
        raise self._error(f"invalid number '{word}'", start)

    def _string(self, start):
        """A quoted string with C escapes; ends at the same quote, on the same line."""
        text = self._text
        quote = text[start]
        chars = []
        position = start + 1
        while True:
            if position >= len(text) or text[position] == "\n":
                raise self._error(
                    f"unterminated string: it needs a closing {quote} on the same line",
                    start,
                )
            char = text[position]
            if char == quote:
                self._offset = position + 1
                return _Token("string", quote, "".join(chars), start)
            if char != "\\":
                chars.append(char)
                position += 1
                continue
            escape = text[position + 1 : position + 2]
            if escape in _ESCAPES:
                chars.append(_ESCAPES[escape])
                position += 2
            elif escape in ("x", "X"):
                digits = re.match(r"[0-9A-Fa-f]{1,2}", text[position + 2 : position + 4])
                if digits is None:
                    raise self._error("'\\x' must be followed by hex digits", position)
                chars.append(chr(int(digits.group(), 16)))
                position += 2 + digits.end()
            elif escape.isdigit() and escape < "8":
                digits = re.match(r"[0-7]{1,3}", text[position + 1 : position + 4])
                chars.append(chr(int(digits.group(), 8)))
                position += 1 + digits.end()
            else:
                raise self._error(f"unknown escape '\\{escape}' in a string", position)

    # --- positions and errors ----------------------------------------------

    def _location(self, offset):
        line = bisect.bisect_right(self._line_starts, offset)
        column = offset - self._line_starts[line - 1] + 1
        return SourceLocation(self._file, line, column)

    def _error(self, message, where, hint=None):
        offset = where.offset if isinstance(where, _Token) else where
        return SpecError(message, self._location(offset), hint=hint)


def _describe(token):
    if token.kind == "end":
        return "the end of the text"
    if token.kind == "string":
        return "a string"
    return f"'{token.text}'"
