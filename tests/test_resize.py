"""gilfree.resize / resize_batch against Pillow, OpenCV and the engines'
plain-Python twin (KERNELS.md section 3)."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gilfree
from gilfree import _resize_plan

PIL = pytest.importorskip("PIL.Image")
cv2 = pytest.importorskip("cv2")

PIL_FILTERS = {
    "nearest": PIL.Resampling.NEAREST,
    "box": PIL.Resampling.BOX,
    "bilinear": PIL.Resampling.BILINEAR,
    "hamming": PIL.Resampling.HAMMING,
    "bicubic": PIL.Resampling.BICUBIC,
    "lanczos": PIL.Resampling.LANCZOS,
}
CONV = tuple(PIL_FILTERS)

# (input (H, W), output (h, w)): down, up, mixed, odd and prime sizes, one
# pixel, and cases where Pillow >= 13 runs the vertical pass first.
CASES = [
    ((37, 53), (13, 17)),
    ((64, 64), (16, 16)),
    ((31, 29), (67, 71)),
    ((101, 7), (13, 17)),
    ((23, 41), (3, 97)),
    ((50, 50), (100, 10)),
    ((19, 23), (1, 1)),
    ((1, 13), (5, 3)),
    ((41, 1), (7, 1)),
]
SMALL = [((13, 11), (5, 7)), ((7, 9), (11, 4)), ((12, 12), (1, 3))]


def pillow(a, size, method):
    """Pillow's result for a (H, W) or (H, W, 3) array (modes L, RGB, F, I;16)."""
    h, w = size
    return np.asarray(PIL.fromarray(a).resize((w, h), PIL_FILTERS[method]))


def cases_for(engine):
    return SMALL if engine == "python" else CASES + SMALL


def rand_u8(rng, shape):
    return rng.integers(0, 256, shape, dtype=np.uint8)


# ------------------------------------------------------------ vs Pillow ----


@pytest.mark.parametrize("method", CONV)
def test_uint8_gray_and_rgb_bit_exact_with_pillow(engine, n_threads, method):
    rng = np.random.default_rng(1)
    for (H, W), size in cases_for(engine):
        a = rand_u8(rng, (H, W))
        got = gilfree.resize(a, size, method, engine=engine, n_threads=n_threads)
        np.testing.assert_array_equal(got, pillow(a, size, method), err_msg=f"{(H, W)}->{size}")
        rgb = rand_u8(rng, (H, W, 3))
        got = gilfree.resize(rgb, size, method, engine=engine, n_threads=n_threads)
        np.testing.assert_array_equal(got, pillow(rgb, size, method), err_msg=f"RGB {(H, W)}->{size}")


@pytest.mark.parametrize("method", CONV)
def test_float32_matches_pillow_mode_F(engine, method):
    rng = np.random.default_rng(2)
    for (H, W), size in cases_for(engine):
        a = (rng.random((H, W)) * 255).astype(np.float32)
        got = gilfree.resize(a, size, method, engine=engine, n_threads=2)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, pillow(a, size, method), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("method", CONV)
def test_uint16_matches_pillow_mode_I16(engine, method):
    rng = np.random.default_rng(3)
    # overshooting filters stay clear of 0 and 65535 (Pillow wraps there)
    lo, hi = (0, 65536) if method in ("nearest", "box", "bilinear", "hamming") else (4000, 60000)
    for (H, W), size in cases_for(engine):
        a = rng.integers(lo, hi, (H, W)).astype(np.uint16)
        got = gilfree.resize(a, size, method, engine=engine, n_threads=2)
        np.testing.assert_array_equal(got, pillow(a, size, method))


@pytest.mark.parametrize("method", CONV)
def test_float64_follows_the_float32_algorithm(method):
    rng = np.random.default_rng(4)
    for (H, W), size in CASES:
        a = rng.random((H, W, 2)) * 255
        got = gilfree.resize(a, size, method, engine="cython")
        assert got.dtype == np.float64
        ref = np.stack([pillow(a[..., c].astype(np.float32), size, method) for c in range(2)], -1)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_channels_are_independent(channels):
    rng = np.random.default_rng(5)
    a = rand_u8(rng, (29, 31, channels))
    got = gilfree.resize(a, (11, 13), "lanczos")
    for c in range(channels):
        np.testing.assert_array_equal(got[..., c], pillow(a[..., c], (11, 13), "lanczos"))


def test_real_photograph_matches_pillow():
    datasets = pytest.importorskip("sklearn.datasets")
    photo = datasets.load_sample_image("china.jpg")  # (427, 640, 3) uint8
    for method in CONV:
        for size in [(64, 64), (300, 300), (500, 719)]:
            got = gilfree.resize(photo, size, method)
            np.testing.assert_array_equal(got, pillow(photo, size, method), err_msg=f"{method} {size}")
    gray = photo.mean(axis=2).astype(np.uint8)
    for size in [(64, 64), (211, 97)]:
        got = gilfree.resize(gray, size, "area")
        ref = cv2.resize(gray, size[::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(got.astype(int) - ref).max() <= 1
        assert (got == ref).mean() >= 0.999


@settings(max_examples=40, deadline=None)
@given(
    H=st.integers(1, 40), W=st.integers(1, 40), oh=st.integers(1, 40), ow=st.integers(1, 40),
    method=st.sampled_from(CONV), rgb=st.booleans(), seed=st.integers(0, 2**16),
)
def test_random_shapes_bit_exact_with_pillow(H, W, oh, ow, method, rgb, seed):
    a = rand_u8(np.random.default_rng(seed), (H, W, 3) if rgb else (H, W))
    np.testing.assert_array_equal(gilfree.resize(a, (oh, ow), method), pillow(a, (oh, ow), method))


def test_pass_order_rule_matches_pillow():
    """Both pass orders round differently; the rule picks Pillow's."""
    rng = np.random.default_rng(6)
    for (H, W), (oh, ow) in [((60, 60), (20, 45)), ((60, 60), (20, 40)), ((40, 90), (10, 76)),
                             ((40, 90), (10, 75)), ((90, 40), (45, 18)), ((90, 40), (45, 17))]:
        a = rand_u8(rng, (H, W))
        np.testing.assert_array_equal(gilfree.resize(a, (oh, ow)), pillow(a, (oh, ow), "bilinear"))
    assert _resize_plan.pillow_vertical_first(60, 60, 20, 45)
    assert not _resize_plan.pillow_vertical_first(60, 60, 20, 40)


# ----------------------------------------------------------- vs OpenCV ----


def cv2_area(a, size):
    ref = cv2.resize(a, size[::-1], interpolation=cv2.INTER_AREA)
    return ref.reshape(size + a.shape[2:])


AREA_CASES = [
    ((64, 64), (16, 16)),    # integer factor 4
    ((64, 48), (32, 24)),    # factor 2 (OpenCV's (sum + 2) >> 2)
    ((60, 90), (20, 90)),    # factors 3 and 1
    ((37, 53), (13, 17)),    # fractional
    ((101, 7), (10, 3)),
    ((19, 23), (1, 1)),
    ((50, 50), (49, 25)),
]


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_area_uint8_matches_opencv(engine, n_threads, channels):
    rng = np.random.default_rng(7)
    for (H, W), size in AREA_CASES if engine != "python" else AREA_CASES[::3]:
        a = rand_u8(rng, (H, W, channels))
        got = gilfree.resize(a, size, "area", engine=engine, n_threads=n_threads)
        ref = cv2_area(a, size)
        assert np.abs(got.astype(int) - ref).max() <= 1, f"{(H, W)}->{size}"
        assert (got == ref).mean() >= 0.999


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
def test_area_other_dtypes_match_opencv(engine, dtype):
    rng = np.random.default_rng(8)
    for (H, W), size in AREA_CASES if engine != "python" else AREA_CASES[::3]:
        if dtype == np.uint16:
            a = rng.integers(0, 65536, (H, W, 3)).astype(np.uint16)
        else:
            a = (rng.random((H, W, 3)) * 255).astype(dtype)
        got = gilfree.resize(a, size, "area", engine=engine, n_threads=2)
        ref = cv2_area(a, size)
        if dtype == np.uint16:
            assert np.abs(got.astype(int) - ref).max() <= 1
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)


# --------------------------------------------------- engines and threads ----


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("method", ["nearest", "bilinear", "lanczos", "area"])
def test_engines_agree_with_the_python_twin(engine, dtype, method):
    rng = np.random.default_rng(9)
    imgs = (rng.random((3, 14, 12, 2)) * 250).astype(dtype)
    ref = gilfree.resize_batch(imgs, (6, 5), method, engine="python")
    got = gilfree.resize_batch(imgs, (6, 5), method, engine=engine, n_threads=2)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("compiled", ["cython", "numba"])
@pytest.mark.parametrize("method", ["bilinear", "bicubic", "nearest", "area"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_thread_count_never_changes_the_result(compiled, method, dtype):
    rng = np.random.default_rng(10)
    for n in (1, 5):  # rows split among threads (1 image) and images split
        imgs = (rng.random((n, 97, 83, 3)) * 255).astype(dtype)
        for size in [(31, 29), (24, 83), (97, 41)] + ([] if method == "area" else [(120, 200)]):
            results = [gilfree.resize_batch(imgs, size, method, engine=compiled, n_threads=t)
                       for t in (1, 2, 3)]
            for r in results[1:]:
                np.testing.assert_array_equal(r, results[0])


def test_batch_equals_per_image():
    rng = np.random.default_rng(11)
    imgs = rand_u8(rng, (4, 30, 40))
    batch = gilfree.resize_batch(imgs, (12, 9), "bicubic")
    assert batch.shape == (4, 12, 9)
    for i in range(4):
        np.testing.assert_array_equal(batch[i], gilfree.resize(imgs[i], (12, 9), "bicubic"))


@pytest.mark.parametrize("method", ["bilinear", "area", "nearest", "lanczos"])
def test_batch_writes_into_out(engine, n_threads, method):
    """``out=`` receives exactly the result of a call without it (gray and
    RGB, uint8 and float32, and the same-size copy) and is returned."""
    rng = np.random.default_rng(13)
    for imgs in (rand_u8(rng, (3, 30, 40)), rand_u8(rng, (3, 30, 40, 3)),
                 rng.random((2, 30, 40, 2), dtype=np.float32)):
        for size in ((12, 9), (30, 40)):
            want = gilfree.resize_batch(imgs, size, method, engine=engine, n_threads=n_threads)
            out = np.full_like(want, 7)
            got = gilfree.resize_batch(imgs, size, method, out=out, engine=engine,
                                       n_threads=n_threads)
            assert got is out
            np.testing.assert_array_equal(out, want)


def test_batch_out_errors():
    imgs = np.zeros((2, 20, 20, 3), np.uint8)
    with pytest.raises(ValueError, match=r"out must have shape \(2, 5, 6, 3\) and dtype uint8"):
        gilfree.resize_batch(imgs, (5, 6), out=np.empty((2, 5, 6), np.uint8))
    with pytest.raises(ValueError, match="dtype uint8; got .* float32"):
        gilfree.resize_batch(imgs, (5, 6), out=np.empty((2, 5, 6, 3), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        gilfree.resize_batch(imgs, (5, 6), out=np.empty((2, 5, 12, 3), np.uint8)[:, :, ::2])
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        gilfree.resize_batch(imgs[..., 0], (5, 6), out="buffer")


@pytest.mark.parametrize("compiled", ["cython", "numba"])
def test_concurrent_calls_from_eight_threads(compiled):
    rng = np.random.default_rng(12)
    jobs = [(rand_u8(rng, (3, 64 + i, 80 - i, 3)), m, (17 + i, 21))
            for i, m in enumerate(["bilinear", "bicubic", "lanczos", "area", "nearest", "box",
                                   "hamming", "bilinear"])]
    serial = [gilfree.resize_batch(a, s, m, engine=compiled, n_threads=1) for a, m, s in jobs]
    results = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def work(i):
        a, m, s = jobs[i]
        barrier.wait()
        for _ in range(3):
            results[i] = gilfree.resize_batch(a, s, m, engine=compiled, n_threads=2)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r, s in zip(results, serial):
        np.testing.assert_array_equal(r, s)


def test_inputs_are_not_modified_and_layouts_are_accepted():
    rng = np.random.default_rng(13)
    a = rand_u8(rng, (40, 50, 3))
    keep = a.copy()
    view = a[::2, ::-1]  # not contiguous
    got = gilfree.resize(view, (7, 9), "bilinear")
    np.testing.assert_array_equal(got, pillow(np.ascontiguousarray(view), (7, 9), "bilinear"))
    ro = a.copy()
    ro.flags.writeable = False
    for eng, method in (("cython", "lanczos"), ("numpy", "lanczos"), ("numba", "nearest")):
        # (numba compiles every kernel again for read-only arrays: one is enough here)
        got = gilfree.resize(ro, (7, 9), method, engine=eng)
        np.testing.assert_array_equal(got, pillow(ro, (7, 9), method))
    np.testing.assert_array_equal(a, keep)


def test_same_size_is_a_copy():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    b = gilfree.resize(a, (3, 4), "lanczos")
    np.testing.assert_array_equal(a, b)
    assert not np.shares_memory(a, b)


def test_compiled_engine_is_built_with_openmp():
    from gilfree import _cy

    mod = _cy.load("resize")
    assert mod.OPENMP, "gilfree._cy.resize was built without OpenMP"


# ------------------------------------------------------------ bad input ----


@pytest.mark.parametrize("size", [(0, 5), (5, -1), (-3, -3)])
def test_size_must_be_positive(size):
    with pytest.raises(ValueError, match="size"):
        gilfree.resize(np.zeros((4, 4), np.uint8), size)


@pytest.mark.parametrize("size", [(2.0, 5), (5, "4"), 5, (1, 2, 3), "ab", (True, 3)])
def test_size_must_be_a_pair_of_ints(size):
    with pytest.raises(TypeError, match="size"):
        gilfree.resize(np.zeros((4, 4), np.uint8), size)


def test_wrong_ndim():
    with pytest.raises(ValueError, match="image must be 2-D"):
        gilfree.resize(np.zeros((2, 4, 4, 3), np.uint8), (2, 2))
    with pytest.raises(ValueError, match="image must be 2-D"):
        gilfree.resize(np.zeros(4, np.uint8), (2, 2))
    with pytest.raises(ValueError, match="images must be 3-D"):
        gilfree.resize_batch(np.zeros((4, 4), np.uint8), (2, 2))


def test_too_many_channels():
    with pytest.raises(ValueError, match="1 to 4 channels"):
        gilfree.resize(np.zeros((4, 4, 5), np.uint8), (2, 2))


@pytest.mark.parametrize("dtype", [bool, np.complex64, np.int32, np.float16, object])
def test_unsupported_dtype(dtype):
    with pytest.raises(TypeError, match="dtype"):
        gilfree.resize(np.zeros((4, 4), dtype=dtype), (2, 2))


def test_unknown_method():
    with pytest.raises(ValueError, match="method must be one of"):
        gilfree.resize(np.zeros((4, 4), np.uint8), (2, 2), "cubic")


def test_area_refuses_to_enlarge_and_says_what_to_use():
    with pytest.raises(ValueError, match="bilinear"):
        gilfree.resize(np.zeros((4, 4), np.uint8), (8, 2), "area")


def test_empty_images():
    with pytest.raises(ValueError, match="empty"):
        gilfree.resize(np.zeros((0, 4), np.uint8), (2, 2))
    with pytest.raises(ValueError, match="empty"):
        gilfree.resize_batch(np.zeros((0, 4, 4), np.uint8), (2, 2))


def test_unknown_engine_and_bad_threads():
    a = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="engine"):
        gilfree.resize(a, (2, 2), engine="fortran")
    with pytest.raises(ValueError, match="n_threads"):
        gilfree.resize(a, (2, 2), n_threads=0)


@pytest.mark.parametrize("compiled", ["cython", "numba"])
def test_kernels_release_the_gil(compiled):
    """A second Python thread keeps running while a kernel works (a kernel
    holding the GIL would stop it)."""
    from conftest import assert_releases_gil

    rng = np.random.default_rng(14)
    imgs = rand_u8(rng, (24, 512, 512))
    gilfree.resize_batch(imgs[:1], (37, 41), "lanczos", engine=compiled, n_threads=1)

    def make_call(scale):
        batch = np.concatenate([imgs] * scale) if scale > 1 else imgs
        return lambda: gilfree.resize_batch(batch, (37, 41), "lanczos", engine=compiled,
                                            n_threads=1)

    assert_releases_gil(make_call)


@pytest.mark.slow
def test_large_random_sweep_is_bit_exact():
    """300 random large shapes per reference (run with --runslow)."""
    rng = np.random.default_rng(42)
    for _ in range(300):
        H, W, oh, ow = (int(v) for v in rng.integers(1, 700, 4))
        method = CONV[rng.integers(0, len(CONV))]
        a = rand_u8(rng, (H, W, 3) if rng.random() < 0.5 else (H, W))
        np.testing.assert_array_equal(gilfree.resize(a, (oh, ow), method),
                                      pillow(a, (oh, ow), method), err_msg=f"{(H, W)}->{(oh, ow)}")
        oh, ow = int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1))
        a = rand_u8(rng, (H, W, int(rng.integers(1, 5))))
        np.testing.assert_array_equal(gilfree.resize(a, (oh, ow), "area"), cv2_area(a, (oh, ow)))
