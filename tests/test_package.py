"""The package itself: cheap import, layer registration, custom_objects."""

import subprocess
import sys
import textwrap


def run_python(code):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_import_does_not_load_keras_or_tensorflow():
    out = run_python(
        """
        import sys, kerasblocks
        print(kerasblocks.__version__)
        print("keras" in sys.modules, "tensorflow" in sys.modules)
        """
    )
    assert out.split("\n")[1] == "False False"


def test_layers_are_registered_when_keras_is_imported_after_kerasblocks():
    out = run_python(
        """
        import kerasblocks, keras
        names = ["L2NormScale", "LRN", "ResidualUnit", "InceptionBlock"]
        for name in names:
            cls = keras.saving.get_registered_object("kerasblocks>" + name)
            print(cls.__module__, cls.__name__)
        """
    )
    assert out.split() == [
        "kerasblocks.layers.l2_norm_scale", "L2NormScale",
        "kerasblocks.layers.lrn", "LRN",
        "kerasblocks.layers.residual_unit", "ResidualUnit",
        "kerasblocks.layers.inception_block", "InceptionBlock",
    ]


def test_layers_are_registered_when_keras_is_imported_before_kerasblocks():
    out = run_python(
        """
        import keras, kerasblocks
        print(keras.saving.get_registered_object("kerasblocks>LRN") is kerasblocks.LRN)
        """
    )
    assert out.strip() == "True"


def test_custom_objects_maps_registered_and_class_names():
    import kerasblocks

    objects = kerasblocks.custom_objects()
    for cls in (
        kerasblocks.L2NormScale,
        kerasblocks.LRN,
        kerasblocks.ResidualUnit,
        kerasblocks.InceptionBlock,
    ):
        assert objects[f"kerasblocks>{cls.__name__}"] is cls
        assert objects[cls.__name__] is cls


def test_unknown_attribute_raises_attribute_error():
    import pytest

    import kerasblocks

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        kerasblocks.Nope


def test_api_functions_survive_importing_every_submodule():
    # A submodule named like a lazy function (kerasblocks/plot.py next to
    # kerasblocks.plot) would replace the function on the package once imported.
    import importlib
    import pkgutil

    import kerasblocks
    from kerasblocks import api

    for module in pkgutil.walk_packages(kerasblocks.__path__, "kerasblocks."):
        if module.name != "kerasblocks.__main__":  # that one runs the CLI
            importlib.import_module(module.name)
    for name, module_name in kerasblocks._LAZY_ATTRIBUTES.items():
        if module_name == "kerasblocks.api":
            assert getattr(kerasblocks, name) is getattr(api, name), name
