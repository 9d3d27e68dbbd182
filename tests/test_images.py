"""recipes/images.py: image arrays and tf.data pipelines."""

import numpy as np
import pytest
import tensorflow as tf

from recipes.lib import images


def test_digits_arrays_are_the_real_sklearn_digits_split_stratified():
    import sklearn.datasets

    data = images.load_image_arrays("digits")
    assert data.image_shape == (8, 8, 1) and data.num_classes == 10
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int32
    assert len(data.x_train) + len(data.x_test) == 1797
    assert len(data.x_test) == 360
    # Every test image is one of sklearn's images, rescaled 0..16 -> 0..255.
    reference = np.rint(sklearn.datasets.load_digits().images * 255 / 16)
    assert np.isin(
        data.x_test[:5, ..., 0].reshape(5, -1).sum(1),
        reference.reshape(1797, -1).sum(1),
    ).all()
    # Stratified: each class's share of the test split is within one example.
    train_counts = np.bincount(data.y_train, minlength=10)
    test_counts = np.bincount(data.y_test, minlength=10)
    assert np.all(np.abs(test_counts - (train_counts + test_counts) * 0.2) <= 1)
    np.testing.assert_allclose(data.mean, [data.x_train.mean() / 255], rtol=1e-5)
    again = images.load_image_arrays("digits")
    np.testing.assert_array_equal(again.x_test, data.x_test)


def test_limits_and_bad_names():
    data = images.load_image_arrays("digits", limit_train=100, limit_test=20)
    assert data.x_train.shape == (100, 8, 8, 1) and data.x_test.shape == (20, 8, 8, 1)
    with pytest.raises(ValueError, match="`name` must be one of digits, cifar10"):
        images.load_image_arrays("mnist")
    with pytest.raises(ValueError, match="`limit_train` must be a positive int"):
        images.load_image_arrays("digits", limit_train=0)


def test_cifar_arrays_from_mock_tfds(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        data = images.load_image_arrays("cifar100", data_dir=str(tmp_path), limit_test=4)
    assert data.x_train.shape == (6, 32, 32, 3) and data.x_test.shape == (4, 32, 32, 3)
    assert data.num_classes == 100
    assert data.y_train.min() >= 0 and data.y_train.max() < 100


def test_cifar_augment_is_a_shifted_crop_or_its_mirror():
    image = np.arange(32 * 32 * 3, dtype=np.int32).reshape(32, 32, 3) % 251 + 1
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
    seen_shifts, seen_flips = set(), set()
    for s in range(40):
        out = images.cifar_augment(tf.constant(image), tf.constant([s, 7])).numpy()
        matches = [
            (dy, dx, flip)
            for dy in range(9)
            for dx in range(9)
            for flip in (False, True)
            if np.array_equal(
                out,
                padded[dy : dy + 32, dx : dx + 32][:, ::-1]
                if flip
                else padded[dy : dy + 32, dx : dx + 32],
            )
        ]
        assert len(matches) == 1, "output must be exactly one crop of the padded image"
        seen_shifts.add(matches[0][:2])
        seen_flips.add(matches[0][2])
    assert seen_flips == {False, True} and len(seen_shifts) > 10


def test_train_dataset_normalises_one_hot_and_mixes_consistently():
    data = images.synthetic_image_arrays((4, 4, 3), 5, n_train=64, n_test=8, seed=1)
    kwargs = dict(batch_size=16, seed=3, mean=data.mean, std=data.std, num_classes=5)
    erm = list(images.train_dataset(data.x_train, data.y_train, **kwargs))
    assert len(erm) == 4
    x, y = (t.numpy() for t in erm[0])
    assert x.dtype == np.float32 and y.shape == (16, 5)
    # ERM labels are one-hot, and the images are the normalised originals.
    np.testing.assert_array_equal(y.sum(1), 1.0)
    assert set(np.unique(y)) == {0.0, 1.0}
    originals = (x * data.std + data.mean) * 255
    np.testing.assert_allclose(originals, np.rint(originals), atol=1e-3)
    labels = y.argmax(1)
    flat = data.x_train.reshape(64, -1).astype(np.float32)
    for row, label in zip(np.rint(originals).reshape(16, -1), labels):
        index = np.flatnonzero((flat == row).all(1))
        assert index.size == 1 and data.y_train[index[0]] == label
    # With mixup, every label row is a convex pair of one-hots summing to 1.
    mixed = next(iter(images.train_dataset(
        data.x_train, data.y_train, alpha=1.0, **kwargs)))
    y_mixed = mixed[1].numpy()
    np.testing.assert_allclose(y_mixed.sum(1), 1.0, rtol=1e-6)
    assert ((y_mixed > 0).sum(1) <= 2).all() and (y_mixed.max(1) < 1).any()


def test_train_dataset_reshuffles_each_epoch_reproducibly():
    data = images.synthetic_image_arrays((2, 2, 1), 3, n_train=32, seed=0)
    kwargs = dict(batch_size=32, seed=5, mean=data.mean, std=data.std, num_classes=3)
    ds = images.train_dataset(data.x_train, data.y_train, **kwargs)
    first, second = (next(iter(ds))[0].numpy() for _ in range(2))
    assert not np.array_equal(first, second)
    again = images.train_dataset(data.x_train, data.y_train, **kwargs)
    np.testing.assert_array_equal(next(iter(again))[0].numpy(), first)


def test_eval_dataset_keeps_order_and_the_last_partial_batch():
    data = images.synthetic_image_arrays((2, 2, 1), 3, n_train=8, n_test=10, seed=0)
    batches = list(images.eval_dataset(
        data.x_test, data.y_test, batch_size=4, mean=data.mean, std=data.std,
        num_classes=3, normalize=False))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    x = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_allclose(x, data.x_test / 255.0, rtol=1e-6)
    y = np.concatenate([b[1].numpy() for b in batches]).argmax(1)
    np.testing.assert_array_equal(y, data.y_test)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=0), "`batch_size` must be a positive int"),
        (dict(augment="autoaugment"), "`augment` must be one of none, cifar"),
        (dict(mean=np.zeros(2, np.float32)), "`mean` must have one value per channel"),
        (dict(batch_size=64), "larger than the 32 training examples"),
    ],
)
def test_train_dataset_rejects_bad_arguments(kwargs, match):
    data = images.synthetic_image_arrays((2, 2, 1), 3, n_train=32, seed=0)
    arguments = dict(batch_size=8, seed=0, mean=data.mean, std=data.std, num_classes=3)
    with pytest.raises(ValueError, match=match):
        images.train_dataset(data.x_train, data.y_train, **{**arguments, **kwargs})


@pytest.mark.parametrize("method", ["mixup", "cutmix", "switch"])
def test_every_mixing_method_mixes_and_is_erm_at_alpha_zero(method):
    """--method mixup/cutmix/switch: one-hot labels mixed with the images,
    rows summing to 1; alpha 0 is ERM (images untouched, one-hot labels)."""
    rng = np.random.default_rng(0)
    pixels = rng.random((16, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, 4, 16).astype("int64")
    ds = tf.data.Dataset.from_tensor_slices((pixels, labels))
    mixed = images_mixed = None
    for alpha in (1.0, 0.0):
        out = list(images.batch_and_mix(
            ds, 16, method=method, alpha=alpha, num_classes=4, seed=1
        ).as_numpy_iterator())
        x, y = out[0]
        assert x.shape == (16, 8, 8, 1) and y.shape == (16, 4)
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-6)
        if alpha:
            mixed, images_mixed = y, x
        else:
            np.testing.assert_array_equal(x, pixels)
            np.testing.assert_array_equal(y, np.eye(4)[labels])
    assert not np.array_equal(images_mixed, pixels)
    assert (mixed.max(-1) < 1).any()


def test_switch_method_is_timms_recipe():
    assert images.TIMM_SWITCH == dict(mixup_alpha=0.8, cutmix_alpha=1.0,
                                      switch_prob=0.5, prob=1.0)
    layer = images.MIXING_METHODS["switch"](0.8, 10, 0)
    assert (layer.mixup_alpha, layer.cutmix_alpha, layer.switch_prob) == (
        pytest.approx(0.8), 1.0, 0.5)
