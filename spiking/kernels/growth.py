"""Kernels of the growing synapse store (structural plasticity).

The store is a list of synapses (pre, post, weight, ...) with spare capacity, an
open-addressing hash table from the pair (pre, post) to the synapse's slot, and two
permutation indices (by pre and by post) rebuilt at housekeeping; synapses created since
the last rebuild form a short "tail" that the step kernels scan directly.

These kernels are pure loops over flat arrays, numba-compiled on every CPU backend.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import overload, register_jitable

from .prefetch import prefetch_rows, prefetch_start
from .rng import mix64
from .stdp import _bounded   # the one weight-bound rule of the CPU kernels

EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
_M = np.uint64(0x9E3779B97F4A7C15)
_S = np.uint64(29)
_S32 = np.uint64(32)


TRACE_FLOOR = np.float32(1e-30)


@register_jitable
def _decay_range(x, factor, lo, hi):
    for i in range(np.uint64(lo), np.uint64(hi)):   # unsigned: no negative-index fix-up, it vectorises
        v = x[i] * factor
        x[i] = v if v >= TRACE_FLOOR else np.float32(0.0)


@njit(cache=True)
def trace_decay(x, factor):
    """x *= factor, a value that falls below TRACE_FLOOR becoming 0. A trace that small changes no
    float32 weight, and left alone it decays through the subnormal range, where every multiply is
    ~100x slower: at 0.9 Hz about a third of the cells' traces sit there (measured: 30 us per step
    for 3,000 cells, 2 us with the floor)."""
    _decay_range(x, factor, 0, x.shape[0])


@njit(cache=True, parallel=True)
def trace_decay_parallel(x, factor):
    """``trace_decay`` over threads, in blocks (each element's result is the same)."""
    n = x.shape[0]
    for b in prange((n + 8191) // 8192):
        _decay_range(x, factor, b * 8192, min(n, (b + 1) * 8192))


@njit(cache=True)
def pair_key(pre, post):
    return (np.uint64(pre) << np.uint64(32)) | np.uint64(post)


@register_jitable
def home_slot(key, mask):
    """A pair key's first entry in the open-addressing table (uint64; the CPU's and the device's)."""
    h = key * _M
    return (h ^ (h >> _S)) & mask


@njit(cache=True)
def _slot(key, mask):
    return np.int64(home_slot(key, mask))


@register_jitable
def pair_hash32(key, seed):
    """The 32-bit hash of a pair key under a uint64 ``seed`` (splitmix64's finaliser); the CPU's
    and the device's test of a potential synapse."""
    return mix64(key ^ (seed * _M)) >> _S32


@njit(cache=True)
def potential_hash(pre, post, seed):
    """A 32-bit hash of the pair (pre, post) under ``seed``: the pair is a potential synapse when
    it is below ``potential * 2**32``; fixed by the seed, stored nowhere."""
    return pair_hash32(pair_key(pre, post), np.uint64(seed))


@njit(cache=True)
def hash_find(keys, vals, key):
    mask = np.uint64(keys.shape[0] - 1)
    i = _slot(key, mask)
    while True:
        k = keys[i]
        if k == key:
            return vals[i]
        if k == EMPTY:
            return -1
        i = (i + 1) & np.int64(mask)


@njit(cache=True)
def hash_insert(keys, vals, key, value):
    mask = np.uint64(keys.shape[0] - 1)
    i = _slot(key, mask)
    while keys[i] != EMPTY and keys[i] != key:
        i = (i + 1) & np.int64(mask)
    keys[i] = key
    vals[i] = value


@njit(cache=True)
def hash_rebuild(keys, vals, pre, post, n):
    keys[:] = EMPTY
    for j in range(n):
        hash_insert(keys, vals, pair_key(pre[j], post[j]), j)


@njit(cache=True)
def grow_post(post_spikes, n_post, t, hist, hist_n, first_src, last_src, x_pre, gain, w_create, w_max, autapse_ok,
              same_pop, keys, vals, pre, post, w, elig, modulated, n, capacity, x_post, post_min, pot_thresh, pot_seed, pre_min):
    """Create synapses (j -> i) for each post spike i and each presynaptic neuron j that arrived
    in the candidate window, when the update the pairing would make, gain * x_pre[j], exceeds
    w_create, the post neuron's trace (this spike included) is at least ``post_min`` (0: any
    post spike), the pre trace is at least ``pre_min`` (0: any), and the pair is a potential synapse (``potential_hash < pot_thresh``; 2**32: all
    pairs are).  Returns the new count (stops at capacity; the caller grows and calls again)."""
    h = hist.shape[0]
    # the window's arrivals that pass the tests that do not depend on the post neuron (the pre
    # trace's burst test and gain * x_pre > w_create; the traces do not change in here), in window
    # order, once per step instead of once per post spike: the pairs are then visited in the order
    # of the plain double loop, so the same synapses are created in the same slots
    total = 0
    for src in range(first_src, last_src + 1):
        if src >= 0:
            total += hist_n[src % h]
    cand = np.empty(total, np.int64)
    cu = np.empty(total, np.float32)
    nc = 0
    for src in range(first_src, last_src + 1):
        if src < 0:
            continue
        r = src % h
        for q in range(hist_n[r]):
            j = hist[r, q]
            if x_pre[j] < pre_min:
                continue
            u = gain * x_pre[j]
            if u <= w_create:
                continue
            cand[nc] = j
            cu[nc] = u
            nc += 1
    for k in range(n_post):
        i = post_spikes[k]
        if x_post[i] < post_min:
            continue
        for c in range(nc):
            j = cand[c]
            if same_pop and not autapse_ok and j == i:
                continue
            u = cu[c]
            if pot_thresh < np.uint64(4294967296) and potential_hash(j, i, pot_seed) >= pot_thresh:
                continue
            key = pair_key(j, i)
            if hash_find(keys, vals, key) >= 0:
                continue
            if n >= capacity:
                return n, False
            pre[n] = j
            post[n] = i
            if modulated:
                w[n] = w_create
                elig[n] = x_pre[j]
            else:
                w[n] = min(u, w_max)
            hash_insert(keys, vals, key, n)
            n += 1
    return n, True


@njit(cache=True)
def growing_post(post_spikes, n_post, in_ptr, in_idx, tail_start, n, post, pre, w, x_pre, x_post, a_minus, nearest,
                 w_min, w_max, soft, frozen, modulated, elig, inv_pending, potentiated, mark):
    """Post-side potentiation of existing synapses: the indexed ones through in_ptr/in_idx, then
    the tail in one pass over it (``mark``: a zeroed scratch array over the post neurons, left
    zeroed). A synapse's update touches only itself, so the order of the passes does not change
    any result; a post neuron listed twice (injected as it spikes) updates its synapses twice."""
    prefetch_start(post_spikes, n_post, in_ptr, in_idx, in_idx)
    for k in range(n_post):
        prefetch_rows(post_spikes, n_post, k, in_ptr, in_idx, in_idx)
        i = post_spikes[k]
        for q in range(np.uint64(in_ptr[i]), np.uint64(in_ptr[i + 1])):   # unsigned: no index fix-ups
            _pot(np.uint64(in_idx[q]), pre, w, x_pre, w_min, w_max, soft, frozen, modulated, elig, inv_pending,
                 potentiated)
    if tail_start < n:
        for k in range(n_post):
            mark[post_spikes[k]] += 1          # a neuron injected as it spikes is listed twice
        for j in range(tail_start, n):
            for _ in range(mark[post[j]]):
                _pot(j, pre, w, x_pre, w_min, w_max, soft, frozen, modulated, elig, inv_pending, potentiated)
        for k in range(n_post):
            mark[post_spikes[k]] = 0
    for k in range(n_post):
        i = post_spikes[k]
        if nearest:
            x_post[i] = a_minus
        else:
            x_post[i] += a_minus


@njit(cache=True)
def _pot(j, pre, w, x_pre, w_min, w_max, soft, frozen, modulated, elig, inv_pending, potentiated):
    if frozen[j]:
        return
    dw = x_pre[np.uint32(pre[j])]
    if modulated:
        elig[j] += dw * inv_pending
    else:
        nw = _bounded(w[j], dw, w_min, w_max, soft)
        if nw > w[j]:
            potentiated[j] = 1
        w[j] = nw


@njit(cache=True)
def growing_pre(arrivals, n_arr, out_ptr, out_idx, tail_start, n, pre, post, w, row, x_pre, x_post, post_decay,
                a_plus, nearest, w_min, w_max, soft, frozen, modulated, elig, inv_pending, mark):
    """Transmission and pre-side depression for the arriving presynaptic neurons.

    Per arrival s: its indexed synapses, then its tail synapses in slot order, so that ``row``
    sums in the same order as after a reindex. The tail is sorted by arrival in one counting pass
    (``mark``: a zeroed scratch array over the pre neurons, left zeroed), so a long tail costs
    O(tail + arrivals) per step, not O(tail x arrivals)."""
    nt = n - tail_start
    start = np.zeros(n_arr + 1, np.int64)
    order = np.empty(0, np.int64)
    dup = False
    if nt > 0:
        for k in range(n_arr):
            if mark[arrivals[k]]:
                dup = True                     # listed twice (injected as it spikes): the plain scan
            mark[arrivals[k]] = k + 1
    if dup:
        for k in range(n_arr):
            mark[arrivals[k]] = 0
        for k in range(n_arr):
            s = arrivals[k]
            for q in range(out_ptr[s], out_ptr[s + 1]):
                _dep(out_idx[q], post, w, row, x_post, post_decay, w_min, w_max, soft, frozen, modulated, elig,
                     inv_pending)
            for j in range(tail_start, n):
                if pre[j] == s:
                    _dep(j, post, w, row, x_post, post_decay, w_min, w_max, soft, frozen, modulated, elig,
                         inv_pending)
            if nearest:
                x_pre[s] = a_plus
            else:
                x_pre[s] += a_plus
        return
    if nt > 0:
        for j in range(tail_start, n):
            m = mark[pre[j]]
            if m:
                start[m] += 1
        for k in range(n_arr):
            start[k + 1] += start[k]
        order = np.empty(start[n_arr], np.int64)
        fill = start[:n_arr].copy()
        for j in range(tail_start, n):
            m = mark[pre[j]]
            if m:
                order[fill[m - 1]] = j
                fill[m - 1] += 1
        for k in range(n_arr):
            mark[arrivals[k]] = 0
    prefetch_start(arrivals, n_arr, out_ptr, out_idx, out_idx)
    for k in range(n_arr):
        prefetch_rows(arrivals, n_arr, k, out_ptr, out_idx, out_idx)
        s = arrivals[k]
        for q in range(np.uint64(out_ptr[s]), np.uint64(out_ptr[s + 1])):
            _dep(np.uint64(out_idx[q]), post, w, row, x_post, post_decay, w_min, w_max, soft, frozen, modulated, elig,
                 inv_pending)
        if nt > 0:
            for q in range(start[k], start[k + 1]):
                _dep(order[q], post, w, row, x_post, post_decay, w_min, w_max, soft, frozen, modulated, elig,
                     inv_pending)
        if nearest:
            x_pre[s] = a_plus
        else:
            x_pre[s] += a_plus


def deliver(row, target, value):
    """``row[target] += value``; or, when ``row`` is a delivery list ``(targets, values, fill)``
    (int32, float32, one int64 counter), append the pair, to be added later in the same order
    (``kernels/block.py`` runs the store beside the static projections that write the same row)."""
    raise NotImplementedError   # only called from compiled code


@overload(deliver)
def _deliver_impl(row, target, value):
    if isinstance(row, types.BaseTuple):
        def impl(row, target, value):
            k = row[2][0]
            row[0][k] = target
            row[1][k] = value
            row[2][0] = k + 1
    else:
        def impl(row, target, value):
            row[target] += value
    return impl


@register_jitable
def apply_deliveries(row, targets, values, n):
    """Add a delivery list's first n values into row, in list order (the sums of a direct run)."""
    for q in range(n):
        row[np.uint32(targets[q])] += values[q]


@njit(cache=True)
def _dep(j, post, w, row, x_post, post_decay, w_min, w_max, soft, frozen, modulated, elig, inv_pending):
    t = np.uint32(post[j])
    deliver(row, t, w[j])
    if frozen[j]:
        return
    dw = -(x_post[t] * post_decay)
    if modulated:
        elig[j] += dw * inv_pending
    else:
        w[j] = _bounded(w[j], dw, w_min, w_max, soft)


@njit(cache=True)
def prune_compact(n, w, w_prune, frozen, arrays_f32, arrays_u8, pre, post):
    """Drop synapses with w < w_prune (quarantined ones are kept); compacts every per-synapse
    array in place, keeping order.  Returns the new count."""
    m = 0
    for j in range(n):
        if w[j] >= w_prune or frozen[j]:
            if m != j:
                pre[m] = pre[j]
                post[m] = post[j]
                for a in range(arrays_f32.shape[0]):
                    arrays_f32[a, m] = arrays_f32[a, j]
                for a in range(arrays_u8.shape[0]):
                    arrays_u8[a, m] = arrays_u8[a, j]
            m += 1
    return m
