"""Saving and loading `.keras` files that remember the spec they came from.

A `.keras` file is a zip archive of three members: `config.json` (the
architecture), `model.weights.h5` and `metadata.json` (Keras version, date).
Keras's loader reads only the first two, so a model built from a spec keeps its
spec under a "kerasblocks" key of `metadata.json`:

    {"keras_version": "3.15.1", "date_saved": "...",
     "kerasblocks": {"version": "0.1.0", "spec_name": "vgg16",
                     "spec_file": "specs/vgg16.yaml", "vars": {"num_classes": 10},
                     "spec": "kerasblocks: 1\\nname: vgg16\\n..."}}

Why not a fourth archive member (say `kerasblocks_spec.yaml`)? Keras 3.15 loads
it fine, but any archive with more than three members makes its loader extract
the whole archive, weights included, to a temporary directory on every load.
An extra key in `metadata.json` costs nothing at load time, and `unzip -p
model.keras metadata.json` shows it.

Saving is atomic (`kerasblocks._files.atomic_path`): the archive is written
next to the target under a temporary name and moved into place with
`os.replace`, so a failed save leaves no file and leaves an earlier file intact.

Reading the metadata (`read_metadata`) needs no Keras; loading a model does.

Loading keeps Keras' safe mode on: a file whose config carries Python code (a
`Lambda` layer's bytecode, ...) is refused with `UnsafeModelError`, and
kerasblocks offers no switch to turn safe mode off. See SECURITY.md.
"""

import contextlib
import dataclasses
import json
import pathlib
import shutil
import zipfile
import zlib

from kerasblocks._files import atomic_path, temporary_sibling
from kerasblocks._version import __version__

METADATA_MEMBER = "metadata.json"  # Keras's name, see keras/src/saving/saving_lib.py
CONFIG_MEMBER = "config.json"
METADATA_KEY = "kerasblocks"

# Where a model built from a spec carries that spec until it is saved.
_MODEL_ATTRIBUTE = "_kerasblocks_spec"
_COPY_CHUNK_BYTES = 1 << 20
# metadata.json and config.json are read whole; a larger (declared) size is
# refused rather than decompressed (a zip bomb). Big models' configs take kBs.
MAX_JSON_MEMBER_BYTES = 64 << 20


class ModelFileError(ValueError):
    """A file that is not a `.keras` model archive, or one that Keras cannot load."""


class UnsafeModelError(ModelFileError):
    """A `.keras` file that carries Python code, which Keras' safe mode refuses."""


@dataclasses.dataclass(frozen=True)
class SpecRecord:
    """The spec a model was built from, as stored in its `.keras` file.

    text: the spec's YAML text, exactly as read.
    name: the spec's `name`.
    file: the file the spec was read from ("<string>" for text).
    vars: the var overrides it was built with (`--set` / `build(**vars)`).
    kerasblocks_version: the kerasblocks version that built the model.
    """

    text: str
    name: str = ""
    file: str = ""
    vars: dict = dataclasses.field(default_factory=dict)
    kerasblocks_version: str = __version__

    def to_json(self):
        return {
            "version": self.kerasblocks_version,
            "spec_name": self.name,
            "spec_file": self.file,
            "vars": dict(self.vars),
            "spec": self.text,
        }

    @classmethod
    def from_json(cls, data):
        return cls(
            text=data.get("spec", ""),
            name=data.get("spec_name", ""),
            file=data.get("spec_file", ""),
            vars=dict(data.get("vars") or {}),
            kerasblocks_version=data.get("version", ""),
        )


def attach_spec_record(model, record):
    """Remembers on `model` the spec it was built from (read by `save_model`)."""
    # object.__setattr__ keeps Keras's attribute tracking out of it: the record
    # is plain data, not a layer or a variable.
    object.__setattr__(model, _MODEL_ATTRIBUTE, record)
    return model


def spec_record_of(model):
    """The `SpecRecord` attached to `model`, or None."""
    return getattr(model, _MODEL_ATTRIBUTE, None)


def save_model(model, path):
    """Saves `model` to a `.keras` file, atomically, with its spec if it has one.

    Args:
        model: a `keras.Model`. If it was built by `kerasblocks.build` (or
            loaded by `kerasblocks.load_model` from such a file), its spec
            text, vars and the kerasblocks version go into the file's metadata.
        path: target path, ending in `.keras`. Its directory must exist. An
            existing file is replaced only once the new one is complete.

    Returns:
        The `pathlib.Path` written.
    """
    import keras

    path = pathlib.Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"A model file name must end in `.keras`. Received: path={path}")
    record = spec_record_of(model)
    # The temporary names end in ".keras", as the target's: Keras insists on it.
    with atomic_path(path) as final_file:
        if record is None:
            keras.saving.save_model(model, final_file)
            return path
        keras_file = temporary_sibling(path)
        try:
            keras.saving.save_model(model, keras_file)
            _copy_archive_with_metadata(keras_file, final_file, {METADATA_KEY: record.to_json()})
        finally:
            with contextlib.suppress(FileNotFoundError):
                keras_file.unlink()
    return path


def load_model(path, *, compile=True):
    """Loads a `.keras` file with `safe_mode=True`, kerasblocks layers registered.

    The spec a file was built from stays with the loaded model, so saving it
    again keeps the metadata.

    Raises:
        FileNotFoundError: no such file.
        UnsafeModelError: the file carries Python code (a `Lambda` layer, ...),
            which safe mode refuses to load.
        ModelFileError: not a `.keras` archive, or Keras cannot load it (say,
            a custom layer whose package was not imported).
    """
    from kerasblocks import _registration

    _registration.register_layers()
    import keras

    path = pathlib.Path(path)
    metadata = read_metadata(path)  # also gives clear errors for bad files
    if path.suffix != ".keras":  # other suffixes take Keras' legacy loaders
        raise ModelFileError(
            f"'{path}' is not a .keras model file (its name must end in .keras)"
        )
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (TypeError, ValueError, KeyError) as error:  # Keras' refusals
        raise _load_error(path, error) from error
    if metadata["spec"] is not None:
        attach_spec_record(model, metadata["spec"])
    return model


def read_metadata(path):
    """What a `.keras` file says about itself, read without Keras.

    Returns:
        dict with "model_name", "keras_version", "date_saved" and "spec" (a
        `SpecRecord`, or None for a model not built from a spec).

    Raises:
        FileNotFoundError: no such file.
        ModelFileError: not a `.keras` archive.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such model file: '{path}'")
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = _read_json_member(archive, METADATA_MEMBER)
            config = _read_json_member(archive, CONFIG_MEMBER)
    # ValueError covers JSONDecodeError; zlib.error and EOFError a damaged member.
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, zlib.error) as error:
        raise ModelFileError(f"'{path}' is not a .keras model file ({error})") from error
    spec = metadata.get(METADATA_KEY)
    model_config = config.get("config")
    record = _spec_record(spec) if spec else None
    if record is None and spec:
        raise ModelFileError(f"'{path}' has a malformed '{METADATA_KEY}' record in metadata.json")
    return {
        "model_name": _text(model_config.get("name")) if isinstance(model_config, dict) else "",
        "keras_version": _text(metadata.get("keras_version")),
        "date_saved": _text(metadata.get("date_saved")),
        "spec": record,
    }


def _read_json_member(archive, name):
    """A JSON object member of the archive, bounded in size; raises ValueError."""
    info = archive.getinfo(name)  # KeyError when missing
    if info.file_size > MAX_JSON_MEMBER_BYTES:
        raise ValueError(
            f"{name} is {info.file_size:,} bytes; the limit is {MAX_JSON_MEMBER_BYTES:,}"
        )
    data = json.loads(archive.read(info))
    if not isinstance(data, dict):
        raise ValueError(f"{name} does not hold a JSON object")
    return data


def _spec_record(data):
    """The `SpecRecord` of a metadata record, or None when its fields have wrong types."""
    if not isinstance(data, dict):
        return None
    texts = ("spec", "spec_name", "spec_file", "version")
    if any(not isinstance(data.get(key, ""), str) for key in texts):
        return None
    if not isinstance(data.get("vars") or {}, dict):
        return None
    return SpecRecord.from_json(data)


def _text(value):
    return value if isinstance(value, str) else ""


def _load_error(path, error):
    """A `ModelFileError` (`UnsafeModelError` for safe mode's refusals) for Keras' error."""
    reason = " ".join(str(error).split()) or type(error).__name__
    if "safe_mode" in reason or "unsafe_deserialization" in reason:
        return UnsafeModelError(
            f"'{path}' carries Python code, which Keras' safe mode refuses to load "
            f"({reason.split('. ')[0]}). kerasblocks always loads with safe mode on. Load "
            "the file only if you trust whoever made it, with "
            "keras.saving.load_model(path, safe_mode=False)"
        )
    return ModelFileError(
        f"'{path}' cannot be loaded: {reason} (if it uses custom layers, import the "
        "package that registers them first)"
    )


def _copy_archive_with_metadata(source, target, extra_metadata):
    """Copies a `.keras` archive, merging `extra_metadata` into metadata.json."""
    with zipfile.ZipFile(source) as reader, zipfile.ZipFile(target, "w") as writer:
        for info in reader.infolist():
            if info.filename == METADATA_MEMBER:
                metadata = json.loads(reader.read(info))
                metadata.update(extra_metadata)
                writer.writestr(info, json.dumps(metadata, indent=2, default=str))
                continue
            # Stream member by member: weights can be gigabytes.
            copied = zipfile.ZipInfo(info.filename, info.date_time)
            copied.compress_type = info.compress_type
            copied.file_size = info.file_size  # lets zipfile pick zip64 when needed
            with reader.open(info) as member, writer.open(copied, "w") as out:
                shutil.copyfileobj(member, out, _COPY_CHUNK_BYTES)
