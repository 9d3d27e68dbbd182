"""The CutMix layer: on (x, y) batches, and inside a model."""

import keras

from keras_mixup import validation
from keras_mixup.base import OneAlpha
from keras_mixup.box_layer import BoxMixingLayer


@keras.saving.register_keras_serializable(package="keras_mixup")
class CutMix(OneAlpha, BoxMixingLayer):
    """CutMix (Yun et al., ICCV 2019): paste a box of a partner example.

    lam ~ Beta(alpha, alpha) (mixup's sampler); a box of sides
    H * sqrt(1 - lam) by W * sqrt(1 - lam) in whole pixels, its centre a
    uniform pixel, clipped to the image, takes the partner's pixels (pairs
    from a random permutation of the batch). Labels, label smoothing and
    sample weights mix with the exact fraction of the example's own pixels
    that was kept after clipping and rounding (timm's `correct_lam`):

        y = kept * y + (1 - kept) * y[perm]

    One box per batch, or one per example with `per_sample=True`. Static
    shapes: it compiles under XLA and `jax.jit`.

    Spatial axes follow `data_format`: (B, H, W, C) or (B, C, H, W) images,
    (B, T, H, W, C) video (one box for all frames of a clip), (B, T, F)
    spectrograms (a time x frequency box).

    It works like `keras_mixup.MixUp`: on a batch of data ((x, y),
    (x, y, sample_weight), a dict with "labels", Keras's
    {"images": ..., "labels": ...}: a drop-in for `keras.layers.CutMix`),
    eagerly or as a tf.data map on every backend; and inside a
    `keras_mixup.MixUpModel`, at the input or on a hidden feature map, where
    `fit` mixes the labels with the kept fractions and pairs of the draw.

    Segmentation masks, under the key "segmentation_masks" of a dict (or as
    the labels of (x, y) tuples with `segmentation=True`), get the
    partner's mask in the same box; integer masks stay integers, bit for
    bit. Bounding boxes are refused.

    Args:
        alpha: Beta(alpha, alpha) parameter, >= 0; 0 is the identity. Can be
            changed between steps (`layer.alpha = 0.0`, `AlphaScheduler`).
        per_sample: one box per example instead of one per batch.
        minmax: None, or (lo, hi) with 0 < lo <= hi <= 1: each side's
            fraction uniform in [lo, hi] instead of from lam, the box inside
            the image (timm's `cutmix_minmax`).
        prob: probability that a batch (an example, with `per_sample`) is
            mixed; the others keep their own inputs and labels.
        num_classes: number of classes, to one-hot encode sparse labels.
        label_smoothing: eps; class targets become y * (1 - eps) + eps / K.
        data_format: "channels_last" or "channels_first"; default
            `keras.config.image_data_format()`.
        segmentation: the labels of (x, y) and (x, y, sample_weight) tuples
            are segmentation masks (a dict says so by its key instead).
        seed: int seed for reproducible draws.
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    ds = ds.batch(128).map(keras_mixup.CutMix(1.0, num_classes=10))
    ```
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        per_sample=False,
        minmax=None,
        prob=1.0,
        num_classes=None,
        label_smoothing=0.0,
        data_format=None,
        segmentation=False,
        seed=None,
        **kwargs,
    ):
        self._initial_alpha = validation.validate_alpha(alpha)
        super().__init__(
            switch_prob=1.0, prob=prob, per_sample=per_sample, minmax=minmax,
            num_classes=num_classes, label_smoothing=label_smoothing,
            data_format=data_format, segmentation=segmentation, seed=seed,
            **kwargs,
        )
        self._add_alpha("alpha", self._initial_alpha)

    def _member_alphas(self, alphas):
        return 0.0, alphas["alpha"]

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self._initial_alpha
        return config
