# cython: language_level=3
"""Subsequence DTW accumulated cost, GIL-free with OpenMP.

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
record, per cell, which predecessor gave the minimum (``dirs``, one byte
``(up < diag) + 2 * (left < min(diag, up))``, so 0 diagonal, 1 up, 2 or 3
left; ties prefer diagonal, then up, then left, i.e. the first minimum of
``[diag, up, left]``).  That is exactly the choice a backtracking step makes
at that cell, so paths can be traced from one byte per cell instead of the
8-byte matrix.  The bytes are stored block-major: column block b (columns
c0 = b * block_cols .. c0 + w - 1) is an (M, w) matrix at offset ``c0 * M``,
so the kernel writes rows sequentially and a backtracked path stays within
one or two blocks.

Parallel schedule: the template rows are cut into ``row_blocks`` bands and the
signal into column blocks of ``block_cols``; tile (r, b) needs the last row
of tile (r-1, b) and the last column of tile (r, b-1), so band r processes
column block b as soon as band r - 1 has published it (a pipeline: progress
counters with acquire/release ordering, no barrier).  Boundary rows and
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

from _openmp cimport gf_note_team, gf_omp_num_threads, gf_omp_thread_num, gf_openmp_enabled
include "_omp_probe.pxi"

cdef extern from *:
    const char* GILFREE_SIMD_VARIANT

SIMD_VARIANT = (<bytes>GILFREE_SIMD_VARIANT).decode()
OPENMP = bool(gf_openmp_enabled())

# Progress counters of the pipeline: one writer per counter, readers wait
# until it passes their column block.  Release/acquire ordering makes the
# tile's boundary values visible before its progress is.
# (GCC/Clang builtins or MSVC intrinsics: ext/gf_portable.h)
cdef extern from "gf_portable.h":
    Py_ssize_t gf_dtw_load_acquire "gf_load_acquire_ssize" (const Py_ssize_t* p) noexcept nogil
    void gf_dtw_store_release "gf_store_release_ssize" (Py_ssize_t* p, Py_ssize_t v) noexcept nogil
    void gf_dtw_yield "gf_yield_thread" () noexcept nogil

# Template rows interleaved per pass through a tile (skewed by one column
# each), so that four independent min-add chains are in flight at once.
cdef enum:
    GROUP = 4
    SPIN = 256


# One tile by anti-diagonals (the default): the cells of an anti-diagonal
# (i + j constant) are independent, so the local costs, the minima, the sums
# and the direction bytes of a whole diagonal are computed with vector
# instructions, as in the probe below.  Every cell uses the same expressions
# as _cell (channels in ascending order, no FMA: this module is compiled with
# -ffp-contract=off), so the result is the same bit for bit as row by row.
# Three diagonals are kept, indexed by tile row + 1; index 0 holds the row
# above the tile (``top``) and the first cell of each new diagonal's next row
# the column left of the tile (``left``).  Directions and the full matrix,
# stored row-major, are scattered from a diagonal-sized buffer.
cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #define GF_DTW_DIAG_BLOCK 32
    #if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    #define GF_DTW_BYTE_BLOCKS 0  /* gf_dtw_transpose8 assumes little-endian words */
    #else
    #define GF_DTW_BYTE_BLOCKS 1
    #endif
    /* 8 x 8 bytes transposed in place: byte j of x[r] <-> byte r of x[j] */
    static inline void gf_dtw_transpose8(uint64_t* x) {
        uint64_t t;
        int r;
        for (r = 0; r < 4; r++) {
            t = ((x[r] >> 32) ^ x[r + 4]) & 0x00000000FFFFFFFFull;
            x[r] ^= t << 32; x[r + 4] ^= t;
        }
        for (r = 0; r < 8; r++) {
            if (r & 2) continue;
            t = ((x[r] >> 16) ^ x[r + 2]) & 0x0000FFFF0000FFFFull;
            x[r] ^= t << 16; x[r + 2] ^= t;
        }
        for (r = 0; r < 8; r += 2) {
            t = ((x[r] >> 8) ^ x[r + 1]) & 0x00FF00FF00FF00FFull;
            x[r] ^= t << 8; x[r + 1] ^= t;
        }
    }

    /* rows' cells of diagonals kb .. ke - 1 from the diagonal-major buffers
       (index (k - kb) * R + i) to the row-major outputs, a run of columns per
       row: scattering each diagonal at once would touch a cache line per row
       per cell, all at one stride.  Directions go by 8 x 8 byte blocks
       (8 rows, 8 diagonals) where all 64 cells are in the tile. */
    static void gf_dtw_flush(Py_ssize_t kb, Py_ssize_t ke, Py_ssize_t R, Py_ssize_t W,
                             Py_ssize_t r0, Py_ssize_t c0, Py_ssize_t N,
                             const unsigned char* db, unsigned char* dirs,
                             const double* fb, double* full) {
        Py_ssize_t i, k, q;
        if (full != NULL) {
            for (i = 0; i < R; i++) {
                Py_ssize_t k0 = kb > i ? kb : i, k1 = ke < i + W ? ke : i + W;
                double* frow = full + (r0 + i) * N + c0 - i;
                for (k = k0; k < k1; k++) frow[k] = fb[(k - kb) * R + i];
            }
        }
        if (dirs == NULL) return;
        for (i = 0; i < R; i += 8) {
            const Py_ssize_t nr = R - i < 8 ? R - i : 8;
            /* diagonals kA .. kE - 1 hold a cell of every row i .. i + 7 */
            Py_ssize_t kA = kb > i + 7 ? kb : i + 7, kE = ke < i + W ? ke : i + W, kd = kA;
            if (nr == 8 && GF_DTW_BYTE_BLOCKS) {
                uint64_t x[8];
                for (; kd + 8 <= kE; kd += 8) {
                    for (q = 0; q < 8; q++) memcpy(&x[q], db + (kd + q - kb) * R + i, 8);
                    gf_dtw_transpose8(x);
                    for (q = 0; q < 8; q++)
                        memcpy(dirs + (r0 + i + q) * W - (i + q) + kd, &x[q], 8);
                }
            } else {
                kA = kd = kE;  /* no block: every cell below */
            }
            for (q = 0; q < nr; q++) {
                const Py_ssize_t ii = i + q;
                Py_ssize_t k0 = kb > ii ? kb : ii, k1 = ke < ii + W ? ke : ii + W;
                unsigned char* drow = dirs + (r0 + ii) * W - ii;
                /* the blocks wrote diagonals kA .. kd - 1 */
                const Py_ssize_t ka = kA < k1 ? kA : k1;
                for (k = k0; k < ka; k++) drow[k] = db[(k - kb) * R + ii];
                for (k = kd > k0 ? kd : k0; k < k1; k++) drow[k] = db[(k - kb) * R + ii];
            }
        }
    }

    static int gf_dtw_tile_diag(const double* restrict tT, Py_ssize_t d, Py_ssize_t M,
                                const double* restrict sT, Py_ssize_t N,
                                Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0, Py_ssize_t c1,
                                const double* top, const double* left,
                                double* bottom, double* right,
                                double* full, unsigned char* dirs) {
        const Py_ssize_t R = r1 - r0, W = c1 - c0, B = GF_DTW_DIAG_BLOCK;
        const Py_ssize_t nf = full != NULL ? B * R : 0;
        double* buf = (double*)malloc(sizeof(double) * (4 * (R + 1) + nf) + (size_t)(B * R));
        double *p2, *p1, *cur, *tmp, *fb;
        double* restrict cost;
        unsigned char* db;
        Py_ssize_t k, i, ch, kb = 0;
        if (buf == NULL) return 0;
        p2 = buf; p1 = buf + (R + 1); cur = buf + 2 * (R + 1); cost = buf + 3 * (R + 1);
        fb = buf + 4 * (R + 1);
        db = (unsigned char*)(fb + nf);
        /* diagonals -2 and -1 */
        p2[0] = top[0];
        p1[0] = top[1];
        p1[1] = left[0];
        for (k = 0; k < R + W - 1; k++) {
            const Py_ssize_t lo = k - W + 1 > 0 ? k - W + 1 : 0;
            const Py_ssize_t hi = k < R - 1 ? k : R - 1;
            /* cell (i, k - i): signal column c0 + k - i */
            const double* restrict s = sT + c0 + k;
            const double* restrict tt = tT + r0;
            unsigned char* restrict dk = db + (k - kb) * R;
            for (i = lo; i <= hi; i++) {
                double v = tt[i] - s[-i];
                cost[i] = v * v;
            }
            for (ch = 1; ch < d; ch++) {
                const double* restrict sc = s + ch * N;
                const double* restrict tc = tt + ch * M;
                for (i = lo; i <= hi; i++) {
                    double v = tc[i] - sc[-i];
                    cost[i] = cost[i] + v * v;
                }
            }
            for (i = lo; i <= hi; i++) {
                const double diag = p2[i], up = p1[i], lft = p1[i + 1];
                const double m1 = up < diag ? up : diag;
                const double m = lft < m1 ? lft : m1;
                cur[i + 1] = cost[i] + m;
                dk[i] = (unsigned char)((up < diag) + 2 * (lft < m1));
            }
            if (full != NULL) {
                double* restrict fk = fb + (k - kb) * R;
                for (i = lo; i <= hi; i++) fk[i] = cur[i + 1];
            }
            if (k >= W - 1) right[k - (W - 1)] = cur[k - (W - 1) + 1];
            if (hi == R - 1) bottom[k - (R - 1)] = cur[R];
            if (k + 2 <= W) cur[0] = top[k + 2];
            if (k + 1 < R) cur[k + 2] = left[k + 1];
            tmp = p2; p2 = p1; p1 = cur; cur = tmp;
            if (k + 1 - kb == B || k + 1 == R + W - 1) {
                if (dirs != NULL || full != NULL)
                    gf_dtw_flush(kb, k + 1, R, W, r0, c0, N, db, dirs, fb, full);
                kb = k + 1;
            }
        }
        free(buf);
        return 1;
    }
    """
    int gf_dtw_tile_diag(const double* tT, Py_ssize_t d, Py_ssize_t M, const double* sT,
                         Py_ssize_t N, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0,
                         Py_ssize_t c1, const double* top, const double* left, double* bottom,
                         double* right, double* full, uint8_t* dirs) noexcept nogil


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
                         Py_ssize_t j, double lft) noexcept nogil:
    """One cell: ``pr``/``cr`` are the previous/current row (index k holds
    column c0 - 1 + k), ``lft`` the current row's value at column j - 1;
    the direction goes to ``dr[j]``."""
    cdef double diag = pr[j], up = pr[j + 1], m, v
    cdef uint8_t tu = up < diag, tl
    m = up if up < diag else diag
    tl = lft < m
    m = lft if lft < m else m
    v = cost[j] + m
    cr[j + 1] = v
    if dr != NULL:
        dr[j] = tu + 2 * tl  # branch-free: >= 2 means left
    return v


cdef inline void _costs4(const double* t, Py_ssize_t d, const double* sT, Py_ssize_t N,
                         Py_ssize_t i, Py_ssize_t q, Py_ssize_t c0, Py_ssize_t W,
                         double* kc, double* tmp) noexcept nogil:
    """kc[GROUP * j + q] = local cost of (row i, column c0 + j): computed
    contiguously (vectorised) in ``tmp``, then interleaved."""
    cdef Py_ssize_t j
    _costs(t, d, sT, N, i, c0, W, tmp)
    for j in range(W):
        kc[GROUP * j + q] = tmp[j]


cdef inline double _cell4(const double* p0, double* rb, const double* kc, uint8_t* dd,
                          Py_ssize_t q, Py_ssize_t j, double lft) noexcept nogil:
    """Cell (row q of the group, column j) with the group's rows interleaved:
    rb[GROUP * k + q] is row q at column c0 - 1 + k; row 0's previous row is
    the contiguous ``p0``.  Direction byte to dd[GROUP * j + q]."""
    cdef double diag, up, m1, m, v
    if q == 0:
        diag = p0[j]
        up = p0[j + 1]
    else:
        diag = rb[GROUP * j + q - 1]
        up = rb[GROUP * (j + 1) + q - 1]
    m1 = up if up < diag else diag
    m = lft if lft < m1 else m1
    v = kc[GROUP * j + q] + m
    rb[GROUP * (j + 1) + q] = v
    if dd != NULL:
        dd[GROUP * j + q] = (up < diag) + 2 * (lft < m1)  # branch-free: >= 2 means left
    return v


cdef void _tile(const double* t, const double* tT, Py_ssize_t d, const double* sT,
                Py_ssize_t N, Py_ssize_t M, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0,
                Py_ssize_t c1, const double* top, const double* left, double* bottom,
                double* right, double* full, uint8_t* dirs, double* scratch) noexcept nogil:
    """One tile: rows [r0, r1), columns [c0, c1).

    ``top[k]`` = D[r0-1, c0-1+k] (k = 0..W), ``left[i-r0]`` = D[i, c0-1];
    writes ``bottom[k]`` = D[r1-1, c0+k] (k < W), ``right[i-r0]`` =
    D[i, c1-1], and, when not NULL, ``full`` (M, N) and ``dirs`` (this
    tile's column block is the (M, W) byte matrix at ``dirs + c0 * M``).
    ``scratch`` holds ``_scratch_doubles(W)`` doubles.

    With ``tT`` (the template transposed, (d, M)) the tile is computed by
    anti-diagonals (gf_dtw_tile_diag); without it, or when that cannot
    allocate its diagonals, row by row: rows go in groups of GROUP,
    interleaved in one buffer and skewed by one column each (row q handles
    column s - q at step s), so that GROUP independent min-add chains are in
    flight with few live pointers.  Both give the same values and bytes.
    """
    cdef Py_ssize_t W = c1 - c0, i = r0, j, k, q, s
    cdef double* rb = scratch                        # GROUP * (W + 1)
    cdef double* pv = rb + GROUP * (W + 1)           # W + 1
    cdef double* kc = pv + (W + 1)                   # GROUP * W
    cdef double* tmp = kc + GROUP * W                # W
    cdef uint8_t* dd = <uint8_t*> (tmp + W)          # GROUP * W bytes
    cdef uint8_t* ddp = dd if dirs != NULL else NULL
    cdef const double* prev = top
    cdef double* cur
    cdef uint8_t* drow
    cdef double l0, l1, l2, l3
    cdef double lf[GROUP]
    if tT != NULL and gf_dtw_tile_diag(tT, d, M, sT, N, r0, r1, c0, c1, top, left, bottom,
                                       right, full, NULL if dirs == NULL else dirs + c0 * M):
        return
    while i + GROUP <= r1:
        for q in range(GROUP):
            _costs4(t, d, sT, N, i + q, q, c0, W, kc, tmp)
            lf[q] = left[i + q - r0]
            rb[q] = lf[q]
        for s in range(GROUP - 1):
            for q in range(s + 1):
                if s - q < W:
                    lf[q] = _cell4(prev, rb, kc, ddp, q, s - q, lf[q])
        l0, l1, l2, l3 = lf[0], lf[1], lf[2], lf[3]
        if ddp != NULL:
            for s in range(GROUP - 1, W):
                l0 = _cell4(prev, rb, kc, dd, 0, s, l0)
                l1 = _cell4(prev, rb, kc, dd, 1, s - 1, l1)
                l2 = _cell4(prev, rb, kc, dd, 2, s - 2, l2)
                l3 = _cell4(prev, rb, kc, dd, 3, s - 3, l3)
        else:
            for s in range(GROUP - 1, W):
                l0 = _cell4(prev, rb, kc, NULL, 0, s, l0)
                l1 = _cell4(prev, rb, kc, NULL, 1, s - 1, l1)
                l2 = _cell4(prev, rb, kc, NULL, 2, s - 2, l2)
                l3 = _cell4(prev, rb, kc, NULL, 3, s - 3, l3)
        lf[0], lf[1], lf[2], lf[3] = l0, l1, l2, l3
        s = W if W > GROUP - 1 else GROUP - 1
        while s < W + GROUP - 1:
            for q in range(1, GROUP):
                j = s - q
                if j >= 0 and j < W:
                    lf[q] = _cell4(prev, rb, kc, ddp, q, j, lf[q])
            s += 1
        # de-interleave: boundary column, next group's previous row, outputs
        for q in range(GROUP):
            right[i + q - r0] = rb[GROUP * W + q]
        for k in range(W + 1):
            pv[k] = rb[GROUP * k + GROUP - 1]
        if full != NULL:
            for q in range(GROUP):
                cur = full + (i + q) * N + c0
                for j in range(W):
                    cur[j] = rb[GROUP * (j + 1) + q]
        if dirs != NULL:
            for q in range(GROUP):
                drow = dirs + c0 * M + (i + q) * W
                for j in range(W):
                    drow[j] = dd[GROUP * j + q]
        prev = pv
        i += GROUP
    k = 0
    while i < r1:  # the last rows, one at a time (contiguous buffers in rb)
        cur = rb + (k & 1) * (W + 1)
        _costs(t, d, sT, N, i, c0, W, kc)
        l0 = left[i - r0]
        cur[0] = l0
        drow = NULL if dirs == NULL else dirs + c0 * M + i * W
        for j in range(W):
            l0 = _cell(prev, cur, kc, drow, j, l0)
        right[i - r0] = cur[W]
        if full != NULL:
            memcpy(full + i * N + c0, cur + 1, sizeof(double) * W)
        prev = cur
        i += 1
        k += 1
    memcpy(bottom, prev + 1, sizeof(double) * W)


cdef inline Py_ssize_t _scratch_doubles(Py_ssize_t W) noexcept nogil:
    return GROUP * (W + 1) + (W + 1) + GROUP * W + W + (GROUP * W + 7) // 8


def accumulate(const double[:, ::1] t, const double[:, ::1] sT, double[:, ::1] full,
               double[::1] last, uint8_t[::1] dirs, Py_ssize_t block_cols,
               Py_ssize_t row_blocks, int n_threads):
    """Fill ``last`` (N,) with D[M-1, :], ``full`` (M, N) unless it has shape
    (0, 0), and ``dirs`` (M * N bytes, block-major) unless it is empty.

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
    cdef double* tT = NULL
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
    nscratch = _scratch_doubles(W)
    if full.shape[0] > 0:
        fullp = &full[0, 0]
    if dirs.shape[0] > 0:
        dirp = &dirs[0]
    # the template transposed for the anti-diagonal tiles (NULL: row by row)
    tT = <double*> malloc(sizeof(double) * M * d)
    if tT != NULL:
        for i in range(M):
            for j in range(d):
                tT[j * M + i] = t[i, j]
    hb = <double*> malloc(sizeof(double) * (R + 1) * (N + 1))
    vb = <double*> malloc(sizeof(double) * (nb + 1) * M)
    rows = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (R + 1))
    progress = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * R)
    if hb == NULL or vb == NULL or rows == NULL or progress == NULL:
        free(hb)
        free(vb)
        free(rows)
        free(progress)
        free(tT)
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
                        _tile(&t[0, 0], tT, d, &sT[0, 0], N, M, rows[r], rows[r + 1], c0, c1,
                              hb + r * (N + 1) + c0, vb + b * M + rows[r],
                              hb + (r + 1) * (N + 1) + c0 + 1, vb + (b + 1) * M + rows[r],
                              fullp, dirp, scratch)
                free(scratch)
        else:
            with parallel(num_threads=nt):
                gf_note_team()  # thread-count probe (_openmp.pxd)
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
                            _tile(&t[0, 0], tT, d, &sT[0, 0], N, M, r0, r1, c0, c1,
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
    free(tT)
    if failed:
        raise MemoryError("dtw accumulate: could not allocate a thread's scratch buffer")


cdef extern from *:
    """
    /* The ceiling probe of the DTW kernel: the same arithmetic per cell
       (local cost over d channels, minimum of three neighbours, one add) in
       the simplest loops the compiler vectorises: the matrix by anti-
       diagonals, whose cells are independent (costs, then minima).  tT
       (d, M) is the template transposed, sr (d, W) the signal window
       reversed; diag holds three diagonals of M + 1 values, index i + 1 for
       row i (index 0 is the virtual row above row 0, always 0), and M + 1
       costs.  Returns D[M-1][W-1]. */
    static double gf_dtw_probe(const double* restrict tT, const double* restrict sr,
                               Py_ssize_t d, Py_ssize_t M, Py_ssize_t W,
                               double* restrict diag) {
        double* p2 = diag;
        double* p1 = diag + (M + 1);
        double* cur = diag + 2 * (M + 1);
        double* restrict cost = diag + 3 * (M + 1);
        for (Py_ssize_t i = 0; i < 3 * (M + 1); i++) diag[i] = INFINITY;
        p2[0] = 0.0; p1[0] = 0.0; cur[0] = 0.0;
        for (Py_ssize_t k = 0; k < M + W - 1; k++) {
            Py_ssize_t lo = k - W + 1 > 0 ? k - W + 1 : 0;
            Py_ssize_t hi = k < M - 1 ? k : M - 1;
            const double* restrict s = sr + (W - 1 - k);  /* s[i]: signal at k - i */
            for (Py_ssize_t i = lo; i <= hi; i++) {
                double v = tT[i] - s[i];
                cost[i] = v * v;
            }
            for (Py_ssize_t ch = 1; ch < d; ch++)
                for (Py_ssize_t i = lo; i <= hi; i++) {
                    double v = tT[ch * M + i] - s[ch * W + i];
                    cost[i] = cost[i] + v * v;
                }
            for (Py_ssize_t i = lo; i <= hi; i++) {
                double a = p2[i] < p1[i] ? p2[i] : p1[i];
                a = p1[i + 1] < a ? p1[i + 1] : a;
                cur[i + 1] = cost[i] + a;
            }
            if (hi + 2 <= M) cur[hi + 2] = INFINITY;  /* row hi + 1: not yet on it */
            double* t = p2; p2 = p1; p1 = cur; cur = t;
        }
        return p1[M];
    }
    """
    double gf_dtw_probe(const double* tT, const double* sr, Py_ssize_t d, Py_ssize_t M,
                        Py_ssize_t W, double* diag) noexcept nogil


def probe(const double[:, ::1] tT, const double[:, ::1] sr, Py_ssize_t repeats):
    """The ceiling probe (``gilfree._probes``): the accumulated cost of the
    (M, W) matrix of template ``tT`` (d, M) against the reversed signal
    window ``sr`` (d, W) -- the kernel's arithmetic per cell -- by
    anti-diagonals (independent cells: the loop vectorises), on cache-sized
    data, one thread, ``repeats`` times.  Returns D[M-1, W-1]."""
    cdef Py_ssize_t d = tT.shape[0], M = tT.shape[1], W = sr.shape[1], r
    cdef double res = 0.0
    if sr.shape[0] != d:
        raise ValueError(f"probe: {sr.shape[0]} signal channels for {d} template channels")
    if M == 0 or W == 0:
        return 0.0
    cdef double* diag = <double*> malloc(sizeof(double) * 4 * (M + 1))
    if diag == NULL:
        raise MemoryError("probe: could not allocate the diagonals")
    with nogil:
        for r in range(repeats):
            res = gf_dtw_probe(&tT[0, 0], &sr[0, 0], d, M, W, diag)
    free(diag)
    return res


cdef inline Py_ssize_t _walk(const uint8_t* dirs, Py_ssize_t M, Py_ssize_t N, Py_ssize_t W,
                             Py_ssize_t end, int64_t* out, Py_ssize_t length) noexcept nogil:
    """Trace one path back from (M-1, end) to row 0.  With ``out`` NULL only
    count its cells; else write them as (i, j) pairs in forward order into
    ``out`` (2 * length values).  Returns the number of cells."""
    cdef Py_ssize_t i = M - 1, j = end, n = 0, pos
    cdef Py_ssize_t c0 = (end // W) * W
    cdef Py_ssize_t w = W if c0 + W <= N else N - c0
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
        dr = dirs[c0 * M + i * w + (j - c0)]
        if dr >= 2:
            j -= 1
        elif dr == 1:
            i -= 1
        else:
            i -= 1
            j -= 1
        if j < c0:  # into the previous (full-width) column block
            c0 -= W
            w = W
    return n


def trace_paths(const uint8_t[::1] dirs, Py_ssize_t M, Py_ssize_t block_cols,
                const int64_t[::1] ends, int64_t[::1] lengths, int n_threads):
    """Number of cells of the path ending at (M-1, ends[p]), for every p."""
    cdef Py_ssize_t p, K = ends.shape[0], N = dirs.shape[0] // M
    if K == 0:
        return
    with nogil:
        for p in prange(K, num_threads=n_threads, schedule="dynamic"):
            gf_note_team()  # thread-count probe (_openmp.pxd)
            lengths[p] = _walk(&dirs[0], M, N, block_cols, ends[p], NULL, 0)


def fill_paths(const uint8_t[::1] dirs, Py_ssize_t M, Py_ssize_t block_cols,
               const int64_t[::1] ends, const int64_t[::1] offsets, int64_t[:, ::1] out,
               int n_threads):
    """Write path p's cells, (i, j) from row 0 to row M-1, into
    ``out[offsets[p]:offsets[p + 1]]``."""
    cdef Py_ssize_t p, K = ends.shape[0], N = dirs.shape[0] // M
    if K == 0:
        return
    with nogil:
        for p in prange(K, num_threads=n_threads, schedule="dynamic"):
            gf_note_team()  # thread-count probe (_openmp.pxd)
            _walk(&dirs[0], M, N, block_cols, ends[p], &out[offsets[p], 0],
                  offsets[p + 1] - offsets[p])


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
