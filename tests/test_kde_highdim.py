"""gaussian_kde in many dimensions: the matrix-product path
(gilfree._kde_highdim) agrees with scipy and with the compiled kernels."""

import numpy as np
import pytest

import gilfree
from gilfree import _config, _kde_highdim

scipy_stats = pytest.importorskip("scipy.stats")


def _data(d, n, m, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(d, n)) + np.arange(d)[:, None]
    x[1] += 0.3 * x[0]
    q = rng.normal(size=(d, m)) * 1.3 + np.arange(d)[:, None]
    return x, q


@pytest.mark.parametrize("weighted", [False, True])
def test_matrix_product_path_matches_scipy(weighted):
    d = _config.KDE_GEMM_MIN_DIM + 7
    x, q = _data(d, 600, 40)
    w = np.random.default_rng(1).uniform(0.1, 1, 600) if weighted else None
    assert _kde_highdim.applies(d)
    ref = scipy_stats.gaussian_kde(x, weights=w)
    ours = gilfree.gaussian_kde(x, weights=w)
    np.testing.assert_allclose(ours.logpdf(q), ref.logpdf(q), rtol=1e-10)
    want = ref.evaluate(q)
    big = want > 1e-300
    np.testing.assert_allclose(ours.evaluate(q)[big], want[big], rtol=1e-10)


def test_matrix_product_path_matches_the_kernels(monkeypatch):
    d = _config.KDE_GEMM_MIN_DIM
    x, q = _data(d, 700, 30, seed=2)
    k = gilfree.gaussian_kde(x, n_threads=2)
    fast = k.logpdf(q), k.evaluate(q)
    monkeypatch.setattr(_config, "KDE_GEMM_MIN_DIM", 10**9)
    exact = k.logpdf(q), k.evaluate(q)
    np.testing.assert_allclose(fast[0], exact[0], rtol=1e-11)
    np.testing.assert_allclose(fast[1], exact[1], rtol=1e-10, atol=1e-300)


def test_far_points_use_the_exact_kernel(monkeypatch):
    d = _config.KDE_GEMM_MIN_DIM
    x, q = _data(d, 300, 5, seed=3)
    q[:, 0] += 1e4  # far away: |q|^2 + |x|^2 - 2 q.x would lose every digit
    k = gilfree.gaussian_kde(x)
    calls = []
    real = _kde_highdim.gaussian_sum

    def spy(xw, w, qw, log, n_threads, exact):
        def exact_spy(idx):
            calls.append(idx)
            return exact(idx)
        return real(xw, w, qw, log, n_threads, exact_spy)

    monkeypatch.setattr(_kde_highdim, "gaussian_sum", spy)
    got = k.logpdf(q)
    assert [list(c) for c in calls] == [[0]]
    ref = scipy_stats.gaussian_kde(x).logpdf(q)
    np.testing.assert_allclose(got[1:], ref[1:], rtol=1e-10)
    assert np.isfinite(got[0])  # scipy's logpdf overflows to -inf there; ours is finite


def test_float32_mode_in_many_dimensions():
    d = _config.KDE_GEMM_MIN_DIM + 1
    x, q = _data(d, 400, 20, seed=4)
    got = gilfree.gaussian_kde(x, dtype=np.float32).logpdf(q)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, scipy_stats.gaussian_kde(x).logpdf(q), rtol=1e-4)


@pytest.mark.parametrize("d", [_config.KDE_WHITEN_BLOCK - 1, _config.KDE_WHITEN_BLOCK,
                               2 * _config.KDE_WHITEN_BLOCK + 3])
def test_blocked_whitening_solves_the_triangle(d):
    rng = np.random.default_rng(d)
    a = rng.normal(size=(d, d))
    chol = np.linalg.cholesky(a @ a.T + d * np.eye(d))
    x = rng.normal(size=(50, d))
    y = _kde_highdim.whiten(chol, x)
    np.testing.assert_allclose(y @ chol.T, x, rtol=1e-12, atol=1e-12)
