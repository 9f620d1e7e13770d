"""Export a shipped spec for serving and check the artefacts against Keras.

Builds a spec, saves it as `.keras`, exports that file as a TensorFlow
SavedModel folder and as a `.tflite` file, runs both exported artefacts the
way a server or a phone would, and compares their outputs with the Keras
model's on a batch of random images. The same as, on the command line:

    kerasblocks build inception_fashion -o model.keras
    kerasblocks export model.keras --format savedmodel -o model_savedmodel
    kerasblocks export model.keras --format tflite -o model.tflite

    python examples/export_for_serving.py [--spec inception_fashion] [--output-dir DIR]
"""

import argparse
import os
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow start-up logs

import numpy as np
import tensorflow as tf

import kerasblocks

# SavedModel runs the same TensorFlow kernels as Keras; TFLite its own.
TOLERANCES = {"savedmodel": 1e-5, "tflite": 1e-4}


def tflite_interpreter(path):
    """LiteRT's interpreter where installed, else TensorFlow's (same API)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        with warnings.catch_warnings():  # TF 2.21 marks tf.lite.Interpreter deprecated
            warnings.simplefilter("ignore", UserWarning)
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="inception_fashion", help="a single-input spec")
    parser.add_argument("--output-dir", help="where to write (default: a new temporary folder)")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    if args.output_dir is None:
        args.output_dir = tempfile.mkdtemp(prefix="kerasblocks-export-")

    model = kerasblocks.build(args.spec)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise SystemExit(f"{args.spec}: this example expects one input and one output")
    keras_file = kerasblocks.save_model(model, os.path.join(args.output_dir, "model.keras"))
    print(f"Saved {keras_file}")

    artefacts = {}
    for format, name in (("savedmodel", "model_savedmodel"), ("tflite", "model.tflite")):
        start = time.perf_counter()
        artefacts[format] = kerasblocks.export(
            keras_file, os.path.join(args.output_dir, name), format=format
        )
        print(f"Exported {artefacts[format]} in {time.perf_counter() - start:.1f} s")

    input_name = model.inputs[0].name
    images = np.random.default_rng(0).uniform(
        -0.5, 0.5, size=(args.batch_size, *model.inputs[0].shape[1:])
    ).astype("float32")
    expected = model(images, training=False).numpy()

    reloaded = tf.saved_model.load(str(artefacts["savedmodel"]))  # held: it owns the variables
    outputs = {"savedmodel": reloaded.serve(images).numpy()}
    # The signature runner resizes the dynamic batch dimension on each call.
    run = tflite_interpreter(artefacts["tflite"]).get_signature_runner("serving_default")
    outputs["tflite"] = run(**{input_name: images})["output_0"]

    print(f"\n{'artefact':<12} {'max |output - Keras|':>22}  same top-1 class")
    failed = False
    for format, output in outputs.items():
        difference = float(np.max(np.abs(output - expected)))
        same_classes = np.array_equal(output.argmax(-1), expected.argmax(-1))
        print(f"{format:<12} {difference:>22.2e}  {same_classes}")
        failed |= difference > TOLERANCES[format]
    if failed:
        raise SystemExit("an exported artefact differs from the Keras model")


if __name__ == "__main__":
    main()
