"""Third-party layers: `--import MODULE` / `imports=[...]` and `kerasblocks.plugins`.

A spec names a registered third-party layer as `package>ClassName`; the
registration happens when the user imports the package: `kerasblocks --import
pkg ...` or `kerasblocks.build(spec, imports=["pkg"])`. A spec never imports
anything itself (the `evilpkg` tests).

Each plugin module here is written into tmp_path under a fresh name, so that a
module or a registration one test made cannot make another pass.
"""

import itertools
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import kerasblocks
from kerasblocks import api, cli
from kerasblocks.errors import SpecError, UsageError
from kerasblocks.plugins import PluginImportError, import_plugins, plugin_names

REPO_ROOT = pathlib.Path(kerasblocks.__file__).resolve().parent.parent

PLUGIN_SOURCE = '''\
import pathlib

import keras

pathlib.Path({marker!r}).write_text("imported")


@keras.saving.register_keras_serializable(package={package!r})
class {class_name}(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {{**super().get_config(), "factor": self.factor}}
'''

SPEC_TEMPLATE = """\
kerasblocks: 1
name: plugged
inputs:
  x: {{shape: [4]}}
layers:
  - Dense: {{units: 3, name: dense}}
{layers}outputs: [{output}]
"""

_counter = itertools.count()


class Plugins:
    """Writes plugin modules into a folder on sys.path; forgets them afterwards."""

    def __init__(self, folder):
        self.folder = folder
        self.names = []

    def module(self, source=None, *, name=None, package=None, class_name="Scale"):
        """A module file; by default one that writes `marker(name)` and registers a layer."""
        name = name or f"kb_test_plugin_{os.getpid()}_{next(_counter)}"
        if source is None:
            source = PLUGIN_SOURCE.format(
                marker=str(self.marker(name)), package=package or name, class_name=class_name
            )
        (self.folder / f"{name}.py").write_text(textwrap.dedent(source))
        self.names.append(name)
        return name

    def marker(self, name):
        return self.folder / f"{name}.imported"

    def imported(self, name):
        return self.marker(name).exists()


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    made = Plugins(folder)
    yield made
    for name in made.names:
        sys.modules.pop(name, None)


def spec_text(*types, output=None):
    layers = "".join(
        f"  - {type_name}: {{factor: 3.0, name: plugin{index}}}\n"
        for index, type_name in enumerate(types)
    )
    return SPEC_TEMPLATE.format(layers=layers, output=output or f"plugin{len(types) - 1}")


def spec_file(tmp_path, *types):
    path = tmp_path / "plugged.yaml"
    path.write_text(spec_text(*types))
    return path


def run(capsys, *argv):
    """The CLI in-process: (exit code, stdout, stderr)."""
    try:
        code = cli.main([str(arg) for arg in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def subprocess_env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


# --- names -----------------------------------------------------------------------


def test_plugin_names_accepts_lists_strings_and_commas():
    assert plugin_names(None) == []
    assert plugin_names([]) == []
    assert plugin_names("my_pkg") == ["my_pkg"]
    assert plugin_names("my_pkg.layers") == ["my_pkg.layers"]
    assert plugin_names(["a,b.c", " d ", "a", "e, f"]) == ["a", "b.c", "d", "e", "f"]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("./evil.py", "not a module name"),
        ("evil.py", "not a file"),
        ("/abs/path/evil", "not a module name"),
        ("pkg/evil", "not a module name"),
        ("C:\\evil", "not a module name"),
        (".relative", "relative module name"),
        ("..parent.mod", "relative module name"),
        ("a..b", "dotted Python identifiers"),
        ("pkg.", "dotted Python identifiers"),
        ("1pkg", "dotted Python identifiers"),
        ("my-pkg", "dotted Python identifiers"),
        ("pkg.class", "dotted Python identifiers"),
        ("os; rm", "dotted Python identifiers"),
        ("", "empty plugin module name"),
        ("a,,b", "empty plugin module name"),
    ],
)
def test_bad_names_are_usage_errors(name, expected):
    with pytest.raises(UsageError) as caught:
        plugin_names([name])
    assert expected in str(caught.value)
    assert not isinstance(caught.value, PluginImportError)


def test_a_name_that_is_not_a_string_is_a_usage_error():
    with pytest.raises(UsageError, match="must be a string, not int"):
        plugin_names(["ok", 3])


def test_every_name_is_checked_before_anything_is_imported(plugins):
    good = plugins.module()
    with pytest.raises(UsageError, match="not a module name"):
        import_plugins([good, "./bad.py"])
    assert not plugins.imported(good)
    assert good not in sys.modules


# --- importing ---------------------------------------------------------------------


def test_import_plugins_imports_and_returns_the_modules(plugins):
    first, second = plugins.module(), plugins.module()
    modules = import_plugins(f"{first},{second}")
    assert [module.__name__ for module in modules] == [first, second]
    assert plugins.imported(first) and plugins.imported(second)
    import keras

    assert keras.saving.get_registered_object(f"{first}>Scale") is modules[0].Scale


def test_a_missing_module_says_to_install_it():
    with pytest.raises(PluginImportError) as caught:
        import_plugins(["kb_no_such_module_zz"])
    assert str(caught.value) == (
        "cannot import plugin module 'kb_no_such_module_zz': no module named "
        "'kb_no_such_module_zz'; install it (pip install <the package that provides "
        "kb_no_such_module_zz>) or check the name"
    )
    assert caught.value.not_installed and caught.value.module == "kb_no_such_module_zz"
    assert isinstance(caught.value, UsageError)


def test_a_missing_submodule_names_the_dotted_module():
    with pytest.raises(PluginImportError) as caught:
        import_plugins(["json.kb_nothing"])
    assert str(caught.value) == (
        "cannot import plugin module 'json.kb_nothing': no module named 'json.kb_nothing'; "
        "check the name ('json' is installed but has no module 'kb_nothing')"
    )
    assert caught.value.not_installed
    with pytest.raises(PluginImportError, match=r"provides kb_not_there_zz>\) or check"):
        import_plugins(["kb_not_there_zz.layers"])


def test_a_missing_dependency_is_an_import_failure_of_the_plugin(plugins):
    name = plugins.module("import kb_dependency_not_installed_zz\n")
    with pytest.raises(PluginImportError) as caught:
        import_plugins([name])
    assert str(caught.value) == (
        f"importing plugin module '{name}' failed: it raised ModuleNotFoundError: "
        "No module named 'kb_dependency_not_installed_zz'"
    )
    assert not caught.value.not_installed


def test_an_exception_while_importing_names_the_module_and_the_exception(plugins):
    name = plugins.module("raise RuntimeError('boom\\nsecond line')\n")
    with pytest.raises(PluginImportError) as caught:
        import_plugins([name])
    assert str(caught.value) == (
        f"importing plugin module '{name}' failed: it raised RuntimeError: boom"
    )
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert name not in sys.modules


def test_sys_exit_while_importing_is_an_import_failure(plugins):
    name = plugins.module("import sys\nsys.exit(3)\n")
    with pytest.raises(PluginImportError, match=r"failed: it called sys.exit\(3\)"):
        import_plugins([name])


def test_importing_nothing_imports_no_keras():
    code = """
        import sys
        from kerasblocks.plugins import import_plugins, plugin_names
        import_plugins(None); import_plugins([]); plugin_names(["a.b", "c"])
        print("RESULT", "keras" in sys.modules, "tensorflow" in sys.modules)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        env=subprocess_env(), check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("RESULT")[1].split() == ["False", "False"]


# --- a spec never imports ---------------------------------------------------------


def test_a_spec_never_imports_the_package_it_names(plugins, tmp_path, capsys):
    """`evilpkg>Layer` in a spec: without --import the build fails and evilpkg never runs."""
    import keras

    evil = plugins.module(name="evilpkg", package="evilpkg", class_name="Layer")
    assert keras.saving.get_registered_object("evilpkg>Layer") is None  # precondition
    spec = spec_file(tmp_path, "evilpkg>Layer")

    for command in ("build", "summary"):
        code, _, err = run(capsys, command, spec)
        assert code == 2
        assert "error: no layer is registered as 'evilpkg>Layer'" in err
        assert "Traceback" not in err
    code, _, err = run(capsys, "validate", spec)  # plugin names: syntax only
    assert code == 0, err
    assert not plugins.imported(evil) and evil not in sys.modules
    with pytest.raises(SpecError, match="no layer is registered as 'evilpkg>Layer'"):
        api.build(str(spec))
    assert not plugins.imported(evil) and evil not in sys.modules

    output = tmp_path / "evil.keras"
    code, out, err = run(capsys, "--import", "evilpkg", "build", spec, "-o", output)
    assert code == 0, err
    assert plugins.imported(evil) and output.exists()
    assert "plugin0 (Layer)" in out


def test_the_entry_point_does_not_import_a_module_from_the_current_folder(tmp_path):
    """`python -m kerasblocks` puts the current folder on sys.path; still no import."""
    marker = tmp_path / "evilpkg.imported"
    (tmp_path / "evilpkg.py").write_text(
        PLUGIN_SOURCE.format(marker=str(marker), package="evilpkg", class_name="Layer")
    )
    (tmp_path / "net.yaml").write_text(spec_text("evilpkg>Layer"))
    result = subprocess.run(
        [sys.executable, "-m", "kerasblocks", "build", "net.yaml"],
        cwd=tmp_path, capture_output=True, text=True, env=subprocess_env(), check=False,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "no layer is registered as 'evilpkg>Layer'" in result.stderr
    assert not marker.exists()


# --- the command line -------------------------------------------------------------------


def test_help_documents_import(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "--import MODULE" in out
    code, out, _ = run(capsys, "build", "--help")
    assert code == 0 and "--import MODULE" in out


@pytest.mark.parametrize(
    "form",
    ["before", "after", "both", "commas", "repeated-after"],
)
def test_import_before_or_after_the_command_repeated_or_comma_separated(
    form, plugins, tmp_path, capsys
):
    first, second = plugins.module(), plugins.module()
    spec = spec_file(tmp_path, f"{first}>Scale", f"{second}>Scale")
    argv = {
        "before": ["--import", first, "--import", second, "summary", spec],
        "after": ["summary", spec, "--import", first, "--import", second],
        "both": ["--import", first, "summary", spec, "--import", second],
        "commas": ["--import", f"{first},{second}", "summary", spec],
        "repeated-after": ["summary", "--import", first, spec, "--import", f" {second} "],
    }[form]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert plugins.imported(first) and plugins.imported(second)
    assert "Parameters: 15 total" in out  # Dense(3) on 4 inputs; the plugins have no weights


def test_missing_module_exits_2_with_one_line(capsys, tmp_path):
    spec = spec_file(tmp_path, "kb_no_such_module_zz>Scale")
    code, out, err = run(capsys, "--import", "kb_no_such_module_zz", "build", spec)
    assert code == 2
    assert err == (
        "kerasblocks: error: cannot import plugin module 'kb_no_such_module_zz': no module "
        "named 'kb_no_such_module_zz'; install it (pip install <the package that provides "
        "kb_no_such_module_zz>) or check the name\n"
    )


def test_an_exception_while_importing_exits_2_and_debug_shows_the_traceback(
    plugins, tmp_path, capsys
):
    name = plugins.module("raise RuntimeError('boom')\n")
    spec = spec_file(tmp_path, f"{name}>Scale")
    code, _, err = run(capsys, "--import", name, "build", spec)
    assert code == 2
    assert err == (
        f"kerasblocks: error: importing plugin module '{name}' failed: it raised "
        "RuntimeError: boom (rerun with --debug for the traceback)\n"
    )
    code, _, err = run(capsys, "--debug", "--import", name, "build", spec)
    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert f'{name}.py", line 1' in err
    assert err.rstrip().endswith(
        f"kerasblocks: error: importing plugin module '{name}' failed: it raised "
        "RuntimeError: boom"
    )


def test_a_bad_name_exits_2_before_anything_else(capsys, tmp_path):
    code, _, err = run(capsys, "--import", "./plugin.py", "build", tmp_path / "missing.yaml")
    assert code == 2
    assert err.startswith("kerasblocks: error: './plugin.py' is not a module name")
    assert "missing.yaml" not in err  # the spec was not even read


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["validate", "{spec}"], "validate imports nothing"),
        (["expand", "{spec}"], "expand imports nothing"),
        (["schema"], "schema imports nothing"),
        (["list", "--no-counts"], "list builds only the shipped specs"),
        (["import-caffe", "{missing}"], "import-caffe imports nothing"),
    ],
)
def test_commands_that_build_nothing_import_nothing_and_say_so(
    argv, reason, plugins, tmp_path, capsys
):
    name = plugins.module()
    spec = spec_file(tmp_path, f"{name}>Scale")
    argv = [arg.format(spec=spec, missing=tmp_path / "none.prototxt") for arg in argv]
    code, _, err = run(capsys, "--import", name, *argv)
    assert code == (2 if argv[0] == "import-caffe" else 0), err
    assert err.startswith(f"kerasblocks: note: --import ignored: {reason}")
    assert not plugins.imported(name) and name not in sys.modules
    code, _, err = run(capsys, *argv[:1], "--import", name, *argv[1:])  # after the command
    assert "kerasblocks: note: --import ignored" in err
    assert not plugins.imported(name)


def test_validate_with_import_leaves_tensorflow_unloaded(plugins, tmp_path):
    name = plugins.module()
    spec = spec_file(tmp_path, f"{name}>Scale")
    code = f"""
        import sys
        sys.path.insert(0, {str(plugins.folder)!r})
        from kerasblocks.cli import main
        codes = [main(["--import", {name!r}, "validate", {str(spec)!r}]),
                 main(["expand", {str(spec)!r}, "--import", {name!r}])]
        print("RESULT", codes, "tensorflow" in sys.modules, "keras" in sys.modules,
              {name!r} in sys.modules)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        env=subprocess_env(), check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("RESULT", 1)[1].strip() == "[0, 0] False False False"
    assert not plugins.imported(name)


TRAIN_ARGS = ["--data", "generated", "--epochs", "1", "--max-parameters", "1"]


def test_train_and_plot_import_before_the_model_is_counted(plugins, tmp_path, capsys):
    """Without --import each fails at the plugin type; with it, each gets past it."""
    name = plugins.module()
    spec = spec_file(tmp_path, f"{name}>Scale")
    code, _, err = run(capsys, "train", spec, *TRAIN_ARGS)
    assert code == 2 and f"no layer is registered as '{name}>Scale'" in err
    code, _, err = run(capsys, "--import", name, "train", spec, *TRAIN_ARGS)
    assert code == 2, err
    assert "no layer is registered" not in err and "parameters" in err  # the size limit
    assert plugins.imported(name)

    second = plugins.module()
    spec = spec_file(tmp_path, f"{second}>Scale")
    picture = tmp_path / "net.dot"
    code, out, err = run(capsys, "plot", spec, "-o", picture, "--import", second)
    assert code == 0, err
    assert plugins.imported(second) and "Scale" in picture.read_text()


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "{model}"],
        ["predict", "{model}"],
        ["from-keras", "{model}"],
        ["export", "{model}", "--format", "savedmodel", "-o", "{out}"],
        ["plot", "{model}", "-o", "{out}.dot"],
    ],
)
def test_model_commands_import_before_loading(argv, plugins, tmp_path, capsys):
    name = plugins.module()
    model = tmp_path / "missing.keras"
    argv = [arg.format(model=model, out=tmp_path / "out") for arg in argv]
    code, _, err = run(capsys, *argv, "--import", name)
    assert code == 2
    assert "missing.keras" in err  # the command got as far as the (missing) model file
    assert plugins.imported(name)


def test_a_saved_model_with_plugin_layers_loads_in_a_new_process_only_with_import(
    plugins, tmp_path, capsys
):
    name = plugins.module()
    spec = spec_file(tmp_path, f"{name}>Scale")
    model = tmp_path / "plugged.keras"
    code, _, err = run(capsys, "--import", name, "build", spec, "-o", model)
    assert code == 0, err
    sys.modules.pop(name)
    plugins.marker(name).unlink()

    code = f"""
        import sys
        sys.path.insert(0, {str(plugins.folder)!r})
        from kerasblocks.cli import main
        model = {str(model)!r}
        print("RESULT-1", main(["inspect", model]), flush=True)
        print("RESULT-2", main(["inspect", model, "--import", {name!r}]), flush=True)
        print("RESULT-3", main(["from-keras", model, "--import", {name!r}]), flush=True)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        env=subprocess_env(), check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "RESULT-1 2" in out and "unknown, the model does not load" in out
    assert "RESULT-2 0" in out and "parameters:  15 total" in out
    assert "RESULT-3 0" in out and f"{name}>Scale" in out.split("RESULT-2 0")[1]


# --- Keras' application helper layers ------------------------------------------------


def test_keras_application_helper_layers_are_table_types_without_imports():
    """ConvNeXt's LayerScale and Inception-ResNet-v2's CustomScaleLayer are plain
    subclasses Keras never registers. The closed table names them (with their
    modules), so a spec uses them by class name, no --import needed; a
    `module>Class` name still names nothing registered."""
    import keras
    from keras.src.applications import convnext, inception_resnet_v2

    for cls in (convnext.LayerScale, inception_resnet_v2.CustomScaleLayer):
        assert keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is None

    text = SPEC_TEMPLATE.format(
        layers="  - LayerScale: {init_values: 0.5, projection_dim: 3, name: scaled}\n"
        "  - CustomScaleLayer: {scale: 0.25, name: scaled2, inputs: [dense, scaled]}\n",
        output="scaled2",
    )
    model = api.build(text)
    assert type(model.get_layer("scaled")) is convnext.LayerScale
    assert type(model.get_layer("scaled2")) is inception_resnet_v2.CustomScaleLayer
    with pytest.raises(SpecError, match="no layer is registered as"):
        api.build(text.replace("- LayerScale:", "- keras.src.applications.convnext>LayerScale:"))


# --- the Python API -------------------------------------------------------------------


def test_api_build_imports_first(plugins):
    name = plugins.module()
    text = spec_text(f"{name}>Scale")
    with pytest.raises(SpecError, match=f"no layer is registered as '{name}>Scale'"):
        api.build(text)
    assert not plugins.imported(name)
    model = api.build(text, imports=[name])
    assert plugins.imported(name)
    assert type(model.get_layer("plugin0")).__name__ == "Scale"
    assert kerasblocks.build is api.build


def test_api_build_takes_one_name_or_comma_separated_names(plugins):
    first, second = plugins.module(), plugins.module()
    api.build(spec_text(f"{first}>Scale", f"{second}>Scale"), imports=f"{first}, {second}")
    assert plugins.imported(first) and plugins.imported(second)


def test_api_validate_and_expand_import_nothing_and_keep_every_keyword_a_var(plugins):
    name = plugins.module()
    text = spec_text(f"{name}>Scale")
    assert api.validate(text) == []
    assert api.expand(text).name == "plugged"
    assert not plugins.imported(name)
    with_var = text.replace("name: plugged", "name: plugged\nvars: {imports: 3}")
    graph = api.expand(with_var, imports=5)  # a var, as ever
    assert graph.vars["imports"] == 5
    model = api.build(graph, imports=[name])
    assert plugins.imported(name) and type(model.get_layer("plugin0")).__name__ == "Scale"


def test_imports_that_are_not_names_are_usage_errors():
    with pytest.raises(UsageError, match="a module name or a list of names, not int: 3"):
        plugin_names(3)


def test_api_to_spec_load_model_and_inspect_model(plugins, tmp_path):
    name = plugins.module()
    model = api.build(spec_text(f"{name}>Scale"), imports=[name])
    path = api.save_model(model, tmp_path / "plugged.keras")
    text = api.to_spec(path, imports=[name])
    assert f"{name}>Scale" in text
    assert api.load_model(path, compile=False, imports=[name]).get_layer("plugin0").factor == 3.0
    info = api.inspect_model(path, imports=[name])
    assert info["params"]["total"] == 15
    with pytest.raises(UsageError, match="not a module name"):
        api.inspect_model(path, count_params=False, imports=["x/y"])


@pytest.mark.parametrize(
    "call",
    [
        lambda: api.train("mlp.yaml", imports=["kb_no_such_module_zz"]),
        lambda: api.plot("mlp.yaml", "out.png", imports=["kb_no_such_module_zz"]),
        lambda: api.export("m.keras", "out", imports=["kb_no_such_module_zz"]),
        lambda: api.to_spec("m.keras", imports=["kb_no_such_module_zz"]),
        lambda: api.load_model("m.keras", imports=["kb_no_such_module_zz"]),
        lambda: api.inspect_model("m.keras", imports=["kb_no_such_module_zz"]),
    ],
    ids=["train", "plot", "export", "to_spec", "load_model", "inspect_model"],
)
def test_every_api_function_that_builds_or_loads_imports_first(call):
    with pytest.raises(PluginImportError, match="no module named 'kb_no_such_module_zz'"):
        call()


def test_registering_the_keras_application_layers_in_a_plugin_module_works(tmp_path):
    """A module of one's own may still register them under a package name; then
    `--import` it and the spec names `keras_apps>LayerScale`. from-keras writes the
    table's plain class names back. Run in a subprocess: registering changes how
    Keras names these classes process-wide."""
    (tmp_path / "kb_keras_apps.py").write_text(
        textwrap.dedent(
            """\
            import keras
            from keras.src.applications.convnext import LayerScale
            from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

            for cls in (LayerScale, CustomScaleLayer):
                keras.saving.register_keras_serializable(package="keras_apps")(cls)
            """
        )
    )
    (tmp_path / "scaled.yaml").write_text(
        textwrap.dedent(
            """\
            kerasblocks: 1
            name: scaled
            inputs:
              x: {shape: [8, 8, 16]}
            layers:
              - keras_apps>LayerScale: {init_values: 0.000001, projection_dim: 16, name: scaled}
              - keras_apps>CustomScaleLayer: {scale: 0.17, name: mixed, inputs: [x, scaled]}
            outputs: [mixed]
            """
        )
    )
    code = f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from kerasblocks.cli import main
        folder = {str(tmp_path)!r}
        print("RESULT-1", main(["summary", folder + "/scaled.yaml"]), flush=True)
        print("RESULT-2", main(["--import", "kb_keras_apps", "build", folder + "/scaled.yaml",
                                "-o", folder + "/scaled.keras"]), flush=True)
        print("RESULT-3", main(["from-keras", folder + "/scaled.keras"]), flush=True)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        env=subprocess_env(), check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RESULT-1 2" in result.stdout
    assert "no layer is registered as 'keras_apps>LayerScale'" in result.stderr
    assert "RESULT-2 0" in result.stdout and "Parameters: 16 total" in result.stdout
    assert "RESULT-3 0" in result.stdout
    assert "- CustomScaleLayer: {scale: 0.17" in result.stdout
