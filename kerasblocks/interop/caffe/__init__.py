"""Caffe net definitions (`.prototxt`) -> kerasblocks specs, without Caffe.

`import_caffe("deploy.prototxt")` reads a Caffe `NetParameter` in protobuf text
format (`kerasblocks.interop.prototxt`) and returns the text of a spec that
builds the same network in Keras: the same layers, output shapes and
parameter counts (bvlc_alexnet: 60,965,224; bvlc_googlenet without its
auxiliary heads: 6,998,552). Only the architecture is imported; weights live
in the binary `.caffemodel`, which this module does not read.

Which layers and phase:
    The net is imported as Caffe's TEST phase would instantiate it (level 0,
    no stages): layers whose `include`/`exclude` rules leave them out of that
    phase are skipped, so a `train_val.prototxt` gives its test net. Layers
    that only serve training are left out and listed in the spec's header
    comment: losses (`*Loss`), `Accuracy`, `Silence`. The spec's outputs are
    then Caffe's net outputs without them, usually the logits: train with a
    `from_logits=True` loss, as Keras does.

    Supported layer types, as Keras layers:
    - Inputs: `Input`, the net's `input:` with `input_shape`/`input_dim`, and
      data layers that state the image size (`Data`, `ImageData`, `WindowData`
      via `crop_size`; `MemoryData`; `DummyData`). A data layer without a size
      is an error that says to add an `Input` layer. A `Data` layer's
      channel count is in its database, not in the prototxt: 3 is assumed (1
      with `transform_param { force_gray: true }`). Labels and
      `transform_param` preprocessing (mean subtraction, scaling, mirroring)
      are not part of the spec.
    - `Convolution` -> `Conv2D` (`groups`, `dilation_rate`, `use_bias`).
    - `Pooling` MAX/AVE -> `MaxPooling2D`/`AveragePooling2D`, or their global
      versions with `keepdims: true` for `global_pooling`.
    - `LRN` ACROSS_CHANNELS -> the kerasblocks `LRN` layer with
      `convention: caffe`, which takes `local_size`, `alpha`, `beta` and `k`
      as Caffe means them (Caffe divides alpha by the window size).
    - `InnerProduct` -> `Dense`, after a `Flatten` when its input is 4-D.
    - `ReLU` (`LeakyReLU` with a `negative_slope`), `Sigmoid`, `TanH`,
      `ELU`, `PReLU`, `Dropout`, `Softmax`, `Flatten`, `Concat` ->
      `Concatenate`, `Eltwise` SUM/PROD/MAX -> `Add` (or `Subtract` for
      coefficients 1, -1) / `Multiply` / `Maximum`, `Split` (a fan-out: no
      layer), and `BatchNorm` -> `BatchNormalization`, with the `Scale`
      layer that follows it folded in (gamma, and beta when the Scale has a
      bias term); `momentum` is Caffe's `moving_average_fraction`, `epsilon`
      its `eps`.
    - Caffe's weight fillers become Keras initializers where one exists
      (constant, gaussian, uniform, xavier, msra).
    - Anything else is an error at the layer's `type:`, listing these.
    Both the current `layer { type: "Convolution" }` entries and the V1
    `layers { type: CONVOLUTION }` entries are read.

Layout:
    Caffe is NCHW; the spec is channels_last, as Keras prefers: an input
    blob of shape (N, C, H, W) becomes `shape: [H, W, C]`, and axes given in
    Caffe's order (`Concat`'s `axis: 1`, `Softmax`'s) are mapped to the
    channels-last axis. One consequence matters for weight transfer: the
    `Flatten` in front of a `Dense` orders its features (H, W, C) where Caffe
    orders them (C, H, W), so a Caffe InnerProduct weight `W` of shape
    (units, C*H*W) becomes the Keras kernel
    `W.reshape(units, C, H, W).transpose(2, 3, 1, 0).reshape(H*W*C, units)`.
    Convolution weights (F, C/g, kh, kw) become `W.transpose(2, 3, 1, 0)`.

Padding and Caffe's output sizes:
    Caffe pads both sides of each axis by `pad`, and rounds pooling output
    sizes up: `out = ceil((H + 2 * pad - kernel) / stride) + 1`, minus one
    when the last window would start in the bottom padding (`(out - 1) *
    stride >= H + pad`, a check Caffe makes only when there is padding).
    Convolutions round down. Keras knows only "valid" and "same", so each
    layer gets the form that reproduces Caffe's output size:
    - no padding used at all: "valid";
    - Keras' "same" where it pads exactly as Caffe does (the same output
      size and rows above), for convolutions and MAX pooling, and for AVE
      pooling without `pad` (Keras then averages over the input cells only,
      as Caffe does for a window that overhangs the input);
    - otherwise a `ZeroPadding2D` (named `<layer>_pad`) with Caffe's `pad`
      above and left and whatever rounding up needs below and right, then
      the layer with "valid" padding.
    Zero padding gives Caffe's values for convolutions. For MAX pooling it
    does whenever the input is non-negative (Caffe ignores the padding, zeros
    cannot win over values >= 0, e.g. after a ReLU), and for AVE pooling when
    the extra rows below stay within `pad` (Caffe counts `pad` cells in the
    divisor but not the rounding overhang). The cases where the values can
    differ get a comment in the spec.

Names:
    Keras layer names are Caffe's layer names with the characters Keras
    forbids (`/` in `inception_3a/1x1`) replaced by `_`; model inputs are
    named after their blobs. A ReLU, Sigmoid or TanH applied in place to the
    output of a Convolution or InnerProduct that nothing else has read
    becomes that layer's `activation` (the Keras idiom, and the spec reads
    as the network is usually drawn). In-place layers otherwise work as in
    Caffe: a layer that reads a blob gets the value of the last layer that
    wrote it.

The text:
    Written by `kerasblocks.interop.spec_writer`, like every generated spec.
    Layers form a chain where the net is one (`inputs:` only where a layer
    takes something other than the layer before it); argument values most
    layers of a type share (padding, activation, initializers, the LRN and
    pooling settings) go to `defaults:`, as in the shipped specs, and the
    others say where they differ (`padding: valid`, `activation: null`).
    The header comment says where the spec comes from and lists what needs
    care: layers left out, assumptions, and layers whose values can differ
    from Caffe's.

Not imported: weights, solver settings (`param { lr_mult }`, weight decay),
and Caffe's bias correction of BatchNorm's first moving averages and its
unbiased variance estimate (Keras' BatchNormalization updates plain
exponential averages with `momentum`).
"""

import os
from pathlib import Path

from kerasblocks.errors import SourceLocation, SpecError, UsageError
from kerasblocks.interop.caffe.fields import sanitize
from kerasblocks.interop.caffe.importer import Importer
from kerasblocks.interop.caffe.writer import write_spec
from kerasblocks.interop.prototxt import MAX_TEXT_CHARS, parse_prototxt
from kerasblocks.spec.syntax import NODE_NAME_RE

__all__ = ["import_caffe"]


def import_caffe(prototxt, name=None):
    """Converts a Caffe net definition (prototxt text format) to spec text.

    Args:
        prototxt: the path of a `.prototxt` file (a str or `os.PathLike`), or
            the prototxt text itself: a str that contains a newline or a `{`
            is read as text (as `kerasblocks.load_spec` reads YAML text).
        name: the spec's `name` (the Keras model name). Defaults to the net's
            `name:`, else the file name without its suffix.

    Returns:
        The YAML text of a valid spec, with a header comment saying where it
        comes from and what was left out. See the package docstring for
        the mapping.

    Raises:
        SpecError: the prototxt does not parse, uses a layer type or setting
            that has no Keras equivalent, or describes an invalid net
            (unknown blob, impossible shapes); located at file:line:column.
        UsageError: no such file, or it cannot be read; an invalid `name`.
    """
    text, file = _read_source(prototxt)
    if name is not None and not (isinstance(name, str) and NODE_NAME_RE.match(name)):
        raise UsageError(
            "the spec name must be letters, digits, '_', '.' and '-' (Keras model "
            f"names cannot contain '/'). Received: name={name!r}"
        )
    message = parse_prototxt(text, file)
    net = Importer().run(message)
    if name is None:
        stem = Path(file).stem if file != "<prototxt>" else ""
        name = sanitize(net.caffe_name or stem or "caffe_net")
    return write_spec(net, name, file)


def _read_source(prototxt):
    """Returns (text, display name)."""
    if isinstance(prototxt, str) and ("\n" in prototxt or "{" in prototxt):
        return prototxt, "<prototxt>"
    if not isinstance(prototxt, (str, os.PathLike)):
        raise TypeError(
            "import_caffe takes a path or prototxt text, not "
            f"{type(prototxt).__name__}"
        )
    file = os.fspath(prototxt)
    path = Path(file)
    if not path.is_file():
        raise UsageError(f"no such prototxt file: '{file}'")
    try:
        if path.stat().st_size > MAX_TEXT_CHARS * 4:
            raise SpecError("the file is too large for a net definition", SourceLocation(file))
        return path.read_text("utf-8"), file
    except UnicodeDecodeError as error:
        raise SpecError(
            f"the file is not UTF-8 text ({error.reason})", SourceLocation(file)
        ) from None
    except OSError as error:
        raise UsageError(f"cannot read '{file}': {error.strerror or error}") from error
