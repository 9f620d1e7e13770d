"""Property tests: any mutation of a shipped spec gives a model or a located SpecError.

Hypothesis mutates the text and the data of every spec in `specs/` (see
`tests/spec/spec_mutations.py`: truncation, random unicode, deleted, duplicated
and swapped lines and keys, values of the wrong type, big and negative numbers,
swapped names, dangling references, refused and plugin layer types) and checks
that the front end either accepts the result or raises a `SpecError` whose
every diagnostic has a line number: never another exception, never a hang.
`benchmarks/fuzz.py` runs the same mutations 10,000+ times.

The deadline is generous (validating one spec takes milliseconds); it only
catches a runaway expansion, which the bounds in `kerasblocks.spec` prevent.
"""

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.spec import spec_mutations

SPECS = spec_mutations.shipped_spec_texts()
FRONT_END_DEADLINE = datetime.timedelta(seconds=5)


def test_every_shipped_spec_is_mutated():
    assert len(SPECS) >= 10
    for name in spec_mutations.SMALL_SPECS:
        assert name in SPECS


@settings(
    max_examples=300,
    deadline=FRONT_END_DEADLINE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    name=st.sampled_from(sorted(SPECS)),
    mutations=st.lists(st.sampled_from(spec_mutations.MUTATIONS), min_size=1, max_size=3),
    rng=st.randoms(use_true_random=False),
)
def test_a_mutated_spec_validates_or_fails_with_located_errors(name, mutations, rng):
    text = SPECS[name]
    for mutation in mutations:
        text = spec_mutations.apply_mutation(text, mutation, rng)
    kind, detail = spec_mutations.outcome(text)
    names = [mutation.__name__ for mutation in mutations]
    assert kind in ("valid", "spec_error"), f"{name} {names}: {detail}\n--- text ---\n{text}"


@pytest.mark.parametrize("mutation", spec_mutations.MUTATIONS, ids=lambda m: m.__name__)
@settings(max_examples=8, deadline=FRONT_END_DEADLINE)
@given(name=st.sampled_from(sorted(SPECS)), rng=st.randoms(use_true_random=False))
def test_each_kind_of_mutation_is_handled(mutation, name, rng):
    text = spec_mutations.apply_mutation(SPECS[name], mutation, rng)
    kind, detail = spec_mutations.outcome(text)
    assert kind in ("valid", "spec_error"), f"{name}: {detail}\n--- text ---\n{text}"


@pytest.fixture(scope="module")
def keras_imported():
    """Imports Keras before Hypothesis runs: TensorFlow's import raises the
    recursion limit, which Hypothesis warns about when it happens inside a test."""
    import keras

    return keras


@settings(
    max_examples=25,
    deadline=None,  # TensorFlow's first build takes seconds
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(spec_mutations.SMALL_SPECS),
    mutations=st.lists(st.sampled_from(spec_mutations.MUTATIONS), min_size=1, max_size=2),
    rng=st.randoms(use_true_random=False),
)
def test_a_mutated_small_spec_builds_or_fails_with_located_errors(
    keras_imported, name, mutations, rng
):
    text = SPECS[name]
    for mutation in mutations:
        text = spec_mutations.apply_mutation(text, mutation, rng)
    kind, detail = spec_mutations.build_outcome(text)
    names = [mutation.__name__ for mutation in mutations]
    message = f"{name} {names}: {detail}\n--- text ---\n{text}"
    assert kind in ("built", "valid", "spec_error"), message


def test_the_judge_rejects_unlocated_errors_and_other_exceptions(monkeypatch):
    """The property is only as good as `outcome`: it must call these "bad"."""
    from kerasblocks import api
    from kerasblocks.errors import SourceLocation, SpecError

    assert spec_mutations.outcome(SPECS["mlp_mnist"]) == ("valid", "")
    assert spec_mutations.outcome("kerasblocks: 2\n")[0] == "spec_error"

    def unlocated(*args, **kwargs):
        raise SpecError("somewhere", SourceLocation("<spec>"))

    monkeypatch.setattr(api, "validate", unlocated)
    assert spec_mutations.outcome(SPECS["mlp_mnist"])[0] == "bad"

    def crash(*args, **kwargs):
        raise KeyError("layers")

    monkeypatch.setattr(api, "validate", crash)
    assert spec_mutations.outcome(SPECS["mlp_mnist"]) == ("bad", "KeyError: 'layers'")


def test_cheap_to_build_counts_parameters_without_allocating_them(keras_imported):
    from kerasblocks import api

    assert spec_mutations.cheap_to_build(api.expand("mlp_mnist"))
    assert not spec_mutations.cheap_to_build(api.expand("vgg16"))  # 138,357,544
    huge = "kerasblocks: 1\nname: t\ninputs: {x: {shape: [800000]}}\n"
    huge += "layers: [Dense: {units: 100000}]\n"
    assert not spec_mutations.cheap_to_build(api.expand(huge))  # 320 GB of weights
    chain = "kerasblocks: 1\nname: t\ninputs: {x: {shape: [2]}}\nlayers:\n"
    chain += "  - repeat: 201\n    layers: [ReLU: {}]\n"
    assert not spec_mutations.cheap_to_build(api.expand(chain))
