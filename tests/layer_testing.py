"""One helper that runs every kerasblocks layer through the same checks.

Modelled on `run_layer_test` in keras/src/testing/test_case.py: shapes against
`compute_output_shape` (concrete and symbolic batch), config and serialization
round trips, `get_config` mirroring `__init__`, a training step that lowers the
loss with finite gradients, XLA, mixed precision, and `.keras` save/load giving
bit-identical outputs in this process and in a fresh one that only does
`import kerasblocks`.
"""

import inspect
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import tensorflow as tf

import kerasblocks  # noqa: F401  (registers the layers)


def random_inputs(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


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
):
    """Runs `layer_cls(**init_kwargs)` through every shared check.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        input_shapes: list of full input shapes (with batch size); the first
            one is used for the training, XLA, precision and saving checks.
        tmp_path: a `pathlib.Path` for `.keras` files (pytest's `tmp_path`).
        expected_output_shapes: optional list, one expected output shape per
            input shape.
        expected_num_trainable_weights: optional count of trainable weights
            (variables, not parameters) after build.
        expected_num_non_trainable_weights: same for non-trainable weights.
        run_subprocess_load: also load the saved model in a fresh interpreter.
    """
    check_config_round_trips(layer_cls, init_kwargs)
    for index, shape in enumerate(input_shapes):
        expected = expected_output_shapes[index] if expected_output_shapes else None
        check_output_shapes(layer_cls, init_kwargs, shape, expected)
    layer = layer_cls(**init_kwargs)
    layer.build(tuple(input_shapes[0]))
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    check_training_step(layer_cls, init_kwargs, input_shapes[0])
    check_jit_compile(layer_cls, init_kwargs, input_shapes[0])
    check_mixed_precision(layer_cls, init_kwargs, input_shapes[0])
    check_save_and_load(
        layer_cls, init_kwargs, input_shapes[0], tmp_path, run_subprocess_load
    )


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


def check_training_step(layer_cls, init_kwargs, input_shape):
    model, x, y = _training_model(layer_cls, init_kwargs, input_shape)

    with tf.GradientTape() as tape:
        loss = keras.ops.mean((model(x, training=True) - y) ** 2)
    gradients = tape.gradient(loss, model.trainable_weights)
    for weight, gradient in zip(model.trainable_weights, gradients):
        assert gradient is not None, f"no gradient reaches {weight.path}"
        assert np.all(np.isfinite(gradient)), f"non-finite gradient for {weight.path}"

    def training_loss():
        # Training mode: batch statistics, so the loss depends on weights only.
        return float(keras.ops.mean((model(x, training=True) - y) ** 2))

    before = training_loss()
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
    model.train_on_batch(x, y)
    after = training_loss()
    assert np.isfinite(after) and after < before, (before, after)


def check_jit_compile(layer_cls, init_kwargs, input_shape):
    model, x, y = _training_model(layer_cls, init_kwargs, input_shape)
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    model.train_on_batch(x, y)
    eager = model(x, training=False)
    compiled = model.predict(x, verbose=0)
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-4)


def check_mixed_precision(layer_cls, init_kwargs, input_shape):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model, x, y = _training_model(layer_cls, init_kwargs, input_shape)
        assert model.output.dtype == "float16"
        model.compile(optimizer="adam", loss="mse", jit_compile=True)
        model.train_on_batch(x, y)
        output = model.predict(x, verbose=0)
        assert output.dtype == np.float16
        assert np.all(np.isfinite(output))
    finally:
        keras.config.set_dtype_policy(previous)


def check_save_and_load(layer_cls, init_kwargs, input_shape, tmp_path, run_subprocess):
    model, x, y = _training_model(layer_cls, init_kwargs, input_shape)
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
    for _ in range(3):  # move BN statistics and weights away from their init
        model.train_on_batch(x, y)
    expected = model.predict(x, verbose=0)

    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[-1], layer_cls)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)

    if run_subprocess:
        np.save(tmp_path / "x.npy", x)
        script = textwrap.dedent(
            f"""
            import numpy as np, keras
            import kerasblocks
            model = keras.saving.load_model({str(path)!r})
            np.save({str(tmp_path / "y.npy")!r}, model.predict(np.load({str(tmp_path / "x.npy")!r}), verbose=0))
            """
        )
        # The fresh interpreter must import the same kerasblocks as this one,
        # also when pytest runs from another directory and kerasblocks is not
        # installed (then `-c` only puts the working directory on sys.path).
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(kerasblocks.__file__)))
        python_path = os.pathsep.join(
            p for p in (package_root, os.environ.get("PYTHONPATH")) if p
        )
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=python_path)
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env
        )
        assert result.returncode == 0, result.stderr[-3000:]
        np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
