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

    python -m recipes.between                    # Fashion-MNIST, small CNN
    python -m recipes.between --dataset digits   # offline: ~2.5 CPU minutes
    python -m recipes.between --dataset cifar10  # PreAct ResNet-18: a GPU
    python -m recipes.between --smoke

The default runs Fashion-MNIST's CPU-scale setting (settings.SETTINGS: the
first 6,000 training and 5,000 test images, 10 epochs): 2 runs (ERM and
mixup) of about 3 min each on one core, then the measures in-between 2,000
training pairs.

Measured here (recipes/README.md): misses at lambda 0.5, the default
(Fashion-MNIST) ERM 24.7%, mixup 9.6%, 7 min; digits ERM 27.3%, mixup
1.7%, 2.5 min (the paper's figure has no numbers).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from recipes.lib import cli, gradients, harness, images, reporting, settings
from recipes.lib.gradients import InputGradient

RECIPE = "between"
MODELS = ("erm", "mixup")


@dataclasses.dataclass(frozen=True)
class BetweenConfig(settings.ImageTrainingConfig):
    """ERM and mixup models evaluated in-between training pairs: misses and
    input-gradient norms against lam (mixup paper, Figure 2)."""

    alpha: float = cli.option(
        1.0, "mixup alpha of the mixup model (the paper's CIFAR-10 setting)",
        above=0,
    )
    pairs: int = cli.option(
        2000, "random pairs of training examples", smoke=16, metavar="N",
        minimum=1,
    )
    lam_points: int = cli.option(
        11, "values of lam, evenly spaced from 0.5 to 1 (the figure's x-axis)",
        smoke=3, metavar="N", minimum=2,
    )
    eval_batch_size: int = cli.option(
        500, "images per gradient computation", resumable=True, metavar="N",
        minimum=1,
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
    gradient: InputGradient,
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
            batch_x = gradients.pad_rows(batch_x, batch_size)
            batch_y = gradients.pad_rows(batch_y, batch_size)
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
    gradient = InputGradient(model)
    inputs = gradients.normalized(data.x_train, data)
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
    curves = (("erm", 0.0, "o-"), ("mixup", config.alpha, "s-"))
    for name, alpha, style in curves:
        label = reporting.method_label(alpha)
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
    return reporting.save_figure(figure, path)


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
    return reporting.print_table(
        list(rows[0]), rows, title=title, csv_path=workdir / "results.csv", digits=3
    )


def train(config: BetweenConfig, workdir: str | Path) -> dict[str, Any]:
    """Train the ERM and mixup models not yet measured in the workdir,
    measure them in-between training pairs, plot, report."""
    run = harness.Run(RECIPE, config, workdir, ("model", "seed"))
    data = settings.load_data(config)
    pairs = random_pairs(len(data.y_train), config.pairs, config.seed)

    def train_unit(unit):
        alpha = 0.0 if unit["model"] == "erm" else config.alpha
        model, record = settings.train_and_save_classifier(
            config, data, run.workdir, unit["model"], alpha=alpha,
            seed=config.seed,
        )
        measures = measure(config, data, model, pairs)
        return {**record, "measures": measures,
                "miss_at_0.5": measures["miss_percent"][0]}

    records = run.train(
        [{"model": name, "seed": config.seed} for name in MODELS], train_unit,
        show=("miss_at_0.5",), unit_name="model",
        headline=f"between: {data.name}, {len(data.y_train)} training images; "
        f"ERM and mixup α={config.alpha:g}, {config.setting().epochs} epochs each",
    )
    measures = {record["model"]: record["measures"] for record in records}
    table = report(config, measures, run.workdir, data)
    plot(
        config, measures, run.workdir / "between.png",
        f"{data.name}: ERM vs mixup in-between {config.pairs} random training pairs",
    )
    return run.finish(
        {
            "dataset": data.name,
            "setting": config.setting(),
            "lambdas": config.lambdas(),
            "pairs": config.pairs,
            "same_class_pairs": int(
                np.sum(data.y_train[pairs[0]] == data.y_train[pairs[1]])
            ),
            "measures": measures,
            "models": [
                {k: v for k, v in record.items() if k != "measures"}
                for record in records
            ],
        },
        table=table,
        files=["results.csv", "between.png", "history.csv", "rows.jsonl"],
    )


main = cli.command(RECIPE, BetweenConfig, train, description=__doc__)


if __name__ == "__main__":
    main()
