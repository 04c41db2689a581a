"""gilfree.resample_linear / resample_poly / resample_linear_many against NumPy and SciPy."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gilfree

signal = pytest.importorskip("scipy.signal")


def interp_ref(x, num, axis=0):
    """np.interp on linspace(0, L-1, num), along axis, for every other index."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    L = x.shape[0]
    t = np.linspace(0, L - 1, num)
    flat = x.reshape(L, -1)
    out = np.stack([np.interp(t, np.arange(L), flat[:, m]) for m in range(flat.shape[1])], 1)
    return np.moveaxis(out.reshape((num,) + x.shape[1:]), 0, axis)


def assert_close_rel(got, ref, x, tol):
    assert got.shape == ref.shape
    scale = max(np.abs(np.asarray(x, dtype=np.float64)).max(), 1e-300)
    assert np.abs(got - ref).max() <= tol * scale


# --------------------------------------------------------------- linear ----


@pytest.mark.parametrize("L,num", [(1, 5), (5, 1), (1, 1), (2, 7), (150, 200), (300, 200),
                                   (17, 17), (1000, 33), (7, 1000)])
def test_linear_matches_np_interp(engine, n_threads, L, num):
    x = np.random.default_rng(L * 1000 + num).standard_normal((L, 3)) * 100
    got = gilfree.resample_linear(x, num, engine=engine, n_threads=n_threads)
    assert_close_rel(got, interp_ref(x, num), x, 1e-12)


def test_linear_along_other_axes_and_dtypes(engine):
    rng = np.random.default_rng(1)
    x = rng.integers(-50, 50, (4, 23, 3)).astype(np.int16)
    for axis in (0, 1, 2, -1):
        got = gilfree.resample_linear(x, 11, axis=axis, engine=engine)
        assert got.dtype == np.float64
        assert_close_rel(got, interp_ref(x, 11, axis), x, 1e-12)
    one_d = rng.random(31).astype(np.float32)
    assert_close_rel(gilfree.resample_linear(one_d, 40, engine=engine), interp_ref(one_d, 40), one_d, 1e-12)


@settings(max_examples=50, deadline=None)
@given(L=st.integers(1, 300), num=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_linear_random_lengths(L, num, seed):
    x = np.random.default_rng(seed).standard_normal(L)
    assert_close_rel(gilfree.resample_linear(x, num), interp_ref(x, num), x, 1e-12)


# --------------------------------------------------------------- many ----


def test_many_equals_resample_per_signal(engine, n_threads):
    rng = np.random.default_rng(2)
    k = 40 if engine == "python" else 300
    strides = [rng.standard_normal((int(rng.integers(1, 300)), 3)) for _ in range(k)]
    got = gilfree.resample_linear_many(strides, 200, engine=engine, n_threads=n_threads)
    assert got.shape == (k, 200, 3)
    for i, s in enumerate(strides):
        assert_close_rel(got[i], interp_ref(s, 200), s, 1e-12)


def test_many_writes_into_out(engine, n_threads):
    """``out=`` receives exactly the result of a call without it, on both the
    list fast path and the converting path, and is returned."""
    rng = np.random.default_rng(7)
    fast = [rng.standard_normal((int(rng.integers(1, 90)), 2)) for _ in range(25)]
    mixed = [a.astype(np.float32) if i % 2 else a for i, a in enumerate(fast)]
    for sigs in (fast, mixed):
        want = gilfree.resample_linear_many(sigs, 31, engine=engine, n_threads=n_threads)
        out = np.full((25, 31, 2), np.nan)
        got = gilfree.resample_linear_many(sigs, 31, out=out, engine=engine, n_threads=n_threads)
        assert got is out
        np.testing.assert_array_equal(out, want)
    flat = np.empty((3, 4))
    assert gilfree.resample_linear_many([np.arange(3.0), np.ones(5), [2.0]], 4, out=flat) is flat
    np.testing.assert_allclose(flat, [[0, 2 / 3, 4 / 3, 2], [1, 1, 1, 1], [2, 2, 2, 2]])


def test_many_out_errors():
    sigs = [np.ones((4, 3)), np.ones((6, 3))]
    with pytest.raises(ValueError, match=r"out must have shape \(2, 5, 3\) and dtype float64; "
                                         r"got shape \(2, 5\)"):
        gilfree.resample_linear_many(sigs, 5, out=np.empty((2, 5)))
    with pytest.raises(ValueError, match="dtype float64; got shape .* dtype float32"):
        gilfree.resample_linear_many(sigs, 5, out=np.empty((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        gilfree.resample_linear_many(sigs, 5, out=np.empty((2, 5, 6))[:, :, ::2])
    ro = np.empty((2, 5, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        gilfree.resample_linear_many(sigs, 5, out=ro)
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        gilfree.resample_linear_many(sigs, 5, out=[[0.0] * 3] * 10)


def test_many_one_dimensional_and_lists():
    sigs = [[1.0, 2.0, 4.0], [3.0], np.arange(10.0)]
    got = gilfree.resample_linear_many(sigs, 5)
    assert got.shape == (3, 5)
    np.testing.assert_allclose(got[0], np.interp(np.linspace(0, 2, 5), [0, 1, 2], [1, 2, 4]))
    np.testing.assert_array_equal(got[1], 3.0)


# ----------------------------------------------------------------- poly ----


@pytest.mark.parametrize("L,up,down", [(1000, 125, 256), (37, 3, 2), (5, 2, 3), (100, 1, 7),
                                       (64, 7, 1), (3, 5, 3), (1, 2, 1), (250, 1000, 2048)])
def test_poly_matches_scipy(engine, n_threads, L, up, down):
    if engine == "python" and L * max(up, down) > 40_000:
        pytest.skip("the plain-Python engine is slow")
    x = np.random.default_rng(L + up).standard_normal((L, 2))
    ref = signal.resample_poly(x, up, down)
    got = gilfree.resample_poly(x, up, down, engine=engine, n_threads=n_threads)
    assert_close_rel(got, ref, x, 1e-10)


@pytest.mark.parametrize("compiled", ["cython", "numba"])
@settings(max_examples=40, deadline=None)
@given(L=st.integers(1, 400), channels=st.integers(1, 12), up=st.integers(1, 9),
       down=st.integers(1, 9), threads=st.sampled_from([1, 2]), seed=st.integers(0, 2**16))
def test_poly_every_channel_count_and_edge(compiled, L, channels, up, down, threads, seed):
    """Every channel count (the compiled inner products are specialised for 1
    to 8 channels and fall back beyond) and signals shorter than the filter,
    where every output sample is an edge case."""
    x = np.random.default_rng(seed).standard_normal((L, channels))
    ref = signal.resample_poly(x, up, down)
    got = gilfree.resample_poly(x, up, down, engine=compiled, n_threads=threads)
    assert_close_rel(got, ref, x, 1e-10)


def test_poly_axis_dtypes_and_trivial_ratio():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 101, 2))
    for axis in (0, 1, -1):
        ref = signal.resample_poly(x, 2, 3, axis=axis)
        assert_close_rel(gilfree.resample_poly(x, 2, 3, axis=axis), ref, x, 1e-10)
    x32 = x.astype(np.float32)
    got = gilfree.resample_poly(x32, 5, 4, axis=1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, signal.resample_poly(x32, 5, 4, axis=1), rtol=1e-4, atol=1e-5)
    xi = rng.integers(-100, 100, 50)
    assert_close_rel(gilfree.resample_poly(xi, 3, 7), signal.resample_poly(xi, 3, 7), xi, 1e-10)
    np.testing.assert_array_equal(gilfree.resample_poly(x, 4, 4), x)


# --------------------------------------------------- threads, concurrency ----


@pytest.mark.parametrize("compiled", ["cython", "numba"])
def test_thread_count_never_changes_the_result(compiled):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20_000, 3))
    strides = [rng.standard_normal((int(rng.integers(2, 300)), 3)) for _ in range(200)]
    for fn in (lambda t: gilfree.resample_linear(x, 777, engine=compiled, n_threads=t),
               lambda t: gilfree.resample_poly(x, 125, 256, engine=compiled, n_threads=t),
               lambda t: gilfree.resample_linear_many(strides, 200, engine=compiled, n_threads=t)):
        first = fn(1)
        for t in (2, 3):
            np.testing.assert_array_equal(fn(t), first)


@pytest.mark.parametrize("compiled", ["cython", "numba"])
def test_concurrent_calls_from_eight_threads(compiled):
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((5000 + 100 * i, 2)) for i in range(8)]
    calls = [
        (lambda x: gilfree.resample_poly(x, 3, 7, engine=compiled, n_threads=2)) if i % 2 else
        (lambda x: gilfree.resample_linear(x, 1234, engine=compiled, n_threads=2))
        for i in range(8)
    ]
    serial = [c(x) for c, x in zip(calls, xs)]
    results = [None] * 8
    barrier = threading.Barrier(8)

    def work(i):
        barrier.wait()
        for _ in range(3):
            results[i] = calls[i](xs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r, s in zip(results, serial):
        np.testing.assert_array_equal(r, s)


def test_compiled_engine_is_built_with_openmp():
    from gilfree import _cy

    assert _cy.load("resample").OPENMP


# ------------------------------------------------------------ bad input ----


@pytest.mark.parametrize("num", [0, -3])
def test_num_must_be_positive(num):
    with pytest.raises(ValueError, match="num"):
        gilfree.resample_linear(np.ones(5), num)
    with pytest.raises(ValueError, match="num"):
        gilfree.resample_linear_many([np.ones(5)], num)


@pytest.mark.parametrize("num", [2.0, "3", None, True])
def test_num_must_be_an_int(num):
    with pytest.raises(TypeError, match="num"):
        gilfree.resample_linear(np.ones(5), num)


@pytest.mark.parametrize("up,down", [(0, 1), (1, 0), (-2, 3)])
def test_up_down_must_be_positive(up, down):
    with pytest.raises(ValueError, match="up|down"):
        gilfree.resample_poly(np.ones(5), up, down)


# (up, down) that scipy.signal.resample_poly refuses, and ones it accepts
BAD_RATES = [("yo", 1), (1.3, 2), (2, 1.5), (None, 1), (float("inf"), 1), (float("nan"), 1),
             ("2", 1), (2 + 0j, 1), ([2], 1), (0, 1), (1, -3)]
GOOD_RATES = [(2.0, 1), (np.float64(3.0), 2), (np.int32(3), np.int64(2)), (np.array(2.0), 3),
              (True, 2), (4, 4.0)]


@pytest.mark.parametrize("up,down", BAD_RATES)
def test_up_down_errors_are_scipys(up, down):
    """The same exception type as scipy for every value scipy refuses."""
    x = np.arange(10.0)
    with pytest.raises(Exception) as ref:
        signal.resample_poly(x, up, down)
    with pytest.raises(type(ref.value), match="up|down"):
        gilfree.resample_poly(x, up, down)


@pytest.mark.parametrize("up,down", GOOD_RATES)
def test_up_down_integral_values_are_accepted_as_scipy_does(up, down):
    x = np.random.default_rng(9).standard_normal(40)
    ref = signal.resample_poly(x, up, down)
    got = gilfree.resample_poly(x, up, down)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    assert_close_rel(got, ref, x, 1e-10)


def test_poly_window_padtype_cval():
    x = np.random.default_rng(10).standard_normal((300, 2))
    for beta in (5.0, 8.6, 0.0):
        assert_close_rel(gilfree.resample_poly(x, 3, 5, window=("kaiser", beta)),
                         signal.resample_poly(x, 3, 5, window=("kaiser", beta)), x, 1e-10)
    assert_close_rel(gilfree.resample_poly(x, 3, 5, padtype="constant", cval=None),
                     signal.resample_poly(x, 3, 5), x, 1e-10)
    with pytest.raises(NotImplementedError, match="window=.*hann.*kaiser"):
        gilfree.resample_poly(x, 3, 5, window="hann")
    with pytest.raises(NotImplementedError, match="padtype='mean'"):
        gilfree.resample_poly(x, 3, 5, padtype="mean")
    with pytest.raises(NotImplementedError, match="cval=1.5"):
        gilfree.resample_poly(x, 3, 5, cval=1.5)
    # scipy's own check comes first, with its type
    with pytest.raises(ValueError):
        signal.resample_poly(x, 3, 5, padtype="mean", cval=1.0)
    with pytest.raises(ValueError, match="cval has no effect"):
        gilfree.resample_poly(x, 3, 5, padtype="mean", cval=1.0)


def test_poly_axis_errors_are_index_and_value_errors():
    x = np.ones((3, 4))
    with pytest.raises(IndexError):
        signal.resample_poly(x, 2, 1, axis=2)
    for kind in (IndexError, ValueError):
        with pytest.raises(kind, match="axis=2 is out of range"):
            gilfree.resample_poly(x, 2, 1, axis=2)


def test_poly_trivial_ratio_and_empty_signals_as_scipy():
    xi = np.arange(7)
    for up, down in ((1, 1), (3, 3)):
        ref, got = signal.resample_poly(xi, up, down), gilfree.resample_poly(xi, up, down)
        assert got.dtype == ref.dtype and not np.shares_memory(got, xi)
        np.testing.assert_array_equal(got, ref)
    for shape, axis in (((0,), 0), ((0, 3), 0), ((3, 0), 0), ((4, 0), 1)):
        ref = signal.resample_poly(np.ones(shape), 2, 3, axis=axis)
        got = gilfree.resample_poly(np.ones(shape), 2, 3, axis=axis)
        assert got.shape == ref.shape and got.dtype == ref.dtype


def test_empty_signals():
    with pytest.raises(ValueError, match="at least one sample"):
        gilfree.resample_linear(np.ones((0, 3)), 4)
    with pytest.raises(ValueError, match="empty"):
        gilfree.resample_linear_many([np.ones(3), np.ones(0)], 4)
    with pytest.raises(ValueError, match="at least one signal"):
        gilfree.resample_linear_many([], 4)


@pytest.mark.parametrize("dtype", [bool, np.complex128, object])
def test_unsupported_dtypes(dtype):
    with pytest.raises(TypeError, match="x must"):
        gilfree.resample_linear(np.ones(5, dtype=dtype), 3)
    with pytest.raises(TypeError, match="x must"):
        gilfree.resample_poly(np.ones(5, dtype=dtype), 2, 3)


def test_many_needs_a_sequence_of_matching_arrays():
    with pytest.raises(TypeError, match="list"):
        gilfree.resample_linear_many(np.ones((3, 4)), 4)
    with pytest.raises(ValueError, match="same shape"):
        gilfree.resample_linear_many([np.ones((3, 2)), np.ones((3, 3))], 4)
    with pytest.raises(ValueError, match="arrays\\[1\\]"):
        gilfree.resample_linear_many([np.ones(3), 5.0], 4)


def test_axis_and_method_errors():
    with pytest.raises(ValueError, match="axis"):
        gilfree.resample_linear(np.ones((3, 4)), 5, axis=2)
    with pytest.raises(TypeError, match="method"):  # resample_linear has no method
        gilfree.resample_linear(np.ones(4), 5, method="linear")
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="resample_poly"):
        gilfree.resample(np.ones(4), 5, method="poly")


# ------------------------------------------------------ deprecated names ----


def test_deprecated_resample_warns_and_equals_resample_linear():
    x = np.random.default_rng(11).standard_normal((50, 3))
    with pytest.warns(FutureWarning, match=r"gilfree.resample is deprecated.*not "
                      r"scipy.signal.resample \(Fourier\); use gilfree.resample_linear") as rec:
        got = gilfree.resample(x, 20, axis=0, method="linear", n_threads=1)
    assert len(rec) == 1 and rec[0].filename == __file__  # at the caller's line
    np.testing.assert_array_equal(got, gilfree.resample_linear(x, 20))
    np.testing.assert_array_equal(gilfree.resample_linear(x, 20), interp_ref(x, 20))


def test_deprecated_resample_many_warns_and_equals_resample_linear_many():
    sigs = [np.arange(5.0), np.ones(3), np.linspace(0, 1, 9)]
    out = np.empty((3, 4))
    with pytest.warns(FutureWarning, match="use gilfree.resample_linear_many") as rec:
        got = gilfree.resample_many(sigs, 4, out=out)
    assert rec[0].filename == __file__
    assert got is out
    np.testing.assert_array_equal(got, gilfree.resample_linear_many(sigs, 4))


def test_deprecation_warning_once_per_call_site():
    import warnings

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("default")
        for _ in range(3):
            gilfree.resample(np.ones(4), 3)  # one call site, three calls
        gilfree.resample(np.ones(4), 3)  # a second call site
    assert [r.category for r in rec] == [FutureWarning, FutureWarning]


def test_linear_is_not_scipys_fourier_resample():
    """Why the name changed: scipy.signal.resample of the same arguments
    differs (by up to 0.33 on this sine)."""
    t = np.linspace(0, 1, 50, endpoint=False)
    x = np.sin(2 * np.pi * 3 * t)
    assert np.abs(gilfree.resample_linear(x, 80) - signal.resample(x, 80)).max() > 0.1


def test_many_converts_and_copies_when_needed(engine):
    """Signals that are not C-contiguous float64 go through the general path."""
    rng = np.random.default_rng(6)
    base = [rng.standard_normal((int(rng.integers(2, 60)), 4)) for _ in range(20)]
    mixed = [b.astype(np.float32) if i % 3 == 0 else (b[::-1] if i % 3 == 1 else b)
             for i, b in enumerate(base)]
    got = gilfree.resample_linear_many(mixed, 17, engine=engine)
    for i, s in enumerate(mixed):
        assert_close_rel(got[i], interp_ref(s, 17), s, 1e-12)
    ints = [np.arange(5), np.arange(3) * 2]
    np.testing.assert_allclose(gilfree.resample_linear_many(ints, 3, engine=engine),
                               [[0, 2, 4], [0, 2, 4]])


@pytest.mark.parametrize("compiled", ["cython", "numba"])
def test_resample_poly_releases_the_gil(compiled):
    """A second Python thread keeps running while the kernel works."""
    from conftest import assert_releases_gil

    x = np.random.default_rng(7).standard_normal((400_000, 6))
    gilfree.resample_poly(x[:1000], 1000, 2048, engine=compiled, n_threads=1)

    def make_call(scale):
        xs = np.concatenate([x] * scale) if scale > 1 else x
        return lambda: gilfree.resample_poly(xs, 1000, 2048, engine=compiled, n_threads=1)

    assert_releases_gil(make_call)
