"""recipes/lib/settings.py: which setting a --dataset value trains in, what
a recipe's own values and the options given change, and how many images are
loaded. No test reads the system's Fashion-MNIST files or the network: the
IDX lookup is pointed at a folder the test makes (or at an empty one)."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from recipes import ablation, adversarial, between, corrupted_labels
from recipes.lib import cli, data, datasets, settings

RECIPES = {
    "ablation": (ablation, ablation.AblationConfig),
    "adversarial": (adversarial, adversarial.AdversarialConfig),
    "between": (between, between.BetweenConfig),
    "corrupted_labels": (corrupted_labels, corrupted_labels.CorruptedLabelsConfig),
}


def parsed(name, argv):
    """The config `python -m recipes.<name> ARGV` trains with."""
    return cli.parse_config(RECIPES[name][1], name, argv).config


def npz_path(tmp_path, n_train=30, n_test=12, classes=3):
    """A user's .npz of n_train + n_test random 8x8 grey images."""
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, 8, 8), dtype=np.uint8),
        y_train=np.arange(n_train) % classes,
        x_test=rng.integers(0, 256, (n_test, 8, 8), dtype=np.uint8),
        y_test=np.arange(n_test) % classes,
    )
    return str(path)


@pytest.fixture
def fake_fashion_mnist(tmp_path, monkeypatch):
    """A 40 + 20 image IDX folder where datasets looks for Fashion-MNIST
    (and no dpkg lookup): (x_train, y_train, x_test, y_test)."""
    rng = np.random.default_rng(1)
    arrays = (
        rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), np.arange(40) % 10,
        rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), np.arange(20) % 10,
    )
    folder = tmp_path / "system" / "fashion-mnist"
    folder.mkdir(parents=True)
    for (split, part), array in zip(datasets.IDX_FILES, arrays, strict=True):
        datasets.write_idx(folder / (datasets.IDX_FILES[(split, part)] + ".gz"), array)
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", (str(tmp_path / "system"),))
    monkeypatch.setattr(datasets, "_dpkg_folders", lambda package: [])
    return arrays


# ---------------------------------------------------------------- defaults


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_default_data_set_is_fashion_mnist(name):
    assert settings.DEFAULT_DATASET == "fashion_mnist"
    assert parsed(name, []).dataset == "fashion_mnist"
    assert parsed(name, ["--smoke"]).dataset == "synthetic"


def test_setting_keys_send_mnist_to_fashion_mnist_and_a_path_to_its_own(tmp_path):
    assert settings.setting_key("digits") == "digits"
    assert settings.setting_key("cifar100") == "cifar10"
    assert settings.setting_key("mnist") == "fashion_mnist"
    assert settings.setting_key("fashion_mnist") == "fashion_mnist"
    assert settings.setting_key(npz_path(tmp_path)) == settings.PATH_SETTING
    assert settings.setting_key(str(tmp_path)) == settings.PATH_SETTING
    # A folder that happens to be named like a setting is still a path.
    assert settings.setting_key(settings.PATH_SETTING) == settings.PATH_SETTING


@pytest.mark.parametrize("name", ["adversarial", "between", "ablation"])
@pytest.mark.parametrize("dataset", ["fashion_mnist", "mnist"])
def test_fashion_mnist_and_mnist_train_on_the_cpu_scale_setting(name, dataset):
    setting = parsed(name, ["--dataset", dataset]).setting()
    assert setting == settings.TrainingSetting(
        "small_cnn", epochs=10, batch_size=128, learning_rate=0.05,
        milestones=(5, 8), momentum=0.9, weight_decay=1e-4, augment="none",
        limit_train=6000, limit_test=5000,
    )


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_a_path_trains_on_all_its_images_in_the_path_setting(name, tmp_path):
    setting = parsed(name, ["--dataset", npz_path(tmp_path)]).setting()
    assert (setting.limit_train, setting.limit_test) == (None, None)
    assert (setting.model, setting.epochs, setting.batch_size) == ("small_cnn", 15, 128)
    assert (setting.learning_rate, setting.milestones) == (0.05, (8, 12))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_given_limits_and_epochs_replace_the_settings(name):
    setting = parsed(name, [
        "--dataset", "fashion_mnist", "--limit-train", "60000", "--limit-test",
        "700", "--epochs", "12", "--milestones", "6", "9",
    ]).setting()
    assert (setting.limit_train, setting.limit_test) == (60000, 700)
    assert (setting.epochs, setting.milestones) == (12, (6, 9))
    assert setting.learning_rate == 0.05  # not given: the setting's


def test_digits_and_cifar10_keep_all_their_images():
    for dataset in ("digits", "cifar10", "cifar100"):
        setting = parsed("between", ["--dataset", dataset]).setting()
        assert (setting.limit_train, setting.limit_test) == (None, None)


# ---------------------------------------------------------------- corrupted_labels


@pytest.mark.parametrize("dataset", ["fashion_mnist", "mnist"])
def test_corrupted_labels_trains_longer_on_fewer_fashion_mnist_images(dataset):
    config = parsed("corrupted_labels", ["--dataset", dataset])
    assert config.setting() == dataclasses.replace(
        settings.SETTINGS["fashion_mnist"], limit_train=2000, limit_test=2000,
        epochs=60, milestones=(30, 45),
    )
    assert config.grid() == corrupted_labels.Grid(
        dropout=(0.5,), alphas=(8.0, 32.0), mixup_dropout_alphas=(8.0,),
        mixup_dropout_p=(0.3,),
    )
    # ERM, 1 dropout, 2 mixup, 1 mixup + dropout at each of 3 levels.
    assert len(corrupted_labels.units(config)) == 15
    # Options given still replace the recipe's own values.
    given = parsed("corrupted_labels", [
        "--dataset", dataset, "--limit-train", "5000", "--epochs", "20",
        "--milestones", "10", "15", "--alphas", "1",
    ])
    assert (given.setting().limit_train, given.setting().limit_test) == (5000, 2000)
    assert (given.setting().epochs, given.setting().milestones) == (20, (10, 15))
    assert given.grid().alphas == (1.0,) and given.grid().dropout == (0.5,)


def test_corrupted_labels_override_is_fashion_mnists_only(tmp_path):
    for dataset in ("digits", "cifar10", npz_path(tmp_path)):
        config = parsed("corrupted_labels", ["--dataset", dataset])
        shared = parsed("between", ["--dataset", dataset])
        assert config.setting() == shared.setting(), dataset
    path_config = parsed("corrupted_labels", ["--dataset", npz_path(tmp_path)])
    assert path_config.grid() == corrupted_labels.GRIDS["digits"]
    assert len(corrupted_labels.units(path_config)) == 3 * (1 + 2 + 3 + 1)


# ---------------------------------------------------------------- ablation


def test_ablation_neighbours_per_data_set(tmp_path):
    labels = np.repeat(np.arange(4), 250)  # 4 classes of 250
    assert ablation.AblationConfig().neighbours(labels) == 24
    assert ablation.AblationConfig(dataset="mnist").neighbours(labels) == 24
    assert ablation.AblationConfig(dataset="cifar10").neighbours(labels) == 200
    assert ablation.AblationConfig(dataset="digits").neighbours(labels) == 10
    path = npz_path(tmp_path)
    # A path: 4% of the average class of the training images used.
    assert ablation.AblationConfig(dataset=path).neighbours(labels) == 10
    uneven = np.array([0] * 700 + [1] * 100 + [2] * 100)  # average 300
    assert ablation.AblationConfig(dataset=path).neighbours(uneven) == 12
    assert ablation.AblationConfig(dataset=path).neighbours(np.arange(20) % 2) == 1
    assert ablation.AblationConfig(dataset=path, knn_k=7).neighbours(labels) == 7


def test_ablation_reports_the_last_3_epochs_on_fashion_mnist_10_elsewhere(tmp_path):
    assert parsed("ablation", []).reported_epochs() == 3
    assert parsed("ablation", ["--dataset", "mnist"]).reported_epochs() == 3
    for dataset in ("digits", "cifar10", npz_path(tmp_path)):
        assert parsed("ablation", ["--dataset", dataset]).reported_epochs() == 10
    assert parsed("ablation", ["--last-epochs", "5"]).reported_epochs() == 5


# ---------------------------------------------------------------- loading


@pytest.mark.parametrize("name", ["between", "ablation"])
def test_load_data_takes_the_settings_limits(name, fake_fashion_mnist, monkeypatch):
    x_train, _, _, y_test = fake_fashion_mnist
    monkeypatch.setitem(
        settings.SETTINGS, "fashion_mnist",
        dataclasses.replace(settings.SETTINGS["fashion_mnist"], limit_train=7,
                            limit_test=3),
    )
    loaded = settings.load_data(parsed(name, []))
    np.testing.assert_array_equal(loaded.x_train[..., 0], x_train[:7])
    np.testing.assert_array_equal(loaded.y_test, y_test[:3])
    given = settings.load_data(parsed(name, ["--limit-train", "11"]))
    assert (len(given.y_train), len(given.y_test)) == (11, 3)
    # A limit above the set's size keeps all of it.
    everything = settings.load_data(
        parsed(name, ["--limit-train", "1000", "--limit-test", "1000"])
    )
    assert (len(everything.y_train), len(everything.y_test)) == (40, 20)


def test_the_default_limits_load_the_first_6000_and_5000_images(fake_fashion_mnist):
    # The fake set is smaller than the limits: datasets.load keeps it all.
    loaded = settings.load_data(parsed("between", []))
    assert (len(loaded.y_train), len(loaded.y_test)) == (40, 20)
    corrupted = settings.load_data(parsed("corrupted_labels", []))
    assert (len(corrupted.y_train), len(corrupted.y_test)) == (40, 20)


def test_a_path_is_never_truncated(tmp_path):
    path = npz_path(tmp_path, n_train=9000, n_test=6000, classes=10)
    for name in RECIPES:
        loaded = settings.load_data(parsed(name, ["--dataset", path]))
        assert (len(loaded.y_train), len(loaded.y_test)) == (9000, 6000), name


# ---------------------------------------------------------------- missing data


def test_the_default_without_fashion_mnist_stops_in_seconds_saying_what_to_do(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", (str(tmp_path / "empty"),))
    monkeypatch.setattr(datasets, "_dpkg_folders", lambda package: [])
    monkeypatch.setattr(data, "network_available", lambda: False)
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        between.main([
            "--workdir", str(tmp_path / "run"), "--data-dir", str(tmp_path / "tfds"),
        ])
    assert exit_info.value.code == 2
    assert time.perf_counter() - start < 30
    error = capsys.readouterr().err
    assert "--dataset fashion_mnist: no IDX files found" in error
    assert "apt-get install dataset-fashion-mnist" in error
    assert "tfds.builder('fashion_mnist'" in error  # how to get it with tfds
    assert "--dataset digits" in error and "offline" in error


@pytest.mark.parametrize("recipe", ["corrupted_labels", "between", "ablation"])
def test_short_epochs_with_default_milestones_name_the_default(recipe):
    # A schedule whose milestones never come would silently keep the first
    # learning rate: refused, naming the default the user did not give.
    config_class = RECIPES[recipe][1]
    with pytest.raises(ValueError, match=r"--epochs 4 ends before "
                       r"fashion_mnist's default --milestones \d+ \d+: pass "
                       r"--milestones with epochs in \[1, 4\)"):
        config_class(dataset="fashion_mnist", epochs=4)
    with pytest.raises(ValueError, match=r"--milestones must be increasing "
                       r"epochs in \[1, 4\), got \(2, 4\)"):
        config_class(epochs=4, milestones=(2, 4))
    config = parsed(recipe, ["--epochs", "4", "--milestones", "2", "3"])
    assert (config.setting().epochs, config.setting().milestones) == (4, (2, 3))
