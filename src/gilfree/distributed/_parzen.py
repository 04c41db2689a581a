""":func:`gilfree.parzen_density` and :func:`gilfree.parzen_counts` on a Dask
cluster: the points split across workers, the samples scattered once to
every worker."""

import warnings

import numpy as np

from .. import _config
from .._validation import as_points_matrix, check_positive_finite, check_weights
from ..parzen import parzen_density as _parzen_local
from ..parzen import parzen_counts as _counts_local
from ._core import scale_rows


def _scale(local, samples, points, widths, weights, engine, client, n_workers, retries):
    """``local`` on the cluster, after the checks of gilfree.parzen_density
    (done once, on the client)."""
    x = as_points_matrix(samples, "samples")
    n, d = x.shape
    q_in = points if isinstance(points, np.ndarray) else np.asarray(points)
    if q_in.ndim == 1 and d > 1 and q_in.shape[0] == d:
        q_in = q_in.reshape(1, d)
    kwargs = {"samples": x, "points": as_points_matrix(q_in, "points", d=d), "engine": engine}
    h, scalar = check_positive_finite(widths, "widths")
    kwargs["widths"] = float(h[0]) if scalar else h
    if local is _parzen_local:
        kwargs["weights"] = None if weights is None else check_weights(weights, n)
    return scale_rows(local, "points", kwargs, min_rows=_config.PARZEN_INDEX_MIN_POINTS,
                      client=client, n_workers=n_workers, retries=retries)


def parzen_counts(samples, points, widths, *, engine="auto", client=None, n_workers=None,
                  retries=None):
    """:func:`gilfree.parzen_counts` on a Dask cluster, points split across
    workers; returns exactly what the local call returns.

    Parameters
    ----------
    samples : array_like, shape (n, d) or (n,)
        Scattered once to every worker.
    points : array_like, shape (m, d) or (m,)
        Cut into one chunk per worker (sized by its threads).
    widths : float or array_like, shape (H,)
    engine : str
        Engine used on the workers.
    client : distributed.Client, str or None
        The cluster (None: a LocalCluster for this call).
    n_workers : int, optional
        Use only the first ``n_workers`` workers.
    retries : int, optional
        Resubmissions of a chunk lost with its worker.

    Returns
    -------
    counts : ndarray of int64, shape (m,) for a scalar width, else (m, H)
    """
    return _scale(_counts_local, samples, points, widths, None, engine, client, n_workers,
                  retries)


def parzen_density(samples, points, widths, *, weights=None, engine="auto", client=None,
                   n_workers=None, retries=None):
    """:func:`gilfree.parzen_density` on a Dask cluster, points split across
    workers; bit for bit what the local call returns (each chunk keeps at
    least as many points as the local call indexes at once, so it sums the samples in
    the same order as the whole call).

    Returns
    -------
    density : ndarray of float64, shape (m,) for a scalar width, else (m, H)
    """
    return _scale(_parzen_local, samples, points, widths, weights, engine, client, n_workers,
                  retries)


def parzen(*args, **kwargs):
    """Deprecated name of :func:`parzen_density` (a FutureWarning)."""
    warnings.warn("gilfree.distributed.parzen is deprecated and will be removed in the next "
                  "release; use gilfree.distributed.parzen_density, with the same arguments",
                  FutureWarning, stacklevel=2)
    return parzen_density(*args, **kwargs)
