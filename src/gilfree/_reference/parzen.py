"""The NumPy engine of the Parzen-window kernel.

Takes the same plan as the compiled engines (``gilfree.parzen._Plan``)
and fills cumulative counts per sorted half width,
vectorised over blocks of points whose temporaries stay within
``NUMPY_BLOCK_BYTES``.
"""

import numpy as np

from .._config import NUMPY_BLOCK_BYTES


def _block_rows(n, H):
    per_row = max(1, n * 8 * 3 + H * 8)
    return max(1, NUMPY_BLOCK_BYTES // per_row)


def _radii(xs, q):
    """(mb, n) max-norm distances between points q (mb, d) and xs (d, n)."""
    r = np.abs(q[:, 0, None] - xs[0][None, :])
    for c in range(1, xs.shape[0]):
        np.maximum(r, np.abs(q[:, c, None] - xs[c][None, :]), out=r)
    return r


def _hist_blocks(plan, q, out, weights):
    xs, hw = plan.xs, plan.hw
    m, H = out.shape
    step = _block_rows(xs.shape[1], H)
    for a in range(0, m, step):
        r = _radii(xs, q[a : a + step])
        # first sorted half width with r <= hw[k]  ==  searchsorted left
        idx = np.searchsorted(hw, r, side="left")
        mb = r.shape[0]
        flat = (idx + (H + 1) * np.arange(mb)[:, None]).ravel()
        w = None if weights is None else np.broadcast_to(weights, r.shape).ravel()
        hist = np.bincount(flat, weights=w, minlength=mb * (H + 1)).reshape(mb, H + 1)
        np.cumsum(hist[:, :H], axis=1, out=out[a : a + mb])


def parzen_counts(plan, q, out, n_split, n_threads):
    _hist_blocks(plan, q, out, None)


def parzen_weighted(plan, q, out, n_threads):
    _hist_blocks(plan, q, out, plan.w)
