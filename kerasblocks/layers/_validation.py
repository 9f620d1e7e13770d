"""Argument checks shared by the kerasblocks layers.

Each check takes the argument's `name` and `value`, returns the value in its
canonical form (a Python `int`, `float`, `bool`, a tuple of 2 ints, an
activation function, a data format string) and raises a `ValueError` in one
style otherwise:

    `name` must be <what it must be>. Received: name=value

A `name` may be a dotted path into a nested argument (`"branches[0][1].conv.strides"`);
the message then names the whole path first and only its last part after
`Received:`, so the value is not drowned in the path.

Integers are any `numbers.Integral` (Python or NumPy) and real numbers any
finite `numbers.Real`; `bool` counts as neither, so that `True` is never taken
for `1`.
"""

import math
import numbers

import keras

__all__ = [
    "is_int",
    "is_real",
    "error",
    "boolean",
    "integer",
    "integer_pair",
    "positive_number",
    "non_negative_number",
    "number_between",
    "one_of",
    "activation",
    "data_format",
]


def is_int(value):
    """Whether `value` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """Whether `value` is a finite real number (int, float, NumPy), not a bool."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def error(name, requirement, value):
    """The `ValueError` "`name` must be <requirement>. Received: leaf=value",
    for the caller to raise; `leaf` is the last part of a dotted `name`."""
    leaf = name.rsplit(".", 1)[-1]
    return ValueError(f"`{name}` must be {requirement}. Received: {leaf}={value!r}")


def boolean(name, value, allow_none=False):
    """`value` if it is `True` or `False` (or `None` with `allow_none`)."""
    if isinstance(value, bool) or (allow_none and value is None):
        return value
    raise error(name, "True, False or None" if allow_none else "True or False", value)


def integer(name, value, minimum=1, note=""):
    """`value` as an `int`, if it is an integer >= `minimum`.

    `note` (e.g. `" (Caffe's local_size)"`) goes into the message after the
    requirement.
    """
    if not is_int(value) or value < minimum:
        raise error(name, f"an integer >= {minimum}{note}", value)
    return int(value)


def integer_pair(name, value):
    """An integer >= 1 or a pair of them, as a tuple of 2 ints.

    `3 -> (3, 3)`, `[1, 7] -> (1, 7)`: kernel sizes, strides, pool sizes.
    """
    pair = (value, value) if is_int(value) else value
    if (
        not isinstance(pair, (list, tuple))
        or len(pair) != 2
        or not all(is_int(v) and v >= 1 for v in pair)
    ):
        raise error(name, "an integer >= 1 or a pair of them", value)
    return tuple(int(v) for v in pair)


def positive_number(name, value, note=""):
    """`value` as a `float`, if it is a finite number > 0."""
    if not is_real(value) or not value > 0:
        raise error(name, f"a positive number{note}", value)
    return float(value)


def non_negative_number(name, value, note=""):
    """`value` as a `float`, if it is a finite number >= 0."""
    if not is_real(value) or not value >= 0:
        raise error(name, f"a number >= 0{note}", value)
    return float(value)


def number_between(name, value, low, high, inclusive=True):
    """`value` as a `float`, if it lies in `[low, high]` (`inclusive`) or in
    the open interval `(low, high)`."""
    if inclusive:
        inside = is_real(value) and low <= value <= high
        requirement = f"a number in [{low}, {high}]"
    else:
        inside = is_real(value) and low < value < high
        requirement = f"a number strictly between {low} and {high}"
    if not inside:
        raise error(name, requirement, value)
    return float(value)


def one_of(name, value, choices):
    """`value` if it is one of the strings `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise error(name, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def activation(name, value):
    """The activation function `keras.activations.get(value)` finds.

    `None` gives the linear activation, as in Keras.
    """
    try:
        return keras.activations.get(value)
    except (ValueError, TypeError) as cause:
        requirement = "the name of a Keras activation or a callable"
        raise error(name, requirement, value) from cause


def data_format(value):
    """`"channels_last"` or `"channels_first"`; `None` reads the Keras config."""
    if value is None:
        return keras.config.image_data_format()
    return one_of("data_format", value, ("channels_last", "channels_first"))
