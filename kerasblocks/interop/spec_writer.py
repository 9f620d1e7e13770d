"""`spec_to_yaml`: spec data (plain dicts and lists) -> readable spec text.

The converters that write specs for the user (`from_keras`, `caffe`) build the
spec as plain data and print it here, so every generated spec looks the same
and like the hand-written ones in `specs/`:

    kerasblocks: 1
    name: small_net
    inputs:
      image: {shape: [28, 28, 1]}

    layers:
      - Conv2D: {filters: 32, kernel_size: 3, name: conv1}
      - Flatten: {}
      - Dense: {units: 10, name: logits}
    outputs: [logits]

Values are written with `kerasblocks.spec.format.flow`, the writer of
`kerasblocks expand`: floats as Python's shortest round-tripping `repr`, text
quoted only when YAML would read it as something else, and `$` written `$$`
so that no text is taken for a var when the spec is read back (except in
`description` and `train`, which the spec language reads literally).
"""

import functools
import json
import re

from kerasblocks.spec.format import flow
from kerasblocks.spec.parse import parse_value

# Top-level keys that get a blank line before them (sections, as in specs/).
_SECTION_KEYS = ("defaults", "blocks", "layers", "train")
# Top-level mappings written on one line when they fit, as in specs/.
_FLOW_TOP_LEVEL_KEYS = ("vars", "outputs")
# Top-level keys that the spec reads as plain YAML, without `$var` interpolation.
_LITERAL_TOP_LEVEL_KEYS = ("description", "train")
# Text written without quotes (when YAML reads it back as the same text).
_PLAIN_TEXT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
# Keys written without quotes: names, argument names, `Type` and `package>Type`.
_PLAIN_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*(?:>[A-Za-z_][A-Za-z0-9_]*)?\Z")
_INDENT = 2


def spec_to_yaml(spec, *, comment=None, width=100):
    """Writes a spec given as plain data as YAML text a person would write.

    Layout rules:
    - top-level mappings (`inputs`, `defaults`, `blocks`, `train`) are
      written one entry per line; `vars` and `outputs` on one line when
      they fit;
    - a top-level list of mappings and every `layers:` list (of a block, a
      `repeat`, a `scope`) are written one item per line, `- Type: {...}`;
      an item too long for `width` becomes a nested mapping, one argument
      per line;
    - any other list or mapping is written on one line in flow style when it
      fits in `width` (shapes `[28, 28, 1]`, `outputs: [logits]`,
      `{filters: 64, kernel_size: 3}`); a longer list of mappings becomes a
      block list, another longer list is wrapped between its items (inner
      lists too), a longer mapping becomes a nested block;
    - `defaults`, `blocks`, `layers` and `train` are set off by a blank line.

    Every text value is written literally: where the spec language reads
    `$var` and `${...}` (everywhere but `description` and `train`) a `$` is
    written `$$`. Reading the text back (`kerasblocks.expand`) gives back
    `spec`'s values exactly; the writer only chooses the layout. It cannot
    write var references.

    Args:
        spec: dict of top-level keys in the order to write them (normally
            `kerasblocks`, `name`, `description`, `vars`, `inputs`,
            `defaults`, `blocks`, `layers`, `outputs`, `train`). Values are
            None, bool, int, float, str, lists, tuples and dicts with str keys.
        comment: optional text written first as `#` comment lines (one per
            line of the text).
        width: the line length to keep within where the layout allows it.

    Returns:
        The YAML text, ending with a newline.

    Raises:
        TypeError: a value that YAML specs cannot hold (an object, a set).
    """
    lines = []
    if comment:
        lines.extend(f"# {line}".rstrip() for line in comment.splitlines())
    for index, (key, value) in enumerate(spec.items()):
        if index and key in _SECTION_KEYS and lines and lines[-1]:
            lines.append("")
        force_block = bool(value) and (
            (isinstance(value, dict) and key not in _FLOW_TOP_LEVEL_KEYS)
            or _is_list_of_mappings(value)
        )
        layout = _Layout(width, _literal_flow if key in _LITERAL_TOP_LEVEL_KEYS else flow)
        lines.extend(layout.entry_lines(key, value, 0, force_block=force_block))
    return "\n".join(lines) + "\n"


class _Layout:
    """Lays out values within `width`, writing scalars and flow values with `write`."""

    def __init__(self, width, write):
        self.width = width
        self.write = write

    def entry_lines(self, key, value, indent, force_block=False):
        """The lines of `key: value` at `indent`."""
        head = f"{' ' * indent}{_key(key)}:"
        one_line = f"{head} {self.write(value)}"
        if not _is_container(value) or not value:
            return [one_line]
        if not force_block and len(one_line) <= self.width:
            return [one_line]
        if isinstance(value, dict):
            lines = [head]
            for child_key, child in value.items():
                force_child = _is_layer_list(child_key, child)
                lines.extend(self.entry_lines(child_key, child, indent + _INDENT, force_child))
            return lines
        if _is_list_of_mappings(value):
            lines = [head]
            for item in value:
                lines.extend(self.item_lines(item, indent + _INDENT))
            return lines
        return self.wrapped_flow_list(head + " ", value)

    def item_lines(self, item, indent):
        """The lines of one block-sequence item `- ...` at `indent`."""
        dash = f"{' ' * indent}- "
        if not isinstance(item, dict) or not item:
            one_line = f"{dash}{self.write(item)}"
            if len(one_line) <= self.width or not isinstance(item, (list, tuple)):
                return [one_line]
            return self.wrapped_flow_list(dash, item)
        # A mapping item: its first entry on the dash line, the others aligned
        # under it (`- Type: {...}`, or `- Type:` with one argument per line).
        lines = []
        for position, (key, value) in enumerate(item.items()):
            entry = self.entry_lines(key, value, indent + _INDENT, _is_layer_list(key, value))
            if position == 0:
                entry[0] = dash + entry[0].lstrip()
            lines.extend(entry)
        return lines

    def wrapped_flow_list(self, prefix, items, suffix=""):
        """`prefix[a, b,` / `c]`: a flow list broken between items to fit the width.

        An item that does not fit on a line of its own is wrapped the same
        way (a list of lists: `[[a, b,` / `c], [d]]`). Continuation lines
        start one column after their opening bracket.
        """
        continuation = " " * (len(prefix) + 1)
        lines = []
        line, fresh = prefix + "[", True
        for position, item in enumerate(items):
            end = "]" + suffix if position == len(items) - 1 else ","
            text = self.write(item) + end
            candidate = line + text if fresh else f"{line} {text}"
            if len(candidate) <= self.width:
                line, fresh = candidate, False
                continue
            if not fresh:
                lines.append(line)
                line = continuation
            if len(line + text) <= self.width or not isinstance(item, (list, tuple)) or not item:
                line, fresh = line + text, False
                continue
            nested = self.wrapped_flow_list(line, item, end)
            lines.extend(nested[:-1])
            line, fresh = nested[-1], False
        lines.append(line)
        return lines


def _literal_flow(value):
    """`flow` for sections read as plain YAML (`description`, `train`): no `$$`."""
    if isinstance(value, str):
        if _PLAIN_TEXT_RE.match(value) and parse_value(value) == value:
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal_flow(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{_key(key)}: {_literal_flow(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    return flow(value)


@functools.lru_cache(maxsize=4096)  # a spec repeats few distinct keys many times
def _key(key):
    if not isinstance(key, str):
        raise TypeError(f"spec keys are text; got {key!r}")
    if _PLAIN_KEY_RE.match(key) and parse_value(key) == key:
        return key
    return json.dumps(key, ensure_ascii=False)


def _is_container(value):
    return isinstance(value, (dict, list, tuple))


def _is_layer_list(key, value):
    """A `layers:` list (of a block, repeat or scope): one layer per line, always."""
    return key == "layers" and bool(value) and _is_list_of_mappings(value)


def _is_list_of_mappings(value):
    return isinstance(value, (list, tuple)) and all(isinstance(item, dict) for item in value)
