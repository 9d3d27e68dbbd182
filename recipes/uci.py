"""UCI tabular data (paper section 3.6, Table 4): ERM against mixup.

The paper's setting: a fully connected net with two hidden layers of 128 ReLU
units, Adam with default settings, 10 epochs of minibatches of 16. Each
comparison is repeated over several seeds (split, initialisation, data order
and mixing change with the seed; ERM and mixup share them within a seed).

    python -m recipes.uci                     # offline: iris wine breast_cancer digits
    python -m recipes.uci --datasets abalone  # needs network once (OpenML), then cached
    python -m recipes.uci --csv data.csv --target class
    python -m recipes.uci --datasets digits --label-noise 0.4 --alpha 1 8
"""

from __future__ import annotations

import csv
import dataclasses
import math
import socket
import sys
import time
import urllib.error
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_mixup
from recipes import common, models

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
class UCIConfig(common.RecipeConfig):
    """ERM against mixup on UCI tabular datasets (mixup paper, Table 4)."""

    datasets: tuple[str, ...] = common.option(
        (),
        "datasets: offline " + " ".join(OFFLINE_DATASETS) + "; downloaded from "
        "OpenML and cached under --data-dir: "
        + " ".join(OPENML_DATASETS)
        + " (default: the offline ones, or none when --csv is given)",
        smoke=("iris",),
        resumable=True,
        metavar="NAME",
    )
    csv: str | None = common.option(
        None,
        "also run on this CSV file (header row optional); needs --target",
        metavar="FILE",
    )
    target: str | None = common.option(
        None,
        "label column of --csv: a header name, or a 0-based index (-1 = last)",
        metavar="COLUMN",
    )
    data_dir: str | None = common.option(
        None,
        "cache for OpenML downloads (default: scikit-learn's data home, "
        "~/scikit_learn_data or $SCIKIT_LEARN_DATA)",
        resumable=True,
        metavar="DIR",
    )
    seeds: int = common.option(
        10,
        "repeats of each comparison: seeds seed .. seed+N-1",
        smoke=1,
        resumable=True,
        metavar="N",
    )
    alpha: tuple[float, ...] = common.option(
        (1.0,),
        "mixup alpha(s) > 0; several values sweep (ERM always runs)",
        resumable=True,
    )
    label_noise: float = common.option(
        0.0,
        "fraction of TRAIN labels replaced by a different, random class "
        "(test labels stay clean)",
        metavar="FRACTION",
    )
    epochs: int = common.option(10, "epochs per run (paper: 10)", smoke=1)
    batch_size: int = common.option(16, "minibatch size (paper: 16)")
    hidden: tuple[int, ...] = common.option(
        (128, 128), "hidden layer widths (paper: 128 128)", metavar="UNITS"
    )
    test_fraction: float = common.option(
        0.2, "fraction of each class held out for testing (stratified split)"
    )
    fit_verbose: int = common.option(
        0,
        "verbosity of each fit (0 silent, 1 progress bar, 2 one line per epoch)",
        resumable=True,
    )

    def __post_init__(self):
        if not self.datasets and self.csv is None:
            object.__setattr__(self, "datasets", OFFLINE_DATASETS)
        unknown = [name for name in self.datasets if name not in KNOWN_DATASETS]
        if unknown:
            raise ValueError(
                f"unknown dataset(s) {', '.join(unknown)}; choose from "
                f"{', '.join(KNOWN_DATASETS)}, or give a file with --csv FILE "
                f"--target COLUMN"
            )
        if len(set(self.datasets)) != len(self.datasets):
            raise ValueError(f"--datasets lists a dataset twice: {self.datasets}")
        if (self.csv is None) != (self.target is None):
            raise ValueError("--csv and --target go together: give both or neither")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}")
        if not self.alpha or any(not a > 0 or not math.isfinite(a) for a in self.alpha):
            raise ValueError(
                f"--alpha values must be finite and > 0 (alpha 0 is ERM, which "
                f"always runs), got {self.alpha}"
            )
        if len(set(self.alpha)) != len(self.alpha):
            raise ValueError(f"--alpha lists a value twice: {self.alpha}")
        if not 0.0 <= self.label_noise < 1.0:
            raise ValueError(f"--label-noise must be in [0, 1), got {self.label_noise}")
        if self.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not self.hidden or any(units < 1 for units in self.hidden):
            raise ValueError(f"--hidden must be positive widths, got {self.hidden}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(
                f"--test-fraction must be in (0, 1), got {self.test_fraction}"
            )
        if self.fit_verbose not in (0, 1, 2):
            raise ValueError(f"--fit-verbose must be 0, 1 or 2, got {self.fit_verbose}")

    def dataset_names(self) -> tuple[str, ...]:
        extra = (csv_dataset_name(self.csv),) if self.csv is not None else ()
        return tuple(self.datasets) + extra

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
        raise common.RecipeError(f"dataset {name} has {num_classes} class; need >= 2")
    if features.shape[1] == 0:
        raise common.RecipeError(f"dataset {name} has no feature columns")
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
        raise common.RecipeError(
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
        raise common.RecipeError(f"cannot read --csv {path}: {error}") from error
    except (csv.Error, UnicodeDecodeError) as error:
        raise common.RecipeError(
            f"--csv {path} is not a readable CSV: {error}"
        ) from error
    if not rows:
        raise common.RecipeError(f"--csv {path} is empty")
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
            raise common.RecipeError(
                f"--csv {path} line {number} has {len(row)} fields, expected {width}"
            )
    if len(body) < 4:
        raise common.RecipeError(f"--csv {path} has {len(body)} data rows; too few")
    if target in header:
        target_index = header.index(target)
    elif target.lstrip("-").isdigit() and -width <= int(target) < width:
        target_index = int(target) % width
    else:
        raise common.RecipeError(
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


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) holding out round(test_fraction * n_c) of
    each class c, but never a class's last example (rare classes stay
    trainable: abalone has classes of one example)."""
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = min(round(test_fraction * len(members)), len(members) - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    train_indices, test_indices = (
        np.sort(np.concatenate(train)),
        np.sort(np.concatenate(test)),
    )
    if len(test_indices) == 0:
        raise common.RecipeError("the test split is empty: raise --test-fraction")
    return train_indices, test_indices


def corrupt_labels(
    labels: np.ndarray, fraction: float, num_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(noisy labels, indices changed): exactly round(fraction * n) labels are
    replaced by a different class drawn uniformly from the others."""
    count = round(fraction * len(labels))
    changed = np.sort(rng.choice(len(labels), size=count, replace=False))
    noisy = labels.copy()
    noisy[changed] = (
        labels[changed] + rng.integers(1, num_classes, size=count)
    ) % num_classes
    return noisy, changed


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
    y_train = data.labels[train_indices]
    y_train, changed = corrupt_labels(
        y_train, config.label_noise, data.num_classes, rng
    )
    x_train, x_test = standardize(
        data.features[train_indices], data.features[test_indices]
    )
    return Split(
        x_train,
        y_train.astype(np.int32),
        x_test,
        data.labels[test_indices].astype(np.int32),
        data.num_classes,
        len(changed),
    )


# ------------------------------------------------------------------- training


def train_pipeline(split: Split, alpha: float, batch_size: int, seed: int):
    """shuffle -> batch -> mixup (alpha 0: plain one-hot labels, i.e. ERM
    through the same code path) -> prefetch."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((split.x_train, split.y_train))
    dataset = dataset.shuffle(
        len(split.x_train), seed=seed, reshuffle_each_iteration=True
    )
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(
        keras_mixup.mixup_map(alpha, num_classes=split.num_classes, seed=seed)
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def train_one(
    split: Split,
    config: UCIConfig,
    seed: int,
    alpha: float,
    workdir: Path,
    tags: dict[str, Any],
) -> dict[str, Any]:
    """Train one net from scratch and return its test error (%)."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)  # same initialisation for ERM and mixup
    model = models.mlp(split.x_train.shape[1], split.num_classes, config.hidden)
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy")
    start = time.perf_counter()
    history = model.fit(
        train_pipeline(split, alpha, config.batch_size, seed),
        epochs=config.epochs,
        shuffle=False,  # the pipeline shuffles
        verbose=config.fit_verbose,
        callbacks=[common.history_logger(workdir, **tags)],
    )
    # A direct call: predict() would build (and on TF retrace) a new function
    # for every one of the many small models.
    probabilities = keras.ops.convert_to_numpy(model(split.x_test, training=False))
    test_error = 100.0 * float(
        np.mean(np.argmax(probabilities, axis=1) != split.y_test)
    )
    return {
        **tags,
        "test_error": test_error,
        "final_train_loss": float(history.history["loss"][-1]),
        "seconds": time.perf_counter() - start,
    }


def _units(config: UCIConfig) -> list[tuple[str, int, str, float]]:
    """(dataset, seed, method, alpha) in training order; ERM has alpha 0."""
    return [
        (dataset, seed, method, alpha)
        for dataset in config.dataset_names()
        for seed in config.seed_list()
        for method, alpha in [("erm", 0.0)]
        + [("mixup", float(a)) for a in config.alpha]
    ]


def _method_label(method: str, alpha: float) -> str:
    return "ERM" if method == "erm" else f"mixup α={alpha:g}"


def summarize(config: UCIConfig, rows: common.ResultRows) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    methods = [("erm", 0.0)] + [("mixup", float(a)) for a in config.alpha]
    for dataset in config.dataset_names():
        entry: dict[str, Any] = {}
        for method, alpha in methods:
            errors = [
                rows.get((dataset, seed, method, alpha))["test_error"]
                for seed in config.seed_list()
            ]
            stats = common.MeanStd.of(errors)
            entry[_method_label(method, alpha)] = {
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
    config: UCIConfig, summary: dict[str, Any], workdir: Path, shapes: dict[str, str]
) -> str:
    """Print the table beside the paper's; write results.csv and results.png."""
    labels = [_method_label("erm", 0.0)] + [
        _method_label("mixup", float(a)) for a in config.alpha
    ]
    columns = ["dataset", "classes", "train/test", *labels, "paper ERM", "paper mixup"]
    table_rows = []
    for dataset, entry in summary.items():
        row: dict[str, Any] = {
            "dataset": dataset,
            **{
                label: common.MeanStd(
                    entry[label]["mean"], entry[label]["std"], entry[label]["n"]
                )
                for label in labels
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
    text = common.print_table(
        columns, table_rows, title=title, csv_path=workdir / "results.csv"
    )
    common.bar_chart(
        workdir / "results.png",
        list(summary),
        {label: [row[label] for row in table_rows] for label in labels},
        reference={
            label: [
                row["paper ERM" if label == "ERM" else "paper mixup"]
                for row in table_rows
            ]
            for label in labels
        },
        ylabel="test error (%)",
        title=f"UCI: ERM vs mixup ({config.seeds} seed(s){noise})",
    )
    return text


def train(config: UCIConfig, workdir: str | Path) -> dict[str, Any]:
    """Run every (dataset, seed, method, alpha) unit not yet recorded in the
    workdir, then report over all units of this config."""
    started = time.perf_counter()
    workdir = common.prepare_workdir(workdir, config, RECIPE)
    rows = common.ResultRows(
        workdir / "rows.jsonl", ("dataset", "seed", "method", "alpha")
    )
    units = _units(config)
    pending = [unit for unit in units if unit not in rows]
    # Load every dataset with work left before training anything, so missing
    # data stops the run in seconds rather than after an hour.
    loaded = {
        name: load_dataset(name, config)
        for name in dict.fromkeys(u[0] for u in pending)
    }
    print(
        f"UCI: {len(config.dataset_names())} dataset(s) x {config.seeds} seed(s) x "
        f"(ERM + {len(config.alpha)} mixup) = {len(units)} runs; "
        f"{len(units) - len(pending)} already done in {workdir}",
        flush=True,
    )
    progress = common.progress_bar(len(units), unit_name="run")
    progress.update(len(units) - len(pending))
    split_key, split = None, None
    for done, (dataset, seed, method, alpha) in enumerate(
        pending, start=len(units) - len(pending) + 1
    ):
        if (dataset, seed) != split_key:  # units of one (dataset, seed) are adjacent
            split_key, split = (
                (dataset, seed),
                make_split(loaded[dataset], config, seed),
            )
        tags = {"dataset": dataset, "seed": seed, "method": method, "alpha": alpha}
        row = train_one(split, config, seed, alpha, workdir, tags)
        row.update(
            num_classes=split.num_classes,
            n_train=len(split.y_train),
            n_test=len(split.y_test),
            corrupted_train_labels=split.corrupted,
        )
        rows.add(row)
        progress.update(done, [("test_error", row["test_error"])])

    summary = summarize(config, rows)
    shapes = {}
    for dataset in config.dataset_names():
        first = rows.get((dataset, config.seed, "erm", 0.0))
        shapes[dataset] = (
            first["num_classes"],
            f"{first['n_train']}/{first['n_test']}",
        )
    table = report(config, summary, workdir, shapes)
    unit_rows = [rows.get(unit) for unit in units]
    results = {
        "recipe": RECIPE,
        "metric": "test error (%)",
        "summary": summary,
        "runs": unit_rows,
        "trained_runs": len(pending),
        "skipped_runs": len(units) - len(pending),
        "train_seconds_total": sum(r["seconds"] for r in unit_rows),
        "elapsed_seconds": time.perf_counter() - started,
        "table": table,
    }
    common.write_json(workdir / "results.json", results)
    print(
        f"wrote {workdir / 'results.json'}, results.csv, results.png, history.csv",
        flush=True,
    )
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_cli(RECIPE, UCIConfig, train, argv, description=__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
