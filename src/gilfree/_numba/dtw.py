"""Numba engine of the subsequence-DTW kernel (same algorithm as ext/dtw.pyx).

Tiles of (template rows / ``row_blocks``) x ``block_cols`` signal columns run
as an anti-diagonal wavefront: all tiles with the same ``r + b`` at once.
Compiled lazily on first call (``cache=True``); importing compiles nothing.
"""

import numpy as np
from numba import njit, prange

from . import numba_threads

_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")


@njit(**_JIT)
def _tile(t, sT, r0, r1, c0, c1, hb, r, vb, b, full, dirs, want_full, want_dirs):
    """Rows [r0, r1) x columns [c0, c1); reads hb[r, c0:c1+1] (row r0-1,
    columns c0-1..c1-1) and vb[b, r0:r1] (column c0-1), writes
    hb[r+1, c0+1:c1+1] and vb[b+1, r0:r1]."""
    W = c1 - c0
    d = t.shape[1]
    buf = np.empty((2, W + 1))
    cost = np.empty(W)
    prev = hb[r, c0 : c1 + 1]
    for i in range(r0, r1):
        tik = t[i, 0]
        for j in range(W):
            diff = tik - sT[0, c0 + j]
            cost[j] = diff * diff
        for k in range(1, d):
            tik = t[i, k]
            for j in range(W):
                diff = tik - sT[k, c0 + j]
                cost[j] = cost[j] + diff * diff
        cur = buf[(i - r0) & 1]
        cur[0] = vb[b, i]
        if want_dirs:
            for j in range(W):
                diag = prev[j]
                up = prev[j + 1]
                lft = cur[j]
                m = diag
                dr = 0
                if up < m:
                    m = up
                    dr = 1
                if lft < m:
                    m = lft
                    dr = 2
                cur[j + 1] = cost[j] + m
                dirs[c0 + j, i] = dr
        else:
            for j in range(W):
                diag = prev[j]
                up = prev[j + 1]
                m = up if up < diag else diag
                lft = cur[j]
                m = lft if lft < m else m
                cur[j + 1] = cost[j] + m
        vb[b + 1, i] = cur[W]
        if want_full:
            for j in range(W):
                full[i, c0 + j] = cur[j + 1]
        prev = cur
    for j in range(W):
        hb[r + 1, c0 + 1 + j] = prev[j + 1]


@njit(parallel=True, **_JIT)
def _accumulate(t, sT, full, last, dirs, W, R):
    M = t.shape[0]
    N = sT.shape[1]
    nb = (N + W - 1) // W
    want_full = full.shape[0] > 0
    want_dirs = dirs.shape[0] > 0
    hb = np.empty((R + 1, N + 1))
    for j in range(N + 1):
        hb[0, j] = 0.0  # virtual row: free start
    for r in range(1, R + 1):
        hb[r, 0] = np.inf  # virtual column before signal sample 0
    vb = np.empty((nb + 1, M))
    for i in range(M):
        vb[0, i] = np.inf
    rows = np.empty(R + 1, dtype=np.int64)
    for r in range(R + 1):
        rows[r] = (r * M) // R
    for step in range(R + nb - 1):
        for r in prange(R):
            b = step - r
            if b >= 0 and b < nb:
                c0 = b * W
                c1 = min(c0 + W, N)
                _tile(t, sT, rows[r], rows[r + 1], c0, c1, hb, r, vb, b, full, dirs,
                      want_full, want_dirs)
    for j in range(N):
        last[j] = hb[R, j + 1]


@njit(**_JIT)
def _walk(dirs, end, out, offset, length):
    """Trace the path back from (M-1, end); with length > 0 write its cells
    in forward order to out[offset:offset+length]. Returns the cell count."""
    i = dirs.shape[1] - 1
    j = end
    n = 0
    while True:
        if length > 0:
            pos = offset + length - 1 - n
            out[pos, 0] = i
            out[pos, 1] = j
        n += 1
        if i == 0:
            break
        if j == 0:
            i -= 1
            continue
        dr = dirs[j, i]
        if dr == 0:
            i -= 1
            j -= 1
        elif dr == 1:
            i -= 1
        else:
            j -= 1
    return n


@njit(parallel=True, **_JIT)
def _trace(dirs, ends, lengths):
    dummy = np.empty((0, 2), dtype=np.int64)
    for p in prange(ends.shape[0]):
        lengths[p] = _walk(dirs, ends[p], dummy, 0, 0)


@njit(parallel=True, **_JIT)
def _fill(dirs, ends, offsets, out):
    for p in prange(ends.shape[0]):
        _walk(dirs, ends[p], out, offsets[p], offsets[p + 1] - offsets[p])


def accumulate(t, sT, full, last, dirs, block_cols, row_blocks, n_threads):
    M, N = t.shape[0], sT.shape[1]
    if M == 0 or N == 0:
        return
    R = max(1, min(int(row_blocks), M))
    with numba_threads(min(n_threads, R)):
        _accumulate(t, sT, full, last, dirs, max(1, int(block_cols)), R)


def trace_paths(dirs, ends, lengths, n_threads):
    if ends.shape[0] == 0:
        return
    with numba_threads(n_threads):
        _trace(dirs, ends, lengths)


def fill_paths(dirs, ends, offsets, out, n_threads):
    if ends.shape[0] == 0:
        return
    with numba_threads(n_threads):
        _fill(dirs, ends, offsets, out)


@njit(**_JIT)
def _select(peaks, order, distance, keep):
    K = peaks.shape[0]
    for ii in range(K - 1, -1, -1):
        j = order[ii]
        if keep[j] == 0:
            continue
        k = j - 1
        while k >= 0 and peaks[j] - peaks[k] < distance:
            keep[k] = 0
            k -= 1
        k = j + 1
        while k < K and peaks[k] - peaks[j] < distance:
            keep[k] = 0
            k += 1


def select_by_distance(peaks, order, distance, keep):
    _select(peaks, order, distance, keep)
