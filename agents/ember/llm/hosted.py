"""Hosted LLM adapters: OpenAI-compatible servers and Anthropic.

- ``OpenAIActor`` speaks the OpenAI chat-completions API through the ``openai`` SDK,
  with ``base_url`` pointing at any compatible server (Ollama, vLLM, llama.cpp server,
  LM Studio, or api.openai.com when unset). Action choice asks for a JSON object
  (``response_format={"type": "json_object"}``, switch off with ``json_mode=False``
  for servers that reject it) and validates it.
- ``AnthropicActor`` uses the ``anthropic`` SDK; action choice is a forced tool call
  whose ``action`` field is an enum in the shuffled order, validated on return.

Both: the SDK's own retries are off (``max_retries=0``) and ours apply (exponential
backoff with jitter, honouring Retry-After, for timeouts, connection errors, 429 and
5xx); malformed bodies count as bad output (one retry of the choice, then ``silent``).
Keys are read from the environment variable named in the config when the client is
built, passed to the SDK, and never logged or stored. A local server without a key
gets a placeholder key.
"""
from __future__ import annotations

import json
import logging
import os
import random
import time
from typing import Sequence

from .actor import (BackendUnavailable, JsonChoiceMixin, LLMBadOutput, LLMError, LLMRateLimited,
                    LLMServerError, LLMTimeout, with_retries)
from .config import ActorConfig
from ..types import Context, Message

log = logging.getLogger(__name__)


def _retry_after(resp) -> float | None:
    try:
        v = resp.headers.get("retry-after")
        return float(v) if v is not None else None
    except Exception:
        return None


def _key(config: ActorConfig, required: bool) -> str:
    key = os.environ.get(config.key_env, "") if config.key_env else ""
    if not key and required:
        raise BackendUnavailable(
            f"backend {config.backend!r} needs an API key in the environment variable {config.key_env} "
            "(or set EMBER_LLM_BASE_URL to a local server)")
    return key or "sk-no-key-local-server"


class _Base(JsonChoiceMixin):
    name = "hosted"

    def __init__(self, config: ActorConfig, sleep=time.sleep):
        self.config = config
        self._rng = random.Random(config.seed)
        self._retry_rng = random.Random(config.seed + 1)
        self._sleep = sleep
        self.last_stats: dict = {}

    def _retrying(self, call):
        c = self.config
        return with_retries(call, max_retries=c.max_retries, backoff_s=c.backoff_s, backoff_max_s=c.backoff_max_s,
                            sleep=self._sleep, rng=self._retry_rng)


class OpenAIActor(_Base):
    def __init__(self, config: ActorConfig, sleep=time.sleep):
        super().__init__(config, sleep)
        try:
            import openai
        except ImportError:
            raise BackendUnavailable("the openai backend needs the `openai` package (the `llm` extra)") from None
        self._openai = openai
        self.client = openai.OpenAI(api_key=_key(config, required=not config.base_url),
                                    base_url=config.base_url or None, timeout=config.timeout_s, max_retries=0)
        self.name = f"openai:{config.model}"

    def _call(self, messages: list[dict], json_mode: bool) -> str:
        o = self._openai
        kw = {"model": self.config.model, "messages": messages, "max_tokens": self.config.max_new_tokens,
              "temperature": self.config.temperature}
        if json_mode and self.config.json_mode:
            kw["response_format"] = {"type": "json_object"}

        def once():
            try:
                r = self.client.chat.completions.create(**kw)
            except o.APITimeoutError as e:
                raise LLMTimeout(f"timed out after {self.config.timeout_s} s") from e
            except o.RateLimitError as e:
                raise LLMRateLimited("HTTP 429 rate limited", _retry_after(e.response)) from e
            except o.APIStatusError as e:
                if e.status_code >= 500:
                    raise LLMServerError(f"HTTP {e.status_code}") from e
                raise LLMError(f"HTTP {e.status_code}: request refused") from e
            except o.APIConnectionError as e:
                raise LLMServerError(f"connection failed: {type(e).__name__}") from e
            except LLMError:
                raise
            except Exception as e:  # malformed body, JSON decode errors inside the SDK, ...
                raise LLMBadOutput(f"malformed response: {type(e).__name__}") from e
            try:
                text = r.choices[0].message.content
                if not isinstance(text, str):
                    raise TypeError("no text content")
            except Exception as e:
                raise LLMBadOutput(f"response without a message text ({type(e).__name__})") from None
            usage = getattr(r, "usage", None)
            if usage is not None and isinstance(getattr(usage, "completion_tokens", None), int):
                self.last_stats = {"new_tokens": usage.completion_tokens}
            return text
        return self._retrying(once)

    def respond(self, context: Context) -> str:
        t0 = time.perf_counter()
        text = self._call(context.as_chat(), json_mode=False)
        dt = time.perf_counter() - t0
        if "new_tokens" in self.last_stats and dt > 0:
            self.last_stats["tokens_per_s"] = self.last_stats["new_tokens"] / dt
        return text

    def _complete(self, context: Context, *, json_mode: bool, order: Sequence[str]) -> str:
        self.last_stats = {}
        return self._call(context.as_chat(), json_mode=json_mode)


def _anthropic_messages(messages: Sequence[Message]) -> list[dict]:
    """Anthropic wants alternating turns starting with the user: merge and trim."""
    out: list[dict] = []
    for m in messages:
        if m.role == "system":
            continue
        if out and out[-1]["role"] == m.role:
            out[-1]["content"] += "\n\n" + m.content
        else:
            out.append({"role": m.role, "content": m.content})
    while out and out[0]["role"] != "user":
        out.pop(0)
    if not out:
        out = [{"role": "user", "content": "(no message)"}]
    return out


class AnthropicActor(_Base):
    def __init__(self, config: ActorConfig, sleep=time.sleep):
        super().__init__(config, sleep)
        try:
            import anthropic
        except ImportError:
            raise BackendUnavailable("the anthropic backend needs the `anthropic` package (the `llm` extra)") from None
        self._anthropic = anthropic
        self.client = anthropic.Anthropic(api_key=_key(config, required=not config.base_url),
                                          base_url=config.base_url or None, timeout=config.timeout_s, max_retries=0)
        self.name = f"anthropic:{config.model}"

    def _call(self, context: Context, tools: list | None = None, tool_name: str | None = None):
        a = self._anthropic
        kw = {"model": self.config.model, "system": context.system, "max_tokens": self.config.max_new_tokens,
              "messages": _anthropic_messages(context.messages)}
        if tools:
            kw["tools"] = tools
            kw["tool_choice"] = {"type": "tool", "name": tool_name}

        def once():
            try:
                r = self.client.messages.create(**kw)
            except a.APITimeoutError as e:
                raise LLMTimeout(f"timed out after {self.config.timeout_s} s") from e
            except a.RateLimitError as e:
                raise LLMRateLimited("HTTP 429 rate limited", _retry_after(e.response)) from e
            except a.APIStatusError as e:
                if e.status_code >= 500 or e.status_code == 529:
                    raise LLMServerError(f"HTTP {e.status_code}") from e
                raise LLMError(f"HTTP {e.status_code}: request refused") from e
            except a.APIConnectionError as e:
                raise LLMServerError(f"connection failed: {type(e).__name__}") from e
            except Exception as e:
                raise LLMBadOutput(f"malformed response: {type(e).__name__}") from e
            blocks = getattr(r, "content", None)
            if not isinstance(blocks, list):
                raise LLMBadOutput("response without content blocks")
            usage = getattr(r, "usage", None)
            if usage is not None and isinstance(getattr(usage, "output_tokens", None), int):
                self.last_stats = {"new_tokens": usage.output_tokens}
            return blocks
        return self._retrying(once)

    def respond(self, context: Context) -> str:
        t0 = time.perf_counter()
        blocks = self._call(context)
        dt = time.perf_counter() - t0
        texts = [b.text for b in blocks if getattr(b, "type", "") == "text" and isinstance(getattr(b, "text", None), str)]
        if not texts:
            raise LLMBadOutput("reply has no text block")
        if "new_tokens" in self.last_stats and dt > 0:
            self.last_stats["tokens_per_s"] = self.last_stats["new_tokens"] / dt
        return "".join(texts)

    def _complete(self, context: Context, *, json_mode: bool, order: Sequence[str]) -> str:
        tool = {
            "name": "choose_action",
            "description": "Choose one of the available actions and write its content.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": list(order)},
                    "content": {"type": "string", "description": "the journal entry or message; empty for silent"},
                    "rationale": {"type": "string", "description": "one sentence"},
                },
                "required": ["action", "content", "rationale"],
            },
        }
        blocks = self._call(context, [tool], "choose_action")
        for b in blocks:
            if getattr(b, "type", "") == "tool_use" and getattr(b, "name", "") == "choose_action":
                return json.dumps(getattr(b, "input", None))
        texts = [getattr(b, "text", "") for b in blocks if getattr(b, "type", "") == "text"]
        return "".join(t for t in texts if isinstance(t, str))
