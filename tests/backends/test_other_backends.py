"""The layer tests and the spec smoke test, rerun on the JAX and PyTorch backends.

Keras picks its backend once per process (`KERAS_BACKEND`), so each backend
gets a fresh `python -m pytest` in a subprocess, from this repository's root:
the whole of `tests/layers` (the shared layer checks and every numeric test)
and `test_spec_on_backend.py` (specs built there give TensorFlow's outputs;
`.keras` files saved on TensorFlow load there). A backend whose package is not
installed is skipped, with the `pip install` line that brings it.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from tests.backends.test_spec_on_backend import REFERENCE_ENV, write_tensorflow_reference

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# What each backend runs, relative to the repository root. Everything on both:
# about 5 minutes on JAX (it compiles every eager op) and 1.5 on PyTorch, on
# the project's 2-core machine.
TEST_PATHS = {
    "jax": ["tests/layers", "tests/backends/test_spec_on_backend.py"],
    "torch": ["tests/layers", "tests/backends/test_spec_on_backend.py"],
}
INSTALL = {"jax": "pip install jax jaxlib", "torch": "pip install torch==2.13.0"}
TIMEOUT_SECONDS = 1500
OUTPUT_TAIL_CHARS = 8000


@pytest.fixture(scope="module")
def tensorflow_reference(tmp_path_factory):
    """A reference written here, once for both backends, when this process
    runs on TensorFlow; else `None` (each run then writes its own)."""
    if keras.backend.backend() != "tensorflow":
        return None
    directory = tmp_path_factory.mktemp("tensorflow_reference")
    write_tensorflow_reference(directory)
    return directory


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(TEST_PATHS))
def test_layer_and_spec_tests_pass_on_backend(backend, request):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed ({INSTALL[backend]})")
    if keras.backend.backend() == backend:
        pytest.skip(f"this process already runs on {backend}: the tests ran here")
    tensorflow_reference = request.getfixturevalue("tensorflow_reference")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    if tensorflow_reference is not None:
        env[REFERENCE_ENV] = str(tensorflow_reference)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += TEST_PATHS[backend]
    try:
        result = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as timeout:
        output = timeout.stdout or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        pytest.fail(
            f"KERAS_BACKEND={backend} python {' '.join(command[1:])} ran over "
            f"{TIMEOUT_SECONDS} s; its output ended with:\n{output[-OUTPUT_TAIL_CHARS:]}"
        )
    assert result.returncode == 0, (
        f"KERAS_BACKEND={backend} python {' '.join(command[1:])} exited with "
        f"{result.returncode}; its output ended with:\n"
        f"{result.stdout[-OUTPUT_TAIL_CHARS:]}"
    )
