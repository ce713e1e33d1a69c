"""Load the configured LLM actor, answer one chat prompt, choose an action for a sample trigger.

    python -m sims.actor_check --json          # or: ember actor-check --json

The backend comes from the environment (``EMBER_LLM_BACKEND`` etc., see docs/agents.md);
with nothing configured it is the embedded offline SmolLM2-135M-Instruct. Prints one
JSON object (with ``--json``) with ``backend``, ``reply``, ``action``, ``load_s``,
``tokens_per_s`` and ``choose_s``, plus details.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from .output import emit


def run(backend: str | None = None, prompt: str = "In two sentences, what is a spiking neural network?",
        max_new_tokens: int = 48, seed: int = 0) -> dict:
    from agents.ember.llm import ActorConfig, make_actor
    from agents.ember.context import ContextBuilder
    from agents.ember.soul import Soul
    from agents.ember.types import Association, SurfacedAssociations

    overrides = {"max_new_tokens": max_new_tokens, "seed": seed}
    if backend:
        overrides["backend"] = backend
    config = ActorConfig.from_env(**overrides)
    soul = Soul.load()
    t0 = time.perf_counter()
    actor = make_actor(config)
    load_s = time.perf_counter() - t0
    builder = ContextBuilder(soul, token_budget=config.context_tokens - config.max_new_tokens,
                             count_tokens=getattr(actor, "count_tokens", None))

    chat = builder.build(recent=[("user", prompt)])
    t0 = time.perf_counter()
    reply = actor.respond(chat)
    reply_s = time.perf_counter() - t0
    stats = dict(getattr(actor, "last_stats", {}) or {})
    if "tokens_per_s" in stats:
        tokens_per_s, n_tok, tok_src = stats["tokens_per_s"], stats["new_tokens"], "tokenizer"
    else:  # hosted backends without a local tokenizer: count with the builder's counter
        n_tok = builder.count_tokens(reply)
        tokens_per_s, tok_src = (n_tok / reply_s if reply_s > 0 else 0.0), "estimate"

    now = time.time()
    trigger = SurfacedAssociations(
        (
            Association("Maya", 3.4, now - 120, "person"),
            Association("pottery", 2.9, now - 110, "topic"),
            Association("moving to Lisbon", 2.1, now - 60, "topic"),
        ),
        now,
        "3 detections above 3x baseline within 5 min",
    )
    idle_ctx = builder.build()  # the associations go into the action prompt itself
    t0 = time.perf_counter()
    act = actor.choose_action(trigger, idle_ctx)
    choose_s = time.perf_counter() - t0
    return {
        "backend": getattr(actor, "name", config.backend),
        "reply": reply,
        "action": act.action,
        "content": act.content,
        "option_order": list(act.option_order),
        "rationale": act.rationale,
        "error": act.error,
        "load_s": round(load_s, 3),
        "cache_hit": (getattr(actor, "load_info", {}) or {}).get("cache_hit"),
        "reply_s": round(reply_s, 3),
        "reply_tokens": n_tok,
        "tokens_per_s": round(float(tokens_per_s), 2),
        "tokens_counted_by": tok_src,
        "choose_s": round(choose_s, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ember actor-check", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object (default: readable lines)")
    ap.add_argument("--backend", default=None, help="override EMBER_LLM_BACKEND (local, llama_cpp, openai, anthropic, scripted)")
    ap.add_argument("--prompt", default="In two sentences, what is a spiking neural network?")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        res = run(args.backend, args.prompt, args.max_new_tokens, args.seed)
    except Exception as e:  # a clear one-line error instead of a traceback
        print(f"actor-check failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    emit(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
