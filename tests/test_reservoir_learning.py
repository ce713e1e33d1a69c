"""Readout learning: the three-factor LMS rule, offline replay, gates, RLS / FORCE."""
import numpy as np
import pytest

from agents.reservoir import Cue, ForceConfig, LearnConfig, Task
from agents.reservoir.learning import RLS, ForceLearner, Timing, lms_pass, ridge_solution, run_three_factor


@pytest.mark.parametrize("kernel", ["numba", "numpy"])
def test_lms_converges_to_conditional_expectation(rng, kernel):
    # 4 distinct states (random feature vectors + bias); target ~ Bernoulli(p_state)
    D = 30
    states = np.hstack([rng.standard_normal((4, D - 1)), np.ones((4, 1))])
    p = np.array([0.1, 0.4, 0.7, 0.9])
    n = 20000 if kernel == "numba" else 4000
    rows = rng.integers(0, 4, n)
    targets = (rng.random(n) < p[rows]).astype(float)
    w = np.zeros((1, D))
    eta = 0.01 / np.mean((states ** 2).sum(1))
    lms_pass(w, states, rows, targets, eta, kernel=kernel)
    # average the last part of the run to remove the LMS jitter
    w_avg = np.zeros((1, D))
    m = 2000
    rows2 = rng.integers(0, 4, m)
    t2 = (rng.random(m) < p[rows2]).astype(float)
    for i in range(m):
        lms_pass(w, states, rows2[i:i + 1], t2[i:i + 1], eta, kernel=kernel)
        w_avg += w / m
    np.testing.assert_allclose(states @ w_avg[0], p, atol=0.06)


def test_numba_and_numpy_kernels_agree(rng):
    Z = rng.standard_normal((50, 12))
    rows = rng.integers(0, 50, 300)
    tg = rng.random((300, 2))
    eta = rng.random(300) * 0.01
    w1, w2 = np.zeros((2, 12)), np.zeros((2, 12))
    lms_pass(w1, Z, rows, tg, eta, kernel="numba")
    lms_pass(w2, Z, rows, tg, eta, kernel="numpy")
    np.testing.assert_allclose(w1, w2, rtol=1e-10, atol=1e-12)


def test_zero_gate_gives_zero_weight_change(rng):
    Z = rng.standard_normal((40, 8))
    w = rng.standard_normal((1, 8))
    w0 = w.copy()
    lms_pass(w, Z, np.arange(40), np.ones(40), 0.0)
    np.testing.assert_array_equal(w, w0)
    # the whole learner with A_when = 0 and no "what" readout learns nothing
    task, Zs, timing = _toy_task(rng)
    trials = task.sample_trials(np.random.default_rng(1))
    r = run_three_factor(task, trials, Zs, timing, LearnConfig(gate="zero", what_mode="none"), 8.0)
    assert not np.any(r.when_hist) and not np.any(r.what_hist)
    r = run_three_factor(task, trials, Zs, timing, LearnConfig(), 8.0)
    assert np.any(r.when_hist) and np.any(r.what_hist)


def _toy_task(rng, D=16, nan_outside_windows=False):
    """Two cues with trajectories made of random features (pre 5 rows, trial 40 rows, 1 ms rows)."""
    task = Task("toy", (Cue("c1", (20.0,), (1.0,), 0.5, (("A", 0.7), ("B", 0.3))),
                        Cue("c2", (30.0,), (1.0,), 1.0, (("B", 1.0),))),
                trial_ms=40.0, pulse_ms=5.0, block_trials=(300,))
    timing = Timing.make(task, pre_ms=5.0, sample_ms=1.0, lead_ms=5.0)
    Zs = {}
    base = {c: rng.standard_normal((45, D)) for c in ("c1", "c2")}
    for key in task.trajectory_keys():
        Z = base[key[0]].copy()
        if key[1] is not None:           # after the event the trajectory differs
            a = 5 + int(key[1])
            Z[a:] += rng.standard_normal((45 - a, D))
        Z[:, -1] = 1.0
        if nan_outside_windows:
            keep = np.zeros(45, bool)
            for c in task.cues:
                keep[timing.pre_rows - timing.lead_rows + timing.window(c.latencies_ms[0])] = True
            Z[~keep] = np.nan
        Zs[key] = Z
    return task, Zs, timing


def test_offline_replay_uses_only_event_windows(rng):
    # every feature row outside x(t - lead), t in [L, L + pulse), is NaN: with the "when" rate at 0
    # the offline "what" replay must still give finite, non-zero weights
    task, Zs, timing = _toy_task(rng, nan_outside_windows=True)
    trials = task.sample_trials(np.random.default_rng(2))
    r = run_three_factor(task, trials, Zs, timing, LearnConfig(alpha_when=0.0), 16.0)
    assert np.all(np.isfinite(r.what_hist)) and np.any(r.what_hist != 0)
    # omission trials add nothing: the weights do not change on them
    for tr in trials[1:]:
        if tr.identity is None:
            np.testing.assert_array_equal(r.what_hist[tr.index], r.what_hist[tr.index - 1])


def test_centred_code_recovers_identity_probability(rng):
    # D larger than the number of distinct states, so the linear readout can fit every row
    task, Zs, timing = _toy_task(rng, D=200)
    task = Task("toy", task.cues, trial_ms=40.0, pulse_ms=5.0, block_trials=(3000,))
    trials = task.sample_trials(np.random.default_rng(5))
    lc = LearnConfig(alpha_what=0.002, alpha_when=0.01, weight_avg_trials=1000)
    r = run_three_factor(task, trials, Zs, timing, lc, 200.0)
    from agents.reservoir.analysis import window_mean_vector
    yA = r.what_avg[0] @ window_mean_vector(Zs[("c1", None, None)], timing, 20.0) + 0.5
    assert abs(yA[0] - 0.7) < 0.08 and abs(yA[1] - 0.3) < 0.08
    amp = r.when_avg[0] @ window_mean_vector(Zs[("c1", None, None)], timing, 20.0)
    assert abs(amp - 0.5) < 0.1          # the "when" amplitude tracks p_event = 0.5


def test_rls_equals_batch_least_squares(rng):
    n, D = 200, 10
    X = rng.standard_normal((n, D))
    y = X @ rng.standard_normal(D) + 0.1 * rng.standard_normal(n)
    rls = RLS(D, 1, p0=2.0)
    for x, t in zip(X, y):
        rls.update(x, t)
    batch = np.linalg.solve(X.T @ X + np.eye(D) / 2.0, X.T @ y)
    np.testing.assert_allclose(rls.phi[:, 0], batch, rtol=1e-8, atol=1e-10)
    # a reset of P continues from the current weights: ridge around phi0
    phi0 = rls.phi.copy()
    rls.reset_P()
    X2 = rng.standard_normal((50, D))
    y2 = X2 @ rng.standard_normal(D)
    for x, t in zip(X2, y2):
        rls.update(x, t)
    ref = ridge_solution(X2.T @ X2, X2.T @ y2[:, None], 2.0, phi0)
    np.testing.assert_allclose(rls.phi, ref, rtol=1e-8, atol=1e-10)


def test_force_learner_equals_sequential_rls(rng):
    task, Zs, timing = _toy_task(rng, D=12)
    task2 = Task("toy", task.cues, trial_ms=40.0, pulse_ms=5.0, block_trials=(60, 40))
    trials = task2.sample_trials(np.random.default_rng(7))
    fc = ForceConfig(update_every_ms=2.0)
    fl = ForceLearner(task2, Zs, timing, fc, mean_sq_norm=12.0)
    for reset in (None, 60):
        rls = RLS(12, 1, p0=fl.p0)
        step = 2
        P, Lr = timing.pre_rows, timing.lead_rows
        for tr in trials:
            if reset is not None and tr.index == reset:
                rls.reset_P()
            s = timing.when_target(tr.latency_ms)
            Z = Zs[tr.key]
            for t in range(step - 1, timing.trial_rows, step):
                rls.update(Z[P - Lr + t], s[t])
        w, _ = fl.solve(trials, len(trials), reset_at=reset, which=("when",))
        np.testing.assert_allclose(w, rls.phi[:, 0], rtol=1e-6, atol=1e-8)


def _toy_task_with_iti(rng, D=60, tail=30):
    """One cue (p = 0.5) whose ITI rows resemble its event window (the worst case for learning in
    the ITI against zero targets): pre 5 rows, trial 40, ITI ``tail``."""
    task = Task("toy-iti", (Cue("c1", (20.0,), (1.0,), 0.5, (("A", 1.0),)),), trial_ms=40.0, pulse_ms=5.0,
                block_trials=(2000,))
    timing = Timing.make(task, pre_ms=5.0, sample_ms=1.0, lead_ms=5.0, tail_ms=float(tail))
    base = rng.standard_normal((45 + tail, D))
    win = timing.pre_rows - timing.lead_rows + timing.window(20.0)
    base[45:] = base[win].mean(axis=0) + 0.3 * rng.standard_normal((tail, D))
    Zs = {}
    for key in task.trajectory_keys():
        Z = base.copy()
        if key[1] is not None:
            Z[5 + 25:] += 0.5 * rng.standard_normal((45 + tail - 30, D))
        Z[:, -1] = 1.0
        Zs[key] = Z
    return task, Zs, timing


def test_gate_signal():
    from agents.reservoir.learning import gate_signal
    task = Task("t", (Cue("c1", (20.0,), (1.0,), 0.5, (("A", 1.0),)),), trial_ms=40.0, pulse_ms=5.0,
                block_trials=(10,))
    timing = Timing.make(task, pre_ms=5.0, sample_ms=1.0, lead_ms=5.0, tail_ms=20.0)
    g = gate_signal(LearnConfig(gate="trace", gate_tau_ms=5.0), timing)
    assert g.size == 60 and np.all(g[:40] == 1.0)
    np.testing.assert_allclose(g[40:], np.exp(-np.arange(1, 21) / 5.0))
    assert np.all(gate_signal(LearnConfig(gate="always"), timing) == 1.0)
    assert gate_signal(LearnConfig(gate="trial"), timing).size == 40       # the old rule: the ITI unseen
    assert not np.any(gate_signal(LearnConfig(gate="zero"), timing))
    with pytest.raises(Exception, match="gate_tau_ms"):
        LearnConfig(gate_tau_ms=0.0)


def test_trace_gate_keeps_the_amplitude_where_learning_in_the_iti_drifts(rng):
    """With every ITI step seen, the trace gate keeps the "when" amplitude at p; held at 1 through
    the ITI (the ablation), learning against the ITI's zero targets pulls it away."""
    from agents.reservoir.analysis import window_mean_vector
    task, Zs, timing = _toy_task_with_iti(rng)
    trials = task.sample_trials(np.random.default_rng(4))
    amp = {}
    for gate in ("trace", "always"):
        lc = LearnConfig(gate=gate, gate_tau_ms=3.0, what_mode="none", weight_avg_trials=500)
        r = run_three_factor(task, trials, Zs, timing, lc, 60.0)
        amp[gate] = float(r.when_avg[0] @ window_mean_vector(Zs[("c1", None, None)], timing, 20.0))
    assert abs(amp["trace"] - 0.5) < 0.1, amp
    assert amp["always"] < amp["trace"] - 0.1, amp
