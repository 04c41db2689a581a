"""gaitmap interoperability of :mod:`gilfree.dtw`.

What a user of gaitmap's ``BarthDtw`` brings along, turned into gilfree's
terms: gaitmap template objects (converted by :func:`template_kwargs`),
gaitmap's default template (loaded from gaitmap when it is installed: its
data is part of ``gaitmap_mad``, AGPL-3.0, and is not shipped with
gilfree), gaitmap's keywords (``find_matches_method``, the local warping
constraints, ``memory``), multi-sensor datasets (a dict of DataFrames or a
DataFrame with two column levels, giving per-sensor results) and the
``stride_list_`` DataFrame.

gaitmap is never imported here except to load its default template;
templates are recognised by their attributes (``get_data``, ``scaling``,
``use_cols``).
"""

import functools

import numpy as np

from ._validation import describe

__all__ = [
    "FIND_MATCHES_METHODS",
    "GaitmapResults",
    "check_gaitmap_keywords",
    "default_template_kwargs",
    "is_gaitmap_template",
    "is_multi_sensor",
    "match_ends_min_under_threshold",
    "sensor_items",
    "stride_list",
    "template_kwargs",
]

#: gaitmap's match finders (``BarthDtw(find_matches_method=...)``)
FIND_MATCHES_METHODS = ("find_peaks", "min_under_thres")


# -- templates ---------------------------------------------------------------


def is_gaitmap_template(obj):
    """True for an object that behaves like a gaitmap DTW template."""
    return callable(getattr(obj, "get_data", None)) and (
        hasattr(obj, "scaling") or hasattr(obj, "use_cols"))


def _fixed_transform(scaling):
    """(scale, offset) of a gaitmap scaler that is a fixed affine map."""
    name = type(scaling).__name__
    if scaling is None or name == "IdentityTransformer":
        return 1.0, 0.0
    if name == "FixedScaler" and hasattr(scaling, "scale") and hasattr(scaling, "offset"):
        return scaling.scale, scaling.offset
    raise NotImplementedError(
        f"the template's scaling {scaling!r} is not supported: gilfree transforms template and "
        "data by a fixed (x - offset) / scale only, i.e. gaitmap's FixedScaler (the default of "
        "BarthOriginalTemplate is FixedScaler(scale=500.0)), IdentityTransformer or None"
    )


def template_kwargs(template):
    """``DtwTemplate`` keyword arguments equivalent to a gaitmap template.

    gaitmap's ``get_data()`` returns the template already transformed by
    its scaler (``(x - offset) / scale``), and gaitmap transforms the data
    with the same scaler; the DtwTemplate made from it therefore holds the
    transformed template (``prescaled=True``) and transforms only the data.
    Array templates are never scaled by gaitmap (neither are the data), and
    their columns are matched by position, as in gaitmap.
    """
    if not is_gaitmap_template(template):
        raise TypeError(
            "expected a gaitmap template (an object with get_data() and gaitmap's scaling / "
            f"use_cols, e.g. gaitmap.stride_segmentation.BarthOriginalTemplate()); got "
            f"{describe(template)}"
        )
    data = template.get_data()
    rate = getattr(template, "sampling_rate_hz", None)
    if isinstance(data, np.ndarray):
        # gaitmap neither scales an array template nor the data matched to it
        return dict(data=data, sampling_rate_hz=rate, scale=1.0, offset=0.0, use_cols=None,
                    prescaled=True)
    scale, offset = _fixed_transform(getattr(template, "scaling", None))
    use_cols = getattr(template, "use_cols", None)
    if use_cols is not None and callable(getattr(template, "clone", None)):
        # all columns (scaled element by element, so the used ones are the
        # same numbers), so that use_cols stays a parameter one can sweep
        full = template.clone()
        full.set_params(use_cols=None)
        data = full.get_data()
        use_cols = list(use_cols)
    else:
        use_cols = None
    return dict(data=data, sampling_rate_hz=rate, scale=scale, offset=offset, use_cols=use_cols,
                prescaled=True)


@functools.lru_cache(maxsize=1)
def _barth_original():
    """``template_kwargs(BarthOriginalTemplate())``, read once."""
    try:
        from gaitmap.stride_segmentation import BarthOriginalTemplate
    except ImportError as exc:
        raise ImportError(
            "BarthDtw(template=None) uses gaitmap's default template (BarthOriginalTemplate), "
            "whose data is part of gaitmap_mad (AGPL-3.0) and is not shipped with gilfree: "
            "install gaitmap and gaitmap_mad (`pip install gaitmap gaitmap_mad`), or pass a "
            "DtwTemplate of your own"
        ) from exc
    return template_kwargs(BarthOriginalTemplate())


def default_template_kwargs():
    """``DtwTemplate`` arguments of gaitmap's ``BarthOriginalTemplate()``
    (gaitmap must be installed); the data is a fresh copy."""
    kwargs = dict(_barth_original())
    kwargs["data"] = kwargs["data"].copy()
    return kwargs


# -- keywords ----------------------------------------------------------------


def check_gaitmap_keywords(est):
    """Validate gaitmap's BarthDtw keywords that gilfree accepts; returns
    the match-finding method."""
    method = est.find_matches_method
    if not isinstance(method, str) or method not in FIND_MATCHES_METHODS:
        raise ValueError(
            f"find_matches_method must be one of {', '.join(map(repr, FIND_MATCHES_METHODS))} "
            f"(gaitmap's); got {method!r}"
        )
    for name in ("max_template_stretch_ms", "max_signal_stretch_ms"):
        value = getattr(est, name)
        if value is not None:
            raise NotImplementedError(
                f"{name}={value!r}: gilfree's DTW has no local warping constraints; use "
                f"gaitmap's default {name}=None (no constraint), or gaitmap's own BarthDtw / "
                "ConstrainedBarthDtw for constrained matching"
            )
    return method


def match_ends_min_under_threshold(cost_function, max_cost):
    """gaitmap's ``find_matches_min_under_threshold``: the first minimum of
    every run of samples with ``cost <= max_cost`` (int64, ascending)."""
    pos = np.flatnonzero(np.isfinite(cost_function) & (cost_function <= max_cost))
    if pos.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    run_start = np.concatenate(([0], np.flatnonzero(np.diff(pos) > 1) + 1))
    return pos[first_minimum_per_run(cost_function[pos], run_start)].astype(np.int64)


def first_minimum_per_run(values, starts):
    """Index of the first minimum of every run ``values[starts[k]:starts[k + 1]]``
    (``starts`` ascending, from 0)."""
    run_of = np.repeat(np.arange(starts.shape[0]), np.diff(np.append(starts, values.shape[0])))
    at_min = np.flatnonzero(values == np.minimum.reduceat(values, starts)[run_of])
    _, first = np.unique(run_of[at_min], return_index=True)
    return at_min[first]


# -- multi-sensor datasets and results ---------------------------------------


def is_multi_sensor(data):
    """A dict of single-sensor tables, or a DataFrame with two column levels."""
    if isinstance(data, dict):
        return True
    columns = getattr(data, "columns", None)
    return columns is not None and hasattr(data, "iloc") and getattr(columns, "nlevels", 1) == 2


def sensor_items(data, template):
    """``[(sensor, sensor's data, sensor's template)]`` as gaitmap pairs
    them: a dict of templates applies each to its sensor (other sensors are
    ignored), one template applies to every sensor."""
    sensors = list(data.keys()) if isinstance(data, dict) else list(data.columns.unique(level=0))
    get = data.__getitem__
    if not sensors:
        raise ValueError("the multi-sensor dataset contains no sensors")
    if isinstance(template, dict):
        missing = [s for s in template if s not in sensors]
        if missing:
            raise ValueError(
                f"the template dict names sensors {missing} that are not in the data; the data "
                f"has sensors {sensors}"
            )
        return [(s, get(s), t) for s, t in template.items()]
    return [(s, get(s), template) for s in sensors]


def per_sensor(value, func):
    """``func(value)``, or ``{sensor: func(v)}`` of a dict per sensor."""
    return {s: func(v) for s, v in value.items()} if isinstance(value, dict) else func(value)


def stride_list(matches):
    """gaitmap's stride list of ``matches`` (n, 2): a DataFrame with columns
    ``start``, ``end`` and the index ``s_id`` (0..n-1)."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is in the test extra
        raise ImportError("stride_list_ is a pandas DataFrame: install pandas") from exc
    frame = pd.DataFrame(np.asarray(matches, dtype=np.int64).reshape(-1, 2),
                         columns=["start", "end"])
    frame.index.name = "s_id"
    return frame


class GaitmapResults:
    """gaitmap's derived result attributes of ``BarthDtw`` (from
    ``matches_start_end_`` and ``paths_``)."""

    @property
    def stride_list_(self):
        """``matches_start_end_`` as gaitmap's stride list (a DataFrame with
        columns start, end and index s_id; a dict per sensor for
        multi-sensor data)."""
        matches = self.__dict__.get("matches_start_end_")
        if matches is None:
            raise AttributeError("stride_list_ is available after segment()")
        return per_sensor(matches, stride_list)

    @property
    def matches_start_end_original_(self):
        """Start and exclusive end of each match's warping path, before
        snapping (int64 (n, 2); a dict per sensor for multi-sensor data)."""
        paths = self.__dict__.get("paths_")
        if paths is None:
            raise AttributeError("matches_start_end_original_ is available after segment()")

        return per_sensor(paths, lambda ps: np.array(
            [(p[0, 1], p[-1, 1] + 1) for p in ps], dtype=np.int64).reshape(-1, 2))
