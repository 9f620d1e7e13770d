"""The expression language: arithmetic, substitution, errors, bounds."""

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerasblocks.spec.expressions import (
    MAX_MAGNITUDE,
    ExpressionError,
    evaluate,
    single_name,
    substitute,
    substitute_all,
)


class Names:
    """The lookup protocol over a dict."""

    def __init__(self, **values):
        self.values = values

    def value(self, name):
        return self.values[name]

    def names(self):
        return self.values.keys()


NAMES = Names(init_ch=16, stage=1, kernel=[3, 3], act="relu", rate=0.5, flag=True)


def _value(expression):
    return evaluate(expression, NAMES)


def _error(text):
    with pytest.raises(ExpressionError) as caught:
        substitute(text, NAMES)
    return caught.value


@pytest.mark.parametrize(
    "expression, value",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 3 ** 2", 512),  # right-associative
        ("-2 ** 2", -4),  # unary minus binds looser than **
        ("2 ** -1", 0.5),
        ("--3", 3),
        ("+3", 3),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 / 2", 3.5),
        ("7 % 3", 1),
        ("10 - 4 - 3", 3),  # left-associative
        ("init_ch * 2 ** stage", 32),
        ("min(init_ch, 8) + max(1, 2, 3)", 11),
        ("1e-3 * 2", 0.002),
        (".5 + 1.", 1.5),
        ("  init_ch  ", 16),
        ("kernel", [3, 3]),  # a bare name gives any value
        ("rate * 2", 1.0),
    ],
)
def test_arithmetic_follows_python(expression, value):
    assert _value(expression) == value


@pytest.mark.parametrize(
    "text, value",
    [
        ("$init_ch", 16),
        ("${init_ch * 2}", 32),
        ("$kernel", [3, 3]),
        ("$act", "relu"),
        ("conv${stage + 1}_$act", "conv2_relu"),
        ("block$stage", "block1"),
        ("$$5", "$5"),
        ("$${init_ch}", "${init_ch}"),
        ("flag_$flag", "flag_true"),
        ("no dollar", "no dollar"),
    ],
)
def test_substitution(text, value):
    assert substitute(text, NAMES) == value


def test_substitute_all_walks_lists_and_mappings_and_reports_the_path():
    value = {"L2": {"l2": "${rate / 10}"}, "sizes": [1, "$init_ch"], "$key": "kept"}
    assert substitute_all(value, NAMES) == {"L2": {"l2": 0.05}, "sizes": [1, 16], "$key": "kept"}
    with pytest.raises(ExpressionError) as caught:
        substitute_all({"a": [1, {"b": "${oops}"}]}, NAMES)
    assert caught.value.path == ("a", 1, "b")


def test_single_name():
    assert single_name("$abc") == single_name("${ abc }") == "abc"
    assert single_name("${abc + 1}") is single_name("x$abc") is single_name(3) is None


@pytest.mark.parametrize(
    "text, offset, message",
    [
        ("${stag}", 2, "unknown name 'stag'; did you mean 'stage'?"),
        ("${init_ch *}", 11, "expected a number, a name or '(' but found the end"),
        ("${(1 + 2}", 8, "expected ')' but found the end"),
        ("${1 2}", 4, "unexpected '2' in expression"),
        ("${1 & 2}", 4, "unexpected character '&' in expression"),
        ("${}", 2, "empty expression"),
        ("${1", 0, "'${' is not closed by '}'"),
        ("cost$", 4, "'$' must start a name or '${expression}'"),
        ("${1 / 0}", 4, "division by zero in '/'"),
        ("${5 % 0}", 4, "division by zero in '%'"),
        ("${0 ** -1}", 4, "'**' failed: 0.0 cannot be raised to a negative power"),
        ("${kernel + 1}", 9, "'+' needs numbers, got the list [3, 3]"),
        ("${-act}", 2, "'-' needs numbers, got the str 'relu'"),
        ("${flag * 2}", 7, "'*' needs numbers, got the bool True"),
        ("${abs(1)}", 2, "unknown function 'abs'; expressions know max, min"),
        ("${(-8) ** 0.5}", 7, "a negative number to a fractional power is not a real number"),
        (
            "x$kernel",
            2,
            "a list cannot be put inside text; use the substitution as the whole value",
        ),
    ],
)
def test_errors_point_at_the_character(text, offset, message):
    error = _error(text)
    assert (error.offset, error.message) == (offset, message)


@pytest.mark.parametrize(
    "text",
    [
        "${2 ** 10 ** 10}",
        "${10 ** 100}",
        "${9007199254740992 * 4}",
        "${99999999999999999999}",
        "${1e400}",
    ],
)
def test_results_are_bounded_and_refused_at_once(text):
    started = time.perf_counter()
    error = _error(text)
    assert time.perf_counter() - started < 0.05
    assert "too large" in error.message or "not a finite number" in error.message


def test_length_and_nesting_are_bounded():
    assert "the limit is 200" in _error("${" + "1+" * 150 + "1}").message
    assert "nested more than 32" in _error("${" + "(" * 40 + "1" + ")" * 40 + "}").message
    assert "nested more than 32" in _error("${" + "-" * 40 + "1}").message


def test_no_python_is_evaluated():
    for text in ["${__import__('os')}", "${init_ch.__class__}", "${[1][0]}", "${'a'}"]:
        with pytest.raises(ExpressionError):
            substitute(text, NAMES)


# --- properties -----------------------------------------------------------------------

# At most 8 leaves of |n| <= 30: every intermediate value stays far below the bound.
small_ints = st.integers(min_value=-30, max_value=30)


@st.composite
def expressions(draw, depth=0):
    """(text, value) pairs for random well-formed integer expressions."""
    if depth >= 3 or draw(st.booleans()):
        number = draw(small_ints)
        return (f"({number})" if number < 0 else str(number)), number
    operator = draw(st.sampled_from(["+", "-", "*", "//", "%"]))
    left_text, left = draw(expressions(depth=depth + 1))
    right_text, right = draw(expressions(depth=depth + 1))
    if operator in ("//", "%") and right == 0:
        right_text, right = "1", 1
    apply = {
        "+": lambda: left + right,
        "-": lambda: left - right,
        "*": lambda: left * right,
        "//": lambda: left // right,
        "%": lambda: left % right,
    }
    return f"({left_text} {operator} {right_text})", apply[operator]()


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_integer_arithmetic_agrees_with_python(pair):
    text, value = pair
    assert evaluate(text, NAMES) == value


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-50, max_value=50), st.integers(min_value=0, max_value=200))
def test_powers_are_exact_or_refused(base, exponent):
    try:
        result = evaluate(f"({base}) ** {exponent}", NAMES)
    except ExpressionError as error:
        assert "too large" in error.message
        assert abs(base**exponent) > MAX_MAGNITUDE / 4
    else:
        assert result == base**exponent


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-*/%() .e_abcxyz,", max_size=40))
def test_any_text_evaluates_or_raises_an_expression_error(text):
    try:
        value = evaluate(text, NAMES)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(text)
    else:
        assert isinstance(value, (int, float, list, str, bool))
