""":func:`gilfree.kde` on a Dask cluster: the points split across workers,
the samples scattered once to every worker."""

import numpy as np

from .._validation import as_points_matrix, check_positive_finite, check_weights
from ..kde import _as_points
from ..kde import kde as _kde_local
from ._core import scale_rows


def kde(samples, points, bandwidth, *, kernel="gaussian", weights=None, log=False,
        dtype=np.float64, engine="auto", client=None, n_workers=None, retries=None):
    """:func:`gilfree.kde` on a Dask cluster, points split across workers.

    The samples (and weights) are scattered once to every worker; each
    worker evaluates its share of the points with all of its threads.
    Returns what the local call returns (same shape and dtype; each point's
    value is computed by the same kernel over the same samples).

    Returns
    -------
    ndarray, shape (m,) for a scalar bandwidth, else (m, H)
    """
    x = as_points_matrix(samples, "samples")
    q = _as_points(points, x.shape[1])
    check_positive_finite(bandwidth, "bandwidth")
    if weights is not None:
        weights = check_weights(weights, x.shape[0])
    return scale_rows(_kde_local, "points",
                      dict(samples=x, points=q, bandwidth=bandwidth, kernel=kernel,
                           weights=weights, log=log, dtype=dtype, engine=engine),
                      client=client, n_workers=n_workers, retries=retries)
