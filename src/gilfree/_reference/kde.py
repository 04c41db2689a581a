"""The NumPy engine of the kernel density sums.

Same prepared inputs and outputs as the compiled engines (see
``ext/kde.pyx``): vectorised over blocks of points whose (points x samples)
temporaries stay within ``NUMPY_BLOCK_BYTES``, so memory stays bounded for
any n and m.  The compact kernels ignore the grid (they test every pair).
Arithmetic is done in the dtype of ``xs`` (float64, or float32 in the fast
mode); sums over samples are accumulated in float64.
"""

import numpy as np

from .._config import NUMPY_BLOCK_BYTES

# kernel codes of ext/kde.pyx
_TOPHAT, _EPANECHNIKOV, _LINEAR, _COSINE = 0, 1, 2, 3


def _block_rows(n, itemsize):
    return max(1, NUMPY_BLOCK_BYTES // max(1, 3 * n * itemsize))


def _dist(xs, q, sq):
    """(mb, n) squared distances (distances when ``sq``) of q (mb, d) to xs (d, n)."""
    t = q[:, 0, None] - xs[0][None, :]
    t *= t
    for c in range(1, xs.shape[0]):
        v = q[:, c, None] - xs[c][None, :]
        v *= v
        t += v
    if sq:
        np.sqrt(t, out=t)
    return t


def exp_sum(xs, w, q, c, sq, out, n_threads):
    w64 = w.astype(np.float64)
    step = _block_rows(xs.shape[1], xs.itemsize)
    for a in range(0, q.shape[0], step):
        t = _dist(xs, q[a : a + step], sq)
        for k in range(c.shape[0]):
            e = np.exp(-c[k] * t)
            out[a : a + step, k] = e.astype(np.float64, copy=False) @ w64


def exp_logsum(xs, lw, q, c, sq, out, n_threads):
    step = _block_rows(xs.shape[1], xs.itemsize)
    for a in range(0, q.shape[0], step):
        t = _dist(xs, q[a : a + step], sq)
        for k in range(c.shape[0]):
            v = lw[None, :] - c[k] * t
            top = v.max(axis=1)
            v -= top[:, None]
            s = np.exp(v).astype(np.float64, copy=False).sum(axis=1)
            out[a : a + step, k] = top.astype(np.float64) + np.log(s)


def _compact_terms(kernel, t, tk, ik, wrow):
    inside = t < tk
    if kernel == _TOPHAT:
        val = np.where(inside, 1.0, 0.0).astype(t.dtype)
    elif kernel == _EPANECHNIKOV:
        val = np.where(inside, 1 - t * ik, 0).astype(t.dtype)
    else:
        r = np.sqrt(t)
        u = np.where(inside, 1 - r * ik, 0).astype(t.dtype)
        if kernel == _LINEAR:
            val = u
        else:
            val = np.sin((np.pi / 2) * u).astype(t.dtype)
    return val.astype(np.float64, copy=False) @ wrow


def compact_sum(xs, w, cell_start, grid, ax0, ax1, nx, ny, q, thr, inv_h, kernel, out,
                n_threads):
    w64 = w.astype(np.float64)
    step = _block_rows(xs.shape[1], xs.itemsize)
    for a in range(0, q.shape[0], step):
        t = _dist(xs, q[a : a + step], False)
        for k in range(thr.shape[0]):
            out[a : a + step, k] = _compact_terms(kernel, t, thr[k], inv_h[k], w64)
