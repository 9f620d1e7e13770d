"""The shipped specs (`specs/*.yaml`): names and descriptions, read without Keras.

    from kerasblocks.spec.catalog import shipped_specs, parameter_counts
    for spec in shipped_specs():                 # no Keras, no TensorFlow
        print(spec.name, spec.description)
    parameter_counts("googlenet", aux=False)     # builds the model (imports Keras)
    # {'total': 6998552, 'trainable': 6998552, 'non_trainable': 0}

A shipped spec is used by its name anywhere a spec is taken
(`kerasblocks build vgg16`, `kerasblocks.build("vgg16")`); see
`kerasblocks.spec.load` for where the folder is looked up.
"""

from pathlib import Path
from typing import NamedTuple

from kerasblocks.spec.load import SHIPPED_SPECS_DIR, load_spec

__all__ = ["ShippedSpec", "shipped_specs", "parameter_counts"]


class ShippedSpec(NamedTuple):
    """One shipped spec.

    name: what to type to use it (the file name without `.yaml`; equal to
        the spec's `name`).
    description: the spec's one-line `description` ("" if it has none).
    path: the YAML file.
    """

    name: str
    description: str
    path: Path


def shipped_specs(directory=None):
    """Lists the shipped specs, sorted by name, reading only their YAML.

    Args:
        directory: folder to list instead of the shipped `specs/` folder
            (for tests and for collections of your own specs).

    Returns:
        A list of `ShippedSpec(name, description, path)`; empty when the
        folder does not exist.

    Raises:
        SpecError: a file in the folder is not readable YAML (located).
    """
    folder = Path(SHIPPED_SPECS_DIR if directory is None else directory)
    if not folder.is_dir():
        return []
    specs = []
    for path in sorted(folder.glob("*.yaml")):
        data = load_spec(path).data
        description = data.get("description", "") if isinstance(data, dict) else ""
        specs.append(ShippedSpec(path.stem, " ".join(str(description).split()), path))
    return specs


def parameter_counts(spec, **vars):
    """Builds a spec and counts its parameters (imports Keras).

    Only constructs the model: nothing is run, so even VGG16 (138M
    parameters, 0.55 GB of float32 weights) takes about a second.

    Args:
        spec: a shipped spec name, a path, YAML text or a `Spec`.
        **vars: var overrides, as for `kerasblocks.build`.

    Returns:
        {"total": int, "trainable": int, "non_trainable": int}.

    Raises:
        SpecError: the spec is invalid.
    """
    from kerasblocks import api

    return api.parameter_counts(api.build(spec, **vars))
