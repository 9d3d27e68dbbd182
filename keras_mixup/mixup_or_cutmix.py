"""The mixup/CutMix switch: on (x, y) batches, and inside a model."""

import keras

from keras_mixup import validation
from keras_mixup.box_layer import BoxMixingLayer


@keras.saving.register_keras_serializable(package="keras_mixup")
class MixUpOrCutMix(BoxMixingLayer):
    """mixup or CutMix, switched at random (timm's `Mixup`).

    With probability `prob` a batch (or, with `per_sample=True`, an example:
    timm's mode 'elem') is mixed: by CutMix (`keras_mixup.CutMix`, alpha
    `cutmix_alpha`) with probability `switch_prob`, else by mixup
    (`keras_mixup.MixUp`, alpha `mixup_alpha`). Unmixed examples keep their
    own inputs and labels, bit for bit. The label weight is lam for mixup
    and the exact kept fraction for CutMix. A member with alpha 0 is off
    (the other one mixes every time); both 0 is the identity.

    timm's ImageNet recipes (DeiT, ConvNeXt): `mixup_alpha=0.8,
    cutmix_alpha=1.0, switch_prob=0.5, prob=1.0` with label smoothing 0.1,
    the defaults here but for the smoothing.

    Works like `CutMix`: on batches of data (tf.data, every backend), and
    inside a `keras_mixup.MixUpModel`, where `fit` mixes the labels with
    each example's weight and partner. Segmentation masks follow their
    image: pasted in the same box where CutMix mixes, blended with lam where
    mixup does; integer masks are one-hot encoded with `num_classes` first
    (mixup blends classes), unless `switch_prob=1` (CutMix only).

    Args:
        mixup_alpha: mixup's Beta(alpha, alpha) parameter, >= 0.
        cutmix_alpha: CutMix's Beta(alpha, alpha) parameter, >= 0.
        switch_prob: probability of CutMix when a batch (example) is mixed.
        prob: probability that a batch (example) is mixed at all.
        per_sample: decide, draw lam and boxes per example instead of per
            batch.
        minmax: CutMix box side fractions (lo, hi) instead of lam; see
            `CutMix`.
        num_classes, label_smoothing, data_format, segmentation, seed: as
            for `CutMix`.
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    ds = ds.batch(128).map(keras_mixup.MixUpOrCutMix(num_classes=1000,
                                                      label_smoothing=0.1))
    ```
    """

    def __init__(
        self,
        mixup_alpha=0.8,
        cutmix_alpha=1.0,
        *,
        switch_prob=0.5,
        prob=1.0,
        per_sample=False,
        minmax=None,
        num_classes=None,
        label_smoothing=0.0,
        data_format=None,
        segmentation=False,
        seed=None,
        **kwargs,
    ):
        self._initial_alphas = {
            "mixup_alpha": validation.validate_alpha(mixup_alpha,
                                                     name="mixup_alpha"),
            "cutmix_alpha": validation.validate_alpha(cutmix_alpha,
                                                      name="cutmix_alpha"),
        }
        super().__init__(
            switch_prob=switch_prob, prob=prob, per_sample=per_sample,
            minmax=minmax, num_classes=num_classes,
            label_smoothing=label_smoothing, data_format=data_format,
            segmentation=segmentation, seed=seed, **kwargs,
        )
        for name, value in self._initial_alphas.items():
            self._add_alpha(name, value)

    @property
    def mixup_alpha(self):
        """The current mixup alpha; assign to change it between steps."""
        return self._alpha_value("mixup_alpha")

    @mixup_alpha.setter
    def mixup_alpha(self, value):
        self._set_alpha("mixup_alpha", value)

    @property
    def cutmix_alpha(self):
        """The current CutMix alpha; assign to change it between steps."""
        return self._alpha_value("cutmix_alpha")

    @cutmix_alpha.setter
    def cutmix_alpha(self, value):
        self._set_alpha("cutmix_alpha", value)

    def _alpha_value(self, name):
        return float(keras.ops.convert_to_numpy(
            self._alpha_variables[name].value))

    def _set_alpha(self, name, value):
        self._alpha_variables[name].assign(
            validation.validate_alpha(value, name=name))

    def _member_alphas(self, alphas):
        return alphas["mixup_alpha"], alphas["cutmix_alpha"]

    def get_config(self):
        config = super().get_config()
        config.update(self._initial_alphas)
        config["switch_prob"] = self.switch_prob
        return config
