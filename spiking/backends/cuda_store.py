"""The growing synapse store on the device (cuda backend): every per-step operation, creation and
the once-a-second housekeeping run as CUDA kernels on device arrays.

``DeviceGrowingStore`` is a ``spiking.growth.GrowingStore`` whose live arrays are on the device.
The host arrays it inherits are a mirror, brought up to date only when the host asks for them
(a snapshot, an audit call, ``store_stats``); an edit on the host (``insert``, ``relabel``,
``restore``, an audit write) marks the mirror newer and goes up before the next device operation.
The CPU store (``spiking/growth.py``, ``kernels/growth.py``) is the reference: the same rule, the
same order of operations in a step, the same tests of creation.

One step (the CPU store's order):

1. the post trace decays; each post spike potentiates its synapses (one thread per spike through
   the by-post index; the synapses created since the last housekeeping, the *tail*, one thread
   per tail synapse scanning the step's post spikes) and raises its trace;
2. creation (a modulator above 0): one thread per pair (post spike, presynaptic spike in the
   candidate window); a pair that passes the rule's tests claims its key in the pair hash with an
   atomic compare-and-swap, so exactly one thread creates a pair however often it is a
   candidate, and takes the next slot from an atomic counter. The host sizes the arrays before
   the launch for the worst case (every pair new: post spikes x window spikes), so a launch never
   runs out of room, and reads the new count after it (one 8-byte copy);
3. the pre trace decays; each arrival transmits through its synapses and depresses them (through
   the by-pre index, then the tail), and raises its trace.

Housekeeping (once a simulated second): prune (a keep flag per synapse, an exclusive scan, a
scatter into fresh arrays in slot order), rebuild the pair hash (parallel compare-and-swap
inserts) and the two indices (a counting sort: counts by atomics, a scan, a scatter, then each
neuron's list sorted by the other neuron's id, so an index's order does not depend on the order
in which threads created the slots). Homeostasis, cascade decay and the three-factor update run
through the backend's plasticity kernels on device views of the live slots.

Slots are created in the order the threads win them, which a GPU does not fix; nothing a step
computes depends on a slot's position except the order of float additions into a ring row
(atomic, as every delivery on this backend) and the order of a neuron's synapses in the
indices, which housekeeping makes canonical. The synapse *set* is the CPU store's.
"""
from __future__ import annotations

import numpy as np
from numba import cuda, float32, int64, uint64

from ..growth import GrowingStore, _pow2
from ..kernels.growth import EMPTY, TRACE_FLOOR, home_slot, pair_hash32
from .cuda_backend import _TPB, _bounded_d, _grid, dep_d

_ALL = np.uint64(4294967296)

SCAN_ITEMS = 8                       # elements per thread in one scan tile
SCAN_TILE = _TPB * SCAN_ITEMS


# -- traces, pair keys, the pair hash --------------------------------------------------------------
@cuda.jit
def trace_decay_k(x, factor, floor):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        v = x[i] * factor
        x[i] = v if v >= floor else float32(0.0)


@cuda.jit(device=True)
def _key(pre, post):
    return (uint64(pre) << uint64(32)) | uint64(post)


@cuda.jit(device=True)
def _claim(keys, key):
    """Put ``key`` in the open-addressing table; returns its entry and whether this thread put it
    there (False: it was there already, put by an earlier launch or by another thread)."""
    mask = uint64(keys.shape[0] - 1)
    e = int64(home_slot(key, mask))
    while True:
        old = cuda.atomic.cas(keys, e, EMPTY, key)
        if old == EMPTY:
            return e, True
        if old == key:
            return e, False
        e = (e + 1) & int64(mask)


@cuda.jit
def _fill_u64_k(a, value):
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        a[i] = value


@cuda.jit
def _zero_k(a):
    """a[:] = 0 for a one-dimensional array (``_zero`` passes others flat)."""
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        a[i] = 0


@cuda.jit
def _hash_build_k(keys, vals, pre, post, n):
    for j in range(cuda.grid(1), n, cuda.gridsize(1)):
        e, _ = _claim(keys, _key(pre[j], post[j]))
        vals[e] = j


@cuda.jit
def _set_k(a, value):
    if cuda.grid(1) == 0:
        a[0] = value


# -- an exclusive scan (prefix sums) in tiles --------------------------------------------------------
@cuda.jit
def _scan_tile_k(src, n, dst, sums):
    """dst[i] = the sum of src over i's tile before i; sums[tile] = the tile's total."""
    sh = cuda.shared.array(_TPB, int64)
    tx = cuda.threadIdx.x
    base = cuda.blockIdx.x * SCAN_TILE + tx * SCAN_ITEMS
    own = int64(0)
    for q in range(SCAN_ITEMS):
        if base + q < n:
            own += src[base + q]
    sh[tx] = own
    cuda.syncthreads()
    off = 1
    while off < _TPB:                 # Hillis-Steele inclusive scan of the threads' sums
        v = sh[tx - off] if tx >= off else int64(0)
        cuda.syncthreads()
        sh[tx] += v
        cuda.syncthreads()
        off *= 2
    run = sh[tx] - own
    for q in range(SCAN_ITEMS):
        if base + q < n:
            x = src[base + q]
            dst[base + q] = run
            run += x
    if tx == _TPB - 1:
        sums[cuda.blockIdx.x] = sh[tx]


@cuda.jit
def _scan_add_k(dst, n, offsets):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        dst[i] += offsets[i // SCAN_TILE]


@cuda.jit
def _scan_total_k(dst, src, n):
    if cuda.grid(1) == 0:
        dst[n] = dst[n - 1] + src[n - 1] if n > 0 else 0


def exclusive_scan(be, src, n: int, dst) -> None:
    """dst[0..n] = exclusive prefix sums of src[:n] (dst[n]: the total), on the device."""
    if n == 0:
        be._launch(_scan_total_k, 1)(dst, src, 0)
        return
    tiles = -(-n // SCAN_TILE)
    sums = cuda.device_array(tiles + 1, np.int64)
    be._launch(_scan_tile_k, tiles)(src, n, dst, sums)       # blocks of _TPB threads, one tile each
    if tiles > 1:
        offs = cuda.device_array(tiles + 1, np.int64)
        exclusive_scan(be, sums, tiles, offs)
        be._launch(_scan_add_k, _grid(n))(dst, n, offs)
    be._launch(_scan_total_k, 1)(dst, src, n)


# -- housekeeping: prune and compact, the indices ----------------------------------------------------
@cuda.jit
def _keep_k(n, w, w_prune, frozen, keep):
    for j in range(cuda.grid(1), n, cuda.gridsize(1)):
        keep[j] = 1 if (w[j] >= w_prune or frozen[j]) else 0


@cuda.jit
def _compact_k(n, keep, pos, pre, post, f, u, npre, npost, nf, nu):
    for j in range(cuda.grid(1), n, cuda.gridsize(1)):
        if not keep[j]:
            continue
        m = pos[j]
        npre[m] = pre[j]
        npost[m] = post[j]
        for a in range(f.shape[0]):
            nf[a, m] = f[a, j]
        for a in range(u.shape[0]):
            nu[a, m] = u[a, j]


@cuda.jit
def _bucket_count_k(by, n, counts):
    for j in range(cuda.grid(1), n, cuda.gridsize(1)):
        cuda.atomic.add(counts, by[j], 1)


@cuda.jit
def _bucket_fill_k(by, n, ptr, cursor, idx):
    for j in range(cuda.grid(1), n, cuda.gridsize(1)):
        b = by[j]
        idx[ptr[b] + cuda.atomic.add(cursor, b, 1)] = j


@cuda.jit
def _bucket_sort_k(ptr, idx, other, nb):
    """Each neuron's list sorted by the other neuron's id (unique within a list: one synapse per
    pair), so the index is the same whatever order the slots were filled in."""
    for b in range(cuda.grid(1), nb, cuda.gridsize(1)):
        lo, hi = ptr[b], ptr[b + 1]
        for q in range(lo + 1, hi):
            j = idx[q]
            key = other[j]
            r = q - 1
            while r >= lo and other[idx[r]] > key:
                idx[r + 1] = idx[r]
                r -= 1
            idx[r + 1] = j


# -- one step ------------------------------------------------------------------------------------------
@cuda.jit(device=True)
def _pot(j, pre, w, x_pre, w_min, w_max, soft, frozen, modulated, elig, inv, potentiated):
    if frozen[j]:
        return
    dw = x_pre[pre[j]]
    if modulated:
        elig[j] += dw * inv
    else:
        nw = _bounded_d(w[j], dw, w_min, w_max, soft)
        if nw > w[j]:
            potentiated[j] = 1
        w[j] = nw


@cuda.jit(device=True)
def post_spike(i, in_ptr, in_idx, pre, w, x_pre, x_post, a_minus, nearest, w_min, w_max, soft, frozen, modulated,
               elig, inv, potentiated):
    """Post neuron i's spike: its indexed synapses potentiated, then its trace raised. One thread
    per post spike: a synapse has one post neuron, so no two threads share it."""
    for q in range(in_ptr[i], in_ptr[i + 1]):
        _pot(in_idx[q], pre, w, x_pre, w_min, w_max, soft, frozen, modulated, elig, inv, potentiated)
    if nearest:
        x_post[i] = a_minus
    else:
        x_post[i] += a_minus


@cuda.jit(device=True)
def pre_arrival(s, out_ptr, out_idx, post, w, row, x_pre, x_post, post_decay, a_plus, nearest, w_min, w_max, soft,
                frozen, modulated, elig, inv):
    """Presynaptic neuron s's spike arriving: transmission and depression through its indexed
    synapses (one thread per arrival owns them), then its trace raised."""
    for q in range(out_ptr[s], out_ptr[s + 1]):
        dep_d(out_idx[q], post, w, row, x_post, post_decay, w_min, w_max, soft, frozen, modulated, elig, inv)
    if nearest:
        x_pre[s] = a_plus
    else:
        x_pre[s] += a_plus


@cuda.jit
def _post_k(spikes, n_sp, in_ptr, in_idx, pre, w, x_pre, x_post, a_minus, nearest, w_min, w_max, soft, frozen,
            modulated, elig, inv, potentiated):
    for k in range(cuda.grid(1), n_sp, cuda.gridsize(1)):
        post_spike(spikes[k], in_ptr, in_idx, pre, w, x_pre, x_post, a_minus, nearest, w_min, w_max, soft, frozen,
                   modulated, elig, inv, potentiated)


@cuda.jit(device=True)
def _post_tail_one(j, spikes, n_sp, post, pre, w, x_pre, w_min, w_max, soft, frozen, modulated, elig, inv,
                   potentiated):
    i = post[j]
    for k in range(n_sp):
        if spikes[k] == i:
            _pot(j, pre, w, x_pre, w_min, w_max, soft, frozen, modulated, elig, inv, potentiated)


@cuda.jit
def _post_tail_k(spikes, n_sp, lo, hi, post, pre, w, x_pre, w_min, w_max, soft, frozen, modulated, elig, inv,
                 potentiated):
    for j in range(lo + cuda.grid(1), hi, cuda.gridsize(1)):
        _post_tail_one(j, spikes, n_sp, post, pre, w, x_pre, w_min, w_max, soft, frozen, modulated, elig, inv,
                       potentiated)


@cuda.jit
def post_tail_dev_k(spikes, counts, g, slot, lo, hi, post, pre, w, x_pre, w_min, w_max, soft, frozen, modulated, elig,
                    inv, potentiated):
    """``_post_tail_k`` in a device block: the post spike count read on the device."""
    for j in range(lo + cuda.grid(1), hi, cuda.gridsize(1)):
        _post_tail_one(j, spikes, counts[g, slot], post, pre, w, x_pre, w_min, w_max, soft, frozen, modulated, elig,
                       inv, potentiated)


@cuda.jit
def _pre_k(arrivals, n_arr, out_ptr, out_idx, post, w, row, x_pre, x_post, post_decay, a_plus, nearest, w_min, w_max,
           soft, frozen, modulated, elig, inv):
    for k in range(cuda.grid(1), n_arr, cuda.gridsize(1)):
        pre_arrival(arrivals[k], out_ptr, out_idx, post, w, row, x_pre, x_post, post_decay, a_plus, nearest, w_min,
                    w_max, soft, frozen, modulated, elig, inv)


@cuda.jit(device=True)
def _pre_tail_one(j, arrivals, n_arr, pre, post, w, row, x_post, post_decay, w_min, w_max, soft, frozen, modulated,
                  elig, inv):
    s = pre[j]
    for k in range(n_arr):
        if arrivals[k] == s:
            dep_d(j, post, w, row, x_post, post_decay, w_min, w_max, soft, frozen, modulated, elig, inv)


@cuda.jit
def _pre_tail_k(arrivals, n_arr, lo, hi, pre, post, w, row, x_post, post_decay, w_min, w_max, soft, frozen, modulated,
                elig, inv):
    for j in range(lo + cuda.grid(1), hi, cuda.gridsize(1)):
        _pre_tail_one(j, arrivals, n_arr, pre, post, w, row, x_post, post_decay, w_min, w_max, soft, frozen,
                      modulated, elig, inv)


@cuda.jit
def pre_tail_dev_k(hist, hist_n, r, lo, hi, pre, post, w, row, x_post, post_decay, w_min, w_max, soft, frozen,
                   modulated, elig, inv):
    """``_pre_tail_k`` in a device block: the arrivals' count read on the device."""
    for j in range(lo + cuda.grid(1), hi, cuda.gridsize(1)):
        _pre_tail_one(j, hist[r], hist_n[r], pre, post, w, row, x_post, post_decay, w_min, w_max, soft, frozen,
                      modulated, elig, inv)


@cuda.jit
def _grow_k(spikes, n_sp, hist, window, total, x_pre, x_post, gain, w_create, w_max, no_autapse, post_min, pre_min,
            pot_thresh, pot_seed, keys, vals, nbuf, pre, post, f, u, modulated):
    """Thread (k, c): post spike k with the c-th presynaptic spike of the candidate window
    (``window``: the history rows, then their prefix counts)."""
    for tid in range(cuda.grid(1), n_sp * total, cuda.gridsize(1)):
        _grow_one(tid, spikes, hist, window, total, x_pre, x_post, gain, w_create, w_max, no_autapse, post_min,
                  pre_min, pot_thresh, pot_seed, keys, vals, nbuf, pre, post, f, u, modulated)


@cuda.jit(device=True)
def _grow_one(tid, spikes, hist, window, total, x_pre, x_post, gain, w_create, w_max, no_autapse, post_min, pre_min,
              pot_thresh, pot_seed, keys, vals, nbuf, pre, post, f, u, modulated):
    k = tid // total
    c = tid - k * total
    i = spikes[k]
    if x_post[i] < post_min:
        return
    nr = window.shape[0] // 2
    lo, hi = 0, nr - 1                  # the row holding candidate c: offsets window[nr + r] ascending
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if window[nr + mid] <= c:
            lo = mid
        else:
            hi = mid - 1
    j = hist[window[lo], c - window[nr + lo]]
    if x_pre[j] < pre_min:
        return
    g = gain * x_pre[j]
    if g <= w_create:
        return
    if no_autapse and j == i:
        return
    if pot_thresh < _ALL and pair_hash32(_key(j, i), pot_seed) >= pot_thresh:
        return
    e, mine = _claim(keys, _key(j, i))
    if not mine:
        return
    m = cuda.atomic.add(nbuf, 0, 1)
    vals[e] = m
    pre[m] = j
    post[m] = i
    for a in range(u.shape[0]):
        u[a, m] = 0
    f[2, m] = 0.0
    if modulated:
        f[0, m] = w_create
        f[1, m] = x_pre[j]
    else:
        f[0, m] = min(g, w_max)
        f[1, m] = 0.0


@cuda.jit
def _promote_k(level, potentiated, n, top):
    for j in range(cuda.grid(1), n, cuda.gridsize(1)):
        v = level[j] + potentiated[j]
        level[j] = v if v < top else top
        potentiated[j] = 0


def _zero(st, a) -> None:
    st._launch(_zero_k, a.size)(a.reshape(a.size))


class _DeviceArrays:
    """The store's device arrays (capacity ``cap``) and its rule's constants, under the names
    the device blocks (``cuda_block.py``) use."""

    def __init__(self, st, cap: int, carry: "_DeviceArrays | None" = None):
        """Per-slot arrays of capacity ``cap`` (contents undefined: slots are written before they
        are read); the traces, slot counter and indices are ``carry``'s (a store resized or
        compacted) or made by the first upload."""
        r, rt = st.rule, st.rt
        self.cap = cap
        self.pre = cuda.device_array(cap, np.int32)
        self.post = cuda.device_array(cap, np.int32)
        self.f = cuda.device_array((3, cap), np.float32)       # weights, eligibility, kept weights
        self.u = cuda.device_array((3, cap), np.uint8)         # frozen, potentiated, level
        self.keys = cuda.device_array(_pow2(2 * cap), np.uint64)
        self.vals = cuda.device_array(self.keys.shape[0], np.int64)
        self.nbuf = cuda.device_array(1, np.int64)             # the slot counter creation advances
        self.x_pre = self.x_post = None
        self.in_ptr = self.in_idx = self.out_ptr = self.out_idx = None
        if carry is not None:
            for k in ("nbuf", "x_pre", "x_post", "in_ptr", "in_idx", "out_ptr", "out_idx"):
                setattr(self, k, getattr(carry, k))
        self.a_minus, self.a_plus = np.float32(r.a_minus), np.float32(r.a_plus)
        self.pre_decay, self.post_decay = np.float32(rt.pre_decay), np.float32(rt.post_decay)
        self.nearest = r.pairing == "nearest"
        self.w_min, self.w_max = np.float32(r.w_min), np.float32(r.w_max)
        self.soft = r.bounds == "soft"

    @property
    def w(self):
        return self.f[0]

    @property
    def elig(self):
        return self.f[1]

    @property
    def frozen(self):
        return self.u[0]

    @property
    def potentiated(self):
        return self.u[1]

    @property
    def level(self):
        return self.u[2]


class DeviceGrowingStore(GrowingStore):
    """A growing store on the device; the host arrays are a mirror (see the module's docstring)."""

    def __init__(self, be, *args):
        super().__init__(*args)
        self.be = be
        self.d = None
        # which copy is newer: "host" (it goes up before the next device operation), "device" (the
        # mirror is stale until read), None (both agree); _structure: the synapse list (pre, post)
        # goes up too, and the hash and indices are rebuilt on the device
        self._newer = "host"
        self._structure = True

    # -- keeping the mirror -----------------------------------------------------------------------
    def _launch(self, kernel, n):
        return self.be._launch(kernel, _grid(n))

    def device(self) -> _DeviceArrays:
        """The device arrays, the host's edits uploaded first; the caller may change them."""
        if self._newer == "host":
            self._push()
        self._newer = "device"
        return self.d

    def _pull(self) -> None:
        d, be, n = self.d, self.be, self.n
        if self.capacity != d.cap:
            self._alloc(d.cap, index=False)     # the host's table is rebuilt where the host uses it
        if n:
            self.fdata[:, :n] = be.to_host(d.f[:, :n])
            self.udata[:, :n] = be.to_host(d.u[:, :n])
            self.pre[:n] = be.to_host(d.pre[:n])
            self.post[:n] = be.to_host(d.post[:n])
        self.x_pre[:] = be.to_host(d.x_pre)
        self.x_post[:] = be.to_host(d.x_post)
        self._newer = None

    def _push(self) -> None:
        be, n = self.be, self.n
        if self.d is None or self.d.cap != self.capacity:
            self.d = _DeviceArrays(self, self.capacity)
            self._structure = True
        d = self.d
        if self._structure:
            be.write(d.pre, self.pre)
            be.write(d.post, self.post)
            be.write(d.nbuf, np.array([n], np.int64))
        be.write(d.f, self.fdata)
        be.write(d.u, self.udata)
        if d.x_pre is None:
            d.x_pre, d.x_post = be.asarray(self.x_pre), be.asarray(self.x_post)
        else:
            be.write(d.x_pre, self.x_pre)
            be.write(d.x_post, self.x_post)
        if self._structure:
            self._rebuild()
        self._newer = None
        self._structure = False

    def host(self) -> None:
        """Bring the host mirror up to date (a read)."""
        if self._newer == "device":
            self._pull()

    def mark_host_changed(self, structure: bool = False) -> None:
        """The host arrays were edited: they go up before the next device operation."""
        self._newer = "host"
        self._structure = self._structure or structure

    # -- what the host reads --------------------------------------------------------------------------
    def arrays(self) -> dict:
        self.host()
        return super().arrays()

    def state(self) -> dict:
        self.host()
        return super().state()

    def scalars(self) -> dict:
        self.host()
        return super().scalars()

    def stats(self, bins: int = 20) -> dict:
        self.host()
        out = super().stats(bins)
        d = self.d
        if d is not None:
            out["bytes"] = int(sum(a.nbytes for a in (d.pre, d.post, d.f, d.u, d.keys, d.vals, d.in_ptr, d.in_idx,
                                                       d.out_ptr, d.out_idx)))
        return out

    def weights_finite(self) -> bool:
        if self._newer != "device" or not self.n:
            return super().weights_finite()
        return self.be.all_finite(self.d.w[:self.n])

    # -- host edits ---------------------------------------------------------------------------------
    def insert(self, pre, post, weights) -> int:
        self.host()
        added = super().insert(pre, post, weights)
        self.mark_host_changed(structure=True)
        return added

    def relabel(self, pre_map, post_map) -> None:
        self.host()
        super().relabel(pre_map, post_map)
        self.mark_host_changed(structure=True)

    def restore(self, arrays: dict, scalars: dict):
        super().restore(arrays, scalars)
        self._newer = "host"
        self._structure = True

    # -- the runtime's arrays ---------------------------------------------------------------------
    def bind_runtime(self) -> None:
        d, n = self.device(), self.n
        self.rt.a = {"weights": d.w[:n], "elig": d.elig[:n], "saved_weights": d.f[2, :n], "frozen": d.frozen[:n],
                     "potentiated": d.potentiated[:n], "level": d.level[:n], "pre": d.pre[:n], "post": d.post[:n]}

    def clear_potentiated(self) -> None:
        d = self.device()
        _zero(self, d.potentiated)

    def promote_levels(self, levels: int) -> None:
        d = self.device()
        self._launch(_promote_k, max(self.n, 1))(d.level, d.potentiated, self.n, np.uint8(levels - 1))

    def decay_traces(self, steps: int) -> None:
        d = self.device()
        self._launch(trace_decay_k, self.n_pre)(d.x_pre, np.float32(float(self.rt.pre_decay) ** steps), TRACE_FLOOR)
        self._launch(trace_decay_k, self.n_post)(d.x_post, np.float32(float(self.rt.post_decay) ** steps), TRACE_FLOOR)

    # -- one step ----------------------------------------------------------------------------------
    def step(self, t, pre_group, post_group, row, gain, inv_pending, decays):
        """The CPU store's step on the device: ``pre_group``/``post_group`` are the device groups
        (spikes and history on the device, their counts on the host), ``row`` the device ring
        row of step t + 1."""
        d, r = self.device(), self.rule
        L = self._launch
        soft, mod, w_min, w_max = d.soft, r.modulated, d.w_min, d.w_max
        inv = np.float32(inv_pending)
        L(trace_decay_k, self.n_post)(d.x_post, decays[1], TRACE_FLOOR)
        n_sp = int(post_group.n)
        if n_sp:
            sp = post_group.spikes
            L(_post_k, n_sp)(sp, n_sp, d.in_ptr, d.in_idx, d.pre, d.w, d.x_pre, d.x_post, d.a_minus, d.nearest,
                             w_min, w_max, soft, d.frozen, mod, d.elig, inv, d.potentiated)
            if self.tail_start < self.n:
                L(_post_tail_k, self.n - self.tail_start)(sp, n_sp, self.tail_start, self.n, d.post, d.pre, d.w,
                                                          d.x_pre, w_min, w_max, soft, d.frozen, mod, d.elig, inv,
                                                          d.potentiated)
            if gain > 0.0:
                self._create(t, pre_group, sp, n_sp, np.float32(gain))
                d = self.d
        L(trace_decay_k, self.n_pre)(d.x_pre, decays[0], TRACE_FLOOR)
        src = t + 1 - self.delay
        if src >= 0:
            hist, hist_n = pre_group.state["hist_spikes"], pre_group.hist_n
            rr = src % hist.shape[0]
            n_arr = int(hist_n[rr])
            if n_arr:
                arr = hist[rr]
                L(_pre_k, n_arr)(arr, n_arr, d.out_ptr, d.out_idx, d.post, d.w, row, d.x_pre, d.x_post, d.post_decay,
                                 d.a_plus, d.nearest, w_min, w_max, soft, d.frozen, mod, d.elig, inv)
                if self.tail_start < self.n:
                    L(_pre_tail_k, self.n - self.tail_start)(arr, n_arr, self.tail_start, self.n, d.pre, d.post, d.w,
                                                             row, d.x_post, d.post_decay, w_min, w_max, soft,
                                                             d.frozen, mod, d.elig, inv)

    def _create(self, t, pre_group, spikes, n_sp, gain) -> None:
        hist, hist_n = pre_group.state["hist_spikes"], pre_group.hist_n
        h = hist.shape[0]
        first, last = max(0, t - self.delay - self.window + 1), t - self.delay
        rows = [s % h for s in range(first, last + 1) if hist_n[s % h]]
        if not rows:
            return
        counts = hist_n[rows].astype(np.int64)
        total = int(counts.sum())
        need = self.n + n_sp * total          # every pair new: the most one launch can create
        if need > self.d.cap:
            self._grow(need)
        d, be, r, g = self.d, self.be, self.rule, self.grow
        window = np.concatenate([np.asarray(rows, np.int64), np.cumsum(counts) - counts])
        self._launch(_grow_k, n_sp * total)(
            spikes, n_sp, hist, be.asarray(window), total, d.x_pre, d.x_post, gain, np.float32(g.w_create),
            np.float32(r.w_max), self.same_pop and not g.autapses, self.post_min, self.pre_min, self.pot_thresh,
            self.pot_seed, d.keys, d.vals, d.nbuf, d.pre, d.post, d.f, d.u, r.modulated)
        n = int(be.to_host(d.nbuf)[0])
        self.created_total += n - self.n
        self.n = n

    def _grow(self, need: int) -> None:
        """More room on the device (slots copied in place, the hash rebuilt for its new size)."""
        old, n = self.d, self.n
        d = _DeviceArrays(self, max(_pow2(need), 2 * old.cap), carry=old)
        if n:
            d.pre[:n].copy_to_device(old.pre[:n])
            d.post[:n].copy_to_device(old.post[:n])
            for a in range(3):
                d.f[a, :n].copy_to_device(old.f[a, :n])
                d.u[a, :n].copy_to_device(old.u[a, :n])
            self.be.launches += 8           # device-to-device copies (a new slot's fields are all written by creation)
        self.d = d
        self._hash()

    # -- housekeeping --------------------------------------------------------------------------------
    def housekeeping(self):
        """Prune below w_prune (quarantined synapses kept), compact in slot order, rebuild the
        hash and the indices: the CPU store's housekeeping, on the device."""
        d, n = self.device(), self.n
        m = n
        if n:
            keep = cuda.device_array(n, np.int64)
            pos = cuda.device_array(n + 1, np.int64)
            self._launch(_keep_k, n)(n, d.w, np.float32(self.grow.w_prune), d.frozen, keep)
            exclusive_scan(self.be, keep, n, pos)
            m = int(self.be.to_host(pos[n:n + 1])[0])
        self.pruned_total += n - m
        if m == n and self.tail_start == n:
            return
        if m != n:
            nd = _DeviceArrays(self, d.cap, carry=d)
            self._launch(_compact_k, n)(n, keep, pos, d.pre, d.post, d.f, d.u, nd.pre, nd.post, nd.f, nd.u)
            self.d = nd
            self.n = m
            self._launch(_set_k, 1)(nd.nbuf, np.int64(m))
        self._rebuild()

    def homeostasis(self):
        cap = self.rule.max_total_in
        if cap is not None and self.n:
            d = self.device()
            self.be.synaptic_scaling(d.in_ptr, d.in_idx, d.w, float(cap), d.frozen)

    def _hash(self) -> None:
        d = self.d
        self._launch(_fill_u64_k, d.keys.shape[0])(d.keys, EMPTY)
        if self.n:
            self._launch(_hash_build_k, self.n)(d.keys, d.vals, d.pre, d.post, self.n)

    def _rebuild(self) -> None:
        """The pair hash and both indices for slots 0..n (the tail is empty afterwards)."""
        self._hash()
        d = self.d
        d.out_ptr, d.out_idx = self._index(d.pre, d.post, self.n_pre)
        d.in_ptr, d.in_idx = self._index(d.post, d.pre, self.n_post)
        self.tail_start = self.n

    def _index(self, by, other, nb: int):
        n, L = self.n, self._launch
        counts = cuda.device_array(nb, np.int64)
        _zero(self, counts)
        ptr = cuda.device_array(nb + 1, np.int64)
        idx = cuda.device_array(max(n, 1), np.int64)
        if n:
            L(_bucket_count_k, n)(by, n, counts)
        exclusive_scan(self.be, counts, nb, ptr)
        if n:
            _zero(self, counts)
            L(_bucket_fill_k, n)(by, n, ptr, counts, idx)
            L(_bucket_sort_k, nb)(ptr, idx, other, nb)
        return ptr, idx
