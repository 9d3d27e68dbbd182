"""UCI tabular data (paper section 3.6, Table 4): ERM against mixup.

The paper's setting: a fully connected net with two hidden layers of 128 ReLU
units, Adam with default settings, 10 epochs of minibatches of 16. Each
comparison is repeated over several seeds (split, initialisation, data order
and mixing change with the seed; ERM and mixup share them within a seed).

    python -m recipes.uci                     # offline: iris wine breast_cancer digits
    python -m recipes.uci --datasets abalone  # needs network once (OpenML), then cached
    python -m recipes.uci --csv data.csv --target class
    python -m recipes.uci --datasets digits --label-noise 0.4 --alpha 1 8

Measured here (recipes/README.md): Iris test error ERM 8.3%, mixup 12.0%
(10 seeds); digits with 40% noisy labels 13.3% -> 7.6% (alpha 8); paper:
Iris ERM 21.3%, mixup 17.3%. 7 min for the default 80 runs.
"""

from __future__ import annotations

import csv
import dataclasses
import socket
import time
import urllib.error
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_mixup
from recipes.lib import cli, harness, models, reporting, storage
from recipes.lib.datasets import stratified_split
from recipes.lib.labels import corrupt_labels
from recipes.lib.cli import RecipeError

RECIPE = "uci"

# Table 4: test error (%) of ERM and mixup.
PAPER_TABLE4 = {
    "abalone": (74.0, 73.6),
    "arcene": (57.6, 48.0),
    "arrhythmia": (56.6, 46.3),
    "htru2": (2.0, 2.0),
    "iris": (21.3, 17.3),
    "phishing": (16.3, 15.2),
}
# Real UCI data that ships with scikit-learn: no network needed.
OFFLINE_DATASETS = ("iris", "wine", "breast_cancer", "digits")
# The paper's other datasets, by OpenML data_id (downloaded once, then cached).
OPENML_DATASETS = {
    "abalone": 183,
    "arcene": 1458,
    "arrhythmia": 5,
    "htru2": 45558,
    "phishing": 4534,
}
KNOWN_DATASETS = OFFLINE_DATASETS + tuple(OPENML_DATASETS)
# sklearn's urlopen has no timeout: a silently dropped connection would hang.
NETWORK_TIMEOUT_S = 15.0
_MISSING_TOKENS = frozenset({"", "?", "na", "nan", "null", "none"})


@dataclasses.dataclass(frozen=True)
class UCIConfig(cli.RecipeConfig):
    """ERM against mixup on UCI tabular datasets (mixup paper, Table 4)."""

    datasets: tuple[str, ...] = cli.option(
        (),
        "datasets: offline " + " ".join(OFFLINE_DATASETS) + "; downloaded from "
        "OpenML and cached under --data-dir: "
        + " ".join(OPENML_DATASETS)
        + " (default: the offline ones, or none when --csv is given)",
        smoke=("iris",),
        resumable=True,
        metavar="NAME",
        choices=KNOWN_DATASETS,
        unique=True,
    )
    csv: str | None = cli.option(
        None,
        "also run on this CSV file (header row optional); needs --target",
        metavar="FILE",
    )
    target: str | None = cli.option(
        None,
        "label column of --csv: a header name, or a 0-based index (-1 = last)",
        metavar="COLUMN",
    )
    data_dir: str | None = cli.option(
        None,
        "cache for OpenML downloads (default: scikit-learn's data home, "
        "~/scikit_learn_data or $SCIKIT_LEARN_DATA)",
        resumable=True,
        metavar="DIR",
    )
    seeds: int = cli.option(
        10,
        "repeats of each comparison: seeds seed .. seed+N-1",
        smoke=1,
        resumable=True,
        metavar="N",
        minimum=1,
    )
    alpha: tuple[float, ...] = cli.option(
        (1.0,),
        "mixup alpha(s) > 0; several values sweep (ERM always runs)",
        resumable=True,
        above=0,
        unique=True,
    )
    label_noise: float = cli.option(
        0.0,
        "fraction of TRAIN labels replaced by a different, random class "
        "(test labels stay clean)",
        metavar="FRACTION",
        minimum=0,
        below=1,
    )
    epochs: int = cli.option(10, "epochs per run (paper: 10)", smoke=1, minimum=1)
    batch_size: int = cli.option(16, "minibatch size (paper: 16)", minimum=1)
    hidden: tuple[int, ...] = cli.option(
        (128, 128), "hidden layer widths (paper: 128 128)", metavar="UNITS",
        minimum=1,
    )
    test_fraction: float = cli.option(
        0.2, "fraction of each class held out for testing (stratified split)",
        above=0, below=1,
    )
    fit_verbose: int = cli.fit_verbose_option()

    def validate(self):
        if (self.csv is None) != (self.target is None):
            raise ValueError("--csv and --target go together: give both or neither")

    def dataset_names(self) -> tuple[str, ...]:
        """--datasets (by default the offline ones, none with --csv), then
        the --csv file."""
        if self.csv is None:
            return self.datasets or OFFLINE_DATASETS
        return (*self.datasets, csv_dataset_name(self.csv))

    def seed_list(self) -> list[int]:
        return list(range(self.seed, self.seed + self.seeds))


@dataclasses.dataclass(frozen=True)
class TabularData:
    """A whole dataset: numeric features (NaN where missing), labels 0..K-1."""

    name: str
    features: np.ndarray  # (n, f) float64
    labels: np.ndarray  # (n,) int64
    num_classes: int
    source: str


# ----------------------------------------------------------------------- data


def csv_dataset_name(path: str) -> str:
    return f"csv:{Path(path).stem}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_missing(text: Any) -> bool:
    return str(text).strip().lower() in _MISSING_TOKENS


def encode_features(raw: np.ndarray) -> np.ndarray:
    """Numeric matrix from a table: numeric columns as floats (missing -> NaN),
    other columns one-hot encoded (missing -> all zeros)."""
    raw = np.asarray(raw)
    if raw.ndim != 2:
        raise ValueError(f"features must be 2-D, got shape {raw.shape}")
    if raw.dtype.kind in "biuf":
        return raw.astype(np.float64)
    columns = []
    for column in raw.T:
        present = [value for value in column if not _is_missing(value)]
        if all(
            isinstance(v, (int, float, np.number)) or _is_number(str(v))
            for v in present
        ):
            columns.append(
                np.array([np.nan if _is_missing(v) else float(v) for v in column])[
                    :, None
                ]
            )
        else:
            categories = sorted({str(v).strip() for v in present})
            index = {category: i for i, category in enumerate(categories)}
            one_hot = np.zeros((len(column), len(categories)))
            for row, value in enumerate(column):
                if not _is_missing(value):
                    one_hot[row, index[str(value).strip()]] = 1.0
            columns.append(one_hot)
    return np.concatenate(columns, axis=1)


def encode_labels(raw: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels 0..K-1 (numeric labels keep their numeric order)."""
    raw = np.asarray(raw)
    if raw.dtype.kind not in "biuf":
        texts = [str(v).strip() for v in raw]
        raw = (
            np.array([float(t) for t in texts])
            if all(_is_number(t) for t in texts)
            else np.array(texts)
        )
    classes, labels = np.unique(raw, return_inverse=True)
    return labels.astype(np.int64), len(classes)


def _checked(
    name: str, features: np.ndarray, labels: np.ndarray, num_classes: int, source: str
) -> TabularData:
    if num_classes < 2:
        raise RecipeError(f"dataset {name} has {num_classes} class; need >= 2")
    if features.shape[1] == 0:
        raise RecipeError(f"dataset {name} has no feature columns")
    return TabularData(name, features, labels, num_classes, source)


def load_sklearn(name: str) -> TabularData:
    import sklearn.datasets

    loader = {
        "iris": sklearn.datasets.load_iris,
        "wine": sklearn.datasets.load_wine,
        "breast_cancer": sklearn.datasets.load_breast_cancer,
        "digits": sklearn.datasets.load_digits,
    }[name]
    features, raw_labels = loader(return_X_y=True)
    labels, num_classes = encode_labels(raw_labels)
    return _checked(
        name,
        encode_features(features),
        labels,
        num_classes,
        f"sklearn.datasets.load_{name}",
    )


def load_openml(name: str, data_dir: str | None) -> TabularData:
    """One of the paper's datasets from OpenML, cached under data_dir.

    Offline and not cached, this fails within seconds with a RecipeError that
    says what is missing and how to provide it.
    """
    import scipy.sparse
    import sklearn.datasets

    data_id = OPENML_DATASETS[name]
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(NETWORK_TIMEOUT_S)
    try:
        # liac-arff: works without pandas, and encodes nominal features as
        # category codes (listed in bunch.categories).
        bunch = sklearn.datasets.fetch_openml(
            data_id=data_id,
            data_home=data_dir,
            as_frame=False,
            parser="liac-arff",
            n_retries=1,
            delay=0.5,
        )
    except (urllib.error.URLError, OSError) as error:  # includes timeouts
        cache = data_dir or sklearn.datasets.get_data_home()
        raise RecipeError(
            f"dataset {name!r} is not in the cache ({cache}/openml) and could "
            f"not be downloaded from OpenML (data_id {data_id}): {error}. "
            f"Run once with network access to cache it (--data-dir DIR picks "
            f"the cache), or give the data as a CSV file: --csv FILE --target "
            f"COLUMN. Offline datasets: {', '.join(OFFLINE_DATASETS)}."
        ) from error
    finally:
        socket.setdefaulttimeout(previous_timeout)
    features = bunch.data
    if scipy.sparse.issparse(features):
        features = features.toarray()
    features = np.asarray(features, dtype=np.float64)
    categories = bunch.get("categories") or {}
    if any(name in categories for name in bunch.feature_names):
        # Category codes back to names, so that encode_features one-hot
        # encodes them instead of treating codes as magnitudes.
        table = features.astype(object)
        for column, feature in enumerate(bunch.feature_names):
            if feature in categories:
                table[:, column] = [
                    None if np.isnan(code) else categories[feature][int(code)]
                    for code in features[:, column]
                ]
        features = table
    labels, num_classes = encode_labels(bunch.target)
    return _checked(
        name,
        encode_features(features),
        labels,
        num_classes,
        f"OpenML data_id {data_id}",
    )


def load_csv(path: str, target: str) -> TabularData:
    """A CSV file; the first row is a header unless all its fields are numbers.
    Rows whose label is missing are dropped."""
    name = csv_dataset_name(path)
    try:
        with open(path, newline="") as file:
            rows = [
                row for row in csv.reader(file) if any(cell.strip() for cell in row)
            ]
    except OSError as error:
        raise RecipeError(f"cannot read --csv {path}: {error}") from error
    except (csv.Error, UnicodeDecodeError) as error:
        raise RecipeError(
            f"--csv {path} is not a readable CSV: {error}"
        ) from error
    if not rows:
        raise RecipeError(f"--csv {path} is empty")
    has_header = not all(_is_number(cell) for cell in rows[0])
    width = len(rows[0])
    header = (
        [cell.strip() for cell in rows[0]]
        if has_header
        else [str(i) for i in range(width)]
    )
    body = rows[1:] if has_header else rows
    for number, row in enumerate(body, start=2 if has_header else 1):
        if len(row) != width:
            raise RecipeError(
                f"--csv {path} line {number} has {len(row)} fields, expected {width}"
            )
    if len(body) < 4:
        raise RecipeError(f"--csv {path} has {len(body)} data rows; too few")
    if target in header:
        target_index = header.index(target)
    elif target.lstrip("-").isdigit() and -width <= int(target) < width:
        target_index = int(target) % width
    else:
        raise RecipeError(
            f"--target {target!r} is not a column of {path}: give one of "
            f"{', '.join(header)} or an index in [-{width}, {width - 1}]"
        )
    table = np.array(body, dtype=object)
    keep = np.array([not _is_missing(v) for v in table[:, target_index]])
    table = table[keep]
    labels, num_classes = encode_labels(table[:, target_index])
    features = encode_features(np.delete(table, target_index, axis=1))
    return _checked(
        name,
        features,
        labels,
        num_classes,
        f"{path} (target column {header[target_index]!r})",
    )


def load_dataset(name: str, config: UCIConfig) -> TabularData:
    if config.csv is not None and name == csv_dataset_name(config.csv):
        return load_csv(config.csv, config.target)
    if name in OFFLINE_DATASETS:
        return load_sklearn(name)
    return load_openml(name, config.data_dir)


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero mean, unit variance with train statistics; missing values become 0
    (the train mean). Constant columns are only centred."""
    with np.errstate(all="ignore"):
        mean = np.nanmean(train, axis=0)
        std = np.nanstd(train, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)

    def scale(x: np.ndarray) -> np.ndarray:
        return np.nan_to_num((x - mean) / std, nan=0.0).astype(np.float32)

    return scale(train), scale(test)


@dataclasses.dataclass(frozen=True)
class Split:
    """One seed's train/test data, standardized, ready to train on."""

    x_train: np.ndarray
    y_train: np.ndarray  # possibly noisy
    x_test: np.ndarray
    y_test: np.ndarray  # always clean
    num_classes: int
    corrupted: int  # number of train labels changed


def make_split(data: TabularData, config: UCIConfig, seed: int) -> Split:
    """Split, add label noise and standardize, all determined by the seed
    (shared by ERM and every mixup alpha of that seed)."""
    rng = np.random.default_rng(seed)
    train_indices, test_indices = stratified_split(
        data.labels, config.test_fraction, rng
    )
    # The noise continues the split's stream: one draw per seed.
    noisy = corrupt_labels(
        data.labels[train_indices], config.label_noise, data.num_classes,
        seed=rng, replacement="other",
    )
    x_train, x_test = standardize(
        data.features[train_indices], data.features[test_indices]
    )
    return Split(
        x_train,
        noisy.labels,
        x_test,
        data.labels[test_indices].astype(np.int32),
        data.num_classes,
        int(noisy.corrupted.sum()),
    )


# ------------------------------------------------------------------- training


def train_pipeline(split: Split, batch_size: int, seed: int):
    """shuffle -> batch -> prefetch, sparse integer labels. mixup mixes inside
    the model (`build_model`), not in this pipeline: on this 1-ms step a
    tf.data map's fixed cost per batch shows (benchmarks/README.md)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((split.x_train, split.y_train))
    dataset = dataset.shuffle(
        len(split.x_train), seed=seed, reshuffle_each_iteration=True
    )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def build_model(split: Split, config: UCIConfig, seed: int, alpha: float):
    """The paper's MLP; for mixup (alpha > 0) wrapped as input -> MixUp ->
    MLP in a MixUpModel, which mixes the sparse labels through the loss.

    The MLP is built first, right after the seed is set, so ERM and mixup of
    a seed start from the same weights. In-model mixing is the mode that
    keeps mixup's cost per run at ERM's on this small net (the tf.data map
    adds a fixed cost per batch; benchmarks/README.md, "small models")."""
    keras.utils.set_random_seed(seed)  # same initialisation for ERM and mixup
    net = models.mlp(split.x_train.shape[1], split.num_classes, config.hidden)
    if alpha == 0:
        return net
    inputs = keras.Input(net.input_shape[1:], name="features")
    mixed = keras_mixup.MixUp(alpha, seed=seed, name="mixup")(inputs)
    return keras_mixup.MixUpModel(keras.Model(inputs, net(mixed)))


def train_one(
    split: Split,
    config: UCIConfig,
    seed: int,
    alpha: float,
    directory: Path,
    tags: dict[str, Any],
) -> dict[str, Any]:
    """Train one net from scratch and return its test error (%)."""
    keras.backend.clear_session()
    model = build_model(split, config, seed, alpha)
    model.compile(
        optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy"
    )
    start = time.perf_counter()
    history = model.fit(
        train_pipeline(split, config.batch_size, seed),
        epochs=config.epochs,
        shuffle=False,  # the pipeline shuffles
        verbose=config.fit_verbose,
        callbacks=[storage.history_logger(directory, **tags)],
    )
    # A direct call: predict() would build (and on TF retrace) a new function
    # for every one of the many small models.
    probabilities = keras.ops.convert_to_numpy(model(split.x_test, training=False))
    test_error = 100.0 * float(
        np.mean(np.argmax(probabilities, axis=1) != split.y_test)
    )
    return {
        "test_error": test_error,
        "final_train_loss": float(history.history["loss"][-1]),
        "seconds": time.perf_counter() - start,
    }


KEY_FIELDS = ("dataset", "seed", "method", "alpha")


def units(config: UCIConfig) -> list[dict[str, Any]]:
    """(dataset, seed, method, alpha) in training order; ERM has alpha 0."""
    return [
        {"dataset": dataset, "seed": seed, "method": method, "alpha": alpha}
        for dataset in config.dataset_names()
        for seed in config.seed_list()
        for method, alpha in [("erm", 0.0)]
        + [("mixup", float(a)) for a in config.alpha]
    ]


def summarize(config: UCIConfig, rows: storage.ResultRows) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    methods = [("erm", 0.0)] + [("mixup", float(a)) for a in config.alpha]
    for dataset in config.dataset_names():
        entry: dict[str, Any] = {}
        for method, alpha in methods:
            errors = [
                rows.get((dataset, seed, method, alpha))["test_error"]
                for seed in config.seed_list()
            ]
            stats = reporting.MeanStd.of(errors)
            entry[reporting.method_label(alpha)] = {
                "mean": stats.mean,
                "std": stats.std,
                "n": stats.n,
                "values": errors,
            }
        paper = PAPER_TABLE4.get(dataset)
        entry["paper ERM"] = paper[0] if paper else None
        entry["paper mixup"] = paper[1] if paper else None
        summary[dataset] = entry
    return summary


def report(
    config: UCIConfig, summary: dict[str, Any], directory: Path,
    shapes: dict[str, str],
) -> str:
    """Print the table beside the paper's; write results.csv and results.png."""
    methods = [reporting.method_label(a) for a in (0.0, *config.alpha)]
    columns = ["dataset", "classes", "train/test", *methods, "paper ERM",
               "paper mixup"]
    table_rows = []
    for dataset, entry in summary.items():
        row: dict[str, Any] = {
            "dataset": dataset,
            **{
                label: reporting.MeanStd(
                    entry[label]["mean"], entry[label]["std"], entry[label]["n"]
                )
                for label in methods
            },
        }
        row.update(dict(zip(("classes", "train/test"), shapes[dataset], strict=True)))
        row["paper ERM"], row["paper mixup"] = entry["paper ERM"], entry["paper mixup"]
        table_rows.append(row)
    noise = (
        f", {config.label_noise:.0%} of train labels corrupted"
        if config.label_noise
        else ""
    )
    title = (
        f"Test error (%), mean ± std over {config.seeds} seed(s), "
        f"{config.epochs} epoch(s){noise}; paper: Table 4 of Zhang et al. (2018)"
    )
    text = reporting.print_table(
        columns, table_rows, title=title, csv_path=directory / "results.csv"
    )
    reporting.bar_chart(
        directory / "results.png",
        list(summary),
        {label: [row[label] for row in table_rows] for label in methods},
        reference={
            label: [
                row["paper ERM" if label == "ERM" else "paper mixup"]
                for row in table_rows
            ]
            for label in methods
        },
        ylabel="test error (%)",
        title=f"UCI: ERM vs mixup ({config.seeds} seed(s){noise})",
    )
    return text


def train(config: UCIConfig, workdir: str | Path) -> dict[str, Any]:
    """Run every (dataset, seed, method, alpha) unit not yet recorded in the
    workdir, then report over all units of this config."""
    run = harness.Run(RECIPE, config, workdir, KEY_FIELDS)
    all_units = units(config)
    # Load every dataset with work left before training anything, so missing
    # data stops the run in seconds rather than after an hour.
    loaded = {
        name: load_dataset(name, config)
        for name in dict.fromkeys(u["dataset"] for u in run.pending(all_units))
    }
    splits: dict[tuple[str, int], Split] = {}

    def train_unit(unit):
        key = (unit["dataset"], unit["seed"])
        if key not in splits:  # units of one (dataset, seed) are adjacent
            splits.clear()
            splits[key] = make_split(loaded[unit["dataset"]], config, unit["seed"])
        split = splits[key]
        row = train_one(split, config, unit["seed"], unit["alpha"], run.workdir,
                        dict(unit))
        return {
            **row,
            "num_classes": split.num_classes,
            "n_train": len(split.y_train),
            "n_test": len(split.y_test),
            "corrupted_train_labels": split.corrupted,
        }

    rows = run.train(
        all_units, train_unit, show=("test_error",),
        headline=f"UCI: {len(config.dataset_names())} dataset(s) x "
        f"{config.seeds} seed(s) x (ERM + {len(config.alpha)} mixup) = "
        f"{len(all_units)} runs",
    )
    summary = summarize(config, run.rows)
    shapes = {}
    for dataset in config.dataset_names():
        first = run.rows.get((dataset, config.seed, "erm", 0.0))
        shapes[dataset] = (
            first["num_classes"],
            f"{first['n_train']}/{first['n_test']}",
        )
    table = report(config, summary, run.workdir, shapes)
    return run.finish(
        {
            "metric": "test error (%)",
            "summary": summary,
            "runs": rows,
        },
        table=table,
        files=["results.csv", "results.png", "history.csv"],
    )


main = cli.command(RECIPE, UCIConfig, train, description=__doc__)


if __name__ == "__main__":
    main()
