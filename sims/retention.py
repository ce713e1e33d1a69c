"""How much concept discrimination the population codes keep, per embedding dimension.

    python -m sims.retention                 # table + plot (out/retention.png)
    python -m sims.retention --json          # one JSON object on one line
    ember retention --embedder hashing       # fast, no torch (for smoke tests)

For every packaged real model (today only all-MiniLM-L6-v2, 384-d) the shipped evaluation
set (encoders/data/paraphrases.txt) is embedded once. Each dimension D of ``--dims`` is the
model's own (real) or reached by a seeded random orthogonal lift (an isometry: the raw
embeddings' cosines are unchanged). At each D the z-score top-k code and the power-law code
turn the embeddings into rates over N neurons, and the script reports

  retention  = Disc(rates) / Disc(raw embeddings)   (spec section 4 working definition)
  centroid   = leave-one-out nearest-centroid accuracy on the rates / on the raw embeddings
  mean rate  = the code's mean rate over neurons and texts (Hz)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from encoders.evalset import load_eval_set
from encoders.metrics import discrimination, nearest_centroid_accuracy
from encoders.population import PopulationCodeParams, PowerLawCode, ZScoreTopKCode
from encoders.projection import STANDARD_DIMS, project


@dataclass(frozen=True)
class RetentionParams:
    dims: tuple[int, ...] = STANDARD_DIMS
    embedder: str = "minilm"  # "minilm" (every packaged real model) or "hashing"
    n_neurons: int = 5000
    sparsity: float = 0.14
    r_max_hz: float = 100.0
    seed: int = 0
    powerlaw_exponent: float = 2.0
    data: str | None = None  # default: the shipped set

    def __post_init__(self) -> None:
        if not self.dims or any(int(d) < 2 for d in self.dims):
            raise ValueError(f"dims must be a non-empty list of ints >= 2, got {self.dims}")
        if self.embedder not in ("minilm", "hashing"):
            raise ValueError(f"embedder must be 'minilm' or 'hashing', got {self.embedder!r}")


@dataclass
class Row:
    model: str
    dim: int
    source: str  # "real" or "lift from <d>"
    zscore: float
    powerlaw: float
    zscore_centroid: float
    powerlaw_centroid: float
    zscore_mean_rate_hz: float
    powerlaw_mean_rate_hz: float
    zscore_active: float  # mean number of neurons with rate > 0


@dataclass
class RetentionResult:
    params: RetentionParams
    n_concepts: int
    n_texts: int
    raw: dict = field(default_factory=dict)  # model -> {"disc", "within", "between", "centroid"}
    rows: list[Row] = field(default_factory=list)
    embed_seconds: float = 0.0

    def primary(self) -> list[Row]:
        """One row per D: the real model where one has that D, else the lift of the first model."""
        by_dim: dict[int, Row] = {}
        for r in self.rows:
            if r.dim not in by_dim or (r.source == "real" and by_dim[r.dim].source != "real"):
                by_dim[r.dim] = r
        return [by_dim[d] for d in sorted(by_dim)]

    def to_json(self) -> dict:
        prim = self.primary()
        z = {str(r.dim): round(r.zscore, 4) for r in prim}
        vals = list(z.values())
        return {
            "zscore": z,
            "powerlaw": {str(r.dim): round(r.powerlaw, 4) for r in prim},
            "powerlaw_mean_rate_hz": {str(r.dim): round(r.powerlaw_mean_rate_hz, 5) for r in prim},
            "zscore_mean_rate_hz": {str(r.dim): round(r.zscore_mean_rate_hz, 4) for r in prim},
            "zscore_active_neurons": {str(r.dim): r.zscore_active for r in prim},
            "centroid_retention": {
                "zscore": {str(r.dim): round(r.zscore_centroid, 4) for r in prim},
                "powerlaw": {str(r.dim): round(r.powerlaw_centroid, 4) for r in prim},
            },
            "zscore_spread_pt": round(100 * (max(vals) - min(vals)), 2),
            "source": {str(r.dim): f"{r.model} ({r.source})" for r in prim},
            "raw": self.raw,
            "n_concepts": self.n_concepts,
            "n_texts": self.n_texts,
            "n_neurons": self.params.n_neurons,
            "sparsity": self.params.sparsity,
            "seed": self.params.seed,
            "all_rows": [vars(r) for r in self.rows],
        }


def _embedders(kind: str) -> list:
    if kind == "hashing":
        from encoders.hashing import HashingEmbedder
        return [HashingEmbedder(384)]
    from encoders.st import SentenceTransformerEmbedder, available_models
    names = available_models()
    if not names:
        raise SystemExit("no packaged embedding model is installed: pip install 'ember-snn[embed]'")
    return [SentenceTransformerEmbedder(n, on_overflow="error") for n in names]


def run(params: RetentionParams) -> RetentionResult:
    ev = load_eval_set(params.data, min_paraphrases=2)
    labels = ev.labels
    code_params = PopulationCodeParams(params.n_neurons, params.sparsity, params.r_max_hz, params.seed)
    res = RetentionResult(params, ev.n_concepts, len(ev))
    for emb in _embedders(params.embedder):
        t0 = time.perf_counter()
        e = emb.embed(list(ev.texts))
        res.embed_seconds += time.perf_counter() - t0
        d_raw = discrimination(e, labels)
        acc_raw = nearest_centroid_accuracy(e, labels)
        res.raw[emb.name] = {"dim": emb.dim, "disc": round(d_raw.disc, 4), "within": round(d_raw.within, 4),
                             "between": round(d_raw.between, 4), "centroid_accuracy": round(acc_raw, 4)}
        for d in params.dims:
            x = project(e, int(d), seed=params.seed)
            src = "real" if int(d) == emb.dim else f"lift from {emb.dim}"
            zr = ZScoreTopKCode(int(d), code_params).encode(x)
            pr = PowerLawCode(int(d), code_params, exponent=params.powerlaw_exponent).encode(x)
            res.rows.append(Row(
                model=emb.name, dim=int(d), source=src,
                zscore=discrimination(zr, labels).disc / d_raw.disc,
                powerlaw=discrimination(pr, labels).disc / d_raw.disc,
                zscore_centroid=nearest_centroid_accuracy(zr, labels) / acc_raw,
                powerlaw_centroid=nearest_centroid_accuracy(pr, labels) / acc_raw,
                zscore_mean_rate_hz=float(zr.mean()), powerlaw_mean_rate_hz=float(pr.mean()),
                zscore_active=float((zr > 0).sum(axis=1).mean()),
            ))
    return res


def sensitivity(params: RetentionParams, rhos=(0.0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95),
                alphas=(0.0, 0.25, 0.5, 0.75, 1.0), n_pairs: int = 50) -> dict:
    """Why the retention level depends on the embedding model (the spread across D does not).

    transfer: mean cosine between the z-score codes of two inputs whose embeddings have
    cosine rho (random pairs at D = dims[0]); f(0) is the code's floor for unrelated inputs.
    common_component: retention on the real embeddings after adding alpha times one fixed
    random unit vector to every embedding (then renormalising): a stand-in for the anisotropy
    of models such as BGE, whose unrelated sentences have cosines of 0.3-0.6. Analysis only;
    the retention figures of ``run`` never do this.
    """
    d0 = int(params.dims[0])
    code_params = PopulationCodeParams(params.n_neurons, params.sparsity, params.r_max_hz, params.seed)
    code = ZScoreTopKCode(d0, code_params)
    rng = np.random.default_rng(np.random.SeedSequence([params.seed, 77]))
    transfer = {}
    for rho in rhos:
        a = rng.standard_normal((n_pairs, d0))
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        b = rng.standard_normal((n_pairs, d0))
        b -= (b * a).sum(axis=1, keepdims=True) * a
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        y = rho * a + np.sqrt(1 - rho ** 2) * b
        ra, ry = code.encode(a), code.encode(y)
        cos = (ra * ry).sum(axis=1) / np.linalg.norm(ra, axis=1) / np.linalg.norm(ry, axis=1)
        transfer[f"{rho:g}"] = round(float(cos.mean()), 4)
    ev = load_eval_set(params.data)
    emb = _embedders(params.embedder)[0]
    e = project(emb.embed(list(ev.texts)), d0, seed=params.seed).astype(np.float64)
    m = rng.standard_normal(d0)
    m /= np.linalg.norm(m)
    common = {}
    for alpha in alphas:
        x = e / np.linalg.norm(e, axis=1, keepdims=True) + alpha * m
        raw = discrimination(x, ev.labels)
        rates = code.encode(x)
        common[f"{alpha:g}"] = {"raw_within": round(raw.within, 4), "raw_between": round(raw.between, 4),
                                "zscore_retention": round(discrimination(rates, ev.labels).disc / raw.disc, 4)}
    return {"model": emb.name, "dim": d0, "transfer": transfer, "common_component": common}


def format_sensitivity(sens: dict) -> str:
    lines = [f"z-score code transfer at D = {sens['dim']}: input cosine rho -> mean cosine of the two codes"]
    lines.append("  " + "  ".join(f"{k:>6}" for k in sens["transfer"]))
    lines.append("  " + "  ".join(f"{v:>6.3f}" for v in sens["transfer"].values()))
    lines.append("")
    lines.append(f"{sens['model']} embeddings + alpha * (a fixed random unit vector): anisotropy vs retention")
    lines.append(f"  {'alpha':>5} {'raw within':>10} {'raw between':>11} {'z-score retention':>17}")
    for a, v in sens["common_component"].items():
        lines.append(f"  {a:>5} {v['raw_within']:>10.3f} {v['raw_between']:>11.3f} {v['zscore_retention']:>17.3f}")
    return "\n".join(lines)


def format_table(res: RetentionResult) -> str:
    p = res.params
    lines = [f"retention on {res.n_concepts} concepts x {res.n_texts // max(1, res.n_concepts)} paraphrases "
             f"({res.n_texts} texts); N = {p.n_neurons}, s = {p.sparsity}, r_max = {p.r_max_hz} Hz, seed {p.seed}"]
    for name, raw in res.raw.items():
        lines.append(f"raw {name} ({raw['dim']}-d): within {raw['within']:.3f}, between {raw['between']:.3f}, "
                     f"Disc {raw['disc']:.3f}, nearest-centroid accuracy {raw['centroid_accuracy']:.3f}")
    hdr = (f"{'model':<18} {'D':>5} {'source':<14} {'z-score':>8} {'power-law':>9} {'z cent.':>8} "
           f"{'p cent.':>8} {'z rate Hz':>9} {'p rate Hz':>9} {'active':>7}")
    lines += ["", hdr, "-" * len(hdr)]
    for r in res.rows:
        lines.append(f"{r.model:<18} {r.dim:>5} {r.source:<14} {r.zscore:>8.3f} {r.powerlaw:>9.3f} "
                     f"{r.zscore_centroid:>8.3f} {r.powerlaw_centroid:>8.3f} {r.zscore_mean_rate_hz:>9.3f} "
                     f"{r.powerlaw_mean_rate_hz:>9.4f} {r.zscore_active:>7.1f}")
    z = [r.zscore for r in res.primary()]
    lines.append("")
    lines.append(f"z-score retention: min {min(z):.3f}, max {max(z):.3f}, spread {100 * (max(z) - min(z)):.2f} points; "
                 f"power-law mean rate {res.primary()[0].powerlaw_mean_rate_hz:.4f} -> "
                 f"{res.primary()[-1].powerlaw_mean_rate_hz:.4f} Hz from D = {res.primary()[0].dim} to {res.primary()[-1].dim}")
    return "\n".join(lines)


def save_plot(res: RetentionResult, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    prim = res.primary()
    dims = [r.dim for r in prim]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(dims, [r.zscore for r in prim], "o-", label="z-score top-k")
    a.plot(dims, [r.powerlaw for r in prim], "s--", label="power-law (max(cos,0)^%g)" % res.params.powerlaw_exponent)
    a.set_xscale("log")
    a.set_xticks(dims, [str(d) for d in dims])
    a.xaxis.set_minor_locator(NullLocator())
    a.set_xlabel("embedding dimension D")
    a.set_ylabel("retention = Disc(rates) / Disc(embeddings)")
    a.set_ylim(0, 1.05)
    a.legend()
    a.grid(alpha=0.3)
    b.plot(dims, [r.zscore_mean_rate_hz for r in prim], "o-", label="z-score top-k")
    b.plot(dims, [r.powerlaw_mean_rate_hz for r in prim], "s--", label="power-law")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xticks(dims, [str(d) for d in dims])
    b.xaxis.set_minor_locator(NullLocator())
    b.set_xlabel("embedding dimension D")
    b.set_ylabel("mean rate (Hz)")
    b.legend()
    b.grid(alpha=0.3)
    fig.suptitle(f"population codes over N = {res.params.n_neurons} neurons; {res.n_texts} texts, "
                 f"{', '.join(res.raw)}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ember retention", description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object (one line) and nothing else on stdout")
    ap.add_argument("--embedder", choices=("minilm", "hashing"), default="minilm",
                    help="minilm: every packaged real model (default); hashing: fast, no torch")
    ap.add_argument("--dims", default=",".join(str(d) for d in STANDARD_DIMS), help="comma-separated D values")
    ap.add_argument("--neurons", type=int, default=5000)
    ap.add_argument("--sparsity", type=float, default=0.14)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exponent", type=float, default=2.0, help="power-law exponent")
    ap.add_argument("--data", default=None, help="evaluation set file (default: the shipped one)")
    ap.add_argument("--plot", default="out/retention.png", help="where to save the plot ('' for none)")
    ap.add_argument("--sensitivity", action="store_true",
                    help="instead: how the code's similarity transfer and the embeddings' anisotropy set the level")
    a = ap.parse_args(argv)
    try:
        dims = tuple(int(d) for d in a.dims.split(",") if d.strip())
        params = RetentionParams(dims=dims, embedder=a.embedder, n_neurons=a.neurons, sparsity=a.sparsity,
                                 seed=a.seed, powerlaw_exponent=a.exponent, data=a.data)
        if a.sensitivity:
            sens = sensitivity(params)
            print(json.dumps(sens, separators=(",", ":")) if a.json else format_sensitivity(sens))
            return 0
        res = run(params)
    except (ValueError, OSError) as exc:  # EncoderInputError is a ValueError
        print(f"ember retention: {exc}", file=sys.stderr)
        return 2
    if a.plot:
        saved = save_plot(res, Path(a.plot))
    if a.json:
        print(json.dumps(res.to_json(), separators=(",", ":")))
    else:
        print(format_table(res))
        if a.plot:
            print(f"\nplot saved to {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
