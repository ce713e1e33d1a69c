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
        from .ember_plots import inspect_plots
        info["plots"] = inspect_plots(agent.substrate, a.plots)
    return info


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
