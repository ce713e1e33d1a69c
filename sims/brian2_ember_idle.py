"""EMBER's idle network in Brian2 cpp_standalone, for the side-by-side figure of sims/ember_bench.py.
Runs under a Python with Brian2 (not a dependency of this project); prints one JSON line.

The same network as ``agents.ember.substrate.build_network`` at ``--scale``, with the lateral
synapses frozen: LIF (tau_m 20 ms, V_th 0.86, reset 0, 2 ms refractory, current-based synapses with
tau 5 ms, sigma 0.1 per sqrt(ms)), dt 1 ms, 1 ms delays; feedforward fixed in-degree 50/100/100,
the inhibitory loops (each interneuron samples 100 cells of its layer, each cell gets 25 of them),
and ``--lateral`` random concept -> concept synapses. Weights are the substrate's means (the
connectivity is the same size and shape, not the same draw).

    python sims/brian2_ember_idle.py --scale 1.0 --T 5 --lateral 200000 --builddir DIR
"""
import argparse
import json
import tempfile
import time

from brian2_common import build_and_time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--T", type=float, default=5.0)
    ap.add_argument("--lateral", type=int, default=200_000)
    ap.add_argument("--w-lateral", type=float, default=0.24)
    ap.add_argument("--builddir", default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    t_start = time.perf_counter()
    import numpy as np
    import brian2 as b2
    from brian2 import ms, second

    builddir = a.builddir or tempfile.mkdtemp(prefix="b2ember_")
    b2.set_device("cpp_standalone", directory=builddir, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = a.threads if a.threads > 1 else 0
    b2.defaultclock.dt = 1 * ms
    b2.seed(1)
    g = np.random.default_rng(1)
    s = a.scale
    n = {"sensory": max(200, round(5000 * s)), "concept": max(1000, round(150_000 * s)),
         "category": max(100, round(25_000 * s)), "meta": max(50, round(10_000 * s)),
         "inhibitory": max(100, round(30_000 * s))}
    eqs = """dv/dt = (-v + I)/(20*ms) + 0.1*xi*ms**-0.5 : 1 (unless refractory)
    dI/dt = -I/(5*ms) : 1"""
    groups = {k: b2.NeuronGroup(v, eqs, threshold="v > 0.86", reset="v = 0", refractory=2 * ms, method="euler",
                                name=k) for k, v in n.items()}
    syns = []

    def connect(pre, post, k_in, w, rng_pre=None, rng_post=None):
        lo, hi = rng_pre or (0, n[pre])
        plo, phi = rng_post or (0, n[post])
        j = np.repeat(np.arange(plo, phi), k_in)
        i = g.integers(lo, hi, j.size)
        S = b2.Synapses(groups[pre], groups[post], on_pre=f"I_post += {w}", delay=1 * ms)
        S.connect(i=i, j=j)
        syns.append(S)

    connect("sensory", "concept", 50, 0.02)
    connect("concept", "category", 100, 0.03)
    connect("category", "meta", 100, 0.03)
    total = n["concept"] + n["category"] + n["meta"]
    start = 0
    for j, layer in enumerate(("concept", "category", "meta")):
        share = n["inhibitory"] - start if j == 2 else max(1, round(n["inhibitory"] * n[layer] / total))
        connect(layer, "inhibitory", 100, 0.03, rng_post=(start, start + share))
        excit = {"concept": 50 * 0.02, "category": 100 * 0.03, "meta": 100 * 0.03}[layer]
        connect("inhibitory", layer, 25, -excit / 25, rng_pre=(start, start + share))
        start += share
    if a.lateral:
        S = b2.Synapses(groups["concept"], groups["concept"], on_pre=f"I_post += {a.w_lateral}", delay=1 * ms)
        S.connect(i=g.integers(0, n["concept"], a.lateral), j=g.integers(0, n["concept"], a.lateral))
        syns.append(S)
    mon = b2.SpikeMonitor(groups["concept"], record=False)
    net = b2.Network(*groups.values(), *syns, mon)
    net.run(a.T * second)
    loop, binary = build_and_time(b2, builddir)
    print(json.dumps({"simulator": "brian2 cpp_standalone", "threads": a.threads, "scale": s, "T_s": a.T,
                      "neurons": sum(n.values()), "lateral": a.lateral, "sim_wall_s": loop, "rtf": loop / a.T,
                      "binary_wall_s": binary, "concept_rate_hz": int(mon.num_spikes) / n["concept"] / a.T,
                      "total_wall_s": time.perf_counter() - t_start}))


if __name__ == "__main__":
    main()
