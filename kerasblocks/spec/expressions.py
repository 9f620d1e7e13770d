"""The spec's tiny expression language: `$name` and `${expression}` in text.

A string value may refer to vars, block params and loop indices:

- `$name` or `${expression}` as the whole value gives the value itself (a
  number, a boolean, or whatever a var holds: a list, a string, ...);
- inside longer text they are interpolated: `"conv${stage + 1}_$i"` (true and
  false are written `true` and `false`; lists, mappings and null cannot be);
- `$$` is a literal dollar sign;
- `$name` is always the value of the name, even one spelt like a keyword.

Expressions, loosest binding first, with Python's precedence and meaning:

    a if c else b            c must be a boolean; only the chosen branch is computed
    a or b, a and b, not a   booleans only (`${n and 2}` is an error), short-circuit
    == != < <= > >= in, not in
                             chain as in Python (`0 < i < n`); see below
    + -, * / // %, -a +a, ** arithmetic on numbers (`/` always gives a float)
    x[i], x[a:b]             index or slice a list or text; negative i counts from
                             the end; out of range is an error, as in Python
    numbers, names, (a), [a, b, ...]
    true True false False    booleans
    null None                null (YAML's null, Python's None)
    min(...) max(...)        of numbers, or of one list of numbers
    len(x)                   of a list, text or mapping
    shape(input)             the shape of an input or earlier layer, as a list ([None, 32, 3]);
                             the argument is a bare input name, not a value

Booleans are not numbers: `${(1 < 2) + 1}`, `${-true}` and `${x[true]}` are
errors, and `true == 1` is false (values of different kinds are never equal;
`1 == 1.0` is true). `==` and `!=` compare any two values; `< <= > >=` order
two numbers, two texts or two lists (lexicographically, as Python) and are an
error otherwise ("cannot compare a list with a number (`<`)"). `in` looks for
an item of a list (by `==`), a key of a mapping, or a piece of text in text.
There are no text literals, attributes, or calls other than the functions
above; `shape()` asks the lookup (see `substitute`) and is an error where the
lookup has no `shape` (in vars, say).

The evaluator is a small recursive descent parser; it never calls Python's
`eval` and never builds Python code. It reads the whole expression first (a
syntax error or an unknown name is reported even in a branch that is not
taken) into a tree of closures, then computes. It bounds the expression's
length and nesting, and every result's magnitude, so `2 ** 10 ** 10` fails at
once instead of running for ever; a list that `[...]` builds is bounded like a
substituted value (below).

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
# Words that `${...}` reads as part of the language, not as names (`$name` is always a name).
KEYWORDS = frozenset(
    {"and", "or", "not", "if", "else", "in", "true", "True", "false", "False", "null", "None"}
)
_CONSTANTS = {
    "true": True, "True": True, "false": False, "False": False, "null": None, "None": None
}
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_CHARACTER_HINTS = {
    "=": "write '==' to compare",
    "!": "write '!=' to compare, or 'not' to negate",
    "&": "write 'and'",
    "|": "write 'or'",
    "'": "expressions have no text literals; put the text in a var",
    '"': "expressions have no text literals; put the text in a var",
}
_MAX_SHOWN = 60  # characters of a value shown in a message
_TOO_BIG_HINT = "a var that holds a list or text is copied wherever `$name` uses it"

_TOKEN_RE = re.compile(
    r"\s*(?:"
    r"(?P<number>(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<operator>\*\*|//|==|!=|<=|>=|[-+*/%(),<>\[\]:])"
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
            Optionally `shape(name)`, for `shape(name)` in expressions: the
            shape of the input called `name` (a str) as a list or tuple of
            ints and Nones, raising `KeyError` for a name that is no input
            (or `ExpressionError`, whose offset is then set to the name); and
            `shape_names()`, the input names, for "did you mean". Without
            `shape`, `shape(...)` is an error.

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
    _measure(value)


def _measure(value, offset=0):
    """(size, depth) of `value` as `check_value_size` counts them; raises past a bound."""
    size = deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_VALUE_DEPTH:
            raise _too_deep(offset)
        deepest = max(deepest, depth)
        size += 1 + (len(item) if isinstance(item, str) else 0)
        if size > MAX_VALUE_SIZE:
            raise _too_big(offset)
        if isinstance(item, dict):
            pending.extend((inner, depth + 1) for inner in item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend((inner, depth + 1) for inner in item)
    return size, deepest


def _too_deep(offset):
    return ExpressionError(
        f"the value is nested more than {MAX_VALUE_DEPTH} levels deep", offset, _TOO_BIG_HINT
    )


def _too_big(offset):
    return ExpressionError(
        f"the value expands to more than {MAX_VALUE_SIZE} items and characters",
        offset,
        _TOO_BIG_HINT,
    )


def single_name(text):
    """The name if `text` is exactly `$name` or `${name}`, else None (`${true}` is no name)."""
    match = _SINGLE_NAME_RE.match(text) if isinstance(text, str) else None
    if match is None or match.group(2) in KEYWORDS:
        return None
    return match.group(1) or match.group(2)


def evaluate(expression, lookup, offset=0):
    """Evaluates one expression (the text inside `${...}`); see `substitute`."""
    return _Evaluator(expression, lookup, offset).run()


def _split(text):
    """Yields literal text (str) and substitutions as (expression, offset, is_bare_name)."""
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
            part = (text[index + 2 : end], index + 2, False)
            index = end + 1
        else:
            match = _NAME_RE.match(text, index + 1)
            if match is None:
                raise ExpressionError(
                    "'$' must start a name or '${expression}'",
                    index,
                    hint="write '$$' for a literal dollar sign",
                )
            part = (match.group(), index + 1, True)
            index = match.end()
        if literal:
            yield "".join(literal)
            literal = []
        yield part
    if literal:
        yield "".join(literal)


def _evaluate_part(part, lookup):
    expression, offset, is_bare_name = part
    if is_bare_name:  # `$name` is always the name's value, even for a var called `if`
        return lookup_value(lookup, expression, offset)
    return evaluate(expression, lookup, offset)


def _as_text(value, offset):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if value is None:
        raise ExpressionError("null cannot be put inside text", offset)
    raise ExpressionError(
        f"a {type(value).__name__} cannot be put inside text; "
        "use the substitution as the whole value",
        offset,
    )


class _Evaluator:
    """Reads one expression into a tree of closures, then computes it.

    Reading checks the syntax, the bounds on length and nesting, number
    literals and every name (so an unknown name is an error even in a branch
    that is not taken). Computing calls the closures: only the branch of
    `if`/`else` that the condition picks, and only the operands of `and`/`or`
    and of a comparison chain that decide the result, are computed.

    Grammar (Python's precedence, loosest first):
        expression  := disjunction ("if" disjunction "else" expression)?
        disjunction := conjunction ("or" conjunction)*
        conjunction := negation ("and" negation)*
        negation    := "not" negation | comparison
        comparison  := sum (COMPARE sum)*
        COMPARE     := "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in"
        sum         := product (("+" | "-") product)*
        product     := unary (("*" | "/" | "//" | "%") unary)*
        unary       := ("-" | "+") unary | power
        power       := postfix ("**" unary)?
        postfix     := atom ("[" subscript "]")*
        subscript   := expression | expression? ":" expression?
        atom        := NUMBER | CONSTANT | NAME | "(" expression ")"
                     | "[" (expression ("," expression)* ","?)? "]"
                     | FUNCTION "(" expression ("," expression)* ")"
                     | "shape" "(" NAME ")"
        CONSTANT    := "true" | "True" | "false" | "False" | "null" | "None"
        FUNCTION    := "len" | "max" | "min"
    """

    def __init__(self, text, lookup, offset):
        self.text = text
        self.lookup = lookup
        self.offset = offset  # of `text` in the whole string, for error columns
        self.position = 0
        self.nesting = 0
        self.measured = {}  # id(list or mapping) -> (the value, its size, its depth)

    def run(self):
        if len(self.text) > MAX_EXPRESSION_CHARS:
            raise ExpressionError(
                f"expression is {len(self.text)} characters long; "
                f"the limit is {MAX_EXPRESSION_CHARS}",
                self.offset,
            )
        self.tokens = self._tokenize()
        if not self.tokens:
            raise ExpressionError("empty expression", self.offset)
        compute = self._expression()
        if self.position < len(self.tokens):
            kind, text, at = self.tokens[self.position]
            raise ExpressionError(f"unexpected '{text}' in expression", at)
        return compute()

    # --- tokens -------------------------------------------------------------------

    def _tokenize(self):
        tokens = []
        index = 0
        stripped_end = len(self.text.rstrip())
        while index < stripped_end:
            match = _TOKEN_RE.match(self.text, index)
            if match is None or match.end() == index:
                at = index + len(self.text[index:]) - len(self.text[index:].lstrip())
                char = self.text[at]
                raise ExpressionError(
                    f"unexpected character '{char}' in expression",
                    self.offset + at,
                    _CHARACTER_HINTS.get(char),
                )
            kind = match.lastgroup
            tokens.append((kind, match.group(kind), self.offset + match.start(kind)))
            index = match.end()
        return tokens

    def _peek(self, ahead=0):
        if self.position + ahead < len(self.tokens):
            return self.tokens[self.position + ahead]
        return (None, None, self.offset + len(self.text))

    def _take(self, *operators):
        kind, text, _ = self._peek()
        if kind == "operator" and text in operators:
            self.position += 1
            return text
        return None

    def _take_keyword(self, keyword):
        kind, text, _ = self._peek()
        if kind == "name" and text == keyword:
            self.position += 1
            return True
        return False

    def _expect(self, operator):
        kind, text, at = self._peek()
        if text == operator and (kind == "operator" or operator in KEYWORDS):
            self.position += 1
            return
        found = f"'{text}'" if text is not None else "the end"
        raise ExpressionError(f"expected '{operator}' but found {found}", at)

    # --- grammar, loosest first -----------------------------------------------------

    def _expression(self):
        value = self._disjunction()
        at = self._peek()[2]
        if not self._take_keyword("if"):
            return value
        with _Nested(self, at):
            condition = self._disjunction()
            self._expect("else")
            other = self._expression()

        def conditional():
            return value() if _boolean(condition(), "if", at) else other()

        return conditional

    def _disjunction(self):
        return self._chain("or", self._conjunction)

    def _conjunction(self):
        return self._chain("and", self._negation)

    def _chain(self, keyword, operand):
        """`a or b or ...` / `a and b and ...`: booleans, computed until one decides."""
        first = operand()
        rest = []
        while True:
            at = self._peek()[2]
            if not self._take_keyword(keyword):
                break
            rest.append((operand(), at))
        if not rest:
            return first
        decisive = keyword == "or"  # the value that ends the chain early

        def chain():
            if _boolean(first(), keyword, rest[0][1]) == decisive:
                return decisive
            for compute, at in rest:
                if _boolean(compute(), keyword, at) == decisive:
                    return decisive
            return not decisive

        return chain

    def _negation(self):
        at = self._peek()[2]
        if not self._take_keyword("not"):
            return self._comparison()
        with _Nested(self, at):
            operand = self._negation()
        return lambda: not _boolean(operand(), "not", at)

    def _comparison(self):
        first = self._sum()
        rest = []
        while True:
            kind, text, at = self._peek()
            if kind == "operator" and text in _COMPARISONS:
                self.position += 1
                operator = text
            elif kind == "name" and text == "in":
                self.position += 1
                operator = "in"
            elif kind == "name" and text == "not" and self._peek(1)[:2] == ("name", "in"):
                self.position += 2
                operator = "not in"
            else:
                break
            rest.append((operator, self._sum(), at))
        if not rest:
            return first

        def comparison():  # Python's chaining: a < b < c is a < b and b < c
            left = first()
            for operator, compute, at in rest:
                right = compute()
                if not _compare(operator, left, right, at):
                    return False
                left = right
            return True

        return comparison

    def _sum(self):
        return self._arithmetic(("+", "-"), self._product)

    def _product(self):
        return self._arithmetic(("*", "/", "//", "%"), self._unary)

    def _arithmetic(self, operators, operand):
        first = operand()
        rest = []
        while True:
            at = self._peek()[2]
            operator = self._take(*operators)
            if operator is None:
                break
            rest.append((operator, operand(), at))
        if not rest:
            return first

        def arithmetic():  # left to right, in a loop: long sums nest no calls
            value = first()
            for operator, compute, at in rest:
                value = _apply(operator, value, compute(), at)
            return value

        return arithmetic

    def _unary(self):
        at = self._peek()[2]
        operator = self._take("-", "+")
        if operator is None:
            return self._power()
        with _Nested(self, at):
            operand = self._unary()
        if operator == "-":
            return lambda: -_number(operand(), operator, at)
        return lambda: _number(operand(), operator, at)

    def _power(self):
        base = self._postfix()
        at = self._peek()[2]
        if self._take("**") is None:
            return base
        with _Nested(self, at):
            exponent = self._unary()
        return lambda: _apply("**", base(), exponent(), at)

    def _postfix(self):
        value = self._atom()
        subscripts = []
        while True:
            at = self._peek()[2]
            if self._take("[") is None:
                break
            with _Nested(self, at):
                subscripts.append((self._subscript(), at))
            self._expect("]")
        if not subscripts:
            return value

        def postfix():
            result = value()
            for subscript, at in subscripts:
                result = subscript(result, at)
            return result

        return postfix

    def _subscript(self):
        """What is inside `[...]` after a value: a function of (value, offset)."""
        start = None if self._peek()[1] == ":" else self._expression()
        if self._take(":") is None:
            return lambda value, at: _index(value, start(), at)
        end = None if self._peek()[1] == "]" else self._expression()

        def slice_(value, at):
            bounds = [None if part is None else part() for part in (start, end)]
            return _slice(value, *bounds, at)

        return slice_

    def _atom(self):
        kind, text, at = self._peek()
        if kind == "number":
            self.position += 1
            value = _checked(float(text) if re.search(r"[.eE]", text) else int(text), at)
            return lambda: value
        if kind == "name" and text in _CONSTANTS:
            self.position += 1
            value = _CONSTANTS[text]
            return lambda: value
        if kind == "name" and text not in KEYWORDS:
            self.position += 1
            if self._peek()[1] == "(":
                return self._call(text, at)
            value = lookup_value(self.lookup, text, at)
            return lambda: value
        if text == "(":
            self.position += 1
            with _Nested(self, at):
                value = self._expression()
            self._expect(")")
            return value
        if text == "[":
            self.position += 1
            with _Nested(self, at):
                return self._list(at)
        found = f"'{text}'" if text is not None else "the end"
        raise ExpressionError(f"expected a number, a name or '(' but found {found}", at)

    def _list(self, at):
        items = []
        while self._take("]") is None:
            items.append(self._expression())
            if self._take(",") is None:
                self._expect("]")
                break

        def list_():
            value = [compute() for compute in items]
            self._measure(value, at)
            return value

        return list_

    def _call(self, name, at):
        if name == "shape":
            return self._shape(at)
        function = FUNCTIONS.get(name)
        if function is None:
            known = ", ".join(sorted([*FUNCTIONS, "shape"]))
            raise ExpressionError(f"unknown function '{name}'; expressions know {known}", at)
        self._expect("(")
        arguments = []
        with _Nested(self, at):
            arguments.append(self._expression())
            while self._take(","):
                arguments.append(self._expression())
        self._expect(")")
        return lambda: function([compute() for compute in arguments], name, at)

    def _shape(self, at):
        """`shape(name)`: the name is passed to the lookup as text, not looked up as a value."""
        self._expect("(")
        kind, text, argument_at = self._peek()
        if kind != "name" or text in KEYWORDS or self._peek(1)[1] != ")":
            raise ExpressionError(
                "shape() takes the name of one of the block's inputs, e.g. `shape(input)`",
                argument_at,
            )
        self.position += 2
        return lambda: _shape_of(self.lookup, text, at, argument_at)

    def _measure(self, value, at):
        """Checks a list that a `[...]` builds against the value bounds (sizes kept)."""
        size, depth = 1, 1
        for item in value:
            if isinstance(item, (list, dict)):
                known = self.measured.get(id(item))
                if known is None:
                    known = (item, *_measure(item, at))
                    self.measured[id(item)] = known  # keeps `item` alive: ids stay unique
                item_size, item_depth = known[1:]
            else:
                item_size, item_depth = 1 + (len(item) if isinstance(item, str) else 0), 1
            size += item_size
            depth = max(depth, item_depth + 1)
            if size > MAX_VALUE_SIZE:
                raise _too_big(at)
            if depth > MAX_VALUE_DEPTH:
                raise _too_deep(at)
        self.measured[id(value)] = (value, size, depth)


def lookup_value(lookup, name, at):
    """`lookup.value(name)`, or an "unknown name" error located at `at`."""
    try:
        return lookup.value(name)
    except KeyError:
        pass
    suggestion = did_you_mean(name, lookup.names())
    hint = None
    if name in KEYWORDS:
        hint = f"`${name}` names a var; for the word `{name}` write `${{{name}}}`"
    raise ExpressionError(f"unknown name '{name}'{suggestion}", at, hint)


class _Nested:
    """Counts nesting depth (brackets, unary signs and `not`, powers, `if`) against the bound."""

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


# --- kinds of values ------------------------------------------------------------------


def _kind(value):
    """The spec's kind of a value: a bool is not a number, a tuple is a list."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    if value is None:
        return "null"
    return type(value).__name__


def _a(kind):
    return {"text": "text", "null": "null"}.get(kind, f"a {kind}")


def _described(value):
    """`the int 3`, `the str 'relu'`, `the list [3, 3]`, `null`, for messages."""
    if value is None:
        return "null"
    shown = f"'{value}'" if isinstance(value, str) else repr(value)
    if len(shown) > _MAX_SHOWN:
        shown = shown[: _MAX_SHOWN - 3] + "..."
    return f"the {type(value).__name__} {shown}"


def _number(value, operator, at):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionError(f"'{operator}' needs numbers, got {_described(value)}", at)
    return value


def _boolean(value, operator, at):
    if not isinstance(value, bool):
        raise ExpressionError(
            f"'{operator}' needs true or false, got {_described(value)}",
            at,
            "compare to make a condition, e.g. `${n > 0 and m > 0}`",
        )
    return value


# --- comparisons ----------------------------------------------------------------------


def _compare(operator, left, right, at):
    if operator == "==":
        return _equal(left, right)
    if operator == "!=":
        return not _equal(left, right)
    if operator in ("in", "not in"):
        return _contains(right, left, operator, at) == (operator == "in")
    order = _order(left, right, operator, at)
    return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[operator]


def _equal(left, right):
    """Python's `==`, except that values of different kinds are never equal (`true != 1`)."""
    if left is right:
        return True
    try:
        if not left == right:  # fast, and never wrong when it says "different"
            return False
    except RecursionError:  # pragma: no cover - values are at most MAX_VALUE_DEPTH deep
        pass
    pending = [(left, right)]
    while pending:  # now the kinds, which Python's `==` ignores (True == 1 == 1.0)
        left, right = pending.pop()
        if left is right:
            continue
        kind = _kind(left)
        if kind != _kind(right):
            return False
        if kind == "list":
            if len(left) != len(right):
                return False
            pending.extend(zip(left, right))
        elif kind == "mapping":
            if left.keys() != right.keys():
                return False
            pending.extend((left[key], right[key]) for key in left)
        elif left != right:
            return False
    return True


def _order(left, right, operator, at):
    """-1, 0 or 1 as `left` is below, equal to or above `right`; lists lexicographically."""
    while True:
        kind = _kind(left)
        if kind != _kind(right) or kind not in ("number", "text", "list"):
            raise ExpressionError(
                f"cannot compare {_a(kind)} with {_a(_kind(right))} (`{operator}`)",
                at,
                f"`{operator}` orders two numbers, two texts or two lists; "
                "`==` and `!=` compare any two values",
            )
        if kind != "list":
            return (left > right) - (left < right)
        for left_item, right_item in zip(left, right):  # as Python: the first difference
            if not _equal(left_item, right_item):
                left, right = left_item, right_item
                break
        else:
            return (len(left) > len(right)) - (len(left) < len(right))


def _contains(container, item, operator, at):
    kind = _kind(container)
    if kind == "list":
        return any(_equal(item, element) for element in container)
    if kind == "mapping":
        return any(_equal(item, key) for key in container)
    if kind == "text":
        if isinstance(item, str):
            return item in container
        raise ExpressionError(
            f"'{operator}' needs text on its left when its right is text, "
            f"got {_described(item)}",
            at,
        )
    raise ExpressionError(
        f"'{operator}' needs a list, text or a mapping on its right, got {_described(container)}",
        at,
    )


# --- indexing and functions -----------------------------------------------------------


def _index(value, index, at):
    kind = _kind(value)
    if kind not in ("list", "text"):
        raise ExpressionError(f"only lists and text can be indexed, not {_described(value)}", at)
    if isinstance(index, bool) or not isinstance(index, int):
        raise ExpressionError(f"an index must be a whole number, got {_described(index)}", at)
    if not -len(value) <= index < len(value):
        items = "characters" if kind == "text" else "items"
        raise ExpressionError(
            f"index {index} is out of range for {_a(kind)} of {len(value)} {items}",
            at,
            "the first item is [0], the last [-1]",
        )
    return value[index]


def _slice(value, start, end, at):
    kind = _kind(value)
    if kind not in ("list", "text"):
        raise ExpressionError(f"only lists and text can be sliced, not {_described(value)}", at)
    for bound in (start, end):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
            raise ExpressionError(
                f"a slice bound must be a whole number, got {_described(bound)}", at
            )
    return value[start:end]


def _extreme(choose):
    def extreme(arguments, name, at):
        if len(arguments) == 1 and _kind(arguments[0]) == "list":
            arguments = arguments[0]  # min(list), as Python
            if not arguments:
                raise ExpressionError(f"{name}() of an empty list", at)
        return choose(_number(argument, name, at) for argument in arguments)

    return extreme


def _length(arguments, name, at):
    if len(arguments) != 1:
        raise ExpressionError(f"len() takes one value, got {len(arguments)}", at)
    (value,) = arguments
    if _kind(value) not in ("list", "text", "mapping"):
        raise ExpressionError(
            f"len() needs a list, text or a mapping, got {_described(value)}", at
        )
    return len(value)


def _shape_of(lookup, name, at, argument_at):
    shape = getattr(lookup, "shape", None)
    if shape is None:
        raise ExpressionError(
            "shape() can only be used in layers, on an input or an earlier layer", at
        )
    try:
        value = shape(name)
    except KeyError:
        known = lookup.shape_names() if hasattr(lookup, "shape_names") else ()
        raise ExpressionError(
            f"shape(): no input or earlier layer named '{name}' here{did_you_mean(name, known)}",
            argument_at,
        ) from None
    except ExpressionError as error:
        raise ExpressionError(error.message, argument_at, error.hint) from None
    if not isinstance(value, (list, tuple)) or not all(
        item is None or (isinstance(item, int) and not isinstance(item, bool)) for item in value
    ):
        raise TypeError(f"lookup.shape({name!r}) must give ints and Nones, got {value!r}")
    return list(value)


FUNCTIONS = {"len": _length, "max": _extreme(max), "min": _extreme(min)}


# --- arithmetic -----------------------------------------------------------------------


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
