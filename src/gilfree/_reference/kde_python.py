"""The pure-Python engine of the kernel density sums.

Plain, GIL-holding loops on Python floats, one (point, sample, bandwidth)
at a time -- the textbook KDE.  It is what a process pool runs as the
pure-Python fallback (``gilfree.kde`` hands each worker a slice of the
points) and what the benchmark compares against.  Same prepared inputs and
outputs as the other engines (``ext/kde.pyx``); the compact kernels test
every pair (no grid).
"""

import math

import numpy as np

_TOPHAT, _EPANECHNIKOV, _LINEAR, _COSINE = 0, 1, 2, 3


def _columns(xs):
    return xs.T.tolist()  # one list of d floats per sample


def _dist2(point, x):
    t = 0.0
    for qc, xc in zip(point, x):
        v = qc - xc
        t += v * v
    return t


def exp_sum(xs, w, q, c, sq, out, n_threads):
    cols, ws, cs = _columns(xs), w.tolist(), c.tolist()
    for p, point in enumerate(q.tolist()):
        sums = [0.0] * len(cs)
        for x, wi in zip(cols, ws):
            a = _dist2(point, x)
            if sq:
                a = math.sqrt(a)
            for k, ck in enumerate(cs):
                sums[k] += wi * math.exp(-ck * a)
        out[p, :] = sums


def exp_logsum(xs, lw, q, c, sq, out, n_threads):
    cols, lws, cs = _columns(xs), lw.tolist(), c.tolist()
    for p, point in enumerate(q.tolist()):
        args = []
        for x, li in zip(cols, lws):
            a = _dist2(point, x)
            args.append(math.sqrt(a) if sq else a)
        for k, ck in enumerate(cs):
            vals = [li - ck * a for li, a in zip(lws, args)]
            top = max(vals)
            out[p, k] = top + math.log(math.fsum(math.exp(v - top) for v in vals))


def _term(kernel, t, hk_inv):
    if kernel == _TOPHAT:
        return 1.0
    if kernel == _EPANECHNIKOV:
        return 1.0 - t * hk_inv
    u = 1.0 - math.sqrt(t) * hk_inv
    if kernel == _LINEAR:
        return u
    return math.sin(0.5 * math.pi * u)


def compact_sum(xs, w, cell_start, grid, ax0, ax1, nx, ny, q, thr, inv_h, kernel, out,
                n_threads):
    cols, ws = _columns(xs), w.tolist()
    thrs, invs = thr.tolist(), inv_h.tolist()
    for p, point in enumerate(q.tolist()):
        sums = [0.0] * len(thrs)
        for x, wi in zip(cols, ws):
            t = _dist2(point, x)
            for k, (tk, ik) in enumerate(zip(thrs, invs)):
                if t < tk:
                    sums[k] += wi * _term(kernel, t, ik)
        out[p, :] = sums


def run_points(func_name, before, q, after, H):
    """Run engine function ``func_name(*before, q, *after, out, 1)`` on a
    slice ``q`` of the points and return its (len(q), H) output: the unit of
    work of the process-pool fallback."""
    out = np.zeros((q.shape[0], H), dtype=np.float64)
    globals()[func_name](*before, q, *after, out, 1)
    return out
