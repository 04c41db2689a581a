"""The Numba engine's blocked resample_poly (outputs of one filter phase side
by side, a vector of them per tap, zeros outside the signal): every output
sums its taps in order, so the block shape never changes a bit; the
dot-product path for long filters and long windows agrees with scipy."""

import numpy as np
import pytest
from conftest import with_one_bad_sample
from hypothesis import given, settings
from hypothesis import strategies as st

import gilfree
from gilfree._numba import resample as nb_resample

signal = pytest.importorskip("scipy.signal")


def _close(got, ref, x):
    assert got.shape == ref.shape
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(got[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])
    scale = max(np.abs(x[np.isfinite(x)]).max(initial=0.0), 1e-300)
    assert np.abs(got[fin] - ref[fin]).max(initial=0.0) <= 1e-10 * scale


@settings(max_examples=30, deadline=None)
@given(L=st.integers(1, 2500), channels=st.integers(1, 10), up=st.integers(1, 12),
       down=st.integers(1, 12), lanes=st.sampled_from([1, 7, 64, 200]),
       slot=st.sampled_from([1, 5, 64, 300]), threads=st.sampled_from([1, 2]),
       bad=st.sampled_from([None, np.inf, np.nan]), seed=st.integers(0, 2**16))
def test_block_shape_never_changes_a_bit(L, channels, up, down, lanes, slot,
                                         threads, bad, seed):
    x = with_one_bad_sample(np.random.default_rng(seed), (L, channels), bad)
    with np.errstate(invalid="ignore"):
        ref = signal.resample_poly(x, up, down)
    base = gilfree.resample_poly(x, up, down, engine="numba", n_threads=1)
    _close(base, ref, x)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nb_resample, "POLY_LANES", lanes)
        mp.setattr(nb_resample, "POLY_SLOT", slot)
        got = gilfree.resample_poly(x, up, down, engine="numba", n_threads=threads)
    np.testing.assert_array_equal(got, base)


@pytest.mark.parametrize("up, down", [(1, 100), (997, 1000), (125, 256)])
@pytest.mark.parametrize("force_dots", [False, True])
def test_long_filters_and_windows_match_scipy(monkeypatch, up, down, force_dots):
    """(1, 100): 2001 taps per phase; (997, 1000): slots' windows longer than
    POLY_BLOCK_MAX_SPAN; both take the dot products, as does every ratio when
    the blocked kernel is switched off."""
    if force_dots:
        monkeypatch.setattr(nb_resample, "POLY_BLOCK_MAX_TAPS", 0)
    x = np.cumsum(np.random.default_rng(up + down).standard_normal((6_007, 3)), axis=0)
    ref = signal.resample_poly(x, up, down)
    one = gilfree.resample_poly(x, up, down, engine="numba", n_threads=1)
    _close(one, ref, x)
    np.testing.assert_array_equal(
        gilfree.resample_poly(x, up, down, engine="numba", n_threads=2), one)
