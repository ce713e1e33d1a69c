"""EMBER's idle regime: N noisy LIF neurons (spec 2.2 defaults: tau_m 20 ms, V_th 0.86, sigma 0.1,
2 ms refractory, dt 1 ms), no input; prints one JSON line with the RTF and the spontaneous rate.

    python -m sims.idle_bench [--N 220000] [--T 3] [--threads 1] [--backend numba]
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sims.idle_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--N", type=int, default=220_000)
    ap.add_argument("--T", type=float, default=3.0, help="simulated seconds (after a 0.1 s warm-up)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backend", default="numba", choices=["numpy", "numba", "cuda"])
    a = ap.parse_args(argv)
    if a.N < 1 or a.T <= 0:
        ap.error("need N >= 1 and T > 0")
    from spiking import LIF, Network, Population, Simulator, SpikeCounts

    net = Network(populations=(Population("idle", a.N, LIF()),), dt_ms=1.0, seed=1)
    sim = Simulator(net, backend=a.backend, **({"threads": a.threads} if a.backend == "numba" else {}))
    sim.run(100.0, progress=False)            # compiles or loads the kernels
    counts = sim.add_monitor(SpikeCounts("idle"))
    t0 = time.perf_counter()
    sim.run(a.T * 1000.0, progress=False)
    sim.backend.synchronize()
    wall = time.perf_counter() - t0
    spikes = int(counts.counts.sum())
    print(json.dumps({"N": a.N, "T_s": a.T, "dt_ms": 1.0, "backend": a.backend, "threads": a.threads,
                      "rtf": wall / a.T, "rate_hz": spikes / a.N / a.T, "ns_per_neuron_step": wall / (a.N * a.T * 1000) * 1e9}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
