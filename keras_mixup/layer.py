"""The MixUp layer: on (x, y) batches, and inside a model."""

import keras

from keras_mixup import mixing
from keras_mixup import validation
from keras_mixup.base import MixingLayer
from keras_mixup.base import OneAlpha
from keras_mixup.batch import mixup_batch
from keras_mixup.structure import batch_size_of
from keras_mixup.structure import unpack_data


@keras.saving.register_keras_serializable(package="keras_mixup")
class MixUp(OneAlpha, MixingLayer):
    """mixup (Zhang et al., 2018): train on convex combinations of examples.

    lam ~ Beta(alpha, alpha) (one per batch, or one per example with
    `per_sample=True`), pairs from a random permutation of the batch, and

        x = lam * x + (1 - lam) * x[perm]
        y = lam * y + (1 - lam) * y[perm]

    The layer works two ways.

    **On a batch of data** (a tf.data map, or eagerly): call it on `(x, y)`,
    `(x, y, sample_weight)` or a dict with a `"labels"` key, such as
    `keras.layers.MixUp`'s `{"images": ..., "labels": ...}` (same keys come
    back). Inputs may be any nested structure of any rank; they come out in
    the layer's compute dtype. Labels come out float32: sparse integer labels
    are one-hot encoded (needs `num_classes`), one-hot, soft, multi-hot and
    regression targets are mixed as they are. Works in `tf.data` on every
    backend. Mixes unless called with `training=False`.

    **Inside a model** (on a tensor, a list or a dict of features, at the
    input or at any hidden layer): the layer mixes the features and records
    its draw, and `keras_mixup.MixUpModel` mixes the labels with it in `fit`.
    Mixes only in training; `evaluate`, `predict` and inference see the
    identity. Calling it in training outside a `MixUpModel` raises, because
    the labels would silently stay unmixed.

    Args:
        alpha: Beta(alpha, alpha) parameter, >= 0. 0 is exactly ERM (no
            mixing). The paper uses 1 on CIFAR, 0.2-0.4 on ImageNet. Can be
            changed between steps without recompiling (`layer.alpha = 0.0`,
            or `keras_mixup.AlphaScheduler`).
        per_sample: one lam per example instead of one per batch.
        num_classes: number of classes, to one-hot encode sparse labels.
        label_smoothing: eps; class targets become y * (1 - eps) + eps / K.
        pairing: on data, "random" (the paper: a random permutation of the
            batch) or "same_class" (a random permutation within each class;
            an example alone in its class is paired with itself). Inside a
            model only "random" (the labels are not known where it mixes).
        target: "mixed" (the paper: lam * y_i + (1 - lam) * y_j) or "closer"
            (the label, smoothed if asked, of the example with the larger
            weight: y_i where lam >= 0.5, else y_j). Sample weights follow
            the labels. Works on data and inside a `MixUpModel`.
        prob: probability that a batch (an example, with `per_sample`) is
            mixed; the others keep their own inputs and labels, bit for bit
            (timm's `mix_prob`).
        seed: int seed for reproducible draws.
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    ds = ds.batch(128).map(keras_mixup.MixUp(alpha=1.0, num_classes=10))
    ```
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        per_sample=False,
        num_classes=None,
        label_smoothing=0.0,
        pairing="random",
        target="mixed",
        prob=1.0,
        seed=None,
        **kwargs,
    ):
        self._initial_alpha = validation.validate_alpha(alpha)
        super().__init__(per_sample=per_sample, num_classes=num_classes,
                         label_smoothing=label_smoothing, seed=seed, **kwargs)
        self.pairing = validation.validate_pairing(pairing)
        self.target = validation.validate_target(target)
        self.prob = validation.validate_probability(prob, "prob")
        self._add_alpha("alpha", self._initial_alpha)

    # -- on (x, y) batches ----------------------------------------------------

    def _mix_data(self, data, alphas, seed, backend):
        x, y, sample_weight, repack = unpack_data(data, name="inputs")
        x, y, sample_weight = mixup_batch(
            x, y, sample_weight,
            seed=seed,
            alpha=alphas["alpha"],
            per_sample=self.per_sample,
            num_classes=self.num_classes,
            label_smoothing=self.label_smoothing,
            pairing=self.pairing,
            target=self.target,
            dtype=self.compute_dtype,
            prob=self.prob,
            backend=backend,
        )
        return repack(x, y, sample_weight)

    # -- inside a model -------------------------------------------------------

    def _check_features_can_mix(self):
        if self.pairing != "random":
            raise ValueError(
                f"The MixUp layer '{self.name}' has pairing={self.pairing!r}, "
                "which needs the labels where it mixes: it works on (x, y) "
                "batches (tf.data, or a call on data), not on features inside "
                "a model. Use pairing='random' inside a model."
            )

    def draw_and_mix(self, features, *, active, groups=1):
        """Mix features with a fresh draw: (mixed, lam, perm).

        `active` (a bool scalar) turns the layer off (alpha 0: identity,
        lam == 1) when another candidate of a manifold-mixup model mixes.
        """
        alpha = self._gated_alpha("alpha", active)
        lam, perm = mixing.draw(
            self.seed_generator, alpha,
            batch_size_of(features, name="features"),
            per_sample=self.per_sample, groups=groups, prob=self.prob,
        )

        def mixed():
            out = mixing.mix(features, lam, perm)
            if self.prob < 1.0:
                out = mixing.unmixed_where_one(features, out, lam)
            return out

        return (mixing.mix_where(alpha > 0.0, features, lam, perm,
                                 mixed=mixed),
                lam, perm)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alpha": self._initial_alpha,
                "per_sample": self.per_sample,
                "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing,
                "pairing": self.pairing,
                "target": self.target,
                "prob": self.prob,
                "seed": self.seed,
            }
        )
        return config

