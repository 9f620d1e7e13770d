"""Hostile input: specs and model files run no code, import nothing, exhaust nothing.

SECURITY.md states the threat model; each promise there has a test here:
- YAML tags never construct objects (`!!python/...` is refused, located, and
  its side effect does not happen, where `yaml.unsafe_load` would do it);
- layer types come from a closed table: code-carrying layers are refused, and
  a `package>Class` name is looked up among registered objects, never imported;
- `.keras` files load in Keras' safe mode: a Lambda's code does not run;
- every resource bound gives a located error, not a hang or a RecursionError;
- every file kerasblocks writes is written atomically;
- the CLI answers bad input with exit code 2 and a message, never a traceback
  (`--debug` shows it).
"""

import builtins
import csv
import inspect
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from kerasblocks import _files, api, cli, saving
from kerasblocks.errors import SpecError
from kerasblocks.spec import checks, expand, expressions, parse
from kerasblocks.spec import vars as spec_vars

PACKAGE_DIR = Path(api.__file__).parent
HEAD = "kerasblocks: 1\nname: hostile\ninputs:\n  x: {shape: [4]}\n"
CODE_CARRYING_TYPES = ("Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer")


def _spec_error(text):
    """The SpecError that validating `text` raises; every diagnostic must be located."""
    with pytest.raises(SpecError) as caught:
        api.validate(text)
    for diagnostic in caught.value.diagnostics:
        assert diagnostic.location.line is not None and diagnostic.location.line >= 1
    return caught.value


def _line_of(text, fragment):
    """1-based number of the first line of `text` containing `fragment`."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.fixture
def default_recursion_limit():
    """Python's default limit, as in a fresh `kerasblocks validate` process.

    Importing TensorFlow raises the limit to 3000; these tests must not pass
    only because some earlier test imported it.
    """
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(limit)


# --- YAML: no tag constructs anything -------------------------------------------------

TAGGED_VALUES = [
    ("!!python/object/apply:os.mkdir [{marker}]", "!!python/object/apply:os.mkdir"),
    ("!!python/object/new:os.mkdir [{marker}]", "!!python/object/new:os.mkdir"),
    ("!<tag:yaml.org,2002:python/object/apply:os.mkdir> [{marker}]",
     "!!python/object/apply:os.mkdir"),
    ("!!python/name:os.system", "!!python/name:os.system"),
    ("!!python/module:os", "!!python/module:os"),
    ("!!python/object:argparse.Namespace {{a: 1}}", "!!python/object:argparse.Namespace"),
    ("!!binary aGVsbG8=", "!!binary"),
    ("!custom 1", "!custom"),
]


@pytest.mark.parametrize("value, tag", TAGGED_VALUES, ids=[tag for _, tag in TAGGED_VALUES])
def test_yaml_tags_are_refused_at_their_line_and_run_nothing(tmp_path, value, tag):
    marker = tmp_path / "created_by_the_spec"
    line = f"      kernel_initializer: {value.format(marker=marker)}"
    text = HEAD + "layers:\n  - Dense:\n      units: 2\n" + line + "\n"
    error = _spec_error(text)
    assert error.message == f"YAML tag '{tag}' is not allowed"
    assert error.line == 8
    assert error.column == line.index("!") + 1
    assert not marker.exists()


def test_the_payload_is_live_with_an_unsafe_yaml_loader(tmp_path):
    """The reference: PyYAML's unsafe loader runs what kerasblocks refuses."""
    marker = tmp_path / "created_by_the_spec"
    yaml.unsafe_load(f"!!python/object/apply:os.mkdir [{marker}]")
    assert marker.is_dir()


def test_tags_on_keys_and_through_tag_directives_are_refused(tmp_path):
    marker = tmp_path / "created_by_the_spec"
    on_key = HEAD + "layers:\n  - Dense:\n      ? !!python/name:os.system\n      : 2\n"
    assert _spec_error(on_key).message == "YAML tag '!!python/name:os.system' is not allowed"
    directive = (
        "%TAG !py! tag:yaml.org,2002:python/\n---\n" + HEAD
        + f"layers:\n  - Dense: {{units: !py!object/apply:os.mkdir [{marker}]}}\n"
    )
    error = _spec_error(directive)
    assert error.message == "YAML tag '!!python/object/apply:os.mkdir' is not allowed"
    assert error.line == 8
    assert not marker.exists()


# --- layer types: a closed table, nothing imported by name ---------------------------


@pytest.mark.parametrize("type_name", CODE_CARRYING_TYPES)
def test_code_carrying_layer_types_are_refused_everywhere(type_name):
    refusal = (
        f"{type_name} layers can carry code and are refused in specs; "
        "write a registered custom layer instead"
    )
    as_layer = HEAD + f"layers:\n  - Flatten: {{}}\n  - {type_name}: {{}}\n"
    error = _spec_error(as_layer)
    assert (error.message, error.line, error.column) == (refusal, 7, 5)
    in_stack = HEAD + f"layers:\n  - stack: {type_name}\n    with: [{{}}]\n"
    assert _spec_error(in_stack).message == refusal
    in_defaults = HEAD + f"defaults:\n  {type_name}: {{}}\nlayers:\n  - Flatten: {{}}\n"
    assert _spec_error(in_defaults).message == refusal


@pytest.mark.parametrize("type_name", CODE_CARRYING_TYPES)
def test_the_refused_types_do_take_code_in_keras(type_name):
    """The reference: each refused class's constructor takes a function, module or file."""
    keras = pytest.importorskip("keras")
    parameters = set(inspect.signature(getattr(keras.layers, type_name).__init__).parameters)
    assert parameters & {"function", "call_fn", "module", "filepath"}


@pytest.mark.parametrize(
    "type_name, module",
    [("antigravity>Fly", "antigravity"), ("this>Zen", "this"), ("os>system", "os"),
     ("subprocess>Popen", "subprocess")],
)
def test_a_plugin_name_is_looked_up_never_imported(monkeypatch, type_name, module):
    text = HEAD + f"layers:\n  - {type_name}: {{units: 2}}\n"
    assert api.validate(text) == []  # the form of a registered name: judged at build
    imported = []
    real_import = builtins.__import__

    def recording_import(name, *args, **kwargs):
        imported.append(name)
        return real_import(name, *args, **kwargs)

    was_loaded = module in sys.modules
    monkeypatch.setattr(builtins, "__import__", recording_import)
    with pytest.raises(SpecError) as caught:
        api.build(text)
    monkeypatch.undo()
    assert caught.value.message == f"no layer is registered as '{type_name}'"
    assert caught.value.line == 6
    if not was_loaded:  # `os` is always loaded, and Keras may import it lazily
        assert module not in imported and module not in sys.modules


def test_a_registered_lambda_subclass_is_refused():
    keras = pytest.importorskip("keras")

    @keras.saving.register_keras_serializable(package="kerasblocks_security_test")
    class Sneaky(keras.layers.Lambda):
        pass

    with pytest.raises(SpecError, match="is a Lambda layer; Lambda layers can carry code"):
        api.build(HEAD + "layers:\n  - kerasblocks_security_test>Sneaky: {}\n")


@pytest.mark.parametrize(
    "argument, expected",
    [
        ("activation: {class_name: function, config: mkdir, module: os}", "'module'"),
        ("kernel_initializer: {class_name: Zeros, config: {}, registered_name: os>system}",
         "'registered_name'"),
        ("activation: {class_name: __lambda__, config: {code: AAAA}}", "'__lambda__'"),
    ],
)
def test_keras_configs_in_a_spec_cannot_name_modules_or_code(argument, expected):
    error = _spec_error(HEAD + f"layers:\n  - Dense: {{units: 2, {argument}}}\n")
    assert expected in error.message and "not allowed in a spec" in error.message
    assert error.line == 6


# --- .keras files: safe mode -------------------------------------------------------------


@pytest.fixture
def lambda_model(tmp_path):
    """A `.keras` file with a Lambda whose code creates a file when it runs."""
    keras = pytest.importorskip("keras")
    marker = tmp_path / "lambda_ran"

    def make_function(path):  # a closure: Keras stores the lambda's bytecode
        return lambda tensor: (open(path, "w").close(), tensor * 2)[1]

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(make_function(str(marker)))(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    marker.unlink()  # building ran the lambda once
    return path, marker


def test_a_lambda_model_does_not_load_and_its_code_does_not_run(lambda_model):
    path, marker = lambda_model
    with pytest.raises(saving.UnsafeModelError, match="safe mode"):
        api.load_model(path)
    assert not marker.exists()


def test_the_lambda_code_is_live_without_safe_mode(lambda_model):
    """The reference: Keras with safe mode off runs it (loading calls the layer)."""
    keras = pytest.importorskip("keras")
    path, marker = lambda_model
    keras.saving.load_model(path, safe_mode=False)
    assert marker.exists()


def test_inspect_and_from_keras_refuse_a_lambda_model_cleanly(capsys, lambda_model):
    path, marker = lambda_model
    assert cli.main(["inspect", str(path)]) == 2
    assert "safe mode" in capsys.readouterr().out
    assert cli.main(["from-keras", str(path)]) == 2
    stderr = capsys.readouterr().err
    assert "safe mode" in stderr and "Traceback" not in stderr
    assert not marker.exists()


def test_load_model_refuses_other_suffixes_and_malformed_metadata(tmp_path):
    import json
    import zipfile

    renamed = tmp_path / "model.h5"
    with zipfile.ZipFile(renamed, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", "{}")
    with pytest.raises(saving.ModelFileError, match="must end in .keras"):
        api.load_model(renamed)
    malformed = tmp_path / "model.keras"
    with zipfile.ZipFile(malformed, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"kerasblocks": ["not", "a", "record"]}))
        archive.writestr("config.json", json.dumps({"config": []}))
    with pytest.raises(saving.ModelFileError, match="malformed 'kerasblocks' record"):
        saving.read_metadata(malformed)
    with zipfile.ZipFile(malformed, "w") as archive:
        archive.writestr("metadata.json", "[1, 2]")
        archive.writestr("config.json", "{}")
    with pytest.raises(saving.ModelFileError, match="does not hold a JSON object"):
        saving.read_metadata(malformed)


def test_a_zip_bomb_metadata_member_is_not_decompressed(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setattr(saving, "MAX_JSON_MEMBER_BYTES", 1000)
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", "{" + " " * 5000 + "}")
        archive.writestr("config.json", "{}")
    with pytest.raises(saving.ModelFileError, match="metadata.json is 5,002 bytes; the limit"):
        saving.read_metadata(bomb)


# --- resource bounds ------------------------------------------------------------------


def test_billion_laughs_is_refused_at_the_alias():
    levels = ["  a: &a [x, x, x, x, x, x, x, x, x, x]"] + [
        f"  {name}: &{name} [{', '.join([f'*{previous}'] * 10)}]"
        for previous, name in zip("abcdefgh", "bcdefghi")
    ]
    text = HEAD + "vars:\n" + "\n".join(levels) + "\nlayers: [Flatten: {}]\n"
    error = _spec_error(text)
    assert error.message.startswith(f"the spec expands to more than {parse.MAX_VALUES} values")


def test_text_size_is_bounded(tmp_path):
    text = HEAD + "layers: [Flatten: {}]\n" + "#" * parse.MAX_TEXT_CHARS
    error = _spec_error(text)
    assert error.message == f"the spec is {len(text)} characters long; the limit is 1000000"
    big_file = tmp_path / "big.yaml"
    big_file.write_text("#" * (4 * parse.MAX_TEXT_CHARS + 1))
    with pytest.raises(SpecError, match="too large for a spec"):
        api.load_spec(big_file)


def test_nesting_depth_is_bounded():
    value = "[" * (parse.MAX_DEPTH + 1) + "]" * (parse.MAX_DEPTH + 1)
    error = _spec_error(HEAD + f"vars: {{deep: {value}}}\nlayers: [Flatten: {{}}]\n")
    assert error.message == "values are nested more than 64 levels deep"


def test_layer_and_repeat_counts_are_bounded():
    too_many = HEAD + "layers:\n  - repeat: 5001\n    layers: [Dense: {units: 1}, ReLU: {}]\n"
    assert _spec_error(too_many).message == "the spec expands to more than 10000 layers"
    too_often = HEAD + f"layers:\n  - repeat: {expand.MAX_LAYERS + 1}\n    layers: [ReLU: {{}}]\n"
    assert _spec_error(too_often).message == (
        "the repeat count must be a whole number from 0 to 10000, got 10001"
    )


def _block_chain(length):
    """A spec whose main list uses B0, which uses B1, ..., B{length-1} (a Dense)."""
    blocks = [f"  B{i}: {{layers: [B{i + 1}: {{}}]}}" for i in range(length - 1)]
    blocks.append(f"  B{length - 1}: {{layers: [Dense: {{units: 2}}]}}")
    return HEAD + "blocks:\n" + "\n".join(blocks) + "\nlayers: [B0: {}]\n"


def test_block_nesting_is_bounded_and_the_bound_itself_is_fine(default_recursion_limit):
    graph = api.expand(_block_chain(checks.MAX_BLOCK_DEPTH))
    assert [node.name for node in graph.layers] == ["b0"]
    text = _block_chain(300)
    error = _spec_error(text)
    assert error.message == (
        "blocks are nested more than 32 deep: B0 -> B1 -> B2 -> ... -> B31 -> B32"
    )
    assert error.line == _line_of(text, "  B31: {")
    assert error.column == text.splitlines()[error.line - 1].index("B32") + 1


def test_long_var_chains_and_cycles_do_not_recurse(default_recursion_limit):
    count = 500
    chain = "".join(f"  v{i}: \"${{v{i + 1} + 1}}\"\n" for i in range(count))
    text = HEAD + "vars:\n" + chain + f"  v{count}: 1\nlayers: [Dense: {{units: $v0}}]\n"
    assert api.expand(text).layers[0].arguments["units"] == count + 1
    cycle = "".join(f"  v{i}: \"${{v{(i + 1) % count} + 1}}\"\n" for i in range(count))
    error = _spec_error(HEAD + "vars:\n" + cycle + "layers: [Dense: {units: $v0}]\n")
    assert error.message.startswith(
        f"vars are defined through each other more than {spec_vars.MAX_VAR_CHAIN} deep"
    )


def test_deeply_nested_layer_lists_do_not_recurse(default_recursion_limit):
    body = "[Dense: {units: 2}]"
    for _ in range(20):
        body = f"[{{repeat: 1, layers: {body}}}]"
    blocks = "".join(f"  B{i}: {{layers: {body.replace('Dense: {units: 2}', f'B{i + 1}: {{}}')}}}\n"
                     for i in range(10))
    text = HEAD + "blocks:\n" + blocks + "  B10: {layers: [Dense: {units: 2}]}\nlayers: [B0: {}]\n"
    error = _spec_error(text)
    assert error.message == (
        "layers are nested more than 64 levels deep (repeat, scope and block bodies inside "
        "each other)"
    )


def test_expression_length_nesting_and_magnitude_are_bounded():
    def message(expression):
        return _spec_error(HEAD + f"layers: [Dense: {{units: '${{{expression}}}'}}]\n").message

    assert message("1" + " + 1" * 60) == "expression is 241 characters long; the limit is 200"
    assert message("(" * 33 + "1" + ")" * 33) == "expression is nested more than 32 levels deep"
    limit = "(the limit is 2**53 = 9007199254740992 in magnitude)"
    assert message("2 ** 10 ** 10") == f"the result is too large {limit}"
    assert message("10 ** 16") == f"the result is too large {limit}"
    assert message("9" * 5000)  # parsed as a long number, refused by the length bound


def test_integer_literals_are_bounded_before_python_reads_them():
    for literal in ("9" * 5000, "0x" + "f" * 5000, "9007199254740993"):
        error = _spec_error(HEAD + f"layers: [Dense: {{units: {literal}}}]\n")
        assert error.message.endswith(
            "is too large (the limit is 2**53 = 9007199254740992 in magnitude)"
        )


def test_values_that_double_through_vars_are_bounded(default_recursion_limit):
    lists = "".join(f"  v{i}: [$v{i - 1}, $v{i - 1}]\n" for i in range(1, 41))
    text = HEAD + "vars:\n  v0: [1, 2]\n" + lists + "layers: [Dense: {units: 2, name: $v40}]\n"
    assert _spec_error(text).message == (
        f"the value expands to more than {expressions.MAX_VALUE_SIZE} items and characters"
    )
    texts = "".join(f"  v{i}: \"${{v{i - 1}}}${{v{i - 1}}}\"\n" for i in range(1, 41))
    text = HEAD + "vars:\n  v0: abcdefgh\n" + texts + "layers: [Dense: {units: 2, name: $v40}]\n"
    assert _spec_error(text).message == "the text would be more than 100000 characters long"


@pytest.mark.slow  # TensorFlow retries the allocation for about 10 s before it gives up
def test_a_huge_layer_is_a_located_error_at_build_not_a_crash():
    """`units: 10**12` asks for 3 PB of weights: Keras' allocation error, located."""
    text = HEAD + "layers:\n  - Dense: {units: 1000000000000, name: huge}\n"
    assert api.validate(text) == []
    with pytest.raises(SpecError) as caught:
        api.build(text)
    assert caught.value.line == 6
    assert caught.value.message.startswith("Dense 'huge'")


def test_a_huge_model_is_counted_before_anything_is_allocated():
    from kerasblocks.spec.build import check_parameter_count, layer_parameter_counts

    text = HEAD + "layers:\n  - Dense: {units: 8}\n  - Dense: {units: 1000000000000, name: huge}\n"
    graph = api.expand(text)
    counts = layer_parameter_counts(graph)  # milliseconds, no memory for weights
    assert counts == {"dense": 4 * 8 + 8, "huge": 8 * 10**12 + 10**12}
    with pytest.raises(SpecError) as caught:
        check_parameter_count(graph, 10**9)
    assert (caught.value.line, caught.value.column) == (7, 5)
    assert "the largest layer, 'huge', has 9,000,000,000,000" in caught.value.message
    assert check_parameter_count(api.expand(HEAD + "layers: [Dense: {units: 2}]\n"), 10) == 10


@pytest.mark.parametrize("command", ["build", "summary", "plot"])
def test_cli_refuses_a_huge_model_before_building_it(command, tmp_path, capsys):
    spec = tmp_path / "huge.yaml"
    spec.write_text(HEAD + "layers:\n  - Dense: {units: 1000000000000, name: huge}\n")
    output = tmp_path / ("huge.keras" if command == "build" else "huge.svg")
    argv = [command, str(spec)] + ([] if command == "summary" else ["-o", str(output)])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{spec}:6:5: error: the model would have 5,000,000,000,000 parameters" in err
    assert "--max-parameters" in err and "Traceback" not in err
    assert not output.exists()


def test_cli_parameter_limit_is_the_users_to_set(tmp_path, capsys):
    spec = tmp_path / "small.yaml"
    spec.write_text(HEAD + "layers: [Dense: {units: 2}]\n")  # 10 parameters
    assert cli.main(["summary", str(spec), "--max-parameters", "9"]) == 2
    assert "over the limit of 9" in capsys.readouterr().err
    assert cli.main(["summary", str(spec), "--max-parameters", "10"]) == 0


# --- atomic files ---------------------------------------------------------------------


def _interrupt_after_half(real_write, exception):
    def write_half(self, data):
        real_write(self, data[: len(data) // 2])
        raise exception

    return write_half


@pytest.mark.parametrize("exception", [KeyboardInterrupt(), OSError(28, "No space left")])
def test_write_bytes_interrupted_keeps_the_old_file_and_leaves_no_partial_one(
    tmp_path, monkeypatch, exception
):
    target = tmp_path / "out.txt"
    target.write_text("previous content")
    fresh = tmp_path / "fresh.txt"
    real_write = Path.write_bytes
    monkeypatch.setattr(Path, "write_bytes", _interrupt_after_half(real_write, exception))
    for path in (target, fresh):
        with pytest.raises(type(exception)):
            _files.write_text(path, "new content " * 100)
    monkeypatch.undo()
    assert target.read_text() == "previous content"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]
    _files.write_text(target, "new")
    assert target.read_text() == "new" and sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_atomic_path_and_directory_keep_the_old_content_on_failure(tmp_path):
    target = tmp_path / "picture.svg"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), _files.atomic_path(target) as temporary:
        temporary.write_bytes(b"partial")
        raise KeyboardInterrupt
    with pytest.raises(RuntimeError, match="nothing was written"):
        with _files.atomic_path(target):
            pass
    assert target.read_bytes() == b"old"
    folder = tmp_path / "saved_model"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"old graph")
    with pytest.raises(OSError), _files.atomic_directory(folder) as temporary:
        (temporary / "saved_model.pb").write_bytes(b"half a gra")
        raise OSError("disk full")
    assert (folder / "saved_model.pb").read_bytes() == b"old graph"
    assert sorted(os.listdir(tmp_path)) == ["picture.svg", "saved_model"]


@pytest.mark.parametrize("exception, exit_code", [(KeyboardInterrupt(), 130),
                                                  (OSError(28, "No space left"), 2)])
def test_build_interrupted_while_saving_keeps_the_previous_model(
    tmp_path, monkeypatch, capsys, exception, exit_code
):
    keras = pytest.importorskip("keras")
    spec = tmp_path / "net.yaml"
    spec.write_text(HEAD + "layers: [Dense: {units: 2}]\n")
    output = tmp_path / "net.keras"
    assert cli.main(["build", str(spec), "-o", str(output)]) == 0
    previous = output.read_bytes()
    real_save = keras.saving.save_model

    def save_half_then_fail(model, path, **kwargs):
        real_save(model, path, **kwargs)
        Path(path).write_bytes(Path(path).read_bytes()[:100])
        raise exception

    monkeypatch.setattr(keras.saving, "save_model", save_half_then_fail)
    assert cli.main(["build", str(spec), "-o", str(output)]) == exit_code
    assert output.read_bytes() == previous
    assert sorted(os.listdir(tmp_path)) == ["net.keras", "net.yaml"]
    assert "Traceback" not in capsys.readouterr().err


def test_training_records_are_written_atomically(tmp_path, monkeypatch):
    from kerasblocks.training import trainer

    history = {"loss": [1.5, 0.75], "accuracy": [0.5, 0.625]}
    csv_path = trainer.write_history_csv(history, tmp_path / "history.csv")
    with open(csv_path, newline="") as stream:
        assert list(csv.reader(stream)) == [
            ["epoch", "loss", "accuracy"], ["1", "1.5", "0.5"], ["2", "0.75", "0.625"]
        ]
    png_path = trainer.write_plot(history, tmp_path / "curves.png", title="t")
    assert png_path.read_bytes().startswith(b"\x89PNG")
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    def interrupted_replace(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(_files.os, "replace", interrupted_replace)
    longer = {key: values * 3 for key, values in history.items()}
    with pytest.raises(KeyboardInterrupt):
        trainer.write_history_csv(longer, tmp_path / "history.csv")
    with pytest.raises(KeyboardInterrupt):
        trainer.write_plot(longer, tmp_path / "curves.png")
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


# Writing calls that must only appear next to kerasblocks._files (or write a buffer).
_WRITER_RE = re.compile(
    r"open\([^)]*['\"][wax]b?\+?['\"]|\.savefig\(|\.write_text\(|\.write_bytes\(|"
    r"shutil\.copy|\.to_file\("
)
_ALLOWED_WRITERS = {
    "_files.py": "the atomic helpers themselves",
    "cli.py": "opens os.devnull to silence TensorFlow",
}


def test_every_writer_in_the_package_goes_through_the_atomic_helpers():
    offenders = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        text = path.read_text("utf-8")
        if path.name in _ALLOWED_WRITERS or not _WRITER_RE.search(text):
            continue
        if "kerasblocks._files" in text or "from kerasblocks import _files" in text:
            continue
        offenders.append(str(path.relative_to(PACKAGE_DIR)))
    assert offenders == []
    from kerasblocks.training import trainer

    assert not hasattr(trainer, "_write_atomically")  # its private copy is gone


# --- the command line: exit 2 and a message, never a traceback ------------------------

_BAD_SPEC = HEAD + "layers: [Dens: {units: 2}]\n"
_NOT_A_ZIP = "not a zip archive"

CLI_CASES = [
    # (argv, files to create {name: text}, text expected in stderr, --debug shows a traceback)
    (["validate", "missing.yaml"], {}, "no spec file 'missing.yaml'", True),
    (["validate", "bad.yaml"], {"bad.yaml": _BAD_SPEC}, "unknown layer type 'Dens'", True),
    (["validate", "tag.yaml"], {"tag.yaml": HEAD + "layers: !!python/name:os.system\n"},
     "YAML tag '!!python/name:os.system' is not allowed", True),
    (["expand", "missing.yaml"], {}, "no spec file", True),
    (["expand", "bad.yaml"], {"bad.yaml": _BAD_SPEC}, "unknown layer type", True),
    (["build", "bad.yaml"], {"bad.yaml": _BAD_SPEC}, "unknown layer type", True),
    (["build", "bad.yaml", "-o", "model.h5"], {"bad.yaml": _BAD_SPEC}, "must end in .keras", True),
    (["summary", "missing.yaml"], {}, "no spec file", True),
    (["inspect", "missing.keras"], {}, "No such model file", True),
    (["inspect", "junk.keras"], {"junk.keras": _NOT_A_ZIP}, "is not a .keras model file", True),
    (["train", "bad.yaml"], {"bad.yaml": _BAD_SPEC}, "unknown layer type", True),
    (["train", "bad.yaml", "-o", "x.txt"], {"bad.yaml": _BAD_SPEC}, "must end in .keras", True),
    (["evaluate", "missing.keras"], {}, "No such model file", True),
    (["predict", "junk.keras"], {"junk.keras": _NOT_A_ZIP}, "is not a .keras model file", True),
    (["from-keras", "missing.keras"], {}, "No such model file", True),
    (["import-caffe", "missing.prototxt"], {}, "no such prototxt file", True),
    (["plot", "missing.yaml", "-o", "net.svg"], {}, "no spec file", True),
    (["plot", "bad.yaml", "-o", "net.svg"], {"bad.yaml": _BAD_SPEC}, "unknown layer type", True),
    # argparse refuses these itself (usage message, exit 2): no traceback to show.
    (["export", "model.keras", "--format", "onnx", "-o", "out"], {}, "invalid choice", False),
    (["build"], {}, "the following arguments are required", False),
]


def _run_cli(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exit:  # argparse
        code = exit.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, files, message, debug_traceback", CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES]
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(
    tmp_path, monkeypatch, capsys, argv, files, message, debug_traceback
):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    before = sorted(os.listdir(tmp_path))
    code, stderr = _run_cli(argv, capsys)
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, nothing half-written
    if debug_traceback:
        code, stderr = _run_cli(["--debug", *argv], capsys)
        assert code == 2
        assert "Traceback" in stderr and message in stderr
