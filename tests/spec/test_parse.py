"""YAML -> data with positions: safe loading, YAML 1.2 scalars, bounds, load_spec."""

import math
import textwrap

import pytest

from kerasblocks.errors import SpecError
from kerasblocks.spec.load import SHIPPED_SPECS_DIR, Spec, load_spec, shipped_spec_names
from kerasblocks.spec.parse import MAX_TEXT_CHARS, parse_value, parse_yaml


def _error(text):
    with pytest.raises(SpecError) as caught:
        parse_yaml(text, "t.yaml")
    return caught.value


# --- values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("1e-4", 1e-4),  # PyYAML's YAML 1.1 reads a string here
        ("0.5", 0.5),
        (".5", 0.5),
        ("-3", -3),
        ("0x1F", 31),
        ("0o17", 15),
        (".inf", math.inf),
        ("-.inf", -math.inf),
        ("true", True),
        ("False", False),
        ("yes", "yes"),  # YAML 1.1 booleans are text in 1.2
        ("on", "on"),
        ("null", None),
        ("~", None),
        ("same", "same"),
        ("'1e-4'", "1e-4"),
        ("!!str 12", "12"),
        ("!!float 1", 1.0),
        ("[3, 3]", [3, 3]),
        ("{class_name: L2}", {"class_name": "L2"}),
    ],
)
def test_scalars_follow_the_yaml_1_2_core_schema(text, value):
    assert parse_value(text) == value


def test_nan_is_a_float():
    assert math.isnan(parse_value(".nan"))


def test_keys_are_always_text():
    assert parse_yaml("1: a\ntrue: b\nnull: c\n").data == {"1": "a", "true": "b", "null": "c"}


def test_anchors_and_aliases_are_expanded():
    document = parse_yaml("a: &k [3, 3]\nb: *k\n")
    assert document.data == {"a": [3, 3], "b": [3, 3]}


# --- positions ------------------------------------------------------------------------

TEXT = textwrap.dedent("""\
    layers:
      - Conv2D:
          filters: 64
          name: "conv${i}"
      - Dense: {units: 10}
    """)


def test_every_value_and_key_has_its_position():
    document = parse_yaml(TEXT, "net.yaml")
    filters = document.location(("layers", 0, "Conv2D", "filters"))
    assert (filters.file, filters.line, filters.column) == ("net.yaml", 3, 16)
    assert filters.path == ("layers", 0, "Conv2D", "filters")
    key = document.key_location(("layers", 0, "Conv2D", "filters"))
    assert (key.line, key.column) == (3, 7)
    units = document.location(("layers", 1, "Dense", "units"))
    assert (units.line, units.column) == (5, 20)
    assert str(document.key_location(("layers", 1, "Dense"))) == "net.yaml:5:5"


def test_an_offset_points_into_a_quoted_string():
    document = parse_yaml(TEXT)
    # "conv${i}" starts at column 13 (the quote); offset 6 is the `i`.
    location = document.location(("layers", 0, "Conv2D", "name"), offset=6)
    assert (location.line, location.column) == (4, 20)


def test_unknown_paths_fall_back_to_the_nearest_parent():
    document = parse_yaml(TEXT)
    location = document.location(("layers", 1, "Dense", "activation"))
    assert (location.line, location.column) == (5, 12)


# --- refusals -------------------------------------------------------------------------


def test_python_tags_are_refused_and_nothing_is_constructed(tmp_path):
    marker = tmp_path / "ran"
    error = _error(f"a: !!python/object/apply:os.system ['touch {marker}']\n")
    assert error.message == "YAML tag '!!python/object/apply:os.system' is not allowed"
    assert (error.line, error.column) == (1, 4)
    assert not marker.exists()


@pytest.mark.parametrize("tag", ["!!binary", "!!timestamp", "!!set", "!custom"])
def test_non_standard_tags_are_refused(tag):
    assert _error(f"a: {tag} x\n").message.startswith("YAML tag")


def test_duplicate_keys_are_errors_with_both_positions():
    error = _error("a: 1\nb: 2\na: 3\n")
    assert (error.line, error.column, error.message) == (
        3,
        1,
        "duplicate key 'a' (first written at 1:1)",
    )


def test_every_duplicate_is_reported():
    assert len(_error("a: 1\na: 2\nb: {c: 1, c: 2}\n").diagnostics) == 2


def test_alias_expansion_is_bounded():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 10) + "]")
    assert "expands to more than" in _error("\n".join(lines) + "\n").message


def test_a_recursive_alias_is_refused():
    assert _error("a: &a [1, *a]\n").message == "an alias refers to a value that contains it"


def test_nesting_depth_is_bounded_before_python_recursion_runs_out():
    error = _error("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert error.message == "values are nested more than 64 levels deep"


def test_size_is_bounded():
    assert "the limit is" in _error("#" * (MAX_TEXT_CHARS + 1)).message


@pytest.mark.parametrize(
    "text, line, column, start",
    [
        ("a: [1, 2\n", 2, 1, "YAML syntax error"),
        ("a: 1\n b: 2\n", 2, 3, "YAML syntax error: mapping values are not allowed here"),
        ("a: 1\n---\nb: 2\n", 2, 1, "a spec is a single YAML document"),
        ("", 1, 1, "the spec is empty"),
        ("a: \x07\n", 1, 4, "character #x0007 is not allowed"),
    ],
)
def test_yaml_errors_are_located(text, line, column, start):
    error = _error(text)
    assert (error.line, error.column) == (line, column)
    assert error.message.startswith(start)
    assert str(error).startswith(f"t.yaml:{line}:{column}: error: {start}")


# --- load_spec ------------------------------------------------------------------------

SPEC = "kerasblocks: 1\nname: tiny\ninputs: {x: {shape: [2]}}\nlayers: [Dense: {units: 1}]\n"


def test_load_spec_reads_text(tmp_path):
    spec = load_spec(SPEC)
    assert (spec.text, spec.file, spec.name, spec.path) == (SPEC, "<spec>", "tiny", None)
    assert spec.data["layers"] == [{"Dense": {"units": 1}}]
    assert load_spec(SPEC, file="mine.yaml").file == "mine.yaml"


def test_load_spec_reads_a_path(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC)
    for source in (path, str(path)):
        spec = load_spec(source)
        assert (spec.file, spec.path, spec.text) == (str(path), path, SPEC)


def test_load_spec_finds_shipped_specs():
    assert {"vgg16", "inception_fashion"} <= set(shipped_spec_names())
    spec = load_spec("vgg16")
    assert spec.path == SHIPPED_SPECS_DIR / "vgg16.yaml"
    assert spec.name == "vgg16"


def test_load_spec_passes_a_spec_through():
    spec = load_spec(SPEC)
    assert load_spec(spec) is spec
    assert isinstance(spec, Spec)


def test_load_spec_names_the_shipped_specs_when_nothing_matches():
    with pytest.raises(SpecError) as caught:
        load_spec("vgg61")
    assert caught.value.message == "no spec file 'vgg61' and no shipped spec of that name"
    assert "vgg16" in caught.value.hint


def test_load_spec_locates_yaml_errors_in_files(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("a: [1\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(caught.value).startswith(f"{path}:2:1: error: YAML syntax error")


def test_load_spec_refuses_non_utf8_files(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(path)
