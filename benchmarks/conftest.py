"""Shared helpers of the benchmark suites.

Run with ``python -m pytest benchmarks --benchmark-only``.  Each group
compares gilfree with the named competitor in the same run; a test records
its median, and later tests of the group assert their speed ratio against
it (ratios, never absolute times: the machines are shared and noisy).

The suites are the ``bench_*.py`` files of this folder: this conftest has
pytest collect them (its default ``python_files`` is ``test_*.py``), so they
are collected from here only and ``python -m pytest tests`` never runs them.

Two more kinds of rows, both measured in the same run as what they bound:

- ``ratios.probe(...)``: a workload's throughput on one thread in natural
  units (pairs, taps, cells, ...) and as a fraction of its kernel family's
  ceiling probe (``gilfree._probes``), both timed with the thread's CPU time,
  one after the other;
- ``ratios.scaling(...)``: a kernel's 2-thread speed-up against what this
  machine gives two independent single-threaded workers running the
  1-thread kernel at the same moment (the bound of a 2-thread speed-up right
  now, which a shared host moves between about 1.2x and 1.9x), interleaved
  round by round.

At the end of the session a table of every probe row is printed, with the
CPU, the SIMD level in use and the compiler.
"""

import os
import platform
import threading
import time

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Run the benchmarks in this process: pyproject.toml's addopts spread the
    test suite over pytest-xdist workers, which pytest-benchmark refuses."""
    if hasattr(config.option, "numprocesses"):
        config.option.numprocesses = 0
        config.option.dist = "no"
    # nor is this an xdist worker when a test running in one started it
    os.environ.pop("PYTEST_XDIST_WORKER", None)


def pytest_collect_file(file_path, parent):
    """Collect ``bench_*.py`` as test modules (only in this folder)."""
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        # (a file named on the command line is collected by pytest itself)
        return pytest.Module.from_parent(parent, path=file_path)
    return None

_MEDIANS = {}
_PROBE_ROWS = []
_CEILINGS = {}
_SCALING = []


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

    def scaling(self, benchmark, key, one, two, *, share=0.9, rounds=5, repeats=2):
        """2-thread scaling against the machine's ceiling, interleaved: each
        round times ``one`` (the 1-thread call), ``two`` (the 2-thread call)
        and two workers each running ``one`` at the same moment; the ratio
        ``(t_one / t_two) / (2 t_one / t_both)`` of every round is kept and
        its median must reach ``share``.  Slow drifts of a shared host's load
        affect the three timings of a round alike."""
        def timed(func):
            t0 = time.perf_counter()
            for _ in range(repeats):
                func()
            return time.perf_counter() - t0

        one()
        two()
        speedups, ceilings, shares = [], [], []
        for _ in range(rounds):
            t_one = timed(one)
            t_two = timed(two)
            barrier = threading.Barrier(2)
            got = []
            workers = [threading.Thread(target=_loop, args=(one, repeats, barrier, got))
                       for _ in range(2)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            speedup, ceiling = t_one / t_two, 2 * t_one / max(got)
            speedups.append(speedup)
            ceilings.append(ceiling)
            shares.append(speedup / ceiling)
        med = sorted(shares)[len(shares) // 2]
        _CEILINGS[key] = sorted(ceilings)[len(ceilings) // 2]
        _SCALING.append((key, sorted(speedups)[len(speedups) // 2], _CEILINGS[key], med))
        benchmark.extra_info.update(
            {"x_vs_1_thread": round(sorted(speedups)[len(speedups) // 2], 2),
             "two_worker_ceiling_x": round(_CEILINGS[key], 2),
             "share_of_ceiling": round(med, 2)})
        assert med >= share, (
            f"{key}: 2 threads reach {med:.2f} of the speed-up two independent 1-thread "
            f"workers get at the same moment (median of {rounds} rounds); target >= {share}")
        return med


@pytest.fixture(scope="session")
def ratios():
    return Ratios()


def pytest_terminal_summary(terminalreporter):
    if not _PROBE_ROWS and not _SCALING:
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
    for key, speedup, ceiling, share in _SCALING:
        tr.write_line(f"2 threads, {key}: {speedup:.2f}x 1 thread; two independent 1-thread "
                      f"workers {ceiling:.2f}x; share {share:.2f} (target 0.9)")
