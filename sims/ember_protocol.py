"""``ember protocol``: the paper's three-day evaluation (spec section 7) with seeded counterfactuals.

    ember protocol [--scale 0.05] [--idle exact|sampled] [--seeds K] [--out DIR] [--json]

Runs the shipped 3-day, 5-domain, 52-message script (agents/ember/data/protocol_3day.json) with
the agent and with each counterfactual (SNN off, lateral weights shuffled, noise off) for seeds
0..K-1, and writes DIR/protocol.json, DIR/protocol.md (R3-R10 next to the paper's figures, with
the spread across seeds) and DIR/protocol.png. The actor is the scripted one (the script's own
assistant turns, reproducible) unless ``--actor env``. ``--idle sampled`` (the default) runs the
first ``--head-min`` minutes after each session and ``--sample-min`` of every later idle hour
exactly and advances the rest in closed form; the report says which mode ran.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field

from agents.ember.protocol import CONDITIONS, PAPER, ProtocolConfig, load_script, run_condition, summarise


@dataclass(frozen=True)
class Config:
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    seeds: int = 1
    out: str = "ember-protocol"
    plots: bool = True
    jobs: int = 1                 # runs (condition x seed) in parallel processes


# the figures of each result that the report puts in its table: (label, path into a run's result)
ROWS = (
    ("R3", "first action after exchange", ("R3", "first_action_exchange")),
    ("R3", "first impulse after exchange (AC7: <= 10)", ("R3", "first_impulse_exchange")),
    ("R4", "reach_outs (naming a person and a topic)", ("R4", "reach_outs_naming_person_and_topic")),
    ("R5", "impulse-triggered actions in 3 days", ("R5", "actions")),
    ("R5", "significant impulses", ("R5", "impulses")),
    ("R6", "detections in the 15 min after session 1, before its replay", ("R6", "detections_15min")),
    ("R7", "synapses after session 1", ("R7", "after_session_1")),
    ("R7", "first replay: factor", ("R7", "first_replay_factor")),
    ("R7", "night 1 replay: growth", ("R7", "nightly_growth", 0)),
    ("R7", "night 2 replay: growth", ("R7", "nightly_growth", 1)),
    ("R7", "final synapses", ("R7", "final")),
    ("R8", "max lateral weight loss over the longest sleep-free idle", ("R8", "max_weight_loss")),
    ("R9", "graph nodes", ("R9", "nodes")),
    ("R9", "graph edges", ("R9", "edges")),
    ("R10", "spontaneous rate in idle samples (Hz)", ("R10", "rate_hz")),
)
PAPER_VALUE = {("R3", "first_action_exchange"): 7, ("R3", "first_impulse_exchange"): 7,
               ("R4", "reach_outs_naming_person_and_topic"): 1, ("R5", "actions"): 23,
               ("R6", "detections_15min"): 24, ("R7", "after_session_1"): 10843, ("R7", "first_replay_factor"): 4.98,
               ("R7", "nightly_growth", 0): 0.49, ("R7", "nightly_growth", 1): 0.51,
               ("R7", "final"): 201394, ("R8", "max_weight_loss"): 0.016, ("R9", "nodes"): 64, ("R9", "edges"): 124,
               ("R10", "rate_hz"): 0.9}


def _get(r, path):
    for k in path:
        if isinstance(r, dict):
            r = r.get(k)
        elif isinstance(r, list) and isinstance(k, int):
            r = r[k] if k < len(r) else None
        else:
            return None
    return r


def _key(path) -> str:
    return ".".join(str(k) for k in path)


def run(config: Config, seed: int = 0, say=print) -> dict:
    """Every condition of ``config.protocol`` for seeds seed .. seed + seeds - 1; writes the report."""
    pc = config.protocol
    script = load_script(pc.script)
    t0 = time.perf_counter()
    todo = [(cond, s) for s in range(seed, seed + config.seeds) for cond in pc.conditions]

    def done(r):
        say(f"[{r['condition']}, seed {r['seed']}] {r['R5']['actions']} impulse-triggered actions, "
            f"{r['R5']['impulses']} impulses, {r['R7']['final']} synapses, {r['wall_s']:.0f} s")
        return r

    if config.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor
        say(f"{len(todo)} runs at scale {pc.scale:g}, {pc.idle} idle, {config.jobs} at a time")
        with ProcessPoolExecutor(config.jobs) as pool:
            futures = [pool.submit(run_condition, pc, cond, s, None, None, functools.partial(_stderr, f"[{cond}, seed {s}]"))
                       for cond, s in todo]
            runs = [done(f.result()) for f in futures]
    else:
        from encoders.base import make_embedder
        enc = make_embedder(pc.embedder)
        runs = []
        for cond, s in todo:
            say(f"[{cond}, seed {s}] {pc.scale:g} scale, {pc.idle} idle")
            runs.append(done(run_condition(pc, cond, s, embedder=enc, log=say)))
    summary = {c: {_key(p): summarise([_get(r, p) for r in runs if r["condition"] == c])
                   for _, _, p in ROWS} for c in pc.conditions}
    days = max(x["day"] for x in script["sessions"])
    on = [r for r in runs if r["condition"] == "snn"]
    off = [r for r in runs if r["condition"] == "snn_off"]
    checks = {}
    if on:
        checks["AC7"] = {"pass": all(r["R3"]["first_impulse_exchange"] is not None and r["R3"]["first_impulse_exchange"] <= 10
                                     and r["R3"]["first_impulse_names_person_and_topic"] for r in on),
                         "figure": [[r["R3"]["first_impulse_exchange"], r["R3"]["first_impulse_labels"]] for r in on]}
        checks["AC12_snn_on"] = {"pass": all(min(r["R5"]["per_day"]) >= 1 for r in on),
                                 "figure": [r["R5"]["per_day"] for r in on]}
    if off:
        checks["AC12_snn_off"] = {"pass": all(r["R5"]["actions"] == 0 for r in off),
                                  "figure": [r["R5"]["actions"] for r in off]}
    out = {"config": asdict(pc), "seeds": list(range(seed, seed + config.seeds)), "days": days,
           "idle_mode": pc.idle, "script_messages": 2 * sum(len(s["turns"]) for s in script["sessions"]),
           "paper": PAPER, "summary": summary, "checks": checks, "runs": runs,
           "wall_s": time.perf_counter() - t0}
    os.makedirs(config.out, exist_ok=True)
    paths = {"json": os.path.join(config.out, "protocol.json"), "md": os.path.join(config.out, "protocol.md")}
    if config.plots:
        paths["png"] = _plot(runs, script, os.path.join(config.out, "protocol.png"))
    out["paths"] = paths
    _write_atomic(paths["json"], json.dumps(out, indent=1, default=float))
    _write_atomic(paths["md"], report_md(out))
    return out


def _stderr(prefix: str, msg: str) -> None:
    """A worker's progress line (module level: a pool sends it to its processes by name)."""
    print(f"{prefix}{msg}", file=sys.stderr, flush=True)


def _write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _fmt(s: dict | None, pct: bool = False) -> str:
    if s is None:
        return "n/a"
    f = (lambda v: f"{100 * v:.1f} %") if pct else (lambda v: f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}")
    if s["n"] == 1 or s["min"] == s["max"]:
        return f(s["mean"])
    return f"{f(s['mean'])} ± {f(s['sd'])} [{f(s['min'])}, {f(s['max'])}]"


def report_md(out: dict) -> str:
    pc = out["config"]
    conds = list(out["summary"])
    idle = ("sampled: the first %g min after each session (15 after the first) and %g min of every later idle "
            "hour simulated, the rest advanced in closed form" % (pc["head_s"] / 60, pc["sample_s"] / 60)) \
        if out["idle_mode"] == "sampled" else "exact: every idle second simulated"
    lines = [
        "# EMBER's three-day protocol: results next to the paper's",
        "",
        f"Script: {out['script_messages']} messages in 3 days, 5 domains (agents/ember/data/protocol_3day.json). "
        f"Scale {pc['scale']:g} ({int(round(220_000 * pc['scale'])):,} neurons), actor `{pc['actor']}`, embedder "
        f"`{pc['embedder']}`, seeds {out['seeds']}. Idle: {idle}. Wall time {out['wall_s'] / 60:.1f} min.",
        "",
        "Cells: mean ± sd [min, max] across seeds.",
        "",
        "| | figure | paper | " + " | ".join(conds) + " |",
        "|---|---|---|" + "---|" * len(conds),
    ]
    for r, label, path in ROWS:
        pct = path[1] in ("max_weight_loss", "nightly_growth")
        pv = PAPER_VALUE.get(path)
        pv_s = "n/a" if pv is None else (f"{100 * pv:.1f} %" if pct else f"{pv:,}")
        cells = [_fmt(out["summary"][c].get(_key(path)), pct) for c in conds]
        lines.append(f"| {r} | {label} | {pv_s} | " + " | ".join(cells) + " |")
    lines += ["", "Actions per simulated day (SNN on, each seed): " +
              "; ".join(str(r["R5"]["per_day"]) for r in out["runs"] if r["condition"] == "snn"), ""]
    for name, c in out["checks"].items():
        lines.append(f"* {name}: {'pass' if c['pass'] else 'FAIL'} ({c['figure']})")
    lines += ["", "Paper's figures (spec section 7):", ""] + [f"* {k}: {v}" for k, v in out["paper"].items()]
    if "png" in out.get("paths", {}):
        lines += ["", "![synapses and actions over the three days](protocol.png)"]
    return "\n".join(lines) + "\n"


def _plot(runs, script, path) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    colours = {"snn": "C0", "snn_off": "C7", "shuffled": "C3", "noise_off": "C2"}
    conds = list(dict.fromkeys(r["condition"] for r in runs))
    for c in conds:
        for k, r in enumerate(x for x in runs if x["condition"] == c):
            t = [p[0] for p in r["R7"]["trajectory_h"]]
            n = [p[1] for p in r["R7"]["trajectory_h"]]
            a.plot(t, n, color=colours.get(c, "k"), lw=1.2, alpha=0.8, label=c if k == 0 else None)
    gap = float(script.get("turn_gap_s", 10))
    for s in script["sessions"]:
        for ax in (a, b):
            ax.axvspan(s["t_h"], s["t_h"] + len(s["turns"]) * gap / 3600 + 0.25, color="orange", alpha=0.25, lw=0)
    for d in (1, 2, 3):
        for ax in (a, b):
            ax.axvline(24 * (d - 1) + 3, color="k", ls=":", lw=0.8)
    a.set_ylabel("learned lateral synapses")
    a.set_title("synapse count (sessions shaded, nightly sleeps dotted)")
    a.legend(loc="upper left", fontsize=8)
    marks = {"journal": "o", "reach_out": "*", "continue": "s"}
    for i, c in enumerate(conds):
        for r in (x for x in runs if x["condition"] == c):
            for e in r["events"]:
                if e["status"] in ("executed", "dry_run", "pending_approval") and e["action"] != "silent":
                    b.plot(e["t_h"], i + 0.15 * (r["seed"] % 5) - 0.3, marks.get(e["action"], "x"),
                           color=colours.get(c, "k"), ms=7 if e["action"] == "reach_out" else 4)
    b.set_yticks(range(len(conds)), conds)
    b.set_ylim(-0.7, len(conds) - 0.3)
    b.set_xlabel("simulated time (h from day 1, 00:00 UTC)")
    b.set_title("impulse-triggered actions (o journal, * reach_out)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _script_path(path: str) -> str:
    """The script a report names: as written, else relative to the project, else the shipped one."""
    from agents.ember.protocol import SCRIPT
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for cand in (path, os.path.join(root, path)):
        if os.path.exists(cand):
            return cand
    return SCRIPT


def render(out_dir: str) -> dict:
    """Write protocol.md and protocol.png again from ``out_dir/protocol.json`` (nothing is run)."""
    with open(os.path.join(out_dir, "protocol.json"), encoding="utf-8") as f:
        out = json.load(f)
    out["paths"] = {"json": os.path.join(out_dir, "protocol.json"), "md": os.path.join(out_dir, "protocol.md"),
                    "png": _plot(out["runs"], load_script(_script_path(out["config"]["script"])),
                                 os.path.join(out_dir, "protocol.png"))}
    _write_atomic(out["paths"]["md"], report_md(out))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="ember protocol", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.05, help="network size (1.0 = 220,000 neurons)")
    ap.add_argument("--idle", choices=["exact", "sampled"], default="sampled")
    ap.add_argument("--seeds", type=int, default=1, help="seeds 0 .. K-1 (from --seed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated: " + ", ".join(CONDITIONS))
    ap.add_argument("--head-min", type=float, default=5.0,
                    help="sampled: exact minutes after each session (15 after the first)")
    ap.add_argument("--sample-min", type=float, default=1.0, help="sampled: exact minutes of each later idle hour")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    ap.add_argument("--actor", choices=["scripted", "env"], default="scripted")
    ap.add_argument("--embedder", choices=["hashing", "minilm"], default="hashing")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="ember-protocol", help="report directory (default %(default)s)")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object at the end")
    ap.add_argument("--render", action="store_true", help="only rewrite the report in --out from its protocol.json")
    a = ap.parse_args(argv)
    if a.render:
        if not os.path.exists(os.path.join(a.out, "protocol.json")):
            ap.error(f"no protocol.json in {a.out!r}")
        print(f"report: {render(a.out)['paths']['md']}")
        return 0
    conds = tuple(c.strip() for c in a.conditions.split(",") if c.strip())
    if a.seeds < 1:
        ap.error("--seeds must be >= 1")
    try:
        pc = ProtocolConfig(scale=a.scale, idle=a.idle, head_s=a.head_min * 60.0, sample_s=a.sample_min * 60.0,
                            conditions=conds, actor=a.actor, embedder=a.embedder, threads=a.threads)
    except ValueError as e:
        ap.error(str(e))
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if a.json else print
    if a.jobs < 1:
        ap.error("--jobs must be >= 1")
    out = run(Config(protocol=pc, seeds=a.seeds, out=a.out, plots=not a.no_plots, jobs=a.jobs), a.seed, say=say)
    if a.json:
        print(json.dumps({k: out[k] for k in ("summary", "checks", "idle_mode", "seeds", "paths", "wall_s")},
                         default=float))
    else:
        print(f"report: {out['paths']['md']}")
    return 0 if all(c["pass"] for c in out["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
