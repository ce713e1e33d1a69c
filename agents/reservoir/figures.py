"""Figures of the suite (spec section 5), saved as PNG."""
from __future__ import annotations

import os

import numpy as np

from . import analysis as an


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _save(plt, fig, out_dir, name):
    """Lay out, write ``out_dir/name`` as PNG, close the figure; returns the path."""
    fig.tight_layout()
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_all(keep: dict, summary: dict, out_dir: str) -> list:
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for fn in (task_schematic, traces_and_raster, amplitude_vs_p, switch_courses, cosine_over_training,
               ablations, foreperiod, nc_sine):
        p = fn(keep, summary, out_dir)
        if p:
            paths.append(p)
    return paths


def task_schematic(keep, summary, out_dir):
    plt = _plt()
    task = keep["task"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
    for b, ax in enumerate(axes):
        for i, c in enumerate(task.cues_in_block(b)):
            y = len(task.cues) - i
            ax.add_patch(plt.Rectangle((0, y - 0.3), task.pulse_ms, 0.6, color="k"))
            for L, pl in zip(c.latencies_ms, c.latency_probs):
                for j, (k, pk) in enumerate(c.identity_mix):
                    col = "tab:red" if k == task.identities[0] else "tab:blue"
                    h = 0.6 * c.p_event * pl * pk
                    ax.add_patch(plt.Rectangle((L, y - 0.3 + (0.6 - h) * (j == 1)), task.pulse_ms, h, color=col))
            mix = ", ".join(f"{k} {p:.1f}" for k, p in c.identity_mix)
            ax.text(task.trial_ms + 10, y, f"p={c.p_event:.1f}; {mix}", va="center", fontsize=7)
            ax.text(-20, y, c.name, ha="right", va="center")
        ax.set_xlim(-80, task.trial_ms + 260)
        ax.set_ylim(0.3, len(task.cues) + 0.7)
        ax.set_yticks([])
        ax.set_xlabel("time from cue (ms)")
        ax.set_title(f"block {b + 1}" + (" (after the switches)" if b else ""))
    fig.suptitle("Task: cue at 0 (black); stimulus A (red) / B (blue), height = probability", fontsize=9)
    return _save(plt, fig, out_dir, "1_task.png")


def traces_and_raster(keep, summary, out_dir):
    plt = _plt()
    task, Zs, timing, main, cache = keep["task"], keep["Zs"], keep["timing"], keep["main"], keep["cache"]
    cues = task.cues_in_block(0)
    fig, axes = plt.subplots(len(cues) + 1, 1, figsize=(8, 2 + 1.6 * len(cues)), sharex=True)
    tr = cache.get((cues[0].name, cues[0].latencies_ms[0], cues[0].identity_mix[0][0]))
    dt = cache.res.cfg.dt_ms
    sel = tr.spike_neurons < 200
    t = tr.spike_steps[sel] * dt - cache.res.cfg.pre_ms
    axes[0].plot(t, tr.spike_neurons[sel], ",k")
    axes[0].set_ylabel("neuron")
    axes[0].set_title(f"raster (200 of {cache.res.cfg.n_neurons} neurons), {cues[0].name} event trial", fontsize=9)
    tt = np.arange(timing.trial_rows) * timing.sample_ms
    w = main.when_avg[0]
    for ax, c in zip(axes[1:], cues):
        ax.plot(tt, an.aligned_output(w, Zs[(c.name, None, None)], timing), "k", label="omission probe")
        for k, _ in c.identity_mix:
            key = (c.name, c.latencies_ms[0], k)
            if key in Zs:
                ax.plot(tt, an.aligned_output(w, Zs[key], timing), lw=0.8, label=f"event {k}")
        L = c.latencies_ms[0]
        ax.axvspan(L, L + task.pulse_ms, color="0.85")
        ax.axhline(c.p_event, ls=":", color="tab:green")
        ax.set_ylabel(f"{c.name}\ny_when")
        ax.legend(fontsize=6, loc="upper right")
    axes[-1].set_xlabel("time from cue (ms); output aligned to the time it predicts")
    return _save(plt, fig, out_dir, "2_traces_raster.png")


def amplitude_vs_p(keep, summary, out_dir):
    plt = _plt()
    ev, fit = keep["ev"][0], keep["fit"]
    fig, ax = plt.subplots(figsize=(4, 4))
    for n in fit.get("cues", summary["amplitude_fit"]["cues"]) if isinstance(fit, dict) else []:
        pass
    names = summary["amplitude_fit"]["cues"]
    x = [ev["p"][n] for n in names]
    y = [ev["amplitude"][n] for n in names]
    ax.plot([0, 1], [0, 1], ":", color="0.5")
    ax.plot(x, y, "o")
    for n, a, b in zip(names, x, y):
        ax.annotate(n, (a, b), fontsize=8)
    xs = np.linspace(0, 1, 2)
    ax.plot(xs, fit["slope"] * xs + fit["intercept"], "k", lw=0.8)
    ax.set_xlabel("outcome probability p")
    ax.set_ylabel("mean prediction over [L, L+50)")
    ax.set_title(f"r = {fit['r']:.3f}, slope {fit['slope']:.2f}", fontsize=9)
    return _save(plt, fig, out_dir, "3_amplitude_vs_p.png")


def switch_courses(keep, summary, out_dir):
    plt = _plt()
    courses = keep["courses"]
    labels = list(courses)
    n = sum(len(courses[l]["measures"]) for l in labels)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.2))
    axes = np.atleast_1d(axes)
    i = 0
    cols = {"three_factor": "tab:red", "force": "tab:gray", "force_reset": "tab:blue"}
    for l in labels:
        c = courses[l]
        for j, (L, kind, old, new) in enumerate(c["measures"]):
            ax = axes[i]
            i += 1
            for learner in ("three_factor", "force", "force_reset"):
                d = c[learner]
                xs = [0] + list(d["cue_trials"])
                ys = [d["pre"][j]] + [v[j] for v in d["values"]]
                ax.plot(xs, ys, "-o" if learner != "three_factor" else "-", ms=3, color=cols[learner], label=learner)
            ax.axhline(new, ls=":", color="k")
            ax.set_title(f"{l} switch ({c['cue']}): {'when' if kind == 'when' else 'P(' + 'A)'} at {L:.0f} ms", fontsize=8)
            ax.set_xlabel(f"{c['cue']} trials after the switch")
    axes[0].legend(fontsize=7)
    return _save(plt, fig, out_dir, "4_switch_courses.png")


def cosine_over_training(keep, summary, out_dir):
    plt = _plt()
    main, unc, task = keep["main"], keep["unc"], keep["task"]
    n = main.when_hist.shape[0]
    idx = np.arange(9, n, 10)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for res, name, col in ((main, "centred", "tab:red"), (unc, "uncentred (control)", "tab:gray")):
        cs = [an.what_when_geometry(res.when_hist[i], res.what_hist[i])["max_abs_cos"] for i in idx]
        ax.plot(idx + 1, cs, color=col, label=name)
    band = 2 / np.sqrt(main.when_hist.shape[1] - 1)
    ax.axhspan(0, band, color="0.85", label="chance (2/sqrt N)")
    for s in task.block_starts[1:]:
        ax.axvline(s, ls="--", color="k", lw=0.8)
    ax.set_xlabel("trial")
    ax.set_ylabel("max_k |cos(w_when, w_k)|")
    ax.legend(fontsize=7)
    return _save(plt, fig, out_dir, "5_cosine.png")


def ablations(keep, summary, out_dir):
    if "ablations" not in keep:
        return None
    plt = _plt()
    ev = keep["ev"][0]
    names = list(ev["p"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.25
    x = np.arange(len(names))
    ax.bar(x - width, [ev["amplitude"][n] for n in names], width, label="default")
    for j, (k, (_, e)) in enumerate(keep["ablations"].items()):
        ax.bar(x + j * width, [e["amplitude"][n] for n in names], width, label=k)
    ax.plot(x, [ev["p"][n] for n in names], "k_", ms=20, label="p")
    ax.set_xticks(x)
    ax.set_xticklabels(names)
    ax.set_ylabel("window amplitude")
    ax.legend(fontsize=7)
    return _save(plt, fig, out_dir, "6_ablations.png")


def foreperiod(keep, summary, out_dir):
    if "foreperiod" not in keep:
        return None
    plt = _plt()
    f = keep["foreperiod"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    t = np.arange(f["y_avg"].size)
    ax.plot(t, f["y_avg"], "k", label="trial-averaged output")
    ax.plot(t, f["y_probe"], color="tab:orange", lw=0.8, label="cue-only probe (hazard-like)")
    for L, p in zip(f["latencies"], f["pi"]):
        ax.hlines(p, L, L + 50, color="tab:green")
    ax.set_xlabel("time from cue (ms)")
    ax.legend(fontsize=7)
    return _save(plt, fig, out_dir, "7_foreperiod.png")


def nc_sine(keep, summary, out_dir):
    if "nc_trace" not in keep:
        return None
    plt = _plt()
    tr = keep["nc_trace"]
    d = summary["nicola_clopath_sine"]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.plot(tr["t_ms"], tr["target"][:, 0], color="0.6", label="target")
    ax.plot(tr["t_ms"], tr["z"][:, 0], "k", lw=0.8, label="z (network output)")
    ax.axvspan(*d["train_ms"], color="tab:orange", alpha=0.15, label="RLS on")
    ax.set_xlabel("time (ms)")
    ax.set_title(f"Nicola & Clopath FORCE, N = {d['n_neurons']}: MAE {d['mae_before']:.2f} -> {d['mae_after']:.3f}",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    return _save(plt, fig, out_dir, "8_nicola_clopath_sine.png")
