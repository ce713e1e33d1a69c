"""Declarative task descriptions: cues, latencies, probabilities, identities, blocks and switches.

A :class:`Task` is a frozen, validated description; :meth:`Task.sample_trials` draws a trial
schedule from it.  ``factorial_task()`` is the default cue-conditioned paradigm of spec section 2,
``foreperiod_task()`` the one-cue variant with a latency distribution.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .config import ConfigError


def _prob(owner: str, name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{owner}.{name} must be a finite number, got {v!r}")
    if not 0.0 <= v <= 1.0:
        raise ConfigError(f"{owner}.{name} must be a probability in [0, 1], got {v!r}")
    return float(v)


@dataclass(frozen=True)
class Cue:
    """One cue: its outcome stimulus comes at a latency drawn from ``latencies_ms`` with
    ``latency_probs``, is present with probability ``p_event`` (else omitted) and has an identity
    drawn from ``identity_mix`` (pairs (identity, probability))."""

    name: str
    latencies_ms: tuple = (300.0,)
    latency_probs: tuple = (1.0,)
    p_event: float = 1.0
    identity_mix: tuple = (("A", 1.0),)

    def __post_init__(self):
        o = f"Cue {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"Cue.name must be a non-empty string, got {self.name!r}")
        lat = tuple(self.latencies_ms) if isinstance(self.latencies_ms, (tuple, list)) else (self.latencies_ms,)
        if not lat:
            raise ConfigError(f"{o}: latencies_ms must not be empty")
        for v in lat:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{o}: latencies_ms must be finite numbers >= 0, got {v!r}")
        object.__setattr__(self, "latencies_ms", tuple(float(v) for v in lat))
        lp = tuple(self.latency_probs) if isinstance(self.latency_probs, (tuple, list)) else (self.latency_probs,)
        if len(lp) != len(lat):
            raise ConfigError(f"{o}: latency_probs has {len(lp)} entries, latencies_ms {len(lat)}")
        lp = tuple(_prob(o, "latency_probs", v) for v in lp)
        if abs(sum(lp) - 1.0) > 1e-6:
            raise ConfigError(f"{o}: latency_probs must sum to 1, got {sum(lp)!r}")
        object.__setattr__(self, "latency_probs", lp)
        if len(set(lat)) != len(lat):
            raise ConfigError(f"{o}: latencies_ms has duplicates: {lat}")
        object.__setattr__(self, "p_event", _prob(o, "p_event", self.p_event))
        mix = self.identity_mix
        if isinstance(mix, dict):
            mix = tuple(mix.items())
        try:
            mix = tuple((str(k), _prob(o, f"identity_mix[{k!r}]", p)) for k, p in mix)
        except (TypeError, ValueError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(f"{o}: identity_mix must be pairs (identity, probability), got {self.identity_mix!r}") from None
        if not mix:
            raise ConfigError(f"{o}: identity_mix must not be empty")
        if len({k for k, _ in mix}) != len(mix):
            raise ConfigError(f"{o}: identity_mix names an identity twice: {mix}")
        if abs(sum(p for _, p in mix) - 1.0) > 1e-6:
            raise ConfigError(f"{o}: identity_mix probabilities must sum to 1, got {sum(p for _, p in mix)!r}")
        object.__setattr__(self, "identity_mix", mix)

    def prob_of(self, identity: str) -> float:
        return dict(self.identity_mix).get(identity, 0.0)


_SWITCHABLE = ("latencies_ms", "latency_probs", "p_event", "identity_mix")


@dataclass(frozen=True)
class Switch:
    """From the first trial of block ``block`` on, cue ``cue`` takes the given fields."""

    block: int
    cue: str
    label: str
    changes: tuple = ()     # pairs (field, value); fields: latencies_ms, latency_probs, p_event, identity_mix

    def __post_init__(self):
        if isinstance(self.changes, dict):
            object.__setattr__(self, "changes", tuple(self.changes.items()))
        for k, _ in self.changes:
            if k not in _SWITCHABLE:
                raise ConfigError(f"Switch {self.label!r}: cannot change field {k!r}; switchable: {_SWITCHABLE}")
        if isinstance(self.block, bool) or not isinstance(self.block, int) or self.block < 1:
            raise ConfigError(f"Switch {self.label!r}: block must be an integer >= 1, got {self.block!r}")


@dataclass(frozen=True)
class Trial:
    index: int
    block: int
    cue: str
    latency_ms: Optional[float]      # None on an omission
    identity: Optional[str]          # None on an omission

    @property
    def key(self):
        """Trajectory key: the reservoir's trajectory depends only on these."""
        return (self.cue, self.latency_ms, self.identity)


@dataclass(frozen=True)
class Task:
    """A cue-conditioned prediction task (spec section 2).

    ``block_trials``: trials per block; ``switches`` change cue fields from a block on.
    Cues are drawn uniformly (or with ``cue_probs``)."""

    name: str
    cues: tuple
    identities: tuple = ("A", "B")
    trial_ms: float = 1000.0
    pulse_ms: float = 50.0
    block_trials: tuple = (1000, 1000)
    switches: tuple = ()
    cue_probs: Optional[tuple] = None

    def __post_init__(self):
        o = f"Task {self.name!r}"
        object.__setattr__(self, "cues", tuple(self.cues))
        object.__setattr__(self, "switches", tuple(self.switches))
        object.__setattr__(self, "identities", tuple(self.identities))
        if not self.cues:
            raise ConfigError(f"{o}: cues must not be empty")
        names = [c.name for c in self.cues]
        if len(set(names)) != len(names):
            raise ConfigError(f"{o}: cue names must be unique, got {names}")
        if len(set(self.identities)) != len(self.identities) or not self.identities:
            raise ConfigError(f"{o}: identities must be unique and non-empty, got {self.identities}")
        if set(names) & set(self.identities):
            raise ConfigError(f"{o}: a cue and an identity share a name: {sorted(set(names) & set(self.identities))}")
        for fld in ("trial_ms", "pulse_ms"):
            v = getattr(self, fld)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"{o}: {fld} must be a finite number > 0, got {v!r}")
        bt = tuple(self.block_trials) if isinstance(self.block_trials, (tuple, list)) else (self.block_trials,)
        if not bt:
            raise ConfigError(f"{o}: block_trials must not be empty")
        for i, n in enumerate(bt):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ConfigError(f"{o}: block_trials[{i}] must be an integer >= 1 (zero trials), got {n!r}")
        object.__setattr__(self, "block_trials", tuple(int(n) for n in bt))
        if self.cue_probs is not None:
            cp = tuple(_prob(o, "cue_probs", v) for v in self.cue_probs)
            if len(cp) != len(self.cues) or abs(sum(cp) - 1) > 1e-6:
                raise ConfigError(f"{o}: cue_probs must have one probability per cue and sum to 1, got {self.cue_probs!r}")
            object.__setattr__(self, "cue_probs", cp)
        for s in self.switches:
            if not isinstance(s, Switch):
                raise ConfigError(f"{o}: switches must be Switch objects, got {type(s).__name__}")
            if s.cue not in names:
                raise ConfigError(f"{o}: switch {s.label!r} names unknown cue {s.cue!r}")
            if s.block >= len(bt):
                raise ConfigError(f"{o}: switch {s.label!r} is at block {s.block}, but the task has {len(bt)} blocks")
        for b in range(len(bt)):
            for c in self.cues_in_block(b):
                self._check_cue(c)

    def _check_cue(self, c: Cue) -> None:
        o = f"Task {self.name!r}, cue {c.name!r}"
        for k, _ in c.identity_mix:
            if k not in self.identities:
                raise ConfigError(f"{o}: identity_mix names {k!r}, not one of identities {self.identities}")
        for L in c.latencies_ms:
            if L + self.pulse_ms > self.trial_ms:
                raise ConfigError(f"{o}: latencies_ms {L} + pulse_ms {self.pulse_ms} is beyond the trial "
                                  f"(trial_ms = {self.trial_ms})")
            if L < self.pulse_ms:
                raise ConfigError(f"{o}: latencies_ms {L} makes the stimulus pulse overlap the cue pulse "
                                  f"[0, {self.pulse_ms}) ms")

    # -- structure -----------------------------------------------------------------
    @property
    def n_trials(self) -> int:
        return sum(self.block_trials)

    @property
    def block_starts(self) -> tuple:
        return tuple(int(x) for x in np.cumsum((0,) + self.block_trials[:-1]))

    def cues_in_block(self, block: int) -> tuple:
        cues = {c.name: c for c in self.cues}
        for s in sorted(self.switches, key=lambda s: s.block):
            if s.block <= block:
                try:
                    cues[s.cue] = dataclasses.replace(cues[s.cue], **dict(s.changes))
                except ConfigError as e:
                    raise ConfigError(f"Task {self.name!r}: switch {s.label!r}: {e}") from None
        return tuple(cues[c.name] for c in self.cues)

    def cue(self, name: str, block: int = 0) -> Cue:
        for c in self.cues_in_block(block):
            if c.name == name:
                return c
        raise KeyError(f"no cue {name!r} in task {self.name!r}")

    def trajectory_keys(self) -> list:
        """Every (cue, latency, identity) a trial of this task can produce, plus each cue's omission
        probe (cue, None, None)."""
        keys = []
        for b in range(len(self.block_trials)):
            for c in self.cues_in_block(b):
                if (c.name, None, None) not in keys:
                    keys.append((c.name, None, None))
                for L, pl in zip(c.latencies_ms, c.latency_probs):
                    for k, pk in c.identity_mix:
                        if c.p_event > 0 and pl > 0 and pk > 0 and (c.name, L, k) not in keys:
                            keys.append((c.name, L, k))
        return keys

    def sample_trials(self, rng: np.random.Generator) -> list:
        trials, i = [], 0
        names = [c.name for c in self.cues]
        for b, n in enumerate(self.block_trials):
            cues = {c.name: c for c in self.cues_in_block(b)}
            draws = rng.choice(len(names), size=n, p=self.cue_probs)
            for d in draws:
                c = cues[names[d]]
                if rng.random() < c.p_event:
                    L = c.latencies_ms[rng.choice(len(c.latencies_ms), p=c.latency_probs)]
                    ids = [k for k, _ in c.identity_mix]
                    k = ids[rng.choice(len(ids), p=[p for _, p in c.identity_mix])]
                    trials.append(Trial(i, b, c.name, L, k))
                else:
                    trials.append(Trial(i, b, c.name, None, None))
                i += 1
        return trials


def factorial_task(block_trials=(1000, 1000)) -> Task:
    """The default cue-conditioned factorial design (spec section 2 table) with a timing switch
    (c1: L 300 -> 500), a probability switch (c4: p 0.6 -> 0.2) and an identity switch
    (c5: A/B 0.7/0.3 -> 0.3/0.7) at the start of block 2."""
    cues = (
        Cue("c1", (300.0,), (1.0,), 0.8, (("A", 1.0),)),
        Cue("c2", (300.0,), (1.0,), 0.4, (("B", 1.0),)),
        Cue("c3", (600.0,), (1.0,), 0.2, (("A", 1.0),)),
        Cue("c4", (600.0,), (1.0,), 0.6, (("B", 1.0),)),
        Cue("c5", (450.0,), (1.0,), 1.0, (("A", 0.7), ("B", 0.3))),
    )
    sw = ()
    if len(block_trials) > 1:
        sw = (Switch(1, "c1", "timing", (("latencies_ms", (500.0,)),)),
              Switch(1, "c4", "probability", (("p_event", 0.2),)),
              Switch(1, "c5", "identity", (("identity_mix", (("A", 0.3), ("B", 0.7))),)))
    return Task("factorial", cues, block_trials=tuple(block_trials), switches=sw)


def three_identity_task(n_trials: int = 1000) -> Task:
    """Check 11's second geometry: four cues over three identities (A, B, C), one block. With three
    identities the centred "what" codes span two dimensions (with two they span one, w_A = -w_B),
    so the principal angle between "when" and the "what" plane says more than the cosines with each
    "what" vector do."""
    cues = (
        Cue("c1", (300.0,), (1.0,), 0.8, (("A", 1.0),)),
        Cue("c2", (300.0,), (1.0,), 0.4, (("B", 1.0),)),
        Cue("c3", (600.0,), (1.0,), 0.6, (("C", 1.0),)),
        Cue("c4", (450.0,), (1.0,), 1.0, (("A", 0.4), ("B", 0.3), ("C", 0.3))),
    )
    return Task("three_identities", cues, identities=("A", "B", "C"), block_trials=(n_trials,))


def foreperiod_task(n_trials: int = 600, latencies_ms=(300.0, 600.0, 900.0), probs=(0.2, 0.5, 0.3),
                    trial_ms: float = 1000.0) -> Task:
    """One cue; latency drawn from ``latencies_ms`` with ``probs``; identity A; no omissions."""
    return Task("foreperiod", (Cue("f", tuple(latencies_ms), tuple(probs), 1.0, (("A", 1.0),)),),
                identities=("A", "B"), trial_ms=trial_ms, block_trials=(n_trials,))
