"""The operations table (kerasblocks.spec.ops): table, validation, builder, to_spec."""

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from kerasblocks.spec import ops as spec_ops
from kerasblocks.spec.ops import (
    PREVIOUS,
    ArangeConstant,
    TensorRef,
    UnsupportedOperation,
    apply_op,
    bind_operands,
    check_op_arguments,
    is_op_name,
    key_from_spec,
    key_to_spec,
    op_from_config,
    op_names,
    op_spec,
    operands_from_config,
)

REPO = Path(__file__).resolve().parents[2]

# Model inputs the samples use: name -> (shape without batch, dtype).
INPUTS = {
    "x": ((3, 4), "float32"),
    "y": ((3, 4), "float32"),
    "m": ((4, 5), "float32"),
    "s": ((3, 1), "float32"),
    "i": ((3, 4), "int32"),
    "j": ((3, 4), "int32"),
    "b": ((3, 4), "bool"),
    "c": ((3, 4), "bool"),
}

# One call per op of the table: operands (strings name INPUTS) and static arguments.
SAMPLES = {
    "add": ({"x1": "x", "x2": "y"}, {}),
    "subtract": ({"x1": 3.0, "x2": "x"}, {}),
    "multiply": ({"x1": "x", "x2": 1 / 6}, {}),
    "divide": ({"x1": "x", "x2": "y"}, {}),
    "true_divide": ({"x1": "x", "x2": 2.0}, {}),
    "floor_divide": ({"x1": "x", "x2": 0.3}, {}),
    "mod": ({"x1": "i", "x2": 2}, {}),
    "power": ({"x1": "x", "x2": 2}, {}),
    "maximum": ({"x1": "x", "x2": 1.0}, {}),
    "minimum": ({"x1": "x", "x2": "y"}, {}),
    "matmul": ({"x1": "x", "x2": "m"}, {}),
    "where": ({"condition": "b", "x1": "x", "x2": 0.0}, {}),
    "logical_not": ({"x": "b"}, {}),
    "mean": ({"x": "x"}, {"axis": 1, "keepdims": True}),
    "sum": ({"x": "x"}, {"axis": [1, 2]}),
    "max": ({"x": "x"}, {"axis": 1}),
    "min": ({"x": "x"}, {"axis": -1, "keepdims": True}),
    "prod": ({"x": "x"}, {"axis": 1}),
    "std": ({"x": "x"}, {"axis": 1}),
    "var": ({"x": "x"}, {"axis": 2}),
    "argmax": ({"x": "x"}, {"axis": -1}),
    "argmin": ({"x": "x"}, {"axis": 1}),
    "any": ({"x": "b"}, {"axis": 1}),
    "all": ({"x": "b"}, {"axis": 2, "keepdims": True}),
    "logsumexp": ({"x": "x"}, {"axis": -1}),
    "cumsum": ({"x": "i"}, {"axis": 1}),
    "reshape": ({"x": "x"}, {"newshape": [-1, 12]}),
    "transpose": ({"x": "x"}, {"axes": [0, 2, 1]}),
    "expand_dims": ({"x": "x"}, {"axis": 1}),
    "squeeze": ({"x": "s"}, {"axis": 2}),
    "concatenate": ({"xs": ["x", "y"]}, {"axis": -1}),
    "stack": ({"x": ["x", "y"]}, {"axis": 1}),
    "tile": ({"x": "x"}, {"repeats": [1, 2, 1]}),
    "repeat": ({"x": "x"}, {"repeats": 2, "axis": 1}),
    "broadcast_to": ({"x": "s"}, {"shape": [2, 3, 4]}),
    "flip": ({"x": "x"}, {"axis": 1}),
    "get_item": ({"x": "x", "key": [":", 0]}, {}),
    "take": ({"x": "x", "indices": [0, 2]}, {"axis": 1}),
    "take_along_axis": ({"x": "x", "indices": "j"}, {"axis": 2}),
    "slice": ({"inputs": "x", "start_indices": [0, 1, 0]}, {"shape": [2, 2, 3]}),
    "one_hot": ({"x": "i"}, {"num_classes": 3}),
    "cast": ({"x": "i"}, {"dtype": "float32"}),
    "zeros_like": ({"x": "x"}, {}),
    "ones_like": ({"x": "x"}, {"dtype": "int32"}),
    "full_like": ({"x": "x", "fill_value": 2.5}, {}),
    "triu": ({"x": "x"}, {"k": 1}),
    "tril": ({"x": "x"}, {}),
    "stop_gradient": ({"variable": "x"}, {}),
    "gelu": ({"x": "x"}, {"approximate": False}),
    "softmax": ({"x": "x"}, {"axis": 1}),
    "elu": ({"x": "x"}, {"alpha": 0.5}),
    "leaky_relu": ({"x": "x"}, {"negative_slope": 0.1}),
    "glu": ({"x": "x"}, {"axis": -1}),
    "normalize": ({"x": "x"}, {"axis": -1}),
    "round": ({"x": "x"}, {"decimals": 1}),
    "clip": ({"x": "x"}, {"x_min": 0.7, "x_max": 1.5}),
}
# The Python key a hand-written model uses for a spec key.
PYTHON_KEYS = {"get_item": (slice(None), 0)}
# Ops without a tensor operand (constants) are tested on their own.
CONSTANT_OPS = {"arange"}


def _sample(name):
    spec = op_spec(name)
    if name in SAMPLES:
        return SAMPLES[name]
    first = spec.operands[0].name
    if spec.operand_names == ("x1", "x2"):
        if name.startswith("logical_"):
            return {"x1": "b", "x2": "c"}, {}
        return {"x1": "x", "x2": "y"}, {}
    assert len(spec.operands) == 1 and not any(a.required for a in spec.arguments.values()), name
    return {first: "x"}, {}


def _data(seed=0):
    rng = np.random.default_rng(seed)
    data = {}
    for name, (shape, dtype) in INPUTS.items():
        full = (2, *shape)
        if dtype == "float32":
            data[name] = rng.uniform(0.5, 2.0, full).astype("float32")
        elif dtype == "int32":
            data[name] = rng.integers(0, 3 if name == "i" else 4, full).astype("int32")
        else:
            data[name] = rng.random(full) > 0.5
    return data


def _model(build, used):
    """A model over the inputs named in `used`, built by `build(tensors)`, fresh names."""
    keras.backend.clear_session(free_memory=False)  # resets the automatic names
    tensors = {
        name: keras.Input(INPUTS[name][0], dtype=INPUTS[name][1], name=name) for name in used
    }
    output = build(tensors)
    return keras.Model([tensors[name] for name in used], output, name="m")


def _used_inputs(operands):
    used = []
    for value in operands.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item in INPUTS and item not in used:
                used.append(item)
    return used


def _resolve(operands, tensors, name):
    values = {}
    for key, value in operands.items():
        if op_spec(name).operand(key).kind == "key":
            values[key] = value
        elif isinstance(value, list) and op_spec(name).operand(key).kind == "tensors":
            values[key] = [tensors[item] for item in value]
        elif isinstance(value, str):
            values[key] = tensors[value]
        else:
            values[key] = value
    return values


def _by_hand(name, operands, static):
    """The keras.ops function called with the same arguments, by name."""

    def build(tensors):
        values = _resolve(operands, tensors, name)
        if name in PYTHON_KEYS:
            values["key"] = PYTHON_KEYS[name]
        return getattr(keras.ops, name)(**values, **static)

    return _model(build, _used_inputs(operands))


def _with_apply_op(name, operands, static, node_name=None):
    return _model(
        lambda tensors: apply_op(name, node_name, _resolve(operands, tensors, name), static),
        _used_inputs(operands),
    )


def _config(model):
    """The model config as a saved file holds it (JSON: tuples are lists)."""
    return json.loads(json.dumps(model.get_config()))


def _outputs(model, data):
    return keras.ops.convert_to_numpy(model([data[item.name] for item in model.inputs]))


# --- the table -------------------------------------------------------------------------


def test_the_checked_in_table_is_what_the_installed_keras_produces():
    """If this fails after a Keras upgrade: python -m kerasblocks.spec.ops"""
    checked_in = Path(spec_ops.__file__).with_name(spec_ops.TABLE_FILE).read_text("utf-8")
    assert spec_ops.table_text(spec_ops.generate()) == checked_in


def test_check_mode_of_the_generator(capsys):
    assert spec_ops.main(["--check"]) == 0
    assert "is up to date" in capsys.readouterr().out


def test_the_table_holds_the_requested_ops_with_their_classes_and_arguments():
    names = set(op_names())
    for name in (
        "add subtract multiply divide true_divide power negative abs square sqrt exp log "
        "maximum minimum mean sum max min reshape transpose expand_dims squeeze matmul "
        "concatenate stack cast equal not_equal greater greater_equal less less_equal "
        "logical_and logical_or logical_not where take slice get_item arange relu relu6 "
        "sigmoid hard_sigmoid hard_swish hard_silu silu swish gelu softmax tanh erf"
    ).split():
        assert name in names, name
    mean = op_spec("mean")
    assert (mean.module, mean.class_name) == ("keras.src.ops.numpy", "Mean")
    assert mean.operand_names == ("x",)
    assert {name: (a.kinds, a.default) for name, a in mean.arguments.items()} == {
        "axis": (("int", "ints", "null"), None),
        "keepdims": (("bool",), False),
    }
    assert op_spec("abs").class_name == "Absolute"  # keras.ops.abs calls absolute
    assert op_spec("hard_swish") is op_spec("hard_silu") and op_spec("swish").name == "silu"
    assert op_spec("slice").operand_names == ("inputs", "start_indices")
    assert op_spec("reshape").arguments["newshape"].required
    assert op_spec("arange").constant and not op_spec("add").constant
    assert op_spec("Mean") is None and op_spec("Conv2D") is None
    assert is_op_name("not_equal") and is_op_name("swish") and not is_op_name("Add")


def test_every_op_of_the_table_has_a_sample():
    assert set(SAMPLES) <= set(op_names(include_aliases=False))
    for name in op_names(include_aliases=False):
        if name not in CONSTANT_OPS:
            _sample(name)  # asserts that the default sample fits


# --- the builder --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(op_names(include_aliases=False)) - CONSTANT_OPS))
def test_every_op_builds_as_keras_ops_does_and_reads_back(name):
    """Same model config and outputs as the keras.ops function called by hand; and
    op_from_config + operands_from_config give the spec arguments back."""
    operands, static = _sample(name)
    by_hand = _by_hand(name, operands, static)
    built = _with_apply_op(name, operands, static)
    assert _config(built) == _config(by_hand)
    data = _data()
    np.testing.assert_array_equal(_outputs(built, data), _outputs(by_hand, data))

    entry = built.get_config()["layers"][-1]  # the op node (inputs come first)
    spec_name, read_static = op_from_config(entry)
    assert spec_name == name
    defaults = op_spec(name).arguments
    expected = {k: v for k, v in static.items() if v != defaults[k].default}
    if name == "one_hot":  # keras.ops.one_hot records dtype=None as the float dtype
        expected["dtype"] = "float32"
    assert read_static == expected
    read = operands_from_config(entry)
    assert list(read) == [key for key in op_spec(name).operand_names if key in operands]
    written = {key: _reference_names(value) for key, value in read.items()}
    assert written == operands
    rebuilt = _with_apply_op(spec_name, written, read_static)
    assert _config(rebuilt) == _config(built)


def _reference_names(value):
    if isinstance(value, TensorRef):
        return value.layer
    if isinstance(value, list) and value and isinstance(value[0], TensorRef):
        return [ref.layer for ref in value]
    return value


def _hard_sigmoid_by_hand(tensors):
    x = tensors["x"] + 3.0
    return keras.ops.relu6(x) * (1 / 6)


def _hard_sigmoid_with_apply_op(tensors):
    x = apply_op("add", None, {"x1": tensors["x"], "x2": 3.0})
    x = apply_op("relu6", None, {"x": x})
    return apply_op("multiply", None, {"x1": x, "x2": 1 / 6})


@pytest.mark.parametrize(
    "by_hand, with_apply_op, used",
    [
        (_hard_sigmoid_by_hand, _hard_sigmoid_with_apply_op, ["x"]),
        (
            lambda t: keras.ops.mean(t["x"], axis=1, keepdims=True),
            lambda t: apply_op("mean", None, {"x": t["x"]}, {"axis": 1, "keepdims": True}),
            ["x"],
        ),
        (
            lambda t: keras.ops.not_equal(t["i"], 0),
            lambda t: apply_op("not_equal", None, {"x1": t["i"], "x2": 0}),
            ["i"],
        ),
        (
            lambda t: keras.ops.reshape(t["x"], (-1, 12)),
            lambda t: apply_op("reshape", None, [t["x"]], {"newshape": [-1, 12]}),
            ["x"],
        ),
        (
            lambda t: keras.ops.reshape(t["x"], 24),  # an int shape becomes (24,)
            lambda t: apply_op("reshape", None, [t["x"]], {"newshape": 24}),
            ["x"],
        ),
        (
            lambda t: keras.ops.transpose(t["x"], (0, 2, 1)),
            lambda t: apply_op("transpose", None, [t["x"]], {"axes": [0, 2, 1]}),
            ["x"],
        ),
        (
            lambda t: keras.ops.concatenate([t["x"], t["y"]], axis=-1),
            lambda t: apply_op("concatenate", None, {"xs": [t["x"], t["y"]]}, {"axis": -1}),
            ["x", "y"],
        ),
        (
            lambda t: t["x"][:, 1:3, None, ...],
            lambda t: apply_op("get_item", None, {"x": t["x"], "key": [":", "1:3", None, "..."]}),
            ["x"],
        ),
        (
            lambda t: t["x"][..., ::2],
            lambda t: apply_op("get_item", None, {"x": t["x"], "key": ["...", {"step": 2}]}),
            ["x"],
        ),
        (
            lambda t: t["x"][0],  # an int key stays an int
            lambda t: apply_op("get_item", None, {"x": t["x"], "key": 0}),
            ["x"],
        ),
        (
            lambda t: t["x"] + keras.ops.arange(0, 4),
            lambda t: apply_op(
                "add", None, {"x1": t["x"], "x2": apply_op("arange", None, {"start": 0, "stop": 4})}
            ),
            ["x"],
        ),
        (
            lambda t: t["x"] * keras.ops.arange(1, 9, 2, dtype="float32"),
            lambda t: apply_op(
                "multiply",
                None,
                {
                    "x1": t["x"],
                    "x2": apply_op(
                        "arange", None, {"start": 1, "stop": 9, "step": 2}, {"dtype": "float32"}
                    ),
                },
            ),
            ["x"],
        ),
        (
            lambda t: keras.ops.cast(t["i"], "float32") - 1.0,
            lambda t: apply_op(
                "subtract",
                None,
                {"x1": apply_op("cast", None, [t["i"]], {"dtype": "float32"}), "x2": 1.0},
            ),
            ["i"],
        ),
        (
            lambda t: keras.ops.hard_swish(t["x"]),
            lambda t: apply_op("hard_swish", None, [t["x"]]),
            ["x"],
        ),
    ],
    ids=[
        "hard_sigmoid_chain", "mean", "not_equal", "reshape", "reshape_int", "transpose",
        "concatenate", "get_item", "get_item_step", "get_item_int", "arange", "arange_float",
        "cast", "alias",
    ],
)  # fmt: skip
def test_models_built_with_apply_op_equal_keras_ops_by_hand(by_hand, with_apply_op, used):
    hand = _model(by_hand, used)
    built = _model(with_apply_op, used)
    assert _config(built) == _config(hand)
    data = _data(1)
    np.testing.assert_array_equal(_outputs(built, data), _outputs(hand, data))
    # The config loads back (what a saved .keras file holds).
    loaded = keras.Model.from_config(copy.deepcopy(built.get_config()))
    np.testing.assert_array_equal(_outputs(loaded, data), _outputs(hand, data))


def test_apply_op_names_the_operation():
    def by_hand(t):
        y = t["x"] + 3.0
        y._keras_history.operation.name = "shift"
        z = keras.ops.mean(y, axis=1)
        z._keras_history.operation.name = "pool"
        return z

    def built(t):
        y = apply_op("add", "shift", {"x1": t["x"], "x2": 3.0})
        return apply_op("mean", "pool", {"x": y}, {"axis": 1})

    hand_model, model = _model(by_hand, ["x"]), _model(built, ["x"])
    assert [operation.name for operation in model.operations] == ["x", "shift", "pool"]
    assert _config(model) == _config(hand_model)


def test_residual_add_of_two_layers():
    def by_hand(t):
        a = keras.layers.Dense(4, name="a")(t["x"])
        b = keras.layers.Dense(4, name="b")(a)
        c = keras.ops.add(a, b)
        c._keras_history.operation.name = "residual"
        return c

    def built(t):
        a = keras.layers.Dense(4, name="a")(t["x"])
        b = keras.layers.Dense(4, name="b")(a)
        return apply_op("add", "residual", {"x1": a, "x2": b})

    hand, model = _model(by_hand, ["x"]), _model(built, ["x"])
    assert _config(model) == _config(hand)


def test_arange_alone_is_a_constant_not_a_node():
    value = apply_op("arange", "positions", {"start": 0, "stop": 5})
    assert not isinstance(value, keras.KerasTensor)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(value), np.arange(5))


def test_apply_op_refuses_what_the_table_does_not_allow():
    x = keras.Input((3,))
    with pytest.raises(KeyError, match="unknown operation 'mena'; did you mean 'mean'"):
        apply_op("mena", None, [x])
    with pytest.raises(TypeError, match="reshape needs argument 'newshape'"):
        apply_op("reshape", None, [x])
    with pytest.raises(TypeError, match=r"mean has no argument\(s\) \['axs'\]"):
        apply_op("mean", None, [x], {"axs": 1})
    with pytest.raises(TypeError, match="add needs operand 'x2'"):
        apply_op("add", None, {"x1": x})


# --- validation (no Keras) ------------------------------------------------------------


@pytest.mark.parametrize(
    "name, arguments, expected",
    [
        ("add", {"x2": 3.0}, []),
        ("multiply", {"x1": "a", "x2": "b", "name": "gate", "when": True}, []),
        ("mean", {"axis": [1, 2], "keepdims": True}, []),
        (
            "mean",
            {"axs": 1},
            [("axs", "mean has no argument 'axs'; did you mean 'axis'?", "mean takes x, axis, keepdims")],
        ),
        (
            "mean",
            {"axis": "1"},
            [
                (
                    "axis",
                    "argument 'axis' of mean must be an integer, a list of integers or null, "
                    "not the string '1'",
                    "write it without quotes: axis: 1",
                )
            ],
        ),
        (
            "mean",
            {"keepdims": 1},
            [("keepdims", "argument 'keepdims' of mean must be true or false, not the integer 1", None)],
        ),
        (
            "reshape",
            {},
            [(None, "reshape needs argument 'newshape' (an integer or a list of integers)", "reshape takes x, newshape")],
        ),
        (
            "cast",
            {"dtype": "flaot32"},
            [("dtype", "unknown dtype 'flaot32' for argument 'dtype' of cast; did you mean 'float32'?", None)],
        ),
        (
            "add",
            {},
            [(None, "add needs operand 'x2' (a node name or a number or boolean constant)", "add takes x1, x2")],
        ),
        (
            "add",
            {"x2": [1.0, 2.0]},
            [
                (
                    "x2",
                    "operand 'x2' of add must be a node name or a number or boolean constant, not a list",
                    "a constant operand is one number or boolean; Keras cannot add a Python list to a tensor",
                )
            ],
        ),
        (
            "concatenate",
            {"xs": "a"},
            [("xs", "operand 'xs' of concatenate must be a list of node names, not the string 'a'", "write a list: xs: [a, ...]")],
        ),
        (
            "concatenate",
            {"axis": 1},
            [(None, "concatenate needs operand 'xs' (a list of node names)", "concatenate takes xs, axis")],
        ),
        (
            "add",
            {"inputs": ["a", "b"]},
            [
                (
                    "inputs",
                    "add has no argument 'inputs'",
                    "add takes x1, x2; operations name their operands instead of `inputs`",
                ),
                (None, "add needs operand 'x2' (a node name or a number or boolean constant)", "add takes x1, x2"),
            ],
        ),
        (
            "where",
            {"x1": "a"},
            [("x1", "where needs both x1 and x2, or neither", "where: {x1: a, x2: b} picks from a where the condition holds, else from b")],
        ),
        (
            "arange",
            {"start": 0, "stop": "16"},
            [("stop", "operand 'stop' of arange must be a number, not the string '16'", "write it without quotes: stop: 16")],
        ),
        ("arange", {"start": 0, "stop": 16}, []),
        (
            "get_item",
            {"key": [":", "1;3"]},
            [
                (
                    "key",
                    "get_item key: item 1 (the string '1;3'): not an index, a slice, '...' or null",
                    spec_ops.KEY_HINT,
                )
            ],
        ),
        (
            "get_item",
            {"key": [{"-1": None}]},
            [
                (
                    "key",
                    "get_item key: item 0 (a mapping): a slice mapping has keys start, stop and step, "
                    "not '-1' (YAML reads an unquoted '-1:' as a mapping: quote slices)",
                    spec_ops.KEY_HINT,
                )
            ],
        ),
        (
            "get_item",
            {"key": ["...", 0, "..."]},
            [("key", "get_item key: '...' may appear once, not 2 times", spec_ops.KEY_HINT)],
        ),
        ("get_item", {"key": ["::0"]}, [("key", "get_item key: item 0 (the string '::0'): a slice step cannot be 0", spec_ops.KEY_HINT)]),
        ("hard_swish", {"x": 1}, []),
        ("not_equal", {"x1": "tokens", "x2": 0}, []),
        (
            "mena",
            {"axis": 1},
            [(None, "unknown operation 'mena'; did you mean 'mean'?", None)],
        ),
    ],
)  # fmt: skip
def test_check_op_arguments_messages(name, arguments, expected):
    assert [tuple(problem) for problem in check_op_arguments(name, arguments)] == expected


def test_check_op_arguments_without_a_previous_node():
    assert check_op_arguments("relu", None, previous_available=False) == [
        (
            None,
            "relu needs operand 'x' (a node name or a number or boolean constant); there is no "
            "previous node to take it from",
            "relu takes x",
        )
    ]
    assert check_op_arguments("relu", {"x": "a"}, previous_available=False) == []
    assert check_op_arguments("arange", {"start": 4}, previous_available=False) == []


def test_bind_operands_fills_the_first_missing_tensor_operand_from_the_previous_node():
    binding = bind_operands("add", {"x2": 3.0, "name": "shift"}, previous_available=True)
    assert binding.op == "add" and binding.previous_operand == "x1"
    assert [(o.name, o.value, o.given) for o in binding.operands] == [
        ("x1", PREVIOUS, False),
        ("x2", 3.0, True),
    ]
    assert binding.static == {} and binding.references == ()
    # 1 - previous: the first operand is given, so the previous node fills x2.
    binding = bind_operands("subtract", {"x1": 1.0}, previous_available=True)
    assert binding.previous_operand == "x2"
    binding = bind_operands("multiply", {"x1": "a", "x2": "b"}, previous_available=True)
    assert binding.previous_operand is None and binding.references == ("a", "b")
    binding = bind_operands("mean", {"axis": [1, 2], "keepdims": True}, previous_available=True)
    assert binding.static == {"axis": [1, 2], "keepdims": True}
    binding = bind_operands("concatenate", {"xs": ["a", "b"], "axis": -1}, True)
    assert binding.references == ("a", "b") and binding.previous_operand is None
    binding = bind_operands("where", {"x1": "a", "x2": 0.0}, True)
    assert binding.previous_operand == "condition" and binding.references == ("a",)
    binding = bind_operands("arange", {"start": 0, "stop": 16}, True)
    assert binding.previous_operand is None
    assert [(o.name, o.value) for o in binding.operands] == [
        ("start", 0),
        ("stop", 16),
        ("step", None),
    ]
    binding = bind_operands("swish", {}, True)
    assert binding.op == "silu"
    with pytest.raises(spec_ops.OpArgumentError, match="add needs operand 'x2'") as caught:
        bind_operands("add", {}, previous_available=True)
    assert len(caught.value.problems) == 1


def test_operand_values_resolve_references():
    binding = bind_operands("where", {"x1": "a", "x2": 0.0}, True)
    values = binding.operand_values({"a": "A"}.__getitem__, previous="P")
    assert values == {"condition": "P", "x1": "A", "x2": 0.0}
    binding = bind_operands("concatenate", {"xs": ["a", "b"]}, False)
    assert binding.operand_values(str.upper) == {"xs": ["A", "B"]}
    binding = bind_operands("get_item", {"key": [":", 0]}, True)
    assert binding.operand_values(str.upper, previous="P") == {"x": "P", "key": [":", 0]}


def test_keys():
    assert key_from_spec(0) == 0
    assert key_from_spec([":", "1:3", None, "...", "::2", "-1:", {"start": 2}, {}]) == (
        slice(None), slice(1, 3), None, Ellipsis, slice(None, None, 2), slice(-1, None),
        slice(2, None), slice(None),
    )  # fmt: skip
    assert key_to_spec(
        [
            {"class_name": "__slice__", "config": {"start": None, "stop": None, "step": None}},
            {"class_name": "__slice__", "config": {"start": 1, "stop": 3, "step": None}},
            {"class_name": "__slice__", "config": {"start": None, "stop": -1, "step": 2}},
            None,
            {"class_name": "__ellipsis__", "config": {}},
            0,
        ]
    ) == [":", "1:3", ":-1:2", None, "...", 0]
    assert key_to_spec(3) == 3
    with pytest.raises(ValueError, match="item 0 .*write it without quotes"):
        key_from_spec(["3"])
    with pytest.raises(UnsupportedOperation, match="cannot write"):
        key_to_spec([{"class_name": "__keras_tensor__", "config": {}}])


def test_validation_and_to_spec_never_import_keras_or_tensorflow():
    code = textwrap.dedent("""\
        import sys
        from kerasblocks.spec import ops
        assert ops.is_op_name("add") and "mean" in ops.op_names()
        assert ops.check_op_arguments("mean", {"axs": 1})
        ops.bind_operands("add", {"x2": 3.0}, previous_available=True)
        entry = {
            "module": "keras.src.ops.numpy", "class_name": "Max",
            "config": {"name": "max", "axis": 1, "keepdims": False, "initial": None},
            "name": "max",
            "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                "config": {"shape": [None, 4], "dtype": "float32",
                           "keras_history": ["x", 0, 0]}}], "kwargs": {}}],
        }
        assert ops.op_from_config(entry) == ("max", {"axis": 1})
        assert ops.operands_from_config(entry) == {"x": ops.TensorRef("x", 0, 0)}
        loaded = {"keras", "tensorflow"} & {name.split(".")[0] for name in sys.modules}
        assert not loaded, loaded
        print("ok")
        """)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --- to_spec -----------------------------------------------------------------------


def _layer_entries(model):
    return {layer["name"]: layer for layer in model.get_config()["layers"]}


def test_op_from_config_of_hand_written_models():
    def build(t):
        a = t["x"] + 3.0
        b = keras.ops.relu6(a)
        c = b * (1 / 6)
        d = keras.ops.mean(c, axis=1, keepdims=True)
        e = keras.ops.not_equal(t["i"], 0)
        f = keras.ops.softmax(t["x"])  # default axis
        g = keras.ops.hard_swish(t["x"])
        h = t["x"] + keras.ops.arange(0, 4)
        k = t["x"][:, 0]
        return [d, e, f, g, h, k]

    entries = _layer_entries(_model(build, ["x", "i"]))
    assert op_from_config(entries["add"]) == ("add", {})
    assert operands_from_config(entries["add"]) == {"x1": TensorRef("x", 0, 0), "x2": 3.0}
    assert op_from_config(entries["relu6"]) == ("relu6", {})
    assert operands_from_config(entries["multiply"]) == {
        "x1": TensorRef("relu6", 0, 0),
        "x2": 1 / 6,
    }
    assert op_from_config(entries["mean"]) == ("mean", {"axis": 1, "keepdims": True})
    assert operands_from_config(entries["not_equal"]) == {"x1": TensorRef("i", 0, 0), "x2": 0}
    assert op_from_config(entries["softmax"]) == ("softmax", {})
    assert op_from_config(entries["hard_silu"]) == ("hard_silu", {})
    assert operands_from_config(entries["add_1"]) == {
        "x1": TensorRef("x", 0, 0),
        "x2": ArangeConstant(0, 4, 1, None),
    }
    assert ArangeConstant(0, 4, 1, None).arguments() == {"start": 0, "stop": 4}
    assert operands_from_config(entries["get_item"]) == {"x": TensorRef("x", 0, 0), "key": [":", 0]}


def test_arange_constants_read_back():
    def value(items, dtype):
        return {"class_name": "__tensor__", "config": {"value": items, "dtype": dtype}}

    assert spec_ops.arange_constant(value([1.0, 3.0, 5.0, 7.0], "float32")) == ArangeConstant(
        1, 9, 2, "float32"
    )
    assert spec_ops.arange_constant(value([5], "int64")).arguments() == {
        "start": 5,
        "stop": 6,
        "dtype": "int64",
    }
    assert spec_ops.arange_constant(value([0, 1, 3], "int32")) is None
    assert spec_ops.arange_constant(value([[0, 1]], "int32")) is None
    assert spec_ops.arange_constant(value([0.5, 1.5], "float32")) is None


def test_op_from_config_refuses_ops_outside_the_table():
    def build(t):
        return keras.ops.einsum("bij,bjk->bik", t["x"], t["m"])

    entries = _layer_entries(_model(build, ["x", "m"]))
    with pytest.raises(UnsupportedOperation) as caught:
        op_from_config(entries["einsum"])
    assert str(caught.value).startswith(
        "'einsum' (keras.src.ops.numpy.Einsum) is a keras.ops operation that specs have no "
        "entry for; spec operations: abs, add, all, "
    )

    def with_array(t):
        return t["x"] + np.array([[1.0, 2.0, 0.5, 0.0]] * 3, "float32")

    entries = _layer_entries(_model(with_array, ["x"]))
    with pytest.raises(UnsupportedOperation) as caught:
        operands_from_config(entries["add"])
    assert str(caught.value).startswith("'add' (add): operand 'x2' is an inline array constant")
    assert str(caught.value).endswith("which a spec can write only when it is an arange")


def test_position_indices_that_follow_the_sequence_length():
    """The README recipe: cumsum(ones_like(tokens), axis=1) - 1, then an Embedding."""
    keras.backend.clear_session(free_memory=False)
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    ones = apply_op("ones_like", "ones", {"x": tokens})
    counts = apply_op("cumsum", "counts", {"x": ones}, {"axis": 1})
    positions = apply_op("subtract", "positions", {"x1": counts, "x2": 1})
    embedded = keras.layers.Embedding(16, 2, name="position_embedding")(positions)
    mask = apply_op("not_equal", "mask", {"x1": tokens, "x2": 0})
    model = keras.Model(tokens, [embedded, mask])
    data = np.array([[5, 3, 0, 0, 0], [1, 2, 3, 4, 0]], "int32")
    embedded_value, mask_value = (keras.ops.convert_to_numpy(v) for v in model(data))
    weights = keras.ops.convert_to_numpy(model.get_layer("position_embedding").embeddings)
    np.testing.assert_array_equal(embedded_value, np.stack([weights[:5], weights[:5]]))
    np.testing.assert_array_equal(mask_value, data != 0)
