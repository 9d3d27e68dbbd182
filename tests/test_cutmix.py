"""The CutMix and MixUpOrCutMix layers on batches of data: against numpy from
the same draw, probes, identities, structures, masks, tf.data, saving, errors.

In-model use (MixUpModel) is tested in test_cutmix_model.py.
"""

import re

import keras
import numpy as np
import pytest

from tests.helpers import (
    CONTRACT_CHECKS,
    MODES,
    assert_mixing_layer_contract,
    collect,
    np_one_hot,
    run,
    same_bits,
    tf_dataset,
    to_numpy,
)
from keras_mixup import CutMix
from keras_mixup import MixUpOrCutMix
from keras_mixup import mixing

K = 5


def call(layer, mode, data, **kwargs):
    return run(mode, lambda d: layer(d, **kwargs), data, stateful=(layer,))


def constant_images(b, h, w, c=2, dtype="float32"):
    """Image i is the constant i + 1: each output pixel names its source."""
    values = np.arange(1, b + 1).reshape((b, 1, 1, 1))
    return np.broadcast_to(values, (b, h, w, c)).astype(dtype)


def np_box_mask(start, end, sizes):
    mask = np.zeros(sizes, bool)
    mask[start[0]:end[0], start[1]:end[1]] = True
    return mask


def np_weight(mask):
    total = mask.size
    return np.float32(total - mask.sum()) * (np.float32(1) / np.float32(total))


def twin_draw(seed, mode, alpha, b, sizes, per_sample, prob=1.0):
    """The random numbers a CutMix layer with this seed draws, in its order,
    from a twin SeedGenerator (mixup's lam is not drawn: its alpha is 0)."""
    twin = keras.random.SeedGenerator(seed)
    shape = (b,) if per_sample else ()
    ops = mixing._ns(None)

    def draws(unused):
        lam = mixing.sample_lambda(twin, alpha, shape)
        u = mixing._uniform(shape + (2,), twin, ops)
        applied = (mixing._uniform(shape, twin, ops) < prob) if prob < 1 else (
            keras.ops.ones(shape, "bool"))
        perm = mixing.sample_permutation(twin, b)
        return lam, u, applied, perm

    return run(mode, draws, keras.ops.zeros(()), stateful=(twin,))


def np_cutmix_boxes(lam, u, applied, sizes):
    """Yun et al.'s clipped box in numpy: sides floor(size sqrt(1 - lam)),
    centres floor(u size), box [c - side // 2, c - side // 2 + side)."""
    sizes = np.asarray(sizes)
    ratio = np.sqrt(np.float32(1) - np.asarray(lam, np.float32))
    sides = np.floor(ratio[..., None] * sizes.astype(np.float32)).astype(int)
    centres = np.minimum(np.floor(u * sizes.astype(np.float32)).astype(int),
                         sizes - 1)
    starts = np.clip(centres - sides // 2, 0, sizes)
    ends = np.clip(centres - sides // 2 + sides, 0, sizes)
    ends = np.where(np.asarray(applied)[..., None], ends, starts)
    return starts, ends


# ----------------------------------------------------------------------------
# CutMix against a numpy reference from the same draw.


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("per_sample,prob", [(False, 1.0), (True, 1.0),
                                             (True, 0.5)],
                         ids=["batch", "example", "example-prob"])
def test_cutmix_matches_numpy_from_the_same_draw(per_sample, prob, mode):
    b, h, w = 8, 9, 7
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (b, h, w, 3)).astype("uint8")
    y = rng.integers(0, K, b).astype("int32")
    sw = rng.uniform(0.5, 2, b).astype("float32")
    layer = CutMix(1.0, per_sample=per_sample, prob=prob, num_classes=K,
                   seed=11)
    xo, yo, swo = call(layer, mode, (x, y, sw))
    lam, u, applied, perm = twin_draw(11, mode, 1.0, b, (h, w), per_sample,
                                      prob)
    starts, ends = np_cutmix_boxes(lam, u, applied, (h, w))
    want_x = x.astype("float32").copy()
    weights = np.empty(b, np.float32)
    for i in range(b):
        s, e = (starts[i], ends[i]) if per_sample else (starts, ends)
        mask = np_box_mask(s, e, (h, w))
        want_x[i][mask] = x[perm[i]][mask]
        weights[i] = np_weight(mask)
    assert xo.dtype == np.float32 and same_bits(xo, want_x)
    one_hot = np_one_hot(y, K)
    want_y = one_hot[perm] + weights[:, None] * (one_hot - one_hot[perm])
    want_y[weights == 1] = one_hot[weights == 1]
    np.testing.assert_array_max_ulp(yo, want_y.astype(np.float32), maxulp=1)
    want_sw = sw[perm] + weights * (sw - sw[perm])
    want_sw[weights == 1] = sw[weights == 1]
    np.testing.assert_array_max_ulp(swo, want_sw.astype(np.float32), maxulp=1)
    # Not a weak draw: some examples pasted, some partners elsewhere.
    assert (weights < 1).any() and (perm != np.arange(b)).any()
    if prob < 1:
        assert (weights == 1).any()


@pytest.mark.parametrize("per_sample", [False, True], ids=["batch", "example"])
@pytest.mark.parametrize("sizes", [(12, 12), (5, 9), (1, 6), (1, 1), (2, 17)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_probe_pasted_region_is_one_rectangle_and_weight_is_kept_fraction(
        sizes, per_sample):
    b = 16
    x = constant_images(b, *sizes)
    y = np.arange(b) % b
    layer = CutMix(1.0, per_sample=per_sample, num_classes=b, seed=5)
    for _ in range(3):
        xo, yo = to_numpy(layer((x, y)))
        for i in range(b):
            own = xo[i, ..., 0] == i + 1
            pasted = ~own
            assert (xo[i] == xo[i, ..., :1]).all()  # every channel alike
            if pasted.any():
                rows, cols = np.nonzero(pasted)
                box = np.zeros_like(pasted)
                box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
                assert (box == pasted).all(), "the pasted region is a rectangle"
                sources = np.unique(xo[i][pasted])
                assert len(sources) == 1
                partner = int(sources[0]) - 1
                assert yo[i, partner] > 0
            kept = np_weight(pasted)
            assert yo[i, i] == kept or (pasted.any() and kept == 0)
            if pasted.any():
                np.testing.assert_array_max_ulp(
                    yo[i, partner], np.float32(1) - kept, maxulp=1)
        if not per_sample:
            masks = [xo[i, ..., 0] != i + 1 for i in range(b)]
            boxes_seen = [m for m in masks if m.any()]
            # One box per batch: every pasted example shows the same box.
            assert all((m == boxes_seen[0]).all() for m in boxes_seen)


# ----------------------------------------------------------------------------
# Identities.


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("make", [
    lambda: CutMix(0.0, num_classes=K, seed=1),
    lambda: CutMix(1.0, prob=0.0, num_classes=K, seed=1),
    lambda: MixUpOrCutMix(0.0, 0.0, num_classes=K, seed=1),
    lambda: MixUpOrCutMix(prob=0.0, num_classes=K, seed=1),
    lambda: MixUpOrCutMix(0.8, 1.0, num_classes=K, seed=1, per_sample=True,
                          prob=0.0),
], ids=["cutmix-alpha0", "cutmix-prob0", "switch-alpha0", "switch-prob0",
        "switch-example-prob0"])
def test_alpha_zero_and_prob_zero_are_bit_identical(make, mode):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5, 4, 3)).astype("float32")
    y = rng.integers(0, K, 6)
    sw = rng.uniform(size=6).astype("float32")
    xo, yo, swo = call(make(), mode, (x, y, sw))
    assert same_bits(xo, x) and same_bits(swo, sw)
    assert same_bits(yo, np_one_hot(y, K))


@pytest.mark.parametrize("mode", MODES)
def test_alpha_set_to_zero_between_steps_is_identity(mode):
    x = constant_images(6, 5, 5)
    layer = CutMix(1.0, seed=2)
    y = np_one_hot(np.arange(6), 6)
    fn = (lambda d: layer(d)) if mode == "eager" else None
    out = run(mode, fn or (lambda d: layer(d)), (x, y), stateful=(layer,))
    assert not same_bits(out[0], x)
    layer.alpha = 0.0
    out = run(mode, lambda d: layer(d), (x, y), stateful=(layer,))
    assert same_bits(out[0], x) and same_bits(out[1], y)


@pytest.mark.parametrize("layer_cls", [CutMix, MixUpOrCutMix])
def test_training_false_is_identity(layer_cls):
    x = constant_images(6, 5, 5)
    y = np.arange(6)
    xo, yo = to_numpy(layer_cls(num_classes=6, seed=1)((x, y), training=False))
    assert same_bits(xo, x) and same_bits(yo, np_one_hot(y, 6))
    feats = to_numpy(layer_cls(seed=1)(x, training=False))
    assert same_bits(feats, x)


# ----------------------------------------------------------------------------
# The switch: one member per batch or per example, unmixed ones untouched.


@pytest.mark.parametrize("mode", MODES)
def test_switch_per_example_each_example_is_cutmix_mixup_or_itself(mode):
    b, h, w = 64, 6, 6
    x = constant_images(b, h, w)
    y = np.arange(b)
    layer = MixUpOrCutMix(0.8, 1.0, switch_prob=0.5, prob=0.8,
                          per_sample=True, num_classes=b, seed=9)
    xo, yo = call(layer, mode, (x, y))
    kinds = []
    for i in range(b):
        values = np.unique(xo[i])
        if same_bits(xo[i], x[i]) and yo[i, i] == 1:
            kinds.append("none")
        elif np.isin(values, np.arange(1, b + 1)).all() and len(values) == 2:
            pasted = xo[i, ..., 0] != i + 1
            assert yo[i, i] == np_weight(pasted)
            kinds.append("cutmix")
        else:
            # mixup: one blended value everywhere; own label weight lam.
            assert len(values) == 1
            partner = int(np.argmax(np.where(np.arange(b) == i, -1, yo[i])))
            lam = yo[i, i]
            np.testing.assert_allclose(
                values[0], lam * (i + 1) + (1 - lam) * (partner + 1),
                rtol=1e-5)
            kinds.append("mixup")
    assert {"none", "cutmix", "mixup"} <= set(kinds), kinds


def test_switch_per_batch_mixes_the_whole_batch_one_way():
    b = 8
    x = constant_images(b, 6, 6)
    layer = MixUpOrCutMix(switch_prob=0.5, num_classes=b, seed=4)
    seen = set()
    for _ in range(12):
        xo, _ = to_numpy(layer((x, np.arange(b))))
        integral = [(np.round(xo[i]) == xo[i]).all() for i in range(b)]
        blended = [len(np.unique(xo[i])) == 1 and not integral[i]
                   for i in range(b)]
        assert all(integral) or not any(integral[i] and len(np.unique(xo[i])) > 1
                                        for i in range(b))
        seen.add("cutmix" if all(integral) else "mixup")
        assert all(integral) or any(blended)
    assert seen == {"cutmix", "mixup"}


# ----------------------------------------------------------------------------
# Layouts: data formats, video, spectrograms, ranks.


@pytest.mark.parametrize("shape,data_format,axes", [
    ((6, 3, 7, 5), "channels_first", (2, 3)),
    ((6, 3, 7, 5, 2), "channels_last", (2, 3)),
    ((6, 2, 3, 7, 5), "channels_first", (3, 4)),
    ((6, 7, 5), "channels_last", (1, 2)),
], ids=["nchw", "video", "video-first", "spectrogram"])
def test_layouts_paste_over_their_spatial_axes(shape, data_format, axes):
    b = shape[0]
    x = np.broadcast_to(np.arange(1, b + 1).reshape((b,) + (1,) * (len(shape) - 1)),
                        shape).astype("float32")
    layer = CutMix(1.0, per_sample=True, data_format=data_format,
                   num_classes=b, seed=3)
    xo, yo = to_numpy(layer((x, np.arange(b))))
    others = tuple(a for a in range(1, len(shape)) if a not in axes)
    for i in range(b):
        pasted = xo[i] != i + 1
        # Same box across channels and frames: constant along other axes.
        spatial = np.moveaxis(pasted, [a - 1 for a in axes], [-2, -1])
        flat = spatial.reshape((-1,) + spatial.shape[-2:])
        assert (flat == flat[0]).all(), others
        assert yo[i, i] == np_weight(flat[0])
    assert (yo.max(-1) < 1).any()


def test_rank_without_spatial_axes_is_refused():
    layer = CutMix(1.0, num_classes=K)
    with pytest.raises(ValueError, match=r"rank 3.*rank 4.*rank 5.*\(4, 10\)"):
        layer((np.zeros((4, 10), "float32"), np.zeros(4, "int32")))


# ----------------------------------------------------------------------------
# Structures and dtypes.


@pytest.mark.parametrize("layer_cls", [CutMix, MixUpOrCutMix])
def test_keras_dict_form_and_soft_labels(layer_cls):
    x = constant_images(6, 5, 5)
    soft = np.random.default_rng(0).dirichlet(np.ones(K), 6).astype("float32")
    out = to_numpy(layer_cls(seed=1)({"images": x, "labels": soft}))
    assert set(out) == {"images", "labels"}
    np.testing.assert_allclose(out["labels"].sum(-1), 1.0, rtol=1e-6)


def test_drop_in_for_keras_layers_cutmix():
    """What keras.layers.CutMix accepts, {"images", "labels"} with one-hot
    labels, comes back with the same keys, shapes and dtypes."""
    x = constant_images(6, 8, 8)
    y = np_one_hot(np.arange(6) % 3, 3)
    theirs = to_numpy(keras.layers.CutMix(seed=1)({"images": x, "labels": y}))
    ours = to_numpy(CutMix(seed=1)({"images": x, "labels": y}))
    assert set(ours) == set(theirs)
    for key in ours:
        assert ours[key].shape == theirs[key].shape
        assert ours[key].dtype == theirs[key].dtype


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_inputs_in_compute_dtype_labels_float32(policy):
    x = np.random.default_rng(0).integers(0, 256, (6, 5, 5, 3)).astype("uint8")
    layer = MixUpOrCutMix(num_classes=K, dtype=policy, seed=1)
    xo, yo = to_numpy(layer((x, np.arange(6) % K)))
    assert xo.dtype == np.dtype(keras.backend.standardize_dtype(
        layer.compute_dtype)) or str(xo.dtype) == layer.compute_dtype
    assert yo.dtype == np.float32


def test_seeds_reproduce_and_advance():
    x = constant_images(8, 6, 6)
    y = np.arange(8)
    a, b = CutMix(seed=3, num_classes=8), CutMix(seed=3, num_classes=8)
    first = to_numpy(a((x, y)))
    assert all(same_bits(u, v) for u, v in zip(first, to_numpy(b((x, y)))))
    second = to_numpy(a((x, y)))
    assert not same_bits(first[0], second[0])


@pytest.mark.parametrize("layer_cls", [CutMix, MixUpOrCutMix])
@pytest.mark.parametrize("form", ["tuple", "dict"])
def test_mapped_over_tf_data(layer_cls, form):
    x = constant_images(12, 6, 6)
    y = np.arange(12) % K
    layer = layer_cls(num_classes=K, per_sample=True, seed=2)
    if form == "tuple":
        ds = tf_dataset(x, y, batch_size=6).map(layer)
        batches = collect(ds)
        xo, yo = batches[0]
    else:
        ds = tf_dataset({"images": x, "labels": y}, batch_size=6).map(layer)
        out = collect(ds)[0]
        xo, yo = out["images"], out["labels"]
    assert xo.shape == (6, 6, 6, 2) and yo.shape == (6, K)
    assert yo.dtype == np.float32
    assert not same_bits(xo, x[:6])


# ----------------------------------------------------------------------------
# Segmentation masks.


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mask_shape", ["channel", "no-channel"])
def test_cutmix_pastes_integer_masks_in_the_same_box_bit_exact(mask_shape,
                                                               mode):
    b, h, w = 8, 9, 6
    rng = np.random.default_rng(3)
    x = constant_images(b, h, w)
    masks = rng.integers(0, 7, (b, h, w, 1) if mask_shape == "channel"
                         else (b, h, w)).astype("int32")
    layer = CutMix(1.0, per_sample=True, seed=4)
    out = call(layer, mode, {"images": x, "segmentation_masks": masks})
    assert set(out) == {"images", "segmentation_masks"}
    mo = out["segmentation_masks"]
    assert mo.dtype == np.int32 and mo.shape == masks.shape
    for i in range(b):
        pasted = out["images"][i, ..., 0] != i + 1
        partner = int(out["images"][i][pasted][0, 0]) - 1 if pasted.any() else i
        m_i = mo[i].reshape(h, w)
        assert same_bits(m_i[pasted], masks[partner].reshape(h, w)[pasted])
        assert same_bits(m_i[~pasted], masks[i].reshape(h, w)[~pasted])


def test_switch_mixes_one_hot_masks_like_the_images():
    b, h, w, k = 16, 6, 6, 4
    x = constant_images(b, h, w, c=1)
    masks = (np.arange(b) % k).reshape(b, 1, 1) * np.ones((b, h, w), int)
    layer = MixUpOrCutMix(per_sample=True, num_classes=k, seed=8)
    out = to_numpy(layer({"images": x, "labels": np.arange(b) % k,
                          "segmentation_masks": masks.astype("int32")}))
    mo = out["segmentation_masks"]
    assert mo.shape == (b, h, w, k) and mo.dtype == np.float32
    np.testing.assert_allclose(mo.sum(-1), 1.0, rtol=1e-6)
    # Each pixel's mask is the one-hot of its source image's class, mixed
    # as the pixel was: the image value v = lam (i + 1) + (1 - lam) (j + 1)
    # says lam; the mask carries the same weights on the classes.
    for i in range(b):
        for pixel in [(0, 0), (h - 1, w - 1), (h // 2, w // 2)]:
            v = out["images"][i][pixel][0]
            weights = mo[i][pixel]
            expected = sum(weights[c] * 0 for c in range(k))
            del expected
            classes = np.nonzero(weights)[0]
            assert len(classes) in (1, 2)
            if np.isclose(v, round(v)):
                assert len(classes) == 1 and classes[0] == (round(v) - 1) % k


def test_tuple_masks_need_the_explicit_option():
    b, h, w = 6, 5, 5
    x = constant_images(b, h, w)
    masks = np.random.default_rng(0).integers(0, 3, (b, h, w)).astype("int32")
    xo, mo = to_numpy(CutMix(seed=1, segmentation=True)((x, masks)))
    assert mo.dtype == np.int32 and mo.shape == (b, h, w)
    # Without the option, (x, masks) are (x, integer targets), never
    # guessed from shapes: mixed as labels with the weights, not pasted.
    _, as_labels = to_numpy(CutMix(seed=1)((x, masks)))
    assert as_labels.dtype == np.float32


def test_masks_with_other_spatial_shape_are_refused():
    x = constant_images(4, 6, 6)
    with pytest.raises(ValueError, match=r"segmentation_masks.*\(6, 6\).*\(6, 5\)"):
        CutMix()({"images": x, "segmentation_masks": np.zeros((4, 6, 5), "int32")})


def test_sparse_masks_for_mixup_need_num_classes():
    x = constant_images(4, 6, 6)
    with pytest.raises(ValueError, match="segmentation_masks.*num_classes"):
        MixUpOrCutMix()({"images": x,
                         "segmentation_masks": np.zeros((4, 6, 6), "int32")})


def test_bounding_boxes_are_refused():
    x = constant_images(4, 6, 6)
    with pytest.raises(ValueError, match="bounding_boxes"):
        CutMix()({"images": x, "labels": np.zeros((4, 2)),
                  "bounding_boxes": {"boxes": np.zeros((4, 1, 4))}})


# ----------------------------------------------------------------------------
# Arguments, configs, saving.


@pytest.mark.parametrize("kwargs,match", [
    (dict(alpha=-1.0), r"`alpha`.*-1"),
    (dict(prob=1.5), r"`prob`.*\[0, 1\].*1.5"),
    (dict(minmax=(0.0, 0.5)), r"`minmax`.*0 < lo <= hi <= 1"),
    (dict(minmax=(0.6, 0.4)), r"`minmax`.*\(0.6, 0.4\)"),
    (dict(data_format="NHWC"), r"`data_format`.*'NHWC'"),
    (dict(per_sample=1), r"`per_sample`.*bool"),
    (dict(segmentation="yes"), r"`segmentation`.*bool"),
])
def test_cutmix_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CutMix(**kwargs)


@pytest.mark.parametrize("kwargs,match", [
    (dict(mixup_alpha=-0.1), r"`mixup_alpha`"),
    (dict(cutmix_alpha=float("inf")), r"`cutmix_alpha`"),
    (dict(switch_prob=-0.2), r"`switch_prob`.*\[0, 1\]"),
    (dict(prob=2), r"`prob`"),
])
def test_switch_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixUpOrCutMix(**kwargs)


@pytest.mark.parametrize("layer", [
    CutMix(0.5, per_sample=True, minmax=(0.2, 0.6), prob=0.7, num_classes=4,
           label_smoothing=0.1, data_format="channels_first", seed=3),
    MixUpOrCutMix(0.4, 2.0, switch_prob=0.3, prob=0.9, num_classes=4,
                  segmentation=True, seed=1),
], ids=["cutmix", "switch"])
def test_config_round_trip(layer):
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


@pytest.mark.parametrize("check", CONTRACT_CHECKS)
def test_cutmix_layer_contract(check, tmp_path):
    assert_mixing_layer_contract(
        CutMix, dict(alpha=1.0, num_classes=3, seed=7),
        {"image": (6, 5, 4, 3)}, input_dtypes={"image": "uint8"},
        tmp_path=tmp_path, checks=(check,))


def test_switch_saved_in_a_model_resumes(tmp_path):
    inputs = keras.Input((6, 6, 2))
    layer = MixUpOrCutMix(num_classes=3, seed=5)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(layer(inputs)))
    layer.mixup_alpha = 0.3
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    restored = [la for la in loaded.layers if isinstance(la, MixUpOrCutMix)][0]
    assert restored.get_config() == layer.get_config()
    assert restored.mixup_alpha == pytest.approx(0.3)
    x = constant_images(6, 6, 6)
    y = np.arange(6) % 3
    assert all(same_bits(u, v) for u, v in zip(to_numpy(layer((x, y))),
                                               to_numpy(restored((x, y)))))


def test_unwrapped_layer_in_training_on_features_raises():
    with pytest.raises(RuntimeError, match=re.escape("MixUpModel")):
        CutMix()(constant_images(4, 5, 5), training=True)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_sparse_masks_one_hot_on_the_channel_axis_even_when_width_is_k(
        data_format):
    """Masks of width W == num_classes are still class indices (never
    guessed from shapes); the classes land on the images' channel axis."""
    b, h, w, k = 4, 3, 5, 5
    masks = np.random.default_rng(0).integers(0, k, (b, h, w)).astype("int32")
    shape = (b, h, w, 2) if data_format == "channels_last" else (b, 2, h, w)
    layer = MixUpOrCutMix(0.8, 0.0, num_classes=k, data_format=data_format,
                          seed=1)
    out = to_numpy(layer({"images": np.zeros(shape, "float32"),
                          "segmentation_masks": masks}, training=False))
    mo = out["segmentation_masks"]
    want = np.eye(k, dtype="float32")[masks]
    if data_format == "channels_first":
        want = np.moveaxis(want, -1, 1)
    assert same_bits(mo, want)
