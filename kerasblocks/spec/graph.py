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
class InputNode:
    """A model input: `keras.Input(shape=shape, dtype=dtype, name=name)`."""

    name: str
    shape: tuple  # without the batch dimension; None for unknown sizes
    dtype: str = "float32"
    location: SourceLocation = SourceLocation()


@dataclasses.dataclass(frozen=True)
class LayerNode:
    """One layer: `registry.resolve(type)(name=name, **arguments)(*inputs)`.

    type: a layer type name as the registry knows it (a Keras layer class name
        such as "Conv2D", a kerasblocks layer such as "InceptionBlock", or a
        registered plugin).
    arguments: constructor keyword arguments, fully evaluated plain Python /
        JSON-like values (no expressions left); initializers, regularizers etc.
        as Keras accepts them (strings or {"class_name", "config"} dicts).
    inputs: names of earlier `LayerNode`s or `InputNode`s, in call order. One
        input is passed as a tensor, several as a list (Add, Concatenate).
    location: where the layer comes from in the main `layers` list: the layer
        entry itself, or for a layer inside a block the block use.
    argument_origins: {argument name: ArgumentOrigin}.
    definition: where the layer entry is written (inside the block body for
        a layer of a block); equals `location` outside blocks.
    blocks: names of the blocks the layer sits in, outermost first.
    """

    name: str
    type: str
    arguments: dict
    inputs: tuple
    location: SourceLocation = SourceLocation()
    argument_origins: dict = dataclasses.field(default_factory=dict)
    definition: SourceLocation | None = None
    blocks: tuple = ()


@dataclasses.dataclass(frozen=True)
class Graph:
    """A whole expanded spec. `layers` is in topological (file) order."""

    name: str
    inputs: tuple  # of InputNode
    layers: tuple  # of LayerNode
    outputs: tuple  # names of LayerNodes or InputNodes
    description: str = ""
    file: str = "<spec>"
    source_text: str = ""  # the spec text, stored in saved models' metadata
    train: dict | None = None  # the spec's optional `train` section, untouched
    warnings: tuple = ()  # Diagnostics of severity "warning" found while expanding
    vars: dict = dataclasses.field(default_factory=dict)  # the var overrides expanded with

    def node(self, name):
        for node in (*self.inputs, *self.layers):
            if node.name == name:
                return node
        raise KeyError(name)
