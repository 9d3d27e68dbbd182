"""Markdown tables of a results JSON: `python -m benchmarks.report FILE`.

Used to write the results section of benchmarks/README.md from
benchmarks/latest.json.
"""

import json
import sys


def _fmt(stat, unit="x", digits=3):
    if not stat or stat.get("median") is None:
        return "n/a"
    f = f"{{:.{digits}g}}"
    return (f"{f.format(stat['median'])}{unit} "
            f"({f.format(stat['min'])}-{f.format(stat['max'])})")


def kernel(results):
    lines = [
        "| backend | batch | lam | implementation | limit ms | ratio | net of dispatch |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, res in results.items():
        for r in res.get("kernel", {}).get("rows", []):
            if r["impl"].startswith("dispatch floor"):
                ratio = _fmt(r["ratio"])
                net = ""
            elif r["status"] != "ok":
                ratio, net = "fails under XLA (StatelessRandomGammaV3)" \
                    if "Gamma" in r["status"] or "unsupported" in r["status"] \
                    else r["status"][:60], ""
            else:
                ratio = _fmt(r["ratio"])
                net = _fmt(r.get("ratio_net_of_dispatch"))
            lines.append(
                f"| {backend} | {r['batch']} | {r['lam']} | {r['impl']} | "
                f"{r['limit_ms']['median']:.3g} | {ratio} | {net} |"
            )
    return "\n".join(lines)


def pipeline(results):
    lines = [
        "| process | pipeline | batches/s | throughput vs no map | extra CPU ms/batch |",
        "|---|---|---|---|---|",
    ]
    for backend, res in results.items():
        for r in res.get("pipeline", {}).get("rows", []):
            lines.append(
                f"| {backend} | {r['pipeline']} | "
                f"{_fmt(r['batches_per_s'], '', 4)} | "
                f"{_fmt(r['throughput_ratio'])} | "
                f"{_fmt(r['extra_cpu_ms_per_batch'], '', 2)} |"
            )
    return "\n".join(lines)


def step(results):
    lines = [
        "| backend | model (batch) | mode | ms/step | ratio to ERM | CPU ratio |",
        "|---|---|---|---|---|---|",
    ]
    for backend, res in results.items():
        for r in res.get("step", {}).get("rows", []):
            if r["status"] != "ok":
                lines.append(f"| {backend} | {r['model']} | {r['mode']} | "
                             f"{r['status']} | | |")
                continue
            lines.append(
                f"| {backend} | {r['model']} ({r['batch_size']}) | {r['mode']} | "
                f"{_fmt(r['ms_per_step'], '', 4)} | {_fmt(r['ratio_to_erm'])} | "
                f"{_fmt(r['cpu_ratio_to_erm'])} |"
            )
    return "\n".join(lines)


def memory(results):
    lines = [
        "| backend | model (batch) | mode | peak MB | extra vs ERM, MB | in batches |",
        "|---|---|---|---|---|---|",
    ]
    for backend, res in results.items():
        for r in res.get("memory", {}).get("rows", []):
            if r["status"] != "ok":
                lines.append(f"| {backend} | {r['model']} | {r['mode']} | "
                             f"{r['status']} | | |")
                continue
            peak = {k: (v / 1e6 if isinstance(v, (int, float)) and k != "n" else v)
                    for k, v in r["peak_bytes"].items()}
            extra = r.get("extra_bytes_vs_erm")
            lines.append(
                f"| {backend} | {r['model']} ({r['batch_size']}) | {r['mode']} | "
                f"{_fmt(peak, '', 4)} | "
                f"{'' if extra is None else f'{extra / 1e6:+.3f}'} | "
                f"{r.get('extra_batches_vs_erm', ''):+} |"
            )
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as f:
        data = json.load(f)
    m = data["machine"]
    print(f"Measured {data['date']} on {m['cpu']} ({m['cores']} cores), "
          f"load average at start {m.get('load_average')}; "
          f"{', '.join(f'{k} {v}' for k, v in next(iter(data['results'].values()))['versions'].items())}.\n")
    results = data["results"]
    for title, fn in (("Kernel", kernel), ("Pipeline", pipeline),
                      ("Training step", step), ("Memory", memory)):
        print(f"### {title}\n\n{fn(results)}\n")
    print("### Targets\n")
    for c in data.get("targets", []):
        print(f"- [{'met' if c['met'] else 'missed'}] {c['backend']}: "
              f"{c['target']}: {c['value']}")


if __name__ == "__main__":
    main()
