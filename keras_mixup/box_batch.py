"""A whole batch mixed by CutMix or the mixup/CutMix switch with one draw:
inputs, labels, sample weights and segmentation masks.

The data path of `CutMix` and `MixUpOrCutMix` comes through here; the maths
is `keras_mixup.boxes`' (boxes, masks, weights, the switch) and
`keras_mixup.mixing`'s (lam, pairs, the mixup formula).
"""

import keras

from keras_mixup import _internals
from keras_mixup import boxes
from keras_mixup import mixing
from keras_mixup.labels import is_integer_dtype
from keras_mixup.labels import prepare_labels
from keras_mixup.structure import batch_size_of
from keras_mixup.structure import check_same_batch
from keras_mixup.structure import prepare_inputs

_ns = _internals.ops_for

MASKS_KEY = "segmentation_masks"
_REFUSED_KEYS = ("bounding_boxes",)


def input_axes(x, data_format, *, name="inputs"):
    """Spatial axes of every input tensor (a list, in flattened order), the
    first tensor and its axes: one box for all of them, so their spatial
    sizes must agree."""
    leaves = keras.tree.flatten(x)
    axes = [boxes.spatial_axes(t.shape, data_format, name=name)
            for t in leaves]
    sizes = [tuple(t.shape[a] for a in ax) for t, ax in zip(leaves, axes)]
    if any(s != sizes[0] for s in sizes[1:]):
        raise ValueError(
            f"CutMix pastes one box into every tensor of `{name}`, so their "
            "spatial sizes must agree. Received spatial sizes "
            f"{sizes} for shapes {[tuple(t.shape) for t in leaves]}."
        )
    return axes, leaves[0], axes[0]


def mask_axes(mask_shape, image_shape, image_axes, data_format):
    """Spatial axes of a segmentation mask of its image: the image's when
    the mask has a channel axis like it, else those of the image without
    its channel axis; the spatial sizes must be the image's."""
    rank, image_rank = len(mask_shape), len(image_shape)
    if rank == image_rank:
        axes = image_axes
    elif rank == image_rank - 1 and image_rank in (4, 5):
        shift = 1 if data_format == "channels_first" else 0
        axes = tuple(a - shift for a in image_axes)
    else:
        raise ValueError(
            "Expected `segmentation_masks` of the images' rank (with a "
            "channel or class axis) or one less (sparse class indices "
            f"without a channel axis). Received masks of shape "
            f"{tuple(mask_shape)} for images of shape {tuple(image_shape)}."
        )
    got = tuple(mask_shape[a] for a in axes)
    want = tuple(image_shape[a] for a in image_axes)
    if got != want:
        raise ValueError(
            "Expected `segmentation_masks` with the images' spatial shape "
            f"{want}. Received masks of shape {tuple(mask_shape)} (spatial "
            f"shape {got}) for images of shape {tuple(image_shape)}."
        )
    return axes


def prepare_masks(masks, image_shape, image_axes, data_format, *, one_hot,
                  num_classes, backend=None):
    """(masks, axes): masks ready to be mixed.

    Integer masks (sparse class indices) stay integers when only pasted
    (CutMix alone); when mixup may blend them (`one_hot`) they are one-hot
    encoded with `num_classes`, the classes on the images' channel axis.
    Float masks (one-hot or soft) become float32.
    """
    b = _ns(backend)
    axes = mask_axes(masks.shape, image_shape, image_axes, data_format)
    if not is_integer_dtype(masks.dtype):
        return b.cast(masks, "float32"), axes
    if not one_hot:
        return masks, axes
    if num_classes is None:
        raise ValueError(
            "Sparse integer `segmentation_masks` need `num_classes` to be "
            "one-hot encoded before mixup blends them. Received masks of "
            f"shape {tuple(masks.shape)} and dtype "
            f"{keras.backend.standardize_dtype(masks.dtype)} with "
            "num_classes=None."
        )
    channel = 1 if data_format == "channels_first" else len(image_shape) - 1
    if len(masks.shape) == len(image_shape):
        if masks.shape[channel] != 1:
            raise ValueError(
                "Expected sparse integer `segmentation_masks` with one "
                f"channel (class indices). Received masks of shape "
                f"{tuple(masks.shape)}."
            )
        masks = b.numpy.moveaxis(masks, channel, -1)
    else:
        masks = b.numpy.expand_dims(masks, -1)
    # A trailing axis of 1 marks class indices for `prepare_labels`, even
    # where the width equals num_classes.
    encoded = prepare_labels(masks, num_classes=num_classes, backend=b)
    if channel != len(image_shape) - 1:
        encoded = b.numpy.moveaxis(encoded, -1, channel)
    return encoded, image_axes


def split_masks(data, *, segmentation, name="inputs"):
    """(data without masks, masks, put_back) for the family's batches.

    Dicts carry masks under "segmentation_masks" (Keras's name); with
    `segmentation=True` the labels of (x, y) and (x, y, sample_weight)
    tuples are the masks. Bounding boxes are refused: a pasted box moves
    objects out of their boxes.
    """
    if isinstance(data, dict):
        refused = [k for k in _REFUSED_KEYS if k in data]
        if refused:
            raise ValueError(
                "CutMix and mixup move objects across box edges and blend "
                f"them, so they have no meaning for {refused}. Received "
                f"`{name}` with keys {sorted(data)}; remove {refused} or use "
                "a detection-aware augmentation."
            )
        if MASKS_KEY in data:
            rest = {k: v for k, v in data.items() if k != MASKS_KEY}

            def put_back(out, masks):
                return {**out, MASKS_KEY: masks}

            if "labels" not in rest:
                # Segmentation without class labels: masks are the targets.
                rest["labels"] = None
                strip = True
            else:
                strip = False

            def put_back_dict(out, masks):
                out = put_back(out, masks)
                if strip:
                    out.pop("labels")
                return out

            return rest, data[MASKS_KEY], put_back_dict
        return data, None, lambda out, masks: out
    if segmentation and isinstance(data, (tuple, list)) and len(data) in (2, 3):
        kind = type(data)
        rest = kind((data[0], None) + tuple(data[2:]))

        def put_back_tuple(out, masks):
            return kind((out[0], masks) + tuple(out[2:]))

        return rest, data[1], put_back_tuple
    return data, None, lambda out, masks: out


def family_batch(
    x,
    y=None,
    sample_weight=None,
    masks=None,
    *,
    seed,
    mixup_alpha,
    cutmix_alpha,
    switch_prob,
    prob,
    per_sample=False,
    minmax=None,
    num_classes=None,
    label_smoothing=0.0,
    data_format="channels_last",
    dtype="float32",
    blends=True,
    groups=1,
    backend=None,
):
    """Mix a batch by the family's rules. Returns (x, y, sample_weight, masks).

    `blends`: whether the layer can mix by mixup at all (its configuration,
    not this call's alphas): then integer masks are one-hot encoded, in
    training and out of it alike; else (CutMix alone) they are only pasted.

    Inputs (any nested structure of rank-3 to rank-5 tensors with the same
    spatial sizes) are cast to `dtype`; labels become float32 targets
    (`prepare_labels`), sample weights float32, and all follow each
    example's weight (the kept fraction for CutMix, lam for mixup, exactly
    1 and bit for bit for an example left alone). Masks follow their image
    (`prepare_masks`). With Python alphas both 0, or `prob` 0, nothing is
    drawn and the batch comes back prepared but unmixed.
    """
    b = _ns(backend)
    check_same_batch({"x": x, "y": y, "sample_weight": sample_weight,
                      "segmentation_masks": masks}, backend=b)
    axes, image, image_axes = input_axes(x, data_format)
    sizes = boxes.spatial_sizes(image, image_axes, backend=b)
    x = prepare_inputs(x, dtype, backend=b)
    if y is not None:
        y = keras.tree.map_structure(
            lambda t: prepare_labels(t, num_classes=num_classes,
                                     label_smoothing=label_smoothing,
                                     backend=b),
            y,
        )
    if sample_weight is not None:
        sample_weight = keras.tree.map_structure(
            lambda t: b.cast(t, "float32"), sample_weight)
    mask_axes_ = None
    if masks is not None:
        masks, mask_axes_ = prepare_masks(
            masks, image.shape, image_axes, data_format,
            one_hot=blends, num_classes=num_classes, backend=b)
    mixup_possible = blends and not _is_zero(mixup_alpha)
    cutmix_possible = not _is_zero(cutmix_alpha) and switch_prob > 0.0
    if prob == 0.0 or not (mixup_possible or cutmix_possible):
        return x, y, sample_weight, masks
    the_draw = boxes.draw(
        seed, batch_size_of(x, backend=b), sizes,
        mixup_alpha=mixup_alpha if mixup_possible else 0.0,
        cutmix_alpha=cutmix_alpha if cutmix_possible else 0.0,
        switch_prob=switch_prob, prob=prob, per_sample=per_sample,
        minmax=minmax, groups=groups, backend=b,
    )
    perm = the_draw["perm"]

    def spatial(t, t_axes):
        return boxes.apply(t, mixing.partners(t, perm, backend=b), the_draw,
                           sizes, t_axes, mixup=mixup_possible, backend=b)

    def follow(t):
        return boxes.mix_labels(t, mixing.partners(t, perm, backend=b),
                                the_draw["weight"], backend=b)

    x = keras.tree.pack_sequence_as(x, [
        spatial(t, t_axes) for t, t_axes in zip(keras.tree.flatten(x), axes)])
    if masks is not None:
        masks = spatial(masks, mask_axes_)
    if y is not None:
        y = keras.tree.map_structure(follow, y)
    if sample_weight is not None:
        sample_weight = keras.tree.map_structure(follow, sample_weight)
    return x, y, sample_weight, masks


def _is_zero(alpha):
    return isinstance(alpha, (int, float)) and alpha == 0
