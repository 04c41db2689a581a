"""What this installation built and can run (``gilfree info``)."""

import os
import platform
import sys

from . import _config
from ._version import __version__

__all__ = ["show_config", "numba_threading_layer"]


def cpuinfo():
    """The first processor's fields in /proc/cpuinfo, keys in lower case
    (empty where there is none)."""
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                info[key.strip().lower()] = value.strip()
    except OSError:
        pass
    return info


def numba_threading_layer():
    """The threading layer Numba uses in this process (runs a tiny parallel
    function once, since Numba only picks the layer on first use)."""
    numba = _config.import_numba()
    from numba import njit, prange

    @njit(parallel=True)
    def _probe(n):
        s = 0
        for i in prange(n):
            s += i
        return s

    _probe(4)
    return numba.threading_layer()


def show_config(mode="stdout", *, probe_numba=True):
    """Describe the build and the machine, as ``numpy.show_config`` does.

    Parameters
    ----------
    mode : {"stdout", "dicts"}
        ``"stdout"`` prints the description (JSON) and returns None;
        ``"dicts"`` returns it as a dict.
    probe_numba : bool
        Run a tiny parallel Numba function to learn the threading layer
        Numba picks (compiles once; False skips it).

    Returns
    -------
    dict or None
        With ``mode="dicts"``: ``python``, ``numpy``, ``numba``, ``gilfree``; ``build`` (compiler,
        Cython and NumPy versions of the extension build, OpenMP on/off);
        ``numba_threading_layer``; ``usable_cores``; ``simd`` (level in use);
        ``cpu``; ``engines`` (per kernel: engine -> True or why not) and
        ``auto`` (per kernel: what ``engine="auto"`` picks first).
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode must be 'stdout' or 'dicts'; got {mode!r}")
    import numpy as np

    info = {
        "gilfree": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpuinfo().get("model name") or platform.processor() or platform.machine(),
        "usable_cores": _config.usable_cores(),
        "n_threads_default": _config.resolve_n_threads(None),
        "numpy": np.__version__,
    }
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError as exc:
        info["numba"] = f"not importable ({exc})"
    try:
        from . import _cy

        info["build"] = _cy.build_module().build_info()
        # the level of the kernels actually loaded: a build without SIMD
        # variants runs its baseline whatever the CPU supports
        info["simd"] = getattr(_cy.load("kde"), "SIMD_VARIANT", _cy.simd_level())
    except ImportError as exc:
        info["build"] = {"error": str(exc), "openmp": False}
        info["simd"] = "n/a"
    if probe_numba:
        try:
            info["numba_threading_layer"] = numba_threading_layer()
        except Exception as exc:  # noqa: BLE001 - reported, not raised: this is a diagnostic
            info["numba_threading_layer"] = f"unavailable ({type(exc).__name__}: {exc})"
    info["env"] = {
        k: os.environ[k]
        for k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "GILFREE_NUM_THREADS",
                  "NUMBA_THREADING_LAYER", "GILFREE_SIMD")
        if k in os.environ
    }
    info["engines"] = {k: _config.available_engines(k) for k in _config.kernels()}
    info["auto"] = {k: _config.auto_order(k)[0] for k in _config.kernels()}
    if mode == "dicts":
        return info
    import json

    sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
    return None
