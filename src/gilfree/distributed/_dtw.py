""":func:`gilfree.dtw.sweep` on a Dask cluster: one task per distinct
cost matrix."""

import pickle

import cloudpickle

from .. import dtw
from ._core import scale_items


def _sweep_group(points, data, sampling_rate_hz, estimator, columns, engine, n_threads):
    """Worker side: :func:`gilfree.dtw.sweep` over grid points sharing one
    cost matrix; the estimators come back pickled together, so that they
    still share their cost function and cost data."""
    grid = [{k: [v] for k, v in p.items()} for p in points]
    out = dtw.sweep(data, sampling_rate_hz, grid, estimator=estimator, columns=columns,
                    engine=engine, n_threads=n_threads)
    return cloudpickle.dumps(out, protocol=5)


def dtw_sweep(data, sampling_rate_hz, grid, template=None, *, estimator=None, columns=None,
              engine="auto", client=None, n_workers=None, retries=None):
    """:func:`gilfree.dtw.sweep` on a Dask cluster: one task per distinct
    cost matrix.

    The grid points are grouped by the cost matrix they share (template
    columns, scale and resampled template); each group is one task, whose
    worker computes that matrix once with all of its threads and
    post-processes every point of the group.  ``data`` is scattered once to
    every worker.  Returns what the local sweep returns: one segmented
    ``BarthDtw`` per grid point, in grid order, with the same matches,
    costs and paths; points of a group share ``cost_function_`` and
    ``acc_cost_mat_`` (computed on the client on first access).

    Parameters
    ----------
    data, sampling_rate_hz, grid, template, estimator, columns, engine
        As for :func:`gilfree.dtw.sweep` (checked here, with its errors).
    client : distributed.Client, str or None
        The cluster (None: a LocalCluster for this call).
    n_workers : int, optional
        Use only the first ``n_workers`` workers.
    retries : int, optional
        Resubmissions of a task lost with its worker.

    Returns
    -------
    list of BarthDtw
    """
    plan = dtw._plan_sweep(data, sampling_rate_hz, grid, template, estimator, columns, engine)
    groups = {}
    for i, (key, *_) in enumerate(plan.inputs):
        groups.setdefault(key, []).append(i)
    members = list(groups.values())
    items = [[plan.points[i] for i in idx] for idx in members]
    shared = dict(data=data, sampling_rate_hz=sampling_rate_hz, estimator=plan.base,
                  columns=columns, engine=engine)
    blobs = scale_items(_sweep_group, items, shared, client=client, n_workers=n_workers,
                        retries=retries)
    out = [None] * len(plan.points)
    for idx, blob in zip(members, blobs):
        ests = pickle.loads(blob)
        for i, est in zip(idx, ests):
            # as the local sweep leaves it: acc_cost_mat_, computed here on first
            # access, uses this machine's threads (pickling kept the read-only
            # flags and the cost data shared between the points of a group)
            if est.__dict__.get("_cost_data") is not None:
                est._cost_data.n_threads = None
            out[i] = est
    return out
