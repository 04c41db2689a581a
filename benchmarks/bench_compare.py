"""``gilfree.compare`` and ``pmap(backend="auto")`` on six workloads.

Run (the machine's other load makes single numbers noisy; the targets are
ratios within one run)::

    python -m pytest benchmarks/bench_compare.py --benchmark-only

or, for the tables of the docs page "compare" (``docs/guide/compare.md``)::

    python benchmarks/bench_compare.py [NAME ...]

The workloads, each sized to take one to a few seconds serially on a
2-core machine:

- ``python-cpu``: a pure-Python CPU function (Collatz path lengths):
  holds the GIL, processes should win;
- ``numba-nogil``: a Numba ``nogil`` function of the user's on arrays:
  threads should win;
- ``gilfree-kernel``: gilfree's Parzen counts (Cython, one thread per
  call) over subjects: threads should win;
- ``io-retries``: a simulated download that sleeps and retries: threads,
  many of them;
- ``tiny-huge``: ``x + 1`` over a million integers: serial (or big chunks);
- ``dataframe``: a per-subject pandas analysis over the groups of a
  DataFrame, as ``Parallelize`` runs it.

Targets (each asserted on the medians of this run):

- ``pmap(backend="auto")`` within 1.2x of the fastest backend that
  ``compare`` measured, for every workload: that backend (and worker
  count) is timed again right before each auto run, and the medians of
  those runs are compared (on a shared machine the load moves between
  compare's runs and auto's; the ratio to compare's own median is printed
  too);
- ``compare``'s recommendation is the fastest backend or one within 10 %;
- for maps over 2 s, the probe tasks take at most 5 % of auto's time (an
  upper bound of what probing cost: they are tasks of the map, run at one
  or two workers' speed);
- a map under 50 ms (``test_short_map_costs_nothing_extra``): auto runs it
  serially, probing nothing else, within 10 % of ``backend="serial"``
  (the two timed alternately, medians compared).
"""

import math
import os
import sys
import time

import numpy as np
import pytest

import gilfree
from gilfree.parallel import Parallelize, last_plan, pmap

# --------------------------------------------------------------------------
# the workloads (module level: process workers import them by name)
# --------------------------------------------------------------------------


def collatz_block(start, size=400):
    """Total Collatz path length of ``start .. start + size - 1`` (pure Python)."""
    total = 0
    for n in range(start, start + size):
        steps = 0
        while n != 1:
            n = n // 2 if n % 2 == 0 else 3 * n + 1
            steps += 1
        total += steps
    return total


def _numba_kernel():
    import numba

    @numba.njit(nogil=True)
    def roughness(a):
        s = 0.0
        for i in range(1, a.shape[0]):
            d = a[i] - a[i - 1]
            s += math.sqrt(d * d + 1e-3) * math.cos(a[i])
        return s

    return roughness


_roughness = None


def numba_roughness(a):
    """A user's Numba ``nogil`` function (compiled at its first call in
    each process)."""
    global _roughness
    if _roughness is None:
        _roughness = _numba_kernel()
    return _roughness(a)


def _parzen_setup():
    g = np.linspace(-1.5, 1.5, 6)
    grid = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    return grid, np.linspace(0.25, 1.0, 8)


_GRID, _WIDTHS = _parzen_setup()


def parzen_profile(subject):
    """gilfree's Parzen counts of one subject on one thread (the map gives
    the parallelism)."""
    return gilfree.parzen_counts(subject, _GRID, _WIDTHS, engine="cython",
                                 n_threads=1).ravel()


def fetch_with_retries(i):
    """A simulated download: 2 ms per attempt, every fifth attempt fails
    and is retried (deterministically, so results are reproducible)."""
    for attempt in range(4):
        time.sleep(0.002)
        if (i * 7 + attempt) % 5 != 0:
            return (i, attempt)
    return (i, None)


def add_one(x):
    return x + 1


def subject_summary(frame):
    """A per-subject pandas analysis: smoothed signal statistics."""
    x = frame["signal"].rolling(25, min_periods=1).mean()
    y = frame["other"].diff().abs()
    return np.array([x.mean(), x.std(), y.quantile(0.9), (x > 0.5).mean(),
                     frame.groupby("trial")["signal"].mean().max()])


def make_items(name):
    """The items of workload ``name``."""
    rng = np.random.default_rng(19)
    if name == "python-cpu":
        return [1 + 400 * k for k in range(300)]
    if name == "numba-nogil":
        return [rng.standard_normal(400_000) for _ in range(48)]
    if name == "gilfree-kernel":
        return [rng.standard_normal((20_000, 2)) for _ in range(48)]
    if name == "io-retries":
        return list(range(1000))
    if name == "tiny-huge":
        return range(1_000_000)
    if name == "dataframe":
        import pandas as pd

        n_sub, n = 120, 4000
        frame = pd.DataFrame({
            "subject": np.repeat(np.arange(n_sub), n),
            "trial": np.tile(np.repeat(np.arange(20), n // 20), n_sub),
            "signal": rng.standard_normal(n_sub * n).cumsum() / 100,
            "other": rng.standard_normal(n_sub * n),
        })
        return [g for _, g in frame.groupby("subject")]
    raise KeyError(name)


WORKLOADS = {
    "python-cpu": collatz_block,
    "numba-nogil": numba_roughness,
    "gilfree-kernel": parzen_profile,
    "io-retries": fetch_with_retries,
    "tiny-huge": add_one,
    "dataframe": subject_summary,
}

#: seconds gilfree.compare may spend on each workload
BUDGET = 25.0
#: timed auto runs per workload (each after a run of the fastest backend)
AUTO_ROUNDS = 5

# --------------------------------------------------------------------------
# the targets
# --------------------------------------------------------------------------


def _same(a, b):
    from gilfree.bench._compare import _same as same

    return same(a, b)


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_auto_and_recommendation(benchmark, name):
    func, items = WORKLOADS[name], make_items(name)
    result = gilfree.compare(func, items, backends=("serial", "threads", "processes"),
                             budget_s=BUDGET, repeats=3)
    fastest = result.fastest()
    rec = result.recommendation
    assert rec is not None, str(result)
    want = pmap(func, items, backend="serial")
    best = dict(backend=fastest["approach"], n_workers=fastest["workers"])
    times, best_times = [], []

    def auto():
        # the fastest backend again, right before each auto run: on a
        # shared machine the load moves between compare's runs and these
        t0 = time.perf_counter()
        pmap(func, items, **best)
        best_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = pmap(func, items, backend="auto")
        times.append(time.perf_counter() - t0)
        return out

    out = benchmark.pedantic(auto, rounds=AUTO_ROUNDS, iterations=1)
    assert _same(out, want)
    plan = last_plan()
    t_auto, t_best = float(np.median(times)), float(np.median(best_times))
    benchmark.extra_info.update({
        "fastest": f"{fastest['approach']} x{fastest['workers']}",
        "fastest_s": fastest["median"], "fastest_again_s": t_best, "auto_s": t_auto,
        "auto_ratio": t_auto / t_best,
        "auto_ratio_vs_compare": t_auto / fastest["median"],
        "auto_plan": f"{plan.backend} x{plan.n_workers}: {plan.reason}",
        "recommended": f"{rec['backend']} x{rec['workers']}",
        "recommended_ratio": rec["median"] / fastest["median"],
        "estimated": result.causes["estimated"],
        "load_1min": os.getloadavg()[0],
    })
    print(f"\n{name}: fastest {fastest['approach']} x{fastest['workers']} "
          f"{fastest['median']:.3g} s in compare, {t_best:.3g} s beside auto; auto {t_auto:.3g} s "
          f"({t_auto / t_best:.2f}x; {t_auto / fastest['median']:.2f}x compare's; "
          f"{plan.backend} x{plan.n_workers}); recommended {rec['backend']} x{rec['workers']} "
          f"({rec['median'] / fastest['median']:.2f}x); probes {plan.probe_tasks} tasks "
          f"{plan.probe_seconds * 1e3:.3g} ms; load {os.getloadavg()[0]:.1f}")
    benchmark.extra_info["probe_share"] = plan.probe_seconds / t_auto
    assert rec["median"] <= 1.10 * fastest["median"], str(result)
    assert t_auto <= 1.2 * t_best, (plan, str(result))
    if t_auto > 2.0:
        # the probe tasks are tasks of the map: their time bounds what
        # probing cost (run at one or two workers' speed instead of the best)
        assert plan.probe_seconds <= 0.05 * t_auto, plan


SHORT = list(range(-2000, 2000))

def test_short_map_costs_nothing_extra(benchmark):
    """A map under 50 ms: auto runs it serially, probing nothing more.
    Timed alternately with ``backend="serial"``, round by round, and the
    medians compared (the load of a shared machine moves)."""
    serial_t, auto_t = [], []

    def both():
        t0 = time.perf_counter()
        pmap(abs, SHORT, backend="serial")
        t1 = time.perf_counter()
        out = pmap(abs, SHORT, backend="auto")
        auto_t.append(time.perf_counter() - t1)
        serial_t.append(t1 - t0)
        return out

    out = benchmark.pedantic(both, rounds=300, iterations=1, warmup_rounds=10)
    assert out == [abs(x) for x in SHORT]
    plan = last_plan()
    assert plan.backend == "serial" and plan.probe_tasks == len(SHORT)
    t_serial, t_auto = float(np.median(serial_t)), float(np.median(auto_t))
    benchmark.extra_info.update({"serial_s": t_serial, "auto_s": t_auto,
                                 "load_1min": os.getloadavg()[0]})
    print(f"\nshort map: serial {t_serial * 1e6:.0f} µs, auto {t_auto * 1e6:.0f} µs "
          f"({t_auto / t_serial:.2f}x); load {os.getloadavg()[0]:.1f}")
    assert t_auto <= 1.1 * t_serial, "auto vs serial"


# --------------------------------------------------------------------------
# the docs tables
# --------------------------------------------------------------------------


def main(names):
    for name in names or WORKLOADS:
        print(f"[{name}: load average {os.getloadavg()[0]:.1f} at the start, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}]", file=sys.stderr)
        func, items = WORKLOADS[name], make_items(name)
        result = gilfree.compare(func, items, budget_s=BUDGET)
        print(f"### {name}\n")
        print(result)
        t0 = time.perf_counter()
        pmap(func, items, backend="auto")
        t = time.perf_counter() - t0
        plan = last_plan()
        print(f"pmap(backend='auto'): {t:.3g} s, {plan.backend} x{plan.n_workers}: "
              f"{plan.reason}\n")
        if name == "dataframe":
            t0 = time.perf_counter()
            Parallelize(items, func, backend="auto")
            print(f"Parallelize(groups, subject_summary, backend='auto'): "
                  f"{time.perf_counter() - t0:.3g} s\n")


if __name__ == "__main__":
    main(sys.argv[1:])
