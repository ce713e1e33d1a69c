"""The language side of the EMBER agent: conversation turns and triggered actions.

``Agent`` ties an actor, the soul, the stores, the context builder, the guardrails and
(optionally) the entity/topic extractor together. It never raises on an LLM failure:
the user's message is stored *before* any LLM call, a failed reply is logged and
returned as an error, and a failed action choice becomes ``silent`` with the error in
the action log.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from .llm.actor import Actor
from .context import ContextBuilder
from .guardrails import GuardrailConfig, Guardrails
from .soul import Soul
from .store import MemoryStore
from .types import ACTIONS, Action, Message, SurfacedAssociations

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    text: str
    user_message_id: int
    reply_id: int | None
    labels: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class Outcome:
    status: str  # executed, refused, deferred, dry_run, pending_approval, failed
    action: str
    content: str
    reason: str
    log_id: int


class Agent:
    def __init__(self, actor: Actor, store: MemoryStore, soul: Soul | None = None, *,
                 guardrails: Guardrails | GuardrailConfig | None = None, builder: ContextBuilder | None = None,
                 extractor=None, deliver: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time, recent_n: int = 12, facts_n: int = 8):
        self.actor = actor
        self.store = store
        self.soul = soul or Soul.load()
        if isinstance(guardrails, Guardrails):
            self.guard = guardrails
        else:
            self.guard = Guardrails(guardrails)
            self.guard.seed(store.action_log(limit=10_000))
        if builder is None:
            cfg = getattr(actor, "config", None)
            budget = (cfg.context_tokens - cfg.max_new_tokens) if cfg is not None else 1800
            builder = ContextBuilder(self.soul, token_budget=max(64, budget),
                                     count_tokens=getattr(actor, "count_tokens", None))
        self.builder = builder
        if self.builder.soul is not self.soul:
            raise ValueError("the context builder must use the agent's soul")
        self.extractor = extractor
        self.deliver = deliver
        self.clock = clock
        self.recent_n = recent_n
        self.facts_n = facts_n

    @property
    def backend(self) -> str:
        return getattr(self.actor, "name", type(self.actor).__name__)

    def _labels(self, text) -> tuple[str, ...]:
        if self.extractor is None or not isinstance(text, str):
            return ()
        try:
            ex = self.extractor.extract(text)
            return tuple(ex.persons) + tuple(ex.topics)
        except Exception as e:  # extraction is best effort; never lose the message over it
            log.warning("entity/topic extraction failed: %s", e)
            return ()

    def _recent(self, conversation_id: str | None) -> list[Message]:
        out = []
        for r in self.store.recent_messages(self.recent_n, conversation_id):
            out.append(Message(r.role, r.text))
        return out

    def _facts_for(self, query: str) -> list[str]:
        hits = [f.text for f in self.store.search_facts(query, self.facts_n)] if query.strip() else []
        return hits

    # -- conversation --------------------------------------------------------------------------------
    def handle_user_message(self, text: str | bytes, *, conversation_id: str = "", embedding=None,
                            associations: SurfacedAssociations | None = None, recall=None) -> Reply:
        """One conversation turn. ``recall(message_id, text)``, when given, is called right after the
        message is stored and returns ``(labels, associations)``: the hybrid agent presents the
        message to its spiking memory there (its failure is logged; the turn goes on without)."""
        now = self.clock()
        # stored first, before any LLM call (an LLM extractor included): nothing that
        # happens in a call can lose the user's message
        mid = self.store.add_message("user", text, embedding=embedding, conversation_id=conversation_id, time_s=now)
        labels = self._labels(text)
        if labels:
            self.store.set_labels(mid, labels)
        self.guard.note_user_message(now)
        shown = self.store.get_message(mid).text
        if recall is not None:
            try:
                labels, associations = recall(mid, shown)
            except Exception as e:   # the memory failing must not lose the turn
                log.warning("recall for message %d failed: %s: %s", mid, type(e).__name__, e)
        try:
            ctx = self.builder.build(self._recent(conversation_id), self._facts_for(shown), associations)
            reply = self.actor.respond(ctx)
            if not isinstance(reply, str):
                raise TypeError(f"actor returned {type(reply).__name__}, not str")
        except Exception as e:  # never crash on an LLM failure
            log.warning("reply failed (%s: %s); the user's message %d is stored", type(e).__name__, e, mid)
            return Reply("", mid, None, labels, error=f"{type(e).__name__}: {e}")
        rid = self.store.add_message("assistant", reply, labels=self._labels(reply),
                                     conversation_id=conversation_id, time_s=self.clock())
        return Reply(reply, mid, rid, labels)

    # -- autonomy ----------------------------------------------------------------------------------------
    def on_trigger(self, trigger: SurfacedAssociations) -> Outcome:
        now = self.clock()
        ev = trigger.to_dict()
        common = {"trigger": ev, "backend": self.backend, "soul_sha256": self.soul.sha256, "time_s": now}
        busy_end = self.guard.busy_until(now)
        ok, reason = self.guard.admit_trigger(now)
        if not ok:
            status = "refused"
            if busy_end is not None:      # not now: the caller may offer it again when the window ends
                status, reason = "deferred", f"{reason}; offered again at the end of the conversation window"
            lid = self.store.log_action(action="silent", status=status, reason=reason, **common)
            return Outcome(status, "silent", "", reason, lid)
        query = " ".join(a.label for a in trigger.strongest())
        try:
            ctx = self.builder.build(self._recent(None)[-4:], self._facts_for(query))
            act = self.actor.choose_action(trigger, ctx)
            if not isinstance(act, Action):
                raise TypeError(f"actor returned {type(act).__name__}, not Action")
        except Exception as e:
            reason = f"action choice failed: {type(e).__name__}: {e}"
            log.warning(reason)
            lid = self.store.log_action(action="silent", status="failed", reason=reason, **common)
            return Outcome("failed", "silent", "", reason, lid)
        rec = {"option_order": act.option_order, "prompt": act.prompt, "raw": act.raw,
               "content": act.content, "rationale": act.rationale}
        if act.error:
            lid = self.store.log_action(action="silent", status="failed", reason=f"LLM output unusable: {act.error}",
                                        **rec, **common)
            return Outcome("failed", "silent", "", act.error, lid)
        ok, reason = self.guard.permit(act.action, now)
        if not ok:
            lid = self.store.log_action(action=act.action, status="refused", reason=reason, **rec, **common)
            return Outcome("refused", act.action, act.content, reason, lid)
        status, reason = "executed", ""
        if act.action == "journal":
            if act.content.strip():
                self.store.add_journal(act.content, {"trigger": ev, "backend": self.backend}, time_s=now)
            else:
                status, reason = "failed", "empty journal content"
        elif act.action == "reach_out":
            mode = self.guard.config.reach_out_mode
            if not act.content.strip():
                status, reason = "failed", "empty reach_out content"
            elif mode == "dry_run":
                status, reason = "dry_run", "reach_out in dry-run mode: not sent"
            elif mode == "approval" or self.deliver is None:
                status, reason = "pending_approval", "waiting for the user's approval"
            else:
                status, reason = self._send(act.content)
        if status != "failed":
            self.guard.record(act.action, now)
        lid = self.store.log_action(action=act.action, status=status, reason=reason, **rec, **common)
        return Outcome(status, act.action, act.content, reason, lid)

    def _send(self, content: str) -> tuple[str, str]:
        try:
            self.deliver(content)
            return "executed", ""
        except Exception as e:
            return "failed", f"delivery failed: {type(e).__name__}: {e}"

    def pending_approvals(self) -> list[dict]:
        done = {r["reason"] for r in self.store.action_log(10_000) if r["reason"].startswith("approved #")
                or r["reason"].startswith("rejected #")}
        return [r for r in self.store.action_log(10_000) if r["status"] == "pending_approval"
                and f"approved #{r['id']}" not in done and f"rejected #{r['id']}" not in done]

    def approve(self, log_id: int, accept: bool = True) -> Outcome:
        """Approve (send) or reject a pending reach_out; logged as a new action-log row."""
        rows = {r["id"]: r for r in self.pending_approvals()}
        if log_id not in rows:
            raise ValueError(f"no pending reach_out with action-log id {log_id}")
        row = rows[log_id]
        if not accept:
            status, reason = "refused", f"rejected #{log_id}"
        elif self.deliver is None:
            raise ValueError("no delivery function configured: cannot send an approved reach_out")
        else:
            status, reason = self._send(row["content"])
            reason = f"approved #{log_id}" + (f"; {reason}" if reason else "")
        lid = self.store.log_action(action="reach_out", status=status, reason=reason, content=row["content"],
                                    trigger=row["trigger"], backend=row["backend"], soul_sha256=self.soul.sha256,
                                    time_s=self.clock())
        return Outcome(status, "reach_out", row["content"], reason, lid)


__all__ = ["Agent", "Reply", "Outcome", "ACTIONS"]
