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

Per step, fused (``FusedPlan``): one launch for all the neurons (the populations laid end to
end, each thread finding its own; the store's post trace decays in it too), one for the work the
step's spikes drive (a 2-D grid: each row one static projection, one spike history or the
store's potentiation, its blocks striding over that row's spike count), and for a growing
store's idle step two more (its pre trace's decay, then transmission with depression: the decay
must follow the potentiation that reads the trace, and the transmission read it decayed);
then one per device monitor. The neurons' launch also folds the last step's deliveries (summed in
fixed point into the rings' int64 twins) into the float32 rings; the block's end folds its last
step's. EMBER's substrate: 5 launches a step (20 one by one) and no host transfer. If numba-cuda
cannot compile the fused kernels for a network (tried once, with nothing written), the block runs the
kernels one by one: one launch per population, projection, spike history and monitor, four for the
store, two more while it has a tail, and one fold per ring. The store lives on the device
(``cuda_store.py``): nothing of it crosses in a block. What a block does not do,
``spiking.blocks`` and ``why_not`` keep out of it: a fixed plastic projection, a store that learns or
creates (a modulator above 0), Izhikevich populations and populations with
receptors, firing sources, monitors without a device recorder (``record_device``).
"""
from __future__ import annotations

import weakref

import numpy as np
from numba import cuda, float32

from ..blocks import common_reasons
from ..kernels.growth import TRACE_FLOOR
from ..kernels.lif import lif_pf
from ..kernels.rng import draw_word, normal_from_hash, step_key, step_key_int
from .cuda_backend import _blocks, _grid, fold_entry, fx, lif_cell
from .cuda_store import post_spike, post_tail_dev_k, pre_arrival, pre_tail_dev_k, trace_decay_k

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


@cuda.jit(device=True)
def _deliver(sp, k0, n, stride, indptr, indices, weights, row):
    for k in range(k0, n, stride):
        s = sp[k]
        for j in range(indptr[s], indptr[s + 1]):
            cuda.atomic.add(row, indices[j], fx(weights[j]))


@cuda.jit(device=True)
def _deliver_uniform(sp, k0, n, stride, indptr, indices, weight, row):
    for k in range(k0, n, stride):
        s = sp[k]
        for j in range(indptr[s], indptr[s + 1]):
            cuda.atomic.add(row, indices[j], fx(weight))


@cuda.jit(device=True)
def _deliver_delays(sp, k0, n, stride, indptr, indices, weights, delays, ring, t):
    r = ring.shape[0]
    for k in range(k0, n, stride):
        s = sp[k]
        for j in range(indptr[s], indptr[s + 1]):
            cuda.atomic.add(ring, ((t + delays[j]) % r, indices[j]), fx(weights[j]))


@cuda.jit(device=True)
def _copy_history(sp, k0, n, stride, hist, hist_n, r):
    if k0 == 0:
        hist_n[r] = n
    for k in range(k0, n, stride):
        hist[r, k] = sp[k]


@cuda.jit
def _propagate_dev_k(spikes, counts, slot, indptr, indices, weights, row):
    _deliver(spikes, cuda.grid(1), counts[slot], cuda.gridsize(1), indptr, indices, weights, row)


@cuda.jit
def _propagate_uniform_dev_k(spikes, counts, slot, indptr, indices, weight, row):
    _deliver_uniform(spikes, cuda.grid(1), counts[slot], cuda.gridsize(1), indptr, indices, weight, row)


@cuda.jit
def _propagate_delays_dev_k(spikes, counts, slot, indptr, indices, weights, delays, ring, t):
    _deliver_delays(spikes, cuda.grid(1), counts[slot], cuda.gridsize(1), indptr, indices, weights, delays, ring, t)


@cuda.jit
def _history_dev_k(spikes, counts, slot, hist, hist_n, r):
    _copy_history(spikes, cuda.grid(1), counts[slot], cuda.gridsize(1), hist, hist_n, r)


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
def _store_post_dev_k(spikes, counts, slot, in_ptr, in_idx, pre, w, x_pre, x_post, a_minus, nearest, w_min, w_max, soft,
                      frozen, elig, inv, potentiated):
    for k in range(cuda.grid(1), counts[slot], cuda.gridsize(1)):
        post_spike(spikes[k], in_ptr, in_idx, pre, w, x_pre, x_post, a_minus, nearest, w_min, w_max, soft, frozen,
                   True, elig, inv, potentiated)


@cuda.jit
def _store_pre_dev_k(hist, hist_n, r, out_ptr, out_idx, post, w, row, x_pre, x_post, post_decay, a_plus, nearest,
                     w_min, w_max, soft, frozen, elig, inv):
    for k in range(cuda.grid(1), hist_n[r], cuda.gridsize(1)):
        pre_arrival(hist[r, k], out_ptr, out_idx, post, w, row, x_pre, x_post, post_decay, a_plus, nearest, w_min,
                    w_max, soft, frozen, True, elig, inv)


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


# -- fused kernels: three launches carry a step's neurons and its spike-driven work -------------
SL_STATIC, SL_UNIFORM, SL_DELAYS, SL_HIST, SL_POST = 0, 1, 2, 3, 4   # what one row of the spike grid does


@cuda.jit(device=True)
def _fold_cell(acc, ring, i):
    for r in range(acc.shape[0]):
        fold_entry(acc, ring, (r, i))


@cuda.jit
def _lif_all_dev_k(dry, t, gstart, keys, noisy, pf, ref_steps, sigma, use_rise, V, ISYN, REFR, IEXT, IRISE, PULSE,
                   CUR, ACCP, ACCC, SPIKES, counts, slot, zx, zr, x_post, post_decay, floor, decay_post):
    """Step t of every LIF population: thread i is neuron i of the populations laid end to end
    (``gstart``); it draws its own noise word and counts a spike into its population's slot.
    The first threads zero the other slot of each count, and (``decay_post``) the store's post
    trace decays in the same launch (it reads nothing this step's neurons write)."""
    if dry:
        return
    i = cuda.grid(1)
    ng = gstart.shape[0] - 1
    if i < ng:
        counts[i, 1 - slot] = 0
    if decay_post and i < x_post.shape[0]:
        v = x_post[i] * post_decay
        x_post[i] = v if v >= floor else float32(0.0)
    if i < gstart[ng]:
        g = 0
        while i >= gstart[g + 1]:
            g += 1
        li = i - gstart[g]
        pr, cr = PULSE[g], CUR[g]
        row = t % pr.shape[0]
        _fold_cell(ACCP[g], pr, li)         # the last step's deliveries (fixed point) into this neuron's rings
        _fold_cell(ACCC[g], cr, li)
        z32 = float32(0.0)
        if noisy[g]:
            z32 = float32(sigma[g] * normal_from_hash(draw_word(step_key(keys[g], t), li), zx, zr))
        if lif_cell(li, z32, V[g], ISYN[g], REFR[g], IEXT[g], PULSE[g][row], CUR[g][row], pf[g, 0], pf[g, 1],
                    pf[g, 2], pf[g, 3], pf[g, 5], pf[g, 6], ref_steps[g], IRISE[g], pf[g, 4], pf[g, 7], pf[g, 8],
                    use_rise[g]):
            SPIKES[g][cuda.atomic.add(counts, (g, slot), 1)] = li


@cuda.jit
def _spike_work_dev_k(dry, t, kind, pre_g, post_g, tgt, delay, uw, INDPTR, INDICES, WEIGHTS, DELAYS, ACCP, ACCC,
                      SPIKES, counts, slot, HIST, HIST_N, in_ptr, in_idx, st_pre, st_w, x_pre, x_post, a_minus, nearest,
                      w_min, w_max, soft, frozen, elig, inv, potentiated):
    """Everything of step t that its spikes drive and that no other row reads: row y of the grid
    (``blockIdx.y``) is one static projection, one spike history, or the store's potentiation
    on post spikes; its blocks stride over the presynaptic population's spikes, counted on the
    device."""
    if dry:
        return
    y = cuda.blockIdx.y
    a = pre_g[y]
    n = counts[a, slot]
    k0 = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    stride = cuda.gridDim.x * cuda.blockDim.x
    sp = SPIKES[a]
    kd = kind[y]
    if kd == SL_HIST:
        h = HIST[a]
        _copy_history(sp, k0, n, stride, h, HIST_N[a], t % h.shape[0])
    elif kd == SL_POST:
        for k in range(k0, n, stride):
            post_spike(sp[k], in_ptr, in_idx, st_pre, st_w, x_pre, x_post, a_minus, nearest, w_min, w_max, soft,
                       frozen, True, elig, inv, potentiated)
    else:
        b = post_g[y]
        ring = ACCP[b] if tgt[y] == 0 else ACCC[b]      # the rings' fixed-point twins
        if kd == SL_DELAYS:
            _deliver_delays(sp, k0, n, stride, INDPTR[y], INDICES[y], WEIGHTS[y], DELAYS[y], ring, t)
        elif kd == SL_UNIFORM:
            _deliver_uniform(sp, k0, n, stride, INDPTR[y], INDICES[y], uw[y], ring[(t + delay[y]) % ring.shape[0]])
        else:
            _deliver(sp, k0, n, stride, INDPTR[y], INDICES[y], WEIGHTS[y], ring[(t + delay[y]) % ring.shape[0]])


@cuda.jit
def _fold_all_dev_k(dry, ACC, RING):
    """``cuda_backend._fold_k`` for every ring that receives deliveries: grid row y is ring y."""
    if dry:
        return
    y = cuda.blockIdx.y
    acc, ring = ACC[y], RING[y]
    for i in range(cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x, acc.shape[0],
                   cuda.gridDim.x * cuda.blockDim.x):
        fold_entry(acc, ring, i)


def _spike_blocks(n: int) -> int:
    """Blocks of a spike-parallel (grid-stride) kernel over a population of n (``_grid``: one
    block under numba's simulator)."""
    return min(MAX_BLOCKS, _grid(n))


class DeviceSteps:
    """The kernels a device block launches, counted on the backend (``launches``)."""

    def __init__(self, be):
        self.be = be
        self._go = be._launch
        self._plans = weakref.WeakKeyDictionary()    # simulator -> its FusedPlan
        self.allow_fused = True     # False: the kernels one by one (tests and launch counts compare both)

    def plan(self, sim, lif, slot_of, projs, hist_n, store):
        """The simulator's fused plan, made again when what it depends on changed."""
        p = self._plans.get(sim)
        if p is None or p.key != _plan_key(sim, lif, projs, hist_n, store):
            p = self._plans[sim] = FusedPlan(self.be, sim, lif, slot_of, projs, hist_n, store)
        p.bind(lif, hist_n)
        return p

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
        self._go(trace_decay_k, _grid(x.shape[0]))(x, factor, TRACE_FLOOR)

    def store_post(self, d, post, counts, slot, inv):
        self._go(_store_post_dev_k, _spike_blocks(post.size))(post.spikes, counts, slot, d.in_ptr, d.in_idx, d.pre,
                                                             d.w, d.x_pre, d.x_post, d.a_minus, d.nearest, d.w_min,
                                                             d.w_max, d.soft, d.frozen, d.elig, inv, d.potentiated)

    # -- the fused step: the neurons in one launch, their spike-driven work in another -------
    def fused(self, plan, store_dev, zx, zr, counts) -> bool:
        """Whether the fused kernels compile for this plan: tried once per plan with ``dry`` set
        (the kernels return at once; nothing is written), falling back to the kernels one by
        one where numba-cuda cannot type them (say, a tuple of arrays of mixed types)."""
        if not (self.allow_fused and plan.ok):
            return False
        if plan.compiled is None:
            try:
                self.lif_all(plan, 0, counts, 0, zx, zr, store_dev, dry=True, blocks=1)
                self.spike_work(plan, 0, counts, 0, store_dev, np.float32(1.0), dry=True, blocks=(1, 1))
                self.fold_all(plan, dry=True, blocks=(1, 1))
                plan.compiled = True
            except Exception as e:            # a typing or lowering failure of this numba-cuda
                import warnings
                warnings.warn(f"device blocks: the fused kernels do not compile here ({type(e).__name__}); "
                              "running the kernels one by one")
                plan.compiled = False
        return plan.compiled

    def lif_all(self, plan, t, counts, slot, zx, zr, d, dry=False, blocks=None):
        x_post = d.x_post if d is not None else plan.dummy["f32"]
        decay = d is not None
        n = max(plan.n_total, x_post.shape[0] if decay else 0, counts.shape[0])
        self._go(_lif_all_dev_k, blocks or _blocks(n))(
            dry, np.int64(t), plan.gstart, plan.keys, plan.noisy, plan.pf, plan.ref_steps, plan.sigma, plan.use_rise,
            plan.V, plan.ISYN, plan.REFR, plan.IEXT, plan.IRISE, plan.PULSE, plan.CUR, plan.ACCP, plan.ACCC,
            plan.SPIKES, counts,
            np.int64(slot), zx, zr, x_post, d.post_decay if decay else np.float32(1.0), TRACE_FLOOR, decay)

    def spike_work(self, plan, t, counts, slot, d, inv, dry=False, blocks=None):
        if not plan.n_rows:
            return
        dm = plan.dummy
        if d is None:
            z = np.float32(0.0)
            st = (dm["i64"], dm["i64"], dm["i32"], dm["f32"], dm["f32"], dm["f32"], z, False, z, z, False, dm["u8"],
                  dm["f32"], inv, dm["u8"])
        else:
            st = (d.in_ptr, d.in_idx, d.pre, d.w, d.x_pre, d.x_post, d.a_minus, d.nearest, d.w_min, d.w_max, d.soft,
                  d.frozen, d.elig, inv, d.potentiated)
        self._go(_spike_work_dev_k, blocks or (plan.nbx, plan.n_rows))(
            dry, np.int64(t), plan.kind, plan.pre_g, plan.post_g, plan.tgt, plan.delay, plan.uw, plan.INDPTR,
            plan.INDICES, plan.WEIGHTS, plan.DELAYS, plan.ACCP, plan.ACCC, plan.SPIKES, counts, np.int64(slot),
            plan.HIST, plan.HIST_N, *st)

    def fold_all(self, plan, dry=False, blocks=None):
        if plan.FOLD_ACC:
            self._go(_fold_all_dev_k, blocks or (plan.fold_x, len(plan.FOLD_ACC)))(dry, plan.FOLD_ACC, plan.FOLD_RING)

    def store_post_tail(self, d, st, post, counts, g, slot, inv):
        self._go(post_tail_dev_k, _grid(st.n - st.tail_start))(
            post.spikes, counts, g, slot, st.tail_start, st.n, d.post, d.pre, d.w, d.x_pre, d.w_min, d.w_max, d.soft,
            d.frozen, True, d.elig, inv, d.potentiated)

    def store_pre_tail(self, d, st, pre, hist_n, r, row, inv):
        self._go(pre_tail_dev_k, _grid(st.n - st.tail_start))(
            pre.state["hist_spikes"], hist_n, r, st.tail_start, st.n, d.pre, d.post, d.w, row, d.x_post,
            d.post_decay, d.w_min, d.w_max, d.soft, d.frozen, True, d.elig, inv)

    def store_pre(self, d, pre, hist_n, r, row, inv):
        self._go(_store_pre_dev_k, _spike_blocks(pre.size))(pre.state["hist_spikes"], hist_n, r, d.out_ptr,
                                                           d.out_idx, d.post, d.w, row, d.x_pre, d.x_post,
                                                           d.post_decay, d.a_plus, d.nearest, d.w_min, d.w_max,
                                                           d.soft, d.frozen, d.elig, inv)


class FusedPlan:
    """The constant arguments of the fused kernels for one simulator (a few small arrays,
    uploaded once and kept while the populations and projections stay the same): the
    populations laid end to end, their constants, and one row of the spike grid per static
    projection, spike history and store potentiation."""

    def __init__(self, be, sim, lif, slot_of, projs, hist_n, store):
        up = be.asarray
        groups = [g for _, g in lif]
        self.key = _plan_key(sim, lif, projs, hist_n, store)
        gstart = np.zeros(len(groups) + 1, np.int64)
        np.cumsum([g.size for g in groups], out=gstart[1:])
        self.n_total = int(gstart[-1])
        self.gstart = up(gstart)
        self.keys = up(np.array([np.uint64(g.noise_key) for g in groups], np.uint64))
        self.noisy = up(np.array([bool(g.noisy) for g in groups], np.bool_))
        self.pf = up(np.array([lif_pf(g.p_rec) for g in groups], np.float32))   # the CPU kernels' order
        self.ref_steps = up(np.array([g.p_rec.ref_steps for g in groups], np.int64))
        self.sigma = up(np.array([g.p_rec.sigma for g in groups], np.float64))
        self.use_rise = up(np.array([bool(g.p_rec.use_rise) for g in groups], np.bool_))
        self.V = tuple(g.s_rec.v for g in groups)
        self.ISYN = tuple(g.s_rec.i_syn for g in groups)
        self.REFR = tuple(g.s_rec.refr for g in groups)
        self.IEXT = tuple(g.s_rec.i_ext for g in groups)
        self.IRISE = tuple(g.s_rec.i_rise for g in groups)
        self.PULSE = tuple(g.state["pulse_ring"] for g in groups)
        self.CUR = tuple(g.state["current_ring"] for g in groups)
        self.ACCP = tuple(g.acc["pulse_ring"] for g in groups)
        self.ACCC = tuple(g.acc["current_ring"] for g in groups)
        # the rings that receive deliveries, flat, and their twins: one fold launch a step
        self.FOLD_ACC = tuple(a.reshape(a.size) for a, _ in sim._folds)
        self.FOLD_RING = tuple(r.reshape(r.size) for _, r in sim._folds)
        self.fold_x = _spike_blocks(max([a.size for a in self.FOLD_ACC] or [1]))
        self.SPIKES = tuple(g.spikes for g in groups)
        dummy = {k: up(np.zeros(1, dt)) for k, dt in (("i64", np.int64), ("i32", np.int32), ("f32", np.float32),
                                                       ("i16", np.int16), ("u8", np.uint8))}
        self.dummy = dummy
        h2 = up(np.zeros((1, 1), np.int32))
        self.HIST = tuple(g.state["hist_spikes"] if gi in hist_n else h2 for gi, g in lif)
        self.bind(lif, hist_n)
        rows = []          # (kind, pre, post, tgt, delay, uw, indptr, indices, weights, delays)
        for pre, k, p, arr, ring, _ in projs:
            post = sim.groups[p.post]
            tgt = 0 if ring is post.acc["pulse_ring"] else 1
            if p.delay_steps <= 0:
                rows.append((SL_DELAYS, k, slot_of[p.post], tgt, 0, 0.0, arr["indptr"], arr["indices"],
                             arr["weights"], arr["delays"]))
            elif p.uniform_weight is not None:
                rows.append((SL_UNIFORM, k, slot_of[p.post], tgt, p.delay_steps, p.uniform_weight, arr["indptr"],
                             arr["indices"], dummy["f32"], dummy["i16"]))
            else:
                rows.append((SL_STATIC, k, slot_of[p.post], tgt, p.delay_steps, 0.0, arr["indptr"], arr["indices"],
                             arr["weights"], dummy["i16"]))
        for gi in hist_n:
            rows.append((SL_HIST, slot_of[gi], 0, 0, 0, 0.0, dummy["i64"], dummy["i32"], dummy["f32"], dummy["i16"]))
        if store is not None:
            rows.append((SL_POST, store[3], 0, 0, 0, 0.0, dummy["i64"], dummy["i32"], dummy["f32"], dummy["i16"]))
        self.n_rows = len(rows)
        cols = list(zip(*rows)) if rows else [()] * 10
        self.kind = up(np.array(cols[0], np.int64))
        self.pre_g, self.post_g = up(np.array(cols[1], np.int64)), up(np.array(cols[2], np.int64))
        self.tgt, self.delay = up(np.array(cols[3], np.int64)), up(np.array(cols[4], np.int64))
        self.uw = up(np.array(cols[5], np.float32))
        self.INDPTR, self.INDICES, self.WEIGHTS, self.DELAYS = (tuple(c) for c in cols[6:10])
        sizes = [sim.groups[lif[k][0]].size for k in cols[1]]
        self.nbx = _spike_blocks(max(sizes)) if sizes else 1
        self.ok = self.n_rows == 0 or all(_same_types(c) for c in cols[6:10])
        self.compiled = None      # whether the fused kernels compiled (DeviceSteps.fused): not tried yet


    def bind(self, lif, hist_n):
        """This block's device copies of the history counts (made for each block)."""
        self.HIST_N = tuple(hist_n.get(gi, self.dummy["i64"]) for gi, _ in lif)


def _same_types(arrays) -> bool:
    return len({(np.dtype(a.dtype), a.ndim) for a in arrays}) <= 1


def _plan_key(sim, lif, projs, hist_n, store):
    """What a plan depends on: the populations' arrays and the projections (by identity)."""
    arrays = [a for _, g in lif for a in (*g.s_rec, g.state["pulse_ring"], g.state["current_ring"], g.spikes,
                                         g.state.get("hist_spikes"))]
    return (tuple(id(a) for a in arrays), tuple(id(a) for _, _, _, a, _, _ in projs), tuple(hist_n),
            store is not None and store[3])


def why_not(sim) -> str | None:
    """None when the device may run a block now, else the reason."""
    lif = [g for g in sim.groups if g.kind in ("izh", "lif")]
    if not lif or any(g.kind != "lif" or g.multi for g in lif):
        return "a population that is not a one-receptor LIF (device blocks)"
    why = common_reasons(sim, "record_device")
    if why is not None:
        return why
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
    pending = 1.0
    for pi, st in sim.growing.items():
        p = sim.projections[pi][0]
        store = (st.device(), sim.groups[p.pre], sim.groups[p.post], slot_of[p.post],
                 _ring(p, sim.groups[p.post]), sim.groups[p.post].ring_rows, hist_n[p.pre], st)
        pending = st.rt.pending
    for p, arr in sim.projections:
        if p.pre in slot_of and p.delay_steps <= 0:
            sim._materialize(p, arr)
    plan = ds.plan(sim, lif, slot_of, projs, hist_n, store)
    d = store[0] if store is not None else None
    fused = ds.fused(plan, d, sim._zx, sim._zr, counts)
    t0 = sim.t
    for t in range(t0, t0 + n):
        slot = t % 2
        inv = np.float32(1.0 / pending) if store is not None else np.float32(1.0)
        if fused:                     # neurons (and the post trace's decay); histories, projections, potentiation
            ds.lif_all(plan, t, counts, slot, sim._zx, sim._zr, d)
            ds.spike_work(plan, t, counts, slot, d, inv)
        else:
            for k, (gi, g) in enumerate(lif):
                ds.lif(g, t, counts[k], slot, sim._zx, sim._zr)
            for gi, h in hist_n.items():
                ds.history(sim.groups[gi], counts[slot_of[gi]], slot, h, t)
            for pre, k, p, arr, ring, rows in projs:
                ds.propagate(pre, counts[k], slot, p, arr, ring, t, rows)
        if store is not None:         # the store's step (kernels/block.py's order; dopamine is 0)
            d, pre, post, kp, ring, rows, hn, st = store
            if not fused:
                ds.trace_decay(d.x_post, d.post_decay)
                ds.store_post(d, post, counts[kp], slot, inv)
            if st.tail_start < st.n:      # synapses made since the last housekeeping: one thread each
                ds.store_post_tail(d, st, post, counts, kp, slot, inv)
            ds.trace_decay(d.x_pre, d.pre_decay)
            src = t + 1 - st.delay
            if src >= 0:
                r = src % pre.state["hist_spikes"].shape[0]
                ds.store_pre(d, pre, hn, r, ring[(t + 1) % rows], inv)
                if st.tail_start < st.n:
                    ds.store_pre_tail(d, st, pre, hn, r, ring[(t + 1) % rows], inv)
            pending *= st.rt.e_decay
            if pending < 1e-30:
                be.trace_scale(d.elig[:st.n], np.float32(pending))
                pending = 1.0
        if not fused:                 # the step's deliveries into the rings (fixed point: any order, one sum);
            be.fold_rings(sim._folds)  # fused, the next step's neuron launch folds them, the last one below
        for m, k in mons:
            m.record_device(sim, ds, counts[k], slot, t)
    if fused:
        ds.fold_all(plan)
    last = be.to_host(counts)
    for k, (gi, g) in enumerate(lif):
        g.n = int(last[k, (t0 + n - 1) % 2])
        if gi in hist_n:
            g.hist_n[:] = be.to_host(hist_n[gi])
    if store is not None:
        store[-1].rt.pending = float(pending)
    for g in sim.groups:
        if g.kind not in ("lif", "izh"):
            g.n = 0           # sources were silent
    sim.t = t0 + n
