"""Performance of EMBER's memory substrate, as one JSON object (issue figures side by side):

* idle of the whole network (feedforward, inhibition, detector, a lateral store of ``--lateral``
  synapses) next to the neurons-and-noise-only idle network of the same size (``ember idle-bench``),
  the two measured in turn, one simulated second each (``idle.pairs``: s per simulated second of
  each pair; the ratio is the pairs' median ratio, the real-time factors their means)
  and, when a Python with Brian2 is found, Brian2 cpp_standalone running the same idle network
  with the lateral synapses frozen (``sims/brian2_ember_idle.py``);
* one message presented: embed, code, 150 ms simulated with learning, readout;
* replay of 52 messages x 5 passes;
* checkpoint save and load, with the file size; peak RSS;
* on the cuda backend, launches and host transfers per simulated second (the full idle, and the
  neurons-only idle in device blocks and step by step) and the device memory in use.

    python -m sims.ember_bench --json [--scale 1.0] [--T 5] [--threads 2] [--backend numba|cuda]
                               [--brian2 PYTHON]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from .brian2_common import find_python
from .output import emit


@dataclass(frozen=True)
class BenchConfig:
    scale: float = 1.0
    T: float = 5.0                 # simulated idle seconds measured (after 1 s of warm-up)
    lateral: int = 200_000
    threads: int = 2
    backend: str = "numba"
    embedder: str = "minilm"
    brian2: str | None = None      # a Python with Brian2; None: $B2PY or the checks' venv when present


def _fill_lateral(sub, n: int, seed: int) -> dict:
    """Bring the lateral store to ``n`` synapses, as a long-lived memory would hold them (the paper:
    201,394 after three days, 64 graph nodes): new synapses join cells of every labelled assembly
    the configuration allows, with weights resampled from the learned synapses this run's dialogue
    and replay made (the store's own distribution; only the count is extrapolated). Returns the
    count and the weight distribution used."""
    from agents.ember.substrate import LATERAL
    sim = sub.sim
    pi, _, _ = sim._projection(LATERAL)
    store = sim.growing[pi]
    w = sim.synapses(LATERAL)["weight"]
    learned = w[sub._learned(w)]
    if learned.size == 0:
        raise ValueError("the bench's dialogue left no learned synapse to resample weights from")
    g = np.random.default_rng(seed)
    for k in range(sub.config.max_labels - len(sub.assemblies)):
        sub.assembly(f"bench label {k}", "person" if k % 5 == 0 else "topic")
    cells = np.concatenate([a.cells for a in sub.assemblies.values()])
    need = max(0, n - sub.synapse_count())
    while need > 0:
        pre, post = g.choice(cells, need), g.choice(cells, need)
        store.insert(pre, post, g.choice(learned, need))
        need = n - sub.synapse_count()
    wmax = sub.config.w_max
    return {"synapses": sub.synapse_count(), "weights_from": int(learned.size),
            "weight_mean_wmax": float(learned.mean() / wmax),
            "weight_quartiles_wmax": [float(q) for q in np.percentile(learned, [25, 50, 75]) / wmax]}


def _counters(be):
    """(launches, transfers) so far on a device backend that counts them; None elsewhere."""
    if not hasattr(be, "launches"):
        return None
    return be.launches, be.transfers


def _per_second(be, c0, seconds: float, why_not) -> dict:
    return {"launches_per_sim_s": (be.launches - c0[0]) / seconds,
            "launches_per_step": (be.launches - c0[0]) / (seconds * 1000.0),
            "transfers_per_sim_s": (be.transfers - c0[1]) / seconds,
            "device_blocks": why_not is None, "why_not_blocks": why_not}


def _device_peak():
    """Device memory in use now (bytes; None where the driver cannot say, e.g. the simulator)."""
    try:
        from numba import cuda
        free, total = cuda.current_context().get_memory_info()
        return int(total - free)
    except Exception:       # the simulator has no memory to report
        return None


def run(config: BenchConfig, seed: int = 0) -> dict:
    from agents.ember.substrate import Substrate, SubstrateConfig
    from spiking import LIF, Network, Population, Simulator
    out = {"scale": config.scale, "threads": config.threads, "backend": config.backend, "T_s": config.T}
    opts = {"threads": config.threads} if config.backend == "numba" else {}
    if config.embedder == "hashing":
        from encoders.hashing import HashingEmbedder
        enc = HashingEmbedder()
    else:
        from encoders.st import SentenceTransformerEmbedder
        enc = SentenceTransformerEmbedder()
    cfg = SubstrateConfig.at_scale(config.scale, seed)
    t0 = time.perf_counter()
    sub = Substrate(cfg, backend=config.backend, threads=config.threads, encoder=enc)
    out["build_s"] = time.perf_counter() - t0

    # one message: embed, code, 150 ms with learning, readout (the dialogue's, after one warm-up)
    d = json.load(open(os.path.join(os.path.dirname(__file__), "..", "agents", "ember", "data", "dialogue_ac6.json")))
    sub.present(d["messages"][0]["text"], d["messages"][0]["labels"], kinds=d["kinds"], message_id=1)
    walls = []
    for i, m in enumerate(d["messages"][1:], start=2):
        t0 = time.perf_counter()
        sub.present(m["text"], m["labels"], kinds=d["kinds"], message_id=i)
        walls.append(time.perf_counter() - t0)
    print(f"messages: median {np.median(walls):.2f} s", file=sys.stderr)
    out["message"] = {"wall_s_median": float(np.median(walls)), "wall_s_max": float(np.max(walls)),
                      "goal_s": 1.0, "pass": bool(np.median(walls) <= 1.0)}

    # replay 52 messages x 5 passes
    embs = [(sub.embed(m["text"]), m["labels"]) for m in d["messages"]]
    eps = [embs[k % len(embs)] for k in range(52)]
    t0 = time.perf_counter()
    rep = sub.consolidate(eps)
    w = time.perf_counter() - t0
    print(f"replay: {w:.1f} s", file=sys.stderr)
    out["replay_52x5"] = {"wall_s": w, "goal_s": 60.0, "pass": w <= 60.0, **rep}

    # idle with a lateral store of the requested size
    fill = _fill_lateral(sub, config.lateral, seed)
    out["lateral_synapses"] = fill.pop("synapses")
    out["lateral_weights"] = fill
    sub.idle(1.0)
    # the neurons-and-noise-only idle network of the same size, measured in turn with the full
    # one: one simulated second each, alternating, so that both see the same phases of a shared,
    # noisy machine; the ratio is the median of the pairs' ratios
    n = sum(cfg.sizes.values())
    bare_sim = Simulator(Network(populations=(Population("idle", n, LIF(v_th=cfg.v_th)),), dt_ms=1.0, seed=1),
                         backend=config.backend, **opts)
    bare_sim.run(1000.0, progress=False)
    from spiking import PopulationRate
    mons = {p: sub.sim.add_monitor(PopulationRate(p, bin_ms=1000.0)) for p in cfg.sizes}
    be = sub.sim.backend
    c0, cb0 = _counters(be), _counters(bare_sim.backend)
    pairs = []
    left = config.T
    while left > 1e-9:
        d = min(1.0, left)
        t0 = time.perf_counter()
        sub.idle(d)
        be.synchronize()
        tf = (time.perf_counter() - t0) / d
        t0 = time.perf_counter()
        bare_sim.run(d * 1000.0, progress=False)
        bare_sim.backend.synchronize()
        pairs.append((tf, (time.perf_counter() - t0) / d, d))
        left -= d
    full = sum(f * d for f, _, d in pairs) / config.T
    bare = sum(b * d for _, b, d in pairs) / config.T
    ratio = float(np.median([f / b for f, b, _ in pairs]))
    if c0 is not None:
        out["device_full"] = _per_second(be, c0, config.T, sub.sim._blocks.why_not())
        out["device_neurons_only"] = _per_second(bare_sim.backend, cb0, config.T, bare_sim._blocks.why_not())
    out["idle_rate_hz"] = {p: float(m.counts.mean() / cfg.sizes[p]) for p, m in mons.items()}
    out["idle_rate_hz"]["all"] = float(sum(m.counts.sum() for m in mons.values()) / config.T / sum(cfg.sizes.values()))
    for m in mons.values():
        sub.sim.monitors.remove(m)

    # checkpoint save / load
    tmp = tempfile.mkdtemp(prefix="ember-bench-")
    try:
        t0 = time.perf_counter()
        sub.save(tmp)
        save_s = time.perf_counter() - t0
        size = os.path.getsize(os.path.join(tmp, "substrate.h5"))
        t0 = time.perf_counter()
        Substrate.open(tmp, backend=config.backend, threads=config.threads, encoder=enc)
        load_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["checkpoint"] = {"save_s": save_s, "load_s": load_s, "bytes": size, "goal_s": 2.0,
                         "pass": save_s <= 2.0 and load_s <= 2.0}
    del sub

    if c0 is not None:
        bare_sim.block_runs = False                # the step-by-step path, for the launches it makes
        c0 = _counters(bare_sim.backend)
        bare_sim.run(100.0, progress=False)
        out["device_neurons_only_steps"] = _per_second(bare_sim.backend, c0, 0.1, "block runs off")
        out["device_peak_bytes"] = _device_peak()
    out["idle"] = {"rtf_full": full, "rtf_neurons_only": bare, "ratio_full_over_neurons_only": ratio,
                   "pairs": [[round(f, 4), round(b, 4)] for f, b, _ in pairs],
                   "goal_ratio": 1.3, "pass_ratio": ratio <= 1.3, "goal_rtf": 0.5, "neurons": n}

    b2 = find_python(config.brian2) if config.backend == "numba" else None
    if b2 is None:
        out["brian2"] = None
        out["brian2_note"] = "no Python with Brian2 found (--brian2 PYTHON or $B2PY)"
    else:
        script = os.path.join(os.path.dirname(__file__), "brian2_ember_idle.py")
        with tempfile.TemporaryDirectory(prefix="b2ember-") as bd:
            w_lat = out["lateral_weights"]["weight_mean_wmax"] * cfg.w_max   # the same mean weight as ours
            r = subprocess.run([b2, script, "--scale", str(config.scale), "--T", str(config.T), "--lateral",
                                str(config.lateral), "--w-lateral", f"{w_lat:.6g}", "--builddir", bd,
                                "--threads", str(config.threads)],      # the same thread count as ours
                               capture_output=True, text=True,
                               env=dict(os.environ, OMP_NUM_THREADS=str(config.threads)))
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
            out["brian2"] = res
            out["idle"]["rtf_brian2"] = res["rtf"]
            out["idle"]["speedup_vs_brian2"] = res["rtf"] / full
            out["idle"]["goal_speedup"] = 3.0
            out["idle"]["pass_brian2"] = res["rtf"] / full >= 3.0
        except (IndexError, ValueError, KeyError):
            out["brian2"] = None
            out["brian2_note"] = f"Brian2 run failed: {r.stderr.strip()[-300:]}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out["peak_rss_mb"] = peak
    out["peak_rss_pass"] = peak <= 2048.0
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sims.ember_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--T", type=float, default=5.0)
    ap.add_argument("--lateral", type=int, default=200_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", default="numba", choices=["numba", "numpy", "cuda"])
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    ap.add_argument("--brian2", default=None, help="a Python interpreter with Brian2 installed")
    a = ap.parse_args(argv)
    if not (0 < a.scale <= 1) or a.T <= 0 or a.lateral < 0:
        ap.error("need 0 < scale <= 1, T > 0 and lateral >= 0")
    res = run(BenchConfig(scale=a.scale, T=a.T, lateral=a.lateral, threads=a.threads, backend=a.backend,
                          embedder=a.embedder, brian2=a.brian2))
    emit(res, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
