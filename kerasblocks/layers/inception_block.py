"""InceptionBlock: parallel branches concatenated on the channel axis."""

import copy

import keras

from kerasblocks.layers import _validation as check
from kerasblocks.layers._conv_settings import (
    batch_normalization,
    conv2d,
    conv_settings_config,
    set_conv_settings,
)

_STEP_KEYS = {
    "conv": {
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "activation",
        "use_batchnorm",
        "use_bias",
    },
    "maxpool": {"pool_size", "strides", "padding"},
    "avgpool": {"pool_size", "strides", "padding"},
}
_PRESETS = ("v1", "v2", "v3", "fashion")
_POOLS = ("max", "avg")
_PADDINGS = ("same", "valid")
# Default of `use_batchnorm=None`: GoogLeNet (v1) has none, the later ones do.
_PRESET_BATCHNORM = {"v1": False, "v2": True, "v3": True, "fashion": True}


def inception_preset_branches(preset, filters, factor_size=None, pool="max"):
    """Expands a named preset into the `branches` list it stands for.

    Pure data in, data out; `InceptionBlock(preset=..., filters=...)` builds
    exactly `InceptionBlock(branches=inception_preset_branches(...))` with the
    preset's `use_batchnorm` default.

    Args:
        preset: str. `"v1"`, `"v2"`, `"v3"` or `"fashion"`.
        filters: for `"v1"`/`"v2"`/`"v3"`, 6 positive ints in the order of
            the GoogLeNet table: `[#1x1, #3x3 reduce, #3x3, #5x5 reduce,
            #5x5, pool proj]`; for `"fashion"`, one positive int (`ch`).
        factor_size: int. The `n` of the `"v3"` preset's 1xn / nx1
            convolutions. Defaults to `7` (`None`).
        pool: str. `"max"` or `"avg"`, the pooling of the pool branch of
            `"v1"`/`"v2"`/`"v3"`. Defaults to `"max"`.

    Returns:
        A list of branches, each a list of one-key step dicts.
    """
    check.one_of("preset", preset, _PRESETS)
    check.one_of("pool", pool, _POOLS)
    if factor_size is not None and preset != "v3":
        raise ValueError(
            "`factor_size` only applies to `preset='v3'`. "
            f"Received: preset={preset!r}, factor_size={factor_size!r}"
        )

    def conv(f, k):
        return {"conv": {"filters": f, "kernel_size": k}}

    if preset == "fashion":
        ch = check.integer("filters", filters, note=" (`ch`) for `preset='fashion'`")
        return [
            [conv(ch, 3)],
            [conv(ch, 3)],
            [conv(ch, 3), {"conv": {"filters": ch, "kernel_size": 3, "strides": 1}}],
            [{"maxpool": {"pool_size": 3, "strides": 1}}, conv(ch, 3)],
        ]

    if (
        not isinstance(filters, (list, tuple))
        or len(filters) != 6
        or not all(check.is_int(f) and f >= 1 for f in filters)
    ):
        raise check.error(
            "filters",
            f"6 integers >= 1 for `preset={preset!r}`: "
            "[#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj]",
            filters,
        )
    n1x1, n3x3_reduce, n3x3, n5x5_reduce, n5x5, pool_proj = filters
    pool_branch = [{f"{pool}pool": {"pool_size": 3, "strides": 1}}, conv(pool_proj, 1)]
    if preset == "v1":
        middle = [
            [conv(n3x3_reduce, 1), conv(n3x3, 3)],
            [conv(n5x5_reduce, 1), conv(n5x5, 5)],
        ]
    elif preset == "v2":
        middle = [
            [conv(n3x3_reduce, 1), conv(n3x3, 3)],
            [conv(n5x5_reduce, 1), conv(n5x5, 3), conv(n5x5, 3)],
        ]
    else:  # v3
        n = 7 if factor_size is None else check.integer("factor_size", factor_size)
        middle = [
            [conv(n3x3_reduce, 1), conv(n3x3_reduce, [1, n]), conv(n3x3, [n, 1])],
            [
                conv(n5x5_reduce, 1),
                conv(n5x5_reduce, [1, n]),
                conv(n5x5_reduce, [n, 1]),
                conv(n5x5_reduce, [1, n]),
                conv(n5x5, [n, 1]),
            ],
        ]
    return [[conv(n1x1, 1)], *middle, pool_branch]


@keras.saving.register_keras_serializable(package="kerasblocks")
class InceptionBlock(keras.layers.Layer):
    """Parallel branches of convolutions and pooling, concatenated on channels.

    An Inception module (GoogLeNet and its successors): every branch is an
    ordered list of steps applied to the block's input, and the branch
    outputs are concatenated on the channel axis. Give either a `preset`
    with its `filters`, or a general `branches` list.

    A branch is a list of steps; a step is a dict with one key:

    - `{"conv": {"filters": 64, "kernel_size": 3}}`: `Conv2D` -> BN (if
      `use_batchnorm`) -> activation. Optional keys override the block's
      settings for this step: `strides`, `padding` (`"same"`), `activation`
      (`null` for linear), `use_batchnorm`, `use_bias`. `kernel_size` may be
      a pair, e.g. `[1, 7]`.
    - `{"maxpool": {"pool_size": 3, "strides": 1}}` and `{"avgpool": ...}`:
      pooling; `pool_size` defaults to 3, `strides` to 1 (but see below),
      `padding` to `"same"`.

    The block's `strides` is the default stride of the first conv step of
    each branch (of the first pooling step in a branch without a conv step);
    every other step defaults to stride 1. So `strides=2` halves every
    branch, as the article's Fashion-MNIST block does. All branches must
    give the same spatial size.

    In YAML:

    ```yaml
    InceptionBlock:
      branches:
        - [{conv: {filters: 64, kernel_size: 1}}]
        - [{conv: {filters: 48, kernel_size: 1}}, {conv: {filters: 64, kernel_size: [1, 7]}}]
        - [{maxpool: {pool_size: 3}}, {conv: {filters: 32, kernel_size: 1}}]
    ```

    Presets (`filters` for v1/v2/v3 in GoogLeNet table order `[#1x1,
    #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj]`); see
    `inception_preset_branches`:

    - `"v1"`: 1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 pool (stride 1) -> 1x1.
      No BN by default (GoogLeNet). Module 3a is
      `InceptionBlock(preset="v1", filters=[64, 96, 128, 16, 32, 32])`.
    - `"v2"`: as v1 with the 5x5 replaced by two 3x3 (both `#5x5`
      filters). BN by default.
    - `"v3"`: the 3x3 becomes 1xn -> nx1 (`#3x3 reduce` then `#3x3`
      filters), the 5x5 two such pairs; `n = factor_size` (7). BN by default.
    - `"fashion"`: the article's `InceptionBlk(ch, s)` with `filters=ch`,
      `strides=s`: four 3x3 ConvBNReLU branches, the third followed by a
      stride-1 ConvBNReLU, the fourth preceded by a 3x3 stride-1 max pool;
      `4 * ch` output channels.

    With `residual=True` the block is an Inception-ResNet block: the
    concatenation goes through a 1x1 convolution with no activation and no
    BN back to the input's channel count (`residual_conv`), is multiplied by
    `residual_scale`, added to the input and, if `residual_activation` is
    set, activated (the v4 paper uses ReLU there).

    Sublayers are named `branch<i>_step<j>_conv`, `branch<i>_step<j>_bn`,
    `branch<i>_step<j>_maxpool` / `_avgpool` (0-based, as in `branches`) and
    `residual_conv`. The read-only `branch_steps` gives, per branch, the
    sublayers and activation of each step, in the order `call` runs them.

    Papers: https://arxiv.org/abs/1409.4842 (GoogLeNet),
    https://arxiv.org/abs/1502.03167 (BN-Inception),
    https://arxiv.org/abs/1512.00567 (Inception v3),
    https://arxiv.org/abs/1602.07261 (Inception v4, Inception-ResNet).

    Args:
        branches: list of branches, each a list of step dicts (see above).
            JSON/YAML-friendly. Exclusive with `preset`. Defaults to `None`.
        preset: str. `"v1"`, `"v2"`, `"v3"` or `"fashion"`. Exclusive with
            `branches`. Defaults to `None`.
        filters: the preset's filter counts: 6 ints for v1/v2/v3, one int
            for `"fashion"`. Only with `preset`. Defaults to `None`.
        factor_size: int. `n` of the `"v3"` preset. Only with `preset="v3"`.
            Defaults to `None` (7).
        pool: str. `"max"` or `"avg"` pooling in the pool branch of
            v1/v2/v3. Defaults to `"max"`.
        strides: int or pair of ints. See above. Defaults to `1`.
        activation: str or callable. Activation after every conv step.
            Defaults to `"relu"`.
        use_batchnorm: bool or None. BN after every conv step; `None` takes
            the preset's default (v1: `False`, others: `True`; `True` with
            `branches`). Defaults to `None`.
        use_bias: bool. Whether the convolutions have biases. Defaults to
            `True`.
        residual: bool. Inception-ResNet mode, see above. Defaults to `False`.
        residual_scale: float. Positive scale of the residual; only with
            `residual=True`. Defaults to `1.0`.
        residual_activation: str or None. Activation after the add; only with
            `residual=True`. Defaults to `None`.
        kernel_initializer: initializer for the convolution kernels. Defaults
            to `"glorot_uniform"`.
        bias_initializer: initializer for the convolution biases. Defaults to
            `"zeros"`.
        kernel_regularizer: optional regularizer for the convolution kernels.
            Defaults to `None`.
        bias_regularizer: optional regularizer for the convolution biases.
            Defaults to `None`.
        momentum: float. Batch normalization momentum. Defaults to `0.99`.
        epsilon: float. Batch normalization epsilon. Defaults to `1e-3`.
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
        4D tensor; its channels are the sum of the branches' output channels
        (the input's with `residual=True`).

    Example:

    >>> x = np.random.rand(2, 28, 28, 192).astype("float32")
    >>> block_3a = InceptionBlock(preset="v1", filters=[64, 96, 128, 16, 32, 32])
    >>> block_3a(x).shape
    (2, 28, 28, 256)
    >>> block_3a.count_params()
    163696
    >>> InceptionBlock(preset="fashion", filters=16, strides=2)(x).shape
    (2, 14, 14, 64)
    """

    def __init__(
        self,
        branches=None,
        preset=None,
        filters=None,
        factor_size=None,
        pool="max",
        strides=1,
        activation="relu",
        use_batchnorm=None,
        use_bias=True,
        residual=False,
        residual_scale=1.0,
        residual_activation=None,
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
        if (branches is None) == (preset is None):
            raise ValueError(
                "Give exactly one of `branches` and `preset`. "
                f"Received: branches={branches!r}, preset={preset!r}"
            )
        if preset is None:
            for name, value, default in (
                ("filters", filters, None),
                ("factor_size", factor_size, None),
                ("pool", pool, "max"),
            ):
                if value != default:
                    raise ValueError(
                        f"`{name}` only applies with `preset`; write it into "
                        f"`branches` instead. Received: {name}={value!r}"
                    )
            expanded = branches
        else:
            expanded = inception_preset_branches(preset, filters, factor_size, pool)
        self.branches = copy.deepcopy(branches)
        self.preset = preset
        self.filters = copy.deepcopy(filters)
        self.factor_size = factor_size
        self.pool = pool
        self.strides = check.integer_pair("strides", strides)
        self.activation = check.activation("activation", activation)
        self.use_batchnorm = check.boolean("use_batchnorm", use_batchnorm, allow_none=True)
        self.use_bias = check.boolean("use_bias", use_bias)
        self.residual = check.boolean("residual", residual)
        self.residual_scale = check.positive_number("residual_scale", residual_scale)
        if not self.residual and (self.residual_scale != 1.0 or residual_activation is not None):
            raise ValueError(
                "`residual_scale` and `residual_activation` only apply with "
                f"`residual=True`. Received: residual={residual!r}, "
                f"residual_scale={residual_scale!r}, "
                f"residual_activation={residual_activation!r}"
            )
        self.residual_activation = (
            None
            if residual_activation is None
            else check.activation("residual_activation", residual_activation)
        )
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

        if use_batchnorm is not None:
            default_batchnorm = use_batchnorm
        else:
            default_batchnorm = _PRESET_BATCHNORM[preset] if preset is not None else True
        plan = _normalize_branches(
            expanded, self.strides, self.activation, default_batchnorm, self.use_bias
        )
        if self.residual and any(
            step["strides"] != (1, 1) for branch in plan for step in branch
        ):
            raise ValueError(
                "`residual=True` needs every step to keep the spatial size "
                "(all strides 1). Received: "
                f"strides={strides!r}, branches={expanded!r}"
            )
        self._check_same_stride(plan, expanded)
        self.step_layers, self._steps = self._make_step_layers(plan)
        # Made in build(): its filter count is the input's channel count.
        self.residual_conv = None
        self.input_spec = keras.layers.InputSpec(ndim=4)

    @property
    def branch_steps(self):
        """The branches' dataflow, read-only: what `call` runs on each branch.

        A tuple with one entry per branch (in `branches` order), each a tuple
        of its steps in order. A step is `(sublayers, activation)`: a tuple of
        the step's sublayers in call order (a `Conv2D` and, with batch
        normalization, a `BatchNormalization`; or one pooling layer), and the
        activation function applied after them: a conv step's (`linear` for
        `activation: null`), `None` for a pooling step. The branch outputs
        are then concatenated on the channel axis; the residual path, with
        `residual=True`, is `residual_conv` (made in `build`).
        """
        return tuple(
            tuple(
                (tuple(self.step_layers[index] for index in indices), activation)
                for indices, activation in branch
            )
            for branch in self._steps
        )

    def _make_step_layers(self, plan):
        """Creates the sublayers of every step.

        Returns the flat list of sublayers and, per branch, a tuple of steps
        `(indices into that list, activation or None)`: plain data, no layers
        (Keras tracks the layers through the list; `branch_steps` gives the
        steps with their layers).
        """
        step_layers = []
        steps = []
        for i, branch in enumerate(plan):
            branch_steps = []
            for j, step in enumerate(branch):
                prefix = f"branch{i}_step{j}"
                if step["kind"] == "conv":
                    layers = [
                        conv2d(
                            self,
                            step["filters"],
                            step["kernel_size"],
                            step["strides"],
                            step["padding"],
                            step["use_bias"],
                            f"{prefix}_conv",
                        )
                    ]
                    if step["use_batchnorm"]:
                        layers.append(batch_normalization(self, f"{prefix}_bn"))
                else:
                    pool_cls = (
                        keras.layers.MaxPooling2D
                        if step["kind"] == "maxpool"
                        else keras.layers.AveragePooling2D
                    )
                    layers = [
                        pool_cls(
                            step["pool_size"],
                            strides=step["strides"],
                            padding=step["padding"],
                            data_format=self.data_format,
                            name=f"{prefix}_{step['kind']}",
                            dtype=self.dtype_policy,
                        )
                    ]
                indices = tuple(range(len(step_layers), len(step_layers) + len(layers)))
                step_layers.extend(layers)
                branch_steps.append((indices, step.get("activation")))
            steps.append(tuple(branch_steps))
        return step_layers, tuple(steps)

    def _check_same_stride(self, plan, expanded):
        """With 'same' padding everywhere, total strides decide the size."""
        if any(step["padding"] != "same" for branch in plan for step in branch):
            return  # checked on concrete shapes in build()
        totals = []
        for branch in plan:
            total = [1, 1]
            for step in branch:
                total = [t * s for t, s in zip(total, step["strides"])]
            totals.append(tuple(total))
        if len(set(totals)) > 1:
            raise ValueError(
                "All branches of `branches` must give the same spatial size, "
                f"but their total strides differ: {totals}. Received: "
                f"branches={expanded!r}, strides={self.strides!r}"
            )

    def _branch_shapes(self, input_shape, build=False):
        shapes = []
        for branch in self.branch_steps:
            shape = tuple(input_shape)
            for sublayers, _ in branch:
                for layer in sublayers:
                    if build:
                        layer.build(shape)
                    shape = tuple(layer.compute_output_shape(shape))
            shapes.append(shape)
        return shapes

    def _concat_shape(self, input_shape, build=False):
        input_shape = tuple(input_shape)
        if input_shape[self._channel_axis] is None:
            raise ValueError(
                "The channel dimension of the input of `InceptionBlock` must "
                f"be known. Received: input_shape={input_shape}"
            )
        shapes = self._branch_shapes(input_shape, build=build)
        axis = self._channel_axis % 4
        spatial = {tuple(s[a] for a in range(1, 4) if a != axis) for s in shapes}
        if len(spatial) > 1:
            raise ValueError(
                "All branches of `branches` must give the same spatial size. "
                f"Received: branch output shapes {shapes} for "
                f"input_shape={input_shape}"
            )
        concat = list(shapes[0])
        concat[axis] = sum(s[axis] for s in shapes)
        concat = tuple(concat)
        if self.residual:
            kept = tuple(d for a, d in enumerate(input_shape) if a not in (0, axis))
            if tuple(d for a, d in enumerate(concat) if a not in (0, axis)) != kept:
                raise ValueError(
                    "`residual=True` needs the branches to keep the spatial "
                    f"size. Received: input_shape={input_shape}, "
                    f"concatenated shape {concat}"
                )
        return concat

    def build(self, input_shape):
        concat = self._concat_shape(input_shape, build=True)
        if self.residual:
            channels = input_shape[self._channel_axis]
            self.residual_conv = conv2d(
                self, channels, 1, 1, "same", self.use_bias, "residual_conv"
            )
            self.residual_conv.build(concat)
        self.built = True

    def call(self, inputs, training=None):
        outputs = []
        for branch in self.branch_steps:
            x = inputs
            for sublayers, activation in branch:
                for layer in sublayers:
                    if isinstance(layer, keras.layers.BatchNormalization):
                        x = layer(x, training=training)
                    else:
                        x = layer(x)
                if activation is not None:
                    x = activation(x)
            outputs.append(x)
        x = keras.ops.concatenate(outputs, axis=self._channel_axis)
        if not self.residual:
            return x
        x = self.residual_conv(x)
        if self.residual_scale != 1.0:
            x = x * self.residual_scale
        x = keras.ops.add(inputs, x)
        if self.residual_activation is not None:
            x = self.residual_activation(x)
        return x

    def compute_output_shape(self, input_shape):
        if self.residual:
            self._concat_shape(input_shape)
            return tuple(input_shape)
        return self._concat_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "branches": _plain_copy(self.branches),
                "preset": self.preset,
                "filters": _plain_copy(self.filters),
                "factor_size": self.factor_size,
                "pool": self.pool,
                "strides": self.strides,
                "activation": keras.activations.serialize(self.activation),
                "use_batchnorm": self.use_batchnorm,
                "use_bias": self.use_bias,
                "residual": self.residual,
                "residual_scale": self.residual_scale,
                "residual_activation": (
                    None
                    if self.residual_activation is None
                    else keras.activations.serialize(self.residual_activation)
                ),
                **conv_settings_config(self),
            }
        )
        return config


def _normalize_branches(
    branches, block_strides, default_activation, default_batchnorm, default_use_bias
):
    """Validates `branches`; returns step dicts with every key filled in.

    A conv step's `activation` is resolved to a function (the block's unless
    the step sets its own); pooling steps have none.
    """
    if not isinstance(branches, (list, tuple)) or not branches:
        raise check.error("branches", "a non-empty list of branches", branches)
    plan = []
    for i, branch in enumerate(branches):
        if not isinstance(branch, (list, tuple)) or not branch:
            raise check.error(f"branches[{i}]", "a non-empty list of steps", branch)
        has_conv = any(
            isinstance(step, dict) and len(step) == 1 and "conv" in step for step in branch
        )
        strided = False  # has the block's stride been given to a step yet?
        steps = []
        for j, step in enumerate(branch):
            where = f"branches[{i}][{j}]"
            if not isinstance(step, dict) or len(step) != 1 or next(iter(step)) not in _STEP_KEYS:
                raise check.error(where, f"a dict with one key among {sorted(_STEP_KEYS)}", step)
            kind, options = next(iter(step.items()))
            options = {} if options is None else options
            if not isinstance(options, dict):
                raise check.error(f"{where}.{kind}", "a dict of settings", options)
            unknown = sorted(set(options) - _STEP_KEYS[kind])
            if unknown:
                raise ValueError(
                    f"`{where}.{kind}` has unknown keys {unknown}; allowed: "
                    f"{sorted(_STEP_KEYS[kind])}. Received: {where}={step!r}"
                )
            takes_block_stride = not strided and (kind == "conv" or not has_conv)
            if takes_block_stride:
                strided = True
            default_strides = block_strides if takes_block_stride else 1
            normalized = {
                "kind": kind,
                "strides": check.integer_pair(
                    f"{where}.{kind}.strides", options.get("strides", default_strides)
                ),
                "padding": check.one_of(
                    f"{where}.{kind}.padding", options.get("padding", "same"), _PADDINGS
                ),
            }
            if kind == "conv":
                for required in ("filters", "kernel_size"):
                    if required not in options:
                        raise ValueError(
                            f"`{where}.conv` needs `{required}`. Received: {where}={step!r}"
                        )
                normalized.update(
                    filters=check.integer(f"{where}.conv.filters", options["filters"]),
                    kernel_size=check.integer_pair(
                        f"{where}.conv.kernel_size", options["kernel_size"]
                    ),
                    activation=(
                        check.activation(f"{where}.conv.activation", options["activation"])
                        if "activation" in options
                        else default_activation
                    ),
                    use_batchnorm=check.boolean(
                        f"{where}.conv.use_batchnorm",
                        options.get("use_batchnorm", default_batchnorm),
                    ),
                    use_bias=check.boolean(
                        f"{where}.conv.use_bias", options.get("use_bias", default_use_bias)
                    ),
                )
            else:
                normalized["pool_size"] = check.integer_pair(
                    f"{where}.{kind}.pool_size", options.get("pool_size", 3)
                )
            steps.append(normalized)
        plan.append(steps)
    return plan


def _plain_copy(value):
    """A copy of nested lists/tuples/dicts as plain Python containers.

    Keras wraps lists and dicts assigned to a layer in tracked containers;
    `copy.deepcopy` of one of those pickles the whole layer with it (0.1 s
    per `get_config` of a GoogLeNet block), so copy the structure instead.
    """
    if isinstance(value, dict):
        return {key: _plain_copy(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_plain_copy(item) for item in value)
    if isinstance(value, list):
        return [_plain_copy(item) for item in value]
    return value
