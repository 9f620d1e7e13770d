"""Exporting a model for serving: a TensorFlow SavedModel folder or a TFLite file.

    kerasblocks.export(model, "export/inception")                     # SavedModel
    kerasblocks.export("model.keras", "model.tflite", format="tflite")

Both artefacts run the model in inference mode (`training=False`: dropout
off, batch normalisation on its moving statistics) and keep the batch
dimension dynamic. Their inputs have the model's input names (`image` for
the shipped image specs); their outputs are named `output_0`, `output_1`, ...
in the model's output order (Keras' names).

Calling a SavedModel (Python, TF Serving, `saved_model_cli`):

    reloaded = tf.saved_model.load("export/inception")  # keep this reference:
    logits = reloaded.serve(images)                     # ... its variables live on it
    # By signature, as TF Serving sees it: a dict of named outputs.
    logits = reloaded.signatures["serving_default"](image=images)["output_0"]

`serve` takes the inputs as the model's `call` does: one tensor, or the list
or dict of tensors of a multi-input model.

Calling a TFLite file (`ai_edge_litert.interpreter.Interpreter` has the same
API as `tf.lite.Interpreter`, which TensorFlow 2.21 marks as deprecated):

    interpreter = tf.lite.Interpreter(model_path="model.tflite")
    run = interpreter.get_signature_runner("serving_default")
    logits = run(image=images)["output_0"]       # any batch size

The TFLite batch dimension is dynamic (`shape_signature` -1) and allocated as
1: the signature runner resizes it for every call; with the low-level
`set_tensor` API call `interpreter.resize_tensor_input(index, images.shape)`
and `allocate_tensors()` first.

The TFLite file holds only TFLite's built-in operators, float32, with no
quantisation: it runs on the plain LiteRT runtime of every platform. A model
with an operator TFLite lacks fails to export, naming the operator, rather
than producing a file that needs the Flex (`SELECT_TF_OPS`) delegate. All four
kerasblocks layers, grouped convolutions included, convert to built-ins.
"""

import contextlib
import functools
import os
import pathlib
import re
import sys
import tempfile

from kerasblocks import _files, saving
from kerasblocks.errors import UsageError

FORMATS = ("savedmodel", "tflite")
TFLITE_SUFFIX = ".tflite"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")  # what makes a folder one
SERVING_ENDPOINT = "serve"  # Keras' name; `serving_default` is its signature alias

# The converter's error codes for operators outside TFLite's built-in set.
_MISSING_OPERATOR_CODES = ("ERROR_NEEDS_FLEX_OPS", "ERROR_NEEDS_CUSTOM_OPS")


def export(model, output, *, format="savedmodel"):
    """Exports a model for serving: a TF SavedModel folder or a `.tflite` file.

    See the module docstring for how to call what it writes.

    Args:
        model: a `keras.Model` (functional or Sequential), or the path of a
            `.keras` file, loaded with `safe_mode=True`.
        output: path to write. For `"savedmodel"` a folder: a new or empty
            one, or an earlier SavedModel, replaced only once the new export
            is complete. For `"tflite"` a file ending in `.tflite`. Its
            parent folder must exist. A failure leaves nothing behind and
            an earlier export intact.
        format: string, `"savedmodel"` or `"tflite"`. Defaults to
            `"savedmodel"`.

    Returns:
        The `pathlib.Path` written.

    Raises:
        UsageError: `format` is unknown, a `.tflite` name is missing its
            suffix, the Keras backend is not TensorFlow, the model has no
            known inputs, or TFLite conversion failed (the message names the
            operators TFLite lacks).
        FileNotFoundError: no such model file, or no folder to write into.
        FileExistsError: `output` is a file where a folder goes, or the
            other way round, or a non-empty folder that is not a SavedModel.
        kerasblocks.saving.ModelFileError: `model` is not a `.keras` file.
    """
    output = pathlib.Path(output)
    _check_output(output, format)  # before seconds of loading and tracing
    keras = _keras_on_tensorflow()
    if isinstance(model, (str, os.PathLike)):
        model = saving.load_model(model, compile=False)
    elif not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a keras.Model or the path of a .keras file. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )
    if format == "savedmodel":
        with _files.atomic_directory(output) as folder:
            write_saved_model(model, folder)
    else:
        _files.write_bytes(output, tflite_flatbuffer(model))
    return output


def write_saved_model(model, folder):
    """Writes `model` as a SavedModel into `folder` (existing and empty).

    This is `model.export(folder, format="tf_saved_model")` with each weight
    stored once. Keras 3.15's export tracks the `keras.Variable` wrappers and
    also the `tf.Variable`s they hold, which the serving function captures:
    two Python objects for one buffer, so TensorFlow writes every weight twice,
    doubling the folder and the memory of every server that loads it
    (keras-team/keras#23553). Registering the `tf.Variable`s themselves as the
    `variables` collections keeps Keras' layout (`reloaded.variables`,
    `.trainable_variables`, `.non_trainable_variables`) with one copy.
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        SERVING_ENDPOINT,
        functools.partial(model.__call__, training=False),
        input_signature=_input_signature(model),
    )
    for name in ("variables", "trainable_variables", "non_trainable_variables"):
        # Outside an autocast scope `.value` is the backing tf.Variable.
        archive.add_variable_collection(name, [v.value for v in getattr(model, name)])
    archive.write_out(str(folder), verbose=False)


def tflite_flatbuffer(model):
    """Converts `model` to a TFLite flatbuffer of built-in operators (bytes).

    The path Keras' own LiteRT export takes, a SavedModel converted with
    `tf.lite.TFLiteConverter.from_saved_model`, but with built-in operators
    only: Keras also allows `SELECT_TF_OPS`, which turns a missing operator
    into a file that fails on a standard LiteRT runtime, far from its cause.
    (`TFLiteConverter.from_keras_model` is written for Keras 2 models.)

    Raises:
        UsageError: the conversion failed; the message names the operators
            TFLite lacks, or gives the converter's first error.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="kerasblocks-export-") as folder:
        write_saved_model(model, folder)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            with _native_stderr_silenced():
                return converter.convert()
        except Exception as error:  # any converter failure is the user's to fix
            raise UsageError(_conversion_failure_message(error, model)) from error


# --- checks --------------------------------------------------------------------


def _check_output(output, format):
    if format not in FORMATS:
        raise UsageError(
            f"Unknown export format {format!r}: use 'savedmodel' (a TensorFlow SavedModel "
            "folder) or 'tflite' (a .tflite file)."
        )
    _files.check_parent_exists(output)
    if format == "tflite":
        if output.suffix != TFLITE_SUFFIX:
            raise UsageError(
                f"A TFLite file name must end in '{TFLITE_SUFFIX}'. Received: output={output}"
            )
        if output.is_dir():
            raise FileExistsError(f"'{output}' exists and is a directory")
    elif output.exists():
        if not output.is_dir():
            raise FileExistsError(
                f"'{output}' exists and is not a directory (a SavedModel is a folder)"
            )
        # The folder is replaced whole: never one that holds something else.
        if any(output.iterdir()) and not any(
            (output / name).is_file() for name in SAVED_MODEL_FILES
        ):
            raise FileExistsError(
                f"'{output}' is a folder but not a SavedModel: exporting would replace "
                "everything in it. Choose a new folder, or remove this one first."
            )


def _keras_on_tensorflow():
    """Imports Keras; raises UsageError unless its backend is TensorFlow."""
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        # Keras can write a SavedModel from JAX through jax2tf, but TFLite
        # conversion needs TensorFlow graphs, and a `.keras` file loads on
        # any backend: one backend for both formats is the simple answer.
        raise UsageError(
            "SavedModel and TFLite export need the TensorFlow backend; Keras is running "
            f"on '{backend}'. Run with KERAS_BACKEND=tensorflow (a .keras file saved on "
            "any backend loads there)."
        )
    return keras


def _input_signature(model):
    """The serving function's signature: one argument, the model's inputs.

    A functional model is called with its inputs in the structure it was
    built with (a tensor, a list or a dict); a Sequential one with a tensor.
    The specs keep the input names, which become the signature's.
    """
    import keras
    import tensorflow as tf

    try:
        inputs = model.inputs[0] if isinstance(model, keras.Sequential) else model.input
    except (AttributeError, IndexError, ValueError) as error:
        raise UsageError(
            f"Model '{model.name}' has no known inputs to export: export a functional or "
            "Sequential model (kerasblocks.build makes functional ones)."
        ) from error
    return [
        keras.tree.map_structure(
            lambda tensor: tf.TensorSpec(tensor.shape, tensor.dtype, name=tensor.name), inputs
        )
    ]


# --- TFLite conversion errors ------------------------------------------------


def _conversion_failure_message(error, model):
    """The converter's key message: the operators TFLite lacks, or its first error."""
    details = list(getattr(error, "errors", None) or ())  # ConverterErrorData protos
    missing = {}  # operator -> the model's layer that uses it, in order of appearance
    for detail in details:
        if detail.ErrorCode.Name(detail.error_code) in _MISSING_OPERATOR_CODES:
            missing.setdefault(detail.operator.name, _layer_using(detail, model))
    if missing:
        listed = ", ".join(
            f"{operator} (in layer '{layer}')" if layer else operator
            for operator, layer in missing.items()
        )
        return (
            f"TFLite export failed: TFLite's built-in operators do not include {listed}. "
            "Export a SavedModel instead (format 'savedmodel'), or replace the layer that "
            "uses it."
        )
    if details and details[0].error_message:
        reason = details[0].error_message.strip().splitlines()[0]
    else:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = lines[0] if lines else type(error).__name__
    return f"TFLite export failed: {reason}"


def _layer_using(detail, model):
    """The name of `model`'s layer whose graph holds the failing operator.

    The operator's location reads `model/layer/.../Op@__inference_...`, in
    TensorFlow name scopes, which tracing may have made unique with a `_1`
    suffix: the scope below the model's is matched against its layer names.
    """
    layer_names = {layer.name for layer in model.layers}
    for call in detail.location.call:
        scopes = call.name.split("@", 1)[0].split("/")
        if len(scopes) < 3:  # model/layer/Op at least
            continue
        scope = scopes[1]
        if scope in layer_names:
            return scope
        unsuffixed = re.sub(r"_\d+$", "", scope)
        return unsuffixed if unsuffixed in layer_names else scope
    return ""


@contextlib.contextmanager
def _native_stderr_silenced():
    """Sends file descriptor 2 to /dev/null for the block.

    On failure the converter prints its MLIR diagnostics from C++ straight to
    the process's stderr; the exception it raises carries the same text, so
    hiding the copy loses nothing (`--debug` shows the exception chain).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
