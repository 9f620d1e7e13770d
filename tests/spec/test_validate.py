"""Validation end to end: the bad-spec corpus, warnings, var overrides.

Every file in tests/spec/bad/ is a spec with one or more errors. Its header
says what it checks and lists every expected error, in file order:

    # Checks: what the file is about.
    # vars: name=value          (optional overrides, as given to --set)
    # expect: 12:7: unknown layer type 'Conv2d'; did you mean 'Conv2D'?
    # expect: <vars>: message   (for an error outside the spec text)
"""

import re
import textwrap
from pathlib import Path

import pytest

from kerasblocks.errors import SpecError
from kerasblocks.spec.load import load_spec
from kerasblocks.spec.validate import validate
from kerasblocks.spec.vars import parse_var_overrides

BAD_SPECS = sorted((Path(__file__).parent / "bad").glob("*.yaml"))
_EXPECT_RE = re.compile(r"# expect: (?:(\d+):(\d+)|(<\w+>)): (.*)")


def _header(path):
    """Returns (overrides, [(line, column, file or None, message)])."""
    assignments, expected = [], []
    for line in path.read_text().splitlines():
        if line.startswith("# vars: "):
            assignments.append(line.removeprefix("# vars: "))
        match = _EXPECT_RE.fullmatch(line)
        if match:
            row, column, file, message = match.groups()
            expected.append(
                (int(row) if row else None, int(column) if column else None, file, message)
            )
    return parse_var_overrides(assignments), expected


def test_the_corpus_is_large_enough():
    assert len(BAD_SPECS) >= 30


@pytest.mark.parametrize("path", BAD_SPECS, ids=lambda path: path.stem)
def test_bad_spec_reports_exactly_the_expected_errors(path):
    overrides, expected = _header(path)
    assert expected, f"{path.name} has no '# expect:' line"
    with pytest.raises(SpecError) as caught:
        validate(path, vars=overrides)

    error = caught.value
    found = [
        (
            diagnostic.location.line,
            diagnostic.location.column,
            None if diagnostic.location.file == str(path) else diagnostic.location.file,
            diagnostic.message,
        )
        for diagnostic in error.diagnostics
    ]
    assert found == expected
    # The text a user sees: one `file:line:column: error: message` per error.
    lines = [line for line in str(error).splitlines() if not line.startswith("  hint:")]
    for (row, column, file, message), line in zip(expected, lines, strict=True):
        where = file if file else f"{path}:{row}:{column}"
        assert line.startswith(f"{where}: error: {message}")
    assert (error.file, error.line, error.message) == (
        expected[0][2] or str(path),
        expected[0][0],
        expected[0][3],
    )


def _spec(text):
    return textwrap.dedent(text)


def test_validate_returns_the_warnings():
    warnings = validate(_spec("""\
            kerasblocks: 1
            name: net
            vars: {width: 8, unused: 3}
            inputs:
              image: {shape: [4]}
              mask: {shape: [4]}
            blocks:
              Spare:
                layers: [Dense: {units: 1}]
            layers:
              - Dense: {units: $width, name: dead_end, inputs: image}
              - Dense: {units: 2, name: out, inputs: image}
            outputs: [out]
            """))
    assert [(w.location.line, w.location.column, w.message) for w in warnings] == [
        (3, 18, "var 'unused' is never used"),
        (6, 3, "model input 'mask' is never used"),
        (8, 3, "block 'Spare' is never used"),
        (11, 5, "the output of layer 'dead_end' is never used"),
    ]
    assert all(w.severity == "warning" for w in warnings)
    assert str(warnings[0]).startswith("<spec>:3:18: warning: var 'unused' is never used")


def test_a_dangling_layer_inside_a_block_is_reported_once():
    warnings = validate(_spec("""\
            kerasblocks: 1
            name: net
            inputs: {x: {shape: [4]}}
            blocks:
              Head:
                layers:
                  - Dense: {units: 3, name: side}
                  - Dense: {units: 2, inputs: input}
            layers: [Head: {}, Head: {}]
            """))
    assert [(w.location.line, w.message) for w in warnings] == [
        (7, "the output of this Dense layer of block Head is never used")
    ]


def test_errors_in_an_unused_block_are_still_reported():
    with pytest.raises(SpecError) as caught:
        validate(_spec("""\
                kerasblocks: 1
                name: net
                inputs: {x: {shape: [4]}}
                blocks:
                  Spare:
                    layers: [Dense: {unit: 1}]
                layers: [Dense: {units: 2}]
                """))
    assert caught.value.message == "Dense has no argument 'unit'; did you mean 'units'?"


def test_schema_errors_come_alone():
    """Structure errors stop before the meaning is judged (it would be noise)."""
    with pytest.raises(SpecError) as caught:
        validate(
            "kerasblocks: 1\nname: n\ninputs: {x: {shape: [2]}}\n"
            "layers: [Dense: {units: 2}]\noutputs: 3\n"
        )
    assert [d.message for d in caught.value.diagnostics] == [
        "'outputs' must be text or a list or a mapping, not a number"
    ]


# --- var overrides --------------------------------------------------------------------

SPEC_WITH_VARS = _spec("""\
    kerasblocks: 1
    name: net
    vars: {num_classes: 10, width: "${num_classes * 2}"}
    inputs: {x: {shape: [4]}}
    layers:
      - Dense: {units: $width}
      - Dense: {units: $num_classes}
    """)


def test_parse_var_overrides_reads_yaml_values():
    assert parse_var_overrides(["a=100", "b=relu", "c=[3, 3]", "d=1e-4", "e=", "f=true"]) == {
        "a": 100,
        "b": "relu",
        "c": [3, 3],
        "d": 1e-4,
        "e": None,
        "f": True,
    }


def test_parse_var_overrides_reports_every_bad_assignment():
    spec = load_spec(SPEC_WITH_VARS)
    with pytest.raises(SpecError) as caught:
        parse_var_overrides(["num_clases=100", "oops", "width=[1,", "num_classes=5"], spec)
    unknown, malformed, unparsable = [str(d).splitlines()[0] for d in caught.value.diagnostics]
    assert unknown == (
        "--set: error: unknown var 'num_clases'; did you mean 'num_classes'? "
        "(the spec's vars: num_classes, width) (at vars.num_clases)"
    )
    assert malformed == "--set: error: 'oops' is not an assignment name=value"
    assert unparsable.startswith("--set: error: the value of 'width': YAML syntax error: ")


def test_an_override_flows_into_the_vars_that_use_it():
    warnings = validate(SPEC_WITH_VARS, vars=parse_var_overrides(["num_classes=100"]))
    assert warnings == []
    from kerasblocks.spec.expand import expand

    graph = expand(SPEC_WITH_VARS, vars={"num_classes": 100})
    assert [node.arguments["units"] for node in graph.layers] == [200, 100]
    origin = graph.layers[1].argument_origins["units"]
    assert (origin.kind, origin.detail, origin.location.file) == (
        "var",
        "num_classes (overridden)",
        "<vars>",
    )


def test_a_bad_override_expression_is_reported_at_the_override():
    with pytest.raises(SpecError) as caught:
        validate(SPEC_WITH_VARS, vars={"num_classes": "${oops}"})
    assert str(caught.value).splitlines()[0] == (
        "<vars>: error: unknown name 'oops' (at vars.num_classes)"
    )


def test_kerasblocks_prefixed_names_must_be_kerasblocks_layers():
    with pytest.raises(SpecError) as caught:
        validate("kerasblocks: 1\nname: n\ninputs: {x: {shape: [2]}}\nlayers: [kerasblocks>Lrn: {}]\n")
    assert caught.value.message == "unknown layer type 'kerasblocks>Lrn'; did you mean 'kerasblocks>LRN'?"
