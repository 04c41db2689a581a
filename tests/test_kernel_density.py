"""Tests of gilfree.KernelDensity against sklearn.neighbors.KernelDensity.

The reference is sklearn's exact sum: ``rtol=0, atol=0`` and ``leaf_size``
>= n (one leaf, so its tree prunes nothing).  Log densities agree to 1e-11
(absolute, i.e. the densities to rtol 1e-11; measured: 5e-14), except the
cosine kernel in even d, where sklearn's normalisation is not a density and
the two differ by a constant (documented).
"""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import gilfree
from gilfree import KernelDensity
from gilfree._kernel_density import NotFittedError
from gilfree.kde import KERNELS

sk_neighbors = pytest.importorskip("sklearn.neighbors")
SkKernelDensity = sk_neighbors.KernelDensity

LOG_ATOL = 1e-11


def _rng(seed=0):
    return np.random.default_rng(seed)


def _sklearn_scores(X, Q, sample_weight=None, **params):
    """sklearn's exact sum (leaf_size >= n), its -inf outside compact
    supports without the divide-by-zero warning."""
    ref = SkKernelDensity(rtol=0, atol=0, leaf_size=max(40, len(X)), **params)
    ref.fit(X, sample_weight=sample_weight)
    with np.errstate(divide="ignore"):
        return ref, ref.score_samples(Q)


def _assert_same_log_density(ours, ref):
    fin = np.isfinite(ref)
    assert np.array_equal(np.isfinite(ours), fin)
    assert np.array_equal(ours[~fin], ref[~fin])  # -inf outside every support
    np.testing.assert_allclose(ours[fin], ref[fin], rtol=0, atol=LOG_ATOL)


# --------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_score_samples_equal_sklearn_exact_sum(kernel, d):
    if kernel == "cosine" and d == 2:
        pytest.skip("cosine in even d: see test_cosine_even_d_is_a_density")
    rng = _rng(d)
    X = rng.standard_normal((200, d))
    Q = np.concatenate([rng.standard_normal((60, d)) * 1.5, X[:10]])
    w = rng.random(200)
    w[::7] = 0.0
    for bandwidth in (0.35, "silverman"):
        for sw in (None, w):
            ref, expected = _sklearn_scores(X, Q, sw, kernel=kernel, bandwidth=bandwidth)
            est = KernelDensity(kernel=kernel, bandwidth=bandwidth).fit(X, sample_weight=sw)
            assert est.bandwidth_ == ref.bandwidth_
            got = est.score_samples(Q)
            assert got.dtype == np.float64 and got.shape == (len(Q),)
            _assert_same_log_density(got, expected)
            with np.errstate(divide="ignore"):
                total = ref.score(Q)
            if np.isfinite(total):
                np.testing.assert_allclose(est.score(Q), total, rtol=1e-12)
            else:
                assert est.score(Q) == total


def test_bandwidth_rules_are_sklearns_formulas():
    X = _rng().standard_normal((250, 3))
    scott = KernelDensity(bandwidth="scott").fit(X).bandwidth_
    silverman = KernelDensity(bandwidth="silverman").fit(X).bandwidth_
    assert scott == 250 ** (-1 / 7)
    assert silverman == (250 * 5 / 4) ** (-1 / 7)
    # weights do not enter the rules (as in sklearn)
    w = _rng(1).random(250)
    assert KernelDensity(bandwidth="scott").fit(X, sample_weight=w).bandwidth_ == scott


def test_cosine_even_d_is_a_density():
    """sklearn's cosine normalisation is wrong in even d: in d = 2 its
    density is a constant factor (about 2.75) too small; in d = 4 it is NaN.
    gilfree's integrates to 1 (checked on a grid in d = 2)."""
    rng = _rng(3)
    X = rng.standard_normal((200, 2))
    Q = rng.standard_normal((50, 2)) * 0.5
    _, ref = _sklearn_scores(X, Q, kernel="cosine", bandwidth=0.8)
    ours = KernelDensity(kernel="cosine", bandwidth=0.8).fit(X).score_samples(Q)
    offset = ours - ref
    assert np.ptp(offset) < 1e-10
    assert 2.7 < np.exp(offset[0]) < 2.8
    # a Riemann sum of the density over a box containing its support
    g = np.linspace(-5, 5, 201)
    pts = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    dens = np.exp(KernelDensity(kernel="cosine", bandwidth=0.8).fit(X[:20]).score_samples(pts))
    assert abs(dens.sum() * (g[1] - g[0]) ** 2 - 1) < 2e-3
    X4 = rng.standard_normal((50, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, ref4 = _sklearn_scores(X4, X4[:5], kernel="cosine", bandwidth=1.5)
    assert np.isnan(ref4).all()
    assert np.isfinite(KernelDensity(kernel="cosine", bandwidth=1.5).fit(X4).score_samples(X4[:5])).all()


@pytest.mark.parametrize("engine", ["cython", "numba", "numpy"])
def test_engines_threads_and_float32(engine):
    rng = _rng(5)
    X = rng.standard_normal((500, 2))
    Q = rng.standard_normal((70, 2))
    _, ref = _sklearn_scores(X, Q, kernel="epanechnikov", bandwidth=0.6)
    outs = [KernelDensity(kernel="epanechnikov", bandwidth=0.6, engine=engine, n_threads=nt)
            .fit(X).score_samples(Q) for nt in (1, 2)]
    assert np.array_equal(outs[0], outs[1])
    _assert_same_log_density(outs[0], ref)
    fast = KernelDensity(kernel="gaussian", bandwidth=0.6, dtype=np.float32, engine=engine)
    got = fast.fit(X).score_samples(Q)
    assert got.dtype == np.float32
    _, ref_g = _sklearn_scores(X, Q, kernel="gaussian", bandwidth=0.6)
    np.testing.assert_allclose(got, ref_g, rtol=0, atol=1e-4)


def test_tree_parameters_are_accepted_and_change_nothing():
    rng = _rng(7)
    X = rng.standard_normal((120, 2))
    base = KernelDensity(bandwidth=0.5).fit(X).score_samples(X)
    for params in (dict(algorithm="kd_tree"), dict(algorithm="ball_tree"),
                   dict(rtol=1e-3, atol=1e-6), dict(breadth_first=False), dict(leaf_size=2),
                   dict(metric="l2"), dict(metric="minkowski"),
                   dict(metric="minkowski", metric_params={"p": 2})):
        assert np.array_equal(KernelDensity(bandwidth=0.5, **params).fit(X).score_samples(X), base)


# --------------------------------------------------------------------------
# scikit-learn's estimator protocol
# --------------------------------------------------------------------------

# Checks that may not pass, and why.  check_array_api_input needs the
# SCIPY_ARRAY_API environment variable and array-api-compat; gilfree computes
# on NumPy arrays only (its tag array_api_support is False), so sklearn skips it.
ALLOWED_NOT_PASSED = {"check_array_api_input"}


def test_check_estimator():
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks")
    with warnings.catch_warnings():
        # "does not inherit from BaseEstimator": by design (no sklearn import)
        warnings.filterwarnings("ignore", message=".*does not inherit from")
        warnings.filterwarnings("ignore", category=estimator_checks.SkipTestWarning)
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        try:
            results = estimator_checks.check_estimator(KernelDensity(n_threads=1), on_fail=None)
        except TypeError:  # pragma: no cover - sklearn < 1.6 has no on_fail
            estimator_checks.check_estimator(KernelDensity(n_threads=1))
            return
    assert len(results) >= 40
    failed = {r["check_name"]: repr(r["exception"]) for r in results
              if r["status"] != "passed" and r["check_name"] not in ALLOWED_NOT_PASSED}
    assert not failed


def test_grid_search_picks_sklearns_bandwidth():
    model_selection = pytest.importorskip("sklearn.model_selection")
    rng = _rng(11)
    X = np.concatenate([rng.standard_normal((90, 2)), 0.3 * rng.standard_normal((60, 2)) + 2])
    grid = {"bandwidth": [0.05, 0.1, 0.2, 0.4, 0.8, "scott", "silverman"]}
    for kernel in ("gaussian", "epanechnikov"):
        ref = model_selection.GridSearchCV(SkKernelDensity(kernel=kernel, leaf_size=200), grid,
                                           cv=3)
        ours = model_selection.GridSearchCV(KernelDensity(kernel=kernel, n_threads=1), grid, cv=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # -inf scores of tiny compact bandwidths
            ref.fit(X)
            ours.fit(X)
        assert ours.best_params_ == ref.best_params_
        a, b = ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"]
        fin = np.isfinite(b)
        assert np.array_equal(np.isfinite(a), fin)
        np.testing.assert_allclose(a[fin], b[fin], rtol=1e-12)
        assert isinstance(ours.best_estimator_, KernelDensity)
        assert ours.best_estimator_.n_threads == 1


def test_clone_get_set_params_repr():
    base = pytest.importorskip("sklearn.base")
    est = KernelDensity(bandwidth="scott", kernel="tophat", n_threads=2, dtype=np.float32)
    twin = base.clone(est)
    assert twin is not est
    assert twin.get_params() == est.get_params()
    assert sorted(est.get_params()) == sorted(
        list(SkKernelDensity().get_params()) + ["engine", "n_threads", "dtype"])
    assert repr(est) == ("KernelDensity(bandwidth='scott', dtype=<class 'numpy.float32'>, "
                         "kernel='tophat', n_threads=2)")
    assert repr(KernelDensity()) == "KernelDensity()"
    assert est.set_params(bandwidth=0.3, kernel="linear") is est
    assert est.bandwidth == 0.3 and est.kernel == "linear"
    with pytest.raises(ValueError, match="Invalid parameter 'bandwith'.*Valid parameters"):
        est.set_params(bandwith=1.0)
    fitted = KernelDensity(bandwidth=0.5).fit(_rng().standard_normal((30, 2)))
    assert not hasattr(base.clone(fitted), "bandwidth_")
    again = pickle.loads(pickle.dumps(fitted))
    q = _rng(1).standard_normal((5, 2))
    assert np.array_equal(again.score_samples(q), fitted.score_samples(q))


def test_importing_gilfree_does_not_import_sklearn():
    code = "import sys, gilfree; gilfree.KernelDensity(); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_feature_names_and_feature_count():
    pd = pytest.importorskip("pandas")
    rng = _rng(2)
    X = pd.DataFrame(rng.standard_normal((40, 3)), columns=["a", "b", "c"])
    est = KernelDensity(bandwidth=0.7).fit(X)
    assert est.n_features_in_ == 3
    assert list(est.feature_names_in_) == ["a", "b", "c"]
    base = est.score_samples(X)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        assert np.array_equal(est.score_samples(X.to_numpy()), base)
    with pytest.raises(ValueError, match="feature names should match"):
        est.score_samples(X[["c", "b", "a"]])
    plain = KernelDensity(bandwidth=0.7).fit(X.to_numpy())
    assert not hasattr(plain, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but KernelDensity"):
        plain.score_samples(X)
    with pytest.raises(ValueError, match="X has 2 features, but KernelDensity is expecting 3"):
        plain.score_samples(np.zeros((4, 2)))


# --------------------------------------------------------------------------
# sample
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["gaussian", "tophat"])
def test_sample_draws_sklearns_numbers(kernel):
    rng = _rng(4)
    X = rng.standard_normal((60, 3))
    w = rng.random(60)
    for sw in (None, w):
        ref = SkKernelDensity(kernel=kernel, bandwidth=0.4).fit(X, sample_weight=sw)
        est = KernelDensity(kernel=kernel, bandwidth=0.4).fit(X, sample_weight=sw)
        for seed in (0, 7):
            assert np.array_equal(est.sample(25, random_state=seed),
                                  ref.sample(25, random_state=seed))
        assert np.array_equal(est.sample(3, random_state=np.random.RandomState(5)),
                              ref.sample(3, random_state=np.random.RandomState(5)))
    assert est.sample().shape == (1, 3)
    assert est.sample(4, random_state=np.random.default_rng(0)).shape == (4, 3)


@pytest.mark.parametrize("kernel", ["epanechnikov", "exponential", "linear", "cosine"])
def test_sample_other_kernels_not_implemented(kernel):
    est = KernelDensity(kernel=kernel).fit(np.zeros((3, 1)) + np.arange(3)[:, None])
    with pytest.raises(NotImplementedError, match="gaussian"):
        est.sample(2)
    with pytest.raises(NotImplementedError):
        SkKernelDensity(kernel=kernel).fit(np.arange(3.0)[:, None]).sample(2)


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------


def test_bad_parameters_fail_in_fit_with_clear_errors():
    X = _rng().standard_normal((20, 2))
    cases = [
        (dict(bandwidth=-1.0), ValueError, "'bandwidth' parameter"),
        (dict(bandwidth=0), ValueError, "'bandwidth' parameter"),
        (dict(bandwidth="normal_reference"), ValueError, "scott"),
        (dict(bandwidth=True), ValueError, "'bandwidth' parameter"),
        (dict(kernel="gauss"), ValueError, "'kernel' parameter"),
        (dict(algorithm="brute"), ValueError, "'algorithm' parameter"),
        (dict(metric="manhattan"), NotImplementedError, "metric='euclidean'"),
        (dict(metric="minkowski", metric_params={"p": 1}), NotImplementedError, "Euclidean"),
        (dict(metric_params={"w": 1}), NotImplementedError, "Euclidean"),
        (dict(atol=-1), ValueError, "'atol' parameter"),
        (dict(leaf_size=0), ValueError, "'leaf_size' parameter"),
        (dict(breadth_first="yes"), ValueError, "'breadth_first' parameter"),
        (dict(dtype=np.int32), ValueError, "dtype"),
        (dict(engine="gpu"), ValueError, "engine"),
    ]
    for params, exc, match in cases:
        est = KernelDensity(**params)  # parameters are stored unchecked (sklearn's rule)
        with pytest.raises(exc, match=match):
            est.fit(X)
    with pytest.raises(ValueError, match="n_threads"):
        KernelDensity(n_threads=0).fit(X)


def test_bad_data():
    est = KernelDensity()
    with pytest.raises(NotFittedError, match="not fitted yet") as info:
        est.score_samples(np.zeros((2, 2)))
    assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        est.fit(np.arange(5.0))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.fit(np.array([[0.0], [np.nan]]))
    with pytest.raises(ValueError, match="0 sample"):
        est.fit(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="sample_weight.shape"):
        est.fit(np.zeros((3, 1)), sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="Negative values"):
        est.fit(np.zeros((3, 1)), sample_weight=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="all zero"):
        est.fit(np.zeros((3, 1)), sample_weight=np.zeros(3))
    est.fit(np.zeros((3, 1)) + np.arange(3)[:, None])
    with pytest.raises(ValueError, match="n_samples"):
        est.sample(-1)
    with pytest.raises(ValueError, match="cannot be used to seed"):
        est.sample(1, random_state="seed")
    assert isinstance(gilfree.KernelDensity(), KernelDensity)
