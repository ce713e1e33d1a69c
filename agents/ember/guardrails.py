"""Guardrails on autonomous actions: rate limits, cooldowns, quiet hours, busy gating,
and a dry-run / approval mode for ``reach_out``.

Two gates:

1. ``admit_trigger``: before any LLM call, a global cap on how many triggers may reach
   the LLM per window (a burst of network triggers costs at most that many calls), and
   no autonomous action while the user is in a conversation (``busy_s`` after their last
   message; heartbeat loops that interrupt people are a known peer complaint). A trigger that
   comes while busy is *deferred*: the agent offers it again when the window ends.
2. ``permit``: after the LLM chose, the chosen action's own rate limit and cooldown, and
   quiet hours for the actions listed in ``quiet_actions`` (``reach_out`` by default).

``silent`` is always permitted and never counted. Every refusal carries a reason that the
agent writes to the action log. State is in memory; ``seed`` rebuilds it from the action
log after a restart so limits hold across restarts.
"""
from __future__ import annotations

import datetime as _dt
from collections import deque
from dataclasses import dataclass, field

from .types import ACTIONS

REACH_OUT_MODES = ("send", "dry_run", "approval")


@dataclass(frozen=True)
class ActionLimit:
    max_per_window: int
    window_s: float
    cooldown_s: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_per_window, int) or self.max_per_window < 0:
            raise ValueError(f"ActionLimit.max_per_window must be an int >= 0, got {self.max_per_window!r}")
        if self.window_s <= 0 or self.cooldown_s < 0:
            raise ValueError("ActionLimit.window_s must be > 0 and cooldown_s >= 0")


def _default_limits() -> tuple[tuple[str, ActionLimit], ...]:
    return (
        ("journal", ActionLimit(6, 3600.0, 300.0)),
        ("reach_out", ActionLimit(2, 86400.0, 4 * 3600.0)),
        ("continue", ActionLimit(12, 3600.0, 60.0)),
    )


@dataclass(frozen=True)
class GuardrailConfig:
    max_triggers_per_window: int = 12
    trigger_window_s: float = 3600.0
    limits: tuple[tuple[str, ActionLimit], ...] = field(default_factory=_default_limits)
    quiet_hours: tuple[int, int] | None = (22, 8)  # local hours [start, end), may wrap midnight
    quiet_actions: tuple[str, ...] = ("reach_out",)
    utc_offset_h: float | None = None  # None: the machine's local time
    busy_s: float = 120.0
    reach_out_mode: str = "approval"

    def __post_init__(self) -> None:
        if not isinstance(self.max_triggers_per_window, int) or self.max_triggers_per_window < 0:
            raise ValueError("GuardrailConfig.max_triggers_per_window must be an int >= 0")
        if self.trigger_window_s <= 0 or self.busy_s < 0:
            raise ValueError("GuardrailConfig.trigger_window_s must be > 0 and busy_s >= 0")
        for name, lim in self.limits:
            if name not in ACTIONS or name == "silent":
                raise ValueError(f"GuardrailConfig.limits: {name!r} is not a limitable action")
            if not isinstance(lim, ActionLimit):
                raise ValueError("GuardrailConfig.limits values must be ActionLimit")
        if self.quiet_hours is not None:
            a, b = self.quiet_hours
            if not (0 <= a < 24 and 0 <= b < 24 and isinstance(a, int) and isinstance(b, int)):
                raise ValueError(f"GuardrailConfig.quiet_hours must be two whole hours in [0, 24), got {self.quiet_hours!r}")
        for a in self.quiet_actions:
            if a not in ACTIONS:
                raise ValueError(f"GuardrailConfig.quiet_actions: unknown action {a!r}")
        if self.reach_out_mode not in REACH_OUT_MODES:
            raise ValueError(f"GuardrailConfig.reach_out_mode must be one of {REACH_OUT_MODES}, got {self.reach_out_mode!r}")


class Guardrails:
    def __init__(self, config: GuardrailConfig | None = None):
        self.config = config or GuardrailConfig()
        self._limits = dict(self.config.limits)
        self._triggers: deque[float] = deque()
        self._done: dict[str, deque[float]] = {a: deque() for a in ACTIONS}
        self.last_user_time: float | None = None

    def _hour(self, now: float) -> float:
        if self.config.utc_offset_h is None:
            t = _dt.datetime.fromtimestamp(now)
        else:
            t = _dt.datetime.fromtimestamp(now, tz=_dt.timezone(_dt.timedelta(hours=self.config.utc_offset_h)))
        return t.hour + t.minute / 60.0

    def in_quiet_hours(self, now: float) -> bool:
        if self.config.quiet_hours is None:
            return False
        a, b = self.config.quiet_hours
        h = self._hour(now)
        return (a <= h < b) if a <= b else (h >= a or h < b)

    @staticmethod
    def _prune(q: deque, now: float, window: float) -> None:
        while q and q[0] <= now - window:
            q.popleft()

    def note_user_message(self, now: float) -> None:
        self.last_user_time = now

    def busy_until(self, now: float) -> float | None:
        """When the conversation's busy window ends, or None when it is not busy at ``now``."""
        if self.last_user_time is None or now - self.last_user_time >= self.config.busy_s:
            return None
        return self.last_user_time + self.config.busy_s

    def admit_trigger(self, now: float) -> tuple[bool, str]:
        c = self.config
        if self.last_user_time is not None and now - self.last_user_time < c.busy_s:
            return False, f"busy: the user wrote {now - self.last_user_time:.0f} s ago (< {c.busy_s:.0f} s)"
        self._prune(self._triggers, now, c.trigger_window_s)
        if len(self._triggers) >= c.max_triggers_per_window:
            return False, (f"trigger rate limit: {len(self._triggers)} triggers already in the last "
                           f"{c.trigger_window_s:.0f} s (max {c.max_triggers_per_window})")
        self._triggers.append(now)
        return True, ""

    def permit(self, action: str, now: float) -> tuple[bool, str]:
        if action not in ACTIONS:
            return False, f"unknown action {action!r}"
        if action == "silent":
            return True, ""
        if action in self.config.quiet_actions and self.in_quiet_hours(now):
            a, b = self.config.quiet_hours
            return False, f"quiet hours ({a:02d}:00-{b:02d}:00) for {action}"
        lim = self._limits.get(action)
        if lim is None:
            return True, ""
        q = self._done[action]
        if q and lim.cooldown_s > 0 and now - q[-1] < lim.cooldown_s:
            return False, f"cooldown: last {action} {now - q[-1]:.0f} s ago (< {lim.cooldown_s:.0f} s)"
        self._prune(q, now, lim.window_s)
        if len(q) >= lim.max_per_window:
            return False, f"rate limit: {len(q)} {action} in the last {lim.window_s:.0f} s (max {lim.max_per_window})"
        return True, ""

    def record(self, action: str, now: float) -> None:
        if action in ACTIONS and action != "silent":
            self._done[action].append(now)

    def seed(self, action_log: list[dict]) -> None:
        """Rebuild counters from action-log rows (oldest first)."""
        for row in action_log:
            if row.get("status") in ("executed", "dry_run", "pending_approval"):
                self._triggers.append(row["time"])
                self.record(row["action"], row["time"])
