"""Shared helpers for the keras-mixup tests (fixtures and hooks live in conftest.py).

Import them as `from tests.helpers import ...`: pyproject's pytest
`pythonpath = ["."]` puts the repository root on sys.path for `pytest` and
`python -m pytest` alike.

The suite runs once per backend (KERAS_BACKEND=tensorflow, then jax), each in
its own process. `compiled` and `run` hide the per-backend way of compiling a
function that uses Keras variables and seed generators:

- TensorFlow: `tf.function(fn, jit_compile=True)` (XLA); variables are
  updated in place.
- JAX: `jax.jit` of a stateless wrapper: every variable's value is threaded
  through `keras.StatelessScope` and the new values are assigned back after
  the call, so a SeedGenerator's stream advances exactly as it does eagerly.
"""

import math

import keras
import numpy as np
from scipy import special, stats

BACKEND = keras.backend.backend()
MODES = ("eager", "compiled")


def variables_of(*stateful):
    """Keras variables of layers, seed generators and plain variables."""
    out = []
    for obj in stateful:
        if isinstance(obj, keras.random.SeedGenerator):
            candidates = [obj.state]
        elif isinstance(obj, keras.Variable):
            candidates = [obj]
        else:
            candidates = list(obj.variables)
        for v in candidates:
            if not any(v is seen for seen in out):
                out.append(v)
    return out


def compiled(fn, *stateful):
    """`fn` compiled with XLA on this backend; see the module docstring.

    `stateful` are the layers / SeedGenerators / variables that `fn` reads or
    updates (needed on JAX, where their state is threaded through the jit).
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if BACKEND == "jax":
        import jax

        variables = variables_of(*stateful)

        def stateless(values, *args):
            with keras.StatelessScope(
                state_mapping=list(zip(variables, values))
            ) as scope:
                out = fn(*args)
            new_values = []
            for v, old in zip(variables, values):
                new = scope.get_current_value(v)
                new_values.append(old if new is None else new)
            return out, new_values

        jitted = jax.jit(stateless)

        def call(*args):
            out, new_values = jitted([v.value for v in variables], *args)
            for v, new in zip(variables, new_values):
                v.assign(new)
            return out

        return call
    raise NotImplementedError(f"No compiled mode for backend {BACKEND}")


def run(mode, fn, *args, stateful=()):
    """Run `fn(*args)` eagerly or compiled; returns numpy structures."""
    if mode == "eager":
        out = fn(*args)
    elif mode == "compiled":
        out = compiled(fn, *stateful)(*args)
    else:
        raise ValueError(mode)
    return to_numpy(out)


def to_numpy(tree):
    return keras.tree.map_structure(
        lambda t: None if t is None else keras.ops.convert_to_numpy(t), tree
    )


def same_bits(a, b):
    """Bit-identical arrays: same dtype, shape and raw bytes."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def np_mix(t, lam, perm):
    """The paper's formula in float64 numpy: lam * t + (1 - lam) * t[perm]."""
    t = np.asarray(t, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    if lam.ndim == 1:
        lam = lam.reshape((-1,) + (1,) * (t.ndim - 1))
    return lam * t + (1.0 - lam) * t[np.asarray(perm)]


def np_one_hot(y, k):
    y = np.asarray(y).reshape(-1)
    out = np.zeros((y.shape[0], k), dtype=np.float32)
    out[np.arange(y.shape[0]), y] = 1.0
    return out


def read_draw_from_identity(x_mixed):
    """(lam, perm) of a per-example draw applied to the identity matrix.

    With x = eye(B), row i of the mix is lam_i e_i + (1 - lam_i) e_perm[i]:
    lam_i is the diagonal, perm[i] the other non-zero column. Rows where
    no other column is non-zero (perm[i] == i, or lam_i == 1) report
    perm[i] = i.
    """
    x = np.asarray(x_mixed, dtype=np.float64)
    b = x.shape[0]
    lam = np.diag(x).copy()
    off = x.copy()
    off[np.arange(b), np.arange(b)] = 0.0
    perm = np.where(off.max(axis=1) > 0, off.argmax(axis=1), np.arange(b))
    return lam, perm


def tf_dataset(*components, batch_size, drop_remainder=False):
    """A batched tf.data pipeline over numpy arrays (any backend)."""
    import tensorflow as tf

    data = components[0] if len(components) == 1 else tuple(components)
    return tf.data.Dataset.from_tensor_slices(data).batch(
        batch_size, drop_remainder=drop_remainder
    )


def collect(ds):
    return list(ds.as_numpy_iterator())


def features(rng, b=6, uint8_image=True):
    """Inputs of every rank, plus an identity probe that reveals the draw."""
    image = rng.integers(0, 256, size=(b, 4, 4, 3))
    return {
        "probe": np.eye(b, dtype="float32"),
        "tabular": rng.normal(size=(b, 5)).astype("float32"),
        "sequence": rng.normal(size=(b, 4, 3)).astype("float32"),
        "image": image.astype("uint8" if uint8_image else "float32"),
        "video": rng.normal(size=(b, 2, 3, 3, 2)).astype("float32"),
    }


def check_mixed(x_out, others_out, x, others, *, per_sample, probe="probe"):
    """Assert every leaf is lam * t + (1 - lam) * t[perm] for ONE draw.

    The draw (lam, perm) is read off the identity probe `x_out[probe]`; the
    numpy reference is applied to every leaf of `x` and `others` (labels as
    one-hot float, sample weights...). Returns (lam, perm).
    """
    b = x[probe].shape[0]
    lam, perm = read_draw_from_identity(x_out[probe])
    assert np.array_equal(np.sort(perm), np.arange(b)), perm
    moved = perm != np.arange(b)
    if b >= 6:  # a 6-permutation is the identity with probability 1/720
        assert moved.any(), "no example was paired with another: weak test"
    if not per_sample and moved.any():
        # One lam per batch: every paired row shows the same lam.
        assert np.all(lam[moved] == lam[moved][0]), lam
        lam = lam[moved][0]
    elif per_sample and moved.sum() > 2:
        assert len(np.unique(lam[moved])) > 1, "expected one lam per example"
    want = (x, others)
    got = (x_out, others_out)
    keras.tree.assert_same_structure(got, want)
    for g, w in zip(keras.tree.flatten(got), keras.tree.flatten(want)):
        g = np.asarray(g)
        assert g.shape == np.shape(w)
        np.testing.assert_allclose(g.astype("float64"), np_mix(w, lam, perm),
                                   rtol=2e-5, atol=2e-6)
    return lam, perm


# ----------------------------------------------------------------------------
# Reference distributions for lam ~ Beta(alpha, alpha).

P_MIN = 1e-3  # KS / chi-square p-value below which a test fails
N = 20000
ALPHAS = (0.001, 0.01, 0.1, 0.2, 0.4, 1.0, 2.0, 8.0, 32.0, 1000.0)
# Below alpha ~0.3 float32 rounds a visible share of lam to exactly 1 (an atom
# of mass ~(2**-25)**a / (a B(a, a)): 1.8% at alpha = 0.2, beyond the KS
# critical distance 0.014 at N = 20000), which a KS test against the
# continuous Beta CDF reads as a misfit of the *test*. Plain lam-space KS runs
# where that atom is negligible; `assert_lam_ks_within` covers every alpha.
ALPHAS_LAM_SPACE = tuple(a for a in ALPHAS if a >= 0.4)
LAM_LO, LAM_HI = 1e-4, 1.0 - 1e-4


def folded_log(t):
    """s = log(min(lam, 1 - lam)) from the logit t, stable for any |t|."""
    t = np.abs(np.asarray(t, dtype=np.float64))
    return -t - np.log1p(np.exp(-t))


def folded_log_cdf(u, a):
    """P(log(min(lam, 1 - lam)) <= u) for lam ~ Beta(a, a): 2 I_{e^u}(a, a).

    Below u = -600 (where e^u approaches double underflow) the leading term
    of the series, 2 x^a / (a B(a, a)), is exact to double precision.
    """
    u = np.minimum(np.asarray(u, dtype=np.float64), math.log(0.5))
    deep = u < -600.0
    out = np.empty_like(u)
    out[~deep] = 2.0 * special.betainc(a, a, np.exp(u[~deep]))
    out[deep] = 2.0 * np.exp(a * u[deep] - math.log(a) - special.betaln(a, a))
    return out


def assert_folded_ks(t, alpha):
    t = np.asarray(t)
    assert np.all(np.isfinite(t)), f"non-finite logits at alpha={alpha}"
    s = folded_log(t)
    p = stats.kstest(s, lambda u: folded_log_cdf(u, alpha)).pvalue
    assert p > P_MIN, f"KS in folded log space: p={p:.2e} at alpha={alpha}"


def assert_symmetric(t, alpha):
    """lam ~ Beta(a, a) is symmetric: P(t > 0) = 1/2 (binomial tolerance)."""
    n = len(t)
    frac = float(np.mean(np.asarray(t) > 0))
    assert abs(frac - 0.5) < 4.0 * math.sqrt(0.25 / n), (frac, alpha)


def assert_lam_ks(lam, alpha):
    lam = np.asarray(lam, dtype=np.float64)
    assert np.all(np.isfinite(lam)) and lam.min() >= 0.0 and lam.max() <= 1.0
    p = stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue
    assert p > P_MIN, f"KS in lam space: p={p:.2e} at alpha={alpha}"


def ks_pvalue_within(x, cdf, lo, hi):
    """Conservative KS p-value using only |F_n - F| on [lo, hi).

    The supremum over a sub-interval is at most the full supremum, so the
    Kolmogorov p-value of this statistic is a valid (conservative) test; it
    ignores the float32 rounding of values outside [lo, hi).
    """
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = len(x)
    inside = (x > lo) & (x < hi)
    i = np.arange(1, n + 1)[inside]
    f = cdf(x[inside])
    d = max(
        np.max(i / n - f, initial=0.0),
        np.max(f - (i - 1) / n, initial=0.0),
        abs(np.mean(x <= lo) - cdf(lo)),  # F_n(lo) vs F(lo)
        abs(np.mean(x < hi) - cdf(hi)),  # F_n(hi-) vs F(hi)
    )
    return stats.kstwo.sf(d, n)


def assert_lam_ks_within(lam, alpha):
    lam = np.asarray(lam, dtype=np.float64)
    assert np.all(np.isfinite(lam)) and lam.min() >= 0.0 and lam.max() <= 1.0
    p = ks_pvalue_within(lam, stats.beta(alpha, alpha).cdf, LAM_LO, LAM_HI)
    assert p > P_MIN, f"KS in lam space on [{LAM_LO}, {LAM_HI}): p={p:.2e}, alpha={alpha}"


