"""Side-by-side benchmark of the anchor network: this engine vs Brian2, in one run.

    python -m sims.bench_anchor --sizes 10000,100000,220000 --repeat 2 \
        [--brian2-python ~/.cache/project-checks/b2venv/bin/python] \
        [--brian2-script ../shared/bench/izh_brian2.py] [--append results.jsonl]

For each size it runs Brian2 cpp_standalone (izh_brian2.py, one thread) and then this
engine (``python -m sims.anchor --json --breakdown``, one thread), each in a fresh
process, alternating, and prints one JSON line per run plus a markdown table with
the RTF ratio, rates, memory and our breakdown by part.  The machine is shared: the
two columns of a row are measured back to back so they see the same load
(``other_load_cores`` is recorded for both).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

DEFAULT_T = {10_000: 10.0, 100_000: 5.0, 220_000: 3.0}  # perf-anchors 4.8


def _run(cmd, env, cwd=None) -> dict:
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    lines = [ln for ln in out.stdout.strip().splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sims.bench_anchor", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,220000")
    ap.add_argument("--T", type=float, default=None, help="simulated seconds for every size (default per size)")
    ap.add_argument("--dt", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--brian2-python", default=os.path.expanduser("~/.cache/project-checks/b2venv/bin/python"))
    ap.add_argument("--brian2-script", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench",
                                                            "izh_brian2.py"))
    ap.add_argument("--stdp", action="store_true", help="the STDP variant on both sides")
    ap.add_argument("--no-brian2", action="store_true")
    ap.add_argument("--append", default=None)
    a = ap.parse_args(argv)
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    use_b2 = not a.no_brian2 and os.path.exists(a.brian2_python) and os.path.exists(a.brian2_script)
    if not a.no_brian2 and not use_b2:
        print(f"Brian2 not found ({a.brian2_python}, {a.brian2_script}); running ours only", file=sys.stderr)
    rows = []
    for n in (int(x) for x in a.sizes.split(",")):
        T = a.T or DEFAULT_T.get(n, 2.0)
        b2 = None
        if use_b2:
            import tempfile
            with tempfile.TemporaryDirectory() as bd:
                b2 = _run([a.brian2_python, os.path.abspath(a.brian2_script), "--N", str(n), "--T", str(T),
                           "--dt", str(a.dt), "--mode", "cpp_standalone", "--repeat", str(a.repeat),
                           "--builddir", os.path.join(bd, "b")] + (["--stdp"] if a.stdp else []), env,
                          cwd=os.path.dirname(os.path.abspath(a.brian2_script)))
        ours = _run([sys.executable, "-m", "sims.anchor", "--N", str(n), "--T", str(T), "--dt", str(a.dt),
                     "--threads", "1", "--repeat", str(a.repeat), "--json", "--breakdown"]
                    + (["--stdp"] if a.stdp else []), env)
        for rec in (b2, ours):
            if rec is None:
                continue
            line = json.dumps(rec)
            print(line, flush=True)
            if a.append:
                with open(a.append, "a") as f:
                    f.write(line + "\n")
        rows.append((n, T, b2, ours))
    print()
    part_names = "noise / neuron / propagation" + (" / STDP post / STDP pre+transmit" if a.stdp else "")
    print("| N | T s | Brian2 RTF | ours RTF | speed-up | rate Hz (B2 / ours) | ours E / I Hz | CV 5 ms (ours) "
          f"| peak RSS MB (B2 / ours) | ours: {part_names} s per sim s | load (B2 / ours) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, T, b2, o in rows:
        bd = o.get("breakdown_s_per_sim_s", {})
        keys = ("noise", "neuron_update", "propagation") + (("stdp_post", "stdp_pre_and_transmit") if a.stdp else ())
        parts = " / ".join(f"{bd.get(k, float('nan')):.2f}" for k in keys)
        if b2:
            print(f"| {n} | {T:g} | {b2['rtf']:.3f} | {o['rtf']:.3f} | {b2['rtf'] / o['rtf']:.2f}x | "
                  f"{b2['rate_all_hz']:.2f} / {o['rate_all_hz']:.2f} | {o['rate_E_hz']:.2f} / {o['rate_I_hz']:.2f} | "
                  f"{o['pop_cv_5ms']:.3f} | {b2['peak_rss_mb']:.0f} / {o['peak_rss_mb']:.0f} | {parts} | "
                  f"{b2['other_load_cores']:.2f} / {o['other_load_cores']:.2f} |")
        else:
            print(f"| {n} | {T:g} | - | {o['rtf']:.3f} | - | - / {o['rate_all_hz']:.2f} | "
                  f"{o['rate_E_hz']:.2f} / {o['rate_I_hz']:.2f} | {o['pop_cv_5ms']:.3f} | - / {o['peak_rss_mb']:.0f} | "
                  f"{parts} | - / {o['other_load_cores']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
