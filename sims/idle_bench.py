"""EMBER's idle regime: N noisy LIF neurons (spec 2.2 defaults: tau_m 20 ms, V_th 0.86, sigma 0.1,
2 ms refractory, dt 1 ms), no input; prints one JSON line with the RTF and the spontaneous rate.

    python -m sims.idle_bench [--N 220000] [--T 3] [--threads 1] [--backend numba]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class IdleBenchConfig:
    N: int = 220_000
    T: float = 3.0                 # simulated seconds measured (after a 0.1 s warm-up)
    threads: int = 1
    backend: str = "numba"

    def __post_init__(self):
        if self.N < 1 or self.T <= 0 or self.threads < 1:
            raise ValueError("idle-bench needs N >= 1, T > 0 and threads >= 1")
        if self.backend not in ("numpy", "numba", "cuda"):
            raise ValueError(f"backend must be numpy, numba or cuda, got {self.backend!r}")


def run(config: IdleBenchConfig, seed: int = 1) -> dict:
    from spiking import LIF, Network, Population, Simulator, SpikeCounts

    net = Network(populations=(Population("idle", config.N, LIF()),), dt_ms=1.0, seed=seed)
    sim = Simulator(net, backend=config.backend, **({"threads": config.threads} if config.backend == "numba" else {}))
    sim.run(100.0, progress=False)            # compiles or loads the kernels
    counts = sim.add_monitor(SpikeCounts("idle"))
    t0 = time.perf_counter()
    sim.run(config.T * 1000.0, progress=False)
    sim.backend.synchronize()
    wall = time.perf_counter() - t0
    spikes = int(counts.counts.sum())
    return {"N": config.N, "T_s": config.T, "dt_ms": 1.0, "backend": config.backend, "threads": config.threads,
            "rtf": wall / config.T, "rate_hz": spikes / config.N / config.T,
            "ns_per_neuron_step": wall / (config.N * config.T * 1000) * 1e9}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sims.idle_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--N", type=int, default=220_000)
    ap.add_argument("--T", type=float, default=3.0, help="simulated seconds (after a 0.1 s warm-up)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backend", default="numba", choices=["numpy", "numba", "cuda"])
    a = ap.parse_args(argv)
    try:
        cfg = IdleBenchConfig(N=a.N, T=a.T, threads=a.threads, backend=a.backend)
    except ValueError as e:
        ap.error(str(e))
    print(json.dumps(run(cfg, seed=1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
