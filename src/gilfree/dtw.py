"""Subsequence DTW and stride segmentation.

- :func:`subsequence_cost_matrix`: the accumulated cost matrix of a
  subsequence DTW (free start, free end), GIL-free, parallel over signal
  blocks with a deterministic wavefront.
- :class:`DtwTemplate` and :class:`BarthDtw`: the stride-segmentation
  pipeline of gaitmap's ``BarthDtw`` (template resampled to the data rate,
  data and template transformed by the template's scale, cost function
  ``sqrt(D[M-1, :])``, match ends by ``find_peaks`` or ``min_under_thres``,
  backtracking, snap-to-minimum, length limits, conflict resolution), with
  gaitmap's parameters, template objects, multi-sensor data and
  ``stride_list_`` (see ``gilfree._gaitmap``).  Same matches and costs as
  gaitmap.
- :func:`sweep`: a parameter grid over ``BarthDtw`` in which each distinct
  cost matrix (template columns, scale, resampled template) is computed
  once, and shared by every grid point that differs only in post-processing
  (``max_cost``, match lengths, snapping, conflict resolution).

Memory: segmentation never stores the (M, N) float64 accumulated cost
matrix.  It keeps the last row (the cost function) and one byte per cell
saying which predecessor gave the minimum, which is all that backtracking
needs (stored in column blocks, so that the kernel writes sequentially and
a path reads one or two small blocks) (a 2-hour recording at 204.8 Hz with a 200-sample template: 300 MB
instead of 2.4 GB; the direction bytes are dropped once the paths are
traced).  ``acc_cost_mat_`` is computed on first access (and then kept);
accessing it for a long recording costs its full size.

pandas is needed only when DataFrames are passed; arrays with ``columns=``
work without it.
"""

import collections
import concurrent.futures
import inspect
import itertools
import math
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from . import _config, _gaitmap
from ._validation import as_float_array, check_number, check_out, describe

__all__ = ["BarthDtw", "DtwTemplate", "subsequence_cost_matrix", "sweep"]

_config.register_kernel(
    "dtw",
    auto=("cython", "numba", "numpy"),
    engines={
        "numba": "gilfree._numba.dtw",
        "cython": "gilfree._cy.dtw",
        "numpy": "gilfree._reference.dtw",
        "python": "gilfree._reference.dtw_python",
    },
)

_NO_FULL = np.empty((0, 0), dtype=np.float64)
_NO_DIRS = np.empty(0, dtype=np.uint8)


# --------------------------------------------------------------------------
# The kernel
# --------------------------------------------------------------------------


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
    if not want_full:
        full = _NO_FULL
    elif full_out is not None:
        full = full_out
    else:
        full = np.empty((M, N), dtype=np.float64)
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


# --------------------------------------------------------------------------
# Post-processing (gaitmap BarthDtw semantics)
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Parameters (sklearn-style get_params / set_params)
# --------------------------------------------------------------------------


def _has_params(obj):
    """True for objects with their own parameters (gilfree's, or a gaitmap
    template's get_params/set_params)."""
    return isinstance(obj, _Params) or (
        callable(getattr(obj, "get_params", None)) and callable(getattr(obj, "set_params", None))
        and not isinstance(obj, type))


class _Params:
    """get_params/set_params over the ``__init__`` arguments, nested with
    ``<param>__<sub>`` for parameters that have parameters themselves."""

    @classmethod
    def _param_names(cls):
        names = cls.__dict__.get("_PARAM_NAMES")
        if names is None:
            sig = inspect.signature(cls.__init__)
            names = tuple(p for p in sig.parameters if p != "self")
            cls._PARAM_NAMES = names
        return names

    def get_params(self, deep=True):
        """Parameters of this object (and of nested ones, as ``a__b``)."""
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and _has_params(value):
                for sub, v in value.get_params(deep=True).items():
                    out[f"{name}__{sub}"] = v
            out[name] = value
        return out

    def _unknown(self, key, valid):
        raise ValueError(
            f"unknown parameter {key!r} for {type(self).__name__}; valid parameters: "
            f"{', '.join(sorted(valid))}"
        )

    def set_params(self, **params):
        """Set parameters (``template__use_cols=...`` sets the template's).
        Unknown names raise ValueError listing the valid ones."""
        own = self._param_names()
        valid = self.get_params(deep=True)
        for key in params:
            head, sep, _ = key.partition("__")
            replaced = _has_params(params.get(head))  # nested keys checked below
            if head not in own or (sep and key not in valid and not replaced):
                self._unknown(key, valid)
        nested = {}
        for key, value in params.items():
            head, sep, sub = key.partition("__")
            if sep:
                nested.setdefault(head, {})[sub] = value
            else:
                setattr(self, head, value)
        for head, subs in nested.items():
            obj = getattr(self, head)
            if not _has_params(obj):
                raise ValueError(
                    f"cannot set {', '.join(f'{head}__{k}' for k in subs)}: {type(self).__name__}"
                    f".{head} is {describe(obj)}, which has no parameters"
                )
            obj.set_params(**subs)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items()
                         if not isinstance(v, np.ndarray) and not _is_frame(v))
        return f"{type(self).__name__}({args})"


def _clone(obj):
    """A new object with the same (recursively cloned) parameters."""
    if _has_params(obj):
        return type(obj)(**{k: _clone(v) for k, v in obj.get_params(deep=False).items()})
    if isinstance(obj, dict):  # per-sensor templates
        return {k: _clone(v) for k, v in obj.items()}
    return obj


# --------------------------------------------------------------------------
# Tables: DataFrames or arrays with column names
# --------------------------------------------------------------------------


def _is_frame(x):
    return hasattr(x, "columns") and hasattr(x, "iloc") and hasattr(x, "to_numpy")


class _Table:
    """Named 1-D float64 columns of a DataFrame or a 2-D array + names."""

    def __init__(self, data, columns, name):
        self.name = name
        if _is_frame(data):
            if columns is not None:
                raise TypeError(
                    f"columns= is only for arrays; {name} is a DataFrame with its own columns"
                )
            if getattr(data.columns, "nlevels", 1) > 1:
                raise TypeError(
                    f"{name} has multi-level columns (a multi-sensor dataset); pass one "
                    f"sensor's DataFrame, e.g. data[sensor_name]"
                )
            self._frame = data
            self.columns = list(data.columns)
            if len(set(map(repr, self.columns))) != len(self.columns):
                raise ValueError(f"{name} has duplicate column names: {self.columns}")
            self.length = len(data)
            self._array = None
        else:
            arr = np.asarray(data)
            if arr.dtype == object:
                raise TypeError(f"{name} must be a DataFrame or a numeric array; got an object array")
            if arr.ndim == 1:
                arr = arr.reshape(-1, 1)
            if arr.ndim != 2:
                raise ValueError(
                    f"{name} must be a DataFrame or a 2-D array (samples, columns); got shape "
                    f"{arr.shape}"
                )
            if columns is None:
                names = list(range(arr.shape[1]))
            else:
                if isinstance(columns, str) or not isinstance(columns, Sequence):
                    raise TypeError(
                        f"columns must be a sequence of column names; got {describe(columns)}"
                    )
                names = list(columns)
                if len(names) != arr.shape[1]:
                    raise ValueError(
                        f"columns names {len(names)} columns but {name} has {arr.shape[1]} "
                        f"(shape {arr.shape})"
                    )
                if len(set(names)) != len(names):
                    raise ValueError(f"columns has duplicate names: {names}")
            self._frame = None
            self._array = arr
            self.columns = names
            self.length = arr.shape[0]
        self._cache = {}

    def missing(self, names):
        have = set(self.columns)
        return [c for c in names if c not in have]

    def require(self, names, what):
        miss = self.missing(names)
        if miss:
            raise ValueError(
                f"{self.name} is missing the column(s) {miss} needed for {what}; "
                f"{self.name} has columns {self.columns}"
            )

    def column(self, col):
        """float64 (length,) finite column (checked once)."""
        key = repr(col)
        out = self._cache.get(key)
        if out is None:
            self.require([col], "this step")
            if self._frame is not None:
                raw = self._frame[col].to_numpy()
            else:
                raw = self._array[:, self.columns.index(col)]
            out = as_float_array(raw, f"{self.name} column {col!r}")
            self._cache[key] = out
        return out


# --------------------------------------------------------------------------
# Template
# --------------------------------------------------------------------------


class DtwTemplate(_Params):
    """A stride template: its samples, sampling rate, scale and columns.

    Units: ``data`` is the template in the *recording's* units (e.g. deg/s
    for gyroscope columns), not yet scaled.  Before matching, template and
    recording are both transformed by ``(x - offset) / scale`` (gaitmap's
    ``FixedScaler``).  A template that is already transformed -- what
    gaitmap's ``template.get_data()`` returns, e.g.
    ``BarthOriginalTemplate().get_data()``, whose values are about +-1 --
    needs ``prescaled=True`` (or, simpler, :meth:`from_gaitmap` on the
    gaitmap object): dividing it by ``scale`` a second time leaves a
    template 500 times too small, which matches nothing.

    Parameters
    ----------
    data : DataFrame or array_like, shape (M, k) or (M,)
        The template, one column per sensor axis, in the recording's units
        (see above).  A DataFrame names its columns; an array takes
        ``columns=`` (else its columns are ``0..k-1``, matched by position).
    sampling_rate_hz : float or None
        The template's sampling rate; needed to resample it to the data's
        rate (``BarthDtw(resample_template=True)``).
    scale : float
        Template and data are divided by it before matching (gaitmap's
        ``FixedScaler(scale)``), e.g. 500 for gyroscope data in deg/s.
    use_cols : sequence of column names, optional
        The template columns to match on (in this order); all by default.
    columns : sequence of column names, optional
        Names of an array template's columns.
    offset : float
        Subtracted before dividing by ``scale`` (``FixedScaler(offset=)``).
    prescaled : bool
        ``data`` is already ``(x - offset) / scale``: only the recording is
        transformed.
    """

    def __init__(self, data, sampling_rate_hz, scale=1.0, use_cols=None, *, columns=None,
                 offset=0.0, prescaled=False):
        self.data = data
        self.sampling_rate_hz = sampling_rate_hz
        self.scale = scale
        self.use_cols = use_cols
        self.columns = columns
        self.offset = offset
        self.prescaled = prescaled

    @classmethod
    def from_gaitmap(cls, template):
        """The DtwTemplate equivalent to a gaitmap template object.

        Parameters
        ----------
        template : gaitmap template
            Anything with gaitmap's ``get_data()``, ``scaling`` and
            ``use_cols`` (``DtwTemplate``, ``BarthOriginalTemplate``,
            ``InterpolatedDtwTemplate``).  Its scaling must be a
            ``FixedScaler`` (or None / ``IdentityTransformer``).

        Returns
        -------
        DtwTemplate
            Holding ``template.get_data()`` (already scaled, so
            ``prescaled=True``) with gaitmap's scale, offset, ``use_cols``
            and ``sampling_rate_hz``: ``BarthDtw`` then finds exactly
            gaitmap's strides.
        """
        return cls(**_gaitmap.template_kwargs(template))

    def _names_and_array(self):
        """(column names, float64 (M, k) transformed template, (scale, offset))."""
        table = _Table(self.data, self.columns, "template data")
        if self.use_cols is None:
            names = list(table.columns)
        else:
            if isinstance(self.use_cols, (str, bytes)) or not isinstance(self.use_cols, Sequence):
                raise TypeError(
                    "template use_cols must be a sequence of column names (e.g. ('gyr_ml',)); "
                    f"got {describe(self.use_cols)}"
                )
            names = list(self.use_cols)
            if not names:
                raise ValueError("template use_cols must name at least one column; got none")
            table.require(names, "the template's use_cols")
        if table.length == 0:
            raise ValueError("the template has no samples")
        scale = check_number(self.scale, "template scale")
        offset = check_number(self.offset, "template offset", positive=False)
        if not isinstance(self.prescaled, (bool, np.bool_)):
            raise TypeError(f"template prescaled must be True or False; got {describe(self.prescaled)}")
        arr = np.empty((table.length, len(names)), dtype=np.float64)
        for k, c in enumerate(names):
            if self.prescaled:
                arr[:, k] = table.column(c)
            else:
                arr[:, k] = _transform(table.column(c), scale, offset)
        return tuple(names), arr, (scale, offset)


def _transform(x, scale, offset):
    """``(x - offset) / scale`` (gaitmap's FixedScaler, the same rounding)."""
    if offset:
        x = x - offset
    return x / scale


def _resample_linear(x, num):
    """Linear resampling of the rows of ``x`` (L, k) to ``num`` rows, with
    the arithmetic of gaitmap's template resampling (``scipy.interpolate.
    interp1d`` from ``linspace(0, L, L)`` to ``linspace(0, L, num)``), so
    that a resampled template is gaitmap's bit for bit."""
    L = x.shape[0]
    if L == 1:
        return np.repeat(x, num, axis=0)
    xs = np.linspace(0, L, L)
    xn = np.linspace(0, L, num)
    hi = np.searchsorted(xs, xn).clip(1, L - 1)
    lo = hi - 1
    slope = (x[hi] - x[lo]) / (xs[hi] - xs[lo])[:, None]
    return slope * (xn - xs[lo])[:, None] + x[lo]


# --------------------------------------------------------------------------
# BarthDtw
# --------------------------------------------------------------------------


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


class BarthDtw(_gaitmap.GaitmapResults, _Params):
    """Stride segmentation with subsequence DTW (gaitmap's ``BarthDtw``).

    Same parameters (names, order and defaults), attributes and results as
    gaitmap's ``BarthDtw``.  Pipeline: the template is resampled linearly
    to the data's rate (if ``resample_template`` and the rates differ),
    template and data columns are transformed by the template's scale, the
    accumulated cost ``D`` is computed, the cost function is
    ``sqrt(D[M-1, :])``, match ends are found in it (``find_matches_method``),
    each is backtracked to its start (ties prefer the diagonal, then up,
    then left), matches are ``(start, end + 1)``; then starts and ends are
    snapped to the minimum of ``snap_to_min_axis`` within
    ``snap_to_min_win_ms``, matches with length <= min or >= max length are
    dropped, and of matches with the same start only the lowest-cost one is
    kept.

    Parameters
    ----------
    template : DtwTemplate, gaitmap template, dict of them, or None
        A :class:`DtwTemplate`; or a gaitmap template object (anything with
        gaitmap's ``get_data()``, ``scaling`` and ``use_cols``; converted by
        :meth:`DtwTemplate.from_gaitmap`, same results as gaitmap); or a dict
        ``{sensor: template}`` for multi-sensor data.  None (the default):
        gaitmap's ``BarthOriginalTemplate()`` -- its data belongs to gaitmap
        (AGPL-3.0) and is loaded from an installed gaitmap, not shipped.
    resample_template : bool
        Resample the template to the data's sampling rate.
    find_matches_method : {"find_peaks", "min_under_thres"}
        How match ends are found in the cost function (gaitmap's):
        ``"find_peaks"``: its local minima with cost <= ``max_cost``, at
        least ``min_match_length_s`` apart (``scipy.signal.find_peaks``
        rules); ``"min_under_thres"``: the minimum of every run of samples
        with cost <= ``max_cost``.
    max_cost : float or None
        Highest cost of a match end (None: no limit; ``"min_under_thres"``
        needs a value).
    min_match_length_s, max_match_length_s : float or None
        Match length limits in seconds (None: no limit); with
        ``"find_peaks"`` the minimum is also the least distance between
        match ends.
    max_template_stretch_ms, max_signal_stretch_ms : None
        gaitmap's local warping constraints: not implemented (anything but
        None, gaitmap's default, raises ``NotImplementedError``).
    snap_to_min_win_ms : float or None
        Window of the snap-to-minimum step (None or 0: no snapping).
    snap_to_min_axis : str
        Data column whose minima the borders snap to (need not be a
        template column).
    conflict_resolution : bool
        Keep only the lowest-cost match of matches with equal starts.
    memory : joblib.Memory or None
        Accepted for gaitmap compatibility and not used (gilfree caches
        nothing; results are the same).

    Attributes
    ----------
    matches_start_end_ : ndarray of int64, shape (n_matches, 2)
        Start and exclusive end of every match (shape (0, 2) when there are
        none; gaitmap returns an empty 1-D array then).
    stride_list_ : pandas.DataFrame
        ``matches_start_end_`` as gaitmap's stride list: columns ``start``,
        ``end`` (int64), index ``s_id`` (0, 1, ...).
    matches_start_end_original_ : ndarray of int64, shape (n_matches, 2)
        Start and end of each match's warping path (before snapping).
    costs_ : ndarray of float64, shape (n_matches,)
        ``cost_function_`` at each match's original (unsnapped) end.
    cost_function_ : ndarray of float64, shape (N,), read-only
    paths_ : list of ndarray of int64, shape (L, 2)
        (template index, data index) pairs of each match's warping path.
    acc_cost_mat_ : ndarray of float64, shape (M, N), read-only
        Computed on first access (M * N * 8 bytes).

    For multi-sensor data (a dict of DataFrames, or a DataFrame with the
    sensor as first column level) every attribute is a dict
    ``{sensor: value}``, as in gaitmap.
    """

    def __init__(self, template=None, resample_template=True, find_matches_method="find_peaks",
                 max_cost=4.0, min_match_length_s=0.6, max_match_length_s=3.0,
                 max_template_stretch_ms=None, max_signal_stretch_ms=None, snap_to_min_win_ms=300,
                 snap_to_min_axis="gyr_ml", conflict_resolution=True, memory=None):
        self.template = template
        self.resample_template = resample_template
        self.find_matches_method = find_matches_method
        self.max_cost = max_cost
        self.min_match_length_s = min_match_length_s
        self.max_match_length_s = max_match_length_s
        self.max_template_stretch_ms = max_template_stretch_ms
        self.max_signal_stretch_ms = max_signal_stretch_ms
        self.snap_to_min_win_ms = snap_to_min_win_ms
        self.snap_to_min_axis = snap_to_min_axis
        self.conflict_resolution = conflict_resolution
        self.memory = memory

    # -- validation -------------------------------------------------------

    def _checked(self, fs, template=None):
        """Validated settings for data at ``fs`` Hz, including the resolved
        template (``self.template`` unless one is given)."""
        method = _gaitmap.check_gaitmap_keywords(self)
        tpl = _resolve_template(self.template if template is None else template)
        max_cost = check_number(self.max_cost, "max_cost", allow_none=True, allow_inf=True)
        if method == "min_under_thres" and max_cost is None:
            raise ValueError(
                "find_matches_method='min_under_thres' needs max_cost (the threshold whose runs "
                "below it hold one match each); got None"
            )
        lo = check_number(self.min_match_length_s, "min_match_length_s", allow_none=True)
        hi = check_number(self.max_match_length_s, "max_match_length_s", allow_none=True,
                          allow_inf=True)
        if lo is not None and hi is not None and lo >= hi:
            raise ValueError(
                f"min_match_length_s ({self.min_match_length_s}) must be < max_match_length_s "
                f"({self.max_match_length_s})"
            )
        min_len = None if lo is None else self.min_match_length_s * fs
        max_len = None if hi is None else self.max_match_length_s * fs
        if method == "find_peaks" and min_len is not None and min_len < 1:
            raise ValueError(
                f"min_match_length_s={self.min_match_length_s} is less than one sample at "
                f"{fs} Hz; use None for no minimum or a length of at least {1 / fs:g} s"
            )
        win = check_number(self.snap_to_min_win_ms, "snap_to_min_win_ms", allow_none=True,
                           allow_zero=True)
        snap = int(self.snap_to_min_win_ms / 1000 * fs) if win else None
        for name in ("conflict_resolution", "resample_template"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False; got {describe(getattr(self, name))}")
        return dict(max_cost=max_cost, min_len=min_len, max_len=max_len, snap=snap,
                    conflict_resolution=bool(self.conflict_resolution), method=method,
                    template=tpl)

    def _require_snap_axis(self, table):
        if self.snap_to_min_win_ms:
            table.require([self.snap_to_min_axis],
                          "snap_to_min_axis (set snap_to_min_win_ms=None to skip snapping)")

    def _matching_inputs(self, table, fs, template):
        """(key, template (M, k), column names, (scale, offset)) for ``table``
        at ``fs`` with the resolved ``template``."""
        names, t, transform = template._names_and_array()
        tfs = template.sampling_rate_hz
        if tfs is not None:
            tfs = check_number(tfs, "template sampling_rate_hz")
        if self.resample_template:
            if tfs is None:
                raise ValueError(
                    "resample_template=True needs the template's sampling_rate_hz; set it or "
                    "pass resample_template=False"
                )
            if fs != tfs:
                num = int(t.shape[0] * fs / tfs)
                if num < 1:
                    raise ValueError(
                        f"resampling the {t.shape[0]}-sample template from {tfs} Hz to {fs} Hz "
                        "leaves no sample"
                    )
                t = _resample_linear(t, num)
        table.require(list(names), "the template")
        _check_lengths(t.shape[0], table.length)
        t = np.ascontiguousarray(t)
        key = (tuple(map(repr, names)), transform, t.shape, t.tobytes())
        return key, t, names, transform

    # -- running ----------------------------------------------------------

    def _segment_one(self, data, fs, columns, template, engine, n_threads):
        """(post-processed result, cost data) of one single-sensor table."""
        table = _Table(data, columns, "data")
        settings = self._checked(fs, template)
        self._require_snap_axis(table)
        _, t, names, transform = self._matching_inputs(table, fs, settings["template"])
        sT = _signal_matrix(table, names, transform)
        cd = _CostData(t, sT, engine, n_threads).compute(n_threads)
        res = _postprocess(cd, settings, table, self.snap_to_min_axis, n_threads)
        cd.release()
        return res, cd

    def segment(self, data, sampling_rate_hz, *, columns=None, engine="auto", n_threads=None):
        """Find the strides in ``data``.

        Parameters
        ----------
        data : DataFrame, array_like (N, n_columns), or multi-sensor data
            The recording; must contain the template's columns (and
            ``snap_to_min_axis`` when snapping).  Used columns must be
            finite.  Multi-sensor data (gaitmap's): a dict ``{sensor:
            DataFrame}`` or a DataFrame whose first column level is the
            sensor; every attribute is then a dict per sensor.
        sampling_rate_hz : float
            The data's sampling rate (> 0).
        columns : sequence of column names, optional
            Names of an array's columns.
        engine : {"auto", "cython", "numba", "numpy", "python"}
        n_threads : int, optional
            Threads of the compiled kernel; never changes the result.

        Returns
        -------
        self
        """
        fs = check_number(sampling_rate_hz, "sampling_rate_hz")
        _config.resolve_engine("dtw", engine)
        if _gaitmap.is_multi_sensor(data):
            if columns is not None:
                raise TypeError("columns= is only for an array; multi-sensor data names its own")
            results = {}
            for sensor, sub, tpl in _gaitmap.sensor_items(data, self.template):
                results[sensor] = self._segment_one(sub, fs, None, tpl, engine, n_threads)
            _apply_result(self, {s: r for s, (r, _) in results.items()},
                          {s: cd for s, (_, cd) in results.items()})
            return self
        res, cd = self._segment_one(data, fs, columns, None, engine, n_threads)
        _apply_result(self, res, cd)
        return self

    @property
    def acc_cost_mat_(self):
        """Accumulated cost matrix (M, N), computed on first access (a dict
        per sensor for multi-sensor data)."""
        cd = self.__dict__.get("_cost_data")
        if cd is None:
            raise AttributeError("acc_cost_mat_ is available after segment()")
        if isinstance(cd, dict):
            return {s: c.full() for s, c in cd.items()}
        return cd.full()


def _resolve_template(template):
    """The DtwTemplate to match with (converting gaitmap's)."""
    if isinstance(template, DtwTemplate):
        return template
    if template is None:
        return DtwTemplate(**_gaitmap.default_template_kwargs())
    if _gaitmap.is_gaitmap_template(template):
        return DtwTemplate.from_gaitmap(template)
    if isinstance(template, dict):
        raise TypeError(
            "a dict of templates ({sensor: template}) needs multi-sensor data: a dict of "
            "DataFrames or a DataFrame with the sensor names as first column level"
        )
    raise TypeError(
        "BarthDtw template must be a DtwTemplate, a gaitmap template object or None "
        f"(gaitmap's BarthOriginalTemplate); got {describe(template)}"
    )


def _signal_matrix(table, names, transform):
    """(k, N) float64: the named data columns transformed by ``(scale,
    offset)`` as the template is."""
    scale, offset = transform
    sT = np.empty((len(names), table.length), dtype=np.float64)
    for k, c in enumerate(names):
        col = table.column(c)
        if offset:
            col = col - offset
        np.divide(col, scale, out=sT[k])
    return sT


def _match_ends_of(cd, settings):
    if settings["method"] == "min_under_thres":
        return _gaitmap.match_ends_min_under_threshold(cd.cost_function, settings["max_cost"])
    return _match_ends(cd.cost_function, cd.minima, settings["max_cost"], settings["min_len"],
                       cd.engine)


def _postprocess(cd, settings, table, snap_axis, n_threads, ends=None):
    """Matches of one parameter setting from a computed cost matrix."""
    if ends is None:
        ends = _match_ends_of(cd, settings)
    if ends.shape[0] == 0:
        return dict(matches=np.empty((0, 2), dtype=np.int64), costs=np.empty(0), paths=[])
    paths = cd.paths(ends, n_threads)
    matches = np.empty((len(paths), 2), dtype=np.int64)
    matches[:, 0] = [p[0, 1] for p in paths]
    matches[:, 1] = ends + 1
    costs = cd.cost_function[ends]
    keep = np.ones(len(paths), dtype=bool)
    if settings["snap"]:
        matches = _snap_to_min(table.column(snap_axis), matches, settings["snap"])
    length = np.abs(matches[:, 1] - matches[:, 0])
    if settings["min_len"] is not None:
        keep &= ~(length <= settings["min_len"])
    if settings["max_len"] is not None:
        keep &= ~(length >= settings["max_len"])
    if settings["conflict_resolution"]:
        _resolve_conflicts(matches, costs, keep)
    idx = np.flatnonzero(keep)
    return dict(matches=matches[idx], costs=costs[idx], paths=[paths[i] for i in idx])


def _resolve_conflicts(matches, costs, keep):
    """Of kept matches with equal starts keep the lowest cost: the first one
    with the group's minimum cost in ``np.argsort(starts)`` order (gaitmap's
    rule, same sort call, so equal costs resolve the same way)."""
    valid = np.flatnonzero(keep)
    if valid.shape[0] < 2:
        return
    valid = valid[np.argsort(matches[valid, 0])]
    starts = matches[valid, 0]
    first = np.concatenate(([True], starts[1:] != starts[:-1]))
    if first.all():
        return
    gid = np.cumsum(first) - 1
    c = costs[valid]
    gmin = np.minimum.reduceat(c, np.flatnonzero(first))
    at_min = np.flatnonzero(c == gmin[gid])
    _, pick = np.unique(gid[at_min], return_index=True)  # first minimum per group
    keep[valid] = False
    keep[valid[at_min[pick]]] = True


def _apply_result(est, res, cd):
    """Set the result attributes (``res`` and ``cd`` may be dicts per sensor)."""
    if isinstance(cd, dict):
        est.matches_start_end_ = {s: r["matches"] for s, r in res.items()}
        est.costs_ = {s: r["costs"] for s, r in res.items()}
        est.paths_ = {s: r["paths"] for s, r in res.items()}
        est.cost_function_ = {s: c.cost_function for s, c in cd.items()}
    else:
        est.matches_start_end_ = res["matches"]
        est.costs_ = res["costs"]
        est.paths_ = res["paths"]
        est.cost_function_ = cd.cost_function
    est._cost_data = cd


# --------------------------------------------------------------------------
# Sweep
# --------------------------------------------------------------------------


def _parameter_grid(grid):
    """Grid points in sklearn ``ParameterGrid`` order."""
    if isinstance(grid, Mapping):
        grid = [grid]
    if not isinstance(grid, Sequence) or isinstance(grid, str):
        raise TypeError(f"grid must be a dict of lists or a list of such dicts; got {describe(grid)}")
    points = []
    for g in grid:
        if not isinstance(g, Mapping):
            raise TypeError(f"grid must be a dict of lists or a list of such dicts; got an item {describe(g)}")
        for key, values in g.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
                raise TypeError(
                    f"grid values must be lists of candidate values; grid[{key!r}] is "
                    f"{describe(values)} (wrap a single value in a list)"
                )
            if len(values) == 0:
                raise ValueError(f"grid[{key!r}] is empty: give at least one value")
        items = sorted(g.items())
        if not items:
            points.append({})
            continue
        keys, values = zip(*items)
        for combo in itertools.product(*values):
            points.append(dict(zip(keys, combo)))
    return points


_SweepPlan = collections.namedtuple(
    "_SweepPlan", ["base", "fs", "points", "table", "nt", "estimators", "settings", "inputs"])


def _plan_sweep(data, sampling_rate_hz, grid, template, estimator, columns, engine,
                n_threads=None):
    """The checks of :func:`sweep` and its grid points: one estimator per
    point (with the point's parameters), its post-processing settings and
    its cost-matrix inputs ``(key, template, names, scale)``; points with
    equal keys share a cost matrix.  Raises what ``sweep`` raises."""
    if estimator is not None:
        if not isinstance(estimator, BarthDtw):
            raise TypeError(f"estimator must be a BarthDtw; got {describe(estimator)}")
        if template is not None:
            raise ValueError("give either template= or estimator=, not both")
        base = estimator
    else:
        base = BarthDtw(template)
    fs = check_number(sampling_rate_hz, "sampling_rate_hz")
    _config.resolve_engine("dtw", engine)
    points = _parameter_grid(grid)
    valid = base.get_params(deep=True)
    for p in points:
        for key in p:
            head = key.partition("__")[0]
            if key not in valid and not (head in valid and _has_params(p.get(head))):
                raise ValueError(
                    f"unknown parameter {key!r} in the grid; valid BarthDtw parameters: "
                    f"{', '.join(sorted(valid))}"
                )
    table = _Table(data, columns, "data")
    nt = _config.resolve_n_threads(n_threads)
    estimators, settings, inputs = [], [], []
    for p in points:
        est = _clone(base)
        # whole sub-objects first (cloned: grid points never share or modify
        # the caller's objects), then their nested parameters
        est.set_params(**{k: _clone(v) for k, v in p.items() if "__" not in k})
        est.set_params(**{k: v for k, v in p.items() if "__" in k})
        settings.append(est._checked(fs))
        est._require_snap_axis(table)
        inputs.append(est._matching_inputs(table, fs, settings[-1]["template"]))
        estimators.append(est)
    return _SweepPlan(base, fs, points, table, nt, estimators, settings, inputs)


def sweep(data, sampling_rate_hz, grid, template=None, *, estimator=None, columns=None,
          engine="auto", n_threads=None):
    """Segment ``data`` once per grid point, computing each distinct cost
    matrix once.

    Grid points that share the template columns, scale and (resampled)
    template share one cost matrix, its cost function and its backtracking
    directions; only the post-processing (``max_cost``, match lengths,
    snapping, conflict resolution) runs per point.  Distinct cost matrices
    are computed concurrently on the available threads.

    Parameters
    ----------
    data : DataFrame or array_like, shape (N, n_columns)
    sampling_rate_hz : float
    grid : dict of lists, or list of such dicts
        ``BarthDtw`` parameter names (nested: ``template__use_cols``) to
        candidate values; points in sklearn ``ParameterGrid`` order (keys
        sorted, the last key varying fastest).
    template : DtwTemplate or gaitmap template, optional
        The template of the base estimator ``BarthDtw(template)`` (None:
        gaitmap's default template, loaded from gaitmap).
    estimator : BarthDtw, optional
        Base estimator instead of ``template`` (its parameters are the
        defaults the grid overrides); it is not modified.
    columns : sequence of column names, optional
        Names of an array's columns.
    engine, n_threads
        As for :func:`subsequence_cost_matrix`.

    Returns
    -------
    list of BarthDtw
        One segmented estimator per grid point, in grid order, with that
        point's parameters set.  Points sharing a cost matrix share their
        (read-only) ``cost_function_`` and ``acc_cost_mat_``.
    """
    plan = _plan_sweep(data, sampling_rate_hz, grid, template, estimator, columns, engine,
                       n_threads)
    table, nt = plan.table, plan.nt

    estimators, jobs, distinct, signals = [], [], {}, {}
    for est, settings, (key, t, names, transform) in zip(plan.estimators, plan.settings,
                                                         plan.inputs):
        if key not in distinct:
            skey = (tuple(map(repr, names)), transform)
            if skey not in signals:
                signals[skey] = _signal_matrix(table, names, transform)
            distinct[key] = _CostData(t, signals[skey], engine, n_threads)
        estimators.append(est)
        jobs.append((key, settings))

    keys = list(distinct)
    workers = max(1, min(len(keys), nt))
    inner = max(1, nt // workers)

    def run(key):
        """One distinct cost matrix: the kernel, then the match ends of all
        its grid points, then every one of those ends backtracked once."""
        cd = distinct[key].compute(inner)
        mine = {i: _match_ends_of(cd, settings) for i, (k, settings) in enumerate(jobs)
                if k == key}
        cd.paths(np.unique(np.concatenate(list(mine.values()))), inner)
        return mine

    if workers == 1:
        found = [run(key) for key in keys]
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            found = list(pool.map(run, keys))
    ends = [None] * len(jobs)
    for mine in found:
        for i, e in mine.items():
            ends[i] = e
    for est, (key, settings), e in zip(estimators, jobs, ends):
        cd = distinct[key]
        res = _postprocess(cd, settings, table, est.snap_to_min_axis, nt, ends=e)
        _apply_result(est, res, cd)
    for cd in distinct.values():
        cd.release()
    return estimators
