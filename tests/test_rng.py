"""Counter-based ziggurat: exact twin of numpy, Gaussian statistics, counter purity."""
import numpy as np
import pytest
from scipy import stats

from spiking.kernels import noise, rng


def test_numba_and_numpy_words_and_normals_are_bit_identical():
    from numba import njit

    @njit
    def normals(words, out, zx, zr):
        for i in range(words.shape[0]):
            out[i] = rng.normal_from_hash(words[i], zx, zr)

    key = rng.stream_key(7, 3, 1)
    a = np.empty(300_000, np.uint64)
    b = np.empty_like(a)
    for step in (0, 1, 12345):
        sk = rng.step_key_int(key, step)
        noise.hash_fill(sk, a)
        noise.hash_fill_np(sk, b)
        assert np.array_equal(a, b)
        z = np.empty(a.size)
        normals(a, z, rng.ZIG_X, rng.ZIG_RATIO)
        assert np.array_equal(z, rng.normal_np(b))


def test_step_key_host_and_jit_versions_agree():
    from numba import njit

    jit_key = njit(lambda k, s: rng.step_key(k, s))
    key = rng.stream_key(99, 1)
    assert rng.step_key_int(key, 77) == jit_key(key, 77)


def test_draws_are_standard_normal():
    key = rng.stream_key(1, 2)
    z = np.concatenate([rng.normal_np(rng.draw_words_np(rng.step_key_int(key, s), 200_000)) for s in range(5)])
    assert abs(z.mean()) < 0.005
    assert abs(z.std() - 1) < 0.005
    assert abs(stats.skew(z)) < 0.02
    assert abs(stats.kurtosis(z)) < 0.03          # Irwin-Hall(4) would give -0.6
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # the tail beyond the ziggurat's base strip is reached with the right mass
    tail = np.mean(np.abs(z) > rng.ZIG_R)
    assert tail == pytest.approx(2 * stats.norm.sf(rng.ZIG_R), rel=0.15)
    assert np.abs(z).max() > 4.0


def test_consecutive_steps_and_neighbours_uncorrelated():
    key = rng.stream_key(5)
    a = rng.normal_np(rng.draw_words_np(rng.step_key_int(key, 10), 100_000))
    b = rng.normal_np(rng.draw_words_np(rng.step_key_int(key, 11), 100_000))
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.015
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.015


def test_streams_differ_and_are_reproducible():
    assert rng.stream_key(1, 3, 0) != rng.stream_key(1, 3, 1)
    assert rng.stream_key(1, 3, 0) != rng.stream_key(2, 3, 0)
    assert rng.stream_key(1, 3, 0) == rng.stream_key(1, 3, 0)


def test_draw_depends_only_on_counters():
    """A draw for neuron i does not depend on how many neurons are drawn with it."""
    sk = rng.step_key_int(rng.stream_key(3), 4)
    full = rng.normal_np(rng.draw_words_np(sk, 1000))
    part = rng.normal_np(rng.draw_words_np(sk, 10, start=500))
    assert np.array_equal(full[500:510], part)
