"""gaitmap's stride segmentation: :class:`DtwTemplate` and :class:`BarthDtw`
(re-exported by :mod:`gilfree.dtw`) and the post-processing of one
parameter setting from a computed cost matrix."""

from collections.abc import Sequence

import numpy as np

from . import _config, _gaitmap
from ._dtw_kernel import _check_lengths, _CostData, _match_ends, _snap_to_min
from ._dtw_params import _Params, _Table
from ._validation import check_number, describe


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
        self._store_params(locals())

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
        arr = _signal_matrix(table, names, (1.0, 0.0) if self.prescaled else (scale, offset)).T
        return tuple(names), arr, (scale, offset)


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
        self._store_params(locals())

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
        return _gaitmap.per_sensor(cd, lambda c: c.full())


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
    """(k, N) float64: the named columns transformed by ``(scale, offset)``
    as ``(x - offset) / scale`` (gaitmap's FixedScaler, the same rounding)."""
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
    keep[valid] = False
    keep[valid[_gaitmap.first_minimum_per_run(costs[valid], np.flatnonzero(first))]] = True


def _apply_result(est, res, cd):
    """Set the result attributes (``res`` and ``cd`` may be dicts per sensor)."""
    many = isinstance(cd, dict)  # ``res`` is a dict either way
    for attr, key in (("matches_start_end_", "matches"), ("costs_", "costs"), ("paths_", "paths")):
        setattr(est, attr, {s: r[key] for s, r in res.items()} if many else res[key])
    est.cost_function_ = _gaitmap.per_sensor(cd, lambda c: c.cost_function)
    est._cost_data = cd
