"""How a layer call is written in a spec: the inverse of the expansion's reading.

Expansion reads `inputs`, `positional` and `call` into a node's positional
`args` and keyword `kwargs` (`kerasblocks.spec.graph.LayerNode`). Both
`kerasblocks expand` (which prints a graph as a spec) and `to_spec` (which
writes a Keras model as one) need the way back: `written_call` gives the
entry keys that expand to exactly those `args` and `kwargs`, in the shortest
form the language has:

- one tensor (or one list of tensors) by position and nothing else:
  `inputs: x` or `inputs: [a, b]`;
- otherwise a mapping by call-argument name, `inputs: {query: q, value: v}`,
  plus `positional: N` only where the split between position and keyword is
  not the usual one (the call's leading parameters without a default by
  position);
- constant keyword arguments as `call: {use_causal_mask: true}`.

Looks at the signature table only: no Keras import.
"""

from kerasblocks.spec.graph import Ref
from kerasblocks.spec.syntax import CALL_KEY, INPUTS_KEY, POSITIONAL_KEY


class UnwritableCall(ValueError):
    """A call the spec cannot say (positional tensors of a layer without a signature)."""


def holds_refs(value):
    """Whether a call argument value is tensors (`Ref`s, or lists holding them)."""
    if isinstance(value, Ref):
        return True
    if isinstance(value, (list, tuple)):
        return any(holds_refs(item) for item in value)
    return False


def written_reference(value):
    """`Ref`s -> their spec text ('lstm.1'), lists element-wise."""
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [written_reference(item) for item in value]
    return value


def written_call(signature, args, kwargs):
    """The reserved keys (`inputs`, `positional`, `call`) of a layer entry.

    Args:
        signature: the type's `LayerSignature` (for call-argument names), or
            None for a plugin layer.
        args: the call's positional arguments (tensors).
        kwargs: its keyword arguments: tensors and constants.

    Returns:
        {key: value} with plain spec values (references as text); no
        `inputs` when the call takes nothing.

    Raises:
        UnwritableCall: several positional tensors without a signature to
            name them.
    """
    tensors = {key: value for key, value in kwargs.items() if holds_refs(value)}
    options = {key: value for key, value in kwargs.items() if key not in tensors}
    entry = {}
    if len(args) == 1 and not tensors:
        entry[INPUTS_KEY] = written_reference(args[0])
    elif args or tensors:
        names = list(signature.call_arguments) if signature is not None else []
        if len(args) > len(names) and not (signature is None and len(args) == 1):
            raise UnwritableCall(
                f"{len(args)} tensors passed by position, but the call's parameters are not known"
            )
        positional_names = names[: len(args)] if names else ["inputs"]
        mapping = dict(zip(positional_names, (written_reference(arg) for arg in args)))
        mapping.update((key, written_reference(value)) for key, value in tensors.items())
        entry[INPUTS_KEY] = mapping
        usual = signature.positional_count(mapping) if signature is not None else 1
        if usual != len(args):
            entry[POSITIONAL_KEY] = len(args)
    if options:
        entry[CALL_KEY] = dict(options)
    return entry
