"""Structural plasticity: a store that starts empty, grows from causal co-activation, prunes."""
import numpy as np
import pytest

from spiking import LIF, Network, Population, PoissonSource, Projection, Simulator, SpikeGenerator
from spiking.growth import Grow
from spiking.params import ParameterError
from spiking.plasticity import STDP

QUIET = LIF(tau_m_ms=1e6, tau_syn_ms=1e6, v_th=100.0, noise_sigma=0.0)


def _assembly_net(w_create=0.004, w_prune=0.002, a_plus=0.01):
    from spiking.plasticity import Cascade
    # a fast cascade so that idle decay is visible within a test: level 0 decays with 10 s
    rule = STDP.ember(a_plus=a_plus, w_max=1.0, cascade=Cascade(levels=5, tau0_ms=10_000.0, factor=4.7))
    pops = (Population("C", 400, QUIET),)
    proj = Projection("C", "C", Grow(w_create=w_create, w_prune=w_prune, initial_capacity=16), weight=0.0,
                      delay_ms=1.0, plasticity=rule)
    return Network(populations=pops, projections=(proj,), dt_ms=1.0, seed=3)


def _drive(sim, steps, pattern):
    """pattern(t) -> indices to inject at step t."""
    for _ in range(steps):
        idx = pattern(sim.t)
        if len(idx):
            sim.inject_spikes("C", idx)
        sim.step()


def test_store_starts_empty_and_correlated_assemblies_get_connected():
    sim = Simulator(_assembly_net())
    assert sim.store_stats("C->C")["synapses"] == 0
    A, B = np.arange(0, 20), np.arange(100, 120)
    # every 50 ms assembly A fires, and B fires 5 ms later: causal A -> B pairs
    sim.begin_consolidation()
    _drive(sim, 3000, lambda t: A if t % 50 == 0 else (B if t % 50 == 5 else []))
    sim.end_consolidation()
    st = sim.store_stats("C->C")
    assert st["synapses"] > 0 and st["created_total"] >= 400
    s = sim.synapses("C->C")
    ab = np.isin(s["pre"], A) & np.isin(s["post"], B)
    assert ab.sum() == 400                           # every A -> B pair exists
    assert np.all(s["weight"][ab] > 0.05)            # and they grew
    ba = np.isin(s["pre"], B) & np.isin(s["post"], A)
    assert np.all(s["weight"][ba] < 0.02) if ba.any() else True
    pairs = set(zip(s["pre"].tolist(), s["post"].tolist()))
    assert len(pairs) == s["pre"].size               # no duplicate synapse
    assert st["capacity"] >= st["synapses"] and st["capacity"] > 16   # grew its capacity
    # consolidated (promoted) associations survive a minute of idle decay
    sim.advance_idle(60_000.0)
    s = sim.synapses("C->C")
    assert (np.isin(s["pre"], A) & np.isin(s["post"], B)).sum() == 400


def test_uncorrelated_noise_creates_few_and_they_are_pruned():
    sim = Simulator(_assembly_net(w_create=0.008))
    g = np.random.default_rng(1)
    _drive(sim, 5000, lambda t: np.nonzero(g.random(400) < 0.002)[0])   # 2 Hz independent noise
    st = sim.store_stats("C->C")
    n_spikes = 400 * 2 * 5
    # ~4 per spike (presynaptic spikes in the last 4.5 ms, where a_plus e^(-dt/20) > w_create)
    assert 0 < st["created_total"] < 6 * n_spikes
    assert st["synapses"] < 0.1 * 400 * 400          # sparse: a few % of the possible pairs
    sim.advance_idle(60_000.0)                         # never consolidated: level 0 decays away
    st = sim.store_stats("C->C")
    assert st["synapses"] == 0 and st["pruned_total"] == st["created_total"]


def test_growing_store_transmits_its_weights():
    rule = STDP(a_plus=0.5, a_minus=0.0, w_max=1.0)
    pre = SpikeGenerator("G", 1, times_ms=(10.0, 40.0), indices=(0, 0))
    post = Population("P", 1, QUIET)
    net = Network(populations=(post,), sources=(pre,),
                  projections=(Projection("G", "P", Grow(w_create=0.1, w_prune=0.01), weight=0.0, delay_ms=1.0,
                                          plasticity=rule),), dt_ms=1.0)
    sim = Simulator(net)
    sim.inject_spikes("P", [0], at_step=13)      # 2 ms after the arrival at 11 ms: creates w = 0.5 e^-0.1
    sim.run(60.0)
    w = float(sim.weights("G->P")[0])
    assert w == pytest.approx(0.5 * np.exp(-2.0 / 20.0), rel=1e-5)
    # the second spike (arrival at 41 ms) delivered w to the membrane
    assert sim.get_state("P", "v")[0] == pytest.approx(w, rel=1e-4)   # (tau_m = 1e6 ms: a trace of leak)


def test_growing_store_checkpoint_roundtrip(tmp_path):
    sim = Simulator(_assembly_net())
    A, B = np.arange(0, 10), np.arange(50, 60)
    pattern = lambda t: A if t % 40 == 0 else (B if t % 40 == 4 else [])  # noqa: E731
    _drive(sim, 1500, pattern)
    sim.save(tmp_path / "g.h5")
    back = Simulator.load(tmp_path / "g.h5")
    _drive(sim, 1000, pattern)
    _drive(back, 1000, pattern)
    a, b = sim.synapses("C->C"), back.synapses("C->C")
    assert np.array_equal(a["pre"], b["pre"]) and np.array_equal(a["post"], b["post"])
    assert np.array_equal(a["weight"], b["weight"])


def test_the_stores_indices_are_the_stable_sorts_of_its_slots():
    """The by-pre / by-post indices (a counting sort) equal numpy's stable argsort and bincount, and a
    housekeeping that prunes nothing keeps them (and the hash table) as they were."""
    from spiking.kernels.order import counting_sort
    g = np.random.default_rng(5)
    keys = g.integers(0, 300, 5000).astype(np.int32)
    for n in (0, 1, 4000, 5000):
        ptr, order = counting_sort(keys, np.arange(n), 300)
        assert np.array_equal(order, np.argsort(keys[:n], kind="stable"))
        assert np.array_equal(ptr, np.concatenate(([0], np.cumsum(np.bincount(keys[:n], minlength=300)))))
    sim = Simulator(_assembly_net())
    A, B = np.arange(0, 20), np.arange(100, 120)
    sim.begin_consolidation()
    _drive(sim, 1200, lambda t: A if t % 50 == 0 else (B if t % 50 == 5 else []))
    sim.end_consolidation()
    st = next(iter(sim.growing.values()))
    st.housekeeping()
    n = st.n
    assert n > 0 and st.tail_start == n
    for ptr, idx, key, size in ((st.out_ptr, st.out_idx, st.pre, st.n_pre), (st.in_ptr, st.in_idx, st.post, st.n_post)):
        assert np.array_equal(idx, np.argsort(key[:n], kind="stable"))
        assert np.array_equal(ptr, np.concatenate(([0], np.cumsum(np.bincount(key[:n], minlength=size)))))
    before = (st.out_idx, st.in_idx, st.keys.copy())
    st.housekeeping()                                # nothing to prune, nothing new: no rebuild
    assert st.out_idx is before[0] and st.in_idx is before[1] and np.array_equal(st.keys, before[2])


def test_quarantine_in_a_growing_store():
    sim = Simulator(_assembly_net())
    A, B = np.arange(0, 5), np.arange(100, 105)
    _drive(sim, 500, lambda t: A if t % 50 == 0 else (B if t % 50 == 5 else []))
    n = sim.quarantine("C->C", pre=A[:1])
    assert n == 5
    s = sim.synapses("C->C", pre=A[:1])
    assert s["quarantined"].all() and np.all(s["weight"] > 0)


def test_bad_grow_parameters():
    with pytest.raises(ParameterError, match="w_create"):
        Grow(w_create=0.001, w_prune=0.01)
    with pytest.raises(ParameterError, match="plasticity"):
        Projection("C", "C", Grow())


def test_three_factor_store_grows_only_while_the_modulator_is_on():
    from spiking.plasticity import Modulator
    rule = STDP.ember(a_plus=0.01, w_max=1.0, modulated=True, tau_e_ms=500.0, eta=0.002)
    net = Network(populations=(Population("C", 300, QUIET),),
                  projections=(Projection("C", "C", Grow(w_create=0.004, w_prune=0.001), weight=0.0, delay_ms=1.0,
                                          plasticity=rule),),
                  modulators=(Modulator("dopamine", tonic=0.0),), dt_ms=1.0, seed=2)
    sim = Simulator(net)
    A, B = np.arange(0, 10), np.arange(50, 60)
    pattern = lambda t: A if t % 50 == 0 else (B if t % 50 == 5 else [])  # noqa: E731
    _drive(sim, 1000, pattern)                       # idle: D = 0, nothing is learned or created
    assert sim.store_stats("C->C")["created_total"] == 0
    sim.set_modulator("dopamine", tonic=1.0)         # a message is being presented
    _drive(sim, 1000, pattern)
    s = sim.synapses("C->C")
    ab = np.isin(s["pre"], A) & np.isin(s["post"], B)
    assert ab.sum() == 100 and np.all(s["weight"][ab] > 0.004)


def test_store_holds_an_ember_sized_lateral_layer():
    """150,000 neurons, growing to ~10^5 synapses: memory follows the synapses, not N^2."""
    n = 150_000
    rule = STDP(a_plus=0.01, a_minus=0.0, w_max=1.0)
    net = Network(populations=(Population("concept", n, QUIET),),
                  projections=(Projection("concept", "concept", Grow(w_create=0.005, w_prune=0.001,
                                                                     candidate_window_ms=5.0),
                                          weight=0.0, delay_ms=1.0, plasticity=rule),), dt_ms=1.0, seed=1)
    sim = Simulator(net)
    g = np.random.default_rng(0)
    for k in range(300):                      # 300 episodes: assembly X (20) then Y (20) 2 ms later
        x, y = g.choice(n, 20, replace=False), g.choice(n, 20, replace=False)
        sim.inject_spikes("concept", x)
        sim.step()
        sim.step()
        sim.inject_spikes("concept", y)
        for _ in range(10):
            sim.step()
    st = sim.store_stats("concept->concept")
    assert st["synapses"] >= 300 * 400 * 0.95
    assert st["bytes"] < 64 * st["capacity"] + 20 * (n + 1)     # per-synapse storage plus two row pointers
    assert st["bytes"] < 30e6                                      # a dense 150k x 150k float32 matrix: 90 GB


def test_growing_store_on_the_cuda_backend_matches_the_cpu(tmp_path):
    """The store stays in host memory on a device backend; spikes and deliveries cross each step."""
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA device and NUMBA_ENABLE_CUDASIM is not set")
    from spiking.plasticity import Cascade
    rule = STDP.ember(a_plus=0.01, w_max=1.0, cascade=Cascade(levels=5, tau0_ms=10_000.0, factor=4.7))
    net = Network(populations=(Population("C", 60, QUIET),),
                  projections=(Projection("C", "C", Grow(w_create=0.004, w_prune=0.002, initial_capacity=8),
                                          weight=0.0, delay_ms=1.0, plasticity=rule),), dt_ms=1.0, seed=3)
    A, B = np.arange(0, 6), np.arange(30, 36)

    def pattern(t):
        return A if t % 25 == 0 else (B if t % 25 == 4 else [])

    out = {}
    for be in ("numba", "cuda"):
        sim = Simulator(net, backend=be)
        sim.begin_consolidation()
        for _ in range(260):
            idx = pattern(sim.t)
            if len(idx):
                sim.inject_spikes("C", idx)
            sim.step()
        sim.end_consolidation()
        sim.advance_idle(2_000.0)
        out[be] = (sim.synapses("C->C"), sim.store_stats("C->C"), sim.get_state("C", "v"))
        if be == "cuda":
            sim.save(tmp_path / "g.h5")
            back = Simulator.load(tmp_path / "g.h5", backend="cuda")
            for s_ in (sim, back):
                s_.inject_spikes("C", A)
                for _ in range(10):
                    s_.step()
            np.testing.assert_array_equal(sim.get_state("C", "v"), back.get_state("C", "v"))
            assert sim.store_stats("C->C")["synapses"] == back.store_stats("C->C")["synapses"]
    (sc, stc, vc), (sg, stg, vg) = out["numba"], out["cuda"]
    assert stc["synapses"] == stg["synapses"] >= 36 and stc["created_total"] == stg["created_total"]
    key = lambda s_: np.lexsort((s_["post"], s_["pre"]))  # noqa: E731
    kc, kg = key(sc), key(sg)
    np.testing.assert_array_equal(sc["pre"][kc], sg["pre"][kg])
    np.testing.assert_array_equal(sc["post"][kc], sg["post"][kg])
    np.testing.assert_allclose(sc["weight"][kc], sg["weight"][kg], rtol=1e-6, atol=1e-7)
    ab = np.isin(sg["pre"], A) & np.isin(sg["post"], B)
    assert ab.sum() == 36 and np.all(sg["weight"][ab] > 0.02)
    assert np.abs(vc).max() > 0  # the store delivered into the membranes ...
    np.testing.assert_allclose(vc, vg, rtol=1e-5, atol=1e-6)  # ... the same on both backends


def test_homeostasis_caps_each_neurons_incoming_weight_in_a_growing_store():
    from spiking.plasticity import STDP as _STDP

    def run(cap):
        rule = _STDP.ember(a_plus=0.02, w_max=1.0, max_total_in=cap)
        net = Network(populations=(Population("C", 200, QUIET),),
                      projections=(Projection("C", "C", Grow(w_create=0.004, w_prune=0.002, initial_capacity=16),
                                              weight=0.0, delay_ms=1.0, plasticity=rule),), dt_ms=1.0, seed=3)
        sim = Simulator(net)
        A, B = np.arange(0, 30), np.arange(100, 130)
        _drive(sim, 3000, lambda t: A if t % 50 == 0 else (B if t % 50 == 5 else []))
        s = sim.synapses("C->C")
        return np.bincount(s["post"], weights=s["weight"], minlength=200), s

    free, s_free = run(None)
    capped, s_cap = run(1.5)
    assert free[100:130].min() > 3.0                      # without the cap, B's inputs sum well above it
    # the run ends on a housekeeping step (once per simulated second): every neuron is at or below the cap
    assert capped.max() <= 1.5 * (1 + 1e-5) and capped[100:130].min() > 1.5 * (1 - 1e-5)
    ab = np.isin(s_cap["pre"], np.arange(0, 30)) & np.isin(s_cap["post"], np.arange(100, 130))
    assert ab.sum() == 900                                # the association itself is kept, only scaled


def _gated_net(**grow):
    rule = STDP.ember(a_plus=0.01, w_max=1.0)
    proj = Projection("C", "C", Grow(w_create=0.004, w_prune=0.002, initial_capacity=16, **grow), weight=0.0,
                      delay_ms=1.0, plasticity=rule)
    return Network(populations=(Population("C", 400, QUIET),), projections=(proj,), dt_ms=1.0, seed=3)


def test_potential_pairs_limit_creation_to_a_seeded_fraction():
    from spiking.growth import potential_pairs
    A, B = np.arange(0, 40), np.arange(100, 140)
    counts = {}
    for p in (1.0, 0.25):
        sim = Simulator(_gated_net(potential=p, potential_seed=7))
        sim.begin_consolidation()
        _drive(sim, 1000, lambda t: A if t % 50 == 0 else (B if t % 50 == 5 else []))
        sim.end_consolidation()
        s = sim.synapses("C->C")
        ab = np.isin(s["pre"], A) & np.isin(s["post"], B)
        counts[p] = int(ab.sum())
        grow = sim.net.projections[0].connectivity
        assert potential_pairs(grow, s["pre"], s["post"]).all()
    assert counts[1.0] == 1600
    expect = potential_pairs(Grow(potential=0.25, potential_seed=7), np.repeat(A, 40), np.tile(B, 40)).sum()
    assert counts[0.25] == expect and 0.15 * 1600 < expect < 0.35 * 1600


def test_pre_active_needs_a_presynaptic_burst_to_create():
    A, B = np.arange(0, 20), np.arange(100, 120)
    single = lambda t: A if t % 50 == 0 else (B if t % 50 == 5 else [])                     # noqa: E731
    burst = lambda t: A if t % 50 in (0, 2) else (B if t % 50 == 5 else [])                 # noqa: E731
    made = {}
    for name, pattern in (("single", single), ("burst", burst)):
        sim = Simulator(_gated_net(pre_active=1.5))
        sim.begin_consolidation()
        _drive(sim, 500, pattern)
        sim.end_consolidation()
        made[name] = sim.store_stats("C->C")["created_total"]
    assert made["single"] == 0 and made["burst"] >= 400


def test_bad_potential_and_pre_active_are_refused():
    for kw, msg in (({"potential": 0.0}, "potential"), ({"potential": 1.5}, "potential"),
                    ({"pre_active": -1.0}, "pre_active"), ({"potential_seed": -1}, "potential_seed")):
        with pytest.raises(ParameterError, match=msg):
            Grow(**kw)


@pytest.mark.parametrize("drive", ["source", "inject"])
def test_the_unindexed_tail_gives_the_same_results_as_a_reindexed_store(drive):
    """Synapses created since the last housekeeping sit in a tail that the step kernels sort per
    step; results must be those of a store reindexed every step, bit for bit. ``inject``: spikes
    injected on a noisy population, so some neurons are listed twice in a step."""
    from spiking import Pairs
    from spiking.plasticity import Cascade, Modulator

    def net():
        rule = STDP.ember(a_plus=0.02, w_max=1.0, modulated=(drive == "source"), tau_e_ms=200.0, eta=0.05,
                          cascade=Cascade(levels=3, tau0_ms=10_000.0, factor=4.7))
        pops = (Population("C", 300, LIF(noise_sigma=0.3, v_th=0.9)),)
        projs = [Projection("C", "C", Grow(w_create=0.004, w_prune=0.002, initial_capacity=16), weight=0.0,
                            delay_ms=1.0, plasticity=rule)]
        srcs = ()
        if drive == "source":
            srcs = (PoissonSource("P", 300, 50.0),)
            projs.append(Projection("P", "C", Pairs(tuple(range(300)), tuple(range(300))), weight=2.0))
        return Network(populations=pops, sources=srcs, projections=tuple(projs), dt_ms=1.0, seed=5,
                       modulators=(Modulator("dopamine", tonic=1.0),))

    runs = []
    for reindex_every_step in (False, True):
        sim = Simulator(net())
        pi = sim._projection("C->C")[0]
        store = sim.growing[pi]
        sim.begin_consolidation()
        g = np.random.default_rng(2)
        for _ in range(600):
            if drive == "inject":
                sim.inject_spikes("C", np.nonzero(g.random(300) < 0.05)[0])
            sim.step()
            if reindex_every_step:
                store._reindex()
        sim.end_consolidation()
        runs.append((sim.synapses("C->C"), sim.get_state("C", "v").copy(), store))
    (a, va, sa), (b, vb, sb) = runs
    assert sa.n == sb.n and sa.n > 100 and sa.tail_start < sa.n      # the plain run really used a tail
    for k in ("pre", "post", "weight"):
        assert np.array_equal(a[k], b[k])
    assert np.array_equal(sa.fdata[:, :sa.n], sb.fdata[:, :sb.n])     # eligibility too
    assert np.array_equal(va, vb)


def _replay_net(cascade=True):
    from spiking.plasticity import Cascade, Modulator
    rule = STDP.ember(a_plus=0.01, w_max=1.0, modulated=True, tau_e_ms=500.0, eta=0.002,
                      cascade=Cascade(levels=5, tau0_ms=1e9, factor=4.7) if cascade else None)
    return Network(populations=(Population("C", 300, QUIET),),
                   projections=(Projection("C", "C", Grow(w_create=0.004, w_prune=0.001), weight=0.0, delay_ms=1.0,
                                           plasticity=rule),),
                   modulators=(Modulator("dopamine", tonic=0.0),), dt_ms=1.0, seed=2)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_consolidation_depression_scale_stops_the_replay_from_lowering_weights(backend):
    """begin_consolidation(depression=0): a replay of the reverse order (B before A, which depresses
    A -> B) lowers no weight, while depression=1 lowers them; the scales are back after the replay."""
    A, B = np.arange(0, 10), np.arange(50, 60)
    learn = lambda t: A if t % 50 == 0 else (B if t % 50 == 5 else [])      # noqa: E731
    reverse = lambda t: B if t % 50 == 0 else (A if t % 50 == 5 else [])    # noqa: E731
    got = {}
    for dep in (0.0, 1.0):
        sim = Simulator(_replay_net(), backend=backend)
        sim.set_modulator("dopamine", tonic=1.0)
        _drive(sim, 1000, learn)
        before = sim.synapses("C->C")
        ab0 = before["weight"][np.isin(before["pre"], A) & np.isin(before["post"], B)]
        assert ab0.size == 100 and np.all(ab0 > 0.004)
        sim.begin_consolidation(depression=dep)
        _drive(sim, 1000, reverse)
        sim.end_consolidation()
        after = sim.synapses("C->C")
        ab = np.isin(after["pre"], A) & np.isin(after["post"], B)
        got[dep] = after["weight"][ab]
        assert sim.growing[0].rt.dep_scale is None         # the rule has no depression factor: back to none
    assert got[0.0].size == 100 and np.all(got[0.0] >= ab0 - 1e-7)
    assert got[1.0].mean() < ab0.mean() - 0.002


def test_consolidation_depression_scale_is_the_same_on_numpy_and_numba():
    A, B = np.arange(0, 10), np.arange(50, 60)
    mixed = lambda t: A if t % 40 == 0 else (B if t % 40 in (5, 30) else [])   # noqa: E731
    out = []
    for backend in ("numpy", "numba"):
        sim = Simulator(_replay_net(), backend=backend)
        sim.set_modulator("dopamine", tonic=1.0)
        sim.begin_consolidation(learning_rate=0.5, depression=0.25)
        _drive(sim, 800, mixed)
        sim.end_consolidation()
        out.append(sim.synapses("C->C"))
    for k in ("pre", "post", "weight", "level"):
        assert np.array_equal(out[0][k], out[1][k]), k


def test_consolidation_depression_needs_levels_and_a_sane_value():
    from spiking import Pairs
    from spiking.plasticity import Modulator
    rule = STDP.ember(a_plus=0.01, w_max=1.0, modulated=True)        # a fixed projection, no cascade
    net = Network(populations=(Population("C", 10, QUIET),),
                  projections=(Projection("C", "C", Pairs((0, 1), (2, 3)), weight=0.1, delay_ms=1.0, plasticity=rule,
                                          name="fixed"),),
                  modulators=(Modulator("dopamine", tonic=0.0),), dt_ms=1.0, seed=2)
    sim = Simulator(net)
    with pytest.raises(ParameterError, match="cascade levels.*'fixed'"):
        sim.begin_consolidation(depression=0.0)
    sim.begin_consolidation(depression=1.0)                # no change asked: fine without levels
    sim.end_consolidation()
    grow = Simulator(_replay_net(cascade=False))           # a growing store keeps levels: accepted
    grow.begin_consolidation(depression=0.0)
    grow.end_consolidation()
    assert grow.growing[0].rt.dep_scale is None
    for bad in (-1.0, float("nan")):
        with pytest.raises(ParameterError, match="depression"):
            Simulator(_replay_net()).begin_consolidation(depression=bad)
