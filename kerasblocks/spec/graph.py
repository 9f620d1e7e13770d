"""The expanded graph: what every spec becomes before Keras is involved.

Expansion (`kerasblocks.spec.expand`) turns a spec's vars, defaults, blocks,
repeat and stack into this flat, fully evaluated graph; the builder
(`kerasblocks.spec.build`) turns it into a functional `keras.Model`. Neither side
needs the other: the graph is plain data and every node remembers where in the
text it came from, so errors found at build time still point at the user's line.
"""

import dataclasses

from kerasblocks.errors import SourceLocation


@dataclasses.dataclass(frozen=True)
class ArgumentOrigin:
    """Where one argument value came from, for `kerasblocks expand`.

    kind: "layer" (written on the layer), "default" (a `defaults` entry),
        "block" (a block parameter or the block body), "var" (a var or a loop
        index in an expression), "stack" (a `stack` entry).
    location: the text that supplied the value.
    detail: free text, e.g. "defaults.Conv2D" (a default), "ConvBNReLU param
        filters" (a block), "num_classes" (a var), "Dense with[1]" (a stack).
    """

    kind: str
    location: SourceLocation
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Ref:
    """One output of a node: `conv1`, or `lstm.1` for one of several.

    node: the name of an `InputNode` or `LayerNode`.
    output: None for the node's output itself; an index (`lstm.1`: LSTM's
        first state) or a key into the structure the node returns.
    """

    node: str
    output: int | str | None = None

    def __str__(self):
        return self.node if self.output is None else f"{self.node}.{self.output}"


@dataclasses.dataclass(frozen=True)
class NestedLayer:
    """A layer given as a constructor argument: `Bidirectional(layer=LSTM(32))`.

    Written `layer: {LSTM: {units: 32}}`; built through the same closed
    registry as any layer.
    """

    type: str
    arguments: dict


@dataclasses.dataclass(frozen=True)
class Deferred:
    """A value that reads `shape(input)` in a block body: evaluated at build time.

    text: the value as written (with `${...}`).
    values: the vars, params and loop indices visible where it is written.
    inputs: {block input name: `Ref`} of the inputs `shape()` may read.
    """

    text: object
    values: dict
    inputs: dict

    def __str__(self):
        return str(self.text)

    def __repr__(self):  # short: origins and messages quote it (values may nest)
        return f"Deferred({self.text!r})"


@dataclasses.dataclass(frozen=True)
class InputNode:
    """A model input: `keras.Input(shape=shape, dtype=dtype, name=name)`."""

    name: str
    shape: tuple  # without the batch dimension; None for unknown sizes
    dtype: str = "float32"
    location: SourceLocation = SourceLocation()
    batch_size: int | None = None  # a fixed batch size; None leaves it open


class CallReferences:
    """`refs` and `inputs` of a call with `args` and `kwargs` (for every kind of call record)."""

    @property
    def refs(self):
        """Every `Ref` the call takes, in call order (positional, then keywords)."""
        return tuple(refs_in((self.args, tuple(self.kwargs.values()))))

    @property
    def inputs(self):
        """The names of the nodes the call takes, in call order, each once."""
        return tuple(dict.fromkeys(ref.node for ref in self.refs))


@dataclasses.dataclass(frozen=True)
class LayerNode(CallReferences):
    """One call of a layer (or of an op from the ops table).

    Built as `layer = registry.resolve(type)(name=name, **arguments)`, then
    `layer(*args, **kwargs)`, as a person writes it in Keras; one Keras
    `Node` per `LayerNode`.

    type: a layer type name as the registry knows it (a Keras layer class name
        such as "Conv2D", a kerasblocks layer such as "InceptionBlock", or a
        registered plugin), or a lowercase op name of `kerasblocks.spec.ops`.
    arguments: constructor keyword arguments, fully evaluated plain Python /
        JSON-like values (no expressions left); initializers, regularizers etc.
        as Keras accepts them (strings or {"class_name", "config"} dicts); a
        layer-valued argument (Bidirectional's `layer`) is a `NestedLayer`.
        For an op: its static arguments (`axis`, `keepdims`).
    args: positional call arguments: each a `Ref`, a list of them (Add,
        Concatenate take one list), or for an op a constant operand.
    kwargs: keyword call arguments: `Ref`s or lists of them (`initial_state`,
        `attention_mask`) and constant call options (`use_causal_mask`).
    shares: the name of the earlier `LayerNode` whose layer object this call
        uses again (one set of weights), or None for a layer of its own. A
        sharing node has no arguments; its name names this call's output only.
    location: where the layer comes from in the main `layers` list: the layer
        entry itself, or for a layer inside a block the block use.
    argument_origins: {argument name: ArgumentOrigin}.
    definition: where the layer entry is written (inside the block body for
        a layer of a block); equals `location` outside blocks.
    blocks: names of the blocks the layer sits in, outermost first.
    model: for a use of a `model:` block (type "Functional" or "Sequential"),
        the nested model's own `Graph`; its inputs' shapes are those of the
        tensors the call takes, known when it is built.
    block_uses: the names of those block uses, outermost first (what the
        layer's name is prefixed with): ("stage1", "stage1_unit2"). Inside a
        nested model (a `model:` block) they start again from the model: the
        model's own use is in `blocks` but not here, so `blocks` may be the
        longer one; pair them from the innermost end.
    """

    name: str
    type: str
    arguments: dict
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    shares: str | None = None
    location: SourceLocation = SourceLocation()
    argument_origins: dict = dataclasses.field(default_factory=dict)
    definition: SourceLocation | None = None
    blocks: tuple = ()
    block_uses: tuple = ()
    model: "Graph | None" = None  # a nested model (type Functional or Sequential): its graph
    condition: "Deferred | None" = None  # a `when` that reads a shape, decided at build
    passthrough: "Ref | None" = None  # with `condition`: what the chain takes if it is false


def refs_in(value):
    """The `Ref`s in a call argument value (a `Ref`, or lists and tuples of them)."""
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from refs_in(item)


@dataclasses.dataclass(frozen=True)
class Graph:
    """A whole expanded spec. `layers` is in topological (file) order."""

    name: str
    inputs: tuple  # of InputNode
    layers: tuple  # of LayerNode
    outputs: tuple  # output names: dict keys, else the references as written ("lstm.1")
    description: str = ""
    file: str = "<spec>"
    source_text: str = ""  # the spec text, stored in saved models' metadata
    train: dict | None = None  # the spec's optional `train` section, untouched
    warnings: tuple = ()  # Diagnostics of severity "warning" found while expanding
    vars: dict = dataclasses.field(default_factory=dict)  # the var overrides expanded with
    output_refs: tuple = ()  # the `Ref` of each output; default: the node each name names
    output_dict: bool = False  # the model returns {name: tensor} instead of a list
    input_dict: bool = False  # the model takes {input name: tensor} instead of a list
    input_list: bool = False  # a list of inputs even of one (keras.Model([x], ...))
    output_list: bool = False  # a list of outputs even of one
    kind: str = "functional"  # a nested model: "functional" or "sequential"
    block: str | None = None  # a nested model: the `model:` block it is a use of

    def __post_init__(self):
        if not self.output_refs:
            object.__setattr__(self, "output_refs", tuple(Ref(name) for name in self.outputs))

    def node(self, name):
        for node in (*self.inputs, *self.layers):
            if node.name == name:
                return node
        raise KeyError(name)
