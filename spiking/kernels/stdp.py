"""Pair-based STDP with per-neuron traces (homogeneous delays), and the three-factor update.

Traces are scaled by their amplitudes (as Brian2's ``apre``/``apost``): ``x_pre`` jumps by
``a_plus`` when a presynaptic spike *arrives* (after the projection's delay) and decays with
tau_plus; ``x_post`` jumps by ``a_minus`` at a postsynaptic spike and decays with tau_minus.
``nearest=True`` sets the trace to the amplitude instead of adding (nearest-neighbour pairing).

* ``stdp_post``: for every postsynaptic spike, potentiate each incoming synapse by the
  presynaptic trace (through a CSC index: synapse ids and their pre neurons per post neuron).
* ``stdp_pre_transmit``: for every presynaptic spike arriving next step, add the weight to
  the target's ring row (transmission uses the weight before the update, as Brian2's
  ``v_post += w`` comes first), then depress it by the postsynaptic trace.

With ``modulated`` the change goes into the eligibility trace instead of the weight
(``elig += dw * inv_pending``; see ``spiking.plasticity``).  Bounds: hard clipping to
[w_min, w_max], or soft (potentiation scaled by (w_max - w)/(w_max - w_min), depression
by (w - w_min)/(w_max - w_min)) before clipping.  ``frozen`` synapses (quarantined) never change.
``potentiated`` marks synapses whose weight grew (used for cascade promotion during replay).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def trace_scale(x, factor):
    for i in range(x.shape[0]):
        x[i] *= factor


def trace_scale_np(x, factor):
    x *= factor


@njit(cache=True)
def _bounded(wj, dw, w_min, w_max, soft):
    if soft:
        span = w_max - w_min
        if dw > 0:
            dw = dw * (w_max - wj) / span
        else:
            dw = dw * (wj - w_min) / span
    wj = wj + dw
    if wj < w_min:
        wj = w_min
    elif wj > w_max:
        wj = w_max
    return wj


@njit(cache=True)
def stdp_post(post_spikes, n_post, csc_indptr, csc_syn, csc_pre, w, x_pre, x_post, a_minus, nearest,
              w_min, w_max, soft, frozen, check_frozen, modulated, elig, inv_pending, potentiated, track):
    # ``check_frozen`` / ``track`` are False unless a synapse is quarantined / a consolidation is
    # running: each saves a random access per update into a per-synapse array (measured ~2x).
    for k in range(n_post):
        i = post_spikes[k]
        for q in range(np.uint64(csc_indptr[i]), np.uint64(csc_indptr[i + 1])):   # unsigned: no index fix-ups
            j = np.uint64(csc_syn[q])
            if check_frozen and frozen[j]:
                continue
            dw = x_pre[np.uint32(csc_pre[q])]
            if modulated:
                elig[j] += dw * inv_pending
            else:
                old = w[j]
                nw = _bounded(old, dw, w_min, w_max, soft)
                w[j] = nw
                if track and nw > old:
                    potentiated[j] = 1
        if nearest:
            x_post[i] = a_minus
        else:
            x_post[i] += a_minus


@njit(cache=True)
def stdp_pre_transmit(pre_spikes, n_pre, indptr, indices, w, row, x_pre, x_post, post_decay, a_plus, nearest,
                      w_min, w_max, soft, frozen, check_frozen, modulated, elig, inv_pending):
    for k in range(n_pre):
        s = pre_spikes[k]
        for j in range(np.uint64(indptr[s]), np.uint64(indptr[s + 1])):
            t = np.uint32(indices[j])
            row[t] += w[j]
            if check_frozen and frozen[j]:
                continue
            dw = -(x_post[t] * post_decay)
            if modulated:
                elig[j] += dw * inv_pending
            else:
                w[j] = _bounded(w[j], dw, w_min, w_max, soft)
        if nearest:
            x_pre[s] = a_plus
        else:
            x_pre[s] += a_plus


@njit(cache=True)
def modulated_update(w, elig, factor, w_min, w_max, soft, frozen, potentiated, track):
    """w += factor * elig (factor = eta * D * dt), bounded; marks potentiated synapses when tracking."""
    for j in range(w.shape[0]):
        if frozen[j]:
            continue
        nw = _bounded(w[j], factor * elig[j], w_min, w_max, soft)
        if track and nw > w[j]:
            potentiated[j] = 1
        w[j] = nw


@njit(cache=True)
def modulated_update_leveled(w, elig, factor, level, dep_scale, w_min, w_max, soft, frozen, potentiated, track):
    """``modulated_update`` with the cascade's metaplasticity: a decrease of a level-c synapse is
    scaled by ``dep_scale[c]`` (float32 per level); increases are not."""
    for j in range(w.shape[0]):
        if frozen[j]:
            continue
        dw = factor * elig[j]
        if dw < 0:
            dw = dw * dep_scale[level[j]]
        nw = _bounded(w[j], dw, w_min, w_max, soft)
        if track and nw > w[j]:
            potentiated[j] = 1
        w[j] = nw


@njit(cache=True)
def cascade_decay(w, level, factors, frozen):
    """w *= factors[level] (closed-form decay over an elapsed stretch, per cascade level).

    ``factors`` is float64 and the product is rounded once to float32: factors as close
    to 1 as exp(-1 s / 488 h) would lose most of their information as float32."""
    for j in range(w.shape[0]):
        if not frozen[j]:
            w[j] = np.float32(np.float64(w[j]) * factors[level[j]])


@njit(cache=True)
def synaptic_scaling(csc_indptr, csc_syn, w, cap, frozen):
    """Scale each neuron's incoming (unfrozen) weights down so that their sum is at most ``cap``."""
    for i in range(csc_indptr.shape[0] - 1):
        total = 0.0
        for q in range(csc_indptr[i], csc_indptr[i + 1]):
            j = csc_syn[q]
            if not frozen[j]:
                total += w[j]
        if total > cap:
            f = np.float32(cap / total)
            for q in range(csc_indptr[i], csc_indptr[i + 1]):
                j = csc_syn[q]
                if not frozen[j]:
                    w[j] = w[j] * f


# --- numpy twins ---------------------------------------------------------------

def _bounded_np(w, dw, w_min, w_max, soft):
    if soft:
        span = w_max - w_min
        dw = np.where(dw > 0, dw * (w_max - w) / span, dw * (w - w_min) / span).astype(w.dtype)
    return np.clip(w + dw, w_min, w_max).astype(w.dtype)


def stdp_post_np(post_spikes, n_post, csc_indptr, csc_syn, csc_pre, w, x_pre, x_post, a_minus, nearest,
                 w_min, w_max, soft, frozen, check_frozen, modulated, elig, inv_pending, potentiated, track):
    # each synapse appears once per post spike and a post neuron spikes once per step,
    # so the vectorised form touches every synapse at most once
    for k in range(n_post):
        i = post_spikes[k]
        q = np.arange(csc_indptr[i], csc_indptr[i + 1])
        j = csc_syn[q]
        keep = frozen[j] == 0
        j, q = j[keep], q[keep]
        dw = x_pre[csc_pre[q]]
        if modulated:
            elig[j] += dw * inv_pending
        else:
            old = w[j]
            w[j] = _bounded_np(old, dw, w_min, w_max, soft)
            if track:
                potentiated[j[w[j] > old]] = 1
        if nearest:
            x_post[i] = a_minus
        else:
            x_post[i] += a_minus


def stdp_pre_transmit_np(pre_spikes, n_pre, indptr, indices, w, row, x_pre, x_post, post_decay, a_plus, nearest,
                         w_min, w_max, soft, frozen, check_frozen, modulated, elig, inv_pending):
    for k in range(n_pre):
        s = pre_spikes[k]
        j = np.arange(indptr[s], indptr[s + 1])
        np.add.at(row, indices[j], w[j])
        j = j[frozen[j] == 0]
        dw = -(x_post[indices[j]] * post_decay)
        if modulated:
            elig[j] += dw * inv_pending
        else:
            w[j] = _bounded_np(w[j], dw, w_min, w_max, soft)
        if nearest:
            x_pre[s] = a_plus
        else:
            x_pre[s] += a_plus


def modulated_update_np(w, elig, factor, w_min, w_max, soft, frozen, potentiated, track):
    live = frozen == 0
    nw = _bounded_np(w, (factor * elig).astype(w.dtype), w_min, w_max, soft)
    if track:
        potentiated[live & (nw > w)] = 1
    w[live] = nw[live]


def modulated_update_leveled_np(w, elig, factor, level, dep_scale, w_min, w_max, soft, frozen, potentiated, track):
    live = frozen == 0
    dw = (factor * elig).astype(w.dtype)
    dw = np.where(dw < 0, dw * dep_scale[level], dw).astype(w.dtype)
    nw = _bounded_np(w, dw, w_min, w_max, soft)
    if track:
        potentiated[live & (nw > w)] = 1
    w[live] = nw[live]


def cascade_decay_np(w, level, factors, frozen):
    live = frozen == 0
    w[live] = (w.astype(np.float64) * factors[level]).astype(np.float32)[live]


def synaptic_scaling_np(csc_indptr, csc_syn, w, cap, frozen):
    for i in range(csc_indptr.shape[0] - 1):
        j = csc_syn[csc_indptr[i]:csc_indptr[i + 1]]
        j = j[frozen[j] == 0]
        total = 0.0
        for x in w[j]:           # the same float64 summation order as the numba kernel
            total += float(x)
        if total > cap:
            w[j] = w[j] * np.float32(cap / total)


# --- heterogeneous delays: per-synapse presynaptic traces, updated at each synapse's arrival ---
#
# Rows of a plastic projection with heterogeneous delays are sorted by (delay, target), so the
# synapses of a spike that arrive together form one contiguous segment of its row.  The
# presynaptic trace lives on the synapse (value at its last arrival ``last[j]``) and is decayed
# on use with a table of decay^k that reaches below float32's smallest number (0 beyond), as
# Brian2's event-driven per-synapse traces.

@njit(cache=True)
def _seg(delays, lo, hi, d):
    """[a, b) of the synapses in delays[lo:hi] (sorted) equal to d."""
    a, b = lo, hi
    while a < b:
        m = (a + b) // 2
        if delays[m] < d:
            a = m + 1
        else:
            b = m
    e, b = a, hi
    while e < b:
        m = (e + b) // 2
        if delays[m] <= d:
            e = m + 1
        else:
            b = m
    return a, e


@njit(cache=True)
def _decayed(value, steps, table, log_decay):
    # the table reaches below float32's smallest number, so beyond it the trace is 0
    if steps < table.shape[0]:
        return value * table[steps]
    return np.float32(0.0)


@njit(cache=True)
def stdp_pre_hetero(hist, hist_n, t_next, d_min, d_max, indptr, indices, delays, w, row, a_pre, last, table,
                    log_decay, x_post, post_decay, a_plus, nearest, w_min, w_max, soft, frozen, check_frozen,
                    modulated, elig, inv_pending):
    h = hist.shape[0]
    for d in range(d_min, d_max + 1):
        src = t_next - d
        if src < 0:
            continue
        r = src % h
        for k in range(hist_n[r]):
            s = hist[r, k]
            a, b = _seg(delays, indptr[s], indptr[s + 1], d)
            for j in range(a, b):
                tgt = indices[j]
                row[tgt] += w[j]
                if nearest:
                    a_pre[j] = a_plus
                else:
                    a_pre[j] = _decayed(a_pre[j], t_next - last[j], table, log_decay) + a_plus
                last[j] = t_next
                if check_frozen and frozen[j]:
                    continue
                dw = -(x_post[tgt] * post_decay)
                if modulated:
                    elig[j] += dw * inv_pending
                else:
                    w[j] = _bounded(w[j], dw, w_min, w_max, soft)


@njit(cache=True)
def stdp_post_hetero(post_spikes, n_post, t, csc_indptr, csc_syn, w, a_pre, last, table, log_decay, x_post,
                     a_minus, nearest, w_min, w_max, soft, frozen, check_frozen, modulated, elig, inv_pending,
                     potentiated, track):
    for k in range(n_post):
        i = post_spikes[k]
        for q in range(csc_indptr[i], csc_indptr[i + 1]):
            j = csc_syn[q]
            if (check_frozen and frozen[j]) or a_pre[j] == 0.0:
                continue
            dw = _decayed(a_pre[j], t - last[j], table, log_decay)
            if modulated:
                elig[j] += dw * inv_pending
            else:
                old = w[j]
                nw = _bounded(old, dw, w_min, w_max, soft)
                w[j] = nw
                if track and nw > old:
                    potentiated[j] = 1
        if nearest:
            x_post[i] = a_minus
        else:
            x_post[i] += a_minus


def _decayed_np(value, steps, table, log_decay):
    steps = np.asarray(steps, dtype=np.int64)
    inside = steps < table.shape[0]
    out = np.empty(np.shape(value), np.float32)
    out[inside] = value[inside] * table[steps[inside]]
    out[~inside] = 0.0
    return out


def stdp_pre_hetero_np(hist, hist_n, t_next, d_min, d_max, indptr, indices, delays, w, row, a_pre, last, table,
                       log_decay, x_post, post_decay, a_plus, nearest, w_min, w_max, soft, frozen, check_frozen,
                       modulated, elig, inv_pending):
    h = hist.shape[0]
    for d in range(d_min, d_max + 1):
        src = t_next - d
        if src < 0:
            continue
        r = src % h
        for k in range(int(hist_n[r])):
            s = hist[r, k]
            lo, hi = indptr[s], indptr[s + 1]
            a = lo + np.searchsorted(delays[lo:hi], d, side="left")
            b = lo + np.searchsorted(delays[lo:hi], d, side="right")
            j = np.arange(a, b)
            tgt = indices[j]
            np.add.at(row, tgt, w[j])
            if nearest:
                a_pre[j] = a_plus
            else:
                a_pre[j] = _decayed_np(a_pre[j], t_next - last[j], table, log_decay) + a_plus
            last[j] = t_next
            live = frozen[j] == 0
            j, tgt = j[live], tgt[live]
            dw = -(x_post[tgt] * post_decay)
            if modulated:
                elig[j] += dw * inv_pending
            else:
                w[j] = _bounded_np(w[j], dw, w_min, w_max, soft)


def stdp_post_hetero_np(post_spikes, n_post, t, csc_indptr, csc_syn, w, a_pre, last, table, log_decay, x_post,
                        a_minus, nearest, w_min, w_max, soft, frozen, check_frozen, modulated, elig, inv_pending,
                        potentiated, track):
    for k in range(n_post):
        i = post_spikes[k]
        j = csc_syn[csc_indptr[i]:csc_indptr[i + 1]]
        j = j[(frozen[j] == 0) & (a_pre[j] != 0.0)]
        dw = _decayed_np(a_pre[j], t - last[j], table, log_decay)
        if modulated:
            elig[j] += dw * inv_pending
        else:
            old = w[j]
            w[j] = _bounded_np(old, dw, w_min, w_max, soft)
            if track:
                potentiated[j[w[j] > old]] = 1
        if nearest:
            x_post[i] = a_minus
        else:
            x_post[i] += a_minus
