"""Shared helpers of the `to_spec` tests: Keras model -> spec -> model, compared.

The reference is always the original model: after to_spec -> build the two
models have equal functional configs (every layer's class, name, config,
build shape and inbound call arguments, the model's inputs and outputs), the
same parameter counts, and with the weights copied the same outputs bit for
bit.
"""

import json
import re

import keras
import numpy as np

import kerasblocks
from kerasblocks.api import parameter_counts

# The size given to an input dimension of unknown size (a sequence length).
FREE_DIMENSION = 6
_OPS_MODULE = "keras.src.ops."


def round_trip(model):
    """(spec text, model built from it); the text validates without warnings."""
    text = kerasblocks.to_spec(model)
    assert kerasblocks.validate(text) == []
    return text, kerasblocks.build(text)


def functional_config(model):
    """The model's functional config as plain JSON data (a Sequential model's too).

    One thing is normalised, because Keras itself makes it differ between two
    builds of the same model: the names of the ops that compute a mask
    (an `Embedding(mask_zero=True)`'s `not_equal`, a `Masking` layer's
    `not_equal` and `any`). Keras names them from a counter of the session,
    so the same model built twice gets `not_equal` and then `not_equal_1`,
    and no spec can name them (`Embedding.compute_mask` makes them). They are
    renamed `<mask op 0>`, `<mask op 1>`, ... in config order. Every other
    name is compared as it is.
    """
    config = json.loads(json.dumps(functional(model).get_config()))
    names = _mask_op_names(config)
    if not names:
        return config
    renamed = {name: f"<mask op {index}>" for index, name in enumerate(names)}
    return _renamed(config, renamed)


def functional(model):
    """`model` itself, or for a Sequential model a functional model over its graph."""
    if isinstance(model, keras.Sequential):
        return keras.Model(model.inputs[0], model.outputs[0], name=model.name)
    return model


def _mask_op_names(config):
    """Names of the op entries whose outputs only ever serve as masks (see above)."""
    uses = {}  # name -> set of ("mask" | "other", user name)

    def record(value, user, as_mask):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            name = value["config"]["keras_history"][0]
            uses.setdefault(name, set()).add(("mask" if as_mask else "other", user))
        elif isinstance(value, dict):
            for item in value.values():
                record(item, user, as_mask)
        elif isinstance(value, list):
            for item in value:
                record(item, user, as_mask)

    for layer in config["layers"]:
        for node in layer.get("inbound_nodes") or []:
            record(node.get("args"), layer["name"], False)
            for key, value in (node.get("kwargs") or {}).items():
                record(value, layer["name"], key == "mask" or key.endswith("_mask"))
    outputs = set(re.findall(r"'([^']+)'", str(config["output_layers"]).replace('"', "'")))
    ops_entries = [
        layer["name"]
        for layer in config["layers"]
        if str(layer.get("module", "")).startswith(_OPS_MODULE)
    ]
    masks = set()
    changed = True
    while changed:
        changed = False
        for name in ops_entries:
            if name in masks or name in outputs or not uses.get(name):
                continue
            if all(kind == "mask" or user in masks for kind, user in uses[name]):
                masks.add(name)
                changed = True
    return [name for name in ops_entries if name in masks]


def _renamed(value, renamed):
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key == "name" and isinstance(item, str) and item in renamed:
                result[key] = renamed[item]
            elif key == "keras_history" and item and item[0] in renamed:
                result[key] = [renamed[item[0]], *item[1:]]
            else:
                result[key] = _renamed(item, renamed)
        return result
    if isinstance(value, list):
        if len(value) == 3 and isinstance(value[0], str) and value[0] in renamed:
            return [renamed[value[0]], *value[1:]]  # an output_layers entry
        return [_renamed(item, renamed) for item in value]
    return value


def sample_inputs(model, batch_size=2, seed=0):
    """Random inputs for `model`: floats in [-1, 1], integers in {0, 1, 2} (0 masks)."""
    rng = np.random.default_rng(seed)
    inputs = []
    for tensor in model.inputs:
        sizes = (FREE_DIMENSION if size is None else size for size in tensor.shape[1:])
        shape = (batch_size, *sizes)
        if "int" in str(tensor.dtype):
            inputs.append(rng.integers(0, 3, shape).astype(tensor.dtype))
        else:
            inputs.append(rng.uniform(-1, 1, shape).astype(tensor.dtype))
    if isinstance(getattr(model, "_inputs_struct", None), dict):  # keras.Model({name: ...})
        return {tensor.name: value for tensor, value in zip(model.inputs, inputs, strict=True)}
    return inputs[0] if len(inputs) == 1 else inputs


def assert_same_model(original, rebuilt, batch_size=2):
    """Same config, names and counts; same outputs bit for bit with the weights copied."""
    # Every layer: class, name, config, build shape, inbound call arguments, in
    # order; and the model's inputs and outputs. No field is exempt.
    assert functional_config(rebuilt) == functional_config(original)
    names = [layer.name for layer in functional(original).layers]
    assert [layer.name for layer in functional(rebuilt).layers] == names
    assert parameter_counts(rebuilt) == parameter_counts(original)
    rebuilt.set_weights(original.get_weights())
    inputs = sample_inputs(original, batch_size)
    expected = keras.tree.flatten(original(inputs, training=False))
    found = keras.tree.flatten(rebuilt(inputs, training=False))
    assert len(found) == len(expected)
    for want, got in zip(expected, found):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
