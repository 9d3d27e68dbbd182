"""A recipe's workdir on disk: what a run writes and how a killed run resumes.

- `prepare_workdir` writes config.json (config, backend, versions, seed,
  time) and refuses to resume a workdir made with other settings;
- `history_logger` appends each epoch to history.csv (tags as leading
  columns) and `read_history` / `error_curve` read it back: the one reader of
  what a fit logged (an epoch logged twice, by a run killed between its log
  and its checkpoint, counts once: the later row);
- `backup_and_restore` resumes a killed `fit`; `ResultRows` records the
  finished units of a recipe so that a restart skips them;
- `write_json` / `read_json`: results.json and friends, written atomically.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import importlib.metadata
import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from recipes.lib.cli import RecipeError

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


def read_history(
    path: str | os.PathLike, **tags: Any
) -> list[dict[str, str]]:
    """The rows of a history.csv whose tag columns equal `tags` (compared as
    the CSV wrote them), one per epoch in epoch order; an epoch logged twice
    counts once, the later row."""
    by_epoch: dict[int, dict[str, str]] = {}
    try:
        with open(path, newline="") as file:
            for row in csv.DictReader(file):
                if all(row.get(name) == str(value) for name, value in tags.items()):
                    by_epoch[int(row["epoch"])] = row
    except FileNotFoundError:
        return []
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def error_curve(
    path: str | os.PathLike, metric: str = "accuracy", **tags: Any
) -> list[float]:
    """Test error (%) by epoch, 100 * (1 - val_<metric>), of the fit logged
    in history.csv with `tags`."""
    return [
        100.0 * (1.0 - float(row[f"val_{metric}"]))
        for row in read_history(path, **tags)
        if row.get(f"val_{metric}")
    ]
