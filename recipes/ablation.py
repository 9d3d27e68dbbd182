"""Ablation studies of mixup (paper section 3.8, Table 5).

Every row of Table 5, each with weight decay 1e-4 and 5e-4: ERM; mixup with
random pairs over all classes (AC + RP) and with nearest-neighbour pairs
(AC + KNN); mixing latent representations (Layer 1-5); mixing inputs only,
the target being the one-hot label of the closer example (SC + KNN as in
SMOTE, AC + KNN, SC + RP, AC + RP); label smoothing; mixed inputs (closer
example's label) + label smoothing; Gaussian input noise. Reported: the
median test error of the last 10 epochs.

    python -m recipes.ablation --dataset digits     # laptop CPU, minutes
    python -m recipes.ablation --dataset cifar10    # the paper: GPU, days
    python -m recipes.ablation --dataset digits --rows erm mixup-ac-rp

The paper's setting (section 3.2, CIFAR-10): PreAct ResNet-18, 200 epochs of
minibatches of 128, SGD with momentum 0.9, learning rate 0.1 divided by 10
after 100 and 150 epochs, standard augmentation (pad 4, crop, flip), alpha 1,
k = 200 neighbours. `--dataset digits` (scikit-learn's Optical Digits, 8x8,
1437 train / 360 test images) runs the same rows on `models.small_cnn` with
the robustness recipes' digits setting: 30 epochs of minibatches of 64,
learning rate 0.02 divided by 10 after 15 and 23 epochs, no augmentation,
k = 10 neighbours; its mixing positions 1, 2 and 3 (after stages 1 and 2,
and before the classifier) stand for Layer 1, 2 and 5; Layers 3 and 4 have
no counterpart there.

Interpretations where the paper is terse: "mix inputs + label smoothing"
mixes inputs as "mix inputs only" does (AC + RP, the closer example's
label) and smooths that label; label smoothing is Keras's eps/K (the
paper's eps/10 with 10 classes); Gaussian noise is added to the normalised
images; the KNN tables use squared Euclidean distances between normalised,
unaugmented training images.
"""

from __future__ import annotations

import csv
import dataclasses
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_mixup
from recipes import common, images, models

RECIPE = "ablation"
DATASETS = ("cifar10", "digits", "synthetic")
WEIGHT_DECAYS = (1e-4, 5e-4)


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of Table 5 and how to train it.

    inputs: "none" (ERM inputs), "mix" (mixed inputs), "latent" (a MixUp
    layer inside the model at `layer`) or "noise" (Gaussian noise `sigma`).
    """

    id: str
    method: str
    spec: str
    paper: tuple[float, float]  # test error (%) at weight decay 1e-4, 5e-4
    inputs: str = "none"
    pairing: str = "random"  # "random", "same_class", "knn_all", "knn_class"
    target: str = "mixed"
    label_smoothing: float = 0.0
    layer: int | None = None
    sigma: float = 0.0


ROWS = (
    Row("erm", "ERM", "", (5.53, 5.18)),
    Row("mixup-ac-rp", "mixup", "AC + RP", (4.24, 4.68), inputs="mix"),
    Row("mixup-ac-knn", "mixup", "AC + KNN", (4.98, 5.26), inputs="mix",
        pairing="knn_all"),
    *(
        Row(f"latent-layer{k}", "mix labels and latent representations "
            "(AC + RP)", f"Layer {k}", paper, inputs="latent", layer=k)
        for k, paper in zip(range(1, 6), [(4.44, 4.51), (4.56, 4.61),
                                          (5.39, 5.55), (5.95, 5.43),
                                          (5.39, 5.15)])
    ),
    Row("inputs-sc-knn", "mix inputs only", "SC + KNN (SMOTE)", (5.45, 5.52),
        inputs="mix", pairing="knn_class", target="closer"),
    Row("inputs-ac-knn", "mix inputs only", "AC + KNN", (5.43, 5.48),
        inputs="mix", pairing="knn_all", target="closer"),
    Row("inputs-sc-rp", "mix inputs only", "SC + RP", (5.23, 5.55),
        inputs="mix", pairing="same_class", target="closer"),
    Row("inputs-ac-rp", "mix inputs only", "AC + RP", (5.17, 5.72),
        inputs="mix", target="closer"),
    *(
        Row(f"ls-{eps:g}", "label smoothing", f"eps = {eps:g}", paper,
            label_smoothing=eps)
        for eps, paper in [(0.05, (5.25, 5.02)), (0.1, (5.33, 5.17)),
                           (0.2, (5.34, 5.06))]
    ),
    *(
        Row(f"mix-ls-{eps:g}", "mix inputs + label smoothing (AC + RP)",
            f"eps = {eps:g}", paper, inputs="mix", target="closer",
            label_smoothing=eps)
        for eps, paper in [(0.05, (5.02, 5.40)), (0.1, (5.08, 5.09)),
                           (0.2, (4.98, 5.06)), (0.4, (5.25, 5.39))]
    ),
    *(
        Row(f"noise-{sigma:g}", "add Gaussian noise to inputs",
            f"sigma = {sigma:g}", paper, inputs="noise", sigma=sigma)
        for sigma, paper in [(0.05, (5.53, 5.04)), (0.1, (6.41, 5.86)),
                             (0.2, (7.16, 7.24))]
    ),
)
ROWS_BY_ID = {row.id: row for row in ROWS}
# small_cnn's mixing positions for the paper's Layer k (digits, synthetic).
SMALL_CNN_LAYERS = {1: 1, 2: 2, 5: 3}

# Per-dataset defaults of the fields left at None.
DEFAULTS = {
    "cifar10": {"epochs": 200, "milestones": (100, 150), "batch_size": 128,
                "lr": 0.1, "knn_k": 200},
    # The robustness recipes' digits setting (the paper's schedule shape in
    # 30 epochs, about 25 s a run on a 2-core CPU). Measured: at the paper's
    # lr 0.1 and batch 128 the mixup run's test error was 46-56% at epochs
    # 5-7 and 20% at epoch 10, and ended at 2.5-3.1% against 0.6% here
    # (ERM 1.4-1.7% against 0.3-0.4%).
    "digits": {"epochs": 30, "milestones": (15, 23), "batch_size": 64,
               "lr": 0.02, "knn_k": 10},
    "synthetic": {"epochs": 2, "milestones": (1,), "batch_size": 32,
                  "lr": 0.1, "knn_k": 3},
}
# A row with KNN pairs and one with a latent MixUp layer (a MixUpModel).
SMOKE_ROWS = ("mixup-ac-knn", "latent-layer2")


@dataclasses.dataclass(frozen=True)
class AblationConfig(common.RecipeConfig):
    """Ablation studies of mixup on CIFAR-10 or Optical Digits (Table 5)."""

    dataset: str = common.option(
        "digits",
        "cifar10 (the paper; tensorflow-datasets), digits (scikit-learn's "
        "Optical Digits, offline) or synthetic (random images, for tests)",
        smoke="synthetic",
    )
    data_dir: str | None = common.option(
        None, "tensorflow-datasets data dir (cifar10)", resumable=True,
        metavar="DIR",
    )
    rows: tuple[str, ...] = common.option(
        (),
        "Table 5 rows to run (default: all): " + " ".join(ROWS_BY_ID),
        smoke=SMOKE_ROWS,
        resumable=True,
        metavar="ROW",
    )
    weight_decays: tuple[float, ...] = common.option(
        WEIGHT_DECAYS, "weight decays (paper: 1e-4 5e-4)", smoke=(5e-4,),
        resumable=True,
    )
    seeds: int = common.option(
        1, "repeats: seeds seed .. seed+N-1", resumable=True, metavar="N"
    )
    alpha: float = common.option(1.0, "mixup alpha (paper: 1)")
    epochs: int | None = common.option(
        None, "epochs (default: cifar10 200, digits 30)"
    )
    milestones: tuple[int, ...] | None = common.option(
        None,
        "epochs after which the learning rate is divided by 10 (default: "
        "cifar10 100 150, digits 15 23)",
        metavar="EPOCH",
    )
    lr: float | None = common.option(
        None, "initial learning rate (default: cifar10 0.1 as the paper, "
        "digits 0.02)"
    )
    momentum: float = common.option(0.9, "SGD momentum")
    batch_size: int | None = common.option(
        None, "minibatch size (default: cifar10 128 as the paper, digits 64)"
    )
    knn_k: int | None = common.option(
        None,
        "nearest neighbours per training example (default: cifar10 200 as "
        "the paper, digits 10: about the paper's 4% of a class)",
    )
    last_epochs: int = common.option(
        10, "the reported error is the median over the last N epochs",
        metavar="N",
    )
    limit_train: int | None = common.option(
        None, "use only the first N training examples", smoke=256,
        metavar="N",
    )
    limit_test: int | None = common.option(
        None, "use only the first N test examples", smoke=64, metavar="N"
    )
    fit_verbose: int = common.option(
        0, "verbosity of each fit (0, 1 or 2)", resumable=True
    )

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(
                f"--dataset must be one of {', '.join(DATASETS)}, got "
                f"{self.dataset!r}"
            )
        for name, value in DEFAULTS[self.dataset].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if not self.rows:
            object.__setattr__(self, "rows", self.available_rows())
        unknown = [r for r in self.rows if r not in ROWS_BY_ID]
        if unknown:
            raise ValueError(
                f"unknown row(s) {', '.join(unknown)}; choose from "
                f"{', '.join(ROWS_BY_ID)}"
            )
        missing = [r for r in self.rows if r not in self.available_rows()]
        if missing:
            raise ValueError(
                f"row(s) {', '.join(missing)} have no counterpart on "
                f"{self.dataset}'s small CNN (its latent positions stand for "
                f"Layer 1, 2 and 5)"
            )
        if len(set(self.rows)) != len(self.rows):
            raise ValueError(f"--rows lists a row twice: {self.rows}")
        if not self.weight_decays or any(w < 0 for w in self.weight_decays):
            raise ValueError(
                f"--weight-decays must be numbers >= 0, got {self.weight_decays}"
            )
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        if not self.alpha > 0:
            raise ValueError(f"--alpha must be > 0, got {self.alpha}")
        if self.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.epochs}")
        if any(not 1 <= m < self.epochs for m in self.milestones) or list(
            self.milestones
        ) != sorted(set(self.milestones)):
            raise ValueError(
                f"--milestones must be increasing epochs in [1, {self.epochs}), "
                f"got {self.milestones}"
            )
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.knn_k < 1:
            raise ValueError(f"--knn-k must be >= 1, got {self.knn_k}")
        if not 1 <= self.last_epochs:
            raise ValueError(f"--last-epochs must be >= 1, got {self.last_epochs}")

    def available_rows(self) -> tuple[str, ...]:
        if self.dataset == "cifar10":
            return tuple(ROWS_BY_ID)
        return tuple(
            row.id for row in ROWS
            if row.inputs != "latent" or row.layer in SMALL_CNN_LAYERS
        )

    def seed_list(self) -> list[int]:
        return list(range(self.seed, self.seed + self.seeds))


# ----------------------------------------------------------------------- data


def load_data(config: AblationConfig) -> images.ImageArrays:
    if config.dataset == "synthetic":
        return images.synthetic_image_arrays(
            (8, 8, 1), 10, n_train=config.limit_train or 256,
            n_test=config.limit_test or 64, seed=config.seed,
        )
    return images.load_image_arrays(
        config.dataset, data_dir=config.data_dir,
        limit_train=config.limit_train, limit_test=config.limit_test,
    )


def neighbour_table(
    data: images.ImageArrays, k: int, same_class: bool, workdir: Path
) -> np.ndarray:
    """The k nearest training neighbours of every training image (squared
    Euclidean on the normalised pixels), computed once per workdir."""
    path = workdir / f"neighbours_{'class' if same_class else 'all'}_k{k}.npy"
    if path.exists():
        table = np.load(path)
        if table.shape == (len(data.y_train), k):
            return table
    smallest = int(np.bincount(data.y_train).min())
    if same_class and k >= smallest:
        raise common.RecipeError(
            f"--knn-k {k} needs more than {k} training examples in every class "
            f"for same-class neighbours; the smallest class has {smallest}: "
            f"lower --knn-k"
        )
    pixels = (data.x_train.astype(np.float32) / 255.0 - data.mean) / data.std
    start = time.perf_counter()
    table = keras_mixup.nearest_neighbours(
        pixels, k, labels=data.y_train if same_class else None
    )
    print(
        f"neighbour table ({'same class' if same_class else 'all classes'}, "
        f"k={k}) in {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    np.save(path, table)
    return table


def _augment_fn(dataset: str):
    """Per-example augmentation: the standard CIFAR one on cifar10 (as the
    paper's section 3.2), none on the 8x8 digits."""
    import tensorflow as tf

    if dataset != "cifar10":
        return None

    def augment(image):
        # A stateful draw of the stateless augmentation's seed: the
        # neighbour pipeline's per-example hook has no seed stream of its own.
        seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
        return images.cifar_augment(image, seed)

    return augment


def train_pipeline(
    data: images.ImageArrays,
    row: Row,
    config: AblationConfig,
    seed: int,
    tables: dict[str, np.ndarray],
):
    """(normalised images, float32 targets) batches for one row."""
    import tensorflow as tf

    augment = _augment_fn(config.dataset)

    def preprocess(image, label):
        if augment is not None:
            image = augment(image)
        return images.normalize_images(image, data.mean, data.std), label

    alpha = config.alpha if row.inputs == "mix" else 0.0
    y = data.y_train.astype(np.int32)
    if row.pairing.startswith("knn"):
        ds = keras_mixup.neighbour_mixup_dataset(
            data.x_train, y, tables[row.pairing],
            batch_size=config.batch_size, alpha=alpha,
            num_classes=data.num_classes,
            label_smoothing=row.label_smoothing, target=row.target,
            preprocess=preprocess, drop_remainder=True, seed=seed,
        )
    else:
        ds = tf.data.Dataset.from_tensor_slices((data.x_train, y))
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(config.batch_size, drop_remainder=True)
        ds = ds.map(keras_mixup.mixup_map(
            alpha, num_classes=data.num_classes,
            label_smoothing=row.label_smoothing, pairing=row.pairing,
            target=row.target, seed=seed,
        ))
    if row.inputs == "noise":
        sigma = row.sigma
        # On the normalised images, the scale the network sees.
        ds = ds.map(lambda x, t: (
            x + tf.random.normal(tf.shape(x), stddev=sigma, seed=seed), t))
    return ds.prefetch(tf.data.AUTOTUNE)


# ------------------------------------------------------------------- training


def build_model(
    row: Row, config: AblationConfig, data: images.ImageArrays, wd: float,
    seed: int,
) -> keras.Model:
    latent = row.inputs == "latent"
    kwargs = {"weight_decay": wd}
    if latent:
        kwargs.update(mixup_alpha=config.alpha, mixup_seed=seed)
    if config.dataset == "cifar10":
        if latent:
            kwargs["mixup_at"] = (row.layer,)
        model = models.preact_resnet18(data.image_shape, data.num_classes,
                                       **kwargs)
    else:
        if latent:
            kwargs["mixup_at"] = (SMALL_CNN_LAYERS[row.layer],)
        # PyTorch's BatchNorm running averages (Keras momentum 0.9), as the
        # paper's code and preact_resnet18 have: Keras's 0.99 averages over
        # ~100 steps, several of digits' short epochs, so the last 10 epochs'
        # test error would partly measure the averages' lag behind the
        # weights (seen at batch 128: it kept falling at lr 0.001).
        model = models.small_cnn(data.image_shape, data.num_classes,
                                 batchnorm_momentum=0.9, **kwargs)
    if not latent:
        return model
    wrapped = keras_mixup.MixUpModel(model, seed=seed)
    # Built before fit: BackupAndRestore restores into built models only.
    wrapped(np.zeros((1, *data.image_shape), "float32"), training=False)
    return wrapped


def unit_id(row_id: str, wd: float, seed: int) -> str:
    return f"{row_id}_wd{wd:g}_seed{seed}"


def read_test_errors(history_path: Path) -> list[float]:
    """Test error (%) per epoch from a unit's history.csv; a resumed run may
    have logged an epoch twice (killed between the log and the checkpoint):
    the last line of an epoch wins."""
    by_epoch: dict[int, float] = {}
    with open(history_path, newline="") as file:
        for line in csv.DictReader(file):
            by_epoch[int(line["epoch"])] = 100.0 * (
                1.0 - float(line["val_categorical_accuracy"])
            )
    return [by_epoch[e] for e in sorted(by_epoch)]


def train_one(
    row: Row, wd: float, seed: int, config: AblationConfig,
    data: images.ImageArrays, tables: dict[str, np.ndarray], workdir: Path,
) -> dict[str, Any]:
    """Train one (row, weight decay, seed); a killed fit resumes from its
    last finished epoch (checkpoint in the unit's directory)."""
    unit_dir = workdir / "units" / unit_id(row.id, wd, seed)
    unit_dir.mkdir(parents=True, exist_ok=True)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_model(row, config, data, wd, seed)
    steps = len(data.y_train) // config.batch_size
    if steps < 1:
        raise common.RecipeError(
            f"--batch-size {config.batch_size} is larger than the "
            f"{len(data.y_train)} training examples"
        )
    schedule = common.StepDecay(config.lr, config.milestones, steps)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=config.momentum),
        loss="categorical_crossentropy",
        metrics=["categorical_accuracy"],
    )
    test = images.eval_dataset(
        data.x_test, data.y_test, batch_size=256, mean=data.mean,
        std=data.std, num_classes=data.num_classes,
    )
    tags = {"row": row.id, "weight_decay": wd, "seed": seed}
    start = time.perf_counter()
    model.fit(
        train_pipeline(data, row, config, seed, tables),
        epochs=config.epochs,
        shuffle=False,  # the pipeline shuffles
        validation_data=test,
        verbose=config.fit_verbose,
        callbacks=[
            common.backup_and_restore(unit_dir),
            common.history_logger(unit_dir, **tags),
        ],
    )
    errors = read_test_errors(unit_dir / "history.csv")
    last = errors[-config.last_epochs:]
    return {
        **tags,
        "median_test_error": float(statistics.median(last)),
        "final_test_error": errors[-1],
        "test_errors": errors,
        "seconds": time.perf_counter() - start,
    }


# ------------------------------------------------------------------ reporting


def _label(row: Row) -> str:
    return f"{row.method}: {row.spec}" if row.spec else row.method


def summarize(config: AblationConfig, rows: common.ResultRows) -> list[dict]:
    summary = []
    for row_id in config.rows:
        row = ROWS_BY_ID[row_id]
        entry: dict[str, Any] = {"row": row_id, "method": row.method,
                                 "spec": row.spec}
        for wd in config.weight_decays:
            values = [rows.get((row_id, wd, seed))["median_test_error"]
                      for seed in config.seed_list()]
            stats = common.MeanStd.of(values)
            entry[f"wd={wd:g}"] = {"mean": stats.mean, "std": stats.std,
                                   "n": stats.n, "values": values}
            paper = dict(zip(WEIGHT_DECAYS, row.paper)).get(wd)
            entry[f"paper wd={wd:g}"] = paper
        summary.append(entry)
    return summary


def report(config: AblationConfig, summary: list[dict], workdir: Path) -> str:
    """Print Table 5 with the paper's CIFAR-10 numbers beside ours; write
    results.csv and results.png."""
    columns = ["row"]
    for wd in config.weight_decays:
        columns += [f"ours wd={wd:g}", f"paper wd={wd:g}"]
    table_rows = []
    for entry in summary:
        line: dict[str, Any] = {"row": _label(ROWS_BY_ID[entry["row"]])}
        for wd in config.weight_decays:
            ours = entry[f"wd={wd:g}"]
            line[f"ours wd={wd:g}"] = (
                common.MeanStd(ours["mean"], ours["std"], ours["n"])
                if ours["n"] > 1 else ours["mean"]
            )
            line[f"paper wd={wd:g}"] = entry[f"paper wd={wd:g}"]
        table_rows.append(line)
    where = {
        "cifar10": "CIFAR-10, PreAct ResNet-18",
        "digits": "Optical Digits, small CNN",
        "synthetic": "synthetic images, small CNN",
    }[config.dataset]
    title = (
        f"Table 5: median test error (%) of the last {config.last_epochs} of "
        f"{config.epochs} epochs, {where}, {config.seeds} seed(s); paper: "
        f"CIFAR-10, PreAct ResNet-18 (Zhang et al., 2018)"
    )
    text = common.print_table(columns, table_rows, title=title,
                              csv_path=workdir / "results.csv", digits=2)
    reference = None
    if config.dataset == "cifar10":  # the paper's numbers are CIFAR-10's
        reference = {
            f"wd={wd:g}": [entry[f"paper wd={wd:g}"] for entry in summary]
            for wd in config.weight_decays
        }
    common.bar_chart(
        workdir / "results.png",
        [entry["row"] for entry in summary],
        {
            f"wd={wd:g}": [
                common.MeanStd(e[f"wd={wd:g}"]["mean"], e[f"wd={wd:g}"]["std"],
                               e[f"wd={wd:g}"]["n"])
                for e in summary
            ]
            for wd in config.weight_decays
        },
        reference=reference,
        ylabel="median test error (%)",
        title=f"Table 5 ablation, {where}",
    )
    return text


def train(config: AblationConfig, workdir: str | Path) -> dict[str, Any]:
    """Run every (row, weight decay, seed) not yet recorded in the workdir,
    then report over all of them."""
    started = time.perf_counter()
    workdir = common.prepare_workdir(workdir, config, RECIPE)
    rows = common.ResultRows(workdir / "rows.jsonl",
                             ("row", "weight_decay", "seed"))
    units = [(row_id, float(wd), seed) for row_id in config.rows
             for wd in config.weight_decays for seed in config.seed_list()]
    pending = [unit for unit in units if unit not in rows]
    print(
        f"ablation ({config.dataset}): {len(config.rows)} row(s) x "
        f"{len(config.weight_decays)} weight decay(s) x {config.seeds} seed(s)"
        f" = {len(units)} runs; {len(units) - len(pending)} already done in "
        f"{workdir}",
        flush=True,
    )
    data = load_data(config) if pending else None
    tables: dict[str, np.ndarray] = {}
    for row_id, _, _ in pending:
        pairing = ROWS_BY_ID[row_id].pairing
        if pairing.startswith("knn") and pairing not in tables:
            tables[pairing] = neighbour_table(
                data, config.knn_k, pairing == "knn_class", workdir)
    progress = common.progress_bar(len(units), unit_name="run")
    progress.update(len(units) - len(pending))
    for done, (row_id, wd, seed) in enumerate(
        pending, start=len(units) - len(pending) + 1
    ):
        result = train_one(ROWS_BY_ID[row_id], wd, seed, config, data, tables,
                           workdir)
        rows.add(result)
        progress.update(done, [("median_test_error",
                                result["median_test_error"])])

    summary = summarize(config, rows)
    table = report(config, summary, workdir)
    unit_rows = [rows.get(unit) for unit in units]
    results = {
        "recipe": RECIPE,
        "metric": f"median test error (%) of the last {config.last_epochs} "
                  "epochs",
        "dataset": config.dataset,
        "summary": summary,
        "runs": unit_rows,
        "trained_runs": len(pending),
        "skipped_runs": len(units) - len(pending),
        "train_seconds_total": sum(r["seconds"] for r in unit_rows),
        "elapsed_seconds": time.perf_counter() - started,
        "table": table,
    }
    common.write_json(workdir / "results.json", results)
    print(f"wrote {workdir / 'results.json'}, results.csv, results.png, "
          f"rows.jsonl", flush=True)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_cli(RECIPE, AblationConfig, train, argv,
                          description=__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
