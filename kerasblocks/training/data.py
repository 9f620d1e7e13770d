"""Training data: arrays from IDX folders, `.npz` files or a generator, then tf.data.

    arrays = load_arrays(config.dataset)            # NumPy only, nothing downloaded
    arrays = fit_to_model(arrays, config.dataset, input_shape=(28, 28, 1), num_classes=10)
    train_ds = make_dataset(arrays.x_train, arrays.y_train, config.dataset, batch_size=512,
                            shuffle=True, seed=0)

Sources (`train.dataset.name`, or `--data`):
  fashion_mnist  the four IDX files in `path`, else $KERASBLOCKS_DATA (or its
                 fashion-mnist/ folder), else /usr/share/datasets/fashion-mnist.
  mnist          the four MNIST IDX files in `path`, else $KERASBLOCKS_DATA/mnist
                 or $KERASBLOCKS_DATA (MNIST cannot be downloaded here).
  idx            a folder with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
                 t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz].
  npz            a Keras-style .npz with x_train, y_train, x_test, y_test
                 (what `keras.datasets.mnist.load_data()` caches).
  generated      one random pattern per class plus noise: learnable in an epoch
                 or two, for smoke tests; shaped like the model's input.

Problems with the data (missing files, wrong image shapes, labels the model
cannot output) raise `DataError`, a `ValueError`, with what to do about it.
"""

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from kerasblocks.datasets import DATA_DIR_ENV, FASHION_MNIST_DIR, read_idx

IDX_FILES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
_HOW_TO_GET = {
    "fashion_mnist": (
        "install it with `apt-get install dataset-fashion-mnist` (the files go to "
        f"{FASHION_MNIST_DIR}), or put the four IDX files from "
        "https://github.com/zalandoresearch/fashion-mnist (data/fashion) in a folder and set "
        f"{DATA_DIR_ENV}=FOLDER or pass --data FOLDER"
    ),
    "mnist": (
        "MNIST is not downloaded by kerasblocks: put the four IDX files "
        "(train-images-idx3-ubyte.gz, ... from http://yann.lecun.com/exdb/mnist/ or a mirror) "
        f"in a folder and pass --data FOLDER (or set {DATA_DIR_ENV} to a folder with a mnist/ "
        "subfolder), or pass --data mnist.npz (a Keras-style .npz with x_train, y_train, "
        "x_test, y_test, e.g. ~/.keras/datasets/mnist.npz)"
    ),
}


class DataError(ValueError):
    """Training data that is missing or does not fit the model."""


@dataclasses.dataclass
class Arrays:
    """Training and test data as NumPy arrays (x: images, y: integer labels).

    x_test / y_test are None when the source has no test split.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    source: str

    def describe(self):
        test = "no test set" if self.x_test is None else f"{len(self.x_test):,} test"
        return f"{self.source}: {len(self.x_train):,} training, {test} samples"


def load_arrays(dataset, *, input_shape=None, num_classes=None, seed=0):
    """Reads the arrays a `DatasetConfig` names (the full sets, then `limit`).

    `input_shape` and `num_classes` shape the generated dataset.
    """
    name = dataset.name
    if name == "generated":
        arrays = generate(
            input_shape or (28, 28, 1),
            num_classes or 10,
            train_size=dataset.train_size,
            test_size=dataset.test_size,
            noise=dataset.noise,
            seed=seed,
        )
    elif name == "npz":
        arrays = load_npz(dataset.path)
    elif name == "idx":
        arrays = load_idx_folder(dataset.path)
    else:  # fashion_mnist, mnist
        arrays = load_idx_folder(_find_named(name, dataset.path), source=name)
    if dataset.limit is not None:
        arrays.x_train, arrays.y_train = arrays.x_train[: dataset.limit], arrays.y_train[: dataset.limit]
        if arrays.x_test is not None:
            arrays.x_test, arrays.y_test = arrays.x_test[: dataset.limit], arrays.y_test[: dataset.limit]
    return arrays


def load_idx_folder(folder, *, source=None):
    """The four MNIST-format IDX files (gzip-compressed or not) of a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"data folder '{folder}' does not exist"
            + ("" if not folder.exists() else " (it is a file: a .npz must end in .npz)")
            + "; it should hold train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]"
        )
    found = {key: _find_idx(folder, names) for key, names in IDX_FILES.items()}
    if found["x_train"] is None or found["y_train"] is None:
        raise DataError(
            f"no MNIST-format training files in '{folder}': expected "
            "train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] (and the t10k-... "
            "test files)"
        )
    try:
        arrays = {key: read_idx(path, ndim=3 if key.startswith("x") else 1) if path else None
                  for key, path in found.items()}
    except ValueError as error:
        raise DataError(str(error)) from None
    for x_key, y_key in (("x_train", "y_train"), ("x_test", "y_test")):
        if (arrays[x_key] is None) != (arrays[y_key] is None):
            raise DataError(f"'{folder}' has {x_key} or {y_key} but not both")
        if arrays[x_key] is not None and len(arrays[x_key]) != len(arrays[y_key]):
            raise DataError(
                f"{found[x_key]}: {len(arrays[x_key])} images but {len(arrays[y_key])} labels"
            )
    return Arrays(**arrays, source=f"{source or 'idx'} ({folder})")


def load_npz(path):
    """A Keras-style .npz: x_train, y_train and optionally x_test, y_test."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"no such .npz file: '{path}' (a Keras-style .npz holds the arrays x_train, "
            "y_train, x_test, y_test, as `numpy.savez` writes them)"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            missing = {"x_train", "y_train"} - names
            if missing:
                raise DataError(
                    f"{path}: no {', '.join(sorted(missing))} in the file (it has: "
                    f"{', '.join(sorted(names)) or 'nothing'}); a Keras-style .npz holds "
                    "x_train, y_train, x_test, y_test"
                )
            arrays = {key: npz[key] if key in names else None
                      for key in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({error})") from None
    for x_key, y_key in (("x_train", "y_train"), ("x_test", "y_test")):
        x, y = arrays[x_key], arrays[y_key]
        if (x is None) != (y is None):
            raise DataError(f"{path}: has {x_key} or {y_key} but not both")
        if x is not None and len(x) != len(y):
            raise DataError(f"{path}: {x_key} has {len(x)} samples but {y_key} has {len(y)}")
    return Arrays(**arrays, source=f"npz ({path})")


def generate(input_shape, num_classes, *, train_size=512, test_size=128, noise=0.3, seed=0):
    """A learnable random dataset: one fixed uint8 pattern per class plus noise.

    Images have the model's input shape (a trailing channel axis of 1 left
    out, like MNIST); labels are balanced.
    """
    shape = tuple(input_shape)
    if len(shape) == 3 and shape[-1] == 1:
        shape = shape[:-1]
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 255, size=(num_classes, *shape))

    def sample(size):
        labels = np.arange(size) % num_classes
        rng.shuffle(labels)
        images = (1 - noise) * prototypes[labels] + noise * rng.uniform(0, 255, (size, *shape))
        return images.round().astype(np.uint8), labels.astype(np.int64)

    x_train, y_train = sample(train_size)
    x_test, y_test = sample(test_size)
    return Arrays(x_train, y_train, x_test, y_test, source=f"generated ({num_classes} classes)")


def fit_to_model(arrays, dataset, *, input_shape, num_classes):
    """Checks images and labels against the model; adds a channel axis if needed.

    Raises:
        DataError: images that do not fit the input (with what to change),
            labels outside 0..num_classes-1, non-integer labels.
    """
    input_shape = tuple(input_shape)
    for x_key, y_key in (("x_train", "y_train"), ("x_test", "y_test")):
        x, y = getattr(arrays, x_key), getattr(arrays, y_key)
        if x is None:
            continue
        setattr(arrays, x_key, _fit_images(x, input_shape, dataset.flatten, x_key, arrays.source))
        setattr(arrays, y_key, _check_labels(y, num_classes, y_key, arrays.source))
    if len(arrays.x_train) == 0:
        raise DataError(f"{arrays.source}: no training samples")
    return arrays


def model_input_shape(x_shape, flatten):
    """The per-sample shape a model sees after preprocessing."""
    return (math.prod(x_shape),) if flatten else tuple(x_shape)


def make_dataset(x, y, dataset, *, batch_size, shuffle, seed, num_outputs=1, one_hot=None,
                 repeat=False, drop_remainder=False):
    """A tf.data pipeline: shuffle, batch, preprocess on whole batches, prefetch.

    Images stay uint8 in memory; each batch is cast to float32, scaled,
    shifted and reshaped (flatten) inside the pipeline. `one_hot` (the number
    of classes) turns labels into one-hot vectors for categorical_crossentropy.
    With several outputs the labels are repeated for each.

    Shuffling: without a `shuffle_buffer` smaller than the data, each pass is a
    full random permutation of the indices (a new one each epoch, reproducible
    from `seed`), cut into batches of indices and gathered per batch, like
    Keras's own NumPy adapter; a smaller `shuffle_buffer` uses a buffer shuffle.
    No per-sample work is left in the pipeline, which matters when a training
    step takes only a few milliseconds.
    """
    import tensorflow as tf

    per_sample_shape = model_input_shape(x.shape[1:], dataset.flatten)
    scale, shift = np.float32(dataset.scale), np.float32(dataset.shift)
    count = len(x)

    def preprocess(index, arrays):
        images, labels = arrays
        images = tf.cast(tf.gather(images, index), tf.float32) * scale + shift
        images = tf.reshape(images, (-1, *per_sample_shape))
        labels = tf.gather(labels, index)
        if one_hot:
            labels = tf.one_hot(labels, one_hot)
        if num_outputs > 1:
            labels = tuple(labels for _ in range(num_outputs))
        return images, labels

    images, labels = tf.constant(x), tf.constant(y.astype(np.int32))

    # Batches of indices, then whole batches gathered: no per-sample work in the pipeline.
    buffer = dataset.shuffle_buffer or count
    full = count // batch_size * batch_size
    remainder = 0 if drop_remainder else count - full
    batches = full // batch_size + (1 if remainder else 0)

    def batches_of(order):
        """An epoch's order of indices -> a dataset of index batches (reshaped, not sliced)."""
        data = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:full], (-1, batch_size)))
        if remainder:
            data = data.concatenate(tf.data.Dataset.from_tensors(order[full:]))
        return data

    if shuffle and buffer < count:
        data = tf.data.Dataset.range(count).shuffle(buffer, seed=seed,
                                                     reshuffle_each_iteration=True)
        if repeat:
            data = data.repeat()
        data = data.batch(batch_size, drop_remainder=drop_remainder)
    elif shuffle:
        # One seed per pass (a new one each epoch, the sequence fixed by `seed`), then a
        # stateless permutation of all indices, cut into batches.
        def permutation(pass_seed):
            return tf.random.experimental.stateless_shuffle(
                tf.range(count, dtype=tf.int64), seed=tf.stack([pass_seed, np.int64(seed or 0)])
            )

        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        data = (seeds if repeat else seeds.take(1)).map(permutation).flat_map(batches_of)
        data = data.apply(tf.data.experimental.assert_cardinality(
            tf.data.INFINITE_CARDINALITY if repeat else batches))
    else:
        data = batches_of(tf.range(count, dtype=tf.int64))
        if repeat:
            data = data.repeat()
    # The arrays enter as a repeated dataset element (as in Keras's NumPy adapter) rather
    # than as tensors captured by the map function.
    data = tf.data.Dataset.zip(data, tf.data.Dataset.from_tensors((images, labels)).repeat())
    data = data.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    # No static graph rewrites (as in Keras's NumPy adapter): they serialize and rebuild the
    # pipeline's graph each time an iterator is made, i.e. every epoch.
    options.experimental_optimization.apply_default_optimizations = False
    # Under MultiWorkerMirroredStrategy each worker takes every n-th batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options).prefetch(tf.data.AUTOTUNE)


def split_validation(arrays, fraction):
    """Holds out the last `fraction` of the training data -> (train x, y), (val x, y)."""
    count = max(1, int(round(len(arrays.x_train) * fraction)))
    if count >= len(arrays.x_train):
        raise DataError(
            f"validation {fraction} leaves no training data ({len(arrays.x_train)} samples)"
        )
    return (
        (arrays.x_train[:-count], arrays.y_train[:-count]),
        (arrays.x_train[-count:], arrays.y_train[-count:]),
    )


# --- helpers -------------------------------------------------------------------


def _find_named(name, path):
    """The folder holding a named dataset's IDX files, or a DataError saying how to get them."""
    if path is not None:
        candidates = [Path(path)]
    else:
        candidates = []
        root = os.environ.get(DATA_DIR_ENV)
        sub = "fashion-mnist" if name == "fashion_mnist" else "mnist"
        if root:
            candidates += [Path(root) / sub, Path(root)]
        if name == "fashion_mnist":
            candidates.append(FASHION_MNIST_DIR)
    for folder in candidates:
        if folder.is_dir() and all(_find_idx(folder, names) for names in IDX_FILES.values()):
            return folder
    searched = ", ".join(str(folder) for folder in candidates) or f"nowhere (${DATA_DIR_ENV} is not set)"
    raise DataError(
        f"{name.replace('_', '-')} not found (looked for train-images-idx3-ubyte[.gz] and the "
        f"three other IDX files in: {searched}); {_HOW_TO_GET[name]}"
    )


def _find_idx(folder, names):
    for name in names:
        for candidate in (folder / f"{name}.gz", folder / name):
            if candidate.is_file():
                return candidate
    return None


def _fit_images(x, input_shape, flatten, key, source):
    sample_shape = tuple(x.shape[1:])
    if flatten:
        if (math.prod(sample_shape),) == input_shape:
            return x
        raise DataError(
            f"{source}: {key} images of shape {_shape(sample_shape)} flatten to "
            f"{math.prod(sample_shape)} values, but the model's input has shape "
            f"{_shape(input_shape)}"
        )
    if sample_shape == input_shape:
        return x
    if sample_shape + (1,) == input_shape:
        return x[..., np.newaxis]  # MNIST-style (n, 28, 28) -> (n, 28, 28, 1)
    hint = ""
    if len(input_shape) == 1 and math.prod(sample_shape) == input_shape[0]:
        hint = "; add `flatten: true` to train.dataset (or --set train.dataset.flatten=true)"
    raise DataError(
        f"{source}: {key} images have shape {_shape(sample_shape)} but the model's input "
        f"has shape {_shape(input_shape)}{hint}"
    )


def _check_labels(y, num_classes, key, source):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"{source}: {key} must be integer class labels of shape (n,), got dtype {y.dtype} "
            f"and shape {y.shape}"
        )
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(
            f"{source}: {key} has labels from {y.min()} to {y.max()}, but the model has "
            f"{num_classes} outputs (labels 0..{num_classes - 1}); set the spec's num_classes "
            f"(--set num_classes={int(y.max()) + 1}) or fix the labels"
        )
    return y


def _shape(shape):
    return "x".join(str(size) for size in shape) if shape else "()"
