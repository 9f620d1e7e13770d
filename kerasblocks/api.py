"""The Python API: spec -> validated -> expanded -> Keras model -> file and back.

    import kerasblocks
    model = kerasblocks.build("vgg16", num_classes=10)    # shipped spec + a var
    kerasblocks.save_model(model, "vgg.keras")             # spec text goes along
    kerasblocks.inspect_model("vgg.keras")["spec"].text    # ... and comes back
    model = kerasblocks.load_model("vgg.keras")

`spec` arguments accept a path to a YAML file, the name of a shipped spec
("vgg16" -> specs/vgg16.yaml), YAML text, or a `Spec` from `load_spec`.
`load_spec`, `validate` and `expand` never import Keras or TensorFlow.
"""

import math

from kerasblocks import saving
from kerasblocks.saving import load_model, save_model

__all__ = [
    "load_spec",
    "validate",
    "expand",
    "build",
    "save_model",
    "load_model",
    "inspect_model",
    "parameter_counts",
    "train",
]


def load_spec(source, *, file=None):
    """Reads a spec: a path, a shipped spec name, or YAML text -> `Spec`.

    `file` names YAML text in error messages. See `kerasblocks.spec.load`.
    """
    from kerasblocks.spec.load import load_spec as _load_spec

    return _load_spec(source, file=file)


def validate(spec, **vars):
    """Checks a spec without building it.

    Args:
        spec: path, shipped spec name, YAML text or `Spec`.
        **vars: var overrides, as for `build`.

    Returns:
        The warnings, a list of `kerasblocks.errors.Diagnostic`.

    Raises:
        SpecError: every error found, each at its file, line and column.
    """
    from kerasblocks.spec.validate import validate as _validate

    return _validate(_as_spec(spec), vars=vars or None)


def expand(spec, **vars):
    """Expands vars, defaults, blocks, repeat and stack -> a flat `Graph`.

    Raises:
        SpecError: every error found.
    """
    from kerasblocks.spec.expand import expand as _expand

    return _expand(_as_spec(spec), vars=vars or None)


def build(spec, **vars):
    """Builds the Keras model a spec describes.

    Args:
        spec: path, shipped spec name, YAML text, `Spec`, or an expanded
            `Graph` (then no vars: the graph keeps those it was expanded with).
        **vars: var overrides, e.g. `build("vgg16", num_classes=10)`.

    Returns:
        A functional `keras.Model` with the spec's layer names. It remembers
        its spec and vars, which `save_model` writes into the `.keras` file.

    Raises:
        SpecError: the spec is invalid, or Keras refused a layer (bad argument
            value, shapes that do not fit); located at the offending line.
    """
    from kerasblocks.spec.build import build_model
    from kerasblocks.spec.graph import Graph

    if isinstance(spec, Graph):
        if vars:
            raise TypeError("build(graph) takes no vars: the graph is already expanded")
        graph = spec
    else:
        graph = expand(spec, **vars)
    model = build_model(graph)
    record = saving.SpecRecord(
        text=graph.source_text, name=graph.name, file=graph.file, vars=dict(graph.vars)
    )
    return saving.attach_spec_record(model, record)


def inspect_model(path, *, count_params=True):
    """Describes a `.keras` file: its model, and the spec it was built from.

    Args:
        path: a `.keras` file.
        count_params: load the model (imports Keras) to count its parameters.

    Returns:
        dict with "path", "model_name", "keras_version", "date_saved",
        "spec" (a `kerasblocks.saving.SpecRecord` with `.text`, `.name`,
        `.file`, `.vars`, `.kerasblocks_version`; None for models not built
        from a spec) and, with `count_params`, "params" (see
        `parameter_counts`).
    """
    info = {"path": str(path), **saving.read_metadata(path)}
    if count_params:
        info["params"] = parameter_counts(load_model(path, compile=False))
    return info


def parameter_counts(model):
    """{"total", "trainable", "non_trainable"} parameter counts of a model."""
    trainable = sum(math.prod(weight.shape) for weight in model.trainable_weights)
    non_trainable = sum(math.prod(weight.shape) for weight in model.non_trainable_weights)
    return {
        "total": trainable + non_trainable,
        "trainable": trainable,
        "non_trainable": non_trainable,
    }


def train(spec, **overrides):
    """Builds a spec's model and trains it as its `train:` section says.

    Args:
        spec: path, shipped spec name, YAML text or `Spec`.
        **overrides: `vars` ({var: value}), `epochs`, `batch_size`, `data`
            (fashion_mnist, mnist, generated, an IDX folder or a .npz file),
            `settings` ({"optimizer.learning_rate": 0.01, ...}: keys of the
            train section), `out_dir` (history.csv, curves.png, best/last/final
            .keras), `output` (the final model's path), `distribute`
            ("mirrored" or "multiworker"), `verbose`, `callbacks`, `log`.
            See `kerasblocks.training.trainer.train`.

    Returns:
        `kerasblocks.training.trainer.TrainResult`: `.model`, `.history`
        ({metric: [per epoch]}), `.test` ({"loss", "accuracy"}),
        `.epoch_times`, `.files`, `.interrupted`.

    Raises:
        SpecError: the spec or its train section is invalid (located).
        kerasblocks.training.DataError: data missing or not fitting the model.
    """
    from kerasblocks.training.trainer import train as _train

    return _train(spec, **overrides)


def _as_spec(spec):
    """A `Spec` from anything `load_spec` accepts (a `Spec` passes through)."""
    from kerasblocks.spec.load import Spec

    return spec if isinstance(spec, Spec) else load_spec(spec)
