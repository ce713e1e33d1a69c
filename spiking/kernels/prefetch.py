"""A software prefetch hint for the CPU kernels: ``prefetch(a, i)`` asks the cache for the line
of ``a[i]`` and changes no value (``llvm.prefetch``: a write hint, kept in every cache level).

A step's spikes visit rows of a CSR projection that lie anywhere in memory: for each spike a row
pointer, then that row's targets (and weights). With short rows those are cache misses one after
the other. The projection kernels pipeline them across the step's spikes: while spike k's row
is delivered, the row pointers of spike k + ``PTR_AHEAD`` and the rows of spike k + ``ROW_AHEAD``
are already on their way. Measured on a projection of 150,000 cells with 17 targets each, 130
spikes, caches cold (docs/engine.md, "Prefetching the rows"): 39 us -> 15 us.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, register_jitable

PTR_AHEAD = 4
ROW_AHEAD = 2


@intrinsic
def prefetch(typingctx, arr, idx):
    """Prefetch the line holding ``arr[idx]`` (a 1-D array, an index within it; no bounds check:
    a prefetch of any address is harmless, but callers stay in bounds)."""
    if not isinstance(arr, types.Array) or arr.ndim != 1 or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False,
                                       boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        # the unsuffixed name: LLVM upgrades it to the overloaded intrinsic of its version
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch")
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@register_jitable
def prefetch_rows(spikes, n_spikes, k, indptr, a, b):
    """Before spike k's row: the row pointer of spike k + PTR_AHEAD, and the start of rows ``a``
    and ``b`` (two arrays indexed by synapse: targets, weights) of spike k + ROW_AHEAD (those
    that exist)."""
    if 0 <= k + PTR_AHEAD < n_spikes:
        prefetch(indptr, spikes[k + PTR_AHEAD])
    if 0 <= k + ROW_AHEAD < n_spikes:
        j = indptr[spikes[k + ROW_AHEAD]]
        if j < a.shape[0]:
            prefetch(a, j)
        if j < b.shape[0]:
            prefetch(b, j)


@register_jitable
def prefetch_start(spikes, n_spikes, indptr, a, b):
    """What ``prefetch_rows`` would have asked for before spike 0 (for spikes 0 .. PTR_AHEAD - 1)."""
    for k in range(-PTR_AHEAD, 0):
        prefetch_rows(spikes, n_spikes, k, indptr, a, b)
