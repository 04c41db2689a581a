""":meth:`gilfree.gaussian_kde.evaluate` on a Dask cluster.

Imports no kernel module (the estimator brings its own methods), so that
``gaussian_kde.evaluate(points, client=...)`` can call it without an
import cycle.
"""

import numpy as np

from ._core import scale_rows


def gaussian_kde_evaluate(kde, points, *, log=False, client=None, n_workers=None,
                          retries=None):
    """``kde.evaluate(points)`` (or ``kde.logpdf`` with ``log=True``) of a
    :class:`gilfree.gaussian_kde` on a Dask cluster: the estimator (its
    dataset) is scattered once to every worker, the points are split.
    ``gaussian_kde.evaluate(points, client=...)`` calls this.

    Returns
    -------
    ndarray, shape (m,)
    """
    q = kde._points(points)  # (m, d), checked here as the local call does
    method = kde.logpdf if log else kde.evaluate
    return scale_rows(method, "points" if not log else "x",
                      {("points" if not log else "x"): np.ascontiguousarray(q.T)},
                      axis=1, out_axis=0, threads_arg=None, client=client,
                      n_workers=n_workers, retries=retries)
