"""The optional 76B-style intra-layer hybrid block with sink tokens (spec sections 2.4 and 5.12).

``o = o_proj( RMSNorm_la(LA(x)) + RMSNorm_swa(SWA(x)) )`` with, per head:

* LA: sigmoid feature map on q and k, key-tied decay ``alpha_t = 1 - k_t`` (no gate
  parameters), i.e. log-decay ``log(1 - sigmoid(k_raw)) = logsigmoid(-k_raw)``;
* SWA: softmax over the ``S`` sink keys plus the causal window of ``w`` regular keys.

Sink tokens are learnable embeddings the model prepends to the sequence. A regular query
sees every sink key and its window; a sink query sees only the sink keys (bidirectionally).
The sink part and the window part are two partial softmaxes merged by log-sum-exp. Sink
scores use the un-rotated q and k (sinks have no position), window scores use RoPE.
Choices the spec leaves open ([D]): the two branches share the q/k/v/o projections, the
branch norms are separate RMSNorms over the head dimension, the merge is an unweighted sum,
and the LA branch runs over the sinks too (they form a learned initial state).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .gla import GLAState, gla_chunked, gla_recurrent
from .linear import SpikingLinear
from .norm import RMSNorm
from .swa import KVCache, apply_rope, band_mask, rope_cos_sin


class IntraCache(NamedTuple):
    la: GLAState
    sink_k: Tensor
    sink_v: Tensor
    kv: KVCache

    @property
    def nbytes(self) -> int:
        return self.la.nbytes + self.kv.nbytes + self.sink_k.numel() * self.sink_k.element_size() * 2


def _rep(t: Tensor, n: int) -> Tensor:
    return t if n == 1 else t.repeat_interleave(n, dim=1)


def partial_softmax(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """``(out, lse)`` of one softmax part; rows with no visible key get ``lse = -inf`` and zero output."""
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(s, dim=-1, keepdim=True)
    p = torch.exp(s - torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse)))
    return p @ v, lse


def lse_merge(o1: Tensor, l1: Tensor, o2: Tensor, l2: Tensor) -> Tensor:
    lse = torch.logaddexp(l1, l2)
    return torch.exp(l1 - lse) * o1 + torch.exp(l2 - lse) * o2


def sink_window_weights(q_raw: Tensor, q_rot: Tensor, sink_k: Tensor, k_rot: Tensor, q_pos: Tensor, k_pos: Tensor,
                        window: int) -> Tensor:
    """Attention weights of regular queries over ``[sinks, regular keys]`` as one masked softmax (reference)."""
    d = q_raw.shape[-1]
    s1 = q_raw @ sink_k.transpose(-1, -2) / math.sqrt(d)
    s2 = (q_rot @ k_rot.transpose(-1, -2) / math.sqrt(d)).masked_fill(~band_mask(q_pos, k_pos, window), float("-inf"))
    return torch.softmax(torch.cat([s1, s2], dim=-1), dim=-1)


class IntraHybridAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, head_dim: int, window: int, n_sinks: int = 0,
                 chunk: int = 16, rope_theta: float = 10000.0, bias: bool = True, norm_eps: float = 1e-6):
        super().__init__()
        if isinstance(window, bool) or not isinstance(window, int) or window <= 0:
            raise ValueError(f"window must be a positive integer (keys per query, including itself), got {window!r}")
        if n_heads % n_kv_heads:
            raise ValueError(f"n_heads ({n_heads}) must be a multiple of n_kv_heads ({n_kv_heads})")
        if head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, got {head_dim}")
        if not isinstance(n_sinks, int) or n_sinks < 0:
            raise ValueError(f"n_sinks must be a non-negative integer, got {n_sinks!r}")
        self.d_model, self.n_heads, self.n_kv_heads, self.head_dim = d_model, n_heads, n_kv_heads, head_dim
        self.window, self.n_sinks, self.chunk, self.rope_theta = window, n_sinks, chunk, float(rope_theta)
        self.q_proj = SpikingLinear(d_model, n_heads * head_dim, bias=bias)
        self.k_proj = SpikingLinear(d_model, n_kv_heads * head_dim, bias=bias)
        self.v_proj = SpikingLinear(d_model, n_kv_heads * head_dim, bias=bias)
        self.o_proj = SpikingLinear(n_heads * head_dim, d_model, bias=False)
        self.la_norm = RMSNorm(head_dim, norm_eps)
        self.swa_norm = RMSNorm(head_dim, norm_eps)

    def _heads(self, t: Tensor, h: int) -> Tensor:
        B, T, _ = t.shape
        return t.view(B, T, h, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, cache: IntraCache | None = None, use_cache: bool = False):
        """Without a cache, ``x`` starts with the ``n_sinks`` sink tokens; with one, ``x`` holds only new tokens."""
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"intra-layer input must be a float (batch, time, {self.d_model}) tensor, got "
                             f"{getattr(x, 'dtype', type(x))} {tuple(getattr(x, 'shape', ()))}")
        S, rep = self.n_sinks, self.n_heads // self.n_kv_heads
        B, Ttot, _ = x.shape
        if cache is None and Ttot < S:
            raise ValueError(f"the first call needs the {S} sink tokens at the start of the sequence, got {Ttot} tokens")
        q = self._heads(self.q_proj(x), self.n_heads)
        k = self._heads(self.k_proj(x), self.n_kv_heads)
        v = self._heads(self.v_proj(x), self.n_kv_heads)
        # linear-attention branch over everything it is given (sinks first on the first call)
        qa, ka = torch.sigmoid(q), _rep(torch.sigmoid(k), rep)
        ga = _rep(F.logsigmoid(-k), rep)
        S0 = None if cache is None else cache.la.state
        if Ttot == 1 and cache is not None:
            o_la, st = gla_recurrent(qa, ka, _rep(v, rep), ga, S0)
        else:
            o_la, st = gla_chunked(qa, ka, _rep(v, rep), ga, self.chunk, S0)
        # sliding-window branch with sinks
        if cache is None:
            sk, sv, sq = k[:, :, :S], v[:, :, :S], q[:, :, :S]
            q, k, v = q[:, :, S:], k[:, :, S:], v[:, :, S:]
            kv = KVCache(self.window) if use_cache else None
            start = 0
        else:
            sk, sv, sq, kv, start = cache.sink_k, cache.sink_v, None, cache.kv, cache.kv.length
        T = q.shape[2]
        pos = torch.arange(start, start + T)
        cos, sin = rope_cos_sin(pos, self.head_dim, self.rope_theta, x.dtype)
        qr, kr = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if kv is None:
            kk, vv, kpos = kr, v, pos
        elif T == 1:
            kk, vv = kv.step(kr, v)
            kpos = None
        else:
            kk, vv, kpos = kv.extend(kr, v)
        mask = None if kpos is None else band_mask(pos, kpos, self.window)
        o_w, l_w = partial_softmax(qr, _rep(kk, rep), _rep(vv, rep), mask)
        if S:
            o_s, l_s = partial_softmax(q, _rep(sk, rep), _rep(sv, rep), None)
            o_reg = lse_merge(o_s, l_s, o_w, l_w)
        else:
            o_reg = o_w
        if sq is not None and S:
            o_sink, _ = partial_softmax(sq, _rep(sk, rep), _rep(sv, rep), None)  # sinks see only sinks
            o_sw = torch.cat([o_sink, o_reg], dim=2)
        else:
            o_sw = o_reg
        o = self.la_norm(o_la) + self.swa_norm(o_sw)
        y = self.o_proj(o.transpose(1, 2).reshape(B, Ttot, self.n_heads * self.head_dim))
        new = None
        if use_cache or cache is not None:
            new = IntraCache(GLAState(st), sk, sv, kv)
        return y, new
