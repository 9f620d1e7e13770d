"""`kerasblocks evaluate` and `kerasblocks predict`: a saved model on a dataset.

A model saved by kerasblocks carries its spec, and with it the `train:`
section's preprocessing (scale, shift, flatten) and loss, so evaluating or
predicting needs only the model file and the data:

    evaluate_model("runs/fashion/final.keras", data="fashion_mnist")
    # {"loss": 0.27, "accuracy": 0.905, "samples": 10000}
    predict_model("final.keras", data="fashion_mnist", top_k=3, limit=5)

Models without a spec are evaluated with their own compiled loss and no
preprocessing beyond a cast to float32.
"""

import dataclasses

import numpy as np

from kerasblocks import saving
from kerasblocks.training.config import DATASET_NAMES, DatasetConfig, train_config
from kerasblocks.training.data import DataError, fit_to_model, load_arrays, make_dataset

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def evaluate_model(path, *, data=None, batch_size=None, limit=None):
    """Loss and accuracy of a saved model on a dataset's test split.

    Returns:
        {"loss": float, "accuracy": float, "samples": int, "split": "test"|"train"}.
    """
    model, config, graph = _load(path, data, batch_size, limit)
    x, y, split = _split(model, config)
    import keras

    from kerasblocks.training.trainer import ends_in_logits

    output_name = graph.outputs[0] if graph is not None else None
    from_logits = config.from_logits
    if from_logits is None:
        from_logits = ends_in_logits(graph, output_name) if graph is not None else True
    main = _main_output_model(model)
    main.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    dataset = make_dataset(x, y, config.dataset, batch_size=config.batch_size, shuffle=False, seed=0)
    logs = main.evaluate(dataset, verbose=0, return_dict=True)
    return {"loss": float(logs["loss"]), "accuracy": float(logs["accuracy"]),
            "samples": int(len(x)), "split": split}


def predict_model(path, *, data=None, top_k=1, limit=10, batch_size=None):
    """Top-k classes and probabilities for the first `limit` test samples.

    Returns:
        list of {"index", "label", "classes": [k ints], "probabilities": [k floats],
        "class_names": the dataset's class names (Fashion-MNIST) or None}.
    """
    model, config, graph = _load(path, data, batch_size, limit)
    x, y, _ = _split(model, config)
    from kerasblocks.training.trainer import ends_in_logits

    dataset = make_dataset(x, y, config.dataset, batch_size=config.batch_size, shuffle=False, seed=0)
    scores = _main_output_model(model).predict(dataset, verbose=0)
    logits = ends_in_logits(graph, graph.outputs[0]) if graph is not None else (
        not np.allclose(scores.sum(axis=-1), 1.0, atol=1e-3)
    )
    if logits:
        scores = scores - scores.max(axis=-1, keepdims=True)
        scores = np.exp(scores)
        scores /= scores.sum(axis=-1, keepdims=True)
    top_k = max(1, min(top_k, scores.shape[-1]))
    order = np.argsort(-scores, axis=-1)[:, :top_k]
    names = class_names(config.dataset.name, scores.shape[-1])
    return [
        {
            "index": index,
            "label": int(y[index]),
            "classes": [int(c) for c in order[index]],
            "probabilities": [float(scores[index, c]) for c in order[index]],
            "class_names": names,
        }
        for index in range(len(x))
    ]


def class_names(dataset_name, num_classes):
    if dataset_name == "fashion_mnist" and num_classes == len(FASHION_MNIST_CLASSES):
        return FASHION_MNIST_CLASSES
    return None


@dataclasses.dataclass(frozen=True)
class _Settings:
    """What evaluate and predict need of a train section."""

    dataset: DatasetConfig
    batch_size: int
    from_logits: bool | None = None
    seed: int = 0


def _load(path, data, batch_size, limit):
    try:
        metadata = saving.read_metadata(path)
    except FileNotFoundError as error:
        raise DataError(str(error)) from None
    record = metadata["spec"]
    if record is not None:
        from kerasblocks import api

        spec = api.load_spec(record.text, file=f"{path} (spec)")
        config, graph = train_config(
            spec, vars=record.vars, batch_size=batch_size, data=data,
            settings={"dataset.limit": limit} if limit else None, require_section=False,
        )
        settings = _Settings(config.dataset, config.batch_size, config.from_logits, config.seed)
    else:
        if data is None:
            raise DataError(f"{path} carries no spec (so no dataset or preprocessing): pass --data")
        if data in DATASET_NAMES:
            dataset = DatasetConfig(name=data, limit=limit)
        else:
            name = "npz" if str(data).endswith(".npz") else "idx"
            dataset = DatasetConfig(name=name, path=str(data), limit=limit)
        settings, graph = _Settings(dataset, batch_size or 256), None
    model = saving.load_model(path, compile=False)
    return model, settings, graph


def _split(model, config):
    input_shape = tuple(model.inputs[0].shape[1:])
    num_classes = int(model.outputs[0].shape[-1])
    arrays = load_arrays(config.dataset, input_shape=input_shape, num_classes=num_classes,
                         seed=config.seed)
    arrays = fit_to_model(arrays, config.dataset, input_shape=input_shape, num_classes=num_classes)
    if arrays.x_test is not None:
        return arrays.x_test, arrays.y_test, "test"
    return arrays.x_train, arrays.y_train, "train"


def _main_output_model(model):
    """The model with only its first output (aux heads dropped)."""
    if len(model.outputs) == 1:
        return model
    import keras

    return keras.Model(model.inputs, model.outputs[0], name=model.name)
