"""LRN: local response normalization across channels, TF/Caffe/PyTorch conventions."""

import keras
from keras import ops

from kerasblocks.layers import _validation as check

# Computed in float32: float16 overflows in the sum of squares, and the native
# TF op fails to compile under XLA in float16 on CPU.
_LOW_PRECISION = ("float16", "bfloat16")
# Dtypes the native `tf.nn.local_response_normalization` kernel accepts after
# the cast above (it has no float64 kernel).
_NATIVE_DTYPES = ("float32",)

_CONVENTIONS = ("tensorflow", "caffe", "pytorch")
# Defaults per convention: tf.nn.local_response_normalization, Caffe's
# LRNParameter (caffe.proto) and torch.nn.LocalResponseNorm.
_TF_DEFAULTS = {"depth_radius": 5, "bias": 1.0, "alpha": 1.0, "beta": 0.5}
_CAFFE_DEFAULTS = {"size": 5, "k": 1.0, "alpha": 1.0, "beta": 0.75}
_PYTORCH_DEFAULTS = {"size": None, "k": 1.0, "alpha": 1e-4, "beta": 0.75}
_KEEPS_DENOMINATOR_POSITIVE = " (it keeps the denominator positive)"


@keras.saving.register_keras_serializable(package="kerasblocks")
class LRN(keras.layers.Layer):
    """Local response normalization across channels (AlexNet).

    Each activation is divided by a power of the summed squares of the
    activations at the same position in neighbouring channels. In the
    TensorFlow convention (the default, same numbers as
    `tf.nn.local_response_normalization`):

    `y[..., c] = x[..., c] / (bias + alpha * sum_{j=c-r}^{c+r} x[..., j]^2)^beta`

    with `r = depth_radius`; channels outside `[0, C)` count as zero. Caffe
    and PyTorch write the same operation with a window of `n = size`
    channels and divide alpha by `n`:

    `y = x / (k + alpha / n * sum_window x^2)^beta`

    so `depth_radius = (n - 1) / 2`, `bias = k`, `alpha_tf = alpha / n`.
    Pass `convention="caffe"` or `"pytorch"` (or use `LRN.from_caffe` /
    `LRN.from_torch`) to give the numbers as written in a Caffe prototxt or
    PyTorch code. Caffe accepts odd sizes only; PyTorch also accepts even
    ones, with the window `[c - n // 2, c + (n - 1) // 2]`, and so does this
    layer with `convention="pytorch"`. The AlexNet paper's `k = 2, n = 5,
    alpha = 1e-4, beta = 0.75` does not divide alpha by `n`: that is the
    TensorFlow convention with `depth_radius=2, bias=2.0, alpha=1e-4,
    beta=0.75`.

    On the TensorFlow backend the layer calls the native
    `tf.nn.local_response_normalization` (reshaping or transposing the
    input to the 4-D channels-last layout it needs; a 4-D channels-last
    float32 input goes straight through). Other backends, float64 inputs and
    even PyTorch windows use a `keras.ops` formulation with the same
    numbers. float16 and bfloat16 inputs (mixed precision) are computed in
    float32 and cast back.

    Reference:
        [Krizhevsky, Sutskever and Hinton, 2012, "ImageNet Classification
        with Deep Convolutional Neural Networks"](
        https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks)

    Args:
        depth_radius: int. TensorFlow convention: half-width `r` of the
            window, which spans `2 * r + 1` channels. Must be >= 0.
            Defaults to `5` (`None` means the default; must stay `None` with
            the Caffe and PyTorch conventions).
        bias: float. TensorFlow convention: the additive constant; must be
            positive. Defaults to `1.0` (`None` means the default).
        alpha: float. The scale of the sum of squares, >= 0; in the Caffe
            and PyTorch conventions it is divided by `size`. Defaults to
            `1.0` (TensorFlow and Caffe) or `1e-4` (PyTorch) when `None`.
        beta: float. The exponent, >= 0. Defaults to `0.5` (TensorFlow) or
            `0.75` (Caffe, PyTorch) when `None`.
        data_format: string, `"channels_last"` or `"channels_first"`. Where
            the channel axis is: last, or axis 1. For a 2-D input
            `(batch, channels)` both mean axis 1. Defaults to the
            `image_data_format` value in the Keras config file, which is
            `"channels_last"` unless changed.
        convention: string, `"tensorflow"`, `"caffe"` or `"pytorch"`. How
            the other arguments are read, see above. Defaults to
            `"tensorflow"`.
        size: int. Caffe/PyTorch conventions: the window size `n` (Caffe's
            `local_size`), >= 1; odd for `"caffe"`. Defaults to `5` for
            `"caffe"`; required for `"pytorch"`; must be `None` for
            `"tensorflow"`.
        k: float. Caffe/PyTorch conventions: the additive constant, > 0.
            Defaults to `1.0`; must be `None` for `"tensorflow"`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A tensor of rank >= 2 with a known channel dimension.

    Input shape:
        `(batch, channels)`, or `(batch, *spatial, channels)` for
        `"channels_last"` / `(batch, channels, *spatial)` for
        `"channels_first"`, with any number of spatial axes.

    Output shape:
        Same shape as the input.

    Example:

    >>> import numpy as np
    >>> from kerasblocks.layers import LRN
    >>> x = np.random.default_rng(0).normal(size=(2, 13, 13, 96)).astype("float32")
    >>> tf_style = LRN(depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75)
    >>> caffe_style = LRN.from_caffe(local_size=5, alpha=1e-4, beta=0.75, k=1.0)
    >>> np.allclose(tf_style(x), caffe_style(x), atol=1e-6)
    True
    """

    def __init__(
        self,
        depth_radius=None,
        bias=None,
        alpha=None,
        beta=None,
        data_format=None,
        convention="tensorflow",
        size=None,
        k=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check.one_of("convention", convention, _CONVENTIONS)
        if convention == "tensorflow":
            _reject_unused(
                {"size": size, "k": k},
                "the Caffe/PyTorch conventions; with convention='tensorflow' "
                "give `depth_radius` and `bias` (or pass convention='caffe')",
            )
            defaults = _TF_DEFAULTS
            if depth_radius is None:
                depth_radius = defaults["depth_radius"]
            if bias is None:
                bias = defaults["bias"]
            depth_radius = check.integer("depth_radius", depth_radius, minimum=0)
            bias = check.positive_number("bias", bias, note=_KEEPS_DENOMINATOR_POSITIVE)
        else:
            _reject_unused(
                {"depth_radius": depth_radius, "bias": bias},
                "the TensorFlow convention; with "
                f"convention={convention!r} give `size` and `k`",
            )
            defaults = _CAFFE_DEFAULTS if convention == "caffe" else _PYTORCH_DEFAULTS
            size = defaults["size"] if size is None else size
            k = defaults["k"] if k is None else k
            if size is None:
                raise ValueError(
                    "`size` is required with convention='pytorch' (as in "
                    f"torch.nn.LocalResponseNorm(size)). Received: size={size!r}"
                )
            size = check.integer("size", size)
            if convention == "caffe" and size % 2 == 0:
                raise ValueError(
                    "`size` must be odd with convention='caffe' (Caffe only "
                    "supports odd local_size); use convention='pytorch' for "
                    "PyTorch's asymmetric even window. "
                    f"Received: size={size!r}"
                )
            k = check.positive_number("k", k, note=_KEEPS_DENOMINATOR_POSITIVE)
        alpha = defaults["alpha"] if alpha is None else alpha
        beta = defaults["beta"] if beta is None else beta
        self.depth_radius = depth_radius
        self.bias = bias
        self.alpha = check.non_negative_number("alpha", alpha)
        self.beta = check.non_negative_number("beta", beta)
        self.data_format = check.data_format(data_format)
        self.convention = convention
        self.size = size
        self.k = k
        self.supports_masking = True

        # Everything in the TensorFlow convention, with a possibly asymmetric
        # window [c - before, c + after].
        if convention == "tensorflow":
            self._before = self._after = depth_radius
            self._bias = bias
            self._alpha = self.alpha
        else:
            self._before, self._after = size // 2, (size - 1) // 2
            self._bias = k
            self._alpha = self.alpha / size
        self._beta = self.beta

    @classmethod
    def from_caffe(cls, local_size=5, alpha=1.0, beta=0.75, k=1.0, **kwargs):
        """An `LRN` from the fields of a Caffe `lrn_param` (ACROSS_CHANNELS).

        The defaults are those of Caffe's `LRNParameter`. Equivalent to
        `LRN(convention="caffe", size=local_size, alpha=alpha, beta=beta,
        k=k, **kwargs)`.
        """
        return cls(
            convention="caffe", size=local_size, alpha=alpha, beta=beta, k=k, **kwargs
        )

    @classmethod
    def from_torch(cls, size, alpha=1e-4, beta=0.75, k=1.0, **kwargs):
        """An `LRN` with the arguments of `torch.nn.LocalResponseNorm`.

        Even sizes use PyTorch's window `[c - size // 2, c + (size - 1) // 2]`.
        Equivalent to `LRN(convention="pytorch", size=size, alpha=alpha,
        beta=beta, k=k, **kwargs)`. PyTorch is channels-first: pass
        `data_format="channels_first"` for tensors laid out as in PyTorch.
        """
        return cls(
            convention="pytorch", size=size, alpha=alpha, beta=beta, k=k, **kwargs
        )

    @property
    def tensorflow_params(self):
        """The same layer in the TensorFlow convention, as a dict.

        `depth_radius` is an int, or a `(before, after)` pair for an even
        PyTorch window (which the TensorFlow op cannot express).
        """
        depth_radius = (
            self._before
            if self._before == self._after
            else (self._before, self._after)
        )
        return {
            "depth_radius": depth_radius,
            "bias": self._bias,
            "alpha": self._alpha,
            "beta": self._beta,
        }

    def build(self, input_shape):
        rank = len(input_shape)
        if rank < 2:
            raise ValueError(
                "`LRN` needs an input of rank >= 2 (batch and channels). "
                f"Received: input_shape={input_shape}"
            )
        if input_shape[self._channel_axis(rank)] is None:
            raise ValueError(
                "The channel dimension of the input to `LRN` must be known. "
                f"Received: input_shape={input_shape}, "
                f"data_format={self.data_format}"
            )

    def call(self, inputs):
        compute_dtype = keras.backend.standardize_dtype(inputs.dtype)
        x = inputs
        if compute_dtype in _LOW_PRECISION:
            x = ops.cast(x, "float32")
        channel_axis = self._channel_axis(len(inputs.shape))
        if (
            keras.backend.backend() == "tensorflow"
            and self._before == self._after
            and keras.backend.standardize_dtype(x.dtype) in _NATIVE_DTYPES
        ):
            outputs = lrn_tensorflow(
                x, channel_axis, self._before, self._bias, self._alpha, self._beta
            )
        else:
            outputs = lrn_keras_ops(
                x,
                channel_axis,
                self._before,
                self._after,
                self._bias,
                self._alpha,
                self._beta,
            )
        if compute_dtype in _LOW_PRECISION:
            outputs = ops.cast(outputs, compute_dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "depth_radius": self.depth_radius,
                "bias": self.bias,
                "alpha": self.alpha,
                "beta": self.beta,
                "data_format": self.data_format,
                "convention": self.convention,
                "size": self.size,
                "k": self.k,
            }
        )
        return config

    def _channel_axis(self, rank):
        if self.data_format == "channels_first" or rank == 2:
            return 1
        return rank - 1


def _reject_unused(arguments, belongs_to):
    """Raises for the first of `arguments` ({name: value}) that is not `None`:
    an argument of another convention, which this one would ignore."""
    for name, value in arguments.items():
        if value is not None:
            raise ValueError(
                f"`{name}` belongs to {belongs_to}. Received: {name}={value!r}"
            )


def lrn_tensorflow(x, channel_axis, depth_radius, bias, alpha, beta):
    """LRN with the native `tf.nn.local_response_normalization` (float32).

    The op wants a 4-D tensor with channels last: a 4-D channels-last input
    goes straight in, other channels-last ranks are reshaped (free), and
    channels-first inputs are transposed to channels-last and back.
    """
    import tensorflow as tf

    rank = len(x.shape)
    channel_axis %= rank

    def native(t):
        return tf.nn.local_response_normalization(
            t, depth_radius=depth_radius, bias=bias, alpha=alpha, beta=beta
        )

    if channel_axis != rank - 1:
        to_last = [a for a in range(rank) if a != channel_axis] + [channel_axis]
        back = [to_last.index(a) for a in range(rank)]
        y = lrn_tensorflow(
            tf.transpose(x, to_last), rank - 1, depth_radius, bias, alpha, beta
        )
        return tf.transpose(y, back)
    if rank == 4:
        return native(x)
    channels = x.shape[-1]
    y = native(tf.reshape(x, [-1, 1, 1, channels]))
    return tf.reshape(y, tf.shape(x))


def lrn_keras_ops(x, channel_axis, before, after, bias, alpha, beta):
    """LRN written with `keras.ops`, for every backend.

    `y[c] = x[c] / (bias + alpha * sum_{j=c-before}^{c+after} x[j]^2)^beta`
    along `channel_axis`, channels outside the tensor counting as zero. With
    `before == after == r` this is `tf.nn.local_response_normalization` with
    `depth_radius=r`; PyTorch's even window of size n is `before = n // 2`,
    `after = (n - 1) // 2`.

    The window sum is a 1-D average pool over the channel axis (as in
    `torch.nn.LocalResponseNorm`): the input is viewed, without any
    transpose, as `(outer, channels, inner)`, zero-padded on the channel axis
    and pooled with stride 1 and "valid" padding, so every window divides by
    its full size. Under XLA (JAX, `jit_compile=True`) this is 3-5x faster
    than summing shifted slices, a band-matrix product or cumulative sums.
    """
    rank = len(x.shape)
    axis = channel_axis % rank
    channels = x.shape[axis]
    window = before + after + 1
    shape = ops.shape(x)
    inner = 1
    for dim in shape[axis + 1 :]:  # a tensor where the dimension is dynamic
        inner = inner * dim
    squares = ops.reshape(ops.square(x), (-1, channels, inner))
    squares = ops.pad(squares, [[0, 0], [before, after], [0, 0]])
    mean = ops.average_pool(
        squares, window, strides=1, padding="valid", data_format="channels_last"
    )
    total = ops.reshape(mean, shape)
    scale = bias + (alpha * window) * total
    if beta == 0.5:
        return x * ops.rsqrt(scale)
    return x * ops.power(scale, -beta)
