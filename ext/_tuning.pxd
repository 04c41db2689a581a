# Tuning constants that differ between the SIMD variants of the kernels.
#
# Every kernel module is compiled three times (baseline SSE2, AVX2 + FMA,
# AVX-512); the compiler's own macros say which build this is, and the
# constants below follow.  They mirror ``gilfree._config.SIMD_TUNING`` (one
# dict per variant), and every module exports them as ``TUNING`` so that a
# test checks both sides agree.  Why they differ: AVX2 code has 16 vector
# registers of 4 doubles, AVX-512 code 32 of 8 doubles, so the number of
# independent partial sums that keeps the FMA units busy without spilling
# registers differs.
#
# GF_KDE_ACC_D / GF_KDE_ACC_F: partial sums (lanes) of the exp-family KDE
#     sample loops, float64 / float32 (ext/_kde_loops.pxd).  Each must
#     divide GF_KDE_LANES (the padding multiple of the sample count).
# GF_RESAMPLE_SETS: interleaved sets of partial sums in resample_poly's inner
#     product (ext/resample.pyx): 2, 4 or 8.
# GF_RESIZE_ROWS: image rows the horizontal pass of the convolution
#     resamplers computes at once (ext/_resize_core.pxi): each tap is then
#     one multiply-add over this many rows (int32 or float64 lanes), and a
#     block of rows x W samples stays in cache.
# GF_RESIZE_U8_BLOCKS: 1 when the 8-bit horizontal pass goes by such blocks
#     too, 0 when it goes row by row (GCC leaves the blocked 8-bit loop
#     scalar below AVX-512, where the row loop is faster).

cdef extern from *:
    """
    #if defined(GF_TUNING_OVERRIDE)
    /* a local experiment sets every constant with -D */
    #elif defined(__AVX512F__)
    #define GF_TUNING_LEVEL "avx512"
    #define GF_RESAMPLE_SETS 4
    #define GF_RESIZE_ROWS 16
    #define GF_RESIZE_U8_BLOCKS 1
    #define GF_KDE_ACC_D 16
    #define GF_KDE_ACC_F 32
    #elif defined(__AVX2__)
    #define GF_TUNING_LEVEL "avx2"
    #define GF_RESAMPLE_SETS 2
    #define GF_RESIZE_ROWS 16
    #define GF_RESIZE_U8_BLOCKS 0
    #define GF_KDE_ACC_D 8
    #define GF_KDE_ACC_F 16
    #else
    #define GF_TUNING_LEVEL "baseline"
    #define GF_RESAMPLE_SETS 2
    #define GF_RESIZE_ROWS 16
    #define GF_RESIZE_U8_BLOCKS 0
    #define GF_KDE_ACC_D 4
    #define GF_KDE_ACC_F 8
    #endif
    """
    const char* GF_TUNING_LEVEL
    int GF_KDE_ACC_D
    int GF_KDE_ACC_F
    int GF_RESAMPLE_SETS
    enum: GF_RESIZE_ROWS
    enum: GF_RESIZE_U8_BLOCKS
