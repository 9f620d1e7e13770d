"""One helper that runs every kerasblocks layer through the same checks.

Modelled on `run_layer_test` in keras/src/testing/test_case.py: shapes against
`compute_output_shape` (concrete and symbolic batch), config and serialization
round trips, `get_config` mirroring `__init__`, a training step that lowers the
loss with finite gradients, XLA, mixed precision, and `.keras` save/load giving
bit-identical outputs in this process and in a fresh one that only does
`import kerasblocks`.

The checks run on the Keras backend the tests run on (`KERAS_BACKEND`:
TensorFlow, JAX or PyTorch). Gradients come from that backend's own autodiff
(`tf.GradientTape`, `jax.grad`, `torch.autograd`) and `jit_compile` means what
Keras makes of it there: XLA through `tf.function` on TensorFlow, `jax.jit` on
JAX. On PyTorch, where it means `torch.compile`, the `jit_compile` check skips
(see `JIT_COMPILE_SKIP_REASONS`) and `mixed_float16` runs eagerly, the torch
backend's default.

What costs time here is compiling: a Keras training step takes seconds to
trace and XLA takes seconds more to compile it (JAX also compiles every eager
op for each new shape), and a fresh interpreter takes seconds to import the
backend. So each configuration
- traces one training step (graph mode on TensorFlow, `jax.jit` on JAX),
  shared by the training and the saving checks, which compare eager outputs
  (no `predict` function to trace);
- compiles one `jit_compile` function per dtype policy, holding both the
  training step and the inference output (not `train_on_batch` and `predict`
  separately), with SGD and the optimizer built beforehand, so it is traced
  only once;
- loads its `.keras` file in a fresh interpreter shared with the other
  configurations of the same layer class, started in the background when that
  class's first test begins.
"""

import atexit
import inspect
import json
import os
import subprocess
import sys
import tempfile
from typing import NamedTuple

import keras
import numpy as np
import pytest

import kerasblocks  # noqa: F401  (registers the layers)

BACKEND = keras.backend.backend()

# Why `jit_compile=True` is not checked on a backend. Keras' torch backend
# compiles with `torch.compile` (TorchInductor, which generates and builds C++
# per graph): the first training step of a 2-layer ResidualUnit model took
# 63 s on this project's 2-core machine, and Dynamo hit its recompile limit
# on Keras' layer hooks. Keras leaves the torch backend eager by default
# (`jit_compile="auto"`), as the other checks run it.
JIT_COMPILE_SKIP_REASONS = {
    "torch": (
        "jit_compile=True on the torch backend is torch.compile: about a "
        "minute of C++ compilation per model on CPU; Keras runs torch eagerly "
        "by default (jit_compile='auto')"
    ),
}

# The parts of `run_layer_test`, one pytest case each in `layer_test`.
LAYER_CHECKS = ("core", "jit_compile", "mixed_float16")


def random_inputs(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


class LayerCase(NamedTuple):
    """One configuration for `run_layer_test`; `id` names the pytest case."""

    id: str
    init_kwargs: dict
    input_shapes: list
    expected_output_shapes: list = None
    expected_num_trainable_weights: int = None
    expected_num_non_trainable_weights: int = None


def same_shape_case(
    case_id, init_kwargs, input_shapes, trainable_weights=0, non_trainable_weights=0
):
    """A `LayerCase` for a layer whose output shape is its input shape
    (weightless unless told)."""
    return LayerCase(
        case_id,
        init_kwargs,
        input_shapes,
        input_shapes,
        trainable_weights,
        non_trainable_weights,
    )


def image_layer_cases(rows):
    """`LayerCase`s for 4-D (channels-last) layers from compact rows
    `(id, init_kwargs, input_shape, expected_output_shape, trainable,
    non_trainable)`.

    Each case also runs the shape checks on `(3, 6, 10, channels)`: another
    batch size and a non-square spatial size that is not a power of 2.
    """
    return [
        LayerCase(
            name,
            kwargs,
            [input_shape, (3, 6, 10, input_shape[-1])],
            [expected, None],
            trainable,
            non_trainable,
        )
        for name, kwargs, input_shape, expected, trainable, non_trainable in rows
    ]


def layer_test(layer_cls, cases):
    """A pytest test function running `run_layer_test` on each of `cases`.

    In a test module: `test_layer = layer_test(ResidualUnit, CASES)`; pytest
    names the tests after the variable, the case ids and the part of the
    checks (`LAYER_CHECKS`): `test_layer[v1-core]`, `test_layer[v1-jit_compile]`,
    `test_layer[v1-mixed_float16]`. The parts share nothing but the fresh
    interpreter, so a part a backend lacks skips alone.
    """

    @pytest.mark.parametrize("check", LAYER_CHECKS)
    @pytest.mark.parametrize("case", cases, ids=[case.id for case in cases])
    def test(case, check, tmp_path):
        run_layer_test(
            layer_cls,
            case.init_kwargs,
            case.input_shapes,
            tmp_path=tmp_path,
            expected_output_shapes=case.expected_output_shapes,
            expected_num_trainable_weights=case.expected_num_trainable_weights,
            expected_num_non_trainable_weights=case.expected_num_non_trainable_weights,
            checks=(check,),
        )

    test.__doc__ = f"`run_layer_test` on a {layer_cls.__name__} configuration."
    return test


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shapes,
    *,
    tmp_path,
    expected_output_shapes=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    run_subprocess_load=True,
    checks=LAYER_CHECKS,
):
    """Runs `layer_cls(**init_kwargs)` through the shared checks.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        input_shapes: list of full input shapes (with batch size); the first
            one is used for the training, compiled, precision and saving
            checks.
        tmp_path: a `pathlib.Path` for `.keras` files (pytest's `tmp_path`).
        expected_output_shapes: optional list, one expected output shape (or
            `None`) per input shape.
        expected_num_trainable_weights: optional count of trainable weights
            (variables, not parameters) after build.
        expected_num_non_trainable_weights: same for non-trainable weights.
        run_subprocess_load: also load the saved model in a fresh interpreter.
        checks: which parts of `LAYER_CHECKS` to run: `"core"` (config,
            shapes, weight counts, training step, saving), `"jit_compile"`,
            `"mixed_float16"`.

    Raises:
        pytest.skip.Exception: `"jit_compile"` on a backend listed in
            `JIT_COMPILE_SKIP_REASONS` (after the other checks ran).
    """
    unknown = sorted(set(checks) - set(LAYER_CHECKS))
    if unknown:
        raise ValueError(f"Unknown checks {unknown}; known: {list(LAYER_CHECKS)}")
    input_shape = input_shapes[0]
    if "core" in checks:
        if run_subprocess_load:
            fresh_interpreter(layer_cls)  # starts importing the backend meanwhile
        check_config_round_trips(layer_cls, init_kwargs)
        for index, shape in enumerate(input_shapes):
            expected = expected_output_shapes[index] if expected_output_shapes else None
            check_output_shapes(layer_cls, init_kwargs, shape, expected)
        layer = layer_cls(**init_kwargs)
        layer.build(tuple(input_shape))
        if expected_num_trainable_weights is not None:
            assert len(layer.trainable_weights) == expected_num_trainable_weights
        if expected_num_non_trainable_weights is not None:
            assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
        trained = check_training_step(layer_cls, init_kwargs, input_shape)
        check_save_and_load(
            layer_cls, init_kwargs, input_shape, tmp_path, run_subprocess_load, trained
        )
    if "mixed_float16" in checks:
        check_mixed_precision(layer_cls, init_kwargs, input_shape)
    if "jit_compile" in checks:
        check_jit_compile(layer_cls, init_kwargs, input_shape)


def check_config_round_trips(layer_cls, init_kwargs):
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    # get_config mirrors __init__: every named constructor argument is stored.
    params = inspect.signature(layer_cls.__init__).parameters
    named = [
        name
        for name, p in params.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    missing = [name for name in named if name not in config]
    assert not missing, f"get_config() lacks constructor arguments {missing}"
    json.dumps(config)  # a config must be JSON-serialisable to go into .keras

    assert layer_cls.from_config(config).get_config() == config

    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"kerasblocks>{layer_cls.__name__}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is layer_cls
    assert restored.get_config() == config


def check_output_shapes(layer_cls, init_kwargs, input_shape, expected):
    input_shape = tuple(input_shape)
    # Concrete batch, eager call.
    layer = layer_cls(**init_kwargs)
    output = layer(random_inputs(input_shape))
    assert tuple(output.shape) == tuple(layer.compute_output_shape(input_shape))
    if expected is not None:
        assert tuple(output.shape) == tuple(expected)
    # Unknown batch, symbolic call.
    layer = layer_cls(**init_kwargs)
    symbolic = layer(keras.Input(shape=input_shape[1:]))
    expected_symbolic = layer.compute_output_shape((None, *input_shape[1:]))
    assert tuple(symbolic.shape) == tuple(expected_symbolic)


def check_channels_first_matches_last(layer_cls, init_kwargs, x, tolerance=1e-5):
    """`layer_cls(**init_kwargs, data_format="channels_first")` with the
    weights of the channels-last layer gives the same numbers on the
    transposed 4-D input `x` (given channels last). Returns that layer."""
    last = layer_cls(**init_kwargs)
    first = layer_cls(**init_kwargs, data_format="channels_first")
    x_first = np.transpose(x, (0, 3, 1, 2))
    last.build(x.shape)
    first.build(x_first.shape)
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(
        np.transpose(keras.ops.convert_to_numpy(first(x_first)), (0, 2, 3, 1)),
        keras.ops.convert_to_numpy(last(x)),
        rtol=tolerance,
        atol=tolerance,
    )
    return first


def _model_around(layer, input_shape, with_projection):
    """Input -> [Dense on the last axis] -> layer, as a functional model.

    The projection gives weightless layers (LRN) something to train, so the
    gradient must flow through the layer under test.
    """
    inputs = keras.Input(shape=input_shape[1:])
    x = inputs
    if with_projection:
        x = keras.layers.Dense(input_shape[-1], name="projection")(x)
    return keras.Model(inputs, layer(x))


def _training_model(layer_cls, init_kwargs, input_shape, seed=1):
    keras.utils.set_random_seed(seed)
    layer = layer_cls(**init_kwargs)
    model = _model_around(layer, input_shape, with_projection=True)
    x = random_inputs(input_shape, seed=seed)
    y = random_inputs(tuple(model(x).shape), seed=seed + 1)
    return model, x, y


def _inference(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def check_training_step(layer_cls, init_kwargs, input_shape):
    """Finite gradients for every weight, and one compiled SGD step (the
    backend's default compilation: graph mode on TensorFlow, `jax.jit` on
    JAX, eager on PyTorch) lowers the training loss.

    Returns `(model, x, y)`: the compiled model after its step, for
    `check_save_and_load` to reuse the traced training function.
    """
    model, x, y = _training_model(layer_cls, init_kwargs, input_shape)

    def loss_and_outputs():
        outputs = model(x, training=True)
        return keras.ops.mean(keras.ops.square(keras.ops.subtract(outputs, y))), outputs

    _, _, gradients = value_and_gradients(loss_and_outputs, variables=model.trainable_weights)
    for weight, gradient in zip(model.trainable_weights, gradients):
        assert gradient is not None, f"no gradient reaches {weight.path}"
        assert np.all(np.isfinite(gradient)), f"non-finite gradient for {weight.path}"

    def training_loss():
        # Training mode: batch statistics, so the loss depends on weights only.
        return float(keras.ops.convert_to_numpy(loss_and_outputs()[0]))

    before = training_loss()
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
    model.train_on_batch(x, y)
    after = training_loss()
    assert np.isfinite(after) and after < before, (before, after)
    return model, x, y


def _compile_returning_outputs(model, **compile_kwargs):
    """`model.compile(**compile_kwargs)`, with the training step also
    returning the model's inference output on its batch, after the update.

    `train_on_batch(x, y, return_dict=True)["outputs"]` is then the output of
    the very function Keras compiled (with XLA or `jax.jit` when
    `jit_compile=True`), so one compilation serves both the training and the
    output checks, where `train_on_batch` and `predict` would compile one
    function each.
    """
    model.compile(**compile_kwargs)
    # Built now, not on the first call: optimizer variables made while the
    # step is traced make TensorFlow trace (and XLA compile) it twice.
    model.optimizer.build(model.trainable_variables)
    keras_train_step = model.train_step

    if BACKEND == "jax":
        # The JAX trainer's step is a pure function of the variable values.
        def train_step(state, data):
            logs, state = keras_train_step(state, data)
            trainable, non_trainable = state[0], state[1]
            outputs, _ = model.stateless_call(
                trainable, non_trainable, data[0], training=False
            )
            return {**logs, "outputs": outputs}, state

    else:

        def train_step(data):
            logs = keras_train_step(data)
            return {**logs, "outputs": model(data[0], training=False)}

    model.train_step = train_step  # read by make_train_function()
    return model


def check_jit_compile(layer_cls, init_kwargs, input_shape):
    """A `jit_compile=True` training step (XLA on TensorFlow, `jax.jit` on
    JAX) runs, and its inference output matches the eager one."""
    skip_without_jit_compile()
    model, x, y = _training_model(layer_cls, init_kwargs, input_shape)
    _compile_returning_outputs(
        model, optimizer=keras.optimizers.SGD(1e-2), loss="mse", jit_compile=True
    )
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    np.testing.assert_allclose(logs["outputs"], _inference(model, x), rtol=1e-4, atol=1e-4)


def check_mixed_precision(layer_cls, init_kwargs, input_shape):
    """Under the `mixed_float16` policy the model outputs float16, and a
    training step (with Keras' loss scaling; compiled with `jit_compile=True`
    where the backend has it, see `JIT_COMPILE_SKIP_REASONS`) gives a finite
    loss and finite float16 outputs."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model, x, y = _training_model(layer_cls, init_kwargs, input_shape)
        assert model.output.dtype == "float16"
        _compile_returning_outputs(
            model,
            optimizer=keras.optimizers.SGD(1e-2),
            loss="mse",
            jit_compile=BACKEND not in JIT_COMPILE_SKIP_REASONS,
        )
        logs = model.train_on_batch(x, y, return_dict=True)
        assert np.isfinite(logs["loss"])
        assert logs["outputs"].dtype == np.float16
        assert np.all(np.isfinite(logs["outputs"]))
    finally:
        keras.config.set_dtype_policy(previous)


def check_save_and_load(
    layer_cls, init_kwargs, input_shape, tmp_path, run_subprocess, trained=None
):
    """A `.keras` round trip gives bit-identical inference outputs, here and
    in a fresh interpreter that only imports kerasblocks.

    `trained`: the `(model, x, y)` of `check_training_step`, compiled and
    stepped once already; without it a model is made and compiled here.
    """
    if trained is None:
        model, x, y = _training_model(layer_cls, init_kwargs, input_shape)
        model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
    else:
        model, x, y = trained
    for _ in range(3):  # move BN statistics and weights away from their init
        model.train_on_batch(x, y)
    expected = _inference(model, x)

    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[-1], layer_cls)
    np.testing.assert_array_equal(_inference(loaded, x), expected)

    if run_subprocess:
        outputs = fresh_interpreter(layer_cls).inference(path, x)
        np.testing.assert_array_equal(outputs, expected)


# ---------------------------------------------------------------------------
# The backend's autodiff and compiler.


def skip_without_jit_compile():
    """Skips the calling test where `jit_compile=True` is not checked, with
    the reason (`JIT_COMPILE_SKIP_REASONS`)."""
    if BACKEND in JIT_COMPILE_SKIP_REASONS:
        pytest.skip(JIT_COMPILE_SKIP_REASONS[BACKEND])


def requires_tensorflow_backend(reason):
    """A mark that skips a test of TensorFlow's own code path on other
    backends; `reason` says what of TensorFlow it tests."""
    return pytest.mark.skipif(
        BACKEND != "tensorflow",
        reason=f"TensorFlow backend only ({reason}); running on {BACKEND}",
    )


def value_and_gradients(function, inputs=(), variables=(), jit_compile=False):
    """Runs `function(*inputs)` and differentiates it with the backend's autodiff.

    `tf.GradientTape` on TensorFlow (in a `tf.function(jit_compile=True)` with
    `jit_compile`), `jax.grad` on JAX (the variables' values passed in through
    a `keras.StatelessScope`; `jax.jit` with `jit_compile`), `torch.autograd`
    on PyTorch (eager; `jit_compile` skips the test there).

    Args:
        function: callable taking one backend tensor per entry of `inputs`
            and returning `(loss, outputs)`, `loss` a scalar. It may read
            `variables` (e.g. by calling a layer that owns them).
        inputs: NumPy arrays to differentiate with respect to.
        variables: Keras variables to differentiate with respect to.
        jit_compile: compile the forward and backward pass.

    Returns:
        `(outputs, input_gradients, variable_gradients)` as NumPy arrays. A
        gradient is `None` where the backend says none reaches (TensorFlow,
        PyTorch); JAX gives zeros there.
    """
    if jit_compile:
        skip_without_jit_compile()
    variables = list(variables)
    count = len(inputs)

    if BACKEND == "tensorflow":
        import tensorflow as tf

        def differentiate(*tensors):
            with tf.GradientTape() as tape:
                tape.watch(tensors)
                loss, outputs = function(*tensors)
            return outputs, tape.gradient(loss, [*tensors, *variables])

        if jit_compile:
            differentiate = tf.function(differentiate, jit_compile=True)
        outputs, gradients = differentiate(*(tf.constant(x) for x in inputs))
    elif BACKEND == "jax":
        import jax

        def pure(tensors, values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return function(*tensors)

        differentiate = jax.grad(pure, argnums=(0, 1), has_aux=True)
        if jit_compile:
            differentiate = jax.jit(differentiate)
        (input_gradients, variable_gradients), outputs = differentiate(
            [jax.numpy.asarray(x) for x in inputs], [v.value for v in variables]
        )
        gradients = [*input_gradients, *variable_gradients]
    elif BACKEND == "torch":
        import torch

        tensors = [keras.ops.convert_to_tensor(x).requires_grad_(True) for x in inputs]
        loss, outputs = function(*tensors)
        gradients = torch.autograd.grad(
            loss, [*tensors, *(v.value for v in variables)], allow_unused=True
        )
    else:
        pytest.skip(f"no autodiff helper for the {BACKEND} backend")

    gradients = [None if g is None else keras.ops.convert_to_numpy(g) for g in gradients]
    return keras.ops.convert_to_numpy(outputs), gradients[:count], gradients[count:]


def backend_jit(function):
    """`function` compiled the backend's way: `tf.function(jit_compile=True)`
    on TensorFlow, `jax.jit` on JAX; skips the calling test on PyTorch."""
    skip_without_jit_compile()
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    if BACKEND == "jax":
        import jax

        return jax.jit(function)
    pytest.skip(f"no compiler helper for the {BACKEND} backend")


# ---------------------------------------------------------------------------
# Fresh interpreters.

_REPLY = "kerasblocks-fresh-interpreter:"
_LOADER_SCRIPT = f"""
import json, sys, traceback
import numpy as np, keras
import kerasblocks

for line in sys.stdin:
    request = json.loads(line)
    try:
        model = keras.saving.load_model(request["model"])
        outputs = model(np.load(request["inputs"]), training=False)
        np.save(request["outputs"], keras.ops.convert_to_numpy(outputs))
        reply = {{"error": None}}
    except Exception:
        reply = {{"error": traceback.format_exc()}}
    print({_REPLY!r} + json.dumps(reply), flush=True)
"""


class FreshInterpreter:
    """A Python process that has done nothing but `import kerasblocks` (with
    NumPy and Keras) and then loads `.keras` files on request.

    Its start (seconds: the backend's import) overlaps with whatever the test
    does until the first `inference` call.
    """

    def __init__(self):
        # The fresh interpreter must import the same kerasblocks as this one,
        # also when pytest runs from another directory and kerasblocks is not
        # installed (then `-c` only puts the working directory on sys.path).
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(kerasblocks.__file__)))
        python_path = os.pathsep.join(
            p for p in (package_root, os.environ.get("PYTHONPATH")) if p
        )
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=python_path)
        self._stderr = tempfile.TemporaryFile("w+")
        self._process = subprocess.Popen(
            [sys.executable, "-c", _LOADER_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )

    def inference(self, model_path, x):
        """Loads `model_path` there and returns `model(x, training=False)`."""
        model_path = str(model_path)
        inputs, outputs = model_path + ".x.npy", model_path + ".y.npy"
        np.save(inputs, x)
        request = {"model": model_path, "inputs": inputs, "outputs": outputs}
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError:
            pass  # reported below with the process's stderr
        for line in self._process.stdout:
            if line.startswith(_REPLY):
                error = json.loads(line[len(_REPLY) :])["error"]
                assert error is None, f"fresh interpreter failed:\n{error}"
                return np.load(outputs)
        self._stderr.seek(0)
        raise AssertionError(
            f"fresh interpreter exited with code {self._process.wait()}:\n"
            + self._stderr.read()[-3000:]
        )

    def close(self):
        if self._process.poll() is None:
            self._process.stdin.close()
            self._process.wait()
        self._stderr.close()


_FRESH_INTERPRETERS = {}


def fresh_interpreter(layer_cls):
    """The `FreshInterpreter` for `layer_cls`, started on the first call.

    One per layer class: a fresh interpreter loads the models of one layer
    class only, one after the other, so each load sees exactly what `import
    kerasblocks` and the loads of that same layer before it left behind.
    A dead one (after a failure) is replaced.
    """
    interpreter = _FRESH_INTERPRETERS.get(layer_cls)
    if interpreter is None or interpreter._process.poll() is not None:
        interpreter = _FRESH_INTERPRETERS[layer_cls] = FreshInterpreter()
    return interpreter


@atexit.register
def _close_fresh_interpreters():
    for interpreter in _FRESH_INTERPRETERS.values():
        interpreter.close()
    _FRESH_INTERPRETERS.clear()
