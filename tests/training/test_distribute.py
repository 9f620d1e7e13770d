"""`--distribute mirrored` (two logical CPU devices) and `multiworker` (two local processes)."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

SPEC = textwrap.dedent(
    """\
    kerasblocks: 1
    name: tiny_cnn
    inputs:
      image: {shape: [8, 8, 1]}
    layers:
      - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
      - BatchNormalization: {}
      - Flatten: {}
      - Dense: {units: 4, name: logits}
    outputs: [logits]
    train:
      epochs: 2
      batch_size: 16
      optimizer: {name: adam, learning_rate: 0.01}
      dataset: {name: generated, scale: 1/255, shift: -0.5, train_size: 128, test_size: 32}
    """
)
MIRRORED = textwrap.dedent(
    """\
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import kerasblocks
    result = kerasblocks.train(sys.argv[1], distribute="mirrored", out_dir=sys.argv[2], verbose=0)
    print("replicas", result.replicas)
    model = kerasblocks.load_model(result.files["final"])
    print("loaded", model.name)
    """
)


def environment():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return env


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC)
    return path


def test_mirrored_on_two_logical_cpus(tmp_path, spec_file):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    done = subprocess.run(
        [sys.executable, str(script), str(spec_file), str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, env=environment(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "replicas 2" in done.stdout and "loaded tiny_cnn" in done.stdout
    assert (tmp_path / "run" / "history.csv").read_text().count("\n") == 3


def test_two_workers_on_localhost(tmp_path, spec_file):
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "kerasblocks", "train", str(spec_file), "--distribute",
                 "multiworker", "--out-dir", str(tmp_path / "run"), "--quiet",
                 "-o", str(tmp_path / f"worker{index}.keras")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=dict(environment(), TF_CONFIG=json.dumps(config)),
            )
        )
    try:
        outputs = [process.communicate(timeout=300) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
        assert "with 2 replica(s)" in out
    # The chief (worker 0) writes the files; worker 1 writes into a scratch folder.
    assert (tmp_path / "worker0.keras").is_file() and not (tmp_path / "worker1.keras").exists()
    assert (tmp_path / "run" / "history.csv").read_text().count("\n") == 3
    import kerasblocks

    assert kerasblocks.load_model(tmp_path / "worker0.keras").name == "tiny_cnn"
