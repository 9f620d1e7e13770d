"""ResidualUnit: the residual units of ResNet v1, ResNet v2 and TF-Slim."""

import keras

from kerasblocks.layers import _validation as check
from kerasblocks.layers._conv_settings import (
    batch_normalization,
    conv2d,
    conv_settings_config,
    set_conv_settings,
)

_VARIANTS = ("preact", "postact", "plain")
_SHORTCUTS = ("auto", "projection")


@keras.saving.register_keras_serializable(package="kerasblocks")
class ResidualUnit(keras.layers.Layer):
    """A 2D residual unit: `shortcut(x) + residual_scale * F(x)`.

    `F` is a stack of convolutions ('same' padding) with optional batch
    normalization and an activation; `variant` says where they go:

    - `"preact"` (default; ResNet v2, "Identity Mappings in Deep Residual
      Networks"): `BN -> act -> conv` for every convolution, nothing after
      the add. With `activation="elu"` and `kernel_size=3` this is the
      `resnet_block` of the TF-Slim article.
    - `"postact"` (ResNet v1, "Deep Residual Learning for Image Recognition";
      exactly `keras.applications.ResNet50`'s blocks): `conv -> BN -> act`
      for every convolution but the last, which is `conv -> BN`; then the
      add, then the activation.
    - `"plain"` (TF-Slim `slim.conv2d` defaults): `conv -> [BN] -> act` for
      every convolution, the last one included, nothing after the add. With
      `bottleneck=True, use_batchnorm=False` this is the article's
      `residual_block(x, f=32, r=4)`.

    `F` is two `kernel_size` convolutions with `filters` channels, or with
    `bottleneck=True` a 1x1 convolution to `filters // reduction` channels,
    a `kernel_size` convolution with `filters // reduction` channels and a
    1x1 convolution to `filters` channels. `strides` is applied by the first
    convolution of `F` (as in ResNet v1 and `keras.applications.ResNet50`).

    The shortcut is the identity when the unit keeps the shape (input
    channels equal `filters` and `strides` is 1), else a 1x1 convolution with
    `filters` channels and the unit's `strides` (`shortcut="projection"`
    forces it). For `"postact"` and `"plain"` it is applied to the unit's
    input and followed by BN when `use_batchnorm`; for `"preact"` it is
    applied, without BN, to the pre-activated input `act(BN(x))`, as
    `keras.applications.ResNet50V2` does. An identity shortcut always carries
    the raw input.

    Sublayers are named `conv1`, `conv2`[, `conv3`], `bn1`, ... (`bn<i>`
    normalises the input of `conv<i>` for `"preact"`, its output otherwise),
    `shortcut_conv` and `shortcut_bn`.

    Papers: https://arxiv.org/abs/1512.03385 (ResNet v1),
    https://arxiv.org/abs/1603.05027 (pre-activation, ResNet v2),
    https://arxiv.org/abs/1602.07261 (residual scaling, Inception-ResNet).

    Args:
        filters: int. Output channels of the unit. Required.
        kernel_size: int or tuple of 2 ints. Size of the spatial convolutions.
            Defaults to `3`.
        strides: int or tuple of 2 ints. Stride of the first convolution and
            of the projection shortcut. Defaults to `1`.
        variant: str. `"preact"`, `"postact"` or `"plain"`, see above.
            Defaults to `"preact"`.
        bottleneck: bool. Use the 1x1 -> kxk -> 1x1 bottleneck. Defaults to
            `False`.
        reduction: int. With `bottleneck=True`, the inner convolutions have
            `filters // reduction` channels; must divide `filters`. Ignored
            otherwise. Defaults to `4`.
        activation: str or callable. Activation function. Defaults to
            `"relu"`.
        use_batchnorm: bool. Put batch normalization where the variant says.
            Defaults to `True`.
        residual_scale: float. Positive factor applied to `F(x)` before the
            add (Inception-ResNet uses 0.1 to 0.3). Defaults to `1.0`.
        shortcut: str. `"auto"` (identity when the shape is kept, else a
            projection) or `"projection"` (always a projection). Defaults to
            `"auto"`.
        use_bias: bool. Whether the convolutions have biases. Defaults to
            `True` (as Keras, TF-Slim and `keras.applications.ResNet50`).
        kernel_initializer: initializer for the convolution kernels. Defaults
            to `"glorot_uniform"`.
        bias_initializer: initializer for the convolution biases. Defaults to
            `"zeros"`.
        kernel_regularizer: optional regularizer for the convolution kernels.
            Defaults to `None`.
        bias_regularizer: optional regularizer for the convolution biases.
            Defaults to `None`.
        momentum: float. Batch normalization momentum. Defaults to `0.99`.
        epsilon: float. Batch normalization epsilon (ResNet50 uses
            `1.001e-5`). Defaults to `1e-3`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a 4D tensor.
        training: bool. Training mode for batch normalization.

    Input shape:
        4D tensor `(batch, height, width, channels)` (`channels_last`) or
        `(batch, channels, height, width)` (`channels_first`).

    Output shape:
        4D tensor with `filters` channels and the spatial size divided
        (rounding up) by `strides`.

    Example:

    >>> x = np.random.rand(2, 16, 16, 64).astype("float32")
    >>> unit = ResidualUnit(64, activation="elu")   # the article's resnet_block
    >>> unit(x).shape
    (2, 16, 16, 64)
    >>> down = ResidualUnit(256, strides=2, variant="postact", bottleneck=True)
    >>> down(x).shape
    (2, 8, 8, 256)
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        strides=1,
        variant="preact",
        bottleneck=False,
        reduction=4,
        activation="relu",
        use_batchnorm=True,
        residual_scale=1.0,
        shortcut="auto",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        momentum=0.99,
        epsilon=1e-3,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check.integer("filters", filters)
        self.kernel_size = check.integer_pair("kernel_size", kernel_size)
        self.strides = check.integer_pair("strides", strides)
        self.variant = check.one_of("variant", variant, _VARIANTS)
        self.bottleneck = check.boolean("bottleneck", bottleneck)
        self.reduction = check.integer("reduction", reduction)
        if self.bottleneck and self.filters % self.reduction:
            raise ValueError(
                "`reduction` must divide `filters` when `bottleneck=True`. "
                f"Received: filters={filters}, reduction={reduction}"
            )
        self.activation = check.activation("activation", activation)
        self.use_batchnorm = check.boolean("use_batchnorm", use_batchnorm)
        self.residual_scale = check.positive_number("residual_scale", residual_scale)
        self.shortcut = check.one_of("shortcut", shortcut, _SHORTCUTS)
        self.use_bias = check.boolean("use_bias", use_bias)
        set_conv_settings(
            self,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            momentum=momentum,
            epsilon=epsilon,
            data_format=data_format,
        )

        if self.bottleneck:
            inner = self.filters // self.reduction
            conv_specs = [(inner, (1, 1)), (inner, self.kernel_size), (self.filters, (1, 1))]
        else:
            conv_specs = [(self.filters, self.kernel_size)] * 2
        self.convs = [
            self._conv(f, k, self.strides if i == 0 else (1, 1), f"conv{i + 1}")
            for i, (f, k) in enumerate(conv_specs)
        ]
        self.batchnorms = (
            [batch_normalization(self, f"bn{i + 1}") for i in range(len(self.convs))]
            if self.use_batchnorm
            else []
        )
        # The shortcut depends on the input channel count: made in build().
        self.shortcut_conv = None
        self.shortcut_bn = None
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def _conv(self, filters, kernel_size, strides, name):
        return conv2d(self, filters, kernel_size, strides, "same", self.use_bias, name)

    def _needs_projection(self, input_shape):
        return (
            self.shortcut == "projection"
            or input_shape[self._channel_axis] != self.filters
            or self.strides != (1, 1)
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if input_shape[self._channel_axis] is None:
            raise ValueError(
                "The channel dimension of the input of `ResidualUnit` must be "
                f"known. Received: input_shape={input_shape}"
            )
        shape = input_shape
        for index, conv in enumerate(self.convs):
            if self.use_batchnorm and self.variant == "preact":
                self.batchnorms[index].build(shape)
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if self.use_batchnorm and self.variant != "preact":
                self.batchnorms[index].build(shape)
        if self._needs_projection(input_shape):
            self.shortcut_conv = self._conv(
                self.filters, (1, 1), self.strides, "shortcut_conv"
            )
            self.shortcut_conv.build(input_shape)
            if self.use_batchnorm and self.variant != "preact":
                self.shortcut_bn = batch_normalization(self, "shortcut_bn")
                self.shortcut_bn.build(self.shortcut_conv.compute_output_shape(input_shape))
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        last = len(self.convs) - 1
        if self.variant == "preact":
            preactivated = None
            for index, conv in enumerate(self.convs):
                if self.use_batchnorm:
                    x = self.batchnorms[index](x, training=training)
                x = self.activation(x)
                if index == 0:
                    preactivated = x
                x = conv(x)
            shortcut = inputs
            if self.shortcut_conv is not None:
                shortcut = self.shortcut_conv(preactivated)
        else:
            for index, conv in enumerate(self.convs):
                x = conv(x)
                if self.use_batchnorm:
                    x = self.batchnorms[index](x, training=training)
                if index < last or self.variant == "plain":
                    x = self.activation(x)
            shortcut = inputs
            if self.shortcut_conv is not None:
                shortcut = self.shortcut_conv(inputs)
                if self.shortcut_bn is not None:
                    shortcut = self.shortcut_bn(shortcut, training=training)
        if self.residual_scale != 1.0:
            x = x * self.residual_scale
        outputs = keras.ops.add(shortcut, x)
        if self.variant == "postact":
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs:
            shape = conv.compute_output_shape(shape)
        return shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "variant": self.variant,
                "bottleneck": self.bottleneck,
                "reduction": self.reduction,
                "activation": keras.activations.serialize(self.activation),
                "use_batchnorm": self.use_batchnorm,
                "residual_scale": self.residual_scale,
                "shortcut": self.shortcut,
                "use_bias": self.use_bias,
                **conv_settings_config(self),
            }
        )
        return config

