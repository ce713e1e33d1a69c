import numpy as np

from spiking import (LIF, Network, PoissonSource, Population, PopulationRate, Simulator, SpikeCounts, SpikeTrains,
                     StateSamples, raster, rate_plot)


def _sim():
    net = Network(populations=(Population("L", 400, LIF(noise_sigma=0.3, v_th=0.7)),),
                  sources=(PoissonSource("P", 100, rate_hz=50.0),), dt_ms=1.0, seed=2)
    return Simulator(net)


def test_counts_trains_and_rates_agree(tmp_path):
    sim = _sim()
    c = sim.add_monitor(SpikeCounts("L"))
    tr = sim.add_monitor(SpikeTrains("L"))
    sub = sim.add_monitor(SpikeTrains("L", neurons=[3, 5, 7]))
    r = sim.add_monitor(PopulationRate("L"))
    rp = sim.add_monitor(PopulationRate("P"))
    sim.run(500.0)
    assert c.counts.sum() == tr.indices.size > 100
    assert np.array_equal(np.bincount(tr.indices, minlength=400), c.counts)
    assert set(np.unique(sub.indices)) <= {3, 5, 7}
    assert sub.indices.size == c.counts[[3, 5, 7]].sum()
    t, rate = r.rate_hz(10.0)
    assert t.size == 50 and np.isclose(rate.mean(), c.counts.sum() / 400 / 0.5)
    assert np.isclose(rp.rate_hz(100.0)[1].mean(), 50.0, rtol=0.1)  # Poisson source at 50 Hz
    raster(tr, tmp_path / "r.png")
    rate_plot(r, 10.0, path=tmp_path / "rate.png")
    assert (tmp_path / "r.png").stat().st_size > 1000 and (tmp_path / "rate.png").stat().st_size > 1000


def test_state_samples_every():
    sim = _sim()
    s = sim.add_monitor(StateSamples("L", "v", [0, 1], every_ms=5.0))
    sim.run(50.0)
    assert s.values.shape == (10, 2)
    assert np.allclose(np.diff(s.t_ms), 5.0)


# --- bounded monitors for long runs (house issue) ---------------------------------------------------

def test_population_rate_keeps_a_bounded_ring_of_the_most_recent_bins():
    sim = _sim()
    full = sim.add_monitor(PopulationRate("L"))
    ring = sim.add_monitor(PopulationRate("L", max_bins=50))
    binned = sim.add_monitor(PopulationRate("L", bin_ms=10.0, max_bins=8))
    sim.run(203.0)
    assert full.counts.size == 203
    assert ring._ring.size == 50 and ring.counts.size == 50
    assert np.array_equal(ring.counts, full.counts[-50:])
    assert ring.t0_ms == 153.0
    # 10 ms bins: 20 complete (the 21st holds 3 steps), the ring keeps the last 7 complete of 8 rows
    assert np.array_equal(binned.counts, full.counts[:200].reshape(20, 10).sum(1)[-7:])
    t, r = binned.rate_hz(20.0)
    assert t[0] == 130.0 and r.size == 3


def test_group_counts_match_spike_trains_on_every_backend():
    from spiking import GroupCounts
    groups = {"a": np.arange(0, 40), "b": np.arange(30, 90), "c": [399]}   # a and b overlap
    for be in ("numpy", "numba"):
        net = Network(populations=(Population("L", 400, LIF(noise_sigma=0.3, v_th=0.7)),), dt_ms=1.0, seed=2)
        sim = Simulator(net, backend=be)
        tr = sim.add_monitor(SpikeTrains("L"))
        gc = sim.add_monitor(GroupCounts("L", groups, bin_ms=50.0, max_bins=4))
        sim.run(320.0)
        assert gc.counts.shape == (3, 3)    # 6 complete bins; of the ring's 4 rows one holds the bin being filled
        assert np.array_equal(gc.t_ms, [150.0, 200.0, 250.0])
        for j, lab in enumerate(groups):
            for b, t0 in enumerate(gc.t_ms):
                sel = (tr.t_ms >= t0) & (tr.t_ms < t0 + 50.0) & np.isin(tr.indices, groups[lab])
                assert gc.counts[b, j] == sel.sum()
        assert gc.counts[:, :2].sum() > 0
        t, r = gc.rate_hz()
        assert np.allclose(r, gc.counts / (np.array([40, 60, 1]) * 0.05))


def test_group_counts_new_bins_and_add_group():
    from spiking import GroupCounts
    sim = _sim()
    tr = sim.add_monitor(SpikeTrains("L"))
    gc = sim.add_monitor(GroupCounts("L", {"x": np.arange(10)}, bin_ms=100.0))
    sim.run(250.0)
    t, c = gc.new_bins()
    assert np.array_equal(t, [0.0, 100.0]) and c.shape == (2, 1)
    assert gc.new_bins()[1].shape == (0, 1)
    gc.add_group("y", np.arange(100, 200))
    sim.run(150.0)
    t, c = gc.new_bins()
    assert np.array_equal(t, [200.0, 300.0]) and c.shape == (2, 2)
    sel = (tr.t_ms >= 300.0) & (tr.t_ms < 400.0) & (tr.indices >= 100) & (tr.indices < 200)
    assert c[1, 1] == sel.sum() > 0


def test_spike_trains_window_keeps_only_recent_spikes():
    sim = _sim()
    full = sim.add_monitor(SpikeTrains("L"))
    win = sim.add_monitor(SpikeTrains("L", window_ms=50.0))
    sim.run(500.0)
    keep = full.steps > 499 - 50
    assert np.array_equal(win.steps, full.steps[keep]) and np.array_equal(win.indices, full.indices[keep])
    assert sum(a.size for a in win._t) < full.steps.size / 3


def test_group_counts_on_the_cuda_simulator_equal_numba():
    pytest = __import__("pytest")
    pytest.importorskip("numba.cuda")
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA (simulator) available")
    from spiking import GroupCounts
    groups = {"a": np.arange(0, 40), "b": np.arange(30, 90)}
    out = {}
    for be in ("numba", "cuda"):
        net = Network(populations=(Population("L", 200, LIF(noise_sigma=0.3, v_th=0.7)),), dt_ms=1.0, seed=2)
        sim = Simulator(net, backend=be)
        gc = sim.add_monitor(GroupCounts("L", groups, bin_ms=20.0))
        rate = sim.add_monitor(PopulationRate("L", bin_ms=20.0))
        sim.run(100.0)
        out[be] = (gc.counts, rate.counts)
    assert out["numba"][0].sum() > 0
    assert np.array_equal(out["numba"][0], out["cuda"][0]) and np.array_equal(out["numba"][1], out["cuda"][1])
