"""Backend registry: a backend allocates arrays and offers the kernel table.

Model and engine code call ``backend.<kernel>(...)`` and never branch on a backend's
name.  ``get_backend(name, **options)`` returns a fresh backend instance.
"""
from __future__ import annotations

from typing import Callable

_REGISTRY: dict[str, Callable] = {}


def register(name: str):
    def deco(factory):
        _REGISTRY[name] = factory
        return factory
    return deco


def available() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def _load_all():
    from . import numpy_backend, numba_backend  # noqa: F401
    try:
        from . import cuda_backend  # noqa: F401
    except ImportError:  # numba without a CUDA target
        pass


def get_backend(name: str = "numba", **options):
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}; available: {sorted(_REGISTRY)}")
    return _REGISTRY[name](**options)
