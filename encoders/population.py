"""Population codes: an embedding of any dimension -> a rate pattern over N sensory neurons.

The **z-score top-k code** (EMBER spec section 4):

1. c_i = cos(e, p_i) for N fixed, seeded unit directions p_i (i.i.d. Gaussian, normalised);
2. z_i = (c_i - mean(c)) / std(c), the mean and std taken over the N neurons, per input;
3. keep the k = floor(s * N) largest z_i (s = 0.14, so k = 700 for N = 5,000);
4. r_i = max(z_i, 0) / max_{top-k} z_j * r_max for those k neurons, 0 elsewhere.

The **power-law code** is the baseline it replaces: r_i = r_max * max(c_i, 0) ** exponent on
the same directions. Raw cosines to random directions shrink like 1/sqrt(D), so its mean
rate and contrast drift with D; the z-score code's number of active neurons and its maximum
rate do not.

Both are pure functions of (embedding, directions, parameters): the same seed and input give
bit-identical rates. Directions are generated once per (D, N, seed), cached in memory, and
can be stored and loaded as ``.npz`` (no pickle).

Two kinds of directions (``PopulationCodeParams.directions``):

* ``"gaussian"`` (default, the spec's choice): i.i.d. Gaussian rows, normalised, stored as a
  dense float32 (N, D) matrix. Encoding one embedding reads the whole matrix: 7.7 MB at
  D = 384 but 82 MB at D = 4096, which no single core streams in under a millisecond.
* ``"hadamard"`` (opt-in, for large D): structured random directions. With D' the next power
  of two >= D and B = max(3, ceil(N / D')) blocks, block b is the orthogonal matrix
  M_b = H S3_b H S2_b H S1_b (H the normalised D' x D' Walsh-Hadamard matrix, S the diagonal
  matrices of seeded random signs); the neurons' directions are the first ceil(N / B) rows of
  each block (B >= 3, so that one block's mutually orthogonal rows never make up most of the
  population), restricted to the first D coordinates and normalised. Cosines cost 3 B fast transforms,
  O(N log D') instead of O(N D), and only the signs are stored. Rows of one block are
  mutually orthogonal at D' = D; otherwise the directions behave like random ones (their
  cosines to any input are near-Gaussian after three rounds of mixing). H is applied as the
  Kronecker product of two small Hadamard matrices (two small matrix products per round).
  The z-score, top-k and rate steps are the same.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .base import EncoderInputError, check_embeddings, input_ndim

__all__ = [
    "PopulationCodeParams",
    "HadamardDirections",
    "DIRECTION_KINDS",
    "make_directions",
    "zscore_topk_rates",
    "powerlaw_rates",
    "ZScoreTopKCode",
    "PowerLawCode",
    "load_code",
]

_FORMAT = "ember-population-code"
_FORMAT_VERSION = 1
_TAG = 0x504F5055  # "POPU": keeps these streams apart from the projections'
_TAG_HADAMARD = 0x48414441  # "HADA"
DIRECTION_KINDS = ("gaussian", "hadamard")


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclass(frozen=True)
class PopulationCodeParams:
    """Parameters of a population code (spec section 4 defaults).

    n_neurons: sensory population size N. sparsity: s, the active fraction (k = floor(s N)).
    r_max_hz: the rate of the most strongly driven neuron. seed: selects the directions.
    """

    n_neurons: int = 5000
    sparsity: float = 0.14
    r_max_hz: float = 100.0
    seed: int = 0
    directions: str = "gaussian"  # or "hadamard": structured, O(N log D) per input (module docstring)

    def __post_init__(self) -> None:
        if not _is_int(self.n_neurons) or self.n_neurons < 2:
            raise EncoderInputError(f"n_neurons must be an int >= 2, got {self.n_neurons!r}")
        if not isinstance(self.sparsity, (float, int)) or not (0.0 < float(self.sparsity) <= 1.0):
            raise EncoderInputError(f"sparsity must be in (0, 1], got {self.sparsity!r}")
        if not isinstance(self.r_max_hz, (float, int)) or not (0.0 < float(self.r_max_hz) < math.inf):
            raise EncoderInputError(f"r_max_hz must be finite and > 0, got {self.r_max_hz!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise EncoderInputError(f"seed must be an int >= 0, got {self.seed!r}")
        if self.directions not in DIRECTION_KINDS:
            raise EncoderInputError(f"directions must be one of {DIRECTION_KINDS}, got {self.directions!r}")
        if self.k < 1:
            raise EncoderInputError(
                f"floor(sparsity * n_neurons) = floor({self.sparsity} * {self.n_neurons}) is 0: no neuron would be active"
            )

    @property
    def k(self) -> int:
        """Number of active neurons, floor(s * N). The product is rounded to 9 decimals first
        so that binary rounding (0.29 * 100 = 28.999999999999996) cannot lose a neuron."""
        return int(math.floor(round(float(self.sparsity) * int(self.n_neurons), 9)))


@lru_cache(maxsize=8)
def _directions_cached(dim: int, n_neurons: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([_TAG, seed, dim, n_neurons]))
    out = np.empty((n_neurons, dim), dtype=np.float32)
    block = max(1, (1 << 20) // dim)  # about 8 MB of float64 at a time
    for start in range(0, n_neurons, block):
        stop = min(n_neurons, start + block)
        g = rng.standard_normal((stop - start, dim))
        g /= np.linalg.norm(g, axis=1, keepdims=True)
        out[start:stop] = g
    out.setflags(write=False)
    return out


def make_directions(dim: int, n_neurons: int = 5000, seed: int = 0) -> np.ndarray:
    """The fixed preferred directions: float32 (n_neurons, dim), unit rows, read-only.

    i.i.d. standard Gaussian rows, normalised, drawn from a PCG64 stream seeded by
    (seed, dim, n_neurons); generated once per process and cached (up to 8 sets).
    """
    if not _is_int(dim) or dim < 1:
        raise EncoderInputError(f"dim must be a positive int, got {dim!r}")
    if not _is_int(n_neurons) or n_neurons < 2:
        raise EncoderInputError(f"n_neurons must be an int >= 2, got {n_neurons!r}")
    if not _is_int(seed) or seed < 0:
        raise EncoderInputError(f"seed must be an int >= 0, got {seed!r}")
    return _directions_cached(int(dim), int(n_neurons), int(seed))


@lru_cache(maxsize=16)
def _sylvester(n: int) -> np.ndarray:
    """The unnormalised n x n Walsh-Hadamard matrix (n a power of two), Sylvester order, float64 +-1."""
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    h.setflags(write=False)
    return h


def _hadamard_last_axis(y: np.ndarray) -> np.ndarray:
    """Unnormalised Walsh-Hadamard transform along the last axis (length D' = 2^m) of y.

    Uses H_{2^m} = H_{2^a} (x) H_{2^b} (a = m // 2, b = m - a): with the last axis read as a
    2^a x 2^b row-major block Y, the transform is H_a Y H_b, two small +-1 matrix products
    (O(D' (2^a + 2^b)) per row instead of O(D'^2)). Exact up to float64 rounding (~1e-15).
    """
    n = y.shape[-1]
    m = n.bit_length() - 1
    ra, rb = 1 << (m // 2), 1 << (m - m // 2)
    blocks = y.reshape(-1, ra, rb)
    return (_sylvester(ra) @ blocks @ _sylvester(rb)).reshape(y.shape)


def _hadamard_layout(dim: int, n_neurons: int) -> tuple[int, int, int]:
    """(D', blocks, rows used per block), D' the next power of two >= D: at least 3 blocks, so that
    no input can zero the cosines of most neurons at once (rows of one block are orthogonal: an
    input along one of them has cosine 0 with every other row of its block)."""
    padded = 1 << max(0, (dim - 1).bit_length())
    blocks = max(3, -(-n_neurons // padded))
    return padded, blocks, -(-n_neurons // blocks)


class HadamardDirections:
    """Structured random directions (see the module docstring): signs (3, B, D') int8 + row norms.

    ``dots(u)`` gives the (n, N) cosines of unit rows u (n, D); ``matrix()`` the equivalent dense
    float32 (N, D) unit-row matrix (built on request, for inspection and tests).
    """

    def __init__(self, dim: int, n_neurons: int, signs: np.ndarray) -> None:
        self.dim, self.n_neurons = int(dim), int(n_neurons)
        self.padded, self.blocks, self.rows = _hadamard_layout(self.dim, self.n_neurons)
        signs = np.asarray(signs)
        want = (3, self.blocks, self.padded)
        if signs.shape != want or not np.isin(signs, (-1, 1)).all():
            raise EncoderInputError(f"hadamard signs must be +-1 of shape {want}, got {signs.dtype} {signs.shape}")
        self.signs = np.ascontiguousarray(signs, dtype=np.int8)
        self.signs.setflags(write=False)
        self._s = self.signs.astype(np.float64)
        self._scale = self.padded ** -1.5  # three unnormalised transforms
        sq = self._row_norms_sq()
        if not (sq > 1e-6).all():
            raise EncoderInputError("a hadamard direction has (almost) no component in the first D coordinates")
        self._mult = self._scale / np.sqrt(sq)  # per neuron: transform scale / direction norm

    @classmethod
    def generate(cls, dim: int, n_neurons: int, seed: int) -> "HadamardDirections":
        padded, blocks, _ = _hadamard_layout(int(dim), int(n_neurons))
        rng = np.random.default_rng(np.random.SeedSequence([_TAG_HADAMARD, seed, dim, n_neurons]))
        signs = (rng.integers(0, 2, size=(3, blocks, padded), dtype=np.int8) * 2 - 1).astype(np.int8)
        return cls(dim, n_neurons, signs)

    def _transform(self, x: np.ndarray) -> np.ndarray:
        """Rows x (n, d <= D') padded with zeros -> (n, N) unnormalised dots with the stacked M_b rows."""
        n = x.shape[0]
        y = np.zeros((n, self.blocks, self.padded))
        y[:, :, : x.shape[1]] = x[:, None, :]
        for r in range(3):
            y *= self._s[r]
            y = _hadamard_last_axis(y)
        return y[:, :, : self.rows].reshape(n, -1)[:, : self.n_neurons]

    def _row_norms_sq(self) -> np.ndarray:
        """Squared norms of the directions' first D coordinates (1 minus the cut-off part)."""
        cut = self.padded - self.dim
        if cut == 0:
            return np.ones(self.n_neurons)
        out = np.zeros(self.n_neurons)
        for start in range(0, cut, 128):  # columns D .. D'-1 of every M_b, 128 at a time
            cols = np.arange(start, min(cut, start + 128))
            eye = np.zeros((cols.size, self.padded))
            eye[np.arange(cols.size), self.dim + cols] = 1.0
            out += ((self._transform(eye) * self._scale) ** 2).sum(axis=0)
        return 1.0 - out

    def dots(self, unit: np.ndarray) -> np.ndarray:
        """Cosines (n, N) of unit float64 rows (n, D) with the directions; batches in chunks of 64."""
        out = np.empty((unit.shape[0], self.n_neurons))
        for start in range(0, unit.shape[0], 64):
            out[start:start + 64] = self._transform(unit[start:start + 64]) * self._mult
        return out

    def matrix(self) -> np.ndarray:
        """The directions as a dense float32 (N, D) matrix with unit rows (one transform per coordinate)."""
        cols = [self._transform(np.eye(self.dim)[s:s + 256]) for s in range(0, self.dim, 256)]
        m = (np.concatenate(cols, axis=0).T * self._mult[:, None]).astype(np.float32)
        m.setflags(write=False)
        return m


@lru_cache(maxsize=8)
def _hadamard_cached(dim: int, n_neurons: int, seed: int) -> HadamardDirections:
    return HadamardDirections.generate(dim, n_neurons, seed)


def _cosines(x: np.ndarray, directions: np.ndarray | HadamardDirections) -> np.ndarray:
    """Cosines (n, N) between validated float64 rows x and unit-row directions."""
    x = x / np.abs(x).max(axis=1, keepdims=True)  # rows are nonzero; avoids overflow in the norm
    unit = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)  # float32, as embeddings are
    if isinstance(directions, HadamardDirections):
        return directions.dots(unit.astype(np.float64))
    if unit.shape[0] == 1:
        # one input: numpy's own single-threaded loop. A threaded BLAS gemv is faster on idle
        # cores but waits for a busy core (8-16 ms medians on the shared 2-core machine).
        return np.einsum("ij,j->i", directions, unit[0]).astype(np.float64)[None, :]
    return (unit @ directions.T).astype(np.float64)


def zscore_topk_rates(cosines: np.ndarray, k: int, r_max_hz: float) -> np.ndarray:
    """Steps 2-4 of the z-score code on precomputed cosines (n, N) or (N,): rates in Hz.

    Exactly k neurons per row are selected. Their rate is max(z, 0) / max z * r_max, so the
    most driven neuron gets exactly r_max and none exceeds it. (A selected neuron whose z is
    <= 0 would get rate 0; with random directions the k-th largest z of a 14 % code sits near
    +1.08 standard deviations, so this does not occur in practice: see docs/encoders.md.)
    """
    c = np.asarray(cosines, dtype=np.float64)
    single = c.ndim == 1
    c = np.atleast_2d(c)
    n, n_neurons = c.shape
    if not (1 <= k <= n_neurons):
        raise EncoderInputError(f"k must be in [1, {n_neurons}], got {k}")
    if not np.isfinite(c).all():
        raise EncoderInputError("cosines contain NaN or inf")
    mu = c.mean(axis=1, keepdims=True)
    sd = c.std(axis=1, keepdims=True)
    flat = np.flatnonzero(~(sd[:, 0] > 0))
    if flat.size:
        raise EncoderInputError(
            f"row(s) {flat.tolist()[:8]} have the same cosine to every direction; the z-score is undefined"
        )
    z = (c - mu) / sd
    rates = np.zeros_like(z)
    if k == n_neurons:
        top = np.broadcast_to(np.arange(n_neurons), z.shape)
    else:
        top = np.argpartition(z, n_neurons - k, axis=1)[:, n_neurons - k:]
    zt = np.take_along_axis(z, top, axis=1)
    zmax = zt.max(axis=1, keepdims=True)
    np.put_along_axis(rates, top, np.maximum(zt, 0.0) / zmax * float(r_max_hz), axis=1)
    return rates[0] if single else rates


def powerlaw_rates(cosines: np.ndarray, exponent: float, r_max_hz: float) -> np.ndarray:
    """The power-law baseline on precomputed cosines: r_max * max(c, 0) ** exponent."""
    c = np.asarray(cosines, dtype=np.float64)
    return float(r_max_hz) * np.maximum(c, 0.0) ** float(exponent)


class _DirectionalCode:
    kind = "base"

    def __init__(self, dim: int, params: PopulationCodeParams | None = None,
                 directions: np.ndarray | None = None) -> None:
        if not _is_int(dim) or dim < 1:
            raise EncoderInputError(f"dim must be a positive int, got {dim!r}")
        self.dim = int(dim)
        self.params = params if params is not None else PopulationCodeParams()
        if not isinstance(self.params, PopulationCodeParams):
            raise EncoderInputError(f"params must be a PopulationCodeParams, got {type(self.params).__name__}")
        self._dense: np.ndarray | None = None
        if self.params.directions == "hadamard":
            if directions is None:
                self._dirs: np.ndarray | HadamardDirections = _hadamard_cached(
                    self.dim, self.params.n_neurons, self.params.seed)
            elif isinstance(directions, HadamardDirections) and (directions.dim, directions.n_neurons) == (
                    self.dim, self.params.n_neurons):
                self._dirs = directions
            else:
                raise EncoderInputError("a hadamard code takes HadamardDirections of its own (D, N), or None")
            return
        if directions is None:
            directions = make_directions(self.dim, self.params.n_neurons, self.params.seed)
        else:
            directions = np.asarray(directions)
            want = (self.params.n_neurons, self.dim)
            if directions.shape != want or directions.dtype != np.float32:
                raise EncoderInputError(
                    f"directions must be float32 of shape {want}, got {directions.dtype} {directions.shape}"
                )
            norms = np.linalg.norm(directions.astype(np.float64), axis=1)
            if not np.all(np.abs(norms - 1.0) < 1e-4):
                raise EncoderInputError("directions must have unit rows")
            directions = np.ascontiguousarray(directions)
            directions.setflags(write=False)
        self._dirs = directions

    @property
    def directions(self) -> np.ndarray:
        """The preferred directions as a dense float32 (N, D) matrix with unit rows, read-only
        (for hadamard codes it is built on first access and kept)."""
        if isinstance(self._dirs, HadamardDirections):
            if self._dense is None:
                self._dense = self._dirs.matrix()
            return self._dense
        return self._dirs

    @property
    def n_neurons(self) -> int:
        return self.params.n_neurons

    def cosines(self, embeddings: object) -> np.ndarray:
        """Cosines (n, N), or (N,) for one embedding, between embeddings and the directions."""
        single = input_ndim(embeddings) == 1
        x = check_embeddings(embeddings, self.dim)
        c = _cosines(x, self._dirs)
        return c[0] if single else c

    def encode(self, embeddings: object) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, embeddings: object) -> np.ndarray:
        return self.encode(embeddings)

    # -- storage ---------------------------------------------------------------------------
    def _extra(self) -> dict:
        return {}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the code (directions and parameters) to an uncompressed ``.npz`` file."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {f"param_{k}": np.asarray(v) for k, v in asdict(self.params).items()}
        meta.update({f"extra_{k}": np.asarray(v) for k, v in self._extra().items()})
        tmp = path.with_name(path.name + ".tmp.npz")
        dirs = ({"signs": self._dirs.signs} if isinstance(self._dirs, HadamardDirections)
                else {"directions": self._dirs})
        np.savez(tmp, format=np.asarray(_FORMAT), version=np.asarray(_FORMAT_VERSION),
                 kind=np.asarray(self.kind), dim=np.asarray(self.dim), **dirs, **meta)
        os.replace(tmp, path)
        return path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, params={self.params})"


class ZScoreTopKCode(_DirectionalCode):
    """The dimension-independent z-score top-k code of spec section 4.

    >>> code = ZScoreTopKCode(384)            # N = 5000, s = 0.14, r_max = 100 Hz, seed 0
    >>> rates = code.encode(embedding)        # (5000,) float64 in Hz, exactly 700 nonzero
    """

    kind = "zscore-topk"

    @property
    def k(self) -> int:
        return self.params.k

    def encode(self, embeddings: object) -> np.ndarray:
        """Rates in Hz, float64 of shape (N,) for one embedding (D,) or (n, N) for (n, D)."""
        single = input_ndim(embeddings) == 1
        x = check_embeddings(embeddings, self.dim)
        rates = zscore_topk_rates(_cosines(x, self._dirs), self.k, self.params.r_max_hz)
        return rates[0] if single else rates


class PowerLawCode(_DirectionalCode):
    """The power-law baseline: r_i = r_max * max(cos(e, p_i), 0) ** exponent."""

    kind = "powerlaw"

    def __init__(self, dim: int, params: PopulationCodeParams | None = None,
                 directions: np.ndarray | None = None, exponent: float = 2.0) -> None:
        if not isinstance(exponent, (int, float)) or not (0.0 < float(exponent) < math.inf):
            raise EncoderInputError(f"exponent must be finite and > 0, got {exponent!r}")
        super().__init__(dim, params, directions)
        self.exponent = float(exponent)

    def _extra(self) -> dict:
        return {"exponent": self.exponent}

    def encode(self, embeddings: object) -> np.ndarray:
        single = input_ndim(embeddings) == 1
        x = check_embeddings(embeddings, self.dim)
        rates = powerlaw_rates(_cosines(x, self._dirs), self.exponent, self.params.r_max_hz)
        return rates[0] if single else rates


_KINDS = {cls.kind: cls for cls in (ZScoreTopKCode, PowerLawCode)}


def load_code(path: str | os.PathLike) -> ZScoreTopKCode | PowerLawCode:
    """Load a code written by ``save``; the file is read without pickle."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise EncoderInputError(f"{path} is not a readable .npz population-code file: {exc}") from None
    if str(data.get("format", "")) != _FORMAT:
        raise EncoderInputError(f"{path} is not a population-code file (format {data.get('format')!r})")
    if int(data["version"]) != _FORMAT_VERSION:
        raise EncoderInputError(f"{path} has format version {int(data['version'])}; this code reads {_FORMAT_VERSION}")
    kind = str(data["kind"])
    if kind not in _KINDS:
        raise EncoderInputError(f"{path} holds an unknown code kind {kind!r}")
    params = PopulationCodeParams(
        n_neurons=int(data["param_n_neurons"]), sparsity=float(data["param_sparsity"]),
        r_max_hz=float(data["param_r_max_hz"]), seed=int(data["param_seed"]),
        directions=str(data.get("param_directions", "gaussian")),  # files before the option: gaussian
    )
    kwargs = {k[len("extra_"):]: float(v) for k, v in data.items() if k.startswith("extra_")}
    key = "signs" if params.directions == "hadamard" else "directions"
    if key not in data:
        raise EncoderInputError(f"{path} holds a {params.directions} code but no {key!r} array")
    dirs = data[key]
    if params.directions == "hadamard":
        dirs = HadamardDirections(int(data["dim"]), params.n_neurons, dirs)
    return _KINDS[kind](int(data["dim"]), params, directions=dirs, **kwargs)
