"""Ablation studies of mixup (paper section 3.8, Table 5).

Every row of Table 5, each with weight decay 1e-4 and 5e-4: ERM; mixup with
random pairs over all classes (AC + RP) and with nearest-neighbour pairs
(AC + KNN); mixing latent representations (Layer 1-5); mixing inputs only,
the target being the one-hot label of the closer example (SC + KNN as in
SMOTE, AC + KNN, SC + RP, AC + RP); label smoothing; mixed inputs (closer
example's label) + label smoothing; Gaussian input noise. Reported: the
median test error of the last 10 epochs (3 on Fashion-MNIST).

    python -m recipes.ablation                      # Fashion-MNIST, CPU hours
    python -m recipes.ablation --dataset digits     # offline, CPU minutes
    python -m recipes.ablation --dataset cifar10    # the paper: GPU, days
    python -m recipes.ablation --dataset digits --rows erm mixup-ac-rp

The default runs Fashion-MNIST's CPU-scale setting (settings.SETTINGS: the
first 6,000 training and 5,000 test images, 10 epochs of minibatches of
128, lr 0.05 divided by 10 after epochs 5 and 8, k = 24 neighbours, the
median of the last 3 epochs): runs of about 3.3 min each on one core, 22
for the 11 rows of recipes/README.md's Fashion-MNIST table (--rows), 40 for
all 20 rows the small CNN has. `--dataset digits` takes about 17 min a
seed for all rows.

The paper's setting (section 3.2, CIFAR-10): PreAct ResNet-18, 200 epochs of
minibatches of 128, SGD with momentum 0.9, learning rate 0.1 divided by 10
after 100 and 150 epochs, standard augmentation (pad 4, crop, flip), alpha 1,
k = 200 neighbours. `--dataset digits` (scikit-learn's Optical Digits, 8x8,
1437 train / 360 test images) runs the same rows on `models.small_cnn` with
the robustness recipes' digits setting: 30 epochs of minibatches of 64,
learning rate 0.02 divided by 10 after 15 and 23 epochs, no augmentation,
k = 10 neighbours. On the small CNN (every data set but cifar10 and
cifar100) its mixing positions 1, 2 and 3 (after stages 1 and 2, and before
the classifier) stand for Layer 1, 2 and 5; Layers 3 and 4 have no
counterpart there.

Interpretations where the paper is terse: "mix inputs + label smoothing"
mixes inputs as "mix inputs only" does (AC + RP, the closer example's
label) and smooths that label; label smoothing is Keras's eps/K (the
paper's eps/10 with 10 classes); Gaussian noise is added to the normalised
images; the KNN tables use squared Euclidean distances between normalised,
unaugmented training images.

Measured here (recipes/README.md), weight decay 1e-4: the default
(Fashion-MNIST, 11 rows, 1 seed) ERM 12.04%, mixup 13.66%, every mixing
row behind ERM in 10 epochs, 71 min for 22 runs; digits (3 seeds) ERM
0.42%, mixup 0.69% (the rows are within noise), 17 min a seed; paper
(CIFAR-10) ERM 5.53%, mixup 4.24%.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_mixup
from recipes.lib import cli, datasets, harness, images, models, reporting, settings
from recipes.lib.cli import RecipeError

RECIPE = "ablation"
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
# small_cnn's mixing positions for the paper's Layer k (every data set but
# cifar10 and cifar100).
SMALL_CNN_LAYERS = {1: 1, 2: 2, 5: 3}

# Nearest neighbours per training example, by data set: the paper's 200 on
# CIFAR-10 (4% of a class of 5,000); 10 on digits (7% of a class of about
# 144); 24 on Fashion-MNIST (4% of a class of 600 in its setting's 6,000
# training images); on a path (the user's data) 4% of the average class of
# the training images used, at least 1 (`AblationConfig.neighbours`). The
# training setting is the robustness recipes' (settings.SETTINGS): on digits
# the paper's schedule shape in 30 epochs, about 25 s a run on a 2-core CPU.
# Measured: at the paper's lr 0.1 and batch 128 the mixup run's test error
# was 46-56% at epochs 5-7 and 20% at epoch 10, and ended at 2.5-3.1%
# against 0.6% with the digits setting (ERM 1.4-1.7% against 0.3-0.4%).
KNN_K = {"cifar10": 200, "digits": 10, "fashion_mnist": 24, "synthetic": 3}
KNN_CLASS_FRACTION = 0.04
# The reported error is the median test error of the last N epochs: the
# paper's 10 (of 200, all after its last milestone, 150); 3 of
# Fashion-MNIST's 10 (epochs 8 to 10: the two after its last milestone, 8,
# where the learning rate is lr / 100, and the last one at lr / 10).
LAST_EPOCHS = {"fashion_mnist": 3}
DEFAULT_LAST_EPOCHS = 10
# A row with KNN pairs and one with a latent MixUp layer (a MixUpModel).
SMOKE_ROWS = ("mixup-ac-knn", "latent-layer2")


@dataclasses.dataclass(frozen=True)
class AblationConfig(cli.RecipeConfig):
    """Ablation studies of mixup (Table 5) on CIFAR-10, Fashion-MNIST,
    Optical Digits or the user's images. Training options left unset take
    the data set's setting (`setting()`)."""

    dataset: str = settings.dataset_option()
    data_dir: str | None = settings.data_dir_option()
    rows: tuple[str, ...] = cli.option(
        (),
        "Table 5 rows to run (default: all the data set's model has): "
        + " ".join(ROWS_BY_ID),
        smoke=SMOKE_ROWS,
        resumable=True,
        metavar="ROW",
        choices=tuple(ROWS_BY_ID),
        unique=True,
    )
    weight_decays: tuple[float, ...] = cli.option(
        WEIGHT_DECAYS, "weight decays (paper: 1e-4 5e-4)", smoke=(5e-4,),
        resumable=True, minimum=0, unique=True,
    )
    seeds: int = cli.option(
        1, "repeats: seeds seed .. seed+N-1", resumable=True, metavar="N",
        minimum=1,
    )
    alpha: float = cli.option(1.0, "mixup alpha (paper: 1)", above=0)
    epochs: int | None = cli.option(
        None, f"epochs ({settings.defaults_help('epochs')})", minimum=1,
    )
    milestones: tuple[int, ...] | None = cli.option(
        None,
        f"epochs after which the learning rate is divided by 10 "
        f"({settings.defaults_help('milestones')})",
        metavar="EPOCH",
    )
    lr: float | None = cli.option(
        None, f"initial learning rate ({settings.defaults_help('learning_rate')})",
        above=0,
    )
    momentum: float = cli.option(0.9, "SGD momentum", minimum=0, below=1)
    batch_size: int | None = cli.option(
        None, f"minibatch size ({settings.defaults_help('batch_size')})", minimum=1,
    )
    knn_k: int | None = cli.option(
        None,
        "nearest neighbours per training example (default: 200 on "
        "cifar10/cifar100 (the paper's); 10 on digits; 24 on "
        "fashion_mnist/mnist; on a path 4% of the average class of the "
        "training images used, at least 1: about the paper's 4% of a class)",
        minimum=1,
    )
    last_epochs: int | None = cli.option(
        None, f"the reported error is the median over the last N epochs "
        f"(default: {LAST_EPOCHS['fashion_mnist']} on fashion_mnist/mnist, of its "
        f"10 epochs; {DEFAULT_LAST_EPOCHS} elsewhere)", metavar="N", minimum=1,
    )
    limit_train: int | None = settings.limit_option("train", smoke=256)
    limit_test: int | None = settings.limit_option("test", smoke=64)
    fit_verbose: int = cli.fit_verbose_option()

    def validate(self):
        missing = [r for r in self.rows if r not in self.available_rows()]
        if missing:
            raise ValueError(
                f"row(s) {', '.join(missing)} have no counterpart on "
                f"{self.dataset}'s small CNN (its latent positions stand for "
                f"Layer 1, 2 and 5)"
            )
        setting = self.setting()
        settings.check_milestones(
            setting.milestones, setting.epochs,
            default_of=None if self.milestones is not None else self.dataset,
        )

    def setting(self) -> settings.TrainingSetting:
        """The data set's setting with the options given laid over it."""
        given = {
            "epochs": self.epochs, "milestones": self.milestones,
            "learning_rate": self.lr, "batch_size": self.batch_size,
            "momentum": self.momentum, "limit_train": self.limit_train,
            "limit_test": self.limit_test,
        }
        return dataclasses.replace(
            settings.SETTINGS[settings.setting_key(self.dataset)],
            **{name: value for name, value in given.items() if value is not None},
        )

    def neighbours(self, train_labels: np.ndarray) -> int:
        """--knn-k, or the data set's k (KNN_K); on a path, 4% of the
        average class of `train_labels` (the training images used), at
        least 1."""
        if self.knn_k is not None:
            return self.knn_k
        key = settings.setting_key(self.dataset)
        if key in KNN_K:
            return KNN_K[key]
        classes = len(np.unique(train_labels))
        return max(1, round(KNN_CLASS_FRACTION * len(train_labels) / classes))

    def reported_epochs(self) -> int:
        """--last-epochs, or the data set's (LAST_EPOCHS)."""
        if self.last_epochs is not None:
            return self.last_epochs
        return LAST_EPOCHS.get(
            settings.setting_key(self.dataset), DEFAULT_LAST_EPOCHS
        )

    def row_ids(self) -> tuple[str, ...]:
        """--rows, or every row the data set's model has."""
        return self.rows or self.available_rows()

    def preact(self) -> bool:
        """Whether the data set trains the paper's PreAct ResNet-18 (cifar10,
        cifar100) rather than the small CNN."""
        return self.setting().model == "preact_resnet18"

    def available_rows(self) -> tuple[str, ...]:
        if self.preact():
            return tuple(ROWS_BY_ID)
        return tuple(
            row.id for row in ROWS
            if row.inputs != "latent" or row.layer in SMALL_CNN_LAYERS
        )

    def seed_list(self) -> list[int]:
        return list(range(self.seed, self.seed + self.seeds))


# ----------------------------------------------------------------------- data


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
        raise RecipeError(
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


def _augment_fn(augment: str):
    """Per-example augmentation: the setting's, the standard CIFAR one on
    cifar10 (as the paper's section 3.2), none on the small CNN's data."""
    import tensorflow as tf

    if augment != "cifar":
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

    augment = _augment_fn(config.setting().augment)

    def preprocess(image, label):
        if augment is not None:
            image = augment(image)
        return images.normalize_images(image, data.mean, data.std), label

    alpha = config.alpha if row.inputs == "mix" else 0.0
    y = data.y_train.astype(np.int32)
    if row.pairing.startswith("knn"):
        ds = keras_mixup.neighbour_mixup_dataset(
            data.x_train, y, tables[row.pairing],
            batch_size=config.setting().batch_size, alpha=alpha,
            num_classes=data.num_classes,
            label_smoothing=row.label_smoothing, target=row.target,
            preprocess=preprocess, drop_remainder=True, seed=seed,
        )
    else:
        ds = tf.data.Dataset.from_tensor_slices((data.x_train, y))
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(config.setting().batch_size, drop_remainder=True)
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
    if config.preact():
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


def train_one(
    row: Row, wd: float, seed: int, config: AblationConfig,
    data: images.ImageArrays, tables: dict[str, np.ndarray], workdir: Path,
) -> dict[str, Any]:
    """Train one (row, weight decay, seed); a killed fit resumes from its
    last finished epoch (checkpoint and history.csv in the unit's
    directory)."""
    unit_dir = workdir / "units" / unit_id(row.id, wd, seed)
    start = time.perf_counter()
    fit = settings.fit_in_setting(
        config.setting(),
        lambda: build_model(row, config, data, wd, seed),
        train_data=train_pipeline(data, row, config, seed, tables),
        eval_data=images.eval_dataset(
            data.x_test, data.y_test, batch_size=256, mean=data.mean,
            std=data.std, num_classes=data.num_classes,
        ),
        train_size=len(data.y_train), run_dir=unit_dir, history_dir=unit_dir,
        tags={"row": row.id, "weight_decay": wd, "seed": seed}, seed=seed,
        verbose=config.fit_verbose,
    )
    errors = fit.test_errors
    last = errors[-config.reported_epochs():]
    return {
        "median_test_error": float(statistics.median(last)),
        "final_test_error": errors[-1],
        "test_errors": errors,
        "seconds": time.perf_counter() - start,
    }


# ------------------------------------------------------------------ reporting


def _label(row: Row) -> str:
    return f"{row.method}: {row.spec}" if row.spec else row.method


def summarize(config: AblationConfig, rows) -> list[dict]:
    summary = []
    for row_id in config.row_ids():
        row = ROWS_BY_ID[row_id]
        entry: dict[str, Any] = {"row": row_id, "method": row.method,
                                 "spec": row.spec}
        for wd in config.weight_decays:
            values = [rows.get((row_id, wd, seed))["median_test_error"]
                      for seed in config.seed_list()]
            stats = reporting.MeanStd.of(values)
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
                reporting.MeanStd(ours["mean"], ours["std"], ours["n"])
                if ours["n"] > 1 else ours["mean"]
            )
            line[f"paper wd={wd:g}"] = entry[f"paper wd={wd:g}"]
        table_rows.append(line)
    network = "PreAct ResNet-18" if config.preact() else "small CNN"
    where = f"{datasets.title(config.dataset)}, {network}"
    title = (
        f"Table 5: median test error (%) of the last {config.reported_epochs()} of "
        f"{config.setting().epochs} epochs, {where}, {config.seeds} seed(s); paper: "
        f"CIFAR-10, PreAct ResNet-18 (Zhang et al., 2018)"
    )
    text = reporting.print_table(columns, table_rows, title=title,
                              csv_path=workdir / "results.csv", digits=2)
    reference = None
    if config.dataset == "cifar10":  # the paper's numbers are CIFAR-10's
        reference = {
            f"wd={wd:g}": [entry[f"paper wd={wd:g}"] for entry in summary]
            for wd in config.weight_decays
        }
    reporting.bar_chart(
        workdir / "results.png",
        [entry["row"] for entry in summary],
        {
            f"wd={wd:g}": [
                reporting.MeanStd(e[f"wd={wd:g}"]["mean"], e[f"wd={wd:g}"]["std"],
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
    run = harness.Run(RECIPE, config, workdir, ("row", "weight_decay", "seed"))
    units = [
        {"row": row_id, "weight_decay": float(wd), "seed": seed}
        for row_id in config.row_ids() for wd in config.weight_decays
        for seed in config.seed_list()
    ]
    pending = run.pending(units)
    data = settings.load_data(config) if pending else None
    tables: dict[str, np.ndarray] = {}
    for unit in pending:
        pairing = ROWS_BY_ID[unit["row"]].pairing
        if pairing.startswith("knn") and pairing not in tables:
            tables[pairing] = neighbour_table(
                data, config.neighbours(data.y_train), pairing == "knn_class",
                run.workdir)
    rows = run.train(
        units,
        lambda unit: train_one(
            ROWS_BY_ID[unit["row"]], unit["weight_decay"], unit["seed"], config,
            data, tables, run.workdir,
        ),
        show=("median_test_error",),
        headline=f"ablation ({config.dataset}): {len(config.row_ids())} row(s) x "
        f"{len(config.weight_decays)} weight decay(s) x {config.seeds} seed(s)"
        f" = {len(units)} runs",
    )
    summary = summarize(config, run.rows)
    table = report(config, summary, run.workdir)
    return run.finish(
        {
            "metric": f"median test error (%) of the last {config.reported_epochs()} "
                      "epochs",
            "dataset": config.dataset,
            "setting": config.setting(),
            "summary": summary,
            "runs": rows,
        },
        table=table,
        files=["results.csv", "results.png", "rows.jsonl"],
    )


main = cli.command(RECIPE, AblationConfig, train, description=__doc__)


if __name__ == "__main__":
    main()
