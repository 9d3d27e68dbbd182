"""recipes/uci.py: the UCI tabular recipe (paper section 3.6, Table 4)."""

import csv
import json
import socket
import time
import urllib.error

import keras
import numpy as np
import pytest
import sklearn.datasets

import keras_mixup
from recipes import uci
from recipes.lib import cli
from recipes.lib.labels import corrupt_labels
from tests.helpers import assert_plotted_png


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """`python -m recipes.uci --smoke` once (iris, 1 seed, 1 epoch, ERM and
    mixup alpha=1); the tests below read what it wrote."""
    workdir = tmp_path_factory.mktemp("uci-smoke")
    results = uci.main(["--smoke", "--workdir", str(workdir)])
    return workdir, results


def test_smoke_writes_config_json(smoke_run):
    workdir, _ = smoke_run
    written = json.loads((workdir / "config.json").read_text())
    assert written["recipe"] == "uci"
    assert written["keras_backend"] == keras.backend.backend()
    assert written["config"]["datasets"] == ["iris"]
    assert written["config"]["epochs"] == 1 and written["config"]["seeds"] == 1
    assert written["config"]["batch_size"] == 16
    assert written["config"]["hidden"] == [128, 128]
    assert written["versions"]["keras"] == keras.__version__


def test_smoke_writes_history_results_and_chart(smoke_run):
    workdir, results = smoke_run
    with open(workdir / "history.csv", newline="") as file:
        history = list(csv.DictReader(file))
    assert [(r["epoch"], r["dataset"], r["method"], r["alpha"]) for r in history] == [
        ("0", "iris", "erm", "0.0"),
        ("0", "iris", "mixup", "1.0"),
    ]
    assert all(float(r["loss"]) > 0 for r in history)

    saved = json.loads((workdir / "results.json").read_text())
    assert saved["trained_runs"] == 2 and saved["skipped_runs"] == 0
    iris = saved["summary"]["iris"]
    assert iris["paper ERM"] == 21.3 and iris["paper mixup"] == 17.3
    for label in ("ERM", "mixup (α = 1)"):
        assert iris[label]["n"] == 1
        assert 0.0 <= iris[label]["mean"] <= 100.0
    # 30 test examples: errors are multiples of 1/30.
    for run in saved["runs"]:
        assert run["n_train"] == 120 and run["n_test"] == 30
        assert round(run["test_error"] * 30 / 100, 6).is_integer()
    assert results["summary"] == saved["summary"]

    with open(workdir / "results.csv", newline="") as file:
        table = list(csv.reader(file))
    assert table[0][:4] == ["dataset", "classes", "train/test", "ERM mean"]
    assert table[1][:3] == ["iris", "3", "120/30"]
    assert_plotted_png(workdir / "results.png")


def test_smoke_prints_table_beside_the_paper(smoke_run):
    _, results = smoke_run
    lines = results["table"].splitlines()
    assert lines[0].startswith("Test error (%), mean ± std over 1 seed(s), 1 epoch(s)")
    assert lines[1].split() == [
        "dataset",
        "classes",
        "train/test",
        "ERM",
        "mixup",
        "(α",
        "=",
        "1)",
        "paper",
        "ERM",
        "paper",
        "mixup",
    ]
    assert lines[3].split()[:3] == ["iris", "3", "120/30"]
    assert lines[3].split()[-2:] == ["21.3", "17.3"]


def test_resume_trains_nothing_already_done(smoke_run, monkeypatch, capsys):
    workdir, first = smoke_run

    def must_not_train(*args, **kwargs):
        raise AssertionError("a completed run was trained again")

    monkeypatch.setattr(uci, "train_one", must_not_train)
    again = uci.main(["--smoke", "--workdir", str(workdir)])
    assert again["trained_runs"] == 0 and again["skipped_runs"] == 2
    assert again["summary"] == first["summary"]
    assert "2 already done" in capsys.readouterr().out


def test_resume_with_other_settings_is_refused(smoke_run, capsys):
    workdir, _ = smoke_run
    with pytest.raises(SystemExit) as exit_info:
        uci.main(["--smoke", "--epochs", "2", "--workdir", str(workdir)])
    assert exit_info.value.code == 2
    assert "epochs: 1 then, 2 now" in capsys.readouterr().err


def test_killed_run_continues_where_it_stopped(smoke_run, tmp_path, monkeypatch):
    real_train_one = uci.train_one
    calls = []

    def killed_on_second_run(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real_train_one(*args, **kwargs)

    monkeypatch.setattr(uci, "train_one", killed_on_second_run)
    with pytest.raises(KeyboardInterrupt):
        uci.main(["--smoke", "--workdir", str(tmp_path)])
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == 1

    monkeypatch.setattr(uci, "train_one", real_train_one)
    results = uci.main(["--smoke", "--workdir", str(tmp_path)])
    assert results["trained_runs"] == 1 and results["skipped_runs"] == 1
    assert [(r["method"], r["alpha"]) for r in results["runs"]] == [
        ("erm", 0.0),
        ("mixup", 1.0),
    ]
    # Seeded: the interrupted-and-resumed run gets exactly the numbers of the
    # uninterrupted smoke run.
    _, uninterrupted = smoke_run
    for resumed_run, whole_run in zip(
        results["runs"], uninterrupted["runs"], strict=True
    ):
        for key in ("test_error", "final_train_loss"):
            assert resumed_run[key] == whole_run[key]


def _write_csv(path, header=True):
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        if header:
            writer.writerow(["width", "colour", "height", "species"])
        for i in range(40):
            species = ["setosa", "versicolor"][i % 2]
            width = rng.normal(loc=3.0 * (i % 2), scale=0.5)
            colour = ["red", "blue", "?"][i % 3]
            height = "?" if i == 5 else f"{rng.normal():.3f}"
            writer.writerow([f"{width:.3f}", colour, height, species])


def test_load_csv_encodes_features_and_labels(tmp_path):
    _write_csv(tmp_path / "plants.csv")
    data = uci.load_csv(str(tmp_path / "plants.csv"), "species")
    assert data.name == "csv:plants"
    assert data.num_classes == 2
    assert data.labels.tolist() == [0, 1] * 20
    # width, colour one-hot (blue, red; '?' -> zeros), height (missing -> NaN)
    assert data.features.shape == (40, 4)
    assert data.features[2, 1:3].tolist() == [0.0, 0.0]
    assert data.features[0, 1:3].tolist() == [0.0, 1.0]
    assert (
        np.isnan(data.features[5, 3])
        and np.isfinite(np.delete(data.features, 5, 0)).all()
    )


def test_load_csv_without_header_takes_a_column_index(tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text("".join(f"{i * 0.5},{i % 3},{i % 2}\n" for i in range(12)))
    data = uci.load_csv(str(path), "-1")
    assert data.num_classes == 2 and data.features.shape == (12, 2)
    assert data.labels.tolist() == [i % 2 for i in range(12)]


def test_load_csv_bad_input_gets_clear_errors(tmp_path):
    _write_csv(tmp_path / "plants.csv")
    with pytest.raises(
        cli.RecipeError, match=r"'kind' is not a column.*width, colour"
    ):
        uci.load_csv(str(tmp_path / "plants.csv"), "kind")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n4,5\n6,7\n8,9\n")
    with pytest.raises(cli.RecipeError, match="line 3 has 1 fields, expected 2"):
        uci.load_csv(str(ragged), "b")
    with pytest.raises(cli.RecipeError, match="cannot read --csv"):
        uci.load_csv(str(tmp_path / "absent.csv"), "b")


def test_csv_dataset_trains_end_to_end(tmp_path):
    _write_csv(tmp_path / "plants.csv")
    config = uci.UCIConfig(
        csv=str(tmp_path / "plants.csv"), target="species", seeds=1, epochs=1
    )
    assert config.dataset_names() == ("csv:plants",)  # --csv alone: no default sets
    results = uci.train(config, tmp_path / "run")
    assert results["trained_runs"] == 2
    runs = results["runs"]
    assert [r["dataset"] for r in runs] == ["csv:plants", "csv:plants"]
    assert runs[0]["n_train"] == 32 and runs[0]["n_test"] == 8
    assert results["summary"]["csv:plants"]["paper ERM"] is None


def test_label_noise_changes_exactly_the_fraction_and_continues_the_stream():
    """--label-noise: every chosen label becomes another class; the draw
    continues the generator the split used, so a seed fixes both."""
    labels = np.arange(200) % 10

    def noise(seed, fraction=0.4):
        return corrupt_labels(labels, fraction, 10, seed=np.random.default_rng(seed),
                              replacement="other")

    noisy = noise(3)
    assert noisy.corrupted.sum() == 80
    assert np.flatnonzero(noisy.labels != labels).tolist() == np.flatnonzero(
        noisy.corrupted).tolist()
    assert noisy.labels.min() >= 0 and noisy.labels.max() <= 9
    assert (noise(3).labels == noisy.labels).all()  # same seed, same corruption
    assert (noise(4).labels != noisy.labels).any()
    assert (noise(3, 0.0).labels == labels).all()
    rng = np.random.default_rng(3)
    rng.permutation(10)  # a split drew first: the noise follows that stream
    continued = corrupt_labels(labels, 0.4, 10, seed=rng, replacement="other")
    assert (continued.labels != noisy.labels).any()


def test_label_noise_touches_train_labels_only():
    data = uci.load_sklearn("digits")
    clean = uci.make_split(data, uci.UCIConfig(label_noise=0.0), seed=5)
    noisy = uci.make_split(data, uci.UCIConfig(label_noise=0.4), seed=5)
    assert noisy.corrupted == round(0.4 * len(clean.y_train))
    assert int((noisy.y_train != clean.y_train).sum()) == noisy.corrupted
    assert (noisy.y_test == clean.y_test).all()  # same split, clean test labels
    assert np.array_equal(noisy.x_train, clean.x_train)


def test_stratified_split_keeps_class_shares_and_rare_classes():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 1)
    train, test = uci.stratified_split(labels, 0.2, np.random.default_rng(0))
    assert np.bincount(labels[test], minlength=3).tolist() == [10, 6, 0]
    assert np.bincount(labels[train], minlength=3).tolist() == [40, 24, 1]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(81))


def test_standardize_uses_train_statistics():
    train = np.array([[1.0, 5.0, np.nan], [3.0, 5.0, 2.0]])
    test = np.array([[5.0, 7.0, np.nan]])
    scaled_train, scaled_test = uci.standardize(train, test)
    assert scaled_train.tolist() == [[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    assert scaled_test.tolist() == [[3.0, 2.0, 0.0]]  # constant column: centred


def test_offline_openml_fetch_fails_fast_with_instructions(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        assert kwargs["data_id"] == 183 and kwargs["n_retries"] <= 1
        assert socket.getdefaulttimeout() == uci.NETWORK_TIMEOUT_S
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)
    start = time.perf_counter()
    with pytest.raises(cli.RecipeError) as error:
        uci.load_openml("abalone", str(tmp_path))
    assert time.perf_counter() - start < 5
    message = str(error.value)
    for expected in [
        "'abalone'",
        str(tmp_path),
        "OpenML (data_id 183)",
        "Name or service not known",
        "--csv FILE --target COLUMN",
        "iris, wine, breast_cancer, digits",
    ]:
        assert expected in message
    assert socket.getdefaulttimeout() is None  # restored


def test_cached_openml_dataset_one_hot_encodes_nominal_features(monkeypatch):
    from sklearn.utils import Bunch

    def cached(*args, **kwargs):
        assert kwargs["parser"] == "liac-arff" and kwargs["as_frame"] is False
        return Bunch(
            data=np.array([[0.0, 1.5], [2.0, 2.5], [1.0, 0.5], [np.nan, 1.0]]),
            target=np.array(["9", "10", "9", "10"], dtype=object),
            feature_names=["Sex", "Length"],
            categories={"Sex": ["F", "I", "M"]},
        )

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", cached)
    data = uci.load_openml("abalone", None)
    assert data.source == "OpenML data_id 183"
    assert data.labels.tolist() == [0, 1, 0, 1]  # numeric order: 9 before 10
    assert data.features.tolist() == [
        [1.0, 0.0, 0.0, 1.5],
        [0.0, 0.0, 1.0, 2.5],
        [0.0, 1.0, 0.0, 0.5],
        [0.0, 0.0, 0.0, 1.0],
    ]


def test_cli_stops_before_training_when_data_is_missing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(
        sklearn.datasets,
        "fetch_openml",
        lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline")),
    )
    with pytest.raises(SystemExit) as exit_info:
        uci.main(["--datasets", "iris", "arcene", "--workdir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "python -m recipes.uci: error: dataset 'arcene' is not in the cache"
    )
    assert "Traceback" not in err
    assert not (tmp_path / "rows.jsonl").exists()  # nothing trained, iris included


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--alpha", "0"], "--alpha values must be > 0, got 0.0"),
        (["--alpha", "1", "1"], "--alpha lists a value twice: 1.0 1.0"),
        (["--datasets", "mnist"], "--datasets: invalid choice: 'mnist' (choose "
                                  "from 'iris', 'wine'"),
        (["--csv", "x.csv"], "--csv and --target go together"),
        (["--label-noise", "1"], "--label-noise must be >= 0 and < 1, got 1.0"),
        (["--seeds", "0"], "--seeds must be >= 1, got 0"),
        (["--test-fraction", "0"], "--test-fraction must be > 0 and < 1, got 0.0"),
        (["--fit-verbose", "3"], "--fit-verbose: invalid choice: 3"),
    ],
)
def test_bad_cli_input_is_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        uci.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_default_config_is_the_papers_setting_on_offline_data():
    config = uci.UCIConfig()
    assert config.dataset_names() == uci.OFFLINE_DATASETS
    assert (config.epochs, config.batch_size, config.hidden) == (10, 16, (128, 128))
    assert config.seeds == 10 and config.alpha == (1.0,)
    units = uci.units(uci.UCIConfig(datasets=("iris",), seeds=2, alpha=(0.5, 8.0)))
    assert [tuple(unit[k] for k in uci.KEY_FIELDS) for unit in units] == [
        ("iris", 0, "erm", 0.0),
        ("iris", 0, "mixup", 0.5),
        ("iris", 0, "mixup", 8.0),
        ("iris", 1, "erm", 0.0),
        ("iris", 1, "mixup", 0.5),
        ("iris", 1, "mixup", 8.0),
    ]


def test_mlp_is_the_papers_net():
    from recipes.lib import models

    model = models.mlp(4, 3)
    assert [layer.units for layer in model.layers[1:]] == [128, 128, 3]
    assert model.layers[1].activation.__name__ == "relu"
    assert model.count_params() == (4 * 128 + 128) + (128 * 128 + 128) + (128 * 3 + 3)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        models.mlp(4, 1)


def test_erm_and_mixup_of_a_seed_start_from_the_same_weights_mixup_in_the_model():
    """ERM is the plain MLP; mixup is the same MLP behind a MixUp layer in a
    MixUpModel (in-model mixing: the mode whose cost per run stays at ERM's
    on this small net), with the same initial weights for a seed."""
    rng = np.random.default_rng(0)
    split = uci.Split(
        rng.standard_normal((40, 5)).astype("float32"),
        rng.integers(0, 3, 40).astype("int32"),
        rng.standard_normal((10, 5)).astype("float32"),
        rng.integers(0, 3, 10).astype("int32"),
        num_classes=3, corrupted=0,
    )
    config = uci.UCIConfig(datasets=("iris",))
    erm = uci.build_model(split, config, seed=3, alpha=0.0)
    mixup = uci.build_model(split, config, seed=3, alpha=1.0)
    other_seed = uci.build_model(split, config, seed=4, alpha=0.0)
    assert not isinstance(erm, keras_mixup.MixUpModel)
    assert isinstance(mixup, keras_mixup.MixUpModel)
    (layer,) = mixup.mixup_layers
    assert isinstance(layer, keras_mixup.MixUp) and layer.alpha == 1.0
    erm_weights = [keras.ops.convert_to_numpy(w) for w in erm.weights]
    mixup_weights = [keras.ops.convert_to_numpy(w)
                     for w in mixup.model.trainable_weights]
    assert len(erm_weights) == len(mixup_weights) == 6
    for a, b in zip(erm_weights, mixup_weights):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(erm_weights[0],
                              keras.ops.convert_to_numpy(other_seed.weights[0]))
    # Inference is the plain MLP: the MixUp layer is the identity there.
    x = split.x_test
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(mixup(x, training=False)),
        keras.ops.convert_to_numpy(erm(x, training=False)), rtol=1e-6)
