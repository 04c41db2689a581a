# cython: language_level=3
"""Hypercube Parzen-window counts, GIL-free with OpenMP.

The samples are prepared once by ``gilfree.parzen`` into a plan (see
``gilfree.parzen._Plan``): transposed to (d, n), cut into strips along the
``key`` dimension and sorted within each strip along the ``sec`` dimension;
half widths ``0.5 * h`` sorted ascending; a lookup table that buckets
[0, max half width] uniformly.

A sample is inside the window of half width ``hw[k]`` around a point when
``abs(q[c] - x[c]) <= hw[k]`` for every dimension ``c``: equivalently when
``r = max_c abs(q[c] - x[c]) <= hw[k]``.  Per point, only the strips near it
are visited, and within each strip a binary search on the ``sec`` dimension
(with the same floating-point comparison, so the pruning is exact) gives a
contiguous run of candidates.  Each candidate costs one ``r`` (a
vectorised loop over a block) and one bucket lookup plus a short scan over
the sorted widths.  Outputs are cumulative counts per *sorted* width.
"""

cimport cython
from cython.parallel cimport parallel, prange
from libc.math cimport ceil, fabs, floor
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

from _openmp cimport gf_note_team, gf_openmp_enabled
include "_omp_probe.pxi"

cdef extern from *:
    const char* GILFREE_SIMD_VARIANT

# Samples handled per inner block: r for the block is computed in a tight,
# vectorisable loop, then binned (the numba engine uses the same size,
# gilfree._config.PARZEN_BLOCK).
cdef enum:
    BLOCK = 256

# Spreads within this relative distance of the largest count as equal, so
# that the first such dimension is the strip key here and in the NumPy plan
# (gilfree._config.PARZEN_SPREAD_TIE_RTOL) although the two sum in different
# orders: mathematically equal variances may differ in their last bits.
cdef double SPREAD_TIE_RTOL = 1e-9

SIMD_VARIANT = (<bytes>GILFREE_SIMD_VARIANT).decode()
OPENMP = bool(gf_openmp_enabled())
#: the compiled twins of gilfree._config constants (checked by the engine contract)
CONSTANTS = {"PARZEN_BLOCK": BLOCK, "PARZEN_SPREAD_TIE_RTOL": SPREAD_TIE_RTOL}


cdef inline void _sec_window(const double[:, ::1] xs, Py_ssize_t sec, double qs,
                             double hwmax, Py_ssize_t a, Py_ssize_t b,
                             Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """Within a strip [a, b) sorted on dimension ``sec``: [lo, hi) are the
    samples that pass the widest window on that dimension.

    ``fl(qs - x)`` is non-increasing in ``x``, so both predicates are
    monotone along the sorted run and binary search finds them exactly.
    """
    cdef Py_ssize_t end = b, mid
    if sec < 0:  # unindexed plan (few points): every sample is a candidate
        lo[0] = a
        hi[0] = b
        return
    while a < b:  # first i with qs - x[i] <= hwmax
        mid = (a + b) >> 1
        if qs - xs[sec, mid] <= hwmax:
            b = mid
        else:
            a = mid + 1
    lo[0] = a
    b = end
    while a < b:  # first i with qs - x[i] < -hwmax
        mid = (a + b) >> 1
        if qs - xs[sec, mid] < -hwmax:
            b = mid
        else:
            a = mid + 1
    hi[0] = a


cdef inline void _strips(double qk, double hwmax, double origin, double inv_sw,
                         Py_ssize_t S, Py_ssize_t* s0, Py_ssize_t* s1) noexcept nogil:
    """Strips [s0, s1) that can hold samples within hwmax of qk on the key
    dimension (one strip of margin on each side absorbs rounding)."""
    cdef double lo = (qk - hwmax - origin) * inv_sw - 1.0
    cdef double hi = (qk + hwmax - origin) * inv_sw + 2.0
    if lo < 0.0:
        lo = 0.0
    if hi > <double>S:
        hi = <double>S
    if hi < lo:
        hi = lo
    s0[0] = <Py_ssize_t>lo
    s1[0] = <Py_ssize_t>hi


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


cdef inline Py_ssize_t _bin(const double* hw, Py_ssize_t H, const int64_t* lut,
                            Py_ssize_t L, double scale, double r) noexcept nogil:
    """Index of the first sorted half width with r <= hw[k] (H if none).

    ``lut`` gives a lower bound from a uniform bucketing of [0, hwmax]; the
    short scan from it makes the answer exact.
    """
    cdef double v = r * scale
    cdef Py_ssize_t k
    if v > <double>L:
        v = <double>L
    k = lut[<Py_ssize_t>v]
    while k < H and hw[k] < r:
        k += 1
    return k


cdef inline void _hist_range(const double[:, ::1] xs, const double[:, ::1] q,
                             const double* hw, Py_ssize_t H, const int64_t* lut,
                             Py_ssize_t L, double scale, const double* w,
                             Py_ssize_t p, Py_ssize_t lo, Py_ssize_t hi,
                             int64_t* hist, double* whist, double* r) noexcept nogil:
    """Bin the samples [lo, hi) for point p: counts into four interleaved
    histograms ``hist`` (breaks store-to-load chains), or weights into
    ``whist`` in sample order (when ``w`` is not NULL)."""
    cdef Py_ssize_t start, j, count, k
    start = lo
    while start < hi:
        count = hi - start
        if count > BLOCK:
            count = BLOCK
        _radii(xs, q, p, start, count, r)
        if w == NULL:
            for j in range(count):
                k = _bin(hw, H, lut, L, scale, r[j])
                hist[(j & 3) * (H + 1) + k] += 1
        else:
            for j in range(count):
                k = _bin(hw, H, lut, L, scale, r[j])
                whist[k] += w[start + j]
        start += count


cdef inline void _point(const double[:, ::1] xs, Py_ssize_t key, Py_ssize_t sec,
                        const int64_t[::1] strip_start, double origin, double inv_sw,
                        const double[:, ::1] q, const double* hw, Py_ssize_t H,
                        const int64_t* lut, Py_ssize_t L, double scale, const double* w,
                        Py_ssize_t p, Py_ssize_t part, Py_ssize_t n_split,
                        int64_t* hist, double* whist, double* r) noexcept nogil:
    """Histogram of point p over its candidate samples (part ``part`` of
    ``n_split`` of every strip's run)."""
    cdef Py_ssize_t S = strip_start.shape[0] - 1
    cdef Py_ssize_t s, s0, s1, lo, hi, a, b
    cdef double hwmax = hw[H - 1]
    _strips(q[p, key], hwmax, origin, inv_sw, S, &s0, &s1)
    for s in range(s0, s1):
        _sec_window(xs, sec, q[p, sec if sec >= 0 else 0], hwmax,
                    strip_start[s], strip_start[s + 1], &lo, &hi)
        a = lo + (hi - lo) * part // n_split
        b = lo + (hi - lo) * (part + 1) // n_split
        _hist_range(xs, q, hw, H, lut, L, scale, w, p, a, b, hist, whist, r)


def parzen_counts(plan, const double[:, ::1] q, int64_t[:, ::1] out,
                  Py_ssize_t n_split, int n_threads):
    """Cumulative in-window counts per sorted half width into ``out`` (m, H).

    ``plan`` holds the prepared samples (see ``gilfree.parzen._Plan``).
    ``n_split`` > 1 splits each point's candidates into that many parts run
    on different threads (for few points); integer counts make the result
    independent of the split and of the thread count.
    """
    cdef const double[:, ::1] xs = plan.xs
    cdef const int64_t[::1] strip_start = plan.strip_start
    cdef const double[::1] hw = plan.hw
    cdef const int64_t[::1] lut = plan.lut
    cdef Py_ssize_t key = plan.key, sec = plan.sec
    cdef double origin = plan.origin, inv_sw = plan.inv_sw, scale = plan.scale
    cdef Py_ssize_t m = q.shape[0], H = hw.shape[0], L = lut.shape[0] - 1
    cdef Py_ssize_t t, p, k, part, ntask, c
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
        gf_note_team()  # thread-count probe (_openmp.pxd)
        hist = <int64_t*> malloc(sizeof(int64_t) * 4 * (H + 1))
        r = <double*> malloc(sizeof(double) * BLOCK)
        if hist == NULL or r == NULL:
            failed_flag[0] = 1
        else:
            for t in prange(ntask, schedule="dynamic"):
                p = t // n_split
                part = t % n_split
                for k in range(4 * (H + 1)):
                    hist[k] = 0
                _point(xs, key, sec, strip_start, origin, inv_sw, q, &hw[0], H,
                       &lut[0], L, scale, NULL, p, part, n_split, hist, NULL, r)
                for c in range(1, 4):
                    for k in range(H):
                        hist[k] = hist[k] + hist[c * (H + 1) + k]
                if n_split == 1:
                    acc = 0
                    for k in range(H):
                        acc = acc + hist[k]
                        out[p, k] = acc
                else:
                    for k in range(H):
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


def parzen_weighted(plan, const double[:, ::1] q, double[:, ::1] out, int n_threads):
    """Cumulative in-window weight sums per sorted half width into ``out``.

    Each point's candidates are summed by one thread in a fixed order, so
    the floating-point result does not depend on the thread count.
    """
    cdef const double[:, ::1] xs = plan.xs
    cdef const int64_t[::1] strip_start = plan.strip_start
    cdef const double[::1] hw = plan.hw
    cdef const int64_t[::1] lut = plan.lut
    cdef const double[::1] w = plan.w
    cdef Py_ssize_t key = plan.key, sec = plan.sec
    cdef double origin = plan.origin, inv_sw = plan.inv_sw, scale = plan.scale
    cdef Py_ssize_t m = q.shape[0], H = hw.shape[0], L = lut.shape[0] - 1
    cdef Py_ssize_t p, k
    cdef double acc
    cdef double* whist
    cdef double* r
    cdef int failed = 0
    cdef int* failed_flag = &failed
    if m == 0 or H == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        gf_note_team()  # thread-count probe (_openmp.pxd)
        whist = <double*> malloc(sizeof(double) * (H + 1))
        r = <double*> malloc(sizeof(double) * BLOCK)
        if whist == NULL or r == NULL:
            failed_flag[0] = 1
        else:
            for p in prange(m, schedule="dynamic"):
                for k in range(H + 1):
                    whist[k] = 0.0
                _point(xs, key, sec, strip_start, origin, inv_sw, q, &hw[0], H,
                       &lut[0], L, scale, &w[0], p, 0, 1, NULL, whist, r)
                acc = 0.0
                for k in range(H):
                    acc = acc + whist[k]
                    out[p, k] = acc
        free(whist)
        free(r)
    if failed:
        raise MemoryError("parzen_weighted: could not allocate a thread's work buffer")


def candidates(plan, const double[:, ::1] q):
    """How many (point, sample) candidates ``parzen_counts`` visits for the
    points ``q``: the work its throughput is measured in (the samples the
    strips and the binary searches leave for each point)."""
    cdef const double[:, ::1] xs = plan.xs
    cdef const int64_t[::1] strip_start = plan.strip_start
    cdef const double[::1] hw = plan.hw
    cdef Py_ssize_t key = plan.key, sec = plan.sec
    cdef double origin = plan.origin, inv_sw = plan.inv_sw
    cdef Py_ssize_t m = q.shape[0], H = hw.shape[0], S = strip_start.shape[0] - 1
    cdef Py_ssize_t p, s, s0, s1, lo, hi
    cdef int64_t total = 0
    if m == 0 or H == 0:
        return 0
    with nogil:
        for p in range(m):
            _strips(q[p, key], hw[H - 1], origin, inv_sw, S, &s0, &s1)
            for s in range(s0, s1):
                _sec_window(xs, sec, q[p, sec if sec >= 0 else 0], hw[H - 1],
                            strip_start[s], strip_start[s + 1], &lo, &hi)
                total += hi - lo
    return total


def probe(const double[:, ::1] xs, const double[:, ::1] q, plan, Py_ssize_t repeats):
    """The ceiling probe (``gilfree._probes``): every sample of ``xs`` (d, n)
    is a candidate of every point of ``q`` (m, d), binned as
    ``parzen_counts`` bins its candidates (``r = max_c |q_c - x_c|``, the
    lookup table and the short scan over the sorted half widths of
    ``plan``), in the simplest loop: one sample after the other, one
    histogram.  One thread, ``repeats`` passes; returns the counts (H + 1,)."""
    cdef Py_ssize_t d = xs.shape[0], n = xs.shape[1], m = q.shape[0]
    cdef const double[::1] hw = plan.hw
    cdef const int64_t[::1] lut = plan.lut
    cdef double scale = plan.scale
    cdef Py_ssize_t H = hw.shape[0], L = lut.shape[0] - 1, rep, p, i, c, k
    cdef double r, v
    if q.shape[1] != d:
        raise ValueError(f"probe: points of dimension {q.shape[1]} for samples of dimension {d}")
    hist = np.zeros(H + 1, dtype=np.int64)
    cdef int64_t[::1] h = hist
    if H == 0:
        return hist
    with nogil:
        for rep in range(repeats):
            for p in range(m):
                for i in range(n):
                    r = 0.0
                    for c in range(d):
                        v = fabs(q[p, c] - xs[c, i])
                        r = v if v > r else r
                    k = _bin(&hw[0], H, &lut[0], L, scale, r)
                    h[k] += 1
    return hist


# ---------------------------------------------------------------------------
# The plan's sample order, built in O(n)
# ---------------------------------------------------------------------------

cdef enum:
    RADIX_BITS = 8
    RADIX_SIZE = 256  # 1 << RADIX_BITS
    RADIX_PASSES = 8  # 64 / RADIX_BITS


cdef struct KeyIndex:
    uint64_t key
    int64_t index


cdef inline uint64_t _sortable(double v) noexcept nogil:
    """Bits of ``v`` as an unsigned key whose order is the order of the values
    (finite input; -0.0 is mapped to +0.0 so that equal values tie)."""
    cdef uint64_t u
    if v == 0.0:
        v = 0.0
    memcpy(&u, &v, sizeof(double))
    if u >> 63:
        return ~u
    return u | ((<uint64_t> 1) << 63)


def strip_plan(const double[:, ::1] x, double hwmax, Py_ssize_t strips_per_window,
               Py_ssize_t min_strip_samples):
    """The sample order of an indexed plan (``gilfree.parzen._make_plan``).

    Picks the dimension of largest spread as the strip ``key`` and the next
    as ``sec``; cuts ``key`` into strips of ``1 / inv_sw`` and orders the
    samples by strip, then by ``x[:, sec]``, ties by index: the order of
    ``np.lexsort((x[:, sec], strip))``, found with a stable LSD radix sort on
    ``sec`` and a stable counting sort on the strip (O(n), no comparisons).

    Returns ``(key, sec, origin, inv_sw, order, strip_start)``.
    """
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    cdef Py_ssize_t i, c, key = 0, sec = 0, n_strips = 1, s, shift, b, pos
    cdef double mean, dev, best, second, origin, top, span, inv_sw = 0.0, want
    if n < 1 or d < 1:
        raise ValueError(f"strip_plan: x must have samples and dimensions; got shape ({n}, {d})")
    var = np.zeros(d, dtype=np.float64)
    cdef double[::1] var_v = var
    order = np.empty(n, dtype=np.int64)
    strip_start_arr = np.zeros(n + 2, dtype=np.int64)
    cdef int64_t[::1] order_v = order
    cdef int64_t[::1] counts = strip_start_arr
    cdef KeyIndex* items = <KeyIndex*> malloc(sizeof(KeyIndex) * n)
    cdef KeyIndex* items2 = <KeyIndex*> malloc(sizeof(KeyIndex) * n)
    cdef int64_t* strip = <int64_t*> malloc(sizeof(int64_t) * n)
    cdef int64_t* hist = <int64_t*> malloc(sizeof(int64_t) * RADIX_SIZE * RADIX_PASSES)
    cdef int64_t* h
    cdef KeyIndex* tmp
    cdef uint64_t k
    try:
        if items == NULL or items2 == NULL or strip == NULL or hist == NULL:
            raise MemoryError(f"strip_plan: could not allocate the sort buffers for {n} samples")
        with nogil:
            # spread per dimension (two passes: mean, then squared deviations)
            for c in range(d):
                mean = 0.0
                for i in range(n):
                    mean = mean + x[i, c]
                mean = mean / n
                dev = 0.0
                for i in range(n):
                    dev = dev + (x[i, c] - mean) * (x[i, c] - mean)
                var_v[c] = dev
            # key: the first dimension whose spread ties the largest; sec:
            # the same among the others
            best = var_v[0]
            for c in range(1, d):
                if var_v[c] > best:
                    best = var_v[c]
            while var_v[key] < best * (1.0 - SPREAD_TIE_RTOL):
                key += 1
            sec = key
            if d > 1:
                second = -1.0
                for c in range(d):
                    if c != key and var_v[c] > second:
                        second = var_v[c]
                sec = 0
                while sec == key or var_v[sec] < second * (1.0 - SPREAD_TIE_RTOL):
                    sec += 1
            origin = x[0, key]
            top = x[0, key]
            for i in range(1, n):
                if x[i, key] < origin:
                    origin = x[i, key]
                if x[i, key] > top:
                    top = x[i, key]
            span = top - origin
            if d > 1 and span > 0:
                want = ceil(span * <double> strips_per_window / hwmax) + 1.0
                if want > <double> (n // min_strip_samples):
                    n_strips = n // min_strip_samples
                else:
                    n_strips = <Py_ssize_t> want
                if n_strips < 1:
                    n_strips = 1
            if n_strips > 1:
                inv_sw = n_strips / span
            for i in range(n):
                s = <Py_ssize_t> floor((x[i, key] - origin) * inv_sw)
                if s < 0:
                    s = 0
                elif s > n_strips - 1:
                    s = n_strips - 1
                strip[i] = s
                items[i].key = _sortable(x[i, sec])
                items[i].index = i
            # stable LSD radix sort on the sec keys, one byte per pass (all
            # byte histograms from one read); a pass whose byte is the same
            # for every sample is skipped
            memset(hist, 0, sizeof(int64_t) * RADIX_SIZE * RADIX_PASSES)
            for i in range(n):
                k = items[i].key
                for c in range(RADIX_PASSES):
                    hist[c * RADIX_SIZE + ((k >> (c * RADIX_BITS)) & (RADIX_SIZE - 1))] += 1
            for c in range(RADIX_PASSES):
                shift = c * RADIX_BITS
                h = hist + c * RADIX_SIZE
                if h[(items[0].key >> shift) & (RADIX_SIZE - 1)] == n:
                    continue
                pos = 0
                for b in range(RADIX_SIZE):
                    s = h[b]
                    h[b] = pos
                    pos = pos + s
                for i in range(n):
                    b = (items[i].key >> shift) & (RADIX_SIZE - 1)
                    items2[h[b]] = items[i]
                    h[b] += 1
                tmp = items
                items = items2
                items2 = tmp
            # stable counting sort on the strip
            for i in range(n):
                counts[strip[i] + 1] += 1
            for s in range(n_strips):
                counts[s + 1] = counts[s + 1] + counts[s]
            for i in range(n):
                s = strip[items[i].index]
                order_v[counts[s]] = items[i].index
                counts[s] += 1
            # counts[s] is now the end of strip s: shift to starts
            for s in range(n_strips, 0, -1):
                counts[s] = counts[s - 1]
            counts[0] = 0
    finally:
        free(items)
        free(items2)
        free(strip)
        free(hist)
    strip_start = np.ascontiguousarray(strip_start_arr[: n_strips + 1])
    return key, sec, origin, inv_sw, order, strip_start
