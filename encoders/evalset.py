"""The shipped evaluation set: concepts, each with paraphrases in plain English.

``encoders/data/paraphrases.txt`` holds 24 concepts x 10 paraphrases written for this
project. Format: ``[concept-name]`` starts a concept, each following non-empty line is one
paraphrase, lines starting with ``#`` are comments.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import EncoderInputError

__all__ = ["EvalSet", "load_eval_set", "DEFAULT_EVAL_SET"]

DEFAULT_EVAL_SET = Path(__file__).resolve().parent / "data" / "paraphrases.txt"


@dataclass(frozen=True)
class EvalSet:
    concepts: tuple[str, ...]
    texts: tuple[str, ...]
    labels: np.ndarray  # int64 (n_texts,), index into concepts

    @property
    def n_concepts(self) -> int:
        return len(self.concepts)

    def __len__(self) -> int:
        return len(self.texts)


def load_eval_set(path: str | os.PathLike | None = None, min_paraphrases: int = 2) -> EvalSet:
    """Read and check an evaluation set (default: the shipped one).

    Raises EncoderInputError (with the line number) for a paraphrase before any concept, an
    empty or repeated concept name, a repeated paraphrase, a concept with fewer than
    ``min_paraphrases`` paraphrases, fewer than 2 concepts, or a file that is not UTF-8.
    """
    path = Path(path) if path is not None else DEFAULT_EVAL_SET
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncoderInputError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    concepts: list[str] = []
    groups: list[list[str]] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(raw.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip()
            if not name:
                raise EncoderInputError(f"{path}:{lineno}: empty concept name")
            if name in concepts:
                raise EncoderInputError(f"{path}:{lineno}: concept {name!r} appears twice")
            concepts.append(name)
            groups.append([])
            continue
        if not concepts:
            raise EncoderInputError(f"{path}:{lineno}: a paraphrase before the first [concept] line")
        if line in seen:
            raise EncoderInputError(f"{path}:{lineno}: paraphrase repeated from line {seen[line]}: {line!r}")
        seen[line] = lineno
        groups[-1].append(line)
    if len(concepts) < 2:
        raise EncoderInputError(f"{path}: needs at least 2 concepts, found {len(concepts)}")
    for name, g in zip(concepts, groups):
        if len(g) < min_paraphrases:
            raise EncoderInputError(f"{path}: concept {name!r} has {len(g)} paraphrase(s), needs {min_paraphrases}")
    texts = tuple(t for g in groups for t in g)
    labels = np.repeat(np.arange(len(concepts), dtype=np.int64), [len(g) for g in groups])
    labels.setflags(write=False)
    return EvalSet(tuple(concepts), texts, labels)
