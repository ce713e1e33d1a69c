"""Actor configuration: a frozen, validated dataclass, read from the environment.

Environment variables (all optional; nothing configured means the embedded local model):

- ``EMBER_LLM_BACKEND``: ``local`` (default), ``llama_cpp``, ``openai``, ``anthropic``, ``scripted``.
- ``EMBER_LLM_MODEL``: the model name for hosted backends (required for them).
- ``EMBER_LLM_BASE_URL``: base URL for OpenAI-compatible servers (Ollama, vLLM, llama.cpp server, LM Studio)
  or an Anthropic-compatible endpoint.
- ``EMBER_LLM_API_KEY_ENV``: the *name* of the variable that holds the key
  (default ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``). Keys are read from the environment
  only when the client is built and are never logged or stored.
- ``EMBER_LLM_TIMEOUT_S`` (default 60), ``EMBER_LLM_MAX_RETRIES`` (default 3).
- ``EMBER_LLM_THREADS``: CPU threads for the local backends (default: half the cores, at least 1).
- ``EMBER_CACHE_DIR``: where the local backend caches dequantised weights
  (default ``$XDG_CACHE_HOME/ember`` or ``~/.cache/ember``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("local", "llama_cpp", "openai", "anthropic", "scripted")


def default_cache_dir() -> Path:
    env = os.environ.get("EMBER_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ember"


@dataclass(frozen=True)
class ActorConfig:
    backend: str = "local"
    model: str = ""
    base_url: str = ""
    api_key_env: str = ""
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    max_new_tokens: int = 96
    temperature: float = 0.7
    seed: int = 0
    context_tokens: int = 2048
    n_threads: int = 0  # 0: let torch / llama.cpp decide
    json_mode: bool = True  # OpenAI-compatible: ask for response_format json_object

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"ActorConfig.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.backend in ("openai", "anthropic") and not self.model:
            raise ValueError(f"ActorConfig: backend {self.backend!r} needs a model name (EMBER_LLM_MODEL)")
        for name in ("timeout_s", "backoff_s", "backoff_max_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v <= 0:
                raise ValueError(f"ActorConfig.{name} must be > 0, got {v!r}")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"ActorConfig.max_retries must be an int >= 0, got {self.max_retries!r}")
        if not isinstance(self.max_new_tokens, int) or not 1 <= self.max_new_tokens <= 8192:
            raise ValueError(f"ActorConfig.max_new_tokens must be in [1, 8192], got {self.max_new_tokens!r}")
        if not 0 <= self.temperature <= 2:
            raise ValueError(f"ActorConfig.temperature must be in [0, 2], got {self.temperature!r}")
        if not isinstance(self.context_tokens, int) or self.context_tokens < 256:
            raise ValueError(f"ActorConfig.context_tokens must be an int >= 256, got {self.context_tokens!r}")
        if not isinstance(self.n_threads, int) or self.n_threads < 0:
            raise ValueError(f"ActorConfig.n_threads must be an int >= 0 (0: automatic), got {self.n_threads!r}")
        if self.api_key_env and not self.api_key_env.replace("_", "").isalnum():
            raise ValueError("ActorConfig.api_key_env must be an environment variable name, not a key")

    @property
    def key_env(self) -> str:
        if self.api_key_env:
            return self.api_key_env
        return {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}.get(self.backend, "")

    def __repr__(self) -> str:  # never shows a key (there is none here, only the variable name)
        return (f"ActorConfig(backend={self.backend!r}, model={self.model!r}, base_url={self.base_url!r}, "
                f"key_env={self.key_env!r}, timeout_s={self.timeout_s})")

    @classmethod
    def from_env(cls, env: dict | None = None, **overrides) -> "ActorConfig":
        e = os.environ if env is None else env
        kw: dict = {}
        if e.get("EMBER_LLM_BACKEND"):
            kw["backend"] = e["EMBER_LLM_BACKEND"].strip().lower()
        if e.get("EMBER_LLM_MODEL"):
            kw["model"] = e["EMBER_LLM_MODEL"].strip()
        if e.get("EMBER_LLM_BASE_URL"):
            kw["base_url"] = e["EMBER_LLM_BASE_URL"].strip()
        if e.get("EMBER_LLM_API_KEY_ENV"):
            kw["api_key_env"] = e["EMBER_LLM_API_KEY_ENV"].strip()
        try:
            if e.get("EMBER_LLM_TIMEOUT_S"):
                kw["timeout_s"] = float(e["EMBER_LLM_TIMEOUT_S"])
            if e.get("EMBER_LLM_MAX_RETRIES"):
                kw["max_retries"] = int(e["EMBER_LLM_MAX_RETRIES"])
            if e.get("EMBER_LLM_THREADS"):
                kw["n_threads"] = int(e["EMBER_LLM_THREADS"])
        except ValueError as err:
            raise ValueError(f"bad number in EMBER_LLM_TIMEOUT_S / EMBER_LLM_MAX_RETRIES / EMBER_LLM_THREADS: {err}") from None
        kw.update(overrides)
        return cls(**kw)
