"""examples/train_inception_fashion.py runs end to end on a small subset.

The full run (one epoch of the 60,000 images, a few minutes on 2 CPU cores) is
not a test; this trains on the first 1,024 images (the installed Fashion-MNIST,
or generated IDX files where it is not installed) and checks the report.
"""

import importlib.util
from pathlib import Path

import pytest

from kerasblocks import datasets
from tests.test_datasets import fake_fashion_mnist

SCRIPT = Path(__file__).parents[1] / "examples" / "train_inception_fashion.py"


def load_script():
    spec = importlib.util.spec_from_file_location("train_inception_fashion", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_example_trains_on_a_subset_and_reports_the_test_accuracy(tmp_path, capsys):
    try:
        datasets.load_fashion_mnist()
        data_dir = None
    except FileNotFoundError:
        data_dir = tmp_path / "fashion-mnist"
        fake_fashion_mnist(data_dir, train=1024, test=1024)
    argv = ["--limit", "1024"] + (["--data-dir", str(data_dir)] if data_dir else [])
    accuracy = load_script().main(argv)
    assert 0.0 <= accuracy <= 1.0
    out = capsys.readouterr().out
    assert "inception_fashion: 294,218 parameters; 1024 training images" in out
    assert f"test accuracy: {accuracy:.4f} on 1024 images after 1 epoch(s)" in out
