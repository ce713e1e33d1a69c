"""numba CPU backend: fused float32 kernels compiled with ``cache=True``.

``threads=1`` (the default) is bit-exact with the numpy reference.  With more threads
the random-word fill, the fast-path normals and the neuron update pass run in parallel
(still bit-exact: draws are counter-based and each neuron's arithmetic is its own);
the spike scan, the deferred neurons, propagation and plasticity stay serial, so spike
order and float sums are unchanged.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..kernels import izhikevich as _izh, lif as _lif, noise as _noise, propagate as _prop, sources as _src
from ..kernels import izh_receptors as _rec, lif_receptors as _lifr, monitor as _mon, stdp as _stdp
from ..kernels.rng import draw_word
from . import register
from .numpy_backend import HostBackend

_BLOCK = 8192


@njit(parallel=True, cache=True)
def _hash_fill_parallel(skey, words):
    n = words.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    for bi in prange(nblocks):
        lo = bi * _BLOCK
        hi = min(n, lo + _BLOCK)
        for i in range(lo, hi):
            words[i] = draw_word(skey, i)


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
        self.hash_fill = _hash_fill_parallel if self.threads > 1 else _noise.hash_fill

    def izh_step(self, state, params, pulse, cur, scratch, zx, zr):
        return _izh.izh_step(state, params, pulse, cur, scratch, zx, zr, parallel=self.threads > 1)

    fused_noise = ("lif",)   # kinds whose step draws its own random words (no hash_fill pass first)

    def lif_step(self, state, params, pulse, cur, scratch, zx, zr, skey=None):
        return _lif.lif_step(state, params, pulse, cur, scratch, zx, zr, parallel=self.threads > 1, skey=skey)

    def lif_multi_step(self, state, params, pulse, cur, scratch, zx, zr, skey=None):
        return _lifr.lif_multi_step(state, params, pulse, cur, scratch, zx, zr, parallel=self.threads > 1, skey=skey)

    receptor_input = staticmethod(_rec.receptor_input)
    receptor_decay = staticmethod(_rec.receptor_decay)
    propagate = staticmethod(_prop.propagate)
    propagate_delays = staticmethod(_prop.propagate_delays)
    propagate_uniform = staticmethod(_prop.propagate_uniform)
    poisson_step = staticmethod(_src.poisson_step)
    trace_scale = staticmethod(_stdp.trace_scale)
    stdp_post = staticmethod(_stdp.stdp_post)
    stdp_pre_transmit = staticmethod(_stdp.stdp_pre_transmit)
    modulated_update = staticmethod(_stdp.modulated_update)
    modulated_update_leveled = staticmethod(_stdp.modulated_update_leveled)
    cascade_decay = staticmethod(_stdp.cascade_decay)
    synaptic_scaling = staticmethod(_stdp.synaptic_scaling)
    stdp_pre_hetero = staticmethod(_stdp.stdp_pre_hetero)
    stdp_post_hetero = staticmethod(_stdp.stdp_post_hetero)
    count_groups = staticmethod(_mon.count_groups)

    def count_spikes(self, counts, spikes, n) -> None:
        _count(counts, spikes, n)
