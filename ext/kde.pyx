# cython: language_level=3
"""Kernel density sums, GIL-free with OpenMP.

Inputs are prepared once by ``gilfree.kde`` (the public module):

- ``xs`` real (d, n): the samples, transposed (one row per dimension; for
  ``gaussian_kde`` already whitened by the Cholesky factor of the kernel
  covariance).  For the exp-family kernels ``n`` is a multiple of
  ``LANES`` (padding samples carry weight 0, log-weight ``-1e30``);
- ``w`` real (n,): sample weights (``lw``: their logs);
- ``q`` real (m, d): the evaluation points;
- ``c`` real (H,): one rate per bandwidth, ``exp(-c[k] * a)`` with
  ``a = |q - x|^2`` (gaussian) or ``a = |q - x|`` (``sq``, exponential);
- ``out`` float64 (m, H).

``real`` is float or double (the float32 fast mode).  Every sum over
samples is done in one order that does not depend on the thread count: per
point, samples in chunks of ``CHUNK``; within a chunk a fixed number of
independent partial sums (per SIMD variant: ``_tuning.pxd``) combined by a
fixed pairwise tree (``_kde_loops.pxd``); the chunk totals are added in
double precision in chunk order.  Whether a point's chunks run on one thread
or are spread over several (few points, many samples), the numbers are the
same.

``exp`` is ``gf_exp``/``gf_expf`` from ``_vmath.pxd``: pure arithmetic, so
the sample loops vectorise.

Compact kernels (tophat, epanechnikov, linear, cosine) visit only the
samples that can be inside the widest support: the samples come sorted by
the cell of a 2-D grid (cell edge >= the widest bandwidth, over the two axes
of largest spread), and each point scans the runs of cells within
``h_max`` of it along those axes, found with the same monotone floating
formula that assigned the samples to cells (so no sample is missed).
"""

cimport cython
from cython.parallel cimport parallel, prange
from libc.math cimport floor, log, sqrt, sqrtf
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free, malloc

from _openmp cimport gf_note_team, gf_openmp_enabled
include "_omp_probe.pxi"
from _vmath cimport gf_sinhalfpi, gf_sinhalfpif
from _kde_loops cimport (GF_KDE_LANES, gf_kde_exp_chunk_d, gf_kde_exp_chunk_f,
                         gf_kde_lse_chunk_d, gf_kde_lse_chunk_f, gf_kde_max_chunk_d,
                         gf_kde_max_chunk_f, gf_kde_probe_d, gf_kde_probe_f)
from _tuning cimport GF_KDE_ACC_D, GF_KDE_ACC_F, GF_TUNING_LEVEL

import numpy as np

cdef extern from *:
    const char* GILFREE_SIMD_VARIANT

ctypedef fused real:
    float
    double

# Must match gilfree._config.KDE_LANES / KDE_CHUNK / KDE_POINT_BLOCK (and
# GF_KDE_LANES of _kde_loops.pxd, checked at import).
cdef enum:
    LANES = 32
    CHUNK = 4096
    PBLOCK = 32

if GF_KDE_LANES != LANES:
    raise ImportError("ext/_kde_loops.pxd and ext/kde.pyx disagree on the lane count")

SIMD_VARIANT = (<bytes>GILFREE_SIMD_VARIANT).decode()
OPENMP = bool(gf_openmp_enabled())
LANES_ = LANES
CHUNK_ = CHUNK
#: the compiled twins of gilfree._config constants (checked by the engine contract)
CONSTANTS = {"KDE_LANES": LANES, "KDE_CHUNK": CHUNK, "KDE_POINT_BLOCK": PBLOCK}
#: this build's per-variant tuning (must equal gilfree._config.SIMD_TUNING)
TUNING = {"level": (<bytes>GF_TUNING_LEVEL).decode(), "kde_acc_f64": GF_KDE_ACC_D,
          "kde_acc_f32": GF_KDE_ACC_F}

# kernel codes of the compact kernels (gilfree.kde uses the same numbers)
cdef enum:
    K_TOPHAT = 0
    K_EPANECHNIKOV = 1
    K_LINEAR = 2
    K_COSINE = 3


cdef inline real _sqrt(real x) noexcept nogil:
    if real is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline real _sinhalfpi(real y) noexcept nogil:
    if real is float:
        return gf_sinhalfpif(y)
    else:
        return gf_sinhalfpi(y)


cdef inline double _lane_sum(real* acc) noexcept nogil:
    """Sum of LANES partial sums by a fixed pairwise tree (destroys acc)."""
    cdef int width = LANES // 2
    cdef int l
    while width > 0:
        for l in range(width):
            acc[l] = acc[l] + acc[l + width]
        width = width // 2
    return <double>acc[0]


# --------------------------------------------------------------------------
# exp-family kernels: gaussian (scipy and sklearn) and exponential
# (the chunk loops themselves are C: _kde_loops.pxd)
# --------------------------------------------------------------------------

cdef inline void _exp_chunk(const real* xs, const real* w, Py_ssize_t n, Py_ssize_t d,
                            const real* qp, const real* c, Py_ssize_t H, bint sq,
                            Py_ssize_t a, Py_ssize_t b, real* tb,
                            double* dst) noexcept nogil:
    """dst[k] += sum_{a <= i < b} w[i] * exp(-c[k] * a_i), canonical order."""
    if real is float:
        gf_kde_exp_chunk_f(xs, w, n, d, qp, c, H, sq, a, b, tb, dst)
    else:
        gf_kde_exp_chunk_d(xs, w, n, d, qp, c, H, sq, a, b, tb, dst)


cdef inline void _max_chunk(const real* xs, const real* lw, Py_ssize_t n, Py_ssize_t d,
                            const real* qp, const real* c, Py_ssize_t H, bint sq,
                            Py_ssize_t a, Py_ssize_t b, real* tb, real* mx) noexcept nogil:
    """mx[k] = max(mx[k], max_i lw[i] - c[k] * a_i) (log-sum-exp pass 1)."""
    if real is float:
        gf_kde_max_chunk_f(xs, lw, n, d, qp, c, H, sq, a, b, tb, mx)
    else:
        gf_kde_max_chunk_d(xs, lw, n, d, qp, c, H, sq, a, b, tb, mx)


cdef inline void _lse_chunk(const real* xs, const real* lw, Py_ssize_t n, Py_ssize_t d,
                            const real* qp, const real* c, Py_ssize_t H, bint sq,
                            const real* shift, Py_ssize_t a, Py_ssize_t b, real* tb,
                            double* dst) noexcept nogil:
    """dst[k] += sum_i exp(lw[i] - c[k] * a_i - shift[k]) (log-sum-exp pass 2)."""
    if real is float:
        gf_kde_lse_chunk_f(xs, lw, n, d, qp, c, H, sq, shift, a, b, tb, dst)
    else:
        gf_kde_lse_chunk_d(xs, lw, n, d, qp, c, H, sq, shift, a, b, tb, dst)


cdef inline Py_ssize_t _ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return (a + b - 1) // b


def exp_sum(const real[:, ::1] xs, const real[::1] w, const real[:, ::1] q,
            const real[::1] c, bint sq, double[:, ::1] out, int n_threads):
    """out[p, k] = sum_i w[i] * exp(-c[k] * a(p, i)); a = |q_p - x_i|^2, or
    |q_p - x_i| when ``sq``."""
    cdef Py_ssize_t d = xs.shape[0], n = xs.shape[1], m = q.shape[0], H = c.shape[0]
    cdef Py_ssize_t nch, nblk, blk, p, p0, p1, ch, a, b, task, k
    cdef real* tb
    cdef double* parts = NULL
    cdef double s
    cdef int failed = 0
    cdef int* failed_flag = &failed
    if n % LANES:
        raise ValueError(f"exp_sum: the sample count {n} must be padded to a multiple of {LANES}")
    out[:, :] = 0.0
    if m == 0 or H == 0 or n == 0:
        return
    nch = _ceil_div(n, CHUNK)
    nblk = _ceil_div(m, PBLOCK)
    if _few_points(nblk, nch, m, H, n_threads):
        parts = <double*> calloc(m * nch * H, sizeof(double))
        if parts == NULL:
            raise MemoryError("exp_sum: could not allocate the per-chunk partial sums")
    with nogil, parallel(num_threads=n_threads):
        gf_note_team()  # thread-count probe (_openmp.pxd)
        tb = <real*> malloc(sizeof(real) * CHUNK)
        if tb == NULL:
            failed_flag[0] = 1
        elif parts == NULL:
            for blk in prange(nblk, schedule="dynamic"):
                p0 = blk * PBLOCK
                p1 = p0 + PBLOCK if p0 + PBLOCK < m else m
                for ch in range(nch):
                    a = ch * CHUNK
                    b = a + CHUNK if a + CHUNK < n else n
                    for p in range(p0, p1):
                        _exp_chunk(&xs[0, 0], &w[0], n, d, &q[p, 0], &c[0], H, sq,
                                   a, b, tb, &out[p, 0])
        else:
            for task in prange(m * nch, schedule="dynamic"):
                p = task // nch
                ch = task % nch
                a = ch * CHUNK
                b = a + CHUNK if a + CHUNK < n else n
                _exp_chunk(&xs[0, 0], &w[0], n, d, &q[p, 0], &c[0], H, sq,
                           a, b, tb, parts + task * H)
        free(tb)
    if parts != NULL:
        if not failed:
            with nogil:
                for p in range(m):
                    for k in range(H):
                        s = 0.0
                        for ch in range(nch):
                            s = s + parts[(p * nch + ch) * H + k]
                        out[p, k] = s
        free(parts)
    if failed:
        raise MemoryError("exp_sum: could not allocate a thread's work buffer")


cdef inline bint _few_points(Py_ssize_t nblk, Py_ssize_t nch, Py_ssize_t m, Py_ssize_t H,
                             int n_threads) noexcept nogil:
    """Spread each point's chunks over threads when there are too few point
    blocks to keep the threads busy (and the partial sums stay small)."""
    return (n_threads > 1 and nch > 1 and nblk < 4 * n_threads
            and m * nch * H <= (1 << 22))


def exp_logsum(const real[:, ::1] xs, const real[::1] lw, const real[:, ::1] q,
               const real[::1] c, bint sq, double[:, ::1] out, int n_threads):
    """out[p, k] = log sum_i exp(lw[i] - c[k] * a(p, i)), by log-sum-exp with
    the exact per-(point, bandwidth) maximum: finite wherever one term is."""
    cdef Py_ssize_t d = xs.shape[0], n = xs.shape[1], m = q.shape[0], H = c.shape[0]
    cdef Py_ssize_t nch, nblk, blk, p, p0, p1, ch, a, b, k, np_
    cdef real* tb
    cdef real* mx
    cdef double* sums
    cdef int failed = 0
    cdef int* failed_flag = &failed
    if n % LANES:
        raise ValueError(f"exp_logsum: the sample count {n} must be padded to a multiple of {LANES}")
    if m == 0 or H == 0:
        return
    nch = _ceil_div(n, CHUNK)
    nblk = _ceil_div(m, PBLOCK)
    if _few_points(nblk, nch, m, H, n_threads):
        _exp_logsum_few(xs, lw, q, c, sq, out, n_threads)
        return
    with nogil, parallel(num_threads=n_threads):
        gf_note_team()  # thread-count probe (_openmp.pxd)
        tb = <real*> malloc(sizeof(real) * CHUNK)
        # per block: the maxima (the shifts of pass 2), then the sums
        mx = <real*> malloc(sizeof(real) * PBLOCK * H)
        sums = <double*> malloc(sizeof(double) * PBLOCK * H)
        if tb == NULL or mx == NULL or sums == NULL:
            failed_flag[0] = 1
        else:
            for blk in prange(nblk, schedule="dynamic"):
                p0 = blk * PBLOCK
                p1 = p0 + PBLOCK if p0 + PBLOCK < m else m
                np_ = p1 - p0
                for k in range(np_ * H):
                    mx[k] = -1e30
                    sums[k] = 0.0
                for ch in range(nch):
                    a = ch * CHUNK
                    b = a + CHUNK if a + CHUNK < n else n
                    for p in range(p0, p1):
                        _max_chunk(&xs[0, 0], &lw[0], n, d, &q[p, 0], &c[0], H, sq, a, b,
                                   tb, mx + (p - p0) * H)
                for ch in range(nch):
                    a = ch * CHUNK
                    b = a + CHUNK if a + CHUNK < n else n
                    for p in range(p0, p1):
                        _lse_chunk(&xs[0, 0], &lw[0], n, d, &q[p, 0], &c[0], H, sq,
                                   mx + (p - p0) * H, a, b, tb, sums + (p - p0) * H)
                for p in range(p0, p1):
                    for k in range(H):
                        out[p, k] = <double>mx[(p - p0) * H + k] + log(sums[(p - p0) * H + k])
        free(tb)
        free(mx)
        free(sums)
    if failed:
        raise MemoryError("exp_logsum: could not allocate a thread's work buffer")


cdef void _exp_logsum_few(const real[:, ::1] xs, const real[::1] lw, const real[:, ::1] q,
                          const real[::1] c, bint sq, double[:, ::1] out,
                          int n_threads) except *:
    """exp_logsum for a few points: each (point, chunk) pair is a task, so the
    threads share one point's samples.  Bitwise the blocked result: the
    maximum does not depend on order, and the chunks' partial sums are added
    in chunk order starting from zero, as the blocked loop adds them."""
    cdef Py_ssize_t d = xs.shape[0], n = xs.shape[1], m = q.shape[0], H = c.shape[0]
    cdef Py_ssize_t nch = _ceil_div(n, CHUNK)
    cdef Py_ssize_t task, p, ch, a, b, k
    cdef real v
    cdef double s
    cdef real* tb
    cdef int failed = 0
    cdef int* failed_flag = &failed
    cdef real* pmax = <real*> malloc(sizeof(real) * m * nch * H)
    cdef real* shift = <real*> malloc(sizeof(real) * m * H)
    cdef double* parts = <double*> malloc(sizeof(double) * m * nch * H)
    if pmax == NULL or shift == NULL or parts == NULL:
        free(pmax)
        free(shift)
        free(parts)
        raise MemoryError("exp_logsum: could not allocate the per-chunk partial results")
    try:
        # pass 1: each task's maximum over its chunk
        with nogil, parallel(num_threads=n_threads):
            gf_note_team()  # thread-count probe (_openmp.pxd)
            tb = <real*> malloc(sizeof(real) * CHUNK)
            if tb == NULL:
                failed_flag[0] = 1
            else:
                for task in prange(m * nch, schedule="dynamic"):
                    p = task // nch
                    ch = task % nch
                    a = ch * CHUNK
                    b = a + CHUNK if a + CHUNK < n else n
                    for k in range(H):
                        pmax[task * H + k] = -1e30
                    _max_chunk(&xs[0, 0], &lw[0], n, d, &q[p, 0], &c[0], H, sq, a, b, tb,
                               pmax + task * H)
            free(tb)
        if failed:
            raise MemoryError("exp_logsum: could not allocate a thread's work buffer")
        with nogil:
            for p in range(m):
                for k in range(H):
                    v = pmax[p * nch * H + k]
                    for ch in range(1, nch):
                        if pmax[(p * nch + ch) * H + k] > v:
                            v = pmax[(p * nch + ch) * H + k]
                    shift[p * H + k] = v
        # pass 2: each task's shifted sum over its chunk
        with nogil, parallel(num_threads=n_threads):
            gf_note_team()  # thread-count probe (_openmp.pxd)
            tb = <real*> malloc(sizeof(real) * CHUNK)
            if tb == NULL:
                failed_flag[0] = 1
            else:
                for task in prange(m * nch, schedule="dynamic"):
                    p = task // nch
                    ch = task % nch
                    a = ch * CHUNK
                    b = a + CHUNK if a + CHUNK < n else n
                    for k in range(H):
                        parts[task * H + k] = 0.0
                    _lse_chunk(&xs[0, 0], &lw[0], n, d, &q[p, 0], &c[0], H, sq,
                               shift + p * H, a, b, tb, parts + task * H)
            free(tb)
        if failed:
            raise MemoryError("exp_logsum: could not allocate a thread's work buffer")
        with nogil:
            for p in range(m):
                for k in range(H):
                    s = 0.0
                    for ch in range(nch):
                        s = s + parts[(p * nch + ch) * H + k]
                    out[p, k] = <double>shift[p * H + k] + log(s)
    finally:
        free(pmax)
        free(shift)
        free(parts)


def probe(const real[:, ::1] xs, const real[::1] w, const real[:, ::1] q, double ck,
          bint sq, Py_ssize_t repeats):
    """The ceiling probe of the exp-family kernels (``gilfree._probes``):
    ``sum_i w[i] * exp(ck * a(p, i))`` for every point p, ``a`` as in
    ``exp_sum``, with the same arithmetic per pair in the simplest loop the
    compiler vectorises; one thread, ``repeats`` passes over the same data
    (sized to stay in cache).  d <= 3.  Returns the last pass's sums (m,)."""
    cdef Py_ssize_t d = xs.shape[0], n = xs.shape[1], m = q.shape[0], p, r
    if not 1 <= d <= 3:
        raise ValueError(f"probe: the dimension must be 1, 2 or 3; got {d}")
    if q.shape[1] != d or w.shape[0] != n:
        raise ValueError(f"probe: points {q.shape[1]}-D, weights ({w.shape[0]},) for "
                         f"samples of shape ({d}, {n})")
    res = np.zeros(m, dtype=np.float64)
    cdef double[::1] rv = res
    if n == 0 or m == 0:
        return res
    with nogil:
        for r in range(repeats):
            for p in range(m):
                if real is float:
                    rv[p] = gf_kde_probe_f(&xs[0, 0], &w[0], n, d, &q[p, 0], <float>ck, sq, n)
                else:
                    rv[p] = gf_kde_probe_d(&xs[0, 0], &w[0], n, d, &q[p, 0], ck, sq, n)
    return res


# --------------------------------------------------------------------------
# compact kernels with grid pruning
# --------------------------------------------------------------------------

cdef inline void _compact_block(const real* xs, const real* w, Py_ssize_t n, Py_ssize_t d,
                                const real* qp, Py_ssize_t i0, int cnt, int kernel,
                                const real* thr, const real* inv_h, Py_ssize_t H,
                                real* acc) noexcept nogil:
    """acc[k*LANES + l] += term of sample i0 + l (l < cnt) for bandwidth k.

    A sample counts when t < thr[k] (t the squared distance; thr[k] is the
    least t whose correctly rounded square root reaches h[k], so this is
    exactly sklearn's ``dist < h``)."""
    cdef real t[LANES]
    cdef real r[LANES]
    cdef Py_ssize_t c, k
    cdef int l
    cdef real qc, v, tk, ik, u
    cdef const real* row
    cdef real* ak
    for l in range(LANES):
        t[l] = 0
    for c in range(d):
        qc = qp[c]
        row = xs + c * n + i0
        for l in range(cnt):
            v = qc - row[l]
            t[l] = t[l] + v * v
    if kernel == K_LINEAR or kernel == K_COSINE:
        for l in range(cnt):
            r[l] = _sqrt(t[l])
    for k in range(H):
        tk = thr[k]
        ik = inv_h[k]
        ak = acc + k * LANES
        if kernel == K_TOPHAT:
            for l in range(cnt):
                ak[l] = ak[l] + (w[i0 + l] if t[l] < tk else 0)
        elif kernel == K_EPANECHNIKOV:
            for l in range(cnt):
                u = w[i0 + l] * (1 - t[l] * ik)
                ak[l] = ak[l] + (u if t[l] < tk else 0)
        elif kernel == K_LINEAR:
            for l in range(cnt):
                u = w[i0 + l] * (1 - r[l] * ik)
                ak[l] = ak[l] + (u if t[l] < tk else 0)
        else:
            for l in range(cnt):
                u = 1 - r[l] * ik
                u = u if u > 0 else 0
                u = w[i0 + l] * _sinhalfpi(u)
                ak[l] = ak[l] + (u if t[l] < tk else 0)


cdef inline Py_ssize_t _cell(double v, double o, double inv_s, Py_ssize_t ncell) noexcept nogil:
    """floor((v - o) * inv_s) clamped to [-1, ncell] (monotone in v)."""
    cdef double f = floor((v - o) * inv_s)
    if f < -1:
        return -1
    if f > ncell:
        return ncell
    return <Py_ssize_t>f


def compact_sum(const real[:, ::1] xs, const real[::1] w, const int64_t[::1] cell_start,
                const double[::1] grid, Py_ssize_t ax0, Py_ssize_t ax1, Py_ssize_t nx,
                Py_ssize_t ny, const real[:, ::1] q, const real[::1] thr,
                const real[::1] inv_h, int kernel, double[:, ::1] out, int n_threads):
    """out[p, k] = sum_i w[i] * K_k(|q_p - x_i|) over samples with dist < h[k].

    ``xs``/``w`` sorted by grid cell ``gx * ny + gy`` with
    ``gx = floor((x[ax0] - grid[0]) * grid[2])`` (``gy`` likewise on ``ax1``
    with ``grid[1]``; ``ny == 1`` when d == 1); ``cell_start`` (nx * ny + 1)
    the first sample of every cell.  ``grid[3]`` is the half width of the
    window each point scans along both axes (the widest bandwidth, widened
    by a small margin).  K: 0 tophat (1), 1 epanechnikov (1 - t/h^2),
    2 linear (1 - r/h), 3 cosine (cos(pi r / 2h)).
    """
    cdef Py_ssize_t d = xs.shape[0], n = xs.shape[1], m = q.shape[0], H = thr.shape[0]
    cdef Py_ssize_t p, k, gx, gx0, gx1, gy0, gy1, a, b, i0
    cdef double o0 = grid[0], o1 = grid[1], inv_s = grid[2], reach = grid[3], v
    cdef real* acc
    cdef int failed = 0
    cdef int* failed_flag = &failed
    if m == 0 or H == 0:
        return
    if cell_start.shape[0] != nx * ny + 1:
        raise ValueError("compact_sum: cell_start must have nx * ny + 1 entries")
    with nogil, parallel(num_threads=n_threads):
        gf_note_team()  # thread-count probe (_openmp.pxd)
        acc = <real*> malloc(sizeof(real) * H * LANES)
        if acc == NULL:
            failed_flag[0] = 1
        else:
            for p in prange(m, schedule="dynamic", chunksize=16):
                for k in range(H * LANES):
                    acc[k] = 0
                v = q[p, ax0]
                gx0 = _cell(v - reach, o0, inv_s, nx)
                gx1 = _cell(v + reach, o0, inv_s, nx)
                if ny > 1:
                    v = q[p, ax1]
                    gy0 = _cell(v - reach, o1, inv_s, ny)
                    gy1 = _cell(v + reach, o1, inv_s, ny)
                else:
                    gy0 = 0
                    gy1 = 0
                gx0 = gx0 if gx0 > 0 else 0
                gy0 = gy0 if gy0 > 0 else 0
                gx1 = gx1 if gx1 < nx - 1 else nx - 1
                gy1 = gy1 if gy1 < ny - 1 else ny - 1
                if gx0 <= gx1 and gy0 <= gy1:
                    for gx in range(gx0, gx1 + 1):
                        a = cell_start[gx * ny + gy0]
                        b = cell_start[gx * ny + gy1 + 1]
                        i0 = a
                        while i0 + LANES <= b:
                            _compact_block(&xs[0, 0], &w[0], n, d, &q[p, 0], i0, LANES,
                                           kernel, &thr[0], &inv_h[0], H, acc)
                            i0 = i0 + LANES
                        if i0 < b:
                            _compact_block(&xs[0, 0], &w[0], n, d, &q[p, 0], i0,
                                           <int>(b - i0), kernel, &thr[0], &inv_h[0], H, acc)
                for k in range(H):
                    out[p, k] = _lane_sum(acc + k * LANES)
        free(acc)
    if failed:
        raise MemoryError("compact_sum: could not allocate a thread's work buffer")
