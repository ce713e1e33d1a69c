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
