"""``gaussian_kde`` in many dimensions: whitening and distances by matrix
products (BLAS through NumPy).

In d dimensions every (point, sample) pair costs d operations for its
distance and one exponential.  For small d the compiled kernels do both in
one pass; from ``_config.KDE_GEMM_MIN_DIM`` on, the distances dominate and
are formed as ``|q|^2 + |x|^2 - 2 q.x`` with one matrix product per block of
points and samples, which BLAS runs at the machine's peak.

Cancellation: ``|q|^2 + |x|^2 - 2 q.x`` has an absolute rounding error of
about ``4 eps (|q| + |x|)^2`` (eps = 2.2e-16), which becomes the same
relative error in the pair's term ``exp(-|q - x|^2 / 2)``.  The data are
centred before whitening, so the norms are those of the whitened spread;
a point whose bound ``2 eps (|q| + max |x|)^2`` exceeds
``KDE_GEMM_MAX_TERM_ERROR`` (far from the data, where the terms are
tiny but could still dominate its sum) is left to the compiled kernel,
which forms every difference exactly.  Everything else agrees with the
exact computation to about 1e-11 relative, inside ``gaussian_kde``'s
rtol 1e-10 against scipy.

Whitening solves with the Cholesky factor of the kernel covariance: column
by column for small d (the order of the compiled engines), by blocks with
matrix products beyond ``KDE_WHITEN_BLOCK``.
"""

import math

import numpy as np
from threadpoolctl import threadpool_limits

from . import _config

__all__ = ["applies", "gaussian_sum", "whiten"]

_EPS = np.finfo(np.float64).eps


def whiten(chol, x):
    """Solve ``chol @ y.T = x.T`` for ``y`` (n, d): forward substitution with
    the lower Cholesky factor ``chol`` (d, d), vectorised over the rows of
    ``x`` (n, d) float64; by blocks of columns with matrix products when d
    exceeds ``_config.KDE_WHITEN_BLOCK``."""
    n, d = x.shape
    y = np.empty_like(x)
    block = _config.KDE_WHITEN_BLOCK
    if d <= block:
        _substitute(chol, x, y, 0, d)
        return y
    for k0 in range(0, d, block):
        k1 = min(d, k0 + block)
        rhs = x[:, k0:k1] - y[:, :k0] @ chol[k0:k1, :k0].T if k0 else x[:, k0:k1].copy()
        _substitute(chol, rhs, y, k0, k1)
    return y


def _substitute(chol, rhs, y, k0, k1):
    """y[:, k0:k1] from rhs (n, k1 - k0), the block's own triangle."""
    for k in range(k0, k1):
        acc = rhs[:, k - k0].copy()
        for j in range(k0, k):
            acc -= chol[k, j] * y[:, j]
        y[:, k] = acc / chol[k, k]


def applies(d):
    """Whether ``gaussian_kde`` forms its distances by matrix products."""
    return d >= _config.KDE_GEMM_MIN_DIM


def gaussian_sum(xw, w, qw, log, n_threads, exact):
    """``sum_i w_i exp(-|q - x_i|^2 / 2)`` per point (or its log), float64 (m,).

    ``xw`` (n, d) and ``qw`` (m, d) are whitened and centred; ``w`` (n,) the
    normalised weights.  Points whose rounding bound is too large for the
    matrix-product form are passed to ``exact(indices)``, which returns
    their values (float64, same ``log``) from the compiled kernel."""
    n, d = xw.shape
    m = qw.shape[0]
    nt = _config.resolve_n_threads(n_threads)
    keep = w > 0
    if not keep.all():
        xw, w = xw[keep], w[keep]
        n = xw.shape[0]
    xn = np.einsum("ij,ij->i", xw, xw)
    qn = np.einsum("ij,ij->i", qw, qw)
    bound = 2 * _EPS * (np.sqrt(qn) + math.sqrt(float(xn.max()))) ** 2
    far = bound > _config.KDE_GEMM_MAX_TERM_ERROR
    out = np.empty(m, dtype=np.float64)
    near = np.flatnonzero(~far)
    # blocks of points x samples of at most NUMPY_BLOCK_BYTES of float64
    rows = max(1, min(len(near), _config.NUMPY_BLOCK_BYTES // (8 * max(n, 1))))
    logw = np.log(w)
    with threadpool_limits(limits=nt, user_api="blas"):
        for a in range(0, len(near), rows):
            idx = near[a:a + rows]
            q = qw[idx]
            arg = q @ xw.T  # (rows, n)
            arg *= 2.0
            arg -= qn[idx, None]
            arg -= xn[None, :]
            np.minimum(arg, 0.0, out=arg)  # rounding may make -|q - x|^2 positive
            arg *= 0.5
            if log:
                arg += logw[None, :]
                top = arg.max(axis=1)
                arg -= top[:, None]
                np.exp(arg, out=arg)
                out[idx] = top + np.log(arg.sum(axis=1))
            else:
                np.exp(arg, out=arg)
                out[idx] = arg @ w
    if far.any():
        out[far] = exact(np.flatnonzero(far))
    return out
