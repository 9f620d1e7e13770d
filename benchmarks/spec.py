"""How fast specs are validated and built, against TensorFlow and hand-written Keras.

    python benchmarks/spec.py            # full run, writes benchmarks/RESULTS.md
    python benchmarks/spec.py --quick    # fewer repeats, prints only
    python benchmarks/spec.py --quick --write

Two measurements:

1. Validation, as a user runs it: the whole-process wall time of
   `python -m kerasblocks validate specs/*.yaml` (every shipped spec) against
   `python -c "import tensorflow"` (the least any command that touches Keras
   costs). Target: <= 0.1x.
2. Building: a model from its spec (`kerasblocks.build`, which reads, checks
   and expands the text, then builds the Keras model) against the same model
   written by hand in Keras, in this process, `keras.backend.clear_session()`
   before each build. They are built in rotation (drifts in machine load hit
   all alike) after one warm-up each, and the medians are compared; the
   parameter counts must match. The builder alone (`build_model` on the
   expanded graph) is timed too. Target: <= 1.05x.

Models: every shipped spec that has a hand-written twin in `HAND_WRITTEN`
(others are listed as skipped), plus two inline specs: the article's MLP and a
200-layer chain of small Dense layers, where any per-layer overhead of the
builder would show most.
"""

import argparse
import datetime
import gc
import glob
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from benchmarks._report import (  # noqa: E402
    RESULTS_PATH,
    load_average,
    machine_description,
    replace_section,
)
SECTION_TITLE = "## Spec (benchmarks/spec.py)"
VALIDATE_TARGET = 0.1
BUILD_TARGET = 1.05

MLP_SPEC = """\
kerasblocks: 1
name: mlp
inputs: {pixels: {shape: [784]}}
layers:
  - Dense: {units: 128, activation: relu, name: hidden1}
  - Dense: {units: 256, activation: relu, name: hidden2}
  - Dense: {units: 10, name: logits}
outputs: [logits]
"""

DEEP_CHAIN_SPEC = """\
kerasblocks: 1
name: deep_chain
vars: {depth: 200}
inputs: {x: {shape: [16]}}
layers:
  - repeat: $depth
    index: i
    layers: [Dense: {units: 16, activation: relu, name: "dense${i}"}]
outputs: ["dense${depth - 1}"]
"""


# --- hand-written twins ------------------------------------------------------------
# Written as a Keras user would, with the same layer names as the spec.


def mlp_by_hand():
    import keras

    layers = keras.layers
    x = keras.Input((784,), name="pixels")
    h = layers.Dense(128, activation="relu", name="hidden1")(x)
    h = layers.Dense(256, activation="relu", name="hidden2")(h)
    return keras.Model(x, layers.Dense(10, name="logits")(h), name="mlp")


def deep_chain_by_hand(depth=200):
    import keras

    x = inputs = keras.Input((16,), name="x")
    for i in range(depth):
        x = keras.layers.Dense(16, activation="relu", name=f"dense{i}")(x)
    return keras.Model(inputs, x, name="deep_chain")


def vgg16_by_hand(num_classes=1000, dropout=0.5):
    import keras

    layers = keras.layers
    x = inputs = keras.Input((224, 224, 3), name="image")
    for block, (filters, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        for conv in range(1, convs + 1):
            x = layers.Conv2D(
                filters, 3, padding="same", activation="relu", name=f"block{block}_conv{conv}"
            )(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in range(1, 3):
        x = layers.Dense(4096, activation="relu", name=f"fc{i}")(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg16")


def inception_fashion_by_hand(num_classes=10, init_ch=16, stages=2):
    import keras

    from kerasblocks.layers import InceptionBlock

    layers = keras.layers
    inputs = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(init_ch, 3, padding="same", name="stem_conv2d")(inputs)
    x = layers.BatchNormalization(name="stem_batch_normalization")(x)
    x = layers.ReLU(name="stem")(x)
    for stage in range(stages):
        filters = init_ch * 2**stage
        x = InceptionBlock(preset="fashion", filters=filters, strides=2)(x)
        x = InceptionBlock(preset="fashion", filters=filters, strides=1)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="inception_fashion")


HAND_WRITTEN = {
    "vgg16": vgg16_by_hand,
    "inception_fashion": inception_fashion_by_hand,
}
INLINE_SPECS = [
    ("mlp (inline spec)", MLP_SPEC, mlp_by_hand),
    ("200 x Dense(16) (inline spec)", DEEP_CHAIN_SPEC, deep_chain_by_hand),
]


# --- measurements -----------------------------------------------------------------


def wall_time(command):
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=REPO_ROOT)
    return time.perf_counter() - start


def benchmark_validate(spec_files, repeats):
    """Whole-process seconds of (kerasblocks validate, import tensorflow):
    (median, median), (fastest, fastest)."""
    validate = [sys.executable, "-m", "kerasblocks", "validate", *spec_files]
    import_tf = [sys.executable, "-c", "import tensorflow"]
    wall_time(validate), wall_time(import_tf)  # warm the file cache
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(wall_time(validate))
        theirs.append(wall_time(import_tf))
    return (statistics.median(ours), statistics.median(theirs)), (min(ours), min(theirs))


def timed_build(make_model):
    import keras

    keras.backend.clear_session()
    gc.collect()
    start = time.perf_counter()
    model = make_model()
    elapsed = time.perf_counter() - start
    return elapsed, model.count_params()


def benchmark_build(spec, by_hand, min_repeats, min_seconds=3.0):
    """Median seconds of three ways to get the same model, and its parameter count.

    Returns (medians, fastest times, parameter count); the times are dicts
    {"spec": kerasblocks.build(spec), "graph": build_model(graph) from the
    already expanded spec, "hand": by_hand()}. Small
    models get more repeats (about `min_seconds` per way), since one build
    of a small model is short next to the noise of a shared machine.
    """
    import kerasblocks
    from kerasblocks.spec.build import build_model

    graph = kerasblocks.expand(spec)
    ways = {
        "spec": lambda: kerasblocks.build(spec),
        "graph": lambda: build_model(graph),
        "hand": by_hand,
    }
    warmup = {name: timed_build(make) for name, make in ways.items()}  # first-use costs
    params = {count for _, count in warmup.values()}
    if len(params) != 1:
        raise ValueError(
            f"the hand-written twin has {warmup['hand'][1]:,} parameters, "
            f"the spec {warmup['spec'][1]:,}"
        )
    repeats = max(min_repeats, min(60, int(min_seconds / max(warmup["hand"][0], 1e-3))))
    times = {name: [] for name in ways}
    order = list(ways)
    for repeat in range(repeats):
        # Rotate the order, so no way always follows another's garbage.
        for name in order[repeat % 3 :] + order[: repeat % 3]:
            times[name].append(timed_build(ways[name])[0])
    medians = {name: statistics.median(values) for name, values in times.items()}
    fastest = {name: min(values) for name, values in times.items()}
    return medians, fastest, params.pop()


# --- report ---------------------------------------------------------------------------


def format_section(rows, skipped, args):
    import keras
    import tensorflow as tf

    today = datetime.date.today().isoformat()
    lines = [
        SECTION_TITLE,
        "",
        (
            "Validation: whole-process wall time of `python -m kerasblocks validate` on every "
            'shipped spec against `python -c "import tensorflow"`, median of '
            f"{args.validate_repeats} runs each, in alternation. Building: "
            "`kerasblocks.build(spec)` (read, check, expand, build) against the same model "
            "written by hand in Keras (same layers, names and parameter count), in one process, "
            "`keras.backend.clear_session()` before each build, one warm-up each, then the "
            f"median of at least {args.build_repeats} builds in rotation (up to 60 for small "
            "models, about 3 s of builds each). The 'builder alone' rows time "
            "`build_model(graph)` on the already expanded spec: what the builder adds to Keras, "
            "without reading, checking and expanding the text. Ratio = kerasblocks / baseline "
            "of the medians; the last column is the ratio of the fastest runs, less sensitive "
            "to other load on the machine."
        ),
        "",
        f"- Machine: {machine_description()}",
        (
            f"- TensorFlow {tf.__version__}, Keras {keras.__version__}, Python "
            f"{platform.python_version()}, backend {keras.backend.backend()}"
        ),
        f"- Date: {today}" + (" (quick run)" if args.quick else ""),
        f"- Load average when done: {load_average()}",
        "",
        "| measurement | kerasblocks | baseline | ratio | target | fastest-run ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for measurement, ours, theirs, (ours_fastest, theirs_fastest), target in rows:
        lines.append(
            f"| {measurement} | {_milliseconds(ours)} | {_milliseconds(theirs)} | "
            f"{ours / theirs:.2f} | <= {target} | {ours_fastest / theirs_fastest:.2f} |"
        )
    if skipped:
        lines.append("")
        lines.extend(f"- Not timed: {item}" for item in skipped)
    return "\n".join(lines) + "\n"


def _milliseconds(seconds):
    milliseconds = seconds * 1e3
    return f"{milliseconds:,.1f} ms" if milliseconds < 100 else f"{milliseconds:,.0f} ms"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats; no write")
    parser.add_argument("--write", action="store_true", help="write RESULTS.md even with --quick")
    parser.add_argument("--output", default=RESULTS_PATH)
    args = parser.parse_args(argv)
    args.validate_repeats, args.build_repeats = (3, 3) if args.quick else (9, 11)

    spec_files = sorted(glob.glob(os.path.join(REPO_ROOT, "specs", "*.yaml")))
    relative = [os.path.relpath(path, REPO_ROOT) for path in spec_files]
    rows, skipped = [], []

    (ours, theirs), fastest = benchmark_validate(relative, args.validate_repeats)
    rows.append(
        (
            f"`validate` {len(relative)} shipped specs (whole process)",
            ours,
            theirs,
            fastest,
            VALIDATE_TARGET,
        )
    )
    print(
        f"validate: {ours:.3f}s vs import tensorflow {theirs:.3f}s = {ours / theirs:.3f}x",
        flush=True,
    )

    cases = list(INLINE_SPECS)
    for path in spec_files:
        name = os.path.splitext(os.path.basename(path))[0]
        if name in HAND_WRITTEN:
            cases.append((name, name, HAND_WRITTEN[name]))
        else:
            skipped.append(f"`{name}`: no hand-written twin in benchmarks/spec.py")
    for label, spec, by_hand in cases:
        try:
            medians, fastest, params = benchmark_build(spec, by_hand, args.build_repeats)
        except ValueError as error:
            skipped.append(f"`{label}`: {error}")
            print(f"skipped {label}: {error}", flush=True)
            continue
        for way, what in [
            ("spec", f"{params:,} params: spec text -> model"),
            ("graph", "expanded graph -> model (builder alone)"),
        ]:
            fastest_pair = (fastest[way], fastest["hand"])
            row = (f"build {label}, {what}", medians[way], medians["hand"], fastest_pair)
            rows.append((*row, BUILD_TARGET))
        print(
            f"build {label}: spec {medians['spec']:.4f}s, graph {medians['graph']:.4f}s, "
            f"by hand {medians['hand']:.4f}s = {medians['spec'] / medians['hand']:.3f}x "
            f"({medians['graph'] / medians['hand']:.3f}x builder alone)",
            flush=True,
        )

    section = format_section(rows, skipped, args)
    print()
    print(section)
    if not args.quick or args.write:
        replace_section(SECTION_TITLE, section, args.output)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
