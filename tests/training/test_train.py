"""`kerasblocks train`, `evaluate` and `predict`: end to end, interrupted, real data, bad inputs."""

import csv
import os
import textwrap

import keras
import numpy as np
import pytest

import kerasblocks
from kerasblocks import cli, saving
from kerasblocks.datasets import FASHION_MNIST_DIR
from kerasblocks.training import DataError

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = textwrap.dedent(
    """\
    kerasblocks: 1
    name: tiny_cnn
    vars: {num_classes: 4}
    inputs:
      image: {shape: [8, 8, 1]}
    layers:
      - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
      - Flatten: {}
      - Dense: {units: $num_classes, name: logits}
    outputs: [logits]
    train:
      seed: 1
      epochs: 3
      batch_size: 16
      optimizer: {name: adam, learning_rate: 0.01}
      dataset: {name: generated, scale: 1/255, shift: -0.5, train_size: 128, test_size: 32}
    """
)
HAVE_FASHION = (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file() or bool(
    os.environ.get("KERASBLOCKS_DATA")
)


@pytest.fixture
def tiny_spec(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return str(path)


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_command_end_to_end(tmp_path, tiny_spec, capsys):
    out_dir = tmp_path / "run"
    final = tmp_path / "model.keras"
    code, out, err = run_cli(
        capsys, "train", tiny_spec, "--out-dir", str(out_dir), "-o", str(final), "--quiet"
    )
    assert code == 0, err
    assert "Test accuracy:" in out and "s per epoch" in out
    with open(out_dir / "history.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_time_s"} <= set(
        rows[0]
    )
    assert float(rows[-1]["val_accuracy"]) >= 0.75  # the generated classes are learnable
    png = (out_dir / "curves.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 1000
    for path in (final, out_dir / "best.keras", out_dir / "last.keras"):
        model = kerasblocks.load_model(path)
        assert model.name == "tiny_cnn"
        assert saving.read_metadata(path)["spec"].text == TINY  # the spec went along
    assert not list(out_dir.glob(".*"))  # no temporary files left

    code, out, _ = run_cli(capsys, "evaluate", str(final))
    assert code == 0
    assert "accuracy" in out and "(32 test samples)" in out
    accuracy = float(out.split("accuracy ")[1].split()[0])
    assert accuracy == pytest.approx(float(rows[-1]["val_accuracy"]), abs=1e-4)

    code, out, _ = run_cli(capsys, "predict", str(final), "--top-k", "2", "--limit", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("index") and len(lines) == 5
    assert lines[-1].startswith("top-1 correct:") and lines[-1].endswith("of 3")
    probabilities = [float(word.rstrip(",")) for word in lines[1].split()[2:]]
    assert len(probabilities) == 4 and probabilities[1] >= probabilities[3]  # class, p, class, p


def test_python_api_returns_model_and_history(tiny_spec):
    result = kerasblocks.train(tiny_spec, epochs=2, vars={"num_classes": 3}, verbose=0,
                               log=lambda _: None)
    assert result.model.output_shape == (None, 3)
    assert len(result.history["loss"]) == 2 and len(result.epoch_times) == 2
    assert result.files == {} and not result.interrupted  # no out_dir: nothing written
    assert 0 <= result.test["accuracy"] <= 1


class _InterruptAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._current == self.epoch and batch == 1:
            raise KeyboardInterrupt  # what Ctrl-C raises, in the middle of an epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch


def test_ctrl_c_keeps_the_last_complete_checkpoint(tmp_path, tiny_spec):
    out_dir = tmp_path / "run"
    result = kerasblocks.train(
        tiny_spec, epochs=5, out_dir=out_dir, callbacks=[_InterruptAtEpoch(2)], verbose=0,
        log=lambda _: None,
    )
    assert result.interrupted and result.epochs == 2 and result.test == {}
    with open(out_dir / "history.csv") as stream:
        assert len(list(csv.DictReader(stream))) == 2
    assert not (out_dir / "final.keras").exists()  # a half-trained model is not "final"
    last = kerasblocks.load_model(out_dir / "last.keras")
    assert last.name == "tiny_cnn"
    assert (out_dir / "curves.png").read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "best.keras", "curves.png", "history.csv", "last.keras"
    ]


@pytest.mark.skipif(not HAVE_FASHION, reason="Fashion-MNIST not installed")
def test_mlp_learns_fashion_mnist_subset(tmp_path, capsys):
    # 10,000 images, 2 epochs: well above chance (0.1) in a few seconds.
    code, out, err = run_cli(
        capsys, "train", "mlp_mnist", "--data", "fashion_mnist", "--epochs", "2",
        "--batch-size", "64", "--set", "train.dataset.limit=10000",
        "--set", "train.optimizer.name=adam", "--set", "train.optimizer.learning_rate=0.001",
        "--out-dir", str(tmp_path), "--quiet",
    )
    assert code == 0, err
    accuracy = float(out.split("Test accuracy: ")[1].split()[0])
    assert accuracy >= 0.75, out


# --- bad inputs: exit 2, a clear message, no files ------------------------------


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--data", "/no/such/folder"], "data folder '/no/such/folder' does not exist"),
        (["--set", "train.dataset.name=mnist"], "MNIST is not downloaded by kerasblocks"),
        (["--distribute", "multiworker"], "--distribute multiworker needs TF_CONFIG"),
        (["--set", "train.dataset.flatten=true"], "flatten to 64 values, but the model's input"),
        (["--set", "train.optimizer=adamm"], "<command line>: error: 'optimizer' must be"),
        (["-o", "model.h5"], "must end in .keras"),
    ],
)
def test_bad_inputs_exit_2_and_write_nothing(tmp_path, tiny_spec, capsys, monkeypatch, arguments,
                                             message):
    monkeypatch.delenv("KERASBLOCKS_DATA", raising=False)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    out_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", tiny_spec, "--out-dir", str(out_dir), *arguments)
    assert code == 2
    assert message in err, err
    assert "Traceback" not in err
    assert not out_dir.exists()


def test_wrong_image_shape_and_bad_labels_from_npz(tmp_path, capsys):
    images = np.zeros((20, 28, 28), np.uint8)
    np.savez(tmp_path / "wrong.npz", x_train=images, y_train=np.zeros(20, np.int64))
    code, _, err = run_cli(capsys, "train", "mlp_mnist", "--data", str(tmp_path / "wrong.npz"),
                           "--set", "train.dataset.flatten=false", "--out-dir", str(tmp_path / "a"))
    assert code == 2
    assert "x_train images have shape 28x28 but the model's input has shape 784" in err
    assert "add `flatten: true`" in err

    np.savez(tmp_path / "labels.npz", x_train=images, y_train=np.full(20, 12))
    code, _, err = run_cli(capsys, "train", "mlp_mnist", "--data", str(tmp_path / "labels.npz"),
                           "--out-dir", str(tmp_path / "b"))
    assert code == 2 and "labels from 12 to 12, but the model has 10 outputs" in err

    np.savez(tmp_path / "keys.npz", images=images)
    code, _, err = run_cli(capsys, "train", "mlp_mnist", "--data", str(tmp_path / "keys.npz"),
                           "--out-dir", str(tmp_path / "c"))
    assert code == 2 and "no x_train, y_train in the file (it has: images)" in err
    assert not any((tmp_path / name).exists() for name in "abc")


def test_spec_without_train_section_and_no_flags(tmp_path, capsys):
    path = tmp_path / "bare.yaml"
    path.write_text(TINY.split("train:")[0])
    code, _, err = run_cli(capsys, "train", str(path), "--out-dir", str(tmp_path / "run"))
    assert code == 2
    assert "no `train:` section and no --data was given" in err
    assert not (tmp_path / "run").exists()


def test_idx_folder_and_npz_sources(tmp_path):
    from kerasblocks.training.config import DatasetConfig
    from kerasblocks.training.data import load_arrays

    folder = tmp_path / "idx"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem, count in (("train", 12), ("t10k", 4)):
        images = rng.integers(0, 255, (count, 8, 8), dtype=np.uint8)
        labels = rng.integers(0, 4, count, dtype=np.uint8)
        write_idx(folder / f"{stem}-images-idx3-ubyte", images, gz=stem == "train")
        write_idx(folder / f"{stem}-labels-idx1-ubyte", labels, gz=stem == "train")
    arrays = load_arrays(DatasetConfig(name="idx", path=str(folder)))
    assert arrays.x_train.shape == (12, 8, 8) and arrays.x_test.shape == (4, 8, 8)
    np.savez(tmp_path / "d.npz", x_train=arrays.x_train, y_train=arrays.y_train)
    arrays = load_arrays(DatasetConfig(name="npz", path=str(tmp_path / "d.npz"), limit=5))
    assert arrays.x_train.shape == (5, 8, 8) and arrays.x_test is None
    with pytest.raises(DataError, match="not found.*apt-get install dataset-fashion-mnist"):
        load_arrays(DatasetConfig(name="fashion_mnist", path=str(tmp_path / "nothing")))


def write_idx(path, array, gz=False):
    import gzip

    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)


def test_sigint_to_the_command_stops_cleanly(tmp_path, tiny_spec):
    import signal
    import subprocess
    import sys
    import time

    out_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "kerasblocks", "train", tiny_spec, "--epochs", "500",
         "--set", "train.dataset.train_size=2048", "--out-dir", str(out_dir), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        # A shell's background job (`cmd &`) starts with SIGINT ignored, and
        # children inherit that: give the command the default disposition.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # Generous: on a loaded machine TensorFlow's start-up alone can take a minute.
        deadline = time.monotonic() + 300
        history = out_dir / "history.csv"
        while not (history.exists() and history.read_text().count("\n") >= 3):  # 2 epochs
            assert process.poll() is None, process.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no 2 epochs within 300 s"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err[-2000:]
    assert "Interrupted:" in out and "complete epoch(s) kept" in out
    assert not (out_dir / "final.keras").exists()
    rows = history.read_text().count("\n") - 1
    assert rows >= 2
    assert kerasblocks.load_model(out_dir / "last.keras").name == "tiny_cnn"
    assert not list(out_dir.glob(".*"))  # no half-written temporary files


def test_auxiliary_outputs_with_loss_weights(tmp_path):
    spec = textwrap.dedent(
        """\
        kerasblocks: 1
        name: two_heads
        inputs:
          image: {shape: [8, 8, 1]}
        layers:
          - Flatten: {name: features}
          - Dense: {units: 4, name: logits}
          - Dense: {units: 4, inputs: features, name: aux}
        outputs: [logits, aux]
        train:
          epochs: 2
          batch_size: 16
          loss_weights: {aux: 0.3}
          dataset: {name: generated, scale: 1/255, train_size: 64, test_size: 16}
        """
    )
    result = kerasblocks.train(spec, out_dir=tmp_path, verbose=0, log=lambda _: None)
    # The main (first) output's metrics keep their plain names; the aux head's loss is kept too.
    assert {"loss", "accuracy", "val_accuracy", "aux_loss"} <= set(result.history)
    assert set(result.test) >= {"loss", "accuracy"}
    assert result.model.get_compile_config()["loss_weights"] == [1.0, 0.3]
    assert kerasblocks.load_model(tmp_path / "final.keras").output_names == ["logits", "aux"]
