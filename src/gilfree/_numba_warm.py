"""Compile (or load from Numba's cache) the Numba engines before they are
needed: :func:`warm`.

A Numba engine compiles each kernel for each argument type on its first
call in a process.  With ``cache=True`` the machine code is written to disk
the first time and only loaded afterwards, so each kernel costs seconds once
per machine (per gilfree and Numba version) and a fraction of a second per
new process after that.  Calling :func:`warm` in a parent process before it
starts workers compiles everything once, there, instead of in every worker
at the same time; calling it in a new worker loads the code before the first
task, so the first task's time is the task's own.

The calls below use tiny inputs of the dtypes the public functions use
(float64 and float32 KDE, uint8 and float32 images, float64 signals), one
thread: the same specialisations a real call needs.
"""

import time

import numpy as np

#: The kernel families warm() knows, in the order it warms them.
FAMILIES = ("kde", "parzen", "resize", "resample", "dtw", "tiles")


def _kde():
    import gilfree

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 40))
    q = rng.standard_normal((2, 5))
    for dtype in (np.float64, np.float32):
        k = gilfree.gaussian_kde(x, dtype=dtype, engine="numba", n_threads=1)
        k.evaluate(q)
        k.logpdf(q)
        for kernel in ("gaussian", "epanechnikov"):
            gilfree.kde(x.T, q.T, 0.5, kernel=kernel, dtype=dtype, engine="numba",
                        n_threads=1)


def _parzen():
    import gilfree

    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 2))
    q = rng.standard_normal((70, 2))  # enough points for the indexed plan
    for qq in (q, q[:3]):
        gilfree.parzen_density(x, qq, [0.5, 1.0], engine="numba", n_threads=1)
        gilfree.parzen_density(x, qq, [0.5, 1.0], weights=np.ones(80), engine="numba", n_threads=1)


def _resize():
    import gilfree

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1, 16, 16), dtype=np.uint8)
    for arr in (img, img.astype(np.float32)):
        for method, shape in (("bilinear", (8, 8)), ("bicubic", (5, 7)), ("area", (8, 8)),
                              ("area", (5, 5)), ("nearest", (5, 7))):
            gilfree.resize_batch(arr, shape, method, engine="numba", n_threads=1)


def _resample():
    import gilfree

    from ._numba import resample as mod

    x = np.cumsum(np.ones((100, 2)), axis=0)
    gilfree.resample_poly(x, 2, 3, engine="numba", n_threads=1)
    out = np.empty((30, 2))
    mod.linear(x, out, 1)
    mod.linear_many(x, np.array([0, 50, 100], dtype=np.int64), np.empty((2, 30, 2)), 1)


def _dtw():
    from ._numba import dtw as mod

    rng = np.random.default_rng(0)
    t = rng.standard_normal((10, 3))
    sT = np.ascontiguousarray(rng.standard_normal((3, 60)))
    M, N = t.shape[0], sT.shape[1]
    last = np.empty(N)
    dirs = np.empty(M * N, dtype=np.uint8)
    mod.accumulate(t, sT, np.empty((M, N)), last, np.empty(0, dtype=np.uint8), 16, 1, 1)
    mod.accumulate(t, sT, np.empty((0, 0)), last, dirs, 16, 1, 1)
    ends = np.array([N - 1, N // 2], dtype=np.int64)
    lengths = np.empty(2, dtype=np.int64)
    mod.trace_paths(dirs, M, 16, ends, lengths, 1)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    mod.fill_paths(dirs, M, 16, ends, offsets, np.empty((int(offsets[-1]), 2), np.int64), 1)


def _tiles():
    import gilfree

    rng = np.random.default_rng(0)
    slide = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    gilfree.tiles(slide, 16, threshold=200, engine="numba", n_threads=1)
    gilfree.tiles(slide, 16, threshold=200, out_shape=8, engine="numba", n_threads=1)


_WARMERS = {"kde": _kde, "parzen": _parzen, "resize": _resize, "resample": _resample,
            "dtw": _dtw, "tiles": _tiles}


def warm(families=None):
    """Compile or load the Numba engines of ``families`` (default: all).

    Parameters
    ----------
    families : iterable of str, optional
        Kernel families among :data:`FAMILIES`.

    Returns
    -------
    dict
        Seconds spent per family (wall clock): seconds the first time on a
        machine (compilation, written to Numba's cache), a fraction of a
        second once the cache holds the code.
    """
    names = FAMILIES if families is None else tuple(families)
    unknown = [f for f in names if f not in _WARMERS]
    if unknown:
        raise ValueError(
            f"unknown kernel families {unknown}; expected some of {', '.join(FAMILIES)}"
        )
    spent = {}
    for name in names:
        t0 = time.perf_counter()
        _WARMERS[name]()
        spent[name] = time.perf_counter() - t0
    return spent
