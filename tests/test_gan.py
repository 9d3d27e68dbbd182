"""keras_mixup.MixUpGAN: the discriminator mix of the paper (section 3.7)."""

import csv
import math

import keras
import numpy as np
import pytest

from keras_mixup import MixUpGAN

from tests.helpers import BACKEND, tf_dataset


def mlp(input_shape, output_dim, width=16, name=None):
    """Input -> Flatten -> Dense(width, relu) -> Dense(output_dim)."""
    inputs = keras.Input(input_shape)
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(width, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(output_dim)(h), name=name)


def image_generator(latent_dim, shape):
    inputs = keras.Input((latent_dim,))
    h = keras.layers.Dense(int(np.prod(shape)))(inputs)
    return keras.Model(inputs, keras.layers.Reshape(shape)(h))


class Constant(keras.layers.Layer):
    """A 'generator' whose samples are one trainable value, whatever z."""

    def __init__(self, value, **kwargs):
        super().__init__(**kwargs)
        self.value = value

    def build(self, input_shape):
        self.b = self.add_weight(
            shape=(1,), initializer=keras.initializers.Constant(self.value)
        )

    def call(self, z):
        return keras.ops.zeros_like(z[:, :1]) + self.b


def constant_generator(value):
    return keras.Sequential([keras.Input((1,)), Constant(value)])


def linear_discriminator(kernel, bias):
    """D(x) = kernel * x + bias on 1-D samples."""
    return keras.Sequential([
        keras.Input((1,)),
        keras.layers.Dense(
            1,
            kernel_initializer=keras.initializers.Constant(kernel),
            bias_initializer=keras.initializers.Constant(bias),
        ),
    ])


def weights_of(layer):
    return [keras.ops.convert_to_numpy(v) for v in layer.weights]


# ---------------------------------------------------------------- training


@pytest.mark.parametrize(
    "case",
    [
        # 2-D points from tf.data (batches of unknown size on TF), one lam
        # per batch, the backend's default compilation.
        dict(sample_shape=(2,), per_sample=False, jit_compile="auto", tf_data=True),
        # images from numpy, one lam per example, XLA.
        dict(sample_shape=(4, 4, 1), per_sample=True, jit_compile=True, tf_data=False),
    ],
    ids=["points-per-batch", "images-per-example-xla"],
)
def test_fit_finite_losses_counters_and_schedules(case):
    keras.utils.set_random_seed(0)
    shape = case["sample_shape"]
    generator = (
        mlp((2,), 2) if shape == (2,) else image_generator(3, shape)
    )
    gan = MixUpGAN(
        generator, mlp(shape, 1), alpha=0.2, d_steps=3,
        per_sample=case["per_sample"], seed=1,
    )
    d_schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 1, 0.9)
    g_schedule = keras.optimizers.schedules.ExponentialDecay(2e-3, 1, 0.8)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(d_schedule),
        g_optimizer=keras.optimizers.Adam(g_schedule),
        jit_compile=case["jit_compile"],
    )
    # 26 examples in batches of 12: the last batch holds 2 < d_steps.
    x = np.random.default_rng(0).normal(size=(26,) + shape).astype("float32")
    data = tf_dataset(x, batch_size=12) if case["tf_data"] else x
    history = gan.fit(data, batch_size=None if case["tf_data"] else 12,
                      epochs=2, shuffle=False, verbose=0)

    assert set(history.history) == {"d_loss", "g_loss"}
    for values in history.history.values():
        assert len(values) == 2 and all(math.isfinite(v) for v in values)
    steps = 2 * 3  # 2 epochs of 3 batches
    assert int(gan.g_optimizer.iterations) == steps
    assert int(gan.d_optimizer.iterations) == 3 * steps
    assert int(gan.optimizer.iterations) == steps
    # Each schedule is indexed by its own optimizer's updates.
    np.testing.assert_allclose(
        float(gan.d_optimizer.learning_rate), 1e-3 * 0.9 ** (3 * steps), rtol=1e-5
    )
    np.testing.assert_allclose(
        float(gan.g_optimizer.learning_rate), 2e-3 * 0.8 ** steps, rtol=1e-5
    )
    samples = gan.predict(np.zeros((5,) + gan.latent_shape), verbose=0)
    assert samples.shape == (5,) + shape


def sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def softplus(t):
    return np.log1p(np.exp(t))


def test_alpha_zero_is_the_standard_gan_with_d_steps_updates():
    """alpha=0, d_steps=2, two fit steps, SGD with schedules, replayed in
    numpy: each discriminator update uses its own sub-batch and the
    standard loss 0.5 * (BCE(D(x), 1) + BCE(D(G(z)), 0)); the generator
    update uses BCE(D(G(z)), 1); the learning rates follow each optimizer's
    own update count."""
    n, d_steps, w0, c0, b0 = 4, 2, 0.7, -0.2, 0.5
    values = [1.0, -2.0, 3.0, 0.5]  # the real value of each sub-batch
    # Sub-batch k of a step holds examples k, k + d_steps, k + 2 * d_steps...
    x = np.concatenate([
        np.tile(np.asarray(values[2 * s:2 * s + 2], "float32"), n)
        for s in range(2)
    ])[:, None]
    gan = MixUpGAN(
        constant_generator(b0), linear_discriminator(w0, c0),
        alpha=0.0, d_steps=d_steps, seed=0,
    )
    schedule = keras.optimizers.schedules.ExponentialDecay
    gan.compile(
        d_optimizer=keras.optimizers.SGD(schedule(0.5, 1, 0.5)),
        g_optimizer=keras.optimizers.SGD(schedule(0.3, 1, 0.5)),
    )
    history = gan.fit(x, batch_size=d_steps * n, shuffle=False, verbose=0)

    w, c, b = w0, c0, b0
    d_losses, g_losses, d_updates = [], [], 0
    for step in range(2):
        for k in range(d_steps):
            a = values[step * d_steps + k]
            p_real, p_fake = sigmoid(w * a + c), sigmoid(w * b + c)
            d_losses.append(0.5 * (softplus(-(w * a + c)) + softplus(w * b + c)))
            dw = 0.5 * ((p_real - 1.0) * a + p_fake * b)
            dc = 0.5 * ((p_real - 1.0) + p_fake)
            lr = 0.5 * 0.5**d_updates
            w, c, d_updates = w - lr * dw, c - lr * dc, d_updates + 1
        g_losses.append(softplus(-(w * b + c)))
        b -= 0.3 * 0.5**step * (sigmoid(w * b + c) - 1.0) * w

    kernel, bias = weights_of(gan.discriminator)
    np.testing.assert_allclose([kernel.item(), bias.item()], [w, c], rtol=1e-5)
    np.testing.assert_allclose(weights_of(gan.generator)[0].item(), b, rtol=1e-5)
    np.testing.assert_allclose(
        history.history["d_loss"], [np.mean(d_losses)], rtol=1e-5
    )
    np.testing.assert_allclose(
        history.history["g_loss"], [np.mean(g_losses)], rtol=1e-5
    )
    assert int(gan.d_optimizer.iterations) == 4
    assert int(gan.g_optimizer.iterations) == 2


class _WeightsByEpoch(keras.callbacks.Callback):
    def __init__(self, gan):
        super().__init__()
        self.gan, self.weights = gan, []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(
            weights_of(self.gan.generator) + weights_of(self.gan.discriminator)
        )


def test_ema_optimizers_leave_their_averages_in_the_networks_after_fit():
    """Two identical runs, one with EMA optimizers: the EMA run ends with
    the exponential moving average (numpy) of the plain run's weights after
    each update, as Keras's fit leaves for a single EMA optimizer."""
    momentum, epochs = 0.5, 3
    x = np.asarray([[1.0], [-2.0], [3.0], [0.5]], "float32")

    def train(use_ema):
        gan = MixUpGAN(constant_generator(0.5), linear_discriminator(0.7, -0.2),
                       alpha=0.4, d_steps=1, seed=3)
        gan.compile(*(keras.optimizers.SGD(0.2, use_ema=use_ema,
                                           ema_momentum=momentum)
                      for _ in range(2)))
        recorder = _WeightsByEpoch(gan)
        gan.fit(x, batch_size=len(x), epochs=epochs, shuffle=False, verbose=0,
                callbacks=[recorder])
        return gan, recorder.weights

    _, trajectory = train(use_ema=False)  # one update of each net an epoch
    averaged, _ = train(use_ema=True)

    expected = [np.asarray(w) for w in trajectory[0]]
    for weights in trajectory[1:]:
        expected = [momentum * e + (1 - momentum) * w
                    for e, w in zip(expected, weights)]
    final = weights_of(averaged.generator) + weights_of(averaged.discriminator)
    for got, want, last in zip(final, expected, trajectory[-1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
        assert not np.allclose(want, last)  # the average is not the last value


class _WrongTarget(MixUpGAN):
    """A deliberately broken GAN (target 1 - lam): the negative control."""

    def _bce(self, target, output):
        return super()._bce(1.0 - target, output)


@pytest.mark.parametrize(
    "per_sample,cls",
    [(False, MixUpGAN), (True, MixUpGAN), (False, _WrongTarget)],
    ids=["per-batch", "per-example", "control-wrong-target"],
)
def test_discriminator_target_equals_lam(per_sample, cls):
    """Real samples are 1 and fakes 0, so the discriminator sees lam itself;
    D(v) = s * v + c outputs a probability, s = 1 and c = 0 at the start.
    BCE(t, p) is stationary in p exactly where p == t, so the gradients of
    s and c vanish (and SGD leaves them unchanged) if and only if each
    example's target is the lam it was mixed with. The step size is small
    (0.05) so that SGD is stable on this loss (its curvature 1 / (p (1 - p))
    is >= 4): at lr 1 float32 rounding of order 1e-7 was amplified about
    threefold per update, up to 4e-5 after four updates for some seeds.
    Measured at lr 0.05: at most 1.2e-8 over 8 seeds, the control 0.29-0.53."""
    gan = cls(
        keras.Sequential([
            keras.Input((1,)),
            keras.layers.Dense(1, kernel_initializer="zeros"),
        ]),
        linear_discriminator(1.0, 0.0),
        alpha=1.0, d_steps=2, per_sample=per_sample, from_logits=False, seed=3,
    )
    gan.compile(
        d_optimizer=keras.optimizers.SGD(0.05),
        g_optimizer=keras.optimizers.SGD(0.0),
        run_eagerly=cls is _WrongTarget,
    )
    history = gan.fit(np.ones((32, 1), "float32"), batch_size=16, verbose=0)
    kernel, bias = weights_of(gan.discriminator)
    moved = abs(kernel.item() - 1.0) + abs(bias.item())
    if cls is _WrongTarget:
        assert moved > 1e-1
    else:
        assert moved < 1e-6
        # The loss is then the mean binary entropy of lam: in (0, log 2].
        assert 0.0 < history.history["d_loss"][0] <= math.log(2.0) + 1e-6


# -------------------------------------------------- saving, callbacks, errors


def small_gan(**kwargs):
    keras.utils.set_random_seed(0)
    return MixUpGAN(
        mlp((2,), 2, name="generator"), mlp((2,), 1, name="discriminator"),
        d_steps=2, seed=5, **kwargs,
    )


def points(n=32):
    return np.random.default_rng(1).normal(size=(n, 2)).astype("float32")


def test_save_load_round_trip_resumes_the_same_training(tmp_path):
    gan = small_gan(alpha=0.5, per_sample=True)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3),
                g_optimizer=keras.optimizers.RMSprop(2e-3))
    gan.fit(points(), batch_size=16, verbose=0, shuffle=False)
    path = tmp_path / "gan.keras"
    gan.save(path)

    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, MixUpGAN)
    assert (loaded.alpha, loaded.d_steps, loaded.per_sample) == (0.5, 2, True)
    assert isinstance(loaded.g_optimizer, keras.optimizers.RMSprop)
    assert int(loaded.d_optimizer.iterations) == 4
    assert int(loaded.g_optimizer.iterations) == 2
    for a, b in zip(gan.weights, loaded.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                      keras.ops.convert_to_numpy(b))
    # Same weights, optimizer state and seed: the next epoch is the same.
    gan.fit(points(), batch_size=16, verbose=0, shuffle=False)
    loaded.fit(points(), batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(gan.trainable_weights, loaded.trainable_weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a),
                                   keras.ops.convert_to_numpy(b), rtol=1e-6)


class _StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("killed")


def test_csv_logger_and_backup_and_restore(tmp_path):
    log, backup = tmp_path / "history.csv", tmp_path / "backup"

    def callbacks():
        return [keras.callbacks.CSVLogger(str(log), append=True),
                keras.callbacks.BackupAndRestore(str(backup))]

    gan = small_gan()
    gan.compile()
    with pytest.raises(RuntimeError, match="killed"):
        gan.fit(points(), batch_size=16, epochs=3, verbose=0,
                callbacks=callbacks() + [_StopAt(1)])
    # A new process: a fresh model resumes from the backup of epoch 0.
    resumed = small_gan()
    resumed.compile()
    history = resumed.fit(points(), batch_size=16, epochs=3, verbose=0,
                          callbacks=callbacks())
    # Epoch 1 ended (and was backed up) before the crash: 2 is left.
    assert history.epoch == [2]
    assert int(resumed.g_optimizer.iterations) == 3 * 2
    assert int(resumed.d_optimizer.iterations) == 3 * 2 * 2
    with open(log, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert all(math.isfinite(float(r["d_loss"])) for r in rows)
    assert all(math.isfinite(float(r["g_loss"])) for r in rows)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"alpha": -1.0}, "Argument `alpha` must be a non-negative"),
        ({"alpha": "big"}, "Argument `alpha` must be"),
        ({"d_steps": 0}, "Argument `d_steps` must be a positive int"),
        ({"d_steps": 2.0}, "Received: d_steps=2.0"),
        ({"per_sample": 1}, "Argument `per_sample` must be a bool"),
        ({"latent_dim": (2, 0)}, "Argument `latent_dim` must be"),
        ({"seed": "x"}, "Argument `seed` must be an int"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixUpGAN(mlp((2,), 2), mlp((2,), 1), **kwargs)


def test_bad_networks_and_optimizers():
    with pytest.raises(ValueError, match="Argument `generator` must be"):
        MixUpGAN("generator", mlp((2,), 1))
    with pytest.raises(ValueError, match="`latent_dim` is needed"):
        MixUpGAN(keras.Sequential([keras.layers.Dense(2)]), mlp((2,), 1))
    with pytest.raises(ValueError, match="discriminator on the generator's"):
        MixUpGAN(mlp((2,), 3), mlp((2,), 1))
    gan = MixUpGAN(keras.Sequential([keras.layers.Dense(2)]), mlp((2,), 1),
                   latent_dim=4)
    assert gan.latent_shape == (4,) and gan.sample_shape == (2,)
    adam = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="two different optimizer instances"):
        gan.compile(d_optimizer=adam, g_optimizer=adam)


@pytest.mark.parametrize(
    "method,data,error,message",
    [
        ("fit", np.zeros((8, 3), "float32"), ValueError,
         r"generator's output shape, \(batch_size,\) \+ \(2,\)"),
        ("evaluate", np.zeros((8, 2), "float32"), NotImplementedError,
         "no evaluation step"),
    ],
)
def test_bad_batches_and_evaluate(method, data, error, message):
    gan = small_gan()
    gan.compile(run_eagerly=True)
    with pytest.raises(error, match=message):
        getattr(gan, method)(data, batch_size=len(data), verbose=0)


def test_config_round_trip():
    gan = small_gan(alpha=0.3, per_sample=True, from_logits=False)
    config = gan.get_config()
    clone = MixUpGAN.from_config(config)
    assert clone.get_config() == config
    assert (clone.alpha, clone.d_steps, clone.latent_dim, clone.seed) == (0.3, 2, 2, 5)
    assert BACKEND in ("jax", "tensorflow", "torch")
