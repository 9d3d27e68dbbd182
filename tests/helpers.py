"""Shared helpers for the keras-mixup tests (fixtures and hooks live in conftest.py).

Import them as `from tests.helpers import ...`: pyproject's pytest
`pythonpath = ["."]` puts the repository root on sys.path for `pytest` and
`python -m pytest` alike.

The suite runs once per backend (KERAS_BACKEND=tensorflow, jax, torch), each in
its own process. `compiled` and `run` hide the per-backend way of compiling a
function that uses Keras variables and seed generators:

- TensorFlow: `tf.function(fn, jit_compile=True)` (XLA); variables are
  updated in place.
- JAX: `jax.jit` of a stateless wrapper: every variable's value is threaded
  through `keras.StatelessScope` and the new values are assigned back after
  the call, so a SeedGenerator's stream advances exactly as it does eagerly.
- PyTorch: `torch.compile(fn, backend="aot_eager")`; variables are updated
  in place.
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
    if BACKEND == "torch":
        import torch

        # torch.compile as Keras's jit_compile=True does: Dynamo captures the
        # graph (guards, in-place variable updates) and AOTAutograd
        # functionalizes it. "aot_eager" runs the captured graph without
        # Inductor's C++ code generation, torch's own part, which costs tens
        # of seconds per graph on a 2-core CPU. Variables update in place.
        return torch.compile(fn, backend="aot_eager")
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
        # float32 rounds lam * a + (1 - lam) * b to a few ulps of the
        # inputs' magnitude (uint8 images: ~1e-4), which a mix of two close
        # values shows as a large relative error; a wrong lam or partner is
        # off by the values themselves.
        scale = float(np.max(np.abs(np.asarray(w, dtype=np.float64)), initial=1.0))
        np.testing.assert_allclose(g.astype("float64"), np_mix(w, lam, perm),
                                   rtol=2e-5, atol=max(2e-6, 4e-7 * scale))
    return lam, perm


def assert_plotted_png(path, *, min_coloured=0.002):
    """`path` is a PNG figure with data drawn on it, not only its frame.

    Axes, ticks and text are black or grey; lines, bars and markers take the
    colour cycle. At least `min_coloured` of the pixels must be coloured
    (channels apart by > 0.25): a file that is not a PNG fails, as does a
    blank figure, empty axes (0%) or a legend without data (four entries:
    0.1%); the recipes' thinnest figures, line plots of two epochs, have
    0.47%. Returns the image (height, width, channels).
    """
    import matplotlib.image

    with open(path, "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    image = matplotlib.image.imread(path)
    rgb = image[..., :3].astype(np.float64)
    coloured = float(np.mean(rgb.max(axis=-1) - rgb.min(axis=-1) > 0.25))
    assert image.shape[0] >= 200 and image.shape[1] >= 200, image.shape
    assert coloured >= min_coloured, (
        f"{path}: {coloured:.2%} of the pixels are coloured: nothing plotted?")
    return image


def plotted_cycle_colours(path, *, min_pixels=20):
    """How many of matplotlib's default colour cycle (C0, C1, ...: the
    colours successive lines take) a PNG shows, counting those in order up
    to the first one absent: a figure of n curves with a legend shows the
    first n. A colour counts when at least `min_pixels` pixels have it
    (within 0.02 a channel): a curve hidden under an identical later one
    still shows its legend line (about 50 pixels at the recipes' dpi)."""
    import matplotlib
    import matplotlib.colors

    rgb = assert_plotted_png(path)[..., :3].astype(np.float64)
    count = 0
    for colour in matplotlib.rcParamsDefault["axes.prop_cycle"].by_key()["color"]:
        target = np.asarray(matplotlib.colors.to_rgb(colour))
        if np.sum(np.all(np.abs(rgb - target) <= 0.02, axis=-1)) < min_pixels:
            break
        count += 1
    return count


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




# ----------------------------------------------------------------------------
# The contract every mixing layer keeps, in the spirit of Keras's own
# `run_layer_test` (keras/src/testing/test_case.py): weights, symbolic call and
# output spec, serialization, saving, mixed precision.

MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


def _float_or_uint8(dtype):
    dtype = keras.backend.standardize_dtype(dtype)
    return keras.backend.is_float_dtype(dtype) or dtype == "uint8"


def _contract_batch(input_shapes, input_dtypes, num_classes, seed=0):
    """(x, y, sample_weight) in numpy: x as `input_shapes` (a shape or a dict
    of shapes, batch first), y sparse class ids, weights in [0.5, 2)."""
    rng = np.random.default_rng(seed)

    def leaf(shape, dtype):
        if keras.backend.standardize_dtype(dtype) == "uint8":
            return rng.integers(0, 256, size=shape).astype("uint8")
        return rng.normal(size=shape).astype(dtype)

    if isinstance(input_shapes, dict):
        x = {k: leaf(shape, input_dtypes[k]) for k, shape in input_shapes.items()}
    else:
        x = leaf(input_shapes, input_dtypes)
    b = keras.tree.flatten(x)[0].shape[0]
    y = rng.integers(0, num_classes, size=(b,)).astype("int32")
    sample_weight = rng.uniform(0.5, 2.0, size=(b,)).astype("float32")
    return x, y, sample_weight


def _symbolic(tree):
    """KerasTensors like the numpy leaves of `tree`, batch dimension None."""
    return keras.tree.map_structure(
        lambda t: keras.KerasTensor((None,) + t.shape[1:], dtype=str(t.dtype)),
        tree,
    )


def _assert_specs(got, want, what):
    """Same structure, shapes (None matches any size) and dtypes."""
    keras.tree.assert_same_structure(got, want)
    for g, w in zip(keras.tree.flatten(got), keras.tree.flatten(want)):
        g_shape, w_shape = tuple(g.shape), tuple(w.shape)
        assert len(g_shape) == len(w_shape) and all(
            a is None or b is None or a == b for a, b in zip(g_shape, w_shape)
        ), f"{what}: shape {g_shape}, expected {w_shape}"
        g_dtype = keras.backend.standardize_dtype(g.dtype)
        w_dtype = keras.backend.standardize_dtype(w.dtype)
        assert g_dtype == w_dtype, f"{what}: dtype {g_dtype}, expected {w_dtype}"


def _seed_states(layer):
    return [v for v in layer.non_trainable_variables if v.name == "seed_generator_state"]


def _assert_weights(layer, alpha, variables_before=None):
    """No trainable weights; one non-trainable float32 scalar weight, alpha;
    besides it only the seed state (one SeedGenerator), nothing else."""
    assert layer.built, "a mixing layer has no shape-dependent weights"
    assert layer.trainable_weights == []
    names = [w.name for w in layer.non_trainable_weights]
    assert names == ["alpha"], f"non-trainable weights {names}, expected ['alpha']"
    (alpha_weight,) = layer.non_trainable_weights
    assert tuple(alpha_weight.shape) == ()
    assert keras.backend.standardize_dtype(alpha_weight.dtype) == "float32"
    assert float(keras.ops.convert_to_numpy(alpha_weight.value)) == np.float32(alpha)
    states = _seed_states(layer)
    assert len(states) == 1, f"{len(states)} seed generators, expected 1"
    paths = [v.path for v in layer.variables]
    assert paths == [alpha_weight.path, states[0].path], (
        f"variables {paths}: expected alpha and the seed state only")
    if variables_before is not None:
        # No variable appeared (e.g. a TF-side seed generator for tf.data
        # under JAX must stay untracked, or saving would break).
        assert [id(v) for v in layer.variables] == variables_before


def _layer_output_specs(layer, x, sample_weight, num_classes):
    """The specs a call on (x, y, sample_weight) must return: inputs in the
    compute dtype (uint8 images too), labels (B, K) and weights float32."""
    dtype = layer.compute_dtype
    b = keras.tree.flatten(x)[0].shape[0]
    x_spec = keras.tree.map_structure(
        lambda t: keras.KerasTensor(t.shape, dtype=dtype if _float_or_uint8(t.dtype)
                                    else t.dtype), x)
    return (x_spec, keras.KerasTensor((b, num_classes), dtype="float32"),
            keras.KerasTensor(sample_weight.shape, dtype="float32"))


def _assert_calls_match_their_specs(layer, data, num_classes, what):
    """Eager, symbolic and compute_output_spec agree on (x, y, w) and on
    features; a symbolic call draws nothing."""
    x, _, sample_weight = data
    want = _layer_output_specs(layer, x, sample_weight, num_classes)
    state = to_numpy(_seed_states(layer)[0].value)
    symbolic = _symbolic(data)
    _assert_specs(layer(symbolic), want, f"{what}: symbolic call on data")
    _assert_specs(layer.compute_output_spec(symbolic), want,
                  f"{what}: compute_output_spec on data")
    # Features (inside a model) keep their shapes and take the compute dtype.
    _assert_specs(layer(_symbolic(x)), want[0], f"{what}: symbolic call on features")
    _assert_specs(layer.compute_output_spec(_symbolic(x)), want[0],
                  f"{what}: compute_output_spec on features")
    assert np.array_equal(to_numpy(_seed_states(layer)[0].value), state), (
        f"{what}: a symbolic call advanced the seed state")
    out = layer(data)
    _assert_specs(out, want, f"{what}: eager call on data")
    assert not np.array_equal(to_numpy(_seed_states(layer)[0].value), state), (
        f"{what}: an eager call in training did not draw")
    _assert_specs(layer(x, training=False), want[0], f"{what}: eager call on features")
    return to_numpy(out)


def _assert_config_round_trips(layer, data):
    """get_config is JSON, from_config and keras.saving's (de)serialization
    rebuild the same layer: same config, attributes, draws for the same seed."""
    import json

    cls = type(layer)
    attributes = set(dir(layer))
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    revived = [
        cls.from_config(config),
        keras.saving.deserialize_keras_object(
            json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))),
    ]
    want = to_numpy(layer(data))
    for clone in revived:
        assert type(clone) is cls and clone.get_config() == config
        assert set(dir(clone)) == attributes
        for got, ref in zip(keras.tree.flatten(to_numpy(clone(data))),
                            keras.tree.flatten(want)):
            assert same_bits(got, ref), "a revived layer draws differently"


def _assert_keras_file_round_trip(layer, data, alpha, tmp_path):
    """A .keras file of a model holding the layer loads in safe mode with the
    layer's config, its alpha weight and its seed state: the loaded layer
    draws what the original draws next."""
    x = data[0]
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(t.shape[1:], dtype=str(t.dtype)), x)
    model = keras.Model(inputs, layer(inputs))
    layer.alpha = alpha / 2  # e.g. set by a schedule: saved as a weight
    layer(data)  # the seed stream advances past its start
    path = str(tmp_path / f"{layer.name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True).get_layer(layer.name)
    assert type(loaded) is type(layer) and loaded is not layer
    assert loaded.get_config() == layer.get_config()
    assert loaded.alpha == layer.alpha == np.float32(alpha / 2)
    for got, want in zip(keras.tree.flatten(to_numpy(loaded(data))),
                         keras.tree.flatten(to_numpy(layer(data)))):
        assert same_bits(got, want), "the loaded layer does not resume the stream"


CONTRACT_CHECKS = ("weights", "specs", "serialization", "saving", "mixed_precision")


def assert_mixing_layer_contract(layer_cls, init_kwargs, input_shapes, *,
                                 tmp_path, input_dtypes=None,
                                 checks=CONTRACT_CHECKS):
    """Assert the layer contract of a mixing layer (MixUp, CutMix, ...).

    `init_kwargs` must hold `alpha`, `num_classes` and `seed`; `input_shapes`
    is one shape or a dict of shapes, batch first; `input_dtypes` (same
    structure, default float32) may hold "uint8". `checks` picks among, on the
    running backend:

    - "weights": built at construction, no trainable weight, one
      non-trainable float32 scalar `alpha`, the seed state of one
      SeedGenerator, nothing else, also after eager calls and a tf.data map;
    - "specs": on KerasTensors, the call and `compute_output_spec` give what
      an eager call gives (inputs in the compute dtype, uint8 included;
      labels (B, K) float32; weights float32), on (x, y, w) batches and on
      features, and draw nothing;
    - "serialization": get_config is JSON; from_config and keras.saving's
      (de)serialization give the same config, attributes and draws;
    - "saving": a .keras file restores config, alpha and the seed stream;
    - "mixed_precision" (mixed_float16, mixed_bfloat16, by argument and by
      the global policy): the alpha weight float32; inputs in the compute
      dtype, labels and weights float32, as the specs say; the same draw as
      in float32 (labels and weights bit for bit).
    """
    import tensorflow as tf

    unknown = set(checks) - set(CONTRACT_CHECKS)
    assert not unknown, f"unknown checks {unknown}; known: {CONTRACT_CHECKS}"
    num_classes = init_kwargs["num_classes"]
    alpha = init_kwargs["alpha"]
    if input_dtypes is None:
        input_dtypes = keras.tree.map_shape_structure(lambda _: "float32",
                                                      input_shapes)
    data = _contract_batch(input_shapes, input_dtypes, num_classes)

    if "weights" in checks:
        layer = layer_cls(**init_kwargs)
        _assert_weights(layer, alpha)
        variables = [id(v) for v in layer.variables]
        layer(data)
        layer(data[0], training=False)
        list(tf.data.Dataset.from_tensors(data).map(layer).as_numpy_iterator())
        _assert_weights(layer, alpha, variables)
    if "specs" in checks:
        _assert_calls_match_their_specs(layer_cls(**init_kwargs), data,
                                        num_classes, "float32")
    if "serialization" in checks:
        _assert_config_round_trips(layer_cls(**init_kwargs), data)
    if "saving" in checks:
        _assert_keras_file_round_trip(layer_cls(**init_kwargs), data, alpha,
                                      tmp_path)
    if "mixed_precision" in checks:
        _assert_mixed_precision(layer_cls, init_kwargs, data)


def _assert_mixed_precision(layer_cls, init_kwargs, data):
    x_ref, *rest_ref = to_numpy(layer_cls(**init_kwargs)(data))
    for policy in MIXED_POLICIES:
        by_argument = layer_cls(**init_kwargs, dtype=policy)
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy)
        try:
            by_global_policy = layer_cls(**init_kwargs)
        finally:
            keras.config.set_dtype_policy(previous)
        for layer in (by_argument, by_global_policy):
            assert layer.dtype_policy.name == policy
            _assert_weights(layer, init_kwargs["alpha"])
            x_out, *rest = _assert_calls_match_their_specs(
                layer, data, init_kwargs["num_classes"], policy)
            # The same seed draws the same lam and pairs as in float32:
            # labels and weights bit for bit, inputs up to the compute
            # dtype's rounding.
            for got, want in zip(keras.tree.flatten(rest), keras.tree.flatten(rest_ref)):
                assert same_bits(got, want), (
                    f"{policy}: labels or sample weights differ from float32's: "
                    "the draw (lam, pairs) depends on the dtype policy")
            for got, want in zip(keras.tree.flatten(x_out), keras.tree.flatten(x_ref)):
                np.testing.assert_allclose(
                    got.astype("float32"), want, rtol=1e-2,
                    atol=1e-2 * np.abs(want).max(), err_msg=policy)
