"""MixUpGAN: the mixup discriminator of the paper (section 3.7)."""

import copy

import keras

from keras_mixup import _internals
from keras_mixup import mixing
from keras_mixup import validation
from keras_mixup.seed_state import SavesSeedState

_BACKENDS = ("jax", "tensorflow", "torch")


@keras.saving.register_keras_serializable(package="keras_mixup")
class MixUpGAN(SavesSeedState, keras.Model):
    """A GAN whose discriminator is trained with mixup (Zhang et al., 2018).

    The discriminator step is the paper's equation (section 3.7):

        lam ~ Beta(alpha, alpha),  z ~ N(0, I)
        d_loss = BCE(D(lam * x + (1 - lam) * G(z)), lam)

    each real example `x` blended with its own fake `G(z)`, and the
    discriminator trained towards the target `lam`. lam is drawn by the
    sampler that every keras_mixup entry point shares, one per batch (the
    paper) or one per example (`per_sample=True`).

    `alpha=0` is the standard GAN. Beta(alpha, alpha) tends to a fair coin
    on {0, 1} as alpha -> 0, and the loss to its limit: the binary cross
    entropy over the batch [x, G(z)] with targets [1, 0],
    `0.5 * (BCE(D(x), 1) + BCE(D(G(z)), 0))`.

    The generator step is the standard non-saturating loss
    `BCE(D(G(z)), 1)`, for every alpha.

    **One `fit` step** takes one batch of real examples, splits it into
    `d_steps` equal sub-batches (sub-batch k holds examples k, k + d_steps,
    k + 2 * d_steps...), makes one discriminator update on each (a fresh z
    and lam each time), then one generator update on a fresh z of the same
    size. So for the paper's setting (minibatches of 128, five
    discriminator updates per generator update) fit with
    `batch_size=5 * 128`; a remainder of `batch_size % d_steps` examples is
    left out, and a batch of fewer than `d_steps` examples (say the last of
    an epoch) gives each update one of them in turn. After `n` steps:

        gan.g_optimizer.iterations == n            # generator updates
        gan.d_optimizer.iterations == d_steps * n  # discriminator updates
        gan.optimizer.iterations == n              # the fit steps

    and a `LearningRateSchedule` given to an optimizer is indexed by that
    optimizer's own updates: discriminator updates for `d_optimizer`,
    generator updates (fit steps) for `g_optimizer`. `fit` reports `d_loss`
    (the mean over the step's discriminator updates, each computed before
    its update) and `g_loss`, averaged over the epoch like any Keras loss.

    The losses and the mixing are one `keras.ops` implementation; only the
    gradient plumbing differs per backend (JAX: `jax.value_and_grad` over
    the trainer's state; TensorFlow: `tf.GradientTape`; PyTorch: autograd,
    `loss.backward()` after clearing the gradients, as Keras's torch
    trainer does). All three work under `jit_compile=True` (XLA;
    `torch.compile` on PyTorch).

    `alpha`, `d_steps` and `per_sample` are compiled into the training
    step; `seed` seeds the draws of lam and z, whose stream is saved with
    the model (`save`, `BackupAndRestore`), so a resumed run continues it.

    `gan(z)` and `gan.predict(z)` run the generator. Labels in the data
    (`(x, y)` batches) are ignored: the GAN is unconditional. The real
    examples may have any rank (2-D points, images...) and must have the
    shape of the generator's output.

    Args:
        generator: a Keras model mapping noise `z` to samples.
        discriminator: a Keras model mapping samples to one logit per
            example (or per patch), or to a probability with
            `from_logits=False`.
        alpha: Beta(alpha, alpha) parameter, >= 0 (0: standard GAN).
        d_steps: discriminator updates per generator update (paper: 5).
        latent_dim: shape of one noise vector, an int or a tuple; inferred
            from the generator's input when it has one.
        per_sample: one lam per example instead of one per batch.
        from_logits: whether the discriminator outputs logits (default) or
            probabilities.
        seed: int seed for the draws of lam and z.
        **kwargs: base `keras.Model` arguments (`name`).

    Example:

    ```python
    gan = keras_mixup.MixUpGAN(generator, discriminator, alpha=0.2, d_steps=5)
    gan.compile(d_optimizer=keras.optimizers.Adam(), g_optimizer="adam")
    gan.fit(points, batch_size=5 * 128, epochs=10)   # d_loss, g_loss
    samples = gan.predict(np.random.normal(size=(1000, 2)))
    ```
    """

    def __init__(
        self,
        generator,
        discriminator,
        *,
        alpha=0.2,
        d_steps=5,
        latent_dim=None,
        per_sample=False,
        from_logits=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("generator", generator),
                            ("discriminator", discriminator)):
            if not isinstance(value, keras.layers.Layer):
                raise ValueError(
                    f"Argument `{name}` must be a Keras model (or layer). "
                    f"Received: {name}={value!r} (of type "
                    f"{type(value).__name__})"
                )
        if generator is discriminator:
            raise ValueError(
                "Arguments `generator` and `discriminator` must be two "
                "different models. Received the same object twice: "
                f"{generator.name!r}"
            )
        self.alpha = validation.validate_alpha(alpha)
        self.d_steps = validation.validate_positive_int(
            d_steps, "d_steps", " (discriminator updates per generator update)"
        )
        self.per_sample = validation.validate_bool(per_sample, "per_sample")
        self.from_logits = validation.validate_bool(from_logits, "from_logits")
        self.seed = validation.validate_seed(seed)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_shape = _latent_shape(generator, latent_dim)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_optimizer = None
        self.g_optimizer = None
        self.sample_shape = self._build_networks()
        self.built = True

    @property
    def latent_dim(self):
        """The noise shape as given: an int for flat noise, else a tuple."""
        shape = self.latent_shape
        return shape[0] if len(shape) == 1 else shape

    def _build_networks(self):
        """Create both networks' variables; returns the shape of a sample."""
        noise = keras.KerasTensor((None,) + self.latent_shape, dtype="float32")
        try:
            fake = self.generator(noise)
        except Exception as error:
            raise ValueError(
                f"Could not call the generator on noise of shape "
                f"{(None,) + self.latent_shape}: {error}. Pass `latent_dim` "
                "(the shape of one noise vector) if the generator takes "
                "another shape."
            ) from error
        if not isinstance(fake, keras.KerasTensor):
            raise ValueError(
                "Argument `generator` must return a single tensor of samples. "
                f"Received a generator that returns {type(fake).__name__}."
            )
        try:
            self.discriminator(fake)
        except Exception as error:
            raise ValueError(
                "Could not call the discriminator on the generator's output, "
                f"of shape {tuple(fake.shape)}: {error}"
            ) from error
        return tuple(fake.shape[1:])

    def call(self, inputs, training=False):
        """The generator: noise in, samples out."""
        return self.generator(inputs, training=training)

    # -- compile ---------------------------------------------------------------

    def compile(
        self,
        d_optimizer="adam",
        g_optimizer="adam",
        *,
        run_eagerly=False,
        jit_compile="auto",
        steps_per_execution=1,
    ):
        """Configure training: one optimizer per network.

        Args:
            d_optimizer: optimizer of the discriminator (name, config or
                instance). Default Adam with Keras's default settings, as in
                the paper.
            g_optimizer: optimizer of the generator; must be another
                instance than `d_optimizer`.
            run_eagerly, jit_compile, steps_per_execution: as in
                `keras.Model.compile`.
        """
        backend = keras.backend.backend()
        if backend not in _BACKENDS:
            raise ValueError(
                f"MixUpGAN trains on the {', '.join(_BACKENDS[:-1])} and "
                f"{_BACKENDS[-1]} backends. "
                f"Received: backend={backend!r}"
            )
        d_optimizer = keras.optimizers.get(d_optimizer)
        g_optimizer = keras.optimizers.get(g_optimizer)
        if d_optimizer is None or g_optimizer is None:
            raise ValueError(
                "Arguments `d_optimizer` and `g_optimizer` must be optimizers. "
                f"Received: d_optimizer={d_optimizer!r}, "
                f"g_optimizer={g_optimizer!r}"
            )
        if d_optimizer is g_optimizer:
            raise ValueError(
                "Arguments `d_optimizer` and `g_optimizer` must be two "
                "different optimizer instances (each keeps the state and the "
                "update count of its own network). Received the same "
                f"instance twice: {d_optimizer!r}"
            )
        super().compile(
            optimizer=None,
            run_eagerly=run_eagerly,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
            auto_scale_loss=False,
        )
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.optimizer = _internals.GANOptimizers(self, self._variables_of)
        self._gan_compile_config = {
            "run_eagerly": run_eagerly,
            "jit_compile": jit_compile,
            "steps_per_execution": steps_per_execution,
        }

    def get_compile_config(self):
        if not self.compiled or self.d_optimizer is None:
            return {}
        return {
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
            **self._gan_compile_config,
        }

    def compile_from_config(self, config):
        config = dict(config)
        for name in ("d_optimizer", "g_optimizer"):
            config[name] = keras.saving.deserialize_keras_object(config[name])
        self.compile(**config)
        # Create the optimizers' variables, so that saved ones can be loaded.
        self.optimizer.build()

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    # -- the losses: keras.ops, shared by every backend ------------------------

    def _noise(self, batch_size):
        return keras.random.normal(
            (batch_size,) + self.latent_shape, dtype="float32",
            seed=self.seed_generator,
        )

    def _bce(self, target, output):
        output = keras.ops.cast(output, "float32")
        return keras.ops.mean(
            keras.ops.binary_crossentropy(
                target * keras.ops.ones_like(output), output,
                from_logits=self.from_logits,
            )
        )

    def sample_lambda(self, shape):
        """lam ~ Beta(alpha, alpha) of the given shape, from the shared sampler.

        Subclasses may draw lam from another distribution.
        """
        return mixing.sample_lambda(self.seed_generator, self.alpha, shape)

    def discriminator_loss(self, real):
        """The discriminator's loss on one sub-batch of real examples."""
        batch_size = keras.ops.shape(real)[0]
        fake = keras.ops.stop_gradient(
            self.generator(self._noise(batch_size), training=True)
        )
        real = keras.ops.cast(real, fake.dtype)
        if self.alpha == 0:
            # The standard GAN: targets 1 for x, 0 for G(z).
            output = self.discriminator(
                keras.ops.concatenate([real, fake], axis=0), training=True
            )
            output = keras.ops.cast(output, "float32")
            n_real = keras.ops.shape(real)[0]
            target = keras.ops.cast(
                keras.ops.arange(keras.ops.shape(output)[0]) < n_real, "float32"
            )
            target = mixing.per_example(target, len(output.shape))
            return self._bce(target, output)
        lam = self.sample_lambda((batch_size,) if self.per_sample else ())
        mixed = mixing.mix_pair(real, fake, lam)
        output = self.discriminator(mixed, training=True)
        if self.per_sample:
            lam = mixing.per_example(lam, len(output.shape))
        return self._bce(lam, output)

    def generator_loss(self, batch_size):
        """The non-saturating generator loss BCE(D(G(z)), 1)."""
        fake = self.generator(self._noise(batch_size), training=True)
        output = self.discriminator(fake, training=True)
        return self._bce(1.0, output)

    # -- one fit step ----------------------------------------------------------

    def _sub_batches(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, (list, tuple, dict)) or x is None:
            raise ValueError(
                "Expected batches of real examples as one tensor (or "
                "(x, labels) pairs, whose labels are ignored). Received: "
                f"x of type {type(x).__name__}"
            )
        shape = tuple(x.shape)
        if len(shape) != len(self.sample_shape) + 1 or any(
            d is not None and d != s for d, s in zip(shape[1:], self.sample_shape)
        ):
            raise ValueError(
                "Expected real examples of the generator's output shape, "
                f"(batch_size,) + {self.sample_shape}. Received: a batch of "
                f"shape {shape}"
            )
        d = self.d_steps
        n = shape[0]
        if n is not None and n >= d:
            # Strided, so that each device's shard of a data-parallel batch
            # feeds every sub-batch equally; a remainder of n % d is left out.
            size = n // d
            x = x[:size * d]
            return [x[k::d] for k in range(d)], size
        # A batch of unknown size, or smaller than d_steps (the last, partial
        # batch of an epoch): the same strided split, and with fewer than
        # d_steps examples every update takes one, cycling through them.
        if n is not None:
            return [x[k % n:k % n + 1] for k in range(d)], 1
        n = keras.ops.shape(x)[0]
        size = keras.ops.maximum(n // d, 1)
        offsets = d * keras.ops.arange(size)
        return [keras.ops.take(x, (k + offsets) % n, axis=0) for k in range(d)], size

    def _variables_of(self, network):
        """(indices in self.trainable_variables, variables) of a network."""
        ids = {id(v) for v in network.trainable_variables}
        pairs = [
            (i, v) for i, v in enumerate(self.trainable_variables) if id(v) in ids
        ]
        return [i for i, _ in pairs], [v for _, v in pairs]

    def train_step(self, *args):
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_train_step(*args)
        if backend == "torch":
            return self._torch_train_step(*args)
        return self._tf_train_step(*args)

    def fit(self, *args, **kwargs):
        history = super().fit(*args, **kwargs)
        # Keras swaps an EMA optimizer's averages into the weights at the end
        # of fit only for a Keras optimizer; ours are two, each owning one
        # network's variables.
        for network, optimizer in ((self.discriminator, self.d_optimizer),
                                   (self.generator, self.g_optimizer)):
            if optimizer.built:
                optimizer.finalize_variable_values(
                    self._variables_of(network)[1]
                )
        return history

    def test_step(self, *args):
        raise NotImplementedError(
            "MixUpGAN has no evaluation step (a GAN has no loss to evaluate "
            "on held-out data). Evaluate samples of `gan.generator` with a "
            "metric of your own; do not pass validation data to fit."
        )

    def _tf_train_step(self, data):
        import tensorflow as tf

        # Each replica's gradients are summed across replicas: scale the
        # loss as Keras's own train step does.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync

        def update(variables, optimizer, loss_fn, arg):
            """One update of `variables` by `optimizer` on loss_fn(arg)."""
            with tf.GradientTape() as tape:
                loss = loss_fn(arg)
                per_replica = (loss if replicas == 1 else
                               loss * keras.ops.cast(1.0 / replicas, loss.dtype))
                scaled = optimizer.scale_loss(per_replica)
            optimizer.apply(tape.gradient(scaled, variables), variables)
            return loss

        return self._in_place_train_step(data, update)

    def _torch_train_step(self, data):
        import torch

        def update(variables, optimizer, loss_fn, arg):
            """One update of `variables` by `optimizer` on loss_fn(arg), as
            Keras's torch trainer makes it: the gradients left by the
            previous update (the generator's loss reaches the
            discriminator's weights too) are cleared first."""
            self.zero_grad()
            loss = loss_fn(arg)
            optimizer.scale_loss(loss).backward()
            with torch.no_grad():
                optimizer.apply([v.value.grad for v in variables], variables)
            return loss.detach()

        return self._in_place_train_step(data, update)

    def _in_place_train_step(self, data, update):
        """One fit step on a backend whose variables update in place (TF,
        torch); `update(variables, optimizer, loss_fn, arg)` makes one
        update and returns its loss."""
        sub_batches, size = self._sub_batches(data)
        _, d_vars = self._variables_of(self.discriminator)
        _, g_vars = self._variables_of(self.generator)
        d_losses = [
            update(d_vars, self.d_optimizer, self.discriminator_loss, real)
            for real in sub_batches
        ]
        g_loss = update(g_vars, self.g_optimizer, self.generator_loss, size)
        self.d_loss_tracker.update_state(keras.ops.mean(keras.ops.stack(d_losses)))
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def _jax_train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_values, metrics_values = state
        trainable = list(trainable)
        sub_batches, size = self._sub_batches(data)
        n_d = len(self.d_optimizer.variables)
        d_opt_values = list(optimizer_values[:n_d])
        g_opt_values = list(optimizer_values[n_d:])

        def update(indices, optimizer, opt_values, loss_fn, arg):
            """One stateless update of the variables at `indices`."""
            nonlocal non_trainable

            def stateless_loss(values):
                current = list(trainable)
                for i, value in zip(indices, values):
                    current[i] = value
                mapping = (
                    list(zip(self.trainable_variables, current))
                    + list(zip(self.non_trainable_variables, non_trainable))
                    + list(zip(optimizer.variables, opt_values))
                )
                with keras.StatelessScope(state_mapping=mapping) as scope:
                    loss = loss_fn(arg)
                    scaled = optimizer.scale_loss(loss)
                updated = []
                for variable, old in zip(self.non_trainable_variables,
                                         non_trainable):
                    new = scope.get_current_value(variable)
                    updated.append(old if new is None else new)
                return scaled, (loss, updated)

            values = [trainable[i] for i in indices]
            (_, (loss, non_trainable)), grads = jax.value_and_grad(
                stateless_loss, has_aux=True
            )(values)
            values, opt_values = optimizer.stateless_apply(
                opt_values, grads, values
            )
            for i, value in zip(indices, values):
                trainable[i] = value
            return loss, opt_values

        d_indices, _ = self._variables_of(self.discriminator)
        g_indices, _ = self._variables_of(self.generator)
        d_losses = []
        for real in sub_batches:
            loss, d_opt_values = update(
                d_indices, self.d_optimizer, d_opt_values,
                self.discriminator_loss, real,
            )
            d_losses.append(loss)
        g_loss, g_opt_values = update(
            g_indices, self.g_optimizer, g_opt_values, self.generator_loss, size
        )

        mapping = list(zip(self.metrics_variables, metrics_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            self.d_loss_tracker.update_state(
                keras.ops.mean(keras.ops.stack(d_losses))
            )
            self.g_loss_tracker.update_state(g_loss)
            logs = {m.name: m.result() for m in self.metrics}
        metrics_values = [
            scope.get_current_value(v) for v in self.metrics_variables
        ]
        state = (
            trainable,
            non_trainable,
            d_opt_values + g_opt_values,
            metrics_values,
        )
        return logs, state

    # -- serialization ---------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(
                    self.discriminator
                ),
                "alpha": self.alpha,
                "d_steps": self.d_steps,
                "latent_dim": self.latent_dim,
                "per_sample": self.per_sample,
                "from_logits": self.from_logits,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)
        for name in ("generator", "discriminator"):
            config[name] = keras.saving.deserialize_keras_object(
                config[name], custom_objects=custom_objects
            )
        if isinstance(config.get("latent_dim"), list):
            config["latent_dim"] = tuple(config["latent_dim"])
        return cls(**config)


def _latent_shape(generator, latent_dim):
    if latent_dim is None:
        inputs = getattr(generator, "inputs", None)
        try:
            shape = tuple(inputs[0].shape[1:]) if inputs else None
        except (AttributeError, TypeError, IndexError):
            shape = None
        if shape is None or len(inputs) != 1 or any(d is None for d in shape):
            raise ValueError(
                "Argument `latent_dim` is needed when the generator has no "
                "single input of known shape. Received: latent_dim=None and "
                f"a generator {generator.name!r} without one"
            )
        return shape
    dims = (latent_dim,) if isinstance(latent_dim, int) else latent_dim
    if (
        not isinstance(dims, (tuple, list))
        or not dims
        or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims)
    ):
        raise ValueError(
            "Argument `latent_dim` must be a positive int or a tuple of "
            f"positive ints (the shape of one noise vector). Received: "
            f"latent_dim={latent_dim!r}"
        )
    return tuple(dims)
