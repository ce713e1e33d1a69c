"""Monitors: attach to a Simulator, record after every step.

* ``SpikeCounts(pop)``: spikes per neuron (cheap; what the benchmarks use).
* ``SpikeTrains(pop, neurons=None, window_ms=None)``: (time, index) of every spike of all or a
  subset; with ``window_ms`` only the most recent window is kept.
* ``PopulationRate(pop, bin_ms=None, max_bins=1_000_000)``: spike count per bin (default one
  step) in a ring of the most recent ``max_bins`` bins; ``rate_hz(bin_ms)`` rebins it.
* ``GroupCounts(pop, groups, bin_ms=1000, max_bins=10_000)``: spike counts of given neuron
  sets (e.g. EMBER's labelled assemblies) per bin, counted by a kernel on the backend that
  holds the spikes, in a ring of bins there; copied to the host only when read.
* ``StateSamples(pop, variable, neurons, every_ms)``: sampled traces of a subset.

Every monitor's memory is bounded by its arguments (except ``SpikeTrains`` without a window
and ``StateSamples``, which keep everything they are asked for): an 8-hour idle run with a
rate monitor and a group counter attached stays flat.

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

    # A monitor that also has ``record_block(sim, t0, counts, off, idx)`` takes the spikes of the
    # steps t0 .. t0 + len(counts) - 1 at once (step t0 + k's spikes are idx[off[k]:off[k + 1]]),
    # with exactly the result of ``record`` after each of those steps; the engine then runs such
    # stretches as one compiled call (``spiking.blocks``). Monitors without it keep the steps.


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

    def record_block(self, sim, t0, counts, off, idx):
        if off[-1]:
            self._be.count_spikes(self._counts, idx, int(off[-1]))

    def record_device(self, sim, ds, count, slot, t):
        ds.count(self._counts, self._g, count, slot)

    @property
    def counts(self) -> np.ndarray:
        return self._be.to_host(self._counts).copy()


class SpikeTrains(Monitor):
    def __init__(self, population: str, neurons=None, window_ms: float | None = None):
        self.population = population
        self.neurons = None if neurons is None else np.unique(np.asarray(neurons, dtype=np.int64))
        if window_ms is not None and not (np.isfinite(window_ms) and window_ms > 0):
            raise ValueError(f"SpikeTrains: window_ms must be a finite number > 0, got {window_ms!r}")
        self.window_ms = window_ms
        self._t: list = []
        self._i: list = []

    def record(self, sim):
        g = self._g
        self._now = sim.t
        if not g.n:
            return
        idx = sim.backend.spikes_to_host(g.spikes, g.n)
        if self.neurons is not None:
            idx = idx[np.isin(idx, self.neurons)]
        if idx.size:
            self._i.append(idx.astype(np.int32))
            self._t.append(np.full(idx.size, sim.t, dtype=np.int64))
            if self.window_ms is not None:
                self._trim(sim.t)

    def _trim(self, now):
        w = self.window_ms / self._dt
        if now - self._t[0][0] > 2 * w:   # amortised: trim when twice the window is held
            keep = next((j for j, tt in enumerate(self._t) if now - tt[0] < w), len(self._t) - 1)
            del self._t[:keep], self._i[:keep]

    def record_block(self, sim, t0, counts, off, idx):
        n = len(counts)
        self._now = t0 + n - 1
        tot = int(off[-1])
        if not tot:
            return
        i = np.array(idx[:tot], np.int32)
        t = np.repeat(np.arange(t0, t0 + n, dtype=np.int64), counts)
        if self.neurons is not None:
            keep = np.isin(i, self.neurons)
            i, t = i[keep], t[keep]
        if i.size:
            self._i.append(i)
            self._t.append(t)
            if self.window_ms is not None:
                self._trim(self._now)

    def _trimmed(self):
        if self.window_ms is None or not self._t:
            return np.concatenate(self._t) if self._t else np.zeros(0, np.int64), \
                np.concatenate(self._i) if self._i else np.zeros(0, np.int32)
        t, i = np.concatenate(self._t), np.concatenate(self._i)
        keep = t > self._now - self.window_ms / self._dt
        return t[keep], i[keep]

    @property
    def steps(self) -> np.ndarray:
        return self._trimmed()[0]

    @property
    def t_ms(self) -> np.ndarray:
        return self.steps * self._dt

    @property
    def indices(self) -> np.ndarray:
        return self._trimmed()[1]


class _Bins:
    """Bookkeeping of a ring of time bins: bin b covers steps [t0 + b per, t0 + (b + 1) per)."""

    def __init__(self, t0: int, per: int, cap: int):
        self.t0, self.per, self.cap = int(t0), int(per), int(cap)
        self.cur = -1        # index of the bin being filled (-1: none yet)
        self.skipped = np.zeros(0, np.int64)
        self.filled = 0      # steps recorded into the current bin

    def at(self, t: int) -> tuple[int, bool]:
        """(ring row of step t's bin, whether that bin starts here). Bins jumped over (an
        ``advance_idle`` span: silence) are listed in ``skipped`` for the caller to zero."""
        b = (t - self.t0) // self.per
        new = b != self.cur
        self.skipped = np.zeros(0, np.int64)
        if new:
            if self.cur >= 0 and b > self.cur + 1:
                self.skipped = np.arange(max(self.cur + 1, b - self.cap + 1), b) % self.cap
            self.cur, self.filled = b, 0
        self.filled += 1
        return b % self.cap, new

    def segments(self, t0: int, n: int) -> list:
        """``at`` for the steps t0 .. t0 + n - 1 at once, one entry per bin they touch:
        (ring row, whether the bin starts there, rows skipped before it, first step k, last k + 1)."""
        out = []
        k = 0
        while k < n:
            t = t0 + k
            row, new = self.at(t)
            m = min(n - k, self.t0 + (self.cur + 1) * self.per - t)
            self.filled += m - 1
            out.append((row, new, self.skipped, k, k + m))
            k += m
        return out

    def complete(self) -> tuple[int, int]:
        """[first, last + 1) indices of the complete bins still held."""
        last = self.cur + 1 if self.filled == self.per else self.cur
        first = max(0, last - self.cap, self.cur + 1 - self.cap)
        return first, max(first, last)

    def rows(self, first: int, last: int) -> np.ndarray:
        return np.arange(first, last) % self.cap

    def t_ms(self, first: int, last: int, dt: float) -> np.ndarray:
        return (self.t0 + np.arange(first, last) * self.per) * dt


def _bin_steps(bin_ms, dt: float, what: str) -> int:
    if bin_ms is None:
        return 1
    b = float(bin_ms)
    if not np.isfinite(b) or b <= 0:
        raise ValueError(f"{what}: bin_ms must be a finite number > 0, got {bin_ms!r}")
    return max(1, int(round(b / dt)))


def _cap(max_bins, what: str) -> int:
    if isinstance(max_bins, bool) or not isinstance(max_bins, (int, np.integer)) or max_bins < 1:
        raise ValueError(f"{what}: max_bins must be an int >= 1, got {max_bins!r}")
    return int(max_bins)


class PopulationRate(Monitor):
    """Spike count of a population per bin (``bin_ms``, default one step), in a ring of the most
    recent ``max_bins`` bins (8 bytes each): 10^6 one-step bins at dt = 0.5 ms keep the last 500 s."""

    def __init__(self, population: str, bin_ms: float | None = None, max_bins: int = 1_000_000):
        self.population = population
        self.bin_ms = bin_ms
        self.max_bins = _cap(max_bins, "PopulationRate")

    def attach(self, sim):
        super().attach(sim)
        self._bins = _Bins(sim.t, _bin_steps(self.bin_ms, sim.dt_ms, "PopulationRate"), self.max_bins)
        self._ring = np.zeros(self.max_bins, np.int64)

    def record(self, sim):
        row, new = self._bins.at(sim.t)
        if self._bins.skipped.size:       # bins of an advance_idle span: silence
            self._ring[self._bins.skipped] = 0
        if new:
            self._ring[row] = self._g.n
        else:
            self._ring[row] += self._g.n

    def record_block(self, sim, t0, counts, off, idx):
        for row, new, skipped, lo, hi in self._bins.segments(t0, len(counts)):
            if skipped.size:
                self._ring[skipped] = 0
            c = int(counts[lo:hi].sum())
            if new:
                self._ring[row] = c
            else:
                self._ring[row] += c

    @property
    def counts(self) -> np.ndarray:
        """Spike counts of the complete bins held, oldest first."""
        first, last = self._bins.complete()
        return self._ring[self._bins.rows(first, last)]

    @property
    def t0_ms(self) -> float:
        """Start time of the oldest bin held."""
        first, last = self._bins.complete()
        return float(self._bins.t_ms(first, first + 1, self._dt)[0])

    def rate_hz(self, bin_ms: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(bin start times in ms, population rate in Hz per neuron); ``bin_ms`` (a multiple of
        the monitor's own bin) merges bins."""
        c = self.counts
        base = self._bins.per
        per = 1 if bin_ms is None else max(1, int(round(bin_ms / (self._dt * base))))
        nb = c.size // per
        binned = c[: nb * per].reshape(nb, per).sum(axis=1)
        t = self.t0_ms + np.arange(nb) * per * base * self._dt
        return t, binned / (self._g.size * per * base * self._dt * 1e-3)

    def cv(self, bin_ms: float = 5.0) -> float:
        """Coefficient of variation of the binned population count (synchrony measure)."""
        _, r = self.rate_hz(bin_ms)
        return float(r.std() / max(r.mean(), 1e-12))


class GroupCounts(Monitor):
    """Spike counts of neuron groups of one population per bin, e.g. EMBER's labelled assemblies.

    ``groups``: a mapping label -> neuron indices, or a sequence of index arrays (labels 0..k-1);
    groups may overlap. Counting runs on the backend that holds the spikes (a kernel per step
    with spikes, no copy); the counts live there in a ring of ``max_bins`` bins x groups and come
    to the host only when read. ``new_bins()`` hands an online detector the bins completed since
    its last call; ``add_group`` adds a group while running (its past bins read 0)."""

    def __init__(self, population: str, groups, bin_ms: float = 1000.0, max_bins: int = 10_000):
        self.population = population
        if hasattr(groups, "items"):
            items = list(groups.items())
        else:
            items = list(enumerate(groups))
        self.labels = [k for k, _ in items]
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("GroupCounts: group labels must be distinct")
        self._members = [np.unique(np.asarray(v, dtype=np.int64).ravel()) for _, v in items]
        self.bin_ms = float(bin_ms)
        self.max_bins = _cap(max_bins, "GroupCounts")
        self._sim = None

    def attach(self, sim):
        super().attach(sim)
        self._sim = sim
        self._be = sim.backend
        for lab, m in zip(self.labels, self._members):
            if m.size and (m[0] < 0 or m[-1] >= self._g.size):
                raise IndexError(f"GroupCounts: group {lab!r} has indices outside [0, {self._g.size}) of "
                                 f"{self.population!r}")
        self._bins = _Bins(sim.t, _bin_steps(self.bin_ms, sim.dt_ms, "GroupCounts"), self.max_bins)
        self._ring = self._be.zeros((self.max_bins, max(1, len(self.labels))), np.int64)
        self._zero = np.zeros(self._ring.shape[1], np.int64)
        self._map()
        self._read_upto = 0

    def _map(self):
        n = self._g.size
        owner = np.concatenate([np.full(m.size, j, np.int32) for j, m in enumerate(self._members)]
                               + [np.zeros(0, np.int32)])
        nrn = np.concatenate(self._members + [np.zeros(0, np.int64)])
        order = np.argsort(nrn, kind="stable")
        ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(nrn, minlength=n), out=ptr[1:])
        self._ptr = self._be.asarray(ptr)
        self._grp = self._be.asarray(owner[order].astype(np.int32))

    def add_group(self, label, neurons) -> None:
        if label in self.labels:
            raise ValueError(f"GroupCounts: a group {label!r} exists already")
        m = np.unique(np.asarray(neurons, dtype=np.int64).ravel())
        if self._sim is not None and m.size and (m[0] < 0 or m[-1] >= self._g.size):
            raise IndexError(f"GroupCounts: group {label!r} has indices outside [0, {self._g.size})")
        self.labels.append(label)
        self._members.append(m)
        if self._sim is None:
            return
        k = len(self.labels)
        if k > self._ring.shape[1]:
            old = self._be.to_host(self._ring)
            ring = np.zeros((self.max_bins, k), np.int64)
            ring[:, :old.shape[1]] = old
            self._ring = self._be.asarray(ring)
            self._zero = np.zeros(k, np.int64)
        self._map()

    def record(self, sim):
        row, new = self._bins.at(sim.t)
        for k in self._bins.skipped:      # bins of an advance_idle span: silence
            self._be.write(self._ring[int(k)], self._zero)
        r = self._ring[row]
        if new:
            self._be.write(r, self._zero)
        g = self._g
        if g.n and self.labels:
            self._be.count_groups(r, g.spikes, g.n, self._ptr, self._grp)

    def record_block(self, sim, t0, counts, off, idx):
        for row, new, skipped, lo, hi in self._bins.segments(t0, len(counts)):
            for k in skipped:
                self._be.write(self._ring[int(k)], self._zero)
            r = self._ring[row]
            if new:
                self._be.write(r, self._zero)
            a, b = int(off[lo]), int(off[hi])
            if b > a and self.labels:
                self._be.count_groups(r, idx[a:b], b - a, self._ptr, self._grp)

    def record_device(self, sim, ds, count, slot, t):
        """Step t's counting in a device block (``spiking/backends/cuda_block.py``): the count is
        read on the device, the bin's row is zeroed there."""
        row, new = self._bins.at(t)
        for k in self._bins.skipped:
            ds.zero(self._ring[int(k)])
        r = self._ring[row]
        if new:
            ds.zero(r)
        if self.labels:
            ds.count_groups(r, self._g, count, slot, self._ptr, self._grp)

    @property
    def sizes(self) -> np.ndarray:
        return np.array([m.size for m in self._members], np.int64)

    def _read(self, first, last):
        k = len(self.labels)
        if last <= first:
            return np.zeros(0), np.zeros((0, k), np.int64)
        # copy only the rows asked for: one or two contiguous runs of the ring (it may wrap)
        cap = self._bins.cap
        a, b = first % cap, (last - 1) % cap + 1
        runs = [(a, b)] if a < b else [(a, cap), (0, b)]
        rows = np.concatenate([np.array(self._be.to_host(self._ring[x:y])) for x, y in runs])
        return self._bins.t_ms(first, last, self._dt), rows[:, :k]

    @property
    def counts(self) -> np.ndarray:
        """(bins, groups) spike counts of the complete bins held, oldest first."""
        return self._read(*self._bins.complete())[1]

    @property
    def t_ms(self) -> np.ndarray:
        """Start times of the complete bins held."""
        return self._read(*self._bins.complete())[0]

    def rate_hz(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin start times in ms, (bins, groups) mean rate per neuron of each group in Hz)."""
        t, c = self._read(*self._bins.complete())
        return t, c / (np.maximum(self.sizes, 1) * self._bins.per * self._dt * 1e-3)

    def new_bins(self) -> tuple[np.ndarray, np.ndarray]:
        """(start times, (bins, groups) counts) of the bins completed since the previous call
        (bins that fell out of the ring in between are skipped)."""
        first, last = self._bins.complete()
        first = max(first, self._read_upto)
        self._read_upto = max(self._read_upto, last)
        return self._read(first, last)


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

    t, i = trains.t_ms, trains.indices
    if t.size > max_points:
        keep = np.random.default_rng(0).choice(t.size, max_points, replace=False)
        t, i = t[keep], i[keep]
    fig, ax = _axes(ax, (9, 4.5))
    ax.scatter(t, i, s=0.6, c="k", marker=".", linewidths=0)
    return _finish(fig, ax, path, "time (ms)", "neuron", title or f"{trains.population}: {trains.indices.size} spikes")


def _axes(ax, figsize):
    """(figure we own or None, axes): new axes unless the caller gave some."""
    if ax is not None:
        return None, ax
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=figsize, dpi=110)


def _finish(fig, ax, path, xlabel, ylabel, title):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if fig is not None and path is not None:
        import matplotlib.pyplot as plt
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
    return ax


def rate_plot(rate: PopulationRate, bin_ms: float = 5.0, path=None, ax=None, title: str = ""):
    t, r = rate.rate_hz(bin_ms)
    fig, ax = _axes(ax, (9, 2.5))
    ax.plot(t, r, lw=0.8)
    return _finish(fig, ax, path, "time (ms)", "rate (Hz)", title or f"{rate.population}: population rate, {bin_ms:g} ms bins")
