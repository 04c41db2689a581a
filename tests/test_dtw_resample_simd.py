"""The Numba engines' vector paths: DTW direction bytes written out in 8 x 8
byte blocks, and resample_poly's contiguous dot products (zero-padded taps
where the window is finite, exact taps elsewhere)."""

import numpy as np
import pytest
from conftest import with_one_bad_sample
from hypothesis import given, settings
from hypothesis import strategies as st

import gilfree
from gilfree import _config, dtw

signal = pytest.importorskip("scipy.signal")


@settings(max_examples=25, deadline=None)
@given(M=st.integers(1, 70), extra=st.integers(0, 200), block=st.integers(1, 90),
       d=st.integers(1, 3), nt=st.sampled_from([1, 2]), seed=st.integers(0, 2**32 - 1))
def test_numba_direction_bytes_equal_cython(M, extra, block, d, nt, seed):
    """Every direction byte (not only those on traced paths), for template
    rows not a multiple of 8, tiles narrower than a block of 8 diagonals and
    ties everywhere (integer data)."""
    import unittest.mock as um

    N = M + extra
    rng = np.random.default_rng(seed)
    t = rng.integers(-1, 2, (M, d)).astype(float)
    sT = np.ascontiguousarray(rng.integers(-1, 2, (d, N)).astype(float))
    with um.patch.object(_config, "DTW_BLOCK_COLS", block), \
            um.patch.object(_config, "DTW_MIN_BLOCK_COLS", 1):
        ref = dtw._accumulate(t, sT, want_full=False, want_dirs=True, engine="cython",
                              n_threads=1)
        got = dtw._accumulate(t, sT, want_full=True, want_dirs=True, engine="numba",
                              n_threads=nt)
    assert got[3] == ref[3] or nt != 1
    if got[3] == ref[3]:
        assert np.array_equal(got[1], ref[1])
    assert np.array_equal(got[0], ref[0])
    assert np.array_equal(got[2][-1], ref[0])


def _same_nonfinite_and_close(got, ref, x):
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    fin = np.isfinite(ref)
    assert np.array_equal(np.isfinite(got), fin)
    assert np.array_equal(got[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])
    scale = np.abs(x[np.isfinite(x)]).max(initial=1.0)
    assert np.abs(got[fin] - ref[fin]).max(initial=0.0) <= 1e-10 * scale


@settings(max_examples=30, deadline=None)
@given(L=st.integers(1, 3000), channels=st.integers(1, 9), up=st.integers(1, 7),
       down=st.integers(1, 9), bad=st.sampled_from([None, np.inf, -np.inf, np.nan]),
       threads=st.sampled_from([1, 2]), seed=st.integers(0, 2**16))
def test_numba_poly_nonfinite_samples_like_scipy(L, channels, up, down, bad, threads, seed):
    """A non-finite sample spoils exactly the outputs whose taps reach it, as
    in scipy (the padded taps, which multiply neighbouring samples by zero,
    are used only where the window is finite)."""
    x = with_one_bad_sample(np.random.default_rng(seed), (L, channels), bad)
    with np.errstate(invalid="ignore"):
        ref = signal.resample_poly(x, up, down)
    got = gilfree.resample_poly(x, up, down, engine="numba", n_threads=threads)
    _same_nonfinite_and_close(got, ref, x)


def test_numba_poly_long_signal_matches_scipy_and_threads():
    x = np.cumsum(np.random.default_rng(9).standard_normal((20_011, 6)), axis=0)
    ref = signal.resample_poly(x, 1000, 2048)
    one = gilfree.resample_poly(x, 1000, 2048, engine="numba", n_threads=1)
    assert np.abs(one - ref).max() <= 1e-10 * np.abs(x).max()
    np.testing.assert_array_equal(
        gilfree.resample_poly(x, 1000, 2048, engine="numba", n_threads=2), one)
