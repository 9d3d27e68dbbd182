"""recipes/imagenet.py: the smoke setting on tfds mock imagenet2012 (killed
after its first epoch, resumed, reported), the paper's schedule and
settings, the ImageNet crops, bad input."""

import csv
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from recipes import imagenet
from recipes.lib import cli, images, schedules
from tests.helpers import assert_plotted_png

# Mixup only (ERM is the same code path with alpha 0, run by the CIFAR test):
# 16 mock training images of random sizes, batch 8, 32x32 crops; 8 validation
# images. On TensorFlow the tiny steps run faster than XLA compiles them.
SMOKE_ARGS = [
    "--smoke", "--data", "tfds", "--method", "mixup", "--fit-verbose", "0"
]
if keras.backend.backend() == "tensorflow":
    SMOKE_ARGS.append("--no-jit")


class Killed(Exception):
    pass


class KillAfterFirstEpoch(keras.callbacks.Callback):
    """Stops training like a kill would, right after the first epoch was
    checkpointed (the recipe's own callbacks run before this one)."""

    def on_epoch_end(self, epoch, logs=None):
        raise Killed(f"killed after epoch {epoch}")


def _history(workdir):
    with open(workdir / "history.csv", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    import tensorflow_datasets as tfds

    workdir = tmp_path_factory.mktemp("imagenet")
    argv = SMOKE_ARGS + ["--workdir", str(workdir)]
    with tfds.testing.mock_data(num_examples=16):
        config = cli.parse_config(imagenet.ImageNetConfig, "imagenet", argv).config
        with pytest.raises(Killed):
            imagenet.train(config, workdir, callbacks=[KillAfterFirstEpoch()])
        history_after_kill = _history(workdir)
        results = imagenet.main(argv)
    return workdir, history_after_kill, results


def test_killed_run_resumes_and_writes_its_files(resumed_run):
    workdir, history_after_kill, results = resumed_run
    assert [(r["method"], r["epoch"]) for r in history_after_kill] == [("mixup", "0")]
    run = results["runs"]["mixup"]
    assert run["resumed_at_epoch"] == 1 and run["epochs"] == 2
    history = _history(workdir)
    assert [(r["method"], r["epoch"]) for r in history] == [
        ("mixup", "0"), ("mixup", "1")
    ]
    # Batch 8 peaks at 0.1 x 8 / 256 (no warm-up below batch 256); divided by
    # 10 after epoch 1, also in the resumed epoch: the schedule continued.
    rates = [float(r["learning_rate"]) for r in history]
    assert rates == pytest.approx([0.003125, 0.0003125], rel=1e-6)
    assert run["alpha"] == 0.2  # the paper's alpha for ResNets, the default
    assert (run["train_examples"], run["validation_examples"]) == (16, 8)
    assert run["steps_per_epoch"] == 2
    for name in ["config.json", "history.csv", "results.json", "results.csv"]:
        assert (workdir / name).stat().st_size > 0
    assert_plotted_png(workdir / "top1_error.png")
    assert not (workdir / "mixup" / "backup").exists()
    # 8 validation images: errors are whole numbers of them; top-5 <= top-1.
    for top1, top5 in zip(run["top1_error_by_epoch"], run["top5_error_by_epoch"],
                          strict=True):
        assert abs(top1 * 8 / 100 - round(top1 * 8 / 100)) < 1e-3
        assert 0 <= top5 <= top1 <= 100


def test_table_puts_ours_beside_table_1(resumed_run):
    _, _, results = resumed_run
    lines = results["table"].splitlines()
    assert lines[0].startswith("Validation error (%) on ImageNet-2012, 32x32")
    assert lines[3].split() == [
        "ResNet-50", "ERM", "(Goyal", "et", "al.,", "2017)", "90", "-", "-", "23.5", "-"
    ]
    assert lines[4].split() == ["ResNet-50", "mixup", "(α", "=", "0.2)", "90", "-",
                                "-", "23.3", "6.6"]
    assert lines[17].split() == [
        "ResNeXt-101", "32x4d", "mixup", "(α", "=", "0.4)", "200", "-", "-", "20.1",
        "5.0"
    ]
    ours = lines[18].split()
    run = results["runs"]["mixup"]
    assert ours[:7] == ["small", "CNN", "mixup", "(α", "=", "0.2)", "2"]
    assert [float(v) for v in ours[7:9]] == pytest.approx(
        [run["top1_error"], run["top5_error"]], abs=0.05
    )


def test_default_config_is_the_papers_setting():
    config = imagenet.ImageNetConfig()
    assert (config.model, config.epochs, config.batch_size) == ("resnet50", 90, 1024)
    assert (config.weight_decay, config.momentum, config.image_size) == (1e-4, 0.9, 224)
    assert config.schedule_milestones() == (30, 60, 80)
    assert config.warmup_start_learning_rate() == pytest.approx(0.1)
    assert config.peak_learning_rate() == pytest.approx(0.4)
    assert config.mixup_alpha() == 0.2
    assert imagenet.ImageNetConfig(model="resnext101_64x4d").mixup_alpha() == 0.4
    assert imagenet.ImageNetConfig(epochs=200).schedule_milestones() == (60, 120, 180)
    # Goyal et al.'s linear scaling: 0.1 per 256 examples; batch 256 needs no
    # warm-up, batch 8192 warms up from 0.1 to 3.2.
    assert imagenet.ImageNetConfig(batch_size=256).peak_learning_rate() == 0.1
    assert imagenet.ImageNetConfig(batch_size=8192).peak_learning_rate() == 3.2


def test_schedule_warms_up_then_divides_by_ten():
    config = imagenet.ImageNetConfig()
    steps = 1251  # 1,281,167 // 1024
    schedule = schedules.step_decay(
        config.peak_learning_rate(), config.schedule_milestones(), steps,
        warmup_epochs=config.warmup_epochs,
        warmup_start_lr=config.warmup_start_learning_rate(),
    )
    epochs = [0, 2.5, 5, 29, 30, 60, 80, 89]
    rates = [float(schedule(int(e * steps))) for e in epochs]
    assert rates == pytest.approx(
        [0.1, 0.25, 0.4, 0.4, 0.04, 0.004, 0.0004, 0.0004], rel=1e-4
    )


def test_random_resized_crop_keeps_area_and_aspect_in_range():
    # A gradient image: the crop's corners tell where it was cut from.
    rows = np.arange(200, dtype=np.float32)[:, None] * np.ones((1, 300), np.float32)
    cols = np.ones((200, 1), np.float32) * np.arange(300, dtype=np.float32)[None, :]
    image = tf.constant(np.stack([rows, cols, np.zeros_like(rows)], -1))
    flips = 0
    for i in range(40):
        crop = images.random_resized_crop(
            image, tf.constant([7, i], tf.int64), 16
        ).numpy()
        assert crop.shape == (16, 16, 3) and crop.dtype == np.float32
        flipped = crop[0, 0, 1] > crop[0, -1, 1]
        flips += flipped
        height = crop[-1, 0, 0] - crop[0, 0, 0]
        width = abs(crop[0, -1, 1] - crop[0, 0, 1])
        # Bilinear resizing keeps the span to within one source pixel per
        # output pixel at the border; the crop is (height+~1) x (width+~1).
        area = (height + 1) * (width + 1) / (200 * 300)
        assert 0.05 < area <= 1.05
        if min(height, width) > 40:
            assert 0.6 < (width + 1) / (height + 1) < 1.6
    assert 5 < flips < 35  # a flip with probability 1/2


def test_center_crop_resizes_the_shorter_side_then_crops_the_centre():
    rows = np.arange(100, dtype=np.float32)[:, None] * np.ones((1, 200), np.float32)
    cols = np.ones((100, 1), np.float32) * np.arange(200, dtype=np.float32)[None, :]
    image = tf.constant(np.stack([rows, cols, np.zeros_like(rows)], -1))
    crop = images.center_crop(image, 56).numpy()  # shorter side -> 64, crop 56
    assert crop.shape == (56, 56, 3)
    # 100x200 -> 64x128: the central 56 columns of 128 cover source columns
    # 36/128*200 .. 92/128*200, i.e. 56.25 .. 143.75; rows 4/64*100 .. 60/64*100.
    assert crop[0, 0, 1] == pytest.approx(56.25 + 0.78, abs=1.0)
    assert crop[0, -1, 1] == pytest.approx(143.75 - 0.78, abs=1.0)
    assert crop[0, 0, 0] == pytest.approx(6.25 + 0.78, abs=1.0)
    assert crop[-1, 0, 0] == pytest.approx(93.75 - 0.78, abs=1.0)


def test_pipelines_give_normalised_batches_and_mixed_one_hot_labels():
    records = images.synthetic_imagenet_records(
        12, num_classes=10, image_shape=(40, 60, 3), seed=3
    )
    batch_images, labels = next(iter(images.imagenet_train_dataset(
        records, batch_size=4, image_size=32, seed=0, num_classes=10,
        alpha=1.0,
    )))
    assert batch_images.shape == (4, 32, 32, 3) and labels.shape == (4, 10)
    np.testing.assert_allclose(labels.numpy().sum(1), 1.0, rtol=1e-6)
    assert (labels.numpy() > 0).sum() > 4  # mixed: two classes in some rows
    # Normalised with the ImageNet statistics: uniform pixels in 0..255 give
    # means near (0.5 - mean) / std.
    expected = (0.5 - images.IMAGENET_MEAN) / images.IMAGENET_STD
    np.testing.assert_allclose(
        batch_images.numpy().mean((0, 1, 2)), expected, atol=0.15
    )
    eval_batches = list(images.imagenet_eval_dataset(
        records, batch_size=5, image_size=32, num_classes=10
    ))
    assert [b[0].shape[0] for b in eval_batches] == [5, 5, 2]
    eval_labels = np.concatenate([b[1].numpy() for b in eval_batches])
    assert set(np.unique(eval_labels)) == {0.0, 1.0}  # plain one-hot
    expected_labels = [int(r[1]) for r in records]
    assert eval_labels.argmax(1).tolist() == expected_labels


def test_missing_imagenet_says_where_to_put_the_archives(tmp_path, capsys):
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        imagenet.main([
            "--data-dir", str(tmp_path / "tfds"), "--workdir", str(tmp_path / "run")
        ])
    assert time.perf_counter() - start < 20
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "ILSVRC2012_img_train.tar" in err
    assert str(tmp_path / "tfds" / "downloads" / "manual") in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "vgg16"], "--model: invalid choice: 'vgg16'"),
        (["--epochs", "120"], "--epochs 120 has no default schedule"),
        (["--milestones", "3", "60"], "must come after the 5 warm-up epochs"),
        (["--alpha", "-1"], "--alpha must be > 0, got -1.0"),
        (["--image-size", "16"], "--image-size must be >= 32"),
        (["--method", "cutout"], "--method: invalid choice: 'cutout'"),
        (["--shuffle-buffer", "0"], "--shuffle-buffer must be >= 1, got 0"),
        (["--warmup-epochs", "-1"], "--warmup-epochs must be >= 0, got -1"),
        (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        (["--precision", "int8"], "--precision: invalid choice: 'int8'"),
    ],
)
def test_bad_cli_input_is_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        imagenet.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
