"""kerasblocks: Keras networks declared as YAML specs, plus four registered layers.

Importing this package is cheap: it does not import TensorFlow or Keras. The
layers (`L2NormScale`, `LRN`, `ResidualUnit`, `InceptionBlock`) are registered
with Keras the moment Keras is imported, so `keras.saving.load_model` finds them
with no `custom_objects`; accessing `kerasblocks.LRN` (etc.) imports Keras.

The spec API (`load_spec`, `validate`, `expand`, `build`, `save_model`,
`load_model`, `inspect_model`) lives in `kerasblocks.api`; only `build` and the
model functions import Keras, when called.
"""

import importlib

from kerasblocks import _registration
from kerasblocks._version import __version__
from kerasblocks.errors import SpecError

_registration.install()

# Names served lazily (PEP 562) so that `import kerasblocks` stays free of Keras.
_LAZY_ATTRIBUTES = {
    "L2NormScale": "kerasblocks.layers",
    "LRN": "kerasblocks.layers",
    "ResidualUnit": "kerasblocks.layers",
    "InceptionBlock": "kerasblocks.layers",
    "custom_objects": "kerasblocks.layers",
    "layers": "kerasblocks.layers",
    "load_spec": "kerasblocks.api",
    "validate": "kerasblocks.api",
    "expand": "kerasblocks.api",
    "build": "kerasblocks.api",
    "save_model": "kerasblocks.api",
    "load_model": "kerasblocks.api",
    "inspect_model": "kerasblocks.api",
    "train": "kerasblocks.api",
    "to_spec": "kerasblocks.api",
    "import_caffe": "kerasblocks.api",
    "plot": "kerasblocks.api",
    "export": "kerasblocks.api",
}

__all__ = ["__version__", "SpecError", *_LAZY_ATTRIBUTES]


def __getattr__(name):
    module_name = _LAZY_ATTRIBUTES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'kerasblocks' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name == "layers" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
