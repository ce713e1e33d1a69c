"""Encoders: input checks, hashing embedder, projections, population codes, spikes,
metrics, the evaluation set and sims.retention on the hashing embedder (fast, no torch)."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from encoders.base import EncoderInputError, check_embeddings, check_texts
from encoders.evalset import DEFAULT_EVAL_SET, load_eval_set
from encoders.hashing import HashingEmbedder
from encoders.metrics import discrimination, nearest_centroid_accuracy, retention
from encoders.population import (PopulationCodeParams, PowerLawCode, ZScoreTopKCode, load_code,
                                 make_directions, zscore_topk_rates)
from encoders.projection import STANDARD_DIMS, OrthogonalProjection, project
from encoders.spikes import (PresentationSchedule, SpikeEvents, check_events, poisson_train, present,
                             present_patterns, regular_train, spike_counts)

DIMS = STANDARD_DIMS  # 384, 768, 1024, 1536, 4096


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# -- import weight ------------------------------------------------------------------------

def test_import_encoders_does_not_import_torch():
    code = ("import sys, encoders, encoders.base, encoders.hashing, encoders.projection, encoders.population, "
            "encoders.spikes, encoders.st, encoders.metrics, encoders.evalset, encoders.pipeline, sims.retention; "
            "bad = [m for m in ('torch', 'sentence_transformers', 'transformers', 'spiking') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


# -- text checks and the hashing embedder --------------------------------------------------

def test_check_texts_accepts_str_bytes_and_sequences():
    assert check_texts("hello") == ["hello"]
    assert check_texts(["a b", "caf\u00e9".encode("utf-8")]) == ["a b", "caf\u00e9"]
    assert check_texts(np.array(["x", "y"])) == ["x", "y"]


@pytest.mark.parametrize("bad, msg", [
    ("", "empty or whitespace"),
    ("   \n\t", "empty or whitespace"),
    (b"\xff\xfeabc", "not valid UTF-8"),
    (["fine", b"ok \xc3"], "text #1 is bytes that are not valid UTF-8"),
    ([], "no texts"),
    (42, "expected str|not int"),
    ([None], "text #0 has type NoneType"),
])
def test_check_texts_rejects_bad_text(bad, msg):
    with pytest.raises(EncoderInputError, match=msg):
        check_texts(bad)


def test_hashing_embedder_deterministic_unit_and_semantic_enough():
    emb = HashingEmbedder(384, seed=3)
    a = emb.embed(["The cat is asleep on the sofa.", "The cat is sleeping on the sofa.", "Stocks fell sharply today."])
    assert a.shape == (3, 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(a, HashingEmbedder(384, seed=3).embed(["The cat is asleep on the sofa.",
                                                                         "The cat is sleeping on the sofa.",
                                                                         "Stocks fell sharply today."]))
    assert a[0] @ a[1] > 0.5 > abs(a[0] @ a[2])
    assert not np.array_equal(a, HashingEmbedder(384, seed=4).embed(["The cat is asleep on the sofa.",
                                                                     "The cat is sleeping on the sofa.",
                                                                     "Stocks fell sharply today."]))
    # bytes in UTF-8 give the same vector as the str
    np.testing.assert_array_equal(emb.embed("caf\u00e9 au lait"), emb.embed("caf\u00e9 au lait".encode("utf-8")))


def test_hashing_embedder_bad_input():
    emb = HashingEmbedder(64)
    for bad in ("", "  ", b"\x80abc", [], ["ok", ""]):
        with pytest.raises(EncoderInputError):
            emb.embed(bad)
    with pytest.raises(EncoderInputError, match="no words or digits"):
        emb.embed("?!... ---")
    with pytest.raises(EncoderInputError, match="dim"):
        HashingEmbedder(4)


# -- embedding checks ----------------------------------------------------------------------

@pytest.mark.parametrize("bad, msg", [
    (np.array([1.0, np.nan, 2.0]), "NaN in row\\(s\\) 0"),
    (np.array([[1.0, 2.0, 3.0], [1.0, np.inf, 0.0]]), "inf in row\\(s\\) 1"),
    (np.zeros(3), "all zeros in row\\(s\\) 0"),
    (np.array([[1.0, 0, 0], [0, 0, 0], [0, 0, 0]]), "all zeros in row\\(s\\) 1, 2"),
    (np.ones((2, 2, 3)), "vector \\(D,\\) or a batch \\(n, D\\)"),
    (np.array(["a", "b"]), "must be numeric"),
    (np.array([1 + 2j, 3]), "real-valued"),
    ([[1.0, 2.0], [3.0]], "could not be read"),
    (np.ones(5), "dimension 5, but this encoder was built for D = 3"),
    (np.ones((1, 0)), "dimension 0"),
])
def test_check_embeddings_rejects(bad, msg):
    with pytest.raises(EncoderInputError, match=msg):
        check_embeddings(bad, 3 if msg.startswith("dimension 5") else None)


# -- projections ---------------------------------------------------------------------------

@pytest.mark.parametrize("d_out", DIMS)
def test_orthogonal_lift_keeps_cosines_exactly(rng, d_out):
    x = rng.standard_normal((12, 384))
    y = project(x, d_out, seed=0)  # seed 0: the matrices the other tests (and sims.retention) reuse
    assert y.shape == (12, d_out) and y.dtype == np.float32
    cx, cy = _unit(x) @ _unit(x).T, _unit(y) @ _unit(y).T
    np.testing.assert_allclose(cy, cx, atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1), rtol=1e-5)
    np.testing.assert_array_equal(y, project(x, d_out, seed=0))
    if d_out in (768, 1024):
        assert not np.allclose(y, project(x, d_out, seed=1))


def test_projection_lowering_and_errors(rng):
    p = OrthogonalProjection(1024, 384, seed=0)
    assert not p.is_isometry
    np.testing.assert_allclose(p.matrix @ p.matrix.T, np.eye(384), atol=1e-10)
    assert p(rng.standard_normal(1024)).shape == (384,)
    with pytest.raises(EncoderInputError, match="dimension 300, but this encoder was built for D = 1024"):
        p(rng.standard_normal(300))
    with pytest.raises(EncoderInputError, match="NaN"):
        p(np.full(1024, np.nan))
    with pytest.raises(EncoderInputError, match="d_out"):
        OrthogonalProjection(384, 0)


# -- the z-score top-k code (AC2) ----------------------------------------------------------

def _adversarial_inputs(rng, code):
    d = code.dim
    p = code.directions.astype(np.float64)
    onehot = np.zeros(d); onehot[d // 2] = 1.0
    return np.stack([
        *rng.standard_normal((6, d)),
        rng.standard_normal(d) * 1e-300,       # tiny
        rng.standard_normal(d) * 1e300,        # huge (the norm would overflow)
        np.ones(d), -np.ones(d), onehot,
        p[0], -p[1], p[:700].sum(axis=0), p[:4300].sum(axis=0),   # aligned with the directions
        np.abs(rng.standard_normal(d)),        # one orthant
        rng.standard_cauchy(d),                # heavy-tailed entries
    ])


@pytest.mark.parametrize("directions", ["gaussian", "hadamard"])
@pytest.mark.parametrize("dim", DIMS)
def test_zscore_code_invariants_every_dim(rng, dim, directions):
    code = ZScoreTopKCode(dim, PopulationCodeParams(directions=directions))
    assert code.k == 700 and code.n_neurons == 5000
    x = _adversarial_inputs(rng, code)
    rates = code.encode(x)
    assert rates.shape == (x.shape[0], 5000) and rates.dtype == np.float64
    np.testing.assert_array_equal((rates > 0).sum(axis=1), 700)
    assert rates.min() >= 0.0 and rates.max() <= 100.0
    np.testing.assert_array_equal(rates.max(axis=1), 100.0)  # exactly r_max
    # the same input and seed give bit-identical output, batch or one at a time
    np.testing.assert_array_equal(rates, ZScoreTopKCode(dim, PopulationCodeParams(seed=0, directions=directions)
                                                        ).encode(x))
    single = code.encode(x[0])
    assert single.shape == (5000,)
    np.testing.assert_array_equal(single, code.encode(x[0]))
    np.testing.assert_allclose(single, rates[0], atol=1e-6 * 100)
    # the code does not depend on the input's scale
    np.testing.assert_array_equal(code.encode(x[0] * 7.0), single)
    # the selected neurons are the k largest cosines
    c = code.cosines(x[0])
    assert c[single > 0].min() >= c[single == 0].max()


def test_zscore_code_seed_and_params(rng):
    x = rng.standard_normal(768)
    a = ZScoreTopKCode(768, PopulationCodeParams(seed=1)).encode(x)
    b = ZScoreTopKCode(768, PopulationCodeParams(seed=2)).encode(x)
    assert not np.array_equal(a > 0, b > 0)
    small = ZScoreTopKCode(768, PopulationCodeParams(n_neurons=1000, sparsity=0.05, r_max_hz=40.0)).encode(x)
    assert (small > 0).sum() == 50 and small.max() == 40.0
    assert PopulationCodeParams(n_neurons=100, sparsity=0.29).k == 29  # 0.29 * 100 = 28.999999999999996
    assert PopulationCodeParams(n_neurons=50, sparsity=0.14).k == 7
    assert PopulationCodeParams(n_neurons=5000).k == 700 == math.floor(0.14 * 5000)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(n_neurons=1), "n_neurons"), (dict(sparsity=0.0), "sparsity"), (dict(sparsity=1.5), "sparsity"),
    (dict(r_max_hz=-1.0), "r_max_hz"), (dict(r_max_hz=float("inf")), "r_max_hz"), (dict(seed=-1), "seed"),
    (dict(n_neurons=5, sparsity=0.1), "no neuron would be active"),
])
def test_population_params_validated(kwargs, msg):
    with pytest.raises(EncoderInputError, match=msg):
        PopulationCodeParams(**kwargs)


def test_zscore_code_bad_input(rng):
    code = ZScoreTopKCode(384)
    with pytest.raises(EncoderInputError, match="dimension 768, but this encoder was built for D = 384"):
        code.encode(rng.standard_normal(768))
    for bad, msg in ((np.full(384, np.nan), "NaN"), (np.r_[np.inf, np.ones(383)], "inf"),
                     (np.zeros(384), "all zeros"), (np.zeros((2, 384)), "row\\(s\\) 0, 1")):
        with pytest.raises(EncoderInputError, match=msg):
            code.encode(bad)
    assert code.encode(np.zeros((0, 384)) + 1).shape == (0, 5000)
    with pytest.raises(EncoderInputError, match="could not be read"):
        code.encode([[1.0, 2.0], [3.0]])
    with pytest.raises(EncoderInputError, match="same cosine"):
        zscore_topk_rates(np.ones(10), 3, 100.0)


def test_code_save_load_roundtrip(tmp_path, rng):
    x = rng.standard_normal((5, 1024))
    code = ZScoreTopKCode(1024, PopulationCodeParams(seed=9))
    path = code.save(tmp_path / "z1024")
    assert path.suffix == ".npz"
    again = load_code(path)
    assert isinstance(again, ZScoreTopKCode) and again.dim == 1024 and again.params == code.params
    np.testing.assert_array_equal(again.directions, code.directions)
    np.testing.assert_array_equal(again.encode(x), code.encode(x))
    pl = PowerLawCode(1024, exponent=3.0)
    pl2 = load_code(pl.save(tmp_path / "p.npz"))
    assert isinstance(pl2, PowerLawCode) and pl2.exponent == 3.0
    np.testing.assert_array_equal(pl2.encode(x), pl.encode(x))
    # no pickle: a file with an object array is refused
    bad = tmp_path / "evil.npz"
    np.savez(bad, format=np.array([{"a": 1}], dtype=object))
    with pytest.raises(EncoderInputError, match="not a readable"):
        load_code(bad)
    np.savez(tmp_path / "other.npz", format=np.asarray("something-else"))
    with pytest.raises(EncoderInputError, match="not a population-code file"):
        load_code(tmp_path / "other.npz")


@pytest.mark.parametrize("dim", [384, 1024, 1536])
def test_hadamard_directions_are_random_unit_directions(rng, dim):
    from encoders.population import HadamardDirections

    code = ZScoreTopKCode(dim, PopulationCodeParams(directions="hadamard"))
    hd = code._dirs
    assert isinstance(hd, HadamardDirections) and hd.signs.dtype == np.int8
    m = code.directions.astype(np.float64)  # the dense equivalent, built on request
    assert m.shape == (5000, dim)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-6)
    x = rng.standard_normal((4, dim))
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(code.cosines(x), u @ m.T, atol=1e-6)  # the fast transform is the matrix
    assert hd.blocks >= 3 and hd.rows * hd.blocks >= 5000
    if dim == hd.padded:  # rows of one block are exactly orthogonal
        g = m[:hd.rows] @ m[:hd.rows].T
        np.testing.assert_allclose(g, np.eye(hd.rows), atol=1e-5)
    # like i.i.d. random directions: cosines to an input have mean ~0 and sd ~1/sqrt(D), and
    # the mean |cosine| between two directions is that of random pairs, sqrt(2 / (pi D))
    c = code.cosines(x)
    assert abs(c.mean()) < 3 / np.sqrt(dim * 5000) * 2 and abs(c.std() * np.sqrt(dim) - 1) < 0.05
    pairs = np.abs((m[:1000] * m[hd.rows:hd.rows + 1000]).sum(axis=1)).mean()  # rows of two blocks
    assert abs(pairs / np.sqrt(2 / (np.pi * dim)) - 1) < 0.15
    # the similarity transfer of the code matches the Gaussian-direction code's
    gauss = ZScoreTopKCode(dim)
    a = rng.standard_normal((40, dim))
    b = rng.standard_normal((40, dim))
    for rho in (0.0, 0.5, 0.9):
        y = rho * a / np.linalg.norm(a, axis=1, keepdims=True) + np.sqrt(1 - rho**2) * (
            b - (b * a).sum(1, keepdims=True) * a / (a * a).sum(1, keepdims=True)) / np.linalg.norm(
            b - (b * a).sum(1, keepdims=True) * a / (a * a).sum(1, keepdims=True), axis=1, keepdims=True)

        def f(code):
            ra, ry = code.encode(a), code.encode(y)
            return ((ra * ry).sum(1) / np.linalg.norm(ra, axis=1) / np.linalg.norm(ry, axis=1)).mean()
        assert abs(f(code) - f(gauss)) < 0.02


def test_hadamard_code_save_load_and_bad_signs(tmp_path, rng):
    from encoders.population import HadamardDirections

    code = ZScoreTopKCode(4096, PopulationCodeParams(seed=3, directions="hadamard"))
    path = code.save(tmp_path / "h4096.npz")
    assert path.stat().st_size < 100_000  # the signs only, not an 82 MB matrix
    again = load_code(path)
    assert again.params == code.params and again.params.directions == "hadamard"
    x = rng.standard_normal((3, 4096))
    np.testing.assert_array_equal(again.encode(x), code.encode(x))
    assert not np.array_equal(code.encode(x) > 0,
                              ZScoreTopKCode(4096, PopulationCodeParams(seed=4, directions="hadamard")).encode(x) > 0)
    with pytest.raises(EncoderInputError, match="signs must be"):
        HadamardDirections(384, 5000, np.ones((3, 2, 512), dtype=np.int8))
    with pytest.raises(EncoderInputError, match="signs must be"):
        HadamardDirections(384, 5000, np.zeros((3, 10, 512), dtype=np.int8))
    with pytest.raises(EncoderInputError, match="directions must be one of"):
        PopulationCodeParams(directions="sobol")
    with pytest.raises(EncoderInputError, match="hadamard code takes"):
        ZScoreTopKCode(384, PopulationCodeParams(directions="hadamard"), directions=make_directions(384))


def test_directions_are_cached_unit_and_read_only():
    d = make_directions(384)
    assert d is make_directions(384) and d.dtype == np.float32 and d.shape == (5000, 384)
    np.testing.assert_allclose(np.linalg.norm(d.astype(np.float64), axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError):
        d[0, 0] = 1.0


def test_powerlaw_mean_rate_drifts_with_dim_zscore_does_not(rng):
    x = rng.standard_normal((20, 384))
    pl, zs = {}, {}
    for d in (384, 1024, 4096):
        y = project(x, d)
        pl[d] = PowerLawCode(d).encode(y).mean()
        zs[d] = ZScoreTopKCode(d).encode(y).mean()
    assert pl[384] > 2.5 * pl[1024] > 2.5 * 2.5 * pl[4096]  # ~1/D
    assert max(zs.values()) / min(zs.values()) < 1.05


# -- spikes ---------------------------------------------------------------------------------

def _rates(n=50, seed=0):
    r = np.zeros(n)
    g = np.random.default_rng(seed)
    on = g.choice(n, n // 3, replace=False)
    r[on] = g.uniform(5, 200, on.size)
    return r


def _assert_events_well_formed(ev, n_neurons, n_steps=None):
    s, i = ev
    assert isinstance(ev, SpikeEvents)
    assert s.dtype == np.int64 and i.dtype == np.int32 and s.shape == i.shape
    assert np.all(np.diff(s) >= 0)
    same = np.diff(s) == 0
    assert np.all(np.diff(i)[same] > 0)  # ascending, no duplicate within a step
    if s.size:
        assert i.min() >= 0 and i.max() < n_neurons and s.min() >= 0
        if n_steps is not None:
            assert s.max() < n_steps


def test_poisson_train_statistics_and_determinism():
    r = _rates(60)
    ev = poisson_train(r, 20_000, dt_ms=1.0, seed=5)
    _assert_events_well_formed(ev, 60, 20_000)
    counts = spike_counts(ev, 60)
    assert counts[r == 0].sum() == 0
    expected = r * 20.0  # 20 s
    on = r > 0
    z = (counts[on] - expected[on]) / np.sqrt(expected[on] * (1 - r[on] / 1000))
    assert np.abs(z).max() < 5 and abs(z.mean()) < 1.0
    again = poisson_train(r, 20_000, dt_ms=1.0, seed=5)
    np.testing.assert_array_equal(ev.steps, again.steps)
    np.testing.assert_array_equal(ev.indices, again.indices)
    assert not np.array_equal(spike_counts(poisson_train(r, 20_000, seed=6), 60), counts)
    # dt = 0.1 ms: same rate, ten times the steps
    fine = poisson_train(np.full(3, 50.0), 100_000, dt_ms=0.1, seed=1)
    assert abs(spike_counts(fine, 3).mean() - 500) < 5 * math.sqrt(500)


def test_regular_train_exact_counts_and_intervals():
    r = np.array([0.0, 10.0, 100.0, 250.0, 1000.0])
    ev = regular_train(r, 1000, dt_ms=1.0, seed=None)
    _assert_events_well_formed(ev, 5, 1000)
    np.testing.assert_array_equal(spike_counts(ev, 5), [0, 10, 100, 250, 1000])
    isi = np.diff(ev.steps[ev.indices == 2])
    np.testing.assert_array_equal(isi, 10)
    ph = regular_train(r, 1000, seed=3)
    c = spike_counts(ph, 5)
    assert np.all(np.abs(c - r) <= 1)
    assert ph.steps[ph.indices == 1][0] != 0 or ph.steps[ph.indices == 2][0] != 0  # phases drawn


@pytest.mark.parametrize("kind", ["poisson", "regular"])
def test_present_patterns_windows_gaps_and_independence(kind):
    sched = PresentationSchedule()  # 100 ms window, 50 ms gap, dt 1 ms
    assert (sched.window_steps, sched.gap_steps, sched.period_steps) == (100, 50, 150)
    pats = np.stack([_rates(80, 1), _rates(80, 2), _rates(80, 3)])
    ev = present_patterns(pats, sched, seed=11, kind=kind, start_step=7)
    _assert_events_well_formed(ev, 80)
    for j in range(3):
        a, b = sched.window_of(j)
        a, b = a + 7, b + 7
        inside = (ev.steps >= a) & (ev.steps < b)
        assert set(np.unique(ev.indices[inside])) <= set(np.flatnonzero(pats[j] > 0))
        gap = (ev.steps >= b) & (ev.steps < b + sched.gap_steps)
        assert not gap.any()
    assert ev.steps.min() >= 7 and ev.steps.max() < 7 + 3 * 150 - 50
    # changing pattern 0 leaves pattern 1's spikes unchanged
    pats2 = pats.copy()
    pats2[0] = _rates(80, 9)
    ev2 = present_patterns(pats2, sched, seed=11, kind=kind, start_step=7)
    w1 = lambda e: (e.steps[(e.steps >= 157) & (e.steps < 257)], e.indices[(e.steps >= 157) & (e.steps < 257)])
    for x, y in zip(w1(ev), w1(ev2)):
        np.testing.assert_array_equal(x, y)
    if kind == "regular":  # rate * 100 ms spikes, give or take one for the phase
        assert np.all(np.abs(spike_counts(ev, 80, (7, 107)) - pats[0] * 0.1) <= 1)


def test_present_patterns_from_the_code_end_to_end(rng):
    code = ZScoreTopKCode(384)
    rates = code.encode(rng.standard_normal((2, 384)))
    ev = present_patterns(rates, seed=0, kind="regular")
    _assert_events_well_formed(ev, 5000, 300)
    spiking = set(np.unique(ev.indices[ev.steps < 100]).tolist())
    # >= 10 Hz means a period <= 100 ms, so at least one spike in the window whatever the phase
    assert set(np.flatnonzero(rates[0] >= 10.0).tolist()) <= spiking <= set(np.flatnonzero(rates[0] > 0).tolist())
    c0 = spike_counts(ev, 5000, (0, 100))
    assert c0.max() == 10 and c0[rates[0] == 0].sum() == 0  # r_max = 100 Hz for 100 ms


@pytest.mark.parametrize("call, msg", [
    (lambda: poisson_train(np.array([1.0, -2.0]), 10), "negative at neuron\\(s\\) \\[1\\]"),
    (lambda: poisson_train(np.array([1.0, np.nan]), 10), "NaN or inf at neuron\\(s\\) \\[1\\]"),
    (lambda: poisson_train(np.array([2000.0]), 10), "exceeds 1000 / dt"),
    (lambda: poisson_train(np.array([200.0]), 10, dt_ms=10.0), "exceeds 1000 / dt = 100"),
    (lambda: poisson_train(np.ones((2, 2)), 10), "1-D array"),
    (lambda: poisson_train(np.array(["a"]), 10), "real numbers"),
    (lambda: poisson_train(np.ones(3), -1), "n_steps"),
    (lambda: poisson_train(np.ones(3), 10, dt_ms=0), "dt_ms"),
    (lambda: poisson_train(np.ones(3), 10, seed=-3), "seed"),
    (lambda: regular_train(np.ones(3), 10, dt_ms=float("nan")), "dt_ms"),
    (lambda: PresentationSchedule(window_ms=100.5), "not a whole number of steps"),
    (lambda: PresentationSchedule(gap_ms=-1), "gap_ms"),
    (lambda: present_patterns(np.ones((2, 3)), kind="burst"), "kind"),
    (lambda: present_patterns(np.ones((2, 3, 4))), "n_patterns, n_neurons"),
    (lambda: present_patterns([[1.0, 2.0], [3.0]]), "could not be read"),
    (lambda: present_patterns(np.array([["a", "b"]])), "could not be read"),
    (lambda: check_events([[1, 2], [3]], [0, 1]), "could not be read"),
    (lambda: check_events(np.array([3, 1]), np.array([0, 0])), "sorted"),
    (lambda: check_events(np.array([1, 2]), np.array([0])), "equal length"),
    (lambda: check_events(np.array([1.0]), np.array([0])), "integers"),
    (lambda: check_events(np.array([1]), np.array([5]), n_neurons=5), "\\[0, 5\\)"),
])
def test_spike_bad_input(call, msg):
    with pytest.raises(EncoderInputError, match=msg):
        call()


class _FakeSim:
    def __init__(self, t=0):
        self.t = t
        self.calls = []

    def inject_spikes(self, population_name, neuron_indices, at_step=None):
        self.calls.append((population_name, np.array(neuron_indices), at_step))


def test_present_calls_inject_spikes_per_step():
    ev = SpikeEvents(np.array([0, 0, 3, 3, 3, 9], dtype=np.int64), np.array([1, 4, 0, 2, 7, 5], dtype=np.int32))
    sim = _FakeSim(t=20)
    assert present(sim, "sensory", *ev) == 3
    assert [c[2] for c in sim.calls] == [20, 23, 29]
    assert [c[1].tolist() for c in sim.calls] == [[1, 4], [0, 2, 7], [5]]
    assert {c[0] for c in sim.calls} == {"sensory"}
    sim2 = _FakeSim(t=5)
    present(sim2, "s", *ev, start_step=100)
    assert [c[2] for c in sim2.calls] == [100, 103, 109]
    assert present(_FakeSim(), "s", np.zeros(0, np.int64), np.zeros(0, np.int32)) == 0
    with pytest.raises(EncoderInputError, match="inject_spikes"):
        present(object(), "s", *ev)
    with pytest.raises(EncoderInputError, match="population_name"):
        present(_FakeSim(), "", *ev)


# -- metrics and the evaluation set -----------------------------------------------------------

def test_discrimination_and_retention_metrics(rng):
    labels = np.repeat(np.arange(4), 5)
    centres = rng.standard_normal((4, 64)) * 3
    x = centres[labels] + rng.standard_normal((20, 64))
    d = discrimination(x, labels)
    assert d.within > d.between and 0 < d.disc < 1
    # hand check on a tiny case
    t = np.array([[1.0, 0], [1.0, 0], [0, 1.0], [0, 1.0]])
    dd = discrimination(t, [0, 0, 1, 1])
    assert (dd.within, dd.between, dd.disc) == (1.0, 0.0, 1.0)
    assert retention(x, x, labels) == pytest.approx(1.0)
    assert nearest_centroid_accuracy(x, labels) == 1.0
    assert nearest_centroid_accuracy(rng.standard_normal((20, 64)), labels) < 0.8
    with pytest.raises(EncoderInputError, match="all-zero"):
        discrimination(np.zeros((4, 2)), [0, 0, 1, 1])
    with pytest.raises(EncoderInputError, match="at least 2 concepts"):
        discrimination(x, np.zeros(20))


def test_shipped_eval_set_is_big_enough_and_plain_english():
    ev = load_eval_set()
    assert ev.n_concepts >= 20
    counts = np.bincount(ev.labels)
    assert counts.min() >= 10 and len(ev) == counts.sum()
    assert len(set(ev.texts)) == len(ev.texts)
    for t in ev.texts:
        assert t.isascii() and t[0].isupper() and t.rstrip()[-1] in ".!?" and len(t.split()) >= 4, t


def test_eval_set_parse_errors(tmp_path):
    cases = {
        "orphan": "A sentence first.\n[c]\nx\n",
        "twice": "[c]\na\nb\n[c]\nd\ne\n",
        "dup": "[a]\nsame\nother\n[b]\nsame\nmore\n",
        "few": "[a]\none\ntwo\n[b]\nthree\n",
        "one": "[a]\none\ntwo\n",
    }
    msgs = {"orphan": "before the first", "twice": "appears twice", "dup": "repeated from line 2",
            "few": "has 1 paraphrase", "one": "at least 2 concepts"}
    for name, text in cases.items():
        p = tmp_path / f"{name}.txt"
        p.write_text(text)
        with pytest.raises(EncoderInputError, match=msgs[name]):
            load_eval_set(p)
    p = tmp_path / "latin1.txt"
    p.write_bytes("[a]\ncaf\u00e9\nx\n[b]\ny\nz\n".encode("latin-1"))
    with pytest.raises(EncoderInputError, match="not UTF-8"):
        load_eval_set(p)
    assert DEFAULT_EVAL_SET.is_file()


# -- sims.retention on the hashing embedder -------------------------------------------------------

def test_sims_retention_json_with_hashing_embedder(tmp_path, capsys):
    from sims.retention import main

    plot = tmp_path / "ret.png"
    assert main(["--json", "--embedder", "hashing", "--dims", "384,768,1536", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    d = json.loads(out[0])
    assert set(d["zscore"]) == set(d["powerlaw"]) == set(d["powerlaw_mean_rate_hz"]) == {"384", "768", "1536"}
    assert all(0 < v <= 1.5 for v in d["zscore"].values())
    assert d["zscore_spread_pt"] == pytest.approx(100 * (max(d["zscore"].values()) - min(d["zscore"].values())), abs=0.02)
    assert all(v == 700 for v in d["zscore_active_neurons"].values())
    pl = d["powerlaw_mean_rate_hz"]
    assert pl["384"] > 1.6 * pl["768"] > 1.6 * 1.6 * pl["1536"]  # about 1/D
    assert d["n_concepts"] >= 20 and d["n_texts"] >= 200
    assert plot.is_file() and plot.stat().st_size > 1000
    assert main(["--embedder", "hashing", "--dims", "384,768", "--neurons", "1000", "--plot", ""]) == 0
    table = capsys.readouterr().out
    assert "z-score retention" in table and "lift from 384" in table
    assert main(["--embedder", "hashing", "--dims", "1"]) == 2
    assert main(["--embedder", "hashing", "--neurons", "1"]) == 2
    assert main(["--embedder", "hashing", "--data", str(tmp_path / "missing.txt")]) == 2
    assert main(["--embedder", "hashing", "--dims", "384", "--sensitivity", "--json"]) == 0
    sens = json.loads(capsys.readouterr().out)
    f = list(sens["transfer"].values())
    assert all(a < b for a, b in zip(f, f[1:])) and 0.05 < f[0] < 0.25 and f[-1] > 0.8
    assert set(sens["common_component"]) == {"0", "0.25", "0.5", "0.75", "1"}


# -- the text -> spikes pipeline -------------------------------------------------------------------

def test_text_to_spikes_pipeline_lifts_and_presents():
    from encoders.pipeline import TextToSpikes

    enc = TextToSpikes(HashingEmbedder(384), ZScoreTopKCode(1024, PopulationCodeParams(n_neurons=1000)),
                       PresentationSchedule(window_ms=50, gap_ms=20), kind="regular")
    assert enc.projection is not None and enc.n_neurons == 1000
    texts = ["The cat is asleep on the sofa.", "I applied for a loan at the bank."]
    r = enc.rates(texts)
    assert r.shape == (2, 1000) and ((r > 0).sum(axis=1) == 140).all()
    np.testing.assert_array_equal(r, enc.code.encode(project(HashingEmbedder(384).embed(texts), 1024, seed=0)))
    ev = enc.spikes(texts, seed=1)
    assert ev.steps.max() < 120 and not np.any((ev.steps >= 50) & (ev.steps < 70))
    sim = _FakeSim(t=40)
    assert enc.present(sim, "sensory", texts, seed=1) == 140
    assert sim.calls[0][2] >= 40 and all(c[0] == "sensory" for c in sim.calls)
    with pytest.raises(EncoderInputError, match="empty"):
        enc.rates(["fine", " "])
    with pytest.raises(EncoderInputError, match="code must be"):
        TextToSpikes(HashingEmbedder(384), object())
    same = TextToSpikes(HashingEmbedder(384), ZScoreTopKCode(384))
    assert same.projection is None
