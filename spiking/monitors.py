"""Monitors: attach to a Simulator, record after every step.

* ``SpikeCounts(pop)``: spikes per neuron (cheap; what the benchmarks use).
* ``SpikeTrains(pop, neurons=None)``: (time, index) of every spike of all or a subset.
* ``PopulationRate(pop)``: spike count of every step; ``rate_hz(bin_ms)`` bins it.
* ``StateSamples(pop, variable, neurons, every_ms)``: sampled traces of a subset.

Plots: ``raster(trains, ...)`` and ``rate_plot(rate, ...)`` with matplotlib (imported
only when called).
"""
from __future__ import annotations

import numpy as np


class Monitor:
    population: str

    def attach(self, sim) -> None:
        self._g = sim.group(self.population)
        self._dt = sim.dt_ms

    def record(self, sim) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class SpikeCounts(Monitor):
    def __init__(self, population: str):
        self.population = population

    def attach(self, sim):
        super().attach(sim)
        self._be = sim.backend
        self._counts = sim.backend.zeros(self._g.size, np.int64)

    def record(self, sim):
        g = self._g
        if g.n:
            self._be.count_spikes(self._counts, g.spikes, g.n)

    @property
    def counts(self) -> np.ndarray:
        return self._be.to_host(self._counts).copy()


class SpikeTrains(Monitor):
    def __init__(self, population: str, neurons=None):
        self.population = population
        self.neurons = None if neurons is None else np.unique(np.asarray(neurons, dtype=np.int64))
        self._t: list = []
        self._i: list = []

    def record(self, sim):
        g = self._g
        if not g.n:
            return
        idx = sim.backend.spikes_to_host(g.spikes, g.n)
        if self.neurons is not None:
            idx = idx[np.isin(idx, self.neurons)]
        if idx.size:
            self._i.append(idx.astype(np.int32))
            self._t.append(np.full(idx.size, sim.t, dtype=np.int64))

    @property
    def steps(self) -> np.ndarray:
        return np.concatenate(self._t) if self._t else np.zeros(0, np.int64)

    @property
    def t_ms(self) -> np.ndarray:
        return self.steps * self._dt

    @property
    def indices(self) -> np.ndarray:
        return np.concatenate(self._i) if self._i else np.zeros(0, np.int32)


class PopulationRate(Monitor):
    def __init__(self, population: str):
        self.population = population
        self._n: list = []
        self._t0 = None

    def attach(self, sim):
        super().attach(sim)
        self._t0 = sim.t

    def record(self, sim):
        self._n.append(self._g.n)

    @property
    def counts(self) -> np.ndarray:
        return np.asarray(self._n, dtype=np.int64)

    def rate_hz(self, bin_ms: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(bin start times in ms, population rate in Hz per neuron)."""
        c = self.counts
        per = 1 if bin_ms is None else max(1, int(round(bin_ms / self._dt)))
        nb = c.size // per
        binned = c[: nb * per].reshape(nb, per).sum(axis=1)
        t = (self._t0 + np.arange(nb) * per) * self._dt
        return t, binned / (self._g.size * per * self._dt * 1e-3)

    def cv(self, bin_ms: float = 5.0) -> float:
        """Coefficient of variation of the binned population count (synchrony measure)."""
        _, r = self.rate_hz(bin_ms)
        return float(r.std() / max(r.mean(), 1e-12))


class StateSamples(Monitor):
    def __init__(self, population: str, variable: str, neurons, every_ms: float | None = None):
        self.population = population
        self.variable = variable
        self.neurons = np.asarray(neurons, dtype=np.int64)
        self.every_ms = every_ms
        self._v: list = []
        self._t: list = []

    def attach(self, sim):
        super().attach(sim)
        if self.variable not in self._g.state:
            raise KeyError(f"{self.population!r} has no state variable {self.variable!r}; have {sorted(self._g.state)}")
        if self.neurons.size and (self.neurons.min() < 0 or self.neurons.max() >= self._g.size):
            raise IndexError(f"StateSamples: neuron indices out of range for {self.population!r}")
        self._every = 1 if self.every_ms is None else max(1, int(round(self.every_ms / sim.dt_ms)))

    def record(self, sim):
        if sim.t % self._every == 0:
            arr = sim.backend.to_host(self._g.state[self.variable])
            self._v.append(np.array(arr[self.neurons]))
            self._t.append(sim.t)

    @property
    def values(self) -> np.ndarray:
        return np.array(self._v) if self._v else np.zeros((0, self.neurons.size))

    @property
    def t_ms(self) -> np.ndarray:
        return np.asarray(self._t) * self._dt


def raster(trains: SpikeTrains, path=None, title: str = "", max_points: int = 200_000, ax=None):
    """Raster plot of a SpikeTrains monitor; saved to ``path`` when given."""
    import matplotlib
    if path is not None and ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    t, i = trains.t_ms, trains.indices
    if t.size > max_points:
        keep = np.random.default_rng(0).choice(t.size, max_points, replace=False)
        t, i = t[keep], i[keep]
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    ax.scatter(t, i, s=0.6, c="k", marker=".", linewidths=0)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    ax.set_title(title or f"{trains.population}: {trains.indices.size} spikes")
    if own and path is not None:
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
    return ax


def rate_plot(rate: PopulationRate, bin_ms: float = 5.0, path=None, ax=None, title: str = ""):
    import matplotlib.pyplot as plt

    t, r = rate.rate_hz(bin_ms)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(9, 2.5), dpi=110)
    ax.plot(t, r, lw=0.8)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate (Hz)")
    ax.set_title(title or f"{rate.population}: population rate, {bin_ms:g} ms bins")
    if own and path is not None:
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
    return ax
