"""keras_mixup.mixing against independent references (numpy, scipy, the paper).

Runs on the backend named by KERAS_BACKEND (CI runs it once per backend).
"""

import math

import keras
import numpy as np
import pytest
from scipy import special, stats

from tests.helpers import (
    ALPHAS,
    ALPHAS_LAM_SPACE,
    BACKEND,
    LAM_LO,
    LAM_HI,
    MODES,
    N,
    P_MIN,
    assert_folded_ks,
    assert_lam_ks,
    assert_lam_ks_within,
    assert_symmetric,
    folded_log,
    folded_log_cdf,
    ks_pvalue_within,
    compiled,
    np_mix,
    np_one_hot,
    read_draw_from_identity,
    run,
    same_bits,
    to_numpy,
)
from keras_mixup import mixing
from keras_mixup.batch import mixup_batch
from keras_mixup.labels import prepare_labels
from keras_mixup.structure import to_tensors
from keras_mixup.structure import unpack_data
from keras_mixup.validation import validate_alpha
from keras_mixup.validation import validate_label_smoothing
from keras_mixup.validation import validate_num_classes

# ----------------------------------------------------------------------------
# The sampler: lam ~ Beta(alpha, alpha) for alpha in [0.001, 1000].


@pytest.mark.parametrize("alpha", ALPHAS)
def test_logit_matches_beta_in_folded_log_space(alpha):
    gen = keras.random.SeedGenerator(1234)
    t = keras.ops.convert_to_numpy(mixing.sample_beta_logit(gen, alpha, (N,)))
    assert t.dtype == np.float32 and t.shape == (N,)
    assert_folded_ks(t, alpha)
    assert_symmetric(t, alpha)


@pytest.mark.parametrize("alpha", ALPHAS_LAM_SPACE)
def test_lambda_matches_beta_in_lam_space(alpha):
    gen = keras.random.SeedGenerator(99)
    lam = keras.ops.convert_to_numpy(mixing.sample_lambda(gen, alpha, (N,)))
    assert lam.dtype == np.float32 and lam.shape == (N,)
    assert_lam_ks(lam, alpha)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_lambda_matches_beta_in_lam_space_away_from_float32_rounding(alpha):
    gen = keras.random.SeedGenerator(98)
    lam = keras.ops.convert_to_numpy(mixing.sample_lambda(gen, alpha, (N,)))
    assert_lam_ks_within(lam, alpha)


def test_lam_space_ks_detects_a_wrong_alpha():
    """The tests above have power: Beta(0.2) draws fail against Beta(0.3)."""
    gen = keras.random.SeedGenerator(97)
    lam = keras.ops.convert_to_numpy(mixing.sample_lambda(gen, 0.2, (N,)))
    assert ks_pvalue_within(lam, stats.beta(0.3, 0.3).cdf, LAM_LO, LAM_HI) < P_MIN
    t = keras.ops.convert_to_numpy(mixing.sample_beta_logit(gen, 0.01, (N,)))
    s = folded_log(t)
    assert stats.kstest(s, lambda u: folded_log_cdf(u, 0.012)).pvalue < P_MIN


@pytest.mark.parametrize("alpha", ALPHAS)
def test_lambda_finite_in_unit_interval_and_no_spike_at_half(alpha):
    gen = keras.random.SeedGenerator(7)
    lam = keras.ops.convert_to_numpy(mixing.sample_lambda(gen, alpha, (N,)))
    assert np.all(np.isfinite(lam))
    assert lam.min() >= 0.0 and lam.max() <= 1.0
    # P(float32 lam == 0.5 exactly) is < 1e-6 for every alpha in the grid
    # (the density at 1/2 times one ulp); a 0/0 -> 0.5 fallback would show.
    assert np.sum(lam == 0.5) <= 1


def test_small_alpha_puts_mass_at_the_ends_not_the_middle():
    """Beta(0.01, 0.01): P(0.25 < lam < 0.75) = 1 - 2 I_{0.25}(a, a), ~1%.

    A sampler whose small Gamma variates underflow to 0/0 returns NaN or a
    spike at 0.5 (keras.random.beta on TF returns 0.5 for ~17% of draws).
    """
    alpha = 0.01
    gen = keras.random.SeedGenerator(3)
    lam = keras.ops.convert_to_numpy(mixing.sample_lambda(gen, alpha, (N,)))
    assert np.mean(lam == 0.5) < 1e-3
    p_mid = 1.0 - 2.0 * special.betainc(alpha, alpha, 0.25)
    got = np.mean((lam > 0.25) & (lam < 0.75))
    assert abs(got - p_mid) < 4 * math.sqrt(p_mid * (1 - p_mid) / N), (got, p_mid)


def test_per_sample_draws_are_independent():
    gen = keras.random.SeedGenerator(11)
    t = keras.ops.convert_to_numpy(mixing.sample_beta_logit(gen, 1.0, (N,)))
    # Lag-1 correlation of iid draws: |r| < 4 / sqrt(N).
    r = np.corrcoef(t[:-1], t[1:])[0, 1]
    assert abs(r) < 4.0 / math.sqrt(N), r


def test_one_lambda_per_batch_by_default_one_per_example_with_per_sample():
    gen = keras.random.SeedGenerator(5)
    lam, perm = mixing.draw(gen, 1.0, 6)
    assert tuple(lam.shape) == () and tuple(perm.shape) == (6,)
    lam, perm = mixing.draw(gen, 1.0, 6, per_sample=True)
    lam = keras.ops.convert_to_numpy(lam)
    assert lam.shape == (6,) and len(np.unique(lam)) == 6


def test_successive_lambda_draws_follow_beta():
    """The stream of scalar draws (one per batch), not only a vector, is right."""
    gen = keras.random.SeedGenerator(21)
    fn = compiled(lambda: mixing.sample_lambda(gen, 2.0), gen)
    lam = np.array([float(keras.ops.convert_to_numpy(fn())) for _ in range(400)])
    assert_lam_ks(lam, 2.0)


# ----------------------------------------------------------------------------
# The sampler compiles (XLA on TF, jax.jit on JAX) and its state advances.


@pytest.fixture(scope="module")
def compiled_logit():
    """One compiled sampler for every alpha: alpha is a traced argument."""
    gen = keras.random.SeedGenerator(77)
    fn = compiled(lambda alpha: mixing.sample_beta_logit(gen, alpha, (N,)), gen)
    return lambda alpha: to_numpy(fn(keras.ops.convert_to_tensor(alpha, "float32")))


@pytest.mark.parametrize("alpha", (0.001, 0.01, 0.2, 1.0, 1000.0))
def test_sampler_compiles_and_is_right_compiled(compiled_logit, alpha):
    t1 = compiled_logit(alpha)
    t2 = compiled_logit(alpha)
    assert not np.array_equal(t1, t2), "the seed state must advance"
    assert_folded_ks(t1, alpha)
    assert_folded_ks(t2, alpha)
    assert_symmetric(t1, alpha)


def test_compiled_lambda_in_unit_interval_and_state_advances():
    gen = keras.random.SeedGenerator(8)
    fn = compiled(lambda: mixing.sample_lambda(gen, 0.2, (1000,)), gen)
    state0 = keras.ops.convert_to_numpy(gen.state.value).copy()
    a, b = to_numpy(fn()), to_numpy(fn())
    assert not np.array_equal(keras.ops.convert_to_numpy(gen.state.value), state0)
    for lam in (a, b):
        assert np.all(np.isfinite(lam)) and lam.min() >= 0 and lam.max() <= 1
    assert not np.array_equal(a, b)


def test_same_seed_same_stream_compiled_and_eager():
    def stream(mode):
        gen = keras.random.SeedGenerator(123)
        fn = lambda: mixing.draw(gen, 1.0, 6, per_sample=True)  # noqa: E731
        if mode == "compiled":
            fn = compiled(fn, gen)
        return [to_numpy(fn()) for _ in range(3)]

    for mode in MODES:
        s1, s2 = stream(mode), stream(mode)
        for (l1, p1), (l2, p2) in zip(s1, s2):
            assert np.array_equal(l1, l2) and np.array_equal(p1, p2)
        # ...and successive draws differ.
        assert not np.array_equal(s1[0][0], s1[1][0])
        assert not np.array_equal(s1[0][1], s1[1][1]) or not np.array_equal(
            s1[1][1], s1[2][1]
        )


@pytest.mark.parametrize("mode", MODES)
def test_alpha_as_a_variable_selects_erm_and_mixing_without_retracing(mode):
    gen = keras.random.SeedGenerator(4)
    alpha = keras.Variable(0.0, dtype="float32", trainable=False)
    fn = lambda: mixing.sample_lambda(gen, alpha.value, (N,))  # noqa: E731
    if mode == "compiled":
        fn = compiled(fn, gen, alpha)
    lam = to_numpy(fn())
    assert np.all(lam == 1.0)
    alpha.assign(1.0)
    lam = to_numpy(fn())
    assert_lam_ks(lam, 1.0)


# ----------------------------------------------------------------------------
# Pairs: a uniformly random permutation.


@pytest.mark.parametrize(
    "mode, batch_size",
    [("eager", b) for b in (1, 2, 7, 128)] + [("compiled", b) for b in (1, 7)],
)
def test_permutation_is_a_permutation(mode, batch_size):
    gen = keras.random.SeedGenerator(batch_size)
    fn = lambda: mixing.sample_permutation(gen, batch_size)  # noqa: E731
    if mode == "compiled":
        fn = compiled(fn, gen)
    for _ in range(3):
        perm = to_numpy(fn())
        assert perm.dtype == np.int32 and perm.shape == (batch_size,)
        assert np.array_equal(np.sort(perm), np.arange(batch_size))


def _chi2_uniform_over_permutations(perms, b):
    index = {p: i for i, p in enumerate(__import__("itertools").permutations(range(b)))}
    counts = np.zeros(len(index))
    for p in perms:
        counts[index[tuple(int(v) for v in p)]] += 1
    return stats.chisquare(counts).pvalue


def test_permutations_are_uniform_over_draws():
    """480 draws of a batch of 4: all 24 permutations equally likely."""
    gen = keras.random.SeedGenerator(31)
    fn = compiled(lambda: mixing.sample_permutation(gen, 4), gen)
    perms = np.stack([to_numpy(fn()) for _ in range(480)])
    assert _chi2_uniform_over_permutations(perms, 4) > P_MIN
    # Every position moves, and lands everywhere about equally often.
    counts = np.zeros((4, 4))
    for p in perms:
        counts[np.arange(4), p] += 1
    assert np.all(counts > 0)
    assert stats.chisquare(counts.ravel()).pvalue > P_MIN


def test_grouped_permutations_stay_in_their_block_and_are_uniform():
    groups, block = 3000, 4
    gen = keras.random.SeedGenerator(2)
    perm = to_numpy(mixing.global_permutation(
        mixing.sample_permutation(gen, groups * block, groups=groups)))
    blocks = perm.reshape(groups, block) - (np.arange(groups) * block)[:, None]
    assert np.array_equal(np.sort(blocks, axis=1), np.tile(np.arange(block), (groups, 1)))
    assert _chi2_uniform_over_permutations(blocks, block) > P_MIN


def test_positions_move_in_a_large_batch():
    """Fixed points of a uniform permutation of 10000 are ~Poisson(1)."""
    gen = keras.random.SeedGenerator(6)
    perm = to_numpy(mixing.sample_permutation(gen, 10000))
    assert np.sum(perm == np.arange(10000)) <= 8  # P(Poisson(1) > 8) ~ 1e-6
    assert abs(np.mean(np.abs(perm - np.arange(10000))) - 10000 / 3) < 150


# ----------------------------------------------------------------------------
# mix: any rank, nested structures, one draw for all leaves.


SHAPES = {
    "tabular": (6, 5),
    "sequence": (6, 4, 3),
    "image": (6, 4, 4, 3),
    "video": (6, 2, 3, 3, 2),
}


def _random_tree(rng):
    return {
        "tabular": rng.normal(size=SHAPES["tabular"]).astype("float32"),
        "nested": (
            rng.normal(size=SHAPES["sequence"]).astype("float32"),
            {"image": rng.normal(size=SHAPES["image"]).astype("float32")},
        ),
        "video": rng.normal(size=SHAPES["video"]).astype("float32"),
    }


@pytest.mark.parametrize("per_sample", (False, True))
@pytest.mark.parametrize("mode", MODES)
def test_mix_matches_numpy_on_any_rank_and_nesting(per_sample, mode):
    rng = np.random.default_rng(0)
    tree = _random_tree(rng)
    lam = rng.uniform(size=(6,) if per_sample else ()).astype("float32")
    perm = rng.permutation(6).astype("int32")

    def fn(tree, lam, perm):
        return mixing.mix(tree, lam, perm)

    out = run(mode, fn, to_tensors(tree), keras.ops.convert_to_tensor(lam),
              keras.ops.convert_to_tensor(perm))
    keras.tree.assert_same_structure(out, tree)
    for got, x in zip(keras.tree.flatten(out), keras.tree.flatten(tree)):
        assert got.shape == x.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, np_mix(x, lam, perm), rtol=1e-6, atol=1e-6)


def test_mix_keeps_the_dtype_of_each_leaf():
    x = keras.ops.ones((4, 3), dtype="bfloat16")
    out = mixing.mix({"a": x}, keras.ops.convert_to_tensor(0.3), keras.ops.arange(4))
    assert keras.backend.standardize_dtype(out["a"].dtype) == "bfloat16"


# ----------------------------------------------------------------------------
# Labels: sparse labels are one-hot encoded, dense targets pass through,
# label smoothing follows its formula, bad labels are refused.


def test_sparse_labels_are_one_hot_encoded_never_broadcast():
    for y in (np.array([2, 0, 1, 2]), np.array([[2], [0], [1], [2]])):
        for dtype in ("int32", "int64", "uint8"):
            out = to_numpy(
                prepare_labels(keras.ops.convert_to_tensor(y.astype(dtype)),
                                      num_classes=3)
            )
            assert out.shape == (4, 3) and out.dtype == np.float32
            assert np.array_equal(out, np_one_hot([2, 0, 1, 2], 3))


@pytest.mark.parametrize("shape", ((4,), (4, 1)))
def test_sparse_labels_without_num_classes_are_refused(shape):
    y = keras.ops.zeros(shape, dtype="int32")
    with pytest.raises(ValueError, match="num_classes"):
        prepare_labels(y)


@pytest.mark.parametrize("bad", (-1, 3, 100))
def test_sparse_labels_out_of_range_are_refused(bad):
    y = keras.ops.convert_to_tensor(np.array([0, 1, bad], dtype="int32"))
    with pytest.raises(ValueError, match=r"num_classes.*\[0, 3\)") as info:
        prepare_labels(y, num_classes=3)
    assert str(bad) in str(info.value)


def test_sparse_labels_out_of_range_are_never_silently_encoded_when_compiled():
    y = keras.ops.convert_to_tensor(np.array([0, 1, 5], dtype="int32"))
    fn = compiled(lambda y: prepare_labels(y, num_classes=3))
    if BACKEND == "tensorflow":
        # XLA drops graph assertions, so no error can be raised: the bad
        # label gets NaN targets (hence a NaN loss), never an all-zeros row.
        out = to_numpy(fn(y))
        assert np.array_equal(out[:2], np_one_hot([0, 1], 3))
        assert np.all(np.isnan(out[2]))
    else:
        # torch: the check leaves the graph (a graph break) and raises eagerly;
        # JAX: jax.debug.callback re-raises the ValueError wrapped in its own.
        errors = (ValueError,)
        if BACKEND == "jax":
            import jax

            errors += (jax.errors.JaxRuntimeError,)
        with pytest.raises(errors, match=r"\[0, 3\)"):
            to_numpy(fn(y))


def test_integer_labels_per_position_become_one_hot_per_position():
    y = np.array([[0, 2, 1, 1, 0], [2, 2, 0, 1, 1]], dtype="int32")  # (B, T)
    out = to_numpy(prepare_labels(keras.ops.convert_to_tensor(y), num_classes=3))
    assert out.shape == (2, 5, 3)
    assert np.array_equal(out.argmax(-1), y) and np.array_equal(out.sum(-1), np.ones((2, 5)))


@pytest.mark.parametrize(
    "y",
    (
        np.eye(4, dtype="float32")[[1, 3, 0]],  # one-hot
        np.array([[0.2, 0.3, 0.5, 0.0]] * 3, "float32"),  # soft
        np.array([[1, 0, 1, 1], [0, 0, 0, 1], [1, 1, 1, 1]], "int32"),  # multi-hot
        np.array([[1, 0, 1, 1], [0, 0, 0, 1], [1, 1, 1, 1]], "bool"),  # multi-hot
        np.array([0.5, -3.0, 2.25], "float32"),  # regression (B,)
        np.array([[0.5], [-3.0], [2.25]], "float64"),  # regression (B, 1)
    ),
    ids=("one-hot", "soft", "multi-hot-int", "multi-hot-bool", "reg", "reg-col"),
)
def test_dense_targets_pass_through_as_float32(y):
    num_classes = 4 if y.ndim == 2 and y.shape[1] == 4 else None
    out = to_numpy(
        prepare_labels(keras.ops.convert_to_tensor(y), num_classes=num_classes)
    )
    assert out.dtype == np.float32 and out.shape == y.shape
    assert np.array_equal(out, y.astype("float32"))


def test_float_labels_with_the_wrong_class_axis_are_refused():
    y = keras.ops.zeros((4, 5))
    with pytest.raises(ValueError, match=r"num_classes=3.*\(4, 5\)"):
        prepare_labels(y, num_classes=3)


def test_rank_0_labels_are_refused():
    with pytest.raises(ValueError, match=r"rank 0"):
        prepare_labels(keras.ops.convert_to_tensor(1), num_classes=3)


@pytest.mark.parametrize("eps", (0.1, 0.3))
def test_label_smoothing_matches_the_formula(eps):
    k = 5
    y = np.array([4, 0, 2], "int32")
    want = np.full((3, k), eps / k)
    want[np.arange(3), y] = 1 - eps + eps / k
    for labels, kw in (
        (y, {"num_classes": k}),
        (np_one_hot(y, k), {}),
        (np_one_hot(y, k), {"num_classes": k}),
    ):
        out = to_numpy(prepare_labels(keras.ops.convert_to_tensor(labels),
                                             label_smoothing=eps, **kw))
        np.testing.assert_allclose(out, want, rtol=1e-6)
        np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-6)
    # Soft and multi-hot targets are smoothed too: y (1 - eps) + eps / K.
    soft = np.array([[0.5, 0.5, 0, 0, 0]], "float32")
    out = to_numpy(prepare_labels(keras.ops.convert_to_tensor(soft),
                                         label_smoothing=eps))
    np.testing.assert_allclose(out, soft * (1 - eps) + eps / k, rtol=1e-6)


@pytest.mark.parametrize("y", (np.zeros((3,), "float32"), np.zeros((3, 1), "float32")))
def test_label_smoothing_is_refused_without_a_class_axis(y):
    with pytest.raises(ValueError, match="label_smoothing"):
        prepare_labels(keras.ops.convert_to_tensor(y), label_smoothing=0.1)


# ----------------------------------------------------------------------------
# A whole batch: mixup_batch mixes inputs, labels and weights with one draw,
# is ERM at alpha = 0, casts inputs and keeps labels float32.


def _batch(rng, b=6, k=3):
    x = {
        "probe": np.eye(b, dtype="float32"),  # reveals lam and perm
        "image": rng.integers(0, 256, size=(b, 4, 4, 3)).astype("uint8"),
        "seq": (rng.normal(size=(b, 3, 2)).astype("float32"),),
    }
    y = rng.integers(0, k, size=(b,)).astype("int32")
    sw = rng.uniform(size=(b,)).astype("float32")
    return x, y, sw


@pytest.mark.parametrize("per_sample", (False, True))
@pytest.mark.parametrize("mode", MODES)
def test_mixup_batch_mixes_everything_with_one_draw(per_sample, mode):
    rng = np.random.default_rng(1)
    b, k = 6, 3  # the batch size of test_layer: JAX eager compiles per shape
    x, y, sw = _batch(rng, b, k)
    gen = keras.random.SeedGenerator(42)

    def fn(x, y, sw):
        return mixup_batch(x, y, sw, seed=gen, alpha=1.0,
                                  per_sample=per_sample, num_classes=k)

    xo, yo, swo = run(mode, fn, *to_tensors((x, y, sw)), stateful=(gen,))
    # The draw read off the identity probe...
    lam_seen, perm = read_draw_from_identity(xo["probe"])
    assert np.array_equal(np.sort(perm), np.arange(b))
    moved = perm != np.arange(b)
    assert moved.any()
    lam = lam_seen if per_sample else lam_seen[moved][0]
    if mode == "eager":
        # ...is `draw` from an identically seeded generator.
        lam2, perm2 = to_numpy(mixing.draw(keras.random.SeedGenerator(42), 1.0, b,
                                           per_sample=per_sample))
        assert np.array_equal(perm2[moved], perm[moved])
        np.testing.assert_allclose(np.broadcast_to(lam2, (b,))[moved],
                                   np.broadcast_to(lam, (b,))[moved], rtol=1e-6)
    tol = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xo["image"], np_mix(x["image"], lam, perm), **tol)
    np.testing.assert_allclose(xo["seq"][0], np_mix(x["seq"][0], lam, perm), **tol)
    np.testing.assert_allclose(yo, np_mix(np_one_hot(y, k), lam, perm), **tol)
    np.testing.assert_allclose(swo, np_mix(sw, lam, perm), **tol)
    assert xo["image"].dtype == np.float32  # uint8 images cast
    assert yo.dtype == np.float32 and yo.shape == (b, k)
    np.testing.assert_allclose(yo.sum(-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("alpha_kind", ("number", "variable"))
@pytest.mark.parametrize("mode", MODES)
def test_alpha_zero_is_exactly_erm(alpha_kind, mode):
    rng = np.random.default_rng(2)
    x = {"a": rng.normal(size=(5, 3)).astype("float32"),
         "b": rng.normal(size=(5, 2, 2, 1)).astype("float32")}
    y = rng.normal(size=(5, 4)).astype("float32")
    sw = rng.uniform(size=(5,)).astype("float32")
    gen = keras.random.SeedGenerator(0)
    alpha = 0.0 if alpha_kind == "number" else keras.Variable(0.0, trainable=False)

    def fn(x, y, sw):
        a = alpha if alpha_kind == "number" else alpha.value
        return mixup_batch(x, y, sw, seed=gen, alpha=a)

    stateful = (gen,) if alpha_kind == "number" else (gen, alpha)
    xo, yo, swo = run(mode, fn, *to_tensors((x, y, sw)), stateful=stateful)
    for got, want in zip(keras.tree.flatten((xo, yo, swo)),
                         keras.tree.flatten((x, y, sw))):
        assert same_bits(got, want)


def test_alpha_zero_with_sparse_labels_only_one_hot_encodes():
    x = np.arange(12, dtype="float32").reshape(4, 3)
    y = np.array([1, 0, 1, 2], "int32")
    xo, yo, _ = to_numpy(mixup_batch(*to_tensors((x, y)),
                                            seed=keras.random.SeedGenerator(0),
                                            alpha=0, num_classes=3))
    assert same_bits(xo, x) and same_bits(yo, np_one_hot(y, 3))


@pytest.mark.parametrize("dtype", ("float16", "bfloat16"))
def test_mixup_batch_casts_inputs_and_keeps_labels_float32(dtype):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(4, 2, 2, 3)).astype("uint8")
    y = np.array([0, 1, 1, 0], "int32")
    sw = np.ones((4,), "float32")
    xo, yo, swo = mixup_batch(*to_tensors((x, y, sw)),
                                     seed=keras.random.SeedGenerator(1), alpha=1.0,
                                     num_classes=2, dtype=dtype)
    assert keras.backend.standardize_dtype(xo.dtype) == dtype
    assert keras.backend.standardize_dtype(yo.dtype) == "float32"
    assert keras.backend.standardize_dtype(swo.dtype) == "float32"


def test_mixup_batch_refuses_different_batch_sizes():
    gen = keras.random.SeedGenerator(0)
    x = keras.ops.zeros((4, 2))
    with pytest.raises(ValueError, match=r"`y`.*batch size.*4.*3"):
        mixup_batch(x, keras.ops.zeros((3, 2)), seed=gen, alpha=1.0)
    with pytest.raises(ValueError, match=r"`sample_weight`.*batch size.*4.*5"):
        mixup_batch(x, keras.ops.zeros((4, 2)), keras.ops.zeros((5,)),
                           seed=gen, alpha=1.0)
    with pytest.raises(ValueError, match=r"`x`.*batch size"):
        mixup_batch({"a": x, "b": keras.ops.zeros((2, 2))}, seed=gen, alpha=1.0)


# ----------------------------------------------------------------------------
# Argument validation refuses bad values and accepts numbers.


@pytest.mark.parametrize("bad", (-0.5, -1, float("nan"), float("inf"), -float("inf"),
                                 "1", None, [1], True))
def test_validate_alpha_refuses_bad_values(bad):
    with pytest.raises(ValueError, match=r"`alpha`.*non-negative.*Received: alpha="):
        validate_alpha(bad)


@pytest.mark.parametrize("good", (0, 0.0, 0.2, 1, 1000.0, np.float32(0.4), np.int64(2)))
def test_validate_alpha_accepts_numbers(good):
    assert validate_alpha(good) == float(good)


@pytest.mark.parametrize("bad", (0, -1, 2.5, True, "3", [3]))
def test_validate_num_classes_refuses_bad_values(bad):
    with pytest.raises(ValueError, match=r"`num_classes`.*positive integer.*Received"):
        validate_num_classes(bad)


@pytest.mark.parametrize("bad", (-0.1, 1.0, 1.5, float("nan"), True, "0.1", None))
def test_validate_label_smoothing_refuses_bad_values(bad):
    with pytest.raises(ValueError, match=r"`label_smoothing`.*\[0, 1\).*Received"):
        validate_label_smoothing(bad)


# ----------------------------------------------------------------------------
# Batch structures: (x, y), (x, y, sample_weight) and the {"images", "labels"}
# dict of Keras's preprocessing layers are unpacked and repacked; others are
# refused.


def test_unpack_data_structures_and_repack():
    x, y, sw = object(), object(), object()
    for data in ((x, y), (x, y, sw), [x, y]):
        ux, uy, usw, repack = unpack_data(data)
        assert ux is x and uy is y and usw is (sw if len(data) == 3 else None)
        back = repack(1, 2, 3)
        assert type(back) is type(data) and len(back) == len(data)
    data = {"images": x, "labels": y, "sample_weight": sw, "extra": 5}
    ux, uy, usw, repack = unpack_data(data)
    assert ux == {"images": x, "extra": 5} and uy is y and usw is sw
    back = repack({"images": 1, "extra": 2}, 3, 4)
    assert back == {"images": 1, "extra": 2, "labels": 3, "sample_weight": 4}
    ux, uy, usw, repack = unpack_data({"images": x, "labels": y})
    assert ux is x and repack(1, 2, None) == {"images": 1, "labels": 2}


@pytest.mark.parametrize(
    "data, match",
    (
        ({"images": 1}, "labels"),
        ({"labels": 1}, "inputs besides labels"),
        ({"images": 1, "labels": 2, "bounding_boxes": 3}, "bounding_boxes"),
        ((1,), "length 1"),
        ((1, 2, 3, 4), "length 4"),
    ),
)
def test_unpack_data_refuses_other_structures(data, match):
    with pytest.raises(ValueError, match=match):
        unpack_data(data)
