"""What a sweep costs beyond its runs: N trivial runs (the ``probe`` experiment) through Ray and in-process.

    ember sweep-bench [--runs 20] [--max-concurrent 2] [--json]

In-process: ``run_one`` N times in this process (the manifest, result and git calls of a recorded
run). Through Ray: the same N runs as a sweep on a new local Ray instance, each in its own fresh
worker process, as ``ember sweep`` runs them; the start and stop of the Ray instance is timed
apart. Prints the per-run cost of each in ms.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class SweepBenchConfig:
    runs: int = 20
    max_concurrent: int = 2

    def __post_init__(self):
        if self.runs < 1 or self.max_concurrent < 1:
            raise ValueError("sweep-bench needs runs >= 1 and max_concurrent >= 1")


def run(config: SweepBenchConfig, seed: int = 0) -> dict:
    from sims import experiments as X
    from sims import sweep as S
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        exp = X.get("probe")
        t0 = time.perf_counter()
        for i in range(config.runs):
            cfg = X.make_config(exp, {"x": float(i)})
            X.run_one("probe", cfg, seed, os.path.join(tmp, "inproc", X.run_id("probe", cfg, seed)))
        inproc = (time.perf_counter() - t0) / config.runs
        t0 = time.perf_counter()
        ray = S._connect(None, config.max_concurrent)
        ray.shutdown()
        ray_start_stop = time.perf_counter() - t0
        spec = {"experiment": "probe", "seeds": [seed], "grid": {"x": [float(i) for i in range(config.runs)]}}
        t0 = time.perf_counter()
        res = S.execute(spec, os.path.join(tmp, "ray"), max_concurrent=config.max_concurrent, progress=False)
        wall = time.perf_counter() - t0
    return {"runs": config.runs, "max_concurrent": config.max_concurrent, "cpus": os.cpu_count(),
            "in_process_ms_per_run": inproc * 1e3, "ray_ms_per_run": (wall - ray_start_stop) / config.runs * 1e3,
            "ray_ms_per_run_incl_start": wall / config.runs * 1e3, "ray_start_stop_s": ray_start_stop,
            "ray_wall_s": wall, "failed": res["failed"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="ember sweep-bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--max-concurrent", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        cfg = SweepBenchConfig(runs=a.runs, max_concurrent=a.max_concurrent)
        out = run(cfg)
    except ValueError as e:
        print(f"ember sweep-bench: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out) if a.json else
          f"{out['runs']} trivial runs: {out['in_process_ms_per_run']:.1f} ms each in-process, "
          f"{out['ray_ms_per_run']:.0f} ms each through Ray ({a.max_concurrent} at a time; Ray's own start and "
          f"stop {out['ray_start_stop_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
