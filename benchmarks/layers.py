"""Forward+backward time of each kerasblocks layer against hand-written TF/Keras.

    python benchmarks/layers.py            # full run, writes benchmarks/RESULTS.md
    python benchmarks/layers.py --quick    # fewer repeats, prints only
    python benchmarks/layers.py --quick --write --cases LRN

Each case is `(name, make_kerasblocks_layer, make_baseline_layer, input_shape)`.
Both layers run in the same process, in the same kind of training step: a
`tf.function` (with `jit_compile` on and off) holding a `GradientTape` that
computes the layer, a scalar loss and the gradients with respect to the input
and the layer's trainable weights. Each step is warmed up, then the two layers
are timed in A-B-B-A sequences (so drifts in machine load and the position
in the sequence hit both alike) and the median time per step over the
repeats is reported, with the ratio kerasblocks / baseline as the median of
the per-sequence ratios.

To add a layer, append a `Case` to `CASES` (a baseline layer class above it
when there is none yet). The composite layers (`ResidualUnit`,
`InceptionBlock`) are timed against the hand-written functional Keras models
of `tests/reference_models.py`, the same ones their tests compare numbers with.
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from typing import Callable, NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasblocks.layers import LRN, InceptionBlock, L2NormScale, ResidualUnit  # noqa: E402
from tests import reference_models as ref  # noqa: E402

from benchmarks._report import (  # noqa: E402
    RESULTS_PATH,
    load_average,
    machine_description,
    replace_section,
)

SECTION_TITLE = "## Layers (benchmarks/layers.py)"


# ---------------------------------------------------------------------------
# Baselines: what a user would write by hand without kerasblocks.


class TFL2NormalizeScale(keras.layers.Layer):
    """`tf.math.l2_normalize(x, axis=-1) * alpha`, alpha fixed or a weight."""

    def __init__(self, alpha, trainable_alpha=False, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self.trainable_alpha = trainable_alpha

    def build(self, input_shape):
        if self.trainable_alpha:
            self.alpha_weight = self.add_weight(
                name="alpha",
                shape=(),
                initializer=keras.initializers.Constant(self.alpha),
            )

    def call(self, inputs):
        alpha = self.alpha_weight if self.trainable_alpha else self.alpha
        return tf.math.l2_normalize(inputs, axis=-1) * alpha


class TFLocalResponseNormalization(keras.layers.Layer):
    """`tf.nn.local_response_normalization`, transposing channels-first input."""

    def __init__(self, depth_radius, bias, alpha, beta, data_format="channels_last", **kwargs):
        super().__init__(**kwargs)
        self.params = dict(depth_radius=depth_radius, bias=bias, alpha=alpha, beta=beta)
        self.data_format = data_format

    def call(self, inputs):
        if self.data_format == "channels_first":
            x = tf.transpose(inputs, [0, 2, 3, 1])
            return tf.transpose(
                tf.nn.local_response_normalization(x, **self.params), [0, 3, 1, 2]
            )
        if len(inputs.shape) == 2:
            x = tf.reshape(inputs, [-1, 1, 1, inputs.shape[-1]])
            return tf.reshape(
                tf.nn.local_response_normalization(x, **self.params), tf.shape(inputs)
            )
        return tf.nn.local_response_normalization(inputs, **self.params)


# ---------------------------------------------------------------------------
# Cases.


class Case(NamedTuple):
    name: str
    make_kerasblocks_layer: Callable[[], keras.layers.Layer]
    make_baseline_layer: Callable[[], keras.layers.Layer]
    input_shape: tuple


_ALEXNET_TF = dict(depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75)

CASES = [
    Case(
        "L2NormScale alpha=16",
        lambda: L2NormScale(alpha=16.0),
        lambda: TFL2NormalizeScale(16.0),
        (256, 1024),
    ),
    Case(
        "L2NormScale trainable alpha",
        lambda: L2NormScale(alpha=16.0, trainable_alpha=True),
        lambda: TFL2NormalizeScale(16.0, trainable_alpha=True),
        (256, 1024),
    ),
    Case(
        "LRN AlexNet (TF r=2), channels_last",
        lambda: LRN(**_ALEXNET_TF),
        lambda: TFLocalResponseNormalization(**_ALEXNET_TF),
        (8, 55, 55, 96),
    ),
    Case(
        "LRN AlexNet (from_caffe n=5), channels_last",
        lambda: LRN.from_caffe(local_size=5, alpha=1e-4, beta=0.75, k=1.0),
        lambda: TFLocalResponseNormalization(**_ALEXNET_TF),
        (8, 55, 55, 96),
    ),
    Case(
        "LRN AlexNet, channels_first",
        lambda: LRN(data_format="channels_first", **_ALEXNET_TF),
        lambda: TFLocalResponseNormalization(data_format="channels_first", **_ALEXNET_TF),
        (8, 96, 55, 55),
    ),
    Case(
        "LRN TF defaults, 2-D features",
        lambda: LRN(),
        lambda: TFLocalResponseNormalization(depth_radius=5, bias=1.0, alpha=1.0, beta=0.5),
        (256, 1024),
    ),
    Case(
        "ResidualUnit pre-act ELU (article)",
        lambda: ResidualUnit(64, activation="elu"),
        lambda: ref.article_preact_unit((32, 32, 64), 64),
        (8, 32, 32, 64),
    ),
    Case(
        "ResidualUnit ResNet50 bottleneck, identity",
        lambda: ResidualUnit(256, variant="postact", bottleneck=True, epsilon=1.001e-5),
        lambda: ref.resnet50_bottleneck_block((28, 28, 256), 256),
        (8, 28, 28, 256),
    ),
    Case(
        "ResidualUnit ResNet50 bottleneck, projection s2",
        lambda: ResidualUnit(
            512, strides=2, variant="postact", bottleneck=True, epsilon=1.001e-5
        ),
        lambda: ref.resnet50_bottleneck_block((28, 28, 256), 512, strides=2),
        (8, 28, 28, 256),
    ),
    Case(
        "InceptionBlock GoogLeNet 3a (v1)",
        lambda: InceptionBlock(preset="v1", filters=ref.GOOGLENET_3A_FILTERS),
        lambda: ref.googlenet_v1_module((28, 28, 192)),
        (8, 28, 28, 192),
    ),
    Case(
        "InceptionBlock fashion (article), s2",
        lambda: InceptionBlock(preset="fashion", filters=16, strides=2),
        lambda: ref.article_fashion_block((28, 28, 16), 16, strides=2),
        (32, 28, 28, 16),
    ),
]


# ---------------------------------------------------------------------------
# Timing.


def make_train_step(layer, x, jit_compile):
    """A compiled step: layer forward, scalar loss, gradients (input + weights)."""
    inputs = tf.constant(x)
    layer(inputs)  # build outside the traced function
    weights = list(layer.trainable_variables)

    @tf.function(jit_compile=jit_compile)
    def step(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs, training=True)
            loss = tf.reduce_mean(tf.square(outputs))
        return loss, tape.gradient(loss, [inputs] + weights)

    return lambda: step(inputs)


def time_steps(step, iterations):
    start = time.perf_counter()
    for _ in range(iterations):
        loss, _ = step()
    loss.numpy()  # synchronise
    return (time.perf_counter() - start) / iterations


def benchmark_case(case, jit_compile, repeats, warmup, target_seconds):
    x = np.random.default_rng(0).normal(size=case.input_shape).astype("float32")
    steps = {
        "kerasblocks": make_train_step(case.make_kerasblocks_layer(), x, jit_compile),
        "baseline": make_train_step(case.make_baseline_layer(), x, jit_compile),
    }
    for step in steps.values():
        time_steps(step, warmup)
    single = max(time_steps(step, 1) for step in steps.values())
    iterations = max(1, int(target_seconds / max(single, 1e-6)))
    times = {name: [] for name in steps}
    paired = []
    for repeat in range(repeats):
        # A B B A: the two layers share each position in the sequence and any
        # linear drift of the machine's load, so their ratio cancels both.
        first, second = ("kerasblocks", "baseline")[:: 1 if repeat % 2 == 0 else -1]
        sample = {first: 0.0, second: 0.0}
        for name in (first, second, second, first):
            sample[name] += time_steps(steps[name], iterations) / 2
        for name, value in sample.items():
            times[name].append(value)
        paired.append(sample["kerasblocks"] / sample["baseline"])
    return {
        "kerasblocks_ms": statistics.median(times["kerasblocks"]) * 1e3,
        "baseline_ms": statistics.median(times["baseline"]) * 1e3,
        "ratio": statistics.median(paired),
    }


# ---------------------------------------------------------------------------
# Report.


def render_section(rows, args):
    today = datetime.date.today().isoformat()
    lines = [
        SECTION_TITLE,
        "",
        f"Forward + backward time per batch (a `tf.function` around a `GradientTape` "
        f"step, gradients for the input and the layer's weights), median of "
        f"{args.repeats} repeats after {args.warmup} warm-up steps, float32. "
        "Baselines are hand-written Keras layers calling the TF ops directly "
        "(`tf.math.l2_normalize(x) * alpha`, `tf.nn.local_response_normalization`, "
        "with transposes for channels-first and a reshape for 2-D input) and, for "
        "`ResidualUnit` and `InceptionBlock`, the same network written as a "
        "functional Keras model of Conv2D / BatchNormalization / pooling layers "
        "(`tests/reference_models.py`; BN in training mode in both). "
        "The two layers are timed in A-B-B-A sequences; ratio = median over the "
        "sequences of kerasblocks / baseline (target <= 1.05).",
        "",
        f"- Machine: {machine_description()}",
        f"- TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"Python {platform.python_version()}, backend {keras.backend.backend()}",
        f"- Date: {today}" + (" (quick run)" if args.quick else ""),
        f"- Load average when done: {load_average()} (a shared machine: "
        "other work running beside the benchmark moves single timings by 10 % "
        "or more; the paired ratios are steadier)",
        "",
        "| case | input | XLA | kerasblocks ms | baseline ms | ratio |",
        "|---|---|---|---:|---:|---:|",
    ]
    for name, shape, jit, ours, base, ratio in rows:
        shape_text = "x".join(str(d) for d in shape)
        lines.append(
            f"| {name} | {shape_text} | {'on' if jit else 'off'} | "
            f"{ours:.3f} | {base:.3f} | {ratio:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats; no write")
    parser.add_argument("--write", action="store_true", help="write RESULTS.md even with --quick")
    parser.add_argument("--cases", default="", help="only cases whose name contains this")
    parser.add_argument("--output", default=RESULTS_PATH)
    args = parser.parse_args(argv)
    args.repeats, args.warmup, target = (5, 3, 0.03) if args.quick else (31, 10, 0.03)

    rows = []
    for case in CASES:
        if args.cases not in case.name:
            continue
        for jit_compile in (False, True):
            result = benchmark_case(case, jit_compile, args.repeats, args.warmup, target)
            ours, base = result["kerasblocks_ms"], result["baseline_ms"]
            rows.append((case.name, case.input_shape, jit_compile, ours, base, result["ratio"]))
            print(
                f"{case.name:45s} XLA {'on ' if jit_compile else 'off'}  "
                f"kerasblocks {ours:8.3f} ms  baseline {base:8.3f} ms  "
                f"ratio {result['ratio']:.2f}",
                flush=True,
            )
    section = render_section(rows, args)
    if args.quick and not args.write:
        print("\n" + section)
    else:
        replace_section(SECTION_TITLE, section, args.output)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
