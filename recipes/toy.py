"""A two-class toy problem (paper Figure 1b): ERM against mixup (alpha = 1).

The paper shows, without numbers, that mixup makes a small classifier's
p(y = 1 | x) move from one class to the other linearly and gradually, where
ERM switches abruptly. This recipe trains a small MLP on two interleaving
half-moons (scikit-learn's make_moons) with ERM and with mixup, draws the
figure (class 0 green, class 1 orange, p(y = 1 | x) as blue shading, ERM and
mixup side by side) and measures what it shows:

- transition width: the area of the region where 0.1 < p(y = 1 | x) < 0.9
  divided by the length of the p = 0.5 boundary, i.e. the average distance
  over which the prediction goes from confident class 0 to confident
  class 1 (a logistic p = sigmoid(k x) has width 2 ln 9 / k);
- expected calibration error (ECE, 10 equal-width confidence bins) and error
  and log loss on held-out points from the same distribution.

ERM and mixup share the data, the initial weights and the data order of a
seed; ERM is the same tf.data pipeline with alpha 0.

    python -m recipes.toy            # 3 seeds; seconds
    python -m recipes.toy --smoke

Measured here (recipes/README.md): width of 0.1 < p < 0.9 ERM 0.10, mixup
0.83 (the paper's figure has no numbers). 70 s.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_mixup
from recipes.lib import cli, harness, models, reporting, storage

RECIPE = "toy"
# The plane shown and measured: the moons span x in [-1, 2], y in [-0.5, 1].
GRID_X = (-2.0, 3.0)
GRID_Y = (-1.5, 2.0)
FIGURE_NAME = "toy_figure1b.png"
ECE_BINS = 10


@dataclasses.dataclass(frozen=True)
class ToyConfig(cli.RecipeConfig):
    """ERM against mixup on a two-class 2-D toy problem (mixup paper, Figure 1b)."""

    seeds: int = cli.option(
        3, "repeats: seeds seed .. seed+N-1 (the figure shows the first)",
        smoke=1, resumable=True, metavar="N", minimum=1,
    )
    alpha: float = cli.option(1.0, "mixup alpha (paper: 1)", above=0)
    train_points: int = cli.option(
        200, "training points", smoke=64, metavar="N", minimum=4
    )
    test_points: int = cli.option(
        2000, "held-out points for calibration", smoke=500, metavar="N",
        minimum=10,
    )
    noise: float = cli.option(
        0.2, "standard deviation of the Gaussian noise on the moons", minimum=0
    )
    hidden: tuple[int, ...] = cli.option(
        (64, 64), "hidden layer widths of the MLP", metavar="UNITS", minimum=1
    )
    epochs: int = cli.option(
        10, "epochs (each --steps-per-epoch steps)", smoke=2, minimum=1
    )
    steps_per_epoch: int = cli.option(
        100, "steps per epoch", smoke=10, metavar="N", minimum=1
    )
    batch_size: int = cli.option(50, "minibatch size", minimum=1)
    learning_rate: float = cli.option(1e-2, "Adam learning rate", above=0)
    grid: int = cli.option(
        200, "grid points per axis for the shading and the width", smoke=60,
        metavar="N", minimum=10,
    )

    def units(self) -> list[dict[str, Any]]:
        """(seed, method, alpha) in training order; ERM has alpha 0."""
        return [
            {"seed": seed, "method": method, "alpha": alpha}
            for seed in range(self.seed, self.seed + self.seeds)
            for method, alpha in (("erm", 0.0), ("mixup", float(self.alpha)))
        ]


# ------------------------------------------------------------------ metrics


def grid_points(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) meshgrids of size x size points over the plane shown."""
    return np.meshgrid(np.linspace(*GRID_X, size), np.linspace(*GRID_Y, size))


def transition_width(
    x: np.ndarray, y: np.ndarray, p: np.ndarray, low: float = 0.1, high: float = 0.9
) -> float:
    """Area where low < p < high divided by the length of the p = 0.5 contour,
    both over the grid (x, y): the average width of the transition. inf when
    p never crosses 0.5 on the grid."""
    import contourpy

    cell_area = (x[0, 1] - x[0, 0]) * (y[1, 0] - y[0, 0])
    area = float(np.count_nonzero((p > low) & (p < high))) * cell_area
    lines = contourpy.contour_generator(x, y, p).lines(0.5)
    length = sum(
        float(np.linalg.norm(np.diff(line, axis=0), axis=1).sum()) for line in lines
    )
    return area / length if length > 0 else math.inf


def expected_calibration_error(
    p1: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE (%) of a binary classifier: predictions are argmax, confidence
    max(p, 1 - p) in [0.5, 1], split into `bins` equal-width bins; the
    |accuracy - mean confidence| of each bin, weighted by its share."""
    p1 = np.asarray(p1, np.float64)
    labels = np.asarray(labels)
    confidence = np.maximum(p1, 1.0 - p1)
    correct = (p1 > 0.5).astype(int) == labels
    index = np.minimum(((confidence - 0.5) * 2.0 * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            gap = abs(correct[members].mean() - confidence[members].mean())
            total += gap * members.mean()
    return 100.0 * total


# --------------------------------------------------------------------- runs


def make_data(config: ToyConfig, seed: int):
    """(x_train, y_train, x_test, y_test): noisy half-moons, float32 / int32."""
    import sklearn.datasets

    x_train, y_train = sklearn.datasets.make_moons(
        config.train_points, noise=config.noise, random_state=seed
    )
    # Another stream for the held-out points (an offset the train seeds of a
    # run never reach).
    x_test, y_test = sklearn.datasets.make_moons(
        config.test_points, noise=config.noise, random_state=seed + 1_000_003
    )
    return (
        x_train.astype(np.float32), y_train.astype(np.int32),
        x_test.astype(np.float32), y_test.astype(np.int32),
    )


def train_one(
    config: ToyConfig, seed: int, method: str, alpha: float, directory: Path
) -> tuple[dict[str, Any], np.ndarray]:
    """Train one MLP; returns its result row and p(y = 1 | x) on the grid."""
    import tensorflow as tf

    x_train, y_train, x_test, y_test = make_data(config, seed)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)  # same initial weights for ERM and mixup
    model = models.mlp(2, 2, config.hidden, name="toy_mlp")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="categorical_crossentropy",
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(config.batch_size)
        # alpha 0: one-hot labels, unmixed: ERM through the same code path.
        .map(keras_mixup.mixup_map(alpha, num_classes=2, seed=seed))
        .prefetch(tf.data.AUTOTUNE)
    )
    start = time.perf_counter()
    history = model.fit(
        dataset, epochs=config.epochs, steps_per_epoch=config.steps_per_epoch,
        shuffle=False, verbose=0,
        callbacks=[storage.history_logger(directory, seed=seed, method=method,
                                          alpha=alpha)],
    )
    seconds = time.perf_counter() - start
    grid_x, grid_y = grid_points(config.grid)
    plane = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
    # Direct calls: predict() would build a function per model.
    p_grid = keras.ops.convert_to_numpy(model(plane, training=False))[:, 1]
    p_grid = p_grid.reshape(grid_x.shape)
    p_test = keras.ops.convert_to_numpy(model(x_test, training=False))[:, 1].astype(
        np.float64
    )
    likelihood = np.where(y_test == 1, p_test, 1.0 - p_test)
    row = {
        "transition_width": transition_width(grid_x, grid_y, p_grid),
        "ece": expected_calibration_error(p_test, y_test),
        "test_error": 100.0 * float(np.mean((p_test > 0.5) != (y_test == 1))),
        "test_nll": float(-np.mean(np.log(np.maximum(likelihood, 1e-12)))),
        "final_train_loss": float(history.history["loss"][-1]),
        "seconds": seconds,
    }
    return row, p_grid


def grid_path(directory: Path, seed: int, method: str) -> Path:
    return directory / "grids" / f"{method}-seed{seed}.npy"


# ---------------------------------------------------------------- reporting


METRICS = (
    ("transition_width", "width 0.1<p<0.9", 3),
    ("ece", "ECE (%)", 1),
    ("test_error", "test error (%)", 1),
    ("test_nll", "test NLL", 3),
)


def summarize(config: ToyConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary = {}
    for alpha in (0.0, float(config.alpha)):
        runs = [row for row in rows if row["alpha"] == alpha]
        summary[reporting.method_label(alpha)] = {
            key: dataclasses.asdict(reporting.MeanStd.of(run[key] for run in runs))
            for key, _, _ in METRICS
        }
    return summary


def report(config: ToyConfig, summary: dict[str, Any], directory: Path) -> str:
    """Print the metrics (each with its own precision); write results.csv."""
    columns = ["method", *(title for _, title, _ in METRICS)]
    printed = [
        {"method": label, **{
            title: reporting.MeanStd(**entry[key]).format(digits)
            for key, title, digits in METRICS
        }}
        for label, entry in summary.items()
    ]
    title = (
        f"Two moons (noise {config.noise:g}, {config.train_points} training "
        f"points), MLP {'-'.join(map(str, config.hidden))}, mean ± std over "
        f"{config.seeds} seed(s); the paper's Figure 1b has no numbers"
    )
    text = reporting.print_table(columns, printed, title=title)
    reporting.write_table_csv(
        directory / "results.csv",
        columns,
        [
            {"method": label, **{
                title: reporting.MeanStd(**entry[key]) for key, title, _ in METRICS
            }}
            for label, entry in summary.items()
        ],
    )
    return text


def draw_figure(
    config: ToyConfig, seed: int, grids: dict[str, np.ndarray],
    rows: dict[str, dict[str, Any]], path: Path,
) -> Path:
    """Figure 1b: training points (class 0 green, class 1 orange) over
    p(y = 1 | x) in blue, ERM and mixup side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_train, y_train, _, _ = make_data(config, seed)
    grid_x, grid_y = grid_points(config.grid)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, (method, p_grid) in zip(axes, grids.items()):
        shading = ax.contourf(
            grid_x, grid_y, p_grid, levels=np.linspace(0, 1, 11), cmap="Blues",
            vmin=0, vmax=1,
        )
        ax.contour(grid_x, grid_y, p_grid, levels=[0.5], colors="k",
                   linewidths=0.8)
        ax.scatter(*x_train[y_train == 0].T, s=12, c="tab:green",
                   edgecolors="k", linewidths=0.3, label="class 0")
        ax.scatter(*x_train[y_train == 1].T, s=12, c="tab:orange",
                   edgecolors="k", linewidths=0.3, label="class 1")
        row = rows[method]
        ax.set_title(
            f"{reporting.method_label(row['alpha'])}\n"
            f"width(0.1<p<0.9) {row['transition_width']:.2f}, "
            f"ECE {row['ece']:.1f}%",
            fontsize=10,
        )
        ax.set_xlim(*GRID_X)
        ax.set_ylim(*GRID_Y)
        ax.set_aspect("equal")
    axes[0].legend(loc="lower left", fontsize=8)
    figure.colorbar(shading, ax=axes, shrink=0.8, label="p(y = 1 | x)")
    path = Path(path)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def train(config: ToyConfig, workdir: str | Path) -> dict[str, Any]:
    """Train every (seed, method) not yet recorded in the workdir (each takes
    seconds, so a killed one reruns whole), then report and draw."""
    run = harness.Run(RECIPE, config, workdir, ("seed", "method", "alpha"))
    (run.workdir / "grids").mkdir(exist_ok=True)

    def train_unit(unit):
        row, p_grid = train_one(
            config, unit["seed"], unit["method"], unit["alpha"], run.workdir
        )
        # The grid first: a recorded row always has its grid.
        np.save(grid_path(run.workdir, unit["seed"], unit["method"]), p_grid)
        return row

    rows = run.train(
        config.units(), train_unit, show=("transition_width", "ece"),
        headline=f"toy: {config.seeds} seed(s) x (ERM, mixup α={config.alpha:g}) "
        f"= {len(config.units())} runs",
    )
    summary = summarize(config, rows)
    table = report(config, summary, run.workdir)
    first = {row["method"]: row for row in rows[:2]}
    figure = draw_figure(
        config, config.seed,
        {method: np.load(grid_path(run.workdir, config.seed, method))
         for method in first},
        first, run.workdir / FIGURE_NAME,
    )
    return run.finish(
        {"summary": summary, "runs": rows, "figure": str(figure)},
        table=table,
        files=[FIGURE_NAME, "results.csv", "history.csv"],
    )


main = cli.command(RECIPE, ToyConfig, train, description=__doc__)


if __name__ == "__main__":
    main()
