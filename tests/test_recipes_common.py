"""recipes/lib: options declared as config fields and the CLI built from
them, the workdir (config.json, history.csv, resume), tables, plots, the
learning-rate schedule, the recipe skeleton."""

import csv
import dataclasses
import json

import keras
import numpy as np
import pytest

from recipes.lib import cli, data, harness, images, reporting, schedules, storage


@dataclasses.dataclass(frozen=True)
class ToyConfig(cli.RecipeConfig):
    """A toy recipe."""

    steps: int = cli.option(100, "training steps", smoke=2, minimum=1)
    rate: float = cli.option(0.1, "learning rate")
    widths: tuple[int, ...] = cli.option((8, 8), "layer widths", smoke=(2,))
    name: str | None = cli.option(None, "optional name", resumable=True)
    augment: bool = cli.option(True, "augment the data")


def test_parse_config_defaults_and_workdir():
    invocation = cli.parse_config(ToyConfig, "toy", [])
    assert invocation.config == ToyConfig()
    assert str(invocation.workdir) == "runs/toy"
    assert not invocation.smoke
    assert invocation.explicit == frozenset()


def test_parse_config_smoke_values_and_explicit_flags_win():
    invocation = cli.parse_config(
        ToyConfig,
        "toy",
        [
            "--smoke",
            "--steps",
            "5",
            "--rate",
            "0.5",
            "--no-augment",
            "--seed",
            "3",
            "--name",
            "x",
        ],
    )
    assert invocation.config == ToyConfig(
        seed=3, steps=5, rate=0.5, widths=(2,), name="x", augment=False
    )
    assert str(invocation.workdir) == "runs/toy-smoke"
    assert invocation.explicit == {"steps", "rate", "augment", "seed", "name"}
    assert cli.smoke_config(ToyConfig) == ToyConfig(steps=2, widths=(2,))


def test_parse_config_sequences_become_tuples(tmp_path):
    invocation = cli.parse_config(
        ToyConfig, "toy", ["--widths", "4", "5", "6", "--workdir", str(tmp_path)]
    )
    assert invocation.config.widths == (4, 5, 6)
    assert invocation.workdir == tmp_path


def test_bad_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_config(ToyConfig, "toy", ["--steps", "0"])
    assert exit_info.value.code == 2
    assert "--steps must be >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_config(ToyConfig, "toy", ["--steps", "many"])
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_help_lists_every_option_with_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_config(ToyConfig, "toy", ["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for expected in [
        "python -m recipes.toy",
        "A toy recipe.",
        "--steps",
        "training steps",
        "(default: 100; with --smoke: 2)",
        "--widths",
        "(default: 8 8;",
        "--augment, --no-augment",
        "--seed",
        "--workdir",
        "--smoke",
    ]:
        assert expected in text


def test_run_cli_prints_recipe_errors_without_traceback(capsys, tmp_path):
    def failing_train(config, workdir):
        raise cli.RecipeError("the data is missing; give --csv")

    with pytest.raises(SystemExit) as exit_info:
        cli.run_cli("toy", ToyConfig, failing_train, ["--workdir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.strip() == "python -m recipes.toy: error: the data is missing; give --csv"
    )


def test_run_cli_passes_config_and_workdir(tmp_path):
    seen = {}
    result = cli.run_cli(
        "toy",
        ToyConfig,
        lambda c, w: seen.update(config=c, workdir=w) or "done",
        ["--smoke", "--workdir", str(tmp_path)],
    )
    assert result == "done"
    assert seen == {"config": cli.smoke_config(ToyConfig), "workdir": tmp_path}


def test_prepare_workdir_writes_config_json(tmp_path):
    workdir = storage.prepare_workdir(tmp_path / "run", ToyConfig(seed=7), "toy")
    written = json.loads((workdir / "config.json").read_text())
    assert written["recipe"] == "toy"
    assert written["config"] == {
        "seed": 7,
        "steps": 100,
        "rate": 0.1,
        "widths": [8, 8],
        "name": None,
        "augment": True,
    }
    assert written["seed"] == 7
    assert written["keras_backend"] == keras.backend.backend()
    assert written["versions"]["keras"] == keras.__version__
    assert written["versions"]["numpy"] == np.__version__
    assert written["started"] == written["first_started"]


def test_prepare_workdir_resumes_only_with_the_same_settings(tmp_path):
    storage.prepare_workdir(tmp_path, ToyConfig(), "toy")
    first = json.loads((tmp_path / "config.json").read_text())["first_started"]
    # A resumable field may change (e.g. more seeds add units) ...
    storage.prepare_workdir(tmp_path, ToyConfig(name="more"), "toy")
    assert json.loads((tmp_path / "config.json").read_text())["first_started"] == first
    # ... the others may not: results of different settings must not mix.
    with pytest.raises(
        cli.RecipeError, match=r"steps: 100 then, 5 now.*another --workdir"
    ):
        storage.prepare_workdir(tmp_path, ToyConfig(steps=5), "toy")
    with pytest.raises(cli.RecipeError, match="recipe 'toy', not 'other'"):
        storage.prepare_workdir(tmp_path, ToyConfig(), "other")


def test_result_rows_record_and_skip_units(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = storage.ResultRows(path, ("dataset", "seed"))
    rows.add({"dataset": "iris", "seed": 0, "error": np.float32(0.25)})
    rows.add({"dataset": "iris", "seed": 1, "error": 0.5})
    # A run killed while writing leaves a partial last line: that unit reruns.
    with path.open("a") as file:
        file.write('{"dataset": "iris", "se')
    reloaded = storage.ResultRows(path, ("dataset", "seed"))
    assert len(reloaded) == 2
    assert ("iris", 0) in reloaded and ("iris", 1) in reloaded
    assert ("iris", 2) not in reloaded
    assert reloaded.get(("iris", 0))["error"] == 0.25
    path.write_text('not json\n{"dataset": "iris", "seed": 0}\n')
    with pytest.raises(cli.RecipeError, match=r"rows\.jsonl:1 is not valid JSON"):
        storage.ResultRows(path, ("dataset", "seed"))


def test_write_json_is_plain_json(tmp_path):
    path = storage.write_json(
        tmp_path / "results.json",
        {"a": (1, 2), "b": np.float64(0.5), "c": np.arange(2), "d": float("nan")},
    )
    assert json.loads(path.read_text()) == {
        "a": [1, 2],
        "b": 0.5,
        "c": [0, 1],
        "d": None,
    }
    assert not (tmp_path / "results.json.tmp").exists()


def test_mean_std():
    stats = reporting.MeanStd.of([1.0, 2.0, 3.0])
    assert (stats.mean, stats.std, stats.n) == (2.0, 1.0, 3)
    assert stats.format() == "2.0 ± 1.0"
    assert reporting.MeanStd.of([4.0]).std == 0.0
    with pytest.raises(ValueError, match="at least one value"):
        reporting.MeanStd.of([])


def test_print_table_aligns_and_writes_csv(tmp_path, capsys):
    columns = ["dataset", "ours", "paper"]
    rows = [
        {"dataset": "iris", "ours": reporting.MeanStd(5.25, 1.5, 10), "paper": 21.3},
        {
            "dataset": "breast_cancer",
            "ours": reporting.MeanStd(12.0, 0.25, 10),
            "paper": None,
        },
    ]
    text = reporting.print_table(
        columns, rows, title="Test error (%)", csv_path=tmp_path / "t.csv"
    )
    assert capsys.readouterr().out == text + "\n"
    lines = text.splitlines()
    assert lines[0] == "Test error (%)"
    assert lines[1].split() == ["dataset", "ours", "paper"]
    assert lines[3] == "iris            5.2 ± 1.5   21.3"
    assert lines[4] == "breast_cancer  12.0 ± 0.2      -"
    # Right-aligned columns end at the same place on every line.
    assert len({len(line) for line in lines[1:]}) == 1
    with open(tmp_path / "t.csv", newline="") as file:
        table = list(csv.reader(file))
    assert table[0] == ["dataset", "ours mean", "ours std", "ours n", "paper"]
    assert table[1] == ["iris", "5.25", "1.5", "10", "21.3"]
    assert table[2] == ["breast_cancer", "12.0", "0.25", "10", ""]


def test_bar_chart_draws_the_bars_error_bars_and_references(tmp_path, monkeypatch):
    import matplotlib.image
    import matplotlib.pyplot as plt

    # Keep the figure open after saving, to read what was drawn.
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda *args, **kwargs: None)
    open_before = set(plt.get_fignums())
    path = reporting.bar_chart(
        tmp_path / "chart.png",
        ["iris", "wine"],
        {
            "ERM": [reporting.MeanStd(5, 1, 3), 2.0],
            "mixup": [reporting.MeanStd(4, 1, 3), None],
        },
        reference={"ERM": [21.3, None], "mixup": [17.3, None]},
        ylabel="test error (%)",
        title="chart",
    )
    (number,) = set(plt.get_fignums()) - open_before
    figure = plt.figure(number)
    try:
        (axes,) = figure.axes
        bars = {c.get_label(): c for c in axes.containers if hasattr(c, "patches")}
        assert list(bars) == ["ERM", "mixup"]
        heights = {k: [p.get_height() for p in c.patches] for k, c in bars.items()}
        assert heights["ERM"] == [5.0, 2.0]
        assert heights["mixup"][0] == 4.0 and np.isnan(heights["mixup"][1])  # None
        # Error bars span mean -+ std; a plain float has none.
        segments = [c.lines[2][0].get_segments() for c in axes.containers
                    if not hasattr(c, "patches")]
        assert [[tuple(point[1] for point in s) for s in series if len(s)]
                for series in segments] == [[(4.0, 6.0), (2.0, 2.0)], [(3.0, 5.0)]]
        # The paper's numbers: one black tick over each bar that has one.
        ticks = sorted(
            (line.get_ydata()[0], line.get_xdata()[0], line.get_xdata()[1])
            for line in axes.lines if line.get_color() == "k"
        )
        erm, mixup = (p.get_x() for p in (bars["ERM"].patches[0], bars["mixup"].patches[0]))
        width = bars["ERM"].patches[0].get_width()
        np.testing.assert_allclose(
            ticks, [(17.3, mixup, mixup + width), (21.3, erm, erm + width)], atol=1e-12)
        assert [t.get_text() for t in axes.get_xticklabels()] == ["iris", "wine"]
        assert (axes.get_ylabel(), axes.get_title()) == ("test error (%)", "chart")
        assert [t.get_text() for t in axes.get_legend().get_texts()] == [
            "paper", "ERM", "mixup"]
    finally:
        close(figure)

    # The file is that figure: 6 x 4.5 inches (the narrowest) at 120 dpi,
    # the bars in the first two colours of the cycle, in proportion to their
    # heights: ERM (5 + 2) against mixup (4), bars of equal width.
    image = matplotlib.image.imread(path)
    assert image.shape == (540, 720, 4)
    rgb = np.round(image[..., :3] * 255).astype(int)

    def pixels_of(colour):
        return np.all(np.abs(rgb - colour) <= 2, axis=-1).sum()

    erm_pixels, mixup_pixels = pixels_of((31, 119, 180)), pixels_of((255, 127, 14))
    assert mixup_pixels > 1000
    assert erm_pixels / mixup_pixels == pytest.approx(7 / 4, rel=0.1)


def _tiny_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _tiny_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 3)).astype("float32"), rng.integers(0, 2, size=32)


def _history_rows(workdir):
    with open(workdir / "history.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_history_logger_appends_tagged_epochs(tmp_path):
    x, y = _tiny_data()
    for seed in (0, 1):
        _tiny_model().fit(
            x,
            y,
            epochs=2,
            verbose=0,
            callbacks=[storage.history_logger(tmp_path, dataset="toy", seed=seed)],
        )
    rows = _history_rows(tmp_path)
    assert list(rows[0]) == ["epoch", "dataset", "seed", "loss"]  # no val_ copies
    assert [(r["epoch"], r["dataset"], r["seed"]) for r in rows] == [
        ("0", "toy", "0"),
        ("1", "toy", "0"),
        ("0", "toy", "1"),
        ("1", "toy", "1"),
    ]


class _KillAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("killed")


def test_backup_and_restore_resumes_a_killed_fit(tmp_path):
    x, y = _tiny_data()

    def callbacks(*extra):
        return [
            storage.backup_and_restore(tmp_path),
            storage.history_logger(tmp_path),
            *extra,
        ]

    with pytest.raises(KeyboardInterrupt):
        _tiny_model().fit(
            x, y, epochs=4, verbose=0, callbacks=callbacks(_KillAfterEpoch(1))
        )
    history = _tiny_model().fit(x, y, epochs=4, verbose=0, callbacks=callbacks())
    assert len(history.history["loss"]) == 2  # only epochs 2 and 3 ran again
    assert [row["epoch"] for row in _history_rows(tmp_path)] == ["0", "1", "2", "3"]
    assert not (tmp_path / "backup").exists()  # removed once training completed


def test_progress_bar_shows_latest_values(capsys):
    bar = reporting.progress_bar(2, unit_name="run")
    bar.update(1, [("test_error", 10.0)])
    bar.update(2, [("test_error", 30.0)])
    out = capsys.readouterr().out
    assert "2/2" in out and "test_error: 30.0000" in out  # not averaged to 20


# ----------------------------------------------------------------- load_tfds


def test_load_tfds_missing_offline_fails_fast_with_instructions(tmp_path, monkeypatch):
    import time

    monkeypatch.setattr(data, "network_available", lambda *a, **k: False)
    start = time.monotonic()
    with pytest.raises(cli.RecipeError) as error:
        data.load_tfds("cifar10", "train", data_dir=tmp_path)
    assert time.monotonic() - start < 30
    message = str(error.value)
    assert "'cifar10' is not prepared in" in message
    assert str(tmp_path) in message
    assert "--data-dir" in message


def test_load_tfds_manual_dataset_names_the_archives(tmp_path):
    with pytest.raises(cli.RecipeError, match="ILSVRC2012_img_train.tar"):
        data.load_tfds("imagenet2012", "train", data_dir=tmp_path)


def test_load_tfds_reads_mock_data_without_network(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def no_network(*args, **kwargs):
        raise AssertionError("load_tfds must not probe the network for prepared data")

    monkeypatch.setattr(data, "network_available", no_network)
    with tfds.testing.mock_data(num_examples=3):
        ds = data.load_tfds("cifar10", "train", data_dir=tmp_path, as_supervised=True)
        images = [image.shape for image, _ in ds]
    assert images == [(32, 32, 3)] * 3


def test_network_available_true_only_where_a_host_accepts():
    import socket

    # Ports this test holds: one listening, one bound but not listening (a
    # connection to it is refused at once), so no other process decides.
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))
        accepting = listening.getsockname()
        refusing = closed.getsockname()
        assert not data.network_available((refusing,), timeout_s=1.0)
        assert data.network_available((accepting,), timeout_s=1.0)
        assert data.network_available((refusing, accepting), timeout_s=1.0)


# ------------------------------------------- the step learning-rate schedule


def _rates(schedule, steps):
    return [float(keras.ops.convert_to_numpy(schedule(step))) for step in steps]


def test_step_decay_divides_at_milestones():
    schedule = schedules.step_decay(0.1, (100, 150), steps_per_epoch=390)
    assert isinstance(schedule, keras.optimizers.schedules.PiecewiseConstantDecay)
    steps = [0, 100 * 390 - 1, 100 * 390, 150 * 390 - 1, 150 * 390, 200 * 390]
    expected = [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    np.testing.assert_allclose(_rates(schedule, steps), expected, rtol=1e-6)


def test_step_decay_linear_warmup_then_steps():
    # Goyal et al.: 0.1 -> 0.4 over 5 epochs, then /10 at 30.
    schedule = schedules.step_decay(
        0.4, (30, 60, 80), steps_per_epoch=10, warmup_epochs=5, warmup_start_lr=0.1
    )
    steps = [0, 25, 49, 50, 299, 300, 600, 800]
    expected = [0.1, 0.1 + 0.3 * 25 / 50, 0.1 + 0.3 * 49 / 50, 0.4, 0.4, 0.04,
                0.004, 0.0004]
    np.testing.assert_allclose(_rates(schedule, steps), expected, rtol=1e-5)


def test_step_decay_round_trips_through_serialization():
    schedule = schedules.step_decay(
        0.4, (30,), 7, warmup_epochs=5, warmup_start_lr=0.1
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule)
    )
    assert type(restored) is schedules.LinearWarmup
    steps = [0, 17, 35, 209, 210, 400]
    assert _rates(restored, steps) == _rates(schedule, steps)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(base_lr=0.0), "base_lr"),
        (dict(milestones=(150, 100)), "milestones"),
        (dict(steps_per_epoch=0), "steps_per_epoch"),
        (dict(factor=1.5), "factor"),
        (dict(warmup_epochs=200), "milestones"),
    ],
)
def test_step_decay_rejects_bad_arguments(kwargs, match):
    arguments = dict(base_lr=0.1, milestones=(100, 150), steps_per_epoch=10)
    with pytest.raises(ValueError, match=match):
        schedules.step_decay(**{**arguments, **kwargs})


# ---------------------------------------------- constraints declared once


@dataclasses.dataclass(frozen=True)
class BoundedConfig(cli.RecipeConfig):
    """Options with declared choices and bounds."""

    mode: str = cli.option("fast", "how", choices=("fast", "slow"))
    level: int = cli.option(1, "verbosity", choices=(0, 1, 2))
    fraction: float = cli.option(0.5, "a fraction", minimum=0, below=1)
    alphas: tuple[float, ...] = cli.option(
        (1.0,), "alphas", above=0, unique=True
    )
    limit: int | None = cli.option(None, "at most N", minimum=1)
    lower: int = cli.option(0, "low end")
    upper: int = cli.option(5, "high end")

    def validate(self):
        if self.lower > self.upper:
            raise ValueError("--lower must not exceed --upper")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="medium"), "--mode must be one of fast, slow, got 'medium'"),
        (dict(level=3), "--level must be one of 0, 1, 2, got 3"),
        (dict(fraction=1.0), "--fraction must be >= 0 and < 1, got 1.0"),
        (dict(fraction=-0.1), "--fraction must be >= 0 and < 1, got -0.1"),
        (dict(fraction=float("nan")), "--fraction must be >= 0 and < 1, got nan"),
        (dict(alphas=(1.0, 0.0)), "--alphas values must be > 0, got 1.0 0.0"),
        (dict(alphas=(1.0, float("inf"))), "--alphas values must be > 0, got 1.0 inf"),
        (dict(alphas=(2.0, 2.0)), "--alphas lists a value twice: 2.0 2.0"),
        (dict(limit=0), "--limit must be >= 1, got 0"),
        (dict(lower=6), "--lower must not exceed --upper"),
    ],
)
def test_declared_constraints_are_checked_for_code_and_cli_alike(kwargs, message):
    with pytest.raises(ValueError) as error:
        BoundedConfig(**kwargs)
    assert str(error.value) == message


def test_declared_constraints_pass_good_values_and_none():
    config = BoundedConfig(mode="slow", level=0, fraction=0.0, alphas=(0.5, 8.0),
                           limit=None, lower=5)
    assert (config.mode, config.limit) == ("slow", None)


def test_choices_become_argparse_choices(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_config(BoundedConfig, "bounded", ["--mode", "medium"])
    assert exit_info.value.code == 2
    assert ("argument --mode: invalid choice: 'medium' (choose from 'fast', 'slow')"
            in capsys.readouterr().err)
    with pytest.raises(SystemExit):
        cli.parse_config(BoundedConfig, "bounded", ["--help"])
    assert "--mode {fast,slow}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.parse_config(BoundedConfig, "bounded", ["--fraction", "2"])
    assert "--fraction must be >= 0 and < 1, got 2.0" in capsys.readouterr().err


# ------------------------------------------------------ the history reader


def test_read_history_picks_a_runs_epochs_and_the_later_of_a_repeated_one(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(
        "epoch,method,alpha,val_accuracy,val_top5\n"
        "0,erm,0.0,0.5,0.9\n"
        "0,mixup,1.0,0.25,0.75\n"
        "1,erm,0.0,0.6,0.95\n"
        "1,erm,0.0,0.7,1.0\n"  # epoch 1 logged again after a resume
        "2,erm,0.0,0.8,1.0\n"
    )
    rows = storage.read_history(path, method="erm", alpha=0.0)
    assert [(r["epoch"], r["val_accuracy"]) for r in rows] == [
        ("0", "0.5"), ("1", "0.7"), ("2", "0.8")
    ]
    np.testing.assert_allclose(
        storage.error_curve(path, "accuracy", method="erm"), [50.0, 30.0, 20.0]
    )
    np.testing.assert_allclose(storage.error_curve(path, "top5", alpha=1.0), [25.0])
    assert storage.read_history(path, method="cutmix") == []
    assert storage.error_curve(tmp_path / "missing.csv") == []


# ---------------------------------------------------------- the skeleton


def test_run_trains_pending_units_records_them_and_reports(tmp_path, capsys):
    config = ToyConfig()
    units = [{"seed": seed, "method": m} for seed in (0, 1) for m in ("erm", "mixup")]
    trained = []

    def train_unit(unit):
        trained.append(dict(unit))
        if len(trained) == 3:
            raise KeyboardInterrupt("killed")
        return {"error": 10.0 * len(trained), "seconds": 1.5}

    run = harness.Run("toy", config, tmp_path, ("seed", "method"))
    with pytest.raises(KeyboardInterrupt):
        run.train(units, train_unit, headline="toy", show=("error",))
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == 2

    run = harness.Run("toy", config, tmp_path, ("seed", "method"))
    assert run.pending(units) == units[2:]
    rows = run.train(units, train_unit, headline="toy", show=("error",))
    assert "toy; 2 already done in" in capsys.readouterr().out
    assert trained[3:] == units[2:]  # the killed unit ran again, nothing else
    assert rows == [
        {"seed": 0, "method": "erm", "error": 10.0, "seconds": 1.5},
        {"seed": 0, "method": "mixup", "error": 20.0, "seconds": 1.5},
        {"seed": 1, "method": "erm", "error": 40.0, "seconds": 1.5},
        {"seed": 1, "method": "mixup", "error": 50.0, "seconds": 1.5},
    ]
    results = run.finish({"runs": rows}, table="a table", files=["results.csv"])
    saved = storage.read_json(tmp_path / "results.json")
    assert saved == results
    assert (saved["recipe"], saved["trained_runs"], saved["skipped_runs"]) == (
        "toy", 2, 2
    )
    assert saved["table"] == "a table" and saved["runs"] == rows
    assert saved["train_seconds_total"] == 6.0  # recorded runs included
    assert saved["elapsed_seconds"] >= 0


# ---------------------------------------------------------- method labels


def test_method_label_names_every_run_one_way():
    assert reporting.method_label(0.0) == "ERM"
    assert reporting.method_label(1.0) == "mixup (α = 1)"
    assert reporting.method_label(0.2, model="GAN") == "mixup GAN (α = 0.2)"
    assert reporting.method_label(0.0, model="GAN") == "ERM GAN"
    assert reporting.method_label(0.0, dropout=0.5) == "ERM + dropout (p = 0.5)"
    assert (reporting.method_label(8.0, dropout=0.3)
            == "mixup + dropout (α = 8, p = 0.3)")


def test_method_label_names_each_mixing_method():
    assert reporting.method_label(1.0, method="cutmix") == "CutMix (α = 1)"
    # The switch's CutMix alpha is timm's 1.0 whatever its mixup alpha.
    assert (reporting.method_label(0.8, method="switch")
            == "switch (mixup α = 0.8, CutMix α = 1)")
    assert reporting.method_label(1.0, method="mixup") == "mixup (α = 1)"
    assert reporting.method_label(1.0, method="erm") == "ERM"
    assert reporting.method_label(0.0, method="cutmix") == "ERM"
    # Every --method value has a name, and no two share one.
    names = [
        reporting.method_label(1.0, method=m) for m in ("erm", *images.MIXING_METHODS)
    ]
    assert len(set(names)) == len(names) == 1 + len(images.MIXING_METHODS)
    with pytest.raises(ValueError, match="`method` must be one of erm, mixup, "
                       "cutmix, switch, got 'cutout'"):
        reporting.method_label(1.0, method="cutout")
