"""The one image-classifier training harness, and training at scale.

- `fit_classifier`: build a classifier after seeding, SGD with momentum on a
  learning-rate schedule, categorical cross-entropy on one-hot (possibly
  mixed) labels, the test set evaluated after every epoch; every epoch is
  appended to history.csv (tagged) and checkpointed, so the same call after
  a kill continues after the last finished epoch. Every image recipe (CIFAR,
  ImageNet, corrupted labels, adversarial, in-between, ablation) trains
  through it.
- CIFAR and ImageNet at scale: `ScaleConfig` (their shared options:
  --method, SGD, data source, precision, XLA, TPU), `train_at_scale` (one
  run per --method), `fit_method`, `data_parallel` (devices and strategies)
  and `check_global_batch`.
- `METHODS` / `recipe_methods`: what --method means: erm, each mixing method
  of `images.MIXING_METHODS` (a new one there is a new --method value), or
  both (ERM then mixup, same seed); CIFAR's --method takes several.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from recipes.lib import harness, images, storage
from recipes.lib.cli import RecipeConfig, RecipeError, fit_verbose_option, option

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# --method: ERM, one mixing method, or ERM then mixup with the same seed.
METHODS = ("erm", *images.MIXING_METHODS, "both")


def recipe_methods(method: str | Sequence[str]) -> list[str]:
    """The runs a --method value (or several) asks for, in training order:
    `both` is erm then mixup; a method asked for twice runs once."""
    values = [method] if isinstance(method, str) else list(method)
    runs: list[str] = []
    for value in values:
        for run in ["erm", "mixup"] if value == "both" else [value]:
            if run not in runs:
                runs.append(run)
    return runs


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (training and evaluation)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class LearningRateLogger(keras.callbacks.Callback):
    """Adds `learning_rate` to each epoch's logs (history.csv): the rate of
    the epoch's first step, read from the optimizer, so a resumed run shows
    that its schedule continued where it stopped."""

    def __init__(self):
        super().__init__()
        self._rate = None

    def on_epoch_begin(self, epoch, logs=None):
        self._rate = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self._rate


def fresh_session() -> None:
    """`keras.backend.clear_session()` (frees the models of earlier runs in a
    loop of many), keeping the run's dtype policy and distribution, which
    it would reset."""
    policy = keras.config.dtype_policy()
    distribution = keras.distribution.distribution()
    keras.backend.clear_session()
    keras.config.set_dtype_policy(policy)
    if distribution is not None:
        keras.distribution.set_distribution(distribution)


@dataclasses.dataclass(frozen=True, eq=False)
class FitResult:
    """model: the trained classifier; test_errors (and top5_errors with
    top5): test error (%) by epoch, read back from history.csv, resumed
    epochs included; initial_epoch: the first epoch this call trained."""

    model: keras.Model
    test_errors: list[float]
    top5_errors: list[float] | None
    initial_epoch: int
    epoch_seconds: list[float]
    parameters: int


def fit_classifier(
    build_model: Callable[[], keras.Model],
    *,
    train_data,
    eval_data,
    schedule,
    momentum: float,
    epochs: int,
    run_dir: str | os.PathLike,
    history_dir: str | os.PathLike,
    tags: dict[str, Any],
    seed: int,
    scope=None,
    jit_compile: bool | str = "auto",
    top5: bool = False,
    verbose: int | str = 0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> FitResult:
    """Train one classifier with SGD + momentum on one-hot (possibly mixed)
    labels, evaluating on eval_data after every epoch.

    The model is built by `build_model()` (inside `scope`, a distribution
    scope, when given) after a fresh session and
    `keras.utils.set_random_seed(seed)`, so runs of one seed start from the
    same weights. Every epoch is appended to history_dir/history.csv with
    `tags` as leading columns (which also pick this run's rows back out) and
    then checkpointed in run_dir/backup: when killed, the same call continues
    after the last finished epoch. `callbacks` run after the checkpoint.
    """
    for directory in (run_dir, history_dir):
        Path(directory).mkdir(parents=True, exist_ok=True)
    fresh_session()
    keras.utils.set_random_seed(seed)
    with scope if scope is not None else contextlib.nullcontext():
        model = build_model()
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if top5:
            metrics.append(keras.metrics.TopKCategoricalAccuracy(5, name="top5"))
        model.compile(
            optimizer=keras.optimizers.SGD(schedule, momentum=momentum),
            loss="categorical_crossentropy",
            metrics=metrics,
            jit_compile=jit_compile,
        )
    timer = EpochTimer()
    model.fit(
        train_data,
        epochs=epochs,
        shuffle=False,  # the tf.data pipeline shuffles
        validation_data=eval_data,
        verbose=verbose,
        callbacks=[
            timer,
            LearningRateLogger(),
            storage.history_logger(history_dir, **tags),
            # After the log: a checkpoint is written only for a logged epoch.
            storage.backup_and_restore(run_dir),
            *callbacks,
        ],
    )
    history = Path(history_dir) / "history.csv"
    return FitResult(
        model=model,
        test_errors=storage.error_curve(history, "accuracy", **tags),
        top5_errors=storage.error_curve(history, "top5", **tags) if top5 else None,
        initial_epoch=int(getattr(model, "_initial_epoch", 0) or 0),
        epoch_seconds=timer.seconds,
        parameters=sum(int(np.prod(v.shape)) for v in model.trainable_variables),
    )


# ------------------------------------------------------- training at scale


def fit_method(
    config: ScaleConfig,
    method: str,
    alpha: float,
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    train_data,
    eval_data,
    schedule,
    steps_per_epoch: int,
    workdir: Path,
    scope,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    top5: bool = False,
) -> tuple[FitResult, dict[str, Any]]:
    """`fit_classifier` of the config's model (its `MODELS` entry, built as
    `config.architecture()`) for one --method: checkpoints in
    workdir/<method>, history.csv rows tagged with the method and alpha.
    Returns the fit and the record every such run reports."""
    started = time.perf_counter()
    fit = fit_classifier(
        lambda: config.architecture().build(
            input_shape, num_classes, config.weight_decay
        ),
        train_data=train_data,
        eval_data=eval_data,
        schedule=schedule,
        momentum=config.momentum,
        epochs=config.epochs,
        run_dir=Path(workdir) / method,
        history_dir=workdir,
        tags={"method": method, "alpha": alpha},
        seed=config.seed,
        scope=scope,
        jit_compile=config.jit,
        top5=top5,
        verbose=config.fit_verbose,
        callbacks=callbacks,
    )
    return fit, {
        "alpha": alpha,
        "epochs": len(fit.test_errors),
        "resumed_at_epoch": fit.initial_epoch,
        "steps_per_epoch": steps_per_epoch,
        "parameters": fit.parameters,
        "epoch_seconds": fit.epoch_seconds,
        "seconds": time.perf_counter() - started,
    }


def train_at_scale(
    run: harness.Run,
    config: ScaleConfig,
    train_method: Callable[[str, Any], dict[str, Any]],
    *,
    name: str,
    learning_rate: str,
    show: Sequence[str],
    keep_earlier: bool = False,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The CIFAR and ImageNet loop: the config's precision and data
    parallelism, then `train_method(method, scope)` for each --method not yet
    finished (after a line that says what: `name`, the model, the schedule
    whose rate `learning_rate` describes...). Returns (the run of
    each method, the results every such recipe reports: model, data,
    milestones, replicas, median epoch time).

    keep_earlier: also return the methods that an earlier invocation finished
    in this workdir and this one did not ask for (all methods then in METHODS
    order), so that `--method erm mixup`, then `--method cutmix` in the same
    workdir, reports all three. The workdir's settings are the same for all
    of them: `harness.Run` refuses a workdir made with other settings."""
    keras.config.set_dtype_policy(config.precision)
    scope, replicas = data_parallel(config.tpu)
    check_global_batch(config.batch_size, replicas)
    methods = recipe_methods(config.method)
    rows = run.train(
        [{"method": method} for method in methods],
        lambda unit: train_method(unit["method"], scope),
        headline=f"{name}: {config.architecture().title}, {config.epochs} epochs, "
        f"batch {config.batch_size} on {replicas} device(s), {learning_rate} / 10 "
        f"at epochs {' '.join(map(str, config.schedule_milestones()))}, "
        f"precision {config.precision}; methods {' '.join(methods)}",
        show=show,
    )
    if keep_earlier:
        earlier = [row for row in run.rows.rows() if row["method"] not in methods]
        if earlier:
            print(
                f"also reporting {' '.join(row['method'] for row in earlier)}: "
                f"finished earlier in {run.workdir}",
                flush=True,
            )
        rows = sorted(rows + earlier, key=lambda row: METHODS.index(row["method"]))
    # The first epoch of a fit includes compilation.
    epoch_seconds = [s for row in rows for s in row["epoch_seconds"][1:]]
    return {row["method"]: row for row in rows}, {
        "model": config.model,
        "data": config.data,
        "milestones": list(config.schedule_milestones()),
        "replicas": replicas,
        "median_epoch_seconds": statistics.median(epoch_seconds)
        if epoch_seconds else None,
    }


def data_parallel(tpu: str | None = None):
    """Data parallelism over every accelerator this process sees, on Keras's
    own engines. Returns (scope, replicas): build and compile the model inside
    `scope`; the global batch is split over `replicas` devices.

    - JAX: `keras.distribution.DataParallel` over all devices when there is
      more than one (multi-host: set KERAS_DISTRIBUTION_JOB_ADDRESSES,
      KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID on
      each host; `keras.distribution.initialize` reads them). TPUs are JAX
      devices too: `tpu` is for TensorFlow only.
    - TensorFlow: `tf.distribute.TPUStrategy` when `tpu` is given (a TPU name
      or address, "" for the local one), else `MirroredStrategy` over the
      GPUs when there is more than one.
    One device: no distribution at all.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        if tpu is not None:
            raise ValueError(
                "`tpu` selects a TensorFlow TPUStrategy; on the JAX backend TPU "
                f"cores are plain JAX devices (leave it unset), got tpu={tpu!r}"
            )
        if int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) > 1:
            keras.distribution.initialize()
        devices = keras.distribution.list_devices()
        if len(devices) > 1:
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(devices=devices)
            )
        return contextlib.nullcontext(), len(devices)
    if backend == "tensorflow":
        import tensorflow as tf

        if tpu is not None:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            strategy = tf.distribute.TPUStrategy(resolver)
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            strategy = tf.distribute.MirroredStrategy()
        else:
            return contextlib.nullcontext(), 1
        return strategy.scope(), strategy.num_replicas_in_sync
    if tpu is not None:
        raise ValueError(f"`tpu` needs the TensorFlow backend, running {backend!r}")
    return contextlib.nullcontext(), 1


def check_global_batch(batch_size: int, replicas: int) -> None:
    if batch_size % replicas:
        raise RecipeError(
            f"the global batch size {batch_size} must be divisible by the "
            f"{replicas} devices of the data-parallel run (each gets an equal "
            f"share): choose --batch-size accordingly"
        )


def limit_option(split: str, *, smoke: int, synthetic_size: int | None = None) -> Any:
    """--limit-train / --limit-test of the image recipes."""
    synthetic = (
        "" if synthetic_size is None
        else f" (synthetic: N images, default {synthetic_size})"
    )
    return option(
        None, f"use only the first N {split} images{synthetic}", smoke=smoke,
        metavar="N", minimum=1,
    )


@dataclasses.dataclass(frozen=True)
class ScaleConfig(RecipeConfig):
    """The options the recipes that run at scale (CIFAR, ImageNet) share:
    methods, SGD, data source, precision, XLA, TPU, progress output."""

    method: str = option(
        "both",
        "erm, a mixing method (mixup, cutmix, switch: timm's mixup/CutMix "
        "switch), or both (ERM then mixup, same seed)", resumable=True,
        choices=METHODS,
    )
    weight_decay: float = option(1e-4, "weight decay (paper: 1e-4)", minimum=0)
    momentum: float = option(0.9, "SGD momentum (paper: 0.9)", minimum=0, below=1)
    data: str = option(
        "tfds",
        "tfds (the paper's data through tensorflow-datasets) or synthetic "
        "(random images of its shape: throughput only)",
        smoke="synthetic",
        choices=("tfds", "synthetic"),
    )
    data_dir: str | None = option(
        None,
        "tensorflow-datasets data directory (default: $TFDS_DATA_DIR or "
        "~/tensorflow_datasets); ImageNet: prepared, or with the archives in "
        "downloads/manual",
        resumable=True,
        metavar="DIR",
    )

    precision: str = option(
        "float32",
        "dtype policy: float32, mixed_bfloat16 (TPU, recent GPUs) or "
        "mixed_float16 (GPUs; loss scaling is automatic)",
        choices=PRECISIONS,
    )
    jit: bool = option(True, "compile train and eval steps with XLA", resumable=True)
    tpu: str | None = option(
        None,
        "TensorFlow backend: train on this TPU with TPUStrategy ('' = the "
        "local TPU)",
        resumable=True,
        metavar="NAME",
    )
    fit_verbose: int = fit_verbose_option(1)
