# All OpenMP use in gilfree goes through this file (STYLE.md 3): when the
# extension is compiled without OpenMP the calls still exist and report one
# thread, and Cython's prange runs serially.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int gf_openmp_enabled(void) { return 1; }
    static int gf_omp_max_threads(void) { return omp_get_max_threads(); }
    static int gf_omp_thread_num(void) { return omp_get_thread_num(); }
    static int gf_omp_num_threads(void) { return omp_get_num_threads(); }
    #else
    static int gf_openmp_enabled(void) { return 0; }
    static int gf_omp_max_threads(void) { return 1; }
    static int gf_omp_thread_num(void) { return 0; }
    static int gf_omp_num_threads(void) { return 1; }
    #endif
    """
    int gf_openmp_enabled() noexcept nogil
    int gf_omp_max_threads() noexcept nogil
    int gf_omp_thread_num() noexcept nogil
    int gf_omp_num_threads() noexcept nogil
