"""What/when/probability prediction suite on a heterogeneous Izhikevich reservoir (issue 7).

    python -m sims.predict [--quick] [--json] [--out out/predict] [--N 1000] [--no-figures]

Runs the factorial task (timing, probability and identity switches) with the three-factor learner,
the uncentred control and FORCE with and without a reset; the full run adds the ablations, the
foreperiod variant and the noisy robustness runs.  Writes summary.json and PNG figures into --out;
--json prints the summary as one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _parser():
    p = argparse.ArgumentParser(prog="predict", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="core experiments only (< 2 min)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--out", default="out/predict", help="output folder for figures and summary.json")
    p.add_argument("--N", type=int, default=1000, help="reservoir size")
    p.add_argument("--seed", type=int, default=0, help="trial-schedule seed")
    p.add_argument("--reservoir-seed", type=int, default=1)
    p.add_argument("--blocks", type=int, nargs=2, default=None, metavar=("B1", "B2"),
                   help="trials in block 1 and block 2 (default 1000 1000)")
    p.add_argument("--alpha", type=float, default=0.01, help="normalised LMS rate for when and what")
    p.add_argument("--lead-ms", type=float, default=50.0)
    p.add_argument("--robustness-seeds", type=int, default=None, help="check 13 seeds (full default 5)")
    p.add_argument("--backend", default="numba", choices=("numba", "numpy"), help="engine backend")
    p.add_argument("--kernel", default="numba", choices=("numba", "numpy"), help="learning-rule kernel")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from agents.reservoir.config import ConfigError, ForceConfig, LearnConfig, ReservoirConfig
    from agents.reservoir.suite import SuiteConfig, run_suite
    t0 = time.perf_counter()
    try:
        rcfg = ReservoirConfig(n_neurons=args.N, seed=args.reservoir_seed)
        lcfg = LearnConfig(alpha_when=args.alpha, alpha_what=args.alpha, lead_ms=args.lead_ms)
        blocks = tuple(args.blocks) if args.blocks else (1000, 1000)
        rob = args.robustness_seeds if args.robustness_seeds is not None else (0 if args.quick else 5)
        scfg = SuiteConfig(block_trials=blocks, seed=args.seed, ablations=not args.quick,
                           foreperiod=not args.quick, robustness_seeds=rob, nc_demo=not args.quick,
                           kernel=args.kernel,
                           backend=args.backend)
    except ConfigError as e:
        print(f"predict: {e}", file=sys.stderr)
        return 2
    keep: dict = {}
    summary = run_suite(rcfg, lcfg, ForceConfig(), scfg, progress=not args.no_progress, keep=keep)
    os.makedirs(args.out, exist_ok=True)
    figs = []
    if not args.no_figures:
        from agents.reservoir.figures import save_all
        figs = save_all(keep, summary, args.out)
    summary["figures"] = figs
    summary["mode"] = "quick" if args.quick else "full"
    summary["wall_s"] = time.perf_counter() - t0
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=_jsonable)
    if args.json:
        print(json.dumps(summary, default=_jsonable))
    else:
        print(_short(summary))
    return 0


def _jsonable(o):
    import numpy as np
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def _short(s) -> str:
    lines = [f"mean rate {s['mean_rate_hz']:.1f} Hz; timing basis R2 {s['timing_basis']['r2_heldout_min']:.3f}",
             f"peak error (ms, vs window centre): {s['timing_peak_error_ms']}",
             f"amplitude vs p: r = {s['amplitude_vs_p_r']:.3f}",
             f"cos(when, what): {s['cos_when_what']}",
             f"switch recovery: {s['switch_recovery']}",
             "checks: " + ", ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in s["checks"].items()),
             f"wall {s['wall_s']:.1f} s; figures in {os.path.dirname(s['figures'][0]) if s['figures'] else '-'}"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
