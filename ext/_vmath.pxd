# Vectorisable elementary functions for the hot loops (used by ext/kde.pyx).
#
# A libm ``exp`` is a function call, so a loop that calls it stays scalar
# (about 0.25 G calls/s per core here).  These are plain arithmetic --
# range reduction, a polynomial, an exponent built with integer bit
# operations -- written as ``static inline`` C so that GCC/Clang vectorise
# every loop that uses them under any ``-m`` flags (SSE2, AVX2, AVX-512
# builds of the same source).  Being pure arithmetic, they give the same
# result on every SIMD level up to floating-point contraction (FMA).
#
# gf_exp(x)    double exp(x) for x <= 0: relative error about 1 ulp
#              (polynomial degree 11, near-minimax on |r| <= ln2/2,
#              Cody-Waite reduction).  Returns exactly 0 for
#              x < GF_EXP_MIN (-708.7), where exp(x) < 1.5e-308 would be
#              subnormal: such terms are dropped rather than rounded.
# gf_expf(x)   float version (degree 6, about 1.5 ulp); 0 for x < -87.5.
# gf_sinhalfpi(y), gf_sinhalfpif(y)
#              sin(pi/2 * y) for y in [0, 1] (Taylor series in (pi y/2)^2
#              truncated below 1e-18 / 1e-9 relative): relatively
#              accurate as y -> 0, which is where the cosine kernel
#              cos(pi/2 * r/h) = sin(pi/2 * (1 - r/h)) reaches its edge.
#
# The arguments must be finite (a huge negative finite x is fine and
# gives 0; -inf is not: the select below would still give 0, but NaNs are
# produced on the way, which -fno-trapping-math lets pass silently).

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>

    #define GF_EXP_MIN (-708.7)
    #define GF_EXPF_MIN (-87.5f)

    static inline double gf_exp(double x) {
        /* k = round(x / ln2) by the 1.5 * 2^52 shift: the low mantissa
           bits of kd hold k in two's complement */
        double kd = x * 1.4426950408889634 + 0x1.8p52;
        uint64_t ki;
        memcpy(&ki, &kd, sizeof ki);
        kd -= 0x1.8p52;
        /* r = x - k ln2 in two parts (ln2_hi has trailing zero bits, so
           k * ln2_hi is exact for |k| < 2^20) */
        double r = x - kd * 6.93147180369123816490e-01;
        r = r - kd * 1.90821492927058770002e-10;
        double p = 0x1.ad60386dfbc41p-26;
        p = p * r + 0x1.28b2f27b95634p-22;
        p = p * r + 0x1.71df48513acdcp-19;
        p = p * r + 0x1.a01992f5f6254p-16;
        p = p * r + 0x1.a01a010f3b93bp-13;
        p = p * r + 0x1.6c16c187720ccp-10;
        p = p * r + 0x1.1111111130fbap-7;
        p = p * r + 0x1.555555554f3bdp-5;
        p = p * r + 0x1.55555555554a2p-3;
        p = p * r + 0x1.0000000000010p-1;
        p = p * r + 1.0;
        p = p * r + 1.0;
        /* 2^k: (k + 1023) in the exponent field; normal for k >= -1022 */
        uint64_t sb = (ki + 1023u) << 52;
        double s;
        memcpy(&s, &sb, sizeof s);
        double e = p * s;
        return x < GF_EXP_MIN ? 0.0 : e;
    }

    static inline float gf_expf(float x) {
        float kd = x * 1.44269504f + 0x1.8p23f;
        uint32_t ki;
        memcpy(&ki, &kd, sizeof ki);
        kd -= 0x1.8p23f;
        float r = x - kd * 0.693359375f;
        r = r - kd * -2.12194440e-4f;
        float p = 0.0013836842f;
        p = p * r + 0.008374816f;
        p = p * r + 0.041668225f;
        p = p * r + 0.1666642f;
        p = p * r + 0.4999999f;
        p = p * r + 1.0f;
        p = p * r + 1.0f;
        uint32_t sb = (ki + 127u) << 23;
        float s;
        memcpy(&s, &sb, sizeof s);
        float e = p * s;
        return x < GF_EXPF_MIN ? 0.0f : e;
    }

    static inline double gf_sinhalfpi(double y) {
        double x = 1.5707963267948966 * y;
        double z = x * x;
        double p = 0x1.71b8ef6dcf572p-66;
        p = p * z - 0x1.2f49b46814157p-57;
        p = p * z + 0x1.952c77030ad4ap-49;
        p = p * z - 0x1.ae7f3e733b81fp-41;
        p = p * z + 0x1.6124613a86d09p-33;
        p = p * z - 0x1.ae64567f544e4p-26;
        p = p * z + 0x1.71de3a556c734p-19;
        p = p * z - 0x1.a01a01a01a01ap-13;
        p = p * z + 0x1.1111111111111p-7;
        p = p * z - 0x1.5555555555555p-3;
        p = p * z + 1.0;
        return x * p;
    }

    static inline float gf_sinhalfpif(float y) {
        float x = 1.57079637f * y;
        float z = x * x;
        float p = 1.6059044e-10f;
        p = p * z - 2.5052108e-08f;
        p = p * z + 2.7557319e-06f;
        p = p * z - 1.9841270e-04f;
        p = p * z + 8.3333333e-03f;
        p = p * z - 1.6666667e-01f;
        p = p * z + 1.0f;
        return x * p;
    }
    """
    double GF_EXP_MIN
    float GF_EXPF_MIN
    double gf_exp(double x) noexcept nogil
    float gf_expf(float x) noexcept nogil
    double gf_sinhalfpi(double y) noexcept nogil
    float gf_sinhalfpif(float y) noexcept nogil
