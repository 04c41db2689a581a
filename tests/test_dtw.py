"""Tests of gilfree.dtw: the subsequence-DTW kernel in every engine against a
naive recurrence (and tslearn), the BarthDtw pipeline against a naive
pipeline of this file (and gaitmap's BarthDtw when installed), the sweep
against one segment() per grid point, threads, and bad input."""

import math
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gilfree
from gilfree import _config, _dtw_kernel, dtw
from gilfree._reference import dtw_data as dd

from conftest import COMPILED, ENGINES

try:  # DataFrames are optional for gilfree.dtw: the kernel tests run without pandas
    import pandas as pd
except ImportError:  # pragma: no cover - pandas is in the test extra
    pd = None
find_peaks = pytest.importorskip("scipy.signal").find_peaks

# --------------------------------------------------------------------------
# Naive references (slow, obviously right)
# --------------------------------------------------------------------------


def naive_cost_matrix(t, s):
    """The recurrence as written, padded with the virtual row/column."""
    t = np.asarray(t, float).reshape(len(t), -1)
    s = np.asarray(s, float).reshape(len(s), -1)
    M, N = len(t), len(s)
    D = np.full((M + 1, N + 1), np.inf)
    D[0, :] = 0.0
    for i in range(M):
        c = np.zeros(N)
        for k in range(t.shape[1]):
            diff = t[i, k] - s[:, k]
            c = c + diff * diff
        for j in range(N):
            D[i + 1, j + 1] = c[j] + min(D[i, j], D[i, j + 1], D[i + 1, j])
    return D[1:, 1:]


def naive_path(D, end):
    """Backtrack: argmin of [diag, up, left] (first wins), up at column 0."""
    i, j = D.shape[0] - 1, end
    path = [(i, j)]
    while i > 0:
        if j == 0:
            i -= 1
        else:
            step = int(np.argmin([D[i - 1, j - 1], D[i - 1, j], D[i, j - 1]]))
            i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
        path.append((i, j))
    return np.array(path[::-1], dtype=np.int64)


def naive_segment(template, data, fs, *, template_fs, scale=1.0, max_cost=4.0, min_s=0.6,
                  max_s=3.0, snap_ms=300, snap_axis="gyr_ml", conflict=True, resample=True):
    """The BarthDtw pipeline, step by step (template/data DataFrames)."""
    cols = list(template.columns)
    t = template.to_numpy(float) / scale
    if resample and fs != template_fs:
        num = int(len(t) * fs / template_fs)
        x = np.linspace(0, len(t) - 1, num)
        t = np.stack([np.interp(x, np.arange(len(t)), t[:, k]) for k in range(t.shape[1])], 1)
    s = data[cols].to_numpy(float) / scale
    D = naive_cost_matrix(t, s)
    cost = np.sqrt(D[-1])
    min_len = None if min_s is None else min_s * fs
    max_len = None if max_s is None else max_s * fs
    ends = find_peaks(-cost, height=None if max_cost is None else -max_cost, distance=min_len)[0]
    paths = [naive_path(D, e) for e in ends]
    matches = np.array([[p[0, 1], p[-1, 1] + 1] for p in paths], dtype=np.int64).reshape(-1, 2)
    costs = cost[ends]
    if snap_ms:
        x = data[snap_axis].to_numpy(float)
        n = len(x)
        half = int(snap_ms / 1000 * fs) // 2
        snapped = matches.copy()
        for idx in np.ndindex(matches.shape):
            v = matches[idx]
            w = v - 1 if v == n else v
            lo, hi = max(0, w - half), min(n - 1, w + half)
            new = lo + int(np.argmin(x[lo : hi + 1]))
            snapped[idx] = n if (v == n and new == n - 1) else new
        matches = snapped
    length = np.abs(matches[:, 1] - matches[:, 0])
    keep = np.ones(len(matches), dtype=bool)
    if min_len is not None:
        keep &= length > min_len
    if max_len is not None:
        keep &= length < max_len
    if conflict:
        valid = np.flatnonzero(keep)
        valid = valid[np.argsort(matches[valid, 0])]
        for start in np.unique(matches[valid, 0]):
            group = valid[matches[valid, 0] == start]
            if len(group) > 1:
                keep[group] = False
                keep[group[np.argmin(costs[group])]] = True
    idx = np.flatnonzero(keep)
    return matches[idx], costs[idx], [paths[i] for i in idx], cost, D


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

FS_SMALL = 51.2  # the small template's rate: 50 samples ~ one stride


def small_case(n=2500, seed=0, template_samples=50):
    pytest.importorskip("pandas")
    rec, _ = dd.recording(n, seed=seed, template_samples=template_samples, pause_s=(0.5, 2.0),
                          bout_strides=(5, 15))
    data = pd.DataFrame(rec, columns=dd.AXES)
    tpl = pd.DataFrame(dd.template(template_samples), columns=dd.TEMPLATE_AXES)
    return tpl, data


@pytest.fixture
def tiny_tiles(monkeypatch):
    """Force many tiles and row blocks on small inputs."""
    monkeypatch.setattr(_config, "DTW_BLOCK_COLS", 7)
    monkeypatch.setattr(_config, "DTW_MIN_BLOCK_COLS", 3)
    monkeypatch.setattr(_config, "DTW_MIN_ROWS_PER_BLOCK", 2)
    monkeypatch.setattr(_config, "DTW_NUMPY_BLOCK_COLS", 5)


# --------------------------------------------------------------------------
# The cost matrix
# --------------------------------------------------------------------------


@pytest.mark.parametrize("d", [None, 1, 2, 3])
@pytest.mark.parametrize("kind", ["random", "gait", "ties"])
def test_cost_matrix_all_engines(engine, n_threads, d, kind):
    rng = np.random.default_rng(7)
    M, N = (9, 61) if engine == "python" else (23, 257)
    k = 1 if d is None else d
    if kind == "random":
        t, s = rng.standard_normal((M, k)), rng.standard_normal((N, k))
    elif kind == "gait":
        s = dd.recording(N, seed=3, template_samples=M)[0][:, [4, 5, 3][:k]] / 500
        t = dd.template(M)[:, [2, 1, 0][:k]] / 500
    else:  # small integers: equal costs and equal predecessors everywhere
        t, s = rng.integers(-2, 3, (M, k)).astype(float), rng.integers(-2, 3, (N, k)).astype(float)
    if d is None:
        t, s = t[:, 0], s[:, 0]
    D = dtw.subsequence_cost_matrix(t, s, engine=engine, n_threads=n_threads)
    ref = naive_cost_matrix(t, s)
    assert D.dtype == np.float64 and D.shape == (M, N)
    np.testing.assert_allclose(D, ref, rtol=1e-12, atol=0)
    assert np.array_equal(D, ref)  # same operations in the same order: bit for bit


@pytest.mark.parametrize("engine_", ["cython", "numba", "numpy"])
@pytest.mark.parametrize("nt", [1, 2, 3])
def test_cost_matrix_tiled(tiny_tiles, engine_, nt):
    """Many column blocks and row blocks (a wavefront over 3 bands)."""
    rng = np.random.default_rng(11)
    t, s = rng.standard_normal((19, 2)), rng.standard_normal((150, 2))
    D = dtw.subsequence_cost_matrix(t, s, engine=engine_, n_threads=nt)
    assert np.array_equal(D, naive_cost_matrix(t, s))


@pytest.mark.parametrize("engine_", ["cython", "numba", "numpy", "python"])
@pytest.mark.parametrize("nt", [1, 2])
def test_cost_matrix_into_out(tiny_tiles, engine_, nt):
    """``out=`` receives exactly the matrix of a call without it and is
    returned; a reused buffer holds nothing of the previous call."""
    rng = np.random.default_rng(12)
    out = np.full((19, 150), np.nan)
    for seed in (1, 2):
        t, s = rng.standard_normal((19, 2)) * seed, rng.standard_normal((150, 2))
        got = dtw.subsequence_cost_matrix(t, s, out=out, engine=engine_, n_threads=nt)
        assert got is out
        assert np.array_equal(out, naive_cost_matrix(t, s))


def test_cost_matrix_out_errors():
    t, s = np.ones((3, 2)), np.ones((10, 2))
    with pytest.raises(ValueError, match=r"out must have shape \(3, 10\) and dtype float64; "
                                         r"got shape \(10, 3\)"):
        dtw.subsequence_cost_matrix(t, s, out=np.empty((10, 3)))
    with pytest.raises(ValueError, match="dtype float64; got .* float32"):
        dtw.subsequence_cost_matrix(t, s, out=np.empty((3, 10), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        dtw.subsequence_cost_matrix(t, s, out=np.empty((10, 3)).T)
    ro = np.empty((3, 10))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        dtw.subsequence_cost_matrix(t, s, out=ro)
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        dtw.subsequence_cost_matrix(t, s, out=[[0.0] * 10] * 3)
    flat = np.zeros(60)  # inputs used in place (C-contiguous float64) and out in one buffer
    with pytest.raises(ValueError, match="must not overlap"):
        dtw.subsequence_cost_matrix(flat[:6].reshape(3, 2), flat[6:26].reshape(10, 2),
                                    out=flat[:30].reshape(3, 10))


@pytest.mark.parametrize("dtype", [np.int16, np.int64, np.float32, np.float64])
def test_cost_matrix_dtypes_and_layouts(dtype):
    rng = np.random.default_rng(3)
    t = (rng.standard_normal((7, 2)) * 10).astype(dtype)
    s = np.asfortranarray((rng.standard_normal((80, 4)) * 10).astype(dtype))[:, ::2]
    ref = naive_cost_matrix(t.astype(np.float64), s.astype(np.float64))
    for engine in ("cython", "numba", "numpy"):
        assert np.array_equal(dtw.subsequence_cost_matrix(t, s, engine=engine), ref)


def test_cost_matrix_tslearn():
    metrics = pytest.importorskip("tslearn.metrics")
    rng = np.random.default_rng(5)
    t, s = rng.standard_normal((31, 3)), rng.standard_normal((400, 3))
    ref = metrics.subsequence_cost_matrix(t, s)
    for engine in ("cython", "numba", "numpy"):
        np.testing.assert_allclose(dtw.subsequence_cost_matrix(t, s, engine=engine), ref,
                                   rtol=1e-12, atol=0)


@settings(max_examples=40, deadline=None)
@given(
    M=st.integers(1, 12),
    extra=st.integers(0, 40),
    d=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
    dyadic=st.booleans(),
)
def test_cost_matrix_hypothesis(M, extra, d, seed, dyadic):
    rng = np.random.default_rng(seed)
    t, s = rng.standard_normal((M, d)), rng.standard_normal((M + extra, d))
    if dyadic:
        t, s = np.round(t * 4) / 4, np.round(s * 4) / 4
    ref = naive_cost_matrix(t, s)
    for engine in ("cython", "numba", "numpy"):
        for nt in (1, 2):
            assert np.array_equal(dtw.subsequence_cost_matrix(t, s, engine=engine, n_threads=nt), ref)


@pytest.mark.parametrize("engine_", ENGINES)
def test_directions_and_paths_match_naive_backtracking(tiny_tiles, engine_):
    """Ties everywhere (integer data): paths follow the first minimum of
    [diag, up, left] in every engine and every tiling."""
    rng = np.random.default_rng(2)
    t = rng.integers(-1, 2, (12, 2)).astype(float)
    s = rng.integers(-1, 2, (90, 2)).astype(float)
    D = naive_cost_matrix(t, s)
    for nt in (1, 2):
        last, dirs, _, W = dtw._accumulate(t, np.ascontiguousarray(s.T), want_full=False,
                                           want_dirs=True, engine=engine_, n_threads=nt)
        assert np.array_equal(last, D[-1])
        ends = np.arange(90)
        flat, offsets = dtw._trace_paths(dirs, 12, W, ends, engine_, nt)
        for e in ends:
            assert np.array_equal(flat[offsets[e] : offsets[e + 1]], naive_path(D, e))


@settings(max_examples=15, deadline=None)
@given(M=st.integers(1, 80), extra=st.integers(0, 300), block=st.integers(1, 120),
       d=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_tiles_of_every_shape_match_naive(M, extra, block, d, seed):
    """The compiled engines' tiles (computed by anti-diagonals, written out
    in blocks of diagonals) for tiles wider and narrower than the template, template
    rows more and fewer than a block of diagonals: matrix, last row and
    backtracked paths as the naive recurrence, whatever the thread count."""
    import unittest.mock as um

    N = M + extra
    rng = np.random.default_rng(seed)
    t = rng.integers(-1, 2, (M, d)).astype(float)
    s = rng.integers(-1, 2, (N, d)).astype(float)
    D = naive_cost_matrix(t, s)
    with um.patch.object(_config, "DTW_BLOCK_COLS", block), \
            um.patch.object(_config, "DTW_MIN_BLOCK_COLS", 1):
        for engine, nt in [("cython", 1), ("cython", 2), ("numba", 1), ("numba", 2)]:
            assert np.array_equal(dtw.subsequence_cost_matrix(t, s, engine=engine,
                                                              n_threads=nt), D)
            last, dirs, _, W = dtw._accumulate(t, np.ascontiguousarray(s.T), want_full=False,
                                               want_dirs=True, engine=engine, n_threads=nt)
            assert np.array_equal(last, D[-1])
            ends = np.arange(N)[:: max(1, N // 7)]
            flat, offsets = dtw._trace_paths(dirs, M, W, ends, engine, nt)
            for k, e in enumerate(ends):
                assert np.array_equal(flat[offsets[k] : offsets[k + 1]], naive_path(D, e))


def test_parallel_path_tracing_equals_serial(monkeypatch):
    monkeypatch.setattr(_config, "DTW_PARALLEL_PATHS_MIN", 1)
    rng = np.random.default_rng(4)
    t, s = rng.standard_normal((15, 1)), rng.standard_normal((500, 1))
    D = naive_cost_matrix(t, s)
    _, dirs, _, W = dtw._accumulate(t, np.ascontiguousarray(s.T), want_full=False,
                                    want_dirs=True, engine="numpy", n_threads=1)
    ends = np.arange(0, 500, 3)
    ref = [naive_path(D, e) for e in ends]
    for engine in COMPILED:
        flat, off = dtw._trace_paths(dirs, 15, W, ends, engine, 2)
        assert all(np.array_equal(flat[off[k] : off[k + 1]], ref[k]) for k in range(len(ends)))


@pytest.mark.parametrize("engine_", COMPILED)
def test_cost_matrix_from_eight_threads(engine_):
    rng = np.random.default_rng(9)
    cases = [(rng.standard_normal((20 + k, 2)), rng.standard_normal((3000 + 37 * k, 2)))
             for k in range(8)]
    serial = [dtw.subsequence_cost_matrix(t, s, engine=engine_, n_threads=1) for t, s in cases]
    out = [None] * 8
    barrier = threading.Barrier(8)

    def work(k):
        barrier.wait()
        out[k] = dtw.subsequence_cost_matrix(*cases[k], engine=engine_, n_threads=2)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for a, b in zip(out, serial):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("engine_", COMPILED)
def test_kernel_releases_the_gil(engine_):
    rng = np.random.default_rng(1)
    t, s = rng.standard_normal((200, 1)), rng.standard_normal((60_000, 1))
    dtw.subsequence_cost_matrix(t[:5], s[:50], engine=engine_)  # compile / warm up
    done = threading.Event()
    ticks = 0

    def run():
        dtw.subsequence_cost_matrix(t, s, engine=engine_, n_threads=1)
        done.set()

    th = threading.Thread(target=run)
    th.start()
    while not done.is_set():
        ticks += 1
    th.join()
    assert ticks > 1000  # the main thread kept running meanwhile


def test_engine_auto_and_module_attribute():
    assert gilfree.dtw is dtw
    assert _config.auto_order("dtw")[0] == "cython"
    t, s = np.arange(3.0), np.arange(10.0)
    assert np.array_equal(dtw.subsequence_cost_matrix(t, s), naive_cost_matrix(t, s))


# --------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------

PIPELINES = [
    dict(),
    dict(max_cost=2.5),
    dict(max_cost=None, min_s=None),
    dict(snap_ms=None),
    dict(conflict=False),
    dict(min_s=0.3, max_s=1.5),
    dict(use_cols=("gyr_ml",)),
    dict(use_cols=("gyr_ml", "gyr_si"), max_cost=3.0),
    dict(resample=False),
    dict(data_fs=1.25 * FS_SMALL),  # the template is resampled to the data rate
]


def _our_params(p):
    return dict(max_cost=p.get("max_cost", 4.0), min_match_length_s=p.get("min_s", 0.6),
                max_match_length_s=p.get("max_s", 3.0), snap_to_min_win_ms=p.get("snap_ms", 300),
                conflict_resolution=p.get("conflict", True),
                resample_template=p.get("resample", True))


@pytest.mark.parametrize("p", PIPELINES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "defaults")
def test_segment_matches_naive_pipeline(p):
    tpl, data = small_case(seed=len(str(p)))
    fs = p.get("data_fs", FS_SMALL)
    use = p.get("use_cols")
    naive_tpl = tpl if use is None else tpl[list(use)]
    ref_m, ref_c, ref_p, ref_cost, ref_D = naive_segment(
        naive_tpl, data, fs, template_fs=FS_SMALL, scale=500.0, max_cost=p.get("max_cost", 4.0),
        min_s=p.get("min_s", 0.6), max_s=p.get("max_s", 3.0), snap_ms=p.get("snap_ms", 300),
        conflict=p.get("conflict", True), resample=p.get("resample", True))
    assert len(ref_m) > 5
    template = dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0, use_cols=use)
    for engine in ("cython", "numba", "numpy"):
        est = dtw.BarthDtw(template, **_our_params(p)).segment(data, fs, engine=engine)
        assert np.array_equal(est.matches_start_end_, ref_m)
        np.testing.assert_allclose(est.costs_, ref_c, rtol=1e-12, atol=0)
        assert len(est.paths_) == len(ref_p)
        assert all(np.array_equal(a, b) for a, b in zip(est.paths_, ref_p))
        np.testing.assert_allclose(est.cost_function_, ref_cost, rtol=1e-12, atol=0)
    np.testing.assert_allclose(est.acc_cost_mat_, ref_D, rtol=1e-12, atol=0)


def test_segment_python_engine_and_array_input():
    tpl, data = small_case(n=700, template_samples=30)
    fs = 30 * 1.024
    template = dtw.DtwTemplate(tpl.to_numpy(), fs, scale=500.0, columns=list(tpl.columns))
    ref = dtw.BarthDtw(dtw.DtwTemplate(tpl, fs, scale=500.0)).segment(data, fs, engine="numpy")
    est = dtw.BarthDtw(template).segment(data.to_numpy(), fs, columns=list(data.columns),
                                         engine="python")
    assert len(ref.matches_start_end_) > 3
    assert np.array_equal(est.matches_start_end_, ref.matches_start_end_)
    assert np.array_equal(est.costs_, ref.costs_)


def test_segment_threads_do_not_change_results(tiny_tiles):
    tpl, data = small_case(n=1500)
    template = dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0)
    results = [dtw.BarthDtw(template).segment(data, FS_SMALL, engine=e, n_threads=nt)
               for e in COMPILED for nt in (1, 2, 3)]
    for r in results[1:]:
        assert np.array_equal(r.matches_start_end_, results[0].matches_start_end_)
        assert np.array_equal(r.costs_, results[0].costs_)
        assert np.array_equal(r.cost_function_, results[0].cost_function_)


@pytest.mark.parametrize("engine_", COMPILED)
def test_segment_and_sweep_from_several_threads(engine_):
    tpl, data = small_case(n=2500, seed=12)
    template = dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0)
    grid = {"max_cost": [3.0, 4.0], "template__use_cols": [("gyr_ml",), None]}
    ref_seg = dtw.BarthDtw(template).segment(data, FS_SMALL, engine=engine_, n_threads=1)
    ref_sweep = dtw.sweep(data, FS_SMALL, grid, template=template, engine=engine_, n_threads=1)
    out = [None] * 6
    barrier = threading.Barrier(6)

    def work(k):
        barrier.wait()
        if k % 2:
            out[k] = dtw.sweep(data, FS_SMALL, grid, template=template, engine=engine_,
                               n_threads=2)
        else:
            out[k] = [dtw.BarthDtw(template).segment(data, FS_SMALL, engine=engine_,
                                                     n_threads=2)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for k, res in enumerate(out):
        ref = ref_sweep if k % 2 else [ref_seg]
        assert len(res) == len(ref)
        for a, b in zip(res, ref):
            assert np.array_equal(a.matches_start_end_, b.matches_start_end_)
            assert np.array_equal(a.costs_, b.costs_)


def test_no_match_gives_empty_results():
    tpl, data = small_case(n=600)
    est = dtw.BarthDtw(dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0), max_cost=1e-9)
    est.segment(data, FS_SMALL)
    assert est.matches_start_end_.shape == (0, 2) and est.matches_start_end_.dtype == np.int64
    assert est.costs_.shape == (0,) and est.paths_ == []


def test_gaitmap_equivalence():
    pytest.importorskip("pandas")
    gm = pytest.importorskip("gaitmap.stride_segmentation")
    scaler = pytest.importorskip("gaitmap.data_transform").FixedScaler
    rec, _ = dd.recording(12_000, seed=21, stretch=(0.7, 1.4))
    data = pd.DataFrame(rec, columns=dd.AXES)
    tpl = pd.DataFrame(dd.template(), columns=dd.TEMPLATE_AXES)
    cases = [
        (dict(), dd.SAMPLING_RATE_HZ),
        (dict(max_cost=2.0), dd.SAMPLING_RATE_HZ),
        (dict(max_cost=6.0, min_match_length_s=0.4, max_match_length_s=1.2), dd.SAMPLING_RATE_HZ),
        (dict(snap_to_min_win_ms=None), dd.SAMPLING_RATE_HZ),
        (dict(conflict_resolution=False, snap_to_min_win_ms=600), dd.SAMPLING_RATE_HZ),
        (dict(max_cost=5.0), 160.0),  # template resampled 204.8 Hz -> 160 Hz
    ]
    for use_cols in (None, ("gyr_ml",), ("gyr_ml", "gyr_si")):
        for params, fs in cases:
            g_tpl = gm.DtwTemplate(data=tpl, sampling_rate_hz=dd.SAMPLING_RATE_HZ,
                                   scaling=scaler(scale=dd.SCALE), use_cols=use_cols)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = gm.BarthDtw(template=g_tpl, **params).segment(data, fs)
            ours = dtw.BarthDtw(dtw.DtwTemplate(tpl, dd.SAMPLING_RATE_HZ, scale=dd.SCALE,
                                                use_cols=use_cols), **params).segment(data, fs)
            ref_m = np.asarray(ref.matches_start_end_).reshape(-1, 2)
            assert len(ref_m) > 20
            assert np.array_equal(ours.matches_start_end_, ref_m), (use_cols, params, fs)
            np.testing.assert_allclose(ours.costs_, ref.costs_, rtol=1e-12, atol=0)
            assert all(np.array_equal(a, b) for a, b in zip(ours.paths_, ref.paths_))
            np.testing.assert_allclose(ours.cost_function_, ref.cost_function_, rtol=1e-12)


# --------------------------------------------------------------------------
# Sweep
# --------------------------------------------------------------------------

GRID = {"max_cost": [2, 3, 4, 5], "template__use_cols": [("gyr_ml",), ("gyr_ml", "gyr_si")]}


def _count_accumulate(monkeypatch):
    calls = []
    real = dtw._accumulate

    def counting(t, sT, **kw):
        calls.append((t.shape, sT.shape, kw["want_full"]))
        return real(t, sT, **kw)

    monkeypatch.setattr(_dtw_kernel, "_accumulate", counting)
    return calls


def test_sweep_equals_one_segment_per_point(monkeypatch):
    tpl, data = small_case(n=3000, seed=5)
    template = dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0)
    calls = _count_accumulate(monkeypatch)
    results = dtw.sweep(data, FS_SMALL, GRID, template=template, n_threads=2)
    assert len(calls) == 2  # one cost matrix per distinct template column set
    ParameterGrid = pytest.importorskip("sklearn.model_selection").ParameterGrid
    points = list(ParameterGrid(GRID))
    assert [r.get_params(deep=True)["max_cost"] for r in results] == [p["max_cost"] for p in points]
    assert [r.template.use_cols for r in results] == [p["template__use_cols"] for p in points]
    assert template.use_cols is None  # the caller's template is not modified
    for r, p in zip(results, points):
        single = dtw.BarthDtw(dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0,
                                              use_cols=p["template__use_cols"]),
                              max_cost=p["max_cost"]).segment(data, FS_SMALL)
        assert np.array_equal(r.matches_start_end_, single.matches_start_end_)
        assert np.array_equal(r.costs_, single.costs_)
        assert all(np.array_equal(a, b) for a, b in zip(r.paths_, single.paths_))
    # points with the same columns share one cost function
    assert results[0].cost_function_ is results[2].cost_function_
    assert results[0].cost_function_ is not results[1].cost_function_


def test_sweep_list_of_dicts_and_postprocessing_params(monkeypatch):
    tpl, data = small_case(n=2500, seed=8)
    template = dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0)
    grid = [
        {"min_match_length_s": [0.4, 0.6], "max_match_length_s": [1.5, 3.0]},
        {"snap_to_min_win_ms": [None, 200], "conflict_resolution": [True, False]},
        {"template__scale": [400.0]},
    ]
    calls = _count_accumulate(monkeypatch)
    results = dtw.sweep(data, FS_SMALL, grid, template=template, n_threads=1)
    assert len(results) == 9
    assert len(calls) == 2  # scale 500 (8 points) and scale 400 (1 point)
    ParameterGrid = pytest.importorskip("sklearn.model_selection").ParameterGrid
    for r, p in zip(results, ParameterGrid(grid)):
        est = dtw.BarthDtw(dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0)).set_params(**p)
        est.segment(data, FS_SMALL)
        assert np.array_equal(r.matches_start_end_, est.matches_start_end_), p


def test_sweep_over_whole_templates():
    tpl, data = small_case(n=2000, seed=10)
    a = dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0)
    b = dtw.DtwTemplate(tpl[["gyr_ml"]], FS_SMALL, scale=500.0)
    res = dtw.sweep(data, FS_SMALL, {"template": [a, b], "max_cost": [3.0]}, template=a)
    for r, t in zip(res, (a, b)):
        ref = dtw.BarthDtw(t, max_cost=3.0).segment(data, FS_SMALL)
        assert np.array_equal(r.matches_start_end_, ref.matches_start_end_)
    assert res[0].template is not a  # estimators get clones
    res = dtw.sweep(data, FS_SMALL, {"template": [a], "template__use_cols": [("gyr_ml",), None]},
                    template=a)
    assert [r.template.use_cols for r in res] == [("gyr_ml",), None] and a.use_cols is None


def test_sweep_with_estimator_and_array_data():
    tpl, data = small_case(n=2000, seed=9)
    base = dtw.BarthDtw(dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0), snap_to_min_win_ms=None)
    res = dtw.sweep(data.to_numpy(), FS_SMALL, {"max_cost": [3.0]}, estimator=base,
                    columns=list(data.columns))
    ref = dtw.BarthDtw(dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0), max_cost=3.0,
                       snap_to_min_win_ms=None).segment(data, FS_SMALL)
    assert np.array_equal(res[0].matches_start_end_, ref.matches_start_end_)
    assert base.max_cost == 4.0


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------


def test_get_set_params_nested():
    tpl, _ = small_case(n=300)
    est = dtw.BarthDtw(dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0))
    params = est.get_params()
    assert params["max_cost"] == 4.0 and params["min_match_length_s"] == 0.6
    assert params["max_match_length_s"] == 3.0 and params["snap_to_min_win_ms"] == 300
    assert params["snap_to_min_axis"] == "gyr_ml" and params["conflict_resolution"] is True
    assert params["resample_template"] is True and params["template__scale"] == 500.0
    est.set_params(max_cost=2.0, template__use_cols=("gyr_ml",))
    assert est.max_cost == 2.0 and est.template.use_cols == ("gyr_ml",)
    # gaitmap's BarthDtw parameters, in gaitmap's order
    assert list(est.get_params(deep=False)) == [
        "template", "resample_template", "find_matches_method", "max_cost", "min_match_length_s",
        "max_match_length_s", "max_template_stretch_ms", "max_signal_stretch_ms",
        "snap_to_min_win_ms", "snap_to_min_axis", "conflict_resolution", "memory"]


def test_unknown_parameters_list_the_valid_ones():
    tpl, data = small_case(n=300)
    est = dtw.BarthDtw(dtw.DtwTemplate(tpl, FS_SMALL))
    with pytest.raises(ValueError, match="unknown parameter 'max_cots'.*valid parameters:.*max_cost"):
        est.set_params(max_cots=1)
    with pytest.raises(ValueError, match="template__usecols.*template__use_cols"):
        est.set_params(template__usecols=("gyr_ml",))
    with pytest.raises(ValueError, match="unknown parameter 'maxcost' in the grid.*max_cost"):
        dtw.sweep(data, FS_SMALL, {"maxcost": [1, 2]}, template=est.template)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_bad_input():
    tpl, data = small_case(n=400)
    template = dtw.DtwTemplate(tpl, FS_SMALL, scale=500.0)
    est = dtw.BarthDtw(template)
    with pytest.raises(ValueError, match=r"template \(50 samples\) is longer than the signal \(40"):
        est.segment(data.iloc[:40], FS_SMALL)
    with pytest.raises(ValueError, match="longer than the signal"):
        dtw.subsequence_cost_matrix(np.zeros(10), np.zeros(5))
    with pytest.raises(ValueError, match=r"missing the column\(s\) \['gyr_si'\]"):
        est.segment(data.drop(columns=["gyr_si"]), FS_SMALL)
    with pytest.raises(ValueError, match=r"missing the column\(s\) \['gyr_ml'\].*snap_to_min_axis"):
        dtw.BarthDtw(dtw.DtwTemplate(tpl[["gyr_pa"]], FS_SMALL)).segment(
            data.drop(columns=["gyr_ml"]), FS_SMALL)
    with pytest.raises(ValueError, match=r"missing the column\(s\) \['gyr_xx'\].*use_cols"):
        dtw.BarthDtw(dtw.DtwTemplate(tpl, FS_SMALL, use_cols=["gyr_xx"])).segment(data, FS_SMALL)
    bad = data.copy()
    bad.loc[17, "gyr_si"] = np.nan
    with pytest.raises(ValueError, match="data column 'gyr_si' must contain only finite values.*17"):
        est.segment(bad, FS_SMALL)
    with pytest.raises(ValueError, match="finite"):
        dtw.subsequence_cost_matrix([0.0, np.nan], np.zeros(5))
    for fs in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="sampling_rate_hz"):
            est.segment(data, fs)
        with pytest.raises(ValueError, match="sampling_rate_hz"):
            dtw.sweep(data, fs, {"max_cost": [1]}, template=template)
    with pytest.raises(ValueError, match="template sampling_rate_hz must be > 0"):
        dtw.BarthDtw(dtw.DtwTemplate(tpl, 0.0)).segment(data, FS_SMALL)
    with pytest.raises(ValueError, match=r"min_match_length_s \(3.0\) must be < max_match_length_s \(1.0\)"):
        dtw.BarthDtw(template, min_match_length_s=3.0, max_match_length_s=1.0).segment(data, FS_SMALL)
    with pytest.raises(ValueError, match="min_match_length_s.*must be <"):
        dtw.sweep(data, FS_SMALL, {"min_match_length_s": [1.0], "max_match_length_s": [1.0]},
                  template=template)
    with pytest.raises(ValueError, match="max_cost must be > 0"):
        dtw.BarthDtw(template, max_cost=-1).segment(data, FS_SMALL)
    with pytest.raises(TypeError, match=r"must be a list \(or array\) of values to try"):
        dtw.sweep(data, FS_SMALL, {"max_cost": 3.0}, template=template)
    with pytest.raises(ValueError, match="same number of channels"):
        dtw.subsequence_cost_matrix(np.zeros((3, 2)), np.zeros((9, 3)))
    with pytest.raises(ValueError, match="columns names 2 columns but data has 6"):
        est.segment(data.to_numpy(), FS_SMALL, columns=["a", "b"])
    with pytest.raises(TypeError, match="DtwTemplate"):
        dtw.BarthDtw(tpl).segment(data, FS_SMALL)
    multi = pd.concat({"left": data, "right": data}, axis=1)
    with pytest.raises(TypeError, match="multi-level columns"):
        dtw.sweep(multi, FS_SMALL, {"max_cost": [3.0]}, template=template)
    with pytest.raises(TypeError, match="columns= is only for an array"):
        est.segment(multi, FS_SMALL, columns=["a"])
    with pytest.raises(ValueError, match="resample_template=True needs the template's sampling_rate_hz"):
        dtw.BarthDtw(dtw.DtwTemplate(tpl, None)).segment(data, FS_SMALL)
    with pytest.raises(ValueError, match="engine must be one of"):
        dtw.subsequence_cost_matrix(np.zeros(2), np.zeros(5), engine="fortran")


def test_acc_cost_mat_before_segment():
    tpl, _ = small_case(n=300)
    with pytest.raises(AttributeError, match="after segment"):
        dtw.BarthDtw(dtw.DtwTemplate(tpl, FS_SMALL)).acc_cost_mat_


def test_synthetic_recording_has_strides():
    rec, borders = dd.recording(5000, seed=2)
    assert rec.shape == (5000, 6) and np.isfinite(rec).all()
    assert len(borders) > 10 and (np.diff(borders, axis=1) > 150).all()
    assert math.isclose(dd.template().shape[0], 200)


_NO_PANDAS = r"""
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is blocked for this test")
sys.meta_path.insert(0, _Block())
import numpy as np
from gilfree import dtw
from gilfree._reference import dtw_data as dd
rec, _ = dd.recording(3000, seed=4, template_samples=50)
tpl = dtw.DtwTemplate(dd.template(50), 51.2, scale=500.0, columns=list(dd.TEMPLATE_AXES))
est = dtw.BarthDtw(tpl).segment(rec, 51.2, columns=list(dd.AXES))
res = dtw.sweep(rec, 51.2, {"max_cost": [3.0, 4.0]}, template=tpl, columns=list(dd.AXES))
assert np.array_equal(res[1].matches_start_end_, est.matches_start_end_)
assert len(est.matches_start_end_) > 5 and "pandas" not in sys.modules
print("ok", len(est.matches_start_end_))
"""


def test_arrays_work_without_pandas():
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _NO_PANDAS], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok")
