"""Machinery shared by the recipes.

- CLI: `option` declares a config field with its help text (and its `--smoke`
  value); `parse_config` builds the argparse parser from the config dataclass and
  adds the common flags `--workdir`, `--smoke` (and `--seed`, from
  `RecipeConfig`); `run_cli` runs a recipe's `train(config, workdir)` and turns
  a `RecipeError` into a one-line message.
- Workdir: `prepare_workdir` writes config.json (config, backend, versions,
  seed, time) and refuses to resume a workdir made with other settings;
  `history_logger` appends epochs to history.csv; `backup_and_restore` resumes
  a killed `fit`; `ResultRows` records the finished units of a recipe made of
  many small runs so that a restart skips them; `write_json` writes results.json.
- Data: `load_tfds` opens a tensorflow-datasets split, downloading it only when
  the network answers, and otherwise stops within seconds with a RecipeError
  that says what is missing and how to provide it; `network_available`.
- Training: `StepDecay`, the paper's step learning-rate schedule (divide by
  10 at given epochs) with an optional linear warm-up (Goyal et al.).
- Reporting: `MeanStd`, `print_table` (our numbers beside the paper's, plain
  text and CSV), `bar_chart` and `save_figure` (PNG, Agg backend),
  `progress_bar` (keras.utils.Progbar over many runs).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import importlib.metadata
import json
import math
import os
import platform
import socket
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

_NO_SMOKE_VALUE = object()
_PACKAGES_TO_RECORD = (
    "keras",
    "tensorflow",
    "jax",
    "jaxlib",
    "torch",
    "numpy",
    "scikit-learn",
    "keras-mixup",
)


class RecipeError(Exception):
    """A problem the user can fix (missing data, a workdir made with other
    settings, a bad file). The CLI prints the message, without a traceback, and
    exits with status 2."""


# --------------------------------------------------------------------- config


def option(
    default: Any,
    help: str,
    *,
    smoke: Any = _NO_SMOKE_VALUE,
    resumable: bool = False,
    metavar: str | None = None,
) -> Any:
    """A config dataclass field with its CLI help.

    smoke: the value `--smoke` uses (tiny settings for tests).
    resumable: whether the field may differ between a run and its resume in the
        same workdir (e.g. the number of seeds: more seeds add new units);
        all other fields must match, or results of different settings would mix.
    """
    metadata = {"help": help, "resumable": resumable, "metavar": metavar}
    if smoke is not _NO_SMOKE_VALUE:
        metadata["smoke"] = smoke
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class RecipeConfig:
    """Base of every recipe config: fields every recipe has."""

    seed: int = option(
        0, "base random seed (data order, initialisation, mixing)", resumable=True
    )


def smoke_config(config_cls: type) -> Any:
    """The config with every field's `smoke` value (tiny settings for tests)."""
    return config_cls(**_smoke_values(config_cls))


def _smoke_values(config_cls: type) -> dict[str, Any]:
    return {
        f.name: f.metadata["smoke"]
        for f in dataclasses.fields(config_cls)
        if "smoke" in f.metadata
    }


def _argument_type(annotation: Any) -> tuple[type, bool]:
    """(element type, is a sequence) for int, float, str, bool, X | None and
    tuple[X, ...] annotations."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"unsupported config annotation {annotation!r}")
        return _argument_type(members[0])
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"use tuple[X, ...] in configs, not {annotation!r}")
        return _argument_type(args[0])[0], True
    if annotation in (int, float, str, bool):
        return annotation, False
    raise TypeError(f"unsupported config annotation {annotation!r}")


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(map(str, value)) if value else "(none)"
    return str(value)


def build_parser(
    config_cls: type, recipe: str, description: str | None = None
) -> argparse.ArgumentParser:
    """An argparse parser with one flag per config field plus the common flags.

    Config flags default to argparse.SUPPRESS so that the namespace holds only
    what the user typed; `parse_config` lays that over the defaults (or over
    the smoke settings with --smoke).
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m recipes.{recipe}",
        description=description or config_cls.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        element_type, is_sequence = _argument_type(hints[field.name])
        notes = []
        if field.default not in (None, ()):  # those are explained in the help
            notes.append(f"default: {_show(field.default)}")
        if "smoke" in field.metadata:
            notes.append(f"with --smoke: {_show(field.metadata['smoke'])}")
        help_text = field.metadata.get("help", "")
        if notes:
            help_text += f" ({'; '.join(notes)})"
        flag = "--" + field.name.replace("_", "-")
        kwargs: dict[str, Any] = {
            "dest": field.name,
            "default": argparse.SUPPRESS,
            "help": help_text.replace("%", "%%"),
        }
        if element_type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = element_type
            kwargs["metavar"] = (
                field.metadata.get("metavar") or element_type.__name__.upper()
            )
            if is_sequence:
                kwargs["nargs"] = "+"
        parser.add_argument(flag, **kwargs)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help=f"where config.json, history.csv, results and checkpoints go; "
        f"rerun with the same workdir to resume (default: runs/{recipe}, "
        f"or runs/{recipe}-smoke with --smoke)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny settings that run in seconds (for tests and a first try)",
    )
    return parser


@dataclasses.dataclass(frozen=True)
class Invocation:
    """What the command line asked for."""

    config: Any
    workdir: Path
    smoke: bool
    explicit: frozenset[str]  # config fields the user typed


def parse_config(
    config_cls: type,
    recipe: str,
    argv: Sequence[str] | None = None,
    description: str | None = None,
) -> Invocation:
    """Parse argv into a config; bad values end in a usage error (exit 2)."""
    parser = build_parser(config_cls, recipe, description)
    namespace = vars(parser.parse_args(argv))
    workdir = namespace.pop("workdir")
    smoke = namespace.pop("smoke")
    explicit = {
        name: tuple(value) if isinstance(value, list) else value
        for name, value in namespace.items()
    }
    values = {**(_smoke_values(config_cls) if smoke else {}), **explicit}
    try:
        config = config_cls(**values)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    if workdir is None:
        workdir = Path("runs") / (f"{recipe}-smoke" if smoke else recipe)
    return Invocation(config, workdir, smoke, frozenset(explicit))


def run_cli(
    recipe: str,
    config_cls: type,
    train: Callable[[Any, Path], Any],
    argv: Sequence[str] | None = None,
    description: str | None = None,
) -> Any:
    """`python -m recipes.<recipe>`: parse, train, report user errors briefly."""
    invocation = parse_config(config_cls, recipe, argv, description)
    try:
        return train(invocation.config, invocation.workdir)
    except RecipeError as error:
        print(f"python -m recipes.{recipe}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


# -------------------------------------------------------------------- workdir


def _jsonable(value: Any) -> Any:
    """Plain JSON types for configs and results (tuples become lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON atomically, so a killed run never leaves half a file."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(_jsonable(data), indent=2) + "\n")
    os.replace(temporary, path)
    return path


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def package_versions() -> dict[str, str | None]:
    """Installed versions, read from metadata so no backend gets imported."""
    versions = {}
    for package in _PACKAGES_TO_RECORD:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def prepare_workdir(workdir: str | os.PathLike, config: Any, recipe: str) -> Path:
    """Create the workdir and write config.json.

    A workdir that already holds a config.json is being resumed: every field
    not marked resumable must be the same as before, otherwise results made
    with different settings would be mixed silently; then it is a RecipeError.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.json"
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    new_config = _jsonable(config)
    first_started = now
    if config_path.exists():
        previous = read_json(config_path)
        if previous.get("recipe") != recipe:
            raise RecipeError(
                f"workdir {workdir} holds a run of recipe "
                f"{previous.get('recipe')!r}, not {recipe!r}; use another --workdir"
            )
        resumable = {
            f.name for f in dataclasses.fields(config) if f.metadata.get("resumable")
        }
        old_config = previous.get("config", {})
        differences = [
            f"{name}: {old_config.get(name)!r} then, {value!r} now"
            for name, value in new_config.items()
            if name not in resumable and old_config.get(name) != value
        ]
        if differences:
            raise RecipeError(
                f"workdir {workdir} holds results made with other settings "
                f"({'; '.join(differences)}); use another --workdir, or delete "
                f"this one to start over"
            )
        first_started = previous.get("first_started", now)
    write_json(
        config_path,
        {
            "recipe": recipe,
            "config": new_config,
            "seed": getattr(config, "seed", None),
            "keras_backend": keras.backend.backend(),
            "versions": package_versions(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "first_started": first_started,
            "started": now,
        },
    )
    return workdir


class _TaggedCSVLogger(keras.callbacks.CSVLogger):
    """CSVLogger with constant columns in front (which run an epoch belongs to),
    for recipes that log many fits into one history.csv."""

    def __init__(self, filename: str, tags: Mapping[str, Any]):
        super().__init__(filename, append=True)
        self.tags = dict(tags)

    def on_epoch_end(self, epoch, logs=None):
        logs = {**self.tags, **(logs or {})}
        if self.keys is None:
            # Set the columns here: CSVLogger would otherwise add a val_ copy
            # of every key, tags included, when there is no validation data.
            self.keys = list(self.tags) + sorted(k for k in logs if k not in self.tags)
        super().on_epoch_end(epoch, logs)


def history_logger(workdir: str | os.PathLike, **tags: Any) -> keras.callbacks.Callback:
    """A callback appending each epoch to workdir/history.csv (append=True, so
    a resumed run continues the file); tags become leading columns."""
    path = str(Path(workdir) / "history.csv")
    if tags:
        return _TaggedCSVLogger(path, tags)
    return keras.callbacks.CSVLogger(path, append=True)


def backup_and_restore(workdir: str | os.PathLike) -> keras.callbacks.Callback:
    """Checkpoint every epoch under workdir/backup; a killed `fit` restarted
    with the same workdir resumes from the last finished epoch. The backup is
    deleted when training completes."""
    return keras.callbacks.BackupAndRestore(str(Path(workdir) / "backup"))


class ResultRows:
    """Finished units of a recipe made of many small runs (one JSON object a
    line). A unit is appended when it completes, so a killed run loses at most
    the unit in progress, and a restart skips what is recorded."""

    def __init__(self, path: str | os.PathLike, key_fields: Sequence[str]):
        self.path = Path(path)
        self.key_fields = tuple(key_fields)
        self._rows: dict[tuple, dict] = {}
        if self.path.exists():
            lines = self.path.read_text().splitlines()
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    if number == len(lines):
                        continue  # killed while writing: that unit reruns
                    raise RecipeError(
                        f"{self.path}:{number} is not valid JSON"
                    ) from error
                self._rows[self.key(row)] = row

    def key(self, row: Mapping[str, Any]) -> tuple:
        return tuple(row[name] for name in self.key_fields)

    def __contains__(self, key: tuple) -> bool:
        return tuple(key) in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: tuple) -> dict | None:
        return self._rows.get(tuple(key))

    def add(self, row: Mapping[str, Any]) -> None:
        row = _jsonable(row)
        with self.path.open("a") as file:
            file.write(json.dumps(row) + "\n")
            file.flush()
            os.fsync(file.fileno())
        self._rows[self.key(row)] = row

    def rows(self) -> list[dict]:
        return list(self._rows.values())


# ------------------------------------------------------------------- training


@keras.saving.register_keras_serializable(package="recipes")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Piecewise-constant learning rate by epoch, with an optional warm-up.

    lr = base_lr * factor ** (number of milestones reached), where milestone
    m is reached at step m * steps_per_epoch (e.g. the paper's CIFAR setting:
    base_lr 0.1, milestones (100, 150), factor 0.1). With warmup_epochs > 0
    the rate first rises linearly, step by step, from warmup_start_lr to
    base_lr over warmup_epochs (Goyal et al., 2017: ImageNet 0.1 -> 0.4 over
    5 epochs for batch 1024). Serializable, so optimizers in checkpoints
    restore it.
    """

    def __init__(
        self,
        base_lr: float,
        milestones: Sequence[int],
        steps_per_epoch: int,
        factor: float = 0.1,
        warmup_epochs: int = 0,
        warmup_start_lr: float | None = None,
    ):
        milestones = tuple(int(m) for m in milestones)
        if not (isinstance(base_lr, (int, float)) and base_lr > 0):
            raise ValueError(f"`base_lr` must be a number > 0, got {base_lr!r}")
        if any(m < 1 for m in milestones) or list(milestones) != sorted(set(milestones)):
            raise ValueError(
                f"`milestones` must be increasing epochs >= 1, got {milestones!r}"
            )
        if not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
            raise ValueError(
                f"`steps_per_epoch` must be a positive int, got {steps_per_epoch!r}"
            )
        if not (isinstance(factor, (int, float)) and 0 < factor <= 1):
            raise ValueError(f"`factor` must be in (0, 1], got {factor!r}")
        if not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise ValueError(
                f"`warmup_epochs` must be an int >= 0, got {warmup_epochs!r}"
            )
        if warmup_epochs and milestones and milestones[0] < warmup_epochs:
            raise ValueError(
                f"`milestones` must come after the warm-up ({warmup_epochs} "
                f"epochs), got {milestones!r}"
            )
        if warmup_start_lr is not None and not (
            isinstance(warmup_start_lr, (int, float)) and warmup_start_lr >= 0
        ):
            raise ValueError(
                f"`warmup_start_lr` must be a number >= 0 or None, got "
                f"{warmup_start_lr!r}"
            )
        self.base_lr = float(base_lr)
        self.milestones = milestones
        self.steps_per_epoch = steps_per_epoch
        self.factor = float(factor)
        self.warmup_epochs = warmup_epochs
        self.warmup_start_lr = (
            self.base_lr if warmup_start_lr is None else float(warmup_start_lr)
        )

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "int32")
        reached = ops.zeros((), "float32")
        for milestone in self.milestones:
            reached = reached + ops.cast(
                step >= milestone * self.steps_per_epoch, "float32"
            )
        rate = self.base_lr * ops.power(self.factor, reached)
        if self.warmup_epochs:
            warmup_steps = self.warmup_epochs * self.steps_per_epoch
            progress = ops.cast(step, "float32") / float(warmup_steps)
            warm = self.warmup_start_lr + (
                self.base_lr - self.warmup_start_lr
            ) * progress
            rate = ops.where(step < warmup_steps, warm, rate)
        return rate

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "milestones": list(self.milestones),
            "steps_per_epoch": self.steps_per_epoch,
            "factor": self.factor,
            "warmup_epochs": self.warmup_epochs,
            "warmup_start_lr": self.warmup_start_lr,
        }


# ----------------------------------------------------------------------- data

# Where tensorflow-datasets downloads from; reachable means a download can work.
_DOWNLOAD_HOSTS = (("storage.googleapis.com", 443), ("www.cs.toronto.edu", 443))
# Data sets tensorflow-datasets cannot download: the user places the archives.
_MANUAL_DOWNLOAD = {
    "imagenet2012": (
        "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from "
        "https://image-net.org (registration needed)"
    ),
}


def network_available(
    hosts: Sequence[tuple[str, int]] = _DOWNLOAD_HOSTS, timeout_s: float = 3.0
) -> bool:
    """Whether one of the download hosts accepts a TCP connection within
    timeout_s (so an offline machine is detected in seconds, not after
    tensorflow-datasets' minutes of retries)."""
    for host, port in hosts:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


def load_tfds(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    as_supervised: bool = False,
    shuffle_files: bool = False,
    read_config: Any = None,
):
    """`tfds.load(name, split=split, data_dir=data_dir)` that fails fast.

    The prepared data set is opened without any download attempt; when it is
    not there, it is downloaded and prepared only if the download hosts
    answer, otherwise a RecipeError says what is missing, where it was looked
    for, and how to provide it. (Offline, a plain `tfds.load` retries for
    minutes before failing.) Works under `tfds.testing.mock_data`.
    """
    import tensorflow_datasets as tfds

    kwargs = dict(
        split=split,
        data_dir=None if data_dir is None else str(data_dir),
        as_supervised=as_supervised,
        shuffle_files=shuffle_files,
        read_config=read_config,
    )
    try:
        return tfds.load(name, download=False, **kwargs)
    except AssertionError:  # tfds' "could not find data in ..." when not prepared
        pass
    where = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    if name in _MANUAL_DOWNLOAD:
        manual_dir = Path(str(where)).expanduser() / "downloads" / "manual"
        if not any(manual_dir.glob("*")):
            raise RecipeError(
                f"tensorflow-datasets {name!r} is not prepared in {where} and "
                f"cannot be downloaded automatically: place "
                f"{_MANUAL_DOWNLOAD[name]} in {manual_dir} (it is prepared on "
                f"the first run), or pass --data-dir pointing at a prepared "
                f"copy, or use --data synthetic"
            )
    elif not network_available():
        raise RecipeError(
            f"tensorflow-datasets {name!r} is not prepared in {where} and the "
            f"network is not reachable to download it: on a machine with a "
            f"network run `python -c \"import tensorflow_datasets as tfds; "
            f"tfds.builder('{name}', data_dir='DIR').download_and_prepare()\"` "
            f"(or `tfds build {name} --data_dir DIR`) and copy DIR here, then "
            f"pass --data-dir DIR"
        )
    try:
        return tfds.load(name, download=True, **kwargs)
    except Exception as error:  # noqa: BLE001 - a download can fail many ways
        raise RecipeError(
            f"tensorflow-datasets {name!r} could not be downloaded and "
            f"prepared in {where}: {type(error).__name__}: {error}"
        ) from error


# ------------------------------------------------------------------ reporting


@dataclasses.dataclass(frozen=True)
class MeanStd:
    """Mean and sample standard deviation of n repeats."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> MeanStd:
        values = np.asarray(list(values), dtype=np.float64)
        if values.size == 0:
            raise ValueError("MeanStd.of needs at least one value")
        std = float(values.std(ddof=1)) if values.size > 1 else 0.0
        return cls(float(values.mean()), std, int(values.size))

    def format(self, digits: int = 1) -> str:
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def _cell_text(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, MeanStd):
        return value.format(digits)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(
    columns: Sequence[str], rows: Sequence[Mapping[str, Any]], digits: int = 1
) -> str:
    """Plain-text table, first column left-aligned, the others right-aligned;
    missing values (e.g. a dataset the paper does not have) show as '-'."""
    cells = [[_cell_text(row.get(c), digits) for c in columns] for row in rows]
    widths = [
        max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = [v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(columns), rule, *(line(c) for c in cells)])


def write_table_csv(
    path: str | os.PathLike,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> Path:
    """The table as CSV with raw numbers: a MeanStd column becomes
    '<column> mean', '<column> std' and '<column> n'."""
    header: list[str] = []
    for column in columns:
        if any(isinstance(row.get(column), MeanStd) for row in rows):
            header += [f"{column} mean", f"{column} std", f"{column} n"]
        else:
            header.append(column)
    path = Path(path)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row in rows:
            out: list[Any] = []
            for column in columns:
                value = row.get(column)
                split = f"{column} mean" in header
                if isinstance(value, MeanStd):
                    out += [value.mean, value.std, value.n]
                elif split:
                    out += ["", "", ""] if value is None else [value, "", ""]
                else:
                    out.append("" if value is None else value)
            writer.writerow(out)
    return path


def print_table(
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    csv_path: str | os.PathLike | None = None,
    digits: int = 1,
) -> str:
    """Print our numbers beside the paper's as an aligned table; also write it
    as CSV when csv_path is given. Returns the printed text."""
    text = format_table(columns, rows, digits)
    if title:
        text = f"{title}\n{text}"
    print(text, flush=True)
    if csv_path is not None:
        write_table_csv(csv_path, columns, rows)
    return text


def new_figure(width: float = 8.0, height: float = 4.5):
    """(figure, axes) on the Agg backend: recipes run headless."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def save_figure(figure, path: str | os.PathLike) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def bar_chart(
    path: str | os.PathLike,
    groups: Sequence[str],
    series: Mapping[str, Sequence[MeanStd | float | None]],
    *,
    ylabel: str,
    title: str | None = None,
    reference: Mapping[str, Sequence[float | None]] | None = None,
    reference_label: str = "paper",
) -> Path:
    """Grouped bars (one group per entry of groups, one bar per series) with
    standard-deviation error bars; `reference` values (e.g. the paper's, keyed
    like series) are drawn as black ticks over the matching bars."""
    # Wide enough for the bars, but a page wide at most (Table 5 has 22 rows).
    figure, axes = new_figure(
        min(16.0, max(6.0, 1.2 * len(groups) * max(1, len(series)))), 4.5
    )
    positions = np.arange(len(groups), dtype=np.float64)
    width = 0.8 / max(1, len(series))
    reference_drawn = False
    for index, (name, values) in enumerate(series.items()):
        x = positions + (index - (len(series) - 1) / 2) * width
        means = [
            v.mean if isinstance(v, MeanStd) else (np.nan if v is None else v)
            for v in values
        ]
        errors = [v.std if isinstance(v, MeanStd) else 0.0 for v in values]
        axes.bar(x, means, width, yerr=errors, capsize=3, label=name)
        references = (reference or {}).get(name, [None] * len(groups))
        for x_value, ref in zip(x, references, strict=True):
            if ref is not None:
                axes.plot(
                    [x_value - width / 2, x_value + width / 2],
                    [ref, ref],
                    "k-",
                    lw=2,
                    label=None if reference_drawn else reference_label,
                )
                reference_drawn = True
    axes.set_xticks(positions)
    if len(groups) > 8:
        axes.set_xticklabels(groups, rotation=40, ha="right")
    else:
        axes.set_xticklabels(groups)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.legend()
    return save_figure(figure, path)


def progress_bar(total: int, unit_name: str = "run") -> keras.utils.Progbar:
    """Keras's progress bar for loops over many runs; values passed to update
    are shown as given (the latest run's numbers), not averaged."""
    # An empty stateless set makes every value stateful (shown as-is).
    return keras.utils.Progbar(total, unit_name=unit_name, stateless_metrics=())
