"""The heterogeneous Izhikevich reservoir (spec section 1) on the engine, plus trajectory caching.

Division of labour: the engine (`spiking.Simulator`, numpy or numba backend) integrates the
Izhikevich (2003) neurons with per-neuron (a, b, c, d) from `izhikevich_2003_heterogeneity`.
The recurrent current is Nicola & Clopath's double exponential in *their* discretisation (IPSC/h,
forward Euler, tau_r = 2 ms, tau_d = 20 ms), and the filtered-spike features r(t) use the same
kernel; both are computed here from `sim.spikes_now()` every step and fed back with
`sim.set_current()` (bias + IPSC + input channels [+ noise]). The engine has double-exponential
synapses now (`Izhikevich(tau_rise_ms=...)`), but they are integrated exactly, not by N&C's Euler
step, and their weights are sparse CSR while N&C's W is a dense sign-mixed matrix that the
features need per step anyway: moving the recurrence into the engine would change every figure of
the suite (`docs/reservoir.md`) for no gain in fidelity to the paper, so the host loop stays.

Deterministic trial resets: the network is warmed up once and its state taken with
`Simulator.snapshot()` (in memory) together with the synaptic state kept here; every trajectory
starts from `Simulator.restore()` of that snapshot with noise off (no file is read). A trajectory
then depends only on its events, i.e. on (cue, latency, identity), and is cached per key.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from spiking import Izhikevich, Network, Population, Simulator, izhikevich_2003_heterogeneity

from .config import ConfigError, ReservoirConfig


@dataclass
class Trajectory:
    """One simulated trajectory.  ``features[i]`` is r(t) (1/ms, unnormalised) at
    t = -pre_ms + i * sample_ms; ``spike_steps`` / ``spike_neurons`` list every spike (engine steps
    counted from the trajectory start); ``n_spikes`` per neuron."""

    key: tuple
    features: np.ndarray
    spike_steps: np.ndarray
    spike_neurons: np.ndarray
    n_spikes: np.ndarray
    duration_ms: float

    def rate_hz(self) -> float:
        return float(self.n_spikes.mean() / (self.duration_ms / 1000.0))


class Reservoir:
    """Build the reservoir and run trajectories.

    ``channels``: names of the input channels (one per cue and one per identity); each drives a
    fixed random ``input_fraction`` of neurons with ``input_amplitude`` while on.
    ``clock_channels``: the channels whose onset (re)starts the clock input when ``cfg.clock`` is
    "hdts" (the cues; default: every channel)."""

    def __init__(self, cfg: ReservoirConfig = ReservoirConfig(), channels=(), backend: str = "numba",
                 store_dir: Optional[str] = None, clock_channels=None):
        if not isinstance(cfg, ReservoirConfig):
            raise ConfigError(f"Reservoir needs a ReservoirConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.backend = backend
        N = cfg.n_neurons
        rng = np.random.default_rng(cfg.seed)
        self.n_exc = cfg.n_exc
        self.heterogeneity = izhikevich_2003_heterogeneity(self.n_exc, N - self.n_exc, rng)
        # Gaussian sign-mixed recurrence, W[post, pre]; stored transposed (rows = pre) for spike sums
        mask = rng.random((N, N)) < cfg.connection_p
        np.fill_diagonal(mask, False)
        W = cfg.gain_G * rng.standard_normal((N, N)) * mask / (cfg.connection_p * np.sqrt(N))
        self.W_pre_post = np.ascontiguousarray(W.T)
        v0 = (-65.0 + 10.0 * rng.random(N)).astype(np.float32)
        # channel masks come last, so adding a channel does not change the network or its initial state
        self.channels = tuple(channels)
        if len(set(self.channels)) != len(self.channels):
            raise ConfigError(f"Reservoir: channel names must be unique, got {self.channels}")
        n_in = max(1, int(round(cfg.input_fraction * N)))
        self.channel_neurons = {ch: np.sort(rng.choice(N, n_in, replace=False)) for ch in self.channels}
        self.clock_channels = self.channels if clock_channels is None else tuple(clock_channels)
        unknown = [c for c in self.clock_channels if c not in self.channels]
        if unknown:
            raise ConfigError(f"Reservoir: clock channels {unknown} are not among the channels {self.channels}")
        # the clock's weights come from their own stream: switching the clock on changes nothing else
        self.clock_weights = (np.random.default_rng([cfg.seed, 7]).standard_normal((cfg.clock_pulses, N))
                              if cfg.clock == "hdts" else None)
        per = dict(self.heterogeneity)
        per["v_init_mV"] = v0
        self.model = Izhikevich(noise_sigma=0.0, half_steps=cfg.half_steps)
        self.net = Network(populations=(Population("res", N, self.model, per_neuron=per),),
                           dt_ms=cfg.dt_ms, seed=cfg.seed)
        # store_dir: when given, the warmed-up state is also written there as a checkpoint (to inspect
        # or share it); trials never read it, they restore the in-memory snapshot
        self.state_path = None if store_dir is None else os.path.join(store_dir, f"reservoir_init_{cfg.seed}_{N}.h5")
        self.er = np.exp(-cfg.dt_ms / cfg.tau_rise_ms)
        self.ed = np.exp(-cfg.dt_ms / cfg.tau_decay_ms)
        self._store_initial_state()

    # -- state -------------------------------------------------------------------------
    def _fresh_syn(self):
        N = self.cfg.n_neurons
        return {k: np.zeros(N) for k in ("ipsc", "h", "r", "hr")}

    def _store_initial_state(self) -> None:
        sim = Simulator(self.net, backend=self.backend)
        syn = self._fresh_syn()
        self._advance(sim, syn, int(round(self.cfg.warmup_ms / self.cfg.dt_ms)), [], None, None, None, ())
        self.sim, self.snap0 = sim, sim.snapshot()
        if self.state_path is not None:
            sim.save(self.state_path)
        self.syn0 = {k: v.copy() for k, v in syn.items()}

    def _clock_pulse(self, elapsed_ms: float):
        """(k, value) of the one clock pulse on at ``elapsed_ms`` after its start: pulse k is a half
        sine over [k, k + 1) x span / m (as in Nicola & Clopath's HDTS); None after the span."""
        cfg = self.cfg
        if not 0.0 <= elapsed_ms < cfg.clock_span_ms:
            return None
        width = cfg.clock_span_ms / cfg.clock_pulses
        k = min(cfg.clock_pulses - 1, int(elapsed_ms // width))
        return k, float(np.sin(np.pi * (elapsed_ms - k * width) / width))

    def clock_signal(self, elapsed_ms: float) -> np.ndarray:
        """The clock's m pulses at ``elapsed_ms`` after its start (at most one of them nonzero)."""
        s = np.zeros(self.cfg.clock_pulses)
        on = self._clock_pulse(elapsed_ms)
        if on is not None:
            s[on[0]] = on[1]
        return s

    def _advance(self, sim, syn, n_steps, pulses, rng, record, spikes_out, clock_starts, noise_sigma=0.0):
        """Run ``n_steps`` engine steps.  ``pulses``: list of (first_step, last_step_exclusive, neurons).
        ``record``: (array, steps_per_sample) to store r every sample (row 0 = state before step 0).
        ``clock_starts``: the steps at which the clock (re)starts (with ``cfg.clock == "hdts"``)."""
        cfg = self.cfg
        N, dt = cfg.n_neurons, cfg.dt_ms
        er, ed, k2 = self.er, self.ed, 1.0 / (cfg.tau_rise_ms * cfg.tau_decay_ms)
        ipsc, h, r, hr = syn["ipsc"], syn["h"], syn["r"], syn["hr"]
        Wt = self.W_pre_post
        drive = np.empty(N)
        if record is not None:
            rec, sps = record
            rec[0] = r
        for step in range(n_steps):
            drive[:] = cfg.bias_current
            drive += ipsc
            for a, b, idx in pulses:
                if a <= step < b:
                    drive[idx] += cfg.input_amplitude
            if clock_starts and self.clock_weights is not None:
                last = max((c for c in clock_starts if c <= step), default=None)
                on = None if last is None else self._clock_pulse((step - last) * dt)
                if on is not None:     # one pulse at a time: its weight row, not the whole matrix
                    drive += cfg.clock_amplitude * (on[1] * self.clock_weights[on[0]])
            if noise_sigma > 0:
                drive += noise_sigma * rng.standard_normal(N)
            sim.set_current("res", drive)
            sim.step()
            spk = sim.spikes_now("res")
            # Nicola & Clopath: IPSC <- IPSC e^-dt/tr + h dt; h <- h e^-dt/td + sum W[:, spiked]/(tr td)
            ipsc *= er
            ipsc += h * dt
            h *= ed
            r *= er
            r += hr * dt
            hr *= ed
            if spk.size:
                h += Wt[spk].sum(axis=0) * k2
                hr[spk] += k2
                if spikes_out is not None:
                    spikes_out.append((step, spk.copy()))
            if record is not None and (step + 1) % sps == 0:
                rec[(step + 1) // sps] = r

    # -- trajectories ------------------------------------------------------------------
    def run(self, events, duration_ms: float, noise_sigma: Optional[float] = None, rng=None,
            key=None) -> Trajectory:
        """Reset to the stored initial state, then run ``duration_ms`` with ``events``: pairs
        (channel, onset_ms) with onsets counted from the start of the run; each pulse lasts
        ``cfg.pulse_ms``."""
        cfg = self.cfg
        sigma = cfg.noise_sigma if noise_sigma is None else float(noise_sigma)
        if sigma > 0 and rng is None:
            raise ConfigError("Reservoir.run: noise_sigma > 0 needs an rng")
        pulses, clock = [], []
        for ch, onset in events:
            if ch not in self.channel_neurons:
                raise ConfigError(f"Reservoir.run: unknown channel {ch!r}; have {self.channels}")
            a = int(round(onset / cfg.dt_ms))
            pulses.append((a, a + int(round(cfg.pulse_ms / cfg.dt_ms)), self.channel_neurons[ch]))
            if ch in self.clock_channels:
                clock.append(a)
        n_steps = int(round(duration_ms / cfg.dt_ms))
        sps = cfg.steps_per_sample
        n_samples = n_steps // sps
        rec = np.zeros((n_samples + 1, cfg.n_neurons), dtype=np.float32)
        sim = self.sim
        sim.restore(self.snap0)
        syn = {k: v.copy() for k, v in self.syn0.items()}
        spikes = []
        self._advance(sim, syn, n_steps, pulses, rng, (rec, sps), spikes, tuple(clock), sigma)
        if spikes:
            st = np.concatenate([np.full(s.size, t, np.int32) for t, s in spikes])
            sn = np.concatenate([s for _, s in spikes]).astype(np.int32)
        else:
            st = sn = np.zeros(0, np.int32)
        counts = np.bincount(sn, minlength=cfg.n_neurons)
        return Trajectory(key, rec[:n_samples], st, sn, counts, float(duration_ms))

    def close(self):
        """Kept for callers that close a reservoir: the state lives in memory, nothing to clean."""


class TrajectoryCache:
    """Trajectories per (cue, latency, identity) for a task: the cue pulse comes at ``pre_ms`` into
    the run, the identity pulse ``latency`` after it; runs last pre_ms + trial_ms + tail_ms."""

    def __init__(self, reservoir: Reservoir, trial_ms: float, tail_ms: float = 0.0):
        self.res = reservoir
        self.trial_ms = float(trial_ms)
        self.tail_ms = float(tail_ms)
        self.store: dict = {}

    @property
    def duration_ms(self) -> float:
        return self.res.cfg.pre_ms + self.trial_ms + self.tail_ms

    def events_for(self, key):
        cue, L, ident = key
        pre = self.res.cfg.pre_ms
        ev = [(cue, pre)]
        if L is not None:
            ev.append((ident, pre + L))
        return ev

    def get(self, key) -> Trajectory:
        if key not in self.store:
            self.store[key] = self.res.run(self.events_for(key), self.duration_ms, noise_sigma=0.0, key=key)
        return self.store[key]

    def fill(self, keys, progress=None):
        for k in keys:
            self.get(k)
            if progress is not None:
                progress.update(1)
        return self
