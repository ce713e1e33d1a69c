"""Text -> rates -> spike events in one object, for the agent's conversation loop.

>>> enc = TextToSpikes(SentenceTransformerEmbedder(), ZScoreTopKCode(1024))   # lifts 384 -> 1024
>>> rates = enc.rates(["Hello there."])                 # (1, 5000) Hz
>>> steps, indices = enc.spikes(["Hello there.", "How are you?"], seed=7)   # two windows + gaps
>>> enc.present(sim, "sensory", ["Hello there."], seed=7)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .base import Embedder, EncoderInputError
from .population import PowerLawCode, ZScoreTopKCode
from .projection import OrthogonalProjection
from .spikes import PresentationSchedule, SpikeEvents, present, present_patterns

__all__ = ["TextToSpikes"]


class TextToSpikes:
    """An embedder, a population code and a schedule. When the embedder's dimension differs from
    the code's, embeddings pass through a seeded orthogonal projection (``projection_seed``)."""

    def __init__(self, embedder: Embedder, code: ZScoreTopKCode | PowerLawCode,
                 schedule: PresentationSchedule | None = None, kind: str = "poisson",
                 projection_seed: int = 0) -> None:
        if not isinstance(embedder, Embedder):
            raise EncoderInputError(f"embedder must have name, dim and embed(); got {type(embedder).__name__}")
        if not isinstance(code, (ZScoreTopKCode, PowerLawCode)):
            raise EncoderInputError(f"code must be a ZScoreTopKCode or PowerLawCode, got {type(code).__name__}")
        if kind not in ("poisson", "regular"):
            raise EncoderInputError(f"kind must be 'poisson' or 'regular', got {kind!r}")
        self.embedder = embedder
        self.code = code
        self.schedule = schedule if schedule is not None else PresentationSchedule()
        self.kind = kind
        self.projection = None if embedder.dim == code.dim else OrthogonalProjection(embedder.dim, code.dim, projection_seed)

    @property
    def n_neurons(self) -> int:
        return self.code.n_neurons

    def embed(self, texts: str | bytes | Sequence[str | bytes]) -> np.ndarray:
        """Embeddings in the code's dimension (lifted or lowered when needed), float32 (n, D)."""
        e = self.embedder.embed(texts)
        return e if self.projection is None else self.projection(e)

    def rates(self, texts: str | bytes | Sequence[str | bytes]) -> np.ndarray:
        """Rates in Hz, (n_texts, N)."""
        return self.code.encode(self.embed(texts))

    def spikes(self, texts: str | bytes | Sequence[str | bytes], seed: int = 0, start_step: int = 0) -> SpikeEvents:
        """Spike events for the texts shown one after another on the schedule."""
        return present_patterns(self.rates(texts), self.schedule, seed=seed, kind=self.kind, start_step=start_step)

    def schedule_for(self, dt_ms: float) -> PresentationSchedule:
        """The schedule on a simulator's grid: the same windows and gaps in ms at ``dt_ms`` (an
        error names dt when a window or gap is not a whole number of its steps)."""
        if float(dt_ms) == float(self.schedule.dt_ms):
            return self.schedule
        return replace(self.schedule, dt_ms=float(dt_ms))

    def present(self, sim, population_name: str, texts: str | bytes | Sequence[str | bytes], seed: int = 0) -> int:
        """Inject the texts' spikes into ``population_name`` from the engine's current step on
        (``sim.t``), on the simulator's own time step (a 100 ms window lasts 100 ms at any dt);
        returns how many steps the presentation lasts (windows and gaps), i.e. how long to run
        the simulator to deliver all of it."""
        r = self.rates(texts)
        sched = self.schedule_for(getattr(sim, "dt_ms", self.schedule.dt_ms))
        ev = present_patterns(r, sched, seed=seed, kind=self.kind)
        present(sim, population_name, *ev, dt_ms=sched.dt_ms)
        return sched.total_steps(r.shape[0])
