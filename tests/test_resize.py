"""gilfree.resize / resize_batch against Pillow, OpenCV and the engines'
plain-Python twin."""

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
        np.testing.assert_array_equal(gilfree.resize(a, (oh, ow), "bilinear"),
                                      pillow(a, (oh, ow), "bilinear"))
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


@pytest.mark.parametrize("shape", [(0, 5), (5, -1), (-3, -3), (2.0, 5), (5, "4"), (1, 2, 3),
                                   (True, 3), (5, 2.5), np.array([[2, 3]])])
def test_shape_entries_must_be_positive_ints(shape):
    """A non-integer, zero or negative entry is a ValueError naming `shape`."""
    for call in (lambda: gilfree.resize(np.zeros((4, 4), np.uint8), shape),
                 lambda: gilfree.resize(np.zeros((4, 4), np.uint8), shape=shape),
                 lambda: gilfree.resize_batch(np.zeros((2, 4, 4), np.uint8), shape)):
        with pytest.raises(ValueError, match=r"shape must be a pair \(rows, cols\) of positive"):
            call()


@pytest.mark.parametrize("shape", [5, "ab", None, 2.5])
def test_shape_must_be_a_pair(shape):
    with pytest.raises(TypeError, match="shape"):
        gilfree.resize(np.zeros((4, 4), np.uint8), shape)


def test_shape_error_names_the_entry():
    with pytest.raises(ValueError, match=r"its cols \(width\) is 0 \(in shape=\(5, 0\)\)"):
        gilfree.resize(np.zeros((4, 4), np.uint8), (5, 0))
    with pytest.raises(ValueError, match=r"its rows \(height\) is 2.5 of type float"):
        gilfree.resize(np.zeros((4, 4), np.uint8), (2.5, 3))


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


@pytest.mark.parametrize("hw", [(0, 0), (0, 5), (5, 0)])
@pytest.mark.parametrize("dtype,channels", [(np.uint8, 0), (np.uint8, 3), (np.float32, 0),
                                            (np.uint16, 0)])
def test_empty_image_gives_black_image_like_pillow(engine, hw, dtype, channels):
    """Pillow resizes a 0x0 (or 0xN) image to a black image of the asked size."""
    shape = hw + ((channels,) if channels else ())
    a = np.zeros(shape, dtype)
    for method in ("bicubic", "nearest", "area"):
        got = gilfree.resize(a, (3, 4), method, engine=engine)
        assert got.shape == (3, 4) + shape[2:] and got.dtype == dtype
        assert not got.any()
    mode = {np.uint8: "RGB" if channels else "L", np.float32: "F", np.uint16: "I;16"}[dtype]
    ref = np.asarray(PIL.new(mode, hw[::-1]).resize((4, 3)))
    np.testing.assert_array_equal(gilfree.resize(a, (3, 4)), ref)


def test_empty_batches():
    got = gilfree.resize_batch(np.zeros((0, 4, 4), np.uint8), (2, 3))
    assert got.shape == (0, 2, 3) and got.dtype == np.uint8
    got = gilfree.resize_batch(np.zeros((2, 0, 4, 3), np.float32), (2, 3))
    assert got.shape == (2, 2, 3, 3) and not got.any()
    out = np.full((2, 2, 3), 7, np.uint8)
    assert gilfree.resize_batch(np.zeros((2, 4, 0), np.uint8), (2, 3), out=out) is out
    assert not out.any()


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


# --------------------------------------------- Pillow and OpenCV dialects ----


def test_pillow_ported_call_gives_pillows_shape_and_pixels():
    """``im.resize((w, h))`` ported as ``resize(a, (h, w))``: same shape, same
    pixels, with Pillow's default filter (bicubic) as gilfree's default."""
    rng = np.random.default_rng(12)
    a = rand_u8(rng, (480, 640, 3))
    ref = np.asarray(PIL.fromarray(a).resize((320, 240)))  # Pillow: (width, height)
    assert ref.shape == (240, 320, 3)
    for got in (gilfree.resize(a, (240, 320)), gilfree.resize(a, shape=(240, 320)),
                gilfree.resize(a, (240, 320), PIL.Resampling.BICUBIC),
                gilfree.resize_batch(a[None], (240, 320))[0]):
        np.testing.assert_array_equal(got, ref)
    gray = a[..., 0]
    np.testing.assert_array_equal(gilfree.resize(gray, (100, 75)),
                                  np.asarray(PIL.fromarray(gray).resize((75, 100))))


def test_size_is_a_deprecated_alias_naming_the_order():
    a = rand_u8(np.random.default_rng(13), (48, 64))
    want = gilfree.resize(a, (24, 32), "box")
    with pytest.warns(FutureWarning, match=r"gilfree.resize\(size=...\) is deprecated.*"
                      r"use gilfree.resize\(shape=\(24, 32\)\).*\(height, width\).*"
                      r"Pillow's and OpenCV's \(width, height\) size \(32, 24\)") as rec:
        got = gilfree.resize(a, size=(24, 32), method="box")
    assert len(rec) == 1 and rec[0].filename == __file__  # the user's line
    np.testing.assert_array_equal(got, want)
    with pytest.warns(FutureWarning, match=r"gilfree.resize_batch\(size=...\)") as rec:
        got = gilfree.resize_batch(a[None], size=(24, 32), method="box")
    assert rec[0].filename == __file__
    np.testing.assert_array_equal(got[0], want)
    with pytest.raises(TypeError, match="both shape= and its deprecated name size="):
        gilfree.resize(a, (24, 32), size=(24, 32))
    with pytest.raises(TypeError, match="missing the output shape"):
        gilfree.resize(a)


def test_size_alias_warns_once_per_call_site():
    import warnings

    a = np.zeros((4, 4), np.uint8)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("default")
        for _ in range(3):
            gilfree.resize(a, size=(2, 2))
        gilfree.resize(a, size=(2, 2))
    assert len(rec) == 2 and all(r.filename == __file__ for r in rec)


def test_distributed_adapter_renames_size_too():
    """gilfree.distributed.resize_batch: shape=, and size= warns at the
    user's line (checked without a cluster: a 2-D input fails locally)."""
    from gilfree import distributed as gd

    with pytest.warns(FutureWarning, match=r"gilfree.distributed.resize_batch\(size=...\)") as rec:
        with pytest.raises(ValueError, match="images must be 3-D"):
            gd.resize_batch(np.zeros((4, 4), np.uint8), size=(2, 2))
    assert rec[0].filename == __file__
    with pytest.raises(ValueError, match="shape must be a pair"):
        gd.resize_batch(np.zeros((1, 4, 4), np.uint8), (0, 2))
    with pytest.raises(ValueError, match="bare int"):
        gd.resize_batch(np.zeros((1, 4, 4), np.uint8), (2, 2), 3)


@pytest.mark.parametrize("member", list(PIL.Resampling))
def test_pillow_resampling_members(member):
    a = rand_u8(np.random.default_rng(14), (37, 29, 3))
    known = {"NEAREST": "nearest", "BOX": "box", "BILINEAR": "bilinear", "HAMMING": "hamming",
             "BICUBIC": "bicubic", "LANCZOS": "lanczos"}
    if member.name in known:
        assert gilfree.pillow_method(member) == known[member.name]
        assert gilfree.pillow_method(int(member)) == known[member.name]
        got = gilfree.resize(a, (11, 17), member)
        np.testing.assert_array_equal(got, gilfree.resize(a, (11, 17), known[member.name]))
        np.testing.assert_array_equal(got, np.asarray(PIL.fromarray(a).resize((17, 11), member)))
    else:  # MKS2013, MKS2021 (Pillow >= 11.?): refused, naming the nearest
        for bad in (member, int(member)):
            with pytest.raises(ValueError, match=rf"{member.name} \({int(member)}\) has no "
                               r"gilfree equivalent.*nearest supported method is 'lanczos'"):
                gilfree.pillow_method(bad)
        with pytest.raises(ValueError, match=member.name):
            gilfree.resize(a, (11, 17), member)


def test_pillow_and_opencv_constant_values_are_the_tables():
    """The by-value tables agree with the installed libraries' constants."""
    from gilfree.resize import CV2_FLAGS, PILLOW_FILTERS

    for value, (name, *_) in PILLOW_FILTERS.items():
        if hasattr(PIL.Resampling, name):
            assert int(getattr(PIL.Resampling, name)) == value
    for legacy in ("NEAREST", "BILINEAR", "BICUBIC", "LANCZOS", "BOX", "HAMMING"):
        assert gilfree.pillow_method(getattr(PIL, legacy)) == legacy.lower()
    for value, (name, *_) in CV2_FLAGS.items():
        assert getattr(cv2, name) == value


@pytest.mark.parametrize("value", list(range(8)) + [np.int64(2), np.uint8(3)])
def test_bare_ints_are_refused_as_ambiguous(value):
    """``Image.BICUBIC`` (3 in Pillow >= 10.1) and ``cv2.INTER_AREA`` (3) are
    the same int: gilfree never guesses."""
    a = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match=rf"method={int(value)} is a bare int.*"
                       rf"gilfree.pillow_method\({int(value)}\).*gilfree.cv2_method"):
        gilfree.resize(a, (4, 4), value)
    with pytest.raises(ValueError, match="bare int"):
        gilfree.resize_batch(a[None], (4, 4), value)


def test_method_type_errors_and_hints():
    a = np.zeros((8, 8), np.uint8)
    for bad in (None, 2.0, True, ["bicubic"]):
        with pytest.raises(TypeError, match="method must be a method name"):
            gilfree.resize(a, (4, 4), bad)
    for bad, hint in (("BICUBIC", "lower case: 'bicubic'"), ("INTER_AREA", "gilfree.cv2_method"),
                      ("linear", "did you mean 'bilinear'"), ("cubic", "did you mean 'bicubic'"),
                      ("antialias", "ANTIALIAS is 'lanczos'")):
        with pytest.raises(ValueError, match=hint):
            gilfree.resize(a, (4, 4), bad)


def test_cv2_method():
    assert gilfree.cv2_method(cv2.INTER_AREA) == "area"
    assert gilfree.cv2_method("INTER_AREA") == "area"
    assert gilfree.cv2_method("cv2.INTER_NEAREST_EXACT") == "nearest"
    assert gilfree.cv2_method(cv2.INTER_NEAREST_EXACT) == "nearest"
    for name, nearest in (("INTER_NEAREST", "nearest"), ("INTER_LINEAR", "bilinear"),
                          ("INTER_CUBIC", "bicubic"), ("INTER_LANCZOS4", "lanczos"),
                          ("INTER_LINEAR_EXACT", "bilinear")):
        for code in (getattr(cv2, name), name):
            with pytest.raises(ValueError, match=rf"cv2.{name} \({getattr(cv2, name)}\) has no "
                               rf"gilfree equivalent.*nearest supported method is '{nearest}'"):
                gilfree.cv2_method(code)
    for bad in (7, 99, -1, "INTER_FOO"):
        with pytest.raises(ValueError, match="not an OpenCV interpolation flag"):
            gilfree.cv2_method(bad)
    for bad in (3.0, None, True):
        with pytest.raises(TypeError, match="code must be an int"):
            gilfree.cv2_method(bad)


def test_cv2_converted_methods_give_opencvs_pixels():
    rng = np.random.default_rng(15)
    for (H, W), (oh, ow) in [((97, 131), (13, 29)), ((64, 48), (32, 24)), ((40, 41), (39, 7))]:
        for dtype in (np.uint8, np.float32):
            a = (rng.random((H, W, 3)) * 255).astype(dtype)
            for flag in (cv2.INTER_AREA, cv2.INTER_NEAREST_EXACT):
                ref = cv2.resize(a, (ow, oh), interpolation=flag)
                got = gilfree.resize(a, (oh, ow), gilfree.cv2_method(flag))
                if flag == cv2.INTER_AREA and dtype == np.float32 and H % oh == 0:
                    # integer factors: float64 block sums vs OpenCV's float32
                    np.testing.assert_allclose(got, ref, rtol=3e-7, atol=0)
                else:
                    np.testing.assert_array_equal(got, ref)
    # enlarging with nearest, both dtypes: OpenCV's pixel-centre nearest == Pillow's
    a = rand_u8(rng, (13, 7))
    np.testing.assert_array_equal(
        gilfree.resize(a, (40, 33), gilfree.cv2_method(cv2.INTER_NEAREST_EXACT)),
        cv2.resize(a, (33, 40), interpolation=cv2.INTER_NEAREST_EXACT))


def test_area_float32_large_reductions_vs_opencv():
    """Integer-factor INTER_AREA: gilfree sums each block in float64 and rounds
    once, OpenCV sums in float32, so they drift apart as the block grows
    (docs/guide/coming-from.md); non-integer factors follow OpenCV's float32
    table sums and agree bit for bit."""
    rng = np.random.default_rng(16)
    a = rng.random((2048, 2048), dtype=np.float32)
    exact = a.astype(np.float64).reshape(2, 1024, 2, 1024).mean(axis=(1, 3))
    got = gilfree.resize(a, (2, 2), "area")
    ref = cv2.resize(a, (2, 2), interpolation=cv2.INTER_AREA)
    assert np.max(np.abs(got - exact) / exact) < 1e-7
    rel = np.max(np.abs(got.astype(np.float64) - ref) / ref)
    assert 0 < rel < 1e-4
    b = a[:2000, :1999]
    np.testing.assert_array_equal(gilfree.resize(b, (37, 53), "area"),
                                  cv2.resize(b, (53, 37), interpolation=cv2.INTER_AREA))


def test_default_method_is_pillows():
    import inspect

    from gilfree import distributed as gd

    for f in (gilfree.resize, gilfree.resize_batch, gd.resize_batch):
        assert inspect.signature(f).parameters["method"].default == "bicubic"
