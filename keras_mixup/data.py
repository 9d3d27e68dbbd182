"""mixup as a `tf.data` map function, on any Keras backend.

The map runs TensorFlow ops (tf.data graphs are TensorFlow graphs) through
the same `keras_mixup.mixing` functions as every other entry point, with
TensorFlow's Keras backend namespace passed in. Importing this module does
not import TensorFlow; building a map does.
"""

import keras
from keras.src.utils import backend_utils

from keras_mixup import mixing


def mixup_map(
    alpha=1.0,
    *,
    per_sample=False,
    num_classes=None,
    label_smoothing=0.0,
    seed=None,
):
    """A function for `tf.data.Dataset.map` that mixes batched data.

    ```python
    ds = ds.batch(128).map(keras_mixup.mixup_map(alpha=1.0, num_classes=10))
    ```

    Elements may be `(x, y)`, `(x, y, sample_weight)` or a dict with a
    `"labels"` key (e.g. `{"images": x, "labels": y}`); the same structure
    comes back. Inputs may be nested structures of any rank and are cast to
    the compute dtype of Keras's global dtype policy (set it before building
    the map); labels and sample weights come out float32. Sparse integer
    labels are one-hot encoded with `num_classes`. Works with batch size 1,
    odd sizes and a smaller last batch.

    Reproducibility: with a `seed`, the stream of draws is fixed; each batch
    gets the next draw. With `num_parallel_calls`, tf.data may run batches in
    any order, so which batch gets which draw is only deterministic with a
    sequential map (mixing is cheap: sequential costs little).

    Args:
        alpha: Beta(alpha, alpha) parameter, >= 0; 0 returns the batch
            unmixed (labels still one-hot encoded): exactly ERM.
        per_sample: one lam per example instead of one per batch.
        num_classes: number of classes, to one-hot encode sparse labels.
        label_smoothing: eps; class targets become y * (1 - eps) + eps / K.
        seed: int seed.

    Returns:
        A callable `fn(*element) -> element`.
    """
    return MixUpMap(
        alpha,
        per_sample=per_sample,
        num_classes=num_classes,
        label_smoothing=label_smoothing,
        seed=seed,
    )


class MixUpMap:
    """The callable that `mixup_map` returns; see there."""

    def __init__(
        self, alpha=1.0, *, per_sample=False, num_classes=None,
        label_smoothing=0.0, seed=None,
    ):
        import tensorflow as tf

        self.alpha = mixing.validate_alpha(alpha)
        (self.per_sample, self.num_classes, self.label_smoothing,
         self.seed) = mixing.validate_options(
            per_sample=per_sample, num_classes=num_classes,
            label_smoothing=label_smoothing, seed=seed,
        )
        # The global policy when the map is built, not when tf.data traces it.
        self.compute_dtype = keras.config.dtype_policy().compute_dtype
        self._tf = backend_utils.DynamicBackend("tensorflow")
        with tf.init_scope():
            self.seed_generator = keras.random.SeedGenerator(
                seed, backend=self._tf
            )

    def __call__(self, *element):
        data = element[0] if len(element) == 1 else element
        x, y, sample_weight, repack = mixing.unpack_data(data, name="element")
        x, y, sample_weight = mixing.to_tensors(
            (x, y, sample_weight), backend=self._tf
        )
        x, y, sample_weight = mixing.mixup_batch(
            x, y, sample_weight,
            seed=self.seed_generator,
            alpha=self.alpha,
            per_sample=self.per_sample,
            num_classes=self.num_classes,
            label_smoothing=self.label_smoothing,
            dtype=self.compute_dtype,
            backend=self._tf,
        )
        return repack(x, y, sample_weight)

    def __repr__(self):
        return (
            f"mixup_map(alpha={self.alpha}, per_sample={self.per_sample}, "
            f"num_classes={self.num_classes}, "
            f"label_smoothing={self.label_smoothing}, seed={self.seed})"
        )
