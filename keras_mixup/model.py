"""MixUpModel: MixUp layers inside a model, with labels mixed to match."""

import threading

import keras

from keras_mixup import _internals
from keras_mixup import mixing
from keras_mixup.labels import is_integer_dtype
from keras_mixup.labels import prepare_labels
from keras_mixup import scope as mixup_scope
from keras_mixup.base import mixing_layers_of

# The draw that `MixUpModel.compute_loss` hands to its losses, per thread
# (tf.distribute replicas run in their own threads).
_loss_draw = threading.local()


@keras.saving.register_keras_serializable(package="keras_mixup")
class MixUpModel(keras.Model):
    """Wraps a model that contains `MixUp` layers; `fit` mixes the labels.

    Put `keras_mixup.MixUp(alpha)` anywhere in a model (on the inputs, or on
    any hidden activation) and wrap it:

    ```python
    inputs = keras.Input((32, 32, 3))
    h = keras_mixup.MixUp(alpha=1.0)(inputs)
    ...
    model = keras_mixup.MixUpModel(keras.Model(inputs, outputs))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(ds)
    ```

    In each training step the active MixUp layer draws lam and a permutation
    of the batch and mixes its input; the loss then sees labels mixed with
    exactly that draw:

    - float targets (one-hot, soft, multi-hot, regression) are mixed:
      y = lam * y + (1 - lam) * y[perm];
    - sparse integer labels with a sparse loss mix the loss instead:
      lam * L(y, p) + (1 - lam) * L(y[perm], p), per example when lam is;
    - sparse integer labels with any other loss are one-hot encoded (the
      number of classes is the model output's last axis) and mixed.
    Sample weights are mixed with the same draw. Every output of a
    multi-output model uses the same draw. The layer's `label_smoothing`
    applies to class targets. With `target="closer"` on the MixUp layers
    (Table 5's "mix inputs only"), each mixed example gets the labels and
    sample weight of the heavier example of its pair instead.

    Manifold mixup (Verma et al., 2019): with several MixUp layers in the
    model, one of them is chosen uniformly at random per training step and
    only that one mixes; the graph stays static.

    `evaluate`, `predict` and `model(x)` are the wrapped model, unchanged.
    Training metrics compare the predictions on mixed inputs with the
    original (unmixed) labels; evaluation metrics are the usual ones.

    Under `keras.distribution.DataParallel` (JAX) pairs are drawn within
    each device's shard of the batch, and under `tf.distribute` within each
    replica's batch, so mixing adds no communication between devices.

    Args:
        model: a Keras model (Functional, Sequential or subclassed) that
            contains at least one `MixUp` layer. `model_with_mixup.model`
            gives it back, e.g. for inference or export.
        seed: int seed for the choice of the active layer (manifold mixup).
        **kwargs: base `keras.Model` arguments (`name`).
    """

    def __init__(self, model, *, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(model, keras.Model):
            raise ValueError(
                "Argument `model` must be a keras.Model containing MixUp layers. "
                f"Received: model={model!r} (of type {type(model).__name__})"
            )
        self.model = model
        if not self.mixup_layers:
            raise ValueError(
                "Argument `model` must contain at least one keras_mixup.MixUp "
                f"layer. Received a model '{model.name}' with layers "
                f"{[layer.name for layer in model.layers]}."
            )
        self.label_smoothing = _shared_option(self.mixup_layers, "label_smoothing")
        pairings = {layer.name: layer.pairing for layer in self.mixup_layers
                    if layer.pairing != "random"}
        if pairings:
            raise ValueError(
                "MixUp layers inside a model pair with a random permutation "
                "(pairing='random'): the labels are not known where they mix. "
                f"Received layers with pairing {pairings}; for same-class "
                "pairs mix the data instead (keras_mixup.mixup_map)."
            )
        self.target = _shared_option(self.mixup_layers, "target")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def mixup_layers(self):
        """The MixUp layers of the wrapped model, in a fixed order.

        A property, not an attribute: a tracked list would make Keras save
        the layers' variables twice.
        """
        return mixing_layers_of(self.model)

    def call(self, inputs, training=None):
        if not training:
            return self.model(inputs, training=training)
        chosen = None
        candidates = self.mixup_layers
        if len(candidates) > 1:
            chosen = keras.random.randint(
                (), 0, len(candidates), dtype="int32", seed=self.seed_generator
            )
        with mixup_scope.MixUpScope(
            candidates, chosen, groups=_data_parallel_groups()
        ):
            return self.model(inputs, training=training)

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None,
                **kwargs):
        if loss is not None:
            loss = keras.tree.map_structure(
                lambda fn: fn if fn is None or isinstance(fn, MixedLoss)
                else MixedLoss(fn),
                loss,
            )
        super().compile(
            optimizer=optimizer, loss=loss, loss_weights=loss_weights, **kwargs
        )

    def compile_from_config(self, config):
        # Keras's own refuses models with a custom compile(); this is its
        # logic, through our compile.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        scope = mixup_scope.take_last()
        draw = scope.draw() if (training and scope is not None) else None
        if draw is None or y is None:
            return super().compute_loss(
                x, y, y_pred, sample_weight, training=training
            )
        lam, perm = draw
        follow_labels = mixing.mix if self.target == "mixed" else mixing.closer
        if sample_weight is not None:
            sample_weight = keras.tree.map_structure(
                lambda w: None if w is None else follow_labels(
                    keras.ops.cast(w, "float32"), lam, perm
                ),
                sample_weight,
            )
        _loss_draw.value = (lam, perm, self.label_smoothing, self.target)
        try:
            return super().compute_loss(
                x, y, y_pred, sample_weight, training=training
            )
        finally:
            _loss_draw.value = None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "model": keras.saving.serialize_keras_object(self.model),
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(
            config["model"], custom_objects=custom_objects
        )
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_mixup")
class MixedLoss(keras.losses.Loss):
    """A loss that applies the current training step's mixup draw.

    `MixUpModel.compile` wraps every loss in one. Outside a mixing step (or
    in evaluation) it is exactly the wrapped loss.
    """

    def __init__(self, loss, name=None, reduction=None, dtype=None):
        if isinstance(loss, dict):
            loss = keras.losses.deserialize(loss)
        inner = keras.losses.get(loss)
        if not isinstance(inner, keras.losses.Loss):
            inner = _internals.LossFunctionWrapper(
                inner, name=getattr(inner, "__name__", None)
            )
        super().__init__(
            name=name or inner.name,
            reduction=reduction or inner.reduction,
            dtype=dtype or inner.dtype,
        )
        self.loss = inner

    def __call__(self, y_true, y_pred, sample_weight=None):
        draw = getattr(_loss_draw, "value", None)
        label_smoothing = draw[2] if draw is not None else 0.0
        sparse = _is_sparse_labels(y_true, y_pred)
        if sparse and not _is_sparse_loss(self.loss):
            # The loss wants class targets: the model's output gives K.
            y_true = prepare_labels(
                y_true, num_classes=y_pred.shape[-1],
                label_smoothing=label_smoothing,
            )
            sparse = False
        elif not sparse and label_smoothing and y_true.shape[-1] not in (None, 1):
            y_true = mixing.smooth_labels(keras.ops.cast(y_true, "float32"),
                                          label_smoothing)
        if draw is None:
            return self.loss(y_true, y_pred, sample_weight)
        lam, perm, _, target = draw
        if sparse:
            if label_smoothing:
                raise ValueError(
                    "`label_smoothing` needs class targets, but the loss "
                    f"'{self.loss.name}' takes sparse labels. Compile with "
                    "a categorical loss (e.g. 'categorical_crossentropy'): "
                    "MixUpModel one-hot encodes sparse labels for it."
                )
            # Mix the loss: Loss.__call__ casts the pair and reduces the sum
            # once, with masks and sample weights as usual.
            y_pair = (y_true, mixing.partners(y_true, perm))
            return super().__call__(y_pair, y_pred, sample_weight)
        y_true = keras.ops.cast(y_true, "float32")
        mix_labels = mixing.mix if target == "mixed" else mixing.closer
        return self.loss(mix_labels(y_true, lam, perm), y_pred, sample_weight)

    def call(self, y_pair, y_pred):
        lam, _, _, target = _loss_draw.value
        y_a, y_b = y_pair
        loss_a = self.loss.call(y_a, y_pred)
        loss_b = self.loss.call(y_b, y_pred)
        if target == "closer":
            return mixing.closer_pair(loss_a, loss_b, lam)
        return mixing.mix_pair(loss_a, loss_b, lam)

    def get_config(self):
        return {
            "loss": keras.losses.serialize(self.loss),
            "name": self.name,
            "reduction": self.reduction,
        }


def _is_sparse_labels(y_true, y_pred):
    """Integer class indices: shape y_pred.shape[:-1] (or with a trailing 1)."""
    if not is_integer_dtype(y_true.dtype):
        return False
    classes = y_pred.shape[-1]
    if classes is None or classes == 1:
        return False
    y_shape, p_shape = tuple(y_true.shape), tuple(y_pred.shape)
    return y_shape == p_shape[:-1] or y_shape == p_shape[:-1] + (1,)


def _is_sparse_loss(loss):
    fn = getattr(loss, "fn", None)
    names = (type(loss).__name__, getattr(fn, "__name__", ""), loss.name)
    return any("sparse" in name.lower() for name in names)


def _shared_option(layers, name):
    """The value of option `name` that all `layers` share; ValueError if not."""
    values = {getattr(layer, name) for layer in layers}
    if len(values) > 1:
        raise ValueError(
            f"The MixUp layers of one model must share `{name}`. "
            f"Received layers with {name} {sorted(values)}."
        )
    return values.pop()


def _data_parallel_groups():
    """Devices along the batch axis under keras.distribution (JAX), else 1."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1
    batch_axis = getattr(distribution, "batch_dim_name", None)
    mesh = getattr(distribution, "device_mesh", None)
    if batch_axis is None or mesh is None:
        return 1
    return mesh.shape[list(mesh.axis_names).index(batch_axis)]
