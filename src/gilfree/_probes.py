"""Ceiling probes: what this CPU can do for each kernel family.

A probe is the simplest compiled loop that does the same arithmetic per
element as a kernel family -- per (point, sample) pair for KDE, per filter
tap for the image and signal resamplers, per cell for DTW -- on data that
stays in cache, with none of the kernel's bookkeeping (tables, blocking,
pruning, threads).  Each probe is compiled into the same extension module as
its kernels, so it is built with the same flags and runs in the same SIMD
variant (``gilfree._cy.load`` picks both).  Its throughput on one thread is
the practical limit of this machine for that kernel; a kernel's throughput
divided by its probe's says how much of the machine it uses.

Probes are timed with the calling thread's CPU time (best of a few runs), so
other processes on a shared machine disturb them little.

Use :func:`run` for one probe and :func:`run_all` for every probe; the
benchmarks (``benchmarks/``) and ``gilfree bench`` report each workload's
throughput as a fraction of its probe.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np

from . import _cy

__all__ = ["ProbeResult", "names", "run", "run_all", "thread_seconds"]


@dataclass(frozen=True)
class ProbeResult:
    """One probe's measurement.

    Attributes
    ----------
    name : str
        The probe, e.g. ``"kde-gaussian-f64"``.
    family : str
        The kernel family it bounds (``"kde"``, ``"resize"``, ...).
    unit : str
        What one element is (``"pairs"``, ``"taps"``, ``"cells"``, ...).
    per_second : float
        Elements per second on one thread.
    simd : str
        The SIMD variant the probe ran in (the one the kernels use).
    """

    name: str
    family: str
    unit: str
    per_second: float
    simd: str

    def as_dict(self):
        return asdict(self)


def thread_seconds(func, *, repeats=5, min_seconds=0.0):
    """Best CPU time of the calling thread over ``repeats`` calls of ``func``.

    With ``min_seconds`` > 0 each timed sample repeats ``func`` until it has
    run at least that long, and the time per call is returned."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        calls = 0
        t0 = time.thread_time()
        while True:
            func()
            calls += 1
            elapsed = time.thread_time() - t0
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / calls)
    return best


# --------------------------------------------------------------------------
# the probes
# --------------------------------------------------------------------------


def _kde_probe(dtype, sq):
    """Exp-family KDE: pairs of 2-D points, 4096 samples (in L1/L2)."""
    rng = np.random.default_rng(1)
    n, m, reps = 4096, 64, 8
    xs = np.ascontiguousarray(rng.uniform(-2, 2, (2, n)), dtype=dtype)
    w = np.full(n, 1.0 / n, dtype=dtype)
    q = np.ascontiguousarray(rng.uniform(-2, 2, (m, 2)), dtype=dtype)
    mod = _cy.load("kde")
    return (lambda: mod.probe(xs, w, q, -0.5, sq, reps)), n * m * reps


#: name -> (family, unit, setup); ``setup()`` returns (callable, elements)
_PROBES = {
    "kde-gaussian-f64": ("kde", "pairs", lambda: _kde_probe(np.float64, False)),
    "kde-gaussian-f32": ("kde", "pairs", lambda: _kde_probe(np.float32, False)),
    "kde-exponential-f64": ("kde", "pairs", lambda: _kde_probe(np.float64, True)),
    "kde-exponential-f32": ("kde", "pairs", lambda: _kde_probe(np.float32, True)),
}


def names():
    """The probes available, in a stable order."""
    return list(_PROBES)


def run(name, *, repeats=5, min_seconds=0.02):
    """Measure one probe on the calling thread.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    repeats : int
        Timed samples; the best is kept.
    min_seconds : float
        Each sample runs the probe at least this long (CPU time).

    Returns
    -------
    ProbeResult
    """
    try:
        family, unit, setup = _PROBES[name]
    except KeyError:
        raise ValueError(f"unknown probe {name!r}; known: {', '.join(_PROBES)}") from None
    func, elements = setup()
    func()  # warm: page in, load the module
    seconds = thread_seconds(func, repeats=repeats, min_seconds=min_seconds)
    return ProbeResult(name, family, unit, elements / seconds, _cy.simd_level())


def run_all(names_=None, **kwargs):
    """Measure several probes (default: all); returns {name: ProbeResult}."""
    return {name: run(name, **kwargs) for name in (names_ or names())}
