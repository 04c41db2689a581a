# cython: language_level=3
"""Signal resamplers, GIL-free with OpenMP.

Inputs are prepared once by ``gilfree.resample``: C-contiguous float64
matrices (L, M) with time on axis 0 and M channels.

- ``linear``: endpoint-aligned linear interpolation with np.interp's formula
  ``(x[j+1] - x[j]) * (t - j) + x[j]``, ``t = i * (L-1)/(num-1)``, the last
  sample copied (as np.interp returns ``fp[-1]`` there).
- ``linear_many``: the same for k signals stored back to back.
- ``poly``: scipy.signal.resample_poly's polyphase FIR; each output sums
  its taps in a fixed order (blocks of four channels with two interleaved
  partial sums, remaining channels with eight; combined in a fixed order).

Each output value is computed by one thread, the same way whatever the
thread count.
"""

cimport cython
from cython.parallel cimport prange
from libc.math cimport floor
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

cimport numpy as cnp
import numpy as np

cnp.import_array()

from _openmp cimport gf_note_team, gf_openmp_enabled
include "_omp_probe.pxi"

cdef extern from *:
    const char* GILFREE_SIMD_VARIANT

# The ceiling probe of resample_poly (gilfree._probes): its arithmetic per
# filter tap (a float64 multiply-add) in the simplest loops the compiler
# vectorises: rows of L contiguous samples, each added, times its tap, into
# a row of L sums.
cdef extern from *:
    """
    static void gf_resample_probe(const double* restrict x, Py_ssize_t L,
                                  const double* restrict h, Py_ssize_t taps,
                                  double* restrict out) {
        for (Py_ssize_t j = 0; j < L; j++) out[j] = 0.0;
        for (Py_ssize_t t = 0; t < taps; t++) {
            const double* restrict row = x + t * L;
            const double w = h[t];
            for (Py_ssize_t j = 0; j < L; j++) out[j] = out[j] + w * row[j];
        }
    }
    """
    void gf_resample_probe(const double* x, Py_ssize_t L, const double* h, Py_ssize_t taps,
                           double* out) noexcept nogil

SIMD_VARIANT = (<bytes>GILFREE_SIMD_VARIANT).decode()
OPENMP = bool(gf_openmp_enabled())


cdef inline void _linear_one(const double* x, Py_ssize_t L, Py_ssize_t M, double* out,
                             Py_ssize_t num, Py_ssize_t i0, Py_ssize_t i1) noexcept nogil:
    """Output samples i0..i1 of one signal x (L, M) into out (num, M)."""
    cdef Py_ssize_t i, j, m
    cdef double step, t, f
    cdef const double* a
    cdef const double* b
    if L == 1 or num == 1:
        for i in range(i0, i1):
            for m in range(M):
                out[i * M + m] = x[m]
        return
    step = <double>(L - 1) / <double>(num - 1)
    for i in range(i0, i1):
        if i == num - 1:
            for m in range(M):
                out[i * M + m] = x[(L - 1) * M + m]
            continue
        t = <double>i * step
        j = <Py_ssize_t>floor(t)
        if j > L - 2:
            j = L - 2
        f = t - <double>j
        a = x + j * M
        b = a + M
        for m in range(M):
            out[i * M + m] = (b[m] - a[m]) * f + a[m]


def linear(const double[:, ::1] x, double[:, ::1] out, int n_threads):
    """x (L, M) -> out (num, M)."""
    cdef Py_ssize_t L = x.shape[0], M = x.shape[1], num = out.shape[0]
    cdef Py_ssize_t nchunk = 4 * n_threads, c  # gilfree._config.RESIZE_CHUNKS_PER_THREAD
    if nchunk > num:
        nchunk = num
    with nogil:
        for c in prange(nchunk, num_threads=n_threads, schedule="static"):
            gf_note_team()  # thread-count probe (_openmp.pxd)
            _linear_one(&x[0, 0], L, M, &out[0, 0], num, num * c // nchunk,
                        num * (c + 1) // nchunk)


def linear_many(const double[:, ::1] data, const int64_t[::1] offsets,
                double[:, :, ::1] out, int n_threads):
    """Signal k is data[offsets[k]:offsets[k+1]]; out (k, num, M)."""
    cdef Py_ssize_t K = out.shape[0], num = out.shape[1], M = out.shape[2], k
    with nogil:
        for k in prange(K, num_threads=n_threads, schedule="static"):
            gf_note_team()  # thread-count probe (_openmp.pxd)
            _linear_one(&data[0, 0] + offsets[k] * M, offsets[k + 1] - offsets[k], M,
                        &out[k, 0, 0], num, 0, num)


cdef enum:
    # output samples per parallel task (gilfree._config.RESAMPLE_POLY_CHUNK)
    POLY_CHUNK = 1024


cdef inline double _poly_one(const double* h, const double* xs, Py_ssize_t n,
                             Py_ssize_t M) noexcept nogil:
    """sum_r h[r] * xs[r*M] with eight interleaved partial sums."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef double s4 = 0.0, s5 = 0.0, s6 = 0.0, s7 = 0.0
    cdef Py_ssize_t r = 0
    while r + 8 <= n:
        s0 = s0 + h[r] * xs[r * M]
        s1 = s1 + h[r + 1] * xs[(r + 1) * M]
        s2 = s2 + h[r + 2] * xs[(r + 2) * M]
        s3 = s3 + h[r + 3] * xs[(r + 3) * M]
        s4 = s4 + h[r + 4] * xs[(r + 4) * M]
        s5 = s5 + h[r + 5] * xs[(r + 5) * M]
        s6 = s6 + h[r + 6] * xs[(r + 6) * M]
        s7 = s7 + h[r + 7] * xs[(r + 7) * M]
        r = r + 8
    while r < n:
        s0 = s0 + h[r] * xs[r * M]
        r = r + 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


cdef inline void _poly_four(const double* h, const double* xs, Py_ssize_t n, Py_ssize_t M,
                            double* o) noexcept nogil:
    """Four neighbouring channels at once (one vector per tap): taps
    alternate between two sets of partial sums, added at the end."""
    cdef double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
    cdef double b0 = 0.0, b1 = 0.0, b2 = 0.0, b3 = 0.0
    cdef double w, v
    cdef const double* row
    cdef Py_ssize_t r = 0
    while r + 2 <= n:
        w = h[r]
        row = xs + r * M
        a0 = a0 + w * row[0]
        a1 = a1 + w * row[1]
        a2 = a2 + w * row[2]
        a3 = a3 + w * row[3]
        v = h[r + 1]
        row = row + M
        b0 = b0 + v * row[0]
        b1 = b1 + v * row[1]
        b2 = b2 + v * row[2]
        b3 = b3 + v * row[3]
        r = r + 2
    if r < n:
        w = h[r]
        row = xs + r * M
        a0 = a0 + w * row[0]
        a1 = a1 + w * row[1]
        a2 = a2 + w * row[2]
        a3 = a3 + w * row[3]
    o[0] = a0 + b0
    o[1] = a1 + b1
    o[2] = a2 + b2
    o[3] = a3 + b3


cdef inline void _poly_chunk(const double* x, Py_ssize_t L, Py_ssize_t M, double* out,
                             const double* hr, Py_ssize_t nq, Py_ssize_t up,
                             Py_ssize_t down, Py_ssize_t pre, Py_ssize_t i0,
                             Py_ssize_t i1) noexcept nogil:
    cdef Py_ssize_t i, m, r0, r1, j0, p, t, n
    cdef const double* h
    cdef const double* xs
    for i in range(i0, i1):
        t = (i + pre) * down
        p = t % up
        j0 = t // up - (nq - 1)
        r0 = -j0 if j0 < 0 else 0
        r1 = L - j0 if L - j0 < nq else nq
        n = r1 - r0
        h = hr + p * nq + r0
        xs = x + (j0 + r0) * M
        m = 0
        while m + 4 <= M:
            _poly_four(h, xs + m, n, M, out + i * M + m)
            m = m + 4
        while m < M:
            out[i * M + m] = _poly_one(h, xs + m, n, M)
            m = m + 1


def poly(const double[:, ::1] x, double[:, ::1] out, const double[:, ::1] hr,
         Py_ssize_t up, Py_ssize_t down, Py_ssize_t pre, int n_threads):
    """scipy.signal.resample_poly's polyphase filter: x (L, M) -> out (n_out, M);
    hr (up, nq) holds each phase's taps in reversed order."""
    cdef Py_ssize_t L = x.shape[0], M = x.shape[1], n_out = out.shape[0], nq = hr.shape[1]
    cdef Py_ssize_t chunk = POLY_CHUNK, nchunk, c, i1
    nchunk = (n_out + chunk - 1) // chunk
    with nogil:
        for c in prange(nchunk, num_threads=n_threads, schedule="dynamic"):
            gf_note_team()  # thread-count probe (_openmp.pxd)
            i1 = (c + 1) * chunk
            if i1 > n_out:
                i1 = n_out
            _poly_chunk(&x[0, 0], L, M, &out[0, 0], &hr[0, 0], nq, up, down, pre,
                        c * chunk, i1)


def linear_list(list arrays, double[:, :, ::1] out, const int64_t[::1] rest, int n_threads):
    """``linear_many`` reading the signals where they are, without
    concatenating them: every element must be a C-contiguous float64 ndarray
    of shape (L_k,) + rest with L_k >= 1.  Returns -1 when done, else the
    index of the first element that does not fit (nothing is computed; the
    caller then concatenates and converts)."""
    cdef Py_ssize_t K = len(arrays), num = out.shape[1], M = out.shape[2]
    cdef Py_ssize_t k, d, nd = rest.shape[0] + 1
    cdef cnp.ndarray a
    cdef object item
    cdef const double** ptrs
    cdef Py_ssize_t* lens
    if K != out.shape[0]:
        return 0
    ptrs = <const double**> malloc(sizeof(double*) * (K + 1))
    lens = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (K + 1))
    if ptrs == NULL or lens == NULL:
        free(ptrs)
        free(lens)
        raise MemoryError("resample_many: could not allocate the signal table")
    try:
        for k in range(K):
            item = arrays[k]
            if not cnp.PyArray_CheckExact(item):
                return k
            a = <cnp.ndarray> item
            if (cnp.PyArray_TYPE(a) != cnp.NPY_DOUBLE or not cnp.PyArray_IS_C_CONTIGUOUS(a)
                    or cnp.PyArray_NDIM(a) != nd or cnp.PyArray_DIM(a, 0) < 1):
                return k
            for d in range(1, nd):
                if cnp.PyArray_DIM(a, d) != rest[d - 1]:
                    return k
            ptrs[k] = <const double*> cnp.PyArray_DATA(a)
            lens[k] = cnp.PyArray_DIM(a, 0)
        # the list holds references to every array while the kernel runs
        with nogil:
            for k in prange(K, num_threads=n_threads, schedule="static"):
                gf_note_team()  # thread-count probe (_openmp.pxd)
                _linear_one(ptrs[k], lens[k], M, &out[k, 0, 0], num, 0, num)
        return -1
    finally:
        free(ptrs)
        free(lens)


def probe(const double[:, ::1] x, const double[::1] h, double[::1] out, Py_ssize_t repeats):
    """The ceiling probe (``gilfree._probes``): ``out[j] = sum_t h[t] *
    x[t, j]`` for x (taps, L), ``repeats`` times, one thread: resample_poly's
    multiply-add per tap in the simplest vectorised loop.  Returns ``out``."""
    cdef Py_ssize_t T = x.shape[0], L = x.shape[1], r
    if h.shape[0] != T or out.shape[0] != L:
        raise ValueError(f"probe: {h.shape[0]} taps and {out.shape[0]} outputs for x of "
                         f"shape ({T}, {L})")
    if T == 0 or L == 0:
        return np.asarray(out)
    with nogil:
        for r in range(repeats):
            gf_resample_probe(&x[0, 0], L, &h[0], T, &out[0])
    return np.asarray(out)
