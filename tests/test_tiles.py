"""gilfree.tiles / iter_tiles: every engine against an obviously-right NumPy
oracle (pad the image, loop over the origins, count, keep, crop or
gilfree.resize), on random and structured images, memmaps, all three
output strategies, threads 1 and 2 and 8 concurrent callers; bad input;
and the memory bound, measured in a subprocess."""

import sys
import textwrap
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gilfree
from gilfree import _config
from gilfree.bench._memory import CHILD_HELPERS, run_measured

TILES_MOD = sys.modules["gilfree.tiles"]


# --------------------------------------------------------------------------
# the oracle
# --------------------------------------------------------------------------


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def oracle_luma(img):
    """Pillow's convert("L") for 3-4 channel integer images, its weights
    without rounding for float images, the first channel otherwise."""
    C = img.shape[2]
    if C < 3:
        return img[..., 0].astype(np.float64)
    if img.dtype.kind == "u":
        r, g, b = (img[..., i].astype(np.int64) for i in range(3))
        return (19595 * r + 38470 * g + 7471 * b + 32768) >> 16
    r, g, b = (img[..., i].astype(np.float64) for i in range(3))
    return (19595.0 * r + 38470.0 * g + 7471.0 * b) / 65536.0


def oracle(image, size, stride=None, *, threshold=None, mask=None, min_fraction=0.0,
           out_shape=None, method="area", pad=None, resize_engine="cython"):
    """The tiles by definition; patches resized with gilfree.resize
    (``resize_engine``: the compiled engines of gilfree.resize and their
    numpy/python twins differ in the last bit for float64 integer-factor
    ``area``, so each tiles engine is compared with its own family)."""
    img = np.asarray(image)
    squeeze = img.ndim == 2
    img3 = img[..., None] if squeeze else img
    H, W, C = img3.shape
    th, tw = _pair(size)
    sh, sw = (th, tw) if stride is None else _pair(stride)
    if pad is None:
        rows, cols = range(0, H - th + 1, sh), range(0, W - tw + 1, sw)
    else:
        rows, cols = range(0, H, sh), range(0, W, sw)
    Hp, Wp = H + th, W + tw
    big = np.empty((Hp, Wp, C), dtype=img.dtype)
    big[...] = np.asarray(0 if pad is None else pad).astype(img.dtype)
    big[:H, :W] = img3
    if mask is not None:
        fg = np.zeros((Hp, Wp), dtype=bool)
        fg[:H, :W] = mask
    elif threshold is not None:
        fg = oracle_luma(big) < threshold
    else:
        fg = np.ones((Hp, Wp), dtype=bool)
    coords, fractions, patches = [], [], []
    for r in rows:
        for c in cols:
            f = np.count_nonzero(fg[r:r + th, c:c + tw]) / (th * tw)
            if f >= min_fraction:
                tile = big[r:r + th, c:c + tw]
                tile = tile[..., 0] if squeeze else tile
                if out_shape is not None:
                    tile = gilfree.resize(tile, _pair(out_shape), method, engine=resize_engine)
                coords.append((r, c))
                fractions.append(f)
                patches.append(np.array(tile))
    oh, ow = (th, tw) if out_shape is None else _pair(out_shape)
    shape = (len(patches), oh, ow) + (() if squeeze else (C,))
    return gilfree.Tiles(
        np.array(coords, dtype=np.int64).reshape(-1, 2),
        np.array(fractions, dtype=np.float64),
        np.stack(patches) if patches else np.empty(shape, img.dtype),
    )


def assert_same(got, want):
    assert isinstance(got, gilfree.Tiles)
    assert got.coords.dtype == np.int64 and got.coords.shape == want.coords.shape
    np.testing.assert_array_equal(got.coords, want.coords)
    assert got.fraction.dtype == np.float64
    np.testing.assert_array_equal(got.fraction, want.fraction)
    assert got.patches.dtype == want.patches.dtype
    assert got.patches.shape == want.patches.shape
    np.testing.assert_array_equal(got.patches, want.patches)


def concat(batches, like):
    if not batches:
        return gilfree.Tiles(like.coords[:0], like.fraction[:0], like.patches[:0])
    return gilfree.Tiles(*(np.concatenate(parts) for parts in zip(*batches)))


# --------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------

FULL = {np.uint8: 255, np.uint16: 65535, np.float32: 1.0, np.float64: 1.0}
THRESH = {np.uint8: 128, np.uint16: 30000, np.float32: 0.5, np.float64: 0.45}


def random_image(rng, shape, dtype):
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, FULL[dtype] + 1, shape).astype(dtype)
    return rng.random(shape).astype(dtype)


def blocky_image(rng, shape, dtype, block=4):
    """Dark/bright blocks: whole-block foreground, so fractions tie exactly
    with thresholds like 0.5."""
    H, W = shape[:2]
    cells = rng.random((-(-H // block), -(-W // block))) < 0.5
    dark = np.kron(cells, np.ones((block, block), dtype=bool))[:H, :W]
    img = random_image(rng, shape, dtype)
    lo = np.asarray(FULL[dtype] * 0.2).astype(dtype)
    img[dark] = lo
    hi = np.asarray(FULL[dtype]).astype(dtype)
    img[~dark] = hi
    return img


#: (H, W, size, stride, pad): adjacent, overlap, gaps, padded borders, a
#: slide smaller than one tile, one-pixel tiles.
GEOMETRIES = [
    (37, 53, 8, None, None),
    (37, 53, (8, 6), (3, 4), None),
    (37, 53, (6, 7), (9, 11), None),
    (37, 53, 8, None, 0),
    (37, 53, (8, 6), (3, 4), "full"),
    (37, 53, (6, 7), (9, 11), "full"),
    (5, 7, 8, None, 3),
    (9, 11, 1, None, None),
    (9, 11, 1, (2, 3), 0),
]

#: (out_shape, method) recipes that fit every tile of GEOMETRIES except 1-pixel ones.
RECIPES = [
    (None, "area"),
    ((4, 3), "area"),
    ((5, 4), "area"),
    ((3, 5), "bilinear"),
    ((9, 10), "bicubic"),
    ((4, 4), "box"),
    ((5, 3), "nearest"),
]

#: (dtype, channels or 0 for a 2-D image)
KINDS = [(np.uint8, 3), (np.uint8, 0), (np.uint16, 4), (np.float32, 1), (np.float64, 2),
         (np.uint8, 4), (np.float32, 3), (np.uint16, 2)]


def _pad_value(pad, dtype):
    return FULL[dtype] if pad == "full" else pad


def _shape(H, W, channels):
    return (H, W) if channels == 0 else (H, W, channels)


@pytest.fixture(params=["one-pass", "two-pass"])
def strategy(request, monkeypatch):
    """Both ways tiles() allocates a filtered output, with bands of a single
    tile row (many bands)."""
    ratio = 1.0 if request.param == "one-pass" else 0.0
    monkeypatch.setattr(_config, "TILES_ONE_PASS_MAX_RATIO", ratio)
    monkeypatch.setattr(_config, "TILES_BAND_BYTES", 1)
    return request.param


_ORACLES = {}


def _family(engine):
    return "cython" if engine in ("cython", "numba") else "numpy"


def _geometry_case(ki, gi, ri, family):
    """(image, keyword arguments, oracle result) of one kind, geometry and
    recipe; the oracle is computed once per session."""
    key = (ki, gi, ri, family)
    if key not in _ORACLES:
        dtype, channels = KINDS[ki]
        H, W, size, stride, pad = GEOMETRIES[gi]
        img = blocky_image(np.random.default_rng([ki, gi]), _shape(H, W, channels), dtype, 3)
        out_shape, method = _recipes_for(size)[ri]
        kw = dict(stride=stride, threshold=THRESH[dtype], min_fraction=0.5,
                  pad=_pad_value(pad, dtype), out_shape=out_shape, method=method)
        _ORACLES[key] = (img, size, kw, oracle(img, size, resize_engine=family, **kw))
    return _ORACLES[key]


def _recipes_for(size):
    th, tw = _pair(size)
    return RECIPES if min(th, tw) >= 6 else [(None, "area"), ((3, 2), "bilinear"),
                                               ((2, 3), "nearest")]


@pytest.mark.parametrize("ki", range(len(KINDS)),
                         ids=[f"{np.dtype(d).name}-{c}" for d, c in KINDS])
def test_geometries_and_dtypes_match_the_oracle(engine, n_threads, ki, strategy):
    geoms = [0, 3, 6] if engine == "python" else range(len(GEOMETRIES))
    for gi in geoms:
        recipes = _recipes_for(GEOMETRIES[gi][2])
        for ri in range(3 if engine == "python" else len(recipes)):
            img, size, kw, want = _geometry_case(ki, gi, ri, _family(engine))
            got = gilfree.tiles(img, size, engine=engine, n_threads=n_threads, **kw)
            assert_same(got, want)


@pytest.mark.parametrize("ki", range(len(KINDS)),
                         ids=[f"{np.dtype(d).name}-{c}" for d, c in KINDS])
def test_cython_band_by_band_matches_the_oracle(n_threads, ki, strategy, monkeypatch):
    """The Cython engine runs a C-contiguous image in one parallel region per
    pass; switched off, it runs one region per band like the other engines."""
    monkeypatch.setattr(_config, "TILES_ONE_REGION", False)
    for gi in range(len(GEOMETRIES)):
        for ri in range(len(_recipes_for(GEOMETRIES[gi][2]))):
            img, size, kw, want = _geometry_case(ki, gi, ri, "cython")
            got = gilfree.tiles(img, size, engine="cython", n_threads=n_threads, **kw)
            assert_same(got, want)


@pytest.mark.parametrize("method", ["area", "bilinear", "hamming", "lanczos", "nearest", "box"])
def test_random_rgb_every_method_and_keep_threshold(engine, n_threads, method):
    rng = np.random.default_rng(3)
    img = random_image(rng, (70, 90, 3), np.uint8) if engine != "python" else \
        random_image(rng, (26, 30, 3), np.uint8)
    for mf in (0.0, 0.45, 0.5, 1.0):
        kw = dict(threshold=128, min_fraction=mf, out_shape=(5, 7), method=method)
        want = oracle(img, (12, 10), (7, 9), **kw)
        got = gilfree.tiles(img, (12, 10), (7, 9), engine=engine, n_threads=n_threads, **kw)
        assert_same(got, want)


def test_luma_is_pillows_convert_L():
    from PIL import Image

    rng = np.random.default_rng(4)
    img = random_image(rng, (64, 64, 3), np.uint8)
    luma = np.asarray(Image.fromarray(img).convert("L")).astype(np.int64)
    np.testing.assert_array_equal(oracle_luma(img), luma)
    for t in (0, 1, 100, 127.5, 200, 256):
        got = gilfree.tiles(img, 1, threshold=t)
        np.testing.assert_array_equal(got.fraction, (luma < t).ravel().astype(float))


def test_mask_instead_of_threshold(engine, n_threads, strategy, monkeypatch):
    rng = np.random.default_rng(5)
    img = random_image(rng, (41, 47, 3), np.float32)
    mask = rng.random((41, 47)) < 0.4
    # the Cython engine: one parallel region per pass, and one per band
    for one_region in ((True, False) if engine == "cython" else (True,)):
        monkeypatch.setattr(_config, "TILES_ONE_REGION", one_region)
        for pad in (None, 0.25):
            for out_shape, method in RECIPES[:4]:
                kw = dict(mask=mask, min_fraction=0.4, out_shape=out_shape, method=method, pad=pad)
                want = oracle(img, (9, 8), (7, 8), **kw)
                got = gilfree.tiles(img, (9, 8), (7, 8), engine=engine, n_threads=n_threads,
                                    **kw)
                assert_same(got, want)


def test_no_foreground_rule_keeps_every_tile(engine):
    rng = np.random.default_rng(6)
    img = random_image(rng, (20, 30), np.uint16)
    got = gilfree.tiles(img, (6, 8), (5, 7), pad=9, min_fraction=1.0, engine=engine)
    want = oracle(img, (6, 8), (5, 7), pad=9, min_fraction=1.0)
    assert_same(got, want)
    assert (got.fraction == 1.0).all() and len(got.coords) == 4 * 5


def test_pad_choices(engine):
    """Padded pixels take the fill value (per channel too) and follow the
    luma rule; with a mask they are background."""
    rng = np.random.default_rng(7)
    img = blocky_image(rng, (13, 17, 3), np.uint8)
    for pad in (0, 255, 100, (0, 255, 0), [10, 20, 30], np.array([255, 255, 0], np.uint8)):
        for mf in (0.0, 0.3):
            for out_shape in (None, (3, 3)):
                kw = dict(threshold=128, min_fraction=mf, pad=pad, out_shape=out_shape,
                          method="bilinear")
                assert_same(gilfree.tiles(img, 6, 5, engine=engine, **kw),
                            oracle(img, 6, 5, **kw))
    f = rng.random((13, 17)).astype(np.float32)
    for pad in (0.0, 1.0, np.nan, -5.0):
        kw = dict(threshold=0.5, pad=pad, min_fraction=0.0)
        assert_same(gilfree.tiles(f, 6, 5, engine=engine, **kw), oracle(f, 6, 5, **kw))


def test_image_smaller_than_a_tile():
    img = np.full((3, 4, 3), 50, np.uint8)
    got = gilfree.tiles(img, 8, pad=255, threshold=100)
    assert_same(got, oracle(img, 8, pad=255, threshold=100))
    assert got.coords.tolist() == [[0, 0]] and got.fraction[0] == 12 / 64
    with pytest.raises(ValueError, match="larger than the image"):
        gilfree.tiles(img, 8)


def test_result_types_and_empty_results(engine):
    img = np.full((20, 20, 3), 255, np.uint8)
    got = gilfree.tiles(img, 5, threshold=100, min_fraction=0.5, out_shape=(2, 3), engine=engine)
    assert got.coords.shape == (0, 2) and got.fraction.shape == (0,)
    assert got.patches.shape == (0, 2, 3, 3) and got.patches.dtype == np.uint8
    gray = np.zeros((20, 20), np.float32)
    got = gilfree.tiles(gray, 5, threshold=0.5, min_fraction=0.5, engine=engine)
    assert got.patches.shape == (16, 5, 5)  # no channel axis for a 2-D image
    one = np.zeros((20, 20, 1), np.float32)
    assert gilfree.tiles(one, 5, engine=engine).patches.shape == (16, 5, 5, 1)
    assert got._fields == ("coords", "fraction", "patches")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    H=st.integers(1, 30), W=st.integers(1, 30), th=st.integers(1, 12), tw=st.integers(1, 12),
    sh=st.integers(1, 14), sw=st.integers(1, 14), padded=st.booleans(),
    mf=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), channels=st.sampled_from([0, 1, 3, 4]),
    resize=st.sampled_from([None, "area", "bilinear", "nearest"]), seed=st.integers(0, 2**16),
)
def test_hypothesis_shapes_against_the_oracle(H, W, th, tw, sh, sw, padded, mf, channels,
                                              resize, seed):
    rng = np.random.default_rng(seed)
    img = random_image(rng, _shape(H, W, channels), np.uint8)
    pad = 77 if padded else None
    if not padded and (th > H or tw > W):
        with pytest.raises(ValueError, match="larger than the image"):
            gilfree.tiles(img, (th, tw), (sh, sw))
        return
    out = None if resize is None else (max(1, th // 2), max(1, (tw + 1) // 2))
    kw = dict(threshold=128, min_fraction=mf, pad=pad, out_shape=out, method=resize or "area")
    want = oracle(img, (th, tw), (sh, sw), **kw)
    for engine in ("cython", "numba", "numpy"):
        got = gilfree.tiles(img, (th, tw), (sh, sw), engine=engine, n_threads=2, **kw)
        assert_same(got, want)


# --------------------------------------------------------------------------
# iter_tiles
# --------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 3, 7, 256])
def test_iter_tiles_concatenates_to_tiles(engine, batch_size, monkeypatch):
    monkeypatch.setattr(_config, "TILES_BAND_BYTES", 1)
    rng = np.random.default_rng(8)
    img = blocky_image(rng, (40, 44, 3), np.uint8)
    for out_shape in (None, (4, 5)):
        kw = dict(threshold=128, min_fraction=0.4, out_shape=out_shape, method="bilinear", pad=0)
        want = gilfree.tiles(img, 8, 6, engine="numpy", **kw)
        batches = list(gilfree.iter_tiles(img, 8, 6, batch_size=batch_size, engine=engine,
                                          n_threads=2, **kw))
        assert all(len(b.coords) == batch_size for b in batches[:-1])
        assert batches and 1 <= len(batches[-1].coords) <= batch_size
        assert_same(concat(batches, want), want)


def test_iter_tiles_is_lazy_and_validates_at_once():
    img = np.zeros((64, 64), np.uint8)
    with pytest.raises(ValueError, match="batch_size"):
        gilfree.iter_tiles(img, 8, batch_size=0)
    with pytest.raises(ValueError, match="min_fraction"):
        gilfree.iter_tiles(img, 8, min_fraction=2)
    it = gilfree.iter_tiles(img, 8, batch_size=5)
    first = next(it)
    assert len(first.coords) == 5
    assert sum(len(b.coords) for b in it) == 64 - 5
    assert list(gilfree.iter_tiles(np.full((8, 8), 255, np.uint8), 4, threshold=9,
                                   min_fraction=0.5)) == []


# --------------------------------------------------------------------------
# memmaps
# --------------------------------------------------------------------------


@pytest.mark.parametrize("compiled", ["cython", "numba", "numpy"])
def test_memmap_input_and_mask(tmp_path, compiled, monkeypatch):
    monkeypatch.setattr(_config, "TILES_BAND_BYTES", 4096)
    rng = np.random.default_rng(9)
    img = blocky_image(rng, (70, 66, 4), np.uint8)
    path = tmp_path / "slide.npy"
    np.save(path, img)
    mm = np.load(path, mmap_mode="r")
    rgb = mm[..., :3]  # a non-contiguous memmap view (RGBA -> RGB)
    assert isinstance(rgb, np.memmap)
    kw = dict(threshold=128, min_fraction=0.5, out_shape=(5, 5), method="area")
    assert_same(gilfree.tiles(rgb, 10, 7, engine=compiled, **kw),
                oracle(img[..., :3], 10, 7, **kw))
    assert_same(gilfree.tiles(mm, 10, 7, engine=compiled, **kw), oracle(img, 10, 7, **kw))
    mask = rng.random((70, 66)) < 0.5
    mpath = tmp_path / "mask.npy"
    np.save(mpath, mask)
    mmask = np.load(mpath, mmap_mode="r")
    assert_same(gilfree.tiles(mm, 10, engine=compiled, mask=mmask, min_fraction=0.5),
                oracle(img, 10, mask=mask, min_fraction=0.5))
    batches = list(gilfree.iter_tiles(mm, 10, 7, batch_size=4, engine=compiled, **kw))
    assert_same(concat(batches, oracle(img, 10, 7, **kw)), oracle(img, 10, 7, **kw))
    del mm, rgb, mmask


def test_tifffile_memmap(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    rng = np.random.default_rng(16)
    img = blocky_image(rng, (90, 70, 3), np.uint8)
    path = tmp_path / "slide.tif"
    tifffile.imwrite(path, img)
    mm = tifffile.memmap(path, mode="r")
    assert TILES_MOD._find_mapping(mm) is not None
    kw = dict(threshold=128, min_fraction=0.5, out_shape=(4, 4))
    assert_same(gilfree.tiles(mm, 8, **kw), oracle(img, 8, **kw))
    del mm


def test_releasing_memmap_pages_keeps_their_data(tmp_path):
    """Bands of a shared memmap are released with MADV_DONTNEED: unflushed
    writes survive; copy-on-write memmaps (whose private pages would be
    lost) are never advised."""
    rng = np.random.default_rng(10)
    img = random_image(rng, (300, 200, 3), np.uint8)
    path = tmp_path / "w.npy"
    w = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=img.shape)
    w[:] = img  # dirty shared pages, not flushed
    got = gilfree.tiles(w, 16, threshold=128, min_fraction=0.3)
    np.testing.assert_array_equal(w, img)
    assert_same(got, oracle(img, 16, threshold=128, min_fraction=0.3))
    w.flush()
    del w
    c = np.load(path, mmap_mode="c")
    c[:50] = 0  # private copy-on-write pages
    expect = np.array(c)
    assert TILES_MOD._find_mapping(c) is None
    got = gilfree.tiles(c, 16, threshold=128, min_fraction=0.3)
    np.testing.assert_array_equal(c, expect)
    assert_same(got, oracle(expect, 16, threshold=128, min_fraction=0.3))
    r = np.load(path, mmap_mode="r")
    assert TILES_MOD._find_mapping(r) is not None
    assert TILES_MOD._find_mapping(np.asarray(r)[::2]) is not None
    assert TILES_MOD._find_mapping(np.array(r)) is None
    del c, r


_MEMORY_SCRIPT = CHILD_HELPERS + textwrap.dedent("""
    import json, sys
    import numpy as np
    import gilfree

    path, mode, engine, band = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    gilfree._config.TILES_BAND_BYTES = band
    slide = np.load(path, mmap_mode="r")
    kw = dict(threshold=220, min_fraction=0.5, out_shape=32, engine=engine)
    gilfree.tiles(np.zeros((600, 600, 3), np.uint8), 128, **kw)  # load and compile first
    reset_peak()
    base = status("VmRSS:")
    t0 = time.monotonic()
    out = 0
    if mode == "tiles":
        t = gilfree.tiles(slide, 128, **kw)
        out, k = t.patches.nbytes, len(t.coords)
    else:
        k = 0
        for b in gilfree.iter_tiles(slide, 128, batch_size=256, **kw):
            k += len(b.coords)
    t1 = time.monotonic()
    print(json.dumps({"t0": t0, "t1": t1, "base": base, "hwm": status("VmHWM:"), "out": out,
                      "k": k}))
""")


_SLIDE_HW = (4096, 12288)


@pytest.fixture(scope="module")
def half_tissue_slide(tmp_path_factory):
    """A 151 MB .npy slide, its left half tissue (written once per module)."""
    H, W = _SLIDE_HW
    path = tmp_path_factory.mktemp("slide") / "slide.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(H, W, 3))
    for r0 in range(0, H, 500):
        mm[r0:r0 + 500] = 255
        mm[r0:r0 + 500, : W // 2] = 90
    mm.flush()
    del mm
    yield path
    path.unlink()  # 151 MB: not left for pytest's temporary-directory rotation


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("mode", ["tiles", "iter"])
def test_memory_stays_within_a_few_bands(tmp_path, mode, half_tissue_slide):
    """A 151 MB memmap slide, half tissue, 8 MB bands: the peak resident
    memory of the call (sampled from outside, and VmHWM) stays within two
    bands and a margin beyond the output, far below the slide."""
    H, W = _SLIDE_HW
    script = tmp_path / "mem.py"
    script.write_text(_MEMORY_SCRIPT)
    band = 8 * 2**20
    m = run_measured([sys.executable, str(script), str(half_tissue_slide), mode, "cython",
                      str(band)], timeout=300)
    assert m["samples"] > 10
    assert m["k"] == (H // 128) * (W // 2 // 128)
    extra = m["peak"] - m["base"] - m["out"]
    limit = 2 * band + 16 * 2**20
    assert H * W * 3 > 2 * limit, "the slide must be larger than the allowed peak"
    assert extra <= limit, (
        f"peak {extra / 2**20:.0f} MB beyond the output (limit {limit >> 20} MB)")


# --------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------


@pytest.mark.parametrize("compiled", ["cython", "numba"])
def test_thread_count_never_changes_the_result(compiled):
    rng = np.random.default_rng(11)
    img = blocky_image(rng, (90, 130, 3), np.uint8, block=5)
    for out_shape, method in RECIPES:
        kw = dict(threshold=128, min_fraction=0.5, out_shape=out_shape, method=method, pad=0)
        runs = [gilfree.tiles(img, (12, 11), (9, 10), engine=compiled, n_threads=t, **kw)
                for t in (1, 2, 3, 5)]
        for r in runs[1:]:
            assert_same(r, runs[0])


@pytest.mark.parametrize("compiled", ["cython", "numba"])
def test_concurrent_calls_from_eight_threads(compiled):
    rng = np.random.default_rng(12)
    jobs = []
    for i in range(8):
        img = blocky_image(rng, (60 + 7 * i, 80, 3), [np.uint8, np.float32][i % 2], block=4)
        jobs.append((img, dict(threshold=THRESH[img.dtype.type], min_fraction=0.3 + 0.05 * i,
                               out_shape=(4, 4 + i % 3), method=RECIPES[1 + i % 6][1])))
    serial = [gilfree.tiles(img, 10, 8, engine=compiled, n_threads=1, **kw) for img, kw in jobs]
    results = [None] * len(jobs)
    errors = []

    def work(i):
        try:
            img, kw = jobs[i]
            for _ in range(3):
                results[i] = gilfree.tiles(img, 10, 8, engine=compiled, n_threads=2, **kw)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for got, want in zip(results, serial):
        assert_same(got, want)


@pytest.mark.parametrize("compiled", ["cython", "numba"])
def test_kernels_release_the_gil(compiled):
    """A second Python thread keeps running while a kernel works."""
    from conftest import assert_releases_gil

    rng = np.random.default_rng(13)
    img = random_image(rng, (1500, 1500, 3), np.uint8)
    kw = dict(threshold=128, min_fraction=0.0, out_shape=(37, 41), method="lanczos")
    gilfree.tiles(img[:100, :100], 50, engine=compiled, n_threads=1, **kw)

    def make_call(scale):
        big = np.concatenate([img] * scale) if scale > 1 else img
        return lambda: gilfree.tiles(big, 50, engine=compiled, n_threads=1, **kw)

    assert_releases_gil(make_call)


def test_compiled_engine_is_built_with_openmp():
    from gilfree import _cy

    mod = _cy.load("tiles")
    assert mod.OPENMP, "gilfree._cy.tiles was built without OpenMP"


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------

IMG = np.zeros((32, 40, 3), np.uint8)


@pytest.mark.parametrize("size", [0, -1, (0, 4), (4, -2)])
def test_size_must_be_positive(size):
    with pytest.raises(ValueError, match="size"):
        gilfree.tiles(IMG, size)


@pytest.mark.parametrize("stride", [0, -3, (2, 0)])
def test_stride_must_be_positive(stride):
    with pytest.raises(ValueError, match="stride"):
        gilfree.tiles(IMG, 8, stride)


@pytest.mark.parametrize("size", [2.5, "8", (8,), (8, 8, 8), True])
def test_size_must_be_ints(size):
    with pytest.raises(TypeError, match="size"):
        gilfree.tiles(IMG, size)


@pytest.mark.parametrize("size", [(8, 2.0), (8, True), (8.5, 8)])
def test_size_entries_must_be_ints(size):
    with pytest.raises(ValueError, match="size must be a positive int or a pair"):
        gilfree.tiles(IMG, size)


def test_tile_larger_than_image():
    with pytest.raises(ValueError, match=r"larger than the image \(32, 40\).*pad="):
        gilfree.tiles(IMG, (33, 8))
    with pytest.raises(ValueError, match="larger than the image"):
        gilfree.tiles(IMG, (8, 41))


def test_mask_checks():
    with pytest.raises(ValueError, match=r"mask must have the image's shape \(32, 40\)"):
        gilfree.tiles(IMG, 8, mask=np.zeros((32, 41), bool))
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        gilfree.tiles(IMG, 8, mask=np.zeros((32, 40), np.uint8))
    with pytest.raises(ValueError, match="threshold.*or mask, not both"):
        gilfree.tiles(IMG, 8, mask=np.zeros((32, 40), bool), threshold=3)


@pytest.mark.parametrize("dtype,bad", [(np.float32, 2.0), (np.float32, -0.1), (np.float64, 220),
                                       (np.uint8, 257), (np.uint8, -1), (np.uint16, 70000)])
def test_threshold_outside_the_range(dtype, bad):
    with pytest.raises(ValueError, match="threshold must be in"):
        gilfree.tiles(np.zeros((16, 16, 3), dtype), 8, threshold=bad)


def test_threshold_type_and_nan():
    with pytest.raises(ValueError, match="threshold must be finite"):
        gilfree.tiles(IMG, 8, threshold=float("nan"))
    for bad in (True, "100", [100]):
        with pytest.raises(TypeError, match="threshold"):
            gilfree.tiles(IMG, 8, threshold=bad)


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), 2])
def test_min_fraction_outside_unit_interval(bad):
    with pytest.raises(ValueError, match="min_fraction"):
        gilfree.tiles(IMG, 8, min_fraction=bad)


def test_out_shape_needs_a_resize_method():
    with pytest.raises(ValueError, match="out_shape needs a resampling method"):
        gilfree.tiles(IMG, 8, out_shape=4, method=None)
    with pytest.raises(ValueError, match="method must be one of.*did you mean 'bicubic'"):
        gilfree.tiles(IMG, 8, out_shape=4, method="cubic")
    with pytest.raises(ValueError, match="method"):
        gilfree.tiles(IMG, 8, method="cubic")
    with pytest.raises(ValueError, match="only shrinks.*bilinear"):
        gilfree.tiles(IMG, 8, out_shape=(16, 4), method="area")


@pytest.mark.parametrize("bad", [(0, 4), (4, -1), 0, (2.0, 4), (4, "3"), (4, 4, 3)])
def test_out_shape_entries_must_be_positive_ints(bad):
    with pytest.raises(ValueError, match=r"out_shape must be a pair \(rows, cols\)"):
        gilfree.tiles(IMG, 8, out_shape=bad)


def test_out_size_is_a_deprecated_alias_of_out_shape():
    want = gilfree.tiles(IMG, 8, out_shape=(4, 2), method="box")
    with pytest.warns(FutureWarning, match=r"gilfree.tiles\(out_size=...\) is deprecated.*"
                      r"use gilfree.tiles\(out_shape=\(4, 2\)\)") as rec:
        got = gilfree.tiles(IMG, 8, out_size=(4, 2), method="box")
    assert rec[0].filename == __file__  # the warning points at the caller's line
    np.testing.assert_array_equal(got.patches, want.patches)
    with pytest.warns(FutureWarning, match="iter_tiles"):
        batches = list(gilfree.iter_tiles(IMG, 8, out_size=(4, 2), method="box"))
    np.testing.assert_array_equal(np.concatenate([b.patches for b in batches]), want.patches)
    with pytest.raises(TypeError, match="both out_shape= and its deprecated name out_size="):
        gilfree.tiles(IMG, 8, out_shape=4, out_size=4)


def test_method_accepts_pillow_members_and_refuses_ints():
    Image = pytest.importorskip("PIL.Image")
    img = np.random.default_rng(3).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    want = gilfree.tiles(img, 8, out_shape=(4, 3), method="hamming")
    got = gilfree.tiles(img, 8, out_shape=(4, 3), method=Image.Resampling.HAMMING)
    np.testing.assert_array_equal(got.patches, want.patches)
    with pytest.raises(ValueError, match="bare int"):
        gilfree.tiles(IMG, 8, out_shape=4, method=3)


@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.float16, bool, np.complex64, np.int64])
def test_unsupported_dtype(dtype):
    with pytest.raises(TypeError, match="uint8, uint16, float32, float64"):
        gilfree.tiles(np.zeros((16, 16), dtype), 8)


def test_unsupported_shapes():
    with pytest.raises(ValueError, match="1 to 4 channels"):
        gilfree.tiles(np.zeros((16, 16, 5), np.uint8), 8)
    with pytest.raises(ValueError, match="1 to 4 channels"):
        gilfree.tiles(np.zeros((16, 16, 0), np.uint8), 8)
    with pytest.raises(ValueError, match="2-D"):
        gilfree.tiles(np.zeros(16, np.uint8), 8)
    with pytest.raises(ValueError, match="2-D"):
        gilfree.tiles(np.zeros((2, 16, 16, 3), np.uint8), 8)
    with pytest.raises(ValueError, match="empty"):
        gilfree.tiles(np.zeros((0, 16), np.uint8), 8, pad=0)


def test_pad_checks():
    with pytest.raises(ValueError, match=r"pad must be an integer in \[0, 255\]"):
        gilfree.tiles(IMG, 8, pad=256)
    with pytest.raises(ValueError, match="pad must be an integer"):
        gilfree.tiles(IMG, 8, pad=1.5)
    with pytest.raises(ValueError, match="one per channel"):
        gilfree.tiles(IMG, 8, pad=(1, 2))
    with pytest.raises(TypeError, match="pad"):
        gilfree.tiles(IMG, 8, pad="white")


def test_engine_and_thread_errors():
    with pytest.raises(ValueError, match="engine"):
        gilfree.tiles(IMG, 8, engine="fortran")
    with pytest.raises(ValueError, match="n_threads"):
        gilfree.tiles(IMG, 8, n_threads=0)
    with pytest.raises(TypeError, match="batch_size"):
        gilfree.iter_tiles(IMG, 8, batch_size=2.5)


def test_input_is_not_modified():
    rng = np.random.default_rng(15)
    img = random_image(rng, (30, 30, 3), np.uint8)
    keep = img.copy()
    img.flags.writeable = False
    gilfree.tiles(img, 7, 5, threshold=100, out_shape=3, pad=0)
    np.testing.assert_array_equal(img, keep)
