"""The pure-Python engine of the signal resamplers: plain, GIL-holding loops
on Python floats (the obviously-right twin of the compiled kernels, and what
the benchmark's "Python loop" stands for).  Same signatures as the other
engines.
"""

import numpy as np


def _linear_lists(x, num):
    L = len(x)
    M = len(x[0])
    if L == 1 or num == 1:
        return [list(x[0]) for _ in range(num)]
    step = (L - 1) / (num - 1)
    rows = []
    for i in range(num - 1):
        t = i * step
        j = min(int(t), L - 2)  # t >= 0: int() is floor
        a, b = x[j], x[j + 1]
        rows.append([(b[m] - a[m]) * (t - j) + a[m] for m in range(M)])
    rows.append(list(x[L - 1]))
    return rows


def linear(x, out, n_threads):
    out[...] = np.asarray(_linear_lists(x.tolist(), out.shape[0]), dtype=np.float64)


def linear_many(data, offsets, out, n_threads):
    rows = data.tolist()
    offs = offsets.tolist()
    for k in range(out.shape[0]):
        out[k] = np.asarray(_linear_lists(rows[offs[k]:offs[k + 1]], out.shape[1]))


def poly(x, out, hr, up, down, pre, n_threads):
    xs = x.tolist()
    taps = hr.tolist()
    L = len(xs)
    M = x.shape[1]
    nq = hr.shape[1]
    for i in range(out.shape[0]):
        t = (i + pre) * down
        p = t % up
        j0 = t // up - (nq - 1)
        acc = [0.0] * M
        for r in range(max(0, -j0), min(nq, L - j0)):
            w = taps[p][r]
            row = xs[j0 + r]
            for m in range(M):
                acc[m] += w * row[m]
        out[i] = acc


def linear_list(arrays, out, rest, n_threads):
    from .resample import linear_list_with

    return linear_list_with(linear_many, arrays, out, rest, n_threads)
