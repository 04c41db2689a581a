# The innermost loop of the exp-family KDE kernels (ext/kde.pyx), in C.
#
# Cython's rendering of the same loop ran ~25% slower here (index
# temporaries, aliasing it cannot rule out); written directly in C with
# ``restrict`` pointers and fixed-size local lane arrays, GCC vectorises it
# fully in every SIMD variant.  Same arithmetic and summation order as the
# Cython version it replaces: lane l of LANES takes samples l, l + LANES, ...
# of the chunk, lanes are combined by a fixed pairwise tree.
#
# gf_kde_exp_chunk_{d,f}(xs, w, stride, dim, qp, c, H, sq, a, b, acc, dst):
#   dst[k] += sum_{a <= i < b} w[i] * exp(-c[k] * arg_i),
#   arg_i = |qp - xs[:, i]|^2, or its square root when sq;
#   xs is (dim, stride) row-major, b - a a multiple of GF_KDE_LANES;
#   acc is scratch of H * GF_KDE_LANES elements (used when H > 1).

from _vmath cimport gf_exp, gf_expf

cdef extern from *:
    """
    #include <math.h>
    #define GF_KDE_LANES 32

    #define GF_KDE_EXP_CHUNK(NAME, T, EXP, SQRT)                                  \\
    static inline void NAME(const T* restrict xs, const T* restrict w,            \\
                            Py_ssize_t stride, Py_ssize_t dim,                    \\
                            const T* restrict qp, const T* restrict c,            \\
                            Py_ssize_t H, int sq, Py_ssize_t a, Py_ssize_t b,     \\
                            T* restrict acc, double* restrict dst) {              \\
        T t[GF_KDE_LANES];                                                        \\
        T one[GF_KDE_LANES];                                                      \\
        Py_ssize_t i, k, cc;                                                      \\
        int l, width;                                                             \\
        if (H == 1) {                                                             \\
            const T ck = -c[0];                                                   \\
            for (l = 0; l < GF_KDE_LANES; l++) one[l] = 0;                        \\
            for (i = a; i < b; i += GF_KDE_LANES) {                               \\
                for (l = 0; l < GF_KDE_LANES; l++) t[l] = 0;                      \\
                for (cc = 0; cc < dim; cc++) {                                    \\
                    const T* restrict row = xs + cc * stride + i;                 \\
                    const T qc = qp[cc];                                          \\
                    for (l = 0; l < GF_KDE_LANES; l++) {                          \\
                        T v = qc - row[l];                                        \\
                        t[l] += v * v;                                            \\
                    }                                                             \\
                }                                                                 \\
                if (sq) for (l = 0; l < GF_KDE_LANES; l++) t[l] = SQRT(t[l]);     \\
                for (l = 0; l < GF_KDE_LANES; l++)                                \\
                    one[l] += w[i + l] * EXP(ck * t[l]);                          \\
            }                                                                     \\
            for (width = GF_KDE_LANES / 2; width > 0; width /= 2)                 \\
                for (l = 0; l < width; l++) one[l] = one[l] + one[l + width];     \\
            dst[0] += (double)one[0];                                             \\
            return;                                                               \\
        }                                                                         \\
        for (k = 0; k < H * GF_KDE_LANES; k++) acc[k] = 0;                        \\
        for (i = a; i < b; i += GF_KDE_LANES) {                                   \\
            for (l = 0; l < GF_KDE_LANES; l++) t[l] = 0;                          \\
            for (cc = 0; cc < dim; cc++) {                                        \\
                const T* restrict row = xs + cc * stride + i;                     \\
                const T qc = qp[cc];                                              \\
                for (l = 0; l < GF_KDE_LANES; l++) {                              \\
                    T v = qc - row[l];                                            \\
                    t[l] += v * v;                                                \\
                }                                                                 \\
            }                                                                     \\
            if (sq) for (l = 0; l < GF_KDE_LANES; l++) t[l] = SQRT(t[l]);         \\
            for (k = 0; k < H; k++) {                                             \\
                const T ck = -c[k];                                               \\
                T* restrict ak = acc + k * GF_KDE_LANES;                          \\
                for (l = 0; l < GF_KDE_LANES; l++) one[l] = ak[l];                \\
                for (l = 0; l < GF_KDE_LANES; l++)                                \\
                    one[l] += w[i + l] * EXP(ck * t[l]);                          \\
                for (l = 0; l < GF_KDE_LANES; l++) ak[l] = one[l];                \\
            }                                                                     \\
        }                                                                         \\
        for (k = 0; k < H; k++) {                                                 \\
            T* ak = acc + k * GF_KDE_LANES;                                       \\
            for (width = GF_KDE_LANES / 2; width > 0; width /= 2)                 \\
                for (l = 0; l < width; l++) ak[l] = ak[l] + ak[l + width];        \\
            dst[k] += (double)ak[0];                                              \\
        }                                                                         \\
    }

    GF_KDE_EXP_CHUNK(gf_kde_exp_chunk_d, double, gf_exp, sqrt)
    GF_KDE_EXP_CHUNK(gf_kde_exp_chunk_f, float, gf_expf, sqrtf)
    """
    int GF_KDE_LANES
    void gf_kde_exp_chunk_d(const double* xs, const double* w, Py_ssize_t stride,
                            Py_ssize_t dim, const double* qp, const double* c, Py_ssize_t H,
                            int sq, Py_ssize_t a, Py_ssize_t b, double* acc,
                            double* dst) noexcept nogil
    void gf_kde_exp_chunk_f(const float* xs, const float* w, Py_ssize_t stride,
                            Py_ssize_t dim, const float* qp, const float* c, Py_ssize_t H,
                            int sq, Py_ssize_t a, Py_ssize_t b, float* acc,
                            double* dst) noexcept nogil
