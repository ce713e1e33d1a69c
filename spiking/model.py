"""Network descriptions: populations, sources, projections.  Plain frozen dataclasses,
no arrays are allocated here (``build`` does that for one backend).

Weights are given as magnitudes (>= 0) and carry the sign of the projection
(``inhibitory=True`` stores them negative).  ``target="pulse"`` adds the weight to the
membrane (mV for Izhikevich, normalised units for LIF); ``target="current"`` adds it to
the exponential synaptic current.  Delays are in ms, rounded to whole steps, at least
one step (a spike emitted at step t reaches its target in step t + delay_steps).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np

from .params import LIF, Izhikevich, ParameterError

NeuronModel = Union[LIF, Izhikevich]


def neuron_names_of(net) -> set:
    return {p.name for p in net.populations}


def _is_grow(c) -> bool:
    from .growth import Grow
    return isinstance(c, Grow)


def _name_ok(kind: str, name: str) -> None:
    if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
        raise ParameterError(f"{kind} name must be a non-empty identifier, got {name!r}")


def _size_ok(kind: str, name: str, size) -> None:
    if not isinstance(size, (int, np.integer)) or int(size) <= 0:
        raise ParameterError(f"{kind} {name!r}: size must be a positive int, got {size!r}")


@dataclass(frozen=True)
class Population:
    """``size`` neurons of one model.  ``per_neuron`` overrides model fields with arrays
    of length ``size`` (e.g. the Izhikevich 2003 heterogeneity)."""

    name: str
    size: int
    model: NeuronModel
    per_neuron: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        _name_ok("Population", self.name)
        _size_ok("Population", self.name, self.size)
        if not isinstance(self.model, (LIF, Izhikevich)):
            raise ParameterError(f"Population {self.name!r}: model must be LIF or Izhikevich, got {type(self.model).__name__}")
        allowed = {"a", "b", "c_mV", "d", "i_ext", "v_init_mV"} if isinstance(self.model, Izhikevich) else {"i_ext", "v_init"}
        for k, arr in self.per_neuron.items():
            if k not in allowed:
                raise ParameterError(f"Population {self.name!r}: per-neuron field {k!r} not supported; allowed {sorted(allowed)}")
            a = np.asarray(arr)
            if a.shape != (self.size,):
                raise ParameterError(f"Population {self.name!r}: per-neuron {k!r} has shape {a.shape}, expected ({self.size},)")
            if not np.all(np.isfinite(a)):
                raise ParameterError(f"Population {self.name!r}: per-neuron {k!r} contains NaN or inf")


@dataclass(frozen=True)
class PoissonSource:
    """Independent Poisson spike trains (a source population; no state)."""

    name: str
    size: int
    rate_hz: float

    def __post_init__(self):
        _name_ok("PoissonSource", self.name)
        _size_ok("PoissonSource", self.name, self.size)
        r = np.asarray(self.rate_hz, dtype=float)
        if r.shape not in ((), (self.size,)) or not np.all(np.isfinite(r)) or np.any(r < 0):
            raise ParameterError(f"PoissonSource {self.name!r}: rate_hz must be finite, >= 0, scalar or length {self.size}")


@dataclass(frozen=True)
class SpikeGenerator:
    """Given spike times (ms) and neuron indices (a source population)."""

    name: str
    size: int
    times_ms: tuple
    indices: tuple

    def __post_init__(self):
        _name_ok("SpikeGenerator", self.name)
        _size_ok("SpikeGenerator", self.name, self.size)
        t = np.asarray(self.times_ms, dtype=float)
        i = np.asarray(self.indices)
        if t.shape != i.shape or t.ndim != 1:
            raise ParameterError(f"SpikeGenerator {self.name!r}: times_ms and indices must be 1-d of equal length ({t.shape} vs {i.shape})")
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            raise ParameterError(f"SpikeGenerator {self.name!r}: times must be finite and >= 0")
        if i.size and (i.min() < 0 or i.max() >= self.size or not np.issubdtype(i.dtype, np.integer)):
            raise ParameterError(f"SpikeGenerator {self.name!r}: indices must be integers in [0, {self.size})")


@dataclass(frozen=True)
class CurrentStep:
    """A current step onto a neuron population: ``amplitude`` is added to the external input of
    ``neurons`` (all when None) from ``start_ms`` until ``stop_ms`` (membrane units per the model:
    mV/ms-scale current for Izhikevich, steady-state voltage for LIF)."""

    target: str
    amplitude: float
    start_ms: float = 0.0
    stop_ms: float = float("inf")
    neurons: Optional[tuple] = None

    def __post_init__(self):
        if not np.isfinite(self.amplitude):
            raise ParameterError(f"CurrentStep onto {self.target!r}: amplitude must be finite, got {self.amplitude!r}")
        if not (np.isfinite(self.start_ms) and self.start_ms >= 0 and self.stop_ms > self.start_ms):
            raise ParameterError(f"CurrentStep onto {self.target!r}: need 0 <= start_ms < stop_ms, got "
                                 f"{self.start_ms!r}, {self.stop_ms!r}")


# --- connectivity -----------------------------------------------------------

@dataclass(frozen=True)
class FixedOutDegree:
    k: int
    autapses: bool = False


@dataclass(frozen=True)
class FixedInDegree:
    k: int
    autapses: bool = False


@dataclass(frozen=True)
class Probability:
    p: float
    autapses: bool = False


@dataclass(frozen=True)
class Pairs:
    pre: tuple
    post: tuple


Connectivity = Union[FixedOutDegree, FixedInDegree, Probability, Pairs]


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float


@dataclass(frozen=True)
class LogNormal:
    """exp(N(mu, sigma)) scaled by ``scale``."""
    mu: float
    sigma: float
    scale: float = 1.0


@dataclass(frozen=True)
class Projection:
    pre: str
    post: str
    connectivity: Connectivity
    weight: Union[float, Uniform, LogNormal] = 1.0
    delay_ms: Union[float, Uniform] = 1.0
    target: str = "pulse"
    inhibitory: bool = False
    name: Optional[str] = None
    pre_range: Optional[tuple] = None   # (start, stop) neurons of ``pre`` that project
    post_range: Optional[tuple] = None  # (start, stop) neurons of ``post`` that receive
    plasticity: Optional[object] = None  # a spiking.plasticity.STDP rule, or None (static)
    receptor: Optional[str] = None       # the post model's receptor (LIF receptors); None: the first of the target's kind

    def __post_init__(self):
        label = self.name or f"{self.pre}->{self.post}"
        for nm in ("pre_range", "post_range"):
            r = getattr(self, nm)
            if r is not None and (len(r) != 2 or not all(isinstance(x, (int, np.integer)) for x in r) or not 0 <= r[0] < r[1]):
                raise ParameterError(f"Projection {label}: {nm} must be (start, stop) ints with 0 <= start < stop, got {r!r}")
        if self.target not in ("pulse", "current", "conductance"):
            raise ParameterError(f"Projection {label}: target must be 'pulse', 'current' or 'conductance', got {self.target!r}")
        if self.target == "conductance" and self.inhibitory:
            raise ParameterError(f"Projection {label}: a conductance is never negative; what makes it inhibitory is "
                                 f"its receptor's reversal potential (e_rev): leave inhibitory=False")
        if self.receptor is not None and (self.target == "pulse" or not isinstance(self.receptor, str)):
            raise ParameterError(f"Projection {label}: receptor={self.receptor!r} needs target 'current' or "
                                 f"'conductance' and a receptor name (a pulse jumps the membrane itself)")
        c = self.connectivity
        if isinstance(c, (FixedOutDegree, FixedInDegree)):
            if not isinstance(c.k, (int, np.integer)) or c.k < 0:
                raise ParameterError(f"Projection {label}: degree k must be an int >= 0, got {c.k!r}")
        elif isinstance(c, Probability):
            if not (0.0 <= float(c.p) <= 1.0):
                raise ParameterError(f"Projection {label}: connection probability must be in [0, 1], got {c.p!r}")
        elif isinstance(c, Pairs):
            pre, post = np.asarray(c.pre), np.asarray(c.post)
            if pre.shape != post.shape or pre.ndim != 1:
                raise ParameterError(f"Projection {label}: Pairs pre and post must be 1-d of equal length ({pre.shape} vs {post.shape})")
            for side, arr in (("pre", pre), ("post", post)):
                if arr.size and arr.dtype.kind not in "iu":   # floats must be whole numbers, never truncated
                    num = arr.dtype.kind == "f"
                    bad = (~np.isfinite(arr) | (arr != np.round(arr))) if num else np.ones(arr.shape, bool)
                    if bad.any():
                        k = int(np.argmax(bad))
                        raise ParameterError(f"Projection {label}: Pairs {side} indices must be whole numbers; "
                                             f"{side}[{k}] = {arr[k].item()!r}")
        elif _is_grow(c):
            if self.plasticity is None:
                raise ParameterError(f"Projection {label}: a growing store (Grow) needs a plasticity rule")
            if np.ndim(self.delay_ms) != 0 or isinstance(self.delay_ms, Uniform):
                raise ParameterError(f"Projection {label}: a growing store needs one homogeneous delay_ms")
            if self.pre_range is not None or self.post_range is not None:
                raise ParameterError(f"Projection {label}: pre_range/post_range do not apply to growing stores")
        else:
            raise ParameterError(f"Projection {label}: unknown connectivity {c!r}")
        w = self.weight
        if isinstance(w, Uniform):
            if not (np.isfinite([w.low, w.high]).all() and 0 <= w.low <= w.high):
                raise ParameterError(f"Projection {label}: weight Uniform needs 0 <= low <= high, got {w}")
        elif isinstance(w, LogNormal):
            if not (np.isfinite([w.mu, w.sigma, w.scale]).all() and w.sigma >= 0 and w.scale >= 0):
                raise ParameterError(f"Projection {label}: bad LogNormal weight {w}")
        else:
            arr = np.asarray(w, dtype=float)
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ParameterError(f"Projection {label}: weights are magnitudes and must be finite and >= 0 (use inhibitory=True for negative), got {w!r}")
        if self.plasticity is not None:
            from .plasticity import STDP
            if not isinstance(self.plasticity, STDP):
                raise ParameterError(f"Projection {label}: plasticity must be a spiking.plasticity.STDP rule")
            if self.inhibitory:
                raise ParameterError(f"Projection {label}: plastic projections must be excitatory (weights in [w_min, w_max])")
        d = self.delay_ms
        if isinstance(d, Uniform):
            if not (np.isfinite([d.low, d.high]).all() and 0 < d.low <= d.high):
                raise ParameterError(f"Projection {label}: delay Uniform needs 0 < low <= high, got {d}")
        else:
            arr = np.asarray(d, dtype=float)
            if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise ParameterError(f"Projection {label}: delay_ms must be finite and > 0, got {d!r}")

    @property
    def label(self) -> str:
        return self.name or f"{self.pre}->{self.post}"


def receptor_index(net, pr: Projection) -> int:
    """The index of the receptor of ``pr.post`` that ``pr`` reaches (0 for a pulse), or a
    ParameterError naming the problem: an unknown receptor, a current projection onto a
    conductance or the reverse, or a receptor on a model that has none."""
    if pr.target == "pulse":
        return 0
    m = net.model_of(pr.post)
    recs = m.receptor_list()
    want_cond = pr.target == "conductance"
    if pr.receptor is None:
        for k, r in enumerate(recs):
            if r.conductance == want_cond:
                return k
        hint = ("give one with a reversal potential e_rev for target='conductance'" if want_cond
                else "use target='conductance'")
        raise ParameterError(f"Projection {pr.label}: {pr.post!r} has no {'conductance' if want_cond else 'current'} "
                             f"receptor (it has {[r.name for r in recs]}); {hint}")
    for k, r in enumerate(recs):
        if r.name == pr.receptor:
            if r.conductance != want_cond:
                kind = "a conductance (it has e_rev)" if r.conductance else "a current (it has no e_rev)"
                raise ParameterError(f"Projection {pr.label}: receptor {r.name!r} of {pr.post!r} is {kind}; "
                                     f"use target={'conductance' if r.conductance else 'current'!r}")
            return k
    raise ParameterError(f"Projection {pr.label}: {pr.post!r} has no receptor {pr.receptor!r}; it has "
                         f"{[r.name for r in recs]}")


@dataclass(frozen=True)
class Network:
    """The whole description: neuron populations, sources, projections, dt and seed."""

    populations: tuple
    projections: tuple = ()
    sources: tuple = ()
    dt_ms: float = 1.0
    seed: int = 0
    modulators: tuple = ()   # spiking.plasticity.Modulator channels used by three-factor rules
    currents: tuple = ()     # CurrentStep inputs

    def __post_init__(self):
        from .params import check_dt

        check_dt(self.dt_ms)
        for c in self.currents:
            if not isinstance(c, CurrentStep) or c.target not in neuron_names_of(self):
                raise ParameterError(f"Network: current input {c!r} must be a CurrentStep onto a neuron population")
            if c.neurons is not None:
                idx = np.asarray(c.neurons)
                if idx.size and (idx.min() < 0 or idx.max() >= self.size_of(c.target)):
                    raise ParameterError(f"CurrentStep onto {c.target!r}: neuron indices out of range")
        mods = {m.name for m in self.modulators}
        for pr in self.projections:
            rule = pr.plasticity
            if rule is not None and rule.modulated and rule.modulator not in mods:
                raise ParameterError(f"Projection {pr.label}: modulator channel {rule.modulator!r} is not declared "
                                     f"in Network.modulators ({sorted(mods)})")
        names = [p.name for p in self.populations] + [s.name for s in self.sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ParameterError(f"Network: duplicate population names {sorted(dup)}")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ParameterError(f"Network: seed must be an int >= 0, got {self.seed!r}")
        neuron_names = {p.name for p in self.populations}
        for pr in self.projections:
            if pr.pre not in names:
                raise ParameterError(f"Projection {pr.label}: unknown pre population {pr.pre!r}")
            if pr.post not in neuron_names:
                raise ParameterError(f"Projection {pr.label}: post {pr.post!r} must be a neuron population")
            receptor_index(self, pr)
            for nm, pop in (("pre_range", pr.pre), ("post_range", pr.post)):
                r = getattr(pr, nm)
                if r is not None and r[1] > self.size_of(pop):
                    raise ParameterError(f"Projection {pr.label}: {nm} {r} exceeds the size {self.size_of(pop)} of {pop!r}")

    def model_of(self, name: str):
        for p in self.populations:
            if p.name == name:
                return p.model
        raise KeyError(name)

    def size_of(self, name: str) -> int:
        for p in tuple(self.populations) + tuple(self.sources):
            if p.name == name:
                return int(p.size)
        raise KeyError(name)
