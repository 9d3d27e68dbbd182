"""Side-by-side timing: every figure is a ratio measured in one process run.

The machines these benchmarks run on are shared and noisy, so absolute times
are not comparable between runs. `compare` runs the candidates round-robin
(one round = each candidate once, in the same order), so that a burst of
noise from another process hits every candidate of that round alike, and
reports each candidate's ratio to the baseline *of the same round*, as
min/median/max over rounds. Wall time comes from `time.perf_counter`, CPU
time (every thread of this process: tf.data workers and XLA's thread pool
included) from `time.process_time`.
"""

import gc
import statistics
import time


def summary(values, digits=4):
    """{"min", "median", "max", "n"} of a list of numbers."""
    values = [v for v in values if v is not None]
    if not values:
        return {"min": None, "median": None, "max": None, "n": 0}
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def time_calls(fn, number):
    """(wall seconds, cpu seconds) per call of `fn`, over `number` calls."""
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    t1 = time.perf_counter()
    cpu1 = time.process_time()
    return (t1 - t0) / number, (cpu1 - cpu0) / number


def compare(candidates, baseline, *, rounds, number=1, warmup=2):
    """Time callables side by side; ratios to `baseline` round by round.

    Args:
        candidates: dict name -> zero-argument callable that runs one
            repetition to completion (blocking on asynchronous results).
        baseline: the name of the candidate that ratios are taken against.
        rounds: number of round-robin rounds (the sample size of each
            statistic).
        number: calls per candidate per round (averaged: for calls far
            shorter than the timer's resolution and the loop's overhead).
        warmup: calls of each candidate before measuring (compilation,
            caches, page faults of the first call).

    Returns:
        dict name -> {"ms": summary of wall ms per call, "cpu_ms": summary of
        CPU ms per call, "ratio": summary of wall ratio to the baseline,
        "cpu_ratio": summary of CPU ratio to the baseline, "wall_s" and
        "cpu_s": the raw per-round seconds per call, for derived ratios}.
    """
    if baseline not in candidates:
        raise ValueError(f"baseline {baseline!r} is not among the candidates")
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    wall = {name: [] for name in candidates}
    cpu = {name: [] for name in candidates}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in candidates.items():
                w, c = time_calls(fn, number)
                wall[name].append(w)
                cpu[name].append(c)
    finally:
        if gc_was_enabled:
            gc.enable()
    out = {}
    for name in candidates:
        out[name] = {
            "ms": summary([w * 1e3 for w in wall[name]]),
            "cpu_ms": summary([c * 1e3 for c in cpu[name]]),
            "ratio": summary(
                [w / b for w, b in zip(wall[name], wall[baseline]) if b > 0]
            ),
            "cpu_ratio": summary(
                [c / b for c, b in zip(cpu[name], cpu[baseline]) if b > 0]
            ),
            "wall_s": wall[name],
            "cpu_s": cpu[name],
        }
    return out


def fmt(stat, unit="x"):
    """'median (min-max)' of a summary, for tables."""
    if not stat or stat.get("median") is None:
        return "n/a"
    return (
        f"{stat['median']:.3g}{unit} ({stat['min']:.3g}-{stat['max']:.3g})"
    )
