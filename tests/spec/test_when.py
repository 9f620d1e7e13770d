"""`when:` conditions: entries and outputs that exist only when a var says so.

The errors (a condition that is not true or false, a reference to a layer that
was left out, `when` in defaults) are in the bad-spec corpus:
tests/spec/bad/when_*.yaml.
"""

import textwrap

import pytest

from kerasblocks.errors import SpecError
from kerasblocks.spec.expand import expand
from kerasblocks.spec.format import format_expanded

HEADER = "kerasblocks: 1\nname: net\ninputs:\n  x: {shape: [8]}\n"

# A trunk with an optional head on the side, as GoogLeNet's auxiliary heads.
SIDE_HEAD = """\
    vars: {aux: true}
    blocks:
      Head:
        params: {units: 2}
        layers: [Dense: {units: 16, activation: relu}, Dense: {units: $units}]
    layers:
      - Dense: {units: 4, name: trunk}
      - Head: {name: aux, when: $aux}
      - Dense: {units: 3, inputs: trunk, name: logits}
    outputs: [logits, {name: aux, when: $aux}]
    """


def _expand(body, **vars):
    return expand(HEADER + textwrap.dedent(body), vars or None)


def _names(graph):
    return [node.name for node in graph.layers]


def test_a_true_condition_changes_nothing():
    graph = _expand(SIDE_HEAD)
    assert _names(graph) == ["trunk", "aux_dense", "aux", "logits"]
    assert graph.outputs == ("logits", "aux")


def test_a_false_condition_leaves_the_layer_and_its_output_out():
    graph = _expand(SIDE_HEAD, aux=False)
    assert _names(graph) == ["trunk", "logits"]
    assert graph.outputs == ("logits",)
    assert graph.warnings == ()  # the var is used, even if only by a false condition


def test_a_chain_passes_over_a_left_out_layer():
    body = """\
        vars: {dropout: false}
        layers:
          - Dense: {units: 4}
          - Dropout: {rate: 0.5, when: $dropout}
          - Dense: {units: 2}
        """
    assert [node.inputs for node in _expand(body).layers] == [("x",), ("dense",)]
    with_dropout = _expand(body, dropout=True)
    assert [node.inputs for node in with_dropout.layers] == [("x",), ("dense",), ("dropout",)]


def test_when_on_repeat_stack_scope_and_stack_items():
    body = """\
        vars: {on: true, off: false}
        layers:
          - repeat: 2
            when: $off
            layers: [Dense: {units: 1}]
          - stack: Dense
            when: $on
            index: i
            with: [{units: 2, name: s0}, {units: 3, name: s1, when: $off}, {units: 4, name: s2}]
          - scope: head
            when: $off
            layers: [Dense: {units: 5}]
          - scope: tail
            when: $on
            layers: [Dense: {units: 6, name: last}]
        """
    graph = _expand(body)
    assert [(node.name, node.arguments["units"]) for node in graph.layers] == [
        ("s0", 2),
        ("s2", 4),
        ("last", 6),
    ]
    assert graph.node("s2").inputs == ("s0",)


def test_a_condition_may_use_loop_indices_and_block_params():
    body = """\
        vars: {extra: [false, true]}
        blocks:
          Unit:
            params: {widen: false}
            layers:
              - Dense: {units: 4}
              - Dense: {units: 8, when: $widen}
        layers:
          - stack: Unit
            with: [{widen: false, name: u0}, {widen: true, name: u1}]
        """
    assert _names(_expand(body)) == ["u0", "u1_dense", "u1"]


def test_the_same_name_may_be_used_by_alternatives():
    body = """\
        vars: {wide: false, narrow: true}
        layers:
          - Dense: {units: 64, name: head, when: $wide}
          - Dense: {units: 2, name: head, inputs: x, when: $narrow}
        """
    graph = _expand(body)
    assert [(node.name, node.arguments["units"]) for node in graph.layers] == [("head", 2)]


def test_every_output_left_out_is_an_error():
    body = """\
        vars: {aux: false}
        layers: [Dense: {units: 4, name: a}]
        outputs: [{name: a, when: $aux}]
        """
    with pytest.raises(SpecError, match="every output is left out by its `when`"):
        _expand(body)


def test_expand_output_of_a_spec_with_conditions_is_a_valid_spec():
    graph = _expand(SIDE_HEAD, aux=False)
    again = expand(format_expanded(graph))
    assert _names(again) == _names(graph)
    assert again.outputs == graph.outputs


def test_the_shipped_googlenet_switches_its_aux_heads_off():
    with_aux = expand("googlenet")
    without = expand("googlenet", {"aux": False})
    assert with_aux.outputs == ("logits", "aux1", "aux2")
    assert without.outputs == ("logits",)
    assert not any(node.name.startswith("aux") for node in without.layers)
    assert len(with_aux.layers) - len(without.layers) == 12  # 2 heads of 6 layers
