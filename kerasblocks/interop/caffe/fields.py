"""The parts of `caffe.proto` the importer knows, read with types and positions.

`Params` reads the fields of one prototxt message with their types, defaults
and located errors; `Layer` is one `layer { ... }` (or V1 `layers { ... }`)
entry on top of it: its type, blobs and phase rules. The field tables list
each message's fields, so that a misspelt field is an error rather than
silently ignored.
"""

import re

from kerasblocks.errors import SpecError
from kerasblocks.interop.prototxt import Field
from kerasblocks.spec.suggest import did_you_mean
from kerasblocks.spec.syntax import NODE_NAME_RE

NET_FIELDS = (
    "name", "input", "input_shape", "input_dim", "force_backward", "state",
    "debug_info", "layer", "layers",
)
# LayerParameter (current) and V1LayerParameter fields. Parameters of layer
# types the importer does not support are accepted here (Caffe ignores a
# `*_param` that does not belong to the layer's type, and so does this).
LAYER_FIELDS = (
    "name", "type", "bottom", "top", "phase", "loss_weight", "param", "blobs",
    "propagate_down", "include", "exclude", "transform_param", "loss_param",
    "accuracy_param", "argmax_param", "batch_norm_param", "bias_param",
    "clip_param", "concat_param", "contrastive_loss_param", "convolution_param",
    "crop_param", "data_param", "dropout_param", "dummy_data_param",
    "eltwise_param", "elu_param", "embed_param", "exp_param", "flatten_param",
    "hdf5_data_param", "hdf5_output_param", "hinge_loss_param",
    "image_data_param", "infogain_loss_param", "inner_product_param",
    "input_param", "log_param", "lrn_param", "memory_data_param", "mvn_param",
    "parameter_param", "pooling_param", "power_param", "prelu_param",
    "python_param", "recurrent_param", "reduction_param", "relu_param",
    "reshape_param", "scale_param", "sigmoid_param", "softmax_param",
    "spp_param", "slice_param", "swish_param", "tanh_param", "threshold_param",
    "tile_param", "window_data_param",
    # V1 only
    "blob_share_mode", "blobs_lr", "weight_decay",
)
CONVOLUTION_FIELDS = (
    "num_output", "bias_term", "pad", "kernel_size", "stride", "dilation",
    "pad_h", "pad_w", "kernel_h", "kernel_w", "stride_h", "stride_w", "group",
    "weight_filler", "bias_filler", "engine", "axis", "force_nd_im2col",
)
POOLING_FIELDS = (
    "pool", "pad", "pad_h", "pad_w", "kernel_size", "kernel_h", "kernel_w",
    "stride", "stride_h", "stride_w", "engine", "global_pooling", "round_mode",
)
LRN_FIELDS = ("local_size", "alpha", "beta", "norm_region", "k", "engine")
INNER_PRODUCT_FIELDS = (
    "num_output", "bias_term", "weight_filler", "bias_filler", "axis", "transpose",
)
FILLER_FIELDS = (
    "type", "value", "min", "max", "mean", "std", "sparse", "variance_norm",
)
RULE_FIELDS = ("phase", "min_level", "max_level", "stage", "not_stage")
TRANSFORM_FIELDS = (
    "scale", "mirror", "crop_size", "mean_file", "mean_value", "force_color",
    "force_gray",
)

# V1LayerParameter.LayerType -> the current type name.
V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL",
    "CONCAT": "Concat", "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "CONVOLUTION": "Convolution", "DATA": "Data", "DECONVOLUTION": "Deconvolution",
    "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct", "LRN": "LRN", "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN",
    "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence",
    "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split",
    "SLICE": "Slice", "TANH": "TanH", "WINDOW_DATA": "WindowData",
    "THRESHOLD": "Threshold",
}


# --- typed, located access to the fields of one message ---------------------


class Params:
    """The fields of one prototxt message, read with types and defaults.

    Every value a reader takes is checked (a whole number where Caffe wants
    one, an enum value among the allowed ones); a field given twice where
    Caffe takes one is an error, and so is a field `known` does not list
    (a misspelling). Errors point at the value and name the layer.
    """

    def __init__(self, message, prefix, context, location, known=None):
        """`message` may be None: an absent message, whose fields all take
        their defaults. `prefix` is prepended to field names in messages
        ("convolution_param."); `context` ends them ("layer 'conv1'")."""
        self.message = message
        self.prefix = prefix
        self.context = context
        self.location = message.location if message is not None else location
        if message is not None and known is not None:
            for field in message.fields:
                if field.name not in known:
                    self.fail(
                        field.location,
                        f"unknown field '{self.prefix}{field.name}'"
                        + did_you_mean(field.name, known),
                    )

    def fail(self, location, message, hint=None):
        if isinstance(location, Field):
            location = location.value_location
        suffix = f" ({self.context})" if self.context else ""
        raise SpecError(message + suffix, location, hint=hint)

    def has(self, name):
        return self.message is not None and bool(self.message.all(name))

    def all(self, name):
        return self.message.all(name) if self.message is not None else []

    def field(self, name):
        """The field `name` of a singular field, or None."""
        fields = self.all(name)
        if len(fields) > 1:
            self.fail(
                fields[1].location,
                f"'{self.prefix}{name}' is given {len(fields)} times; it takes one value",
            )
        return fields[0] if fields else None

    def integer(self, name, default=None, minimum=None):
        field = self.field(name)
        if field is None:
            return default
        return self._integer(field, minimum)

    def integers(self, name, minimum=None):
        """A repeated whole-number field: [(value, field)]."""
        return [(self._integer(field, minimum), field) for field in self.all(name)]

    def _integer(self, field, minimum):
        if field.kind != "integer":
            self.fail(
                field, f"'{self.prefix}{field.name}' must be a whole number; got {field.text}"
            )
        if minimum is not None and field.value < minimum:
            self.fail(
                field, f"'{self.prefix}{field.name}' must be >= {minimum}; got {field.value}"
            )
        return field.value

    def number(self, name, default=None):
        field = self.field(name)
        if field is None:
            return default
        return self._number(field)

    def numbers(self, name):
        return [(self._number(field), field) for field in self.all(name)]

    def _number(self, field):
        if field.kind in ("integer", "float"):
            return float(field.value)
        if field.kind == "identifier" and field.value.lower().lstrip("-") in (
            "inf", "infinity", "nan",
        ):
            return float(field.value)
        self.fail(field, f"'{self.prefix}{field.name}' must be a number; got {field.text}")

    def boolean(self, name, default):
        field = self.field(name)
        if field is None:
            return default
        if field.kind == "identifier" and field.value in ("true", "True", "t"):
            return True
        if field.kind == "identifier" and field.value in ("false", "False", "f"):
            return False
        if field.kind == "integer" and field.value in (0, 1):
            return bool(field.value)
        self.fail(field, f"'{self.prefix}{name}' must be true or false; got {field.text}")

    def enum(self, name, choices, default):
        """An enum value (an identifier such as MAX, or its number)."""
        field = self.field(name)
        if field is None:
            return default
        if field.kind == "integer" and 0 <= field.value < len(choices):
            return choices[field.value]
        if field.kind == "identifier" and field.value in choices:
            return field.value
        self.fail(
            field,
            f"'{self.prefix}{name}' must be one of {', '.join(choices)}; got {field.text}",
        )

    def string(self, name, default=None):
        field = self.field(name)
        if field is None:
            return default
        if field.kind != "string":
            self.fail(field, f"'{self.prefix}{name}' must be a quoted string; got {field.text}")
        return field.value

    def strings(self, name):
        values = []
        for field in self.all(name):
            if field.kind != "string":
                self.fail(
                    field, f"'{self.prefix}{name}' must be a quoted string; got {field.text}"
                )
            values.append((field.value, field))
        return values

    def sub(self, name, known=None):
        """The singular message field `name` (possibly absent) as `Params`."""
        field = self.field(name)
        return self._sub(field, name, known)

    def subs(self, name, known=None):
        return [self._sub(field, name, known) for field in self.all(name)]

    def _sub(self, field, name, known):
        if field is not None and field.kind != "message":
            self.fail(
                field, f"'{self.prefix}{name}' is a message: write {name} {{ ... }}"
            )
        return Params(
            field.value if field is not None else None,
            f"{self.prefix}{name}." if self.prefix else f"{name}.",
            self.context,
            field.value_location if field is not None else self.location,
            known,
        )

    def pair(self, name, name_h, name_w, default=None, repeated=False):
        """Caffe's 2-D settings: `name` (once, or twice for h and w when
        `repeated`) or `name_h` with `name_w`. Returns (h, w), or `default`."""
        values = self.integers(name, minimum=0) if repeated else []
        if not repeated and self.has(name):
            values = [(self.integer(name, minimum=0), self.field(name))]
        h = self.field(name_h) if name_h else None
        w = self.field(name_w) if name_w else None
        if h is not None or w is not None:
            if values:
                self.fail(
                    values[0][1],
                    f"give either '{self.prefix}{name}' or '{self.prefix}{name_h}' and "
                    f"'{self.prefix}{name_w}', not both",
                )
            if h is None or w is None:
                self.fail(
                    h or w,
                    f"'{self.prefix}{name_h}' and '{self.prefix}{name_w}' go together",
                )
            return (self._integer(h, 0), self._integer(w, 0))
        if not values:
            return default
        if len(values) == 1:
            return (values[0][0], values[0][0])
        if len(values) == 2:
            return (values[0][0], values[1][0])
        self.fail(
            values[2][1],
            f"'{self.prefix}{name}' has {len(values)} values: only 2-D (height, width) "
            "layers are supported",
        )


class Layer:
    """One `layer { ... }` (or V1 `layers { ... }`) entry."""

    def __init__(self, field, index, v1):
        self.field = field
        self.fields = Params(field.value, "", None, field.value_location)
        self.caffe_name = self.fields.string("name", None)
        label = f"'{self.caffe_name}'" if self.caffe_name is not None else f"#{index + 1}"
        self.fields.context = f"layer {label}"
        self.context = self.fields.context
        self.type_field = self.fields.field("type")
        if self.type_field is None:
            self.fields.fail(field.location, "the layer has no 'type'")
        if v1:
            if self.type_field.kind != "identifier" or self.type_field.value not in V1_TYPES:
                self.fields.fail(
                    self.type_field,
                    f"unknown V1 layer type {self.type_field.text}"
                    + did_you_mean(str(self.type_field.value), V1_TYPES),
                )
            self.type = V1_TYPES[self.type_field.value]
        else:
            self.type = self.fields.string("type")
        # Caffe's name as written, and as a Keras name.
        self.display_name = self.caffe_name or f"{self.type.lower()}{index + 1}"
        self.base_name = sanitize(self.display_name)
        self.bottoms = self.fields.strings("bottom")
        self.tops = self.fields.strings("top")

    def check_fields(self):
        """Fails at the first field that `LayerParameter` does not have (a misspelling)."""
        Params(self.field.value, "", self.context, self.field.value_location, LAYER_FIELDS)

    def params(self, name, known):
        """The layer's `name` message (`convolution_param`) as `Params`; may be absent."""
        return self.fields.sub(name, known)

    def included(self):
        """Whether Caffe's TEST phase (level 0, no stages) has this layer."""
        include = self.fields.subs("include", RULE_FIELDS)
        exclude = self.fields.subs("exclude", RULE_FIELDS)
        if include and exclude:
            self.fields.fail(
                self.fields.all("exclude")[0].location,
                "a layer has either include or exclude rules, not both",
            )
        if include:
            return any(_rule_matches(rule) for rule in include)
        return not any(_rule_matches(rule) for rule in exclude)

    def fail(self, message, location=None, hint=None):
        self.fields.fail(location or self.type_field, message, hint)


def _rule_matches(rule):
    """Caffe's NetStateRule against the state {phase: TEST, level: 0, stage: []}."""
    phase = rule.enum("phase", ("TRAIN", "TEST"), None)
    if phase is not None and phase != "TEST":
        return False
    if rule.integer("min_level", 0) > 0 or rule.integer("max_level", 0) < 0:
        return False
    return not rule.strings("stage")  # a required stage is never set


def sanitize(name):
    """A Caffe name -> a Keras layer name: '/' and other characters become '_'."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
    return name if NODE_NAME_RE.match(name) else f"_{name}"
