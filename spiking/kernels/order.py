"""A stable counting sort: the one way CSR tables and the growing store's indices are ordered.

``counting_sort(keys, order, n_keys)`` lists the entries of ``order`` grouped by ``keys[entry]``
(each key in [0, n_keys)), keeping the sequence of ``order`` within a key, and returns the group
bounds with it. With ``order = arange(n)`` it is ``np.argsort(keys[:n], kind="stable")`` in
O(n + n_keys), with no comparison sort; applied twice (by the secondary key, then over that order by
the primary key) it sorts by two keys.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def counting_sort(keys, order, n_keys):
    """(ptr, out): ``out`` = the entries of ``order`` grouped by their key, stable; ``ptr[k]:ptr[k + 1]``
    is key k's stretch of ``out``."""
    n = order.shape[0]
    ptr = np.zeros(n_keys + 1, np.int64)
    for q in range(n):
        ptr[keys[order[q]] + 1] += 1
    for k in range(n_keys):
        ptr[k + 1] += ptr[k]
    fill = ptr[:n_keys].copy()
    out = np.empty(n, np.int64)
    for q in range(n):
        j = order[q]
        k = keys[j]
        out[fill[k]] = j
        fill[k] += 1
    return ptr, out
