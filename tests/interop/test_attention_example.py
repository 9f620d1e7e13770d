"""examples/attention_model_to_spec.py does what its docstring says."""

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "attention_model_to_spec.py"


def test_the_attention_example_rebuilds_the_same_model(capsys):
    spec = importlib.util.spec_from_file_location("attention_model_to_spec", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main()
    printed = capsys.readouterr().out
    assert "- Dense: {share: head, name: head_call2, inputs: peak}" in printed
    assert "same config: True; same outputs: True" in printed
