"""The two attention scripts: configuration checks and tiny end-to-end runs (timings are not asserted)."""
import json
import math

import pytest

torch = pytest.importorskip("torch")

from sims import attention_decode, spiking_lm  # noqa: E402


def test_corpus_is_deterministic_stdlib_source():
    tr1, va1, info1 = spiking_lm.load_corpus(200_000, 0.05)
    tr2, va2, info2 = spiking_lm.load_corpus(200_000, 0.05)
    assert torch.equal(tr1, tr2) and torch.equal(va1, va2) and info1 == info2
    assert info1["bytes"] == 200_000 and len(va1) == 10_000 and len(tr1) == 190_000
    assert info1["first"] == spiking_lm.stdlib_files()[0].name
    assert int(tr1.max()) < 256 and int(tr1.min()) >= 0


def test_lm_config_validation():
    with pytest.raises(ValueError, match="steps"):
        spiking_lm.LMRunConfig(steps=0)
    with pytest.raises(ValueError, match="ks"):
        spiking_lm.LMRunConfig(ks=(3, 0))
    with pytest.raises(ValueError, match="even number of layers"):
        spiking_lm.LMRunConfig(n_layers=3)
    assert spiking_lm.LMRunConfig().short_steps == 160


def test_tiny_lm_run_end_to_end():
    cfg = spiking_lm.LMRunConfig(d_model=32, n_heads=2, head_dim=16, ffn_dim=64, seq_len=32, window=8, batch=4,
                                 steps=6, corpus_bytes=60_000, eval_batches=2, ste_steps=2)
    n = torch.get_num_threads()
    try:
        r = spiking_lm.run(cfg, progress=False)
    finally:
        torch.set_num_threads(n)
    for key in ("baseline", "hybrid_scratch", "hybrid_scratch_short", "converted"):
        assert math.isfinite(r[key]) and r[key] > 1
    assert set(r["spiked"]) == set(r["sparsity_T3"]) == {"2", "3", "4", "8"}
    assert r["sparsity_T3"]["2"] > r["sparsity_T3"]["3"] > r["sparsity_T3"]["4"] > r["sparsity_T3"]["8"]
    assert len(r["_curves"]["baseline"]) == 6 and len(r["_curves"]["converted"]) == 1
    # the STE comparison is two-sided, against the float model fine-tuned for the same steps
    assert math.isfinite(r["ste_float_same_steps"]) and len(r["_curves"]["ste_float"]) == 2
    c = r["checks"]
    assert c["ste_k3_over_float_same_steps"] == pytest.approx(r["ste_k3"] / r["ste_float_same_steps"])
    assert c["ste_within_1pct_two_sided"] == (abs(c["ste_k3_over_float_same_steps"] - 1) <= 0.01)
    text = spiking_lm.format_table(r)
    assert "spiked k=3" in text and "checks:" in text
    json.dumps({k: v for k, v in r.items() if not k.startswith("_")})


def test_decode_bench_small_and_validation():
    with pytest.raises(ValueError, match="at least 50"):
        attention_decode.DecodeBenchConfig(steps=10)
    with pytest.raises(ValueError, match="window"):
        attention_decode.DecodeBenchConfig(window=0)
    cfg = attention_decode.DecodeBenchConfig(heads=2, head_dim=8, window=32, short=64, long=2048, steps=50,
                                             warmup=1, round_steps=25)
    n = torch.get_num_threads()
    try:
        r = attention_decode.run(cfg, progress=False)
    finally:
        torch.set_num_threads(n)
    cb = r["cache_bytes"]
    assert cb["gla@64"] == cb["gla@2048"] == 2 * 8 * 8 * 4
    assert cb["swa@64"] == cb["swa@2048"] == 32 * 2 * 2 * 8 * 4
    assert cb["softmax@2048"] / cb["softmax@64"] > 10  # grows with the context (plus the timed steps)
    assert all(r[k] > 0 for k in ("gla_ratio", "swa_ratio", "softmax_ratio"))
    # end to end: the whole hybrid model's caches do not grow with the context; the all-softmax model's do
    assert cb["e2e_hybrid@64"] == cb["e2e_hybrid@2048"]
    assert cb["e2e_softmax@2048"] / cb["e2e_softmax@64"] > 10
    assert r["e2e_hybrid_ratio"] > 0 and r["e2e_softmax_ratio"] > 0
    assert "e2e_hybrid" in attention_decode.format_table(r, cfg)


@pytest.mark.slow
def test_quick_reproduction_meets_its_check():
    """The attention-lm check: k = 3 spiking within 3 % of the converted hybrid, conversion beats scratch."""
    r = spiking_lm.run(spiking_lm.QUICK, progress=False)
    assert r["spiked"]["3"] <= 1.03 * r["converted"]
    assert r["converted"] < r["hybrid_scratch_short"]
    assert r["sparsity_T3"]["3"] >= 0.55
