"""Bad input gets a clear error that names the problem."""
import math

import numpy as np
import pytest

from spiking import (LIF, FixedOutDegree, Izhikevich, Network, NumericalError, Pairs, ParameterError, PoissonSource,
                     Population, Projection, Simulator, SpikeGenerator, StateSamples)


@pytest.mark.parametrize("field,value", [("tau_m_ms", 0.0), ("tau_m_ms", -5.0), ("tau_syn_ms", 0.0),
                                         ("tau_m_ms", math.nan), ("v_th", math.inf), ("noise_sigma", -0.1),
                                         ("t_ref_ms", -1.0)])
def test_lif_parameters(field, value):
    with pytest.raises(ParameterError, match=field):
        LIF(**{field: value})


def test_lif_reset_above_threshold():
    with pytest.raises(ParameterError, match="v_reset"):
        LIF(v_reset=1.0, v_th=0.5)


@pytest.mark.parametrize("field,value", [("a", math.nan), ("tau_syn_ms", -1.0), ("noise_sigma", -1.0), ("d", math.inf)])
def test_izhikevich_parameters(field, value):
    with pytest.raises(ParameterError, match=field):
        Izhikevich(**{field: value})


def test_unknown_family():
    with pytest.raises(ParameterError, match="unknown Izhikevich family"):
        Izhikevich.family("XYZ")


@pytest.mark.parametrize("dt", [0.0, -0.5, math.nan, math.inf, "fast"])
def test_bad_dt(dt):
    with pytest.raises(ParameterError, match="dt_ms"):
        Network(populations=(Population("A", 3, LIF()),), dt_ms=dt)


def test_bad_population_size_and_name():
    with pytest.raises(ParameterError, match="size"):
        Population("A", 0, LIF())
    with pytest.raises(ParameterError, match="name"):
        Population("bad name!", 3, LIF())


def test_per_neuron_size_mismatch_and_nan():
    with pytest.raises(ParameterError, match="shape"):
        Population("A", 5, Izhikevich(), per_neuron={"a": np.zeros(4)})
    with pytest.raises(ParameterError, match="NaN"):
        Population("A", 2, Izhikevich(), per_neuron={"d": np.array([1.0, np.nan])})
    with pytest.raises(ParameterError, match="not supported"):
        Population("A", 2, LIF(), per_neuron={"tau": np.ones(2)})


def test_projection_errors():
    a = Population("A", 10, LIF())
    with pytest.raises(ParameterError, match="unknown pre"):
        Network(populations=(a,), projections=(Projection("X", "A", FixedOutDegree(2)),))
    with pytest.raises(ParameterError, match="magnitudes"):
        Projection("A", "A", FixedOutDegree(2), weight=-1.0)
    with pytest.raises(ParameterError, match="delay_ms"):
        Projection("A", "A", FixedOutDegree(2), delay_ms=0.0)
    with pytest.raises(ParameterError, match="equal length"):
        Projection("A", "A", Pairs((0, 1), (1,)))
    with pytest.raises(ParameterError, match="exceeds"):
        Simulator(Network(populations=(a,), projections=(Projection("A", "A", FixedOutDegree(10)),)))
    with pytest.raises(ParameterError, match="out of range"):
        Simulator(Network(populations=(a,), projections=(Projection("A", "A", Pairs((0, 11), (1, 2))),)))
    with pytest.raises(ParameterError, match="delay_ms = 0.2 is shorter than one step at dt = 1 ms; a delay is a "
                                             "whole number of steps, at least one: use 1"):
        Simulator(Network(populations=(a,), projections=(Projection("A", "A", FixedOutDegree(2), delay_ms=0.2),),
                          dt_ms=1.0))
    with pytest.raises(ParameterError, match="synapses"):
        Simulator(Network(populations=(a,), projections=(Projection("A", "A", Pairs((0, 1), (1, 2)),
                                                                    weight=np.ones(3)),)))
    with pytest.raises(ParameterError, match="post_range"):
        Network(populations=(a,), projections=(Projection("A", "A", FixedOutDegree(2), post_range=(0, 20)),))


def test_source_errors():
    with pytest.raises(ParameterError, match="rate_hz"):
        PoissonSource("P", 3, rate_hz=-1.0)
    with pytest.raises(ParameterError, match="equal length"):
        SpikeGenerator("G", 3, times_ms=(1.0, 2.0), indices=(0,))
    with pytest.raises(ParameterError, match="indices"):
        SpikeGenerator("G", 3, times_ms=(1.0,), indices=(3,))
    with pytest.raises(ParameterError, match="exceeds one spike per step"):
        Simulator(Network(populations=(Population("A", 1, LIF()),), sources=(PoissonSource("P", 2, 3000.0),)))


def test_duplicate_names():
    with pytest.raises(ParameterError, match="duplicate"):
        Network(populations=(Population("A", 2, LIF()), Population("A", 3, LIF())))


def test_run_and_injection_errors():
    sim = Simulator(Network(populations=(Population("A", 4, LIF()),)))
    with pytest.raises(ParameterError, match="duration"):
        sim.run(-1.0)
    with pytest.raises(ParameterError, match="duration"):
        sim.run(math.nan)
    with pytest.raises(ParameterError, match=r"\[0, 4\)"):
        sim.inject_spikes("A", [4])
    with pytest.raises(KeyError, match="no population named"):
        sim.inject_spikes("B", [0])
    with pytest.raises(KeyError, match="no state variable"):
        sim.get_state("A", "w")
    with pytest.raises(ParameterError, match="finite"):
        sim.set_current("A", [1.0, np.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match="unknown backend"):
        Simulator(Network(populations=(Population("A", 4, LIF()),)), backend="tpu")
    with pytest.raises(ParameterError, match="spiking.Network"):
        Simulator("not a network")


def test_nan_check_names_population_and_variable():
    # four pulses of 1e38 mV onto one neuron overflow float32
    net = Network(populations=(Population("quiet", 3, LIF()), Population("wild", 5, Izhikevich())),
                  sources=(SpikeGenerator("G", 1, times_ms=(2.0,), indices=(0,)),),
                  projections=(Projection("G", "wild", Pairs((0, 0, 0, 0), (2, 2, 2, 2)), weight=1e38),),
                  dt_ms=1.0)
    sim = Simulator(net)
    with pytest.raises(NumericalError, match=r"'wild'.*'(v|u)'"):
        sim.run(50.0, chunk_ms=10.0)


def test_a_delay_is_a_whole_number_of_steps_or_an_error_that_says_so():
    a = Population("A", 10, LIF())

    def build(delay, dt=0.1):
        return Simulator(Network(populations=(a,), projections=(Projection("A", "A", FixedOutDegree(2),
                                                                          delay_ms=delay),), dt_ms=dt))
    with pytest.raises(ParameterError, match=r"delay_ms = 0.06 is shorter than one step at dt = 0.1 ms.*use 0.1"):
        build(0.06)
    with pytest.raises(ParameterError, match=r"delay_ms = 0.15 is not a whole number of steps \(1.5\) at dt = 0.1 ms"
                                             r".*use 0.1 or 0.2"):
        build(0.15)
    assert build(0.3).projections[0][1]["indices"].size == 20      # 3 steps: 0.3 / 0.1 is 2.9999999999999996
    assert build(1.0, dt=0.5) is not None
    # drawn delays are rounded to the nearest step, and one that rounds to 0 is an error naming that rule
    from spiking.model import Uniform
    with pytest.raises(ParameterError, match="rounded to the nearest step, and must be at least one step"):
        build(Uniform(0.01, 0.04))


def test_non_numeric_parameters_are_refused_at_construction_with_the_field_name():
    from spiking import Izhikevich
    with pytest.raises(ParameterError, match="LIF.tau_m_ms must be a number, got str '20'"):
        LIF(tau_m_ms="20")
    with pytest.raises(ParameterError, match="LIF.v_th must be a number, got bool True"):
        LIF(v_th=True)
    with pytest.raises(ParameterError, match=r"Izhikevich.a must be a number, got list \['0.02'\]"):
        Izhikevich(a=["0.02"])
    assert LIF(i_ext=np.array([0.1, 0.2])).i_ext.shape == (2,)     # arrays of numbers stay welcome


def test_pairs_with_nan_or_fractional_indices_are_refused():
    with pytest.raises(ParameterError, match=r"Pairs pre indices must be whole numbers; pre\[1\] = 0.7"):
        Projection("A", "A", Pairs((0, 0.7), (1, 2)))
    with pytest.raises(ParameterError, match=r"Pairs post indices must be whole numbers; post\[0\] = nan"):
        Projection("A", "A", Pairs((0, 1), (float("nan"), 2)))
    with pytest.raises(ParameterError, match=r"Pairs pre indices must be whole numbers; pre\[0\] = '0'"):
        Projection("A", "A", Pairs(("0", "1"), (1, 2)))
    a = Population("A", 10, LIF())
    sim = Simulator(Network(populations=(a,), projections=(Projection("A", "A", Pairs((0.0, 3.0), (1, 2))),)))
    assert sim.synapses("A->A")["pre"].tolist() == [0, 3]          # whole floats are fine


def test_a_run_that_is_not_a_whole_number_of_steps_says_what_it_ran():
    import warnings
    sim = Simulator(Network(populations=(Population("A", 3, LIF()),), dt_ms=0.1))
    with pytest.warns(RuntimeWarning, match=r"run\(0.25 ms\) at dt = 0.1 ms is 2.5 steps: it runs 2 \(0.2 ms\)"):
        sim.run(0.25)
    with pytest.warns(RuntimeWarning, match=r"run\(0.04 ms\) at dt = 0.1 ms is 0.4 steps: it runs 0 \(0 ms\)"):
        sim.run(0.04)
    assert sim.t == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim.run(0.3)                    # 0.3 / 0.1 = 2.9999999999999996 is three whole steps: no warning
    assert sim.t == 5
