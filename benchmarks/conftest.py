"""Shared helpers of the benchmark suites.

Run with ``python -m pytest benchmarks --benchmark-only``.  Each group
compares gilfree with the named competitor in the same run; a test records
its median, and later tests of the group assert their speed ratio against
it (ratios, never absolute times: the machines are shared and noisy).

The suites are the ``bench_*.py`` files of this folder: this conftest has
pytest collect them (its default ``python_files`` is ``test_*.py``), so they
are collected from here only and ``python -m pytest tests`` never runs them.
"""

import pytest


def pytest_collect_file(file_path, parent):
    """Collect ``bench_*.py`` as test modules (only in this folder)."""
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        # (a file named on the command line is collected by pytest itself)
        return pytest.Module.from_parent(parent, path=file_path)
    return None

_MEDIANS = {}


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


@pytest.fixture(scope="session")
def ratios():
    return Ratios()
