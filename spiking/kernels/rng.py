"""Counter-based random numbers: a splitmix64-style hash and an exact ziggurat Gaussian.

Every draw is a pure function of (stream key, step, index), so results never depend on
how a run is chunked, on the backend, or on the order in which neurons are visited.

* ``mix64(z)`` is the splitmix64 finaliser (a bijection on 64-bit words with full
  avalanche).  A draw for neuron ``i`` at step ``t`` of stream ``key`` is
  ``mix64(step_key(key, t) + i * GOLDEN)``: for a fixed step this is exactly the
  splitmix64 sequence seeded with ``step_key``.
* ``normal_from_hash`` turns such a word into an exact N(0, 1) draw with a 256-layer
  ziggurat (Marsaglia and Tsang 2000 geometry, in Doornik's ZIGNOR form): 8 bits choose
  the layer, 53 bits give a signed uniform, and the draw is accepted at once with
  probability ~0.995 (two table loads, one compare, one multiply).  Rejected draws and the
  tail (|x| > r) chain further hashes of the same word (``mix64(h + GOLDEN2)``), so they
  too are pure functions of the counters.  The tail uses Marsaglia's exponential
  method; the wedges use exp().  The result is the exact normal distribution up to
  the 53-bit resolution of the uniform.

Cost on this machine kind (one core, numba): the word pass vectorises (~0.5 ns per
word) and the fast path adds ~1-2 ns inside the neuron kernels; see
``sims/anchor.py --breakdown`` and docs/engine.md.

The scalar cores are ``register_jitable`` so that numba CPU kernels and numba-cuda
kernels compile the same source; the numpy twins below are vectorised and bit-exact
with them (rare slow-path draws are finished with ``math.exp``/``math.log`` on scalars,
the same libm that numba calls).
"""
from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
GOLDEN2 = np.uint64(0xD1B54A32D192ED03)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S7 = np.uint64(7)
ZIG_MASK = np.uint64(255)  # low 8 bits choose one of 256 layers
_TWO53_INV = 1.0 / 9007199254740992.0  # 2**-53

# --- ziggurat tables (256 layers, float64) ---------------------------------
ZIG_R = 3.6541528853610088        # start of the tail for 256 layers (Marsaglia and Tsang 2000)
_ZIG_V = 4.92867323399e-3          # area of each layer


def _zig_tables():
    n = 256
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    x = np.zeros(n + 1)
    x[0] = _ZIG_V / f(ZIG_R)
    x[1] = ZIG_R
    for i in range(2, n):
        x[i] = math.sqrt(-2.0 * math.log(_ZIG_V / x[i - 1] + f(x[i - 1])))
    x[n] = 0.0
    ratio = x[1:] / x[:-1]
    fx = np.array([f(v) for v in x])
    return x, ratio, fx


ZIG_X, ZIG_RATIO, ZIG_F = _zig_tables()  # 257, 256 and 257 entries; ZIG_F[i] = exp(-X[i]^2 / 2)


@register_jitable
def mix64(z):
    """splitmix64 finaliser on a uint64."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@register_jitable
def step_key(key, step):
    """The per-step word of a stream: all draws of one step derive from it."""
    return mix64(key + np.uint64(step) * GOLDEN2)


@register_jitable
def draw_word(skey, index):
    return mix64(skey + np.uint64(index) * GOLDEN)


@register_jitable
def uniform_from_hash(h):
    """Top 53 bits of a word as a float64 in [0, 1)."""
    return np.float64(h >> _S11) * _TWO53_INV


@register_jitable
def _normal_slow(h, layer, u, zx, zr):
    """Wedge and tail of the ziggurat, after a fast-path rejection."""
    while True:
        if layer == 0:
            # tail beyond r (Marsaglia 1964): exponential proposals
            while True:
                h = mix64(h + GOLDEN2)
                u1 = 1.0 - uniform_from_hash(h)
                h = mix64(h + GOLDEN2)
                u2 = 1.0 - uniform_from_hash(h)
                xt = -math.log(u1) / ZIG_R
                yt = -math.log(u2)
                if yt + yt >= xt * xt:
                    break
            return ZIG_R + xt if u >= 0.0 else -(ZIG_R + xt)
        x = u * zx[layer]
        # wedge: accept under the density, between the layer's two edges
        f0 = math.exp(-0.5 * (zx[layer] * zx[layer] - x * x))
        f1 = math.exp(-0.5 * (zx[layer + 1] * zx[layer + 1] - x * x))
        h = mix64(h + GOLDEN2)
        if f1 + uniform_from_hash(h) * (f0 - f1) < 1.0:
            return x
        # new proposal from the same chain
        h = mix64(h + GOLDEN2)
        layer = np.int64(h & ZIG_MASK)
        u = 2.0 * uniform_from_hash(h) - 1.0
        if abs(u) < zr[layer]:
            return u * zx[layer]


@register_jitable
def normal_from_hash(h, zx, zr):
    """Exact N(0,1) draw (float64) from one hash word; zx, zr are ZIG_X, ZIG_RATIO."""
    layer = np.int64(h & ZIG_MASK)
    u = 2.0 * uniform_from_hash(h) - 1.0
    if abs(u) < zr[layer]:
        return u * zx[layer]
    return _normal_slow(h, layer, u, zx, zr)


# --- numpy twins ------------------------------------------------------------

def mix64_np(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def draw_words_np(skey, n: int, start: int = 0) -> np.ndarray:
    idx = np.arange(start, start + n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64_np(np.uint64(skey) + idx * GOLDEN)


def uniform_np(h: np.ndarray) -> np.ndarray:
    return (h >> _S11).astype(np.float64) * _TWO53_INV


def normal_np(h: np.ndarray) -> np.ndarray:
    """Vectorised twin of ``normal_from_hash``: fast path in numpy, the rare rest in Python."""
    layer = (h & ZIG_MASK).astype(np.int64)
    u = 2.0 * uniform_np(h) - 1.0
    out = u * ZIG_X[layer]
    slow = np.nonzero(~(np.abs(u) < ZIG_RATIO[layer]))[0]
    for i in slow:
        out[i] = _normal_slow_py(int(h[i]), int(layer[i]), float(u[i]))
    return out


def _mix64_int(z: int) -> int:
    m = 0xFFFFFFFFFFFFFFFF
    z &= m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def _next(h: int) -> int:
    return _mix64_int(h + 0xD1B54A32D192ED03)


def _unif_int(h: int) -> float:
    return float(h >> 11) * _TWO53_INV


def _normal_slow_py(h: int, layer: int, u: float) -> float:
    zx, zr = ZIG_X, ZIG_RATIO
    while True:
        if layer == 0:
            while True:
                h = _next(h)
                u1 = 1.0 - _unif_int(h)
                h = _next(h)
                u2 = 1.0 - _unif_int(h)
                xt = -math.log(u1) / ZIG_R
                yt = -math.log(u2)
                if yt + yt >= xt * xt:
                    break
            return ZIG_R + xt if u >= 0.0 else -(ZIG_R + xt)
        x = u * zx[layer]
        f0 = math.exp(-0.5 * (zx[layer] * zx[layer] - x * x))
        f1 = math.exp(-0.5 * (zx[layer + 1] * zx[layer + 1] - x * x))
        h = _next(h)
        if f1 + _unif_int(h) * (f0 - f1) < 1.0:
            return x
        h = _next(h)
        layer = h & 255
        u = 2.0 * _unif_int(h) - 1.0
        if abs(u) < zr[layer]:
            return u * zx[layer]


def stream_key(root_seed: int, *path: int) -> np.uint64:
    """Key of an independent stream, derived from the root seed and a path of ints."""
    k = _mix64_int(int(root_seed) & 0xFFFFFFFFFFFFFFFF)
    for p in path:
        k = _mix64_int(k ^ _mix64_int((int(p) + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF))
    return np.uint64(k)


def step_key_int(key, step: int) -> np.uint64:
    """Host-side ``step_key`` with Python ints (no numpy overflow warnings)."""
    return np.uint64(_mix64_int((int(key) + int(step) * 0xD1B54A32D192ED03) & 0xFFFFFFFFFFFFFFFF))
