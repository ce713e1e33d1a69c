"""Pre-norm blocks, SwiGLU, and the small language models (spec section 2.4).

* ``layout="softmax"``: every layer full causal softmax attention (the baseline);
* ``layout="hybrid"``: SpikingBrain-7B's inter-layer 1:1 hybrid, GLA at even (0-based)
  layers and SWA at odd layers;
* ``layout="intra"``: the 76B-style intra-layer block at every layer,
  ``RMSNorm(LA(x)) + RMSNorm(SWA(x))`` with sink tokens (see :mod:`.intra`).

Each block is ``h = x + Attn(RMSNorm(x))``, ``out = h + SwiGLU(RMSNorm(h))``. Parameter
names are shared between layouts (``attn.q_proj`` ...), so a softmax model's state dict
initialises the hybrid; only the GLA gate and per-head norm are new.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .coding import check_k
from .gla import GatedLinearAttention, GLAState
from .linear import SpikingLinear
from .norm import RMSNorm
from .quant import QuantConfig
from .sparsity import SparsityStats
from .swa import KVCache, SlidingWindowAttention, SoftmaxAttention

LAYOUTS = ("softmax", "hybrid", "gla", "swa", "intra")


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 256
    d_model: int = 192
    n_layers: int = 4
    n_heads: int = 6
    n_kv_heads: int = 6
    head_dim: int = 32
    ffn_dim: int = 512
    window: int = 48
    max_seq_len: int = 4096
    rope_theta: float = 10000.0
    gate_rank: int = 16
    gate_normalizer: float = 16.0
    chunk: int = 16
    norm_eps: float = 1e-6
    layout: str = "hybrid"
    n_sinks: int = 0
    qkv_bias: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "n_kv_heads", "head_dim", "ffn_dim",
                     "window", "max_seq_len", "gate_rank", "chunk"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int) or val <= 0:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {val!r}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even (RoPE), got {self.head_dim}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if not (self.rope_theta > 0 and self.gate_normalizer > 0 and self.norm_eps > 0):
            raise ValueError("rope_theta, gate_normalizer and norm_eps must be positive")
        if not isinstance(self.n_sinks, int) or self.n_sinks < 0:
            raise ValueError(f"n_sinks must be a non-negative integer, got {self.n_sinks!r}")
        if self.n_sinks and self.layout != "intra":
            raise ValueError("sink tokens are only used by the intra-layer layout")

    def layer_kind(self, i: int) -> str:
        if self.layout == "hybrid":
            return "gla" if i % 2 == 0 else "swa"
        return self.layout


class SwiGLU(nn.Module):
    """``W_down(SiLU(W_gate h) * W_up h)``, no biases; every input spiked when spiking is on."""

    def __init__(self, d_model: int, ffn_dim: int):
        super().__init__()
        self.gate_proj = SpikingLinear(d_model, ffn_dim, bias=False)
        self.up_proj = SpikingLinear(d_model, ffn_dim, bias=False)
        self.down_proj = SpikingLinear(ffn_dim, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def make_attention(cfg: ModelConfig, kind: str) -> nn.Module:
    if kind == "gla":
        return GatedLinearAttention(cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.gate_rank,
                                    cfg.gate_normalizer, cfg.chunk, cfg.qkv_bias, cfg.norm_eps)
    if kind == "swa":
        # W8ASpike also spike-codes the SWA query after RoPE, per head (spec 1.1 [C]); it takes
        # effect when spiking is switched on (the q projection's k), like every other spiked input
        return SlidingWindowAttention(cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.window,
                                      cfg.rope_theta, cfg.qkv_bias, spike_query=True)
    if kind == "softmax":
        return SoftmaxAttention(cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, None, cfg.max_seq_len,
                                cfg.rope_theta, cfg.qkv_bias)
    if kind == "intra":
        from .intra import IntraHybridAttention
        return IntraHybridAttention(cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.window,
                                    cfg.n_sinks, cfg.chunk, cfg.rope_theta, cfg.qkv_bias, cfg.norm_eps)
    raise ValueError(f"unknown attention kind {kind!r}")


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, kind: str):
        super().__init__()
        self.kind = kind
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = make_attention(cfg, kind)
        self.ffn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.ffn = SwiGLU(cfg.d_model, cfg.ffn_dim)

    def forward(self, x: Tensor, cache=None, use_cache: bool = False):
        a, cache = self._attend(self.attn_norm(x), cache, use_cache)
        h = x + a
        return h + self.ffn(self.ffn_norm(h)), cache

    def _attend(self, x: Tensor, cache, use_cache: bool):
        if self.kind == "gla":
            y, state = self.attn(x, cache)
            return y, (state if (use_cache or cache is not None) else None)
        return self.attn(x, cache, use_cache)


class LanguageModel(nn.Module):
    """Byte-level (or any vocabulary) causal LM. ``forward(tokens, caches=None, use_cache=False)``
    returns ``(logits, caches)``; pass the returned caches back to decode token by token.
    Embeddings and the untied LM head are never spiked.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList([Block(cfg, cfg.layer_kind(i)) for i in range(cfg.n_layers)])
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(_init)
        if cfg.n_sinks:
            self.sinks = nn.Parameter(torch.randn(cfg.n_sinks, cfg.d_model) * 0.02)
        for name, mod in self.named_modules():
            if isinstance(mod, SpikingLinear):
                mod.record_name = name

    def forward(self, tokens: Tensor, caches: list | None = None, use_cache: bool = False):
        if not isinstance(tokens, Tensor) or tokens.dtype not in (torch.int64, torch.int32) or tokens.dim() != 2:
            raise ValueError(f"tokens must be an integer (batch, time) tensor, got "
                             f"{getattr(tokens, 'dtype', type(tokens))} {tuple(getattr(tokens, 'shape', ()))}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.cfg.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.cfg.vocab_size}), got [{int(tokens.min())}, {int(tokens.max())}]")
        if caches is not None and len(caches) != len(self.layers):
            raise ValueError(f"need one cache per layer ({len(self.layers)}), got {len(caches)}")
        x = self.embed(tokens)
        S = self.cfg.n_sinks if caches is None else 0
        if S:  # learnable sink tokens lead the sequence on the first call (prefill)
            x = torch.cat([self.sinks.to(x.dtype).expand(x.shape[0], -1, -1), x], dim=1)
        new = []
        for i, layer in enumerate(self.layers):
            x, c = layer(x, None if caches is None else caches[i], use_cache)
            new.append(c)
        logits = self.lm_head(self.norm(x[:, S:]))
        return logits, (new if (use_cache or caches is not None) else None)


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)


def spiking_linears(model: nn.Module) -> list[SpikingLinear]:
    return [m for m in model.modules() if isinstance(m, SpikingLinear)]


def set_spiking(model: nn.Module, k: float | None, recorder: SparsityStats | None = None) -> None:
    """Spike the inputs of every projection (k) or turn spiking off (None)."""
    if k is not None:
        check_k(k)
    for m in spiking_linears(model):
        m.set_spiking(k, recorder)


def set_weight_quant(model: nn.Module, cfg: QuantConfig | None) -> None:
    """INT8 (``cfg.bits``) group weights on every spiking linear layer, and with ``cfg.kv`` INT8
    keys and values per token and head in the sliding-window layers, as W8ASpike; None: off."""
    for m in spiking_linears(model):
        m.set_quant(cfg)
    for m in model.modules():
        if isinstance(m, SlidingWindowAttention):
            m.kv_bits = cfg.bits if cfg is not None and cfg.kv else None


def cache_nbytes(caches: list) -> list[int]:
    """Bytes held by each layer's decode cache."""
    out = []
    for c in caches:
        if isinstance(c, GLAState):
            out.append(c.nbytes)
        elif isinstance(c, KVCache):
            out.append(c.nbytes)
        elif hasattr(c, "nbytes"):
            out.append(int(c.nbytes))
        else:
            out.append(0)
    return out


def convert_softmax_to_hybrid(baseline: LanguageModel, layout: str = "hybrid") -> LanguageModel:
    """Build a hybrid from a trained softmax model: every shared weight is copied (embeddings,
    norms, q/k/v/o with biases, FFN, head); the GLA gate (bias 0) and per-head RMSNorm (gain 1)
    are new. Returns the new model; raises if anything else would be left uninitialised."""
    cfg = baseline.cfg
    if cfg.layout != "softmax":
        raise ValueError(f"conversion starts from a softmax model, got layout {cfg.layout!r}")
    from dataclasses import replace
    hyb = LanguageModel(replace(cfg, layout=layout))
    missing, unexpected = hyb.load_state_dict(baseline.state_dict(), strict=False)
    allowed = ("gate_down", "gate_up", "g_norm", "sinks", "la_norm", "swa_norm")
    bad = [m for m in missing if not any(a in m for a in allowed)]
    if bad or unexpected:
        raise RuntimeError(f"conversion left parameters unmatched: missing {bad}, unexpected {list(unexpected)}")
    return hyb
