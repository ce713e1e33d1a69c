"""``ember idle | sleep | inspect | audit``: work on a saved EMBER state directory.

    ember idle --hours H [--realtime] [--state DIR]     simulated idle: impulses, actions, nightly sleep
    ember sleep [--state DIR]                           replay the episodes since the last sleep
    ember inspect [--json] [--graphml FILE] [--plots DIR] [--state DIR]
    ember audit list|zero|quarantine|release FROM TO [--state DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from .output import emit
from .ember_session import add_common, open_agent, session_config

MULTI = True    # sims.cli passes the subcommand's name first


def _idle(agent, a) -> dict:
    total = a.hours * 3600.0
    chunk = 60.0
    t0 = time.perf_counter()
    events = []
    from tqdm import tqdm
    with tqdm(total=total, unit="sim s", desc="idle", disable=a.json or not sys.stderr.isatty()) as bar:
        done = 0.0
        while done < total - 1e-9:
            step = min(chunk, total - done)
            w0 = time.perf_counter()
            for ev in agent.idle(step, on_event=lambda ev: print(ev.one_line(), file=sys.stderr)):
                events.append(ev)
            done += step
            bar.update(step)
            bar.set_postfix(rtf=f"{(time.perf_counter() - t0) / done:.2f}", impulses=len(events))
            if a.realtime:
                time.sleep(max(0.0, step - (time.perf_counter() - w0)))
    wall = time.perf_counter() - t0
    return {"simulated_s": total, "wall_s": wall, "rtf": wall / max(total, 1e-9), "actions": len(events),
            "by_action": {k: sum(1 for e in events if e.action == k) for k in sorted({e.action for e in events})},
            "synapses": agent.substrate.synapse_count(), "sleeps": len(agent.substrate.meta.get("sleeps", []))}


def _inspect(agent, a) -> dict:
    info = agent.inspect(top=a.top)
    if a.graphml:
        agent.substrate.write_graphml(a.graphml)
        info["graphml"] = a.graphml
    if a.plots:
        info["plots"] = inspect_plots(agent, a.plots)
    return info


def inspect_plots(agent, out_dir: str, last: int = 3) -> list[str]:
    """Three pictures of the memory: the learned-synapse count over simulated time (from the
    checkpoints' history), the association graph, and the assemblies' rates in the 30 s up to
    each of the ``last`` impulses (from their packages), with 3x each one's baseline."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx
    os.makedirs(out_dir, exist_ok=True)
    sub = agent.substrate
    paths = []
    hist = sub.meta.get("history", [])
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if hist:
        ax.plot([h[0] / 3600 for h in hist], [h[1] for h in hist], "-o", ms=2)
    for s in sub.meta.get("sleeps", []):
        ax.axvline(s["t_s"] / 3600, color="k", ls=":", lw=0.8)
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("learned lateral synapses")
    ax.set_title("synapses over time (sleeps dotted)")
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "synapses.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    g = sub.association_graph()
    g.remove_edges_from([(u, v) for u, v, d in g.edges(data=True) if u == v or d["count"] < 10])
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    if g.number_of_nodes():
        pos = nx.spring_layout(g, seed=0)
        col = ["C1" if d.get("kind") == "person" else "C0" for _, d in g.nodes(data=True)]
        w = [1 + 6 * d["weight"] for _, _, d in g.edges(data=True)]
        nx.draw_networkx(g, pos, ax=ax, node_color=col, width=w, font_size=8, node_size=300, arrowsize=8,
                         edge_color="0.5")
    ax.set_title("association graph (persons orange; width: mean weight; >= 10 synapses)")
    ax.axis("off")
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "graph.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    imps = [i for i in sub.impulses if i.rates][-last:]
    fig, axes = plt.subplots(1, max(1, len(imps)), figsize=(4.2 * max(1, len(imps)), 3.2), squeeze=False)
    for ax, imp in zip(axes[0], imps):
        r = imp.rates
        t = [(r["t0_s"] + k * r["bin_s"] - imp.t_s) for k in range(len(r["hz"][0]))]
        for lab, hz in zip(r["labels"], r["hz"]):
            ax.plot(t, hz, label=lab)
        base = {d["label"]: d["baseline_hz"] for d in imp.detections}
        for lab, b in base.items():
            ax.axhline(3 * b, color="k", ls="--", lw=0.7)
        ax.set_title(f"impulse at {imp.t_s / 3600:.2f} h", fontsize=9)
        ax.set_xlabel("s before the trigger")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("assembly rate (Hz); dashed: 3x baseline")
    if not imps:
        axes[0][0].text(0.5, 0.5, "no impulse yet", ha="center", va="center", transform=axes[0][0].transAxes)
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "impulses.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def _audit(agent, a) -> dict:
    sub = agent.substrate
    if a.op == "list":
        s = sub.synapses(a.pre, a.post)
        w = s["weight"] / sub.config.w_max
        return {"from": a.pre, "to": a.post, "count": int(w.size), "mean_weight": float(w.mean()) if w.size else 0.0,
                "max_weight": float(w.max()) if w.size else 0.0, "quarantined": int(s["quarantined"].sum())}
    if a.op == "zero":
        n = sub.zero(a.pre, a.post)
    else:
        n = sub.quarantine(a.pre, a.post, release=(a.op == "release"))
    return {"op": a.op, "from": a.pre, "to": a.post, "synapses": int(n)}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv[0] if argv and argv[0] in ("idle", "sleep", "inspect", "audit") else "inspect"
    rest = argv[1:] if argv and argv[0] == name else argv
    ap = argparse.ArgumentParser(prog=f"ember {name}", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(ap)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    if name == "idle":
        ap.add_argument("--hours", type=float, required=True)
        ap.add_argument("--realtime", action="store_true", help="pace the simulation to the wall clock")
    if name == "inspect":
        ap.add_argument("--graphml", default=None, help="write the association graph to this GraphML file")
        ap.add_argument("--top", type=int, default=20)
        ap.add_argument("--plots", default=None, metavar="DIR",
                        help="write synapses.png, graph.png and impulses.png to DIR")
    if name == "audit":
        ap.add_argument("op", choices=["list", "zero", "quarantine", "release"])
        ap.add_argument("pre", help="label of the presynaptic assembly")
        ap.add_argument("post", help="label of the postsynaptic assembly")
    a = ap.parse_args(rest)
    if name == "idle" and not (a.hours > 0):
        ap.error("--hours must be > 0")
    if not os.path.exists(os.path.join(a.state, "manifest.json")):
        print(f"ember {name}: no EMBER state in {a.state!r} (start one with `ember chat --state {a.state}`)",
              file=sys.stderr)
        return 2
    cfg = session_config(a)
    if name != "idle":     # no language model is needed to inspect, audit or sleep
        from dataclasses import replace
        cfg = replace(cfg, actor="scripted")
    agent = open_agent(cfg)
    from agents.ember.substrate import Interrupted
    from .ember_chat import _interrupts_stop_at_a_bin
    _interrupts_stop_at_a_bin(agent)
    try:
        if name == "idle":
            res = _idle(agent, a)
        elif name == "sleep":
            res = agent.sleep()
        elif name == "inspect":
            res = _inspect(agent, a)
        else:
            res = _audit(agent, a)
    except ValueError as e:
        print(f"ember {name}: {e}", file=sys.stderr)
        agent.close()
        return 2
    except (KeyboardInterrupt, Interrupted):
        agent.substrate.interrupt = False
        agent.close()     # Interrupted comes at a bin boundary: a consistent state to save
        print(f"ember {name}: interrupted; saved at t = {agent.substrate.t_s:.0f} s", file=sys.stderr)
        return 130
    agent.close()
    emit(res, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
