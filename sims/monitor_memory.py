"""Monitors stay flat on long runs: peak RSS of an idle EMBER-sized network run for H simulated hours
with a bounded ``PopulationRate`` and a ``GroupCounts`` (one group per 200-neuron assembly, 1 s bins)
attached, next to the same run without monitors. Each run is its own process (peak RSS is per
process); prints one JSON object.

    python -m sims.monitor_memory [--N 220000] [--hours 1] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _one(N: int, hours: float, threads: int, monitors: bool) -> dict:
    import numpy as np

    from spiking import LIF, GroupCounts, Network, Population, PopulationRate, Simulator

    net = Network(populations=(Population("idle", N, LIF()),), dt_ms=1.0, seed=1)
    sim = Simulator(net, backend="numba", threads=threads)
    sim.run(100.0, progress=False)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if monitors:
        rate = sim.add_monitor(PopulationRate("idle"))
        groups = {f"assembly{j}": np.arange(j * 200, (j + 1) * 200) for j in range(N // 200)}
        gc = sim.add_monitor(GroupCounts("idle", groups, bin_ms=1000.0))
    t0 = time.perf_counter()
    sim.run(hours * 3600e3, progress=False, chunk_ms=10_000.0)
    wall = time.perf_counter() - t0
    out = {"monitors": monitors, "wall_s": wall, "rss_after_build_mb": rss0,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if monitors:
        out["rate_bins_held"] = int(rate.counts.size)
        out["group_bins_held"] = int(gc.counts.shape[0])
        out["groups"] = len(groups)
        out["mean_rate_hz"] = float(rate.rate_hz()[1].mean())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sims.monitor_memory", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--N", type=int, default=220_000)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", choices=["with", "without"], help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.N < 200 or a.hours <= 0:
        ap.error("need N >= 200 and hours > 0")
    if a.one:
        print(json.dumps(_one(a.N, a.hours, a.threads, a.one == "with")))
        return 0
    runs = {}
    for which in ("without", "with"):
        cmd = [sys.executable, "-m", "sims.monitor_memory", "--N", str(a.N), "--hours", str(a.hours),
               "--threads", str(a.threads), "--one", which]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        runs[which] = json.loads(res.stdout.strip().splitlines()[-1])
    diff = runs["with"]["peak_rss_mb"] - runs["without"]["peak_rss_mb"]
    print(json.dumps({"N": a.N, "simulated_hours": a.hours, "peak_rss_without_mb": runs["without"]["peak_rss_mb"],
                      "peak_rss_with_mb": runs["with"]["peak_rss_mb"], "difference_mb": diff,
                      "limit_mb": 50.0, "pass": diff <= 50.0, "runs": runs}))
    return 0 if diff <= 50.0 else 1


if __name__ == "__main__":
    sys.exit(main())
