"""Data from torch.utils.data.DataLoader and keras.utils.PyDataset with fit.

Two ways to mix there: in the model (MixUpModel mixes the labels with the
draw of its MixUp layers), or with the MixUp layer on each batch (a
DataLoader's collate_fn, a PyDataset's __getitem__). Keras's `fit` takes
both kinds of data on every backend.
"""

import keras
import numpy as np
import pytest

import keras_mixup
from tests.helpers import BACKEND, check_mixed, np_one_hot, to_numpy

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, TensorDataset, default_collate  # noqa: E402

B, K, DIM = 8, 3, 6
# Labels mixed with any other draw than the inputs' give losses ~1e-2.
EXACT = 1e-12


def echo_model(seed=3):
    """Output = (mixed) input + a zero Dense: trained with y == x, the loss is
    exactly 0 only if y was mixed with the inputs' lam and pairs."""
    inputs = keras.Input((DIM,))
    h = keras_mixup.MixUp(1.0, seed=seed)(keras.layers.Identity()(inputs))
    zero = keras.layers.Dense(DIM, kernel_initializer="zeros", trainable=False)
    model = keras_mixup.MixUpModel(keras.Model(inputs, keras.layers.Add()([h, zero(h)])))
    model.compile("sgd", loss="mse")
    return model


class EchoBatches(keras.utils.PyDataset):
    """(x, x) batches of an array."""

    def __init__(self, x):
        super().__init__()
        self.x = x

    def __len__(self):
        return len(self.x) // B

    def __getitem__(self, i):
        x = self.x[i * B:(i + 1) * B]
        return x, x


@pytest.mark.parametrize("source", ["DataLoader", "PyDataset"])
def test_mixup_model_fits_loaders_with_labels_following_the_draw(source):
    x = np.random.default_rng(0).random((6 * B, DIM)).astype("float32")
    if source == "DataLoader":
        data = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(x)),
                          batch_size=B, shuffle=True)
    else:
        data = EchoBatches(x)
    history = echo_model().fit(data, epochs=2, shuffle=False, verbose=0)
    assert max(history.history["loss"]) < EXACT


def _probe_dataset(n_batches, seed=0):
    """(x, y, sample_weight) whose x holds an identity probe per batch."""
    rng = np.random.default_rng(seed)
    n = n_batches * B
    x = {
        "probe": np.tile(np.eye(B, dtype="float32"), (n_batches, 1)),
        "features": rng.normal(size=(n, 4, 3)).astype("float32"),
    }
    y = rng.integers(0, K, size=(n,)).astype("int64")
    w = rng.uniform(0.5, 2.0, size=(n,)).astype("float32")
    return x, y, w


class Examples(torch.utils.data.Dataset):
    def __init__(self, x, y, w):
        self.x, self.y, self.w = x, y, w

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.x.items()}, self.y[i], self.w[i]


@pytest.mark.skipif(BACKEND != "torch", reason="the layer in a DataLoader's "
                    "collate_fn returns tensors of the running backend: torch")
def test_layer_in_a_collate_fn_mixes_each_batch_and_fits():
    mixup = keras_mixup.MixUp(1.0, num_classes=K, seed=4)

    def collate(examples):
        # default_collate returns a list for tuple examples; the layer takes a
        # tuple (x, y, sample_weight) as data (a list is a model's features).
        return mixup(tuple(default_collate(examples)))

    x, y, w = _probe_dataset(3)
    loader = DataLoader(Examples(x, y, w), batch_size=B, collate_fn=collate)
    lams = []
    for i, (x_out, y_out, w_out) in enumerate(loader):
        assert all(isinstance(t, torch.Tensor) for t in (y_out, w_out, *x_out.values()))
        rows = slice(i * B, (i + 1) * B)
        x_in = {k: v[rows] for k, v in x.items()}
        lam, _ = check_mixed(
            to_numpy(x_out), to_numpy((y_out, w_out)), x_in,
            (np_one_hot(y[rows], K), w[rows]), per_sample=False,
        )
        lams.append(lam)
    assert len(set(lams)) == 3  # a fresh draw for every batch

    # fit takes the mixed batches (soft labels, mixed sample weights).
    inputs = {k: keras.Input(v.shape[1:], name=k) for k, v in x.items()}
    h = keras.layers.Concatenate()(
        [keras.layers.Flatten()(t) for t in inputs.values()]
    )
    model = keras.Model(inputs, keras.layers.Dense(K, activation="softmax")(h))
    model.compile("sgd", "categorical_crossentropy")
    history = model.fit(loader, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
