"""Numba engine of the signal resamplers (same formulas as
ext/resample.pyx).  ``resample_poly`` computes outputs that share a filter
phase side by side, a vector of them per tap (``_poly_block``), each output
summing its taps in order; filters with many taps per phase use one
contiguous dot product per output and channel instead (``_poly_chunk``).
Its results agree with the Cython engine's and scipy's to rounding, not bit
for bit.  Compiled lazily on first call."""

import numpy as np
from numba import njit, prange

from .._config import NUMBA_POLY_BLOCK_MAX_SPAN as POLY_BLOCK_MAX_SPAN
from .._config import NUMBA_POLY_BLOCK_MAX_TAPS as POLY_BLOCK_MAX_TAPS
from .._config import NUMBA_POLY_LANES as POLY_LANES
from .._config import NUMBA_POLY_SLOT as POLY_SLOT
from .._config import RESAMPLE_POLY_CHUNK, RESIZE_CHUNKS_PER_THREAD
from ._common import numba_threads

_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")
#: resample_poly's dot products may reorder their additions and fuse
#: multiply-adds (results agree with scipy's to rounding, as before).
_JIT_DOT = dict(_JIT, fastmath={"reassoc", "contract"})
#: resample_poly's blocked kernel may fuse each multiply-add (the order of
#: the additions stays the taps' order).
_JIT_FMA = dict(_JIT, fastmath={"contract"})
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


@njit(**_JIT_FMA)
def _poly_taps(hr, ho, z, zo, nq, acc, lanes):
    """acc[k] = sum_r hr[ho + r] * z[zo + r * lanes + k] for k < lanes, r
    ascending (nq >= 1): a row of ``lanes`` sums, into which each pass adds
    two taps in a loop LLVM vectorises; each sum adds its taps one by one in
    order.  Flat arrays and unsigned indices: no view to reference-count, no
    negative-index wrap-around."""
    a = np.uint64(ho)
    b = np.uint64(zo)
    n = np.uint64(lanes)
    one = np.uint64(1)
    w = hr[a]
    r = one
    if nq % 2 == 0:
        w1 = hr[a + one]
        for k in range(n):
            acc[k] = w * z[b + k] + w1 * z[b + n + k]
        r = np.uint64(2)
    else:
        for k in range(n):
            acc[k] = w * z[b + k]
    while r < np.uint64(nq):
        w0 = hr[a + r]
        w1 = hr[a + r + one]
        z0 = b + r * n
        for k in range(n):
            acc[k] = acc[k] + w0 * z[z0 + k] + w1 * z[z0 + n + k]
        r += np.uint64(2)


@njit(**_JIT)
def _poly_block(xf, L, M, of, n_out, hq, nq, up, down, pre, Q, K, poff, span, i0):
    """Outputs i0 .. i0 + K * Q - 1 (those below n_out), as K slots of Q
    consecutive outputs; i0 and Q are multiples of ``up``, so output q of
    every slot has the same phase, whose taps are ``hq[q * nq:(q + 1) * nq]``,
    and its taps start ``poff[q]`` samples after its slot's first.  The
    slots' input windows (``span`` samples each, zeros outside the signal)
    are interleaved into ``z`` (span, K, M), so that the K * M sums of
    output q of every slot and channel form one contiguous row that each
    tap multiplies into (``_poly_taps``).  A
    zero outside the signal times a tap adds nothing: every output sums its
    nq taps in order, whatever the block."""
    lanes = K * M
    D = (Q // up) * down
    z = np.empty(span * lanes)
    acc = np.empty(lanes)
    jstart = ((i0 + pre) * down) // up - (nq - 1)
    uM = np.uint64(M)
    for k in range(K):
        j1 = jstart + k * D
        for j in range(span):
            jj = j1 + j
            dst = np.uint64((j * K + k) * M)
            if 0 <= jj < L:
                src = np.uint64(jj * M)
                for m in range(uM):
                    z[dst + m] = xf[src + m]
            else:
                for m in range(uM):
                    z[dst + m] = 0.0
    for q in range(Q):
        if i0 + q >= n_out:
            break
        _poly_taps(hq, q * nq, z, poff[q] * lanes, nq, acc, lanes)
        for k in range(K):
            i = i0 + k * Q + q
            if i >= n_out:
                break
            o = np.uint64(i * M)
            a = np.uint64(k * M)
            for m in range(uM):
                of[o + m] = acc[a + m]


@njit(parallel=True, **_JIT)
def _poly_blocks(x, out, hq, nq, up, down, pre, Q, K, poff, span):
    L, M = x.shape
    n_out = out.shape[0]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    KQ = K * Q
    for b in prange((n_out + KQ - 1) // KQ):
        _poly_block(xf, L, M, of, n_out, hq, nq, up, down, pre, Q, K, poff, span, b * KQ)


def linear(x, out, n_threads):
    with numba_threads(n_threads) as nt:
        _linear_kernel(x, out, max(1, min(out.shape[0], RESIZE_CHUNKS_PER_THREAD * nt)))


def linear_many(data, offsets, out, n_threads):
    with numba_threads(n_threads):
        _linear_many_kernel(data, offsets, out)


def poly(x, out, hr, up, down, pre, n_threads):
    nq = hr.shape[1]
    n_out, M = out.shape
    if n_out == 0 or M == 0:
        return
    with numba_threads(n_threads):
        hr = np.ascontiguousarray(hr)
        # slots of Q outputs (a multiple of up: one phase per output index
        # within a slot); K slots of M channels ~ POLY_LANES sums
        Q = up * -(-POLY_SLOT // up)
        span = ((Q - 1 + pre) * down) // up - (pre * down) // up + nq
        if nq <= POLY_BLOCK_MAX_TAPS and span <= POLY_BLOCK_MAX_SPAN:
            K = max(1, min(POLY_LANES // M, -(-n_out // Q)))
            t = (np.arange(Q, dtype=np.int64) + pre) * down
            poff = t // up - t[0] // up
            # each slot's outputs' taps in output order
            hq = np.ascontiguousarray(hr[t % up]).reshape(-1)
            _poly_blocks(x, out, hq, nq, up, down, pre, Q, K, poff, span)
            return
        nqp = -(-nq // DOT_PAD) * DOT_PAD
        hp = np.zeros((hr.shape[0], nqp))
        hp[:, :nq] = hr
        _poly_kernel(x, out, hr.reshape(-1), hp.reshape(-1), nq, nqp, up,
                     down, pre, RESAMPLE_POLY_CHUNK)


def linear_list(arrays, out, rest, n_threads):
    from .._reference.resample import linear_list_with

    return linear_list_with(linear_many, arrays, out, rest, n_threads)
