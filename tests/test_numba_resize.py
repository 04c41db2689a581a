"""The Numba resize and tiles engines against the Cython engine, bit for bit:
every pixel type, odd sizes, 1 to 4 channels, 1 and 2 threads, the special
float values, the read-only input, and the integer area sums on both sides
of their int32 limit (the two engines are twins: same tables, same order of
operations)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gilfree

DTYPES = [np.uint8, np.uint16, np.float32, np.float64]
METHODS = ["nearest", "box", "bilinear", "hamming", "bicubic", "lanczos", "area"]


def _images(rng, shape, dtype):
    if np.dtype(dtype).kind == "u":
        hi = np.iinfo(dtype).max
        return rng.integers(0, hi + 1, shape, dtype=np.int64).astype(dtype)
    return (rng.standard_normal(shape) * 100).astype(dtype)


def _both(imgs, size, method, n_threads):
    want = gilfree.resize_batch(imgs, size, method, engine="cython", n_threads=n_threads)
    got = gilfree.resize_batch(imgs, size, method, engine="numba", n_threads=n_threads)
    np.testing.assert_array_equal(got, want, err_msg=f"{imgs.shape} -> {size} {method}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_numba_equals_cython_every_method(dtype):
    rng = np.random.default_rng(0)
    for C in (1, 2, 3, 4):
        imgs = _images(rng, (3, 37, 29, C), dtype)
        for method in METHODS:
            # fractional and integer area factors, shrink in one axis only,
            # enlarge (not area), and both orders of Pillow's passes
            sizes = [(13, 11), (37, 7), (9, 29)]
            if method != "area":
                sizes += [(50, 61), (80, 20), (5, 90)]
            for size in sizes:
                for nt in (1, 2):
                    _both(imgs[: 1 + (nt == 2) * 2], size, method, nt)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_area_integer_factors_and_the_int32_limit(dtype):
    """Integer area factors sum in int32 while that cannot overflow, in int64
    beyond (a 200 x 200 block of uint16 can reach 2.6e9)."""
    rng = np.random.default_rng(1)
    imgs = np.full((2, 400, 200, 1), np.iinfo(dtype).max, dtype=dtype)
    imgs[1] = _images(rng, (400, 200, 1), dtype)
    for size in ((2, 1), (200, 100), (100, 50)):
        _both(imgs, size, "area", 1)
    ref = imgs.astype(np.float64).reshape(2, 2, 200, 1, 200, 1).mean(axis=(2, 4))
    got = gilfree.resize_batch(imgs, (2, 1), "area", engine="numba", n_threads=1)
    assert np.abs(got - ref).max() <= 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_float_values(dtype):
    rng = np.random.default_rng(2)
    imgs = _images(rng, (2, 24, 30, 2), dtype)
    imgs[0, 3, 4, 0] = np.inf
    imgs[0, 10, 11, 1] = -np.inf
    imgs[1, 5, 5, 0] = np.nan
    imgs[1, 8:12, 8:16, :] = -0.0
    for method in ("bilinear", "bicubic", "area", "nearest"):
        for size in ((12, 15), (7, 11)):
            _both(imgs, size, method, 2)


@settings(max_examples=25, deadline=None)
@given(H=st.integers(1, 40), W=st.integers(1, 40), oh=st.integers(1, 40), ow=st.integers(1, 40),
       C=st.integers(1, 4), method=st.sampled_from(["bilinear", "bicubic", "lanczos", "area"]),
       dtype=st.sampled_from([np.uint8, np.float32]), seed=st.integers(0, 2**16))
def test_random_shapes(H, W, oh, ow, C, method, dtype, seed):
    if method == "area":
        oh, ow = min(oh, H), min(ow, W)
    imgs = _images(np.random.default_rng(seed), (2, H, W, C), dtype)
    _both(imgs, (oh, ow), method, 1 + seed % 2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiles_numba_equals_cython(dtype):
    """The tiles engine runs the resize engine's row functions on each tile."""
    rng = np.random.default_rng(3)
    slide = _images(rng, (70, 90, 3), dtype)
    recipes = [(None, "area"), ((8, 8), "area"), ((7, 9), "area"), ((6, 5), "nearest"),
               ((8, 8), "bilinear"), ((9, 7), "bicubic"), ((20, 24), "lanczos")]
    _tiles_equal(slide, 16, 14, recipes)


def _tiles_equal(slide, tile, stride, recipes):
    """The numba tiles of ``slide`` equal the cython ones for each
    ``(out_shape, method)``, on 1 and 2 threads."""
    for out_shape, method in recipes:
        for nt in (1, 2):
            kw = dict(threshold=None, out_shape=out_shape, method=method, n_threads=nt)
            want = gilfree.tiles(slide, tile, stride, engine="cython", **kw)
            got = gilfree.tiles(slide, tile, stride, engine="numba", **kw)
            np.testing.assert_array_equal(got.patches, want.patches,
                                          err_msg=f"{out_shape} {method}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_blocks(dtype):
    """At least ROWS (64) input rows: the horizontal pass goes by transposed
    blocks of rows, the rows left over one by one; every channel count, odd
    widths, horizontal pass only and both orders of the passes, 1 and 2
    threads (2 threads on one image split its rows into chunks), special
    float values and a read-only image."""
    rng = np.random.default_rng(4)
    for C in (1, 2, 3, 4):
        imgs = _images(rng, (3, 150, 57, C), dtype)
        if dtype in (np.float32, np.float64):
            imgs[0, 70, 3, 0], imgs[0, 100, 40, C - 1], imgs[1, 64, 56, 0] = np.inf, -np.inf, np.nan
            imgs[2, 60:70, 10:20] = -0.0
        imgs.setflags(write=False)
        for method in ("bilinear", "bicubic", "lanczos"):
            for size in ((20, 23), (150, 13), (140, 31), (151, 5), (300, 114)):
                _both(imgs, size, method, 1)
                _both(imgs[:1], size, method, 2)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_tiles_row_blocks(dtype):
    """Tiles of at least 64 rows resized by the row-block horizontal pass."""
    slide = _images(np.random.default_rng(5), (200, 170, 3), dtype)
    _tiles_equal(slide, 80, 70, (((20, 30), "bilinear"), ((33, 17), "bicubic")))
