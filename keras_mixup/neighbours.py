"""Nearest-neighbour pairs (Table 5's "KNN"): the table of each training
example's k nearest neighbours, and the tf.data datasets that mix each
example with a random one of them."""

import keras

from keras_mixup import validation
from keras_mixup.batch import mixup_pairs
from keras_mixup.data import TFDataMixer
from keras_mixup.structure import to_tensors


def nearest_neighbours(x, k=200, *, labels=None, chunk_size=1024):
    """The k nearest neighbours of every example of a training set.

    Squared Euclidean distance between flattened inputs, brute force in
    chunks of `chunk_size` query rows with keras.ops (on the accelerator
    when there is one). An example is never its own neighbour (identical
    copies of it are). Row i lists neighbours from nearest to farthest;
    ties go to the lower index.

    Args:
        x: array of shape (n, ...), the training inputs.
        k: neighbours per example (the paper: 200).
        labels: optional int array of shape (n,): then neighbours are searched
            within each example's class ("SC + KNN"); without, over all
            examples ("AC + KNN"). Each class needs more than k examples.
        chunk_size: query rows per distance block (memory: chunk_size * n
            floats).

    Returns:
        int32 numpy array of shape (n, k): indices into x.
    """
    import numpy as np

    x = np.asarray(keras.ops.convert_to_numpy(x)) if not isinstance(
        x, np.ndarray) else x
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(
            "Argument `x` must be an array of shape (n, ...) with n >= 2 "
            f"examples. Received: x of shape {x.shape}"
        )
    n = x.shape[0]
    k = validation.validate_positive_int(k, "k")
    chunk_size = validation.validate_positive_int(chunk_size, "chunk_size")
    flat = x.reshape(n, -1).astype(np.float32)
    if labels is None:
        if k >= n:
            raise ValueError(
                f"Argument `k` must be smaller than the number of examples "
                f"({n}): an example is not its own neighbour. Received: k={k}"
            )
        return _neighbours_within(flat, k, chunk_size)
    labels = np.asarray(keras.ops.convert_to_numpy(labels))
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise ValueError(
            f"Argument `labels` must be integer class labels of shape ({n},), "
            f"one per example of `x`. Received: labels of shape "
            f"{labels.shape} and dtype {labels.dtype}"
        )
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() <= k:
        raise ValueError(
            f"Argument `k` must be smaller than every class's number of "
            f"examples for same-class neighbours. Received: k={k}, and class "
            f"{classes[counts.argmin()]} has {counts.min()} examples."
        )
    table = np.empty((n, k), dtype=np.int32)
    for c in classes:
        members = np.flatnonzero(labels == c)
        table[members] = members[_neighbours_within(flat[members], k,
                                                    chunk_size)]
    return table


def _neighbours_within(flat, k, chunk_size):
    """k nearest rows of `flat` for every row (itself excluded), as numpy."""
    import numpy as np

    ops = keras.ops
    # Centred: distances are unchanged and ||a||^2 + ||b||^2 - 2ab loses
    # less to cancellation in float32.
    flat = flat - flat.mean(axis=0, keepdims=True)
    n = flat.shape[0]
    data = ops.convert_to_tensor(flat)
    sq_norms = ops.sum(data * data, axis=1)
    out = []
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        query = data[start:stop]
        distances = (
            ops.expand_dims(sq_norms[start:stop], 1)
            + ops.expand_dims(sq_norms, 0)
            - 2.0 * ops.matmul(query, ops.transpose(data))
        )
        rows = np.arange(stop - start)
        is_self = ops.convert_to_tensor(
            (rows[:, None] + start) == np.arange(n)[None, :]
        )
        distances = ops.where(is_self, float("inf"), distances)
        if keras.backend.backend() == "torch":
            # torch.topk leaves the order of ties unspecified; a stable sort
            # puts the lower index first, as top_k does on TF and JAX.
            indices = ops.argsort(distances, axis=1)[:, :k]
        else:
            _, indices = ops.top_k(-distances, k)
        out.append(ops.convert_to_numpy(indices).astype(np.int32))
    return np.concatenate(out, axis=0)




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
    validation.validate_seed(seed)
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


class MixUpPairsMap(TFDataMixer):
    """The callable that `mixup_pairs_map` returns; see there."""

    NAME = "mixup_pairs_map"

    def mix_element(self, *element):
        pair = element[0] if len(element) == 1 else element
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ValueError(
                "Expected elements ((x_a, y_a), (x_b, y_b)) of batched pairs "
                "(see keras_mixup.neighbour_pairs). Received "
                f"{type(pair).__name__} of length "
                f"{len(pair) if isinstance(pair, tuple) else '-'}."
            )
        first, second = (tuple(to_tensors(part, backend=self._tf))
                         if isinstance(part, (tuple, list)) else part
                         for part in pair)
        return mixup_pairs(
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
    batch_size = validation.validate_positive_int(batch_size, "batch_size")
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
