"""`Importer`: the layers of a parsed net, in order -> spec nodes.

One handler per Caffe layer type reads the layer's fields (`fields.Params`),
checks them against the shapes of its bottom blobs, and appends the Keras
layer(s) that reproduce it; `Importer.run` returns the `ImportedNet` that
`writer.write_spec` turns into text.
"""

import dataclasses
import math

from kerasblocks.interop.caffe.fields import (
    CONVOLUTION_FIELDS,
    FILLER_FIELDS,
    INNER_PRODUCT_FIELDS,
    LRN_FIELDS,
    NET_FIELDS,
    POOLING_FIELDS,
    TRANSFORM_FIELDS,
    Layer,
    Params,
    sanitize,
)
from kerasblocks.interop.caffe.geometry import caffe_pooling_geometry, keras_same
from kerasblocks.spec.suggest import did_you_mean

_DATA_TYPES = ("Data", "ImageData", "WindowData", "MemoryData", "DummyData", "HDF5Data")
_TRAINING_ONLY_TYPES = ("Accuracy", "Silence")  # and every type ending in "Loss"
_FOLDABLE_ACTIVATIONS = {"ReLU": "relu", "Sigmoid": "sigmoid", "TanH": "tanh"}


@dataclasses.dataclass
class _Node:
    """One layer of the spec being written."""

    type: str
    args: dict
    name: str
    inputs: list
    notes: list = dataclasses.field(default_factory=list)  # for the header comment


@dataclasses.dataclass
class _Blob:
    """What a Caffe blob name stands for at this point of the net."""

    node: str  # the spec node (layer or input) whose output it is
    shape: tuple  # channels-last, without the batch: (H, W, C) or (features,)
    # The node that wrote it, while folding into that node is safe (None for
    # inputs and the copies a Split makes).
    producer: _Node | None
    readers: int = 0  # layers that read it since it was written
    nonnegative: bool = False  # known >= 0 (after a ReLU), for the pooling notes


@dataclasses.dataclass
class ImportedNet:
    """What `Importer.run` found: the spec's inputs, nodes and outputs."""

    caffe_name: str | None
    inputs: dict  # name -> shape
    nodes: list
    outputs: list
    notes: list  # header comment lines


class Importer:
    """Walks the layers in order, keeping what each blob name stands for."""

    def __init__(self):
        self.nodes = []
        self.inputs = {}
        self.blobs = {}
        self.unavailable = {}  # blob -> why the spec has no value for it
        self.outputs = {}  # blobs written and not read since: Caffe's net outputs
        self.names = set()
        self.dropped = []
        self.notes = []
        self._handlers = {
            "Input": self._input_layer,
            "Convolution": self._convolution,
            "Pooling": self._pooling,
            "LRN": self._lrn,
            "InnerProduct": self._inner_product,
            "ReLU": self._relu,
            "Sigmoid": self._activation,
            "TanH": self._activation,
            "ELU": self._elu,
            "PReLU": self._prelu,
            "Dropout": self._dropout,
            "Softmax": self._softmax,
            "Flatten": self._flatten,
            "Concat": self._concat,
            "Eltwise": self._eltwise,
            "BatchNorm": self._batch_norm,
            "Scale": self._scale,
            "Split": self._split,
            **{name: self._data_layer for name in _DATA_TYPES},
        }

    def run(self, message):
        net = Params(message, "", None, message.location, NET_FIELDS)
        self._net_inputs(net)
        current, v1 = net.all("layer"), net.all("layers")
        if current and v1:
            net.fail(
                v1[0].location,
                "the net mixes 'layer' entries with V1 'layers' entries",
                hint="upgrade the file with Caffe's upgrade_net_proto_text, or use one kind",
            )
        for index, field in enumerate(current or v1):
            if field.kind != "message":
                net.fail(field, f"'{field.name}' must be a message: {field.name} {{ ... }}")
            layer = Layer(field, index, v1=bool(v1))
            if not layer.included():
                continue
            if layer.type.endswith("Loss") or layer.type in _TRAINING_ONLY_TYPES:
                self._drop(layer)
                continue
            handler = self._handlers.get(layer.type)
            if handler is None:
                layer.fail(
                    f"unsupported Caffe layer type '{layer.type}'",
                    hint="supported: " + ", ".join(sorted(self._handlers))
                    + "; losses, Accuracy and Silence are left out (training only)",
                )
            layer.check_fields()
            handler(layer)
        outputs = list(dict.fromkeys(self.blobs[blob].node for blob in self.outputs))
        outputs = [name for name in outputs if name not in self.inputs]
        if not self.inputs:
            net.fail(
                message.location,
                "the net has no input",
                hint="add `input: \"data\"` with `input_shape { dim: 1 dim: 3 dim: 224 "
                "dim: 224 }`, or an Input layer",
            )
        if not outputs:
            net.fail(message.location, "the net has no output: no layer's result is left unread")
        if self.dropped:
            listed = ", ".join(f"{name} ({kind})" for name, kind in self.dropped)
            self.notes.append(f"Left out (training only): {listed}.")
        return ImportedNet(
            net.string("name"), self.inputs, self.nodes, outputs, self.notes
        )

    # --- blobs and nodes -----------------------------------------------------

    def _read(self, layer, count=None):
        """The layer's bottom blobs, marked as read; checks how many there are."""
        if count is not None and len(layer.bottoms) != count:
            layer.fail(
                f"{layer.type} takes {count} bottom blob{'s' * (count != 1)}; "
                f"got {len(layer.bottoms)}"
            )
        blobs = []
        for blob_name, field in layer.bottoms:
            if blob_name in self.unavailable:
                layer.fail(
                    f"blob '{blob_name}' is {self.unavailable[blob_name]}: the spec has "
                    "no value for it",
                    field,
                )
            blob = self.blobs.get(blob_name)
            if blob is None:
                layer.fail(
                    f"unknown blob '{blob_name}': no layer above writes it"
                    + did_you_mean(blob_name, self.blobs),
                    field,
                    hint="a bottom must be the top of an earlier layer or a net input "
                    "(Caffe runs layers in file order)",
                )
            blob.readers += 1
            self.outputs.pop(blob_name, None)
            blobs.append(blob)
        return blobs

    def _write(self, layer, blob, count=1):
        """Makes the layer's top(s) stand for `blob`."""
        if len(layer.tops) != count:
            layer.fail(
                f"{layer.type} has {count} top blob{'s' * (count != 1)}; "
                f"got {len(layer.tops)}"
            )
        for blob_name, _ in layer.tops:
            self.unavailable.pop(blob_name, None)
            self.blobs[blob_name] = dataclasses.replace(blob, readers=0)
            self.outputs[blob_name] = True

    def _unique(self, base):
        name, number = base, 1
        while name in self.names:
            name, number = f"{base}_{number}", number + 1
        self.names.add(name)
        return name

    def _add(self, layer, type_, args, inputs, name=None, note=None):
        """Appends a spec node taking `inputs` (blobs or nodes); `name` defaults
        to the Caffe layer's."""
        node = _Node(
            type_,
            args,
            self._unique(name or layer.base_name),
            [item.node if isinstance(item, _Blob) else item.name for item in inputs],
            [note] if note else [],
        )
        self.nodes.append(node)
        return node

    def _output(self, layer, node, shape, nonnegative=False):
        self._write(layer, _Blob(node.name, tuple(shape), node, nonnegative=nonnegative))

    def _image(self, layer, blob):
        """(H, W, C) of a 4-D blob, or a located error."""
        if len(blob.shape) != 3:
            layer.fail(
                f"{layer.type} needs a 4-D (N, C, H, W) input; '{blob.node}' has shape "
                f"{_caffe_shape(blob.shape)}"
            )
        return blob.shape

    # --- inputs --------------------------------------------------------------

    def _net_inputs(self, net):
        """The net-level `input:` blobs with `input_shape` or `input_dim`."""
        names = net.strings("input")
        shapes = net.subs("input_shape", ("dim",))
        dims = net.integers("input_dim", minimum=1)
        if not names:
            if shapes or dims:
                net.fail(
                    (net.all("input_shape") or net.all("input_dim"))[0].location,
                    "input_shape/input_dim without an 'input' blob name",
                )
            return
        if shapes and dims:
            net.fail(net.all("input_dim")[0].location, "give input_shape or input_dim, not both")
        if shapes:
            if len(shapes) != len(names):
                net.fail(
                    net.all("input_shape")[0].location,
                    f"{len(names)} inputs but {len(shapes)} input_shape entries",
                )
            caffe_shapes = [
                ([value for value, _ in shape.integers("dim", minimum=1)], shape.location)
                for shape in shapes
            ]
        else:
            if len(dims) != 4 * len(names):
                net.fail(
                    (net.all("input_dim") or net.all("input"))[0].location,
                    f"input_dim must give 4 numbers (N, C, H, W) per input: {len(names)} "
                    f"input(s), {len(dims)} input_dim values",
                )
            caffe_shapes = [
                ([value for value, _ in dims[4 * i : 4 * i + 4]], dims[4 * i][1].location)
                for i in range(len(names))
            ]
        for (blob_name, _), (shape, location) in zip(names, caffe_shapes):
            self._new_input(net, blob_name, shape, location)

    def _new_input(self, params, blob_name, caffe_shape, location):
        if len(caffe_shape) not in (2, 4):
            params.fail(
                location,
                f"input '{blob_name}' has shape {tuple(caffe_shape)}: only (N, C, H, W) "
                "images and (N, features) vectors are supported",
            )
        shape = (
            tuple(caffe_shape[2:]) + (caffe_shape[1],)
            if len(caffe_shape) == 4
            else (caffe_shape[1],)
        )
        name = self._unique(sanitize(blob_name))
        self.inputs[name] = shape
        self.blobs[blob_name] = _Blob(name, shape, None)
        self.outputs.pop(blob_name, None)

    def _input_layer(self, layer):
        params = layer.params("input_param", ("shape",))
        shapes = params.subs("shape", ("dim",))
        if len(shapes) not in (1, len(layer.tops)) or not layer.tops:
            layer.fail(
                f"Input has {len(layer.tops)} tops and {len(shapes)} shapes: give one "
                "shape, or one per top"
            )
        for index, (blob_name, _) in enumerate(layer.tops):
            shape = shapes[min(index, len(shapes) - 1)]
            dims = [value for value, _ in shape.integers("dim", minimum=1)]
            self._new_input(shape, blob_name, dims, shape.location)

    def _data_layer(self, layer):
        """A data layer that says its image size becomes a model input; its
        label top (if any) is not part of the spec."""
        if not layer.tops:
            layer.fail(f"{layer.type} has no top")
        transform = layer.params("transform_param", TRANSFORM_FIELDS)
        crop = transform.integer("crop_size", 0, minimum=0)
        channels = 1 if transform.boolean("force_gray", False) else 3
        shapes = []
        if layer.type in ("Data", "WindowData") and crop:
            shapes = [[1, channels, crop, crop]]
            if layer.type == "Data":
                self.notes.append(
                    f"Input '{layer.tops[0][0]}': {channels} channels assumed (the Data "
                    "layer's database has the real count)."
                )
        elif layer.type == "WindowData":
            size = layer.params("window_data_param", None).integer("crop_size", 0)
            shapes = [[1, 3, size, size]] if size else []
        elif layer.type == "ImageData":
            image = layer.params("image_data_param", None)
            channels = 3 if image.boolean("is_color", True) else 1
            height = image.integer("new_height", 0)
            width = image.integer("new_width", 0)
            if crop:
                shapes = [[1, channels, crop, crop]]
            elif height and width:
                shapes = [[1, channels, height, width]]
        elif layer.type == "MemoryData":
            memory = layer.params("memory_data_param", None)
            dims = [memory.integer(key, 0) for key in ("channels", "height", "width")]
            if all(dims):
                shapes = [[1] + dims]
        elif layer.type == "DummyData":
            dummy = layer.params("dummy_data_param", None)
            shapes = [
                [value for value, _ in shape.integers("dim", minimum=1)]
                for shape in dummy.subs("shape", ("dim",))
            ]
        if not shapes:
            layer.fail(
                f"the {layer.type} layer does not say the size of its images, so the "
                "spec cannot have an input for it",
                hint=f"add an Input layer in its place: layer {{ name: \"{layer.tops[0][0]}\" "
                f"type: \"Input\" top: \"{layer.tops[0][0]}\" input_param {{ shape {{ dim: 1 "
                "dim: 3 dim: 224 dim: 224 } } } (with your image size)",
            )
        if layer.type == "DummyData":
            if len(shapes) not in (1, len(layer.tops)):
                layer.fail(f"DummyData has {len(layer.tops)} tops and {len(shapes)} shapes")
            for index, (blob_name, _) in enumerate(layer.tops):
                dims = shapes[min(index, len(shapes) - 1)]
                self._new_input(layer.fields, blob_name, dims, layer.type_field.value_location)
            return
        self._new_input(layer.fields, layer.tops[0][0], shapes[0], layer.type_field.value_location)
        for blob_name, _ in layer.tops[1:]:
            self.unavailable[blob_name] = f"the labels of data layer '{layer.display_name}'"
        if transform.message is not None:
            self.notes.append(
                f"Not in the spec: the transform_param of '{layer.display_name}' "
                "(preprocessing: crop, mean subtraction, scaling, mirroring)."
            )

    def _drop(self, layer):
        self.dropped.append((layer.display_name, layer.type))
        for blob_name, _ in layer.tops:
            self.unavailable[blob_name] = (
                f"the output of '{layer.display_name}', a {layer.type} layer (training only, "
                "left out)"
            )

    # --- convolution, pooling, normalization ------------------------------------

    def _convolution(self, layer):
        (blob,) = self._read(layer, 1)
        height, width, channels = self._image(layer, blob)
        params = layer.params("convolution_param", CONVOLUTION_FIELDS)
        filters = params.integer("num_output", minimum=1)
        if filters is None:
            layer.fail("Convolution needs convolution_param { num_output: ... }")
        kernel = params.pair("kernel_size", "kernel_h", "kernel_w", repeated=True)
        if kernel is None:
            layer.fail("Convolution needs a kernel_size (or kernel_h and kernel_w)")
        if min(kernel) < 1:
            params.fail(params.location, f"the kernel size must be >= 1; got {kernel}")
        stride = params.pair("stride", "stride_h", "stride_w", (1, 1), repeated=True)
        if min(stride) < 1:
            params.fail(params.location, f"the stride must be >= 1; got {stride}")
        pad = params.pair("pad", "pad_h", "pad_w", (0, 0), repeated=True)
        dilation = params.pair("dilation", None, None, (1, 1), repeated=True)
        groups = params.integer("group", 1, minimum=1)
        if params.integer("axis", 1) not in (1, -3):
            params.fail(params.field("axis"), "only axis: 1 (channels) is supported")
        if channels % groups or filters % groups:
            layer.fail(
                f"group {groups} must divide the input channels ({channels}) and "
                f"num_output ({filters})"
            )
        if max(stride) > 1 and max(dilation) > 1:
            layer.fail(
                f"Keras' Conv2D cannot combine stride {stride} with dilation {dilation}"
            )
        effective = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
        sizes = [
            (size + 2 * p - k) // s + 1
            for size, p, k, s in zip((height, width), pad, effective, stride)
        ]
        if min(sizes) < 1:
            layer.fail(
                f"the kernel {kernel} does not fit the {height}x{width} input "
                f"(pad {pad}): the output would be {sizes[0]}x{sizes[1]}"
            )
        args = {"filters": filters, "kernel_size": _compact(kernel)}
        if stride != (1, 1):
            args["strides"] = _compact(stride)
        inputs = [blob]
        if pad != (0, 0):
            same = all(
                keras_same(size, k, s) == (out, p)
                for size, k, s, out, p in zip((height, width), effective, stride, sizes, pad)
            )
            if same:
                args["padding"] = "same"
            else:
                inputs = [self._zero_padding(layer, blob, [(pad[0], pad[0]), (pad[1], pad[1])])]
        if dilation != (1, 1):
            args["dilation_rate"] = _compact(dilation)
        if groups > 1:
            args["groups"] = groups
        node = self._add_weighted(layer, params, "Conv2D", args, inputs)
        self._output(layer, node, (sizes[0], sizes[1], filters))

    def _zero_padding(self, layer, blob, padding, note=None):
        (top, bottom), (left, right) = padding
        if top == bottom == left == right:
            value = top
        elif top == bottom and left == right:
            value = [top, left]
        else:
            value = [[top, bottom], [left, right]]
        return self._add(
            layer, "ZeroPadding2D", {"padding": value}, [blob],
            name=f"{layer.base_name}_pad", note=note,
        )

    def _pooling(self, layer):
        (blob,) = self._read(layer, 1)
        height, width, channels = self._image(layer, blob)
        params = layer.params("pooling_param", POOLING_FIELDS)
        method = params.enum("pool", ("MAX", "AVE", "STOCHASTIC"), "MAX")
        if method == "STOCHASTIC":
            params.fail(
                params.field("pool"),
                "STOCHASTIC pooling has no Keras layer",
                hint="use MAX or AVE",
            )
        keras_type = "MaxPooling2D" if method == "MAX" else "AveragePooling2D"
        if params.boolean("global_pooling", False):
            for key in ("kernel_size", "kernel_h", "pad", "pad_h", "stride", "stride_h"):
                if params.has(key):
                    params.fail(
                        params.field(key),
                        f"global pooling takes no '{key}' (the window is the whole input)",
                    )
            node = self._add(layer, f"Global{keras_type}", {"keepdims": True}, [blob])
            self._output(layer, node, (1, 1, channels), blob.nonnegative)
            return
        kernel = params.pair("kernel_size", "kernel_h", "kernel_w")
        if kernel is None:
            layer.fail("Pooling needs a kernel_size (or kernel_h and kernel_w, or global_pooling)")
        stride = params.pair("stride", "stride_h", "stride_w", (1, 1))
        pad = params.pair("pad", "pad_h", "pad_w", (0, 0))
        if min(kernel) < 1 or min(stride) < 1:
            params.fail(params.location, "kernel and stride must be >= 1")
        if pad[0] >= kernel[0] or pad[1] >= kernel[1]:
            params.fail(
                params.location, f"the padding {pad} must be smaller than the kernel {kernel}"
            )
        ceil_mode = params.enum("round_mode", ("CEIL", "FLOOR"), "CEIL") == "CEIL"
        geometry = [
            caffe_pooling_geometry(size, k, s, p, ceil_mode, any_pad=pad != (0, 0))
            for size, k, s, p in zip((height, width), kernel, stride, pad)
        ]
        sizes = [out for out, _, _ in geometry]
        if min(sizes) < 1:
            layer.fail(
                f"the window {kernel} does not fit the {height}x{width} input: Caffe's "
                f"output would be {sizes[0]}x{sizes[1]}"
            )
        if any(
            (out - 1) * s >= size + p
            for (out, _, _), size, s, p in zip(geometry, (height, width), stride, pad)
        ):
            layer.fail(
                f"the last window starts outside the {height}x{width} input (kernel "
                f"{kernel} smaller than stride {stride}): Caffe leaves such outputs "
                "undefined, and Keras has no equivalent"
            )
        args = {"pool_size": _compact(kernel)}
        if stride != kernel:
            args["strides"] = _compact(stride)
        padding = [(top, bottom) for _, top, bottom in geometry]
        same = all(
            keras_same(size, k, s) == (out, top)
            for size, k, s, (out, top, _) in zip((height, width), kernel, stride, geometry)
        )
        inputs = [blob]
        if padding == [(0, 0), (0, 0)]:
            pass
        elif same and (method == "MAX" or pad == (0, 0)):
            args["padding"] = "same"
        else:
            reasons = [f"pad {_compact(pad)}"] if pad != (0, 0) else []
            if any(bottom > p for (_, bottom), p in zip(padding, pad)):
                reasons.append("ceil rounding")
            note = None
            if method == "MAX" and not blob.nonnegative:
                note = (
                    f"zero padding for Caffe's {' and '.join(reasons)}: Caffe's values where "
                    "the input is >= 0 (after a ReLU)"
                )
            elif method == "AVE" and "ceil rounding" in reasons:
                note = (
                    "zero padding for Caffe's ceil rounding: the windows at the bottom/right "
                    "edge divide by the full window, Caffe's by the part inside the input "
                    "and its pad"
                )
            inputs = [self._zero_padding(layer, blob, padding, note)]
        node = self._add(layer, keras_type, args, inputs)
        self._output(layer, node, (sizes[0], sizes[1], channels), blob.nonnegative)

    def _lrn(self, layer):
        (blob,) = self._read(layer, 1)
        self._image(layer, blob)
        params = layer.params("lrn_param", LRN_FIELDS)
        regions = ("ACROSS_CHANNELS", "WITHIN_CHANNEL")
        region = params.enum("norm_region", regions, "ACROSS_CHANNELS")
        if region == "WITHIN_CHANNEL":
            params.fail(
                params.field("norm_region"),
                "LRN with norm_region WITHIN_CHANNEL is not supported: the LRN layer "
                "normalizes across channels",
            )
        size = params.integer("local_size", 5, minimum=1)
        if size % 2 == 0:
            params.fail(params.field("local_size"), f"local_size must be odd; got {size}")
        k = params.number("k", 1.0)
        if not k > 0:
            params.fail(params.field("k"), f"k must be positive; got {k}")
        args = {
            "convention": "caffe",
            "size": size,
            "alpha": params.number("alpha", 1.0),
            "beta": params.number("beta", 0.75),
        }
        if k != 1.0:
            args["k"] = k
        node = self._add(layer, "LRN", args, [blob])
        self._output(layer, node, blob.shape, blob.nonnegative)

    def _batch_norm(self, layer):
        (blob,) = self._read(layer, 1)
        params = layer.params(
            "batch_norm_param", ("use_global_stats", "moving_average_fraction", "eps")
        )
        if params.boolean("use_global_stats", False):
            note = (
                "BatchNorm use_global_stats: Keras' BatchNormalization uses the moving "
                "statistics in inference and batch statistics in training (Caffe's "
                "default for each phase); give it trainable: false to freeze them."
            )
            if note not in self.notes:
                self.notes.append(note)
        args = {
            "momentum": params.number("moving_average_fraction", 0.999),
            "epsilon": params.number("eps", 1e-5),
            "center": False,
            "scale": False,
        }
        node = self._add(layer, "BatchNormalization", args, [blob])
        self._output(layer, node, blob.shape)

    def _scale(self, layer):
        """A Scale right after a BatchNorm becomes that layer's gamma (and beta)."""
        (blob,) = self._read(layer, 1)
        producer = blob.producer
        if (
            producer is None
            or producer.type != "BatchNormalization"
            or producer.args.get("scale") is not False
            or blob.readers > 1
        ):
            layer.fail(
                "a Scale layer is supported only directly after a BatchNorm whose output "
                "nothing else reads (the two become one BatchNormalization)"
            )
        params = layer.params(
            "scale_param", ("axis", "num_axes", "filler", "bias_term", "bias_filler")
        )
        if params.integer("axis", 1) != 1 or params.integer("num_axes", 1) != 1:
            params.fail(
                params.location, "only a per-channel Scale (axis 1, num_axes 1) is supported"
            )
        del producer.args["scale"]
        if params.boolean("bias_term", False):
            del producer.args["center"]
        producer.notes.extend(
            self._initializers(
                producer.args, params, ("filler", "gamma_initializer"),
                ("bias_filler", "beta_initializer"),
            )
        )
        producer.notes.append(f"Caffe's Scale '{layer.display_name}' is folded in")
        (bottom, _), = layer.bottoms
        if [top for top, _ in layer.tops] != [bottom]:  # the unscaled value is gone
            del self.blobs[bottom]
            self.unavailable[bottom] = (
                f"the BatchNorm output before Scale '{layer.display_name}', which the "
                "spec folds into one BatchNormalization"
            )
        self._write(layer, blob)

    # --- fully connected and element-wise --------------------------------------

    def _inner_product(self, layer):
        (blob,) = self._read(layer, 1)
        params = layer.params("inner_product_param", INNER_PRODUCT_FIELDS)
        units = params.integer("num_output", minimum=1)
        if units is None:
            layer.fail("InnerProduct needs inner_product_param { num_output: ... }")
        if params.integer("axis", 1) != 1:
            params.fail(params.field("axis"), "only axis: 1 is supported")
        inputs = [blob]
        if len(blob.shape) == 3:
            height, width, _ = blob.shape
            note = None
            if height * width > 1:
                note = (
                    "Keras flattens (H, W, C), Caffe (C, H, W): reorder the next layer's "
                    "weights when porting them"
                )
            flatten_name = f"{layer.base_name}_flatten"
            inputs = [self._add(layer, "Flatten", {}, [blob], name=flatten_name, note=note)]
        args = {"units": units}
        node = self._add_weighted(layer, params, "Dense", args, inputs)
        self._output(layer, node, (units,))

    def _concat(self, layer):
        blobs = self._read(layer)
        if not blobs:
            layer.fail("Concat needs at least one bottom")
        params = layer.params("concat_param", ("axis", "concat_dim"))
        if params.has("axis") and params.has("concat_dim"):
            params.fail(params.field("concat_dim"), "give axis or concat_dim, not both")
        axis_field = params.field("axis") or params.field("concat_dim")
        caffe_axis = params.integer(axis_field.name, 1) if axis_field else 1
        rank = len(blobs[0].shape)
        axis = _keras_axis(layer, params, axis_field, caffe_axis, rank)
        shapes = [blob.shape for blob in blobs]
        for blob in blobs[1:]:
            if len(blob.shape) != rank or any(
                a != b for i, (a, b) in enumerate(zip(blob.shape, shapes[0])) if i != axis % rank
            ):
                layer.fail(
                    "Concat inputs must agree except on the concatenated axis; got "
                    + ", ".join(
                        f"'{b.node}' {_caffe_shape(b.shape)}" for b in blobs
                    )
                )
        shape = list(shapes[0])
        shape[axis % rank] = sum(s[axis % rank] for s in shapes)
        if len(blobs) == 1:  # Caffe copies; Keras' Concatenate wants two or more
            self._write(layer, blob=blobs[0])
            return
        args = {} if axis == -1 else {"axis": axis}
        node = self._add(layer, "Concatenate", args, blobs)
        self._output(layer, node, shape, all(b.nonnegative for b in blobs))

    def _eltwise(self, layer):
        blobs = self._read(layer)
        if len(blobs) < 2:
            layer.fail(f"Eltwise needs at least two bottoms; got {len(blobs)}")
        for blob in blobs[1:]:
            if blob.shape != blobs[0].shape:
                layer.fail(
                    "Eltwise inputs must have the same shape; got "
                    + ", ".join(f"'{b.node}' {_caffe_shape(b.shape)}" for b in blobs)
                )
        params = layer.params("eltwise_param", ("operation", "coeff", "stable_prod_grad"))
        operation = params.enum("operation", ("PROD", "SUM", "MAX"), "SUM")
        coefficients = params.numbers("coeff")
        if coefficients and operation != "SUM":
            params.fail(coefficients[0][1], "coeff applies to the SUM operation only")
        if coefficients and len(coefficients) != len(blobs):
            params.fail(
                coefficients[0][1],
                f"{len(coefficients)} coeff values for {len(blobs)} bottoms: give one per bottom",
            )
        values = [value for value, _ in coefficients]
        if operation == "PROD":
            type_ = "Multiply"
        elif operation == "MAX":
            type_ = "Maximum"
        elif all(value == 1 for value in values):
            type_ = "Add"
        elif values == [1, -1]:
            type_ = "Subtract"
        else:
            params.fail(
                coefficients[0][1],
                f"Eltwise SUM with coefficients {values} has no Keras layer",
                hint="supported: all coefficients 1 (Add), or 1, -1 (Subtract)",
            )
        nonnegative = (
            any(b.nonnegative for b in blobs)
            if type_ == "Maximum"
            else type_ != "Subtract" and all(b.nonnegative for b in blobs)
        )
        node = self._add(layer, type_, {}, blobs)
        self._output(layer, node, blobs[0].shape, nonnegative)

    # --- activations and the rest ------------------------------------------

    def _relu(self, layer):
        params = layer.params("relu_param", ("negative_slope", "engine"))
        slope = params.number("negative_slope", 0.0)
        if slope == 0.0:
            self._fold_or_add_activation(layer, "relu")
            return
        (blob,) = self._read(layer, 1)
        node = self._add(layer, "LeakyReLU", {"negative_slope": slope}, [blob])
        self._output(layer, node, blob.shape)

    def _activation(self, layer):
        layer.params(f"{layer.type.lower()}_param", ("engine",))
        self._fold_or_add_activation(layer, _FOLDABLE_ACTIVATIONS[layer.type])

    def _fold_or_add_activation(self, layer, activation):
        """An in-place ReLU/Sigmoid/TanH on the fresh output of a Conv2D or
        Dense becomes its `activation`; otherwise it is a layer of its own."""
        (blob,) = self._read(layer, 1)
        producer = blob.producer
        in_place = [name for name, _ in layer.tops] == [name for name, _ in layer.bottoms]
        nonnegative = activation != "tanh"
        if (
            in_place
            and producer is not None
            and producer.type in ("Conv2D", "Dense")
            and "activation" not in producer.args
            and blob.readers == 1  # nothing read the value before the activation
        ):
            producer.args["activation"] = activation
            self._write(layer, dataclasses.replace(blob, nonnegative=nonnegative))
            return
        if activation == "relu":
            node = self._add(layer, "ReLU", {}, [blob])
        else:
            node = self._add(layer, "Activation", {"activation": activation}, [blob])
        self._output(layer, node, blob.shape, nonnegative)

    def _elu(self, layer):
        (blob,) = self._read(layer, 1)
        alpha = layer.params("elu_param", ("alpha",)).number("alpha", 1.0)
        node = self._add(layer, "ELU", {} if alpha == 1.0 else {"alpha": alpha}, [blob])
        self._output(layer, node, blob.shape)

    def _prelu(self, layer):
        (blob,) = self._read(layer, 1)
        params = layer.params("prelu_param", ("filler", "channel_shared"))
        rank = len(blob.shape)
        if params.boolean("channel_shared", False):
            shared = list(range(1, rank + 1))
        else:
            shared = list(range(1, rank))  # one slope per channel, as Caffe
        args = {"alpha_initializer": {"Constant": {"value": 0.25}}}  # Caffe's default
        notes = self._initializers(args, params, ("filler", "alpha_initializer"))
        if shared:
            args["shared_axes"] = shared
        node = self._add(layer, "PReLU", args, [blob])
        node.notes.extend(notes)
        self._output(layer, node, blob.shape)

    def _dropout(self, layer):
        (blob,) = self._read(layer, 1)
        params = layer.params("dropout_param", ("dropout_ratio", "scale_train"))
        rate = params.number("dropout_ratio", 0.5)
        if not 0.0 <= rate < 1.0:
            params.fail(
                params.field("dropout_ratio"), f"dropout_ratio must be in [0, 1); got {rate}"
            )
        if not params.boolean("scale_train", True):
            params.fail(
                params.field("scale_train"),
                "scale_train: false (scaling at test time) has no Keras equivalent",
            )
        node = self._add(layer, "Dropout", {"rate": rate}, [blob])
        self._output(layer, node, blob.shape, blob.nonnegative)

    def _softmax(self, layer):
        (blob,) = self._read(layer, 1)
        params = layer.params("softmax_param", ("engine", "axis"))
        axis_field = params.field("axis")
        axis = _keras_axis(
            layer, params, axis_field, params.integer("axis", 1), len(blob.shape)
        )
        node = self._add(layer, "Softmax", {} if axis == -1 else {"axis": axis}, [blob])
        self._output(layer, node, blob.shape, nonnegative=True)

    def _flatten(self, layer):
        (blob,) = self._read(layer, 1)
        params = layer.params("flatten_param", ("axis", "end_axis"))
        if params.integer("axis", 1) != 1 or params.integer("end_axis", -1) not in (
            -1, len(blob.shape),
        ):
            params.fail(params.location, "only a Flatten from axis 1 to the end is supported")
        note = None
        if len(blob.shape) == 3 and blob.shape[0] * blob.shape[1] > 1:
            note = "Keras flattens (H, W, C), Caffe (C, H, W)"
        node = self._add(layer, "Flatten", {}, [blob], note=note)
        self._output(layer, node, (math.prod(blob.shape),), blob.nonnegative)

    def _split(self, layer):
        (blob,) = self._read(layer, 1)
        # Several names for one value: folding into its writer is no longer safe.
        self._write(layer, dataclasses.replace(blob, producer=None), count=len(layer.tops) or 1)

    def _add_weighted(self, layer, params, type_, args, inputs):
        """Adds a Conv2D or Dense node with Caffe's bias_term and weight/bias fillers."""
        if not params.boolean("bias_term", True):
            args["use_bias"] = False
        notes = self._initializers(
            args, params, ("weight_filler", "kernel_initializer"),
            ("bias_filler", "bias_initializer"),
        )
        node = self._add(layer, type_, args, inputs)
        node.notes.extend(notes)
        return node

    def _initializers(self, args, params, *fillers):
        """Maps Caffe fillers (`(filler field, Keras argument)` pairs) into `args`;
        returns notes for the fillers that have no Keras initializer."""
        notes = []
        for field_name, argument in fillers:
            filler = params.sub(field_name, FILLER_FIELDS)
            if filler.message is None:
                continue
            initializer = _keras_initializer(filler)
            if initializer is None:
                notes.append(
                    f"{field_name} '{filler.string('type', 'constant')}' has no Keras "
                    f"initializer: {argument} is Keras' default"
                )
            else:
                args[argument] = initializer
        return notes


def _keras_axis(layer, params, field, caffe_axis, rank):
    """A Caffe axis (NCHW, with the batch) -> the Keras axis (channels last)."""
    caffe_rank = rank + 1
    axis = caffe_axis + caffe_rank if caffe_axis < 0 else caffe_axis
    if not 1 <= axis < caffe_rank:
        params.fail(
            field or params.location,
            f"axis {caffe_axis} is not a non-batch axis of a {caffe_rank}-D blob",
        )
    if rank == 1 or axis == 1:
        return -1
    return axis - 1  # H -> 1, W -> 2


def _keras_initializer(filler):
    """A Caffe FillerParameter -> a spec initializer value, or None."""
    kind = filler.string("type", "constant")
    if kind == "constant":
        value = filler.number("value", 0.0)
        return {0.0: "zeros", 1.0: "ones"}.get(value, {"Constant": {"value": value}})
    if kind == "gaussian" and filler.integer("sparse", -1) < 0:
        config = {"stddev": filler.number("std", 1.0)}
        if filler.number("mean", 0.0):
            config = {"mean": filler.number("mean", 0.0), **config}
        return {"RandomNormal": config}
    if kind == "uniform":
        return {
            "RandomUniform": {
                "minval": filler.number("min", 0.0),
                "maxval": filler.number("max", 1.0),
            }
        }
    if kind in ("xavier", "msra"):
        mode = {"FAN_IN": "fan_in", "FAN_OUT": "fan_out", "AVERAGE": "fan_avg"}[
            filler.enum("variance_norm", ("FAN_IN", "FAN_OUT", "AVERAGE"), "FAN_IN")
        ]
        if kind == "xavier":  # uniform, variance 1 / n
            named = {"fan_in": "lecun_uniform", "fan_avg": "glorot_uniform"}
            if mode in named:
                return named[mode]
            return {"VarianceScaling": {"scale": 1.0, "mode": mode, "distribution": "uniform"}}
        return {  # msra: gaussian, variance 2 / n, not truncated
            "VarianceScaling": {
                "scale": 2.0, "mode": mode, "distribution": "untruncated_normal",
            }
        }
    return None


def _compact(pair):
    return pair[0] if pair[0] == pair[1] else list(pair)


def _caffe_shape(shape):
    """A channels-last shape without batch -> Caffe's (N, C, H, W) text."""
    if len(shape) == 3:
        return f"(N, {shape[2]}, {shape[0]}, {shape[1]})"
    return "(N, " + ", ".join(str(d) for d in shape) + ")"
