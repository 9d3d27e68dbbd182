"""MixUpModel: labels follow the MixUp layers inside a model."""

import numpy as np
import pytest

import keras
import keras_mixup
from keras_mixup import mixing


def _echo_model(*, hidden, per_sample, alpha=1.0, seed=3, dim=6, layers=1):
    """Output = (mixed) input + a zero Dense: trained with y == x, the loss is
    exactly 0 only if y was mixed with the inputs' lam and pairs."""
    inputs = keras.Input((dim,))
    h = inputs
    mixups = []
    for i in range(layers):
        if hidden or i > 0:
            h = keras.layers.Identity()(h)
        mixup = keras_mixup.MixUp(alpha, per_sample=per_sample, seed=seed + i)
        mixups.append(mixup)
        h = mixup(h)
    zero = keras.layers.Dense(
        dim, kernel_initializer="zeros", bias_initializer="zeros", trainable=False
    )
    outputs = keras.layers.Add()([h, zero(h)])
    return keras.Model(inputs, outputs), mixups


# Inputs and labels are mixed by the same function, t[perm] + lam * (t -
# t[perm]), so with the same draw they agree to the last bit on TF and in
# most compiled graphs; XLA may still code-generate the two fusions
# differently (an FMA in one, not in the other) and leave an ulp, i.e. a
# loss of ~1e-16. Labels mixed with any other lam or pairs give ~1e-2: the
# bound below separates the two by ten orders of magnitude.
EXACT = 1e-12


@pytest.mark.parametrize(
    "hidden,per_sample,mode,steps_per_execution",
    [
        (False, False, "eager", 1),
        (True, True, "eager", 1),
        (False, False, "compiled", 1),
        (True, True, "compiled", 1),
        (False, True, "jit", 1),
        (True, False, "jit", 1),
        (True, True, "jit", 3),
    ],
    ids=["input-batch-eager", "hidden-example-eager", "input-batch-compiled",
         "hidden-example-compiled", "input-example-jit", "hidden-batch-jit",
         "hidden-example-jit-spe3"],
)
def test_invariant_labels_mixed_with_the_inputs_draw(
    hidden, per_sample, mode, steps_per_execution
):
    if steps_per_execution > 1 and keras.backend.backend() == "torch":
        pytest.skip("Keras's torch trainer refuses steps_per_execution > 1 "
                    "(keras/src/backend/torch/trainer.py), for any model")
    inner, _ = _echo_model(hidden=hidden, per_sample=per_sample)
    model = keras_mixup.MixUpModel(inner)
    model.compile(
        "sgd", loss="mse", run_eagerly=mode == "eager",
        jit_compile=mode == "jit", steps_per_execution=steps_per_execution,
    )
    x = np.random.default_rng(0).random((96, 6)).astype("float32")
    history = model.fit(x, x, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert max(history.history["loss"]) < EXACT


@pytest.mark.parametrize("hidden", [False, True], ids=["input", "hidden"])
def test_invariant_fails_when_labels_are_not_mixed(hidden):
    """The control: labels left unmixed (what keras.layers.MixUp does in a
    model) give a clearly non-zero loss, so the invariant can fail."""

    class Unmixed(keras_mixup.MixUpModel):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         training=True):
            keras_mixup.scope.take_last()
            return keras.Model.compute_loss(self, x, y, y_pred, sample_weight)

    control = Unmixed(_echo_model(hidden=hidden, per_sample=False)[0])
    control.compile("sgd", loss="mse")
    x = np.random.default_rng(0).random((96, 6)).astype("float32")
    loss = control.fit(x, x, batch_size=16, epochs=1, verbose=0).history["loss"]
    assert loss[0] > 1e-3


def test_sparse_labels_mix_the_loss_per_example():
    """lam * L(y_a) + (1 - lam) * L(y_b), against a numpy reference."""
    inputs = keras.Input((4,))
    mixup = keras_mixup.MixUp(1.0, per_sample=True, seed=5)
    logits = keras.layers.Dense(3)(mixup(inputs))
    model = keras_mixup.MixUpModel(keras.Model(inputs, logits))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("sgd", loss=loss_fn)
    rng = np.random.default_rng(1)
    x = rng.random((8, 4)).astype("float32")
    y = rng.integers(0, 3, 8).astype("int32")
    w = rng.random(8).astype("float32")

    state_before = keras.ops.convert_to_numpy(mixup.seed_generator.state.value)
    y_pred = model(x, training=True)
    loss = float(model.compute_loss(x, y, y_pred, sample_weight=w))

    # Replay the layer's draw from its seed state: the same lam and pairs.
    replay = keras.random.SeedGenerator(0)
    replay.state.assign(state_before)
    lam, perm = mixing.draw(replay, 1.0, 8, per_sample=True)
    lam, perm = (keras.ops.convert_to_numpy(t) for t in (lam, perm))
    p = keras.ops.convert_to_numpy(keras.ops.softmax(y_pred))
    ce = lambda labels: -np.log(p[np.arange(8), labels])  # noqa: E731
    w_mixed = w[perm] + lam * (w - w[perm])
    expected = np.mean(w_mixed * (lam * ce(y) + (1 - lam) * ce(y[perm])))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_sparse_labels_one_hot_from_model_output_for_categorical_loss():
    inputs = keras.Input((4,))
    h = keras_mixup.MixUp(0.5, seed=1)(inputs)
    outputs = keras.layers.Dense(5, activation="softmax")(h)
    model = keras_mixup.MixUpModel(keras.Model(inputs, outputs))
    model.compile("adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.random.rand(32, 4).astype("float32")
    y = np.random.randint(0, 5, 32)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert len(model.evaluate(x, y, verbose=0)) == 2


def test_dict_outputs_share_the_draw():
    inputs = keras.Input((6,))
    h = keras_mixup.MixUp(1.0, seed=2)(inputs)
    zero = keras.layers.Dense(6, kernel_initializer="zeros", trainable=False)
    a = keras.layers.Add(name="a")([h, zero(h)])
    b = keras.layers.Add(name="b")([h, zero(h)])
    model = keras_mixup.MixUpModel(keras.Model(inputs, {"a": a, "b": b}))
    model.compile("sgd", loss={"a": "mse", "b": "mae"})
    x = np.random.rand(32, 6).astype("float32")
    history = model.fit(x, {"a": x, "b": x}, batch_size=8, verbose=0)
    assert history.history["loss"][0] < EXACT


def test_manifold_chooses_each_layer_uniformly():
    inner, mixups = _echo_model(hidden=False, per_sample=False, layers=3)
    model = keras_mixup.MixUpModel(inner, seed=11)
    assert model.mixup_layers == mixups
    x = np.random.rand(8, 6).astype("float32")
    counts = np.zeros(3)
    for _ in range(90):
        model(x, training=True)
        scope = keras_mixup.scope.take_last()
        active = [bool(keras.ops.convert_to_numpy(a)) for a, _, _ in scope.records]
        assert sum(active) == 1
        counts[active.index(True)] += 1
        # Inactive layers drew lam == 1 exactly: they pass features through.
        for (is_active, lam, _) in scope.records:
            if not bool(keras.ops.convert_to_numpy(is_active)):
                assert float(keras.ops.convert_to_numpy(lam)) == 1.0
    # Chi-square against uniform, 2 dof: 13.8 is the 0.1% quantile.
    expected = counts.sum() / 3
    assert ((counts - expected) ** 2 / expected).sum() < 13.8


def test_manifold_invariant_holds():
    inner, _ = _echo_model(hidden=True, per_sample=True, layers=3)
    model = keras_mixup.MixUpModel(inner, seed=4)
    model.compile("sgd", loss="mse")
    x = np.random.rand(64, 6).astype("float32")
    assert model.fit(x, x, batch_size=16, verbose=0).history["loss"][0] < EXACT


def test_evaluate_and_predict_are_the_unwrapped_model():
    inputs = keras.Input((5,))
    h = keras.layers.Dense(8, activation="relu")(inputs)
    h = keras_mixup.MixUp(1.0)(h)
    outputs = keras.layers.Dense(3, activation="softmax")(h)
    inner = keras.Model(inputs, outputs)
    model = keras_mixup.MixUpModel(inner)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    inner.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.rand(40, 5).astype("float32")
    y = np.random.randint(0, 3, 40)
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), inner.predict(x, verbose=0)
    )
    assert model.evaluate(x, y, verbose=0) == inner.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(inner(x))
    )


def test_unwrapped_layer_in_training_fails_loudly():
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(keras_mixup.MixUp(1.0)(inputs))
    model = keras.Model(inputs, outputs)
    x = np.random.rand(4, 4).astype("float32")
    # Inference is the identity.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x)),
        keras.ops.convert_to_numpy(model.layers[-1](x)),
    )
    with pytest.raises(RuntimeError, match="MixUpModel"):
        model(x, training=True)
    model.compile("sgd", "mse")
    with pytest.raises(RuntimeError, match="MixUpModel"):
        model.fit(x, np.zeros((4, 2)), verbose=0)


def test_model_without_mixup_layer_is_refused():
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="MixUp"):
        keras_mixup.MixUpModel(keras.Model(inputs, keras.layers.Dense(2)(inputs)))
    with pytest.raises(ValueError, match="model"):
        keras_mixup.MixUpModel("not a model")


def _train_steps(model, x, y, epochs, callbacks=()):
    model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0,
              callbacks=list(callbacks))
    return [keras.ops.convert_to_numpy(w) for w in model.model.weights]


def _classifier(seed, alpha=1.0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    h = keras_mixup.MixUp(alpha, seed=seed)(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(h)
    model = keras_mixup.MixUpModel(keras.Model(inputs, outputs), seed=seed)
    model.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy")
    return model


def test_warmup_epochs_are_bit_identical_to_erm():
    x = np.random.default_rng(2).random((32, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[np.random.default_rng(3).integers(0, 3, 32)]
    warm = _train_steps(
        _classifier(7), x, y, epochs=2,
        callbacks=[keras_mixup.AlphaScheduler(warmup_epochs=2)],
    )
    erm = _train_steps(_classifier(7, alpha=0.0), x, y, epochs=2)
    mixed = _train_steps(_classifier(7), x, y, epochs=2)
    for w_warm, w_erm, w_mixed in zip(warm, erm, mixed):
        if w_warm.dtype.kind == "f" and w_warm.ndim == 2:  # the head kernel
            np.testing.assert_array_equal(w_warm, w_erm)
            assert not np.array_equal(w_warm, w_mixed)


def test_scheduler_follows_the_schedule_per_epoch_and_step():
    x = np.random.rand(32, 4).astype("float32")
    y = np.eye(3, dtype="float32")[np.random.randint(0, 3, 32)]
    model = _classifier(1, alpha=2.0)
    mixup = model.mixup_layers[0]
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if keras.backend.backend() == "jax":
                self.model.jax_state_sync()
            seen.append(mixup.alpha)

    schedule = keras_mixup.AlphaScheduler(
        lambda step, alpha: alpha * step / 8, unit="step", off_epoch=2
    )
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[schedule, Record()])
    expected = [2.0 * s / 8 for s in range(8)] + [0.0] * 4
    np.testing.assert_allclose(seen, expected, rtol=1e-6)


def test_scheduler_validates_arguments():
    with pytest.raises(ValueError, match="warmup_epochs"):
        keras_mixup.AlphaScheduler(warmup_epochs=-1)
    with pytest.raises(ValueError, match="unit"):
        keras_mixup.AlphaScheduler(unit="batch")
    with pytest.raises(ValueError, match="schedule"):
        keras_mixup.AlphaScheduler(schedule=3)


def test_save_load_and_resume(tmp_path):
    x = np.random.rand(32, 4).astype("float32")
    y = np.random.randint(0, 3, 32)
    model = _classifier(5)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.model.get_layer(index=1).alpha = 0.4
    path = tmp_path / "mixup_model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, keras_mixup.MixUpModel)
    assert loaded.mixup_layers[0].alpha == pytest.approx(0.4)
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
    # Resumes: the optimizer state came back, training goes on.
    before = int(loaded.optimizer.iterations)
    history = loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(loaded.optimizer.iterations) == before + 4
    # The inner model is a plain Keras model for inference and export.
    np.testing.assert_array_equal(
        loaded.model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_invariant_and_float32_labels(policy):
    keras.config.set_dtype_policy(policy)
    try:
        inner, _ = _echo_model(hidden=True, per_sample=False)
        model = keras_mixup.MixUpModel(inner)
        model.compile("sgd", loss="mse")
        x = np.random.rand(32, 6).astype("float32")
        loss = model.fit(x, x, batch_size=8, verbose=0).history["loss"][0]
        # Inputs mix in the compute dtype, labels in float32: equal up to
        # the compute dtype's rounding.
        tolerance = {"mixed_float16": 1e-6, "mixed_bfloat16": 1e-4}[policy]
        assert loss < tolerance
    finally:
        keras.config.set_dtype_policy("float32")


class SubclassedEcho(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.mixup = keras_mixup.MixUp(1.0, per_sample=True, seed=8)
        self.zero = keras.layers.Dense(6, kernel_initializer="zeros",
                                       trainable=False)

    def call(self, inputs, training=None):
        h = self.mixup(inputs, training=training)
        return h + self.zero(h)


@pytest.mark.parametrize("kind", ["sequential", "subclassed"])
def test_sequential_and_subclassed_models(kind):
    if kind == "sequential":
        inner = keras.Sequential([
            keras.Input((6,)),
            keras.layers.Identity(),
            keras_mixup.MixUp(1.0, seed=9),
            keras.layers.Dense(6, kernel_initializer="identity", trainable=False),
        ])
    else:
        inner = SubclassedEcho()
    model = keras_mixup.MixUpModel(inner)
    assert len(model.mixup_layers) == 1
    model.compile("sgd", loss="mse")
    x = np.random.rand(32, 6).astype("float32")
    history = model.fit(x, x, batch_size=8, epochs=1, verbose=0)
    assert history.history["loss"][0] < EXACT
    np.testing.assert_array_equal(model.predict(x, verbose=0),
                                  inner.predict(x, verbose=0))
