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

import sys

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
#: The 8 x 8 byte blocks of the direction write-out read 8-byte words as
#: bytes in little-endian order.
_LITTLE = sys.byteorder == "little"


@njit(**_JIT)
def _store8(out, o, x):
    """The eight bytes of ``x`` (little-endian order) to out[o:o+8], o >= 0.
    Unsigned indices: no negative-index wrap-around per byte, so that LLVM
    sees eight adjacent byte stores and merges them into one."""
    u = np.uint64(o)
    out[u] = np.uint8(x & np.uint64(0xFF))
    out[u + np.uint64(1)] = np.uint8((x >> np.uint64(8)) & np.uint64(0xFF))
    out[u + np.uint64(2)] = np.uint8((x >> np.uint64(16)) & np.uint64(0xFF))
    out[u + np.uint64(3)] = np.uint8((x >> np.uint64(24)) & np.uint64(0xFF))
    out[u + np.uint64(4)] = np.uint8((x >> np.uint64(32)) & np.uint64(0xFF))
    out[u + np.uint64(5)] = np.uint8((x >> np.uint64(40)) & np.uint64(0xFF))
    out[u + np.uint64(6)] = np.uint8((x >> np.uint64(48)) & np.uint64(0xFF))
    out[u + np.uint64(7)] = np.uint8((x >> np.uint64(56)) & np.uint64(0xFF))


@njit(**_JIT)
def _swap(a, b, shift, mask):
    """One step of an 8 x 8 byte transpose: the ``mask`` bits of ``a`` above
    ``shift`` trade places with those of ``b`` below it."""
    t = ((a >> shift) ^ b) & mask
    return a ^ (t << shift), b ^ t


@njit(**_JIT)
def _flush_dirs(db64, db, Rs, kb, ke, R, W, r0, c0, M, dirs):
    """Direction bytes of diagonals kb .. ke - 1 from the diagonal-major
    buffer (cell of tile row i on diagonal k at (k - kb) * Rs + i) to the
    block-major output, a run of columns per row, as ext/dtw.pyx's
    gf_dtw_flush: where all 64 cells of 8 rows x 8 diagonals are in the
    tile, the block is read as eight 8-byte words, transposed in registers
    and written as eight 8-byte runs; the other cells one by one."""
    base = c0 * M
    m32 = np.uint64(0x00000000FFFFFFFF)
    m16 = np.uint64(0x0000FFFF0000FFFF)
    m8 = np.uint64(0x00FF00FF00FF00FF)
    s32 = np.uint64(32)
    s16 = np.uint64(16)
    s8 = np.uint64(8)
    w8 = Rs // 8
    uw8 = np.uint64(w8)
    for i in range(0, R, 8):
        nr = min(8, R - i)
        # diagonals kA .. kE - 1 hold a cell of every row i .. i + 7
        kA = max(kb, i + 7)
        kE = min(ke, i + W)
        kd = kA
        if nr == 8 and _LITTLE:
            while kd + 8 <= kE:
                o = np.uint64((kd - kb) * w8 + i // 8)
                x0 = db64[o]
                x1 = db64[o + uw8]
                x2 = db64[o + np.uint64(2) * uw8]
                x3 = db64[o + np.uint64(3) * uw8]
                x4 = db64[o + np.uint64(4) * uw8]
                x5 = db64[o + np.uint64(5) * uw8]
                x6 = db64[o + np.uint64(6) * uw8]
                x7 = db64[o + np.uint64(7) * uw8]
                x0, x4 = _swap(x0, x4, s32, m32)
                x1, x5 = _swap(x1, x5, s32, m32)
                x2, x6 = _swap(x2, x6, s32, m32)
                x3, x7 = _swap(x3, x7, s32, m32)
                x0, x2 = _swap(x0, x2, s16, m16)
                x1, x3 = _swap(x1, x3, s16, m16)
                x4, x6 = _swap(x4, x6, s16, m16)
                x5, x7 = _swap(x5, x7, s16, m16)
                x0, x1 = _swap(x0, x1, s8, m8)
                x2, x3 = _swap(x2, x3, s8, m8)
                x4, x5 = _swap(x4, x5, s8, m8)
                x6, x7 = _swap(x6, x7, s8, m8)
                # row i + q: its cells of diagonals kd .. kd + 7
                rowo = base + (r0 + i) * W - i + kd
                _store8(dirs, rowo, x0)
                _store8(dirs, rowo + (W - 1), x1)
                _store8(dirs, rowo + 2 * (W - 1), x2)
                _store8(dirs, rowo + 3 * (W - 1), x3)
                _store8(dirs, rowo + 4 * (W - 1), x4)
                _store8(dirs, rowo + 5 * (W - 1), x5)
                _store8(dirs, rowo + 6 * (W - 1), x6)
                _store8(dirs, rowo + 7 * (W - 1), x7)
                kd += 8
            if kA == kb and kd == ke:
                continue  # the blocks wrote every cell of these 8 rows
        else:
            kA = kE  # no block: every cell below
            kd = kE
        for q in range(nr):
            ii = i + q
            k0 = max(kb, ii)
            k1 = min(ke, ii + W)
            rowbase = base + (r0 + ii) * W - ii
            ka = min(kA, k1)  # the blocks wrote diagonals kA .. kd - 1
            for k in range(k0, ka):
                dirs[rowbase + k] = db[(k - kb) * Rs + ii]
            for k in range(max(kd, k0), k1):
                dirs[rowbase + k] = db[(k - kb) * Rs + ii]


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
    Rs = (R + 7) // 8 * 8  # diagonal stride of the direction bytes: 8-byte words per 8 rows
    db64 = np.empty(B * Rs // 8, dtype=np.uint64)
    db = db64.view(np.uint8)
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
        dk = db[(k - kb) * Rs + lo : (k - kb) * Rs + lo + n]
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
            if want_dirs:
                _flush_dirs(db64, db, Rs, kb, ke, R, W, r0, c0, M, dirs)
            if want_full:
                for i in range(R):
                    k0 = max(kb, i)
                    k1 = min(ke, i + W)
                    if k1 <= k0:
                        continue
                    src = (k0 - kb) * R + i
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
