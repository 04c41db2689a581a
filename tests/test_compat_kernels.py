"""The kernel side's uses of other projects' private internals
(gilfree._compat.numpy_memmap, gilfree._compat.numba_llvm): each fails
loudly here when the private path stops working, and its public fallback
is exercised."""

import mmap

import numpy as np
import pytest

from gilfree._compat import numpy_memmap


def test_numpy_memmap_still_holds_its_mapping(tmp_path):
    path = tmp_path / "slide.u8"
    np.arange(3 * 4096, dtype=np.uint8).tofile(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r", shape=(3, 4096))
    try:
        got = numpy_memmap.file_mapping(mm)
        assert isinstance(got, mmap.mmap), (
            f"np.memmap of NumPy {np.__version__} no longer keeps its mmap in ._mmap "
            "(gilfree._compat.numpy_memmap): tiles() cannot release a slide's pages")
        assert len(got) >= mm.nbytes
        assert numpy_memmap.file_mapping(np.zeros(3)) is None
        assert numpy_memmap.file_mapping(mm[1:].view(np.ndarray)) is None
    finally:
        del mm


def test_tiles_finds_a_memmaps_pages_through_the_compat_module(tmp_path, monkeypatch):
    import gilfree

    path = tmp_path / "img.u8"
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    img.tofile(path)
    seen = []
    real = numpy_memmap.file_mapping
    monkeypatch.setattr(numpy_memmap, "file_mapping", lambda a: seen.append(real(a)) or seen[-1])
    mm = np.memmap(path, dtype=np.uint8, mode="r", shape=img.shape)
    got = gilfree.tiles(mm, 16, threshold=255)
    want = gilfree.tiles(img, 16, threshold=255)
    np.testing.assert_array_equal(got.patches, want.patches)
    assert any(isinstance(m, mmap.mmap) for m in seen)
    del got, mm, seen


def test_numba_llvm_uses_numbas_helpers():
    pytest.importorskip("numba")
    import numba

    from gilfree._compat import numba_llvm

    assert numba_llvm.NUMBA_HELPERS, (
        f"numba {numba.__version__} lacks numba.core.cgutils.get_item_pointer or "
        "get_or_insert_function (gilfree._compat.numba_llvm runs its fallback)")


def _sync_kernel(load_acquire, store_release, sched_yield):
    from numba import njit

    @njit
    def run(a):
        store_release(a, 1, 41)
        sched_yield()
        return load_acquire(a, 1) + 1

    return run


@pytest.mark.parametrize("numba_helpers", [True, False], ids=["numba", "fallback"])
def test_atomics_and_yield_compile_and_work(numba_helpers):
    pytest.importorskip("numba")
    from gilfree._compat import numba_llvm

    if numba_helpers and not numba_llvm.NUMBA_HELPERS:
        pytest.fail("Numba's cgutils helpers are gone; see test_numba_llvm_uses_numbas_helpers")
    run = _sync_kernel(*numba_llvm.make_sync(numba_helpers))
    a = np.zeros(3, dtype=np.int64)
    assert run(a) == 42 and a.tolist() == [0, 41, 0]


def test_bitcasts_round_trip():
    pytest.importorskip("numba")
    from numba import njit

    from gilfree._compat import numba_llvm as nl

    @njit
    def run(x, y):
        return nl.f64_bits(x), nl.bits_f64(nl.f64_bits(x)), nl.f32_bits(y), nl.bits_f32(nl.f32_bits(y))

    x, y = -1.5e-300, np.float32(3.25)
    a, b, c, d = run(x, y)
    assert a == np.float64(x).view(np.int64) and b == x
    assert c == y.view(np.int32) and d == y
