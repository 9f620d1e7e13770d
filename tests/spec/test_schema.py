"""The JSON Schema: valid, documented for editors, and its errors located."""

import json
import re
from pathlib import Path

import jsonschema
import pytest

from kerasblocks.spec.load import SHIPPED_SPECS_DIR, load_spec
from kerasblocks.spec.parse import parse_yaml
from kerasblocks.spec.schema import check_schema, schema, schema_text

SPEC_FILES = sorted(SHIPPED_SPECS_DIR.glob("*.yaml")) + sorted(
    (Path(__file__).parent / "data").glob("*.yaml")
)
MINIMAL = "kerasblocks: 1\nname: n\ninputs: {x: {shape: [2]}}\nlayers: [Dense: {units: 2}]\n"


def _errors(text):
    return [(d.location.line, d.location.column, d.message) for d in check_schema(parse_yaml(text))]


def test_the_schema_is_valid_draft_2020_12():
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema())


def test_schema_text_is_the_shipped_file():
    shipped = Path(__file__).parents[2] / "kerasblocks" / "spec" / "schema.json"
    assert schema_text() == shipped.read_text()
    assert json.loads(schema_text()) == schema()


def _property_schemas(node, where="#"):
    """Yields (where, schema) for every property declared anywhere in the schema."""
    if isinstance(node, dict):
        for name, child in node.get("properties", {}).items():
            yield f"{where}/properties/{name}", child
        for key, child in node.items():
            yield from _property_schemas(child, f"{where}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _property_schemas(child, f"{where}/{index}")


def _resolved(node):
    while "$ref" in node and not ({"title", "description"} & set(node)):
        node = schema()["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_every_property_is_documented_for_editors():
    undocumented = [
        where
        for where, node in _property_schemas(schema())
        if not {"title", "description"} & set(_resolved(node))
    ]
    assert undocumented == []


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda path: path.stem)
def test_shipped_and_test_specs_pass_the_schema(path):
    assert check_schema(load_spec(path).document) == []


@pytest.mark.parametrize(
    "path", sorted(SHIPPED_SPECS_DIR.glob("*.yaml")), ids=lambda path: path.stem
)
def test_shipped_specs_point_editors_at_the_schema(path):
    first_line = path.read_text().splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first_line)
    assert match, first_line
    assert (path.parent / match.group(1)).resolve() == (
        Path(__file__).parents[2] / "kerasblocks/spec/schema.json"
    )


def test_a_train_section_is_checked():
    # The section is defined in schema.json (property `train`); tests/training has the rest.
    assert _errors(MINIMAL + "train: {optimizer: {name: adam, learning_rate: 0.001}, epochs: 20}\n") == []
    assert _errors(MINIMAL + "train: [1]\n") == [(5, 8, "'train' must be a mapping, not a list")]
    assert _errors(MINIMAL + "train: {epochs: 0}\n")[0][:2] == (5, 17)


def test_errors_sit_on_the_offending_key_or_value():
    text = MINIMAL.replace(
        "layers: [Dense: {units: 2}]",
        "layers:\n  - repeat: 2\n    layer: [Dense: {}]\n    index: 3",
    )
    assert _errors(text) == [
        (6, 5, "unknown key 'layer' in repeat; did you mean 'layers'?"),
        (
            7,
            12,
            "'index' must be an identifier: letters, digits and '_', not starting with a digit, got 3",
        ),
    ]


def test_a_misspelt_key_does_not_also_count_as_missing():
    assert _errors(MINIMAL.replace("inputs:", "input:")) == [
        (3, 1, "unknown key 'input' at the top level of the spec; did you mean 'inputs'?")
    ]


def test_keys_of_a_layer_entry():
    text = MINIMAL.replace(
        "layers: [Dense: {units: 2}]",
        "layers:\n  - Dense: {units: 2}\n    inputs: x\n  - Dense: {}\n    Flatten: {}",
    )
    assert _errors(text) == [
        (
            6,
            5,
            "key 'inputs' must be a layer type (a class name such as Conv2D), an op (add, mean, ...; see the README) or a keyword (repeat, stack, scope)",
        ),
        (
            7,
            5,
            "item 2 of 'layers' must have exactly one key, its type: `- Conv2D: {filters: 8, name: c1}`",
        ),
    ]


def test_types_are_named_in_plain_words():
    text = MINIMAL.replace("inputs: {x: {shape: [2]}}", "inputs: {x: {shape: 2}}").replace(
        "name: n", "name: [n]"
    )
    assert _errors(text) == [
        (2, 7, "'name' must be text, not a list"),
        (
            3,
            21,
            "'shape' must be a list such as [28, 28, 1] or an expression such as `$shape`, got 2",
        ),
    ]


def test_block_definitions_are_checked():
    text = MINIMAL + "blocks:\n  lower: {layers: [Flatten: {}]}\n  Good: {layers: [], outptu: x}\n"
    assert _errors(text) == [
        (
            6,
            3,
            "key 'lower' must be a class-like name such as ConvBNReLU (a capital letter, then letters, digits, '_')",
        ),
        (7, 18, "'layers' must not be empty"),
        (7, 22, "unknown key 'outptu' in block; did you mean 'output'?"),
    ]


def test_layer_entry_keys_list_exactly_the_ops_of_the_table():
    """The schema names every op (and only those) as a layer entry key, so that
    a misspelt keyword (`repaet`) is still a schema error with a suggestion."""
    from kerasblocks.spec import ops

    pattern = schema()["$defs"]["layer"]["propertyNames"]["pattern"]
    written = re.search(r"\|\(\?:([a-z0-9_|]+)\)\|", pattern).group(1).split("|")
    assert written == sorted(ops.op_names(include_aliases=True))
