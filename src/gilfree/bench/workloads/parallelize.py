"""The ``parallelize`` workload: a per-subject function over a cohort.

Each subject is a recording of 2-D samples; the per-subject analysis is a
Parzen density profile (counts at a fixed grid of points for several window
widths) written as plain Python — the kind of function lab scripts map over
their cohort with a ``Parallelize`` helper.  Compared: a plain loop, the
``Parallelize`` helper on threads (held by the GIL) and on processes, and
the same analysis with gilfree's compiled kernel, both one subject at a
time with all threads and mapped over subjects on a thread pool.
"""

import numpy as np

import gilfree

from .._core import Approach, Workload, register


class _Profile:
    """The per-subject function, pure Python by default (picklable for processes)."""

    def __init__(self, grid, widths, engine="python", n_threads=None):
        self.grid, self.widths, self.engine, self.n_threads = grid, widths, engine, n_threads

    def __call__(self, subject):
        return gilfree.parzen_counts(subject, self.grid, self.widths, engine=self.engine,
                                     n_threads=self.n_threads).ravel()


class ParallelizeWorkload(Workload):
    name = "parallelize"
    title = "Per-subject function over a cohort"
    description = ("a pure-Python per-subject analysis (Parzen profile) mapped over a cohort: "
                   "loop vs Parallelize on threads and processes vs gilfree's compiled kernel")
    unit = "subjects"

    def summary(self, params):
        return (f"{params['subjects']} subjects x {params['samples']:,} samples, "
                f"{params['grid_points']} grid points x {params['widths']} widths")

    def work(self, params, data):
        return params["subjects"]

    def params(self, quick):
        if quick:
            return {"subjects": 8, "samples": 400, "grid_points": 9, "widths": 6}
        return {"subjects": 24, "samples": 2_000, "grid_points": 16, "widths": 8}

    def setup(self, params):
        rng = np.random.default_rng(2028)
        cohort = [rng.standard_normal((params["samples"], 2)) * rng.uniform(0.8, 1.2)
                  for _ in range(params["subjects"])]
        g = np.linspace(-1.5, 1.5, int(round(params["grid_points"] ** 0.5)))
        grid = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
        widths = np.linspace(0.25, 1.0, params["widths"])
        return cohort, grid, widths

    def reference(self, data):
        cohort, grid, widths = data
        f = _Profile(grid, widths, engine="numpy")
        return np.array([f(s) for s in cohort]).reshape(len(cohort), -1)

    def approaches(self, data, workers):
        from ...parallel import Parallelize, pmap

        cohort, grid, widths = data
        f = _Profile(grid, widths)

        def loop():
            return np.array([f(s) for s in cohort]).reshape(len(cohort), -1)

        out = [Approach("python", "python", 1, loop, warmup=False)]
        for p in workers:
            if p > 1:
                out.append(Approach("Parallelize threads", "python-threads", p,
                                    lambda p=p: Parallelize(cohort, f, num_cores=p,
                                                            backend="threads"),
                                    warmup=False, serial="python"))
            out.append(Approach("Parallelize processes", "python-processes", p,
                                lambda p=p: Parallelize(cohort, f, num_cores=p,
                                                        backend="processes")))
        for p in workers:
            fk = _Profile(grid, widths, engine="cython", n_threads=p)
            out.append(Approach("cython per subject", "cython", p,
                                lambda fk=fk: np.array([fk(s) for s in cohort]),
                                note="one kernel call per subject with all threads"))
            fm = _Profile(grid, widths, engine="cython")
            out.append(Approach("cython pmap threads", "cython", p,
                                lambda fm=fm, p=p: np.array(pmap(fm, cohort, backend="threads",
                                                                 n_workers=p)),
                                note="subjects on a thread pool, kernels share the cores"))
        return out


register(ParallelizeWorkload())
