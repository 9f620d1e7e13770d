"""The tf.keras article's MLP, trained as the article did: SGD 0.1, batch 256, 2000 steps.

specs/mlp_mnist.yaml with its `train:` section (784 -> 128 -> 256 -> 10 logits,
pixels / 255, sparse softmax cross-entropy). The article used MNIST, which
cannot be downloaded here: pass --data with an MNIST IDX folder or mnist.npz,
or use the default, Fashion-MNIST (same shapes, a harder task).

    python examples/train_mlp.py                      # Fashion-MNIST, 2000 steps
    python examples/train_mlp.py --data ~/mnist       # MNIST IDX files
Writes history.csv, curves.png and the models into --out-dir, and copies the
records to examples/results/mlp/.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--out-dir", default=str(ROOT / "out/mlp"))
    args = parser.parse_args(argv)

    import kerasblocks
    from kerasblocks.training.trainer import summary_lines

    result = kerasblocks.train(
        "mlp_mnist", data=args.data, settings={"steps": args.steps}, out_dir=args.out_dir
    )
    print("\n".join(summary_lines(result)))
    results = ROOT / "examples/results/mlp"
    results.mkdir(parents=True, exist_ok=True)
    for name in ("history.csv", "curves.png"):
        (results / name).write_bytes((Path(args.out_dir) / name).read_bytes())
    return result


if __name__ == "__main__":
    main()
