"""Plain, frozen value types shared by the language side of the agent.

Nothing here imports torch or any LLM SDK, so these types can be used by the
simulator side (the integration issue) without pulling in heavy dependencies.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

#: The action vocabulary: affordances, not prescriptions (ember.md section 6).
ACTIONS: tuple[str, ...] = ("journal", "reach_out", "continue", "silent")

ROLES: tuple[str, ...] = ("user", "assistant", "system")


@dataclass(frozen=True)
class Association:
    """One association surfaced by the spiking network.

    ``label`` names a labelled assembly (a person or a topic), ``strength`` is its
    activation (for example the rate over baseline, any non-negative finite number),
    ``time`` is when it was active (seconds since the epoch, UTC) and ``kind`` says
    whether the label is a ``"person"``, a ``"topic"`` or ``"other"``.
    """

    label: str
    strength: float
    time: float
    kind: str = "topic"

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise ValueError(f"Association.label must be a non-empty string, got {self.label!r}")
        if not isinstance(self.strength, (int, float)) or not math.isfinite(self.strength) or self.strength < 0:
            raise ValueError(f"Association.strength must be a finite number >= 0, got {self.strength!r}")
        if not isinstance(self.time, (int, float)) or not math.isfinite(self.time):
            raise ValueError(f"Association.time must be a finite number of seconds, got {self.time!r}")
        if self.kind not in ("person", "topic", "other"):
            raise ValueError(f"Association.kind must be 'person', 'topic' or 'other', got {self.kind!r}")


@dataclass(frozen=True)
class SurfacedAssociations:
    """The interface from the network to the agent: what the SNN surfaced.

    ``items`` are the associations (the readout default is the top-10 labelled
    assemblies by rate over baseline); ``evidence`` is free text describing what
    triggered the package (for example "3 detections in 5 min"), stored in the
    action log; ``time`` is when the package was made.
    """

    items: tuple[Association, ...]
    time: float
    evidence: str = ""
    package: dict | None = field(default=None, compare=False)   # the impulse's evidence (spikes, synapses, time)

    def __post_init__(self) -> None:
        if not isinstance(self.items, tuple) or not all(isinstance(a, Association) for a in self.items):
            raise ValueError("SurfacedAssociations.items must be a tuple of Association")
        if not isinstance(self.time, (int, float)) or not math.isfinite(self.time):
            raise ValueError(f"SurfacedAssociations.time must be finite seconds, got {self.time!r}")

    def strongest(self, n: int = 10) -> tuple[Association, ...]:
        """The ``n`` strongest associations, ties broken by label for determinism."""
        return tuple(sorted(self.items, key=lambda a: (-a.strength, a.label))[:n])

    def describe(self, n: int = 10) -> str:
        """Names plus strengths and times, one per line, as given to the LLM."""
        import datetime as _dt

        lines = []
        for a in self.strongest(n):
            when = _dt.datetime.fromtimestamp(a.time, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            label = " ".join(a.label.split())[:120]  # one line per association, whatever the label holds
            lines.append(f"- {label} ({a.kind}), strength {a.strength:.2f}, active {when}")
        return "\n".join(lines) if lines else "- (none)"

    def to_dict(self) -> dict:
        return {
            "time": self.time,
            "evidence": self.evidence,
            "items": [
                {"label": a.label, "strength": a.strength, "time": a.time, "kind": a.kind} for a in self.items
            ],
            **({"impulse": self.package} if self.package is not None else {}),
        }


@dataclass(frozen=True)
class Message:
    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Message.role must be one of {ROLES}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise ValueError(f"Message.content must be str, got {type(self.content).__name__}")


@dataclass(frozen=True)
class Context:
    """What an actor sees: a system prompt (soul first) and a dialogue."""

    system: str
    messages: tuple[Message, ...] = ()

    def as_chat(self) -> list[dict]:
        """OpenAI-style chat list with the system prompt first."""
        return [{"role": "system", "content": self.system}] + [
            {"role": m.role, "content": m.content} for m in self.messages
        ]

    def with_user(self, text: str) -> "Context":
        return Context(self.system, self.messages + (Message("user", text),))


@dataclass(frozen=True)
class Action:
    """The result of an action choice.

    ``option_order`` is the (randomised) order in which the options were offered,
    ``prompt`` the text the model saw for the choice, ``raw`` its raw output
    (JSON-encoded scores for the likelihood-scoring backend) and ``backend`` the
    actor's name. ``error`` is set when the choice fell back to ``silent``.
    """

    action: str
    content: str = ""
    rationale: str = ""
    option_order: tuple[str, ...] = ()
    prompt: str = ""
    raw: str = ""
    backend: str = ""
    error: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"Action.action must be one of {ACTIONS}, got {self.action!r}")
