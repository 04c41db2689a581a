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
