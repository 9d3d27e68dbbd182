"""mixup as a `tf.data` map function, on any Keras backend.

The map runs TensorFlow ops (tf.data graphs are TensorFlow graphs) through
the same `keras_mixup.mixing` functions as every other entry point, with
TensorFlow's Keras backend namespace passed in. Importing this module does
not import TensorFlow; building a map does.
"""

import keras

from keras_mixup import _internals
from keras_mixup import mixing


def mixup_map(
    alpha=1.0,
    *,
    per_sample=False,
    num_classes=None,
    label_smoothing=0.0,
    pairing="random",
    target="mixed",
    seed=None,
):
    """A function for `tf.data.Dataset.map` that mixes batched data.

    ```python
    ds = ds.batch(128).map(keras_mixup.mixup_map(alpha=1.0, num_classes=10))
    ```

    Elements may be `(x, y)`, `(x, y, sample_weight)` or a dict with a
    `"labels"` key (e.g. `{"images": x, "labels": y}`); the same structure
    comes back. Inputs may be nested structures of any rank and are cast to
    the compute dtype of Keras's global dtype policy (set it before building
    the map); labels and sample weights come out float32. Sparse integer
    labels are one-hot encoded with `num_classes`. Works with batch size 1,
    odd sizes and a smaller last batch.

    Reproducibility: with a `seed`, the stream of draws is fixed; each batch
    gets the next draw. With `num_parallel_calls`, tf.data may run batches in
    any order, so which batch gets which draw is only deterministic with a
    sequential map (mixing is cheap: sequential costs little).

    Args:
        alpha: Beta(alpha, alpha) parameter, >= 0; 0 returns the batch
            unmixed (labels still one-hot encoded): exactly ERM.
        per_sample: one lam per example instead of one per batch.
        num_classes: number of classes, to one-hot encode sparse labels.
        label_smoothing: eps; class targets become y * (1 - eps) + eps / K.
        pairing: "random" (the paper: a random permutation of the batch) or
            "same_class" (a random permutation within each class of the
            batch; an example alone in its class is paired with itself).
            For nearest-neighbour pairs see `neighbour_mixup_dataset`.
        target: "mixed" (the paper: lam * y_i + (1 - lam) * y_j) or "closer"
            (the label of the example with the larger weight: y_i where
            lam >= 0.5, else y_j; smoothed if `label_smoothing`). Sample
            weights follow the labels.
        seed: int seed.

    Returns:
        A callable `fn(*element) -> element`.
    """
    return MixUpMap(
        alpha,
        per_sample=per_sample,
        num_classes=num_classes,
        label_smoothing=label_smoothing,
        pairing=pairing,
        target=target,
        seed=seed,
    )


class MixUpMap:
    """The callable that `mixup_map` returns; see there."""

    def __init__(
        self, alpha=1.0, *, per_sample=False, num_classes=None,
        label_smoothing=0.0, pairing="random", target="mixed", seed=None,
    ):
        self.alpha = mixing.validate_alpha(alpha)
        (self.per_sample, self.num_classes, self.label_smoothing,
         self.seed) = mixing.validate_options(
            per_sample=per_sample, num_classes=num_classes,
            label_smoothing=label_smoothing, seed=seed,
        )
        self.pairing = mixing.validate_pairing(pairing)
        self.target = mixing.validate_target(target)
        # The global policy when the map is built, not when tf.data traces it.
        self.compute_dtype = keras.config.dtype_policy().compute_dtype
        self._tf = _internals.backend_namespace("tensorflow")
        self.seed_generator = _internals.tf_seed_generator(seed)

    def __call__(self, *element):
        data = element[0] if len(element) == 1 else element
        x, y, sample_weight, repack = mixing.unpack_data(data, name="element")
        x, y, sample_weight = mixing.to_tensors(
            (x, y, sample_weight), backend=self._tf
        )
        x, y, sample_weight = mixing.mixup_batch(
            x, y, sample_weight,
            seed=self.seed_generator,
            alpha=self.alpha,
            per_sample=self.per_sample,
            num_classes=self.num_classes,
            label_smoothing=self.label_smoothing,
            pairing=self.pairing,
            target=self.target,
            dtype=self.compute_dtype,
            backend=self._tf,
        )
        return repack(x, y, sample_weight)

    def __repr__(self):
        return (
            f"mixup_map(alpha={self.alpha}, per_sample={self.per_sample}, "
            f"num_classes={self.num_classes}, "
            f"label_smoothing={self.label_smoothing}, "
            f"pairing={self.pairing!r}, target={self.target!r}, "
            f"seed={self.seed})"
        )


# ----------------------------------------------------------------------------
# Nearest-neighbour pairs (Table 5's "KNN"): each example with a random one of
# its k nearest training neighbours (table: `keras_mixup.nearest_neighbours`).


def neighbour_pairs(x, y, neighbours, *, shuffle=True, seed=None):
    """A `tf.data.Dataset` of ((x_i, y_i), (x_j, y_j)), one element per
    training example i, where j is drawn uniformly from `neighbours[i]`,
    afresh every epoch (every iteration of the dataset).

    Unbatched: map per-example preprocessing (augmentation, normalisation)
    over both halves, batch, then mix with `mixup_pairs_map`; or use
    `neighbour_mixup_dataset`, which does all of it.

    Args:
        x: array of shape (n, ...), the training inputs.
        y: array of shape (n, ...), the labels.
        neighbours: int array of shape (n, k), e.g. from
            `keras_mixup.nearest_neighbours(x, k)`.
        shuffle: shuffle the examples every epoch.
        seed: int seed of the order and of the neighbour draws.
    """
    import numpy as np
    import tensorflow as tf

    x, y = np.asarray(x), np.asarray(y)
    neighbours = np.asarray(neighbours)
    n = x.shape[0] if x.ndim else 0
    if x.ndim < 1 or n < 1:
        raise ValueError(
            "Argument `x` must be an array of shape (n, ...) with n >= 1. "
            f"Received: x of shape {x.shape}"
        )
    if y.ndim < 1 or y.shape[0] != n:
        raise ValueError(
            f"Argument `y` must hold one label per example of `x` ({n}). "
            f"Received: y of shape {y.shape}"
        )
    if (neighbours.ndim != 2 or neighbours.shape[0] != n
            or neighbours.shape[1] < 1 or neighbours.dtype.kind not in "iu"):
        raise ValueError(
            f"Argument `neighbours` must be an integer array of shape ({n}, k), "
            "k >= 1, one row of neighbour indices per example. Received: "
            f"neighbours of shape {neighbours.shape} and dtype {neighbours.dtype}"
        )
    if neighbours.min() < 0 or neighbours.max() >= n:
        raise ValueError(
            f"Argument `neighbours` must hold indices in [0, {n}). Received "
            f"values in [{neighbours.min()}, {neighbours.max()}]."
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(
            f"Argument `seed` must be an int or None. Received: seed={seed!r}"
        )
    k = neighbours.shape[1]
    # Eager tensors are captured by reference by the map function, not
    # copied into the graph as constants.
    x_t = tf.convert_to_tensor(x)
    y_t = tf.convert_to_tensor(y)
    table = tf.convert_to_tensor(neighbours.astype(np.int64))
    order = tf.data.Dataset.range(n)
    if shuffle:
        order = order.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    draws = tf.data.Dataset.random(
        seed=None if seed is None else seed + 1, rerandomize_each_iteration=True
    )

    def pair(i, r):
        # A uniform int64: the modulo bias over k <= 2**31 slots is < 2**-32.
        j = table[i, tf.math.floormod(r, k)]
        return (x_t[i], y_t[i]), (x_t[j], y_t[j])

    return tf.data.Dataset.zip((order, draws)).map(
        pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def mixup_pairs_map(
    alpha=1.0,
    *,
    per_sample=False,
    num_classes=None,
    label_smoothing=0.0,
    target="mixed",
    seed=None,
):
    """A `tf.data` map function that mixes batched pairs: element
    ((x_a, y_a), (x_b, y_b)) becomes (x, y) with x = lam * x_a + (1 - lam) *
    x_b and y mixed the same way (target="mixed") or taken from the example
    with the larger weight (target="closer"). The arguments are those of
    `mixup_map`; one lam per batch unless `per_sample`.
    """
    return MixUpPairsMap(
        alpha, per_sample=per_sample, num_classes=num_classes,
        label_smoothing=label_smoothing, target=target, seed=seed,
    )


class MixUpPairsMap:
    """The callable that `mixup_pairs_map` returns; see there."""

    def __init__(
        self, alpha=1.0, *, per_sample=False, num_classes=None,
        label_smoothing=0.0, target="mixed", seed=None,
    ):
        self.alpha = mixing.validate_alpha(alpha)
        (self.per_sample, self.num_classes, self.label_smoothing,
         self.seed) = mixing.validate_options(
            per_sample=per_sample, num_classes=num_classes,
            label_smoothing=label_smoothing, seed=seed,
        )
        self.target = mixing.validate_target(target)
        self.compute_dtype = keras.config.dtype_policy().compute_dtype
        self._tf = _internals.backend_namespace("tensorflow")
        self.seed_generator = _internals.tf_seed_generator(seed)

    def __call__(self, *element):
        pair = element[0] if len(element) == 1 else element
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ValueError(
                "Expected elements ((x_a, y_a), (x_b, y_b)) of batched pairs "
                "(see keras_mixup.neighbour_pairs). Received "
                f"{type(pair).__name__} of length "
                f"{len(pair) if isinstance(pair, tuple) else '-'}."
            )
        first, second = (tuple(mixing.to_tensors(part, backend=self._tf))
                         if isinstance(part, (tuple, list)) else part
                         for part in pair)
        return mixing.mixup_pairs(
            first, second,
            seed=self.seed_generator,
            alpha=self.alpha,
            per_sample=self.per_sample,
            num_classes=self.num_classes,
            label_smoothing=self.label_smoothing,
            target=self.target,
            dtype=self.compute_dtype,
            backend=self._tf,
        )

    def __repr__(self):
        return (
            f"mixup_pairs_map(alpha={self.alpha}, per_sample={self.per_sample}, "
            f"num_classes={self.num_classes}, "
            f"label_smoothing={self.label_smoothing}, target={self.target!r}, "
            f"seed={self.seed})"
        )


def neighbour_mixup_dataset(
    x,
    y,
    neighbours,
    *,
    batch_size,
    alpha=1.0,
    per_sample=False,
    num_classes=None,
    label_smoothing=0.0,
    target="mixed",
    preprocess=None,
    shuffle=True,
    drop_remainder=False,
    seed=None,
):
    """Batches of training examples, each mixed with a random one of its
    nearest neighbours (the ablation's "KNN" pairing):

    ```python
    table = keras_mixup.nearest_neighbours(x_train, k=200)          # "AC"
    table = keras_mixup.nearest_neighbours(x_train, 200, labels=y)  # "SC"
    ds = keras_mixup.neighbour_mixup_dataset(
        x_train, y_train, table, batch_size=128, alpha=1.0, num_classes=10)
    ```

    `neighbour_pairs` -> `preprocess` on both halves -> batch ->
    `mixup_pairs_map`. Elements come out as (x, y): float inputs in the
    compute dtype, float32 targets.

    Args:
        preprocess: optional per-example `fn(x, y) -> (x, y)` (TF ops), e.g.
            augmentation and normalisation; applied independently to an
            example and to its neighbour.
        batch_size: examples per batch.
        drop_remainder: drop a last, smaller batch.
        Others: see `neighbour_pairs` and `mixup_map`.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or (
        batch_size < 1
    ):
        raise ValueError(
            "Argument `batch_size` must be a positive integer. "
            f"Received: batch_size={batch_size!r}"
        )
    if preprocess is not None and not callable(preprocess):
        raise ValueError(
            "Argument `preprocess` must be a callable fn(x, y) -> (x, y) or "
            f"None. Received: preprocess={preprocess!r}"
        )
    mixer = mixup_pairs_map(
        alpha, per_sample=per_sample, num_classes=num_classes,
        label_smoothing=label_smoothing, target=target, seed=seed,
    )
    ds = neighbour_pairs(x, y, neighbours, shuffle=shuffle, seed=seed)
    if preprocess is not None:
        import tensorflow as tf

        ds = ds.map(
            lambda a, b: (tuple(preprocess(*a)), tuple(preprocess(*b))),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
        )
    return ds.batch(batch_size, drop_remainder=drop_remainder).map(mixer)
