"""EMBER's agent loop: the spiking memory (``substrate.Substrate``) and the language side
(``agent.Agent``: actor, soul, stores, guardrails) joined into one agent (spec sections 5-7).

One state directory holds everything, and reopening it resumes:

    manifest.json    the substrate's configuration and schema (substrate.py)
    substrate.h5     the network state, labels, detector and the agent's own counters
    memory.sqlite    the messages, facts, journal and action log (store.py)

A conversation turn (``EmberAgent.chat``):

1. the message is stored first (the SQLite store is the write-ahead log);
2. its labels are extracted (persons and topics) and stored with it;
3. it is embedded once; that embedding is stored and coded into the sensory layer;
4. the substrate learns it (``present``), co-stimulating the labelled assemblies, and surfaces
   the associations the actor sees in its context;
5. the actor replies; the reply is stored and presented too.

Reward (a [D] rule, docs/agent.md): a user message that answers one of the agent's replies is
engagement, a phasic dopamine pulse of ``reward_engagement`` before the message is learned;
``feedback(+1 / -1)`` ("good" / "bad") sends ``+-reward_feedback``.

Between messages the substrate idles (``idle``): every significant impulse goes to
``Agent.on_trigger`` under the guardrails, and the action-log row carries the impulse's whole
package (assemblies, detections, synapses, simulated time, checkpoint id), so "why did it say
that?" is answered by spikes. Sleep (``sleep``) replays the episodes since the last sleep; it
runs when a session ends and nightly by the simulated clock (``sleep_hour_utc``).

On opening, the messages stored after the substrate's last learned one (a crash between storing
and saving) are presented again, in order: a kill -9 loses no message, only at most one autosave
interval of simulated idle.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field, replace


from .agent import Agent
from .guardrails import GuardrailConfig
from .store import MemoryStore
from .substrate import Substrate, SubstrateConfig, SubstrateError
from .types import SurfacedAssociations

log = logging.getLogger(__name__)

DAY_S = 86400.0


@dataclass(frozen=True)
class AgentConfig:
    """The hybrid agent's own knobs ([D] defaults, docs/agent.md); the substrate's are in ``substrate``."""

    substrate: SubstrateConfig = field(default_factory=SubstrateConfig)
    reward_engagement: float = 0.0       # phasic dopamine when the user answers a reply (off: docs/agent.md)
    reward_feedback: float = 0.5         # explicit good / bad
    topics_per_message: int = 2          # the extractor's strongest topics that get assemblies
    sleep_hour_utc: float = 3.0          # nightly replay when the simulated clock passes this hour
    save_every_turns: int = 1            # checkpoint after this many turns (0: only at idle autosave / close)
    snn: bool = True                     # False: the paper's ablation (the same loop, the spiking memory never runs)
    defer_max_s: float = 600.0           # an impulse deferred while the user was talking is offered at most this late

    def __post_init__(self):
        if not isinstance(self.substrate, SubstrateConfig):
            raise ValueError("AgentConfig.substrate must be a SubstrateConfig")
        if not isinstance(self.defer_max_s, (int, float)) or not self.defer_max_s >= 0:
            raise ValueError(f"AgentConfig.defer_max_s must be a number >= 0, got {self.defer_max_s!r}")
        for name in ("reward_engagement", "reward_feedback", "sleep_hour_utc"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"AgentConfig.{name} must be a finite number, got {v!r}")
        if not 0 <= self.sleep_hour_utc < 24:
            raise ValueError(f"AgentConfig.sleep_hour_utc must be in [0, 24), got {self.sleep_hour_utc!r}")
        if not isinstance(self.topics_per_message, int) or self.topics_per_message < 0:
            raise ValueError("AgentConfig.topics_per_message must be an int >= 0")


@dataclass(frozen=True)
class Turn:
    """What one conversation turn did: the reply, the labels, what the memory surfaced."""
    reply: str
    user_message_id: int
    reply_id: int | None
    labels: tuple
    surfaced: SurfacedAssociations | None
    error: str = ""


@dataclass(frozen=True)
class Event:
    """One autonomous action (or refusal) with the impulse that caused it."""
    action: str
    status: str
    content: str
    reason: str
    log_id: int
    t_s: float
    evidence: dict

    def one_line(self) -> str:
        who = ", ".join(f"{a['label']} x{a['strength']:.1f}" for a in self.evidence.get("assemblies", [])[:3])
        n = len(self.evidence.get("detections", []))
        syn = self.evidence.get("synapses", {})
        return (f"[{self.action} {self.status}] because {who} fired ({n} detections; {syn.get('count', 0)} lateral "
                f"synapses, mean {syn.get('mean_weight', 0.0):.2f} w_max) at t = {self.t_s / 3600:.2f} h")

    def to_dict(self) -> dict:
        return {"action": self.action, "status": self.status, "content": self.content, "reason": self.reason,
                "log_id": self.log_id, "t_s": self.t_s, "evidence": self.evidence}


def _strength(package: dict) -> float:
    a = package.get("assemblies") or []
    return float(a[0]["strength"]) if a else 0.0


class EmberAgent:
    """The hybrid agent in one state directory. ``EmberAgent(dir)`` opens (or creates) it."""

    def __init__(self, state_dir, *, config: AgentConfig | None = None, actor=None, embedder=None, extractor=None,
                 guardrails: GuardrailConfig | None = None, deliver=None, backend: str = "numba", threads: int = 2,
                 soul=None, epoch_s: float | None = None):
        self.config = cfg = config or AgentConfig()
        self.state_dir = os.fspath(state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        if embedder is None:
            from encoders.st import SentenceTransformerEmbedder
            embedder = SentenceTransformerEmbedder()
        if extractor is None:
            from .extract import Extractor
            extractor = Extractor()
        if actor is None:
            from .llm import make_actor
            actor = make_actor()
        self.extractor = extractor
        # the store first: if the substrate cannot be opened, nothing is lost and the error says why
        self.store = MemoryStore(os.path.join(self.state_dir, "memory.sqlite"))
        try:   # Substrate.open refuses a directory made with another configuration than the one given
            self.substrate = Substrate.open(self.state_dir, None if config is None else cfg.substrate,
                                            backend=backend, threads=threads, encoder=embedder)
        except Exception:
            self.store.close()
            raise
        self.config = replace(cfg, substrate=self.substrate.config)   # an existing directory's own
        self.agent = Agent(actor, self.store, soul, guardrails=guardrails, deliver=deliver, clock=self.clock)
        meta = self.substrate.meta
        if epoch_s is not None and "next_sleep_t_s" not in meta:   # a new state: its clock starts at epoch_s
            self.substrate.epoch_s = float(epoch_s)
        meta.setdefault("last_sleep_message_id", None)
        meta.setdefault("next_sleep_t_s", self._next_night(self.substrate.t_s))
        meta.setdefault("last_reply_id", None)
        meta.setdefault("turns", 0)
        self.events: list[Event] = []
        self.last_timing: dict = {}
        self.relearned = self._catch_up()

    # -- time -------------------------------------------------------------------------------------
    def clock(self) -> float:
        """The agent's time: wall-clock seconds of the substrate's simulated now."""
        return self.substrate.epoch_s + self.substrate.t_s

    def _next_night(self, t_s: float) -> float:
        """Simulated time of the next ``sleep_hour_utc`` after ``t_s``."""
        now = self.substrate.epoch_s + t_s
        day0 = math.floor(now / DAY_S) * DAY_S
        night = day0 + self.config.sleep_hour_utc * 3600.0
        if night <= now:
            night += DAY_S
        return night - self.substrate.epoch_s

    # -- labels and learning ----------------------------------------------------------------------
    def _labels(self, text: str, create: bool = True) -> tuple[list, dict]:
        """Persons and the strongest topics of ``text`` that have (or, with ``create``, can get) an
        assembly. Persons already known are recognised wherever they stand in a sentence."""
        sub = self.substrate
        known = getattr(self.extractor, "known", None)
        if isinstance(known, set):
            known.update(a.label for a in sub.assemblies.values() if a.kind == "person")
        try:
            ex = self.extractor.extract(text)
        except Exception as e:    # extraction is best effort
            log.warning("extraction failed: %s: %s", type(e).__name__, e)
            return [], {}
        kinds = {p: "person" for p in ex.persons}
        names = {w.lower() for a in sub.assemblies.values() if a.kind == "person" for w in a.label.split()}
        names |= {w.lower() for p in ex.persons for w in p.split()}
        topics: list[str] = []
        for t in ex.topics:
            if names & set(t.lower().split()):      # a person's name is not a topic
                continue
            t = self._known_topic(t, topics)
            if t not in topics:
                topics.append(t)
        if create:
            topics = topics[: self.config.topics_per_message]
        for t in topics:
            kinds.setdefault(t, "topic")
        room = sub.config.max_labels - len(sub.assemblies)
        labels = []
        for lab in kinds:
            if lab in sub.assemblies:
                labels.append(lab)
            elif create and room > 0:
                labels.append(lab)
                room -= 1
            elif create:
                log.warning("no free assembly for the new label %r (max_labels %d)", lab, sub.config.max_labels)
        return labels, {k: kinds[k] for k in labels}

    def _known_topic(self, phrase: str, chosen=()) -> str:
        """A topic phrase that shares a word with a known topic (or one already chosen for this
        message) is that topic: "long marathon" and "marathon training" are the assembly of
        "lisbon marathon". One assembly per subject."""
        words = set(phrase.lower().split())
        known = [a.label for a in self.substrate.assemblies.values() if a.kind == "topic"] + list(chosen)
        for label in known:
            if words & set(label.lower().split()):
                return label
        return phrase

    def _learn(self, message_id: int, text: str, embedding=None, create: bool = True):
        """Extract, embed once, store both, present to the substrate; returns (labels, surfaced).
        The agent's own replies (``create=False``) reuse known labels and make no new assemblies."""
        labels, kinds = self._labels(text, create)
        if labels:
            self.store.set_labels(message_id, labels)
        if not text.strip():
            self.substrate.last_message_id = int(message_id)   # nothing to learn from an empty message
            return tuple(labels), None
        if embedding is None:
            embedding = self.substrate.embed(text)
            self.store.set_embedding(message_id, embedding)
        if not self.config.snn:     # the ablation: stored and embedded, never presented
            self.substrate.last_message_id = int(message_id)
            return tuple(labels), None
        surfaced = self.substrate.present(labels=labels, embedding=embedding, kinds=kinds, message_id=message_id)
        return tuple(labels), surfaced

    def _catch_up(self) -> list[int]:
        """Present again the messages stored after the substrate's last learned one."""
        done = []
        for rec in self.store.messages_after(self.substrate.last_message_id):
            try:
                self._learn(rec.id, rec.text, rec.embedding, create=rec.role == "user")
            except SubstrateError as e:
                log.warning("message %d could not be learned again: %s", rec.id, e)
                self.substrate.last_message_id = rec.id
            done.append(rec.id)
            if rec.role == "assistant":
                self.substrate.meta["last_reply_id"] = rec.id
        if done:
            self.save()
        return done

    # -- a conversation turn ----------------------------------------------------------------------
    def chat(self, text, conversation_id: str = "") -> Turn:
        """One turn: store, learn, recall, reply, store and learn the reply."""
        meta = self.substrate.meta
        if meta.get("last_reply_id") is not None and self.config.reward_engagement:
            self.substrate.reward(self.config.reward_engagement)   # the user answered: engagement
        got = {}
        clock = time.perf_counter
        t0 = clock()

        def recall(mid, shown):
            t = clock()
            labels, surfaced = self._learn(mid, shown)
            got["labels"], got["surfaced"], got["learn_s"] = labels, surfaced, clock() - t
            return labels, surfaced

        r = self.agent.handle_user_message(text, conversation_id=conversation_id, recall=recall)
        t1 = clock()
        if r.reply_id is not None:
            try:
                self._learn(r.reply_id, r.text, create=False)
            except SubstrateError as e:
                log.warning("the reply %d could not be learned: %s", r.reply_id, e)
            meta["last_reply_id"] = r.reply_id
        t2 = clock()
        meta["turns"] = int(meta.get("turns", 0)) + 1
        if self.config.save_every_turns and meta["turns"] % self.config.save_every_turns == 0:
            self.save()
        t3 = clock()
        learn = got.get("learn_s", 0.0)
        # the language side's part minus the memory's learning is the LLM's (with the turn's two SQLite
        # writes, a few ms); everything else (embedding, the network, the checkpoint) is the memory's
        llm = max(0.0, (t1 - t0) - learn)
        self.last_timing = {"memory_s": (t3 - t0) - llm, "llm_s": llm, "learn_message_s": learn,
                            "learn_reply_s": t2 - t1, "checkpoint_s": t3 - t2}
        return Turn(r.text, r.user_message_id, r.reply_id, got.get("labels", r.labels), got.get("surfaced"), r.error)

    def feedback(self, value: float) -> None:
        """Explicit feedback on the last reply: > 0 good, < 0 bad (a phasic dopamine pulse)."""
        v = float(value)
        if not math.isfinite(v) or v == 0:
            raise ValueError(f"feedback must be a non-zero finite number, got {value!r}")
        self.substrate.reward(math.copysign(self.config.reward_feedback, v))

    # -- idle and sleep ---------------------------------------------------------------------------
    def _on_impulse(self, imp, on_event) -> None:
        base = imp.associations(self.substrate.epoch_s)
        trig = SurfacedAssociations(base.items, base.time, base.evidence, package=imp.to_dict())
        out = self.agent.on_trigger(trig)
        ev = Event(out.action, out.status, out.content, out.reason, out.log_id, imp.t_s, imp.to_dict())
        self.events.append(ev)
        if out.status == "deferred":
            # one deferred impulse is kept (the strongest; ties: the latest), in the checkpoint's meta
            held = self.substrate.meta.get("deferred")
            if held is None or _strength(imp.to_dict()) >= _strength(held):
                self.substrate.meta["deferred"] = imp.to_dict()
        if on_event is not None:
            on_event(ev)

    def _offer_deferred(self, on_event) -> None:
        """Offer the impulse held during the conversation window, once, if it is still recent."""
        held = self.substrate.meta.pop("deferred", None)
        if held is None:
            return
        if self.substrate.t_s - float(held["t_s"]) > self.config.defer_max_s:
            return
        from .substrate import Impulse
        self._on_impulse(Impulse(**held), on_event)

    def _deferred_due(self) -> float | None:
        """Substrate time at which the held impulse is to be offered (the busy window's end), or None."""
        if self.substrate.meta.get("deferred") is None:
            return None
        end = self.agent.guard.busy_until(self.clock())
        if end is None:
            return self.substrate.t_s
        # on the step grid, one step past the window's end (the clock's float rounding stays outside it)
        dt_s = self.substrate.config.dt_ms / 1000.0
        return (math.ceil((end - self.substrate.epoch_s) / dt_s - 1e-6) + 1) * dt_s

    def idle(self, seconds: float, on_event=None, progress: bool = False) -> list[Event]:
        """Run ``seconds`` of simulated idle; impulses become actions; nightly sleeps happen on time.
        With the SNN off (the ablation) the span is advanced in closed form and nothing fires."""
        if not self.config.snn:
            return self.skip(seconds, on_event)
        return self._until(seconds, lambda step: self.substrate.idle(
            step, on_impulse=lambda imp: self._on_impulse(imp, on_event), progress=progress), on_event)

    def skip(self, seconds: float, on_event=None) -> list[Event]:
        """Advance ``seconds`` of idle in closed form (``Substrate.advance``: silence, exact cascade
        decay, no detection); nightly sleeps still happen on time, and an impulse held during the
        conversation window is still offered when the window ends. For sampled idle."""
        return self._until(seconds, self.substrate.advance, on_event)

    def _until(self, seconds: float, span, on_event=None) -> list[Event]:
        s = float(seconds)
        if not math.isfinite(s) or s < 0:
            raise ValueError(f"idle needs a finite duration >= 0 s, got {seconds!r}")
        start = len(self.events)
        sub, meta = self.substrate, self.substrate.meta
        dt_s = sub.config.dt_ms / 1000.0
        end = sub.t_s + s
        while True:
            due = self._deferred_due()
            if due is not None and due <= sub.t_s + 1e-9:
                self._offer_deferred(on_event)
                continue
            if sub.t_s >= end - 1e-9:
                break
            night = float(meta["next_sleep_t_s"])
            stop = min(end, night) if due is None else min(end, night, due)
            step = stop - sub.t_s
            if step > 0:
                if stop < end - 1e-9:
                    # an event inside the span (the night, a held impulse): run to the first step at or
                    # past it, at least one step. The night is wall-clock based, off the step grid: run
                    # to the nearest step, the clock could stop under half a step before it and then
                    # ask for less than a step again and again (a hang seen at 03:00 UTC)
                    step = max(1, math.ceil(step / dt_s - 1e-6)) * dt_s
                before = sub.t_s
                span(step)
                if sub.t_s <= before and stop >= end - 1e-9:
                    break         # what is left of the span is under half a step: nothing to run
            if sub.t_s >= night - 1e-9:
                self.sleep()
        return self.events[start:]

    def episodes_since_sleep(self) -> list:
        eps = []
        for rec in self.store.messages_after(self.substrate.meta.get("last_sleep_message_id")):
            if rec.id > (self.substrate.last_message_id or 0) or rec.embedding is None:
                continue
            labs = [lb for lb in rec.labels if lb in self.substrate.assemblies]
            eps.append({"embedding": rec.embedding, "labels": labs, "id": rec.id})
        return eps

    def sleep(self) -> dict:
        """Consolidation: replay the episodes since the last sleep, then checkpoint."""
        sub, meta = self.substrate, self.substrate.meta
        eps = self.episodes_since_sleep()
        out = sub.consolidate(eps) if self.config.snn else {"synapses_before": 0, "synapses_after": 0, "items": 0}
        if eps:
            meta["last_sleep_message_id"] = max(e["id"] for e in eps)
        meta["next_sleep_t_s"] = self._next_night(sub.t_s)
        meta.setdefault("sleeps", []).append({"t_s": sub.t_s, **out})
        self.save()
        return out

    # -- state ------------------------------------------------------------------------------------
    def save(self) -> str:
        """Checkpoint; the learned-synapse count is added to ``meta["history"]`` first (at most
        one point per simulated minute, the last 5,000 kept: ``ember inspect --plots``)."""
        sub = self.substrate
        hist = sub.meta.setdefault("history", [])
        if not hist or sub.t_s - hist[-1][0] >= 60.0 or not hist[-1][0] <= sub.t_s:
            hist.append([sub.t_s, sub.synapse_count()])
            del hist[:-5000]
        return sub.save(self.state_dir)

    def close(self, sleep: bool = False) -> None:
        """Save (after a sleep when asked and there is something to replay) and close the store."""
        try:
            if sleep and self.episodes_since_sleep():
                self.sleep()
            else:
                self.save()
        finally:
            self.store.close()

    def inspect(self, top: int = 10) -> dict:
        """What the memory holds now (``ember inspect --json``)."""
        sub = self.substrate
        g = sub.association_graph()
        edges = sorted(((a, b, d["weight"]) for a, b, d in g.edges(data=True) if a != b), key=lambda e: -e[2])
        return {"assemblies": [{"label": a.label, "kind": a.kind} for a in sub.assemblies.values()],
                "associations": [{"from": a, "to": b, "weight": float(w)} for a, b, w in edges[:top]],
                "synapses": sub.synapse_count(), "messages": self.store.count("episodic"),
                "simulated_s": sub.t_s, "impulses": len(sub.impulses),
                "actions": self.store.count("action_log"), "sleeps": len(sub.meta.get("sleeps", []))}

    def why(self, log_id: int) -> dict:
        """The impulse package behind an action-log row."""
        for row in self.store.action_log(100_000):
            if row["id"] == int(log_id):
                return {"action": row["action"], "status": row["status"], "content": row["content"],
                        "evidence": row["trigger"].get("impulse", {})}
        raise ValueError(f"no action-log row {log_id}")


__all__ = ["AgentConfig", "EmberAgent", "Event", "Turn"]
