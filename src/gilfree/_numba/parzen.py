"""Numba engine of the Parzen-window kernel (same algorithm as ext/parzen.pyx).

Compiled lazily on first call (``cache=True`` keeps the machine code across
sessions); importing this module compiles nothing.
"""

import numpy as np
from numba import njit, prange

from .._config import PARZEN_BLOCK
from . import numba_threads

BLOCK = PARZEN_BLOCK
_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")


@njit(inline="always", **_JIT)
def _window(xs, key, qk, hwmax):
    """[lo, hi): samples whose key coordinate passes the widest window
    (both predicates are monotone along the sorted key row)."""
    n = xs.shape[1]
    a = 0
    b = n
    while a < b:
        mid = (a + b) >> 1
        if qk - xs[key, mid] <= hwmax:
            b = mid
        else:
            a = mid + 1
    lo = a
    b = n
    while a < b:
        mid = (a + b) >> 1
        if qk - xs[key, mid] < -hwmax:
            b = mid
        else:
            a = mid + 1
    return lo, a


@njit(inline="always", **_JIT)
def _radii(xs, q, p, start, count, r):
    for j in range(count):
        r[j] = 0.0
    for c in range(xs.shape[0]):
        qc = q[p, c]
        for j in range(count):
            v = abs(qc - xs[c, start + j])
            if v > r[j]:
                r[j] = v


@njit(inline="always", **_JIT)
def _bin(hw, r):
    a = 0
    b = hw.shape[0]
    while a < b:
        mid = (a + b) >> 1
        if hw[mid] < r:
            a = mid + 1
        else:
            b = mid
    return a


@njit(**_JIT)
def _hist_range(xs, q, hw, w, weighted, p, lo, hi, hist, r):
    hwmax = hw[hw.shape[0] - 1]
    start = lo
    while start < hi:
        count = min(hi - start, BLOCK)
        _radii(xs, q, p, start, count, r)
        if weighted:
            for j in range(count):
                if r[j] <= hwmax:
                    hist[_bin(hw, r[j])] += w[start + j]
        else:
            for j in range(count):
                if r[j] <= hwmax:
                    hist[_bin(hw, r[j])] += 1
        start += count


@njit(parallel=True, **_JIT)
def _counts_kernel(xs, key, q, hw, out, n_split):
    m = q.shape[0]
    H = hw.shape[0]
    ntask = m * n_split
    parts = np.zeros((ntask if n_split > 1 else 0, H + 1), dtype=np.int64)
    dummy = np.empty(0, dtype=np.float64)
    for t in prange(ntask):
        p = t // n_split
        part = t % n_split
        lo, hi = _window(xs, key, q[p, key], hw[H - 1])
        a = lo + (hi - lo) * part // n_split
        b = lo + (hi - lo) * (part + 1) // n_split
        hist = np.zeros(H + 1, dtype=np.int64)
        r = np.empty(BLOCK, dtype=np.float64)
        _hist_range(xs, q, hw, dummy, False, p, a, b, hist, r)
        if n_split == 1:
            acc = 0
            for k in range(H):
                acc += hist[k]
                out[p, k] = acc
        else:
            for k in range(H + 1):
                parts[t, k] = hist[k]
    if n_split > 1:
        for p in range(m):
            acc = 0
            for k in range(H):
                for part in range(n_split):
                    acc += parts[p * n_split + part, k]
                out[p, k] = acc


@njit(parallel=True, **_JIT)
def _weighted_kernel(xs, key, q, hw, w, out):
    m = q.shape[0]
    H = hw.shape[0]
    for p in prange(m):
        lo, hi = _window(xs, key, q[p, key], hw[H - 1])
        hist = np.zeros(H + 1, dtype=np.float64)
        r = np.empty(BLOCK, dtype=np.float64)
        _hist_range(xs, q, hw, w, True, p, lo, hi, hist, r)
        acc = 0.0
        for k in range(H):
            acc += hist[k]
            out[p, k] = acc


def parzen_counts(xs, key, q, hw, out, n_split, n_threads):
    with numba_threads(n_threads):
        _counts_kernel(xs, key, q, hw, out, n_split)


def parzen_weighted(xs, key, q, hw, w, out, n_threads):
    with numba_threads(n_threads):
        _weighted_kernel(xs, key, q, hw, w, out)
