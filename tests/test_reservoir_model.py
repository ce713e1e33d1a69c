"""The heterogeneous Izhikevich reservoir on the engine: heterogeneity, filters, determinism, check 1."""
import numpy as np
import pytest
from scipy import stats

from agents.reservoir import ReservoirConfig, factorial_task
from agents.reservoir.analysis import bump_decoding
from agents.reservoir.config import replace
from agents.reservoir.learning import Features, Timing
from agents.reservoir.reservoir import Reservoir, TrajectoryCache
from spiking import Simulator


def test_izhikevich_2003_heterogeneity_distributions():
    res = Reservoir(ReservoirConfig(n_neurons=2000, warmup_ms=0.0), channels=("c",))
    h = res.heterogeneity
    ne = res.n_exc
    assert ne == 1600
    a, b, c, d = (np.asarray(h[k], float) for k in ("a", "b", "c_mV", "d"))
    # excitatory: a = 0.02, b = 0.2, c = -65 + 15 r^2, d = 8 - 6 r^2 with one r per neuron
    np.testing.assert_allclose(a[:ne], 0.02, rtol=1e-6)
    np.testing.assert_allclose(b[:ne], 0.2, rtol=1e-6)
    r2e = (c[:ne] + 65.0) / 15.0
    np.testing.assert_allclose((8.0 - d[:ne]) / 6.0, r2e, atol=1e-5)
    # r^2 with r ~ U(0,1): sqrt is uniform
    assert stats.kstest(np.sqrt(np.clip(r2e, 0, 1)), "uniform").pvalue > 1e-3
    # inhibitory: a = 0.02 + 0.08 r, b = 0.25 - 0.05 r, c = -65, d = 2
    ri = (a[ne:] - 0.02) / 0.08
    np.testing.assert_allclose((0.25 - b[ne:]) / 0.05, ri, atol=1e-5)
    np.testing.assert_allclose(c[ne:], -65.0)
    np.testing.assert_allclose(d[ne:], 2.0)
    assert stats.kstest(ri, "uniform").pvalue > 1e-3
    # the engine population really carries them
    per = res.net.populations[0].per_neuron
    np.testing.assert_array_equal(per["d"], h["d"])
    # Gaussian sign-mixed recurrence with connection probability p
    W = res.W_pre_post
    assert abs((W != 0).mean() - 0.1) < 0.005
    assert 0.45 < (W > 0).sum() / (W != 0).sum() < 0.55
    res.close()


def test_double_exponential_feature_kernel():
    # a silent reservoir (no bias, no recurrence) with one injected spike: r(t) follows
    # (exp(-t/td) - exp(-t/tr)) / (td - tr) (the N&C kernel, 1/ms, integral 1)
    cfg = ReservoirConfig(n_neurons=20, gain_G=0.0, bias_current=0.0, warmup_ms=0.0)
    res = Reservoir(cfg, channels=())
    sim = Simulator(res.net, backend="numpy")
    sim.restore(res.snap0)                     # the stored initial state, from memory
    sim.inject_spikes("res", [3])
    syn = res._fresh_syn()
    rec = np.zeros((201, 20), np.float32)
    res._advance(sim, syn, 400, [], None, (rec, 2), None, ())
    t = np.arange(1, 201) * 1.0 - 0.5          # the spike is seen after step 0 (0.5 ms)
    ref = (np.exp(-t / 20.0) - np.exp(-t / 2.0)) / (20.0 - 2.0)
    # N&C's update (r += hr dt after decaying r) at dt = 0.5 ms integrates the rise with the gain
    # dt / (tau_r (1 - exp(-dt/tau_r))) = 1.13; the shape is the continuous kernel's
    gain = 0.5 / (2.0 * (1 - np.exp(-0.5 / 2.0)))
    np.testing.assert_allclose(rec[1:, 3], gain * ref, rtol=0.03, atol=2e-4)
    assert np.all(rec[:, [0, 1, 2, 4]] == 0)
    assert abs(rec[:, 3].sum() * 1.0 - gain) < 0.05
    res.close()


def test_trials_are_deterministic_and_backends_agree():
    cfg = ReservoirConfig(n_neurons=300, warmup_ms=100.0)
    r1 = Reservoir(cfg, channels=("c1", "c2"), backend="numba")
    a = r1.run([("c1", 50.0)], 300.0)
    b = r1.run([("c1", 50.0)], 300.0)
    c = r1.run([("c2", 50.0)], 300.0)
    np.testing.assert_array_equal(a.features, b.features)
    assert np.abs(a.features[200] - c.features[200]).max() > 1e-3
    # before the cue the two runs coincide (the stored initial state)
    np.testing.assert_array_equal(a.features[:50], c.features[:50])
    r2 = Reservoir(cfg, channels=("c1", "c2"), backend="numpy")
    d = r2.run([("c1", 50.0)], 300.0)
    np.testing.assert_allclose(d.features, a.features, atol=1e-5)
    # the noisy variant differs from trial to trial
    e1 = r1.run([("c1", 50.0)], 300.0, noise_sigma=0.2, rng=np.random.default_rng(1))
    e2 = r1.run([("c1", 50.0)], 300.0, noise_sigma=0.2, rng=np.random.default_rng(2))
    assert np.abs(e1.features[-1] - e2.features[-1]).max() > 1e-4
    r1.close()
    r2.close()


def test_timing_basis_and_rate_check1():
    """Acceptance check 1 at the default N = 1000: held-out R^2 >= 0.8, bump peaks within 20 ms,
    mean rate 5-40 Hz (cue-only trajectories, deterministic setting)."""
    task = factorial_task((10, 10))
    cfg = ReservoirConfig()
    res = Reservoir(cfg, channels=tuple(c.name for c in task.cues) + task.identities)
    cache = TrajectoryCache(res, task.trial_ms)
    keys = [(c.name, None, None) for c in task.cues[:3]]
    cache.fill(keys)
    timing = Timing.make(task, cfg.pre_ms, cfg.sample_ms, 50.0)
    F = Features([cache.get(k) for k in keys], timing.pre_rows, timing.trial_rows)
    for k in keys:
        d = bump_decoding(F.transform(cache.get(k)), timing)
        assert d["r2_heldout"] >= 0.8 and max(d["peak_error_ms"]) <= 20.0, d
        assert 5.0 <= cache.get(k).rate_hz() <= 40.0
    res.close()


def test_trial_decoding_passes_a_real_time_code_and_fails_both_controls():
    """Check 1 across trials, on synthetic features whose time code holds on every trial: held-out
    trials decode (R^2 >= 0.8); the same noise without the code (no cue) and a decoder trained on
    shuffled time do not (R^2 < 0.2). So the check can pass, and its controls can fail."""
    from agents.reservoir.analysis import trial_decoding
    from agents.reservoir.learning import Timing
    timing = Timing(pre_rows=50, trial_rows=1000, tail_rows=0, lead_rows=50, pulse_rows=50, sample_ms=1.0)
    rng = np.random.default_rng(3)
    t = np.arange(timing.pre_rows + timing.trial_rows) - timing.pre_rows
    centres = np.linspace(0, 1000, 60)
    code = np.exp(-0.5 * ((t[:, None] - centres[None]) / 50.0) ** 2) * (t[:, None] >= 0)

    def trial(cued):
        return (code if cued else 0.0) + 0.2 * rng.standard_normal(code.shape)

    cued = [trial(True) for _ in range(12)]
    bare = [trial(False) for _ in range(12)]
    ok = trial_decoding(cued[:8], cued[8:], timing)
    assert ok["r2_heldout"] >= 0.8 and max(ok["peak_error_ms"]) <= 20, ok
    assert trial_decoding(bare[:8], bare[8:], timing)["r2_heldout"] < 0.2
    assert trial_decoding(cued[:8], cued[8:], timing, shuffle_rng=np.random.default_rng(1))["r2_heldout"] < 0.2


def _trial_basis(clock: str, **over):
    from agents.reservoir.suite import SuiteConfig, trial_basis
    task = factorial_task((10, 10))
    cfg = ReservoirConfig(clock=clock, **over)
    res = Reservoir(cfg, channels=tuple(c.name for c in task.cues) + task.identities,
                    clock_channels=tuple(c.name for c in task.cues))
    cache = TrajectoryCache(res, task.trial_ms)
    timing = Timing.make(task, cfg.pre_ms, cfg.sample_ms, 50.0)
    F = Features([cache.get((task.cues[0].name, None, None))], timing.pre_rows, timing.trial_rows)
    return trial_basis(res, task, timing, F, cache.duration_ms, SuiteConfig(trial_basis_trials=(8, 4)))


def test_the_clock_input_keeps_time_across_noisy_trials_and_both_controls_fail():
    """Check 1 across trials with the default reservoir (a cue-started HDTS clock input, Nicola &
    Clopath): elapsed time decodes from held-out noisy trials (sigma 0.1, each its own noise), while
    the same trials without the cue and a decoder trained on shuffled time fail; trials stay
    correlated to the end of the trial."""
    out = _trial_basis("hdts")
    assert out["pass"], out
    assert out["reservoir"]["r2_heldout"] >= 0.8 and max(out["reservoir"]["peak_error_ms"]) <= 20
    assert out["no_cue"]["r2_heldout"] < 0.2 and out["shuffled_time"]["r2_heldout"] < 0.2
    assert out["trial_to_trial_corr_at_ms"]["900"] > 0.4


def test_the_clock_is_a_half_sine_sequence_started_by_the_cue_channels_only():
    cfg = ReservoirConfig(n_neurons=50, clock_pulses=4, clock_span_ms=400.0, warmup_ms=10.0)
    res = Reservoir(cfg, channels=("c1", "A"), clock_channels=("c1",))
    for t, k, val in ((0.0, 0, 0.0), (50.0, 0, 1.0), (150.0, 1, 1.0), (375.0, 3, np.sin(np.pi * 0.75))):
        s = res.clock_signal(t)
        assert s[k] == pytest.approx(val) and np.count_nonzero(s) <= 1
    assert not res.clock_signal(400.0).any() and not res.clock_signal(-1.0).any()
    # an identity stimulus alone starts no clock: the run equals the clock-less reservoir's
    quiet = Reservoir(replace(cfg, clock="none"), channels=("c1", "A"))
    a, b = res.run([("A", 20.0)], 200.0), quiet.run([("A", 20.0)], 200.0)
    assert np.array_equal(a.features, b.features)
    assert not np.array_equal(res.run([("c1", 20.0)], 200.0).features, quiet.run([("c1", 20.0)], 200.0).features)
    with pytest.raises(Exception, match="clock channels"):
        Reservoir(cfg, channels=("c1",), clock_channels=("c9",))
    with pytest.raises(Exception, match="clock must be"):
        ReservoirConfig(clock="metronome")


def test_reservoir_timing_basis_does_not_survive_trial_noise():
    """The spec's feasibility finding (reservoir.md section 1), measured on our reservoir without the
    clock input: with fresh noise on every trial (sigma 0.1) two trials of the same cue decorrelate
    within a few hundred ms, and elapsed time does not decode from held-out trials, any better than
    from the no-cue control. (If a change to the reservoir made it pass, this test says so: update
    docs/reservoir.md.)"""
    from agents.reservoir.suite import SuiteConfig, trial_basis
    task = factorial_task((10, 10))
    cfg = ReservoirConfig(clock="none")
    res = Reservoir(cfg, channels=tuple(c.name for c in task.cues) + task.identities)
    cache = TrajectoryCache(res, task.trial_ms)
    timing = Timing.make(task, cfg.pre_ms, cfg.sample_ms, 50.0)
    F = Features([cache.get((task.cues[0].name, None, None))], timing.pre_rows, timing.trial_rows)
    out = trial_basis(res, task, timing, F, cache.duration_ms, SuiteConfig(trial_basis_trials=(6, 3)))
    assert out["trial_to_trial_corr_at_ms"]["50"] > 0.8          # the cue's response repeats ...
    assert out["trial_to_trial_corr_at_ms"]["600"] < 0.3         # ... and is gone by 600 ms
    assert out["reservoir"]["r2_heldout"] < 0.35 and not out["pass"]
    assert out["shuffled_time"]["r2_heldout"] < 0.2 and out["no_cue"]["r2_heldout"] < 0.2
    res.close()
