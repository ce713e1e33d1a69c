"""Receptor types (each with its own time constant) and conductance synapses on LIF (issue 16)."""
import math

import numpy as np
import pytest

from spiking import (LIF, FixedInDegree, Izhikevich, Network, Pairs, ParameterError, Population, Probability,
                     Projection, Receptor, Simulator, SpikeCounts, SpikeGenerator, SpikeTrains)
from spiking.kernels.lif_receptors import exp_neg_np

TAU_M = 20.0


def _one_neuron(dt, receptors, drives, v_th=100.0, i_ext=0.0, t_ref_ms=0.0):
    """One LIF neuron with ``receptors``; ``drives``: (receptor, target, weight, spike times) each
    from its own generator, delay one step."""
    m = LIF(tau_m_ms=TAU_M, v_th=v_th, v_reset=0.0, noise_sigma=0.0, i_ext=i_ext, t_ref_ms=t_ref_ms,
            receptors=receptors)
    srcs, prs = [], []
    for k, (rec, target, w, times) in enumerate(drives):
        srcs.append(SpikeGenerator(f"G{k}", 1, tuple(times), (0,) * len(times)))
        prs.append(Projection(f"G{k}", "P", Pairs((0,), (0,)), weight=abs(w), inhibitory=w < 0 and target == "current",
                              delay_ms=dt, target=target, receptor=rec))
    return Network((Population("P", 1, m),), tuple(prs), sources=tuple(srcs), dt_ms=dt)


def _trace(net, n, backend="numpy"):
    sim = Simulator(net, backend=backend)
    v, i_syn = np.empty(n), np.empty((n, len(net.populations[0].model.receptors)))
    for k in range(n):
        sim.step()
        v[k] = sim.get_state("P", "v")[0]
        i_syn[k] = sim.get_state("P", "i_syn")[:, 0]
    return v, i_syn


def test_two_current_receptors_follow_the_closed_form():
    dt, n = 0.1, 800
    recs = (Receptor("exc", 5.0), Receptor("inh", 10.0))
    we, wi = 4.0, -2.0
    v, i_syn = _trace(_one_neuron(dt, recs, [("exc", "current", we, [0.0]), ("inh", "current", wi, [0.0])]), n)
    # the spike of step 0 arrives in step 1 and enters the currents at its end: after step 1 + k,
    # I_r = w_r exp(-k dt / tau_r) and V = sum_r w_r tau_r / (tau_r - tau_m) (exp(-k dt / tau_r) - exp(-k dt / tau_m))
    k = np.arange(n) - 1
    s = np.maximum(k, 0) * dt
    for col, (w, tau) in enumerate(((we, 5.0), (wi, 10.0))):
        expect = np.where(k >= 0, w * np.exp(-s / tau), 0.0)
        assert np.allclose(i_syn[:, col], expect, rtol=2e-5, atol=1e-6), col
    expect_v = sum(np.where(k >= 0, w * tau / (tau - TAU_M) * (np.exp(-s / tau) - np.exp(-s / TAU_M)), 0.0)
                   for w, tau in ((we, 5.0), (wi, 10.0)))
    assert v.max() > 0.19 and v.min() < -0.05   # excitation first, the slower inhibition later
    assert np.allclose(v, expect_v, rtol=1e-4, atol=2e-6)
    # each receptor kept its own time constant: the excitatory current is gone first
    late = int(40 / dt)
    assert abs(i_syn[late, 0] / we) < abs(i_syn[late, 1] / wi) / 10


def _cond_drives():
    return [("exc", "conductance", 0.5, [5.0, 12.0, 12.5, 30.0]), ("inh", "conductance", 2.0, [20.0, 40.0])]


def _cond_reference(dt, n, sub=50, e=(60.0, -20.0), tau=(5.0, 10.0), i_ext=5.0):
    """The same equations in float64, RK4 with dt / sub, conductances decaying exactly between jumps;
    a spike of step s moves g at the end of step s + 1 (time (s + 2) dt)."""
    jumps = sorted([(round(t / dt) + 2) * dt, r, w] for r, (_, _, w, ts) in enumerate(_cond_drives()) for t in ts)
    e, tau = np.array(e), np.array(tau)
    g, v, t, h, ji = np.zeros(2), 0.0, 0.0, dt / sub, 0
    f = lambda v, g: (-v + g @ (e - v) + i_ext) / TAU_M   # noqa: E731
    out = np.empty(n)
    for k in range(n):
        for _ in range(sub):
            while ji < len(jumps) and jumps[ji][0] <= t + 1e-9:
                g[jumps[ji][1]] += jumps[ji][2]
                ji += 1
            gt = lambda x: g * np.exp(-x / tau)   # noqa: E731
            k1 = f(v, gt(0)); k2 = f(v + h / 2 * k1, gt(h / 2)); k3 = f(v + h / 2 * k2, gt(h / 2))   # noqa: E702
            k4 = f(v + h * k3, gt(h))
            v += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            g = gt(h)
            t += h
        out[k] = v
    return out


COND_RECS = (Receptor("exc", 5.0, e_rev=60.0), Receptor("inh", 10.0, e_rev=-20.0))


def test_conductances_against_an_independent_float64_integration():
    errs = {}
    for dt in (0.1, 0.025):
        n = int(round(60.0 / dt))
        v, _ = _trace(_one_neuron(dt, COND_RECS, _cond_drives(), i_ext=5.0), n)
        ref = _cond_reference(dt, n)
        assert np.ptp(ref) > 15 and ref.min() < -4   # both reversal potentials were felt
        errs[dt] = np.abs(v - ref).max()
    # exponential Euler is first order: 0.099 mV at dt 0.1 on a 19.6 mV excursion, a quarter of it at dt / 4
    assert errs[0.1] < 0.15
    assert errs[0.1] / errs[0.025] > 3.0


def test_conductance_step_is_the_documented_exponential_euler():
    dt, n = 0.1, 600
    v, g = _trace(_one_neuron(dt, COND_RECS, _cond_drives(), i_ext=5.0), n)
    # an independent float64 rendering of the scheme: inputs held over the step, V exact against them
    gv = np.vstack([np.zeros((1, 2)), g[:-1]])
    vv = np.concatenate([[0.0], v[:-1]])
    big_g = 1.0 + gv.sum(1)
    vinf = (5.0 + gv @ np.array([60.0, -20.0])) / big_g
    expect = vinf + (vv - vinf) * np.exp(-big_g * dt / TAU_M)
    assert np.allclose(v, expect, atol=2e-5)


def _brette_like(cond, rise=False, n=300, seed=2):
    if cond:
        m = LIF.physical(v_rest_mV=-60, v_th_mV=-50, v_reset_mV=-60, tau_m_ms=20, t_ref_ms=5, i_ext_pA=200,
                         r_mohm=100, receptors=(Receptor("exc", 5.0, e_rev=0.0), Receptor("inh", 10.0, e_rev=-80.0)))
        we, wi, tgt = 1.2, 6.7, "conductance"
    else:
        m = LIF.physical(v_rest_mV=-49, v_th_mV=-50, v_reset_mV=-60, tau_m_ms=20, t_ref_ms=5, noise_sigma_mV=0.5,
                         receptors=(Receptor("exc", 5.0, tau_rise_ms=1.0 if rise else 0.0), Receptor("inh", 10.0)))
        we, wi, tgt = 4.86, 9.0, "current"
    ne = int(0.8 * n)
    v0 = (np.random.default_rng(seed).random(n) * 10 - 10).astype(np.float32)
    return Network((Population("P", n, m, per_neuron={"v_init": v0}),),
                   (Projection("P", "P", Probability(0.1), weight=we, delay_ms=0.1, target=tgt, receptor="exc",
                               pre_range=(0, ne)),
                    Projection("P", "P", Probability(0.1), weight=wi, delay_ms=0.1, target=tgt, receptor="inh",
                               inhibitory=not cond, pre_range=(ne, n))), dt_ms=0.1, seed=seed)


def _mixed(n=200, seed=5):
    """Three receptors: a current with a rise time, a conductance, and a plain current."""
    m = LIF(noise_sigma=0.4, v_th=1.0, receptors=(Receptor("ampa", 3.0, tau_rise_ms=0.5), Receptor("gaba", 8.0, e_rev=-0.5),
                                                  Receptor("slow", 40.0)))
    return Network((Population("P", n, m),),
                   (Projection("P", "P", FixedInDegree(10), weight=0.3, delay_ms=1.0, target="current", receptor="ampa"),
                    Projection("P", "P", FixedInDegree(10), weight=0.2, delay_ms=2.0, target="conductance"),
                    Projection("P", "P", FixedInDegree(5), weight=0.05, delay_ms=1.0, target="current", receptor="slow")),
                   dt_ms=0.5, seed=seed)


@pytest.mark.parametrize("cond,rise", [(False, False), (False, True), (True, False), ("mixed", None)])
def test_numpy_and_numba_agree_bit_for_bit(cond, rise):
    net = _mixed() if cond == "mixed" else _brette_like(cond, rise)
    out = []
    for be, opts in (("numpy", {}), ("numba", {}), ("numba", {"threads": 2})):
        sim = Simulator(net, backend=be, **opts)
        tr = sim.add_monitor(SpikeTrains("P"))
        sim.run(150.0)
        out.append((tr.steps.copy(), tr.indices.copy(), {k: sim.get_state("P", k).copy() for k in ("v", "i_syn", "i_rise")}))
    assert out[0][0].size > 100
    for steps, idx, st in out[1:]:
        assert np.array_equal(steps, out[0][0]) and np.array_equal(idx, out[0][1])
        for k in st:
            assert np.array_equal(st[k], out[0][2][k]), k


def test_one_named_receptor_is_the_classic_lif_bit_for_bit():
    def net(named):
        m = LIF(tau_m_ms=20.0, tau_syn_ms=5.0, v_th=0.86, noise_sigma=0.1,
                receptors=(Receptor("syn", 5.0),) if named else ())
        return Network((Population("A", 400, m),), (Projection("A", "A", FixedInDegree(40), weight=0.06,
                                                                target="current"),), dt_ms=1.0, seed=3)
    res = []
    for named in (False, True):
        sim = Simulator(net(named))
        tr = sim.add_monitor(SpikeTrains("A"))
        sim.run(2000.0)
        order = np.lexsort((tr.indices, tr.steps))   # within a step the classic kernel lists the rare
        res.append((tr.steps[order], tr.indices[order], sim.get_state("A", "v")))   # slow-noise cells last
    assert res[0][0].size > 200
    for a, b in zip(res[0], res[1]):
        assert np.array_equal(a, b)


def test_cuda_simulator_agrees_with_numba():
    pytest.importorskip("numba.cuda")
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA device and NUMBA_ENABLE_CUDASIM is not set")
    for cond in (False, True):
        net = _brette_like(cond, n=120)
        out = {}
        for be in ("numba", "cuda"):
            sim = Simulator(net, backend=be)
            c = sim.add_monitor(SpikeCounts("P"))
            sim.run(15.0)
            out[be] = (c.counts.copy(), sim.get_state("P", "v"), sim.get_state("P", "i_syn"))
        assert out["numba"][0].sum() > 0
        assert np.array_equal(out["numba"][0], out["cuda"][0])
        assert np.allclose(out["numba"][1], out["cuda"][1], atol=1e-4)
        assert np.allclose(out["numba"][2], out["cuda"][2], atol=1e-4)


@pytest.mark.parametrize("cond", [False, True])
def test_checkpoint_continues_exactly(tmp_path, cond):
    net = _brette_like(cond, n=200)
    a = Simulator(net)
    a.run(80.0)
    a.save(tmp_path / "c.h5")
    ta = a.add_monitor(SpikeTrains("P"))
    a.run(80.0)
    b = Simulator.load(tmp_path / "c.h5")
    assert b.get_state("P", "i_syn").shape == (2, 200)
    tb = b.add_monitor(SpikeTrains("P"))
    b.run(80.0)
    assert ta.steps.size > 50
    assert np.array_equal(ta.steps, tb.steps) and np.array_equal(ta.indices, tb.indices)
    for k in ("v", "i_syn", "refr"):
        assert np.array_equal(a.get_state("P", k), b.get_state("P", k)), k


@pytest.mark.parametrize("cond", [False, True, "mixed"])
def test_block_runs_give_the_step_paths_spikes(cond):
    net = _mixed() if cond == "mixed" else _brette_like(cond, n=200)
    out = []
    for blocks, threads in ((False, 1), (True, 1), (True, 2)):
        sim = Simulator(net, threads=threads)
        sim.block_runs = blocks
        assert (sim._blocks.why_not() is None) == blocks
        tr = sim.add_monitor(SpikeTrains("P"))
        sim.run(120.0)
        out.append((tr.steps, tr.indices, sim.get_state("P", "v"), sim.get_state("P", "i_syn"), sim.get_state("P", "i_rise")))
    assert out[0][0].size > 100
    for o in out[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(out[0], o))


def test_blocks_refuse_per_synapse_delays_into_receptors():
    from spiking import Uniform
    m = LIF(receptors=(Receptor("exc", 5.0), Receptor("inh", 10.0)))
    net = Network((Population("P", 30, m),), (Projection("P", "P", FixedInDegree(3), delay_ms=Uniform(1.0, 3.0),
                                                          target="current", receptor="inh", name="slow"),))
    assert Simulator(net)._blocks.why_not() == "projection 'slow' with per-synapse delays into a population with receptors"


def test_per_synapse_delays_reach_their_receptor():
    from spiking import Uniform
    m = LIF(noise_sigma=0.3, receptors=(Receptor("exc", 5.0), Receptor("inh", 10.0)))
    net = Network((Population("P", 60, m),), (Projection("P", "P", FixedInDegree(6), weight=0.4, delay_ms=Uniform(1.0, 4.0),
                                                          target="current", receptor="inh"),), dt_ms=1.0, seed=4)
    out = []
    for be in ("numpy", "numba"):
        sim = Simulator(net, backend=be)
        sim.run(400.0)
        out.append(sim.get_state("P", "i_syn"))
    assert np.array_equal(out[0], out[1])
    assert np.all(out[0][0] == 0) and out[0][1].max() > 0   # only the inhibitory receptor received


def test_exp_neg_is_exp():
    x = np.concatenate([np.linspace(0.0, 5.0, 5001), np.geomspace(1e-12, 700.0, 500)])
    assert np.allclose(exp_neg_np(x), np.exp(-x), rtol=1e-12, atol=0)
    assert exp_neg_np(np.array([0.0]))[0] == 1.0


def test_physical_receptors_shift_reversal_potentials_by_rest():
    m = LIF.physical(v_rest_mV=-60, v_th_mV=-50, v_reset_mV=-60, tau_m_ms=20,
                     receptors=(Receptor("exc", 5.0, e_rev=0.0), Receptor("inh", 10.0, e_rev=-80.0), Receptor("i", 3.0)))
    assert [r.e_rev for r in m.receptors] == [60.0, -20.0, None]
    assert math.isclose(LIF.conductance_nS(6.0, 100.0), 0.6)


@pytest.mark.parametrize("kw,model,message", [
    ({"target": "current", "receptor": "nmda"}, "two", "has no receptor 'nmda'; it has ['exc', 'inh']"),
    ({"target": "current", "receptor": "gexc"}, "cond", "receptor 'gexc' of 'P' is a conductance (it has e_rev); use target='conductance'"),
    ({"target": "conductance", "receptor": "exc"}, "two", "receptor 'exc' of 'P' is a current (it has no e_rev); use target='current'"),
    ({"target": "conductance"}, "two", "has no conductance receptor"),
    ({"target": "current", "receptor": "exc"}, "izh", "'P' has no receptor 'exc'; it has ['syn']"),
    ({"target": "conductance"}, "classic", "has no conductance receptor (it has ['syn'])"),
])
def test_receptor_errors_name_the_problem(kw, model, message):
    models = {"two": LIF(receptors=(Receptor("exc", 5.0), Receptor("inh", 10.0))),
              "cond": LIF(receptors=(Receptor("gexc", 5.0, e_rev=60.0),)),
              "izh": Izhikevich(), "classic": LIF()}
    with pytest.raises(ParameterError) as e:
        Network((Population("P", 10, models[model]),), (Projection("P", "P", FixedInDegree(2), **kw),))
    assert message in str(e.value)


def test_receptor_description_errors():
    with pytest.raises(ParameterError, match="a conductance is never negative"):
        Projection("P", "P", FixedInDegree(2), target="conductance", inhibitory=True)
    with pytest.raises(ParameterError, match="receptor='exc' needs target 'current' or 'conductance'"):
        Projection("P", "P", FixedInDegree(2), receptor="exc")
    with pytest.raises(ParameterError, match="duplicate receptor names"):
        LIF(receptors=(Receptor("a", 5.0), Receptor("a", 6.0)))
    with pytest.raises(ParameterError, match="tau_ms must be > 0"):
        Receptor("a", 0.0)
    with pytest.raises(ParameterError, match="must be a tuple of spiking.Receptor"):
        LIF(receptors=[Receptor("a", 5.0)])


def test_brette_networks_are_the_papers():
    from sims.brette2007 import network
    for model in ("cuba", "coba"):
        net = network(model, 1)
        pop = net.populations[0]
        assert pop.size == 4000 and len(net.projections) == 2
        m = pop.model
        assert m.t_ref_ms == 5.0 and m.tau_m_ms == 20.0 and [r.tau_ms for r in m.receptors] == [5.0, 10.0]
        v0 = pop.per_neuron["v_init"]
        assert v0.min() >= m.v_reset and v0.max() <= m.v_th
        sim = Simulator(net)
        n_syn = sum(a["indices"].size for _, a in sim.projections)
        assert abs(n_syn - 0.02 * 4000 * 4000) < 4 * math.sqrt(0.02 * 4000 * 4000)
    cuba, coba = network("cuba", 1).populations[0].model, network("coba", 1).populations[0].model
    assert (cuba.v_th, cuba.v_reset) == (-1.0, -11.0)            # rest -49, threshold -50, reset -60 mV
    assert [r.e_rev for r in coba.receptors] == [60.0, -20.0]   # 0 and -80 mV above a -60 mV rest
    assert coba.i_ext == 20.0


def test_spike_stats_rate_and_cv():
    from sims.brette2007 import spike_stats
    # neuron 0 fires regularly (CV 0), neuron 1 with intervals 1 and 3 steps (CV 0.5), neuron 2 twice (no CV)
    steps = np.array([0, 10, 20, 30, 0, 1, 4, 5, 8, 3, 9])
    idx = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2])
    out = spike_stats(steps, idx, n=4, T_s=1.0, dt_ms=1.0)
    assert out["rate_hz"] == 11 / 4 and out["cells_with_cv"] == 2
    assert math.isclose(out["cv_isi"], 0.25)


def test_brette_run_small():
    from sims.brette2007 import BretteConfig, run
    out = run(BretteConfig(model="cuba", T=0.05), seed=1)
    assert out["neurons"] == 4000 and out["rate_hz"] > 0 and out["sim_wall_s"] > 0
    with pytest.raises(ValueError, match="model must be 'cuba' or 'coba'"):
        BretteConfig(model="hh")


# -- Izhikevich with receptors -------------------------------------------------------------------

def _izh_net(receptors, n=100, seed=2):
    from spiking import izhikevich_2003_heterogeneity
    het = izhikevich_2003_heterogeneity(80, n - 80, np.random.default_rng(0))
    m = Izhikevich(noise_sigma=3.0, i_ext=4.0, receptors=receptors)
    if receptors and receptors[0].conductance:
        prs = (Projection("Z", "Z", FixedInDegree(10), weight=0.03, delay_ms=1.0, target="conductance", receptor="ampa",
                          pre_range=(0, 80)),
               Projection("Z", "Z", FixedInDegree(10), weight=0.1, delay_ms=1.0, target="conductance", receptor="gaba",
                          pre_range=(80, n)),
               Projection("Z", "Z", FixedInDegree(5), weight=0.5, delay_ms=2.0, target="current", receptor="nmda",
                          pre_range=(0, 80)))
    else:
        prs = (Projection("Z", "Z", FixedInDegree(10), weight=1.0, delay_ms=1.0, target="current", pre_range=(0, 80)),)
    return Network((Population("Z", n, m, per_neuron=het),), prs, dt_ms=0.5, seed=seed)


IZH_RECS = (Receptor("ampa", 5.0, e_rev=0.0), Receptor("gaba", 10.0, e_rev=-80.0), Receptor("nmda", 50.0, tau_rise_ms=2.0))


def _izh_run(be, ms):
    sim = Simulator(_izh_net(IZH_RECS), backend=be)
    c = sim.add_monitor(SpikeCounts("Z"))
    sim.run(ms)
    return c.counts.copy(), {k: sim.get_state("Z", k) for k in ("v", "u", "i_syn", "i_rise")}


def test_izhikevich_receptors_numpy_and_numba_agree_bit_for_bit():
    out = {be: _izh_run(be, 300.0) for be in ("numpy", "numba")}
    assert out["numpy"][0].sum() > 300
    assert np.array_equal(out["numpy"][0], out["numba"][0])
    for k in out["numpy"][1]:
        assert np.array_equal(out["numpy"][1][k], out["numba"][1][k]), k
    i_syn = out["numpy"][1]["i_syn"]
    assert i_syn.shape == (3, 100) and (i_syn > 0).all(axis=1).any() and i_syn[2].max() > 0


def test_izhikevich_receptors_cuda_simulator_agrees_with_numba():
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA device and NUMBA_ENABLE_CUDASIM is not set")
    out = {be: _izh_run(be, 25.0) for be in ("numba", "cuda")}   # the simulator runs each thread in Python
    assert out["numba"][0].sum() > 10 and out["numba"][1]["i_syn"].max() > 0
    assert np.array_equal(out["cuda"][0], out["numba"][0])
    for k in ("v", "u", "i_syn", "i_rise"):
        assert np.allclose(out["cuda"][1][k], out["numba"][1][k], atol=1e-3), k


def test_izhikevich_one_named_receptor_is_the_classic_synapse():
    res = []
    for recs in ((), (Receptor("syn", 5.0),)):
        sim = Simulator(_izh_net(recs))
        tr = sim.add_monitor(SpikeTrains("Z"))
        sim.run(300.0)
        res.append((tr.steps, tr.indices, sim.get_state("Z", "v"), sim.get_state("Z", "u")))
    assert res[0][0].size > 300
    for a, b in zip(*res):
        assert np.array_equal(a, b)


def test_izhikevich_conductance_against_float64_euler():
    dt, n = 0.1, 1500
    m = Izhikevich(i_ext=0.0, receptors=(Receptor("ampa", 5.0, e_rev=0.0), Receptor("gaba", 10.0, e_rev=-80.0)))
    times_e, times_i = (10.0, 11.0, 60.0), (30.0, 100.0)
    net = Network((Population("Z", 1, m),),
                  (Projection("E", "Z", Pairs((0,), (0,)), weight=0.06, delay_ms=dt, target="conductance", receptor="ampa"),
                   Projection("I", "Z", Pairs((0,), (0,)), weight=0.2, delay_ms=dt, target="conductance", receptor="gaba")),
                  sources=(SpikeGenerator("E", 1, times_e, (0,) * 3), SpikeGenerator("I", 1, times_i, (0,) * 2)), dt_ms=dt)
    sim = Simulator(net, backend="numpy")
    v = np.empty(n)
    for k in range(n):
        sim.step()
        v[k] = sim.get_state("Z", "v")[0]
    # float64 forward Euler of the same equations; a spike of step s moves g at the end of step s + 1
    jumps = {}
    for r, (w, ts) in enumerate(((0.06, times_e), (0.2, times_i))):
        for t in ts:
            jumps.setdefault(round(t / dt) + 1, []).append((r, w))
    g, e, p11 = np.zeros(2), np.array([0.0, -80.0]), np.exp(-dt / np.array([5.0, 10.0]))
    vv, uu, ref = -65.0, 0.2 * -65.0, np.empty(n)
    for k in range(n):
        i_syn = g @ (e - vv)
        dv = 0.04 * vv * vv + 5 * vv + 140 - uu + i_syn
        du = 0.02 * (0.2 * vv - uu)
        vv, uu = vv + dt * dv, uu + dt * du
        g = g * p11
        for r, w in jumps.get(k, []):
            g[r] += w
        ref[k] = vv
    assert ref.max() > -62 and ref.min() < -72     # both receptors moved it (rest is near -70 mV)
    assert np.abs(v - ref).max() < 2e-3            # float32 against float64, the same scheme


def test_izhikevich_receptors_checkpoint_continues_exactly(tmp_path):
    a = Simulator(_izh_net(IZH_RECS))
    a.run(100.0)
    a.save(tmp_path / "z.h5")
    ta = a.add_monitor(SpikeTrains("Z"))
    a.run(100.0)
    b = Simulator.load(tmp_path / "z.h5")
    tb = b.add_monitor(SpikeTrains("Z"))
    b.run(100.0)
    assert ta.steps.size > 50
    assert np.array_equal(ta.steps, tb.steps) and np.array_equal(ta.indices, tb.indices)
    for k in ("v", "u", "i_syn", "i_rise"):
        assert np.array_equal(a.get_state("Z", k), b.get_state("Z", k)), k


def test_large_conductances_take_the_exact_exponential_path():
    # G dt / tau_m = (1 + g) / 20 above 1/8 when g > 1.5: the fused loop leaves those steps to exp_neg
    drives = [("exc", "conductance", 4.0, [5.0, 6.0, 30.0]), ("inh", "conductance", 9.0, [15.0, 50.0])]
    traces = []
    for be in ("numpy", "numba"):
        v, g = _trace(_one_neuron(1.0, COND_RECS, drives, i_ext=5.0), 90, backend=be)
        traces.append((v, g))
    big = (1.0 + traces[0][1].sum(1)) / TAU_M > 0.125
    assert big.sum() > 5 and (~big).sum() > 5
    assert np.array_equal(traces[0][0], traces[1][0]) and np.array_equal(traces[0][1], traces[1][1])
    # and the same scheme in float64: V relaxes towards the held drive at the held total conductance
    gv = np.vstack([np.zeros((1, 2)), traces[0][1][:-1]])
    vv = np.concatenate([[0.0], traces[0][0][:-1]])
    big_g = 1.0 + gv.sum(1)
    vinf = (5.0 + gv @ np.array([60.0, -20.0])) / big_g
    expect = vinf + (vv - vinf) * np.exp(-big_g * 1.0 / TAU_M)
    assert np.allclose(traces[0][0], expect, atol=2e-5)
