"""Symmetric INT8 fake-quantisation: weights per output row and group of input columns, and the
keys and values of sliding-window attention per token and head (W8ASpike).

``W_hat[o, j] = D[o, g] * round(W[o, j] / D[o, g])`` for column ``j`` in group ``g``, with
``D[o, g] = max_j |W[o, j]| / 127`` over the group (absmax calibration; the report calibrates
scales on 128 text samples, most likely GPTQ-style, which we do not reproduce). No zero point.

SWA keys and values (``QuantConfig.kv``, W8ASpike's ``quantize_sym``): for each token and head,
``D = max |k| / 127`` and ``k_hat = clamp(round(k / D), -128, 127) * D``, the same for v, on the
fly. Quantising a vector that is already on its grid gives it back unchanged, so caching the
quantised keys is the same as quantising the cached ones at every step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class QuantConfig:
    bits: int = 8
    group_size: int = 128
    kv: bool = True   # also fake-quantise SWA keys and values per token and head (W8ASpike)

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or not (2 <= self.bits <= 16):
            raise ValueError(f"bits must be an integer in [2, 16], got {self.bits!r}")
        if not isinstance(self.group_size, int) or self.group_size <= 0:
            raise ValueError(f"group_size must be a positive integer, got {self.group_size!r}")

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1


def group_scales(w: Tensor, cfg: QuantConfig = QuantConfig()) -> Tensor:
    """Scales ``(O, ceil(D / group))`` from the absmax of each row-group."""
    if not isinstance(w, Tensor) or not w.is_floating_point() or w.dim() != 2:
        raise ValueError(f"weights must be a 2-D floating-point tensor (out, in), got {getattr(w, 'shape', type(w))}")
    O, D = w.shape
    G = -(-D // cfg.group_size)
    pad = G * cfg.group_size - D
    wa = torch.nn.functional.pad(w.detach().abs(), (0, pad)).view(O, G, cfg.group_size)
    scale = wa.amax(dim=-1) / cfg.qmax
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def fake_quant_weight(w: Tensor, cfg: QuantConfig = QuantConfig(), scales: Tensor | None = None) -> Tensor:
    """Fake-quantised copy of ``w`` (same shape and dtype)."""
    if scales is None:
        scales = group_scales(w, cfg)
    O, D = w.shape
    G = scales.shape[1]
    if scales.shape[0] != O or G != -(-D // cfg.group_size):
        raise ValueError(f"scales of shape {tuple(scales.shape)} do not fit weights {tuple(w.shape)} with group {cfg.group_size}")
    full = scales.repeat_interleave(cfg.group_size, dim=1)[:, :D].to(w.dtype)
    q = torch.clamp(torch.round(w / full), -cfg.qmax - 1, cfg.qmax)
    return q * full


def fake_quant_per_token(x: Tensor, bits: int = 8) -> Tensor:
    """Symmetric fake-quantisation of each vector along the last axis (one scale per token and
    head for a ``(batch, heads, time, head_dim)`` tensor); identity gradient."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise ValueError(f"expected a floating-point tensor, got {getattr(x, 'dtype', type(x))}")
    qmax = 2 ** (bits - 1) - 1
    scale = x.detach().abs().amax(dim=-1, keepdim=True) / qmax
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(x.detach() / scale), -qmax - 1, qmax) * scale
    return x + (q - x).detach()
