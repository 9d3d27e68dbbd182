"""Memorization of corrupted labels (paper section 3.4, Table 2).

A fraction (20%, 50%, 80%) of the training labels is replaced by random
labels; the test labels stay intact. For each fraction the recipe trains
ERM, ERM + dropout, mixup and mixup + dropout over the paper's grid and
reports, per run, the best and the last test error and, at the last epoch,
the training error on the examples whose labels were kept (against those
real labels) and on the corrupted examples (against their corrupted labels:
a low error there means the labels were memorized). Table 2 shows, per
fraction and family, the run with the lowest best test error, beside the
paper's.

Random labels. The paper adapts the code of Zhang et al. (2017), which draws
each replacement uniformly from all classes, so a "random label" equals the
true one with probability 1/K: with 80% corruption on 10 classes, 72% of the
labels are wrong. That is our default (`--replacement uniform`);
`--replacement other` draws from the other K - 1 classes. Unlike that code,
which corrupts each label with probability p, exactly round(p * n) labels
are corrupted, chosen without replacement with a fixed seed.

    python -m recipes.corrupted_labels                    # digits: ~8 CPU minutes
    python -m recipes.corrupted_labels --dataset cifar10  # the paper's 63 runs: GPUs
    python -m recipes.corrupted_labels --smoke
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

RECIPE = "corrupted_labels"
REPLACEMENTS = ("uniform", "other")
FAMILIES = ("erm", "erm_dropout", "mixup", "mixup_dropout")
# Table 2: (corruption, family) -> (label, best, last, real, corrupted).
PAPER_TABLE2 = {
    (0.2, "erm"): ("ERM", 12.7, 16.6, 0.05, 0.28),
    (0.2, "erm_dropout"): ("ERM + dropout (p = 0.7)", 8.8, 10.4, 5.26, 83.55),
    (0.2, "mixup"): ("mixup (α = 8)", 5.9, 6.4, 2.27, 86.32),
    (0.2, "mixup_dropout"): (
        "mixup + dropout (α = 4, p = 0.1)", 6.2, 6.2, 1.92, 85.02
    ),
    (0.5, "erm"): ("ERM", 18.8, 44.6, 0.26, 0.64),
    (0.5, "erm_dropout"): ("ERM + dropout (p = 0.8)", 14.1, 15.5, 12.71, 86.98),
    (0.5, "mixup"): ("mixup (α = 32)", 11.3, 12.7, 5.84, 85.71),
    (0.5, "mixup_dropout"): (
        "mixup + dropout (α = 8, p = 0.3)", 10.9, 10.9, 7.56, 87.90
    ),
    (0.8, "erm"): ("ERM", 36.5, 73.9, 0.62, 0.83),
    (0.8, "erm_dropout"): ("ERM + dropout (p = 0.8)", 30.9, 35.1, 29.84, 86.37),
    (0.8, "mixup"): ("mixup (α = 32)", 25.3, 30.9, 18.92, 85.44),
    (0.8, "mixup_dropout"): (
        "mixup + dropout (α = 8, p = 0.3)", 24.0, 24.8, 19.70, 87.67
    ),
}
# The paper's grid (section 3.4), and the reduced grid of the digits default
# (7 runs per fraction instead of 21, to fit ~10 minutes of a 2-core CPU):
# mixup keeps the settings of the paper's best rows; dropout takes p 0.3 and
# 0.5 because p 0.7 and 0.8 (the paper's best for PreAct ResNet-18) leave
# the small CNN unable to fit even the clean labels (measured: 24-93% test
# error).
PAPER_GRID = dict(
    dropout=(0.5, 0.7, 0.8, 0.9),
    alphas=(1.0, 2.0, 8.0, 32.0),
    mixup_dropout_alphas=(1.0, 2.0, 4.0, 8.0),
    mixup_dropout_p=(0.3, 0.5, 0.7),
)
GRID_DEFAULTS = {
    "cifar10": PAPER_GRID,
    "digits": dict(
        dropout=(0.3, 0.5), alphas=(1.0, 8.0, 32.0),
        mixup_dropout_alphas=(8.0,), mixup_dropout_p=(0.3,),
    ),
    "synthetic": dict(
        dropout=(0.5,), alphas=(8.0,), mixup_dropout_alphas=(4.0,),
        mixup_dropout_p=(0.3,),
    ),
}


# ----------------------------------------------------------------- corruption


@dataclasses.dataclass(frozen=True, eq=False)
class CorruptedLabels:
    """labels: the training labels after corruption (int32); corrupted: True
    where a label was replaced (it may still equal the true label with
    replacement="uniform")."""

    labels: np.ndarray
    corrupted: np.ndarray


def corrupt_labels(
    labels: np.ndarray,
    fraction: float,
    num_classes: int,
    *,
    seed: int,
    replacement: str = "uniform",
) -> CorruptedLabels:
    """Replace exactly round(fraction * n) labels, chosen uniformly without
    replacement, by random labels: drawn uniformly from all num_classes
    classes (replacement="uniform", as the code of Zhang et al. (2017) that
    the paper adapts; the draw equals the true label with probability
    1 / num_classes) or from the other num_classes - 1 classes
    (replacement="other"). A pure function of its arguments."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be a 1-D array of integer class ids, received dtype "
            f"{labels.dtype} and shape {labels.shape}"
        )
    if not (isinstance(num_classes, (int, np.integer)) and num_classes >= 2):
        raise ValueError(f"num_classes must be an int >= 2, received {num_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}] (num_classes="
            f"{num_classes}), received values in [{labels.min()}, {labels.max()}]"
        )
    if not (isinstance(fraction, (int, float)) and 0.0 <= fraction <= 1.0):
        raise ValueError(f"fraction must be a number in [0, 1], received {fraction!r}")
    if replacement not in REPLACEMENTS:
        raise ValueError(
            f"replacement must be one of {', '.join(REPLACEMENTS)}, received "
            f"{replacement!r}"
        )
    rng = np.random.default_rng(seed)
    count = int(round(fraction * len(labels)))
    chosen = rng.choice(len(labels), size=count, replace=False)
    if replacement == "uniform":
        new_labels = rng.integers(0, num_classes, size=count)
    else:
        new_labels = (labels[chosen] + rng.integers(1, num_classes, size=count)) % (
            num_classes
        )
    noisy = labels.astype(np.int32, copy=True)
    noisy[chosen] = new_labels
    corrupted = np.zeros(len(labels), dtype=bool)
    corrupted[chosen] = True
    return CorruptedLabels(noisy, corrupted)


def training_errors(
    predictions: np.ndarray, true_labels: np.ndarray, corrupted: CorruptedLabels
) -> dict[str, float]:
    """The memorization measures (%): error on the kept examples against
    their real labels, on the corrupted examples against their corrupted
    labels, and on the corrupted examples against their true labels."""
    predictions = np.asarray(predictions)
    kept, replaced = ~corrupted.corrupted, corrupted.corrupted

    def error(mask, labels):
        if not mask.any():
            return None
        return 100.0 * float(np.mean(predictions[mask] != labels[mask]))

    return {
        "train_error_real": error(kept, true_labels),
        "train_error_corrupted": error(replaced, corrupted.labels),
        "train_error_corrupted_vs_true": error(replaced, true_labels),
    }


# --------------------------------------------------------------------- recipe


@dataclasses.dataclass(frozen=True)
class CorruptedLabelsConfig(robustness.ImageTrainingConfig):
    """ERM, dropout, mixup and mixup + dropout on training labels of which a
    fraction is random (mixup paper, section 3.4, Table 2). Grid fields left
    unset take the data set's default: the paper's grid on cifar10, a
    reduced grid on digits."""

    corruption: tuple[float, ...] = common.option(
        (0.2, 0.5, 0.8), "fractions of training labels replaced (the paper's)",
        smoke=(0.5,), resumable=True, metavar="FRACTION",
    )
    replacement: str = common.option(
        "uniform",
        "random labels drawn from all classes (uniform, as the code the paper "
        "adapts: may equal the true label) or from the other classes (other)",
    )
    dropout: tuple[float, ...] | None = common.option(
        None, "dropout p of the ERM + dropout runs (paper: 0.5 0.7 0.8 0.9; "
        "digits default: 0.3 0.5)", resumable=True, metavar="P",
    )
    alphas: tuple[float, ...] | None = common.option(
        None, "alphas of the mixup runs (paper: 1 2 8 32; digits default: 1 8 32)",
        resumable=True, metavar="ALPHA",
    )
    mixup_dropout_alphas: tuple[float, ...] | None = common.option(
        None, "alphas of the mixup + dropout runs (paper: 1 2 4 8; digits "
        "default: 8)", resumable=True, metavar="ALPHA",
    )
    mixup_dropout_p: tuple[float, ...] | None = common.option(
        None, "dropout p of the mixup + dropout runs (paper: 0.3 0.5 0.7; "
        "digits default: 0.3)", resumable=True, metavar="P",
    )

    def __post_init__(self):
        super().__post_init__()
        for name, value in GRID_DEFAULTS[self.dataset].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, tuple(value))
        if not self.corruption or any(not 0.0 <= c < 1.0 for c in self.corruption):
            raise ValueError(
                f"--corruption fractions must be in [0, 1), received {self.corruption}"
            )
        if self.replacement not in REPLACEMENTS:
            raise ValueError(
                f"--replacement must be one of {', '.join(REPLACEMENTS)}, "
                f"received {self.replacement!r}"
            )
        for name in ("dropout", "mixup_dropout_p"):
            if any(not 0.0 < p < 1.0 for p in getattr(self, name)):
                raise ValueError(
                    f"--{name.replace('_', '-')} values must be in (0, 1), "
                    f"received {getattr(self, name)}"
                )
        for name in ("alphas", "mixup_dropout_alphas"):
            if any(not (math.isfinite(a) and a > 0) for a in getattr(self, name)):
                raise ValueError(
                    f"--{name.replace('_', '-')} values must be finite and > 0, "
                    f"received {getattr(self, name)}"
                )
        for name in ("corruption", "dropout", "alphas", "mixup_dropout_alphas",
                     "mixup_dropout_p"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(
                    f"--{name.replace('_', '-')} lists a value twice: {values}"
                )


def units(config: CorruptedLabelsConfig) -> list[dict[str, Any]]:
    """Every run, in training order: (corruption, family, alpha, dropout)."""
    methods = [("erm", 0.0, 0.0)]
    methods += [("erm_dropout", 0.0, p) for p in config.dropout]
    methods += [("mixup", a, 0.0) for a in config.alphas]
    methods += [
        ("mixup_dropout", a, p)
        for a in config.mixup_dropout_alphas for p in config.mixup_dropout_p
    ]
    return [
        {"corruption": c, "family": family, "alpha": alpha, "dropout": p,
         "seed": config.seed}
        for c in config.corruption for family, alpha, p in methods
    ]


KEY_FIELDS = ("corruption", "family", "alpha", "dropout", "seed")


def unit_name(unit: dict[str, Any]) -> str:
    return (
        f"c{round(100 * unit['corruption'])}_{unit['family']}_a{unit['alpha']:g}"
        f"_p{unit['dropout']:g}_s{unit['seed']}"
    )


def method_label(family: str, alpha: float, dropout: float) -> str:
    return {
        "erm": "ERM",
        "erm_dropout": f"ERM + dropout (p = {dropout:g})",
        "mixup": f"mixup (α = {alpha:g})",
        "mixup_dropout": f"mixup + dropout (α = {alpha:g}, p = {dropout:g})",
    }[family]


def corruption_seed(config: CorruptedLabelsConfig, fraction: float) -> int:
    """One corrupted training set per (seed, fraction), shared by every method."""
    return 1_000_003 * config.seed + round(1000 * fraction)


def train_one(
    config: CorruptedLabelsConfig,
    data: images.ImageArrays,
    corrupted: CorruptedLabels,
    unit: dict[str, Any],
    workdir: Path,
) -> dict[str, Any]:
    started = time.perf_counter()
    run_dir = workdir / "runs" / unit_name(unit)
    model, test_errors = robustness.fit_classifier(
        config, data, y_train=corrupted.labels, alpha=unit["alpha"],
        dropout=unit["dropout"], seed=unit["seed"], run_dir=run_dir,
        workdir=workdir, tags=dict(unit),
    )
    predictions = np.argmax(
        robustness.predict_logits(model, data.x_train, data), axis=1
    )
    return {
        **unit,
        "best_test_error": min(test_errors),
        "best_epoch": int(np.argmin(test_errors)) + 1,
        "last_test_error": test_errors[-1],
        **training_errors(predictions, data.y_train, corrupted),
        "test_error_by_epoch": test_errors,
        "n_train": len(data.y_train),
        "n_corrupted": int(corrupted.corrupted.sum()),
        "n_corrupted_wrong": int(np.sum(corrupted.labels != data.y_train)),
        "seconds": time.perf_counter() - started,
    }


def best_per_family(rows: list[dict[str, Any]]) -> dict[tuple[float, str], dict]:
    """The run with the lowest best test error of each (corruption, family)
    (the paper reports "the best models" without saying how they were
    chosen); ties go to the earlier run of the grid."""
    best: dict[tuple[float, str], dict] = {}
    for row in rows:
        key = (row["corruption"], row["family"])
        if key not in best or row["best_test_error"] < best[key]["best_test_error"]:
            best[key] = row
    return best


def report(config: CorruptedLabelsConfig, rows, workdir: Path, data) -> str:
    best = best_per_family(rows)
    table2 = []
    for fraction in config.corruption:
        for family in FAMILIES:
            row = best.get((fraction, family))
            if row is None:
                continue
            paper = PAPER_TABLE2.get((fraction, family))
            table2.append({
                "corruption": f"{fraction:.0%}",
                "method": method_label(family, row["alpha"], row["dropout"]),
                "best": row["best_test_error"],
                "last": row["last_test_error"],
                "real": row["train_error_real"],
                "corrupted": row["train_error_corrupted"],
                "paper method": paper[0] if paper else None,
                "paper best": paper[1] if paper else None,
                "paper last": paper[2] if paper else None,
                "paper real": paper[3] if paper else None,
                "paper corrupted": paper[4] if paper else None,
            })
    wrong = (
        "" if config.replacement == "other"
        else " (a random label may equal the true one)"
    )
    title = (
        f"Table 2: test error (best, last epoch) and training error at the last "
        f"epoch on the kept labels (real) and on the corrupted ones, %; "
        f"{data.name}, {config.epochs} epochs, seed {config.seed}, best run of "
        f"each family by best test error{wrong}; paper: CIFAR-10, PreAct "
        f"ResNet-18, 200 epochs"
    )
    text = common.print_table(
        ["corruption", "method", "best", "last", "real", "corrupted",
         "paper method", "paper best", "paper last", "paper real",
         "paper corrupted"],
        table2, title=title, csv_path=workdir / "results.csv", digits=2,
    )
    grid_rows = [
        {
            "corruption": f"{row['corruption']:.0%}",
            "method": method_label(row["family"], row["alpha"], row["dropout"]),
            "best": row["best_test_error"],
            "best epoch": row["best_epoch"],
            "last": row["last_test_error"],
            "real": row["train_error_real"],
            "corrupted": row["train_error_corrupted"],
            "corrupted vs true": row["train_error_corrupted_vs_true"],
        }
        for row in rows
    ]
    text += "\n\n" + common.print_table(
        ["corruption", "method", "best", "best epoch", "last", "real", "corrupted",
         "corrupted vs true"],
        grid_rows, title="Every run (%; 'corrupted vs true': the corrupted "
        "examples against their true labels)", csv_path=workdir / "grid.csv",
    )
    groups = [f"{c:.0%}" for c in config.corruption]
    series, reference = {}, {}
    for family in FAMILIES:
        if not any((c, family) in best for c in config.corruption):
            continue
        label = method_label(family, 0, 0).split(" (")[0]
        series[label] = [
            best[(c, family)]["last_test_error"] if (c, family) in best else None
            for c in config.corruption
        ]
        reference[label] = [
            PAPER_TABLE2[(c, family)][2] if (c, family) in PAPER_TABLE2 else None
            for c in config.corruption
        ]
    common.bar_chart(
        workdir / "results.png", groups, series, reference=reference,
        ylabel="last-epoch test error (%)",
        title=f"Corrupted labels, {data.name}: best run of each family "
        f"(paper: CIFAR-10, black ticks)",
    )
    return text


def train(config: CorruptedLabelsConfig, workdir: str | Path) -> dict[str, Any]:
    """Train every run of the grid not yet recorded in the workdir, then
    report over all runs of this config."""
    started = time.perf_counter()
    workdir = common.prepare_workdir(workdir, config, RECIPE)
    rows = common.ResultRows(workdir / "rows.jsonl", KEY_FIELDS)
    all_units = units(config)
    pending = [u for u in all_units if tuple(u[k] for k in KEY_FIELDS) not in rows]
    data = robustness.load_data(config)
    print(
        f"corrupted labels: {data.name}, {len(data.y_train)} training images, "
        f"{len(config.corruption)} corruption level(s) x "
        f"{len(all_units) // len(config.corruption)} runs = {len(all_units)} "
        f"runs of {config.epochs} epochs; {len(all_units) - len(pending)} "
        f"already done in {workdir}",
        flush=True,
    )
    progress = common.progress_bar(len(all_units), unit_name="run")
    progress.update(len(all_units) - len(pending))
    corrupted_sets: dict[float, CorruptedLabels] = {}
    for done, unit in enumerate(pending, start=len(all_units) - len(pending) + 1):
        fraction = unit["corruption"]
        if fraction not in corrupted_sets:
            corrupted_sets[fraction] = corrupt_labels(
                data.y_train, fraction, data.num_classes,
                seed=corruption_seed(config, fraction),
                replacement=config.replacement,
            )
        row = train_one(config, data, corrupted_sets[fraction], unit, workdir)
        rows.add(row)
        progress.update(done, [("last_test_error", row["last_test_error"])])
    done_rows = [rows.get(tuple(u[k] for k in KEY_FIELDS)) for u in all_units]
    table = report(config, done_rows, workdir, data)
    results = {
        "recipe": RECIPE,
        "dataset": data.name,
        "metric": "test and training error (%)",
        "best_per_family": [
            row for row in best_per_family(done_rows).values()
        ],
        "runs": done_rows,
        "trained_runs": len(pending),
        "skipped_runs": len(all_units) - len(pending),
        "train_seconds_total": sum(r["seconds"] for r in done_rows),
        "elapsed_seconds": time.perf_counter() - started,
        "table": table,
    }
    common.write_json(workdir / "results.json", results)
    print(
        f"wrote {workdir / 'results.json'}, results.csv, grid.csv, results.png, "
        f"history.csv",
        flush=True,
    )
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_cli(
        RECIPE, CorruptedLabelsConfig, train, argv, description=__doc__
    )


if __name__ == "__main__":
    main(sys.argv[1:])
