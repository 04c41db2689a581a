"""The pure-Python engine of the subsequence-DTW kernel.

The plain, GIL-holding double loop over (template sample, signal sample) on
Python floats, as the textbook writes the recurrence.  It is what a process
pool runs as the pure-Python fallback and what the benchmark compares
against.  Same prepared inputs and outputs as the other engines.
"""

import math

import numpy as np


def accumulate(t, sT, full, last, dirs, block_cols, row_blocks, n_threads):
    M, N = t.shape[0], sT.shape[1]
    if M == 0 or N == 0:
        return
    want_full = full.shape[0] > 0
    want_dirs = dirs.shape[0] > 0
    tl = t.tolist()
    cols = sT.T.tolist()  # one list of d floats per signal sample
    prev = [0.0] * (N + 1)  # D[i-1, j-1] at index j; the virtual row first
    for i in range(M):
        ti = tl[i]
        cur = [math.inf] * (N + 1)  # index 0: the virtual column
        drow = [0] * N
        for j in range(N):
            sj = cols[j]
            dist = 0.0
            for a, b in zip(ti, sj):
                diff = a - b
                dist += diff * diff
            diag, up, lft = prev[j], prev[j + 1], cur[j]
            take_up = up < diag
            m = up if take_up else diag
            take_left = lft < m
            if take_left:
                m = lft
            cur[j + 1] = dist + m
            drow[j] = int(take_up) + 2 * int(take_left)  # 0 diag, 1 up, 2 or 3 left
        if want_full:
            full[i, :] = cur[1:]
        if want_dirs:
            for j in range(N):
                dirs[_dir_index(i, j, M, N, block_cols)] = drow[j]
        prev = cur
    last[:] = prev[1:]


def _dir_index(i, j, M, N, W):
    """Position of cell (i, j)'s direction byte (the engines' block-major
    layout: column block c0 = (j // W) * W is an (M, w) matrix at c0 * M)."""
    c0 = (j // W) * W
    w = min(W, N - c0)
    return c0 * M + i * w + (j - c0)


def _walk(dirs, M, W, end):
    N = dirs.shape[0] // M
    i, j = M - 1, int(end)
    cells = [(i, j)]
    while i != 0:
        if j == 0:
            i -= 1
        else:
            dr = dirs[_dir_index(i, j, M, N, W)]
            if dr >= 2:
                j -= 1
            elif dr == 1:
                i -= 1
            else:
                i, j = i - 1, j - 1
        cells.append((i, j))
    return cells[::-1]


def trace_paths(dirs, M, block_cols, ends, lengths, n_threads):
    for p, e in enumerate(ends.tolist()):
        lengths[p] = len(_walk(dirs, M, block_cols, e))


def fill_paths(dirs, M, block_cols, ends, offsets, out, n_threads):
    for p, e in enumerate(ends.tolist()):
        out[offsets[p] : offsets[p + 1]] = np.asarray(_walk(dirs, M, block_cols, e),
                                                      dtype=np.int64)


def select_by_distance(peaks, order, distance, keep):
    """Visit peaks by decreasing priority; a kept peak removes every
    neighbour closer than ``distance`` samples (``find_peaks``' rule)."""
    pos = peaks.tolist()
    flags = keep.tolist()
    K = len(pos)
    for j in order[::-1].tolist():
        if not flags[j]:
            continue
        k = j - 1
        while k >= 0 and pos[j] - pos[k] < distance:
            flags[k] = 0
            k -= 1
        k = j + 1
        while k < K and pos[k] - pos[j] < distance:
            flags[k] = 0
            k += 1
    keep[:] = flags
