"""EMBER's language side: LLM actors behind one protocol (``actor.Actor``), configured from the
environment (``config.ActorConfig``) and built by one factory, ``make_actor``.

The adapters import the configuration, never the factory, so nothing here imports in a circle;
heavy libraries (transformers, openai, anthropic, llama.cpp) are imported only by the adapter that
needs them, when it is built.
"""
from __future__ import annotations

from .actor import Actor, ScriptedActor
from .config import ActorConfig

__all__ = ["Actor", "ActorConfig", "ScriptedActor", "make_actor"]


def make_actor(config: ActorConfig | None = None):
    """Build the configured actor. Heavy imports happen only here, per backend."""
    config = config or ActorConfig.from_env()
    if config.backend == "local":
        from .local import TransformersActor

        return TransformersActor(config)
    if config.backend == "llama_cpp":
        from .llamacpp import LlamaCppActor

        return LlamaCppActor(config)
    if config.backend == "openai":
        from .hosted import OpenAIActor

        return OpenAIActor(config)
    if config.backend == "anthropic":
        from .hosted import AnthropicActor

        return AnthropicActor(config)
    return ScriptedActor(seed=config.seed)
