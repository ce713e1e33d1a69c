"""OpenAI-compatible and Anthropic adapters against a fake server on 127.0.0.1.

The fake speaks both wire formats (POST /v1/chat/completions and POST /v1/messages) and
plays a script of behaviours: normal replies, 429 (with Retry-After), 500, a reply that
arrives after the client's timeout, and malformed bodies.
"""
import json
import logging
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("openai")
pytest.importorskip("anthropic")

from agents.ember.llm.actor import LLMBadOutput, LLMError, LLMRateLimited, LLMServerError, LLMTimeout  # noqa: E402
from agents.ember.agent import Agent  # noqa: E402
from agents.ember.llm import ActorConfig, make_actor  # noqa: E402
from agents.ember.llm.hosted import AnthropicActor, OpenAIActor  # noqa: E402
from agents.ember.soul import Soul  # noqa: E402
from agents.ember.store import MemoryStore  # noqa: E402
from agents.ember.types import ACTIONS, Association, Context, Message, SurfacedAssociations  # noqa: E402

SECRET = "sk-test-SECRET-value-12345"


def openai_body(text, tokens=3):
    return {"id": "cmpl-1", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": 5 + tokens}}


def anthropic_body(blocks, tokens=3):
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "fake", "content": blocks,
            "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": tokens}}


class FakeLLM:
    """Scripted HTTP server. Each request pops one behaviour; an empty script answers 500."""

    def __init__(self):
        self.script = deque()
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("content-length", 0))
                body = self.rfile.read(n)
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                fake.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "json": parsed})
                kind, *args = fake.script.popleft() if fake.script else ("status", 500, {"error": "empty script"})
                if kind == "sleep":
                    time.sleep(args[0])
                    kind, args = "json", [args[1]]
                if kind == "json":
                    self._send(200, json.dumps(args[0]).encode(), "application/json")
                elif kind == "status":
                    code, obj = args[0], args[1]
                    headers = args[2] if len(args) > 2 else {}
                    self._send(code, json.dumps(obj).encode(), "application/json", headers)
                elif kind == "raw":
                    self._send(args[0], args[1], args[2] if len(args) > 2 else "application/json")

            def _send(self, code, data, ctype, headers=None):
                try:
                    self.send_response(code)
                    self.send_header("content-type", ctype)
                    self.send_header("content-length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    f = FakeLLM()
    yield f
    f.close()


@pytest.fixture
def keyenv(monkeypatch):
    monkeypatch.setenv("EMBER_TEST_KEY", SECRET)
    return "EMBER_TEST_KEY"


def trigger():
    t = 1_700_000_000.0
    return SurfacedAssociations((Association("Maya", 3.0, t, "person"), Association("pottery", 2.0, t)), t, "3 detections")


def ctx():
    return Context(Soul.load().text, (Message("user", "hello"),))


def oai(fake, keyenv, sleeps=None, **kw):
    cfg = dict(backend="openai", model="fake-model", base_url=fake.url + "/v1", api_key_env=keyenv,
               timeout_s=0.5, max_retries=2, backoff_s=0.01, backoff_max_s=0.05)
    cfg.update(kw)
    return OpenAIActor(ActorConfig(**cfg), sleep=(sleeps.append if sleeps is not None else time.sleep))


def anth(fake, keyenv, sleeps=None, **kw):
    cfg = dict(backend="anthropic", model="fake-claude", base_url=fake.url, api_key_env=keyenv,
               timeout_s=0.5, max_retries=2, backoff_s=0.01, backoff_max_s=0.05)
    cfg.update(kw)
    return AnthropicActor(ActorConfig(**cfg), sleep=(sleeps.append if sleeps is not None else time.sleep))


# -- OpenAI-compatible -----------------------------------------------------------------------------
def test_openai_respond_sends_soul_and_key_header(fake, keyenv, caplog):
    caplog.set_level(logging.DEBUG)
    fake.script.append(("json", openai_body("Hi there!")))
    a = make_actor(ActorConfig(backend="openai", model="fake-model", base_url=fake.url + "/v1", api_key_env=keyenv))
    assert a.respond(ctx()) == "Hi there!"
    req = fake.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["json"]["model"] == "fake-model"
    assert req["json"]["messages"][0] == {"role": "system", "content": Soul.load().text}
    assert req["headers"]["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in caplog.text and SECRET not in repr(a.config)


def test_openai_retries_429_then_succeeds_honouring_retry_after(fake, keyenv):
    sleeps = []
    fake.script.extend([("status", 429, {"error": {"message": "slow down"}}, {"retry-after": "0.04"}),
                        ("status", 500, {"error": "boom"}), ("json", openai_body("ok"))])
    assert oai(fake, keyenv, sleeps).respond(ctx()) == "ok"
    assert len(fake.requests) == 3 and len(sleeps) == 2
    assert sleeps[0] == pytest.approx(0.04)


def test_openai_500_exhausts_retries(fake, keyenv):
    sleeps = []
    fake.script.extend([("status", 500, {"error": "x"})] * 3)
    with pytest.raises(LLMServerError):
        oai(fake, keyenv, sleeps).respond(ctx())
    assert len(fake.requests) == 3 and len(sleeps) == 2
    # exponential backoff with jitter, capped
    assert 0.005 <= sleeps[0] <= 0.01 and 0.01 <= sleeps[1] <= 0.02


def test_openai_429_exhausts_retries(fake, keyenv):
    fake.script.extend([("status", 429, {"error": "x"})] * 3)
    with pytest.raises(LLMRateLimited):
        oai(fake, keyenv, []).respond(ctx())


def test_openai_timeout(fake, keyenv):
    fake.script.extend([("sleep", 1.0, openai_body("late"))] * 2)
    t0 = time.monotonic()
    with pytest.raises(LLMTimeout):
        oai(fake, keyenv, [], timeout_s=0.2, max_retries=1).respond(ctx())
    assert time.monotonic() - t0 < 1.5  # two attempts of 0.2 s, not two of 1 s
    assert len(fake.requests) == 2


@pytest.mark.parametrize("body", [b'{"choices": [ {"mess', b"<html>502 Bad Gateway</html>", b'{"foo": 1}',
                                  b'{"choices": []}', b'{"choices": [{"message": {"content": null}}]}'])
def test_openai_malformed_bodies_raise_bad_output(fake, keyenv, body):
    fake.script.append(("raw", 200, body))
    with pytest.raises(LLMBadOutput):
        oai(fake, keyenv, []).respond(ctx())
    assert len(fake.requests) == 1  # bad output is not retried at the transport level


def test_openai_client_error_is_not_retried(fake, keyenv):
    fake.script.append(("status", 401, {"error": {"message": "bad key"}}))
    with pytest.raises(LLMError, match="401"):
        oai(fake, keyenv, []).respond(ctx())
    assert len(fake.requests) == 1


def test_openai_choose_action_json_mode_and_order(fake, keyenv):
    fake.script.append(("json", openai_body(json.dumps({"action": "journal", "content": "Maya and pottery.",
                                                           "rationale": "worth noting"}))))
    act = oai(fake, keyenv, []).choose_action(trigger(), ctx())
    assert (act.action, act.content, act.rationale) == ("journal", "Maya and pottery.", "worth noting")
    assert sorted(act.option_order) == sorted(ACTIONS)
    req = fake.requests[0]["json"]
    assert req["response_format"] == {"type": "json_object"}
    user = req["messages"][-1]["content"]
    assert ", ".join(act.option_order) in user and "Maya" in user
    assert act.backend == "openai:fake-model"


def test_openai_choose_action_one_retry_then_valid(fake, keyenv):
    fake.script.extend([("json", openai_body("I think I'll journal!")),
                        ("json", openai_body('{"action": "silent", "content": "", "rationale": "r"}'))])
    act = oai(fake, keyenv, []).choose_action(trigger(), ctx())
    assert act.action == "silent" and not act.error and len(fake.requests) == 2


def test_openai_choose_action_malformed_twice_gives_silent(fake, keyenv):
    fake.script.extend([("json", openai_body('{"action": "dance"}')), ("raw", 200, b"garbage")])
    act = oai(fake, keyenv, []).choose_action(trigger(), ctx())
    assert act.action == "silent" and act.error and len(fake.requests) == 2
    assert '{"action": "dance"}' in act.raw


def test_openai_choose_action_server_down_gives_silent(fake, keyenv):
    fake.script.extend([("status", 503, {"error": "x"})] * 3)
    act = oai(fake, keyenv, []).choose_action(trigger(), ctx())
    assert act.action == "silent" and "LLMServerError" in act.error


def test_openai_without_base_url_needs_a_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    from agents.ember.llm.actor import BackendUnavailable
    with pytest.raises(BackendUnavailable, match="OPENAI_API_KEY"):
        OpenAIActor(ActorConfig(backend="openai", model="gpt-x"))


def test_connection_refused_is_an_llm_error(keyenv):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    a = OpenAIActor(ActorConfig(backend="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1",
                                api_key_env=keyenv, max_retries=1, backoff_s=0.01), sleep=lambda s: None)
    with pytest.raises(LLMServerError, match="connection"):
        a.respond(ctx())


# -- Anthropic -------------------------------------------------------------------------------------------
def test_anthropic_respond(fake, keyenv, caplog):
    caplog.set_level(logging.DEBUG)
    fake.script.append(("json", anthropic_body([{"type": "text", "text": "Hello from Claude"}])))
    c = Context(Soul.load().text, (Message("assistant", "earlier"), Message("user", "a"), Message("user", "b")))
    assert anth(fake, keyenv).respond(c) == "Hello from Claude"
    req = fake.requests[0]
    assert req["path"] == "/v1/messages"
    assert req["json"]["system"] == Soul.load().text
    assert req["json"]["messages"] == [{"role": "user", "content": "a\n\nb"}]  # alternating, user first
    h = req["headers"]  # older SDKs send x-api-key, newer ones a bearer token
    assert h.get("x-api-key") == SECRET or h.get("authorization") == f"Bearer {SECRET}"
    assert SECRET not in caplog.text


def test_anthropic_choose_action_forced_tool_with_shuffled_enum(fake, keyenv):
    fake.script.append(("json", anthropic_body([{"type": "tool_use", "id": "t1", "name": "choose_action",
                                                 "input": {"action": "reach_out", "content": "Hi! How is Maya?",
                                                           "rationale": "r"}}])))
    act = anth(fake, keyenv).choose_action(trigger(), ctx())
    assert act.action == "reach_out" and act.content == "Hi! How is Maya?"
    req = fake.requests[0]["json"]
    assert req["tool_choice"] == {"type": "tool", "name": "choose_action"}
    assert req["tools"][0]["input_schema"]["properties"]["action"]["enum"] == list(act.option_order)


def test_anthropic_invalid_tool_input_retried_then_silent(fake, keyenv):
    bad = anthropic_body([{"type": "tool_use", "id": "t1", "name": "choose_action", "input": {"action": "dance"}}])
    fake.script.extend([("json", bad), ("json", bad)])
    act = anth(fake, keyenv).choose_action(trigger(), ctx())
    assert act.action == "silent" and "dance" in act.error and len(fake.requests) == 2


@pytest.mark.parametrize("script, exc", [
    ([("status", 429, {"type": "error"}, {"retry-after": "0"})] * 3, LLMRateLimited),
    ([("status", 500, {"type": "error"})] * 3, LLMServerError),
    ([("status", 529, {"type": "error"})] * 3, LLMServerError),
    ([("sleep", 1.0, anthropic_body([]))] * 3, LLMTimeout),
    ([("raw", 200, b'{"content": [ {"ty')], LLMBadOutput),
    ([("raw", 200, b'{"content": "not a list"}')], LLMBadOutput),
    ([("json", anthropic_body([{"type": "tool_use", "id": "t", "name": "x", "input": {}}]))], LLMBadOutput),
])
def test_anthropic_failures(fake, keyenv, script, exc):
    fake.script.extend(script)
    with pytest.raises(exc):
        anth(fake, keyenv, [], timeout_s=0.2).respond(ctx())


def test_anthropic_recovers_after_429(fake, keyenv):
    sleeps = []
    fake.script.extend([("status", 429, {"type": "error"}), ("json", anthropic_body([{"type": "text", "text": "ok"}]))])
    assert anth(fake, keyenv, sleeps).respond(ctx()) == "ok" and len(sleeps) == 1


# -- through the agent: never crash, message stored first -------------------------------------------------
def test_agent_stores_user_message_before_llm_and_survives_outage(fake, keyenv, tmp_path):
    store = MemoryStore(tmp_path / "m.db")
    seen_in_store = []

    class Probe(OpenAIActor):
        def respond(self, context):
            seen_in_store.append(store.count("episodic"))
            return super().respond(context)

    a = Probe(ActorConfig(backend="openai", model="m", base_url=fake.url + "/v1", api_key_env=keyenv,
                          max_retries=1, backoff_s=0.01, timeout_s=0.3), sleep=lambda s: None)
    from agents.ember.guardrails import GuardrailConfig
    agent = Agent(a, store, guardrails=GuardrailConfig(busy_s=0))
    fake.script.extend([("status", 500, {})] * 2)
    r = agent.handle_user_message("please remember my cat is called Miso")
    assert r.error and r.reply_id is None and r.text == ""
    assert seen_in_store == [1]  # stored before the call
    assert store.get_message(r.user_message_id).text == "please remember my cat is called Miso"
    fake.script.append(("json", openai_body("Miso is a lovely name.")))
    r2 = agent.handle_user_message("did you get that?")
    assert r2.text == "Miso is a lovely name." and not r2.error
    # the failed turn's message is part of the next prompt
    sent = [m["content"] for m in fake.requests[-1]["json"]["messages"]]
    assert "please remember my cat is called Miso" in sent
    fake.script.extend([("sleep", 1.0, openai_body("late"))] * 2)
    out = agent.on_trigger(trigger())
    assert out.status == "failed" and out.action == "silent"
    assert store.action_log()[-1]["status"] == "failed"
    store.close()
