"""Toy GANs (paper section 3.7, Figure 5): ERM GAN against mixup GAN.

The paper's setting: two 2-D toy data sets (a ring of 8 Gaussians and a 5x5
grid of 25 Gaussians); generator and discriminator fully connected with
three hidden layers of 512 ReLU units; 2-D Gaussian noise; Adam with
default parameters; minibatches of 128; 20,000 generator iterations with
5 discriminator updates before each. The discriminator of the mixup GAN
sees lam * x + (1 - lam) * G(z) with target lam, lam ~ Beta(alpha, alpha)
(`keras_mixup.MixUpGAN`); ERM is the standard GAN (alpha 0).

The recipe draws Figure 5 (real samples blue, generated orange, at
iterations 10, 100, 1,000, 10,000 and 20,000) and measures what it shows:
modes covered (a mode counts when at least --mode-min-samples of the
--eval-samples generated points lie within 3 standard deviations of it) and
the fraction of high-quality samples (within 3 standard deviations of their
nearest mode), over seeds and, with several values of --learning-rate,
--width or --d-steps, over a grid of hyper-parameters: the fraction of
configurations that cover every mode, ERM against mixup.

    python -m recipes.gan                        # the paper's setting, 3 seeds
    python -m recipes.gan --smoke                # seconds
    python -m recipes.gan --width 128 512 --learning-rate 1e-4 1e-3 \\
        --d-steps 1 5 --seeds 5                  # robustness grid

Cost on a 2-core CPU: about 0.07 s per iteration at width 512 (25 minutes
per 20,000-iteration run), 0.007 s at width 128 (JAX); the default (2 data
sets x 2 methods x 3 seeds) takes about 5 hours there.

Measured here (recipes/README.md): modes reached at 20,000 iterations,
width 128: ring8 ERM 2.7, mixup 7.7 of 8; grid25 5.0, 21.7 of 25 (the
paper's figure has no numbers). 76 min for 48 runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_mixup
from recipes.lib import cli, harness, reporting, storage

RECIPE = "gan"

# The toy data sets of the mode-collapse literature (Metz et al. 2017,
# Srivastava et al. 2017): mode centres and the standard deviation of each.
RING_RADIUS, RING_STD = 2.0, 0.02
GRID_SPACING, GRID_STD = 2.0, 0.05
DATASETS = ("ring8", "grid25")
LAM_DISTRIBUTIONS = ("beta", "uniform")


def mode_centers(dataset: str) -> np.ndarray:
    if dataset == "ring8":
        angles = 2.0 * np.pi * np.arange(8) / 8
        return RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if dataset == "grid25":
        ticks = GRID_SPACING * np.arange(-2, 3)
        return np.stack(np.meshgrid(ticks, ticks), axis=-1).reshape(-1, 2)
    raise ValueError(f"unknown dataset {dataset!r}; choose from {DATASETS}")


def mode_std(dataset: str) -> float:
    return RING_STD if dataset == "ring8" else GRID_STD


def sample_data(dataset: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points of the mixture: a uniformly chosen mode plus Gaussian noise."""
    centers = mode_centers(dataset)
    modes = rng.integers(len(centers), size=n)
    noise = rng.normal(scale=mode_std(dataset), size=(n, 2))
    return (centers[modes] + noise).astype("float32")


def mode_metrics(samples: np.ndarray, dataset: str, min_samples: int) -> dict[str, Any]:
    """Modes covered, modes reached and the fraction of high-quality samples.

    Each sample belongs to its nearest mode. It is high quality when it lies
    within 3 standard deviations of that mode; a mode is covered when at
    least `min_samples` high-quality samples belong to it. A mode is reached
    when at least `min_samples` samples lie within a quarter of the distance
    between neighbouring modes: the coverage that the figure shows by eye,
    blurred samples included.
    """
    centers = mode_centers(dataset)
    samples = np.asarray(samples, dtype=np.float64)
    finite = np.all(np.isfinite(samples), axis=1)
    distances = np.linalg.norm(samples[:, None, :] - centers[None], axis=-1)
    distances[~finite] = np.inf
    nearest = np.argmin(distances, axis=1)
    distance = distances[np.arange(len(samples)), nearest]
    close = distance <= 3.0 * mode_std(dataset)
    near = distance <= reach_radius(dataset)
    covered = int(np.sum(np.bincount(nearest[close], minlength=len(centers))
                         >= min_samples))
    reached = int(np.sum(np.bincount(nearest[near], minlength=len(centers))
                         >= min_samples))
    return {
        "modes": covered,
        "num_modes": len(centers),
        "all_modes": covered == len(centers),
        "high_quality": float(np.mean(close)),
        "reached": reached,
        "all_reached": reached == len(centers),
    }


def reach_radius(dataset: str) -> float:
    """A quarter of the distance between neighbouring modes."""
    centers = mode_centers(dataset)
    gaps = np.linalg.norm(centers[:, None] - centers[None], axis=-1)
    return float(np.min(gaps[gaps > 0]) / 4.0)


@dataclasses.dataclass(frozen=True)
class GANConfig(cli.RecipeConfig):
    """ERM GAN against mixup GAN on 2-D toy data (mixup paper, Figure 5)."""

    datasets: tuple[str, ...] = cli.option(
        DATASETS, "toy data sets: ring8 (8 Gaussians on a circle), grid25 "
        "(5x5 Gaussians)", resumable=True, metavar="NAME", choices=DATASETS,
        unique=True,
    )
    alpha: tuple[float, ...] = cli.option(
        (0.2,), "mixup alpha(s) > 0; several values sweep (ERM always runs)",
        resumable=True, above=0, unique=True,
    )
    seeds: int = cli.option(
        3, "repeats of each configuration: seeds seed .. seed+N-1", smoke=1,
        resumable=True, metavar="N", minimum=1,
    )
    learning_rate: tuple[float, ...] = cli.option(
        (1e-3,), "Adam learning rate(s) of both networks (paper: Adam's "
        "default, 1e-3); several values sweep", resumable=True, metavar="LR",
        above=0, unique=True,
    )
    width: tuple[int, ...] = cli.option(
        (512,), "hidden units per layer (paper: 512); several values sweep",
        smoke=(32,), resumable=True, metavar="UNITS", minimum=1, unique=True,
    )
    d_steps: tuple[int, ...] = cli.option(
        (5,), "discriminator updates per generator update (paper: 5); several "
        "values sweep", smoke=(2,), resumable=True, metavar="N", minimum=1,
        unique=True,
    )
    depth: int = cli.option(
        3, "hidden layers of each network (paper: 3)", minimum=1
    )
    iterations: int = cli.option(
        20000, "generator iterations per run (paper: 20,000)", smoke=20,
        minimum=1,
    )
    batch_size: int = cli.option(
        128, "examples per discriminator update and per generator update "
        "(paper: 128)", smoke=32, minimum=1,
    )
    snapshots: tuple[int, ...] = cli.option(
        (10, 100, 1000, 10000, 20000),
        "iterations drawn in the figure and measured (paper: 10 100 1000 "
        "10000 20000; values above --iterations are dropped)",
        smoke=(1, 10, 20), metavar="ITERATION", minimum=1, unique=True,
    )
    eval_samples: int = cli.option(
        2500, "generated samples measured at each snapshot", smoke=500,
        minimum=1,
    )
    mode_min_samples: int = cli.option(
        20, "high-quality samples a mode needs to count as covered",
        smoke=4, minimum=1,
    )
    lam_distribution: str = cli.option(
        "beta", "mixing weight of the mixup GAN: beta (lam ~ Beta(alpha, "
        "alpha), the paper's equation) or uniform (lam ~ U(0, alpha), as in "
        "the authors' toy script)", choices=LAM_DISTRIBUTIONS,
    )
    checkpoint_every: int = cli.option(
        1000, "iterations between checkpoints: a killed run resumes from the "
        "last one", smoke=10, resumable=True, minimum=1,
    )

    def seed_list(self) -> list[int]:
        return list(range(self.seed, self.seed + self.seeds))

    def snapshot_list(self) -> list[int]:
        """Snapshot iterations within the run, and always the last one."""
        kept = sorted(s for s in self.snapshots if s <= self.iterations)
        if not kept or kept[-1] != self.iterations:
            kept.append(self.iterations)
        return kept

    def methods(self) -> list[tuple[str, float]]:
        return [("erm", 0.0)] + [("mixup", float(a)) for a in self.alpha]

    def grid(self) -> list[tuple[float, int, int]]:
        """(learning rate, width, d_steps); the first is the paper's setting
        (with the defaults), drawn in the figure."""
        return [
            (float(lr), width, d_steps)
            for lr in self.learning_rate
            for width in self.width
            for d_steps in self.d_steps
        ]


KEY_FIELDS = ("dataset", "method", "alpha", "seed", "learning_rate", "width", "d_steps")


# ------------------------------------------------------------------- models


def mlp(
    input_dim: int, output_dim: int, width: int, depth: int, name: str
) -> keras.Model:
    """`depth` hidden layers of `width` ReLU units, linear output."""
    inputs = keras.Input((input_dim,), name=f"{name}_input")
    h = inputs
    for index in range(1, depth + 1):
        h = keras.layers.Dense(
            width, activation="relu", name=f"{name}_hidden_{index}"
        )(h)
    outputs = keras.layers.Dense(output_dim, name=f"{name}_output", dtype="float32")(h)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="recipes")
class UniformLamGAN(keras_mixup.MixUpGAN):
    """MixUpGAN with lam ~ U(0, alpha), the authors' toy script's draw
    (the paper's equation draws lam ~ Beta(alpha, alpha))."""

    def sample_lambda(self, shape):
        return keras.random.uniform(
            shape, minval=0.0, maxval=self.alpha, dtype="float32",
            seed=self.seed_generator,
        )


def build_gan(config: GANConfig, unit: dict[str, Any]) -> keras_mixup.MixUpGAN:
    width, depth = unit["width"], config.depth
    cls = (
        UniformLamGAN
        if config.lam_distribution == "uniform" and unit["method"] == "mixup"
        else keras_mixup.MixUpGAN
    )
    gan = cls(
        mlp(2, 2, width, depth, "generator"),
        mlp(2, 1, width, depth, "discriminator"),
        alpha=unit["alpha"], d_steps=unit["d_steps"], seed=unit["seed"],
    )
    gan.compile(
        d_optimizer=keras.optimizers.Adam(unit["learning_rate"]),
        g_optimizer=keras.optimizers.Adam(unit["learning_rate"]),
    )
    return gan


# ------------------------------------------------------------------ training


class _Snapshots(keras.callbacks.Callback):
    """Generated samples at the given iterations of the current segment."""

    def __init__(self, first_iteration: int, iterations: list[int], noise: np.ndarray,
                 samples: dict[int, np.ndarray]):
        super().__init__()
        self.first = first_iteration
        self.iterations = set(iterations)
        self.noise = noise
        self.samples = samples

    def on_train_batch_end(self, batch, logs=None):
        iteration = self.first + batch + 1
        if iteration in self.iterations:
            generator = self.model.generator
            self.samples[iteration] = keras.ops.convert_to_numpy(
                generator(self.noise, training=False)
            )


def unit_name(unit: dict[str, Any]) -> str:
    method = "erm" if unit["method"] == "erm" else f"mixup{unit['alpha']:g}"
    return (
        f"{unit['dataset']}-{method}-seed{unit['seed']}-lr{unit['learning_rate']:g}"
        f"-w{unit['width']}-d{unit['d_steps']}"
    )


def _save_samples(path: Path, samples: dict[int, np.ndarray]) -> None:
    temporary = path.with_name(path.stem + ".tmp.npz")
    np.savez(temporary, **{f"it{k}": v for k, v in samples.items()})
    os.replace(temporary, path)


def _load_samples(path: Path) -> dict[int, np.ndarray]:
    if not path.exists():
        return {}
    with np.load(path) as data:
        return {int(name[2:]): data[name] for name in data.files}


def save_checkpoint(gan: keras.Model, run_dir: Path, segments_done: int,
                    samples: dict[int, np.ndarray]) -> None:
    """Everything a killed run needs to continue: samples, model, progress
    (written last, so a checkpoint is used only once complete)."""
    _save_samples(run_dir / "samples.npz", samples)
    temporary = run_dir / "checkpoint.tmp.keras"
    gan.save(temporary)
    os.replace(temporary, run_dir / "checkpoint.keras")
    storage.write_json(run_dir / "progress.json", {"segments_done": segments_done})


def train_one(
    config: GANConfig, unit: dict[str, Any], directory: Path
) -> dict[str, Any]:
    """Train one GAN, resuming from its checkpoint; returns its result row."""
    run_dir = directory / "runs" / unit_name(unit)
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.backend.clear_session()
    seed = unit["seed"]
    keras.utils.set_random_seed(seed)
    every = config.checkpoint_every
    segments = math.ceil(config.iterations / every)
    progress = run_dir / "progress.json"
    done = storage.read_json(progress)["segments_done"] if progress.exists() else 0
    if 0 < done < segments and not (run_dir / "checkpoint.keras").exists():
        done = 0  # no checkpoint to continue from
    if 0 < done < segments:
        gan = keras.saving.load_model(run_dir / "checkpoint.keras")
    elif done == 0:
        gan = build_gan(config, unit)
    samples = _load_samples(run_dir / "samples.npz") if done else {}
    snapshots = config.snapshot_list()
    noise_rng = np.random.default_rng([seed, 1])
    noise = noise_rng.normal(size=(config.eval_samples, 2)).astype("float32")
    per_step = unit["d_steps"] * config.batch_size
    tags = {k: unit[k] for k in KEY_FIELDS}
    history = storage.history_logger(directory, **tags)
    start = time.perf_counter()
    for segment in range(done, segments):
        first = segment * every
        steps = min(every, config.iterations - first)
        data_rng = np.random.default_rng([seed, 2, segment])
        real = sample_data(unit["dataset"], steps * per_step, data_rng)
        gan.fit(
            real, batch_size=per_step, epochs=segment + 1, initial_epoch=segment,
            shuffle=False, verbose=0,
            callbacks=[history, _Snapshots(first, snapshots, noise, samples)],
        )
        save_checkpoint(gan, run_dir, segment + 1, samples)
    seconds = time.perf_counter() - start

    trajectory = {
        str(iteration): mode_metrics(samples[iteration], unit["dataset"],
                                     config.mode_min_samples)
        for iteration in snapshots
    }
    final = trajectory[str(config.iterations)]
    losses = _last_losses(directory / "history.csv", tags)
    (run_dir / "checkpoint.keras").unlink(missing_ok=True)
    return {**tags, **final, "trajectory": trajectory, "seconds": seconds, **losses}


def _last_losses(path: Path, tags: dict[str, Any]) -> dict[str, float | None]:
    """The last logged d_loss and g_loss of a run, from history.csv."""
    history = storage.read_history(path, **tags)
    if not history:
        return {"d_loss": None, "g_loss": None}
    return {k: float(history[-1][k]) for k in ("d_loss", "g_loss")}


def remeasure(
    config: GANConfig, row: dict[str, Any], directory: Path
) -> dict[str, Any]:
    """A finished run's row with its metrics computed from its samples."""
    samples = _load_samples(directory / "runs" / unit_name(row) / "samples.npz")
    if not all(it in samples for it in config.snapshot_list()):
        return row
    trajectory = {
        str(it): mode_metrics(samples[it], row["dataset"], config.mode_min_samples)
        for it in config.snapshot_list()
    }
    return {**row, **trajectory[str(config.iterations)], "trajectory": trajectory}


def units(config: GANConfig) -> list[dict[str, Any]]:
    """Every run, paper-setting runs first."""
    out = []
    for learning_rate, width, d_steps in config.grid():
        for dataset in config.datasets:
            for seed in config.seed_list():
                for method, alpha in config.methods():
                    out.append({
                        "dataset": dataset, "method": method, "alpha": alpha,
                        "seed": seed, "learning_rate": learning_rate,
                        "width": width, "d_steps": d_steps,
                    })
    return out


# ----------------------------------------------------------------- reporting


def method_label(alpha: float) -> str:
    return reporting.method_label(alpha, model="GAN")


def summarize(config: GANConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per data set and method: the paper's setting over seeds (by
    snapshot), and every configuration of the grid (overall and by
    setting)."""
    paper = config.grid()[0]
    summary: dict[str, Any] = {}
    for dataset in config.datasets:
        entry = {}
        for method, alpha in config.methods():
            mine = [r for r in rows if (r["dataset"], r["method"], r["alpha"])
                    == (dataset, method, alpha)]
            setting = [r for r in mine if _setting(r) == paper]
            entry[method_label(alpha)] = {
                "paper_setting": {
                    **_aggregate(setting),
                    "by_iteration": {
                        str(it): {
                            name: float(np.mean([r["trajectory"][str(it)][name]
                                                 for r in setting]))
                            for name in ("modes", "reached", "high_quality")
                        }
                        for it in config.snapshot_list()
                    },
                },
                "grid": {
                    **_aggregate(mine),
                    "by_setting": {
                        _setting_name(*grid_point): _aggregate(
                            [r for r in mine if _setting(r) == grid_point]
                        )
                        for grid_point in config.grid()
                    },
                },
            }
        summary[dataset] = entry
    return summary


def _setting(row: dict[str, Any]) -> tuple[float, int, int]:
    return (row["learning_rate"], row["width"], row["d_steps"])


def _setting_name(learning_rate: float, width: int, d_steps: int) -> str:
    return f"lr={learning_rate:g} width={width} d_steps={d_steps}"


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "runs": len(rows),
        "modes": _stats(r["modes"] for r in rows),
        "reached": _stats(r["reached"] for r in rows),
        "high_quality": _stats(100 * r["high_quality"] for r in rows),
        "all_modes": float(np.mean([r["all_modes"] for r in rows])),
        "all_reached": float(np.mean([r["all_reached"] for r in rows])),
    }


def _stats(values) -> dict[str, float]:
    stats = reporting.MeanStd.of(values)
    return {"mean": stats.mean, "std": stats.std, "n": stats.n}


def _mean_std(stats: dict[str, float]) -> reporting.MeanStd:
    return reporting.MeanStd(stats["mean"], stats["std"], stats["n"])


def report(config: GANConfig, summary: dict[str, Any], directory: Path) -> str:
    """Print the tables; write results.csv (and grid.csv for a grid)."""
    its = config.snapshot_list()
    columns = ["data", "method", "runs", *[f"@{it}" for it in its],
               "high quality %", "all covered", "all reached"]
    rows = []
    for dataset, entry in summary.items():
        for label, result in entry.items():
            paper = result["paper_setting"]
            by_it = paper["by_iteration"]
            rows.append({
                "data": dataset, "method": label, "runs": paper["runs"],
                **{f"@{it}": f"{by_it[str(it)]['modes']:.1f} / "
                   f"{by_it[str(it)]['reached']:.1f}" for it in its},
                "high quality %": _mean_std(paper["high_quality"]),
                "all covered": f"{paper['all_modes']:.0%}",
                "all reached": f"{paper['all_reached']:.0%}",
            })
    title = (
        f"Figure 5 as numbers ({_setting_name(*config.grid()[0])}, "
        f"{config.seeds} seed(s)): modes covered / reached (of 8 or 25) by "
        f"generator iteration, mean over seeds; covered: >= "
        f"{config.mode_min_samples} of {config.eval_samples} samples within 3 "
        f"std of the mode (high quality); reached: within a quarter of the "
        f"spacing between modes; high quality % and 'all' at iteration "
        f"{config.iterations}"
    )
    text = reporting.print_table(columns, rows, title=title,
                                 csv_path=directory / "results.csv")
    if len(config.grid()) > 1:
        grid_columns = ["data", "method", "runs", "all covered", "all reached",
                        "covered", "reached", "high quality %"]
        grid_rows = []
        setting_columns = ["setting"]
        setting_rows = {name: {"setting": name}
                        for name in (_setting_name(*g) for g in config.grid())}
        for dataset, entry in summary.items():
            for label, result in entry.items():
                grid = result["grid"]
                grid_rows.append({
                    "data": dataset, "method": label, "runs": grid["runs"],
                    "all covered": f"{grid['all_modes']:.0%}",
                    "all reached": f"{grid['all_reached']:.0%}",
                    "covered": _mean_std(grid["modes"]),
                    "reached": _mean_std(grid["reached"]),
                    "high quality %": _mean_std(grid["high_quality"]),
                })
                column = f"{dataset} {label.replace(' GAN', '')}"
                setting_columns.append(column)
                for name, result_at in grid["by_setting"].items():
                    setting_rows[name][column] = (
                        f"{result_at['modes']['mean']:.1f} / "
                        f"{result_at['reached']['mean']:.1f}"
                    )
        grid_title = (
            f"Robustness over lr {list(config.learning_rate)} x width "
            f"{list(config.width)} x d_steps {list(config.d_steps)} x "
            f"{config.seeds} seed(s), at iteration {config.iterations}: the "
            f"fraction of runs that cover (reach) every mode, and modes "
            f"covered, reached (mean ± std)"
        )
        text += "\n\n" + reporting.print_table(
            grid_columns, grid_rows, title=grid_title, csv_path=directory / "grid.csv"
        )
        text += "\n\n" + reporting.print_table(
            setting_columns, list(setting_rows.values()),
            title="Modes covered / reached by setting (mean over seeds)",
        )
    return text


def plot_figure(config: GANConfig, directory: Path, path: Path,
                num_points: int = 500) -> Path:
    """Figure 5: real (blue) and generated (orange) samples per snapshot,
    one row per data set and method (the paper's setting, first seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lr, width, d_steps = config.grid()[0]
    its = config.snapshot_list()
    row_units = [
        {"dataset": dataset, "method": method, "alpha": alpha, "seed": config.seed,
         "learning_rate": lr, "width": width, "d_steps": d_steps}
        for dataset in config.datasets for method, alpha in config.methods()
    ]
    figure, axes = plt.subplots(
        len(row_units), len(its), figsize=(1.6 * len(its) + 0.8, 1.6 * len(row_units)),
        squeeze=False,
    )
    for row, unit in enumerate(row_units):
        samples = _load_samples(directory / "runs" / unit_name(unit) / "samples.npz")
        real = sample_data(unit["dataset"], num_points, np.random.default_rng(0))
        limit = 3.0 if unit["dataset"] == "ring8" else 6.0
        for column, iteration in enumerate(its):
            ax = axes[row, column]
            ax.scatter(real[:, 0], real[:, 1], s=1, c="tab:blue", rasterized=True)
            if iteration in samples:
                fake = samples[iteration][:num_points]
                ax.scatter(fake[:, 0], fake[:, 1], s=1, c="tab:orange", rasterized=True)
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
            if row == 0:
                ax.set_title(f"{iteration:,}", fontsize=9)
            if column == 0:
                label = method_label(unit["alpha"])
                ax.set_ylabel(f"{unit['dataset']}\n{label}", fontsize=8)
    figure.suptitle("Real (blue) and generated (orange) samples by generator "
                    "iteration", fontsize=9)
    return reporting.save_figure(figure, path)


# ---------------------------------------------------------------------- main


def train(config: GANConfig, workdir: str | Path) -> dict[str, Any]:
    """Run every unit not yet recorded in the workdir (a run killed midway
    continues from its last checkpoint), then report over all units."""
    run = harness.Run(RECIPE, config, workdir, KEY_FIELDS)
    all_units = units(config)
    rows = run.train(
        all_units, lambda unit: train_one(config, unit, run.workdir),
        show=("modes", "high_quality"),
        headline=f"GAN: {len(config.datasets)} data set(s) x "
        f"{len(config.methods())} method(s) x {config.seeds} seed(s) x "
        f"{len(config.grid())} setting(s) = {len(all_units)} runs of "
        f"{config.iterations} iterations",
    )
    # Measured again from the saved samples: the report follows this code.
    run_rows = [remeasure(config, row, run.workdir) for row in rows]
    summary = summarize(config, run_rows)
    table = report(config, summary, run.workdir)
    figure = plot_figure(config, run.workdir, run.workdir / "figure5.png")
    return run.finish(
        {
            "metric": "modes covered; % high-quality samples (within 3 std of a "
                      "mode)",
            "summary": summary,
            "runs": run_rows,
            "figure": str(figure),
        },
        table=table,
        files=["results.csv", "figure5.png", "history.csv"],
    )


main = cli.command(RECIPE, GANConfig, train, description=__doc__)


if __name__ == "__main__":
    main()
