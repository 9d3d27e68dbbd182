"""Run the benchmarks: `python -m benchmarks [--quick] [--only ...] [--out DIR]`.

Each backend runs in its own process (Keras picks its backend once per
process): this command spawns one worker per backend with KERAS_BACKEND
set, each writes its JSON, and the results are merged into one file, a
table is printed and the targets are checked. See benchmarks/README.md.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

SUITES = ("kernel", "pipeline", "step", "memory", "ablation")
BACKENDS = ("tensorflow", "jax")
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
LATEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "latest.json")


def _module(suite):
    from benchmarks import ablation, kernel, memory, pipeline, train_step

    return {"kernel": kernel, "pipeline": pipeline, "step": train_step,
            "memory": memory, "ablation": ablation}[suite]


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}
    try:
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    return info


def versions():
    out = {}
    for name in ("keras", "tensorflow", "jax", "numpy"):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001
            out[name] = None
    return out


def worker(args):
    """Run the suites on this process's backend; write JSON to args.json."""
    import warnings

    warnings.filterwarnings("ignore")
    import keras

    result = {"backend": keras.backend.backend(), "versions": versions(),
              "load_average_start": machine().get("load_average")}
    models = args.models.split(",") if args.models else None
    for suite in args.only.split(","):
        t0 = time.perf_counter()
        module = _module(suite)
        kwargs = {"quick": args.quick}
        if suite in ("step", "memory") and models:
            kwargs["models"] = models
        res = module.run(**kwargs)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        result[suite] = res
        print(module.table(res), flush=True)
        print(f"({suite}: {res['seconds']} s)\n", flush=True)
    result["load_average_end"] = machine().get("load_average")
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)


# ----------------------------------------------------------------------------
# Targets (see benchmarks/README.md).


def _median(stat):
    return None if not stat else stat.get("median")


def targets(results):
    """A list of {"target", "backend", "value", "met"} checks."""
    checks = []
    for backend, res in results.items():
        for r in res.get("kernel", {}).get("rows", []):
            if r["status"] != "ok" or not r["impl"].startswith("keras_mixup"):
                continue
            if "tf.data" in r["impl"]:
                continue
            value = _median(r["ratio"])
            checks.append({
                "target": f"kernel <= 2x limit: {r['impl']}, {r['batch']}, "
                          f"lam {r['lam']}",
                "backend": backend, "value": value,
                "met": value is not None and value <= 2.0,
            })
        rows = {r["pipeline"]: r for r in res.get("pipeline", {}).get("rows", [])}
        ours = rows.get("keras_mixup.mixup_map")
        peer = rows.get("keras.layers.MixUp (dict form)")
        if ours:
            value = _median(ours["throughput_ratio"])
            checks.append({
                "target": "pipeline: mixup_map throughput >= 0.8 of no-mix",
                "backend": backend, "value": value,
                "met": value is not None and value >= 0.8,
            })
        if ours and peer:
            a = _median(ours["extra_cpu_ms_per_batch"])
            b = _median(peer["extra_cpu_ms_per_batch"])
            checks.append({
                "target": "pipeline: mixup_map extra CPU/batch < "
                          "keras.layers.MixUp's (ms)",
                "backend": backend, "value": [a, b],
                "met": a is not None and b is not None and a < b,
            })
        for r in res.get("step", {}).get("rows", []):
            if r["status"] != "ok" or r["mode"] == "ERM":
                continue
            value = _median(r["ratio_to_erm"])
            checks.append({
                "target": f"step <= 1.02x ERM: {r['model']}, {r['mode']}",
                "backend": backend, "value": value,
                "met": value is not None and value <= 1.02,
            })
        for r in res.get("memory", {}).get("rows", []):
            if r["status"] != "ok" or r["mode"] == "ERM" or "control" in r["mode"]:
                continue
            value = r.get("extra_batches_vs_erm")
            checks.append({
                "target": f"memory <= 1 extra batch: {r['model']}, {r['mode']}",
                "backend": backend, "value": value,
                "met": value is not None and value <= 1.0,
            })
    return checks


def targets_table(checks):
    lines = ["Targets"]
    for c in checks:
        value = c["value"]
        if isinstance(value, float):
            value = f"{value:.3g}"
        lines.append(f"  [{'met' if c['met'] else 'MISSED'}] {c['backend']:10} "
                     f"{c['target']}: {value}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and few repetitions (seconds): a smoke "
                             "test, not a measurement")
    parser.add_argument("--only", default=",".join(SUITES),
                        help=f"comma-separated suites among {','.join(SUITES)}")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated Keras backends, one process each")
    parser.add_argument("--models", default=None,
                        help="models for step/memory: small_cnn,preact_resnet18")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--save-latest", action="store_true",
                        help=f"also write the merged JSON to {LATEST}")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for suite in args.only.split(","):
        if suite not in SUITES:
            parser.error(f"--only: unknown suite {suite!r}; choose from {SUITES}")
    if args.worker:
        worker(args)
        return 0

    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    merged = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": args.quick,
        "command": " ".join(["python -m benchmarks"] + (argv or sys.argv[1:])),
        "results": {},
    }
    failures = []
    for backend in args.backends.split(","):
        path = os.path.join(args.out, f"{stamp}-{backend}.json")
        cmd = [sys.executable, "-m", "benchmarks", "--worker", "--json", path,
               "--only", args.only]
        if args.quick:
            cmd.append("--quick")
        if args.models:
            cmd += ["--models", args.models]
        env = dict(os.environ, KERAS_BACKEND=backend,
                   TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
        print(f"=== KERAS_BACKEND={backend}", flush=True)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        proc = subprocess.run(cmd, env=env, cwd=root)
        if proc.returncode != 0 or not os.path.exists(path):
            failures.append(backend)
            continue
        with open(path) as f:
            merged["results"][backend] = json.load(f)
    merged["targets"] = targets(merged["results"])
    print(targets_table(merged["targets"]))
    out = os.path.join(args.out, f"{stamp}.json")
    with open(out, "w") as f:
        json.dump(merged, f, indent=1)
    print(f"\nresults: {out}")
    if args.save_latest:
        with open(LATEST, "w") as f:
            json.dump(merged, f, indent=1)
        print(f"latest: {LATEST}")
    if failures:
        print(f"worker failed for: {failures}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
