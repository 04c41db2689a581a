"""The integrals of :class:`gilfree.gaussian_kde` (scipy's ``integrate_*``).

A mixin so that ``kde.py`` keeps only the estimator itself.  The Gaussian
products (``integrate_gaussian``, ``integrate_kde``) are a Gaussian kernel sum
with the summed covariance, so they run on the same compiled engines (and
threads) as ``evaluate``; ``integrate_box_1d`` needs only the normal CDF;
``integrate_box`` is a multivariate normal CDF, for which scipy's own
(randomised, Genz) routine is called so that the numbers are scipy's.
"""

import math

import numpy as np

from ._validation import as_float_array, describe

__all__ = ["GaussianKdeIntegrals", "ndtr"]

_SQRT1_2 = math.sqrt(0.5)
_erf = np.frompyfunc(math.erf, 1, 1)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def ndtr(x):
    """Standard normal CDF of float64 ``x`` (any shape), by scipy's formula
    (``erf`` near 0, ``erfc`` in the tails, so neither tail loses digits)."""
    x = np.asarray(x, dtype=np.float64)
    t = x * _SQRT1_2
    z = np.abs(t)
    centre = z < _SQRT1_2
    out = np.empty_like(t)
    if centre.any():
        out[centre] = 0.5 + 0.5 * _erf(t[centre]).astype(np.float64)
    tail = ~centre
    if tail.any():
        y = 0.5 * _erfc(z[tail]).astype(np.float64)
        out[tail] = np.where(t[tail] > 0, 1.0 - y, y)
    return out


def _norm_const(chol):
    """``(2 pi)^(d/2) sqrt(det S)`` for ``S = chol @ chol.T``."""
    d = chol.shape[0]
    return math.pow(2 * math.pi, d / 2.0) * float(np.prod(np.diagonal(chol)))


def _cholesky(cov, what):
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as exc:
        raise np.linalg.LinAlgError(
            f"{what} is not positive definite, so the Gaussian product has no density: {exc}"
        ) from exc


class GaussianKdeIntegrals:
    """scipy's ``gaussian_kde.integrate_*`` methods, for a class with
    scipy's attributes (``dataset``, ``d``, ``n``, ``weights``,
    ``covariance``) and gilfree's ``_engine`` / ``_n_threads``,
    ``_data_float()`` and ``_gauss_sum(x, w, q, chol, engine, n_threads)``."""

    def integrate_gaussian(self, mean, cov):
        """Integral of the estimate times a multivariate Gaussian.

        Parameters
        ----------
        mean : array_like, shape (d,)
            The Gaussian's mean.
        cov : array_like, shape (d, d)
            Its covariance (symmetric positive definite once added to the
            estimate's ``covariance``).

        Returns
        -------
        float
            ``int f(x) N(x; mean, cov) dx``, float64 (also in the float32
            mode).  Same numbers as scipy (rtol 1e-12); the sum over the
            samples runs on the compiled engines.

        Raises
        ------
        ValueError
            ``mean`` or ``cov`` does not have the estimate's dimension.
        numpy.linalg.LinAlgError
            ``covariance + cov`` is not positive definite.
        """
        mean = np.atleast_1d(np.squeeze(as_float_array(mean, "mean", finite=False)))
        cov = np.atleast_2d(as_float_array(cov, "cov", finite=False))
        if mean.shape != (self.d,):
            raise ValueError(f"mean does not have dimension {self.d}: got shape {mean.shape}")
        if cov.shape != (self.d, self.d):
            raise ValueError(
                f"covariance does not have dimension {self.d}: got shape {cov.shape}, "
                f"expected ({self.d}, {self.d})"
            )
        chol = _cholesky(self.covariance + cov, "covariance + cov")
        sums = self._gauss_sum(self._data_float().T, np.asarray(self.weights, dtype=np.float64),
                               mean[None, :], chol, self._engine, self._n_threads)
        return np.float64(sums[0] / _norm_const(chol))

    def integrate_box_1d(self, low, high):
        """Integral of a 1-D estimate between two bounds.

        Parameters
        ----------
        low, high : float
            The bounds (may be ``-np.inf`` / ``np.inf``).

        Returns
        -------
        float
            Same numbers as scipy (rtol 1e-13: the normal CDF of the C library
            instead of scipy's).

        Raises
        ------
        ValueError
            The estimate is not 1-D.
        """
        if self.d != 1:
            raise ValueError(
                f"integrate_box_1d() only handles 1D pdfs; this estimate has d = {self.d} "
                "(use integrate_box)"
            )
        for name, value in (("low", low), ("high", high)):
            if np.ndim(value) != 0:
                raise ValueError(f"{name} must be a scalar bound; got {describe(value)}")
        stdev = math.sqrt(float(np.ravel(self.covariance)[0]))
        data = self._data_float().ravel()
        delta = ndtr((float(high) - data) / stdev) - ndtr((float(low) - data) / stdev)
        return np.float64(np.dot(np.asarray(self.weights, dtype=np.float64), delta))

    def integrate_box(self, low_bounds, high_bounds, maxpts=None, *, rng=None):
        """Integral of the estimate over a box (needs scipy).

        Calls ``scipy.stats.multivariate_normal.cdf`` exactly as scipy's
        ``gaussian_kde.integrate_box`` does, so the (randomised quasi-Monte
        Carlo) result is scipy's for the same ``rng``.

        Parameters
        ----------
        low_bounds, high_bounds : array_like, shape (d,)
            The box's corners.
        maxpts : int, optional
            Most integration points per sample.
        rng : numpy.random.Generator or seed, optional
            As scipy's ``rng``.

        Returns
        -------
        float
        """
        try:
            from scipy.stats import multivariate_normal
        except ImportError as exc:  # pragma: no cover - scipy is in the test extra
            raise ImportError(
                "gaussian_kde.integrate_box needs scipy (its multivariate normal CDF); "
                "install scipy, or use integrate_box_1d for a 1-D estimate"
            ) from exc
        low = low_bounds - self.dataset.T
        high = high_bounds - self.dataset.T
        kwargs = {} if rng is None else {"rng": rng}
        values = multivariate_normal.cdf(high, lower_limit=low, cov=self.covariance,
                                         maxpts=maxpts, **kwargs)
        return np.float64(np.dot(np.asarray(values, dtype=np.float64).reshape(-1),
                                 np.asarray(self.weights, dtype=np.float64)))

    def integrate_kde(self, other):
        """Integral of the product of this estimate and another.

        Parameters
        ----------
        other : gaussian_kde
            gilfree's or scipy's, of the same dimension.

        Returns
        -------
        float
            Same numbers as scipy (rtol 1e-12); all (sample, sample) pairs
            are summed on the compiled engines.

        Raises
        ------
        ValueError
            The estimates have different dimensions.
        numpy.linalg.LinAlgError
            The summed covariance is not positive definite.
        """
        for attr in ("d", "n", "dataset", "covariance", "weights"):
            if not hasattr(other, attr):
                raise TypeError(
                    f"other must be a gaussian_kde (gilfree's or scipy's); got {describe(other)}"
                )
        if other.d != self.d:
            raise ValueError(
                f"KDEs are not the same dimensionality: {self.d} and {other.d}"
            )
        small, large = (other, self) if other.n < self.n else (self, other)
        chol = _cholesky(small.covariance + large.covariance, "the summed covariance")
        x = as_float_array(large.dataset, "dataset").T
        q = as_float_array(small.dataset, "dataset").T
        sums = self._gauss_sum(x, np.asarray(large.weights, dtype=np.float64), q, chol,
                               self._engine, self._n_threads)
        total = float(np.dot(sums, np.asarray(small.weights, dtype=np.float64)))
        return np.float64(total / _norm_const(chol))
