"""Training from a spec's `train:` section (the `kerasblocks train` command).

    import kerasblocks
    result = kerasblocks.train("inception_fashion", epochs=3, out_dir="runs/fashion")
    result.model, result.history["val_accuracy"], result.test["accuracy"]

`config` (the section -> `TrainConfig`, no TensorFlow), `data` (arrays and
tf.data pipelines), `trainer` (compile, fit, records, checkpoints, plot),
`distribute` (tf.distribute strategies).
"""

from kerasblocks.training.config import TrainConfig, train_config
from kerasblocks.training.data import DataError

__all__ = ["TrainConfig", "train_config", "DataError", "train"]


def train(spec, **overrides):
    """See `kerasblocks.training.trainer.train`."""
    from kerasblocks.training.trainer import train as _train

    return _train(spec, **overrides)
