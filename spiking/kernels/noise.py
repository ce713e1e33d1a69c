"""Random words for one population and one step: ``words[i] = draw_word(skey, i)``.

This pass is pure integer arithmetic and vectorises (AVX-512 64-bit multiplies); the
neuron kernels turn each word into an exact Gaussian with the ziggurat's fast path
(~99 % of draws: one compare, one multiply, two table loads) and defer the rare
rejections to a second, short loop.  The draw for neuron ``i`` is a pure function of
(stream, step, i), so splitting a population across threads or devices, or chunking
a run, never changes it.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .rng import draw_word, draw_words_np


@njit(cache=True)
def hash_fill(skey, words):
    for i in range(words.shape[0]):
        words[i] = draw_word(skey, i)


def hash_fill_np(skey, words):
    """numpy twin of ``hash_fill``."""
    words[:] = draw_words_np(skey, words.shape[0])
