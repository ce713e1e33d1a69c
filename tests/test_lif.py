"""LIF against analytic results and against snnTorch's Leaky neuron."""
import math

import numpy as np
import pytest

from spiking import LIF, Network, Population, Simulator, SpikeTrains, StateSamples


def _single(model, n=1, dt=0.1, backend="numba", **per):
    net = Network(populations=(Population("L", n, model, per_neuron=per),), dt_ms=dt, seed=1)
    return Simulator(net, backend=backend)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_subthreshold_decay_is_exponential(backend):
    m = LIF(tau_m_ms=20.0, v_th=1.0, v_init=0.5, noise_sigma=0.0)
    sim = _single(m, dt=0.1, backend=backend)
    mon = sim.add_monitor(StateSamples("L", "v", [0]))
    sim.run(100.0)
    t = mon.t_ms + 0.1  # sample after the step that ends at t + dt
    expected = 0.5 * np.exp(-t / 20.0)
    assert np.allclose(mon.values[:, 0], expected, rtol=2e-5, atol=0)


def test_synaptic_current_is_integrated_exactly():
    """V(t) under an exponentially decaying current has a closed form."""
    dt, tm, ts, i0 = 0.1, 20.0, 5.0, 0.4
    m = LIF(tau_m_ms=tm, tau_syn_ms=ts, v_th=10.0, noise_sigma=0.0)
    sim = _single(m, dt=dt)
    sim.group("L").state["i_syn"][:] = i0
    mon = sim.add_monitor(StateSamples("L", "v", [0]))
    sim.run(50.0)
    t = mon.t_ms + dt
    expected = i0 * ts / (ts - tm) * (np.exp(-t / ts) - np.exp(-t / tm))
    assert np.allclose(mon.values[:, 0], expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("tr", [1.0, 5.0, 20.0])  # 5: rise = decay; 20: rise = tau_m (closed forms divide by 0)
def test_double_exponential_synapse_is_integrated_exactly(backend, tr):
    """V(t) and I(t) after a jump h0 of the rise variable have closed forms (with limits at equal taus)."""
    dt, tm, td, h0 = 0.1, 20.0, 5.0, 0.7
    m = LIF(tau_m_ms=tm, tau_syn_ms=td, tau_rise_ms=tr, v_th=10.0, noise_sigma=0.0)
    sim = _single(m, dt=dt, backend=backend)
    sim.group("L").state["i_rise"][:] = h0
    mv = sim.add_monitor(StateSamples("L", "v", [0]))
    mi = sim.add_monitor(StateSamples("L", "i_syn", [0]))
    sim.run(60.0)
    t = mv.t_ms + dt

    def k(a, b):  # integral over [0, t] of exp(-(t-s)/a)/a * exp(-s/b): V's response to exp(-s/b)
        return (t / a) * np.exp(-t / a) if abs(a - b) < 1e-12 else b / (b - a) * (np.exp(-t / b) - np.exp(-t / a))

    if abs(tr - td) < 1e-12:
        i_exp = h0 * (t / td) * np.exp(-t / td)
        # V = (h0/td) * integral of exp(-(t-s)/tm)/tm * s exp(-s/td) ds, by parts
        c = 1.0 / tm - 1.0 / td
        v_exp = h0 / (td * tm) * np.exp(-t / tm) * ((t * c - 1.0) * np.exp(c * t) + 1.0) / c**2
    else:
        i_exp = h0 * td / (td - tr) * (np.exp(-t / td) - np.exp(-t / tr))
        v_exp = h0 * td / (td - tr) * (k(tm, td) - k(tm, tr))
    assert np.abs(i_exp).max() > 0.05 and np.abs(v_exp).max() > 0.05
    assert np.allclose(mi.values[:, 0], i_exp, rtol=1e-4, atol=1e-6)
    assert np.allclose(mv.values[:, 0], v_exp, rtol=1e-4, atol=1e-6)


def test_double_exponential_synapse_from_spikes_and_exact_backends(tmp_path):
    """A rise LIF in a noisy network: numpy == numba bit for bit, and a checkpoint continues exactly."""
    from spiking import FixedOutDegree, PoissonSource, Projection, SpikeCounts
    net = Network(populations=(Population("R", 200, LIF(tau_rise_ms=2.0, noise_sigma=0.2, v_th=0.8)),),
                  sources=(PoissonSource("P", 40, rate_hz=50.0),),
                  projections=(Projection("P", "R", FixedOutDegree(30), weight=0.3, delay_ms=1.0, target="current"),
                               Projection("R", "R", FixedOutDegree(10), weight=0.05, delay_ms=2.0)),
                  dt_ms=0.5, seed=4)
    sims = {be: Simulator(net, backend=be) for be in ("numpy", "numba")}
    mons = {be: s.add_monitor(SpikeTrains("R")) for be, s in sims.items()}
    for s in sims.values():
        s.run(200.0)
    assert mons["numpy"].indices.size > 50
    assert np.array_equal(mons["numpy"].steps, mons["numba"].steps)
    assert np.array_equal(mons["numpy"].indices, mons["numba"].indices)
    for var in ("v", "i_syn", "i_rise"):
        assert np.array_equal(sims["numpy"].get_state("R", var), sims["numba"].get_state("R", var)), var
    assert np.abs(sims["numba"].get_state("R", "i_rise")).max() > 0
    sim = sims["numba"]
    sim.save(tmp_path / "r.h5")
    back = Simulator.load(tmp_path / "r.h5")
    a, b = sim.add_monitor(SpikeCounts("R")), back.add_monitor(SpikeCounts("R"))
    sim.run(100.0)
    back.run(100.0)
    assert a.counts.sum() > 0 and np.array_equal(a.counts, b.counts)
    assert np.array_equal(sim.get_state("R", "i_rise"), back.get_state("R", "i_rise"))


def test_checkpoint_from_before_the_rise_variable_still_loads(tmp_path):
    """A version-1 checkpoint from before LIF had a rise variable (no i_rise, no rise parameters)
    loads and continues exactly: the version-1 fixture, stripped of them."""
    import json
    import os
    import shutil

    import h5py
    from spiking import SpikeTrains
    here = os.path.join(os.path.dirname(__file__), "data")
    p = tmp_path / "old.h5"
    shutil.copy(os.path.join(here, "checkpoint_v1.h5"), p)
    with h5py.File(p, "r+") as h:  # strip what older versions did not write (group 0 is the LIF "L")
        g = h["groups/0"]
        names = [k for k in json.loads(g.attrs["param_names"]) if k not in ("use_rise", "p2h", "rise_decay", "rise_gain")]
        g.attrs["param_names"] = json.dumps(names)
        del g["state/i_rise"]
    back = Simulator.load(p, backend="numpy")
    mon = back.add_monitor(SpikeTrains("L"))
    back.run(100.0)
    ref = np.load(os.path.join(here, "checkpoint_v1_next.npz"))
    assert np.array_equal(mon.steps, ref["L_steps"]) and np.array_equal(mon.indices, ref["L_idx"])


def test_rise_time_is_validated():
    from spiking import ParameterError
    with pytest.raises(ParameterError, match="tau_rise_ms"):
        LIF(tau_rise_ms=-1.0)


@pytest.mark.parametrize("i_const,t_ref", [(1.5, 2.0), (1.1, 0.0), (3.0, 5.0)])
def test_rate_under_constant_current(i_const, t_ref):
    dt = 0.05
    m = LIF(tau_m_ms=20.0, v_th=1.0, v_reset=0.0, t_ref_ms=t_ref, noise_sigma=0.0, i_ext=i_const)
    sim = _single(m, dt=dt)
    tr = sim.add_monitor(SpikeTrains("L"))
    sim.run(2000.0)
    isi_steps = np.diff(tr.steps)
    # exact discrete prediction: ref_steps clamped steps, then the first k with I(1 - p22^k) >= v_th
    p22 = np.float32(math.exp(-dt / 20.0))
    k = math.ceil(math.log(1 - 1.0 / i_const) / math.log(float(p22)))
    ref = round(t_ref / dt)
    assert set(isi_steps.tolist()) <= {ref + k - 1, ref + k, ref + k + 1}
    # and the continuous closed form within one step per interval
    rate = 1000.0 / (isi_steps.mean() * dt)
    closed = m.rate_constant_input_hz(i_const)
    assert abs(1000.0 / rate - 1000.0 / closed) <= dt + 1e-9


def test_below_rheobase_is_silent():
    m = LIF(tau_m_ms=20.0, v_th=1.0, noise_sigma=0.0, i_ext=0.99)
    sim = _single(m, dt=0.5)
    tr = sim.add_monitor(SpikeTrains("L"))
    sim.run(1000.0)
    assert tr.indices.size == 0
    assert m.rate_constant_input_hz(0.99) == 0.0


def test_refractory_clamps_membrane():
    m = LIF(tau_m_ms=10.0, v_th=0.5, v_reset=0.0, t_ref_ms=3.0, noise_sigma=0.0, i_ext=5.0)
    sim = _single(m, dt=1.0)
    tr = sim.add_monitor(SpikeTrains("L"))
    vs = sim.add_monitor(StateSamples("L", "v", [0]))
    sim.run(30.0)
    first = tr.steps[0]
    assert np.all(vs.values[first:first + 4, 0] == 0.0)  # spike step + 3 refractory steps
    assert vs.values[first + 4, 0] > 0.0


def test_spontaneous_rate_with_noise_matches_ember_calibration():
    """EMBER spec 2.2: tau_m 20 ms, V_th 0.86, sigma 0.1, dt 1 ms -> about 0.87 Hz."""
    n = 20_000
    sim = _single(LIF(), n=n, dt=1.0)
    from spiking import SpikeCounts
    c = sim.add_monitor(SpikeCounts("L"))
    sim.run(5000.0)
    rate = c.counts.sum() / n / 5.0
    assert 0.75 < rate < 1.0


def test_discrete_step_matches_snntorch_leaky():
    torch = pytest.importorskip("torch")
    snntorch = pytest.importorskip("snntorch")
    dt, tau, th = 1.0, 20.0, 1.0
    n, steps = 64, 300
    m = LIF(tau_m_ms=tau, v_th=th, v_reset=0.0, t_ref_ms=0.0, noise_sigma=0.0)
    sim = _single(m, n=n, dt=dt)
    p20 = sim.group("L").params["p20"]
    beta = sim.group("L").params["p22"]
    g = np.random.default_rng(0)
    currents = g.uniform(0.0, 2.5, size=(steps, n)).astype(np.float32)
    lif = snntorch.Leaky(beta=torch.tensor(float(beta), dtype=torch.float32),
                         threshold=th, reset_mechanism="zero")
    mem = torch.zeros(n, dtype=torch.float32)
    ours_spk, ref_spk, ours_v, ref_v = [], [], [], []
    for t in range(steps):
        sim.set_current("L", currents[t])
        sim.step()
        s = np.zeros(n, bool)
        s[sim.spikes_now("L")] = True
        ours_spk.append(s)
        ours_v.append(sim.get_state("L", "v"))
        x = torch.from_numpy((p20 * currents[t]).astype(np.float32))
        spk, mem = lif(x, mem)
        ref_spk.append(spk.numpy() > 0)
        ref_v.append(mem.detach().numpy().copy())
    ours_spk, ref_spk = np.array(ours_spk), np.array(ref_spk)
    assert ours_spk.sum() > 100
    assert np.array_equal(ours_spk, ref_spk)
    # where no spike happened, both membranes are the same float32 number
    ours_v, ref_v = np.array(ours_v), np.array(ref_v)
    assert np.allclose(ours_v[~ours_spk], ref_v[~ours_spk], rtol=1e-6, atol=1e-7)


def test_lif_in_physical_units_builds_the_same_neuron_and_fires_at_the_closed_form_rate():
    from spiking import Network, Population, Simulator, SpikeCounts
    from spiking.params import ParameterError
    # rest -65 mV, threshold -50, reset -65, 10 ms, 100 MOhm, 200 pA: 20 mV of drive over rest
    phys = LIF.physical(v_rest_mV=-65.0, v_th_mV=-50.0, v_reset_mV=-65.0, tau_m_ms=10.0, r_mohm=100.0,
                        i_ext_pA=200.0, t_ref_ms=2.0)
    same = LIF(tau_m_ms=10.0, v_th=15.0, v_reset=0.0, v_init=0.0, i_ext=20.0, t_ref_ms=2.0, noise_sigma=0.0)
    assert phys == same
    assert LIF.physical(v_rest_mV=-65.0, v_th_mV=-50.0, v_reset_mV=-65.0, tau_m_ms=10.0, c_pf=100.0,
                        i_ext_pA=200.0) .i_ext == pytest.approx(20.0)        # R = tau / C = 100 MOhm
    assert LIF.weight_mV(50.0, 100.0) == pytest.approx(5.0)
    sim = Simulator(Network(populations=(Population("P", 1, phys),), dt_ms=0.01))
    c = sim.add_monitor(SpikeCounts("P"))
    sim.run(1000.0)
    # T = t_ref + tau ln(20 / 5) = 15.86 ms: 63 spikes in a second (the step quantises it to 0.01 ms)
    assert abs(int(c.counts[0]) - phys.rate_constant_input_hz(20.0)) <= 1
    cuba = LIF.physical(v_rest_mV=-49.0, v_th_mV=-50.0, v_reset_mV=-60.0, tau_m_ms=20.0, t_ref_ms=5.0)
    assert (cuba.v_th, cuba.v_reset) == (-1.0, -11.0)     # rest above threshold: it fires on its own
    with pytest.raises(ParameterError, match="give the membrane's r_mohm or its c_pf"):
        LIF.physical(v_rest_mV=-65.0, v_th_mV=-50.0, v_reset_mV=-65.0, tau_m_ms=10.0, i_ext_pA=10.0)
