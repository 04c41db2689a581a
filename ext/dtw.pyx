# cython: language_level=3
"""Subsequence DTW accumulated cost, GIL-free with OpenMP (KERNELS.md 6).

Inputs are prepared once by ``gilfree.dtw``:

- ``t``   float64 (M, d): the template, one row per template sample;
- ``sT``  float64 (d, N): the signal, transposed (one row per channel), so
  that the local costs of one template row are computed in a vectorisable
  loop over contiguous signal samples.

Recurrence (free start, free end)::

    c(i, j)  = sum_k (t[i, k] - s[j, k])**2         (k ascending, no FMA)
    D[i, j]  = c(i, j) + min(D[i-1, j-1], D[i-1, j], D[i, j-1])
    D[-1, j] = 0 (virtual row),  D[i, -1] = +inf (virtual column), D[-1, -1] = 0

Besides ``D`` (optional: ``full``) and its last row (``last``), the kernel can
record, per cell, which predecessor gave the minimum (``dirs``: 0 diagonal,
1 up, 2 left; ties prefer diagonal, then up, then left, i.e. the first
minimum of ``[diag, up, left]``).  That is exactly the choice a backtracking
step makes at that cell, so paths can be traced from one byte per cell
instead of the 8-byte matrix.

Parallel schedule: the template rows are cut into ``row_blocks`` bands and the
signal into column blocks of ``block_cols``; tile (r, b) needs the last row
of tile (r-1, b) and the last column of tile (r, b-1), so all tiles with the
same ``r + b`` run at once (an anti-diagonal wavefront).  Boundary rows and
columns live in buffers that each tile reads from and writes its own slice
of; no two concurrent tiles touch the same cell.  Every cell is computed by
the same expression whatever the tiling, so the result does not depend on
the thread count, bit for bit.
"""

cimport cython
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from _openmp cimport gf_openmp_enabled

cdef extern from *:
    const char* GILFREE_SIMD_VARIANT

SIMD_VARIANT = (<bytes>GILFREE_SIMD_VARIANT).decode()
OPENMP = bool(gf_openmp_enabled())


cdef int _tile(const double* t, Py_ssize_t d, const double* sT, Py_ssize_t N,
               Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0, Py_ssize_t c1,
               const double* top, const double* left, double* bottom, double* right,
               double* full, uint8_t* dirs) noexcept nogil:
    """One tile: rows [r0, r1), columns [c0, c1).

    ``top[k]`` = D[r0-1, c0-1+k] (k = 0..W), ``left[i-r0]`` = D[i, c0-1];
    writes ``bottom[k]`` = D[r1-1, c0+k] (k = 0..W-1), ``right[i-r0]`` =
    D[i, c1-1], and, when not NULL, ``full`` (M, N) and ``dirs`` (M, N).
    Returns -1 when its scratch memory cannot be allocated.
    """
    cdef Py_ssize_t W = c1 - c0
    cdef Py_ssize_t i, j, k
    cdef double* buf = <double*> malloc(sizeof(double) * (3 * W + 2))
    cdef double* cost
    cdef double* cur
    cdef const double* prev
    cdef const double* srow
    cdef uint8_t* drow
    cdef double tik, diff, diag, up, lft, m
    cdef uint8_t dr
    if buf == NULL:
        return -1
    cost = buf + 2 * (W + 1)
    prev = top
    for i in range(r0, r1):
        # local costs of template row i against signal columns c0..c1-1
        tik = t[i * d]
        srow = sT + c0
        for j in range(W):
            diff = tik - srow[j]
            cost[j] = diff * diff
        for k in range(1, d):
            tik = t[i * d + k]
            srow = sT + k * N + c0
            for j in range(W):
                diff = tik - srow[j]
                cost[j] = cost[j] + diff * diff
        cur = buf + ((i - r0) & 1) * (W + 1)
        cur[0] = left[i - r0]
        if dirs != NULL:
            drow = dirs + i * N + c0
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
                drow[j] = dr
        else:
            for j in range(W):
                diag = prev[j]
                up = prev[j + 1]
                m = up if up < diag else diag
                lft = cur[j]
                m = lft if lft < m else m
                cur[j + 1] = cost[j] + m
        right[i - r0] = cur[W]
        if full != NULL:
            memcpy(full + i * N + c0, cur + 1, sizeof(double) * W)
        prev = cur
    memcpy(bottom, prev + 1, sizeof(double) * W)
    free(buf)
    return 0


def accumulate(const double[:, ::1] t, const double[:, ::1] sT, double[:, ::1] full,
               double[::1] last, uint8_t[:, ::1] dirs, Py_ssize_t block_cols,
               Py_ssize_t row_blocks, int n_threads):
    """Fill ``last`` (N,) with D[M-1, :], and ``full`` (M, N) / ``dirs`` (M, N)
    unless they are given with shape (0, 0)."""
    cdef Py_ssize_t M = t.shape[0], d = t.shape[1], N = sT.shape[1]
    cdef Py_ssize_t W = block_cols, R = row_blocks
    cdef Py_ssize_t nb, step, r, b, j, i, c0, c1, r0, r1
    cdef double* hb
    cdef double* vb
    cdef Py_ssize_t* rows
    cdef double* fullp = NULL
    cdef uint8_t* dirp = NULL
    cdef int failed = 0
    cdef int* failed_flag = &failed
    cdef int nt
    if M == 0 or N == 0:
        return
    if W < 1:
        W = 1
    if R < 1:
        R = 1
    if R > M:
        R = M
    nb = (N + W - 1) // W
    if full.shape[0] > 0:
        fullp = &full[0, 0]
    if dirs.shape[0] > 0:
        dirp = &dirs[0, 0]
    hb = <double*> malloc(sizeof(double) * (R + 1) * (N + 1))
    vb = <double*> malloc(sizeof(double) * (nb + 1) * M)
    rows = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (R + 1))
    if hb == NULL or vb == NULL or rows == NULL:
        free(hb)
        free(vb)
        free(rows)
        raise MemoryError("dtw accumulate: could not allocate the wavefront boundary buffers")
    nt = n_threads if n_threads < R else <int> R
    with nogil:
        for r in range(R + 1):
            rows[r] = (r * M) // R
        for j in range(N + 1):
            hb[j] = 0.0  # virtual row before template sample 0: free start
        for r in range(1, R + 1):
            hb[r * (N + 1)] = INFINITY  # virtual column before signal sample 0
        for i in range(M):
            vb[i] = INFINITY
        for step in range(R + nb - 1):
            if nt <= 1:
                for r in range(R):
                    b = step - r
                    if b < 0 or b >= nb:
                        continue
                    c0 = b * W
                    c1 = c0 + W if c0 + W < N else N
                    if _tile(&t[0, 0], d, &sT[0, 0], N, rows[r], rows[r + 1], c0, c1,
                             hb + r * (N + 1) + c0, vb + b * M + rows[r],
                             hb + (r + 1) * (N + 1) + c0 + 1, vb + (b + 1) * M + rows[r],
                             fullp, dirp) != 0:
                        failed = 1
            else:
                for r in prange(R, num_threads=nt, schedule="static"):
                    b = step - r
                    if b >= 0 and b < nb:
                        c0 = b * W
                        c1 = c0 + W if c0 + W < N else N
                        r0 = rows[r]
                        r1 = rows[r + 1]
                        if _tile(&t[0, 0], d, &sT[0, 0], N, r0, r1, c0, c1,
                                 hb + r * (N + 1) + c0, vb + b * M + r0,
                                 hb + (r + 1) * (N + 1) + c0 + 1, vb + (b + 1) * M + r0,
                                 fullp, dirp) != 0:
                            failed_flag[0] = 1
        if not failed:
            memcpy(&last[0], hb + R * (N + 1) + 1, sizeof(double) * N)
    free(hb)
    free(vb)
    free(rows)
    if failed:
        raise MemoryError("dtw accumulate: could not allocate a tile's scratch buffer")


cdef inline Py_ssize_t _walk(const uint8_t[:, ::1] dirs, Py_ssize_t end,
                             int64_t* out, Py_ssize_t length) noexcept nogil:
    """Trace one path back from (M-1, end) to row 0.  With ``out`` NULL only
    count its cells; else write them as (i, j) pairs in forward order into
    ``out`` (2 * length values).  Returns the number of cells."""
    cdef Py_ssize_t i = dirs.shape[0] - 1, j = end, n = 0, pos
    cdef uint8_t dr
    while True:
        if out != NULL:
            pos = length - 1 - n
            out[2 * pos] = i
            out[2 * pos + 1] = j
        n += 1
        if i == 0:
            break
        if j == 0:
            i -= 1
            continue
        dr = dirs[i, j]
        if dr == 0:
            i -= 1
            j -= 1
        elif dr == 1:
            i -= 1
        else:
            j -= 1
    return n


def trace_paths(const uint8_t[:, ::1] dirs, const int64_t[::1] ends, int64_t[::1] lengths,
                int n_threads):
    """Number of cells of the path ending at (M-1, ends[p]), for every p."""
    cdef Py_ssize_t p, K = ends.shape[0]
    if K == 0:
        return
    with nogil:
        for p in prange(K, num_threads=n_threads, schedule="dynamic"):
            lengths[p] = _walk(dirs, ends[p], NULL, 0)


def fill_paths(const uint8_t[:, ::1] dirs, const int64_t[::1] ends, const int64_t[::1] offsets,
               int64_t[:, ::1] out, int n_threads):
    """Write path p's cells, (i, j) from row 0 to row M-1, into
    ``out[offsets[p]:offsets[p + 1]]``."""
    cdef Py_ssize_t p, K = ends.shape[0]
    if K == 0:
        return
    with nogil:
        for p in prange(K, num_threads=n_threads, schedule="dynamic"):
            _walk(dirs, ends[p], &out[offsets[p], 0], offsets[p + 1] - offsets[p])
