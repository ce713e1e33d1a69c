"""Integration: a coded pattern presented to a small LIF population through the real engine."""
from __future__ import annotations

import numpy as np
import pytest

spiking = pytest.importorskip("spiking")

from encoders.population import PopulationCodeParams, ZScoreTopKCode  # noqa: E402
from encoders.spikes import PresentationSchedule, present, present_patterns, spike_counts, to_spike_generator  # noqa: E402

N = 300


def _network(extra_sources=(), pre="sensory"):
    from spiking import LIF, Network, Pairs, Population, Projection

    quiet = LIF(noise_sigma=0.0)  # no spontaneous spikes: every spike below comes from the input
    one_to_one = Pairs(pre=tuple(range(N)), post=tuple(range(N)))
    return Network(
        populations=(Population("sensory", N, quiet), Population("relay", N, quiet)),
        projections=(Projection(pre, "relay", one_to_one, weight=1.0, delay_ms=1.0, target="pulse"),),
        sources=tuple(extra_sources), dt_ms=1.0, seed=3,
    )


def _patterns(rng):
    code = ZScoreTopKCode(64, PopulationCodeParams(n_neurons=N, sparsity=0.14, seed=2))
    return code, code.encode(rng.standard_normal((2, 64)))


def test_present_pattern_to_lif_population_through_inject_spikes(rng):
    from spiking import Simulator, SpikeCounts, SpikeTrains

    code, rates = _patterns(rng)
    sched = PresentationSchedule(window_ms=100.0, gap_ms=50.0, dt_ms=1.0)
    ev = present_patterns(rates, sched, seed=4, kind="regular")
    sim = Simulator(_network(), backend="numpy")
    sim.run(10.0)  # start mid-run: events are placed relative to sim.t
    trains = sim.add_monitor(SpikeTrains("sensory"))
    counts = sim.add_monitor(SpikeCounts("sensory"))
    relay = sim.add_monitor(SpikeCounts("relay"))
    n_calls = present(sim, "sensory", *ev)
    assert n_calls == np.unique(ev.steps).size
    sim.run(float(sched.total_steps(2) + 5))
    # the sensory population spiked exactly at the injected events, and nowhere else
    np.testing.assert_array_equal(trains.steps, ev.steps + 10)
    np.testing.assert_array_equal(trains.indices, ev.indices)
    expected = spike_counts(ev, N)
    np.testing.assert_array_equal(counts.counts, expected)
    assert expected.sum() > 0 and set(np.flatnonzero(expected)) <= set(np.flatnonzero(rates.max(axis=0) > 0))
    # injected spikes are delivered: each one makes its relay neuron fire (ISI >= 10 ms > refractory)
    np.testing.assert_array_equal(relay.counts, expected)
    # the gap after each window is silent
    for j in range(2):
        a, b = sched.window_of(j)
        assert not np.any((trains.steps >= b + 10) & (trains.steps < b + 10 + sched.gap_steps))


def test_same_events_through_a_spike_generator_source(rng):
    from spiking import Simulator, SpikeCounts, SpikeTrains

    code, rates = _patterns(rng)
    ev = present_patterns(rates, seed=4, kind="poisson")
    total = float(PresentationSchedule().total_steps(2) + 5)
    gen = to_spike_generator("stim", N, *ev, dt_ms=1.0)
    sim = Simulator(_network(extra_sources=(gen,), pre="stim"), backend="numpy")
    stim = sim.add_monitor(SpikeTrains("stim"))
    relay = sim.add_monitor(SpikeCounts("relay"))
    sim.run(total)
    np.testing.assert_array_equal(stim.steps, ev.steps)
    np.testing.assert_array_equal(stim.indices, ev.indices)
    exp = spike_counts(ev, N)
    assert exp.sum() > 300
    # a relay neuron misses an input spike only inside its 2 ms refractory period
    assert np.all(relay.counts <= exp) and relay.counts.sum() >= 0.75 * exp.sum()
    assert relay.counts[exp == 0].sum() == 0
    # the same events injected into the sensory population drive the relay identically
    sim2 = Simulator(_network(), backend="numpy")
    relay2 = sim2.add_monitor(SpikeCounts("relay"))
    present(sim2, "sensory", *ev)
    sim2.run(total)
    np.testing.assert_array_equal(relay2.counts, relay.counts)
