"""Test configuration shared by the whole suite.

The CUDA kernels are tested on every machine through numba's CUDA simulator; the
variable must be set before numba is first imported, and ``setdefault`` lets a machine
with a real GPU override it (``NUMBA_ENABLE_CUDASIM=0 pytest -m gpu``).
"""
import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
