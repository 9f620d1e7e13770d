"""Epoch time of `kerasblocks train` against the articles' loops and a hand-written `fit`.

For the Inception net (batch 512) and the MLP (batch 256), on the same
Fashion-MNIST images and the same number of steps per epoch:

  kerasblocks   `kerasblocks.train(spec, ...)`: the spec's train section, a
                tf.data pipeline, Keras `fit` (what `kerasblocks train` runs),
                no validation, no checkpoints.
  keras fit     the same model (built from the spec) compiled by hand and
                trained with `model.fit(x, y, batch_size, shuffle=True)` on
                preprocessed NumPy arrays: what one writes without kerasblocks.
  article loop  the articles' own training loop, ported as far as needed:
                eager `tf.GradientTape` steps over a `tf.data` dataset, no
                `tf.function` (the MLP and Inception articles' loops).

Each runs `--epochs` epochs (default 3); the reported time is the median of
the epochs after the first (which includes tracing). The runs alternate
(kerasblocks, fit, article, then again in reverse) to spread load changes on a
shared machine; each epoch time is the median over the rounds.

    python benchmarks/train.py                  # writes the section into benchmarks/RESULTS.md
    python benchmarks/train.py --steps 5 --no-write
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SECTION = "## Training (benchmarks/train.py)"

from benchmarks._report import load_average, machine_description, replace_section  # noqa: E402

CASES = {
    # spec, batch size, preprocessing (scale, shift, flatten)
    "inception_fashion": (512, 1 / 255, -0.5, False),
    "mlp_mnist": (256, 1 / 255, 0.0, True),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs=2, default=[8, 100],
                        help="steps per epoch for inception and mlp")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    import kerasblocks
    from kerasblocks.datasets import load_fashion_mnist
    from kerasblocks.training.config import train_config

    (x_all, y_all), _ = load_fashion_mnist()
    rows = []
    for (name, (batch, scale, shift, flatten)), steps in zip(CASES.items(), args.steps):
        count = steps * batch
        x_raw, y = x_all[:count], y_all[:count].astype("int64")
        x = x_raw.astype("float32") * scale + shift
        x = x.reshape(count, -1) if flatten else x[..., None]
        npz = Path(f"/tmp/kerasblocks_bench_{name}.npz")
        np.savez(npz, x_train=x_raw, y_train=y)
        settings = {"dataset.limit": count, "dataset.validation": "none", "checkpoint": False,
                    "batch_size": batch}
        spec_optimizer = train_config(name)[0]

        def run_kerasblocks():
            keras.backend.clear_session()
            result = kerasblocks.train(name, data=str(npz), epochs=args.epochs,
                                       settings=settings, verbose=0, log=lambda _: None)
            return result.epoch_times

        def make_model():
            keras.backend.clear_session()
            keras.utils.set_random_seed(0)
            return kerasblocks.build(name)

        def optimizer():
            kind = spec_optimizer.optimizer.name
            cls = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[kind]
            return cls(learning_rate=spec_optimizer.learning_rate)

        def run_fit():
            model = make_model()
            model.compile(optimizer=optimizer(),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
            times = []
            model.fit(x, y, batch_size=batch, epochs=args.epochs, shuffle=True, verbose=0,
                      callbacks=[_epoch_timer(times)])
            return times

        def run_article():
            model = make_model()
            opt = optimizer()
            loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(count).batch(batch)
            times = []
            for _ in range(args.epochs):
                start = time.perf_counter()
                for images, labels in data:
                    with tf.GradientTape() as tape:
                        logits = model(images, training=True)
                        loss = loss_fn(labels, logits)
                    grads = tape.gradient(loss, model.trainable_variables)
                    opt.apply_gradients(zip(grads, model.trainable_variables))
                float(loss)
                times.append(time.perf_counter() - start)
            return times

        runners = {"kerasblocks": run_kerasblocks, "keras fit": run_fit,
                   "article loop": run_article}
        measured = {key: [] for key in runners}
        order = list(runners)
        for round_index in range(args.rounds):
            for key in order if round_index % 2 == 0 else reversed(order):
                measured[key] += runners[key]()[1:]
                print(f"{name} {key}: {measured[key][-1]:.3f} s", flush=True)
        medians = {key: statistics.median(values) for key, values in measured.items()}
        rows.append((name, batch, steps, medians))

    text = report(rows, args)
    print(text)
    if not args.no_write:
        replace_section(SECTION, text)


def _epoch_timer(times):
    """A Keras callback appending each epoch's seconds to `times`."""
    import keras

    clock = {}
    return keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: clock.update(start=time.perf_counter()),
        on_epoch_end=lambda epoch, logs: times.append(time.perf_counter() - clock["start"]),
    )


def report(rows, args):
    import keras
    import tensorflow as tf

    lines = [
        SECTION,
        "",
        "Seconds per epoch on Fashion-MNIST images (median of the epochs after the first, "
        f"{args.rounds} alternating rounds of {args.epochs} epochs). kerasblocks = "
        "`kerasblocks.train` (tf.data pipeline, Keras fit); keras fit = the same model compiled "
        "by hand, `model.fit` on preprocessed NumPy arrays; article loop = the articles' eager "
        "`GradientTape` loop (no `tf.function`). Same images, batch size, steps and optimizer.",
        "",
        f"- Machine: {machine_description()} (shared; load average at the end {load_average()})",
        f"- TensorFlow {tf.__version__}, Keras {keras.__version__}, Python {platform.python_version()}",
        f"- Date: {datetime.date.today()}",
        "",
        "| net | batch | steps/epoch | kerasblocks s | keras fit s | article loop s | "
        "article / kerasblocks (target >= 2) | kerasblocks / fit (target <= 1.03) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, batch, steps, medians in rows:
        kb, fit, article = medians["kerasblocks"], medians["keras fit"], medians["article loop"]
        lines.append(
            f"| {name} | {batch} | {steps} | {kb:.3f} | {fit:.3f} | {article:.3f} | "
            f"{article / kb:.2f}x | {kb / fit:.3f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
