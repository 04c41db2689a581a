"""Subsequence DTW and stride segmentation.

- :func:`subsequence_cost_matrix`: the accumulated cost matrix of a
  subsequence DTW (free start, free end), GIL-free, parallel over signal
  blocks with a deterministic wavefront.
- :class:`DtwTemplate` and :class:`BarthDtw`: the stride-segmentation
  pipeline of gaitmap's ``BarthDtw`` (template resampled to the data rate,
  data and template transformed by the template's scale, cost function
  ``sqrt(D[M-1, :])``, match ends by ``find_peaks`` or ``min_under_thres``,
  backtracking, snap-to-minimum, length limits, conflict resolution), with
  gaitmap's parameters, template objects, multi-sensor data and
  ``stride_list_`` (see ``gilfree._gaitmap``).  Same matches and costs as
  gaitmap.
- :func:`sweep`: a parameter grid over ``BarthDtw`` in which each distinct
  cost matrix (template columns, scale, resampled template) is computed
  once, and shared by every grid point that differs only in post-processing
  (``max_cost``, match lengths, snapping, conflict resolution).

Memory: segmentation never stores the (M, N) float64 accumulated cost
matrix.  It keeps the last row (the cost function) and one byte per cell
saying which predecessor gave the minimum, which is all that backtracking
needs (stored in column blocks, so that the kernel writes sequentially and
a path reads one or two small blocks) (a 2-hour recording at 204.8 Hz with a 200-sample template: 300 MB
instead of 2.4 GB; the direction bytes are dropped once the paths are
traced).  ``acc_cost_mat_`` is computed on first access (and then kept);
accessing it for a long recording costs its full size.

pandas is needed only when DataFrames are passed; arrays with ``columns=``
work without it.

The code lives in private modules: ``_dtw_kernel`` (the kernel calls),
``_dtw_params`` (parameters, named-column tables), ``_dtw_estimator``
(``DtwTemplate``, ``BarthDtw``) and ``_dtw_sweep``.
"""

from . import _config
from ._dtw_estimator import BarthDtw, DtwTemplate
from ._dtw_kernel import _accumulate, _trace_paths, subsequence_cost_matrix  # noqa: F401
from ._dtw_sweep import _plan_sweep, sweep  # noqa: F401 - _plan_sweep: gilfree.distributed

__all__ = ["BarthDtw", "DtwTemplate", "subsequence_cost_matrix", "sweep"]

for _public in (BarthDtw, DtwTemplate, subsequence_cost_matrix, sweep):
    _public.__module__ = __name__  # reprs, pickles and docs name gilfree.dtw
del _public

_config.register_kernel(
    "dtw",
    auto=("cython", "numba", "numpy"),
    engines={
        "numba": "gilfree._numba.dtw",
        "cython": "gilfree._cy.dtw",
        "numpy": "gilfree._reference.dtw",
        "python": "gilfree._reference.dtw_python",
    },
)
