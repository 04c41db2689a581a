"""NumPy engine of the signal resamplers (the fallback and a test oracle).

Signals arrive as C-contiguous float64 matrices (L, M): time along axis 0,
M independent channels.  ``n_threads`` is accepted and ignored.
"""

import numpy as np


def linear(x, out, n_threads):
    """x (L, M) -> out (num, M), endpoint-aligned linear interpolation:
    np.interp(linspace(0, L-1, num), arange(L), x[:, m]) for every m, with
    np.interp's own formula ``(x[j+1] - x[j]) * (t - j) + x[j]``."""
    L = x.shape[0]
    num = out.shape[0]
    if L == 1 or num == 1:
        out[...] = x[0]
        return
    step = (L - 1) / (num - 1)
    t = np.arange(num, dtype=np.float64) * step
    j = np.minimum(np.floor(t).astype(np.int64), L - 2)
    out[...] = (x[j + 1] - x[j]) * (t - j)[:, None] + x[j]
    out[num - 1] = x[L - 1]  # np.interp returns fp[-1] at the last sample point


def linear_many(data, offsets, out, n_threads):
    """Signal k is data[offsets[k]:offsets[k+1]] (L_k, M); out (k, num, M)."""
    for k in range(out.shape[0]):
        linear(data[offsets[k]:offsets[k + 1]], out[k], n_threads)


def poly(x, out, hr, up, down, pre, n_threads):
    """Polyphase FIR resampling (scipy.signal.resample_poly's upfirdn).

    Output i is upfirdn's sample ``n = i + pre``: with ``t = n * down``,
    ``p = t % up`` and ``j0 = t // up - (nq - 1)``, it is
    ``sum_r hr[p, r] * x[j0 + r]`` over the r with ``0 <= j0 + r < L``
    (``hr`` holds each phase's taps in reversed order).
    """
    L = x.shape[0]
    nq = hr.shape[1]
    t = (np.arange(out.shape[0], dtype=np.int64) + pre) * down
    p = t % up
    j0 = t // up - (nq - 1)
    acc = np.zeros(out.shape, np.float64)
    for r in range(nq):
        j = j0 + r
        ok = (j >= 0) & (j < L)
        w = np.where(ok, hr[p, r], 0.0)
        acc += w[:, None] * x[np.clip(j, 0, L - 1)]
    out[...] = acc


def list_fits(arrays, rest):
    """-1 if every element of ``arrays`` is a C-contiguous float64 ndarray
    of shape (L,) + rest with L >= 1, else the index of the first that is
    not (the contract of ``linear_list``)."""
    rest = tuple(int(r) for r in rest)
    for k, a in enumerate(arrays):
        if (type(a) is not np.ndarray or a.dtype != np.float64 or not a.flags.c_contiguous
                or a.shape[1:] != rest or a.ndim == 0 or a.shape[0] < 1):
            return k
    return -1


def linear_list_with(linear_many_fn, arrays, out, rest, n_threads):
    """``linear_list`` for engines that need one concatenated input."""
    bad = list_fits(arrays, rest)
    if bad >= 0:
        return bad
    data = np.concatenate(arrays, axis=0).reshape(-1, out.shape[2])
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum([a.shape[0] for a in arrays], out=offsets[1:])
    linear_many_fn(data, offsets, out, n_threads)
    return -1


def linear_list(arrays, out, rest, n_threads):
    """``linear_many`` on a list of float64 arrays (L_k,) + rest; returns -1,
    or the index of the first element that does not fit (nothing done)."""
    return linear_list_with(linear_many, arrays, out, rest, n_threads)
