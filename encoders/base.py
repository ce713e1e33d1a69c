"""The text-embedder protocol and the input checks every embedder and code shares.

An *embedder* turns text into unit-norm float32 vectors of a fixed dimension ``dim``. Two
are shipped: :class:`encoders.hashing.HashingEmbedder` (deterministic, dependency-free, for
tests) and :class:`encoders.st.SentenceTransformerEmbedder` (a real model, offline).

Bad input never reaches numpy or torch: :func:`check_texts` and :func:`check_embeddings`
reject it first with an :class:`EncoderInputError` (a ``ValueError``) that names the problem
and the offending item.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import warnings

import numpy as np

__all__ = [
    "Embedder",
    "EncoderInputError",
    "check_texts",
    "check_embeddings",
    "decode_text",
    "input_ndim",
    "check_window",
]


class EncoderInputError(ValueError):
    """Input that an embedder or population code cannot use; the message names the problem."""


@runtime_checkable
class Embedder(Protocol):
    """Anything that maps text to unit-norm vectors of one fixed dimension.

    ``embed`` takes one text or a sequence of texts (``str``, or ``bytes`` holding UTF-8)
    and returns a float32 array of shape ``(n_texts, dim)`` whose rows have unit L2 norm.
    Empty or whitespace-only texts and bytes that are not UTF-8 raise
    :class:`EncoderInputError`.
    """

    name: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: str | bytes | Sequence[str | bytes]) -> np.ndarray: ...


def decode_text(text: object, index: int = 0) -> str:
    """Return ``text`` as ``str``: ``bytes`` are decoded as strict UTF-8.

    Raises :class:`EncoderInputError` for bytes that are not UTF-8 (naming the byte offset),
    for anything that is neither ``str`` nor ``bytes``, and for empty or whitespace-only text.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        try:
            text = raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise EncoderInputError(
                f"text #{index} is bytes that are not valid UTF-8 (byte {exc.start}: "
                f"{raw[exc.start:exc.start + 4]!r}); decode it yourself or pass str"
            ) from None
    elif not isinstance(text, str):
        raise EncoderInputError(
            f"text #{index} has type {type(text).__name__}; expected str or UTF-8 bytes"
        )
    if not text.strip():
        raise EncoderInputError(f"text #{index} is empty or whitespace only ({text!r})")
    return text


def check_texts(texts: str | bytes | Sequence[str | bytes]) -> list[str]:
    """Normalise one text or a sequence of texts to a non-empty ``list[str]``."""
    if isinstance(texts, (str, bytes, bytearray, memoryview)):
        return [decode_text(texts, 0)]
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    if not isinstance(texts, Sequence):
        raise EncoderInputError(
            f"texts must be a str, UTF-8 bytes or a sequence of them, not {type(texts).__name__}"
        )
    if len(texts) == 0:
        raise EncoderInputError("no texts given (an empty sequence)")
    return [decode_text(t, i) for i, t in enumerate(texts)]


def check_embeddings(x: object, dim: int | None = None, *, what: str = "embedding") -> np.ndarray:
    """Validate embeddings and return them as a C-contiguous float64 array of shape (n, D).

    A 1-D input is one embedding (returned as shape (1, D)). Rejected, each with a message
    naming the rows at fault: non-numeric dtypes, more than 2 dimensions, zero-length
    vectors, NaN or infinite entries, all-zero rows (no direction), and a dimension other
    than ``dim`` when ``dim`` is given.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise EncoderInputError(f"{what} could not be read as an array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise EncoderInputError(f"{what} must be numeric, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise EncoderInputError(f"{what} must be real-valued, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[None, :]
    elif arr.ndim != 2:
        raise EncoderInputError(
            f"{what} must be a vector (D,) or a batch (n, D); got an array of shape {arr.shape}"
        )
    n, d = arr.shape
    if d == 0:
        raise EncoderInputError(f"{what} has dimension 0")
    if dim is not None and d != dim:
        raise EncoderInputError(
            f"{what} has dimension {d}, but this encoder was built for D = {dim}; "
            f"project it first (encoders.projection.OrthogonalProjection) or build an encoder for D = {d}"
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if n == 0:
        return arr
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        kinds = []
        if np.isnan(arr[bad]).any():
            kinds.append("NaN")
        if np.isinf(arr[bad]).any():
            kinds.append("inf")
        raise EncoderInputError(
            f"{what} contains {' and '.join(kinds)} in row(s) {_rows(bad)}"
        )
    zero = ~np.any(arr != 0.0, axis=1)
    if zero.any():
        raise EncoderInputError(
            f"{what} is all zeros in row(s) {_rows(np.flatnonzero(zero))}: a zero vector has no direction"
        )
    return arr


def input_ndim(x: object, what: str = "embedding") -> int:
    """``np.ndim(x)``, but ragged nested lists raise EncoderInputError instead of numpy's ValueError."""
    try:
        return int(np.ndim(x))
    except Exception as exc:
        raise EncoderInputError(f"{what} could not be read as an array: {exc}") from None


def _rows(idx: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:limit])
    return shown + (f", ... ({len(idx)} rows)" if len(idx) > limit else "")


def check_window(name: str, items: Sequence[str], lengths: Sequence[int], window: int, unit: str,
                 on_overflow: str, lenient: str, fate: str, warning: type[Warning]) -> None:
    """Handle texts longer than a model's window: raise (``on_overflow="error"``) or warn.

    ``lenient`` is the ``on_overflow`` value that accepts long texts silently (named in the
    error), ``fate`` says what happens to a long text (in the warning). Nothing happens when
    every text fits.
    """
    over = [(i, n) for i, n in enumerate(lengths) if n > window]
    if not over:
        return
    i, n = over[0]
    msg = (f"{len(over)} text(s) exceed {name}'s window of {window} {unit} "
           f"(text #{i}: {n} {unit}, starting {items[i][:40]!r})")
    if on_overflow == "error":
        raise EncoderInputError(msg + f"; shorten or split them, or use on_overflow={lenient!r}")
    warnings.warn(msg + "; " + fate, warning, stacklevel=3)


def make_embedder(kind: str):
    """The packaged embedder named ``kind``: ``minilm`` (all-MiniLM-L6-v2, offline; torch loads on
    first use) or ``hashing`` (deterministic, no dependencies)."""
    if kind == "hashing":
        from .hashing import HashingEmbedder
        return HashingEmbedder()
    if kind == "minilm":
        from .st import SentenceTransformerEmbedder
        return SentenceTransformerEmbedder()
    raise ValueError(f"unknown embedder {kind!r}; choose 'minilm' or 'hashing'")
