"""Benchmark of the reservoir prediction suite (printed, never asserted).

    python -m sims.predict_bench [--N 1000] [--backends numpy numba] [--suite quick|full|none] [--json]

Per backend (the engine backend and the learning-rule kernel take the same name):
  * sim_trials_per_s: uncached trials simulated by the reservoir (pre 50 ms + 1000 ms trial, one cue
    and one stimulus), i.e. what the noisy variant costs per trial;
  * learn_trials_per_s: three-factor learning trials on cached trajectories (when online + what replay);
  * suite_wall_s: wall time of `python -m sims.predict --quick` (or the full suite) without figures,
    and suite_trials_per_s = learning trials run by the suite / its wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time


def bench_backend(backend: str, N: int, sim_trials: int, learn_trials: int, suite: str) -> dict:
    import numpy as np
    from agents.reservoir import LearnConfig, ReservoirConfig, factorial_task
    from agents.reservoir.learning import Features, Timing, run_three_factor
    from agents.reservoir.reservoir import Reservoir, TrajectoryCache
    out = {"backend": backend, "N": N}
    task = factorial_task((learn_trials, 1))
    cfg = ReservoirConfig(n_neurons=N)
    t0 = time.perf_counter()
    res = Reservoir(cfg, channels=tuple(c.name for c in task.cues) + task.identities, backend=backend,
                    clock_channels=tuple(c.name for c in task.cues))
    out["build_s"] = time.perf_counter() - t0
    res.run([("c1", 50.0), ("A", 350.0)], 100.0)      # warm (JIT cache load)
    t0 = time.perf_counter()
    for _ in range(sim_trials):
        res.run([("c1", 50.0), ("A", 350.0)], cfg.pre_ms + task.trial_ms)
    dt = time.perf_counter() - t0
    out["sim_trials_per_s"] = sim_trials / dt
    out["sim_ms_per_simulated_s"] = 1000.0 * dt / (sim_trials * (cfg.pre_ms + task.trial_ms) / 1000.0)
    cache = TrajectoryCache(res, task.trial_ms).fill(task.trajectory_keys())
    timing = Timing.make(task, cfg.pre_ms, cfg.sample_ms, 50.0)
    F = Features([cache.get((c.name, None, None)) for c in task.cues], timing.pre_rows, timing.trial_rows)
    Zs = {k: F.transform(t) for k, t in cache.store.items()}
    trials = task.sample_trials(np.random.default_rng(0))
    run_three_factor(task, trials[:5], Zs, timing, LearnConfig(), F.mean_sq_norm, backend)   # warm
    t0 = time.perf_counter()
    run_three_factor(task, trials, Zs, timing, LearnConfig(), F.mean_sq_norm, backend)
    out["learn_trials_per_s"] = len(trials) / (time.perf_counter() - t0)
    res.close()
    if suite != "none":
        from sims import predict
        with tempfile.TemporaryDirectory() as d:
            argv = ["--backend", backend, "--kernel", backend, "--no-figures", "--no-progress", "--out", d,
                    "--N", str(N)] + (["--quick"] if suite == "quick" else [])
            import contextlib
            import io
            buf = io.StringIO()
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(buf):
                predict.main(argv)
            wall = time.perf_counter() - t0
            with open(os.path.join(d, "summary.json")) as f:
                s = json.load(f)
        n_learn = 2 * sum(s["config"]["suite"]["block_trials"])
        if suite == "full":
            n_learn += 2 * sum(s["config"]["suite"]["block_trials"]) + s["config"]["suite"]["foreperiod_trials"]
            n_learn += s["config"]["suite"]["robustness_seeds"] * sum(s["config"]["suite"]["robustness_trials"])
        out["suite"] = suite
        out["suite_wall_s"] = wall
        out["suite_trials_per_s"] = n_learn / wall
        out["suite_timings"] = s["timings"]
        out["suite_checks_passed"] = sum(s["checks"].values())
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="predict_bench", description=__doc__.split("\n")[0])
    p.add_argument("--N", type=int, default=1000)
    p.add_argument("--backends", nargs="+", default=["numpy", "numba"], choices=["numpy", "numba"])
    p.add_argument("--sim-trials", type=int, default=10)
    p.add_argument("--learn-trials", type=int, default=300)
    p.add_argument("--suite", default="quick", choices=["quick", "full", "none"])
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    import platform
    res = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "results": []}
    for be in a.backends:
        res["results"].append(bench_backend(be, a.N, a.sim_trials, a.learn_trials, a.suite))
    if a.json:
        print(json.dumps(res))
    else:
        for r in res["results"]:
            print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
