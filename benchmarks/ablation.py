"""5. Where the time of a small batch goes: the mixing map and draw, taken apart.

On the paper's tabular setting (an MLP step of about a millisecond, batch
16) the fixed cost of mixing one batch is what decides the overhead, not
memory traffic. This suite measures that fixed cost piece by piece, side by
side in one process (round-robin, like every suite here):

- **tf.data maps** (TF ops, on any Keras backend): CPU per batch of a
  sequential map over batched (16, 64) float32 features and int32 labels,
  as extra CPU over the same pipeline without a map. Pieces: the cast and
  one-hot every map does; the label-range assertion; the sampler (the
  portable Marsaglia-Tsang draw with 16 candidates against TF's native
  stateless Gamma kernel); the permutation (argsort of uniform keys against
  TF's stateless shuffle kernel); the whole `mixup_map` before (portable
  kernels) and now; hand-written maps (lam ~ U(0, 1), and an exact Beta
  from `tf.random.gamma`, with `tf.random.shuffle`); and what tf.data's
  parallel map calls change (wall time per batch). Each map's traced graph
  node count is given beside it.
- **the draw in a compiled step** (`mixing.draw` for a batch of 16 and
  1024): TF `tf.function` without XLA (Keras's default on CPU), TF with XLA,
  JAX `jax.jit`; time per call against an empty compiled call.

`python -m benchmarks --only ablation` (both backends) or
`python -m benchmarks.ablation` (the running backend).
"""

import contextlib
import time

import numpy as np

from benchmarks import timing

NUM_CLASSES = 10
FEATURES = 64
NO_MAP = "no map"


@contextlib.contextmanager
def portable_kernels():
    """Trace with the portable sampler and permutation (Marsaglia-Tsang, an
    argsort: what XLA and JAX run) instead of TF's native kernels: the map
    as it was before the native kernels, for the before/after rows."""
    from keras_mixup import mixing

    native = mixing._tf_native_kernels
    mixing._tf_native_kernels = lambda b: False
    try:
        yield
    finally:
        mixing._tf_native_kernels = native


def graph_nodes(fn, batch_size=None):
    """Node count of `fn` traced as a tf.function on (x, y) tabular specs."""
    import tensorflow as tf

    specs = (tf.TensorSpec([batch_size, FEATURES], tf.float32),
             tf.TensorSpec([batch_size], tf.int32))
    graph = tf.function(fn, autograph=False).get_concrete_function(*specs).graph
    definition = graph.as_graph_def()
    return len(definition.node) + sum(
        len(f.node_def) for f in definition.library.function
    )


def _map_pieces():
    """name -> (map function or None, trace with portable kernels)."""
    import keras
    import tensorflow as tf

    import keras_mixup
    from keras_mixup import _internals, mixing

    tf_ops = _internals.backend_namespace("tensorflow")
    with tf.init_scope():
        seed = keras.random.SeedGenerator(0, backend=tf_ops)

    def one_hot(x, y):
        return x, tf.one_hot(y, NUM_CLASSES)

    def check_labels(x, y):
        return x, mixing_labels().prepare_labels(
            y, num_classes=NUM_CLASSES, backend=tf_ops)

    def sampler(x, y):
        return x * mixing.sample_lambda(seed, 1.0, backend=tf_ops), y

    def permutation(x, y):
        perm = mixing.sample_permutation(seed, tf.shape(x)[0], backend=tf_ops)
        return tf.gather(x, perm), y

    def hand_written(lam_fn):
        def fn(x, y):
            y = tf.one_hot(y, NUM_CLASSES)
            lam = lam_fn()
            perm = tf.random.shuffle(tf.range(tf.shape(x)[0]))
            return (lam * x + (1.0 - lam) * tf.gather(x, perm),
                    lam * y + (1.0 - lam) * tf.gather(y, perm))
        return fn

    def exact_beta():
        g = tf.random.gamma([2], 1.0)
        return g[0] / (g[0] + g[1])

    return {
        NO_MAP: (None, False),
        "cast + one-hot (no checks)": (one_hot, False),
        "prepare_labels (one-hot + range check)": (check_labels, False),
        "mixup_map alpha=0 (ERM through the map)": (
            keras_mixup.mixup_map(0.0, num_classes=NUM_CLASSES, seed=0), False),
        "sampler only: Marsaglia-Tsang, 16 candidates": (sampler, True),
        "sampler only: native Gamma kernel": (sampler, False),
        "permutation only: argsort of uniform keys": (permutation, True),
        "permutation only: native shuffle kernel": (permutation, False),
        "hand-written map, lam ~ U(0, 1)": (
            hand_written(lambda: tf.random.uniform([])), False),
        "hand-written map, exact Beta (tf.random.gamma)": (
            hand_written(exact_beta), False),
        "mixup_map, portable kernels (before)": (
            keras_mixup.mixup_map(1.0, num_classes=NUM_CLASSES, seed=0), True),
        "mixup_map (now)": (
            keras_mixup.mixup_map(1.0, num_classes=NUM_CLASSES, seed=0), False),
    }


def mixing_labels():
    """The module holding `prepare_labels` (moved out of `mixing`)."""
    try:
        from keras_mixup import labels
    except ImportError:
        from keras_mixup import mixing as labels
    return labels


def _pipelines(batch_size, num_examples, parallel=False):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    features = rng.random((num_examples, FEATURES), dtype=np.float32)
    labels = rng.integers(0, NUM_CLASSES, num_examples).astype(np.int32)
    options = tf.data.Options()
    options.autotune.enabled = parallel
    options.experimental_optimization.map_parallelization = False
    options.experimental_optimization.inject_prefetch = False
    pulls, nodes = {}, {}
    pieces = _map_pieces()
    if parallel:
        pieces = {k: v for k, v in pieces.items()
                  if k in (NO_MAP, "mixup_map (now)",
                           "hand-written map, exact Beta (tf.random.gamma)")}
    for name, (fn, portable) in pieces.items():
        ds = (tf.data.Dataset.from_tensor_slices((features, labels)).repeat()
              .batch(batch_size, drop_remainder=True))
        with portable_kernels() if portable else contextlib.nullcontext():
            if fn is not None:
                ds = (ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE,
                             deterministic=True) if parallel else ds.map(fn))
                nodes[name] = graph_nodes(fn)
        if parallel:
            ds = ds.prefetch(tf.data.AUTOTUNE)
        it = iter(ds.with_options(options))
        pulls[name + (", parallel calls + prefetch" if parallel else "")] = (
            lambda it=it: next(it))
    return pulls, nodes


def run_maps(quick=False):
    if quick:
        batch_size, num_examples, rounds, number = 4, 64, 2, 5
    else:
        batch_size, num_examples, rounds, number = 16, 1440, 30, 150
    pulls, nodes = _pipelines(batch_size, num_examples)
    # tf.data's parallel map calls (and an autotuned prefetch): the same CPU
    # work spread over threads; wall time per batch pulled is what changes.
    parallel, _ = _pipelines(batch_size, num_examples, parallel=True)
    pulls.update(parallel)
    res = timing.compare(pulls, NO_MAP, rounds=rounds, number=number,
                         warmup=number // 4 or 1)
    base_cpu = res[NO_MAP]["cpu_s"]
    rows = []
    for name, r in res.items():
        rows.append({
            "map": name,
            "graph_nodes": nodes.get(name.split(", parallel calls")[0], 0),
            "cpu_us_per_batch": timing.summary(
                [c * 1e6 for c in r["cpu_s"]], 1),
            "extra_cpu_us_per_batch": timing.summary(
                [(c - b) * 1e6 for c, b in zip(r["cpu_s"], base_cpu)], 1),
            "wall_us_per_batch": timing.summary(
                [w * 1e6 for w in r["wall_s"]], 1),
        })
    return {"batch_size": batch_size, "rows": rows}


def _draw_candidates(backend, batch_size):
    """name -> a zero-argument call of one compiled draw (lam, perm)."""
    import keras

    from keras_mixup import mixing

    cands = {}
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.ones((batch_size, FEATURES))
        floor = tf.function(lambda x: x[:1, :1] + 1.0)
        cands["empty compiled call"] = lambda: floor(x)
        for xla in (False, True):
            tag = "tf.function XLA" if xla else "tf.function"
            for portable in ((False, True) if not xla else (False,)):
                gen = keras.random.SeedGenerator(0)
                fn = tf.function(
                    lambda x, gen=gen: mixing.draw(gen, 1.0, batch_size),
                    jit_compile=xla, autograph=False)
                with portable_kernels() if portable else contextlib.nullcontext():
                    fn(x)  # traced here, with or without the native kernels
                name = f"draw, {tag}" + (
                    ", portable kernels (before)" if portable else "")
                cands[name] = lambda fn=fn: fn(x)
        return cands
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        x = jnp.ones((batch_size, FEATURES))
        floor = jax.jit(lambda x: x[:1, :1] + 1.0)
        cands["empty compiled call"] = lambda: jax.block_until_ready(floor(x))
        gen = keras.random.SeedGenerator(0)

        def pure(state):
            with keras.StatelessScope(
                    state_mapping=[(gen.state, state)]) as scope:
                out = mixing.draw(gen, 1.0, batch_size)
            return out, scope.get_current_value(gen.state)

        step = jax.jit(pure)
        box = [jnp.array(gen.state.value, copy=True)]

        def run():
            out, box[0] = step(box[0])
            jax.block_until_ready(out)

        cands["draw, jax.jit"] = run
        return cands
    raise ValueError(f"no ablation for backend {backend}")


def run_draws(backend, quick=False):
    sizes = (4,) if quick else (16, 1024)
    rounds, number = (2, 5) if quick else (15, 200)
    rows = []
    for batch_size in sizes:
        cands = _draw_candidates(backend, batch_size)
        res = timing.compare(cands, "empty compiled call", rounds=rounds,
                             number=number, warmup=3)
        base = res["empty compiled call"]
        for name, r in res.items():
            rows.append({
                "batch_size": batch_size, "impl": name,
                "us": timing.summary([w * 1e6 for w in r["wall_s"]], 1),
                "cpu_us": timing.summary([c * 1e6 for c in r["cpu_s"]], 1),
                "extra_cpu_us": timing.summary(
                    [(c - b) * 1e6 for c, b in zip(r["cpu_s"], base["cpu_s"])],
                    1),
            })
    return rows


def run(quick=False):
    import keras

    backend = keras.backend.backend()
    result = {"backend": backend, "maps": run_maps(quick),
              "draws": run_draws(backend, quick)}
    return result


def table(result):
    lines = [
        f"Ablation ({result['backend']} process): tf.data maps, batch "
        f"{result['maps']['batch_size']} x {FEATURES} float32, sequential; "
        "median (min-max) over rounds",
        f"{'map':52} {'nodes':>6} {'CPU us/batch, min':>18} "
        f"{'extra CPU us/batch':>24} {'wall us/batch':>24}",
    ]
    # The least disturbed round (min) beside the median: on a shared
    # machine other jobs add to every figure, never subtract.
    for r in result["maps"]["rows"]:
        lines.append(
            f"{r['map'][:52]:52} {r['graph_nodes']:6d} "
            f"{r['cpu_us_per_batch']['min']:18.1f} "
            f"{timing.fmt(r['extra_cpu_us_per_batch'], ''):>24} "
            f"{timing.fmt(r['wall_us_per_batch'], ''):>24}")
    lines.append("")
    lines.append(f"{'draw (lam, perm), batch':24} {'impl':44} "
                 f"{'CPU us/call, min':>17} {'us/call':>22} {'extra CPU us':>22}")
    for r in result["draws"]:
        lines.append(
            f"{r['batch_size']:<24} {r['impl']:44} {r['cpu_us']['min']:17.1f} "
            f"{timing.fmt(r['us'], ''):>22} "
            f"{timing.fmt(r['extra_cpu_us'], ''):>22}")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    t0 = time.perf_counter()
    res = run(quick="--quick" in sys.argv)
    print(table(res))
    print(f"({time.perf_counter() - t0:.0f} s)")
    if "--json" in sys.argv:
        import json

        with open(sys.argv[sys.argv.index("--json") + 1], "w") as f:
            json.dump(res, f, indent=1)
