"""Numba engine of the Parzen-window kernel (same algorithm as ext/parzen.pyx:
strips along a key dimension, binary search along a second one, a
vectorised max-norm per block of candidates, a bucket lookup per candidate).

Compiled lazily on first call (``cache=True`` keeps the machine code across
sessions); importing this module compiles nothing.
"""

import numpy as np
from numba import njit, prange

from .._config import PARZEN_BLOCK
from ._common import numba_threads

BLOCK = PARZEN_BLOCK
_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")


@njit(inline="always", **_JIT)
def _sec_window(xs, sec, qs, hwmax, a, b):
    """Within a strip [a, b) sorted on ``sec``: the run passing the widest
    window (both predicates are monotone along the sorted run)."""
    if sec < 0:  # unindexed plan (few points): every sample is a candidate
        return a, b
    end = b
    while a < b:
        mid = (a + b) >> 1
        if qs - xs[sec, mid] <= hwmax:
            b = mid
        else:
            a = mid + 1
    lo = a
    b = end
    while a < b:
        mid = (a + b) >> 1
        if qs - xs[sec, mid] < -hwmax:
            b = mid
        else:
            a = mid + 1
    return lo, a


@njit(inline="always", **_JIT)
def _strips(qk, hwmax, origin, inv_sw, S):
    lo = (qk - hwmax - origin) * inv_sw - 1.0
    hi = (qk + hwmax - origin) * inv_sw + 2.0
    lo = max(lo, 0.0)
    hi = min(hi, float(S))
    hi = max(hi, lo)
    return int(lo), int(hi)


@njit(inline="always", **_JIT)
def _radii(xs, q, p, start, count, r):
    for j in range(count):
        r[j] = 0.0
    for c in range(xs.shape[0]):
        qc = q[p, c]
        for j in range(count):
            v = abs(qc - xs[c, start + j])
            r[j] = v if v > r[j] else r[j]


@njit(inline="always", **_JIT)
def _bin(hw, lut, scale, r):
    H = hw.shape[0]
    L = lut.shape[0] - 1
    v = min(r * scale, float(L))
    k = lut[int(v)]
    while k < H and hw[k] < r:
        k += 1
    return k


@njit(**_JIT)
def _point(xs, sec, strip_start, q, hw, lut, scale, w, weighted,
           p, s0, s1, part, n_split, hist, whist, r):
    H = hw.shape[0]
    hwmax = hw[H - 1]
    for s in range(s0, s1):
        lo, hi = _sec_window(xs, sec, q[p, max(sec, 0)], hwmax,
                             strip_start[s], strip_start[s + 1])
        start = lo + (hi - lo) * part // n_split
        stop = lo + (hi - lo) * (part + 1) // n_split
        while start < stop:
            count = min(stop - start, BLOCK)
            _radii(xs, q, p, start, count, r)
            if weighted:
                for j in range(count):
                    whist[_bin(hw, lut, scale, r[j])] += w[start + j]
            else:
                for j in range(count):
                    hist[j & 3, _bin(hw, lut, scale, r[j])] += 1
            start += count


@njit(parallel=True, **_JIT)
def _counts_kernel(xs, key, sec, strip_start, origin, inv_sw, hw, lut, scale,
                   q, out, n_split):
    m = q.shape[0]
    H = hw.shape[0]
    S = strip_start.shape[0] - 1
    ntask = m * n_split
    parts = np.zeros((ntask if n_split > 1 else 0, H), dtype=np.int64)
    nowhist = np.empty(0, dtype=np.float64)
    for t in prange(ntask):
        p = t // n_split
        part = t % n_split
        hist = np.zeros((4, H + 1), dtype=np.int64)
        r = np.empty(BLOCK, dtype=np.float64)
        s0, s1 = _strips(q[p, key], hw[H - 1], origin, inv_sw, S)
        _point(xs, sec, strip_start, q, hw, lut, scale, nowhist, False,
               p, s0, s1, part, n_split, hist, nowhist, r)
        if n_split == 1:
            acc = 0
            for k in range(H):
                acc += hist[0, k] + hist[1, k] + hist[2, k] + hist[3, k]
                out[p, k] = acc
        else:
            for k in range(H):
                parts[t, k] = hist[0, k] + hist[1, k] + hist[2, k] + hist[3, k]
    if n_split > 1:
        for p in range(m):
            acc = 0
            for k in range(H):
                for part in range(n_split):
                    acc += parts[p * n_split + part, k]
                out[p, k] = acc


@njit(parallel=True, **_JIT)
def _weighted_kernel(xs, key, sec, strip_start, origin, inv_sw, hw, lut, scale, w, q, out):
    m = q.shape[0]
    H = hw.shape[0]
    S = strip_start.shape[0] - 1
    nohist = np.empty((4, 0), dtype=np.int64)
    for p in prange(m):
        whist = np.zeros(H + 1, dtype=np.float64)
        r = np.empty(BLOCK, dtype=np.float64)
        s0, s1 = _strips(q[p, key], hw[H - 1], origin, inv_sw, S)
        _point(xs, sec, strip_start, q, hw, lut, scale, w, True,
               p, s0, s1, 0, 1, nohist, whist, r)
        acc = 0.0
        for k in range(H):
            acc += whist[k]
            out[p, k] = acc


def parzen_counts(plan, q, out, n_split, n_threads):
    with numba_threads(n_threads):
        _counts_kernel(plan.xs, plan.key, plan.sec, plan.strip_start, plan.origin,
                       plan.inv_sw, plan.hw, plan.lut, plan.scale, q, out, n_split)


def parzen_weighted(plan, q, out, n_threads):
    with numba_threads(n_threads):
        _weighted_kernel(plan.xs, plan.key, plan.sec, plan.strip_start, plan.origin,
                         plan.inv_sw, plan.hw, plan.lut, plan.scale, plan.w, q, out)
