"""SpikingBrain-style spiking attention layers (PyTorch).

This subpackage is the only part of ``spiking`` that imports torch; ``import spiking``
never imports it. See ``docs/attention.md`` and the spec ``spikingbrain.md``.
"""
from .coding import (CODINGS, SpikeConfig, SpikeTrain, adaptive_threshold, decode, encode, encode_binary,
                     encode_bidirectional, encode_bitwise, encode_ternary, encode_twos_complement, expected_steps,
                     popcount, spike, spike_counts, zero_point_shift)
from .quant import QuantConfig, fake_quant_per_token, fake_quant_weight, group_scales
from .sparsity import SparsityStats, sparsity_report
from .linear import SpikingLinear, event_matmul
from .norm import RMSNorm
from .gla import GatedLinearAttention, GLAState, gla_chunked, gla_parallel, gla_recurrent
from .swa import KVCache, SlidingWindowAttention, SoftmaxAttention, apply_rope, attention_core, band_mask
from .blocks import (Block, LanguageModel, ModelConfig, SwiGLU, cache_nbytes, convert_softmax_to_hybrid,
                     set_spiking, set_weight_quant, spiking_linears)

__all__ = [
    "CODINGS", "SpikeConfig", "SpikeTrain", "adaptive_threshold", "decode", "encode", "encode_binary",
    "encode_bidirectional", "encode_bitwise", "encode_ternary", "encode_twos_complement", "expected_steps",
    "popcount", "spike", "spike_counts", "zero_point_shift", "QuantConfig", "fake_quant_per_token", "fake_quant_weight", "group_scales",
    "SparsityStats", "sparsity_report", "SpikingLinear", "event_matmul", "RMSNorm", "GatedLinearAttention",
    "GLAState", "gla_chunked", "gla_parallel", "gla_recurrent", "KVCache", "SlidingWindowAttention",
    "SoftmaxAttention", "apply_rope", "attention_core", "band_mask", "Block", "LanguageModel", "ModelConfig",
    "SwiGLU", "cache_nbytes", "convert_softmax_to_hybrid", "set_spiking", "set_weight_quant", "spiking_linears",
]
