"""What every mixing layer shares (`MixUp`, `CutMix`, `MixUpOrCutMix`).

A mixing layer works two ways, and each way has one path here:

- on a batch of data ((x, y), (x, y, sample_weight), a dict with labels),
  eagerly or as a tf.data map under any backend: `call` hands the batch to
  the subclass's `_mix_data(data, alphas, seed, backend)`;
- on features inside a model: the layer records its draw in the
  `MixUpModel`'s scope (`keras_mixup.scope`), which calls the subclass's
  `draw_and_mix(features, active=..., groups=...)` and lets `fit` mix the
  labels with the recorded (weight, pairs).

Alphas live in non-trainable variables, so that schedules change them
without retracing.
"""

import keras

from keras_mixup import _internals
from keras_mixup import scope as mixup_scope
from keras_mixup import validation
from keras_mixup.seed_state import SavesSeedState
from keras_mixup.structure import LABEL_KEY
from keras_mixup.structure import to_tensors


class MixingLayer(SavesSeedState, keras.layers.Layer):
    """Base class of the mixing layers; see the module docstring.

    Subclasses set `pairing` and `target` (what `MixUpModel` checks), create
    their alphas with `_add_alpha`, and implement `_mix_data` and
    `draw_and_mix`.
    """

    pairing = "random"
    target = "mixed"

    def __init__(self, *, per_sample=False, num_classes=None,
                 label_smoothing=0.0, seed=None, **kwargs):
        # The options every mixing layer takes, checked before the base layer
        # is built.
        (per_sample, num_classes, label_smoothing,
         seed) = validation.validate_options(
            per_sample=per_sample, num_classes=num_classes,
            label_smoothing=label_smoothing, seed=seed,
        )
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.per_sample = per_sample
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._ops = _internals.backend_namespace()
        _internals.allow_structured_call(self)
        self._alpha_variables = {}
        self._initial_alpha_values = {}
        self.built = True

    def _add_alpha(self, name, value):
        """A non-trainable scalar variable holding an alpha."""
        variable = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(value),
            trainable=False,
            # float32 under a mixed policy too: the draw must not depend on it.
            autocast=False,
            name=name,
        )
        self._alpha_variables[name] = variable
        self._initial_alpha_values[name] = value
        return variable

    @property
    def base_alphas(self):
        """{name: the value the layer was built with} for each alpha
        variable, which schedules start from."""
        return dict(self._initial_alpha_values)

    def assign_alphas(self, values):
        """Set alphas by name between steps (no retracing)."""
        for name, value in values.items():
            self._alpha_variables[name].assign(
                validation.validate_alpha(value, name=name))

    def __call__(self, *args, training=None, **kwargs):
        if not args:
            inputs = kwargs.pop("inputs")
        elif len(args) == 1:
            inputs = args[0]
        else:
            # tf.data calls map functions with a tuple's items as arguments.
            inputs = tuple(args)
        if training is not None:
            # Only when given: since Keras 3.16 an explicit training=None
            # counts as the caller's choice and hides an outer model's
            # `training` (the layer would never mix inside a model).
            kwargs["training"] = training
        leaves = keras.tree.flatten(inputs)
        if not leaves or any(isinstance(t, keras.KerasTensor) for t in leaves):
            return super().__call__(inputs, **kwargs)
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
            return super().__call__(inputs, **kwargs)
        finally:
            if in_tf_data:
                self._ops.reset()

    def call(self, inputs, training=None):
        if self._is_data(inputs):
            b = self._ops
            if b.name != keras.backend.backend():
                # A tf.data graph under another backend: the alpha variables
                # and the seed state live on that backend, so use TF-side
                # copies.
                alphas = {name: float(keras.ops.convert_to_numpy(v.value))
                          for name, v in self._alpha_variables.items()}
                seed = self._tf_data_seed_generator()
            else:
                alphas = {name: v.value
                          for name, v in self._alpha_variables.items()}
                seed = self.seed_generator
            if training is False:
                alphas = {name: 0.0 for name in alphas}
            return self._mix_data(inputs, alphas, seed, b)
        return self._mix_features(inputs, training)

    def _is_data(self, inputs):
        """(x, y[, w]) tuples and dicts with labels are data; the rest
        features."""
        if isinstance(inputs, tuple):
            return True
        return isinstance(inputs, dict) and LABEL_KEY in inputs

    def _tf_data_seed_generator(self):
        if not hasattr(self, "_tf_seed_generator"):
            with _internals.untracked():
                self._tf_seed_generator = _internals.tf_seed_generator(self.seed)
        return self._tf_seed_generator

    def _mix_features(self, inputs, training):
        b = self._ops
        inputs = keras.tree.map_structure(
            lambda t: b.cast(t, self._feature_dtype(t.dtype)), inputs
        )
        if not training:
            return inputs
        self._check_features_can_mix()
        scope = mixup_scope.current()
        if scope is None:
            kind = type(self).__name__
            raise RuntimeError(
                f"The {kind} layer '{self.name}' was called with "
                "training=True on features (not on an (x, y) batch) outside "
                "a keras_mixup.MixUpModel, so the labels would not be mixed "
                "with its weights and pairs. Wrap the model: "
                "`model = keras_mixup.MixUpModel(model)`, then compile and "
                "fit it. To mix data with labels, call the layer on (x, y) "
                "(e.g. as a tf.data map)."
            )
        return scope.mix(self, inputs)

    def _check_features_can_mix(self):
        """Raise if the layer's options need labels where it mixes."""

    def _gated_alpha(self, name, active):
        """An alpha variable's value as float32, 0 where not `active`."""
        alpha = keras.ops.cast(self._alpha_variables[name].value, "float32")
        return keras.ops.where(active, alpha, 0.0)

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
        if self._is_data(inputs):
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


class OneAlpha:
    """Mixin for a mixing layer with one alpha variable named "alpha"
    (`MixUp`, `CutMix`): the alpha properties that schedules use."""

    @property
    def alpha(self):
        """The current alpha (a float); assign to change it between steps."""
        return float(keras.ops.convert_to_numpy(self.alpha_variable.value))

    @alpha.setter
    def alpha(self, value):
        self.alpha_variable.assign(validation.validate_alpha(value))

    @property
    def alpha_variable(self):
        """The non-trainable variable holding alpha: read its `.value` inside
        a traced step, where `alpha` (a Python float) cannot be."""
        return self._alpha_variables["alpha"]

    @property
    def base_alpha(self):
        """The alpha the layer was built with (its config's), which
        schedules start from."""
        return self._initial_alpha


def mixing_layers_of(model):
    """The mixing layers inside `model`, each once, in a fixed order."""
    return [layer for layer in _internals.flatten_layers(model)
            if isinstance(layer, MixingLayer)]


def _in_jax_trace(tensor):
    if keras.backend.backend() != "jax":
        return False
    import jax

    return isinstance(tensor, jax.core.Tracer)
