"""Random words for one population and one step: ``words[i] = draw_word(skey, i)``.

This pass is pure integer arithmetic and vectorises (AVX-512 64-bit multiplies); the
neuron kernels turn each word into an exact Gaussian with the ziggurat's fast path
(~99 % of draws: one compare, one multiply, two table loads) and defer the rare
rejections to a second, short loop.  The draw for neuron ``i`` is a pure function of
(stream, step, i), so splitting a population across threads or devices, or chunking
a run, never changes it.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from .rng import ZIG_MASK, _normal_slow, draw_word, draw_words_np, uniform_from_hash


class NeuronScratch(NamedTuple):
    """Per-step work arrays of a neuron population (not state: rewritten every step)."""
    words: np.ndarray      # uint64: this step's random words
    zbuf: np.ndarray       # float32: the fast-path normals
    code: np.ndarray       # uint8: each neuron's outcome (0 quiet, 1 fired, 2 deferred)
    deferred: np.ndarray   # int32: neurons on the ziggurat's slow path
    spikes: np.ndarray     # int32: this step's spikes (the output)


@njit(cache=True)
def hash_fill(skey, words):
    for i in range(words.shape[0]):
        words[i] = draw_word(skey, i)


def hash_fill_np(skey, words):
    """numpy twin of ``hash_fill``."""
    words[:] = draw_words_np(skey, words.shape[0])


def _make_fast_normals(parallel: bool):
    @njit(cache=True, parallel=parallel)
    def fast_normals(words, sigma, zx, zr, z):
        """z[i] = float32(sigma * ziggurat fast-path normal of words[i]), or NaN where the draw
        falls off the fast path (~1 %): the neuron kernels then take that neuron in their
        deferred loop.  A separate pass so that the neuron update itself can run branch-free;
        with ``parallel`` over threads (each neuron's value is the same, whatever the thread)."""
        nan = np.float32(np.nan)
        for i in prange(words.shape[0]):
            h = words[i]
            layer = np.int64(h & ZIG_MASK)
            x = 2.0 * uniform_from_hash(h) - 1.0
            z[i] = np.float32(sigma * (x * zx[layer])) if abs(x) < zr[layer] else nan

    return fast_normals


fast_normals = _make_fast_normals(False)
fast_normals_parallel = _make_fast_normals(True)


@register_jitable
def deferred_normal(h, sigma, zx, zr):
    """float32(sigma * the ziggurat normal of word h) for a draw off the fast path (wedge or tail)."""
    return np.float32(sigma * _normal_slow(h, np.int64(h & ZIG_MASK), 2.0 * uniform_from_hash(h) - 1.0, zx, zr))


@njit(cache=True)
def collect_codes(code, spikes, deferred):
    """Scan per-neuron codes (0 quiet, 1 fired, 2 deferred) in index order: fired neurons go to
    ``spikes``, deferred ones to ``deferred``; returns (n_spikes, n_deferred).  ``code`` is padded
    to a multiple of 8 with zeros, and read 8 codes at a time (almost all are 0)."""
    n = 0
    nd = 0
    w = code.view(np.uint64)
    for k in range(w.shape[0]):
        if w[k] != 0:
            for j in range(8):
                i = 8 * k + j
                cc = code[i]
                if cc == 1:
                    spikes[n] = i
                    n += 1
                elif cc == 2:
                    deferred[nd] = i
                    nd += 1
    return n, nd


BLOCK = 4096   # neurons per block of the fused neuron steps (words + normals + update stay in L2)


@register_jitable
def noise_block(skey, fill, lo, hi, words, sigma, zx, zr, z):
    """``hash_fill`` (when ``fill``) and ``fast_normals`` for neurons lo .. hi - 1: the fused
    neuron steps draw a block's noise right before they update it, in one parallel region per
    population and step instead of three. The same words and the same normals as the passes."""
    ulo, uhi = np.uint64(lo), np.uint64(hi)   # unsigned: the loops vectorise (no negative-index fix-up)
    if fill:
        for i in range(ulo, uhi):
            words[i] = draw_word(skey, i)
    nan = np.float32(np.nan)
    for i in range(ulo, uhi):
        h = words[i]
        layer = np.int64(h & ZIG_MASK)
        x = 2.0 * uniform_from_hash(h) - 1.0
        z[i] = np.float32(sigma * (x * zx[layer])) if abs(x) < zr[layer] else nan


@register_jitable
def normals_pass(words, sigma, zx, zr, z, parallel):
    """The neuron kernels' first pass: ``fast_normals`` (over threads when ``parallel``)."""
    if parallel:
        fast_normals_parallel(words, sigma, zx, zr, z)
    else:
        fast_normals(words, sigma, zx, zr, z)
