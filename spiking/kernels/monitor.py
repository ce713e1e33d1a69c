"""Monitor kernels: spike counts of neuron groups, accumulated where the spikes are.

``member_ptr`` / ``member_group`` are a CSR map from neuron to the groups it belongs to
(a neuron may be in several groups or in none); ``acc`` is one int64 counter per group.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def count_groups(acc, spikes, n, member_ptr, member_group):
    for k in range(n):
        s = spikes[k]
        for q in range(member_ptr[s], member_ptr[s + 1]):
            acc[member_group[q]] += 1


def count_groups_np(acc, spikes, n, member_ptr, member_group):
    s = np.asarray(spikes[:n], dtype=np.int64)
    lo, lens = member_ptr[s], member_ptr[s + 1] - member_ptr[s]
    q = np.repeat(lo, lens) + (np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens))
    np.add.at(acc, member_group[q], 1)
