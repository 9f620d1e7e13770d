"""`validate`: check a spec completely without building it (no Keras import)."""

from kerasblocks.spec.expand import expand


def validate(source_or_spec, vars=None):
    """Runs every check of the front end: YAML, schema, meaning, expansion.

    Args:
        source_or_spec: a `Spec`, or a path, shipped spec name or YAML text.
        vars: optional {var name: value} overrides.

    Returns:
        The warnings (unused vars, blocks, layers, inputs): a list of
        `kerasblocks.errors.Diagnostic` with severity "warning".

    Raises:
        SpecError: every error found, each at its file, line and column.
    """
    graph = expand(source_or_spec, vars)
    if graph.train is not None:  # the train section's cross-checks (no TensorFlow either)
        from kerasblocks.training.config import check_train_section

        check_train_section(source_or_spec, graph)
    return list(graph.warnings)
