"""The ``parzen`` workloads: the classic tutorial and a many-point sweep.

``parzen``: n 2-D standard-normal samples, one point at the origin, 100
window widths in [1.0, 1.2] — the tutorial's serial loop (one width at a
time, per-sample NumPy operations), the same on thread and process pools
(parallel over widths, as the tutorial did), and gilfree's engines.

``parzen-multi``: many samples and points, 32 widths in [0.1, 1.0]; the
competitor is ``scipy.spatial.cKDTree.query_ball_point`` with the max-norm,
looped over the widths.
"""

import numpy as np

import gilfree

from .._core import Approach, Workload, engine_approaches, register
from .._pools import process_map, split, thread_map


def tutorial_count(samples, point, h):
    """The classic tutorial's per-sample loop for one width (GIL-bound):
    a sample counts when no coordinate is farther than h/2 from the point."""
    k = 0
    half = 0.5 * h
    for row in samples:
        for v in np.abs(point - row):
            if v > half:
                break
        else:
            k += 1
    return k


def tutorial_sweep(samples, point, widths):
    """Counts for each width, one width at a time (the tutorial's outer loop)."""
    return [tutorial_count(samples, point, h) for h in widths]


def _pooled(mapper, samples, point, widths, workers):
    chunks = split(list(widths), workers)
    parts = mapper(tutorial_sweep, [(samples, point, c) for c in chunks], workers)
    return [c for part in parts for c in part]


class ParzenSeed(Workload):
    name = "parzen"
    title = "Parzen window, the classic tutorial"
    description = ("hypercube Parzen estimate at one point swept over 100 window widths; "
                   "pure Python serial / threads / processes vs NumPy, Numba and Cython kernels")
    unit = "pairs"

    def params(self, quick):
        return {"n": 600 if quick else 10_000, "d": 2, "points": 1, "widths": 100,
                "width_range": [1.0, 1.2]}

    def summary(self, params):
        return (f"{params['n']:,} samples x {params['points']} point, {params['widths']} widths "
                f"in [{params['width_range'][0]}, {params['width_range'][1]}]")

    def work(self, params, data):
        return params["n"] * params["points"]

    def setup(self, params):
        rng = np.random.default_rng(2026)
        x = rng.standard_normal((params["n"], params["d"]))
        q = np.zeros((1, params["d"]))
        h = np.linspace(*params["width_range"], params["widths"])
        return x, q, h

    def reference(self, data):
        x, q, h = data
        return gilfree.parzen_counts(x, q, h, engine="numpy")[0]

    def approaches(self, data, workers):
        x, q, h = data
        point = q[0]
        out = [Approach("python", "python", 1, lambda: tutorial_sweep(x, point, h), warmup=False)]
        for p in workers:
            if p > 1:
                out.append(Approach("python threads", "python-threads", p,
                                    lambda p=p: _pooled(thread_map, x, point, h, p),
                                    warmup=False, serial="python"))
            out.append(Approach("python processes", "python-processes", p,
                                lambda p=p: _pooled(process_map, x, point, h, p)))
        out.append(Approach("numpy", "numpy", 1,
                            lambda: gilfree.parzen_counts(x, q, h, engine="numpy")[0]))
        out += engine_approaches(
            lambda e, p: gilfree.parzen_counts(x, q, h, engine=e, n_threads=p)[0], workers)
        return out

    def dask_approaches(self, data, client, workers):
        from ... import distributed as gd

        x, q, h = data
        point = q[0]
        out = []
        for p in workers:
            out.append(Approach(
                "python on dask", "dask", p,
                lambda p=p: _pooled(lambda fn, tasks, w: gilfree.pmap(
                    lambda t: fn(*t), tasks, backend="dask", client=client, n_workers=w,
                    chunksize=1), x, point, h, p),
                note="the tutorial loop, widths split over Dask workers (pmap)"))
        # one point: the kernel cannot be split further than one chunk
        out.append(Approach("gilfree.distributed", "dask", 1,
                            lambda: gd.parzen_counts(x, q, h, client=client, n_workers=1)[0],
                            note="compiled kernel on one Dask worker"))
        return out


class ParzenMulti(Workload):
    name = "parzen-multi"
    title = "Parzen window, many points"
    description = ("hypercube counts of n 2-D samples around m points for 32 widths; "
                   "scipy cKDTree (max-norm ball counts per width) vs gilfree engines")
    requires = ("scipy",)
    unit = "pairs"

    def summary(self, params):
        return (f"{params['n']:,} samples x {params['m']:,} points, {params['widths']} widths "
                f"in [{params['width_range'][0]}, {params['width_range'][1]}]")

    def work(self, params, data):
        return params["n"] * params["m"]

    def params(self, quick):
        if quick:
            return {"n": 5_000, "m": 500, "d": 2, "widths": 32, "width_range": [0.1, 1.0],
                    "python_points": 2}
        return {"n": 50_000, "m": 5_000, "d": 2, "widths": 32, "width_range": [0.1, 1.0],
                "python_points": 10}

    def setup(self, params):
        rng = np.random.default_rng(2027)
        x = rng.standard_normal((params["n"], params["d"]))
        q = rng.standard_normal((params["m"], params["d"]))
        h = np.linspace(*params["width_range"], params["widths"])
        return x, q, h, params["python_points"]

    def reference(self, data):
        x, q, h, _ = data
        return gilfree.parzen_counts(x, q, h, engine="cython")

    def approaches(self, data, workers):
        from scipy.spatial import cKDTree

        x, q, h, k = data
        m = q.shape[0]
        ref_sub = gilfree.parzen_counts(x, q[:k], h, engine="numpy")

        def kdtree(p):
            tree = cKDTree(x)
            return np.stack([tree.query_ball_point(q, r=0.5 * hh, p=np.inf, workers=p,
                                                   return_length=True) for hh in h], axis=1)

        out = [Approach("python", "python", 1,
                        lambda: gilfree.parzen_counts(x, q[:k], h, engine="python"),
                        scale=m / k, note=f"estimated from {k} of {m} points",
                        check=lambda r: np.array_equal(r, ref_sub), warmup=False)]
        for p in workers:
            out.append(Approach("scipy cKDTree", "competitor", p, lambda p=p: kdtree(p),
                                warmup=False))
        out.append(Approach("numpy", "numpy", 1,
                            lambda: gilfree.parzen_counts(x, q, h, engine="numpy"),
                            warmup=False))
        out += engine_approaches(
            lambda e, p: gilfree.parzen_counts(x, q, h, engine=e, n_threads=p), workers)
        return out

    def dask_approaches(self, data, client, workers):
        from ... import distributed as gd

        x, q, h, _ = data
        return [Approach("gilfree.distributed", "dask", p,
                         lambda p=p: gd.parzen_counts(x, q, h, client=client, n_workers=p),
                         note="points split over Dask workers, samples scattered once")
                for p in workers]


register(ParzenSeed())
register(ParzenMulti())
