# cython: language_level=3
"""Hypercube Parzen-window counts, GIL-free with OpenMP (KERNELS.md 1).

Inputs are prepared once by ``gilfree.parzen``:

- ``xs``  float64 (d, n): the samples, transposed (one row per dimension)
  and sorted ascending along dimension ``key``;
- ``q``   float64 (m, d): the query points;
- ``hw``  float64 (H,): half widths ``0.5 * h``, sorted ascending;
- ``w``   float64 (n,): weights in the samples' sorted order (weighted only).

A sample is inside the window of half width ``hw[k]`` around a point when
``abs(q[c] - x[c]) <= hw[k]`` for every dimension ``c``: equivalently when
``r = max_c abs(q[c] - x[c]) <= hw[k]``.  Each (point, sample) pair costs one
``r`` and one binary search over the sorted widths; only samples whose key
coordinate passes the widest window are visited (found by binary search on
the sorted key row, using the same floating-point comparison, so the pruning
is exact).  Outputs are cumulative counts per *sorted* width.
"""

cimport cython
from cython.parallel cimport parallel, prange
from libc.math cimport fabs
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

from _openmp cimport gf_openmp_enabled

cdef extern from *:
    const char* GILFREE_SIMD_VARIANT

# Samples handled per inner block: r for the block is computed in a tight,
# vectorisable loop, then binned (the numba engine uses the same size,
# gilfree._config.PARZEN_BLOCK).
cdef enum:
    BLOCK = 256

SIMD_VARIANT = (<bytes>GILFREE_SIMD_VARIANT).decode()
OPENMP = bool(gf_openmp_enabled())


cdef inline void _window(const double[:, ::1] xs, Py_ssize_t key, double qk,
                         double hwmax, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """[lo, hi): samples whose key coordinate passes the widest window.

    ``fl(qk - x)`` is non-increasing in ``x``, so both predicates are
    monotone along the sorted key row and binary search finds them exactly.
    """
    cdef Py_ssize_t n = xs.shape[1]
    cdef Py_ssize_t a = 0, b = n, mid
    while a < b:  # first i with qk - x[i] <= hwmax
        mid = (a + b) >> 1
        if qk - xs[key, mid] <= hwmax:
            b = mid
        else:
            a = mid + 1
    lo[0] = a
    b = n
    while a < b:  # first i with qk - x[i] < -hwmax
        mid = (a + b) >> 1
        if qk - xs[key, mid] < -hwmax:
            b = mid
        else:
            a = mid + 1
    hi[0] = a


cdef inline void _radii(const double[:, ::1] xs, const double[:, ::1] q, Py_ssize_t p,
                        Py_ssize_t start, Py_ssize_t count, double* r) noexcept nogil:
    """r[j] = max_c |q[p, c] - xs[c, start + j]| for j < count."""
    cdef Py_ssize_t c, j
    cdef Py_ssize_t d = xs.shape[0]
    cdef double qc, v
    cdef const double* row
    for j in range(count):
        r[j] = 0.0
    for c in range(d):
        qc = q[p, c]
        row = &xs[c, start]
        for j in range(count):
            v = fabs(qc - row[j])
            r[j] = v if v > r[j] else r[j]


cdef inline Py_ssize_t _bin(const double* hw, Py_ssize_t H, double r) noexcept nogil:
    """Index of the first sorted half width with r <= hw[k] (H if none)."""
    cdef Py_ssize_t a = 0, b = H, mid
    while a < b:
        mid = (a + b) >> 1
        if hw[mid] < r:
            a = mid + 1
        else:
            b = mid
    return a


cdef inline void _count_range(const double[:, ::1] xs, const double[:, ::1] q,
                              const double* hw, Py_ssize_t H, Py_ssize_t p,
                              Py_ssize_t lo, Py_ssize_t hi, int64_t* hist,
                              double* r) noexcept nogil:
    cdef Py_ssize_t start, j, count
    cdef double hwmax = hw[H - 1]
    start = lo
    while start < hi:
        count = hi - start
        if count > BLOCK:
            count = BLOCK
        _radii(xs, q, p, start, count, r)
        for j in range(count):
            if r[j] <= hwmax:
                hist[_bin(hw, H, r[j])] += 1
        start += count


cdef inline void _weigh_range(const double[:, ::1] xs, const double[:, ::1] q,
                              const double* hw, Py_ssize_t H, const double* w,
                              Py_ssize_t p, Py_ssize_t lo, Py_ssize_t hi,
                              double* hist, double* r) noexcept nogil:
    cdef Py_ssize_t start, j, count
    cdef double hwmax = hw[H - 1]
    start = lo
    while start < hi:
        count = hi - start
        if count > BLOCK:
            count = BLOCK
        _radii(xs, q, p, start, count, r)
        for j in range(count):
            if r[j] <= hwmax:
                hist[_bin(hw, H, r[j])] += w[start + j]
        start += count


def parzen_counts(const double[:, ::1] xs, Py_ssize_t key, const double[:, ::1] q,
                  const double[::1] hw, int64_t[:, ::1] out, Py_ssize_t n_split,
                  int n_threads):
    """Cumulative in-window counts per sorted half width into ``out`` (m, H).

    ``n_split`` > 1 splits each point's samples into that many parts run on
    different threads (for few points); integer counts make the result
    independent of the split and of the thread count.
    """
    cdef Py_ssize_t m = q.shape[0], H = hw.shape[0]
    cdef Py_ssize_t t, p, k, part, lo, hi, a, b, ntask
    cdef int64_t acc
    cdef int64_t* hist
    cdef int64_t* parts = NULL
    cdef double* r
    cdef int failed = 0
    cdef int* failed_flag = &failed  # shared: written through the pointer
    if m == 0 or H == 0:
        return
    if n_split < 1:
        n_split = 1
    ntask = m * n_split
    if n_split > 1:
        parts = <int64_t*> malloc(sizeof(int64_t) * ntask * (H + 1))
        if parts == NULL:
            raise MemoryError("parzen_counts: could not allocate the per-part counts")
    with nogil, parallel(num_threads=n_threads):
        hist = <int64_t*> malloc(sizeof(int64_t) * (H + 1))
        r = <double*> malloc(sizeof(double) * BLOCK)
        if hist == NULL or r == NULL:
            failed_flag[0] = 1
        else:
            for t in prange(ntask, schedule="dynamic"):
                p = t // n_split
                part = t % n_split
                _window(xs, key, q[p, key], hw[H - 1], &lo, &hi)
                a = lo + (hi - lo) * part // n_split
                b = lo + (hi - lo) * (part + 1) // n_split
                for k in range(H + 1):
                    hist[k] = 0
                _count_range(xs, q, &hw[0], H, p, a, b, hist, r)
                if n_split == 1:
                    acc = 0
                    for k in range(H):
                        acc = acc + hist[k]
                        out[p, k] = acc
                else:
                    for k in range(H + 1):
                        parts[t * (H + 1) + k] = hist[k]
        free(hist)
        free(r)
    if n_split > 1:
        if not failed:
            with nogil:
                for p in range(m):
                    acc = 0
                    for k in range(H):
                        for part in range(n_split):
                            acc = acc + parts[(p * n_split + part) * (H + 1) + k]
                        out[p, k] = acc
        free(parts)
    if failed:
        raise MemoryError("parzen_counts: could not allocate a thread's work buffer")


def parzen_weighted(const double[:, ::1] xs, Py_ssize_t key, const double[:, ::1] q,
                    const double[::1] hw, const double[::1] w, double[:, ::1] out,
                    int n_threads):
    """Cumulative in-window weight sums per sorted half width into ``out``.

    Each point's samples are summed by one thread in sorted order, so the
    floating-point result does not depend on the thread count.
    """
    cdef Py_ssize_t m = q.shape[0], H = hw.shape[0]
    cdef Py_ssize_t p, k, lo, hi
    cdef double acc
    cdef double* hist
    cdef double* r
    cdef int failed = 0
    cdef int* failed_flag = &failed  # shared: written through the pointer
    if m == 0 or H == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        hist = <double*> malloc(sizeof(double) * (H + 1))
        r = <double*> malloc(sizeof(double) * BLOCK)
        if hist == NULL or r == NULL:
            failed_flag[0] = 1
        else:
            for p in prange(m, schedule="dynamic"):
                _window(xs, key, q[p, key], hw[H - 1], &lo, &hi)
                for k in range(H + 1):
                    hist[k] = 0.0
                _weigh_range(xs, q, &hw[0], H, &w[0], p, lo, hi, hist, r)
                acc = 0.0
                for k in range(H):
                    acc = acc + hist[k]
                    out[p, k] = acc
        free(hist)
        free(r)
    if failed:
        raise MemoryError("parzen_weighted: could not allocate a thread's work buffer")
