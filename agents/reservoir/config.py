"""Frozen, validated hyper-parameters of the reservoir prediction model (units in field names).

Every number tagged [D] / [D*] in the specification (../shared/specs/reservoir.md) is a default
here and can be changed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields


class ConfigError(ValueError):
    """A hyper-parameter or task field has a bad value; the message names the field."""


def _num(obj, name, *, lo=None, hi=None, lo_open=False, integer=False):
    v = getattr(obj, name)
    cls = type(obj).__name__
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{cls}.{name} must be a number, got {v!r}")
    if not math.isfinite(v):
        raise ConfigError(f"{cls}.{name} must be finite, got {v!r}")
    if integer and int(v) != v:
        raise ConfigError(f"{cls}.{name} must be an integer, got {v!r}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ConfigError(f"{cls}.{name} must be {'>' if lo_open else '>='} {lo}, got {v!r}")
    if hi is not None and v > hi:
        raise ConfigError(f"{cls}.{name} must be <= {hi}, got {v!r}")


@dataclass(frozen=True)
class ReservoirConfig:
    """Heterogeneous Izhikevich (2003) reservoir with a Gaussian sign-mixed recurrence (spec section 1)."""

    n_neurons: int = 1000            # [D*] N
    exc_fraction: float = 0.8        # E share (Izhikevich 2003 recipe: 0.8 N E, 0.2 N I)
    connection_p: float = 0.1        # [D*] p
    gain_G: float = 20.0             # [D*] G, Izhikevich current units (mV/ms)
    bias_current: float = 4.0        # [D*] I_b (mV/ms)
    tau_rise_ms: float = 2.0         # [D*] double exponential tau_r
    tau_decay_ms: float = 20.0       # [D*] tau_d
    dt_ms: float = 0.5               # [D*] forward Euler step
    input_fraction: float = 0.2      # [D] share of neurons one input channel drives
    input_amplitude: float = 10.0    # [D] current while a channel is on (mV/ms)
    pulse_ms: float = 50.0           # [D] cue / stimulus pulse length
    warmup_ms: float = 500.0         # settling before the stored initial state is taken
    pre_ms: float = 50.0             # simulated before the cue so x(t - lead) exists from t = 0
    sample_ms: float = 1.0           # feature sampling step (= the learning step dt_learn)
    noise_sigma: float = 0.0         # [D*] 0: deterministic trials; > 0: stress variant (std of the
                                     # per-step background current, redrawn every engine step)
    half_steps: bool = False         # Izhikevich's own v half-steps (engine option)
    clock: str = "hdts"              # [D] "hdts": a cue starts a clock input (Nicola & Clopath's high-dimensional
                                     # temporal signal: clock_pulses half-sine pulses in sequence over
                                     # clock_span_ms, each into every neuron through a fixed Gaussian weight);
                                     # "none": the cue pulse only (spec section 7, long-interval timing)
    clock_pulses: int = 20           # [D] m, pulses in the sequence
    clock_span_ms: float = 1000.0    # [D] the sequence's length after the cue (the trial's)
    clock_amplitude: float = 3.0     # [D] current scale of the clock input (mV/ms per unit weight)
    seed: int = 1

    def __post_init__(self):
        _num(self, "n_neurons", lo=10, integer=True)
        _num(self, "exc_fraction", lo=0.0, hi=1.0)
        _num(self, "connection_p", lo=0.0, hi=1.0, lo_open=True)
        _num(self, "gain_G", lo=0.0)
        _num(self, "bias_current")
        _num(self, "tau_rise_ms", lo=0.0, lo_open=True)
        _num(self, "tau_decay_ms", lo=0.0, lo_open=True)
        if self.tau_rise_ms == self.tau_decay_ms:
            raise ConfigError("ReservoirConfig.tau_rise_ms must differ from tau_decay_ms")
        _num(self, "dt_ms", lo=0.0, lo_open=True, hi=5.0)
        _num(self, "input_fraction", lo=0.0, hi=1.0, lo_open=True)
        _num(self, "input_amplitude")
        _num(self, "pulse_ms", lo=0.0, lo_open=True)
        _num(self, "warmup_ms", lo=0.0)
        _num(self, "pre_ms", lo=0.0)
        _num(self, "sample_ms", lo=0.0, lo_open=True)
        r = self.sample_ms / self.dt_ms
        if abs(r - round(r)) > 1e-9:
            raise ConfigError(f"ReservoirConfig.sample_ms ({self.sample_ms}) must be a multiple of dt_ms ({self.dt_ms})")
        _num(self, "noise_sigma", lo=0.0)
        if self.clock not in ("none", "hdts"):
            raise ConfigError(f"ReservoirConfig.clock must be 'none' or 'hdts', got {self.clock!r}")
        _num(self, "clock_pulses", lo=1, integer=True)
        _num(self, "clock_span_ms", lo=0.0, lo_open=True)
        _num(self, "clock_amplitude")
        _num(self, "seed", lo=0, integer=True)

    @property
    def n_exc(self) -> int:
        return int(round(self.exc_fraction * self.n_neurons))

    @property
    def steps_per_sample(self) -> int:
        return int(round(self.sample_ms / self.dt_ms))


@dataclass(frozen=True)
class LearnConfig:
    """Three-factor readout learning (spec section 3).  Every factor can be switched off."""

    alpha_when: float = 0.01          # [D*] normalised LMS rate per learning step
    alpha_what: float = 0.01          # [D*]
    lead_ms: float = 50.0             # [D] prediction lead Delta
    what_mode: str = "offline"        # "offline" (replay of buffered event windows after the trial),
                                      # "online" (ablation: same rule during the trial), "none"
    what_coding: str = "centred"      # "centred" one-hot on event windows, or "uncentred" time-locked s_k(t)
    gate: str = "trace"               # A_when(t): "trace" (the model's): a neuromodulatory trace the cue
                                      # opens and the end of the trial's outcome period closes: 1 from the
                                      # cue to trial_ms, then exp(-t_iti / gate_tau_ms) through the simulated
                                      # ITI; "trial": 1 in the trial, 0 in the ITI; "always": 1 also in the
                                      # ITI, learning against zero targets there (ablation); "zero": A = 0
    gate_tau_ms: float = 50.0         # [D] decay of the trace gate once the trial's outcome period is over
    use_error: bool = True            # third factor = signed error; False: Hebbian s(t) x only (ablation)
    iti_ms: float = 500.0             # [D] inter-trial interval, simulated (the reservoir runs on, noise and
                                      # all) and seen by the learner when the gate is "trace" or "always"
    weight_avg_trials: int = 100      # evaluation uses weights averaged over the last trials of a block

    def __post_init__(self):
        _num(self, "alpha_when", lo=0.0)
        _num(self, "alpha_what", lo=0.0)
        _num(self, "lead_ms", lo=0.0)
        if self.what_mode not in ("offline", "online", "none"):
            raise ConfigError(f"LearnConfig.what_mode must be 'offline', 'online' or 'none', got {self.what_mode!r}")
        if self.what_coding not in ("centred", "uncentred"):
            raise ConfigError(f"LearnConfig.what_coding must be 'centred' or 'uncentred', got {self.what_coding!r}")
        if self.gate not in ("trace", "trial", "always", "zero"):
            raise ConfigError(f"LearnConfig.gate must be 'trace', 'trial', 'always' or 'zero', got {self.gate!r}")
        _num(self, "gate_tau_ms", lo=0.0, lo_open=True)
        _num(self, "iti_ms", lo=0.0)
        _num(self, "weight_avg_trials", lo=1, integer=True)


@dataclass(frozen=True)
class ForceConfig:
    """Readout-only RLS (FORCE) on the same features and delayed targets (spec section 4)."""

    update_every_ms: float = 2.0      # [D*] one RLS update every 1-10 ms
    p0_scale: float = 0.5             # [D*] P(0) = lambda^-1 I with lambda^-1 = p0_scale * N / <|x|^2>
    reset_at_switch: bool = False
    forgetting: float = 1.0           # optional RLS forgetting factor (1: none; sequential mode only)

    def __post_init__(self):
        _num(self, "update_every_ms", lo=0.0, lo_open=True)
        _num(self, "p0_scale", lo=0.0, lo_open=True)
        _num(self, "forgetting", lo=0.0, hi=1.0, lo_open=True)


def replace(obj, **kw):
    """dataclasses.replace with a clear error for unknown fields."""
    import dataclasses
    names = {f.name for f in fields(obj)}
    for k in kw:
        if k not in names:
            raise ConfigError(f"{type(obj).__name__} has no field {k!r}")
    return dataclasses.replace(obj, **kw)
