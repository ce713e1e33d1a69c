"""The sparsity report of spec section 3.

For N activation elements (channel x token x layer) with integer counts ``s_i`` under the
bidirectional-bitwise coding and ``P = sum_i popcount(|s_i|)`` spikes in total::

    sparsity_T3 = 1 - P / (3 N) = 1 - (1 - silent) * spikes_per_firing / 3

Counts above 7 are charged all their bits in ``P`` but every element is still given a
3-step window (the choice the spec recommends, section 3). All tallies are exact Python
integers, so the identity holds to rounding of a float division.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from .coding import popcount


@dataclass
class SparsityStats:
    """Running tallies of integer spike counts (mutable accumulator)."""

    n: int = 0
    silent: int = 0
    abs_sum: int = 0
    le7: int = 0
    over16: int = 0
    spikes: int = 0  # sum of popcount(|s|): bidirectional-bitwise spikes
    per_layer: dict = field(default_factory=dict)

    def add(self, s: Tensor, name: str | None = None) -> None:
        a = s.detach().abs().to(torch.int64).reshape(-1)
        n = a.numel()
        silent = int((a == 0).sum())
        pc = int(popcount(a).sum())
        self.n += n
        self.silent += silent
        self.abs_sum += int(a.sum())
        self.le7 += int((a <= 7).sum())
        self.over16 += int((a > 16).sum())
        self.spikes += pc
        if name is not None:
            d = self.per_layer.setdefault(name, [0, 0])
            d[0] += n
            d[1] += pc

    def report(self, window: int = 3) -> dict:
        if self.n == 0:
            raise ValueError("no spike counts were recorded")
        firing = self.n - self.silent
        out = {
            "elements": self.n,
            "silent_fraction": self.silent / self.n,
            "mean_abs_count": self.abs_sum / self.n,
            "share_abs_le_7": self.le7 / self.n,
            "share_abs_gt_16": self.over16 / self.n,
            "spikes_per_element": self.spikes / self.n,
            "spikes_per_firing_element": (self.spikes / firing) if firing else 0.0,
            f"sparsity_T{window}": 1.0 - self.spikes / (window * self.n),
        }
        return out


def sparsity_report(counts: Tensor | list[Tensor], window: int = 3) -> dict:
    """Report for one tensor (or a list) of integer counts."""
    st = SparsityStats()
    for s in counts if isinstance(counts, (list, tuple)) else [counts]:
        st.add(s)
    return st.report(window)
