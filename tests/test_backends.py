"""numpy reference vs numba CPU (exact) vs numba-cuda under the simulator (tolerance)."""
import numpy as np
import pytest

from spiking import (LIF, FixedOutDegree, Izhikevich, LogNormal, Network, PoissonSource, Population, Probability,
                     Projection, Simulator, SpikeCounts, SpikeGenerator, SpikeTrains, Uniform)
from spiking.params import izhikevich_2003_heterogeneity


def mixed_network(n_lif=300, n_izh=200, seed=11):
    het = izhikevich_2003_heterogeneity(160, n_izh - 160, np.random.default_rng(seed))
    pops = (
        Population("L", n_lif, LIF(noise_sigma=0.25, v_th=0.8)),
        Population("Z", n_izh, Izhikevich(noise_sigma=3.0, i_ext=2.0, half_steps=True), per_neuron=het),
    )
    srcs = (PoissonSource("P", 50, rate_hz=40.0),
            SpikeGenerator("G", 5, times_ms=(1.0, 3.0, 3.0, 20.0), indices=(0, 1, 4, 2)))
    projs = (
        Projection("L", "L", FixedOutDegree(20), weight=LogNormal(-3.0, 0.5), delay_ms=1.0, target="current"),
        Projection("L", "Z", Probability(0.05), weight=Uniform(0.5, 2.0), delay_ms=Uniform(1.0, 6.0)),
        Projection("Z", "L", FixedOutDegree(10), weight=0.05, delay_ms=2.0, inhibitory=True),
        Projection("Z", "Z", FixedOutDegree(15), weight=Uniform(0.0, 1.0), delay_ms=Uniform(1.0, 3.0), target="current"),
        Projection("P", "L", FixedOutDegree(30), weight=0.2, delay_ms=1.0),
        Projection("G", "Z", FixedOutDegree(50), weight=5.0, delay_ms=1.0),
    )
    return Network(populations=pops, sources=srcs, projections=projs, dt_ms=0.5, seed=seed)


def run(net, backend, ms=150.0, chunks=(150.0,), chunk_ms=100.0):
    sim = Simulator(net, backend=backend)
    mons = {p: sim.add_monitor(SpikeTrains(p)) for p in ("L", "Z", "P", "G")}
    for c in chunks:
        sim.run(c, chunk_ms=chunk_ms)
    return sim, {p: (m.steps, m.indices) for p, m in mons.items()}


def test_numpy_and_numba_give_identical_spikes_and_state():
    net = mixed_network()
    a, sa = run(net, "numpy")
    b, sb = run(net, "numba")
    assert sum(x[0].size for x in sa.values()) > 200
    for p in sa:
        assert np.array_equal(sa[p][0], sb[p][0]) and np.array_equal(sa[p][1], sb[p][1]), p
    for pop in ("L", "Z"):
        for var in a.group(pop).state:
            assert np.array_equal(a.get_state(pop, var), b.get_state(pop, var)), (pop, var)


def test_chunking_does_not_change_results():
    net = mixed_network()
    _, s1 = run(net, "numba", chunks=(150.0,), chunk_ms=150.0)
    _, s2 = run(net, "numba", chunks=(20.0, 55.5, 74.5), chunk_ms=7.0)
    for p in s1:
        assert np.array_equal(s1[p][0], s2[p][0]) and np.array_equal(s1[p][1], s2[p][1])


def test_seed_changes_the_run():
    _, s1 = run(mixed_network(seed=11), "numba", ms=100.0)
    _, s2 = run(mixed_network(seed=12), "numba", ms=100.0)
    assert not np.array_equal(s1["L"][1], s2["L"][1])


def test_threads_option_keeps_results_exact():
    """threads=2 runs the noise words, normals and neuron updates over threads: bit-identical."""
    net = mixed_network()
    one, s1 = run(net, "numba")
    sim = Simulator(net, backend="numba", threads=2)
    mons = {p: sim.add_monitor(SpikeTrains(p)) for p in ("L", "Z")}
    sim.run(150.0)
    for p, m in mons.items():
        assert np.array_equal(m.steps, s1[p][0]) and np.array_equal(m.indices, s1[p][1]), p
        for var in sim.group(p).state:
            assert np.array_equal(sim.get_state(p, var), one.get_state(p, var)), (p, var)


@pytest.mark.parametrize("rise", [0.0, 2.0])
def test_the_fused_lif_step_over_several_blocks_matches_numpy(rise):
    """The numba LIF step draws its noise block by block (``noise.BLOCK`` neurons) inside its one
    parallel region: a population of several blocks, not a multiple of the block, with noise,
    recurrent current input and refractoriness gives numpy's spikes and state exactly, on one
    thread and on two."""
    from spiking.kernels.noise import BLOCK
    n = 2 * BLOCK + 1234
    net = Network(populations=(Population("L", n, LIF(noise_sigma=0.3, v_th=0.7, t_ref_ms=2.0, tau_rise_ms=rise)),),
                  projections=(Projection("L", "L", FixedOutDegree(5), weight=0.05, delay_ms=1.0, target="current"),),
                  dt_ms=0.5, seed=4)
    runs = []
    for backend, opts in (("numpy", {}), ("numba", {}), ("numba", {"threads": 2})):
        sim = Simulator(net, backend=backend, **opts)
        m = sim.add_monitor(SpikeTrains("L"))
        sim.run(60.0)
        runs.append((sim, m))
    (a, ma) = runs[0]
    assert ma.indices.size > 1000 and ma.indices.max() >= 2 * BLOCK      # spikes in the last block too
    for b, mb in runs[1:]:
        assert np.array_equal(ma.steps, mb.steps) and np.array_equal(ma.indices, mb.indices)
        for var in a.group("L").state:
            assert np.array_equal(a.get_state("L", var), b.get_state("L", var)), var


def test_cuda_kernels_under_the_simulator_match_cpu():
    pytest.importorskip("numba.cuda")
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA device and NUMBA_ENABLE_CUDASIM is not set")
    het = izhikevich_2003_heterogeneity(24, 8, np.random.default_rng(0))
    net = Network(populations=(Population("L", 40, LIF(noise_sigma=0.3, v_th=0.7, tau_rise_ms=1.0)),
                               Population("Z", 32, Izhikevich(noise_sigma=4.0, i_ext=3.0, tau_rise_ms=2.0),
                                          per_neuron=het),
                               Population("Q", 16, Izhikevich(form="2007", a=0.03, b=-2.0, c_mV=-50.0, d=100.0,
                                                              v_peak_mV=35.0, v_init_mV=-60.0, noise_sigma=30.0,
                                                              i_ext=80.0))),
                  sources=(PoissonSource("P", 10, rate_hz=200.0),),
                  projections=(Projection("L", "Z", FixedOutDegree(5), weight=1.0, delay_ms=Uniform(0.5, 2.0)),
                               Projection("Z", "L", FixedOutDegree(6), weight=0.1, delay_ms=0.5, target="current"),
                               Projection("P", "L", FixedOutDegree(8), weight=0.3, delay_ms=0.5),
                               Projection("P", "Z", FixedOutDegree(8), weight=2.0, delay_ms=0.5, target="current"),
                               Projection("P", "Q", FixedOutDegree(4), weight=300.0, delay_ms=0.5, target="current")),
                  dt_ms=0.5, seed=3)
    out = {}
    for be in ("numba", "cuda"):
        sim = Simulator(net, backend=be)
        cnt = {p: sim.add_monitor(SpikeCounts(p)) for p in ("L", "Z", "P", "Q")}
        sim.run(15.0)
        out[be] = ({p: c.counts for p, c in cnt.items()},
                   {v: sim.get_state("Z", v) for v in ("v", "u", "i_syn", "i_rise")},
                   {v: sim.get_state("L", v) for v in ("v", "i_syn", "i_rise")},
                   {v: sim.get_state("Q", v) for v in ("v", "u", "i_syn")})
    for p in ("L", "Z", "P", "Q"):
        assert np.array_equal(out["numba"][0][p], out["cuda"][0][p]), p
    assert out["numba"][0]["Q"].sum() > 0   # the 2007-form cells fire
    for v in ("v", "u", "i_syn"):
        assert np.allclose(out["numba"][3][v], out["cuda"][3][v], atol=1e-3, rtol=1e-5), v
    assert sum(c.sum() for c in out["numba"][0].values()) > 10
    for v in ("v", "u", "i_syn", "i_rise"):
        assert np.allclose(out["numba"][1][v], out["cuda"][1][v], atol=1e-4), v
    assert np.abs(out["numba"][1]["i_syn"]).max() > 0
    for v in ("v", "i_syn", "i_rise"):
        assert np.allclose(out["numba"][2][v], out["cuda"][2][v], atol=1e-5), v
    assert np.abs(out["numba"][2]["i_rise"]).max() > 0


def test_set_state_and_reseed_noise(tmp_path):
    from spiking import ParameterError
    net = mixed_network()
    sim = Simulator(net)
    sim.run(20.0)
    sim.save(tmp_path / "s.h5")
    runs = []
    for stream in (0, 0, 1):
        s = Simulator.load(tmp_path / "s.h5")
        s.reseed_noise(stream)
        m = s.add_monitor(SpikeTrains("L"))
        s.run(50.0)
        runs.append(m.indices)
    assert np.array_equal(runs[0], runs[1])          # same stream: the same trial
    assert not np.array_equal(runs[0], runs[2])      # another stream: fresh noise
    sim.set_state("Z", "v", -70.0)
    assert np.all(sim.get_state("Z", "v") == np.float32(-70.0))
    sim.set_state("L", "v", np.linspace(0, 0.5, 300))
    assert sim.get_state("L", "v")[-1] == np.float32(0.5)
    with pytest.raises(ParameterError, match="shape"):
        sim.set_state("L", "v", np.zeros(7))
    with pytest.raises(ParameterError, match="finite"):
        sim.set_state("L", "v", np.nan)
    with pytest.raises(KeyError, match="no state variable"):
        sim.set_state("L", "w", 0.0)


def test_a_silent_poisson_source_is_skipped_and_wakes_with_its_rates():
    """A source whose probabilities are all 0 is not drawn; set_rates and a restored snapshot
    wake it, and its spikes are those of numpy's reference run (counter-based draws)."""
    net = Network(populations=(Population("L", 50, LIF()),), sources=(PoissonSource("P", 40, rate_hz=0.0),),
                  projections=(Projection("P", "L", FixedOutDegree(5), weight=0.3, delay_ms=1.0),), dt_ms=1.0, seed=3)
    out = []
    for backend in ("numpy", "numba"):
        sim = Simulator(net, backend=backend)
        m = sim.add_monitor(SpikeTrains("P"))
        assert sim.group("P").firing is False
        sim.run(20.0)
        sim.set_rates("P", 80.0)
        assert sim.group("P").firing is True
        sim.run(20.0)
        snap = sim.snapshot()
        sim.set_rates("P", 0.0)
        sim.run(20.0)
        n_silent = m.indices.size
        sim.restore(snap)                 # back to 80 Hz
        assert sim.group("P").firing is True
        sim.run(20.0)
        out.append((m.steps.copy(), m.indices.copy(), n_silent))
    (s0, i0, n0), (s1, i1, n1) = out
    assert np.array_equal(s0, s1) and np.array_equal(i0, i1) and n0 == n1
    assert s0.min() >= 20 and n0 > 0 and (s0[:n0] < 40).all() and i0.size > n0
