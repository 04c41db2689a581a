"""Shared test configuration.

The tests run against the *installed* package, never the source tree: its
``src/`` is never on sys.path, and this is checked here.
"""

import os
import pathlib

import numpy as np
import pytest

import gilfree

_SRC = pathlib.Path(__file__).resolve().parents[1] / "src"
if pathlib.Path(gilfree.__file__).resolve().is_relative_to(_SRC):
    raise RuntimeError(
        f"gilfree was imported from the source tree ({gilfree.__file__}); the tests must "
        "run against the installed package: `pip install .` and run pytest from the "
        "repository root without PYTHONPATH=src"
    )

#: Engines every kernel family provides.
ENGINES = ("numba", "cython", "numpy", "python")
#: Engines compiled to machine code (the GIL-free ones).
COMPILED = ("cython", "numba")
#: Thread counts every kernel is checked at.
THREADS = (1, 2)


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture(params=THREADS)
def n_threads(request):
    return request.param


def with_one_bad_sample(rng, shape, bad):
    """Standard-normal samples of ``shape``, one of them set to ``bad``
    (inf, nan) unless it is None."""
    x = rng.standard_normal(shape)
    if bad is not None:
        x[tuple(rng.integers(0, n) for n in shape)] = bad
    return x


def dyadic(rng, shape, scale=64):
    """Standard-normal values rounded to a 1/scale grid: exact in binary
    floating point, so that window boundaries are hit exactly (real ties)."""
    return np.round(rng.standard_normal(shape) * scale) / scale


# --------------------------------------------------------------------------
# gilfree.parallel: nothing a map made may outlive it
# --------------------------------------------------------------------------


def gilfree_shm(pid=None):
    """Shared memory of process ``pid`` (default: this one) that gilfree
    made: its /dev/shm segments, and (for this process) its open memfds and
    every mapping of either."""
    import glob

    pid = pid or os.getpid()
    out = {("segment", p) for p in glob.glob(f"/dev/shm/gilfree_{pid}_*")}
    if pid == os.getpid():
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("/memfd:gilfree_"):
                out.add(("fd", fd, target))
        try:
            with open("/proc/self/maps") as fh:
                for line in fh:
                    if "gilfree_" in line:
                        out.add(("mapping", line.split()[0], line.split(None, 5)[-1].strip()))
        except OSError:  # pragma: no cover
            pass
    return out


def gilfree_threads():
    import threading

    return {t for t in threading.enumerate() if t.name.startswith("gilfree-") and t.is_alive()}


@pytest.fixture
def no_leaks():
    """No shared-memory segment, memfd, mapping of either, gilfree thread or
    open map made during the test survives it.  (The buffer pool is meant to
    outlive maps: it is emptied first; shared() arrays still referenced by
    the test module are not the test's.)"""
    import time

    from gilfree.parallel import _api
    from gilfree.parallel._shared import POOL

    POOL.clear()
    before = gilfree_shm()
    threads = gilfree_threads()
    yield
    deadline = time.monotonic() + 5
    while True:
        POOL.clear()
        left = gilfree_shm() - before
        alive = gilfree_threads() - threads
        active = list(_api._ACTIVE)
        if not (left or alive or active) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"leaked shared memory: {sorted(left)}"
    assert not alive, f"threads left running: {sorted(t.name for t in alive)}"
    assert not active, f"maps left open: {active}"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


#: Test files run on one pytest-xdist worker, in file order as without xdist:
#: their module-scoped Dask clusters are started once, and the tests that
#: count a cluster's processes and ports see no restart left by a test of the
#: same file running meanwhile on the other worker.
_ONE_WORKER_FILES = ("test_dask.py",)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in _ONE_WORKER_FILES:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
    if config.getoption("--runslow") or os.environ.get("GILFREE_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: use --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def assert_releases_gil(make_call, *, min_seconds=0.03, max_scale=16):
    """Check that a kernel call lets other Python threads run.

    ``make_call(scale)`` returns a zero-argument callable doing ``scale``
    times a base amount of work.  The scale grows until one call lasts
    ``min_seconds`` (fast, quiet machines finish small inputs too soon to
    tell); then the call runs in a second thread while this thread counts
    loop iterations, which must keep at least 10 % of their solo rate (a
    kernel holding the GIL would stop them for its whole run).
    """
    import threading
    import time

    scale = 1
    while True:
        call = make_call(scale)
        t0 = time.perf_counter()
        call()
        took = time.perf_counter() - t0
        if took >= min_seconds or scale >= max_scale:
            break
        scale = min(max_scale, scale * max(2, int(min_seconds / max(took, 1e-4)) + 1))

    def rate_for(seconds):
        n, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            n += 1
        return n / seconds

    solo = rate_for(0.05)
    state = {"done": False, "error": None}

    def run():
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            state["error"] = exc
        finally:
            state["done"] = True

    worker = threading.Thread(target=run)
    t0 = time.perf_counter()
    worker.start()
    n = 0
    while not state["done"]:
        time.perf_counter()
        n += 1
    elapsed = time.perf_counter() - t0
    worker.join()
    if state["error"] is not None:
        raise state["error"]
    assert elapsed > 0.3 * min_seconds, f"the kernel ran too briefly to tell ({elapsed:.4f} s)"
    assert n / elapsed > 0.1 * solo, f"the other thread ran at {n / elapsed / solo:.0%} of its solo rate"
