"""The spec's `train:` section -> `TrainConfig`, checked without TensorFlow.

The JSON Schema (`spec/schema.json`, property `train`) checks the structure;
this module checks what the schema cannot (loss weights that name outputs the
model does not have, piecewise schedules whose lists do not fit, ...), applies
command-line overrides, and fills in defaults. Every error is a `SpecError` at
the line and column where the value was written (or at `--set ...` / `--epochs`
for values from the command line).

    from kerasblocks.training.config import train_config
    config = train_config("specs/inception_fashion.yaml", epochs=3, data="generated")
    config.optimizer.name, config.learning_rate, config.dataset.name
"""

import copy
import dataclasses
import re

from kerasblocks.errors import Diagnostic, SourceLocation, SpecError

COMMAND_LINE = "<command line>"
DEFAULTS = {
    "seed": 0,
    "epochs": 1,
    "batch_size": 32,
    "optimizer": "adam",
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["accuracy"],
    "monitor": "val_accuracy",
    "checkpoint": True,
}
DEFAULT_LEARNING_RATE = {"adam": 1e-3, "adamw": 1e-3, "sgd": 0.01, "rmsprop": 1e-3, "lion": 1e-4}
_FRACTION_RE = re.compile(r"^\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*(?:/\s*([0-9.]+(?:[eE][-+]?[0-9]+)?)\s*)?$")
# `--data` values that name a dataset; anything else is a path (folder or .npz).
DATASET_NAMES = ("fashion_mnist", "mnist", "idx", "npz", "generated")


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """Where the data comes from and how each batch is preprocessed.

    name: fashion_mnist, mnist, idx, npz or generated.
    path: folder or .npz file, or None (look in the usual places).
    scale, shift: x * scale + shift after casting to float32.
    flatten: reshape each image to a vector.
    limit: only the first N training (and test) samples.
    validation: "test", "none", or a fraction of the training data.
    """

    name: str = "fashion_mnist"
    path: str | None = None
    scale: float = 1.0
    shift: float = 0.0
    flatten: bool = False
    limit: int | None = None
    validation: object = "test"
    shuffle_buffer: int | None = None
    train_size: int = 512
    test_size: int = 128
    noise: float = 0.3


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    name: str
    arguments: dict  # other keras.optimizers arguments (momentum, ...)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything `kerasblocks.train` needs, with defaults filled in.

    learning_rate: a float, or a schedule dict ({"schedule": "cosine", ...}).
    loss_name: "sparse_categorical_crossentropy" or "categorical_crossentropy".
    from_logits: None means "decide from the model's last layers".
    loss_weights: {output name: weight}.
    section: the merged `train:` mapping the config was made from.
    """

    seed: int
    epochs: int
    steps: int | None
    batch_size: int
    optimizer: OptimizerConfig
    learning_rate: object
    loss_name: str
    from_logits: bool | None
    label_smoothing: float
    loss_weights: dict
    metrics: tuple
    main_output: str | None
    monitor: str
    dataset: DatasetConfig
    checkpoint: bool
    section: dict


def train_config(spec, *, vars=None, epochs=None, batch_size=None, data=None, settings=None,
                 require_section=True):
    """Reads, overrides and checks a spec's `train:` section.

    Args:
        spec: anything `kerasblocks.load_spec` takes.
        vars: spec var overrides (for checking `loss_weights` and
            `main_output` against the outputs the model will have).
        epochs, batch_size: override the section's values.
        data: `--data`: a dataset name (fashion_mnist, mnist, generated) or a
            path: a folder of IDX files or a `.npz` file.
        settings: {"optimizer.learning_rate": 0.01, ...}: `--set train.KEY=VALUE`
            overrides, dotted key paths inside the section.
        require_section: raise when the spec has no `train:` section and no
            override says what to train on (`data`).

    Returns:
        (`TrainConfig`, the expanded `Graph`).

    Raises:
        SpecError: the spec or the section is invalid (located), or there is
            nothing to train from.
    """
    from kerasblocks import api

    spec = api.load_spec(spec)
    graph = api.expand(spec, **(vars or {}))  # schema-checks the section too
    section = copy.deepcopy(graph.train) if graph.train is not None else None
    if section is None and require_section and data is None and not settings:
        raise SpecError(
            "the spec has no `train:` section and no --data was given: nothing says how to train",
            SourceLocation(spec.file),
            hint="add a `train:` section (see `kerasblocks schema`, property train) or pass "
            "--data generated|fashion_mnist|PATH and --epochs N",
        )
    section = section or {}
    overridden = {}  # key path -> where the override came from, for messages
    for key, value in (settings or {}).items():
        _assign(section, key.split("."), value)
        overridden[tuple(key.split("."))] = SourceLocation(COMMAND_LINE, path=("--set", f"train.{key}"))
    for flag, key, value in (("--epochs", "epochs", epochs), ("--batch-size", "batch_size", batch_size)):
        if value is not None:
            section[key] = value
            overridden[(key,)] = SourceLocation(COMMAND_LINE, path=(flag,))
            if key == "epochs" and "steps" not in (settings or {}):
                section.pop("steps", None)  # --epochs N means N whole passes over the data
    if data is not None:
        dataset = section.setdefault("dataset", {})
        if not isinstance(dataset, dict):
            dataset = section["dataset"] = {}
        if data in DATASET_NAMES:
            dataset["name"] = data
            dataset.pop("path", None)
        else:
            dataset["name"] = "npz" if str(data).endswith(".npz") else "idx"
            dataset["path"] = str(data)
        overridden[("dataset",)] = SourceLocation(COMMAND_LINE, path=("--data",))

    def where(path):
        for end in range(len(path), 0, -1):
            if tuple(path[:end]) in overridden:
                return overridden[tuple(path[:end])]
        for key, location in overridden.items():  # an override inside the bad value
            if key[: len(path)] == tuple(path):
                return location
        return spec.document.location(("train", *path))

    if overridden:  # the overrides must obey the schema too
        _check_overrides(section, where)
    return _make_config(section, graph, where), graph


def check_train_section(spec, graph):
    """Cross-checks a spec's `train:` section (what `kerasblocks validate` runs).

    Raises:
        SpecError: loss weights for outputs the model lacks, piecewise schedules
            that do not fit, a dataset without its path, ... (located).
    """
    from kerasblocks import api

    spec = api.load_spec(spec)
    _make_config(copy.deepcopy(graph.train), graph, lambda path: spec.document.location(("train", *path)))


def parse_number(value):
    """A number, or text such as "1/255" or "-0.5" -> float."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _FRACTION_RE.match(str(value))
    if not match:
        raise ValueError(f"not a number or fraction: {value!r}")
    numerator = float(match.group(1))
    denominator = float(match.group(2)) if match.group(2) else 1.0
    if denominator == 0:
        raise ValueError(f"division by zero in {value!r}")
    return numerator / denominator


def split_set_assignments(assignments):
    """`--set` values -> (var assignments, {train key path: parsed value}).

    `--set train.epochs=3` and `--set train.optimizer.learning_rate=0.01`
    change the train section; every other `--set` is a var.
    """
    from kerasblocks.spec.parse import parse_value

    var_assignments, settings, diagnostics = [], {}, []
    for assignment in assignments or ():
        name, equals, text = assignment.partition("=")
        if not name.strip().startswith("train."):
            var_assignments.append(assignment)
            continue
        key = name.strip()[len("train."):]
        if not equals or not key or not all(part.isidentifier() for part in key.split(".")):
            diagnostics.append(
                Diagnostic(
                    f"'{assignment}' is not an assignment train.KEY=VALUE",
                    SourceLocation(COMMAND_LINE, path=("--set",)),
                )
            )
            continue
        settings[key] = parse_value(text, file=COMMAND_LINE)
    if diagnostics:
        raise SpecError(diagnostics)
    return var_assignments, settings


# --- helpers -------------------------------------------------------------------


def _assign(mapping, keys, value):
    for key in keys[:-1]:
        if not isinstance(mapping.get(key), dict):
            current = mapping.get(key)
            # `optimizer: adam` + `--set train.optimizer.learning_rate=...`
            mapping[key] = {"name": current} if isinstance(current, str) else {}
        mapping = mapping[key]
    mapping[keys[-1]] = value


def _check_overrides(section, where):
    import jsonschema

    from kerasblocks.spec.schema import schema

    train_schema = schema()["properties"]["train"]
    validator = jsonschema.Draft202012Validator(train_schema)
    diagnostics = []
    for error in validator.iter_errors(section):
        path = tuple(error.absolute_path)
        subject = f"'{path[-1]}'" if path and isinstance(path[-1], str) else "train"
        predicate = error.schema.get("errorMessage")
        message = f"{subject} {predicate}, got {error.instance!r}" if predicate else f"{subject}: {error.message}"
        diagnostics.append(Diagnostic(message, where(path)))
    if diagnostics:
        raise SpecError(diagnostics)


def _make_config(section, graph, where):
    diagnostics = []

    def error(message, path, hint=None):
        diagnostics.append(Diagnostic(message, where(path), hint))

    merged = {**DEFAULTS, **section}
    optimizer = merged["optimizer"]
    if isinstance(optimizer, str):
        optimizer = {"name": optimizer}
    optimizer_arguments = {k: v for k, v in optimizer.items() if k not in ("name", "learning_rate")}
    learning_rate = section.get("learning_rate", optimizer.get("learning_rate"))
    if "learning_rate" in section and "learning_rate" in optimizer:
        error(
            "the learning rate is given twice: in `train.learning_rate` and in "
            "`train.optimizer.learning_rate`",
            ("learning_rate",),
        )
    if learning_rate is None:
        learning_rate = DEFAULT_LEARNING_RATE.get(optimizer["name"], 1e-3)
    lr_path = ("learning_rate",) if "learning_rate" in section else ("optimizer", "learning_rate")
    if isinstance(learning_rate, dict):
        _check_schedule(learning_rate, lr_path, error)

    loss = merged["loss"]
    if isinstance(loss, str):
        loss = {"name": loss}

    outputs = list(graph.outputs)
    loss_weights = dict(merged.get("loss_weights") or {})
    for name in loss_weights:
        if name not in outputs:
            error(
                f"loss_weights names '{name}', which is not an output of the model",
                ("loss_weights", name),
                hint=f"the outputs are: {', '.join(outputs)}",
            )
    main_output = merged.get("main_output")
    if main_output is not None and main_output not in outputs:
        error(
            f"main_output '{main_output}' is not an output of the model",
            ("main_output",),
            hint=f"the outputs are: {', '.join(outputs)}",
        )

    dataset_section = dict(merged.get("dataset") or {})
    dataset = DatasetConfig(
        **{
            key: value
            for key, value in dataset_section.items()
            if key not in ("scale", "shift")
        },
        scale=parse_number(dataset_section.get("scale", 1)),
        shift=parse_number(dataset_section.get("shift", 0)),
    )
    if dataset.name in ("idx", "npz") and dataset.path is None:
        error(
            f"dataset '{dataset.name}' needs a `path`",
            ("dataset", "name"),
            hint="give `path:` in train.dataset, or pass --data PATH",
        )
    steps = merged.get("steps")
    if steps is not None and steps < merged["epochs"]:
        error(f"steps ({steps}) must be at least epochs ({merged['epochs']})", ("steps",))
    if diagnostics:
        raise SpecError(sorted(diagnostics, key=lambda d: (d.location.line or 0, d.location.column or 0)))
    return TrainConfig(
        seed=merged["seed"],
        epochs=merged["epochs"],
        steps=steps,
        batch_size=merged["batch_size"],
        optimizer=OptimizerConfig(optimizer["name"], optimizer_arguments),
        learning_rate=learning_rate,
        loss_name=loss["name"],
        from_logits=loss.get("from_logits"),
        label_smoothing=loss.get("label_smoothing", 0.0),
        loss_weights=loss_weights,
        metrics=tuple(merged["metrics"]),
        main_output=main_output,
        monitor=merged["monitor"],
        dataset=dataset,
        checkpoint=merged["checkpoint"],
        section=section,
    )


_SCHEDULE_KEYS = {
    "cosine": ({"initial"}, {"initial", "decay_steps", "alpha", "warmup_steps"}),
    "exponential": ({"initial", "decay_steps", "decay_rate"}, {"initial", "decay_steps", "decay_rate", "staircase"}),
    "piecewise": ({"boundaries", "values"}, {"boundaries", "values"}),
}


def _check_schedule(schedule, path, error):
    kind = schedule["schedule"]
    required, allowed = _SCHEDULE_KEYS[kind]
    missing = sorted(required - set(schedule))
    if missing:
        error(
            f"a {kind} schedule needs {', '.join(missing)}",
            path,
            hint=f"{kind} takes: {', '.join(sorted(allowed))}",
        )
    for key in sorted(set(schedule) - allowed - {"schedule"}):
        error(f"a {kind} schedule takes no '{key}'", (*path, key), hint=f"{kind} takes: {', '.join(sorted(allowed))}")
    if kind == "piecewise" and not missing:
        boundaries, values = schedule["boundaries"], schedule["values"]
        if len(values) != len(boundaries) + 1:
            error(
                f"a piecewise schedule needs one more value than boundaries: "
                f"{len(boundaries)} boundaries, {len(values)} values",
                (*path, "values"),
            )
        if list(boundaries) != sorted(set(boundaries)):
            error("piecewise boundaries must increase", (*path, "boundaries"))
