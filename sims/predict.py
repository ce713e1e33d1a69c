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
from dataclasses import dataclass


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


@dataclass(frozen=True)
class PredictConfig:
    """The suite's options by their command-line names (``ember run predict --set N=500``)."""
    N: int = 1000
    reservoir_seed: int = -1         # -1: the run's seed + 1 (a sweep's seeds then draw new reservoirs too)
    blocks: tuple = (1000, 1000)
    alpha: float = 0.01
    lead_ms: float = 50.0
    quick: bool = True
    robustness_seeds: int = -1       # -1: 0 in quick mode, 5 in full
    backend: str = "numba"
    kernel: str = "numba"
    figures: bool = False

    def __post_init__(self):
        if len(self.blocks) != 2 or min(self.blocks) < 1:
            raise ValueError(f"blocks must be two trial counts >= 1, got {self.blocks!r}")


def run(config: PredictConfig, seed: int = 0, out: str | None = None, progress: bool = False) -> dict:
    """The suite's summary (the trial-schedule seed is ``seed``); figures into ``out`` if asked."""
    from agents.reservoir.config import ConfigError, ForceConfig, LearnConfig, ReservoirConfig
    from agents.reservoir.suite import SuiteConfig, run_suite
    t0 = time.perf_counter()
    try:
        rcfg = ReservoirConfig(n_neurons=config.N,
                               seed=config.reservoir_seed if config.reservoir_seed >= 0 else seed + 1)
        lcfg = LearnConfig(alpha_when=config.alpha, alpha_what=config.alpha, lead_ms=config.lead_ms)
        rob = config.robustness_seeds if config.robustness_seeds >= 0 else (0 if config.quick else 5)
        scfg = SuiteConfig(block_trials=tuple(config.blocks), seed=seed, ablations=not config.quick,
                           foreperiod=not config.quick, robustness_seeds=rob, nc_demo=not config.quick,
                           kernel=config.kernel, backend=config.backend)
    except ConfigError as e:
        raise ValueError(str(e)) from None
    keep: dict = {}
    summary = run_suite(rcfg, lcfg, ForceConfig(), scfg, progress=progress, keep=keep)
    figs = []
    if config.figures and out:
        from agents.reservoir.figures import save_all
        os.makedirs(out, exist_ok=True)
        figs = save_all(keep, summary, out)
    summary["figures"] = figs
    summary["mode"] = "quick" if config.quick else "full"
    summary["wall_s"] = time.perf_counter() - t0
    return json.loads(json.dumps(summary, default=_jsonable))


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = PredictConfig(N=args.N, reservoir_seed=args.reservoir_seed,
                            blocks=tuple(args.blocks) if args.blocks else (1000, 1000), alpha=args.alpha,
                            lead_ms=args.lead_ms, quick=args.quick,
                            robustness_seeds=-1 if args.robustness_seeds is None else args.robustness_seeds,
                            backend=args.backend, kernel=args.kernel, figures=not args.no_figures)
        summary = run(cfg, args.seed, out=args.out, progress=not args.no_progress)
    except ValueError as e:
        print(f"predict: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
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


def _trials_line(t) -> str:
    return (f"timing basis across trials (noise {t['noise_sigma']:g}, {t['train_trials']} + {t['test_trials']} trials): "
            f"R2 reservoir {t['reservoir']['r2_heldout']:.3f}, no-cue {t['no_cue']['r2_heldout']:.3f}, "
            f"shuffled time {t['shuffled_time']['r2_heldout']:.3f}: {'pass' if t['pass'] else 'FAIL'}")


def _k3_line(g) -> str:
    c, u = g["centred"], g["uncentred"]
    return (f"three identities: centred max |cos| {c['max_abs_cos']:.3f}, principal cos {c['principal_cos']:.3f} "
            f"(what spans {sum(x > 0.05 for x in c['what_dims'])} dims); uncentred {u['max_abs_cos']:.3f} / "
            f"{u['principal_cos']:.3f}: {'pass' if g['pass'] else 'FAIL'}")


def _short(s) -> str:
    lines = [f"mean rate {s['mean_rate_hz']:.1f} Hz; timing basis R2 {s['timing_basis']['r2_heldout_min']:.3f} "
             "(frozen trajectory, alternate chunks)",
             *([_trials_line(s["timing_basis_trials"])] if "timing_basis_trials" in s else []),
             f"peak error (ms, vs window centre): {s['timing_peak_error_ms']}",
             f"amplitude vs p: r = {s['amplitude_vs_p_r']:.3f}",
             f"cos(when, what): {s['cos_when_what']}",
             *([_k3_line(s["geometry_three_identities"])] if "geometry_three_identities" in s else []),
             f"switch recovery: {s['switch_recovery']}",
             "checks: " + ", ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in s["checks"].items()),
             f"wall {s['wall_s']:.1f} s; figures in {os.path.dirname(s['figures'][0]) if s['figures'] else '-'}"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
