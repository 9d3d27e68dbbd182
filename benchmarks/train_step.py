"""3. The training step: milliseconds per `fit` step, mixup against ERM.

Models: a small CNN and PreAct ResNet-18 (recipes.lib.models) on
CIFAR-sized inputs with SGD and momentum, and the paper's tabular setting
(section 3.6): an MLP with two hidden layers of 128 ReLU units on 64
features (digits-sized), Adam, batch 16 ("mlp_tabular", the paper's batch)
and 1024 ("mlp_tabular_1024"). Keras's default compilation for the backend
(jax.jit on JAX; on a CPU-only TensorFlow, tf.function without XLA). On
the MLP a step takes about a millisecond, so a per-batch fixed cost of the
mixing (a tf.data map call, the sampler's ops) shows there first. Modes:

- ERM: float32 images and sparse labels, sparse cross-entropy;
- mixup_map (tf.data): `keras_mixup.mixup_map(alpha=1, num_classes=10)`
  in the pipeline, one-hot mixed labels, cross-entropy;
- MixUpModel (in-model): `keras_mixup.MixUp(alpha=1)` on the model's input,
  wrapped in `keras_mixup.MixUpModel`, sparse labels (the loss is mixed);
- keras.layers.MixUp (tf.data): the peer on the dict form in the pipeline;
- on images, CutMix and MixUpOrCutMix (timm's defaults: 0.8, 1.0, switch
  0.5) in the pipeline (one-hot labels mixed with the kept fractions) and
  in the model (sparse labels, the loss mixed), beside keras.layers.CutMix
  in the pipeline.

Each mode has its own model and persistent pipeline (batched, prefetched).
After a warm-up `fit` (compilation), the modes run round-robin, a short
`fit` of a few steps each per round; a callback stamps the end of every
step (Keras converts the logs to Python numbers first, so the step has
finished, on JAX too), and the time between consecutive ends is one step:
data fetch, the step and its synchronisation. The ratio to ERM is taken
round by round (median step of the mode / median step of ERM in the same
round) and reported as min/median/max over rounds.
"""

import time

import numpy as np

from benchmarks import timing

NUM_CLASSES = 10
MODES = (
    "ERM",
    "mixup_map (tf.data)",
    "MixUpModel (in-model)",
    "keras.layers.MixUp (tf.data)",
    "CutMix (tf.data)",
    "MixUpOrCutMix (tf.data)",
    "CutMix (in-model)",
    "MixUpOrCutMix (in-model)",
    "keras.layers.CutMix (tf.data)",
)
# Modes that need images (a box over two spatial axes): not on the MLP.
IMAGE_MODES = tuple(m for m in MODES if "CutMix" in m)
# ERM with the one-hot labels and cross-entropy of the tf.data modes: what
# the label format alone costs (the memory benchmark's control).
ERM_ONE_HOT = "ERM, one-hot labels (control)"


def small_cnn(input_shape, num_classes, name="small_cnn"):
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def mlp(input_shape, num_classes, hidden=(128, 128), name="mlp"):
    """The paper's UCI net: two hidden layers of 128 ReLU units."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = inputs
    for units in hidden:
        x = layers.Dense(units, activation="relu")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def body(model_name, input_shape):
    if model_name == "small_cnn":
        return small_cnn(input_shape, NUM_CLASSES)
    if model_name.startswith("mlp_tabular"):
        return mlp(input_shape, NUM_CLASSES)
    if model_name == "preact_resnet18":
        try:
            from recipes.lib.models import preact_resnet18
        except ImportError:  # before the recipes' library moved to recipes.lib
            from recipes.models import preact_resnet18

        return preact_resnet18(input_shape, NUM_CLASSES)
    raise ValueError(f"unknown model {model_name!r}")


def optimizer(model_name):
    """Adam with Keras's defaults for the tabular setting (the paper's UCI
    runs), SGD with momentum for the image models."""
    import keras

    if model_name.startswith("mlp_tabular"):
        return keras.optimizers.Adam()
    return keras.optimizers.SGD(0.01, momentum=0.9)


def mixup_model_available():
    import keras_mixup

    return hasattr(keras_mixup, "MixUpModel")


def build(model_name, mode, input_shape, batch_size, num_examples, seed=0):
    """(compiled model, tf.data pipeline, batch bytes) of one mode."""
    import keras
    import tensorflow as tf

    import keras_mixup

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    images = rng.random((num_examples,) + tuple(input_shape), dtype=np.float32)
    labels = rng.integers(0, NUM_CLASSES, num_examples).astype(np.int32)
    ds = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .repeat()
        .batch(batch_size, drop_remainder=True)
    )
    loss = "categorical_crossentropy"
    net = body(model_name, input_shape)
    if mode == "ERM":
        model, loss = net, "sparse_categorical_crossentropy"
    elif mode == ERM_ONE_HOT:
        ds = ds.map(lambda x, y: (x, tf.one_hot(y, NUM_CLASSES)))
        model = net
    elif mode == "mixup_map (tf.data)":
        ds = ds.map(keras_mixup.mixup_map(alpha=1.0, num_classes=NUM_CLASSES,
                                          seed=seed))
        model = net
    elif mode == "MixUpModel (in-model)":
        if not mixup_model_available():
            raise RuntimeError("keras_mixup.MixUpModel is not available")
        inputs = keras.Input(input_shape)
        outputs = net(keras_mixup.MixUp(alpha=1.0, seed=seed)(inputs))
        model = keras_mixup.MixUpModel(keras.Model(inputs, outputs))
        loss = "sparse_categorical_crossentropy"
    elif mode in ("CutMix (tf.data)", "MixUpOrCutMix (tf.data)"):
        layer_cls = getattr(keras_mixup, mode.split()[0])
        ds = ds.map(layer_cls(num_classes=NUM_CLASSES, seed=seed))
        model = net
    elif mode in ("CutMix (in-model)", "MixUpOrCutMix (in-model)"):
        layer_cls = getattr(keras_mixup, mode.split()[0])
        inputs = keras.Input(input_shape)
        outputs = net(layer_cls(seed=seed)(inputs))
        model = keras_mixup.MixUpModel(keras.Model(inputs, outputs))
        loss = "sparse_categorical_crossentropy"
    elif mode == "keras.layers.CutMix (tf.data)":
        peer_cutmix = keras.layers.CutMix(seed=seed)

        def peer_cutmix_map(x, y):
            out = peer_cutmix({"images": x,
                               "labels": tf.one_hot(y, NUM_CLASSES)},
                              training=True)
            return out["images"], out["labels"]

        ds = ds.map(peer_cutmix_map)
        model = net
    elif mode == "keras.layers.MixUp (tf.data)":
        peer = keras.layers.MixUp(alpha=1.0, seed=seed)

        def peer_map(x, y):
            out = peer({"images": x, "labels": tf.one_hot(y, NUM_CLASSES)},
                       training=True)
            return out["images"], out["labels"]

        ds = ds.map(peer_map)
        model = net
    else:
        raise ValueError(f"unknown mode {mode!r}")
    model.compile(optimizer=optimizer(model_name), loss=loss)
    batch_bytes = 4 * batch_size * int(np.prod(input_shape))
    return model, ds.prefetch(2), batch_bytes


class StepTimer:
    """A Keras callback stamping the end of every training step."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.wall, self.cpu = [], []

            def on_train_batch_end(self, batch, logs=None):
                self.wall.append(time.perf_counter())
                self.cpu.append(time.process_time())

            def steps(self):
                return np.diff(self.wall), np.diff(self.cpu)

        return _Timer()


def measure_model(model_name, *, batch_size, input_shape, steps, rounds,
                  warmup_steps, num_examples):
    import keras

    built, failed = {}, {}
    modes = [m for m in MODES if len(input_shape) == 3 or m not in IMAGE_MODES]
    for mode in modes:
        try:
            model, ds, batch_bytes = build(model_name, mode, input_shape,
                                           batch_size, num_examples)
            t0 = time.perf_counter()
            model.fit(ds, epochs=1, steps_per_epoch=warmup_steps, verbose=0,
                      shuffle=False)
            built[mode] = (model, ds, time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001 - reported as a row
            failed[mode] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    per_round = {mode: [] for mode in built}
    per_round_cpu = {mode: [] for mode in built}
    all_steps = {mode: [] for mode in built}
    for _ in range(rounds):
        for mode, (model, ds, _) in built.items():
            timer = StepTimer()
            model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0,
                      callbacks=[timer], shuffle=False)
            wall, cpu = timer.steps()
            per_round[mode].append(float(np.median(wall)))
            per_round_cpu[mode].append(float(np.median(cpu)))
            all_steps[mode].extend(wall.tolist())
    rows = []
    base = per_round.get("ERM")
    base_cpu = per_round_cpu.get("ERM")
    for mode in modes:
        if mode in failed:
            status = ("not available: keras_mixup.MixUpModel does not exist yet"
                      if "not available" in failed[mode] else
                      f"fails: {failed[mode]}")
            rows.append({"model": model_name, "mode": mode, "status": status,
                         "ms_per_step": None, "ratio_to_erm": None,
                         "cpu_ratio_to_erm": None, "warmup_s": None})
            continue
        rows.append({
            "model": model_name,
            "mode": mode,
            "status": "ok",
            "batch_size": batch_size,
            "ms_per_step": timing.summary([s * 1e3 for s in all_steps[mode]], 2),
            "ratio_to_erm": timing.summary(
                [m / b for m, b in zip(per_round[mode], base)]
            ) if base else None,
            "cpu_ratio_to_erm": timing.summary(
                [m / b for m, b in zip(per_round_cpu[mode], base_cpu) if b > 0]
            ) if base_cpu else None,
            "warmup_s": round(built[mode][2], 1),
        })
    del built
    keras.backend.clear_session()
    return rows


FULL = {
    "small_cnn": dict(batch_size=128, input_shape=(32, 32, 3), steps=9,
                      rounds=8, warmup_steps=3, num_examples=2048),
    # Batch 32: a step at 128 takes 8-15 s on a 2-core CPU; mixing scales
    # with the batch as the step does, so the ratio is the same.
    "preact_resnet18": dict(batch_size=32, input_shape=(32, 32, 3), steps=3,
                            rounds=6, warmup_steps=2, num_examples=256),
    # The paper's UCI setting on a digits-sized table: a step is about a
    # millisecond, so many steps per round (90 = one digits epoch).
    "mlp_tabular": dict(batch_size=16, input_shape=(64,), steps=90, rounds=12,
                        warmup_steps=20, num_examples=1440),
    "mlp_tabular_1024": dict(batch_size=1024, input_shape=(64,), steps=20,
                             rounds=10, warmup_steps=5, num_examples=8192),
}
QUICK = {
    "small_cnn": dict(batch_size=8, input_shape=(8, 8, 3), steps=3, rounds=2,
                      warmup_steps=1, num_examples=32),
    "mlp_tabular": dict(batch_size=4, input_shape=(6,), steps=3, rounds=2,
                        warmup_steps=1, num_examples=32),
}


def run(quick=False, models=None):
    import keras

    config = QUICK if quick else FULL
    models = models or list(config)
    rows = []
    for name in models:
        settings = config.get(name) or {**FULL[name], **dict(
            steps=2, rounds=1, warmup_steps=1)}
        rows.extend(measure_model(name, **settings))
    return {"backend": keras.backend.backend(), "rows": rows}


def table(result):
    lines = [
        f"Training step ({result['backend']}): ms per fit step and ratio to "
        "ERM, median (min-max)",
        f"{'model':16} {'mode':30} {'ms/step':>26} {'ratio to ERM':>24} "
        f"{'CPU ratio':>24}",
    ]
    for r in result["rows"]:
        if r["status"] != "ok":
            lines.append(f"{r['model']:16} {r['mode']:30} {r['status']}")
            continue
        lines.append(
            f"{r['model']:16} {r['mode']:30} "
            f"{timing.fmt(r['ms_per_step'], ''):>26} "
            f"{timing.fmt(r['ratio_to_erm']):>24} "
            f"{timing.fmt(r['cpu_ratio_to_erm']):>24}"
        )
    return "\n".join(lines)
