"""The engine registry: which engines each kernel family has, loading
them (the Cython ones through the SIMD dispatcher, the Numba ones with
gilfree's threading layer), and what ``engine="auto"`` picks -- decided in
one place, :func:`_auto`.  What an engine module must provide is written in
:mod:`gilfree._engines`."""

import importlib
import os
import threading

from .._engines import CONTRACT, missing
from .nthreads import resolve_n_threads

__all__ = ["ENGINES", "NUMBA_THREADING_LAYER", "EngineUnavailableError", "auto_order",
           "available_engines", "get_engine", "import_numba", "kernels", "register_kernel",
           "resolve_engine", "select"]

#: The engines every kernel family may provide, in the order ``auto`` tries.
ENGINES = ("numba", "cython", "numpy", "python")

#: The layer gilfree asks Numba for: 'threadsafe' picks tbb when it is
#: installed and GNU/LLVM OpenMP otherwise, and never 'workqueue', which
#: aborts when two Python threads run parallel kernels at once.
NUMBA_THREADING_LAYER = "threadsafe"

_numba_lock = threading.Lock()
_numba_ready = False


def import_numba():
    """Import numba with gilfree's threading-layer choice applied."""
    global _numba_ready
    import numba

    if not _numba_ready:
        with _numba_lock:
            if not _numba_ready:
                if not os.environ.get("NUMBA_THREADING_LAYER"):
                    numba.config.THREADING_LAYER = NUMBA_THREADING_LAYER
                _numba_ready = True
    return numba


class EngineUnavailableError(RuntimeError):
    """An engine was asked for that this installation cannot run."""


_KERNELS = {}


def register_kernel(kernel, *, auto, engines):
    """Declare a kernel family and where each engine's implementation lives.

    ``engines`` maps an engine name to ``"module"``; a module under
    ``gilfree._cy`` is loaded through the SIMD dispatcher.  ``auto`` lists
    engine names in preference order (a fixed, documented choice).
    """
    if kernel not in CONTRACT:
        raise ValueError(f"kernel {kernel!r} has no engine contract: declare its engine "
                         "functions in gilfree._engines.CONTRACT")
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise ValueError(f"unknown engines {sorted(unknown)} for kernel {kernel!r}")
    _KERNELS[kernel] = {"auto": tuple(auto), "engines": dict(engines), "loaded": {}}


def _load_module(path):
    if path.startswith("gilfree._cy."):
        from gilfree import _cy

        return _cy.load(path[len("gilfree._cy.") :])
    if path.startswith("gilfree._numba."):
        import_numba()
    return importlib.import_module(path)


def _try_load(kernel, engine):
    """Return (module, None) or (None, reason)."""
    spec = _KERNELS[kernel]
    if engine in spec["loaded"]:
        return spec["loaded"][engine], None
    path = spec["engines"].get(engine)
    if path is None:
        return None, f"kernel {kernel!r} has no {engine!r} engine"
    try:
        mod = _load_module(path)
    except ImportError as exc:
        if engine == "numba":
            why = f"Numba could not be imported ({exc}); `pip install numba`"
        elif engine == "cython":
            why = str(exc)
        else:
            why = f"{path} could not be imported ({exc})"
        return None, why
    lacks = missing(kernel, mod)
    if lacks:
        return None, (f"{path} lacks {', '.join(lacks)} of the engine contract "
                      "(gilfree._engines); a stale build? Reinstall gilfree")
    spec["loaded"][engine] = mod
    return mod, None


def _kernel_spec(kernel):
    try:
        return _KERNELS[kernel]
    except KeyError:
        raise ValueError(
            f"unknown kernel {kernel!r}; registered kernels: {', '.join(sorted(_KERNELS))}"
        ) from None


def _check_engine_name(engine):
    if not isinstance(engine, str):
        raise TypeError(
            f"engine must be a string, one of 'auto', {', '.join(map(repr, ENGINES))}; "
            f"got {engine!r}"
        )
    if engine != "auto" and engine not in ENGINES:
        raise ValueError(
            f"engine must be one of 'auto', {', '.join(map(repr, ENGINES))}; got {engine!r}"
        )


def _auto(kernel, nt):
    """What ``engine="auto"`` runs for ``kernel`` on ``nt`` threads: the
    first engine of its order that loads, is not a Numba engine still to
    compile (:func:`_numba_cold`) and, for ``nt > 1``, is not a Cython build
    without OpenMP.  Returns ``(name, module)``."""
    spec = _kernel_spec(kernel)
    reasons = []
    for name in spec["auto"]:
        why = _numba_cold(kernel, name, spec)
        mod = None
        if why is None:
            mod, why = _try_load(kernel, name)
        if mod is None:
            reasons.append(f"{name}: {why}")
        elif nt > 1 and _no_openmp(name, mod):
            reasons.append(f"{name}: built without OpenMP")
        else:
            return name, mod
    raise EngineUnavailableError(
        f"no engine of kernel {kernel!r} is available ({'; '.join(reasons)}). "
        "Run `gilfree info` to see what this installation has built."
    )


def resolve_engine(kernel, engine="auto"):
    """Validate ``engine`` and turn ``auto`` into a concrete engine name."""
    _kernel_spec(kernel)
    _check_engine_name(engine)
    return _auto(kernel, 1)[0] if engine == "auto" else engine


def get_engine(kernel, engine="auto"):
    """Return ``(engine_name, module)`` for a kernel, or raise why not."""
    name = resolve_engine(kernel, engine)
    mod, why = _try_load(kernel, name)
    if mod is None:
        raise EngineUnavailableError(
            f"engine {name!r} is not available for {kernel}: {why}. "
            "Run `gilfree info` to see what this installation has built."
        )
    return name, mod


def available_engines(kernel):
    """Names of the engines of ``kernel`` that load here, and why others do not."""
    spec = _kernel_spec(kernel)
    out = {}
    for name in spec["engines"]:
        mod, why = _try_load(kernel, name)
        out[name] = True if mod is not None else why
    return out


def kernels():
    """Names of the registered kernel families."""
    return sorted(_KERNELS)


def auto_order(kernel):
    """The engines ``auto`` tries for ``kernel``, in order."""
    return _kernel_spec(kernel)["auto"]


_numba_warm = set()


def _numba_cold(kernel, name, spec):
    """Why ``auto`` passes over a Numba engine whose first call would compile
    (seconds) while a later engine in its order is ready, or None.  The
    engine is taken once Numba's cache holds its code (e.g. after
    ``gilfree._numba_warm.warm()`` or one explicit ``engine="numba"`` call);
    ``auto`` never waits for a compilation."""
    if name != "numba" or kernel in _numba_warm:
        return None
    order = spec["auto"]
    if order.index(name) == len(order) - 1:
        return None  # the last resort: nothing else to take
    path = spec["engines"].get(name, "")
    if not path.startswith("gilfree._numba."):
        return None
    from .. import _numba_cache as _cache

    file = os.path.join(os.path.dirname(_cache.__file__), path.rsplit(".", 1)[1] + ".py")
    if _cache.has_cached_code(file):
        _numba_warm.add(kernel)
        return None
    return ("not compiled yet (its first call would compile for seconds; "
            "gilfree._numba_warm.warm() compiles it once for this machine)")


def _no_openmp(name, mod):
    return name == "cython" and not getattr(mod, "OPENMP", True)


_NO_OPENMP_MSG = (
    "the Cython extension was built without OpenMP, so it runs on one thread only: "
    "reinstall with a compiler that supports -fopenmp (e.g. gcc) to use {n} threads, "
    "or pass n_threads=1. `gilfree info` shows the build state."
)


def select(kernel, engine="auto", n_threads=None):
    """Resolve engine and threads for one kernel call.

    Returns ``(engine_name, module, n_threads)``.  ``auto`` passes over a
    Cython engine built without OpenMP when more than one thread is wanted;
    asking for it explicitly with ``n_threads > 1`` is an error that says why.
    """
    nt = resolve_n_threads(n_threads)
    if engine == "auto":
        return (*_auto(kernel, nt), nt)
    name, mod = get_engine(kernel, engine)
    if _no_openmp(name, mod):
        if n_threads is not None and nt > 1:
            raise EngineUnavailableError(_NO_OPENMP_MSG.format(n=nt))
        nt = 1
    return name, mod, nt
