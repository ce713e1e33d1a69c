"""Parameter sweeps on Ray: a grid (and random samples) over an experiment's config keys, crossed with seeds.

    ember sweep SPEC.toml [--out DIR] [--address auto|ray://HOST:PORT] [--max-concurrent N] [--dry-run]

SPEC.toml:

    experiment = "anchor"          # a name from `ember run --list`
    seeds = [1, 2, 3]
    [base]                         # config values every run shares
    N = 2000
    [grid]                         # every combination of these lists
    dt = [0.5, 1.0]
    [random]                       # optional: `samples` draws, uniform in [lo, hi] (ints stay ints;
    samples = 4                    #   "log" as a third entry draws log-uniformly)
    K = [50, 200]
    plot = ["rate_all_hz", "rtf"]  # optional: the result keys to plot (default: the first four)

Each run is one Ray task in a fresh worker process (``max_calls=1``: its peak RSS and numba's
threads are its own), declaring the experiment's CPU need. Without ``--address`` a local Ray is
started on this machine; with one, the sweep joins that cluster (every node needs this project
installed, see docs/sweeps.md). Runs land in ``DIR/runs/<run-id>/`` (``ember run``'s layout, the
same id for the same config and seed), so a sweep is resumable: complete runs are skipped and a
finished sweep re-runs nothing. A run that raises is recorded as failed and the sweep goes on; a run
whose worker dies is retried by Ray (twice). At the end: ``DIR/table.csv`` and ``DIR/table.md``
(mean and 95 % interval across seeds of every numeric result key) and a plot per swept key.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import sys
import time

import numpy as np

from sims import experiments as X

RETRIES = 2            # a lost worker's run is tried again this many times


class SweepError(ValueError):
    pass


def load_spec(path: str) -> dict:
    spec = X.load_toml(path)
    for k in spec:
        if k not in ("experiment", "seeds", "base", "grid", "random", "plot", "sample_seed"):
            raise SweepError(f"{path}: unknown top-level key {k!r} (experiment, seeds, base, grid, random, plot, "
                             "sample_seed)")
    if "experiment" not in spec:
        raise SweepError(f"{path}: no experiment = \"NAME\"")
    seeds = spec.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise SweepError(f"{path}: seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    for table in ("base", "grid", "random"):
        if not isinstance(spec.get(table, {}), dict):
            raise SweepError(f"{path}: [{table}] must be a table")
    if "grid" in spec and not spec["grid"]:
        raise SweepError(f"{path}: [grid] is empty: give each swept key a list of values, or leave the table out")
    for k, v in spec.get("grid", {}).items():
        if not isinstance(v, list) or not v:
            raise SweepError(f"{path}: grid key {k!r} needs a non-empty list of values, got {v!r}")
    rnd = dict(spec.get("random", {}))
    if rnd:
        n = rnd.pop("samples", None)
        if not isinstance(n, int) or n < 1:
            raise SweepError(f"{path}: [random] needs samples = N (an integer >= 1)")
        for k, v in rnd.items():
            if not (isinstance(v, list) and len(v) in (2, 3) and all(isinstance(x, (int, float)) for x in v[:2])
                    and v[0] < v[1] and (len(v) == 2 or v[2] == "log") and (len(v) == 2 or v[0] > 0)):
                raise SweepError(f"{path}: random key {k!r} needs [lo, hi] with lo < hi, or [lo, hi, \"log\"] "
                                 f"with 0 < lo, got {v!r}")
    if not spec.get("grid") and not rnd and not spec.get("base") and len(seeds) < 2:
        raise SweepError(f"{path}: nothing to sweep: give a [grid], [random] or more than one seed")
    return spec


def points(spec: dict) -> list[dict]:
    """The swept values of every point: the grid's product, crossed with the random draws."""
    grid = spec.get("grid", {})
    keys = list(grid)
    combos = [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))] or [{}]
    rnd = dict(spec.get("random", {}))
    if rnd:
        n = rnd.pop("samples")
        g = np.random.default_rng(int(spec.get("sample_seed", 0)))
        draws = []
        for _ in range(n):
            d = {}
            for k, v in rnd.items():
                lo, hi = v[0], v[1]
                x = math.exp(g.uniform(math.log(lo), math.log(hi))) if len(v) == 3 else g.uniform(lo, hi)
                d[k] = int(round(x)) if isinstance(lo, int) and isinstance(hi, int) else float(x)
            draws.append(d)
        combos = [{**c, **d} for c in combos for d in draws]
    return combos


def plan(spec: dict, out: str) -> list[dict]:
    """Every run of the sweep (config checked, run directory named) before any of them starts."""
    exp = X.get(spec["experiment"])
    runs = []
    for pt in points(spec):
        values = {**spec.get("base", {}), **pt}
        config = X.make_config(exp, values, origin="sweep spec")
        for seed in spec.get("seeds", [0]):
            rd = os.path.join(out, "runs", X.run_id(exp.name, config, seed))
            runs.append({"point": pt, "config": config, "seed": seed, "run_dir": rd})
    return runs


def _task_body(name, config, seed, run_dir):
    from sims import experiments
    return experiments.run_one(name, config, seed, run_dir)


def _reachable(address: str) -> None:
    """A ray://HOST:PORT or HOST:PORT address must accept a TCP connection within 5 s (Ray's own
    client would retry for minutes before it says so)."""
    import socket
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"--address must be auto, ray://HOST:PORT or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5.0).close()
    except OSError as e:
        raise SweepError(f"cannot reach the Ray cluster at {address}: {e.strerror or e}") from None


def _connect(address: str | None, max_concurrent: int, cpus: int = 1):
    try:
        import ray
    except ImportError:
        raise SweepError("ember sweep needs Ray: pip install -e '.[sweep]' (or pip install 'ray==2.60.0')") from None
    if address and address != "auto":
        _reachable(address)
    try:
        if address:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        else:
            # room for max_concurrent runs of the experiment's declared CPUs (the runs' own threads
            # are their configs'; Ray only books them)
            ray.init(num_cpus=max(1, max_concurrent) * cpus, include_dashboard=False, logging_level="ERROR",
                     log_to_driver=False)
    except Exception as e:
        raise SweepError(f"cannot reach the Ray cluster at {address or 'a new local instance'}: "
                         f"{type(e).__name__}: {e}") from None
    have = max((n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
    if have < cpus:
        ray.shutdown()
        raise SweepError(f"no node of the Ray cluster has the {cpus} CPUs one run of this experiment declares "
                         f"(the largest has {have:g})")
    return ray


def execute(spec: dict, out: str, address: str | None = None, max_concurrent: int = 2, progress: bool = True,
            say=print) -> dict:
    """Run what is not complete yet; returns counts ({"runs", "ran", "skipped", "failed"}) and what
    ``summarise`` wrote (table paths, plots, points)."""
    exp = X.get(spec["experiment"])
    out = os.path.abspath(out)           # the workers may not share the driver's working directory
    runs = plan(spec, out)
    todo = [r for r in runs if not X.is_complete(r["run_dir"])]
    skipped = len(runs) - len(todo)
    failed = []
    if todo:
        ray = _connect(address, max_concurrent, exp.cpus)
        try:
            task = ray.remote(max_calls=1, max_retries=RETRIES, num_cpus=exp.cpus)(_task_body)
            pending, running = list(todo), {}
            done = 0
            t0 = time.time()
            bar = _bar(len(todo), progress)
            while pending or running:
                while pending and len(running) < max_concurrent:
                    r = pending.pop(0)
                    running[task.remote(exp.name, r["config"], r["seed"], r["run_dir"])] = r
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    r = running.pop(ref)
                    try:
                        m = ray.get(ref)
                    except Exception as e:       # the worker died RETRIES + 1 times
                        m = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
                        X.write_json(os.path.join(r["run_dir"], "manifest.json"),
                                     {"experiment": exp.name, "config": X.config_dict(r["config"]), "seed": r["seed"],
                                      "run_id": os.path.basename(r["run_dir"]), **m})
                    if m.get("status") != "complete":
                        failed.append({"run_dir": r["run_dir"], "error": m.get("error")})
                    done += 1
                    eta = (time.time() - t0) / done * (len(todo) - done)
                    bar.update(1)
                    bar.set_postfix_str(f"running {len(running)}, failed {len(failed)}, ~{eta:.0f} s left")
            bar.close()
        finally:
            ray.shutdown()
    table = summarise(spec, runs, out)
    for f in failed:
        say(f"ember sweep: failed: {f['run_dir']}: {f['error']}")
    return {"runs": len(runs), "ran": len(todo), "skipped": skipped, "failed": len(failed), **table}


def _bar(total, progress):
    from tqdm import tqdm
    return tqdm(total=total, desc="sweep", unit="run", disable=not progress, file=sys.stderr)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, bool):
            out[key] = float(v)
        elif isinstance(v, (int, float)) and math.isfinite(v):
            out[key] = float(v)
    return out


# two-sided 95 % Student t quantiles by degrees of freedom (1..30); 1.96 beyond
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def interval(xs) -> tuple[float, float]:
    """(mean, half-width of the 95 % t interval across seeds; NaN for one seed)."""
    xs = np.asarray(xs, float)
    if xs.size < 2:
        return float(xs.mean()), float("nan")
    t = _T95[xs.size - 2] if xs.size - 1 <= len(_T95) else 1.96
    return float(xs.mean()), float(t * xs.std(ddof=1) / math.sqrt(xs.size))


def summarise(spec: dict, runs: list[dict], out: str) -> dict:
    """table.csv / table.md (one row per point: mean and 95 % interval of each numeric result key) and
    a plot per swept key; from the run directories, so a table always matches the manifests."""
    swept = list(spec.get("grid", {})) + [k for k in spec.get("random", {}) if k != "samples"]
    rows: dict[str, dict] = {}
    for r in runs:
        if not X.is_complete(r["run_dir"]):
            continue
        with open(os.path.join(r["run_dir"], "result.json"), encoding="utf-8") as f:
            res = _flatten(json.load(f))
        key = json.dumps(r["point"], sort_keys=True)
        row = rows.setdefault(key, {"point": r["point"], "seeds": [], "values": {}})
        row["seeds"].append(r["seed"])
        for k, v in res.items():
            row["values"].setdefault(k, []).append(v)
    keys = sorted({k for row in rows.values() for k in row["values"]})
    os.makedirs(out, exist_ok=True)
    csv_path, md_path = os.path.join(out, "table.csv"), os.path.join(out, "table.md")
    table = []
    for row in rows.values():
        line = {**row["point"], "n_seeds": len(row["seeds"])}
        for k in keys:
            if k in row["values"]:
                m, h = interval(row["values"][k])
                line[f"{k}_mean"], line[f"{k}_ci95"] = m, h
        table.append(line)
    cols = swept + ["n_seeds"] + [f"{k}_{s}" for k in keys for s in ("mean", "ci95")]
    tmp = csv_path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for line in table:
            w.writerow(line)
    os.replace(tmp, csv_path)
    with open(md_path + ".tmp", "w", encoding="utf-8") as f:
        f.write(f"# Sweep: {spec['experiment']}, seeds {spec.get('seeds', [0])}\n\n")
        f.write("| " + " | ".join(swept + ["seeds", "result key", "mean ± 95 % CI"]) + " |\n")
        f.write("|" + "---|" * (len(swept) + 3) + "\n")
        for line in table:
            for k in keys:
                if f"{k}_mean" in line:
                    h = line[f"{k}_ci95"]
                    f.write("| " + " | ".join([str(line.get(s, "")) for s in swept] + [str(line["n_seeds"]), k,
                                              f"{line[f'{k}_mean']:.4g}" + ("" if math.isnan(h) else f" ± {h:.2g}")])
                            + " |\n")
    os.replace(md_path + ".tmp", md_path)
    plots = _plots(spec, swept, table, keys, out) if table and swept else []
    return {"table_csv": csv_path, "table_md": md_path, "plots": plots, "points": len(table)}


def _plots(spec, swept, table, keys, out) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    exp = X.get(spec["experiment"])
    want = [k for k in spec.get("plot", []) if k in keys] or \
        [k for k in keys if k.split(".")[0] not in exp.volatile and not k.endswith("seed")][:4]
    paths = []
    for sk in swept:
        others = [o for o in swept if o != sk]
        fig, axes = plt.subplots(1, len(want), figsize=(4 * len(want), 3.2), squeeze=False)
        for ax, rk in zip(axes[0], want):
            groups: dict = {}
            for line in table:
                if f"{rk}_mean" in line:
                    groups.setdefault(tuple((o, line.get(o)) for o in others), []).append(line)
            for label, lines in sorted(groups.items(), key=lambda t: str(t[0])):
                lines = sorted(lines, key=lambda l: l[sk])
                x = [l[sk] for l in lines]
                y = [l[f"{rk}_mean"] for l in lines]
                e = [0.0 if math.isnan(l[f"{rk}_ci95"]) else l[f"{rk}_ci95"] for l in lines]
                ax.errorbar(x, y, yerr=e, marker="o", capsize=3,
                            label=", ".join(f"{o}={v}" for o, v in label) or None)
            ax.set_xlabel(sk)
            ax.set_title(rk, fontsize=9)
            if others:
                ax.legend(fontsize=7)
        fig.suptitle(f"{spec['experiment']}: mean ± 95 % CI over seeds {spec.get('seeds', [0])}", fontsize=9)
        fig.tight_layout()
        p = os.path.join(out, f"sweep_{sk}.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="ember sweep", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec", help="the sweep's TOML file")
    ap.add_argument("--out", default=None, help="sweep directory (default: sweeps/<spec name>)")
    ap.add_argument("--address", default=None, help="an existing Ray cluster: auto or ray://HOST:PORT")
    ap.add_argument("--max-concurrent", type=int, default=2, help="runs at a time (default %(default)s)")
    ap.add_argument("--dry-run", action="store_true", help="check the spec and list the runs, run nothing")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    a = ap.parse_args(argv)
    if a.max_concurrent < 1:
        ap.error("--max-concurrent must be >= 1")
    out = a.out or os.path.join("sweeps", os.path.splitext(os.path.basename(a.spec))[0])
    try:
        spec = load_spec(a.spec)
        runs = plan(spec, out)
        if a.dry_run:
            for r in runs:
                state = "complete" if X.is_complete(r["run_dir"]) else "to run"
                print(f"{r['run_dir']}  seed {r['seed']}  {json.dumps(r['point'])}  {state}")
            return 0
        res = execute(spec, out, address=a.address, max_concurrent=a.max_concurrent, progress=not a.json,
                      say=lambda s: print(s, file=sys.stderr))
    except (SweepError, X.ExperimentError) as e:
        print(f"ember sweep: {e}", file=sys.stderr)
        return 2
    print(json.dumps(res) if a.json else
          f"{res['runs']} runs: {res['ran']} ran, {res['skipped']} already complete, {res['failed']} failed; "
          f"table {res['table_md']}; plots {', '.join(res['plots']) or '-'}")
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
