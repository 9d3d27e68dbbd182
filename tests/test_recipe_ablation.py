"""recipes/ablation.py: the ablation recipe (paper section 3.8, Table 5)."""

import csv
import json

import keras
import numpy as np
import pytest

from recipes import ablation
from recipes.lib import cli, settings, storage
from tests.helpers import assert_plotted_png


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """`python -m recipes.ablation --smoke` once: synthetic 8x8 images, a
    row with KNN pairs and one with a latent MixUp layer, weight decay 5e-4,
    2 epochs."""
    workdir = tmp_path_factory.mktemp("ablation-smoke")
    results = ablation.main(["--smoke", "--workdir", str(workdir)])
    return workdir, results


def test_smoke_writes_config_results_rows_and_chart(smoke_run):
    workdir, results = smoke_run
    written = json.loads((workdir / "config.json").read_text())
    assert written["recipe"] == "ablation"
    assert written["keras_backend"] == keras.backend.backend()
    assert written["config"]["rows"] == list(ablation.SMOKE_ROWS)
    assert written["config"]["epochs"] is None  # the data set's: 2 on synthetic

    saved = json.loads((workdir / "results.json").read_text())
    assert saved["trained_runs"] == 2 and saved["skipped_runs"] == 0
    assert saved["setting"]["epochs"] == 2 and saved["setting"]["batch_size"] == 32
    assert [entry["row"] for entry in saved["summary"]] == list(ablation.SMOKE_ROWS)
    for run in saved["runs"]:
        errors = run["test_errors"]
        assert len(errors) == 2 and all(0.0 <= e <= 100.0 for e in errors)
        # 64 test images: every error is a multiple of 1/64.
        assert all(float(e * 64 / 100).is_integer() for e in np.round(errors, 6))
        assert run["median_test_error"] == pytest.approx(np.median(errors))
        history = workdir / "units" / ablation.unit_id(
            run["row"], run["weight_decay"], run["seed"]) / "history.csv"
        with open(history, newline="") as file:
            assert [int(r["epoch"]) for r in csv.DictReader(file)] == [0, 1]
    knn = saved["summary"][0]
    assert knn["paper wd=0.0005"] == 5.26 and knn["wd=0.0005"]["n"] == 1
    assert (workdir / "neighbours_all_k3.npy").exists()
    assert len((workdir / "rows.jsonl").read_text().splitlines()) == 2

    with open(workdir / "results.csv", newline="") as file:
        table = list(csv.reader(file))
    assert table[0] == ["row", "ours wd=0.0005", "paper wd=0.0005"]
    assert table[1][0] == "mixup: AC + KNN" and table[1][2] == "5.26"
    assert_plotted_png(workdir / "results.png")
    assert results["summary"] == saved["summary"]


def test_smoke_prints_table_5_beside_the_paper(smoke_run, capsys):
    _, results = smoke_run
    lines = results["table"].splitlines()
    assert lines[0].startswith("Table 5: median test error (%) of the last 10 of 2")
    assert lines[1].split()[-4:] == ["ours", "wd=0.0005", "paper", "wd=0.0005"]
    by_label = {line.rsplit(None, 2)[0]: line.split()[-1] for line in lines[3:]}
    assert by_label == {
        "mixup: AC + KNN": "5.26",
        "mix labels and latent representations (AC + RP): Layer 2": "4.61",
    }


@pytest.mark.slow
def test_resume_skips_finished_rows_and_runs_only_new_ones(smoke_run):
    workdir, first = smoke_run
    again = ablation.main(["--smoke", "--workdir", str(workdir)])
    assert again["trained_runs"] == 0 and again["skipped_runs"] == 2
    assert again["summary"] == first["summary"]
    # Same-class pairs with closer targets: the third kind of pipeline.
    more = ablation.main(["--smoke", "--workdir", str(workdir), "--rows",
                          *ablation.SMOKE_ROWS, "inputs-sc-rp"])
    assert more["trained_runs"] == 1 and more["skipped_runs"] == 2
    assert more["summary"][:2] == first["summary"]
    assert more["summary"][-1]["paper wd=0.0005"] == 5.55
    assert len((workdir / "rows.jsonl").read_text().splitlines()) == 3


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_finished_epoch(tmp_path, monkeypatch):
    """The first fit dies as epoch 1 begins (epoch 0 logged and
    checkpointed); the second trains only epoch 1 and reports both."""
    config = cli.smoke_config(ablation.AblationConfig)
    data = settings.load_data(config)
    row = ablation.ROWS_BY_ID["erm"]
    logger = storage.history_logger
    epochs_begun = []

    class Killed(Exception):
        pass

    def dying_logger(directory, **tags):
        callback = logger(directory, **tags)

        def on_epoch_begin(epoch, logs=None):
            if epoch == 1:
                raise Killed

        callback.on_epoch_begin = on_epoch_begin
        return callback

    def counting_logger(directory, **tags):
        callback = logger(directory, **tags)
        callback.on_epoch_begin = lambda epoch, logs=None: epochs_begun.append(epoch)
        return callback

    monkeypatch.setattr(storage, "history_logger", dying_logger)
    with pytest.raises(Killed):
        ablation.train_one(row, 5e-4, 0, config, data, {}, tmp_path)
    monkeypatch.setattr(storage, "history_logger", counting_logger)
    result = ablation.train_one(row, 5e-4, 0, config, data, {}, tmp_path)
    assert epochs_begun == [1]
    assert len(result["test_errors"]) == 2
    history = tmp_path / "units" / ablation.unit_id("erm", 5e-4, 0) / "history.csv"
    with open(history, newline="") as file:
        assert [int(r["epoch"]) for r in csv.DictReader(file)] == [0, 1]


@pytest.mark.parametrize("row_id,check", [
    ("ls-0.1", "smoothed"),
    ("mix-ls-0.2", "smoothed"),
    ("inputs-ac-rp", "one-hot"),
    ("mixup-ac-rp", "mixed"),
])
def test_pipelines_give_each_row_its_targets(row_id, check):
    config = cli.smoke_config(ablation.AblationConfig)
    data = settings.load_data(config)
    row = ablation.ROWS_BY_ID[row_id]
    x, y = next(ablation.train_pipeline(data, row, config, 0, {}).as_numpy_iterator())
    assert x.shape == (config.setting().batch_size, 8, 8, 1) and x.dtype == np.float32
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    if check == "smoothed":
        # The paper's smoothing: eps/10 wrong classes, 1 - 9 eps/10 right one.
        eps = row.label_smoothing
        np.testing.assert_allclose(np.unique(y), [eps / 10, 1 - 9 * eps / 10],
                                   rtol=1e-6)
    elif check == "one-hot":
        assert set(y.ravel()) == {0.0, 1.0}
    else:
        assert (np.sort(y, axis=1)[:, -2] > 0).mean() > 0.5  # two classes


def test_noise_row_adds_gaussian_noise_of_its_sigma_to_erm_inputs():
    config = cli.smoke_config(ablation.AblationConfig)
    data = settings.load_data(config)
    clean, _ = next(ablation.train_pipeline(
        data, ablation.ROWS_BY_ID["erm"], config, 0, {}).as_numpy_iterator())
    noisy, _ = next(ablation.train_pipeline(
        data, ablation.ROWS_BY_ID["noise-0.2"], config, 0, {}).as_numpy_iterator())
    noise = (noisy - clean).ravel()  # same seed: same order, same images
    assert abs(noise.std() - 0.2) < 0.02 and abs(noise.mean()) < 0.02


def test_small_cnn_batchnorm_averages_like_pytorch_and_latent_rows_wrap():
    config = cli.smoke_config(ablation.AblationConfig)
    data = settings.load_data(config)
    plain = ablation.build_model(ablation.ROWS_BY_ID["erm"], config, data, 5e-4, 0)
    norms = [layer for layer in plain.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == 0.9 for layer in norms)
    latent = ablation.build_model(ablation.ROWS_BY_ID["latent-layer5"], config,
                                  data, 5e-4, 0)
    assert [layer.name for layer in latent.mixup_layers] == ["mixup_layer3"]


def test_digits_defaults_are_the_robustness_recipes_digits_setting():
    config = ablation.AblationConfig(dataset="digits")
    assert config.setting() == settings.SETTINGS["digits"]
    assert config.neighbours(np.repeat(np.arange(10), 144)) == 10
    assert config.reported_epochs() == 10
    assert len(config.row_ids()) == 20  # Layers 3 and 4 have no counterpart
    faster = ablation.AblationConfig(dataset="digits", lr=0.05, epochs=10,
                                     milestones=(5,))
    assert (faster.setting().learning_rate, faster.setting().epochs,
            faster.setting().batch_size) == (0.05, 10, 64)


def test_config_refuses_unknown_rows_and_latent_layers_without_counterpart():
    with pytest.raises(ValueError, match="--rows values must be one of erm, "):
        ablation.AblationConfig(rows=("mixup-xx",))
    with pytest.raises(ValueError, match="latent-layer3.*Layer 1, 2 and 5"):
        ablation.AblationConfig(dataset="digits", rows=("latent-layer3",))
    with pytest.raises(ValueError, match="--lr must be > 0, got 0"):
        ablation.AblationConfig(lr=0.0)
    with pytest.raises(ValueError, match=r"--milestones must be increasing "
                       r"epochs in \[1, 30\), got \(15, 30\)"):
        ablation.AblationConfig(dataset="digits", milestones=(15, 30))
    config = ablation.AblationConfig(dataset="cifar10")
    setting = config.setting()
    assert len(config.row_ids()) == 22 and setting.epochs == 200
    assert setting.learning_rate == 0.1 and setting.milestones == (100, 150)
    assert config.neighbours(np.repeat(np.arange(10), 5000)) == 200
