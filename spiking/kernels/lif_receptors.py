"""One step of a LIF population with named receptors: current receptors, conductance receptors,
each with its own time constant (and rise time).

State per neuron: V, one synaptic variable per receptor (``i_syn[r]``: a current in membrane
units, or a conductance relative to the leak), the rise variables ``i_rise[r]`` of receptors
with a rise time, the refractory counter. Arrivals of this step (``cur[r]``) enter at the end of
the step, as for the single-receptor LIF, so a spike with a delay of d steps first moves V in
step t + d + 1 (what Brian2 does with the same delay).

* Current receptors only: V advances with the exact propagators, one per receptor,

      V' = p22 V + sum_r p21_r I_r + p20 I_ext + sigma z + sum_r p2h_r h_r

  in that order (with one receptor the same float32 operations as ``lif_step``).
* Any conductance receptor: exponential Euler. With every input held at its start-of-step
  value, G = 1 + sum_c g_c and D = I_ext + sum (g_c E_c or I_r) (receptor order),

      V' = D / G + (V - D / G) exp(-G dt / tau_m) + sigma z

  ``exp`` is ``exp_neg`` below, built from + - * / only so that numpy, numba and CUDA give the
  same float64 value (library exps differ in the last bit).
* Then each synaptic variable decays exactly: I_r' = p11_r I_r + cur_r, or with a rise time
  I_r' = p11_r I_r + rise_gain_r h_r, h_r' = rise_decay_r h_r + cur_r.

Refractory neurons are clamped at v_reset (no noise, pulses dropped) while the synapses decay.
Spikes are listed in index order (numpy, numba); on CUDA in the order the threads fire.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from .noise import BLOCK, collect_codes
from .rng import draw_word, normal_from_hash, normal_np

F32 = np.float32


class LIFMultiParams(NamedTuple):
    p22: np.float32
    p20: np.float32
    dt_tau: float            # dt / tau_m (float64), for exp(-G dt / tau_m)
    has_cond: bool           # any conductance receptor: exponential Euler
    any_rise: bool
    r_p21: np.ndarray        # float32[R]: I_r -> V (exact, current receptors only)
    r_p11: np.ndarray        # float32[R]: exp(-dt / tau_r)
    r_p2h: np.ndarray        # float32[R]: h_r -> V
    r_rise_decay: np.ndarray
    r_rise_gain: np.ndarray
    r_e_rev: np.ndarray      # float32[R]: reversal potential above rest (0 for a current)
    r_cond: np.ndarray       # uint8[R]: 1 for a conductance
    r_rise: np.ndarray       # uint8[R]: 1 for a receptor with a rise time
    v_th: np.float32
    v_reset: np.float32
    ref_steps: int
    sigma: float
    noisy: bool


class LIFMultiState(NamedTuple):
    v: np.ndarray
    i_syn: np.ndarray        # float32[R, n]
    refr: np.ndarray
    i_ext: np.ndarray
    i_rise: np.ndarray       # float32[R, n] (R, 1 without rise times)


def lif_multi_records(params: dict, state: dict) -> tuple[LIFMultiParams, LIFMultiState]:
    p = LIFMultiParams(**{k: params[k] for k in LIFMultiParams._fields if k != "noisy"}, noisy=params["sigma"] > 0.0)
    return p, LIFMultiState(**{k: state[k] for k in LIFMultiState._fields})


EXP_SMALL = 0.125   # exp_neg halves its argument down to this, then squares back
_I3, _I4, _I5, _I6, _I7, _I8, _I9 = (1.0 / 3, 0.25, 0.2, 1.0 / 6, 1.0 / 7, 0.125, 1.0 / 9)


@register_jitable
def exp_neg(x):
    """exp(-x) for x >= 0 in float64 from + - * only: halve x (exactly) until x <= 1/8, a
    degree-9 Taylor series in Horner form (truncation < 3e-16 relative), then square back.
    Relative error ~1e-15 x 2^halvings; the same bits on every backend."""
    m = 0
    while x > EXP_SMALL and m < 1100:
        x = x * 0.5
        m += 1
    t = 1.0 - x * _I9
    t = 1.0 - x * t * _I8
    t = 1.0 - x * t * _I7
    t = 1.0 - x * t * _I6
    t = 1.0 - x * t * _I5
    t = 1.0 - x * t * _I4
    t = 1.0 - x * t * _I3
    t = 1.0 - x * t * 0.5
    t = 1.0 - x * t
    for _ in range(m):
        t = t * t
    return t


def exp_neg_np(x: np.ndarray) -> np.ndarray:
    """numpy twin of ``exp_neg`` (the same operations, element by element)."""
    x = np.array(x, dtype=np.float64)
    m = np.zeros(x.shape, np.int64)
    for _ in range(1100):
        big = x > EXP_SMALL
        if not big.any():
            break
        x[big] = x[big] * 0.5
        m[big] += 1
    t = 1.0 - x * _I9
    for c in (_I8, _I7, _I6, _I5, _I4, _I3, 0.5):
        t = 1.0 - x * t * c
    t = 1.0 - x * t
    for s in range(int(m.max(initial=0))):
        t = np.where(m > s, t * t, t)
    return t


@register_jitable
def lif_multi_neuron(i, z32, v, i_syn, i_rise, refr, i_ext, pulse, cur, p22, p20, dt_tau, has_cond, any_rise,
                     r_p21, r_p11, r_p2h, r_rise_decay, r_rise_gain, r_e_rev, r_cond, r_rise, v_th, v_reset,
                     ref_steps):
    """Neuron i's step, in place; returns whether it fired: the CUDA kernel's body. The numba CPU
    kernel writes the same operations out in its loop: called per neuron from there, the array
    arguments cost ~70 ns of reference counting per neuron (288 against 22 us a step at 4,000)."""
    nr = r_p11.shape[0]
    fired = False
    vi = v[i]
    if refr[i] > 0:
        refr[i] -= 1
        vi = v_reset
    else:
        if has_cond:
            g_tot = F32(1.0)
            drive = i_ext[i]
            for r in range(nr):
                x = i_syn[r, i]
                if r_cond[r]:
                    g_tot = g_tot + x
                    drive = drive + x * r_e_rev[r]
                else:
                    drive = drive + x
            vinf = drive / g_tot
            e = F32(exp_neg(np.float64(g_tot) * dt_tau))
            vi = vinf + (vi - vinf) * e + z32
        else:
            vi = p22 * vi
            for r in range(nr):
                vi = vi + r_p21[r] * i_syn[r, i]
            vi = vi + p20 * i_ext[i] + z32
            if any_rise:
                for r in range(nr):
                    vi = vi + r_p2h[r] * i_rise[r, i]
        fired = vi >= v_th
        vi = vi + pulse[i]
    pulse[i] = F32(0.0)
    for r in range(nr):
        if r_rise[r]:
            h = i_rise[r, i]
            i_syn[r, i] = r_p11[r] * i_syn[r, i] + r_rise_gain[r] * h
            i_rise[r, i] = r_rise_decay[r] * h + cur[r, i]
        else:
            i_syn[r, i] = r_p11[r] * i_syn[r, i] + cur[r, i]
        cur[r, i] = F32(0.0)
    if fired:
        vi = v_reset
        refr[i] = ref_steps
    v[i] = vi
    return fired


def _make_step(parallel: bool):
    """``step(skey, fill, ...)``: with ``fill`` the step draws its random words itself
    (``words[i] = draw_word(skey, i)``), as the fused one-receptor LIF step does.

    Per block of neurons, in passes: the noise, then V's sum one receptor at a time (each pass a
    plain loop over neurons that the compiler vectorises), the threshold, then each receptor's
    decay. Every neuron sees the same float32 operations in the same order as in
    ``lif_multi_neuron``. At 4,000 neurons with two current receptors a step costs ~4 us; a
    neuron-by-neuron loop with an inner loop over receptors cost 55, and a pass fused for the
    two-receptor case 11 (it did not vectorise; removed)."""

    @njit(cache=True, parallel=parallel)
    def step(skey, fill, s, p, pulse, cur, scratch, zx, zr):
        v, i_syn, refr, i_ext, i_rise = s.v, s.i_syn, s.refr, s.i_ext, s.i_rise
        words, zbuf, code, spikes, deferred = scratch.words, scratch.zbuf, scratch.code, scratch.spikes, scratch.deferred
        sigma, noisy = p.sigma, p.noisy
        p22, p20, dt_tau, has_cond, any_rise = p.p22, p.p20, p.dt_tau, p.has_cond, p.any_rise
        r_p21, r_p11, r_p2h, r_rise_decay, r_rise_gain = p.r_p21, p.r_p11, p.r_p2h, p.r_rise_decay, p.r_rise_gain
        r_e_rev, r_cond, r_rise, v_th, v_reset, ref_steps = p.r_e_rev, p.r_cond, p.r_rise, p.v_th, p.v_reset, p.ref_steps
        nr = r_p11.shape[0]
        nn = v.shape[0]
        vn = np.empty(nn, np.float32)                      # work rows: candidate V, and for conductances
        gt = np.empty(nn if has_cond else 0, np.float32)   # the total conductance and the drive
        dr = np.empty(nn if has_cond else 0, np.float32)
        for b in prange((nn + BLOCK - 1) // BLOCK):
            lo = b * BLOCK
            hi = min(nn, lo + BLOCK)
            # unsigned indices: numba then emits no negative-index fix-up and the loops vectorise
            # (with a signed range(lo, hi) a pass ran at 4.8 ns a neuron against 0.75)
            ulo, uhi = np.uint64(lo), np.uint64(hi)
            # noise: zbuf[i] = float32(sigma * z_i)
            if noisy:
                if fill:
                    for i in range(ulo, uhi):
                        words[i] = draw_word(skey, i)
                for i in range(ulo, uhi):
                    zbuf[i] = F32(sigma * normal_from_hash(words[i], zx, zr))
            else:
                for i in range(ulo, uhi):
                    zbuf[i] = F32(0.0)
            # the candidate V (refractory neurons get v_reset below, whatever is computed here)
            if has_cond:
                for i in range(ulo, uhi):
                    gt[i] = F32(1.0)
                    dr[i] = i_ext[i]
                for r in range(nr):
                    row = i_syn[r]
                    if r_cond[r]:
                        er = r_e_rev[r]
                        for i in range(ulo, uhi):
                            x = row[i]
                            gt[i] = gt[i] + x
                            dr[i] = dr[i] + x * er
                    else:
                        for i in range(ulo, uhi):
                            dr[i] = dr[i] + row[i]
                for i in range(ulo, uhi):
                    vinf = dr[i] / gt[i]
                    e = F32(exp_neg(np.float64(gt[i]) * dt_tau))
                    vn[i] = vinf + (v[i] - vinf) * e + zbuf[i]
            else:
                for i in range(ulo, uhi):
                    vn[i] = p22 * v[i]
                for r in range(nr):
                    row = i_syn[r]
                    c = r_p21[r]
                    for i in range(ulo, uhi):
                        vn[i] = vn[i] + c * row[i]
                for i in range(ulo, uhi):
                    vn[i] = vn[i] + p20 * i_ext[i] + zbuf[i]
                if any_rise:
                    for r in range(nr):
                        hrow = i_rise[r]
                        c = r_p2h[r]
                        for i in range(ulo, uhi):
                            vn[i] = vn[i] + c * hrow[i]
            # threshold, pulses, reset, refractoriness
            for i in range(ulo, uhi):
                ri = refr[i]
                ref = ri > 0
                vi = vn[i]
                fired = (not ref) and vi >= v_th
                v[i] = v_reset if (ref or fired) else vi + pulse[i]
                refr[i] = ri - 1 if ref else (ref_steps if fired else ri)
                pulse[i] = F32(0.0)
                code[i] = np.uint8(1) if fired else np.uint8(0)
            # each receptor decays and takes this step's arrivals
            for r in range(nr):
                row = i_syn[r]
                crow = cur[r]
                c = r_p11[r]
                if r_rise[r]:
                    hrow = i_rise[r]
                    g_ = r_rise_gain[r]
                    d_ = r_rise_decay[r]
                    for i in range(ulo, uhi):
                        h = hrow[i]
                        row[i] = c * row[i] + g_ * h
                        hrow[i] = d_ * h + crow[i]
                        crow[i] = F32(0.0)
                else:
                    for i in range(ulo, uhi):
                        row[i] = c * row[i] + crow[i]
                        crow[i] = F32(0.0)
        n, _ = collect_codes(code, spikes, deferred)
        return n

    return step


_STEPS = {False: _make_step(False), True: _make_step(True)}
MULTI_SERIAL, MULTI_PARALLEL = _STEPS[False], _STEPS[True]   # the block loop calls them by name


def lif_multi_step(s: LIFMultiState, p: LIFMultiParams, pulse, cur, scratch, zx, zr, parallel=False, skey=None):
    """One step (numba). ``pulse``: this step's pulse row (n); ``cur``: its current rows (R, n);
    both consumed. ``skey``: this step's noise key, the step then draws its random words itself
    (otherwise ``scratch.words`` must hold them, as ``hash_fill`` writes them)."""
    fn = _STEPS[bool(parallel)]
    if skey is None:
        return fn(np.uint64(0), False, s, p, pulse, cur, scratch, zx, zr)
    return fn(np.uint64(skey), True, s, p, pulse, cur, scratch, zx, zr)


def lif_multi_step_np(s: LIFMultiState, p: LIFMultiParams, pulse, cur, scratch, zx=None, zr=None):
    """numpy twin of ``lif_multi_step``: the same float32 operations in the same order."""
    v, i_syn, refr, i_ext, i_rise = s
    nr, n = i_syn.shape
    z = ((p.sigma * normal_np(scratch.words[:n])).astype(np.float32) if p.noisy else np.zeros(n, np.float32))
    ref = refr > 0
    if p.has_cond:
        g_tot = np.full(n, 1.0, np.float32)
        drive = i_ext.copy()
        for r in range(nr):
            x = i_syn[r]
            if p.r_cond[r]:
                g_tot = g_tot + x
                drive = drive + x * p.r_e_rev[r]
            else:
                drive = drive + x
        vinf = drive / g_tot
        e = exp_neg_np(g_tot.astype(np.float64) * p.dt_tau).astype(np.float32)
        vn = vinf + (v - vinf) * e + z
    else:
        vn = p.p22 * v
        for r in range(nr):
            vn = vn + p.r_p21[r] * i_syn[r]
        vn = vn + p.p20 * i_ext + z
        if p.any_rise:
            for r in range(nr):
                vn = vn + p.r_p2h[r] * i_rise[r]
    fired = (vn >= p.v_th) & ~ref
    vn = vn + pulse
    vn[ref] = p.v_reset
    refr[ref] -= 1
    pulse[:] = 0.0
    for r in range(nr):
        if p.r_rise[r]:
            h = i_rise[r].copy()
            i_syn[r] = p.r_p11[r] * i_syn[r] + p.r_rise_gain[r] * h
            i_rise[r] = p.r_rise_decay[r] * h + cur[r]
        else:
            i_syn[r] = p.r_p11[r] * i_syn[r] + cur[r]
        cur[r] = 0.0
    vn[fired] = p.v_reset
    refr[fired] = p.ref_steps
    v[:] = vn
    idx = np.flatnonzero(fired).astype(np.int32)
    scratch.spikes[:idx.size] = idx
    return int(idx.size)


__all__ = ["LIFMultiParams", "LIFMultiState", "lif_multi_records", "lif_multi_step", "lif_multi_step_np",
           "lif_multi_neuron", "exp_neg", "exp_neg_np"]
