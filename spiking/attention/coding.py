"""Adaptive-threshold spike coding (spec section 1.2) and spike-train codings (section 1.3).

Step 1 collapses one token's activation row ``x`` into signed integer spike counts::

    V_th = clamp(mean_j |x_j| / k, 1e-5, 1e4)      (one scalar per row, in float32)
    s    = round(x / V_th)                          (half to even, never clipped)
    x_hat = V_th * s                                (|x - x_hat| <= V_th / 2)

The backward pass is the straight-through estimator: ``d x_hat / d x = I``.

Step 2 re-expands integer counts into spike trains ``s_1 .. s_T`` with per-step weights
``w_t`` so that ``s = sum_t w_t s_t + offset``. All trains here are stored time-first
(``spikes[t]`` has the shape of the counts) with the least significant bit first
(``t = 0`` carries weight 1); the report's code emits the most significant bit first,
which is only a convention.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

VTH_MIN = 1e-5
VTH_MAX = 1e4

CODINGS = ("binary", "ternary", "bitwise", "bidirectional", "twos_complement")


@dataclass(frozen=True)
class SpikeConfig:
    """Hyper-parameters of the adaptive-threshold coder.

    k: spikes per element on average (the threshold is mean|x| / k); the report's default is 3.
    vth_min / vth_max: clamp of the threshold, as in the released code.
    """

    k: float = 3.0
    vth_min: float = VTH_MIN
    vth_max: float = VTH_MAX

    def __post_init__(self) -> None:
        check_k(self.k)
        if not (0 < self.vth_min < self.vth_max):
            raise ValueError(f"need 0 < vth_min < vth_max, got {self.vth_min} and {self.vth_max}")


def check_k(k: float) -> float:
    if isinstance(k, bool) or not isinstance(k, (int, float)):
        raise TypeError(f"k must be a positive number, got {type(k).__name__}")
    if not (k > 0) or k != k or k == float("inf"):
        raise ValueError(f"k must be a positive finite number (spikes per element), got {k}")
    return float(k)


def _check_float(x: Tensor, name: str = "x") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"{name} needs a non-empty last (feature) dimension, got shape {tuple(x.shape)}")


def adaptive_threshold(x: Tensor, k: float = 3.0, vth_min: float = VTH_MIN, vth_max: float = VTH_MAX) -> Tensor:
    """Per-row threshold ``clamp(mean|x| / k)`` over the last dimension, float32, keepdim."""
    _check_float(x)
    k = check_k(k)
    return (x.detach().float().abs().mean(dim=-1, keepdim=True) / k).clamp(vth_min, vth_max)


def spike_counts(x: Tensor, k: float = 3.0, vth_min: float = VTH_MIN, vth_max: float = VTH_MAX) -> tuple[Tensor, Tensor]:
    """Integer spike counts and the threshold: ``(s, V_th)``.

    ``s`` has the dtype of ``x`` (float64 inputs stay float64) and integer values; ``V_th``
    has shape ``x.shape[:-1] + (1,)``. Rounding is ``torch.round`` (half to even); counts
    are not clipped.
    """
    vth = adaptive_threshold(x, k, vth_min, vth_max)
    work = torch.promote_types(x.dtype, torch.float32)
    s = torch.round(x.detach().to(work) / vth.to(work))
    return s.to(x.dtype), vth


class _SpikeSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, k: float, vth_min: float, vth_max: float) -> Tensor:  # type: ignore[override]
        s, vth = spike_counts(x, k, vth_min, vth_max)
        work = torch.promote_types(x.dtype, torch.float32)
        return (vth.to(work) * s.to(work)).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return grad, None, None, None


def spike(x: Tensor, k: float = 3.0, vth_min: float = VTH_MIN, vth_max: float = VTH_MAX) -> Tensor:
    """De-quantised spiking activation ``V_th * s`` with a straight-through (identity) gradient."""
    _check_float(x)
    return _SpikeSTE.apply(x, check_k(k), vth_min, vth_max)


# --------------------------------------------------------------------------------------
# spike trains
# --------------------------------------------------------------------------------------
class SpikeTrain(NamedTuple):
    """A spike train: ``decode = sum_t weights[t] * spikes[t] + offset``.

    spikes: int8, shape ``(T,) + counts.shape``, values in {0, 1} or {-1, 0, 1}.
    weights: int64, shape ``(T,)``.
    offset: int64 scalar tensor, the zero-point (non-zero only for shifted unsigned codings).
    """

    spikes: Tensor
    weights: Tensor
    offset: Tensor

    @property
    def steps(self) -> int:
        return int(self.spikes.shape[0])

    def spike_count(self) -> Tensor:
        """Spikes per element (number of non-zero entries over time)."""
        return (self.spikes != 0).sum(dim=0)


def _check_counts(s: Tensor) -> Tensor:
    if not isinstance(s, Tensor):
        raise TypeError(f"counts must be a torch.Tensor, got {type(s).__name__}")
    if s.dtype in (torch.bool,) or s.is_complex():
        raise TypeError(f"counts must be integer-valued, got dtype {s.dtype}")
    if s.is_floating_point():
        if not torch.equal(s, torch.round(s)):
            raise ValueError("counts must be integer-valued; got non-integer floats")
        return s.to(torch.int64)
    return s.to(torch.int64)


def popcount(x: Tensor) -> Tensor:
    """Number of set bits of each element of a non-negative int64 tensor."""
    x = _check_counts(x)
    if (x < 0).any():
        raise ValueError("popcount needs non-negative integers")
    out = torch.zeros_like(x)
    while bool((x != 0).any()):
        out += x & 1
        x = x >> 1
    return out


def bit_length(m: int) -> int:
    """``ceil(log2(m + 1))`` for a non-negative integer ``m``."""
    return int(m).bit_length()


def zero_point_shift(s: Tensor) -> tuple[Tensor, Tensor]:
    """``(s - min(s), min(s))`` so that unsigned codings can carry signed counts."""
    s = _check_counts(s)
    lo = s.min() if s.numel() else torch.zeros((), dtype=torch.int64)
    return s - lo, lo


def _unsigned(s: Tensor, shift: bool, coding: str) -> tuple[Tensor, Tensor]:
    s = _check_counts(s)
    if shift:
        return zero_point_shift(s)
    if s.numel() and bool((s < 0).any()):
        raise ValueError(f"{coding} coding needs non-negative counts; pass shift=True for the zero-point shift")
    return s, torch.zeros((), dtype=torch.int64)


def _bits(a: Tensor, T: int, sign: Tensor | None = None) -> Tensor:
    steps = torch.arange(T, dtype=torch.int64).view((T,) + (1,) * a.dim())
    b = (a.unsqueeze(0) >> steps) & 1
    if sign is not None:
        b = b * sign.unsqueeze(0)
    return b.to(torch.int8)


def encode_binary(s: Tensor, shift: bool = False) -> SpikeTrain:
    """Front-loaded binary train: ``s_t = 1`` for ``t < s``; T = max s (needs s >= 0 or shift)."""
    u, off = _unsigned(s, shift, "binary")
    T = int(u.max()) if u.numel() else 0
    steps = torch.arange(T, dtype=torch.int64).view((T,) + (1,) * u.dim())
    spikes = (steps < u.unsqueeze(0)).to(torch.int8)
    return SpikeTrain(spikes, torch.ones(T, dtype=torch.int64), off)


def encode_ternary(s: Tensor) -> SpikeTrain:
    """Ternary train: ``s_t = sign(s)`` for ``t < |s|``; T = max|s|."""
    s = _check_counts(s)
    a = s.abs()
    T = int(a.max()) if a.numel() else 0
    steps = torch.arange(T, dtype=torch.int64).view((T,) + (1,) * s.dim())
    spikes = ((steps < a.unsqueeze(0)).to(torch.int64) * s.sign().unsqueeze(0)).to(torch.int8)
    return SpikeTrain(spikes, torch.ones(T, dtype=torch.int64), torch.zeros((), dtype=torch.int64))


def encode_bitwise(s: Tensor, shift: bool = False) -> SpikeTrain:
    """Pure bitwise train (binary digits, LSB first); T = ceil(log2(max s + 1)), at least 1."""
    u, off = _unsigned(s, shift, "bitwise")
    T = max(1, bit_length(int(u.max()) if u.numel() else 0))
    return SpikeTrain(_bits(u, T), 2 ** torch.arange(T, dtype=torch.int64), off)


def encode_bidirectional(s: Tensor) -> SpikeTrain:
    """Bidirectional bitwise train ``sign(s) * bit_t(|s|)``; T = ceil(log2(max|s| + 1)), at least 1."""
    s = _check_counts(s)
    a = s.abs()
    T = max(1, bit_length(int(a.max()) if a.numel() else 0))
    return SpikeTrain(_bits(a, T, s.sign()), 2 ** torch.arange(T, dtype=torch.int64), torch.zeros((), dtype=torch.int64))


def encode_twos_complement(s: Tensor) -> SpikeTrain:
    """Two's-complement bits of ``s mod 2^T``; T = ceil(log2(max|s| + 1)) + 1, at least 2.

    The last (most significant) step carries weight ``-2^(T-1)``.
    """
    s = _check_counts(s)
    m = int(s.abs().max()) if s.numel() else 0
    T = max(2, bit_length(m) + 1)
    if T > 63:
        raise ValueError(f"counts too large for int64 two's complement (max |s| = {m})")
    u = torch.remainder(s, 2**T)
    w = 2 ** torch.arange(T, dtype=torch.int64)
    w[-1] = -w[-1]
    return SpikeTrain(_bits(u, T), w, torch.zeros((), dtype=torch.int64))


def encode(s: Tensor, coding: str = "bidirectional", shift: bool = False) -> SpikeTrain:
    """Encode integer counts with one of :data:`CODINGS`. ``shift`` applies to unsigned codings."""
    if coding == "binary":
        return encode_binary(s, shift)
    if coding == "bitwise":
        return encode_bitwise(s, shift)
    if shift:
        raise ValueError(f"the zero-point shift is only for the unsigned codings (binary, bitwise), not {coding!r}")
    if coding == "ternary":
        return encode_ternary(s)
    if coding == "bidirectional":
        return encode_bidirectional(s)
    if coding == "twos_complement":
        return encode_twos_complement(s)
    raise ValueError(f"unknown coding {coding!r}; choose one of {CODINGS}")


def decode(train: SpikeTrain) -> Tensor:
    """Integer counts back from a train: ``sum_t w_t s_t + offset`` (int64)."""
    sp = train.spikes.to(torch.int64)
    w = train.weights.view((-1,) + (1,) * (sp.dim() - 1))
    return (sp * w).sum(dim=0) + train.offset


def expected_steps(s: Tensor, coding: str) -> int:
    """The number of time steps a coding needs for counts ``s`` (spec section 1.3 table)."""
    s = _check_counts(s)
    m = int(s.abs().max()) if s.numel() else 0
    if coding == "ternary":
        return m
    if coding == "binary":
        return int(s.max()) if s.numel() else 0
    if coding in ("bitwise", "bidirectional"):
        return max(1, bit_length(m))
    if coding == "twos_complement":
        return max(2, bit_length(m) + 1)
    raise ValueError(f"unknown coding {coding!r}; choose one of {CODINGS}")
