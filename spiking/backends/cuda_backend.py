"""numba-cuda backend: the same kernels, one thread per neuron (or per spike), on device arrays.

The per-neuron arithmetic is the same ``register_jitable`` code as on the CPU, and
noise draws are the same counter-based words, so every draw is identical to the CPU
backends.  What differs: spikes are collected with an atomic counter, so their order
within a step is not fixed, and synaptic sums are integer atomic additions in fixed
point (``fx``, folded into the float32 rings once a step), the same whatever that order:
a run repeats exactly, and its input is the correctly rounded sum where the CPU adds in
spike order.  Results therefore agree with numpy/numba CPU within float32 rounding of the
summed input (documented tolerance: membrane values within 1e-4 mV after a few
hundred steps and identical spike counts on short runs; long chaotic runs diverge
as any change in the last bit of a sum makes them).

Tested everywhere with ``NUMBA_ENABLE_CUDASIM=1`` (numba's simulator), run for real
on a machine with a GPU (``pip install -e .[cuda]``).
"""
from __future__ import annotations

import math
import os

import numpy as np
from numba import cuda, float32, float64, int64

from ..kernels.izhikevich import izh_neuron
from ..kernels.lif import lif_neuron
from ..kernels.lif_receptors import lif_multi_neuron
from ..kernels.rng import draw_word, normal_from_hash, uniform_from_hash
from . import register

# threads per block; numba's simulator runs each thread as a Python thread, so there a block is
# 32 threads and grid-stride kernels get one block (``_grid``): the same kernels, far fewer threads
_SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"
_TPB = 32 if _SIM else 128
GRID_CAP = 1 if _SIM else 4096      # blocks of a grid-stride kernel (each thread loops over the rest)


@cuda.jit
def _hash_fill_k(skey, words):
    i = cuda.grid(1)
    if i < words.shape[0]:
        words[i] = draw_word(skey, i)


@cuda.jit
def _izh_k(v, u, a, b, c, d, i_ext, i_syn, syn_decay, pulse, cur, words, sigma, zx, zr, dt, half_steps, v_peak,
           use_syn, use_ext, noisy, spikes, count, i_rise, rise_decay, rise_gain, use_rise, general, k, vr, vt, inv_c):
    i = cuda.grid(1)
    if i < v.shape[0]:
        z32 = float32(sigma * normal_from_hash(words[i], zx, zr)) if noisy else float32(0.0)
        ri = i_rise[i] if use_rise else float32(0.0)
        vi, ui, si, ri, fired = izh_neuron(z32, v[i], u[i], a[i], b[i], c[i], d[i], i_ext[i], i_syn[i], ri, cur[i],
                                           pulse[i], syn_decay, rise_decay, rise_gain, use_rise, dt, half_steps,
                                           v_peak, use_syn, use_ext, general, k, vr, vt, inv_c)
        v[i] = vi
        u[i] = ui
        pulse[i] = 0.0
        if use_syn:
            i_syn[i] = si
            cur[i] = 0.0
            if use_rise:
                i_rise[i] = ri
        if fired:
            spikes[cuda.atomic.add(count, 0, 1)] = i


@cuda.jit(device=True)
def lif_cell(i, z32, v, i_syn, refr, i_ext, pulse, cur, p22, p21, p20, p11, v_th, v_reset, ref_steps, i_rise, p2h,
             rise_decay, rise_gain, use_rise):
    """Neuron i's LIF step on the device (``lif_neuron``), its state written back and its ring
    entries cleared; returns whether it fired."""
    hi = i_rise[i] if use_rise else float32(0.0)
    vi, si, ri, hi, fired = lif_neuron(z32, v[i], i_syn[i], refr[i], i_ext[i], pulse[i], cur[i],
                                       p22, p21, p20, p11, v_th, v_reset, ref_steps,
                                       hi, p2h, rise_decay, rise_gain, use_rise)
    v[i] = vi
    i_syn[i] = si
    refr[i] = ri
    if use_rise:
        i_rise[i] = hi
    pulse[i] = 0.0
    cur[i] = 0.0
    return fired


@cuda.jit
def _lif_k(v, i_syn, refr, i_ext, pulse, cur, words, sigma, zx, zr, p22, p21, p20, p11, v_th, v_reset, ref_steps,
           noisy, spikes, count, i_rise, p2h, rise_decay, rise_gain, use_rise):
    i = cuda.grid(1)
    if i < v.shape[0]:
        z32 = float32(sigma * normal_from_hash(words[i], zx, zr)) if noisy else float32(0.0)
        if lif_cell(i, z32, v, i_syn, refr, i_ext, pulse, cur, p22, p21, p20, p11, v_th, v_reset, ref_steps, i_rise,
                    p2h, rise_decay, rise_gain, use_rise):
            spikes[cuda.atomic.add(count, 0, 1)] = i


@cuda.jit
def _lif_multi_k(v, i_syn, i_rise, refr, i_ext, pulse, cur, words, sigma, zx, zr, noisy, p22, p20, dt_tau, has_cond,
                 any_rise, r_p21, r_p11, r_p2h, r_rise_decay, r_rise_gain, r_e_rev, r_cond, r_rise, v_th, v_reset,
                 ref_steps, spikes, count):
    i = cuda.grid(1)
    if i < v.shape[0]:
        z32 = float32(sigma * normal_from_hash(words[i], zx, zr)) if noisy else float32(0.0)
        if lif_multi_neuron(i, z32, v, i_syn, i_rise, refr, i_ext, pulse, cur, p22, p20, dt_tau, has_cond, any_rise,
                            r_p21, r_p11, r_p2h, r_rise_decay, r_rise_gain, r_e_rev, r_cond, r_rise, v_th, v_reset,
                            ref_steps):
            spikes[cuda.atomic.add(count, 0, 1)] = i


@cuda.jit
def _receptor_input_k(v, i_syn, r_cond, r_e_rev, out):
    i = cuda.grid(1)
    if i < v.shape[0]:
        acc = float32(0.0)
        for r in range(i_syn.shape[0]):
            if r_cond[r]:
                acc = acc + i_syn[r, i] * (r_e_rev[r] - v[i])
            else:
                acc = acc + i_syn[r, i]
        out[i] = acc


@cuda.jit
def _receptor_decay_k(i_syn, i_rise, cur, r_p11, r_rise, r_rise_decay, r_rise_gain):
    i = cuda.grid(1)
    if i < i_syn.shape[1]:
        for r in range(i_syn.shape[0]):
            if r_rise[r]:
                h = i_rise[r, i]
                i_syn[r, i] = i_syn[r, i] * r_p11[r] + r_rise_gain[r] * h
                i_rise[r, i] = h * r_rise_decay[r] + cur[r, i]
            else:
                i_syn[r, i] = i_syn[r, i] * r_p11[r] + cur[r, i]
            cur[r, i] = float32(0.0)


# -- deliveries: fixed-point sums ---------------------------------------------------------------------
# A delivery adds round(w * 2^32) into an int64 twin of the ring row (integer addition: the same sum
# in whatever order the threads come); at the end of the step ``fold`` adds each twin entry into its
# float32 ring entry in one rounding and clears it. So a step's input is the same on every run,
# whatever the threads' order (a restored checkpoint continues exactly), and the twins are empty at
# every step boundary (snapshots read the float32 rings only).
FIXED = 4294967296.0
_INV_FIXED = 1.0 / FIXED


@cuda.jit(device=True)
def fx(w):
    """The fixed-point value of a delivered weight (steps of 2^-32; |sums| below 2^31)."""
    return int64(math.floor(float64(w) * FIXED + 0.5))


@cuda.jit(device=True)
def fold_entry(acc, ring, i):
    """One twin entry into its ring entry (one rounding), the twin cleared; ``i`` an index or a tuple."""
    a = acc[i]
    if a != 0:
        ring[i] = float32(float64(ring[i]) + float64(a) * _INV_FIXED)
        acc[i] = 0


@cuda.jit
def _fold_k(acc, ring):
    for i in range(cuda.grid(1), acc.shape[0], cuda.gridsize(1)):
        fold_entry(acc, ring, i)


@cuda.jit
def _propagate_k(spikes, n_spikes, indptr, indices, weights, row):
    k = cuda.grid(1)
    if k < n_spikes:
        s = spikes[k]
        for j in range(indptr[s], indptr[s + 1]):
            cuda.atomic.add(row, indices[j], fx(weights[j]))


@cuda.jit
def _propagate_uniform_k(spikes, n_spikes, indptr, indices, weight, row):
    k = cuda.grid(1)
    if k < n_spikes:
        s = spikes[k]
        for j in range(indptr[s], indptr[s + 1]):
            cuda.atomic.add(row, indices[j], fx(weight))


@cuda.jit
def _propagate_delays_k(spikes, n_spikes, indptr, indices, weights, delays, ring, t):
    k = cuda.grid(1)
    if k < n_spikes:
        s = spikes[k]
        r = ring.shape[0]
        for j in range(indptr[s], indptr[s + 1]):
            cuda.atomic.add(ring, ((t + delays[j]) % r, indices[j]), fx(weights[j]))


@cuda.jit
def _poisson_k(skey, p, spikes, count):
    i = cuda.grid(1)
    if i < p.shape[0]:
        if uniform_from_hash(draw_word(skey, i)) < p[i]:
            spikes[cuda.atomic.add(count, 0, 1)] = i


@cuda.jit
def _count_k(counts, spikes, n):
    k = cuda.grid(1)
    if k < n:
        cuda.atomic.add(counts, spikes[k], 1)


@cuda.jit
def _count_groups_k(acc, spikes, n, member_ptr, member_group):
    k = cuda.grid(1)
    if k < n:
        s = spikes[k]
        for q in range(member_ptr[s], member_ptr[s + 1]):
            cuda.atomic.add(acc, member_group[q], 1)


@cuda.jit
def _trace_scale_k(x, factor):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        x[i] *= factor


@cuda.jit(device=True)
def _bounded_d(wj, dw, w_min, w_max, soft):
    if soft:
        span = w_max - w_min
        if dw > 0:
            dw = dw * (w_max - wj) / span
        else:
            dw = dw * (wj - w_min) / span
    wj = wj + dw
    return min(max(wj, w_min), w_max)


@cuda.jit
def _stdp_post_k(post_spikes, n_post, csc_indptr, csc_syn, csc_pre, w, x_pre, x_post, a_minus, nearest,
                 w_min, w_max, soft, frozen, modulated, elig, inv_pending, potentiated, track):
    # one thread per post spike: a synapse has one post neuron, so no two threads share a weight
    k = cuda.grid(1)
    if k < n_post:
        i = post_spikes[k]
        for q in range(csc_indptr[i], csc_indptr[i + 1]):
            j = csc_syn[q]
            if frozen[j]:
                continue
            dw = x_pre[csc_pre[q]]
            if modulated:
                elig[j] += dw * inv_pending
            else:
                old = w[j]
                w[j] = _bounded_d(old, dw, w_min, w_max, soft)
                if track and w[j] > old:
                    potentiated[j] = 1
        if nearest:
            x_post[i] = a_minus
        else:
            x_post[i] += a_minus


@cuda.jit(device=True)
def dep_d(j, post, w, row, x_post, post_decay, w_min, w_max, soft, frozen, modulated, elig, inv):
    """Synapse j's presynaptic spike arriving: it transmits into ``row`` at its target post[j], and
    (unless quarantined) depresses by the target's trace: into the eligibility under a modulated
    rule, else into the bounded weight (``kernels/stdp.py``'s rule; static CSR and the growing store)."""
    tgt = post[j]
    cuda.atomic.add(row, tgt, fx(w[j]))
    if frozen[j]:
        return
    dw = -(x_post[tgt] * post_decay)
    if modulated:
        elig[j] += dw * inv
    else:
        w[j] = _bounded_d(w[j], dw, w_min, w_max, soft)


@cuda.jit
def _stdp_pre_k(pre_spikes, n_pre, indptr, indices, w, row, x_pre, x_post, post_decay, a_plus, nearest,
                w_min, w_max, soft, frozen, modulated, elig, inv_pending):
    # one thread per arriving pre neuron: each owns its row of synapses
    k = cuda.grid(1)
    if k < n_pre:
        s = pre_spikes[k]
        for j in range(indptr[s], indptr[s + 1]):
            dep_d(j, indices, w, row, x_post, post_decay, w_min, w_max, soft, frozen, modulated, elig, inv_pending)
        if nearest:
            x_pre[s] = a_plus
        else:
            x_pre[s] += a_plus


@cuda.jit(device=True)
def _seg_d(delays, lo, hi, d):
    a, b = lo, hi
    while a < b:
        m = (a + b) // 2
        if delays[m] < d:
            a = m + 1
        else:
            b = m
    e, b = a, hi
    while e < b:
        m = (e + b) // 2
        if delays[m] <= d:
            e = m + 1
        else:
            b = m
    return a, e


@cuda.jit
def _stdp_pre_hetero_k(spikes, n, d, t_next, indptr, indices, delays, w, row, a_pre, last, table, x_post,
                       post_decay, a_plus, nearest, w_min, w_max, soft, frozen, check_frozen, modulated, elig,
                       inv_pending):
    # one thread per presynaptic spike of one lag: each owns that spike's delay-d segment
    k = cuda.grid(1)
    if k < n:
        s = spikes[k]
        a, b = _seg_d(delays, indptr[s], indptr[s + 1], d)
        for j in range(a, b):
            tgt = indices[j]
            cuda.atomic.add(row, tgt, fx(w[j]))
            if nearest:
                a_pre[j] = a_plus
            else:
                steps = t_next - last[j]
                dec = table[steps] if steps < table.shape[0] else float32(0.0)
                a_pre[j] = a_pre[j] * dec + a_plus
            last[j] = t_next
            if check_frozen and frozen[j]:
                continue
            dw = -(x_post[tgt] * post_decay)
            if modulated:
                elig[j] += dw * inv_pending
            else:
                w[j] = _bounded_d(w[j], dw, w_min, w_max, soft)


@cuda.jit
def _stdp_post_hetero_k(post_spikes, n_post, t, csc_indptr, csc_syn, w, a_pre, last, table, x_post, a_minus,
                        nearest, w_min, w_max, soft, frozen, check_frozen, modulated, elig, inv_pending,
                        potentiated, track):
    k = cuda.grid(1)
    if k < n_post:
        i = post_spikes[k]
        for q in range(csc_indptr[i], csc_indptr[i + 1]):
            j = csc_syn[q]
            if (check_frozen and frozen[j]) or a_pre[j] == 0.0:
                continue
            steps = t - last[j]
            dw = a_pre[j] * table[steps] if steps < table.shape[0] else float32(0.0)
            if modulated:
                elig[j] += dw * inv_pending
            else:
                old = w[j]
                w[j] = _bounded_d(old, dw, w_min, w_max, soft)
                if track and w[j] > old:
                    potentiated[j] = 1
        if nearest:
            x_post[i] = a_minus
        else:
            x_post[i] += a_minus


@cuda.jit
def _modulated_k(w, elig, factor, w_min, w_max, soft, frozen, potentiated, track):
    for j in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
        if frozen[j]:
            continue
        nw = _bounded_d(w[j], factor * elig[j], w_min, w_max, soft)
        if track and nw > w[j]:
            potentiated[j] = 1
        w[j] = nw


@cuda.jit
def _modulated_leveled_k(w, elig, factor, level, dep_scale, w_min, w_max, soft, frozen, potentiated, track):
    for j in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
        if frozen[j]:
            continue
        dw = factor * elig[j]
        if dw < 0:
            dw = dw * dep_scale[level[j]]
        nw = _bounded_d(w[j], dw, w_min, w_max, soft)
        if track and nw > w[j]:
            potentiated[j] = 1
        w[j] = nw


@cuda.jit
def _cascade_k(w, level, factors, frozen):
    for j in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
        if not frozen[j]:
            w[j] = float32(w[j] * factors[level[j]])


@cuda.jit
def _scaling_k(csc_indptr, csc_syn, w, cap, frozen):
    i = cuda.grid(1)
    if i < csc_indptr.shape[0] - 1:
        total = 0.0
        for q in range(csc_indptr[i], csc_indptr[i + 1]):
            j = csc_syn[q]
            if not frozen[j]:
                total += w[j]
        if total > cap:
            f = float32(cap / total)
            for q in range(csc_indptr[i], csc_indptr[i + 1]):
                j = csc_syn[q]
                if not frozen[j]:
                    w[j] = w[j] * f


def _blocks(n: int) -> int:
    return max(1, math.ceil(n / _TPB))


def _grid(n: int) -> int:
    """Blocks for a grid-stride kernel over n items."""
    return min(GRID_CAP, _blocks(n))


@register("cuda")
class CudaBackend:
    name = "cuda"
    host_arrays = False
    fixed_point_rings = True      # deliveries go to int64 twins of the rings (``fx``, ``fold_rings``)

    def __init__(self, **options):
        if options:
            raise TypeError(f"cuda backend takes no options, got {sorted(options)}")
        if not cuda.is_available():
            raise RuntimeError("the cuda backend needs a CUDA GPU (or NUMBA_ENABLE_CUDASIM=1 set before numba is imported)")
        self._count = cuda.to_device(np.zeros(1, np.int32))
        self._zero = np.zeros(1, np.int32)
        self.launches = 0       # kernel launches so far (benchmarks read the difference)
        self.transfers = 0      # host <-> device copies so far (allocations of zeros included)

    # device-resident block runs (spiking/backends/cuda_block.py)
    @property
    def device_steps(self):
        if getattr(self, "_steps", None) is None:
            from .cuda_block import DeviceSteps
            self._steps = DeviceSteps(self)
        return self._steps

    def block_counts(self, n_groups: int):
        """The (groups, 2) device array of spike counts a block keeps (made once per group count)."""
        c = getattr(self, "_block_counts", None)
        if c is None or c.shape[0] != n_groups:
            c = self._block_counts = self.zeros((n_groups, 2), np.int32)
        return c

    def block_why_not(self, sim):
        from .cuda_block import why_not
        return why_not(sim)

    def run_block(self, sim, n: int) -> None:
        from .cuda_block import run_block
        run_block(sim, n)

    def _launch(self, kernel, blocks):
        self.launches += 1
        return kernel[blocks, _TPB]

    def asarray(self, a):
        self.transfers += 1
        return cuda.to_device(np.ascontiguousarray(a))

    def zeros(self, shape, dtype):
        self.transfers += 1
        return cuda.to_device(np.zeros(shape, dtype=dtype))

    def to_host(self, a) -> np.ndarray:
        self.transfers += 1
        return a.copy_to_host()

    def synchronize(self) -> None:
        cuda.synchronize()

    def all_finite(self, a) -> bool:
        self.transfers += 1
        return bool(np.isfinite(a.copy_to_host()).all())

    def _take_count(self) -> int:
        self.transfers += 2
        n = int(self._count.copy_to_host()[0])
        self._count.copy_to_device(self._zero)
        return n

    def append_spikes(self, spikes, n, idx) -> int:
        if idx.size:
            self.transfers += 1
            spikes[n:n + idx.size].copy_to_device(np.ascontiguousarray(idx, dtype=np.int32))
        return n + idx.size

    def count_spikes(self, counts, spikes, n) -> None:
        self._launch(_count_k, _blocks(n))(counts, spikes, n)

    def count_groups(self, acc, spikes, n, member_ptr, member_group) -> None:
        self._launch(_count_groups_k, _blocks(n))(acc, spikes, n, member_ptr, member_group)

    def spikes_to_host(self, spikes, n) -> np.ndarray:
        self.transfers += bool(n)
        return spikes[:n].copy_to_host() if n else np.zeros(0, np.int32)

    def hash_fill(self, skey, words):
        self._launch(_hash_fill_k, _blocks(words.shape[0]))(skey, words)

    def izh_step(self, s, p, pulse, cur, scratch, zx, zr):
        # the records are unpacked here: numba-cuda kernels take plain arrays and scalars
        self._launch(_izh_k, _blocks(s.v.shape[0]))(s.v, s.u, p.a, p.b, p.c, p.d, s.i_ext, s.i_syn, p.syn_decay, pulse, cur,
                                            scratch.words, p.sigma, zx, zr, p.dt, p.half_steps, p.v_peak, p.use_syn,
                                            p.use_ext, p.noisy, scratch.spikes, self._count, s.i_rise, p.rise_decay,
                                            p.rise_gain, p.use_rise, p.general, p.k, p.vr, p.vt, p.inv_c)
        return self._take_count()

    def lif_step(self, s, p, pulse, cur, scratch, zx, zr):
        self._launch(_lif_k, _blocks(s.v.shape[0]))(s.v, s.i_syn, s.refr, s.i_ext, pulse, cur, scratch.words, p.sigma, zx, zr,
                                            p.p22, p.p21, p.p20, p.p11, p.v_th, p.v_reset, p.ref_steps, p.noisy,
                                            scratch.spikes, self._count, s.i_rise, p.p2h, p.rise_decay, p.rise_gain,
                                            p.use_rise)
        return self._take_count()

    def izh_multi_step(self, s, p, pulse, cur, scratch, zx, zr):
        from ..kernels.izh_receptors import inner_state
        nb = _blocks(s.v.shape[0])
        self._launch(_receptor_input_k, nb)(s.v, s.i_syn, p.r_cond, p.r_e_rev, p.total)
        n = self.izh_step(inner_state(s, p), p.inner, pulse, p.zero, scratch, zx, zr)
        self._launch(_receptor_decay_k, nb)(s.i_syn, s.i_rise, cur, p.r_p11, p.r_rise, p.r_rise_decay, p.r_rise_gain)
        return n

    def lif_multi_step(self, s, p, pulse, cur, scratch, zx, zr):
        self._launch(_lif_multi_k, _blocks(s.v.shape[0]))(s.v, s.i_syn, s.i_rise, s.refr, s.i_ext, pulse, cur, scratch.words,
                                                  p.sigma, zx, zr, p.noisy, p.p22, p.p20, p.dt_tau, p.has_cond,
                                                  p.any_rise, p.r_p21, p.r_p11, p.r_p2h, p.r_rise_decay,
                                                  p.r_rise_gain, p.r_e_rev, p.r_cond, p.r_rise, p.v_th, p.v_reset,
                                                  p.ref_steps, scratch.spikes, self._count)
        return self._take_count()

    def fold_rings(self, pairs) -> None:
        """Each (fixed-point twin, ring) pair: the step's deliveries into the ring, the twin cleared."""
        for acc, ring in pairs:
            self._launch(_fold_k, _grid(acc.size))(acc.reshape(acc.size), ring.reshape(ring.size))

    def propagate(self, spikes, n_spikes, indptr, indices, weights, row):
        self._launch(_propagate_k, _blocks(n_spikes))(spikes, n_spikes, indptr, indices, weights, row)

    def propagate_uniform(self, spikes, n_spikes, indptr, indices, weight, row):
        self._launch(_propagate_uniform_k, _blocks(n_spikes))(spikes, n_spikes, indptr, indices, weight, row)

    def propagate_delays(self, spikes, n_spikes, indptr, indices, weights, delays, ring, t):
        self._launch(_propagate_delays_k, _blocks(n_spikes))(spikes, n_spikes, indptr, indices, weights, delays, ring, t)

    def poisson_step(self, skey, p, spikes):
        self._launch(_poisson_k, _blocks(p.shape[0]))(skey, p, spikes, self._count)
        return self._take_count()

    def write(self, dst, src) -> None:
        self.transfers += 1
        dst.copy_to_device(np.ascontiguousarray(src))

    def copy_prefix(self, dst, src, n) -> None:
        if n:
            self.launches += 1      # a device-to-device copy
            dst[:n].copy_to_device(src[:n])

    # plasticity (same semantics as kernels/stdp.py; post-side and pre-side updates of one
    # step touch disjoint synapse sets per thread, so only the transmission needs atomics)
    def trace_scale(self, x, factor):
        self._launch(_trace_scale_k, _grid(x.shape[0]))(x, factor)

    def stdp_post(self, post_spikes, n_post, csc_indptr, csc_syn, csc_pre, w, x_pre, x_post, a_minus, nearest,
                  w_min, w_max, soft, frozen, check_frozen, modulated, elig, inv_pending, potentiated, track):
        self._launch(_stdp_post_k, _blocks(n_post))(post_spikes, n_post, csc_indptr, csc_syn, csc_pre, w, x_pre, x_post,
                                            a_minus, nearest, w_min, w_max, soft, frozen, modulated, elig,
                                            inv_pending, potentiated, track)

    def stdp_pre_transmit(self, pre_spikes, n_pre, indptr, indices, w, row, x_pre, x_post, post_decay, a_plus,
                          nearest, w_min, w_max, soft, frozen, check_frozen, modulated, elig, inv_pending):
        self._launch(_stdp_pre_k, _blocks(n_pre))(pre_spikes, n_pre, indptr, indices, w, row, x_pre, x_post, post_decay,
                                          a_plus, nearest, w_min, w_max, soft, frozen, modulated, elig, inv_pending)

    def stdp_pre_hetero(self, hist, hist_n, t_next, d_min, d_max, indptr, indices, delays, w, row, a_pre, last, table,
                        log_decay, x_post, post_decay, a_plus, nearest, w_min, w_max, soft, frozen, check_frozen,
                        modulated, elig, inv_pending):
        h = hist.shape[0]
        for d in range(d_min, d_max + 1):          # one launch per delay with arrivals now
            src = t_next - d
            if src < 0 or not hist_n[src % h]:
                continue
            n = int(hist_n[src % h])
            self._launch(_stdp_pre_hetero_k, _blocks(n))(hist[src % h], n, d, t_next, indptr, indices, delays, w, row, a_pre,
                                                 last, table, x_post, post_decay, a_plus, nearest, w_min, w_max,
                                                 soft, frozen, check_frozen, modulated, elig, inv_pending)

    def stdp_post_hetero(self, post_spikes, n_post, t, csc_indptr, csc_syn, w, a_pre, last, table, log_decay,
                         x_post, a_minus, nearest, w_min, w_max, soft, frozen, check_frozen, modulated, elig,
                         inv_pending, potentiated, track):
        self._launch(_stdp_post_hetero_k, _blocks(n_post))(post_spikes, n_post, t, csc_indptr, csc_syn, w, a_pre, last, table,
                                                   x_post, a_minus, nearest, w_min, w_max, soft, frozen,
                                                   check_frozen, modulated, elig, inv_pending, potentiated, track)

    def modulated_update(self, w, elig, factor, w_min, w_max, soft, frozen, potentiated, track):
        self._launch(_modulated_k, _grid(w.shape[0]))(w, elig, factor, w_min, w_max, soft, frozen, potentiated, track)

    def modulated_update_leveled(self, w, elig, factor, level, dep_scale, w_min, w_max, soft, frozen, potentiated,
                                 track):
        self._launch(_modulated_leveled_k, _grid(w.shape[0]))(w, elig, factor, level, dep_scale, w_min, w_max, soft, frozen,
                                                        potentiated, track)

    def cascade_decay(self, w, level, factors, frozen):
        self._launch(_cascade_k, _grid(w.shape[0]))(w, level, factors, frozen)

    def synaptic_scaling(self, csc_indptr, csc_syn, w, cap, frozen):
        self._launch(_scaling_k, _blocks(csc_indptr.shape[0] - 1))(csc_indptr, csc_syn, w, cap, frozen)
