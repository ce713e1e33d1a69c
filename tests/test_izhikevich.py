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
