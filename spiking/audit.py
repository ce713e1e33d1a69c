"""Audit calls on a running simulator: list, zero, quarantine and release synapses of a projection
by neuron sets; a networkx view; a growing store's statistics.

They read and write the simulator's arrays through its backend; ``Simulator.synapses`` and the
others are one-line doors to these functions.
"""
from __future__ import annotations

import numpy as np

from .params import ParameterError


def _arrays_backend(sim, pi):
    """The backend that holds projection pi's arrays as ``_select`` gives them (a growing store's
    are its host arrays, on a device backend the host mirror: ``_edited`` sends an edit up)."""
    if pi in sim.growing:
        from .backends import get_backend
        return get_backend("numpy")
    return sim.backend


def _edited(sim, pi) -> None:
    if pi in sim.growing:
        sim.growing[pi].mark_host_changed()


def _select(sim, label, pre=None, post=None, edit=False):
    """(projection index, built projection, arrays, selected synapse ids, pre of every synapse,
    post of every synapse). ``edit``: the caller will change weights (a uniform static projection
    then gets its own weight array, and the simulator notes the edit for snapshots)."""
    pi, p, arr = sim._projection(label)
    if edit:
        sim._note_edit(pi)
    be = sim.backend
    if pi in sim.growing:
        arr = sim.growing[pi].arrays()   # host views of the live synapses
        src, indices = arr["pre"].astype(np.int64), arr["post"]
    else:
        indptr, indices = be.to_host(arr["indptr"]), be.to_host(arr["indices"])
        src = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    keep = np.ones(indices.size, bool)
    if pre is not None:
        keep &= np.isin(src, np.asarray(pre))
    if post is not None:
        keep &= np.isin(indices, np.asarray(post))
    return pi, p, arr, np.nonzero(keep)[0], src, indices


def synapses(sim, label: str, pre=None, post=None) -> dict:
    """The synapses of projection ``label`` between neuron sets (all when None): synapse ids, pre,
    post, weight (the kept value for quarantined ones), a quarantine flag, and for a rule with a
    cascade each synapse's level."""
    pi, p, arr, j, src, dst = _select(sim, label, pre, post)
    be = _arrays_backend(sim, pi)
    if p.uniform_weight is not None:
        w = np.full(j.size, p.uniform_weight, np.float32)
    else:
        w = be.to_host(arr["weights"])[j].copy()
    q = np.zeros(j.size, bool)
    if "frozen" in arr:
        q = be.to_host(arr["frozen"])[j].astype(bool)
        w[q] = be.to_host(arr["saved_weights"])[j][q]
    out = {"synapse": j, "pre": src[j], "post": dst[j], "weight": w, "quarantined": q}
    if p.plastic is not None and p.plastic.cascade is not None:   # one cascade level per synapse
        out["level"] = be.to_host(arr["level"])[j].copy()
    return out


def zero_synapses(sim, label: str, pre=None, post=None) -> int:
    """Set the selected synapses to weight 0 (they may grow again if plastic); returns how many."""
    pi, p, arr, j, _, _ = _select(sim, label, pre, post, edit=True)
    be = _arrays_backend(sim, pi)
    w = be.to_host(arr["weights"]).copy()
    w[j] = 0.0
    be.write(arr["weights"], w)
    _edited(sim, pi)
    return int(j.size)


def quarantine(sim, label: str, pre=None, post=None, release: bool = False) -> int:
    """Quarantine (or release) synapses: a quarantined synapse keeps its value but transmits
    nothing and does not learn until released."""
    pi, p, arr, j, _, _ = _select(sim, label, pre, post)
    if "frozen" not in arr:
        raise ParameterError(f"projection {label!r} is static; quarantine applies to plastic projections")
    be = _arrays_backend(sim, pi)
    w, fr, sv = (be.to_host(arr[k]).copy() for k in ("weights", "frozen", "saved_weights"))
    if release:
        j = j[fr[j] == 1]
        w[j], fr[j] = sv[j], 0
    else:
        j = j[fr[j] == 0]
        sv[j], w[j], fr[j] = w[j], 0.0, 1
    for k, v in (("weights", w), ("frozen", fr), ("saved_weights", sv)):
        be.write(arr[k], v)
    _edited(sim, pi)
    if pi in sim.plastic:
        sim.plastic[pi].check_frozen = True
    return int(j.size)


def to_networkx(sim, label: str, min_weight: float = 0.0):
    """A networkx DiGraph of the projection's synapses with |weight| > min_weight."""
    import networkx as nx

    pi, p, arr = sim._projection(label)
    s = synapses(sim, label)
    g = nx.DiGraph(projection=label)
    keep = np.abs(s["weight"]) > min_weight
    for a, b, w, q in zip(s["pre"][keep], s["post"][keep], s["weight"][keep], s["quarantined"][keep]):
        g.add_edge((sim.groups[p.pre].name, int(a)), (sim.groups[p.post].name, int(b)), weight=float(w),
                   quarantined=bool(q))
    return g


def store_stats(sim, label: str, bins: int = 20) -> dict:
    """Counts and a weight histogram of a growing projection's store."""
    pi, p, arr = sim._projection(label)
    if pi not in sim.growing:
        raise KeyError(f"projection {label!r} is not a growing store")
    return sim.growing[pi].stats(bins)
