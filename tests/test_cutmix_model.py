"""CutMix and MixUpOrCutMix inside a MixUpModel: labels follow the pasted area.

The exact invariant: every pixel of an image is the one-hot of its class,
global average pooling gives the fraction of pixels from each class, a
zero-initialised Dense adds nothing, and the model is trained with MSE
against one-hot labels. The prediction of a mixed image is then
kept * e_own + (1 - kept) * e_partner (mixup: lam * e_own + (1 - lam) *
e_partner), so the loss is exactly 0 (to the last ulp) only if the labels
were mixed with each example's kept fraction (or lam) and partner.
"""

import keras
import numpy as np
import pytest

import keras_mixup
from keras_mixup import CutMix
from keras_mixup import MixUpOrCutMix

K = 4
# Labels and pooled inputs agree to an ulp or so (XLA may fuse the mean and
# the label mix differently); labels mixed with another weight or partner
# give ~1e-2. See test_model.py.
EXACT = 1e-12


def class_images(n=96, h=6, w=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    one_hot = np.eye(K, dtype="float32")[y]
    x = np.broadcast_to(one_hot[:, None, None, :], (n, h, w, K)).copy()
    return x, one_hot, y


def pooled_model(layer, *, hidden=False):
    inputs = keras.Input((6, 5, K))
    h = inputs
    if hidden:
        h = keras.layers.Identity()(h)
    h = layer(h)
    pooled = keras.layers.GlobalAveragePooling2D()(h)
    zero = keras.layers.Dense(K, kernel_initializer="zeros",
                              bias_initializer="zeros", trainable=False)
    outputs = keras.layers.Add()([pooled, zero(pooled)])
    return keras.Model(inputs, outputs)


MODES = [("eager", False, True), ("compiled", False, False),
         ("jit", True, False)]


@pytest.mark.parametrize("mode,jit,eager", MODES, ids=[m[0] for m in MODES])
@pytest.mark.parametrize("per_sample", [False, True], ids=["batch", "example"])
@pytest.mark.parametrize("make", [
    lambda ps: CutMix(1.0, per_sample=ps, seed=3),
    lambda ps: CutMix(1.0, per_sample=ps, minmax=(0.2, 0.7), prob=0.8, seed=3),
    lambda ps: MixUpOrCutMix(0.8, 1.0, per_sample=ps, prob=0.9, seed=3),
], ids=["cutmix", "cutmix-minmax-prob", "switch"])
def test_loss_is_exactly_zero_with_the_pasted_area_weights(make, per_sample,
                                                           mode, jit, eager):
    x, y, _ = class_images()
    model = keras_mixup.MixUpModel(pooled_model(make(per_sample)))
    model.compile("sgd", loss="mse", run_eagerly=eager, jit_compile=jit)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False,
                        verbose=0)
    assert max(history.history["loss"]) < EXACT


@pytest.mark.parametrize("make", [
    lambda: CutMix(1.0, seed=3),
    lambda: MixUpOrCutMix(0.8, 1.0, per_sample=True, seed=3),
], ids=["cutmix", "switch"])
def test_control_labels_with_lam_instead_of_the_kept_fraction_fail(make):
    """The control: the same model with labels left unmixed, or mixed with
    the drawn lam instead of the kept fraction, has a clearly non-zero
    loss, so the invariant can fail."""

    class Unmixed(keras_mixup.MixUpModel):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         training=True):
            keras_mixup.scope.take_last()
            return keras.Model.compute_loss(self, x, y, y_pred, sample_weight)

    x, y, _ = class_images()
    control = Unmixed(pooled_model(make()))
    control.compile("sgd", loss="mse")
    loss = control.fit(x, y, batch_size=16, epochs=1, verbose=0).history["loss"]
    assert loss[0] > 1e-3


def test_sparse_labels_with_a_sparse_loss_mix_the_loss():
    """Sparse labels, sparse loss: kept * L(y) + (1 - kept) * L(y[perm]),
    so the mean over a batch equals the one-hot MSE run's."""
    x, one_hot, y = class_images()
    model = keras_mixup.MixUpModel(pooled_model(CutMix(1.0, per_sample=True,
                                                       seed=3)))
    model.compile("sgd", loss="categorical_crossentropy")
    dense = model.fit(x, one_hot, batch_size=16, epochs=1, shuffle=False,
                      verbose=0).history["loss"]
    model = keras_mixup.MixUpModel(pooled_model(CutMix(1.0, per_sample=True,
                                                       seed=3)))
    model.compile("sgd", loss="sparse_categorical_crossentropy")
    sparse = model.fit(x, y.astype("int32"), batch_size=16, epochs=1,
                       shuffle=False, verbose=0).history["loss"]
    # Cross-entropy of mixed one-hot labels is linear in the labels.
    np.testing.assert_allclose(sparse, dense, rtol=1e-5)


def test_cutmix_on_a_hidden_feature_map():
    x, y, _ = class_images()
    model = keras_mixup.MixUpModel(pooled_model(CutMix(1.0, per_sample=True,
                                                       seed=3), hidden=True))
    model.compile("sgd", loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert max(history.history["loss"]) < EXACT


def test_manifold_with_mixup_and_cutmix_candidates():
    """A MixUp at the input and a CutMix on the feature map: one of them
    mixes each step, and the labels follow whichever did."""
    inputs = keras.Input((6, 5, K))
    h = keras_mixup.MixUp(1.0, seed=1)(inputs)
    h = keras.layers.Identity()(h)
    h = CutMix(1.0, per_sample=True, seed=2)(h)
    pooled = keras.layers.GlobalAveragePooling2D()(h)
    zero = keras.layers.Dense(K, kernel_initializer="zeros",
                              bias_initializer="zeros", trainable=False)
    model = keras_mixup.MixUpModel(
        keras.Model(inputs, keras.layers.Add()([pooled, zero(pooled)])), seed=0)
    assert len(model.mixup_layers) == 2
    model.compile("sgd", loss="mse")
    x, y, _ = class_images()
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert max(history.history["loss"]) < EXACT


def test_evaluate_and_predict_are_the_plain_model():
    x, y, _ = class_images(32)
    inner = pooled_model(MixUpOrCutMix(seed=1))
    model = keras_mixup.MixUpModel(inner)
    model.compile("sgd", loss="mse")
    np.testing.assert_array_equal(model.predict(x, verbose=0), x.mean((1, 2)))
    assert model.evaluate(x, y, verbose=0) < EXACT
