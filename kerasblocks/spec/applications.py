"""`keras.applications` constructors as graph nodes: `- MobileNetV2: {include_top: false}`.

An application is a whole functional model; a spec uses it like a layer, and
the built model holds it as a nested model named after the node. It is made
when the node is first called, with `input_shape` taken from the tensor it is
called with unless the spec gives one.

Nothing is ever downloaded: `weights` is null (random initialisation, the
default here, unlike Keras' "imagenet") or the path of a local weights file
(`.h5`, as `model.save_weights` writes it), loaded after the model is made.
"""

import os

WEIGHT_FILE_SUFFIXES = (".h5",)


def weights_problem(weights):
    """Why a `weights` value cannot be used, or None (no Keras needed)."""
    if weights is None:
        return None
    if not isinstance(weights, str) or not weights.endswith(WEIGHT_FILE_SUFFIXES):
        return (
            f"weights {weights!r} would be downloaded, and kerasblocks downloads nothing: "
            "use weights: null (random initial weights) or the path of a local .weights.h5 file"
        )
    return None


class Application:
    """A node that makes `keras.applications.<constructor>` on its first call.

    Args:
        constructor: the constructor's name in `keras.applications` (closed:
            the signature table lists them).
        name: the nested model's name.
        **arguments: the constructor's arguments (`include_top`, `pooling`,
            `weights`, ...).
    """

    def __init__(self, constructor, name, **arguments):
        problem = weights_problem(arguments.get("weights"))
        if problem:
            raise ValueError(f"`weights`: {problem}")
        self.constructor = constructor
        self.name = name
        self.arguments = arguments
        self.model = None

    def __call__(self, inputs, **kwargs):
        if self.model is None:
            self.model = self._make(tuple(inputs.shape[1:]))
        return self.model(inputs, **kwargs)

    def count_params(self):
        return self.model.count_params()

    def _make(self, input_shape):
        import keras

        arguments = dict(self.arguments)
        weights = arguments.pop("weights", None)
        arguments.setdefault("input_shape", input_shape)
        model = getattr(keras.applications, self.constructor)(
            weights=None, name=self.name, **arguments
        )
        if weights is not None:
            if not os.path.isfile(weights):
                raise ValueError(f"`weights`: no such file: {weights}")
            model.load_weights(weights)
        return model
