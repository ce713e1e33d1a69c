"""Spec section 5, checks 1-3 and 8: spike coding, spike-train codings, event-driven matmul, sparsity."""
import pytest

torch = pytest.importorskip("torch")

from spiking.attention import (  # noqa: E402
    QuantConfig, SparsityStats, SpikeConfig, SpikingLinear, decode, encode, event_matmul, expected_steps,
    fake_quant_weight, group_scales, popcount, spike, spike_counts, sparsity_report, zero_point_shift,
)
from spiking.attention.coding import VTH_MAX, VTH_MIN  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors: one torch thread is faster and kinder to a shared machine; restored after."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _rows(kind, n, d, gen, dtype=torch.float32):
    if kind == "gauss":
        return torch.randn(n, d, generator=gen, dtype=dtype)
    u = torch.rand(n, d, generator=gen, dtype=torch.float64) - 0.5
    return (-torch.sign(u) * torch.log1p(-2 * u.abs())).to(dtype)  # Laplace


def _real_activations(gen):
    """Inputs of the projections of a small model on stdlib text (pre-norm rows and FFN hiddens)."""
    from spiking.attention import LanguageModel, ModelConfig
    torch.manual_seed(0)
    m = LanguageModel(ModelConfig(d_model=256, n_layers=2, n_heads=4, n_kv_heads=4, head_dim=64, ffn_dim=512,
                                  window=16, layout="hybrid")).eval()
    import inspect
    text = inspect.getsource(inspect).encode()[:2048]
    tok = torch.tensor(list(text), dtype=torch.int64).view(4, -1)
    rows = []
    hooks = [lin.register_forward_pre_hook(lambda mod, inp: rows.append(inp[0].detach().reshape(-1, inp[0].shape[-1])))
             for lin in (m.layers[0].attn.q_proj, m.layers[1].ffn.down_proj)]
    with torch.no_grad():
        m(tok)
    for h in hooks:
        h.remove()
    return rows


@pytest.mark.parametrize("kind", ["gauss", "laplace"])
@pytest.mark.parametrize("k", [2.0, 3.0, 4.0])
def test_spike_counts_and_reconstruction(kind, k):
    gen = torch.Generator().manual_seed(1)
    x = _rows(kind, 64, 1024, gen) * 3.0
    s, vth = spike_counts(x, k)
    assert torch.equal(s, torch.round(s))
    assert torch.all((x - vth * s).abs() <= vth / 2 + 1e-6 * x.abs())
    ref = x.double().abs().mean(-1, keepdim=True) / k
    assert torch.allclose(vth.double(), ref, rtol=1e-6, atol=0)
    mean_abs = s.abs().mean(-1)
    assert torch.all((mean_abs - k).abs() <= 0.1), mean_abs


def test_spike_on_real_activations():
    rows = _real_activations(torch.Generator().manual_seed(2))
    for x in rows:
        s, vth = spike_counts(x, 3.0)
        assert torch.equal(s, torch.round(s))
        assert torch.all((x - vth * s).abs() <= vth / 2 + 1e-6 * x.abs())
        assert torch.allclose(vth.double(), (x.double().abs().mean(-1, keepdim=True) / 3).clamp(VTH_MIN, VTH_MAX), rtol=1e-6, atol=0)
        if x.shape[-1] >= 256:
            assert abs(float(s.abs().mean()) - 3.0) <= 0.25


def test_threshold_clamp_round_half_even_no_clip():
    x = torch.zeros(2, 8)
    _, vth = spike_counts(x)
    assert torch.all(vth == torch.tensor(VTH_MIN, dtype=torch.float32))
    big = torch.full((1, 8), 1e9)
    s, vth = spike_counts(big, 3.0)
    assert float(vth) == VTH_MAX and torch.all(s == torch.round(big / VTH_MAX))
    # mean|x| = 1 with k = 1 -> V_th = 1: 2.5 -> 2 and 1.5 -> 2 (half to even), 0.5 -> 0
    s, vth = spike_counts(torch.tensor([[2.5, 1.5, 0.0, 0.0]]), 1.0)
    assert float(vth) == 1.0 and s.tolist() == [[2.0, 2.0, 0.0, 0.0]]
    s, _ = spike_counts(torch.tensor([[0.5, -0.5, 1.0, 2.0]]), 1.0)
    assert s.tolist() == [[0.0, -0.0, 1.0, 2.0]]
    # an outlier gives a large burst count, never clipped
    row = torch.ones(1, 1024)
    row[0, 0] = 500.0
    s, _ = spike_counts(row, 3.0)
    assert float(s.max()) > 400


def test_straight_through_gradient():
    gen = torch.Generator().manual_seed(3)
    for dtype in (torch.float32, torch.float64):
        x = _rows("gauss", 8, 256, gen, dtype).requires_grad_(True)
        spike(x, 3.0).sum().backward()
        assert torch.equal(x.grad, torch.ones_like(x))


def test_spike_value_is_vth_times_count():
    gen = torch.Generator().manual_seed(4)
    x = _rows("laplace", 4, 300, gen, torch.float64)
    s, vth = spike_counts(x, 3.0)
    assert torch.equal(spike(x, 3.0), vth.double() * s)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_bad_k(bad):
    with pytest.raises(ValueError, match="k must be"):
        spike_counts(torch.randn(2, 4), bad)
    with pytest.raises(ValueError, match="k must be"):
        SpikeConfig(k=bad)


def test_bad_spike_inputs():
    with pytest.raises(TypeError, match="floating-point"):
        spike_counts(torch.arange(8).view(2, 4))
    with pytest.raises(ValueError, match="feature"):
        spike_counts(torch.zeros(3, 0))
    with pytest.raises(TypeError, match="k must be"):
        spike_counts(torch.randn(2, 4), "3")


# ---------------------------------------------------------------- check 2: codings
def _counts(lo, hi, seed):
    gen = torch.Generator().manual_seed(seed)
    s = torch.randint(lo, hi + 1, (48, 40), generator=gen, dtype=torch.int64)
    s[0, 0], s[0, 1] = lo, hi  # make the range's ends present
    return s


@pytest.mark.parametrize("lo,hi", [(-128, 127), (0, 255)])
def test_codings_lossless(lo, hi):
    s = _counts(lo, hi, 5)
    m = int(s.abs().max())
    cases = {
        "ternary": (encode(s, "ternary"), m, s.abs(), (-1, 0, 1)),
        "bidirectional": (encode(s, "bidirectional"), m.bit_length(), popcount(s.abs()), (-1, 0, 1)),
    }
    tc = encode(s, "twos_complement")
    T2 = m.bit_length() + 1
    cases["twos_complement"] = (tc, T2, popcount(torch.remainder(s, 2 ** T2)), (0, 1))
    u, lo_ = zero_point_shift(s)
    cases["binary"] = (encode(s, "binary", shift=True), int(u.max()), u, (0, 1))
    cases["bitwise"] = (encode(s, "bitwise", shift=True), int(u.max()).bit_length(), popcount(u), (0, 1))
    for name, (train, T, per_elem, values) in cases.items():
        assert torch.equal(decode(train), s), name
        assert train.steps == T == expected_steps(u if name in ("binary", "bitwise") else s, name), name
        assert set(train.spikes.unique().tolist()) <= set(values), name
        assert torch.equal(train.spike_count(), per_elem), name
    assert int(cases["binary"][0].offset) == lo_ == lo


def test_worked_examples_count_minus_five():
    s = torch.tensor([-5])
    assert encode(s, "ternary").spikes[:, 0].tolist() == [-1] * 5
    assert encode(s, "bidirectional").spikes[:, 0].tolist() == [-1, 0, -1]  # LSB first: -(1 + 4)
    tc = encode(s, "twos_complement")  # 4 bits of -5 = 1011 (MSB first) -> LSB first 1,1,0,1
    assert tc.steps == 4 and tc.spikes[:, 0].tolist() == [1, 1, 0, 1]
    assert encode(torch.tensor([5]), "binary").spikes[:, 0].tolist() == [1] * 5


def test_unsigned_codings_refuse_negative_counts():
    with pytest.raises(ValueError, match="non-negative"):
        encode(torch.tensor([-1, 2]), "binary")
    with pytest.raises(ValueError, match="non-negative"):
        encode(torch.tensor([-1, 2]), "bitwise")
    with pytest.raises(ValueError, match="unknown coding"):
        encode(torch.tensor([1]), "morse")
    with pytest.raises(ValueError, match="integer-valued"):
        encode(torch.tensor([0.5]), "ternary")


# ---------------------------------------------------------------- check 3: event-driven matmul
@pytest.mark.parametrize("coding", ["binary", "ternary", "bitwise", "bidirectional", "twos_complement"])
def test_event_matmul_exact_integer(coding):
    gen = torch.Generator().manual_seed(6)
    s = torch.randint(-12, 13, (6, 96), generator=gen)
    W = torch.randint(-50, 51, (40, 96), generator=gen)
    train = encode(s, coding, shift=coding in ("binary", "bitwise"))
    assert torch.equal(event_matmul(train, W), s @ W.t())
    # float64 weights holding integers: exact too
    assert torch.equal(event_matmul(train, W.double()), s.double() @ W.double().t())


@pytest.mark.parametrize("coding", ["binary", "ternary", "bitwise", "bidirectional", "twos_complement"])
def test_spiking_linear_event_equals_dense(coding):
    gen = torch.Generator().manual_seed(7)
    for dtype, rtol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        lin = SpikingLinear(128, 48, bias=True).to(dtype)
        with torch.no_grad():
            lin.bias.normal_(generator=gen)
        lin.set_spiking(3.0)
        x = _rows("laplace", 10, 128, gen, dtype).view(2, 5, 128)
        s, vth = spike_counts(x, 3.0)
        with torch.no_grad():
            ref = torch.nn.functional.linear(vth.to(dtype) * s, lin.weight, lin.bias)
            dense = lin(x)
        event = lin.forward_event(x, coding)
        scale = float(ref.abs().max())
        assert float((dense - ref).abs().max()) <= rtol * scale
        assert float((event - ref).abs().max()) <= rtol * scale
        # V_th * sum_t w_t (W s_t) + b equals V_th * (W s) + b
        train = encode(s.reshape(-1, 128), coding, shift=coding in ("binary", "bitwise"))
        lhs = vth.reshape(-1, 1).double() * event_matmul(train, lin.weight.double()) + lin.bias.double()
        rhs = vth.reshape(-1, 1).double() * (s.reshape(-1, 128).double() @ lin.weight.double().t()) + lin.bias.double()
        assert float((lhs - rhs).abs().max().detach()) <= 1e-12 * scale


def test_spiking_linear_bad_input():
    lin = SpikingLinear(16, 4)
    with pytest.raises(ValueError, match="last dimension 16"):
        lin(torch.randn(3, 15))
    with pytest.raises(TypeError, match="floating-point"):
        lin(torch.ones(3, 16, dtype=torch.int64))
    with pytest.raises(ValueError, match="needs a k"):
        lin.forward_event(torch.randn(3, 16))


# ---------------------------------------------------------------- INT8 group-128 weights
def test_int8_group128_fake_quant():
    gen = torch.Generator().manual_seed(8)
    W = torch.randn(24, 300, generator=gen, dtype=torch.float64)
    W[3, 5] = 40.0  # an outlier only coarsens its own row-group
    cfg = QuantConfig()
    sc = group_scales(W, cfg)
    assert sc.shape == (24, 3)
    Wq = fake_quant_weight(W, cfg)
    full = sc.repeat_interleave(128, 1)[:, :300]
    q = Wq / full
    assert torch.allclose(q, torch.round(q), atol=1e-9) and float(q.abs().max()) <= 127 + 1e-9
    assert torch.all((W - Wq).abs() <= full / 2 + 1e-12)
    assert float(sc[3, 0]) == pytest.approx(40.0 / 127) and float(sc[3, 1]) < 0.1
    with pytest.raises(ValueError, match="group_size"):
        QuantConfig(group_size=0)


# ---------------------------------------------------------------- check 8: sparsity
def _stats_for(x, k):
    st = SparsityStats()
    st.add(spike_counts(x, k)[0])
    return st.report()


def test_sparsity_gaussian_rows_and_identity():
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(256, 1024, generator=gen)
    r = _stats_for(x, 3.0)
    assert r["sparsity_T3"] == pytest.approx(0.567, abs=0.01)
    ident = 1 - (1 - r["silent_fraction"]) * r["spikes_per_firing_element"] / 3
    assert abs(ident - r["sparsity_T3"]) <= 1e-9
    vals = [_stats_for(x, k)["sparsity_T3"] for k in (2.0, 3.0, 4.0)]
    assert vals[0] > vals[1] > vals[2]


def test_sparsity_report_counts():
    s = torch.tensor([0, 0, 1, -3, 7, 8, 17, -1])
    r = sparsity_report(s)
    assert r["silent_fraction"] == 2 / 8
    assert r["mean_abs_count"] == (1 + 3 + 7 + 8 + 17 + 1) / 8
    assert r["share_abs_le_7"] == 6 / 8 and r["share_abs_gt_16"] == 1 / 8
    P = 1 + 2 + 3 + 1 + 2 + 1  # popcounts of 1, 3, 7, 8, 17, 1
    assert r["spikes_per_element"] == P / 8 and r["spikes_per_firing_element"] == P / 6
    assert r["sparsity_T3"] == 1 - P / 24
    with pytest.raises(ValueError, match="no spike counts"):
        SparsityStats().report()


def test_sparsity_on_text_batch_all_projections():
    """All spiked projection inputs of a small hybrid on held-out text, k = 3 (check 8's measurement rule)."""
    from spiking.attention import LanguageModel, ModelConfig, set_spiking
    import inspect
    torch.manual_seed(0)
    m = LanguageModel(ModelConfig(d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=16, ffn_dim=128,
                                  window=16, layout="hybrid")).eval()
    tok = torch.tensor(list(inspect.getsource(pytest.approx).encode()[:512]), dtype=torch.int64).view(4, -1)
    out = {}
    for k in (2.0, 3.0, 4.0):
        st = SparsityStats()
        set_spiking(m, k, st)
        with torch.no_grad():
            m(tok)
        out[k] = st.report()
        # 2 layers x (q, k, v, o, gate | q, k, v, o) + 2 x (gate, up, down) projections recorded
        assert len(st.per_layer) == 5 + 4 + 6
    set_spiking(m, None)
    r = out[3.0]
    assert r["sparsity_T3"] >= 0.55
    assert abs(1 - (1 - r["silent_fraction"]) * r["spikes_per_firing_element"] / 3 - r["sparsity_T3"]) <= 1e-9
    assert out[2.0]["sparsity_T3"] > out[3.0]["sparsity_T3"] > out[4.0]["sparsity_T3"]
