"""Discrimination and retention (EMBER spec section 4, working definition).

Disc(X) = mean cosine between different items of the same concept
          - mean cosine between items of different concepts,
Retention = Disc(rate vectors) / Disc(raw embeddings).

Every unordered pair counts once (the means are over pairs, not over per-concept means).
Also: leave-one-out nearest-centroid accuracy (cosine to each concept's centroid, the item
itself left out of its own centroid) and its ratio, the spec's alternative metric.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import EncoderInputError

__all__ = ["Discrimination", "discrimination", "retention", "nearest_centroid_accuracy"]


@dataclass(frozen=True)
class Discrimination:
    within: float  # mean cosine, same concept, different items
    between: float  # mean cosine, different concepts

    @property
    def disc(self) -> float:
        return self.within - self.between


def _unit_rows(x: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(x, dtype=np.float64)
    lab = np.asarray(labels)
    if arr.ndim != 2 or lab.ndim != 1 or arr.shape[0] != lab.shape[0]:
        raise EncoderInputError(f"need X of shape (n, d) and n labels, got {arr.shape} and {lab.shape}")
    if not np.isfinite(arr).all():
        raise EncoderInputError("X contains NaN or inf")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if (norms == 0).any():
        raise EncoderInputError(f"X has all-zero row(s) {np.flatnonzero(norms[:, 0] == 0)[:8].tolist()}; cosine undefined")
    if np.unique(lab).size < 2:
        raise EncoderInputError("need at least 2 concepts")
    return arr / norms, lab


def discrimination(x: object, labels: object) -> Discrimination:
    u, lab = _unit_rows(x, labels)
    c = u @ u.T
    same = lab[:, None] == lab[None, :]
    iu = np.triu_indices(len(lab), k=1)
    pairs_same = same[iu]
    if not pairs_same.any():
        raise EncoderInputError("no concept has two items; within-concept similarity undefined")
    vals = c[iu]
    return Discrimination(float(vals[pairs_same].mean()), float(vals[~pairs_same].mean()))


def retention(codes: object, embeddings: object, labels: object) -> float:
    """Disc(codes) / Disc(embeddings) over the same items and labels."""
    d_raw = discrimination(embeddings, labels).disc
    if not d_raw > 0:
        raise EncoderInputError(f"the raw embeddings do not discriminate the concepts (Disc = {d_raw:.4f})")
    return discrimination(codes, labels).disc / d_raw


def nearest_centroid_accuracy(x: object, labels: object) -> float:
    """Leave-one-out nearest-centroid accuracy with cosine similarity."""
    u, lab = _unit_rows(x, labels)
    classes, inv = np.unique(lab, return_inverse=True)
    counts = np.bincount(inv).astype(np.float64)
    if (counts < 2).any():
        raise EncoderInputError("every concept needs at least 2 items for leave-one-out")
    sums = np.zeros((classes.size, u.shape[1]))
    np.add.at(sums, inv, u)
    correct = 0
    for i in range(u.shape[0]):
        cents = sums.copy()
        cents[inv[i]] -= u[i]
        cents /= np.linalg.norm(cents, axis=1, keepdims=True) + 1e-300
        correct += int(np.argmax(cents @ u[i]) == inv[i])
    return correct / u.shape[0]
