"""The kerasblocks layers; importing this module registers them with Keras."""

from kerasblocks.layers.inception_block import InceptionBlock
from kerasblocks.layers.l2_norm_scale import L2NormScale
from kerasblocks.layers.lrn import LRN
from kerasblocks.layers.residual_unit import ResidualUnit

ALL_LAYERS = (L2NormScale, LRN, ResidualUnit, InceptionBlock)


def custom_objects():
    """Returns `{registered_name: class}` for every kerasblocks layer.

    Not needed once `kerasblocks` is imported (the layers are registered), but
    handy for code that prefers to be explicit:

    >>> keras.saving.load_model("m.keras", custom_objects=kerasblocks.custom_objects())
    """
    import keras

    objects = {}
    for cls in ALL_LAYERS:
        # Registered name ("kerasblocks>LRN") is what `.keras` files store; the
        # bare class name serves configs written by hand.
        objects[keras.saving.get_registered_name(cls)] = cls
        objects[cls.__name__] = cls
    return objects


__all__ = ["L2NormScale", "LRN", "ResidualUnit", "InceptionBlock", "custom_objects"]
