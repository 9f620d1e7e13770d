"""Datasets read with NumPy alone: MNIST-format IDX files, Fashion-MNIST.

    from kerasblocks.datasets import load_fashion_mnist
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    x_train.shape, x_train.dtype      # (60000, 28, 28) uint8
    y_train.shape, y_train.max()      # (60000,) 9

Nothing here downloads anything. Fashion-MNIST is looked up in this order:
the `data_dir` argument if given (and only there); else the folder named by the
`KERASBLOCKS_DATA` environment variable (the files directly in it or in its
`fashion-mnist/` subfolder); else /usr/share/datasets/fashion-mnist, where the
Debian package `dataset-fashion-mnist` installs them.

The IDX format (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"): a 4-byte
magic number, two zero bytes, a type code and the number of dimensions, then
each dimension as a big-endian int32, then the values, big-endian, row-major.
"""

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "load_fashion_mnist", "DATA_DIR_ENV", "FASHION_MNIST_DIR"]

DATA_DIR_ENV = "KERASBLOCKS_DATA"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_HOW_TO_GET_FASHION_MNIST = (
    "install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu; "
    f"they go to {FASHION_MNIST_DIR}), or download the four files from "
    "https://github.com/zalandoresearch/fashion-mnist (data/fashion) into a folder "
    f"and set {DATA_DIR_ENV} to it, or pass data_dir=..."
)

# IDX type code -> NumPy dtype (big-endian, as stored).
_IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DIMENSIONS = 8  # MNIST-style files have 1 (labels) or 3 (images)


def read_idx(path, *, ndim=None):
    """Reads one IDX file (gzip-compressed or not) into a NumPy array.

    Compression is recognised by the file's first bytes, not its name.

    Args:
        path: str or `os.PathLike`. The file.
        ndim: int or None. The number of dimensions the file must have (3 for
            MNIST images, 1 for labels); None accepts any.

    Returns:
        A writable NumPy array in native byte order with the file's shape;
        `uint8` for MNIST files.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an IDX file (bad magic number, unknown type code),
            the wrong number of dimensions, or a size that does not match
            the header (a truncated file), naming the file.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as stream:
            data = stream.read()
    except (OSError, EOFError) as error:  # a damaged gzip stream
        raise ValueError(f"{path}: cannot decompress the file ({error})") from None

    if len(data) < 4:
        raise ValueError(f"{path}: not an IDX file: only {len(data)} bytes")
    zero, type_code, dimensions = data[0:2], data[2], data[3]
    magic = int.from_bytes(data[0:4], "big")
    if zero != b"\x00\x00" or type_code not in _IDX_TYPES or not 1 <= dimensions <= _MAX_DIMENSIONS:
        raise ValueError(
            f"{path}: not an IDX file: bad magic number 0x{magic:08X}; an IDX file "
            "starts with two zero bytes, a type code (0x08 for unsigned bytes) and the "
            "number of dimensions: 0x00000803 for MNIST images, 0x00000801 for labels"
        )
    if ndim is not None and dimensions != ndim:
        raise ValueError(
            f"{path}: expected an IDX file with {ndim} dimension(s), this one has "
            f"{dimensions} (magic number 0x{magic:08X})"
        )
    header_size = 4 + 4 * dimensions
    if len(data) < header_size:
        raise ValueError(f"{path}: the IDX header is cut short ({len(data)} bytes)")
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions)
    )
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_size
    if found != expected:
        raise ValueError(
            f"{path}: the header says shape {shape} of {dtype.name} ({expected} bytes of "
            f"data) but the file holds {found} bytes"
            + (" (truncated?)" if found < expected else "")
        )
    values = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return values.astype(dtype.newbyteorder("="), copy=True)


def load_fashion_mnist(data_dir=None):
    """Loads Fashion-MNIST from its original IDX files, like `keras.datasets`.

    Args:
        data_dir: str or `os.PathLike`. The folder holding the four files
            (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
            `t10k-...`). Defaults to `$KERASBLOCKS_DATA` (or its
            `fashion-mnist/` subfolder), then /usr/share/datasets/fashion-mnist.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images of shape
        `(60000, 28, 28)` and `(10000, 28, 28)`, uint8 labels 0..9.

    Raises:
        FileNotFoundError: the files are in none of the folders; the message
            lists the folders searched and how to get the files.
        ValueError: a file is damaged or not what its name says.
    """
    folder = _find_fashion_mnist(data_dir)
    paths = [_existing(folder / name) for name in FASHION_MNIST_FILES]
    x_train, x_test = read_idx(paths[0], ndim=3), read_idx(paths[2], ndim=3)
    y_train, y_test = read_idx(paths[1], ndim=1), read_idx(paths[3], ndim=1)
    for images, labels, image_path in ((x_train, y_train, paths[0]), (x_test, y_test, paths[2])):
        if len(images) != len(labels):
            raise ValueError(
                f"{image_path}: {len(images)} images but {len(labels)} labels in its labels file"
            )
    return (x_train, y_train), (x_test, y_test)


def _find_fashion_mnist(data_dir):
    if data_dir is not None:
        candidates = [Path(data_dir)]
    else:
        candidates = []
        if os.environ.get(DATA_DIR_ENV):
            root = Path(os.environ[DATA_DIR_ENV])
            candidates += [root, root / "fashion-mnist"]
        candidates.append(FASHION_MNIST_DIR)
    for folder in candidates:
        if all(_existing(folder / name) is not None for name in FASHION_MNIST_FILES):
            return folder
    searched = ", ".join(str(folder) for folder in candidates)
    raise FileNotFoundError(
        f"Fashion-MNIST not found (looked for {FASHION_MNIST_FILES[0]}[.gz] and the three "
        f"other files in: {searched}); {_HOW_TO_GET_FASHION_MNIST}"
    )


def _existing(path):
    """`path.gz` or `path`, whichever exists (the compressed file first), else None."""
    for candidate in (path.with_name(path.name + ".gz"), path):
        if candidate.is_file():
            return candidate
    return None
