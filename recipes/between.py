"""Model behaviour in-between training examples (paper section 2, Figure 2).

Two classifiers with the same architecture and the same training procedure,
one trained with ERM and one with mixup (same seed: same initial weights
and data order, only the mixing differs), are evaluated at
x = lam * x_i + (1 - lam) * x_j for random pairs (i, j) of training
examples and lam from 0.5 to 1, the x-axis of the paper's figure:

(a) prediction error in-between: a "miss" when the predicted class is
    neither y_i nor y_j;
(b) the norm of the gradient of the cross-entropy loss with respect to the
    input, with the label y_i (the closer example: lam >= 0.5), as in the
    figure's caption.

The input is the model's normalized input, (pixels - mean) / std, as the
paper's PyTorch models see it; mixing normalized images equals normalizing
mixed pixels (the normalization is affine). Pairs are drawn uniformly among
all ordered pairs of distinct training examples, so some share a class.

The paper publishes Figure 2 as a plot without numbers: mixup has fewer
misses and smaller gradient norms at every lam < 1.

    python -m recipes.between                    # digits, small CNN: ~2 CPU minutes
    python -m recipes.between --dataset cifar10  # PreAct ResNet-18: a GPU
    python -m recipes.between --smoke
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from recipes import common, images, robustness

RECIPE = "between"
MODELS = ("erm", "mixup")


@dataclasses.dataclass(frozen=True)
class BetweenConfig(robustness.ImageTrainingConfig):
    """ERM and mixup models evaluated in-between training pairs: misses and
    input-gradient norms against lam (mixup paper, Figure 2)."""

    alpha: float = common.option(
        1.0, "mixup alpha of the mixup model (the paper's CIFAR-10 setting)"
    )
    pairs: int = common.option(
        2000, "random pairs of training examples", smoke=16, metavar="N"
    )
    lam_points: int = common.option(
        11, "values of lam, evenly spaced from 0.5 to 1 (the figure's x-axis)",
        smoke=3, metavar="N",
    )
    eval_batch_size: int = common.option(
        500, "images per gradient computation", resumable=True, metavar="N"
    )

    def __post_init__(self):
        super().__post_init__()
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"--alpha must be finite and > 0, received {self.alpha}")
        if self.pairs < 1:
            raise ValueError(f"--pairs must be >= 1, received {self.pairs}")
        if self.lam_points < 2:
            raise ValueError(f"--lam-points must be >= 2, received {self.lam_points}")
        if self.eval_batch_size < 1:
            raise ValueError(
                f"--eval-batch-size must be >= 1, received {self.eval_batch_size}"
            )

    def lambdas(self) -> np.ndarray:
        return np.linspace(0.5, 1.0, self.lam_points)


def random_pairs(n: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """count pairs (i, j) of distinct indices in [0, n), uniform over the
    n * (n - 1) ordered pairs."""
    if not (isinstance(n, (int, np.integer)) and n >= 2):
        raise ValueError(
            f"n must be an int >= 2 (two examples to pair), received {n!r}"
        )
    if not (isinstance(count, (int, np.integer)) and count >= 1):
        raise ValueError(f"count must be an int >= 1, received {count!r}")
    rng = np.random.default_rng(seed)
    first = rng.integers(0, n, count)
    # An offset in 1..n-1 makes j != i and, given i, uniform over the rest.
    second = (first + rng.integers(1, n, count)) % n
    return first, second


def is_miss(predictions, labels_i, labels_j) -> np.ndarray:
    """True where the prediction is neither y_i nor y_j."""
    predictions = np.asarray(predictions)
    return (predictions != np.asarray(labels_i)) & (predictions != np.asarray(labels_j))


def in_between_measures(
    gradient: robustness.InputGradient,
    x_i: np.ndarray,
    x_j: np.ndarray,
    y_i: np.ndarray,
    y_j: np.ndarray,
    lam: float,
    num_classes: int,
    batch_size: int = 500,
) -> dict[str, np.ndarray]:
    """At x = lam * x_i + (1 - lam) * x_j (model inputs): per pair, whether
    the prediction misses both labels, and the L2 norm of the gradient of
    the loss with respect to x, with label y_i if lam >= 0.5 else y_j."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], received {lam!r}")
    x_i = np.asarray(x_i, np.float32)
    x_j = np.asarray(x_j, np.float32)
    if x_i.shape != x_j.shape:
        raise ValueError(
            f"x_i and x_j must have the same shape, received {x_i.shape} and "
            f"{x_j.shape}"
        )
    mixed = (np.float32(lam) * x_i + np.float32(1.0 - lam) * x_j).astype(np.float32)
    target = np.asarray(y_i if lam >= 0.5 else y_j)
    one_hot = np.eye(num_classes, dtype=np.float32)[target]
    misses, norms = [], []
    for start in range(0, len(mixed), batch_size):
        stop = min(start + batch_size, len(mixed))
        batch_x = mixed[start:stop]
        batch_y = one_hot[start:stop]
        if len(mixed) > batch_size:  # one shape: one compilation
            batch_x = robustness.pad_rows(batch_x, batch_size)
            batch_y = robustness.pad_rows(batch_y, batch_size)
        _, grad = gradient(batch_x, batch_y)
        logits = gradient.predict_logits(batch_x, batch_size=len(batch_x))
        size = stop - start
        predictions = np.argmax(logits[:size], axis=1)
        misses.append(is_miss(predictions, y_i[start:stop], y_j[start:stop]))
        norms.append(np.sqrt(np.sum(
            np.square(grad[:size].reshape(size, -1).astype(np.float64)), axis=1
        )))
    return {"miss": np.concatenate(misses), "gradient_norm": np.concatenate(norms)}


def measure(
    config: BetweenConfig, data: images.ImageArrays, model, pairs
) -> dict[str, list[float]]:
    """Miss rate (%) and gradient norm (mean and standard deviation over the
    pairs) at each lam."""
    gradient = robustness.InputGradient(model)
    inputs = robustness.normalized(data.x_train, data)
    first, second = pairs
    out: dict[str, list[float]] = {
        "miss_percent": [], "gradient_norm_mean": [], "gradient_norm_std": [],
        "gradient_norm_median": [],
    }
    for lam in config.lambdas():
        values = in_between_measures(
            gradient, inputs[first], inputs[second], data.y_train[first],
            data.y_train[second], float(lam), data.num_classes,
            config.eval_batch_size,
        )
        out["miss_percent"].append(100.0 * float(values["miss"].mean()))
        out["gradient_norm_mean"].append(float(values["gradient_norm"].mean()))
        out["gradient_norm_std"].append(float(values["gradient_norm"].std()))
        out["gradient_norm_median"].append(float(np.median(values["gradient_norm"])))
    return out


def plot(config: BetweenConfig, measures, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (misses, norms) = plt.subplots(1, 2, figsize=(10, 4))
    lambdas = config.lambdas()
    curves = (("erm", "ERM", "o-"), ("mixup", f"mixup α={config.alpha:g}", "s-"))
    for name, label, style in curves:
        misses.plot(lambdas, measures[name]["miss_percent"], style, label=label)
        norms.plot(lambdas, measures[name]["gradient_norm_mean"], style, label=label)
    misses.set_xlabel("λ")
    misses.set_ylabel("% miss (prediction ∉ {y_i, y_j})")
    misses.set_title("(a) Prediction errors in-between training data")
    norms.set_xlabel("λ")
    norms.set_ylabel("‖∇_x loss‖ (mean over pairs)")
    norms.set_title("(b) Norm of the input gradients in-between")
    for axes in (misses, norms):
        axes.legend()
        axes.grid(alpha=0.3)
    figure.suptitle(title)
    return common.save_figure(figure, path)


def report(config: BetweenConfig, measures, workdir: Path, data) -> str:
    rows = []
    for index, lam in enumerate(config.lambdas()):
        rows.append({
            "λ": f"{lam:.2f}",
            "ERM miss %": measures["erm"]["miss_percent"][index],
            "mixup miss %": measures["mixup"]["miss_percent"][index],
            "ERM ‖grad‖": measures["erm"]["gradient_norm_mean"][index],
            "mixup ‖grad‖": measures["mixup"]["gradient_norm_mean"][index],
            "ERM ‖grad‖ median": measures["erm"]["gradient_norm_median"][index],
            "mixup ‖grad‖ median": measures["mixup"]["gradient_norm_median"][index],
        })
    title = (
        f"Figure 2 as numbers: {config.pairs} random training pairs of "
        f"{data.name}, x = λ x_i + (1 - λ) x_j; miss: prediction neither y_i "
        f"nor y_j; ‖grad‖: L2 norm of the input gradient of the loss with "
        f"label y_i (mean, median over pairs); mixup α={config.alpha:g}. "
        f"Paper (CIFAR-10, plot only): mixup below ERM on both at every λ < 1"
    )
    return common.print_table(
        list(rows[0]), rows, title=title, csv_path=workdir / "results.csv", digits=3
    )


def train(config: BetweenConfig, workdir: str | Path) -> dict[str, Any]:
    """Train (or load) the ERM and mixup models, measure, plot, report."""
    started = time.perf_counter()
    workdir = common.prepare_workdir(workdir, config, RECIPE)
    data = robustness.load_data(config)
    print(
        f"between: {data.name}, {len(data.y_train)} training images; ERM and "
        f"mixup α={config.alpha:g}, {config.epochs} epochs each",
        flush=True,
    )
    records, measures = [], {}
    pairs = random_pairs(len(data.y_train), config.pairs, config.seed)
    progress = common.progress_bar(len(MODELS), unit_name="model")
    for index, name in enumerate(MODELS, start=1):
        alpha = 0.0 if name == "erm" else config.alpha
        model, record = robustness.trained_model(
            config, data, workdir, name, alpha=alpha, seed=config.seed
        )
        records.append({**record, "alpha": alpha, "seed": config.seed})
        measures[name] = measure(config, data, model, pairs)
        progress.update(index, [("miss_at_0.5", measures[name]["miss_percent"][0])])
    table = report(config, measures, workdir, data)
    plot(
        config, measures, workdir / "between.png",
        f"{data.name}: ERM vs mixup in-between {config.pairs} random training pairs",
    )
    results = {
        "recipe": RECIPE,
        "dataset": data.name,
        "lambdas": config.lambdas(),
        "pairs": config.pairs,
        "same_class_pairs": int(
            np.sum(data.y_train[pairs[0]] == data.y_train[pairs[1]])
        ),
        "measures": measures,
        "models": records,
        "elapsed_seconds": time.perf_counter() - started,
        "table": table,
    }
    common.write_json(workdir / "results.json", results)
    print(f"wrote {workdir / 'results.json'}, results.csv, between.png, history.csv",
          flush=True)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_cli(RECIPE, BetweenConfig, train, argv, description=__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
