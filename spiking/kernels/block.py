"""Many steps in one call: the engine's per-step schedule for LIF networks, compiled as one loop.

``Simulator.step`` costs a few microseconds of Python per population, projection and monitor
and per numba dispatch; a 1 ms step of EMBER's five populations spent more time there than in
the neurons themselves. ``block_run`` runs up to ``n`` steps of the same schedule without
returning to Python, calling the very kernels ``step`` calls, in the same order, with the same
arguments, so every spike and every float sum is identical (``tests/test_block.py``):

1. each LIF population's fused step (noise words, integrate, threshold, deliver, reset) on ring
   row ``t % R``;
2. the spike history of populations that keep one;
3. the projections in their built order: a static one writes its spikes into row
   ``(t + delay) % R`` of its target (uniform weight, per-synapse weights, or per-synapse
   delays); the growing store (at most one, three-factor, dopamine at 0) decays its traces,
   potentiates on post spikes, transmits and depresses on arrivals;
4. the eligibility's deferred decay (``PlasticRuntime.defer_decay``);
5. each population's spikes of the step appended to a record buffer, from which the monitors
   take what they need after the call (``Monitor.record_block``).

What the loop does not do, the engine keeps out of a block (``spiking/blocks.py``): sources that
fire, injected spikes, current steps, the once-a-second cascade decay and housekeeping, a
modulator above 0 (learning and creation), fixed plastic projections, Izhikevich populations,
per-synapse delays into a population with receptors. Populations with named receptors run their
own step (``kernels/lif_receptors.py``), chosen when the loop is compiled for their record type.
The loop stops early, returning the steps done, when a record buffer could overflow.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import overload, register_jitable

from .growth import apply_deliveries, growing_post, growing_pre, trace_decay, trace_decay_parallel
from .lif import _LIF_STEPS, LIF_MULTI, LIFState
from .lif_receptors import MULTI_PARALLEL, MULTI_SERIAL, LIFMultiState
from .propagate import propagate, propagate_delays, propagate_uniform
from .rng import step_key
from .stdp import trace_scale

PROJ_STATIC, PROJ_UNIFORM, PROJ_DELAYS, PROJ_STORE, PROJ_NONE = 0, 1, 2, 3, 4   # NONE: a placeholder (no tuple is empty)
_STEP_SERIAL, _STEP_SERIAL_RISE = _LIF_STEPS[(False, False)], _LIF_STEPS[(True, False)]
_STEP_PARALLEL, _STEP_PARALLEL_RISE = _LIF_STEPS[(False, True)], _LIF_STEPS[(True, True)]


@register_jitable
def _lif_step(variant, skey, fill, s, p, pulse, cur, scratch, zx, zr):
    """The compiled LIF step of one variant (0 serial, 1 serial with rise, 2 parallel, 3 parallel
    with rise): module-level dispatchers, so that the block loop caches across processes."""
    if variant == 0:
        return _STEP_SERIAL(skey, fill, s, p, pulse, cur, scratch, zx, zr)
    if variant == 1:
        return _STEP_SERIAL_RISE(skey, fill, s, p, pulse, cur, scratch, zx, zr)
    if variant == 2:
        return _STEP_PARALLEL(skey, fill, s, p, pulse, cur, scratch, zx, zr)
    return _STEP_PARALLEL_RISE(skey, fill, s, p, pulse, cur, scratch, zx, zr)


def _pop_step(variant, skey, fill, s, p, pulse, cur, scratch, zx, zr):
    """A population's step in the block loop: the one-receptor LIF's variant, or the receptor
    LIF's (chosen by the type of the state record, when the loop is compiled)."""
    raise NotImplementedError   # only called from compiled code


@overload(_pop_step)
def _pop_step_impl(variant, skey, fill, s, p, pulse, cur, scratch, zx, zr):
    if isinstance(s, types.BaseNamedTuple) and s.instance_class is LIFMultiState:
        def impl(variant, skey, fill, s, p, pulse, cur, scratch, zx, zr):
            if variant >= 2:
                return MULTI_PARALLEL(skey, fill, s, p, pulse, cur, scratch, zx, zr)
            return MULTI_SERIAL(skey, fill, s, p, pulse, cur, scratch, zx, zr)
    else:
        def impl(variant, skey, fill, s, p, pulse, cur, scratch, zx, zr):
            return _lif_step(variant, skey, fill, s, p, pulse, cur, scratch, zx, zr)
    return impl


def _pops_step(variant, t, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr, tasks, last_n, flat):
    """Step t of every population (1. of the schedule), each spike count into ``last_n``."""
    raise NotImplementedError   # only called from compiled code


def _uniform_lif(S, P, pulse_rings, cur_rings, scratch, flat):
    """Whether the populations' records are homogeneous tuples of one-receptor LIF records."""
    return (isinstance(flat, types.BaseTuple) and len(flat) == 12
            and all(isinstance(x, types.UniTuple) for x in flat[:8])
            and isinstance(S, types.UniTuple) and isinstance(S.dtype, types.BaseNamedTuple)
            and S.dtype.instance_class is LIFState
            and all(isinstance(x, types.UniTuple) for x in (P, pulse_rings, cur_rings, scratch))
            and cur_rings.dtype.ndim == 2)


@overload(_pops_step)
def _pops_step_impl(variant, t, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr, tasks, last_n, flat):
    if _uniform_lif(S, P, pulse_rings, cur_rings, scratch, flat):
        multi, multi_rise = LIF_MULTI[False], LIF_MULTI[True]

        def impl(variant, t, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr, tasks, last_n, flat):
            if variant == 2:
                multi(t, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr, tasks, last_n, flat)
                return
            if variant == 3:
                multi_rise(t, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr, tasks, last_n, flat)
                return
            _each_pop(variant, t, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr, last_n)
    else:
        def impl(variant, t, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr, tasks, last_n, flat):
            _each_pop(variant, t, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr, last_n)
    return impl


@register_jitable
def _each_pop(variant, t, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr, last_n):
    """The populations' steps one after the other (serial variants, receptor populations)."""
    for g in range(len(S)):
        row = t % pulse_rings[g].shape[0]
        if noisy[g]:
            last_n[g] = _pop_step(variant, step_key(keys[g], np.uint64(t)), True, S[g], P[g],
                                  pulse_rings[g][row], cur_rings[g][row], scratch[g], zx, zr)
        else:
            last_n[g] = _pop_step(variant, np.uint64(0), False, S[g], P[g], pulse_rings[g][row],
                                  cur_rings[g][row], scratch[g], zx, zr)


def _ring_row(pulse, cur, tgt, receptor, slot):
    """Row ``slot`` of the ring a projection writes into: the pulse ring (tgt 0), or the current
    ring (its receptor's row for a population with receptors, whose ring is (R_slots, R, n))."""
    raise NotImplementedError


@overload(_ring_row)
def _ring_row_impl(pulse, cur, tgt, receptor, slot):
    if cur.ndim == 3:
        def impl(pulse, cur, tgt, receptor, slot):
            return pulse[slot] if tgt == 0 else cur[slot, receptor]
    else:
        def impl(pulse, cur, tgt, receptor, slot):
            return pulse[slot] if tgt == 0 else cur[slot]
    return impl


def _delay_ring(pulse, cur, tgt):
    """The whole 2-D ring for per-synapse delays (never a receptor population's: blocks refuse it)."""
    raise NotImplementedError


@overload(_delay_ring)
def _delay_ring_impl(pulse, cur, tgt):
    if cur.ndim == 3:
        def impl(pulse, cur, tgt):
            return pulse
    else:
        def impl(pulse, cur, tgt):
            return pulse if tgt == 0 else cur
    return impl


@register_jitable
def _static_step(t, p, kinds, pre_g, post_g, tgt, receptor, delay, uw, indptr, indices, weights, delays,
                 pulse_rings, cur_rings, spikes, last_n):
    """Static projection p's spikes of step t into its target's ring (nothing for the store or a placeholder)."""
    kind = kinds[p]
    a, b = pre_g[p], post_g[p]
    if kind == PROJ_NONE or kind == PROJ_STORE or last_n[a] == 0:
        return
    nslot = pulse_rings[b].shape[0]
    sp = spikes[a]
    if kind == PROJ_UNIFORM:
        propagate_uniform(sp, last_n[a], indptr[p], indices[p], uw[p],
                          _ring_row(pulse_rings[b], cur_rings[b], tgt[p], receptor[p], (t + delay[p]) % nslot))
    elif kind == PROJ_STATIC:
        propagate(sp, last_n[a], indptr[p], indices[p], weights[p],
                  _ring_row(pulse_rings[b], cur_rings[b], tgt[p], receptor[p], (t + delay[p]) % nslot))
    else:
        propagate_delays(sp, last_n[a], indptr[p], indices[p], weights[p], delays[p],
                         _delay_ring(pulse_rings[b], cur_rings[b], tgt[p]), t)


@register_jitable
def _store_step(t, parallel, a, b, row1, hists, hist_ns, spikes, last_n, st_arrays, st_idx, st_f, st_b, st_i, inv):
    """The growing store's step t (dopamine at 0): post trace decay, potentiation on post spikes,
    pre trace decay, transmission into ``row1`` (a ring row or a delivery list) and depression on
    the arrivals of step t + 1."""
    s_pre, s_post, s_w, s_elig, s_frozen, s_pot, x_pre, x_post, mark = st_arrays
    in_ptr, in_idx, out_ptr, out_idx = st_idx
    a_minus, a_plus, w_min, w_max, pre_decay, post_decay = st_f
    nearest, soft, modulated = st_b
    tail_start, n_syn, st_delay = st_i
    if parallel:
        trace_decay_parallel(x_post, post_decay)
    else:
        trace_decay(x_post, post_decay)
    if last_n[b]:
        growing_post(spikes[b], last_n[b], in_ptr, in_idx, tail_start, n_syn, s_post, s_pre, s_w, x_pre,
                     x_post, a_minus, nearest, w_min, w_max, soft, s_frozen, modulated, s_elig, inv, s_pot, mark)
    if parallel:
        trace_decay_parallel(x_pre, pre_decay)
    else:
        trace_decay(x_pre, pre_decay)
    src = t + 1 - st_delay
    if src >= 0:
        h = hists[a]
        rr = src % h.shape[0]
        if hist_ns[a][rr]:
            growing_pre(h[rr], hist_ns[a][rr], out_ptr, out_idx, tail_start, n_syn, s_pre, s_post, s_w, row1, x_pre,
                        x_post, post_decay, a_plus, nearest, w_min, w_max, soft, s_frozen, modulated, s_elig, inv,
                        mark)


@njit(cache=True, parallel=True)
def _two_lanes(t, sp, kinds, pre_g, post_g, tgt, receptor, delay, uw, indptr, indices, weights, delays,
               pulse_rings, cur_rings, spikes, last_n, hists, hist_ns, st_arrays, st_idx, st_f, st_b, st_i, inv, dl):
    """Step t's projections on two threads: the store (projection sp, serial trace decays, its
    deliveries into the list dl) and, beside it, the static projections in their built order.
    They share no array they write: the store writes only its own arrays and dl."""
    for lane in prange(2):
        if lane == 0:
            _store_step(t, False, pre_g[sp], post_g[sp], dl, hists, hist_ns, spikes, last_n, st_arrays, st_idx,
                        st_f, st_b, st_i, inv)
        else:
            for p in range(kinds.shape[0]):
                _static_step(t, p, kinds, pre_g, post_g, tgt, receptor, delay, uw, indptr, indices, weights, delays,
                             pulse_rings, cur_rings, spikes, last_n)


@njit(cache=True)
def block_run(variant, t0, n, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr,
              hist_on, hists, hist_ns,
              kinds, pre_g, post_g, tgt, receptor, delay, uw, indptr, indices, weights, delays,
              st_arrays, st_idx, st_f, st_b, st_i, pending, e_decay,
              rec_n, rec_idx, rec_fill, last_n, lanes, dl, spikes, tasks, flat):
    """Steps t0 .. t0 + n - 1 (fewer if a record buffer is full: returns (steps done, pending)).

    Per population g: ``S[g]``/``P[g]`` its state and parameter records, ``keys[g]`` its noise
    stream key, ``pulse_rings[g]``/``cur_rings[g]`` its rings, ``scratch[g]`` its work arrays
    (spikes land in ``scratch[g].spikes``); ``rec_n[g, k]`` receives the spike count of step
    t0 + k and ``rec_idx[g]`` the spikes from ``rec_fill[g]`` on; ``last_n[g]`` the count of
    the last step done. Per projection p: its kind, pre and post population, target ring
    (0 pulse, 1 current), delay in steps, and arrays (unused ones are length-1 dummies). The
    store: ``st_arrays`` = (pre, post, w, elig, frozen, potentiated, x_pre, x_post, mark),
    ``st_idx`` = (in_ptr, in_idx, out_ptr, out_idx), ``st_f`` = (a_minus, a_plus, w_min,
    w_max, pre_decay, post_decay) float32, ``st_b`` = (nearest, soft, modulated),
    ``st_i`` = (tail_start, n, delay). ``spikes``: each population's spike array (its
    ``scratch[g].spikes``, as a plain tuple a parallel region can take). ``lanes``: run the store (the last projection) on one
    thread and the static projections on another, the store's deliveries going through the
    delivery list ``dl`` (targets, values, fill) into its row afterwards, in the order of a
    serial run (so the sums are the serial sums). ``tasks``: the populations' blocks
    (``lif.lif_tasks``) and their arrays (``lif.lif_flat``) for the one-region step of
    one-receptor LIF populations."""
    ng = len(S)
    npj = kinds.shape[0]
    s_elig = st_arrays[3]
    modulated = st_b[2]
    si = 0
    for p in range(npj):
        if kinds[p] == PROJ_STORE:
            si = p
    done = 0
    for k in range(n):
        room = True
        for g in range(ng):
            if rec_fill[g] + S[g].v.shape[0] > rec_idx[g].shape[0]:
                room = False
        if not room:
            break
        t = t0 + k
        # 1. populations (one-receptor LIF ones over threads in one region: ``lif_multi``)
        _pops_step(variant, t, keys, noisy, S, P, pulse_rings, cur_rings, scratch, zx, zr, tasks, last_n, flat)
        # 2. spike histories
        for g in range(ng):
            if hist_on[g]:
                h = hists[g]
                r = t % h.shape[0]
                sp = scratch[g].spikes
                for q in range(last_n[g]):
                    h[r, q] = sp[q]
                hist_ns[g][r] = last_n[g]
        # 3. projections, in the built order (with two lanes, the store beside the static ones)
        inv = np.float32(1.0 / pending)
        if lanes:
            _two_lanes(t, si, kinds, pre_g, post_g, tgt, receptor, delay, uw, indptr, indices, weights, delays,
                       pulse_rings, cur_rings, spikes, last_n, hists, hist_ns, st_arrays, st_idx, st_f, st_b, st_i,
                       inv, dl)
            b = post_g[si]
            row1 = _ring_row(pulse_rings[b], cur_rings[b], tgt[si], receptor[si], (t + 1) % pulse_rings[b].shape[0])
            apply_deliveries(row1, dl[0], dl[1], dl[2][0])
            dl[2][0] = 0
        else:
            for p in range(npj):
                if kinds[p] == PROJ_STORE:
                    b = post_g[p]
                    row1 = _ring_row(pulse_rings[b], cur_rings[b], tgt[p], receptor[p],
                                     (t + 1) % pulse_rings[b].shape[0])
                    _store_step(t, variant >= 2, pre_g[p], b, row1, hists, hist_ns, spikes, last_n, st_arrays, st_idx,
                                st_f, st_b, st_i, inv)
                else:
                    _static_step(t, p, kinds, pre_g, post_g, tgt, receptor, delay, uw, indptr, indices, weights,
                                 delays, pulse_rings, cur_rings, spikes, last_n)
        # 4. the eligibility's deferred decay (dopamine is 0 throughout a block)
        if modulated:
            pending *= e_decay
            if pending < 1e-30:
                trace_scale(s_elig, np.float32(pending))
                pending = 1.0
        # 5. what the monitors take
        for g in range(ng):
            m = last_n[g]
            rec_n[g, k] = m
            sp = scratch[g].spikes
            f = rec_fill[g]
            buf = rec_idx[g]
            for q in range(m):
                buf[f + q] = sp[q]
            rec_fill[g] = f + m
        done = k + 1
    return done, pending
