# Inner loops of the image resamplers, shared by ext/resize.pyx and any
# other kernel module that resizes (e.g. the slide-tiling kernels):
#
#     include "_resize_core.pxi"
#
# Everything here is ``cdef inline ... noexcept nogil`` on raw pointers, so an
# including module can call it per row or per image from its own
# ``prange``.  The tables come from ``gilfree._resize_plan`` (computed once
# in Python):
#
# - Pillow's convolution resampler: a ``GfConvPlan`` (built by
#   ``gf_conv_plan``) says which passes run in which order; ``gf_conv_u8_row``
#   / ``gf_conv_f_row`` compute row ``r`` of step 0 or 1.  All rows of step 0
#   must be done before step 1 starts (a barrier between two pranges, or one
#   thread doing a whole image).  Scratch: ``tmp`` of ``plan.tmp_len``
#   elements (shared by the threads working on one image) and a per-thread
#   accumulator row of ``plan.acc_len`` elements (int32 for uint8, double
#   otherwise).  ``gf_conv_item`` is the faster form for whole images: the
#   horizontal steps go by blocks of ``GF_RESIZE_ROWS`` rows (``gf_hblock``,
#   with a per-thread block buffer of ``gf_hblock_len(plan)`` pixels), and
#   ``gf_conv_items(plan, step)`` says how many items a step has.
# - Pillow's NEAREST: ``gf_nearest_row``.
# - OpenCV's INTER_AREA: ``gf_area_fast_row`` (integer factors, per-thread
#   accumulator of ``W * C`` int64 or double) and ``gf_area_tab_row``
#   (overlap tables in CSR form, per-thread float/double buffers of
#   ``2 * ow * C``).
#
# Arithmetic follows the references exactly (see gilfree/_resize_plan.py):
# integer sums for uint8 (so vectorisation cannot change them), float64
# sums in tap order otherwise, float32 sums for OpenCV's area tables.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t
from libc.math cimport rint, rintf
from _tuning cimport GF_RESIZE_ROWS, GF_RESIZE_U8_BLOCKS

ctypedef fused gf_pix_t:
    uint8_t
    uint16_t
    float
    double

ctypedef fused gf_fpix_t:
    uint16_t
    float
    double

ctypedef fused gf_acc_t:
    float
    double

cdef enum:
    GF_PRECISION_BITS = 22
    GF_HALF = 1 << 21
    GF_OP_H = 0
    GF_OP_V = 1
    GF_FROM_IMAGE = 0
    GF_FROM_TMP = 1
    GF_TO_OUT = 0
    GF_TO_TMP = 1


cdef struct GfConvPlan:
    Py_ssize_t H, W, C, oh, ow
    const int32_t* xb          # (ow, 2): first input column, taps
    const int32_t* yb          # (oh, 2): first input row, taps
    const int32_t* xk_i        # (ow, kx) fixed point weights (uint8)
    const int32_t* yk_i        # (oh, ky)
    const double* xk_f         # (ow, kx) float64 weights (other dtypes)
    const double* yk_f         # (oh, ky)
    Py_ssize_t kx, ky
    int nsteps                 # 0, 1 or 2
    int op[2]                  # GF_OP_H / GF_OP_V
    int src[2]                 # GF_FROM_IMAGE / GF_FROM_TMP
    int dst[2]                 # GF_TO_OUT / GF_TO_TMP
    Py_ssize_t rows[2]         # rows computed by each step
    Py_ssize_t hrow0[2]        # input row of output row 0 of a horizontal step
    Py_ssize_t vshift          # subtracted from yb starts when reading tmp
    Py_ssize_t vrowlen         # row length (elements) of the vertical pass
    Py_ssize_t tmp_len         # elements of the intermediate image
    Py_ssize_t acc_len         # elements of a thread's accumulator row (also
                               # the widened input row of the 8-bit h pass)


cdef inline void gf_conv_plan(GfConvPlan* p, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                              Py_ssize_t oh, Py_ssize_t ow, const int32_t* xb,
                              Py_ssize_t kx, const int32_t* yb, Py_ssize_t ky,
                              int hpass, int vpass, int vfirst) noexcept nogil:
    """Fill ``p`` (the weight pointers are set by the caller)."""
    cdef Py_ssize_t r0 = 0, r1 = H
    p.H = H; p.W = W; p.C = C; p.oh = oh; p.ow = ow
    p.xb = xb; p.yb = yb; p.kx = kx; p.ky = ky
    p.vshift = 0
    p.tmp_len = 0
    p.hrow0[0] = 0
    p.hrow0[1] = 0
    p.acc_len = 1
    if hpass and vpass and vfirst:
        p.nsteps = 2
        p.op[0] = GF_OP_V; p.src[0] = GF_FROM_IMAGE; p.dst[0] = GF_TO_TMP; p.rows[0] = oh
        p.op[1] = GF_OP_H; p.src[1] = GF_FROM_TMP; p.dst[1] = GF_TO_OUT; p.rows[1] = oh
        p.vrowlen = W * C
        p.tmp_len = oh * W * C
    elif hpass and vpass:
        r0 = yb[0]
        r1 = yb[2 * (oh - 1)] + yb[2 * (oh - 1) + 1]
        p.nsteps = 2
        p.op[0] = GF_OP_H; p.src[0] = GF_FROM_IMAGE; p.dst[0] = GF_TO_TMP; p.rows[0] = r1 - r0
        p.hrow0[0] = r0
        p.op[1] = GF_OP_V; p.src[1] = GF_FROM_TMP; p.dst[1] = GF_TO_OUT; p.rows[1] = oh
        p.vshift = r0
        p.vrowlen = ow * C
        p.tmp_len = (r1 - r0) * ow * C
    elif hpass:
        p.nsteps = 1
        p.op[0] = GF_OP_H; p.src[0] = GF_FROM_IMAGE; p.dst[0] = GF_TO_OUT; p.rows[0] = H
        p.vrowlen = ow * C
    elif vpass:
        p.nsteps = 1
        p.op[0] = GF_OP_V; p.src[0] = GF_FROM_IMAGE; p.dst[0] = GF_TO_OUT; p.rows[0] = oh
        p.vrowlen = W * C
    else:
        p.nsteps = 0
        p.vrowlen = W * C
    if vpass:
        p.acc_len = p.vrowlen
    if hpass and p.acc_len < W * C:
        p.acc_len = W * C       # the 8-bit horizontal pass widens rows into it


# ---------------------------------------------------------------- uint8 ----

cdef inline uint8_t gf_clip8(int32_t v) noexcept nogil:
    v = v >> GF_PRECISION_BITS   # arithmetic shift: floor, as Pillow's lookup
    if v < 0:
        return 0
    if v > 255:
        return 255
    return <uint8_t>v


cdef inline void gf_hrow_u8(const uint8_t* s, uint8_t* d, Py_ssize_t C, Py_ssize_t W,
                            Py_ssize_t ow, const int32_t* xb, const int32_t* xk,
                            Py_ssize_t kx, int32_t* wide) noexcept nogil:
    """One row, horizontal pass: d[x*C+c] = clip(sum_t s[(start+t)*C+c] * k[t]).

    With many taps the row is first widened into planar int32 (``wide``,
    W*C elements): each output is then a contiguous int32 dot product that
    the compiler vectorises (the 8-bit tables are padded to a multiple of 8
    taps), and integer sums do not depend on the order.
    """
    cdef Py_ssize_t x, t, c, n
    cdef int32_t ss, s0, s1, s2
    cdef const uint8_t* p
    cdef const int32_t* k
    cdef const int32_t* a
    if kx >= 8:
        if C == 1:
            for x in range(W):
                wide[x] = s[x]
        else:
            for x in range(W):
                for c in range(C):
                    wide[c * W + x] = s[x * C + c]
        for x in range(ow):
            n = xb[2 * x + 1]
            k = xk + x * kx
            for c in range(C):
                a = wide + c * W + xb[2 * x]
                ss = GF_HALF
                for t in range(n):
                    ss = ss + a[t] * k[t]
                d[C * x + c] = gf_clip8(ss)
    elif C == 1:
        for x in range(ow):
            p = s + xb[2 * x]
            n = xb[2 * x + 1]
            k = xk + x * kx
            ss = GF_HALF
            for t in range(n):
                ss = ss + p[t] * k[t]
            d[x] = gf_clip8(ss)
    elif C == 3:
        for x in range(ow):
            p = s + 3 * xb[2 * x]
            n = xb[2 * x + 1]
            k = xk + x * kx
            s0 = GF_HALF
            s1 = GF_HALF
            s2 = GF_HALF
            for t in range(n):
                s0 = s0 + p[3 * t] * k[t]
                s1 = s1 + p[3 * t + 1] * k[t]
                s2 = s2 + p[3 * t + 2] * k[t]
            d[3 * x] = gf_clip8(s0)
            d[3 * x + 1] = gf_clip8(s1)
            d[3 * x + 2] = gf_clip8(s2)
    else:
        for x in range(ow):
            p = s + C * xb[2 * x]
            n = xb[2 * x + 1]
            k = xk + x * kx
            for c in range(C):
                ss = GF_HALF
                for t in range(n):
                    ss = ss + p[C * t + c] * k[t]
                d[C * x + c] = gf_clip8(ss)


cdef inline void gf_vrow_u8(const uint8_t* s, Py_ssize_t rowlen, uint8_t* d, Py_ssize_t n,
                            const int32_t* k, int32_t* acc) noexcept nogil:
    """One output row, vertical pass, from the n rows starting at s."""
    cdef Py_ssize_t j, t
    cdef int32_t w
    cdef const uint8_t* row
    for j in range(rowlen):
        acc[j] = GF_HALF
    for t in range(n):
        w = k[t]
        row = s + t * rowlen
        for j in range(rowlen):
            acc[j] = acc[j] + row[j] * w
    for j in range(rowlen):
        d[j] = gf_clip8(acc[j])


cdef inline void gf_conv_u8_row(const GfConvPlan* p, int step, Py_ssize_t r,
                                const uint8_t* img, uint8_t* tmp, uint8_t* out,
                                int32_t* acc) noexcept nogil:
    """Row ``r`` of step ``step`` of one image (img (H, W, C), out (oh, ow, C))."""
    cdef const uint8_t* s = img if p.src[step] == GF_FROM_IMAGE else tmp
    cdef uint8_t* d = out if p.dst[step] == GF_TO_OUT else tmp
    cdef Py_ssize_t rl
    if p.op[step] == GF_OP_H:
        gf_hrow_u8(s + (r + p.hrow0[step]) * p.W * p.C, d + r * p.ow * p.C, p.C, p.W, p.ow,
                   p.xb, p.xk_i, p.kx, acc)
    else:
        rl = p.vrowlen
        gf_vrow_u8(s + (p.yb[2 * r] - (p.vshift if p.src[step] == GF_FROM_TMP else 0)) * rl,
                   rl, d + r * rl, p.yb[2 * r + 1], p.yk_i + r * p.ky, acc)


# -------------------------------------------------- uint16, float, double ----

cdef inline gf_fpix_t gf_store(double v, gf_fpix_t* like) noexcept nogil:
    """Pillow's per-pass store: uint16 rounds half away from zero and
    saturates; floats are cast."""
    cdef int64_t i
    if gf_fpix_t is uint16_t:
        if v >= 0.0:
            i = <int64_t>(v + 0.5)
        else:
            i = <int64_t>(v - 0.5)
        if i < 0:
            return 0
        if i > 65535:
            return 65535
        return <uint16_t>i
    else:
        return <gf_fpix_t>v


cdef inline void gf_hrow_f(const gf_fpix_t* s, gf_fpix_t* d, Py_ssize_t C, Py_ssize_t ow,
                           const int32_t* xb, const double* xk,
                           Py_ssize_t kx) noexcept nogil:
    cdef Py_ssize_t x, t, c, n
    cdef double ss
    cdef const gf_fpix_t* p
    cdef const double* k
    for x in range(ow):
        p = s + C * xb[2 * x]
        n = xb[2 * x + 1]
        k = xk + x * kx
        for c in range(C):
            ss = 0.0
            for t in range(n):
                ss = ss + p[C * t + c] * k[t]
            d[C * x + c] = gf_store(ss, d)


cdef inline void gf_vrow_f(const gf_fpix_t* s, Py_ssize_t rowlen, gf_fpix_t* d, Py_ssize_t n,
                           const double* k, double* acc) noexcept nogil:
    cdef Py_ssize_t j, t
    cdef double w
    cdef const gf_fpix_t* row
    for j in range(rowlen):
        acc[j] = 0.0
    for t in range(n):
        w = k[t]
        row = s + t * rowlen
        for j in range(rowlen):
            acc[j] = acc[j] + row[j] * w
    for j in range(rowlen):
        d[j] = gf_store(acc[j], d)


cdef inline void gf_conv_f_row(const GfConvPlan* p, int step, Py_ssize_t r,
                               const gf_fpix_t* img, gf_fpix_t* tmp, gf_fpix_t* out,
                               double* acc) noexcept nogil:
    cdef const gf_fpix_t* s = img if p.src[step] == GF_FROM_IMAGE else tmp
    cdef gf_fpix_t* d = out if p.dst[step] == GF_TO_OUT else tmp
    cdef Py_ssize_t rl
    if p.op[step] == GF_OP_H:
        gf_hrow_f(s + (r + p.hrow0[step]) * p.W * p.C, d + r * p.ow * p.C, p.C, p.ow,
                  p.xb, p.xk_f, p.kx)
    else:
        rl = p.vrowlen
        gf_vrow_f(s + (p.yb[2 * r] - (p.vshift if p.src[step] == GF_FROM_TMP else 0)) * rl,
                  rl, d + r * rl, p.yb[2 * r + 1], p.yk_f + r * p.ky, acc)


# ------------------------------------------ horizontal pass by row blocks ----
#
# The horizontal pass of one row is a set of short dot products (one per
# output, ending in a sum across the vector).  Taken GF_RESIZE_ROWS rows at a
# time and transposed into ``blk`` (blk[j * R + r] = row r's sample j), each
# tap becomes one multiply-add of a contiguous vector of R samples into R
# sums that stay in registers.  Every lane runs the same operations in the
# same order as the row loops above (integer sums for uint8, float64 sums in
# tap order otherwise), so the results are the same bit for bit.

cdef extern from *:
    """
    #include <string.h>
    #if defined(__SSE2__) || defined(_M_X64)
    #include <emmintrin.h>
    /* rows s[0 .. 16) (row length rl) into b[j * 16 + r]: 16 x 16 bytes at a
       time by four rounds of byte interleaves; the columns past the last
       multiple of 16 are left to the caller */
    static inline Py_ssize_t gf_transpose16_u8(const uint8_t* s, Py_ssize_t rl,
                                               uint8_t* b) {
        Py_ssize_t j;
        int r, k, round;
        for (j = 0; j + 16 <= rl; j += 16) {
            __m128i a[16], t[16];
            for (r = 0; r < 16; r++) a[r] = _mm_loadu_si128((const __m128i*)(s + r * rl + j));
            for (round = 0; round < 4; round++) {
                for (k = 0; k < 8; k++) {
                    t[2 * k] = _mm_unpacklo_epi8(a[k], a[k + 8]);
                    t[2 * k + 1] = _mm_unpackhi_epi8(a[k], a[k + 8]);
                }
                memcpy(a, t, sizeof a);
            }
            for (r = 0; r < 16; r++) _mm_storeu_si128((__m128i*)(b + (j + r) * 16), a[r]);
        }
        return j;
    }
    /* the same for float: 4 x 4 blocks */
    static inline Py_ssize_t gf_transpose16_f32(const float* s, Py_ssize_t rl, float* b) {
        Py_ssize_t j;
        int q;
        for (j = 0; j + 4 <= rl; j += 4) {
            for (q = 0; q < 16; q += 4) {
                __m128 r0 = _mm_loadu_ps(s + q * rl + j), r1 = _mm_loadu_ps(s + (q + 1) * rl + j);
                __m128 r2 = _mm_loadu_ps(s + (q + 2) * rl + j), r3 = _mm_loadu_ps(s + (q + 3) * rl + j);
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                _mm_storeu_ps(b + j * 16 + q, r0);
                _mm_storeu_ps(b + (j + 1) * 16 + q, r1);
                _mm_storeu_ps(b + (j + 2) * 16 + q, r2);
                _mm_storeu_ps(b + (j + 3) * 16 + q, r3);
            }
        }
        return j;
    }
    /* the inverse, for the block's outputs: b[j * 16 + r] (j < n) into the
       rows d[r * rl + j], r < 16; columns past the last multiple of 16
       (float: 4) are left to the caller */
    static inline Py_ssize_t gf_untranspose16_u8(const uint8_t* b, Py_ssize_t n,
                                                 uint8_t* d, Py_ssize_t rl) {
        Py_ssize_t j;
        int r, k, round;
        for (j = 0; j + 16 <= n; j += 16) {
            __m128i a[16], t[16];
            for (r = 0; r < 16; r++) a[r] = _mm_loadu_si128((const __m128i*)(b + (j + r) * 16));
            for (round = 0; round < 4; round++) {
                for (k = 0; k < 8; k++) {
                    t[2 * k] = _mm_unpacklo_epi8(a[k], a[k + 8]);
                    t[2 * k + 1] = _mm_unpackhi_epi8(a[k], a[k + 8]);
                }
                memcpy(a, t, sizeof a);
            }
            for (r = 0; r < 16; r++) _mm_storeu_si128((__m128i*)(d + r * rl + j), a[r]);
        }
        return j;
    }
    static inline Py_ssize_t gf_untranspose16_f32(const float* b, Py_ssize_t n, float* d,
                                                  Py_ssize_t rl) {
        Py_ssize_t j;
        int q;
        for (j = 0; j + 4 <= n; j += 4) {
            for (q = 0; q < 16; q += 4) {
                __m128 r0 = _mm_loadu_ps(b + j * 16 + q), r1 = _mm_loadu_ps(b + (j + 1) * 16 + q);
                __m128 r2 = _mm_loadu_ps(b + (j + 2) * 16 + q), r3 = _mm_loadu_ps(b + (j + 3) * 16 + q);
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                _mm_storeu_ps(d + q * rl + j, r0);
                _mm_storeu_ps(d + (q + 1) * rl + j, r1);
                _mm_storeu_ps(d + (q + 2) * rl + j, r2);
                _mm_storeu_ps(d + (q + 3) * rl + j, r3);
            }
        }
        return j;
    }
    #else
    static inline Py_ssize_t gf_transpose16_u8(const uint8_t* s, Py_ssize_t rl, uint8_t* b) {
        (void)s; (void)rl; (void)b; return 0;
    }
    static inline Py_ssize_t gf_transpose16_f32(const float* s, Py_ssize_t rl, float* b) {
        (void)s; (void)rl; (void)b; return 0;
    }
    static inline Py_ssize_t gf_untranspose16_u8(const uint8_t* b, Py_ssize_t n, uint8_t* d,
                                                 Py_ssize_t rl) {
        (void)b; (void)n; (void)d; (void)rl; return 0;
    }
    static inline Py_ssize_t gf_untranspose16_f32(const float* b, Py_ssize_t n, float* d,
                                                  Py_ssize_t rl) {
        (void)b; (void)n; (void)d; (void)rl; return 0;
    }
    #endif
    """
    Py_ssize_t gf_transpose16_u8(const uint8_t* s, Py_ssize_t rl, uint8_t* b) noexcept nogil
    Py_ssize_t gf_transpose16_f32(const float* s, Py_ssize_t rl, float* b) noexcept nogil
    Py_ssize_t gf_untranspose16_u8(const uint8_t* b, Py_ssize_t n, uint8_t* d,
                                   Py_ssize_t rl) noexcept nogil
    Py_ssize_t gf_untranspose16_f32(const float* b, Py_ssize_t n, float* d,
                                    Py_ssize_t rl) noexcept nogil


cdef inline Py_ssize_t gf_hblock_len(const GfConvPlan* p) noexcept nogil:
    """Elements of the per-thread block buffer of ``gf_hblock``: the block's
    input samples, then its outputs, both transposed."""
    return (p.W + p.ow) * p.C * GF_RESIZE_ROWS


cdef inline Py_ssize_t gf_conv_items(const GfConvPlan* p, int step) noexcept nogil:
    """Work items of step ``step`` for ``gf_conv_item``: row blocks of a
    horizontal step, rows of a vertical one."""
    if p.op[step] == GF_OP_H:
        return (p.rows[step] + GF_RESIZE_ROWS - 1) // GF_RESIZE_ROWS
    return p.rows[step]


cdef inline void gf_hblock(const GfConvPlan* p, int step, Py_ssize_t b,
                           const gf_pix_t* img, gf_pix_t* tmp, gf_pix_t* out,
                           gf_pix_t* blk) noexcept nogil:
    """Rows ``b * R`` to ``b * R + R - 1`` (R = GF_RESIZE_ROWS, fewer in the
    last block) of horizontal step ``step``.  The outputs are formed (rounded
    or cast) R at a time into ``ob[(x * C + c) * R + r]`` (contiguous vector
    stores), and transposed back into the R output rows at the end."""
    cdef const gf_pix_t* s = img if p.src[step] == GF_FROM_IMAGE else tmp
    cdef gf_pix_t* d = out if p.dst[step] == GF_TO_OUT else tmp
    cdef Py_ssize_t C = p.C, ow = p.ow, rl = p.W * p.C, orl = p.ow * p.C
    cdef Py_ssize_t r0 = b * GF_RESIZE_ROWS
    cdef Py_ssize_t nr = min(<Py_ssize_t>GF_RESIZE_ROWS, p.rows[step] - r0)
    cdef Py_ssize_t j, r, x, c, t, n
    cdef const gf_pix_t* col
    cdef gf_pix_t* ob = blk + rl * GF_RESIZE_ROWS
    cdef gf_pix_t* o
    cdef int32_t ai[GF_RESIZE_ROWS]
    cdef double af[GF_RESIZE_ROWS]
    cdef int32_t wi, v
    cdef double wf
    s = s + (r0 + p.hrow0[step]) * rl
    d = d + r0 * orl
    j = 0
    if nr == 16 and GF_RESIZE_ROWS == 16:
        if gf_pix_t is uint8_t:
            j = gf_transpose16_u8(s, rl, blk)
        elif gf_pix_t is float:
            j = gf_transpose16_f32(s, rl, blk)
    for j in range(j, rl):
        for r in range(nr):
            blk[j * GF_RESIZE_ROWS + r] = s[r * rl + j]
        for r in range(nr, GF_RESIZE_ROWS):   # a short last block: defined lanes
            blk[j * GF_RESIZE_ROWS + r] = 0
    for x in range(ow):
        n = p.xb[2 * x + 1]
        for c in range(C):
            col = blk + (p.xb[2 * x] * C + c) * GF_RESIZE_ROWS
            o = ob + (x * C + c) * GF_RESIZE_ROWS
            if gf_pix_t is uint8_t:
                for r in range(GF_RESIZE_ROWS):
                    ai[r] = GF_HALF
                for t in range(n):
                    wi = p.xk_i[x * p.kx + t]
                    for r in range(GF_RESIZE_ROWS):
                        ai[r] = ai[r] + col[t * C * GF_RESIZE_ROWS + r] * wi
                for r in range(GF_RESIZE_ROWS):   # gf_clip8, branch-free
                    v = ai[r] >> GF_PRECISION_BITS
                    v = 0 if v < 0 else v
                    v = 255 if v > 255 else v
                    o[r] = <uint8_t>v
            else:
                for r in range(GF_RESIZE_ROWS):
                    af[r] = 0.0
                for t in range(n):
                    wf = p.xk_f[x * p.kx + t]
                    for r in range(GF_RESIZE_ROWS):
                        af[r] = af[r] + col[t * C * GF_RESIZE_ROWS + r] * wf
                for r in range(GF_RESIZE_ROWS):
                    o[r] = gf_store(af[r], d)
    j = 0
    if nr == 16 and GF_RESIZE_ROWS == 16:
        if gf_pix_t is uint8_t:
            j = gf_untranspose16_u8(ob, orl, d, orl)
        elif gf_pix_t is float:
            j = gf_untranspose16_f32(ob, orl, d, orl)
    for j in range(j, orl):
        for r in range(nr):
            d[r * orl + j] = ob[j * GF_RESIZE_ROWS + r]


cdef inline void gf_conv_item(const GfConvPlan* p, int step, Py_ssize_t i,
                              const gf_pix_t* img, gf_pix_t* tmp, gf_pix_t* out,
                              void* acc, gf_pix_t* blk) noexcept nogil:
    """Item ``i`` of step ``step`` (``gf_conv_items``): a row block of a
    horizontal step, a row of a vertical one (``acc`` as for the row
    functions: int32 for uint8, double otherwise)."""
    cdef Py_ssize_t r
    if p.op[step] == GF_OP_H:
        if gf_pix_t is uint8_t:
            if GF_RESIZE_U8_BLOCKS == 0:
                for r in range(i * GF_RESIZE_ROWS,
                               min((i + 1) * GF_RESIZE_ROWS, p.rows[step])):
                    gf_conv_u8_row(p, step, r, img, tmp, out, <int32_t*> acc)
                return
        gf_hblock(p, step, i, img, tmp, out, blk)
    elif gf_pix_t is uint8_t:
        gf_conv_u8_row(p, step, i, img, tmp, out, <int32_t*> acc)
    else:
        gf_conv_f_row(p, step, i, img, tmp, out, <double*> acc)


# -------------------------------------------------------------- nearest ----

cdef inline void gf_nearest_row(const gf_pix_t* s, gf_pix_t* d, Py_ssize_t C, Py_ssize_t ow,
                                const int64_t* xi) noexcept nogil:
    """d[j] = s[xi[j]] for one row (s is the chosen input row)."""
    cdef Py_ssize_t j, c
    if C == 1:
        for j in range(ow):
            d[j] = s[xi[j]]
    else:
        for j in range(ow):
            for c in range(C):
                d[C * j + c] = s[C * xi[j] + c]


# ----------------------------------------------------------------- area ----

ctypedef fused gf_sum_t:
    int32_t
    int64_t
    double

cdef enum:
    GF_AREA_OUTS = 8    # outputs whose box sums the area kernel forms at once


cdef extern from *:
    """
    /* the sum of n contiguous row sums (one output's box, one channel): any
       order of the additions is allowed (integer sums are exact; float64
       sums of the input samples are exact unless their exponents span more
       than the double's 53 bits) */
    #define GF_BOX_SUM(NAME, T)                                             \
        static inline T NAME(const T* a, Py_ssize_t n) {                    \
            T s = 0;                                                         \
            _Pragma("omp simd reduction(+:s)")                               \
            for (Py_ssize_t i = 0; i < n; i++) s += a[i];                    \
            return s;                                                        \
        }
    GF_BOX_SUM(gf_box_sum_i32, int32_t)
    GF_BOX_SUM(gf_box_sum_i64, int64_t)
    GF_BOX_SUM(gf_box_sum_f64, double)
    """
    int32_t gf_box_sum_i32(const int32_t* a, Py_ssize_t n) noexcept nogil
    int64_t gf_box_sum_i64(const int64_t* a, Py_ssize_t n) noexcept nogil
    double gf_box_sum_f64(const double* a, Py_ssize_t n) noexcept nogil


cdef inline void gf_area_put(gf_pix_t* d, gf_sum_t h, int addhalf, float fscale,
                             double dscale) noexcept nogil:
    """One output from its block sum: float64 sums times 1/(kx*ky); integer
    sums as OpenCV, (sum + 2) >> 2 (2x2 path) or rint(float32(sum) * scale)
    saturated."""
    cdef float v
    if gf_sum_t is double:
        d[0] = <gf_pix_t>(h * dscale)
    elif addhalf:
        d[0] = <gf_pix_t>((<int64_t>h + 2) >> 2)
    else:
        v = rintf(<float>h * fscale)
        if v < 0:
            v = 0
        if gf_pix_t is uint8_t:
            if v > 255:
                v = 255
        else:
            if v > 65535:
                v = 65535
        d[0] = <gf_pix_t>v


cdef inline void gf_area_fast_sums(const gf_pix_t* s, Py_ssize_t W, Py_ssize_t C,
                                   Py_ssize_t ow, Py_ssize_t kx, Py_ssize_t ky, int addhalf,
                                   gf_pix_t* d, gf_sum_t* acc) noexcept nogil:
    """``gf_area_fast_row`` with row sums of type ``gf_sum_t``: the ky rows
    are added into a row of sums (a streaming loop, four rows per pass over
    the sums), then each output adds its kx sums: one contiguous reduction
    per output with one channel, else GF_AREA_OUTS outputs at a time so that
    their additions overlap."""
    cdef Py_ssize_t rl = ow * kx * C, j, t, x, xc, x0, m, b, c
    cdef gf_sum_t hs[GF_AREA_OUTS]
    cdef gf_sum_t h
    cdef float fscale = (<float>1.0) / <float>(kx * ky)
    cdef double dscale = 1.0 / <double>(kx * ky)
    cdef Py_ssize_t srl = W * C
    cdef const gf_pix_t* r0
    cdef const gf_pix_t* r1
    cdef const gf_pix_t* r2
    cdef const gf_pix_t* r3
    for j in range(rl):
        acc[j] = <gf_sum_t>s[j]
    t = 1
    while t + 4 <= ky:
        r0 = s + t * srl
        r1 = r0 + srl
        r2 = r1 + srl
        r3 = r2 + srl
        for j in range(rl):
            acc[j] = acc[j] + ((<gf_sum_t>r0[j] + <gf_sum_t>r1[j])
                               + (<gf_sum_t>r2[j] + <gf_sum_t>r3[j]))
        t = t + 4
    while t < ky:
        r0 = s + t * srl
        for j in range(rl):
            acc[j] = acc[j] + <gf_sum_t>r0[j]
        t = t + 1
    if C == 1:
        for x in range(ow):
            if gf_sum_t is int32_t:
                h = gf_box_sum_i32(acc + x * kx, kx)
            elif gf_sum_t is int64_t:
                h = gf_box_sum_i64(acc + x * kx, kx)
            else:
                h = gf_box_sum_f64(acc + x * kx, kx)
            gf_area_put(d + x, h, addhalf, fscale, dscale)
        return
    for xc in range((ow + GF_AREA_OUTS - 1) // GF_AREA_OUTS):
        x0 = xc * GF_AREA_OUTS
        m = min(<Py_ssize_t>GF_AREA_OUTS, ow - x0)
        for c in range(C):
            for x in range(GF_AREA_OUTS):
                hs[x] = 0
            for b in range(kx):
                for x in range(m):
                    hs[x] = hs[x] + acc[((x0 + x) * kx + b) * C + c]
            for x in range(m):
                gf_area_put(d + (x0 + x) * C + c, hs[x], addhalf, fscale, dscale)


cdef inline void gf_area_fast_row(const gf_pix_t* s, Py_ssize_t W, Py_ssize_t C,
                                  Py_ssize_t ow, Py_ssize_t kx, Py_ssize_t ky,
                                  int addhalf, gf_pix_t* d, int64_t* iacc,
                                  double* facc) noexcept nogil:
    """One output row of an integer-factor block mean: ``s`` is the first of
    the ky input rows.  Integer dtypes use ``iacc`` (W*C int64; int32 sums
    when a block's sum fits), floats ``facc`` (W*C double)."""
    cdef int64_t vmax = 255 if gf_pix_t is uint8_t else 65535
    if gf_pix_t is uint8_t or gf_pix_t is uint16_t:
        if kx * ky * vmax < 2147483647:
            gf_area_fast_sums(s, W, C, ow, kx, ky, addhalf, d, <int32_t*> iacc)
        else:
            gf_area_fast_sums(s, W, C, ow, kx, ky, addhalf, d, iacc)
    else:
        gf_area_fast_sums(s, W, C, ow, kx, ky, addhalf, d, facc)


cdef inline void gf_area_tab_row(const gf_pix_t* img, Py_ssize_t W, Py_ssize_t C,
                                 Py_ssize_t ow, Py_ssize_t dy,
                                 const int64_t* xofs, const int32_t* xsrc,
                                 const float* xal, const int64_t* yofs,
                                 const int32_t* ysrc, const float* yal,
                                 gf_pix_t* d, gf_acc_t* buf, gf_acc_t* acc) noexcept nogil:
    """Output row ``dy`` of OpenCV's fractional INTER_AREA: for each table
    row ``sy`` (weight beta), ``buf`` = the row's horizontal overlap sums,
    ``acc += beta * buf``; all in ``gf_acc_t`` (float32 unless the image is
    float64), in table order, then OpenCV's saturate_cast."""
    cdef Py_ssize_t rl = ow * C, j, e, x, t, c
    cdef gf_acc_t beta, b, alpha
    cdef const gf_pix_t* s
    cdef gf_acc_t v
    for j in range(rl):
        acc[j] = 0
    for e in range(yofs[dy], yofs[dy + 1]):
        s = img + <Py_ssize_t>ysrc[e] * W * C
        beta = <gf_acc_t>yal[e]
        for x in range(ow):
            for c in range(C):
                b = 0
                for t in range(xofs[x], xofs[x + 1]):
                    alpha = <gf_acc_t>xal[t]
                    b = b + (<gf_acc_t>s[<Py_ssize_t>xsrc[t] * C + c]) * alpha
                buf[x * C + c] = b
        for j in range(rl):
            acc[j] = acc[j] + beta * buf[j]
    for j in range(rl):
        if gf_pix_t is uint8_t or gf_pix_t is uint16_t:
            if gf_acc_t is float:
                v = rintf(acc[j])
            else:
                v = rint(acc[j])
            if v < 0:
                v = 0
            if gf_pix_t is uint8_t:
                if v > 255:
                    v = 255
            else:
                if v > 65535:
                    v = 65535
            d[j] = <gf_pix_t>v
        else:
            d[j] = <gf_pix_t>acc[j]
