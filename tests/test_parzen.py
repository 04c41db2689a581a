"""Parzen-window kernel: every engine against an obviously-right oracle."""

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gilfree
from gilfree import EngineUnavailableError

from conftest import dyadic


def oracle_counts(x, q, h):
    """Direct definition: all(|q_c - x_c| <= h/2) summed over samples."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    q = np.asarray(q, dtype=np.float64).reshape(len(q), -1)
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    inside = (np.abs(q[:, None, None, :] - x[None, :, None, :]) <= 0.5 * h[None, None, :, None]).all(-1)
    return inside.sum(axis=1)


def oracle_weighted(x, q, h, w):
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    q = np.asarray(q, dtype=np.float64).reshape(len(q), -1)
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    inside = (np.abs(q[:, None, None, :] - x[None, :, None, :]) <= 0.5 * h[None, None, :, None]).all(-1)
    return (inside * w[None, :, None]).sum(axis=1) / (w.sum() * h ** x.shape[1])


WIDTHS = np.array([0.5, 1.0, 0.25, 1.0, 2.0, 1 / 64, 3 / 64, 8.0])


@pytest.fixture(autouse=True)
def threads_even_for_small_inputs(monkeypatch):
    """Small test inputs would run on one thread; make every thread count real."""
    from gilfree import _config

    monkeypatch.setattr(_config, "PARZEN_MIN_PAIRS_PER_THREAD", 1)


@pytest.fixture(params=["indexed", "scan"])
def plan_mode(request, monkeypatch):
    """Both plans: samples sorted into strips (many points), and every
    sample visited (few points)."""
    from gilfree import _config

    monkeypatch.setattr(_config, "PARZEN_INDEX_MIN_POINTS", 1 if request.param == "indexed" else 10**9)
    return request.param


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_counts_match_oracle_with_ties(engine, n_threads, d, plan_mode):
    rng = np.random.default_rng(d)
    x = dyadic(rng, (1500, d), scale=16)  # coarse grid: many exact ties
    q = np.concatenate([dyadic(rng, (40, d), scale=16), x[:10]])
    got = gilfree.parzen_counts(x, q, WIDTHS, engine=engine, n_threads=n_threads)
    assert got.dtype == np.int64 and got.shape == (50, WIDTHS.size)
    np.testing.assert_array_equal(got, oracle_counts(x, q, WIDTHS))


def test_ties_are_inside(engine):
    # a sample exactly h/2 away in every dimension is inside (closed boundary)
    x = np.array([[0.5, -0.5], [0.5, 0.50000001], [0.0, 0.0]])
    got = gilfree.parzen_counts(x, [[0.0, 0.0]], 1.0, engine=engine)
    np.testing.assert_array_equal(got, [2])


def test_few_points_split_across_threads(engine, plan_mode):
    # one point, many samples: compiled engines split the samples over threads
    rng = np.random.default_rng(7)
    x = dyadic(rng, (20_000, 2))
    q = np.zeros((1, 2))
    h = np.linspace(1.0, 1.2, 100)
    if engine == "python":
        x = x[:3000]
    got = gilfree.parzen_counts(x, q, h, engine=engine, n_threads=2)
    np.testing.assert_array_equal(got, oracle_counts(x, q, h))


@pytest.mark.parametrize("d", [1, 2, 4])
def test_weighted_density(engine, n_threads, d, plan_mode):
    rng = np.random.default_rng(10 + d)
    x = dyadic(rng, (800, d), scale=16)
    q = dyadic(rng, (30, d), scale=16)
    w = rng.random(800)
    w[::7] = 0.0
    got = gilfree.parzen_density(x, q, WIDTHS, weights=w, engine=engine, n_threads=n_threads)
    np.testing.assert_allclose(got, oracle_weighted(x, q, WIDTHS, w), rtol=1e-12, atol=0)


def test_density_normalised_by_h_to_the_d(engine):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((500, 2))
    q = rng.standard_normal((20, 2))
    h = np.array([0.7, 1.3])
    counts = oracle_counts(x, q, h)
    got = gilfree.parzen_density(x, q, h, engine=engine)
    np.testing.assert_allclose(got, counts / (500 * h**2), rtol=1e-15)


def test_scalar_width_returns_1d(engine):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 2))
    got = gilfree.parzen_density(x, x[:5], 1.0, engine=engine)
    assert got.shape == (5,)
    np.testing.assert_allclose(got, oracle_counts(x, x[:5], 1.0)[:, 0] / 300)


def test_thread_count_never_changes_results(plan_mode):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5000, 3))
    q = rng.standard_normal((7, 3))
    w = rng.random(5000)
    for engine in ("cython", "numba"):
        base = gilfree.parzen_density(x, q, WIDTHS, weights=w, engine=engine, n_threads=1)
        cnt = gilfree.parzen_counts(x, q, WIDTHS, engine=engine, n_threads=1)
        for nt in (2, 3, 8):
            np.testing.assert_array_equal(
                gilfree.parzen_density(x, q, WIDTHS, weights=w, engine=engine, n_threads=nt), base
            )
            np.testing.assert_array_equal(
                gilfree.parzen_counts(x, q, WIDTHS, engine=engine, n_threads=nt), cnt
            )


def test_input_conversion_not_rejection(engine):
    rng = np.random.default_rng(6)
    x = rng.integers(-5, 5, size=(400, 4))[:, ::2]  # integer, non-contiguous
    q32 = rng.standard_normal((10, 2)).astype(np.float32)
    got = gilfree.parzen_counts(x, q32, [1.0, 3.0], engine=engine)
    np.testing.assert_array_equal(got, oracle_counts(x, q32.astype(np.float64), [1.0, 3.0]))
    # 1-D samples and points are d = 1
    got1 = gilfree.parzen_counts(x[:, 0], [0.0, 1.5], 2.0, engine=engine)
    np.testing.assert_array_equal(got1, oracle_counts(x[:, :1], [[0.0], [1.5]], 2.0)[:, 0])
    # one point given as a 1-D vector of length d
    np.testing.assert_array_equal(
        gilfree.parzen_counts(x, [0.0, 0.0], 2.0, engine=engine),
        oracle_counts(x, [[0.0, 0.0]], 2.0)[:, 0],
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 300),
    m=st.integers(1, 12),
    d=st.integers(1, 4),
    nh=st.integers(1, 9),
    seed=st.integers(0, 2**31 - 1),
    spread=st.sampled_from([1 / 64, 1.0, 1e3]),
)
def test_hypothesis_shapes_and_values(n, m, d, nh, seed, spread):
    rng = np.random.default_rng(seed)
    x = dyadic(rng, (n, d), scale=8) * spread
    q = np.concatenate([dyadic(rng, (m, d), scale=8) * spread, x[: min(n, 3)]])
    h = np.abs(dyadic(rng, (nh,), scale=8)) * spread + spread / 8
    from gilfree import _config

    expected = oracle_counts(x, q, h)
    default = _config.PARZEN_INDEX_MIN_POINTS
    try:
        for min_points in (1, 10**9):  # indexed and scanning plans
            _config.PARZEN_INDEX_MIN_POINTS = min_points
            for engine in ("cython", "numba", "numpy"):
                for nt in (1, 2):
                    got = gilfree.parzen_counts(x, q, h, engine=engine, n_threads=nt)
                    np.testing.assert_array_equal(
                        got, expected, err_msg=f"{engine} n_threads={nt} min_points={min_points}"
                    )
    finally:
        _config.PARZEN_INDEX_MIN_POINTS = default


def _strip_orders(x, hwmax):
    import importlib

    from gilfree import _config, _cy

    mod = importlib.import_module("gilfree.parzen")  # the module, not the function

    fast = _cy.load("parzen").strip_plan(x, hwmax, _config.PARZEN_STRIPS_PER_WINDOW,
                                         _config.PARZEN_MIN_STRIP_SAMPLES)
    return fast, mod._strip_order_numpy(x, hwmax)


def _assert_same_order(fast, ref):
    assert fast[:4] == ref[:4]  # key, sec, origin, inv_sw
    np.testing.assert_array_equal(fast[4], ref[4])  # sample order
    np.testing.assert_array_equal(fast[5], ref[5])  # strip starts
    assert fast[4].dtype == fast[5].dtype == np.int64


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 2000),
    d=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
    scale=st.sampled_from([1, 8, 2**20]),
    hwmax=st.sampled_from([1 / 64, 0.5, 3.0, 1e6]),
)
def test_compiled_strip_order_is_the_lexsort_order(n, d, seed, scale, hwmax):
    """The radix-sorted plan order equals NumPy's lexsort (by strip, then the
    secondary coordinate, ties by sample index), so every engine sums the
    same samples in the same order whichever built the plan."""
    rng = np.random.default_rng(seed)
    x = dyadic(rng, (n, d), scale=scale)  # coarse grids: many exact ties
    _assert_same_order(*_strip_orders(x, hwmax))


@pytest.mark.parametrize("seed", [3804, 8388608])
def test_compiled_strip_order_with_equal_spreads(seed):
    """Dimensions whose variances are equal but round differently in the two
    plans (sequential sums in C, pairwise in NumPy) tie in both: the first
    such dimension is the key."""
    x = dyadic(np.random.default_rng(seed), (5, 5), scale=1)
    _assert_same_order(*_strip_orders(x, 1 / 64))
    # exact copies of one column: the same variance bit for bit
    c = np.random.default_rng(seed).standard_normal(257)
    _assert_same_order(*_strip_orders(np.column_stack([c, -c, c[::-1]]), 0.5))


def test_compiled_strip_order_edge_values():
    x = np.array([[0.0, -0.0], [-0.0, 0.0], [1e150, -1e150], [-1e150, 1e150],
                  [5e-324, -5e-324], [2.0, 2.0], [2.0, 2.0], [-3.5, 7.25]] * 40)
    _assert_same_order(*_strip_orders(x, 0.25))
    # constant key dimension: one strip; all-equal data: index order
    _assert_same_order(*_strip_orders(np.ones((300, 3)), 0.5))
    c = np.column_stack([np.zeros(500), np.linspace(-1, 1, 500)[::-1]])
    _assert_same_order(*_strip_orders(c, 0.5))


def test_plan_without_the_extension_is_the_same(monkeypatch):
    """Without the compiled helper, the plan comes from NumPy, unchanged."""
    import importlib

    mod = importlib.import_module("gilfree.parzen")
    from gilfree import _cy

    rng = np.random.default_rng(5)
    x, q = rng.standard_normal((3000, 2)), rng.standard_normal((200, 2))
    w = rng.random(3000)
    fast = gilfree.parzen_density(x, q, WIDTHS, weights=w, engine="numba")

    def missing(name):
        raise _cy.ExtensionMissingError("not built")

    monkeypatch.setattr(_cy, "load", missing)
    np.testing.assert_array_equal(gilfree.parzen_density(x, q, WIDTHS, weights=w, engine="numba"), fast)


@pytest.mark.parametrize("engine_name", ["cython", "numba"])
def test_concurrent_calls_from_eight_threads(engine_name):
    rng = np.random.default_rng(8)
    jobs = [
        (rng.standard_normal((3000, 2)), rng.standard_normal((200, 2)), np.linspace(0.1, 2, 9))
        for _ in range(8)
    ]
    expected = [gilfree.parzen_counts(x, q, h, engine=engine_name, n_threads=1) for x, q, h in jobs]
    results = [None] * 8
    errors = []
    barrier = threading.Barrier(8)

    def work(i):
        try:
            barrier.wait()
            x, q, h = jobs[i]
            results[i] = gilfree.parzen_counts(x, q, h, engine=engine_name, n_threads=2)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for got, exp in zip(results, expected):
        np.testing.assert_array_equal(got, exp)


@pytest.mark.parametrize("engine_name", ["cython", "numba"])
def test_kernel_releases_the_gil(engine_name):
    """While one thread is inside a long kernel call, another Python thread
    keeps running (it counts loop iterations the whole time)."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((200_000, 2))
    q = rng.standard_normal((2_000, 2))
    h = np.linspace(0.5, 3.0, 16)
    gilfree.parzen_counts(x, q[:2], h, engine=engine_name, n_threads=1)  # compile/warm
    done = threading.Event()
    ticks = []

    def spin():
        n = 0
        while not done.is_set():
            n += 1
        ticks.append(n)

    def kernel_only():
        import time

        t0 = time.perf_counter()
        gilfree.parzen_counts(x, q, h, engine=engine_name, n_threads=1)
        return time.perf_counter() - t0

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        elapsed = kernel_only()
    finally:
        done.set()
        spinner.join()
    # A GIL-holding kernel would leave the spinner ~0 iterations for the
    # duration; a GIL-free one lets it run (conservatively: >= 1000/s).
    assert ticks[0] > 1000 * elapsed, (ticks[0], elapsed)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

X2 = np.zeros((10, 2))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(samples=np.zeros((2, 2, 2))), ValueError, r"samples must be 1-D .* got 3-D"),
        (dict(samples=np.zeros((0, 2))), ValueError, r"samples must contain at least one row"),
        (dict(samples=np.zeros((5, 0))), ValueError, r"samples must have at least one column"),
        (dict(points=np.zeros((3, 3))), ValueError, r"points must have d = 2 columns .* \(3, 3\)"),
        (dict(samples=np.array([[np.nan, 0.0]] * 3)), ValueError, r"samples must contain only finite"),
        (dict(points=np.array([[np.inf, 0.0]])), ValueError, r"points must contain only finite"),
        (dict(widths=0.0), ValueError, r"widths must be finite and > 0; got 0.0"),
        (dict(widths=[1.0, -2.0]), ValueError, r"widths must be finite and > 0; got -2.0 at index 1"),
        (dict(widths=[1.0, np.nan]), ValueError, r"widths must be finite and > 0"),
        (dict(widths=[]), ValueError, r"widths must contain at least one value"),
        (dict(widths=np.ones((2, 2))), ValueError, r"widths must be a scalar or 1-D"),
        (dict(widths="wide"), TypeError, r"widths"),
        (dict(samples=np.array([["a", "b"]])), TypeError, r"samples must be a numeric array"),
        (dict(samples=np.zeros((3, 2), dtype=complex)), TypeError, r"samples must be real-valued"),
        (dict(engine="fortran"), ValueError, r"engine must be one of 'auto', 'numba'"),
        (dict(engine=3), TypeError, r"engine must be a string"),
        (dict(n_threads=0), ValueError, r"n_threads=0 is not a thread count"),
        (dict(n_threads=1.5), TypeError, r"n_threads must be an int"),
        (dict(n_threads=True), TypeError, r"n_threads must be an int"),
        (dict(n_threads=-1000), ValueError, r"n_threads=-1000 leaves no thread"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = dict(samples=X2, points=np.zeros((1, 2)), widths=1.0)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        gilfree.parzen_density(args.pop("samples"), args.pop("points"), args.pop("widths"), **args)


@pytest.mark.parametrize(
    "weights, match",
    [
        (np.ones(9), r"weights must be 1-D with one weight per sample, shape \(10,\); got shape \(9,\)"),
        (-np.ones(10), r"weights must be >= 0; got -1.0 at index 0"),
        (np.zeros(10), r"weights must not be all zero"),
        (np.full(10, np.nan), r"weights must contain only finite values"),
    ],
)
def test_bad_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        gilfree.parzen_density(X2, np.zeros((1, 2)), 1.0, weights=weights)


def test_negative_thread_counts_count_from_the_end():
    cores = gilfree.usable_cores()
    assert gilfree.resolve_n_threads(-1) == cores
    assert gilfree.resolve_n_threads(None) >= 1
    assert gilfree.resolve_n_threads(3) == 3


def test_unavailable_engine_error_points_to_info(monkeypatch):
    from gilfree import _config

    spec = _config._KERNELS["parzen"]
    monkeypatch.setitem(spec["engines"], "numba", "gilfree._numba.does_not_exist")
    monkeypatch.setitem(spec, "loaded", {})
    with pytest.raises(EngineUnavailableError, match=r"gilfree info"):
        gilfree.parzen_density(X2, np.zeros((1, 2)), 1.0, engine="numba")
