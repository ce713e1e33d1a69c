"""A deterministic hashing embedder: fast, dependency-free and the same on every machine.

Features are lower-cased word unigrams, word bigrams and character trigrams of each word
(with boundary marks). Each feature is hashed with keyed BLAKE2b (the key is the seed, so
Python's randomised ``hash`` plays no part) to one of ``dim`` buckets and a sign; the signed
counts are L2-normalised. Texts that share words get similar vectors, which is all that tests
and quick runs need; it is not a semantic model.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .base import EncoderInputError, check_texts

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class HashingEmbedder:
    """Signed feature hashing of words, word pairs and character trigrams.

    dim: output dimension (>= 8). seed: selects the hash key (any int >= 0).
    word_weight / bigram_weight / trigram_weight: feature weights (>= 0, not all zero).
    """

    dim: int = 384
    seed: int = 0
    word_weight: float = 1.0
    bigram_weight: float = 0.5
    trigram_weight: float = 0.3

    def __post_init__(self) -> None:
        if not isinstance(self.dim, (int, np.integer)) or isinstance(self.dim, bool) or self.dim < 8:
            raise EncoderInputError(f"dim must be an int >= 8, got {self.dim!r}")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or self.seed < 0:
            raise EncoderInputError(f"seed must be an int >= 0, got {self.seed!r}")
        weights = (self.word_weight, self.bigram_weight, self.trigram_weight)
        if any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) == 0:
            raise EncoderInputError(f"feature weights must be finite, >= 0 and not all 0, got {weights}")

    @property
    def name(self) -> str:
        return f"hashing-{self.dim}-s{self.seed}"

    def _key(self) -> bytes:
        return int(self.seed).to_bytes(16, "little")

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = _WORD.findall(text.lower())
        feats: list[tuple[str, float]] = []
        feats += [("w:" + w, self.word_weight) for w in words]
        feats += [("b:" + a + " " + b, self.bigram_weight) for a, b in zip(words, words[1:])]
        for w in words:
            padded = f"<{w}>"
            feats += [("c:" + padded[i:i + 3], self.trigram_weight) for i in range(len(padded) - 2)]
        return feats

    def embed(self, texts: str | bytes | Sequence[str | bytes]) -> np.ndarray:
        """Embed one text or a sequence of texts; returns float32 (n, dim) with unit rows.

        A text with no letters or digits at all (only punctuation, say) has no features and
        raises :class:`EncoderInputError`.
        """
        items = check_texts(texts)
        out = np.zeros((len(items), self.dim), dtype=np.float64)
        key = self._key()
        for row, text in enumerate(items):
            feats = [(f, w) for f, w in self._features(text) if w > 0]
            if not feats:
                raise EncoderInputError(
                    f"text #{row} ({text[:40]!r}) has no words or digits, so the hashing embedder "
                    "cannot embed it"
                )
            for feat, weight in feats:
                h = hashlib.blake2b(feat.encode("utf-8"), digest_size=8, key=key).digest()
                v = int.from_bytes(h, "little")
                out[row, v % self.dim] += weight if (v >> 63) & 1 else -weight
            norm = np.linalg.norm(out[row])
            if norm == 0.0:  # all features cancelled; fall back to one fixed bucket
                out[row, 0] = 1.0
                norm = 1.0
            out[row] /= norm
        return out.astype(np.float32)
