"""benchmarks/gpu.py, the GPU check, in its quick mode on this CPU: every
part runs and reports what the full check reports on a GPU; the summaries
and the table follow from the recipe's numbers. CI never runs the full
check (it needs a GPU and Fashion-MNIST)."""

import json

import keras
import numpy as np
import pytest

from benchmarks import gpu
from recipes.lib import datasets

BACKEND = keras.backend.backend()

pytestmark = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"), reason="benchmarks: TF and JAX only"
)


def test_quick_check_runs_every_part_in_process(tmp_path):
    assert gpu.main(["--quick", "--in-process", "--out", str(tmp_path)]) == 0
    (report_path,) = tmp_path.glob("gpu-*.json")
    report = json.loads(report_path.read_text())
    assert report["quick"] is True
    entries = {entry["part"]: entry for entry in report["parts"]}
    assert set(entries) == set(gpu.PARTS)
    for entry in entries.values():
        assert entry["status"] == "ok" and entry["backend"] == BACKEND
        assert entry["result"]["devices"]  # the device is named

    throughput = entries["throughput"]
    run = throughput["result"]["runs"]["mixup"]
    assert run["epochs"] == 2 and len(run["epoch_seconds"]) == 2
    summary = throughput["summary"]
    # The epoch after the compiling one, 64 training images.
    assert summary["epoch_seconds"] == pytest.approx(run["epoch_seconds"][1])
    assert summary["images_per_s"] == pytest.approx(64 / run["epoch_seconds"][1])
    assert summary["projected_200_epochs_h"] == pytest.approx(
        200 * run["epoch_seconds"][1] / 3600
    )

    fashion = entries["fashion_mnist"]["summary"]
    assert set(fashion["test_error"]) == {"erm", "mixup"}
    # 32 test images: an error is a multiple of 1/32.
    for error in fashion["test_error"].values():
        assert 0 <= error <= 100 and (error * 32 / 100) == pytest.approx(
            round(error * 32 / 100)
        )
    assert fashion["met"] == all(
        e < gpu.TARGET_ERROR for e in fashion["test_error"].values()
    )
    kernel_rows = entries["kernel"]["result"]["kernel"]["rows"]
    assert any(r["impl"].startswith("keras_mixup.MixUp") for r in kernel_rows)
    text = (tmp_path / report_path.name.replace(".json", ".txt")).read_text()
    assert "images/s" in text and "test error erm" in text and "Kernel" in text


def test_summaries_and_table_follow_the_numbers():
    result = {"devices": ["gpu: H200"], "runs": {
        "mixup": {"epoch_seconds": [60.0, 2.0, 4.0], "test_error": 5.0}}}
    summary = gpu.throughput_summary(result, 50_000)
    assert summary["epoch_seconds"] == 3.0  # median of the epochs after the first
    assert summary["images_per_s"] == pytest.approx(50_000 / 3.0)
    assert summary["projected_200_epochs_h"] == pytest.approx(200 * 3.0 / 3600)
    assert gpu.throughput_summary(
        {"runs": {"mixup": {"epoch_seconds": [60.0]}}}, 10
    )["images_per_s"] is None

    fashion = {"devices": ["gpu: H200"], "runs": {
        "erm": {"test_error": 6.1}, "mixup": {"test_error": gpu.TARGET_ERROR}}}
    assert gpu.fashion_summary(fashion)["met"] is False  # not below the target
    fashion["runs"]["mixup"]["test_error"] = 5.9
    assert gpu.fashion_summary(fashion)["met"] is True

    report = {"quick": False, "date": "today", "parts": [
        {"part": "throughput", "backend": "jax", "status": "ok", "result": result,
         "summary": summary},
        {"part": "fashion_mnist", "backend": "jax", "status": "ok",
         "result": fashion, "summary": gpu.fashion_summary(fashion)},
        {"part": "kernel", "backend": "tensorflow", "status": "timed out after 40 s"},
    ]}
    text = gpu.table(report)
    assert "16667 images/s (epoch 3.0 s" in text and "0.17 h" in text
    assert "erm 6.10%, mixup 5.90%" in text and ": met" in text
    assert "kernel [tensorflow]: timed out after 40 s" in text


def test_quick_stand_in_for_fashion_mnist_is_an_idx_folder(tmp_path):
    folder = gpu.write_random_idx_folder(tmp_path / "idx", n_train=20, n_test=10)
    data = datasets.load(str(folder))
    assert data.x_train.shape == (20, 28, 28, 1) and data.x_test.shape == (10, 28, 28, 1)
    assert data.num_classes == 10
    np.testing.assert_array_equal(data.y_train, np.arange(20) % 10)


def test_unknown_part_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        gpu.main(["--only", "throughput,speed"])
    assert "unknown part(s) speed" in capsys.readouterr().err
