"""recipes/cifar.py: the smoke setting on tfds mock data, end to end: killed
after its first epoch, resumed, reported; more methods added to a finished
workdir; the paper's setting; bad input."""

import csv
import shutil
import time
import types

import keras
import pytest

from recipes import cifar
from recipes.lib import (
    cli, data, images, models, reporting, schedules, settings, training,
)
from recipes.lib.storage import read_json
from tests.helpers import assert_plotted_png, plotted_cycle_colours

# 16 training images, batch 8: two steps an epoch; 16 test images. On
# TensorFlow the tiny steps run faster than XLA compiles them (the default,
# --jit, is what a real run uses; on JAX it is also the fastest here).
SMOKE_ARGS = ["--smoke", "--data", "tfds", "--limit-train", "16", "--fit-verbose", "0"]
if keras.backend.backend() == "tensorflow":
    SMOKE_ARGS.append("--no-jit")


class Killed(Exception):
    pass


class KillAfterFirstEpoch(keras.callbacks.Callback):
    """Stops the process like a kill would, right after the first epoch was
    checkpointed (the recipe's own callbacks run before this one)."""

    def on_epoch_end(self, epoch, logs=None):
        raise Killed(f"killed after epoch {epoch}")


def _history(workdir):
    with open(workdir / "history.csv", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """A smoke run killed after ERM's first epoch, then run again to the end
    with the same command; records the pipelines it asked for."""
    import tensorflow_datasets as tfds

    workdir = tmp_path_factory.mktemp("cifar")
    argv = SMOKE_ARGS + ["--workdir", str(workdir)]
    asked_alphas = []
    real_train_dataset = images.train_dataset

    def recording_train_dataset(*args, **kwargs):
        asked_alphas.append(kwargs["alpha"])
        return real_train_dataset(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch, tfds.testing.mock_data(
        num_examples=16
    ):
        patch.setattr(images, "train_dataset", recording_train_dataset)
        config = cli.parse_config(cifar.CIFARConfig, "cifar", argv).config
        with pytest.raises(Killed):
            cifar.train(config, workdir, callbacks=[KillAfterFirstEpoch()])
        after_kill = {
            "history": _history(workdir),
            "rows": (workdir / "rows.jsonl").exists(),
            "backup": (workdir / "erm" / "backup").exists(),
        }
        results = cifar.main(argv)
    return workdir, after_kill, results, asked_alphas


def test_killed_run_resumes_without_losing_or_repeating_epochs(resumed_run):
    workdir, after_kill, results, asked_alphas = resumed_run
    assert [(r["method"], r["epoch"]) for r in after_kill["history"]] == [("erm", "0")]
    assert after_kill["backup"] and not after_kill["rows"]
    # The rerun continued ERM at epoch 1 and then trained mixup from scratch.
    assert results["runs"]["erm"]["resumed_at_epoch"] == 1
    assert results["runs"]["mixup"]["resumed_at_epoch"] == 0
    history = _history(workdir)
    assert [(r["method"], r["epoch"]) for r in history] == [
        ("erm", "0"), ("erm", "1"), ("mixup", "0"), ("mixup", "1")
    ]
    # The schedule continued: 0.1 x 8 / 128, divided by 10 after epoch 1
    # (--smoke's milestone), also in the resumed epoch.
    rates = [float(r["learning_rate"]) for r in history]
    assert rates == pytest.approx([0.00625, 0.000625] * 2, rel=1e-6)
    # ERM trained on plain one-hot labels, mixup with the paper's alpha = 1.
    assert asked_alphas == [0.0, 0.0, 1.0]
    assert not (workdir / "erm" / "backup").exists()  # deleted when finished


def test_run_writes_its_files_and_numbers(resumed_run):
    workdir, _, results, _ = resumed_run
    for name in ["config.json", "history.csv", "results.json", "results.csv",
                 "rows.jsonl"]:
        assert (workdir / name).stat().st_size > 0
    assert_plotted_png(workdir / "figure3b.png")
    config = read_json(workdir / "config.json")
    assert config["keras_backend"] == keras.backend.backend()
    assert config["config"]["model"] == "small_cnn"
    for method in ("erm", "mixup"):
        run = results["runs"][method]
        assert run["epochs"] == 2 and run["steps_per_epoch"] == 2
        curve = run["test_error_by_epoch"]
        # 16 test images: every error is a whole number of them.
        assert all(abs(e * 16 / 100 - round(e * 16 / 100)) < 1e-3 for e in curve)
        assert run["test_error"] == curve[-1] and run["best_test_error"] == min(curve)
        history = [r for r in _history(workdir) if r["method"] == method]
        assert curve == pytest.approx(
            [100 * (1 - float(r["val_accuracy"])) for r in history]
        )
    assert results["learning_rate"] == pytest.approx(0.1 * 8 / 128)
    saved = read_json(workdir / "results.json")
    saved_mixup = saved["runs"]["mixup"]
    assert saved_mixup["test_error"] == results["runs"]["mixup"]["test_error"]


def test_table_puts_ours_beside_figure_3a(resumed_run):
    _, _, results, _ = resumed_run
    lines = results["table"].splitlines()
    assert lines[0].startswith("Test error (%) after 2 epoch(s) on CIFAR-10")
    assert lines[1].split() == [
        "dataset", "model", "ERM", "mixup", "(α", "=", "1)", "paper", "ERM", "paper",
        "mixup"
    ]
    assert lines[3].split() == [
        "CIFAR-10", "PreAct", "ResNet-18", "-", "-", "5.6", "4.2"
    ]
    assert lines[8].split()[:2] == ["CIFAR-100", "DenseNet-BC-190"]
    ours = lines[9].split()
    assert ours[:3] == ["CIFAR-10", "small", "CNN"]
    assert ours[5:] == ["-", "-"]  # not in the paper
    assert [float(v) for v in ours[3:5]] == pytest.approx(
        [results["runs"]["erm"]["test_error"], results["runs"]["mixup"]["test_error"]],
        abs=0.05,
    )


def test_finished_workdir_trains_nothing(resumed_run, capsys):
    workdir, _, first, _ = resumed_run
    again = cifar.main(SMOKE_ARGS + ["--workdir", str(workdir)])
    assert again["trained_runs"] == 0 and again["skipped_runs"] == 2
    assert again["runs"] == first["runs"]
    assert "2 already done in" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "3"], "epochs: 2 then, 3 now"),
    # Runs are keyed by method: a rerun with --seed 1 would otherwise report
    # seed 0's runs as its own.
    (["--seed", "1"], "seed: 0 then, 1 now"),
])
def test_resume_with_other_settings_is_refused(resumed_run, capsys, argv, message):
    workdir, _, _, _ = resumed_run
    with pytest.raises(SystemExit) as exit_info:
        cifar.main(SMOKE_ARGS + argv + ["--workdir", str(workdir)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def extended_run(resumed_run, tmp_path_factory):
    """A copy of the finished ERM + mixup workdir, rerun with `--method
    switch cutmix mixup`; records the curves the recipe plotted."""
    import tensorflow_datasets as tfds

    first_workdir, _, first, _ = resumed_run
    workdir = tmp_path_factory.mktemp("cifar_more") / "run"
    shutil.copytree(first_workdir, workdir)
    plotted = []
    real_plot = reporting.plot_error_curves

    def recording_plot(path, curves, **kwargs):
        plotted.append(dict(curves))
        return real_plot(path, curves, **kwargs)

    with pytest.MonkeyPatch.context() as patch, tfds.testing.mock_data(
        num_examples=16
    ):
        patch.setattr(reporting, "plot_error_curves", recording_plot)
        results = cifar.main(SMOKE_ARGS + [
            "--method", "switch", "cutmix", "mixup", "--workdir", str(workdir)
        ])
    return workdir, first, results, plotted


def test_more_methods_join_a_finished_workdir(extended_run):
    workdir, first, results, _ = extended_run
    # Trained in the order asked; mixup was done, ERM is kept from the first
    # run: one result per method, in the table's order.
    assert (results["trained_runs"], results["skipped_runs"]) == (2, 1)
    assert list(results["runs"]) == ["erm", "mixup", "cutmix", "switch"]
    for method in ("erm", "mixup"):
        assert results["runs"][method] == first["runs"][method]
    history = _history(workdir)
    assert [(r["method"], r["epoch"]) for r in history[4:]] == [
        ("switch", "0"), ("switch", "1"), ("cutmix", "0"), ("cutmix", "1")
    ]
    for method in ("cutmix", "switch"):
        run = results["runs"][method]
        # The switch's alpha is its mixup's: --alpha, 1 in the smoke setting.
        assert (run["alpha"], run["epochs"], run["resumed_at_epoch"]) == (1.0, 2, 0)
        assert run["test_error_by_epoch"] == pytest.approx([
            100 * (1 - float(r["val_accuracy"]))
            for r in history if r["method"] == method
        ])
    assert read_json(workdir / "results.json")["runs"] == results["runs"]


def test_table_has_a_column_per_method(extended_run):
    _, _, results, _ = extended_run
    lines = results["table"].splitlines()
    assert lines[1].split() == [
        "dataset", "model", "ERM", "mixup", "(α", "=", "1)", "CutMix", "(α", "=",
        "1)", "switch", "(mixup", "α", "=", "1,", "CutMix", "α", "=", "1)",
        "paper", "ERM", "paper", "mixup",
    ]
    assert lines[3].split()[3:] == ["-", "-", "-", "-", "5.6", "4.2"]
    ours = lines[9].split()
    assert ours[:3] == ["CIFAR-10", "small", "CNN"]
    assert [float(v) for v in ours[3:7]] == pytest.approx(
        [results["runs"][m]["test_error"]
         for m in ("erm", "mixup", "cutmix", "switch")],
        abs=0.05,
    )
    assert ours[7:] == ["-", "-"]


def test_curves_figure_has_one_curve_per_method(extended_run):
    workdir, _, results, plotted = extended_run
    # One distinct label per method (a CutMix and a mixup run of one alpha
    # used to share "mixup (α = 1)", one curve overwriting the other).
    assert plotted == [{
        "ERM": results["runs"]["erm"]["test_error_by_epoch"],
        "mixup (α = 1)": results["runs"]["mixup"]["test_error_by_epoch"],
        "CutMix (α = 1)": results["runs"]["cutmix"]["test_error_by_epoch"],
        "switch (mixup α = 1, CutMix α = 1)":
            results["runs"]["switch"]["test_error_by_epoch"],
    }]
    assert plotted_cycle_colours(workdir / "figure3b.png") == 4


def test_first_workdirs_figure_has_its_two_curves(resumed_run):
    workdir, _, _, _ = resumed_run
    assert plotted_cycle_colours(workdir / "figure3b.png") == 2


def test_methods_option_takes_several_and_both_is_erm_then_mixup():
    def methods(*argv):
        config = cli.parse_config(cifar.CIFARConfig, "cifar", list(argv)).config
        return config.method, training.recipe_methods(config.method)

    assert methods() == (("both",), ["erm", "mixup"])
    assert methods("--method", "both") == (("both",), ["erm", "mixup"])
    assert methods("--method", "cutmix", "erm") == (
        ("cutmix", "erm"), ["cutmix", "erm"]
    )
    # A method named twice (here through both) runs once, where first named.
    assert methods("--method", "mixup", "both", "switch") == (
        ("mixup", "both", "switch"), ["mixup", "erm", "switch"]
    )
    assert training.recipe_methods("both") == ["erm", "mixup"]  # ImageNet's
    assert training.recipe_methods("cutmix") == ["cutmix"]


def test_bad_methods_in_code_are_value_errors():
    with pytest.raises(ValueError, match="--method values must be one of erm, "
                       "mixup, cutmix, switch, both, got erm cutout"):
        cifar.CIFARConfig(method=("erm", "cutout"))
    with pytest.raises(ValueError, match="--method must name one or more of "
                       "erm, mixup, cutmix, switch, both, got none"):
        cifar.CIFARConfig(method=())


def test_small_cnn_is_the_robustness_recipes_small_cnn(resumed_run):
    _, _, results, _ = resumed_run
    # Built for Fashion-MNIST it is, layer by layer, the network the
    # robustness recipes train there.
    fashion_mnist = types.SimpleNamespace(image_shape=(28, 28, 1), num_classes=10)
    setting = settings.SETTINGS["fashion_mnist"]
    ours = cifar.MODELS["small_cnn"].build(
        fashion_mnist.image_shape, fashion_mnist.num_classes, setting.weight_decay
    )
    theirs = settings.build_classifier(setting, fashion_mnist)
    assert [layer.get_config() for layer in ours.layers] == [
        layer.get_config() for layer in theirs.layers
    ]
    assert models.SMALL_CNN_FILTERS == (32, 64, 128)
    # The smoke run's net on 32x32 RGB, trainable parameters counted by hand:
    # 3x3 convolutions without bias, 9 x (3*32 + 32*32 + 32*64 + 64*64 +
    # 64*128 + 128*128) = 286,560; BatchNorm gamma and beta, 2 x 2 x (32 + 64
    # + 128) = 896; the classifier 128*10 + 10 = 1,290.
    for method in ("erm", "mixup"):
        assert results["runs"][method]["parameters"] == 286_560 + 896 + 1_290


def test_missing_cifar_stops_within_seconds_with_instructions(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(data, "network_available", lambda *a, **k: False)
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        cifar.main([
            "--data-dir", str(tmp_path / "tfds"), "--workdir", str(tmp_path / "run")
        ])
    assert time.perf_counter() - start < 20
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "'cifar10' is not prepared" in err and "--data-dir DIR" in err
    assert "Traceback" not in err


def test_default_config_is_the_papers_setting():
    config = cifar.CIFARConfig()
    assert (config.dataset, config.model, config.method) == (
        "cifar10", "preact_resnet18", ("both",)
    )
    assert (config.epochs, config.batch_size, config.learning_rate) == (200, 128, 0.1)
    assert (config.weight_decay, config.momentum, config.alpha) == (1e-4, 0.9, 1.0)
    assert config.schedule_milestones() == (100, 150)
    assert cifar.CIFARConfig(model="wrn28_10").schedule_milestones() == (60, 120, 180)
    assert cifar.CIFARConfig(model="densenet_bc190").schedule_milestones() == (100, 150)
    assert training.recipe_methods(config.method) == ["erm", "mixup"]
    # Linear scaling of the learning rate with the global batch size.
    big_batch = cifar.CIFARConfig(batch_size=512)
    assert big_batch.scaled_learning_rate() == pytest.approx(0.4)
    assert set(cifar.PAPER_FIGURE3A) == {
        (d, m) for d in cifar.DATASETS for m in ("preact_resnet18", "wrn28_10",
                                                  "densenet_bc190")
    }


def test_schedule_divides_by_ten_at_the_milestones():
    config = cifar.CIFARConfig(model="wrn28_10")
    schedule = schedules.step_decay(
        config.scaled_learning_rate(), config.schedule_milestones(), 390
    )
    rates = [float(schedule(epoch * 390)) for epoch in (0, 59, 60, 119, 120, 180)]
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.0001])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dataset", "imagenet9"],
         "--dataset must be one of digits, fashion_mnist, mnist, cifar10, "
         "cifar100, synthetic or the path of a .npz file or a folder"),
        (["--model", "resnet50"], "--model: invalid choice: 'resnet50'"),
        (["--method", "cutout"], "--method: invalid choice: 'cutout'"),
        (["--method", "erm", "cutout"],
         "--method: invalid choice: 'cutout' (choose from "),
        (["--method"], "--method: expected at least one argument"),
        (["--alpha", "0"], "--alpha must be > 0, got 0.0"),
        (["--alpha", "inf"], "--alpha must be > 0, got inf"),
        (["--milestones", "150", "100"], "--milestones must be increasing"),
        (["--precision", "float16"], "--precision: invalid choice: 'float16'"),
        (["--data", "imagenet"], "--data: invalid choice: 'imagenet'"),
        (["--learning-rate", "0"], "--learning-rate must be > 0, got 0.0"),
        (["--weight-decay=-1e-4"], "--weight-decay must be >= 0"),
        (["--momentum", "1"], "--momentum must be >= 0 and < 1, got 1.0"),
        (["--limit-test", "0"], "--limit-test must be >= 1, got 0"),
        (["--fit-verbose", "3"], "--fit-verbose: invalid choice: 3"),
    ],
)
def test_bad_cli_input_is_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cifar.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_global_batch_must_split_evenly_over_the_devices():
    training.check_global_batch(128, 8)
    with pytest.raises(cli.RecipeError, match="128 must be divisible by the 3"):
        training.check_global_batch(128, 3)
    # This machine: one CPU device on JAX, no GPU on TensorFlow: no
    # distribution, one replica.
    scope, replicas = training.data_parallel()
    assert replicas == 1 and keras.distribution.distribution() is None
    with scope:
        pass


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX only")
def test_tpu_flag_is_refused_on_jax():
    with pytest.raises(ValueError, match="`tpu` selects a TensorFlow TPUStrategy"):
        training.data_parallel(tpu="")
