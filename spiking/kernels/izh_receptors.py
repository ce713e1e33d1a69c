"""Named receptors on an Izhikevich population: the step is three kernels in a row.

1. ``receptor_input``: the synaptic input of this step, summed over the receptors in their
   order, each at the start of the step: a current receptor gives I_r, a conductance gives
   g_r (E_r - v) (g in current units per mV: nS for the 2007 form's pA, dimensionless for the
   2003 form's mV/ms). The sum goes into a work array that plays ``i_syn``.
2. the Izhikevich step itself (``izhikevich.izh_step``, unchanged), which reads that sum as its
   synaptic current: forward Euler (or half steps) with every input held over the step, as
   Brian2's ``euler`` does for these equations.
3. ``receptor_decay``: each receptor decays exactly and takes this step's arrivals (``cur[r]``),
   I_r' = I_r p11_r + cur_r, or with a rise time I_r' = I_r p11_r + rise_gain_r h_r,
   h_r' = h_r rise_decay_r + cur_r (the operation order of the one-receptor kernel).

Each has a numpy twin with the same float32 operations; the CUDA backend has its own launches
(``backends/cuda_backend.py``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .izhikevich import IzhParams, IzhState

F32 = np.float32


class IzhMultiParams(NamedTuple):
    inner: IzhParams         # the Izhikevich step's record (use_syn on, use_rise off)
    r_p11: np.ndarray        # float32[R]: exp(-dt / tau_r)
    r_rise_decay: np.ndarray
    r_rise_gain: np.ndarray
    r_e_rev: np.ndarray      # float32[R] (0 for a current)
    r_cond: np.ndarray       # uint8[R]
    r_rise: np.ndarray       # uint8[R]
    total: np.ndarray        # float32[n] work array: this step's summed input
    zero: np.ndarray         # float32[n] of zeros: the inner step's arrival row (it has none)
    noisy: bool


class IzhMultiState(NamedTuple):
    v: np.ndarray
    u: np.ndarray
    i_syn: np.ndarray        # float32[R, n]
    i_rise: np.ndarray       # float32[R, n] (R, 1 without rise times)
    i_ext: np.ndarray


def izh_multi_records(params: dict, state: dict) -> tuple[IzhMultiParams, IzhMultiState]:
    inner = IzhParams(**{k: params[k] for k in IzhParams._fields if k not in ("noisy", "use_syn", "use_rise")},
                      use_syn=True, use_rise=False, noisy=params["sigma"] > 0.0)
    p = IzhMultiParams(inner=inner, **{k: params[k] for k in IzhMultiParams._fields if k not in ("inner", "noisy")},
                       noisy=inner.noisy)
    s = IzhMultiState(**{k: state[k] for k in IzhMultiState._fields})
    return p, s


def inner_state(s: IzhMultiState, p: IzhMultiParams) -> IzhState:
    """The record the Izhikevich step sees: its i_syn is the summed input."""
    return IzhState(v=s.v, u=s.u, i_syn=p.total, i_rise=p.zero[:1], i_ext=s.i_ext)


@njit(cache=True)
def receptor_input(v, i_syn, r_cond, r_e_rev, out):
    nr, n = i_syn.shape
    for i in range(n):
        out[i] = F32(0.0)
    for r in range(nr):
        row = i_syn[r]
        if r_cond[r]:
            e = r_e_rev[r]
            for i in range(n):
                out[i] = out[i] + row[i] * (e - v[i])
        else:
            for i in range(n):
                out[i] = out[i] + row[i]


def receptor_input_np(v, i_syn, r_cond, r_e_rev, out):
    out[:] = 0.0
    for r in range(i_syn.shape[0]):
        out[:] = out + (i_syn[r] * (r_e_rev[r] - v) if r_cond[r] else i_syn[r])


@njit(cache=True)
def receptor_decay(i_syn, i_rise, cur, r_p11, r_rise, r_rise_decay, r_rise_gain):
    nr, n = i_syn.shape
    for r in range(nr):
        row, crow, c = i_syn[r], cur[r], r_p11[r]
        if r_rise[r]:
            hrow, g, d = i_rise[r], r_rise_gain[r], r_rise_decay[r]
            for i in range(n):
                h = hrow[i]
                row[i] = row[i] * c + g * h
                hrow[i] = h * d + crow[i]
                crow[i] = F32(0.0)
        else:
            for i in range(n):
                row[i] = row[i] * c + crow[i]
                crow[i] = F32(0.0)


def receptor_decay_np(i_syn, i_rise, cur, r_p11, r_rise, r_rise_decay, r_rise_gain):
    for r in range(i_syn.shape[0]):
        if r_rise[r]:
            h = i_rise[r].copy()
            i_syn[r] = i_syn[r] * r_p11[r] + r_rise_gain[r] * h
            i_rise[r] = h * r_rise_decay[r] + cur[r]
        else:
            i_syn[r] = i_syn[r] * r_p11[r] + cur[r]
        cur[r] = 0.0
