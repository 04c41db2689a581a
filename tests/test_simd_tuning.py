"""The per-SIMD-variant tuning constants: every compiled variant this CPU
can run carries the numbers of its entry in ``_config.SIMD_TUNING``."""

import importlib

import pytest

from gilfree import _config, _cy

KERNEL_MODULES = ("dtw", "kde", "parzen", "resample", "resize", "tiles")


def _runnable_variants():
    level = _cy.simd_level()
    return _cy.SIMD_LEVELS[: _cy.SIMD_LEVELS.index(level) + 1]


@pytest.mark.parametrize("name", KERNEL_MODULES)
def test_every_variant_matches_config(name):
    checked = 0
    for variant in _runnable_variants():
        modname = f"gilfree._cy.{name}" + ("" if variant == "baseline" else f"_{variant}")
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue  # a build without SIMD variants (GILFREE_NO_SIMD_VARIANTS=1)
        tuning = getattr(mod, "TUNING", None)
        if tuning is None:
            continue
        level = tuning["level"]
        # a -march=native build tunes its baseline module for the native ISA
        assert level in _config.SIMD_TUNING
        if variant != "baseline":
            assert level == variant
        expected = _config.SIMD_TUNING[level]
        got = {k: v for k, v in tuning.items() if k != "level"}
        assert got == {k: expected[k] for k in got}, (modname, got, expected)
        checked += 1
    if name == "kde":
        assert checked >= 1


def test_every_variant_has_the_same_keys():
    keys = {variant: set(entry) for variant, entry in _config.SIMD_TUNING.items()}
    assert set(keys) == set(_cy.SIMD_LEVELS)
    first = keys["baseline"]
    assert all(k == first for k in keys.values())


def test_kde_partial_sums_divide_the_padding():
    for entry in _config.SIMD_TUNING.values():
        for key in ("kde_acc_f64", "kde_acc_f32"):
            acc = entry[key]
            assert acc & (acc - 1) == 0 and acc <= 64
            assert _config.KDE_LANES % acc == 0
