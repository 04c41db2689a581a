"""The engine contract (gilfree._engines): every engine of every kernel
family provides every function its family declares, with a compatible
signature, and every compiled constant equals its gilfree._config twin."""

import importlib
import inspect
import sys
import types

import pytest

import gilfree  # noqa: F401 - registers every kernel family
from gilfree import _config, _cy
from gilfree._engines import COMPILED_ATTRIBUTES, CONTRACT, missing

FAMILIES = ("parzen", "kde", "resize", "resample", "tiles", "dtw")
CASES = [(f, e) for f in FAMILIES for e in _config.ENGINES]


def _params(func):
    return [p for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _check_signature(where, func, declared):
    names = declared.split()
    params = _params(func)
    assert len(params) == len(names), (
        f"{where}: takes {[p.name for p in params]}, the contract says {names}")
    required_kw = [p.name for p in inspect.signature(func).parameters.values()
                   if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    assert not required_kw, f"{where}: required keyword-only parameters {required_kw}"
    if "n_threads" in names:  # positional calls rely on its place
        assert params[names.index("n_threads")].name == "n_threads", where


def test_the_contract_covers_every_registered_family():
    assert sorted(CONTRACT) == sorted(FAMILIES) == _config.kernels()
    for family in FAMILIES:
        assert set(_config._kernel_spec(family)["engines"]) == set(_config.ENGINES), family


@pytest.mark.parametrize("family,engine", CASES)
def test_engine_satisfies_the_contract(family, engine):
    available = _config.available_engines(family)[engine]
    if engine == "numba":
        pytest.importorskip("numba")
    assert available is True, f"{family}/{engine}: {available}"
    _, mod = _config.get_engine(family, engine)
    assert missing(family, mod) == []
    contract = CONTRACT[family]
    for name, declared in contract.functions.items():
        _check_signature(f"{family}/{engine}.{name}", getattr(mod, name), declared)
    for name, declared in contract.optional.items():
        if callable(getattr(mod, name, None)):
            _check_signature(f"{family}/{engine}.{name}", getattr(mod, name), declared)
    if engine == "cython":
        for attr, kind in COMPILED_ATTRIBUTES.items():
            assert isinstance(getattr(mod, attr), kind), (family, attr)


def _variants(family):
    """Every SIMD variant module of a family this CPU can import."""
    level = _cy.simd_level()
    for variant in _cy.SIMD_LEVELS[: _cy.SIMD_LEVELS.index(level) + 1]:
        name = f"gilfree._cy.{family}" + ("" if variant == "baseline" else f"_{variant}")
        try:
            yield importlib.import_module(name)
        except ImportError:
            continue  # a build without SIMD variants (GILFREE_NO_SIMD_VARIANTS=1)


@pytest.mark.parametrize("family", FAMILIES)
def test_compiled_constants_equal_their_config_twins(family):
    declared = CONTRACT[family].constants
    mods = list(_variants(family))
    assert mods, f"no compiled {family} module"
    for mod in mods:
        exported = getattr(mod, "CONSTANTS", {})
        assert set(exported) == set(declared), (mod.__name__, sorted(exported), declared)
        for name in declared:
            assert exported[name] == getattr(_config, name), (mod.__name__, name)
        tuning = getattr(mod, "TUNING", None)
        if tuning is not None:  # per-SIMD-variant constants (ext/_tuning.pxd)
            entry = _config.SIMD_TUNING[tuning["level"]]
            assert {k: v for k, v in tuning.items() if k != "level"} == {
                k: entry[k] for k in tuning if k != "level"}, mod.__name__


def test_numba_engines_use_the_config_constants():
    pytest.importorskip("numba")
    from gilfree._numba import kde, parzen

    assert (kde.LANES, kde.CHUNK, kde.PBLOCK) == (
        _config.KDE_LANES, _config.KDE_CHUNK, _config.KDE_POINT_BLOCK)
    assert parzen.BLOCK == _config.PARZEN_BLOCK


def test_an_engine_missing_a_contract_function_is_unavailable(monkeypatch):
    stub = types.ModuleType("gilfree._reference.stub")
    stub.linear = lambda x, out, n_threads: None
    spec = _config._kernel_spec("resample")
    monkeypatch.setitem(spec["engines"], "python", "gilfree._reference.stub")
    monkeypatch.setitem(spec["loaded"], "python", None)
    spec["loaded"].pop("python")
    monkeypatch.setitem(sys.modules, "gilfree._reference.stub", stub)
    why = _config.available_engines("resample")["python"]
    assert "lacks linear_many, linear_list, poly of the engine contract" in why
    with pytest.raises(_config.EngineUnavailableError, match="lacks linear_many"):
        _config.get_engine("resample", "python")


def test_a_family_without_a_contract_cannot_register():
    with pytest.raises(ValueError, match="no engine contract"):
        _config.register_kernel("nope", auto=("numpy",), engines={"numpy": "x"})
