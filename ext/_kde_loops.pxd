# The inner loops of the exp-family KDE kernels (ext/kde.pyx), in C.
#
# Written directly in C with ``restrict`` pointers: GCC vectorises every loop
# here in every SIMD variant.  One chunk of samples [a, b) for one point:
#
# - H == 1 and dim <= 3 (the common case): one fused loop per pair
#   (distance, exp, weighted sum), the dimension a compile-time constant;
# - otherwise two loops: the chunk's squared distances (or distances, ``sq``)
#   into the scratch ``tb`` (one pass per dimension over contiguous rows),
#   then, per bandwidth, a reduction over ``tb``.
#
# Sums use GF_KDE_ACC_D / GF_KDE_ACC_F partial sums (``_tuning.pxd``, per
# SIMD variant): partial sum l takes samples a + l, a + l + ACC, ...; they
# are combined by a fixed pairwise tree.  The order depends only on the
# variant, never on the thread count.  ``b - a`` must be a multiple of
# GF_KDE_LANES (the sample count is padded to it), which ACC divides.
#
# gf_kde_exp_chunk_{d,f}(xs, w, stride, dim, qp, c, H, sq, a, b, tb, dst)
#     dst[k] += sum_{a <= i < b} w[i] * exp(-c[k] * arg_i)
# gf_kde_max_chunk_{d,f}(xs, lw, stride, dim, qp, c, H, sq, a, b, tb, mx)
#     mx[k] = max(mx[k], max_i lw[i] - c[k] * arg_i)
# gf_kde_lse_chunk_{d,f}(xs, lw, stride, dim, qp, c, H, sq, shift, a, b, tb, dst)
#     dst[k] += sum_i exp((lw[i] - c[k] * arg_i) - shift[k])
# gf_kde_probe_{d,f}(xs, w, stride, dim, qp, ck, sq, n)
#     the ceiling probe: sum_i w[i] * exp(ck * arg_i) over samples 0..n of one
#     point (dim <= 3), the same arithmetic per pair as exp_sum (H == 1) in
#     the simplest loop the compiler vectorises: one ``omp simd`` reduction.
#
# arg_i = |qp - xs[:, i]|^2, or its square root when sq; xs is (dim, stride)
# row-major; tb holds at least b - a elements.

from _vmath cimport gf_exp, gf_expf
from _tuning cimport GF_KDE_ACC_D, GF_KDE_ACC_F

cdef extern from *:
    """
    #include <math.h>
    #define GF_KDE_LANES 32

    /* the rows and point coordinates of dimension D known at compile time,
       and the squared distance of pair i */
    #define GF_KDE_SET1(T) const T* restrict x0 = xs; const T q0 = qp[0];
    #define GF_KDE_SET2(T) GF_KDE_SET1(T) const T* restrict x1 = xs + stride; \\
                           const T q1 = qp[1];
    #define GF_KDE_SET3(T) GF_KDE_SET2(T) const T* restrict x2 = xs + 2 * stride; \\
                           const T q2 = qp[2];
    #define GF_KDE_ARG1(T) T v0 = q0 - x0[i]; T t = v0 * v0;
    #define GF_KDE_ARG2(T) T v0 = q0 - x0[i]; T v1 = q1 - x1[i]; T t = v0 * v0 + v1 * v1;
    #define GF_KDE_ARG3(T) T v0 = q0 - x0[i]; T v1 = q1 - x1[i]; T v2 = q2 - x2[i]; \\
                           T t = v0 * v0 + v1 * v1 + v2 * v2;

    /* acc[0] = the pairwise tree sum of acc[0 .. ACC), ACC a power of two
       <= 64; every step has a constant trip count, so the compiler turns
       the tree into a few vector adds (a loop over the width does not) */
    #define GF_KDE_STEP(acc, ACC, W)                                              \\
        if ((ACC) > (W)) for (int l = 0; l < (W); l++) acc[l] = acc[l] + acc[l + (W)];
    #define GF_KDE_TREE(acc, ACC)                                                 \\
        GF_KDE_STEP(acc, ACC, 32) GF_KDE_STEP(acc, ACC, 16) GF_KDE_STEP(acc, ACC, 8) \\
        GF_KDE_STEP(acc, ACC, 4) GF_KDE_STEP(acc, ACC, 2) GF_KDE_STEP(acc, ACC, 1)

    /* one fused chunk loop: exp_sum, H == 1, dimension D, sq known */
    #define GF_KDE_FUSED(NAME, T, EXP, SQRT, ACC, D, SQ)                          \\
    static inline T NAME(const T* restrict xs, const T* restrict w,               \\
                         Py_ssize_t stride, const T* restrict qp, T ck,           \\
                         Py_ssize_t a, Py_ssize_t b) {                            \\
        GF_KDE_SET##D(T)                                                          \\
        T acc[ACC];                                                               \\
        for (int l = 0; l < ACC; l++) acc[l] = 0;                                 \\
        for (Py_ssize_t i0 = a; i0 < b; i0 += ACC) {                              \\
            for (int l = 0; l < ACC; l++) {                                       \\
                Py_ssize_t i = i0 + l;                                            \\
                GF_KDE_ARG##D(T)                                                  \\
                if (SQ) t = SQRT(t);                                              \\
                acc[l] += w[i] * EXP(ck * t);                                     \\
            }                                                                     \\
        }                                                                         \\
        GF_KDE_TREE(acc, ACC)                                                     \\
        return acc[0];                                                            \\
    }

    /* the probe's loop: one reduction the compiler vectorises as it likes */
    #define GF_KDE_PROBE_LOOP(T, EXP, SQRT, D, SQ)                                \\
        GF_KDE_SET##D(T)                                                          \\
        _Pragma("omp simd reduction(+:s)")                                        \\
        for (Py_ssize_t i = 0; i < n; i++) {                                      \\
            GF_KDE_ARG##D(T)                                                      \\
            if (SQ) t = SQRT(t);                                                  \\
            s += w[i] * EXP(ck * t);                                              \\
        }

    #define GF_KDE_LOOPS(SFX, T, EXP, SQRT, ACC)                                  \\
    GF_KDE_FUSED(gf_kde_f1_##SFX, T, EXP, SQRT, ACC, 1, 0)              \\
    GF_KDE_FUSED(gf_kde_f2_##SFX, T, EXP, SQRT, ACC, 2, 0)              \\
    GF_KDE_FUSED(gf_kde_f3_##SFX, T, EXP, SQRT, ACC, 3, 0)              \\
    GF_KDE_FUSED(gf_kde_s1_##SFX, T, EXP, SQRT, ACC, 1, 1)              \\
    GF_KDE_FUSED(gf_kde_s2_##SFX, T, EXP, SQRT, ACC, 2, 1)              \\
    GF_KDE_FUSED(gf_kde_s3_##SFX, T, EXP, SQRT, ACC, 3, 1)              \\
                                                                                  \\
    /* tb[0 .. b-a) = squared distances (distances if sq) */                      \\
    static inline void gf_kde_args_##SFX(const T* restrict xs, Py_ssize_t stride, \\
                                         Py_ssize_t dim, const T* restrict qp,    \\
                                         int sq, Py_ssize_t a, Py_ssize_t b,      \\
                                         T* restrict tb) {                        \\
        const Py_ssize_t nb = b - a;                                              \\
        const T* restrict x = xs + a;                                             \\
        T qc = qp[0];                                                             \\
        for (Py_ssize_t i = 0; i < nb; i++) { T v = qc - x[i]; tb[i] = v * v; }   \\
        for (Py_ssize_t c = 1; c < dim; c++) {                                    \\
            x = xs + c * stride + a;                                              \\
            qc = qp[c];                                                           \\
            for (Py_ssize_t i = 0; i < nb; i++) { T v = qc - x[i]; tb[i] += v * v; } \\
        }                                                                         \\
        if (sq) for (Py_ssize_t i = 0; i < nb; i++) tb[i] = SQRT(tb[i]);          \\
    }                                                                             \\
                                                                                  \\
    static inline void gf_kde_exp_chunk_##SFX(                                    \\
            const T* restrict xs, const T* restrict w, Py_ssize_t stride,         \\
            Py_ssize_t dim, const T* restrict qp, const T* restrict c,            \\
            Py_ssize_t H, int sq, Py_ssize_t a, Py_ssize_t b, T* restrict tb,     \\
            double* restrict dst) {                                               \\
        if (H == 1 && dim <= 3) {                                                 \\
            const T ck = -c[0];                                                   \\
            T s;                                                                  \\
            if (dim == 1) s = sq ? gf_kde_s1_##SFX(xs, w, stride, qp, ck, a, b)   \\
                                 : gf_kde_f1_##SFX(xs, w, stride, qp, ck, a, b);  \\
            else if (dim == 2) s = sq ? gf_kde_s2_##SFX(xs, w, stride, qp, ck, a, b) \\
                                      : gf_kde_f2_##SFX(xs, w, stride, qp, ck, a, b); \\
            else s = sq ? gf_kde_s3_##SFX(xs, w, stride, qp, ck, a, b)            \\
                        : gf_kde_f3_##SFX(xs, w, stride, qp, ck, a, b);           \\
            dst[0] += (double)s;                                                  \\
            return;                                                               \\
        }                                                                         \\
        gf_kde_args_##SFX(xs, stride, dim, qp, sq, a, b, tb);                     \\
        const Py_ssize_t nb = b - a;                                              \\
        const T* restrict wa = w + a;                                             \\
        for (Py_ssize_t k = 0; k < H; k++) {                                      \\
            const T ck = -c[k];                                                   \\
            T acc[ACC];                                                           \\
            for (int l = 0; l < ACC; l++) acc[l] = 0;                             \\
            for (Py_ssize_t i0 = 0; i0 < nb; i0 += ACC)                           \\
                for (int l = 0; l < ACC; l++)                                     \\
                    acc[l] += wa[i0 + l] * EXP(ck * tb[i0 + l]);                  \\
            GF_KDE_TREE(acc, ACC)                                                 \\
            dst[k] += (double)acc[0];                                             \\
        }                                                                         \\
    }                                                                             \\
                                                                                  \\
    static inline void gf_kde_max_chunk_##SFX(                                    \\
            const T* restrict xs, const T* restrict lw, Py_ssize_t stride,        \\
            Py_ssize_t dim, const T* restrict qp, const T* restrict c,            \\
            Py_ssize_t H, int sq, Py_ssize_t a, Py_ssize_t b, T* restrict tb,     \\
            T* restrict mx) {                                                     \\
        gf_kde_args_##SFX(xs, stride, dim, qp, sq, a, b, tb);                     \\
        const Py_ssize_t nb = b - a;                                              \\
        const T* restrict la = lw + a;                                            \\
        for (Py_ssize_t k = 0; k < H; k++) {                                      \\
            const T ck = -c[k];                                                   \\
            T acc[ACC];                                                           \\
            for (int l = 0; l < ACC; l++) acc[l] = mx[k];                         \\
            for (Py_ssize_t i0 = 0; i0 < nb; i0 += ACC)                           \\
                for (int l = 0; l < ACC; l++) {                                   \\
                    T v = la[i0 + l] + ck * tb[i0 + l];                           \\
                    acc[l] = v > acc[l] ? v : acc[l];                             \\
                }                                                                 \\
            T v = acc[0];                                                         \\
            for (int l = 1; l < ACC; l++) v = acc[l] > v ? acc[l] : v;            \\
            mx[k] = v;                                                            \\
        }                                                                         \\
    }                                                                             \\
                                                                                  \\
    static inline void gf_kde_lse_chunk_##SFX(                                    \\
            const T* restrict xs, const T* restrict lw, Py_ssize_t stride,        \\
            Py_ssize_t dim, const T* restrict qp, const T* restrict c,            \\
            Py_ssize_t H, int sq, const T* restrict shift, Py_ssize_t a,          \\
            Py_ssize_t b, T* restrict tb, double* restrict dst) {                 \\
        gf_kde_args_##SFX(xs, stride, dim, qp, sq, a, b, tb);                     \\
        const Py_ssize_t nb = b - a;                                              \\
        const T* restrict la = lw + a;                                            \\
        for (Py_ssize_t k = 0; k < H; k++) {                                      \\
            const T ck = -c[k];                                                   \\
            const T sk = shift[k];                                                \\
            T acc[ACC];                                                           \\
            for (int l = 0; l < ACC; l++) acc[l] = 0;                             \\
            for (Py_ssize_t i0 = 0; i0 < nb; i0 += ACC)                           \\
                for (int l = 0; l < ACC; l++)                                     \\
                    acc[l] += EXP((la[i0 + l] + ck * tb[i0 + l]) - sk);           \\
            GF_KDE_TREE(acc, ACC)                                                 \\
            dst[k] += (double)acc[0];                                             \\
        }                                                                         \\
    }                                                                             \\
                                                                                  \\
    static double gf_kde_probe_##SFX(const T* restrict xs, const T* restrict w,   \\
                                     Py_ssize_t stride, Py_ssize_t dim,           \\
                                     const T* restrict qp, T ck, int sq,          \\
                                     Py_ssize_t n) {                              \\
        T s = 0;                                                                  \\
        if (dim == 1 && !sq) { GF_KDE_PROBE_LOOP(T, EXP, SQRT, 1, 0) }            \\
        else if (dim == 1) { GF_KDE_PROBE_LOOP(T, EXP, SQRT, 1, 1) }              \\
        else if (dim == 2 && !sq) { GF_KDE_PROBE_LOOP(T, EXP, SQRT, 2, 0) }       \\
        else if (dim == 2) { GF_KDE_PROBE_LOOP(T, EXP, SQRT, 2, 1) }              \\
        else if (!sq) { GF_KDE_PROBE_LOOP(T, EXP, SQRT, 3, 0) }                   \\
        else { GF_KDE_PROBE_LOOP(T, EXP, SQRT, 3, 1) }                            \\
        return (double)s;                                                         \\
    }

    GF_KDE_LOOPS(d, double, gf_exp, sqrt, GF_KDE_ACC_D)
    GF_KDE_LOOPS(f, float, gf_expf, sqrtf, GF_KDE_ACC_F)
    """
    int GF_KDE_LANES
    void gf_kde_exp_chunk_d(const double* xs, const double* w, Py_ssize_t stride,
                            Py_ssize_t dim, const double* qp, const double* c, Py_ssize_t H,
                            int sq, Py_ssize_t a, Py_ssize_t b, double* tb,
                            double* dst) noexcept nogil
    void gf_kde_exp_chunk_f(const float* xs, const float* w, Py_ssize_t stride,
                            Py_ssize_t dim, const float* qp, const float* c, Py_ssize_t H,
                            int sq, Py_ssize_t a, Py_ssize_t b, float* tb,
                            double* dst) noexcept nogil
    void gf_kde_max_chunk_d(const double* xs, const double* lw, Py_ssize_t stride,
                            Py_ssize_t dim, const double* qp, const double* c, Py_ssize_t H,
                            int sq, Py_ssize_t a, Py_ssize_t b, double* tb,
                            double* mx) noexcept nogil
    void gf_kde_max_chunk_f(const float* xs, const float* lw, Py_ssize_t stride,
                            Py_ssize_t dim, const float* qp, const float* c, Py_ssize_t H,
                            int sq, Py_ssize_t a, Py_ssize_t b, float* tb,
                            float* mx) noexcept nogil
    void gf_kde_lse_chunk_d(const double* xs, const double* lw, Py_ssize_t stride,
                            Py_ssize_t dim, const double* qp, const double* c, Py_ssize_t H,
                            int sq, const double* shift, Py_ssize_t a, Py_ssize_t b,
                            double* tb, double* dst) noexcept nogil
    void gf_kde_lse_chunk_f(const float* xs, const float* lw, Py_ssize_t stride,
                            Py_ssize_t dim, const float* qp, const float* c, Py_ssize_t H,
                            int sq, const float* shift, Py_ssize_t a, Py_ssize_t b,
                            float* tb, double* dst) noexcept nogil
    double gf_kde_probe_d(const double* xs, const double* w, Py_ssize_t stride,
                          Py_ssize_t dim, const double* qp, double ck, int sq,
                          Py_ssize_t n) noexcept nogil
    double gf_kde_probe_f(const float* xs, const float* w, Py_ssize_t stride,
                          Py_ssize_t dim, const float* qp, float ck, int sq,
                          Py_ssize_t n) noexcept nogil
