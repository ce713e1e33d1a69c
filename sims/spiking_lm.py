"""Small reproduction of SpikingBrain's recipe (spec section 4.3) on a byte-level LM.

1. Train a softmax Transformer (4 layers, SwiGLU, RoPE) on the Python standard library's own
   source files (found through ``sysconfig``, so every machine has them; no downloads).
2. Convert it to the GLA/SWA 1:1 hybrid (all weights copied; new gate and per-head norm) and
   fine-tune for 20 % of the baseline's steps at a lower learning rate.
3. Train the same hybrid from scratch for the full budget and for the 20 % budget.
4. Spike every projection input post hoc (k = 2, 3, 4, 8): validation perplexity and the
   section 3 sparsity report; also k = 3 with INT8 group-128 weights, and a short STE
   fine-tune with k = 3 spikes on.

    python -m sims.spiking_lm                  # full run (spec sizes; about half an hour on 1 CPU thread)
    python -m sims.spiking_lm --quick          # a few minutes, smaller model and budget
    python -m sims.spiking_lm --quick --json   # ... ending with one JSON line

Validation loss is in nats per byte over fixed windows of the held-out tail of the corpus;
perplexity is ``exp(loss)``.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import sysconfig
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class LMRunConfig:
    d_model: int = 192
    n_layers: int = 4
    n_heads: int = 6
    head_dim: int = 32
    ffn_dim: int = 512
    seq_len: int = 192
    window: int = 48
    chunk: int = 16
    batch: int = 24
    steps: int = 800
    lr: float = 2e-3
    finetune_frac: float = 0.2
    finetune_lr: float = 1e-3
    warmup_frac: float = 0.05
    weight_decay: float = 0.01
    corpus_bytes: int = 3_000_000
    val_frac: float = 0.05
    eval_batches: int = 20
    ks: tuple = (2, 3, 4, 8)
    ste_steps: int = 100
    ste_lr: float = 2e-4
    ste_k: float = 3.0
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layers", "n_heads", "head_dim", "ffn_dim", "seq_len", "window", "chunk", "batch",
                     "steps", "corpus_bytes", "eval_batches", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.ste_steps < 0:
            raise ValueError("ste_steps must be >= 0")
        for name in ("lr", "finetune_lr", "ste_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if not (0 < self.finetune_frac <= 1 and 0 <= self.warmup_frac < 1 and 0 < self.val_frac < 0.5):
            raise ValueError("need 0 < finetune_frac <= 1, 0 <= warmup_frac < 1, 0 < val_frac < 0.5")
        if not self.ks or any(not (k > 0) for k in self.ks):
            raise ValueError(f"ks must be positive spike rates, got {self.ks}")
        if self.n_layers % 2:
            raise ValueError("the 1:1 hybrid needs an even number of layers")

    @property
    def short_steps(self) -> int:
        return max(1, round(self.finetune_frac * self.steps))


QUICK = LMRunConfig(d_model=96, n_heads=4, head_dim=24, ffn_dim=256, seq_len=128, window=32, batch=16, steps=300,
                    finetune_lr=1e-3, corpus_bytes=1_000_000, eval_batches=8, ste_steps=30)


# ----------------------------------------------------------------------------- data
def stdlib_files() -> list[Path]:
    """The top-level ``*.py`` files of this interpreter's standard library, sorted by name."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.is_file())
    if not files:
        raise RuntimeError(f"no standard-library sources found under {root}")
    return files


def load_corpus(n_bytes: int, val_frac: float):
    """Concatenate stdlib sources in name order up to ``n_bytes``; the last ``val_frac`` is validation."""
    import torch

    chunks, total, used = [], 0, []
    for f in stdlib_files():
        b = f.read_bytes()
        if total + len(b) > n_bytes:
            b = b[: n_bytes - total]
        chunks.append(b)
        used.append(f.name)
        total += len(b)
        if total >= n_bytes:
            break
    data = torch.frombuffer(bytearray(b"".join(chunks)), dtype=torch.uint8).to(torch.int64)
    n_val = int(len(data) * val_frac)
    return data[:-n_val], data[-n_val:], {"files": len(used), "first": used[0], "last": used[-1], "bytes": len(data)}


def batch_at(data, offsets, seq_len):
    import torch
    idx = offsets[:, None] + torch.arange(seq_len + 1)[None, :]
    return data[idx]


def val_batches(val, cfg: LMRunConfig):
    """Fixed, evenly spaced validation windows."""
    import torch
    n = cfg.eval_batches * cfg.batch
    span = len(val) - cfg.seq_len - 1
    if span <= 0:
        raise ValueError("validation split shorter than one sequence; raise corpus_bytes")
    offs = torch.linspace(0, span - 1, n).long()
    return [batch_at(val, offs[i * cfg.batch:(i + 1) * cfg.batch], cfg.seq_len) for i in range(cfg.eval_batches)]


# ----------------------------------------------------------------------------- training
def model_config(cfg: LMRunConfig, layout: str):
    from spiking.attention import ModelConfig
    return ModelConfig(vocab_size=256, d_model=cfg.d_model, n_layers=cfg.n_layers, n_heads=cfg.n_heads,
                       n_kv_heads=cfg.n_heads, head_dim=cfg.head_dim, ffn_dim=cfg.ffn_dim, window=cfg.window,
                       max_seq_len=max(4096, cfg.seq_len), chunk=cfg.chunk, layout=layout)


def lm_loss(model, batch):
    import torch.nn.functional as F
    logits, _ = model(batch[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


def evaluate(model, batches) -> float:
    import torch
    model.eval()
    tot = 0.0
    with torch.no_grad():
        for b in batches:
            tot += float(lm_loss(model, b))
    model.train()
    return tot / len(batches)


def train(model, train_data, cfg: LMRunConfig, steps: int, lr: float, seed: int, bar, label: str) -> list[float]:
    """AdamW, linear warm-up then cosine decay to 10 %, gradient clipping 1.0. Returns per-step losses."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    warm = max(1, int(cfg.warmup_frac * steps))

    def sched(i):
        if i < warm:
            return (i + 1) / warm
        p = (i - warm) / max(1, steps - warm)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))

    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, sched)
    model.train()
    losses = []
    span = len(train_data) - cfg.seq_len - 1
    for i in range(steps):
        offs = torch.randint(0, span, (cfg.batch,), generator=gen)
        loss = lm_loss(model, batch_at(train_data, offs, cfg.seq_len))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        lr_sched.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.set_description(f"{label} {losses[-1]:.3f}")
            bar.update(1)
    return losses


def spiked_eval(model, batches, k, quant=None):
    """Validation loss with every projection input spiked at ``k``; returns ``(loss, sparsity report)``."""
    from spiking.attention import SparsityStats, set_spiking, set_weight_quant
    stats = SparsityStats()
    set_spiking(model, k, stats)
    set_weight_quant(model, quant)
    try:
        loss = evaluate(model, batches)
    finally:
        set_spiking(model, None)
        set_weight_quant(model, None)
    return loss, (stats.report() if k is not None else None)


# ----------------------------------------------------------------------------- the run
def run(cfg: LMRunConfig, progress: bool = True, log=print) -> dict:
    import torch
    from spiking.attention import LanguageModel, QuantConfig, convert_softmax_to_hybrid, set_spiking

    torch.set_num_threads(cfg.threads)
    t_start = time.time()
    train_data, val_data, corpus = load_corpus(cfg.corpus_bytes, cfg.val_frac)
    vb = val_batches(val_data, cfg)
    N, S = cfg.steps, cfg.short_steps
    total = N + S + N + S + 2 * cfg.ste_steps
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, file=sys.stderr, unit="step", dynamic_ncols=True)
    curves, val = {}, {}

    torch.manual_seed(cfg.seed)
    base = LanguageModel(model_config(cfg, "softmax"))
    curves["baseline"] = train(base, train_data, cfg, N, cfg.lr, cfg.seed + 1, bar, "baseline")
    val["baseline"] = evaluate(base, vb)

    conv = convert_softmax_to_hybrid(base)
    val["converted_step0"] = evaluate(conv, vb)
    curves["converted"] = train(conv, train_data, cfg, S, cfg.finetune_lr, cfg.seed + 2, bar, "convert-ft")
    val["converted"] = evaluate(conv, vb)

    for name, steps, seed in (("hybrid_scratch", N, 3), ("hybrid_scratch_short", S, 4)):
        torch.manual_seed(cfg.seed + 10 + seed)
        m = LanguageModel(model_config(cfg, "hybrid"))
        curves[name] = train(m, train_data, cfg, steps, cfg.lr, cfg.seed + seed, bar, name)
        val[name] = evaluate(m, vb)
        del m

    spiked, spiked_base, sparsity = {}, {}, {}
    for k in cfg.ks:
        key = str(int(k)) if float(k).is_integer() else str(k)
        spiked[key], sparsity[key] = spiked_eval(conv, vb, k)
        spiked_base[key], _ = spiked_eval(base, vb, k)
        if bar is not None:
            bar.set_description(f"spiked k={key}")
    int8_k3, _ = spiked_eval(conv, vb, 3.0, QuantConfig())
    int8_only, _ = spiked_eval(conv, vb, None, QuantConfig())

    ste = ste_float = None
    if cfg.ste_steps:
        m = copy.deepcopy(conv)
        set_spiking(m, cfg.ste_k)
        curves["ste"] = train(m, train_data, cfg, cfg.ste_steps, cfg.ste_lr, cfg.seed + 5, bar, "STE k=3")
        ste, _ = spiked_eval(m, vb, cfg.ste_k)
        del m
        # the two-sided comparison: the float model trained for the same steps, lr and batches
        m = copy.deepcopy(conv)
        curves["ste_float"] = train(m, train_data, cfg, cfg.ste_steps, cfg.ste_lr, cfg.seed + 5, bar, "float, same steps")
        ste_float = evaluate(m, vb)
        del m
    if bar is not None:
        bar.close()

    ppl = lambda x: math.exp(x)  # noqa: E731
    res = {
        "baseline": ppl(val["baseline"]),
        "hybrid_scratch": ppl(val["hybrid_scratch"]),
        "hybrid_scratch_short": ppl(val["hybrid_scratch_short"]),
        "converted": ppl(val["converted"]),
        "converted_step0": ppl(val["converted_step0"]),
        "spiked": {k: ppl(v) for k, v in spiked.items()},
        "sparsity_T3": {k: r["sparsity_T3"] for k, r in sparsity.items()},
        "spiked_baseline": {k: ppl(v) for k, v in spiked_base.items()},
        "converted_int8": ppl(int8_only),
        "spiked_int8_k3": ppl(int8_k3),
        "ste_k3": None if ste is None else ppl(ste),
        "ste_float_same_steps": None if ste_float is None else ppl(ste_float),
        "val_loss": {**val, **{f"spiked_{k}": v for k, v in spiked.items()}, "spiked_int8_k3": int8_k3,
                     **({"ste_k3": ste, "ste_float_same_steps": ste_float} if ste is not None else {})},
        "sparsity": sparsity,
        "corpus": corpus,
        "config": {**asdict(cfg), "ks": list(cfg.ks)},
        "elapsed_s": round(time.time() - t_start, 1),
    }
    res["checks"] = summarize_checks(res)
    res["_curves"] = curves
    return res


def summarize_checks(r: dict) -> dict:
    """The spec section 5 figures this run shows (checks 8-11)."""
    conv, base = r["converted"], r["baseline"]
    ks = sorted(r["spiked"], key=float)
    cost = {k: r["spiked"][k] / conv - 1 for k in ks}
    mono = all(cost[a] >= cost[b] - 1e-12 for a, b in zip(ks, ks[1:]))
    out = {
        "k3_ppl_cost": cost.get("3"),
        "k3_cost_le_3pct": cost.get("3", 1) <= 0.03,
        "cost_monotone_in_k": mono,
        "int8_k3_cost": r["spiked_int8_k3"] / conv - 1,
        "int8_k3_cost_le_5pct": r["spiked_int8_k3"] / conv - 1 <= 0.05,
        "hybrid_over_softmax": r["hybrid_scratch"] / base,
        "hybrid_within_1.10": r["hybrid_scratch"] / base <= 1.10,
        "converted_over_baseline": conv / base,
        "converted_within_1.10": conv / base <= 1.10,
        "converted_gain_over_scratch_short": 1 - conv / r["hybrid_scratch_short"],
        "converted_beats_short_by_20pct": conv <= 0.8 * r["hybrid_scratch_short"],
        "sparsity_T3_k3_ge_0.55": r["sparsity_T3"].get("3", 0) >= 0.55,
        "sparsity_decreasing_in_k": all(r["sparsity_T3"][a] > r["sparsity_T3"][b] for a, b in zip(ks, ks[1:])),
    }
    if r.get("ste_k3") is not None:
        out["ste_k3_over_float"] = r["ste_k3"] / conv
        out["ste_within_1pct"] = r["ste_k3"] <= 1.01 * conv          # one-sided, against the float model before
    if r.get("ste_float_same_steps") is not None:
        # two-sided, against the float model fine-tuned for the same steps: neither better nor worse by > 1 %
        out["ste_k3_over_float_same_steps"] = r["ste_k3"] / r["ste_float_same_steps"]
        out["ste_within_1pct_two_sided"] = abs(out["ste_k3_over_float_same_steps"] - 1.0) <= 0.01
    return out


def format_table(r: dict) -> str:
    L = r["val_loss"]
    rows = [("softmax baseline", L["baseline"], None),
            ("hybrid converted, step 0", L["converted_step0"], None),
            ("hybrid converted + 20% fine-tune", L["converted"], None),
            ("hybrid from scratch, full budget", L["hybrid_scratch"], None),
            ("hybrid from scratch, 20% budget", L["hybrid_scratch_short"], None)]
    for k in sorted(r["spiked"], key=float):
        rows.append((f"converted, spiked k={k}", L[f"spiked_{k}"], r["sparsity_T3"][k]))
    rows.append(("converted, spiked k=3 + INT8 weights", L["spiked_int8_k3"], r["sparsity_T3"].get("3")))
    if r.get("ste_k3") is not None:
        rows.append((f"converted, k=3 after {r['config']['ste_steps']} STE steps", L["ste_k3"], None))
    w = max(len(a) for a, _, _ in rows) + 2
    out = [f"{'model':<{w}}{'val loss':>10}{'ppl':>9}{'sparsity_T3':>13}"]
    for name, loss, sp in rows:
        out.append(f"{name:<{w}}{loss:>10.4f}{math.exp(loss):>9.3f}{'' if sp is None else f'{sp:.3f}':>13}")
    out.append("")
    out.append("softmax baseline spiked: " + ", ".join(f"k={k} ppl {v:.3f}" for k, v in r["spiked_baseline"].items()))
    s3 = r["sparsity"].get("3")
    if s3:
        out.append("k=3 counts: silent {:.3f}, mean|s| {:.3f}, |s|<=7 {:.3f}, spikes/element {:.3f}, "
                   "spikes/firing element {:.3f}".format(s3["silent_fraction"], s3["mean_abs_count"],
                                                          s3["share_abs_le_7"], s3["spikes_per_element"],
                                                          s3["spikes_per_firing_element"]))
    c = r["checks"]
    out.append("checks: k=3 cost {:+.2%} (<=3%: {}), monotone in k: {}, INT8+k3 cost {:+.2%} (<=5%: {}), "
               "hybrid/softmax {:.3f} (<=1.10: {}), converted/baseline {:.3f} (<=1.10: {}), "
               "converted vs scratch-20% {:.1%} better (>=20%: {})".format(
                   c["k3_ppl_cost"], c["k3_cost_le_3pct"], c["cost_monotone_in_k"], c["int8_k3_cost"],
                   c["int8_k3_cost_le_5pct"], c["hybrid_over_softmax"], c["hybrid_within_1.10"],
                   c["converted_over_baseline"], c["converted_within_1.10"], c["converted_gain_over_scratch_short"],
                   c["converted_beats_short_by_20pct"]))
    if "ste_k3_over_float" in c:
        out.append("STE: spiked k=3 after fine-tune / float converted = {:.4f} (within 1%: {})".format(
            c["ste_k3_over_float"], c["ste_within_1pct"]))
    if "ste_k3_over_float_same_steps" in c:
        out.append("STE: spiked k=3 / float fine-tuned for the same steps = {:.4f} (within +-1%: {})".format(
            c["ste_k3_over_float_same_steps"], c["ste_within_1pct_two_sided"]))
    out.append(f"elapsed {r['elapsed_s']:.0f} s")
    return "\n".join(out)


def plot(r: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    cur = r["_curves"]
    N = len(cur["baseline"])

    def smooth(xs, n=20):
        out, acc = [], 0.0
        for i, x in enumerate(xs):
            acc = x if i == 0 else acc + (x - acc) / min(i + 1, n)
            out.append(acc)
        return out

    a.plot(range(N), smooth(cur["baseline"]), label="softmax baseline")
    a.plot(range(N), smooth(cur["hybrid_scratch"]), label="hybrid, scratch")
    a.plot(range(len(cur["hybrid_scratch_short"])), smooth(cur["hybrid_scratch_short"]), label="hybrid, scratch 20%")
    a.plot(range(N, N + len(cur["converted"])), smooth(cur["converted"]), label="hybrid, converted (after baseline)")
    a.set_xlabel("training step")
    a.set_ylabel("train loss (nats/byte)")
    a.set_ylim(top=min(4.0, max(cur["baseline"])))
    a.legend()
    a.set_title("training")
    ks = sorted(r["spiked"], key=float)
    xs = [float(k) for k in ks]
    b.plot(xs, [r["spiked"][k] / r["converted"] - 1 for k in ks], "o-", label="hybrid (converted): ppl cost")
    b.plot(xs, [r["spiked_baseline"][k] / r["baseline"] - 1 for k in ks], "s--", label="softmax baseline: ppl cost")
    b.axhline(0.03, color="grey", lw=0.8, ls=":")
    b.set_xlabel("k (spikes per element)")
    b.set_ylabel("relative perplexity increase")
    b2 = b.twinx()
    b2.plot(xs, [r["sparsity_T3"][k] for k in ks], "^-", color="tab:green", label="sparsity_T3 (hybrid)")
    b2.set_ylabel("sparsity_T3")
    h1, l1 = b.get_legend_handles_labels()
    h2, l2 = b2.get_legend_handles_labels()
    b.legend(h1 + h2, l1 + l2, loc="upper right")
    b.set_title("post-hoc spiking")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="spiking-lm", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small model and budget (a few minutes)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    p.add_argument("--steps", type=int, default=None, help="baseline / full-budget training steps")
    p.add_argument("--ste-steps", type=int, default=None, help="STE fine-tune steps with k=3 spikes (0: skip)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, help="PNG path ('' for none); default out/spiking_lm[_quick].png")
    p.add_argument("--save-json", default=None, help="also write the full results (with curves) to this file")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    cfg = QUICK if a.quick else LMRunConfig()
    over = {"threads": a.threads, "seed": a.seed}
    if a.steps is not None:
        over["steps"] = a.steps
    if a.ste_steps is not None:
        over["ste_steps"] = a.ste_steps
    try:
        cfg = replace(cfg, **over)
    except ValueError as e:
        p.error(str(e))
    res = run(cfg, progress=not a.no_progress)
    print(format_table(res))
    path = a.plot if a.plot is not None else ("out/spiking_lm_quick.png" if a.quick else "out/spiking_lm.png")
    if path:
        plot(res, path)
        print(f"plot: {path}")
    if a.save_json:
        Path(a.save_json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.save_json).write_text(json.dumps(res, indent=1))
    if a.json:
        out = {k: v for k, v in res.items() if not k.startswith("_")}
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
