"""The pure-Python engine of the Parzen-window kernel.

The plain, GIL-holding loop of the classic tutorial, on Python floats, one
(point, sample, width) at a time.  It is what a process pool runs as the
pure-Python fallback (it may be called on any slice of the points) and what
the benchmark compares against.  Same prepared inputs and outputs as the
other engines (it ignores the plan's strips and visits every sample).
"""

import numpy as np


def _python_loop(xs, q, hw, w):
    """Plain loops: per point, per sample, per width (weights or 1)."""
    cols = xs.T.tolist()  # one list of d floats per sample
    hws = hw.tolist()
    ws = w.tolist() if w is not None else None
    result = []
    for point in q.tolist():
        sums = [0] * len(hws) if ws is None else [0.0] * len(hws)
        for i, x in enumerate(cols):
            r = 0.0
            for qc, xc in zip(point, x):
                v = abs(qc - xc)
                if v > r:
                    r = v
            inc = 1 if ws is None else ws[i]
            for k, h in enumerate(hws):
                if r <= h:
                    sums[k] += inc
        result.append(sums)
    return result


def parzen_counts(plan, q, out, n_split, n_threads):
    out[...] = np.asarray(_python_loop(plan.xs, q, plan.hw, None), dtype=np.int64).reshape(out.shape)


def parzen_weighted(plan, q, out, n_threads):
    out[...] = np.asarray(_python_loop(plan.xs, q, plan.hw, plan.w), dtype=np.float64).reshape(out.shape)
