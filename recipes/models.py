"""Model builders for the recipes: one function per architecture of the paper,
each returning an uncompiled keras.Model that outputs class probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers


def mlp(
    input_dim: int,
    num_classes: int,
    hidden: Sequence[int] = (128, 128),
    *,
    activation: str = "relu",
    name: str = "mlp",
) -> keras.Model:
    """Fully connected classifier; the paper's UCI net (section 3.6) is the
    default: two hidden layers of 128 ReLU units, softmax output."""
    if not isinstance(input_dim, int) or input_dim < 1:
        raise ValueError(f"mlp: input_dim must be a positive int, got {input_dim!r}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"mlp: num_classes must be an int >= 2, got {num_classes!r}")
    hidden = tuple(hidden)
    if not all(isinstance(units, int) and units >= 1 for units in hidden):
        raise ValueError(f"mlp: hidden must be positive ints, got {hidden!r}")
    inputs = keras.Input((input_dim,), name="features")
    x = inputs
    for index, units in enumerate(hidden, start=1):
        x = layers.Dense(units, activation=activation, name=f"hidden_{index}")(x)
    # float32 probabilities even under a mixed-precision policy: the loss on
    # mixed soft labels needs them.
    outputs = layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name=name)
