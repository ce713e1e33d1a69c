"""Poisson sources: neuron i spikes at step t when its uniform draw is below p[i] = rate_i * dt."""
from __future__ import annotations

import numpy as np
from numba import njit

from .rng import draw_word, draw_words_np, uniform_from_hash, uniform_np


@njit(cache=True)
def poisson_step(skey, p, spikes):
    n = 0
    for i in range(p.shape[0]):
        if uniform_from_hash(draw_word(skey, i)) < p[i]:
            spikes[n] = i
            n += 1
    return n


def poisson_step_np(skey, p, spikes):
    idx = np.nonzero(uniform_np(draw_words_np(skey, p.shape[0])) < p)[0]
    spikes[: idx.size] = idx
    return idx.size
