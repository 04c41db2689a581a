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
#   otherwise).
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

cdef inline void gf_area_fast_row(const gf_pix_t* s, Py_ssize_t W, Py_ssize_t C,
                                  Py_ssize_t ow, Py_ssize_t kx, Py_ssize_t ky,
                                  int addhalf, gf_pix_t* d, int64_t* iacc,
                                  double* facc) noexcept nogil:
    """One output row of an integer-factor block mean: ``s`` is the first of
    the ky input rows.  Integer dtypes use ``iacc`` (W*C int64), floats
    ``facc`` (W*C double)."""
    cdef Py_ssize_t rl = W * C, j, t, x, b, c
    cdef int64_t isum
    cdef double fsum
    cdef float fscale = (<float>1.0) / <float>(kx * ky)
    cdef double dscale = 1.0 / <double>(kx * ky)
    cdef const gf_pix_t* row
    cdef float v
    if gf_pix_t is uint8_t or gf_pix_t is uint16_t:
        for j in range(rl):
            iacc[j] = s[j]
        for t in range(1, ky):
            row = s + t * rl
            for j in range(rl):
                iacc[j] = iacc[j] + row[j]
        for x in range(ow):
            for c in range(C):
                isum = 0
                for b in range(kx):
                    isum = isum + iacc[(x * kx + b) * C + c]
                if addhalf:
                    d[x * C + c] = <gf_pix_t>((isum + 2) >> 2)
                else:
                    v = rintf(<float>isum * fscale)
                    if v < 0:
                        v = 0
                    if gf_pix_t is uint8_t:
                        if v > 255:
                            v = 255
                    else:
                        if v > 65535:
                            v = 65535
                    d[x * C + c] = <gf_pix_t>v
    else:
        for j in range(rl):
            facc[j] = s[j]
        for t in range(1, ky):
            row = s + t * rl
            for j in range(rl):
                facc[j] = facc[j] + row[j]
        for x in range(ow):
            for c in range(C):
                fsum = 0.0
                for b in range(kx):
                    fsum = fsum + facc[(x * kx + b) * C + c]
                d[x * C + c] = <gf_pix_t>(fsum * dscale)


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
