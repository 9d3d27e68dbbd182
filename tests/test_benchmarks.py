"""The benchmarks keep working: each runs in its tiny quick mode (seconds) on
the running backend and returns the fields that the report is built from.
CI never runs the real measurements (python -m benchmarks)."""

import json
import os
import subprocess
import sys

import keras
import pytest

from benchmarks import __main__ as cli
from benchmarks import ablation, kernel, memory, pipeline, report, timing, train_step

BACKEND = keras.backend.backend()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"), reason="benchmarks: TF and JAX only"
)


def _is_summary(stat):
    return set(stat) == {"min", "median", "max", "n"} and (
        stat["n"] == 0 or stat["min"] <= stat["median"] <= stat["max"]
    )


def test_compare_ratios_are_taken_round_by_round():
    calls = []
    res = timing.compare(
        {"base": lambda: calls.append("b"), "other": lambda: calls.append("o")},
        "base", rounds=3, number=2, warmup=1,
    )
    # Warm-up once each, then round-robin: b b o o, three times.
    assert calls == ["b", "o"] + ["b", "b", "o", "o"] * 3
    for name in ("base", "other"):
        for key in ("ms", "cpu_ms", "ratio", "cpu_ratio"):
            assert _is_summary(res[name][key])
        assert len(res[name]["wall_s"]) == 3
    assert res["base"]["ratio"]["median"] == 1.0
    with pytest.raises(ValueError, match="baseline"):
        timing.compare({"a": lambda: None}, "b", rounds=1)


def test_kernel_quick():
    res = kernel.run(quick=True)
    assert res["backend"] == BACKEND
    rows = res["rows"]
    impls = {r["impl"] for r in rows}
    compiled = "jax.jit" if BACKEND == "jax" else "tf.function XLA"
    assert f"keras_mixup.MixUp, {compiled}" in impls
    assert f"plain, {compiled}" in impls
    assert "keras.layers.MixUp, eager" in impls
    if BACKEND == "tensorflow":
        assert "keras_mixup.mixup_map, tf.data" in impls
    assert {r["batch"] for r in rows} == {"cifar"}
    assert {r["lam"] for r in rows} == {"per batch", "per example"}
    for r in rows:
        assert _is_summary(r["limit_ms"])
        assert r["limit_ms"]["median"] > 0
        if r["status"] == "ok":
            assert _is_summary(r["ratio"]) and r["ratio"]["median"] > 0
        else:
            # Only the peers may fail (their Beta sampler does not compile
            # under XLA); ours always runs.
            assert r["impl"].startswith(("keras.layers.MixUp",
                                         "keras.layers.CutMix")), r
    ours = [r for r in rows if r["impl"].startswith("keras_mixup")]
    assert ours and all(r["status"] == "ok" for r in ours)
    # The peer only takes images, and only draws one lam per example.
    peer = [r for r in rows if r["impl"].startswith("keras.layers.MixUp")]
    assert all(r["batch"] == "cifar" and r["lam"] == "per example" for r in peer)
    # CutMix and the switch, per batch and per example, beside the peer's
    # CutMix (one box per example only).
    for lam in ("per batch", "per example"):
        for name in ("keras_mixup.CutMix", "keras_mixup.MixUpOrCutMix"):
            assert any(r["impl"] == f"{name}, {compiled}" and r["lam"] == lam
                       for r in rows), (name, lam)
    peer_cutmix = [r for r in rows if r["impl"].startswith("keras.layers.CutMix")]
    assert peer_cutmix and all(r["lam"] == "per example" for r in peer_cutmix)
    assert "Kernel" in kernel.table(res)


def test_pipeline_quick():
    res = pipeline.run(quick=True)
    names = [r["pipeline"] for r in res["rows"]]
    assert names[0] == "no map"
    assert "keras_mixup.mixup_map" in names
    assert "keras.layers.MixUp (dict form)" in names
    for r in res["rows"]:
        for key in ("batches_per_s", "throughput_ratio", "cpu_ms_per_batch",
                    "extra_cpu_ms_per_batch"):
            assert _is_summary(r[key]), (r["pipeline"], key)
    assert "Pipeline" in pipeline.table(res)


@pytest.mark.slow
def test_train_step_quick():
    res = train_step.run(quick=True)
    # The image model and the paper's tabular setting (MLP, Adam).
    assert {r["model"] for r in res["rows"]} == {"small_cnn", "mlp_tabular"}
    for model in ("small_cnn", "mlp_tabular"):
        rows = {r["mode"]: r for r in res["rows"] if r["model"] == model}
        # CutMix and the switch need images: not measured on the MLP.
        image_only = set(train_step.IMAGE_MODES) if model == "mlp_tabular" else set()
        assert set(rows) == set(train_step.MODES) - image_only
        for mode, r in rows.items():
            if model == "mlp_tabular" and mode.startswith("keras.layers.MixUp"):
                # The peer only takes images: a row that says why.
                assert r["status"] == "ok" or r["status"].startswith("fails"), r
                continue
            assert r["status"] == "ok", r
            assert _is_summary(r["ms_per_step"]) and r["ms_per_step"]["median"] > 0
            assert _is_summary(r["ratio_to_erm"])
        assert rows["ERM"]["ratio_to_erm"]["median"] == 1.0
    assert "Training step" in train_step.table(res)


def test_ablation_quick():
    res = ablation.run(quick=True)
    assert res["backend"] == BACKEND
    maps = {r["map"]: r for r in res["maps"]["rows"]}
    for name in ("no map", "mixup_map (now)", "mixup_map, portable kernels (before)",
                 "hand-written map, exact Beta (tf.random.gamma)",
                 "sampler only: native Gamma kernel",
                 "permutation only: native shuffle kernel"):
        assert name in maps
        assert _is_summary(maps[name]["extra_cpu_us_per_batch"])
    assert maps["no map"]["graph_nodes"] == 0
    # The native kernels replace the portable draw's ops: the traced map is
    # smaller (counted, not timed).
    assert (maps["mixup_map (now)"]["graph_nodes"]
            < maps["mixup_map, portable kernels (before)"]["graph_nodes"])
    impls = {r["impl"] for r in res["draws"]}
    assert "empty compiled call" in impls
    assert ("draw, jax.jit" if BACKEND == "jax" else "draw, tf.function") in impls
    assert "Ablation" in ablation.table(res)


@pytest.mark.slow
def test_memory_quick(tmp_path):
    # In a fresh process, as `python -m benchmarks` runs it: TensorFlow's
    # peaks need the allocator that importing `benchmarks` selects before
    # TensorFlow's first op, too late in this process.
    out = tmp_path / "memory.json"
    code = ("import json, sys; from benchmarks import memory; "
            "json.dump(memory.run(quick=True), open(sys.argv[1], 'w'))")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True,
        text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    rows = {r["mode"]: r for r in res["rows"]}
    assert set(rows) == set(train_step.MODES) | {train_step.ERM_ONE_HOT}
    for mode, r in rows.items():
        if mode == "MixUpModel (in-model)" and not train_step.mixup_model_available():
            continue
        assert r["status"] == "ok", r
        assert _is_summary(r["peak_bytes"])
        assert r["batch_bytes"] == 4 * 8 * 8 * 8 * 3
        assert "extra_batches_vs_erm" in r
    assert rows["ERM"]["extra_bytes_vs_erm"] == 0
    assert "Memory" in memory.table(res)


def test_targets_are_checked_from_results():
    ok = {"min": 1.0, "median": 1.0, "max": 1.0, "n": 1}
    slow = {"min": 3.0, "median": 3.0, "max": 3.0, "n": 1}
    results = {BACKEND: {
        "kernel": {"rows": [
            {"impl": "keras_mixup.MixUp, jit", "batch": "cifar",
             "lam": "per batch", "status": "ok", "ratio": slow},
            {"impl": "plain, jit", "batch": "cifar", "lam": "per batch",
             "status": "ok", "ratio": slow},
        ]},
        "step": {"rows": [
            {"model": "small_cnn", "mode": "ERM", "status": "ok",
             "ratio_to_erm": ok},
            {"model": "small_cnn", "mode": "mixup_map (tf.data)",
             "status": "ok", "ratio_to_erm": ok},
        ]},
    }}
    checks = cli.targets(results)
    assert [c["met"] for c in checks] == [False, True]
    assert "MISSED" in cli.targets_table(checks)


def test_command_line_writes_merged_json(tmp_path, capsys):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "pipeline",
         "--backends", BACKEND, "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Pipeline" in proc.stdout and "Targets" in proc.stdout
    merged = [p for p in tmp_path.iterdir() if p.name.count("-") == 1]
    assert len(merged) == 1
    data = json.loads(merged[0].read_text())
    assert data["quick"] is True
    assert set(data["machine"]) >= {"cpu", "cores"}
    assert data["results"][BACKEND]["backend"] == BACKEND
    assert data["results"][BACKEND]["pipeline"]["rows"]
    assert any("pipeline" in c["target"] for c in data["targets"])
    # The README's tables come from such a file.
    report.main([str(merged[0])])
    out = capsys.readouterr().out
    assert "### Pipeline" in out and "keras_mixup.mixup_map" in out
