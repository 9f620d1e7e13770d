"""What each shipped spec of issue 11 is for, checked on the built model.

The catalog-wide checks (listing, validation, full-size counts, a forward
pass, a `.keras` round trip and a training step) run over every shipped spec
in test_shipped_specs.py; the to_spec round trip in tests/interop. Here, spec
by spec, the property the spec exists to show:

- transformer_text_classifier: it learns generated token data, and the padding
  mask makes padding irrelevant;
- vit_small: the class token and the learned positions are what they claim;
- siamese: one encoder, one set of weights, a symmetric distance;
- unet: each decoder level joins the encoder features of its own level;
- bilstm_classifier: Embedding(mask_zero) masks the LSTMs;
- lstm_seq2seq: the decoder starts from the encoder's final states;
- mobilenet_v3_small, convnext_tiny: written by hand, they are
  keras.applications' models: the same counts, the same weighted layers in the
  same order under the same names, and with the weights copied the same
  outputs, bit for bit.
"""

import keras
import numpy as np

import kerasblocks
from kerasblocks.api import parameter_counts
from tests.reference_models import randomize_batchnorm_statistics


def tokens(rows, length, seed=0, low=1, high=50):
    """Post-padded token ids: each row's own length of ids in [low, high), then 0s."""
    rng = np.random.default_rng(seed)
    batch = np.zeros((len(rows), length), "int32")
    for index, size in enumerate(rows):
        batch[index, :size] = rng.integers(low, high, size)
    return batch


def padded(batch, length):
    """`batch` with more padding, to `length` steps."""
    wider = np.zeros((batch.shape[0], length), batch.dtype)
    wider[:, : batch.shape[1]] = batch
    return wider


def submodel(model, name):
    """model inputs -> the output of the layer or op node called `name`."""
    inputs = model.input if len(model.inputs) == 1 else model.inputs
    for layer in model._operations:
        if layer.name == name:
            return keras.Model(inputs, layer.output)
    raise KeyError(name)


def randomize(model, seed=0, scale=0.05):
    """Replaces every weight by a random one (BN variances positive)."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            rng.uniform(0.5, 1.5, w.shape).astype("float32")
            if w.path.endswith("variance")
            else rng.normal(0, scale, w.shape).astype("float32")
            for w in model.weights
        ]
    )


# --- transformer_text_classifier ---------------------------------------------------------

TEXT_VARS = {"vocab_size": 50, "max_length": 16, "dim": 16, "ff_dim": 16, "depth": 2}


def test_transformer_encoder_blocks_repeat_by_a_var():
    one = kerasblocks.build("transformer_text_classifier")
    three = kerasblocks.build("transformer_text_classifier", depth=3)
    block = 8_416 + 2 * 64 + 2 * 1_056  # attention, two layer norms, the FFN
    assert three.count_params() == one.count_params() + 2 * block == 679_070
    names = [layer.name for layer in three.layers]
    assert [name for name in names if name in ("encoder1", "encoder2", "encoder3")] == [
        "encoder1",
        "encoder2",
        "encoder3",
    ]
    # The second block takes the first one's output.
    assert three.get_layer("encoder2_attention_residual").input[0] is three.get_layer(
        "encoder1"
    ).output


def test_transformer_learns_generated_token_data():
    keras.utils.set_random_seed(0)
    model = kerasblocks.build("transformer_text_classifier", dropout=0.0, **TEXT_VARS)
    # Label: does the sequence hold a token below 10? Lengths 3 to 12 of 16.
    rng = np.random.default_rng(1)
    x = tokens(rng.integers(3, 13, 64), 16, seed=2)
    y = ((x > 0) & (x < 10)).any(axis=1).astype("int32")
    assert 0.3 < y.mean() < 0.9
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(x, y, batch_size=32, epochs=6, verbose=0, shuffle=False)
    losses = history.history["loss"]  # about 0.71, 0.52, 0.39, 0.22, 0.15, 0.08
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.5 * losses[0], losses


def test_transformer_padding_is_masked():
    model = kerasblocks.build("transformer_text_classifier", **TEXT_VARS)
    x = tokens([4, 7, 11], 12)
    logits = np.asarray(model(x, training=False))
    more_padding = np.asarray(model(padded(x, 16), training=False))
    np.testing.assert_allclose(more_padding, logits, rtol=1e-5, atol=1e-6)
    # A sequence without padding gives what it gives padded.
    alone = np.asarray(model(x[:1, :4], training=False))
    np.testing.assert_allclose(alone, logits[:1], rtol=1e-5, atol=1e-6)
    # The mask matters: the encoder's features at the padded steps are not
    # zero, so a mean over all steps would change with the padding.
    features = submodel(model, "encoder2")
    unmasked = [np.asarray(features(batch)).mean(axis=1) for batch in (x, padded(x, 16))]
    assert np.abs(unmasked[0] - unmasked[1]).max() > 1e-3
    assert np.abs(logits - np.asarray(model(x + (x == 0) * 3, training=False))).max() > 1e-4


# --- vit_small -----------------------------------------------------------------------------

VIT_VARS = {"dim": 32, "num_heads": 2, "mlp_dim": 64, "depth": 2}


def test_vit_class_token_and_positions():
    model = kerasblocks.build("vit_small", **VIT_VARS)
    randomize(model, scale=0.5)
    images = np.random.default_rng(0).uniform(0, 1, (3, 32, 32, 3)).astype("float32")
    # 8 x 8 patches of 4 x 4, and the class token first: 65 steps.
    sequence = np.asarray(submodel(model, "tokens")(images))
    assert sequence.shape == (3, 65, 32)
    class_token = model.get_layer("class_token").get_weights()[0]
    assert class_token.shape == (1, 32)  # one learned vector, the same for every image
    np.testing.assert_array_equal(sequence[:, 0], np.repeat(class_token, 3, axis=0))
    patches = np.asarray(submodel(model, "patches")(images))
    np.testing.assert_array_equal(sequence[:, 1:], patches)
    positions = np.asarray(submodel(model, "positions")(images))
    np.testing.assert_array_equal(positions, np.tile(np.arange(65), (3, 1)))
    assert model.get_layer("position_embedding").get_weights()[0].shape == (65, 32)
    # The head reads the class token: it changes the logits. (Not by a constant
    # added to all its features: every layer norm of the stream takes that out.)
    before = np.asarray(model(images, training=False))
    shift = np.random.default_rng(1).normal(0, 1, class_token.shape).astype("float32")
    model.get_layer("class_token").set_weights([class_token + shift])
    assert np.abs(np.asarray(model(images, training=False)) - before).max() > 1e-3


def test_vit_sizes_follow_the_input_and_patch_vars():
    model = kerasblocks.build("vit_small", input_shape=[16, 24, 3], patch_size=8, **VIT_VARS)
    assert model.get_layer("position_embedding").get_weights()[0].shape == (2 * 3 + 1, 32)
    assert model.output_shape == (None, 10)


# --- siamese -------------------------------------------------------------------------------


def test_siamese_branches_are_one_encoder():
    model = kerasblocks.build("siamese")
    encoder = model.get_layer("encoder")
    assert isinstance(encoder, keras.Model)
    assert [type(layer).__name__ for layer in model.layers].count("Functional") == 1
    assert len(encoder._inbound_nodes) == 2  # called on `left` and on `right`
    head = [w for layer in model.layers if layer is not encoder for w in layer.weights]
    assert len(model.weights) == len(encoder.weights) + len(head)
    assert model.count_params() == encoder.count_params() + 4 + 2 == 5_324

    randomize_batchnorm_statistics(model)
    rng = np.random.default_rng(0)
    left, right = (rng.uniform(0, 1, (4, 28, 28, 1)).astype("float32") for _ in range(2))
    # The distance is that of the encoder's embeddings of the two images.
    distance = np.asarray(submodel(model, "distance")([left, right]))
    embeddings = [np.asarray(encoder(images, training=False)) for images in (left, right)]
    expected = np.linalg.norm(embeddings[0] - embeddings[1], axis=1, keepdims=True)
    np.testing.assert_allclose(distance, expected, rtol=1e-5)
    # Symmetric: swapping the images gives exactly the same similarity.
    similarity = np.asarray(model([left, right], training=False))
    np.testing.assert_array_equal(np.asarray(model([right, left], training=False)), similarity)
    # An image and itself: distance sqrt(epsilon).
    same = np.asarray(submodel(model, "distance")([left, left]))
    np.testing.assert_allclose(same, np.sqrt(1e-7), rtol=1e-5)


def test_siamese_training_moves_the_one_encoder():
    model = kerasblocks.build("siamese")
    model.compile(optimizer="adam", loss="binary_crossentropy", run_eagerly=True)
    rng = np.random.default_rng(0)
    left, right = (rng.uniform(0, 1, (8, 28, 28, 1)).astype("float32") for _ in range(2))
    encoder = model.get_layer("encoder")
    before = [w.numpy().copy() for w in encoder.trainable_weights]
    model.train_on_batch([left, right], (np.arange(8) % 2).astype("float32")[:, None])
    assert all(
        not np.array_equal(old, new.numpy())
        for old, new in zip(before, encoder.trainable_weights, strict=True)
    )


# --- unet ----------------------------------------------------------------------------------


def inbound_names(model, name):
    """The names of the layers whose outputs layer `name` takes."""
    config = next(layer for layer in model.get_config()["layers"] if layer["name"] == name)
    return [arg["config"]["keras_history"][0] for arg in config["inbound_nodes"][0]["args"][0]]


def test_unet_decoder_levels_join_their_encoder_level():
    model = kerasblocks.build("unet")
    for level in (1, 2, 3, 4):
        assert inbound_names(model, f"up{level}_concat") == [
            f"up{level}_upsample",
            f"down{level}_features",
        ]
        size, filters = 64 // 2 ** (level - 1), 16 * 2 ** (level - 1)
        assert model.get_layer(f"down{level}_features").output.shape == (None, size, size, filters)
        assert model.get_layer(f"up{level}").output.shape == (None, size, size, filters)
    assert model.get_layer("bottleneck").output.shape == (None, 4, 4, 256)
    assert model.output_shape == (None, 64, 64, 2)


def test_unet_depth_and_sizes_are_vars():
    model = kerasblocks.build("unet", depth=2, input_shape=[32, 48, 3], num_classes=5, base=8)
    assert model.get_layer("bottleneck").output.shape == (None, 8, 12, 32)
    assert "up3" not in [layer.name for layer in model.layers]
    assert model.output_shape == (None, 32, 48, 5)


# --- bilstm_classifier ---------------------------------------------------------------------


def test_bilstm_padding_is_masked():
    model = kerasblocks.build("bilstm_classifier", vocab_size=50, dim=8, units=4)
    assert isinstance(model.get_layer("bilstm1").forward_layer, keras.layers.LSTM)
    assert model.get_layer("bilstm1").output.shape == (None, None, 8)  # both directions
    x = tokens([3, 6, 9], 10)
    logits = np.asarray(model(x, training=False))
    np.testing.assert_allclose(np.asarray(model(padded(x, 15))), logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(model(x[:1, :3])), logits[:1], rtol=1e-5, atol=1e-6)


# --- lstm_seq2seq --------------------------------------------------------------------------


def test_seq2seq_decoder_starts_from_the_encoder_states():
    model = kerasblocks.build("lstm_seq2seq", units=16)
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 1, (2, 5, 71)).astype("float32")  # other lengths than the target's
    target = rng.uniform(0, 1, (2, 9, 93)).astype("float32")
    output, state_h, state_c = model.get_layer("encoder")(source)
    np.testing.assert_array_equal(np.asarray(output), np.asarray(state_h))
    decoded = model.get_layer("decoder")(target, initial_state=[state_h, state_c])
    expected = np.asarray(model.get_layer("next_token")(decoded))
    found = np.asarray(model([source, target], training=False))
    assert found.shape == (2, 9, 93)
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(found.sum(axis=-1), 1.0, rtol=1e-5)
    # Without the encoder's states the decoder says something else.
    cold = np.asarray(model.get_layer("next_token")(model.get_layer("decoder")(target)))
    assert np.abs(cold - found).max() > 1e-4


# --- keras.applications, written by hand ------------------------------------------------


def weighted_layers(model):
    """(name, class, weight shapes) of each layer with weights, in order; a nested
    Sequential model lists its own layers."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.Sequential):
            rows.append((layer.name, "Sequential", weighted_layers(layer)))
        elif layer.weights:
            rows.append((layer.name, type(layer).__name__, [tuple(w.shape) for w in layer.weights]))
    return rows


def assert_is_the_application(model, reference, images, training=(False,)):
    assert parameter_counts(model) == parameter_counts(reference)
    assert weighted_layers(model) == weighted_layers(reference)
    randomize(reference)
    model.set_weights(reference.get_weights())
    for mode in training:
        ours = np.asarray(model(images, training=mode))
        theirs = np.asarray(reference(images, training=mode))
        assert np.std(theirs) > 1e-3  # not a constant that would match anything
        np.testing.assert_array_equal(ours, theirs)  # bit for bit: the same ops in the same order


def pixels(size=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (size, 224, 224, 3)).astype("float32")


def test_mobilenet_v3_small_is_keras_applications_mobilenet_v3_small():
    model = kerasblocks.build("mobilenet_v3_small")
    reference = keras.applications.MobileNetV3Small(weights=None, classifier_activation=None)
    assert model.count_params() == reference.count_params() == 2_554_968
    assert_is_the_application(model, reference, pixels())


def test_mobilenet_v3_small_in_training_mode_and_without_preprocessing():
    # Dropout 0 (which Keras then leaves out) makes training mode deterministic:
    # batch norm with the batch's statistics.
    spec_vars = {"dropout": 0.0, "include_preprocessing": False, "num_classes": 10}
    model = kerasblocks.build("mobilenet_v3_small", **spec_vars, input_shape=[96, 96, 3])
    reference = keras.applications.MobileNetV3Small(
        input_shape=(96, 96, 3), weights=None, classes=10, dropout_rate=0.0,
        include_preprocessing=False, classifier_activation=None,
    )  # fmt: skip
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in reference.layers
    ]
    images = np.random.default_rng(1).uniform(-1, 1, (4, 96, 96, 3)).astype("float32")
    assert_is_the_application(model, reference, images, training=(False, True))


def test_convnext_tiny_is_keras_applications_convnext_tiny():
    model = kerasblocks.build("convnext_tiny")
    reference = keras.applications.ConvNeXtTiny(weights=None, classifier_activation=None)
    assert model.count_params() == reference.count_params() == 28_589_128
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in reference.layers
    ]
    assert_is_the_application(model, reference, pixels())


def test_convnext_tiny_small_without_preprocessing():
    spec_vars = {"include_preprocessing": False, "num_classes": 10, "input_shape": [32, 32, 3]}
    model = kerasblocks.build("convnext_tiny", **spec_vars)
    reference = keras.applications.ConvNeXtTiny(
        input_shape=(32, 32, 3), weights=None, classes=10, include_preprocessing=False,
        classifier_activation=None,
    )  # fmt: skip
    images = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    assert_is_the_application(model, reference, images, training=(False, True))
