"""Register kerasblocks' layers with Keras as soon as Keras is loaded.

`import kerasblocks` has to stay cheap: validating a spec never needs TensorFlow,
and importing it costs seconds. Yet `keras.saving.load_model("m.keras")` must find
the kerasblocks layers with no `custom_objects` once `kerasblocks` is imported.

So the layers are registered at once when Keras is already in `sys.modules`, and
otherwise by a one-shot import hook that runs right after the `keras` package has
finished executing, whichever code imports it (user code, `tf.keras`, our
builder). Importing `kerasblocks.layers` directly always registers them too.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

_LAYERS_MODULE = "kerasblocks.layers"


def register_layers():
    """Import the layer modules, which registers them with Keras."""
    importlib.import_module(_LAYERS_MODULE)


class _RegisterAfterKerasImport(importlib.abc.MetaPathFinder):
    """Meta path finder that wraps the loader of `keras` to register our layers."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        # One shot: take ourselves out before resolving the real spec, so the
        # lookup below does not come back here.
        _remove_hook()
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        exec_keras = spec.loader.exec_module

        def exec_module(module):
            exec_keras(module)
            try:
                register_layers()
            except Exception as error:  # never break `import keras` for the user
                warnings.warn(
                    f"kerasblocks could not register its layers with Keras: {error!r}",
                    RuntimeWarning,
                    stacklevel=2,
                )

        spec.loader.exec_module = exec_module
        return spec


_hook = _RegisterAfterKerasImport()


def _remove_hook():
    if _hook in sys.meta_path:
        sys.meta_path.remove(_hook)


def install():
    """Register now if Keras is loaded, else when it is first imported."""
    if "keras" in sys.modules:
        register_layers()
    elif _hook not in sys.meta_path:
        sys.meta_path.insert(0, _hook)
