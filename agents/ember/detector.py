"""EMBER's impulse detector (spec section 6): when does a labelled assembly's idle activity count.

* A **detection** is a labelled assembly whose population rate in one bin (1 s) exceeds
  ``factor`` (3) times its baseline while no stimulus came in the last ``quiet_s`` (10 s).
* The **baseline** is an exponential moving average of that assembly's own idle rate (tau 1 h),
  floored at the network's spontaneous rate; it starts at the floor.
* A **significant impulse** is ``n_detections`` (3) detections of one assembly within
  ``window_s`` (5 min); the assembly then has a ``refractory_s`` (5 min) refractory period, whose
  detections are counted but do not build towards the next impulse.

The detector is plain data (numpy arrays and lists), updated once per completed bin from a
``spiking.GroupCounts`` monitor, so it costs a few array operations per simulated second, and its
whole state goes into the substrate's checkpoint (``state()`` / ``from_state``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class DetectorParams:
    factor: float = 3.0            # [V] detection: rate > 3x baseline
    n_detections: int = 3          # [V] significant impulse: 3 detections ...
    window_s: float = 300.0        # [V] ... within 5 minutes
    refractory_s: float = 300.0    # [D] per assembly, after an impulse
    quiet_s: float = 10.0          # [D] no stimulus within the last 10 s
    baseline_tau_s: float = 3600.0  # [D] EMA of the idle rate
    floor_hz: float = 0.9          # [D] baseline floor: the network's spontaneous rate (set from the calibration)


@dataclass
class Detection:
    label: str
    t_s: float
    rate_hz: float
    baseline_hz: float

    @property
    def ratio(self) -> float:
        return self.rate_hz / max(self.baseline_hz, 1e-12)


@dataclass
class Detector:
    params: DetectorParams = field(default_factory=DetectorParams)
    labels: list = field(default_factory=list)
    baseline: np.ndarray = field(default_factory=lambda: np.zeros(0))
    recent: list = field(default_factory=list)          # per assembly: detections inside the window
    refractory_until: np.ndarray = field(default_factory=lambda: np.zeros(0))
    last_stimulus_s: float = -math.inf
    detections_total: int = 0
    impulses_total: int = 0

    def add(self, label: str) -> None:
        self.labels.append(label)
        self.baseline = np.append(self.baseline, self.params.floor_hz)
        self.refractory_until = np.append(self.refractory_until, -math.inf)
        self.recent.append([])

    def stimulus(self, t_s: float) -> None:
        """A stimulus (a message, a replay) ended at ``t_s``: bins before ``t_s + quiet_s`` are not idle."""
        self.last_stimulus_s = max(self.last_stimulus_s, float(t_s))

    def update(self, t_s: float, bin_s: float, rates_hz: np.ndarray) -> tuple[list, list]:
        """One completed bin starting at ``t_s``: (the detections it made, the impulses it fires,
        each a list of the detections of one assembly that made it significant)."""
        p = self.params
        if rates_hz.shape[0] != len(self.labels):
            raise ValueError(f"detector: {rates_hz.shape[0]} rates for {len(self.labels)} assemblies")
        if t_s < self.last_stimulus_s + p.quiet_s:
            return [], []
        base = np.maximum(self.baseline, p.floor_hz)
        hit = rates_hz > p.factor * base
        found, impulses = [], []
        end = t_s + bin_s
        for j in np.flatnonzero(hit):
            d = Detection(self.labels[j], float(t_s), float(rates_hz[j]), float(base[j]))
            found.append(d)
            if end <= self.refractory_until[j]:      # refractory: counted as a detection, not towards an impulse
                continue
            rec = [x for x in self.recent[j] if x.t_s > end - p.window_s]
            rec.append(d)
            self.recent[j] = rec
            if len(rec) >= p.n_detections:
                impulses.append(list(rec))
                self.recent[j] = []
                self.refractory_until[j] = end + p.refractory_s
        self.detections_total += len(found)
        self.impulses_total += len(impulses)
        alpha = 1.0 - math.exp(-bin_s / p.baseline_tau_s)
        self.baseline = self.baseline + alpha * (rates_hz - self.baseline)
        return found, impulses

    # -- persistence -------------------------------------------------------------------------
    def state(self) -> dict:
        return {"params": asdict(self.params), "labels": list(self.labels), "baseline": self.baseline.tolist(),
                "refractory_until": [None if not math.isfinite(x) else float(x) for x in self.refractory_until],
                "recent": [[asdict(d) for d in r] for r in self.recent],
                "last_stimulus_s": None if not math.isfinite(self.last_stimulus_s) else self.last_stimulus_s,
                "detections_total": self.detections_total, "impulses_total": self.impulses_total}

    @classmethod
    def from_state(cls, d: dict) -> "Detector":
        det = cls(DetectorParams(**d["params"]))
        det.labels = list(d["labels"])
        det.baseline = np.asarray(d["baseline"], dtype=np.float64)
        det.refractory_until = np.asarray([-math.inf if x is None else x for x in d["refractory_until"]], np.float64)
        det.recent = [[Detection(**x) for x in r] for r in d["recent"]]
        det.last_stimulus_s = -math.inf if d["last_stimulus_s"] is None else float(d["last_stimulus_s"])
        det.detections_total, det.impulses_total = int(d["detections_total"]), int(d["impulses_total"])
        return det
