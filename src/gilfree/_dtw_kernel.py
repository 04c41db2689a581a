"""The subsequence DTW kernel: the accumulated cost, backtracking and the
cost-function primitives of stride segmentation (engine calls for
:mod:`gilfree.dtw`)."""

import math
import threading

import numpy as np

from . import _config
from ._validation import as_float_array, check_out

_NO_FULL = np.empty((0, 0), dtype=np.float64)
_NO_DIRS = np.empty(0, dtype=np.uint8)


def _layout(M, N, n_threads):
    """(block_cols, row_blocks) of the wavefront for an (M, N) matrix."""
    R = max(1, min(int(n_threads), M // max(1, _config.DTW_MIN_ROWS_PER_BLOCK)))
    W = int(_config.DTW_BLOCK_COLS)
    if R > 1:
        want = math.ceil(N / (_config.DTW_MIN_BLOCKS_PER_ROW_BLOCK * R))
        W = min(W, max(int(_config.DTW_MIN_BLOCK_COLS), want))
    return max(1, W), R


def _accumulate(t, sT, *, want_full, want_dirs, engine, n_threads, full_out=None):
    """Run the kernel on a prepared template (M, d) and transposed signal
    (d, N).  Returns (last row (N,), dirs or None, full (M, N) or None,
    block_cols).  ``dirs`` holds one byte per cell naming the predecessor of
    the minimum (0 diagonal, 1 up, 2 or 3 left), block-major: column block
    c0 = b * block_cols is an (M, w) matrix at offset c0 * M."""
    _, mod, nt = _config.select("dtw", engine, n_threads)
    M, N = t.shape[0], sT.shape[1]
    full = _NO_FULL
    if want_full:
        full = full_out if full_out is not None else np.empty((M, N), dtype=np.float64)
    dirs = np.empty(M * N, dtype=np.uint8) if want_dirs else _NO_DIRS
    last = np.empty(N, dtype=np.float64)
    W, R = _layout(M, N, nt)
    mod.accumulate(t, sT, full, last, dirs, W, R, nt)
    return last, (dirs if want_dirs else None), (full if want_full else None), W


def _as_series(x, name):
    """(length, d) float64 from (length,) or (length, d)."""
    arr = as_float_array(x, name)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    elif arr.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D (length,) or 2-D (length, channels); got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one sample; got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one channel; got shape {arr.shape}")
    return arr


def _check_lengths(M, N):
    if M > N:
        raise ValueError(
            f"the template ({M} samples) is longer than the signal ({N} samples): "
            "subsequence DTW needs a signal at least as long as the template "
            "(use a longer recording or a shorter template)"
        )


def subsequence_cost_matrix(template, signal, *, out=None, engine="auto", n_threads=None):
    """Accumulated cost matrix of subsequence DTW (free start and end).

    ``D[i, j] = c(i, j) + min(D[i-1, j], D[i, j-1], D[i-1, j-1])`` with the
    squared Euclidean local cost ``c(i, j) = sum_k (template[i, k] -
    signal[j, k])**2``, a virtual row of zeros before template sample 0
    (the match may start anywhere) and a virtual column of +inf before
    signal sample 0.  ``D[M-1, j]`` is the cost of the best match of the
    whole template ending at signal sample ``j``.  Equals tslearn's
    ``subsequence_cost_matrix``.

    Parameters
    ----------
    template : array_like, shape (M,) or (M, d)
        The short sequence (any real dtype, converted once to float64).
    signal : array_like, shape (N,) or (N, d)
        The long sequence; same d as the template, N >= M.  Both must be
        finite.
    out : ndarray of float64, shape (M, N), optional
        Write ``D`` into this C-contiguous, writeable array (not overlapping
        the inputs) and return it.  Reusing one buffer across calls saves
        allocating and first touching M x N fresh pages on every call,
        which is a large part of the call for a long signal.
    engine : {"auto", "cython", "numba", "numpy", "python"}
        ``auto`` is ``cython``, else ``numba``, else ``numpy``.
    n_threads : int, optional
        Threads of the compiled engines (None: all usable cores).  The
        signal is cut into column blocks computed as a wavefront; the result
        does not depend on the thread count, bit for bit.

    Returns
    -------
    D : ndarray of float64, shape (M, N)
        ``out`` when given.
    """
    t = _as_series(template, "template")
    s = _as_series(signal, "signal")
    if t.shape[1] != s.shape[1]:
        raise ValueError(
            f"template and signal must have the same number of channels; got template "
            f"shape {t.shape} and signal shape {s.shape}"
        )
    _check_lengths(t.shape[0], s.shape[0])
    if out is not None:
        check_out(out, (t.shape[0], s.shape[0]), np.float64)
        if np.may_share_memory(out, t) or np.may_share_memory(out, s):
            raise ValueError("out must not overlap template or signal: the kernel reads "
                             "them while it writes out (pass a separate buffer)")
    sT = np.ascontiguousarray(s.T)
    _, _, full, _ = _accumulate(t, sT, want_full=True, want_dirs=False, engine=engine,
                                n_threads=n_threads, full_out=out)
    return full


def _trace_paths(dirs, M, block_cols, ends, engine, n_threads):
    """Paths ending at ``ends``: a flat int64 (total, 2) array of
    (template, signal) index pairs, each path from row 0 to row M-1, and
    the (K + 1,) offsets of the paths in it."""
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    K = ends.shape[0]
    offsets = np.zeros(K + 1, dtype=np.int64)
    if K == 0:
        return np.empty((0, 2), dtype=np.int64), offsets
    _, mod, nt = _config.select("dtw", engine, n_threads)
    if K < _config.DTW_PARALLEL_PATHS_MIN:
        nt = 1
    lengths = np.empty(K, dtype=np.int64)
    mod.trace_paths(dirs, M, block_cols, ends, lengths, nt)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.empty((int(offsets[-1]), 2), dtype=np.int64)
    mod.fill_paths(dirs, M, block_cols, ends, offsets, flat, nt)
    return flat, offsets


# -- Post-processing (gaitmap BarthDtw semantics) ----------------------------


def _local_minima(cost):
    """Indices of strict local minima of ``cost``, the middle (rounded down)
    of a flat minimum; the first and last samples never qualify.  Equals
    ``scipy.signal.find_peaks(-cost)[0]``."""
    n = cost.shape[0]
    if n < 3:
        return np.empty(0, dtype=np.int64)
    change = np.flatnonzero(cost[1:] != cost[:-1]) + 1
    starts = np.concatenate(([0], change))
    stops = np.concatenate((change, [n])) - 1
    v = cost[starts]
    is_min = (v[1:-1] < v[:-2]) & (v[1:-1] < v[2:])
    idx = np.flatnonzero(is_min) + 1
    return ((starts[idx] + stops[idx]) // 2).astype(np.int64)


def _match_ends(cost_function, minima, max_cost, min_distance, engine):
    """``find_peaks(-cost, height=-max_cost, distance=min_distance)[0]``
    given the cost function's local minima."""
    peaks = minima
    if max_cost is not None:
        peaks = peaks[cost_function[peaks] <= max_cost]
    if min_distance is not None and peaks.shape[0] > 1:
        # same priorities and the same sort call as scipy: equal ties
        order = np.argsort(-cost_function[peaks]).astype(np.int64)
        keep = np.ones(peaks.shape[0], dtype=np.uint8)
        _, mod, _ = _config.select("dtw", engine, 1)
        mod.select_by_distance(peaks, order, math.ceil(min_distance), keep)
        peaks = peaks[keep.view(bool)]
    return peaks


def _snap_to_min(x, matches, win_samples):
    """Move every start and (exclusive) end to the first minimum of ``x``
    within ``win_samples // 2`` samples either side (gaitmap's snap_to_min)."""
    half = win_samples // 2
    if half == 0:
        return matches
    n = x.shape[0]
    flat = matches.reshape(-1).copy()
    edge = flat == n  # an exclusive end after the last sample
    flat[edge] -= 1
    padded = np.concatenate((np.full(half, np.inf), x, np.full(half, np.inf)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    snapped = np.argmin(windows[flat], axis=1).astype(np.int64) + flat - half
    snapped[edge & (snapped == n - 1)] += 1
    return snapped.reshape(matches.shape)


# -- One distinct cost matrix ------------------------------------------------


class _CostData:
    """One distinct cost matrix: inputs, cost function, its local minima and
    the backtracking directions; paths and the full matrix on demand
    (thread-safe, each computed once)."""

    def __init__(self, t, sT, engine, n_threads):
        self.t, self.sT = t, sT
        self.engine, self.n_threads = engine, n_threads
        self.last = self.dirs = self.cost_function = self.minima = None
        self._full = None
        self._paths = {}
        self._lock = threading.Lock()

    def compute(self, n_threads):
        last, dirs, _, W = _accumulate(self.t, self.sT, want_full=False, want_dirs=True,
                                       engine=self.engine, n_threads=n_threads)
        self.last, self.dirs, self.block_cols = last, dirs, W
        cf = np.sqrt(last)
        cf.flags.writeable = False
        self.cost_function = cf
        self.minima = _local_minima(cf)
        return self

    def paths(self, ends, n_threads):
        """Warping paths ending at ``ends`` (list of read-only int64 (L, 2))."""
        with self._lock:
            todo = [e for e in dict.fromkeys(ends.tolist()) if e not in self._paths]
            if todo:
                flat, offsets = _trace_paths(self.dirs, self.t.shape[0], self.block_cols,
                                             np.asarray(todo, dtype=np.int64), self.engine,
                                             n_threads)
                flat.flags.writeable = False
                bounds = offsets.tolist()
                for e, a, b in zip(todo, bounds[:-1], bounds[1:]):
                    self._paths[e] = flat[a:b]
            return [self._paths[e] for e in ends.tolist()]

    def __getstate__(self):  # picklable (a segmented BarthDtw travels back from a worker)
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def release(self):
        """Drop the direction bytes (M * N) once every path is traced."""
        with self._lock:
            self.dirs = None

    def full(self):
        with self._lock:
            if self._full is None:
                _, _, full, _ = _accumulate(self.t, self.sT, want_full=True, want_dirs=False,
                                            engine=self.engine, n_threads=self.n_threads)
                full.flags.writeable = False
                self._full = full
            return self._full
