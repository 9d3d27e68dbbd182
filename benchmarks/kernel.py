"""1. The kernel against the physical limit.

The time to mix one batch (lam * x + (1 - lam) * x[perm], and its labels)
divided by the time of a plain memory copy moving the same bytes: mixing
reads x and x[perm] and writes the result, three batches of memory traffic,
which a copy of 1.5 batches (read 1.5, write 1.5) also moves. The copy is
`numpy.copyto` into a preallocated buffer: one thread, no allocation, no page
faults; the least any implementation can do.

Candidates, on the running Keras backend:

- plain: the bare formula with lam and perm given (no sampling, no checks),
  the reference for what a compiler makes of the arithmetic;
- keras_mixup.MixUp: our layer on (x, y), sampling lam (log-space Beta) and
  the permutation inside the compiled function;
- keras.layers.MixUp: the peer on {"images", "labels"}, where it accepts the
  input (rank-4 images; it always draws one lam per example);
- on images, keras_mixup.CutMix and keras_mixup.MixUpOrCutMix (per batch and
  per example) beside keras.layers.CutMix (one box per example);
- on TensorFlow also the tf.data forms (a map over a repeated in-memory
  batch, per element pulled), with an identity map as the control.

Labels are one-hot float32 (10 classes) everywhere, as the peer requires.
"""

import os
import time

import numpy as np

from benchmarks import timing

NUM_CLASSES = 10

# name, batch shape, rounds, calls per round
FULL_SHAPES = [
    ("cifar", (128, 32, 32, 3), 30, 20),
    ("imagenet", (128, 224, 224, 3), 12, 2),
    ("tabular", (1024, 64), 30, 50),
]
QUICK_SHAPES = [("cifar", (8, 8, 8, 3), 2, 1)]
FLOOR = "dispatch floor: compiled call doing ~nothing"
FLOOR_XLA = "dispatch floor, XLA"
TF_DATA_CONTROL = "identity map, tf.data (control)"


def _limit_fn(shape):
    """A copy of 1.5 batches into a preallocated buffer (3 batches of memory
    traffic), and the batch's size in bytes.

    `numpy.copyto` on one thread, or split over every core (numpy releases
    the GIL while copying), whichever is faster here: compiled mixing runs
    on several threads too, and the limit must be one that no
    implementation can beat.
    """
    import concurrent.futures

    n = int(np.prod(shape)) * 3 // 2
    src = np.random.default_rng(0).random(n, dtype=np.float32)
    dst = np.empty_like(src)
    workers = os.cpu_count() or 1

    def one_thread():
        np.copyto(dst, src)

    if workers == 1:
        return one_thread, 4 * int(np.prod(shape))
    pool = concurrent.futures.ThreadPoolExecutor(workers)
    bounds = np.linspace(0, n, workers + 1).astype(int)
    parts = [(dst[a:b], src[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    def all_threads():
        for f in [pool.submit(np.copyto, d, s) for d, s in parts]:
            f.result()

    def best_of(fn):
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    fastest = min((one_thread, all_threads), key=best_of)
    return fastest, 4 * int(np.prod(shape))


def _data(shape, rng):
    x = rng.random(shape, dtype=np.float32)
    labels = rng.integers(0, NUM_CLASSES, shape[0])
    y = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    perm = rng.permutation(shape[0]).astype(np.int32)
    return x, y, perm


def _lam(shape, per_example, rng):
    if per_example:
        return rng.beta(1.0, 1.0, shape[0]).astype(np.float32)
    return np.float32(rng.beta(1.0, 1.0))


def _plain(ops_take, x, y, lam, perm):
    """lam * x + (1 - lam) * x[perm], and labels, for any array namespace."""

    def one(t):
        lam_t = lam
        if getattr(lam, "ndim", len(getattr(lam, "shape", ()))) == 1:
            lam_t = lam.reshape((-1,) + (1,) * (t.ndim - 1))
        return lam_t * t + (1.0 - lam_t) * ops_take(t, perm)

    return one(x), one(y)


# ----------------------------------------------------------------------------
# TensorFlow


def sequential_options():
    """tf.data options that make a map run when its element is pulled: no
    injected prefetch, no autotuned parallelism, no map parallelization.
    Otherwise tf.data computes elements ahead while other candidates are
    being timed, and pulling them looks free."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.inject_prefetch = False
    options.experimental_optimization.map_parallelization = False
    return options


def _tf_candidates(shape, per_example, rng):
    import keras
    import tensorflow as tf

    import keras_mixup

    x_np, y_np, perm_np = _data(shape, rng)
    x, y, perm = tf.constant(x_np), tf.constant(y_np), tf.constant(perm_np)
    lam = tf.constant(_lam(shape, per_example, rng))
    image = len(shape) == 4

    def plain(x, y, lam, perm):
        def one(t):
            lam_t = lam
            if lam.shape.rank == 1:
                lam_t = tf.reshape(lam, [-1] + [1] * (t.shape.rank - 1))
            return lam_t * t + (1.0 - lam_t) * tf.gather(t, perm)

        return one(x), one(y)

    ours = keras_mixup.MixUp(alpha=1.0, per_sample=per_example, seed=1)
    peer = keras.layers.MixUp(alpha=1.0, seed=1) if image else None

    def ours_fn(x, y):
        return ours((x, y), training=True)

    def peer_fn(x, y):
        out = peer({"images": x, "labels": y}, training=True)
        return out["images"], out["labels"]

    cands = {}
    floor = tf.function(lambda x, y: x[:1, :1] + y[:1, :1])
    cands[FLOOR] = lambda: floor(x, y)
    floor_xla = tf.function(lambda x, y: x[:1, :1] + y[:1, :1], jit_compile=True)
    cands[FLOOR_XLA] = lambda: floor_xla(x, y)
    for xla in (False, True):
        tag = "tf.function XLA" if xla else "tf.function"
        f = tf.function(plain, jit_compile=xla)
        cands[f"plain, {tag}"] = lambda f=f: f(x, y, lam, perm)
        g = tf.function(ours_fn, jit_compile=xla)
        cands[f"keras_mixup.MixUp, {tag}"] = lambda g=g: g(x, y)
    if peer is not None and per_example:
        cands["keras.layers.MixUp, eager"] = lambda: peer_fn(x, y)
        for xla in (False, True):
            tag = "tf.function XLA" if xla else "tf.function"
            h = tf.function(peer_fn, jit_compile=xla)
            cands[f"keras.layers.MixUp, {tag}"] = lambda h=h: h(x, y)
    if image:
        for name, fn in _box_family_calls(per_example).items():
            for xla in (False, True):
                tag = "tf.function XLA" if xla else "tf.function"
                g = tf.function(fn, jit_compile=xla)
                cands[f"{name}, {tag}"] = lambda g=g: g(x, y)

    # tf.data: one element pulled per call from a repeated in-memory batch.
    def pipeline(fn):
        ds = tf.data.Dataset.from_tensors((x, y)).repeat().map(fn)
        it = iter(ds.with_options(sequential_options()))
        return lambda: next(it)

    cands[TF_DATA_CONTROL] = pipeline(lambda x, y: (x, y))

    def plain_map(x, y):
        n = tf.shape(x)[0]
        lam_ = tf.random.uniform([n] if per_example else [])
        return plain(x, y, lam_, tf.random.shuffle(tf.range(n)))

    cands["plain map, tf.data"] = pipeline(plain_map)
    cands["keras_mixup.mixup_map, tf.data"] = pipeline(
        keras_mixup.mixup_map(alpha=1.0, per_sample=per_example, seed=1)
    )
    if peer is not None and per_example:
        peer_map = keras.layers.MixUp(alpha=1.0, seed=1)
        ds = (
            tf.data.Dataset.from_tensors({"images": x, "labels": y})
            .repeat()
            .map(lambda d: peer_map(d, training=True))
            .with_options(sequential_options())
        )
        it = iter(ds)
        cands["keras.layers.MixUp, tf.data"] = lambda: next(it)
    return cands


# ----------------------------------------------------------------------------
# JAX


def _stateless(layer, fn):
    """A pure function (state, *args) -> (out, state) for jax.jit, mapping the
    layer's variables (alpha, seed state) the way Keras's trainer does."""
    import keras

    variables = list(layer.variables)

    def pure(state, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, state))) as s:
            out = fn(*args)
        new = [s.get_current_value(v) for v in variables]
        return out, [n if n is not None else o for n, o in zip(new, state)]

    import jax.numpy as jnp

    # Copies: the jitted step donates its state, which must not delete the
    # layer's own variables.
    return pure, [jnp.array(v.value, copy=True) for v in variables]


def _jax_candidates(shape, per_example, rng):
    import jax
    import jax.numpy as jnp
    import keras

    import keras_mixup

    x_np, y_np, perm_np = _data(shape, rng)
    x, y, perm = jnp.asarray(x_np), jnp.asarray(y_np), jnp.asarray(perm_np)
    lam = jnp.asarray(_lam(shape, per_example, rng))
    image = len(shape) == 4

    def plain(x, y, lam, perm):
        return _plain(lambda t, p: jnp.take(t, p, axis=0), x, y, lam, perm)

    cands = {}
    floor = jax.jit(lambda x, y: x[:1, :1] + y[:1, :1])
    cands[FLOOR] = lambda: jax.block_until_ready(floor(x, y))
    f = jax.jit(plain)
    cands["plain, jax.jit"] = lambda: jax.block_until_ready(f(x, y, lam, perm))

    # Buffer donation: the output reuses the input's pages (chained: each
    # call mixes the previous result, as a pipeline mixes a fresh batch
    # whose buffer is dead afterwards).
    fd = jax.jit(plain, donate_argnums=(0, 1))
    chain = [x + 0, y + 0]

    def donated():
        chain[0], chain[1] = fd(chain[0], chain[1], lam, perm)
        jax.block_until_ready(chain[0])

    cands["plain, jax.jit donated"] = donated

    def layer_candidate(layer, call, donate):
        pure, state = _stateless(layer, call)
        step = jax.jit(
            lambda state, x, y: pure(state, x, y),
            donate_argnums=(0, 1, 2) if donate else (0,),
        )
        box = [state, x + 0, y + 0]  # copies: donation deletes its inputs

        def run():
            if donate:
                (box[1], box[2]), box[0] = step(box[0], box[1], box[2])
                jax.block_until_ready(box[1])
            else:
                out, box[0] = step(box[0], x, y)
                jax.block_until_ready(out)

        return run

    ours = keras_mixup.MixUp(alpha=1.0, per_sample=per_example, seed=1)

    def ours_call(x, y):
        return ours((x, y), training=True)

    cands["keras_mixup.MixUp, jax.jit"] = layer_candidate(ours, ours_call, False)
    cands["keras_mixup.MixUp, jax.jit donated"] = layer_candidate(
        ours, ours_call, True
    )
    if image and per_example:
        peer = keras.layers.MixUp(alpha=1.0, seed=1)

        def peer_call(x, y):
            out = peer({"images": x, "labels": y}, training=True)
            return out["images"], out["labels"]

        cands["keras.layers.MixUp, eager"] = lambda: jax.block_until_ready(
            peer_call(x, y)
        )
        cands["keras.layers.MixUp, jax.jit"] = layer_candidate(
            peer, peer_call, False
        )
    if image:
        for name, fn in _box_family_calls(per_example).items():
            cands[f"{name}, jax.jit"] = layer_candidate(fn.layer, fn, False)
    return cands


def _box_family_calls(per_example):
    """CutMix and the mixup/CutMix switch (ours) and keras.layers.CutMix
    (the peer; always one box per example, so only beside per-example
    rows): name -> fn(x, y) -> (x, y), each with its layer as `fn.layer`."""
    import keras

    import keras_mixup

    def on_tuple(layer):
        def fn(x, y):
            return layer((x, y), training=True)

        fn.layer = layer
        return fn

    calls = {
        "keras_mixup.CutMix": on_tuple(
            keras_mixup.CutMix(1.0, per_sample=per_example, seed=1)),
        "keras_mixup.MixUpOrCutMix": on_tuple(
            keras_mixup.MixUpOrCutMix(per_sample=per_example, seed=1)),
    }
    if per_example:
        peer = keras.layers.CutMix(seed=1)

        def peer_fn(x, y):
            out = peer({"images": x, "labels": y}, training=True)
            return out["images"], out["labels"]

        peer_fn.layer = peer
        calls["keras.layers.CutMix"] = peer_fn
    return calls


# ----------------------------------------------------------------------------


def _check(cands):
    """Warm each candidate up once; a candidate that fails becomes a row
    with the error (e.g. an op that XLA cannot compile)."""
    ok, failed = {}, {}
    for name, fn in cands.items():
        try:
            fn()
            ok[name] = fn
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            failed[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return ok, failed


def run(quick=False):
    import keras

    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    rows = []
    for batch, shape, rounds, number in QUICK_SHAPES if quick else FULL_SHAPES:
        limit, nbytes = _limit_fn(shape)
        for per_example in (False, True):
            if backend == "tensorflow":
                cands = _tf_candidates(shape, per_example, rng)
            elif backend == "jax":
                cands = _jax_candidates(shape, per_example, rng)
            else:
                raise ValueError(f"no kernel benchmark for backend {backend}")
            cands, failed = _check(cands)
            cands = {"limit: memcpy of 3 batches' traffic": limit, **cands}
            res = timing.compare(
                cands,
                "limit: memcpy of 3 batches' traffic",
                rounds=rounds,
                number=number,
                warmup=0 if quick else 3,  # _check ran each once
            )
            lam_mode = "per example" if per_example else "per batch"
            limit_res = res["limit: memcpy of 3 batches' traffic"]
            limit_ms = limit_res["ms"]
            floor_wall = res[FLOOR]["wall_s"] if FLOOR in res else None
            floor_xla_wall = res.get(FLOOR_XLA, {}).get("wall_s")
            for name, r in res.items():
                if name.startswith("limit"):
                    continue
                # Net of the fixed cost of a call: the dispatch floor for
                # compiled calls, the identity map for tf.data elements.
                ref = floor_wall
                if "XLA" in name and floor_xla_wall:
                    ref = floor_xla_wall
                if "tf.data" in name:
                    ref = res.get(TF_DATA_CONTROL, {}).get("wall_s")
                net = None
                if ref and name not in (FLOOR, FLOOR_XLA, TF_DATA_CONTROL):
                    net = timing.summary([
                        (w - f) / b for w, f, b in
                        zip(r["wall_s"], ref, limit_res["wall_s"])
                    ])
                rows.append({
                    "backend": backend, "batch": batch, "shape": list(shape),
                    "batch_bytes": nbytes, "lam": lam_mode, "impl": name,
                    "limit_ms": limit_ms, "ms": r["ms"], "ratio": r["ratio"],
                    "ratio_net_of_dispatch": net, "status": "ok",
                })
            for name, err in failed.items():
                rows.append({
                    "backend": backend, "batch": batch, "shape": list(shape),
                    "batch_bytes": nbytes, "lam": lam_mode, "impl": name,
                    "limit_ms": limit_ms, "ms": None, "ratio": None,
                    "ratio_net_of_dispatch": None, "status": f"fails: {err}",
                })
    return {"backend": backend, "rows": rows}


def table(result):
    lines = [
        f"Kernel ({result['backend']}): time to mix one batch / memcpy limit, "
        "median (min-max) over rounds",
        f"{'batch':9} {'lam':12} {'limit ms':>9}  {'implementation':44} "
        f"{'ratio':>24} {'net of dispatch':>24}",
    ]
    for r in result["rows"]:
        if r["status"] != "ok":
            lines.append(f"{r['batch']:9} {r['lam']:12} "
                         f"{r['limit_ms']['median']:9.3f}  {r['impl']:44} "
                         f"{r['status'][:80]}")
            continue
        net = r.get("ratio_net_of_dispatch")
        lines.append(
            f"{r['batch']:9} {r['lam']:12} {r['limit_ms']['median']:9.3f}  "
            f"{r['impl']:44} {timing.fmt(r['ratio']):>24} "
            f"{timing.fmt(net) if net else '':>24}"
        )
    return "\n".join(lines)
