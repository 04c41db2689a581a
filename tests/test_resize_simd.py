"""The Cython resamplers' blocked loops: the horizontal pass of the
convolution resamplers computed GF_RESIZE_ROWS rows at a time (short last
blocks, channels, both pass orders, row and image threading) and the
integer-factor area kernel's row sums (int32 / int64 / float64, outputs
taken several at a time) give the plain loops' results bit for bit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gilfree
from gilfree import _config, _cy

PIL = pytest.importorskip("PIL.Image")
cv2 = pytest.importorskip("cv2")

DTYPES = [np.uint8, np.uint16, np.float32, np.float64]
ROWS = _config.SIMD_TUNING[_cy.simd_level()]["resize_rows"]


def _images(rng, n, H, W, C, dtype):
    if dtype == np.uint8:
        a = rng.integers(0, 256, (n, H, W, C), dtype=np.uint8)
    elif dtype == np.uint16:
        a = rng.integers(0, 65536, (n, H, W, C)).astype(np.uint16)
    else:
        a = (rng.random((n, H, W, C)) * 255).astype(dtype)
    return a


@settings(max_examples=60, deadline=None)
@given(
    H=st.integers(1, 3 * 16 + 3), W=st.integers(1, 45), oh=st.integers(1, 45),
    ow=st.integers(1, 45), C=st.integers(1, 4), n=st.sampled_from([1, 3]),
    dtype=st.sampled_from(DTYPES),
    method=st.sampled_from(["box", "bilinear", "hamming", "bicubic", "lanczos"]),
    threads=st.sampled_from([1, 2]), seed=st.integers(0, 2**16),
)
def test_blocked_convolution_equals_the_python_twin(H, W, oh, ow, C, n, dtype, method,
                                                    threads, seed):
    """Row counts around multiples of the block height, every channel count
    and dtype, one image (rows split among threads) and several."""
    a = _images(np.random.default_rng(seed), n, H, W, C, dtype)
    ref = gilfree.resize_batch(a, (oh, ow), method, engine="python")
    got = gilfree.resize_batch(a, (oh, ow), method, engine="cython", n_threads=threads)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("H", [ROWS - 1, ROWS, ROWS + 1, 2 * ROWS + 5])
@pytest.mark.parametrize("rgb", [False, True])
def test_block_edges_bit_exact_with_pillow(H, rgb):
    rng = np.random.default_rng(H)
    W = 97
    for size in [(H, 13), (max(1, H // 3), 41), (2 * H + 1, 150)]:
        a = rng.integers(0, 256, (H, W, 3) if rgb else (H, W), dtype=np.uint8)
        for method, flt in [("bilinear", PIL.Resampling.BILINEAR),
                            ("bicubic", PIL.Resampling.BICUBIC),
                            ("lanczos", PIL.Resampling.LANCZOS)]:
            ref = np.asarray(PIL.fromarray(a).resize(size[::-1], flt))
            for threads in (1, 2):
                got = gilfree.resize(a, size, method, engine="cython", n_threads=threads)
                np.testing.assert_array_equal(got, ref)


def test_float32_blocks_match_pillow_mode_F():
    rng = np.random.default_rng(3)
    a = (rng.random((2 * ROWS + 3, 77)) * 255).astype(np.float32)
    for size in [(5, 13), (40, 200), (2 * ROWS + 3, 31)]:
        ref = np.asarray(PIL.fromarray(a).resize(size[::-1], PIL.Resampling.BICUBIC))
        got = gilfree.resize(a, size, "bicubic", engine="cython")
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(
    fy=st.integers(1, 9), fx=st.integers(1, 9), oh=st.integers(1, 12), ow=st.integers(1, 21),
    C=st.integers(1, 4), dtype=st.sampled_from(DTYPES), threads=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_integer_area_equals_the_python_twin(fy, fx, oh, ow, C, dtype, threads, seed):
    """Output widths that are not a multiple of the outputs summed at once."""
    _area_equals_the_python_twin(fy, fx, oh, ow, C, dtype, threads, seed)


def _area_equals_the_python_twin(fy, fx, oh, ow, C, dtype, threads, seed):
    a = _images(np.random.default_rng(seed), 2, oh * fy, ow * fx, C, dtype)
    ref = gilfree.resize_batch(a, (oh, ow), "area", engine="python")
    got = gilfree.resize_batch(a, (oh, ow), "area", engine="cython", n_threads=threads)
    if dtype == np.float64:
        # the Python reference forms float64 block sums in another order
        np.testing.assert_allclose(got, ref, rtol=1e-14, atol=0)
    else:
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_area_with_block_sums_beyond_int32(dtype):
    """uint16 blocks of >= 32768 pixels (sums beyond int32) and the same
    shapes in uint8 (int32 sums): the exact rounded mean, as OpenCV."""
    rng = np.random.default_rng(4)
    top = np.iinfo(dtype).max
    for (H, W), (oh, ow) in [((256, 256), (1, 1)), ((512, 384), (2, 3)), ((300, 10), (1, 1))]:
        a = np.full((H, W), top, dtype=dtype)
        a[rng.random((H, W)) < 0.01] = 0
        got = gilfree.resize(a, (oh, ow), "area", engine="cython")
        blocks = a.astype(np.float64).reshape(oh, H // oh, ow, W // ow).mean(axis=(1, 3))
        assert np.abs(got.astype(np.float64) - blocks).max() <= 0.5 + 1e-9
        ref = cv2.resize(a, (ow, oh), interpolation=cv2.INTER_AREA).reshape(oh, ow)
        assert np.abs(got.astype(np.int64) - ref).max() <= 1


@settings(max_examples=30, deadline=None)
@given(
    fy=st.integers(1, 11), fx=st.integers(10, 40), oh=st.integers(1, 6), ow=st.integers(1, 9),
    C=st.sampled_from([1, 1, 2, 3]), dtype=st.sampled_from(DTYPES),
    threads=st.sampled_from([1, 2]), seed=st.integers(0, 2**16),
)
def test_integer_area_wide_boxes_equal_the_python_twin(fy, fx, oh, ow, C, dtype, threads,
                                                       seed):
    """Box widths beyond one vector of row sums (the one-channel box sums
    are vectorised reductions with a remainder) and row counts around the
    four rows added per pass."""
    _area_equals_the_python_twin(fy, fx, oh, ow, C, dtype, threads, seed)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("ow", [15, 16, 17, 33, 64])
def test_block_outputs_transposed_back_exactly(dtype, ow):
    """The blocked pass's outputs go through a transposed block: output
    widths around the 16 (bytes) and 4 (floats) columns moved at once, full
    and short row blocks, one channel and three."""
    rng = np.random.default_rng(ow)
    for C in (1, 3):
        a = _images(rng, 2, 2 * ROWS + 7, 301, C, dtype)
        ref = gilfree.resize_batch(a, (2 * ROWS + 7, ow), "bilinear", engine="python")
        got = gilfree.resize_batch(a, (2 * ROWS + 7, ow), "bilinear", engine="cython",
                                   n_threads=1)
        np.testing.assert_array_equal(got, ref)
