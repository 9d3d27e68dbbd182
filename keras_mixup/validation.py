"""Argument validation shared by every entry point.

Each check raises a ValueError that names the argument, says what was
expected and what was received (Keras's phrasing).
"""

import math

import keras

# "random": a permutation of the batch (the paper, "AC + RP" in Table 5);
# "same_class": a permutation within each class of the batch ("SC + RP").
PAIRINGS = ("random", "same_class")
# "mixed": lam * y_i + (1 - lam) * y_j (the paper); "closer": y_i where
# lam >= 0.5 else y_j (Table 5's "mix inputs only").
TARGETS = ("mixed", "closer")


def validate_alpha(alpha, name="alpha"):
    """A float alpha >= 0, finite; raises ValueError naming the argument."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        try:
            import numpy as np

            if isinstance(alpha, np.generic) and np.issubdtype(
                alpha.dtype, np.number
            ):
                alpha = float(alpha)
            else:
                raise TypeError
        except TypeError:
            raise ValueError(
                f"Argument `{name}` must be a non-negative finite number. "
                f"Received: {name}={alpha!r} (of type {type(alpha).__name__})"
            ) from None
    if not math.isfinite(alpha) or alpha < 0:
        raise ValueError(
            f"Argument `{name}` must be a non-negative finite number "
            f"(0 means no mixing). Received: {name}={alpha}"
        )
    return float(alpha)


def validate_options(*, per_sample, num_classes, label_smoothing, seed):
    """The options every entry point takes, validated, as a tuple."""
    return (validate_bool(per_sample, "per_sample"),
            validate_num_classes(num_classes),
            validate_label_smoothing(label_smoothing), validate_seed(seed))


def validate_bool(value, name):
    """A bool (not merely truthy); ValueError naming the argument."""
    if not isinstance(value, bool):
        raise ValueError(
            f"Argument `{name}` must be a bool. Received: {name}={value!r}"
        )
    return value


def validate_seed(seed):
    """An int seed or None; ValueError naming the argument."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(
            f"Argument `seed` must be an int or None. Received: seed={seed!r}"
        )
    return seed


def validate_positive_int(value, name, meaning=""):
    """An integer >= 1 (NumPy integers too) as an int; ValueError naming the
    argument, with `meaning` (e.g. " (examples per batch)") after "integer"."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (
        value < 1
    ):
        raise ValueError(
            f"Argument `{name}` must be a positive integer{meaning}. "
            f"Received: {name}={value!r}"
        )
    return int(value)


def validate_num_classes(num_classes):
    if num_classes is None:
        return None
    import numpy as np

    if isinstance(num_classes, bool) or not isinstance(
        num_classes, (int, np.integer)
    ) or num_classes < 1:
        raise ValueError(
            "Argument `num_classes` must be a positive integer or None. "
            f"Received: num_classes={num_classes!r}"
        )
    return int(num_classes)


def validate_label_smoothing(label_smoothing):
    if isinstance(label_smoothing, bool) or not isinstance(
        label_smoothing, (int, float)
    ) or not (0.0 <= label_smoothing < 1.0):
        raise ValueError(
            "Argument `label_smoothing` must be a number in [0, 1). "
            f"Received: label_smoothing={label_smoothing!r}"
        )
    return float(label_smoothing)


def validate_pairing(pairing):
    """"random" (the paper) or "same_class"; ValueError naming the argument."""
    if pairing not in PAIRINGS:
        raise ValueError(
            f"Argument `pairing` must be one of {PAIRINGS} (a random "
            "permutation of the batch, or one within each class). For "
            "nearest-neighbour pairs, which need the whole training set, use "
            "keras_mixup.nearest_neighbours and "
            f"keras_mixup.neighbour_mixup_dataset. Received: pairing={pairing!r}"
        )
    return pairing


def validate_target(target):
    """"mixed" (the paper) or "closer"; ValueError naming the argument."""
    if target not in TARGETS:
        raise ValueError(
            f"Argument `target` must be one of {TARGETS} (the mixed labels, "
            "or the label of the example with the larger weight). "
            f"Received: target={target!r}"
        )
    return target


def validate_minmax(minmax):
    """None, or (lo, hi) floats with 0 < lo <= hi <= 1."""
    if minmax is None:
        return None
    ok = (
        isinstance(minmax, (tuple, list))
        and len(minmax) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                for v in minmax)
    )
    if ok:
        lo, hi = float(minmax[0]), float(minmax[1])
        ok = 0.0 < lo <= hi <= 1.0
    if not ok:
        raise ValueError(
            "Argument `minmax` must be None or a pair (lo, hi) of box side "
            "fractions with 0 < lo <= hi <= 1. "
            f"Received: minmax={minmax!r}"
        )
    return (lo, hi)


def validate_probability(value, name):
    """A float in [0, 1]; ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        0.0 <= value <= 1.0
    ):
        raise ValueError(
            f"Argument `{name}` must be a probability, a number in [0, 1]. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def validate_data_format(data_format):
    """None -> keras.config.image_data_format(); else one of DATA_FORMATS."""
    if data_format is None:
        return keras.config.image_data_format()
    if data_format not in DATA_FORMATS:
        raise ValueError(
            f"Argument `data_format` must be one of {DATA_FORMATS} or None. "
            f"Received: data_format={data_format!r}"
        )
    return data_format


# Where the channels axis of images is (Keras's `image_data_format`).
DATA_FORMATS = ("channels_last", "channels_first")
