"""tf.distribute for `kerasblocks train --distribute mirrored|multiworker`.

mirrored     `tf.distribute.MirroredStrategy`: one process, every visible GPU
             (or, on a CPU-only machine, every logical CPU device); the batch
             size is global and split across the replicas.
multiworker  `tf.distribute.MultiWorkerMirroredStrategy`: several processes,
             each started with the same command and its own TF_CONFIG, e.g. for
             two workers on one machine:

    TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]},
                "task": {"type": "worker", "index": 0}}' kerasblocks train ... &
    TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]},
                "task": {"type": "worker", "index": 1}}' kerasblocks train ...

             Worker 0 (the chief) writes the files; the others save into
             scratch folders that are removed. Each worker takes every n-th
             batch of the data (auto-sharding by DATA).
"""

import contextlib
import json
import os

STRATEGIES = ("mirrored", "multiworker")


class DistributeError(ValueError):
    """A strategy that cannot be set up (bad name, missing or bad TF_CONFIG)."""


def make_strategy(name):
    """None, "mirrored" or "multiworker" -> a tf.distribute strategy (or None)."""
    if name is None:
        return None
    if name not in STRATEGIES:
        raise DistributeError(f"unknown --distribute '{name}': use one of {', '.join(STRATEGIES)}")
    import tensorflow as tf

    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    config = os.environ.get("TF_CONFIG")
    if not config:
        raise DistributeError(
            "--distribute multiworker needs TF_CONFIG, e.g. "
            """TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]}, """
            """"task": {"type": "worker", "index": 0}}' (one process per worker)"""
        )
    try:
        parsed = json.loads(config)
        parsed["cluster"]["worker"], parsed["task"]["index"]
    except (ValueError, KeyError, TypeError) as error:
        raise DistributeError(f"TF_CONFIG is not a valid cluster description ({error}): {config}")
    communication = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=communication)


def scope(strategy):
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def is_chief(strategy):
    """True unless this is a non-chief worker of a multi-worker run."""
    if strategy is None:
        return True
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def prepare_model(model, strategy, dataset):
    """Works around Keras 3.15 `fit` under MultiWorkerMirroredStrategy.

    Before its first step, Keras's TF trainer builds the compiled metrics and
    the optimizer from one batch that it averages across replicas with
    `strategy.reduce("MEAN", batch)`; CollectiveAllReduceStrategy cannot
    reduce a per-replica batch and `fit` fails ("Attempt to convert a value
    (PerReplica...) ... to a Tensor"). Build from an undistributed batch here
    instead (same shapes) and skip that step.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    batch = next(iter(dataset))
    with strategy.scope():
        model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    _patch_multi_worker_log_reduction()


def _patch_multi_worker_log_reduction():
    """Keras 3.15 averages the per-replica logs of a multi-worker step with
    `strategy.reduce("MEAN", value, axis=0)`, which fails for the scalar loss
    and metrics ("Invalid reduction dimension 0 for input with 0 dimensions").
    Average them across workers with `axis=None` instead (only for
    MultiWorkerMirroredStrategy; other reductions are left to Keras)."""
    from keras.src.backend.tensorflow import trainer as tf_trainer
    from keras.src import tree

    original = tf_trainer.reduce_per_replica
    if getattr(original, "_kerasblocks_patch", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(
                lambda value: strategy.reduce("MEAN", value, axis=None)
                if tf_trainer._is_per_replica_instance(value) else value,
                values,
            )
        return original(values, strategy, reduction)

    reduce_per_replica._kerasblocks_patch = True
    tf_trainer.reduce_per_replica = reduce_per_replica


def describe(strategy):
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"
