"""The spec's tiny expression language: `$name` and `${expression}` in text.

A string value may refer to vars, block params and loop indices:

- `$name` or `${expression}` as the whole value gives the value itself (a
  number, or whatever a var holds: a list, a string, ...);
- inside longer text they are interpolated: `"conv${stage + 1}_$i"`;
- `$$` is a literal dollar sign.

Expressions are numbers, names, `+ - * / // % **`, parentheses, unary minus and
`min(...)`, `max(...)`, with Python's precedence and meaning (`/` always gives
a float; write `//` for integer division). The evaluator is a small recursive
descent parser that computes as it reads; it never calls Python's `eval` and
never builds Python code. It bounds the expression's length and nesting, and
every result's magnitude, so `2 ** 10 ** 10` fails at once instead of running
for ever.

Values built by substitution are bounded too: a var holding a list may be used
twice in another var, and that one twice in a third, ... (`v2: [$v1, $v1]`),
which doubles the value at every step, like YAML's "billion laughs". Text and
lists that substitution builds may hold at most `MAX_VALUE_SIZE` items and
characters, nested at most `MAX_VALUE_DEPTH` deep.
"""

import math
import re

from kerasblocks.spec.suggest import did_you_mean

MAX_EXPRESSION_CHARS = 200
MAX_NESTING = 32
MAX_MAGNITUDE = 2**53  # largest integer that float64 and JSON hold exactly
MAX_VALUE_SIZE = 100_000  # items and characters, as many as the YAML reader allows
MAX_VALUE_DEPTH = 64  # nesting of lists and mappings, as for the YAML text
FUNCTIONS = {"min": min, "max": max}
_TOO_BIG_HINT = "a var that holds a list or text is copied wherever `$name` uses it"

_TOKEN_RE = re.compile(
    r"\s*(?:"
    r"(?P<number>(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<operator>\*\*|//|[-+*/%(),])"
    r")"
)
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# `$$`, `${expression}` (group 1) or `$name` (group 2), as `_split` reads them.
_REFERENCE_RE = re.compile(r"\$(?:\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_SINGLE_NAME_RE = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\})\Z")


class ExpressionError(Exception):
    """A bad expression or substitution.

    offset: index of the problem in the string.
    path: key path from the value given to `substitute_all` to that string.
    """

    def __init__(self, message, offset=0, hint=None):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint
        self.path = ()


def has_substitutions(text):
    """Whether a string needs `substitute` (it contains a `$`)."""
    return isinstance(text, str) and "$" in text


def substitute(text, lookup):
    """Replaces the `$name` / `${expression}` parts of `text`.

    Args:
        text: str. A spec string value.
        lookup: object with `value(name)` (raising `KeyError` for unknown
            names) and `names()` (the visible names, for "did you mean").

    Returns:
        The value itself when `text` is one substitution, else the text with
        every substitution replaced by its value's text.

    Raises:
        ExpressionError: with the offset of the problem in `text`.
    """
    parts = list(_split(text))
    if len(parts) == 1 and not isinstance(parts[0], str):
        return _evaluate_part(parts[0], lookup)
    pieces = []
    length = 0
    for part in parts:
        piece = part if isinstance(part, str) else _as_text(_evaluate_part(part, lookup), part[1])
        length += len(piece)
        if length > MAX_VALUE_SIZE:  # before joining: the text would fill the memory
            raise ExpressionError(
                f"the text would be more than {MAX_VALUE_SIZE} characters long", 0, _TOO_BIG_HINT
            )
        pieces.append(piece)
    return "".join(pieces)


def substitute_all(value, lookup):
    """`substitute` applied to every string in `value`, inside lists and mappings too.

    Mapping keys are left alone. An `ExpressionError` carries the key path of
    the string it came from in `.path`. A list or mapping that holds
    substitutions is checked against `MAX_VALUE_SIZE` and `MAX_VALUE_DEPTH`
    (the values that one `$name` gives were checked when they were made).
    """
    result = _substitute_all(value, lookup)
    if isinstance(value, (list, dict)) and _holds_substitutions(value):
        check_value_size(result)
    return result


def _substitute_all(value, lookup):
    if isinstance(value, str):
        return substitute(value, lookup) if has_substitutions(value) else value
    if isinstance(value, (list, dict)):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        result = {}
        for key, item in items:
            try:
                result[key] = _substitute_all(item, lookup)
            except ExpressionError as error:
                error.path = (key,) + error.path
                raise
        return result if isinstance(value, dict) else list(result.values())
    return value


def _strings_in(value):
    """Yields the strings in `value`: itself, its list items and mapping values, at any depth."""
    pending = [value]
    while pending:  # without recursion: values may be deeply nested
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            yield item


def _holds_substitutions(value):
    return any(has_substitutions(text) for text in _strings_in(value))


def names_mentioned(value):
    """The names that the `$name` and `${...}` parts of the strings in `value` mention.

    Read by a pattern, without evaluating anything: function names count too,
    and a bad substitution just mentions fewer names. For ordering only.
    """
    names = []
    for text in _strings_in(value):
        if has_substitutions(text):
            for expression, name in _REFERENCE_RE.findall(text):
                names.extend([name] if name else _NAME_RE.findall(expression))
    return names


def check_value_size(value):
    """Raises `ExpressionError` if `value` exceeds `MAX_VALUE_SIZE` or `MAX_VALUE_DEPTH`.

    Shared parts count every time they appear (that is what they cost when the
    value is printed, copied or saved); counting stops at the bound.
    """
    size = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_VALUE_DEPTH:
            raise ExpressionError(
                f"the value is nested more than {MAX_VALUE_DEPTH} levels deep", 0, _TOO_BIG_HINT
            )
        size += 1 + (len(item) if isinstance(item, str) else 0)
        if size > MAX_VALUE_SIZE:
            raise ExpressionError(
                f"the value expands to more than {MAX_VALUE_SIZE} items and characters",
                0,
                _TOO_BIG_HINT,
            )
        if isinstance(item, dict):
            pending.extend((inner, depth + 1) for inner in item.values())
        elif isinstance(item, list):
            pending.extend((inner, depth + 1) for inner in item)


def single_name(text):
    """The name if `text` is exactly `$name` or `${name}`, else None."""
    match = _SINGLE_NAME_RE.match(text) if isinstance(text, str) else None
    return match and (match.group(1) or match.group(2))


def evaluate(expression, lookup, offset=0):
    """Evaluates one expression (the text inside `${...}`); see `substitute`."""
    return _Evaluator(expression, lookup, offset).run()


def _split(text):
    """Yields literal text (str) and substitutions as (expression, offset)."""
    literal = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "$":
            literal.append(char)
            index += 1
            continue
        following = text[index + 1 : index + 2]
        if following == "$":
            literal.append("$")
            index += 2
            continue
        if following == "{":
            end = text.find("}", index + 2)
            if end < 0:
                raise ExpressionError("'${' is not closed by '}'", index)
            part = (text[index + 2 : end], index + 2)
            index = end + 1
        else:
            match = _NAME_RE.match(text, index + 1)
            if match is None:
                raise ExpressionError(
                    "'$' must start a name or '${expression}'",
                    index,
                    hint="write '$$' for a literal dollar sign",
                )
            part = (match.group(), index + 1)
            index = match.end()
        if literal:
            yield "".join(literal)
            literal = []
        yield part
    if literal:
        yield "".join(literal)


def _evaluate_part(part, lookup):
    expression, offset = part
    return evaluate(expression, lookup, offset)


def _as_text(value, offset):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ExpressionError(
        f"a {type(value).__name__} cannot be put inside text; "
        "use the substitution as the whole value",
        offset,
    )


class _Evaluator:
    """Recursive descent over the tokens of one expression, computing as it goes.

    Grammar (Python's precedence):
        sum     := product (("+" | "-") product)*
        product := unary (("*" | "/" | "//" | "%") unary)*
        unary   := ("-" | "+") unary | power
        power   := atom ("**" unary)?
        atom    := NUMBER | NAME | NAME "(" sum ("," sum)* ")" | "(" sum ")"
    """

    def __init__(self, text, lookup, offset):
        self.text = text
        self.lookup = lookup
        self.offset = offset  # of `text` in the whole string, for error columns
        self.tokens = self._tokenize()
        self.position = 0
        self.nesting = 0

    def run(self):
        if len(self.text) > MAX_EXPRESSION_CHARS:
            raise ExpressionError(
                f"expression is {len(self.text)} characters long; "
                f"the limit is {MAX_EXPRESSION_CHARS}",
                self.offset,
            )
        if not self.tokens:
            raise ExpressionError("empty expression", self.offset)
        value = self._sum()
        if self.position < len(self.tokens):
            kind, text, at = self.tokens[self.position]
            raise ExpressionError(f"unexpected '{text}' in expression", at)
        return value

    def _tokenize(self):
        tokens = []
        index = 0
        stripped_end = len(self.text.rstrip())
        while index < stripped_end:
            match = _TOKEN_RE.match(self.text, index)
            if match is None or match.end() == index:
                at = index + len(self.text[index:]) - len(self.text[index:].lstrip())
                raise ExpressionError(
                    f"unexpected character '{self.text[at]}' in expression", self.offset + at
                )
            kind = match.lastgroup
            tokens.append((kind, match.group(kind), self.offset + match.start(kind)))
            index = match.end()
        return tokens

    def _peek(self):
        if self.position < len(self.tokens):
            return self.tokens[self.position]
        return (None, None, self.offset + len(self.text))

    def _take(self, *operators):
        kind, text, _ = self._peek()
        if kind == "operator" and text in operators:
            self.position += 1
            return text
        return None

    def _expect(self, operator):
        if self._take(operator) is None:
            _, text, at = self._peek()
            found = f"'{text}'" if text is not None else "the end"
            raise ExpressionError(f"expected '{operator}' but found {found}", at)

    def _sum(self):
        value = self._product()
        while True:
            at = self._peek()[2]
            operator = self._take("+", "-")
            if operator is None:
                return value
            value = _apply(operator, value, self._product(), at)

    def _product(self):
        value = self._unary()
        while True:
            at = self._peek()[2]
            operator = self._take("*", "/", "//", "%")
            if operator is None:
                return value
            value = _apply(operator, value, self._unary(), at)

    def _unary(self):
        at = self._peek()[2]
        operator = self._take("-", "+")
        if operator is None:
            return self._power()
        with _Nested(self, at):
            operand = _number(self._unary(), operator, at)
        return -operand if operator == "-" else operand

    def _power(self):
        base = self._atom()
        at = self._peek()[2]
        if self._take("**") is None:
            return base
        with _Nested(self, at):
            exponent = self._unary()
        return _apply("**", base, exponent, at)

    def _atom(self):
        kind, text, at = self._peek()
        if kind == "number":
            self.position += 1
            return _checked(float(text) if re.search(r"[.eE]", text) else int(text), at)
        if kind == "name":
            self.position += 1
            if self._peek()[1] == "(":
                return self._call(text, at)
            return self._name(text, at)
        if text == "(":
            self.position += 1
            with _Nested(self, at):
                value = self._sum()
            self._expect(")")
            return value
        found = f"'{text}'" if text is not None else "the end"
        raise ExpressionError(f"expected a number, a name or '(' but found {found}", at)

    def _name(self, name, at):
        try:
            return self.lookup.value(name)
        except KeyError:
            pass
        suggestion = did_you_mean(name, self.lookup.names())
        raise ExpressionError(f"unknown name '{name}'{suggestion}", at)

    def _call(self, name, at):
        function = FUNCTIONS.get(name)
        if function is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(f"unknown function '{name}'; expressions know {known}", at)
        self._expect("(")
        arguments = []
        with _Nested(self, at):
            arguments.append(_number(self._sum(), name, at))
            while self._take(","):
                arguments.append(_number(self._sum(), name, at))
        self._expect(")")
        return function(arguments)


class _Nested:
    """Counts nesting depth (parentheses, unary signs, powers) against the bound."""

    def __init__(self, evaluator, at):
        self.evaluator = evaluator
        self.at = at

    def __enter__(self):
        self.evaluator.nesting += 1
        if self.evaluator.nesting > MAX_NESTING:
            raise ExpressionError(
                f"expression is nested more than {MAX_NESTING} levels deep", self.at
            )

    def __exit__(self, *exc_info):
        self.evaluator.nesting -= 1


def _number(value, operator, at):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = repr(value) if not isinstance(value, str) else f"'{value}'"
        raise ExpressionError(
            f"'{operator}' needs numbers, got the {type(value).__name__} {shown}", at
        )
    return value


def _apply(operator, left, right, at):
    left = _number(left, operator, at)
    right = _number(right, operator, at)
    if operator in ("/", "//", "%") and right == 0:
        raise ExpressionError(f"division by zero in '{operator}'", at)
    if operator == "**":
        _check_power(left, right, at)
    try:
        result = {
            "+": lambda: left + right,
            "-": lambda: left - right,
            "*": lambda: left * right,
            "/": lambda: left / right,
            "//": lambda: left // right,
            "%": lambda: left % right,
            "**": lambda: left**right,
        }[operator]()
    except (OverflowError, ZeroDivisionError) as error:
        raise ExpressionError(f"'{operator}' failed: {error}", at) from None
    if isinstance(result, complex):
        raise ExpressionError("a negative number to a fractional power is not a real number", at)
    return _checked(result, at)


def _check_power(base, exponent, at):
    """Refuses a power whose result would exceed the bound, before computing it."""
    if abs(base) <= 1 or exponent <= 0:
        return
    if exponent * math.log2(abs(base)) > math.log2(MAX_MAGNITUDE) + 1:
        raise ExpressionError(too_large_message(), at)


def _checked(value, at):
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError("the result is not a finite number", at)
    if abs(value) > MAX_MAGNITUDE:
        raise ExpressionError(too_large_message(), at)
    return value


def too_large_message(subject="the result"):
    """Says that `subject` exceeds `MAX_MAGNITUDE` (shared with the YAML reader)."""
    return f"{subject} is too large (the limit is 2**53 = {MAX_MAGNITUDE} in magnitude)"
