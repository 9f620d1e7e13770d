"""`to_spec` of functional models that use each construct of the spec language.

Each model is written by hand with the Keras functional API, converted, built
again and compared with the original (`round_trip.assert_same_model`: equal
configs, names, parameter counts, bit-identical outputs with the weights
copied). The written text is checked for the construct it should use.
"""

import keras
import pytest
from keras import layers, ops

import kerasblocks
from kerasblocks.errors import UsageError
from tests.interop.round_trip import assert_same_model, round_trip


@pytest.fixture(autouse=True)
def fresh_session():
    """Keras' automatic names start again for every test."""
    keras.backend.clear_session()
    yield
    keras.backend.clear_session()


def written_layers(text):
    """[{type: arguments}] of the text's top-level `layers`, as written."""
    return kerasblocks.load_spec(text).data["layers"]


# --- call arguments ---------------------------------------------------------------------


def test_masked_self_attention_with_residual_ops():
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    embedded = layers.Embedding(50, 16, mask_zero=True, name="embed")(tokens)
    attended = layers.MultiHeadAttention(2, 8, name="attention")(
        embedded, embedded, use_causal_mask=True
    )
    x = layers.LayerNormalization(epsilon=1e-6, name="norm")(embedded + attended)
    x = ops.add(x, layers.Dense(16, activation="relu", name="ff")(x))
    pooled = layers.GlobalAveragePooling1D(name="pool")(x)  # ops pass no mask on
    summary = layers.LSTM(8, name="lstm")(embedded)  # takes the Embedding's mask by itself
    original = keras.Model(tokens, [pooled, summary], name="encoder")
    mask_op = original.get_layer("lstm")._inbound_nodes[0].arguments.kwargs["mask"]
    assert type(mask_op._keras_history.operation).__name__ == "NotEqual"
    text, rebuilt = round_trip(original)
    # No mask and no training on the LSTM: Keras records them by itself (the
    # mask from an implicit not_equal op, which the spec leaves to Keras too).
    # MultiHeadAttention(e, e): both by position; `e + y` is an add op.
    assert text.split("\nlayers:\n", 1)[1] == (
        "  - Embedding: {input_dim: 50, output_dim: 16, mask_zero: true, name: embed}\n"
        "  - LSTM: {units: 8, name: lstm}\n"
        "  - MultiHeadAttention:\n"
        "      num_heads: 2\n"
        "      key_dim: 8\n"  # attention_axes (1,): set by the build, left out
        "      name: attention\n"
        "      inputs: {query: embed, value: embed}\n"
        "      call: {use_causal_mask: true}\n"
        "  - add: {x1: embed, x2: attention}\n"
        "  - LayerNormalization: {epsilon: 1e-06, name: norm}\n"  # axis [-1]: the build's
        "  - Dense: {units: 16, activation: relu, name: ff}\n"
        "  - add: {x1: norm, x2: ff}\n"  # Keras' own name add_1 comes back by itself
        "  - GlobalAveragePooling1D: {name: pool}\n"
        "outputs: [pool, lstm]\n"
    )
    assert "not_equal" not in text
    assert_same_model(original, rebuilt)


def test_cross_attention_with_a_mask_and_the_scores_as_an_output():
    query = keras.Input((5, 8), name="query")
    context = keras.Input((7, 8), name="context")
    mask = keras.Input((5, 7), dtype="bool", name="mask")
    attended, scores = layers.MultiHeadAttention(2, 4, name="cross")(
        query, context, attention_mask=mask, return_attention_scores=True
    )
    out = layers.Dense(3, name="out")(attended)
    original = keras.Model([query, context, mask], [out, scores], name="cross_attention")
    text, rebuilt = round_trip(original)
    assert "      inputs: {query: query, value: context, attention_mask: mask}\n" in text
    assert "      call: {return_attention_scores: true}\n" in text
    assert "  - Dense: {units: 3, name: out, inputs: cross.0}\n" in text
    assert text.endswith("outputs: [out, cross.1]\n")
    assert_same_model(original, rebuilt)


def test_tensors_passed_by_keyword_and_explicit_masks():
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    embedded = layers.Embedding(20, 4, mask_zero=True, name="embed")(tokens)
    # By keyword: Keras records no positional argument.
    x = layers.MultiHeadAttention(2, 2, name="by_name")(query=embedded, value=embedded)
    # A mask passed on purpose, computed by an op the spec writes.
    keep = ops.not_equal(tokens, 1)
    y = layers.LSTM(3, name="masked")(x, mask=keep)
    z = layers.LSTM(3, name="unmasked")(embedded, mask=None)  # the user turned the mask off
    original = keras.Model(tokens, [y, z], name="keywords")
    text, rebuilt = round_trip(original)
    keep_name = keep._keras_history.operation.name  # not_equal_1: the mask made one before
    assert "      positional: 0\n" in text
    assert f"  - not_equal: {{x2: 1, name: {keep_name}}}\n" in text  # chained on the tokens
    # The chain fills the first call argument (sequences) that the mapping leaves out.
    assert f"  - LSTM: {{units: 3, name: masked, inputs: {{mask: {keep_name}}}}}\n" in text
    assert "  - LSTM: {units: 3, name: unmasked, call: {mask: null}}\n" in text
    assert_same_model(original, rebuilt)


def test_seq2seq_with_initial_state():
    source = keras.Input((None, 5), name="source")
    target = keras.Input((None, 6), name="target")
    _, state_h, state_c = layers.LSTM(8, return_state=True, name="encoder")(source)
    decoded = layers.LSTM(8, return_sequences=True, name="decoder")(
        target, initial_state=[state_h, state_c]
    )
    probabilities = layers.Dense(6, activation="softmax", name="next_token")(decoded)
    original = keras.Model([source, target], probabilities, name="seq2seq")
    text, rebuilt = round_trip(original)
    assert "      inputs: {sequences: target, initial_state: [encoder.1, encoder.2]}\n" in text
    assert_same_model(original, rebuilt)


def test_shared_layers_are_written_with_share():
    left = keras.Input((4,), name="left")
    right = keras.Input((4,), name="right")
    embed = layers.Dense(3, name="embed")
    joined = layers.Concatenate(name="joined")([embed(left), embed(right)])
    again = embed(layers.Dense(4, name="back")(joined))  # a third call, chained
    original = keras.Model([left, right], [joined, again], name="shared")
    text, rebuilt = round_trip(original)
    assert text.split("layers:\n", 1)[1] == (
        "  - Dense: {units: 3, name: embed, inputs: left}\n"
        "  - Dense: {share: embed, name: embed_call2, inputs: right}\n"
        "  - Concatenate: {name: joined, inputs: [embed, embed_call2]}\n"
        "  - Dense: {units: 4, name: back}\n"
        "  - Dense: {share: embed, name: embed_call3}\n"
        "outputs: [joined, embed_call3]\n"
    )
    assert len(rebuilt.get_layer("embed")._inbound_nodes) == 3
    assert_same_model(original, rebuilt)


def test_dict_outputs_keep_their_keys_and_order():
    x = keras.Input((4,), name="x")
    original = keras.Model(
        x, {"zeta": layers.Dense(2, name="a")(x), "alpha": layers.Dense(3, name="b")(x)}
    )
    text, rebuilt = round_trip(original)
    assert text.endswith("outputs: {zeta: a, alpha: b}\n")
    assert list(rebuilt.output) == ["zeta", "alpha"]
    assert_same_model(original, rebuilt)


def test_dict_inputs_are_written_with_input_dict():
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    joined = layers.Concatenate(name="joined")([a, b])
    original = keras.Model({"b": b, "a": a}, joined, name="dict_in")
    text, rebuilt = round_trip(original)
    assert "input_dict: true\n" in text
    assert list(rebuilt.input) == ["b", "a"]
    assert_same_model(original, rebuilt)


def test_lists_of_one_and_a_fixed_batch_size_are_written():
    x = keras.Input((4,), batch_size=8, name="x")
    original = keras.Model([x], [layers.Dense(2, name="head")(x)], name="listed")
    text, rebuilt = round_trip(original)
    assert "input_list: true\n" in text and "output_list: true\n" in text
    assert "batch_size: 8" in text
    assert isinstance(rebuilt.output, list) and rebuilt.inputs[0].shape == (8, 4)
    assert_same_model(original, rebuilt, batch_size=8)


def test_dict_inputs_keyed_otherwise_are_refused():
    a = keras.Input((4,), name="a")
    joined = layers.Dense(2, name="joined")(a)
    model = keras.Model({"pixels": a}, joined, name="dict_in")
    refusal = r"'dict_in' \(the model\): its inputs are a dict \(pixels\) whose keys"
    with pytest.raises(UsageError, match=refusal):
        kerasblocks.to_spec(model)


# --- layers as arguments -------------------------------------------------------------------


def test_wrappers_and_cells_are_nested_entries():
    x = keras.Input((6, 3), name="x")
    both = layers.Bidirectional(layers.LSTM(4, return_sequences=True), name="both")(x)
    summed = layers.Bidirectional(
        layers.GRU(2),
        backward_layer=layers.GRU(2, go_backwards=True, name="backward"),
        merge_mode="sum",
        name="summed",
    )(both)
    per_step = layers.TimeDistributed(layers.Dense(2, activation="relu"), name="per_step")(both)
    cell = layers.RNN(layers.LSTMCell(3), name="cell")(x)
    stacked = layers.RNN([layers.GRUCell(2), layers.GRUCell(3)], name="stacked")(x)
    original = keras.Model(x, [summed, per_step, cell, stacked], name="wrappers")
    text, rebuilt = round_trip(original)
    by_name = {
        arguments["name"]: entry for entry in written_layers(text) for arguments in entry.values()
    }
    # Non-default arguments only; a nested layer's name only where the builder
    # would not give the same one (Bidirectional makes forward_/backward_lstm).
    assert by_name["both"] == {
        "Bidirectional": {
            "layer": {"LSTM": {"units": 4, "return_sequences": True}},
            "name": "both",
            "inputs": "x",
        }
    }
    assert by_name["summed"]["Bidirectional"]["backward_layer"] == {
        "GRU": {"units": 2, "go_backwards": True, "name": "backward"}
    }
    assert by_name["per_step"]["TimeDistributed"]["layer"] == {
        "Dense": {"units": 2, "activation": "relu"}
    }
    assert by_name["stacked"]["RNN"]["cell"] == {
        "StackedRNNCells": {"cells": [{"GRUCell": {"units": 2}},
                                      {"GRUCell": {"units": 3, "name": "gru_cell_1"}}]}
    }
    assert_same_model(original, rebuilt)


# --- nested models ----------------------------------------------------------------------------


def test_a_model_used_twice_is_a_shared_model_block():
    pixels = keras.Input((8,), name="pixels")
    hidden = layers.Dense(4, activation="relu", name="hidden")(pixels)
    encoder = keras.Model(pixels, layers.Dense(3, name="code")(hidden), name="encoder")
    left = keras.Input((8,), name="left")
    right = keras.Input((8,), name="right")
    distance = layers.Subtract(name="distance")([encoder(left), encoder(right)])
    original = keras.Model([left, right], distance, name="siamese")
    text, rebuilt = round_trip(original)
    assert "blocks:\n  Encoder:\n    model: functional\n    inputs: [pixels]\n" in text
    assert text.split("\nlayers:\n", 1)[1] == (
        "  - Encoder: {name: encoder, inputs: left}\n"
        "  - Encoder: {share: encoder, name: encoder_call2, inputs: right}\n"
        "  - Subtract: {name: distance, inputs: [encoder, encoder_call2]}\n"
        "outputs: [distance]\n"
    )
    assert_same_model(original, rebuilt)


def test_a_nested_sequential_model_with_several_outputs_around_it():
    image = keras.Input((16, 16, 3), name="image")
    stem = keras.Sequential(
        [layers.Conv2D(8, 4, strides=4, name="stem_conv"),
         layers.LayerNormalization(epsilon=1e-6, name="stem_norm")],
        name="stem",
    )
    x = stem(image)
    inner_input = keras.Input((4, 4, 8), name="features")
    branches = keras.Model(
        inner_input,
        [layers.Conv2D(2, 1, name="left")(inner_input),
         layers.Conv2D(3, 1, name="right")(inner_input)],
        name="branches",
    )
    left, right = branches(x)
    merged = layers.Concatenate(name="merged")([left, right])
    original = keras.Model(image, merged, name="nested")
    text, rebuilt = round_trip(original)
    assert "  Stem:\n    model: sequential\n" in text
    assert "    outputs: [left, right]\n" in text
    assert "  - Concatenate: {name: merged, inputs: [branches.0, branches.1]}\n" in text
    assert_same_model(original, rebuilt)


# --- keras.applications that use the new constructs --------------------------------------------


def test_mobilenet_v3_small_writes_its_ops():
    original = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), classes=5, include_preprocessing=True
    )
    text, rebuilt = round_trip(original)
    assert "  - add: {x2: 3.0}\n" in text  # hard_sigmoid: relu6(x + 3.0) * (1 / 6)
    assert "  - multiply: {x2: 0.16666666666666666, name: multiply}\n" in text
    assert_same_model(original, rebuilt)


def test_convnext_tiny_writes_nested_sequential_models_and_layer_scale():
    original = keras.applications.ConvNeXtTiny(weights=None, input_shape=(32, 32, 3), classes=5)
    text, rebuilt = round_trip(original)
    assert "  ConvnextTinyStem:\n    model: sequential\n" in text
    assert "  - ConvnextTinyStem: {name: convnext_tiny_stem}\n" in text
    assert "  - LayerScale:\n      init_values: 1e-06\n      projection_dim: 96\n" in text
    assert_same_model(original, rebuilt)


def test_inception_resnet_v2_writes_its_custom_scale_layers():
    original = keras.applications.InceptionResNetV2(
        weights=None, input_shape=(75, 75, 3), classes=5
    )
    text, rebuilt = round_trip(original)
    assert "  - CustomScaleLayer: {scale: 0.17, inputs: [mixed_5b, block35_1_conv]}\n" in text
    assert_same_model(original, rebuilt, batch_size=1)



# --- operations -------------------------------------------------------------------------------


def test_inline_arange_constants_are_arange_entries():
    x = keras.Input((4,), name="x")
    shifted = x + ops.arange(4, dtype="float32")  # Keras writes the constant into the config
    original = keras.Model(x, shifted * ops.arange(1, 9, 2), name="constants")
    text, rebuilt = round_trip(original)
    assert "  - arange: {start: 0, stop: 4, dtype: float32, name: add_x2}\n" in text
    assert "  - add: {x1: x, x2: add_x2}\n" in text
    assert "  - arange: {start: 1, stop: 9, step: 2, name: multiply_x2}\n" in text
    assert_same_model(original, rebuilt)


def test_ops_a_spec_cannot_write_are_listed_with_the_layers():
    x = keras.Input((4,), name="x")
    y = ops.argsort(x)  # not in the operations table
    z = ops.add(y, ops.cast(ops.convert_to_tensor([[1, 2, 3, 5]]), "int32"))  # not an arange
    model = keras.Model(x, z, name="unwritable")
    with pytest.raises(UsageError) as caught:
        kerasblocks.to_spec(model)
    lines = str(caught.value).splitlines()
    assert lines[0] == "model 'unwritable' cannot be written as a spec; 2 layers to change:"
    assert lines[1].startswith("  - 'argsort' (keras.ops Argsort): a keras.ops call (Argsort)")
    assert lines[2].startswith("  - 'add' (keras.ops Add): operand 'x2' is an inline array")
