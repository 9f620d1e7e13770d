"""Caffe's and Keras' pooling and padding arithmetic, along one axis.

The importer compares the two to choose, per layer, Keras' "valid", its
"same", or a `ZeroPadding2D` in front (see the package docstring, "Padding
and Caffe's output sizes").
"""


def caffe_pooling_geometry(size, kernel, stride, pad, ceil_mode=True, any_pad=None):
    """Caffe's pooling along one axis -> (output size, padding before, after).

    Caffe's output size is `ceil((size + 2 * pad - kernel) / stride) + 1`
    (floor with `round_mode: FLOOR`), one less when there is padding on any
    axis (`any_pad`, default `pad > 0`) and the last window would start at
    or after `size + pad`. The padding after is what makes "valid" windows
    over `pad + size + after` cells give that many outputs: the extra cells
    that rounding up needs, never more than the windows use.
    """
    if any_pad is None:
        any_pad = pad > 0
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if any_pad and (out - 1) * stride >= size + pad:
        out -= 1
    after = max((out - 1) * stride + kernel - size - pad, 0)
    return out, pad, after


def keras_same(size, kernel, stride):
    """Keras/TensorFlow "same" along one axis -> (output size, padding before)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2
