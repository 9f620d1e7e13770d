"""`kerasblocks`: the command line, a thin shell over `kerasblocks.api`.

    kerasblocks validate specs/*.yaml          # no TensorFlow: fast
    kerasblocks expand vgg16 --set num_classes=10
    kerasblocks schema
    kerasblocks summary vgg16
    kerasblocks build vgg16 -o vgg16.keras
    kerasblocks inspect vgg16.keras
    kerasblocks list                           # the shipped specs
    kerasblocks train inception_fashion --epochs 3   # the spec's train: section
    kerasblocks evaluate runs/inception_fashion/final.keras
    kerasblocks predict final.keras --top-k 3
    kerasblocks from-keras model.keras -o net.yaml  # a Keras model as a spec
    kerasblocks import-caffe alexnet.prototxt -o alexnet.yaml
    kerasblocks plot googlenet -o googlenet.svg
    kerasblocks export model.keras --format tflite -o model.tflite
    kerasblocks --import my_pkg build net.yaml   # net.yaml uses my_pkg>MyLayer

Exit codes: 0 success; 2 an invalid spec, a missing file or bad usage (the
messages say where); 1 an unexpected internal error (one line; `--debug` shows
the traceback).

Keras is imported only by the commands that build or load a model, so
`--help`, `validate`, `expand` and `schema` answer without loading TensorFlow.

`--import MODULE` (before or after the command; repeatable, or comma-separated)
imports installed modules that register third-party layers, before a model is
built or loaded: summary, build, train, evaluate, predict, plot, export,
from-keras and inspect. A spec never imports anything itself. validate, expand,
schema, import-caffe and list import nothing: they check the names and note
that `--import` is ignored.
"""

import argparse
import os
import sys
import traceback

from kerasblocks._version import __version__
from kerasblocks.errors import SpecError, UsageError

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_INVALID = 2  # also what argparse uses for usage errors

DEFAULT_MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights; VGG16 has 138M

_debug_requested = False  # set by main(); --debug also shows TensorFlow's logs


class CommandError(Exception):
    """A user-facing problem that is not a spec error: printed, exit 2."""


def main(argv=None):
    """Runs the command line; returns the exit code."""
    global _debug_requested
    parser = _make_parser()
    args = parser.parse_args(argv)
    _debug_requested = args.debug
    try:
        _check_plugin_names(args)
        return args.command(args)
    except (SpecError, CommandError, UsageError) as error:
        _print_traceback_if(args.debug)
        _print_error(error)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug: one line, traceback on request
        _print_traceback_if(args.debug)
        print(
            f"kerasblocks: internal error: {type(error).__name__}: {error}"
            + ("" if args.debug else " (rerun with --debug for the traceback)"),
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


# --- commands ----------------------------------------------------------------
# Each takes the parsed arguments and returns an exit code.


def _validate_command(args):
    from kerasblocks import api

    failed = False
    for source in args.specs:  # every file, even after a bad one
        try:
            spec = _load_spec(source)
            warnings = api.validate(spec, **_parse_vars(args.set, spec))
        except (SpecError, CommandError) as error:
            _print_traceback_if(args.debug)
            _print_error(error)
            failed = True
            continue
        _print_diagnostics(warnings)
        count = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""
        print(f"{source}: ok{count}")
    return EXIT_INVALID if failed else EXIT_OK


def _expand_command(args):
    from kerasblocks.spec.format import format_expanded

    print(format_expanded(_expand_spec(args)), end="")
    return EXIT_OK


def _schema_command(args):
    from kerasblocks.spec.schema import schema_text

    print(schema_text(), end="")
    return EXIT_OK


def _summary_command(args):
    _build_and_report(args, output=None)
    return EXIT_OK


def _build_command(args):
    if args.output is not None and not args.output.endswith(".keras"):
        # Fail before spending seconds on TensorFlow.
        raise CommandError(f"the output file name must end in .keras: '{args.output}'")
    _build_and_report(args, output=args.output)
    return EXIT_OK


def _inspect_command(args):
    from kerasblocks import api, saving

    try:
        info = api.inspect_model(args.model, count_params=False)  # no Keras yet
    except (FileNotFoundError, saving.ModelFileError) as error:
        raise CommandError(str(error)) from error
    _quiet_tensorflow()
    _import_plugins(args)  # not inside the try below: a failed import is an error of its own
    try:
        model = api.load_model(args.model, compile=False)
        parameters, loaded = _format_counts(api.parameter_counts(model)), True
    except Exception as error:  # still worth showing what the file says about itself
        _print_traceback_if(args.debug)
        parameters, loaded = f"unknown, the model does not load ({_first_line(error)})", False

    spec = info["spec"]
    print(args.model)
    print(f"  model:       {info['model_name']}")
    print(f"  parameters:  {parameters}")
    print(f"  saved:       {info['date_saved']} with Keras {info['keras_version']}")
    if spec is None:
        print("  spec:        none (not built by kerasblocks from a spec)")
    else:
        print(
            f"  spec:        {spec.name} from {spec.file} (kerasblocks {spec.kerasblocks_version})"
        )
        if spec.vars:
            print(
                "  vars:        " + " ".join(f"{key}={value}" for key, value in spec.vars.items())
            )
        # The text verbatim to the end, so `sed '1,/^--- spec ---$/d'` gets it back.
        print("--- spec ---")
        print(spec.text, end="" if spec.text.endswith("\n") else "\n")
    return EXIT_OK if loaded else EXIT_INVALID


def _list_command(args):
    from kerasblocks.spec.catalog import shipped_specs

    specs = shipped_specs()
    if not specs:
        raise CommandError("no shipped specs found (they live in specs/ of a source checkout)")
    if args.counts:
        _quiet_tensorflow()
        from kerasblocks import api
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        print(f"{spec.name:<{width}}  {spec.description}")
        if args.counts:
            model = api.build(spec.path)
            print(f"{'':<{width}}  {_format_counts(api.parameter_counts(model))}")
            del model
            _release_keras_memory()  # VGG16 alone holds 0.55 GB of weights
    return EXIT_OK


def _train_command(args):
    from kerasblocks import api
    from kerasblocks.training.config import split_set_assignments

    if args.output is not None and not args.output.endswith(".keras"):
        raise CommandError(f"the output file name must end in .keras: '{args.output}'")
    spec = _load_spec(args.spec)
    var_assignments, settings = split_set_assignments(args.set)
    spec_vars = _parse_vars(var_assignments, spec)
    from kerasblocks.training.config import train_config

    # The whole spec and train section are checked before TensorFlow loads.
    config, graph = train_config(
        spec, vars=spec_vars, epochs=args.epochs, batch_size=args.batch_size, data=args.data,
        settings=settings,
    )
    _print_diagnostics(graph.warnings)
    out_dir = args.out_dir or os.path.join("runs", graph.name)
    if args.distribute == "multiworker":
        # MultiWorkerMirroredStrategy must come before TensorFlow lists devices.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    else:
        _quiet_tensorflow()
    _import_plugins(args)
    _check_model_size(graph, args.max_parameters)
    from kerasblocks.training import DataError
    from kerasblocks.training.distribute import DistributeError
    from kerasblocks.training.trainer import summary_lines

    try:
        result = api.train(
            spec, vars=spec_vars, epochs=args.epochs, batch_size=args.batch_size,
            data=args.data, settings=settings, out_dir=out_dir, output=args.output,
            distribute=args.distribute, verbose=2 if args.quiet else None,
        )
    except (DataError, DistributeError) as error:
        raise CommandError(str(error)) from error
    for line in summary_lines(result):
        print(line)
    return 130 if result.interrupted else EXIT_OK


def _evaluate_command(args):
    _quiet_tensorflow()
    _import_plugins(args)
    from kerasblocks.training import DataError
    from kerasblocks.training.inference import evaluate_model

    try:
        result = evaluate_model(
            args.model, data=args.data, batch_size=args.batch_size, limit=args.limit
        )
    except (DataError, _model_file_error()) as error:
        raise CommandError(str(error)) from error
    print(
        f"{args.model}: accuracy {result['accuracy']:.4f}  loss {result['loss']:.4f}  "
        f"({result['samples']:,} {result['split']} samples)"
    )
    return EXIT_OK


def _predict_command(args):
    _quiet_tensorflow()
    _import_plugins(args)
    from kerasblocks.training import DataError
    from kerasblocks.training.inference import predict_model

    try:
        rows = predict_model(
            args.model, data=args.data, top_k=args.top_k, limit=args.limit,
            batch_size=args.batch_size,
        )
    except (DataError, _model_file_error()) as error:
        raise CommandError(str(error)) from error
    names = rows[0]["class_names"] if rows else None

    def label(index):
        return f"{index} ({names[index]})" if names else str(index)

    print("index  label  prediction (probability)")
    for row in rows:
        predictions = ", ".join(
            f"{label(c)} {p:.3f}" for c, p in zip(row["classes"], row["probabilities"])
        )
        print(f"{row['index']:>5}  {label(row['label'])}  {predictions}")
    correct = sum(row["classes"][0] == row["label"] for row in rows)
    print(f"top-1 correct: {correct} of {len(rows)}")
    return EXIT_OK


def _from_keras_command(args):
    _quiet_tensorflow()
    _import_plugins(args)
    from kerasblocks import api

    try:
        text = api.to_spec(args.model, name=args.name)
    except (FileNotFoundError, _model_file_error()) as error:
        raise CommandError(str(error)) from error
    _write_or_print(text, args.output)
    return EXIT_OK


def _import_caffe_command(args):
    from kerasblocks import api

    if not os.path.isfile(args.prototxt):
        raise CommandError(f"no such prototxt file: '{args.prototxt}'")
    text = api.import_caffe(args.prototxt, name=args.name)  # no TensorFlow
    _write_or_print(text, args.output)
    return EXIT_OK


def _plot_command(args):
    from kerasblocks import api

    if args.spec.endswith(".keras"):
        if args.set:
            raise CommandError("--set applies to specs, not to a saved .keras model")
        source = args.spec
        _quiet_tensorflow()
        _import_plugins(args)
    else:
        source = _expand_spec(args)  # spec errors before TensorFlow; the graph keeps its vars
        _quiet_tensorflow()
        _import_plugins(args)
        _check_model_size(source, args.max_parameters)
    try:
        path = api.plot(source, args.output, expand_nested=args.expand_nested)
    except (FileNotFoundError, _model_file_error()) as error:
        raise CommandError(str(error)) from error
    print(f"Wrote {path}")
    return EXIT_OK


def _export_command(args):
    _quiet_tensorflow()
    _import_plugins(args)
    from kerasblocks import api

    try:
        path = api.export(args.model, args.output, format=args.format)
    except (FileNotFoundError, FileExistsError, _model_file_error()) as error:
        raise CommandError(str(error)) from error
    print(f"Wrote {path}")
    return EXIT_OK


def _model_file_error():
    from kerasblocks.saving import ModelFileError

    return ModelFileError


# --- plugins ---------------------------------------------------------------------

# Commands that build or load no model: `--import` is checked, then ignored (noted).
_IGNORES_IMPORTS = {
    "validate": "validate imports nothing (package>Class layer types are checked by syntax only)",
    "expand": "expand imports nothing (package>Class layer types are checked by syntax only)",
    "schema": "schema imports nothing",
    "import-caffe": "import-caffe imports nothing",
    "list": "list builds only the shipped specs, which use no plugins",
}


def _check_plugin_names(args):
    """`--import` values (both positions) -> `args.plugin_modules`; none imported yet."""
    from kerasblocks.plugins import plugin_names

    given = (args.imports or []) + getattr(args, "command_imports", [])
    args.plugin_modules = plugin_names(given)  # a bad name: exit 2 before any work
    reason = _IGNORES_IMPORTS.get(args.command_name)
    if args.plugin_modules and reason:
        print(f"kerasblocks: note: --import ignored: {reason}", file=sys.stderr)
        args.plugin_modules = []


def _import_plugins(args):
    """Imports the `--import` modules; call after `_quiet_tensorflow`, before Keras work."""
    if not args.plugin_modules:
        return
    from kerasblocks.plugins import PluginImportError, import_plugins

    try:
        import_plugins(args.plugin_modules)
    except PluginImportError as error:
        if error.not_installed or args.debug:
            raise
        raise CommandError(f"{error} (rerun with --debug for the traceback)") from error


# --- helpers -------------------------------------------------------------------


def _release_keras_memory():
    import keras

    keras.backend.clear_session()


def _build_and_report(args, output):
    """Builds the spec; prints warnings, the Keras summary and the counts."""
    from kerasblocks import api

    graph = _expand_spec(args)  # no Keras yet: spec errors come fast
    _quiet_tensorflow()
    _import_plugins(args)
    _check_model_size(graph, args.max_parameters)
    model = api.build(graph)  # the graph checked above: no second parse and expansion
    model.summary()
    print(f"Parameters: {_format_counts(api.parameter_counts(model))}")
    if output is not None:
        try:
            path = api.save_model(model, output)
        except FileNotFoundError as error:
            raise CommandError(str(error)) from error
        except OSError as error:  # disk full, no permission: an earlier file stays as it was
            raise CommandError(f"cannot write '{output}': {error}") from error
        print(f"Wrote {path}")


def _check_model_size(graph, limit):
    """Refuses, at the largest layer, a spec whose weights would exceed `limit`.

    Counted without allocating anything (milliseconds), so a spec asking for
    a trillion weights is an error instead of a machine out of memory.
    """
    from kerasblocks.spec.build import check_parameter_count

    check_parameter_count(graph, limit)


def _write_or_print(text, output):
    """Prints `text`, or writes it atomically to `output` (an error leaves no file)."""
    if output is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    from kerasblocks import _files

    try:
        path = _files.write_text(output, text)
    except (FileNotFoundError, IsADirectoryError) as error:
        raise CommandError(str(error)) from error
    print(f"Wrote {path}")


def _expand_spec(args):
    """The expanded graph of `args.spec` with the `--set` vars; prints its warnings."""
    from kerasblocks import api

    spec = _load_spec(args.spec)
    graph = api.expand(spec, **_parse_vars(args.set, spec))
    _print_diagnostics(graph.warnings)
    return graph


def _load_spec(source):
    from kerasblocks import api

    try:
        return api.load_spec(source)  # a missing file is a located SpecError
    except OSError as error:  # unreadable: permissions, a directory, ...
        raise CommandError(f"cannot read spec '{source}': {error.strerror or error}") from error


def _parse_vars(assignments, spec):
    """`--set` assignments -> {var: value}; names must be vars of `spec`."""
    if not assignments:
        return {}
    from kerasblocks.spec.vars import parse_var_overrides

    return parse_var_overrides(assignments, spec)


def _print_error(error):
    if isinstance(error, SpecError):
        print(error, file=sys.stderr)  # file:line:col: error: ..., hint lines
    else:
        print(f"kerasblocks: error: {error}", file=sys.stderr)


def _first_line(error):
    return f"{type(error).__name__}: {error}".splitlines()[0]


def _print_diagnostics(diagnostics):
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)


def _format_counts(counts):
    return (
        f"{counts['total']:,} total, {counts['trainable']:,} trainable, "
        f"{counts['non_trainable']:,} non-trainable"
    )


def _quiet_tensorflow():
    """Imports TensorFlow and Keras without their start-up noise on stderr.

    TensorFlow 2.21 prints absl INFO/ERROR lines (oneDNN, CUDA probing) while
    it imports and first lists devices, before any log level applies, so the
    environment variable alone cannot hide them: silence file descriptor 2 for
    that moment. With `--debug` nothing is hidden.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or _debug_requested:
        return
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf

            tf.config.list_logical_devices()
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)


def _print_traceback_if(debug):
    if debug:
        traceback.print_exc()


# --- argument parsing --------------------------------------------------------


def _make_parser():
    parser = argparse.ArgumentParser(
        prog="kerasblocks",
        description="Declare Keras networks as YAML specs: validate, expand, build, inspect.",
        epilog=(
            "SPEC is a YAML file, the name of a shipped spec (e.g. vgg16) or YAML text. "
            "Exit codes: 0 ok, 2 invalid spec / missing file / bad usage, 1 internal error."
        ),
    )
    parser.add_argument("--version", action="version", version=f"kerasblocks {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    import_help = (
        "import an installed module (dotted name, e.g. my_pkg.layers) before building or "
        "loading a model, so that the layers it registers can be used as my_pkg>MyLayer; "
        "repeatable, or comma-separated; a spec never imports anything itself"
    )
    parser.add_argument(
        "--import", dest="imports", action="append", metavar="MODULE", help=import_help
    )

    # `--debug` and `--import` also work after the command; SUPPRESS keeps the
    # top-level value when they are not given there (the two `--import` lists add up).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors"
    )
    common.add_argument(
        "--import", dest="command_imports", action="append", default=argparse.SUPPRESS,
        metavar="MODULE", help=import_help,
    )
    with_vars = argparse.ArgumentParser(add_help=False)
    with_vars.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="override a spec var (repeatable), e.g. --set num_classes=100",
    )

    with_size_limit = argparse.ArgumentParser(add_help=False)
    with_size_limit.add_argument(
        "--max-parameters",
        type=int,
        default=DEFAULT_MAX_PARAMETERS,
        metavar="N",
        help="refuse to build a model with more parameters (default %(default)s, "
        "counted before any memory is allocated)",
    )

    commands = parser.add_subparsers(
        title="commands", metavar="COMMAND", required=True, dest="command_name"
    )

    validate = commands.add_parser(
        "validate",
        parents=[common, with_vars],
        help="check specs without building them (no TensorFlow)",
        description="Check each SPEC: every error with its file:line:col, then warnings.",
    )
    validate.add_argument("specs", nargs="+", metavar="SPEC")
    validate.set_defaults(command=_validate_command)

    expand = commands.add_parser(
        "expand",
        parents=[common, with_vars],
        help="print the expanded spec with the origin of every value",
        description="Print SPEC with vars, defaults, blocks, repeat and stack expanded.",
    )
    expand.add_argument("spec", metavar="SPEC")
    expand.set_defaults(command=_expand_command)

    summary = commands.add_parser(
        "summary",
        parents=[common, with_vars, with_size_limit],
        help="build the model and print its summary (writes nothing)",
        description="Build SPEC and print the Keras summary and parameter counts.",
    )
    summary.add_argument("spec", metavar="SPEC")
    summary.set_defaults(command=_summary_command)

    build = commands.add_parser(
        "build",
        parents=[common, with_vars, with_size_limit],
        help="build the model, print its summary, optionally save it",
        description=(
            "Build SPEC, print the Keras summary and parameter counts, and with -o "
            "save a .keras file (atomically) that carries the spec text."
        ),
    )
    build.add_argument("spec", metavar="SPEC")
    build.add_argument("-o", "--output", metavar="MODEL.keras", help="write the model here")
    build.set_defaults(command=_build_command)

    schema = commands.add_parser(
        "schema",
        parents=[common],
        help="print the JSON Schema of the spec format",
        description="Print the JSON Schema that specs are validated against.",
    )
    schema.set_defaults(command=_schema_command)

    inspect = commands.add_parser(
        "inspect",
        parents=[common],
        help="show a saved model's name, parameters and the spec it was built from",
        description="Print what a .keras file holds: model name, parameter counts, spec text.",
    )
    inspect.add_argument("model", metavar="MODEL.keras")
    inspect.set_defaults(command=_inspect_command)

    listing = commands.add_parser(
        "list",
        parents=[common],
        help="list the shipped specs with descriptions and parameter counts",
        description=(
            "List the shipped specs (usable by name, e.g. `kerasblocks build vgg16`) with "
            "their descriptions and parameter counts at their default vars."
        ),
    )
    listing.add_argument(
        "--no-counts",
        dest="counts",
        action="store_false",
        help="skip building the models (fast: no TensorFlow)",
    )
    listing.set_defaults(command=_list_command)

    train = commands.add_parser(
        "train",
        parents=[common, with_vars, with_size_limit],
        help="train the model as the spec's train: section says",
        description=(
            "Build SPEC and train it as its `train:` section says; flags override the section. "
            "Writes history.csv, curves.png, best.keras, last.keras and final.keras into "
            "--out-dir (default runs/NAME). Ctrl-C stops after keeping the last complete epoch. "
            "--set train.KEY=VALUE changes a key of the train section, e.g. "
            "--set train.optimizer.learning_rate=0.01."
        ),
    )
    train.add_argument("spec", metavar="SPEC")
    train.add_argument("-o", "--output", metavar="MODEL.keras", help="also write the final model here")
    train.add_argument("--out-dir", metavar="DIR", help="folder for the records (default runs/NAME)")
    train.add_argument("--epochs", type=int, metavar="N", help="override train.epochs")
    train.add_argument("--batch-size", type=int, metavar="N", help="override train.batch_size")
    train.add_argument(
        "--data",
        metavar="DATA",
        help="fashion_mnist, mnist, generated, a folder of IDX files, or a .npz file",
    )
    train.add_argument(
        "--distribute",
        choices=["mirrored", "multiworker"],
        help="tf.distribute strategy (multiworker reads TF_CONFIG)",
    )
    train.add_argument("--quiet", action="store_true", help="one line per epoch, no progress bar")
    train.set_defaults(command=_train_command)

    for name, short, description in (
        ("evaluate", "loss and accuracy of a saved model on a dataset",
         "Loss and accuracy of MODEL on a dataset's test split, preprocessed as the model's "
         "spec says."),
        ("predict", "top-k predictions of a saved model",
         "Top-k predictions of MODEL for the first test samples of a dataset."),
    ):
        sub = commands.add_parser(name, parents=[common], help=short, description=description)
        sub.add_argument("model", metavar="MODEL.keras")
        sub.add_argument(
            "--data", metavar="DATA",
            help="fashion_mnist, mnist, generated, an IDX folder or a .npz (default: the spec's)",
        )
        sub.add_argument("--batch-size", type=int, metavar="N")
        if name == "predict":
            sub.add_argument("--top-k", type=int, default=1, metavar="K")
            sub.add_argument("--limit", type=int, default=10, metavar="N",
                             help="predict the first N test samples (default 10)")
            sub.set_defaults(command=_predict_command)
        else:
            sub.add_argument("--limit", type=int, metavar="N", help="only the first N samples")
            sub.set_defaults(command=_evaluate_command)

    from_keras = commands.add_parser(
        "from-keras",
        parents=[common],
        help="write a saved Keras model as a spec",
        description=(
            "Write MODEL (a functional or Sequential .keras model) as a readable spec: chains "
            "as chains, only non-default arguments, layer names kept. Prints it, or with -o "
            "writes it."
        ),
    )
    from_keras.add_argument("model", metavar="MODEL.keras")
    from_keras.add_argument("-o", "--output", metavar="SPEC.yaml", help="write the spec here")
    from_keras.add_argument("--name", help="the spec's name (default: the model's)")
    from_keras.set_defaults(command=_from_keras_command)

    import_caffe = commands.add_parser(
        "import-caffe",
        parents=[common],
        help="convert a Caffe net definition (.prototxt) to a spec",
        description=(
            "Convert a Caffe prototxt net definition to a spec (no Caffe needed). Prints it, "
            "or with -o writes it. Unsupported layers are reported with their line."
        ),
    )
    import_caffe.add_argument("prototxt", metavar="NET.prototxt")
    import_caffe.add_argument("-o", "--output", metavar="SPEC.yaml", help="write the spec here")
    import_caffe.add_argument("--name", help="the spec's name (default: the net's name)")
    import_caffe.set_defaults(command=_import_caffe_command)

    plot = commands.add_parser(
        "plot",
        parents=[common, with_vars, with_size_limit],
        help="draw a spec's or model's graph (.png, .svg, .pdf, .dot)",
        description=(
            "Draw the graph of SPEC (or of a saved MODEL.keras) with layer names, types and "
            "output shapes. Needs Graphviz (apt-get install graphviz) except for .dot output."
        ),
    )
    plot.add_argument("spec", metavar="SPEC|MODEL.keras")
    plot.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="net.png, net.svg, net.pdf or net.dot"
    )
    plot.add_argument(
        "--expand-nested", action="store_true",
        help="draw the sublayers inside composite layers (ResidualUnit, InceptionBlock)",
    )
    plot.set_defaults(command=_plot_command)

    export = commands.add_parser(
        "export",
        parents=[common],
        help="export a saved model for serving (SavedModel or TFLite)",
        description=(
            "Export MODEL for serving: --format savedmodel writes a TensorFlow SavedModel "
            "folder, --format tflite a .tflite file. Written atomically."
        ),
    )
    export.add_argument("model", metavar="MODEL.keras")
    export.add_argument(
        "--format", required=True, choices=["savedmodel", "tflite"], help="what to export"
    )
    export.add_argument("-o", "--output", required=True, metavar="PATH", help="folder or file")
    export.set_defaults(command=_export_command)
    return parser


if __name__ == "__main__":
    sys.exit(main())
