"""The skeleton every recipe's `train(config, workdir)` stands on.

    run = harness.Run(RECIPE, config, workdir, key_fields=("dataset", "seed"))
    rows = run.train(units, train_unit, headline="...", show=("test_error",))
    table = report(...)                    # the recipe's own: print, CSV, PNG
    return run.finish({...results...}, table=table, files=["results.png"])

`Run` prepares the workdir (config.json; a workdir made with other settings
is refused), records every finished unit in rows.jsonl and skips recorded
units on a rerun (a killed run resumes where it stopped), shows a progress
bar over the units, and writes results.json with what every recipe reports
(trained and skipped runs, the units' training seconds ("seconds" of each
row), elapsed time).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from recipes.lib import reporting, storage


class Run:
    """One invocation of a recipe in its workdir.

    key_fields: the fields of a unit (a dict) that identify it in rows.jsonl.
    """

    def __init__(
        self,
        recipe: str,
        config: Any,
        directory: str | os.PathLike,
        key_fields: Sequence[str],
    ):
        self.started = time.perf_counter()
        self.recipe = recipe
        self.workdir = storage.prepare_workdir(directory, config, recipe)
        self.rows = storage.ResultRows(self.workdir / "rows.jsonl", key_fields)
        self.trained_runs = 0
        self.skipped_runs = 0
        self.train_seconds = 0.0  # of every unit, also those of earlier runs

    def pending(self, units: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The units not yet recorded as finished."""
        return [unit for unit in units if self.rows.key(unit) not in self.rows]

    def train(
        self,
        units: Sequence[Mapping[str, Any]],
        train_unit: Callable[[Mapping[str, Any]], Mapping[str, Any]],
        *,
        headline: str,
        show: Sequence[str] = (),
        unit_name: str = "run",
    ) -> list[dict[str, Any]]:
        """Train every pending unit in order (`train_unit(unit)` returns its
        results; the unit's fields are added), recording each when it
        finishes; returns the rows of all units, in the order of `units`.
        `show`: the row's values the progress bar shows after each unit."""
        pending = self.pending(units)
        done_before = len(units) - len(pending)
        print(f"{headline}; {done_before} already done in {self.workdir}", flush=True)
        progress = reporting.progress_bar(len(units), unit_name=unit_name)
        progress.update(done_before)
        for done, unit in enumerate(pending, start=done_before + 1):
            row = {**unit, **train_unit(unit)}
            self.rows.add(row)
            progress.update(done, [(name, row[name]) for name in show])
        self.trained_runs += len(pending)
        self.skipped_runs += done_before
        rows = [self.rows.get(self.rows.key(unit)) for unit in units]
        self.train_seconds += sum(row.get("seconds", 0.0) for row in rows)
        return rows

    def finish(
        self, results: Mapping[str, Any], *, table: str, files: Sequence[str]
    ) -> dict[str, Any]:
        """results.json: the recipe's results, its printed table and what
        every run reports; prints what was written."""
        results = {
            "recipe": self.recipe,
            **results,
            "table": table,
            "trained_runs": self.trained_runs,
            "skipped_runs": self.skipped_runs,
            "train_seconds_total": self.train_seconds,
            "elapsed_seconds": time.perf_counter() - self.started,
        }
        storage.write_json(self.workdir / "results.json", results)
        print(
            f"wrote {self.workdir / 'results.json'}, {', '.join(files)}", flush=True
        )
        return results
