"""Tests of gilfree.kde and gilfree.gaussian_kde.

References: ``scipy.stats.gaussian_kde`` and
``sklearn.neighbors.KernelDensity`` when installed (test extra), and a slow,
obviously-right oracle of our own (extended precision, one pair at a time)
always.

Note on the sklearn reference: ``KernelDensity(rtol=0, atol=0)`` is not
exact with its default tree (its node bounds still prune: we measured
relative errors up to 1e-6 at low densities, and ~1e-16 "densities" at
points outside every compact support).  With ``leaf_size`` >= n the tree
is one leaf and sklearn sums every pair exactly; that is the reference here.
"""

import math
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gilfree
from gilfree import _config
from gilfree.kde import KERNELS, SingularCovarianceError, _log_kernel_norm

from conftest import COMPILED, ENGINES, dyadic

scipy_stats = pytest.importorskip("scipy.stats")
try:
    from sklearn.neighbors import KernelDensity
except ImportError:  # pragma: no cover - sklearn is in the test extra
    KernelDensity = None


def _rng(seed=0):
    return np.random.default_rng(seed)


def _sizes(engine):
    """(n, m) small enough for the python engine, bigger (several chunks,
    several point blocks, a padded tail) for the others."""
    if engine == "python":
        return 150, 40
    return _config.KDE_CHUNK + 37, 2 * _config.KDE_POINT_BLOCK + 5


# --------------------------------------------------------------------------
# our own oracle: extended precision, pair by pair
# --------------------------------------------------------------------------


def oracle_kde(x, q, h, kernel, w=None):
    """sklearn's definition, computed directly in long double."""
    x = np.asarray(x, dtype=np.longdouble)
    q = np.asarray(q, dtype=np.longdouble)
    n, d = x.shape
    w = np.ones(n, dtype=np.longdouble) if w is None else np.asarray(w, dtype=np.longdouble)
    h = np.longdouble(h)
    out = []
    for p in range(q.shape[0]):
        dist = np.sqrt(((x - q[p]) ** 2).sum(axis=1))
        u = dist / h
        inside = (dist.astype(np.float64) < np.float64(h))
        if kernel == "gaussian":
            k = np.exp(-0.5 * u * u)
        elif kernel == "exponential":
            k = np.exp(-u)
        elif kernel == "tophat":
            k = np.where(inside, 1.0, 0.0)
        elif kernel == "epanechnikov":
            k = np.where(inside, 1 - u * u, 0.0)
        elif kernel == "linear":
            k = np.where(inside, 1 - u, 0.0)
        else:
            k = np.where(inside, np.cos(np.pi / 2 * np.minimum(u, 1)), 0.0)
        out.append((w * k).sum() / w.sum())
    return np.array(out, dtype=np.longdouble) * np.exp(
        np.longdouble(_log_kernel_norm(np.array([float(h)]), d, kernel)[0])
    )


def sklearn_kde(x, q, h, kernel, w=None, log=False):
    if KernelDensity is None:
        pytest.skip("scikit-learn is not installed")
    est = KernelDensity(kernel=kernel, bandwidth=h, rtol=0, atol=0, leaf_size=len(x) + 1)
    s = est.fit(x, sample_weight=w).score_samples(q)
    return s if log else np.exp(s)


def oracle_gaussian_kde(dataset, points, cov, weights):
    """scipy's definition directly in long double: mean of N(x_i, cov) pdfs."""
    x = np.asarray(dataset, dtype=np.longdouble).T
    q = np.asarray(points, dtype=np.longdouble).T
    inv = np.linalg.inv(cov).astype(np.longdouble)
    norm = 1 / np.sqrt(np.longdouble(np.linalg.det(2 * np.pi * cov)))
    out = []
    for p in range(q.shape[0]):
        diff = x - q[p]
        t = np.einsum("ij,jk,ik->i", diff, inv, diff)
        out.append((np.asarray(weights, dtype=np.longdouble) * np.exp(-0.5 * t)).sum())
    return np.array(out) * norm


# --------------------------------------------------------------------------
# build state
# --------------------------------------------------------------------------


def test_compiled_engines_present():
    from gilfree import _cy

    mod = _cy.load("kde")
    assert mod.OPENMP, "gilfree._cy.kde was built without OpenMP"
    assert _config.KDE_LANES == mod.LANES_ and _config.KDE_CHUNK == mod.CHUNK_
    assert gilfree.show_config(mode="dicts", probe_numba=False)["engines"]["kde"]["cython"] is True


# --------------------------------------------------------------------------
# gaussian_kde against scipy
# --------------------------------------------------------------------------

BW_METHODS = [None, "scott", "silverman", 0.3, lambda k: 0.5 * k.scotts_factor()]
BW_IDS = ["default", "scott", "silverman", "scalar", "callable"]


@pytest.mark.parametrize("d", [1, 2, 3, 5])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("bw", BW_METHODS, ids=BW_IDS)
def test_gaussian_kde_matches_scipy(d, weighted, bw, engine, n_threads):
    rng = _rng(d)
    n, m = _sizes(engine)
    data = rng.standard_normal((d, n)) * np.linspace(1, 3, d)[:, None] + 5.0
    if d > 1:
        data[1] += 0.5 * data[0]  # correlated: a full covariance
    pts = rng.standard_normal((d, m)) * 2 + 5.0
    w = rng.random(n) + 0.1 if weighted else None
    ref = scipy_stats.gaussian_kde(data, bw_method=bw, weights=w)
    ours = gilfree.gaussian_kde(data, bw_method=bw, weights=w, engine=engine,
                                n_threads=n_threads)
    np.testing.assert_allclose(ours.factor, ref.factor, rtol=1e-14)
    np.testing.assert_allclose(ours.covariance, ref.covariance, rtol=1e-12)
    np.testing.assert_allclose(ours.neff, ref.neff, rtol=1e-14)
    np.testing.assert_allclose(ours.weights, ref.weights, rtol=1e-15)
    got, want = ours.evaluate(pts), ref.evaluate(pts)
    assert got.dtype == np.float64 and got.shape == (m,)
    big = want > 1e-300
    np.testing.assert_allclose(got[big], want[big], rtol=1e-10)
    np.testing.assert_allclose(ours.logpdf(pts)[big], ref.logpdf(pts)[big], rtol=0, atol=1e-10)


def test_gaussian_kde_attributes_and_methods():
    rng = _rng(3)
    data = rng.standard_normal((2, 300))
    data[1] += data[0]
    ref = scipy_stats.gaussian_kde(data)
    ours = gilfree.gaussian_kde(data)
    for name in ("d", "n"):
        assert getattr(ours, name) == getattr(ref, name)
    np.testing.assert_array_equal(ours.dataset, ref.dataset)
    for name in ("covariance", "inv_cov", "cho_cov"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-12)
    np.testing.assert_allclose(ours.log_det, ref.log_det, rtol=1e-13)
    np.testing.assert_allclose(ours.scotts_factor(), ref.scotts_factor(), rtol=1e-15)
    np.testing.assert_allclose(ours.silverman_factor(), ref.silverman_factor(), rtol=1e-15)
    pts = rng.standard_normal((2, 7))
    for meth in ("evaluate", "__call__", "pdf"):
        np.testing.assert_allclose(getattr(ours, meth)(pts), getattr(ref, meth)(pts),
                                   rtol=1e-10)
    # set_bandwidth in every form, as scipy
    for bw in ("silverman", 0.2, lambda k: k.silverman_factor() / 2, "scott"):
        ours.set_bandwidth(bw)
        ref.set_bandwidth(bw)
        assert ours.factor == pytest.approx(ref.factor, rel=1e-15)
        np.testing.assert_allclose(ours(pts), ref(pts), rtol=1e-10)
    ours.set_bandwidth(None)  # keeps the method
    np.testing.assert_allclose(ours(pts), ref(pts), rtol=1e-10)
    # one point as a (d,) vector; d == 1 with a 1-D array of points
    np.testing.assert_allclose(ours(pts[:, 0]), ref(pts[:, 0]), rtol=1e-10)
    k1 = gilfree.gaussian_kde(data[0])
    np.testing.assert_allclose(k1(pts[0]), scipy_stats.gaussian_kde(data[0])(pts[0]),
                               rtol=1e-10)
    # resample (same random numbers) and marginal
    np.testing.assert_allclose(ours.resample(50, seed=3), ref.resample(50, seed=3),
                               rtol=1e-12)
    np.testing.assert_allclose(ours.marginal(1)(pts[1]), ref.marginal(1)(pts[1]),
                               rtol=1e-10)


def test_gaussian_kde_subclass_covariance_factor():
    """Overriding covariance_factor in a subclass works as with scipy."""

    class Fixed(gilfree.gaussian_kde):
        def covariance_factor(self):
            return 0.25

    data = _rng(4).standard_normal(200)
    assert Fixed(data).factor == 0.25
    np.testing.assert_allclose(Fixed(data)([0.0, 1.0]),
                               scipy_stats.gaussian_kde(data, 0.25)([0.0, 1.0]), rtol=1e-10)


def test_gaussian_kde_matches_oracle():
    rng = _rng(5)
    data = rng.standard_normal((3, 400))
    data[2] -= 0.7 * data[1]
    w = rng.random(400)
    pts = rng.standard_normal((3, 25)) * 1.5
    k = gilfree.gaussian_kde(data, weights=w)
    want = oracle_gaussian_kde(data, pts, k.covariance, k.weights)
    np.testing.assert_allclose(k(pts), want.astype(np.float64), rtol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_logpdf_tails_stay_finite(engine):
    """Far in the tails the pdf underflows to 0; logpdf stays finite and equals
    the exact log-sum-exp (and scipy's logpdf)."""
    rng = _rng(6)
    data = rng.standard_normal((2, 300))
    k = gilfree.gaussian_kde(data, engine=engine)
    ref = scipy_stats.gaussian_kde(data)
    pts = np.array([[0.0, 30.0, 200.0, -1e3, 5e3], [0.0, 30.0, -50.0, 2e3, 0.0]])
    assert (k.pdf(pts)[2:] == 0).all()
    lp = k.logpdf(pts)
    assert np.isfinite(lp).all()
    np.testing.assert_allclose(lp, ref.logpdf(pts), rtol=1e-12)
    # exact: log sum_i w_i N(q; x_i, cov) by hand
    x = data.T
    inv = np.linalg.inv(k.covariance)
    logn = -0.5 * np.log(np.linalg.det(2 * np.pi * k.covariance))
    for p, q in enumerate(pts.T):
        diff = x - q
        v = -0.5 * np.einsum("ij,jk,ik->i", diff, inv, diff) + np.log(k.weights)
        top = v.max()
        want = top + np.log(np.exp(v - top).sum()) + logn
        assert lp[p] == pytest.approx(want, rel=1e-12, abs=1e-10)


def test_gaussian_kde_float32_mode(engine, n_threads):
    rng = _rng(7)
    n, m = _sizes(engine)
    data = rng.standard_normal((2, n)) + 100.0  # an offset: centring must handle it
    pts = rng.standard_normal((2, m)) * 1.5 + 100.0
    ref = scipy_stats.gaussian_kde(data)
    k = gilfree.gaussian_kde(data, dtype=np.float32, engine=engine, n_threads=n_threads)
    got = k(pts)
    assert got.dtype == np.float32
    want = ref(pts)
    big = want > 1e-30
    np.testing.assert_allclose(got[big], want[big], rtol=1e-4)
    lp = k.logpdf(pts)
    assert lp.dtype == np.float32
    np.testing.assert_allclose(lp, ref.logpdf(pts), rtol=1e-5, atol=1e-4)


# --------------------------------------------------------------------------
# kde against sklearn and the oracle
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("d", [1, 2, 3, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_kde_matches_sklearn(kernel, d, weighted, engine, n_threads):
    rng = _rng(10 + d)
    n, m = _sizes(engine)
    x = rng.standard_normal((n, d))
    q = rng.standard_normal((m, d)) * 1.3
    q[0] = x[3]  # a point on a sample
    w = rng.random(n) if weighted else None
    h = 0.5 * math.sqrt(d)
    if kernel == "cosine" and d % 2 == 0:
        # sklearn's cosine normalisation is wrong in even d (see
        # test_kernels_integrate_to_one): compare with the oracle there
        want = oracle_kde(x, q, h, kernel, w).astype(np.float64)
        with np.errstate(divide="ignore"):
            lwant = np.log(want)
    else:
        want = sklearn_kde(x, q, h, kernel, w)
        lwant = sklearn_kde(x, q, h, kernel, w, log=True)
    got = gilfree.kde(x, q, h, kernel=kernel, weights=w, engine=engine, n_threads=n_threads)
    assert got.shape == (m,) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300)
    lgot = gilfree.kde(x, q, h, kernel=kernel, weights=w, log=True, engine=engine,
                       n_threads=n_threads)
    fin = np.isfinite(lwant)
    np.testing.assert_array_equal(np.isfinite(lgot), fin)
    np.testing.assert_allclose(lgot[fin], lwant[fin], rtol=0, atol=1e-10)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_kernels_integrate_to_one(kernel, d):
    """The normalisation makes each kernel a density (the cosine kernel in
    even d too, where scikit-learn's closed form is wrong): the mass of one
    kernel, integrated radially, is 1."""
    h = 0.8
    r = (np.arange(200000) + 0.5) * (40 * h / 200000)  # midpoints out to 40 h
    dens = gilfree.kde(np.zeros((1, d)), np.c_[r, np.zeros((r.size, d - 1))], h,
                       kernel=kernel)
    shell = 2 * math.pi ** (d / 2) / math.gamma(d / 2) * r ** (d - 1)  # sphere area
    mass = (dens * shell).sum() * (r[1] - r[0])
    assert mass == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("kernel", KERNELS)
def test_kde_matches_oracle(kernel):
    rng = _rng(20)
    x = rng.standard_normal((300, 3))
    q = rng.standard_normal((20, 3))
    w = rng.random(300)
    got = gilfree.kde(x, q, 0.9, kernel=kernel, weights=w)
    want = oracle_kde(x, q, 0.9, kernel, w).astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15 * want.max())


@pytest.mark.parametrize("kernel", ["tophat", "epanechnikov", "linear", "cosine"])
def test_compact_kernels_ties_are_strict(kernel, engine):
    """Dyadic data: many samples exactly at dist == h (which must not count,
    as sklearn's ``dist < h``) or a hair inside.  Counts are exact."""
    rng = _rng(21)
    x = dyadic(rng, (120 if engine == "python" else 3000, 2), scale=8)
    q = dyadic(rng, (40, 2), scale=8)
    h = 0.5  # 3-4-5 triangles and axis neighbours land exactly on the boundary
    got = gilfree.kde(x, q, h, kernel=kernel, engine=engine)
    if kernel == "cosine":  # sklearn's normalisation is wrong in d = 2
        want = oracle_kde(x, q, h, kernel).astype(np.float64)
    else:
        want = sklearn_kde(x, q, h, kernel)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)
    if kernel == "tophat":
        dist = np.sqrt(((x[None, :, :] - q[:, None, :]) ** 2).sum(-1))
        counts = (dist < h).sum(1)
        norm = math.exp(_log_kernel_norm(np.array([h]), 2, "tophat")[0])
        np.testing.assert_array_equal(np.rint(got / norm * len(x)).astype(int), counts)


@pytest.mark.parametrize("kernel", KERNELS)
def test_bandwidth_sweep_equals_single_calls(kernel, engine):
    rng = _rng(22)
    n = 200 if engine == "python" else 3000
    x = rng.standard_normal((n, 2))
    q = rng.standard_normal((30, 2))
    hs = np.array([0.7, 0.1, 0.3, 1.5, 0.3])  # unsorted, with a repeat
    sweep = gilfree.kde(x, q, hs, kernel=kernel, engine=engine)
    assert sweep.shape == (30, 5)
    for k, h in enumerate(hs):
        np.testing.assert_allclose(sweep[:, k], gilfree.kde(x, q, h, kernel=kernel,
                                                             engine=engine), rtol=1e-13)
    lsweep = gilfree.kde(x, q, hs, kernel=kernel, engine=engine, log=True)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(lsweep, np.log(sweep), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", ["gaussian", "exponential"])
def test_kde_log_tails(kernel, engine):
    rng = _rng(23)
    x = rng.standard_normal((100, 2))
    q = np.array([[0.0, 0.0], [80.0, 0.0], [0.0, -3e3]])
    got = gilfree.kde(x, q, 0.2, kernel=kernel, log=True, engine=engine)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, sklearn_kde(x, q, 0.2, kernel, log=True), rtol=1e-12)


def test_kde_float32_mode(engine):
    rng = _rng(24)
    x = rng.standard_normal((300, 2)) + 50
    q = rng.standard_normal((40, 2)) + 50
    for kernel in KERNELS:
        got = gilfree.kde(x, q, [0.4, 0.9], kernel=kernel, dtype=np.float32, engine=engine)
        assert got.dtype == np.float32
        want = gilfree.kde(x, q, [0.4, 0.9], kernel=kernel, engine="numpy")
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * want.max())


# --------------------------------------------------------------------------
# threads: results never depend on them; concurrent calls are safe
# --------------------------------------------------------------------------


@pytest.mark.parametrize("engine", COMPILED)
@pytest.mark.parametrize("m", [1, 3, 200])  # few points: chunks spread over threads
def test_thread_count_never_changes_results(engine, m):
    rng = _rng(30)
    x = rng.standard_normal((5 * _config.KDE_CHUNK + 3, 2))
    q = rng.standard_normal((m, 2))
    k = {nt: gilfree.gaussian_kde(x.T, engine=engine, n_threads=nt) for nt in (1, 2, 3)}
    for meth in ("evaluate", "logpdf"):
        base = getattr(k[1], meth)(q.T)
        for nt in (2, 3):
            np.testing.assert_array_equal(getattr(k[nt], meth)(q.T), base)
    for kernel in KERNELS:
        base = gilfree.kde(x, q, [0.2, 0.5], kernel=kernel, engine=engine, n_threads=1)
        for nt in (2, 3):
            np.testing.assert_array_equal(
                gilfree.kde(x, q, [0.2, 0.5], kernel=kernel, engine=engine, n_threads=nt),
                base)


@pytest.mark.parametrize("engine", COMPILED)
def test_eight_threads_evaluate_concurrently(engine):
    rng = _rng(31)
    data = rng.standard_normal((2, 3000))
    k = gilfree.gaussian_kde(data, engine=engine, n_threads=2)
    pts = [rng.standard_normal((2, 300)) for _ in range(8)]
    serial = [k(p) for p in pts]
    serial_log = [k.logpdf(p) for p in pts]
    results = [None] * 8
    errors = []
    barrier = threading.Barrier(8)

    def work(i):
        try:
            barrier.wait()
            for _ in range(3):
                results[i] = (k(pts[i]), k.logpdf(pts[i]),
                              gilfree.kde(data.T, pts[i].T, 0.3, kernel="epanechnikov",
                                          engine=engine, n_threads=2))
        except Exception as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(8):
        np.testing.assert_array_equal(results[i][0], serial[i])
        np.testing.assert_array_equal(results[i][1], serial_log[i])
        np.testing.assert_array_equal(
            results[i][2], gilfree.kde(data.T, pts[i].T, 0.3, kernel="epanechnikov",
                                       engine=engine, n_threads=1))


@pytest.mark.parametrize("func", ["exp_sum", "exp_logsum"])
@pytest.mark.parametrize("engine", COMPILED)
def test_kernel_releases_the_gil(engine, func):
    """While one thread is inside a kernel, another Python thread keeps
    running (it counts loop iterations the whole time)."""
    import time

    rng = _rng(32)
    n = 16 * _config.KDE_CHUNK
    xs = rng.standard_normal((2, n))
    w = np.full(n, 1.0 / n) if func == "exp_sum" else np.full(n, -math.log(n))
    q = rng.standard_normal((3000, 2))
    c = np.array([0.5])
    _, mod, _ = _config.select("kde", engine, 1)
    kernel = getattr(mod, func)
    kernel(xs, w, q[:2], c, False, np.empty((2, 1)), 1)  # compile / warm
    done = threading.Event()
    ticks = []

    def spin():
        k = 0
        while not done.is_set():
            k += 1
        ticks.append(k)

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        t0 = time.perf_counter()
        kernel(xs, w, q, c, False, np.empty((3000, 1)), 1)
        elapsed = time.perf_counter() - t0
    finally:
        done.set()
        spinner.join()
    # a GIL-holding kernel would leave the spinner ~0 iterations meanwhile
    assert ticks[0] > 1000 * elapsed, (ticks[0], elapsed)


# --------------------------------------------------------------------------
# engines agree on random shapes (hypothesis)
# --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 150),
    m=st.integers(0, 40),
    d=st.integers(1, 4),
    H=st.integers(1, 4),
    kernel=st.sampled_from(KERNELS),
    seed=st.integers(0, 2**16),
)
def test_engines_agree_on_random_shapes(n, m, d, H, kernel, seed):
    rng = _rng(seed)
    x = rng.standard_normal((n, d))
    q = rng.standard_normal((m, d))
    hs = rng.uniform(0.05, 2.0, H)
    want = gilfree.kde(x, q, hs, kernel=kernel, engine="python")
    assert want.shape == (m, H)
    for engine in ("numpy", "numba", "cython"):
        got = gilfree.kde(x, q, hs, kernel=kernel, engine=engine, n_threads=2)
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-300)


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------


def test_bad_dataset():
    with pytest.raises(ValueError, match="at least 2 samples"):
        gilfree.gaussian_kde([1.0])
    with pytest.raises(ValueError, match="at least 2 samples"):
        gilfree.gaussian_kde(np.ones((3, 1)))
    with pytest.raises(ValueError, match="transpose"):
        gilfree.gaussian_kde(_rng().standard_normal((5, 3)))
    with pytest.raises(ValueError, match="finite"):
        gilfree.gaussian_kde([1.0, np.nan, 2.0])
    with pytest.raises(TypeError, match="dataset"):
        gilfree.gaussian_kde(["a", "b"])
    with pytest.raises(ValueError, match="1-D .* or 2-D"):
        gilfree.gaussian_kde(np.ones((2, 2, 2)))


def test_singular_covariance_is_explained():
    x = _rng().standard_normal(50)
    for data in (np.vstack([x, 2 * x]), np.ones((1, 10)), np.vstack([x, np.ones(50)])):
        with pytest.raises(SingularCovarianceError, match="PCA") as info:
            gilfree.gaussian_kde(data)
        # catchable as scipy users catch it, and as a ValueError
        assert isinstance(info.value, np.linalg.LinAlgError)
        assert isinstance(info.value, ValueError)


def test_bad_points_and_weights():
    data = _rng().standard_normal((2, 40))
    k = gilfree.gaussian_kde(data)
    with pytest.raises(ValueError, match="points have dimension 3, dataset has dimension 2"):
        k(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="finite"):
        k([[0.0, np.inf], [0.0, 0.0]])
    with pytest.raises(ValueError, match=r"shape \(40,\)"):
        gilfree.gaussian_kde(data, weights=np.ones(39))
    with pytest.raises(ValueError, match=">= 0"):
        gilfree.gaussian_kde(data, weights=-np.ones(40))
    with pytest.raises(ValueError, match="all zero"):
        gilfree.gaussian_kde(data, weights=np.zeros(40))
    with pytest.raises(ValueError, match="bw_method"):
        gilfree.gaussian_kde(data, bw_method="scot")
    with pytest.raises(ValueError, match="> 0"):
        gilfree.gaussian_kde(data, bw_method=0.0)
    with pytest.raises(ValueError, match="> 0"):
        gilfree.gaussian_kde(data, bw_method=lambda k: -1.0)
    with pytest.raises(ValueError, match="dtype"):
        gilfree.gaussian_kde(data, dtype=np.float16)
    with pytest.raises(ValueError, match="engine"):
        gilfree.gaussian_kde(data, engine="fortran")
    with pytest.raises(ValueError, match="n_threads=0"):
        gilfree.gaussian_kde(data, n_threads=0)


def test_kde_bad_input():
    x = _rng().standard_normal((30, 2))
    with pytest.raises(ValueError, match="kernel must be one of"):
        gilfree.kde(x, x, 0.5, kernel="triangular")
    with pytest.raises(ValueError, match="bandwidth must be finite and > 0"):
        gilfree.kde(x, x, 0.0)
    with pytest.raises(ValueError, match="bandwidth must be finite and > 0"):
        gilfree.kde(x, x, [0.5, -1.0])
    with pytest.raises(ValueError, match="d = 2 columns"):
        gilfree.kde(x, np.zeros((4, 3)), 0.5)
    with pytest.raises(ValueError, match="finite"):
        gilfree.kde(np.vstack([x, [np.nan, 0]]), x, 0.5)
    with pytest.raises(ValueError, match="weights"):
        gilfree.kde(x, x, 0.5, weights=np.ones(29))
    with pytest.raises(ValueError, match="all zero"):
        gilfree.kde(x, x, 0.5, weights=np.zeros(30))
    with pytest.raises(ValueError, match="samples must contain at least one row"):
        gilfree.kde(np.zeros((0, 2)), x, 0.5)


def test_kde_shapes_and_one_point():
    rng = _rng(40)
    x = rng.standard_normal((100, 3))
    assert gilfree.kde(x, x[0], 0.5).shape == (1,)  # a (d,) vector is one point
    assert gilfree.kde(x, np.zeros((0, 3)), [0.5, 1.0]).shape == (0, 2)
    assert gilfree.kde(x[:, 0], x[:5, 0], 0.5).shape == (5,)  # 1-D: d == 1
    zero_w = np.ones(100)
    zero_w[::2] = 0  # zero-weight samples drop out exactly
    np.testing.assert_allclose(gilfree.kde(x, x[:5], 0.5, weights=zero_w),
                               gilfree.kde(x[1::2], x[:5], 0.5), rtol=1e-13)


# --------------------------------------------------------------------------
# gaussian_kde: scipy's integrals and subclasses that skip __init__
# --------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_gaussian_kde_integrals_equal_scipy(d, weighted):
    rng = _rng(40 + d)
    x = rng.standard_normal((d, 400)) * np.arange(1, d + 1)[:, None]
    y = rng.standard_normal((d, 150)) + 0.4
    w = rng.random(400) if weighted else None
    ours, ref = gilfree.gaussian_kde(x, weights=w), scipy_stats.gaussian_kde(x, weights=w)
    ours2, ref2 = gilfree.gaussian_kde(y, bw_method="silverman"), scipy_stats.gaussian_kde(
        y, bw_method="silverman")
    mean, cov = np.full(d, 0.3), np.eye(d) * 0.7 + 0.1
    got = ours.integrate_gaussian(mean, cov)
    assert isinstance(got, np.float64)
    np.testing.assert_allclose(got, ref.integrate_gaussian(mean, cov), rtol=1e-12)
    for other_ours, other_ref in ((ours2, ref2), (ref2, ref2)):  # gilfree's or scipy's other
        np.testing.assert_allclose(ours.integrate_kde(other_ours), ref.integrate_kde(ref2),
                                   rtol=1e-12)
        np.testing.assert_allclose(ours2.integrate_kde(ours), ref2.integrate_kde(ref), rtol=1e-12)
    lo, hi = np.full(d, -0.5), np.full(d, 1.0)
    assert ours.integrate_box(lo, hi, rng=np.random.default_rng(3)) == ref.integrate_box(
        lo, hi, rng=np.random.default_rng(3))
    if d == 1:
        for low, high in [(-np.inf, 0.1), (0.3, np.inf), (-2.0, 2.0), (6.0, 9.0), (-np.inf, np.inf)]:
            np.testing.assert_allclose(ours.integrate_box_1d(low, high),
                                       ref.integrate_box_1d(low, high), rtol=1e-13, atol=1e-300)
        assert ours.integrate_box_1d(-np.inf, np.inf) == pytest.approx(1.0, abs=1e-15)
    else:
        with pytest.raises(ValueError, match="only handles 1D"):
            ours.integrate_box_1d(0.0, 1.0)


def test_gaussian_kde_integral_errors():
    kde = gilfree.gaussian_kde(_rng(1).standard_normal((2, 50)))
    with pytest.raises(ValueError, match="mean does not have dimension 2"):
        kde.integrate_gaussian([0.0, 0.0, 0.0], np.eye(2))
    with pytest.raises(ValueError, match="covariance does not have dimension 2"):
        kde.integrate_gaussian([0.0, 0.0], np.eye(3))
    with pytest.raises(np.linalg.LinAlgError):
        kde.integrate_gaussian([0.0, 0.0], -10 * np.eye(2))
    with pytest.raises(ValueError, match="same dimensionality"):
        kde.integrate_kde(gilfree.gaussian_kde(_rng(2).standard_normal(30)))
    with pytest.raises(TypeError, match="other must be a gaussian_kde"):
        kde.integrate_kde(np.zeros((2, 3)))


def test_gaussian_kde_integrals_threads_and_engines():
    rng = _rng(9)
    x = rng.standard_normal((2, 3000))
    y = rng.standard_normal((2, 2500))
    base = gilfree.gaussian_kde(x, engine="numpy", n_threads=1).integrate_kde(
        gilfree.gaussian_kde(y))
    for engine in COMPILED:
        for nt in (1, 2):
            kde = gilfree.gaussian_kde(x, engine=engine, n_threads=nt)
            np.testing.assert_allclose(kde.integrate_kde(gilfree.gaussian_kde(y)), base,
                                       rtol=1e-13)


class _SubclassSkippingInit(gilfree.gaussian_kde):
    """scipy's own test subclass: sets the attributes, never calls __init__."""

    def __init__(self, dataset):
        self.dataset = np.atleast_2d(dataset)
        self.d, self.n = self.dataset.shape
        self.covariance_factor = self.scotts_factor
        self._compute_covariance()


def test_subclass_without_init_uses_class_defaults():
    x1 = np.array([-7, -5, 1, 4, 5], dtype=float)
    xs = np.linspace(-10, 10, num=50)
    sub = _SubclassSkippingInit(x1)
    assert np.array_equal(sub(xs), gilfree.gaussian_kde(x1)(xs))
    assert sub(xs).dtype == np.float64
    np.testing.assert_allclose(sub.integrate_box_1d(-1.0, 2.0),
                               scipy_stats.gaussian_kde(x1).integrate_box_1d(-1.0, 2.0),
                               rtol=1e-13)
