"""CSR construction and delay delivery."""
import numpy as np
import pytest

from spiking import (LIF, FixedInDegree, FixedOutDegree, Network, Pairs, Population, Probability, Projection,
                     Simulator, SpikeGenerator, StateSamples, Uniform)
from spiking.build import build
from spiking.params import ParameterError

QUIET = LIF(tau_m_ms=1e6, tau_syn_ms=1e6, v_th=100.0, noise_sigma=0.0)


def _csr(proj, n_pre=300, n_post=300, same=True):
    pops = (Population("A", n_pre, QUIET),) + (() if same else (Population("B", n_post, QUIET),))
    net = Network(populations=pops, projections=(proj,), dt_ms=1.0, seed=4)
    projs = build(net).projections
    return projs[0]


def test_fixed_out_degree_no_autapses_no_duplicates():
    p = _csr(Projection("A", "A", FixedOutDegree(50)))
    assert np.all(np.diff(p.indptr) == 50)
    for r in range(300):
        row = p.indices[p.indptr[r]:p.indptr[r + 1]]
        assert r not in row
        assert np.unique(row).size == 50 and np.all(np.diff(row) > 0)


def test_fixed_out_degree_dense_rows_use_the_shuffle_path():
    p = _csr(Projection("A", "A", FixedOutDegree(250)))
    for r in range(0, 300, 37):
        row = p.indices[p.indptr[r]:p.indptr[r + 1]]
        assert r not in row and np.unique(row).size == 250


def test_fixed_out_degree_targets_are_uniform():
    p = _csr(Projection("A", "A", FixedOutDegree(100)), n_pre=2000)
    counts = np.bincount(p.indices, minlength=2000)
    assert counts.mean() == pytest.approx(100, rel=1e-9)
    assert counts.std() == pytest.approx(np.sqrt(100 * (1 - 100 / 1999)), rel=0.1)


def test_fixed_in_degree():
    p = _csr(Projection("A", "B", FixedInDegree(30), ), n_pre=200, n_post=100, same=False)
    assert np.all(np.bincount(p.indices, minlength=100) == 30)


def test_probability_degree_statistics():
    p = _csr(Projection("A", "A", Probability(0.1)), n_pre=1000)
    deg = np.diff(p.indptr)
    assert deg.mean() == pytest.approx(99.9, rel=0.03)
    assert deg.var() == pytest.approx(999 * 0.1 * 0.9, rel=0.2)


def test_ranges_restrict_rows_and_targets():
    p = _csr(Projection("A", "A", FixedOutDegree(10), pre_range=(100, 200), post_range=(50, 80)))
    deg = np.diff(p.indptr)
    assert np.all(deg[:100] == 0) and np.all(deg[100:200] == 10) and np.all(deg[200:] == 0)
    assert p.indices.min() >= 50 and p.indices.max() < 80


def test_pairs_weights_follow_their_pairs():
    pre, post, w = (3, 1, 3, 0), (5, 2, 1, 4), (0.3, 0.1, 0.2, 0.4)
    p = _csr(Projection("A", "A", Pairs(pre, post), weight=np.array(w)))
    got = {(r, int(c)): float(x) for r in range(300) for c, x in
           zip(p.indices[p.indptr[r]:p.indptr[r + 1]], p.weights[p.indptr[r]:p.indptr[r + 1]])}
    assert got == {(a, b): pytest.approx(x) for a, b, x in zip(pre, post, w)}


def test_inhibitory_weights_are_negative():
    p = _csr(Projection("A", "A", FixedOutDegree(5), weight=Uniform(0.5, 1.0), inhibitory=True))
    assert np.all(p.weights <= -0.5) and np.all(p.weights >= -1.0)


def test_same_seed_same_connectivity_other_seed_other():
    a = _csr(Projection("A", "A", FixedOutDegree(20)))
    b = _csr(Projection("A", "A", FixedOutDegree(20)))
    assert np.array_equal(a.indices, b.indices)
    net = Network(populations=(Population("A", 300, QUIET),), projections=(Projection("A", "A", FixedOutDegree(20)),),
                  seed=5)
    assert not np.array_equal(build(net).projections[0].indices, a.indices)


def _delay_net(delays_ms, target, dt=1.0, backend="numba"):
    n = len(delays_ms)
    gen = SpikeGenerator("G", 1, times_ms=(10.0,), indices=(0,))
    post = Population("B", n, QUIET)
    proj = Projection("G", "B", Pairs((0,) * n, tuple(range(n))), weight=0.25,
                      delay_ms=np.array(delays_ms, dtype=float), target=target)
    net = Network(populations=(post,), sources=(gen,), projections=(proj,), dt_ms=dt)
    return Simulator(net, backend=backend)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("delays", [[3.0], [3.0, 3.0], [1.0, 2.0, 5.0, 17.0]])
def test_pulse_delivered_on_exactly_the_delay_step(backend, delays):
    sim = _delay_net(delays, "pulse", backend=backend)
    mon = sim.add_monitor(StateSamples("B", "v", np.arange(len(delays))))
    sim.run(40.0)
    v = mon.values
    for j, d in enumerate(delays):
        first = int(np.argmax(v[:, j] > 0))
        assert first == 10 + int(d), f"delay {d} ms arrived at step {first}"
        assert v[first, j] == pytest.approx(0.25, rel=1e-5)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_current_delivered_on_exactly_the_delay_step(backend):
    sim = _delay_net([2.0, 4.0], "current", backend=backend)
    mon = sim.add_monitor(StateSamples("B", "i_syn", [0, 1]))
    sim.run(30.0)
    assert int(np.argmax(mon.values[:, 0] > 0)) == 12
    assert int(np.argmax(mon.values[:, 1] > 0)) == 14


def test_delay_in_half_steps():
    sim = _delay_net([1.5], "pulse", dt=0.5)
    mon = sim.add_monitor(StateSamples("B", "v", [0]))
    sim.run(30.0)
    assert int(np.argmax(mon.values[:, 0] > 0)) == 20 + 3  # spike at step 20 (10 ms), 3 steps later


def test_injected_spikes_propagate():
    post = Population("B", 4, QUIET)
    src = Population("A", 3, QUIET)
    proj = Projection("A", "B", Pairs((0, 1, 2), (0, 1, 3)), weight=0.5, delay_ms=2.0)
    sim = Simulator(Network(populations=(src, post), projections=(proj,), dt_ms=1.0))
    mon = sim.add_monitor(StateSamples("B", "v", [0, 1, 2, 3]))
    sim.inject_spikes("A", [0, 2], at_step=5)
    sim.run(10.0)
    assert np.all(mon.values[:7] == 0)
    assert np.allclose(mon.values[7], [0.5, 0, 0, 0.5])


def test_uniform_weight_projection_stores_no_weight_array_until_edited():
    net = Network(populations=(Population("A", 50, QUIET),),
                  projections=(Projection("A", "A", FixedOutDegree(5), weight=0.25),), seed=2)
    sim = Simulator(net)
    p, arr = sim.projections[0]
    assert p.uniform_weight == np.float32(0.25) and arr["weights"].size == 0
    assert np.all(sim.weights("A->A") == np.float32(0.25)) and sim.weights("A->A").size == 250
    sim.inject_spikes("A", [0], at_step=0)
    sim.run(3.0)
    targets = sim.synapses("A->A", pre=[0])["post"]
    assert np.allclose(sim.get_state("A", "v")[targets], 0.25, rtol=1e-4)
    # editing one synapse gives the projection its own weight array
    assert sim.zero_synapses("A->A", pre=[1]) == 5
    assert p.uniform_weight is None and arr["weights"].size == 250
    sim.inject_spikes("A", [1])
    sim.run(3.0)
    t1 = sim.synapses("A->A", pre=[1])["post"]
    assert np.allclose(sim.get_state("A", "v")[np.setdiff1d(t1, targets)], 0.0, atol=1e-6)


def test_current_step_input_and_checkpoint(tmp_path):
    from spiking import CurrentStep
    m = LIF(tau_m_ms=10.0, v_th=10.0, noise_sigma=0.0)
    net = Network(populations=(Population("A", 4, m),),
                  currents=(CurrentStep("A", 1.0, start_ms=5.0, stop_ms=25.0, neurons=(1, 3)),), dt_ms=1.0)
    sim = Simulator(net)
    mon = sim.add_monitor(StateSamples("A", "v", [0, 1, 2, 3]))
    sim.run(15.0)
    sim.save(tmp_path / "c.h5")
    back = Simulator.load(tmp_path / "c.h5")
    mon2 = back.add_monitor(StateSamples("A", "v", [0, 1, 2, 3]))
    back.run(25.0)
    v = np.vstack([mon.values, mon2.values])
    assert np.all(v[:, [0, 2]] == 0.0)
    assert np.all(v[:5, [1, 3]] == 0.0) and v[5, 1] > 0
    peak = v[24, 1]
    assert peak == pytest.approx(1 - np.exp(-20 / 10.0), rel=1e-4)     # V -> I (1 - e^-t/tau)
    assert v[39, 1] == pytest.approx(peak * np.exp(-15 / 10.0), rel=1e-4)  # decays after the step
    with pytest.raises(ParameterError, match="start_ms"):
        CurrentStep("A", 1.0, start_ms=5.0, stop_ms=5.0)
    with pytest.raises(ParameterError, match="CurrentStep"):
        Network(populations=(Population("A", 4, m),), currents=(CurrentStep("B", 1.0),))


def test_csr_from_pairs_orders_as_a_lexsort():
    """The counting-sort CSR builder gives the order of np.lexsort((post, pre)), ties included."""
    from spiking.build import _csr_from_pairs
    g = np.random.default_rng(0)
    pre = g.integers(0, 50, 5000)
    post = g.integers(0, 70, 5000)              # duplicates of pairs too
    indptr, idx, order = _csr_from_pairs(pre, post, 60)
    ref = np.lexsort((post, pre))
    assert np.array_equal(order, ref)
    assert np.array_equal(idx, post[ref]) and idx.dtype == np.int32
    assert np.array_equal(np.diff(indptr), np.bincount(pre, minlength=60)) and indptr[-1] == 5000
    post_sorted = np.sort(post).astype(np.int32)           # a fixed in-degree's pairs: one pass
    indptr, idx, order = _csr_from_pairs(pre.astype(np.int32), post_sorted, 60)
    assert np.array_equal(order, np.lexsort((post_sorted, pre))) and np.array_equal(idx, post_sorted[order])
    empty = _csr_from_pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), 4)
    assert empty[0].tolist() == [0] * 5 and empty[1].size == 0
