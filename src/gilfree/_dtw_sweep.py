"""Parameter sweeps of :class:`gilfree.dtw.BarthDtw` sharing cost matrices
(:func:`gilfree.dtw.sweep`)."""

import collections

import numpy as np

from . import _config
from ._dtw_estimator import (BarthDtw, _apply_result, _match_ends_of, _postprocess,
                             _signal_matrix)
from ._dtw_kernel import _CostData
from ._dtw_params import _Table
from ._validation import check_number, describe
from .parallel import pmap
from .parallel._sweep import _clone, expand_grid

_SweepPlan = collections.namedtuple(
    "_SweepPlan", ["base", "fs", "points", "table", "nt", "estimators", "settings", "inputs"])


def _plan_sweep(data, sampling_rate_hz, grid, template, estimator, columns, engine,
                n_threads=None):
    """The checks of :func:`sweep` and its grid points: one estimator per
    point (with the point's parameters), its post-processing settings and
    its cost-matrix inputs ``(key, template, names, scale)``; points with
    equal keys share a cost matrix.  Raises what ``sweep`` raises."""
    if estimator is not None:
        if not isinstance(estimator, BarthDtw):
            raise TypeError(f"estimator must be a BarthDtw; got {describe(estimator)}")
        if template is not None:
            raise ValueError("give either template= or estimator=, not both")
        base = estimator
    else:
        base = BarthDtw(template)
    fs = check_number(sampling_rate_hz, "sampling_rate_hz")
    _config.resolve_engine("dtw", engine)
    points = expand_grid(grid)
    valid = base.get_params(deep=True)
    bad = next(filter(None, (base._unknown_key(p, valid) for p in points)), None)
    if bad is not None:
        raise ValueError(f"unknown parameter {bad!r} in the grid; valid BarthDtw parameters: "
                         f"{', '.join(sorted(valid))}")
    table = _Table(data, columns, "data")
    nt = _config.resolve_n_threads(n_threads)
    estimators, settings, inputs = [], [], []
    for p in points:
        est = _clone(base)
        # whole sub-objects first (cloned: grid points never share or modify
        # the caller's objects), then their nested parameters
        est.set_params(**{k: _clone(v) for k, v in p.items() if "__" not in k})
        est.set_params(**{k: v for k, v in p.items() if "__" in k})
        settings.append(est._checked(fs))
        est._require_snap_axis(table)
        inputs.append(est._matching_inputs(table, fs, settings[-1]["template"]))
        estimators.append(est)
    return _SweepPlan(base, fs, points, table, nt, estimators, settings, inputs)


def sweep(data, sampling_rate_hz, grid, template=None, *, estimator=None, columns=None,
          engine="auto", n_threads=None):
    """Segment ``data`` once per grid point, computing each distinct cost
    matrix once.

    Grid points that share the template columns, scale and (resampled)
    template share one cost matrix, its cost function and its backtracking
    directions; only the post-processing (``max_cost``, match lengths,
    snapping, conflict resolution) runs per point.  Distinct cost matrices
    are computed concurrently on the available threads.

    Parameters
    ----------
    data : DataFrame or array_like, shape (N, n_columns)
    sampling_rate_hz : float
    grid : dict of lists, or list of such dicts
        ``BarthDtw`` parameter names (nested: ``template__use_cols``) to
        candidate values; points in sklearn ``ParameterGrid`` order (keys
        sorted, the last key varying fastest).
    template : DtwTemplate or gaitmap template, optional
        The template of the base estimator ``BarthDtw(template)`` (None:
        gaitmap's default template, loaded from gaitmap).
    estimator : BarthDtw, optional
        Base estimator instead of ``template`` (its parameters are the
        defaults the grid overrides); it is not modified.
    columns : sequence of column names, optional
        Names of an array's columns.
    engine, n_threads
        As for :func:`subsequence_cost_matrix`.

    Returns
    -------
    list of BarthDtw
        One segmented estimator per grid point, in grid order, with that
        point's parameters set.  Points sharing a cost matrix share their
        (read-only) ``cost_function_`` and ``acc_cost_mat_``.
    """
    plan = _plan_sweep(data, sampling_rate_hz, grid, template, estimator, columns, engine,
                       n_threads)
    table, nt = plan.table, plan.nt

    jobs, distinct, signals = [], {}, {}
    for settings, (key, t, names, transform) in zip(plan.settings, plan.inputs):
        if key not in distinct:
            skey = (tuple(map(repr, names)), transform)
            if skey not in signals:
                signals[skey] = _signal_matrix(table, names, transform)
            distinct[key] = _CostData(t, signals[skey], engine, n_threads)
        jobs.append((key, settings))

    keys = list(distinct)
    workers = max(1, min(len(keys), nt))
    inner = max(1, nt // workers)

    def run(key):
        """One distinct cost matrix: the kernel, then the match ends of all
        its grid points, then every one of those ends backtracked once."""
        cd = distinct[key].compute(inner)
        mine = {i: _match_ends_of(cd, settings) for i, (k, settings) in enumerate(jobs)
                if k == key}
        cd.paths(np.unique(np.concatenate(list(mine.values()))), inner)
        return mine

    found = pmap(run, keys, backend="threads" if workers > 1 else "serial", n_workers=workers,
                 chunksize=1, inner_threads=inner)
    ends = {i: e for mine in found for i, e in mine.items()}
    for i, (est, (key, settings)) in enumerate(zip(plan.estimators, jobs)):
        cd = distinct[key]
        _apply_result(est, _postprocess(cd, settings, table, est.snap_to_min_axis, nt,
                                        ends=ends[i]), cd)
    for cd in distinct.values():
        cd.release()
    return plan.estimators
