"""The ceiling probes (gilfree._probes): they run in the SIMD variant the
kernels use, compute what they claim, and report sane throughputs.  No
timing assertions: only that the numbers exist and are positive."""

import numpy as np
import pytest

from gilfree import _cy, _probes


def test_every_probe_runs_in_the_kernels_variant():
    results = _probes.run_all(repeats=1, min_seconds=0.0)
    assert set(results) == set(_probes.names())
    for name, res in results.items():
        assert res.name == name
        assert res.per_second > 0 and np.isfinite(res.per_second)
        assert res.simd == _cy.simd_level()
        assert res.unit and res.family
        assert res.as_dict()["per_second"] == res.per_second


def test_unknown_probe_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown probe 'nope'"):
        _probes.run("nope")


def test_thread_seconds_repeats_until_min_seconds():
    calls = []
    per_call = _probes.thread_seconds(lambda: calls.append(sum(range(2000))), repeats=2,
                                      min_seconds=0.002)
    assert per_call > 0 and len(calls) >= 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("sq", [False, True])
def test_kde_probe_computes_the_kernel_sum(dtype, d, sq):
    rng = np.random.default_rng(d)
    n, m = 203, 7
    xs = np.ascontiguousarray(rng.uniform(-2, 2, (d, n)), dtype=dtype)
    w = np.ascontiguousarray(rng.uniform(0, 1, n), dtype=dtype)
    q = np.ascontiguousarray(rng.uniform(-2, 2, (m, d)), dtype=dtype)
    got = _cy.load("kde").probe(xs, w, q, -0.7, sq, 2)
    x64, q64 = xs.astype(np.float64), q.astype(np.float64)
    a = ((q64[:, :, None] - x64[None, :, :]) ** 2).sum(axis=1)
    if sq:
        a = np.sqrt(a)
    want = (w.astype(np.float64)[None, :] * np.exp(-0.7 * a)).sum(axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_kde_probe_checks_its_input():
    mod = _cy.load("kde")
    xs = np.zeros((4, 8))
    with pytest.raises(ValueError, match="dimension must be 1, 2 or 3"):
        mod.probe(xs, np.zeros(8), np.zeros((2, 4)), -0.5, False, 1)
    with pytest.raises(ValueError, match="points 3-D"):
        mod.probe(np.zeros((2, 8)), np.zeros(8), np.zeros((2, 3)), -0.5, False, 1)


@pytest.mark.parametrize("taps", [1, 3, 8])
def test_resize_probe_computes_the_taps(taps):
    rng = np.random.default_rng(taps)
    mod = _cy.load("resize")
    src = rng.integers(0, 256, (taps, 37), dtype=np.uint8)
    k = rng.integers(0, 1 << 20, taps).astype(np.int32)
    got = mod.probe(src, np.empty(37, np.uint8), k, 2)
    want = np.clip(((1 << 21) + (src.astype(np.int64) * k[:, None]).sum(0)) >> 22, 0, 255)
    np.testing.assert_array_equal(got, want)
    f = src.astype(np.float32)
    kf = rng.uniform(0, 1, taps)
    got = mod.probe(f, np.empty(37, np.float32), kf, 1)
    np.testing.assert_allclose(got, (f * kf[:, None]).sum(0), rtol=1e-6)
    np.testing.assert_allclose(mod.probe(f, np.empty(37, np.float32), None, 1), f.mean(0),
                               rtol=1e-6)
    means = mod.probe(src, np.empty(37, np.uint8), None, 1)
    assert np.abs(means.astype(int) - src.mean(0)).max() <= 1
    with pytest.raises(ValueError, match="weights for"):
        mod.probe(src, np.empty(37, np.uint8), k[:-1] if taps > 1 else k[:0], 1)


def test_parzen_probe_counts_like_the_kernel():
    import importlib

    parzen = importlib.import_module("gilfree.parzen")
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (300, 2))
    q = rng.uniform(-0.5, 0.5, (4, 2))
    h = np.array([0.2, 0.5, 1.1])
    plan = parzen._make_plan(x, np.ascontiguousarray(np.sort(0.5 * h)), None, 1)
    hist = _cy.load("parzen").probe(np.ascontiguousarray(x.T), q, plan, 1)
    counts = np.cumsum(hist)[:-1]
    import gilfree

    gilfree_counts = gilfree.parzen_counts(x, q, h, engine="numpy").sum(axis=0)
    np.testing.assert_array_equal(counts, gilfree_counts)


def test_dtw_probe_is_the_accumulated_cost():
    import importlib

    dtw = importlib.import_module("gilfree.dtw")
    rng = np.random.default_rng(8)
    for M, W, d in ((9, 31, 1), (12, 12, 3), (40, 97, 2)):
        t = rng.standard_normal((M, d))
        s = rng.standard_normal((W, d))
        got = _cy.load("dtw").probe(np.ascontiguousarray(t.T),
                                    np.ascontiguousarray(s[::-1].T), 1)
        want = dtw.subsequence_cost_matrix(t, s, engine="numpy")[-1, -1]
        assert got == pytest.approx(want, rel=1e-12)


def test_tiles_probe_counts_the_luma_rule():
    rng = np.random.default_rng(9)
    rgb = rng.integers(0, 256, (1001, 3), dtype=np.uint8)
    luma = rgb.astype(np.int64) @ np.array([19595, 38470, 7471])
    assert _cy.load("tiles").probe(rgb, 200, 2) == int((luma < 200 * 65536).sum())


def test_resample_probe_sums_the_taps():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((5, 33))
    h = rng.standard_normal(5)
    got = _cy.load("resample").probe(x, h, np.empty(33), 3)
    np.testing.assert_allclose(got, h @ x, rtol=1e-13)


def test_fraction_reports_both_throughputs():
    res = _probes.fraction(lambda: sum(range(1000)), 1000, "tiles", repeats=1)
    assert res["fraction"] > 0 and res["unit"] == "pixels" and res["probe"] == "tiles"
    assert res["per_second"] == pytest.approx(res["fraction"] * res["probe_per_second"])


def test_probe_params_are_checked_and_recorded():
    res = _probes.run("resize-taps-u8", repeats=1, taps=4)
    assert res.params == {"taps": 4}
    with pytest.raises(TypeError, match="probe 'tiles'"):
        _probes.run("tiles", taps=3)


def test_work_counters():
    total, per_output = _probes.resize_taps((1024, 1024), (64, 64), "bilinear")
    assert total > 64 * 64 and 30 < per_output < 36
    taps, per = _probes.resample_poly_taps(1000, 1000, 2048)
    assert taps > 0 and per > 1
    rng = np.random.default_rng(11)
    x = rng.standard_normal((500, 2))
    n = _probes.parzen_candidates(x, x[:100], [0.2, 0.4])
    assert 0 < n < 500 * 100


def test_bench_workloads_map_to_probes():
    from gilfree.bench._core import all_workloads

    names = {wl.name for wl in all_workloads()}
    assert set(_probes.WORKLOAD_PROBES) <= names
    assert set(_probes.WORKLOAD_PROBES.values()) <= set(_probes.names())
    got = _probes.for_workload("tiles", repeats=1)
    assert got["unit"] == "pixels" and got["per_second"] > 0
    assert _probes.for_workload("io") is None
