"""The ``kde`` workload: exact Gaussian KDE at arbitrary points.

n 2-D samples (correlated Gaussian), m evaluation points;
``gaussian_kde(dataset).evaluate(points)`` with Scott's bandwidth.  Serial
pure Python (the textbook double loop, gilfree's ``python`` engine), the
same chunked over the points on a process pool, ``scipy.stats.gaussian_kde``
(single-threaded by policy), and gilfree's numpy, numba and cython engines
at each worker count.  The pure-Python approaches are timed on a subset of
the points and scaled (marked as estimates).
"""

import numpy as np

import gilfree

from .._core import Approach, Workload, engine_approaches, register
from .._pools import process_map, split


def python_evaluate(dataset, points):
    """The pure-Python engine on some points (a process-pool task)."""
    return gilfree.gaussian_kde(dataset, engine="python", n_threads=1).evaluate(points)


def _pooled(dataset, points, workers):
    chunks = split(list(range(points.shape[1])), workers)
    parts = process_map(python_evaluate, [(dataset, points[:, c]) for c in chunks], workers)
    return np.concatenate(parts)


class Kde(Workload):
    name = "kde"
    title = "Exact Gaussian KDE at arbitrary points"
    description = ("scipy.stats.gaussian_kde drop-in: evaluate the estimate of n 2-D samples "
                   "at m points (one exp per pair); pure Python serial / processes vs scipy "
                   "vs NumPy, Numba and Cython kernels")
    requires = ("scipy",)
    baseline = "python"
    unit = "pairs"

    def summary(self, params):
        return f"{params['n']:,} samples x {params['m']:,} points, d = {params['d']}"

    def work(self, params, data):
        return params["n"] * params["m"]

    def params(self, quick):
        if quick:
            return {"n": 2_000, "m": 1_000, "d": 2, "python_points": 4}
        return {"n": 20_000, "m": 20_000, "d": 2, "python_points": 16}

    def setup(self, params):
        rng = np.random.default_rng(2030)
        d, n, m = params["d"], params["n"], params["m"]
        x = rng.standard_normal((d, n))
        x[1:] += 0.5 * x[0]
        q = rng.standard_normal((d, m)) * 1.5
        return x, q, params["python_points"]

    def reference(self, data):
        x, q, _ = data
        return gilfree.gaussian_kde(x, engine="cython").evaluate(q)

    def approaches(self, data, workers):
        from scipy.stats import gaussian_kde as scipy_kde

        x, q, k = data
        m = q.shape[1]
        sub = q[:, :k]
        ref_sub = gilfree.gaussian_kde(x, engine="numpy").evaluate(sub)

        def check_sub(r):
            return bool(np.allclose(r, ref_sub, rtol=1e-9, atol=0))

        out = [Approach("python", "python", 1, lambda: python_evaluate(x, sub), scale=m / k,
                        note=f"estimated from {k} of {m} points", check=check_sub,
                        warmup=False)]
        for p in workers:
            out.append(Approach("python processes", "python-processes", p,
                                lambda p=p: _pooled(x, sub, p), scale=m / k,
                                note=f"estimated from {k} of {m} points", check=check_sub))
        out.append(Approach("scipy gaussian_kde", "competitor", 1,
                            lambda: scipy_kde(x).evaluate(q), warmup=False))
        out.append(Approach("numpy", "numpy", 1,
                            lambda: gilfree.gaussian_kde(x, engine="numpy").evaluate(q),
                            warmup=False))
        out += engine_approaches(
            lambda e, p: gilfree.gaussian_kde(x, engine=e, n_threads=p).evaluate(q), workers)
        return out

    def dask_approaches(self, data, client, workers):
        x, q, _ = data
        kde_ = gilfree.gaussian_kde(x)
        return [Approach("gilfree.distributed", "dask", p,
                         lambda p=p: gd_eval(kde_, q, client, p),
                         note="points split over Dask workers, estimator scattered once")
                for p in workers]


def gd_eval(kde_, q, client, p):
    from ...distributed import gaussian_kde_evaluate

    return gaussian_kde_evaluate(kde_, q, client=client, n_workers=p)


register(Kde())
