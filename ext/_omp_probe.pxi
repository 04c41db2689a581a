# The thread-count probe of a kernel module (see _openmp.pxd), included by
# every module with parallel regions.

from _openmp cimport gf_team_report


def _omp_team_size(bint reset=False):
    """``(largest, last)``: the largest OpenMP team this module's parallel
    regions ran with since the previous reset, and the last one (0, 0 when
    none ran).  ``reset=True`` clears them after reading.  Instrumentation
    for the tests (thread limits are checked by what the kernels used)."""
    cdef int last = 0
    cdef int largest = gf_team_report(1 if reset else 0, &last)
    return int(largest), int(last)
