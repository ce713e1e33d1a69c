"""Gaussian noise for one population and one step: ``out[i] = float32(sigma * N(0,1))``.

Two passes keep the common case vectorisable: the first computes the ziggurat's fast
path for every neuron and marks the ~1 % of rejections with NaN; the second finishes
only those (only when there are any).  The draw for neuron ``i`` is
``normal_from_hash(draw_word(skey, offset + i))``, so a population split across
devices or threads gets the same numbers.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .rng import ZIG_RATIO, ZIG_X, _MASK7, _normal_slow, draw_word, draw_words_np, normal_np, uniform_from_hash


@njit(cache=True)
def normal_fill(skey, sigma, out, zx, zr):
    n = out.shape[0]
    bad = 0
    for i in range(n):
        h = draw_word(skey, i)
        layer = np.int64(h & _MASK7)
        u = 2.0 * uniform_from_hash(h) - 1.0
        ok = abs(u) < zr[layer]
        out[i] = np.float32(sigma * (u * zx[layer])) if ok else np.float32(np.nan)
        bad += 0 if ok else 1
    if bad > 0:
        for i in range(n):
            if out[i] != out[i]:
                h = draw_word(skey, i)
                layer = np.int64(h & _MASK7)
                u = 2.0 * uniform_from_hash(h) - 1.0
                out[i] = np.float32(sigma * _normal_slow(h, layer, u, zx, zr))


def normal_fill_np(skey, sigma, out, zx=ZIG_X, zr=ZIG_RATIO):
    """numpy twin of ``normal_fill`` (bit-exact)."""
    out[:] = (sigma * normal_np(draw_words_np(skey, out.shape[0]))).astype(np.float32)
