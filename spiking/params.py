"""Neuron models as frozen, validated parameter objects (units in the field names).

A model describes one neuron type; heterogeneous populations give per-neuron arrays
through ``Izhikevich.heterogeneous_2003`` or by passing arrays to the population.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np


class ParameterError(ValueError):
    """A model, population, projection or run parameter is invalid."""


def _numbers(owner: str, name: str, value) -> np.ndarray:
    """``value`` as a float array; a string, a bool or anything else that is not a number (or an
    array of numbers) is refused here, at construction, with the field's name."""
    arr = None if isinstance(value, (str, bytes, bool, np.bool_)) else np.asarray(value)
    if arr is None or arr.dtype.kind not in "iuf":
        raise ParameterError(f"{owner}.{name} must be a number, got {type(value).__name__} {value!r}")
    return arr.astype(float)


def _finite(owner: str, name: str, value) -> None:
    arr = _numbers(owner, name, value)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ParameterError(f"{owner}.{name} must be finite, got {value!r}")


def _positive(owner: str, name: str, value) -> None:
    _finite(owner, name, value)
    if np.any(np.asarray(value, dtype=float) <= 0):
        raise ParameterError(f"{owner}.{name} must be > 0, got {value!r}")


def _nonneg(owner: str, name: str, value) -> None:
    _finite(owner, name, value)
    if np.any(np.asarray(value, dtype=float) < 0):
        raise ParameterError(f"{owner}.{name} must be >= 0, got {value!r}")


def to_dict(obj) -> dict:
    """Plain-dict form of a parameter dataclass (for checkpoints and logs)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


@dataclass(frozen=True)
class Receptor:
    """A named synaptic receptor: an exponential synaptic variable with its own time constant
    (``tau_ms``), optionally a rise time (``tau_rise_ms > 0``: a double exponential, as the
    single-receptor LIF's ``tau_rise_ms``), and optionally a reversal potential ``e_rev`` (in the
    model's membrane units; for ``LIF.physical`` in mV): a receptor with ``e_rev`` is a
    *conductance* (projections reach it with ``target="conductance"``; weights are conductance
    jumps relative to the leak conductance), one without is a *current* (``target="current"``;
    weights are jumps of the current in membrane units, as today)."""

    name: str
    tau_ms: float
    tau_rise_ms: float = 0.0
    e_rev: float | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or not self.name.replace("_", "").isalnum():
            raise ParameterError(f"Receptor name must be a non-empty identifier, got {self.name!r}")
        o = f"Receptor({self.name!r})"
        _positive(o, "tau_ms", self.tau_ms)
        _nonneg(o, "tau_rise_ms", self.tau_rise_ms)
        if self.e_rev is not None:
            _finite(o, "e_rev", self.e_rev)

    @property
    def conductance(self) -> bool:
        return self.e_rev is not None


def _receptors_ok(owner: str, receptors) -> None:
    if not isinstance(receptors, tuple) or not all(isinstance(r, Receptor) for r in receptors):
        raise ParameterError(f"{owner}.receptors must be a tuple of spiking.Receptor, got {receptors!r}")
    names = [r.name for r in receptors]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ParameterError(f"{owner}.receptors: duplicate receptor names {dup}")


@dataclass(frozen=True)
class LIF:
    """Leaky integrate-and-fire neuron, normalised membrane (EMBER spec 2.2 defaults).

    ``noise_sigma`` is the strength of white noise given per 1 ms (as on
    :class:`Izhikevich`): the std of the Gaussian increment added to V over 1 ms. Each step
    adds one with std ``noise_sigma * sqrt(dt / 1 ms)``, so the membrane diffusion per ms is
    the same at every dt.  ``i_ext`` is a constant input in membrane units
    (the steady-state V it would produce without threshold).

    Synapses are current-based exponentials (tau_syn_ms), or with ``tau_rise_ms > 0``
    double exponentials as on the Izhikevich model: an arriving weight w enters a rise
    variable h that feeds I_syn, dI/dt = -I/tau_syn + h/tau_rise, dh/dt = -h/tau_rise. The
    three linear equations (V, I, h) are integrated exactly over each step.

    ``receptors``: several named synaptic receptors, each with its own time constant (and rise
    time, and for a conductance its reversal potential); a projection names the one it targets
    (``Projection(receptor="inh")``; the first receptor of its kind when it names none). With
    receptors given, ``tau_syn_ms`` and ``tau_rise_ms`` are not used. Current receptors only:

        tau_m dV/dt = -V + sum_r I_r + I_ext,   dI_r/dt = -I_r / tau_r

    integrated exactly (one propagator per receptor). With any conductance receptor,

        tau_m dV/dt = -V + sum_c g_c (E_c - V) + sum_r I_r + I_ext,   dg_c/dt = -g_c / tau_c

    (g relative to the leak conductance, E above rest) is advanced by exponential Euler, the
    scheme Brian2 picks for these equations: over one step every input is held at its value at
    the start of the step and V relaxes exactly towards (sum g E + sum I + I_ext) / G with time
    constant tau_m / G, G = 1 + sum g; each g and I decays exactly. docs/engine.md, "Receptors".
    """

    tau_m_ms: float = 20.0
    tau_syn_ms: float = 5.0
    v_th: float = 0.86
    v_reset: float = 0.0
    v_init: float = 0.0
    t_ref_ms: float = 2.0
    noise_sigma: float = 0.1
    i_ext: float = 0.0
    tau_rise_ms: float = 0.0   # > 0: double-exponential synaptic current (rise tau_rise, decay tau_syn)
    receptors: tuple = ()      # named receptors (spiking.Receptor); () is one current receptor (tau_syn_ms)

    def __post_init__(self):
        o = "LIF"
        _receptors_ok(o, self.receptors)
        _positive(o, "tau_m_ms", self.tau_m_ms)
        _positive(o, "tau_syn_ms", self.tau_syn_ms)
        _nonneg(o, "tau_rise_ms", self.tau_rise_ms)
        for n in ("v_th", "v_reset", "v_init", "i_ext"):
            _finite(o, n, getattr(self, n))
        _nonneg(o, "t_ref_ms", self.t_ref_ms)
        _nonneg(o, "noise_sigma", self.noise_sigma)
        if self.v_reset >= self.v_th:
            raise ParameterError(f"LIF.v_reset ({self.v_reset}) must be below v_th ({self.v_th})")

    @classmethod
    def physical(cls, *, v_rest_mV: float, v_th_mV: float, v_reset_mV: float, tau_m_ms: float,
                 r_mohm: float | None = None, c_pf: float | None = None, i_ext_pA: float = 0.0,
                 v_init_mV: float | None = None, t_ref_ms: float = 2.0, tau_syn_ms: float = 5.0,
                 noise_sigma_mV: float = 0.0, tau_rise_ms: float = 0.0, receptors: tuple = ()) -> "LIF":
        """A LIF stated as in a paper, in mV, ms, MOhm / pF and pA; it builds to the same kernels.

        The engine's V is the membrane potential relative to rest, in mV: v = V - v_rest, so
        v_th = v_th_mV - v_rest_mV and v_reset = v_reset_mV - v_rest_mV (a monitor's V reads in
        mV above rest). The membrane resistance comes from ``r_mohm`` or from the capacitance,
        R = tau_m / C; ``i_ext_pA`` becomes the steady-state depolarisation R I in mV. Synaptic
        weights are then in mV (the jump of I_syn, which V follows with tau_m): a current of
        w pA is ``LIF.weight_mV(w, r_mohm)``. The Brette et al. (2007) CUBA neuron is
        ``LIF.physical(v_rest_mV=-49, v_th_mV=-50, v_reset_mV=-60, tau_m_ms=20, t_ref_ms=5)``.

        ``receptors``: their ``e_rev`` in mV, as the paper states it (shifted by rest like the
        thresholds); a conductance of w nS is ``LIF.conductance_nS(w, r_mohm)``, w relative to the
        leak conductance 1 / R."""
        o = "LIF.physical"
        for n, v in (("v_rest_mV", v_rest_mV), ("v_th_mV", v_th_mV), ("v_reset_mV", v_reset_mV),
                     ("i_ext_pA", i_ext_pA)):
            _finite(o, n, v)
        _positive(o, "tau_m_ms", tau_m_ms)
        if (r_mohm is None) == (c_pf is None) and i_ext_pA != 0.0:
            raise ParameterError("LIF.physical: give the membrane's r_mohm or its c_pf (one of them) to use i_ext_pA")
        if r_mohm is None and c_pf is not None:
            _positive(o, "c_pf", c_pf)
            r_mohm = float(tau_m_ms) / float(c_pf) * 1000.0      # ms / pF = GOhm
        if r_mohm is not None:
            _positive(o, "r_mohm", r_mohm)
        rest = float(v_rest_mV)
        _receptors_ok(o, receptors)
        receptors = tuple(r if r.e_rev is None else Receptor(r.name, r.tau_ms, r.tau_rise_ms, float(r.e_rev) - rest)
                          for r in receptors)
        return cls(tau_m_ms=float(tau_m_ms), tau_syn_ms=tau_syn_ms, v_th=float(v_th_mV) - rest,
                   v_reset=float(v_reset_mV) - rest, v_init=(rest if v_init_mV is None else float(v_init_mV)) - rest,
                   t_ref_ms=t_ref_ms, noise_sigma=noise_sigma_mV,
                   i_ext=float(i_ext_pA) * (r_mohm or 0.0) / 1000.0, tau_rise_ms=tau_rise_ms, receptors=receptors)

    @staticmethod
    def weight_mV(current_pA: float, r_mohm: float) -> float:
        """A synaptic current of ``current_pA`` as the engine's weight for a membrane of ``r_mohm``: R I in mV."""
        return float(current_pA) * float(r_mohm) / 1000.0

    @staticmethod
    def conductance_nS(g_nS: float, r_mohm: float) -> float:
        """A conductance jump of ``g_nS`` as the engine's weight for a membrane of ``r_mohm``: g R
        (relative to the leak conductance 1 / R)."""
        return float(g_nS) * float(r_mohm) / 1000.0

    def receptor_list(self) -> tuple:
        """The receptors a projection may target: ``receptors``, or the one current receptor
        ``Receptor("syn", tau_syn_ms, tau_rise_ms)`` of a LIF that names none."""
        return self.receptors or (Receptor("syn", self.tau_syn_ms, self.tau_rise_ms),)

    def receptor_propagators(self, dt_ms: float) -> dict:
        """Per-receptor one-step constants (float64 lists, receptor order) for the receptor kernels:
        p21 (I_r -> V, exact, used when no receptor is a conductance), p11 (decay), p2h / rise_decay /
        rise_gain (rise variable), e_rev (0 for a current), cond (1 for a conductance) and rise (1 with a
        rise time)."""
        out = {k: [] for k in ("p21", "p11", "p2h", "rise_decay", "rise_gain", "e_rev", "cond", "rise")}
        for r in self.receptors:
            one = LIF(tau_m_ms=self.tau_m_ms, tau_syn_ms=r.tau_ms, tau_rise_ms=r.tau_rise_ms,
                      v_th=self.v_th, v_reset=self.v_reset).propagators(dt_ms)
            for k in ("p21", "p11", "p2h", "rise_decay", "rise_gain"):
                out[k].append(one[k])
            out["e_rev"].append(0.0 if r.e_rev is None else float(r.e_rev))
            out["cond"].append(1 if r.conductance else 0)
            out["rise"].append(1 if r.tau_rise_ms > 0 else 0)
        return out

    def propagators(self, dt_ms: float) -> dict:
        """Exact one-step propagators (float64), computed once on the host."""
        tm, ts, h = self.tau_m_ms, self.tau_syn_ms, dt_ms
        p22 = math.exp(-h / tm)
        p11 = math.exp(-h / ts)
        if abs(tm - ts) < 1e-9 * tm:
            p21 = (h / tm) * p22
        else:
            p21 = ts / (ts - tm) * (p11 - p22)
        out = {"p22": p22, "p21": p21, "p20": 1.0 - p22, "p11": p11, "p2h": 0.0, "rise_decay": 0.0, "rise_gain": 0.0}
        if self.tau_rise_ms > 0:
            # the (V, I, h) system is upper triangular; its exact propagator exp(A h) gives the
            # rise terms (scipy's expm copes with equal time constants, where closed forms divide by 0)
            from scipy.linalg import expm
            tr = self.tau_rise_ms
            a = np.array([[-1.0 / tm, 1.0 / tm, 0.0], [0.0, -1.0 / ts, 1.0 / tr], [0.0, 0.0, -1.0 / tr]])
            prop = expm(a * h)
            out.update(p2h=float(prop[0, 2]), rise_gain=float(prop[1, 2]), rise_decay=math.exp(-h / tr))
        return out

    def rate_constant_input_hz(self, i_const: float) -> float:
        """Closed-form rate under constant input, no noise, continuous time.

        T = t_ref + tau_m ln((I - v_reset) / (I - v_th)); 0 if I <= v_th.
        """
        if i_const <= self.v_th:
            return 0.0
        t = self.t_ref_ms + self.tau_m_ms * math.log((i_const - self.v_reset) / (i_const - self.v_th))
        return 1000.0 / t


# Izhikevich (2003) named families: (a, b, c, d)
IZH_FAMILIES = {
    "RS": (0.02, 0.2, -65.0, 8.0),
    "IB": (0.02, 0.2, -55.0, 4.0),
    "CH": (0.02, 0.2, -50.0, 2.0),
    "FS": (0.1, 0.2, -65.0, 2.0),
    "LTS": (0.02, 0.25, -65.0, 2.0),
}


@dataclass(frozen=True)
class Izhikevich:
    """Izhikevich (2003) neuron; v in mV, time in ms, currents in mV/ms.

    ``noise_sigma`` has the one meaning it has on :class:`LIF`: the strength of white noise
    given per 1 ms. Here it is a background current (mV/ms, or pA in the 2007 form) redrawn
    every step with std ``noise_sigma * sqrt(1 ms / dt)``, so that its contribution to v over
    1 ms has std ``noise_sigma`` (divided by C in the 2007 form) whatever dt is. (Before this
    was unified it was the per-step std and callers scaled it themselves; the anchor network's
    5 * sqrt(1 ms / dt) is now ``noise_sigma=5.0``, with the same numbers.)  Current synapses are single exponentials
    (tau_syn_ms), or with ``tau_rise_ms > 0`` double exponentials: an arriving weight w enters a
    rise variable h that feeds I_syn, dI/dt = -I/tau_syn + h/tau_rise, dh/dt = -h/tau_rise,
    integrated exactly; the charge of one input is w * tau_syn_ms in both forms.  ``half_steps=True`` selects Izhikevich's
    own scheme (v in two dt/2 half-steps, u with the new v); the default is forward
    Euler on (v, u) with the old v, as Brian2's ``euler``.

    ``form="2007"`` selects the general quadratic model of Izhikevich's 2007 book (and of
    Nicola & Clopath 2017): C dv/dt = k (v - v_r)(v - v_t) - u + I, du/dt = a (b (v - v_r) - u),
    with C (pF), k (nS/mV), v_r and v_t (mV) population-wide; I, u, i_ext, noise and synaptic
    weights are then in pA. The defaults of those four are the book's regular-spiking cell
    (with a = 0.03, b = -2, c = -50, d = 100, v_peak = 35 mV).

    ``receptors``: named receptors as on :class:`LIF` (then ``tau_syn_ms`` / ``tau_rise_ms`` are not
    used). The step's synaptic input is the sum over receptors at the start of the step, a current
    receptor giving I_r and a conductance g_r (E_r - v) (E in mV, g in current units per mV: nS in
    the 2007 form), held over the step as every other input (spiking/kernels/izh_receptors.py).
    """

    a: float = 0.02
    b: float = 0.2
    c_mV: float = -65.0
    d: float = 8.0
    v_peak_mV: float = 30.0
    v_init_mV: float = -65.0
    tau_syn_ms: float = 5.0
    noise_sigma: float = 0.0
    i_ext: float = 0.0
    half_steps: bool = False
    tau_rise_ms: float = 0.0   # > 0: double-exponential synaptic current (rise tau_rise, decay tau_syn)
    # the general quadratic form (Izhikevich 2007), used when form == "2007":
    #   C dv/dt = k (v - v_r)(v - v_t) - u + I,  du/dt = a (b (v - v_r) - u); currents in pA, C in pF
    form: str = "2003"
    C: float = 100.0           # pF
    k: float = 0.7             # nS / mV
    v_r_mV: float = -60.0
    v_t_mV: float = -40.0
    receptors: tuple = ()      # named receptors (spiking.Receptor); () is one current synapse (tau_syn_ms)

    def __post_init__(self):
        o = "Izhikevich"
        _receptors_ok(o, self.receptors)
        if self.form not in ("2003", "2007"):
            raise ParameterError(f"Izhikevich.form must be '2003' or '2007', got {self.form!r}")
        _positive(o, "C", self.C)
        for n in ("k", "v_r_mV", "v_t_mV"):
            _finite(o, n, getattr(self, n))
        _nonneg(o, "tau_rise_ms", self.tau_rise_ms)
        for n in ("a", "b", "c_mV", "d", "v_peak_mV", "v_init_mV", "i_ext"):
            _finite(o, n, getattr(self, n))
        _positive(o, "tau_syn_ms", self.tau_syn_ms)
        _nonneg(o, "noise_sigma", self.noise_sigma)
        if self.c_mV >= self.v_peak_mV:
            raise ParameterError(f"Izhikevich.c_mV ({self.c_mV}) must be below v_peak_mV ({self.v_peak_mV})")

    def receptor_list(self) -> tuple:
        """As ``LIF.receptor_list``: ``receptors``, or the one current synapse ``"syn"``."""
        return self.receptors or (Receptor("syn", self.tau_syn_ms, self.tau_rise_ms),)

    def receptor_propagators(self, dt_ms: float) -> dict:
        """Per-receptor constants (receptor order): p11 = exp(-dt / tau), the rise variable's decay and
        gain, e_rev (0 for a current), cond and rise flags."""
        out = {k: [] for k in ("p11", "rise_decay", "rise_gain", "e_rev", "cond", "rise")}
        for r in self.receptors:
            out["p11"].append(math.exp(-dt_ms / r.tau_ms))
            out["rise_decay"].append(math.exp(-dt_ms / r.tau_rise_ms) if r.tau_rise_ms > 0 else 0.0)
            out["rise_gain"].append(rise_gain(r.tau_rise_ms, r.tau_ms, dt_ms) if r.tau_rise_ms > 0 else 0.0)
            out["e_rev"].append(0.0 if r.e_rev is None else float(r.e_rev))
            out["cond"].append(1 if r.conductance else 0)
            out["rise"].append(1 if r.tau_rise_ms > 0 else 0)
        return out

    @classmethod
    def family(cls, name: str, **kw) -> "Izhikevich":
        try:
            a, b, c, d = IZH_FAMILIES[name.upper()]
        except KeyError:
            raise ParameterError(f"unknown Izhikevich family {name!r}; known: {sorted(IZH_FAMILIES)}") from None
        return cls(a=a, b=b, c_mV=c, d=d, **kw)


def izhikevich_2003_heterogeneity(n_exc: int, n_inh: int, rng: np.random.Generator) -> dict:
    """Per-neuron (a, b, c, d) of Izhikevich (2003): r ~ U(0,1) per neuron,
    exc: a=0.02, b=0.2, c=-65+15r^2, d=8-6r^2 (RS to CH); inh: a=0.02+0.08r,
    b=0.25-0.05r, c=-65, d=2 (FS to LTS).  Returns float32 arrays of length n_exc+n_inh."""
    re = rng.random(n_exc)
    ri = rng.random(n_inh)
    a = np.concatenate([np.full(n_exc, 0.02), 0.02 + 0.08 * ri])
    b = np.concatenate([np.full(n_exc, 0.2), 0.25 - 0.05 * ri])
    c = np.concatenate([-65.0 + 15.0 * re**2, np.full(n_inh, -65.0)])
    d = np.concatenate([8.0 - 6.0 * re**2, np.full(n_inh, 2.0)])
    return {k: x.astype(np.float32) for k, x in {"a": a, "b": b, "c_mV": c, "d": d}.items()}


def check_dt(dt_ms) -> float:
    try:
        dt = float(dt_ms)
    except (TypeError, ValueError):
        raise ParameterError(f"dt_ms must be a number, got {dt_ms!r}") from None
    if not math.isfinite(dt) or dt <= 0:
        raise ParameterError(f"dt_ms must be a finite number > 0, got {dt_ms!r}")
    return dt


def rise_gain(tau_rise_ms: float, tau_decay_ms: float, dt_ms: float) -> float:
    """One-step transfer from the rise variable h to I of dI/dt = -I/tau_d + h/tau_r, dh/dt = -h/tau_r."""
    tr, td, h = tau_rise_ms, tau_decay_ms, dt_ms
    if abs(td - tr) < 1e-9 * td:
        return (h / td) * math.exp(-h / td)
    return td / (td - tr) * (math.exp(-h / td) - math.exp(-h / tr))
