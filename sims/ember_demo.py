"""``ember demo``: a short session with the hybrid agent on the embedded offline defaults
(all-MiniLM-L6-v2 embeddings, the local SmolLM2-135M actor): a few exchanges about one person,
idle while the memory replays what it learned, a sleep, and the autonomous actions with the
spikes that caused them. Writes three plots next to the state directory.

    ember demo [--json] [--scale 0.05] [--idle 360] [--state DIR] [--actor env|scripted]

``--json`` ends with one JSON object: {"exchanges", "impulses", "actions": [{"action", "status",
"evidence"}], "wall_s", ...}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass

from .ember_session import SessionConfig, open_agent_or_scripted

SCRIPT = (      # seven exchanges: the paper's first autonomous action came after seven
    "My sister Maria signed up for the Lisbon marathon in April and she is nervous about it.",
    "Maria has been training for the marathon for three months; she runs before work.",
    "Maria does a long marathon run every Sunday morning.",
    "When Maria is not running she bakes sourdough bread.",
    "Maria has kept the same sourdough starter alive for two years.",
    "Maria says kneading the sourdough calms her before the long marathon run.",
    "After the marathon Maria wants to bake sourdough for the whole running club.",
)


@dataclass(frozen=True)
class DemoConfig:
    session: SessionConfig
    idle_s: float = 360.0         # simulated idle after the conversation (past the 120 s busy time and a 5-min refractory)
    pause_s: float = 10.0         # simulated idle between turns
    plots: bool = True


def run(config: DemoConfig, seed: int = 0, say=print) -> dict:
    t0 = time.perf_counter()
    actor = config.session.actor
    # short replies: SmolLM2-135M rambles, and the demo has five minutes
    agent, stand_in = open_agent_or_scripted(config.session, say, "the demo",
                                             actor_overrides={"max_new_tokens": 48}
                                             if "EMBER_LLM_BACKEND" not in os.environ else None)
    actor = stand_in or actor
    say(f"EMBER demo: {agent.substrate.config.sizes} neurons, state in {config.session.state}")
    for text in SCRIPT:
        say(f"you> {text}")
        turn = agent.chat(text)
        say(f"EMBER: {turn.reply}" if not turn.error else f"(the language model failed: {turn.error})")
        if turn.surfaced is not None and turn.surfaced.items:
            say("  memory surfaced: " + ", ".join(f"{a.label} x{a.strength:.1f}" for a in turn.surfaced.strongest(3)))
        agent.idle(config.pause_s)        # the user takes a moment to answer; the memory keeps running
    exchanges = len(SCRIPT)
    from spiking import GroupCounts
    sub = agent.substrate
    groups = {a.label: a.cells for a in sub.assemblies.values()}
    rates = sub.sim.add_monitor(GroupCounts("concept", groups, bin_ms=1000.0, max_bins=100_000))
    t_idle = sub.t_s
    say(f"(idle for {config.idle_s:.0f} simulated seconds: noise only, dopamine off)")
    events = agent.idle(config.idle_s, on_event=lambda ev: say(ev.one_line() + (f"\n  {ev.content}" if ev.content else "")),
                        progress=True)
    slept = agent.sleep()
    say(f"(slept: replayed {slept['items']} episodes, lateral synapses {slept['synapses_before']} -> "
        f"{slept['synapses_after']})")
    info = agent.inspect()
    plots = []
    if config.plots:
        plots = _plots(agent, rates, list(groups), t_idle, os.path.join(config.session.state, "plots"))
        for p in plots:
            say(f"plot: {p}")
    impulses = len([i for i in sub.impulses if i.t_s >= t_idle])
    agent.close()
    return {"exchanges": exchanges, "impulses": impulses,
            "actions": [{"action": e.action, "status": e.status, "content": e.content, "reason": e.reason,
                         "evidence": e.evidence} for e in events],
            "synapses": info["synapses"], "assemblies": [a["label"] for a in info["assemblies"]],
            "associations": info["associations"][:5], "plots": plots, "state": config.session.state,
            "actor": actor, "wall_s": time.perf_counter() - t0}


def _plots(agent, rates, labels, t_idle, out_dir) -> list[str]:
    """Assembly rates through the idle with the impulses marked, and the association graph."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .ember_plots import association_graph, save

    os.makedirs(out_dir, exist_ok=True)
    files = []
    t_ms, c = rates.rate_hz()
    t = t_ms / 1000.0
    fig, ax = plt.subplots(figsize=(9, 4))
    for j, lab in enumerate(labels):
        if c.shape[0]:
            ax.plot(t - t_idle, c[:, j], lw=1, label=lab)
    for imp in agent.substrate.impulses:
        if imp.t_s >= t_idle:
            ax.axvline(imp.t_s - t_idle, color="k", ls=":", lw=0.8)
    floor = agent.substrate.config.detector.floor_hz
    ax.axhline(3 * floor, color="r", lw=0.8, ls="--", label="3 x baseline floor")
    ax.set_xlabel("idle time (s)")
    ax.set_ylabel("assembly rate (Hz)")
    ax.set_title("labelled assemblies during idle (dotted: significant impulses)")
    ax.legend(fontsize=7, ncol=3)
    files.append(save(fig, os.path.join(out_dir, "assembly_rates.png")))
    files.append(association_graph(agent.substrate, os.path.join(out_dir, "association_graph.png"), min_count=1))
    return files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="ember demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="end with one JSON object")
    ap.add_argument("--state", default=None, help="state directory (default: a new temporary one)")
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--idle", type=float, default=360.0, help="simulated idle seconds after the conversation")
    ap.add_argument("--actor", default="env", choices=["env", "scripted"])
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-plots", action="store_true")
    a = ap.parse_args(argv)
    if a.state is not None and os.path.exists(os.path.join(a.state, "manifest.json")):
        ap.error(f"{a.state!r} already holds an EMBER state; the demo starts from zero (give a new directory)")
    state = a.state or tempfile.mkdtemp(prefix="ember-demo-")
    cfg = DemoConfig(SessionConfig(state=state, scale=a.scale, embedder=a.embedder, actor=a.actor, threads=a.threads,
                                   seed=a.seed), idle_s=a.idle, plots=not a.no_plots)
    say = (lambda s: print(s, file=sys.stderr)) if a.json else print
    res = run(cfg, a.seed, say=say)
    if a.json:
        print(json.dumps(res, default=float))
    else:
        print(f"{res['exchanges']} exchanges, {res['impulses']} impulses, {len(res['actions'])} actions, "
              f"{res['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
