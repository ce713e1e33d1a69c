"""Gated linear attention as in SpikingBrain-7B (spec section 2.2).

Per head, with key-channel log-decays ``g_t <= 0`` and state ``S`` of shape (d_k, d_v)::

    S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t,      o_t = (q_t / sqrt(d)) S_t

Three forms give the same result: :func:`gla_recurrent` (token by token, the decode path),
:func:`gla_chunked` (chunkwise, the training / prefill path) and :func:`gla_parallel`
(pairwise over the whole sequence, a reference). Every exponent used is ``<= 0``.

Tensors are laid out ``(batch, heads, time, dim)``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .linear import SpikingLinear
from .norm import RMSNorm


class GLAState(NamedTuple):
    """Recurrent state of one GLA layer: ``(B, H, d_k, d_v)``; constant in sequence length."""

    state: Tensor

    @property
    def nbytes(self) -> int:
        return self.state.numel() * self.state.element_size()


def _check(q: Tensor, k: Tensor, v: Tensor, g: Tensor, state: Tensor | None) -> tuple[int, int, int, int, int]:
    for name, t in (("q", q), ("k", k), ("v", v), ("g", g)):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise TypeError(f"GLA {name} must be a floating-point tensor, got {getattr(t, 'dtype', type(t))}")
        if t.dim() != 4:
            raise ValueError(f"GLA {name} must be (batch, heads, time, dim), got shape {tuple(t.shape)}")
        if t.dtype != q.dtype:
            raise TypeError(f"GLA inputs must share one dtype, {name} is {t.dtype} and q is {q.dtype}")
    B, H, T, dk = q.shape
    if k.shape != q.shape or g.shape != q.shape:
        raise ValueError(f"GLA q, k, g must have the same shape, got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(g.shape)}")
    if v.shape[:3] != (B, H, T):
        raise ValueError(f"GLA v must be (batch, heads, time, d_v) matching q {tuple(q.shape)}, got {tuple(v.shape)}")
    dv = v.shape[-1]
    if state is not None and (state.shape != (B, H, dk, dv) or state.dtype != q.dtype):
        raise ValueError(f"GLA state must be {(B, H, dk, dv)} of dtype {q.dtype}, got {tuple(state.shape)} {state.dtype}")
    return B, H, T, dk, dv


def gla_recurrent(q: Tensor, k: Tensor, v: Tensor, g: Tensor, state: Tensor | None = None,
                  scale: float | None = None) -> tuple[Tensor, Tensor]:
    """Token-by-token recurrence. Returns ``(o, final_state)``."""
    B, H, T, dk, dv = _check(q, k, v, g, state)
    scale = dk ** -0.5 if scale is None else scale
    S = q.new_zeros(B, H, dk, dv) if state is None else state
    a = g.exp()
    qs = q * scale
    outs = []
    for t in range(T):
        S = a[:, :, t, :, None] * S + k[:, :, t, :, None] * v[:, :, t, None, :]
        outs.append(torch.einsum("bhk,bhkv->bhv", qs[:, :, t], S))
    o = torch.stack(outs, dim=2) if outs else v.new_zeros(B, H, 0, dv)
    return o, S


def gla_parallel(q: Tensor, k: Tensor, v: Tensor, g: Tensor, scale: float | None = None) -> Tensor:
    """Pairwise form ``o_t = sum_{s<=t} [(q_t * exp(G_t - G_s)) . k_s] v_s``; O(T^2 d) memory."""
    B, H, T, dk, dv = _check(q, k, v, g, None)
    scale = dk ** -0.5 if scale is None else scale
    G = g.cumsum(dim=2)
    diff = G[:, :, :, None, :] - G[:, :, None, :, :]  # (B,H,T,S,dk), <= 0 for s <= t
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    diff = diff.masked_fill(~mask[:, :, None], float("-inf"))
    A = (q[:, :, :, None, :] * k[:, :, None, :, :] * diff.exp()).sum(-1)
    return (A @ v) * scale


# Largest within-chunk decay span |G_C| for which the factored intra-chunk product is used:
# its factors lie in [exp(-|G_C|), exp(|G_C|)], so products stay far from overflow.
_FACTORED_SPAN = {torch.float64: 300.0, torch.float32: 30.0}


def _factored_limit(dtype) -> float:
    """The largest chunk span |G_C| that ``intra="factored"`` accepts. Its factors reach
    exp(|G_C| / 2), so beyond 2 (ln max - 8) they overflow (float32: 161; measured non-finite
    from |G_C| = 180 with a uniform decay)."""
    return 2.0 * (math.log(torch.finfo(dtype).max) - 8.0)


def gla_chunked(q: Tensor, k: Tensor, v: Tensor, g: Tensor, chunk: int = 16, state: Tensor | None = None,
                scale: float | None = None, intra: str = "auto") -> tuple[Tensor, Tensor]:
    """Chunkwise form (chunk length ``chunk``). Returns ``(o, final_state)``.

    Inside a chunk the pairwise term is ``sum_c q_tc k_sc exp(G_tc - G_sc)`` for ``s <= t``, with
    ``G`` the cumulative log-decay relative to the chunk start; the carried state enters through
    ``(q_t * exp(G_t)) S_prev`` and is advanced by
    ``S = diag(exp(G_C)) S_prev + sum_s (k_s * exp(G_C - G_s))^T v_s``.

    ``intra="pairwise"`` evaluates the intra-chunk term with every exponent <= 0 (a
    ``(C, C, d_k)`` tensor per chunk). ``"factored"`` writes it as one matmul of
    ``q * exp(G - G_m)`` and ``k * exp(G_m - G)`` with ``G_m`` the chunk's middle position,
    which is exact in real arithmetic and much faster; ``"auto"`` (default) uses the factored
    form for a chunk whose total decay span is small enough to stay far from overflow
    (``|G_C| <= 30`` in float32, 300 in float64) and the pairwise form otherwise.
    ``"factored"`` refuses a chunk whose span would overflow (``|G_C| > 161`` in float32).
    """
    B, H, T, dk, dv = _check(q, k, v, g, state)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk <= 0:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    if intra not in ("auto", "pairwise", "factored"):
        raise ValueError(f"intra must be 'auto', 'pairwise' or 'factored', got {intra!r}")
    span = _FACTORED_SPAN.get(q.dtype, 10.0)
    scale = dk ** -0.5 if scale is None else scale
    S = q.new_zeros(B, H, dk, dv) if state is None else state
    mask = torch.ones(chunk, chunk, dtype=torch.bool).tril()[:, :, None]
    outs = []
    for c0 in range(0, T, chunk):
        c1 = min(T, c0 + chunk)
        C = c1 - c0
        qc, kc, vc, gc = q[:, :, c0:c1], k[:, :, c0:c1], v[:, :, c0:c1], g[:, :, c0:c1]
        G = gc.cumsum(dim=2)  # (B,H,C,dk), relative to the chunk start
        inter = (qc * G.exp()) @ S
        GC = G[:, :, -1]  # (B,H,dk), the chunk's total log-decay, <= 0
        if intra == "factored":
            lim = _factored_limit(q.dtype)
            if float(GC.detach().min()) < -lim:
                raise ValueError(f"gla_chunked(intra='factored'): the chunk at t = {c0} decays by "
                                 f"{-float(GC.detach().min()):.1f} (|G_C|), over the {lim:.0f} that {q.dtype} "
                                 f"can hold in the factored form; use intra='auto' (it falls back to the "
                                 f"pairwise form there) or a shorter chunk")
        use_factored = intra == "factored" or (intra == "auto" and float(GC.detach().min()) >= -span)
        if use_factored:
            Gm = G[:, :, C // 2: C // 2 + 1]
            A = (qc * (G - Gm).exp()) @ (kc * (Gm - G).exp()).transpose(-1, -2)
            A = A.masked_fill(~mask[:C, :C, 0], 0.0)
        else:
            diff = (G[:, :, :, None, :] - G[:, :, None, :, :]).masked_fill(~mask[:C, :C], float("-inf"))
            A = (qc[:, :, :, None, :] * kc[:, :, None, :, :] * diff.exp()).sum(-1)
        outs.append((inter + A @ vc) * scale)
        S = GC.exp()[..., None] * S + (kc * (GC[:, :, None, :] - G).exp()).transpose(-1, -2) @ vc
    o = torch.cat(outs, dim=2) if outs else v.new_zeros(B, H, 0, dv)
    return o, S


class GatedLinearAttention(nn.Module):
    """The SpikingBrain-7B GLA layer: ReLU q/k (with biases), low-rank ``logsigmoid / 16`` gate,
    GQA, per-head RMSNorm with a shared gain, ``o_proj`` without bias, no RoPE.

    ``forward(x, state=None, mode="auto")`` returns ``(y, GLAState)``; ``auto`` picks the
    recurrent form for a single token and the chunked form otherwise.
    """

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, head_dim: int, gate_rank: int = 16,
                 gate_normalizer: float = 16.0, chunk: int = 16, bias: bool = True, norm_eps: float = 1e-6,
                 feature_map: str = "relu"):
        super().__init__()
        for name, val in (("d_model", d_model), ("n_heads", n_heads), ("n_kv_heads", n_kv_heads),
                          ("head_dim", head_dim), ("gate_rank", gate_rank), ("chunk", chunk)):
            if not isinstance(val, int) or val <= 0:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        if n_heads % n_kv_heads:
            raise ValueError(f"n_heads ({n_heads}) must be a multiple of n_kv_heads ({n_kv_heads})")
        if not gate_normalizer > 0:
            raise ValueError(f"gate_normalizer must be positive, got {gate_normalizer}")
        if feature_map not in ("relu", "sigmoid"):
            raise ValueError(f"feature_map must be 'relu' or 'sigmoid', got {feature_map!r}")
        self.d_model, self.n_heads, self.n_kv_heads, self.head_dim = d_model, n_heads, n_kv_heads, head_dim
        self.chunk, self.gate_normalizer, self.feature_map = chunk, float(gate_normalizer), feature_map
        self.q_proj = SpikingLinear(d_model, n_heads * head_dim, bias=bias)
        self.k_proj = SpikingLinear(d_model, n_kv_heads * head_dim, bias=bias)
        self.v_proj = SpikingLinear(d_model, n_kv_heads * head_dim, bias=bias)
        self.o_proj = SpikingLinear(n_heads * head_dim, d_model, bias=False)
        # low-rank gate; only its first factor's input (x) is spiked, matching the merged
        # full-rank gk_proj that W8ASpike spikes
        self.gate_down = SpikingLinear(d_model, gate_rank, bias=False)
        self.gate_up = nn.Linear(gate_rank, n_kv_heads * head_dim, bias=True)
        nn.init.zeros_(self.gate_up.bias)
        self.g_norm = RMSNorm(head_dim, eps=norm_eps)

    def _heads(self, t: Tensor, h: int) -> Tensor:
        B, T, _ = t.shape
        return t.view(B, T, h, self.head_dim).transpose(1, 2)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """q, k, v, g in ``(B, H, T, d)`` with the KV heads already repeated for GQA."""
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"GLA input must be a float (batch, time, {self.d_model}) tensor, got "
                             f"{getattr(x, 'dtype', type(x))} {tuple(getattr(x, 'shape', ()))}")
        fmap = F.relu if self.feature_map == "relu" else torch.sigmoid
        q = fmap(self._heads(self.q_proj(x), self.n_heads))
        k = fmap(self._heads(self.k_proj(x), self.n_kv_heads))
        v = self._heads(self.v_proj(x), self.n_kv_heads)
        g = F.logsigmoid(self._heads(self.gate_up(self.gate_down(x)), self.n_kv_heads)) / self.gate_normalizer
        rep = self.n_heads // self.n_kv_heads
        if rep > 1:
            k, v, g = (t.repeat_interleave(rep, dim=1) for t in (k, v, g))
        return q, k, v, g

    def forward(self, x: Tensor, state: GLAState | None = None, mode: str = "auto") -> tuple[Tensor, GLAState]:
        q, k, v, g = self.project(x)
        S0 = None if state is None else state.state
        T = x.shape[1]
        if mode == "auto":
            mode = "recurrent" if T == 1 else "chunk"
        if mode == "recurrent":
            o, S = gla_recurrent(q, k, v, g, S0)
        elif mode == "chunk":
            o, S = gla_chunked(q, k, v, g, self.chunk, S0)
        elif mode == "parallel":
            if S0 is not None:
                raise ValueError("the parallel form starts from an empty state; use mode='chunk' with a state")
            o = gla_parallel(q, k, v, g)
            _, S = gla_chunked(q, k, v, g, self.chunk)
        else:
            raise ValueError(f"mode must be 'auto', 'recurrent', 'chunk' or 'parallel', got {mode!r}")
        o = self.g_norm(o)
        B = x.shape[0]
        y = self.o_proj(o.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim))
        return y, GLAState(S)
