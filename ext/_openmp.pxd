# All OpenMP use in gilfree goes through this file, so that when the
# extension is compiled without OpenMP the calls still exist and report one
# thread, and Cython's prange runs serially.
#
# gf_note_team() is the thread-count probe: every parallel region of a
# kernel calls it (once per thread, or once per iteration of a bare prange);
# it records the size of the calling thread's team, which the module's
# ``_omp_team_size()`` (ext/_omp_probe.pxi) reports to Python.  It only
# reads the shared values once they hold the team's size (no cache-line
# traffic per iteration), and any thread of the team may record it (with a
# dynamic schedule the master may get no iteration at all).
# The tests use it to check that the kernels run as many threads as they
# resolve, e.g. one inside threadpoolctl.threadpool_limits(1).

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
    static int gf_team_largest = 0, gf_team_last = 0;
    #if defined(__GNUC__)
    #define GF_TEAM_STORE(v, n) __atomic_store_n(&(v), (n), __ATOMIC_RELAXED)
    #define GF_TEAM_LOAD(v) __atomic_load_n(&(v), __ATOMIC_RELAXED)
    #else
    #define GF_TEAM_STORE(v, n) ((v) = (n))
    #define GF_TEAM_LOAD(v) (v)
    #endif
    static inline void gf_note_team(void) {
        int n = gf_omp_num_threads();
        if (GF_TEAM_LOAD(gf_team_last) != n) GF_TEAM_STORE(gf_team_last, n);
        if (GF_TEAM_LOAD(gf_team_largest) < n) GF_TEAM_STORE(gf_team_largest, n);
    }
    static inline int gf_team_report(int reset, int* last) {
        int largest = GF_TEAM_LOAD(gf_team_largest);
        *last = GF_TEAM_LOAD(gf_team_last);
        if (reset) { GF_TEAM_STORE(gf_team_largest, 0); GF_TEAM_STORE(gf_team_last, 0); }
        return largest;
    }
    """
    int gf_openmp_enabled() noexcept nogil
    int gf_omp_max_threads() noexcept nogil
    int gf_omp_thread_num() noexcept nogil
    int gf_omp_num_threads() noexcept nogil
    void gf_note_team() noexcept nogil
    int gf_team_report(int reset, int* last) noexcept nogil
