"""gilfree.dtw against gaitmap's BarthDtw (gaitmap and gaitmap_mad are in
the test extra): gaitmap's template objects, default template, keywords,
multi-sensor data and stride_list_, on a synthetic gait recording with
pauses, for every point of a parameter grid -- identical matches, costs
(bit for bit), paths, cost functions and stride lists."""

import inspect
import sys
import warnings

import numpy as np
import pytest

from gilfree import _gaitmap, dtw
from gilfree._reference import dtw_data as dd

pd = pytest.importorskip("pandas")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # gaitmap's and its dependencies' import-time chatter
    try:
        from gaitmap.data_transform import FixedScaler, StandardScaler
        from gaitmap.stride_segmentation import BarthDtw as GmBarthDtw
        from gaitmap.stride_segmentation import BarthOriginalTemplate
        from gaitmap.stride_segmentation import DtwTemplate as GmDtwTemplate
    except ImportError as exc:  # pragma: no cover - gaitmap is in the test extra
        pytest.skip(f"gaitmap / gaitmap_mad not installed: {exc}", allow_module_level=True)

FS = dd.SAMPLING_RATE_HZ
# gaitmap_mad reads its template with importlib.resources.open_text (deprecated)
pytestmark = pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def recording():
    """Two sensors' recordings: walking bouts of 6-12 strides stretched by
    0.6-1.6, 1-3 s pauses, noisy enough that max_cost decides some strides."""
    kw = dict(pause_s=(1.0, 3.0), bout_strides=(6, 12), noise=25.0, stretch=(0.6, 1.6))
    left, _ = dd.recording(8000, seed=3, **kw)
    right, _ = dd.recording(8000, seed=4, **kw)
    return (pd.DataFrame(left, columns=dd.AXES), pd.DataFrame(right, columns=dd.AXES))


def _synthetic_template(**kw):
    tpl = pd.DataFrame(dd.template(), columns=dd.TEMPLATE_AXES)
    return GmDtwTemplate(data=tpl, sampling_rate_hz=FS, **kw)


def _gaitmap_segment(template, params, data, fs):
    kwargs = dict(params) if template is None else dict(params, template=template)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. its "overlapping strides" warning
        return GmBarthDtw(**kwargs).segment(data, fs)


def _assert_same(ours, ref, min_strides=10):
    if isinstance(ref.matches_start_end_, dict):
        assert list(ours.matches_start_end_) == list(ref.matches_start_end_)
        for sensor in ref.matches_start_end_:
            _assert_same_single(ours, ref, sensor, min_strides)
    else:
        _assert_same_single(ours, ref, None, min_strides)


def _assert_same_single(ours, ref, sensor, min_strides):
    def get(obj, name):
        value = getattr(obj, name)
        return value if sensor is None else value[sensor]

    ref_m = get(ref, "matches_start_end_")
    assert len(ref_m) >= min_strides
    assert np.array_equal(get(ours, "matches_start_end_"), ref_m)
    assert np.array_equal(get(ours, "costs_"), get(ref, "costs_"))  # bit for bit
    pd.testing.assert_frame_equal(get(ours, "stride_list_"), get(ref, "stride_list_"))
    assert np.array_equal(get(ours, "matches_start_end_original_"),
                          get(ref, "matches_start_end_original_"))
    assert np.array_equal(get(ours, "cost_function_"), get(ref, "cost_function_"))
    assert len(get(ours, "paths_")) == len(get(ref, "paths_"))
    assert all(np.array_equal(a, b) for a, b in zip(get(ours, "paths_"), get(ref, "paths_")))


# (gaitmap template or None for gaitmap's default, BarthDtw parameters,
#  data rate, "single" / "dict" / "frame" data)
GRID = [
    ("default", {}, FS, "single"),
    ("default", dict(find_matches_method="min_under_thres"), FS, "single"),
    ("default", dict(max_cost=3.0, snap_to_min_win_ms=150), 160.0, "single"),  # resampled
    ("orig_ml", dict(max_cost=2.5), FS, "single"),
    ("orig_ml_si", dict(min_match_length_s=0.4, max_match_length_s=1.5), 102.4, "single"),
    ("synthetic", dict(snap_to_min_win_ms=None, conflict_resolution=False), FS, "single"),
    ("synthetic_offset", dict(max_cost=6.0, find_matches_method="min_under_thres"), 180.0,
     "single"),
    ("synthetic_unscaled", dict(max_cost=None, resample_template=False), FS, "single"),
    ("default", dict(max_cost=3.5), FS, "dict"),
    ("per_sensor", dict(find_matches_method="min_under_thres"), FS, "frame"),
]


def _template(kind):
    return {
        "default": None,
        "orig_ml": BarthOriginalTemplate(use_cols=("gyr_ml",)),
        "orig_ml_si": BarthOriginalTemplate(use_cols=("gyr_ml", "gyr_si")),
        "synthetic": _synthetic_template(scaling=FixedScaler(scale=dd.SCALE)),
        "synthetic_offset": _synthetic_template(scaling=FixedScaler(scale=400.0, offset=10.0)),
        "synthetic_unscaled": _synthetic_template(),
        "per_sensor": {"left": BarthOriginalTemplate(),
                       "right": BarthOriginalTemplate(use_cols=("gyr_ml", "gyr_pa"))},
    }[kind]


def _data(recording, kind):
    left, right = recording
    if kind == "single":
        return left
    if kind == "dict":
        return {"left": left, "right": right}
    return pd.concat({"left": left, "right": right}, axis=1)


@pytest.mark.parametrize("point", GRID, ids=[f"{i}-{p[0]}-{p[3]}" for i, p in enumerate(GRID)])
def test_barth_dtw_equals_gaitmap(recording, point):
    kind, params, fs, data_kind = point
    data = _data(recording, data_kind)
    ref = _gaitmap_segment(_template(kind), params, data, fs)
    # the gaitmap template object itself (None: gaitmap's default template)
    ours = dtw.BarthDtw(template=_template(kind), **params).segment(data, fs)
    _assert_same(ours, ref)
    tpl = _template(kind)
    if tpl is not None and not isinstance(tpl, dict):
        converted = dtw.BarthDtw(template=dtw.DtwTemplate.from_gaitmap(tpl), **params)
        _assert_same(converted.segment(data, fs), ref)


def test_sweep_with_a_gaitmap_template_equals_gaitmap(recording):
    data = recording[0]
    grid = {"find_matches_method": ["find_peaks", "min_under_thres"], "max_cost": [3.0, 4.0],
            "template__use_cols": [None, ("gyr_ml", "gyr_si")]}
    template = BarthOriginalTemplate()
    results = dtw.sweep(data, FS, grid, template=template)
    assert len(results) == 8
    assert template.use_cols is None  # the caller's template is not modified
    for est in results:
        params = {k: est.get_params()[k] for k in ("find_matches_method", "max_cost")}
        gm_tpl = BarthOriginalTemplate(use_cols=est.template.use_cols)
        _assert_same(est, _gaitmap_segment(gm_tpl, params, data, FS))


def test_parameters_are_gaitmaps():
    ours = inspect.signature(dtw.BarthDtw).parameters
    theirs = inspect.signature(GmBarthDtw).parameters
    assert list(ours) == list(theirs)
    for name in theirs:
        if name != "template":  # gaitmap: a clone of BarthOriginalTemplate(); gilfree: None
            assert ours[name].default == theirs[name].default, name


def test_prescaled_template_pitfall(recording):
    """gaitmap's get_data() is already scaled: dividing it again finds nothing."""
    data = recording[0]
    scaled = BarthOriginalTemplate().get_data()
    wrong = dtw.BarthDtw(dtw.DtwTemplate(scaled, FS, scale=500.0)).segment(data, FS)
    assert wrong.matches_start_end_.shape == (0, 2)
    right = dtw.BarthDtw(dtw.DtwTemplate(scaled, FS, scale=500.0, prescaled=True)).segment(data, FS)
    _assert_same(right, _gaitmap_segment(None, {}, data, FS))
    tpl = dtw.DtwTemplate.from_gaitmap(BarthOriginalTemplate(use_cols=("gyr_ml",)))
    assert tpl.prescaled and tpl.scale == 500.0 and tpl.offset == 0
    assert tpl.use_cols == ["gyr_ml"] and tpl.sampling_rate_hz == FS
    assert list(tpl.data.columns) == ["gyr_pa", "gyr_si", "gyr_ml"]  # all, so use_cols can vary


def test_no_match_results(recording):
    est = dtw.BarthDtw(max_cost=1e-6).segment(recording[0], FS)
    assert est.matches_start_end_.shape == (0, 2)
    assert est.stride_list_.shape == (0, 2) and est.stride_list_.index.name == "s_id"
    assert list(est.stride_list_.columns) == ["start", "end"]
    assert est.matches_start_end_original_.shape == (0, 2)


def test_unsupported_gaitmap_settings_name_the_supported_default(recording):
    data = recording[0]
    for name in ("max_template_stretch_ms", "max_signal_stretch_ms"):
        with pytest.raises(NotImplementedError, match=f"{name}=None"):
            dtw.BarthDtw(**{name: 120}).segment(data, FS)
    with pytest.raises(NotImplementedError, match=r"FixedScaler\(scale=500.0\)"):
        dtw.BarthDtw(_synthetic_template(scaling=StandardScaler())).segment(data, FS)
    with pytest.raises(ValueError, match="find_matches_method must be one of"):
        dtw.BarthDtw(find_matches_method="argrelmin").segment(data, FS)
    with pytest.raises(ValueError, match="min_under_thres' needs max_cost"):
        dtw.BarthDtw(find_matches_method="min_under_thres", max_cost=None).segment(data, FS)
    with pytest.raises(TypeError, match="multi-sensor data"):
        dtw.BarthDtw({"left": BarthOriginalTemplate()}).segment(data, FS)
    with pytest.raises(ValueError, match=r"sensors \['middle'\] that are not in the data"):
        dtw.BarthDtw({"middle": BarthOriginalTemplate()}).segment({"left": data}, FS)
    # memory is accepted and unused (gilfree caches nothing)
    ref = dtw.BarthDtw().segment(data, FS)
    same = dtw.BarthDtw(memory=object()).segment(data, FS)
    assert np.array_equal(same.matches_start_end_, ref.matches_start_end_)


def test_default_template_without_gaitmap(monkeypatch):
    _gaitmap._barth_original.cache_clear()
    monkeypatch.setitem(sys.modules, "gaitmap.stride_segmentation", None)
    try:
        with pytest.raises(ImportError, match="not shipped with gilfree.*pip install gaitmap"):
            dtw.BarthDtw().segment(np.zeros((500, 3)), FS, columns=list(dd.TEMPLATE_AXES))
    finally:
        _gaitmap._barth_original.cache_clear()


def test_nested_parameters_of_a_gaitmap_template():
    est = dtw.BarthDtw(template=BarthOriginalTemplate())
    params = est.get_params(deep=True)
    assert params["template__use_cols"] is None
    est.set_params(template__use_cols=("gyr_ml",))
    assert est.template.use_cols == ("gyr_ml",)
    with pytest.raises(ValueError, match="template__usecols"):
        est.set_params(template__usecols=("gyr_ml",))
