"""The mathematics of CutMix and the mixup/CutMix switch, as small pure functions.

CutMix (Yun et al., ICCV 2019) pastes a box of a partner example into each
example. Every entry point (the `CutMix` and `MixUpOrCutMix` layers, in
data pipelines and inside a `MixUpModel`) calls these functions; lam comes
from mixup's sampler (`mixing.sample_lambda`).

A box is drawn per batch (shape `()`) or per example (shape `(B,)`) and is
held as integer corners: `starts` and `ends` of shape `shape + (2,)`, rows
then columns (time then frequency for spectrograms), half-open `[start,
end)`. Boxes become boolean masks through coordinate grids, so every shape
is static and the whole thing compiles under XLA and `jax.jit`:

- size from lam: each side is `floor(size * sqrt(1 - lam))` pixels (the
  reference implementation's `int()`), the centre a uniform pixel of the
  image, the box `[centre - side // 2, centre - side // 2 + side)` clipped
  to the image;
- size from `minmax=(lo, hi)` (timm's `cutmix_minmax`): each side's fraction
  is uniform in `[lo, hi]`, the side `floor(size * fraction)` pixels, and the
  box lies inside the image, its start uniform over the valid positions.

The label weight of an example is the exact fraction of its own pixels that
was kept after clipping and rounding (timm's `correct_lam`), never the drawn
lam. Each function takes an optional `backend` namespace, as `mixing` does,
so the same code runs on TensorFlow ops inside `tf.data` under any backend.
"""

import keras

from keras_mixup import _internals
from keras_mixup import mixing
from keras_mixup.validation import DATA_FORMATS

_ns = _internals.ops_for


# ----------------------------------------------------------------------------
# Where the box goes: the two spatial axes of a tensor.


def spatial_axes(shape, data_format, *, name="inputs"):
    """The two axes a box spans, for a tensor of `shape` (batch axis first).

    - rank 3, (B, T, F): spectrograms (or single-channel images): (1, 2),
      a time x frequency box, whatever the data format;
    - rank 4, images: (B, H, W, C) -> (1, 2); (B, C, H, W) -> (2, 3);
    - rank 5, video: (B, T, H, W, C) -> (2, 3); (B, C, T, H, W) -> (3, 4):
      one box for all frames of a clip.

    Other ranks have no spatial axes and are refused.
    """
    rank = len(shape)
    if data_format not in DATA_FORMATS:
        raise ValueError(
            f"Argument `data_format` must be one of {DATA_FORMATS}. "
            f"Received: data_format={data_format!r}"
        )
    if rank == 3:
        return (1, 2)
    if rank in (4, 5):
        first = rank - 3 if data_format == "channels_last" else rank - 2
        return (first, first + 1)
    raise ValueError(
        f"CutMix pastes a box over two spatial axes, so `{name}` must have "
        "rank 3 (batch, time, frequency), rank 4 (batch, height, width, "
        "channels) or rank 5 (batch, frames, height, width, channels), with "
        "the channels axis second for data_format='channels_first'. "
        f"Received `{name}` of shape {tuple(shape)} (rank {rank})."
    )


def spatial_sizes(t, axes, *, backend=None):
    """(height, width) of `t` along `axes`: Python ints where static."""
    b = _ns(backend)
    dynamic = b.shape(t)
    return tuple(
        t.shape[a] if t.shape[a] is not None else dynamic[a] for a in axes
    )


# ----------------------------------------------------------------------------
# Drawing boxes.


def sides_from_lambda(lam, sizes, *, backend=None):
    """floor(size * sqrt(1 - lam)) per axis: int32 of shape lam.shape + (2,).

    lam == 1 gives an empty box (side 0).
    """
    b = _ns(backend)
    np_ = b.numpy
    lam = b.cast(lam, "float32")
    ratio = np_.sqrt(np_.maximum(1.0 - lam, 0.0))
    return b.cast(
        np_.floor(np_.expand_dims(ratio, -1) * _as_float(sizes, b)), "int32"
    )


def sample_boxes(seed, lam, sizes, *, minmax=None, backend=None):
    """Random boxes: (starts, ends), int32 of shape lam.shape + (2,).

    Without `minmax`, sides come from lam (`sides_from_lambda`), centres are
    uniform pixels and the box is clipped to the image; with `minmax=(lo,
    hi)` each side's fraction is uniform in [lo, hi] and the box lies inside
    the image. `lam` (shape () or (B,)) only sets the shape of the draw when
    `minmax` is given.

    Args:
        seed: a `keras.random.SeedGenerator`; each call advances it.
        lam: float tensor of shape () or (B,).
        sizes: (height, width), Python ints or scalar tensors.
        minmax: None, or (lo, hi) with 0 < lo <= hi <= 1.
    """
    b = _ns(backend)
    np_ = b.numpy
    # Dynamic where unknown (a tf.data batch of unknown size).
    shape = tuple(b.shape(lam)) + (2,)
    size_f = _as_float(sizes, b)
    size_i = b.cast(size_f, "int32")
    if minmax is None:
        sides = sides_from_lambda(lam, sizes, backend=b)
        centres = _uniform_index(_uniform(shape, seed, b), size_i, b)
        starts = centres - sides // 2
        ends = starts + sides
        return np_.clip(starts, 0, size_i), np_.clip(ends, 0, size_i)
    lo, hi = minmax
    fraction = lo + (hi - lo) * _uniform(shape, seed, b)
    sides = np_.minimum(b.cast(np_.floor(fraction * size_f), "int32"), size_i)
    starts = _uniform_index(_uniform(shape, seed, b),
                            size_i - sides + 1, b)
    return starts, starts + sides


def _uniform(shape, seed, b):
    # mixup's uniform variates: the same stream eagerly and under XLA.
    return mixing._uniform(shape, seed, b)


def _uniform_index(u, n, b):
    """floor(u * n) for u uniform in [0, 1): a uniform integer in [0, n)."""
    index = b.cast(b.numpy.floor(u * b.cast(n, "float32")), "int32")
    # u * n may round up to n in float32 when u is just below 1.
    return b.numpy.minimum(index, n - 1)


def _as_float(sizes, b):
    return b.numpy.stack([b.cast(s, "float32") for s in sizes])


def empty_where(keep_box, starts, ends, *, backend=None):
    """The boxes where `keep_box` (bool, the boxes' batch shape) holds, else
    empty boxes (ends == starts): how a batch or an example goes unmixed."""
    b = _ns(backend)
    keep = b.numpy.expand_dims(keep_box, -1)
    return starts, b.numpy.where(keep, ends, starts)


# ----------------------------------------------------------------------------
# From boxes to masks and weights.


def kept_fraction(starts, ends, sizes, *, backend=None):
    """The exact fraction of an example's own pixels outside its box,
    (H * W - area) * (1 / (H * W)) in float32 (integers below 2**24 are
    exact; the product is within an ulp of the quotient). Shape: the boxes'
    batch shape.
    """
    b = _ns(backend)
    sides = ends - starts
    area = sides[..., 0] * sides[..., 1]
    total = b.cast(sizes[0], "int32") * b.cast(sizes[1], "int32")
    # A product with the reciprocal, as XLA and JAX compute a division by a
    # constant: the same bits eagerly and compiled, on every backend.
    reciprocal = 1.0 / b.cast(total, "float32")
    return b.cast(total - area, "float32") * reciprocal


def box_mask(starts, ends, sizes, *, backend=None):
    """Booleans of shape batch_shape + (H, W): True inside the box."""
    b = _ns(backend)
    np_ = b.numpy

    def inside(axis):
        grid = np_.arange(sizes[axis], dtype="int32")
        start = np_.expand_dims(starts[..., axis], -1)
        end = np_.expand_dims(ends[..., axis], -1)
        return np_.logical_and(grid >= start, grid < end)

    rows, cols = inside(0), inside(1)
    return np_.logical_and(np_.expand_dims(rows, -1), np_.expand_dims(cols, -2))


def mask_for(mask, rank, axes, *, backend=None):
    """A (H, W) or (B, H, W) box mask reshaped to broadcast against a tensor
    of `rank` whose spatial axes are `axes` (consecutive)."""
    b = _ns(backend)
    per_example = len(mask.shape) == 3
    shape = [1] * rank
    if per_example:
        shape[0] = -1
    shape[axes[0]] = mask.shape[-2] if mask.shape[-2] is not None else -1
    shape[axes[1]] = mask.shape[-1] if mask.shape[-1] is not None else -1
    if shape.count(-1) > 1:
        dynamic = b.shape(mask)
        shape[axes[0]], shape[axes[1]] = dynamic[-2], dynamic[-1]
    return b.numpy.reshape(mask, shape)


def paste(t, partner, mask, axes, *, backend=None):
    """`partner` inside the box, `t` elsewhere: a select, so every pixel is
    one of the two, bit for bit (integer masks stay integers)."""
    b = _ns(backend)
    return b.numpy.where(mask_for(mask, len(t.shape), axes, backend=b),
                         partner, t)


def paste_or_mix(t, partner, mask, lam, mixup_on, axes, *, backend=None):
    """The switch, for one tensor: `partner` inside the box; elsewhere the
    mixup `partner + lam * (t - partner)` where `mixup_on`, else `t` itself.

    `mixup_on` (bool) and `lam` are scalars or of shape (B,); an example
    that CutMix mixes has mixup_on False, one that mixup mixes an empty box,
    one left alone both: it comes out bit for bit.
    """
    b = _ns(backend)
    rank = len(t.shape)
    mixed = mixing.mix_pair(t, partner, lam, backend=b)
    on = mixing.per_example(mixup_on, rank, backend=b)
    return paste(b.numpy.where(on, mixed, t), partner, mask, axes, backend=b)


# ----------------------------------------------------------------------------
# One draw of the family for a batch: CutMix, mixup, or the switch.


def draw(seed, batch_size, sizes, *, mixup_alpha=0.0, cutmix_alpha=1.0,
         switch_prob=0.5, prob=1.0, per_sample=False, minmax=None, groups=1,
         backend=None):
    """One draw for a batch: a dict of tensors.

    With probability `prob` a batch (or, `per_sample=True`, an example) is
    mixed: by CutMix with probability `switch_prob`, else by mixup (timm's
    `Mixup`, modes 'batch' and 'elem'). A member whose alpha is 0 is off:
    only the other one mixes, and both off is the identity. Alphas may be
    Python numbers or scalar tensors (schedules); the probabilities are
    Python numbers.

    Returns a dict with
        perm: int32 partner indices (`mixing.sample_permutation`);
        starts, ends: the CutMix boxes, empty where CutMix does not mix;
        lam: mixup's lam (float32, shape () or (B,));
        mixup_on, cutmix_on: bool, shape () or (B,): where each mixes;
        weight: the label weight of each example's own label: the kept
            fraction where CutMix mixed, lam where mixup did, else 1.
    """
    b = _ns(backend)
    np_ = b.numpy
    shape = (batch_size,) if per_sample else ()
    mixup_lam = mixing.sample_lambda(seed, mixup_alpha, shape, backend=b)
    cutmix_lam = mixing.sample_lambda(seed, cutmix_alpha, shape, backend=b)
    starts, ends = sample_boxes(seed, cutmix_lam, sizes, minmax=minmax,
                                backend=b)
    mixup_able = _positive(mixup_alpha, shape, b)
    cutmix_able = _positive(cutmix_alpha, shape, b)
    if 0.0 < switch_prob < 1.0:
        switch = _uniform(shape, seed, b) < switch_prob
    else:
        switch = np_.full(shape, switch_prob == 1.0, dtype="bool")
    # Where only one member can mix, it mixes whatever the switch says.
    use_cutmix = np_.where(np_.logical_and(mixup_able, cutmix_able), switch,
                           cutmix_able)
    applied = np_.logical_or(mixup_able, cutmix_able)
    if prob < 1.0:
        applied = np_.logical_and(applied, _uniform(shape, seed, b) < prob)
    cutmix_on = np_.logical_and(applied, use_cutmix)
    mixup_on = np_.logical_and(applied, np_.logical_not(use_cutmix))
    starts, ends = empty_where(cutmix_on, starts, ends, backend=b)
    kept = kept_fraction(starts, ends, sizes, backend=b)
    weight = np_.where(mixup_on, mixup_lam, kept)
    perm = mixing.sample_permutation(seed, batch_size, groups=groups,
                                     backend=b)
    return {"perm": perm, "starts": starts, "ends": ends, "lam": mixup_lam,
            "mixup_on": mixup_on, "cutmix_on": cutmix_on, "weight": weight}


def _positive(alpha, shape, b):
    """alpha > 0 as a bool tensor of `shape` (a Python alpha: a constant)."""
    if isinstance(alpha, (int, float)):
        return b.numpy.full(shape, alpha > 0, dtype="bool")
    return b.numpy.broadcast_to(b.cast(alpha, "float32") > 0.0, shape)


def apply(t, partner, the_draw, sizes, axes, *, mixup=True, backend=None):
    """One tensor mixed by a draw: the partner's box pasted where CutMix
    mixed, the mixup where mixup did, the tensor itself elsewhere.
    `mixup=False` (the draw has mixup off everywhere: CutMix alone) only
    pastes, so integer tensors are never blended."""
    b = _ns(backend)
    mask = box_mask(the_draw["starts"], the_draw["ends"], sizes, backend=b)
    if not mixup:
        return paste(t, partner, mask, axes, backend=b)
    return paste_or_mix(t, partner, mask, the_draw["lam"],
                        the_draw["mixup_on"], axes, backend=b)


def mix_labels(y, partner, weight, *, backend=None):
    """Labels (or sample weights) with the draw's per-example weight: the
    mixup formula where weight < 1, the example's own label bit for bit
    where its weight is 1 (an unmixed example, or an empty box)."""
    b = _ns(backend)
    mixed = mixing.mix_pair(y, partner, weight, backend=b)
    return mixing.unmixed_where_one(y, mixed, weight, backend=b)
