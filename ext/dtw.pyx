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
record, per cell, which predecessor gave the minimum (``dirs``, stored
transposed as (N, M): 0 diagonal,
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
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from _openmp cimport gf_omp_num_threads, gf_omp_thread_num, gf_openmp_enabled

cdef extern from *:
    const char* GILFREE_SIMD_VARIANT

SIMD_VARIANT = (<bytes>GILFREE_SIMD_VARIANT).decode()
OPENMP = bool(gf_openmp_enabled())

# Progress counters of the pipeline: one writer per counter, readers wait
# until it passes their column block.  Release/acquire ordering makes the
# tile's boundary values visible before its progress is.
cdef extern from *:
    """
    #include <sched.h>
    static inline Py_ssize_t gf_dtw_load_acquire(const Py_ssize_t* p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
    static inline void gf_dtw_store_release(Py_ssize_t* p, Py_ssize_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELEASE);
    }
    static inline void gf_dtw_yield(void) { sched_yield(); }
    """
    Py_ssize_t gf_dtw_load_acquire(const Py_ssize_t* p) noexcept nogil
    void gf_dtw_store_release(Py_ssize_t* p, Py_ssize_t v) noexcept nogil
    void gf_dtw_yield() noexcept nogil

# Template rows interleaved per pass through a tile (skewed by one column
# each), so that four independent min-add chains are in flight at once.
cdef enum:
    GROUP = 4
    SPIN = 256


cdef inline void _costs(const double* t, Py_ssize_t d, const double* sT, Py_ssize_t N,
                        Py_ssize_t i, Py_ssize_t c0, Py_ssize_t W, double* cost) noexcept nogil:
    """cost[j] = sum_k (t[i, k] - s[c0 + j, k])**2, channels in order."""
    cdef Py_ssize_t j, k
    cdef double tik = t[i * d], diff
    cdef const double* srow = sT + c0
    for j in range(W):
        diff = tik - srow[j]
        cost[j] = diff * diff
    for k in range(1, d):
        tik = t[i * d + k]
        srow = sT + k * N + c0
        for j in range(W):
            diff = tik - srow[j]
            cost[j] = cost[j] + diff * diff


cdef inline double _cell(const double* pr, double* cr, const double* cost, uint8_t* dr,
                         Py_ssize_t ds, Py_ssize_t j, double lft) noexcept nogil:
    """One cell: ``pr``/``cr`` are the previous/current row (index k holds
    column c0 - 1 + k), ``lft`` the current row's value at column j - 1;
    the direction goes to ``dr[j * ds]``."""
    cdef double diag = pr[j], up = pr[j + 1], m, v
    cdef bint tu = up < diag, tl
    m = up if tu else diag
    tl = lft < m
    m = lft if tl else m
    v = cost[j] + m
    cr[j + 1] = v
    if dr != NULL:
        dr[j * ds] = 2 if tl else <uint8_t> tu
    return v


cdef void _tile(const double* t, Py_ssize_t d, const double* sT, Py_ssize_t N, Py_ssize_t M,
                Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0, Py_ssize_t c1,
                const double* top, const double* left, double* bottom, double* right,
                double* full, uint8_t* dirs, double* scratch) noexcept nogil:
    """One tile: rows [r0, r1), columns [c0, c1).

    ``top[k]`` = D[r0-1, c0-1+k] (k = 0..W), ``left[i-r0]`` = D[i, c0-1];
    writes ``bottom[k]`` = D[r1-1, c0+k] (k < W), ``right[i-r0]`` =
    D[i, c1-1], and, when not NULL, ``full`` (M, N) and ``dirs`` (N, M):
    directions are stored signal-major, so that a backtracked path, which
    moves at most one signal column per step, reads nearby bytes.
    ``scratch`` holds 2 * GROUP * (W + 1) + GROUP * W doubles.
    """
    cdef Py_ssize_t W = c1 - c0, i = r0, j, q, s, g = 0
    cdef double* rows = scratch  # 2 * GROUP row buffers of W + 1
    cdef double* cost = scratch + 2 * GROUP * (W + 1)  # GROUP rows of W
    cdef const double* prev = top
    cdef double* cr[GROUP]
    cdef const double* pr[GROUP]
    cdef const double* cq[GROUP]
    cdef uint8_t* dq[GROUP]
    cdef double lft[GROUP]
    while i + GROUP <= r1:
        for q in range(GROUP):
            cr[q] = rows + ((g & 1) * GROUP + q) * (W + 1)
            pr[q] = prev if q == 0 else cr[q - 1]
            cq[q] = cost + q * W
            dq[q] = NULL if dirs == NULL else dirs + c0 * M + (i + q)
            _costs(t, d, sT, N, i + q, c0, W, cost + q * W)
            lft[q] = left[i + q - r0]
            cr[q][0] = lft[q]
        # row q handles column s - q at step s
        for s in range(GROUP - 1):
            for q in range(s + 1):
                if s - q < W:
                    lft[q] = _cell(pr[q], cr[q], cq[q], dq[q], M, s - q, lft[q])
        for s in range(GROUP - 1, W):
            lft[0] = _cell(pr[0], cr[0], cq[0], dq[0], M, s, lft[0])
            lft[1] = _cell(pr[1], cr[1], cq[1], dq[1], M, s - 1, lft[1])
            lft[2] = _cell(pr[2], cr[2], cq[2], dq[2], M, s - 2, lft[2])
            lft[3] = _cell(pr[3], cr[3], cq[3], dq[3], M, s - 3, lft[3])
        s = W if W > GROUP - 1 else GROUP - 1
        while s < W + GROUP - 1:
            for q in range(GROUP):
                j = s - q
                if j >= 0 and j < W:
                    lft[q] = _cell(pr[q], cr[q], cq[q], dq[q], M, j, lft[q])
            s += 1
        for q in range(GROUP):
            right[i + q - r0] = cr[q][W]
            if full != NULL:
                memcpy(full + (i + q) * N + c0, cr[q] + 1, sizeof(double) * W)
        prev = cr[GROUP - 1]
        i += GROUP
        g += 1
    while i < r1:  # the last rows, one at a time
        cr[0] = rows + ((g & 1) * GROUP) * (W + 1)
        _costs(t, d, sT, N, i, c0, W, cost)
        lft[0] = left[i - r0]
        cr[0][0] = lft[0]
        dq[0] = NULL if dirs == NULL else dirs + c0 * M + i
        for j in range(W):
            lft[0] = _cell(prev, cr[0], cost, dq[0], M, j, lft[0])
        right[i - r0] = cr[0][W]
        if full != NULL:
            memcpy(full + i * N + c0, cr[0] + 1, sizeof(double) * W)
        prev = cr[0]
        i += 1
        g += 1
    memcpy(bottom, prev + 1, sizeof(double) * W)


def accumulate(const double[:, ::1] t, const double[:, ::1] sT, double[:, ::1] full,
               double[::1] last, uint8_t[:, ::1] dirs, Py_ssize_t block_cols,
               Py_ssize_t row_blocks, int n_threads):
    """Fill ``last`` (N,) with D[M-1, :], and ``full`` (M, N) / ``dirs`` (N, M)
    unless they are given with shape (0, 0).

    Row block r is processed left to right by one thread; before tile
    (r, b) it waits until row block r - 1 has published column block b
    (a pipeline: no barrier, a thread only ever waits for the band above).
    """
    cdef Py_ssize_t M = t.shape[0], d = t.shape[1], N = sT.shape[1]
    cdef Py_ssize_t W = block_cols, R = row_blocks
    cdef Py_ssize_t nb, r, b, j, i, c0, c1, r0, r1, spins, nscratch
    cdef int tid, team
    cdef double* hb
    cdef double* vb
    cdef double* scratch
    cdef Py_ssize_t* rows
    cdef Py_ssize_t* progress
    cdef double* fullp = NULL
    cdef uint8_t* dirp = NULL
    cdef int failed = 0
    cdef int* failed_flag = &failed
    cdef int nt
    if M == 0 or N == 0:
        return
    if W < 1:
        W = 1
    if W > N:
        W = N
    if R < 1:
        R = 1
    if R > M:
        R = M
    nb = (N + W - 1) // W
    nscratch = 2 * GROUP * (W + 1) + GROUP * W
    if full.shape[0] > 0:
        fullp = &full[0, 0]
    if dirs.shape[0] > 0:
        dirp = &dirs[0, 0]
    hb = <double*> malloc(sizeof(double) * (R + 1) * (N + 1))
    vb = <double*> malloc(sizeof(double) * (nb + 1) * M)
    rows = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (R + 1))
    progress = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * R)
    if hb == NULL or vb == NULL or rows == NULL or progress == NULL:
        free(hb)
        free(vb)
        free(rows)
        free(progress)
        raise MemoryError("dtw accumulate: could not allocate the wavefront boundary buffers")
    nt = n_threads if n_threads < R else <int> R
    with nogil:
        for r in range(R + 1):
            rows[r] = (r * M) // R
        for r in range(R):
            progress[r] = 0
        for j in range(N + 1):
            hb[j] = 0.0  # virtual row before template sample 0: free start
        for r in range(1, R + 1):
            hb[r * (N + 1)] = INFINITY  # virtual column before signal sample 0
        for i in range(M):
            vb[i] = INFINITY
        if nt <= 1:
            scratch = <double*> malloc(sizeof(double) * nscratch)
            if scratch == NULL:
                failed = 1
            else:
                for b in range(nb):
                    c0 = b * W
                    c1 = c0 + W if c0 + W < N else N
                    for r in range(R):
                        _tile(&t[0, 0], d, &sT[0, 0], N, M, rows[r], rows[r + 1], c0, c1,
                              hb + r * (N + 1) + c0, vb + b * M + rows[r],
                              hb + (r + 1) * (N + 1) + c0 + 1, vb + (b + 1) * M + rows[r],
                              fullp, dirp, scratch)
                free(scratch)
        else:
            with parallel(num_threads=nt):
                tid = gf_omp_thread_num()
                team = gf_omp_num_threads()
                scratch = <double*> malloc(sizeof(double) * nscratch)
                if scratch == NULL:
                    failed_flag[0] = 1
                # row blocks tid, tid + team, ...: each waits only on lower
                # row blocks, so any team size finishes
                r = tid
                while r < R:
                    r0 = rows[r]
                    r1 = rows[r + 1]
                    for b in range(nb):
                        if r > 0:
                            spins = 0
                            while gf_dtw_load_acquire(&progress[r - 1]) <= b:
                                spins = spins + 1
                                if spins > SPIN:
                                    gf_dtw_yield()
                        if scratch != NULL:
                            c0 = b * W
                            c1 = c0 + W if c0 + W < N else N
                            _tile(&t[0, 0], d, &sT[0, 0], N, M, r0, r1, c0, c1,
                                  hb + r * (N + 1) + c0, vb + b * M + r0,
                                  hb + (r + 1) * (N + 1) + c0 + 1, vb + (b + 1) * M + r0,
                                  fullp, dirp, scratch)
                        gf_dtw_store_release(&progress[r], b + 1)
                    r = r + team
                free(scratch)
        if not failed:
            memcpy(&last[0], hb + R * (N + 1) + 1, sizeof(double) * N)
    free(hb)
    free(vb)
    free(rows)
    free(progress)
    if failed:
        raise MemoryError("dtw accumulate: could not allocate a thread's scratch buffer")


cdef inline Py_ssize_t _walk(const uint8_t[:, ::1] dirs, Py_ssize_t end,
                             int64_t* out, Py_ssize_t length) noexcept nogil:
    """Trace one path back from (M-1, end) to row 0.  With ``out`` NULL only
    count its cells; else write them as (i, j) pairs in forward order into
    ``out`` (2 * length values).  Returns the number of cells."""
    cdef Py_ssize_t i = dirs.shape[1] - 1, j = end, n = 0, pos
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
        dr = dirs[j, i]
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


def select_by_distance(const int64_t[::1] peaks, const int64_t[::1] order, int64_t distance,
                       uint8_t[::1] keep):
    """``find_peaks(distance=...)``'s rule: visit peaks by decreasing priority
    (``order`` = argsort of the priorities, visited from its end); a kept
    peak removes every neighbour closer than ``distance`` samples."""
    cdef Py_ssize_t K = peaks.shape[0], ii, j, k
    with nogil:
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
