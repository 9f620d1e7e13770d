"""The `kerasblocks` command line: output, exit codes, files, and no TensorFlow
where none is needed.

Most commands run in-process through `main(argv)` (fast); the checks on
`sys.modules` and the real entry point run in a subprocess.
"""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

import kerasblocks
from kerasblocks import api, cli

MLP_SPEC = textwrap.dedent(
    """\
    kerasblocks: 1
    name: mlp
    vars: {num_classes: 10}
    inputs:
      pixels: {shape: [784]}
    layers:
      - Dense: {units: 128, activation: relu, name: hidden1}
      - Dense: {units: 256, activation: relu, name: hidden2}
      - Dense: {units: $num_classes, name: logits}
    outputs: [logits]
    """
)

# Valid for the schema and expansion; Keras refuses the Add at build time.
SHAPE_CLASH_SPEC = textwrap.dedent(
    """\
    kerasblocks: 1
    name: clash
    inputs:
      image: {shape: [28, 28, 3]}
    layers:
      - Conv2D: {filters: 8, kernel_size: 3, strides: 2, padding: same, name: left}
      - Conv2D: {filters: 8, kernel_size: 3, padding: same, name: right, inputs: image}
      - Add: {inputs: [left, right], name: merge}
    outputs: [merge]
    """
)

# Two errors the validator finds without Keras: a misspelt type and argument.
INVALID_SPEC = textwrap.dedent(
    """\
    kerasblocks: 1
    name: typos
    inputs:
      x: {shape: [4]}
    layers:
      - Dens: {units: 3}
      - Dense: {unitz: 3}
    outputs: [x]
    """
)


@pytest.fixture
def spec_files(tmp_path):
    files = {}
    for name, text in [("mlp", MLP_SPEC), ("clash", SHAPE_CLASH_SPEC), ("typos", INVALID_SPEC)]:
        files[name] = tmp_path / f"{name}.yaml"
        files[name].write_text(text)
    return files


def run(capsys, *argv):
    """Runs the CLI in-process: (exit code, stdout, stderr)."""
    try:
        code = cli.main([str(arg) for arg in argv])
    except SystemExit as exit_:  # argparse: --help, --version, usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def run_subprocess(code):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


# --- help, version, usage -------------------------------------------------------

COMMANDS = ["build", "validate", "expand", "summary", "schema", "inspect", "list"]


def test_help_lists_every_command(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"usage: kerasblocks {command}")


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"kerasblocks {kerasblocks.__version__}")


@pytest.mark.parametrize(
    "argv", [[], ["frobnicate"], ["build"], ["validate"], ["build", "x.yaml", "--sett", "a=1"]]
)
def test_usage_errors_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage:" in err


def test_help_validate_expand_and_schema_leave_tensorflow_unloaded(spec_files):
    out = run_subprocess(
        f"""
        import sys
        from kerasblocks.cli import main
        codes = []
        try:
            main(["--help"])
        except SystemExit as exit_:
            codes.append(exit_.code)
        codes.append(main(["validate", {str(spec_files["mlp"])!r}, {str(spec_files["typos"])!r}]))
        codes.append(main(["expand", {str(spec_files["mlp"])!r}]))
        codes.append(main(["schema"]))
        codes.append(main(["list", "--no-counts"]))
        print("RESULT", codes, "tensorflow" in sys.modules, "keras" in sys.modules)
        """
    )
    result = out[out.index("RESULT") :].split(maxsplit=1)[1]
    assert result.strip() == "[0, 2, 0, 0, 0] False False"


def test_console_entry_point_runs_as_a_module(spec_files):
    result = subprocess.run(
        [sys.executable, "-m", "kerasblocks", "validate", str(spec_files["mlp"])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{spec_files['mlp']}: ok"


# --- validate, expand, schema ---------------------------------------------------------


def test_validate_reports_every_error_of_every_file(capsys, spec_files):
    code, out, err = run(
        capsys, "validate", spec_files["typos"], spec_files["mlp"], spec_files["typos"]
    )
    assert code == 2
    assert out.strip() == f"{spec_files['mlp']}: ok"  # the good one in between still checked
    typos = str(spec_files["typos"])
    assert err.count(f"{typos}:6:5: error: unknown layer type 'Dens'; did you mean 'Dense'?") == 2
    assert (
        err.count(f"{typos}:7:13: error: Dense has no argument 'unitz'; did you mean 'units'?") == 2
    )
    assert "Traceback" not in err


def test_validate_missing_file_exits_2_with_a_clear_message(capsys, tmp_path):
    code, _, err = run(capsys, "validate", tmp_path / "nope.yaml")
    assert code == 2
    assert "nope.yaml" in err and "Traceback" not in err


def test_expand_prints_the_expanded_spec(capsys, spec_files):
    code, out, _ = run(capsys, "expand", spec_files["mlp"], "--set", "num_classes=7")
    assert code == 0
    assert "logits" in out and "7" in out


def test_bad_var_override_exits_2(capsys, spec_files):
    code, _, err = run(capsys, "expand", spec_files["mlp"], "--set", "num_classes")
    assert code == 2
    assert "num_classes" in err and "Traceback" not in err


def test_schema_prints_json(capsys):
    code, out, _ = run(capsys, "schema")
    assert code == 0
    assert json.loads(out)["$schema"].startswith("https://json-schema.org/")


# --- build, summary, inspect --------------------------------------------------------


def test_build_writes_the_model_and_inspect_prints_the_spec_back(capsys, spec_files, tmp_path):
    model_file = tmp_path / "mlp.keras"
    code, out, err = run(capsys, "build", spec_files["mlp"], "-o", model_file)
    assert code == 0, err
    assert 'Model: "mlp"' in out
    assert "Parameters: 136,074 total, 136,074 trainable, 0 non-trainable" in out
    assert f"Wrote {model_file}" in out
    assert sorted(os.listdir(tmp_path)) == sorted(
        [*(p.name for p in spec_files.values()), "mlp.keras"]
    )

    code, out, err = run(capsys, "inspect", model_file)
    assert code == 0, err
    assert "model:       mlp" in out
    assert "parameters:  136,074 total, 136,074 trainable, 0 non-trainable" in out
    assert f"spec:        mlp from {spec_files['mlp']}" in out
    assert out.endswith("--- spec ---\n" + MLP_SPEC)


def test_build_with_vars_records_them(capsys, spec_files, tmp_path):
    model_file = tmp_path / "mlp5.keras"
    code, out, err = run(
        capsys, "build", spec_files["mlp"], "--set", "num_classes=5", "-o", model_file
    )
    assert code == 0, err
    assert "134,789 total" in out
    _, out, _ = run(capsys, "inspect", model_file)
    assert "vars:        num_classes=5" in out


def test_summary_builds_without_writing(capsys, spec_files, tmp_path):
    before = sorted(os.listdir(tmp_path))
    code, out, _ = run(capsys, "summary", spec_files["mlp"])
    assert code == 0
    assert "hidden2 (Dense)" in out and "136,074 total" in out
    assert sorted(os.listdir(tmp_path)) == before


def test_failing_build_leaves_no_file_and_keeps_a_previous_one(capsys, spec_files, tmp_path):
    code, _, err = run(capsys, "build", spec_files["clash"], "-o", tmp_path / "new.keras")
    assert code == 2
    assert err.startswith(
        f"{spec_files['clash']}:8:5: error: Add 'merge' got shapes (None, 14, 14, 8) from 'left' "
        "and (None, 28, 28, 8) from 'right'"
    )
    assert "hint:" in err and "Traceback" not in err
    assert not (tmp_path / "new.keras").exists()

    previous = tmp_path / "old.keras"
    previous.write_bytes(b"previous model")
    code, _, _ = run(capsys, "build", spec_files["clash"], "-o", previous)
    assert code == 2
    assert previous.read_bytes() == b"previous model"
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # no temporaries


def test_invalid_spec_fails_before_keras_work(capsys, spec_files, tmp_path):
    code, _, err = run(capsys, "build", spec_files["typos"], "-o", tmp_path / "t.keras")
    assert code == 2
    assert f"{spec_files['typos']}:6:" in err
    assert not (tmp_path / "t.keras").exists()


def test_build_refuses_an_output_without_keras_suffix(capsys, spec_files, tmp_path):
    code, _, err = run(capsys, "build", spec_files["mlp"], "-o", tmp_path / "mlp.h5")
    assert code == 2
    assert "must end in .keras" in err


def test_build_into_a_missing_directory_exits_2(capsys, spec_files, tmp_path):
    code, _, err = run(capsys, "build", spec_files["mlp"], "-o", tmp_path / "no" / "mlp.keras")
    assert code == 2
    assert "does not exist" in err and "Traceback" not in err


def test_inspect_bad_files_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "inspect", tmp_path / "missing.keras")
    assert code == 2 and "No such model file" in err
    junk = tmp_path / "junk.keras"
    junk.write_text("not a zip")
    code, _, err = run(capsys, "inspect", junk)
    assert code == 2 and "not a .keras model file" in err


def test_inspect_a_model_not_built_from_a_spec(capsys, tmp_path):
    import keras

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="plain")
    api.save_model(model, tmp_path / "plain.keras")
    code, out, _ = run(capsys, "inspect", tmp_path / "plain.keras")
    assert code == 0
    assert "model:       plain" in out and "8 total" in out
    assert "spec:        none" in out


# --- --debug and internal errors ------------------------------------------------------


def test_debug_shows_the_traceback_of_a_spec_error(capsys, spec_files):
    code, _, err = run(capsys, "--debug", "summary", spec_files["clash"])
    assert code == 2
    assert "Traceback" in err and "ValueError" in err  # the chained Keras error
    assert "error: Add 'merge'" in err


def test_internal_error_is_one_line_exit_1_and_debug_shows_it(capsys, spec_files, monkeypatch):
    def broken_build(spec, **vars):
        raise RuntimeError("the builder broke")

    monkeypatch.setattr(api, "build", broken_build)
    code, _, err = run(capsys, "summary", spec_files["mlp"])
    assert code == 1
    assert err.strip() == (
        "kerasblocks: internal error: RuntimeError: the builder broke "
        "(rerun with --debug for the traceback)"
    )
    code, _, err = run(capsys, "summary", spec_files["mlp"], "--debug")  # after the command too
    assert code == 1
    assert "Traceback" in err and "broken_build" in err


def test_saved_file_is_a_keras_archive_with_the_spec(capsys, spec_files, tmp_path):
    model_file = tmp_path / "m.keras"
    run(capsys, "build", spec_files["mlp"], "-o", model_file)
    with zipfile.ZipFile(model_file) as archive:
        metadata = json.loads(archive.read("metadata.json"))
    assert metadata["kerasblocks"]["spec"] == MLP_SPEC


# --- list ----------------------------------------------------------------------


def test_list_shows_every_shipped_spec_with_its_description(capsys):
    from kerasblocks.spec.catalog import shipped_specs

    code, out, _ = run(capsys, "list", "--no-counts")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(shipped_specs()) >= 11
    for line, spec in zip(lines, shipped_specs()):
        assert line.split(maxsplit=1) == [spec.name, spec.description]


def test_list_counts_parameters_by_building_each_spec(capsys, monkeypatch):
    from kerasblocks.spec import catalog

    mlp = [spec for spec in catalog.shipped_specs() if spec.name == "mlp_mnist"]
    monkeypatch.setattr(catalog, "shipped_specs", lambda: mlp)
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert out.splitlines()[1].strip() == (
        "136,074 total, 136,074 trainable, 0 non-trainable"
    )
