"""2. The input pipeline: batches per second and CPU per batch of tf.data.

A CIFAR-sized pipeline (uint8 32x32x3 images, int labels, in memory) that is
batched (128) and prefetched, pulled batch by batch from Python, with:

- no map (the baseline);
- an identity map (control: what any map stage costs);
- a cast + one-hot map without mixing (control: the preprocessing every
  mixing map does, since mixed images and labels are float);
- a hand-written per-batch mixup map (lam ~ U(0, 1), shuffled pairs);
- `keras_mixup.mixup_map(alpha=1, num_classes=10)`;
- `keras.layers.MixUp(alpha=1)` mapped on the dict form it needs
  ({"images": x, "labels": one_hot(y)}).

Every map is sequential (tf.data's map parallelization and autotuning are
switched off for all pipelines alike), so that results are deterministic
with a seed. The pipelines are pulled round-robin, each through its own
persistent iterator; the prefetch buffer is 2 batches so that what a
pipeline prefetches while another one is measured is small against the
batches pulled per round. Throughput is a ratio to the no-map pipeline in
the same round; CPU per batch is process CPU time (tf.data's threads
included) divided by batches pulled. Wall-clock throughput on shared 2-core
machines is bimodal (it depends on whether tf.data's threads get a core of
their own), which is why CPU per batch is reported too.
"""

import numpy as np

from benchmarks import timing

NUM_CLASSES = 10


def _pipelines(num_examples, image_shape, batch_size, seed=0):
    import keras
    import tensorflow as tf

    import keras_mixup

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (num_examples,) + image_shape, dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, num_examples).astype(np.int64)

    def source():
        return (
            tf.data.Dataset.from_tensor_slices((images, labels))
            .repeat()
            .batch(batch_size, drop_remainder=True)
        )

    def cast_one_hot(x, y):
        return tf.cast(x, "float32"), tf.one_hot(y, NUM_CLASSES)

    def hand_written(x, y):
        x, y = cast_one_hot(x, y)
        lam = tf.random.uniform([])
        perm = tf.random.shuffle(tf.range(tf.shape(x)[0]))
        return (
            lam * x + (1.0 - lam) * tf.gather(x, perm),
            lam * y + (1.0 - lam) * tf.gather(y, perm),
        )

    peer = keras.layers.MixUp(alpha=1.0, seed=seed)

    def peer_map(x, y):
        out = peer(
            {"images": x, "labels": tf.one_hot(y, NUM_CLASSES)}, training=True
        )
        return out["images"], out["labels"]

    maps = {
        "no map": None,
        "identity map (control)": lambda x, y: (x, y),
        "cast + one-hot, no mix (control)": cast_one_hot,
        "hand-written mixup map": hand_written,
        "keras_mixup.mixup_map": keras_mixup.mixup_map(
            alpha=1.0, num_classes=NUM_CLASSES, seed=seed
        ),
        "keras.layers.MixUp (dict form)": peer_map,
    }
    out = {}
    for name, fn in maps.items():
        ds = source()
        if fn is not None:
            ds = ds.map(fn)
        options = tf.data.Options()
        # Like for like: every map sequential, the prefetch buffer fixed.
        options.autotune.enabled = False
        options.experimental_optimization.map_parallelization = False
        it = iter(ds.prefetch(2).with_options(options))
        out[name] = lambda it=it: next(it)
    return out


def run(quick=False):
    import keras

    if quick:
        num_examples, shape, batch, rounds, number = 64, (8, 8, 3), 8, 2, 5
    else:
        num_examples, shape, batch, rounds, number = 4096, (32, 32, 3), 128, 15, 400
    cands = _pipelines(num_examples, shape, batch)
    res = timing.compare(
        cands, "no map", rounds=rounds, number=number, warmup=number // 4 or 1
    )
    base_wall, base_cpu = res["no map"]["wall_s"], res["no map"]["cpu_s"]
    rows = []
    for name, r in res.items():
        rows.append({
            "pipeline": name,
            "batches_per_s": timing.summary([1.0 / w for w in r["wall_s"]], 1),
            "throughput_ratio": timing.summary(
                [b / w for w, b in zip(r["wall_s"], base_wall)]
            ),
            "cpu_ms_per_batch": r["cpu_ms"],
            "extra_cpu_ms_per_batch": timing.summary(
                [(c - b) * 1e3 for c, b in zip(r["cpu_s"], base_cpu)]
            ),
        })
    return {
        "backend": keras.backend.backend(),
        "batch_size": batch,
        "image_shape": list(shape),
        "batches_per_round": number,
        "rows": rows,
    }


def table(result):
    lines = [
        f"Pipeline ({result['backend']} process; tf.data, batch "
        f"{result['batch_size']} of {tuple(result['image_shape'])} uint8, "
        "prefetch 2): median (min-max)",
        f"{'pipeline':34} {'batches/s':>22} {'throughput ratio':>24} "
        f"{'extra CPU ms/batch':>24}",
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['pipeline']:34} {timing.fmt(r['batches_per_s'], ''):>22} "
            f"{timing.fmt(r['throughput_ratio']):>24} "
            f"{timing.fmt(r['extra_cpu_ms_per_batch'], ''):>24}"
        )
    return "\n".join(lines)
