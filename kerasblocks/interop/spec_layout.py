"""Stage 3 of `to_spec`: the order, chains, names and defaults a person would write.

- **Chains as chains.** Any topological order builds the same model (Keras
  orders a functional model's layers by the graph alone), so the order is
  chosen for reading; an entry whose one input is the previous entry's
  output names no `inputs` (an op leaves out its first operand).
- **Names are kept**, and left out only where the spec's automatic naming
  gives the same name back and nothing refers to it.
- **`defaults`** hold an optional argument that all (three or more) layers
  of a type share with the same value; required ones stay on each line.
"""

import dataclasses
import json
import re

from kerasblocks.errors import SourceLocation
from kerasblocks.interop.layer_arguments import comparable
from kerasblocks.spec import ops
from kerasblocks.spec.graph import Ref
from kerasblocks.spec.naming import AutoName, assign_names, to_snake_case
from kerasblocks.spec.signatures import load_table

# An argument shared by this many layers of one type or more goes to `defaults`.
MIN_LAYERS_FOR_DEFAULT = 3


def lay_out(graph):
    """Orders the calls of `graph` and of its nested models; chains, names, defaults.

    Sets each `ModelGraph`'s `calls` to the order to write, marks the chained
    entries and the names to write, and names the block of each nested
    model (`ModelGraph.block`).

    Returns:
        {type: {argument: value}}: the top-level `defaults`. They reach into
        the nested models' blocks too, so they hold what every layer of the
        type has alike, wherever it is.
    """
    _name_blocks(graph)
    _lay_out_model(graph)
    return shared_defaults(list(graph.all_calls()))


def _lay_out_model(graph):
    input_names = [entry.name for entry in graph.inputs]
    ordered = chain_order(graph.calls, input_names)
    mark_chained(ordered, input_names)
    # Every name the spec writes must be written on its entry: the outputs,
    # every reference but the one a chain leaves out, and shared layers.
    referenced = {ref.node for _, ref in graph.outputs}
    for entry in ordered:
        refs = list(entry.refs)
        if entry.chained_operand is not None:
            refs.remove(Ref(entry.chain_candidate()[1]))
        referenced.update(ref.node for ref in refs)
        if entry.shares is not None:
            referenced.add(entry.shares)
    choose_written_names(ordered, input_names, referenced)
    graph.calls = ordered
    for entry in ordered:
        if entry.model is not None:
            _lay_out_model(entry.model)


def _name_blocks(graph):
    """Names the `model:` block of each nested model after it: `encoder` -> `Encoder`."""
    taken = set(load_table().layers) | set(ops.op_names())
    for entry in graph.all_calls():
        if entry.model is None:
            continue
        parts = [part for part in re.split(r"[^A-Za-z0-9]+", entry.model.name) if part]
        base = "".join(part[:1].upper() + part[1:] for part in parts) or "Model"
        if not base[0].isalpha():
            base = "Model" + base
        name, number = base, 1
        while name in taken:
            number += 1
            name = f"{base}{number}"
        taken.add(name)
        entry.model.block = name


def chain_order(layers, input_names):
    """The layers in an order a person would write: chains kept together.

    Any topological order builds the same model (Keras orders a functional
    model's layers by the graph alone), so the order is chosen for reading:
    after a layer comes, if possible, a layer taking it as its only input,
    the one closest to an output first (so a side branch such as an
    auxiliary head is written where it leaves, and the main path then names
    its input); otherwise a ready layer that takes the most recently written
    output, or the earliest model input.
    """
    by_name = {entry.name: entry for entry in layers}
    consumers = {entry.name: [] for entry in layers}
    for entry in layers:
        for name in entry.depends_on:
            if name in consumers:
                consumers[name].append(entry)
    distance = {}  # layers to the furthest output or sink below
    for entry in reversed(_topological(layers, by_name)):
        distance[entry.name] = 1 + max(
            (distance[consumer.name] for consumer in consumers[entry.name]), default=-1
        )

    input_rank = {name: rank for rank, name in enumerate(input_names)}
    written_at = {}
    waiting = {
        entry.name: {name for name in entry.depends_on if name in by_name} for entry in layers
    }
    ready = [entry for entry in layers if not waiting[entry.name]]
    ordered = []
    previous = input_names[0] if len(input_names) == 1 else None
    while ready:
        followers = [entry for entry in ready if _chains_after(entry, previous)]
        if followers:
            chosen = min(followers, key=lambda entry: (distance[entry.name], entry.position))
        else:
            chosen = min(
                ready,
                key=lambda entry: (
                    -max((written_at.get(name, -1) for name in entry.inputs), default=-1),
                    min((input_rank.get(name, 0) for name in entry.inputs), default=0),
                    distance[entry.name],
                    entry.position,
                ),
            )
        ready.remove(chosen)
        written_at[chosen.name] = len(ordered)
        ordered.append(chosen)
        previous = chosen.name
        for consumer in consumers[chosen.name]:
            waiting[consumer.name].discard(chosen.name)
            if not waiting[consumer.name] and consumer not in ready:
                ready.append(consumer)
    return ordered


def _topological(layers, by_name):
    """`layers` sorted so that every layer comes after the layers it takes."""
    ordered, done = [], set()

    def visit(entry):
        stack = [(entry, iter(entry.depends_on))]
        while stack:
            current, pending = stack[-1]
            for name in pending:
                if name in by_name and name not in done:
                    stack.append((by_name[name], iter(by_name[name].depends_on)))
                    break
            else:
                stack.pop()
                if current.name not in done:
                    done.add(current.name)
                    ordered.append(current)

    for entry in layers:
        visit(entry)
    return ordered


def mark_chained(layers, input_names):
    """Marks the entries that take the previous entry's output (or the one model input)."""
    previous = input_names[0] if len(input_names) == 1 else None
    for entry in layers:
        candidate = entry.chain_candidate()
        entry.chained_operand = (
            candidate[0] if candidate is not None and candidate[1] == previous else None
        )
        previous = entry.name


def _chains_after(entry, previous):
    candidate = entry.chain_candidate()
    return candidate is not None and candidate[1] == previous


def choose_written_names(layers, input_names, referenced):
    """Leaves out the names the spec's automatic naming gives back unchanged.

    Names that `inputs` or `outputs` refer to are always written: a spec
    refers only to names it writes.
    """
    def automatic_base(entry):
        if entry.shares is not None or entry.kind == "model":
            return None  # later calls and nested models: always named
        base = to_snake_case(entry.type_name.rpartition(">")[2])
        pattern = rf"{re.escape(base)}(?:_\d+)?\Z"
        return base if ">" not in entry.type_name and re.match(pattern, entry.name) else None

    candidates = [
        entry for entry in layers if entry.name not in referenced and automatic_base(entry)
    ]
    for entry in layers:
        entry.write_name = entry not in candidates
    while candidates:
        probes = [
            _NameProbe(
                (entry.name,) if entry.write_name else (AutoName(automatic_base(entry)),),
                SourceLocation(),
            )
            for entry in layers
        ]
        names, _, _ = assign_names(probes, taken=input_names)
        wrong = [
            entry
            for entry, probe in zip(layers, probes)
            if not entry.write_name and names[probe] != entry.name
        ]
        if not wrong:
            break
        for entry in wrong:
            entry.write_name = True
        candidates = [entry for entry in candidates if not entry.write_name]


@dataclasses.dataclass(eq=False)
class _NameProbe:
    """What `naming.assign_names` needs of a node: its name parts and position."""

    name_parts: tuple
    definition: object


def shared_defaults(layers):
    """{type: {argument: value}} that every layer of the type (3 or more) has alike.

    Required arguments (`filters`, `units`, `kernel_size`) stay on the layers,
    so each line shows what the layer is, as the Keras call would.
    """
    by_type = {}
    for entry in layers:
        if entry.kind == "layer" and entry.shares is None:
            by_type.setdefault(entry.type_name, []).append(entry)
    defaults = {}
    for type_name, entries in by_type.items():
        if len(entries) < MIN_LAYERS_FOR_DEFAULT:
            continue
        shared = {
            key: value
            for key, value in entries[0].arguments.items()
            if key not in entries[0].required
            and all(
                key in entry.arguments
                and _canonical_json(entry.arguments[key]) == _canonical_json(value)
                for entry in entries
            )
        }
        if shared:
            defaults[type_name] = shared
    return defaults




def _canonical_json(value):
    return json.dumps(comparable(value), sort_keys=True, default=str)
