"""MixUpModel under Keras's distribution engines, on simulated CPU devices,
and under torch's DistributedDataParallel in two CPU processes (gloo).

Each case runs in a fresh process: the number of devices must be set before
the backend starts.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

import keras

HERE = pathlib.Path(__file__).parent / "distributed"
# Labels mixed with any other draw than the inputs' give losses ~1e-2.
EXACT = 1e-12


def _run(script, backend, *args, **env):
    environment = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                       **env)
    completed = subprocess.run(
        [sys.executable, str(HERE / script), *args], env=environment,
        capture_output=True, text=True, timeout=600,
    )
    lines = [l for l in completed.stdout.splitlines() if l.startswith("RESULT ")]
    assert completed.returncode == 0 and lines, completed.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX DataParallel")
def test_jax_data_parallel_pairs_within_devices_and_labels_follow():
    result = _run("jax_data_parallel.py", "jax",
                  XLA_FLAGS="--xla_force_host_platform_device_count=4")
    assert result["devices"] == 4 and result["groups"] == 4
    for per_sample in (False, True):
        assert max(result[f"loss_per_sample_{per_sample}"]) < EXACT
    # A (devices, per-device batch) table of local partner indices.
    assert result["perm_shape"] == [4, 8]
    # Per-device pairs compile to no communication at all; global pairs
    # (the control) need the batch gathered across devices.
    assert result["collectives_per_device_pairs"] == []
    assert "all-gather" in result["collectives_global_pairs"]
    assert "divisible" in result["indivisible_error"]


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX DataParallel")
def test_jax_data_parallel_cutmix_and_switch_labels_follow_the_pasted_area():
    result = _run("jax_data_parallel_cutmix.py", "jax",
                  XLA_FLAGS="--xla_force_host_platform_device_count=4")
    assert result["devices"] == 4
    for name in ("cutmix", "switch"):
        for per_sample in (False, True):
            losses = result[f"loss_{name}_{per_sample}"]
            assert max(losses) < EXACT, (name, per_sample, losses)
    # Boxes per example, pairs within each device's 8 examples.
    assert result["perm_shape"] == [4, 8] and result["weight_shape"] == [32]
    assert result["collectives_per_device_pairs"] == []
    assert "all-gather" in result["collectives_global_pairs"]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="tf.distribute")
def test_tf_mirrored_strategy_replicas_keep_their_own_draws():
    result = _run("tf_mirrored.py", "tensorflow")
    assert result["replicas"] == 2
    for hidden in (False, True):
        for per_sample in (False, True):
            losses = result[f"loss_hidden_{hidden}_per_sample_{per_sample}"]
            assert max(losses) < EXACT, (hidden, per_sample, losses)


@pytest.mark.skipif(keras.backend.backend() != "torch",
                    reason="torch DistributedDataParallel")
def test_torch_ddp_pairs_within_each_process_and_averages_gradients(tmp_path):
    result = _run("torch_ddp.py", "torch", str(tmp_path))
    assert result["world_size"] == 2
    ranks = result["ranks"]
    for case in ranks[0]:
        if case == "learn":
            continue
        for rank in ranks:
            # Labels mixed with this process's own draw, step after step.
            assert max(rank[case]["losses"]) < EXACT, (case, rank[case]["losses"])
            # Partners are local indices: a permutation of the process's batch.
            for perm in rank[case]["perms"]:
                assert sorted(perm) == list(range(len(perm))), (case, perm)
        # DDP copies rank 0's seed states when it wraps the model: every
        # process draws the same lam and local permutation (over its own
        # examples), unless the layers are reseeded after wrapping.
        same = [ranks[0][case][k] == ranks[1][case][k] for k in ("perms", "lams")]
        assert same == ([False, False] if case.endswith("reseeded") else [True, True])
    # DDP averages the gradients: different data, the same weights everywhere.
    learn = [rank["learn"] for rank in ranks]
    assert learn[0]["losses"] != learn[1]["losses"]
    assert learn[0]["initial"] == learn[1]["initial"]  # broadcast by DDP
    assert learn[0]["final"] == learn[1]["final"]
    assert learn[0]["final"] != learn[0]["initial"]
