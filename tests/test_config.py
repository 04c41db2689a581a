"""gilfree._config as a package (constants, thread resolution, engine
registry) and the public tuning API (get_tuning / set_tuning / tuning)."""

import numpy as np
import pytest

import gilfree
from gilfree import _config
from gilfree._config import constants, nthreads, registry


def test_the_package_reexports_its_submodules_names():
    assert _config.TILES_BAND_BYTES == constants.TILES_BAND_BYTES
    assert _config.resolve_n_threads is nthreads.resolve_n_threads
    assert _config.select is registry.select
    assert set(_config.TUNABLE) == set(gilfree.get_tuning())
    for key in _config.TUNABLE:
        assert hasattr(constants, key.upper()), key


def test_setting_a_name_on_the_package_reaches_its_owner(monkeypatch):
    monkeypatch.setattr(_config, "DTW_BLOCK_COLS", 7)
    assert constants.DTW_BLOCK_COLS == 7
    monkeypatch.setattr(_config, "_numba_warm", {"kde"})
    assert registry._numba_warm == {"kde"}
    monkeypatch.undo()
    assert constants.DTW_BLOCK_COLS == _config.DTW_BLOCK_COLS == 2048


def test_auto_is_resolved_in_one_place():
    for family in _config.kernels():
        name, mod, nt = _config.select(family, "auto", 1)
        assert _config.resolve_engine(family, "auto") == name
        assert _config.get_engine(family, "auto") == (name, mod)


def test_get_set_and_restore_tuning():
    before = gilfree.get_tuning()
    assert before["tiles_band_bytes"] == 32 * 2**20
    old = gilfree.set_tuning(tiles_band_bytes=4096, dask_start_timeout=5)
    try:
        assert old == {"tiles_band_bytes": before["tiles_band_bytes"],
                       "dask_start_timeout": before["dask_start_timeout"]}
        assert _config.TILES_BAND_BYTES == constants.TILES_BAND_BYTES == 4096
        assert gilfree.get_tuning()["dask_start_timeout"] == 5.0
    finally:
        gilfree.set_tuning(**old)
    assert gilfree.get_tuning() == before


def test_tuning_block_restores_also_on_error():
    before = gilfree.get_tuning()
    with pytest.raises(KeyError):
        with gilfree.tuning(parzen_min_pairs_per_thread=1) as now:
            assert now["parzen_min_pairs_per_thread"] == 1
            assert _config.PARZEN_MIN_PAIRS_PER_THREAD == 1
            raise KeyError("boom")
    assert gilfree.get_tuning() == before


def test_tuning_reaches_the_kernels():
    """A small band budget makes tiles() walk the image in many bands; the
    result is the same (the budget never changes a result)."""
    img = np.random.default_rng(0).integers(0, 256, (96, 80, 3), dtype=np.uint8)
    want = gilfree.tiles(img, 16, threshold=255)
    with gilfree.tuning(tiles_band_bytes=1):
        got = gilfree.tiles(img, 16, threshold=255)
    for field in ("coords", "fraction", "patches"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field))


@pytest.mark.parametrize("kw,err,match", [
    (dict(tiles_band_bytes=0), ValueError, "tiles_band_bytes must be an int >= 1; got 0"),
    (dict(tiles_band_bytes=2.5), TypeError, "tiles_band_bytes must be an int >= 1; got 2.5"),
    (dict(tiles_band_bytes=True), TypeError, "tiles_band_bytes must be an int"),
    (dict(dask_close_timeout=0), ValueError, "dask_close_timeout must be a finite number"),
    (dict(dask_close_timeout=float("inf")), ValueError, "dask_close_timeout"),
    (dict(dask_close_timeout="5"), TypeError, "dask_close_timeout must be a number"),
    (dict(kde_lanes=16), TypeError, "unexpected keyword argument 'kde_lanes'; the tunable"),
])
def test_bad_tuning_names_the_parameter_and_changes_nothing(kw, err, match):
    before = gilfree.get_tuning()
    with pytest.raises(err, match=match):
        gilfree.set_tuning(kde_min_pairs_per_thread=1024, **kw)  # the good one is not set either
    assert gilfree.get_tuning() == before

