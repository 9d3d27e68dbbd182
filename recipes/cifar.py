"""CIFAR-10 and CIFAR-100 (paper section 3.2, Figure 3): ERM against mixup.

The paper's setting: PreAct ResNet-18, WideResNet-28-10 or DenseNet-BC-190
(growth rate 40); SGD with momentum 0.9, minibatches of 128, 200 epochs,
learning rate 0.1 divided by 10 after epochs 100 and 150 (WideResNet: 60, 120
and 180), weight decay 1e-4, no dropout, mixup alpha = 1; the standard
augmentation (4-pixel pad, random crop, horizontal flip). ERM and mixup of a
seed share the initial weights and the data order: only the mixing differs.

    python -m recipes.cifar              # CIFAR-10, PreAct ResNet-18: ERM, mixup
    python -m recipes.cifar --dataset cifar100 --model wrn28_10
    python -m recipes.cifar --data synthetic --epochs 2   # throughput, no data
    python -m recipes.cifar --smoke      # a small CNN on synthetic data: seconds
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

import keras

from recipes import common, images, models

RECIPE = "cifar"
DATASETS = ("cifar10", "cifar100")
# The batch size the paper's learning rate belongs to; another --batch-size
# scales the rate linearly (Goyal et al., 2017).
PAPER_BATCH_SIZE = 128

# Model name -> (builder(input_shape, num_classes, weight_decay), paper's name,
# the learning-rate milestones of the paper for it).
MODELS = {
    "preact_resnet18": (
        lambda shape, k, wd: models.preact_resnet18(shape, k, weight_decay=wd),
        "PreAct ResNet-18",
        (100, 150),
    ),
    "wrn28_10": (
        lambda shape, k, wd: models.wide_resnet(
            shape, k, depth=28, widen_factor=10, weight_decay=wd
        ),
        "WideResNet-28-10",
        (60, 120, 180),
    ),
    "densenet_bc190": (
        lambda shape, k, wd: models.densenet_bc(
            shape, k, depth=190, growth_rate=40, weight_decay=wd
        ),
        "DenseNet-BC-190",
        (100, 150),
    ),
    # Not in the paper: small nets for smoke runs and tests.
    "small_cnn": (
        lambda shape, k, wd: models.small_cnn(
            shape, k, filters=(8, 16), weight_decay=wd
        ),
        "small CNN",
        (100, 150),
    ),
    "wrn10_1": (
        lambda shape, k, wd: models.wide_resnet(
            shape, k, depth=10, widen_factor=1, weight_decay=wd
        ),
        "WideResNet-10-1",
        (100, 150),
    ),
}

# Figure 3a: test error (%) of ERM and mixup (alpha = 1).
PAPER_FIGURE3A = {
    ("cifar10", "preact_resnet18"): (5.6, 4.2),
    ("cifar10", "wrn28_10"): (3.8, 2.7),
    ("cifar10", "densenet_bc190"): (3.7, 2.7),
    ("cifar100", "preact_resnet18"): (25.6, 21.1),
    ("cifar100", "wrn28_10"): (19.4, 17.5),
    ("cifar100", "densenet_bc190"): (19.0, 16.8),
}
DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


@dataclasses.dataclass(frozen=True)
class CIFARConfig(images.ClassifierConfig):
    """ERM against mixup on CIFAR-10/100 (mixup paper, section 3.2, Figure 3)."""

    dataset: str = common.option("cifar10", "cifar10 or cifar100")
    model: str = common.option(
        "preact_resnet18",
        "preact_resnet18, wrn28_10 (WideResNet-28-10), densenet_bc190 "
        "(DenseNet-BC-190, k=40); small_cnn and wrn10_1 (WideResNet-10-1) are "
        "small nets for smoke runs",
        smoke="small_cnn",
    )
    method: str = common.option(
        "both", "erm, mixup, or both (ERM then mixup, same seed)", resumable=True
    )
    alpha: float = common.option(1.0, "mixup alpha (paper: 1)")
    epochs: int = common.option(200, "epochs (paper: 200)", smoke=2)
    batch_size: int = common.option(
        128,
        "global minibatch size, split over the devices (paper: 128)",
        smoke=8,
    )
    learning_rate: float = common.option(
        0.1,
        "initial learning rate at batch 128 (paper: 0.1); the rate used is "
        "this x batch-size / 128",
    )
    milestones: tuple[int, ...] = common.option(
        (),
        "epochs after which the learning rate is divided by 10 (default: the "
        "paper's, 100 150, or 60 120 180 for wrn28_10)",
        smoke=(1,),
        metavar="EPOCH",
    )
    weight_decay: float = common.option(1e-4, "weight decay (paper: 1e-4)")
    momentum: float = common.option(0.9, "SGD momentum (paper: 0.9)")
    data: str = common.option(
        "tfds",
        "tfds (CIFAR through tensorflow-datasets) or synthetic (random images "
        "of CIFAR's shape: throughput only)",
        smoke="synthetic",
    )
    data_dir: str | None = common.option(
        None,
        "tensorflow-datasets data directory (default: $TFDS_DATA_DIR or "
        "~/tensorflow_datasets)",
        resumable=True,
        metavar="DIR",
    )
    limit_train: int | None = common.option(
        None,
        "use only the first N training images (synthetic: N images, default "
        "50000)",
        smoke=32,
        metavar="N",
    )
    limit_test: int | None = common.option(
        None,
        "use only the first N test images (synthetic: N images, default 10000)",
        smoke=16,
        metavar="N",
    )

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(
                f"--dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}"
            )
        if self.model not in MODELS:
            raise ValueError(
                f"--model must be one of {', '.join(MODELS)}, got {self.model!r}"
            )
        self.check_shared_options()

    def schedule_milestones(self) -> tuple[int, ...]:
        return self.milestones or MODELS[self.model][2]

    def scaled_learning_rate(self) -> float:
        return self.learning_rate * self.batch_size / PAPER_BATCH_SIZE


def load_data(config: CIFARConfig) -> images.ImageArrays:
    if config.data == "synthetic":
        return images.synthetic_image_arrays(
            (32, 32, 3),
            10 if config.dataset == "cifar10" else 100,
            n_train=config.limit_train or 50_000,
            n_test=config.limit_test or 10_000,
            seed=config.seed,
        )
    return images.load_image_arrays(
        config.dataset,
        data_dir=config.data_dir,
        limit_train=config.limit_train,
        limit_test=config.limit_test,
    )


def train_one(
    config: CIFARConfig,
    method: str,
    data: images.ImageArrays,
    workdir: Path,
    scope,
    callbacks=(),
) -> dict[str, Any]:
    """Train one net (ERM or mixup) to the end, resuming its checkpoint."""
    alpha = config.alpha if method == "mixup" else 0.0
    steps = images.steps_per_epoch(len(data.x_train), config.batch_size)
    if steps < 1:
        raise common.RecipeError(
            f"--batch-size {config.batch_size} is larger than the "
            f"{len(data.x_train)} training images"
        )
    train_data = images.train_dataset(
        data.x_train, data.y_train, batch_size=config.batch_size, seed=config.seed,
        mean=data.mean, std=data.std, num_classes=data.num_classes,
        augment="cifar", mixup_alpha=alpha,
    )
    eval_data = images.eval_dataset(
        data.x_test, data.y_test, batch_size=max(config.batch_size, 256),
        mean=data.mean, std=data.std, num_classes=data.num_classes,
    )
    schedule = common.StepDecay(
        config.scaled_learning_rate(), config.schedule_milestones(), steps
    )
    builder = MODELS[config.model][0]
    start = time.perf_counter()
    fit = images.fit_classifier(
        lambda: builder(data.image_shape, data.num_classes, config.weight_decay),
        learning_rate=schedule,
        momentum=config.momentum,
        train_data=train_data,
        eval_data=eval_data,
        epochs=config.epochs,
        run_dir=workdir / method,
        history_dir=workdir,
        tags={"method": method, "alpha": alpha},
        seed=config.seed,
        scope=scope,
        jit_compile=config.jit,
        verbose=config.fit_verbose,
        callbacks=callbacks,
    )
    curve = images.test_errors_by_epoch(workdir / "history.csv", method, "accuracy")
    return {
        "method": method,
        "alpha": alpha,
        "test_error": curve[-1],
        "best_test_error": min(curve),
        "test_error_by_epoch": curve,
        "epochs": len(curve),
        "resumed_at_epoch": fit["initial_epoch"],
        "steps_per_epoch": steps,
        "parameters": fit["parameters"],
        "epoch_seconds": fit["epoch_seconds"],
        "seconds": time.perf_counter() - start,
    }


def report(config: CIFARConfig, rows: dict[str, dict], workdir: Path) -> str:
    """Figure 3a with our numbers in place, and the curves of Figure 3b."""
    ours_erm = rows.get("erm", {}).get("test_error")
    ours_mixup = rows.get("mixup", {}).get("test_error")
    table_rows = []
    for (dataset, model), (paper_erm, paper_mixup) in PAPER_FIGURE3A.items():
        mine = dataset == config.dataset and model == config.model
        table_rows.append({
            "dataset": DATASET_NAMES[dataset],
            "model": MODELS[model][1],
            "ERM": ours_erm if mine else None,
            f"mixup α={config.alpha:g}": ours_mixup if mine else None,
            "paper ERM": paper_erm,
            "paper mixup": paper_mixup,
        })
    if (config.dataset, config.model) not in PAPER_FIGURE3A:
        table_rows.append({
            "dataset": DATASET_NAMES[config.dataset],
            "model": MODELS[config.model][1],
            "ERM": ours_erm,
            f"mixup α={config.alpha:g}": ours_mixup,
        })
    source = "synthetic data" if config.data == "synthetic" else DATASET_NAMES[
        config.dataset
    ]
    title = (
        f"Test error (%) after {config.epochs} epoch(s) on {source} "
        f"(ours: this run, last epoch); paper: Figure 3a of Zhang et al. (2018)"
    )
    columns = list(table_rows[0])
    text = common.print_table(
        columns, table_rows, title=title, csv_path=workdir / "results.csv"
    )
    images.plot_error_curves(
        workdir / "figure3b.png",
        {
            "ERM" if method == "erm" else f"mixup α={row['alpha']:g}":
                row["test_error_by_epoch"]
            for method, row in rows.items()
        },
        ylabel="test error (%)",
        title=f"{DATASET_NAMES[config.dataset]}, {MODELS[config.model][1]} "
        f"(Figure 3b){' — synthetic data' if config.data == 'synthetic' else ''}",
    )
    return text


def train(
    config: CIFARConfig, workdir: str | Path, *, callbacks=()
) -> dict[str, Any]:
    """Train each method not yet finished in the workdir (a killed one resumes
    at its last finished epoch), then report. `callbacks` are added to every
    fit (after the recipe's own)."""
    started = time.perf_counter()
    workdir = common.prepare_workdir(workdir, config, RECIPE)
    keras.config.set_dtype_policy(config.precision)
    scope, replicas = images.data_parallel(config.tpu)
    images.check_global_batch(config.batch_size, replicas)
    done = common.ResultRows(workdir / "rows.jsonl", ("method",))
    pending = [m for m in config.methods() if (m,) not in done]
    data = load_data(config) if pending else None
    print(
        f"CIFAR: {config.dataset} ({config.data}), {MODELS[config.model][1]}, "
        f"{config.epochs} epochs, batch {config.batch_size} on {replicas} "
        f"device(s), lr {config.scaled_learning_rate():g} / 10 at epochs "
        f"{' '.join(map(str, config.schedule_milestones()))}, precision "
        f"{config.precision}; methods {' '.join(config.methods())}"
        f"{'' if pending else ' (all done in ' + str(workdir) + ')'}",
        flush=True,
    )
    for method in pending:
        done.add(train_one(config, method, data, workdir, scope, callbacks))
    rows = {m: done.get((m,)) for m in config.methods()}
    table = report(config, rows, workdir)
    epoch_seconds = [s for row in rows.values() for s in row["epoch_seconds"][1:]]
    results = {
        "recipe": RECIPE,
        "metric": "test error (%)",
        "dataset": config.dataset,
        "model": config.model,
        "data": config.data,
        "replicas": replicas,
        "learning_rate": config.scaled_learning_rate(),
        "milestones": list(config.schedule_milestones()),
        "runs": rows,
        "paper": dict(zip(("erm", "mixup"), PAPER_FIGURE3A.get(
            (config.dataset, config.model), (None, None)), strict=True)),
        # The first epoch of a fit includes compilation.
        "median_epoch_seconds": statistics.median(epoch_seconds)
        if epoch_seconds else None,
        "trained_methods": pending,
        "elapsed_seconds": time.perf_counter() - started,
        "table": table,
    }
    common.write_json(workdir / "results.json", results)
    print(
        f"wrote {workdir / 'results.json'}, results.csv, figure3b.png, history.csv",
        flush=True,
    )
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_cli(RECIPE, CIFARConfig, train, argv, description=__doc__)


if __name__ == "__main__":
    main()
