"""Imports the modules that register third-party layers (`package>ClassName`).

A spec may name a layer that some package registered with
`keras.saving.register_keras_serializable(package="my_pkg")` as `my_pkg>MyLayer`
(see `kerasblocks.spec.registry`). The registration happens when that package
is imported, and a spec never imports anything. The user names the modules to
import: `kerasblocks --import my_pkg build net.yaml`, or
`kerasblocks.build("net.yaml", imports=["my_pkg"])`. Both come here.

Only dotted module names are accepted (`my_pkg`, `my_pkg.layers`): no file
paths, no relative imports. They are looked up on `sys.path` as Python's own
`import` statement does; nothing is added to it (not the current folder, not
the spec's folder). Importing this module does not import Keras, and neither
does `import_plugins` with no names.
"""

import importlib
import keyword
import sys

from kerasblocks.errors import UsageError

__all__ = ["PluginImportError", "import_plugins", "plugin_names"]


class PluginImportError(UsageError):
    """A plugin module could not be imported.

    Attributes:
        module: the name that was asked for.
        not_installed: True when that module (or its package) does not exist;
            False when its own code raised while it was imported (the
            exception is chained as `__cause__`).
    """

    def __init__(self, message, module, not_installed):
        super().__init__(message)
        self.module = module
        self.not_installed = not_installed


def plugin_names(names):
    """Checks and normalizes module names, importing nothing.

    Args:
        names: None, one name, or an iterable of names; each may hold several
            comma-separated names (`"pkg_a,pkg_b.layers"`), as `--import` does.

    Returns:
        The names in order, without duplicates or surrounding blanks.

    Raises:
        UsageError: a name that is not a dotted module name (a file path, a
            relative import, an empty name, ...), with what to write instead.
    """
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    try:
        names = list(names)
    except TypeError:
        raise UsageError(
            f"plugin modules are a module name or a list of names, not {type(names).__name__}: "
            f"{names!r}"
        ) from None
    result = []
    for entry in names:
        if not isinstance(entry, str):
            raise UsageError(
                f"a plugin module name must be a string, not {type(entry).__name__}: {entry!r}"
            )
        for name in entry.split(","):
            name = name.strip()
            _check_module_name(name, entry)
            if name not in result:
                result.append(name)
    return result


def import_plugins(names):
    """Imports installed modules so that the layers they register can be used.

    Args:
        names: as for `plugin_names`: None, a name, or an iterable of names,
            each possibly comma-separated. None or empty does nothing.

    Returns:
        The imported modules, in order.

    Raises:
        UsageError: a bad name; nothing is imported then.
        PluginImportError (a UsageError): a module that is not installed, or
            an exception raised while a module was imported (the message names
            the module and the exception; the original is chained as
            `__cause__`). Modules named before it stay imported.
    """
    modules = []
    for name in plugin_names(names):  # every name checked before anything is imported
        modules.append(_import(name))
    return modules


def _check_module_name(name, entry):
    if not name:
        raise UsageError(
            f"empty plugin module name in {entry!r}; give module names such as "
            "'my_pkg' or 'my_pkg.layers', separated by commas"
        )
    if "/" in name or "\\" in name or name.endswith((".py", ".pyc")):
        raise UsageError(
            f"'{name}' is not a module name: give the module as you would import it "
            "(e.g. 'my_pkg.layers'), not a file; install its package (pip install ...) "
            "or add its folder to PYTHONPATH"
        )
    if name.startswith("."):
        raise UsageError(
            f"'{name}' is a relative module name; give the full module name "
            "(e.g. 'my_pkg.layers')"
        )
    for part in name.split("."):
        if not part.isidentifier() or keyword.iskeyword(part):
            raise UsageError(
                f"'{name}' is not a module name: it must be dotted Python identifiers "
                "such as 'my_pkg' or 'my_pkg.layers'"
            )


def _import(name):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing and (missing == name or name.startswith(missing + ".")):
            parent, _, last = missing.rpartition(".")
            if parent and parent in sys.modules:  # the package is there, not that module
                advice = f"check the name ('{parent}' is installed but has no module '{last}')"
            else:
                top = missing.split(".")[0]
                advice = (
                    f"install it (pip install <the package that provides {top}>) "
                    "or check the name"
                )
            raise PluginImportError(
                f"cannot import plugin module '{name}': no module named '{missing}'; {advice}",
                name,
                not_installed=True,
            ) from error
        raise _import_failed(name, error) from error  # a module it needs is missing
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # its code raised (SystemExit too): never a traceback
        raise _import_failed(name, error) from error


def _import_failed(name, error):
    if isinstance(error, SystemExit):
        what = f"called sys.exit({error.code!r})"
    else:
        lines = str(error).strip().splitlines()
        what = f"raised {type(error).__name__}" + (f": {lines[0]}" if lines else "")
    return PluginImportError(
        f"importing plugin module '{name}' failed: it {what}", name, not_installed=False
    )
