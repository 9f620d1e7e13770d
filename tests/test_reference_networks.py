"""The shipped specs against hand-written Keras versions of the same networks.

Each reference is written the way its article (or keras.applications) writes
the network, without kerasblocks: subclassed models calling `tf.nn` ops where
the article does, plain functional models elsewhere. The weights of the model
built from the spec are copied into it layer by layer (plain layers by name or
in order, the sublayers of ResidualUnit / InceptionBlock by name); the two
must then give the same outputs on the same batch, in inference mode, and in
training mode where batch normalization matters and nothing is random. Equal
outputs with copied weights prove the structure, not just the counts.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasblocks
from kerasblocks.layers import InceptionBlock, ResidualUnit
from tests.reference_models import copy_resnet50_weights, randomize_batchnorm_statistics

layers = keras.layers
COMPOSITE_LAYERS = (ResidualUnit, InceptionBlock)


# --- helpers ---------------------------------------------------------------------------


def weighted_layers(model):
    """Layers holding weights, in order; a composite layer counts as one."""
    children = model._flatten_layers(include_self=False, recursive=False)
    return [layer for layer in children if layer.weights]


def copy_in_order(source, target):
    """Copies the weighted layers of `source` into those of `target`, in order."""
    pairs = list(zip(weighted_layers(source), weighted_layers(target), strict=True))
    for theirs, ours in pairs:
        ours.set_weights(theirs.get_weights())  # set_weights checks the shapes
    return len(pairs)


def copy_by_name(reference, model):
    """Copies weights from `reference` into the spec-built `model` by layer name.

    A plain layer takes the weights of the reference layer with its name; a
    composite layer `unit1` takes, for each sublayer `conv1`, those of the
    reference layer `unit1_conv1`. Every weighted layer must be found.
    """
    copied = 0
    for layer in weighted_layers(model):
        if isinstance(layer, COMPOSITE_LAYERS):
            for sub in weighted_layers(layer):
                sub.set_weights(reference.get_layer(f"{layer.name}_{sub.name}").get_weights())
                copied += 1
        else:
            layer.set_weights(reference.get_layer(layer.name).get_weights())
            copied += 1
    assert copied == len(weighted_layers(reference))
    return copied


def randomize_biases(model, seed=1):
    """Non-zero biases (Keras initialises them to zero), so a missing one shows."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, (layers.Conv2D, layers.Dense)) and layer.use_bias:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape).astype("float32")])


def batch(shape, size=4, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (size, *shape)).astype("float32")


def assert_same_outputs(model, reference, x, training=False, rtol=1e-5, atol=1e-5):
    ours = np.asarray(model(x, training=training))
    theirs = np.asarray(reference(x, training=training))
    assert ours.shape == theirs.shape
    assert np.all(np.isfinite(ours))
    assert np.std(ours) > 0  # not a constant that would match anything
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


# --- 1. MLP ---------------------------------------------------------------------------


class ArticleMLP(keras.Model):
    """The tf.keras article's subclassed MLP."""

    def __init__(self):
        super().__init__()
        self.dense1 = layers.Dense(128, activation="relu")
        self.dense2 = layers.Dense(256, activation="relu")
        self.logits = layers.Dense(10)

    def call(self, x):
        return self.logits(self.dense2(self.dense1(x)))


def test_mlp_mnist_is_the_articles_mlp():
    model = kerasblocks.build("mlp_mnist")
    reference = ArticleMLP()
    x = batch((784,))
    reference(x)
    randomize_biases(reference)
    assert copy_in_order(reference, model) == 3
    assert_same_outputs(model, reference, x)


# --- 2. L2-constrained softmax CNN -------------------------------------------------------


def l2softmax_reference(alpha=50.0, l2_constrained=True):
    """The article's CNN in plain Keras layers: the per-sample L2 normalisation
    is UnitNormalization, the scaling a Rescaling by alpha."""
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(32, 5, activation="relu")(inputs)
    x = layers.MaxPooling2D(2, 2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2, 2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(1024)(x)
    if l2_constrained:
        x = layers.UnitNormalization(axis=-1)(x)
        x = layers.Rescaling(alpha)(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize(
    "spec_vars, alpha",
    [({}, 50.0), ({"alpha": 4.0}, 4.0), ({"alpha": "auto"}, np.log(0.9 * 8 / 0.1))],
    ids=["alpha-50", "alpha-4", "alpha-auto"],
)
def test_l2softmax_cnn_is_the_articles_cnn_with_a_per_sample_norm(spec_vars, alpha):
    model = kerasblocks.build("l2softmax_cnn_mnist", **spec_vars)
    reference = l2softmax_reference(alpha)
    randomize_biases(reference)
    assert copy_in_order(reference, model) == 4
    x = batch((28, 28, 1))
    assert_same_outputs(model, reference, x)
    # The features fed to the classifier have norm alpha, sample by sample.
    features = keras.Model(model.input, model.get_layer("l2_norm_scale").output)(x)
    np.testing.assert_allclose(np.linalg.norm(features, axis=-1), alpha, rtol=1e-5)


def test_l2softmax_cnn_without_the_constraint_is_the_plain_softmax_baseline():
    model = kerasblocks.build("l2softmax_cnn_mnist", l2_constrained=False)
    reference = l2softmax_reference(l2_constrained=False)
    randomize_biases(reference)
    assert copy_in_order(reference, model) == 4
    assert_same_outputs(model, reference, batch((28, 28, 1)))


# --- 3. TF-Slim residual nets -------------------------------------------------------------


def article_preact_resnet(num_classes=10, k=3, n=64, num_units=5, input_shape=(28, 28, 1)):
    """The TF-Slim article's network, its `resnet_block` written out layer by layer."""
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(n, k, padding="same", name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu")(x)
    for unit in range(1, num_units + 1):
        net = layers.BatchNormalization(name=f"unit{unit}_bn1")(x)
        net = layers.Activation("elu")(net)
        net = layers.Conv2D(n, k, padding="same", name=f"unit{unit}_conv1")(net)
        net = layers.BatchNormalization(name=f"unit{unit}_bn2")(net)
        net = layers.Activation("elu")(net)
        net = layers.Conv2D(n, k, padding="same", name=f"unit{unit}_conv2")(net)
        x = layers.Add()([x, net])  # inputs + net
    x = layers.Conv2D(num_classes, k, padding="same", name="head_conv")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.GlobalAveragePooling2D()(x)  # tf.reduce_mean(net, [1, 2])
    outputs = layers.Softmax()(x)
    return keras.Model(inputs, outputs)


def test_resnet_preact_units_are_the_articles_resnet_block():
    spec_vars = {"num_units": 3, "filters": 16, "input_shape": [12, 12, 1]}
    model = kerasblocks.build("resnet_preact", **spec_vars)
    reference = article_preact_resnet(n=16, num_units=3, input_shape=(12, 12, 1))
    randomize_batchnorm_statistics(reference)
    randomize_biases(reference)
    assert copy_by_name(reference, model) == 2 + 3 * 4 + 2
    # Softmax outputs: compare the logits before it, the sharper test.
    ours = keras.Model(model.input, model.get_layer("mean").output)
    theirs = keras.Model(reference.input, reference.layers[-2].output)
    x = batch((12, 12, 1))
    assert_same_outputs(ours, theirs, x)  # BN with its (randomised) moving statistics
    assert_same_outputs(ours, theirs, x, training=True)  # BN with the batch's statistics


def test_resnet_preact_unit_order_at_the_articles_size():
    model = kerasblocks.build("resnet_preact")
    reference = article_preact_resnet()
    randomize_batchnorm_statistics(reference)
    randomize_biases(reference)
    copy_by_name(reference, model)
    assert_same_outputs(model, reference, batch((28, 28, 1), size=2))


def article_bottleneck_net(f=32, r=4, num_blocks=3, num_classes=10):
    """A stem, the article's `residual_block(x, f, r)` repeated, pooling, logits."""

    def residual_block(x):  # m = conv1x1(f/r) -> conv3x3(f/r) -> conv1x1(f); x + m
        m = layers.Conv2D(f // r, 1, padding="same", activation="relu")(x)
        m = layers.Conv2D(f // r, 3, padding="same", activation="relu")(m)
        m = layers.Conv2D(f, 1, padding="same", activation="relu")(m)
        return layers.Add()([x, m])

    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu")(inputs)
    for _ in range(num_blocks):
        x = residual_block(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes)(x))


def test_residual_bottleneck_blocks_are_the_articles_residual_block():
    model = kerasblocks.build("residual_bottleneck")
    reference = article_bottleneck_net()
    randomize_biases(reference)
    assert copy_in_order(reference, model) == 1 + 3 * 3 + 1
    assert_same_outputs(model, reference, batch((28, 28, 1)))


def test_vgg16_is_keras_applications_vgg16():
    model = kerasblocks.build("vgg16", num_classes=10, input_shape=[32, 32, 3])
    reference = keras.applications.VGG16(
        weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
    )
    randomize_biases(reference)
    assert copy_by_name(reference, model) == 16
    assert_same_outputs(model, reference, batch((32, 32, 3), size=2), atol=1e-4)


# --- 4. AlexNet ---------------------------------------------------------------------------


class ArticleAlexNetMnist(keras.Model):
    """The small AlexNet for MNIST as the article's TF code writes it."""

    def __init__(self):
        super().__init__()
        self.convs = [
            layers.Conv2D(f, 3, padding="same", activation="relu") for f in (64, 128, 256)
        ]
        self.fc1 = layers.Dense(1024, activation="relu")
        self.fc2 = layers.Dense(1024, activation="relu")
        self.out = layers.Dense(10)

    def call(self, x, training=False):
        for conv in self.convs:  # conv -> max_pool(k=2) -> norm(lsize=4) -> dropout
            x = tf.nn.max_pool2d(conv(x), ksize=2, strides=2, padding="SAME")
            x = tf.nn.local_response_normalization(x, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75)
        x = tf.reshape(x, [-1, 4 * 4 * 256])
        return self.out(self.fc2(self.fc1(x)))


def test_alexnet_mnist_is_the_articles_alexnet():
    model = kerasblocks.build("alexnet_mnist")
    reference = ArticleAlexNetMnist()
    x = batch((28, 28, 1))
    reference(x)
    randomize_biases(reference)
    assert copy_in_order(reference, model) == 6
    assert_same_outputs(model, reference, x)


class CaffeAlexNet(keras.Model):
    """bvlc_alexnet (TF port) with Caffe's `group: 2` written out as two towers:
    split the input channels in two, convolve each half with its own filters,
    concatenate."""

    def __init__(self, num_classes):
        super().__init__()

        def conv(filters, size, **kwargs):
            return layers.Conv2D(filters, size, padding="same", activation="relu", **kwargs)

        self.conv1 = conv(96, 11, strides=4)
        self.conv2 = [conv(128, 5), conv(128, 5)]
        self.conv3 = conv(384, 3)
        self.conv4 = [conv(192, 3), conv(192, 3)]
        self.conv5 = [conv(128, 3), conv(128, 3)]
        self.fc6 = layers.Dense(4096, activation="relu")
        self.fc7 = layers.Dense(4096, activation="relu")
        self.fc8 = layers.Dense(num_classes)

    def call(self, x, training=False):
        def lrn(x):  # Caffe local_size 5, alpha 1e-4 -> TF depth_radius 2, alpha 2e-5
            return tf.nn.local_response_normalization(x, 2, bias=1.0, alpha=2e-5, beta=0.75)

        def pool(x):
            return tf.nn.max_pool2d(x, ksize=3, strides=2, padding="VALID")

        def towers(convs, x):
            halves = tf.split(x, 2, axis=-1)
            return tf.concat([conv(half) for conv, half in zip(convs, halves)], axis=-1)

        x = pool(lrn(self.conv1(x)))
        x = pool(lrn(towers(self.conv2, x)))
        x = towers(self.conv5, towers(self.conv4, self.conv3(x)))
        x = tf.reshape(pool(x), [tf.shape(x)[0], -1])
        return self.fc8(self.fc7(self.fc6(x)))  # logits; the spec adds softmax (prob)


def test_alexnet_grouped_convolutions_are_caffes_two_towers():
    model = kerasblocks.build("alexnet", num_classes=10, input_shape=[99, 99, 3])
    reference = CaffeAlexNet(num_classes=10)
    x = batch((99, 99, 3), size=2)
    reference(x)
    randomize_biases(reference)
    source = {layer.name: layer for layer in weighted_layers(model)}
    single = {"stage1_conv": reference.conv1, "conv3": reference.conv3, "fc6": reference.fc6,
              "fc7": reference.fc7, "fc8": reference.fc8}  # fmt: skip
    for name, theirs in single.items():
        source[name].set_weights(theirs.get_weights())
    towers = {"stage2_conv": reference.conv2, "conv4": reference.conv4, "conv5": reference.conv5}
    for name, pair in towers.items():
        # Keras' groups: output channels [0, n/2) see the first half of the input.
        kernels, biases = zip(*(tower.get_weights() for tower in pair))
        source[name].set_weights([np.concatenate(kernels, axis=-1), np.concatenate(biases)])
    logits = keras.Model(model.input, model.get_layer("fc8").output)
    assert_same_outputs(logits, reference, x, atol=1e-4)


# --- 5. Inception -------------------------------------------------------------------------


def article_fashion_inception(block_names, num_classes=10, init_ch=16):
    """The tf.keras article's `Inception(2, 10)`: ConvBNRelu and InceptionBlk
    written out, the layers of block `b` named `b_branch<i>_step<j>_conv/bn`."""

    def conv_bn_relu(x, ch, strides, prefix):
        x = layers.Conv2D(ch, 3, strides=strides, padding="same", name=f"{prefix}_conv")(x)
        x = layers.BatchNormalization(name=f"{prefix}_bn")(x)
        return layers.ReLU()(x)

    def inception_blk(x, ch, strides, name):
        x1 = conv_bn_relu(x, ch, strides, f"{name}_branch0_step0")
        x2 = conv_bn_relu(x, ch, strides, f"{name}_branch1_step0")
        x3 = conv_bn_relu(x, ch, strides, f"{name}_branch2_step0")
        x3 = conv_bn_relu(x3, ch, 1, f"{name}_branch2_step1")
        x4 = layers.MaxPooling2D(3, strides=1, padding="same")(x)
        x4 = conv_bn_relu(x4, ch, strides, f"{name}_branch3_step1")
        return layers.Concatenate(axis=-1)([x1, x2, x3, x4])

    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(init_ch, 3, padding="same", name="stem_conv2d")(inputs)
    x = layers.BatchNormalization(name="stem_batch_normalization")(x)
    x = layers.ReLU()(x)
    names = iter(block_names)
    ch = init_ch
    for _ in range(2):
        x = inception_blk(x, ch, 2, next(names))
        x = inception_blk(x, ch, 1, next(names))
        ch *= 2
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x))


def test_inception_fashion_is_the_articles_inception_net():
    model = kerasblocks.build("inception_fashion")
    blocks = [layer.name for layer in model.layers if isinstance(layer, InceptionBlock)]
    reference = article_fashion_inception(blocks)
    assert reference.count_params() == 294_218
    randomize_batchnorm_statistics(reference)
    randomize_biases(reference)
    assert copy_by_name(reference, model) == 2 + 4 * 10 + 1
    x = batch((28, 28, 1))
    assert_same_outputs(model, reference, x, atol=1e-4)
    assert_same_outputs(model, reference, x, training=True, atol=1e-4)


# --- ResNet-50 ---------------------------------------------------------------------------


def test_resnet50_is_keras_applications_resnet50():
    model = kerasblocks.build("resnet50", num_classes=10, input_shape=[32, 32, 3])
    reference = keras.applications.ResNet50(
        weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
    )
    randomize_batchnorm_statistics(reference)
    randomize_biases(reference)
    copy_resnet50_weights(reference, model)
    x = batch((32, 32, 3), size=4)
    assert_same_outputs(model, reference, x, atol=1e-4)
    assert_same_outputs(model, reference, x, training=True, atol=1e-4)
