"""The simulator's run-time state as data: ``SimState`` holds it as named host arrays plus plain
scalars; ``snapshot(sim)`` takes it and ``restore(sim, state)`` puts it back in place.

What is state and what is not: everything the per-step schedule changes is state (membranes,
recovery variables, synaptic currents and rise variables, refractory counters, external inputs,
Poisson rates, ring buffers, spike histories, plastic synapses with their traces, eligibilities,
cascade levels and flags, growing stores, modulator levels, queued injected spikes, each group's
random-stream key, a generator's position, the clock). What the build step derives from the
description and the seed is not (connectivity, delays, the weights of static projections, neuron
parameters), except static weights that an audit call changed, which then travel as state too.

Array keys::

    groups/<i>/<variable>                 a population's or source's state arrays
    projections/<j>/<array>               a plastic projection's weights, traces, flags, ...
                                          (or an edited static projection's weights)
    projections/<j>/grow/<array>          a growing store's live synapses and traces
    injected/steps | groups | indices     spikes queued with inject_spikes

Scalars: ``t``, ``groups/<i>`` (noise_key, gen_ptr, use_ext, sigma), ``projections/<j>`` (uniform,
edited, runtime scalars, a growing store's counters), ``modulators`` (tonic, phasic per channel).
"""
from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .params import ParameterError

PLASTIC_STATE = ("weights", "x_pre", "x_post", "elig", "level", "frozen", "potentiated", "saved_weights", "a_pre",
                 "last")


@dataclass
class SimState:
    """A simulator's run-time state: ``arrays`` (key -> host numpy array) and ``scalars`` (JSON-able)."""

    arrays: dict = field(default_factory=dict)
    scalars: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)    # a model's own state kept with a checkpoint (JSON-able)

    @property
    def t(self) -> int:
        return int(self.scalars["t"])

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))

    def copy(self) -> "SimState":
        return SimState({k: v.copy() for k, v in self.arrays.items()}, copy.deepcopy(self.scalars),
                        copy.deepcopy(self.extra))


def snapshot(sim) -> SimState:
    be = sim.backend
    be.synchronize()
    arrays, scalars = {}, {"t": int(sim.t)}
    for gi, g in enumerate(sim.groups):
        for k, v in g.state.items():
            arrays[f"groups/{gi}/{k}"] = np.array(be.to_host(v))
        if "hist_counts" in g.state:   # the counts are kept on the host while running
            arrays[f"groups/{gi}/hist_counts"] = np.array(g.hist_n, np.int64)
        sc = {"noise_key": int(g.noise_key), "gen_ptr": int(g.gen_ptr)}
        if g.kind in ("izh", "lif"):
            sc["sigma"] = float(g.params["sigma"])
            if "use_ext" in g.params:
                sc["use_ext"] = bool(g.params["use_ext"])
        scalars[f"groups/{gi}"] = sc
    for pj, (p, arr) in enumerate(sim.projections):
        sc = {"uniform": p.uniform_weight is not None, "edited": pj in sim._edited}
        if pj in sim.growing:
            st = sim.growing[pj]
            for k, v in st.state().items():
                arrays[f"projections/{pj}/grow/{k}"] = v
            sc["grow"] = st.scalars()
            sc["runtime"] = st.rt.scalars()
        elif pj in sim.plastic:
            for k in PLASTIC_STATE:
                if k in arr:
                    arrays[f"projections/{pj}/{k}"] = np.array(be.to_host(arr[k]))
            sc["runtime"] = sim.plastic[pj].scalars()
        elif pj in sim._edited:
            arrays[f"projections/{pj}/weights"] = np.array(be.to_host(arr["weights"]))
        scalars[f"projections/{pj}"] = sc
    scalars["modulators"] = {k: {"tonic": m.tonic, "phasic": m.phasic} for k, m in sim.modulator_state.items()}
    steps, groups, idx = [], [], []
    for s in sorted(sim._injected):
        for gi, ix in sim._injected[s]:
            steps.append(np.full(ix.size, s, np.int64))
            groups.append(np.full(ix.size, gi, np.int32))
            idx.append(np.asarray(ix, np.int32))
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    arrays["injected/steps"] = cat(steps, np.int64)
    arrays["injected/groups"] = cat(groups, np.int32)
    arrays["injected/indices"] = cat(idx, np.int32)
    return SimState(arrays, scalars)


def _expect(sim) -> dict:
    """key -> (shape, dtype) of every fixed-shape array a snapshot of ``sim`` holds (growing
    stores and the injected queue vary and are checked on their own)."""
    out = {}
    for gi, g in enumerate(sim.groups):
        for k, v in g.state.items():
            out[f"groups/{gi}/{k}"] = (tuple(v.shape), np.dtype(v.dtype))
    for pj, (p, arr) in enumerate(sim.projections):
        if pj in sim.plastic:
            for k in PLASTIC_STATE:
                if k in arr:
                    out[f"projections/{pj}/{k}"] = (tuple(arr[k].shape), np.dtype(arr[k].dtype))
        elif pj not in sim.growing:
            n = int(arr["indices"].shape[0])
            out[f"projections/{pj}/weights?"] = ((n,), np.dtype(np.float32))   # present only when edited
    return out


def _fail(msg: str):
    raise ParameterError(f"restore: the snapshot does not match this simulator: {msg}")


def check(sim, state: SimState) -> None:
    """Refuse a snapshot whose keys, shapes or dtypes do not match ``sim``'s network."""
    if not isinstance(state, SimState):
        raise ParameterError(f"restore needs a spiking.state.SimState (from snapshot()), got {type(state).__name__}")
    A, S = state.arrays, state.scalars
    want = _expect(sim)
    for key, (shape, dtype) in want.items():
        optional = key.endswith("?")
        k = key.rstrip("?")
        if k not in A:
            if optional:
                continue
            _fail(f"array {k!r} is missing")
        a = A[k]
        if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype:
            _fail(f"array {k!r} is {getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}, "
                  f"this network has {dtype} {shape}")
    known = {k.rstrip("?") for k in want} | {"injected/steps", "injected/groups", "injected/indices"}
    for pj in sim.growing:
        known |= {f"projections/{pj}/grow/{k}" for k in sim.growing[pj].state()}
    extra = sorted(set(A) - known)
    if extra:
        _fail(f"unexpected arrays {extra[:4]}")
    if "t" not in S or not isinstance(S["t"], int) or S["t"] < 0:
        _fail("no valid clock 't'")
    for gi, g in enumerate(sim.groups):
        sc = S.get(f"groups/{gi}")
        if not isinstance(sc, dict) or "noise_key" not in sc or "gen_ptr" not in sc:
            _fail(f"scalars of group {gi} ({g.name!r}) are missing")
    for pj, (p, arr) in enumerate(sim.projections):
        sc = S.get(f"projections/{pj}")
        if not isinstance(sc, dict) or "uniform" not in sc:
            _fail(f"scalars of projection {pj} ({p.label!r}) are missing")
        if (pj in sim.plastic or pj in sim.growing) and "runtime" not in sc:
            _fail(f"projection {p.label!r} has no plasticity scalars")
        if sc.get("edited") and f"projections/{pj}/weights" not in A:
            _fail(f"projection {p.label!r} is marked edited but has no weights")
        if pj in sim.growing:
            st = sim.growing[pj]
            g = sc.get("grow")
            if not isinstance(g, dict) or "n" not in g:
                _fail(f"growing projection {p.label!r} has no store counters")
            n = int(g["n"])
            for k, v in st.state().items():
                a = A.get(f"projections/{pj}/grow/{k}")
                if a is None:
                    _fail(f"growing projection {p.label!r} lacks {k!r}")
                size = st.n_pre if k == "x_pre" else st.n_post if k == "x_post" else n
                if a.shape != (size,) or a.dtype != v.dtype:
                    _fail(f"growing projection {p.label!r}: {k!r} is {a.dtype} {a.shape}, expected {v.dtype} ({size},)")
            if n and (A[f"projections/{pj}/grow/pre"].max() >= st.n_pre or A[f"projections/{pj}/grow/post"].max()
                      >= st.n_post or min(A[f"projections/{pj}/grow/pre"].min(), A[f"projections/{pj}/grow/post"].min()) < 0):
                _fail(f"growing projection {p.label!r} names neurons outside its populations")
    mods = S.get("modulators")
    if not isinstance(mods, dict) or set(mods) != set(sim.modulator_state):
        _fail(f"modulator channels {sorted(mods) if isinstance(mods, dict) else mods} differ from "
              f"{sorted(sim.modulator_state)}")
    st, sg, si = A.get("injected/steps"), A.get("injected/groups"), A.get("injected/indices")
    if st is None or sg is None or si is None or not (st.shape == sg.shape == si.shape):
        _fail("the injected-spike queue is missing or inconsistent")
    for gi in np.unique(sg):
        if gi < 0 or gi >= len(sim.groups):
            _fail(f"queued spikes name group {int(gi)}")
        sel = si[sg == gi]
        if sel.size and (sel.min() < 0 or sel.max() >= sim.groups[int(gi)].size):
            _fail(f"queued spikes of group {int(gi)} are out of range")


def restore(sim, state: SimState) -> None:
    check(sim, state)
    be = sim.backend
    A, S = state.arrays, state.scalars
    sim.t = int(S["t"])
    for gi, g in enumerate(sim.groups):
        for k in g.state:
            be.write(g.state[k], np.ascontiguousarray(A[f"groups/{gi}/{k}"]))
        if "hist_counts" in g.state:
            g.hist_n = np.array(A[f"groups/{gi}/hist_counts"], np.int64)
        sc = S[f"groups/{gi}"]
        g.noise_key = int(sc["noise_key"])
        g.gen_ptr = int(sc["gen_ptr"])
        if "sigma" in sc and g.kind in ("izh", "lif"):
            g.params["sigma"] = float(sc["sigma"])
        if "use_ext" in sc and "use_ext" in g.params:
            g.params["use_ext"] = bool(sc["use_ext"])
        if g.kind in ("izh", "lif"):
            g.refresh()
        if g.kind == "poisson":
            g.note_rates(A[f"groups/{gi}/p"])
        g.n = 0
    for pj, (p, arr) in enumerate(sim.projections):
        sc = S[f"projections/{pj}"]
        if pj in sim.growing:
            st = sim.growing[pj]
            st.restore({k: A[f"projections/{pj}/grow/{k}"] for k in st.state()}, sc["grow"])
            st.rt.set_scalars(sc["runtime"])
            st.bind_runtime()
        elif pj in sim.plastic:
            for k in PLASTIC_STATE:
                if k in arr:
                    be.write(arr[k], np.ascontiguousarray(A[f"projections/{pj}/{k}"]))
            sim.plastic[pj].set_scalars(sc["runtime"])
        else:
            w = A.get(f"projections/{pj}/weights")
            if w is not None:                     # edited weights travel as state
                sim._note_edit(pj)
                be.write(arr["weights"], np.ascontiguousarray(w))
            elif pj in sim._edited:               # edited since the snapshot: back to the built weights
                be.write(arr["weights"], sim._edited.pop(pj))
                if sc["uniform"] and p.built_uniform_weight is not None:
                    p.uniform_weight, p.built_uniform_weight = p.built_uniform_weight, None
                    arr["weights"] = be.zeros(0, np.float32)
    for name, m in S["modulators"].items():
        sim.modulator_state[name].tonic = float(m["tonic"])
        sim.modulator_state[name].phasic = float(m["phasic"])
    sim._injected = defaultdict(list)
    steps, gids, idx = A["injected/steps"], A["injected/groups"], A["injected/indices"]
    for s in np.unique(steps):
        for gi in np.unique(gids[steps == s]):
            sel = (steps == s) & (gids == gi)
            sim._injected[int(s)].append((int(gi), idx[sel].astype(np.int32)))
