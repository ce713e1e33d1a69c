"""Per-token decode time of the attention core: GLA, SWA and full softmax, at two contexts.

Spec section 5, check 7: with H = 8 heads of d = 64 (batch 1, float32, CPU), the median time of
one decoding step of the attention core (no projections) at context 16k over that at 1k must
be <= 1.25 for GLA (fixed-size state update + read-out) and SWA (ring buffer of w = 1024 keys),
and >= 4 for full softmax attention (its KV cache grows with the context).

End to end (``end_to_end``, on by default): the same two contexts through the whole model as a user
runs it: a small byte-level ``LanguageModel`` (``ModelConfig`` defaults: 4 layers, d_model 192) in
the hybrid layout (GLA and SWA layers) and in the all-softmax layout, the context prefilled in
chunks of ``prefill_chunk`` tokens into the caches, then one token per decoding step (embedding,
every layer, LM head). A GLA path whose per-token cost grew with the context would show here.

    python -m sims.attention_decode            # table
    python -m sims.attention_decode --json     # ... and one JSON line at the end

The contexts are measured interleaved, in rounds of a few steps each, so that background
load on a shared machine hits both contexts alike.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class DecodeBenchConfig:
    heads: int = 8
    head_dim: int = 64
    window: int = 1024
    short: int = 1024
    long: int = 16384
    steps: int = 60
    warmup: int = 10
    round_steps: int = 5
    threads: int = 1
    seed: int = 0
    end_to_end: bool = True
    e2e_layouts: tuple = ("hybrid", "softmax")
    prefill_chunk: int = 1024

    def __post_init__(self) -> None:
        for name in ("heads", "head_dim", "window", "short", "long", "steps", "round_steps", "threads",
                     "prefill_chunk"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.warmup < 0:
            raise ValueError("warmup must be >= 0")
        if self.steps < 50:
            raise ValueError("use at least 50 timed steps (the check takes a median of >= 50)")
        if self.long <= self.short:
            raise ValueError("long context must exceed the short one")


def _make_cases(cfg: DecodeBenchConfig):
    import torch

    from spiking.attention.gla import gla_recurrent
    from spiking.attention.swa import KVCache, decode_step_softmax

    gen = torch.Generator().manual_seed(cfg.seed)
    H, d = cfg.heads, cfg.head_dim

    def rnd(*shape):
        return torch.randn(*shape, generator=gen)

    def new_token():
        q = rnd(1, H, 1, d)
        return q, rnd(1, H, 1, d), rnd(1, H, 1, d)

    cases = {}
    for L in (cfg.short, cfg.long):
        # GLA: the state summarises any context in H*d*d numbers
        state = {"S": torch.relu(rnd(1, H, d, d)) * 0.01}
        g = torch.nn.functional.logsigmoid(rnd(1, H, 1, d)) / 16

        def gla_step(state=state, g=g):
            q, k, v = new_token()
            o, state["S"] = gla_recurrent(torch.relu(q), torch.relu(k), v, g, state["S"])
            return o

        swa = KVCache(cfg.window)
        swa.extend(rnd(1, H, L, d), rnd(1, H, L, d))

        def swa_step(cache=swa):
            q, k, v = new_token()
            return decode_step_softmax(q, k, v, cache)

        full = KVCache(None)
        full.extend(rnd(1, H, L, d), rnd(1, H, L, d))

        def softmax_step(cache=full):
            q, k, v = new_token()
            return decode_step_softmax(q, k, v, cache)

        cases[("gla", L)] = (gla_step, lambda st=state: st["S"].numel() * st["S"].element_size())
        cases[("swa", L)] = (swa_step, lambda c=swa: c.nbytes)
        cases[("softmax", L)] = (softmax_step, lambda c=full: c.nbytes)
    return cases


def _e2e_cases(cfg: DecodeBenchConfig) -> dict:
    """Whole-model decoding steps after a prefill of each context, per layout (see the module doc)."""
    import torch

    from spiking.attention.blocks import LanguageModel, ModelConfig, cache_nbytes

    cases = {}
    for layout in cfg.e2e_layouts:
        mc = ModelConfig(layout=layout, max_seq_len=cfg.long + cfg.warmup + cfg.steps + 16)
        torch.manual_seed(cfg.seed)
        model = LanguageModel(mc).eval()
        gen = torch.Generator().manual_seed(cfg.seed)
        for L in (cfg.short, cfg.long):
            toks = torch.randint(0, mc.vocab_size, (1, L), generator=gen)
            caches = None
            for a in range(0, L, cfg.prefill_chunk):
                _, caches = model(toks[:, a:a + cfg.prefill_chunk], caches, use_cache=True)
            state = {"caches": caches}

            def step(state=state, model=model, mc=mc):
                tok = torch.randint(0, mc.vocab_size, (1, 1), generator=gen)
                logits, state["caches"] = model(tok, state["caches"], use_cache=True)
                return logits

            cases[(f"e2e_{layout}", L)] = (step, lambda st=state: sum(cache_nbytes(st["caches"])))
    return cases


def run(cfg: DecodeBenchConfig, progress: bool = True) -> dict:
    import torch

    torch.set_num_threads(cfg.threads)
    cases = _make_cases(cfg)
    if cfg.end_to_end:
        with torch.no_grad():
            cases.update(_e2e_cases(cfg))
    times = {key: [] for key in cases}
    with torch.no_grad():
        for fn, _ in cases.values():
            for _ in range(cfg.warmup):
                fn()
        rounds = -(-cfg.steps // cfg.round_steps)
        it = range(rounds)
        if progress:
            from tqdm import tqdm
            it = tqdm(it, desc="decode rounds", file=sys.stderr, leave=False)
        for _ in it:
            for key, (fn, _) in cases.items():
                for _ in range(cfg.round_steps):
                    t0 = time.perf_counter()
                    fn()
                    times[key].append(time.perf_counter() - t0)
    med = {key: statistics.median(v) for key, v in times.items()}
    kinds = dict.fromkeys(k for k, _ in cases)          # gla, swa, softmax, then the e2e_* layouts
    out = {
        **{f"{k}_ratio": med[(k, cfg.long)] / med[(k, cfg.short)] for k in kinds},
        "median_us": {f"{k}@{L}": round(v * 1e6, 2) for (k, L), v in med.items()},
        "cache_bytes": {f"{k}@{L}": nb() for (k, L), (_, nb) in cases.items()},
        "steps_per_case": len(next(iter(times.values()))),
        "config": {"heads": cfg.heads, "head_dim": cfg.head_dim, "window": cfg.window, "short": cfg.short,
                   "long": cfg.long, "threads": cfg.threads},
    }
    return out


def format_table(res: dict, cfg: DecodeBenchConfig) -> str:
    lines = [f"decode (attention cores; e2e_*: the whole model), H={cfg.heads}, d={cfg.head_dim}, SWA w={cfg.window}, float32, "
             f"{cfg.threads} thread(s), median of {res['steps_per_case']} steps",
             f"{'kind':<13}{'us @ ' + str(cfg.short):>14}{'us @ ' + str(cfg.long):>14}{'ratio':>9}"
             f"{'cache MiB @ ' + str(cfg.short):>20}{'cache MiB @ ' + str(cfg.long):>20}"]
    for kind in dict.fromkeys(k.split("@")[0] for k in res["median_us"]):
        a, b = res["median_us"][f"{kind}@{cfg.short}"], res["median_us"][f"{kind}@{cfg.long}"]
        ca, cb = res["cache_bytes"][f"{kind}@{cfg.short}"], res["cache_bytes"][f"{kind}@{cfg.long}"]
        lines.append(f"{kind:<13}{a:>14.1f}{b:>14.1f}{res[kind + '_ratio']:>9.2f}{ca / 2**20:>20.3f}{cb / 2**20:>20.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="attention-decode", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="end with one JSON line of ratios and timings")
    p.add_argument("--steps", type=int, default=DecodeBenchConfig.steps, help="timed steps per case (>= 50)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--window", type=int, default=DecodeBenchConfig.window, help="SWA window (keys incl. self)")
    p.add_argument("--no-end-to-end", action="store_true", help="time the attention cores only")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        cfg = DecodeBenchConfig(steps=a.steps, threads=a.threads, window=a.window, end_to_end=not a.no_end_to_end)
    except ValueError as e:
        p.error(str(e))
    res = run(cfg, progress=not a.no_progress)
    print(format_table(res, cfg))
    if a.json:
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
