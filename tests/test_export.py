"""Export for serving: the SavedModel and TFLite artefacts compute the Keras model.

Every comparison runs the exported artefact through its own runtime
(`tf.saved_model.load(...).serve`, a TFLite interpreter's signature runner)
on a small random batch and checks it against `model(x, training=False)`.
"""

import math
import textwrap
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasblocks
from kerasblocks import api, cli
from kerasblocks.errors import UsageError

# SavedModel runs the TensorFlow graph Keras traced: the same kernels, so the
# same numbers up to float32 rounding.
SAVEDMODEL_ATOL = 1e-5
# TFLite runs its own float32 kernels (XNNPACK on CPU), fused and reordered
# differently; observed differences are below 4e-6 on logits of size 5.
TFLITE_ATOL = 1e-4

# Shipped specs that together cover the four kerasblocks layers, at smaller
# vars where the spec has them: tracing and TFLite conversion take seconds.
CUSTOM_LAYER_SPECS = [
    ("l2softmax_cnn_mnist", {}),  # L2NormScale
    ("alexnet_mnist", {}),  # LRN
    ("resnet_preact", {"num_units": 1, "filters": 16}),  # ResidualUnit
    ("inception_fashion", {"stages": 1}),  # InceptionBlock (strides 2 and 1)
]
SAVEDMODEL_SPECS = [("mlp_mnist", {}), *CUSTOM_LAYER_SPECS]
TFLITE_SPECS = CUSTOM_LAYER_SPECS  # mlp_mnist: in the command line tests


TWO_INPUTS_TWO_OUTPUTS = textwrap.dedent(
    """\
    kerasblocks: 1
    name: two_heads
    inputs:
      pixels: {shape: [12]}
      extra: {shape: [3]}
    layers:
      - Dense: {units: 8, activation: relu, name: hidden, inputs: pixels}
      - Concatenate: {inputs: [hidden, extra], name: joined}
      - Dense: {units: 4, name: logits}
      - Dense: {units: 1, name: score, inputs: joined}
    outputs: [logits, score]
    """
)


# --- helpers -------------------------------------------------------------------


def spec_ids(specs):
    return [spec for spec, _ in specs]


def random_batch(model, batch_size=3, seed=0):
    """A float32 batch for each model input, in the model's input structure."""
    rng = np.random.default_rng(seed)
    batches = [
        rng.normal(size=(batch_size, *tensor.shape[1:])).astype("float32")
        for tensor in model.inputs
    ]
    return batches[0] if len(batches) == 1 else batches


def randomize_batch_norm_statistics(model, seed=0):
    """Moving statistics away from (0, 1), so inference mode is visible."""
    rng = np.random.default_rng(seed)
    for variable in model.non_trainable_variables:
        if variable.name == "moving_mean":
            variable.assign(rng.normal(scale=0.1, size=variable.shape))
        elif variable.name == "moving_variance":
            variable.assign(rng.uniform(0.5, 2.0, size=variable.shape))


def as_arrays(outputs):
    """One tensor or a list of them -> a list of NumPy arrays."""
    return [tensor.numpy() for tensor in (outputs if isinstance(outputs, list) else [outputs])]


def keras_outputs(model, x):
    return as_arrays(model(x, training=False))


def saved_model_outputs(folder, x):
    reloaded = tf.saved_model.load(str(folder))  # held: its variables live on it
    return as_arrays(reloaded.serve(x))


def tflite_interpreter(path):
    """LiteRT's interpreter where installed, else TensorFlow's (same API)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        with warnings.catch_warnings():  # TF 2.21: "tf.lite.Interpreter is deprecated"
            warnings.simplefilter("ignore", UserWarning)
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))


def tflite_outputs(path, model, x):
    """Runs the file's serving signature, inputs passed by the model's input names."""
    run = tflite_interpreter(path).get_signature_runner("serving_default")
    arrays = x if isinstance(x, list) else [x]
    results = run(**{tensor.name: array for tensor, array in zip(model.inputs, arrays)})
    return [results[f"output_{index}"] for index in range(len(model.outputs))]


def assert_outputs_close(actual, expected, atol):
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=atol)


def folder_snapshot(folder):
    """{relative path: bytes} of every file under `folder`."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def names_in(folder):
    return sorted(path.name for path in folder.iterdir())


class Determinant(keras.layers.Layer):
    """A layer whose op (MatrixDeterminant) has no TFLite built-in kernel."""

    def call(self, inputs):
        return tf.linalg.det(tf.reshape(inputs, (-1, 2, 2)))


# --- the artefacts compute the model ------------------------------------------


@pytest.mark.parametrize(("spec", "vars"), SAVEDMODEL_SPECS, ids=spec_ids(SAVEDMODEL_SPECS))
def test_saved_model_gives_the_keras_outputs(spec, vars, tmp_path):
    model = api.build(spec, **vars)
    randomize_batch_norm_statistics(model)
    x = random_batch(model)

    written = api.export(model, tmp_path / "export", format="savedmodel")

    assert written == tmp_path / "export"
    assert (written / "saved_model.pb").is_file()
    assert_outputs_close(saved_model_outputs(written, x), keras_outputs(model, x), SAVEDMODEL_ATOL)


@pytest.mark.parametrize(("spec", "vars"), TFLITE_SPECS, ids=spec_ids(TFLITE_SPECS))
def test_tflite_gives_the_keras_outputs(spec, vars, tmp_path):
    model = api.build(spec, **vars)
    randomize_batch_norm_statistics(model)
    x = random_batch(model)

    written = api.export(model, tmp_path / "model.tflite", format="tflite")

    assert written == tmp_path / "model.tflite"
    assert names_in(tmp_path) == ["model.tflite"]
    assert_outputs_close(tflite_outputs(written, model, x), keras_outputs(model, x), TFLITE_ATOL)


def test_several_inputs_and_outputs_keep_their_names(tmp_path):
    model = api.build(TWO_INPUTS_TWO_OUTPUTS)
    x = random_batch(model, batch_size=5)
    expected = keras_outputs(model, x)

    folder = api.export(model, tmp_path / "two_heads")
    file = api.export(model, tmp_path / "two_heads.tflite", format="tflite")

    reloaded = tf.saved_model.load(str(folder))
    inputs = reloaded.signatures["serving_default"].structured_input_signature[1]
    assert {name: spec.shape.as_list() for name, spec in inputs.items()} == {
        "pixels": [None, 12],
        "extra": [None, 3],
    }
    assert_outputs_close(saved_model_outputs(folder, x), expected, SAVEDMODEL_ATOL)
    assert_outputs_close(tflite_outputs(file, model, x), expected, TFLITE_ATOL)


def test_serving_signatures_name_the_inputs_and_keep_the_batch_dynamic(tmp_path):
    model = api.build("mlp_mnist")
    folder = api.export(model, tmp_path / "mlp")
    file = api.export(model, tmp_path / "mlp.tflite", format="tflite")

    reloaded = tf.saved_model.load(str(folder))
    signature = reloaded.signatures["serving_default"]
    assert signature.structured_input_signature == (
        (),
        {"pixels": tf.TensorSpec((None, 784), tf.float32, name="pixels")},
    )
    assert list(signature.structured_outputs) == ["output_0"]
    x = random_batch(model, batch_size=7)
    logits = signature(pixels=tf.constant(x))["output_0"]
    np.testing.assert_allclose(logits, keras_outputs(model, x)[0], atol=SAVEDMODEL_ATOL)

    interpreter = tflite_interpreter(file)
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["pixels"], "outputs": ["output_0"]}
    }
    (details,) = interpreter.get_input_details()
    assert details["shape_signature"].tolist() == [-1, 784]
    # The low-level API: resize the batch, then allocate.
    interpreter.resize_tensor_input(details["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(details["index"], x)
    interpreter.invoke()
    logits = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(logits, keras_outputs(model, x)[0], atol=TFLITE_ATOL)


def test_saved_model_stores_each_variable_once(tmp_path):
    # Keras 3.15's own model.export writes every variable twice (keras#23553).
    model = api.build("l2softmax_cnn_mnist")
    folder = api.export(model, tmp_path / "export")

    stored = tf.train.list_variables(str(folder / "variables" / "variables"))
    values = sum(
        math.prod(shape) for name, shape in stored if name != "_CHECKPOINTABLE_OBJECT_GRAPH"
    )
    # The weights plus Dropout's seed generator state (2 values).
    assert values == sum(math.prod(variable.shape) for variable in model.variables)
    assert values == model.count_params() + 2
    reloaded = tf.saved_model.load(str(folder))
    assert len(reloaded.variables) == len(model.variables)
    assert len(reloaded.trainable_variables) == len(model.trainable_variables)


# --- errors --------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp():
    return api.build("mlp_mnist")


def test_unknown_format_is_a_usage_error(mlp, tmp_path):
    with pytest.raises(UsageError, match=r"^Unknown export format 'onnx': use 'savedmodel'"):
        api.export(mlp, tmp_path / "out", format="onnx")
    assert names_in(tmp_path) == []


def test_tflite_file_name_needs_its_suffix(mlp, tmp_path):
    expected = r"must end in '\.tflite'\. Received: output=.*model\.tfl$"
    with pytest.raises(UsageError, match=expected):
        api.export(mlp, tmp_path / "model.tfl", format="tflite")


def test_output_kinds_and_folders_are_checked_first(mlp, tmp_path):
    (tmp_path / "taken").write_text("a file")
    (tmp_path / "folder.tflite").mkdir()
    with pytest.raises(FileExistsError, match="'.*taken' exists and is not a directory"):
        api.export(mlp, tmp_path / "taken", format="savedmodel")
    with pytest.raises(FileExistsError, match="'.*folder.tflite' exists and is a directory"):
        api.export(mlp, tmp_path / "folder.tflite", format="tflite")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        api.export(mlp, tmp_path / "missing" / "model.tflite", format="tflite")
    assert names_in(tmp_path) == ["folder.tflite", "taken"]


def test_a_folder_that_is_not_a_saved_model_is_never_replaced(mlp, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="'.*project' is a folder but not a SavedModel"):
        api.export(mlp, project)
    assert folder_snapshot(project) == {"notes.txt": b"keep me"}
    (tmp_path / "empty").mkdir()
    assert (api.export(mlp, tmp_path / "empty") / "saved_model.pb").is_file()


def test_other_backends_are_told_to_use_tensorflow(mlp, tmp_path, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(UsageError, match="need the TensorFlow backend; Keras is running on 'jax'"):
        api.export(mlp, tmp_path / "out")
    assert names_in(tmp_path) == []


def test_a_model_must_be_a_keras_model_or_a_path(tmp_path):
    with pytest.raises(TypeError, match="`model` must be a keras.Model or the path"):
        api.export(42, tmp_path / "out")


def test_an_op_tflite_lacks_fails_with_its_name_and_leaves_no_file(tmp_path, capfd):
    inputs = keras.Input((4,), name="values")
    model = keras.Model(inputs, Determinant(name="det")(inputs), name="det_net")
    output = tmp_path / "det.tflite"

    with pytest.raises(UsageError) as caught:
        api.export(model, output, format="tflite")

    assert str(caught.value) == (
        "TFLite export failed: TFLite's built-in operators do not include "
        "tf.MatrixDeterminant (in layer 'det'). Export a SavedModel instead (format "
        "'savedmodel'), or replace the layer that uses it."
    )
    assert names_in(tmp_path) == []
    # The converter's MLIR dump stays out of stderr; the chained error keeps it.
    assert "MatrixDeterminant" not in capfd.readouterr().err
    assert "MatrixDeterminant" in str(caught.value.__cause__)
    # The same model is fine as a SavedModel.
    x = np.arange(8, dtype="float32").reshape(2, 4)
    folder = api.export(model, tmp_path / "det")
    np.testing.assert_allclose(saved_model_outputs(folder, x)[0], [-2.0, -2.0], atol=1e-5)


# --- the command line ------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp_file(tmp_path_factory):
    """mlp_mnist saved by `kerasblocks build -o`."""
    path = tmp_path_factory.mktemp("model") / "mlp.keras"
    assert cli.main(["build", "mlp_mnist", "-o", str(path)]) == 0
    return path


def export_command(model, output, format):
    return cli.main(["export", str(model), "--format", format, "-o", str(output)])


def test_cli_exports_both_formats(mlp_file, tmp_path, capsys):
    model = kerasblocks.load_model(mlp_file, compile=False)
    x = random_batch(model)
    folder, file = tmp_path / "mlp", tmp_path / "mlp.tflite"

    assert export_command(mlp_file, folder, "savedmodel") == 0
    assert export_command(mlp_file, file, "tflite") == 0

    assert capsys.readouterr().out.splitlines() == [f"Wrote {folder}", f"Wrote {file}"]
    assert names_in(tmp_path) == ["mlp", "mlp.tflite"]
    assert_outputs_close(saved_model_outputs(folder, x), keras_outputs(model, x), SAVEDMODEL_ATOL)
    assert_outputs_close(tflite_outputs(file, model, x), keras_outputs(model, x), TFLITE_ATOL)


def test_cli_replaces_an_earlier_export_whole(mlp_file, tmp_path):
    folder, file = tmp_path / "mlp", tmp_path / "mlp.tflite"
    assert export_command(mlp_file, folder, "savedmodel") == 0
    (folder / "stale.txt").write_text("left in the earlier export")
    file.write_bytes(b"an earlier file")

    assert export_command(mlp_file, folder, "savedmodel") == 0
    assert export_command(mlp_file, file, "tflite") == 0

    assert names_in(folder) == ["assets", "fingerprint.pb", "saved_model.pb", "variables"]
    assert file.read_bytes()[4:8] == b"TFL3"  # the flatbuffer's file identifier
    assert names_in(tmp_path) == ["mlp", "mlp.tflite"]  # no temporary siblings


def test_cli_failed_tflite_export_keeps_the_earlier_file(mlp_file, tmp_path, monkeypatch, capsys):
    file = tmp_path / "mlp.tflite"
    assert export_command(mlp_file, file, "tflite") == 0
    earlier = file.read_bytes()

    from_saved_model = tf.lite.TFLiteConverter.from_saved_model

    def converter_that_fails(folder, *args, **kwargs):
        converter = from_saved_model(folder, *args, **kwargs)  # the SavedModel is written

        def convert():
            raise RuntimeError("converter failed midway")

        converter.convert = convert
        return converter

    monkeypatch.setattr(
        tf.lite.TFLiteConverter, "from_saved_model", staticmethod(converter_that_fails)
    )
    assert export_command(mlp_file, file, "tflite") == cli.EXIT_INVALID

    err = capsys.readouterr().err
    assert err == "kerasblocks: error: TFLite export failed: converter failed midway\n"
    assert file.read_bytes() == earlier
    assert names_in(tmp_path) == ["mlp.tflite"]


def test_cli_failed_saved_model_export_keeps_the_earlier_folder(mlp_file, tmp_path, monkeypatch):
    folder = tmp_path / "mlp"
    assert export_command(mlp_file, folder, "savedmodel") == 0
    earlier = folder_snapshot(folder)
    archive_class = type(keras.export.ExportArchive())  # __new__ gives the backend's class
    write_out = archive_class.write_out

    def write_out_then_fail(self, filepath, **kwargs):
        write_out(self, filepath, **kwargs)  # a whole SavedModel, not yet in place
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive_class, "write_out", write_out_then_fail)
    assert export_command(mlp_file, folder, "savedmodel") == cli.EXIT_INTERNAL_ERROR

    assert folder_snapshot(folder) == earlier
    assert names_in(tmp_path) == ["mlp"]


def test_cli_rejects_an_unknown_format(mlp_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        export_command(mlp_file, tmp_path / "out", "onnx")
    assert exited.value.code == 2
    assert "argument --format: invalid choice: 'onnx'" in capsys.readouterr().err
    assert names_in(tmp_path) == []


def test_cli_missing_model_file_is_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.keras"
    assert export_command(missing, tmp_path / "out", "savedmodel") == cli.EXIT_INVALID
    assert capsys.readouterr().err == f"kerasblocks: error: No such model file: '{missing}'\n"
    assert names_in(tmp_path) == []
