"""EMBER's memory substrate (spec sections 2-4 and 6): the four-layer spiking network that learns
person-topic associations from zero, expresses them as idle lateral impulses, consolidates them in
replay, and is saved and reopened exactly.

Three parts, in this order:

* ``SubstrateConfig``: the frozen description, every default of spec section 9 as a field, a
  ``scale`` (1.0 = the paper's 220,000 neurons) and a seed;
* ``build_network(config)``: the ``spiking.Network`` it describes;
* ``Substrate``: the running memory, ``present`` / ``reward`` / ``idle`` / ``consolidate`` /
  ``save`` / ``open`` and the audit calls by label.

The network (calibration and choices: ``docs/substrate.md``):

    input (Poisson, one per sensory cell) --1:1--> sensory --50--> concept --100--> category --100--> meta
    cue (Poisson, one per reserved concept cell) --1:1--> the labelled assemblies' cells
    concept --(grows from zero, three-factor STDP, cascade decay)--> concept        the lateral store
    each excitatory layer <--> its share of the inhibitory population (fixed, mean-balanced)

A message is coded by the z-score top-k population code (``encoders.population``) and enters as
rates on the ``input`` source (``Simulator.set_rates``: the engine draws the spikes from its own
streams, keyed by the message id), while the assemblies of the persons and topics it names are
driven at r_max through ``cue``, with tonic dopamine on.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from spiking import (CheckpointError, FixedInDegree, GroupCounts, LIF, LogNormal, Network, Pairs, PoissonSource,
                     Population, Projection, Simulator)
from spiking.checkpoint import read as read_checkpoint
from spiking.growth import Grow
from spiking.plasticity import STDP, Cascade, Modulator

from .detector import Detection, Detector, DetectorParams
from .types import Association, SurfacedAssociations

SCHEMA_VERSION = 1
LATERAL = "lateral"
KINDS = ("person", "topic", "other")


class SubstrateError(ValueError):
    """Bad input to the substrate, or a state directory it cannot use (named in the message)."""


class Interrupted(Exception):
    """``idle`` stopped at a bin boundary because ``Substrate.interrupt`` was set (a signal handler
    sets it): the state is consistent and can be saved."""


@dataclass(frozen=True)
class SubstrateConfig:
    """Every knob of the substrate. [V]/[P] facts of the paper are marked and stay; [D] defaults are
    ours and tunable (what was turned, to what and why: docs/substrate.md)."""

    scale: float = 1.0              # 1.0 = 220,000 neurons
    seed: int = 0
    dt_ms: float = 1.0              # [D]
    # populations [V] (at scale 1)
    n_sensory: int = 5000
    n_concept: int = 150_000
    n_category: int = 25_000
    n_meta: int = 10_000
    n_inhibitory: int = 30_000
    # LIF [D] except sigma [V]
    tau_m_ms: float = 20.0
    tau_syn_ms: float = 5.0
    v_th: float = 0.86              # calibrated for ~0.9 Hz spontaneous (spec 2.2)
    t_ref_ms: float = 2.0
    noise_sigma: float = 0.1        # [V]
    # feedforward [D]: fan-in and log-normal weights (mean, in units of the threshold-normalised V)
    fan_in_concept: int = 50        # sensory -> concept
    fan_in_category: int = 100      # concept -> category
    fan_in_meta: int = 100          # category -> meta
    w_sensory_concept: float = 0.02   # recruits 1.5 % of concept cells (>= 2 spikes in the window)
    w_concept_category: float = 0.03
    w_category_meta: float = 0.03
    weight_log_sigma: float = 0.5
    # inhibition [D]: each interneuron samples its layer, each excitatory cell its interneurons
    inh_fan_in: int = 100
    inh_fan_out: int = 25           # inhibitory inputs per excitatory cell
    w_exc_inh: float = 0.03
    inh_balance: float = 1.0        # mean inhibition / mean excitation
    # the lateral store [V]/[D]
    w_max: float = 1.2              # [D] lateral weight unit: the V jump of a synapse at w_max
    a_plus: float = 0.05            # [D] x w_max; A- = 1.05 A+ [V], tau 20 / 30 ms [V]
    w_create: float = 0.05          # [D] x w_max: the weight of a new synapse (one pairing's update)
    w_prune: float = 0.005          # [D] x w_max
    tau_e_ms: float = 1000.0        # [D]
    eta_per_s: float = 25.0         # [D] dw/dt = eta D e (the paper's eta = 1 has no stated unit)
    candidate_window_ms: float = 20.0  # [D] pre spikes this recent are creation candidates
    pre_active: float = 2.0         # [D] creation needs a pre burst (trace >= 2 A+) ...
    post_coactive: float = 2.0      # [D] ... and the post cell's earlier spikes too (trace >= 2 A- before this one)
    potential: float = 0.05         # [D] fraction of concept pairs that may ever hold a lateral synapse
    max_total_in: float | None = 5.0   # [D] synaptic scaling: summed lateral input <= this x w_max (spec: optional, 5)
    cascade_levels: int = 5         # [D]
    cascade_tau0_h: float = 2.9     # [D] spec 1 h; with the factor: level 4 keeps the paper's 1.6 % in 8 h, level 1 lives a day
    cascade_factor: float = 3.6     # [D] spec 4.7; tau_c = 2.9 h x 3.6^c = 2.9, 10.4, 38, 135, 488 h
    cascade_depression: float = 16.0  # [D] a level-c synapse's three-factor depression / this^c (Fusi 2005 metaplasticity; AC10)
    # dopamine [D]
    dopamine_tau_s: float = 5.0
    reward_pulse: float = 0.5
    # presentation [D] (code: s = 0.14 [V], r_max 100 Hz, 100 ms + 50 ms)
    sparsity: float = 0.14          # [V]
    r_max_hz: float = 100.0
    window_ms: float = 100.0
    gap_ms: float = 50.0
    dopamine_in_gap: bool = False   # [D] tonic dopamine through the 50 ms gap too (the message's whole 150 ms)
    code_seed: int = 0
    # labelled assemblies [D]
    cue_rate_hz: float = 100.0      # co-stimulation of a named label's assembly (spec: r_max)
    cue_person_end: float = 0.6     # persons are driven in [0, this) of the window ...
    cue_topic_start: float = 0.4    # ... the other labels in [this, 1): an overlap lets STDP bind them, in order
    assembly_size: int = 200
    max_labels: int = 100           # reserved pool = max_labels x assembly_size concept cells
    readout_top: int = 10
    # replay [D]
    replay_passes: int = 5
    replay_item_ms: float = 50.0
    replay_gap_ms: float = 20.0
    replay_cue: bool = True         # [D] co-stimulate the episode's labelled assemblies during replay too
    replay_rate: float = 0.001      # [D] the replay's weight updates are eta D e x this (creation is not scaled)
    replay_depression: float = 1.0  # [D] ... and its weight decreases x this too (0: the replay only potentiates;
                                    # docs/substrate.md, "What the replay does to the weights")
    # detection [V]/[D]
    detection_bin_s: float = 1.0
    detector: DetectorParams = field(default_factory=DetectorParams)
    # persistence [D]
    autosave_min: float = 5.0

    def __post_init__(self):
        if not isinstance(self.scale, (int, float)) or not (0 < self.scale <= 1.0):
            raise SubstrateError(f"SubstrateConfig.scale must be in (0, 1], got {self.scale!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise SubstrateError(f"SubstrateConfig.seed must be an int >= 0, got {self.seed!r}")
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise SubstrateError(f"SubstrateConfig.{f.name} must be finite, got {v!r}")
        for name in ("replay_rate", "replay_depression"):
            if not isinstance(getattr(self, name), (int, float)) or getattr(self, name) < 0:
                raise SubstrateError(f"SubstrateConfig.{name} must be a number >= 0, got {getattr(self, name)!r}")
        if self.pool > self.sizes["concept"] // 2:
            raise SubstrateError(f"the reserved pool ({self.max_labels} labels x {self.assembly_size} cells) must fit "
                                 f"in half of the {self.sizes['concept']} concept cells at scale {self.scale}")

    @property
    def sizes(self) -> dict:
        s = self.scale
        return {"sensory": max(200, round(self.n_sensory * s)), "concept": max(1000, round(self.n_concept * s)),
                "category": max(100, round(self.n_category * s)), "meta": max(50, round(self.n_meta * s)),
                "inhibitory": max(100, round(self.n_inhibitory * s))}

    @property
    def pool(self) -> int:
        return self.max_labels * self.assembly_size

    @classmethod
    def at_scale(cls, scale: float, seed: int = 0, **over) -> "SubstrateConfig":
        """The configuration at ``scale`` with as many labelled assemblies as fit: the assemblies
        keep their full size, and the reserved pool takes at most half of the concept layer."""
        probe = cls(scale=scale, seed=seed, max_labels=1, **{k: v for k, v in over.items() if k != "max_labels"})
        size = over.get("assembly_size", probe.assembly_size)
        labels = max(1, min(cls.max_labels, probe.sizes["concept"] // (2 * size)))
        return cls(scale=scale, seed=seed, **{"max_labels": labels, **over})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SubstrateConfig":
        d = dict(d)
        d["detector"] = DetectorParams(**d.get("detector", {}))
        d.setdefault("cascade_depression", 1.0)   # states saved before the knob ran without it
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise SubstrateError(f"unknown substrate settings {unknown}")
        return cls(**d)


def _lognormal(mean: float, sigma: float) -> LogNormal:
    """Log-normal weights with the given mean: scale * exp(N(mu, sigma)), mu = -sigma^2 / 2."""
    return LogNormal(-0.5 * sigma * sigma, sigma, scale=mean)


def build_network(cfg: SubstrateConfig) -> Network:
    """The substrate's ``spiking.Network`` (description only; the seed fixes every synapse)."""
    n = cfg.sizes
    lif = LIF(tau_m_ms=cfg.tau_m_ms, tau_syn_ms=cfg.tau_syn_ms, v_th=cfg.v_th, t_ref_ms=cfg.t_ref_ms,
              noise_sigma=cfg.noise_sigma)
    pops = tuple(Population(name, n[name], lif) for name in ("sensory", "concept", "category", "meta", "inhibitory"))
    pool = reserved_cells(cfg)
    sources = (PoissonSource("input", n["sensory"], rate_hz=0.0), PoissonSource("cue", cfg.pool, rate_hz=0.0))
    drive = 2.0 * cfg.v_th       # one input spike makes its cell fire at the next step
    projs = [
        Projection("input", "sensory", Pairs(tuple(range(n["sensory"])), tuple(range(n["sensory"]))), weight=drive,
                   delay_ms=cfg.dt_ms, name="input->sensory"),
        Projection("cue", "concept", Pairs(tuple(range(cfg.pool)), tuple(int(c) for c in pool)), weight=drive,
                   delay_ms=cfg.dt_ms, name="cue->concept"),
        Projection("sensory", "concept", FixedInDegree(cfg.fan_in_concept),
                   weight=_lognormal(cfg.w_sensory_concept, cfg.weight_log_sigma), delay_ms=cfg.dt_ms),
        Projection("concept", "category", FixedInDegree(cfg.fan_in_category),
                   weight=_lognormal(cfg.w_concept_category, cfg.weight_log_sigma), delay_ms=cfg.dt_ms),
        Projection("category", "meta", FixedInDegree(cfg.fan_in_meta),
                   weight=_lognormal(cfg.w_category_meta, cfg.weight_log_sigma), delay_ms=cfg.dt_ms),
    ]
    # inhibition: the interneurons are split among the three excitatory layers by size; each one
    # samples inh_fan_in cells of its layer, each cell of the layer gets inh_fan_out of them back,
    # with a weight that makes mean inhibition = inh_balance x mean excitation at equal rates
    layers = ("concept", "category", "meta")
    total = sum(n[x] for x in layers)
    start = 0
    excit = {"concept": cfg.fan_in_concept * cfg.w_sensory_concept,
             "category": cfg.fan_in_category * cfg.w_concept_category,
             "meta": cfg.fan_in_meta * cfg.w_category_meta}
    for j, layer in enumerate(layers):
        share = n["inhibitory"] - start if j == len(layers) - 1 else max(1, round(n["inhibitory"] * n[layer] / total))
        rng = (start, start + share)
        k_in = min(cfg.inh_fan_in, n[layer])
        k_out = min(cfg.inh_fan_out, share)
        projs.append(Projection(layer, "inhibitory", FixedInDegree(k_in), weight=cfg.w_exc_inh, delay_ms=cfg.dt_ms,
                                post_range=rng, name=f"{layer}->inhibitory"))
        w_inh = cfg.inh_balance * excit[layer] / k_out
        projs.append(Projection("inhibitory", layer, FixedInDegree(k_out), weight=w_inh, inhibitory=True,
                                delay_ms=cfg.dt_ms, pre_range=rng, name=f"inhibitory->{layer}"))
        start += share
    rule = STDP.ember(a_plus=cfg.a_plus * cfg.w_max, w_max=cfg.w_max, modulated=True, tau_e_ms=cfg.tau_e_ms,
                      eta=cfg.eta_per_s * 1e-3,
                      max_total_in=None if cfg.max_total_in is None else cfg.max_total_in * cfg.w_max,
                      cascade=Cascade(levels=cfg.cascade_levels, tau0_ms=cfg.cascade_tau0_h * 3.6e6,
                                      factor=cfg.cascade_factor, depression_factor=cfg.cascade_depression))
    projs.append(Projection("concept", "concept", Grow(w_create=cfg.w_create * cfg.w_max, w_prune=cfg.w_prune * cfg.w_max,
                                                       candidate_window_ms=cfg.candidate_window_ms,
                                                       initial_capacity=4096, post_coactive=cfg.post_coactive, pre_active=cfg.pre_active,
                                                       potential=cfg.potential, potential_seed=cfg.seed),
                            weight=0.0, delay_ms=cfg.dt_ms, plasticity=rule, name=LATERAL))
    return Network(populations=pops, sources=sources, projections=tuple(projs),
                   modulators=(Modulator("dopamine", tonic=0.0, tau_phasic_ms=cfg.dopamine_tau_s * 1000.0),),
                   dt_ms=cfg.dt_ms, seed=cfg.seed)


def reserved_cells(cfg: SubstrateConfig) -> np.ndarray:
    """The concept cells reserved for labelled assemblies, in assignment order: assembly j gets
    cells [j * size, (j + 1) * size) of this list, spread over the layer by a seeded permutation."""
    g = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x454D42]))   # "EMB"
    return np.sort(g.permutation(cfg.sizes["concept"])[:cfg.pool]).astype(np.int64)[
        g.permutation(cfg.pool)]


@dataclass(frozen=True)
class Assembly:
    label: str
    kind: str
    index: int
    cells: np.ndarray = field(repr=False, compare=False)


@dataclass
class Impulse:
    """A significant impulse and its evidence: what the agent acts on, and what it shows when asked why."""
    t_s: float
    assemblies: list            # [{"label", "kind", "strength"}], the triggering assembly first
    detections: list            # [{"label", "t_s", "rate_hz", "baseline_hz"}]
    synapses: dict              # lateral synapses among the assemblies involved
    checkpoint_id: str | None
    rates: dict = field(default_factory=dict)   # the involved assemblies' 1 s rates up to the trigger

    def to_dict(self) -> dict:
        return asdict(self)

    def associations(self, epoch_s: float) -> SurfacedAssociations:
        items = tuple(Association(a["label"], float(a["strength"]), epoch_s + self.t_s, a["kind"])
                      for a in self.assemblies)
        ev = f"{len(self.detections)} detections within {self.detections[-1]['t_s'] - self.detections[0]['t_s']:.0f} s"
        return SurfacedAssociations(items, epoch_s + self.t_s, ev)


class Substrate:
    """The running memory. ``Substrate(config)`` builds a fresh one; ``Substrate.open(dir)`` reopens
    a saved one (or creates it there)."""

    def __init__(self, config: SubstrateConfig | None = None, backend: str = "numba", threads: int = 1,
                 encoder=None, _sim: Simulator | None = None):
        self.config = cfg = config if config is not None else SubstrateConfig()
        if not isinstance(cfg, SubstrateConfig):
            raise SubstrateError(f"Substrate needs a SubstrateConfig, got {type(cfg).__name__}")
        self.backend = backend
        self.net = build_network(cfg) if _sim is None else _sim.net
        opts = {"threads": threads} if backend == "numba" else {}
        self.sim = _sim if _sim is not None else Simulator(self.net, backend=backend, **opts)
        self._pool = reserved_cells(cfg)
        self.assemblies: dict[str, Assembly] = {}
        self.detector = Detector(cfg.detector)
        self._counts = self.sim.add_monitor(GroupCounts("concept", {}, bin_ms=cfg.detection_bin_s * 1000.0,
                                                        max_bins=4096))
        self._encoder = encoder
        self._code = None
        self.last_message_id: int | None = None
        self.epoch_s = time.time()      # wall-clock time of simulated t = 0 (for the agent's timestamps)
        self.checkpoint_id: str | None = None
        self.state_dir: str | None = None
        self.impulses: list[Impulse] = []
        self.meta: dict = {}            # the agent loop's own counters (JSON), saved with the substrate
        self.interrupt = False          # set from a signal handler: idle stops at the next bin boundary
        self._last_autosave_s = 0.0
        self._skip_until_ms = 0.0       # bins before this (an ``advance``d span) are not detected on

    # -- time -----------------------------------------------------------------------------------
    @property
    def t_s(self) -> float:
        return self.sim.t_ms / 1000.0

    # -- labels -----------------------------------------------------------------------------------
    def assembly(self, label: str, kind: str = "topic") -> Assembly:
        """The labelled assembly of ``label``, made (with the next reserved cells) if new."""
        if not isinstance(label, str) or not label.strip():
            raise SubstrateError(f"a label must be a non-empty string, got {label!r}")
        label = label.strip()
        a = self.assemblies.get(label)
        if a is not None:
            return a
        if kind not in KINDS:
            raise SubstrateError(f"label kind must be one of {KINDS}, got {kind!r}")
        j = len(self.assemblies)
        if j >= self.config.max_labels:
            raise SubstrateError(f"all {self.config.max_labels} reserved assemblies are in use; raise max_labels")
        size = self.config.assembly_size
        a = Assembly(label, kind, j, self._pool[j * size:(j + 1) * size].copy())
        self.assemblies[label] = a
        self._counts.add_group(label, a.cells)
        self.detector.add(label)
        return a

    def _known(self, label: str) -> Assembly:
        try:
            return self.assemblies[label]
        except KeyError:
            raise SubstrateError(f"no assembly labelled {label!r}; known: {sorted(self.assemblies)}") from None

    # -- input ------------------------------------------------------------------------------------
    def _code_for(self, dim: int):
        """The z-score top-k code of the sensory layer, made on first use for the embedder's
        dimension (or, without an embedder, the first embedding's)."""
        if self._code is None:
            from encoders.population import PopulationCodeParams, ZScoreTopKCode
            self._code = ZScoreTopKCode(int(dim), PopulationCodeParams(
                n_neurons=self.config.sizes["sensory"], sparsity=self.config.sparsity, r_max_hz=self.config.r_max_hz,
                seed=self.config.code_seed))
        return self._code

    def embed(self, text) -> np.ndarray:
        if self._encoder is None:
            raise SubstrateError("this substrate has no embedder: pass embedding=... or build it with encoder=")
        if isinstance(text, str) and not text.strip():
            raise SubstrateError("cannot present an empty or whitespace-only message")
        return np.asarray(self._encoder.embed([text]), np.float32)[0]

    def rates_for(self, embedding) -> np.ndarray:
        e = np.asarray(embedding, dtype=np.float32)
        if e.ndim != 1:
            raise SubstrateError(f"an embedding must be one vector, got shape {e.shape}")
        if not np.all(np.isfinite(e)):
            raise SubstrateError("the embedding contains NaN or inf")
        code = self._code_for(e.shape[0] if self._encoder is None else self._encoder.dim)
        if e.shape[0] != code.dim:
            raise SubstrateError(f"embedding has {e.shape[0]} dimensions, the code takes {code.dim}")
        if not np.any(e):
            raise SubstrateError("the embedding is all zeros")
        return code.encode(e[None, :])[0]

    def _cue(self, labels) -> np.ndarray:
        cfg = self.config
        cue = np.zeros(cfg.pool)
        for a in labels:
            cue[a.index * cfg.assembly_size:(a.index + 1) * cfg.assembly_size] = cfg.cue_rate_hz
        return cue

    def _drive(self, rates, labels, ms: float, stream: int | None):
        """The input's rates on the sensory layer for ``ms``, and the labels' assemblies driven at
        ``cue_rate_hz``: persons in [0, cue_person_end) of the window, the other labels in
        [cue_topic_start, 1). Persons lead, so STDP gives the bond a person -> topic direction;
        the overlap is where both fire and new synapses can form. With only one kind, every named
        assembly is driven for the whole window."""
        cfg = self.config
        lead = [a for a in labels if a.kind == "person"]
        rest = [a for a in labels if a.kind != "person"]
        self.sim.set_rates("input", rates, stream=stream)
        if lead and rest:
            def at(f):
                return cfg.dt_ms * max(1, min(round(ms / cfg.dt_ms) - 1, round(ms * f / cfg.dt_ms)))
            ts, pe = at(cfg.cue_topic_start), at(cfg.cue_person_end)
            if ts <= pe:     # persons alone, both, the others alone
                phases = [(ts, lead), (pe - ts, lead + rest), (ms - pe, rest)]
            else:            # persons, a silent gap, the others
                phases = [(pe, lead), (ts - pe, []), (ms - ts, rest)]
            first = True
            for dur, group in phases:
                if dur <= 0:
                    continue
                self.sim.set_rates("cue", self._cue(group), stream=stream if first else None)
                first = False
                self.sim.run(dur, progress=False)
        else:
            self.sim.set_rates("cue", self._cue(labels), stream=stream)
            self.sim.run(ms, progress=False)
        self.sim.set_rates("input", 0.0)
        self.sim.set_rates("cue", 0.0)

    def present(self, text=None, labels=(), *, embedding=None, kinds: dict | None = None,
                message_id: int | None = None) -> SurfacedAssociations:
        """Present one message: code its embedding (``embedding`` or the embedder's of ``text``) for
        ``window_ms`` into the sensory layer with tonic dopamine on, co-stimulate the assemblies of
        ``labels`` (new labels get assemblies; ``kinds`` maps a label to person / topic / other),
        then ``gap_ms`` of silence. Returns the surfaced associations: the labelled assemblies not
        named in the message that were most active during and just after it, strength = rate over
        baseline (top ``readout_top``)."""
        cfg = self.config
        if embedding is None:
            if text is None:
                raise SubstrateError("present needs a text or an embedding")
            if isinstance(text, bytes):
                try:
                    text = text.decode("utf-8")
                except UnicodeDecodeError:
                    raise SubstrateError("the message is not valid UTF-8 text") from None
            embedding = self.embed(text)
        rates = self.rates_for(embedding)
        kinds = kinds or {}
        if isinstance(labels, str):
            labels = (labels,)
        named = [self.assembly(lb, kinds.get(lb, "topic")) for lb in dict.fromkeys(labels)]
        stream = None if message_id is None else int(message_id) + 1
        groups = {a.label: a.cells for a in self.assemblies.values()}
        readout = self.sim.add_monitor(GroupCounts("concept", groups, bin_ms=cfg.window_ms + cfg.gap_ms))
        self.sim.set_modulator("dopamine", tonic=1.0)
        try:
            self._drive(rates, named, cfg.window_ms, stream)
            if not cfg.dopamine_in_gap:
                self.sim.set_modulator("dopamine", tonic=0.0)
            self.sim.run(cfg.gap_ms, progress=False)
        finally:
            self.sim.set_modulator("dopamine", tonic=0.0)
            self.sim.monitors.remove(readout)
        self.detector.stimulus(self.t_s)
        if message_id is not None:
            self.last_message_id = int(message_id)
        counts = readout.counts
        if counts.shape[0] == 0:
            return SurfacedAssociations((), self.epoch_s + self.t_s, "no readout")
        rate = counts[-1] / (cfg.assembly_size * (cfg.window_ms + cfg.gap_ms) * 1e-3)
        base = np.maximum(self.detector.baseline, cfg.detector.floor_hz)
        strength = rate / base
        names = set(a.label for a in named)
        order = [j for j in np.argsort(-strength, kind="stable") if self.detector.labels[j] not in names and strength[j] > 0]
        items = tuple(Association(self.detector.labels[j], float(strength[j]), self.epoch_s + self.t_s,
                                  self.assemblies[self.detector.labels[j]].kind) for j in order[:cfg.readout_top])
        return SurfacedAssociations(items, self.epoch_s + self.t_s, "rate over baseline during and after the message")

    def reward(self, value: float | None = None) -> None:
        """A phasic dopamine pulse (default +reward_pulse); negative values punish."""
        v = self.config.reward_pulse if value is None else float(value)
        if not math.isfinite(v):
            raise SubstrateError(f"reward must be finite, got {value!r}")
        self.sim.set_modulator("dopamine", pulse=v)

    # -- idle -------------------------------------------------------------------------------------
    def idle(self, duration_s: float, on_impulse=None, progress: bool = False) -> list[Impulse]:
        """Run ``duration_s`` of idle (dopamine off, noise on), detecting impulses once per bin;
        ``on_impulse(impulse)`` is called for each significant one. Autosaves every
        ``autosave_min`` simulated minutes when the substrate has a state directory."""
        d = float(duration_s)
        if not math.isfinite(d) or d < 0:
            raise SubstrateError(f"idle duration must be finite and >= 0 s, got {duration_s!r}")
        self.sim.set_modulator("dopamine", tonic=0.0)
        fired: list[Impulse] = []
        bin_ms = self.config.detection_bin_s * 1000.0

        def check(sim):
            if self.interrupt:
                raise Interrupted(f"interrupted at t = {self.t_s:.3f} s")
            for imp in self._detect():
                fired.append(imp)
                if on_impulse is not None:
                    on_impulse(imp)
            if self.state_dir is not None and self.t_s - self._last_autosave_s >= self.config.autosave_min * 60.0:
                self.save()

        self.sim.run(d * 1000.0, progress=progress, callback=check, chunk_ms=bin_ms, desc="idle")
        return fired

    def advance(self, duration_s: float) -> None:
        """Skip ``duration_s`` of idle in closed form (``Simulator.advance_idle``: no neuron is
        simulated and nothing spikes; with dopamine off only cascade decay changes a weight, and it
        is applied exactly). The detector sees none of the span: no bins, no baseline update, and
        its 5-minute windows empty by their own clock. For sampled idle (``ember protocol``)."""
        d = float(duration_s)
        if not math.isfinite(d) or d < 0:
            raise SubstrateError(f"advance duration must be finite and >= 0 s, got {duration_s!r}")
        self.sim.set_modulator("dopamine", tonic=0.0)
        self.sim.advance_idle(d * 1000.0)
        self._skip_until_ms = self.sim.t_ms

    def relabel_lateral(self, seed: int) -> None:
        """Move the whole lateral store onto a seeded random relabelling of the concept cells
        (weights, levels and the graph's shape kept, its relation to the labelled assemblies
        destroyed): the "shuffled weights" control of ``ember protocol``."""
        g = np.random.default_rng(seed)
        n = self.config.sizes["concept"]
        self.sim.relabel_synapses(LATERAL, g.permutation(n), g.permutation(n))

    def _detect(self) -> list[Impulse]:
        out = []
        t, counts = self._counts.new_bins()
        bin_s = self.config.detection_bin_s
        for t_ms, c in zip(t, counts):
            if not self.detector.labels or t_ms < self._skip_until_ms:   # bins of an advanced span
                continue
            rates = c[:len(self.detector.labels)] / (self.config.assembly_size * bin_s)
            _, impulses = self.detector.update(t_ms / 1000.0, bin_s, rates)
            for dets in impulses:
                out.append(self._package(dets, t_ms / 1000.0, rates))
        self.impulses.extend(out)
        return out

    def _package(self, dets: list[Detection], t_s: float, rates: np.ndarray) -> Impulse:
        """The evidence of one impulse: the triggering assembly and the others active over their
        baseline in the same window, their detections, and the lateral synapses among them."""
        trig = dets[-1].label
        base = np.maximum(self.detector.baseline, self.config.detector.floor_hz)
        ratio = rates / base
        involved = [trig] + [self.detector.labels[j] for j in np.argsort(-ratio, kind="stable")
                             if self.detector.labels[j] != trig and ratio[j] > self.config.detector.factor]
        for j, rec in enumerate(self.detector.recent):
            lab = self.detector.labels[j]
            if rec and lab not in involved:
                involved.append(lab)
        # the assemblies whose learned lateral synapses drive the trigger: where the impulse came from
        for lab in self._sources(trig):
            if lab not in involved:
                involved.append(lab)
        idx = {lab: j for j, lab in enumerate(self.detector.labels)}
        assemblies = [{"label": lab, "kind": self.assemblies[lab].kind,
                       "strength": float(ratio[idx[lab]]) if lab != trig else float(dets[-1].ratio)}
                      for lab in involved[: self.config.readout_top]]
        syn = self.synapse_summary([a["label"] for a in assemblies])
        return Impulse(t_s + self.config.detection_bin_s, assemblies, [asdict(d) for d in dets], syn,
                       self.checkpoint_id, self._rates_before(t_s, [a["label"] for a in assemblies[:5]]))

    def _rates_before(self, t_s: float, labels, window_s: float = 30.0) -> dict:
        """The 1 s rates (Hz, 0.1 Hz steps) of ``labels`` over the ``window_s`` up to the bin at
        ``t_s``: what an impulse looked like, kept in its package (``ember inspect --plots``)."""
        t, hz = self._counts.rate_hz()
        keep = (t >= (t_s - window_s) * 1000.0 - 1e-6) & (t <= t_s * 1000.0 + 1e-6)
        if not keep.any():
            return {}
        idx = {lab: j for j, lab in enumerate(self._counts.labels)}
        return {"t0_s": float(t[keep][0] / 1000.0), "bin_s": self.config.detection_bin_s, "labels": list(labels),
                "hz": [[round(float(x), 1) for x in hz[keep, idx[lab]]] for lab in labels]}

    def _owner(self) -> np.ndarray:
        """For each concept cell, the index of the assembly that owns it (-1: none). Assembly j owns
        block j of the reserved pool."""
        n = len(self.assemblies) * self.config.assembly_size
        owner = np.full(self.config.sizes["concept"], -1, np.int64)
        owner[self._pool[:n]] = np.arange(n) // self.config.assembly_size
        return owner

    def _sources(self, label: str, min_weight: float = 0.1, min_count: int = 10) -> list[str]:
        """Labelled assemblies with lateral synapses onto ``label``'s cells (mean >= ``min_weight``
        w_max, at least ``min_count`` of them), the strongest summed weight first."""
        st = self.sim.synapses(LATERAL, post=self._known(label).cells)
        if st["pre"].size == 0:
            return []
        own = self._owner()[st["pre"]]
        w = np.where(st["quarantined"], 0.0, st["weight"]) / self.config.w_max
        by = list(self.assemblies)          # labels in index order
        out = []
        for k in np.unique(own[own >= 0]):
            sel = own == k
            if by[int(k)] != label and sel.sum() >= min_count and w[sel].mean() >= min_weight:
                out.append((float(w[sel].sum()), by[int(k)]))
        return [lab for _, lab in sorted(out, reverse=True)]

    # -- consolidation ----------------------------------------------------------------------------
    def consolidate(self, episodes) -> dict:
        """Replay ``episodes`` (each an embedding with its labels: ``(embedding, labels)`` or a
        mapping with those keys) ``replay_passes`` times, ``replay_item_ms`` each with
        ``replay_gap_ms`` between, dopamine on; synapses potentiated during the replay move up a
        cascade level. Returns counts before and after."""
        cfg = self.config
        items = []
        for ep in episodes:
            emb, labs = (ep["embedding"], ep.get("labels", ())) if isinstance(ep, dict) else ep
            items.append((self.rates_for(emb), [self.assembly(lb) for lb in labs]))
        before = self.synapse_count()
        if not items:
            return {"synapses_before": before, "synapses_after": before, "items": 0}
        self.sim.begin_consolidation(learning_rate=cfg.replay_rate, depression=cfg.replay_depression)
        self.sim.set_modulator("dopamine", tonic=1.0)
        try:
            for _ in range(cfg.replay_passes):
                for rates, labs in items:
                    self._drive(rates, labs if cfg.replay_cue else [], cfg.replay_item_ms, None)
                    self.sim.run(cfg.replay_gap_ms, progress=False)
        finally:
            self.sim.set_modulator("dopamine", tonic=0.0)
            self.sim.end_consolidation()
        self.detector.stimulus(self.t_s)
        return {"synapses_before": before, "synapses_after": self.synapse_count(), "items": len(items)}

    # -- audit ------------------------------------------------------------------------------------
    def synapse_count(self) -> int:
        """Learned lateral synapses: those at or above ``w_prune`` (a quarantined one by its kept
        value). A synapse below it is already dead: the once-a-second pruning removes it."""
        return int(self._learned(self.sim.synapses(LATERAL)["weight"]).sum())

    def _learned(self, weights: np.ndarray) -> np.ndarray:
        """Which of ``weights`` (absolute, a quarantined synapse's kept value) are learned: >= w_prune."""
        return weights >= np.float32(self.config.w_prune * self.config.w_max)

    def _pair(self, a: str | None, b: str | None):
        pre = None if a is None else self._known(a).cells
        post = None if b is None else self._known(b).cells
        return pre, post

    def synapses(self, pre_label: str | None = None, post_label: str | None = None) -> dict:
        """The lateral synapses from one label's assembly to another's (None: any cell)."""
        pre, post = self._pair(pre_label, post_label)
        return self.sim.synapses(LATERAL, pre=pre, post=post)

    def zero(self, pre_label: str | None, post_label: str | None) -> int:
        pre, post = self._pair(pre_label, post_label)
        return self.sim.zero_synapses(LATERAL, pre=pre, post=post)

    def quarantine(self, pre_label: str | None, post_label: str | None, release: bool = False) -> int:
        pre, post = self._pair(pre_label, post_label)
        return self.sim.quarantine(LATERAL, pre=pre, post=post, release=release)

    def synapse_summary(self, labels) -> dict:
        """Count, mean and max weight (in units of w_max) and cascade levels of the lateral synapses
        among the assemblies of ``labels`` (both directions, within and between them)."""
        cells = np.concatenate([self._known(lb).cells for lb in labels]) if labels else np.zeros(0, np.int64)
        s = self.sim.synapses(LATERAL, pre=cells, post=cells)
        w = s["weight"] / self.config.w_max
        return {"count": int(w.size), "mean_weight": float(w.mean()) if w.size else 0.0,
                "max_weight": float(w.max()) if w.size else 0.0,
                "levels": np.bincount(s["level"], minlength=self.config.cascade_levels).tolist()}

    def association_graph(self, min_weight: float = 0.0):
        """Labelled assemblies as nodes (with their kind), and an edge a -> b for every pair with
        learned lateral synapses (at or above ``w_prune``): weight = their mean weight (units of
        w_max, a quarantined synapse counting 0), count, max."""
        import networkx as nx

        g = nx.DiGraph()
        st = self.sim.synapses(LATERAL)
        owner = self._owner()
        labs = list(self.assemblies.values())
        for a in labs:
            g.add_node(a.label, kind=a.kind)
        if labs and st["pre"].size:
            op, oq = owner[st["pre"]], owner[st["post"]]
            # learned synapses only: below w_prune a synapse is dead and goes at the next pruning
            keep = (op >= 0) & (oq >= 0) & self._learned(st["weight"])
            w = np.where(st["quarantined"], 0.0, st["weight"])[keep] / self.config.w_max   # quarantined: silent
            by = {a.index: a.label for a in labs}
            pairs = op[keep] * len(labs) + oq[keep]
            for key in np.unique(pairs):
                sel = pairs == key
                i, j = divmod(int(key), len(labs))
                mean = float(w[sel].mean())
                if mean > min_weight:
                    g.add_edge(by[i], by[j], weight=mean, count=int(sel.sum()), max=float(w[sel].max()))
        return g

    def write_graphml(self, path) -> None:
        import networkx as nx
        nx.write_graphml(self.association_graph(), os.fspath(path))

    # -- persistence ------------------------------------------------------------------------------
    def _extra(self) -> dict:
        return {"schema": SCHEMA_VERSION, "config": self.config.to_dict(),
                "assemblies": [{"label": a.label, "kind": a.kind, "index": a.index} for a in self.assemblies.values()],
                "detector": self.detector.state(), "last_message_id": self.last_message_id, "epoch_s": self.epoch_s,
                "impulses": [i.to_dict() for i in self.impulses[-1000:]], "meta": self.meta}

    def save(self, state_dir: str | os.PathLike | None = None) -> str:
        """Write the substrate (network state, labels, detector, last learned message) to
        ``state_dir/substrate.h5`` atomically, with ``state_dir/manifest.json``; returns the new
        checkpoint id."""
        d = os.fspath(state_dir) if state_dir is not None else self.state_dir
        if d is None:
            raise SubstrateError("save needs a state directory (the substrate was not opened from one)")
        os.makedirs(d, exist_ok=True)
        _write_manifest(d, self.config)
        cid = f"t{self.sim.t}-{int(time.time() * 1000)}"
        extra = self._extra()
        extra["checkpoint_id"] = cid
        self.sim.save(os.path.join(d, "substrate.h5"), extra=extra)
        self.state_dir, self.checkpoint_id, self._last_autosave_s = d, cid, self.t_s
        return cid

    @classmethod
    def open(cls, state_dir, config: SubstrateConfig | None = None, backend: str = "numba", threads: int = 1,
             encoder=None) -> "Substrate":
        """Reopen the substrate saved in ``state_dir``, or create a new one there (with ``config``).
        A directory made with another configuration, of another program, or damaged is refused
        with a ``SubstrateError`` that says which."""
        d = os.fspath(state_dir)
        ck = os.path.join(d, "substrate.h5")
        man = _read_manifest(d)
        if man is None:
            if os.path.exists(ck):
                raise SubstrateError(f"{d!r} has a substrate checkpoint but no manifest.json")
            sub = cls(config, backend=backend, threads=threads, encoder=encoder)
            sub.save(d)
            return sub
        saved = SubstrateConfig.from_dict(man["config"])
        if config is not None and config != saved:
            diff = sorted(k for k in saved.to_dict() if saved.to_dict()[k] != config.to_dict()[k])
            raise SubstrateError(f"{d!r} was made with another substrate configuration (differs in {diff})")
        try:
            net, dt, snap = read_checkpoint(ck)
            extra = snap.extra
            if extra.get("schema") != SCHEMA_VERSION or SubstrateConfig.from_dict(extra["config"]) != saved:
                raise SubstrateError(f"{ck!r} does not belong to this state directory's manifest")
            if net != build_network(saved):
                raise SubstrateError(f"{ck!r} holds another network than its configuration builds")
            opts = {"threads": threads} if backend == "numba" else {}
            sim = Simulator.from_snapshot(net, dt, snap, backend, where=repr(ck), **opts)
        except CheckpointError as e:
            raise SubstrateError(f"the substrate checkpoint in {d!r} cannot be used: {e}") from None
        sub = cls(saved, backend=backend, threads=threads, encoder=encoder, _sim=sim)
        for a in extra["assemblies"]:
            got = sub.assembly(a["label"], a["kind"])
            if got.index != a["index"]:
                raise SubstrateError(f"{ck!r}: assembly {a['label']!r} is out of order")
        sub.detector = Detector.from_state(extra["detector"])   # its bins start at the restored clock
        sub.last_message_id = extra["last_message_id"]
        sub.epoch_s = float(extra["epoch_s"])
        sub.impulses = [Impulse(**i) for i in extra["impulses"]]
        sub.meta = dict(extra.get("meta", {}))
        sub.state_dir, sub.checkpoint_id, sub._last_autosave_s = d, extra.get("checkpoint_id"), sub.t_s
        return sub


def _write_manifest(d: str, cfg: SubstrateConfig) -> None:
    path = os.path.join(d, "manifest.json")
    body = {"format": "ember-substrate", "schema": SCHEMA_VERSION, "config": cfg.to_dict()}
    if os.path.exists(path):
        cur = _read_manifest(d)
        if cur == body:
            return
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(body, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_manifest(d: str):
    path = os.path.join(d, "manifest.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        raise SubstrateError(f"{path!r} is not a readable substrate manifest: {e}") from None
    if not isinstance(m, dict) or m.get("format") != "ember-substrate":
        raise SubstrateError(f"{path!r} is not an EMBER substrate manifest (a foreign directory?)")
    if m.get("schema") != SCHEMA_VERSION:
        raise SubstrateError(f"{path!r} has substrate schema {m.get('schema')}; this version reads {SCHEMA_VERSION}")
    return m
