"""The paper's acceptance checks for EMBER's memory substrate (spec section 8), at any scale.

    python -m sims.ember_checks --json [--scale 1.0] [--hours H] [--seed 0] [--backend numba|cuda]

Prints one JSON object, one entry per check, ``{"AC3": {"figure": ..., "paper": ..., "pass": ...}, ...}``,
and exits 1 when any check fails. Each check runs on its own fresh substrate:

* AC3: zero learned weights, sigma = 0.1, ``--hours`` of exact idle: mean rate 0.9 +- 0.3 Hz, no
  population burst above 5 Hz for more than 1 s, 0 significant impulses (assemblies of the
  dialogue's labels are made first, so the detector has something to watch);
* AC4: sigma = 0 with the dialogue's weights learned: 0 idle spikes and 0 impulses (min(hours, 1) h);
* AC6: the shipped 7-exchange dialogue from zero: 3e3-3e4 lateral synapses (the same band at every
  scale: the 200-cell assemblies do not shrink, and synapses among them are most of the store) and a
  person -> topic pair with mean weight >= 0.3 w_max;
* AC8: >= 10 detections in the first 15 simulated minutes after that dialogue;
* AC9: 8 idle hours (closed form: with dopamine off only cascade decay changes a weight): the
  strongest consolidated weight loses <= 3 %, a never-consolidated one >= 50 %;
* AC10: the first replay multiplies the learned-synapse count by >= 2; two more nights, a new
  session before each, each replaying the episodes since the last replay, add 30-70 % each (a
  replay's growth: the count after it over the count just before it);
* AC11: save, open, 60 s: spikes identical to an uninterrupted run, and every component restored;
* AC13 (``--backend cuda``, on a GPU): after the dialogue, idle at >= 1x real time at 220,000 neurons in
  <= 16 GB of device memory (``--ac13-seconds`` timed; under numba's CUDA simulator it runs but cannot
  be timed, and says so: it fails).

The embedder is the packaged all-MiniLM-L6-v2 when it is installed (``--embedder minilm``), or the
hashing embedder (``--embedder hashing``, the default below full scale: fast and torch-free).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

DIALOGUE = os.path.join(os.path.dirname(__file__), "..", "agents", "ember", "data", "dialogue_ac6.json")


@dataclass(frozen=True)
class ChecksConfig:
    scale: float = 1.0
    hours: float = 1.0
    embedder: str = "auto"        # auto: minilm at full scale, hashing below
    threads: int = 2
    checks: tuple = ("AC3", "AC4", "AC6", "AC8", "AC9", "AC10", "AC11")
    backend: str = "numba"
    ac13_seconds: float = 10.0     # simulated idle seconds timed for AC13 (after up to 1 s of warm-up)
    ac13_messages: int = 7         # dialogue messages presented before AC13's idle


def _embedder(cfg: ChecksConfig):
    from encoders.base import make_embedder
    return make_embedder(cfg.embedder if cfg.embedder != "auto" else ("minilm" if cfg.scale >= 1.0 else "hashing"))


def _substrate(cfg: ChecksConfig, seed: int, enc, **over):
    from agents.ember.substrate import Substrate, SubstrateConfig
    sc = SubstrateConfig.at_scale(cfg.scale, seed, **over)
    return Substrate(sc, backend=cfg.backend, threads=cfg.threads, encoder=enc)


GAP_S = 10.0    # simulated idle between messages: a conversation has pauses, so phasic pulses decay


def _dialogue(sub, messages=None, gap_s: float = GAP_S):
    """Present the shipped dialogue as a conversation: each message with tonic dopamine, and ``gap_s``
    of idle before the next (no phasic reward: docs/substrate.md, "Reward")."""
    d = json.load(open(DIALOGUE))
    msgs = d["messages"] if messages is None else messages
    for i, m in enumerate(msgs):
        sub.present(m["text"], m["labels"], kinds=d["kinds"], message_id=i + 1)
        if gap_s and i + 1 < len(msgs):
            sub.idle(gap_s)
    return d


def _check(figure, paper, ok, **more):
    return {"figure": figure, "paper": paper, "pass": bool(ok), **more}


def ac3(cfg, seed, enc):
    from spiking import PopulationRate
    sub = _substrate(cfg, seed, enc)
    d = json.load(open(DIALOGUE))
    for lab, kind in d["kinds"].items():
        sub.assembly(lab, kind)
    mons = {p: sub.sim.add_monitor(PopulationRate(p, bin_ms=1000.0)) for p in
            ("sensory", "concept", "category", "meta", "inhibitory")}
    t0 = time.perf_counter()
    imps = sub.idle(cfg.hours * 3600.0)
    wall = time.perf_counter() - t0
    sizes = sub.config.sizes
    total = sum(m.counts.astype(np.float64) for m in mons.values()) / sum(sizes.values())
    mean = float(total.mean())
    burst = int((total > 5.0).sum())
    ok = abs(mean - 0.9) <= 0.3 and burst == 0 and not imps
    return _check({"rate_hz": mean, "bins_over_5hz": burst, "impulses": len(imps), "hours": cfg.hours,
                   "per_layer_hz": {p: float(m.counts.mean() / sizes[p]) for p, m in mons.items()}},
                  "0.9 Hz, no burst, 0 impulses in 8 h", ok, wall_s=wall, rtf=wall / (cfg.hours * 3600.0))


def ac4(cfg, seed, enc):
    from spiking import SpikeCounts
    sub = _substrate(cfg, seed, enc)
    _dialogue(sub)
    learned = sub.synapse_count()
    for g in sub.sim.groups:      # sigma = 0 on every neuron population
        if g.kind == "lif":
            g.params["sigma"] = 0.0
            g.refresh()
    sub.idle(20.0)                # let the dialogue's activity die out
    counts = {p: sub.sim.add_monitor(SpikeCounts(p)) for p in ("sensory", "concept", "category", "meta", "inhibitory")}
    hours = min(cfg.hours, 1.0)
    imps = sub.idle(hours * 3600.0)
    spikes = int(sum(int(c.counts.sum()) for c in counts.values()))
    return _check({"idle_spikes": spikes, "impulses": len(imps), "learned_synapses": learned, "hours": hours},
                  "0 spikes, 0 impulses", spikes == 0 and not imps and learned > 0)


def ac6_ac8(cfg, seed, enc, want):
    sub = _substrate(cfg, seed, enc)
    t0 = time.perf_counter()
    d = _dialogue(sub)
    present_s = (time.perf_counter() - t0) / len(d["messages"])
    n = sub.synapse_count()
    g = sub.association_graph()
    persons = [k for k, v in d["kinds"].items() if v == "person"]
    topics = [k for k, v in d["kinds"].items() if v == "topic"]
    pairs = {f"{p}->{t}": (g.edges[p, t]["weight"] if g.has_edge(p, t) else 0.0) for p in persons for t in topics}
    best = max(pairs.values()) if pairs else 0.0
    lo, hi = 3e3, 3e4     # the assemblies are full-size at every scale, and their pairs hold most synapses
    out = {}
    if "AC6" in want:
        out["AC6"] = _check({"synapses": n, "band": [lo, hi], "person_topic_mean_weight": pairs, "best": best},
                            "10,843 synapses; a person->topic pair >= 0.3 w_max", lo <= n <= hi and best >= 0.3,
                            present_wall_s_per_message=present_s)
    if "AC8" in want:
        before = sub.detector.detections_total
        imps = sub.idle(15 * 60.0)
        det = sub.detector.detections_total - before
        out["AC8"] = _check({"detections": det, "impulses": len(imps)}, "24 lateral impulses in 15 min", det >= 10)
    return out


def ac9(cfg, seed, enc):
    sub = _substrate(cfg, seed, enc)
    d = json.load(open(DIALOGUE))
    _dialogue(sub, d["messages"][:6])
    eps = [(sub.embed(m["text"]), m["labels"]) for m in d["messages"][:6]]
    for _ in range(4):            # four nights: the most replayed synapses reach the top level
        sub.consolidate(eps)
    s = sub.synapses()
    if s["synapse"].size == 0:
        return _check({"synapses": 0}, "max weight -1.6 % in 8 h", False)
    top = int(s["level"].max())
    cons = s["synapse"][s["level"] == top]
    w0 = sub.sim.weights("lateral")
    strongest = int(cons[np.argmax(w0[cons])])
    never = s["synapse"][s["level"] == 0]
    sub.sim.advance_idle(8 * 3600e3)
    # pruning compacts the store: follow the two synapses by (pre, post)
    pre, post = s["pre"], s["post"]
    s1 = sub.synapses()
    after = {(int(a), int(b)): float(w) for a, b, w in zip(s1["pre"], s1["post"], s1["weight"])}
    loss_top = 1.0 - after.get((int(pre[strongest]), int(post[strongest])), 0.0) / float(w0[strongest])
    loss_never = None
    if never.size:
        j = int(never[np.argmax(w0[never])])
        loss_never = 1.0 - after.get((int(pre[j]), int(post[j])), 0.0) / float(w0[j])
    ok = loss_top <= 0.03 and loss_never is not None and loss_never >= 0.5
    return _check({"strongest_consolidated_loss": loss_top, "level": top, "never_consolidated_loss": loss_never},
                  "1.6 % (max weight, 8 h)", ok)


def ac10(cfg, seed, enc):
    """Three sessions of the dialogue, each followed by a replay of the episodes since the last one
    (what the agent does: after the first session, then nightly). A replay's growth is its own:
    the learned-synapse count after it over the count just before it."""
    sub = _substrate(cfg, seed, enc)
    d = json.load(open(DIALOGUE))
    msgs = d["messages"]
    sessions = [msgs[:8], msgs[8:11], msgs[11:]]
    counts = []
    for sess in sessions:
        _dialogue(sub, sess)
        sub.idle(GAP_S)               # the session's last activity settles (and its dead synapses are pruned)
        before = sub.synapse_count()
        sub.consolidate([(sub.embed(m["text"]), m["labels"]) for m in sess])
        counts.append((before, sub.synapse_count()))
    first = counts[0][1] / max(counts[0][0], 1)
    nightly = [counts[k][1] / max(counts[k][0], 1) - 1.0 for k in (1, 2)]
    ok = first >= 2.0 and all(0.3 <= x <= 0.7 for x in nightly)
    return _check({"first_replay_factor": first, "nightly_growth": nightly, "counts": counts},
                  "x5 after the first replay; +49 %, +51 %", ok)


def ac11(cfg, seed, enc):
    from agents.ember.substrate import LATERAL, Substrate
    from spiking import SpikeTrains
    with tempfile.TemporaryDirectory() as tmp:
        a = _substrate(cfg, seed, enc)
        _dialogue(a, json.load(open(DIALOGUE))["messages"][:4])
        a.idle(5.0)
        t0 = time.perf_counter()
        a.save(tmp)
        save_s = time.perf_counter() - t0
        size = os.path.getsize(os.path.join(tmp, "substrate.h5"))
        t0 = time.perf_counter()
        b = Substrate.open(tmp, encoder=enc, backend=cfg.backend, threads=cfg.threads)
        load_s = time.perf_counter() - t0
        same_state = (b.detector.state() == a.detector.state() and list(b.assemblies) == list(a.assemblies)
                      and b.last_message_id == a.last_message_id
                      and np.array_equal(b.sim.weights(LATERAL), a.sim.weights(LATERAL)))
        ta, tb = a.sim.add_monitor(SpikeTrains("concept")), b.sim.add_monitor(SpikeTrains("concept"))
        a.idle(60.0)
        b.idle(60.0)
        same_spikes = np.array_equal(ta.steps, tb.steps) and np.array_equal(ta.indices, tb.indices)
    return _check({"spikes_identical_60s": bool(same_spikes), "state_identical": bool(same_state),
                   "spikes_compared": int(ta.steps.size)}, "bit-identical", same_spikes and same_state,
                  save_s=save_s, load_s=load_s, checkpoint_bytes=size)


def ac13(cfg, seed, enc):
    from numba import config as nb_config
    from .ember_bench import _device_peak
    sub = _substrate(cfg, seed, enc)
    d = json.load(open(DIALOGUE))
    _dialogue(sub, d["messages"][:cfg.ac13_messages], gap_s=0.0)
    sub.idle(min(1.0, cfg.ac13_seconds))      # warm-up; the housekeeping at the second's end indexes the store
    be = sub.sim.backend
    t0 = time.perf_counter()
    sub.idle(cfg.ac13_seconds)
    be.synchronize()
    wall = time.perf_counter() - t0
    mem = _device_peak() if cfg.backend == "cuda" else None
    simulated = cfg.backend == "cuda" and bool(nb_config.ENABLE_CUDASIM)
    figure = {"realtime_x": cfg.ac13_seconds / wall, "device_bytes": mem, "neurons": sum(sub.config.sizes.values()),
              "seconds": cfg.ac13_seconds, "backend": cfg.backend, "device_blocks": sub.sim._blocks.why_not() is None}
    ok = (cfg.backend == "cuda" and not simulated and cfg.scale >= 1.0 and wall <= cfg.ac13_seconds
          and mem is not None and mem <= 16e9)
    note = ("numba's CUDA simulator: nothing to time" if simulated else
            "AC13 is a GPU check: --backend cuda" if cfg.backend != "cuda" else None)
    return _check(figure, ">= 1x real time at 220k neurons, <= 16 GB", ok, **({"note": note} if note else {}))


def run(config: ChecksConfig, seed: int = 0) -> dict:
    enc = _embedder(config)
    want = set(config.checks)
    out = {}
    if "AC3" in want:
        out["AC3"] = ac3(config, seed, enc)
    if "AC4" in want:
        out["AC4"] = ac4(config, seed, enc)
    if want & {"AC6", "AC8"}:
        out.update(ac6_ac8(config, seed, enc, want))
    if "AC9" in want:
        out["AC9"] = ac9(config, seed, enc)
    if "AC10" in want:
        out["AC10"] = ac10(config, seed, enc)
    if "AC11" in want:
        out["AC11"] = ac11(config, seed, enc)
    if "AC13" in want:
        out["AC13"] = ac13(config, seed, enc)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sims.ember_checks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--hours", type=float, default=1.0, help="simulated idle hours for AC3 (AC4: at most 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--embedder", choices=["auto", "minilm", "hashing"], default="auto")
    ap.add_argument("--only", default="", help="comma-separated checks, e.g. AC6,AC8")
    ap.add_argument("--backend", choices=["numba", "cuda"], default="numba",
                    help="cuda: the device backend (adds AC13 to the default checks)")
    ap.add_argument("--ac13-seconds", type=float, default=10.0, help="simulated idle seconds AC13 times")
    ap.add_argument("--ac13-messages", type=int, default=7, help="dialogue messages presented before AC13")
    a = ap.parse_args(argv)
    if not 0 < a.scale <= 1 or a.hours <= 0 or a.ac13_seconds <= 0 or a.ac13_messages < 0:
        ap.error("need 0 < scale <= 1, hours > 0, ac13-seconds > 0 and ac13-messages >= 0")
    checks = tuple(x.strip().upper() for x in a.only.split(",") if x.strip()) or (
        ChecksConfig.checks + (("AC13",) if a.backend == "cuda" else ()))
    unknown = set(checks) - set(ChecksConfig.checks) - {"AC13"}
    if unknown:
        ap.error(f"unknown checks {sorted(unknown)}; known: {list(ChecksConfig.checks) + ['AC13']}")
    res = run(ChecksConfig(scale=a.scale, hours=a.hours, embedder=a.embedder, threads=a.threads, checks=checks,
                           backend=a.backend, ac13_seconds=a.ac13_seconds, ac13_messages=a.ac13_messages), a.seed)
    if a.json:
        print(json.dumps(res, default=float))
    else:
        for k, v in res.items():
            print(f"{k}: {'pass' if v['pass'] else 'FAIL'}  {json.dumps(v['figure'], default=float)}  (paper: {v['paper']})")
    return 0 if all(v["pass"] for v in res.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
