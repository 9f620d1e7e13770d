"""The spec's JSON Schema (Draft 2020-12) and its errors at line:column.

`schema.json` is shipped as package data and is what editors use (see the
README: yaml-language-server). It checks structure only; the meaning (known
layer types and arguments, names, expressions) is checked by `checks` and
`expand`. Schema nodes may carry `errorMessage` (a convention several editors
show instead of the generic text); this module uses it too, so editor and
command line say the same thing.
"""

import dataclasses
import functools
import importlib.resources
import json

import jsonschema

from kerasblocks.errors import Diagnostic
from kerasblocks.spec import ops
from kerasblocks.spec.suggest import closest, did_you_mean

SCHEMA_FILE = "schema.json"

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}
# Keys a user may have meant when a layer entry has a lowercase key.
_LAYER_ENTRY_KEYWORDS = ("repeat", "stack", "scope")
_LAYER_ARGUMENT_KEYS = ("name", "inputs", "when")


def schema_text():
    """The JSON Schema as text (what `kerasblocks schema` prints)."""
    return importlib.resources.files("kerasblocks.spec").joinpath(SCHEMA_FILE).read_text("utf-8")


@functools.cache
def schema():
    """The JSON Schema as a dict (cached)."""
    return json.loads(schema_text())


@functools.cache
def _validator():
    return jsonschema.Draft202012Validator(schema())


def check_schema(document):
    """Checks a parsed spec against the schema.

    Args:
        document: `kerasblocks.spec.parse.Document`.

    Returns:
        One error `Diagnostic` per problem, located at the offending key or
        value, in file order; empty when the structure is valid. Follow-on
        errors are dropped: a key that is not allowed is reported once, not
        again for its value.
    """
    findings = [
        finding for error in _validator().iter_errors(document.data) for finding in _findings(error)
    ]
    bad_keys = {finding.path + (finding.key,) for finding in findings if finding.kind == "bad key"}
    findings = _first_bad_key_per_layer_entry(findings)
    suggested = {(finding.path, finding.suggestion) for finding in findings if finding.suggestion}
    diagnostics = set()
    for finding in findings:
        if any(finding.path[: len(bad)] == bad for bad in bad_keys):
            continue  # inside a key already reported
        if finding.kind == "too many keys" and any(bad[:-1] == finding.path for bad in bad_keys):
            continue  # the bad key explains it
        if finding.kind == "missing":
            finding = finding.without_missing(
                key for path, key in suggested if path == finding.path
            )
            if finding is None:
                continue  # "did you mean" on the misspelt key says it all
        diagnostics.add(finding.diagnostic(document))
    return sorted(diagnostics, key=_file_order)


def _first_bad_key_per_layer_entry(findings):
    """One bad key per layer entry: `repaet: 2` explains why `layers:` is odd there."""
    seen = set()
    kept = []
    for finding in findings:
        if finding.kind == "bad key" and finding.in_layer_entry:
            if finding.path in seen:
                continue
            seen.add(finding.path)
        kept.append(finding)
    return kept


def _file_order(diagnostic):
    location = diagnostic.location
    return (location.line or 0, location.column or 0, diagnostic.message)


@dataclasses.dataclass(frozen=True)
class _Finding:
    """One schema problem before it is located: what, where, and for which key.

    kind: "bad key" (a key the schema forbids by name), "unknown key", "missing"
        (required keys), "too many keys" or "value".
    """

    kind: str
    path: tuple
    message: str
    key: str | None = None
    hint: str | None = None
    suggestion: str | None = None
    missing: tuple = ()
    context: str = ""
    in_layer_entry: bool = False

    def diagnostic(self, document):
        if self.key is not None:
            location = document.key_location(self.path + (self.key,))
        else:
            location = document.location(self.path)
        return Diagnostic(self.message, location, self.hint)

    def without_missing(self, keys):
        remaining = tuple(key for key in self.missing if key not in set(keys))
        if not remaining:
            return None
        return dataclasses.replace(
            self, missing=remaining, message=_missing_message(remaining, self.context)
        )


def _findings(error):
    path = tuple(error.absolute_path)
    if "propertyNames" in error.absolute_schema_path:
        return [_bad_key(error, path)]
    if error.validator == "additionalProperties":
        return _unknown_keys(error, path)
    if error.validator == "required":
        missing = tuple(key for key in error.validator_value if key not in error.instance)
        context = _context(error.schema, path)
        return [
            _Finding(
                "missing",
                path,
                _missing_message(missing, context),
                missing=missing,
                context=context,
            )
        ]
    kind = "too many keys" if error.validator == "maxProperties" else "value"
    predicate = error.schema.get("errorMessage")
    if predicate is None:
        return [_Finding(kind, path, _generic_message(error))]
    message = f"{_subject(path)} {predicate}"
    if error.validator not in ("minProperties", "maxProperties"):
        message += f", got {_shown(error.instance)}"
    return [_Finding(kind, path, message)]


def _bad_key(error, path):
    key = error.instance
    predicate = error.schema.get("errorMessage", "is not allowed here")
    message = f"key '{key}' {predicate}"
    hint = None
    if _is_layer_entry(error) and key in _LAYER_ARGUMENT_KEYS:
        hint = f"`{key}` goes inside the layer's arguments: `- Conv2D: {{..., {key}: ...}}`"
    elif _is_layer_entry(error):
        message += did_you_mean(key, (*_LAYER_ENTRY_KEYWORDS, *ops.op_names()))
    return _Finding(
        "bad key", path, message, key=key, hint=hint, in_layer_entry=_is_layer_entry(error)
    )


def _is_layer_entry(error):
    return error.schema is schema()["$defs"]["layer"]["propertyNames"]


def _unknown_keys(error, path):
    allowed = sorted(error.schema.get("properties", {}))
    context = _context(error.schema, path)
    findings = []
    for key in error.instance:
        if key in allowed:
            continue
        suggestion = closest(key, allowed)
        message = f"unknown key '{key}' {context}"
        if suggestion:
            message += f"; did you mean '{suggestion}'?"
        hint = f"allowed keys: {', '.join(allowed)}"
        findings.append(
            _Finding("unknown key", path, message, key=key, hint=hint, suggestion=suggestion)
        )
    return findings


def _missing_message(missing, context):
    keys = ", ".join(f"'{key}'" for key in missing)
    noun = "key" if len(missing) == 1 else "keys"
    return f"missing required {noun} {keys} {context}"


def _context(schema_node, path):
    if not path:
        return "at the top level of the spec"
    title = schema_node.get("title")
    return f"in {title[0].lower()}{title[1:]}" if title else f"in '{path[-1]}'"


def _generic_message(error):
    subject = _subject(tuple(error.absolute_path))
    validator, expected, value = error.validator, error.validator_value, error.instance
    if validator == "type":
        types = [expected] if isinstance(expected, str) else expected
        wanted = " or ".join(_TYPE_NAMES[name] for name in types)
        return f"{subject} must be {wanted}, not {_type_name(value)}"
    if validator in ("minItems", "minProperties") and expected == 1:
        return f"{subject} must not be empty"
    if validator == "minLength":
        return f"{subject} must not be empty text"
    if validator == "uniqueItems":
        return f"{subject} lists a name twice: {_shown(value)}"
    if validator == "minimum":
        return f"{subject} must be >= {expected}, got {_shown(value)}"
    return f"{subject}: {error.message}"


def _subject(path):
    if not path:
        return "the spec"
    if isinstance(path[-1], int):
        return f"item {path[-1] + 1} of '{path[-2]}'" if len(path) > 1 else "the item"
    return f"'{path[-1]}'"


def _type_name(value):
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    for json_type, python_types in (("object", dict), ("array", list), ("string", str)):
        if isinstance(value, python_types):
            return _TYPE_NAMES[json_type]
    return "a number"


def _shown(value):
    if isinstance(value, str):
        return f"'{value}'"
    return json.dumps(value) if isinstance(value, (dict, list)) else repr(value)
