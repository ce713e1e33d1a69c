"""Plasticity: descriptions (STDP, Cascade, Modulator) and the runtime of a plastic projection.

Rules (see docs/engine.md "Plasticity"):

* **STDP**, pair-based.  With a homogeneous delay every synapse of a neuron sees the same
  arrival times, so the presynaptic trace is kept per neuron (the optimisation perf-anchors
  4.4 allows); with heterogeneous delays it is kept per synapse and updated at that
  synapse's own arrival (rows sorted by delay), exactly as Brian2's event-driven traces.
  Pre-side update when the spike arrives (after the delay), post-side at the post spike,
  Brian2's order within a step (arrivals first, then post spikes; transmission with the weight
  before its update).  ``A+ exp(-dt/tau+)`` for post after pre, ``-A- exp(dt/tau-)`` for pre
  after post.  All-to-all or nearest-neighbour pairing; hard or soft bounds [w_min, w_max].
* **Three-factor** (``modulated=True``): the STDP term goes into a per-synapse eligibility
  trace e (tau_e) instead of w, and ``dw = eta * D(t) * e * dt`` with D(t) = tonic + phasic
  of the projection's modulator channel (global by default; give projections onto different
  post groups different channels for per-group modulation).  While D = 0 the decay of e is
  kept as one pending factor, so idle steps cost O(1), not O(synapses).
* **Homeostasis** (optional, off by default): once per simulated second each neuron's
  summed incoming weight of the projection is scaled down to at most ``max_total_in``
  (EMBER spec 3.5's synaptic scaling, e.g. 5 * w_max).
* **Cascade** (after Fusi, Drew and Abbott 2005): a level per synapse with its own decay time
  constant tau_0 * factor^level; decay applied in closed form, w *= exp(-elapsed/tau_c), once
  per simulated second (at steps that are multiples of 1 s, so chunking never changes the
  result) and by ``Simulator.advance_idle``; synapses potentiated between
  ``begin_consolidation()`` and ``end_consolidation()`` are promoted one level.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .params import ParameterError, _finite, _positive


@dataclass(frozen=True)
class Cascade:
    levels: int = 5
    tau0_ms: float = 3_600_000.0   # 1 h
    factor: float = 4.7            # tau_c = tau0 * factor ** c (EMBER spec 3.3 default)
    # metaplasticity (Fusi, Drew & Abbott 2005: deeper states are less labile): a three-factor
    # decrease of a level-c synapse is divided by depression_factor ** c. 1 = off.
    depression_factor: float = 1.0

    def __post_init__(self):
        if not isinstance(self.levels, int) or not 1 <= self.levels <= 255:
            raise ParameterError(f"Cascade.levels must be an int in [1, 255], got {self.levels!r}")
        _positive("Cascade", "tau0_ms", self.tau0_ms)
        _positive("Cascade", "factor", self.factor)
        _positive("Cascade", "depression_factor", self.depression_factor)
        if self.depression_factor < 1.0:
            raise ParameterError(f"Cascade.depression_factor must be >= 1 (deeper levels are not more labile), "
                                 f"got {self.depression_factor!r}")

    def depression_scales(self) -> np.ndarray:
        """The factor on a three-factor decrease at each level (float32)."""
        return (self.depression_factor ** -np.arange(self.levels, dtype=np.float64)).astype(np.float32)

    def taus_ms(self) -> np.ndarray:
        return self.tau0_ms * self.factor ** np.arange(self.levels)


@dataclass(frozen=True)
class STDP:
    """Pair-based STDP.  Amplitudes are in weight units and both are magnitudes (>= 0):
    potentiation +a_plus, depression -a_minus."""

    a_plus: float = 0.01
    a_minus: float = 0.0105
    tau_plus_ms: float = 20.0
    tau_minus_ms: float = 20.0
    w_min: float = 0.0
    w_max: float = 1.0
    pairing: str = "all"           # "all" (all-to-all traces) or "nearest"
    bounds: str = "hard"           # "hard" (clip) or "soft" (multiplicative)
    modulated: bool = False        # three-factor: STDP into eligibility, w changes by eta * D * e
    tau_e_ms: float = 1000.0
    eta: float = 1.0
    modulator: str = "dopamine"
    cascade: Optional[Cascade] = None
    max_total_in: Optional[float] = None   # homeostasis: cap on each neuron's summed incoming weight (off)

    def __post_init__(self):
        o = "STDP"
        for n in ("a_plus", "a_minus"):
            _finite(o, n, getattr(self, n))
            if getattr(self, n) < 0:
                raise ParameterError(f"STDP.{n} is a magnitude and must be >= 0, got {getattr(self, n)!r}")
        for n in ("tau_plus_ms", "tau_minus_ms", "tau_e_ms"):
            _positive(o, n, getattr(self, n))
        _finite(o, "w_min", self.w_min)
        _positive(o, "w_max", self.w_max)
        _finite(o, "eta", self.eta)
        if self.w_min < 0 or self.w_min >= self.w_max:
            raise ParameterError(f"STDP needs 0 <= w_min < w_max, got w_min={self.w_min}, w_max={self.w_max}")
        if self.pairing not in ("all", "nearest"):
            raise ParameterError(f"STDP.pairing must be 'all' or 'nearest', got {self.pairing!r}")
        if self.bounds not in ("hard", "soft"):
            raise ParameterError(f"STDP.bounds must be 'hard' or 'soft', got {self.bounds!r}")
        if self.cascade is not None and not isinstance(self.cascade, Cascade):
            raise ParameterError("STDP.cascade must be a Cascade or None")
        if self.max_total_in is not None:
            _positive(o, "max_total_in", self.max_total_in)

    @classmethod
    def ember(cls, a_plus: float = 0.01, w_max: float = 1.0, **kw) -> "STDP":
        """EMBER's rule (spec 3.1): A- = 1.05 A+, tau+ = 20 ms, tau- = 30 ms."""
        return cls(a_plus=a_plus, a_minus=1.05 * a_plus, tau_plus_ms=20.0, tau_minus_ms=30.0, w_max=w_max, **kw)


@dataclass(frozen=True)
class Modulator:
    """A neuromodulator channel: D(t) = tonic + phasic, phasic pulses decay with tau_phasic_ms."""

    name: str = "dopamine"
    tonic: float = 0.0
    tau_phasic_ms: float = 5000.0

    def __post_init__(self):
        _finite("Modulator", "tonic", self.tonic)
        _positive("Modulator", "tau_phasic_ms", self.tau_phasic_ms)


class PlasticRuntime:
    """Backend arrays and the per-step calls of one plastic projection."""

    def __init__(self, rule: STDP, dt_ms: float, arrays: dict, be):
        f32 = np.float32
        self.rule = rule
        self.k = be          # the backend is the kernel table
        self.be = be
        self.pre_decay = f32(math.exp(-dt_ms / rule.tau_plus_ms))
        self.post_decay = f32(math.exp(-dt_ms / rule.tau_minus_ms))
        self.e_decay = math.exp(-dt_ms / rule.tau_e_ms)
        self.a_plus, self.a_minus = f32(rule.a_plus), f32(rule.a_minus)
        self.w_min, self.w_max = f32(rule.w_min), f32(rule.w_max)
        self.nearest = rule.pairing == "nearest"
        self.soft = rule.bounds == "soft"
        self.dt_ms = dt_ms
        self.a = arrays
        self.pending = 1.0          # true eligibility = stored * pending (deferred decay while D = 0)
        self.last_decay_step = 0    # cascade decay applied up to this step
        self.check_frozen = False   # True once a synapse of this projection has been quarantined
        self.track = False          # mark potentiated synapses (between begin/end_consolidation)
        self.hetero = "a_pre" in arrays
        c = rule.cascade
        self.dep_scale = (be.asarray(c.depression_scales()) if c is not None and c.depression_factor != 1.0
                          and "level" in arrays else None)
        if self.hetero:
            # decay^k down to below float32's smallest subnormal (the trace is 0 beyond the table)
            n_tab = int(math.ceil(105.0 * rule.tau_plus_ms / dt_ms)) + 2
            self.log_decay = -dt_ms / rule.tau_plus_ms
            self.table = be.asarray(np.exp(np.arange(n_tab) * self.log_decay).astype(np.float32))
            d = be.to_host(arrays["delays"])
            self.d_min, self.d_max = (int(d.min()), int(d.max())) if d.size else (1, 1)

    def scalars(self) -> dict:
        return {"pending": self.pending, "last_decay_step": self.last_decay_step,
                "check_frozen": self.check_frozen, "track": self.track}

    def set_scalars(self, d: dict) -> None:
        self.pending = float(d["pending"])
        self.last_decay_step = int(d["last_decay_step"])
        self.check_frozen = bool(d.get("check_frozen", True))
        self.track = bool(d.get("track", False))

    def post(self, post_spikes, n_post, t):
        """Post-side update for the post spikes of step t."""
        a, k = self.a, self.k
        k.trace_scale(a["x_post"], self.post_decay)
        if not n_post:
            return
        inv = np.float32(1.0 / self.pending)
        if self.hetero:
            k.stdp_post_hetero(post_spikes, n_post, t, a["csc_indptr"], a["csc_syn"], a["weights"], a["a_pre"],
                               a["last"], self.table, self.log_decay, a["x_post"], self.a_minus, self.nearest,
                               self.w_min, self.w_max, self.soft, a["frozen"], self.check_frozen,
                               self.rule.modulated, a["elig"], inv, a["potentiated"], self.track)
        else:
            k.stdp_post(post_spikes, n_post, a["csc_indptr"], a["csc_syn"], a["csc_pre"], a["weights"], a["x_pre"],
                        a["x_post"], self.a_minus, self.nearest, self.w_min, self.w_max, self.soft, a["frozen"],
                        self.check_frozen, self.rule.modulated, a["elig"], inv, a["potentiated"], self.track)

    def pre(self, hist, hist_n, t_next, homog_delay, row):
        """Arrivals of step t_next: transmit into ``row`` and apply the pre-side update.
        ``hist``/``hist_n`` are the presynaptic group's spike history (ring over steps)."""
        a, k = self.a, self.k
        inv = np.float32(1.0 / self.pending)
        if self.hetero:
            k.stdp_pre_hetero(hist, hist_n, t_next, self.d_min, self.d_max, a["indptr"], a["indices"], a["delays"],
                              a["weights"], row, a["a_pre"], a["last"], self.table, self.log_decay, a["x_post"],
                              self.post_decay, self.a_plus, self.nearest, self.w_min, self.w_max, self.soft,
                              a["frozen"], self.check_frozen, self.rule.modulated, a["elig"], inv)
            return
        k.trace_scale(a["x_pre"], self.pre_decay)
        src = t_next - homog_delay
        if src < 0:
            return
        r = src % hist.shape[0]
        n_arr = int(hist_n[r])
        if n_arr:
            k.stdp_pre_transmit(hist[r], n_arr, a["indptr"], a["indices"], a["weights"], row, a["x_pre"],
                                a["x_post"], self.post_decay, self.a_plus, self.nearest, self.w_min, self.w_max,
                                self.soft, a["frozen"], self.check_frozen, self.rule.modulated, a["elig"], inv)

    def modulate(self, d_value: float):
        """Apply dw = eta * D * e * dt for this step, then decay e by one step."""
        if not self.rule.modulated:
            return
        a, k = self.a, self.k
        if d_value != 0.0:
            if self.pending != 1.0:
                k.trace_scale(a["elig"], np.float32(self.pending))
                self.pending = 1.0
            factor = np.float32(self.rule.eta * d_value * self.dt_ms)
            if self.dep_scale is not None:
                k.modulated_update_leveled(a["weights"], a["elig"], factor, a["level"], self.dep_scale, self.w_min,
                                           self.w_max, self.soft, a["frozen"], a["potentiated"], self.track)
            else:
                k.modulated_update(a["weights"], a["elig"], factor, self.w_min, self.w_max, self.soft, a["frozen"],
                                   a["potentiated"], self.track)
            k.trace_scale(a["elig"], np.float32(self.e_decay))
        else:
            self.defer_decay(self.e_decay)

    def defer_decay(self, factor: float):
        """Decay the eligibility by ``factor`` lazily (into ``pending``); applied to the array, and
        ``pending`` reset, before it could underflow (a long idle or ``advance_idle``)."""
        self.pending *= factor
        if self.pending < 1e-30:
            self.k.trace_scale(self.a["elig"], np.float32(self.pending))
            self.pending = 1.0

    def homeostasis(self):
        cap = self.rule.max_total_in
        if cap is not None:
            a = self.a
            self.k.synaptic_scaling(a["csc_indptr"], a["csc_syn"], a["weights"], float(cap), a["frozen"])

    def decay_to(self, step: int):
        """Closed-form cascade decay from the last application up to ``step``."""
        c = self.rule.cascade
        if c is None or step <= self.last_decay_step:
            self.last_decay_step = max(self.last_decay_step, step)
            return
        elapsed = (step - self.last_decay_step) * self.dt_ms
        factors = np.exp(-elapsed / c.taus_ms())
        self.k.cascade_decay(self.a["weights"], self.a["level"], self.be.asarray(factors), self.a["frozen"])
        self.last_decay_step = step


def csc_index(indptr: np.ndarray, indices: np.ndarray, n_post: int):
    """(csc_indptr, synapse ids, pre neuron of each) grouping a CSR matrix's synapses by target."""
    n_syn = indices.size
    pre = np.repeat(np.arange(indptr.size - 1, dtype=np.int32), np.diff(indptr))
    order = np.argsort(indices, kind="stable").astype(np.int32)
    counts = np.bincount(indices, minlength=n_post)
    cptr = np.zeros(n_post + 1, dtype=np.int64)
    np.cumsum(counts, out=cptr[1:])
    assert cptr[-1] == n_syn
    return cptr, order, pre[order]
