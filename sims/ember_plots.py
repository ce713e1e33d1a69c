"""The pictures of EMBER's memory (``ember inspect --plots``, ``ember demo``), drawn with matplotlib
(Agg) from a substrate's state: nothing here runs the network."""
from __future__ import annotations

import os


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def synapses_over_time(sub, path: str) -> str:
    """The learned-synapse count at each checkpoint (``meta["history"]``), sleeps dotted."""
    fig, ax = _plt().subplots(figsize=(7, 3.2))
    hist = sub.meta.get("history", [])
    if hist:
        ax.plot([h[0] / 3600 for h in hist], [h[1] for h in hist], "-o", ms=2)
    for s in sub.meta.get("sleeps", []):
        ax.axvline(s["t_s"] / 3600, color="k", ls=":", lw=0.8)
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("learned lateral synapses")
    ax.set_title("synapses over time (sleeps dotted)")
    return save(fig, path)


def association_graph(sub, path: str, min_count: int = 10) -> str:
    """Labelled assemblies (persons orange) and the label pairs with at least ``min_count``
    learned lateral synapses, edge width by mean weight."""
    import networkx as nx
    g = sub.association_graph()
    g.remove_edges_from([(u, v) for u, v, d in g.edges(data=True) if u == v or d["count"] < min_count])
    fig, ax = _plt().subplots(figsize=(6.5, 5.5))
    if g.number_of_nodes():
        pos = nx.spring_layout(g, seed=0)
        col = ["C1" if d.get("kind") == "person" else "C0" for _, d in g.nodes(data=True)]
        w = [1 + 6 * d["weight"] for _, _, d in g.edges(data=True)]
        nx.draw_networkx(g, pos, ax=ax, node_color=col, width=w, font_size=8, node_size=300, arrowsize=8,
                         edge_color="0.5", connectionstyle="arc3,rad=0.1", arrows=True)
    ax.set_title(f"association graph (persons orange; width: mean weight; >= {min_count} synapses)")
    ax.axis("off")
    return save(fig, path)


def impulse_rates(sub, path: str, last: int = 3) -> str:
    """The involved assemblies' rates in the 30 s before each of the ``last`` impulses (from their
    packages), with 3x each detected assembly's baseline dashed."""
    imps = [i for i in sub.impulses if i.rates][-last:]
    fig, axes = _plt().subplots(1, max(1, len(imps)), figsize=(4.2 * max(1, len(imps)), 3.2), squeeze=False)
    for ax, imp in zip(axes[0], imps):
        r = imp.rates
        t = [(r["t0_s"] + k * r["bin_s"] - imp.t_s) for k in range(len(r["hz"][0]))]
        for lab, hz in zip(r["labels"], r["hz"]):
            ax.plot(t, hz, label=lab)
        for b in {d["label"]: d["baseline_hz"] for d in imp.detections}.values():
            ax.axhline(3 * b, color="k", ls="--", lw=0.7)
        ax.set_title(f"impulse at {imp.t_s / 3600:.2f} h", fontsize=9)
        ax.set_xlabel("s before the trigger")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("assembly rate (Hz); dashed: 3x baseline")
    if not imps:
        axes[0][0].text(0.5, 0.5, "no impulse yet", ha="center", va="center", transform=axes[0][0].transAxes)
    return save(fig, path)


def inspect_plots(sub, out_dir: str) -> list[str]:
    """``ember inspect --plots DIR``: synapses.png, graph.png and impulses.png."""
    os.makedirs(out_dir, exist_ok=True)
    return [synapses_over_time(sub, os.path.join(out_dir, "synapses.png")),
            association_graph(sub, os.path.join(out_dir, "graph.png")),
            impulse_rates(sub, os.path.join(out_dir, "impulses.png"))]
