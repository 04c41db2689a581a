"""The NumPy engine of the subsequence-DTW kernel.

Same prepared inputs and outputs as ``ext/dtw.pyx``.  The recurrence is
vectorised along anti-diagonals: every cell of diagonal ``i + j = s`` depends
only on diagonals ``s - 1`` and ``s - 2``.  The signal is processed in column
blocks of ``DTW_NUMPY_BLOCK_COLS`` (the block's left neighbour column carries
over), so the temporaries stay small.  In a padded (rows + 1, W + 1) block
stored flat, the cells of one diagonal are a slice with step ``W``, and so
are their three predecessors: no fancy indexing.

Each cell uses the same operations in the same order as the compiled engines
(local cost summed over channels in order, then ``cost + min``), so the
results are equal bit for bit.
"""

import numpy as np

from .. import _config


def _local_costs(t, sT, c0, c1):
    """(M, c1 - c0) squared Euclidean costs, channels summed in order."""
    diff = t[:, 0, None] - sT[0, None, c0:c1]
    cost = diff * diff
    for k in range(1, t.shape[1]):
        diff = t[:, k, None] - sT[k, None, c0:c1]
        cost += diff * diff
    return cost


def accumulate(t, sT, full, last, dirs, block_cols, row_blocks, n_threads):
    M, N = t.shape[0], sT.shape[1]
    if M == 0 or N == 0:
        return
    want_full = full.shape[0] > 0
    want_dirs = dirs.shape[0] > 0
    W = max(1, int(_config.DTW_NUMPY_BLOCK_COLS))
    left = np.full(M, np.inf)  # D[:, c0 - 1]; the virtual column at first
    for c0 in range(0, N, W):
        c1 = min(c0 + W, N)
        w = c1 - c0
        cost = _local_costs(t, sT, c0, c1).ravel()
        # P[i + 1, j + 1] = D[i, c0 + j]; row 0 the virtual row, column 0 = left
        P = np.empty((M + 1, w + 1))
        P[0, :] = 0.0
        P[1:, 0] = left
        Pf = P.ravel()
        Dr = np.empty(M * w, dtype=np.uint8) if want_dirs else None
        for s in range(M + w - 1):
            lo = max(0, s - w + 1)
            hi = min(M - 1, s)
            n = hi - lo + 1
            # cell (i, j = s - i) sits at (i + 1) * (w + 1) + j + 1 in Pf
            a = (lo + 1) * (w + 1) + (s - lo) + 1
            sl = slice(a, a + (n - 1) * w + 1, w)
            diag = Pf[a - w - 2 : a - w - 2 + (n - 1) * w + 1 : w]
            up = Pf[a - w - 1 : a - w - 1 + (n - 1) * w + 1 : w]
            lft = Pf[a - 1 : a - 1 + (n - 1) * w + 1 : w]
            # cost[i, s - i] sits at i * w + s - i
            ca = lo * w + s - lo
            csl = slice(ca, ca + (n - 1) * (w - 1) + 1, w - 1) if w > 1 else slice(ca, ca + n)
            take_up = up < diag
            m = np.where(take_up, up, diag)
            take_left = lft < m
            m = np.where(take_left, lft, m)
            Pf[sl] = cost[csl] + m
            if want_dirs:
                Dr[csl] = take_up.astype(np.uint8) + 2 * take_left.astype(np.uint8)
        left = P[1:, w].copy()
        if want_full:
            full[:, c0:c1] = P[1:, 1:]
        if want_dirs:
            dirs[_dir_index(np.arange(M)[:, None], np.arange(c0, c1)[None, :], M, N,
                            block_cols)] = Dr.reshape(M, w)
        last[c0:c1] = P[M, 1:]


def _dir_index(i, j, M, N, W):
    """Position of cell (i, j)'s direction byte: column block b (columns
    c0 = b * W ..) is an (M, w) matrix at c0 * M (the compiled engines'
    layout).  Works elementwise on arrays."""
    c0 = (j // W) * W
    w = np.minimum(W, N - c0)
    return c0 * M + i * w + (j - c0)


def trace_paths(dirs, M, block_cols, ends, lengths, n_threads):
    """Vectorised over paths: all paths step back together."""
    if ends.shape[0] == 0:
        return
    N = dirs.shape[0] // M
    i = np.full(ends.shape[0], M - 1, dtype=np.int64)
    j = ends.astype(np.int64).copy()
    n = np.ones(ends.shape[0], dtype=np.int64)
    active = i > 0
    while active.any():
        _step(dirs, M, N, block_cols, i, j, active)
        n[active] += 1
        active = i > 0
    lengths[:] = n


def _step(dirs, M, N, W, i, j, active):
    ia, ja = i[active], j[active]
    col0 = ja == 0
    dr = np.ones(ia.shape[0], dtype=np.uint8)  # up at column 0
    dr[~col0] = dirs[_dir_index(ia[~col0], ja[~col0], M, N, W)]
    i[active] = ia - (dr < 2)  # 0 diagonal, 1 up, 2 or 3 left
    j[active] = ja - (dr != 1)


def fill_paths(dirs, M, block_cols, ends, offsets, out, n_threads):
    K = ends.shape[0]
    if K == 0:
        return
    N = dirs.shape[0] // M
    i = np.full(K, M - 1, dtype=np.int64)
    j = ends.astype(np.int64).copy()
    pos = offsets[1:] - 1  # write backwards from each path's last slot
    active = np.ones(K, dtype=bool)
    while True:
        out[pos[active], 0] = i[active]
        out[pos[active], 1] = j[active]
        pos[active] -= 1
        active = i > 0
        if not active.any():
            break
        _step(dirs, M, N, block_cols, i, j, active)


def select_by_distance(peaks, order, distance, keep):
    """Peaks whose neighbours on both sides are ``distance`` or more away
    can neither remove nor be removed; the priority loop runs over the
    others only (in the same global priority order)."""
    from .dtw_python import select_by_distance as _loop

    K = peaks.shape[0]
    if K < 2:
        return
    gap = np.diff(peaks)
    close = np.zeros(K, dtype=bool)
    close[:-1] |= gap < distance
    close[1:] |= gap < distance
    idx = np.flatnonzero(close)
    if idx.shape[0] == 0:
        return
    # renumber: positions among the close peaks, order restricted to them
    rank = np.full(K, -1, dtype=np.int64)
    rank[idx] = np.arange(idx.shape[0])
    sub_order = rank[order]
    sub_order = sub_order[sub_order >= 0]
    sub_keep = keep[idx].copy()
    _loop(peaks[idx], sub_order, distance, sub_keep)
    keep[idx] = sub_keep
