"""The mathematics of mixup, as small pure functions.

Every entry point (the `MixUp` layer, `mixup_map`, `MixUpModel`, `MixUpGAN`)
calls these and nothing else does the maths: sampling lam and pairs, the
partner gather, the mix (and its per-example broadcast), the closer-example
target, label smoothing. What surrounds the maths lives apart: argument
checks in `validation`, batch structures in `structure`, label preparation
in `labels`, a whole (x, y, sample_weight) batch in `batch`, the
nearest-neighbour table in `neighbours`. Each function takes an optional
`backend` namespace (default: the running Keras backend). The tf.data map
passes TensorFlow's, so the same code runs on TF ops inside a `tf.data`
pipeline while Keras itself runs on JAX: the approach of Keras's own
`DataLayer`.

The sampler works in log space: lam = sigmoid(log G1 - log G2) with
G1, G2 ~ Gamma(alpha), and log G(alpha) = log G(alpha + 1) + log(U) / alpha.
Small alphas never underflow to 0/0 (no NaN, no spike at 0.5). Gamma(alpha
+ 1) comes from Marsaglia-Tsang candidates built from uniform variates only,
so the sampler compiles under XLA (TF `jit_compile=True`, TPU) and
`jax.jit`, unlike `keras.random.beta`; TF ops outside XLA (tf.data maps,
Keras's default TF step on CPU) use TF's native stateless Gamma and shuffle
kernels instead, one op each (`_tf_native_kernels`).
"""

import math

import keras

from keras_mixup import _internals

# Marsaglia-Tsang candidates drawn side by side per Gamma variate. The shape
# is boosted to alpha + 1 >= 1, where one candidate is accepted with
# probability >= 0.95, so all 16 are rejected with probability < 1e-20.
_GAMMA_CANDIDATES = 16


_ns = _internals.ops_for


# ----------------------------------------------------------------------------
# Sampling: lam and pairs.


def _uniform(shape, seed, b):
    if b.name == "tensorflow":
        return _tf_philox(shape, seed)
    return b.random.uniform(shape, dtype="float32", seed=seed)


def _tf_philox(shape, seed):
    """`keras.random.uniform` on TensorFlow, with `alg="philox"` named
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
    if _in_tf_xla_context():
        return tf.random.stateless_uniform(
            shape, seed=seed, dtype="float32", alg="philox")
    return tf.random.stateless_uniform(shape, seed=seed, dtype="float32")


def _in_tf_xla_context():
    """Whether a `tf.function(jit_compile=True)` is being traced."""
    import tensorflow as tf

    if tf.executing_eagerly():
        return False
    return _internals.tf_graph_in_xla_context(tf.compat.v1.get_default_graph())


def _log_gamma_plus_one(shape_param, u_normal, u_accept, b):
    """log of Gamma(shape_param + 1) variates, Marsaglia & Tsang (2000),
    from uniforms in [0, 1) with one last axis of candidates each."""
    np_ = b.numpy
    d = shape_param + (1.0 - 1.0 / 3.0)
    c = 1.0 / np_.sqrt(9.0 * d)
    # Standard normals by inversion (as jax.random.normal draws them). U = 0
    # gives z = -inf, which is rejected as every z < -1/c is (v <= 0).
    z = math.sqrt(2.0) * b.math.erfinv(2.0 * u_normal - 1.0)
    # 1 - U lies in (0, 1]: its log is finite.
    log_u = np_.log1p(-u_accept)
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
    """log of Gamma(alpha) variates for alpha > 0, without underflow:
    log G(alpha) = log G(alpha + 1) + log(U) / alpha."""
    if _tf_native_kernels(b):
        return _tf_native_log_gamma(seed, alpha)
    np_ = b.numpy
    # Every uniform of the draw in one call: each random-number call has a
    # fixed cost (on JAX's CPU one of more than 16 numbers is a loop of
    # ~30 us), several times the arithmetic on a batch's few numbers.
    k = _GAMMA_CANDIDATES
    u = _uniform(tuple(shape) + (2 * k + 1,), seed, b)
    log_g = _log_gamma_plus_one(alpha, u[..., :k], u[..., k:2 * k], b)
    return log_g + np_.log1p(-u[..., 2 * k]) / alpha


def _tf_native_kernels(b):
    """Whether TensorFlow's native stateless Gamma and shuffle kernels can
    run: TF ops outside an XLA compilation (neither kernel has an XLA
    implementation). There they replace dozens of small ops (Marsaglia-Tsang
    with 16 candidates, an argsort) by one kernel each, which is what a
    tf.data map or a non-XLA tf.function pays for per batch
    (benchmarks/README.md, "Where the time goes")."""
    return b.name == "tensorflow" and not _in_tf_xla_context()


def _tf_native_log_gamma(seed, alpha):
    """`_log_gamma` with TF's stateless Gamma kernel (exact, computed in
    double inside the kernel): one draw of Gamma(alpha + 1) and of
    Exp(1) = Gamma(1) side by side, log G(alpha) = log G(alpha + 1) - E / alpha
    (-log U is Exp(1)). Small alphas stay in log space: no underflow."""
    import tensorflow as tf

    shape_params = tf.stack([alpha + 1.0, tf.ones_like(alpha)])
    draws = tf.random.stateless_gamma(
        tf.shape(shape_params), _internals.tf_stateless_seed(seed),
        alpha=shape_params,
    )
    return tf.math.log(draws[0]) - draws[1] / alpha


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
    if groups == 1 and _tf_native_kernels(b):
        # One Fisher-Yates kernel, exactly uniform (no ties between keys).
        import tensorflow as tf

        return tf.random.experimental.stateless_shuffle(
            tf.range(batch_size, dtype="int32"),
            _internals.tf_stateless_seed(seed),
        )
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
        lam_t = per_example(b.cast(lam, a.dtype), len(a.shape), backend=b)
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
        keep = per_example(first_weighs_more, len(a.shape), backend=b)
        return b.numpy.where(keep, a, t_b)

    return keras.tree.map_structure(pick, first, second)


def partners_of(tree, perm, *, backend=None):
    """`partners` for every tensor of a nested structure."""
    b = _ns(backend)
    return keras.tree.map_structure(lambda t: partners(t, perm, backend=b), tree)


def per_example(value, rank, *, backend=None):
    """A scalar stays; a (B,) value is reshaped to broadcast against a
    tensor of rank `rank` (batch axis first)."""
    if len(value.shape) == 1:
        return _ns(backend).numpy.reshape(value, (-1,) + (1,) * (rank - 1))
    return value


def smooth_labels(y, label_smoothing, *, backend=None):
    """Label smoothing of the paper's ablation: eps/K for every wrong class.

    y * (1 - eps) + eps / K, with K the size of the last (class) axis.
    """
    if not label_smoothing:
        return y
    num_classes = y.shape[-1]
    return y * (1.0 - label_smoothing) + label_smoothing / num_classes


# ----------------------------------------------------------------------------
# One draw for a batch, and mixing only where alpha > 0.


def draw(seed, alpha, batch_size, *, per_sample=False, groups=1,
         class_ids=None, prob=1.0, backend=None):
    """One mixup draw for a batch: (lam, perm).

    lam is float32 of shape () (the paper: one per batch) or (batch_size,).
    With `class_ids` (int, shape (B,)) the pairs are drawn within each class
    (`sample_same_class_permutation`), else from the whole batch. With
    `prob` < 1 (a Python number) a batch (an example, per sample) is mixed
    with probability `prob`; the others get lam == 1 exactly.
    """
    b = _ns(backend)
    shape = (batch_size,) if per_sample else ()
    lam = sample_lambda(seed, alpha, shape, backend=b)
    if prob < 1.0:
        lam = b.numpy.where(_uniform(shape, seed, b) < prob, lam, 1.0)
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


def unmixed_where_one(tree, mixed, lam, *, backend=None):
    """`mixed`, but each example whose weight `lam` is exactly 1 keeps its
    own values of `tree` bit for bit (the mixup formula rounds them)."""
    b = _ns(backend)
    whole = lam == 1.0

    def pick(t, m):
        return b.numpy.where(per_example(whole, len(t.shape), backend=b), t, m)

    return keras.tree.map_structure(pick, tree, mixed)


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
