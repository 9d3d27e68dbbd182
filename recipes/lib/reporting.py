"""Reporting: our numbers beside the paper's.

`MeanStd` (mean and standard deviation over repeats), `print_table` (an
aligned plain-text table, also written as CSV), `bar_chart`,
`plot_error_curves` and `save_figure` (PNG, Agg backend), `progress_bar`
(keras.utils.Progbar over many runs), and the two names every recipe prints:
`method_label` ("ERM", "mixup (α = 1)", "CutMix (α = 1)", ...) and
`error_percent` (top-k error of logits).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from recipes.lib import images


# How each mixing method of `images.MIXING_METHODS` (the --method values) is
# named in tables and figures.
METHOD_NAMES = {"mixup": "mixup", "cutmix": "CutMix", "switch": "switch"}


def method_label(
    alpha: float, *, dropout: float = 0.0, model: str = "", method: str = "mixup"
) -> str:
    """How a run is named in every table and figure: "ERM" (alpha 0, or
    method "erm") or "mixup (α = 1)", with " + dropout (p = 0.5)" folded in,
    and `model` (e.g. "GAN") after the method: "mixup GAN (α = 0.2)".
    `method` names the mixing: "CutMix (α = 1)"; the switch's alpha is its
    mixup's and its CutMix alpha timm's (`images.TIMM_SWITCH`): "switch
    (mixup α = 0.8, CutMix α = 1)"."""
    if method != "erm" and method not in METHOD_NAMES:
        raise ValueError(
            f"`method` must be one of erm, {', '.join(METHOD_NAMES)}, got "
            f"{method!r}"
        )
    erm = alpha == 0 or method == "erm"
    mixing = "ERM" if erm else METHOD_NAMES[method]
    name = f"{mixing} {model}" if model else mixing
    if erm:
        settings = []
    elif method == "switch":
        settings = [f"mixup α = {alpha:g}",
                    f"CutMix α = {images.TIMM_SWITCH['cutmix_alpha']:g}"]
    else:
        settings = [f"α = {alpha:g}"]
    if dropout:
        name += " + dropout"
        settings.append(f"p = {dropout:g}")
    return f"{name} ({', '.join(settings)})" if settings else name


def error_percent(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Top-k error (%): the label is not among the k largest logits (or
    probabilities); ties go to the lower class, as argmax."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return 100.0 * float(np.mean(~np.any(top == labels[:, None], axis=1)))


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


def plot_error_curves(path, curves: Mapping[str, Sequence[float]], ylabel: str,
                      title: str) -> Path:
    """One line per run: error (%) by epoch, written as a PNG."""
    figure, axes = new_figure(7.0, 4.5)
    for label, curve in curves.items():
        axes.plot(range(1, len(curve) + 1), curve, label=label)
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    return save_figure(figure, path)
