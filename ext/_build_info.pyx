# cython: language_level=3
"""Build facts of the compiled extensions and CPU feature detection.

``openmp_enabled()`` answers whether the kernels were compiled with OpenMP;
``cpu_supports(feature)`` asks the CPU (through the compiler's cpuid
builtins) so that ``gilfree._cy`` can pick a SIMD variant at import.
"""

from _openmp cimport gf_openmp_enabled, gf_omp_max_threads

cdef extern from *:
    """
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    static int gf_cpu_avx2(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    static int gf_cpu_avx512(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd")
            && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
            && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
    }
    #else
    static int gf_cpu_avx2(void) { return 0; }
    static int gf_cpu_avx512(void) { return 0; }
    #endif
    #if defined(__clang__)
    #define GF_COMPILER "clang " __clang_version__
    #elif defined(__GNUC__)
    #define GF_COMPILER "gcc " __VERSION__
    #elif defined(_MSC_VER)
    #define GF_STR2(x) #x
    #define GF_STR(x) GF_STR2(x)
    #define GF_COMPILER "msvc " GF_STR(_MSC_VER)
    #else
    #define GF_COMPILER "unknown"
    #endif
    #ifdef _OPENMP
    #define GF_OPENMP_VERSION _OPENMP
    #else
    #define GF_OPENMP_VERSION 0
    #endif
    """
    int gf_cpu_avx2() noexcept nogil
    int gf_cpu_avx512() noexcept nogil
    const char* GF_COMPILER
    int GF_OPENMP_VERSION
    const char* GILFREE_CYTHON_VERSION
    const char* GILFREE_BUILD_NUMPY_VERSION


def openmp_enabled():
    """True when the extensions were compiled with OpenMP."""
    return bool(gf_openmp_enabled())


def openmp_version():
    """The ``_OPENMP`` date macro of the build (e.g. 201511), or 0."""
    return int(GF_OPENMP_VERSION)


def omp_max_threads():
    """OpenMP's default team size in this process (1 without OpenMP)."""
    return int(gf_omp_max_threads())


def cpu_supports(str feature):
    """Whether the running CPU supports a SIMD level: 'avx2' or 'avx512'."""
    if feature == "avx2":
        return bool(gf_cpu_avx2())
    if feature == "avx512":
        return bool(gf_cpu_avx512())
    raise ValueError(f"feature must be 'avx2' or 'avx512', got {feature!r}")


def build_info():
    """Compiler, Cython and NumPy versions used to build the extensions."""
    return {
        "compiler": (<bytes>GF_COMPILER).decode("utf-8", "replace"),
        "cython": (<bytes>GILFREE_CYTHON_VERSION).decode(),
        "numpy_build": (<bytes>GILFREE_BUILD_NUMPY_VERSION).decode(),
        "openmp": bool(gf_openmp_enabled()),
        "openmp_version": int(GF_OPENMP_VERSION),
    }
