"""`kerasblocks.train`: spec + `train:` section -> a trained model and its records.

What one run writes into its output folder (`out_dir`):
  history.csv   one row per finished epoch: loss, accuracy, val_loss,
                val_accuracy, learning_rate, epoch_time_s (rewritten atomically
                after each epoch, so it always holds complete rows)
  curves.png    loss and accuracy, training and validation, per epoch
  best.keras    the model of the best epoch so far (by `monitor`)
  last.keras    the model after the last complete epoch (the checkpoint that
                survives Ctrl-C)
  final.keras   the trained model (or the `output` path given)
Every .keras file is saved atomically by `kerasblocks.saving` and carries the
spec, so `kerasblocks inspect` shows what it was trained from.

Ctrl-C (KeyboardInterrupt) stops training cleanly: the records of the
completed epochs are written, `last.keras` and `best.keras` stay as they were
after the last complete epoch, no final model is written, and the result has
`interrupted=True` (the CLI exits with 130).
"""

import csv
import dataclasses
import io
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

from kerasblocks import _files, saving
from kerasblocks.training.config import train_config
from kerasblocks.training.data import (
    DataError,
    fit_to_model,
    load_arrays,
    make_dataset,
    split_validation,
)

HISTORY_FILE = "history.csv"
PLOT_FILE = "curves.png"
BEST_FILE = "best.keras"
LAST_FILE = "last.keras"
FINAL_FILE = "final.keras"


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    model: the trained `keras.Model` (carries its spec; `save_model` keeps it).
    history: {metric name: [value per completed epoch]}, names as in history.csv.
    test: {"loss", "accuracy", ...} on the test set after training ({} if none
        or interrupted).
    epoch_times: seconds per completed epoch.
    files: {"history", "plot", "best", "last", "final"} -> Path (those written).
    interrupted: training was stopped by Ctrl-C.
    config: the `TrainConfig` used.
    best_epoch: 1-based epoch of best.keras (None without validation).
    """

    model: object
    history: dict
    test: dict
    epoch_times: list
    files: dict
    interrupted: bool
    config: object
    best_epoch: int | None = None
    steps_per_epoch: int = 0
    replicas: int = 1  # tf.distribute replicas in sync

    @property
    def epochs(self):
        return len(self.epoch_times)


def train(spec, *, vars=None, epochs=None, batch_size=None, data=None, settings=None,
          out_dir=None, output=None, distribute=None, verbose=None, callbacks=(), log=None):
    """Builds the spec's model and trains it as its `train:` section says.

    Args:
        spec: path, shipped spec name, YAML text or `Spec`.
        vars: {var: value} overrides for the spec.
        epochs, batch_size: override `train.epochs` / `train.batch_size`.
        data: override the dataset: fashion_mnist, mnist, generated, a folder
            of IDX files or a .npz file.
        settings: {"optimizer.learning_rate": 0.01, ...} overrides of keys in
            the train section (what `--set train.KEY=VALUE` gives).
        out_dir: folder for history.csv, curves.png, best/last/final.keras;
            None writes nothing but `output`.
        output: path of the final model (default out_dir/final.keras).
        distribute: None, "mirrored" or "multiworker" (see
            `kerasblocks.training.distribute`).
        verbose: Keras verbosity; default 1 (progress bar) on a terminal, 2
            (one line per epoch) otherwise.
        callbacks: extra Keras callbacks.
        log: function for progress lines (default: print to stdout).

    Returns:
        `TrainResult`.

    Raises:
        SpecError: invalid spec or train section (located).
        DataError: missing data or data that does not fit the model; raised
            before any file is written.
    """
    log = log or (lambda text: print(text, flush=True))
    config, graph = train_config(
        spec, vars=vars, epochs=epochs, batch_size=batch_size, data=data, settings=settings
    )
    if output is not None and not str(output).endswith(".keras"):
        raise DataError(f"the output file name must end in .keras: '{output}'")
    if output is not None and not Path(output).parent.is_dir():
        raise DataError(f"directory '{Path(output).parent}' does not exist (for {output})")

    from kerasblocks.training import distribute as distribution

    strategy = distribution.make_strategy(distribute)  # first: MWMS must precede other TF work
    import keras

    from kerasblocks import api

    keras.utils.set_random_seed(config.seed)
    with distribution.scope(strategy):
        model = api.build(graph)  # expanded by train_config with these vars
    outputs = list(graph.outputs)
    main_output = config.main_output or outputs[0]
    main_index = outputs.index(main_output)
    num_classes = int(model.outputs[main_index].shape[-1])
    input_shape = tuple(model.inputs[0].shape[1:])

    arrays = load_arrays(
        config.dataset, input_shape=input_shape, num_classes=num_classes, seed=config.seed
    )
    arrays = fit_to_model(arrays, config.dataset, input_shape=input_shape, num_classes=num_classes)
    log(f"Data: {arrays.describe()}")

    # Validation data.
    validation = config.dataset.validation
    x_train, y_train = arrays.x_train, arrays.y_train
    x_val = y_val = None
    if validation == "test":
        x_val, y_val = arrays.x_test, arrays.y_test
    elif validation != "none":
        (x_train, y_train), (x_val, y_val) = split_validation(arrays, validation)

    one_hot = num_classes if config.loss_name == "categorical_crossentropy" else None
    dataset_args = dict(num_outputs=len(outputs), one_hot=one_hot)
    batches_per_epoch = math.ceil(len(x_train) / config.batch_size)
    if config.steps is not None:
        steps_per_epoch = math.ceil(config.steps / config.epochs)
        repeat = True
    else:
        steps_per_epoch, repeat = batches_per_epoch, False
    total_steps = steps_per_epoch * config.epochs
    train_data = make_dataset(
        x_train, y_train, config.dataset, batch_size=config.batch_size, shuffle=True,
        seed=config.seed, repeat=repeat, **dataset_args,
    )
    val_data = None
    if x_val is not None:
        val_data = make_dataset(
            x_val, y_val, config.dataset, batch_size=config.batch_size, shuffle=False,
            seed=config.seed, **dataset_args,
        )

    with distribution.scope(strategy):
        model.compile(
            optimizer=_optimizer(keras, config, total_steps),
            loss=[_loss(keras, config, graph, name) for name in outputs]
            if len(outputs) > 1 else _loss(keras, config, graph, outputs[0]),
            loss_weights=[config.loss_weights.get(name, 1.0) for name in outputs]
            if len(outputs) > 1 else None,
            metrics=_metrics(keras, config, outputs, main_output),
        )

    distribution.prepare_model(model, strategy, train_data)
    writes_files = distribution.is_chief(strategy)
    if out_dir is not None:
        out_dir = Path(out_dir)
        if writes_files:
            out_dir.mkdir(parents=True, exist_ok=True)
        else:  # other workers save into a scratch folder (saving may need them all)
            out_dir = Path(tempfile.mkdtemp(prefix="kerasblocks-worker-"))
    if output is not None and not writes_files:
        output = Path(tempfile.mkdtemp(prefix="kerasblocks-worker-")) / "final.keras"

    recorder = _Recorder(
        model, out_dir, main_output=main_output, outputs=outputs, monitor=config.monitor,
        checkpoint=config.checkpoint and out_dir is not None,
    )
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    log(
        f"Training {graph.name} ({model.count_params():,} parameters) for {config.epochs} "
        f"epoch(s) of {steps_per_epoch} steps, batch {config.batch_size}"
        + (f", {distribution.describe(strategy)}" if strategy is not None else "")
    )
    interrupted = False
    try:
        model.fit(
            train_data,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch if repeat else None,
            validation_data=val_data,
            callbacks=[recorder, *callbacks],
            verbose=verbose,
            shuffle=False,  # the tf.data pipeline shuffles
        )
    except KeyboardInterrupt:
        interrupted = True
        log(
            f"\nInterrupted: {len(recorder.epoch_times)} complete epoch(s) kept"
            + (f" (checkpoint {out_dir / LAST_FILE})" if recorder.files.get("last") else "")
        )

    files = dict(recorder.files)
    if out_dir is not None and recorder.epoch_times:
        files["plot"] = write_plot(recorder.history, out_dir / PLOT_FILE, title=graph.name)
    test = {}
    if not interrupted:
        if arrays.x_test is not None:
            test_data = val_data if validation == "test" else make_dataset(
                arrays.x_test, arrays.y_test, config.dataset, batch_size=config.batch_size,
                shuffle=False, seed=config.seed, **dataset_args,
            )
            test = _main_metrics(model.evaluate(test_data, verbose=0, return_dict=True),
                                 main_output, outputs)
        final = Path(output) if output is not None else (
            out_dir / FINAL_FILE if out_dir is not None else None
        )
        if final is not None:
            files["final"] = saving.save_model(model, final)
    if not writes_files:  # a non-chief worker: drop its scratch copies
        for scratch in {Path(path).parent for path in files.values()}:
            shutil.rmtree(scratch, ignore_errors=True)
        files = {}
    return TrainResult(
        model=model,
        history=recorder.history,
        test=test,
        epoch_times=recorder.epoch_times,
        files=files,
        interrupted=interrupted,
        config=config,
        best_epoch=recorder.best_epoch,
        steps_per_epoch=steps_per_epoch,
        replicas=strategy.num_replicas_in_sync if strategy is not None else 1,
    )


def summary_lines(result):
    """A short human summary of a `TrainResult`."""
    times = result.epoch_times
    lines = []
    if times:
        later = times[1:] or times
        lines.append(
            f"Trained {result.epochs} epoch(s) in {sum(times):.1f} s: "
            f"{sum(later) / len(later):.2f} s per epoch"
            + (f" (first epoch {times[0]:.2f} s, includes tracing)" if len(times) > 1 else "")
            + f", {1000 * sum(later) / len(later) / max(result.steps_per_epoch, 1):.1f} ms per step"
        )
    if result.test:
        lines.append(
            f"Test accuracy: {result.test.get('accuracy', float('nan')):.4f}  "
            f"test loss: {result.test.get('loss', float('nan')):.4f}"
        )
    val = result.history.get("val_accuracy")
    if val and result.best_epoch:
        lines.append(
            f"Best val_accuracy: {max(val):.4f} (epoch {val.index(max(val)) + 1}); "
            f"best.keras is epoch {result.best_epoch}"
        )
    if result.files:
        lines.append("Wrote: " + ", ".join(str(path) for path in result.files.values()))
    return lines


def write_history_csv(history, path):
    """Writes {column: [values]} as CSV with an `epoch` column, atomically."""
    columns = list(history)
    rows = len(next(iter(history.values()), []))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", *columns])
    for index in range(rows):
        writer.writerow([index + 1, *(_format(history[column][index]) for column in columns)])
    return _files.write_text(path, buffer.getvalue())


def write_plot(history, path, title=""):
    """PNG of loss and accuracy per epoch, training and validation (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    epochs = range(1, len(history.get("loss", [])) + 1)
    figure = Figure(figsize=(10, 4), dpi=100)
    for axes, metric in zip(figure.subplots(1, 2), ("loss", "accuracy")):
        for key, label, style in ((metric, "training", "-o"), (f"val_{metric}", "validation", "-s")):
            if history.get(key):
                axes.plot(epochs, history[key], style, label=label, markersize=3)
        axes.set_xlabel("epoch")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
        axes.legend()
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return _files.write_bytes(path, buffer.getvalue())


# --- compile arguments -------------------------------------------------------


def _optimizer(keras, config, total_steps):
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "adadelta": keras.optimizers.Adadelta,
        "adamax": keras.optimizers.Adamax,
        "nadam": keras.optimizers.Nadam,
        "lion": keras.optimizers.Lion,
    }
    return classes[config.optimizer.name](
        learning_rate=_learning_rate(keras, config.learning_rate, total_steps),
        **config.optimizer.arguments,
    )


def _learning_rate(keras, value, total_steps):
    if not isinstance(value, dict):
        return float(value)
    schedules = keras.optimizers.schedules
    kind = value["schedule"]
    if kind == "cosine":
        warmup = value.get("warmup_steps", 0)
        return schedules.CosineDecay(
            initial_learning_rate=value["initial"] if not warmup else 0.0,
            decay_steps=value.get("decay_steps", max(total_steps - warmup, 1)),
            alpha=value.get("alpha", 0.0),
            warmup_target=value["initial"] if warmup else None,
            warmup_steps=warmup,
        )
    if kind == "exponential":
        return schedules.ExponentialDecay(
            value["initial"], value["decay_steps"], value["decay_rate"],
            staircase=value.get("staircase", False),
        )
    return schedules.PiecewiseConstantDecay(list(value["boundaries"]), list(value["values"]))


def ends_in_logits(graph, output_name):
    """True unless the output layer applies a softmax (or sigmoid) itself."""
    try:
        node = graph.node(output_name)
    except KeyError:
        return True
    if node.type in ("Softmax",):
        return False
    activation = getattr(node, "arguments", {}).get("activation")
    return activation not in ("softmax", "sigmoid")


def _loss(keras, config, graph, output_name):
    from_logits = config.from_logits
    if from_logits is None:
        from_logits = ends_in_logits(graph, output_name)
    if config.loss_name == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy(
            from_logits=from_logits, label_smoothing=config.label_smoothing
        )
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def _metrics(keras, config, outputs, main_output):
    categorical = config.loss_name == "categorical_crossentropy"
    made = []
    for name in config.metrics:
        if name == "accuracy":
            made.append(
                keras.metrics.CategoricalAccuracy(name="accuracy")
                if categorical else keras.metrics.SparseCategoricalAccuracy(name="accuracy")
            )
        else:
            made.append(
                keras.metrics.TopKCategoricalAccuracy(k=5, name="top_5_accuracy")
                if categorical
                else keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top_5_accuracy")
            )
    if len(outputs) == 1:
        return made
    return [made if name == main_output else [] for name in outputs]


def _main_metrics(logs, main_output, outputs):
    """Keras log names -> plain names: `logits_accuracy` -> `accuracy` for the main output."""
    plain = {}
    for key, value in logs.items():
        prefix = "val_" if key.startswith("val_") else ""
        bare = key[len(prefix):]
        if len(outputs) > 1 and bare.startswith(f"{main_output}_"):
            bare = bare[len(main_output) + 1:]
        elif len(outputs) > 1 and any(bare.startswith(f"{name}_") for name in outputs):
            pass  # another output's metric: keep its full name
        plain[prefix + bare] = float(value)
    return plain


# --- the callback that keeps the records ------------------------------------


def _keras_callback_base():
    import keras

    return keras.callbacks.Callback


class _Recorder(_keras_callback_base()):
    """Per epoch: history, epoch time, learning rate; CSV; best/last checkpoints."""

    def __init__(self, model, out_dir, *, main_output, outputs, monitor, checkpoint):
        super().__init__()
        self._model_to_save = model
        self.out_dir = out_dir
        self.main_output, self.outputs = main_output, outputs
        self.monitor = monitor
        self.checkpoint = checkpoint
        self.history = {}
        self.epoch_times = []
        self.files = {}
        self.best_epoch = None
        self._best = None
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        values = _main_metrics(logs or {}, self.main_output, self.outputs)
        values["learning_rate"] = _current_learning_rate(self._model_to_save)
        values["epoch_time_s"] = elapsed
        for key, value in values.items():
            self.history.setdefault(key, [math.nan] * len(self.epoch_times)).append(value)
        self.epoch_times.append(elapsed)
        if self.out_dir is None:
            return
        self.files["history"] = write_history_csv(self.history, self.out_dir / HISTORY_FILE)
        if not self.checkpoint:
            return
        current = values.get(self.monitor)
        better = current is not None and (
            self._best is None
            or (current > self._best if "accuracy" in self.monitor else current < self._best)
        )
        if better:
            self._best, self.best_epoch = current, epoch + 1
            self.files["best"] = saving.save_model(self._model_to_save, self.out_dir / BEST_FILE)
        self.files["last"] = saving.save_model(self._model_to_save, self.out_dir / LAST_FILE)


def _current_learning_rate(model):
    try:
        return float(model.optimizer.learning_rate)
    except (TypeError, ValueError, AttributeError):
        return math.nan


def _format(value):
    return f"{value:.6g}" if isinstance(value, float) else value

