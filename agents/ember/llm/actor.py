"""The actor protocol, the shared action prompt, and the scripted actor.

An *actor* is the replaceable reasoning engine of EMBER (ember.md section 1): it
answers a chat context (``respond``) and, when the network triggers it, chooses one
action from an affordance list and writes its content (``choose_action``).

The option order is shuffled on every call with the actor's own seeded RNG and
returned in ``Action.option_order`` so the caller logs it (the paper discloses an
ordering bias: journaling was listed before reach-out).
"""
from __future__ import annotations

import json
import logging
import random
import re
import time
from typing import Callable, Protocol, Sequence, runtime_checkable

from ..types import ACTIONS, Action, Context, SurfacedAssociations

log = logging.getLogger(__name__)

ACTION_HELP = {
    "journal": "write a private journal entry about these connections",
    "reach_out": "send the user a short message",
    "continue": "keep thinking quietly; write a short note of what to follow up",
    "silent": "do nothing now",
}


class LLMError(RuntimeError):
    """An LLM call failed (after retries where they apply)."""


class LLMTimeout(LLMError):
    pass


class LLMRateLimited(LLMError):
    def __init__(self, msg: str, retry_after: float | None = None):
        super().__init__(msg)
        self.retry_after = retry_after


class LLMServerError(LLMError):
    pass


class LLMBadOutput(LLMError):
    """The service answered, but not with something we can use."""


class BackendUnavailable(RuntimeError):
    """A backend's optional package or model file is missing."""


@runtime_checkable
class Actor(Protocol):
    name: str

    def respond(self, context: Context) -> str: ...

    def choose_action(self, trigger: SurfacedAssociations, context: Context) -> Action: ...


def shuffled_actions(rng: random.Random, actions: Sequence[str] = ACTIONS) -> tuple[str, ...]:
    order = list(actions)
    rng.shuffle(order)
    return tuple(order)


def action_prompt(trigger: SurfacedAssociations, order: Sequence[str], *, json_reply: bool) -> str:
    """The user-turn text of an action choice (ember.md section 6, default [D])."""
    lines = [
        "Your associative memory activated these connections while idle:",
        trigger.describe(),
        "",
        "Available actions (you may choose any or none): " + ", ".join(order) + ".",
    ]
    lines += [f"- {a}: {ACTION_HELP[a]}" for a in order]
    if json_reply:
        lines.append("")
        lines.append(
            'Return only JSON {"action": one of [' + ", ".join(f'"{a}"' for a in order) + '], '
            '"content": the text of the journal entry or message (empty for silent), '
            '"rationale": one sentence}.'
        )
    else:
        lines.append("")
        lines.append("Which action do you take? Answer with the action name only.")
    return "\n".join(lines)


def content_prompt(trigger: SurfacedAssociations, action: str) -> str:
    """The user-turn text asking for the content of an already chosen action."""
    task = {
        "journal": "Write a short private journal entry (two or three sentences) reflecting on these connections.",
        "reach_out": "Write a short, friendly message to the user (one or two sentences) about these connections.",
        "continue": "Write one short sentence noting what you want to keep thinking about.",
    }[action]
    return (
        "Your associative memory activated these connections while idle:\n"
        + trigger.describe()
        + "\n\n"
        + task
    )


_JSON_OBJ = re.compile(r"\{.*\}", re.S)


def parse_action_json(text: str, order: Sequence[str]) -> tuple[str, str, str]:
    """Validate a JSON action reply; raise ``LLMBadOutput`` naming the problem."""
    if not isinstance(text, str):
        raise LLMBadOutput("reply is not text")
    m = _JSON_OBJ.search(text)
    if not m:
        raise LLMBadOutput("no JSON object in the reply")
    try:
        obj = json.loads(m.group(0))
    except json.JSONDecodeError as e:
        raise LLMBadOutput(f"invalid JSON: {e.msg}") from None
    return validate_action_obj(obj, order)


def validate_action_obj(obj: object, order: Sequence[str]) -> tuple[str, str, str]:
    if not isinstance(obj, dict):
        raise LLMBadOutput("action reply is not a JSON object")
    action = obj.get("action")
    if not isinstance(action, str) or action.strip().lower() not in order:
        raise LLMBadOutput(f"action {action!r} is not one of {list(order)}")
    content = obj.get("content", "")
    rationale = obj.get("rationale", "")
    if content is None:
        content = ""
    if rationale is None:
        rationale = ""
    if not isinstance(content, str) or not isinstance(rationale, str):
        raise LLMBadOutput("content and rationale must be strings")
    return action.strip().lower(), content, rationale


def with_retries(
    call: Callable[[], object],
    *,
    max_retries: int,
    backoff_s: float,
    backoff_max_s: float,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
):
    """Call ``call``; retry on timeouts, 429s and 5xx with exponential backoff.

    Retry-After (when the server sends one) is honoured up to ``backoff_max_s``.
    Bad output is not retried here (the caller retries a choice once).
    """
    rng = rng or random.Random(0)
    attempt = 0
    while True:
        try:
            return call()
        except (LLMTimeout, LLMRateLimited, LLMServerError) as e:
            if attempt >= max_retries:
                raise
            delay = min(backoff_max_s, backoff_s * (2**attempt)) * (0.5 + 0.5 * rng.random())
            if isinstance(e, LLMRateLimited) and e.retry_after is not None:
                delay = min(backoff_max_s, max(delay, e.retry_after))
            log.warning("LLM call failed (%s: %s); retry %d/%d in %.2f s", type(e).__name__, e, attempt + 1, max_retries, delay)
            sleep(delay)
            attempt += 1


class JsonChoiceMixin:
    """``choose_action`` for backends that answer in text/JSON: one retry, then silent."""

    name: str
    _rng: random.Random

    def _complete(self, context: Context, *, json_mode: bool, order: Sequence[str]) -> str:  # pragma: no cover
        raise NotImplementedError

    def choose_action(self, trigger: SurfacedAssociations, context: Context) -> Action:
        order = shuffled_actions(self._rng)
        prompt = action_prompt(trigger, order, json_reply=True)
        ctx = context.with_user(prompt)
        raws: list[str] = []
        last_err = ""
        for attempt in range(2):  # the first try plus one retry on malformed output
            try:
                raw = self._complete(ctx, json_mode=True, order=order)
            except LLMBadOutput as e:
                raws.append("")
                last_err = str(e)
                log.warning("%s: malformed action output (%s), attempt %d", self.name, e, attempt + 1)
                continue
            except LLMError as e:
                last_err = f"{type(e).__name__}: {e}"
                log.warning("%s: action choice failed (%s); falling back to silent", self.name, last_err)
                break
            raws.append(raw)
            try:
                action, content, rationale = parse_action_json(raw, order)
            except LLMBadOutput as e:
                last_err = str(e)
                log.warning("%s: malformed action output (%s), attempt %d", self.name, e, attempt + 1)
                continue
            return Action(action, content, rationale, tuple(order), prompt, raw, self.name)
        return Action(
            "silent", "", "fallback after failed or malformed LLM output", tuple(order), prompt,
            "\n---\n".join(raws), self.name, error=last_err or "malformed output",
        )


class ScriptedActor:
    """A deterministic actor for tests and demos (no model, no network).

    ``actions`` is a sequence of action names returned in turn (cycled); ``replies``
    likewise for ``respond``. The option order is still shuffled and logged, with a
    seeded RNG, so callers exercise the same code path as with a real model.
    """

    name = "scripted"

    def __init__(self, actions: Sequence[str] = ("journal",), replies: Sequence[str] = ("I hear you.",), seed: int = 0):
        for a in actions:
            if a not in ACTIONS:
                raise ValueError(f"ScriptedActor: unknown action {a!r}; expected one of {ACTIONS}")
        if not actions or not replies:
            raise ValueError("ScriptedActor needs at least one action and one reply")
        self._actions = tuple(actions)
        self._replies = tuple(replies)
        self._rng = random.Random(seed)
        self.calls: list[tuple[str, Context]] = []
        self._i_act = 0
        self._i_rep = 0

    def respond(self, context: Context) -> str:
        self.calls.append(("respond", context))
        r = self._replies[self._i_rep % len(self._replies)]
        self._i_rep += 1
        return r

    def choose_action(self, trigger: SurfacedAssociations, context: Context) -> Action:
        self.calls.append(("choose_action", context))
        order = shuffled_actions(self._rng)
        prompt = action_prompt(trigger, order, json_reply=True)
        a = self._actions[self._i_act % len(self._actions)]
        self._i_act += 1
        labels = ", ".join(x.label for x in trigger.strongest(3))
        content = "" if a == "silent" else f"{a}: thinking about {labels}"
        raw = json.dumps({"action": a, "content": content, "rationale": "scripted"})
        return Action(a, content, "scripted", order, prompt, raw, self.name)
