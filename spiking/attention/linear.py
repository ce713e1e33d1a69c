"""Spiking linear layer: spike-coded input, optional INT8 fake-quantised weights.

Dense path (what the released code does, "pseudo-spiking")::

    y = F.linear(V_th * s, W, b)

Event-driven path: the counts are expanded into a spike train (section 1.3) and the
output is accumulated by adding (or subtracting) the weight columns of the inputs that
spiked, one time step at a time, then weighted by the step weights ``w_t`` and rescaled
by the per-token threshold::

    y = V_th * (sum_t w_t * sum_{j: s_t[j] = +-1} +-W[:, j] + offset * W 1) + b
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .coding import SpikeTrain, encode, spike, spike_counts, check_k
from .quant import QuantConfig, fake_quant_weight
from .sparsity import SparsityStats


def event_matmul(train: SpikeTrain, weight: Tensor) -> Tensor:
    """``sum_t w_t (W s_t) + offset * W 1`` for a train of shape ``(T, N, D)``, by column sums.

    Returns ``(N, O)`` in the dtype of ``weight`` (int64 weights give exact integer results).
    """
    if train.spikes.dim() != 3:
        raise ValueError(f"event_matmul needs spikes of shape (T, N, D), got {tuple(train.spikes.shape)}")
    if weight.dim() != 2 or weight.shape[1] != train.spikes.shape[2]:
        raise ValueError(f"weight of shape {tuple(weight.shape)} does not match spike rows of width {train.spikes.shape[2]}")
    T, N, D = train.spikes.shape
    O = weight.shape[0]
    cols = weight.t()  # (D, O): column j of W is row j here
    out = torch.zeros(N, O, dtype=weight.dtype)
    for t in range(T):
        st = train.spikes[t]
        acc = torch.zeros(N, O, dtype=weight.dtype)
        pn, pj = (st > 0).nonzero(as_tuple=True)
        if pn.numel():
            acc.index_add_(0, pn, cols[pj])
        nn_, nj = (st < 0).nonzero(as_tuple=True)
        if nn_.numel():
            acc.index_add_(0, nn_, cols[nj], alpha=-1)
        out += acc * int(train.weights[t])
    off = int(train.offset)
    if off:
        out += off * weight.sum(dim=1)
    return out


class SpikingLinear(nn.Linear):
    """``nn.Linear`` whose input can be spike-coded (k set) and weights fake-quantised.

    Spiking is off until :meth:`set_spiking` gives a k. With a ``recorder`` attached, every
    forward adds its integer counts to the :class:`SparsityStats`.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, spike_input: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        self.spike_input = spike_input
        self.k: float | None = None
        self.quant: QuantConfig | None = None
        self.recorder: SparsityStats | None = None
        self.record_name: str | None = None

    def set_spiking(self, k: float | None, recorder: SparsityStats | None = None) -> None:
        self.k = None if k is None else check_k(k)
        self.recorder = recorder

    def set_quant(self, cfg: QuantConfig | None) -> None:
        self.quant = cfg

    def effective_weight(self) -> Tensor:
        if self.quant is None:
            return self.weight
        wq = fake_quant_weight(self.weight, self.quant)
        return self.weight + (wq - self.weight).detach()

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"SpikingLinear input must be a floating-point tensor, got {getattr(x, 'dtype', type(x))}")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"SpikingLinear expects last dimension {self.in_features}, got shape {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        if self.k is not None and self.spike_input:
            if self.recorder is not None:
                s, _ = spike_counts(x, self.k)
                self.recorder.add(s, self.record_name)
            x = spike(x, self.k)
        return F.linear(x, self.effective_weight(), self.bias)

    @torch.no_grad()
    def forward_event(self, x: Tensor, coding: str = "bidirectional", k: float | None = None) -> Tensor:
        """Event-driven output: spike trains summed as weight columns. Equals :meth:`forward` with spiking on."""
        self._check(x)
        k = self.k if k is None else check_k(k)
        if k is None:
            raise ValueError("forward_event needs a k: call set_spiking(k) or pass k")
        s, vth = spike_counts(x, k)
        lead = x.shape[:-1]
        s2 = s.reshape(-1, self.in_features)
        shift = coding in ("binary", "bitwise")
        train = encode(s2, coding, shift=shift)
        w = self.effective_weight().detach()
        acc = event_matmul(train, w)
        work = torch.promote_types(w.dtype, torch.float32)
        y = vth.reshape(-1, 1).to(work) * acc.to(work)
        if self.bias is not None:
            y = y + self.bias.to(work)
        return y.reshape(*lead, self.out_features).to(x.dtype)
