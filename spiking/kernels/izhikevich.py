"""One Izhikevich step for a population: noise, integrate, threshold, deliver, reset.

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I,   du/dt = a (b v - u)      (mV, ms; the 2003 form)
    I = (i_ext + sigma * z) + i_syn;  spike when v >= v_peak: v <- c, u <- u + d

or, with ``general`` (Izhikevich 2007, the form of Nicola & Clopath 2017):

    C dv/dt = k (v - v_r)(v - v_t) - u + I,   du/dt = a (b (v - v_r) - u)   (mV, ms, pA, pF)

with k, v_r, v_t and 1/C population-wide scalars.

``half_steps = False``: forward Euler with both derivatives at the old (v, u) (Brian2's
``euler``, the anchor benchmark).  ``half_steps = True``: Izhikevich's own scheme, v in
two dt/2 half-steps, then u with the new v.

z is the exact Gaussian of the neuron's random word for this step (see ``noise``).
Neurons whose word falls on the ziggurat's fast path (~99 %) are updated in one pass;
the others are listed in ``deferred`` and updated afterwards, so spikes come out as
"fast-path neurons in index order, then deferred neurons in index order".  The numpy
twin reproduces that order, and all arithmetic is float32 in a fixed order, so the two
are bit-exact.

Within the step, pulses arriving now (``pulse``, a ring-buffer row) are added to v after
the threshold test and before the reset, as in Brian2's default schedule (groups,
thresholds, synapses, resets): a pulse that reaches a neuron in the step it fires is
overwritten by the reset.  Currents arriving now are added to i_syn after its decay.
Both consumed rows are cleared.  ``use_syn`` / ``use_ext`` / ``noisy`` switch off terms
that are identically zero (adding an exact zero does not change a float, so results
do not depend on them).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from .noise import collect_codes, deferred_normal, normals_pass
from .rng import ZIG_MASK, ZIG_RATIO, normal_np, uniform_np

F04 = np.float32(0.04)
F5 = np.float32(5.0)
F140 = np.float32(140.0)
FHALF = np.float32(0.5)


class IzhParams(NamedTuple):
    """An Izhikevich population's constants at one dt: what ``spiking.build`` derives from an
    ``Izhikevich`` (a, b, c, d per neuron; the rest population-wide)."""
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    syn_decay: np.float32    # exp(-dt / tau_syn)
    rise_decay: np.float32   # exp(-dt / tau_rise)
    rise_gain: np.float32    # rise variable -> I_syn
    dt: np.float32
    v_peak: np.float32
    sigma: float             # noise current std per step (noise_sigma * sqrt(1 ms / dt))
    k: np.float32            # the 2007 form's k, v_r, v_t and 1 / C
    vr: np.float32
    vt: np.float32
    inv_c: np.float32
    half_steps: bool         # compiled variants: the scheme, the terms that are on, the form
    use_syn: bool
    use_ext: bool
    use_rise: bool
    general: bool
    noisy: bool


class IzhState(NamedTuple):
    """An Izhikevich population's state arrays (float32)."""
    v: np.ndarray
    u: np.ndarray
    i_syn: np.ndarray
    i_rise: np.ndarray       # length 1 without a rise variable
    i_ext: np.ndarray


def izh_records(params: dict, state: dict) -> tuple[IzhParams, IzhState]:
    """The kernel's records from a built group's parameter and state dicts."""
    p = IzhParams(**{k: params[k] for k in IzhParams._fields if k != "noisy"}, noisy=params["sigma"] > 0.0)
    return p, IzhState(**{k: state[k] for k in IzhState._fields})


@register_jitable
def izh_update(vi, ui, ai, bi, ii, dt, half_steps, general, k, vr, vt, inv_c):
    """Integrate one neuron over one step; returns the new (v, u)."""
    if general:
        if half_steps:
            hdt = dt * FHALF
            vi = vi + hdt * (inv_c * (k * (vi - vr) * (vi - vt) - ui + ii))
            vi = vi + hdt * (inv_c * (k * (vi - vr) * (vi - vt) - ui + ii))
            ui = ui + dt * (ai * (bi * (vi - vr) - ui))
            return vi, ui
        dv = inv_c * (k * (vi - vr) * (vi - vt) - ui + ii)
        du = ai * (bi * (vi - vr) - ui)
        return vi + dt * dv, ui + dt * du
    if half_steps:
        hdt = dt * FHALF
        vi = vi + hdt * (F04 * vi * vi + F5 * vi + F140 - ui + ii)
        vi = vi + hdt * (F04 * vi * vi + F5 * vi + F140 - ui + ii)
        ui = ui + dt * (ai * (bi * vi - ui))
        return vi, ui
    dv = F04 * vi * vi + F5 * vi + F140 - ui + ii
    du = ai * (bi * vi - ui)
    return vi + dt * dv, ui + dt * du


@register_jitable
def izh_neuron(z32, vi, ui, ai, bi, ci, di, iext_i, isyn_i, irise_i, cur_i, pulse_i, syn_decay, rise_decay,
               rise_gain, use_rise, dt, half_steps, v_peak, use_syn, use_ext, general, k, vr, vt, inv_c):
    """Everything one neuron does in one step, on scalars (kernels load and store).

    Returns (v, u, i_syn, i_rise, fired).  Scalar arguments only: a jitted helper that
    takes arrays is called with reference counting on every array, which costs more than
    the neuron update itself."""
    ii = z32
    if use_ext:
        ii = iext_i + ii
    if use_syn:
        ii = ii + isyn_i
        if use_rise:
            isyn_i = isyn_i * syn_decay + rise_gain * irise_i
            irise_i = irise_i * rise_decay + cur_i
        else:
            isyn_i = isyn_i * syn_decay + cur_i
    vi, ui = izh_update(vi, ui, ai, bi, ii, dt, half_steps, general, k, vr, vt, inv_c)
    fired = vi >= v_peak
    vi = vi + pulse_i
    if fired:
        vi = ci
        ui = ui + di
    return vi, ui, isyn_i, irise_i, fired


def _make_izh_step(half_steps: bool, use_syn: bool, use_ext: bool, use_rise: bool, noisy: bool, general: bool,
                   parallel: bool = False):
    """The jitted step with its six switches frozen into the code (closure constants: numba
    drops the dead branches; a run-time flag tested per neuron costs ~9 %, measured on the LIF
    kernel). Variants are built on first use and cached on disk like any ``cache=True`` kernel.
    ``parallel``: the normals and the update pass run over numba's threads (each neuron's
    arithmetic is unchanged, so results are bit-identical); the scan and the deferred loop stay
    serial, which keeps the spike order."""

    @njit(cache=True, parallel=parallel)
    def step(s, p, pulse, cur, scratch, zx, zr):
        v, u, i_syn, i_rise, i_ext = s.v, s.u, s.i_syn, s.i_rise, s.i_ext
        a, b, c, d, syn_decay, rise_decay, rise_gain = p.a, p.b, p.c, p.d, p.syn_decay, p.rise_decay, p.rise_gain
        dt, v_peak, sigma, k, vr, vt, inv_c = p.dt, p.v_peak, p.sigma, p.k, p.vr, p.vt, p.inv_c
        words, zbuf, code, deferred, spikes = scratch.words, scratch.zbuf, scratch.code, scratch.deferred, scratch.spikes
        # Three passes for the neurons whose draw is on the ziggurat's fast path (~99 %): the
        # normals (``fast_normals``: NaN marks a deferred neuron), a branch-free update of every
        # neuron that keeps a deferred neuron's old values by selects (LLVM vectorises it), and a
        # scan of the codes for spikes and deferred neurons in index order.  Then the deferred
        # neurons, with the body written out (numba does not inline a helper here: one taking
        # arrays is ~25x slower, one taking scalars ~1.6x, measured).  ``izh_neuron`` holds the
        # same logic for the CUDA kernel; the numpy-twin and CUDA-simulator tests pin all three.
        if noisy:
            normals_pass(words, sigma, zx, zr, zbuf, parallel)
        for i in prange(v.shape[0]):
            z32 = zbuf[i] if noisy else np.float32(0.0)
            slow = z32 != z32
            ii = z32
            if use_ext:
                ii = i_ext[i] + ii
            if use_syn:
                si = i_syn[i]
                ii = ii + si
                if use_rise:
                    ri = i_rise[i]
                    i_syn[i] = si if slow else si * syn_decay + rise_gain * ri
                    i_rise[i] = ri if slow else ri * rise_decay + cur[i]
                else:
                    i_syn[i] = si if slow else si * syn_decay + cur[i]
                cur[i] = cur[i] if slow else np.float32(0.0)
            v0 = v[i]
            u0 = u[i]
            vi, ui = izh_update(v0, u0, a[i], b[i], ii, dt, half_steps, general, k, vr, vt, inv_c)
            fired = vi >= v_peak
            vi = c[i] if fired else vi + pulse[i]
            ui = ui + d[i] if fired else ui
            v[i] = v0 if slow else vi
            u[i] = u0 if slow else ui
            pulse[i] = pulse[i] if slow else np.float32(0.0)
            code[i] = np.uint8(2) if slow else (np.uint8(1) if fired else np.uint8(0))
        n, nd = collect_codes(code, spikes, deferred)
        for q in range(nd):
            i = deferred[q]
            z32 = deferred_normal(words[i], sigma, zx, zr)
            ii = z32
            if use_ext:
                ii = i_ext[i] + ii
            if use_syn:
                ii = ii + i_syn[i]
                if use_rise:
                    i_syn[i] = i_syn[i] * syn_decay + rise_gain * i_rise[i]
                    i_rise[i] = i_rise[i] * rise_decay + cur[i]
                else:
                    i_syn[i] = i_syn[i] * syn_decay + cur[i]
                cur[i] = 0.0
            vi, ui = izh_update(v[i], u[i], a[i], b[i], ii, dt, half_steps, general, k, vr, vt, inv_c)
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

    return step


_IZH_STEPS: dict = {}


def izh_step(s: IzhState, p: IzhParams, pulse, cur, scratch, zx, zr, parallel=False):
    """One Izhikevich step (numba): runs the variant compiled for this group's switches.
    ``pulse`` / ``cur``: this step's ring rows (consumed and cleared); returns the spike count."""
    key = (bool(p.half_steps), bool(p.use_syn), bool(p.use_ext), bool(p.use_rise), bool(p.noisy), bool(p.general),
           bool(parallel))
    fn = _IZH_STEPS.get(key)
    if fn is None:
        fn = _IZH_STEPS[key] = _make_izh_step(*key)
    return fn(s, p, pulse, cur, scratch, zx, zr)


def noise_and_order_np(words, sigma, n, noisy):
    """(float32 noise, mask of deferred neurons) as the numba kernels see them."""
    if not noisy:
        return np.zeros(n, np.float32), np.zeros(n, bool)
    layer = (words & ZIG_MASK).astype(np.int64)
    x = 2.0 * uniform_np(words) - 1.0
    slow = ~(np.abs(x) < ZIG_RATIO[layer])
    return (sigma * normal_np(words)).astype(np.float32), slow


def spike_order_np(fired, slow):
    return np.concatenate([np.nonzero(fired & ~slow)[0], np.nonzero(fired & slow)[0]])


def izh_step_np(s: IzhState, p: IzhParams, pulse, cur, scratch, zx=None, zr=None):
    """numpy twin of ``izh_step`` (same records, same float32 operation order)."""
    v, u, i_syn, i_rise, i_ext = s
    a, b, c, d, syn_decay, rise_decay, rise_gain = p.a, p.b, p.c, p.d, p.syn_decay, p.rise_decay, p.rise_gain
    dt, v_peak, k, vr, vt, inv_c = p.dt, p.v_peak, p.k, p.vr, p.vt, p.inv_c
    half_steps, use_rise, general = p.half_steps, p.use_rise, p.general
    spikes = scratch.spikes
    z, slow = noise_and_order_np(scratch.words, p.sigma, v.shape[0], p.noisy)
    ii = (i_ext + z) + i_syn
    if general and half_steps:
        hdt = dt * FHALF
        vn = v + hdt * (inv_c * (k * (v - vr) * (v - vt) - u + ii))
        vn = vn + hdt * (inv_c * (k * (vn - vr) * (vn - vt) - u + ii))
        un = u + dt * (a * (b * (vn - vr) - u))
    elif general:
        vn = v + dt * (inv_c * (k * (v - vr) * (v - vt) - u + ii))
        un = u + dt * (a * (b * (v - vr) - u))
    elif half_steps:
        hdt = dt * FHALF
        vn = v + hdt * (F04 * v * v + F5 * v + F140 - u + ii)
        vn = vn + hdt * (F04 * vn * vn + F5 * vn + F140 - u + ii)
        un = u + dt * (a * (b * vn - u))
    else:
        dv = F04 * v * v + F5 * v + F140 - u + ii
        du = a * (b * v - u)
        vn = v + dt * dv
        un = u + dt * du
    if use_rise:
        i_syn[:] = i_syn * syn_decay + rise_gain * i_rise
        i_rise[:] = i_rise * rise_decay + cur
    else:
        i_syn[:] = i_syn * syn_decay + cur
    cur[:] = 0.0
    fired = vn >= v_peak
    vn = vn + pulse
    pulse[:] = 0.0
    vn[fired] = c[fired]
    un[fired] = un[fired] + d[fired]
    v[:] = vn
    u[:] = un
    idx = spike_order_np(fired, slow)
    spikes[: idx.size] = idx
    return idx.size
