"""4. Memory: peak memory of a training step, with and without mixup.

The claim to check: mixup adds at most one extra batch (the mixed copy) to
the peak memory of a training step. The models and modes are those of the
training-step benchmark (benchmarks/train_step.py).

- TensorFlow: TensorFlow's own allocator statistics for the CPU device
  (`tf.config.experimental.get_memory_info("CPU:0")`): the statistics are
  reset, a few `fit` steps run, and the peak above what was allocated
  before is the step's transient memory (activations, gradients, the
  batches in flight and in the tf.data prefetch buffers).
- JAX: XLA's buffer assignment of the compiled train step (Keras's own
  `train_step`, jitted with the state donated as `fit` does), from
  `compiled.memory_analysis()`: exact, not sampled. The peak is arguments
  + outputs + temporaries - aliased (donated) bytes; the tf.data pipeline
  runs outside it, in TensorFlow.

"Extra" is the difference to ERM, also in units of one float32 batch. A
control, ERM on the one-hot labels and cross-entropy that the tf.data modes
feed, shows what the label format alone changes.
"""

from benchmarks import timing
from benchmarks import train_step

FULL = {
    "small_cnn": dict(batch_size=128, input_shape=(32, 32, 3), rounds=5,
                      steps=3, num_examples=1024),
    "preact_resnet18": dict(batch_size=32, input_shape=(32, 32, 3), rounds=2,
                            steps=2, num_examples=256),
}
QUICK = {
    "small_cnn": dict(batch_size=8, input_shape=(8, 8, 3), rounds=1, steps=2,
                      num_examples=32),
}


def _tf_peaks(model, ds, rounds, steps):
    import tensorflow as tf

    try:
        tf.config.experimental.get_memory_info("CPU:0")
    except ValueError as error:
        raise RuntimeError(
            "TensorFlow keeps no CPU allocator statistics in this process: "
            "set TF_CPU_ALLOCATOR_USE_BFC=true before TensorFlow runs its "
            "first op (importing `benchmarks` first does)"
        ) from error
    # warm-up
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    peaks = []
    for _ in range(rounds):
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0,
                  shuffle=False)
        peaks.append(tf.config.experimental.get_memory_info("CPU:0")["peak"]
                     - before)
    return {"peak_bytes": timing.summary(peaks, 0)}


def _jax_analysis(model, ds):
    import jax

    data = next(iter(ds.take(1).as_numpy_iterator()))
    data = jax.tree_util.tree_map(jax.numpy.asarray, data)
    try:
        model._symbolic_build(data_batch=data)
    except Exception:  # noqa: BLE001 - older/newer Keras: build by a step
        model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    state = model._get_jax_state(
        trainable_variables=True, non_trainable_variables=True,
        optimizer_variables=True, metrics_variables=True,
    )
    compiled = jax.jit(model.train_step, donate_argnums=0).lower(
        state, data).compile()
    m = compiled.memory_analysis()
    peak = (m.argument_size_in_bytes + m.output_size_in_bytes
            + m.temp_size_in_bytes - m.alias_size_in_bytes)
    return {
        "peak_bytes": timing.summary([peak], 0),
        "temp_bytes": m.temp_size_in_bytes,
        "argument_bytes": m.argument_size_in_bytes,
        "output_bytes": m.output_size_in_bytes,
        "alias_bytes": m.alias_size_in_bytes,
    }


def measure_model(model_name, *, batch_size, input_shape, rounds, steps,
                  num_examples):
    import keras

    backend = keras.backend.backend()
    rows = []
    for mode in train_step.MODES + (train_step.ERM_ONE_HOT,):
        row = {"model": model_name, "mode": mode, "batch_size": batch_size}
        try:
            model, ds, batch_bytes = train_step.build(
                model_name, mode, input_shape, batch_size, num_examples)
            if backend == "tensorflow":
                row.update(_tf_peaks(model, ds, rounds, steps))
                row["method"] = "TF CPU allocator peak over fit steps"
            else:
                row.update(_jax_analysis(model, ds))
                row["method"] = "XLA memory_analysis of the compiled train step"
            row["batch_bytes"] = batch_bytes
            row["status"] = "ok"
        except Exception as e:  # noqa: BLE001 - reported as a row
            row["status"] = (
                "not available: keras_mixup.MixUpModel does not exist yet"
                if "not available" in str(e)
                else f"fails: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
            )
        rows.append(row)
        keras.backend.clear_session()
    erm = next((r for r in rows if r["mode"] == "ERM" and r["status"] == "ok"),
               None)
    for r in rows:
        if r["status"] == "ok" and erm is not None:
            extra = r["peak_bytes"]["median"] - erm["peak_bytes"]["median"]
            r["extra_bytes_vs_erm"] = extra
            r["extra_batches_vs_erm"] = round(extra / r["batch_bytes"], 3)
    return rows


def run(quick=False, models=None):
    import keras

    config = QUICK if quick else FULL
    rows = []
    for name in models or list(config):
        rows.extend(measure_model(name, **config.get(name, FULL.get(name))))
    return {"backend": keras.backend.backend(), "rows": rows}


def _mb(stat):
    return (f"{stat['median'] / 1e6:.2f} ({stat['min'] / 1e6:.2f}-"
            f"{stat['max'] / 1e6:.2f})")


def table(result):
    lines = [
        f"Memory ({result['backend']}): peak of a training step; extra over ERM "
        "in bytes and in float32 batches",
        f"{'model':16} {'mode':30} {'peak MB, median (min-max)':>28} "
        f"{'extra MB':>10} {'extra batches':>14}",
    ]
    for r in result["rows"]:
        if r["status"] != "ok":
            lines.append(f"{r['model']:16} {r['mode']:30} {r['status']}")
            continue
        extra = r.get("extra_bytes_vs_erm")
        lines.append(
            f"{r['model']:16} {r['mode']:30} "
            f"{_mb(r['peak_bytes']):>28} "
            f"{'' if extra is None else f'{extra / 1e6:10.3f}'} "
            f"{r.get('extra_batches_vs_erm', ''):>14}"
        )
    return "\n".join(lines)
