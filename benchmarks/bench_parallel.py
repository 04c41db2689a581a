"""Speed of gilfree.parallel against the tools users hand-roll today.

Run (the machine's other load makes single numbers noisy; compare the
ratios within one run)::

    python -m pytest benchmarks/bench_parallel.py --benchmark-only \
        --benchmark-json=bench_parallel.json

Groups (targets on 2 cores):

- ``trivial-100k``: 100,000 trivial tasks.  threads <= 0.25 x
  ``ThreadPoolExecutor(2).map``; processes <= 1.5 x
  ``multiprocessing.Pool(2).map`` (its automatic chunking).
- ``slices-400MB``: 8 tasks each reading a different slice of one 400 MB
  float64 array.  processes <= 3 x threads and <= joblib's memmapping.
  A plain array is copied into shared memory by every map; the pages come
  from gilfree's buffer pool when an earlier map (here the warm-up round)
  left them there, and ``first_map`` empties the pool before each round.
- ``io-100x50ms``: 100 sleeping tasks of 50 ms on 20 threads: <= 0.4 s.
- ``kernel-8-chunks``: a gilfree kernel over 8 chunks on the threads
  backend within 10 % of one call over all the data with 2 threads.
  Two kernels: ``parzen`` prepares every call by sorting all its samples
  into strips (a radix sort, about 1.5 ms for 40,000 samples here), so 8
  calls sort 8 times: the two ``1_thread`` rows measure that cost of the
  kernel itself, with no map at all (8 calls in a loop against one call).
  ``kde`` (gaussian, group ``kernel-8-chunks-kde``) has no per-call set-up,
  so it measures what the map itself costs: thread hand-offs and the
  inner-thread share (2 workers x 1 kernel thread on 2 cores).

Each target is asserted on the medians of the run (``ratios.check``); the
rows without a target are there to explain the others.
Every benchmark also asserts that its result equals the competitor's.
"""

import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gilfree
from gilfree.parallel import pmap

# --------------------------------------------------------------------------
# trivial tasks
# --------------------------------------------------------------------------

N_TRIVIAL = 100_000
#: rounds of the short trivial maps (about 15 ms each): a shared machine needs
#: many for a stable median
TRIVIAL_ROUNDS = 30
TRIVIAL_EXPECTED = [x + 1 for x in range(N_TRIVIAL)]


def trivial(x):
    return x + 1


TRIVIAL = "trivial-100k"
SLICES = "slices-400MB"
CHUNKS = "kernel-8-chunks"
CHUNKS_KDE = "kernel-8-chunks-kde"


@pytest.mark.benchmark(group=TRIVIAL)
def test_trivial_threadpoolexecutor(benchmark, ratios):
    def run():
        with ThreadPoolExecutor(2) as ex:
            return list(ex.map(trivial, range(N_TRIVIAL)))

    assert benchmark.pedantic(run, rounds=3, iterations=1) == TRIVIAL_EXPECTED
    ratios.record(benchmark, TRIVIAL, "threadpoolexecutor")


@pytest.mark.benchmark(group=TRIVIAL)
def test_trivial_gilfree_threads(benchmark, ratios):
    run = lambda: pmap(trivial, range(N_TRIVIAL), backend="threads", n_workers=2)  # noqa: E731
    assert benchmark.pedantic(run, rounds=TRIVIAL_ROUNDS, iterations=1, warmup_rounds=1) == \
        TRIVIAL_EXPECTED
    # <= 0.25x the time of ThreadPoolExecutor(2).map
    ratios.check(benchmark, TRIVIAL, "gilfree_threads", faster_than="threadpoolexecutor",
                 at_least=4.0)


@pytest.mark.benchmark(group=TRIVIAL)
def test_trivial_mp_pool_created_per_call(benchmark):
    # what users write: the pool is created (forked) for the map
    def run():
        with multiprocessing.get_context("fork").Pool(2) as pool:
            return pool.map(trivial, range(N_TRIVIAL))

    assert benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=1) == TRIVIAL_EXPECTED


@pytest.mark.benchmark(group=TRIVIAL)
def test_trivial_mp_pool_reused(benchmark, ratios):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        run = lambda: pool.map(trivial, range(N_TRIVIAL))  # noqa: E731
        assert benchmark.pedantic(run, rounds=TRIVIAL_ROUNDS, iterations=1, warmup_rounds=1) == \
            TRIVIAL_EXPECTED
    ratios.record(benchmark, TRIVIAL, "mp_pool_reused")


@pytest.mark.benchmark(group=TRIVIAL)
def test_trivial_gilfree_processes(benchmark, ratios):
    # loky's reusable executor: the warm-up round starts the workers once
    run = lambda: pmap(trivial, range(N_TRIVIAL), backend="processes", n_workers=2)  # noqa: E731
    assert benchmark.pedantic(run, rounds=TRIVIAL_ROUNDS, iterations=1, warmup_rounds=1) == \
        TRIVIAL_EXPECTED
    # <= 1.5x a running multiprocessing.Pool(2).map
    ratios.check(benchmark, TRIVIAL, "gilfree_processes", faster_than="mp_pool_reused",
                 at_least=1 / 1.5)


# --------------------------------------------------------------------------
# 8 slices of a 400 MB array
# --------------------------------------------------------------------------

N_BIG = 50_000_000  # 400 MB of float64
N_SLICES = 8


@pytest.fixture(scope="module")
def big():
    return np.random.default_rng(0).random(N_BIG)


def _slices(a):
    step = a.shape[0] // N_SLICES
    return [a[i * step:(i + 1) * step] for i in range(N_SLICES)]


def slice_stats(s):
    """Read a slice: its mean and standard deviation."""
    return round(float(s.mean()), 12), round(float(s.std()), 12)


@pytest.fixture(scope="module")
def slices_expected(big):
    return [slice_stats(s) for s in _slices(big)]


def _slices_targets(benchmark, ratios, name):
    """<= 3x the threads backend and <= joblib's memmapping (both reported
    before either is asserted)."""
    failed = []
    for other, at_least in (("gilfree_threads", 1 / 3), ("joblib_memmapping", 1.0)):
        try:
            ratios.check(benchmark, SLICES, name, faster_than=other, at_least=at_least)
        except AssertionError as exc:
            failed.append(str(exc))
    assert not failed, "; ".join(failed)


@pytest.mark.benchmark(group=SLICES)
def test_slices_gilfree_threads(benchmark, ratios, big, slices_expected):
    run = lambda: pmap(slice_stats, _slices(big), backend="threads", n_workers=2)  # noqa: E731
    assert benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1) == slices_expected
    ratios.record(benchmark, SLICES, "gilfree_threads")


@pytest.mark.benchmark(group=SLICES)
def test_slices_joblib_memmapping(benchmark, ratios, big, slices_expected):
    joblib = pytest.importorskip("joblib")

    def run():
        return joblib.Parallel(n_jobs=2)(joblib.delayed(slice_stats)(s) for s in _slices(big))

    assert benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1) == slices_expected
    ratios.record(benchmark, SLICES, "joblib_memmapping")


@pytest.mark.benchmark(group=SLICES)
def test_slices_gilfree_processes_auto_shared(benchmark, ratios, big, slices_expected):
    # a plain array: each slice is copied once per map into shared buffers,
    # whose pages the previous map left in gilfree's pool (a memcpy)
    run = lambda: pmap(slice_stats, _slices(big), backend="processes", n_workers=2)  # noqa: E731
    assert benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1) == slices_expected
    _slices_targets(benchmark, ratios, "processes_auto_shared")


@pytest.mark.benchmark(group=SLICES)
def test_slices_gilfree_processes_auto_shared_first_map(benchmark, ratios, big, slices_expected):
    # the same with the pool emptied before each round: what a first map pays
    # (new shared pages for 400 MB)
    from gilfree.parallel._shared import POOL

    run = lambda: pmap(slice_stats, _slices(big), backend="processes", n_workers=2)  # noqa: E731
    assert benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1,
                              setup=POOL.clear) == slices_expected
    _slices_targets(benchmark, ratios, "processes_auto_shared_first_map")


@pytest.mark.benchmark(group=SLICES)
def test_slices_gilfree_processes_shared_handle(benchmark, big, slices_expected):
    # the array put in shared memory once (gilfree.shared), then mapped
    h = gilfree.shared(big)
    run = lambda: pmap(slice_stats, _slices(h), backend="processes", n_workers=2)  # noqa: E731
    assert benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1) == slices_expected
    h.release()


# --------------------------------------------------------------------------
# I/O-like tasks
# --------------------------------------------------------------------------


def sleep_50ms(x):
    time.sleep(0.05)
    return x


@pytest.mark.benchmark(group="io-100x50ms")
def test_io_gilfree_threads_20(benchmark):
    run = lambda: pmap(sleep_50ms, range(100), backend="threads", n_workers=20)  # noqa: E731
    assert benchmark.pedantic(run, rounds=5, iterations=1) == list(range(100))
    # a latency bound (5 waves of 50 ms sleeps), not a speed: <= 0.4 s
    assert benchmark.stats.stats.median <= 0.4


@pytest.mark.benchmark(group="io-100x50ms")
def test_io_threadpoolexecutor_20(benchmark):
    def run():
        with ThreadPoolExecutor(20) as ex:
            return list(ex.map(sleep_50ms, range(100)))

    assert benchmark.pedantic(run, rounds=5, iterations=1) == list(range(100))


# --------------------------------------------------------------------------
# a gilfree kernel over chunks
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parzen_data():
    rng = np.random.default_rng(0)
    # many points per call: the per-call set-up (sorting the samples) stays
    # small next to the kernel, so chunking itself costs little
    samples = rng.standard_normal((40_000, 2))
    points = rng.standard_normal((8_000, 2))
    widths = np.linspace(0.1, 1.0, 20)
    gilfree.parzen_density(samples, points[:4], widths, engine="numba")  # compile / warm
    ref = gilfree.parzen_density(samples, points, widths, engine="numba", n_threads=1)
    return samples, points, widths, ref


@pytest.mark.benchmark(group=CHUNKS)
def test_kernel_one_call_2_threads(benchmark, ratios, parzen_data):
    samples, points, widths, ref = parzen_data
    run = lambda: gilfree.parzen_density(samples, points, widths, engine="numba", n_threads=2)  # noqa
    np.testing.assert_array_equal(benchmark.pedantic(run, rounds=9, iterations=1), ref)
    ratios.record(benchmark, CHUNKS, "one_call_2_threads")


@pytest.mark.benchmark(group=CHUNKS)
def test_kernel_gilfree_threads_8_chunks(benchmark, ratios, parzen_data):
    samples, points, widths, ref = parzen_data
    chunks = np.array_split(points, 8)

    def run():
        parts = pmap(lambda q: gilfree.parzen_density(samples, q, widths, engine="numba"), chunks,
                     backend="threads", n_workers=2)
        return np.concatenate(parts)

    np.testing.assert_array_equal(benchmark.pedantic(run, rounds=9, iterations=1), ref)
    # within 10 % of one call over all the data with 2 threads
    ratios.check(benchmark, CHUNKS, "gilfree_threads_8_chunks",
                 faster_than="one_call_2_threads", at_least=1 / 1.1)


@pytest.mark.benchmark(group=CHUNKS)
def test_kernel_8_chunks_oversubscribed(benchmark, parzen_data):
    # what the fair share prevents: 2 workers x 2 kernel threads on 2 cores
    samples, points, widths, ref = parzen_data
    chunks = np.array_split(points, 8)

    def run():
        parts = pmap(lambda q: gilfree.parzen_density(samples, q, widths, engine="numba", n_threads=2),
                     chunks, backend="threads", n_workers=2)
        return np.concatenate(parts)

    np.testing.assert_array_equal(benchmark.pedantic(run, rounds=9, iterations=1), ref)


@pytest.mark.benchmark(group=CHUNKS)
def test_kernel_one_call_1_thread(benchmark, parzen_data):
    # the kernel's own per-call cost, without a map: compare with the next row
    samples, points, widths, ref = parzen_data
    run = lambda: gilfree.parzen_density(samples, points, widths, engine="numba", n_threads=1)  # noqa
    np.testing.assert_array_equal(benchmark.pedantic(run, rounds=3, iterations=1), ref)


@pytest.mark.benchmark(group=CHUNKS)
def test_kernel_8_calls_in_a_loop_1_thread(benchmark, parzen_data):
    samples, points, widths, ref = parzen_data
    chunks = np.array_split(points, 8)

    def run():
        return np.concatenate([gilfree.parzen_density(samples, q, widths, engine="numba", n_threads=1)
                               for q in chunks])

    np.testing.assert_array_equal(benchmark.pedantic(run, rounds=3, iterations=1), ref)


@pytest.fixture(scope="module")
def kde_data():
    rng = np.random.default_rng(1)
    samples = rng.standard_normal((40_000, 2))
    points = rng.standard_normal((12_000, 2))
    gilfree.kde(samples, points[:4], 0.3, engine="numba")  # compile / warm
    ref = gilfree.kde(samples, points, 0.3, engine="numba", n_threads=1)
    return samples, points, ref


@pytest.mark.benchmark(group=CHUNKS_KDE)
def test_kde_one_call_2_threads(benchmark, ratios, kde_data):
    samples, points, ref = kde_data
    run = lambda: gilfree.kde(samples, points, 0.3, engine="numba", n_threads=2)  # noqa: E731
    np.testing.assert_array_equal(benchmark.pedantic(run, rounds=9, iterations=1), ref)
    ratios.record(benchmark, CHUNKS_KDE, "one_call_2_threads")


@pytest.mark.benchmark(group=CHUNKS_KDE)
def test_kde_gilfree_threads_8_chunks(benchmark, ratios, kde_data):
    samples, points, ref = kde_data
    chunks = np.array_split(points, 8)

    def run():
        parts = pmap(lambda q: gilfree.kde(samples, q, 0.3, engine="numba"), chunks,
                     backend="threads", n_workers=2)
        return np.concatenate(parts)

    np.testing.assert_array_equal(benchmark.pedantic(run, rounds=9, iterations=1), ref)
    ratios.check(benchmark, CHUNKS_KDE, "gilfree_threads_8_chunks",
                 faster_than="one_call_2_threads", at_least=1 / 1.1)
