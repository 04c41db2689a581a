"""Workload registry, measurement loop and Amdahl fit of ``gilfree bench``.

A workload module (``gilfree/bench/workloads/<name>.py``) defines a
:class:`Workload` subclass and registers an instance with :func:`register`.
The runner asks it for inputs, a reference result, and a list of
:class:`Approach` objects (one per approach and worker count); it checks
every approach's result against the reference before its timings count.
"""

import dataclasses
import importlib
import math
import statistics
import time
from typing import Any, Callable, Optional

import numpy as np

__all__ = [
    "Approach",
    "BenchError",
    "KINDS",
    "Unavailable",
    "Workload",
    "amdahl_fit",
    "amdahl_speedup",
    "get_workload",
    "measure",
    "register",
    "all_workloads",
]

#: Approach kinds, in the order tables list them.
KINDS = (
    "python",            # serial pure Python (the baseline)
    "python-threads",    # pure Python on a thread pool: held by the GIL
    "python-processes",  # pure Python on a process pool: pays pickling and start-up
    "competitor",        # the library users run today (scipy, Pillow, ...)
    "numpy",
    "numba",
    "cython",
    "gilfree",           # a gilfree API that picks its engine itself
    "dask",              # the same work through a Dask LocalCluster (--backend dask)
)


class BenchError(RuntimeError):
    """A benchmark could not be run as asked."""


@dataclasses.dataclass
class Approach:
    """One way of computing a workload's result.

    ``run()`` computes the result; its time is what is measured.  ``scale``
    multiplies the measured time when the approach runs on a fraction of the
    input (a slow baseline estimated from a subset: then ``estimated`` is
    set and the result is checked against ``reference_subset``).
    """

    name: str
    kind: str
    workers: int
    run: Callable[[], Any]
    scale: float = 1.0
    note: str = ""
    close: Optional[Callable[[], None]] = None
    check: Optional[Callable[[Any], bool]] = None
    #: run once untimed first (JIT, pools, caches); False for plain Python,
    #: whose first run then counts as a timed run
    warmup: bool = True

    @property
    def estimated(self):
        return self.scale != 1.0


class Workload:
    """Base class of a built-in workload.

    Subclasses set ``name``, ``title``, ``description`` and ``requires``
    (modules the comparison needs) and implement :meth:`params`,
    :meth:`setup`, :meth:`reference` and :meth:`approaches`.
    """

    name = ""
    title = ""
    description = ""
    requires = ()
    #: the approach whose 1-worker time is the speed-up baseline
    baseline = "python"

    def available(self):
        """``(True, "")`` or ``(False, reason)``."""
        for mod in self.requires:
            try:
                importlib.import_module(mod)
            except ImportError as exc:
                return False, f"needs {mod} ({exc}); `pip install gilfree[bench]`"
        return True, ""

    def params(self, quick):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe_size(self, quick=False):
        return ", ".join(f"{k}={v}" for k, v in self.params(quick).items())

    def setup(self, params):  # pragma: no cover - abstract
        raise NotImplementedError

    def reference(self, data):  # pragma: no cover - abstract
        raise NotImplementedError

    def approaches(self, data, workers):  # pragma: no cover - abstract
        raise NotImplementedError

    def dask_approaches(self, data, client, workers):
        """Approaches of kind ``"dask"``: the same computation through the
        Dask cluster ``client`` (``gilfree bench --backend dask``), for each
        worker count in ``workers`` up to the cluster's workers.  The
        default adds none."""
        return []

    def same(self, result, reference):
        """Whether an approach's result equals the reference."""
        return _equal(result, reference)


class Unavailable(Workload):
    """A workload whose kernel has not landed: listed, never faked."""

    def __init__(self, name, title, reason):
        self.name, self.title, self.description, self._reason = name, title, reason, reason

    def available(self):
        return False, self._reason

    def describe_size(self, quick=False):
        return "-"


def _equal(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True))
    return bool(np.array_equal(a, b))


_REGISTRY = {}
_LOADED = False
_MODULES = ("parzen", "kde", "resize", "resample", "tiles", "dtw_sweep", "parallelize", "io")


def register(workload):
    """Add a workload instance to the registry (replacing one of that name)."""
    _REGISTRY[workload.name] = workload
    return workload


def _load_all():
    global _LOADED
    if _LOADED:
        return
    for mod in _MODULES:
        importlib.import_module(f"gilfree.bench.workloads.{mod}")
    _LOADED = True


def all_workloads():
    """All registered workloads, in their listing order."""
    _load_all()
    return list(_REGISTRY.values())


def get_workload(name):
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BenchError(
            f"unknown workload {name!r}; valid workloads: {', '.join(_REGISTRY)}"
        ) from None


# --------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------


def measure(fn, *, repeats, min_time, max_time):
    """Time ``fn`` ``repeats`` times, fewer if one run exceeds ``max_time``,
    more (up to 5x repeats) while the total stays below ``min_time``.

    Returns (result of the last run, list of seconds).
    """
    times = []
    result = None
    limit = max(repeats * 5, repeats)
    while True:
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        total = sum(times)
        if len(times) >= limit or total >= max_time:
            break
        if len(times) >= repeats and total >= min_time:
            break
    return result, times


def summarise(times, scale=1.0):
    scaled = [t * scale for t in times]
    return {
        "times": scaled,
        "median": statistics.median(scaled),
        "min": min(scaled),
        "max": max(scaled),
    }


# --------------------------------------------------------------------------
# Amdahl's law
# --------------------------------------------------------------------------


def amdahl_fit(workers, seconds):
    """Serial fraction ``f`` of T(p) = T1 (f + (1 - f) / p), least squares.

    ``T1`` is the 1-worker time (``workers`` must contain 1).  With
    ``y = T(p)/T1 - 1/p`` and ``a = 1 - 1/p`` the model is ``y = f a``, so
    ``f = sum(a y) / sum(a a)``, clipped to [0, 1].  Returns None when fewer
    than two worker counts are given.
    """
    pairs = sorted(zip(workers, seconds))
    if len(pairs) < 2 or pairs[0][0] != 1:
        return None
    t1 = pairs[0][1]
    num = den = 0.0
    for p, t in pairs[1:]:
        a = 1.0 - 1.0 / p
        y = t / t1 - 1.0 / p
        num += a * y
        den += a * a
    if den == 0.0:
        return None
    return min(1.0, max(0.0, num / den))


def amdahl_speedup(f, p):
    """Predicted speed-up on ``p`` workers for serial fraction ``f``."""
    return 1.0 / (f + (1.0 - f) / p) if p > 0 else math.nan
