"""Mutations of spec text for fuzzing the front end (parse, schema, checks, expand).

Shared by `tests/spec/test_fuzz.py` (Hypothesis drives the choices) and
`benchmarks/fuzz.py` (a seeded `random.Random` drives them, 10,000+ times).
`apply_mutation(text, mutation, rng)` applies one of `MUTATIONS`:

- text mutations (`mutation(text, rng) -> text`) work on the characters and
  lines as written: truncation, random unicode, a deleted, duplicated or
  swapped line, a duplicated key;
- data mutations (`mutation(data, rng) -> data`) change one value of the
  parsed data: a deleted key, a value of the wrong type, swapped names, a
  dangling reference, big and negative numbers, a layer type from the refused
  or plugin namespaces; the data is then written back as YAML.

`outcome` runs one text through `kerasblocks.api.validate` and sorts the
result: "valid", "spec_error" (every diagnostic located at a line >= 1) or
"bad" (anything else: an unlocated SpecError or another exception).
`build_outcome` goes on to build the Keras model of a valid text, when
`cheap_to_build` says that costs little (few layers and parameters).
"""

import copy
import math
import re

import yaml

from kerasblocks.errors import SpecError
from kerasblocks.spec.load import SHIPPED_SPECS_DIR
from kerasblocks.spec.parse import parse_yaml

# Shipped specs whose models build in well under a second.
SMALL_SPECS = ("mlp_mnist", "residual_bottleneck", "inception_v3_modules", "resnet_preact")
# `cheap_to_build`: mutations make numbers like `units: 1000000000`, whose
# weights Keras would allocate and fill (gigabytes, seconds).
MAX_PARAMETERS_TO_BUILD = 5_000_000
MAX_LAYERS_TO_BUILD = 200

# Values of the wrong type, the wrong size or the wrong sign, and hostile text.
ODD_VALUES = (
    None, True, False, 0, 1, -1, -7, 2, 3.5, -0.5, 1e-300, 1e300, 10**12, -(10**12), 2**53 + 1,
    10**30, math.inf, -math.inf, math.nan, "", " ", "x", "relu", "same", "☃",
    "\u202e\u0000", "a" * 300, "$", "$$", "$nope", "${", "${}", "${1/0}", "${2 ** 10 ** 10}",
    "${" + "(" * 40 + "1" + ")" * 40 + "}", "${max()}", "${min(1, [2])}", "${-1}",
    "${10**12}", "${0.5}", [], [1], [None], [3, -3], ["x", "y"], [[1]], {}, {"a": 1},
    {"class_name": "L2"}, {"class_name": "function", "config": "system", "module": "os"},
    {"L2": 5}, {"L2": {"l2": "x"}}, {"name": "x"}, {"when": 1},
)
# Layer type names a spec might be given: real, misspelt, refused, plugins, odd.
ODD_TYPES = (
    "Dense", "Conv2D", "Add", "Concatenate", "Flatten", "Dropout", "InceptionBlock",
    "ResidualUnit", "LRN", "L2NormScale", "kerasblocks>LRN", "Dens", "Lambda", "TFSMLayer",
    "Bidirectional", "Layer", "InputLayer", "os>system", "subprocess>Popen", "my.pkg>Layer",
    "kerasblocks>Dense", ">", "a>b>c", "__import__", "repeat", "scope", "stack", "input",
)
# Characters that YAML, the expression language or terminals treat specially.
ODD_CHARACTERS = (
    ":", "-", "{", "}", "[", "]", ",", "#", "&", "*", "!", "|", ">", "'", '"', "%", "@", "`",
    "$", "${", "\t", "\n", "\r", "\x00", "\x07", "\x85", "\u2028", "\ufeff", "\ud7ff",
    "☃", "é", "𝔘", "\u202e", "<<", "!!python/object/apply:os.system ['true']", "*x", "&x",
    "? ", "--- ", "...",
)


def shipped_spec_texts():
    """{name: text} of every spec in the shipped `specs/` folder."""
    return {path.stem: path.read_text("utf-8") for path in sorted(SHIPPED_SPECS_DIR.glob("*.yaml"))}


# --- text mutations -------------------------------------------------------------


def truncate(text, rng):
    return text[: rng.randrange(len(text) + 1)]


def insert_characters(text, rng):
    position = rng.randrange(len(text) + 1)
    if rng.random() < 0.5:
        inserted = rng.choice(ODD_CHARACTERS)
    else:  # any code point but surrogates, which cannot be encoded
        inserted = "".join(
            chr(rng.choice([rng.randrange(0x20, 0x7F), rng.randrange(0xA0, 0xD800),
                            rng.randrange(0xE000, 0x110000)]))
            for _ in range(rng.randrange(1, 4))
        )
    return text[:position] + inserted + text[position:]


def delete_characters(text, rng):
    start = rng.randrange(len(text) + 1)
    return text[:start] + text[start + rng.randrange(1, 8) :]


def delete_line(text, rng):
    lines = text.splitlines(keepends=True)
    del lines[rng.randrange(len(lines))]
    return "".join(lines)


def duplicate_line(text, rng):
    """Repeats a line right below itself: a duplicated key, layer or list item."""
    lines = text.splitlines(keepends=True)
    index = rng.randrange(len(lines))
    lines.insert(index, lines[index] if lines[index].endswith("\n") else lines[index] + "\n")
    return "".join(lines)


def swap_lines(text, rng):
    lines = text.splitlines(keepends=True)
    first, second = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[first], lines[second] = lines[second], lines[first]
    return "".join(lines) if text.endswith("\n") else "".join(lines).rstrip("\n")


def replace_word(text, rng):
    """Replaces one word of the text by another word of it, or by an odd one."""
    words = list(re.finditer(r"[A-Za-z_][A-Za-z0-9_]*|-?[0-9]+(?:\.[0-9]+)?", text))
    if not words:
        return text
    target = rng.choice(words)
    if rng.random() < 0.5:
        replacement = rng.choice(words).group()
    else:
        replacement = rng.choice([*ODD_TYPES, "0", "-1", "99999999999999999999", "9" * 5000,
                                  "1e400", "0x7fffffffffffffff", "null", "true", "~", "é"])
    return text[: target.start()] + replacement + text[target.end() :]


def duplicate_key(text, rng):
    """Writes a key of a flow mapping (`{units: 8, ...}`) a second time."""
    pairs = list(re.finditer(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*:\s*[^,{}\[\]\n]+)", text))
    if not pairs:
        return duplicate_line(text, rng)
    pair = rng.choice(pairs)
    copy_text = f", {pair.group(2)}{pair.group(3)}"
    return text[: pair.end()] + copy_text + text[pair.end() :]


TEXT_MUTATIONS = (
    truncate, insert_characters, delete_characters, delete_line, duplicate_line, swap_lines,
    replace_word, duplicate_key,
)


# --- data mutations -------------------------------------------------------------


def _paths(data, path=()):
    """Every (path, value) in the data, the root included."""
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, path + (index,))


def _parent(data, path):
    for key in path[:-1]:
        data = data[key]
    return data


def _strings(data):
    return [value for _, value in _paths(data) if isinstance(value, str)]


def delete_key(data, rng):
    paths = [path for path, _ in _paths(data) if path]
    if paths:
        path = rng.choice(paths)
        del _parent(data, path)[path[-1]]
    return data


def replace_value(data, rng):
    path, _ = rng.choice(list(_paths(data)))
    value = copy.deepcopy(rng.choice(ODD_VALUES))
    if not path:
        return value
    _parent(data, path)[path[-1]] = value
    return data


def change_number(data, rng):
    """Big, negative, zero or fractional numbers where numbers were written."""
    paths = [
        path for path, value in _paths(data)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    if paths:
        path = rng.choice(paths)
        old = _parent(data, path)[path[-1]]
        _parent(data, path)[path[-1]] = rng.choice(
            [-old, 0, old * 1000, old + 0.5, 10**9, 10**18, -(2**31), 2**53, 1e-9]
        )
    return data


def swap_strings(data, rng):
    """Swaps two text values: two layer names, references, types as values."""
    paths = [path for path, value in _paths(data) if path and isinstance(value, str)]
    if len(paths) >= 2:
        first, second = rng.sample(paths, 2)
        a, b = _parent(data, first)[first[-1]], _parent(data, second)[second[-1]]
        _parent(data, first)[first[-1]], _parent(data, second)[second[-1]] = b, a
    return data


def dangle_reference(data, rng):
    """Points an `inputs`, `outputs`, `output` or `name` at a name nobody defines."""
    paths = [
        path for path, value in _paths(data)
        if path and isinstance(value, str) and any(
            key in ("inputs", "outputs", "output", "name") for key in path if isinstance(key, str)
        )
    ]
    if paths:
        path = rng.choice(paths)
        _parent(data, path)[path[-1]] = rng.choice(["nowhere", "input", "image", "x", "", "a b"])
    return data


def rename_key(data, rng):
    """Renames a mapping key: a layer type, an argument, a block or a top-level key."""
    mappings = [(path, value) for path, value in _paths(data) if isinstance(value, dict) and value]
    if not mappings:
        return data
    path, mapping = rng.choice(mappings)
    old = rng.choice(list(mapping))
    pool = [*ODD_TYPES, *(key for _, value in mappings for key in value)]
    new = rng.choice(pool)
    renamed = {(new if key == old else key): value for key, value in mapping.items()}
    if not path:
        return renamed
    _parent(data, path)[path[-1]] = renamed
    return data


def add_key(data, rng):
    mappings = [value for _, value in _paths(data) if isinstance(value, dict)]
    if mappings:
        rng.choice(mappings)[rng.choice([*ODD_TYPES, "name", "inputs", "when", "repeat",
                                         "layers", "index", "with", "defaults", "params"])] = (
            copy.deepcopy(rng.choice(ODD_VALUES))
        )
    return data


def copy_subtree(data, rng):
    """Puts a copy of one value in place of another: a block in a layer list, ..."""
    paths = [path for path, _ in _paths(data) if path]
    if len(paths) >= 2:
        source, target = rng.sample(paths, 2)
        if source[: len(target)] != target:  # not into its own parent chain
            _parent(data, target)[target[-1]] = copy.deepcopy(
                _parent(data, source)[source[-1]]
            )
    return data


DATA_MUTATIONS = (
    delete_key, replace_value, change_number, swap_strings, dangle_reference, rename_key,
    add_key, copy_subtree,
)


MUTATIONS = TEXT_MUTATIONS + DATA_MUTATIONS


def apply_mutation(text, mutation, rng):
    """Applies one mutation (from `MUTATIONS`) to `text`; returns the new text.

    A data mutation on text that no longer parses (an earlier text mutation
    broke it) falls back to truncating it: there is no data to change.
    """
    if mutation in TEXT_MUTATIONS:
        return mutation(text, rng) if text else text
    try:
        data = parse_yaml(text).data
    except SpecError:
        return truncate(text, rng)
    data = mutation(data, rng)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1_000_000)


def mutate(text, rng):
    """Applies 1 to 3 mutations chosen by `rng`; returns (text, [their names])."""
    mutations = [rng.choice(MUTATIONS) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    for mutation in mutations:
        text = apply_mutation(text, mutation, rng)
    return text, [mutation.__name__ for mutation in mutations]


# --- judging one text ---------------------------------------------------------------


def outcome(text):
    """Validates `text`; returns ("valid" | "spec_error" | "bad", detail).

    "bad" means a bug: an exception other than SpecError, or a SpecError with
    a diagnostic that has no line number. `detail` says which.
    """
    from kerasblocks import api

    try:
        api.validate(_as_text(text))
    except SpecError as error:
        return _judge(error)
    except Exception as error:  # the bug the fuzzer looks for
        return "bad", f"{type(error).__name__}: {error}"
    return "valid", ""


def build_outcome(text):
    """Validates `text` and, if it is valid and cheap to build, builds its model.

    Returns ("valid" | "built" | "spec_error" | "bad", detail): "valid" means
    valid but not built (`cheap_to_build` said no), "built" a Keras model.
    """
    from kerasblocks import api

    try:
        graph = api.expand(_as_text(text))
        if not cheap_to_build(graph):
            return "valid", "not built: too many layers or parameters"
        api.build(graph)
    except SpecError as error:
        return _judge(error)
    except Exception as error:
        return "bad", f"{type(error).__name__}: {error}"
    return "built", ""


def cheap_to_build(graph):
    """Whether building `graph` costs little: at most 200 layers and 5,000,000 parameters.

    The parameters are counted on the model built in a `keras.StatelessScope`
    that does not initialise its variables: shapes only, no memory for the
    weights.

    Raises:
        SpecError: the model cannot be built (found without allocating).
    """
    if len(graph.layers) > MAX_LAYERS_TO_BUILD:
        return False
    from kerasblocks.spec.build import layer_parameter_counts

    parameters = sum(layer_parameter_counts(graph).values())
    return parameters <= MAX_PARAMETERS_TO_BUILD


def _as_text(text):
    """Spec text as `load_spec` recognises it (text is told from a path by a newline)."""
    return text if text.endswith("\n") else text + "\n"


def _judge(error):
    unlocated = [
        diagnostic for diagnostic in error.diagnostics
        if diagnostic.location.line is None or diagnostic.location.line < 1
    ]
    if unlocated:
        return "bad", f"SpecError without a line: {unlocated[0]}"
    return "spec_error", error.message
