"""Block runs (many steps per compiled call, ``spiking.blocks``) give exactly the step-by-step run."""
import json
import os

import numpy as np
import pytest

from spiking import (CurrentStep, FixedInDegree, GroupCounts, LIF, Network, PoissonSource, Population,
                     PopulationRate, Projection, Simulator, SpikeCounts, SpikeGenerator, SpikeTrains, StateSamples,
                     Uniform)


def _net(extra_sources=(), extra_projections=(), currents=(), drive=0.0):
    pops = (Population("a", 600, LIF(noise_sigma=0.3)), Population("b", 300, LIF(noise_sigma=0.2, tau_syn_ms=5.0)))
    projs = (Projection("a", "b", FixedInDegree(20), weight=0.05, delay_ms=2.0),
             Projection("b", "a", FixedInDegree(10), weight=Uniform(0.0, 0.1), inhibitory=True, delay_ms=1.0),
             Projection("a", "a", FixedInDegree(5), weight=0.02, delay_ms=Uniform(1.0, 5.0))) + tuple(extra_projections)
    return Network(populations=pops, sources=tuple(extra_sources), projections=projs, currents=tuple(currents),
                   dt_ms=1.0, seed=3)


def _monitors(sim):
    return [sim.add_monitor(SpikeTrains("a")), sim.add_monitor(SpikeTrains("b", neurons=range(0, 300, 3), window_ms=40.0)),
            sim.add_monitor(PopulationRate("b")), sim.add_monitor(PopulationRate("a", bin_ms=13.0)),
            sim.add_monitor(SpikeCounts("b")),
            sim.add_monitor(GroupCounts("a", {"x": range(100), "y": range(50, 300)}, bin_ms=7.0))]


def _same_monitors(ma, mb):
    for x, y in zip(ma, mb):
        if isinstance(x, SpikeTrains):
            assert np.array_equal(x.steps, y.steps) and np.array_equal(x.indices, y.indices)
        else:
            assert np.array_equal(x.counts, y.counts)


def _same_state(a, b):
    for g in a.groups:
        for k, v in g.state.items():
            assert np.array_equal(np.asarray(v), np.asarray(b.group(g.name).state[k])), (g.name, k)
        assert g.n == b.group(g.name).n


def _pair(make, threads, run):
    out = []
    for block in (False, True):
        sim = Simulator(make(), backend="numba", threads=threads)
        sim.block_runs = block
        mons = _monitors(sim)
        run(sim)
        out.append((sim, mons))
    return out


@pytest.mark.parametrize("threads", [1, 2])
def test_block_runs_equal_steps(threads):
    (a, ma), (b, mb) = _pair(_net, threads, lambda s: (s.run(1500.0, progress=False, chunk_ms=700.0),
                                                         s.advance_idle(37.0), s.run(400.0, progress=False)))
    assert b._blocks.why_not() is None
    _same_monitors(ma, mb)
    _same_state(a, b)
    assert ma[0].indices.size > 1000


def test_blocks_stop_where_python_is_needed():
    """Injected spikes, current steps, a generator's events and a source that fires part of the time:
    the blocks end before each and the run stays identical."""
    gen = SpikeGenerator("g", 10, times_ms=(50.0, 51.0, 777.0), indices=(1, 2, 3))
    poi = PoissonSource("p", 20, rate_hz=0.0)
    extra = (Projection("g", "a", FixedInDegree(2), weight=0.5, delay_ms=1.0),
             Projection("p", "b", FixedInDegree(2), weight=0.5, delay_ms=1.0))
    cur = (CurrentStep("a", 0.4, start_ms=300.0, stop_ms=420.0),)

    def run(sim):
        sim.inject_spikes("b", [1, 2, 3], at_step=123)
        sim.run(500.0, progress=False)
        sim.set_rates("p", 30.0)
        sim.run(200.0, progress=False)
        sim.set_rates("p", 0.0)
        sim.run(500.0, progress=False)

    (a, ma), (b, mb) = _pair(lambda: _net(extra_sources=(gen, poi), extra_projections=extra, currents=cur), 1, run)
    _same_monitors(ma, mb)
    _same_state(a, b)


def test_block_run_fills_its_buffers_and_goes_on():
    """A population firing at every step fills a block's record buffer (8 spikes per neuron): the
    block stops early and the run goes on, identical."""
    cur = (CurrentStep("a", 5.0, start_ms=0.0, stop_ms=60.0),)
    (a, ma), (b, mb) = _pair(lambda: _net(currents=cur), 1, lambda s: s.run(200.0, progress=False))
    _same_monitors(ma, mb)
    _same_state(a, b)
    assert ma[0].indices.size > 8 * 600


def test_population_alone():
    """No projection at all (the neurons-and-noise-only idle network)."""
    runs = []
    for block in (False, True):
        sim = Simulator(Network(populations=(Population("idle", 500, LIF(noise_sigma=0.4)),), dt_ms=1.0, seed=2),
                        backend="numba")
        sim.block_runs = block
        c = sim.add_monitor(SpikeCounts("idle"))
        sim.run(700.0, progress=False)
        runs.append((sim, c.counts))
    assert runs[1][1].sum() > 0 and np.array_equal(runs[0][1], runs[1][1])
    _same_state(runs[0][0], runs[1][0])


def test_why_not():
    sim = Simulator(_net(), backend="numba")
    assert sim._blocks.why_not() is None
    sim.profile = True
    assert sim._blocks.why_not() == "profiling"
    sim.profile = False
    sim.add_monitor(StateSamples("a", "v", [0, 1], every_ms=1.0))
    assert "StateSamples" in sim._blocks.why_not()
    assert Simulator(_net(), backend="numpy")._blocks.why_not() == "backend 'numpy'"


@pytest.mark.parametrize("threads", [1, 2])
def test_ember_idle_in_blocks_is_identical(threads):
    """EMBER's substrate after the AC6 dialogue: idle with impulse detection runs in blocks
    (dopamine at 0), and the lateral store, traces, eligibility, detector bins and impulses are
    those of the step-by-step run."""
    from agents.ember.substrate import LATERAL, Substrate, SubstrateConfig
    from encoders.hashing import HashingEmbedder
    d = json.load(open(os.path.join(os.path.dirname(__file__), "..", "agents", "ember", "data", "dialogue_ac6.json")))
    runs = []
    for block in (False, True):
        sub = Substrate(SubstrateConfig.at_scale(0.01, 0), backend="numba", threads=threads, encoder=HashingEmbedder())
        sub.sim.block_runs = block
        for i, m in enumerate(d["messages"][:4], 1):
            sub.present(m["text"], m["labels"], kinds=d["kinds"], message_id=i)
        if block:
            assert sub.sim._blocks.why_not() is None
        imps = sub.idle(30.0)
        runs.append((sub, imps))
    (a, ia), (b, ib) = runs
    assert [json.dumps(i.to_dict(), sort_keys=True, default=str) for i in ia] == \
        [json.dumps(i.to_dict(), sort_keys=True, default=str) for i in ib]
    sa, sb = a.sim.synapses(LATERAL), b.sim.synapses(LATERAL)
    assert sa["weight"].size > 100
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k
    sta, stb = list(a.sim.growing.values())[0], list(b.sim.growing.values())[0]
    for k, v in sta.state().items():
        assert np.array_equal(v, stb.state()[k]), k
    assert sta.rt.pending == stb.rt.pending
    assert np.array_equal(a._counts.counts, b._counts.counts)
    assert a._counts.counts.sum() > 0
    _same_state(a.sim, b.sim)
