"""LLVM-level helpers of the Numba engines, written as Numba intrinsics.

- ``f64_bits`` / ``bits_f64`` / ``f32_bits`` / ``bits_f32``: reinterpret a
  float's bits as an integer and back (the vectorisable ``exp`` of
  ``gilfree._numba.kde``); public API only (``numba.extending.intrinsic``
  and llvmlite's IR builder).
- ``load_acquire`` / ``store_release``: atomic load / store of an element
  of a 1-D int64 array (the progress counters of ``gilfree._numba.dtw``'s
  pipeline); ``sched_yield``: the C library call.  These locate the element
  and declare the C function with ``numba.core.cgutils.get_item_pointer``
  and ``get_or_insert_function``, Numba internals.

Checked on Numba 0.68.1 with llvmlite 0.50.0 (gilfree requires
numba >= 0.59).  Public fallback, used when ``cgutils`` lacks either
helper: the element's address is formed with llvmlite's public ``gep`` on
the array's data pointer, and the function is declared with
``llvmlite.ir.Function``; same machine code.  ``tests/test_compat_kernels.py``
fails loudly when the Numba path is gone (and runs the fallback).
"""

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

try:
    from numba.core import cgutils
except ImportError:  # pragma: no cover - a Numba without numba.core.cgutils
    cgutils = None

__all__ = ["NUMBA_HELPERS", "bits_f32", "bits_f64", "f32_bits", "f64_bits", "load_acquire",
           "make_sync", "sched_yield", "store_release"]

#: True when Numba's own ``cgutils`` helpers are used (False: the fallback)
NUMBA_HELPERS = all(hasattr(cgutils, f) for f in ("get_item_pointer", "get_or_insert_function"))


def _bitcast(src, dst, bits):
    @intrinsic
    def cast(typingctx, x):
        if x != src:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(bits) if dst in (types.int64, types.int32)
                                   else (ir.DoubleType() if bits == 64 else ir.FloatType()))

        return dst(src), codegen

    return cast


f64_bits = _bitcast(types.float64, types.int64, 64)
bits_f64 = _bitcast(types.int64, types.float64, 64)
f32_bits = _bitcast(types.float32, types.int32, 32)
bits_f32 = _bitcast(types.int32, types.float32, 32)


def _is_int64_vector(arr):
    return isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1


def make_sync(use_numba_helpers=NUMBA_HELPERS):
    """``(load_acquire, store_release, sched_yield)`` intrinsics, built with
    Numba's ``cgutils`` helpers or with the public fallback."""

    def element(context, builder, signature, args):
        """A pointer to ``args[0][args[1]]`` (an int64 vector, an index)."""
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = context.cast(builder, args[1], signature.args[1], types.intp)
        if use_numba_helpers:
            return cgutils.get_item_pointer(context, builder, aryty, ary, [idx])
        return builder.gep(ary.data, [idx], inbounds=True)  # a C-contiguous vector

    def accepts(arr):
        return _is_int64_vector(arr) and (use_numba_helpers or arr.layout == "C")

    @intrinsic
    def load_acquire(typingctx, arr, idx):
        """``arr[idx]`` of a 1-D int64 array, an atomic load with acquire order."""
        if not accepts(arr):
            return None

        def codegen(context, builder, signature, args):
            ptr = element(context, builder, signature, args)
            return builder.load_atomic(ptr, ordering="acquire", align=8)

        return types.int64(arr, idx), codegen

    @intrinsic
    def store_release(typingctx, arr, idx, val):
        """``arr[idx] = val`` on a 1-D int64 array, an atomic store with
        release order (everything written before it is visible to an
        acquiring reader)."""
        if not accepts(arr):
            return None

        def codegen(context, builder, signature, args):
            ptr = element(context, builder, signature, args)
            v = context.cast(builder, args[2], signature.args[2], types.int64)
            builder.store_atomic(v, ptr, ordering="release", align=8)
            return context.get_dummy_value()

        return types.void(arr, idx, val), codegen

    @intrinsic
    def sched_yield(typingctx):
        """``sched_yield()`` from the C library."""

        def codegen(context, builder, signature, args):
            fnty = ir.FunctionType(ir.IntType(32), [])
            if use_numba_helpers:
                fn = cgutils.get_or_insert_function(builder.module, fnty, "sched_yield")
            else:
                fn = builder.module.globals.get("sched_yield") or ir.Function(
                    builder.module, fnty, "sched_yield")
            return builder.call(fn, [])

        return types.int32(), codegen

    return load_acquire, store_release, sched_yield


load_acquire, store_release, sched_yield = make_sync()
