"""One LIF step for a population: noise, exact integration, threshold, deliver, reset, refractoriness.

Normalised membrane V and a current-based exponential synapse (in membrane units):

    dV/dt = (-V + I_syn + I_ext) / tau_m,   dI_syn/dt = -I_syn / tau_syn

integrated exactly over one step (propagators p22 = exp(-dt/tau_m), p11 =
exp(-dt/tau_syn), p21, p20 computed on the host), plus additive Gaussian noise
sigma * z per step.  With ``use_rise`` the synapse is a double exponential: arrivals enter
a rise variable h (dh/dt = -h/tau_rise) that feeds I_syn; V gains p2h * h per step and
I_syn gains rise_gain * h, all from the state at the start of the step (the exact propagator
of the linear V, I, h system).  During the refractory period V is clamped at v_reset (no noise,
pulses dropped) while I_syn keeps decaying.  Order within a step as for the
Izhikevich kernel (integrate, threshold, deliver pulses, reset), and the same
fast-path / deferred split of the noise draws, hence the same spike order.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from .izhikevich import noise_and_order_np, spike_order_np
from .noise import BLOCK, collect_codes, deferred_normal, noise_block


class LIFParams(NamedTuple):
    """A LIF population's constants at one dt: what ``spiking.build`` derives from a ``LIF``."""
    p22: np.float32         # exp(-dt / tau_m)
    p21: np.float32         # I_syn -> V over one step
    p20: np.float32         # I_ext -> V over one step (1 - p22)
    p11: np.float32         # exp(-dt / tau_syn)
    p2h: np.float32         # rise variable -> V (0 without a rise)
    rise_decay: np.float32  # exp(-dt / tau_rise)
    rise_gain: np.float32   # rise variable -> I_syn
    v_th: np.float32
    v_reset: np.float32
    ref_steps: int
    sigma: float            # noise std per step (noise_sigma * sqrt(dt / 1 ms))
    use_rise: bool          # compiled variant: double-exponential synapse
    noisy: bool


class LIFState(NamedTuple):
    """A LIF population's state arrays (float32 except the refractory counters)."""
    v: np.ndarray
    i_syn: np.ndarray
    refr: np.ndarray
    i_ext: np.ndarray
    i_rise: np.ndarray      # length 1 without a rise variable


def lif_records(params: dict, state: dict) -> tuple[LIFParams, LIFState]:
    """The kernel's records from a built group's parameter and state dicts."""
    p = LIFParams(**{k: params[k] for k in LIFParams._fields if k != "noisy"}, noisy=params["sigma"] > 0.0)
    return p, LIFState(**{k: state[k] for k in LIFState._fields})


@register_jitable
def lif_neuron(z32, vi, isyn_i, refr_i, iext_i, pulse_i, cur_i, p22, p21, p20, p11, v_th, v_reset, ref_steps,
               irise_i, p2h, rise_decay, rise_gain, use_rise):
    """Everything one neuron does in one step, on scalars: returns (v, i_syn, refr, i_rise, fired)."""
    fired = False
    if refr_i > 0:
        refr_i -= 1
        vi = v_reset
    else:
        vi = p22 * vi + p21 * isyn_i + p20 * iext_i + z32
        if use_rise:
            vi = vi + p2h * irise_i
        fired = vi >= v_th
        vi = vi + pulse_i
    if use_rise:
        isyn_i = p11 * isyn_i + rise_gain * irise_i
        irise_i = rise_decay * irise_i + cur_i
    else:
        isyn_i = p11 * isyn_i + cur_i
    if fired:
        vi = v_reset
        refr_i = ref_steps
    return vi, isyn_i, refr_i, irise_i, fired


def _make_lif_step(use_rise: bool, parallel: bool = False):
    """The jitted step with ``use_rise`` frozen into the code (a closure constant, so numba
    removes the dead branch). A run-time flag tested in the loop cost 9 % of the idle LIF step
    at 220k neurons; ``numba.literally`` re-dispatched every call (30x slower). ``parallel`` as
    for ``izh_step``: the blocks run over threads, bit-identical results.

    ``step(skey, fill, ...)``: with ``fill`` the step draws this step's random words itself
    (``words[i] = draw_word(skey, i)``, what the engine's ``hash_fill`` would have written), so
    that noise and update are one parallel region per step, block by block (``noise.BLOCK``
    neurons: the words, normals and state of a block stay in cache between the passes)."""

    @njit(cache=True, parallel=parallel)
    def step(skey, fill, s, p, pulse, cur, scratch, zx, zr):
        v, i_syn, refr, i_ext, i_rise = s.v, s.i_syn, s.refr, s.i_ext, s.i_rise
        p22, p21, p20, p11, p2h, v_th, v_reset = p.p22, p.p21, p.p20, p.p11, p.p2h, p.v_th, p.v_reset
        rise_decay, rise_gain, ref_steps, sigma, noisy = p.rise_decay, p.rise_gain, p.ref_steps, p.sigma, p.noisy
        words, zbuf, code, deferred, spikes = scratch.words, scratch.zbuf, scratch.code, scratch.deferred, scratch.spikes
        # Per block: the fast-path normals (NaN marks a deferred neuron), then a branch-free
        # update that keeps a deferred neuron's values by selects; then a scan of the codes and
        # the deferred neurons with the body written out. ``lif_neuron`` is its CUDA counterpart.
        nn = v.shape[0]
        for b in prange((nn + BLOCK - 1) // BLOCK):
            lo = b * BLOCK
            hi = min(nn, lo + BLOCK)
            if noisy:
                noise_block(skey, fill, lo, hi, words, sigma, zx, zr, zbuf)
            # unsigned indices: no negative-index fix-up, so the update vectorises (the same
            # operations per neuron in every lane: the results do not change)
            for i in range(np.uint64(lo), np.uint64(hi)):
                z32 = zbuf[i] if noisy else np.float32(0.0)
                slow = z32 != z32
                r = refr[i]
                ref = r > 0
                vi = p22 * v[i] + p21 * i_syn[i] + p20 * i_ext[i] + z32
                if use_rise:
                    vi = vi + p2h * i_rise[i]
                fired = (not ref) and vi >= v_th
                vi = v_reset if (ref or fired) else vi + pulse[i]
                rn = r - 1 if ref else (ref_steps if fired else r)
                if use_rise:
                    hi_ = i_rise[i]
                    si = i_syn[i]
                    i_syn[i] = si if slow else p11 * si + rise_gain * hi_
                    i_rise[i] = hi_ if slow else rise_decay * hi_ + cur[i]
                else:
                    si = i_syn[i]
                    i_syn[i] = si if slow else p11 * si + cur[i]
                cur[i] = cur[i] if slow else np.float32(0.0)
                pulse[i] = pulse[i] if slow else np.float32(0.0)
                v[i] = v[i] if slow else vi
                refr[i] = r if slow else rn
                code[i] = np.uint8(2) if slow else (np.uint8(1) if fired else np.uint8(0))
        n, nd = collect_codes(code, spikes, deferred)
        for q in range(nd):
            i = deferred[q]
            z32 = deferred_normal(words[i], sigma, zx, zr)
            fired = False
            if refr[i] > 0:
                refr[i] -= 1
                vi = v_reset
            else:
                vi = p22 * v[i] + p21 * i_syn[i] + p20 * i_ext[i] + z32
                if use_rise:
                    vi = vi + p2h * i_rise[i]
                fired = vi >= v_th
                vi = vi + pulse[i]
            pulse[i] = 0.0
            if use_rise:
                i_syn[i] = p11 * i_syn[i] + rise_gain * i_rise[i]
                i_rise[i] = rise_decay * i_rise[i] + cur[i]
            else:
                i_syn[i] = p11 * i_syn[i] + cur[i]
            cur[i] = 0.0
            if fired:
                vi = v_reset
                refr[i] = ref_steps
                spikes[n] = i
                n += 1
            v[i] = vi
        return n

    return step


# every variant, made at import (making a dispatcher compiles nothing): the block loop calls them by name
_LIF_STEPS: dict = {(r, par): _make_lif_step(r, par) for r in (False, True) for par in (False, True)}


def lif_step(s: LIFState, p: LIFParams, pulse, cur, scratch, zx, zr, parallel=False, skey=None):
    """One LIF step (numba); runs the variant compiled for ``p.use_rise`` (and ``parallel``).
    ``pulse`` / ``cur``: this step's ring rows (consumed and cleared); returns the spike count.
    ``skey``: this step's noise key; the step then draws the random words itself (otherwise
    ``scratch.words`` must hold them, as ``hash_fill`` writes them)."""
    fn = _LIF_STEPS[(bool(p.use_rise), bool(parallel))]
    if skey is None:
        return fn(np.uint64(0), False, s, p, pulse, cur, scratch, zx, zr)
    return fn(np.uint64(skey), True, s, p, pulse, cur, scratch, zx, zr)


def lif_step_np(s: LIFState, p: LIFParams, pulse, cur, scratch, zx=None, zr=None):
    """numpy twin of ``lif_step``."""
    v, i_syn, refr, i_ext, i_rise = s
    p22, p21, p20, p11, p2h, v_th, v_reset = p.p22, p.p21, p.p20, p.p11, p.p2h, p.v_th, p.v_reset
    rise_decay, rise_gain, ref_steps, use_rise = p.rise_decay, p.rise_gain, p.ref_steps, p.use_rise
    words, spikes = scratch.words, scratch.spikes
    z, slow = noise_and_order_np(words, p.sigma, v.shape[0], p.noisy)
    ref = refr > 0
    vn = p22 * v + p21 * i_syn + p20 * i_ext + z
    if use_rise:
        vn = vn + p2h * i_rise
    fired = (vn >= v_th) & ~ref
    vn = vn + pulse
    vn[ref] = v_reset
    refr[ref] -= 1
    pulse[:] = 0.0
    if use_rise:
        i_syn[:] = p11 * i_syn + rise_gain * i_rise
        i_rise[:] = rise_decay * i_rise + cur
    else:
        i_syn[:] = p11 * i_syn + cur
    cur[:] = 0.0
    vn[fired] = v_reset
    refr[fired] = ref_steps
    v[:] = vn
    idx = spike_order_np(fired, slow)
    spikes[: idx.size] = idx
    return idx.size
