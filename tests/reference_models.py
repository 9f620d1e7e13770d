"""Hand-written functional Keras references for the composite kerasblocks layers.

Each reference names its layers like the kerasblocks layer names its
sublayers, so `copy_weights(reference, layer)` copies every weight by name.
The `*_pair` builders return `(kerasblocks_model, reference_model)` with the
same weights, for tests and benchmarks:

    from tests.reference_models import residual_unit_pair, inception_3a_pair
    ours, reference = residual_unit_pair()        # article's pre-activation ELU unit
    ours, reference = resnet50_bottleneck_pair()  # ResNet-50 v1 bottleneck, 28x28x256
    ours, reference = inception_3a_pair()         # GoogLeNet module 3a, 28x28x192
"""

import keras
import numpy as np

from kerasblocks.layers import InceptionBlock, ResidualUnit

layers = keras.layers

GOOGLENET_3A_FILTERS = [64, 96, 128, 16, 32, 32]


# ----------------------------------------------------------------------------
# Weight copying


def sublayers(layer):
    """The direct sublayers of a composite layer (those holding weights)."""
    return [sub for sub in layer._flatten_layers(include_self=False, recursive=False)]


def copy_weights(reference, layer):
    """Copies weights from `reference` (a model or a dict name -> layer) into
    the sublayers of the composite `layer`, matching by name.

    Every weighted sublayer of `layer` must have a namesake in `reference`.
    """
    if isinstance(reference, keras.Model):
        by_name = {sub.name: sub for sub in reference.layers}
    else:
        by_name = dict(reference)
    copied = 0
    for sub in sublayers(layer):
        if not sub.weights:
            continue
        if sub.name not in by_name:
            raise KeyError(f"reference has no layer named {sub.name!r}")
        sub.set_weights(by_name[sub.name].get_weights())
        copied += 1
    return copied


def randomize_batchnorm_statistics(model, seed=0):
    """Gives every BN non-trivial gamma/beta/moving statistics, so inference
    mode comparisons do not pass by accident with the identity BN."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                    rng.normal(0, 0.1, beta.shape).astype("float32"),
                    rng.normal(0, 0.1, mean.shape).astype("float32"),
                    rng.uniform(0.5, 1.5, variance.shape).astype("float32"),
                ]
            )


def assert_same_outputs(ours, reference, x, tolerance=1e-6):
    """`ours(x)` and `reference(x)` agree, in inference and in training mode."""
    for training in (False, True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ours(x, training=training)),
            keras.ops.convert_to_numpy(reference(x, training=training)),
            rtol=tolerance,
            atol=tolerance,
            err_msg=f"training={training}",
        )


def _all_layers(model):
    for layer in model._flatten_layers(include_self=False, recursive=True):
        yield layer


def _randomize_biases(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        if isinstance(layer, layers.Conv2D) and layer.use_bias:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape).astype("float32")])


# ----------------------------------------------------------------------------
# ResidualUnit references


def article_preact_unit(input_shape=(16, 16, 64), filters=64, kernel_size=3):
    """The TF-Slim article's `resnet_block`: x + [BN, ELU, conv, BN, ELU, conv].

    slim.conv2d with `activation_fn=None` is a biased 'same' convolution.
    Equivalent kerasblocks layer:
    `ResidualUnit(filters, kernel_size, activation="elu")` (variant "preact").
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.BatchNormalization(name="bn1")(inputs)
    x = layers.Activation("elu")(x)
    x = layers.Conv2D(filters, kernel_size, padding="same", name="conv1")(x)
    x = layers.BatchNormalization(name="bn2")(x)
    x = layers.Activation("elu")(x)
    x = layers.Conv2D(filters, kernel_size, padding="same", name="conv2")(x)
    outputs = layers.Add()([inputs, x])
    return keras.Model(inputs, outputs, name="article_preact_unit")


def article_bottleneck_block(input_shape=(16, 16, 32), f=32, r=4):
    """The TF-Slim article's `residual_block(x, f, r)`: x + m with
    m = conv1x1(f/r) -> conv3x3(f/r) -> conv1x1(f), each slim.conv2d default
    (biased, 'same', ReLU after every conv, no normalizer).

    Equivalent kerasblocks layer: `ResidualUnit(f, variant="plain",
    bottleneck=True, reduction=r, use_batchnorm=False)`.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(f // r, 1, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(f // r, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.Conv2D(f, 1, padding="same", activation="relu", name="conv3")(x)
    outputs = layers.Add()([inputs, x])
    return keras.Model(inputs, outputs, name="article_bottleneck_block")


def resnet50_bottleneck_block(input_shape=(28, 28, 256), filters=256, strides=1):
    """A ResNet-50 v1 bottleneck block as `keras.applications.ResNet50`
    writes it (its `block1`): conv1x1 -> BN -> ReLU -> conv3x3 -> BN -> ReLU
    -> conv1x1 -> BN, plus the shortcut (the input, or conv1x1 -> BN when the
    shape changes), then ReLU. Biased convolutions, BN epsilon 1.001e-5.

    Equivalent kerasblocks layer: `ResidualUnit(filters, strides=strides,
    variant="postact", bottleneck=True, epsilon=1.001e-5)`.
    """
    inner = filters // 4

    def conv_bn(x, filters, kernel_size, strides, conv_name, bn_name):
        x = layers.Conv2D(
            filters, kernel_size, strides=strides, padding="same", name=conv_name
        )(x)
        return layers.BatchNormalization(epsilon=1.001e-5, name=bn_name)(x)

    inputs = keras.Input(shape=input_shape)
    shortcut = inputs
    if strides != 1 or input_shape[-1] != filters:
        shortcut = conv_bn(inputs, filters, 1, strides, "shortcut_conv", "shortcut_bn")
    x = layers.ReLU()(conv_bn(inputs, inner, 1, strides, "conv1", "bn1"))
    x = layers.ReLU()(conv_bn(x, inner, 3, 1, "conv2", "bn2"))
    x = conv_bn(x, filters, 1, 1, "conv3", "bn3")
    outputs = layers.ReLU()(layers.Add()([shortcut, x]))
    return keras.Model(inputs, outputs, name="resnet50_bottleneck_block")


def _pair(reference, layer, input_shape, name, seed, batchnorm=True):
    """`(model around layer, reference)`: randomises the reference's biases
    (and BN statistics) and copies its weights into `layer` by name."""
    if batchnorm:
        randomize_batchnorm_statistics(reference, seed)
    _randomize_biases(reference, seed)
    inputs = keras.Input(shape=input_shape)
    ours = keras.Model(inputs, layer(inputs), name=name)
    copy_weights(reference, layer)
    return ours, reference


def residual_unit_pair(input_shape=(16, 16, 64), filters=64, kernel_size=3, seed=0):
    """(kerasblocks model, reference model) for the article's pre-activation
    ELU unit, with identical weights (BN statistics randomised)."""
    keras.utils.set_random_seed(seed)
    return _pair(
        article_preact_unit(input_shape, filters, kernel_size),
        ResidualUnit(filters, kernel_size, activation="elu", name="unit"),
        input_shape,
        "kerasblocks_preact_unit",
        seed,
    )


def bottleneck_block_pair(input_shape=(16, 16, 32), f=32, r=4, seed=0):
    """(kerasblocks model, reference model) for the article's bottleneck."""
    keras.utils.set_random_seed(seed)
    return _pair(
        article_bottleneck_block(input_shape, f, r),
        ResidualUnit(
            f, variant="plain", bottleneck=True, reduction=r, use_batchnorm=False, name="unit"
        ),
        input_shape,
        "kerasblocks_bottleneck_block",
        seed,
        batchnorm=False,
    )


def resnet50_bottleneck_pair(input_shape=(28, 28, 256), filters=256, strides=1, seed=0):
    """(kerasblocks model, reference model) for a ResNet-50 bottleneck block."""
    keras.utils.set_random_seed(seed)
    return _pair(
        resnet50_bottleneck_block(input_shape, filters, strides),
        ResidualUnit(
            filters,
            strides=strides,
            variant="postact",
            bottleneck=True,
            epsilon=1.001e-5,
            name="unit",
        ),
        input_shape,
        "kerasblocks_resnet50_bottleneck",
        seed,
    )


# ----------------------------------------------------------------------------
# ResNet-50 from ResidualUnits


def resnet50_from_units(input_shape=(224, 224, 3), classes=1000):
    """ResNet-50 v1 as `keras.applications.ResNet50` builds it, with every
    bottleneck block a `ResidualUnit(variant="postact", bottleneck=True)`.

    Layer names follow keras.applications (`conv1_conv`, ..., `predictions`;
    unit `conv3_block2` stands for keras' `conv3_block2_*` layers).
    Logits are returned (no softmax), so compare with
    `ResNet50(..., classifier_activation=None)`.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks, stride) in enumerate(
        [(256, 3, 1), (512, 4, 2), (1024, 6, 2), (2048, 3, 2)], start=2
    ):
        for block in range(1, blocks + 1):
            x = ResidualUnit(
                filters,
                strides=stride if block == 1 else 1,
                variant="postact",
                bottleneck=True,
                reduction=4,
                epsilon=1.001e-5,
                name=f"conv{stage}_block{block}",
            )(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, name="predictions")(x)
    return keras.Model(inputs, outputs, name="resnet50_from_units")


_KERAS_BLOCK_NAMES = {
    "conv1": "1_conv",
    "bn1": "1_bn",
    "conv2": "2_conv",
    "bn2": "2_bn",
    "conv3": "3_conv",
    "bn3": "3_bn",
    "shortcut_conv": "0_conv",
    "shortcut_bn": "0_bn",
}


def copy_resnet50_weights(applications_model, units_model):
    """Copies `keras.applications.ResNet50` weights into `resnet50_from_units`."""
    source = {layer.name: layer for layer in applications_model.layers}
    for layer in units_model.layers:
        if isinstance(layer, ResidualUnit):
            copy_weights(
                {
                    ours: source[f"{layer.name}_{theirs}"]
                    for ours, theirs in _KERAS_BLOCK_NAMES.items()
                    if f"{layer.name}_{theirs}" in source
                },
                layer,
            )
        elif layer.weights:
            layer.set_weights(source[layer.name].get_weights())


# ----------------------------------------------------------------------------
# InceptionBlock references


def _conv_bn_relu(x, filters, kernel_size, strides, prefix, batchnorm=True):
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", name=f"{prefix}_conv"
    )(x)
    if batchnorm:
        x = layers.BatchNormalization(name=f"{prefix}_bn")(x)
    return layers.ReLU()(x)


def article_fashion_block(input_shape=(28, 28, 16), ch=16, strides=1):
    """The Fashion-MNIST article's `InceptionBlk(ch, strides)`.

    ConvBNRelu(ch, k, s) = Conv2D(ch, k, s, 'same') -> BN -> ReLU; branches
    [CBR(ch,3,s)], [CBR(ch,3,s)], [CBR(ch,3,s), CBR(ch,3,1)],
    [MaxPool 3x3/1 same, CBR(ch,3,s)], concatenated on channels.
    Equivalent: `InceptionBlock(preset="fashion", filters=ch, strides=strides)`.
    """
    inputs = keras.Input(shape=input_shape)
    b0 = _conv_bn_relu(inputs, ch, 3, strides, "branch0_step0")
    b1 = _conv_bn_relu(inputs, ch, 3, strides, "branch1_step0")
    b2 = _conv_bn_relu(inputs, ch, 3, strides, "branch2_step0")
    b2 = _conv_bn_relu(b2, ch, 3, 1, "branch2_step1")
    b3 = layers.MaxPooling2D(3, strides=1, padding="same")(inputs)
    b3 = _conv_bn_relu(b3, ch, 3, strides, "branch3_step1")
    outputs = layers.Concatenate(axis=-1)([b0, b1, b2, b3])
    return keras.Model(inputs, outputs, name="article_fashion_block")


def googlenet_v1_module(input_shape=(28, 28, 192), filters=GOOGLENET_3A_FILTERS):
    """A GoogLeNet Inception (v1) module: biased ReLU convs, no BN.

    Equivalent: `InceptionBlock(preset="v1", filters=filters)`.
    """
    n1, n3r, n3, n5r, n5, proj = filters
    inputs = keras.Input(shape=input_shape)
    b0 = _conv_bn_relu(inputs, n1, 1, 1, "branch0_step0", batchnorm=False)
    b1 = _conv_bn_relu(inputs, n3r, 1, 1, "branch1_step0", batchnorm=False)
    b1 = _conv_bn_relu(b1, n3, 3, 1, "branch1_step1", batchnorm=False)
    b2 = _conv_bn_relu(inputs, n5r, 1, 1, "branch2_step0", batchnorm=False)
    b2 = _conv_bn_relu(b2, n5, 5, 1, "branch2_step1", batchnorm=False)
    b3 = layers.MaxPooling2D(3, strides=1, padding="same")(inputs)
    b3 = _conv_bn_relu(b3, proj, 1, 1, "branch3_step1", batchnorm=False)
    outputs = layers.Concatenate(axis=-1)([b0, b1, b2, b3])
    return keras.Model(inputs, outputs, name="googlenet_v1_module")


def fashion_block_pair(input_shape=(28, 28, 16), ch=16, strides=2, seed=0):
    """(kerasblocks model, reference model) for the article's InceptionBlk."""
    keras.utils.set_random_seed(seed)
    return _pair(
        article_fashion_block(input_shape, ch, strides),
        InceptionBlock(preset="fashion", filters=ch, strides=strides, name="block"),
        input_shape,
        "kerasblocks_fashion_block",
        seed,
    )


def inception_3a_pair(input_shape=(28, 28, 192), seed=0):
    """(kerasblocks model, reference model) for GoogLeNet module 3a."""
    keras.utils.set_random_seed(seed)
    return _pair(
        googlenet_v1_module(input_shape, GOOGLENET_3A_FILTERS),
        InceptionBlock(preset="v1", filters=GOOGLENET_3A_FILTERS, name="block"),
        input_shape,
        "kerasblocks_inception_3a",
        seed,
        batchnorm=False,
    )


def fashion_inception_net(num_stages=2, num_classes=10, init_ch=16):
    """The article's Fashion-MNIST `Inception` net built from InceptionBlocks."""
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(init_ch, 3, padding="same", name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    ch = init_ch
    for stage in range(num_stages):
        x = InceptionBlock(preset="fashion", filters=ch, strides=2, name=f"block{stage}_0")(x)
        x = InceptionBlock(preset="fashion", filters=ch, strides=1, name=f"block{stage}_1")(x)
        ch *= 2
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="fashion_inception")
