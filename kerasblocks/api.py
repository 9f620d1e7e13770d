"""The Python API: spec -> validated -> expanded -> Keras model -> file and back.

    import kerasblocks
    model = kerasblocks.build("vgg16", num_classes=10)    # shipped spec + a var
    kerasblocks.save_model(model, "vgg.keras")             # spec text goes along
    kerasblocks.inspect_model("vgg.keras")["spec"].text    # ... and comes back
    model = kerasblocks.load_model("vgg.keras")

`spec` arguments accept a path to a YAML file, the name of a shipped spec
("vgg16" -> specs/vgg16.yaml), YAML text, or a `Spec` from `load_spec`.
`load_spec`, `validate` and `expand` never import Keras or TensorFlow.

Third-party layers (`my_pkg>MyLayer` in a spec) are registered when their
package is imported, and a spec never imports anything: the functions that
build or load a model take `imports=["my_pkg", ...]`, module names imported
first (see `kerasblocks.plugins.import_plugins`).
"""

import math

from kerasblocks import plugins, saving
from kerasblocks.saving import save_model

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
    "to_spec",
    "import_caffe",
    "plot",
    "export",
]


def load_spec(source, *, file=None):
    """Reads a spec: a path, a shipped spec name, or YAML text -> `Spec`.

    `file` names YAML text in error messages. See `kerasblocks.spec.load`.
    """
    from kerasblocks.spec.load import load_spec as _load_spec

    return _load_spec(source, file=file)


def validate(spec, **vars):
    """Checks a spec without building it.

    Imports nothing: a `package>Class` layer type is checked by its syntax
    only, so `validate` takes no `imports` (every keyword is a var).

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

    Imports nothing, and takes no `imports` (every keyword is a var): so
    `build(expand(spec, imports=3))` sets a var named `imports`, which
    `build(spec, imports=...)` cannot.

    Raises:
        SpecError: every error found.
    """
    from kerasblocks.spec.expand import expand as _expand

    return _expand(_as_spec(spec), vars=vars or None)


def build(spec, *, imports=None, **vars):
    """Builds the Keras model a spec describes.

    Args:
        spec: path, shipped spec name, YAML text, `Spec`, or an expanded
            `Graph` (then no vars: the graph keeps those it was expanded with).
        imports: module names to import first, e.g. `["my_pkg"]` for a spec
            that uses `my_pkg>MyLayer` (see `kerasblocks.plugins`).
        **vars: var overrides, e.g. `build("vgg16", num_classes=10)`.

    Returns:
        A functional `keras.Model` with the spec's layer names. It remembers
        its spec and vars, which `save_model` writes into the `.keras` file.

    Raises:
        SpecError: the spec is invalid, or Keras refused a layer (bad argument
            value, shapes that do not fit); located at the offending line.
        UsageError: a bad name in `imports`, or a module that does not import
            (`kerasblocks.plugins.PluginImportError`).
    """
    from kerasblocks.spec.build import build_model
    from kerasblocks.spec.graph import Graph

    if isinstance(spec, Graph):
        if vars:
            raise TypeError("build(graph) takes no vars: the graph is already expanded")
        graph = spec
    else:
        graph = expand(spec, **vars)
    plugins.import_plugins(imports)
    model = build_model(graph)
    record = saving.SpecRecord(
        text=graph.source_text, name=graph.name, file=graph.file, vars=dict(graph.vars)
    )
    return saving.attach_spec_record(model, record)


def load_model(path, *, compile=True, imports=None):
    """Loads a `.keras` file with `safe_mode=True`, kerasblocks layers registered.

    `imports` names modules to import first, those that register the
    third-party layers the model uses. See `kerasblocks.saving.load_model`.
    """
    plugins.import_plugins(imports)
    return saving.load_model(path, compile=compile)


def inspect_model(path, *, count_params=True, imports=None):
    """Describes a `.keras` file: its model, and the spec it was built from.

    Args:
        path: a `.keras` file.
        count_params: load the model (imports Keras) to count its parameters.
        imports: modules to import before loading it (only with
            `count_params`: otherwise nothing is loaded or imported).

    Returns:
        dict with "path", "model_name", "keras_version", "date_saved",
        "spec" (a `kerasblocks.saving.SpecRecord` with `.text`, `.name`,
        `.file`, `.vars`, `.kerasblocks_version`; None for models not built
        from a spec) and, with `count_params`, "params" (see
        `parameter_counts`).
    """
    if count_params:
        plugins.import_plugins(imports)
    else:
        plugins.plugin_names(imports)  # checked; nothing is loaded, so nothing imported
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


def train(spec, *, imports=None, **overrides):
    """Builds a spec's model and trains it as its `train:` section says.

    Args:
        spec: path, shipped spec name, YAML text or `Spec`.
        imports: module names to import first (plugin layers; see `build`).
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

    plugins.import_plugins(imports)
    return _train(spec, **overrides)


def to_spec(model, *, name=None, imports=None):
    """Writes a Keras model as spec text: the inverse of `build`.

    Args:
        model: a functional or Sequential `keras.Model`, or a `.keras` path.
        name: the spec's `name` (default: the model's name).
        imports: modules to import first: those registering the model's
            third-party layers (needed to load a `.keras` file that has them).

    Returns:
        YAML text of a valid spec: chains written as chains, only arguments
        that differ from Keras' defaults, layer names kept.
        `build(to_spec(model))` has the same structure and parameter count.

    Raises:
        kerasblocks.errors.UsageError: the model has layers a spec cannot
            name (unregistered subclassed layers, Lambda); the error lists them.
    """
    from kerasblocks.interop.from_keras import to_spec as _to_spec

    plugins.import_plugins(imports)
    return _to_spec(model, name=name)


def import_caffe(prototxt, *, name=None):
    """Converts a Caffe net definition (prototxt text format) to spec text.

    Args:
        prototxt: path to a `.prototxt` file, or its text.
        name: the spec's `name` (default: the net's `name:`).

    Returns:
        YAML text of a valid spec.

    Raises:
        SpecError: a syntax error or an unsupported layer, located in the
            prototxt (file:line:column).
        kerasblocks.errors.UsageError: no such file, an unreadable one, or
            a `name` that is not a valid spec name.
    """
    from kerasblocks.interop.caffe import import_caffe as _import_caffe

    return _import_caffe(prototxt, name=name)


def plot(source, output, *, expand_nested=False, imports=None, **vars):
    """Draws a network's graph to `output` (.png, .svg, .pdf or .dot).

    Args:
        source: a spec (path, shipped name, YAML text, `Spec`), an expanded
            `Graph` (then no vars), a `.keras` path or a `keras.Model`.
        output: the picture's path; the format comes from its suffix.
        expand_nested: draw the inside of composite layers (ResidualUnit,
            InceptionBlock) as a box of their sublayers.
        imports: modules to import first (plugin layers; see `build`).
        **vars: spec var overrides.

    Returns:
        The `pathlib.Path` written (atomically).

    Raises:
        kerasblocks.errors.UsageError: Graphviz is missing (the message says
            how to install it) or the suffix is not a known format.
    """
    from kerasblocks.plotting import plot as _plot

    plugins.import_plugins(imports)
    return _plot(source, output, expand_nested=expand_nested, **vars)


def export(model, output, *, format="savedmodel", imports=None):
    """Exports a model for serving: a TF SavedModel folder or a `.tflite` file.

    Args:
        model: a `keras.Model` or a `.keras` path.
        output: the folder (savedmodel) or file (tflite) to write, atomically.
        format: "savedmodel" or "tflite".
        imports: modules to import before loading a `.keras` path (plugin
            layers; see `build`).

    Returns:
        The `pathlib.Path` written.

    Raises:
        kerasblocks.errors.UsageError: an unknown format, a Keras backend
            other than TensorFlow, or a model TFLite cannot convert (the
            message names the operators it lacks).
        FileNotFoundError: no such model file, or no folder to write into.
        FileExistsError: `output` is of the wrong kind (a file where a
            folder goes, ...).
        kerasblocks.saving.ModelFileError: `model` is not a `.keras` file.
    """
    from kerasblocks.exporting import export as _export

    plugins.import_plugins(imports)
    return _export(model, output, format=format)


def _as_spec(spec):
    """A `Spec` from anything `load_spec` accepts (a `Spec` passes through)."""
    from kerasblocks.spec.load import Spec

    return spec if isinstance(spec, Spec) else load_spec(spec)
