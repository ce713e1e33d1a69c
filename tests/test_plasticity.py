"""STDP, three-factor learning, cascade decay, audit, checkpoints of plastic state."""
import math

import numpy as np
import pytest

from spiking import (LIF, FixedOutDegree, Network, NumericalError, Pairs, ParameterError, PoissonSource, Population,
                     Projection, Simulator, SpikeGenerator)
from spiking.plasticity import STDP, Cascade, Modulator

QUIET = LIF(tau_m_ms=1e6, tau_syn_ms=1e6, v_th=100.0, noise_sigma=0.0)
A = 0.01


def _pair_net(rule, n_pairs=1, w0=0.5, dt=0.1, modulators=(), t_pre=50.0):
    pre = SpikeGenerator("pre", n_pairs, times_ms=tuple([t_pre] * n_pairs), indices=tuple(range(n_pairs)))
    post = Population("post", n_pairs, QUIET)
    proj = Projection("pre", "post", Pairs(tuple(range(n_pairs)), tuple(range(n_pairs))), weight=w0, delay_ms=1.0,
                      plasticity=rule)
    return Network(populations=(post,), sources=(pre,), projections=(proj,), dt_ms=dt, modulators=modulators)


def pair_dw(delta_ms, backend="numba", rule=None):
    """Weight change for one pre spike (arriving at 51 ms) and one post spike delta_ms after the arrival."""
    rule = rule or STDP.ember(a_plus=A)
    sim = Simulator(_pair_net(rule), backend=backend)
    sim.inject_spikes("post", [0], at_step=int(round((51.0 + delta_ms) / 0.1)))
    sim.run(150.0)
    return float(sim.weights("pre->post")[0]) - 0.5


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_pair_protocol_matches_the_ember_window(backend):
    assert pair_dw(10.0, backend) == pytest.approx(A * math.exp(-0.5), rel=1e-4)
    assert pair_dw(-10.0, backend) == pytest.approx(-1.05 * A * math.exp(-1 / 3), rel=1e-4)


def test_integral_ratio_of_the_window():
    """One network of independent pairs, one per time difference (midpoint grid, 0.5 ms)."""
    deltas = np.concatenate([np.arange(0.25, 300.0, 0.5), -np.arange(0.25, 300.0, 0.5)])
    n = deltas.size
    sim = Simulator(_pair_net(STDP.ember(a_plus=A), n_pairs=n, dt=0.25, t_pre=400.0))
    arrival = 401.0
    for k, d in enumerate(deltas):
        sim.inject_spikes("post", [k], at_step=int(round((arrival + d) / 0.25)))
    sim.run(800.0)
    dw = sim.weights("pre->post").astype(np.float64) - 0.5
    assert np.allclose(dw[deltas > 0], A * np.exp(-deltas[deltas > 0] / 20.0), rtol=1e-4, atol=1e-7)
    assert np.allclose(dw[deltas < 0], -1.05 * A * np.exp(deltas[deltas < 0] / 30.0), rtol=1e-4, atol=1e-7)
    ratio = -dw[deltas < 0].sum() / dw[deltas > 0].sum()
    assert ratio == pytest.approx(1.575, abs=0.01)


def test_nearest_neighbour_pairing_does_not_accumulate():
    allp = STDP(a_plus=A, a_minus=0.0, pairing="all")
    near = STDP(a_plus=A, a_minus=0.0, pairing="nearest")
    out = {}
    for name, rule in (("all", allp), ("nearest", near)):
        pre = SpikeGenerator("pre", 1, times_ms=(10.0, 12.0, 14.0), indices=(0, 0, 0))
        post = Population("post", 1, QUIET)
        net = Network(populations=(post,), sources=(pre,),
                      projections=(Projection("pre", "post", Pairs((0,), (0,)), weight=0.5, plasticity=rule),),
                      dt_ms=0.1)
        sim = Simulator(net)
        sim.inject_spikes("post", [0], at_step=200)
        sim.run(40.0)
        out[name] = float(sim.weights("pre->post")[0]) - 0.5
    assert out["all"] > 2.5 * out["nearest"] > 0


def test_bounds_hard_and_soft():
    """One pairing (post 2 ms after the arrival) from w = 0.9 with A+ = 0.3."""
    dwp = 0.3 * math.exp(-2.0 / 20.0)
    for bounds, expect in (("hard", 1.0), ("soft", 0.9 + dwp * (1.0 - 0.9))):
        rule = STDP(a_plus=0.3, a_minus=0.0, w_max=1.0, bounds=bounds)
        sim = Simulator(_pair_net(rule, w0=0.9))
        sim.inject_spikes("post", [0], at_step=int(round(53.0 / 0.1)))
        sim.run(100.0)
        assert float(sim.weights("pre->post")[0]) == pytest.approx(expect, rel=1e-5)
    # soft depression from near w_min shrinks with w
    rule = STDP(a_plus=0.0, a_minus=0.3, w_max=1.0, bounds="soft")
    sim = Simulator(_pair_net(rule, w0=0.1))
    sim.inject_spikes("post", [0], at_step=int(round(49.0 / 0.1)))
    sim.run(100.0)
    assert float(sim.weights("pre->post")[0]) == pytest.approx(0.1 - 0.3 * math.exp(-2.0 / 20.0) * 0.1, rel=1e-5)


def test_uncorrelated_poisson_pairs_depress():
    rule = STDP.ember(a_plus=A)
    n = 200
    net = Network(populations=(Population("post", n, QUIET),),
                  sources=(PoissonSource("pre", n, rate_hz=5.0), PoissonSource("drive", n, rate_hz=5.0)),
                  projections=(Projection("pre", "post", Pairs(tuple(range(n)), tuple(range(n))), weight=0.5,
                                          plasticity=rule),),
                  dt_ms=1.0, seed=3)
    sim = Simulator(net)
    drive = sim.group("drive")
    post = sim.group("post")
    # post spikes: an independent 5 Hz Poisson train per neuron, injected each step
    g = np.random.default_rng(0)
    for _ in range(100_000):
        idx = np.nonzero(g.random(n) < 0.005)[0]
        if idx.size:
            sim.inject_spikes("post", idx)
        sim.step()
    dw = sim.weights("pre->post") - 0.5
    # expected drift per pair: r_pre r_post (A+ tau+ - A- tau-) T = 25 * (0.2 - 0.315) ms * 1e-3 * 100 s * A...
    assert dw.mean() < 0
    expected = 5.0 * 5.0 * (A * 20e-3 - 1.05 * A * 30e-3) * 100.0
    assert dw.mean() == pytest.approx(expected, rel=0.25)


def _three_factor_net(tau_e=200.0, cascade=None, tonic=0.0, eta=0.01):
    rule = STDP(a_plus=A, a_minus=0.0, modulated=True, tau_e_ms=tau_e, eta=eta, cascade=cascade)
    return _pair_net(rule, dt=1.0, modulators=(Modulator("dopamine", tonic=tonic, tau_phasic_ms=100.0),))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_zero_modulator_gives_zero_weight_change_and_eligibility_decays(backend):
    sim = Simulator(_three_factor_net(tau_e=200.0), backend=backend)
    sim.inject_spikes("post", [0], at_step=60)   # 9 ms after the arrival at 51 ms
    sim.run(70.0)
    pr = sim.plastic[0]
    e0 = float(sim.backend.to_host(pr.a["elig"])[0]) * pr.pending
    # set 9 ms after the arrival, then 10 steps of decay with tau_e
    assert e0 == pytest.approx(A * math.exp(-9.0 / 20.0) * math.exp(-10.0 / 200.0), rel=1e-4)
    sim.run(300.0)
    e1 = float(sim.backend.to_host(pr.a["elig"])[0]) * pr.pending
    assert e1 == pytest.approx(e0 * math.exp(-300.0 / 200.0), rel=1e-4)
    assert float(sim.weights("pre->post")[0]) == 0.5


def test_phasic_pulse_scales_the_change():
    changes = []
    for pulse in (0.5, 1.0):
        sim = Simulator(_three_factor_net(tau_e=1000.0))
        sim.inject_spikes("post", [0], at_step=60)
        sim.run(70.0)
        sim.set_modulator("dopamine", pulse=pulse)
        sim.run(2000.0)
        changes.append(float(sim.weights("pre->post")[0]) - 0.5)
    assert changes[0] > 0
    assert changes[1] == pytest.approx(2 * changes[0], rel=1e-3)
    # closed form: integral of eta * pulse e^-t/100 * e0 e^-t/1000 dt over 2 s (eta = 0.01)
    e0 = A * math.exp(-9.0 / 20.0) * math.exp(-10.0 / 1000.0)
    expected = 0.01 * 0.5 * e0 / (1 / 100.0 + 1 / 1000.0)
    assert changes[0] == pytest.approx(expected, rel=0.02)


def test_cascade_top_level_keeps_its_weight_over_8_idle_hours():
    casc = Cascade(levels=5, tau0_ms=3.6e6, factor=4.7)
    sim = Simulator(_three_factor_net(cascade=casc))
    n_syn = 1
    pr = sim.plastic[0]
    sim.backend.write(pr.a["level"], np.full(n_syn, 4, np.uint8))
    sim.advance_idle(8 * 3.6e6)
    assert 1 - float(sim.weights("pre->post")[0]) / 0.5 <= 0.03       # paper: 1.6 %
    sim2 = Simulator(_three_factor_net(cascade=casc))
    sim2.advance_idle(8 * 3.6e6)
    assert 1 - float(sim2.weights("pre->post")[0]) / 0.5 >= 0.5        # never consolidated


def test_consolidation_promotes_potentiated_synapses():
    casc = Cascade()
    sim = Simulator(_three_factor_net(cascade=casc, tonic=1.0))
    sim.begin_consolidation()
    sim.inject_spikes("post", [0], at_step=60)
    sim.run(100.0)
    sim.end_consolidation()
    assert int(sim.backend.to_host(sim.plastic[0].a["level"])[0]) == 1


def test_audit_quarantine_and_networkx():
    rule = STDP(a_plus=A, a_minus=0.0)
    net = Network(populations=(Population("A", 20, QUIET),),
                  projections=(Projection("A", "A", FixedOutDegree(5), weight=0.3, plasticity=rule),), seed=1)
    sim = Simulator(net)
    syn = sim.synapses("A->A", pre=[0, 1])
    assert syn["synapse"].size == 10 and set(syn["pre"]) == {0, 1}
    n = sim.quarantine("A->A", pre=[0])
    assert n == 5
    s = sim.synapses("A->A", pre=[0])
    assert s["quarantined"].all() and np.allclose(s["weight"], 0.3)
    assert np.all(sim.weights("A->A")[s["synapse"]] == 0.0)   # transmits nothing
    assert sim.quarantine("A->A", pre=[0], release=True) == 5
    assert np.allclose(sim.weights("A->A")[s["synapse"]], 0.3)
    assert sim.zero_synapses("A->A", post=[3]) == int(np.sum(sim.synapses("A->A")["post"] == 3))
    g = sim.to_networkx("A->A")
    assert g.number_of_edges() == 100 - int(np.sum(sim.synapses("A->A")["weight"] == 0))


def test_plastic_state_survives_a_checkpoint(tmp_path):
    from spiking import SpikeTrains
    from test_backends import mixed_network  # noqa: F401  (for the fixture network style)

    rule = STDP.ember(a_plus=0.05, modulated=True, tau_e_ms=300.0, cascade=Cascade())
    net = Network(populations=(Population("L", 300, LIF(noise_sigma=0.3, v_th=0.7)),),
                  sources=(PoissonSource("P", 50, rate_hz=30.0),),
                  projections=(Projection("L", "L", FixedOutDegree(20), weight=0.2, plasticity=rule),
                               Projection("P", "L", FixedOutDegree(30), weight=0.3)),
                  modulators=(Modulator("dopamine", tonic=1.0),), dt_ms=1.0, seed=5)
    full = Simulator(net)
    m = full.add_monitor(SpikeTrains("L"))
    full.run(300.0)
    a = Simulator(net)
    m1 = a.add_monitor(SpikeTrains("L"))
    a.run(150.0)
    a.set_modulator("dopamine", pulse=0.0)
    a.save(tmp_path / "p.h5")
    b = Simulator.load(tmp_path / "p.h5")
    m2 = b.add_monitor(SpikeTrains("L"))
    b.run(150.0)
    assert np.array_equal(np.concatenate([m1.indices, m2.indices]), m.indices)
    assert np.array_equal(full.weights("L->L"), b.weights("L->L"))
    assert not np.allclose(full.weights("L->L"), 0.2)   # it learned


def test_numpy_and_numba_agree_on_a_plastic_network():
    from spiking import SpikeTrains
    rule = STDP(a_plus=0.02, a_minus=0.021, w_max=0.5)
    net = Network(populations=(Population("L", 200, LIF(noise_sigma=0.3, v_th=0.7)),),
                  sources=(PoissonSource("P", 50, rate_hz=30.0),),
                  projections=(Projection("L", "L", FixedOutDegree(20), weight=0.2, delay_ms=2.0, plasticity=rule),
                               Projection("P", "L", FixedOutDegree(30), weight=0.3)), dt_ms=1.0, seed=7)
    out = []
    for be in ("numpy", "numba"):
        sim = Simulator(net, backend=be)
        mon = sim.add_monitor(SpikeTrains("L"))
        sim.run(300.0)
        out.append((mon.indices, sim.weights("L->L")))
    assert np.array_equal(out[0][0], out[1][0])
    assert np.array_equal(out[0][1], out[1][1])


def test_bad_plasticity_parameters():
    with pytest.raises(ParameterError, match="a_minus"):
        STDP(a_minus=-0.1)
    with pytest.raises(ParameterError, match="tau_plus_ms"):
        STDP(tau_plus_ms=0.0)
    with pytest.raises(ParameterError, match="w_max"):
        STDP(w_max=0.0)
    with pytest.raises(ParameterError, match="pairing"):
        STDP(pairing="triplet")
    with pytest.raises(ParameterError, match="excitatory"):
        Projection("A", "A", FixedOutDegree(2), inhibitory=True, plasticity=STDP())
    with pytest.raises(ParameterError, match="not declared"):
        Network(populations=(Population("A", 5, QUIET),),
                projections=(Projection("A", "A", FixedOutDegree(2), plasticity=STDP(modulated=True)),))
    with pytest.raises(ParameterError, match=r"\[w_min, w_max\]"):
        Simulator(Network(populations=(Population("A", 5, QUIET),),
                          projections=(Projection("A", "A", FixedOutDegree(2), weight=2.0, plasticity=STDP()),)))


def test_nan_weights_are_caught_at_the_chunk_check():
    sim = Simulator(_pair_net(STDP()))
    w = sim.projections[0][1]["weights"]
    w[0] = np.nan
    with pytest.raises(NumericalError, match="weights"):
        sim.run(10.0)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_homeostasis_caps_the_summed_input(backend):
    rule = STDP(a_plus=0.05, a_minus=0.0, w_max=1.0, max_total_in=2.0)
    net = Network(populations=(Population("L", 50, LIF(noise_sigma=0.4, v_th=0.6)),),
                  projections=(Projection("L", "L", FixedOutDegree(10), weight=0.3, plasticity=rule),),
                  dt_ms=1.0, seed=2)
    sim = Simulator(net, backend=backend)
    sim.run(3000.0)
    s = sim.synapses("L->L")
    totals = np.bincount(s["post"], weights=s["weight"], minlength=50)
    assert totals.max() <= 2.0 * (1 + 1e-5)   # the run ends on a scaling step (every simulated second)
    free = Simulator(Network(populations=net.populations, projections=(
        Projection("L", "L", FixedOutDegree(10), weight=0.3, plasticity=STDP(a_plus=0.05, a_minus=0.0)),),
        dt_ms=1.0, seed=2), backend=backend)
    free.run(3000.0)
    s2 = free.synapses("L->L")
    assert np.bincount(s2["post"], weights=s2["weight"], minlength=50).max() > totals.max()


def test_plasticity_kernels_under_the_cuda_simulator_match_cpu():
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA device and NUMBA_ENABLE_CUDASIM is not set")
    rule = STDP.ember(a_plus=0.05, modulated=True, tau_e_ms=200.0, cascade=Cascade(tau0_ms=50.0), max_total_in=3.0)
    net = Network(populations=(Population("L", 40, LIF(noise_sigma=0.4, v_th=0.6)),),
                  sources=(PoissonSource("P", 10, rate_hz=100.0),),
                  projections=(Projection("L", "L", FixedOutDegree(6), weight=0.3, plasticity=rule),
                               Projection("P", "L", FixedOutDegree(8), weight=0.3)),
                  modulators=(Modulator("dopamine", tonic=1.0),), dt_ms=1.0, seed=4)
    out = {}
    for be in ("numba", "cuda"):
        sim = Simulator(net, backend=be)
        sim._cascade_every = 10   # exercise cascade decay and scaling within the short run
        from spiking import SpikeCounts
        c = sim.add_monitor(SpikeCounts("L"))
        sim.run(30.0)
        out[be] = (c.counts, sim.weights("L->L"))
    assert out["numba"][0].sum() > 5
    assert np.array_equal(out["numba"][0], out["cuda"][0])
    assert np.allclose(out["numba"][1], out["cuda"][1], atol=1e-5)
    assert not np.allclose(out["numba"][1], 0.3)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_stdp_with_heterogeneous_delays_pairs_on_each_synapse_arrival(backend):
    """Three synapses from one pre neuron with delays 1, 4 and 9 ms onto three post neurons that all
    fire at 60 ms: each sees its own pairing interval 60 - (50 + d)."""
    delays = np.array([1.0, 4.0, 9.0])
    rule = STDP(a_plus=A, a_minus=1.05 * A, tau_plus_ms=20.0, tau_minus_ms=30.0)
    pre = SpikeGenerator("pre", 1, times_ms=(50.0,), indices=(0,))
    post = Population("post", 3, QUIET)
    proj = Projection("pre", "post", Pairs((0, 0, 0), (0, 1, 2)), weight=0.5, delay_ms=delays, plasticity=rule)
    sim = Simulator(Network(populations=(post,), sources=(pre,), projections=(proj,), dt_ms=0.5), backend=backend)
    sim.inject_spikes("post", [0, 1, 2], at_step=120)   # 60 ms
    sim.run(120.0)
    dw = sim.weights("pre->post").astype(float) - 0.5
    expected = A * np.exp(-(60.0 - (50.0 + delays)) / 20.0)
    assert np.allclose(dw, expected, rtol=1e-4)
    # and the reverse order: post first (at 52 ms), arrivals at 51, 54 and 59 ms
    sim = Simulator(Network(populations=(post,), sources=(pre,), projections=(proj,), dt_ms=0.5), backend=backend)
    sim.inject_spikes("post", [0, 1, 2], at_step=104)   # 52 ms
    sim.run(120.0)
    dw = sim.weights("pre->post").astype(float) - 0.5
    arr = 50.0 + delays
    exp = np.where(arr > 52.0, -1.05 * A * np.exp(-(arr - 52.0) / 30.0), A * np.exp(-(52.0 - arr) / 20.0))
    assert np.allclose(dw, exp, rtol=1e-4)


def test_heterogeneous_delay_stdp_numpy_equals_numba():
    from spiking import SpikeTrains, Uniform
    rule = STDP.ember(a_plus=0.02, w_max=0.6)
    net = Network(populations=(Population("L", 150, LIF(noise_sigma=0.35, v_th=0.7)),),
                  sources=(PoissonSource("P", 40, rate_hz=40.0),),
                  projections=(Projection("L", "L", FixedOutDegree(15), weight=0.2, delay_ms=Uniform(1.0, 8.0),
                                          plasticity=rule),
                               Projection("P", "L", FixedOutDegree(20), weight=0.3)), dt_ms=1.0, seed=9)
    res = []
    for be in ("numpy", "numba"):
        sim = Simulator(net, backend=be)
        m = sim.add_monitor(SpikeTrains("L"))
        sim.run(400.0)
        res.append((m.indices, sim.weights("L->L")))
    assert res[0][0].size > 100
    assert np.array_equal(res[0][0], res[1][0]) and np.array_equal(res[0][1], res[1][1])
    assert not np.allclose(res[0][1], 0.2)


def test_heterogeneous_delay_stdp_under_the_cuda_simulator_matches_cpu():
    from numba import cuda
    from spiking import SpikeCounts, Uniform
    if not cuda.is_available():
        pytest.skip("no CUDA device and NUMBA_ENABLE_CUDASIM is not set")
    rule = STDP.ember(a_plus=0.05, w_max=0.6)
    net = Network(populations=(Population("L", 40, LIF(noise_sigma=0.4, v_th=0.6)),),
                  sources=(PoissonSource("P", 10, rate_hz=100.0),),
                  projections=(Projection("L", "L", FixedOutDegree(6), weight=0.3, delay_ms=Uniform(1.0, 4.0),
                                          plasticity=rule),
                               Projection("P", "L", FixedOutDegree(8), weight=0.3)), dt_ms=1.0, seed=4)
    out = {}
    for be in ("numba", "cuda"):
        sim = Simulator(net, backend=be)
        c = sim.add_monitor(SpikeCounts("L"))
        sim.run(30.0)
        out[be] = (c.counts, sim.weights("L->L"))
    assert out["numba"][0].sum() > 5
    assert np.array_equal(out["numba"][0], out["cuda"][0])
    assert np.allclose(out["numba"][1], out["cuda"][1], atol=1e-5)
    assert not np.allclose(out["numba"][1], 0.3)


def _leveled_inputs():
    g = np.random.default_rng(3)
    n = 400
    w = g.uniform(0.0, 1.0, n).astype(np.float32)
    elig = g.normal(0.0, 0.5, n).astype(np.float32)
    level = g.integers(0, 5, n).astype(np.uint8)
    frozen = (g.random(n) < 0.1).astype(np.uint8)
    return w, elig, level, frozen


def test_cascade_metaplasticity_scales_depression_by_level_only():
    """Cascade(depression_factor=f): a three-factor decrease of a level-c synapse is divided by
    f**c, an increase is not; the numba kernel and its numpy twin agree bit for bit."""
    from spiking.kernels import stdp as K
    c = Cascade(levels=5, depression_factor=4.0)
    scales = c.depression_scales()
    assert np.allclose(scales, [1, 1 / 4, 1 / 16, 1 / 64, 1 / 256])
    w, elig, level, frozen = _leveled_inputs()
    f = np.float32(0.1)
    outs = []
    for fn in (K.modulated_update_leveled, K.modulated_update_leveled_np):
        ww, pot = w.copy(), np.zeros(w.size, np.uint8)
        fn(ww, elig, f, level, scales, np.float32(0.0), np.float32(1.0), False, frozen, pot, True)
        outs.append((ww, pot))
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])
    ww = outs[0][0]
    live = frozen == 0
    expect = w + f * elig * np.where(elig < 0, scales[level], 1.0)
    assert np.allclose(ww[live], np.clip(expect, 0.0, 1.0)[live], atol=1e-6)
    assert np.array_equal(ww[~live], w[~live])
    deep = live & (elig < 0) & (level == 4) & (w > 0.2)
    assert deep.any() and np.all(w[deep] - ww[deep] < 0.01 * (-f * elig[deep]) + 1e-7)
    with pytest.raises(ParameterError, match="depression_factor"):
        Cascade(depression_factor=0.5)


def test_cascade_metaplasticity_kernel_under_the_cuda_simulator_matches_cpu():
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA device and NUMBA_ENABLE_CUDASIM is not set")
    from spiking.backends.cuda_backend import _TPB, _blocks, _modulated_leveled_k
    from spiking.kernels import stdp as K
    scales = Cascade(levels=5, depression_factor=3.0).depression_scales()
    w, elig, level, frozen = _leveled_inputs()
    f = np.float32(0.05)
    ref, pot = w.copy(), np.zeros(w.size, np.uint8)
    K.modulated_update_leveled(ref, elig, f, level, scales, np.float32(0.0), np.float32(1.0), False, frozen, pot, True)
    dw, dpot = cuda.to_device(w.copy()), cuda.to_device(np.zeros(w.size, np.uint8))
    _modulated_leveled_k[_blocks(w.size), _TPB](dw, cuda.to_device(elig), f, cuda.to_device(level),
                                                cuda.to_device(scales), np.float32(0.0), np.float32(1.0), False,
                                                cuda.to_device(frozen), dpot, True)
    assert np.allclose(dw.copy_to_host(), ref, atol=1e-6)
    assert np.array_equal(dpot.copy_to_host(), pot)
