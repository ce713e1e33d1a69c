"""Readouts and learners on the reservoir's filtered-spike features (spec sections 3 and 4).

Everything here is flat array code: a numba kernel and its numpy twin with the same signature
(`lms_pass`), selected with ``kernel="numba" | "numpy"``.  Readouts are not engine synapses.

Time conventions (all in learning steps of ``sample_ms``, default 1 ms): a trajectory's feature row
``P + t`` is the state at trial time t (P = pre_ms / sample_ms rows before the cue).  The readout
predicts ``lead`` ahead: the error at trial time t pairs the target s(t) with x(t - lead).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve   # imported here so a BLAS thread limit set later covers it

from .config import ConfigError, ForceConfig, LearnConfig
from .tasks import Task

try:
    import numba
    _HAVE_NUMBA = True
except Exception:  # pragma: no cover
    _HAVE_NUMBA = False


# -- features -------------------------------------------------------------------------------
class Features:
    """Per-neuron z-scoring of the filtered spikes (statistics from ``trajectories``' trial samples;
    fixed afterwards), plus a constant bias feature appended as the last column.  Neurons silent in
    those samples get feature 0; the std is floored at ``rel_floor`` x the median std so that a
    nearly silent neuron that fires in another trajectory cannot blow up |x|^2 (LMS stability)."""

    def __init__(self, trajectories, pre_rows: int, trial_rows: int, std_floor: float = 1e-6,
                 rel_floor: float = 0.25):
        if not trajectories:
            raise ConfigError("Features needs at least one trajectory")
        X = np.concatenate([t.features[pre_rows:pre_rows + trial_rows] for t in trajectories]).astype(np.float64)
        self.mean = X.mean(axis=0)
        sd = X.std(axis=0)
        self.silent = sd <= std_floor
        floor = rel_floor * np.median(sd[~self.silent]) if np.any(~self.silent) else 1.0
        self.std = np.where(self.silent, 1.0, np.maximum(sd, floor))
        self.n_features = X.shape[1] + 1
        Z = self.transform_array(X)
        self.mean_sq_norm = float((Z ** 2).sum(axis=1).mean())

    def transform_array(self, X) -> np.ndarray:
        Z = np.empty((X.shape[0], X.shape[1] + 1))
        Z[:, :-1] = (X - self.mean) / self.std
        Z[:, :-1][:, self.silent] = 0.0
        Z[:, -1] = 1.0
        return Z

    def transform(self, traj) -> np.ndarray:
        return self.transform_array(traj.features.astype(np.float64))


# -- the three-factor delta rule ---------------------------------------------------------------
def _lms_pass_numpy(w, Z, rows, targets, eta, use_error):
    """For i in order: y = w x (x = Z[rows[i]]); e = targets[i] - y (or targets[i] when the error
    factor is off); w += eta[i] * e x^T.  eta[i] carries the gate (eta * A(t)).  In place."""
    for i in range(rows.size):
        if eta[i] == 0.0:
            continue
        x = Z[rows[i]]
        e = targets[i] - w @ x if use_error else targets[i].copy()
        w += eta[i] * np.outer(e, x)


if _HAVE_NUMBA:
    @numba.njit(cache=True)
    def _lms_pass_numba(w, Z, rows, targets, eta, use_error):
        M, D = w.shape
        for i in range(rows.size):
            g = eta[i]
            if g == 0.0:
                continue
            r = rows[i]
            for m in range(M):
                if use_error:
                    y = 0.0
                    for j in range(D):
                        y += w[m, j] * Z[r, j]
                    e = targets[i, m] - y
                else:
                    e = targets[i, m]
                ge = g * e
                for j in range(D):
                    w[m, j] += ge * Z[r, j]
else:  # pragma: no cover
    _lms_pass_numba = _lms_pass_numpy


def lms_pass(w, Z, rows, targets, eta, use_error=True, kernel="numba"):
    """Sequential normalised-LMS / three-factor updates on readout weights ``w`` (outputs x features)."""
    if kernel not in ("numba", "numpy"):
        raise ConfigError(f"kernel must be 'numba' or 'numpy', got {kernel!r}")
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    targets = np.ascontiguousarray(targets, dtype=np.float64).reshape(rows.size, w.shape[0])
    eta = np.ascontiguousarray(np.broadcast_to(np.asarray(eta, dtype=np.float64), (rows.size,)))
    if rows.size and (rows.min() < 0 or rows.max() >= Z.shape[0]):
        raise ConfigError("lms_pass: a row index is outside the feature array")
    (_lms_pass_numba if kernel == "numba" else _lms_pass_numpy)(w, Z, rows, targets, eta, bool(use_error))
    return w


# -- trial bookkeeping -------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    pre_rows: int
    trial_rows: int
    tail_rows: int
    lead_rows: int
    pulse_rows: int
    sample_ms: float

    @classmethod
    def make(cls, task: Task, pre_ms: float, sample_ms: float, lead_ms: float, tail_ms: float = 0.0):
        def rows(ms, name):
            r = ms / sample_ms
            if abs(r - round(r)) > 1e-9:
                raise ConfigError(f"{name} ({ms} ms) must be a multiple of sample_ms ({sample_ms} ms)")
            return int(round(r))
        t = cls(rows(pre_ms, "pre_ms"), rows(task.trial_ms, "trial_ms"), rows(tail_ms, "tail_ms"),
                rows(lead_ms, "lead_ms"), rows(task.pulse_ms, "pulse_ms"), float(sample_ms))
        if t.lead_rows > t.pre_rows:
            raise ConfigError(f"lead_ms ({lead_ms}) must be <= the reservoir's pre_ms ({pre_ms}): x(t - lead) "
                              "must exist from the cue on")
        return t

    def when_target(self, latency_ms, length=None) -> np.ndarray:
        s = np.zeros(self.trial_rows if length is None else length)
        if latency_ms is not None:
            a = int(round(latency_ms / self.sample_ms))
            s[a:a + self.pulse_rows] = 1.0
        return s

    def window(self, latency_ms) -> np.ndarray:
        a = int(round(latency_ms / self.sample_ms))
        return np.arange(a, a + self.pulse_rows)


def centred_code(identity, identities) -> np.ndarray:
    K = len(identities)
    return np.array([(1.0 if k == identity else 0.0) - 1.0 / K for k in identities])


def sees_iti(cfg: LearnConfig) -> bool:
    """Whether the learner sees the inter-trial interval (the trajectories then need its tail)."""
    return cfg.gate in ("trace", "always")


def iti_tail_ms(cfg: LearnConfig) -> float:
    """The ITI a trajectory must carry past the trial for this learner (0 when it never sees it)."""
    return cfg.iti_ms if sees_iti(cfg) else 0.0


def gate_signal(cfg: LearnConfig, timing: Timing) -> np.ndarray:
    """A_when(t) over the trial and, when the learner sees it, the ITI (one value per learning step).

    "trace": a neuromodulatory trace opened by the cue and closed when the trial's outcome period
    ends (trial_ms, after every outcome window of the task): 1 until then, then decaying as
    exp(-(t - T) / gate_tau_ms) through the ITI, so that the learner, which sees every step, barely
    learns against the ITI's zero targets. "always" keeps it at 1 there (the ablation), "trial" is
    the old rule (the ITI unseen), "zero" switches learning off."""
    T = timing.trial_rows
    tail = timing.tail_rows if sees_iti(cfg) else 0
    g = np.zeros(T + tail)
    if cfg.gate == "zero":
        return g
    g[:T] = 1.0
    if cfg.gate == "always":
        g[T:] = 1.0
    elif cfg.gate == "trace":
        g[T:] = np.exp(-np.arange(1, tail + 1) * timing.sample_ms / cfg.gate_tau_ms)
    return g


@dataclass
class LearnResult:
    when_hist: np.ndarray      # (n_trials, D) w_when after each trial
    what_hist: np.ndarray      # (n_trials, K, D)
    when_avg: np.ndarray       # (n_blocks, D) averaged over the last trials of each block
    what_avg: np.ndarray       # (n_blocks, K, D)
    cfg: LearnConfig


def run_three_factor(task: Task, trials, Zs: dict, timing: Timing, cfg: LearnConfig, mean_sq_norm: float,
                     kernel: str = "numba", progress=None) -> LearnResult:
    """Train the "when" readout online (signed error x gate x delayed presynaptic eligibility) and
    the "what" readouts (offline replay of buffered event windows after each trial, or the
    ablations) over ``trials``; ``Zs[key]`` holds the z-scored features of each trajectory."""
    D = next(iter(Zs.values())).shape[1]
    K = len(task.identities)
    eta_when = cfg.alpha_when / mean_sq_norm
    eta_what = cfg.alpha_what / mean_sq_norm
    w_when = np.zeros((1, D))
    w_what = np.zeros((K, D))
    n = len(trials)
    when_hist = np.zeros((n, D), np.float32)
    what_hist = np.zeros((n, K, D), np.float32)
    P, T, Lr = timing.pre_rows, timing.trial_rows, timing.lead_rows
    gate = gate_signal(cfg, timing)
    tail = gate.size - T
    rows_trial = np.arange(P - Lr, P - Lr + T + tail)          # x(t - lead) for t in the trial (+ ITI)
    starts = tuple(min(b, n) for b in task.block_starts) + (n,)   # ``trials`` may be a prefix
    for tr in trials:
        Z = Zs[tr.key]
        if Z.shape[0] < rows_trial[-1] + 1:
            raise ConfigError(f"trajectory {tr.key} is too short for gate={cfg.gate!r} (need the ITI tail)")
        s = timing.when_target(tr.latency_ms, T + tail)
        targets = s[:, None]
        w_out = w_when
        online_what = cfg.what_mode == "online" or (cfg.what_mode != "none" and cfg.what_coding == "uncentred")
        if online_what:
            if cfg.what_coding == "uncentred":
                tw = np.zeros((T + tail, K))                    # time-locked s_k(t)
                if tr.identity is not None:
                    tw[:, task.identities.index(tr.identity)] = s
            else:                                               # centred code in the event window, 0 elsewhere
                tw = np.zeros((T + tail, K))
                if tr.identity is not None:
                    tw[s > 0] = centred_code(tr.identity, task.identities)
            # when and what use separate weights: one pass over [w_when; w_what] with per-output rates
            w_all = np.vstack([w_when, w_what])
            targets = np.hstack([targets, tw])
            _two_rate_pass(w_all, Z, rows_trial, targets, gate, eta_when, eta_what, cfg.use_error, kernel)
            w_when, w_what = w_all[:1], w_all[1:]
        else:
            lms_pass(w_out, Z, rows_trial, targets, eta_when * gate, cfg.use_error, kernel)
        if cfg.what_mode == "offline" and cfg.what_coding == "centred" and tr.identity is not None:
            # the buffer: (x(t - lead), o) over the event window, replayed after the trial (A_what = 1)
            win = timing.window(tr.latency_ms)
            o = np.tile(centred_code(tr.identity, task.identities), (win.size, 1))
            lms_pass(w_what, Z, P - Lr + win, o, eta_what, cfg.use_error, kernel)
        when_hist[tr.index] = w_when[0]
        what_hist[tr.index] = w_what
        if progress is not None:
            progress.update(1)
    nb = len(task.block_trials)
    when_avg = np.zeros((nb, D))
    what_avg = np.zeros((nb, K, D))
    for b in range(nb):
        a = max(starts[b], starts[b + 1] - cfg.weight_avg_trials)
        if a < starts[b + 1]:
            when_avg[b] = when_hist[a:starts[b + 1]].mean(axis=0)
            what_avg[b] = what_hist[a:starts[b + 1]].mean(axis=0)
        else:                        # a block not reached: nan, so nobody mistakes it for learned weights
            when_avg[b] = np.nan
            what_avg[b] = np.nan
    return LearnResult(when_hist, what_hist, when_avg, what_avg, cfg)


def _two_rate_pass(w_all, Z, rows, targets, gate, eta_when, eta_what, use_error, kernel):
    # the kernel takes one rate per step; run "when" and "what" rows as two passes (independent weights)
    lms_pass(w_all[:1], Z, rows, targets[:, :1], eta_when * gate, use_error, kernel)
    sub = w_all[1:]
    lms_pass(sub, Z, rows, targets[:, 1:], eta_what * gate, use_error, kernel)
    w_all[1:] = sub


# -- RLS / FORCE ---------------------------------------------------------------------------------
class RLS:
    """Sequential recursive least squares as in FORCE (Nicola & Clopath 2017), with the gain
    normalised:

        e = phi^T r - target;  c = P r;  k = c / (lambda + r^T c)
        phi -= k e^T;          P = (P - k c^T) / lambda;      P(0) = p0 I

    ``lambda`` is ``forgetting`` (1: ordinary RLS; < 1: exponentially weighted). The step on phi
    uses the normalised gain k, not c: updating phi by c e^T (the un-normalised form) overshoots
    and diverges for large p0."""

    def __init__(self, n_features: int, n_outputs: int = 1, p0: float = 1.0, forgetting: float = 1.0):
        if p0 <= 0:
            raise ConfigError(f"RLS.p0 must be > 0, got {p0}")
        self.p0 = float(p0)
        self.forgetting = float(forgetting)
        self.P = np.eye(n_features) * p0
        self.phi = np.zeros((n_features, n_outputs))

    def reset_P(self):
        self.P = np.eye(self.P.shape[0]) * self.p0

    def update(self, r, target):
        r = np.asarray(r, dtype=np.float64)
        lam = self.forgetting
        e = self.phi.T @ r - np.atleast_1d(target)
        c = self.P @ r
        k = c / (lam + r @ c)
        self.phi -= np.outer(k, e)
        self.P = (self.P - np.outer(k, c)) / lam


def ridge_solution(G, b, p0, phi0=None):
    """argmin_phi sum |phi^T r - s|^2 + |phi - phi0|^2 / p0 from G = sum r r^T, b = sum r s^T: what RLS
    with P(0) = p0 I started at phi0 reaches after those updates (forgetting 1)."""
    A = G + np.eye(G.shape[0]) / p0
    rhs = b if phi0 is None else b - G @ phi0
    sol = cho_solve(cho_factor(A), rhs)
    return sol if phi0 is None else phi0 + sol


class ForceLearner:
    """Readout-only FORCE on the same features and delayed targets as the three-factor readout.

    Because a trajectory depends only on its key, RLS after any sequence of trials equals the ridge
    solution on the summed per-key statistics G_key = sum r r^T, b_key = sum r s over the update
    times (exact in exact arithmetic; `tests/test_reservoir_learning.py` checks it against the
    sequential `RLS`).  A reset of P at the switch restarts the ridge problem around the weights
    at the switch (``phi0``).  "When": every ``update_every`` rows of the trial; "what": the
    event-window samples with the centred identity code, its own P."""

    def __init__(self, task: Task, Zs: dict, timing: Timing, cfg: ForceConfig, mean_sq_norm: float):
        self.task, self.timing, self.cfg = task, timing, cfg
        self.D = next(iter(Zs.values())).shape[1]
        self.p0 = cfg.p0_scale * (self.D - 1) / mean_sq_norm
        step = max(1, int(round(cfg.update_every_ms / timing.sample_ms)))
        P, T, Lr = timing.pre_rows, timing.trial_rows, timing.lead_rows
        t_upd = np.arange(step - 1, T, step)
        self.G, self.b, self.Gw, self.bw = {}, {}, {}, {}
        for key, Z in Zs.items():
            cue, L, ident = key
            X = Z[P - Lr + t_upd]
            s = timing.when_target(L)[t_upd]
            self.G[key] = X.T @ X
            self.b[key] = X.T @ s[:, None]
            if ident is not None:
                win = timing.window(L)
                win = win[(win + 1) % step == 0] if step > 1 else win
                Xw = Z[P - Lr + win]
                o = np.tile(centred_code(ident, task.identities), (win.size, 1))
                self.Gw[key] = Xw.T @ Xw
                self.bw[key] = Xw.T @ o

    def _stats(self, counts, which="when"):
        Gs, bs = (self.G, self.b) if which == "when" else (self.Gw, self.bw)
        if not hasattr(self, "_stacked"):
            self._stacked = {}
        if which not in self._stacked:
            keys = list(Gs)
            self._stacked[which] = (keys, np.stack([Gs[k] for k in keys]), np.stack([bs[k] for k in keys]))
        keys, Gst, bst = self._stacked[which]
        c = np.array([float(counts.get(k, 0)) for k in keys])
        return np.tensordot(c, Gst, axes=1), np.tensordot(c, bst, axes=1)

    def solve(self, trials, upto: int, reset_at=None, which=("when", "what")):
        """Weights (when (D,) or None, what (K, D) or None) after trials[:upto]; with ``reset_at`` (a
        trial index), P is reset to P(0) there and the weights continue from their value at that
        trial.  ``which`` selects the readouts to solve for."""
        def counts(a, b):
            c = {}
            for tr in trials[a:b]:
                c[tr.key] = c.get(tr.key, 0) + 1
            return c
        if reset_at is None or upto <= reset_at:
            c = counts(0, upto)
            base = {"when": None, "what": None}
            lo = 0
        else:
            bkey = (id(trials), reset_at, tuple(which))
            if getattr(self, "_base_key", None) != bkey:
                self._base = self.solve(trials, reset_at, None, which)
                self._base_key = bkey
            c = counts(reset_at, upto)
            base = {"when": None if self._base[0] is None else self._base[0][:, None],
                    "what": None if self._base[1] is None else self._base[1].T}
        out = []
        for name in ("when", "what"):
            if name not in which:
                out.append(None)
                continue
            G, b = self._stats(c, name)
            sol = ridge_solution(G, b, self.p0, base[name])
            out.append(sol[:, 0] if name == "when" else sol.T)
        return tuple(out)
