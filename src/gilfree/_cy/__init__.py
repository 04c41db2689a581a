"""Compiled Cython kernels, with runtime SIMD dispatch.

Each kernel family ``ext/<name>.pyx`` is built as ``gilfree._cy.<name>``
(portable baseline) and, for x86-64 with GCC or Clang, as ``<name>_avx2`` and
``<name>_avx512``.  :func:`load` returns the best variant the running CPU
supports, chosen once.  On other architectures (aarch64, arm64) only the
baseline exists and no x86 feature is asked for.
``GILFREE_SIMD=baseline|avx2|avx512`` caps the level (for comparisons or a
CPU whose detection misbehaves); on a non-x86 machine every value means the
baseline.
"""

import importlib
import os
import platform
import threading

#: Every level a build may have, lowest first (the values GILFREE_SIMD takes).
SIMD_LEVELS = ("baseline", "avx2", "avx512")
#: Machine names (``platform.machine()``, lower case) of x86-64 processes.
_X86_64 = ("x86_64", "amd64", "x64")

_lock = threading.Lock()
_cache = {}
_simd_level = None


class ExtensionMissingError(ImportError):
    """The compiled extensions of gilfree are not importable."""


def build_module():
    try:
        return importlib.import_module("gilfree._cy._build_info")
    except ImportError as exc:
        raise ExtensionMissingError(
            "gilfree's compiled Cython extensions are not importable "
            f"({exc}). Reinstall with a C compiler available: "
            "`pip install --force-reinstall --no-cache-dir gilfree` (or `pip install .` "
            "from a checkout); `gilfree info` shows the build state."
        ) from exc


def machine_simd_levels():
    """The SIMD levels that exist for this process's architecture, lowest first."""
    if platform.machine().lower() in _X86_64:
        return SIMD_LEVELS
    return SIMD_LEVELS[:1]


def simd_level():
    """The SIMD level in use: the best the CPU supports, capped by GILFREE_SIMD."""
    global _simd_level
    if _simd_level is not None:
        return _simd_level
    info = build_module()
    best = "baseline"
    for level in machine_simd_levels()[1:]:
        if info.cpu_supports(level):
            best = level
    cap = os.environ.get("GILFREE_SIMD", "").strip().lower()
    if cap:
        if cap not in SIMD_LEVELS:
            raise ValueError(
                f"GILFREE_SIMD must be one of {', '.join(SIMD_LEVELS)}; got {cap!r}"
            )
        if SIMD_LEVELS.index(cap) < SIMD_LEVELS.index(best):
            best = cap
    _simd_level = best
    return best


def load(name):
    """Import the kernel module ``name`` in its best available SIMD variant."""
    with _lock:
        mod = _cache.get(name)
        if mod is not None:
            return mod
        level = simd_level()
        candidates = list(SIMD_LEVELS[: SIMD_LEVELS.index(level) + 1])[::-1]
        last_error = None
        for variant in candidates:
            modname = f"gilfree._cy.{name}" + ("" if variant == "baseline" else f"_{variant}")
            try:
                mod = importlib.import_module(modname)
            except ImportError as exc:
                last_error = exc
                continue
            _cache[name] = mod
            return mod
        raise ExtensionMissingError(
            f"the Cython kernel module gilfree._cy.{name} is not built ({last_error}). "
            "Reinstall gilfree with a C compiler available (`pip install .`); "
            "`gilfree info` shows the build state."
        )
