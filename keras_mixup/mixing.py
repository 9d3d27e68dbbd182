"""The mathematics of mixup, as small pure functions.

Every entry point (the `MixUp` layer, `mixup_map`, `MixUpModel`, `MixUpGAN`)
calls these and nothing else does the maths. Each function takes an optional
`backend` namespace (default: the running Keras backend). The tf.data map
passes TensorFlow's, so the same code runs on TF ops inside a `tf.data`
pipeline while Keras itself runs on JAX: the approach of Keras's own
`DataLayer`.

The sampler works in log space: lam = sigmoid(log G1 - log G2) with
G1, G2 ~ Gamma(alpha), and log G(alpha) = log G(alpha + 1) + log(U) / alpha.
Small alphas never underflow to 0/0 (no NaN, no spike at 0.5), and the
Marsaglia-Tsang draws use only normal and uniform variates, so the sampler
compiles under XLA (TF `jit_compile=True`, TPU) and `jax.jit`, unlike
`keras.random.beta`.
"""

import math

import keras

from keras_mixup import _internals

# Marsaglia-Tsang candidates drawn side by side per Gamma variate. The shape
# is boosted to alpha + 1 >= 1, where one candidate is accepted with
# probability >= 0.95, so all 16 are rejected with probability < 1e-20.
_GAMMA_CANDIDATES = 16
_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
               "uint64", "bool")


_ns = _internals.ops_for


def is_integer_dtype(dtype):
    return keras.backend.standardize_dtype(dtype) in _INT_DTYPES


# ----------------------------------------------------------------------------
# Sampling: lam and pairs.


def _normal(shape, seed, b):
    if b.name == "tensorflow":
        return _tf_philox("normal", shape, seed)
    return b.random.normal(shape, dtype="float32", seed=seed)


def _uniform(shape, seed, b):
    if b.name == "tensorflow":
        return _tf_philox("uniform", shape, seed)
    return b.random.uniform(shape, dtype="float32", seed=seed)


def _tf_philox(kind, shape, seed):
    """`keras.random.normal/uniform` on TensorFlow, with `alg="philox"` named
    explicitly where the function is being compiled with XLA.

    Keras leaves TF's `alg="auto_select"`, which under XLA on CPU lowers to
    a slow generic RngBitGenerator (15 ms for 32k normals, against 0.4 ms
    with an explicit Philox; benchmarks/README.md). On CPU auto-select is
    Philox anyway, with and without XLA: the numbers are bit-identical to
    Keras's, only the lowering changes. (Where auto-select would pick
    another generator under XLA, e.g. on TPU, the stream is Philox's.)
    Outside XLA auto-select stays: an explicit Philox scrambles the seed
    with a dozen small ops there, 0.15 ms more CPU per batch in tf.data.
    """
    import tensorflow as tf

    seed = _internals.tf_stateless_seed(seed)
    fn = tf.random.stateless_normal if kind == "normal" else tf.random.stateless_uniform
    if _in_tf_xla_context():
        return fn(shape, seed=seed, dtype="float32", alg="philox")
    return fn(shape, seed=seed, dtype="float32")


def _in_tf_xla_context():
    """Whether a `tf.function(jit_compile=True)` is being traced."""
    import tensorflow as tf

    if tf.executing_eagerly():
        return False
    return _internals.tf_graph_in_xla_context(tf.compat.v1.get_default_graph())


def _log_gamma_plus_one(seed, shape_param, shape, b):
    """log of Gamma(shape_param + 1) variates, Marsaglia & Tsang (2000)."""
    np_ = b.numpy
    d = shape_param + (1.0 - 1.0 / 3.0)
    c = 1.0 / np_.sqrt(9.0 * d)
    candidates = tuple(shape) + (_GAMMA_CANDIDATES,)
    z = _normal(candidates, seed, b)
    # 1 - U lies in (0, 1]: its log is finite.
    log_u = np_.log1p(-_uniform(candidates, seed, b))
    d_ = np_.expand_dims(d, -1)
    v = (1.0 + np_.expand_dims(c, -1) * z) ** 3
    positive = v > 0.0
    log_v = np_.log(np_.where(positive, v, 1.0))
    accepted = np_.logical_and(
        positive, log_u < 0.5 * z * z + d_ - d_ * v + d_ * log_v
    )
    first = np_.argmax(b.cast(accepted, "int32"), axis=-1)
    log_v = np_.squeeze(
        np_.take_along_axis(log_v, np_.expand_dims(first, -1), axis=-1), -1
    )
    # If every candidate is rejected (p < 1e-20) fall back to the mode.
    log_v = np_.where(np_.any(accepted, axis=-1), log_v, 0.0)
    return np_.log(d) + log_v


def _log_gamma(seed, alpha, shape, b):
    """log of Gamma(alpha) variates for alpha > 0, without underflow."""
    np_ = b.numpy
    log_g = _log_gamma_plus_one(seed, alpha, shape, b)
    log_u = np_.log1p(-_uniform(shape, seed, b))
    return log_g + log_u / alpha


def sample_beta_logit(seed, alpha, shape=(), *, backend=None):
    """log(lam / (1 - lam)) for lam ~ Beta(alpha, alpha); alpha > 0.

    Exposed for tests: the logit resolves the tails that float32 `lam` rounds
    to exactly 0 or 1 when alpha is small.
    """
    b = _ns(backend)
    shape = tuple(shape)
    alpha = b.numpy.broadcast_to(b.cast(alpha, "float32"), (2,) + shape)
    # Both Gamma variates in one draw: independent, whatever the seed.
    log_g = _log_gamma(seed, alpha, (2,) + shape, b)
    return log_g[0] - log_g[1]


def sample_lambda(seed, alpha, shape=(), *, backend=None):
    """lam ~ Beta(alpha, alpha) as float32, of the given shape.

    Args:
        seed: a `keras.random.SeedGenerator`; each call advances it.
        alpha: Python number or scalar tensor (a schedule's variable), >= 0.
            alpha == 0 gives lam == 1 exactly (ERM).
        shape: `()` for one lam per batch, `(batch_size,)` for one per example.
    """
    b = _ns(backend)
    if isinstance(alpha, (int, float)):
        if alpha == 0:
            return b.numpy.ones(shape, dtype="float32")
        return b.nn.sigmoid(sample_beta_logit(seed, alpha, shape, backend=b))
    alpha = b.cast(alpha, "float32")
    positive = alpha > 0.0
    safe_alpha = b.numpy.where(positive, alpha, 1.0)
    lam = b.nn.sigmoid(sample_beta_logit(seed, safe_alpha, shape, backend=b))
    return b.numpy.where(positive, lam, 1.0)


def sample_permutation(seed, batch_size, *, groups=1, backend=None):
    """A uniformly random pairing of the batch: int32 partner indices.

    With `groups == 1`, a permutation of `range(batch_size)`, shape (B,).
    With `groups > 1` the batch is split into `groups` contiguous blocks of
    equal size (one per data-parallel device) and each block is permuted
    within itself; the result holds the LOCAL indices, shape (groups, B //
    groups), so that the partner gather (`partners`) stays on each device:
    mixing adds no communication. `batch_size` must be divisible by `groups`.
    """
    b = _ns(backend)
    np_ = b.numpy
    if groups == 1:
        keys = _uniform((batch_size,), seed, b)
        return b.cast(np_.argsort(keys), "int32")
    if isinstance(batch_size, int) and batch_size % groups:
        raise ValueError(
            f"Expected a batch size divisible by the number of data-parallel "
            f"devices ({groups}), so that each device pairs its own examples. "
            f"Received a batch of {batch_size}."
        )
    keys = _uniform((groups, batch_size // groups), seed, b)
    return b.cast(np_.argsort(keys, axis=-1), "int32")


def sample_same_class_permutation(seed, class_ids, *, backend=None):
    """A uniformly random permutation within each class of the batch (the
    ablation's "SC + RP"): int32 partner indices, shape (B,).

    Every example is paired with an example of its own class; an example
    alone in its class is paired with itself. Static shapes only (compiles
    under XLA, jax.jit and in tf.data): the batch is sorted twice by
    (class, independent random key); the two orders list each class in the
    same segment of positions, so pairing order_a[i] with order_b[i] is a
    uniformly random bijection inside every class.

    Args:
        seed: a `keras.random.SeedGenerator`; each call advances it.
        class_ids: int tensor of shape (B,), the class of each example.
    """
    b = _ns(backend)
    np_ = b.numpy
    class_ids = b.cast(class_ids, "int32")
    n = b.shape(class_ids)[0]

    def grouped_order():
        # A random order r, then a sort by (class, position in r): unique
        # integer keys, so an unstable argsort (TensorFlow's) is exact.
        r = b.cast(np_.argsort(_uniform((n,), seed, b)), "int32")
        key = np_.take(class_ids, r) * n + np_.arange(n, dtype="int32")
        return np_.take(r, np_.argsort(key))

    order_a = grouped_order()
    order_b = grouped_order()
    # perm[order_a[i]] = order_b[i], as a gather through order_a's inverse.
    return b.cast(np_.take(order_b, np_.argsort(order_a)), "int32")


def class_ids_of(y, *, backend=None):
    """The class of each example from prepared (one-hot/soft) class targets:
    argmax over the class axis, int32 of shape (B,)."""
    b = _ns(backend)
    leaves = keras.tree.flatten(y) if y is not None else []
    if len(leaves) != 1:
        raise ValueError(
            "pairing='same_class' needs one class label per example (a "
            "single label tensor). Received "
            + ("no labels." if not leaves else f"{len(leaves)} label tensors.")
        )
    t = leaves[0]
    if len(t.shape) != 2 or t.shape[-1] in (None, 1):
        raise ValueError(
            "pairing='same_class' needs class labels: sparse integers of "
            "shape (batch_size,) with num_classes, or one-hot/soft labels of "
            f"shape (batch_size, num_classes). Received labels of shape "
            f"{tuple(t.shape)}."
        )
    return b.cast(b.numpy.argmax(t, axis=-1), "int32")


def global_permutation(perm, *, backend=None):
    """`perm` as indices into the whole batch, shape (B,) (for tests/tools)."""
    b = _ns(backend)
    np_ = b.numpy
    if len(perm.shape) == 1:
        return perm
    groups, block = perm.shape
    offsets = np_.expand_dims(np_.arange(groups, dtype="int32") * block, -1)
    return np_.reshape(perm + offsets, (groups * block,))


def partners(t, perm, *, backend=None):
    """t[perm]: each example's partner, for a (B,) or grouped (G, B/G) perm."""
    b = _ns(backend)
    np_ = b.numpy
    if len(perm.shape) == 1:
        return np_.take(t, perm, axis=0)
    groups, block = perm.shape
    grouped = np_.reshape(t, (groups, block) + tuple(t.shape[1:]))
    index = np_.reshape(perm, (groups, block) + (1,) * (len(t.shape) - 1))
    return np_.reshape(np_.take_along_axis(grouped, index, axis=1), t.shape)


# ----------------------------------------------------------------------------
# Mixing.


def mix(tree, lam, perm, *, backend=None):
    """lam * t + (1 - lam) * t[perm] for every tensor `t` in a nested structure.

    Works on any rank (batch axis first). `lam` is a scalar or of shape
    (batch_size,); it is cast to each tensor's dtype, so a bfloat16 batch is
    mixed in bfloat16 (half the memory traffic). See `mix_pair`.
    """
    b = _ns(backend)
    return mix_pair(tree, partners_of(tree, perm, backend=b), lam, backend=b)


def mix_pair(first, second, lam, *, backend=None):
    """lam * a + (1 - lam) * b for matching tensors of two nested structures.

    Computed as b + lam * (a - b), equal to the paper's form up to float
    rounding, on purpose: with a single product, a compiler that contracts
    into a fused multiply-add has only one way to do it, so the inputs mixed
    inside a model and the labels mixed in the loss round identically
    (bit-equal), whatever XLA fuses them with. The paper's two products let
    each fusion pick a different FMA and differ by an ulp.
    """
    b = _ns(backend)

    def mix_one(a, t_b):
        lam_t = _per_example(b.cast(lam, a.dtype), len(a.shape), b)
        return t_b + lam_t * (a - t_b)

    return keras.tree.map_structure(mix_one, first, second)


def closer(tree, lam, perm, *, backend=None):
    """The target of the closer example (the ablation's "mix inputs only"):
    t where lam >= 0.5, else t[perm], for every tensor of a nested structure.
    """
    b = _ns(backend)
    return closer_pair(tree, partners_of(tree, perm, backend=b), lam, backend=b)


def closer_pair(first, second, lam, *, backend=None):
    """a where lam >= 0.5 (the first example weighs more), else b: a select,
    so the chosen (smoothed) one-hot comes out bit for bit."""
    b = _ns(backend)
    first_weighs_more = lam >= 0.5

    def pick(a, t_b):
        keep = _per_example(first_weighs_more, len(a.shape), b)
        return b.numpy.where(keep, a, t_b)

    return keras.tree.map_structure(pick, first, second)


def partners_of(tree, perm, *, backend=None):
    """`partners` for every tensor of a nested structure."""
    b = _ns(backend)
    return keras.tree.map_structure(lambda t: partners(t, perm, backend=b), tree)


def _per_example(value, rank, b):
    """A scalar stays; a (B,) value is reshaped to broadcast over rank dims."""
    if len(value.shape) == 1:
        return b.numpy.reshape(value, (-1,) + (1,) * (rank - 1))
    return value


def smooth_labels(y, label_smoothing, *, backend=None):
    """Label smoothing of the paper's ablation: eps/K for every wrong class.

    y * (1 - eps) + eps / K, with K the size of the last (class) axis.
    """
    if not label_smoothing:
        return y
    num_classes = y.shape[-1]
    return y * (1.0 - label_smoothing) + label_smoothing / num_classes


def _check_label_range(y, num_classes, b):
    """Sparse labels must lie in [0, num_classes): loudly, in every mode."""
    message = (
        f"Sparse labels must be integers in [0, num_classes) = [0, {num_classes})"
    )
    if b.name == "tensorflow":
        import tensorflow as tf

        if tf.executing_eagerly():
            _raise_if_out_of_range(keras.ops.convert_to_numpy(y), num_classes)
            return y
        ok = tf.reduce_all((y >= 0) & (y < num_classes))
        with tf.control_dependencies([tf.debugging.Assert(ok, [message, y])]):
            return tf.identity(y)
    if b.name == "jax":
        import jax

        if isinstance(y, jax.core.Tracer):
            # Inside jit: the callback raises when the step runs.
            jax.debug.callback(_raise_if_out_of_range, y, num_classes)
            return y
    _raise_if_out_of_range(keras.ops.convert_to_numpy(y), num_classes)
    return y


def _raise_if_out_of_range(values, num_classes):
    import numpy as np

    values = np.asarray(values)
    bad = (values < 0) | (values >= num_classes)
    if bad.any():
        raise ValueError(
            "Sparse labels must be integers in [0, num_classes) = "
            f"[0, {num_classes}). Received labels with values "
            f"{sorted(set(values[bad].ravel().tolist()))[:10]}"
        )


def prepare_labels(y, *, num_classes=None, label_smoothing=0.0, backend=None):
    """Targets that can be mixed: float32, class targets one-hot and smoothed.

    - Integer labels of shape (B,) or (B, 1) are sparse class indices: one-hot
      encoded with `num_classes` (required: they are never broadcast).
      Integer labels with a last axis other than 1 and `num_classes`
      are sparse indices per position, e.g. (B, T) -> (B, T, K); with a last
      axis equal to `num_classes` (or no `num_classes`) they are multi-hot.
    - Float labels are one-hot, soft, multi-hot or regression targets and are
      mixed as they are. With `num_classes`, a class axis must match it.
    - `label_smoothing` applies to every class target (last axis > 1) and is
      refused for targets without a class axis.
    """
    b = _ns(backend)
    rank = len(y.shape)
    if rank == 0:
        raise ValueError(
            "Expected labels with a batch axis first, of shape (batch_size, ...)."
            f" Received labels of shape {tuple(y.shape)} (rank 0)."
        )
    last = y.shape[-1] if rank > 1 else None
    if is_integer_dtype(y.dtype) and keras.backend.standardize_dtype(
        y.dtype
    ) != "bool":
        sparse = rank == 1 or last == 1 or (
            num_classes is not None and last is not None and last != num_classes
        )
        if sparse:
            if num_classes is None:
                raise ValueError(
                    "Sparse integer labels need `num_classes` to be one-hot "
                    "encoded before mixing (mixing class indices, or "
                    "broadcasting them to (batch_size, batch_size), would be "
                    f"wrong). Received labels of shape {tuple(y.shape)} and "
                    f"dtype {keras.backend.standardize_dtype(y.dtype)} with "
                    "num_classes=None. Pass `num_classes=K`, or one-hot "
                    "encode the labels."
                )
            if last == 1:
                y = b.numpy.squeeze(y, -1)
            y = _check_label_range(y, num_classes, b)
            valid = b.numpy.logical_and(y >= 0, y < num_classes)
            y = b.nn.one_hot(y, num_classes, dtype="float32")
            # Where no error can be raised (XLA drops graph assertions), an
            # out-of-range label gets NaN targets, hence a NaN loss: loud,
            # never an all-zeros row that trains silently wrong.
            y = b.numpy.where(b.numpy.expand_dims(valid, -1), y, float("nan"))
            return smooth_labels(y, label_smoothing, backend=b)
    y = b.cast(y, "float32")
    if num_classes is not None and last is not None and last not in (
        1, num_classes
    ):
        raise ValueError(
            f"Expected labels with a class axis of size num_classes="
            f"{num_classes} (one-hot or soft), or sparse integer labels of "
            f"shape (batch_size,). Received float labels of shape "
            f"{tuple(y.shape)}."
        )
    if label_smoothing:
        if last is None or last == 1:
            raise ValueError(
                "`label_smoothing` applies to class targets (one-hot, soft or "
                "sparse labels with num_classes). Received label_smoothing="
                f"{label_smoothing} with targets of shape {tuple(y.shape)}, "
                "which have no class axis (regression or binary targets)."
            )
        y = smooth_labels(y, label_smoothing, backend=b)
    return y


def to_tensors(tree, *, backend=None):
    """Convert every array of a nested structure to the backend's tensors."""
    b = _ns(backend)
    return keras.tree.map_structure(
        lambda t: None if t is None else b.convert_to_tensor(t), tree
    )


def prepare_inputs(tree, dtype, *, backend=None):
    """Cast every input tensor (uint8 images included) to `dtype`."""
    b = _ns(backend)
    return keras.tree.map_structure(lambda t: b.cast(t, dtype), tree)


def batch_size_of(tree, *, backend=None, name="inputs"):
    """The (static if known, else dynamic) batch size of a nested structure."""
    b = _ns(backend)
    leaves = keras.tree.flatten(tree)
    if not leaves:
        raise ValueError(f"Expected at least one tensor in `{name}`. Received {tree}.")
    for t in leaves:
        if len(t.shape) == 0:
            raise ValueError(
                f"Expected every tensor in `{name}` to have a batch axis first. "
                f"Received a scalar (shape ()) in {name}."
            )
    return b.shape(leaves[0])[0]


def check_same_batch(tensors_by_name, *, backend=None):
    """Every tensor of every named structure shares the batch size.

    Static sizes are compared at trace time; unknown (tf.data) sizes are
    asserted when the graph runs.
    """
    b = _ns(backend)
    named = [
        (name, t)
        for name, tree in tensors_by_name.items()
        if tree is not None
        for t in keras.tree.flatten(tree)
    ]
    ref_name, ref = named[0]
    dynamic = []
    for name, t in named[1:]:
        if len(t.shape) == 0:
            raise ValueError(
                f"Expected `{name}` to have a batch axis first. "
                f"Received a scalar (shape ())."
            )
        n_ref, n = ref.shape[0], t.shape[0]
        if n_ref is not None and n is not None:
            if n_ref != n:
                raise ValueError(
                    f"Expected `{name}` to have the same batch size as "
                    f"`{ref_name}`. Received {ref_name} with batch size {n_ref} "
                    f"(shape {tuple(ref.shape)}) and {name} with batch size {n} "
                    f"(shape {tuple(t.shape)})."
                )
        else:
            dynamic.append((name, t))
    if dynamic and b.name == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            ref_n = tf.shape(ref)[0]
            for name, t in dynamic:
                tf.debugging.assert_equal(
                    tf.shape(t)[0], ref_n,
                    message=f"Expected `{name}` to have the same batch size as "
                    f"`{ref_name}`.",
                )


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
    if not isinstance(per_sample, bool):
        raise ValueError(
            "Argument `per_sample` must be a bool. "
            f"Received: per_sample={per_sample!r}"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(
            f"Argument `seed` must be an int or None. Received: seed={seed!r}"
        )
    return (per_sample, validate_num_classes(num_classes),
            validate_label_smoothing(label_smoothing), seed)


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


# "random": a permutation of the batch (the paper, "AC + RP" in Table 5);
# "same_class": a permutation within each class of the batch ("SC + RP").
PAIRINGS = ("random", "same_class")
# "mixed": lam * y_i + (1 - lam) * y_j (the paper); "closer": y_i where
# lam >= 0.5 else y_j (Table 5's "mix inputs only").
TARGETS = ("mixed", "closer")


# ----------------------------------------------------------------------------
# A whole batch: inputs, labels and sample weights with one draw.


def draw(seed, alpha, batch_size, *, per_sample=False, groups=1,
         class_ids=None, backend=None):
    """One mixup draw for a batch: (lam, perm).

    lam is float32 of shape () (the paper: one per batch) or (batch_size,).
    With `class_ids` (int, shape (B,)) the pairs are drawn within each class
    (`sample_same_class_permutation`), else from the whole batch.
    """
    b = _ns(backend)
    lam = sample_lambda(seed, alpha, (batch_size,) if per_sample else (),
                        backend=b)
    if class_ids is not None:
        if groups != 1:
            raise ValueError(
                "Same-class pairs are drawn over the whole batch; they cannot "
                f"be split over data-parallel devices. Received groups={groups}."
            )
        perm = sample_same_class_permutation(seed, class_ids, backend=b)
    else:
        perm = sample_permutation(seed, batch_size, groups=groups, backend=b)
    return lam, perm


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
    """
    b = _ns(backend)
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
        return tuple(
            mix(part, lam, perm, backend=b) if inputs or target == "mixed"
            else closer(part, lam, perm, backend=b)
            for inputs, part in zip(is_input, present)
        )

    if isinstance(alpha, (int, float)):
        if alpha > 0:
            lam, perm = draw(seed, alpha, batch_size_of(x, backend=b),
                             per_sample=per_sample, groups=groups,
                             class_ids=class_ids, backend=b)
            present = mix_present(lam, perm)
    else:
        # Draw outside the cond: the seed's state update must not happen in
        # a branch (on JAX it would leak a tracer).
        lam, perm = draw(seed, alpha, batch_size_of(x, backend=b),
                         per_sample=per_sample, groups=groups,
                         class_ids=class_ids, backend=b)
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


def mix_where(mixing_on, tree, lam, perm, *, mixed=None, backend=None):
    """`mix(tree, lam, perm)` (or `mixed()`, a structure like `tree`) where
    the scalar `mixing_on` holds, else `tree` bit for bit (alpha == 0 under a
    schedule is exactly ERM)."""
    b = _ns(backend)
    if mixed is None:
        def mixed():
            return mix(tree, lam, perm, backend=b)
    if b.name == "jax":
        # A select, fused into the mix: XLA's conditional copies the batch
        # into and out of its branches (2.5x the cost of the mix under
        # jax.jit; benchmarks/README.md). TF's cond runs one branch lazily
        # without copies, where a select would add a pass.
        return keras.tree.map_structure(
            lambda m, t: b.numpy.where(mixing_on, m, t), mixed(), tree,
        )
    return b.cond(mixing_on, mixed, lambda: tree)


# ----------------------------------------------------------------------------
# Nearest-neighbour pairs (Table 5's "KNN"): a table over the training set.


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
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(
            f"Argument `k` must be a positive integer. Received: k={k!r}"
        )
    if isinstance(chunk_size, bool) or not isinstance(
        chunk_size, (int, np.integer)
    ) or chunk_size < 1:
        raise ValueError(
            "Argument `chunk_size` must be a positive integer. "
            f"Received: chunk_size={chunk_size!r}"
        )
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
        _, indices = ops.top_k(-distances, k)
        out.append(ops.convert_to_numpy(indices).astype(np.int32))
    return np.concatenate(out, axis=0)


# Keys of `keras.layers.MixUp`'s dict form that are not model inputs.
LABEL_KEY = "labels"
SAMPLE_WEIGHT_KEYS = ("sample_weight", "sample_weights")
_UNMIXABLE_KEYS = ("bounding_boxes", "segmentation_masks")


def unpack_data(data, *, name="data"):
    """Split a batch into (x, y, sample_weight, repack).

    Accepts Keras's (x, y) and (x, y, sample_weight) tuples and dicts with a
    "labels" key such as `keras.layers.MixUp`'s {"images": ..., "labels": ...};
    `repack(x, y, sample_weight)` rebuilds the caller's structure.
    """
    if isinstance(data, dict):
        if LABEL_KEY not in data:
            raise ValueError(
                f'Expected `{name}` as (x, y), (x, y, sample_weight) or a dict '
                f'with a "labels" key. Received a dict with keys '
                f"{sorted(data)}."
            )
        refused = [k for k in _UNMIXABLE_KEYS if k in data]
        if refused:
            raise ValueError(
                f"mixup blends whole examples and has no meaning for {refused}. "
                f"Received `{name}` with keys {sorted(data)}; remove {refused} "
                "or use a detection/segmentation-aware augmentation."
            )
        weight_keys = [k for k in SAMPLE_WEIGHT_KEYS if k in data]
        input_keys = [
            k for k in data if k != LABEL_KEY and k not in SAMPLE_WEIGHT_KEYS
        ]
        if not input_keys:
            raise ValueError(
                f"Expected `{name}` to hold inputs besides labels and sample "
                f"weights. Received a dict with keys {sorted(data)}."
            )
        single = len(input_keys) == 1
        x = data[input_keys[0]] if single else {k: data[k] for k in input_keys}
        sw = data[weight_keys[0]] if weight_keys else None

        def repack(x, y, sw):
            out = dict(data)
            out.update({input_keys[0]: x} if single else x)
            out[LABEL_KEY] = y
            if weight_keys:
                out[weight_keys[0]] = sw
            return out

        return x, data[LABEL_KEY], sw, repack
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        kind = type(data)

        def repack(x, y, sw):
            return kind((x, y) if len(data) == 2 else (x, y, sw))

        return data[0], data[1], data[2] if len(data) == 3 else None, repack
    received = (
        f"a {type(data).__name__} of length {len(data)}"
        if isinstance(data, (tuple, list))
        else f"{type(data).__name__}"
    )
    raise ValueError(
        f'Expected `{name}` as (x, y), (x, y, sample_weight) or a dict with a '
        f'"labels" key. Received {received}.'
    )
