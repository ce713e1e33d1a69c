"""The simulator: a fixed per-step schedule over built arrays on one backend.

Schedule of step t (every population, then every projection, then monitors):

1. neuron populations, in the order given: noise fill (if sigma > 0; the numba LIF step draws
   its own words, block by block), then the fused
   integrate / threshold / deliver / reset kernel, which consumes ring row t % R;
   sources: Poisson draws or the generator's spikes of step t;
   then spikes injected for step t are appended to the group's spikes.
2. projections: the spikes of step t are written into the target's ring buffer at
   row (t + delay) % R (pulse ring or current ring).
3. monitors record; t += 1.

``run(duration_ms)`` advances in chunks (default 100 ms of simulated time), calls
``callback(sim)`` after each chunk, checks every state variable for NaN/inf (raising
``NumericalError`` naming the population and variable), and shows a progress bar.
"""
from __future__ import annotations

import math
import os
import time
import warnings
from collections import defaultdict

import numpy as np

from . import audit, checkpoint, state
from .backends import get_backend
from .blocks import BlockRunner
from .build import STREAM_NOISE, STREAM_POISSON, BuiltGroup, BuiltNetwork, build
from .kernels.izhikevich import izh_records
from .kernels.lif import lif_records
from .kernels.lif_receptors import lif_multi_records
from .kernels.izh_receptors import izh_multi_records
from .kernels.noise import NeuronScratch
from .kernels.rng import ZIG_RATIO, ZIG_X, step_key_int, stream_key
from .model import Network
from .params import ParameterError


class NumericalError(FloatingPointError):
    """A state variable became NaN or infinite."""


_RECORDS = {"izh": izh_records, "lif": lif_records, "lif_multi": lif_multi_records,
            "izh_multi": izh_multi_records}   # kernel -> maker of its records


class _Group:
    """Backend-side arrays of one population or source."""

    def __init__(self, g: BuiltGroup, be, ring_rows: int):
        self.name, self.kind, self.size = g.name, g.kind, g.size
        self.noise_key = g.noise_key
        self.params = {k: (be.asarray(v) if isinstance(v, np.ndarray) and g.kind in ("izh", "lif") else v)
                       for k, v in g.params.items()}
        self.state = {k: be.asarray(v) for k, v in g.state.items()}
        self.spikes = be.zeros(g.size + 1, np.int32)
        self.n = 0
        self.ring_rows = ring_rows
        if g.kind in ("izh", "lif"):
            self.scratch = NeuronScratch(words=be.zeros(g.size, np.uint64), zbuf=be.zeros(g.size, np.float32),
                                         code=be.zeros(-(-g.size // 8) * 8, np.uint8),
                                         deferred=be.zeros(g.size, np.int32), spikes=self.spikes)
            self.multi = bool(g.params.get("multi", False))   # a population with named receptors
            self.kernel = getattr(be, f"{g.kind}_multi_step" if self.multi else f"{g.kind}_step")
            self.fused = g.kind in getattr(be, "fused_noise", ())   # the step draws its own words
            self.refresh()
        self.gen_ptr = 0   # a generator's next event
        if g.kind == "poisson":
            self.note_rates(g.state["p"])
        if "hist_counts" in g.state:
            self.hist_n = np.array(g.state["hist_counts"], np.int64)   # host copy of the history counts
        # a device backend delivers into fixed-point twins of the rings (integer atomics: the same
        # sums in any order) and folds them into the rings at the end of each step (``fold_rings``)
        self.acc = None
        if getattr(be, "fixed_point_rings", False) and "pulse_ring" in g.state:
            self.acc = {k: be.zeros(g.state[k].shape, np.int64) for k in ("pulse_ring", "current_ring")}


    def note_rates(self, p) -> None:
        """A Poisson source whose probabilities are all 0 cannot spike: its step is skipped (its
        draws are counter-based, so skipping them changes no later draw)."""
        self.firing = bool(np.any(np.asarray(p) > 0))

    def refresh(self) -> None:
        """(Re)make the kernel's parameter and state records from the dicts (after a switch such
        as ``use_ext`` or a restored noise level changed)."""
        self.p_rec, self.s_rec = _RECORDS[self.kind + "_multi" if self.multi else self.kind](self.params, self.state)
        self.noisy = self.p_rec.noisy


def _ring(p, post):
    """The (rows, n) ring a projection writes into: the pulse ring, the current ring, or for a
    population with receptors the current ring's rows of the projection's receptor (a view)."""
    rings = post.state if post.acc is None else post.acc
    if p.target == "pulse":
        return rings["pulse_ring"]
    ring = rings["current_ring"]
    return ring[:, p.receptor] if ring.ndim == 3 else ring


class Simulator:
    """Build ``net`` for one backend and run it.

    >>> sim = Simulator(net, backend="numba")
    >>> sim.run(1000.0)               # ms
    >>> snap = sim.snapshot(); sim.run(50.0); sim.restore(snap)   # back to where it was, bit for bit
    """

    def __init__(self, net: Network, backend: str = "numba", **backend_options):
        if not isinstance(net, Network):
            raise ParameterError(f"Simulator needs a spiking.Network, got {type(net).__name__}")
        self.net = net
        self.dt_ms = float(net.dt_ms)
        self.backend = get_backend(backend, **backend_options) if isinstance(backend, str) else backend
        self._setup(build(net))
        self.t = 0  # steps done
        self.monitors: list = []
        self._injected: dict[int, list] = defaultdict(list)
        self.timers = defaultdict(float)
        self.profile = False
        self.block_runs = True    # run stretches that need no Python between steps as one call (spiking.blocks)
        self._blocks = BlockRunner(self)

    # -- construction ---------------------------------------------------------
    def _setup(self, built: BuiltNetwork):
        """Move the built arrays to the backend and wrap the plastic ones in their runtimes."""
        be = self.backend
        self.groups = [_Group(g, be, built.ring.get(i, 1)) for i, g in enumerate(built.groups)]
        self.index = {g.name: i for i, g in enumerate(self.groups)}
        self.projections = []
        self.plastic = {}   # projection index -> PlasticRuntime
        self.growing = {}   # projection index -> GrowingStore
        self._edited = {}   # static projection index -> its built weights, once an audit call changed them
        for pi, p in enumerate(built.projections):
            arrays = {"indptr": be.asarray(p.indptr), "indices": be.asarray(p.indices), "weights": be.asarray(p.weights)}
            if p.delays is not None:
                arrays["delays"] = be.asarray(p.delays)
            for k, v in p.extra.items():
                arrays[k] = be.asarray(v)
            self.projections.append((p, arrays))
            if p.grow is not None:
                from .plasticity import PlasticRuntime
                args = (p.grow, p.plastic, self.groups[p.pre].size, self.groups[p.post].size, p.delay_steps,
                        self.dt_ms, p.pre == p.post)
                if getattr(be, "host_arrays", False):
                    from .growth import GrowingStore
                    st = GrowingStore(*args)
                else:      # a device backend keeps the store on the device (backends/cuda_store.py)
                    from .backends.cuda_store import DeviceGrowingStore
                    st = DeviceGrowingStore(be, *args)
                st.rt = PlasticRuntime(p.plastic, self.dt_ms, st.arrays(), be)
                self.growing[pi] = st
            elif p.plastic is not None:
                from .plasticity import PlasticRuntime
                self.plastic[pi] = PlasticRuntime(p.plastic, self.dt_ms, arrays, be)
        # the (fixed-point twin, ring) pairs that receive deliveries, on a device backend
        fed = {(p.post, "pulse_ring" if p.target == "pulse" else "current_ring") for p, _ in self.projections}
        self._folds = [(self.groups[gi].acc[k], self.groups[gi].state[k]) for gi, k in sorted(fed)
                       if self.groups[gi].acc is not None]
        self._cascade_every = max(1, int(round(1000.0 / self.dt_ms)))  # cascade decay once per simulated second
        self._current_events = built.current_events   # step -> [(group index, neuron indices or None, delta)]
        self.modulator_state = built.modulators       # name -> ModulatorState
        self._update_scale = 1.0                      # begin_consolidation(learning_rate) scales eta D e
        self._saved_dep_scales: list = []             # begin_consolidation(depression): the scales it replaced
        self._zx = be.asarray(ZIG_X)
        self._zr = be.asarray(ZIG_RATIO)

    # -- time -------------------------------------------------------------------
    @property
    def t_ms(self) -> float:
        return self.t * self.dt_ms

    def steps_for(self, duration_ms: float, what: str = "run") -> int:
        """Whole steps of ``duration_ms`` (rounded to the nearest). A duration that is not a whole
        number of steps, or that rounds to none, runs what it rounds to and says so (a warning)."""
        d = float(duration_ms)
        if not math.isfinite(d) or d < 0:
            raise ParameterError(f"duration must be finite and >= 0 ms, got {duration_ms!r}")
        x = d / self.dt_ms
        n = int(round(x))
        if abs(x - n) > 1e-6 * max(1.0, x):
            warnings.warn(f"{what}({d:g} ms) at dt = {self.dt_ms:g} ms is {x:g} steps: it runs {n} "
                          f"({n * self.dt_ms:g} ms)", RuntimeWarning, stacklevel=3)
        return n

    # -- input ------------------------------------------------------------------
    def group(self, name: str) -> _Group:
        try:
            return self.groups[self.index[name]]
        except KeyError:
            raise KeyError(f"no population named {name!r}; have {sorted(self.index)}") from None

    def inject_spikes(self, population: str, neuron_indices, at_step: int | None = None) -> None:
        """Make ``neuron_indices`` of ``population`` spike at ``at_step`` (default: the next
        step).  Injected spikes propagate through the population's projections and are
        seen by monitors; they do not reset the neurons."""
        g = self.group(population)
        idx = np.unique(np.asarray(neuron_indices, dtype=np.int64).ravel())
        if idx.size and (idx[0] < 0 or idx[-1] >= g.size):
            raise ParameterError(f"inject_spikes: indices must be in [0, {g.size}) for {population!r}")
        step = self.t if at_step is None else int(at_step)
        if step < self.t:
            raise ParameterError(f"inject_spikes: step {step} is in the past (now at step {self.t})")
        self._injected[step].append((self.index[population], idx.astype(np.int32)))

    def set_current(self, population: str, values) -> None:
        """Set the constant external input of a neuron population (scalar or per neuron)."""
        g = self.group(population)
        if "i_ext" not in g.state:
            raise ParameterError(f"{population!r} is a source; it takes no current")
        v = np.broadcast_to(np.asarray(values, dtype=np.float32), (g.size,))
        if not np.all(np.isfinite(v)):
            raise ParameterError("set_current: values must be finite")
        if "use_ext" in g.params and not g.params["use_ext"]:
            g.params["use_ext"] = True
            g.refresh()
        self.backend.write(g.state["i_ext"], np.ascontiguousarray(v))

    # -- one step -----------------------------------------------------------------
    def step(self) -> None:
        be, t = self.backend, self.t
        prof = self.profile
        if t in self._current_events:
            self._switch_currents(t)
        for gi, g in enumerate(self.groups):
            t0 = time.perf_counter() if prof else 0.0
            k = g.kind
            if k in ("izh", "lif"):
                s = g.state
                row = t % g.ring_rows
                if g.fused:
                    g.n = g.kernel(g.s_rec, g.p_rec, s["pulse_ring"][row], s["current_ring"][row], g.scratch, self._zx,
                                   self._zr, skey=step_key_int(g.noise_key, t) if g.noisy else None)
                else:
                    if g.noisy:
                        be.hash_fill(step_key_int(g.noise_key, t), g.scratch.words)
                        if prof:
                            be.synchronize(); t1 = time.perf_counter(); self.timers["noise"] += t1 - t0; t0 = t1
                    g.n = g.kernel(g.s_rec, g.p_rec, s["pulse_ring"][row], s["current_ring"][row], g.scratch,
                                   self._zx, self._zr)
                if prof:
                    be.synchronize(); self.timers["neuron_update"] += time.perf_counter() - t0
            elif k == "poisson":
                g.n = be.poisson_step(step_key_int(g.noise_key, t), g.state["p"], g.spikes) if g.firing else 0
            else:  # generator
                steps, idxs = g.params["steps"], g.params["indices"]
                a = g.gen_ptr
                while a < steps.size and steps[a] < t:
                    a += 1
                b = a
                while b < steps.size and steps[b] == t:
                    b += 1
                g.gen_ptr = b
                g.n = 0
                if b > a:
                    g.n = be.append_spikes(g.spikes, 0, np.unique(idxs[a:b]))
        if t in self._injected:
            for gi, idx in self._injected.pop(t):
                g = self.groups[gi]
                g.n = be.append_spikes(g.spikes, g.n, idx[:max(0, g.size + 1 - g.n)])
        for g in self.groups:
            if "hist_spikes" in g.state:
                h = g.state["hist_spikes"]
                r = t % h.shape[0]
                be.copy_prefix(h[r], g.spikes, g.n)
                g.hist_n[r] = g.n
        for pi, (p, arr) in enumerate(self.projections):
            pre = self.groups[p.pre]
            post = self.groups[p.post]
            if pi in self.plastic:
                self._plastic_step(pi, p, pre, post, t)
                continue
            if pi in self.growing:
                self._growing_step(pi, p, pre, post, t)
                continue
            if pre.n == 0:
                continue
            t0 = time.perf_counter() if prof else 0.0
            ring = _ring(p, post)
            if p.uniform_weight is not None and p.delay_steps > 0:
                be.propagate_uniform(pre.spikes, pre.n, arr["indptr"], arr["indices"], p.uniform_weight,
                                     ring[(t + p.delay_steps) % post.ring_rows])
            elif p.delay_steps > 0:
                be.propagate(pre.spikes, pre.n, arr["indptr"], arr["indices"], arr["weights"],
                             ring[(t + p.delay_steps) % post.ring_rows])
            else:
                self._materialize(p, arr)
                be.propagate_delays(pre.spikes, pre.n, arr["indptr"], arr["indices"], arr["weights"],
                                    arr["delays"], ring, t)
            if prof:
                be.synchronize(); self.timers["propagation"] += time.perf_counter() - t0
        if self._folds:
            be.fold_rings(self._folds)
        if (self.plastic or self.growing) and (t + 1) % self._cascade_every == 0:
            for rt in self.plastic.values():
                rt.decay_to(t + 1)
                rt.homeostasis()
            for st in self.growing.values():
                st.bind_runtime()
                st.rt.decay_to(t + 1)
                st.housekeeping()
                st.homeostasis()
        if self.modulator_state:
            for pi, rt in self.plastic.items():
                if rt.rule.modulated:
                    rt.modulate(self.modulator_state[rt.rule.modulator].level * self._update_scale)
            for st in self.growing.values():
                if st.rule.modulated:
                    st.bind_runtime()
                    st.rt.modulate(self.modulator_state[st.rule.modulator].level * self._update_scale)
            for ms in self.modulator_state.values():
                ms.phasic *= ms.decay
        for m in self.monitors:
            m.record(self)
        self.t = t + 1

    def _switch_currents(self, t: int) -> None:
        """Apply the current steps (``CurrentStep`` starts and stops) scheduled for step t."""
        be = self.backend
        for gi, idx, delta in self._current_events[t]:
            g = self.groups[gi]
            cur = be.to_host(g.state["i_ext"]).copy()
            if idx is None:
                cur += np.float32(delta)
            else:
                cur[idx] += np.float32(delta)
            be.write(g.state["i_ext"], cur)

    def _materialize(self, p, arr) -> None:
        """Give a uniform-weight projection its per-synapse weight array (heterogeneous delays and
        audit edits need one); the uniform value is kept so that a restore can go back to it."""
        if p.uniform_weight is not None:
            n = int(arr["indices"].shape[0])
            arr["weights"] = self.backend.asarray(np.full(n, p.uniform_weight, np.float32))
            p.built_uniform_weight, p.uniform_weight = p.uniform_weight, None

    def _note_edit(self, pi: int) -> None:
        """An audit call is about to change static projection pi's weights: from now on they are
        state (snapshots and checkpoints carry them); the built values are kept to restore to."""
        if pi in self.plastic or pi in self.growing or pi in self._edited:
            return
        p, arr = self.projections[pi]
        self._materialize(p, arr)
        self._edited[pi] = self.backend.to_host(arr["weights"]).copy()

    def _plastic_step(self, pi, p, pre, post, t):
        """Post-side STDP for the post spikes of step t, then the arrivals of step t + 1:
        transmit into ring row t + 1 and apply the pre-side update (Brian2's order)."""
        rt = self.plastic[pi]
        t0 = time.perf_counter() if self.profile else 0.0
        rt.post(post.spikes, post.n, t)
        if self.profile:
            self.backend.synchronize(); t1 = time.perf_counter(); self.timers["stdp_post"] += t1 - t0; t0 = t1
        ring = _ring(p, post)
        rt.pre(pre.state["hist_spikes"], pre.hist_n, t + 1, p.delay_steps, ring[(t + 1) % post.ring_rows])
        if self.profile:
            self.backend.synchronize(); self.timers["stdp_pre_and_transmit"] += time.perf_counter() - t0

    def _growing_step(self, pi, p, pre, post, t):
        st = self.growing[pi]
        rule = st.rule
        gain = 1.0
        if rule.modulated:
            gain = rule.eta * self.modulator(rule.modulator) * rule.tau_e_ms
        ring = _ring(p, post)
        row = ring[(t + 1) % post.ring_rows]
        st.step(t, pre, post, row, gain, np.float32(1.0 / st.rt.pending), (st.rt.pre_decay, st.rt.post_decay))

    # -- plasticity: modulators, consolidation, idle, audit ----------------------------
    def set_modulator(self, name: str, tonic: float | None = None, pulse: float | None = None) -> None:
        """Set the tonic level of a modulator channel and/or add a phasic pulse (decays with tau_phasic)."""
        if name not in self.modulator_state:
            raise KeyError(f"no modulator channel {name!r}; declared: {sorted(self.modulator_state)}")
        ms = self.modulator_state[name]
        for label, v in (("tonic", tonic), ("pulse", pulse)):
            if v is not None and not math.isfinite(float(v)):
                raise ParameterError(f"set_modulator: {label} must be finite, got {v!r}")
        if tonic is not None:
            ms.tonic = float(tonic)
        if pulse is not None:
            ms.phasic += float(pulse)

    def modulator(self, name: str) -> float:
        if name not in self.modulator_state:
            raise KeyError(f"no modulator channel {name!r}; declared: {sorted(self.modulator_state)}")
        return self.modulator_state[name].level

    def begin_consolidation(self, learning_rate: float = 1.0, depression: float = 1.0) -> None:
        """Start a replay: synapses potentiated from now on are promoted one cascade level at the end.
        ``learning_rate`` scales the three-factor weight updates (eta D e) until
        ``end_consolidation``; creation of new synapses is not scaled (a time-compressed replay
        replays many pairings in little time: its changes to existing weights can be made smaller
        than a waking presentation's while the synapses it finds still form). ``depression``
        further scales the updates that lower a weight (0: the replay only potentiates), through
        the per-level depression scales, so it needs cascade levels on every modulated projection."""
        r = float(learning_rate)
        if not math.isfinite(r) or r < 0:
            raise ParameterError(f"begin_consolidation: learning_rate must be finite and >= 0, got {learning_rate!r}")
        d = float(depression)
        if not math.isfinite(d) or d < 0:
            raise ParameterError(f"begin_consolidation: depression must be finite and >= 0, got {depression!r}")
        self._saved_dep_scales = []
        if d != 1.0:
            # a growing store keeps a level per synapse always; a fixed plastic projection only with a cascade
            bare = [self.projections[pi][0].label for pi, rt in self.plastic.items()
                    if rt.rule.modulated and rt.rule.cascade is None]
            if bare:
                raise ParameterError(f"begin_consolidation: depression != 1 needs cascade levels, and {bare[0]!r} "
                                     "has no cascade")
            for rt in self._runtimes():
                if not rt.rule.modulated:
                    continue
                c = rt.rule.cascade
                base = (self.backend.to_host(rt.dep_scale) if rt.dep_scale is not None
                        else np.ones(c.levels if c is not None else 1, np.float32))
                self._saved_dep_scales.append((rt, rt.dep_scale))
                rt.dep_scale = self.backend.asarray((base * np.float32(d)).astype(np.float32))
        self._update_scale = r
        for rt in self.plastic.values():
            rt.a["potentiated"][:] = 0
            rt.track = True
        for st in self.growing.values():
            st.clear_potentiated()
            st.rt.track = True

    def _runtimes(self) -> list:
        """The plasticity runtimes: fixed plastic projections, then growing stores."""
        return list(self.plastic.values()) + [st.rt for st in self.growing.values()]

    def end_consolidation(self) -> None:
        for st in self.growing.values():
            c = st.rule.cascade
            if c is not None:
                st.promote_levels(c.levels)
            else:
                st.clear_potentiated()
        for rt in self.plastic.values():
            c = rt.rule.cascade
            if c is None:
                continue
            lv = self.backend.to_host(rt.a["level"]).astype(np.int64)
            pot = self.backend.to_host(rt.a["potentiated"]).astype(np.int64)
            self.backend.write(rt.a["level"], np.minimum(lv + pot, c.levels - 1).astype(np.uint8))
            rt.a["potentiated"][:] = 0
        for rt in self._runtimes():
            rt.track = False
        for rt, dep in self._saved_dep_scales:
            rt.dep_scale = dep
        self._saved_dep_scales = []
        self._update_scale = 1.0

    def advance_idle(self, duration_ms: float) -> None:
        """Skip ``duration_ms`` of *silence*: no neuron is simulated and nothing spikes (sources
        included); the clock advances, cascade decay is applied in closed form, traces and the
        phasic modulator decay, and every current step (``CurrentStep`` start or stop) scheduled
        inside the span takes effect, so ``i_ext`` afterwards is what a run would have left.
        Sources are silent: a ``SpikeGenerator``'s events inside the span are skipped. Spikes
        queued with ``inject_spikes`` inside the span are refused with a ``ParameterError``
        (nothing asked for explicitly is dropped): skip up to them, or ``run`` through them."""
        n = self.steps_for(duration_ms, "advance_idle")
        t0, end = self.t, self.t + n
        queued = sorted(s for s, items in self._injected.items() if t0 <= s < end and items)
        if queued:
            raise ParameterError(f"advance_idle({duration_ms} ms) is silence only, but injected spikes are queued at "
                                 f"step {queued[0]} (t = {queued[0] * self.dt_ms:g} ms) inside the span; "
                                 f"advance to that step or run() through it")
        for g in self.groups:   # sources are silent too: a generator's events inside the span are skipped
            if g.kind == "generator":
                g.gen_ptr = max(g.gen_ptr, int(np.searchsorted(g.params["steps"], end, "left")))
        for s in sorted(k for k in self._current_events if t0 <= k < end):
            self._switch_currents(s)
        self.t = end
        for st in self.growing.values():
            st.bind_runtime()
            st.rt.decay_to(self.t)
            st.decay_traces(n)
            if st.rule.modulated:
                st.rt.defer_decay(st.rt.e_decay ** n)
            st.housekeeping()
        for rt in self.plastic.values():
            rt.decay_to(self.t)
            for key, f in (("x_pre", rt.pre_decay), ("x_post", rt.post_decay)):
                rt.k.trace_scale(rt.a[key], np.float32(float(f) ** n))
            if rt.rule.modulated:
                rt.defer_decay(rt.e_decay ** n)
        for ms in self.modulator_state.values():
            ms.phasic *= ms.decay ** n

    def _projection(self, label: str):
        for pi, (p, arr) in enumerate(self.projections):
            if p.label == label:
                return pi, p, arr
        raise KeyError(f"no projection {label!r}; have {[p.label for p, _ in self.projections]}")

    # -- audit (spiking.audit does the work) ---------------------------------------------
    def synapses(self, label: str, pre=None, post=None) -> dict:
        """The synapses of projection ``label`` between neuron sets (all when None): synapse ids,
        pre, post, weight (the kept value for quarantined ones) and a quarantine flag."""
        return audit.synapses(self, label, pre, post)

    def zero_synapses(self, label: str, pre=None, post=None) -> int:
        """Set the selected synapses to weight 0 (they may grow again if plastic); returns how many."""
        return audit.zero_synapses(self, label, pre, post)

    def quarantine(self, label: str, pre=None, post=None, release: bool = False) -> int:
        """Quarantine (or release) synapses of a plastic projection: a quarantined synapse keeps its
        value but transmits nothing and does not learn until released."""
        return audit.quarantine(self, label, pre, post, release)

    def relabel_synapses(self, label: str, pre_map, post_map) -> None:
        """Move every synapse of the growing projection ``label`` from (j, i) to (pre_map[j],
        post_map[i]) with its weight, level and eligibility (permutations; for control runs)."""
        pi, _, _ = self._projection(label)
        if pi not in self.growing:
            raise ParameterError(f"relabel_synapses: projection {label!r} is not a growing store")
        st = self.growing[pi]
        st.relabel(pre_map, post_map)
        st.bind_runtime()

    def to_networkx(self, label: str, min_weight: float = 0.0):
        """A networkx DiGraph of the projection's synapses with |weight| > min_weight."""
        return audit.to_networkx(self, label, min_weight)

    def store_stats(self, label: str, bins: int = 20) -> dict:
        """Counts and a weight histogram of a growing projection's store."""
        return audit.store_stats(self, label, bins)

    # -- running --------------------------------------------------------------------
    def run(self, duration_ms: float, progress: bool | None = None, callback=None,
            chunk_ms: float = 100.0, desc: str | None = None) -> None:
        n_steps = self.steps_for(duration_ms)
        chunk = max(1, self.steps_for(chunk_ms, "run: chunk_ms")) if chunk_ms else n_steps
        bar = None
        if progress is None:
            progress = n_steps * max(1, sum(g.size for g in self.groups)) > 5e8
        if progress and n_steps:
            from tqdm.auto import tqdm
            bar = tqdm(total=round(n_steps * self.dt_ms), unit="ms", desc=desc or "simulating", leave=False)
        done = 0
        try:
            while done < n_steps:
                m = min(chunk, n_steps - done)
                self._blocks.steps(m)
                done += m
                self.check_finite()
                if bar is not None:
                    bar.update(round((done) * self.dt_ms) - bar.n)
                if callback is not None:
                    callback(self)
        finally:
            if bar is not None:
                bar.close()

    def check_finite(self) -> None:
        be = self.backend
        for g in self.groups:
            for name, arr in g.state.items():
                if arr.dtype.kind == "f" and not be.all_finite(arr):
                    raise NumericalError(f"population {g.name!r}: state variable {name!r} is NaN or infinite "
                                         f"at t = {self.t_ms:.3f} ms (check the parameters and the input)")
        for pi, st in self.growing.items():
            if not st.weights_finite():
                raise NumericalError(f"projection {self.projections[pi][0].label!r}: 'weights' is NaN or infinite "
                                     f"at t = {self.t_ms:.3f} ms")
        for pi in self.plastic:
            p, arr = self.projections[pi]
            for name in ("weights", "elig", "x_pre", "x_post"):
                if not be.all_finite(arr[name]):
                    raise NumericalError(f"projection {p.label!r}: {name!r} is NaN or infinite at t = {self.t_ms:.3f} ms")

    # -- access -------------------------------------------------------------------------
    def get_state(self, population: str, variable: str) -> np.ndarray:
        g = self.group(population)
        if variable not in g.state:
            raise KeyError(f"{population!r} has no state variable {variable!r}; have {sorted(g.state)}")
        return self.backend.to_host(g.state[variable]).copy()

    def set_state(self, population: str, variable: str, values) -> None:
        """Overwrite a state variable (scalar or one value per neuron), e.g. to reset a trial."""
        g = self.group(population)
        if variable not in g.state:
            raise KeyError(f"{population!r} has no state variable {variable!r}; have {sorted(g.state)}")
        cur = g.state[variable]
        v = np.asarray(values, dtype=cur.dtype)
        try:
            v = np.ascontiguousarray(np.broadcast_to(v, cur.shape))
        except ValueError:
            raise ParameterError(f"set_state: {variable!r} of {population!r} has shape {cur.shape}, "
                                 f"got values of shape {np.shape(values)}") from None
        if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            raise ParameterError(f"set_state: values for {variable!r} must be finite")
        self.backend.write(cur, v)

    def reseed_noise(self, stream: int) -> None:
        """Switch every population's noise and Poisson draws to stream ``stream`` (0 is the network's
        own).  Draws stay counter-based, so a restored checkpoint followed by ``reseed_noise(trial)``
        gives each trial fresh, reproducible noise instead of replaying the same numbers."""
        if not isinstance(stream, (int, np.integer)) or stream < 0:
            raise ParameterError(f"reseed_noise: stream must be an int >= 0, got {stream!r}")
        seed = self.net.seed
        for gi, g in enumerate(self.groups):
            kind = STREAM_NOISE if g.kind in ("izh", "lif") else STREAM_POISSON
            g.noise_key = int(stream_key(seed, kind, gi) if stream == 0 else stream_key(seed, kind, gi, int(stream)))

    def set_rates(self, source: str, rates_hz, stream: int | None = None) -> None:
        """Set the firing rates of a Poisson source from the next step on (scalar or one per neuron,
        in Hz, at most 1000 / dt_ms): one write, then the engine draws the spikes from its own
        counter-based streams at its own time step. ``stream`` (an int >= 0) also switches the
        source to the draw stream derived from the network's seed, the source and ``stream``
        (e.g. a message id), so that the spikes depend on that id and not on what came before."""
        g = self.group(source)
        if g.kind != "poisson":
            raise ParameterError(f"set_rates: {source!r} is not a PoissonSource (it is a {g.kind!r} group)")
        try:
            r = np.broadcast_to(np.asarray(rates_hz, dtype=np.float64), (g.size,))
        except ValueError:
            raise ParameterError(f"set_rates: {source!r} has {g.size} neurons, got rates of shape "
                                 f"{np.shape(rates_hz)}") from None
        if not np.all(np.isfinite(r)) or np.any(r < 0):
            raise ParameterError("set_rates: rates must be finite and >= 0 Hz")
        prob = r * self.dt_ms * 1e-3
        if np.any(prob > 1):
            raise ParameterError(f"set_rates: {float(r.max()):g} Hz exceeds one spike per step of {self.dt_ms:g} ms "
                                 f"(at most {1000.0 / self.dt_ms:g} Hz)")
        if stream is not None:
            if isinstance(stream, bool) or not isinstance(stream, (int, np.integer)) or stream < 0:
                raise ParameterError(f"set_rates: stream must be an int >= 0, got {stream!r}")
            g.noise_key = int(stream_key(self.net.seed, STREAM_POISSON, self.index[source], 1, int(stream)))
        self.backend.write(g.state["p"], np.ascontiguousarray(prob))
        g.note_rates(prob)

    # -- state: in-memory snapshots ----------------------------------------------------------
    def snapshot(self):
        """The whole run-time state as host arrays and plain scalars (a ``spiking.state.SimState``):
        membranes, traces, ring buffers, spike histories, plastic and growing synapses, modulator
        levels, queued spikes, random-stream keys and the clock. Monitors are not part of it.
        ``restore`` puts it back; a checkpoint is this plus the network's description."""
        return state.snapshot(self)

    def restore(self, snap) -> None:
        """Put a snapshot of this network back: continuation is bit-identical to the run it was
        taken from. A snapshot of another network is refused with a ``ParameterError`` naming
        what does not match. Attach monitors afresh after a restore."""
        state.restore(self, snap)

    def spikes_now(self, population: str) -> np.ndarray:
        g = self.group(population)
        return self.backend.spikes_to_host(g.spikes, g.n)

    def add_monitor(self, monitor):
        monitor.attach(self)
        self.monitors.append(monitor)
        return monitor

    def weights(self, label: str) -> np.ndarray:
        pi, p, arr = self._projection(label)
        if pi in self.growing:
            return self.growing[pi].arrays()["weights"].copy()
        if p.uniform_weight is not None:
            return np.full(int(arr["indices"].shape[0]), p.uniform_weight, np.float32)
        return self.backend.to_host(arr["weights"]).copy()

    def save(self, path, extra: dict | None = None) -> None:
        """Write a checkpoint (``spiking.checkpoint``): the description and a snapshot, atomically;
        ``extra`` (JSON-able) is a model's own state kept in the same file."""
        checkpoint.write(path, self.net, self.snapshot(), extra=extra)

    @classmethod
    def load(cls, path, backend: str = "numba", **backend_options) -> "Simulator":
        """Build the checkpoint's network for ``backend`` and restore its snapshot into it; a file
        that is damaged or does not match its own description raises ``CheckpointError``."""
        net, dt, snap = checkpoint.read(path)
        return cls.from_snapshot(net, dt, snap, backend, where=repr(os.fspath(path)), **backend_options)

    @classmethod
    def from_snapshot(cls, net, dt_ms: float, snap, backend: str = "numba", where: str = "snapshot",
                      **backend_options) -> "Simulator":
        """Build ``net`` and restore ``snap`` into it (what ``checkpoint.read`` returns); anything
        that does not fit raises ``CheckpointError`` naming ``where``."""
        if not isinstance(net, Network):
            raise checkpoint.CheckpointError(f"{where}: the description is a {type(net).__name__}, not a Network")
        if float(net.dt_ms) != dt_ms:
            raise checkpoint.CheckpointError(f"{where}: dt_ms {dt_ms} differs from its description's {net.dt_ms}")
        try:
            sim = cls(net, backend=backend, **backend_options)
            sim.restore(snap)
        except (ParameterError, ValueError, TypeError, KeyError, IndexError) as e:
            raise checkpoint.CheckpointError(f"{where} does not match its own description: {e}") from None
        return sim
