"""Workload registry, measurement loop and Amdahl fit of ``gilfree bench``.

A workload module (``gilfree/bench/workloads/<name>.py``) defines a
:class:`Workload` subclass and registers an instance with :func:`register`.
The runner asks it for inputs, a reference result, and a list of
:class:`Approach` objects (one per approach and worker count); it checks
every approach's result against the reference before its timings count.
"""

import dataclasses
import functools
import importlib
import math
import statistics
import time
from typing import Any, Callable, Optional

import numpy as np

__all__ = [
    "AmdahlFit",
    "Approach",
    "BenchError",
    "KINDS",
    "Unavailable",
    "Workload",
    "amdahl_fit",
    "amdahl_speedup",
    "engine_approaches",
    "scaling_verdict",
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
    #: the approach whose 1-worker run is this approach's 1-worker form,
    #: for approaches measured only from 2 workers (a pool of one thread
    #: runs the serial loop): its time is their 1-worker time
    serial: str = ""
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
    #: what :meth:`work` counts (throughput is reported in ``unit``/s)
    unit = "items"
    #: False where more workers do not divide a fixed amount of computation
    #: (tasks that wait): then no Amdahl fit, and ``amdahl_note`` says why
    amdahl_applies = True
    amdahl_note = ""

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
        """The size of the default (or ``--quick``) run, in words."""
        return self.summary(self.params(quick))

    def summary(self, params):
        """The problem size in words, for titles (e.g. "200 images of
        1024 x 1024 px")."""
        return ", ".join(f"{k}={v}" for k, v in params.items())

    def work(self, params, data):
        """How many ``unit`` one run processes: the work as posed, the same
        for every approach (one that shares work between grid points, or
        skips some, still gets the whole amount), so that throughput ratios
        equal speed-up ratios."""
        return None

    def ceiling(self, data):
        """A ceiling probe: the throughput (``unit``/s) of the workload's
        inner operation at the machine's limit (e.g. memory bandwidth or
        peak arithmetic), as ``{"throughput": float, "description": str}``;
        None where the workload has none (the default)."""
        return None

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
_MODULES = ("parzen", "kde", "resize", "resample", "tiles", "dtw_sweep", "parallelize", "io")


def register(workload):
    """Add a workload instance to the registry (replacing one of that name)."""
    _REGISTRY[workload.name] = workload
    return workload


@functools.cache
def _load_all():
    for mod in _MODULES:
        importlib.import_module(f"gilfree.bench.workloads.{mod}")


def all_workloads():
    """All registered workloads, in their listing order."""
    _load_all()
    return list(_REGISTRY.values())


def get_workload(name):
    """The registered workload called `name` (a :class:`Workload`).

    Raises
    ------
    BenchError
        When no workload has that name; the message lists the valid ones.
    """
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BenchError(
            f"unknown workload {name!r}; valid workloads: {', '.join(_REGISTRY)}"
        ) from None


# -- measurement -------------------------------------------------------------


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


# -- Amdahl's law ------------------------------------------------------------


#: Amdahl's law is fitted only from this many worker counts (1 included);
#: with two, any serial fraction goes exactly through both points
MIN_FIT_COUNTS = 3
#: predictions go no further than this many times the largest count fitted
MAX_EXTRAPOLATION = 4
#: a fit whose modelled times miss the measured ones by more than this
#: (root mean square of the relative errors) gives no predictions
MAX_RESIDUAL = 0.10
#: below this 1-worker time, thread start-up dominates: no Amdahl fit
MIN_FIT_SECONDS = 1e-3


@dataclasses.dataclass(frozen=True)
class AmdahlFit:
    """Least-squares fit of T(p) = T1 (f + (1 - f) / p).

    ``serial_fraction`` is not clipped: below 0 the runs scaled better than
    linearly, above 1 they got slower with more workers — both outside the
    model.  ``residual`` is the root mean square of the relative errors of
    the modelled times at the worker counts other than 1.
    """

    serial_fraction: float
    residual: float
    workers: tuple

    def speedup(self, p):
        return amdahl_speedup(self.serial_fraction, p)


def amdahl_fit(workers, seconds):
    """Fit Amdahl's law to the median times at ``MIN_FIT_COUNTS`` or more
    distinct worker counts, one of them 1; None with fewer.

    ``T1`` is the 1-worker time.  With ``y = T(p)/T1 - 1/p`` and
    ``a = 1 - 1/p`` the model is ``y = f a``, so ``f = sum(a y) / sum(a a)``.
    Returns an :class:`AmdahlFit`.
    """
    pairs = sorted(dict(zip(workers, seconds)).items())
    if len(pairs) < MIN_FIT_COUNTS or pairs[0][0] != 1:
        return None
    t1 = pairs[0][1]
    num = den = 0.0
    for p, t in pairs[1:]:
        a = 1.0 - 1.0 / p
        y = t / t1 - 1.0 / p
        num += a * y
        den += a * a
    if den == 0.0 or t1 <= 0:
        return None
    f = num / den
    errs = [(t1 * (f + (1.0 - f) / p) - t) / t for p, t in pairs[1:]]
    residual = math.sqrt(sum(e * e for e in errs) / len(errs))
    return AmdahlFit(f, residual, tuple(p for p, _ in pairs))


def amdahl_speedup(f, p):
    """Predicted speed-up on ``p`` workers for serial fraction ``f``."""
    return 1.0 / (f + (1.0 - f) / p) if p > 0 else math.nan


def prediction_points(pmax):
    """Where a fit may predict: 2x and ``MAX_EXTRAPOLATION`` x the largest
    fitted worker count, never further."""
    out, p = [], 2 * pmax
    while p <= MAX_EXTRAPOLATION * pmax:
        out.append(p)
        p *= 2
    return out


def _counts(ps):
    return ", ".join(str(p) for p in ps)


def scaling_verdict(points, *, cores=None, applies=True, note=""):
    """What the worker-count timings of one approach say, in words.

    ``points`` are ``(workers, median seconds)`` pairs, one with 1 worker.
    Returns a dict: ``status`` (one of ``"not-applicable"``,
    ``"too-short"``, ``"no-speedup"``, ``"too-few-counts"``,
    ``"superlinear"``, ``"poor-fit"``, ``"fit"``), ``message``,
    ``workers`` (the counts used), ``best_workers`` and ``best_speedup``
    (the fastest count and its speed-up over the 1-worker time, measured),
    ``serial_fraction`` and ``residual``
    (numbers only for a fit) and ``predicted_speedup`` (worker count ->
    speed-up over the 1-worker time; only for a good fit, and never past
    ``MAX_EXTRAPOLATION`` times the largest count).
    """
    pts = sorted(dict(points).items())
    above = [p for p, _ in pts if cores and p > cores]
    pts = [(p, t) for p, t in pts if not (cores and p > cores)]
    out = {"status": "", "message": "", "workers": [p for p, _ in pts],
           "best_workers": None, "best_speedup": None,
           "serial_fraction": None, "residual": None, "predicted_speedup": {}}
    extra = (f" (counts above the {cores} usable cores, {_counts(above)}, are not fitted)"
             if above else "")

    def done(status, message):
        out["status"], out["message"] = status, message + extra
        return out

    if not applies:
        extra = ""
        return done("not-applicable", note or "Amdahl's law does not apply to this workload")
    t1 = dict(pts).get(1)
    multi = [(p, t) for p, t in pts if p > 1]
    if t1 is None or not multi:
        return done("too-few-counts", "no 1-worker time and another worker count within "
                                      "the usable cores to compare")
    if t1 < MIN_FIT_SECONDS:
        return done("too-short", f"the 1-worker time ({t1 * 1e6:.0f} µs) is below "
                                 f"{MIN_FIT_SECONDS * 1e3:g} ms: start-up costs dominate; "
                                 "not fitted")
    best_p, best_t = min(multi, key=lambda pt: pt[1])
    out["best_workers"], out["best_speedup"] = best_p, t1 / best_t
    if best_t >= t1:
        worst = ", ".join(f"{p} workers took {t / t1:.2f}x" for p, t in multi)
        return done("no-speedup", f"no speed-up measured: {worst} the 1-worker time")
    s = t1 / best_t
    measured = f"{s:.2f}x on {best_p} workers ({s / best_p:.0%} efficiency)"
    if len(pts) < MIN_FIT_COUNTS:
        return done("too-few-counts",
                    f"{measured}; {len(pts)} worker counts measured ({_counts(out['workers'])}): "
                    f"Amdahl's law is fitted from {MIN_FIT_COUNTS} or more")
    fit = amdahl_fit([p for p, _ in pts], [t for _, t in pts])
    out["residual"] = fit.residual
    if fit.serial_fraction < 0:
        return done("superlinear", f"{measured}: faster than linear (caches?); Amdahl's law "
                                   "does not describe it")
    if fit.serial_fraction >= 1:
        return done("no-speedup", f"{measured}, but no consistent speed-up over the counts "
                                  f"{_counts(out['workers'])}; not fitted")
    out["serial_fraction"] = fit.serial_fraction
    if fit.residual > MAX_RESIDUAL:
        return done("poor-fit", f"serial fraction f = {fit.serial_fraction:.3f}, but the model "
                                f"misses the measured times by {fit.residual:.0%} (RMS): "
                                "no prediction")
    pmax = max(out["workers"])
    out["predicted_speedup"] = {str(p): fit.speedup(p) for p in prediction_points(pmax)}
    pred = ", ".join(f"{v:.1f}x at {p}" for p, v in out["predicted_speedup"].items())
    return done("fit", f"serial fraction f = {fit.serial_fraction:.3f} (fit residual "
                       f"{fit.residual:.1%} RMS over {_counts(out['workers'])} workers); "
                       f"the model predicts {pred} workers")


def engine_approaches(run, workers, name="{}"):
    """The ``numba`` and ``cython`` approaches at every worker count:
    ``run(engine, workers)`` computes the result; ``name`` formats the
    engine into the approach's name."""
    return [Approach(name.format(e), e, p, lambda e=e, p=p: run(e, p))
            for e in ("numba", "cython") for p in workers]
