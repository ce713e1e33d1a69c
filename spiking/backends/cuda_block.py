"""Device-resident block runs for the cuda backend: many steps with no host round trip.

``Simulator.step`` on the cuda backend learns each population's spike count on the host every
step (a device-to-host copy and a reset per population) and launches the noise words and the
neuron update separately. Here a stretch of steps (``spiking.blocks`` decides which) runs with
the counts kept on the device:

* each population's count lives in a two-slot device array; step t's neuron kernel counts into
  slot ``t % 2`` and zeroes the other slot (last read by step t - 1's kernels, which the stream
  has finished), so no kernel needs the host to reset it;
* the neuron kernel draws its own noise words (the same counter-based words as ``hash_fill``:
  the same draws as every other backend);
* projections, spike histories and monitors launch over the presynaptic population's size and
  read how many spikes there are from the device (a grid-stride loop up to the count);
* the host keeps the clock (ring rows, noise keys and monitor bins are kernel arguments) and
  reads the counts once, at the end of the block.

Per step: one launch per population, one per projection, one per spike history and per device
monitor, four for a growing store's idle step (its two trace decays, potentiation, transmission with
depression; dopamine is 0 in a block), and no host transfer. The store's arrays go up at a block's
start and its eligibility and traces come back at its end. What a block does not do,
``spiking.blocks`` and ``why_not`` keep out of it: a fixed plastic projection, a store that learns or
creates (a modulator above 0) or has an unindexed tail, Izhikevich populations and populations with
receptors, firing sources, monitors without a device recorder (``record_device``).
"""
from __future__ import annotations

import numpy as np
from numba import cuda, float32

from ..blocks import common_reasons
from ..kernels.growth import TRACE_FLOOR
from ..kernels.rng import draw_word, normal_from_hash, step_key_int
from .cuda_backend import _blocks, lif_cell

MAX_BLOCKS = 1024   # grid cap of the spike-parallel kernels (grid-stride loops cover the rest)


@cuda.jit
def _lif_dev_k(skey, noisy, v, i_syn, refr, i_ext, pulse, cur, sigma, zx, zr, p22, p21, p20, p11, v_th, v_reset,
               ref_steps, i_rise, p2h, rise_decay, rise_gain, use_rise, spikes, counts, slot):
    i = cuda.grid(1)
    if i == 0:
        counts[1 - slot] = 0
    if i < v.shape[0]:
        z32 = float32(sigma * normal_from_hash(draw_word(skey, i), zx, zr)) if noisy else float32(0.0)
        if lif_cell(i, z32, v, i_syn, refr, i_ext, pulse, cur, p22, p21, p20, p11, v_th, v_reset, ref_steps, i_rise,
                    p2h, rise_decay, rise_gain, use_rise):
            spikes[cuda.atomic.add(counts, slot, 1)] = i


@cuda.jit
def _propagate_dev_k(spikes, counts, slot, indptr, indices, weights, row):
    for k in range(cuda.grid(1), counts[slot], cuda.gridsize(1)):
        s = spikes[k]
        for j in range(indptr[s], indptr[s + 1]):
            cuda.atomic.add(row, indices[j], weights[j])


@cuda.jit
def _propagate_uniform_dev_k(spikes, counts, slot, indptr, indices, weight, row):
    for k in range(cuda.grid(1), counts[slot], cuda.gridsize(1)):
        s = spikes[k]
        for j in range(indptr[s], indptr[s + 1]):
            cuda.atomic.add(row, indices[j], weight)


@cuda.jit
def _propagate_delays_dev_k(spikes, counts, slot, indptr, indices, weights, delays, ring, t):
    r = ring.shape[0]
    for k in range(cuda.grid(1), counts[slot], cuda.gridsize(1)):
        s = spikes[k]
        for j in range(indptr[s], indptr[s + 1]):
            cuda.atomic.add(ring, ((t + delays[j]) % r, indices[j]), weights[j])


@cuda.jit
def _history_dev_k(spikes, counts, slot, hist, hist_n, r):
    n = counts[slot]
    if cuda.grid(1) == 0:
        hist_n[r] = n
    for k in range(cuda.grid(1), n, cuda.gridsize(1)):
        hist[r, k] = spikes[k]


@cuda.jit
def _count_dev_k(acc, spikes, counts, slot):
    for k in range(cuda.grid(1), counts[slot], cuda.gridsize(1)):
        cuda.atomic.add(acc, spikes[k], 1)


@cuda.jit
def _count_groups_dev_k(acc, spikes, counts, slot, member_ptr, member_group):
    for k in range(cuda.grid(1), counts[slot], cuda.gridsize(1)):
        s = spikes[k]
        for q in range(member_ptr[s], member_ptr[s + 1]):
            cuda.atomic.add(acc, member_group[q], 1)


@cuda.jit
def _trace_decay_dev_k(x, factor, floor):
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i] * factor
        x[i] = v if v >= floor else float32(0.0)


@cuda.jit
def _store_post_dev_k(spikes, counts, slot, in_ptr, in_idx, pre, x_pre, x_post, a_minus, nearest, frozen, elig, inv):
    # one thread per post spike; a synapse has one post neuron, so no two threads share an eligibility
    for k in range(cuda.grid(1), counts[slot], cuda.gridsize(1)):
        i = spikes[k]
        for q in range(in_ptr[i], in_ptr[i + 1]):
            j = in_idx[q]
            if not frozen[j]:
                elig[j] += x_pre[pre[j]] * inv
        if nearest:
            x_post[i] = a_minus
        else:
            x_post[i] += a_minus


@cuda.jit
def _store_pre_dev_k(hist, hist_n, r, out_ptr, out_idx, post, w, row, x_pre, x_post, post_decay, a_plus, nearest,
                     frozen, elig, inv):
    # one thread per arriving presynaptic neuron: it owns its outgoing synapses
    for k in range(cuda.grid(1), hist_n[r], cuda.gridsize(1)):
        s = hist[r, k]
        for q in range(out_ptr[s], out_ptr[s + 1]):
            j = out_idx[q]
            tgt = post[j]
            cuda.atomic.add(row, tgt, w[j])
            if not frozen[j]:
                elig[j] += -(x_post[tgt] * post_decay) * inv
        if nearest:
            x_pre[s] = a_plus
        else:
            x_pre[s] += a_plus


@cuda.jit
def _prefix_k(src, dst):
    i = cuda.grid(1)
    if i < dst.shape[0] * dst.shape[1]:
        r, c = i // dst.shape[1], i % dst.shape[1]
        dst[r, c] = src[r, c]


@cuda.jit
def _zero_k(a):
    i = cuda.grid(1)
    if i < a.shape[0]:
        a[i] = 0


def _spike_blocks(n: int) -> int:
    return min(MAX_BLOCKS, _blocks(n))


class DeviceSteps:
    """The kernels a device block launches, counted on the backend (``launches``)."""

    def __init__(self, be):
        self.be = be
        self._go = be._launch

    def lif(self, g, t, counts, slot, zx, zr):
        s, p = g.s_rec, g.p_rec
        row = t % g.ring_rows
        skey = step_key_int(g.noise_key, t) if g.noisy else 0
        self._go(_lif_dev_k, _blocks(g.size))(np.uint64(skey), bool(g.noisy), s.v, s.i_syn, s.refr, s.i_ext,
                                              g.state["pulse_ring"][row], g.state["current_ring"][row], p.sigma,
                                              zx, zr, p.p22, p.p21, p.p20, p.p11, p.v_th, p.v_reset,
                                              p.ref_steps, s.i_rise, p.p2h, p.rise_decay, p.rise_gain, p.use_rise,
                                              g.spikes, counts, slot)

    def propagate(self, pre, counts, slot, p, arr, ring, t, ring_rows):
        nb = _spike_blocks(pre.size)
        if p.uniform_weight is not None and p.delay_steps > 0:
            self._go(_propagate_uniform_dev_k, nb)(pre.spikes, counts, slot, arr["indptr"], arr["indices"],
                                                   np.float32(p.uniform_weight),
                                                   ring[(t + p.delay_steps) % ring_rows])
        elif p.delay_steps > 0:
            self._go(_propagate_dev_k, nb)(pre.spikes, counts, slot, arr["indptr"], arr["indices"], arr["weights"],
                                           ring[(t + p.delay_steps) % ring_rows])
        else:
            self._go(_propagate_delays_dev_k, nb)(pre.spikes, counts, slot, arr["indptr"], arr["indices"],
                                                  arr["weights"], arr["delays"], ring, t)

    def history(self, g, counts, slot, hist_n, t):
        h = g.state["hist_spikes"]
        self._go(_history_dev_k, _spike_blocks(g.size))(g.spikes, counts, slot, h, hist_n, t % h.shape[0])

    def count(self, acc, g, counts, slot):
        self._go(_count_dev_k, _spike_blocks(g.size))(acc, g.spikes, counts, slot)

    def count_groups(self, acc, g, counts, slot, member_ptr, member_group):
        self._go(_count_groups_dev_k, _spike_blocks(g.size))(acc, g.spikes, counts, slot, member_ptr, member_group)

    def zero(self, a):
        self._go(_zero_k, _blocks(a.shape[0]))(a)

    def prefix(self, src, dst):
        """dst = src[:, :dst.shape[1]] (the first columns of each row, packed for one copy)."""
        self._go(_prefix_k, _blocks(dst.shape[0] * dst.shape[1]))(src, dst)

    def trace_decay(self, x, factor):
        self._go(_trace_decay_dev_k, _blocks(x.shape[0]))(x, factor, TRACE_FLOOR)

    def store_post(self, d, post, counts, slot, inv):
        self._go(_store_post_dev_k, _spike_blocks(post.size))(post.spikes, counts, slot, d.in_ptr, d.in_idx, d.pre,
                                                             d.x_pre, d.x_post, d.a_minus, d.nearest, d.frozen,
                                                             d.elig, inv)

    def store_pre(self, d, pre, hist_n, r, row, inv):
        self._go(_store_pre_dev_k, _spike_blocks(pre.size))(pre.state["hist_spikes"], hist_n, r, d.out_ptr,
                                                           d.out_idx, d.post, d.w, row, d.x_pre, d.x_post,
                                                           d.post_decay, d.a_plus, d.nearest, d.frozen, d.elig, inv)


class StoreOnDevice:
    """A growing store's arrays for one device block (uploaded at its start). In a block the
    modulator is 0: weights, flags and indices stay as they are; the eligibility and the traces
    move, and come back to the host at the block's end (``fetch``)."""

    def __init__(self, be, st):
        n, r, rt = st.n, st.rule, st.rt
        self.st, self.be, self.n = st, be, n
        up = be.asarray
        self.pre, self.post = up(st.pre[:max(n, 1)]), up(st.post[:max(n, 1)])
        self.w, self.elig = up(st.fdata[0, :max(n, 1)]), up(st.fdata[1, :max(n, 1)])
        self.frozen = up(st.udata[0, :max(n, 1)])
        self.x_pre, self.x_post = up(st.x_pre), up(st.x_post)
        self.in_ptr, self.in_idx = up(st.in_ptr), up(_nonempty(st.in_idx))
        self.out_ptr, self.out_idx = up(st.out_ptr), up(_nonempty(st.out_idx))
        self.a_minus, self.a_plus = np.float32(r.a_minus), np.float32(r.a_plus)
        self.pre_decay, self.post_decay = np.float32(rt.pre_decay), np.float32(rt.post_decay)
        self.nearest = r.pairing == "nearest"

    def fetch(self) -> None:
        st, n = self.st, self.n
        if n:
            st.fdata[1, :n] = self.be.to_host(self.elig)[:n]
        st.x_pre[:] = self.be.to_host(self.x_pre)
        st.x_post[:] = self.be.to_host(self.x_post)


def _nonempty(a):
    return a if a.size else np.zeros(1, a.dtype)


def why_not(sim) -> str | None:
    """None when the device may run a block now, else the reason."""
    lif = [g for g in sim.groups if g.kind in ("izh", "lif")]
    if not lif or any(g.kind != "lif" or g.multi for g in lif):
        return "a population that is not a one-receptor LIF (device blocks)"
    why = common_reasons(sim, "record_device")
    if why is not None:
        return why
    for st in sim.growing.values():
        if st.tail_start != st.n:
            return "the growing store has an unindexed tail (until its next housekeeping)"
    return None


def run_block(sim, n: int) -> None:
    """Steps sim.t .. sim.t + n - 1 on the device; the host reads the counts once, at the end."""
    from ..engine import _ring
    be = sim.backend
    ds = be.device_steps
    lif = [(gi, g) for gi, g in enumerate(sim.groups) if g.kind == "lif"]
    slot_of = {gi: k for k, (gi, _) in enumerate(lif)}
    counts = be.block_counts(len(lif))
    ds.zero(counts)
    hist_n = {gi: be.asarray(g.hist_n) for gi, g in lif if "hist_spikes" in g.state}
    mons = [(m, slot_of[sim.index[m.population]]) for m in sim.monitors]
    projs = [(sim.groups[p.pre], slot_of[p.pre], p, arr, _ring(p, sim.groups[p.post]), sim.groups[p.post].ring_rows)
             for pi, (p, arr) in enumerate(sim.projections) if p.pre in slot_of and pi not in sim.growing]
    # at most one store (why_not): (device arrays, pre, post, post's count slot, ring, rows, history counts, store)
    store = None
    for pi, st in sim.growing.items():
        p = sim.projections[pi][0]
        store = (StoreOnDevice(be, st), sim.groups[p.pre], sim.groups[p.post], slot_of[p.post],
                 _ring(p, sim.groups[p.post]), sim.groups[p.post].ring_rows, hist_n[p.pre], st)
        pending = st.rt.pending
    for p, arr in sim.projections:
        if p.pre in slot_of and p.delay_steps <= 0:
            sim._materialize(p, arr)
    t0 = sim.t
    for t in range(t0, t0 + n):
        slot = t % 2
        for k, (gi, g) in enumerate(lif):
            ds.lif(g, t, counts[k], slot, sim._zx, sim._zr)
        for gi, h in hist_n.items():
            ds.history(sim.groups[gi], counts[slot_of[gi]], slot, h, t)
        for pre, k, p, arr, ring, rows in projs:
            ds.propagate(pre, counts[k], slot, p, arr, ring, t, rows)
        if store is not None:         # the store's step (kernels/block.py's order; dopamine is 0)
            d, pre, post, kp, ring, rows, hn, st = store
            inv = np.float32(1.0 / pending)
            ds.trace_decay(d.x_post, d.post_decay)
            ds.store_post(d, post, counts[kp], slot, inv)
            ds.trace_decay(d.x_pre, d.pre_decay)
            src = t + 1 - st.delay
            if src >= 0:
                ds.store_pre(d, pre, hn, src % pre.state["hist_spikes"].shape[0], ring[(t + 1) % rows], inv)
            pending *= st.rt.e_decay
            if pending < 1e-30:
                be.trace_scale(d.elig, np.float32(pending))
                pending = 1.0
        for m, k in mons:
            m.record_device(sim, ds, counts[k], slot, t)
    last = be.to_host(counts)
    for k, (gi, g) in enumerate(lif):
        g.n = int(last[k, (t0 + n - 1) % 2])
        if gi in hist_n:
            g.hist_n[:] = be.to_host(hist_n[gi])
            if g.hist_host is not None:       # the host's copy of the history: each row's spikes, in one copy
                h = g.state["hist_spikes"]
                width = max(1, int(g.hist_n.max()))
                packed = cuda.device_array((h.shape[0], width), np.int32)
                ds.prefix(h, packed)
                rows = be.to_host(packed)
                g.hist_host[:, :width] = rows
    if store is not None:
        d, st = store[0], store[-1]
        d.fetch()
        st.rt.pending = float(pending)
    for g in sim.groups:
        if g.kind not in ("lif", "izh"):
            g.n = 0           # sources were silent
    sim.t = t0 + n
