"""Deliver the spikes of one step through a CSR projection into a ring buffer.

Homogeneous delay: every synapse of the projection writes into one ring row
(``row = ring[(t + D) % R]``).  Heterogeneous delays: synapse j writes into
``ring[(t + delay[j]) % R]``.  Spikes are visited in order and synapses in CSR order,
so float32 sums are reproducible (and equal in the numpy twin, whose ``np.add.at`` is
unbuffered and ordered).

The loops run over unsigned indices (``range(uint64, uint64)``, targets read as ``uint32``):
numba then drops the negative-index fix-up on every access (a CSR index is never negative), which
made the inner loop 1.4-1.6x faster here (``docs/engine.md``). The row pointers and rows of the
spikes ahead are prefetched (``prefetch.py``): hints only, the same sums.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .prefetch import prefetch_rows, prefetch_start


@njit(cache=True)
def propagate(spikes, n_spikes, indptr, indices, weights, row):
    prefetch_start(spikes, n_spikes, indptr, indices, weights)
    for k in range(n_spikes):
        prefetch_rows(spikes, n_spikes, k, indptr, indices, weights)
        s = spikes[k]
        for j in range(np.uint64(indptr[s]), np.uint64(indptr[s + 1])):
            row[np.uint32(indices[j])] += weights[j]


@njit(cache=True)
def propagate_uniform(spikes, n_spikes, indptr, indices, weight, row):
    """Homogeneous delay and one weight for every synapse (a constant, static projection):
    4 bytes per synapse instead of 8, half the memory traffic."""
    prefetch_start(spikes, n_spikes, indptr, indices, indices)
    for k in range(n_spikes):
        prefetch_rows(spikes, n_spikes, k, indptr, indices, indices)
        s = spikes[k]
        for j in range(np.uint64(indptr[s]), np.uint64(indptr[s + 1])):
            row[np.uint32(indices[j])] += weight


@njit(cache=True)
def propagate_delays(spikes, n_spikes, indptr, indices, weights, delays, ring, t):
    r = ring.shape[0]
    prefetch_start(spikes, n_spikes, indptr, indices, weights)
    for k in range(n_spikes):
        prefetch_rows(spikes, n_spikes, k, indptr, indices, weights)
        s = spikes[k]
        for j in range(np.uint64(indptr[s]), np.uint64(indptr[s + 1])):
            ring[(t + delays[j]) % r, np.uint32(indices[j])] += weights[j]


def _synapses_of(spikes, n_spikes, indptr):
    src = spikes[:n_spikes]
    starts, stops = indptr[src], indptr[src + 1]
    lens = stops - starts
    if lens.sum() == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
    return np.arange(lens.sum(), dtype=np.int64) + offs


def propagate_np(spikes, n_spikes, indptr, indices, weights, row):
    syn = _synapses_of(spikes, n_spikes, indptr)
    np.add.at(row, indices[syn], weights[syn])


def propagate_uniform_np(spikes, n_spikes, indptr, indices, weight, row):
    syn = _synapses_of(spikes, n_spikes, indptr)
    np.add.at(row, indices[syn], np.full(syn.size, weight, dtype=row.dtype))


def propagate_delays_np(spikes, n_spikes, indptr, indices, weights, delays, ring, t):
    syn = _synapses_of(spikes, n_spikes, indptr)
    rows = (t + delays[syn].astype(np.int64)) % ring.shape[0]
    np.add.at(ring, (rows, indices[syn]), weights[syn])
