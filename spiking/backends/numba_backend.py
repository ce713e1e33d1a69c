"""numba CPU backend: fused float32 kernels compiled with ``cache=True``.

``threads=1`` (the default) is bit-exact with the numpy reference.  With more threads
the noise fill runs in parallel blocks (still bit-exact: draws are counter-based);
everything else stays serial so spike order and float sums are unchanged.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..kernels import izhikevich as _izh, lif as _lif, noise as _noise, propagate as _prop, sources as _src
from ..kernels.rng import _MASK7, _normal_slow, draw_word, uniform_from_hash
from . import register
from .numpy_backend import HostBackend

_BLOCK = 8192


@njit(parallel=True, cache=True)
def _normal_fill_parallel(skey, sigma, out, zx, zr):
    n = out.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    for bi in prange(nblocks):
        lo = bi * _BLOCK
        hi = min(n, lo + _BLOCK)
        for i in range(lo, hi):
            h = draw_word(skey, i)
            layer = np.int64(h & _MASK7)
            u = 2.0 * uniform_from_hash(h) - 1.0
            if abs(u) < zr[layer]:
                out[i] = np.float32(sigma * (u * zx[layer]))
            else:
                out[i] = np.float32(sigma * _normal_slow(h, layer, u, zx, zr))


@njit(cache=True)
def _count(counts, spikes, n):
    for k in range(n):
        counts[spikes[k]] += 1


@register("numba")
class NumbaBackend(HostBackend):
    name = "numba"

    def __init__(self, threads: int = 1):
        import numba

        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an int >= 1, got {threads!r}")
        self.threads = min(threads, numba.config.NUMBA_NUM_THREADS)
        numba.set_num_threads(self.threads)
        self.normal_fill = _normal_fill_parallel if self.threads > 1 else _noise.normal_fill

    izh_step = staticmethod(_izh.izh_step)
    lif_step = staticmethod(_lif.lif_step)
    propagate = staticmethod(_prop.propagate)
    propagate_delays = staticmethod(_prop.propagate_delays)
    poisson_step = staticmethod(_src.poisson_step)

    def count_spikes(self, counts, spikes, n) -> None:
        _count(counts, spikes, n)
