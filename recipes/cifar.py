"""CIFAR-10 and CIFAR-100 (paper section 3.2, Figure 3): ERM against mixup,
and beside them CutMix and timm's mixup/CutMix switch.

The paper's setting: PreAct ResNet-18, WideResNet-28-10 or DenseNet-BC-190
(growth rate 40); SGD with momentum 0.9, minibatches of 128, 200 epochs,
learning rate 0.1 divided by 10 after epochs 100 and 150 (WideResNet: 60, 120
and 180), weight decay 1e-4, no dropout, mixup alpha = 1; the standard
augmentation (4-pixel pad, random crop, horizontal flip). ERM and mixup of a
seed share the initial weights and the data order: only the mixing differs.

--method takes one or more of erm, mixup, cutmix (CutMix with --alpha) and
switch (mixup with --alpha or CutMix with alpha 1, each batch one or the
other with probability 0.5); both, the default, is erm mixup. Each method is
its own resumable run in the workdir, sharing the seed's initial weights and
data order; methods asked for later in the same workdir join the ones
finished there, and the table and the curves show them all.

    python -m recipes.cifar              # CIFAR-10, PreAct ResNet-18: ERM, mixup
    python -m recipes.cifar --method erm mixup cutmix switch
    python -m recipes.cifar --dataset cifar100 --model wrn28_10
    python -m recipes.cifar --data synthetic --epochs 2   # throughput, no data
    python -m recipes.cifar --smoke      # a small CNN on synthetic data: seconds
    python -m recipes.cifar --dataset my_images/   # your own data (see --help)

small_cnn is the robustness recipes' small CNN (filters 32, 64, 128:
`models.SMALL_CNN_FILTERS`, 288,746 trainable parameters on 32x32 RGB).

Measured here: not run (no GPU); paper: PreAct ResNet-18 on CIFAR-10 ERM
5.6%, mixup 4.2%. 20-50 min an epoch on this CPU.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from recipes.lib import (
    cli, datasets, harness, images, models, reporting, schedules, settings,
    training,
)
from recipes.lib.cli import RecipeError

RECIPE = "cifar"
DATASETS = ("cifar10", "cifar100")  # the paper's (Figure 3a)
# The batch size the paper's learning rate belongs to; another --batch-size
# scales the rate linearly (Goyal et al., 2017).
PAPER_BATCH_SIZE = 128

Architecture = models.Architecture
MODELS = {
    "preact_resnet18": Architecture("PreAct ResNet-18", models.preact_resnet18, {}),
    "wrn28_10": Architecture(
        "WideResNet-28-10", models.wide_resnet, dict(depth=28, widen_factor=10)
    ),
    "densenet_bc190": Architecture(
        "DenseNet-BC-190", models.densenet_bc, dict(depth=190, growth_rate=40)
    ),
    # Not in the paper: small nets for CPU-scale data (Fashion-MNIST, digits:
    # the robustness recipes' small CNN), smoke runs and tests.
    "small_cnn": Architecture(
        "small CNN", models.small_cnn, dict(filters=models.SMALL_CNN_FILTERS)
    ),
    "wrn10_1": Architecture(
        "WideResNet-10-1", models.wide_resnet, dict(depth=10, widen_factor=1)
    ),
}
# The paper's learning-rate milestones: epochs 100 and 150, WideResNet's 60,
# 120 and 180.
PAPER_MILESTONES = {"wrn28_10": (60, 120, 180)}
DEFAULT_MILESTONES = (100, 150)

# Figure 3a: test error (%) of ERM and mixup (alpha = 1).
PAPER_FIGURE3A = {
    ("cifar10", "preact_resnet18"): (5.6, 4.2),
    ("cifar10", "wrn28_10"): (3.8, 2.7),
    ("cifar10", "densenet_bc190"): (3.7, 2.7),
    ("cifar100", "preact_resnet18"): (25.6, 21.1),
    ("cifar100", "wrn28_10"): (19.4, 17.5),
    ("cifar100", "densenet_bc190"): (19.0, 16.8),
}


@dataclasses.dataclass(frozen=True)
class CIFARConfig(training.ScaleConfig):
    """ERM against mixup on CIFAR-10/100 (mixup paper, section 3.2, Figure 3)."""

    # Not resumable, unlike other recipes' seeds: the workdir keys its runs by
    # method alone, so a rerun with another seed would report the first
    # seed's runs as its own.
    seed: int = cli.option(
        0,
        "random seed (initial weights, data order, mixing); one seed per "
        "workdir: another seed needs another --workdir",
    )
    dataset: str = datasets.dataset_option("cifar10", smoke="cifar10")
    model: str = cli.option(
        "preact_resnet18",
        "preact_resnet18, wrn28_10 (WideResNet-28-10), densenet_bc190 "
        "(DenseNet-BC-190, k=40); not in the paper: small_cnn (the robustness "
        "recipes' small CNN, for CPU-scale data such as fashion_mnist) and "
        "wrn10_1 (WideResNet-10-1)",
        smoke="small_cnn",
        choices=tuple(MODELS),
    )
    method: tuple[str, ...] = cli.option(
        ("both",),
        "one or more of erm, mixup, cutmix, switch (timm's mixup/CutMix "
        "switch), each its own run in the workdir (same seed: same initial "
        "weights and data order); both is erm mixup",
        resumable=True,
        choices=training.METHODS,
    )
    alpha: float = cli.option(
        1.0, "mixup alpha (paper: 1); CutMix's, and the switch's mixup alpha",
        above=0,
    )
    epochs: int = cli.option(200, "epochs (paper: 200)", smoke=2, minimum=1)
    batch_size: int = cli.option(
        128,
        "global minibatch size, split over the devices (paper: 128)",
        smoke=8,
        minimum=1,
    )
    learning_rate: float = cli.option(
        0.1,
        "initial learning rate at batch 128 (paper: 0.1); the rate used is "
        "this x batch-size / 128",
        above=0,
    )
    milestones: tuple[int, ...] = cli.option(
        (),
        "epochs after which the learning rate is divided by 10 (default: the "
        "paper's, 100 150, or 60 120 180 for wrn28_10)",
        smoke=(1,),
        metavar="EPOCH",
    )
    limit_train: int | None = training.limit_option(
        "training", smoke=32, synthetic_size=50_000
    )
    limit_test: int | None = training.limit_option(
        "test", smoke=16, synthetic_size=10_000
    )

    def validate(self):
        if not self.method:
            raise ValueError(
                f"--method must name one or more of {', '.join(training.METHODS)}, "
                f"got none"
            )
        settings.check_milestones(self.milestones)

    def architecture(self) -> models.Architecture:
        return MODELS[self.model]

    def schedule_milestones(self) -> tuple[int, ...]:
        return self.milestones or PAPER_MILESTONES.get(self.model, DEFAULT_MILESTONES)

    def scaled_learning_rate(self) -> float:
        return self.learning_rate * self.batch_size / PAPER_BATCH_SIZE


def load_data(config: CIFARConfig) -> images.ImageArrays:
    """--dataset's arrays; with --data synthetic (or --dataset synthetic)
    random 32x32 RGB images of CIFAR's size and classes. Other data keeps its
    own size and channels: the networks end in global average pooling, so
    their input takes the data's shape and nothing is padded or resized."""
    if config.data == "synthetic" or config.dataset == "synthetic":
        return images.synthetic_image_arrays(
            (32, 32, 3),
            100 if config.dataset == "cifar100" else 10,
            n_train=config.limit_train or 50_000,
            n_test=config.limit_test or 10_000,
            seed=config.seed,
        )
    return datasets.load(
        config.dataset,
        data_dir=config.data_dir,
        limit_train=config.limit_train,
        limit_test=config.limit_test,
        seed=config.seed,
    )


def train_one(
    config: CIFARConfig,
    method: str,
    data: images.ImageArrays,
    workdir: Path,
    scope,
    callbacks=(),
) -> dict[str, Any]:
    """Train one net (ERM or a mixing method) to the end, resuming its
    checkpoint."""
    alpha = 0.0 if method == "erm" else config.alpha
    steps = images.steps_per_epoch(len(data.x_train), config.batch_size)
    if steps < 1:
        raise RecipeError(
            f"--batch-size {config.batch_size} is larger than the "
            f"{len(data.x_train)} training images"
        )
    train_data = images.train_dataset(
        data.x_train, data.y_train, batch_size=config.batch_size, seed=config.seed,
        mean=data.mean, std=data.std, num_classes=data.num_classes,
        augment="cifar", method="mixup" if method == "erm" else method,
        alpha=alpha,
    )
    eval_data = images.eval_dataset(
        data.x_test, data.y_test, batch_size=max(config.batch_size, 256),
        mean=data.mean, std=data.std, num_classes=data.num_classes,
    )
    schedule = schedules.step_decay(
        config.scaled_learning_rate(), config.schedule_milestones(), steps
    )
    fit, record = training.fit_method(
        config, method, alpha, data.image_shape, data.num_classes,
        train_data=train_data, eval_data=eval_data, schedule=schedule,
        steps_per_epoch=steps, workdir=workdir, scope=scope, callbacks=callbacks,
    )
    curve = fit.test_errors
    return {
        **record,
        "test_error": curve[-1],
        "best_test_error": min(curve),
        "test_error_by_epoch": curve,
    }


def report(config: CIFARConfig, rows: dict[str, dict], workdir: Path) -> str:
    """Figure 3a with our numbers in place (a column per method run), and the
    curves of Figure 3b (one per method)."""
    labels = {
        method: reporting.method_label(row["alpha"], method=method)
        for method, row in rows.items()
    }
    ours = {labels[method]: row["test_error"] for method, row in rows.items()}
    table_rows = []
    for (dataset, model), (paper_erm, paper_mixup) in PAPER_FIGURE3A.items():
        mine = dataset == config.dataset and model == config.model
        table_rows.append({
            "dataset": datasets.title(dataset),
            "model": MODELS[model].title,
            **{label: error if mine else None for label, error in ours.items()},
            "paper ERM": paper_erm,
            "paper mixup": paper_mixup,
        })
    if (config.dataset, config.model) not in PAPER_FIGURE3A:
        table_rows.append({
            "dataset": datasets.title(config.dataset),
            "model": MODELS[config.model].title,
            **ours,
        })
    source = "synthetic data" if config.data == "synthetic" else datasets.title(
        config.dataset
    )
    title = (
        f"Test error (%) after {config.epochs} epoch(s) on {source} "
        f"(ours: this run, last epoch); paper: Figure 3a of Zhang et al. (2018)"
    )
    columns = list(table_rows[0])
    text = reporting.print_table(
        columns, table_rows, title=title, csv_path=workdir / "results.csv"
    )
    reporting.plot_error_curves(
        workdir / "figure3b.png",
        {labels[method]: row["test_error_by_epoch"] for method, row in rows.items()},
        ylabel="test error (%)",
        title=f"{datasets.title(config.dataset)}, {MODELS[config.model].title} "
        f"(Figure 3b){' — synthetic data' if config.data == 'synthetic' else ''}",
    )
    return text


def train(
    config: CIFARConfig, workdir: str | Path, *, callbacks=()
) -> dict[str, Any]:
    """Train each --method not yet finished in the workdir (a killed one
    resumes at its last finished epoch), then report them with the methods
    an earlier run finished there (same settings: the workdir refuses
    others). `callbacks` are added to every fit (after the recipe's own)."""
    run = harness.Run(RECIPE, config, workdir, ("method",))
    data = functools.cache(lambda: load_data(config))  # only if there is work
    runs, scale = training.train_at_scale(
        run, config,
        lambda method, scope: train_one(
            config, method, data(), run.workdir, scope, callbacks
        ),
        show=("test_error",),
        name=f"CIFAR: {config.dataset}"
        + (" (synthetic data)" if config.data == "synthetic" else ""),
        learning_rate=f"lr {config.scaled_learning_rate():g}",
        keep_earlier=True,
    )
    table = report(config, runs, run.workdir)
    return run.finish(
        {
            "metric": "test error (%)",
            "dataset": config.dataset,
            **scale,
            "learning_rate": config.scaled_learning_rate(),
            "runs": runs,
            "paper": dict(zip(("erm", "mixup"), PAPER_FIGURE3A.get(
                (config.dataset, config.model), (None, None)), strict=True)),
        },
        table=table,
        files=["results.csv", "figure3b.png", "history.csv"],
    )


main = cli.command(RECIPE, CIFARConfig, train, description=__doc__)


if __name__ == "__main__":
    main()
