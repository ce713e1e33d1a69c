"""RMSNorm over the last dimension (eps 1e-6, learnable gain initialised to 1)."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"RMSNorm dim must be a positive integer, got {dim!r}")
        if not eps > 0:
            raise ValueError(f"RMSNorm eps must be positive, got {eps}")
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.weight.shape[0]:
            raise ValueError(f"RMSNorm expects last dimension {self.weight.shape[0]}, got shape {tuple(x.shape)}")
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight.to(x.dtype)
