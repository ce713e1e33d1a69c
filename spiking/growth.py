"""Structural plasticity: a synapse store that starts empty, grows where STDP finds causal
co-activation, and prunes what decays (EMBER's lateral concept-layer store, spec 2.3).

``Projection(pre, post, Grow(w_create, w_prune), plasticity=STDP(...), delay_ms=d)``:

* creation: when a postsynaptic neuron i fires, every presynaptic neuron j whose spike arrived
  within ``candidate_window_ms`` is a candidate; if the update that pairing would make,
  ``gain * x_pre[j]`` (gain = 1; for a three-factor rule eta * D(t) * tau_e, the change the
  eligibility would produce at the current modulator level), exceeds ``w_create`` and (j, i)
  has no synapse yet, one is created: with that weight (capped at w_max), or for a three-factor
  rule with weight w_create and the pairing's eligibility;
  with ``post_coactive > 0`` only post spikes of a neuron that fired recently (its trace from
  earlier spikes >= post_coactive * A-) create: a lone spontaneous post spike does not; with
  ``pre_active > 0`` only pre neurons whose trace is >= pre_active * A+ (a burst) are candidates;
  with ``potential < 1`` only that fraction of pairs may ever hold a synapse (the "potential
  synapses" of structural-plasticity models): a seeded hash of (pre, post) decides, so the mask
  costs no memory and the seed rebuilds it exactly (``potential_pairs`` tests pairs in numpy);
* existing synapses learn by the projection's STDP rule (traces per neuron, homogeneous delay);
* pruning: once per simulated second, synapses below ``w_prune`` are removed (quarantined ones
  are kept), the arrays are compacted and the indices rebuilt; then, if the rule sets
  ``max_total_in``, each neuron's incoming weights are scaled down to that cap (homeostasis);
* memory: per slot 4 + 4 bytes of ids, 12 bytes of floats (weight, eligibility, kept value),
  3 bytes of flags, 32-48 bytes of hash table and 16 of indices; capacity doubles when full, so a
  store of 2 x 10^5 synapses among 150,000 neurons takes ~20 MB (measured), never a dense matrix.

On the CPU backends the store lives in host memory and its kernels are numba-compiled (there is no
separate numpy twin: the store is checked by invariants — no duplicate pairs, hash and arrays
consistent, counts — and by behaviour). On the cuda backend ``backends/cuda_store.py`` runs every
operation of it on the device, this class's arrays being the host's mirror.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .kernels import growth as gk
from .kernels.order import counting_sort
from .params import ParameterError, _nonneg, _positive


@dataclass(frozen=True)
class Grow:
    """Connectivity of a growing projection: empty at the start."""

    w_create: float = 0.01
    w_prune: float = 0.005
    candidate_window_ms: float = 100.0
    initial_capacity: int = 1024
    autapses: bool = False
    post_coactive: float = 0.0   # creation also needs the post neuron's earlier spikes: its trace before
                                 # this spike >= post_coactive * A- (0: off; needs all-to-all pairing)
    pre_active: float = 0.0      # creation also needs a pre burst: the pre trace >= pre_active * A+ (0: off)
    potential: float = 1.0       # fraction of pairs that may ever hold a synapse (a seeded hash of the pair)
    potential_seed: int = 0

    def __post_init__(self):
        _positive("Grow", "w_create", self.w_create)
        _nonneg("Grow", "w_prune", self.w_prune)
        _positive("Grow", "candidate_window_ms", self.candidate_window_ms)
        if self.w_create < self.w_prune:
            raise ParameterError(f"Grow needs w_create >= w_prune, got w_create={self.w_create}, w_prune={self.w_prune}")
        _nonneg("Grow", "post_coactive", self.post_coactive)
        _nonneg("Grow", "pre_active", self.pre_active)
        _positive("Grow", "potential", self.potential)
        if self.potential > 1.0:
            raise ParameterError(f"Grow.potential is a fraction of pairs in (0, 1], got {self.potential!r}")
        if not isinstance(self.potential_seed, int) or isinstance(self.potential_seed, bool) or not (
                0 <= self.potential_seed < 2 ** 63):
            raise ParameterError(f"Grow.potential_seed must be an int in [0, 2**63), got {self.potential_seed!r}")
        if not isinstance(self.initial_capacity, int) or self.initial_capacity < 1:
            raise ParameterError(f"Grow.initial_capacity must be an int >= 1, got {self.initial_capacity!r}")


def _potential_threshold(grow: Grow) -> np.uint64:
    """A pair is a potential synapse when its 32-bit hash is below this (2**32: every pair)."""
    return np.uint64(min(2 ** 32, int(round(grow.potential * 2 ** 32))))


def potential_pairs(grow: Grow, pre, post) -> np.ndarray:
    """Which of the pairs (pre[k], post[k]) are potential synapses under ``grow`` (numpy twin of
    the kernel's test)."""
    pre = np.asarray(pre, np.uint64)
    post = np.asarray(post, np.uint64)
    if grow.potential >= 1.0:
        return np.ones(pre.shape, bool)
    with np.errstate(over="ignore"):
        z = ((pre << np.uint64(32)) | post) ^ (np.uint64(grow.potential_seed) * np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(32)) < _potential_threshold(grow)


def _pow2(n: int) -> int:
    return 1 << max(4, int(math.ceil(math.log2(max(n, 1)))))


class GrowingStore:
    """Host arrays of a growing projection and its per-step operations."""

    F = ("weights", "elig", "saved_weights")
    U = ("frozen", "potentiated", "level")

    def __init__(self, grow: Grow, rule, n_pre: int, n_post: int, delay_steps: int, dt_ms: float, same_pop: bool):
        self.grow, self.rule = grow, rule
        self.n_pre, self.n_post = n_pre, n_post
        self.delay, self.dt_ms, self.same_pop = delay_steps, dt_ms, same_pop
        self.window = max(1, int(round(grow.candidate_window_ms / dt_ms)))
        if grow.post_coactive > 0 and rule.pairing != "all":
            raise ParameterError("Grow.post_coactive needs an STDP rule with all-to-all pairing (the post trace's history)")
        # the post trace includes this spike (+A-): the earlier spikes must add post_coactive * A-
        self.post_min = np.float32((1.0 + grow.post_coactive) * rule.a_minus) if grow.post_coactive > 0 else np.float32(0.0)
        self.pot_thresh = _potential_threshold(grow)
        self.pot_seed = np.uint64(grow.potential_seed)
        self.pre_min = np.float32(grow.pre_active * rule.a_plus)
        self.k = gk
        self.n = 0
        self.tail_start = 0
        self._alloc(grow.initial_capacity)
        self.x_pre = np.zeros(n_pre, np.float32)
        self.x_post = np.zeros(n_post, np.float32)
        self._mark = np.zeros(max(n_pre, n_post), np.int32)   # scratch of the step kernels, kept zeroed
        self.created_total = 0
        self.pruned_total = 0

    # -- storage ---------------------------------------------------------------------
    def _alloc(self, cap: int, keep: int = 0, index: bool = True):
        """Arrays of capacity ``cap`` (the first ``keep`` slots kept) and a hash table to match, filled
        unless ``index`` is False (the device store's mirror: its table is rebuilt where used)."""
        old = getattr(self, "fdata", None)
        fdata = np.zeros((3, cap), np.float32)
        udata = np.zeros((3, cap), np.uint8)
        pre = np.zeros(cap, np.int32)
        post = np.zeros(cap, np.int32)
        if old is not None and keep:
            fdata[:, :keep] = self.fdata[:, :keep]
            udata[:, :keep] = self.udata[:, :keep]
            pre[:keep] = self.pre[:keep]
            post[:keep] = self.post[:keep]
        self.fdata, self.udata, self.pre, self.post = fdata, udata, pre, post
        self.capacity = cap
        self.keys = np.empty(_pow2(2 * cap), np.uint64)
        self.vals = np.zeros(self.keys.size, np.int64)
        if index:
            self.k.hash_rebuild(self.keys, self.vals, self.pre, self.post, self.n)
        if not hasattr(self, "out_ptr"):
            self._reindex()

    def _reindex(self):
        """The by-pre and by-post indices (each a stable counting sort of the slots: 2x10^5 synapses
        in ~2 ms, where numpy's stable argsorts took ~55 ms); the tail is empty afterwards."""
        n = self.n
        slots = np.arange(n, dtype=np.int64)
        self.out_ptr, self.out_idx = counting_sort(self.pre, slots, self.n_pre)
        self.in_ptr, self.in_idx = counting_sort(self.post, slots, self.n_post)
        self.tail_start = n

    @property
    def weights(self):
        return self.fdata[0]

    def arrays(self) -> dict:
        """The live part of every per-synapse array (views)."""
        n = self.n
        d = {name: self.fdata[i, :n] for i, name in enumerate(self.F)}
        d.update({name: self.udata[i, :n] for i, name in enumerate(self.U)})
        d.update(pre=self.pre[:n], post=self.post[:n])
        return d

    # -- one step --------------------------------------------------------------------------
    def step(self, t, pre_group, post_group, row, gain, inv_pending, decays):
        """Post-side learning and creation for the post spikes of step t, then the arrivals of
        step t + 1 (transmission into ``row`` and depression).  ``decays`` = (pre, post) trace
        decay per step."""
        r, k = self.rule, self.k
        f32 = np.float32
        k.trace_decay(self.x_post, decays[1])
        a = self.fdata
        u = self.udata
        if post_group.n:
            k.growing_post(post_group.spikes, post_group.n, self.in_ptr, self.in_idx, self.tail_start, self.n,
                           self.post, self.pre, a[0], self.x_pre, self.x_post, f32(r.a_minus),
                           r.pairing == "nearest", f32(r.w_min), f32(r.w_max), r.bounds == "soft", u[0], r.modulated,
                           a[1], inv_pending, u[1], self._mark)
            if gain > 0.0:
                hist, hist_n = pre_group.state["hist_spikes"], pre_group.hist_n
                first, last = t - self.delay - self.window + 1, t - self.delay
                while True:
                    n, done = k.grow_post(post_group.spikes, post_group.n, t, hist, hist_n, first, last, self.x_pre,
                                          f32(gain), f32(self.grow.w_create), f32(r.w_max), self.grow.autapses,
                                          self.same_pop, self.keys, self.vals, self.pre, self.post, a[0], a[1],
                                          r.modulated, self.n, self.capacity, self.x_post, self.post_min,
                                          self.pot_thresh, self.pot_seed, self.pre_min)
                    self.created_total += n - self.n
                    self.n = n
                    if done:
                        break
                    self._alloc(2 * self.capacity, keep=self.n)
                    a, u = self.fdata, self.udata
        k.trace_decay(self.x_pre, decays[0])
        src = t + 1 - self.delay
        if src >= 0:
            hist, hist_n = pre_group.state["hist_spikes"], pre_group.hist_n
            rr = src % hist.shape[0]
            if hist_n[rr]:
                k.growing_pre(hist[rr], int(hist_n[rr]), self.out_ptr, self.out_idx, self.tail_start, self.n,
                              self.pre, self.post, a[0], row, self.x_pre, self.x_post, decays[1], f32(r.a_plus),
                              r.pairing == "nearest", f32(r.w_min), f32(r.w_max), r.bounds == "soft", u[0],
                              r.modulated, a[1], inv_pending, self._mark)

    def insert(self, pre, post, weights) -> int:
        """Add synapses (pre[k] -> post[k], weight[k]) that the store does not hold yet (benchmarks
        and restoring from other tools); duplicates of existing pairs and of each other are
        skipped. Returns how many were added."""
        pre = np.asarray(pre, np.int64).ravel()
        post = np.asarray(post, np.int64).ravel()
        w = np.broadcast_to(np.asarray(weights, np.float32), pre.shape)
        if pre.shape != post.shape:
            raise ParameterError("insert needs pre and post of the same length")
        if pre.size and (pre.min() < 0 or pre.max() >= self.n_pre or post.min() < 0 or post.max() >= self.n_post):
            raise ParameterError("insert: a neuron index is out of range")
        have = set(zip(self.pre[:self.n].tolist(), self.post[:self.n].tolist()))
        keep, seen = [], set()
        for k, pair in enumerate(zip(pre.tolist(), post.tolist())):
            if pair not in have and pair not in seen and (self.grow.autapses or not self.same_pop or pair[0] != pair[1]):
                seen.add(pair)
                keep.append(k)
        keep = np.asarray(keep, np.int64)
        need = self.n + keep.size
        if need > self.capacity:
            self._alloc(_pow2(need), keep=self.n)
        sl = slice(self.n, need)
        self.pre[sl], self.post[sl] = pre[keep], post[keep]
        self.fdata[0, sl] = np.clip(w[keep], self.rule.w_min, self.rule.w_max)
        self.fdata[1:, sl] = 0
        self.udata[:, sl] = 0
        self.n = need
        self.created_total += keep.size
        self.k.hash_rebuild(self.keys, self.vals, self.pre, self.post, self.n)
        self._reindex()
        return int(keep.size)

    def relabel(self, pre_map, post_map) -> None:
        """Move every synapse j -> i to (pre_map[j], post_map[i]), weights, levels and traces kept
        (control experiments: the same store on other cells). Both maps must be permutations, so
        no two synapses meet on one pair."""
        pre_map = np.asarray(pre_map, np.int64)
        post_map = np.asarray(post_map, np.int64)
        for m, n, what in ((pre_map, self.n_pre, "pre"), (post_map, self.n_post, "post")):
            if m.shape != (n,) or not np.array_equal(np.sort(m), np.arange(n)):
                raise ParameterError(f"relabel: the {what} map must be a permutation of {n} neurons")
        n = self.n
        self.pre[:n] = pre_map[self.pre[:n]]
        self.post[:n] = post_map[self.post[:n]]
        self.k.hash_rebuild(self.keys, self.vals, self.pre, self.post, self.n)
        self._reindex()

    def housekeeping(self):
        """Prune below w_prune, compact, rebuild the hash table and the indices."""
        before = self.n
        self.n = self.k.prune_compact(self.n, self.fdata[0], np.float32(self.grow.w_prune), self.udata[0], self.fdata,
                                      self.udata, self.pre, self.post)
        self.pruned_total += before - self.n
        if self.n == before and self.tail_start == self.n:
            return        # nothing pruned or created since the last rebuild: the table and indices hold
        self.fdata[:, self.n:] = 0
        self.udata[:, self.n:] = 0
        self.k.hash_rebuild(self.keys, self.vals, self.pre, self.post, self.n)
        self._reindex()

    def homeostasis(self):
        """Synaptic scaling (the rule's ``max_total_in``): right after housekeeping the by-post
        index covers every synapse, so each neuron's incoming weights are scaled down to the cap
        with the same kernel as a static plastic projection's."""
        cap = self.rule.max_total_in
        if cap is not None and self.n:
            self.rt.k.synaptic_scaling(self.in_ptr, self.in_idx, self.fdata[0], float(cap), self.udata[0])

    # -- what the engine calls on any store (the device's store overrides them) --------------------
    def mark_host_changed(self, structure: bool = False) -> None:
        """The host arrays were edited in place (here they are the store itself)."""

    def bind_runtime(self) -> None:
        """Point the plasticity runtime at the live synapses."""
        self.rt.a = self.arrays()

    def clear_potentiated(self) -> None:
        self.udata[1, :] = 0

    def promote_levels(self, levels: int) -> None:
        """Each potentiated synapse one cascade level up (capped), the marks cleared."""
        a = self.arrays()
        a["level"][:] = np.minimum(a["level"].astype(np.int64) + a["potentiated"], levels - 1)
        a["potentiated"][:] = 0

    def decay_traces(self, steps: int) -> None:
        """Both traces decayed by ``steps`` steps at once (a skipped silence)."""
        self.k.trace_decay(self.x_pre, np.float32(float(self.rt.pre_decay) ** steps))
        self.k.trace_decay(self.x_post, np.float32(float(self.rt.post_decay) ** steps))

    def weights_finite(self) -> bool:
        return bool(np.isfinite(self.fdata[0, :self.n]).all())

    def stats(self, bins: int = 20) -> dict:
        w = self.fdata[0, :self.n]
        counts, edges = np.histogram(w, bins=bins, range=(self.rule.w_min, self.rule.w_max))
        return {"synapses": int(self.n), "capacity": int(self.capacity), "created_total": int(self.created_total),
                "pruned_total": int(self.pruned_total), "weight_hist": counts, "weight_edges": edges,
                "bytes": int(self.fdata.nbytes + self.udata.nbytes + self.pre.nbytes + self.post.nbytes
                             + self.keys.nbytes + self.vals.nbytes + self.out_idx.nbytes + self.in_idx.nbytes
                             + self.out_ptr.nbytes + self.in_ptr.nbytes)}

    # -- checkpoint ---------------------------------------------------------------------------
    def state(self) -> dict:
        d = {k: np.array(v) for k, v in self.arrays().items()}
        d.update(x_pre=self.x_pre.copy(), x_post=self.x_post.copy())
        return d

    def scalars(self) -> dict:
        return {"n": self.n, "capacity": self.capacity, "created_total": self.created_total,
                "pruned_total": self.pruned_total}

    def restore(self, arrays: dict, scalars: dict):
        n = int(scalars["n"])
        self.n = 0
        self._alloc(max(int(scalars["capacity"]), n, 1))
        self.n = n
        for i, name in enumerate(self.F):
            self.fdata[i, :n] = arrays[name]
        for i, name in enumerate(self.U):
            self.udata[i, :n] = arrays[name]
        self.pre[:n], self.post[:n] = arrays["pre"], arrays["post"]
        self.x_pre[:], self.x_post[:] = arrays["x_pre"], arrays["x_post"]
        self.created_total, self.pruned_total = int(scalars["created_total"]), int(scalars["pruned_total"])
        self.k.hash_rebuild(self.keys, self.vals, self.pre, self.post, self.n)
        self._reindex()
