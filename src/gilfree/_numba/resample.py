"""Numba engine of the signal resamplers (same formulas as
ext/resample.pyx).  ``resample_poly`` copies each chunk's input window
channel by channel into contiguous rows and computes every output of every
channel as one contiguous dot product with its phase's taps, which LLVM
vectorises in an order of its own: its results agree with the Cython
engine's and scipy's to rounding, not bit for bit.  Compiled lazily on first
call."""

import numpy as np
from numba import njit, prange

from .._config import RESIZE_CHUNKS_PER_THREAD, RESAMPLE_POLY_CHUNK
from ._common import numba_threads

_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")
#: resample_poly's dot products may reorder their additions and fuse
#: multiply-adds (results agree with scipy's to rounding, as before).
_JIT_DOT = dict(_JIT, fastmath={"reassoc", "contract"})
#: Taps per iteration of the vectorised dot product (LLVM's choice on
#: AVX-512: four vectors of eight): resample_poly pads its taps to a multiple.
DOT_PAD = 32


@njit(**_JIT)
def _linear_one(x, out, i0, i1):
    L, M = x.shape
    num = out.shape[0]
    if L == 1 or num == 1:
        for i in range(i0, i1):
            for m in range(M):
                out[i, m] = x[0, m]
        return
    step = (L - 1) / (num - 1)
    for i in range(i0, i1):
        if i == num - 1:
            for m in range(M):
                out[i, m] = x[L - 1, m]
            continue
        t = i * step
        j = min(np.int64(np.floor(t)), L - 2)
        f = t - j
        for m in range(M):
            a = x[j, m]
            out[i, m] = (x[j + 1, m] - a) * f + a


@njit(parallel=True, **_JIT)
def _linear_kernel(x, out, nchunk):
    num = out.shape[0]
    for c in prange(nchunk):
        _linear_one(x, out, num * c // nchunk, num * (c + 1) // nchunk)


@njit(parallel=True, **_JIT)
def _linear_many_kernel(data, offsets, out):
    for k in prange(out.shape[0]):
        _linear_one(data[offsets[k]:offsets[k + 1]], out[k], 0, out.shape[1])


@njit(**_JIT_DOT)
def _dot(h, ho, xs, xo, n):
    """sum_r h[ho + r] * xs[xo + r], r < n (all offsets >= 0): a contiguous
    dot product, which LLVM turns into vector multiply-adds into several
    vectors of partial sums (its own order of additions: hence the
    reassociation flag of this one function).  Flat arrays and unsigned
    indices: no view to reference-count, no negative-index wrap-around."""
    s = 0.0
    a = np.uint64(ho)
    b = np.uint64(xo)
    for r in range(np.uint64(n)):
        s += h[a + r] * xs[b + r]
    return s


@njit(**_JIT)
def _poly_chunk(x, out, hr, hp, nq, nqp, up, down, pre, i0, i1):
    """Outputs [i0, i1): the chunk's input window is copied channel by
    channel into contiguous rows (each input sample serves about nq * up /
    down outputs, so the copy is a small part of the work), and each output
    of each channel is one contiguous dot product with its phase's taps.
    Where the window holds only finite values, an output whose taps all fall
    on the signal takes the taps zero-padded to a multiple of DOT_PAD (``hp``),
    so that the dot product has no scalar remainder; the padding multiplies
    samples by zero, which adds nothing to a finite sum."""
    L, M = x.shape
    jlo = max(0, ((i0 + pre) * down) // up - (nq - 1))
    jhi = min(L, ((i1 - 1 + pre) * down) // up + 1)
    rows = max(0, jhi - jlo)
    stride = rows + nqp - nq
    buf = np.zeros(M * stride)
    finite = True
    for j in range(rows):
        for m in range(M):
            v = x[jlo + j, m]
            buf[m * stride + j] = v
            finite &= np.isfinite(v)
    for i in range(i0, i1):
        t = (i + pre) * down
        p = t % up
        j0 = t // up - (nq - 1)
        r0 = -j0 if j0 < 0 else 0
        r1 = min(L - j0, nq)
        n = r1 - r0
        if n <= 0:
            for m in range(M):
                out[i, m] = 0.0
            continue
        if finite and r0 == 0 and r1 == nq:
            for m in range(M):
                out[i, m] = _dot(hp, p * nqp, buf, m * stride + j0 - jlo, nqp)
        else:
            for m in range(M):
                out[i, m] = _dot(hr, p * nq + r0, buf, m * stride + j0 + r0 - jlo, n)


@njit(parallel=True, **_JIT)
def _poly_kernel(x, out, hr, hp, nq, nqp, up, down, pre, chunk):
    n_out = out.shape[0]
    nchunk = (n_out + chunk - 1) // chunk
    for c in prange(nchunk):
        _poly_chunk(x, out, hr, hp, nq, nqp, up, down, pre, c * chunk,
                    min((c + 1) * chunk, n_out))


def linear(x, out, n_threads):
    with numba_threads(n_threads) as nt:
        _linear_kernel(x, out, max(1, min(out.shape[0], RESIZE_CHUNKS_PER_THREAD * nt)))


def linear_many(data, offsets, out, n_threads):
    with numba_threads(n_threads):
        _linear_many_kernel(data, offsets, out)


def poly(x, out, hr, up, down, pre, n_threads):
    with numba_threads(n_threads):
        nq = hr.shape[1]
        nqp = -(-nq // DOT_PAD) * DOT_PAD
        hp = np.zeros((hr.shape[0], nqp))
        hp[:, :nq] = hr
        _poly_kernel(x, out, np.ascontiguousarray(hr).reshape(-1), hp.reshape(-1), nq, nqp, up,
                     down, pre, RESAMPLE_POLY_CHUNK)


def linear_list(arrays, out, rest, n_threads):
    from .._reference.resample import linear_list_with

    return linear_list_with(linear_many, arrays, out, rest, n_threads)
