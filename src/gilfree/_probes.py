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

import importlib
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import _cy

__all__ = [
    "ProbeResult",
    "WORKLOAD_PROBES",
    "for_workload",
    "fraction",
    "names",
    "parzen_candidates",
    "resample_poly_taps",
    "resize_taps",
    "run",
    "run_all",
    "thread_seconds",
]


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
    params : dict
        The workload shape the probe was run with (taps per output, ...).
    """

    name: str
    family: str
    unit: str
    per_second: float
    simd: str
    params: dict = field(default_factory=dict)

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


# -- the probes --------------------------------------------------------------


def _kde_probe(dtype, sq):
    """Exp-family KDE: pairs of 2-D points, 4096 samples (in L1/L2)."""
    rng = np.random.default_rng(1)
    n, m, reps = 4096, 64, 8
    xs = np.ascontiguousarray(rng.uniform(-2, 2, (2, n)), dtype=dtype)
    w = np.full(n, 1.0 / n, dtype=dtype)
    q = np.ascontiguousarray(rng.uniform(-2, 2, (m, 2)), dtype=dtype)
    mod = _cy.load("kde")
    return (lambda: mod.probe(xs, w, q, -0.5, sq, reps)), n * m * reps


def _resize_probe(dtype, taps, area=False):
    """Image resize: ``taps`` weighted rows of 4096 pixels into one (a tap =
    one pixel times one weight added to a sum); ``area``: their mean (one
    add per input pixel)."""
    taps = max(1, int(round(taps)))
    src = np.random.default_rng(2).integers(0, 256, (taps, 4096)).astype(dtype)
    out = np.empty(4096, dtype=dtype)
    if area:
        k = None
    elif dtype == np.uint8:
        k = np.full(taps, (1 << 22) // taps, dtype=np.int32)
    else:
        k = np.full(taps, 1.0 / taps)
    mod = _cy.load("resize")
    reps = max(1, 256 // taps)
    return (lambda: mod.probe(src, out, k, reps)), taps * 4096 * reps


def _parzen_probe(widths=32):
    """Parzen windows: candidates of 2-D points binned against ``widths``
    sorted half widths in [0.05, 0.5] (the candidates spread as a point's
    candidates do: within the widest half width)."""
    parzen = importlib.import_module("gilfree.parzen")
    rng = np.random.default_rng(3)
    h = np.linspace(0.1, 1.0, int(widths))
    x = rng.uniform(-0.55, 0.55, (4096, 2))
    q = np.zeros((8, 2)) + rng.uniform(-0.05, 0.05, (8, 2))
    plan = parzen._make_plan(x, np.ascontiguousarray(np.sort(0.5 * h)), None, 1)
    xs = np.ascontiguousarray(x.T)
    mod = _cy.load("parzen")
    return (lambda: mod.probe(xs, q, plan, 4)), xs.shape[1] * q.shape[0] * 4


def _dtw_probe(channels=3, rows=200):
    """Subsequence DTW: cells of a (rows, 2048) accumulated cost matrix."""
    rng = np.random.default_rng(4)
    tT = np.ascontiguousarray(rng.standard_normal((int(channels), int(rows))))
    sr = np.ascontiguousarray(rng.standard_normal((int(channels), 2048)))
    mod = _cy.load("dtw")
    return (lambda: mod.probe(tT, sr, 2)), tT.shape[1] * sr.shape[1] * 2


def _tiles_probe():
    """Slide tiling: RGB uint8 pixels measured by the luma rule."""
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (1 << 16, 3), dtype=np.uint8)
    mod = _cy.load("tiles")
    return (lambda: mod.probe(rgb, 220, 16)), rgb.shape[0] * 16


def _resample_probe(taps=44):
    """resample_poly: float64 multiply-adds, ``taps`` rows of 2048 samples."""
    rng = np.random.default_rng(6)
    taps = max(1, int(round(taps)))
    x = rng.standard_normal((taps, 2048))
    h = rng.standard_normal(taps)
    out = np.empty(2048)
    mod = _cy.load("resample")
    reps = max(1, 512 // taps)
    return (lambda: mod.probe(x, h, out, reps)), taps * 2048 * reps


#: name -> (family, unit, setup); ``setup(**params)`` returns
#: (callable, elements per call)
_PROBES = {
    "kde-gaussian-f64": ("kde", "pairs", lambda: _kde_probe(np.float64, False)),
    "kde-gaussian-f32": ("kde", "pairs", lambda: _kde_probe(np.float32, False)),
    "kde-exponential-f64": ("kde", "pairs", lambda: _kde_probe(np.float64, True)),
    "kde-exponential-f32": ("kde", "pairs", lambda: _kde_probe(np.float32, True)),
    "resize-taps-u8": ("resize", "taps", lambda taps=8: _resize_probe(np.uint8, taps)),
    "resize-taps-f32": ("resize", "taps", lambda taps=8: _resize_probe(np.float32, taps)),
    "resize-area-u8": ("resize", "pixels", lambda rows=16: _resize_probe(np.uint8, rows, True)),
    "resize-area-f32": ("resize", "pixels",
                        lambda rows=16: _resize_probe(np.float32, rows, True)),
    "parzen": ("parzen", "candidates", _parzen_probe),
    "dtw": ("dtw", "cells", _dtw_probe),
    "tiles": ("tiles", "pixels", _tiles_probe),
    "resample-poly": ("resample", "taps", _resample_probe),
}


#: The probe bounding each ``gilfree bench`` workload (by workload name).
WORKLOAD_PROBES = {
    "kde": "kde-gaussian-f64",
    "parzen": "parzen",
    "parzen-multi": "parzen",
    "resize": "resize-taps-u8",
    "resample-poly": "resample-poly",
    "dtw-sweep": "dtw",
    "tiles": "tiles",
}


def for_workload(workload, **params):
    """The probe of a ``gilfree bench`` workload, measured now, as a dict
    (``ProbeResult.as_dict``); None for a workload no kernel probe bounds
    (the parallel-map and I/O workloads)."""
    name = WORKLOAD_PROBES.get(workload)
    return None if name is None else run(name, **params).as_dict()


def names():
    """The probes available, in a stable order."""
    return list(_PROBES)


def run(name, *, repeats=5, min_seconds=0.02, **params):
    """Measure one probe on the calling thread.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    repeats : int
        Timed samples; the best is kept.
    min_seconds : float
        Each sample runs the probe at least this long (CPU time).
    **params
        The workload's shape where the probe depends on it: ``taps`` (taps
        per output: the resize and resample probes), ``rows`` (area: input
        rows per output row; dtw: template length), ``widths`` (parzen),
        ``channels`` (dtw).

    Returns
    -------
    ProbeResult
    """
    try:
        family, unit, setup = _PROBES[name]
    except KeyError:
        raise ValueError(f"unknown probe {name!r}; known: {', '.join(_PROBES)}") from None
    try:
        func, elements = setup(**params)
    except TypeError as exc:
        raise TypeError(f"probe {name!r}: {exc}") from None
    func()  # warm: page in, load the module
    seconds = thread_seconds(func, repeats=repeats, min_seconds=min_seconds)
    return ProbeResult(name, family, unit, elements / seconds, _cy.simd_level(),
                       dict(params))


def run_all(names_=None, **kwargs):
    """Measure several probes (default: all, default shapes); returns
    {name: ProbeResult}."""
    return {name: run(name, **kwargs) for name in (names_ or names())}


def fraction(func, elements, probe, *, repeats=5, min_seconds=0.0, **params):
    """Throughput of ``func`` (``elements`` per call, one thread) and its
    fraction of the probe ``probe``, both timed now, one after the other,
    with the calling thread's CPU time.

    Returns
    -------
    dict
        ``per_second``, ``probe_per_second``, ``fraction``, ``unit``,
        ``probe``, ``simd``, ``params``.
    """
    seconds = thread_seconds(func, repeats=repeats, min_seconds=min_seconds)
    ref = run(probe, repeats=repeats, **params)
    per_second = elements / seconds
    return {"per_second": per_second, "probe_per_second": ref.per_second,
            "fraction": per_second / ref.per_second, "unit": ref.unit, "probe": probe,
            "simd": ref.simd, "params": dict(params)}


# -- the work of a workload, in the probes' units ----------------------------


def resize_taps(in_shape, out_shape, method, channels=1):
    """Taps (pixel times weight, added) Pillow's convolution resampler
    computes for one image of ``in_shape`` (H, W) to ``out_shape``, both
    passes, the real taps (no padding); and the mean taps per output."""
    from . import _resize_plan as plan

    (H, W), (oh, ow) = in_shape, out_shape
    hp, vp = ow != W, oh != H
    xb = plan.pillow_coefficients(W, ow, method, fixed_point=False, pad_to=1)[0]
    yb = plan.pillow_coefficients(H, oh, method, fixed_point=False, pad_to=1)[0]
    total = outputs = 0
    if hp and vp and plan.pillow_vertical_first(H, W, oh, ow):
        total = oh * W * int(yb[:, 1].sum()) + oh * int(xb[:, 1].sum())
        outputs = oh * W + oh * ow
    else:
        if hp:
            rows = (int(yb[-1, 0] + yb[-1, 1] - yb[0, 0])) if vp else H
            total += rows * int(xb[:, 1].sum())
            outputs += rows * ow
        if vp:
            total += ow * int(yb[:, 1].sum())
            outputs += oh * ow
    return total * channels, total / max(outputs, 1)


def parzen_candidates(samples, points, widths):
    """(point, sample) candidates the compiled Parzen kernels visit."""
    parzen = importlib.import_module("gilfree.parzen")
    _, q, _, _, _, plan, _ = parzen._prepare(samples, points, widths, None)
    return int(_cy.load("parzen").candidates(plan, q))


def resample_poly_taps(n_in, up, down, channels=1):
    """Filter taps resample_poly computes, and the taps per output sample."""
    resample = importlib.import_module("gilfree.resample")
    g = math.gcd(up, down)
    hr, _, n_out = resample._poly_plan(up // g, down // g, n_in)
    return n_out * channels * hr.shape[1], hr.shape[1]
