"""recipes/between.py (paper Figure 2): pairs, misses, input-gradient norms
in-between training examples, and a smoke run of the recipe."""

import csv
import json

import keras
import numpy as np
import pytest
from scipy import stats

from recipes import between as recipe
from recipes.lib import gradients, settings, training
from tests.helpers import assert_plotted_png


def tiny_linear_classifier(seed=0):
    """Flatten -> Dense(4, softmax) on 3x3x1 inputs, weights from numpy."""
    inputs = keras.Input((3, 3, 1))
    flat = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(4, activation="softmax")(flat)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    kernel = rng.normal(0, 0.5, (9, 4)).astype(np.float32)
    bias = rng.normal(0, 0.5, (4,)).astype(np.float32)
    model.layers[-1].set_weights([kernel, bias])
    return model, kernel.astype(np.float64), bias.astype(np.float64)


def numpy_reference(kernel, bias, x, labels):
    """Predictions and the norm of d CE / d x = W (softmax(xW + b) - y)."""
    flat = np.asarray(x, np.float64).reshape(len(x), -1)
    logits = flat @ kernel + bias
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    residual = probabilities - np.eye(kernel.shape[1])[labels]
    return np.argmax(logits, axis=1), np.linalg.norm(residual @ kernel.T, axis=1)


def test_random_pairs_are_distinct_and_uniform_over_ordered_pairs():
    first, second = recipe.random_pairs(4, 24_000, seed=0)
    assert np.all(first != second)
    assert first.min() >= 0 and max(first.max(), second.max()) <= 3
    counts = np.zeros((4, 4))
    np.add.at(counts, (first, second), 1)
    off_diagonal = counts[~np.eye(4, dtype=bool)]
    assert stats.chisquare(off_diagonal).pvalue > 1e-4
    again = recipe.random_pairs(4, 24_000, seed=0)
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])


def test_a_miss_is_a_prediction_that_is_neither_label():
    predictions = np.array([0, 1, 2, 3, 3])
    labels_i = np.array([0, 0, 1, 3, 1])
    labels_j = np.array([1, 1, 1, 2, 2])
    np.testing.assert_array_equal(
        recipe.is_miss(predictions, labels_i, labels_j),
        [False, False, True, False, True],
    )


@pytest.mark.parametrize("lam", [0.5, 0.8, 1.0, 0.3])
def test_in_between_measures_match_a_numpy_reference(lam):
    model, kernel, bias = tiny_linear_classifier()
    rng = np.random.default_rng(1)
    x_i = rng.normal(size=(7, 3, 3, 1)).astype(np.float32)
    x_j = rng.normal(size=(7, 3, 3, 1)).astype(np.float32)
    y_i = rng.integers(0, 4, 7)
    y_j = rng.integers(0, 4, 7)
    measures = recipe.in_between_measures(
        gradients.InputGradient(model), x_i, x_j, y_i, y_j, lam, 4, batch_size=3
    )
    mixed = lam * x_i.astype(np.float64) + (1 - lam) * x_j
    target = y_i if lam >= 0.5 else y_j  # the closer example's label
    predictions, norms = numpy_reference(kernel, bias, mixed, target)
    np.testing.assert_array_equal(
        measures["miss"], (predictions != y_i) & (predictions != y_j)
    )
    np.testing.assert_allclose(measures["gradient_norm"], norms, rtol=1e-4)


def test_in_between_measures_are_symmetric_in_the_pair():
    """(x_i, x_j, lam) and (x_j, x_i, 1 - lam) are the same point; below 0.5
    the label is y_j, so the gradient is the same too."""
    model, _, _ = tiny_linear_classifier(seed=2)
    rng = np.random.default_rng(3)
    x_i, x_j = rng.normal(size=(2, 5, 3, 3, 1)).astype(np.float32)
    y_i, y_j = rng.integers(0, 4, (2, 5))
    gradient = gradients.InputGradient(model)
    forward = recipe.in_between_measures(gradient, x_i, x_j, y_i, y_j, 0.75, 4)
    backward = recipe.in_between_measures(gradient, x_j, x_i, y_j, y_i, 0.25, 4)
    np.testing.assert_array_equal(forward["miss"], backward["miss"])
    np.testing.assert_allclose(
        forward["gradient_norm"], backward["gradient_norm"], rtol=1e-5
    )


def test_bad_arguments_raise_value_errors_that_name_them():
    model, _, _ = tiny_linear_classifier()
    gradient = gradients.InputGradient(model)
    x = np.zeros((2, 3, 3, 1), np.float32)
    labels = np.zeros(2, int)
    with pytest.raises(ValueError, match="lam must be in \\[0, 1\\], received 1.5"):
        recipe.in_between_measures(gradient, x, x, labels, labels, 1.5, 4)
    with pytest.raises(ValueError, match="x_i and x_j must have the same shape"):
        recipe.in_between_measures(gradient, x, x[:1], labels, labels, 0.5, 4)
    with pytest.raises(ValueError, match="n must be an int >= 2"):
        recipe.random_pairs(1, 5, seed=0)
    with pytest.raises(ValueError, match="count must be an int >= 1, received 0"):
        recipe.random_pairs(5, 0, seed=0)
    with pytest.raises(SystemExit):
        recipe.main(["--lam-points", "1"])


# ------------------------------------------------------------------ smoke run


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("between-smoke")
    results = recipe.main(["--smoke", "--workdir", str(workdir)])
    return workdir, results


def test_smoke_run_writes_config_history_results_and_plot(smoke_run):
    workdir, results = smoke_run
    config = json.loads((workdir / "config.json").read_text())
    assert config["recipe"] == "between"
    assert config["keras_backend"] == keras.backend.backend()
    saved = json.loads((workdir / "results.json").read_text())
    assert saved["lambdas"] == [0.5, 0.75, 1.0]
    for name in ("erm", "mixup"):
        measures = saved["measures"][name]
        assert len(measures["miss_percent"]) == 3
        # 16 pairs: miss rates are multiples of 1/16.
        for value in measures["miss_percent"]:
            assert 0.0 <= value <= 100.0 and round(value * 16 / 100, 6).is_integer()
        assert all(v > 0 for v in measures["gradient_norm_mean"])
    with open(workdir / "results.csv", newline="") as file:
        table = list(csv.DictReader(file))
    assert [row["λ"] for row in table] == ["0.50", "0.75", "1.00"]
    with open(workdir / "history.csv", newline="") as file:
        history = list(csv.DictReader(file))
    assert [(r["model"], r["epoch"]) for r in history] == [
        ("erm", "0"), ("erm", "1"), ("mixup", "0"), ("mixup", "1")
    ]
    assert_plotted_png(workdir / "between.png")
    assert results["table"].startswith("Figure 2 as numbers")


def test_rerun_trains_nothing_and_the_saved_models_measure_the_same(
    smoke_run, monkeypatch
):
    workdir, first = smoke_run

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished model was trained again")

    monkeypatch.setattr(training, "fit_classifier", must_not_train)
    argv = ["--smoke", "--workdir", str(workdir)]
    again = recipe.main(argv)
    assert again["trained_runs"] == 0 and again["measures"] == first["measures"]
    # The saved models are the measured ones.
    config = recipe.cli.parse_config(recipe.BetweenConfig, "between", argv).config
    data = settings.load_data(config)
    pairs = recipe.random_pairs(len(data.y_train), config.pairs, config.seed)
    for name in ("erm", "mixup"):
        model = keras.saving.load_model(
            settings.saved_classifier_path(workdir, name, config.seed), compile=False
        )
        measured = recipe.measure(config, data, model, pairs)
        assert measured["miss_percent"] == first["measures"][name]["miss_percent"]
        np.testing.assert_allclose(
            measured["gradient_norm_mean"],
            first["measures"][name]["gradient_norm_mean"], rtol=1e-5,
        )
