"""recipes/corrupted_labels.py (paper section 3.4, Table 2): the label
corruption, the memorization measures and a smoke run of the recipe."""

import csv
import json

import keras
import numpy as np
import pytest
from scipy import stats

from recipes import corrupted_labels as recipe
from recipes.lib import training
from recipes.lib.labels import CorruptedLabels, corrupt_labels
from tests.helpers import assert_plotted_png


def labels_of(n, k=10, seed=0):
    return np.random.default_rng(seed).integers(0, k, n).astype(np.int32)


@pytest.mark.parametrize(
    "n, fraction",
    [(1000, 0.2), (1000, 0.5), (1437, 0.8), (7, 0.5), (50, 0.0), (50, 1.0)],
)
@pytest.mark.parametrize("replacement", ["uniform", "other"])
def test_exactly_the_requested_fraction_is_replaced(n, fraction, replacement):
    labels = labels_of(n)
    result = corrupt_labels(
        labels, fraction, 10, seed=3, replacement=replacement
    )
    assert result.labels.dtype == np.int32 and result.labels.shape == (n,)
    assert result.corrupted.sum() == round(fraction * n)
    # Outside the corrupted set nothing changes.
    kept = ~result.corrupted
    np.testing.assert_array_equal(result.labels[kept], labels[kept])
    assert result.labels.min() >= 0 and result.labels.max() <= 9
    if replacement == "other":
        assert np.all(result.labels[result.corrupted] != labels[result.corrupted])
    np.testing.assert_array_equal(labels, labels_of(n))  # the input is not modified


def test_a_fixed_seed_gives_the_same_corruption_and_another_seed_another():
    labels = labels_of(2000)
    first = corrupt_labels(labels, 0.5, 10, seed=7)
    again = corrupt_labels(labels, 0.5, 10, seed=7)
    other = corrupt_labels(labels, 0.5, 10, seed=8)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_array_equal(first.corrupted, again.corrupted)
    assert np.mean(first.corrupted != other.corrupted) > 0.3


def test_uniform_random_labels_are_uniform_over_all_classes():
    """The paper's source draws from all K classes: the random label equals
    the true one 1/K of the time, and every class is equally likely."""
    k = 10
    labels = np.zeros(200_000, dtype=np.int32)  # all class 0: a biased draw shows
    result = corrupt_labels(labels, 0.5, k, seed=0, replacement="uniform")
    drawn = result.labels[result.corrupted]
    counts = np.bincount(drawn, minlength=k)
    assert stats.chisquare(counts).pvalue > 1e-4
    same = np.mean(drawn == 0)
    assert abs(same - 1 / k) < 4 * np.sqrt((1 / k) * (1 - 1 / k) / len(drawn))


def test_other_random_labels_are_uniform_over_the_other_classes():
    k = 5
    labels = np.full(100_000, 2, dtype=np.int32)
    result = corrupt_labels(labels, 0.8, k, seed=1, replacement="other")
    counts = np.bincount(result.labels[result.corrupted], minlength=k)
    assert counts[2] == 0
    assert stats.chisquare(np.delete(counts, 2)).pvalue > 1e-4


def test_which_labels_are_corrupted_is_uniform_over_positions():
    """Each position is chosen with probability `fraction`: over many seeds
    the first and the second half of the data are hit equally often."""
    labels = labels_of(100)
    hits = np.zeros(100)
    for seed in range(400):
        hits += corrupt_labels(labels, 0.3, 10, seed=seed).corrupted
    assert abs(hits[:50].sum() - hits[50:].sum()) < 4 * np.sqrt(400 * 100 * 0.3 * 0.7)


def test_bad_arguments_raise_value_errors_that_name_them():
    labels = labels_of(20)
    with pytest.raises(
        ValueError, match=r"fraction must be a number in \[0, 1\], received 1.5"
    ):
        corrupt_labels(labels, 1.5, 10, seed=0)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2, received 1"):
        corrupt_labels(labels, 0.2, 1, seed=0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\]"):
        corrupt_labels(labels, 0.2, 5, seed=0)
    with pytest.raises(ValueError, match="labels must be a 1-D array of integer"):
        corrupt_labels(labels.astype(np.float32), 0.2, 10, seed=0)
    with pytest.raises(ValueError, match="replacement must be one of uniform, other"):
        corrupt_labels(labels, 0.2, 10, seed=0, replacement="flip")
    with pytest.raises(SystemExit):
        recipe.main(["--corruption", "1.0"])


def test_training_errors_measure_memorization():
    true = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    corrupted = CorruptedLabels(
        labels=np.array([0, 1, 2, 3, 9, 9, 9, 7]),
        corrupted=np.array([False, False, False, False, True, True, True, True]),
    )
    # Kept: 3 of 4 right; corrupted: two predict the corrupted label (9), one
    # the true label (6), one the label that was drawn equal to the true one.
    predictions = np.array([0, 1, 2, 0, 9, 9, 6, 7])
    errors = recipe.training_errors(predictions, true, corrupted)
    assert errors["train_error_real"] == 25.0
    assert errors["train_error_corrupted"] == 25.0
    assert errors["train_error_corrupted_vs_true"] == 50.0


def test_best_per_family_takes_the_lowest_best_test_error():
    rows = [
        {"corruption": 0.2, "family": "mixup", "alpha": 1.0, "best_test_error": 9.0},
        {"corruption": 0.2, "family": "mixup", "alpha": 8.0, "best_test_error": 7.0},
        {"corruption": 0.2, "family": "mixup", "alpha": 32.0, "best_test_error": 7.0},
        {"corruption": 0.5, "family": "mixup", "alpha": 1.0, "best_test_error": 20.0},
    ]
    best = recipe.best_per_family(rows)
    assert best[(0.2, "mixup")]["alpha"] == 8.0
    assert best[(0.5, "mixup")]["alpha"] == 1.0


PAPER_DROPOUT = (0.5, 0.7, 0.8, 0.9)


def test_the_paper_grid_is_the_default_on_cifar10():
    config = recipe.CorruptedLabelsConfig(dataset="cifar10")
    setting = config.setting()
    assert (setting.epochs, setting.batch_size) == (200, 128)
    assert setting.learning_rate == 0.1
    assert setting.milestones == (100, 150) and setting.augment == "cifar"
    assert config.grid() == recipe.PAPER_GRID
    # An option given replaces the data set's value, the others stay.
    fewer = recipe.CorruptedLabelsConfig(
        dataset="cifar10", epochs=20, milestones=(10, 15), alphas=(4.0,)
    )
    assert (fewer.setting().epochs, fewer.setting().batch_size) == (20, 128)
    assert fewer.setting().milestones == (10, 15)
    assert fewer.grid().alphas == (4.0,) and fewer.grid().dropout == PAPER_DROPOUT
    assert len(recipe.units(config)) == 3 * (1 + 4 + 4 + 4 * 3)


# ------------------------------------------------------------------ smoke run


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("corrupted-labels-smoke")
    results = recipe.main(["--smoke", "--workdir", str(workdir)])
    return workdir, results


def test_smoke_run_writes_config_history_results(smoke_run):
    workdir, results = smoke_run
    config = json.loads((workdir / "config.json").read_text())
    assert config["recipe"] == "corrupted_labels"
    assert config["keras_backend"] == keras.backend.backend()
    assert config["config"]["corruption"] == [0.5]
    saved = json.loads((workdir / "results.json").read_text())
    assert saved["trained_runs"] == 4 and saved["skipped_runs"] == 0
    families = [run["family"] for run in saved["runs"]]
    assert families == ["erm", "erm_dropout", "mixup", "mixup_dropout"]
    for run in saved["runs"]:
        assert len(run["test_error_by_epoch"]) == 2
        assert run["best_test_error"] == min(run["test_error_by_epoch"])
        assert run["last_test_error"] == run["test_error_by_epoch"][-1]
        # 96 training images, 48 of them corrupted: errors are multiples of 1/48.
        assert run["n_corrupted"] == 48
        for key in ("train_error_real", "train_error_corrupted"):
            assert round(run[key] * 48 / 100, 6).is_integer()
    with open(workdir / "history.csv", newline="") as file:
        history = list(csv.DictReader(file))
    assert [(r["family"], r["epoch"]) for r in history] == [
        (f, e) for f in families for e in ("0", "1")
    ]
    table = results["table"]
    assert table.startswith("Table 2:")
    assert "mixup + dropout (α = 8, p = 0.3)" in table and "87.90" in table
    for name in ("results.csv", "grid.csv", "rows.jsonl"):
        assert (workdir / name).exists()
    assert_plotted_png(workdir / "results.png")


def test_rerun_trains_nothing_already_done(smoke_run, monkeypatch):
    workdir, first = smoke_run

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(training, "fit_classifier", must_not_train)
    again = recipe.main(["--smoke", "--workdir", str(workdir)])
    assert again["trained_runs"] == 0 and again["skipped_runs"] == 4
    assert again["runs"] == first["runs"]
