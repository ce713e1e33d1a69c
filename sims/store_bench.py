"""Insert and search rates of the agent's SQLite memory stores.

    python -m sims.store_bench --json [--n 5000] [--synchronous FULL] [--dir PATH]

Measures, on a fresh database in a temporary folder (or ``--dir``):
- ``insert_single_per_s``: one message per transaction (each commit durable);
- ``insert_batch_per_s``: messages inserted 500 per transaction;
- ``search_per_s``: FTS5 searches (top 10) over all messages, 3-word queries;
- ``fact_search_per_s``: FTS5 searches over the perfect-recall facts;
- ``recent_per_s``: reads of the 20 most recent messages.
Messages are synthetic sentences from a fixed vocabulary with a 384-d float32 embedding,
generated from ``--seed``. Prints one JSON object with ``--json``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from .output import emit


def run(n: int = 5000, synchronous: str = "FULL", directory: str | None = None, seed: int = 0,
        n_queries: int = 500) -> dict:
    import numpy as np

    from agents.ember.store import MemoryStore

    rng = np.random.default_rng(seed)
    vocab = [f"word{i}" for i in range(2000)] + ["pottery", "Lisbon", "Maya", "garden", "spiking", "memory"]
    def sentence():
        return " ".join(rng.choice(vocab, size=int(rng.integers(8, 30))))
    with tempfile.TemporaryDirectory(dir=directory) as d:
        store = MemoryStore(os.path.join(d, "bench.db"), synchronous=synchronous)
        n_single = max(1, n // 5)
        texts = [sentence() for _ in range(n)]
        embs = rng.standard_normal((n, 384)).astype(np.float32)
        t0 = time.perf_counter()
        for i in range(n_single):
            store.add_message("user", texts[i], embedding=embs[i], labels=["Maya"], conversation_id="c")
        single_s = time.perf_counter() - t0
        rest = [{"role": "user", "text": texts[i], "embedding": embs[i], "labels": ["x"]} for i in range(n_single, n)]
        t0 = time.perf_counter()
        for k in range(0, len(rest), 500):
            store.add_messages(rest[k:k + 500])
        batch_s = time.perf_counter() - t0
        for i in range(500):
            store.add_fact(sentence())
        queries = [" ".join(rng.choice(vocab, size=3)) for _ in range(n_queries)]
        t0 = time.perf_counter()
        hits = 0
        for q in queries:
            hits += len(store.search_messages(q, 10))
        search_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for q in queries:
            store.search_facts(q, 10)
        fact_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(n_queries):
            store.recent_messages(20)
        recent_s = time.perf_counter() - t0
        size = os.path.getsize(os.path.join(d, "bench.db"))
        ok = store.integrity_check()
        store.close()
    return {
        "n_messages": n, "synchronous": synchronous, "db_bytes": size, "integrity": ok,
        "insert_single_per_s": round(n_single / single_s, 1),
        "insert_batch_per_s": round(len(rest) / batch_s, 1) if rest else None,
        "search_per_s": round(n_queries / search_s, 1), "mean_hits": round(hits / n_queries, 2),
        "fact_search_per_s": round(n_queries / fact_s, 1),
        "recent_per_s": round(n_queries / recent_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sims.store_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--n", type=int, default=5000, help="messages to insert (a fifth one per transaction)")
    ap.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL", "EXTRA"])
    ap.add_argument("--dir", default=None, help="folder for the temporary database (default: the system temp dir)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.n < 10:
        ap.error("--n must be at least 10")
    res = run(args.n, args.synchronous, args.dir, args.seed)
    emit(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
