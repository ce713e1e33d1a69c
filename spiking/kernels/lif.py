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
from .rng import step_key


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


def _make_lif_parts(use_rise: bool):
    """The two halves of a LIF step with ``use_rise`` frozen into the code (a closure constant,
    so numba removes the dead branch): ``update`` (one block of neurons lo .. hi - 1: its noise,
    then a branch-free update) and ``finish`` (the scan of the codes in index order and the
    deferred neurons). The one-population step runs ``update`` over its blocks and then
    ``finish``; the block loop runs the blocks of all its populations in one parallel region
    (``lif_multi``). Every neuron gets the same operations either way."""

    @register_jitable
    def update(skey, fill, lo, hi, v, i_syn, refr, i_ext, i_rise, words, zbuf, code, pulse, cur, pf, ref_steps, sigma,
               noisy, zx, zr):
        # pf: p22, p21, p20, p11, p2h, v_th, v_reset, rise_decay, rise_gain (``lif_pf``). Plain
        # arrays and scalars: a parallel region cannot take the records. The fast-path normals
        # (NaN marks a deferred neuron), then a branch-free update that keeps a deferred
        # neuron's values by selects.
        p22, p21, p20, p11, p2h, v_th, v_reset, rise_decay, rise_gain = pf
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

    @register_jitable
    def finish(s, p, pulse, cur, scratch, zx, zr):
        v, i_syn, refr, i_ext, i_rise = s.v, s.i_syn, s.refr, s.i_ext, s.i_rise
        p22, p21, p20, p11, p2h, v_th, v_reset = p.p22, p.p21, p.p20, p.p11, p.p2h, p.v_th, p.v_reset
        rise_decay, rise_gain, ref_steps, sigma = p.rise_decay, p.rise_gain, p.ref_steps, p.sigma
        words, code, deferred, spikes = scratch.words, scratch.code, scratch.deferred, scratch.spikes
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

    return update, finish


# module globals, so that the steps that call them capture nothing but a bool (numba caches a
# function whose closure holds only constants; one holding functions is compiled in every process)
_UPDATE, _FINISH = _make_lif_parts(False)
_UPDATE_RISE, _FINISH_RISE = _make_lif_parts(True)
LIF_PARTS: dict = {False: (_UPDATE, _FINISH), True: (_UPDATE_RISE, _FINISH_RISE)}


@register_jitable
def lif_pf(p):
    """A LIF parameter record's float32 constants, in the order ``update`` reads them (a tuple:
    no allocation in a step)."""
    return (p.p22, p.p21, p.p20, p.p11, p.p2h, p.v_th, p.v_reset, p.rise_decay, p.rise_gain)


def _make_lif_step(use_rise: bool, parallel: bool = False):
    """The jitted step (``LIF_PARTS[use_rise]``: a run-time flag tested in the loop cost 9 % of
    the idle LIF step at 220k neurons; ``numba.literally`` re-dispatched every call, 30x slower).
    ``parallel`` as for ``izh_step``: the blocks run over threads, bit-identical results.

    ``step(skey, fill, ...)``: with ``fill`` the step draws this step's random words itself
    (``words[i] = draw_word(skey, i)``, what the engine's ``hash_fill`` would have written), so
    that noise and update are one parallel region per step, block by block (``noise.BLOCK``
    neurons: the words, normals and state of a block stay in cache between the passes)."""
    @njit(cache=True, parallel=parallel)
    def step(skey, fill, s, p, pulse, cur, scratch, zx, zr):
        v, i_syn, refr, i_ext, i_rise = s.v, s.i_syn, s.refr, s.i_ext, s.i_rise
        words, zbuf, code = scratch.words, scratch.zbuf, scratch.code
        pf = lif_pf(p)
        ref_steps, sigma, noisy = p.ref_steps, p.sigma, p.noisy
        nn = v.shape[0]
        for b in prange((nn + BLOCK - 1) // BLOCK):
            lo, hi = b * BLOCK, min(nn, (b + 1) * BLOCK)
            if use_rise:
                _UPDATE_RISE(skey, fill, lo, hi, v, i_syn, refr, i_ext, i_rise, words, zbuf, code, pulse, cur, pf,
                             ref_steps, sigma, noisy, zx, zr)
            else:
                _UPDATE(skey, fill, lo, hi, v, i_syn, refr, i_ext, i_rise, words, zbuf, code, pulse, cur, pf,
                        ref_steps, sigma, noisy, zx, zr)
        if use_rise:
            return _FINISH_RISE(s, p, pulse, cur, scratch, zx, zr)
        return _FINISH(s, p, pulse, cur, scratch, zx, zr)

    return step


@register_jitable
def _row9(a, g):
    """Row g of a (populations, 9) float32 table as the tuple ``update`` takes."""
    return (a[g, 0], a[g, 1], a[g, 2], a[g, 3], a[g, 4], a[g, 5], a[g, 6], a[g, 7], a[g, 8])


def _make_lif_multi(use_rise: bool):
    """All populations' step t in one parallel region: ``tasks`` rows (population, lo, hi) are
    the blocks of every population (the same blocks as the one-population step), updated over
    threads; then each population's ``finish`` in order. With the populations' records as
    homogeneous tuples (``S[g]``, ``P[g]``...) and ``flat`` = (v, i_syn, refr, i_ext, i_rise,
    words, zbuf, code), each a tuple over the populations, then the populations' constants
    (``lif_flat``: the parallel region takes plain arrays, not records; made once per block);
    sets ``last_n[g]`` to each spike count.
    One region instead of one per population: no thread waits at the end of a small
    population, and no region is started for each."""
    @njit(cache=True, parallel=True)
    def multi(t, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr, tasks, last_n, flat):
        vs, isyns, refrs, iexts, irises, words, zbufs, codes, pfs, ref_steps, sigma, pnoisy = flat
        ng = len(S)
        for k in prange(tasks.shape[0]):
            g = tasks[k, 0]
            row = t % pulse_rings[g].shape[0]
            fill = noisy[g]
            skey = step_key(keys[g], np.uint64(t)) if fill else np.uint64(0)
            if use_rise:
                _UPDATE_RISE(skey, fill, tasks[k, 1], tasks[k, 2], vs[g], isyns[g], refrs[g], iexts[g], irises[g],
                             words[g], zbufs[g], codes[g], pulse_rings[g][row], cur_rings[g][row], _row9(pfs, g),
                             ref_steps[g], sigma[g], pnoisy[g], zx, zr)
            else:
                _UPDATE(skey, fill, tasks[k, 1], tasks[k, 2], vs[g], isyns[g], refrs[g], iexts[g], irises[g],
                        words[g], zbufs[g], codes[g], pulse_rings[g][row], cur_rings[g][row], _row9(pfs, g),
                        ref_steps[g], sigma[g], pnoisy[g], zx, zr)
        for g in range(ng):
            row = t % pulse_rings[g].shape[0]
            if use_rise:
                last_n[g] = _FINISH_RISE(S[g], P[g], pulse_rings[g][row], cur_rings[g][row], scratch[g], zx, zr)
            else:
                last_n[g] = _FINISH(S[g], P[g], pulse_rings[g][row], cur_rings[g][row], scratch[g], zx, zr)

    return multi


def lif_tasks(sizes) -> np.ndarray:
    """The (population, lo, hi) blocks of ``lif_multi`` for populations of these sizes."""
    rows = [(g, lo, min(n, lo + BLOCK)) for g, n in enumerate(sizes) for lo in range(0, n, BLOCK)]
    return np.array(rows, np.int64).reshape(-1, 3)


def lif_flat(states, params, scratches) -> tuple:
    """``lif_multi``'s ``flat``: the populations' arrays, field by field, and their constants
    (``lif_pf`` rows, refractory steps, sigma, noisy)."""
    return (tuple(s.v for s in states), tuple(s.i_syn for s in states), tuple(s.refr for s in states),
            tuple(s.i_ext for s in states), tuple(s.i_rise for s in states), tuple(c.words for c in scratches),
            tuple(c.zbuf for c in scratches), tuple(c.code for c in scratches),
            np.array([lif_pf(p) for p in params], np.float32).reshape(-1, 9),
            np.array([p.ref_steps for p in params], np.int64), np.array([p.sigma for p in params], np.float64),
            np.array([p.noisy for p in params], np.bool_))


LIF_MULTI: dict = {r: _make_lif_multi(r) for r in (False, True)}


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
