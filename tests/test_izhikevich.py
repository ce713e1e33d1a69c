"""Izhikevich families against an independent float64 integration, and the 2003 recipe."""
import numpy as np
import pytest

from spiking import IZH_FAMILIES, Izhikevich, Network, Population, Simulator, SpikeTrains, StateSamples
from spiking.params import izhikevich_2003_heterogeneity


def reference_trace(a, b, c, d, i_ext, dt, T, half_steps):
    """Plain-Python float64 integration of the same scheme (independent of the engine)."""
    v, u = -65.0, b * -65.0
    vs, spikes = [], []
    for k in range(int(round(T / dt))):
        if half_steps:
            for _ in range(2):
                v = v + 0.5 * dt * (0.04 * v * v + 5 * v + 140 - u + i_ext)
            u = u + dt * a * (b * v - u)
        else:
            v, u = v + dt * (0.04 * v * v + 5 * v + 140 - u + i_ext), u + dt * a * (b * v - u)
        if v >= 30.0:
            spikes.append(k)
            v, u = c, u + d
        vs.append(v)
    return np.array(vs), np.array(spikes)


@pytest.mark.parametrize("family", sorted(IZH_FAMILIES))
@pytest.mark.parametrize("dt,half", [(0.25, False), (1.0, True)])
def test_family_traces_match_float64_reference(family, dt, half):
    a, b, c, d = IZH_FAMILIES[family]
    T, i_ext = 400.0, 10.0
    model = Izhikevich.family(family, i_ext=i_ext, half_steps=half)
    sim = Simulator(Network(populations=(Population("N", 1, model),), dt_ms=dt), backend="numba")
    tr = sim.add_monitor(SpikeTrains("N"))
    vs = sim.add_monitor(StateSamples("N", "v", [0]))
    sim.run(T)
    ref_v, ref_spk = reference_trace(a, b, c, d, i_ext, dt, T, half)
    ours = tr.steps
    assert ref_spk.size >= 3, "the reference should fire"
    assert abs(ours.size - ref_spk.size) <= 1
    m = min(ours.size, ref_spk.size, 5)
    assert np.all(np.abs(ours[:m] - ref_spk[:m]) <= 1)
    # before the first spike the float32 trace follows the float64 one closely
    first = int(ref_spk[0])
    assert np.allclose(vs.values[:first, 0], ref_v[:first], atol=2e-3, rtol=1e-4)


def test_families_have_their_firing_patterns():
    """RS adapts, FS does not, CH and IB burst (short first intervals)."""
    isis = {}
    for fam in ("RS", "FS", "CH", "IB"):
        sim = Simulator(Network(populations=(Population("N", 1, Izhikevich.family(fam, i_ext=10.0)),),
                                dt_ms=0.1), backend="numpy")
        tr = sim.add_monitor(SpikeTrains("N"))
        sim.run(500.0)
        isis[fam] = np.diff(tr.t_ms)
    assert isis["RS"][-1] > 1.5 * isis["RS"][0]           # spike-frequency adaptation
    assert isis["FS"][3:].std() < 0.05 * isis["FS"][3:].mean()   # tonic
    assert isis["FS"].mean() < isis["RS"].mean() / 3               # and fast
    assert isis["CH"].min() <= 8 and isis["CH"].max() > 3 * isis["CH"].min()   # bursts and pauses
    assert isis["IB"][0] <= 8 and isis["IB"][-1] > 2 * isis["IB"][0]          # initial burst, then tonic


def test_2003_heterogeneity_distributions():
    g = np.random.default_rng(3)
    ne, ni = 80_000, 20_000
    p = izhikevich_2003_heterogeneity(ne, ni, g)
    re = (p["c_mV"][:ne] + 65.0) / 15.0        # = r^2 for excitatory cells
    assert np.all(p["a"][:ne] == np.float32(0.02)) and np.all(p["b"][:ne] == np.float32(0.2))
    assert re.min() >= 0 and re.max() <= 1
    assert np.mean(re) == pytest.approx(1 / 3, abs=0.01)       # E[r^2] = 1/3
    assert np.allclose(p["d"][:ne], 8 - 6 * re, atol=1e-5)     # d and c share r
    ri = (p["a"][ne:] - 0.02) / 0.08
    assert np.mean(ri) == pytest.approx(0.5, abs=0.01)
    assert np.allclose(p["b"][ne:], 0.25 - 0.05 * ri, atol=1e-6)
    assert np.all(p["c_mV"][ne:] == -65) and np.all(p["d"][ne:] == 2)
    # exc range RS (c=-65, d=8) to CH (c=-50, d=2); inh FS (a=.1, b=.2) to LTS (a=.02, b=.25)
    assert p["c_mV"][:ne].max() > -50.1 and p["d"][:ne].min() < 2.1
    assert p["a"][ne:].max() > 0.099 and p["b"][ne:].max() > 0.249


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("tau_rise", [2.0, 8.0])
def test_double_exponential_current_is_exact(backend, tau_rise):
    """One weight w arriving on a current synapse: I(t) = w td/(td - tr) (e^-t/td - e^-t/tr), charge w td."""
    from spiking import Pairs, Projection, SpikeGenerator
    dt, td, w = 0.5, 8.0, 2.0
    quiet = Izhikevich(a=0.0, b=0.0, c_mV=-65.0, d=0.0, v_peak_mV=1e9, tau_syn_ms=td, tau_rise_ms=tau_rise)
    net = Network(populations=(Population("N", 1, quiet),),
                  sources=(SpikeGenerator("G", 1, times_ms=(5.0,), indices=(0,)),),
                  projections=(Projection("G", "N", Pairs((0,), (0,)), weight=w, delay_ms=1.0, target="current"),),
                  dt_ms=dt)
    sim = Simulator(net, backend=backend)
    mon = sim.add_monitor(StateSamples("N", "i_syn", [0]))
    sim.run(200.0)
    i = mon.values[:, 0].astype(float)
    arrive = int(round(6.0 / dt))            # the arrival step: the input enters the rise variable
    t = (np.arange(i.size) - arrive) * dt
    if tau_rise == td:
        expect = np.where(t >= 0, w * (t / td) * np.exp(-t / td), 0.0)
    else:
        expect = np.where(t >= 0, w * td / (td - tau_rise) * (np.exp(-t / td) - np.exp(-t / tau_rise)), 0.0)
    assert np.allclose(i, expect, atol=1e-5, rtol=1e-4)
    assert i.sum() * dt == pytest.approx(w * td, rel=2e-3)   # the same charge as a single exponential


def reference_2007(C, k, vr, vt, a, b, c, d, v_peak, i_ext, dt, T, half_steps, v0):
    """Plain-Python float64 integration of the general (2007) form, same scheme as the engine."""
    v, u = v0, 0.0
    vs, spikes = [], []
    for step in range(int(round(T / dt))):
        if half_steps:
            for _ in range(2):
                v = v + 0.5 * dt * (k * (v - vr) * (v - vt) - u + i_ext) / C
            u = u + dt * a * (b * (v - vr) - u)
        else:
            v, u = v + dt * (k * (v - vr) * (v - vt) - u + i_ext) / C, u + dt * a * (b * (v - vr) - u)
        if v >= v_peak:
            spikes.append(step)
            v, u = c, u + d
        vs.append(v)
    return np.array(vs), np.array(spikes)


# Izhikevich (2007), chapter 8: regular spiking (RS) and chattering (CH) cortical cells
BOOK = {"RS": dict(C=100.0, k=0.7, v_r_mV=-60.0, v_t_mV=-40.0, a=0.03, b=-2.0, c_mV=-50.0, d=100.0, v_peak_mV=35.0),
        "CH": dict(C=50.0, k=1.5, v_r_mV=-60.0, v_t_mV=-40.0, a=0.03, b=1.0, c_mV=-40.0, d=150.0, v_peak_mV=25.0)}


@pytest.mark.parametrize("cell,i_ext", [("RS", 70.0), ("CH", 300.0)])
@pytest.mark.parametrize("dt,half", [(0.1, False), (0.5, True)])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_general_2007_form_matches_float64_reference(cell, i_ext, dt, half, backend):
    p = BOOK[cell]
    model = Izhikevich(form="2007", v_init_mV=p["v_r_mV"], i_ext=i_ext, half_steps=half, **p)
    sim = Simulator(Network(populations=(Population("N", 1, model),), dt_ms=dt), backend=backend)
    sim.set_state("N", "u", 0.0)  # the book starts from u = 0 (the 2003 default is u = b v)
    tr = sim.add_monitor(SpikeTrains("N"))
    vs = sim.add_monitor(StateSamples("N", "v", [0]))
    T = 600.0
    sim.run(T)
    ref_v, ref_spk = reference_2007(p["C"], p["k"], p["v_r_mV"], p["v_t_mV"], p["a"], p["b"], p["c_mV"], p["d"],
                                    p["v_peak_mV"], i_ext, dt, T, half, p["v_r_mV"])
    assert ref_spk.size >= 4
    assert abs(tr.steps.size - ref_spk.size) <= 1
    m = min(tr.steps.size, ref_spk.size, 5)
    assert np.all(np.abs(tr.steps[:m] - ref_spk[:m]) <= 1)
    first = int(ref_spk[0])
    # float32 against float64 over up to 1,000 steps of a slow ramp: a few mV/1000 near the upswing
    assert np.allclose(vs.values[:first, 0], ref_v[:first], atol=2e-2, rtol=1e-3)


def test_general_form_backends_agree_and_validate():
    from spiking import FixedOutDegree, ParameterError, PoissonSource, Projection
    model = Izhikevich(form="2007", noise_sigma=40.0, i_ext=60.0, tau_rise_ms=2.0, v_init_mV=-60.0, **{
        k: v for k, v in BOOK["RS"].items()})
    net = Network(populations=(Population("N", 150, model),), sources=(PoissonSource("P", 30, rate_hz=80.0),),
                  projections=(Projection("P", "N", FixedOutDegree(20), weight=200.0, delay_ms=1.0, target="current"),
                               Projection("N", "N", FixedOutDegree(10), weight=2.0, delay_ms=1.0)),
                  dt_ms=0.25, seed=9)
    out = {}
    for be in ("numpy", "numba"):
        sim = Simulator(net, backend=be)
        m = sim.add_monitor(SpikeTrains("N"))
        sim.run(300.0)
        out[be] = (m.steps, m.indices, sim.get_state("N", "v"), sim.get_state("N", "u"))
    assert out["numpy"][0].size > 50
    for x, y in zip(out["numpy"], out["numba"]):
        assert np.array_equal(x, y)
    with pytest.raises(ParameterError, match="form"):
        Izhikevich(form="2009")
    with pytest.raises(ParameterError, match="C"):
        Izhikevich(form="2007", C=0.0)
