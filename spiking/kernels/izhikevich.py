"""One Izhikevich step for a population: integrate, threshold, deliver, reset.

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I,   du/dt = a (b v - u)      (mV, ms)
    I = i_ext + noise + i_syn;  spike when v >= v_peak: v <- c, u <- u + d

``half_steps = 0``: forward Euler with both derivatives at the old (v, u) (Brian2's
``euler``, the anchor benchmark).  ``half_steps = 1``: Izhikevich's own scheme, v in two
dt/2 half-steps, then u with the new v.

Within the step, pulses arriving now (``pulse``, a ring-buffer row) are added to v after
the threshold test and before the reset, as in Brian2's default schedule (groups,
thresholds, synapses, resets): a pulse that reaches a neuron in the step it fires is
overwritten by the reset.  Currents arriving now are added to i_syn after its decay.
Both consumed rows are cleared.  All arithmetic is float32 in a fixed order, so the
numpy twin is bit-exact.
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

F04 = np.float32(0.04)
F5 = np.float32(5.0)
F140 = np.float32(140.0)
FHALF = np.float32(0.5)


@register_jitable
def izh_update(vi, ui, ai, bi, ii, dt, half_steps):
    """Integrate one neuron over one step; returns the new (v, u)."""
    if half_steps:
        hdt = dt * FHALF
        vi = vi + hdt * (F04 * vi * vi + F5 * vi + F140 - ui + ii)
        vi = vi + hdt * (F04 * vi * vi + F5 * vi + F140 - ui + ii)
        ui = ui + dt * (ai * (bi * vi - ui))
        return vi, ui
    dv = F04 * vi * vi + F5 * vi + F140 - ui + ii
    du = ai * (bi * vi - ui)
    return vi + dt * dv, ui + dt * du


@njit(cache=True)
def izh_step(v, u, a, b, c, d, i_ext, noise, i_syn, syn_decay, pulse, cur,
             dt, half_steps, v_peak, spikes):
    n = 0
    for i in range(v.shape[0]):
        vi, ui = izh_update(v[i], u[i], a[i], b[i], i_ext[i] + noise[i] + i_syn[i], dt, half_steps)
        i_syn[i] = i_syn[i] * syn_decay + cur[i]
        cur[i] = 0.0
        fired = vi >= v_peak
        vi = vi + pulse[i]
        pulse[i] = 0.0
        if fired:
            vi = c[i]
            ui = ui + d[i]
            spikes[n] = i
            n += 1
        v[i] = vi
        u[i] = ui
    return n


def izh_step_np(v, u, a, b, c, d, i_ext, noise, i_syn, syn_decay, pulse, cur,
                dt, half_steps, v_peak, spikes):
    """numpy twin of ``izh_step`` (same signature, same float32 operation order)."""
    ii = i_ext + noise + i_syn
    if half_steps:
        hdt = dt * FHALF
        vn = v + hdt * (F04 * v * v + F5 * v + F140 - u + ii)
        vn = vn + hdt * (F04 * vn * vn + F5 * vn + F140 - u + ii)
        un = u + dt * (a * (b * vn - u))
    else:
        dv = F04 * v * v + F5 * v + F140 - u + ii
        du = a * (b * v - u)
        vn = v + dt * dv
        un = u + dt * du
    i_syn[:] = i_syn * syn_decay + cur
    cur[:] = 0.0
    fired = vn >= v_peak
    vn = vn + pulse
    pulse[:] = 0.0
    idx = np.nonzero(fired)[0]
    vn[idx] = c[idx]
    un[idx] = un[idx] + d[idx]
    v[:] = vn
    u[:] = un
    spikes[: idx.size] = idx
    return idx.size
