"""Fixtures and hooks for the keras-mixup tests; shared helpers are in helpers.py."""

import os

# Quiet TensorFlow before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import pytest  # noqa: E402

from tests.helpers import BACKEND  # noqa: E402


@pytest.fixture
def backend():
    """The running Keras backend's name."""
    return BACKEND


@pytest.fixture(autouse=True)
def float32_policy():
    """Every test starts and ends with the float32 dtype policy."""
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


# The image and speech recipes target TensorFlow and JAX (tf.data and tfds
# pipelines, XLA, TPU). On torch Keras trains them eagerly, converting every
# tf.data batch, and one file's smoke runs took over 18 minutes on the
# shared 2-core machine: past CI's budget. The library's tests all run on
# torch, and so do the other recipes' smoke tests.
TF_JAX_ONLY_RECIPE_TESTS = ("test_recipe_cifar.py", "test_recipe_imagenet.py",
                            "test_recipe_speech.py")


def pytest_collection_modifyitems(config, items):
    if BACKEND != "torch":
        return
    skip = pytest.mark.skip(reason="image/speech recipe smoke test: TF and JAX "
                            "only (tf.data pipelines; CI time on torch)")
    for item in items:
        if item.path.name in TF_JAX_ONLY_RECIPE_TESTS:
            item.add_marker(skip)
