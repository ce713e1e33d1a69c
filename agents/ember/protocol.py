"""EMBER's evaluation protocol (spec section 7): one agent, a scripted three-day, five-domain,
52-message conversation with idle periods and nightly sleeps, run next to seeded counterfactuals
on the same script, measured as the paper's results R3-R10.

Conditions (``CONDITIONS``):

* ``snn``: the agent as it is;
* ``snn_off``: the paper's ablation: the same loop, stores, actor and guardrails, the spiking
  memory never runs (messages are stored and embedded, idle is advanced without simulation);
* ``shuffled``: before every simulated piece of idle (the pauses between messages, the heads and
  the hourly samples) the lateral store is moved onto a fresh seeded random relabelling of the
  concept cells (``Substrate.relabel_lateral``: the same weights, levels and
  graph, no relation to the labelled assemblies);
* ``noise_off``: sigma = 0 on every population from the start (spec AC4: noise is necessary).

Idle (``idle``):

* ``exact`` simulates every idle second;
* ``sampled`` simulates the first ``head_s`` after each session (15 minutes after the first, for
  R6), then ``sample_s`` of every following idle hour, and advances the rest in closed form (``EmberAgent.skip``: silence, exact
  cascade decay, nightly sleeps on time). Impulses can only be seen in the simulated parts, so
  sampled counts of R5 are lower bounds of an exact run's.

The simulated clock starts on day 1 at 00:00 UTC; the script gives each session's day and hour.
The first consolidation comes after the first session (spec 3.4), once its 15 idle minutes are
over (R6 and AC7 are read in the minutes right after the conversation, as AC8 reads them after
the dialogue: the session has ended when the user has gone quiet, and the replay follows it), the
later ones nightly at ``sleep_hour_utc``.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from encoders.base import make_embedder

from .guardrails import GuardrailConfig
from .llm import ScriptedActor
from .loop import AgentConfig, EmberAgent
from .substrate import LATERAL, SubstrateConfig

SCRIPT = os.path.join(os.path.dirname(__file__), "data", "protocol_3day.json")
CONDITIONS = ("snn", "snn_off", "shuffled", "noise_off")
ACTED = ("executed", "dry_run", "pending_approval")     # an action taken (or held for approval)
EPOCH_S = 1767571200.0      # 2026-01-05 00:00 UTC: day 1 of the protocol (any midnight would do)

PAPER = {
    "R3": "first SNN-triggered action after 7 exchanges (14 messages); a reach_out",
    "R4": "a reach_out after person->topic associations fired during an 8-hour idle",
    "R5": "23 impulse-driven actions in 3 days (22 journal + 1 reach_out)",
    "R6": "24 lateral impulses in the first 15 min after a conversation",
    "R7": "0 -> 10,843 synapses after the first conversation -> 53,992 after the first replay (x5) -> +49 %, +51 % "
          "on the next two nightly sleeps -> 201,394",
    "R8": "max lateral weight decayed 1.6 % over 8 h",
    "R9": "knowledge graph 0 -> 64 nodes, 124 edges",
    "R10": "about 0.9 Hz spontaneous",
}


@dataclass(frozen=True)
class ProtocolConfig:
    scale: float = 0.05
    idle: str = "sampled"            # exact | sampled
    head_s: float = 300.0            # sampled: the first 5 min after a session run exactly (15 after the first: R6)
    sample_s: float = 60.0           # sampled: then this much of every idle hour runs exactly
    conditions: tuple = CONDITIONS
    actor: str = "scripted"          # scripted (the script's assistant turns) or env (EMBER_LLM_*)
    embedder: str = "hashing"        # hashing (no torch) or minilm
    threads: int = 1
    script: str = SCRIPT
    edge_min_synapses: int = 10      # R9: an association-graph edge needs this many lateral synapses

    def __post_init__(self):
        if self.idle not in ("exact", "sampled"):
            raise ValueError(f"ProtocolConfig.idle must be 'exact' or 'sampled', got {self.idle!r}")
        if not 0 < self.scale <= 1:
            raise ValueError(f"ProtocolConfig.scale must be in (0, 1], got {self.scale!r}")
        if not (0 < self.sample_s <= 3600 and self.head_s >= 0):
            raise ValueError("ProtocolConfig needs 0 < sample_s <= 3600 and head_s >= 0")
        bad = [c for c in self.conditions if c not in CONDITIONS]
        if bad or not self.conditions:
            raise ValueError(f"ProtocolConfig.conditions: unknown {bad}; choose from {CONDITIONS}")


def load_script(path: str = SCRIPT) -> dict:
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    last = 0.0
    for k, s in enumerate(d["sessions"]):
        start = (s["day"] - 1) * 24.0 + s["start_h"]
        if start < last:
            raise ValueError(f"protocol script: session {k + 1} starts before the previous one ends")
        s["t_h"] = start
        last = start + len(s["turns"]) * d.get("turn_gap_s", 10) / 3600.0
    if d.get("end_h", 72) < last:
        raise ValueError("protocol script: end_h is before the last session ends")
    return d


def _actor(cfg: ProtocolConfig, script: dict, seed: int):
    if cfg.actor == "scripted":
        replies = [t["assistant"] for s in script["sessions"] for t in s["turns"]]
        return ScriptedActor(actions=("journal", "reach_out", "journal"), replies=replies, seed=seed)
    from agents.ember.llm import make_actor
    return make_actor()


class _Run:
    """One condition, one seed: the agent, the schedule, and what is measured on the way."""

    def __init__(self, cfg: ProtocolConfig, condition: str, seed: int, state_dir: str, embedder, script: dict,
                 log=None):
        self.cfg, self.condition, self.seed, self.script = cfg, condition, seed, script
        self.log = log or (lambda msg: None)
        sc = SubstrateConfig.at_scale(cfg.scale, seed)
        self.agent = EmberAgent(state_dir, config=AgentConfig(substrate=sc, snn=condition != "snn_off",
                                                              save_every_turns=0),
                                actor=_actor(cfg, script, seed), embedder=embedder, threads=cfg.threads,
                                guardrails=GuardrailConfig(utc_offset_h=0.0), epoch_s=EPOCH_S)
        self.sub = self.agent.substrate
        if condition == "noise_off":
            for g in self.sub.sim.groups:
                if g.kind == "lif":
                    g.params["sigma"] = 0.0
                    g.refresh()
        from spiking import SpikeCounts
        self._spikes = {p: self.sub.sim.add_monitor(SpikeCounts(p)) for p in self.sub.config.sizes}
        self.exchanges = 0
        self.turn_of_event: list[int] = []
        self.trajectory: list[tuple[float, int]] = [(0.0, 0)]
        self.stretches: list[dict] = []
        self.quiet = {"spikes": 0, "s": 0.0}
        self.first_impulse_exchange = None
        self.first_impulse = None
        self.first_replay = None
        self._shuffles = 0
        self._first_session = len(script["sessions"][0]["turns"])

    # -- idle -------------------------------------------------------------------------------------
    def _mark(self):
        self.trajectory.append((self.sub.t_s / 3600.0, self.sub.synapse_count()))

    def _spike_total(self) -> int:
        return int(sum(int(m.counts.sum()) for m in self._spikes.values()))

    def _exact(self, seconds: float, quiet: bool):
        if seconds <= 0:
            return
        if self.condition == "shuffled":
            self.sub.relabel_lateral(self.seed * 1_000_003 + self._shuffles)
            self._shuffles += 1
        before = self._spike_total() if quiet else 0
        n_imp = len(self.sub.impulses)
        self.agent.idle(seconds, on_event=self._event)
        if self.first_impulse is None and len(self.sub.impulses) > n_imp:
            self.first_impulse = self.sub.impulses[n_imp]
            self.first_impulse_exchange = self.exchanges
        if quiet and self.condition != "snn_off":
            self.quiet["spikes"] += self._spike_total() - before
            self.quiet["s"] += seconds

    def _event(self, ev):
        self.turn_of_event.append(self.exchanges)

    def idle(self, seconds: float, after_session: bool, replay_after_head: bool = False) -> float:
        """One idle stretch: exact, or the head and an hourly sample exactly and the rest skipped.
        With ``replay_after_head`` the session's consolidation runs when the head is over (its
        counts before and after go to ``self.first_replay``). Returns the head's length (the
        exactly simulated start, 15 min in exact mode)."""
        t0, w0 = self.sub.t_s, self._max_weight()
        sleeps0 = len(self.sub.meta.get("sleeps", []))
        want = 900.0 if (self.cfg.idle == "exact" or self.exchanges == self._first_session) else self.cfg.head_s
        head = min(seconds, want) if after_session else 0.0
        self._exact(head, quiet=False)
        self.head_detections = self.sub.detector.detections_total
        if replay_after_head:
            before = self.sub.synapse_count()
            self.agent.sleep()
            self.first_replay = (before, self.sub.synapse_count())
            self._mark()
        if self.cfg.idle == "exact" or self.condition == "snn_off":
            self._exact(seconds - head, quiet=True)
        else:
            rest = seconds - head
            while rest > 1e-9:
                hour = min(3600.0, rest)
                sample = min(self.cfg.sample_s, hour)
                self._exact(sample, quiet=True)
                self.agent.skip(hour - sample, on_event=self._event)
                rest -= hour
                self._mark()
        self._mark()
        self.stretches.append({"start_h": t0 / 3600.0, "end_h": self.sub.t_s / 3600.0, "max_w_start": w0,
                               "max_w_end": self._max_weight(),
                               "slept": len(self.sub.meta.get("sleeps", [])) > sleeps0})
        return head

    def _max_weight(self) -> float:
        w = self.sub.sim.weights(LATERAL)
        return float(w.max() / self.sub.config.w_max) if w.size else 0.0

    # -- the script -------------------------------------------------------------------------------
    def run(self) -> dict:
        sc = self.script
        gap = float(sc.get("turn_gap_s", 10.0))
        sessions = sc["sessions"]
        after_first, session_end, detections_15 = None, [], None
        wall0 = time.perf_counter()
        self.idle(sessions[0]["t_h"] * 3600.0, after_session=False)
        for k, s in enumerate(sessions):
            for j, t in enumerate(s["turns"]):
                self.agent.chat(t["user"])
                self.exchanges += 1
                if j + 1 < len(s["turns"]):
                    self._exact(gap, quiet=False)
            self._mark()
            session_end.append(self.sub.synapse_count())
            nxt = sessions[k + 1]["t_h"] if k + 1 < len(sessions) else float(sc.get("end_h", 72))
            d0 = self.sub.detector.detections_total
            # the first consolidation comes after the first conversation (spec 3.4), once its
            # 15 idle minutes (R6) are over
            head = self.idle(nxt * 3600.0 - self.sub.t_s, after_session=True, replay_after_head=k == 0)
            if k == 0:
                after_first = self.first_replay
                if head >= 900.0:
                    detections_15 = self.head_detections - d0
            self.log(f"  session {k + 1} (day {s['day']}, {s['start_h']:g} h): {self.exchanges} exchanges, "
                     f"{self.sub.synapse_count()} synapses, {len(self.agent.events)} events "
                     f"({time.perf_counter() - wall0:.0f} s)")
        return self._result(after_first, session_end, detections_15, time.perf_counter() - wall0)

    # -- results ----------------------------------------------------------------------------------
    def _result(self, after_first, session_end, detections_15, wall_s) -> dict:
        sub, ag = self.sub, self.agent
        acted = [(ev, n) for ev, n in zip(ag.events, self.turn_of_event)
                 if ev.status in ACTED and ev.action != "silent"]
        kinds = {}
        for ev, _ in acted:
            kinds[ev.action] = kinds.get(ev.action, 0) + 1
        per_day = [0] * max(x["day"] for x in self.script["sessions"])
        for ev, _ in acted:
            day = int(ev.t_s // 86400)
            if 0 <= day < len(per_day):
                per_day[day] += 1

        def names(evidence):
            k = {a["kind"] for a in evidence.get("assemblies", [])}
            return "person" in k and "topic" in k

        first = acted[0] if acted else None
        reach = [ev for ev, _ in acted if ev.action == "reach_out"]
        nights = [s for s in sub.meta.get("sleeps", []) if s.get("items")]
        # the nightly replays after the first: each one's own growth (after / just before, as AC10),
        # and night over night (after / after the previous replay)
        growth = [n["synapses_after"] / n["synapses_before"] - 1.0 if n["synapses_before"] else None
                  for n in nights[1:]]
        over = [nights[i]["synapses_after"] / nights[i - 1]["synapses_after"] - 1.0
                if nights[i - 1]["synapses_after"] else None for i in range(1, len(nights))]
        quiet = [s for s in self.stretches if not s["slept"] and s["end_h"] - s["start_h"] >= 1.0]
        r8 = max(quiet, key=lambda s: s["end_h"] - s["start_h"]) if quiet else None
        g = sub.association_graph()
        edges = [(a, b) for a, b, d in g.edges(data=True) if a != b and d["count"] >= self.cfg.edge_min_synapses]
        fi = self.first_impulse
        return {
            "condition": self.condition, "seed": self.seed, "wall_s": wall_s,
            "R3": {"first_action_exchange": first[1] if first else None,
                   "first_action": first[0].action if first else None,
                   "first_action_names_person_and_topic": names(first[0].evidence) if first else None,
                   "first_impulse_exchange": self.first_impulse_exchange,
                   "first_impulse_labels": [a["label"] for a in fi.assemblies] if fi else None,
                   "first_impulse_names_person_and_topic": names({"assemblies": fi.assemblies}) if fi else None,
                   "first_impulse_h": fi.t_s / 3600.0 if fi else None},
            "R4": {"reach_outs": len(reach), "reach_outs_naming_person_and_topic": sum(names(e.evidence) for e in reach)},
            "R5": {"actions": len(acted), "by_kind": kinds, "per_day": per_day,
                   "impulses": len(sub.impulses), "refused": sum(ev.status == "refused" for ev in ag.events)},
            "R6": {"detections_15min": detections_15},
            "R7": {"after_session_1": session_end[0] if session_end else 0,
                   "after_first_replay": after_first[1] if after_first else 0,
                   "first_replay_factor": (after_first[1] / after_first[0]) if after_first and after_first[0] else None,
                   "nightly_growth": growth, "night_over_night": over, "final": sub.synapse_count(),
                   "trajectory_h": [[round(t, 4), n] for t, n in self.trajectory]},
            "R8": {"max_weight_loss": (1.0 - r8["max_w_end"] / r8["max_w_start"]) if r8 and r8["max_w_start"] > 0 else None,
                   "hours": (r8["end_h"] - r8["start_h"]) if r8 else None,
                   "max_weight_start": r8["max_w_start"] if r8 else None},
            "R9": {"nodes": g.number_of_nodes(), "edges": len(edges)},
            "R10": {"rate_hz": (self.quiet["spikes"] / (sum(sub.config.sizes.values()) * self.quiet["s"]))
                    if self.quiet["s"] > 0 else None, "seconds": self.quiet["s"]},
            "events": [{"t_h": ev.t_s / 3600.0, "action": ev.action, "status": ev.status, "exchange": n,
                        "assemblies": [a["label"] for a in ev.evidence.get("assemblies", [])][:4]}
                       for ev, n in zip(ag.events, self.turn_of_event)],
            "simulated_exact_s": self.quiet["s"],
        }

    def close(self):
        self.agent.close()


def run_condition(cfg: ProtocolConfig, condition: str, seed: int, embedder=None, state_dir: str | None = None,
                  log=None) -> dict:
    """Run the script once under ``condition`` with ``seed``; returns the R3-R10 figures."""
    script = load_script(cfg.script)
    embedder = embedder or make_embedder(cfg.embedder)
    with tempfile.TemporaryDirectory(prefix="ember-protocol-") as tmp:
        r = _Run(cfg, condition, seed, state_dir or tmp, embedder, script, log)
        try:
            return r.run()
        finally:
            r.close()


def summarise(values) -> dict | None:
    """Mean, sd, min and max of the numbers among ``values`` (None when there are none)."""
    v = np.array([x for x in values if isinstance(x, (int, float)) and math.isfinite(x)], float)
    if v.size == 0:
        return None
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}


__all__ = ["CONDITIONS", "PAPER", "ProtocolConfig", "load_script", "run_condition", "summarise"]
