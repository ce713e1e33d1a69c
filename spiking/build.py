"""Description -> flat arrays.  The only module that knows both the model classes and
the array layout the kernels take.

Connectivity is sampled on the host with a counter-based hash (numba), so a given
seed always yields the same synapses whatever the backend; rows of every CSR matrix
are sorted by target.  Per-projection streams: connectivity uses
``stream_key(seed, 1, proj_index)``, weights/delays a numpy Generator seeded with
``(seed, 2, proj_index)``; noise of population p uses ``stream_key(seed, 3, p)``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .kernels.order import counting_sort
from .kernels.rng import GOLDEN, mix64, stream_key, uniform_from_hash
from .model import (FixedInDegree, FixedOutDegree, LogNormal, Network, Pairs, PoissonSource,
                    Population, Probability, Projection, SpikeGenerator, Uniform, receptor_index)
from .params import LIF, Izhikevich, ParameterError

STREAM_CONN, STREAM_WEIGHTS, STREAM_NOISE, STREAM_POISSON = 1, 2, 3, 4


@njit(cache=True)
def _sample_rows(counts, n_cand, do_excl, exclude_offset, key, indptr, out):
    """For row r draw counts[r] distinct ints in [0, n_cand) (minus r + exclude_offset when
    do_excl), sorted.  Rejection with a marker array, or a partial
    Fisher-Yates when more than half of the candidates are taken."""
    mark = np.zeros(n_cand, dtype=np.uint8)
    perm = np.empty(0, dtype=np.int64)
    for r in range(counts.shape[0]):
        k = counts[r]
        base = indptr[r]
        excl = r + exclude_offset if do_excl else -1
        m = n_cand - 1 if (excl >= 0 and excl < n_cand) else n_cand
        rk = mix64(key + np.uint64(r) * GOLDEN)
        c = np.uint64(0)
        if 2 * k <= m:
            got = 0
            while got < k:
                c += np.uint64(1)
                x = np.int64(uniform_from_hash(mix64(rk + c * GOLDEN)) * m)
                if excl >= 0 and excl < n_cand and x >= excl:
                    x += 1
                if mark[x] == 0:
                    mark[x] = 1
                    out[base + got] = x
                    got += 1
            for j in range(k):
                mark[out[base + j]] = 0
        else:
            if perm.shape[0] != n_cand:
                perm = np.empty(n_cand, dtype=np.int64)
            q = 0
            for x in range(n_cand):
                if x != excl:
                    perm[q] = x
                    q += 1
            for j in range(k):
                c += np.uint64(1)
                s = j + np.int64(uniform_from_hash(mix64(rk + c * GOLDEN)) * (m - j))
                tmp = perm[j]
                perm[j] = perm[s]
                perm[s] = tmp
                out[base + j] = perm[j]
        out[base:base + k].sort()


@njit(cache=True)
def _csr_arrays(pre, post, n_pre, n_post):
    """(indptr, indices int32, order) of the pairs by pre, each row by post, ties in input order.
    Stable counting passes: by post (skipped when ``post`` is already non-decreasing, as for a
    fixed in-degree), then by pre."""
    n = pre.shape[0]
    sorted_post = True
    for q in range(1, n):
        if post[q] < post[q - 1]:
            sorted_post = False
            break
    order = np.arange(n)
    if not sorted_post:
        order = counting_sort(post, order, n_post)[1]
    indptr, out = counting_sort(pre, order, n_pre)
    indices = np.empty(n, np.int32)
    for q in range(n):
        indices[q] = post[out[q]]
    return indptr, indices, out


def _csr_from_pairs(pre, post, n_pre):
    """CSR by pre, each row by post, ties in input order: the order of
    ``np.lexsort((post, pre))``, by stable counting passes (O(n + n_pre + n_post); a comparison
    sort of the ~10^7 static synapses took 2 s of EMBER's 2.8 s build)."""
    pre = np.asarray(pre)
    post = np.asarray(post)
    n_post = int(post.max()) + 1 if post.size else 0
    return _csr_arrays(pre, post, int(n_pre), n_post)


def connect(proj: Projection, n_pre_pop: int, n_post_pop: int, same_pop: bool, key) -> tuple:
    """Return (indptr int64[n_pre_pop+1], indices int32[n_syn], order) of one projection
    over the whole pre population (rows outside ``pre_range`` are empty, targets are
    indices into the whole post population); ``order`` maps explicit per-pair values
    to synapse order (None otherwise)."""
    c = proj.connectivity
    from .growth import Grow
    if isinstance(c, Grow):   # starts empty: the GrowingStore holds the synapses
        return np.zeros(n_pre_pop + 1, np.int64), np.zeros(0, np.int32), None
    if isinstance(c, Pairs):
        if proj.pre_range is not None or proj.post_range is not None:
            raise ParameterError(f"Projection {proj.label}: Pairs take population indices; do not combine them with pre_range/post_range")
        pre = np.asarray(c.pre, dtype=np.int64)
        post = np.asarray(c.post, dtype=np.int64)
        if pre.size and (pre.min() < 0 or pre.max() >= n_pre_pop or post.min() < 0 or post.max() >= n_post_pop):
            raise ParameterError(f"Projection {proj.label}: pair indices out of range (pre < {n_pre_pop}, post < {n_post_pop})")
        return _csr_from_pairs(pre, post, n_pre_pop)
    p0, p1 = proj.pre_range or (0, n_pre_pop)
    q0, q1 = proj.post_range or (0, n_post_pop)
    indptr, indices, order = _connect_local(proj, p1 - p0, q1 - q0, same_pop, p0 - q0, key)
    full = np.zeros(n_pre_pop + 1, dtype=np.int64)
    full[p0 + 1:p1 + 1] = indptr[1:]
    full[p1 + 1:] = indptr[-1]
    if q0:
        indices += np.int32(q0)
    return full, indices, order


def _connect_local(proj, n_pre, n_post, same_pop, offset, key):
    c = proj.connectivity
    do_excl = bool(same_pop and not getattr(c, "autapses", True))
    # the candidate that is the row itself (local post index r + offset) is excluded when do_excl
    if isinstance(c, FixedInDegree):
        m = n_pre - (1 if do_excl else 0)
        if c.k > m:
            raise ParameterError(f"Projection {proj.label}: in-degree {c.k} exceeds the {m} possible sources")
        counts = np.full(n_post, c.k, dtype=np.int64)
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        src = np.empty(indptr[-1], dtype=np.int32)
        _sample_rows(counts, n_pre, do_excl, -offset, np.uint64(key), indptr, src)
        post = np.repeat(np.arange(n_post, dtype=np.int32), counts)
        ip, idx, _ = _csr_from_pairs(src, post, n_pre)
        return ip, idx, None
    m = n_post - (1 if do_excl else 0)
    if isinstance(c, FixedOutDegree):
        if c.k > m:
            raise ParameterError(f"Projection {proj.label}: out-degree {c.k} exceeds the {m} possible targets")
        counts = np.full(n_pre, c.k, dtype=np.int64)
    elif isinstance(c, Probability):
        g = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(key) & 0xFFFFFFFF, int(key) >> 32])))
        counts = g.binomial(m, float(c.p), size=n_pre).astype(np.int64)
    else:  # pragma: no cover - validated in Projection
        raise ParameterError(f"unknown connectivity {c!r}")
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    out = np.empty(indptr[-1], dtype=np.int32)
    _sample_rows(counts, n_post, do_excl, offset, np.uint64(key), indptr, out)
    return indptr, out, None


def _values(spec, n, g, what, label, order, dtype=np.float64):
    if isinstance(spec, Uniform):
        return g.uniform(spec.low, spec.high, size=n).astype(dtype, copy=False)
    if isinstance(spec, LogNormal):
        return (spec.scale * np.exp(g.normal(spec.mu, spec.sigma, size=n))).astype(dtype, copy=False)
    arr = np.asarray(spec, dtype=float)
    if arr.ndim == 0:
        return np.full(n, float(arr), dtype=dtype)
    if arr.shape != (n,):
        raise ParameterError(f"Projection {label}: {what} array has {arr.size} values for {n} synapses")
    return arr[order] if order is not None else arr


@dataclass
class BuiltProjection:
    label: str
    pre: int           # index into the ordered list of all groups (neurons then sources)
    post: int
    target: str        # "pulse" or "current"
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    delay_steps: int   # homogeneous delay in steps, or -1 when ``delays`` is used
    delays: np.ndarray | None
    plastic: object = None                      # STDP rule or None
    extra: dict = field(default_factory=dict)   # plasticity arrays (traces, CSC index, eligibility, ...)
    grow: object = None                         # a Grow spec: the synapses live in a GrowingStore
    receptor: int = 0                           # the post model's receptor (row of its current ring)
    uniform_weight: object = None               # float32 when every synapse has this weight (static)
    built_uniform_weight: object = None         # the uniform value once the weights were materialised


@dataclass
class BuiltGroup:
    """One population or source: its kind, size, constant parameters and state arrays."""
    name: str
    kind: str          # "izh", "lif", "poisson", "generator"
    size: int
    params: dict = field(default_factory=dict)     # scalars (float32/int) and constant arrays
    state: dict = field(default_factory=dict)      # arrays that change while running
    noise_key: int = 0


def _izh_group(p: Population, dt: float) -> BuiltGroup:
    m: Izhikevich = p.model
    n = p.size
    if m.receptors:
        return _izh_receptors_group(p, dt)
    f32 = lambda name, default: np.array(np.broadcast_to(  # noqa: E731
        np.asarray(p.per_neuron.get(name, default), dtype=np.float32), (n,)), dtype=np.float32)
    a, b, c, d = f32("a", m.a), f32("b", m.b), f32("c_mV", m.c_mV), f32("d", m.d)
    v0 = f32("v_init_mV", m.v_init_mV).copy()
    from .params import rise_gain
    use_rise = m.tau_rise_ms > 0
    params = {"a": a, "b": b, "c": c, "d": d,
              "syn_decay": np.float32(np.exp(-dt / m.tau_syn_ms)),
              "use_rise": bool(use_rise),
              "rise_decay": np.float32(np.exp(-dt / m.tau_rise_ms) if use_rise else 0.0),
              "rise_gain": np.float32(rise_gain(m.tau_rise_ms, m.tau_syn_ms, dt) if use_rise else 0.0),
              "dt": np.float32(dt), "half_steps": bool(m.half_steps),
              "v_peak": np.float32(m.v_peak_mV), "sigma": float(m.noise_sigma * (1.0 / dt) ** 0.5),
              "general": m.form == "2007", "k": np.float32(m.k), "vr": np.float32(m.v_r_mV),
              "vt": np.float32(m.v_t_mV), "inv_c": np.float32(1.0 / m.C),
              "use_syn": False, "use_ext": bool(np.any(f32("i_ext", m.i_ext) != 0))}
    state = {"v": v0, "u": (b * v0).astype(np.float32), "i_syn": np.zeros(n, np.float32),
             "i_rise": np.zeros(n if use_rise else 1, np.float32), "i_ext": f32("i_ext", m.i_ext).copy()}
    return BuiltGroup(p.name, "izh", n, params, state)


def _izh_receptors_group(p: Population, dt: float) -> BuiltGroup:
    """An Izhikevich population with named receptors: the one-synapse group's arrays, with I_syn and
    the rise variables as (R, n), the per-receptor constants, and two work rows for its step."""
    m: Izhikevich = p.model
    g = _izh_group(Population(p.name, p.size, dataclasses.replace(m, receptors=()), p.per_neuron), dt)
    n, nr = p.size, len(m.receptors)
    rp = m.receptor_propagators(dt)
    g.params.update(multi=True, use_syn=True, use_rise=False,
                    r_p11=np.asarray(rp["p11"], np.float32), r_rise_decay=np.asarray(rp["rise_decay"], np.float32),
                    r_rise_gain=np.asarray(rp["rise_gain"], np.float32), r_e_rev=np.asarray(rp["e_rev"], np.float32),
                    r_cond=np.asarray(rp["cond"], np.uint8), r_rise=np.asarray(rp["rise"], np.uint8),
                    total=np.zeros(n, np.float32), zero=np.zeros(n, np.float32))
    g.state["i_syn"] = np.zeros((nr, n), np.float32)
    g.state["i_rise"] = np.zeros((nr, n if any(rp["rise"]) else 1), np.float32)
    return g


def _lif_group(p: Population, dt: float) -> BuiltGroup:
    m: LIF = p.model
    n = p.size
    if m.receptors:
        return _lif_receptors_group(p, dt)
    pr = m.propagators(dt)
    params = {k: np.float32(v) for k, v in pr.items()}
    use_rise = m.tau_rise_ms > 0
    params.update(use_rise=bool(use_rise), v_th=np.float32(m.v_th), v_reset=np.float32(m.v_reset),
                  ref_steps=int(round(m.t_ref_ms / dt)), sigma=float(m.noise_sigma * np.sqrt(dt / 1.0)))
    ie = np.asarray(p.per_neuron.get("i_ext", m.i_ext), dtype=np.float32)
    v0 = np.asarray(p.per_neuron.get("v_init", m.v_init), dtype=np.float32)
    state = {"v": np.ascontiguousarray(np.broadcast_to(v0, (n,))).copy(),
             "i_syn": np.zeros(n, np.float32), "refr": np.zeros(n, np.int32),
             "i_rise": np.zeros(n if use_rise else 1, np.float32),
             "i_ext": np.ascontiguousarray(np.broadcast_to(ie, (n,))).copy()}
    return BuiltGroup(p.name, "lif", n, params, state)


def _lif_receptors_group(p: Population, dt: float) -> BuiltGroup:
    """A LIF with named receptors: per-receptor constants as arrays of length R, and I_syn /
    the rise variables as (R, n) arrays (row r: receptor r); ``multi`` selects its kernel."""
    m: LIF = p.model
    n, nr = p.size, len(m.receptors)
    pr = m.propagators(dt)
    rp = m.receptor_propagators(dt)
    any_rise = any(rp["rise"])
    params = {"multi": True, "p22": np.float32(pr["p22"]), "p20": np.float32(pr["p20"]),
              "dt_tau": float(dt / m.tau_m_ms), "has_cond": bool(any(rp["cond"])), "any_rise": bool(any_rise),
              "v_th": np.float32(m.v_th), "v_reset": np.float32(m.v_reset), "ref_steps": int(round(m.t_ref_ms / dt)),
              "sigma": float(m.noise_sigma * np.sqrt(dt / 1.0))}
    for k in ("p21", "p11", "p2h", "rise_decay", "rise_gain", "e_rev"):
        params["r_" + k] = np.asarray(rp[k], np.float32)
    params["r_cond"] = np.asarray(rp["cond"], np.uint8)
    params["r_rise"] = np.asarray(rp["rise"], np.uint8)
    ie = np.asarray(p.per_neuron.get("i_ext", m.i_ext), dtype=np.float32)
    v0 = np.asarray(p.per_neuron.get("v_init", m.v_init), dtype=np.float32)
    state = {"v": np.ascontiguousarray(np.broadcast_to(v0, (n,))).copy(),
             "i_syn": np.zeros((nr, n), np.float32), "refr": np.zeros(n, np.int32),
             "i_rise": np.zeros((nr, n if any_rise else 1), np.float32),
             "i_ext": np.ascontiguousarray(np.broadcast_to(ie, (n,))).copy()}
    return BuiltGroup(p.name, "lif", n, params, state)


def receptor_count(g: BuiltGroup) -> int:
    """Rows of a neuron group's current ring per slot: its receptors (0: one row, the classic layout)."""
    return int(g.state["i_syn"].shape[0]) if g.params.get("multi") else 0


@dataclass
class ModulatorState:
    """A neuromodulator channel's run-time level: D(t) = tonic + phasic; the phasic part decays by
    ``decay`` per step."""
    tonic: float
    phasic: float
    decay: float

    @property
    def level(self) -> float:
        return self.tonic + self.phasic


@dataclass
class BuiltNetwork:
    """Everything the simulator runs, as plain host arrays and records: one ``BuiltGroup`` per
    population or source (its state includes the ring buffers and, where a plastic projection
    reads it, the spike history), one ``BuiltProjection`` per projection, the current-switch
    table (step -> [(group, neurons or None, delta)]) and the modulator channels."""
    groups: list
    projections: list
    ring: dict
    history: dict            # group index -> spike-history depth in steps
    current_events: dict
    modulators: dict


def build(net: Network) -> BuiltNetwork:
    """Build ``net``: plain numpy arrays and records, the same on every backend."""
    groups, projs, ring = _build_arrays(net)
    dt = float(net.dt_ms)
    history = {}
    for p in projs:
        if p.grow is not None:
            window = max(1, int(round(p.grow.candidate_window_ms / dt)))
            history[p.pre] = max(history.get(p.pre, 0), p.delay_steps + window)
        elif p.plastic is not None:
            depth = p.delay_steps if p.delay_steps > 0 else int(np.max(p.delays, initial=1))
            history[p.pre] = max(history.get(p.pre, 0), depth)
    for gi, g in enumerate(groups):
        if g.kind in ("izh", "lif"):
            rows = ring.get(gi, 1)
            g.state["pulse_ring"] = np.zeros((rows, g.size), np.float32)
            nr = receptor_count(g)
            g.state["current_ring"] = np.zeros((rows, nr, g.size) if nr else (rows, g.size), np.float32)
        if gi in history:
            g.state["hist_spikes"] = np.zeros((history[gi], g.size + 1), np.int32)
            g.state["hist_counts"] = np.zeros(history[gi], np.int64)
    index = {g.name: i for i, g in enumerate(groups)}
    events: dict = {}
    for c in net.currents:
        gi = index[c.target]
        idx = None if c.neurons is None else np.unique(np.asarray(c.neurons, dtype=np.int64))
        events.setdefault(int(round(c.start_ms / dt)), []).append((gi, idx, float(c.amplitude)))
        if np.isfinite(c.stop_ms):
            events.setdefault(int(round(c.stop_ms / dt)), []).append((gi, idx, -float(c.amplitude)))
        groups[gi].params["use_ext"] = True
    mods = {m.name: ModulatorState(float(m.tonic), 0.0, math.exp(-dt / m.tau_phasic_ms)) for m in net.modulators}
    return BuiltNetwork(groups, projs, ring, history, events, mods)


def _build_arrays(net: Network):
    """(groups, projections, ring rows per neuron group) for ``net``: plain numpy arrays."""
    dt = float(net.dt_ms)
    groups: list[BuiltGroup] = []
    for p in net.populations:
        g = _izh_group(p, dt) if isinstance(p.model, Izhikevich) else _lif_group(p, dt)
        groups.append(g)
    for s in net.sources:
        if isinstance(s, PoissonSource):
            prob = np.broadcast_to(np.asarray(s.rate_hz, dtype=np.float64) * dt * 1e-3, (s.size,)).copy()
            if np.any(prob > 1):
                raise ParameterError(f"PoissonSource {s.name!r}: rate x dt exceeds one spike per step")
            groups.append(BuiltGroup(s.name, "poisson", s.size, {}, {"p": prob}))   # p changes with set_rates
        elif isinstance(s, SpikeGenerator):
            t = np.asarray(s.times_ms, dtype=float)
            steps = np.round(t / dt).astype(np.int64)
            order = np.lexsort((np.asarray(s.indices), steps))
            groups.append(BuiltGroup(s.name, "generator", s.size,
                                     {"steps": steps[order], "indices": np.asarray(s.indices, dtype=np.int32)[order]}, {}))
        else:
            raise ParameterError(f"unknown source {s!r}")
    for gi, g in enumerate(groups):
        g.noise_key = int(stream_key(net.seed, STREAM_NOISE if g.kind in ("izh", "lif") else STREAM_POISSON, gi))
    index = {g.name: i for i, g in enumerate(groups)}
    projs: list[BuiltProjection] = []
    ring = {i: 1 for i in range(len(net.populations))}
    for pi, pr in enumerate(net.projections):
        a, b = index[pr.pre], index[pr.post]
        n_pre, n_post = groups[a].size, groups[b].size
        indptr, indices, order = connect(pr, n_pre, n_post, a == b, stream_key(net.seed, STREAM_CONN, pi))
        n_syn = indices.size
        g = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(net.seed), STREAM_WEIGHTS, pi])))
        w = _values(pr.weight, n_syn, g, "weight", pr.label, order, dtype=np.float32)
        if n_syn and (w.min() < 0 or not np.isfinite(w).all()):
            raise ParameterError(f"Projection {pr.label}: weights must be finite magnitudes >= 0")
        if pr.inhibitory:
            np.negative(w, out=w)
        if isinstance(pr.delay_ms, Uniform):
            lo = int(round(pr.delay_ms.low / dt))      # drawn delays: whole steps in [round(low), round(high)]
            hi = max(lo, int(round(pr.delay_ms.high / dt)))
            dsteps = g.integers(lo, hi + 1, size=n_syn)
        elif np.ndim(pr.delay_ms) == 0:     # one value for every synapse: a whole number of steps
            d = float(pr.delay_ms)
            steps = d / dt
            if abs(steps - round(steps)) > 1e-6 * max(1.0, steps) or round(steps) < 1:
                lo, hi = max(1, math.floor(steps + 1e-9)), max(1, math.ceil(steps - 1e-9))
                near = sorted({lo * dt, hi * dt})
                what = ("shorter than one step" if steps < 1 else f"not a whole number of steps ({steps:g})")
                raise ParameterError(f"Projection {pr.label}: delay_ms = {d:g} is {what} at dt = {dt:g} ms; a delay "
                                     f"is a whole number of steps, at least one: use "
                                     f"{' or '.join(f'{x:g}' for x in near)}")
            dsteps = np.array([int(round(steps))])
        else:
            dsteps = np.round(_values(pr.delay_ms, n_syn, g, "delay_ms", pr.label, order) / dt).astype(np.int64)
        if dsteps.size and dsteps.min() < 1:
            raise ParameterError(f"Projection {pr.label}: a delay rounds to 0 steps at dt = {dt:g} ms (drawn or "
                                 f"per-synapse delays are rounded to the nearest step, and must be at least one step)")
        homog = dsteps.size == 0 or dsteps.min() == dsteps.max()
        dmax = int(dsteps.max()) if dsteps.size else 1
        if dmax > 32767:
            raise ParameterError(f"Projection {pr.label}: delay of {dmax} steps is too long (max 32767)")
        ring[b] = max(ring[b], dmax + 1)
        if pr.target == "current" and "use_syn" in groups[b].params:
            groups[b].params["use_syn"] = True
        bp = BuiltProjection(pr.label, a, b, pr.target, indptr, indices, w,
                             dmax if homog else -1, None if homog else dsteps.astype(np.int16),
                             receptor=receptor_index(net, pr))
        if pr.plasticity is None and np.ndim(pr.weight) == 0 and not isinstance(pr.weight, (Uniform, LogNormal)):
            # one weight for all: keep a scalar, not an array (4 bytes per synapse saved, and traffic)
            bp.uniform_weight = np.float32(w[0]) if n_syn else np.float32(0.0)
            bp.weights = np.zeros(0, np.float32)
        from .growth import Grow
        if isinstance(pr.connectivity, Grow):
            bp.plastic, bp.grow = pr.plasticity, pr.connectivity
        elif pr.plasticity is not None:
            _plastic_arrays(bp, pr, n_pre, n_post, homog)
        projs.append(bp)
    return groups, projs, ring


def _plastic_arrays(bp: BuiltProjection, pr: Projection, n_pre: int, n_post: int, homog: bool) -> None:
    from .plasticity import csc_index

    rule = pr.plasticity
    w = bp.weights
    if w.size and (w.min() < rule.w_min or w.max() > rule.w_max):
        raise ParameterError(f"Projection {pr.label}: initial weights must lie in [w_min, w_max] = "
                             f"[{rule.w_min}, {rule.w_max}] of its STDP rule")
    n_syn = w.size
    cptr, csyn, cpre = csc_index(bp.indptr, bp.indices, n_post)
    bp.plastic = rule
    bp.extra = {
        "x_pre": np.zeros(n_pre, np.float32), "x_post": np.zeros(n_post, np.float32),
        "csc_indptr": cptr, "csc_syn": csyn, "csc_pre": cpre,
        "frozen": np.zeros(n_syn, np.uint8), "potentiated": np.zeros(n_syn, np.uint8),
        "elig": np.zeros(n_syn if rule.modulated else 1, np.float32),
        "level": np.zeros(n_syn if rule.cascade is not None else 1, np.uint8),
        "saved_weights": np.zeros(n_syn, np.float32),   # values kept while quarantined
    }
    if not homog:
        # per-synapse presynaptic traces; rows sorted by (delay, target) so a spike's synapses that
        # arrive in the same step are one segment (found by binary search)
        row = np.repeat(np.arange(bp.indptr.size - 1), np.diff(bp.indptr))
        order = np.lexsort((bp.indices, bp.delays, row))
        bp.indices, bp.weights, bp.delays = bp.indices[order], bp.weights[order], bp.delays[order]
        cptr, csyn, cpre = csc_index(bp.indptr, bp.indices, n_post)
        bp.extra.update(csc_indptr=cptr, csc_syn=csyn, csc_pre=cpre,
                        a_pre=np.zeros(n_syn, np.float32), last=np.full(n_syn, -(2 ** 40), np.int64))
