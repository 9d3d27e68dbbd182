"""keras_mixup.boxes (CutMix's boxes, masks and weights) against numpy.

Runs on the backend named by KERAS_BACKEND (CI runs it once per backend).
"""

import math

import keras
import numpy as np
import pytest
from scipy import stats

from tests.helpers import MODES, P_MIN, run, same_bits
from keras_mixup import boxes
from keras_mixup import mixing
from keras_mixup import validation

# ----------------------------------------------------------------------------
# numpy references: the clipped-box procedure written out in numpy.


def np_sides(lam, sizes):
    lam = np.asarray(lam, np.float32)
    ratio = np.sqrt(np.maximum(np.float32(1) - lam, np.float32(0)))
    return np.floor(ratio[..., None] * np.asarray(sizes, np.float32)).astype(
        np.int32)


def np_boxes(lam, u, sizes):
    """Boxes from lam and the uniform draw `u` (shape lam.shape + (2,))."""
    sizes_i = np.asarray(sizes, np.int32)
    sides = np_sides(lam, sizes)
    centres = np.minimum(
        np.floor(np.asarray(u, np.float32) * sizes_i.astype(np.float32)
                 ).astype(np.int32), sizes_i - 1)
    starts = centres - sides // 2
    return np.clip(starts, 0, sizes_i), np.clip(starts + sides, 0, sizes_i)


def np_mask(starts, ends, sizes):
    """The box mask by slicing, one example at a time."""
    starts, ends = np.asarray(starts), np.asarray(ends)
    flat_s, flat_e = starts.reshape(-1, 2), ends.reshape(-1, 2)
    out = np.zeros((len(flat_s),) + tuple(sizes), bool)
    for i, (s, e) in enumerate(zip(flat_s, flat_e)):
        out[i, s[0]:e[0], s[1]:e[1]] = True
    return out.reshape(starts.shape[:-1] + tuple(sizes))


def np_kept(starts, ends, sizes):
    mask = np_mask(starts, ends, sizes)
    total = sizes[0] * sizes[1]
    outside = total - mask.reshape(mask.shape[:-2] + (-1,)).sum(-1)
    return (np.float32(outside) * (np.float32(1) / np.float32(total))
            ).astype(np.float32)


def simulate_kept(rng, alpha, sizes, n):
    """Kept fractions of the clipped-box procedure, in numpy from scratch."""
    lam = rng.beta(alpha, alpha, n).astype(np.float32)
    h, w = sizes
    side_h = np.floor(h * np.sqrt(1 - lam)).astype(int)
    side_w = np.floor(w * np.sqrt(1 - lam)).astype(int)
    cy, cx = rng.integers(0, h, n), rng.integers(0, w, n)
    top, left = cy - side_h // 2, cx - side_w // 2
    bottom, right = top + side_h, left + side_w
    area = (np.clip(bottom, 0, h) - np.clip(top, 0, h)) * (
        np.clip(right, 0, w) - np.clip(left, 0, w))
    # The same float32 rounding as the library's, so tied values match.
    return np.float32(h * w - area) * (np.float32(1) / np.float32(h * w))


def t(x):
    return keras.ops.convert_to_tensor(x)


# ----------------------------------------------------------------------------
# Spatial axes.


@pytest.mark.parametrize(
    "shape,data_format,axes",
    [
        ((2, 8, 6, 3), "channels_last", (1, 2)),
        ((2, 3, 8, 6), "channels_first", (2, 3)),
        ((2, 4, 8, 6, 3), "channels_last", (2, 3)),
        ((2, 3, 4, 8, 6), "channels_first", (3, 4)),
        ((2, 50, 40), "channels_last", (1, 2)),
        ((2, 50, 40), "channels_first", (1, 2)),
    ],
    ids=["nhwc", "nchw", "video-last", "video-first", "spectrogram",
         "spectrogram-first"],
)
def test_spatial_axes(shape, data_format, axes):
    assert boxes.spatial_axes(shape, data_format) == axes


@pytest.mark.parametrize("shape", [(4,), (4, 10), (2, 3, 4, 5, 6, 7)])
def test_spatial_axes_refuse_ranks_without_two_spatial_axes(shape):
    with pytest.raises(ValueError, match=r"`images`.*rank 3.*rank 4.*rank 5.*"
                       + re_shape(shape)):
        boxes.spatial_axes(shape, "channels_last", name="images")


def re_shape(shape):
    return re.escape(str(tuple(shape)))


import re  # noqa: E402


def test_spatial_axes_refuse_unknown_data_format():
    with pytest.raises(ValueError, match="data_format.*'nhwc'"):
        boxes.spatial_axes((2, 4, 4, 3), "nhwc")


# ----------------------------------------------------------------------------
# Boxes, masks and weights from the same draw as a numpy reference.


@pytest.mark.parametrize("sizes", [(8, 8), (7, 5), (1, 9), (1, 1), (13, 2)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_sides_match_numpy(sizes):
    lam = np.linspace(0, 1, 101, dtype=np.float32)
    got = keras.ops.convert_to_numpy(boxes.sides_from_lambda(t(lam), sizes))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np_sides(lam, sizes))
    # lam == 1: an empty box; lam == 0: the whole image.
    np.testing.assert_array_equal(got[-1], [0, 0])
    np.testing.assert_array_equal(got[0], sizes)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("per_sample", [False, True], ids=["batch", "example"])
@pytest.mark.parametrize("sizes", [(8, 8), (7, 5), (1, 6), (32, 3)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_boxes_masks_and_kept_fractions_match_numpy(sizes, per_sample, mode):
    batch = 64
    lam_shape = (batch,) if per_sample else ()
    seed = keras.random.SeedGenerator(7)
    # The same uniforms the box sampler draws (its first call on this seed),
    # in the same mode (XLA's stateless streams differ from eager TF's).
    twin = keras.random.SeedGenerator(7)
    u = run(mode, lambda unused: mixing._uniform(lam_shape + (2,), twin,
                                            mixing._ns(None)),
            t(0.0), stateful=(twin,))
    lam = np.random.default_rng(0).random(lam_shape).astype(np.float32)

    def fn(lam):
        starts, ends = boxes.sample_boxes(seed, lam, sizes)
        return (starts, ends, boxes.box_mask(starts, ends, sizes),
                boxes.kept_fraction(starts, ends, sizes))

    starts, ends, mask, kept = run(mode, fn, t(lam), stateful=(seed,))
    want_s, want_e = np_boxes(lam, u, sizes)
    np.testing.assert_array_equal(starts, want_s)
    np.testing.assert_array_equal(ends, want_e)
    np.testing.assert_array_equal(mask, np_mask(want_s, want_e, sizes))
    assert kept.dtype == np.float32
    assert same_bits(kept, np_kept(want_s, want_e, sizes))
    # A weak test would draw only empty or only whole-image boxes.
    if per_sample and sizes[0] > 1:
        assert 0 < np.mean(kept < 1) and np.mean(kept > 0) > 0


def test_minmax_boxes_lie_inside_and_match_numpy():
    sizes, batch, (lo, hi) = (10, 7), 256, (0.2, 0.8)
    seed = keras.random.SeedGenerator(3)
    twin = keras.random.SeedGenerator(3)
    u_frac = keras.ops.convert_to_numpy(keras.random.uniform((batch, 2), seed=twin))
    u_pos = keras.ops.convert_to_numpy(keras.random.uniform((batch, 2), seed=twin))
    starts, ends = (keras.ops.convert_to_numpy(v) for v in boxes.sample_boxes(
        seed, t(np.ones(batch, np.float32)), sizes, minmax=(lo, hi)))
    size = np.asarray(sizes, np.float32)
    sides = np.floor((np.float32(lo) + np.float32(hi - lo) * u_frac) * size
                     ).astype(np.int32)
    want_starts = np.minimum(
        np.floor(u_pos * (size - sides + 1)).astype(np.int32),
        np.asarray(sizes) - sides)
    np.testing.assert_array_equal(starts, want_starts)
    np.testing.assert_array_equal(ends - starts, sides)
    assert (starts >= 0).all() and (ends <= np.asarray(sizes)).all()
    frac = (ends - starts) / np.asarray(sizes)
    # floor loses less than one pixel of the drawn fraction.
    assert (frac <= hi).all() and (frac > lo - 1 / np.asarray(sizes)).all()


def test_empty_where_keeps_or_empties_boxes():
    starts = t(np.array([[1, 2], [0, 0]], np.int32))
    ends = t(np.array([[4, 5], [3, 3]], np.int32))
    s, e = boxes.empty_where(t(np.array([True, False])), starts, ends)
    kept = keras.ops.convert_to_numpy(boxes.kept_fraction(s, e, (5, 5)))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(e),
                                  [[4, 5], [0, 0]])
    assert same_bits(kept, np.array([16 / 25, 1.0], np.float32))


# ----------------------------------------------------------------------------
# Pasting and the switch, on every layout.


@pytest.mark.parametrize(
    "shape,data_format",
    [((6, 5, 4, 3), "channels_last"), ((6, 3, 5, 4), "channels_first"),
     ((6, 2, 5, 4, 3), "channels_last"), ((6, 3, 2, 5, 4), "channels_first"),
     ((6, 5, 4), "channels_last")],
    ids=["nhwc", "nchw", "video-last", "video-first", "spectrogram"],
)
@pytest.mark.parametrize("per_sample", [False, True], ids=["batch", "example"])
def test_paste_matches_numpy(shape, data_format, per_sample):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, shape).astype(np.uint8)
    perm = rng.permutation(shape[0])
    axes = boxes.spatial_axes(shape, data_format)
    sizes = tuple(shape[a] for a in axes)
    batch_shape = (shape[0],) if per_sample else ()
    starts = rng.integers(0, 3, batch_shape + (2,)).astype(np.int32)
    ends = (starts + rng.integers(0, 3, batch_shape + (2,))).astype(np.int32)
    mask = np_mask(starts, ends, sizes)
    got = keras.ops.convert_to_numpy(boxes.paste(
        t(x), t(x[perm]), boxes.box_mask(t(starts), t(ends), sizes), axes))
    assert got.dtype == np.uint8
    want = x.copy()
    for i in range(shape[0]):
        m = mask[i] if per_sample else mask
        # Move the spatial axes last, select, move them back.
        xi = np.moveaxis(want[i], (axes[0] - 1, axes[1] - 1), (-2, -1))
        pi = np.moveaxis(x[perm][i], (axes[0] - 1, axes[1] - 1), (-2, -1))
        xi[..., m] = pi[..., m]
    assert same_bits(got, want)


def test_paste_or_mix_per_example():
    """Example 0 pasted, 1 mixed (empty box), 2 left alone, bit for bit."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, 4, 2)).astype(np.float32)
    perm = np.array([1, 2, 0])
    starts = np.array([[1, 1], [0, 0], [0, 0]], np.int32)
    ends = np.array([[3, 4], [0, 0], [0, 0]], np.int32)
    lam = np.array([0.3, 0.6, 0.9], np.float32)
    on = np.array([False, True, False])
    got = keras.ops.convert_to_numpy(boxes.paste_or_mix(
        t(x), t(x[perm]), boxes.box_mask(t(starts), t(ends), (4, 4)), t(lam),
        t(on), (1, 2)))
    want0 = x[0].copy()
    want0[1:3, 1:4] = x[perm][0][1:3, 1:4]
    assert same_bits(got[0], want0)
    np.testing.assert_allclose(got[1], 0.6 * x[1] + 0.4 * x[2], rtol=1e-6,
                               atol=1e-6)
    assert same_bits(got[2], x[2])


# ----------------------------------------------------------------------------
# Distributions: kept fractions, centres.


@pytest.mark.parametrize("alpha,sizes", [(1.0, (32, 32)), (0.4, (7, 12))])
def test_kept_fractions_match_a_numpy_simulation(alpha, sizes):
    """Two-sample KS: lam from our sampler, our boxes; against numpy's Beta
    and integer centres through the clipped-box procedure written anew."""
    n = 20000
    seed = keras.random.SeedGenerator(11)
    lam = mixing.sample_lambda(seed, alpha, (n,))
    starts, ends = boxes.sample_boxes(seed, lam, sizes)
    kept = keras.ops.convert_to_numpy(boxes.kept_fraction(starts, ends, sizes))
    reference = simulate_kept(np.random.default_rng(5), alpha, sizes, n)
    p = stats.ks_2samp(kept, reference).pvalue
    assert p > P_MIN, p
    # The kept fraction is not the drawn lam: clipping keeps more pixels.
    lam = keras.ops.convert_to_numpy(lam)
    assert np.mean(kept) > np.mean(lam) + 0.02


@pytest.mark.parametrize("sizes", [(9, 4), (1, 5)])
def test_centres_are_uniform_pixels(sizes):
    """An empty box (lam = 1) sits at its centre: chi-square per axis."""
    n = 20000
    seed = keras.random.SeedGenerator(4)
    starts, _ = boxes.sample_boxes(seed, t(np.ones(n, np.float32)), sizes)
    starts = keras.ops.convert_to_numpy(starts)
    for axis, size in enumerate(sizes):
        counts = np.bincount(starts[:, axis], minlength=size)
        assert len(counts) == size
        if size > 1:
            p = stats.chisquare(counts).pvalue
            assert p > P_MIN, (axis, counts)
    # Rows and columns are drawn independently.
    if sizes[0] > 1:
        table = np.histogram2d(starts[:, 0], starts[:, 1],
                               bins=(sizes[0], sizes[1]))[0]
        assert stats.chi2_contingency(table).pvalue > P_MIN


# ----------------------------------------------------------------------------
# Validation.


@pytest.mark.parametrize("bad", [(0.0, 0.5), (0.6, 0.5), (0.2, 1.1), 0.5,
                                 (0.1,), ("a", 1), (True, 1)])
def test_minmax_is_validated(bad):
    with pytest.raises(ValueError, match=r"`minmax`.*0 < lo <= hi <= 1.*"
                       + re.escape(f"minmax={bad!r}")):
        validation.validate_minmax(bad)


def test_validators_accept_and_refuse():
    assert validation.validate_minmax([0.1, 1]) == (0.1, 1.0)
    assert validation.validate_probability(1, "prob") == 1.0
    for bad in (-0.1, 1.5, math.nan, "1", None, True):
        with pytest.raises(ValueError, match=r"`switch_prob`.*\[0, 1\]"):
            validation.validate_probability(bad, "switch_prob")
    assert validation.validate_data_format(None) == keras.config.image_data_format()
    with pytest.raises(ValueError, match="data_format"):
        validation.validate_data_format("NHWC")


# ----------------------------------------------------------------------------
# The switch: which member mixes, and how often.


def binomial_ok(count, n, p):
    """count ~ Binomial(n, p) within 4.5 standard deviations."""
    return abs(count - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)) + 1e-9


@pytest.mark.parametrize("switch_prob,prob", [(0.5, 1.0), (0.3, 0.6),
                                              (1.0, 0.25), (0.0, 0.8)])
def test_switch_and_prob_frequencies_per_example(switch_prob, prob):
    n = 8000
    seed = keras.random.SeedGenerator(21)
    d = boxes.draw(seed, n, (16, 16), mixup_alpha=0.8, cutmix_alpha=1.0,
                   switch_prob=switch_prob, prob=prob, per_sample=True)
    d = {k: keras.ops.convert_to_numpy(v) for k, v in d.items()}
    cut, mix = d["cutmix_on"], d["mixup_on"]
    assert not (cut & mix).any()
    assert binomial_ok((cut | mix).sum(), n, prob)
    applied = (cut | mix).sum()
    assert binomial_ok(cut.sum(), applied, switch_prob)
    # Weights: the kept fraction where CutMix mixed, lam where mixup did,
    # exactly 1 (with an empty box) where nothing did.
    kept = keras.ops.convert_to_numpy(
        boxes.kept_fraction(d["starts"], d["ends"], (16, 16)))
    assert same_bits(d["weight"][cut], kept[cut])
    assert same_bits(d["weight"][mix], d["lam"][mix])
    idle = ~(cut | mix)
    assert (d["weight"][idle] == 1).all() and (kept[~cut] == 1).all()


def test_switch_per_batch_frequencies():
    n, switch_prob, prob = 600, 0.5, 0.7
    seed = keras.random.SeedGenerator(5)
    cut = mix = 0
    for _ in range(n):
        d = boxes.draw(seed, 4, (6, 6), mixup_alpha=0.8, cutmix_alpha=1.0,
                       switch_prob=switch_prob, prob=prob)
        assert d["weight"].shape == () and d["starts"].shape == (2,)
        cut += bool(keras.ops.convert_to_numpy(d["cutmix_on"]))
        mix += bool(keras.ops.convert_to_numpy(d["mixup_on"]))
    assert binomial_ok(cut + mix, n, prob)
    assert binomial_ok(cut, cut + mix, switch_prob)


@pytest.mark.parametrize(
    "mixup_alpha,cutmix_alpha,member",
    [(0.0, 1.0, "cutmix"), (0.8, 0.0, "mixup"), (0.0, 0.0, None)],
)
@pytest.mark.parametrize("tensor_alphas", [False, True],
                         ids=["python", "tensor"])
def test_a_member_with_alpha_zero_is_off(mixup_alpha, cutmix_alpha, member,
                                         tensor_alphas):
    n = 500
    seed = keras.random.SeedGenerator(2)
    alphas = (t(np.float32(mixup_alpha)), t(np.float32(cutmix_alpha))) if (
        tensor_alphas) else (mixup_alpha, cutmix_alpha)
    d = boxes.draw(seed, n, (8, 8), mixup_alpha=alphas[0],
                   cutmix_alpha=alphas[1], switch_prob=0.5, per_sample=True)
    cut = keras.ops.convert_to_numpy(d["cutmix_on"])
    mix = keras.ops.convert_to_numpy(d["mixup_on"])
    assert cut.all() == (member == "cutmix") and not (cut.any() and member != "cutmix")
    assert mix.all() == (member == "mixup") and not (mix.any() and member != "mixup")
    if member is None:
        assert (keras.ops.convert_to_numpy(d["weight"]) == 1).all()
