"""recipes/toy.py: the two-class toy problem of the paper's Figure 1b."""

import csv
import json
import math

import keras
import numpy as np
import pytest

from recipes import toy
from tests.helpers import assert_plotted_png


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """`python -m recipes.toy --smoke`: 1 seed, ERM and mixup alpha 1."""
    workdir = tmp_path_factory.mktemp("toy-smoke")
    results = toy.main(["--smoke", "--workdir", str(workdir)])
    return workdir, results


def test_smoke_writes_the_figure(smoke_run):
    workdir, results = smoke_run
    height, width, _ = assert_plotted_png(workdir / toy.FIGURE_NAME).shape
    assert width > 2 * height > 400  # two panels side by side
    assert results["figure"] == str(workdir / toy.FIGURE_NAME)


def test_smoke_writes_config_history_and_results(smoke_run):
    workdir, results = smoke_run
    written = json.loads((workdir / "config.json").read_text())
    assert written["recipe"] == "toy"
    assert written["keras_backend"] == keras.backend.backend()
    assert (written["config"]["alpha"], written["config"]["seeds"]) == (1.0, 1)
    with open(workdir / "history.csv", newline="") as file:
        history = list(csv.DictReader(file))
    assert [(r["epoch"], r["method"]) for r in history] == [
        ("0", "erm"), ("1", "erm"), ("0", "mixup"), ("1", "mixup")
    ]
    saved = json.loads((workdir / "results.json").read_text())
    assert [(r["method"], r["alpha"]) for r in saved["runs"]] == [
        ("erm", 0.0), ("mixup", 1.0)
    ]
    for run in saved["runs"]:
        assert 0 < run["transition_width"] < math.inf
        assert 0 <= run["ece"] <= 50 and 0 <= run["test_error"] <= 100
        # 500 held-out points: errors are multiples of 0.2%.
        assert round(run["test_error"] * 5, 6).is_integer()
    assert set(saved["summary"]) == {"ERM", "mixup (α = 1)"}
    assert saved["summary"]["ERM"]["ece"]["mean"] == saved["runs"][0]["ece"]
    lines = results["table"].splitlines()
    assert "Figure 1b" in lines[0]
    assert lines[3].startswith("ERM") and lines[4].startswith("mixup (α = 1)")
    grid = np.load(workdir / "grids" / "mixup-seed0.npy")
    assert grid.shape == (60, 60) and grid.min() >= 0 and grid.max() <= 1


def test_rerun_trains_nothing_and_redraws_the_figure(smoke_run, monkeypatch):
    workdir, first = smoke_run
    (workdir / toy.FIGURE_NAME).unlink()

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(toy, "train_one", must_not_train)
    again = toy.main(["--smoke", "--workdir", str(workdir)])
    assert again["trained_runs"] == 0 and again["skipped_runs"] == 2
    assert again["summary"] == first["summary"]
    assert_plotted_png(workdir / toy.FIGURE_NAME)


@pytest.mark.parametrize("slope", [2.0, 8.0])
def test_transition_width_of_a_logistic_is_2_ln9_over_its_slope(slope):
    # p = sigmoid(slope * (x - 0.5)): 0.1 < p < 0.9 exactly where
    # |x - 0.5| < ln 9 / slope, across the whole height of the plane.
    x, y = toy.grid_points(400)
    p = 1.0 / (1.0 + np.exp(-slope * (x - 0.5)))
    cell = x[0, 1] - x[0, 0]
    assert toy.transition_width(x, y, p) == pytest.approx(
        2 * math.log(9) / slope, abs=2 * cell
    )
    assert toy.transition_width(x, y, np.full_like(x, 0.2)) == math.inf


def test_expected_calibration_error_by_hand():
    # Confidences 0.9 (p1 = 0.9 right, p1 = 0.1 wrong) share a bin:
    # |0.5 - 0.9| * 2/4; confidences 0.6 (both right) share another:
    # |1 - 0.6| * 2/4.
    p1 = np.array([0.9, 0.1, 0.6, 0.4])
    labels = np.array([1, 1, 1, 0])
    assert toy.expected_calibration_error(p1, labels) == pytest.approx(
        100 * (0.4 * 0.5 + 0.4 * 0.5)
    )
    perfect = np.array([1.0, 0.0, 1.0])
    assert toy.expected_calibration_error(perfect, np.array([1, 0, 1])) == 0.0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--alpha", "0"], "--alpha must be > 0, got 0.0"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--grid", "3"], "--grid must be >= 10"),
        (["--noise", "-1"], "--noise must be >= 0, got -1.0"),
        (["--noise", "nan"], "--noise must be >= 0, got nan"),
    ],
)
def test_bad_cli_input_is_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        toy.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
