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
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_mixup
from recipes import common, models

RECIPE = "toy"
# The plane shown and measured: the moons span x in [-1, 2], y in [-0.5, 1].
GRID_X = (-2.0, 3.0)
GRID_Y = (-1.5, 2.0)
FIGURE_NAME = "toy_figure1b.png"
ECE_BINS = 10


@dataclasses.dataclass(frozen=True)
class ToyConfig(common.RecipeConfig):
    """ERM against mixup on a two-class 2-D toy problem (mixup paper, Figure 1b)."""

    seeds: int = common.option(
        3, "repeats: seeds seed .. seed+N-1 (the figure shows the first)",
        smoke=1, resumable=True, metavar="N",
    )
    alpha: float = common.option(1.0, "mixup alpha (paper: 1)")
    train_points: int = common.option(200, "training points", smoke=64, metavar="N")
    test_points: int = common.option(
        2000, "held-out points for calibration", smoke=500, metavar="N"
    )
    noise: float = common.option(
        0.2, "standard deviation of the Gaussian noise on the moons"
    )
    hidden: tuple[int, ...] = common.option(
        (64, 64), "hidden layer widths of the MLP", metavar="UNITS"
    )
    epochs: int = common.option(10, "epochs (each --steps-per-epoch steps)", smoke=2)
    steps_per_epoch: int = common.option(100, "steps per epoch", smoke=10, metavar="N")
    batch_size: int = common.option(50, "minibatch size")
    learning_rate: float = common.option(1e-2, "Adam learning rate")
    grid: int = common.option(
        200, "grid points per axis for the shading and the width", smoke=60,
        metavar="N",
    )

    def __post_init__(self):
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}")
        if not (self.alpha > 0 and math.isfinite(self.alpha)):
            raise ValueError(
                f"--alpha must be finite and > 0 (ERM always runs), got {self.alpha}"
            )
        for flag, value, least in [
            ("--train-points", self.train_points, 4),
            ("--test-points", self.test_points, 10),
            ("--epochs", self.epochs, 1),
            ("--steps-per-epoch", self.steps_per_epoch, 1),
            ("--batch-size", self.batch_size, 1),
            ("--grid", self.grid, 10),
        ]:
            if value < least:
                raise ValueError(f"{flag} must be >= {least}, got {value}")
        if not (self.noise >= 0 and math.isfinite(self.noise)):
            raise ValueError(f"--noise must be finite and >= 0, got {self.noise}")
        if not self.hidden or any(units < 1 for units in self.hidden):
            raise ValueError(f"--hidden must be positive widths, got {self.hidden}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(
                f"--learning-rate must be finite and > 0, got {self.learning_rate}"
            )

    def units(self) -> list[tuple[int, str, float]]:
        """(seed, method, alpha) in training order; ERM has alpha 0."""
        return [
            (seed, method, alpha)
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
    config: ToyConfig, seed: int, method: str, alpha: float, workdir: Path
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
        callbacks=[common.history_logger(workdir, seed=seed, method=method,
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
        "seed": seed,
        "method": method,
        "alpha": alpha,
        "transition_width": transition_width(grid_x, grid_y, p_grid),
        "ece": expected_calibration_error(p_test, y_test),
        "test_error": 100.0 * float(np.mean((p_test > 0.5) != (y_test == 1))),
        "test_nll": float(-np.mean(np.log(np.maximum(likelihood, 1e-12)))),
        "final_train_loss": float(history.history["loss"][-1]),
        "seconds": seconds,
    }
    return row, p_grid


def grid_path(workdir: Path, seed: int, method: str) -> Path:
    return workdir / "grids" / f"{method}-seed{seed}.npy"


# ---------------------------------------------------------------- reporting


def method_label(method: str, alpha: float) -> str:
    return "ERM" if method == "erm" else f"mixup (α = {alpha:g})"


METRICS = (
    ("transition_width", "width 0.1<p<0.9", 3),
    ("ece", "ECE (%)", 1),
    ("test_error", "test error (%)", 1),
    ("test_nll", "test NLL", 3),
)


def summarize(config: ToyConfig, rows: common.ResultRows) -> dict[str, Any]:
    summary = {}
    for method, alpha in (("erm", 0.0), ("mixup", float(config.alpha))):
        runs = [rows.get((seed, method, alpha)) for seed, m, _ in config.units()
                if m == method]
        summary[method_label(method, alpha)] = {
            key: dataclasses.asdict(common.MeanStd.of(run[key] for run in runs))
            for key, _, _ in METRICS
        }
    return summary


def report(config: ToyConfig, summary: dict[str, Any], workdir: Path) -> str:
    """Print the metrics (each with its own precision); write results.csv."""
    columns = ["method", *(title for _, title, _ in METRICS)]
    printed = [
        {"method": label, **{
            title: common.MeanStd(**entry[key]).format(digits)
            for key, title, digits in METRICS
        }}
        for label, entry in summary.items()
    ]
    title = (
        f"Two moons (noise {config.noise:g}, {config.train_points} training "
        f"points), MLP {'-'.join(map(str, config.hidden))}, mean ± std over "
        f"{config.seeds} seed(s); the paper's Figure 1b has no numbers"
    )
    text = common.print_table(columns, printed, title=title)
    common.write_table_csv(
        workdir / "results.csv",
        columns,
        [
            {"method": label, **{
                title: common.MeanStd(**entry[key]) for key, title, _ in METRICS
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
            f"{method_label(method, row['alpha'])}\n"
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
    started = time.perf_counter()
    workdir = common.prepare_workdir(workdir, config, RECIPE)
    (workdir / "grids").mkdir(exist_ok=True)
    rows = common.ResultRows(workdir / "rows.jsonl", ("seed", "method", "alpha"))
    units = config.units()
    pending = [unit for unit in units if unit not in rows]
    print(
        f"toy: {config.seeds} seed(s) x (ERM, mixup α={config.alpha:g}) = "
        f"{len(units)} runs; {len(units) - len(pending)} already done in {workdir}",
        flush=True,
    )
    progress = common.progress_bar(len(units), unit_name="run")
    progress.update(len(units) - len(pending))
    for done, (seed, method, alpha) in enumerate(
        pending, start=len(units) - len(pending) + 1
    ):
        row, p_grid = train_one(config, seed, method, alpha, workdir)
        # The grid first: a recorded row always has its grid.
        np.save(grid_path(workdir, seed, method), p_grid)
        rows.add(row)
        progress.update(done, [("width", row["transition_width"]),
                               ("ece", row["ece"])])
    summary = summarize(config, rows)
    table = report(config, summary, workdir)
    first = {method: rows.get((config.seed, method, alpha))
             for _, method, alpha in units[:2]}
    figure = draw_figure(
        config, config.seed,
        {method: np.load(grid_path(workdir, config.seed, method)) for method in first},
        first, workdir / FIGURE_NAME,
    )
    results = {
        "recipe": RECIPE,
        "summary": summary,
        "runs": [rows.get(unit) for unit in units],
        "trained_runs": len(pending),
        "skipped_runs": len(units) - len(pending),
        "figure": str(figure),
        "elapsed_seconds": time.perf_counter() - started,
        "table": table,
    }
    common.write_json(workdir / "results.json", results)
    print(f"wrote {figure}, {workdir / 'results.json'}, results.csv, history.csv",
          flush=True)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_cli(RECIPE, ToyConfig, train, argv, description=__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
