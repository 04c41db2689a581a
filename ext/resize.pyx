# cython: language_level=3
"""Image resamplers, GIL-free with OpenMP.

The public module ``gilfree.resize`` validates, converts to a 4-D
C-contiguous batch (N, H, W, C), computes the tap tables
(``gilfree._resize_plan``) and allocates the output; these functions only
run the inner loops of ``_resize_core.pxi``.

Threads: when there are at least as many images as threads, each thread
takes whole images (with its own scratch); otherwise the images run one
after the other, each with its rows split among the threads.  Every output
value is computed by one thread with the same operations whatever the
split, so the result does not depend on the thread count.
"""

cimport cython
from cython.parallel cimport parallel, prange
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t
from libc.stdlib cimport free, malloc

from _openmp cimport gf_note_team, gf_openmp_enabled
from _tuning cimport GF_RESIZE_ROWS, GF_RESIZE_U8_BLOCKS, GF_TUNING_LEVEL
include "_omp_probe.pxi"

import numpy as np

include "_resize_core.pxi"

cdef extern from *:
    const char* GILFREE_SIMD_VARIANT

# The ceiling probes of the image resamplers (gilfree._probes): the same
# arithmetic per tap / per pixel as the kernels, in the simplest loops the
# compiler vectorises: rows of L contiguous samples, each added into a row of
# L accumulators (the inner loop runs along the row), then stored.
cdef extern from *:
    """
    #include <stdint.h>
    #define GF_PROBE_ROWS(ACC, INIT, ADD, STORE)                                \
        for (Py_ssize_t j = 0; j < L; j++) acc[j] = INIT;                        \
        for (Py_ssize_t t = 0; t < rows; t++) {                                  \
            const __typeof__(src[0])* restrict row = src + t * L;                \
            for (Py_ssize_t j = 0; j < L; j++) acc[j] += ADD;                    \
        }                                                                        \
        for (Py_ssize_t j = 0; j < L; j++) out[j] = STORE;

    static void gf_probe_taps_u8(const uint8_t* restrict src, Py_ssize_t L,
                                 const int32_t* restrict k, Py_ssize_t rows,
                                 uint8_t* restrict out, int32_t* restrict acc) {
        GF_PROBE_ROWS(int32_t, 1 << 21, row[j] * k[t],
                      (uint8_t)((acc[j] >> 22) < 0 ? 0 : ((acc[j] >> 22) > 255 ? 255
                                                                  : (acc[j] >> 22))))
    }
    static void gf_probe_taps_f32(const float* restrict src, Py_ssize_t L,
                                  const double* restrict k, Py_ssize_t rows,
                                  float* restrict out, double* restrict acc) {
        GF_PROBE_ROWS(double, 0.0, row[j] * k[t], (float)acc[j])
    }
    static void gf_probe_sum_u8(const uint8_t* restrict src, Py_ssize_t L,
                                Py_ssize_t rows, uint8_t* restrict out,
                                int32_t* restrict acc) {
        const float inv = 1.0f / (float)rows;
        GF_PROBE_ROWS(int32_t, 0, row[j], (uint8_t)((float)acc[j] * inv))
    }
    static void gf_probe_sum_f32(const float* restrict src, Py_ssize_t L,
                                 Py_ssize_t rows, float* restrict out,
                                 double* restrict acc) {
        const double inv = 1.0 / (double)rows;
        GF_PROBE_ROWS(double, 0.0, row[j], (float)(acc[j] * inv))
    }
    """
    void gf_probe_taps_u8(const uint8_t* src, Py_ssize_t L, const int32_t* k, Py_ssize_t taps,
                          uint8_t* out, int32_t* acc) noexcept nogil
    void gf_probe_taps_f32(const float* src, Py_ssize_t L, const double* k, Py_ssize_t taps,
                           float* out, double* acc) noexcept nogil
    void gf_probe_sum_u8(const uint8_t* src, Py_ssize_t L, Py_ssize_t rows,
                         uint8_t* out, int32_t* acc) noexcept nogil
    void gf_probe_sum_f32(const float* src, Py_ssize_t L, Py_ssize_t rows,
                          float* out, double* acc) noexcept nogil

ctypedef fused probe_pix_t:
    uint8_t
    float

SIMD_VARIANT = (<bytes>GILFREE_SIMD_VARIANT).decode()
#: this build's per-variant tuning (must equal gilfree._config.SIMD_TUNING)
TUNING = {"level": (<bytes>GF_TUNING_LEVEL).decode(), "resize_rows": GF_RESIZE_ROWS,
          "resize_u8_blocks": GF_RESIZE_U8_BLOCKS}
OPENMP = bool(gf_openmp_enabled())


def conv(const gf_pix_t[:, :, :, ::1] src, gf_pix_t[:, :, :, ::1] out,
         const int32_t[:, ::1] xb, xk, const int32_t[:, ::1] yb, yk,
         int hpass, int vpass, int vfirst, int n_threads):
    """Pillow's convolution resampler, every dtype: uint8 with 22-bit fixed
    point weights (``xk``/``yk`` int32 (taps, k)), uint16 / float32 / float64
    with float64 weights."""
    cdef Py_ssize_t N = src.shape[0], H = src.shape[1], W = src.shape[2], C = src.shape[3]
    cdef Py_ssize_t oh = out.shape[1], ow = out.shape[2]
    cdef Py_ssize_t isz = H * W * C, osz = oh * ow * C
    cdef GfConvPlan plan
    cdef Py_ssize_t n, r
    cdef int step
    cdef gf_pix_t* tmp
    cdef gf_pix_t* blk
    cdef void* acc
    cdef int failed = 0
    cdef int* failed_flag = &failed
    cdef const int32_t[:, ::1] xk_i, yk_i
    cdef const double[:, ::1] xk_f, yk_f
    cdef size_t acc_size = sizeof(int32_t) if gf_pix_t is uint8_t else sizeof(double)
    cdef const gf_pix_t* sp = &src[0, 0, 0, 0]
    cdef gf_pix_t* op = &out[0, 0, 0, 0]
    if gf_pix_t is uint8_t:
        xk_i = xk
        yk_i = yk
        gf_conv_plan(&plan, H, W, C, oh, ow, &xb[0, 0], xk_i.shape[1], &yb[0, 0],
                     yk_i.shape[1], hpass, vpass, vfirst)
        plan.xk_i = &xk_i[0, 0]
        plan.yk_i = &yk_i[0, 0]
    else:
        xk_f = xk
        yk_f = yk
        gf_conv_plan(&plan, H, W, C, oh, ow, &xb[0, 0], xk_f.shape[1], &yb[0, 0],
                     yk_f.shape[1], hpass, vpass, vfirst)
        plan.xk_f = &xk_f[0, 0]
        plan.yk_f = &yk_f[0, 0]
    if N >= n_threads:
        with nogil, parallel(num_threads=n_threads):
            gf_note_team()  # thread-count probe (_openmp.pxd)
            tmp = <gf_pix_t*> malloc(sizeof(gf_pix_t) * (plan.tmp_len + 1))
            acc = malloc(acc_size * plan.acc_len)
            blk = <gf_pix_t*> malloc(sizeof(gf_pix_t) * gf_hblock_len(&plan))
            if tmp == NULL or acc == NULL or blk == NULL:
                failed_flag[0] = 1
            else:
                for n in prange(N, schedule="dynamic"):
                    for step in range(plan.nsteps):
                        for r in range(gf_conv_items(&plan, step)):
                            gf_conv_item(&plan, step, r, sp + n * isz, tmp, op + n * osz, acc,
                                         blk)
            free(tmp)
            free(acc)
            free(blk)
    else:
        tmp = <gf_pix_t*> malloc(sizeof(gf_pix_t) * (plan.tmp_len + 1))
        if tmp == NULL:
            raise MemoryError("resize: could not allocate the intermediate image")
        for n in range(N):
            with nogil, parallel(num_threads=n_threads):
                gf_note_team()  # thread-count probe (_openmp.pxd)
                acc = malloc(acc_size * plan.acc_len)
                blk = <gf_pix_t*> malloc(sizeof(gf_pix_t) * gf_hblock_len(&plan))
                if acc == NULL or blk == NULL:
                    failed_flag[0] = 1
                else:
                    for r in prange(gf_conv_items(&plan, 0), schedule="static"):
                        gf_conv_item(&plan, 0, r, sp + n * isz, tmp, op + n * osz, acc, blk)
                    if plan.nsteps == 2:
                        for r in prange(gf_conv_items(&plan, 1), schedule="static"):
                            gf_conv_item(&plan, 1, r, sp + n * isz, tmp, op + n * osz, acc,
                                         blk)
                free(acc)
                free(blk)
        free(tmp)
    if failed:
        raise MemoryError("resize: could not allocate a thread's work buffer")


# The engine contract of the resize family names the 8-bit and the other
# dtypes' entry points separately (the Numba and NumPy engines implement them
# as two functions); here both are the one template above.
conv_u8 = conv
conv_float = conv


def nearest(const gf_pix_t[:, :, :, ::1] src, gf_pix_t[:, :, :, ::1] out,
            const int64_t[::1] xi, const int64_t[::1] yi, int n_threads):
    """out[n, i, j] = src[n, yi[i], xi[j]] (Pillow's NEAREST tables)."""
    cdef Py_ssize_t N = src.shape[0], H = src.shape[1], W = src.shape[2], C = src.shape[3]
    cdef Py_ssize_t oh = out.shape[1], ow = out.shape[2]
    cdef Py_ssize_t t, n, i
    cdef const gf_pix_t* sp = &src[0, 0, 0, 0]
    cdef gf_pix_t* op = &out[0, 0, 0, 0]
    with nogil:
        for t in prange(N * oh, num_threads=n_threads, schedule="static"):
            gf_note_team()  # thread-count probe (_openmp.pxd)
            n = t // oh
            i = t % oh
            gf_nearest_row(sp + ((n * H + yi[i]) * W) * C, op + t * ow * C, C, ow, &xi[0])


def area_fast(const gf_pix_t[:, :, :, ::1] src, gf_pix_t[:, :, :, ::1] out,
              Py_ssize_t kx, Py_ssize_t ky, int addhalf, int n_threads):
    """Integer-factor INTER_AREA (block means of ky x kx pixels)."""
    cdef Py_ssize_t N = src.shape[0], H = src.shape[1], W = src.shape[2], C = src.shape[3]
    cdef Py_ssize_t oh = out.shape[1], ow = out.shape[2]
    cdef Py_ssize_t t, n, i
    cdef int64_t* iacc
    cdef double* facc
    cdef int failed = 0
    cdef int* failed_flag = &failed
    cdef const gf_pix_t* sp = &src[0, 0, 0, 0]
    cdef gf_pix_t* op = &out[0, 0, 0, 0]
    with nogil, parallel(num_threads=n_threads):
        gf_note_team()  # thread-count probe (_openmp.pxd)
        iacc = <int64_t*> malloc(sizeof(int64_t) * W * C)
        facc = <double*> malloc(sizeof(double) * W * C)
        if iacc == NULL or facc == NULL:
            failed_flag[0] = 1
        else:
            for t in prange(N * oh, schedule="static"):
                n = t // oh
                i = t % oh
                gf_area_fast_row(sp + ((n * H + i * ky) * W) * C, W, C, ow, kx, ky, addhalf,
                                 op + t * ow * C, iacc, facc)
        free(iacc)
        free(facc)
    if failed:
        raise MemoryError("resize: could not allocate a thread's work buffer")


def area_table(const gf_pix_t[:, :, :, ::1] src, gf_pix_t[:, :, :, ::1] out,
               const int64_t[::1] xofs, const int32_t[::1] xsrc, const float[::1] xal,
               const int64_t[::1] yofs, const int32_t[::1] ysrc, const float[::1] yal,
               int n_threads):
    """Fractional INTER_AREA with OpenCV's overlap tables (CSR per axis)."""
    cdef Py_ssize_t N = src.shape[0], H = src.shape[1], W = src.shape[2], C = src.shape[3]
    cdef Py_ssize_t oh = out.shape[1], ow = out.shape[2]
    cdef Py_ssize_t t, n, i
    cdef float* fbuf
    cdef double* dbuf
    cdef int failed = 0
    cdef int* failed_flag = &failed
    cdef const gf_pix_t* sp = &src[0, 0, 0, 0]
    cdef gf_pix_t* op = &out[0, 0, 0, 0]
    with nogil, parallel(num_threads=n_threads):
        gf_note_team()  # thread-count probe (_openmp.pxd)
        fbuf = <float*> malloc(sizeof(float) * 2 * ow * C)
        dbuf = <double*> malloc(sizeof(double) * 2 * ow * C)
        if fbuf == NULL or dbuf == NULL:
            failed_flag[0] = 1
        else:
            for t in prange(N * oh, schedule="static"):
                n = t // oh
                i = t % oh
                if gf_pix_t is double:
                    gf_area_tab_row(sp + n * H * W * C, W, C, ow, i, &xofs[0], &xsrc[0],
                                    &xal[0], &yofs[0], &ysrc[0], &yal[0], op + t * ow * C,
                                    dbuf, dbuf + ow * C)
                else:
                    gf_area_tab_row(sp + n * H * W * C, W, C, ow, i, &xofs[0], &xsrc[0],
                                    &xal[0], &yofs[0], &ysrc[0], &yal[0], op + t * ow * C,
                                    fbuf, fbuf + ow * C)
        free(fbuf)
        free(dbuf)
    if failed:
        raise MemoryError("resize: could not allocate a thread's work buffer")


def probe(const probe_pix_t[:, ::1] src, probe_pix_t[::1] out, weights, Py_ssize_t repeats):
    """The ceiling probe (``gilfree._probes``): ``repeats`` times, each
    column j of ``src`` (R, L) gives ``out[j]``: with ``weights`` (R,) the
    weighted tap sum as the convolution resampler forms it (uint8: int32
    22-bit fixed point, rounded and clipped; float32: float64 sums), with
    ``weights=None`` the plain mean as the area resampler forms it (int32
    / float64 sums).  One thread; returns ``out``."""
    cdef Py_ssize_t R = src.shape[0], L = src.shape[1], r
    cdef const int32_t[::1] ki
    cdef const double[::1] kf
    if out.shape[0] != L:
        raise ValueError(f"probe: out has {out.shape[0]} elements for {L} columns")
    if weights is not None and len(weights) != R:
        raise ValueError(f"probe: {len(weights)} weights for {R} rows")
    if R == 0 or L == 0:
        return np.asarray(out)
    acc_arr = np.empty(L, dtype=np.int32 if probe_pix_t is uint8_t else np.float64)
    cdef int32_t[::1] acc_i
    cdef double[::1] acc_f
    if probe_pix_t is uint8_t:
        acc_i = acc_arr
        if weights is None:
            with nogil:
                for r in range(repeats):
                    gf_probe_sum_u8(&src[0, 0], L, R, &out[0], &acc_i[0])
        else:
            ki = weights
            with nogil:
                for r in range(repeats):
                    gf_probe_taps_u8(&src[0, 0], L, &ki[0], R, &out[0], &acc_i[0])
    else:
        acc_f = acc_arr
        if weights is None:
            with nogil:
                for r in range(repeats):
                    gf_probe_sum_f32(&src[0, 0], L, R, &out[0], &acc_f[0])
        else:
            kf = weights
            with nogil:
                for r in range(repeats):
                    gf_probe_taps_f32(&src[0, 0], L, &kf[0], R, &out[0], &acc_f[0])
    return np.asarray(out)
