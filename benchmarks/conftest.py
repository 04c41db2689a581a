"""Shared helpers of the benchmark suites.

Run with ``python -m pytest benchmarks --benchmark-only``.  Each group
compares gilfree with the named competitor in the same run; a test records
its median, and later tests of the group assert their speed ratio against
it (ratios, never absolute times: the machines are shared and noisy).

Two more kinds of rows, both measured in the same run as what they bound:

- ``ratios.probe(...)``: a workload's throughput on one thread in natural
  units (pairs, taps, cells, ...) and as a fraction of its kernel family's
  ceiling probe (``gilfree._probes``), both timed with the thread's CPU time,
  one after the other;
- ``ratios.two_worker_ceiling(...)``: what this machine gives two
  independent single-threaded workers running the 1-thread kernel at the
  same moment (vs one alone): the bound of a 2-thread speed-up right now,
  which a shared host moves between about 1.6x and 1.9x.

At the end of the session a table of every probe row is printed, with the
CPU, the SIMD level in use and the compiler.
"""

import os
import platform
import threading
import time

import pytest

_MEDIANS = {}
_PROBE_ROWS = []
_CEILINGS = {}


def machine():
    """CPU, SIMD level in use, compiler: recorded with every figure."""
    from gilfree import _cy

    try:
        with open("/proc/cpuinfo") as fh:
            lines = fh.read().splitlines()
        model = next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name"))
        family = next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("cpu family"))
        model = f"{model} (family {family})"
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    info = _cy.build_module().build_info()
    return {"cpu": model, "cores": os.cpu_count(), "simd": _cy.simd_level(),
            "compiler": info.get("compiler", "?")}


def _loop(func, repeats, barrier, out):
    barrier.wait()
    t0 = time.perf_counter()
    for _ in range(repeats):
        func()
    out.append(time.perf_counter() - t0)


class Ratios:
    """Medians of this run, by (group, name), and target checks on them."""

    def record(self, benchmark, group, name):
        median = benchmark.stats.stats.median
        _MEDIANS[(group, name)] = median
        benchmark.extra_info["median_s"] = median
        return median

    def median(self, group, name):
        return _MEDIANS.get((group, name))

    def check(self, benchmark, group, name, *, faster_than, at_least):
        """Assert that ``name`` is at least ``at_least`` times faster than
        ``faster_than`` (both measured in this run)."""
        ours = self.record(benchmark, group, name)
        theirs = _MEDIANS.get((group, faster_than))
        if theirs is None:
            pytest.skip(f"{faster_than!r} was not measured in this run")
        ratio = theirs / ours
        benchmark.extra_info[f"x_vs_{faster_than}"] = round(ratio, 2)
        assert ratio >= at_least, (
            f"{group}: {name} is {ratio:.2f}x {faster_than}; target >= {at_least}x"
        )
        return ratio

    def probe(self, benchmark, kernel, variant, func, elements, probe, *, target=None,
              repeats=5, **params):
        """One thread of ``func`` (``elements`` of work per call) against the
        probe ``probe``: records throughput, probe and fraction (also in the
        end-of-session table) and asserts ``fraction >= target`` if given."""
        from gilfree import _probes

        func()
        res = _probes.fraction(func, elements, probe, repeats=repeats, **params)
        row = dict(kernel=kernel, variant=variant, threads=1, target=target, **res)
        _PROBE_ROWS.append(row)
        benchmark.extra_info.update(
            {f"{variant}_per_second": res["per_second"], "unit": res["unit"],
             f"{variant}_probe_per_second": res["probe_per_second"],
             f"{variant}_fraction_of_probe": round(res["fraction"], 3),
             "simd": res["simd"]})
        if target is not None:
            assert res["fraction"] >= target, (
                f"{kernel} {variant}: {res['fraction']:.2f} of its probe ({probe}); "
                f"target >= {target}")
        return res

    def two_worker_ceiling(self, key, func, *, repeats=3, rounds=3):
        """Speed-up this machine gives two independent workers each running
        ``func`` (a 1-thread kernel, which releases the GIL) ``repeats``
        times at the same moment, against one worker alone:
        ``2 * t_alone / t_both``, best of ``rounds``.  The workers are two
        Python threads of this process: forked processes cannot run OpenMP
        code after the parent has (GNU OpenMP aborts), and spawned ones would
        have to rebuild the data."""
        best = 0.0
        for _ in range(rounds):
            times = {}
            for n in (1, 2):
                barrier = threading.Barrier(n)
                got = []
                workers = [threading.Thread(target=_loop, args=(func, repeats, barrier, got))
                           for _ in range(n)]
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                times[n] = max(got)
            best = max(best, 2 * times[1] / times[2])
        _CEILINGS[key] = best
        return best

    def ceiling(self, key):
        return _CEILINGS.get(key)

    def check_scaling(self, benchmark, group, two, one, ceiling_key, *, share=0.9):
        """Assert that ``two`` (2 threads) is at least ``share`` of the
        speed-up the machine gave two independent workers in this run."""
        speedup = self.median(group, one) / self.median(group, two)
        ceiling = self.ceiling(ceiling_key)
        if ceiling is None:
            pytest.skip(f"the two-worker ceiling {ceiling_key!r} was not measured")
        benchmark.extra_info["x_vs_1_thread"] = round(speedup, 2)
        benchmark.extra_info["two_worker_ceiling_x"] = round(ceiling, 2)
        assert speedup >= share * ceiling, (
            f"{group}: 2 threads give {speedup:.2f}x 1 thread; two independent workers "
            f"gave {ceiling:.2f}x; target >= {share} of it")
        return speedup


@pytest.fixture(scope="session")
def ratios():
    return Ratios()


def pytest_terminal_summary(terminalreporter):
    if not _PROBE_ROWS:
        return
    m = machine()
    tr = terminalreporter
    tr.section("throughput against the ceiling probes (1 thread, thread CPU time)")
    tr.write_line(f"CPU: {m['cpu']}, {m['cores']} cores; SIMD level in use: {m['simd']}; "
                  f"compiler: {m['compiler']}; {time.strftime('%Y-%m-%d')}")
    tr.write_line(f"{'kernel':<28} {'variant':<16} {'throughput':>16} {'probe':>16} "
                  f"{'fraction':>8} {'target':>6}  met")
    for r in _PROBE_ROWS:
        unit = r["unit"]
        met = "-" if r["target"] is None else ("yes" if r["fraction"] >= r["target"] else "NO")
        tr.write_line(
            f"{r['kernel']:<28} {r['variant']:<16} {r['per_second'] / 1e9:>9.3f} G {unit:<5}"
            f" {r['probe_per_second'] / 1e9:>9.3f} G {unit:<5} {r['fraction']:>8.2f}"
            f" {'' if r['target'] is None else r['target']:>6}  {met}")
    for key, value in _CEILINGS.items():
        tr.write_line(f"two independent 1-thread workers, {key}: {value:.2f}x one alone")
