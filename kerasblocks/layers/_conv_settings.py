"""The convolution and batch normalization settings of the composite layers.

`ResidualUnit` and `InceptionBlock` take the same seven constructor arguments
for the `Conv2D` and `BatchNormalization` sublayers they make. These helpers
check and store them on the layer, make the sublayers from them and put them
into the layer's config, so the seven are written out once:

    set_conv_settings(self, kernel_initializer=..., ..., data_format=...)
    conv = conv2d(self, filters, kernel_size, strides, padding, use_bias, name)
    bn = batch_normalization(self, name)
    config.update(conv_settings_config(self))

The layer keeps them as public attributes of the same names (as
`keras.layers.Conv2D` does), plus `_channel_axis`.
"""

import zlib

import keras

from kerasblocks.layers import _validation as check


def set_conv_settings(
    layer,
    *,
    kernel_initializer,
    bias_initializer,
    kernel_regularizer,
    bias_regularizer,
    momentum,
    epsilon,
    data_format,
):
    """Checks the settings and stores them on `layer`.

    Raises:
        ValueError: an initializer or regularizer Keras does not know,
            `momentum` outside [0, 1], `epsilon` not positive, or an unknown
            `data_format`.
    """
    layer.kernel_initializer = keras.initializers.get(kernel_initializer)
    layer.bias_initializer = keras.initializers.get(bias_initializer)
    layer.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
    layer.bias_regularizer = keras.regularizers.get(bias_regularizer)
    layer.momentum = check.number_between("momentum", momentum, 0, 1)
    layer.epsilon = check.positive_number("epsilon", epsilon)
    layer.data_format = check.data_format(data_format)
    layer._channel_axis = -1 if layer.data_format == "channels_last" else 1


def conv2d(layer, filters, kernel_size, strides, padding, use_bias, name):
    """A `Conv2D` sublayer of `layer`, with its settings and dtype policy."""
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        data_format=layer.data_format,
        use_bias=use_bias,
        kernel_initializer=_own_initializer(layer.kernel_initializer, name),
        bias_initializer=_own_initializer(layer.bias_initializer, name),
        kernel_regularizer=layer.kernel_regularizer,
        bias_regularizer=layer.bias_regularizer,
        name=name,
        dtype=layer.dtype_policy,
    )


def _own_initializer(initializer, sublayer_name):
    """A copy of `initializer` for one sublayer, so sublayers differ.

    A Keras 3 random initializer draws its seed once, when it is made, and
    returns the same values on every call: shared by the sublayers, it would
    start every same-shaped kernel identical (four Inception branches with
    one 3x3 kernel). An unseeded one is copied, which draws a fresh seed; a
    seeded one gets its seed offset by a hash of the sublayer's name, so the
    whole layer stays reproducible and its sublayers still differ.
    """
    config = keras.initializers.serialize(initializer)
    if not isinstance(config, dict):
        return keras.initializers.get(config)
    inner = config.get("config") or {}
    if inner.get("seed") is not None:
        offset = zlib.crc32(sublayer_name.encode())
        config = {**config, "config": {**inner, "seed": (inner["seed"] + offset) % 2**31}}
    return keras.initializers.deserialize(config)


def batch_normalization(layer, name):
    """A `BatchNormalization` sublayer of `layer` over its channel axis."""
    return keras.layers.BatchNormalization(
        axis=layer._channel_axis,
        momentum=layer.momentum,
        epsilon=layer.epsilon,
        name=name,
        dtype=layer.dtype_policy,
    )


def conv_settings_config(layer):
    """The settings of `layer` as `get_config` entries."""
    return {
        "kernel_initializer": keras.initializers.serialize(layer.kernel_initializer),
        "bias_initializer": keras.initializers.serialize(layer.bias_initializer),
        "kernel_regularizer": keras.regularizers.serialize(layer.kernel_regularizer),
        "bias_regularizer": keras.regularizers.serialize(layer.bias_regularizer),
        "momentum": layer.momentum,
        "epsilon": layer.epsilon,
        "data_format": layer.data_format,
    }
