"""Run by tests/test_distributed.py with 4 simulated CPU devices (JAX)."""

import json
import re

import numpy as np

import jax
import keras
import keras_mixup
from keras_mixup import mixing
from keras_mixup import model as mixup_model

COLLECTIVES = r"all-gather|all-to-all|collective-permute|all-reduce|reduce-scatter"
devices = keras.distribution.list_devices("cpu")
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
result = {"devices": len(devices), "groups": mixup_model._data_parallel_groups()}


def echo_model(per_sample):
    inputs = keras.Input((6,))
    h = keras_mixup.MixUp(1.0, per_sample=per_sample, seed=1)(
        keras.layers.Identity()(inputs)
    )
    zero = keras.layers.Dense(6, kernel_initializer="zeros", trainable=False)
    return keras_mixup.MixUpModel(
        keras.Model(inputs, keras.layers.Add()([h, zero(h)]))
    )


x = np.random.default_rng(0).random((128, 6)).astype("float32")
for per_sample in (False, True):
    model = echo_model(per_sample)
    model.compile("sgd", "mse")
    history = model.fit(x, x, batch_size=32, epochs=2, verbose=0)
    result[f"loss_per_sample_{per_sample}"] = history.history["loss"]

# The pairs of a training step: drawn per device (local indices, one row each).
model = echo_model(False)
model(x[:32], training=True)
_, _, perm = keras_mixup.scope.take_last().records[0]
result["perm_shape"] = list(perm.shape)

# The compiled mixing of a batch sharded over the devices: no collectives.
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("batch",))
sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
images = jax.device_put(np.random.rand(32, 8, 8, 3).astype("float32"), sharding)
labels = jax.device_put(np.eye(10, dtype="float32")[np.arange(32) % 10], sharding)


def compiled_mixing_collectives(groups):
    def step(state, x, y):
        gen = keras.random.SeedGenerator(0)
        with keras.StatelessScope(state_mapping=[(gen.state, state)]):
            lam, perm = mixing.draw(gen, 1.0, 32, per_sample=True, groups=groups)
            return mixing.mix((x, y), lam, perm)

    state = jax.numpy.zeros((2,), "uint32")
    hlo = jax.jit(step).lower(state, images, labels).compile().as_text()
    return sorted(set(re.findall(COLLECTIVES, hlo)))


result["collectives_per_device_pairs"] = compiled_mixing_collectives(len(devices))
result["collectives_global_pairs"] = compiled_mixing_collectives(1)

try:
    mixing.sample_permutation(keras.random.SeedGenerator(0), 30, groups=4)
except ValueError as error:
    result["indivisible_error"] = str(error)
print("RESULT " + json.dumps(result))
