"""Spike trains from rate patterns, presentation schedules, and delivery to the engine.

Everything here works on the simulator's time grid (``dt_ms`` per step) and returns spike
*events* as two arrays: ``steps`` (int64, sorted ascending) and ``indices`` (int32; within one
step sorted ascending). :class:`SpikeEvents` is a ``NamedTuple`` of the two, so
``steps, indices = poisson_train(...)`` works.

* :func:`poisson_train`: on a grid, each neuron spikes in each step independently with
  probability rate * dt (a Bernoulli process, the discrete-time Poisson process); this needs
  rate * dt <= 1, i.e. rate <= 1000 / dt_ms Hz.
* :func:`regular_train`: one spike every 1000 / rate ms, with a per-neuron phase that is either
  0 or drawn uniformly from [0, period) by the seed.
* :class:`PresentationSchedule` and :func:`present_patterns`: a sequence of patterns, each shown
  for ``window_ms`` and followed by ``gap_ms`` of silence (spec defaults 100 ms and 50 ms).
* :func:`present`: hands events to an engine with ``sim.inject_spikes(population, indices,
  at_step=...)``, one call per step that has spikes.

Seeds: pattern m of a presentation uses the stream SeedSequence((tag, seed, m)), so a
pattern's spikes do not depend on the patterns before it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from .base import EncoderInputError

__all__ = [
    "SpikeEvents",
    "PresentationSchedule",
    "poisson_train",
    "regular_train",
    "present_patterns",
    "present",
    "check_events",
    "spike_counts",
    "to_spike_generator",
]

_TAG = 0x5350494B  # "SPIK"


class SpikeEvents(NamedTuple):
    """Spike events: ``steps`` int64 sorted ascending, ``indices`` int32 (same length)."""

    steps: np.ndarray
    indices: np.ndarray

    @property
    def n_spikes(self) -> int:
        return int(self.steps.shape[0])

    def shifted(self, offset_steps: int) -> "SpikeEvents":
        return SpikeEvents(self.steps + np.int64(offset_steps), self.indices)


def _empty() -> SpikeEvents:
    return SpikeEvents(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32))


def _check_positive_ms(value: object, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise EncoderInputError(f"{name} must be a number of milliseconds, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise EncoderInputError(f"{name} must be finite and {'>=' if allow_zero else '>'} 0 ms, got {value!r}")
    return v


def _steps_of(duration_ms: float, dt_ms: float, name: str) -> int:
    n = duration_ms / dt_ms
    r = round(n)
    if abs(n - r) > 1e-9 * max(1.0, abs(n)):
        raise EncoderInputError(f"{name} = {duration_ms} ms is not a whole number of steps of dt = {dt_ms} ms")
    return int(r)


@dataclass(frozen=True)
class PresentationSchedule:
    """How patterns are shown: each for ``window_ms``, then ``gap_ms`` of silence, on a grid of
    ``dt_ms``. Both durations must be whole numbers of steps."""

    window_ms: float = 100.0
    gap_ms: float = 50.0
    dt_ms: float = 1.0

    def __post_init__(self) -> None:
        dt = _check_positive_ms(self.dt_ms, "dt_ms")
        w = _check_positive_ms(self.window_ms, "window_ms")
        g = _check_positive_ms(self.gap_ms, "gap_ms", allow_zero=True)
        _steps_of(w, dt, "window_ms")
        _steps_of(g, dt, "gap_ms")

    @property
    def window_steps(self) -> int:
        return _steps_of(float(self.window_ms), float(self.dt_ms), "window_ms")

    @property
    def gap_steps(self) -> int:
        return _steps_of(float(self.gap_ms), float(self.dt_ms), "gap_ms")

    @property
    def period_steps(self) -> int:
        return self.window_steps + self.gap_steps

    def window_of(self, m: int) -> tuple[int, int]:
        """[first, last + 1) steps of pattern m's window, relative to the presentation start."""
        start = m * self.period_steps
        return start, start + self.window_steps

    def total_steps(self, n_patterns: int) -> int:
        return n_patterns * self.period_steps


def _check_rates(rates: object, dt_ms: float) -> np.ndarray:
    try:
        r = np.asarray(rates)
    except Exception as exc:
        raise EncoderInputError(f"rates could not be read as an array: {exc}") from None
    if r.dtype == object or not (np.issubdtype(r.dtype, np.number) or r.dtype == bool) or np.iscomplexobj(r):
        raise EncoderInputError(f"rates must be real numbers in Hz, got dtype {r.dtype}")
    if r.ndim != 1:
        raise EncoderInputError(f"rates must be a 1-D array (one rate per neuron), got shape {r.shape}")
    r = r.astype(np.float64)
    if not np.isfinite(r).all():
        raise EncoderInputError(f"rates contain NaN or inf at neuron(s) {np.flatnonzero(~np.isfinite(r))[:8].tolist()}")
    if (r < 0).any():
        raise EncoderInputError(f"rates must be >= 0 Hz; negative at neuron(s) {np.flatnonzero(r < 0)[:8].tolist()}")
    limit = 1000.0 / dt_ms
    if (r > limit).any():
        raise EncoderInputError(
            f"rate {r.max():g} Hz exceeds 1000 / dt = {limit:g} Hz: at most one spike per step of {dt_ms} ms"
        )
    if r.shape[0] > np.iinfo(np.int32).max:
        raise EncoderInputError("more neurons than int32 indices can address")
    return r


def _check_n_steps(n_steps: object) -> int:
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
        raise EncoderInputError(f"n_steps must be an int >= 0, got {n_steps!r}")
    return int(n_steps)


def _rng(seed: object, *extra: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise EncoderInputError(f"seed must be an int >= 0, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence([_TAG, int(seed), *extra]))


def _poisson(r: np.ndarray, n_steps: int, dt_ms: float, rng: np.random.Generator) -> SpikeEvents:
    active = np.flatnonzero(r > 0)
    if active.size == 0 or n_steps == 0:
        return _empty()
    p = r[active] * (dt_ms / 1000.0)
    fired = rng.random((n_steps, active.size)) < p  # row-major: steps, then neuron order
    step, col = np.nonzero(fired)
    return SpikeEvents(step.astype(np.int64), active[col].astype(np.int32))


def _regular(r: np.ndarray, n_steps: int, dt_ms: float, rng: np.random.Generator | None) -> SpikeEvents:
    active = np.flatnonzero(r > 0)
    if active.size == 0 or n_steps == 0:
        return _empty()
    period = 1000.0 / r[active]  # ms, >= dt_ms
    phase = np.zeros_like(period) if rng is None else rng.random(active.size) * period
    duration = n_steps * dt_ms
    count = np.maximum(0, np.ceil((duration - phase) / period).astype(np.int64))
    total = int(count.sum())
    if total == 0:
        return _empty()
    owner = np.repeat(np.arange(active.size), count)
    first = np.cumsum(count) - count
    nth = np.arange(total) - np.repeat(first, count)
    t = phase[owner] + nth * period[owner]
    step = np.floor(t / dt_ms).astype(np.int64)
    keep = step < n_steps  # guards the ceil against rounding at the window end
    step, idx = step[keep], active[owner[keep]].astype(np.int32)
    order = np.lexsort((idx, step))
    return SpikeEvents(step[order], idx[order])


def poisson_train(rates_hz: object, n_steps: int, dt_ms: float = 1.0, seed: int = 0,
                  start_step: int = 0) -> SpikeEvents:
    """Bernoulli-per-step (grid Poisson) spikes of neurons with the given rates for ``n_steps``
    steps; event steps are offset by ``start_step``."""
    dt = _check_positive_ms(dt_ms, "dt_ms")
    r = _check_rates(rates_hz, dt)
    ev = _poisson(r, _check_n_steps(n_steps), dt, _rng(seed))
    return ev.shifted(int(start_step)) if start_step else ev


def regular_train(rates_hz: object, n_steps: int, dt_ms: float = 1.0, seed: int | None = 0,
                  start_step: int = 0) -> SpikeEvents:
    """Regular spikes, one every 1000 / rate ms; the phase of each neuron is uniform in
    [0, period) drawn from ``seed``, or 0 for every neuron when ``seed`` is None."""
    dt = _check_positive_ms(dt_ms, "dt_ms")
    r = _check_rates(rates_hz, dt)
    ev = _regular(r, _check_n_steps(n_steps), dt, None if seed is None else _rng(seed))
    return ev.shifted(int(start_step)) if start_step else ev


def present_patterns(patterns: object, schedule: PresentationSchedule | None = None, seed: int = 0,
                     kind: str = "poisson", start_step: int = 0) -> SpikeEvents:
    """Spike events for a sequence of rate patterns shown one after another.

    patterns: (m, N) rates in Hz (or one pattern (N,)). Pattern j spikes only inside steps
    [start + j * period, start + j * period + window); the gap after it is silent.
    kind: "poisson" or "regular".
    """
    schedule = schedule if schedule is not None else PresentationSchedule()
    if not isinstance(schedule, PresentationSchedule):
        raise EncoderInputError(f"schedule must be a PresentationSchedule, got {type(schedule).__name__}")
    if kind not in ("poisson", "regular"):
        raise EncoderInputError(f"kind must be 'poisson' or 'regular', got {kind!r}")
    try:
        arr = np.asarray(patterns, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EncoderInputError(f"patterns could not be read as an array of rates: {exc}") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise EncoderInputError(f"patterns must be (n_patterns, n_neurons) rates, got shape {arr.shape}")
    if isinstance(start_step, bool) or not isinstance(start_step, (int, np.integer)) or start_step < 0:
        raise EncoderInputError(f"start_step must be an int >= 0, got {start_step!r}")
    dt = float(schedule.dt_ms)
    parts_s, parts_i = [], []
    for j in range(arr.shape[0]):
        r = _check_rates(arr[j], dt)
        rng = _rng(seed, j)
        ev = _poisson(r, schedule.window_steps, dt, rng) if kind == "poisson" else \
            _regular(r, schedule.window_steps, dt, rng)
        parts_s.append(ev.steps + np.int64(start_step + j * schedule.period_steps))
        parts_i.append(ev.indices)
    if not parts_s:
        return _empty()
    return SpikeEvents(np.concatenate(parts_s).astype(np.int64, copy=False),
                       np.concatenate(parts_i).astype(np.int32, copy=False))


def check_events(steps: object, indices: object, n_neurons: int | None = None) -> SpikeEvents:
    """Validate (steps, indices): 1-D, equal length, integer, steps >= 0 and sorted, indices
    >= 0 (and < n_neurons when given). Returns them as int64 / int32 arrays."""
    try:
        s = np.asarray(steps)
        i = np.asarray(indices)
    except (TypeError, ValueError) as exc:
        raise EncoderInputError(f"steps and indices could not be read as arrays: {exc}") from None
    if s.ndim != 1 or i.ndim != 1 or s.shape != i.shape:
        raise EncoderInputError(f"steps and indices must be 1-D and of equal length, got {s.shape} and {i.shape}")
    if s.size and not (np.issubdtype(s.dtype, np.integer) and np.issubdtype(i.dtype, np.integer)):
        raise EncoderInputError(f"steps and indices must be integers, got {s.dtype} and {i.dtype}")
    if s.size:
        if s.min() < 0:
            raise EncoderInputError("steps must be >= 0")
        if np.any(np.diff(s) < 0):
            raise EncoderInputError("steps must be sorted ascending")
        if i.min() < 0 or (n_neurons is not None and i.max() >= n_neurons):
            raise EncoderInputError(
                f"neuron indices must lie in [0, {n_neurons if n_neurons is not None else 'N'}), "
                f"got min {int(i.min())}, max {int(i.max())}"
            )
    return SpikeEvents(s.astype(np.int64, copy=False), i.astype(np.int32, copy=False))


def spike_counts(events: SpikeEvents, n_neurons: int, step_range: tuple[int, int] | None = None) -> np.ndarray:
    """Spikes per neuron (int64, length n_neurons), optionally within steps [a, b)."""
    s, i = check_events(events[0], events[1], n_neurons)
    if step_range is not None:
        a, b = step_range
        lo, hi = np.searchsorted(s, a, "left"), np.searchsorted(s, b, "left")
        i = i[lo:hi]
    return np.bincount(i, minlength=n_neurons).astype(np.int64)


class SpikeInjector(Protocol):
    def inject_spikes(self, population_name: str, neuron_indices: np.ndarray,
                      at_step: int | None = None) -> Any: ...


def present(sim: SpikeInjector, population_name: str, steps: object, indices: object,
            start_step: int | None = None, dt_ms: float | None = None) -> int:
    """Schedule events on an engine: one ``sim.inject_spikes(population_name, idx, at_step=s)``
    call per distinct step ``s`` of ``steps``, shifted by ``start_step`` (default: the
    engine's current step ``sim.t``, or 0 if it has none), in ascending order. The injected
    neurons count as having spiked at that step. Returns the number of calls made; run the
    simulator afterwards for at least ``steps[-1] + 1`` steps to deliver them all.

    ``dt_ms``: the time step the events were made on (a schedule's ``dt_ms``); when given and
    the engine has a different ``dt_ms``, the call is refused, since every window would last
    a different time than it says."""
    if not hasattr(sim, "inject_spikes"):
        raise EncoderInputError(f"{type(sim).__name__} has no inject_spikes(population_name, indices, at_step)")
    if not isinstance(population_name, str) or not population_name:
        raise EncoderInputError(f"population_name must be a non-empty str, got {population_name!r}")
    sim_dt = getattr(sim, "dt_ms", None)
    if dt_ms is not None and sim_dt is not None and abs(float(sim_dt) - float(dt_ms)) > 1e-12 * float(dt_ms):
        raise EncoderInputError(f"events made on a grid of dt = {float(dt_ms):g} ms cannot be presented to a simulator "
                                f"with dt = {float(sim_dt):g} ms: make them with the simulator's dt_ms")
    if start_step is None:
        start_step = int(getattr(sim, "t", 0))
    if isinstance(start_step, bool) or not isinstance(start_step, (int, np.integer)) or start_step < 0:
        raise EncoderInputError(f"start_step must be an int >= 0, got {start_step!r}")
    s, i = check_events(steps, indices)
    if s.size == 0:
        return 0
    bounds = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate(([0], bounds))
    stops = np.concatenate((bounds, [s.size]))
    for a, b in zip(starts, stops):
        sim.inject_spikes(population_name, i[a:b], at_step=int(s[a]) + int(start_step))
    return int(starts.size)


def to_spike_generator(name: str, n_neurons: int, steps: object, indices: object, dt_ms: float = 1.0):
    """The same events as a ``spiking.SpikeGenerator`` source population (times = step * dt_ms).

    Imports ``spiking`` only when called."""
    from spiking import SpikeGenerator

    dt = _check_positive_ms(dt_ms, "dt_ms")
    s, i = check_events(steps, indices, n_neurons)
    return SpikeGenerator(name, int(n_neurons), times_ms=tuple((s * dt).tolist()), indices=tuple(i.tolist()))
