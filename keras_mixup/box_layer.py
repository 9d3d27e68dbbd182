"""What `CutMix` and `MixUpOrCutMix` share: their options, the data path
(`box_batch.family_batch`) and the in-model draw (`boxes.draw`)."""

import keras

from keras_mixup import box_batch
from keras_mixup import boxes
from keras_mixup import mixing
from keras_mixup import validation
from keras_mixup.base import MixingLayer
from keras_mixup.structure import batch_size_of
from keras_mixup.structure import unpack_data


class BoxMixingLayer(MixingLayer):
    """Base of `CutMix` and `MixUpOrCutMix`; see those.

    Subclasses create their alpha variables and implement
    `_member_alphas(alphas) -> (mixup_alpha, cutmix_alpha)`, mapping the
    values of their alpha variables (by name) to the two members'.
    """

    def __init__(self, *, switch_prob, prob, per_sample, minmax, num_classes,
                 label_smoothing, data_format, segmentation, seed, **kwargs):
        super().__init__(per_sample=per_sample, num_classes=num_classes,
                         label_smoothing=label_smoothing, seed=seed, **kwargs)
        self.switch_prob = validation.validate_probability(switch_prob,
                                                      "switch_prob")
        self.prob = validation.validate_probability(prob, "prob")
        self.minmax = validation.validate_minmax(minmax)
        self.data_format = validation.validate_data_format(data_format)
        if not isinstance(segmentation, bool):
            raise ValueError(
                "Argument `segmentation` must be a bool. "
                f"Received: segmentation={segmentation!r}"
            )
        self.segmentation = segmentation

    def _member_alphas(self, alphas):
        raise NotImplementedError

    def _is_data(self, inputs):
        """Dicts with masks are data too (segmentation without labels)."""
        return super()._is_data(inputs) or (
            isinstance(inputs, dict) and box_batch.MASKS_KEY in inputs)

    def _mixup_possible(self, mixup_alpha):
        """Whether mixup may blend: else only boxes are pasted."""
        return not (isinstance(mixup_alpha, (int, float)) and mixup_alpha == 0
                    ) and self.switch_prob < 1.0

    # -- on (x, y) batches ----------------------------------------------------

    def _mix_data(self, data, alphas, seed, backend):
        rest, masks, put_back = box_batch.split_masks(
            data, segmentation=self.segmentation)
        x, y, sample_weight, repack = unpack_data(rest, name="inputs")
        mixup_alpha, cutmix_alpha = self._member_alphas(alphas)
        x, y, sample_weight, masks = box_batch.family_batch(
            x, y, sample_weight, masks,
            seed=seed,
            mixup_alpha=mixup_alpha,
            cutmix_alpha=cutmix_alpha,
            switch_prob=self.switch_prob,
            prob=self.prob,
            per_sample=self.per_sample,
            minmax=self.minmax,
            num_classes=self.num_classes,
            label_smoothing=self.label_smoothing,
            data_format=self.data_format,
            dtype=self.compute_dtype,
            blends=self._mixup_possible(
                self.base_alphas.get("mixup_alpha", 0.0)),
            backend=backend,
        )
        return put_back(repack(x, y, sample_weight), masks)

    # -- inside a model -------------------------------------------------------

    def draw_and_mix(self, features, *, active, groups=1):
        """Mix features with a fresh draw: (mixed, weight, perm).

        `active` (a bool scalar) turns the layer off (identity, weight 1)
        when another candidate of a manifold-mixup model mixes this step.
        """
        mixup_alpha, cutmix_alpha = self._member_alphas(
            {name: self._gated_alpha(name, active)
             for name in self._alpha_variables})
        axes, image, image_axes = box_batch.input_axes(
            features, self.data_format, name="features")
        sizes = boxes.spatial_sizes(image, image_axes)
        the_draw = boxes.draw(
            self.seed_generator, batch_size_of(features, name="features"),
            sizes, mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha,
            switch_prob=self.switch_prob, prob=self.prob,
            per_sample=self.per_sample, minmax=self.minmax, groups=groups,
        )
        mixup = self._mixup_possible(mixup_alpha)
        mixed = [
            boxes.apply(t, mixing.partners(t, the_draw["perm"]), the_draw,
                        sizes, t_axes, mixup=mixup)
            for t, t_axes in zip(keras.tree.flatten(features), axes)
        ]
        return (keras.tree.pack_sequence_as(features, mixed),
                the_draw["weight"], the_draw["perm"])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "prob": self.prob,
                "per_sample": self.per_sample,
                "minmax": self.minmax,
                "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing,
                "data_format": self.data_format,
                "segmentation": self.segmentation,
                "seed": self.seed,
            }
        )
        return config
