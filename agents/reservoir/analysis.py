"""Evaluation on omission probes, what/when geometry, timing-basis decoding, switch recovery."""
from __future__ import annotations

import numpy as np

from .learning import Timing


def aligned_output(w, Z, timing: Timing) -> np.ndarray:
    """y(t) = w . x(t - lead) for trial times t = 0 .. trial_rows-1 (the output aligned to the time it
    predicts).  ``w``: (D,) or (M, D) -> (T,) or (T, M)."""
    P, T, Lr = timing.pre_rows, timing.trial_rows, timing.lead_rows
    X = Z[P - Lr:P - Lr + T]
    return X @ np.asarray(w).T


def window_mean_vector(Z, timing: Timing, latency_ms) -> np.ndarray:
    """Mean of x(t - lead) over [L, L + pulse): the readout's window amplitude is w . this vector."""
    P, Lr = timing.pre_rows, timing.lead_rows
    return Z[P - Lr + timing.window(latency_ms)].mean(axis=0)


def peak_time_ms(y, timing: Timing) -> float:
    return float(np.argmax(y) * timing.sample_ms)


def silence(y, timing: Timing, latencies_ms) -> float:
    """Mean |y| outside the union of [L - 50, L + 100] ms (the spec's window) over the trial."""
    t = np.arange(y.size) * timing.sample_ms
    keep = np.ones(y.size, bool)
    for L in latencies_ms:
        keep &= ~((t >= L - 50.0) & (t <= L + 100.0))
    return float(np.abs(y[keep]).mean()) if keep.any() else 0.0


def cosine(a, b) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0
    return float(a @ b / (na * nb))


def principal_cosines(A, B) -> np.ndarray:
    """Cosines of the principal angles between span(rows of A) and span(rows of B), largest first."""
    A = np.atleast_2d(A)
    B = np.atleast_2d(B)
    qa, _ = np.linalg.qr(A.T)
    qb, _ = np.linalg.qr(B.T)
    return np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), 0.0, 1.0)


def what_when_geometry(w_when, w_what) -> dict:
    """Cosines between w_when and each w_k and the largest principal-angle cosine between span{w_when}
    and span{w_k}, on the neuron weights (the bias weight, last entry, excluded)."""
    ww = np.asarray(w_when)[:-1]
    wk = np.asarray(w_what)[:, :-1]
    cos = [cosine(ww, w) for w in wk]
    pa = principal_cosines(ww[None], wk) if np.linalg.norm(ww) > 0 and np.linalg.norm(wk) > 0 else np.zeros(1)
    return {"cos": cos, "max_abs_cos": float(np.max(np.abs(cos))), "principal_cos": float(pa[0]),
            "chance_band": float(2.0 / np.sqrt(ww.size))}


def pearson_fit(x, y) -> dict:
    x, y = np.asarray(x, float), np.asarray(y, float)
    r = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else 0.0
    slope, icpt = np.polyfit(x, y, 1)
    return {"r": r, "slope": float(slope), "intercept": float(icpt)}


def bumps(timing: Timing, centres_ms=(300.0, 600.0, 900.0), sigma_ms=40.0) -> np.ndarray:
    """Gaussian bumps of elapsed time since the cue, one column per centre: (trial_rows, len(centres))."""
    t = np.arange(timing.trial_rows) * timing.sample_ms
    return np.stack([np.exp(-0.5 * ((t - c) / sigma_ms) ** 2) for c in centres_ms], axis=1)


def bump_decoding(Z, timing: Timing, centres_ms=(300.0, 600.0, 900.0), sigma_ms=40.0, ridge=1.0,
                  chunk_ms=10.0) -> dict:
    """Check 1: ridge decoding of Gaussian bumps from a cue-only trajectory.  Time is cut into
    ``chunk_ms`` chunks, alternately train / held out; returns held-out R^2 (all bumps together) and
    the peak error of each bump on the held-out-inclusive prediction."""
    P, T = timing.pre_rows, timing.trial_rows
    X = Z[P:P + T]
    t = np.arange(T) * timing.sample_ms
    Y = bumps(timing, centres_ms, sigma_ms)
    chunk = (t // chunk_ms).astype(int)
    train = chunk % 2 == 0
    test = ~train
    Xt = X[train]
    W = np.linalg.solve(Xt.T @ Xt + ridge * np.eye(X.shape[1]), Xt.T @ Y[train])
    pred = X @ W
    resid = ((pred[test] - Y[test]) ** 2).sum()
    tot = ((Y[test] - Y[test].mean(axis=0)) ** 2).sum()
    r2 = float(1.0 - resid / tot)
    # peak error: held-out predictions only can miss the peak sample, so use the full prediction
    errs = [float(abs(t[np.argmax(pred[:, i])] - c)) for i, c in enumerate(centres_ms)]
    return {"r2_heldout": r2, "peak_error_ms": errs}


def trial_decoding(train, test, timing: Timing, centres_ms=(300.0, 600.0, 900.0), sigma_ms=40.0, ridge=1.0,
                   shuffle_rng=None) -> dict:
    """Check 1 across trials: ridge-decode the bumps of elapsed time since the cue from the features
    of the ``train`` trials (each a (rows, D) feature array of one noisy trial, the cue at
    ``timing.pre_rows``) and score it on the ``test`` trials, which the decoder never saw (their
    own noise). Returns the held-out R^2 (all bumps together) and each bump's peak error on the
    mean held-out prediction.

    With ``shuffle_rng`` the training targets are the bumps with time shuffled, one permutation per
    trial (the shuffled-time control: a decoder that learns no time must fail on intact trials)."""
    P, T = timing.pre_rows, timing.trial_rows
    Y = bumps(timing, centres_ms, sigma_ms)
    Xs = [np.asarray(z, np.float64)[P:P + T] for z in train]
    Ys = [Y[shuffle_rng.permutation(T)] if shuffle_rng is not None else Y for _ in Xs]
    X, Yt = np.concatenate(Xs), np.concatenate(Ys)
    W = np.linalg.solve(X.T @ X + ridge * np.eye(X.shape[1]), X.T @ Yt)
    preds = [np.asarray(z, np.float64)[P:P + T] @ W for z in test]
    resid = sum(((p - Y) ** 2).sum() for p in preds)
    tot = len(preds) * ((Y - Y.mean(axis=0)) ** 2).sum()
    mean_pred = np.mean(preds, axis=0)
    t = np.arange(T) * timing.sample_ms
    errs = [float(abs(t[np.argmax(mean_pred[:, i])] - c)) for i, c in enumerate(centres_ms)]
    return {"r2_heldout": float(1.0 - resid / tot), "peak_error_ms": errs, "train_trials": len(Xs),
            "test_trials": len(preds)}


def recovery_fraction(old, new, target) -> float:
    """(new - old) / (target - old)."""
    d = target - old
    if abs(d) < 1e-12:
        return float("nan")
    return float((new - old) / d)


def first_cue_trial(values, predicate):
    """1-based index of the first value satisfying ``predicate`` (None if never)."""
    for i, v in enumerate(values):
        if predicate(v):
            return i + 1
    return None
