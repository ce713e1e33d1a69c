"""Symmetric INT8 weight fake-quantisation, per output row and per group of input columns.

``W_hat[o, j] = D[o, g] * round(W[o, j] / D[o, g])`` for column ``j`` in group ``g``, with
``D[o, g] = max_j |W[o, j]| / 127`` over the group (absmax calibration; the report calibrates
scales on 128 text samples, most likely GPTQ-style, which we do not reproduce). No zero point.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class QuantConfig:
    bits: int = 8
    group_size: int = 128

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
