"""Softmax attention with RoPE: sliding-window (SWA) with a ring-buffer cache, and full causal.

The window ``w`` is the number of keys a query sees *including itself* (spec section 2.3):
query ``t`` attends to keys ``t - w + 1 .. t``. The SWA cache never holds more than ``w``
keys: it grows by appending until it holds ``w``, then the newest key overwrites the oldest
slot (slot ``position mod w``). Keys are cached after RoPE, so the order of the slots does
not matter for a single decoding query.

The full-attention baseline (``window=None``) keeps every key and refuses sequences longer
than its configured ``max_seq_len``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .coding import spike
from .quant import fake_quant_per_token
from .linear import SpikingLinear


def rope_cos_sin(positions: Tensor, head_dim: int, theta: float, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    ang = positions.to(torch.float64)[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().to(dtype), ang.sin().to(dtype)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """NeoX layout: rotate the two halves of the head dimension. ``x`` is ``(B, H, T, d)``."""
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
    return x * cos + rot * sin


def band_mask(q_pos: Tensor, k_pos: Tensor, window: int | None) -> Tensor:
    """Boolean ``(Tq, Tk)`` mask: key s visible to query t iff ``s <= t`` and ``s > t - window``."""
    m = k_pos[None, :] <= q_pos[:, None]
    if window is not None:
        m &= k_pos[None, :] > (q_pos[:, None] - window)
    return m


def attention_core(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax attention, scale 1/sqrt(d), GQA by repeating KV heads. q ``(B,H,T,d)``, k/v ``(B,Hkv,S,d)``."""
    H, Hkv = q.shape[1], k.shape[1]
    if H % Hkv:
        raise ValueError(f"query heads ({H}) must be a multiple of key/value heads ({Hkv})")
    if H != Hkv:
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class KVCache:
    """Key/value cache. ``window=None``: grows with every token. ``window=w``: ring of at most w keys.

    ``k`` and ``v`` are ``(B, H_kv, n, d)`` with ``n = min(length, w)``; :attr:`nbytes` is the
    memory they hold.
    """

    def __init__(self, window: int | None = None):
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
            raise ValueError(f"window must be a positive integer (keys per query, including itself), got {window!r}")
        self.window = window
        self.k: Tensor | None = None
        self.v: Tensor | None = None
        self.length = 0  # tokens seen so far

    @property
    def entries(self) -> int:
        return 0 if self.k is None else int(self.k.shape[2])

    @property
    def nbytes(self) -> int:
        if self.k is None:
            return 0
        return self.k.numel() * self.k.element_size() + self.v.numel() * self.v.element_size()

    def ordered(self) -> tuple[Tensor | None, Tensor | None]:
        """Cached keys/values in temporal order (oldest first)."""
        if self.k is None or self.window is None or self.length <= self.window:
            return self.k, self.v
        shift = self.length % self.window
        return torch.roll(self.k, -shift, dims=2), torch.roll(self.v, -shift, dims=2)

    def extend(self, k_new: Tensor, v_new: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Add ``T`` new keys; return the keys/values (temporal order) and positions a new query block needs."""
        T = k_new.shape[2]
        old_k, old_v = self.ordered()
        n_old = 0 if old_k is None else old_k.shape[2]
        all_k = k_new if old_k is None else torch.cat([old_k, k_new], dim=2)
        all_v = v_new if old_v is None else torch.cat([old_v, v_new], dim=2)
        pos = torch.arange(self.length - n_old, self.length + T)
        total = self.length + T
        if self.window is None or total <= self.window:
            self.k, self.v = all_k, all_v
        else:
            w = self.window
            keep_k, keep_v = all_k[:, :, -w:], all_v[:, :, -w:]
            # slot of position p is p mod w; the kept block starts at position total - w
            shift = (total - w) % w
            self.k = torch.roll(keep_k, shift, dims=2).contiguous()
            self.v = torch.roll(keep_v, shift, dims=2).contiguous()
        self.length = total
        return all_k, all_v, pos

    def step(self, k_new: Tensor, v_new: Tensor) -> tuple[Tensor, Tensor]:
        """Add one token (``T = 1``) in place; return all cached keys/values (any slot order)."""
        if self.window is not None and self.k is not None and self.k.shape[2] == self.window:
            slot = self.length % self.window
            self.k[:, :, slot] = k_new[:, :, 0]
            self.v[:, :, slot] = v_new[:, :, 0]
        elif self.k is None:
            self.k, self.v = k_new.clone(), v_new.clone()
        else:
            self.k = torch.cat([self.k, k_new], dim=2)
            self.v = torch.cat([self.v, v_new], dim=2)
        self.length += 1
        return self.k, self.v


class SoftmaxAttention(nn.Module):
    """Qwen-style attention: q/k/v with biases, RoPE (NeoX), GQA, ``o_proj`` without bias.

    ``window=None`` is full causal attention limited to ``max_seq_len`` tokens; an integer
    window gives sliding-window attention (see :class:`SlidingWindowAttention`).
    ``forward(x, cache=None, use_cache=False)`` returns ``(y, cache)``.
    """

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, head_dim: int, window: int | None = None,
                 max_seq_len: int = 4096, rope_theta: float = 10000.0, bias: bool = True, spike_query: bool = False):
        super().__init__()
        for name, val in (("d_model", d_model), ("n_heads", n_heads), ("n_kv_heads", n_kv_heads),
                          ("head_dim", head_dim), ("max_seq_len", max_seq_len)):
            if isinstance(val, bool) or not isinstance(val, int) or val <= 0:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        if head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, got {head_dim}")
        if n_heads % n_kv_heads:
            raise ValueError(f"n_heads ({n_heads}) must be a multiple of n_kv_heads ({n_kv_heads})")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
            raise ValueError(f"window must be a positive integer (keys per query, including itself), got {window!r}")
        if not rope_theta > 0:
            raise ValueError(f"rope_theta must be positive, got {rope_theta}")
        self.d_model, self.n_heads, self.n_kv_heads, self.head_dim = d_model, n_heads, n_kv_heads, head_dim
        self.window, self.max_seq_len, self.rope_theta = window, max_seq_len, float(rope_theta)
        self.spike_query = spike_query
        self.kv_bits: int | None = None   # set by set_weight_quant: INT8 keys/values per token and head
        self.q_proj = SpikingLinear(d_model, n_heads * head_dim, bias=bias)
        self.k_proj = SpikingLinear(d_model, n_kv_heads * head_dim, bias=bias)
        self.v_proj = SpikingLinear(d_model, n_kv_heads * head_dim, bias=bias)
        self.o_proj = SpikingLinear(n_heads * head_dim, d_model, bias=False)

    def new_cache(self) -> KVCache:
        return KVCache(self.window)

    def _heads(self, t: Tensor, h: int) -> Tensor:
        B, T, _ = t.shape
        return t.view(B, T, h, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, cache: KVCache | None = None, use_cache: bool = False) -> tuple[Tensor, KVCache | None]:
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"attention input must be a float (batch, time, {self.d_model}) tensor, got "
                             f"{getattr(x, 'dtype', type(x))} {tuple(getattr(x, 'shape', ()))}")
        B, T, _ = x.shape
        start = 0 if cache is None else cache.length
        if self.window is None and start + T > self.max_seq_len:
            raise ValueError(f"sequence of {start + T} tokens exceeds max_seq_len={self.max_seq_len} of full softmax attention")
        if cache is not None and cache.window != self.window:
            raise ValueError(f"cache window {cache.window} does not match the layer's window {self.window}")
        q = self._heads(self.q_proj(x), self.n_heads)
        k = self._heads(self.k_proj(x), self.n_kv_heads)
        v = self._heads(self.v_proj(x), self.n_kv_heads)
        pos = torch.arange(start, start + T)
        cos, sin = rope_cos_sin(pos, self.head_dim, self.rope_theta, x.dtype)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.spike_query and self.q_proj.k is not None:
            q = spike(q, self.q_proj.k)  # per token per head, after RoPE (W8ASpike)
        if self.kv_bits is not None:
            k, v = fake_quant_per_token(k, self.kv_bits), fake_quant_per_token(v, self.kv_bits)
        if cache is None and use_cache:
            cache = self.new_cache()
        if cache is None:
            o = attention_core(q, k, v, band_mask(pos, pos, self.window))
        elif T == 1:
            kk, vv = cache.step(k, v)  # every cached key is inside the window
            o = attention_core(q, kk, vv, None)
        else:
            kk, vv, kpos = cache.extend(k, v)
            o = attention_core(q, kk, vv, band_mask(pos, kpos, self.window))
        y = self.o_proj(o.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim))
        return y, cache


class SlidingWindowAttention(SoftmaxAttention):
    """Sliding-window attention over exactly ``window`` keys (including the query's own)."""

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, head_dim: int, window: int,
                 rope_theta: float = 10000.0, bias: bool = True, spike_query: bool = False):
        if window is None or isinstance(window, bool) or not isinstance(window, int) or window <= 0:
            raise ValueError(f"window must be a positive integer (keys per query, including itself), got {window!r}")
        super().__init__(d_model, n_heads, n_kv_heads, head_dim, window=window, max_seq_len=2**31 - 1,
                         rope_theta=rope_theta, bias=bias, spike_query=spike_query)


def decode_step_softmax(q: Tensor, k_new: Tensor, v_new: Tensor, cache: KVCache) -> Tensor:
    """Attention core of one decoding step (no projections): write the new key, attend. ``q`` is ``(B,H,1,d)``."""
    kk, vv = cache.step(k_new, v_new)
    return attention_core(q, kk, vv, None)


def softmax_reference(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """Plain-matmul masked softmax (used by tests to check SDPA)."""
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v
