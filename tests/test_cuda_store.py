"""The growing store on the cuda backend's device (numba's simulator here; ``-m gpu`` on a GPU):
creation, learning, housekeeping and checkpoints against the CPU store, the reference."""
import numpy as np
import pytest

from spiking import LIF, Network, Population, Projection, Simulator
from spiking.growth import Grow
from spiking.plasticity import STDP, Cascade, Modulator

QUIET = LIF(tau_m_ms=1e6, tau_syn_ms=1e6, v_th=100.0, noise_sigma=0.0)


def _cuda_or_skip():
    pytest.importorskip("numba.cuda")
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA device and NUMBA_ENABLE_CUDASIM is not set")


def _store(sim):
    return list(sim.growing.values())[0]


def _sorted(s):
    o = np.lexsort((s["post"], s["pre"]))
    return {k: np.asarray(s[k])[o] for k in ("pre", "post", "weight", "quarantined")}


RULES = {
    # EMBER's rule: three-factor, eligibility and a cascade; creation scaled by the modulator
    "three-factor": (lambda: STDP.ember(a_plus=0.01, w_max=1.0, modulated=True, tau_e_ms=200.0, eta=0.05,
                                        cascade=Cascade(levels=4, tau0_ms=2_000.0, factor=4.0)),
                     dict(w_create=0.004, w_prune=0.003)),
    # plain pair STDP: weights move at every spike, creation at gain 1; a seeded fraction of pairs
    "plain, potential 0.5": (lambda: STDP(a_plus=0.01, a_minus=0.012, w_max=1.0, pairing="all"),
                             dict(w_create=0.004, w_prune=0.003, potential=0.5, potential_seed=11)),
    # creation gated on a presynaptic burst and on the post neuron's earlier spikes
    "gated": (lambda: STDP(a_plus=0.01, a_minus=0.004, w_max=1.0, pairing="all"),
              dict(w_create=0.004, w_prune=0.001, pre_active=1.5, post_coactive=0.5)),
}


def _net(name):
    rule, grow = RULES[name]
    proj = Projection("C", "C", Grow(initial_capacity=8, **grow), weight=0.0, delay_ms=1.0, plasticity=rule())
    return Network(populations=(Population("C", 90, QUIET),), projections=(proj,),
                   modulators=(Modulator("dopamine", tonic=0.0),), dt_ms=1.0, seed=3)


def _drive(sim, steps, rng):
    """Assembly A (bursting twice) then B 4 ms later every 30 ms, and sparse random spikes."""
    A, B = np.arange(0, 10), np.arange(40, 52)
    for _ in range(steps):
        t = sim.t % 30
        idx = A if t in (0, 2) else (B if t in (6, 8) else [])
        noise = np.nonzero(rng.random(90) < 0.01)[0]
        idx = np.union1d(idx, noise).astype(np.int64)
        if idx.size:
            sim.inject_spikes("C", idx)
        sim.step()


@pytest.mark.parametrize("name", list(RULES))
def test_the_device_store_grows_learns_and_prunes_like_the_cpu_store(name, monkeypatch):
    """The same synapse set (created and pruned: the same counts), weights within float32
    rounding, on the device with none of the CPU store's kernels called."""
    _cuda_or_skip()
    from spiking.backends.cuda_store import DeviceGrowingStore
    from spiking.kernels import growth as gk
    out = {}
    for be in ("numba", "cuda"):
        if be == "cuda":        # the device store must not fall back on the host's kernels
            for k in ("grow_post", "growing_post", "growing_pre", "prune_compact"):
                monkeypatch.setattr(gk, k, _refuse(k))
        sim = Simulator(_net(name), backend=be)
        st = _store(sim)
        assert isinstance(st, DeviceGrowingStore) == (be == "cuda")
        rng = np.random.default_rng(5)
        sim.set_modulator("dopamine", tonic=1.0)
        _drive(sim, 90, rng)
        sim.set_modulator("dopamine", tonic=0.0)
        _drive(sim, 20, rng)
        sim.advance_idle(890.0)             # to t = 1000 ms: cascade decay in closed form, housekeeping
        _drive(sim, 10, rng)                # the once-a-second step at 999 ms: housekeeping, homeostasis
        sim.set_modulator("dopamine", tonic=1.0)
        _drive(sim, 30, rng)                # creation into a tail again, on top of the rebuilt indices
        if be == "cuda":
            assert st._newer == "device"    # the host's copy was not needed while running
        stats = sim.store_stats("C->C")
        out[be] = (_sorted(sim.synapses("C->C")), stats, st.state(), sim.get_state("C", "v"))
    (sc, tc, ac, vc), (sg, tg, ag, vg) = out["numba"], out["cuda"]
    assert tc["created_total"] == tg["created_total"] > 50
    assert tc["pruned_total"] == tg["pruned_total"] > 0
    assert tc["synapses"] == tg["synapses"]
    for k in ("pre", "post", "quarantined"):
        assert np.array_equal(sc[k], sg[k]), k
    np.testing.assert_allclose(sg["weight"], sc["weight"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ag["x_pre"], ac["x_pre"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ag["x_post"], ac["x_post"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(vg, vc, rtol=1e-5, atol=1e-6)
    assert np.abs(vc).max() > 0


def _refuse(name):
    def f(*a, **k):
        raise AssertionError(f"the device store called the CPU kernel {name}")
    return f


def test_device_housekeeping_compacts_in_order_and_indexes_every_synapse():
    """Prune after host edits: the device keeps the CPU's slot order; its hash finds every pair
    and its indices list every synapse once, each neuron's list sorted by the other neuron."""
    _cuda_or_skip()
    from spiking.growth import potential_pairs  # noqa: F401  (the module the store comes from)
    rng = np.random.default_rng(2)
    pre, post = rng.integers(0, 90, 700), rng.integers(0, 90, 700)
    w = rng.uniform(0.0, 0.02, 700).astype(np.float32)
    stores = {}
    for be in ("numba", "cuda"):
        sim = Simulator(_net("three-factor"), backend=be)
        st = _store(sim)
        added = st.insert(pre, post, w)
        assert added > 600
        sim.zero_synapses("C->C", pre=np.arange(0, 20))          # an audit edit on the host's copy
        st.housekeeping()
        stores[be] = st
    cpu, dev = stores["numba"], stores["cuda"]
    assert cpu.n == dev.n < added and cpu.pruned_total == dev.pruned_total > 0
    a, b = cpu.state(), dev.state()
    for k in ("pre", "post", "weights", "level"):
        assert np.array_equal(a[k], b[k]), k
    d, n = dev.d, dev.n
    keys, vals = d.keys.copy_to_host(), d.vals.copy_to_host()
    live = keys != np.uint64(0xFFFFFFFFFFFFFFFF)
    assert live.sum() == n
    want = (b["pre"].astype(np.uint64) << np.uint64(32)) | b["post"].astype(np.uint64)
    got = dict(zip(keys[live].tolist(), vals[live].tolist()))
    assert all(got[int(k)] == j for j, k in enumerate(want))
    for ptr, idx, by, other, size in ((d.out_ptr, d.out_idx, b["pre"], b["post"], 90),
                                      (d.in_ptr, d.in_idx, b["post"], b["pre"], 90)):
        ptr, idx = ptr.copy_to_host(), idx.copy_to_host()[:n]
        assert np.array_equal(ptr, np.concatenate([[0], np.cumsum(np.bincount(by, minlength=size))]))
        assert np.array_equal(np.sort(idx), np.arange(n))
        for v in range(size):
            lst = idx[ptr[v]:ptr[v + 1]]
            assert np.all(by[lst] == v) and np.all(np.diff(other[lst]) > 0)


@pytest.mark.parametrize("n", [0, 1, 7, 1024, 2900])
def test_the_device_scan_gives_numpys_prefix_sums(n):
    _cuda_or_skip()
    from numba import cuda

    from spiking.backends import get_backend
    from spiking.backends.cuda_store import exclusive_scan
    be = get_backend("cuda")
    src = np.random.default_rng(n).integers(0, 5, max(n, 1)).astype(np.int64)
    dst = cuda.device_array(n + 1, np.int64)
    exclusive_scan(be, cuda.to_device(src), n, dst)
    assert np.array_equal(dst.copy_to_host(), np.concatenate([[0], np.cumsum(src[:n])]))


def test_a_growing_device_run_continues_exactly_from_its_checkpoint(tmp_path):
    """Save while the store learns and creates on the device, load, go on: the same synapses,
    weights and membranes as the run that went on without stopping."""
    _cuda_or_skip()
    sim = Simulator(_net("three-factor"), backend="cuda")
    rng = np.random.default_rng(9)
    sim.set_modulator("dopamine", tonic=1.0)
    _drive(sim, 70, rng)
    sim.save(tmp_path / "c.h5")
    back = Simulator.load(tmp_path / "c.h5", backend="cuda")
    state = rng.bit_generator.state
    outs = []
    for s in (sim, back):
        rng.bit_generator.state = state
        _drive(s, 50, rng)
        outs.append((s.synapses("C->C"), s.store_stats("C->C"), _store(s).state(), s.get_state("C", "v")))
    (sa, ta, aa, va), (sb, tb, ab, vb) = outs
    assert ta["created_total"] == tb["created_total"] > ta["synapses"] // 2 > 10
    sa, sb = _sorted(sa), _sorted(sb)
    for k in ("pre", "post", "weight"):
        assert np.array_equal(sa[k], sb[k]), k
    for k in ("x_pre", "x_post"):
        assert np.array_equal(aa[k], ab[k]), k
    assert np.array_equal(va, vb)
