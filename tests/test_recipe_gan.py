"""recipes/gan.py: the toy GAN recipe (paper section 3.7, Figure 5)."""

import csv
import json

import keras
import numpy as np
import pytest

from recipes import gan as recipe
from recipes.lib import cli
from tests.helpers import assert_plotted_png


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """`python -m recipes.gan --smoke` once (both data sets, ERM and mixup
    alpha=0.2, one seed, 20 iterations); the tests below read what it wrote."""
    workdir = tmp_path_factory.mktemp("gan-smoke")
    results = recipe.main(["--smoke", "--workdir", str(workdir)])
    return workdir, results


def test_smoke_writes_config_history_results_and_figure(smoke_run):
    workdir, results = smoke_run
    config = json.loads((workdir / "config.json").read_text())
    assert config["recipe"] == "gan"
    assert config["keras_backend"] == keras.backend.backend()
    assert config["config"]["datasets"] == ["ring8", "grid25"]
    assert config["config"]["iterations"] == 20

    with open(workdir / "history.csv", newline="") as file:
        history = list(csv.DictReader(file))
    # Two checkpoint segments of 10 iterations per run.
    assert [(r["dataset"], r["method"], r["epoch"]) for r in history] == [
        (d, m, e) for d in ("ring8", "grid25") for m in ("erm", "mixup")
        for e in ("0", "1")
    ]
    assert all(float(r["d_loss"]) > 0 and float(r["g_loss"]) > 0 for r in history)

    saved = json.loads((workdir / "results.json").read_text())
    assert saved["trained_runs"] == 4 and saved["skipped_runs"] == 0
    assert len(saved["runs"]) == 4
    for run in saved["runs"]:
        assert set(run["trajectory"]) == {"1", "10", "20"}
        assert 0 <= run["modes"] <= run["num_modes"]
        assert 0.0 <= run["high_quality"] <= 1.0
    entry = saved["summary"]["grid25"]["mixup GAN (α = 0.2)"]["paper_setting"]
    assert entry["runs"] == 1 and set(entry["by_iteration"]) == {"1", "10", "20"}
    assert "Figure 5 as numbers" in results["table"]
    assert (workdir / "results.csv").exists()
    assert_plotted_png(workdir / "figure5.png")
    for run_dir in (workdir / "runs").iterdir():
        with np.load(run_dir / "samples.npz") as samples:
            assert sorted(samples.files) == ["it1", "it10", "it20"]
            assert samples["it20"].shape == (500, 2)
        assert not (run_dir / "checkpoint.keras").exists()  # removed when done


def test_rerun_skips_finished_runs(smoke_run, capsys):
    workdir, results = smoke_run
    again = recipe.main(["--smoke", "--workdir", str(workdir)])
    assert again["trained_runs"] == 0 and again["skipped_runs"] == 4
    assert again["summary"] == results["summary"]
    assert "4 already done" in capsys.readouterr().out


def test_killed_run_resumes_from_its_checkpoint(smoke_run, tmp_path, monkeypatch):
    """Kill a run after its first checkpoint; the rerun continues from it and
    ends exactly where the uninterrupted smoke run did."""
    smoke_dir, _ = smoke_run
    argv = ["--smoke", "--datasets", "ring8", "--workdir", str(tmp_path)]
    save = recipe.save_checkpoint

    def save_then_die(*args):
        save(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(recipe, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        recipe.main(argv)
    run_dir = tmp_path / "runs" / "ring8-erm-seed0-lr0.001-w32-d2"
    assert json.loads((run_dir / "progress.json").read_text()) == {"segments_done": 1}
    assert (run_dir / "checkpoint.keras").exists()

    monkeypatch.setattr(recipe, "save_checkpoint", save)
    resumed = recipe.main(argv)
    assert resumed["trained_runs"] == 2
    for method in ("erm", "mixup0.2"):
        name = f"ring8-{method}-seed0-lr0.001-w32-d2"
        with np.load(tmp_path / "runs" / name / "samples.npz") as mine, \
                np.load(smoke_dir / "runs" / name / "samples.npz") as reference:
            for key in reference.files:
                np.testing.assert_allclose(mine[key], reference[key], atol=1e-5)


def test_mode_metrics():
    rng = np.random.default_rng(0)
    for dataset, modes in (("ring8", 8), ("grid25", 25)):
        perfect = recipe.sample_data(dataset, 2500, rng)
        metrics = recipe.mode_metrics(perfect, dataset, min_samples=20)
        assert metrics["modes"] == modes and metrics["all_modes"]
        # A 2-D Gaussian lies within 3 std of its mean w.p. 1 - exp(-4.5).
        assert metrics["high_quality"] == pytest.approx(1 - np.exp(-4.5), abs=0.01)
    centers = recipe.mode_centers("grid25")
    collapsed = np.repeat(centers[:1], 100, axis=0)
    collapsed[:10] = np.nan  # diverged samples count as low quality
    metrics = recipe.mode_metrics(collapsed, "grid25", min_samples=20)
    assert metrics["modes"] == metrics["reached"] == 1 and not metrics["all_modes"]
    assert metrics["high_quality"] == pytest.approx(0.9)
    # Blurred over every mode: all reached, none covered.
    blurred = np.repeat(centers, 30, axis=0) + 0.3
    metrics = recipe.mode_metrics(blurred, "grid25", min_samples=20)
    assert metrics["all_reached"] and metrics["modes"] == 0
    assert recipe.reach_radius("grid25") == 0.5
    assert recipe.reach_radius("ring8") == pytest.approx(2 * np.sin(np.pi / 8) / 2)
    # Far from every mode: no mode, no high-quality sample.
    far = recipe.mode_metrics(centers + 1.0, "grid25", 1)
    assert far["modes"] == far["reached"] == 0


def test_uniform_lam_option_draws_from_zero_to_alpha():
    config = cli.smoke_config(recipe.GANConfig)
    unit = {"method": "mixup", "alpha": 0.2, "width": 8, "d_steps": 2,
            "seed": 0, "learning_rate": 1e-3}
    gan = recipe.build_gan(
        recipe.GANConfig(**{**vars(config), "lam_distribution": "uniform"}), unit
    )
    assert isinstance(gan, recipe.UniformLamGAN)
    lam = keras.ops.convert_to_numpy(gan.sample_lambda((2000,)))
    assert lam.min() >= 0.0 and lam.max() < 0.2
    assert lam.mean() == pytest.approx(0.1, abs=0.01)
    assert type(recipe.build_gan(config, unit)) is recipe.keras_mixup.MixUpGAN


def test_cli_help_and_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        recipe.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--smoke" in out and "--lam-distribution" in out and "20,000" in out
    for argv in (["--datasets", "moons"], ["--alpha", "0"], ["--width", "0"],
                 ["--lam-distribution", "gamma"]):
        with pytest.raises(SystemExit) as exit_info:
            recipe.main(argv)
        assert exit_info.value.code == 2
