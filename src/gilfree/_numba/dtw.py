"""Numba engine of the subsequence-DTW kernel (same cells as ext/dtw.pyx;
each tile by anti-diagonals, ``_tile_diag``).

Tiles of (template rows / ``row_blocks``) x ``block_cols`` signal columns run
as a pipeline, like the Cython engine: row band r processes column block b
once band r - 1 has published it through a progress counter (atomic
acquire/release loads and stores, LLVM intrinsics of
``gilfree._compat.numba_llvm``), so no
thread ever waits at a barrier.  Band r waits only on band r - 1 and every
thread takes its bands in increasing order, so the pipeline finishes for any
number of threads the ``prange`` is given.  Directions are stored
block-major like the Cython engine's: column block b is an (M, w) byte
matrix at ``c0 * M``.  Compiled lazily on first call (``cache=True``).
"""

import numpy as np
from numba import njit, prange

from .._compat.numba_llvm import load_acquire as _load_acquire
from .._compat.numba_llvm import sched_yield as _yield
from .._compat.numba_llvm import store_release as _store_release
from ._common import numba_threads

#: Spins on a progress counter before yielding the core (the machine may be
#: shared; the thread we wait for may need it).
SPIN = 256
_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")

#: Anti-diagonals gathered before their directions and values are written
#: out row by row (ext/dtw.pyx GF_DTW_DIAG_BLOCK).
DIAG_BLOCK = 32


@njit(**_JIT)
def _tile_diag(tT, sR, r0, r1, c0, c1, hb, r, vb, b, full, dirs, want_full, want_dirs):
    """Rows [r0, r1) x columns [c0, c1) of the cost matrix by anti-diagonals, as ext/dtw.pyx's
    gf_dtw_tile_diag: the cells of a diagonal are independent, so their
    costs, minima and directions are computed in loops LLVM vectorises; the
    same expressions per cell give the same values and bytes.  ``tT`` (d, M)
    is the template transposed, ``sR`` (d, N) the signal reversed (column j
    at N - 1 - j), so that both run forward along a diagonal."""
    R = r1 - r0
    W = c1 - c0
    M = tT.shape[1]
    N = sR.shape[1]
    d = tT.shape[0]
    B = DIAG_BLOCK
    bufs = np.empty((3, R + 1))
    cost = np.empty(R)
    db = np.empty(B * R, dtype=np.uint8)
    fb = np.empty(B * R if want_full else 0)
    top = hb[r, c0 : c1 + 1]
    a2 = 0  # diagonal k - 2
    a1 = 1  # diagonal k - 1
    a0 = 2  # diagonal k
    bufs[a2, 0] = top[0]
    bufs[a1, 0] = top[1]
    bufs[a1, 1] = vb[b, r0]
    kb = 0
    for k in range(R + W - 1):
        lo = max(0, k - W + 1)
        hi = min(R - 1, k)
        n = hi - lo + 1
        base = N - 1 - c0 - k + lo  # sR index of the cell in row lo
        cst = cost[:n]
        tt = tT[0, r0 + lo : r0 + lo + n]
        sr = sR[0, base : base + n]
        for q in range(n):
            v = tt[q] - sr[q]
            cst[q] = v * v
        for ch in range(1, d):
            tt = tT[ch, r0 + lo : r0 + lo + n]
            sr = sR[ch, base : base + n]
            for q in range(n):
                v = tt[q] - sr[q]
                cst[q] = cst[q] + v * v
        p2 = bufs[a2, lo : lo + n]
        p1 = bufs[a1, lo : lo + n]
        p1n = bufs[a1, lo + 1 : lo + 1 + n]
        cur = bufs[a0, lo + 1 : lo + 1 + n]
        dk = db[(k - kb) * R + lo : (k - kb) * R + lo + n]
        for q in range(n):
            diag = p2[q]
            up = p1[q]
            lft = p1n[q]
            m1 = up if up < diag else diag
            m = lft if lft < m1 else m1
            cur[q] = cst[q] + m
            dk[q] = np.uint8(up < diag) + np.uint8(2) * np.uint8(lft < m1)
        if want_full:
            fk = fb[(k - kb) * R + lo : (k - kb) * R + lo + n]
            for q in range(n):
                fk[q] = cur[q]
        if k >= W - 1:
            vb[b + 1, r0 + k - (W - 1)] = bufs[a0, k - (W - 1) + 1]
        if hi == R - 1:
            hb[r + 1, c0 + 1 + k - (R - 1)] = bufs[a0, R]
        if k + 2 <= W:
            bufs[a0, 0] = top[k + 2]
        if k + 1 < R:
            bufs[a0, k + 2] = vb[b, r0 + k + 1]
        a2, a1, a0 = a1, a0, a2
        if k + 1 - kb == B or k + 1 == R + W - 1:
            ke = k + 1
            for i in range(R):
                k0 = max(kb, i)
                k1 = min(ke, i + W)
                if k1 <= k0:
                    continue
                src = (k0 - kb) * R + i
                if want_dirs:
                    rowbase = c0 * M + (r0 + i) * W - i
                    drow = dirs[rowbase + k0 : rowbase + k1]
                    dsrc = db[src:]
                    for q in range(k1 - k0):
                        drow[q] = dsrc[q * R]
                if want_full:
                    frow = full[r0 + i, c0 + k0 - i : c0 + k1 - i]
                    fsrc = fb[src:]
                    for q in range(k1 - k0):
                        frow[q] = fsrc[q * R]
            kb = ke


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
    progress = np.zeros(R, dtype=np.int64)
    # the template transposed and the signal reversed, for _tile_diag
    tT = np.ascontiguousarray(t.T)
    sR = np.empty_like(sT)
    for ch in range(sT.shape[0]):
        for j in range(N):
            sR[ch, N - 1 - j] = sT[ch, j]
    for r in prange(R):
        for b in range(nb):
            if r > 0:  # wait until band r - 1 has published column block b
                spins = 0
                while _load_acquire(progress, r - 1) <= b:
                    spins += 1
                    if spins > SPIN:
                        _yield()
            c0 = b * W
            c1 = min(c0 + W, N)
            _tile_diag(tT, sR, rows[r], rows[r + 1], c0, c1, hb, r, vb, b, full, dirs,
                       want_full, want_dirs)
            _store_release(progress, r, b + 1)
    for j in range(N):
        last[j] = hb[R, j + 1]


@njit(**_JIT)
def _walk(dirs, M, W, end, out, offset, length):
    """Trace the path back from (M-1, end); with length > 0 write its cells
    in forward order to out[offset:offset+length]. Returns the cell count."""
    N = dirs.shape[0] // M
    i = M - 1
    j = end
    c0 = (end // W) * W
    w = min(W, N - c0)
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
        dr = dirs[c0 * M + i * w + (j - c0)]
        if dr >= 2:
            j -= 1
        elif dr == 1:
            i -= 1
        else:
            i -= 1
            j -= 1
        if j < c0:
            c0 -= W
            w = W
    return n


@njit(parallel=True, **_JIT)
def _trace(dirs, M, W, ends, lengths):
    dummy = np.empty((0, 2), dtype=np.int64)
    for p in prange(ends.shape[0]):
        lengths[p] = _walk(dirs, M, W, ends[p], dummy, 0, 0)


@njit(parallel=True, **_JIT)
def _fill(dirs, M, W, ends, offsets, out):
    for p in prange(ends.shape[0]):
        _walk(dirs, M, W, ends[p], out, offsets[p], offsets[p + 1] - offsets[p])


def accumulate(t, sT, full, last, dirs, block_cols, row_blocks, n_threads):
    M, N = t.shape[0], sT.shape[1]
    if M == 0 or N == 0:
        return
    R = max(1, min(int(row_blocks), M))
    with numba_threads(min(n_threads, R)):
        _accumulate(t, sT, full, last, dirs, max(1, min(int(block_cols), N)), R)


def trace_paths(dirs, M, block_cols, ends, lengths, n_threads):
    if ends.shape[0] == 0:
        return
    with numba_threads(n_threads):
        _trace(dirs, M, block_cols, ends, lengths)


def fill_paths(dirs, M, block_cols, ends, offsets, out, n_threads):
    if ends.shape[0] == 0:
        return
    with numba_threads(n_threads):
        _fill(dirs, M, block_cols, ends, offsets, out)


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
