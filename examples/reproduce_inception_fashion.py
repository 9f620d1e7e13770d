"""Reproduces the tf.keras article's Inception net on Fashion-MNIST, from its spec.

specs/inception_fashion.yaml, trained as its `train:` section says (the
article's settings): full Fashion-MNIST (60,000 / 10,000), x / 255 - 0.5,
Adam 1e-3, batch 512, 20 epochs, categorical cross-entropy on the logits,
test accuracy after every epoch. Writes, into --results (default
examples/results/inception_fashion/):

  comparison.md    test accuracy per epoch next to the article's numbers
  comparison.png   both curves
  history.csv      the per-epoch records (loss, accuracy, val_*, time)
  curves.png       loss and accuracy curves of this run
and the models (best/last/final .keras) into --run-dir.

    python examples/reproduce_inception_fashion.py                 # 20 epochs (long on a CPU)
    python examples/reproduce_inception_fashion.py --epochs 2 --limit 5000
    python examples/reproduce_inception_fashion.py --from-history examples/results/inception_fashion/history.csv

The article reports 0.7019 (epoch 1), 0.785 (2), 0.8282 (3), 0.86 (5),
0.9001 (13), best 0.9048 (16), 0.9026 (20).
"""

import argparse
import csv
import datetime
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARTICLE = {1: 0.7019, 2: 0.785, 3: 0.8282, 5: 0.86, 13: 0.9001, 16: 0.9048, 20: 0.9026}
ARTICLE_BEST = 0.9048


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the spec's 20")
    parser.add_argument("--limit", type=int, default=None, help="first N train and test images")
    parser.add_argument("--results", default=str(ROOT / "examples/results/inception_fashion"))
    parser.add_argument("--run-dir", default=str(ROOT / "out/inception_fashion"))
    parser.add_argument("--from-history", default=None, help="only redo table and figure")
    args = parser.parse_args(argv)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)

    if args.from_history:
        history = read_history(args.from_history)
    else:
        import kerasblocks
        from kerasblocks.training.trainer import summary_lines

        settings = {"dataset.limit": args.limit} if args.limit else None
        result = kerasblocks.train(
            "inception_fashion", epochs=args.epochs, settings=settings, out_dir=args.run_dir
        )
        print("\n".join(summary_lines(result)))
        for name in ("history.csv", "curves.png"):
            (results / name).write_bytes((Path(args.run_dir) / name).read_bytes())
        history = read_history(Path(args.run_dir) / "history.csv")
    table = comparison_table(history)
    (results / "comparison.md").write_text(table)
    plot(history, results / "comparison.png")
    print(table)
    return history


def read_history(path):
    with open(path) as stream:
        rows = list(csv.DictReader(stream))
    return {
        "val_accuracy": [float(row["val_accuracy"]) for row in rows],
        "epoch_time_s": [float(row["epoch_time_s"]) for row in rows],
    }


def comparison_table(history):
    accuracy = history["val_accuracy"]
    times = history["epoch_time_s"]
    best = max(accuracy)
    best_epoch = accuracy.index(best) + 1
    lines = [
        f"Run: {datetime.date.today()} on {platform.machine()} "
        f"({os.cpu_count()} CPU cores visible), {len(accuracy)} epoch(s), "
        f"{sum(times[1:] or times) / len(times[1:] or times):.1f} s per epoch",
        "",
        "| epoch | test accuracy (kerasblocks) | article |",
        "|---:|---:|---:|",
    ]
    for epoch, value in enumerate(accuracy, start=1):
        article = f"{ARTICLE[epoch]:.4f}" if epoch in ARTICLE else ""
        lines.append(f"| {epoch} | {value:.4f} | {article} |")
    verdict = "reached" if best >= ARTICLE_BEST else "not reached"
    lines += [
        "",
        f"Best: {best:.4f} at epoch {best_epoch} (article: best {ARTICLE_BEST} at epoch 16); "
        f"target {ARTICLE_BEST} {verdict}.",
        "",
    ]
    return "\n".join(lines)


def plot(history, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    axes = figure.subplots()
    accuracy = history["val_accuracy"]
    axes.plot(range(1, len(accuracy) + 1), accuracy, "-o", markersize=3, label="kerasblocks (spec)")
    axes.plot(list(ARTICLE), list(ARTICLE.values()), "s--", label="article (reported)")
    axes.set_xlabel("epoch")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_ylabel("test accuracy")
    axes.set_title("Inception net on Fashion-MNIST")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.savefig(path, bbox_inches="tight")


if __name__ == "__main__":
    main()
