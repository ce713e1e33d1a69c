"""Checks that need a real GPU: ``NUMBA_ENABLE_CUDASIM=0 pytest -m gpu`` (deselected by default; on
a machine without one they skip). Everything they exercise is also tested under numba's simulator
at small sizes (tests/test_cuda_blocks.py, test_backends.py, test_growth.py)."""
import json
import os

import numpy as np
import pytest

from spiking import FixedInDegree, LIF, Network, Population, Projection, Simulator, SpikeCounts

pytestmark = pytest.mark.gpu


def _real_gpu_or_skip():
    from numba import config
    if config.ENABLE_CUDASIM:
        pytest.skip("numba's CUDA simulator is on: run with NUMBA_ENABLE_CUDASIM=0 on a GPU")
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA GPU")


def test_device_blocks_at_scale_agree_with_numba():
    """20,000 + 5,000 LIF, 100 ms: per-neuron spike counts agree (float sums in another order may
    flip a neuron at its threshold: at most 0.1 % of neurons), totals within 1 %."""
    _real_gpu_or_skip()
    net = Network(populations=(Population("a", 20_000, LIF(noise_sigma=0.35)),
                               Population("b", 5_000, LIF(noise_sigma=0.3))),
                  projections=(Projection("a", "b", FixedInDegree(100), weight=0.01, delay_ms=1.0),
                               Projection("b", "a", FixedInDegree(25), weight=0.02, inhibitory=True, delay_ms=1.0),
                               Projection("a", "a", FixedInDegree(50), weight=0.005, delay_ms=2.0)),
                  dt_ms=1.0, seed=7)
    out = {}
    for be in ("numba", "cuda"):
        sim = Simulator(net, backend=be)
        mon = sim.add_monitor(SpikeCounts("a"))
        assert sim._blocks.why_not() is None
        sim.run(100.0, progress=False)
        out[be] = mon.counts
    a, b = out["numba"], out["cuda"]
    assert a.sum() > 1000
    assert abs(int(a.sum()) - int(b.sum())) <= 0.01 * a.sum()
    assert np.mean(a != b) <= 1e-3


def test_ember_idles_in_device_blocks_on_the_gpu():
    """EMBER at full scale after the AC6 dialogue idles in device blocks: host transfers per
    simulated second (blocks, housekeeping, the detector's bins), not per step."""
    _real_gpu_or_skip()
    from agents.ember.substrate import Substrate, SubstrateConfig
    from encoders.hashing import HashingEmbedder
    sub = Substrate(SubstrateConfig.at_scale(1.0, 0), backend="cuda", encoder=HashingEmbedder())
    d = json.load(open(os.path.join(os.path.dirname(__file__), "..", "agents", "ember", "data", "dialogue_ac6.json")))
    for i, m in enumerate(d["messages"], 1):
        sub.present(m["text"], m["labels"], kinds=d["kinds"], message_id=i)
    sub.idle(1.0)                       # the housekeeping at the second's end indexes the new synapses
    sim, be = sub.sim, sub.sim.backend
    assert sim._blocks.why_not() is None
    c0 = be.transfers
    sub.idle(3.0)
    assert be.transfers - c0 <= 3 * 100     # 3,000 steps
    assert sub._counts.counts.sum() > 0


def test_the_growing_store_on_the_gpu_matches_the_cpu_and_repeats_exactly():
    """The device store (creation by compare-and-swap, housekeeping by device scans) on a real GPU,
    3,000 neurons with causal assemblies and random spikes for 1.3 s: the CPU's synapse set; and two
    GPU runs identical to the last bit (deliveries in fixed point, whatever the threads' order)."""
    _real_gpu_or_skip()
    from spiking.growth import Grow
    from spiking.plasticity import STDP, Cascade, Modulator
    quiet = LIF(tau_m_ms=1e6, tau_syn_ms=1e6, v_th=100.0, noise_sigma=0.0)
    rule = STDP.ember(a_plus=0.01, w_max=1.0, modulated=True, tau_e_ms=200.0, eta=0.05,
                      cascade=Cascade(levels=4, tau0_ms=2_000.0, factor=4.0))
    net = Network(populations=(Population("C", 3000, quiet),),
                  projections=(Projection("C", "C", Grow(w_create=0.004, w_prune=0.003), weight=0.0, delay_ms=1.0,
                                          plasticity=rule),),
                  modulators=(Modulator("dopamine", tonic=1.0),), dt_ms=1.0, seed=3)
    out = []
    for be in ("numba", "cuda", "cuda"):
        sim = Simulator(net, backend=be)
        rng = np.random.default_rng(5)
        for _ in range(1300):
            t = sim.t % 40
            idx = np.arange(0, 60) if t in (0, 2) else (np.arange(1000, 1080) if t in (6, 8) else [])
            idx = np.union1d(idx, np.nonzero(rng.random(3000) < 0.002)[0]).astype(np.int64)
            if idx.size:
                sim.inject_spikes("C", idx)
            sim.step()
        s = sim.synapses("C->C")
        o = np.lexsort((s["post"], s["pre"]))
        out.append(({k: s[k][o] for k in ("pre", "post", "weight")}, sim.store_stats("C->C"), sim.get_state("C", "v")))
    (sc, tc, vc), (s1, t1, v1), (s2, t2, v2) = out
    assert tc["created_total"] == t1["created_total"] > 5000 and tc["pruned_total"] == t1["pruned_total"] > 0
    assert np.array_equal(sc["pre"], s1["pre"]) and np.array_equal(sc["post"], s1["post"])
    np.testing.assert_allclose(s1["weight"], sc["weight"], rtol=1e-5, atol=1e-7)
    for k in ("pre", "post", "weight"):
        assert np.array_equal(s1[k], s2[k]), k
    assert np.array_equal(v1, v2)
