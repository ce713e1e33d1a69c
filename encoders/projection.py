"""Seeded random orthogonal projections between embedding dimensions.

Only one real model (all-MiniLM-L6-v2, 384-d) ships as a package, so the other dimensions
of the retention study (768, 1024, 1536, 4096) are reached by lifting its embeddings with a
random matrix with orthonormal columns. A lift is an isometry: every norm, inner product and
cosine between embeddings is kept exactly, so what changes with D is only what the
population code sees (cosines to random directions shrink like 1/sqrt(D)), which is
precisely the effect the z-score code is meant to remove. Lowering (d_out < d_in) uses a
matrix with orthonormal rows: an orthogonal projection onto a random subspace, which keeps
cosines only approximately.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .base import EncoderInputError, check_embeddings, input_ndim

__all__ = ["OrthogonalProjection", "STANDARD_DIMS", "project"]

#: the embedding dimensions of the retention study
STANDARD_DIMS: tuple[int, ...] = (384, 768, 1024, 1536, 4096)

_TAG = 0x50524F4A  # "PROJ": keeps these streams apart from the population code's


def _check_dim(value: object, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise EncoderInputError(f"{name} must be a positive int, got {value!r}")
    return int(value)


@lru_cache(maxsize=16)
def _matrix(d_in: int, d_out: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([_TAG, seed, d_in, d_out]))
    tall, short = max(d_in, d_out), min(d_in, d_out)
    g = rng.standard_normal((tall, short))
    q, r = np.linalg.qr(g)  # q: (tall, short), orthonormal columns
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)  # sign fix: Haar-distributed
    w = q if d_out >= d_in else q.T  # (d_out, d_in)
    w = np.ascontiguousarray(w)
    w.setflags(write=False)
    return w


@dataclass(frozen=True)
class OrthogonalProjection:
    """y = W x with a seeded random W of shape (d_out, d_in).

    d_out >= d_in: W has orthonormal columns (an isometric lift; cosines kept exactly).
    d_out < d_in: W has orthonormal rows (projection onto a random subspace).
    The same (d_in, d_out, seed) always gives the same W, on any machine with the same numpy.
    """

    d_in: int
    d_out: int
    seed: int = 0
    matrix: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d_in = _check_dim(self.d_in, "d_in")
        d_out = _check_dim(self.d_out, "d_out")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or self.seed < 0:
            raise EncoderInputError(f"seed must be an int >= 0, got {self.seed!r}")
        object.__setattr__(self, "matrix", _matrix(d_in, d_out, int(self.seed)))

    @property
    def is_isometry(self) -> bool:
        return self.d_out >= self.d_in

    def __call__(self, x: object) -> np.ndarray:
        """Project embeddings (D,) or (n, D) with D = d_in; returns float32 of shape (n, d_out)
        (or (d_out,) for a single vector). Bad input raises EncoderInputError."""
        single = input_ndim(x) == 1
        arr = check_embeddings(x, self.d_in, what="embedding to project")
        out = (arr @ self.matrix.T).astype(np.float32)
        return out[0] if single else out


def project(x: object, d_out: int, seed: int = 0) -> np.ndarray:
    """Project embeddings to ``d_out`` dimensions (a float32 copy when they already have it)."""
    d_out = _check_dim(d_out, "d_out")
    single = input_ndim(x) == 1
    arr = check_embeddings(x)
    d_in = arr.shape[1]
    out = arr.astype(np.float32) if d_in == d_out else OrthogonalProjection(d_in, d_out, seed)(arr)
    return out[0] if single else out
