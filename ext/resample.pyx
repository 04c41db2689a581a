# cython: language_level=3
"""Signal resamplers, GIL-free with OpenMP.

Inputs are prepared once by ``gilfree.resample``: C-contiguous float64
matrices (L, M) with time on axis 0 and M channels.

- ``linear``: endpoint-aligned linear interpolation with np.interp's formula
  ``(x[j+1] - x[j]) * (t - j) + x[j]``, ``t = i * (L-1)/(num-1)``, the last
  sample copied (as np.interp returns ``fp[-1]`` there).
- ``linear_many``: the same for k signals stored back to back.
- ``poly``: scipy.signal.resample_poly's polyphase FIR; each output sums
  its taps in a fixed order: up to 8 channels in interleaved sets of partial
  sums kept in registers (see the inner product below), more channels tap
  by tap into a row of sums.

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
from _tuning cimport GF_RESAMPLE_SETS, GF_TUNING_LEVEL
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
#: this build's per-variant tuning (must equal gilfree._config.SIMD_TUNING)
TUNING = {"level": (<bytes>GF_TUNING_LEVEL).decode(), "resample_sets": GF_RESAMPLE_SETS}
OPENMP = bool(gf_openmp_enabled())

cdef enum:
    # output samples per parallel task (gilfree._config.RESAMPLE_POLY_CHUNK)
    POLY_CHUNK = 1024
    # tasks per thread of the linear resamplers (RESIZE_CHUNKS_PER_THREAD)
    CHUNKS_PER_THREAD = 4

#: the compiled twins of gilfree._config constants (checked by the engine contract)
CONSTANTS = {"RESAMPLE_POLY_CHUNK": POLY_CHUNK, "RESIZE_CHUNKS_PER_THREAD": CHUNKS_PER_THREAD}


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
    cdef Py_ssize_t nchunk = CHUNKS_PER_THREAD * n_threads, c
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




# resample_poly's inner product.  Output sample i of channel m is
# sum_r h[p, r] * x[j0 + r, m]: for a C-contiguous (L, M) signal each tap
# multiplies a row of M contiguous channels.  For M <= 8 the kernel is
# compiled for that M, so the M channel sums stay in vector registers, with S
# interleaved sets of sums (tap r goes to set r % S; leftover taps to set 0;
# the sets are added in order at the end): S independent multiply-add chains
# in flight.  S = GF_RESAMPLE_SETS (per SIMD variant, _tuning.pxd), at least
# 8 / M.  Wider signals add each row into a row of M sums in memory, which
# the compiler vectorises over the channels.
cdef extern from *:
    """
    #define GF_RS_ROWS(MM, S)                                                    \\
    static void gf_rs_rows_##MM##_##S(const double* h, const double* xs,         \\
                                      Py_ssize_t n, double* o) {                 \\
        double acc[S][MM];                                                       \\
        Py_ssize_t r = 0;                                                        \\
        int s, m;                                                                \\
        for (s = 0; s < (S); s++)                                                \\
            for (m = 0; m < (MM); m++) acc[s][m] = 0.0;                          \\
        for (; r + (S) <= n; r += (S)) {                                         \\
            for (s = 0; s < (S); s++) {                                          \\
                const double wr = h[r + s];                                      \\
                const double* row = xs + (r + s) * (MM);                         \\
                for (m = 0; m < (MM); m++) acc[s][m] += wr * row[m];             \\
            }                                                                    \\
        }                                                                        \\
        for (; r < n; r++)                                                       \\
            for (m = 0; m < (MM); m++) acc[0][m] += h[r] * xs[r * (MM) + m];     \\
        for (m = 0; m < (MM); m++) {                                             \\
            double v = acc[0][m];                                                \\
            for (s = 1; s < (S); s++) v += acc[s][m];                            \\
            o[m] = v;                                                            \\
        }                                                                        \\
    }
    #define GF_RS_ROWS_S(MM) GF_RS_ROWS(MM, 2) GF_RS_ROWS(MM, 4) GF_RS_ROWS(MM, 8)
    GF_RS_ROWS_S(1) GF_RS_ROWS_S(2) GF_RS_ROWS_S(3) GF_RS_ROWS_S(4)
    GF_RS_ROWS_S(5) GF_RS_ROWS_S(6) GF_RS_ROWS_S(7) GF_RS_ROWS_S(8)

    typedef void (*gf_rs_kernel)(const double*, const double*, Py_ssize_t, double*);

    /* the kernel compiled for M channels and `sets` sets (NULL: M > 8) */
    static gf_rs_kernel gf_rs_pick(Py_ssize_t M, int sets) {
        static const gf_rs_kernel table[8][3] = {
            {gf_rs_rows_1_2, gf_rs_rows_1_4, gf_rs_rows_1_8},
            {gf_rs_rows_2_2, gf_rs_rows_2_4, gf_rs_rows_2_8},
            {gf_rs_rows_3_2, gf_rs_rows_3_4, gf_rs_rows_3_8},
            {gf_rs_rows_4_2, gf_rs_rows_4_4, gf_rs_rows_4_8},
            {gf_rs_rows_5_2, gf_rs_rows_5_4, gf_rs_rows_5_8},
            {gf_rs_rows_6_2, gf_rs_rows_6_4, gf_rs_rows_6_8},
            {gf_rs_rows_7_2, gf_rs_rows_7_4, gf_rs_rows_7_8},
            {gf_rs_rows_8_2, gf_rs_rows_8_4, gf_rs_rows_8_8}};
        int k;
        if (M < 1 || M > 8) return NULL;
        if (sets * M < 8) sets = (int)(8 / M);
        k = sets >= 8 ? 2 : (sets >= 4 ? 1 : 0);
        return table[M - 1][k];
    }

    /* o[m] = sum_r h[r] * xs[r*M + m], taps in order: rows into a row of sums */
    static void gf_rs_rows(const double* h, const double* restrict xs, Py_ssize_t n,
                           Py_ssize_t M, double* restrict o) {
        Py_ssize_t r, m;
        for (m = 0; m < M; m++) o[m] = 0.0;
        for (r = 0; r < n; r++) {
            const double wr = h[r];
            const double* restrict row = xs + r * M;
            for (m = 0; m < M; m++) o[m] = o[m] + wr * row[m];
        }
    }
    """
    ctypedef void (*gf_rs_kernel)(const double*, const double*, Py_ssize_t,
                                  double*) noexcept nogil
    gf_rs_kernel gf_rs_pick(Py_ssize_t M, int sets) noexcept nogil
    void gf_rs_rows(const double* h, const double* xs, Py_ssize_t n, Py_ssize_t M,
                    double* o) noexcept nogil


cdef inline void _poly_chunk(const double* x, Py_ssize_t L, Py_ssize_t M, double* out,
                             const double* hr, Py_ssize_t nq, Py_ssize_t up,
                             Py_ssize_t down, Py_ssize_t pre, gf_rs_kernel kern,
                             Py_ssize_t i0, Py_ssize_t i1) noexcept nogil:
    # t = (i + pre) * down = q * up + p, stepped without divisions
    cdef Py_ssize_t i, r0, r1, j0, n, t = (i0 + pre) * down
    cdef Py_ssize_t q = t // up, p = t % up, dq = down // up, dp = down % up
    for i in range(i0, i1):
        j0 = q - (nq - 1)
        r0 = -j0 if j0 < 0 else 0
        r1 = L - j0 if L - j0 < nq else nq
        n = r1 - r0
        if kern != NULL:
            kern(hr + p * nq + r0, x + (j0 + r0) * M, n, out + i * M)
        else:
            gf_rs_rows(hr + p * nq + r0, x + (j0 + r0) * M, n, M, out + i * M)
        q = q + dq
        p = p + dp
        if p >= up:
            p = p - up
            q = q + 1


def poly(const double[:, ::1] x, double[:, ::1] out, const double[:, ::1] hr,
         Py_ssize_t up, Py_ssize_t down, Py_ssize_t pre, int n_threads):
    """scipy.signal.resample_poly's polyphase filter: x (L, M) -> out (n_out, M);
    hr (up, nq) holds each phase's taps in reversed order."""
    cdef Py_ssize_t L = x.shape[0], M = x.shape[1], n_out = out.shape[0], nq = hr.shape[1]
    cdef Py_ssize_t chunk = POLY_CHUNK, nchunk, c, i1
    cdef gf_rs_kernel kern = gf_rs_pick(M, GF_RESAMPLE_SETS)
    if n_out == 0 or M == 0:
        return
    nchunk = (n_out + chunk - 1) // chunk
    with nogil:
        for c in prange(nchunk, num_threads=n_threads, schedule="dynamic"):
            gf_note_team()  # thread-count probe (_openmp.pxd)
            i1 = (c + 1) * chunk
            if i1 > n_out:
                i1 = n_out
            _poly_chunk(&x[0, 0], L, M, &out[0, 0], &hr[0, 0], nq, up, down, pre, kern,
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
