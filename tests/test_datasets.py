"""recipes.lib.datasets: the --dataset option of the image recipes.

Every form of the user's data is made here, tiny: a .npz, MNIST-format IDX
files (plain and gzipped), folders of class sub-folders of PNG images (with
and without train/ and test/). Each is read back and compared with the
arrays it was made from; each kind of bad data must stop with a
RecipeError that says what is wrong; one recipe smoke-runs on each form.
No test reads a system package or the network.
"""

from __future__ import annotations

import gzip
import time

import numpy as np
import pytest

from recipes import between
from recipes.lib import cli, data, datasets, images, settings
from recipes.lib.cli import RecipeError

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------- makers


def _arrays(n_train=30, n_test=10, shape=(6, 5), classes=3):
    x_train = RNG.integers(0, 256, (n_train, *shape), dtype=np.uint8)
    x_test = RNG.integers(0, 256, (n_test, *shape), dtype=np.uint8)
    y_train = np.arange(n_train) % classes
    y_test = np.arange(n_test) % classes
    return x_train, y_train, x_test, y_test


def write_idx(path, array, magic_type=None):
    """datasets.write_idx, or with another element type in the magic number."""
    datasets.write_idx(path, array)
    if magic_type is not None:
        raw = bytearray(gzip.decompress(path.read_bytes()) if path.suffix == ".gz"
                        else path.read_bytes())
        raw[2] = magic_type
        path.write_bytes(gzip.compress(bytes(raw)) if path.suffix == ".gz" else bytes(raw))


def make_idx_folder(folder, arrays, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = arrays
    suffix = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", x_train)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", y_train)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", x_test)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", y_test)
    return folder


def write_png(path, image):
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(image))


def make_image_folder(folder, x, y, classes=("cat", "dog", "eel")):
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        write_png(folder / classes[label] / f"{i:04d}.png", image)
    return folder


def _sorted_by_content(x, y):
    """Images and labels in a canonical order (folder reading reorders)."""
    keys = [image.tobytes() + bytes([label]) for image, label in zip(x, y, strict=True)]
    order = np.argsort(np.array(keys, dtype=object))
    return x[order], y[order]


# ---------------------------------------------------------------- the option


def test_the_option_takes_names_and_existing_paths_and_refuses_others(tmp_path):
    for name in datasets.NAMES:
        datasets.check_dataset(name)
    datasets.check_dataset(str(tmp_path))
    npz = tmp_path / "d.npz"
    npz.write_bytes(b"")
    datasets.check_dataset(str(npz))
    with pytest.raises(ValueError, match=r"--dataset .*got 'imagenet9'.*no such"):
        datasets.check_dataset("imagenet9")
    other = tmp_path / "d.csv"
    other.write_text("x")
    with pytest.raises(ValueError, match=r"not \.npz"):
        datasets.check_dataset(str(other))


def test_every_image_recipe_declares_the_same_option():
    from recipes import ablation, adversarial, cifar, corrupted_labels

    for config_cls in (
        ablation.AblationConfig, adversarial.AdversarialConfig,
        between.BetweenConfig, corrupted_labels.CorruptedLabelsConfig,
        cifar.CIFARConfig,
    ):
        field = next(f for f in config_cls.__dataclass_fields__.values()
                     if f.name == "dataset")
        assert field.metadata["check"] is datasets.check_dataset, config_cls
    with pytest.raises(SystemExit):  # a usage error, before anything runs
        between.main(["--dataset", "no/such/folder"])


def test_setting_keys():
    assert settings.setting_key("digits") == "digits"
    assert settings.setting_key("cifar100") == "cifar10"
    assert settings.setting_key("/some/folder") == settings.PATH_SETTING
    assert settings.setting_key("mnist") == "fashion_mnist"


# ---------------------------------------------------------------- .npz


def test_npz_round_trip_grey_and_float_rgb(tmp_path):
    x_train, y_train, x_test, y_test = _arrays()
    path = tmp_path / "grey.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    data = datasets.load(str(path))
    assert data.image_shape == (6, 5, 1) and data.num_classes == 3
    np.testing.assert_array_equal(data.x_train[..., 0], x_train)
    np.testing.assert_array_equal(data.y_test, y_test)
    mean, std = images.channel_statistics(x_train[..., None])
    np.testing.assert_allclose(data.mean, mean)
    np.testing.assert_allclose(data.std, std)

    rgb = RNG.integers(0, 256, (12, 4, 4, 3)).astype(np.uint8)
    path = tmp_path / "rgb.npz"
    np.savez(path, x_train=rgb / 255.0, y_train=np.arange(12) % 4,
             x_test=rgb[:5] / 255.0, y_test=np.arange(5) % 4)
    data = datasets.load(str(path), limit_train=8, limit_test=2)
    np.testing.assert_array_equal(data.x_train, rgb[:8])
    assert data.num_classes == 4 and data.x_test.shape == (2, 4, 4, 3)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("y_test"), r"missing key\(s\) y_test"),
        (lambda a: a.update(y_train=a["y_train"][:-1]),
         r"x_train holds 30 images but y_train 29 labels"),
        (lambda a: a.update(y_train=np.zeros(30, int)), r"1 class .*at least 2"),
        (lambda a: a.update(x_test=a["x_test"][:, :3]), r"must match"),
        (lambda a: a.update(x_train=a["x_train"] * 2.0), r"float images must be in \[0, 1\]"),
        (lambda a: a.update(y_train=a["y_train"] + 0.5), r"integer class labels"),
        (lambda a: a.update(x_train=np.zeros(30)), r"shape \(N, H, W\)"),
    ],
)
def test_bad_npz_stops_with_what_is_wrong(tmp_path, change, message):
    x_train, y_train, x_test, y_test = _arrays()
    arrays = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(RecipeError, match=message):
        datasets.load(str(path))


def test_an_unreadable_npz_is_named(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(RecipeError, match=r"garbage\.npz: cannot read it as a \.npz"):
        datasets.load(str(path))


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_round_trip(tmp_path, gz):
    arrays = _arrays(shape=(7, 7))
    folder = make_idx_folder(tmp_path / "idx", arrays, gz=gz)
    data = datasets.load(str(folder))
    x_train, y_train, x_test, y_test = arrays
    np.testing.assert_array_equal(data.x_train[..., 0], x_train)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.x_test[..., 0], x_test)
    np.testing.assert_array_equal(data.y_test, y_test)
    assert data.num_classes == 3 and data.image_shape == (7, 7, 1)


def test_idx_bytes_as_the_format_defines_them(tmp_path):
    # Written by hand, independently of datasets.write_idx: magic 0x00000803
    # (unsigned bytes, 3 dimensions), big-endian sizes 2, 1, 3, the data.
    path = tmp_path / "images"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3])
                     + bytes(range(6)))
    np.testing.assert_array_equal(
        datasets.read_idx(path), np.arange(6, dtype=np.uint8).reshape(2, 1, 3)
    )
    written = datasets.write_idx(tmp_path / "again", np.arange(6).reshape(2, 1, 3))
    assert written.read_bytes() == path.read_bytes()


def test_bad_idx_files_are_named(tmp_path):
    folder = make_idx_folder(tmp_path / "magic", _arrays())
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(30) % 3,
              magic_type=0x0D)  # floats, not unsigned bytes
    with pytest.raises(RecipeError, match=r"train-labels.*magic number is 00000d01"):
        datasets.load(str(folder))

    folder = make_idx_folder(tmp_path / "short", _arrays(), gz=False)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(RecipeError, match=r"t10k-images.*says .* the file holds"):
        datasets.load(str(folder))

    folder = make_idx_folder(tmp_path / "missing", _arrays())
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(RecipeError, match=r"missing t10k-labels-idx1-ubyte"):
        datasets.load(str(folder))

    folder = make_idx_folder(tmp_path / "notgz", _arrays())
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip data at all")
    with pytest.raises(RecipeError, match=r"train-images-idx3-ubyte\.gz: cannot read"):
        datasets.load(str(folder))

    x_train, y_train, x_test, y_test = _arrays()
    folder = make_idx_folder(tmp_path / "length", (x_train, y_train[:-2], x_test, y_test))
    with pytest.raises(RecipeError, match=r"30 images but y_train 28 labels"):
        datasets.load(str(folder))


def test_fashion_mnist_is_found_in_the_system_folder(tmp_path, monkeypatch):
    arrays = _arrays(shape=(28, 28))
    make_idx_folder(tmp_path / "fashion-mnist", arrays)
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", (str(tmp_path),))
    monkeypatch.setattr(datasets, "_dpkg_folders", lambda package: [])
    data = datasets.load("fashion_mnist", limit_train=20)
    np.testing.assert_array_equal(data.x_train[..., 0], arrays[0][:20])
    assert data.name == "fashion_mnist"


def test_missing_fashion_mnist_stops_in_seconds_saying_how_to_install(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", (str(tmp_path),))
    monkeypatch.setattr(datasets, "_dpkg_folders", lambda package: [])
    # Offline: tensorflow-datasets must not try to download.
    monkeypatch.setattr(data, "network_available", lambda: False)
    start = time.perf_counter()
    with pytest.raises(
        RecipeError,
        match=r"apt-get install dataset-fashion-mnist.*--dataset PATH.*--dataset "
        r"digits \(scikit-learn's Optical Digits: offline",
    ):
        datasets.load("fashion_mnist", data_dir=str(tmp_path / "tfds"))
    assert time.perf_counter() - start < 30


# ---------------------------------------------------------------- image folders


def test_image_folder_with_train_and_test_keeps_every_pixel(tmp_path):
    x_train, y_train, x_test, y_test = _arrays(n_train=12, n_test=6, shape=(5, 4, 3))
    make_image_folder(tmp_path / "data" / "train", x_train, y_train)
    # test/ lacks the last class: labels still follow train/'s classes.
    keep = y_test < 2
    make_image_folder(tmp_path / "data" / "val", x_test[keep], y_test[keep])
    data = datasets.load(str(tmp_path / "data"))
    assert data.image_shape == (5, 4, 3) and data.num_classes == 3
    for got, want in (
        ((data.x_train, data.y_train), (x_train, y_train)),
        ((data.x_test, data.y_test), (x_test[keep], y_test[keep])),
    ):
        got_x, got_y = _sorted_by_content(*got)
        want_x, want_y = _sorted_by_content(*want)
        np.testing.assert_array_equal(got_x, want_x)
        np.testing.assert_array_equal(got_y, want_y)


def test_image_folder_without_split_holds_out_a_stratified_fraction(tmp_path):
    x, y, _, _ = _arrays(n_train=30, shape=(4, 4, 1))
    make_image_folder(tmp_path / "data", x, y)
    data = datasets.load(str(tmp_path / "data"), seed=3)
    # 20% of each class of 10: 2 held out per class, as stratified_split does.
    assert np.bincount(data.y_test).tolist() == [2, 2, 2]
    assert np.bincount(data.y_train).tolist() == [8, 8, 8]
    both = np.concatenate([data.x_train, data.x_test])
    labels = np.concatenate([data.y_train, data.y_test])
    got_x, got_y = _sorted_by_content(both, labels)
    want_x, want_y = _sorted_by_content(x, y)
    np.testing.assert_array_equal(got_x, want_x)
    np.testing.assert_array_equal(got_y, want_y)
    again = datasets.load(str(tmp_path / "data"), seed=3)
    np.testing.assert_array_equal(again.x_test, data.x_test)


def test_bad_image_folders_stop_with_what_is_wrong(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RecipeError, match=r"neither class sub-folders .* nor"):
        datasets.load(str(empty))

    x, y, _, _ = _arrays(n_train=4, shape=(4, 4, 1))
    single = make_image_folder(tmp_path / "single", x, np.zeros(4, int))
    with pytest.raises(RecipeError, match=r"single class \(cat\)"):
        datasets.load(str(single))

    hollow = make_image_folder(tmp_path / "hollow", x, y % 2)
    (hollow / "extra").mkdir()
    with pytest.raises(RecipeError, match=r"class folder\(s\) extra hold no images"):
        datasets.load(str(hollow))

    broken = make_image_folder(tmp_path / "broken", x, y % 2)
    (broken / "dog" / "zz_broken.png").write_bytes(b"\x89PNG but not really")
    with pytest.raises(RecipeError, match=r"zz_broken\.png: cannot read it as an image"):
        datasets.load(str(broken))


# ---------------------------------------------------------------- a recipe on each form


# One form in the CI suite (training does not see the form: each gives the
# same ImageArrays); the others are slow (about 100 s each on a busy 2-core
# CPU).
@pytest.mark.parametrize(
    "form",
    ["npz", pytest.param("idx", marks=pytest.mark.slow),
     pytest.param("folder", marks=pytest.mark.slow)],
)
def test_a_recipe_runs_on_each_form(tmp_path, form):
    arrays = _arrays(n_train=40, n_test=12, shape=(8, 8))
    if form == "npz":
        path = tmp_path / "data.npz"
        np.savez(path, **dict(zip(datasets.NPZ_KEYS, arrays, strict=True)))
    elif form == "idx":
        path = make_idx_folder(tmp_path / "idx", arrays)
    else:
        x_train, y_train, x_test, y_test = arrays
        path = tmp_path / "folder"
        make_image_folder(path / "train", x_train[..., None], y_train)
        make_image_folder(path / "test", x_test[..., None], y_test)
    results = between.main([
        "--smoke", "--dataset", str(path), "--workdir", str(tmp_path / "run"),
    ])
    assert results["dataset"] == str(path)
    config = cli.parse_config(between.BetweenConfig, "between",
                              ["--smoke", "--dataset", str(path)]).config
    assert settings.load_data(config).num_classes == 3
