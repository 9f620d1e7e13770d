"""The Python API: build, save (atomically, with the spec), load, inspect."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest

import kerasblocks
from kerasblocks import api, saving
from kerasblocks.errors import SpecError

MLP_SPEC = textwrap.dedent(
    """\
    kerasblocks: 1
    name: mlp
    description: the article's MNIST MLP
    vars: {hidden: 128, num_classes: 10}
    inputs:
      pixels: {shape: [784]}
    layers:
      - Dense: {units: $hidden, activation: relu, name: hidden1}
      - Dense: {units: 256, activation: relu, name: hidden2}
      - Dense: {units: $num_classes, name: logits}
    outputs: [logits]
    """
)


def to_numpy(tensor):
    return tensor.numpy()  # TF backend; np.asarray warns under NumPy 2


def random(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.fixture(scope="module")
def mlp():
    """The MLP built from its spec with one var overridden."""
    return api.build(MLP_SPEC, num_classes=5)


# --- package surface -----------------------------------------------------------


def test_api_is_served_lazily_from_the_package():
    for name in (
        "load_spec",
        "validate",
        "expand",
        "build",
        "save_model",
        "load_model",
        "inspect_model",
    ):
        assert getattr(kerasblocks, name) is getattr(api, name)
        assert name in dir(kerasblocks)
    assert kerasblocks.SpecError is SpecError


def test_spec_functions_do_not_import_keras():
    code = textwrap.dedent(
        f"""
        import sys, kerasblocks
        spec = kerasblocks.load_spec({MLP_SPEC!r})
        kerasblocks.validate(spec)
        graph = kerasblocks.expand(spec, num_classes=3)
        assert graph.layers[-1].arguments["units"] == 3
        print("keras" in sys.modules, "tensorflow" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["False", "False"]


# --- build -----------------------------------------------------------------------


def test_build_applies_vars_and_remembers_the_spec(mlp):
    assert mlp.name == "mlp"
    assert [layer.name for layer in mlp.layers] == ["pixels", "hidden1", "hidden2", "logits"]
    assert mlp.output.shape == (None, 5)
    record = saving.spec_record_of(mlp)
    assert record.text == MLP_SPEC
    assert record.vars == {"num_classes": 5}
    assert record.kerasblocks_version == kerasblocks.__version__


def test_build_with_default_vars_has_the_article_parameter_count():
    assert api.build(MLP_SPEC).count_params() == 136_074


def test_build_accepts_a_loaded_spec_and_an_expanded_graph():
    spec = api.load_spec(MLP_SPEC)
    assert api.build(spec).count_params() == 136_074
    assert api.build(api.expand(spec)).count_params() == 136_074
    with pytest.raises(TypeError, match="no vars"):
        api.build(api.expand(spec), hidden=3)


def test_a_graph_keeps_the_vars_it_was_expanded_with(tmp_path):
    graph = api.expand(MLP_SPEC, num_classes=3)
    assert graph.vars == {"num_classes": 3}
    model = api.build(graph)
    assert model.output.shape == (None, 3)
    path = api.save_model(model, tmp_path / "mlp3.keras")
    assert api.inspect_model(path, count_params=False)["spec"].vars == {"num_classes": 3}


def test_build_error_is_a_spec_error_at_the_line():
    broken = MLP_SPEC.replace(
        "  - Dense: {units: 256, activation: relu, name: hidden2}",
        "  - Conv2D: {filters: 4, kernel_size: 3, name: conv}",
    )
    with pytest.raises(SpecError) as caught:
        api.build(broken)
    assert caught.value.line == 9
    assert caught.value.message.startswith("Conv2D 'conv' got shape (None, 128) from 'hidden1'")


# --- save, load, inspect ---------------------------------------------------------------


def test_save_load_gives_identical_outputs_and_keeps_the_spec(mlp, tmp_path):
    path = api.save_model(mlp, tmp_path / "mlp.keras")
    assert path == tmp_path / "mlp.keras"
    assert sorted(os.listdir(tmp_path)) == ["mlp.keras"]  # no temporary left

    loaded = api.load_model(path)
    x = random(3, 784)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(mlp(x)))
    assert saving.spec_record_of(loaded) == saving.spec_record_of(mlp)

    # Saved again after loading, the file still carries the spec.
    api.save_model(loaded, tmp_path / "again.keras")
    assert api.inspect_model(tmp_path / "again.keras", count_params=False)["spec"].text == MLP_SPEC


def test_spec_lives_in_metadata_json_and_keras_loads_the_file_unchanged(mlp, tmp_path):
    path = api.save_model(mlp, tmp_path / "mlp.keras")
    with zipfile.ZipFile(path) as archive:
        # Exactly Keras's three members: more would make Keras's loader
        # extract the whole archive on every load.
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        metadata = json.loads(archive.read("metadata.json"))
    assert metadata["keras_version"] == keras.__version__
    assert metadata["kerasblocks"] == {
        "version": kerasblocks.__version__,
        "spec_name": "mlp",
        "spec_file": saving.spec_record_of(mlp).file,
        "vars": {"num_classes": 5},
        "spec": MLP_SPEC,
    }
    plain = keras.saving.load_model(path)  # Keras's own loader, safe mode
    x = random(2, 784)
    np.testing.assert_array_equal(to_numpy(plain(x)), to_numpy(mlp(x)))


def test_inspect_model(mlp, tmp_path):
    path = api.save_model(mlp, tmp_path / "mlp.keras")
    info = api.inspect_model(path)
    assert info["model_name"] == "mlp"
    assert info["keras_version"] == keras.__version__
    assert info["spec"].text == MLP_SPEC
    assert info["spec"].vars == {"num_classes": 5}
    assert info["params"] == {"total": 134_789, "trainable": 134_789, "non_trainable": 0}


def test_plain_keras_models_save_and_inspect_without_a_spec(tmp_path):
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.BatchNormalization()(keras.layers.Dense(2)(x)))
    path = api.save_model(model, tmp_path / "plain.keras")
    info = api.inspect_model(path)
    assert info["spec"] is None
    assert info["params"] == {"total": 16, "trainable": 12, "non_trainable": 4}
    assert saving.spec_record_of(api.load_model(path)) is None


def test_failed_save_keeps_the_previous_file_and_leaves_no_temporary(mlp, tmp_path, monkeypatch):
    path = tmp_path / "mlp.keras"
    path.write_bytes(b"previous model")

    def broken_copy(source, target, extra_metadata):
        target.write_bytes(b"half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(saving, "_copy_archive_with_metadata", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        api.save_model(mlp, path)
    assert path.read_bytes() == b"previous model"
    assert sorted(os.listdir(tmp_path)) == ["mlp.keras"]


def test_save_refuses_other_suffixes_and_missing_directories(mlp, tmp_path):
    with pytest.raises(ValueError, match="must end in `.keras`"):
        api.save_model(mlp, tmp_path / "mlp.h5")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        api.save_model(mlp, tmp_path / "missing" / "mlp.keras")
    assert os.listdir(tmp_path) == []


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such model file"):
        api.load_model(tmp_path / "nothing.keras")
    not_a_model = tmp_path / "text.keras"
    not_a_model.write_text("hello")
    with pytest.raises(saving.ModelFileError, match="not a .keras model file"):
        api.load_model(not_a_model)


def test_fresh_process_loads_a_saved_spec_model_with_only_import_kerasblocks(tmp_path):
    spec = MLP_SPEC.replace(
        "  - Dense: {units: $num_classes, name: logits}",
        "  - L2NormScale: {alpha: 4.0}\n  - Dense: {units: $num_classes, name: logits}",
    )
    model = api.build(spec)
    path = api.save_model(model, tmp_path / "l2.keras")
    x = random(2, 784)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", to_numpy(model(x)))
    code = textwrap.dedent(
        f"""
        import numpy as np, kerasblocks
        model = kerasblocks.load_model({str(path)!r})
        x, y = np.load({str(tmp_path / "x.npy")!r}), np.load({str(tmp_path / "y.npy")!r})
        np.testing.assert_array_equal(model.predict(x, verbose=0), y)
        print(type(model.get_layer(index=3)).__name__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "L2NormScale"
