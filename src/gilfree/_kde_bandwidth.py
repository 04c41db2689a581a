"""Bandwidth, covariance and sampling of :class:`gilfree.kde.gaussian_kde`
(scipy's ``gaussian_kde`` attributes: ``factor``, ``covariance``,
``cho_cov``, ``inv_cov``, ``weights``, ``neff``, and ``resample``)."""

import numbers

import numpy as np

from ._validation import as_float_array, describe


class SingularCovarianceError(np.linalg.LinAlgError, ValueError):
    """The data covariance of a :class:`gaussian_kde` is singular.

    A subclass of ``numpy.linalg.LinAlgError`` (which is also what
    ``scipy.linalg.LinAlgError`` is), so code written for scipy's
    ``gaussian_kde`` that catches it keeps working, and of ``ValueError``.
    """


def _check_random_state(seed):
    """numpy's RandomState/Generator for ``seed``, as scipy resolves it."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, (numbers.Integral, np.integer)):
        return np.random.RandomState(seed)
    if isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return seed
    raise ValueError(f"seed must be None, an int, a RandomState or a Generator; got {seed!r}")


_BW_EXPECTED = "bw_method must be 'scott', 'silverman', a positive scalar or a callable"


class GaussianKdeBandwidth:
    """scipy's ``gaussian_kde`` bandwidth methods and ``resample``, for a
    class with scipy's ``dataset``, ``d`` and ``n``."""

    def scotts_factor(self):
        """Scott's factor, ``neff ** (-1 / (d + 4))``."""
        return np.power(self.neff, -1.0 / (self.d + 4))

    def silverman_factor(self):
        """Silverman's factor, ``(neff * (d + 2) / 4) ** (-1 / (d + 4))``."""
        return np.power(self.neff * (self.d + 2.0) / 4.0, -1.0 / (self.d + 4))

    #: The bandwidth factor method (default Scott's); ``set_bandwidth`` replaces it.
    covariance_factor = scotts_factor

    def set_bandwidth(self, bw_method=None):
        """Set the bandwidth factor: ``"scott"``, ``"silverman"``, a positive
        scalar (the factor itself) or a callable ``f(kde) -> factor``; None
        keeps the current method.  Recomputes the covariance."""
        if bw_method is None:
            pass
        elif isinstance(bw_method, str):
            if bw_method == "scott":
                self.covariance_factor = self.scotts_factor
            elif bw_method == "silverman":
                self.covariance_factor = self.silverman_factor
            else:
                raise ValueError(f"{_BW_EXPECTED}; got {bw_method!r}")
        elif np.isscalar(bw_method):
            if isinstance(bw_method, (bool, np.bool_)) or not isinstance(
                bw_method, (numbers.Real, np.floating, np.integer)
            ):
                raise TypeError(f"{_BW_EXPECTED}; got {describe(bw_method)}")
            if not (np.isfinite(bw_method) and bw_method > 0):
                raise ValueError(
                    f"bw_method as a scalar is the bandwidth factor and must be finite "
                    f"and > 0; got {bw_method!r}"
                )
            self._bw_method = "use constant"
            self.covariance_factor = lambda: bw_method
        elif callable(bw_method):
            self._bw_method = bw_method
            self.covariance_factor = lambda: self._bw_method(self)
        else:
            raise ValueError(f"{_BW_EXPECTED}; got {describe(bw_method)}")
        self._compute_covariance()

    def _data_float(self):
        return as_float_array(self.dataset, "dataset")

    def _data_cov(self):
        """The data covariance (weighted, unbiased), (d, d)."""
        self._data_covariance = np.atleast_2d(
            np.cov(self._data_float(), rowvar=1, bias=False, aweights=self.weights))
        return self._data_covariance

    def _compute_covariance(self):
        factor = self.covariance_factor()
        if not (np.ndim(factor) == 0 and np.isfinite(factor) and factor > 0):
            raise ValueError(
                f"the bandwidth factor must be a finite number > 0; bw_method gave {factor!r}"
            )
        self.factor = factor
        if not hasattr(self, "_data_cho_cov"):
            try:
                self._data_cho_cov = np.linalg.cholesky(self._data_cov())
            except np.linalg.LinAlgError as exc:
                raise SingularCovarianceError(
                    "the data covariance matrix is singular (not positive definite): the "
                    f"{self.n} samples lie in a lower-dimensional subspace of the "
                    f"{self.d}-dimensional space (e.g. a constant coordinate, duplicated "
                    "samples only, or one coordinate a linear combination of others), so "
                    "no Gaussian kernel covariance can be formed. Fix: drop the redundant "
                    "dimensions (e.g. project with PCA onto the components with non-zero "
                    "variance) and build gaussian_kde on the reduced data, or add a little "
                    "noise (jitter) to degenerate coordinates"
                ) from exc
        self.covariance = self._data_covariance * self.factor**2
        self.cho_cov = (self._data_cho_cov * self.factor).astype(np.float64)
        self.log_det = 2 * np.log(np.diag(self.cho_cov * np.sqrt(2 * np.pi))).sum()

    @property
    def inv_cov(self):
        """Inverse of ``covariance`` (recomputed, as scipy does)."""
        self.factor = self.covariance_factor()
        return np.linalg.inv(self._data_cov()) / self.factor**2

    @property
    def weights(self):
        """Sample weights (n,), normalised to sum 1."""
        try:
            return self._weights
        except AttributeError:
            self._weights = np.ones(self.n) / self.n
            return self._weights

    @property
    def neff(self):
        """Effective number of samples, ``1 / sum(weights**2)``."""
        try:
            return self._neff
        except AttributeError:
            self._neff = 1.0 / np.dot(self.weights, self.weights)
            return self._neff

    def resample(self, size=None, seed=None):
        """Draw ``size`` samples (d, size) from the estimate, as scipy does
        (same random numbers for the same seed)."""
        if size is None:
            size = int(self.neff)
        random_state = _check_random_state(seed)
        norm = np.transpose(
            random_state.multivariate_normal(np.zeros((self.d,), float), self.covariance,
                                             size=size)
        )
        indices = random_state.choice(self.n, size=size, p=self.weights)
        means = self.dataset[:, indices]
        return means + norm
