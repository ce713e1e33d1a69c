"""The Brette et al. (2007) CUBA / COBA networks in Brian2 cpp_standalone, for the side-by-side figure
of sims/brette2007.py. Runs under a Python with Brian2 (not a dependency of this project); prints
one JSON line. The same equations and constants as ``sims.brette2007.network``: CUBA integrated
'exact', COBA by 'exponential_euler' (what the engine does), 0.1 ms delays, V uniform between reset
and threshold at the start, one thread.

    python sims/brian2_brette.py --model cuba --seed 1 --T 2
"""
import argparse
import json
import tempfile

from brian2_common import build_and_time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cuba", choices=["cuba", "coba"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--T", type=float, default=2.0)
    ap.add_argument("--builddir", default=None)
    a = ap.parse_args()
    import numpy as np
    import brian2 as b2
    from brian2 import mV, ms, second

    builddir = a.builddir or tempfile.mkdtemp(prefix="b2brette_")
    b2.set_device("cpp_standalone", directory=builddir, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
    b2.defaultclock.dt = 0.1 * ms
    b2.seed(a.seed)
    # the names below look unused: Brian2 reads them from this frame when it resolves the equations
    taum, taue, taui, vt, vr = 20 * ms, 5 * ms, 10 * ms, -50 * mV, -60 * mV
    if a.model == "cuba":
        el = -49 * mV
        eqs = """dv/dt = (ge + gi - (v - el)) / taum : volt (unless refractory)
        dge/dt = -ge / taue : volt
        dgi/dt = -gi / taui : volt"""
        method, we, wi = "exact", 60 * 0.27 / 10 * mV, -20 * 4.5 / 10 * mV
    else:
        el, ee, ei, drive = -60 * mV, 0 * mV, -80 * mV, 20 * mV
        eqs = """dv/dt = (ge * (ee - v) + gi * (ei - v) - (v - el) + drive) / taum : volt (unless refractory)
        dge/dt = -ge / taue : 1
        dgi/dt = -gi / taui : 1"""
        method, we, wi = "exponential_euler", 0.6, 6.7
    P = b2.NeuronGroup(4000, eqs, threshold="v > vt", reset="v = vr", refractory=5 * ms, method=method)
    P.v = "vr + rand() * (vt - vr)"
    Ce = b2.Synapses(P, P, on_pre="ge += we", delay=0.1 * ms)
    Ci = b2.Synapses(P, P, on_pre="gi += wi", delay=0.1 * ms)
    Ce.connect("i < 3200", p=0.02)
    Ci.connect("i >= 3200", p=0.02)
    mon = b2.SpikeMonitor(P)
    net = b2.Network(P, Ce, Ci, mon)
    net.run(a.T * second)
    loop, binary = build_and_time(b2, builddir)
    t = np.asarray(mon.t / ms)
    i = np.asarray(mon.i)
    cvs = []
    for k in range(4000):
        s = np.sort(t[i == k])
        if s.size >= 3:
            isi = np.diff(s)
            cvs.append(isi.std() / isi.mean())
    print(json.dumps({"simulator": "brian2 cpp_standalone", "model": a.model, "seed": a.seed, "T_s": a.T,
                      "neurons": 4000, "synapses": int(len(Ce) + len(Ci)), "sim_wall_s": loop,
                      "rtf": loop / a.T, "binary_wall_s": binary, "rate_hz": float(t.size / 4000 / a.T),
                      "cv_isi": float(np.mean(cvs)) if cvs else float("nan"), "cells_with_cv": len(cvs)}))


if __name__ == "__main__":
    main()
