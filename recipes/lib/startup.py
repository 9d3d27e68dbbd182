"""A recipe's first screen: what runs, on which backend and device, no noise.

Importing TensorFlow writes a dozen C++ log lines to stderr before anything
else: the oneDNN and cudart notices, once per TensorFlow library that loads
(two), and later, when TensorFlow first looks for devices, `E0000 ...
cuda_platform.cc:52] failed call to cuInit` on a machine without an NVIDIA
GPU. Setting TF_CPP_MIN_LOG_LEVEL does not hide the first ones: they are
written while the libraries load, before absl's logging is initialised
("WARNING: All log messages before absl::InitializeLog() is called are
written to STDERR"), when absl writes every message and no level applies.
The cuInit line is an ERROR to absl, so only level 3, which also hides
every real error, would hide it.

So `quiet_backend_import` imports TensorFlow and Keras and lets TensorFlow
look for devices with the process's stderr (file descriptor 2) sent to a
file, then writes back every line except that start-up noise: INFO lines
(unless TF_CPP_MIN_LOG_LEVEL=0 asks for them), absl's pre-initialisation
notice, and the cuInit failure where the machine has no NVIDIA device (no
/dev/nvidia* and no /proc/driver/nvidia: a GPU that fails to start still
shows). Warnings, errors and Python's own messages are written back as they
came. TF_CPP_MIN_LOG_LEVEL defaults to 1 (INFO hidden once absl's logging
is up), unless set.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import tempfile

# absl's log line prefix: severity and date, time (seconds since the epoch
# before absl is initialised), thread, file:line]
_LOG_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [^\]]+\] ")
_ABSL_PRE_INIT = (
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR"
)
_CUINIT_FAILURE = "failed call to cuInit"


def has_nvidia_device() -> bool:
    """Whether the machine shows an NVIDIA device or driver."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists(
        "/proc/driver/nvidia/version"
    )


def is_start_up_noise(line: str, *, show_info: bool, nvidia: bool) -> bool:
    """Whether a stderr line written while the backend starts is noise."""
    text = line.rstrip("\n")
    if text == _ABSL_PRE_INIT:
        return True
    match = _LOG_LINE.match(text)
    if not match:
        return False
    if match.group(1) == "I":
        return not show_info
    return _CUINIT_FAILURE in text and not nvidia


def filter_start_up_noise(text: str, *, show_info: bool, nvidia: bool) -> str:
    """`text` without its start-up noise lines (see `is_start_up_noise`)."""
    return "".join(
        line for line in text.splitlines(keepends=True)
        if not is_start_up_noise(line, show_info=show_info, nvidia=nvidia)
    )


def quiet_backend_import() -> None:
    """Import TensorFlow and Keras and find devices, without the noise.

    Does nothing when TensorFlow is already imported (its notices are out).
    Must run before anything imports Keras (recipes/__init__.py calls it).
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    show_info = os.environ["TF_CPP_MIN_LOG_LEVEL"].strip() == "0"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            _import_and_find_devices()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            sys.stderr.write(filter_start_up_noise(
                text, show_info=show_info, nvidia=has_nvidia_device()))
            sys.stderr.flush()


def _import_and_find_devices() -> None:
    try:
        import tensorflow as tf
    except ImportError:  # a JAX- or torch-only install
        tf = None
    import keras  # noqa: F401  (imports its backend)

    if tf is not None:
        # Device discovery is where TensorFlow tries cuInit.
        tf.config.list_physical_devices()


def runtime_summary() -> str:
    """One line: Keras, its backend and version, and the devices it sees."""
    import keras

    backend = keras.backend.backend()
    version = _backend_version(backend)
    devices = _devices(backend)
    return (
        f"Keras {keras.__version__}, backend {backend}"
        + (f" {version}" if version else "")
        + f", devices: {devices}"
    )


def _backend_version(backend: str) -> str | None:
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(
        backend
    )
    return getattr(sys.modules.get(module), "__version__", None) if module else None


def _devices(backend: str) -> str:
    if backend == "jax":
        import jax

        names = [f"{d.platform.upper()}:{d.id}" for d in jax.devices()]
    elif backend == "torch":
        import torch

        names = [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]
    else:
        import tensorflow as tf

        names = [d.name.replace("/physical_device:", "")
                 for d in tf.config.list_physical_devices()]
    return ", ".join(names) or "none"
