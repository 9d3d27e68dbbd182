"""The learning-rate schedule of every recipe that decays by steps.

`step_decay` is Keras's `PiecewiseConstantDecay` with its boundaries at
epoch milestones (the paper's "divided by 10 after epochs 100 and 150"),
optionally behind `LinearWarmup` (Goyal et al., 2017: ImageNet 0.1 -> 0.4
over 5 epochs). Both are Keras schedules: the optimizer evaluates them at its
own step, so a resumed run (BackupAndRestore restores `iterations`) continues
the schedule where it stopped, and they serialize with the optimizer.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras


@keras.saving.register_keras_serializable(package="recipes")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` after `warmup_steps`; before, the rate rises linearly, step
    by step, from `start` to the schedule's value at warmup_steps."""

    def __init__(self, schedule, warmup_steps: int, start: float):
        if not isinstance(warmup_steps, int) or warmup_steps < 1:
            raise ValueError(
                f"`warmup_steps` must be an int >= 1, got {warmup_steps!r}"
            )
        if not (isinstance(start, (int, float)) and start >= 0):
            raise ValueError(f"`start` must be a number >= 0, got {start!r}")
        if isinstance(schedule, dict):  # from get_config
            schedule = keras.optimizers.schedules.deserialize(schedule)
        self.schedule = schedule
        self.warmup_steps = warmup_steps
        self.start = float(start)

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        target = ops.cast(self.schedule(self.warmup_steps), "float32")
        warm = self.start + (target - self.start) * step / float(self.warmup_steps)
        return ops.where(step < self.warmup_steps, warm, self.schedule(step))

    def get_config(self):
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "warmup_steps": self.warmup_steps,
            "start": self.start,
        }


def step_decay(
    base_lr: float,
    milestones: Sequence[int],
    steps_per_epoch: int,
    *,
    factor: float = 0.1,
    warmup_epochs: int = 0,
    warmup_start_lr: float | None = None,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """lr = base_lr * factor ** (milestones reached), milestone m being
    reached at step m * steps_per_epoch; with warmup_epochs, a linear rise
    from warmup_start_lr (default base_lr: no rise) to base_lr first."""
    milestones = tuple(int(m) for m in milestones)
    if not (isinstance(base_lr, (int, float)) and base_lr > 0):
        raise ValueError(f"`base_lr` must be a number > 0, got {base_lr!r}")
    if any(m < 1 for m in milestones) or list(milestones) != sorted(set(milestones)):
        raise ValueError(
            f"`milestones` must be increasing epochs >= 1, got {milestones!r}"
        )
    if not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise ValueError(
            f"`steps_per_epoch` must be a positive int, got {steps_per_epoch!r}"
        )
    if not (isinstance(factor, (int, float)) and 0 < factor <= 1):
        raise ValueError(f"`factor` must be in (0, 1], got {factor!r}")
    if not isinstance(warmup_epochs, int) or warmup_epochs < 0:
        raise ValueError(f"`warmup_epochs` must be an int >= 0, got {warmup_epochs!r}")
    if warmup_epochs and milestones and milestones[0] < warmup_epochs:
        raise ValueError(
            f"`milestones` must come after the warm-up ({warmup_epochs} "
            f"epochs), got {milestones!r}"
        )
    # PiecewiseConstantDecay switches after a boundary (step > b): boundary
    # m * steps - 1 makes step m * steps the first at the lower rate.
    # Without milestones, one boundary between two equal rates: a constant.
    boundaries = [m * steps_per_epoch - 1 for m in milestones] or [0]
    rates = [float(base_lr) * float(factor) ** i for i in range(len(milestones) + 1)]
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries, rates if milestones else rates * 2
    )
    if not warmup_epochs or warmup_start_lr is None or warmup_start_lr == base_lr:
        return schedule
    return LinearWarmup(
        schedule, warmup_epochs * steps_per_epoch, float(warmup_start_lr)
    )
