"""Device-resident block runs on the cuda backend (numba's simulator here; ``-m gpu`` on a GPU):
the same spikes as the numba backend, and no host transfer per step."""
import numpy as np
import pytest

from spiking import (FixedInDegree, GroupCounts, LIF, Network, PoissonSource, Population, Projection, Simulator,
                     SpikeCounts, Uniform)


def _cuda_or_skip():
    pytest.importorskip("numba.cuda")
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA device and NUMBA_ENABLE_CUDASIM is not set")


def _net(rise=False):
    pops = (Population("a", 96, LIF(noise_sigma=0.35, tau_rise_ms=1.0 if rise else 0.0)),
            Population("b", 40, LIF(noise_sigma=0.3, tau_syn_ms=5.0, tau_rise_ms=1.0 if rise else 0.0)))
    projs = (Projection("a", "b", FixedInDegree(12), weight=Uniform(0.02, 0.08), delay_ms=2.0),
             Projection("b", "a", FixedInDegree(6), weight=0.05, inhibitory=True, delay_ms=1.0),
             Projection("a", "a", FixedInDegree(4), weight=0.03, delay_ms=Uniform(1.0, 4.0)),
             Projection("b", "b", FixedInDegree(3), weight=0.04, delay_ms=1.0, target="current"))
    return Network(populations=pops, sources=(PoissonSource("silent", 8, rate_hz=0.0),),
                   projections=projs + (Projection("silent", "a", FixedInDegree(2), weight=1.0, delay_ms=1.0),),
                   dt_ms=1.0, seed=5)


def _one_by_one(sim, fused):
    """Run the device blocks' kernels one by one (the fallback of the fused ones) unless ``fused``."""
    if sim.backend.name == "cuda":
        sim.backend.device_steps.allow_fused = fused


def _ran_fused(sim) -> bool:
    plan = sim.backend.device_steps._plans.get(sim)
    return plan is not None and plan.compiled is True


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("rise", [False, True])
def test_device_blocks_give_the_numba_spikes(rise, fused):
    _cuda_or_skip()
    groups = {"x": range(0, 40), "y": range(30, 96)}
    out = {}
    for be in ("numba", "cuda"):
        sim = Simulator(_net(rise), backend=be)
        _one_by_one(sim, fused)
        mons = [sim.add_monitor(SpikeCounts("a")), sim.add_monitor(SpikeCounts("b")),
                sim.add_monitor(GroupCounts("a", groups, bin_ms=10.0))]
        assert sim._blocks.why_not() is None
        sim.run(30.0, progress=False)
        if be == "cuda":
            assert _ran_fused(sim) is fused
        out[be] = (mons[0].counts, mons[1].counts, mons[2].counts,
                   {v: sim.get_state("a", v) for v in ("v", "i_syn")}, sim.group("a").n, sim.t)
    (ca, cb, ga, sa, na, ta), (da, db, gd, sd, nd, td) = out["numba"], out["cuda"]
    assert ca.sum() > 15 and cb.sum() > 4
    assert np.array_equal(ca, da) and np.array_equal(cb, db)
    assert np.array_equal(ga, gd) and ga.sum() > 0
    assert na == nd and ta == td == 30
    for v in ("v", "i_syn"):
        assert np.allclose(sa[v], sd[v], atol=1e-4), v


def test_a_device_block_makes_no_host_transfer_per_step():
    """The transfers of a run do not grow with its steps (the counts stay on the device); the
    step-by-step path copies each population's count every step. Launches per step: fewer."""
    _cuda_or_skip()
    per = {}
    for blocks in (True, False):
        sim = Simulator(_net(), backend="cuda")
        sim.block_runs = blocks
        be = sim.backend
        sim.run(3.0, progress=False)
        got = []
        for ms in (5.0, 25.0):
            tr, la = be.transfers, be.launches
            sim.run(ms, progress=False)
            got.append((be.transfers - tr, be.launches - la))
        (tr5, la5), (tr25, la25) = got
        per[blocks] = ((tr25 - tr5) / 20.0, (la25 - la5) / 20.0)
    assert per[True][0] == 0.0                 # no transfer per step in blocks
    assert per[False][0] >= 2.0                # the step path: a count copy and reset per population
    assert 0 < per[True][1] < per[False][1]    # fewer launches per step
    assert per[True][1] == 2                   # the neurons; the projections (the source is silent)
    assert per[False][1] >= 2 + 4              # step by step: one per population and projection at least


def test_device_blocks_stop_where_python_is_needed():
    _cuda_or_skip()
    sim = Simulator(_net(), backend="cuda")
    sim.add_monitor(SpikeCounts("a"))
    sim.inject_spikes("a", [1, 2, 3], at_step=7)
    ref = Simulator(_net(), backend="numba")
    ref.add_monitor(SpikeCounts("a"))
    ref.inject_spikes("a", [1, 2, 3], at_step=7)
    for s in (sim, ref):
        s.run(20.0, progress=False)
    assert np.array_equal(sim.monitors[0].counts, ref.monitors[0].counts)
    assert sim.monitors[0].counts[[1, 2, 3]].min() >= 1


def _store_net():
    from spiking.growth import Grow
    from spiking.plasticity import STDP, Modulator
    rule = STDP.ember(a_plus=0.01, w_max=1.0, modulated=True, tau_e_ms=500.0, eta=0.002)
    pops = (Population("C", 80, LIF(noise_sigma=0.4, v_th=0.8)), Population("I", 20, LIF(noise_sigma=0.3)))
    projs = (Projection("C", "I", FixedInDegree(10), weight=0.05, delay_ms=1.0),
             Projection("I", "C", FixedInDegree(4), weight=0.05, inhibitory=True, delay_ms=1.0),
             Projection("C", "C", Grow(w_create=0.004, w_prune=0.001, initial_capacity=16), weight=0.0,
                        delay_ms=1.0, plasticity=rule))
    return Network(populations=pops, projections=projs, modulators=(Modulator("dopamine", tonic=0.0),),
                   dt_ms=1.0, seed=4)


@pytest.mark.parametrize("fused", [True, False])
def test_the_growing_store_idles_on_the_device_like_the_cpu(fused):
    """Learn with dopamine on (step by step; on the cuda backend the store's step on the device),
    then idle with dopamine at 0: on the cuda backend that runs in device blocks, first with the
    synapses made since the last housekeeping (the tail: two launches more a step), then without.
    The same spikes, the same synapses, eligibility and traces within float32 sums; fused, the
    store's step is three launches of the four (its post trace decays in the neurons' launch)."""
    _cuda_or_skip()
    A, B = np.arange(0, 8), np.arange(40, 48)
    out = {}
    for be in ("numba", "cuda"):
        sim = Simulator(_store_net(), backend=be)
        _one_by_one(sim, fused)
        cnt = sim.add_monitor(SpikeCounts("C"))
        sim.set_modulator("dopamine", tonic=1.0)
        for _ in range(64):
            idx = A if sim.t % 30 == 0 else (B if sim.t % 30 == 4 else [])
            if len(idx):
                sim.inject_spikes("C", idx)
            sim.step()
        sim.set_modulator("dopamine", tonic=0.0)
        st = list(sim.growing.values())[0]
        assert st.tail_start < st.n                     # synapses made since the last housekeeping
        if be == "cuda":
            assert sim._blocks.why_not() is None        # the tail idles in device blocks too
            la = sim.backend.launches
            sim.run(10.0, progress=False)
            assert (sim.backend.launches - la) / 10.0 >= (7 if fused else 14)  # + the tail's two a step
        else:
            sim.run(10.0, progress=False)
        st.housekeeping()                     # what the once-a-second step does (here early, on both)
        if be == "cuda":
            assert sim._blocks.why_not() is None
            sim.run(3.0, progress=False)      # the first block uploads the fused kernels' plan (once)
            tr = sim.backend.transfers
            sim.run(12.0, progress=False)     # one block
            per_block = sim.backend.transfers - tr
            tr = sim.backend.transfers
            la = sim.backend.launches
            sim.run(15.0, progress=False)
            assert sim.backend.transfers - tr <= per_block <= 40    # per block (and run), none per step
            per_step = (sim.backend.launches - la) / 15.0
            assert _ran_fused(sim) is fused
            # fused: neurons, spike work, pre decay, transmission + the monitor; else 2 + 1 + 2 + 4 + 1 and
            # the folds of two rings' fixed-point deliveries (fused, the neurons' launch folds them)
            assert abs(per_step - (5 if fused else 12)) < 0.5, per_step
        else:
            sim.run(30.0, progress=False)
        syn = sim.synapses("C->C")
        order = np.lexsort((syn["post"], syn["pre"]))   # slot order follows the order spikes were counted in
        syn = {k: syn[k][order] for k in ("pre", "post", "weight")}
        a = st.state()                        # the host's copy (on the device backend: fetched now)
        out[be] = (cnt.counts, syn, a["elig"][order], a["x_pre"], a["x_post"], st.rt.pending, sim.get_state("C", "v"))
    (cc, sc, ec, xc, yc, pc, vc), (cg, sg, eg, xg, yg, pg, vg) = out["numba"], out["cuda"]
    assert cc.sum() > 100
    assert np.array_equal(cc, cg)
    assert sc["weight"].size >= 20
    for k in ("pre", "post", "weight"):
        assert np.array_equal(sc[k], sg[k]), k
    assert np.abs(ec).max() > 0 and pc == pg
    np.testing.assert_allclose(eg, ec, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(xg, xc, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(yg, yc, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(vg, vc, atol=1e-4)


def test_device_blocks_continue_from_a_snapshot_like_the_uninterrupted_run():
    """Snapshot an idling store network on the cuda backend, run on in device blocks, restore, run
    again: exactly the same spikes, membranes, eligibility and traces (deliveries are summed in
    fixed point, so the threads' order does not change a sum)."""
    _cuda_or_skip()
    sim = Simulator(_store_net(), backend="cuda")
    cnt = sim.add_monitor(SpikeCounts("C"))
    sim.set_modulator("dopamine", tonic=1.0)
    for _ in range(60):
        if sim.t % 30 == 0:
            sim.inject_spikes("C", np.arange(0, 8))
        sim.step()
    sim.set_modulator("dopamine", tonic=0.0)
    st = list(sim.growing.values())[0]
    st.housekeeping()
    sim.run(2.0, progress=False)
    assert sim._blocks.why_not() is None and st.n > 0
    snap = sim.snapshot()
    runs = []
    for k in range(2):
        if k:
            sim.restore(snap)
        c0 = cnt.counts.copy()
        sim.run(15.0, progress=False)
        a = st.state()
        runs.append((cnt.counts - c0, a["elig"], a["x_pre"], sim.get_state("C", "v"), sim.t))
    (ca, ea, xa, va, ta), (cb, eb, xb, vb, tb) = runs
    assert ta == tb and ca.sum() > 20
    assert np.array_equal(ca, cb)
    for a, b in ((ea, eb), (xa, xb), (va, vb)):
        assert np.array_equal(a, b)
