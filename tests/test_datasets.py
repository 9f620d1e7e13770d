"""kerasblocks.datasets: the IDX reader on generated files, Fashion-MNIST on the real ones."""

import gzip
import struct

import numpy as np
import pytest

from kerasblocks import datasets
from kerasblocks.datasets import load_fashion_mnist, read_idx

FASHION_MNIST_INSTALLED = all(
    (datasets.FASHION_MNIST_DIR / f"{name}.gz").is_file() for name in datasets.FASHION_MNIST_FILES
)


def idx_bytes(array, type_code=0x08):
    """The IDX encoding of `array` (big-endian values after the header)."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.asarray(array, dtype[type_code]).tobytes()


def write(path, data, compress):
    if compress:
        with gzip.open(path, "wb") as stream:
            stream.write(data)
    else:
        path.write_bytes(data)
    return path


def fake_fashion_mnist(folder, compress=True, train=6, test=4, seed=0):
    """Four small MNIST-format files in `folder`; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write(folder / (name + (".gz" if compress else "")), idx_bytes(array), compress)
    return arrays


# --- read_idx ---------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_read_idx_reads_images_and_labels(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 0, 9], np.uint8)
    # The reader looks at the bytes, not the name: no .gz suffix needed.
    assert np.array_equal(read_idx(write(tmp_path / "i", idx_bytes(images), compress)), images)
    read = read_idx(write(tmp_path / "l", idx_bytes(labels), compress), ndim=1)
    assert read.dtype == np.uint8 and np.array_equal(read, labels)
    assert read.flags.writeable  # a copy, not a view of the bytes read


@pytest.mark.parametrize(
    "type_code, dtype",
    [(0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)],
)
def test_read_idx_reads_every_idx_type_in_native_byte_order(tmp_path, type_code, dtype):
    values = np.array([[-3, 1, 2], [100, -100, 7]], dtype)
    read = read_idx(write(tmp_path / "x", idx_bytes(values, type_code), False))
    assert read.dtype == np.dtype(dtype) and read.dtype.isnative
    assert np.array_equal(read, values)


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_a_bad_magic_number_is_a_clear_error(tmp_path, compress):
    data = bytearray(idx_bytes(np.zeros((2, 2), np.uint8)))
    data[0] = 0x12
    path = write(tmp_path / "bad-idx3-ubyte", bytes(data), compress)
    message = r"bad-idx3-ubyte: not an IDX file: bad magic number 0x12000802"
    with pytest.raises(ValueError, match=message):
        read_idx(path)


def test_an_unknown_type_code_and_a_text_file_are_not_idx(tmp_path):
    with pytest.raises(ValueError, match="bad magic number 0x00000702"):
        read_idx(write(tmp_path / "t", bytes([0, 0, 7, 2]) + bytes(8), False))
    with pytest.raises(ValueError, match="bad magic number 0x3C68746D"):  # "<htm"
        read_idx(write(tmp_path / "page", b"<html>not found</html>", False))
    with pytest.raises(ValueError, match="only 2 bytes"):
        read_idx(write(tmp_path / "short", b"\x00\x00", False))


def test_a_truncated_file_says_what_the_header_promised(tmp_path):
    data = idx_bytes(np.zeros((3, 28, 28), np.uint8))[:-10]
    message = r"shape \(3, 28, 28\) of uint8 \(2352 bytes.*2342 bytes \(truncated\?\)"
    with pytest.raises(ValueError, match=message):
        read_idx(write(tmp_path / "cut.gz", data, True))


def test_the_wrong_number_of_dimensions_is_refused(tmp_path):
    path = write(tmp_path / "labels", idx_bytes(np.zeros(5, np.uint8)), False)
    message = r"expected an IDX file with 3 dimension\(s\), this one has 1"
    with pytest.raises(ValueError, match=message):
        read_idx(path, ndim=3)


def test_a_damaged_gzip_stream_is_a_value_error(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    path = tmp_path / "damaged.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="cannot decompress"):
        read_idx(path)


# --- load_fashion_mnist -------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_load_fashion_mnist_from_a_folder(tmp_path, compress):
    arrays = fake_fashion_mnist(tmp_path, compress)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(tmp_path)
    assert np.array_equal(x_train, arrays["train-images-idx3-ubyte"])
    assert np.array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(x_test, arrays["t10k-images-idx3-ubyte"])
    assert np.array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_load_fashion_mnist_finds_the_environment_folder(tmp_path, monkeypatch):
    arrays = fake_fashion_mnist(tmp_path / "fashion-mnist", train=3)
    monkeypatch.setenv("KERASBLOCKS_DATA", str(tmp_path))
    (x_train, _), _ = load_fashion_mnist()
    assert np.array_equal(x_train, arrays["train-images-idx3-ubyte"])


def test_missing_files_say_where_they_were_looked_for_and_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path / "not-installed")
    monkeypatch.setenv("KERASBLOCKS_DATA", str(tmp_path / "mine"))
    with pytest.raises(FileNotFoundError) as caught:
        load_fashion_mnist()
    message = str(caught.value)
    for folder in ("mine", "mine/fashion-mnist", "not-installed"):
        assert str(tmp_path / folder) in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "KERASBLOCKS_DATA" in message


def test_images_and_labels_must_agree(tmp_path):
    fake_fashion_mnist(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(3, np.uint8)), True)
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: 4 images but 3 labels"):
        load_fashion_mnist(tmp_path)


@pytest.mark.skipif(not FASHION_MNIST_INSTALLED, reason="apt-get install dataset-fashion-mnist")
def test_the_installed_fashion_mnist():
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    assert (x_train.shape, x_train.dtype) == ((60000, 28, 28), np.uint8)
    assert (x_test.shape, x_test.dtype) == ((10000, 28, 28), np.uint8)
    assert (y_train.shape, y_test.shape) == ((60000,), (10000,))
    assert np.array_equal(np.bincount(y_train), [6000] * 10)  # balanced classes 0..9
    assert np.array_equal(np.bincount(y_test), [1000] * 10)
    assert 0 < x_train.mean() < 255 and x_train.max() == 255
