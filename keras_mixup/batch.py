"""A whole batch mixed with one draw: inputs, labels and sample weights.

Every entry point on data (the MixUp layer on (x, y), the tf.data maps)
comes through here; the maths is `keras_mixup.mixing`'s.
"""

import keras

from keras_mixup import _internals
from keras_mixup.labels import class_ids_of
from keras_mixup.labels import prepare_labels
from keras_mixup.mixing import closer
from keras_mixup.mixing import closer_pair
from keras_mixup.mixing import draw
from keras_mixup.mixing import mix
from keras_mixup.mixing import mix_pair
from keras_mixup.mixing import mix_where
from keras_mixup.mixing import sample_lambda
from keras_mixup.mixing import unmixed_where_one
from keras_mixup.structure import batch_size_of
from keras_mixup.structure import check_same_batch
from keras_mixup.structure import prepare_inputs

_ns = _internals.ops_for


def mixup_batch(
    x,
    y=None,
    sample_weight=None,
    *,
    seed,
    alpha,
    per_sample=False,
    num_classes=None,
    label_smoothing=0.0,
    pairing="random",
    target="mixed",
    dtype="float32",
    groups=1,
    prob=1.0,
    backend=None,
):
    """Mix a batch the way every entry point does. Returns (x, y, sample_weight).

    Inputs (any nested structure, any rank) are cast to `dtype` (integer
    images included); labels become float32 targets (see `prepare_labels`);
    sample weights become float32. All three use the same lam and pairs.
    `alpha` may be a Python number (0 skips mixing entirely) or a scalar
    tensor/variable (alpha == 0 then selects the unmixed batch, so ERM stays
    bit-identical).

    pairing: "random" pairs each example with a random permutation of the
        batch; "same_class" with a random permutation within its class (the
        class is the argmax of the prepared label).
    target: "mixed" mixes labels and sample weights like the inputs;
        "closer" gives each mixed input the label and sample weight of the
        example with the larger weight (lam >= 0.5: the example itself).
    prob: probability that a batch (an example, per sample) is mixed; the
        others keep their inputs, labels and sample weights bit for bit.
    """
    b = _ns(backend)
    if prob == 0.0:
        alpha = 0.0
    check_same_batch({"x": x, "y": y, "sample_weight": sample_weight}, backend=b)
    x = prepare_inputs(x, dtype, backend=b)
    if y is not None:
        y = keras.tree.map_structure(
            lambda t: prepare_labels(
                t, num_classes=num_classes, label_smoothing=label_smoothing,
                backend=b,
            ),
            y,
        )
    if sample_weight is not None:
        sample_weight = keras.tree.map_structure(
            lambda t: b.cast(t, "float32"), sample_weight
        )
    class_ids = class_ids_of(y, backend=b) if pairing == "same_class" else None
    batch = (x, y, sample_weight)
    present = tuple(part for part in batch if part is not None)
    is_input = tuple(part is x for part in batch if part is not None)

    def mix_present(lam, perm):
        mixed = tuple(
            mix(part, lam, perm, backend=b) if inputs or target == "mixed"
            else closer(part, lam, perm, backend=b)
            for inputs, part in zip(is_input, present)
        )
        if prob < 1.0:
            mixed = unmixed_where_one(present, mixed, lam, backend=b)
        return mixed

    if isinstance(alpha, (int, float)):
        if alpha > 0:
            lam, perm = draw(seed, alpha, batch_size_of(x, backend=b),
                             per_sample=per_sample, groups=groups,
                             class_ids=class_ids, prob=prob, backend=b)
            present = mix_present(lam, perm)
    else:
        # Draw outside the cond: the seed's state update must not happen in
        # a branch (on JAX it would leak a tracer).
        lam, perm = draw(seed, alpha, batch_size_of(x, backend=b),
                         per_sample=per_sample, groups=groups,
                         class_ids=class_ids, prob=prob, backend=b)
        present = mix_where(b.cast(alpha, "float32") > 0.0, present, lam, perm,
                            mixed=lambda: mix_present(lam, perm), backend=b)
    parts = iter(present)
    return tuple(next(parts) if part is not None else None for part in batch)


def mixup_pairs(
    first,
    second,
    *,
    seed,
    alpha,
    per_sample=False,
    num_classes=None,
    label_smoothing=0.0,
    target="mixed",
    dtype="float32",
    backend=None,
):
    """Mix row i of batch `first` with row i of batch `second` (pairs chosen
    elsewhere, e.g. nearest neighbours): the maths of `mixup_batch` with the
    partner batch given instead of drawn as a permutation.

    `first` and `second` are (x, y) or (x, y, sample_weight) of the same
    structure and batch size. Returns the same tuple structure, mixed.
    """
    b = _ns(backend)
    if not (isinstance(first, tuple) and isinstance(second, tuple)
            and len(first) == len(second) and len(first) in (2, 3)):
        raise ValueError(
            "Expected `first` and `second` as (x, y) or (x, y, sample_weight) "
            "tuples of the same length. Received "
            f"{type(first).__name__} of length {_length(first)} and "
            f"{type(second).__name__} of length {_length(second)}."
        )

    def prepare(part):
        x, y, *weights = part
        x = prepare_inputs(x, dtype, backend=b)
        y = keras.tree.map_structure(
            lambda t: prepare_labels(
                t, num_classes=num_classes, label_smoothing=label_smoothing,
                backend=b,
            ),
            y,
        )
        weights = [keras.tree.map_structure(lambda t: b.cast(t, "float32"), w)
                   for w in weights]
        return (x, y, *weights)

    first, second = prepare(first), prepare(second)
    check_same_batch({"first": first, "second": second}, backend=b)
    if isinstance(alpha, (int, float)) and alpha == 0:
        return first
    lam = sample_lambda(
        seed, alpha, (batch_size_of(first[0], backend=b),) if per_sample else (),
        backend=b,
    )
    label_mix = mix_pair if target == "mixed" else closer_pair
    return (mix_pair(first[0], second[0], lam, backend=b),) + tuple(
        label_mix(a, c, lam, backend=b) for a, c in zip(first[1:], second[1:])
    )


def _length(value):
    return len(value) if isinstance(value, (tuple, list)) else "-"
