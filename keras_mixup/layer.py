"""The MixUp layer: on (x, y) batches, and inside a model."""

import keras

from keras_mixup import _internals
from keras_mixup import scope as mixup_scope
from keras_mixup import validation
from keras_mixup.batch import mixup_batch
from keras_mixup.seed_state import SavesSeedState
from keras_mixup.structure import LABEL_KEY
from keras_mixup.structure import to_tensors
from keras_mixup.structure import unpack_data


@keras.saving.register_keras_serializable(package="keras_mixup")
class MixUp(SavesSeedState, keras.layers.Layer):
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
        seed=None,
        **kwargs,
    ):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self._initial_alpha = validation.validate_alpha(alpha)
        (self.per_sample, self.num_classes, self.label_smoothing,
         self.seed) = validation.validate_options(
            per_sample=per_sample, num_classes=num_classes,
            label_smoothing=label_smoothing, seed=seed,
        )
        self.pairing = validation.validate_pairing(pairing)
        self.target = validation.validate_target(target)
        self.seed_generator = keras.random.SeedGenerator(seed)
        # A variable, so that schedules change it without retracing.
        self._alpha = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self._initial_alpha),
            trainable=False,
            # float32 under a mixed policy too: the draw must not depend on it.
            autocast=False,
            name="alpha",
        )
        self._ops = _internals.backend_namespace()
        _internals.allow_structured_call(self)
        self.built = True

    @property
    def alpha(self):
        """The current alpha (a float); assign to change it between steps."""
        return float(keras.ops.convert_to_numpy(self._alpha.value))

    @alpha.setter
    def alpha(self, value):
        self._alpha.assign(validation.validate_alpha(value))

    @property
    def alpha_variable(self):
        """The non-trainable variable holding alpha: read its `.value` inside
        a traced step, where `alpha` (a Python float) cannot be."""
        return self._alpha

    @property
    def base_alpha(self):
        """The alpha the layer was built with (its config's), which
        schedules start from."""
        return self._initial_alpha

    def __call__(self, *args, training=None, **kwargs):
        if not args:
            inputs = kwargs.pop("inputs")
        elif len(args) == 1:
            inputs = args[0]
        else:
            # tf.data calls map functions with a tuple's items as arguments.
            inputs = tuple(args)
        leaves = keras.tree.flatten(inputs)
        if not leaves or any(isinstance(t, keras.KerasTensor) for t in leaves):
            return super().__call__(inputs, training=training, **kwargs)
        in_tf_data = (
            _internals.in_tf_graph()
            and keras.backend.backend() != "tensorflow"
            and not _in_jax_trace(leaves[0])
        )
        if in_tf_data:
            # A tf.data pipeline while Keras runs on another backend.
            self._ops.set_backend("tensorflow")
        try:
            # Keras refuses nested arguments that mix arrays and tensors.
            inputs = to_tensors(inputs, backend=self._ops)
            return super().__call__(inputs, training=training, **kwargs)
        finally:
            if in_tf_data:
                self._ops.reset()

    def call(self, inputs, training=None):
        if _is_data(inputs):
            return self._mix_data(inputs, training)
        return self._mix_features(inputs, training)

    # -- on (x, y) batches ----------------------------------------------------

    def _mix_data(self, data, training):
        x, y, sample_weight, repack = unpack_data(data, name="inputs")
        b = self._ops
        if b.name != keras.backend.backend():
            # A tf.data graph under another backend: the alpha variable and
            # the seed state live on that backend, so use TF-side copies.
            alpha = self.alpha
            seed = self._tf_data_seed_generator()
        else:
            alpha = self._alpha.value
            seed = self.seed_generator
        if training is False:
            alpha = 0.0
        x, y, sample_weight = mixup_batch(
            x, y, sample_weight,
            seed=seed,
            alpha=alpha,
            per_sample=self.per_sample,
            num_classes=self.num_classes,
            label_smoothing=self.label_smoothing,
            pairing=self.pairing,
            target=self.target,
            dtype=self.compute_dtype,
            backend=b,
        )
        return repack(x, y, sample_weight)

    def _tf_data_seed_generator(self):
        if not hasattr(self, "_tf_seed_generator"):
            with _internals.untracked():
                self._tf_seed_generator = _internals.tf_seed_generator(self.seed)
        return self._tf_seed_generator

    # -- inside a model -------------------------------------------------------

    def _mix_features(self, inputs, training):
        b = self._ops
        inputs = keras.tree.map_structure(
            lambda t: b.cast(t, self._feature_dtype(t.dtype)), inputs
        )
        if not training:
            return inputs
        if self.pairing != "random":
            raise ValueError(
                f"The MixUp layer '{self.name}' has pairing={self.pairing!r}, "
                "which needs the labels where it mixes: it works on (x, y) "
                "batches (tf.data, or a call on data), not on features inside "
                "a model. Use pairing='random' inside a model."
            )
        scope = mixup_scope.current()
        if scope is None:
            raise RuntimeError(
                f"The MixUp layer '{self.name}' was called with training=True "
                "on features (not on an (x, y) batch) outside a "
                "keras_mixup.MixUpModel, so the labels would not be mixed with "
                "its lam and pairs. Wrap the model: "
                "`model = keras_mixup.MixUpModel(model)`, then compile and fit "
                "it. To mix data with labels, call the layer on (x, y) or use "
                "keras_mixup.mixup_map in tf.data."
            )
        return scope.mix(self, inputs)

    def _feature_dtype(self, dtype):
        """Float features and uint8 images take the compute dtype (mixing
        them in uint8 would round lam to 0 or 1); other integer features
        (indices) keep theirs."""
        dtype = keras.backend.standardize_dtype(dtype)
        if keras.backend.is_float_dtype(dtype) or dtype == "uint8":
            return self.compute_dtype
        return dtype

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, inputs, training=None):
        if _is_data(inputs):
            # Traced: sparse labels come out one-hot, (B,) -> (B, K), which
            # `compute_output_shape` (the features' identity) cannot say.
            # keras.Operation's spec traces `call`; keras.layers.Layer's
            # would use compute_output_shape.
            return keras.Operation.compute_output_spec(
                self, inputs, training=training
            )
        return keras.tree.map_structure(
            lambda t: keras.KerasTensor(
                t.shape, dtype=self._feature_dtype(t.dtype)
            ),
            inputs,
        )

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
                "seed": self.seed,
            }
        )
        return config


def mixup_layers_of(model):
    """The MixUp layers inside `model`, each once, in a fixed order."""
    return [layer for layer in _internals.flatten_layers(model)
            if isinstance(layer, MixUp)]


def _is_data(inputs):
    """(x, y[, w]) tuples and dicts with labels are data; the rest features."""
    if isinstance(inputs, tuple):
        return True
    return isinstance(inputs, dict) and LABEL_KEY in inputs


def _in_jax_trace(tensor):
    if keras.backend.backend() != "jax":
        return False
    import jax

    return isinstance(tensor, jax.core.Tracer)
