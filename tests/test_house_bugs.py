"""The bugs a review of the engine found (house issue), each pinned by a test that failed before its fix."""
import numpy as np
import pytest

from spiking import (LIF, CurrentStep, Izhikevich, Network, Population, Simulator, SpikeGenerator, SpikeTrains)
from spiking.growth import Grow
from spiking.params import ParameterError
from spiking.plasticity import STDP


# --- advance_idle is "silence only", but honours current switches ------------------------------

@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_advance_idle_applies_a_current_steps_stop_inside_the_span(backend):
    net = Network(populations=(Population("p", 10, LIF()),), currents=(CurrentStep("p", 0.5, 0.0, 50.0),),
                  dt_ms=1.0, seed=1)
    sim = Simulator(net, backend=backend)
    sim.run(10.0)
    assert np.all(sim.get_state("p", "i_ext") == np.float32(0.5))
    sim.advance_idle(100.0)
    assert np.all(sim.get_state("p", "i_ext") == 0.0)
    assert sim.t_ms == 110.0


def test_advance_idle_applies_a_start_inside_the_span_and_matches_a_run():
    net = Network(populations=(Population("p", 4, LIF(noise_sigma=0.0)),),
                  currents=(CurrentStep("p", 0.3, 20.0, 500.0, neurons=(1, 2)), CurrentStep("p", 0.2, 60.0)),
                  dt_ms=0.5, seed=1)
    a, b = Simulator(net, backend="numpy"), Simulator(net, backend="numpy")
    a.advance_idle(100.0)
    b.run(100.0)
    assert np.array_equal(a.get_state("p", "i_ext"), b.get_state("p", "i_ext"))
    assert np.allclose(a.get_state("p", "i_ext"), [0.2, 0.5, 0.5, 0.2])


def test_advance_idle_refuses_to_skip_queued_spikes():
    net = Network(populations=(Population("p", 10, LIF()),), dt_ms=1.0, seed=1)
    sim = Simulator(net, backend="numpy")
    sim.inject_spikes("p", [1, 2], at_step=30)
    with pytest.raises(ParameterError, match="silence only"):
        sim.advance_idle(100.0)
    sim.advance_idle(30.0)           # up to the queued step is fine
    sim.run(1.0)
    # a generator's events inside the span are skipped (sources are silent), later ones still come
    gen = Network(populations=(Population("p", 3, LIF()),),
                  sources=(SpikeGenerator("g", 2, times_ms=(5.0, 12.0), indices=(1, 0)),), dt_ms=1.0, seed=1)
    s2 = Simulator(gen, backend="numpy")
    tr = s2.add_monitor(SpikeTrains("g"))
    s2.advance_idle(10.0)
    s2.run(10.0)
    assert tr.t_ms.tolist() == [12.0] and tr.indices.tolist() == [0]


# --- a presentation keeps its stated window at any dt --------------------------------------------

def test_text_presentation_keeps_100_ms_at_dt_half_ms():
    from encoders.hashing import HashingEmbedder
    from encoders.pipeline import TextToSpikes
    from encoders.population import ZScoreTopKCode

    enc = TextToSpikes(HashingEmbedder(), ZScoreTopKCode(HashingEmbedder().dim))
    sim = Simulator(Network(populations=(Population("sensory", enc.n_neurons, LIF(noise_sigma=0.0)),),
                            dt_ms=0.5, seed=2), backend="numpy")
    mon = sim.add_monitor(SpikeTrains("sensory"))
    steps = enc.present(sim, "sensory", ["a message about marathons"], seed=1)
    assert steps * sim.dt_ms == 150.0          # 100 ms window + 50 ms gap, in the simulator's steps
    sim.run(200.0)
    t = mon.t_ms
    assert t.size > 0 and 95.0 <= t.max() < 100.0


def test_events_made_on_another_dt_are_refused_with_dt_named():
    from encoders.base import EncoderInputError
    from encoders.spikes import PresentationSchedule, present, present_patterns

    sim = Simulator(Network(populations=(Population("s", 20, LIF()),), dt_ms=0.5, seed=2), backend="numpy")
    sched = PresentationSchedule(dt_ms=1.0)
    ev = present_patterns(np.full(20, 50.0), sched, seed=0)
    with pytest.raises(EncoderInputError, match="dt"):
        present(sim, "s", *ev, dt_ms=sched.dt_ms)


# --- growing stores honour soft bounds ---------------------------------------------------------------

def _grow_net(bounds):
    quiet = LIF(tau_m_ms=1e6, tau_syn_ms=1e6, v_th=100.0, noise_sigma=0.0)
    rule = STDP(a_plus=0.3, a_minus=0.0, tau_plus_ms=20.0, tau_minus_ms=20.0, w_min=0.0, w_max=1.0, bounds=bounds)
    proj = Projection_("C", "C", Grow(w_create=0.01, w_prune=0.001), rule)
    return Network(populations=(Population("C", 40, quiet),), projections=(proj,), dt_ms=1.0, seed=3)


def Projection_(pre, post, grow, rule):
    from spiking import Projection
    return Projection(pre, post, grow, weight=0.0, delay_ms=1.0, plasticity=rule)


def test_growing_store_soft_bounds_are_honoured():
    A, B = np.arange(0, 5), np.arange(20, 25)
    out = {}
    for bounds in ("hard", "soft"):
        sim = Simulator(_grow_net(bounds), backend="numba")
        for _ in range(400):
            t = sim.t % 20
            if t == 0:
                sim.inject_spikes("C", A)
            elif t == 3:
                sim.inject_spikes("C", B)
            sim.step()
        out[bounds] = sim.synapses("C->C", pre=A, post=B)["weight"]
    assert out["hard"].size == out["soft"].size == 25
    assert np.all(out["hard"] == 1.0)              # clipped at w_max
    assert np.all(out["soft"] < 1.0) and np.all(out["soft"] > 0.5)   # approaches w_max multiplicatively


# --- noise_sigma has one meaning: white-noise strength per 1 ms ----------------------------------------

@pytest.mark.parametrize("model", ["lif", "izh"])
def test_noise_sigma_means_diffusion_per_ms_at_every_dt(model):
    """A pure random walk (no leak, no threshold): the variance of v after 100 ms is sigma^2 * 100
    whatever dt is."""
    var = {}
    for dt in (1.0, 0.25):
        if model == "lif":
            m = LIF(tau_m_ms=1e9, v_th=1e9, noise_sigma=0.2)
        else:   # the 2007 form with k = 0, a = 0: C dv/dt = I, a random walk driven by the noise current
            m = Izhikevich(form="2007", C=1.0, k=0.0, a=0.0, b=0.0, v_r_mV=0.0, v_t_mV=0.0, v_init_mV=0.0,
                           c_mV=-1e9, v_peak_mV=1e9, noise_sigma=0.2)
        sim = Simulator(Network(populations=(Population("p", 4000, m),), dt_ms=dt, seed=5), backend="numba")
        sim.run(100.0)
        var[dt] = float(np.var(sim.get_state("p", "v").astype(np.float64)))
    for dt, v in var.items():
        assert v == pytest.approx(0.04 * 100.0, rel=0.1), (dt, v)


# --- binned monitors read an advance_idle span as silence, not as the ring's stale rows ---------

@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_binned_monitors_read_an_advance_idle_span_as_zero(backend):
    from spiking import GroupCounts, PopulationRate
    net = Network(populations=(Population("p", 50, LIF(noise_sigma=0.0)),),
                  currents=(CurrentStep("p", 2.0, 0.0),), dt_ms=1.0, seed=1)
    sim = Simulator(net, backend=backend)
    gc = sim.add_monitor(GroupCounts("p", {"a": np.arange(10)}, bin_ms=100.0, max_bins=8))
    pr = sim.add_monitor(PopulationRate("p", bin_ms=100.0, max_bins=8))
    sim.run(800.0)                     # every row of both rings holds spikes (constant drive)
    assert gc.new_bins()[1].min() > 0 and pr.counts.min() > 0
    sim.advance_idle(500.0)            # five silent bins
    sim.run(300.0)
    t, c = gc.new_bins()
    assert list(t) == [800.0, 900.0, 1000.0, 1100.0, 1200.0, 1300.0, 1400.0, 1500.0]
    assert c[:5, 0].tolist() == [0] * 5 and c[5:, 0].min() > 0
    assert pr.counts[:5].tolist() == [0] * 5 and pr.counts[5:].min() > 0


# --- a long advance_idle does not underflow the deferred eligibility decay to a division by zero --

def test_hours_of_advance_idle_then_learning_runs():
    from spiking import Projection
    from spiking.plasticity import Modulator
    rule = STDP.ember(a_plus=0.01, w_max=1.0, modulated=True, tau_e_ms=1000.0, eta=0.002)
    net = Network(populations=(Population("C", 50, LIF()),),
                  projections=(Projection("C", "C", Grow(w_create=0.004, w_prune=0.001), weight=0.0, delay_ms=1.0,
                                          plasticity=rule),),
                  modulators=(Modulator("dopamine", tonic=0.0),), dt_ms=1.0, seed=2)
    sim = Simulator(net)
    sim.advance_idle(9 * 3600e3)          # e_decay ** 32.4e6 is 0.0 in float64: 1 / pending failed
    sim.set_modulator("dopamine", tonic=1.0)
    sim.run(100.0)
    assert sim.t_ms == 9 * 3600e3 + 100.0
