"""Calls as a functional Keras model makes them: named tensor arguments, call
options, several outputs, shared layers and models, wrappers, ops, dict outputs.

Each spec is checked against the same model written by hand with the Keras
functional API: the same config (names, inbound nodes with args and kwargs)
and, with the weights copied, the same outputs.
"""

import json

import keras
import numpy as np
import pytest

import kerasblocks
from kerasblocks.errors import SpecError
from kerasblocks.spec.build import layer_parameter_counts
from kerasblocks.spec.expand import expand
from kerasblocks.spec.format import format_expanded

layers = keras.layers


def _config(model):
    """The model's config as JSON data (tuples as lists)."""
    return json.loads(json.dumps(model.get_config(), default=str))


def _renamed_mask_ops(config):
    """The config with Keras' implicit mask ops named mask_0, mask_1, ... in order."""
    names = [layer["name"] for layer in config["layers"] if layer["class_name"] == "NotEqual"]
    text = json.dumps(config)
    for index, name in enumerate(names):
        text = text.replace(f'"{name}"', f'"mask_{index}"')
    return json.loads(text)


def _same_model(spec_model, keras_model, inputs):
    assert _config(spec_model) == _config(keras_model)
    keras_model.set_weights(spec_model.get_weights())
    expected = keras_model(inputs)
    found = spec_model(inputs)
    for want, got in zip(keras.tree.flatten(expected), keras.tree.flatten(found), strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got),
                                      keras.ops.convert_to_numpy(want))


def _spec(body, inputs="  x: {shape: [6, 8]}\n"):
    return f"kerasblocks: 1\nname: net\ninputs:\n{inputs}{body}"


TOKENS = np.array([[3, 5, 7, 0, 0, 0], [1, 2, 3, 4, 5, 6]], dtype="int32")


def test_masked_self_attention_with_a_residual_op_equals_the_functional_api():
    spec = _spec(
        """layers:
  - Embedding: {input_dim: 10, output_dim: 8, mask_zero: true, name: embed}
  - MultiHeadAttention: {num_heads: 2, key_dim: 4, inputs: {query: embed, value: embed}, name: mha}
  - add: {x1: embed, x2: mha, name: residual}
  - LayerNormalization: {name: norm}
  - GlobalAveragePooling1D: {name: pool}
""",
        inputs="  tokens: {shape: [6], dtype: int32}\n",
    )
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    embedded = layers.Embedding(10, 8, mask_zero=True, name="embed")(tokens)
    attended = layers.MultiHeadAttention(2, 4, name="mha")(embedded, embedded)
    residual = embedded + attended
    residual._keras_history.operation.name = "residual"  # a spec names its ops
    pooled = layers.GlobalAveragePooling1D(name="pool")(layers.LayerNormalization(name="norm")(residual))
    by_hand = keras.Model(tokens, pooled, name="net")
    built = kerasblocks.build(spec)
    # The mask Keras propagates records a `not_equal` op whose name counts per
    # session; apart from that name the configs are the same.
    assert _renamed_mask_ops(_config(built)) == _renamed_mask_ops(_config(by_hand))
    by_hand.set_weights(built.get_weights())
    np.testing.assert_array_equal(built(TOKENS), by_hand(TOKENS))
    # The padding mask matters: other padding tokens would give other outputs
    # were it ignored; with the mask, the padded positions do not count.
    longer = TOKENS.copy()
    longer[0, 3:] = 0
    np.testing.assert_allclose(built(longer)[0], built(TOKENS)[0], atol=1e-6)


def test_cross_attention_call_options_and_its_two_outputs():
    spec = _spec(
        """layers:
  - MultiHeadAttention:
      num_heads: 2
      key_dim: 4
      inputs: {query: x, value: memory}
      call: {use_causal_mask: true, return_attention_scores: true}
      name: mha
  - Dense: {units: 3, inputs: mha.0, name: head}
outputs: [head, mha.1]
""",
        inputs="  x: {shape: [6, 8]}\n  memory: {shape: [6, 8]}\n",
    )
    x = keras.Input((6, 8), name="x")
    memory = keras.Input((6, 8), name="memory")
    attended, scores = layers.MultiHeadAttention(2, 4, name="mha")(
        x, memory, use_causal_mask=True, return_attention_scores=True
    )
    by_hand = keras.Model([x, memory], [layers.Dense(3, name="head")(attended), scores], name="net")
    data = [np.random.default_rng(0).normal(size=(2, 6, 8)).astype("float32")] * 2
    _same_model(kerasblocks.build(spec), by_hand, data)


def test_keyword_only_call_and_positional():
    spec = _spec(
        """layers:
  - MultiHeadAttention: {num_heads: 2, key_dim: 4, inputs: {query: x, value: x}, positional: 0, name: mha}
"""
    )
    x = keras.Input((6, 8), name="x")
    by_hand = keras.Model(x, layers.MultiHeadAttention(2, 4, name="mha")(query=x, value=x), name="net")
    _same_model(kerasblocks.build(spec), by_hand, np.ones((2, 6, 8), "float32"))


def test_seq2seq_with_initial_state_from_the_encoder_states():
    spec = _spec(
        """layers:
  - LSTM: {units: 5, return_state: true, inputs: source, name: encoder}
  - LSTM: {units: 5, return_sequences: true, inputs: {sequences: target, initial_state: [encoder.1, encoder.2]}, name: decoder}
  - TimeDistributed: {layer: {Dense: {units: 4, activation: softmax}}, name: head}
""",
        inputs="  source: {shape: [7, 3]}\n  target: {shape: [6, 4]}\n",
    )
    source = keras.Input((7, 3), name="source")
    target = keras.Input((6, 4), name="target")
    _, state_h, state_c = layers.LSTM(5, return_state=True, name="encoder")(source)
    decoded = layers.LSTM(5, return_sequences=True, name="decoder")(
        target, initial_state=[state_h, state_c]
    )
    head = layers.TimeDistributed(layers.Dense(4, activation="softmax", name="dense"), name="head")(decoded)
    by_hand = keras.Model([source, target], head, name="net")
    rng = np.random.default_rng(1)
    data = [rng.normal(size=(2, 7, 3)).astype("float32"), rng.normal(size=(2, 6, 4)).astype("float32")]
    _same_model(kerasblocks.build(spec), by_hand, data)


def test_bidirectional_with_a_backward_layer():
    spec = _spec(
        """layers:
  - Bidirectional:
      layer: {LSTM: {units: 3, return_sequences: true}}
      backward_layer: {GRU: {units: 3, return_sequences: true, go_backwards: true}}
      merge_mode: sum
      name: bi
"""
    )
    x = keras.Input((6, 8), name="x")
    bi = layers.Bidirectional(
        layers.LSTM(3, return_sequences=True, name="lstm"),
        backward_layer=layers.GRU(3, return_sequences=True, go_backwards=True, name="gru"),
        merge_mode="sum",
        name="bi",
    )(x)
    _same_model(kerasblocks.build(spec), keras.Model(x, bi, name="net"),
                np.random.default_rng(2).normal(size=(2, 6, 8)).astype("float32"))


def test_a_shared_layer_is_one_layer_with_two_calls_and_counts_once():
    spec = _spec(
        """layers:
  - Dense: {units: 4, inputs: left, name: embed}
  - Dense: {share: embed, inputs: right, name: embed_right}
  - Subtract: {inputs: [embed, embed_right], name: difference}
""",
        inputs="  left: {shape: [8]}\n  right: {shape: [8]}\n",
    )
    left, right = keras.Input((8,), name="left"), keras.Input((8,), name="right")
    embed = layers.Dense(4, name="embed")
    by_hand = keras.Model(
        [left, right], layers.Subtract(name="difference")([embed(left), embed(right)]), name="net"
    )
    built = kerasblocks.build(spec)
    data = [np.ones((2, 8), "float32"), np.zeros((2, 8), "float32")]
    _same_model(built, by_hand, data)
    assert built.count_params() == 36
    assert layer_parameter_counts(expand(spec)) == {"embed": 36, "difference": 0}


def test_a_block_used_twice_with_share_is_one_set_of_weights():
    spec = _spec(
        """blocks:
  Tower:
    layers:
      - Dense: {units: 4, activation: relu, name: hidden}
      - Dense: {units: 2, name: out}
layers:
  - Tower: {inputs: left, name: a}
  - Tower: {share: a, inputs: right, name: b}
  - Add: {inputs: [a, b]}
""",
        inputs="  left: {shape: [8]}\n  right: {shape: [8]}\n",
    )
    model = kerasblocks.build(spec)
    assert [layer.name for layer in model.layers] == ["left", "right", "a_hidden", "a_out", "add"]
    assert model.count_params() == (8 * 4 + 4) + (4 * 2 + 2)
    data = np.random.default_rng(3).normal(size=(2, 8)).astype("float32")
    swapped = model([data[::-1], data[::-1]])
    np.testing.assert_allclose(model([data, data]), swapped[::-1], atol=1e-6)


def test_a_model_block_shared_is_a_nested_model_called_twice():
    spec = _spec(
        """blocks:
  Encoder:
    model: functional
    inputs: [pixels]
    layers:
      - Dense: {units: 4, activation: relu, name: hidden}
      - Dense: {units: 2, name: embedding}
layers:
  - Encoder: {inputs: left, name: encoder}
  - Encoder: {share: encoder, inputs: right, name: encoder_right}
  - Subtract: {inputs: [encoder, encoder_right], name: difference}
""",
        inputs="  left: {shape: [8]}\n  right: {shape: [8]}\n",
    )
    pixels = keras.Input((8,), name="pixels")
    hidden = layers.Dense(4, activation="relu", name="hidden")(pixels)
    encoder = keras.Model(pixels, layers.Dense(2, name="embedding")(hidden), name="encoder")
    left, right = keras.Input((8,), name="left"), keras.Input((8,), name="right")
    difference = layers.Subtract(name="difference")([encoder(left), encoder(right)])
    by_hand = keras.Model([left, right], difference, name="net")
    data = [np.ones((2, 8), "float32"), np.full((2, 8), 0.5, "float32")]
    _same_model(kerasblocks.build(spec), by_hand, data)


def test_a_sequential_block_is_a_nested_sequential_model():
    spec = _spec(
        """blocks:
  Stem:
    model: sequential
    inputs: [stem_input]
    layers:
      - Conv1D: {filters: 4, kernel_size: 3, name: stem_conv}
      - LayerNormalization: {name: stem_norm}
layers:
  - Stem: {name: stem}
  - GlobalAveragePooling1D: {name: pool}
"""
    )
    stem = keras.Sequential(
        [keras.Input((6, 8), name="stem_input"), layers.Conv1D(4, 3, name="stem_conv"),
         layers.LayerNormalization(name="stem_norm")],
        name="stem",
    )
    x = keras.Input((6, 8), name="x")
    by_hand = keras.Model(x, layers.GlobalAveragePooling1D(name="pool")(stem(x)), name="net")
    _same_model(kerasblocks.build(spec), by_hand, np.ones((2, 6, 8), "float32"))


def test_block_outputs_and_inner_layers_by_name():
    spec = _spec(
        """blocks:
  Split:
    outputs: [low, high]
    layers:
      - Dense: {units: 3, name: low}
      - Dense: {units: 5, name: high, inputs: input}
layers:
  - Split: {name: split}
  - Concatenate: {inputs: [split.0, split.high, split.low], name: joined}
"""
    )
    model = kerasblocks.build(spec)
    assert model.output.shape == (None, 6, 11)
    joined = model.get_layer("joined")
    assert [t._keras_history.operation.name for t in joined._inbound_nodes[0].input_tensors] == [
        "split_low", "split_high", "split_low"]


def test_dict_outputs_keep_their_keys_and_order():
    spec = _spec(
        """layers:
  - Dense: {units: 2, name: logits}
  - Dense: {units: 1, inputs: x, name: score}
outputs: {score: score, class_logits: logits}
"""
    )
    model = kerasblocks.build(spec)
    found = model(np.ones((2, 6, 8), "float32"))
    assert list(found) == ["score", "class_logits"]
    assert found["class_logits"].shape == (2, 6, 2)
    assert expand(spec).outputs == ("score", "class_logits")


def test_ops_chain_like_mobilenet_v3s_hard_sigmoid():
    spec = _spec(
        """layers:
  - add: {x2: 3.0, name: plus_three}
  - ReLU: {max_value: 6.0, name: relu6}
  - multiply: {x2: 0.16666666666666666, name: times_a_sixth}
"""
    )
    x = keras.Input((6, 8), name="x")
    y = layers.ReLU(6.0, name="relu6")(x + 3.0)
    y._keras_history.operation._inbound_nodes[0].input_tensors[0]._keras_history.operation.name = (
        "plus_three"
    )
    out = y * (1.0 / 6.0)
    out._keras_history.operation.name = "times_a_sixth"
    by_hand = keras.Model(x, out, name="net")
    _same_model(kerasblocks.build(spec), by_hand, np.linspace(-5, 5, 96, dtype="float32").reshape(2, 6, 8))


def test_the_expanded_text_builds_the_same_model():
    spec = _spec(
        """blocks:
  Encoder:
    model: functional
    layers:
      - Dense: {units: 4, name: hidden}
layers:
  - Encoder: {inputs: x, name: encoder}
  - Encoder: {share: encoder, inputs: memory, name: encoder_memory}
  - MultiHeadAttention: {num_heads: 1, key_dim: 2, inputs: {query: encoder, value: encoder_memory}, call: {use_causal_mask: true}, name: mha}
  - LSTM: {units: 3, return_state: true, name: lstm}
  - Bidirectional: {layer: {GRU: {units: 2}}, inputs: mha, name: bi}
  - Dense: {units: 2, inputs: lstm.1, name: head}
  - multiply: {x1: head, x2: 2.0, name: doubled}
outputs: {doubled: doubled, bi: bi}
""",
        inputs="  x: {shape: [6, 8]}\n  memory: {shape: [6, 8]}\n",
    )
    graph = expand(spec)
    again = expand(format_expanded(graph))
    assert [(n.name, n.type, n.args, n.kwargs, n.shares) for n in again.layers] == [
        (n.name, n.type, n.args, n.kwargs, n.shares) for n in graph.layers
    ]
    assert _config(kerasblocks.build(format_expanded(graph))) == _config(kerasblocks.build(spec))


def test_taking_a_layer_with_several_outputs_whole_is_a_located_error():
    spec = _spec(
        """layers:
  - LSTM: {units: 3, return_state: true, name: lstm}
  - Dense: {units: 2}
"""
    )
    with pytest.raises(SpecError) as caught:
        kerasblocks.build(spec)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.message == "layer 'dense' takes 'lstm', which has 3 outputs; say which one"
    assert diagnostic.hint == "refer to one output as lstm.0 or lstm.1 or lstm.2"
    assert (diagnostic.location.line, diagnostic.location.column) == (7, 5)


def test_an_output_index_past_a_layers_outputs_is_a_located_error():
    spec = _spec(
        """layers:
  - LSTM: {units: 3, return_state: true, name: lstm}
  - Dense: {units: 2, inputs: lstm.3}
"""
    )
    with pytest.raises(SpecError) as caught:
        kerasblocks.build(spec)
    assert caught.value.message == (
        "layer 'dense' takes 'lstm.3', but 'lstm' has 3 outputs (lstm.0 to lstm.2)"
    )
    assert caught.value.diagnostics[0].location.line == 7


def test_parameter_count_of_a_layer_whose_output_is_unused():
    graph = expand(_spec("layers:\n  - Dense: {units: 3, name: side}\n  - Dense: {units: 2, inputs: x}\n"))
    assert layer_parameter_counts(graph) == {"side": 27, "dense": 18}


INVERTED_RESIDUAL = """blocks:
  InvertedResidual:
    params: {filters: required, strides: 1, expansion: 6}
    layers:
      - Conv2D: {filters: "${shape(input)[-1] * expansion}", kernel_size: 1, name: expand}
      - DepthwiseConv2D: {kernel_size: 3, strides: $strides, padding: same, name: depthwise}
      - Conv2D: {filters: $filters, kernel_size: 1, name: project}
      - Add:
          inputs: [input, project]
          when: "${strides == 1 and shape(input)[-1] == filters}"
          name: add
layers:
  - InvertedResidual: {filters: 8, name: b1}
  - InvertedResidual: {filters: 16, strides: 2, name: b2}
  - InvertedResidual: {filters: 16, name: b3}
  - InvertedResidual: {filters: 24, name: b4}
"""


def test_a_block_reads_its_inputs_shape_for_widths_and_the_residual():
    """MobileNetV2's inverted residual: expansion from the input's channels, and
    the residual add only where strides and channels allow it."""
    spec = _spec(INVERTED_RESIDUAL, inputs="  image: {shape: [16, 16, 8]}\n")
    image = keras.Input((16, 16, 8), name="image")
    x = image
    for name, filters, strides in [("b1", 8, 1), ("b2", 16, 2), ("b3", 16, 1), ("b4", 24, 1)]:
        channels = x.shape[-1]
        y = layers.Conv2D(channels * 6, 1, name=f"{name}_expand")(x)
        y = layers.DepthwiseConv2D(3, strides=strides, padding="same", name=f"{name}_depthwise")(y)
        y = layers.Conv2D(filters, 1, name=f"{name}_project")(y)
        x = layers.Add(name=f"{name}_add")([x, y]) if strides == 1 and channels == filters else y
    by_hand = keras.Model(image, x, name="net")
    built = kerasblocks.build(spec)
    assert [layer.name for layer in built.layers if "add" in layer.name] == ["b1_add", "b3_add"]
    _same_model(built, by_hand, np.random.default_rng(4).normal(size=(2, 16, 16, 8)).astype("float32"))
    counts = layer_parameter_counts(expand(spec))
    assert sum(counts.values()) == by_hand.count_params()


def test_shape_cannot_decide_the_graphs_structure():
    spec = _spec(
        """blocks:
  Deep:
    layers:
      - repeat: "${shape(input)[-1]}"
        layers: [Dense: {units: 2}]
layers:
  - Deep: {}
"""
    )
    with pytest.raises(SpecError) as caught:
        expand(spec)
    assert caught.value.message == "this value cannot depend on shape(): it decides the graph itself"
    assert caught.value.diagnostics[0].location.line == 8


def test_a_build_time_expression_error_is_located_at_the_layer():
    spec = _spec(
        """blocks:
  Wide:
    layers:
      - Dense: {units: "${shape(input)[5]}"}
layers:
  - Wide: {name: wide}
"""
    )
    expand(spec)  # the shape is not known yet: valid
    with pytest.raises(SpecError) as caught:
        kerasblocks.build(spec)
    assert caught.value.message == (
        "Dense 'wide' (in block Wide, written at <spec>:8:9): argument units "
        "'${shape(input)[5]}': index 5 is out of range for a list of 3 items"
    )
    assert caught.value.diagnostics[0].location.line == 10


def test_origins_of_values_read_at_build_time_stay_short():
    """A param read at build time, passed on through many block uses, is quoted
    by its text in origins (not with the values it was written among)."""
    spec = _spec(
        """blocks:
  Pad:
    params: {rows: "${shape(input)[1]}"}
    layers:
      - ZeroPadding2D: {padding: "${[[rows % 2, 0], [0, 0]]}"}
layers:
  - repeat: 12
    layers: [Pad: {}]
""",
        inputs="  image: {shape: [7, 7, 3]}\n",
    )
    graph = expand(spec)
    assert max(len(repr(node.argument_origins)) for node in graph.layers) < 1000
    assert kerasblocks.build(spec).output.shape == (None, 8, 7, 3)  # padded once: 7 is odd


def test_the_chain_fills_the_first_call_argument_or_block_input_left_out():
    spec = _spec(
        """blocks:
  Up:
    inputs: [x, skip]
    layers:
      - UpSampling1D: {size: 2, inputs: x, name: up}
      - Concatenate: {inputs: [up, skip]}
layers:
  - Dense: {units: 8, name: memory}
  - MaxPooling1D: {pool_size: 2, name: pooled}
  - MultiHeadAttention: {num_heads: 1, key_dim: 4, inputs: {value: memory}, name: mha}
  - Up: {inputs: {skip: memory}, name: up1}
"""
    )
    graph = expand(spec)
    mha = graph.node("mha")
    assert [str(arg) for arg in mha.args] == ["pooled", "memory"]  # query: the chain
    assert [str(ref) for ref in graph.node("up1_up").args] == ["mha"]
    assert kerasblocks.build(spec).output.shape == (None, 6, 16)


def test_a_model_block_reads_its_inputs_shape():
    spec = _spec(
        """blocks:
  Widen:
    model: functional
    layers:
      - Dense: {units: "${shape(input)[-1] * 2}", name: wide}
layers:
  - Widen: {name: widen}
"""
    )
    model = kerasblocks.build(spec)
    assert model.get_layer("widen").get_layer("wide").units == 16


def test_input_dict_makes_a_model_taking_a_dict():
    spec = _spec(
        """input_dict: true
layers:
  - Concatenate: {inputs: [b, a], name: joined}
""",
        inputs="  b: {shape: [3]}\n  a: {shape: [4]}\n",
    )
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    by_hand = keras.Model({"b": b, "a": a}, layers.Concatenate(name="joined")([b, a]), name="net")
    built = kerasblocks.build(spec)
    assert _config(built) == _config(by_hand)
    found = built({"a": np.ones((1, 4), "float32"), "b": np.zeros((1, 3), "float32")})
    np.testing.assert_array_equal(found, [[0, 0, 0, 1, 1, 1, 1]])
