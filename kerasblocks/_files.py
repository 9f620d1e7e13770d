"""Writing output files atomically: all or nothing, never a partial file.

Every command that writes a file goes through here. The new content is written
to a temporary name in the target's own directory and renamed into place with
`os.replace` (atomic on one file system), so an error or Ctrl-C midway leaves
the previous file intact and no partial file behind.
"""

import contextlib
import os
import pathlib
import secrets
import shutil


def temporary_sibling(path, suffix=None):
    """A fresh hidden name next to `path` (same directory, so renames are atomic).

    `suffix` defaults to the target's own, for writers that insist on one
    (Keras wants `.keras`, matplotlib picks the format from it).
    """
    path = pathlib.Path(path)
    suffix = path.suffix if suffix is None else suffix
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{suffix}")


def check_parent_exists(path):
    """Raises FileNotFoundError, naming the file, when `path`'s folder is missing."""
    parent = pathlib.Path(path).parent
    if not parent.is_dir():
        raise FileNotFoundError(f"Directory '{parent}' does not exist (writing {path})")


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yields a temporary path to write; moves it onto `path` if the block succeeds.

        with atomic_path("net.svg") as temporary:
            render(temporary)            # may fail: net.svg is untouched

    On an exception (KeyboardInterrupt included) the temporary file is removed
    and `path` keeps its previous content, if it had one.
    """
    path = pathlib.Path(path)
    check_parent_exists(path)
    temporary = temporary_sibling(path, suffix)
    try:
        yield temporary
        if not temporary.exists():
            raise RuntimeError(f"nothing was written for {path}")
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def write_bytes(path, data):
    """Writes `data` to `path` atomically (mode 0644 like a plain `open`)."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return pathlib.Path(path)


def write_text(path, text, encoding="utf-8"):
    """Writes `text` to `path` atomically."""
    return write_bytes(path, text.encode(encoding))


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary folder to fill; it replaces `path` if the block succeeds.

    For outputs that are folders (a SavedModel). An existing `path` is moved
    aside and deleted only after the new folder is in place; on failure the
    temporary folder is deleted and `path` is untouched.
    """
    path = pathlib.Path(path)
    check_parent_exists(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"'{path}' exists and is not a directory")
    temporary = temporary_sibling(path, suffix="")
    old = None
    try:
        temporary.mkdir()
        yield temporary
        if path.exists():
            old = temporary_sibling(path, suffix=".old")
            os.replace(path, old)
        os.replace(temporary, path)
    finally:
        for leftover in (temporary, old):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def write_or_check_table(path, text, argv, command):
    """`python -m <command>` for a generated table: write it, or `--check` it.

    Returns the process exit code: 1 when `--check` finds the file stale.
    """
    import sys

    if "--check" in argv:
        if not path.exists() or path.read_text("utf-8") != text:
            print(f"{path} is stale; run python -m {command}", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    write_text(path, text)
    print(f"wrote {path} ({len(text)} characters)")
    return 0
