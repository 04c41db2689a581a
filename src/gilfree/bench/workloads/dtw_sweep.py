"""The ``dtw-sweep`` workload: tuning a stride segmentation.

A synthetic 6-axis gait recording at 204.8 Hz (template strides with random
stretch, amplitude and noise), a 200-sample 3-axis template, and the grid
``max_cost`` in {2, 3, 4, 5} x ``template__use_cols`` in {(gyr_ml,),
(gyr_ml, gyr_si)}: 8 segmentations.

- ``python`` / ``numpy``: the gaitmap-style loop, one full ``BarthDtw``
  segmentation per grid point (every point recomputes its cost matrix) with
  the pure-Python or the NumPy engine; estimated from a slice of the
  recording (the work is linear in its length) and checked on that slice.
- ``python processes`` / ``numpy processes``: the same loops with the grid
  points on a process pool (the joblib approach people use today), on the
  same slices.
- ``gaitmap`` (when installed): gaitmap's own ``BarthDtw`` in a serial loop
  and on a loky process pool, on the whole recording.
- ``numba`` / ``cython``: :func:`gilfree.dtw.sweep`, which computes the two
  distinct cost matrices once and shares them across the grid, at 1..N
  threads.

Results are the 8 ``matches_start_end_`` arrays, compared exactly.
"""

import numpy as np

from ... import dtw
from ..._reference import dtw_data as dd
from ...parallel._sweep import expand_grid
from .._core import Approach, Workload, engine_approaches, register
from .._pools import process_map

GRID = {"max_cost": [2, 3, 4, 5], "template__use_cols": [("gyr_ml",), ("gyr_ml", "gyr_si")]}


def grid_points():
    """The grid in ParameterGrid order (keys sorted, last varies fastest)."""
    return expand_grid(GRID)


def _template(tpl, use_cols=None):
    return dtw.DtwTemplate(tpl, dd.SAMPLING_RATE_HZ, scale=dd.SCALE, use_cols=use_cols,
                           columns=list(dd.TEMPLATE_AXES))


def segment_point(rec, tpl, point, engine):
    """One grid point, the gaitmap way: a fresh BarthDtw and a full
    segmentation (module level, so that process pools can pickle it)."""
    est = dtw.BarthDtw(_template(tpl)).set_params(**point)
    est.segment(rec, dd.SAMPLING_RATE_HZ, columns=list(dd.AXES), engine=engine, n_threads=1)
    return est.matches_start_end_


def loop(rec, tpl, engine):
    return [segment_point(rec, tpl, p, engine) for p in grid_points()]


def sweep(rec, tpl, engine, n_threads):
    res = dtw.sweep(rec, dd.SAMPLING_RATE_HZ, GRID, template=_template(tpl),
                    columns=list(dd.AXES), engine=engine, n_threads=n_threads)
    return [r.matches_start_end_ for r in res]


def gaitmap_point(rec, tpl, point):
    """One grid point with gaitmap's BarthDtw (its default pipeline)."""
    import warnings

    import pandas as pd
    from gaitmap.data_transform import FixedScaler
    from gaitmap.stride_segmentation import BarthDtw, DtwTemplate

    template = DtwTemplate(data=pd.DataFrame(tpl, columns=list(dd.TEMPLATE_AXES)),
                           sampling_rate_hz=dd.SAMPLING_RATE_HZ,
                           scaling=FixedScaler(scale=dd.SCALE))
    est = BarthDtw(template=template).set_params(**point)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.segment(pd.DataFrame(rec, columns=list(dd.AXES)), dd.SAMPLING_RATE_HZ)
    return np.asarray(est.matches_start_end_, dtype=np.int64).reshape(-1, 2)


def _gaitmap_available():
    try:
        import gaitmap.stride_segmentation  # noqa: F401
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


class DtwSweep(Workload):
    name = "dtw-sweep"
    title = "Stride segmentation parameter sweep (subsequence DTW)"
    description = ("gaitmap-style BarthDtw over an 8-point grid (max_cost x template columns) "
                   "on a synthetic 204.8 Hz recording: one segmentation per point in pure "
                   "Python / NumPy (serial and on processes) vs gilfree.dtw.sweep, which "
                   "computes each distinct cost matrix once")
    unit = "cells"

    def summary(self, params):
        return (f"{params['samples']:,}-sample recording, {params['template']}-sample template, "
                f"{params['grid_points']} grid points")

    def work(self, params, data):
        # the cost-matrix cells of one segmentation per grid point (the work
        # as posed; the sweep computes each distinct matrix only once)
        return params["grid_points"] * params["samples"] * params["template"]

    def params(self, quick):
        if quick:
            return {"samples": 15_000, "template": 200, "grid_points": 8,
                    "numpy_slice": 400, "python_slice": 200}
        return {"samples": 126_000, "template": 200, "grid_points": 8,
                "numpy_slice": 20_000, "python_slice": 1_500}

    def setup(self, params):
        return dd.recording(params["samples"], seed=2026)[0], dd.template(), params

    def reference(self, data):
        rec, tpl, _ = data
        return sweep(rec, tpl, "cython", 1)

    def approaches(self, data, workers):
        rec, tpl, params = data
        n = rec.shape[0]
        out = []
        for kind, engine, size in (("python", "python", params["python_slice"]),
                                   ("numpy", "numpy", params["numpy_slice"])):
            part = np.ascontiguousarray(rec[:size])
            ref = sweep(part, tpl, "cython", 1)
            note = f"estimated from the first {size} of {n} samples"
            out.append(Approach(kind, kind, 1, lambda part=part, e=engine: loop(part, tpl, e),
                                scale=n / size, note=note, warmup=False,
                                check=lambda r, ref=ref: _same(r, ref)))
            for p in workers:
                tasks = [(part, tpl, pt, engine) for pt in grid_points()]
                out.append(Approach(f"{kind} processes", "python-processes", p,
                                    lambda tasks=tasks, p=p: process_map(segment_point, tasks, p),
                                    scale=n / size, note=note,
                                    check=lambda r, ref=ref: _same(r, ref)))
        if _gaitmap_available():
            out.append(Approach("gaitmap", "competitor", 1,
                                lambda: [gaitmap_point(rec, tpl, pt) for pt in grid_points()]))
            for p in workers:
                if p > 1:
                    tasks = [(rec, tpl, pt) for pt in grid_points()]
                    out.append(Approach("gaitmap processes", "competitor", p,
                                        lambda tasks=tasks, p=p: process_map(gaitmap_point,
                                                                             tasks, p)))
        out += engine_approaches(
            lambda e, p: sweep(rec, tpl, e, p), workers, name="gilfree sweep ({})")
        return out

    def same(self, result, reference):
        return _same(result, reference)


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


register(DtwSweep())
