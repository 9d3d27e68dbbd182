"""mixup as a `tf.data` map function, on any Keras backend.

The map runs TensorFlow ops (tf.data graphs are TensorFlow graphs) through
the same `keras_mixup.mixing` functions as every other entry point, with
TensorFlow's Keras backend namespace passed in. Importing this module does
not import TensorFlow; building a map does.
"""

import keras

from keras_mixup import _internals
from keras_mixup import validation
from keras_mixup.batch import mixup_batch
from keras_mixup.structure import to_tensors
from keras_mixup.structure import unpack_data


def mixup_map(
    alpha=1.0,
    *,
    per_sample=False,
    num_classes=None,
    label_smoothing=0.0,
    pairing="random",
    target="mixed",
    prob=1.0,
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
        pairing: "random" (the paper: a random permutation of the batch) or
            "same_class" (a random permutation within each class of the
            batch; an example alone in its class is paired with itself).
            For nearest-neighbour pairs see `neighbour_mixup_dataset`.
        target: "mixed" (the paper: lam * y_i + (1 - lam) * y_j) or "closer"
            (the label of the example with the larger weight: y_i where
            lam >= 0.5, else y_j; smoothed if `label_smoothing`). Sample
            weights follow the labels.
        prob: probability that a batch (an example, with `per_sample`) is
            mixed, as `MixUp(prob=...)`; the others come back unmixed bit
            for bit (labels one-hot encoded, smoothed if `label_smoothing`).
        seed: int seed.

    Returns:
        A callable `fn(*element) -> element`.
    """
    return MixUpMap(
        alpha,
        per_sample=per_sample,
        num_classes=num_classes,
        label_smoothing=label_smoothing,
        pairing=pairing,
        target=target,
        prob=prob,
        seed=seed,
    )


class TFDataMixer:
    """What the tf.data map functions share: their validated options, the
    compute dtype of the global policy when built (not when tf.data traces
    the map), TensorFlow's ops and a TensorFlow-side seed stream."""

    # For repr: the function that builds it, and its options in order.
    NAME = None
    OPTIONS = ("alpha", "per_sample", "num_classes", "label_smoothing",
               "target", "seed")

    def __init__(
        self, alpha=1.0, *, per_sample=False, num_classes=None,
        label_smoothing=0.0, target="mixed", seed=None,
    ):
        self.alpha = validation.validate_alpha(alpha)
        (self.per_sample, self.num_classes, self.label_smoothing,
         self.seed) = validation.validate_options(
            per_sample=per_sample, num_classes=num_classes,
            label_smoothing=label_smoothing, seed=seed,
        )
        self.target = validation.validate_target(target)
        self.compute_dtype = keras.config.dtype_policy().compute_dtype
        self._tf = _internals.backend_namespace("tensorflow")
        self.seed_generator = _internals.tf_seed_generator(seed)
        import tensorflow as tf

        # tf.data converts a map function with AutoGraph, which would parse
        # and convert every library function the map reaches: 7 s the first
        # time a map is traced in a process, 0.1 s each time after
        # (benchmarks/README.md). The maths has no Python control flow on
        # tensors: nothing needs converting.
        self._mix_unconverted = tf.autograph.experimental.do_not_convert(
            self.mix_element
        )

    def __call__(self, *element):
        # Subclasses define mix_element(*element): one batched element.
        return self._mix_unconverted(*element)

    def __repr__(self):
        options = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.OPTIONS)
        return f"{self.NAME}({options})"


class MixUpMap(TFDataMixer):
    """The callable that `mixup_map` returns; see there."""

    NAME = "mixup_map"
    OPTIONS = ("alpha", "per_sample", "num_classes", "label_smoothing",
               "pairing", "target", "prob", "seed")

    def __init__(self, alpha=1.0, *, pairing="random", prob=1.0, **options):
        super().__init__(alpha, **options)
        self.pairing = validation.validate_pairing(pairing)
        self.prob = validation.validate_probability(prob, "prob")

    def mix_element(self, *element):
        data = element[0] if len(element) == 1 else element
        x, y, sample_weight, repack = unpack_data(data, name="element")
        x, y, sample_weight = to_tensors(
            (x, y, sample_weight), backend=self._tf
        )
        x, y, sample_weight = mixup_batch(
            x, y, sample_weight,
            seed=self.seed_generator,
            alpha=self.alpha,
            per_sample=self.per_sample,
            num_classes=self.num_classes,
            label_smoothing=self.label_smoothing,
            pairing=self.pairing,
            target=self.target,
            prob=self.prob,
            dtype=self.compute_dtype,
            backend=self._tf,
        )
        return repack(x, y, sample_weight)
