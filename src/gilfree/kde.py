"""Kernel density estimation on every core.

Two entry points:

- :class:`gaussian_kde`, a drop-in for ``scipy.stats.gaussian_kde``: same
  constructor, attributes and methods, same numbers (rtol 1e-10), but the
  evaluation runs on all cores with a vectorised ``exp``.
- :func:`kde`, scikit-learn's kernels and normalisation
  (``KernelDensity(kernel=k, bandwidth=h).score_samples``, exactly, i.e.
  ``rtol=0``), with a sweep over many bandwidths in one pass over the pairs.

Both compute the exact sum over all (point, sample) pairs -- no grid, no
FFT, no tree approximation -- at arbitrary evaluation points.  Compact
kernels (tophat, epanechnikov, linear, cosine) visit only the pairs that can
be inside the support.  Log densities are computed by log-sum-exp with the
exact per-point maximum, so they stay finite and accurate far in the tails
where the density itself underflows to 0.

Memory: no (points x samples) temporary in the compiled engines; the numpy
engine works in blocks of bounded size.
"""

import math

import numpy as np

from . import _config, _kde_highdim
from ._kde_bandwidth import GaussianKdeBandwidth, SingularCovarianceError
from ._kde_highdim import whiten as _whiten
from ._kde_integrate import GaussianKdeIntegrals
from ._validation import as_float_array, as_points_matrix, check_positive_finite, check_weights

SingularCovarianceError.__module__ = __name__  # tracebacks and pickles name gilfree.kde

__all__ = ["KERNELS", "SingularCovarianceError", "gaussian_kde", "kde"]

_config.register_kernel(
    "kde",
    # Fixed choice for every kernel, backed by benchmarks/bench_kde.py: Cython
    # (its AVX-512/AVX2 variant picked at import) and Numba run the same
    # algorithm at about the same speed (float64 gaussian ~1.8 G pairs/s per
    # core on AVX-512), ~30x NumPy; Cython goes first because it needs no JIT
    # compilation on first use and no Numba import.
    auto=("cython", "numba", "numpy"),
    engines={
        "numba": "gilfree._numba.kde",
        "cython": "gilfree._cy.kde",
        "numpy": "gilfree._reference.kde",
        "python": "gilfree._reference.kde_python",
    },
)

#: The kernels of :func:`kde` (scikit-learn's names and normalisation).
KERNELS = ("gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine")
_COMPACT = {"tophat": 0, "epanechnikov": 1, "linear": 2, "cosine": 3}
_LOG_2PI = math.log(2 * math.pi)
# log-weight of the padding samples of the exp-family kernels (finite, so
# that no inf/NaN is formed; exp of it is exactly 0)
_PAD_LOG_WEIGHT = -1e30


# -- input checks ------------------------------------------------------------


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be np.float64 or np.float32; got {dtype!r}") from None
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(
            f"dtype must be np.float64 (exact mode) or np.float32 (fast mode, rtol 1e-4); "
            f"got {dt}"
        )
    return dt


def _check_kernel(kernel):
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise ValueError(
            f"kernel must be one of {', '.join(map(repr, KERNELS))}; got {kernel!r}"
        )
    return kernel


def _check_engine_threads(engine, n_threads):
    _config.resolve_engine("kde", engine)
    _config.resolve_n_threads(n_threads)


# -- running an engine -------------------------------------------------------


def _call(func_name, before, q, after, H, engine, n_threads):
    """Run engine function ``func_name(*before, q, *after, out, nt)`` and
    return ``out`` float64 (m, H).  The python engine with more than one
    thread runs slices of the points on a process pool (the pure-Python
    fallback)."""
    name, mod, nt = _config.select("kde", engine, n_threads)
    m = q.shape[0]
    # tiny calls (e.g. one point in a quadrature loop) run on one thread
    nt = max(1, min(nt, before[0].size * m * H // _config.KDE_MIN_PAIRS_PER_THREAD))
    per_task = _config.KDE_PYTHON_MIN_POINTS_PER_TASK
    if name == "python" and nt > 1 and m >= 2 * per_task:
        return _python_pool(mod, func_name, before, q, after, H, nt)
    out = np.empty((m, H), dtype=np.float64)
    getattr(mod, func_name)(*before, q, *after, out, nt)
    return out


def _python_pool(mod, func_name, before, q, after, H, nt):
    from .parallel._pool import process_executor

    m = q.shape[0]
    per_task = _config.KDE_PYTHON_MIN_POINTS_PER_TASK
    n_tasks = max(1, min(4 * nt, m // per_task))
    bounds = np.linspace(0, m, n_tasks + 1).astype(int)
    with process_executor(nt) as executor:  # pmap(backend="processes")'s pool
        futures = [
            executor.submit(mod.run_points, func_name, before, q[a:b], after, H)
            for a, b in zip(bounds[:-1], bounds[1:])
            if b > a
        ]
        return np.concatenate([f.result() for f in futures], axis=0)


def _exp_family(x, w, q, c, sq, log, dtype, engine, n_threads):
    """sum_i w_i exp(-c_k a(q, x_i)) (or its log), a = |q - x|^2 (or |q - x|).

    ``x`` (n, d) and ``q`` (m, d) float64 in the coordinates of the kernel;
    ``w`` (n,) normalised weights.  Returns float64 (m, H).
    """
    keep = w > 0
    if not keep.all():
        x, w = x[keep], w[keep]
    n, d = x.shape
    lanes = _config.KDE_LANES
    npad = -(-n // lanes) * lanes
    xs = np.zeros((d, npad), dtype=dtype)
    xs[:, :n] = x.T
    qk = np.ascontiguousarray(q, dtype=dtype)
    ck = np.ascontiguousarray(c, dtype=dtype)
    wk = np.full(npad, _PAD_LOG_WEIGHT if log else 0.0, dtype=dtype)
    wk[:n] = np.log(w) if log else w
    return _call("exp_logsum" if log else "exp_sum", (xs, wk), qk, (ck, bool(sq)), ck.shape[0],
                 engine, n_threads)


def _sqrt_thresholds(h):
    """Least t (in h's dtype) whose correctly rounded square root is >= h:
    ``t < thr`` is then exactly ``sqrt(t) < h`` (sklearn's ``dist < h``)."""
    t = h * h
    for _ in range(64):
        lower = np.nextafter(t, np.zeros_like(t))
        down = np.sqrt(lower) >= h
        if not down.any():
            break
        t = np.where(down, lower, t)
    for _ in range(64):
        up = np.sqrt(t) < h
        if not up.any():
            break
        t = np.where(up, np.nextafter(t, np.full_like(t, np.inf)), t)
    return t.astype(h.dtype)


def _grid(xk, qk, hmax):
    """Cells of edge >= the widest bandwidth over the two axes of largest
    spread; returns the sort order and the grid description."""
    n, d = xk.shape
    x64 = xk.astype(np.float64)
    lo, hi = x64.min(axis=0), x64.max(axis=0)
    spread = hi - lo
    axes = np.argsort(-spread, kind="stable")
    ax0 = int(axes[0])
    ax1 = int(axes[1]) if d > 1 else ax0
    scale = max(float(np.abs(x64).max()), float(np.abs(qk).max()) if qk.size else 0.0)
    reach = hmax * (1 + _config.KDE_WINDOW_MARGIN) + 4 * np.finfo(np.float64).eps * scale
    cap = max(1, min(_config.KDE_MAX_CELLS, _config.KDE_CELLS_PER_SAMPLE * n))
    span0 = float(spread[ax0])
    span1 = float(spread[ax1]) if d > 1 else 0.0
    s = reach
    if d > 1:
        s = max(s, math.sqrt(span0 * span1 / cap) if span0 * span1 > 0 else 0.0)
    else:
        s = max(s, span0 / cap)
    o0 = float(lo[ax0])
    o1 = float(lo[ax1]) if d > 1 else 0.0
    while True:
        inv_s = 1.0 / s
        gx = np.floor((x64[:, ax0] - o0) * inv_s).astype(np.int64)
        nx = int(gx.max()) + 1
        if d > 1:
            gy = np.floor((x64[:, ax1] - o1) * inv_s).astype(np.int64)
            ny = int(gy.max()) + 1
        else:
            gy = np.zeros(n, dtype=np.int64)
            ny = 1
        if nx * ny <= cap:
            break
        s *= 1.5
    cell = gx * ny + gy
    order = np.argsort(cell, kind="stable")
    counts = np.bincount(cell, minlength=nx * ny)
    cell_start = np.zeros(nx * ny + 1, dtype=np.int64)
    np.cumsum(counts, out=cell_start[1:])
    grid = np.array([o0, o1, inv_s, reach], dtype=np.float64)
    return order, cell_start, grid, ax0, ax1, nx, ny


def _compact(x, w, q, h, kernel, dtype, engine, n_threads):
    """sum_i w_i K(|q - x_i| / h_k) over the samples with dist < h_k."""
    keep = w > 0
    if not keep.all():
        x, w = x[keep], w[keep]
    xk = x.astype(dtype)
    qk = np.ascontiguousarray(q, dtype=dtype)
    hk = h.astype(dtype)
    thr = _sqrt_thresholds(hk)
    inv_h = (1 / (hk * hk) if kernel == "epanechnikov" else 1 / hk).astype(dtype)
    order, cell_start, grid, ax0, ax1, nx, ny = _grid(xk, qk, float(h.max()))
    xs = np.ascontiguousarray(xk[order].T)
    ws = np.ascontiguousarray(w[order], dtype=dtype)
    before = (xs, ws, cell_start, grid, ax0, ax1, nx, ny)
    after = (thr, inv_h, _COMPACT[kernel])
    return _call("compact_sum", before, qk, after, hk.shape[0], engine, n_threads)


# -- kde: scikit-learn's kernels ---------------------------------------------


def _log_vn(n):
    return 0.5 * n * math.log(math.pi) - math.lgamma(0.5 * n + 1)


def _log_sn(n):
    return _LOG_2PI + _log_vn(n - 1)


def _log_kernel_norm(h, d, kernel):
    """log of scikit-learn's normalisation of ``kernel`` in d dimensions at
    bandwidths ``h`` (array): the density is ``norm * sum_i w_i K_i / sum(w)``."""
    if kernel == "gaussian":
        factor = 0.5 * d * _LOG_2PI
    elif kernel == "tophat":
        factor = _log_vn(d)
    elif kernel == "epanechnikov":
        factor = _log_vn(d) + math.log(2.0 / (d + 2.0))
    elif kernel == "exponential":
        factor = _log_sn(d - 1) + math.lgamma(d)
    elif kernel == "linear":
        factor = _log_vn(d) - math.log(d + 1.0)
    else:  # cosine
        factor = math.log(_cosine_radial_integral(d)) + _log_sn(d - 1)
    return -factor - d * np.log(h)


def _cosine_radial_integral(d):
    """``int_0^1 r**(d-1) cos(pi r / 2) dr`` by its (alternating, fast)
    power series.

    scikit-learn's closed form for this (``_log_kernel_norm``) only holds
    for odd d: in even d it keeps only part of the terms (d = 2 gives a
    normalisation 2.7x too large, d = 4 a negative number, hence NaN).  This
    series agrees with it in odd d and is right in every d.
    """
    a2 = (math.pi / 2) ** 2
    terms = []
    coef = 1.0  # (-1)^j a^(2j) / (2j)!
    for j in range(60):
        terms.append(coef / (2 * j + d))
        coef *= -a2 / ((2 * j + 1) * (2 * j + 2))
    return math.fsum(terms)


def _as_points(points, d, name="points"):
    q_in = points if isinstance(points, np.ndarray) else np.asarray(points)
    if q_in.ndim == 1 and d > 1 and q_in.shape[0] == d:
        q_in = q_in.reshape(1, d)  # one point given as a 1-D vector of length d
    return as_points_matrix(q_in, name, d=d, allow_empty=True)


def kde(samples, points, bandwidth, *, kernel="gaussian", weights=None, log=False,
        dtype=np.float64, engine="auto", n_threads=None):
    """Kernel density estimate at arbitrary points, scikit-learn's kernels.

    Equals ``KernelDensity(kernel=kernel, bandwidth=h, rtol=0, atol=0)
    .fit(samples, sample_weight=weights).score_samples(points)`` (as a density,
    or its log with ``log=True``), Euclidean metric, to rtol 1e-10 -- but
    exact by construction (no tree approximation) and on all cores.

    Parameters
    ----------
    samples : array_like, shape (n, d) or (n,)
        The data; 1-D input is n samples of dimension 1.  Finite; any real
        dtype (converted once).
    points : array_like, shape (m, d) or (m,)
        Where to evaluate; same d as the samples.  A 1-D array of length d
        (d > 1) is one point.
    bandwidth : float or array_like, shape (H,)
        Kernel bandwidths h > 0.  An array evaluates every bandwidth in one
        pass over the (point, sample) pairs: each distance is computed once.
    kernel : {"gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine"}
        With ``u = dist / h``: ``exp(-u**2 / 2)``, ``1``, ``1 - u**2``,
        ``exp(-u)``, ``1 - u``, ``cos(pi u / 2)``; the compact ones count a
        sample when ``dist < h`` (strict, as scikit-learn), and only the
        samples near each point are visited.  Normalised as scikit-learn,
        except the cosine kernel in even d, where scikit-learn's
        normalisation is wrong (d = 2: 2.7x too small a density; d = 4:
        NaN): there each kernel integrates to 1 here.
    weights : array_like, shape (n,), optional
        Non-negative sample weights, not all zero (scikit-learn's
        ``sample_weight``).
    log : bool
        Return the log density.  For the gaussian and exponential kernels it
        is computed by log-sum-exp and stays finite far in the tails where
        the density underflows; compact kernels give ``-inf`` outside the
        support of every sample.
    dtype : {np.float64, np.float32}
        ``np.float32`` is the fast mode (about 2x; rtol 1e-4).
    engine : {"auto", "cython", "numba", "numpy", "python"}
        ``auto`` is ``cython``, else ``numba``, else ``numpy``.  ``python``
        with ``n_threads > 1`` runs slices of the points on a process pool.
    n_threads : int, optional
        Threads (None: all usable cores).  Never changes the result.

    Returns
    -------
    density : ndarray, shape (m,) for a scalar bandwidth, else (m, H)
        float64 (float32 in the fast mode): the density, or its log.

    Examples
    --------
    >>> import numpy as np, gilfree
    >>> x = np.random.default_rng(0).standard_normal((5000, 2))
    >>> gilfree.kde(x, x[:3], [0.1, 0.2, 0.4], kernel="epanechnikov").shape
    (3, 3)
    """
    kernel = _check_kernel(kernel)
    dt = _check_dtype(dtype)
    _check_engine_threads(engine, n_threads)
    x = as_points_matrix(samples, "samples")
    n, d = x.shape
    q = _as_points(points, d)
    h, scalar = check_positive_finite(bandwidth, "bandwidth")
    w = np.ones(n) if weights is None else check_weights(weights, n)
    w = w / w.sum()
    if dt == np.float32:
        # centre before rounding to float32: distances are translation
        # invariant and the rounding error is relative to the magnitude
        centre = x.mean(axis=0)
        x = x - centre
        q = q - centre
    if kernel in ("gaussian", "exponential"):
        sq = kernel == "exponential"
        c = 1.0 / h if sq else 0.5 / (h * h)
        out = _exp_family(x, w, q, c, sq, log, dt, engine, n_threads)
    else:
        out = _compact(x, w, q, h, kernel, dt, engine, n_threads)
        if log:
            with np.errstate(divide="ignore"):
                out = np.log(out)
    lognorm = _log_kernel_norm(h, d, kernel)
    res = (out + lognorm[None, :] if log else _scale(out, lognorm)).astype(dt, copy=False)
    return res[:, 0] if scalar else res


def _whitened(chol, x, q):
    """``x`` and ``q`` whitened by ``chol`` relative to the data mean (the sum
    is translation invariant; centring keeps the coordinates small)."""
    centre = x.mean(axis=0)
    return _whiten(chol, x - centre), _whiten(chol, q - centre)


def _scale(out, lognorm):
    """out * exp(lognorm) per column, through logs if the factor overflows."""
    with np.errstate(over="ignore"):
        norm = np.exp(lognorm)
    if np.isfinite(norm).all() and (norm > 0).all():
        return out * norm[None, :]
    with np.errstate(divide="ignore"):
        return np.exp(np.log(out) + lognorm[None, :])


# -- gaussian_kde: the scipy drop-in -----------------------------------------


class gaussian_kde(GaussianKdeBandwidth, GaussianKdeIntegrals):  # noqa: N801 - the name of the scipy class it replaces
    """Gaussian kernel density estimate: a drop-in for ``scipy.stats.gaussian_kde``.

    Same constructor, attributes and methods, same numbers (float64: rtol
    1e-10 against scipy; logpdf agrees where the pdf is above 1e-300 and,
    unlike a naive log of the pdf, stays finite beyond).  Evaluation uses
    every core and a vectorised exp.

    Parameters
    ----------
    dataset : array_like, shape (d, n) or (n,)
        The samples, one per column (scipy's convention).  Finite, at least
        two samples, and not lying in a lower-dimensional subspace.
    bw_method : str, scalar or callable, optional
        ``"scott"`` (default), ``"silverman"``, a positive scalar used as
        ``factor``, or a callable taking this object and returning the factor.
    weights : array_like, shape (n,), optional
        Non-negative sample weights, not all zero; normalised to sum 1.
    dtype : {np.float64, np.float32}
        ``np.float32`` is the fast mode (about 2x, rtol 1e-4); results are
        then float32.
    engine : {"auto", "cython", "numba", "numpy", "python"}
    n_threads : int, optional
        Threads for the evaluation (None: all usable cores); never changes
        the result.

    Attributes
    ----------
    dataset : ndarray (d, n)
    d, n : int
    weights : ndarray (n,) float64, summing to 1
    neff : float
        Effective number of samples, ``1 / sum(weights**2)``.
    factor : float
        The bandwidth factor.
    covariance : ndarray (d, d)
        Data covariance (weighted, unbiased) times ``factor**2``.
    inv_cov : ndarray (d, d)
    cho_cov : ndarray (d, d)
        Lower Cholesky factor of ``covariance``.
    log_det : float
        ``log det(2 pi covariance)``.

    Notes
    -----
    ``resample``, ``marginal`` and the integrals (``integrate_gaussian``,
    ``integrate_box_1d``, ``integrate_box``, ``integrate_kde``) are
    provided and match scipy; ``integrate_box`` calls scipy's multivariate
    normal CDF (scipy needed).  A subclass may set ``dataset``, ``d``, ``n``
    and ``covariance_factor`` itself and call ``_compute_covariance()``
    without ``__init__`` (as scipy allows): the engine settings then take
    their defaults below.
    """

    # defaults for subclasses that set the attributes themselves instead of
    # calling __init__ (scipy's own tests do this)
    _dtype = np.dtype(np.float64)
    _engine = "auto"
    _n_threads = None

    def __init__(self, dataset, bw_method=None, weights=None, *, dtype=np.float64,
                 engine="auto", n_threads=None):
        self._dtype = _check_dtype(dtype)
        _check_engine_threads(engine, n_threads)
        self._engine = engine
        self._n_threads = n_threads
        raw = np.asarray(dataset)
        data = as_float_array(raw, "dataset")
        if data.ndim > 2:
            raise ValueError(
                f"dataset must be 1-D (n,) or 2-D (d, n); got shape {data.shape}"
            )
        self.dataset = np.atleast_2d(raw)
        self.d, self.n = self.dataset.shape
        if self.n < 2:
            raise ValueError(
                f"dataset must contain at least 2 samples (the columns of a (d, n) array); "
                f"got shape {self.dataset.shape}. gaussian_kde takes one sample per "
                "column: transpose an (n, d) array with dataset.T"
            )
        if weights is not None:
            w = check_weights(weights, self.n)
            self._weights = w / w.sum()
            self._neff = 1.0 / np.dot(self._weights, self._weights)
        if self.d > self.n:
            raise ValueError(
                f"dataset has more dimensions (d = {self.d}) than samples (n = {self.n}), "
                "so its covariance is singular. gaussian_kde takes one sample per "
                "*column* of a (d, n) array: transpose your input (dataset.T)"
            )
        self.set_bandwidth(bw_method=bw_method)

    def _points(self, points):
        raw = np.asarray(points)
        pts = np.atleast_2d(as_float_array(raw, "points"))
        if pts.ndim != 2:
            raise ValueError(
                f"points must be 1-D or 2-D (d, m) with d = {self.d}; got shape {raw.shape}"
            )
        d, m = pts.shape
        if d != self.d:
            if d == 1 and m == self.d:
                pts = pts.reshape(self.d, 1)  # one point as a row vector
            else:
                raise ValueError(
                    f"points have dimension {d}, dataset has dimension {self.d}: points "
                    f"must be (d, m) = ({self.d}, m), one point per column"
                )
        return pts.T  # (m, d)

    @staticmethod
    def _gauss_sum(x, w, q, chol, engine, n_threads):
        """``sum_j w_j exp(-|chol^-1 (x_j - q_i)|^2 / 2)`` for every row q_i:
        float64 (m,).  ``x`` (n, d), ``q`` (m, d) float64 (for the integrals)."""
        xw, qw = _whitened(chol, x, q)
        return _exp_family(xw, w, qw, np.array([0.5]), False, False, np.dtype(np.float64),
                           engine, n_threads)[:, 0]

    def _estimate(self, points, log):
        chol = self.cho_cov
        xw, qw = _whitened(chol, self._data_float().T, self._points(points))

        def exact(idx=slice(None)):
            return _exp_family(xw, self.weights, qw[idx], np.array([0.5]), False, log,
                               self._dtype, self._engine, self._n_threads)[:, 0]

        out = (_kde_highdim.gaussian_sum(xw, self.weights, qw, log, self._n_threads, exact)
               if _kde_highdim.applies(self.d) else exact())
        diag = np.diag(chol)
        if log:
            log_norm = -0.5 * self.d * _LOG_2PI - np.log(diag).sum()
            res = out + log_norm
        else:
            norm = math.pow(2 * math.pi, -self.d / 2.0)
            for v in diag:
                norm /= v
            res = out * norm
        return res.astype(self._dtype, copy=False)

    def evaluate(self, points, client=None):
        """The estimated pdf at ``points``.

        Parameters
        ----------
        points : array_like, shape (d, m) or (d,)
            One point per column (a (d,) vector is one point; for d == 1 a
            1-D array is m points).
        client : distributed.Client or str, optional
            Evaluate on a Dask cluster instead (``gilfree[dask]``): the
            estimator goes to every worker once, the points are split
            across them; same result (see :mod:`gilfree.distributed`).

        Returns
        -------
        values : ndarray, shape (m,)
            float64 (float32 in the fast mode).  Values below about 1e-300
            may underflow to 0; use :meth:`logpdf` there.
        """
        if client is not None:
            from .distributed._gaussian_kde import gaussian_kde_evaluate

            return gaussian_kde_evaluate(self, points, client=client)
        return self._estimate(points, log=False)

    __call__ = evaluate

    def pdf(self, x):
        """Alias of :meth:`evaluate`."""
        return self.evaluate(x)

    def logpdf(self, x):
        """Log of the estimated pdf at ``x`` (d, m): by log-sum-exp with the
        exact per-point maximum, finite even where the pdf underflows."""
        return self._estimate(x, log=True)

    def marginal(self, dimensions):
        """The marginal estimate over ``dimensions`` (int or 1-D ints)."""
        dims = np.atleast_1d(dimensions)
        if not np.issubdtype(dims.dtype, np.integer):
            raise ValueError(
                "dimensions must be integers: the indices of the dimensions to keep; "
                f"got dtype {dims.dtype}"
            )
        n = len(self.dataset)
        original = dims.copy()
        dims = np.where(dims < 0, n + dims, dims)
        if len(np.unique(dims)) != len(dims):
            raise ValueError(f"dimensions must be unique; got {original.tolist()}")
        bad = (dims < 0) | (dims >= n)
        if bad.any():
            raise ValueError(
                f"dimensions {original[bad].tolist()} are invalid for a distribution in "
                f"{n} dimensions"
            )
        return gaussian_kde(self.dataset[dims], bw_method=self.covariance_factor(),
                            weights=self.weights, dtype=self._dtype, engine=self._engine,
                            n_threads=self._n_threads)
