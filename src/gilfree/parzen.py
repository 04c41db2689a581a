"""Hypercube Parzen-window density estimation.

A sample ``x`` is inside the window of width ``h`` around a point ``q`` when
``abs(q[c] - x[c]) <= 0.5 * h`` in every dimension ``c`` (closed boundary).
The estimate is ``count / (n * h**d)``; with weights
``sum(w_i * inside_i) / (sum(w) * h**d)``.

.. note::
   The classic tutorial this workload comes from divides by ``h**1`` for
   2-D data (it takes the exponent from the wrong axis of a (2, 1) array).
   gilfree divides by ``h**d``, which makes the estimate a density.

A sweep over many widths is one call: each (point, sample) distance is
computed once and binned against the sorted widths.
"""

import math
import warnings
from typing import NamedTuple, Optional

import numpy as np

from . import _config
from ._validation import as_points_matrix, check_positive_finite, check_weights

__all__ = ["parzen_counts", "parzen_density"]

_config.register_kernel(
    "parzen",
    auto=("cython", "numba", "numpy"),
    engines={
        "numba": "gilfree._numba.parzen",
        "cython": "gilfree._cy.parzen",
        "numpy": "gilfree._reference.parzen",
        "python": "gilfree._reference.parzen_python",
    },
)


class _Plan(NamedTuple):
    """Samples and widths prepared once per call, shared by every engine.

    ``xs`` (d, n) float64: samples transposed, cut into ``S`` strips along
    dimension ``key`` (strip ``s`` holds columns ``strip_start[s]`` to
    ``strip_start[s + 1]``; a sample's strip is ``floor((x[key] - origin) *
    inv_sw)``) and sorted within each strip along dimension ``sec``.
    ``sec = -1`` marks an unindexed plan (few points): one strip, samples in
    their given order, every sample a candidate.
    ``hw`` (H,): half widths sorted ascending.  ``lut`` (L + 1,) int64: for
    bucket ``b = int(r * scale)`` of [0, max(hw)], a lower bound of the first
    ``k`` with ``r <= hw[k]``.  ``w`` (n,): weights in the order of ``xs``,
    or None.
    """

    xs: np.ndarray
    key: int
    sec: int
    strip_start: np.ndarray
    origin: float
    inv_sw: float
    hw: np.ndarray
    lut: np.ndarray
    scale: float
    w: Optional[np.ndarray]


def _make_plan(x, hw_sorted, w, m):
    n, d = x.shape
    H = hw_sorted.shape[0]
    L = max(_config.PARZEN_LUT_MIN, _config.PARZEN_LUT_PER_WIDTH * H)
    hwmax = float(hw_sorted[-1])
    scale = (L - 1) / hwmax
    # bucket b holds r with int(r * scale) == b, so r >= (b - 1) / scale with
    # room for rounding; buckets >= L only hold r > hwmax.
    lut = np.searchsorted(hw_sorted, (np.arange(L + 1) - 1.0) / scale, side="left")
    lut[L] = H
    lut = lut.astype(np.int64)
    if m < _config.PARZEN_INDEX_MIN_POINTS:
        # Few points: sorting would cost more than visiting every sample.
        return _Plan(np.ascontiguousarray(x.T), 0, -1, np.array([0, n], dtype=np.int64),
                     0.0, 0.0, hw_sorted, lut, scale, w)
    key, sec, origin, inv_sw, order, strip_start = _strip_order(x, hwmax)
    xs = np.ascontiguousarray(x[order].T)
    ws = None if w is None else np.ascontiguousarray(w[order])
    return _Plan(xs, key, sec, strip_start, origin, inv_sw, hw_sorted, lut, scale, ws)


def _strip_order_numpy(x, hwmax):
    """The indexed plan's sample order in NumPy (the compiled ``strip_plan``
    of ``ext/parzen.pyx`` gives the same in O(n); this is its reference).

    Strips along the dimension of largest spread, sorted along the next: a
    point's candidates are then a few short contiguous runs.
    """
    n, d = x.shape
    var = np.square(x - x.mean(axis=0)).sum(axis=0)
    # the first dimension whose spread ties the largest (the compiled plan
    # sums in another order: equal variances may differ in their last bits)
    tie = 1.0 - _config.PARZEN_SPREAD_TIE_RTOL
    key = int(np.flatnonzero(var >= var.max() * tie)[0])
    sec = key
    if d > 1:
        others = np.delete(np.arange(d), key)
        sec = int(others[np.flatnonzero(var[others] >= var[others].max() * tie)[0]])
    kx = x[:, key]
    origin = float(kx.min())
    span = float(kx.max()) - origin
    n_strips = 1
    if d > 1 and span > 0:
        n_strips = math.ceil(span * _config.PARZEN_STRIPS_PER_WINDOW / hwmax) + 1
        n_strips = max(1, min(n_strips, n // _config.PARZEN_MIN_STRIP_SAMPLES))
    inv_sw = n_strips / span if n_strips > 1 else 0.0
    strip = np.clip(np.floor((kx - origin) * inv_sw), 0, n_strips - 1).astype(np.int64)
    order = np.lexsort((x[:, sec], strip))
    strip_start = np.searchsorted(strip[order], np.arange(n_strips + 1)).astype(np.int64)
    return key, sec, origin, inv_sw, order, strip_start


def _strip_order(x, hwmax):
    """The indexed plan's sample order: compiled when the extension is built
    (a radix sort, about 20x faster than the NumPy lexsort), else NumPy."""
    try:
        from . import _cy

        strip_plan = _cy.load("parzen").strip_plan
    except ImportError:
        return _strip_order_numpy(x, hwmax)
    return strip_plan(x, hwmax, _config.PARZEN_STRIPS_PER_WINDOW,
                      _config.PARZEN_MIN_STRIP_SAMPLES)


def _prepare(samples, points, widths, weights):
    x = as_points_matrix(samples, "samples")
    n, d = x.shape
    q_in = points if isinstance(points, np.ndarray) else np.asarray(points)
    if q_in.ndim == 1 and d > 1 and q_in.shape[0] == d:
        q_in = q_in.reshape(1, d)  # one point given as a 1-D vector of length d
    q = as_points_matrix(q_in, "points", d=d)
    h, scalar = check_positive_finite(widths, "widths")
    w = None if weights is None else check_weights(weights, n)
    hw = 0.5 * h  # exact in binary floating point
    worder = np.argsort(hw, kind="stable")
    plan = _make_plan(x, np.ascontiguousarray(hw[worder]), w, q.shape[0])
    return x.shape, q, h, scalar, w, plan, worder


def _n_split(m, n, n_threads):
    """Parts per point's samples so that few points still fill the threads."""
    want = _config.PARZEN_POINTS_PER_THREAD * n_threads
    if n_threads == 1 or m >= want:
        return 1
    by_points = math.ceil(want / m)
    by_samples = max(1, n // _config.PARZEN_MIN_SPLIT_SAMPLES)
    return max(1, min(by_points, by_samples))


def _run(samples, points, widths, weights, engine, n_threads):
    shape, q, h, scalar, w, plan, worder = _prepare(samples, points, widths, weights)
    _, mod, nt = _config.select("parzen", engine, n_threads)
    m, H = q.shape[0], plan.hw.shape[0]
    # Tiny problems run on one thread: waking a team costs more than it saves
    # (and a thread descheduled by other load stalls the whole team).
    nt = max(1, min(nt, (m * shape[0]) // _config.PARZEN_MIN_PAIRS_PER_THREAD))
    if w is None:
        sorted_out = np.empty((m, H), dtype=np.int64)
        mod.parzen_counts(plan, q, sorted_out, _n_split(m, shape[0], nt), nt)
    else:
        sorted_out = np.empty((m, H), dtype=np.float64)
        mod.parzen_weighted(plan, q, sorted_out, nt)
    out = np.empty_like(sorted_out)
    out[:, worder] = sorted_out
    return out, shape, h, scalar, w


def parzen_counts(samples, points, widths, *, engine="auto", n_threads=None):
    """Number of samples inside the hypercube window around each point.

    Parameters
    ----------
    samples : array_like, shape (n, d) or (n,)
        The data; 1-D input is taken as n samples of dimension 1.  Any real
        dtype; converted once to float64.  Must be finite.
    points : array_like, shape (m, d) or (m,)
        Where to count; must have the samples' d.  A 1-D array of length d
        (d > 1) is one point.
    widths : float or array_like, shape (H,)
        Window edge lengths ``h`` (> 0, finite).  A sample is inside when
        ``abs(q[c] - x[c]) <= 0.5 * h`` in every dimension.
    engine : {"auto", "cython", "numba", "numpy", "python"}
        ``auto`` is ``cython``, else ``numba``, else ``numpy``.
    n_threads : int, optional
        Threads for the compiled engines (None: all usable cores; -1 all,
        -2 all but one).  Never changes the result.

    Returns
    -------
    counts : ndarray of int64, shape (m,) for a scalar width, else (m, H)
    """
    out, _, _, scalar, _ = _run(samples, points, widths, None, engine, n_threads)
    return out[:, 0] if scalar else out


def parzen_density(samples, points, widths, *, weights=None, engine="auto", n_threads=None):
    """Hypercube Parzen-window density estimate at each point, for each width.

    ``count / (n * h**d)``; with ``weights``, ``sum(w_i * inside_i) /
    (sum(w) * h**d)``.  Note the ``h**d`` normalisation: the classic
    tutorial divides by ``h**1`` for 2-D data, which is not a density.

    Parameters
    ----------
    samples : array_like, shape (n, d) or (n,)
        The data (finite; any real dtype, converted once to float64).
    points : array_like, shape (m, d) or (m,)
        Where to estimate the density; same d as the samples.
    widths : float or array_like, shape (H,)
        Window edge lengths (> 0).  All widths are evaluated in one pass.
    weights : array_like, shape (n,), optional
        Non-negative sample weights, not all zero.
    engine : {"auto", "cython", "numba", "numpy", "python"}
    n_threads : int, optional
        Threads for the compiled engines; never changes the result.

    Returns
    -------
    density : ndarray of float64, shape (m,) for a scalar width, else (m, H)

    Examples
    --------
    >>> import numpy as np, gilfree
    >>> x = np.random.default_rng(0).standard_normal((10_000, 2))
    >>> gilfree.parzen_density(x, [[0.0, 0.0]], np.linspace(1.0, 1.2, 100)).shape
    (1, 100)
    """
    out, (n, d), h, scalar, w = _run(samples, points, widths, weights, engine, n_threads)
    norm = (n if w is None else w.sum()) * h**d
    dens = out / norm
    return dens[:, 0] if scalar else dens


def parzen(samples, points, widths, *, weights=None, engine="auto", n_threads=None):
    """Deprecated name of :func:`parzen_density` (a FutureWarning): in scipy,
    ``scipy.signal.windows.parzen`` is the Parzen window function."""
    warnings.warn(
        "gilfree.parzen is deprecated and will be removed in the next release: "
        "scipy.signal.windows.parzen is a window function; use "
        "gilfree.parzen_density, with the same arguments",
        FutureWarning,
        stacklevel=2,
    )
    return parzen_density(samples, points, widths, weights=weights, engine=engine,
                          n_threads=n_threads)
