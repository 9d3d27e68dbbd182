"""mixup_map in tf.data pipelines, under whichever Keras backend runs.

tf.data graphs are TensorFlow graphs: under KERAS_BACKEND=jax the map runs
TF ops through the same keras_mixup.mixing code. Each test here runs under
both backends (the suite runs once per backend).
"""

import keras
import numpy as np
import pytest
from scipy import stats

from tests.helpers import (
    ALPHAS,
    assert_folded_ks,
    assert_lam_ks_within,
    check_mixed,
    collect,
    features,
    np_one_hot,
    same_bits,
    tf_dataset,
)
from keras_mixup import mixing, mixup_map
from keras_mixup._internals import backend_namespace

tf = pytest.importorskip("tensorflow")
TF = backend_namespace("tensorflow")
K = 3


def as_float(x):
    return keras.tree.map_structure(lambda t: t.astype("float32"), x)


def check_batches(out, x, others, *, batch_size, per_sample=False):
    """Every batch of a pipeline over rows of `x` (whose "probe" is eye(N)) is
    lam * t + (1 - lam) * t[perm] with one draw for all its leaves; returns
    the draws."""
    n = x["probe"].shape[0]
    draws, start = [], 0
    for xo, oo in out:
        b = xo["probe"].shape[0]
        assert b == min(batch_size, n - start)
        rows = slice(start, start + b)
        # Pairs stay within the batch: the probe has no mass elsewhere.
        outside = np.delete(xo["probe"], np.arange(start, start + b), axis=1)
        assert not outside.any()
        x_b = keras.tree.map_structure(lambda t: t[rows], x)
        x_b["probe"] = np.eye(b, dtype="float32")
        xo = dict(xo, probe=xo["probe"][:, rows])
        o_b = keras.tree.map_structure(lambda t: t[rows], others)
        draws.append(check_mixed(xo, oo, x_b, o_b, per_sample=per_sample))
        start += b
    assert start == n
    return draws


# ----------------------------------------------------------------------------
# Inside tf.data, lam follows Beta(alpha, alpha) for every alpha in [0.001, 1000].


@pytest.mark.parametrize("alpha", ALPHAS)
def test_lambda_in_tf_data_follows_beta(alpha):
    """20 batches of 1000: the per-example lam of a tf.data pipeline.

    x = eye(B), so row i of a mixed batch is lam_i e_i + (1 - lam_i) e_perm[i]
    and the diagonal shows lam (exactly: t[perm] + lam (t - t[perm]) has
    t[perm][i, i] = 0 for a paired row). The logits behind them are re-drawn
    from an identically seeded TF SeedGenerator; the data must match them,
    and both are tested: lam in lam space away from float32 rounding, the
    logits in folded log space.
    """
    b, n_batches, seed = 1000, 20, 17
    eye = np.eye(b, dtype="float32")
    ds = tf.data.Dataset.from_tensors((eye, np.zeros((b, 1), "float32")))
    ds = ds.repeat(n_batches).map(mixup_map(alpha, per_sample=True, seed=seed))
    gen = keras.random.SeedGenerator(seed, backend=TF)
    lam_data, logits = [], []
    for xo, _ in ds.as_numpy_iterator():
        t = mixing.sample_beta_logit(gen, alpha, (b,), backend=TF)
        perm = mixing.sample_permutation(gen, b, backend=TF).numpy()
        lam = tf.math.sigmoid(t).numpy()
        paired = perm != np.arange(b)
        d = np.diag(xo)
        # Graph and eager float32 maths may round differently; at small alpha
        # the logit is a difference of log-Gammas of size ~1/alpha, so lam
        # carries a relative rounding error of ~ulp(1/alpha). The draws are
        # identified all the same (independent draws differ by O(1)).
        np.testing.assert_allclose(d[paired], lam[paired], rtol=1e-3, atol=1e-38)
        assert np.all(d[~paired] == 1.0)
        np.testing.assert_allclose(xo[np.arange(b)[paired], perm[paired]],
                                   1.0 - lam[paired], rtol=1e-3, atol=1e-7)
        assert np.count_nonzero(xo) <= 2 * b
        lam_data.append(d[paired])
        logits.append(t.numpy())
    lam_data = np.concatenate(lam_data)
    assert len(lam_data) > 0.99 * b * n_batches
    assert_lam_ks_within(lam_data, alpha)
    assert_folded_ks(np.concatenate(logits), alpha)


def test_one_lambda_per_batch_in_tf_data_follows_beta():
    """One lam per batch (the default), over 600 batches of 2."""
    alpha, seed = 0.4, 5
    pair = np.eye(2, dtype="float32")
    ds = tf.data.Dataset.from_tensors((pair, np.zeros((2,), "float32")))
    ds = ds.repeat(600).map(mixup_map(alpha, seed=seed))
    lams = [xo[0, 0] for xo, _ in ds.as_numpy_iterator() if xo[0, 1] != 0 or xo[0, 0] != 1]
    # Batches whose perm is the identity (half of them) show nothing: keep the
    # rest (lam == 1 exactly has probability ~1e-4 at alpha=0.4).
    assert 220 < len(lams) < 380
    assert stats.kstest(lams, stats.beta(alpha, alpha).cdf).pvalue > 1e-3


# ----------------------------------------------------------------------------
# Every batch structure and batch size is mixed, the last, smaller batch too.


def _rows(n, seed=0):
    rng = np.random.default_rng(seed)
    x = features(rng, n)
    y = rng.integers(0, K, size=(n,)).astype("int32")
    sw = rng.uniform(0.5, 2.0, size=(n,)).astype("float32")
    return x, y, sw


@pytest.mark.parametrize("n, batch_size", ((5, 1), (7, 7), (17, 5)),
                         ids=("batch1", "odd", "last-smaller"))
@pytest.mark.parametrize("form", ("tuple2", "tuple3", "dict"))
def test_mixup_map_on_structures_and_batch_sizes(form, n, batch_size):
    x, y, sw = _rows(n)
    fn = mixup_map(1.0, num_classes=K, seed=3)
    if form == "tuple2":
        out = collect(tf_dataset(x, y, batch_size=batch_size).map(fn))
        assert all(isinstance(p, tuple) and len(p) == 2 for p in out)
        out = [(p[0], (p[1],)) for p in out]
        others = (np_one_hot(y, K),)
    elif form == "tuple3":
        out = collect(tf_dataset(x, y, sw, batch_size=batch_size).map(fn))
        assert all(isinstance(p, tuple) and len(p) == 3 for p in out)
        out = [(p[0], p[1:]) for p in out]
        others = (np_one_hot(y, K), sw)
    else:
        data = dict(x, labels=y, sample_weight=sw)
        out = collect(tf_dataset(data, batch_size=batch_size).map(fn))
        assert all(set(p) == set(data) for p in out)
        out = [({k: p[k] for k in x}, (p["labels"], p["sample_weight"])) for p in out]
        others = (np_one_hot(y, K), sw)
    for xo, oo in out:
        assert oo[0].shape == (xo["probe"].shape[0], K) and oo[0].dtype == np.float32
        assert all(t.dtype == np.float32 for t in keras.tree.flatten((xo, oo)))
    check_batches(out, as_float(x), others, batch_size=batch_size)


@pytest.mark.parametrize("per_sample", (False, True))
def test_mixup_map_per_sample_and_sparse_column_labels(per_sample):
    x, y, _ = _rows(12, seed=1)
    fn = mixup_map(0.4, per_sample=per_sample, num_classes=K, seed=4)
    out = collect(tf_dataset(x, y.reshape(-1, 1), batch_size=6).map(fn))
    assert all(part[1].shape == (6, K) for part in out)
    check_batches(out, as_float(x), np_one_hot(y, K), batch_size=6,
                  per_sample=per_sample)


def test_mixup_map_mixes_multi_hot_and_regression_targets():
    x, _, _ = _rows(8, seed=2)
    rng = np.random.default_rng(2)
    y = {"tags": rng.integers(0, 2, size=(8, 5)).astype("int32"),
         "value": rng.normal(size=(8,)).astype("float32")}
    out = collect(tf_dataset(x, y, batch_size=8).map(mixup_map(1.0, seed=1)))
    check_batches(out, as_float(x), as_float(y), batch_size=8)


# ----------------------------------------------------------------------------
# alpha = 0 is exactly ERM: the batch comes back bit-identical.


@pytest.mark.parametrize("form", ("tuple3", "dict"))
def test_alpha_zero_is_bit_identical_in_tf_data(form):
    rng = np.random.default_rng(5)
    x = {"a": rng.normal(size=(9, 4)).astype("float32"),
         "b": rng.normal(size=(9, 2, 3)).astype("float32")}
    y = rng.integers(0, K, size=(9,)).astype("int32")
    sw = rng.uniform(size=(9,)).astype("float32")
    fn = mixup_map(0.0, num_classes=K, seed=1)
    if form == "tuple3":
        out = collect(tf_dataset(x, y, sw, batch_size=4).map(fn))
        got = [(p[0], p[1], p[2]) for p in out]
    else:
        out = collect(tf_dataset(dict(x, labels=y, sample_weight=sw),
                                 batch_size=4).map(fn))
        got = [({"a": p["a"], "b": p["b"]}, p["labels"], p["sample_weight"])
               for p in out]
    assert [len(p[1]) for p in got] == [4, 4, 1]
    for i, part in enumerate(got):
        rows = slice(4 * i, 4 * i + 4)
        want = (keras.tree.map_structure(lambda t: t[rows], x),
                np_one_hot(y[rows], K), sw[rows])
        for g, w in zip(keras.tree.flatten(part), keras.tree.flatten(want)):
            assert same_bits(g, w)


# ----------------------------------------------------------------------------
# prob: as MixUp(prob=...), a fraction of batches (examples) is mixed.


def test_prob_zero_is_bit_identical_in_tf_data():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(9, 4)).astype("float32")
    y = rng.integers(0, K, size=(9,)).astype("int32")
    sw = rng.uniform(size=(9,)).astype("float32")
    fn = mixup_map(1.0, per_sample=True, prob=0.0, num_classes=K, seed=1)
    out = collect(tf_dataset(x, y, sw, batch_size=4).map(fn))
    for i, (xo, yo, swo) in enumerate(out):
        rows = slice(4 * i, 4 * i + 4)
        assert same_bits(xo, x[rows]) and same_bits(swo, sw[rows])
        assert same_bits(yo, np_one_hot(y[rows], K))


def test_prob_per_example_in_tf_data_mixes_that_fraction_by_the_formula():
    b, prob = 2000, 0.3
    rng = np.random.default_rng(7)
    # An identity probe: row i of a mixed example is lam e_i + (1 - lam) e_j,
    # which reveals its own lam and partner.
    probe = np.eye(b, dtype="float32")
    y = rng.integers(0, K, b).astype("int32")
    fn = mixup_map(1.0, per_sample=True, prob=prob, num_classes=K, seed=3)
    ((xo, yo),) = collect(tf_dataset(probe, y, batch_size=b).map(fn))
    untouched = np.all(xo == probe, axis=1)
    mixed = b - untouched.sum()
    # Binomial(b, prob) within 4.5 standard deviations (an example paired
    # with itself also comes out untouched: 1/b of the mixed ones).
    assert abs(mixed - b * prob) <= 4.5 * np.sqrt(b * prob * (1 - prob)) + 2
    assert same_bits(yo[untouched], np_one_hot(y[untouched], K))
    lam = xo[np.arange(b), np.arange(b)]
    xo_off = xo.copy()
    xo_off[np.arange(b), np.arange(b)] = 0.0
    partner = np.argmax(xo_off, axis=1)
    want = (lam[:, None] * np_one_hot(y, K)
            + (1 - lam[:, None]) * np_one_hot(y[partner], K))
    np.testing.assert_allclose(yo[~untouched], want[~untouched], atol=1e-6)


def test_prob_per_batch_frequency_in_tf_data():
    n, prob = 300, 0.4
    x = np.tile(np.eye(6, dtype="float32"), (n, 1))
    fn = mixup_map(1.0, prob=prob, seed=2)
    out = collect(tf_dataset(x, x, batch_size=6).map(fn))
    mixed = sum(not same_bits(xo, np.eye(6, dtype="float32")) for xo, _ in out)
    # An identity permutation (1/720) also leaves the batch untouched.
    assert abs(mixed - n * prob) <= 4.5 * np.sqrt(n * prob * (1 - prob)) + 1
    assert "prob=0.4" in repr(fn)


def test_label_smoothing_in_tf_data():
    eps = 0.1
    y = np.array([2, 0, 1, 1], "int32")
    (out,) = collect(tf_dataset(np.ones((4, 2), "float32"), y, batch_size=4).map(
        mixup_map(0.0, num_classes=K, label_smoothing=eps)))
    want = np.full((4, K), eps / K)
    want[np.arange(4), y] = 1 - eps + eps / K
    np.testing.assert_allclose(out[1], want, rtol=1e-6)


# ----------------------------------------------------------------------------
# Inputs take the global dtype policy in force when the map is built;
# labels stay float32.


@pytest.mark.parametrize("policy", ("mixed_float16", "mixed_bfloat16"))
def test_inputs_follow_the_policy_at_build_time_labels_stay_float32(policy):
    x, y, sw = _rows(6, seed=6)
    keras.config.set_dtype_policy(policy)
    fn = mixup_map(1.0, num_classes=K, seed=2)
    keras.config.set_dtype_policy("float32")
    (out,) = collect(tf_dataset(x, y, sw, batch_size=6).map(fn))
    compute = policy.split("_")[1]
    for t in keras.tree.flatten(out[0]):
        assert keras.backend.standardize_dtype(t.dtype) == compute
    assert out[1].dtype == np.float32 and out[2].dtype == np.float32
    np.testing.assert_allclose(out[1].sum(-1), 1.0, rtol=1e-6)


def test_float32_policy_gives_float32_inputs():
    x, y, _ = _rows(6, seed=7)
    (out,) = collect(tf_dataset(x, y, batch_size=6).map(mixup_map(0.0, num_classes=K)))
    assert all(t.dtype == np.float32 for t in keras.tree.flatten(out[0]))
    assert same_bits(out[0]["image"], x["image"].astype("float32"))


# ----------------------------------------------------------------------------
# A seed fixes the stream; every batch and every epoch draws anew.


def test_same_seed_same_first_epoch_and_epochs_differ():
    x, y, _ = _rows(12, seed=8)

    def pipeline(seed):
        fn = mixup_map(1.0, per_sample=True, num_classes=K, seed=seed)
        return tf_dataset(x, y, batch_size=6).map(fn)

    ds = pipeline(9)
    epoch1, epoch2 = collect(ds), collect(ds)
    again = collect(pipeline(9))
    other = collect(pipeline(10))
    for a, b in zip(epoch1, again):
        for g, w in zip(keras.tree.flatten(a), keras.tree.flatten(b)):
            assert same_bits(g, w)
    assert not np.array_equal(epoch1[0][0]["probe"], epoch2[0][0]["probe"])
    assert not np.array_equal(epoch1[0][0]["probe"], other[0][0]["probe"])
    for epoch in (epoch1, epoch2):
        draws = check_batches(epoch, as_float(x), np_one_hot(y, K), batch_size=6,
                              per_sample=True)
        # The two batches of an epoch got different draws.
        assert not np.array_equal(draws[0][0], draws[1][0])


# ----------------------------------------------------------------------------
# Bad arguments and bad batches raise errors that name them.


@pytest.mark.parametrize(
    "kwargs, match",
    (
        (dict(alpha=-0.1), r"`alpha`.*Received: alpha=-0.1"),
        (dict(alpha=float("nan")), r"`alpha`.*Received: alpha=nan"),
        (dict(alpha="1"), r"`alpha`.*Received: alpha='1'"),
        (dict(alpha=None), r"`alpha`.*Received: alpha=None"),
        (dict(alpha=[1]), r"`alpha`.*Received: alpha=\[1\]"),
        (dict(num_classes=0), r"`num_classes`.*Received: num_classes=0"),
        (dict(num_classes=2.5), r"`num_classes`.*Received: num_classes=2.5"),
        (dict(num_classes=True), r"`num_classes`.*Received: num_classes=True"),
        (dict(label_smoothing=1.0), r"`label_smoothing`.*\[0, 1\)"),
        (dict(per_sample=1), r"`per_sample`.*bool"),
        (dict(seed="1"), r"`seed`.*int"),
        (dict(prob=1.5), r"`prob`.*\[0, 1\].*Received: prob=1.5"),
        (dict(prob="0.5"), r"`prob`.*Received: prob='0.5'"),
    ),
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mixup_map(**kwargs)


def test_sparse_labels_without_num_classes_fail_when_the_map_is_traced():
    ds = tf_dataset(np.ones((4, 2), "float32"), np.array([0, 1, 2, 0]), batch_size=2)
    with pytest.raises(ValueError, match="num_classes"):
        ds.map(mixup_map(1.0))


def test_out_of_range_labels_fail_in_tf_data_naming_the_range():
    ds = tf_dataset(np.ones((4, 2), "float32"), np.array([0, 1, 2, 3], "int32"),
                    batch_size=2).map(mixup_map(1.0, num_classes=3, seed=1))
    it = iter(ds)
    next(it)  # [0, 1] is fine
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 3\)"):
        next(it)


def test_different_batch_sizes_fail_in_tf_data_and_eagerly():
    xs = tf.data.Dataset.from_tensor_slices(np.ones((12, 2), "float32")).batch(4)
    ys = tf.data.Dataset.from_tensor_slices(np.eye(3, dtype="float32")[[0] * 12]).batch(3)
    ds = tf.data.Dataset.zip((xs, ys)).map(mixup_map(1.0, seed=1))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`y`.*same batch size"):
        collect(ds)
    with pytest.raises(ValueError, match=r"`y`.*batch size.*4.*3"):
        mixup_map(1.0)(np.ones((4, 2), "float32"), np.ones((3, 3), "float32"))


def test_float_labels_with_the_wrong_class_axis_fail():
    ds = tf_dataset(np.ones((4, 2), "float32"), np.ones((4, 5), "float32"),
                    batch_size=2)
    with pytest.raises(ValueError, match=r"num_classes=3"):
        ds.map(mixup_map(1.0, num_classes=3))


def test_unknown_structures_are_refused():
    ds = tf.data.Dataset.from_tensors(np.ones((4, 2), "float32"))
    with pytest.raises(ValueError, match=r"\(x, y\)"):
        ds.map(mixup_map(1.0))
    ds = tf.data.Dataset.from_tensors({"images": np.ones((4, 2), "float32")})
    with pytest.raises(ValueError, match=r'"labels"'):
        ds.map(mixup_map(1.0))
