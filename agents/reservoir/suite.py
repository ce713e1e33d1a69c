"""The what/when/probability suite: runs the experiments of spec sections 5-6 and returns a JSON-able
summary (`run_suite`).  `sims/predict.py` is its command line."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from . import analysis as an
from .config import ConfigError, ForceConfig, LearnConfig, ReservoirConfig, replace
from .learning import (Features, ForceLearner, Timing, centred_code, gate_signal, iti_tail_ms, lms_pass,
                       run_three_factor, sees_iti)
from .reservoir import Reservoir, TrajectoryCache
from .tasks import Cue, Switch, Task, factorial_task, foreperiod_task, three_identity_task

LEARNERS = ("three_factor", "force", "force_reset")


@dataclass(frozen=True)
class SuiteConfig:
    block_trials: tuple = (1000, 1000)
    seed: int = 0                       # trial-schedule seed
    eval_cue_trials: int = 25           # [D] recovery is measured this many cue-trials after a switch
    course_cue_trials: int = 60         # length of the switch time courses
    ablations: bool = False
    foreperiod: bool = False
    foreperiod_trials: int = 600
    robustness_seeds: int = 0           # check 13 (noise on, latencies <= 300 ms); 0 = skip
    robustness_noise: float = 0.1
    robustness_trials: tuple = (400, 200)
    trial_basis: bool = True            # check 1 across trials: decode time from held-out noisy trials, with controls
    trial_basis_noise: float = 0.1      # [D] noise sigma of those trials (the robustness check's)
    trial_basis_trials: tuple = (8, 4)  # [D] training and held-out trials per condition
    geometry_k3: bool = True            # check 11 again with three identities (a two-dimensional "what" space)
    geometry_k3_trials: int = 0         # its trials (0: the first block's length)
    gate_trials: int = 200              # check 12, measured over the first block's last trials: trace gate vs
                                        # the gate held at 1 in the ITI (0: skip)
    nc_demo: bool = False               # Nicola & Clopath network-form FORCE on their sine task (N = 1000)
    force_course_points: tuple = (1, 3, 5, 10, 15, 20, 25, 30, 40, 60)   # cue-trials where FORCE is solved
    kernel: str = "numba"
    backend: str = "numba"

    def __post_init__(self):
        if len(self.block_trials) != 2 or min(self.block_trials) < 1:
            raise ConfigError(f"SuiteConfig.block_trials must be two block lengths >= 1, got {self.block_trials}")
        if self.eval_cue_trials < 1 or self.course_cue_trials < self.eval_cue_trials:
            raise ConfigError("SuiteConfig.course_cue_trials must be >= eval_cue_trials >= 1")
        if self.gate_trials < 0:
            raise ConfigError("SuiteConfig.gate_trials must be >= 0")
        if self.robustness_seeds < 0:
            raise ConfigError("SuiteConfig.robustness_seeds must be >= 0")
        if self.kernel not in ("numba", "numpy"):
            raise ConfigError(f"SuiteConfig.kernel must be 'numba' or 'numpy', got {self.kernel!r}")


class _Bar:
    def __init__(self, total, enabled):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, desc="predict", unit="step", leave=False)

    def update(self, n=1):
        if self.bar is not None:
            self.bar.update(n)

    def stage(self, s):
        if self.bar is not None:
            self.bar.set_postfix_str(s)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _switch_measures(task: Task):
    """Per switch: (label, cue, list of (latency_ms, kind, old target, new target)).  kind 'when' uses the
    when readout's window amplitude; 'what' uses y_k + 1/K of the first identity."""
    out = []
    for s in task.switches:
        old, new = task.cue(s.cue, s.block - 1), task.cue(s.cue, s.block)
        ms = []
        if old.latencies_ms != new.latencies_ms:
            for L in old.latencies_ms:
                ms.append((L, "when", old.p_event, 0.0 if L not in new.latencies_ms else new.p_event))
            for L in new.latencies_ms:
                if L not in old.latencies_ms:
                    ms.append((L, "when", 0.0, new.p_event))
        if old.p_event != new.p_event:
            for L in new.latencies_ms:
                ms.append((L, "when", old.p_event, new.p_event))
        if old.identity_mix != new.identity_mix:
            k = task.identities[0]
            ms.append((new.latencies_ms[0], "what", old.prob_of(k), new.prob_of(k)))
        out.append((s.label, s.cue, s.block, ms))
    return out


def _measure(w_when, w_what, Zs, timing, cue, L, kind, K):
    v = an.window_mean_vector(Zs[(cue, None, None)], timing, L)
    if kind == "when":
        return float(w_when @ v)
    return float(w_what[0] @ v) + 1.0 / K


def evaluate_block(task, block, w_when, w_what, Zs, timing) -> dict:
    """Checks 2-5 on omission probes for one block's weights."""
    K = len(task.identities)
    out = {"peak_ms": {}, "peak_error_ms": {}, "amplitude": {}, "silence": {}, "what": {}, "p": {}}
    for c in task.cues_in_block(block):
        Z = Zs[(c.name, None, None)]
        y = an.aligned_output(w_when, Z, timing)
        L = c.latencies_ms[0]
        out["peak_ms"][c.name] = an.peak_time_ms(y, timing)
        out["peak_error_ms"][c.name] = out["peak_ms"][c.name] - (L + task.pulse_ms / 2)
        out["amplitude"][c.name] = float(w_when @ an.window_mean_vector(Z, timing, L))
        out["silence"][c.name] = an.silence(y, timing, c.latencies_ms)
        out["p"][c.name] = c.p_event
        yk = np.asarray(w_what) @ an.window_mean_vector(Z, timing, L)
        out["what"][c.name] = {k: float(v + 1.0 / K) for k, v in zip(task.identities, yk)}
    return out


def _amplitude_fit(task, block, ev):
    names = [c.name for c in task.cues_in_block(block) if c.p_event < 1.0 and len(c.identity_mix) == 1]
    return an.pearson_fit([ev["p"][n] for n in names], [ev["amplitude"][n] for n in names]), names


def trial_basis(res: Reservoir, task: Task, timing: Timing, F: Features, duration_ms: float,
                scfg: SuiteConfig) -> dict:
    """Check 1 across trials: the bumps of elapsed time since the first cue, ridge-decoded from
    noisy trials (each with its own noise, ``trial_basis_noise``) and scored on held-out trials;
    next to two controls that must fail: the same noisy trials without the cue (no-cue), and a
    decoder trained on time-shuffled targets (shuffled time). The frozen-trajectory check 1 above
    cannot tell a timing basis from any smooth frozen signal; this one can."""
    cue, pre = task.cues[0].name, res.cfg.pre_ms
    n_train, n_test = scfg.trial_basis_trials
    rng = np.random.default_rng([scfg.seed, 101])
    sigma = scfg.trial_basis_noise

    def trials(events):
        return [F.transform(res.run(events, duration_ms, noise_sigma=sigma, rng=rng)) for _ in range(n_train + n_test)]

    cued, bare = trials([(cue, pre)]), trials([])
    P = timing.pre_rows
    corr = {str(int(ms)): float(np.corrcoef(cued[0][P + int(ms / timing.sample_ms), :-1],
                                             cued[1][P + int(ms / timing.sample_ms), :-1])[0, 1])
            for ms in (50, 100, 200, 300, 600, 900)}
    out = {"noise_sigma": sigma, "cue": cue, "train_trials": n_train, "test_trials": n_test,
           "reservoir": an.trial_decoding(cued[:n_train], cued[n_train:], timing),
           "no_cue": an.trial_decoding(bare[:n_train], bare[n_train:], timing),
           "shuffled_time": an.trial_decoding(cued[:n_train], cued[n_train:], timing,
                                              shuffle_rng=np.random.default_rng([scfg.seed, 102])),
           "trial_to_trial_corr_at_ms": corr}
    r = out["reservoir"]
    out["pass"] = bool(r["r2_heldout"] >= 0.8 and max(r["peak_error_ms"]) <= 20
                       and out["no_cue"]["r2_heldout"] < 0.2 and out["shuffled_time"]["r2_heldout"] < 0.2)
    return out


def _what_dims(w_what) -> list:
    """Singular values of the "what" weights (neuron part), over the largest: how many dimensions they span."""
    sv = np.linalg.svd(np.asarray(w_what)[:, :-1], compute_uv=False)
    return [float(x / sv[0]) if sv[0] > 0 else 0.0 for x in sv]


def geometry_three_identities(cache: TrajectoryCache, Zs: dict, F: Features, timing: Timing, lcfg: LearnConfig,
                              scfg: SuiteConfig) -> dict:
    """Check 11 with three identities (``three_identity_task``): the three-factor learner, centred and
    uncentred, on its own trial schedule; the cosines of "when" with each "what" vector, the largest
    principal-angle cosine between "when" and the "what" span, and that span's dimensions. With the
    factorial task's two identities the centred span is one line (w_A = -w_B), so its principal
    angle is the largest |cos| again; here the span is a plane, and the principal cosine (the
    length of "when"'s projection on it) can exceed every single cosine."""
    n = scfg.geometry_k3_trials or scfg.block_trials[0]
    t3 = three_identity_task(n)
    for k in t3.trajectory_keys():
        if k not in Zs:
            Zs[k] = F.transform(cache.get(k))
    trials = t3.sample_trials(np.random.default_rng([scfg.seed, 103]))
    out = {"task": t3.name, "identities": list(t3.identities), "trials": n}
    for coding in ("centred", "uncentred"):
        r = run_three_factor(t3, trials, Zs, timing, replace(lcfg, what_coding=coding), F.mean_sq_norm, scfg.kernel)
        g = an.what_when_geometry(r.when_avg[0], r.what_avg[0])
        g["what_dims"] = _what_dims(r.what_avg[0])
        out[coding] = g
    c = out["centred"]
    out["pass"] = bool(c["max_abs_cos"] <= 0.2 and c["principal_cos"] <= 0.3)
    return out


def gate_check(task, trials, Zs, timing: Timing, lcfg: LearnConfig, F: Features, scfg: SuiteConfig) -> dict:
    """Check 12, measured: the first block with every ITI simulated, learned with the model's trace
    gate, with the gate held at 1 through the ITI ("always": learning against zero targets there) and
    with the ITI unseen ("trial", the old rule). Over the block's last ``gate_trials`` trials, every 10
    trials, the "when" amplitude of check 3's cues (single identity, p < 1) from the weights averaged
    over the ``weight_avg_trials`` trials before (check 3's own evaluation), and its distance from p (max over the cues). Passes when the gated
    learner stays within 0.1 of p throughout and the ungated one's mean distance is larger."""
    n = len([tr for tr in trials if tr.block == 0])
    m = min(scfg.gate_trials, n)
    names = [c.name for c in task.cues_in_block(0) if c.p_event < 1.0 and len(c.identity_mix) == 1]
    vec = {c: an.window_mean_vector(Zs[(c, None, None)], timing, task.cue(c).latencies_ms[0]) for c in names}
    p = {c: task.cue(c).p_event for c in names}
    out = {"block_trials": n, "measured_trials": m, "cues": names, "p": p, "iti_ms": lcfg.iti_ms,
           "gate_tau_ms": lcfg.gate_tau_ms, "every": 10, "weights_averaged_over": lcfg.weight_avg_trials}
    k = lcfg.weight_avg_trials
    for gate in ("trace", "always", "trial"):
        r = run_three_factor(task, trials[:n], Zs, timing, replace(lcfg, gate=gate), F.mean_sq_norm, scfg.kernel)
        course = []
        for i in range(max(k, n - m + 10), n + 1, 10):
            w = r.when_hist[i - k:i].mean(axis=0)
            course.append({"trial": i, **{c: float(w @ vec[c]) for c in names}})
        dev = [max(abs(row[c] - p[c]) for c in names) for row in course]
        bias = [float(np.mean([row[c] - p[c] for c in names])) for row in course]
        out[gate] = {"course": course, "max_dev": float(max(dev)), "mean_dev": float(np.mean(dev)),
                     "mean_bias": float(np.mean(bias)), "weight_norm": float(np.linalg.norm(r.when_hist[n - 1]))}
    t, a = out["trace"], out["always"]
    out["pass"] = bool(t["max_dev"] <= 0.1 and a["mean_dev"] > t["mean_dev"])
    return out


def run_suite(rcfg: ReservoirConfig = ReservoirConfig(), lcfg: LearnConfig = LearnConfig(),
              fcfg: ForceConfig = ForceConfig(), scfg: SuiteConfig = SuiteConfig(), progress: bool = False,
              keep: Optional[dict] = None) -> dict:
    """Run the suite; returns the summary dict.  ``keep`` (a dict) receives the arrays the figures need.

    BLAS runs on one thread inside (threadpoolctl, when installed): the suite's matrix work is small
    (1001 x 1001 Cholesky solves) and multithreaded BLAS was 3x slower on a loaded 2-core machine."""
    import scipy.linalg  # noqa: F401  (load scipy's BLAS before limiting it: threadpoolctl limits loaded libraries)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return _run_suite(rcfg, lcfg, fcfg, scfg, progress, keep)
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_suite(rcfg, lcfg, fcfg, scfg, progress, keep)


def _run_suite(rcfg, lcfg, fcfg, scfg, progress, keep) -> dict:
    t_start = time.perf_counter()
    task = factorial_task(scfg.block_trials)
    K = len(task.identities)
    need_tail = scfg.ablations or sees_iti(lcfg) or scfg.gate_trials > 0
    keys = task.trajectory_keys()
    n_learn = 2 + (2 if scfg.ablations else 0)
    n_rob = scfg.robustness_seeds * sum(scfg.robustness_trials)
    bar = _Bar(len(keys) + n_learn * task.n_trials + n_rob, progress)
    timings = {}

    # -- reservoir and trajectories -----------------------------------------------------------
    bar.stage("reservoir")
    t0 = time.perf_counter()
    cues = tuple(c.name for c in task.cues)
    fp_cues = tuple(c.name for c in foreperiod_task(10).cues) if scfg.foreperiod else ()
    # the third identity's channel comes last: adding a channel changes no other channel or the network
    extra = fp_cues + (tuple(k for k in three_identity_task(1).identities if k not in task.identities)
                       if scfg.geometry_k3 else ())
    res = Reservoir(rcfg, channels=cues + task.identities + extra, backend=scfg.backend, clock_channels=cues + fp_cues)
    cache = TrajectoryCache(res, task.trial_ms, tail_ms=lcfg.iti_ms if need_tail else 0.0)
    cache.fill(keys, bar)
    timings["trajectories_s"] = time.perf_counter() - t0
    timing = Timing.make(task, rcfg.pre_ms, rcfg.sample_ms, lcfg.lead_ms, cache.tail_ms)
    probes = [cache.get((c.name, None, None)) for c in task.cues]
    F = Features(probes, timing.pre_rows, timing.trial_rows)
    Zs = {k: F.transform(t) for k, t in cache.store.items()}
    trials = task.sample_trials(np.random.default_rng(scfg.seed))
    summary: dict = {"config": {"reservoir": asdict(rcfg), "learn": asdict(lcfg), "force": asdict(fcfg),
                                "suite": asdict(scfg)}}
    rates = [t.rate_hz() for t in cache.store.values()]
    summary["mean_rate_hz"] = float(np.mean([p.rate_hz() for p in probes]))
    summary["rate_range_hz"] = [float(min(rates)), float(max(rates))]

    # -- check 1: timing basis --------------------------------------------------------------------
    dec = {c.name: an.bump_decoding(Zs[(c.name, None, None)], timing) for c in task.cues}
    summary["timing_basis"] = {"r2_heldout_min": min(d["r2_heldout"] for d in dec.values()),
                               "peak_error_ms_max": max(max(d["peak_error_ms"]) for d in dec.values()),
                               "per_cue": dec}
    if scfg.trial_basis:
        bar.stage("timing basis across trials")
        summary["timing_basis_trials"] = trial_basis(res, task, timing, F, cache.duration_ms, scfg)

    # -- three-factor learner and the uncentred control -------------------------------------------
    bar.stage("three-factor")
    t0 = time.perf_counter()
    main = run_three_factor(task, trials, Zs, timing, lcfg, F.mean_sq_norm, scfg.kernel, bar)
    timings["three_factor_s"] = time.perf_counter() - t0
    bar.stage("uncentred control")
    unc = run_three_factor(task, trials, Zs, timing, replace(lcfg, what_coding="uncentred"), F.mean_sq_norm,
                           scfg.kernel, bar)
    nb = len(task.block_trials)
    ev = [evaluate_block(task, b, main.when_avg[b], main.what_avg[b], Zs, timing) for b in range(nb)]
    fit, fit_cues = _amplitude_fit(task, 0, ev[0])
    summary["blocks"] = ev
    summary["timing_peak_ms"] = ev[0]["peak_ms"]
    summary["timing_peak_error_ms"] = ev[0]["peak_error_ms"]
    summary["amplitude_vs_p_r"] = fit["r"]
    summary["amplitude_fit"] = dict(fit, cues=fit_cues)
    geo_c = [an.what_when_geometry(main.when_avg[b], main.what_avg[b]) for b in range(nb)]
    geo_u = [an.what_when_geometry(unc.when_avg[b], unc.what_avg[b]) for b in range(nb)]
    summary["cos_when_what"] = {"centred": max(g["max_abs_cos"] for g in geo_c),
                                "uncentred": min(g["max_abs_cos"] for g in geo_u)}
    summary["principal_cos"] = {"centred": max(g["principal_cos"] for g in geo_c),
                                "uncentred": min(g["principal_cos"] for g in geo_u)}
    summary["geometry_per_block"] = {"centred": geo_c, "uncentred": geo_u}
    if scfg.geometry_k3:
        bar.stage("geometry, three identities")
        summary["geometry_three_identities"] = geometry_three_identities(cache, Zs, F, timing, lcfg, scfg)

    # -- switches: three-factor vs FORCE with and without reset -------------------------------------
    bar.stage("FORCE")
    t0 = time.perf_counter()
    force = ForceLearner(task, Zs, timing, fcfg, F.mean_sq_norm)
    measures = _switch_measures(task)
    sw_start = task.block_starts[1]
    force_cache = {}

    def force_w(upto, reset, which=("when", "what")):
        k = (upto, reset, which)
        if k not in force_cache:
            force_cache[k] = force.solve(trials, upto, reset_at=sw_start if reset else None, which=which)
        return force_cache[k]

    pre_w = {"three_factor": (main.when_avg[0], main.what_avg[0]),
             "force": force_w(sw_start, False), "force_reset": force_w(sw_start, False)}
    rec, details, courses = {l: {} for l in LEARNERS}, {}, {}
    ks_force = sorted(set(scfg.force_course_points) | {scfg.eval_cue_trials})
    ks_force = [k for k in ks_force if k <= scfg.course_cue_trials]
    for label, cue, block, ms in measures:
        idx = [tr.index for tr in trials if tr.cue == cue and tr.block == block][:scfg.course_cue_trials]
        n0 = sum(1 for tr in trials if tr.cue == cue and tr.block == block - 1
                 and (label != "identity" or tr.identity is not None))
        det = {"cue": cue, "measures": [], "n0_cue_trials": n0}
        courses[label] = {"cue": cue, "measures": [(L, kind, o, n) for L, kind, o, n in ms]}
        for learner in LEARNERS:
            pre = [_measure(*pre_w[learner], Zs, timing, cue, L, kind, K) for L, kind, _, _ in ms]
            if learner == "three_factor":
                ks = list(range(1, len(idx) + 1))
                vals = [[_measure(main.when_hist[j], main.what_hist[j], Zs, timing, cue, L, kind, K)
                         for L, kind, _, _ in ms] for j in idx]
            else:
                ks = [k for k in ks_force if k <= len(idx)]
                which = tuple(sorted({"when" if kind == "when" else "what" for _, kind, _, _ in ms}))
                vals = []
                for k in ks:
                    ww, wk = force_w(idx[k - 1] + 1, learner == "force_reset", which)
                    vals.append([_measure(ww, wk, Zs, timing, cue, L, kind, K) for L, kind, _, _ in ms])
            courses[label][learner] = {"cue_trials": ks, "values": vals, "pre": pre}
            ke = scfg.eval_cue_trials
            if ke in ks:
                at = vals[ks.index(ke)]
                fr = [an.recovery_fraction(p, a, tgt) for p, a, (_, _, _, tgt) in zip(pre, at, ms)]
                rec[learner][label] = float(np.mean(fr))
                det.setdefault("per_measure", {})[learner] = {"pre": pre, "at_eval": at, "fractions": fr}
            else:
                rec[learner][label] = None
        # m / (n0 + m): n0 counts the block-1 trials of this cue whose trajectory up to the measured
        # window is the omission probe's (no earlier event), i.e. the old visits of that state
        m = scfg.eval_cue_trials
        n0s = []
        for L, kind, _, _ in ms:
            n0s.append(sum(1 for tr in trials if tr.cue == cue and tr.block == block - 1
                           and (tr.latency_ms is None or tr.latency_ms >= L)
                           and (kind == "when" or tr.identity is not None)))
        det["n0_per_measure"] = n0s
        det["force_bound"] = float(np.mean([m / (n + m) for n in n0s]) + 0.15)
        # checks 6-8 on the three-factor learner (trials-to-criterion, 1-based cue-trials)
        c3 = courses[label]["three_factor"]
        if label == "timing":
            i_old = [i for i, (L, k, o, n) in enumerate(ms) if n == 0.0][0]
            i_new = [i for i, (L, k, o, n) in enumerate(ms) if o == 0.0][0]
            p_new = ms[i_new][3]
            det["old_below_half_at"] = an.first_cue_trial([v[i_old] for v in c3["values"]],
                                                          lambda v: v < 0.5 * c3["pre"][i_old])
            det["new_reaches_half_p_at"] = an.first_cue_trial([v[i_new] for v in c3["values"]],
                                                              lambda v: v >= 0.5 * p_new)
        elif label == "probability":
            tgt = ms[0][3]
            det["within_0.15_at"] = an.first_cue_trial([v[0] for v in c3["values"]], lambda v: abs(v - tgt) <= 0.15)
        elif label == "identity":
            pre_sign = np.sign(c3["pre"][0] - 0.5)
            det["sign_flip_at"] = an.first_cue_trial([v[0] for v in c3["values"]],
                                                     lambda v: np.sign(v - 0.5) == -pre_sign)
        details[label] = det
    timings["force_s"] = time.perf_counter() - t0
    summary["switch_recovery"] = rec
    summary["switch_details"] = details

    # -- checks ---------------------------------------------------------------------------------
    b1 = task.cues_in_block(0)
    chk = {}
    tb = summary["timing_basis"]
    # check 1: the frozen trajectories decode, and (when measured) so do held-out noisy trials while
    # the no-cue and shuffled-time controls fail (``trial_basis``)
    chk["1_timing_basis"] = bool(tb["r2_heldout_min"] >= 0.8 and tb["peak_error_ms_max"] <= 20
                                 and 5 <= summary["mean_rate_hz"] <= 40
                                 and summary.get("timing_basis_trials", {}).get("pass", True))
    chk["2_timing_accuracy"] = all(c.latencies_ms[0] - 15 <= ev[0]["peak_ms"][c.name] <= c.latencies_ms[0] + 65
                                   for c in b1)
    chk["3_amplitude_p"] = bool(fit["r"] >= 0.9 and 0.5 <= fit["slope"] <= 1.2 and abs(fit["intercept"]) <= 0.1)
    chk["4_silence"] = all(v <= 0.1 for v in ev[0]["silence"].values())
    c5 = [c for c in b1 if len(c.identity_mix) > 1]
    ok5 = True
    for c in c5:
        for k, pk in c.identity_mix:
            ok5 &= abs(ev[0]["what"][c.name][k] - pk) <= 0.15
    for c in b1:
        if len(c.identity_mix) == 1:
            k = c.identity_mix[0][0]
            ok5 &= all(ev[0]["what"][c.name][k] > ev[0]["what"][c.name][j] for j in task.identities if j != k)
    chk["5_what"] = bool(ok5)
    d = details
    chk["6_timing_switch"] = bool(d["timing"]["old_below_half_at"] is not None and d["timing"]["old_below_half_at"] <= 20
                                  and d["timing"]["new_reaches_half_p_at"] is not None
                                  and d["timing"]["new_reaches_half_p_at"] <= 30)
    chk["7_probability_switch"] = bool(d["probability"]["within_0.15_at"] is not None
                                       and d["probability"]["within_0.15_at"] <= 50)
    chk["8_identity_switch"] = bool(d["identity"]["sign_flip_at"] is not None and d["identity"]["sign_flip_at"] <= 50)
    chk["9_force_no_reset"] = all(rec["force"][s] is not None and rec["three_factor"][s] is not None
                                  and rec["force"][s] <= 0.5 * rec["three_factor"][s]
                                  and rec["force"][s] <= d[s]["force_bound"] for s in rec["force"])
    chk["10_force_reset"] = all(v is not None and v >= 0.6 for v in rec["force_reset"].values())
    chk["11_orthogonality"] = bool(summary["cos_when_what"]["centred"] <= 0.2 and summary["principal_cos"]["centred"] <= 0.3
                                   and summary["cos_when_what"]["uncentred"] >= 0.4)
    summary["checks"] = chk

    # -- check 12: the gate, measured ---------------------------------------------------------------
    if scfg.gate_trials:
        bar.stage("gate")
        summary["gate"] = gate_check(task, trials, Zs, timing, lcfg, F, scfg)

    # -- check 12: ablations (reported) -----------------------------------------------------------
    if scfg.ablations:
        bar.stage("ablations")
        abl = {}
        for name, lc in (("what_online", replace(lcfg, what_mode="online")),
                         ("no_gate", replace(lcfg, gate="always"))):
            r = run_three_factor(task, trials, Zs, timing, lc, F.mean_sq_norm, scfg.kernel, bar)
            e = evaluate_block(task, 0, r.when_avg[0], r.what_avg[0], Zs, timing)
            f, _ = _amplitude_fit(task, 0, e)
            g = [an.what_when_geometry(r.when_avg[b], r.what_avg[b]) for b in range(nb)]
            abl[name] = {"peak_ms": e["peak_ms"], "amplitude_vs_p": f, "silence": e["silence"],
                         "what": e["what"],
                         "check2": all(c.latencies_ms[0] - 15 <= e["peak_ms"][c.name] <= c.latencies_ms[0] + 65 for c in b1),
                         "check3": bool(f["r"] >= 0.9 and 0.5 <= f["slope"] <= 1.2 and abs(f["intercept"]) <= 0.1),
                         "cos_max_abs": max(x["max_abs_cos"] for x in g),
                         "weight_norm_drift": float(np.linalg.norm(r.when_avg[1]) / max(1e-12, np.linalg.norm(main.when_avg[1])))}
            if keep is not None:
                keep.setdefault("ablations", {})[name] = (r.when_avg[0], e)
        summary["ablations"] = abl

    # -- foreperiod variant -------------------------------------------------------------------------
    if scfg.foreperiod:
        bar.stage("foreperiod")
        summary["foreperiod"] = run_foreperiod(res, rcfg, lcfg, scfg, keep)

    # -- check 13: robustness (reported) --------------------------------------------------------------
    if scfg.robustness_seeds:
        bar.stage("robustness")
        summary["robustness"] = run_robustness(rcfg, lcfg, scfg, bar)

    if scfg.nc_demo:
        bar.stage("Nicola-Clopath FORCE")
        from .nicola_clopath import NCConfig, sine_demo
        t0 = time.perf_counter()
        d = sine_demo(NCConfig(n_neurons=1000), total_ms=2500.0, train_ms=(300.0, 1800.0), kernel=scfg.kernel)
        summary["nicola_clopath_sine"] = {k: v for k, v in d.items() if k != "trace"}
        summary["nicola_clopath_sine"].update(n_neurons=1000, total_ms=2500.0, train_ms=[300.0, 1800.0])
        timings["nicola_clopath_s"] = time.perf_counter() - t0
        if keep is not None:
            keep["nc_trace"] = d["trace"]

    bar.close()
    timings["total_s"] = time.perf_counter() - t_start
    summary["timings"] = timings
    if keep is not None:
        keep.update(task=task, trials=trials, Zs=Zs, timing=timing, main=main, unc=unc, cache=cache,
                    courses=courses, ev=ev, fit=fit, res_cfg=rcfg)
    res.close()
    return summary


def run_foreperiod(res: Reservoir, rcfg, lcfg, scfg, keep=None) -> dict:
    """One cue, latency from {300, 600, 900} ms with pi = (0.2, 0.5, 0.3).  The trial-averaged output
    (over the latency outcomes, each trajectory weighted by pi) at each window should equal pi; the
    omission probe shows the learned hazard-like single-trial output."""
    task = foreperiod_task(scfg.foreperiod_trials)
    cache = TrajectoryCache(res, task.trial_ms, tail_ms=iti_tail_ms(lcfg))
    cache.fill(task.trajectory_keys())
    timing = Timing.make(task, rcfg.pre_ms, rcfg.sample_ms, lcfg.lead_ms, cache.tail_ms)
    F = Features(list(cache.store.values()), timing.pre_rows, timing.trial_rows)
    Zs = {k: F.transform(t) for k, t in cache.store.items()}
    trials = task.sample_trials(np.random.default_rng(scfg.seed + 1))
    r = run_three_factor(task, trials, Zs, timing, lcfg, F.mean_sq_norm, scfg.kernel)
    c = task.cues[0]
    w = r.when_avg[0]
    avg, probe_amp = {}, {}
    y_avg = np.zeros(timing.trial_rows)
    for L, pl in zip(c.latencies_ms, c.latency_probs):
        y_avg += pl * an.aligned_output(w, Zs[("f", L, "A")], timing)
    for L, pl in zip(c.latencies_ms, c.latency_probs):
        win = timing.window(L)
        avg[str(int(L))] = float(y_avg[win].mean())
        probe_amp[str(int(L))] = float(w @ an.window_mean_vector(Zs[("f", None, None)], timing, L))
    if keep is not None:
        keep["foreperiod"] = {"y_avg": y_avg, "y_probe": an.aligned_output(w, Zs[("f", None, None)], timing),
                              "latencies": c.latencies_ms, "pi": c.latency_probs}
    return {"pi": dict(zip([str(int(L)) for L in c.latencies_ms], c.latency_probs)),
            "trial_averaged_amplitude": avg, "probe_amplitude": probe_amp,
            "r_avg_vs_pi": an.pearson_fit(c.latency_probs, list(avg.values()))["r"]}


def robustness_task(block_trials) -> Task:
    """Check 13: the factorial design with latencies <= 300 ms and a 500 ms trial."""
    cues = (Cue("c1", (150.0,), (1.0,), 0.8, (("A", 1.0),)),
            Cue("c2", (150.0,), (1.0,), 0.4, (("B", 1.0),)),
            Cue("c3", (300.0,), (1.0,), 0.2, (("A", 1.0),)),
            Cue("c4", (300.0,), (1.0,), 0.6, (("B", 1.0),)),
            Cue("c5", (225.0,), (1.0,), 1.0, (("A", 0.7), ("B", 0.3))))
    sw = (Switch(1, "c1", "timing", (("latencies_ms", (250.0,)),)),)
    return Task("robustness", cues, trial_ms=500.0, block_trials=tuple(block_trials), switches=sw)


def run_robustness(rcfg, lcfg, scfg, bar=None) -> dict:
    """Noise on (sigma = robustness_noise): every trial is simulated afresh (no cache).  Evaluation
    uses the mean of 5 noisy omission probes per cue.  Reports checks 2, 3 and 6 per reservoir seed."""
    task = robustness_task(scfg.robustness_trials)
    out = []
    for s in range(scfg.robustness_seeds):
        rc = replace(rcfg, seed=rcfg.seed + 100 + s, noise_sigma=scfg.robustness_noise)
        res = Reservoir(rc, channels=tuple(c.name for c in task.cues) + task.identities, backend=scfg.backend,
                        clock_channels=tuple(c.name for c in task.cues))
        rng = np.random.default_rng(1000 + s)
        cache = TrajectoryCache(res, task.trial_ms, tail_ms=iti_tail_ms(lcfg))
        timing = Timing.make(task, rc.pre_ms, rc.sample_ms, lcfg.lead_ms, cache.tail_ms)
        # z-scoring statistics from one noisy run of every trajectory kind
        probes0 = [res.run(cache.events_for(k), cache.duration_ms, rng=rng) for k in task.trajectory_keys()]
        F = Features(probes0, timing.pre_rows, timing.trial_rows)
        trials = task.sample_trials(np.random.default_rng(scfg.seed + s))
        # a fresh noisy trajectory per trial (no cache): the same rules, one trial at a time
        D = F.n_features
        lc = lcfg
        state = {"when": np.zeros((1, D)), "what": np.zeros((len(task.identities), D))}
        hist = []
        eta_w = lc.alpha_when / F.mean_sq_norm
        eta_k = lc.alpha_what / F.mean_sq_norm
        P, Lr = timing.pre_rows, timing.lead_rows
        gate = gate_signal(lc, timing)                    # the ITI runs on too when the learner sees it
        rows = np.arange(P - Lr, P - Lr + gate.size)
        for tr in trials:
            Z = F.transform(res.run(cache.events_for(tr.key), cache.duration_ms, rng=rng))
            lms_pass(state["when"], Z, rows, timing.when_target(tr.latency_ms, gate.size)[:, None], eta_w * gate,
                     lc.use_error, scfg.kernel)
            if tr.identity is not None:
                win = timing.window(tr.latency_ms)
                o = np.tile(centred_code(tr.identity, task.identities), (win.size, 1))
                lms_pass(state["what"], Z, P - Lr + win, o, eta_k, lc.use_error, scfg.kernel)
            hist.append(state["when"][0].copy())
            if bar is not None:
                bar.update(1)
        hist = np.array(hist)
        nb1 = task.block_trials[0]
        w1 = hist[max(0, nb1 - lc.weight_avg_trials):nb1].mean(axis=0)
        # noisy probes: mean feature vectors over 5 probe runs per cue
        probeZ = {c.name: np.mean([F.transform(res.run(cache.events_for((c.name, None, None)), cache.duration_ms, rng=rng))
                                   for _ in range(5)], axis=0) for c in task.cues}
        peaks, amps, ok2 = {}, {}, True
        for c in task.cues_in_block(0):
            L = c.latencies_ms[0]
            y = an.aligned_output(w1, probeZ[c.name], timing)
            peaks[c.name] = an.peak_time_ms(y, timing)
            amps[c.name] = float(w1 @ an.window_mean_vector(probeZ[c.name], timing, L))
            ok2 &= L - 15 <= peaks[c.name] <= L + 65
        names = ["c1", "c2", "c3", "c4"]
        f = an.pearson_fit([task.cue(n).p_event for n in names], [amps[n] for n in names])
        idx = [tr.index for tr in trials if tr.cue == "c1" and tr.block == 1]
        v_old = an.window_mean_vector(probeZ["c1"], timing, 150.0)
        v_new = an.window_mean_vector(probeZ["c1"], timing, 250.0)
        pre_old = float(w1 @ v_old)
        old_c = [float(hist[j] @ v_old) for j in idx]
        new_c = [float(hist[j] @ v_new) for j in idx]
        a_old = an.first_cue_trial(old_c, lambda v: v < 0.5 * pre_old)
        a_new = an.first_cue_trial(new_c, lambda v: v >= 0.5 * 0.8)
        out.append({"seed": rc.seed, "rate_hz": float(np.mean([p.rate_hz() for p in probes0])),
                    "peak_ms": peaks, "amplitude": amps, "amplitude_vs_p": f, "check2": bool(ok2),
                    "check3": bool(f["r"] >= 0.9 and 0.5 <= f["slope"] <= 1.2 and abs(f["intercept"]) <= 0.1),
                    "old_below_half_at": a_old, "new_reaches_half_p_at": a_new,
                    "check6": bool(a_old is not None and a_old <= 20 and a_new is not None and a_new <= 30)})
        res.close()
    return {"noise_sigma": scfg.robustness_noise, "seeds": out,
            "check2_pass": sum(o["check2"] for o in out), "check3_pass": sum(o["check3"] for o in out),
            "check6_pass": sum(o["check6"] for o in out), "n_seeds": len(out)}
