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
