"""Numba engine of the signal resamplers (same formulas as
ext/resample.pyx).  ``resample_poly`` sums each output's taps channel by
channel with eight interleaved partial sums, an order of its own: its
results agree with the Cython engine's and scipy's to rounding, not bit for
bit.  Compiled lazily on first call."""

import numpy as np
from numba import njit, prange

from .._config import RESIZE_CHUNKS_PER_THREAD, RESAMPLE_POLY_CHUNK
from ._common import numba_threads

_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")


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


@njit(**_JIT)
def _poly_chunk(x, out, hr, up, down, pre, i0, i1):
    L, M = x.shape
    nq = hr.shape[1]
    for i in range(i0, i1):
        t = (i + pre) * down
        p = t % up
        j0 = t // up - (nq - 1)
        r0 = -j0 if j0 < 0 else 0
        r1 = min(L - j0, nq)
        n = r1 - r0
        h = hr[p, r0:r1]
        for m in range(M):
            xs = x[j0 + r0:j0 + r1, m]
            s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
            r = 0
            while r + 8 <= n:
                s0 += h[r] * xs[r]
                s1 += h[r + 1] * xs[r + 1]
                s2 += h[r + 2] * xs[r + 2]
                s3 += h[r + 3] * xs[r + 3]
                s4 += h[r + 4] * xs[r + 4]
                s5 += h[r + 5] * xs[r + 5]
                s6 += h[r + 6] * xs[r + 6]
                s7 += h[r + 7] * xs[r + 7]
                r += 8
            while r < n:
                s0 += h[r] * xs[r]
                r += 1
            out[i, m] = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(parallel=True, **_JIT)
def _poly_kernel(x, out, hr, up, down, pre, chunk):
    n_out = out.shape[0]
    nchunk = (n_out + chunk - 1) // chunk
    for c in prange(nchunk):
        _poly_chunk(x, out, hr, up, down, pre, c * chunk, min((c + 1) * chunk, n_out))


def linear(x, out, n_threads):
    with numba_threads(n_threads) as nt:
        _linear_kernel(x, out, max(1, min(out.shape[0], RESIZE_CHUNKS_PER_THREAD * nt)))


def linear_many(data, offsets, out, n_threads):
    with numba_threads(n_threads):
        _linear_many_kernel(data, offsets, out)


def poly(x, out, hr, up, down, pre, n_threads):
    with numba_threads(n_threads):
        _poly_kernel(x, out, hr, up, down, pre, RESAMPLE_POLY_CHUNK)


def linear_list(arrays, out, rest, n_threads):
    from .._reference.resample import linear_list_with

    return linear_list_with(linear_many, arrays, out, rest, n_threads)
