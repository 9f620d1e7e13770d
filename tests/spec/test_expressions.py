"""The expression language: arithmetic, logic, comparisons, lists, substitution, errors, bounds."""

import time

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from kerasblocks.spec.expressions import (
    KEYWORDS,
    MAX_EXPRESSION_CHARS,
    MAX_MAGNITUDE,
    MAX_VALUE_SIZE,
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
        ("${abs(1)}", 2, "unknown function 'abs'; expressions know len, max, min, shape"),
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
    for text in [
        "${__import__('os')}",
        "${init_ch.__class__}",
        "${'a'}",
        "${kernel.count(3)}",
        "${[x for x in kernel]}",
        "${lambda: 1}",
        "${(1, 2)}",
        "${kernel[::-1]}",
        "${init_ch is 16}",
        "${globals()}",
    ]:
        with pytest.raises(ExpressionError):
            substitute(text, NAMES)


# --- logic, comparisons, lists -------------------------------------------------------

LOGIC = Names(
    n=3,
    kernel=[3, 3],
    act="relu",
    flag=True,
    off=False,
    nothing=None,
    sizes=[8, 16, 32],
    table={"a": 1},
    nested=[[1, 2], [3]],
)


@pytest.mark.parametrize(
    "expression, value",
    [
        # comparisons, chained as in Python
        ("1 < 2", True),
        ("2 <= 1", False),
        ("n == 3", True),
        ("n != 3", False),
        ("0 <= n < 4", True),
        ("0 < n < 3", False),
        ("1 < 2 > 1 == 1", True),
        ("1 == 1.0", True),
        ("kernel == [3, 3]", True),
        ("kernel < [3, 4]", True),
        ("[1, 2] < [1, 2, 0]", True),
        ("[nothing, 2] < [nothing, 3]", True),  # equal items are skipped, as in Python
        ("act == act", True),
        ("act < act", False),
        ("act >= act", True),
        ("nothing == null", True),
        ("nothing != None", False),
        ("table == table", True),
        # values of different kinds are never equal: a bool is not a number
        ("true == 1", False),
        ("false != 0", True),
        ("[true] == [1]", False),
        ("act == 1", False),
        ("kernel == 3", False),
        ("nothing == false", False),
        # membership
        ("3 in kernel", True),
        ("4 not in kernel", True),
        ("true in [1, 2]", False),
        ("[1] in nested", False),
        ("[3] in nested", True),
        # booleans
        ("true", True),
        ("True", True),
        ("false", False),
        ("False", False),
        ("null", None),
        ("None", None),
        ("not flag", False),
        ("not not flag", True),
        ("flag and off", False),
        ("flag or off", True),
        ("off or off or flag", True),
        ("flag and flag and off", False),
        ("not off and flag", True),  # not binds tighter than and
        ("flag or off and off", True),  # and binds tighter than or
        ("not n == 4", True),  # comparisons bind tighter than not
        ("n > 2 and n < 5", True),
        # conditionals: loosest of all, right-associative
        ("1 if flag else 2", 1),
        ("1 if off else 2", 2),
        ("1 if off else 2 if off else 3", 3),
        ("n * 2 if n > 2 else n", 6),
        ("(1 if off else 2) + 1", 3),
        ("1 + 1 if off else 5", 5),
        ("kernel if flag else nothing", [3, 3]),
        ("act if n < 0 else null", None),
        # lists, indexing and slicing
        ("[]", []),
        ("[1, n, [2]]", [1, 3, [2]]),
        ("[1, 2,]", [1, 2]),
        ("[n > 2, n]", [True, 3]),
        ("sizes[0]", 8),
        ("sizes[-1]", 32),
        ("sizes[-3]", 8),
        ("sizes[n - 2]", 16),
        ("nested[0][1]", 2),
        ("[1, 2, 3][1]", 2),
        ("(sizes)[1]", 16),
        ("act[0]", "r"),
        ("act[-1]", "u"),
        ("sizes[1:]", [16, 32]),
        ("sizes[:-1]", [8, 16]),
        ("sizes[:]", [8, 16, 32]),
        ("sizes[5:9]", []),  # slices are clipped, as in Python
        ("act[1:3]", "el"),
        ("-sizes[0]", -8),  # indexing binds tighter than unary minus
        ("sizes[1] ** 2", 256),
        ("2 ** sizes[0]", 256),
        # functions
        ("len(sizes)", 3),
        ("len(act)", 4),
        ("len(table)", 1),
        ("len([])", 0),
        ("max(sizes)", 32),
        ("min(kernel)", 3),
        ("min(sizes[1:])", 16),
        ("max(n, sizes[0])", 8),
        ("max(1 if off else 5, 2)", 5),
    ],
)
def test_logic_comparisons_and_lists_follow_python(expression, value):
    result = evaluate(expression, LOGIC)
    assert result == value
    assert type(result) is type(value)  # True is never 1


_SHAPE_ARGUMENT = "shape() takes the name of one of the block's inputs, e.g. `shape(input)`"


def _logic_error(expression):
    with pytest.raises(ExpressionError) as caught:
        evaluate(expression, LOGIC)
    return caught.value


@pytest.mark.parametrize(
    "expression, offset, message",
    [
        ("kernel < 3", 7, "cannot compare a list with a number (`<`)"),
        ("3 >= kernel", 2, "cannot compare a number with a list (`>=`)"),
        ("act < 1", 4, "cannot compare text with a number (`<`)"),
        ("flag < off", 5, "cannot compare a boolean with a boolean (`<`)"),
        ("nothing > 0", 8, "cannot compare null with a number (`>`)"),
        ("table <= table", 6, "cannot compare a mapping with a mapping (`<=`)"),
        ("[1, 2] < [1, act]", 7, "cannot compare a number with text (`<`)"),
        ("0 < n < kernel", 6, "cannot compare a number with a list (`<`)"),
        ("1 in n", 2, "'in' needs a list, text or a mapping on its right, got the int 3"),
        ("1 in act", 2, "'in' needs text on its left when its right is text, got the int 1"),
        ("n and 2", 2, "'and' needs true or false, got the int 3"),
        ("flag and 2", 5, "'and' needs true or false, got the int 2"),
        ("off or act", 4, "'or' needs true or false, got the str 'relu'"),
        ("flag and off or nothing", 13, "'or' needs true or false, got null"),
        ("not n", 0, "'not' needs true or false, got the int 3"),
        ("not kernel", 0, "'not' needs true or false, got the list [3, 3]"),
        ("1 if n else 2", 2, "'if' needs true or false, got the int 3"),
        ("1 if kernel else 2", 2, "'if' needs true or false, got the list [3, 3]"),
        ("1 if flag", 9, "expected 'else' but found the end"),
        ("1 if flag 2", 10, "expected 'else' but found '2'"),
        ("if", 0, "expected a number, a name or '(' but found 'if'"),
        ("1 + not flag", 4, "expected a number, a name or '(' but found 'not'"),
        ("n and", 5, "expected a number, a name or '(' but found the end"),
        ("1 = 1", 2, "unexpected character '=' in expression"),
        ("1 ! 1", 2, "unexpected character '!' in expression"),
        ("1 < < 2", 4, "expected a number, a name or '(' but found '<'"),
        # booleans are not numbers
        ("(1 < 2) + 1", 8, "'+' needs numbers, got the bool True"),
        ("true * 2", 5, "'*' needs numbers, got the bool True"),
        ("-false", 0, "'-' needs numbers, got the bool False"),
        ("max(true, 2)", 0, "'max' needs numbers, got the bool True"),
        ("nothing + 1", 8, "'+' needs numbers, got null"),
        # indexing
        ("sizes[3]", 5, "index 3 is out of range for a list of 3 items"),
        ("sizes[-4]", 5, "index -4 is out of range for a list of 3 items"),
        ("act[4]", 3, "index 4 is out of range for text of 4 characters"),
        ("[][0]", 2, "index 0 is out of range for a list of 0 items"),
        ("sizes[1.0]", 5, "an index must be a whole number, got the float 1.0"),
        ("sizes[flag]", 5, "an index must be a whole number, got the bool True"),
        ("sizes[act]", 5, "an index must be a whole number, got the str 'relu'"),
        ("sizes[nothing]", 5, "an index must be a whole number, got null"),
        ("n[0]", 1, "only lists and text can be indexed, not the int 3"),
        ("table[0]", 5, "only lists and text can be indexed, not the dict {'a': 1}"),
        ("nested[0][5]", 9, "index 5 is out of range for a list of 2 items"),
        ("sizes[1:flag]", 5, "a slice bound must be a whole number, got the bool True"),
        ("n[1:]", 1, "only lists and text can be sliced, not the int 3"),
        ("sizes[]", 6, "expected a number, a name or '(' but found ']'"),
        ("sizes[0", 7, "expected ']' but found the end"),
        ("[1, 2", 5, "expected ']' but found the end"),
        ("[1 2]", 3, "expected ']' but found '2'"),
        # functions
        ("len(n)", 0, "len() needs a list, text or a mapping, got the int 3"),
        ("len(sizes, sizes)", 0, "len() takes one value, got 2"),
        ("min([])", 0, "min() of an empty list"),
        ("max([1, act])", 0, "'max' needs numbers, got the str 'relu'"),
        ("shape(x)", 0, "shape() can only be used in layers, on an input or an earlier layer"),
        ("shape(1)", 6, _SHAPE_ARGUMENT),
        ("shape(a, b)", 6, _SHAPE_ARGUMENT),
        ("shape(true)", 6, _SHAPE_ARGUMENT),
        ("shape()", 6, _SHAPE_ARGUMENT),
    ],
)
def test_logic_errors_point_at_the_operator(expression, offset, message):
    error = _logic_error(expression)
    assert (error.offset, error.message) == (offset, message)


def test_comparison_errors_say_what_compares():
    assert "`==` and `!=` compare any two values" in _logic_error("kernel < 3").hint
    assert "compare to make a condition" in _logic_error("n and 2").hint
    assert "write '==' to compare" in _logic_error("n = 3").hint


def test_only_the_chosen_branch_and_the_needed_operands_are_computed():
    assert evaluate("1 if flag else 1 // 0", LOGIC) == 1
    assert evaluate("1 // 0 if off else 2", LOGIC) == 2
    assert evaluate("off and 1 // 0 == 0", LOGIC) is False
    assert evaluate("flag or sizes[9] == 0", LOGIC) is True
    assert evaluate("off and n", LOGIC) is False  # never checked: not computed, as in Python
    assert evaluate("1 > 2 > sizes[9]", LOGIC) is False  # a chain stops at the first false
    assert evaluate("shape(x) if off else 0", LOGIC) == 0


def test_the_branch_not_taken_is_still_checked_for_syntax_and_names():
    error = _logic_error("1 if flag else shape(1 + 2)")
    assert error.offset == 21  # at the `1`: shape() takes a bare name
    error = _logic_error("1 if flag else sizs")
    assert (error.offset, error.message) == (15, "unknown name 'sizs'; did you mean 'sizes'?")
    error = _logic_error("off and sizs[0] > 1")
    assert error.message == "unknown name 'sizs'; did you mean 'sizes'?"


def test_names_in_a_branch_not_taken_count_as_used():
    class Recording(Names):
        def __init__(self, **values):
            super().__init__(**values)
            self.used = []

        def value(self, name):
            self.used.append(name)
            return super().value(name)

    lookup = Recording(big=True, wide=8, narrow=2)
    assert evaluate("wide if big else narrow", lookup) == 8
    assert lookup.used == ["wide", "big", "narrow"]  # no "var never used" for `narrow`


def test_keywords_inside_braces_and_names_after_a_dollar():
    lookup = Names(**{"if": 3, "true": "yes", "shape": [1, 2]})
    assert substitute("$if", lookup) == 3  # `$name` is always a name
    assert substitute("$true", lookup) == "yes"
    assert substitute("${true}", lookup) is True
    assert substitute("${shape}", lookup) == [1, 2]  # a function name is a name without `(`
    assert substitute("${shape[0]}", lookup) == 1
    with pytest.raises(ExpressionError):
        substitute("${if}", lookup)
    error = _error("$true")
    assert error.message.startswith("unknown name 'true'")
    assert "${true}" in error.hint
    assert single_name("${true}") is single_name("${ null }") is None
    assert single_name("$true") == "true"
    assert {"and", "or", "not", "if", "else", "in", "true", "false", "null"} <= KEYWORDS


@pytest.mark.parametrize(
    "text, value",
    [
        ("${n > 2}", True),
        ("big_${n > 2}", "big_true"),
        ("${sizes[0]}x${sizes[-1]}", "8x32"),
        ("${act if flag else nothing}", "relu"),
        ("$nothing", None),
    ],
)
def test_new_values_in_text(text, value):
    assert substitute(text, LOGIC) == value


def test_null_cannot_be_put_inside_text():
    with pytest.raises(ExpressionError) as caught:
        substitute("x_${nothing}", LOGIC)
    assert (caught.value.offset, caught.value.message) == (4, "null cannot be put inside text")


# --- shape() ----------------------------------------------------------------------------


class BlockNames(Names):
    """A lookup inside a block body: `shape(name)` gives an input's shape."""

    def __init__(self, shapes, **values):
        super().__init__(**values)
        self.shapes = shapes
        self.asked = []

    def shape(self, name):
        self.asked.append(name)
        if name == "broken":
            raise ExpressionError("the shape of 'broken' is not known yet")
        return self.shapes[name]

    def shape_names(self):
        return self.shapes.keys()


def _block():
    return BlockNames({"input": (None, 32, 32, 3), "skip": [None, 16]}, input=7, off=False)


@pytest.mark.parametrize(
    "expression, value",
    [
        ("shape(input)", [None, 32, 32, 3]),
        ("shape( input )[-1]", 3),
        ("shape(input)[-1] * 2", 6),
        ("len(shape(input))", 4),
        ("shape(input)[1:3]", [32, 32]),
        ("shape(input)[0] == null", True),
        ("shape(input)[1:] == [32, 32, 3]", True),
        ("shape(skip)[-1] if len(shape(skip)) == 2 else 0", 16),
        ("max(shape(input)[1:])", 32),
        ("input", 7),  # the name itself is still the value it names
    ],
)
def test_shape_asks_the_lookup_by_name(expression, value):
    lookup = _block()
    assert evaluate(expression, lookup) == value
    if "shape" in expression:
        assert set(lookup.asked) <= {"input", "skip"}  # names, not values (input is 7)


def test_shape_results_are_fresh_lists_and_errors_are_located():
    lookup = _block()
    first = evaluate("shape(skip)", lookup)
    first.append(1)
    assert evaluate("shape(skip)", lookup) == [None, 16]
    assert lookup.asked == ["skip", "skip"]
    for expression, offset, message in [
        (
            "shape(inptu)",
            6,
            "shape(): no input or earlier layer named 'inptu' here; did you mean 'input'?",
        ),
        ("shape(broken)", 6, "the shape of 'broken' is not known yet"),
        ("shape(input)[0] + 1", 16, "'+' needs numbers, got null"),
        ("shape(input)[4]", 12, "index 4 is out of range for a list of 4 items"),
    ]:
        with pytest.raises(ExpressionError) as caught:
            evaluate(expression, lookup)
        assert (caught.value.offset, caught.value.message) == (offset, message)
    lookup = _block()
    assert evaluate("shape(input) if off else 1", lookup) == 1
    assert lookup.asked == []  # a branch not taken asks nothing


def test_a_bad_shape_hook_is_a_programming_error():
    lookup = BlockNames({"input": [None, True]})
    with pytest.raises(TypeError):
        evaluate("shape(input)", lookup)


# --- bounds on the new constructs --------------------------------------------------------


def test_new_constructs_are_bounded():
    assert "nested more than 32" in _logic_error("[" * 40 + "1" + "]" * 40).message
    assert "nested more than 32" in _logic_error("not " * 40 + "flag").message
    assert "nested more than 32" in _logic_error("sizes" + "[0" * 40 + "]" * 40).message
    lookup = Names(o=False)
    chain = "1 if o else " * 13 + "2"
    assert evaluate(chain, lookup) == 2
    assert evaluate("(" * 19 + chain + ")" * 19, lookup) == 2  # 19 + 13 levels
    too_deep = "(" * 20 + chain + ")" * 20
    assert len(too_deep) <= MAX_EXPRESSION_CHARS
    with pytest.raises(ExpressionError, match="nested more than 32"):
        evaluate(too_deep, lookup)
    deepest = 1
    for _ in range(32):
        deepest = [deepest]
    assert evaluate("[" * 32 + "1" + "]" * 32, LOGIC) == deepest
    long = " and ".join(["flag"] * 40)
    assert "the limit is 200" in _logic_error(long).message
    assert evaluate(" and ".join(["flag"] * 20), LOGIC) is True  # a long chain is no deep recursion
    assert evaluate(" < ".join(str(i) for i in range(40)), LOGIC) is True


def test_lists_that_brackets_build_are_bounded_like_substituted_values():
    half = MAX_VALUE_SIZE // 2
    deep = 1
    for _ in range(60):
        deep = [deep]  # 61 levels with the 1 inside
    lookup = Names(big=list(range(half)), deep=deep)
    assert len(evaluate("[big]", lookup)) == 1
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as caught:
        evaluate("[big, big, big, big]", lookup)
    assert time.perf_counter() - started < 1
    assert (caught.value.offset, caught.value.message) == (
        0,
        f"the value expands to more than {MAX_VALUE_SIZE} items and characters",
    )
    with pytest.raises(ExpressionError) as caught:
        evaluate("len([[big], [big], [big]])", lookup)
    assert caught.value.offset == 4  # the outer `[`: each inner one is within the bound
    with pytest.raises(ExpressionError) as caught:
        evaluate("[[[[[[[[deep]]]]]]]]", lookup)
    assert "nested more than 64" in caught.value.message


def test_comparing_large_values_is_quick():
    lookup = Names(a=list(range(90_000)), b=list(range(90_000)), c=[[0] * 10] * 9000)
    started = time.perf_counter()
    assert evaluate("a == a == a == a == a and a <= a", lookup) is True
    assert evaluate("a == b and a <= b and a[-1] in b", lookup) is True
    assert evaluate("c == c and c != a", lookup) is True
    assert time.perf_counter() - started < 2


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
@given(st.text(alphabet="0123456789+-*/%() .e_abcxyz,<>=![]:", max_size=40))
def test_any_text_evaluates_or_raises_an_expression_error(text):
    try:
        value = evaluate(text, NAMES)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(text)
    else:
        assert value is None or isinstance(value, (int, float, list, str, bool))


# --- properties of the logic, against Python's own evaluation ----------------------------
#
# The generators build the same expression twice: in the spec's spelling (`true`, `null`)
# and in Python's. Python's `eval` runs only on that generated text, with no builtins and no
# names. They are typed (an `and` gets booleans, `<` numbers), so the only error both can
# meet is a division by zero: the spec must fail exactly when Python does, which checks
# that `if`/`else`, `and`/`or` and comparison chains compute what Python computes, and
# nothing else.

_TRUE = st.sampled_from(["true", "True"])
_FALSE = st.sampled_from(["false", "False"])


@st.composite
def typed_expressions(draw, kind, depth=0):
    """(spec text, Python text) pairs for random well-typed expressions of `kind`."""
    leaf = depth >= 3 or draw(st.integers(0, 2)) == 0
    if kind == "int":
        if leaf and draw(st.integers(0, 9)) == 0:
            return "(n // 0)", "(1 // 0)"  # fails if computed: only where Python computes it
        if leaf:
            number = draw(small_ints)
            text = f"({number})" if number < 0 else str(number)
            return text, text
        form = draw(st.sampled_from(["arithmetic", "if", "index", "len", "extreme"]))
        if form == "arithmetic":
            operator = draw(st.sampled_from(["+", "-", "*", "//", "%"]))
            left = draw(typed_expressions("int", depth + 1))
            right = draw(typed_expressions("int", depth + 1))
            return tuple(f"({a} {operator} {b})" for a, b in zip(left, right))
        if form == "if":
            then = draw(typed_expressions("int", depth + 1))
            condition = draw(typed_expressions("bool", depth + 1))
            other = draw(typed_expressions("int", depth + 1))
            return tuple(f"({a} if {c} else {b})" for a, c, b in zip(then, condition, other))
        items = [draw(typed_expressions("int", depth + 1)) for _ in range(draw(st.integers(1, 3)))]
        spec_list = "[" + ", ".join(item[0] for item in items) + "]"
        python_list = "[" + ", ".join(item[1] for item in items) + "]"
        if form == "index":
            index = draw(st.integers(-len(items), len(items) - 1))
            return f"{spec_list}[{index}]", f"{python_list}[{index}]"
        if form == "len":
            return f"len({spec_list})", f"len({python_list})"
        function = draw(st.sampled_from(["min", "max"]))
        if len(items) == 1 or draw(st.booleans()):  # min([a]) or min([a, b]), as Python
            return f"{function}({spec_list})", f"{function}({python_list})"
        return f"{function}({spec_list[1:-1]})", f"{function}({python_list[1:-1]})"
    if leaf:
        value = draw(st.booleans())
        return draw(_TRUE if value else _FALSE), str(value)
    form = draw(st.sampled_from(["compare", "logic", "not", "if", "in", "equal"]))
    if form == "compare":  # a chain of one to three comparisons of numbers
        count = draw(st.integers(2, 4))
        operands = [draw(typed_expressions("int", depth + 1)) for _ in range(count)]
        operators = [
            draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])) for _ in operands[1:]
        ]
        texts = []
        for which in (0, 1):
            parts = [operands[0][which]]
            for operator, operand in zip(operators, operands[1:]):
                parts += [operator, operand[which]]
            texts.append("(" + " ".join(parts) + ")")
        return tuple(texts)
    if form == "logic":
        operator = draw(st.sampled_from(["and", "or"]))
        left = draw(typed_expressions("bool", depth + 1))
        right = draw(typed_expressions("bool", depth + 1))
        return tuple(f"({a} {operator} {b})" for a, b in zip(left, right))
    if form == "not":
        operand = draw(typed_expressions("bool", depth + 1))
        return tuple(f"(not {a})" for a in operand)
    if form == "if":
        then = draw(typed_expressions("bool", depth + 1))
        condition = draw(typed_expressions("bool", depth + 1))
        other = draw(typed_expressions("bool", depth + 1))
        return tuple(f"({a} if {c} else {b})" for a, c, b in zip(then, condition, other))
    if form == "in":
        item = draw(typed_expressions("int", depth + 1))
        items = [draw(typed_expressions("int", depth + 1)) for _ in range(draw(st.integers(0, 3)))]
        operator = draw(st.sampled_from(["in", "not in"]))
        return tuple(
            f"({item[which]} {operator} [{', '.join(other[which] for other in items)}])"
            for which in (0, 1)
        )
    left = draw(typed_expressions("bool", depth + 1))  # booleans compared with booleans
    right = draw(typed_expressions("bool", depth + 1))
    operator = draw(st.sampled_from(["==", "!="]))
    return tuple(f"({a} {operator} {b})" for a, b in zip(left, right))


def _python(text):
    return eval(text, {"__builtins__": {"len": len, "min": min, "max": max}}, {})  # noqa: S307


_LOGIC_NAMES = Names(n=1)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["int", "bool"]).flatmap(typed_expressions))
def test_logic_agrees_with_python(pair):
    spec_text, python_text = pair
    assume(len(spec_text) <= MAX_EXPRESSION_CHARS)
    try:
        expected = _python(python_text)
    except ZeroDivisionError:
        event("division by zero")
        with pytest.raises(ExpressionError, match="division by zero"):
            evaluate(spec_text, _LOGIC_NAMES)
        return
    event(f"gives {expected!r}" if isinstance(expected, bool) else "gives a number")
    value = evaluate(spec_text, _LOGIC_NAMES)
    assert value == expected
    assert type(value) is type(expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(small_ints, max_size=6), st.integers(-9, 9), st.integers(-9, 9))
def test_indexing_and_slicing_agree_with_python(items, index, end):
    lookup = Names(xs=items)
    try:
        expected = items[index]
    except IndexError:
        with pytest.raises(ExpressionError, match="out of range"):
            evaluate(f"xs[{index}]", lookup)
    else:
        assert evaluate(f"xs[{index}]", lookup) == expected
    assert evaluate(f"xs[{index}:{end}]", lookup) == items[index:end]
    assert evaluate(f"xs[:{end}]", lookup) == items[:end]


_ORDERED = st.recursive(
    small_ints | st.floats(-5, 5, allow_nan=False),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(_ORDERED, _ORDERED, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
def test_ordering_agrees_with_python_or_refuses_what_python_refuses(left, right, operator):
    lookup = Names(a=left, b=right)
    try:
        expected = _python(f"{left!r} {operator} {right!r}")
    except TypeError:  # e.g. [1] < 1; the spec refuses the same
        with pytest.raises(ExpressionError, match="cannot compare"):
            evaluate(f"a {operator} b", lookup)
    else:
        assert evaluate(f"a {operator} b", lookup) is expected


def _tagged(value):
    """`value` with its kinds made explicit, so that Python's == sees True != 1."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, list):
        return ("list", [_tagged(item) for item in value])
    if isinstance(value, dict):
        return ("mapping", {key: _tagged(item) for key, item in value.items()})
    return ("number" if isinstance(value, (int, float)) else type(value).__name__, value)


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, 1.0, 2.5])
    | st.text("ab", max_size=2),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from("xy"), inner, max_size=2),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(_VALUES, _VALUES)
def test_equality_is_pythons_except_that_kinds_differ(left, right):
    lookup = Names(a=left, b=right, c=[left, right])
    equal = _tagged(left) == _tagged(right)
    assert evaluate("a == b", lookup) is equal
    assert evaluate("a != b", lookup) is (not equal)
    assert evaluate("a == a and b == b and not a != a", lookup) is True
    assert evaluate("b in c and a in c", lookup) is True
    assert evaluate("c == [a, b]", lookup) is True
    assert evaluate("[a, b][0] == a and c[-1] == b", lookup) is True


_TOKENS = st.sampled_from(
    [
        "1", "0", "-", "+", "*", "//", "%", "**", "(", ")", "[", "]", ",", ":", "==", "!=", "<",
        "<=", ">", ">=", "and", "or", "not", "if", "else", "in", "true", "False", "null", "n",
        "xs", "act", "len", "min", "shape", "2.5", "flag",
    ]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(_TOKENS, max_size=14))
def test_any_token_sequence_evaluates_or_raises_an_expression_error(tokens):
    lookup = Names(n=3, xs=[1, [2, 3], None], act="relu", flag=True)
    text = " ".join(tokens)
    try:
        value = evaluate(text, lookup)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(text)
    else:
        assert value is None or isinstance(value, (int, float, list, str, bool))
