"""ImageNet-2012 (paper section 3.1, Table 1): ERM against mixup.

The paper's setting (Goyal et al., 2017, data parallel): ResNet-50,
ResNet-101, ResNeXt-101 32x4d or 64x4d; minibatches of 1,024; SGD with
momentum 0.9 and weight decay 1e-4; the learning rate rises linearly from 0.1
to 0.4 during the first 5 epochs (linear scaling: 0.1 x batch / 256) and is
divided by 10 after epochs 30, 60 and 80 (90 epochs) or 60, 120 and 180 (200
epochs); mixup alpha 0.2 (ResNets) or 0.4 (ResNeXts). Training images get a
random crop of 8%-100% of the area with aspect ratio 3/4-4/3, resized to
224x224, and a random horizontal flip; evaluation the central 224x224 crop of
the image resized to 256 on its shorter side. ERM and mixup of a seed share
the initial weights and the data order.

ImageNet cannot be downloaded automatically: place ILSVRC2012_img_train.tar
and ILSVRC2012_img_val.tar in <data-dir>/downloads/manual (tensorflow-datasets
prepares them on the first run), or pass --data-dir pointing at a prepared
copy.

    python -m recipes.imagenet --data-dir DIR   # ResNet-50, 90 epochs: ERM, mixup
    python -m recipes.imagenet --model resnext101_32x4d --epochs 200 --data-dir DIR
    python -m recipes.imagenet --data synthetic --limit-train 102400  # throughput
    python -m recipes.imagenet --smoke          # a small CNN, synthetic: seconds

Measured here: not run (no GPU, no ImageNet); paper: ResNet-50, 90
epochs, ERM 23.5%, mixup 23.3% top-1. Only the smoke setting runs here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from recipes.lib import (
    cli, harness, images, models, reporting, schedules, settings, training,
)
from recipes.lib.cli import RecipeError
from recipes.lib.data import load_tfds

RECIPE = "imagenet"
# Goyal et al.'s linear scaling rule: the learning rate is 0.1 per 256 examples.
REFERENCE_BATCH_SIZE = 256
DEFAULT_MILESTONES = {90: (30, 60, 80), 200: (60, 120, 180)}
TRAIN_EXAMPLES = 1_281_167
VALIDATION_EXAMPLES = 50_000

Architecture = models.Architecture
MODELS = {
    "resnet50": Architecture("ResNet-50", models.resnet, dict(depth=50)),
    "resnet101": Architecture("ResNet-101", models.resnet, dict(depth=101)),
    "resnext101_32x4d": Architecture(
        "ResNeXt-101 32x4d", models.resnet,
        dict(depth=101, groups=32, width_per_group=4),
    ),
    "resnext101_64x4d": Architecture(
        "ResNeXt-101 64x4d", models.resnet,
        dict(depth=101, groups=64, width_per_group=4),
    ),
    # Not in the paper: small nets for smoke runs and tests.
    "small_cnn": Architecture("small CNN", models.small_cnn, dict(filters=(8, 16))),
    "resnet14_tiny": Architecture(
        "ResNet-14 (tiny)", models.resnet,
        dict(depth=14, stem_width=8, name="resnet14_tiny"),
    ),
}
# The paper's mixup alpha: 0.2 for the ResNets, 0.4 for the ResNeXts.
PAPER_ALPHA = {"resnext101_32x4d": 0.4, "resnext101_64x4d": 0.4}
DEFAULT_ALPHA = 0.2

# Table 1: (model, method, epochs, top-1 error, top-5 error, source); None
# where the paper has no number.
PAPER_TABLE1 = (
    ("resnet50", "erm", 90, 23.5, None, "Goyal et al., 2017"),
    ("resnet50", "mixup", 90, 23.3, 6.6, None),
    ("resnet101", "erm", 90, 22.1, None, "Goyal et al., 2017"),
    ("resnet101", "mixup", 90, 21.5, 5.6, None),
    ("resnext101_32x4d", "erm", 100, 21.2, None, "Xie et al., 2016"),
    ("resnext101_32x4d", "erm", 90, 21.2, 5.6, None),
    ("resnext101_32x4d", "mixup", 90, 20.7, 5.3, None),
    ("resnext101_64x4d", "erm", 100, 20.4, 5.3, "Xie et al., 2016"),
    ("resnext101_64x4d", "mixup", 90, 19.8, 4.9, None),
    ("resnet50", "erm", 200, 23.6, 7.0, None),
    ("resnet50", "mixup", 200, 22.1, 6.1, None),
    ("resnet101", "erm", 200, 22.0, 6.1, None),
    ("resnet101", "mixup", 200, 20.8, 5.4, None),
    ("resnext101_32x4d", "erm", 200, 21.3, 5.9, None),
    ("resnext101_32x4d", "mixup", 200, 20.1, 5.0, None),
)


@dataclasses.dataclass(frozen=True)
class ImageNetConfig(training.ScaleConfig):
    """ERM against mixup on ImageNet-2012 (mixup paper, section 3.1, Table 1)."""

    model: str = cli.option(
        "resnet50",
        "resnet50, resnet101, resnext101_32x4d, resnext101_64x4d; "
        "small_cnn and resnet14_tiny (a ResNet-14 with an 8-filter stem) are "
        "small nets for smoke runs",
        smoke="small_cnn",
        choices=tuple(MODELS),
    )
    alpha: float | None = cli.option(
        None,
        "mixup alpha (default: the paper's, 0.2 for ResNets, 0.4 for ResNeXts)",
        above=0,
    )
    epochs: int = cli.option(90, "epochs (paper: 90 or 200)", smoke=2, minimum=1)
    milestones: tuple[int, ...] = cli.option(
        (),
        "epochs after which the learning rate is divided by 10 (default: "
        "30 60 80 for 90 epochs, 60 120 180 for 200; other --epochs need it)",
        smoke=(1,),
        metavar="EPOCH",
    )
    batch_size: int = cli.option(
        1024, "global minibatch size, split over the devices (paper: 1024)",
        smoke=8, minimum=1,
    )
    learning_rate: float = cli.option(
        0.1,
        "learning rate per 256 examples (Goyal et al.: 0.1); the peak rate is "
        "this x batch-size / 256, reached by a linear warm-up from this value",
        above=0,
    )
    warmup_epochs: int = cli.option(
        5, "epochs of linear learning-rate warm-up (paper: 5)", smoke=1, minimum=0
    )
    image_size: int = cli.option(
        224, "training crop and evaluation crop size (paper: 224)", smoke=32,
        minimum=32,
    )
    limit_train: int | None = training.limit_option(
        "training", smoke=16, synthetic_size=TRAIN_EXAMPLES
    )
    limit_test: int | None = training.limit_option(
        "validation", smoke=8, synthetic_size=VALIDATION_EXAMPLES
    )
    shuffle_buffer: int = cli.option(
        2_000,
        "decoded images in the tf.data shuffle buffer (about 0.5 MB each; the "
        "files are shuffled too)",
        smoke=16,
        metavar="N",
        minimum=1,
    )

    def validate(self):
        settings.check_milestones(self.milestones)
        if not self.milestones and self.epochs not in DEFAULT_MILESTONES:
            raise ValueError(
                f"--epochs {self.epochs} has no default schedule (the paper's are "
                f"for 90 and 200 epochs): give --milestones"
            )
        if self.schedule_milestones() and (
            self.schedule_milestones()[0] < self.warmup_epochs
        ):
            raise ValueError(
                f"--milestones must come after the {self.warmup_epochs} warm-up "
                f"epochs, got {self.schedule_milestones()}"
            )

    def architecture(self) -> models.Architecture:
        return MODELS[self.model]

    def mixup_alpha(self) -> float:
        if self.alpha is None:
            return PAPER_ALPHA.get(self.model, DEFAULT_ALPHA)
        return self.alpha

    def schedule_milestones(self) -> tuple[int, ...]:
        return self.milestones or DEFAULT_MILESTONES.get(self.epochs, ())

    def peak_learning_rate(self) -> float:
        return self.learning_rate * self.batch_size / REFERENCE_BATCH_SIZE

    def warmup_start_learning_rate(self) -> float:
        # Goyal et al. warm up from the batch-256 rate; a smaller batch has a
        # lower peak and needs no warm-up.
        return min(self.learning_rate, self.peak_learning_rate())


def load_records(config: ImageNetConfig, split: str):
    """(tf.data of (uint8 image, int label) records, number of records)."""
    training = split == "train"
    limit = config.limit_train if training else config.limit_test
    if config.data == "synthetic":
        count = limit or (TRAIN_EXAMPLES if training else VALIDATION_EXAMPLES)
        records = images.synthetic_imagenet_records(
            count, seed=config.seed + (0 if training else 1)
        )
        return records, count
    import tensorflow_datasets as tfds

    records = load_tfds(
        "imagenet2012",
        split,
        data_dir=config.data_dir,
        as_supervised=True,
        shuffle_files=training,
        read_config=tfds.ReadConfig(shuffle_seed=config.seed),
    )
    if limit is not None:
        records = records.take(limit)
    count = int(records.cardinality())
    if count < 0:
        raise RecipeError(
            f"tensorflow-datasets imagenet2012 {split!r}: unknown number of "
            f"examples; pass --limit-{'train' if training else 'test'}"
        )
    return records, count


def train_one(
    config: ImageNetConfig, method: str, workdir: Path, scope, callbacks=()
) -> dict[str, Any]:
    """Train one net (ERM or mixup) to the end, resuming its checkpoint."""
    alpha = 0.0 if method == "erm" else config.mixup_alpha()
    train_records, n_train = load_records(config, "train")
    eval_records, n_eval = load_records(config, "validation")
    steps = n_train // config.batch_size
    if steps < 1:
        raise RecipeError(
            f"--batch-size {config.batch_size} is larger than the {n_train} "
            f"training images"
        )
    train_data = images.imagenet_train_dataset(
        train_records, batch_size=config.batch_size, image_size=config.image_size,
        seed=config.seed, method="mixup" if method == "erm" else method,
        alpha=alpha, shuffle_buffer=config.shuffle_buffer,
    )
    eval_data = images.imagenet_eval_dataset(
        eval_records, batch_size=config.batch_size, image_size=config.image_size
    )
    schedule = schedules.step_decay(
        config.peak_learning_rate(),
        config.schedule_milestones(),
        steps,
        warmup_epochs=config.warmup_epochs,
        warmup_start_lr=config.warmup_start_learning_rate(),
    )
    fit, record = training.fit_method(
        config, method, alpha, (config.image_size, config.image_size, 3),
        images.IMAGENET_CLASSES, train_data=train_data, eval_data=eval_data,
        schedule=schedule, steps_per_epoch=steps, workdir=workdir, scope=scope,
        callbacks=callbacks, top5=True,
    )
    top1, top5 = fit.test_errors, fit.top5_errors
    return {
        **record,
        "top1_error": top1[-1],
        "top5_error": top5[-1],
        "top1_error_by_epoch": top1,
        "top5_error_by_epoch": top5,
        "train_examples": n_train,
        "validation_examples": n_eval,
    }


def _method_label(method: str, alpha: float, source: str | None = None) -> str:
    """The table's method: the reference ERM rows name their source."""
    label = reporting.method_label(0.0 if method == "erm" else alpha)
    return f"{label} ({source})" if source else label


def report(config: ImageNetConfig, rows: dict[str, dict], workdir: Path) -> str:
    """Table 1 with our numbers on the row of this run's setting."""
    table_rows = []
    placed = set()
    for model, method, epochs, top1, top5, source in PAPER_TABLE1:
        mine = (
            model == config.model and epochs == config.epochs and source is None
            and method in rows
        )
        alpha = PAPER_ALPHA.get(model, DEFAULT_ALPHA)
        row = {
            "model": MODELS[model].title,
            "method": _method_label(method, alpha, source),
            "epochs": epochs,
            "paper top-1": top1,
            "paper top-5": top5,
            "top-1": rows[method]["top1_error"] if mine else None,
            "top-5": rows[method]["top5_error"] if mine else None,
        }
        if mine and rows[method]["alpha"] not in (0.0, alpha):
            row["method"] += f", ours α = {rows[method]['alpha']:g}"
        if mine:
            placed.add(method)
        table_rows.append(row)
    for method, run in rows.items():
        if method not in placed:
            table_rows.append({
                "model": MODELS[config.model].title,
                "method": _method_label(method, run["alpha"]),
                "epochs": config.epochs,
                "top-1": run["top1_error"],
                "top-5": run["top5_error"],
            })
    source = "synthetic data" if config.data == "synthetic" else "ImageNet-2012"
    title = (
        f"Validation error (%) on {source}, {config.image_size}x"
        f"{config.image_size} centre crops (ours: this run, last epoch); paper: "
        f"Table 1 of Zhang et al. (2018)"
    )
    columns = ["model", "method", "epochs", "top-1", "top-5", "paper top-1",
               "paper top-5"]
    text = reporting.print_table(
        columns, table_rows, title=title, csv_path=workdir / "results.csv"
    )
    reporting.plot_error_curves(
        workdir / "top1_error.png",
        {_method_label(method, run["alpha"]): run["top1_error_by_epoch"]
         for method, run in rows.items()},
        ylabel="top-1 validation error (%)",
        title=f"{MODELS[config.model].title} on {source}",
    )
    return text


def train(
    config: ImageNetConfig, workdir: str | Path, *, callbacks=()
) -> dict[str, Any]:
    """ERM and/or mixup (each --method not yet finished; a killed fit resumes
    at its last epoch), then Table 1 and the top-1 curves. `callbacks` run in
    every fit after the recipe's own."""
    run = harness.Run(RECIPE, config, workdir, ("method",))
    runs, scale = training.train_at_scale(
        run, config,
        lambda method, scope: train_one(config, method, run.workdir, scope, callbacks),
        show=("top1_error",),
        name=f"ImageNet ({config.data})",
        learning_rate=f"mixup alpha {config.mixup_alpha():g}, lr "
        f"{config.warmup_start_learning_rate():g} -> {config.peak_learning_rate():g} "
        f"over {config.warmup_epochs} epochs,",
    )
    table = report(config, runs, run.workdir)
    return run.finish(
        {
            "metric": "validation error (%), top-1 and top-5",
            **scale,
            "peak_learning_rate": config.peak_learning_rate(),
            "warmup_start_learning_rate": config.warmup_start_learning_rate(),
            "runs": runs,
        },
        table=table,
        files=["results.csv", "top1_error.png", "history.csv"],
    )


main = cli.command(RECIPE, ImageNetConfig, train, description=__doc__)


if __name__ == "__main__":
    main()
