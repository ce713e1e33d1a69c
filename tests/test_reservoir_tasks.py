"""Task descriptions and hyper-parameters of the reservoir suite: validation and sampling."""
import numpy as np
import pytest

from agents.reservoir import ConfigError, Cue, ForceConfig, LearnConfig, ReservoirConfig, Switch, Task
from agents.reservoir import factorial_task, foreperiod_task


def _task(**cue_kw):
    kw = dict(latencies_ms=(300.0,), latency_probs=(1.0,), p_event=0.5, identity_mix=(("A", 1.0),))
    kw.update(cue_kw)
    return Task("t", (Cue("c1", **kw),), block_trials=(10,))


@pytest.mark.parametrize("kw, field", [
    (dict(p_event=1.2), "p_event"),
    (dict(p_event=-0.1), "p_event"),
    (dict(identity_mix=(("A", 0.6), ("B", 0.6))), "identity_mix"),
    (dict(identity_mix=(("A", 1.5), ("B", -0.5))), "identity_mix"),
    (dict(latencies_ms=(300.0, 600.0), latency_probs=(0.5, 0.6)), "latency_probs"),
    (dict(latencies_ms=(980.0,)), "beyond the trial"),
    (dict(latencies_ms=(20.0,)), "overlap"),
    (dict(identity_mix=(("C", 1.0),)), "identity_mix"),
])
def test_bad_cue_fields_name_the_field(kw, field):
    with pytest.raises(ConfigError, match=field):
        _task(**kw)


def test_zero_trials_and_bad_blocks_are_errors():
    c = Cue("c1")
    with pytest.raises(ConfigError, match=r"block_trials\[1\]"):
        Task("t", (c,), block_trials=(10, 0))
    with pytest.raises(ConfigError, match="block_trials"):
        Task("t", (c,), block_trials=())
    with pytest.raises(ConfigError, match="trial_ms"):
        Task("t", (c,), trial_ms=0.0)


def test_switch_validation():
    c = Cue("c1", p_event=0.5)
    with pytest.raises(ConfigError, match="unknown cue"):
        Task("t", (c,), block_trials=(5, 5), switches=(Switch(1, "c9", "s", (("p_event", 0.2),)),))
    with pytest.raises(ConfigError, match="block"):
        Task("t", (c,), block_trials=(5,), switches=(Switch(1, "c1", "s", (("p_event", 0.2),)),))
    with pytest.raises(ConfigError, match="p_event"):
        Task("t", (c,), block_trials=(5, 5), switches=(Switch(1, "c1", "s", (("p_event", 2.0),)),))
    with pytest.raises(ConfigError, match="cannot change field"):
        Switch(1, "c1", "s", (("name", "x"),))


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="connection_p"):
        ReservoirConfig(connection_p=0.0)
    with pytest.raises(ConfigError, match="sample_ms"):
        ReservoirConfig(sample_ms=0.7)
    with pytest.raises(ConfigError, match="gate"):
        LearnConfig(gate="sometimes")
    with pytest.raises(ConfigError, match="what_mode"):
        LearnConfig(what_mode="dream")
    with pytest.raises(ConfigError, match="forgetting"):
        ForceConfig(forgetting=1.5)


def test_factorial_task_switches_and_sampling():
    t = factorial_task((3000, 3000))
    assert t.cue("c1", 0).latencies_ms == (300.0,) and t.cue("c1", 1).latencies_ms == (500.0,)
    assert t.cue("c4", 1).p_event == 0.2 and t.cue("c4", 0).p_event == 0.6
    assert t.cue("c5", 1).prob_of("A") == 0.3
    trials = t.sample_trials(np.random.default_rng(3))
    assert len(trials) == 6000 and [tr.index for tr in trials] == list(range(6000))
    b0 = [tr for tr in trials if tr.block == 0]
    for name, p in (("c1", 0.8), ("c2", 0.4), ("c3", 0.2), ("c4", 0.6)):
        ts = [tr for tr in b0 if tr.cue == name]
        frac = np.mean([tr.latency_ms is not None for tr in ts])
        assert abs(frac - p) < 0.06, (name, frac)
    c5 = [tr for tr in b0 if tr.cue == "c5"]
    assert all(tr.latency_ms == 450.0 for tr in c5)
    assert abs(np.mean([tr.identity == "A" for tr in c5]) - 0.7) < 0.06
    c1_b1 = [tr for tr in trials if tr.block == 1 and tr.cue == "c1" and tr.latency_ms is not None]
    assert c1_b1 and all(tr.latency_ms == 500.0 for tr in c1_b1)
    keys = t.trajectory_keys()
    assert ("c1", 500.0, "A") in keys and ("c1", None, None) in keys and ("c5", 450.0, "B") in keys
    assert {tr.key for tr in trials} <= set(keys)


def test_foreperiod_task():
    t = foreperiod_task(2000)
    trials = t.sample_trials(np.random.default_rng(0))
    lat = np.array([tr.latency_ms for tr in trials])
    for L, p in zip((300.0, 600.0, 900.0), (0.2, 0.5, 0.3)):
        assert abs(np.mean(lat == L) - p) < 0.04
