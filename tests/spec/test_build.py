"""The builder: expanded graph -> keras.Model, and errors located at the text.

Spec-built models are checked against the same models written by hand in
Keras: same parameter count and, with the weights copied across layer by
layer, the same outputs.
"""

import keras
import numpy as np
import pytest

import kerasblocks
from kerasblocks.errors import SourceLocation, SpecError
from kerasblocks.spec.build import build_model
from kerasblocks.spec.graph import ArgumentOrigin, Graph, InputNode, LayerNode, Ref

layers = keras.layers
FILE = "net.yaml"


# --- helpers -------------------------------------------------------------------


def resolve(type_name):
    """Stand-in for the registry: Keras layers, then kerasblocks layers."""
    if hasattr(layers, type_name):
        return getattr(layers, type_name)
    return getattr(kerasblocks.layers, type_name)


def at(line, column=7):
    return SourceLocation(FILE, line, column)


def layer(name, type_name, arguments=None, inputs=(), line=1, origins=None):
    """A node called with one input, or with a list of several (Add, Concatenate)."""
    refs = [Ref(input_name) for input_name in inputs]
    return LayerNode(
        name=name,
        type=type_name,
        arguments=dict(arguments or {}),
        args=(refs[0],) if len(refs) == 1 else (refs,),
        location=at(line),
        argument_origins=dict(origins or {}),
    )


def graph(layer_nodes, inputs, outputs=None, name="net"):
    inputs = tuple(InputNode(n, tuple(shape), location=at(1)) for n, shape in inputs.items())
    outputs = tuple(outputs or (layer_nodes[-1].name,))
    return Graph(
        name=name,
        inputs=inputs,
        layers=tuple(layer_nodes),
        outputs=outputs,
        file=FILE,
    )


def build(g):
    return build_model(g, resolve=resolve)


def build_error(g):
    with pytest.raises(SpecError) as caught:
        build(g)
    return caught.value


def copy_weights_by_name(source, target):
    """Copies every weighted layer of `source` into `target`'s namesake."""
    copied = 0
    for source_layer in source.layers:
        if source_layer.weights:
            target.get_layer(source_layer.name).set_weights(source_layer.get_weights())
            copied += 1
    assert copied, "nothing copied"


def assert_same_model(built, reference, inputs):
    """Same parameter count, same layer names and, with copied weights, outputs."""
    assert built.count_params() == reference.count_params()
    assert [l.name for l in built.layers] == [l.name for l in reference.layers]
    copy_weights_by_name(reference, built)
    ours, theirs = built(inputs), reference(inputs)
    if not isinstance(ours, (list, tuple)):
        ours, theirs = [ours], [theirs]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-6, atol=1e-6)


def to_numpy(tensor):
    return tensor.numpy()  # TF backend; np.asarray warns under NumPy 2


def random(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# --- models that build ---------------------------------------------------------


def test_chain_matches_hand_written_mlp():
    built = build(
        graph(
            [
                layer("hidden1", "Dense", {"units": 128, "activation": "relu"}, ["pixels"]),
                layer("hidden2", "Dense", {"units": 256, "activation": "relu"}, ["hidden1"]),
                layer("logits", "Dense", {"units": 10}, ["hidden2"]),
            ],
            inputs={"pixels": (784,)},
            name="mlp",
        )
    )
    x = keras.Input((784,), name="pixels")
    h = layers.Dense(128, activation="relu", name="hidden1")(x)
    h = layers.Dense(256, activation="relu", name="hidden2")(h)
    reference = keras.Model(x, layers.Dense(10, name="logits")(h))

    assert built.name == "mlp"
    assert built.count_params() == 136_074
    assert_same_model(built, reference, random(4, 784))


def test_branches_with_add_and_concatenate_match_hand_written():
    built = build(
        graph(
            [
                layer(
                    "stem", "Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same"}, ["image"]
                ),
                layer(
                    "left", "Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same"}, ["stem"]
                ),
                layer("right", "Conv2D", {"filters": 8, "kernel_size": 1}, ["stem"]),
                layer("skip", "Add", {}, ["left", "stem"]),
                layer("joined", "Concatenate", {"axis": -1}, ["skip", "right"]),
                layer("pool", "GlobalAveragePooling2D", {}, ["joined"]),
                layer("logits", "Dense", {"units": 3}, ["pool"]),
            ],
            inputs={"image": (12, 12, 3)},
        )
    )
    x = keras.Input((12, 12, 3), name="image")
    stem = layers.Conv2D(8, 3, padding="same", name="stem")(x)
    left = layers.Conv2D(8, 3, padding="same", name="left")(stem)
    right = layers.Conv2D(8, 1, name="right")(stem)
    skip = layers.Add(name="skip")([left, stem])
    joined = layers.Concatenate(axis=-1, name="joined")([skip, right])
    pool = layers.GlobalAveragePooling2D(name="pool")(joined)
    reference = keras.Model(x, layers.Dense(3, name="logits")(pool))

    assert built.get_layer("joined").output.shape == (None, 12, 12, 16)
    assert_same_model(built, reference, random(2, 12, 12, 3))


def test_multi_input_multi_output_model_keeps_spec_order():
    built = build(
        graph(
            [
                layer("features", "Concatenate", {}, ["image", "meta"]),
                layer("hidden", "Dense", {"units": 16, "activation": "relu"}, ["features"]),
                layer("class_logits", "Dense", {"units": 5}, ["hidden"]),
                layer("box", "Dense", {"units": 4, "activation": "sigmoid"}, ["hidden"]),
            ],
            inputs={"image": (12,), "meta": (3,)},
            outputs=["class_logits", "box"],
        )
    )
    image, meta = keras.Input((12,), name="image"), keras.Input((3,), name="meta")
    features = layers.Concatenate(name="features")([image, meta])
    hidden = layers.Dense(16, activation="relu", name="hidden")(features)
    reference = keras.Model(
        [image, meta],
        [
            layers.Dense(5, name="class_logits")(hidden),
            layers.Dense(4, activation="sigmoid", name="box")(hidden),
        ],
    )

    assert built.output_names == ["class_logits", "box"]
    assert [t.name for t in built.inputs] == ["image", "meta"]
    assert_same_model(built, reference, [random(2, 12), random(2, 3, seed=1)])


def test_input_dtype_and_an_input_as_output():
    g = Graph(
        name="ids",
        inputs=(InputNode("tokens", (None,), dtype="int32"),),
        layers=(layer("embed", "Embedding", {"input_dim": 50, "output_dim": 4}, ["tokens"]),),
        outputs=("embed", "tokens"),
        file=FILE,
    )
    model = build(g)
    assert model.inputs[0].dtype == "int32"
    assert model.inputs[0].shape == (None, None)
    embedded, tokens = model(np.array([[1, 2, 3]], dtype="int32"))
    assert embedded.shape == (1, 3, 4)
    np.testing.assert_array_equal(to_numpy(tokens), [[1, 2, 3]])


def test_kerasblocks_layer_builds_through_the_resolver():
    model = build(
        graph(
            [
                layer("features", "Dense", {"units": 6}, ["x"]),
                layer("scaled", "L2NormScale", {"alpha": 5.0}, ["features"]),
            ],
            inputs={"x": (4,)},
        )
    )
    norms = np.linalg.norm(to_numpy(model(random(3, 4))), axis=-1)
    np.testing.assert_allclose(norms, 5.0, rtol=1e-4)


def test_shared_argument_values_are_not_shared_between_layers():
    # Expansion may hand the same dict (e.g. from `defaults`) to many nodes.
    regularizer = {"class_name": "L2", "config": {"l2": 0.01}}
    g = graph(
        [
            layer("a", "Dense", {"units": 2, "kernel_regularizer": regularizer}, ["x"]),
            layer("b", "Dense", {"units": 2, "kernel_regularizer": regularizer}, ["a"]),
        ],
        inputs={"x": (3,)},
    )
    first, second = build(g), build(g)
    assert regularizer == {"class_name": "L2", "config": {"l2": 0.01}}
    assert len(first.losses) == len(second.losses) == 2


def test_default_resolver_is_the_registry(monkeypatch):
    from kerasblocks.spec import registry

    calls = []

    def fake_resolve(type_name):
        calls.append(type_name)
        return resolve(type_name)

    monkeypatch.setattr(registry, "resolve", fake_resolve)
    build_model(graph([layer("d", "Dense", {"units": 2}, ["x"])], inputs={"x": (3,)}))
    assert calls == ["Dense"]


# --- shape errors at the offending line ----------------------------------------


def test_add_of_different_sizes_names_both_inputs_and_shapes():
    error = build_error(
        graph(
            [
                layer(
                    "left",
                    "Conv2D",
                    {"filters": 64, "kernel_size": 3, "padding": "same", "strides": 2},
                    ["image"],
                    line=20,
                ),
                layer(
                    "right",
                    "Conv2D",
                    {"filters": 64, "kernel_size": 3, "padding": "same"},
                    ["image"],
                    line=21,
                ),
                layer("merge", "Add", {}, ["left", "right"], line=22),
            ],
            inputs={"image": (28, 28, 3)},
        )
    )
    assert (error.file, error.line, error.column) == (FILE, 22, 7)
    assert str(error).splitlines()[0] == (
        "net.yaml:22:7: error: Add 'merge' got shapes (None, 14, 14, 64) from 'left' "
        "and (None, 28, 28, 64) from 'right'"
    )
    assert "'right' is 2x larger" in error.hint and "strides: 2" in error.hint
    assert isinstance(error.__cause__, ValueError)  # the Keras error, for --debug


def test_add_of_different_channel_counts_hints_at_filters():
    error = build_error(
        graph(
            [
                layer("branch", "Conv2D", {"filters": 16, "kernel_size": 1}, ["image"], line=5),
                layer("merge", "Add", {}, ["branch", "image"], line=6),
            ],
            inputs={"image": (8, 8, 4)},
        )
    )
    assert error.line == 6
    assert "(None, 8, 8, 16) from 'branch' and (None, 8, 8, 4) from 'image'" in error.message
    assert "channel counts differ (16 from 'branch', 4 from 'image')" in error.hint


def test_concatenate_mismatch_off_the_concatenation_axis():
    error = build_error(
        graph(
            [
                layer("pooled", "MaxPooling2D", {"pool_size": 2}, ["image"], line=8),
                layer("joined", "Concatenate", {"axis": -1}, ["pooled", "image"], line=9),
            ],
            inputs={"image": (16, 16, 4)},
        )
    )
    assert error.line == 9
    assert (
        "Concatenate 'joined' got shapes (None, 8, 8, 4) from 'pooled' and (None, 16, 16, 4) from 'image'"
        in error.message
    )
    assert "'image' is 2x larger" in error.hint


def test_kernel_larger_than_its_input():
    error = build_error(
        graph(
            [
                layer("pool", "MaxPooling2D", {"pool_size": 4}, ["image"], line=3),
                layer("conv", "Conv2D", {"filters": 4, "kernel_size": 5}, ["pool"], line=4),
            ],
            inputs={"image": (8, 8, 1)},
        )
    )
    assert error.line == 4
    assert error.message == (
        "Conv2D 'conv' got shape (None, 2, 2, 1) from 'pool': its output would have no "
        "elements (size zero or negative)"
    )
    assert (
        "only 2x2" in error.hint
        and "kernel_size: 5" in error.hint
        and "padding: same" in error.hint
    )


def test_pooling_window_larger_than_its_input():
    error = build_error(
        graph(
            [layer("pool", "MaxPooling2D", {"pool_size": 3}, ["image"], line=3)],
            inputs={"image": (2, 2, 1)},
        )
    )
    assert error.line == 3
    assert "MaxPooling2D 'pool' got shape (None, 2, 2, 1) from 'image'" in error.message
    assert "Exception encountered" not in error.message  # Keras's wrapper is stripped
    assert "pool_size: 3" in error.hint


def test_conv2d_on_a_flat_tensor_is_a_rank_error():
    error = build_error(
        graph(
            [
                layer("flat", "Flatten", {}, ["image"], line=3),
                layer("conv", "Conv2D", {"filters": 4, "kernel_size": 3}, ["flat"], line=4),
            ],
            inputs={"image": (8, 8, 1)},
        )
    )
    assert error.line == 4
    assert "Conv2D 'conv' got shape (None, 64) from 'flat'" in error.message
    assert "expected min_ndim=4, found ndim=2" in error.message
    assert "Reshape" in error.hint


def test_global_pooling_2d_on_a_vector_is_a_rank_error():
    error = build_error(
        graph([layer("gap", "GlobalAveragePooling2D", {}, ["x"], line=7)], inputs={"x": (10,)})
    )
    assert error.line == 7
    assert "expected ndim=4, found ndim=2" in error.message


def test_dense_on_a_4d_tensor_is_legal_in_keras_so_not_an_error():
    # Keras applies Dense to the last axis; only what Keras refuses is reported.
    model = build(
        graph([layer("dense", "Dense", {"units": 3}, ["image"])], inputs={"image": (4, 4, 2)})
    )
    assert model.output.shape == (None, 4, 4, 3)


def test_single_input_layer_given_two_inputs():
    error = build_error(
        graph([layer("dense", "Dense", {"units": 3}, ["x", "x"], line=5)], inputs={"x": (4,)})
    )
    assert error.line == 5
    assert "<KerasTensor" not in error.message
    assert "list 1 name(s)" in error.hint


# --- constructor errors --------------------------------------------------------


def test_bad_argument_value_is_reported_at_the_value_with_its_origin():
    origin = ArgumentOrigin("default", SourceLocation(FILE, 3, 22), "defaults.Conv2D")
    error = build_error(
        graph(
            [
                layer(
                    "conv",
                    "Conv2D",
                    {"filters": -1, "kernel_size": 3},
                    ["image"],
                    line=9,
                    origins={"filters": origin},
                )
            ],
            inputs={"image": (8, 8, 1)},
        )
    )
    assert (error.line, error.column) == (3, 22)
    assert error.message.startswith("Conv2D 'conv': invalid argument filters=-1: ")
    assert "strictly positive" in error.message
    assert "(value from defaults.Conv2D)" in error.message


def test_bad_argument_without_origin_is_reported_at_the_layer():
    error = build_error(
        graph(
            [layer("dense", "Dense", {"units": 3, "activation": "relux"}, ["x"], line=4)],
            inputs={"x": (4,)},
        )
    )
    assert error.line == 4
    assert "invalid argument activation='relux'" in error.message


def test_unknown_keyword_argument():
    error = build_error(
        graph([layer("dense", "Dense", {"units": 3, "unit": 2}, ["x"], line=4)], inputs={"x": (4,)})
    )
    assert "invalid argument unit=2" in error.message


def test_registry_errors_get_the_node_location():
    def refusing_resolve(type_name):
        raise SpecError(f"unknown layer type '{type_name}'")

    with pytest.raises(SpecError) as caught:
        build_model(
            graph([layer("d", "Dens", {}, ["x"], line=12)], inputs={"x": (3,)}),
            resolve=refusing_resolve,
        )
    assert (caught.value.line, caught.value.message) == (12, "unknown layer type 'Dens'")


def test_duplicate_layer_names_are_a_spec_error():
    error = build_error(
        graph(
            [layer("d", "Dense", {"units": 2}, ["x"]), layer("d", "Dense", {"units": 2}, ["d"])],
            inputs={"x": (3,)},
        )
    )
    assert "could not assemble model 'net'" in error.message


# --- from spec text, through the real front end -----------------------------------

BLOCKS_AND_DEFAULTS_SPEC = """\
kerasblocks: 1
name: blocks_demo
inputs:
  image: {shape: [8, 8, 3]}
defaults:
  Conv2D: {padding: same, activation: relu, kernel_regularizer: {L2: {l2: 0.0005}}}
blocks:
  ConvBN:
    params: {filters: required}
    layers:
      - Conv2D: {filters: $filters, kernel_size: 3}
      - BatchNormalization: {}
layers:
  - Conv2D: {filters: 4, kernel_size: 3, name: stem}
  - Conv2D: {filters: 4, kernel_size: 1, activation: null, name: linear}
  - ConvBN: {filters: 4, name: block}
  - Add: {inputs: [stem, block], name: skip}
  - ConvBN: {filters: 6, name: head}
outputs: [head]
"""


def copy_weights_in_order(source, target):
    """Copies weights between the weighted layers of two models, in order."""
    source_layers = [l for l in source.layers if l.weights]
    target_layers = [l for l in target.layers if l.weights]
    assert [type(l) for l in source_layers] == [type(l) for l in target_layers]
    for source_layer, target_layer in zip(source_layers, target_layers):
        target_layer.set_weights(source_layer.get_weights())


def test_blocks_and_defaults_match_hand_written():
    built = kerasblocks.build(BLOCKS_AND_DEFAULTS_SPEC)

    l2 = keras.regularizers.L2(0.0005)
    conv = {"padding": "same", "activation": "relu", "kernel_regularizer": l2}
    x = keras.Input((8, 8, 3), name="image")
    stem = layers.Conv2D(4, 3, name="stem", **conv)(x)
    linear = layers.Conv2D(4, 1, name="linear", **{**conv, "activation": None})(stem)
    block = layers.BatchNormalization(name="block")(
        layers.Conv2D(4, 3, name="block_conv2d", **conv)(linear)
    )
    skip = layers.Add(name="skip")([stem, block])
    head = layers.BatchNormalization(name="head")(
        layers.Conv2D(6, 3, name="head_conv2d", **conv)(skip)
    )
    reference = keras.Model(x, head)

    # Defaults reach every Conv2D, blocks included; a layer's own value wins.
    stem_layer, linear_layer = built.get_layer("stem"), built.get_layer("linear")
    assert stem_layer.padding == "same" and stem_layer.activation.__name__ == "relu"
    assert linear_layer.activation.__name__ == "linear"
    assert built.get_layer("head_conv2d").kernel_regularizer.get_config() == {"l2": 0.0005}
    assert len(built.losses) == 4  # one L2 penalty per Conv2D

    copy_weights_in_order(reference, built)
    assert built.count_params() == reference.count_params()
    data = random(2, 8, 8, 3)
    np.testing.assert_allclose(
        to_numpy(built(data)), to_numpy(reference(data)), rtol=1e-6, atol=1e-6
    )


def test_shipped_inception_fashion_matches_the_article_net():
    from tests.reference_models import fashion_inception_net, randomize_batchnorm_statistics

    built = kerasblocks.build("inception_fashion")
    reference = fashion_inception_net()
    randomize_batchnorm_statistics(reference)
    counts = kerasblocks.api.parameter_counts(built)
    assert counts == {"total": 294_218, "trainable": 293_226, "non_trainable": 992}  # reported

    copy_weights_in_order(reference, built)
    data = random(2, 28, 28, 1)
    np.testing.assert_allclose(
        to_numpy(built(data, training=False)),
        to_numpy(reference(data, training=False)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_shape_error_inside_a_block_points_at_the_use_and_names_the_block():
    spec = BLOCKS_AND_DEFAULTS_SPEC.replace(
        "      - BatchNormalization: {}",
        "      - BatchNormalization: {}\n      - MaxPooling2D: {pool_size: 2}",
    )
    with pytest.raises(SpecError) as caught:
        kerasblocks.build(spec)
    error = caught.value
    assert (error.line, error.column) == (18, 5)  # the Add (one line down: the pool)
    assert error.message.startswith(
        "Add 'skip' got shapes (None, 8, 8, 4) from 'stem' and (None, 4, 4, 4) from 'block'"
    )


def test_constructor_error_inside_a_block_names_the_block_and_its_line():
    spec = BLOCKS_AND_DEFAULTS_SPEC.replace(
        "  - ConvBN: {filters: 6, name: head}", "  - ConvBN: {filters: -6, name: head}"
    )
    with pytest.raises(SpecError) as caught:
        kerasblocks.build(spec)
    error = caught.value
    assert (error.line, error.column) == (18, 23)  # the value, at the block use
    assert error.message.startswith(
        "Conv2D 'head_conv2d' (in block ConvBN, written at <spec>:11:9): invalid argument filters=-6"
    )
