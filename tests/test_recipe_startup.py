"""The recipes' first screen: TensorFlow's start-up noise is filtered out,
real warnings and errors are not (recipes/lib/startup.py)."""

import os
import subprocess
import sys
import textwrap

import pytest

from recipes.lib import startup

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What TF 2.21 writes on a CPU-only machine (twice: two libraries load).
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR\n",
    "I0000 00:00:1796211782.877539    6023 port.cc:153] oneDNN custom "
    "operations are on. You may see slightly different numerical results.\n",
    "I0000 00:00:1796211782.880526    6023 cudart_stub.cc:31] Could not find "
    "cuda drivers on your machine, GPU will not be used.\n",
]
CUINIT = ("E0000 00:00:1796211789.832289    6023 cuda_platform.cc:52] failed "
          "call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: "
          "UNKNOWN ERROR (303)\n")
REAL = [
    "W0000 00:00:1796212282.843148   14588 op_kernel.cc:1858] OP_REQUIRES "
    "failed at xla_ops.cc:602 : INVALID_ARGUMENT: unsupported operations\n",
    "E1202 11:45:06.123456   14588 some_kernel.cc:12] a real error\n",
    "/path/module.py:3: DeprecationWarning: a Python warning\n",
    "  warnings.warn(\n",
]


def test_noise_is_dropped_real_warnings_and_errors_are_kept():
    text = "".join(NOISE + [REAL[0]] + NOISE + [CUINIT] + REAL[1:])
    out = startup.filter_start_up_noise(text, show_info=False, nvidia=False)
    assert out == "".join(REAL)


def test_cuinit_failure_shows_where_there_is_an_nvidia_device():
    out = startup.filter_start_up_noise(
        "".join(NOISE) + CUINIT, show_info=False, nvidia=True)
    assert out == CUINIT


def test_info_lines_show_when_asked_for():
    out = startup.filter_start_up_noise(
        "".join(NOISE), show_info=True, nvidia=False)
    assert out == "".join(NOISE[1:])


def test_quiet_import_replays_what_it_captured_without_the_noise():
    """The capture of file descriptor 2 itself: C-level writes during the
    import come back filtered, in order, and stderr works afterwards."""
    written = "".join(NOISE + [REAL[0]] + [CUINIT] + [REAL[1]])
    code = textwrap.dedent(f"""
        import os, sys
        from recipes.lib import startup
        sys.modules.pop("tensorflow")
        startup.has_nvidia_device = lambda: False
        startup._import_and_find_devices = lambda: os.write(2, {written!r}.encode())
        startup.quiet_backend_import()
        os.write(2, b"after\\n")
    """)
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The first import (recipes/__init__.py) filtered TensorFlow's real
    # start-up output; the second replays the fake one.
    assert proc.stderr.endswith(REAL[0] + REAL[1] + "after\n"), proc.stderr


@pytest.mark.skipif(startup.has_nvidia_device(),
                    reason="the cuInit failure shows on purpose with a GPU")
def test_first_screen_of_the_main_job_says_what_runs_and_nothing_else(tmp_path):
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "recipes.uci", "--smoke", "--workdir",
         str(tmp_path / "run")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for noise in ("E0000", "I0000", "oneDNN", "cudart", "cuInit",
                  "absl::InitializeLog", "cpu_feature_guard"):
        assert noise not in proc.stderr, proc.stderr
        assert noise not in proc.stdout
    first = proc.stdout.splitlines()[0]
    import keras

    assert first.startswith("python -m recipes.uci: Keras ")
    assert f"backend {keras.backend.backend()}" in first and "devices: " in first
