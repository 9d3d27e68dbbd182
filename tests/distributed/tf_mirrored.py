"""Run by tests/test_distributed.py with 2 logical CPU devices (TF)."""

import json

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import keras_mixup  # noqa: E402

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
result = {"replicas": strategy.num_replicas_in_sync}
x = np.random.default_rng(0).random((128, 6)).astype("float32")
for hidden in (False, True):
    for per_sample in (False, True):
        with strategy.scope():
            inputs = keras.Input((6,))
            h = keras.layers.Identity()(inputs) if hidden else inputs
            h = keras_mixup.MixUp(1.0, per_sample=per_sample, seed=1)(h)
            zero = keras.layers.Dense(6, kernel_initializer="zeros", trainable=False)
            model = keras_mixup.MixUpModel(
                keras.Model(inputs, keras.layers.Add()([h, zero(h)]))
            )
            model.compile("sgd", "mse")
        history = model.fit(x, x, batch_size=32, epochs=2, verbose=0)
        result[f"loss_hidden_{hidden}_per_sample_{per_sample}"] = history.history["loss"]
print("RESULT " + json.dumps(result))
