"""The installation is what it claims to be: a silently degraded install
(no compiled extension, no OpenMP, Numba's unsafe workqueue layer) fails
here instead of passing slowly.  (tests/test_packaging.py checks the sdist
and wheel a release is built from.)"""

import os
import subprocess
import sys

import pytest

import gilfree
from gilfree import _config, _cy


def test_cython_extensions_are_built():
    info = _cy.build_module()
    mod = _cy.load("parzen")
    assert mod.__name__.startswith("gilfree._cy.parzen")
    assert info.build_info()["compiler"]


def test_built_with_openmp():
    if os.environ.get("GILFREE_ALLOW_NO_OPENMP") == "1":
        pytest.skip("GILFREE_ALLOW_NO_OPENMP=1: a build without OpenMP is accepted")
    info = _cy.build_module()
    assert info.openmp_enabled(), (
        "the Cython extensions were built without OpenMP: kernels would run on one "
        "thread. Rebuild with a compiler that supports -fopenmp."
    )
    assert _cy.load("parzen").OPENMP


def test_simd_variant_matches_cpu():
    info = _cy.build_module()
    level = _cy.simd_level()
    mod = _cy.load("parzen")
    assert mod.SIMD_VARIANT == level
    if level == "avx512":
        assert info.cpu_supports("avx512") and info.cpu_supports("avx2")


@pytest.mark.parametrize("machine", ["aarch64", "arm64", "ppc64le"])
def test_simd_dispatch_asks_no_x86_question_elsewhere(monkeypatch, machine):
    """On a non-x86 machine only the baseline exists: the CPU is not asked
    about AVX and GILFREE_SIMD cannot select an x86 variant."""
    import platform

    class NoX86Questions:
        def cpu_supports(self, feature):
            raise AssertionError(f"asked an {machine} CPU about {feature}")

    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(_cy, "build_module", lambda: NoX86Questions())
    monkeypatch.setattr(_cy, "_simd_level", None)
    for cap in ("", "avx512", "avx2", "baseline"):
        monkeypatch.setenv("GILFREE_SIMD", cap)
        monkeypatch.setattr(_cy, "_simd_level", None)
        assert _cy.machine_simd_levels() == ("baseline",)
        assert _cy.simd_level() == "baseline"
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert _cy.machine_simd_levels() == ("baseline", "avx2", "avx512")


def test_numba_threading_layer_is_thread_safe():
    from gilfree._info import numba_threading_layer

    layer = numba_threading_layer()
    assert layer in ("omp", "tbb"), (
        f"Numba's threading layer is {layer!r}; gilfree needs 'omp' or 'tbb' so that "
        "several Python threads can run parallel kernels at once (not 'workqueue')"
    )


def test_every_engine_of_every_kernel_is_available():
    for kernel in _config.kernels():
        avail = _config.available_engines(kernel)
        missing = {k: v for k, v in avail.items() if v is not True}
        assert not missing, f"{kernel}: {missing}"


def test_show_config_reports_the_build():
    cfg = gilfree.show_config(mode="dicts")
    for key in ("python", "numpy", "numba", "build", "numba_threading_layer",
                "usable_cores", "simd", "engines", "auto"):
        assert key in cfg
    assert cfg["build"]["cython"]
    assert cfg["usable_cores"] >= 1
    assert cfg["simd"] == _cy.load("kde").SIMD_VARIANT


def test_show_config_reports_the_simd_level_of_the_loaded_kernels(monkeypatch):
    """A build without SIMD variants runs its baseline on any CPU: that is
    the level in use, not what the CPU supports."""
    import types

    baseline_only = types.SimpleNamespace(SIMD_VARIANT="baseline")
    monkeypatch.setattr(_cy, "load", lambda name: baseline_only)
    monkeypatch.setattr(_cy, "simd_level", lambda: "avx512")
    assert gilfree.show_config(mode="dicts")["simd"] == "baseline"


def test_import_is_fast_and_compiles_nothing():
    code = (
        "import sys, time; t = time.perf_counter(); import gilfree; "
        "dt = time.perf_counter() - t; "
        "print(dt, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    # generous bound for a shared machine; the target is < 0.5 s
    assert float(out[0]) < 1.5
    assert out[1] == "False", "importing gilfree must not import numba"


def test_cli_info_runs():
    out = subprocess.run([sys.executable, "-m", "gilfree.cli", "info"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "OpenMP" in out.stdout and "threading layer" in out.stdout
