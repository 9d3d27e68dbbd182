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
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

import keras

from recipes import common, images, models

RECIPE = "imagenet"
# Goyal et al.'s linear scaling rule: the learning rate is 0.1 per 256 examples.
REFERENCE_BATCH_SIZE = 256
DEFAULT_MILESTONES = {90: (30, 60, 80), 200: (60, 120, 180)}
TRAIN_EXAMPLES = 1_281_167
VALIDATION_EXAMPLES = 50_000

# Model name -> (builder(input_shape, num_classes, weight_decay), paper's name,
# the paper's mixup alpha for it).
MODELS = {
    "resnet50": (
        lambda shape, k, wd: models.resnet(shape, k, depth=50, weight_decay=wd),
        "ResNet-50", 0.2,
    ),
    "resnet101": (
        lambda shape, k, wd: models.resnet(shape, k, depth=101, weight_decay=wd),
        "ResNet-101", 0.2,
    ),
    "resnext101_32x4d": (
        lambda shape, k, wd: models.resnet(
            shape, k, depth=101, groups=32, width_per_group=4, weight_decay=wd
        ),
        "ResNeXt-101 32x4d", 0.4,
    ),
    "resnext101_64x4d": (
        lambda shape, k, wd: models.resnet(
            shape, k, depth=101, groups=64, width_per_group=4, weight_decay=wd
        ),
        "ResNeXt-101 64x4d", 0.4,
    ),
    # Not in the paper: small nets for smoke runs and tests.
    "small_cnn": (
        lambda shape, k, wd: models.small_cnn(
            shape, k, filters=(8, 16), weight_decay=wd
        ),
        "small CNN", 0.2,
    ),
    "resnet14_tiny": (
        lambda shape, k, wd: models.resnet(
            shape, k, depth=14, stem_width=8, weight_decay=wd,
            name="resnet14_tiny",
        ),
        "ResNet-14 (tiny)", 0.2,
    ),
}

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
class ImageNetConfig(images.ClassifierConfig):
    """ERM against mixup on ImageNet-2012 (mixup paper, section 3.1, Table 1)."""

    model: str = common.option(
        "resnet50",
        "resnet50, resnet101, resnext101_32x4d, resnext101_64x4d; "
        "small_cnn and resnet14_tiny (a ResNet-14 with an 8-filter stem) are "
        "small nets for smoke runs",
        smoke="small_cnn",
    )
    method: str = common.option(
        "both", "erm, mixup, or both (ERM then mixup, same seed)", resumable=True
    )
    alpha: float | None = common.option(
        None, "mixup alpha (default: the paper's, 0.2 for ResNets, 0.4 for ResNeXts)"
    )
    epochs: int = common.option(90, "epochs (paper: 90 or 200)", smoke=2)
    milestones: tuple[int, ...] = common.option(
        (),
        "epochs after which the learning rate is divided by 10 (default: "
        "30 60 80 for 90 epochs, 60 120 180 for 200; other --epochs need it)",
        smoke=(1,),
        metavar="EPOCH",
    )
    batch_size: int = common.option(
        1024, "global minibatch size, split over the devices (paper: 1024)", smoke=8
    )
    learning_rate: float = common.option(
        0.1,
        "learning rate per 256 examples (Goyal et al.: 0.1); the peak rate is "
        "this x batch-size / 256, reached by a linear warm-up from this value",
    )
    warmup_epochs: int = common.option(
        5, "epochs of linear learning-rate warm-up (paper: 5)", smoke=1
    )
    weight_decay: float = common.option(1e-4, "weight decay (paper: 1e-4)")
    momentum: float = common.option(0.9, "SGD momentum (paper: 0.9)")
    image_size: int = common.option(
        224, "training crop and evaluation crop size (paper: 224)", smoke=32
    )
    data: str = common.option(
        "tfds",
        "tfds (imagenet2012 through tensorflow-datasets) or synthetic (random "
        "images: throughput only)",
        smoke="synthetic",
    )
    data_dir: str | None = common.option(
        None,
        "tensorflow-datasets data directory holding imagenet2012, prepared or "
        "with the archives in downloads/manual (default: $TFDS_DATA_DIR or "
        "~/tensorflow_datasets)",
        resumable=True,
        metavar="DIR",
    )
    limit_train: int | None = common.option(
        None,
        "use only the first N training images (synthetic: N images, default "
        "1281167)",
        smoke=16,
        metavar="N",
    )
    limit_test: int | None = common.option(
        None,
        "use only the first N validation images (synthetic: N images, default "
        "50000)",
        smoke=8,
        metavar="N",
    )
    shuffle_buffer: int = common.option(
        2_000,
        "decoded images in the tf.data shuffle buffer (about 0.5 MB each; the "
        "files are shuffled too)",
        smoke=16,
        metavar="N",
    )

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(
                f"--model must be one of {', '.join(MODELS)}, got {self.model!r}"
            )
        self.check_shared_options()
        if self.shuffle_buffer < 1:
            raise ValueError(f"--shuffle-buffer must be >= 1, got {self.shuffle_buffer}")
        if not self.milestones and self.epochs not in DEFAULT_MILESTONES:
            raise ValueError(
                f"--epochs {self.epochs} has no default schedule (the paper's are "
                f"for 90 and 200 epochs): give --milestones"
            )
        if self.warmup_epochs < 0:
            raise ValueError(f"--warmup-epochs must be >= 0, got {self.warmup_epochs}")
        if self.schedule_milestones() and (
            self.schedule_milestones()[0] < self.warmup_epochs
        ):
            raise ValueError(
                f"--milestones must come after the {self.warmup_epochs} warm-up "
                f"epochs, got {self.schedule_milestones()}"
            )
        if self.image_size < 32:
            raise ValueError(f"--image-size must be >= 32, got {self.image_size}")

    def mixup_alpha(self) -> float:
        return MODELS[self.model][2] if self.alpha is None else self.alpha

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

    records = common.load_tfds(
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
        raise common.RecipeError(
            f"tensorflow-datasets imagenet2012 {split!r}: unknown number of "
            f"examples; pass --limit-{'train' if training else 'test'}"
        )
    return records, count


def train_one(
    config: ImageNetConfig, method: str, workdir: Path, scope, callbacks=()
) -> dict[str, Any]:
    """Train one net (ERM or mixup) to the end, resuming its checkpoint."""
    alpha = config.mixup_alpha() if method == "mixup" else 0.0
    train_records, n_train = load_records(config, "train")
    eval_records, n_eval = load_records(config, "validation")
    steps = n_train // config.batch_size
    if steps < 1:
        raise common.RecipeError(
            f"--batch-size {config.batch_size} is larger than the {n_train} "
            f"training images"
        )
    train_data = images.imagenet_train_dataset(
        train_records, batch_size=config.batch_size, image_size=config.image_size,
        seed=config.seed, mixup_alpha=alpha, shuffle_buffer=config.shuffle_buffer,
    )
    eval_data = images.imagenet_eval_dataset(
        eval_records, batch_size=config.batch_size, image_size=config.image_size
    )
    schedule = common.StepDecay(
        config.peak_learning_rate(),
        config.schedule_milestones(),
        steps,
        warmup_epochs=config.warmup_epochs,
        warmup_start_lr=config.warmup_start_learning_rate(),
    )
    builder = MODELS[config.model][0]
    shape = (config.image_size, config.image_size, 3)
    start = time.perf_counter()
    fit = images.fit_classifier(
        lambda: builder(shape, images.IMAGENET_CLASSES, config.weight_decay),
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
        top5=True,
        verbose=config.fit_verbose,
        callbacks=callbacks,
    )
    history = workdir / "history.csv"
    top1 = images.test_errors_by_epoch(history, method, "accuracy")
    top5 = images.test_errors_by_epoch(history, method, "top5")
    return {
        "method": method,
        "alpha": alpha,
        "top1_error": top1[-1],
        "top5_error": top5[-1],
        "top1_error_by_epoch": top1,
        "top5_error_by_epoch": top5,
        "epochs": len(top1),
        "resumed_at_epoch": fit["initial_epoch"],
        "train_examples": n_train,
        "validation_examples": n_eval,
        "steps_per_epoch": steps,
        "parameters": fit["parameters"],
        "epoch_seconds": fit["epoch_seconds"],
        "seconds": time.perf_counter() - start,
    }


def _method_label(method: str, alpha: float, source: str | None = None) -> str:
    if method == "erm":
        return f"ERM ({source})" if source else "ERM"
    return f"mixup α={alpha:g}"


def report(config: ImageNetConfig, rows: dict[str, dict], workdir: Path) -> str:
    """Table 1 with our numbers on the row of this run's setting."""
    table_rows = []
    placed = set()
    for model, method, epochs, top1, top5, source in PAPER_TABLE1:
        mine = (
            model == config.model and epochs == config.epochs and source is None
            and method in rows
        )
        alpha = MODELS[model][2]
        row = {
            "model": MODELS[model][1],
            "method": _method_label(method, alpha, source),
            "epochs": epochs,
            "paper top-1": top1,
            "paper top-5": top5,
            "top-1": rows[method]["top1_error"] if mine else None,
            "top-5": rows[method]["top5_error"] if mine else None,
        }
        if mine and rows[method]["alpha"] not in (0.0, alpha):
            row["method"] += f" (ours α={rows[method]['alpha']:g})"
        if mine:
            placed.add(method)
        table_rows.append(row)
    for method, run in rows.items():
        if method not in placed:
            table_rows.append({
                "model": MODELS[config.model][1],
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
    text = common.print_table(
        columns, table_rows, title=title, csv_path=workdir / "results.csv"
    )
    images.plot_error_curves(
        workdir / "top1_error.png",
        {_method_label(method, run["alpha"]): run["top1_error_by_epoch"]
         for method, run in rows.items()},
        ylabel="top-1 validation error (%)",
        title=f"{MODELS[config.model][1]} on {source}",
    )
    return text


def train(
    config: ImageNetConfig, workdir: str | Path, *, callbacks=()
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
    print(
        f"ImageNet ({config.data}): {MODELS[config.model][1]}, {config.epochs} "
        f"epochs, batch {config.batch_size} on {replicas} device(s), lr "
        f"{config.warmup_start_learning_rate():g} -> {config.peak_learning_rate():g} "
        f"over {config.warmup_epochs} epochs, / 10 at epochs "
        f"{' '.join(map(str, config.schedule_milestones()))}, mixup alpha "
        f"{config.mixup_alpha():g}, precision {config.precision}; methods "
        f"{' '.join(config.methods())}"
        f"{'' if pending else ' (all done in ' + str(workdir) + ')'}",
        flush=True,
    )
    for method in pending:
        done.add(train_one(config, method, workdir, scope, callbacks))
    rows = {m: done.get((m,)) for m in config.methods()}
    table = report(config, rows, workdir)
    epoch_seconds = [s for row in rows.values() for s in row["epoch_seconds"][1:]]
    results = {
        "recipe": RECIPE,
        "metric": "validation error (%), top-1 and top-5",
        "model": config.model,
        "data": config.data,
        "replicas": replicas,
        "peak_learning_rate": config.peak_learning_rate(),
        "warmup_start_learning_rate": config.warmup_start_learning_rate(),
        "milestones": list(config.schedule_milestones()),
        "runs": rows,
        # The first epoch of a fit includes compilation.
        "median_epoch_seconds": statistics.median(epoch_seconds)
        if epoch_seconds else None,
        "trained_methods": pending,
        "elapsed_seconds": time.perf_counter() - started,
        "table": table,
    }
    common.write_json(workdir / "results.json", results)
    print(
        f"wrote {workdir / 'results.json'}, results.csv, top1_error.png, history.csv",
        flush=True,
    )
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_cli(RECIPE, ImageNetConfig, train, argv, description=__doc__)


if __name__ == "__main__":
    main()
