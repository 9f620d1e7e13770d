"""`write_spec`: an imported net -> spec text, with a header comment.

Layers form a chain where the net is one; argument values most layers of a
type share go to `defaults:` (`_factor_defaults`).
"""

import textwrap
from pathlib import Path

from kerasblocks.interop.spec_writer import spec_to_yaml
from kerasblocks.spec.registry import signature

_MAX_LINE = 100  # longer layer lines are written in block style
_COMMENT_WIDTH = 98
_UNSET = object()
# Arguments that `defaults:` may carry, per layer type (None: every other type).
_STYLE = ("padding", "activation", "use_bias", "kernel_initializer", "bias_initializer")
_DEFAULTABLE = {
    None: _STYLE,
    "LRN": ("convention", "size", "alpha", "beta", "k"),
    "BatchNormalization": (
        "momentum", "epsilon", "center", "scale", "gamma_initializer", "beta_initializer",
    ),
    **{
        f"{kind}Pooling2D": ("pool_size", "strides", "padding")
        for kind in ("Max", "Average")
    },
}


def write_spec(net, name, file):
    """The imported net -> spec text, with a header comment."""
    source = Path(file).name if file != "<prototxt>" else "prototxt text"
    caffe = f" (Caffe net '{net.caffe_name}')" if net.caffe_name else ""
    header = [
        f"Imported by `kerasblocks import-caffe` from {source}{caffe}.",
        "Caffe is NCHW; this spec is channels_last (inputs are [H, W, C]). Layer names are "
        "Caffe's with '/' written '_'; an in-place ReLU after a conv or fc is its activation.",
        *net.notes,
        *(f"{node.name}: {note}." for node in net.nodes for note in node.notes),
    ]
    comment = "\n".join(
        "\n".join(textwrap.wrap(line, _COMMENT_WIDTH, subsequent_indent="  "))
        for line in header
    )
    return spec_to_yaml(_spec_data(net, name, source), comment=comment, width=_MAX_LINE)


def _spec_data(net, name, source):
    """The spec as plain data: chains as chains, shared arguments as defaults."""
    defaults = _factor_defaults(net.nodes)
    layers, previous = [], None
    for node in net.nodes:
        shared = defaults.get(node.type, {})
        args = {key: value for key, value in node.args.items() if shared.get(key, _UNSET) != value}
        args.update(  # Keras' default where the layer does not take the shared value
            (key, signature(node.type).arguments[key].default)
            for key in shared
            if key not in node.args
        )
        args["name"] = node.name
        if previous is not None:
            chained = node.inputs == [previous]
        else:
            chained = len(net.inputs) == 1 and node.inputs == list(net.inputs)
        if not chained:
            args["inputs"] = node.inputs[0] if len(node.inputs) == 1 else node.inputs
        layers.append({node.type: args})
        previous = node.name
    data = {
        "kerasblocks": 1,
        "name": name,
        "description": (
            f"Caffe net {net.caffe_name}, imported from {source}."
            if net.caffe_name
            else f"Imported from Caffe {source}."
        ),
        "inputs": {input_name: {"shape": list(shape)} for input_name, shape in net.inputs.items()},
    }
    if defaults:
        data["defaults"] = defaults
    data["layers"] = layers
    data["outputs"] = net.outputs
    return data


def _factor_defaults(nodes):
    """{type: {argument: value}} for the values most layers of a type share.

    Only arguments that set a style (`_DEFAULTABLE`: padding, activation,
    initializers, the LRN constants, pooling windows) are considered; those
    that make each layer what it is (`filters`, `kernel_size`, `groups`)
    stay with it. A value becomes a default of a type used by two or more
    layers when more than half of them give it, and the layers that do not
    can say otherwise: they give another value, or Keras' default is known
    (from the signature table) to write for them (`padding: valid`,
    `activation: null`).
    """
    by_type = {}
    for node in nodes:
        by_type.setdefault(node.type, []).append(node)
    defaults = {}
    for type_, members in by_type.items():
        entry = signature(type_)
        if len(members) < 2 or entry is None:
            continue
        shared = {}
        for key in dict.fromkeys(key for node in members for key in node.args):
            argument = entry.arguments.get(key)
            if key not in _DEFAULTABLE.get(type_, _DEFAULTABLE[None]) or argument is None:
                continue
            values = [node.args[key] for node in members if key in node.args]
            if len(values) < len(members) and not argument.has_default:
                continue
            value = max(values, key=lambda v: sum(1 for other in values if other == v))
            if 2 * sum(1 for other in values if other == value) > len(members):
                shared[key] = value
        if shared:  # in the order of the layer that gives most of them
            fullest = max(members, key=lambda node: len(shared.keys() & node.args.keys()))
            order = [key for key in fullest.args if key in shared]
            order += [key for key in shared if key not in order]
            defaults[type_] = {key: shared[key] for key in order}
    return defaults
