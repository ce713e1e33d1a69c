"""Block runs: many steps of the engine's schedule in one compiled call (``kernels/block.py``).

``Simulator.run`` hands each stretch of steps to ``BlockRunner.steps``, which runs as much of it
as it can in blocks and the rest through ``Simulator.step``. A block is allowed when nothing in
it needs Python between steps:

* the numba backend, profiling off, every neuron population LIF (one variant);
* sources silent (a Poisson source with rate 0; a generator between its events);
* no fixed plastic projection; at most one growing store, three-factor, with every modulator at
  exactly 0 (no learning, no creation: only traces, eligibility and transmission move);
* every monitor able to take a block's spikes at once (``record_block``);

and it ends before the next step that needs Python: injected spikes, a current step, a
generator's event, the once-a-second cascade decay and housekeeping (that step runs through
``step``). The results are the step-by-step results, bit for bit: the loop calls the same
kernels in the same order (``tests/test_block.py`` holds whole runs identical).
``Simulator.block_runs = False`` turns blocks off.
"""
from __future__ import annotations

import numpy as np

from .kernels.block import PROJ_DELAYS, PROJ_NONE, PROJ_STATIC, PROJ_STORE, PROJ_UNIFORM, block_run
from .kernels.lif import LIFState, lif_flat, lif_tasks

MAX_BLOCK = 1000   # steps per call: the record buffers hold 8 spikes per neuron, plenty at any rate a block sees
_F32 = np.float32


def _dummy(dtype, ndim=1):
    return np.zeros((1,) * ndim, dtype)


def common_reasons(sim, recorder: str) -> str | None:
    """What keeps a block from running on any backend (None: nothing): a source that fires, a fixed
    plastic projection, a growing store that is not one three-factor store between LIF populations, a
    modulator above 0, a monitor without the ``recorder`` method, a projection into a source."""
    for g in sim.groups:
        if g.kind == "poisson" and g.firing:
            return f"source {g.name!r} fires"
    if sim.plastic:
        return "a fixed plastic projection"
    if len(sim.growing) > 1:
        return "more than one growing store"
    for pi, st in sim.growing.items():
        if not st.rule.modulated:
            return "a growing store that learns without a modulator"
        p = sim.projections[pi][0]
        if sim.groups[p.pre].kind != "lif" or sim.groups[p.post].kind != "lif":
            return f"growing store {p.label!r} on a source"
    for ms in sim.modulator_state.values():
        if ms.level != 0.0 or ms.phasic != 0.0:
            return "a modulator above 0"
    for m in sim.monitors:
        if not hasattr(m, recorder):
            return f"monitor {type(m).__name__} records step by step"
        if m._g.kind != "lif":
            return f"a monitor on source {m.population!r}"
    for p, _ in sim.projections:
        if sim.groups[p.post].kind != "lif":
            return f"projection {p.label!r} into a source"
    return None


class BlockRunner:
    """Packs a simulator's arrays for ``block_run`` and feeds the monitors afterwards."""

    def __init__(self, sim):
        self.sim = sim
        self._rec = None
        self._dl = None
        self._task_rows = None

    # -- may a block run at all? ---------------------------------------------------------
    def why_not(self) -> str | None:
        """None when blocks may run now, else the reason (for tests and the curious)."""
        sim = self.sim
        if not getattr(sim, "block_runs", True):
            return "block runs are off"
        if sim.profile:
            return "profiling"
        if hasattr(sim.backend, "block_why_not"):     # a device backend's own blocks (cuda_block.py)
            return sim.backend.block_why_not(sim)
        if getattr(sim.backend, "name", "") != "numba":
            return f"backend {getattr(sim.backend, 'name', '?')!r}"
        lif = [g for g in sim.groups if g.kind in ("izh", "lif")]
        if not lif or any(g.kind != "lif" or not g.fused for g in lif):
            return "a population that is not LIF"
        if len({bool(getattr(g.p_rec, "use_rise", False)) for g in lif}) > 1:
            return "LIF populations of two variants"
        if len({_rec_types(g.p_rec) + _rec_types(g.s_rec) for g in lif}) > 1:
            return "LIF records of different types"
        why = common_reasons(sim, "record_block")
        if why is not None:
            return why
        for pi, (p, arr) in enumerate(sim.projections):
            if p.delay_steps <= 0 and pi not in sim.growing and p.target != "pulse" and sim.groups[p.post].multi:
                return f"projection {p.label!r} with per-synapse delays into a population with receptors"
        return None

    def _limit(self, t: int, end: int) -> int:
        """The last step (exclusive) a block starting at t may run to, at most ``end``."""
        sim = self.sim
        end = min(end, t + MAX_BLOCK)
        if sim.plastic or sim.growing:
            ce = sim._cascade_every
            end = min(end, (t + 1 + ce - 1) // ce * ce - 1)   # the step whose t + 1 is a multiple of ce
        for s in sim._injected:
            if s >= t and sim._injected[s]:
                end = min(end, s)
        for s in sim._current_events:
            if s >= t:
                end = min(end, s)
        for g in sim.groups:
            if g.kind == "generator":
                steps = g.params["steps"]
                a = g.gen_ptr
                while a < steps.size and steps[a] < t:
                    a += 1
                if a < steps.size:
                    end = min(end, int(steps[a]))
        return end

    # -- running ---------------------------------------------------------------------------
    def steps(self, m: int) -> None:
        """Advance ``m`` steps: blocks where allowed, ``Simulator.step`` elsewhere. Whether blocks
        are allowed is decided once per call: inside it no caller code runs, and neither a block
        nor a step can make one disallowed (a step can only let a decaying modulator reach 0,
        which the next call sees)."""
        sim = self.sim
        end = sim.t + m
        ok = self.why_not() is None
        while sim.t < end:
            if ok:
                stop = self._limit(sim.t, end)
                if stop - sim.t >= 2:
                    self._block(stop - sim.t)
                    continue
            sim.step()

    def _block(self, n: int) -> None:
        sim = self.sim
        if hasattr(sim.backend, "run_block"):
            sim.backend.run_block(sim, n)
            return
        lif = [(gi, g) for gi, g in enumerate(sim.groups) if g.kind == "lif"]
        slot = {gi: k for k, (gi, _) in enumerate(lif)}
        groups = [g for _, g in lif]
        rec_n, rec_idx, rec_fill, last_n = self._buffers(groups, n)
        hist_on = np.array(["hist_spikes" in g.state for g in groups])
        hists = tuple(g.state["hist_spikes"] if on else _dummy(np.int32, 2) for g, on in zip(groups, hist_on))
        hist_ns = tuple(g.hist_n if on else _dummy(np.int64) for g, on in zip(groups, hist_on))
        kinds, pre_g, post_g, tgt, rec, delay, uw, ptrs, idxs, wts, dls = [], [], [], [], [], [], [], [], [], [], []
        store = None
        for pi, (p, arr) in enumerate(sim.projections):
            if pi in sim.growing:
                store = sim.growing[pi]
                kind = PROJ_STORE
            elif p.pre not in slot:
                continue          # a silent source adds nothing
            elif p.delay_steps <= 0:
                sim._materialize(p, arr)
                kind = PROJ_DELAYS
            else:
                kind = PROJ_UNIFORM if p.uniform_weight is not None else PROJ_STATIC
            kinds.append(kind)
            pre_g.append(slot[p.pre])
            post_g.append(slot[p.post])
            tgt.append(0 if p.target == "pulse" else 1)
            rec.append(p.receptor)
            delay.append(p.delay_steps)
            uw.append(p.uniform_weight if kind == PROJ_UNIFORM else 0.0)
            if kind == PROJ_STORE:
                ptrs.append(_dummy(np.int64)); idxs.append(_dummy(np.int32))
                wts.append(_dummy(np.float32)); dls.append(_dummy(np.int16))
            else:
                ptrs.append(arr["indptr"]); idxs.append(arr["indices"])
                wts.append(arr["weights"] if kind != PROJ_UNIFORM else _dummy(np.float32))
                dls.append(arr["delays"] if kind == PROJ_DELAYS else _dummy(np.int16))
        kinds.append(PROJ_NONE)   # a placeholder, so that no tuple is empty
        pre_g.append(0); post_g.append(0); tgt.append(0); rec.append(0); delay.append(1); uw.append(0.0)
        ptrs.append(_dummy(np.int64)); idxs.append(_dummy(np.int32)); wts.append(_dummy(np.float32))
        dls.append(_dummy(np.int16))
        if store is not None:
            st, rt = store, store.rt
            r = st.rule
            st_arrays = (st.pre, st.post, st.fdata[0], st.fdata[1], st.udata[0], st.udata[1], st.x_pre, st.x_post,
                         st._mark)
            st_idx = (st.in_ptr, st.in_idx, st.out_ptr, st.out_idx)
            st_f = (_F32(r.a_minus), _F32(r.a_plus), _F32(r.w_min), _F32(r.w_max), rt.pre_decay, rt.post_decay)
            st_b = (r.pairing == "nearest", r.bounds == "soft", bool(r.modulated))
            st_i = (int(st.tail_start), int(st.n), int(st.delay))
            pending, e_decay = float(rt.pending), float(rt.e_decay)
        else:
            f1, i1, u1 = _dummy(np.float32), _dummy(np.int32), _dummy(np.uint8)
            st_arrays = (i1, i1, f1, f1, u1, u1, f1, f1, i1)
            st_idx = (_dummy(np.int64),) * 4
            st_f = (_F32(0.0),) * 6
            st_b = (False, False, False)
            st_i = (0, 0, 1)
            pending, e_decay = 1.0, 1.0
        variant = int(bool(getattr(groups[0].p_rec, "use_rise", False))) + 2 * int(sim.backend.threads > 1)
        # with threads, the store runs on one beside the static projections on another, when no
        # projection after it in the built order could write the row it writes
        lanes = store is not None and variant >= 2 and kinds[-2] == PROJ_STORE
        dl = self._deliveries(st_i[1] + 1 if lanes else 1)
        keys = np.array([np.uint64(g.noise_key) for g in groups], np.uint64)
        noisy = np.array([bool(g.noisy) for g in groups])
        t0 = sim.t
        done, pending = block_run(np.int64(variant), np.int64(t0), np.int64(n), keys, noisy, tuple(g.s_rec for g in groups),
                           tuple(g.p_rec for g in groups), tuple(g.state["pulse_ring"] for g in groups),
                           tuple(g.state["current_ring"] for g in groups), tuple(g.scratch for g in groups),
                           sim._zx, sim._zr, hist_on, hists, hist_ns,
                           np.array(kinds, np.int64), np.array(pre_g, np.int64), np.array(post_g, np.int64),
                           np.array(tgt, np.int64), np.array(rec, np.int64), np.array(delay, np.int64),
                           np.array(uw, np.float32),
                           tuple(ptrs), tuple(idxs), tuple(wts), tuple(dls),
                           st_arrays, st_idx, st_f, st_b, st_i, pending, e_decay,
                           rec_n, rec_idx, rec_fill, last_n, lanes, dl,
                           tuple(g.scratch.spikes for g in groups), self._tasks(groups),
                           self._flat(groups))
        done = int(done)
        if store is not None:
            store.rt.pending = float(pending)
        for k, g in enumerate(groups):
            g.n = int(last_n[k])
        for g in sim.groups:
            if g.kind not in ("lif", "izh"):
                g.n = 0           # sources were silent
        if done:
            for m in sim.monitors:
                k = slot[sim.index[m.population]]
                off = np.zeros(done + 1, np.int64)
                np.cumsum(rec_n[k, :done], out=off[1:])
                m.record_block(sim, t0, rec_n[k, :done], off, rec_idx[k])
        sim.t = t0 + done     # fewer than n when a record buffer filled up: the caller goes on from here

    def _tasks(self, groups):
        """The populations' neuron blocks for the one-region step (``lif.lif_tasks``), kept."""
        sizes = tuple(g.size for g in groups)
        if self._task_rows is None or self._task_rows[0] != sizes:
            self._task_rows = (sizes, lif_tasks(sizes))
        return self._task_rows[1]

    @staticmethod
    def _flat(groups):
        """The one-receptor LIF populations' arrays for the one-region step (empty otherwise)."""
        if all(isinstance(g.s_rec, LIFState) for g in groups):
            return lif_flat([g.s_rec for g in groups], [g.p_rec for g in groups], [g.scratch for g in groups])
        return ()

    def _deliveries(self, cap):
        """The store's delivery list (targets, values, fill) for one step: at most one delivery per
        synapse, since a block's arrivals are distinct (no injected spikes in a block)."""
        dl = self._dl
        if dl is None or dl[0].shape[0] < cap:
            dl = self._dl = (np.zeros(cap, np.int32), np.zeros(cap, np.float32), np.zeros(1, np.int64))
        return dl

    def _buffers(self, groups, n):
        sizes = tuple(g.size for g in groups)
        if self._rec is None or self._rec[0] != sizes or self._rec[1].shape[1] < n:
            rec_n = np.zeros((len(groups), max(n, MAX_BLOCK)), np.int64)
            rec_idx = tuple(np.zeros(8 * s + 1024, np.int32) for s in sizes)
            self._rec = (sizes, rec_n, rec_idx)
        _, rec_n, rec_idx = self._rec
        return rec_n, rec_idx, np.zeros(len(groups), np.int64), np.zeros(len(groups), np.int64)


def _rec_types(rec) -> tuple:
    """What numba would type a record's fields as (arrays by dtype and rank)."""
    out = []
    for v in rec:
        if isinstance(v, np.ndarray):
            out.append((v.dtype.str, v.ndim, v.flags.c_contiguous))
        else:
            out.append(type(v).__name__)
    return tuple(out)
