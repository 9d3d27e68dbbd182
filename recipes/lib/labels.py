"""Label corruption, the one implementation (UCI --label-noise, the
corrupted-labels recipe)."""

from __future__ import annotations

import dataclasses

import numpy as np

REPLACEMENTS = ("uniform", "other")


@dataclasses.dataclass(frozen=True, eq=False)
class CorruptedLabels:
    """labels: the labels after corruption (int32); corrupted: True where a
    label was replaced (with replacement="uniform" it may still equal the
    true label)."""

    labels: np.ndarray
    corrupted: np.ndarray


def corrupt_labels(
    labels: np.ndarray,
    fraction: float,
    num_classes: int,
    *,
    seed: int | np.random.Generator,
    replacement: str = "uniform",
) -> CorruptedLabels:
    """Replace exactly round(fraction * n) labels, chosen uniformly without
    replacement, by random labels: drawn uniformly from all num_classes
    classes (replacement="uniform", as the code of Zhang et al. (2017) that
    the mixup paper adapts; the draw equals the true label with probability
    1 / num_classes) or from the other num_classes - 1 classes
    (replacement="other": every chosen label changes).

    seed: an int (a pure function of the arguments) or a numpy Generator
    whose stream continues (e.g. after it drew a train/test split).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be a 1-D array of integer class ids, received dtype "
            f"{labels.dtype} and shape {labels.shape}"
        )
    if not (isinstance(num_classes, (int, np.integer)) and num_classes >= 2):
        raise ValueError(f"num_classes must be an int >= 2, received {num_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}] (num_classes="
            f"{num_classes}), received values in [{labels.min()}, {labels.max()}]"
        )
    if not (isinstance(fraction, (int, float)) and 0.0 <= fraction <= 1.0):
        raise ValueError(f"fraction must be a number in [0, 1], received {fraction!r}")
    if replacement not in REPLACEMENTS:
        raise ValueError(
            f"replacement must be one of {', '.join(REPLACEMENTS)}, received "
            f"{replacement!r}"
        )
    rng = np.random.default_rng(seed)
    count = int(round(fraction * len(labels)))
    chosen = rng.choice(len(labels), size=count, replace=False)
    if replacement == "uniform":
        new_labels = rng.integers(0, num_classes, size=count)
    else:
        new_labels = (labels[chosen] + rng.integers(1, num_classes, size=count)) % (
            num_classes
        )
    noisy = labels.astype(np.int32, copy=True)
    noisy[chosen] = new_labels
    corrupted = np.zeros(len(labels), dtype=bool)
    corrupted[chosen] = True
    return CorruptedLabels(noisy, corrupted)
