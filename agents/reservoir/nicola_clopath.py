"""Nicola & Clopath (2017) FORCE network form (spec section 4, [N]), an option beside the suite's
readout-only RLS baseline.

This network is integrated here (numba, numpy twin) rather than on the engine: the engine now has
N&C's dimensional neuron (``Izhikevich(form="2007")``), but FORCE needs the decoder output fed back
into every neuron's current and an RLS update inside the step loop, which the engine's fixed
schedule does not offer.  The integration: forward Euler at dt = 0.04 ms, u with the previous step's v, double-exponential synapses
(IPSC/h and r/hr, tau_r = 2, tau_d = 20 ms), feedback E z with E = Q U(-1, 1), and RLS on the decoder
phi every ``rls_every_steps`` steps inside the training window (P(0) = p0 I).  ``run_force`` trains it
on a target signal (N&C's IZFORCESINE: a 5 Hz sine) and returns the output and errors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ConfigError, _num

try:
    import numba
except Exception:  # pragma: no cover
    numba = None


@dataclass(frozen=True)
class NCConfig:
    n_neurons: int = 2000
    C: float = 250.0
    v_r_mV: float = -60.0
    k: float = 2.5
    b: float = -2.0
    a: float = 0.01
    d: float = 200.0
    v_peak_mV: float = 30.0
    v_reset_mV: float = -65.0
    bias_pA: float = 1000.0
    tau_rise_ms: float = 2.0
    tau_decay_ms: float = 20.0
    dt_ms: float = 0.04
    connection_p: float = 0.1
    gain_G: float = 5e3
    feedback_Q: float = 5e3
    p0: float = 2.0
    rls_every_steps: int = 20
    seed: int = 0

    def __post_init__(self):
        _num(self, "n_neurons", lo=2, integer=True)
        for f in ("C", "k", "dt_ms", "tau_rise_ms", "tau_decay_ms", "p0"):
            _num(self, f, lo=0.0, lo_open=True)
        _num(self, "connection_p", lo=0.0, hi=1.0, lo_open=True)
        _num(self, "rls_every_steps", lo=1, integer=True)
        if self.v_reset_mV >= self.v_peak_mV:
            raise ConfigError("NCConfig.v_reset_mV must be below v_peak_mV")

    @property
    def v_t_mV(self) -> float:
        return self.v_r_mV + 40.0 - self.b / self.k


def _neuron_step_numpy(v, u, I, C, k, vr, vt, a, b, d, vpeak, vreset, dt, spiked):
    v_old = v.copy()
    v += dt * (k * (v - vr) * (v - vt) - u + I) / C
    u += dt * a * (b * (v_old - vr) - u)
    spiked[:] = v >= vpeak
    u[spiked] += d
    v[spiked] = vreset
    return int(spiked.sum())


if numba is not None:
    @numba.njit(cache=True)
    def _neuron_step_numba(v, u, I, C, k, vr, vt, a, b, d, vpeak, vreset, dt, spiked):
        n = 0
        for i in range(v.size):
            vo = v[i]
            v[i] = vo + dt * (k * (vo - vr) * (vo - vt) - u[i] + I[i]) / C
            u[i] = u[i] + dt * a * (b * (vo - vr) - u[i])
            if v[i] >= vpeak:
                spiked[i] = True
                u[i] += d
                v[i] = vreset
                n += 1
            else:
                spiked[i] = False
        return n
else:  # pragma: no cover
    _neuron_step_numba = _neuron_step_numpy


def build_weights(cfg: NCConfig, n_out: int = 1):
    rng = np.random.default_rng(cfg.seed)
    N, p = cfg.n_neurons, cfg.connection_p
    mask = rng.random((N, N)) < p
    W = cfg.gain_G * rng.standard_normal((N, N)) * mask / (np.sqrt(N) * p)
    # N&C remove each row's mean over its existing synapses (balanced input)
    cnt = mask.sum(axis=1)
    W[mask] -= np.repeat(np.where(cnt > 0, W.sum(axis=1) / np.maximum(cnt, 1), 0.0), cnt)
    E = cfg.feedback_Q * (2.0 * rng.random((N, n_out)) - 1.0)
    v0 = cfg.v_r_mV + (cfg.v_peak_mV - cfg.v_r_mV) * rng.random(N)
    return W, E, v0


def run_force(cfg: NCConfig, target, train_from_step: int, train_to_step: int, kernel: str = "numba",
              record_every: int = 25):
    """Simulate ``len(target)`` steps with FORCE training of phi on steps in [train_from, train_to).
    ``target``: (n_steps,) or (n_steps, k).  Returns dict(z (recorded), target, t_ms, phi, rate_hz)."""
    target = np.asarray(target, dtype=np.float64)
    if target.ndim == 1:
        target = target[:, None]
    n_steps, n_out = target.shape
    step_fn = _neuron_step_numba if kernel == "numba" else _neuron_step_numpy
    N, dt = cfg.n_neurons, cfg.dt_ms
    W, E, v = build_weights(cfg, n_out)
    WT = np.ascontiguousarray(W.T)
    u = np.zeros(N)
    ipsc, h, r, hr = (np.zeros(N) for _ in range(4))
    phi = np.zeros((N, n_out))
    P = np.eye(N) * cfg.p0
    er, ed = np.exp(-dt / cfg.tau_rise_ms), np.exp(-dt / cfg.tau_decay_ms)
    k2 = 1.0 / (cfg.tau_rise_ms * cfg.tau_decay_ms)
    spiked = np.zeros(N, dtype=np.bool_)
    z = np.zeros(n_out)
    zs, n_spk = [], 0
    for i in range(n_steps):
        I = ipsc + E @ z + cfg.bias_pA
        n = step_fn(v, u, I, cfg.C, cfg.k, cfg.v_r_mV, cfg.v_t_mV, cfg.a, cfg.b, cfg.d, cfg.v_peak_mV,
                    cfg.v_reset_mV, dt, spiked)
        n_spk += n
        ipsc = ipsc * er + h * dt
        h *= ed
        r = r * er + hr * dt
        hr *= ed
        if n:
            idx = np.flatnonzero(spiked)
            h += WT[idx].sum(axis=0) * k2
            hr[idx] += k2
        z = phi.T @ r
        if train_from_step <= i < train_to_step and i % cfg.rls_every_steps == 0:
            err = z - target[i]
            c = P @ r
            phi -= np.outer(c, err)
            P -= np.outer(c, c) / (1.0 + r @ c)
        if i % record_every == 0:
            zs.append(z.copy())
    zs = np.array(zs)
    return {"z": zs, "target": target[::record_every], "t_ms": np.arange(0, n_steps, record_every) * dt,
            "phi": phi, "rate_hz": n_spk / N / (n_steps * dt / 1000.0)}


def sine_demo(cfg: NCConfig = NCConfig(), total_ms: float = 3000.0, train_ms=(500.0, 2000.0), freq_hz: float = 5.0,
              kernel: str = "numba") -> dict:
    """N&C's IZFORCESINE, shortened: train on a sine, then test with phi frozen; returns the mean
    absolute error before training, during the last half of training and after training."""
    n = int(round(total_ms / cfg.dt_ms))
    t = np.arange(n) * cfg.dt_ms
    tgt = np.sin(2 * np.pi * freq_hz * t / 1000.0)
    a, b = (int(round(x / cfg.dt_ms)) for x in train_ms)
    out = run_force(cfg, tgt, a, b, kernel)
    tt, z, y = out["t_ms"], out["z"][:, 0], out["target"][:, 0]
    pre = tt < train_ms[0]
    post = tt >= train_ms[1]
    return {"mae_before": float(np.abs(z[pre] - y[pre]).mean()),
            "mae_after": float(np.abs(z[post] - y[post]).mean()),
            "corr_after": float(np.corrcoef(z[post], y[post])[0, 1]) if z[post].std() > 0 else 0.0,
            "rate_hz": out["rate_hz"], "trace": out}
