"""``ember chat-bench``: where a chat turn's time goes, on the embedded defaults (all-MiniLM-L6-v2,
the local SmolLM2 actor) in a fresh state directory: the memory's part (stores, embedding, presenting
the message and the reply to the network, readout, checkpoint) next to the LLM's.

    ember chat-bench [--json] [--turns 5] [--scale 0.05] [--actor env|scripted]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from .ember_demo import SCRIPT
from .ember_session import SessionConfig, open_agent
from .output import emit


@dataclass(frozen=True)
class ChatBenchConfig:
    session: SessionConfig
    turns: int = 5


def run(config: ChatBenchConfig, seed: int = 0) -> dict:
    agent = open_agent(config.session)
    try:
        agent.chat("Hello, this is a warm-up message.")          # first-call costs (numba, model)
        rows = []
        for k in range(config.turns):
            agent.chat(SCRIPT[k % len(SCRIPT)])
            rows.append(dict(agent.last_timing))
    finally:
        agent.close()
    keys = rows[0].keys()
    med = {k: float(np.median([r[k] for r in rows])) for k in keys}
    return {"turns": config.turns, "scale": config.session.scale, "actor": config.session.actor,
            "median": med, "memory_s": med["memory_s"], "llm_s": med["llm_s"], "goal_memory_s": 1.5,
            "pass": med["memory_s"] <= 1.5, "per_turn": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="ember chat-bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--actor", default="env", choices=["env", "scripted"])
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    if a.turns < 1:
        ap.error("--turns must be >= 1")
    with tempfile.TemporaryDirectory(prefix="ember-chat-bench-") as d:
        res = run(ChatBenchConfig(SessionConfig(state=d, scale=a.scale, embedder=a.embedder, actor=a.actor,
                                                threads=a.threads), turns=a.turns))
    emit(res, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
