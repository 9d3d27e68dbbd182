"""Run by tests/test_distributed.py with 4 simulated CPU devices (JAX):
CutMix and the mixup/CutMix switch inside a MixUpModel under DataParallel."""

import json
import re

import numpy as np

import jax
import keras
import keras_mixup
from keras_mixup import boxes
from keras_mixup import mixing

COLLECTIVES = r"all-gather|all-to-all|collective-permute|all-reduce|reduce-scatter"
K = 4
devices = keras.distribution.list_devices("cpu")
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
result = {"devices": len(devices)}


def pooled_model(layer):
    """Class images, global average pooling, a zero Dense: with MSE against
    one-hot labels the loss is exactly 0 only with the pasted-area weights
    and pairs (tests/test_cutmix_model.py)."""
    inputs = keras.Input((6, 5, K))
    pooled = keras.layers.GlobalAveragePooling2D()(layer(inputs))
    zero = keras.layers.Dense(K, kernel_initializer="zeros", trainable=False)
    return keras_mixup.MixUpModel(
        keras.Model(inputs, keras.layers.Add()([pooled, zero(pooled)])))


rng = np.random.default_rng(0)
y = np.eye(K, dtype="float32")[rng.integers(0, K, 128)]
x = np.broadcast_to(y[:, None, None, :], (128, 6, 5, K)).copy()
layers = {
    "cutmix": lambda ps: keras_mixup.CutMix(1.0, per_sample=ps, seed=1),
    "switch": lambda ps: keras_mixup.MixUpOrCutMix(per_sample=ps, prob=0.9,
                                                   seed=1),
}
for name, make in layers.items():
    for per_sample in (False, True):
        model = pooled_model(make(per_sample))
        model.compile("sgd", "mse")
        history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
        result[f"loss_{name}_{per_sample}"] = history.history["loss"]

# The pairs of a training step: drawn per device (local indices, one row each).
model = pooled_model(keras_mixup.CutMix(1.0, per_sample=True, seed=1))
model(x[:32], training=True)
_, weight, perm = keras_mixup.scope.take_last().records[0]
result["perm_shape"] = list(perm.shape)
result["weight_shape"] = list(weight.shape)

# The compiled family mixing of a batch sharded over the devices.
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("batch",))
sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
images = jax.device_put(np.random.rand(32, 8, 8, 3).astype("float32"), sharding)
labels = jax.device_put(np.eye(10, dtype="float32")[np.arange(32) % 10], sharding)


def compiled_collectives(groups):
    def step(state, x, y):
        gen = keras.random.SeedGenerator(0)
        with keras.StatelessScope(state_mapping=[(gen.state, state)]):
            d = boxes.draw(gen, 32, (8, 8), mixup_alpha=0.8, cutmix_alpha=1.0,
                           per_sample=True, groups=groups)
            x = boxes.apply(x, mixing.partners(x, d["perm"]), d, (8, 8), (1, 2))
            y = boxes.mix_labels(y, mixing.partners(y, d["perm"]), d["weight"])
            return x, y

    state = jax.numpy.zeros((2,), "uint32")
    hlo = jax.jit(step).lower(state, images, labels).compile().as_text()
    return sorted(set(re.findall(COLLECTIVES, hlo)))


result["collectives_per_device_pairs"] = compiled_collectives(len(devices))
result["collectives_global_pairs"] = compiled_collectives(1)
print("RESULT " + json.dumps(result))
