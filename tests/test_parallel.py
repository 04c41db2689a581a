"""gilfree.parallel: pmap / imap on every backend, shared arrays, helpers.

Failures that kill workers, timeouts and Ctrl-C are in
test_parallel_failures.py.  Task functions live at module level so that
process workers can import them.
"""

import glob
import os
import threading
import time
import traceback

import numpy as np
import pytest

import gilfree
from gilfree import _config
from gilfree.parallel import (
    SharedArray,
    TaskTimeoutError,
    available_backends,
    imap,
    pmap,
    register_backend,
    shared,
)
from gilfree.parallel._segments import MapSegments, make_dumps

BACKENDS = ("serial", "threads", "processes")


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def _segments():
    return set(glob.glob(f"/dev/shm/gilfree_{os.getpid()}_*"))


# --------------------------------------------------------------------------
# module-level task functions (picklable by reference)
# --------------------------------------------------------------------------


def square(x):
    return x * x


def boom_at_37(x):
    if x == 37:
        raise ValueError(f"boom at {x}")
    return x


def jittery(x):
    time.sleep(0.002 * ((x * 7) % 5))
    return x


def thread_report(_):
    import threadpoolctl

    blas = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    return {
        "resolved": gilfree.resolve_n_threads(None),
        "omp_env": os.environ.get("OMP_NUM_THREADS"),
        "gilfree_env": os.environ.get("GILFREE_NUM_THREADS"),
        "blas": blas,
        "pid": os.getpid(),
    }


def array_report(a):
    maps = ""
    try:
        with open("/proc/self/maps") as fh:
            maps = fh.read()
    except OSError:  # pragma: no cover
        pass
    return {
        "address": a.__array_interface__["data"][0],
        "writeable": a.flags.writeable,
        "sum": float(a.sum()),
        "shape": a.shape,
        "maps": maps,
        "pid": os.getpid(),
    }


def flaky(arg):
    """Fails ``fails`` times per item (counted in files), then succeeds."""
    path, x, fails = arg
    counter = os.path.join(path, f"count-{x}")
    n = 0
    if os.path.exists(counter):
        with open(counter) as fh:
            n = int(fh.read())
    with open(counter, "w") as fh:
        fh.write(str(n + 1))
    if n < fails:
        raise ConnectionError(f"flaky failure {n + 1} of item {x}")
    return x * 10


def sleepy_at_3(x):
    if x == 3:
        time.sleep(5)
    return x


def vector_of(x):
    return np.array([x, x * x, -x], dtype=float)


def add(a, b):
    return a + b


def set_global_from_init(value):
    global _INIT_VALUE
    _INIT_VALUE = value


def read_init_value(_):
    return _INIT_VALUE


_INIT_VALUE = None


def failing_init():
    raise RuntimeError("initializer exploded")


# --------------------------------------------------------------------------
# order and results
# --------------------------------------------------------------------------


@pytest.mark.parametrize("chunksize", ["auto", 1, 7])
def test_pmap_matches_map_in_order(backend, chunksize):
    xs = list(range(500))
    assert pmap(square, xs, backend=backend, n_workers=2, chunksize=chunksize) == [
        x * x for x in xs
    ]


def test_unordered_gives_every_result_once(backend):
    xs = list(range(200))
    got = pmap(jittery, xs, backend=backend, n_workers=2, ordered=False, chunksize=3)
    assert sorted(got) == xs


def test_imap_ordered_with_uneven_task_times(backend):
    xs = range(60)
    assert list(imap(jittery, xs, backend=backend, n_workers=2)) == list(xs)


def test_empty_and_single_inputs(backend):
    assert pmap(square, [], backend=backend, n_workers=2) == []
    assert pmap(square, [3], backend=backend, n_workers=2) == [9]
    assert list(imap(square, iter([]), backend=backend, n_workers=2)) == []


def test_lambdas_and_closures_work_everywhere(backend):
    k = 3
    assert pmap(lambda x: x + k, range(10), backend=backend, n_workers=2) == list(range(3, 13))


def test_n_workers_one_runs_serially_in_the_caller():
    me = threading.get_ident()
    pid = os.getpid()
    assert pmap(lambda _: (threading.get_ident(), os.getpid()), range(5),
                backend="processes", n_workers=1) == [(me, pid)] * 5


def test_threads_backend_uses_worker_threads():
    me = threading.get_ident()
    idents = pmap(lambda _: threading.get_ident(), range(20), backend="threads", n_workers=2,
                  chunksize=1)
    assert me not in idents


def test_processes_backend_uses_other_processes():
    pids = set(pmap(lambda _: os.getpid(), range(20), backend="processes", n_workers=2,
                    chunksize=1))
    assert os.getpid() not in pids


def test_auto_chunking_amortises_trivial_tasks():
    # 20k trivial tasks must not become 20k chunks: the batcher grows them
    from gilfree.parallel._checks import _Batcher

    b = _Batcher("auto", 2, 20_000, 0.01)
    sizes, done = [], 0
    while done < 20_000:
        n = min(b.next_size(done), 20_000 - done)
        sizes.append(n)
        done += n
        b.record(n, n * 1e-7)
    assert len(sizes) < 30  # a short ramp, then big chunks
    # a known input leaves several chunks per worker when tasks take time
    b = _Batcher("auto", 2, 1000, 0.01)
    b.record(1, 1e-3)
    assert b.next_size(1) <= -(-999 // (2 * _config.PARALLEL_TAIL_CHUNKS_PER_WORKER))
    # slow tasks stay one per chunk
    b = _Batcher("auto", 2, None, 0.01)
    b.record(1, 0.05)
    assert b.next_size(1) == 1


def test_auto_chunking_forgets_a_slow_first_probe():
    # the first one-task chunk pays first-call costs; a big fast chunk after it
    # sets the size (weighed by tasks), while a slower chunk counts at once
    from gilfree.parallel._checks import _Batcher

    # probes: a few tasks for a long input of known length, fewer for a short one
    assert _Batcher("auto", 2, 10_000, 0.01).next_size(0) == _config.PARALLEL_PROBE_TASKS
    assert _Batcher("auto", 2, 20, 0.01).next_size(0) <= 3  # ceil(20 / (2 workers x 4))
    b = _Batcher("auto", 2, None, 0.01)
    assert b.probing and b.next_size(0) == 1
    b.record(1, 1e-5)
    assert not b.probing
    b.record(10_000, 10_000 * 1e-7)
    assert b.per_item < 2e-7
    b.record(10, 10 * 1e-3)
    assert b.per_item > 4e-4


def test_processes_map_probes_with_one_chunk_per_worker():
    # until a chunk time is known, auto chunking keeps one chunk per worker in
    # flight, so probes do not queue up behind each other
    from gilfree.parallel import _api

    seen = []
    orig = _api._Run._submit

    def spy(self, chunk, *rest):
        if self.batcher.probing:
            seen.append(len(self.inflight))
        orig(self, chunk, *rest)

    _api._Run._submit = spy
    try:
        assert pmap(abs, range(-500, 500), backend="processes", n_workers=2) == \
            [abs(x) for x in range(-500, 500)]
    finally:
        _api._Run._submit = orig
    assert seen and max(seen) < 2


# --------------------------------------------------------------------------
# laziness
# --------------------------------------------------------------------------


class _Guarded:
    """An iterator that fails if read more than ``limit`` items ahead of
    what the consumer has received."""

    def __init__(self, n, limit):
        self.n = n
        self.limit = limit
        self.read = 0
        self.consumed = 0

    def __iter__(self):
        for i in range(self.n):
            if i - self.consumed > self.limit:
                raise AssertionError(f"read item {i} with only {self.consumed} consumed")
            self.read += 1
            yield i


def test_imap_reads_input_lazily_with_bounded_prefetch(backend):
    n_workers, chunk = 2, 2
    bound = n_workers * _config.PARALLEL_PENDING_PER_WORKER * chunk + chunk
    src = _Guarded(300, bound)
    for i, r in enumerate(imap(square, iter(src), backend=backend, n_workers=n_workers,
                               chunksize=chunk)):
        assert r == i * i
        src.consumed += 1
    assert src.consumed == 300


def test_imap_never_materialises_a_huge_generator():
    reads = []

    def gen():
        for i in range(10_000_000):
            reads.append(1) if i % 1000 == 0 else None
            yield i

    it = imap(square, gen(), backend="threads", n_workers=2)
    for i, r in zip(range(5000), it):
        assert r == i * i
    it.close()
    # far less than the 10 million items were read
    assert len(reads) * 1000 < 200_000


def test_error_in_the_input_iterable_is_reported(backend):
    def source():
        yield from range(10)
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone") as info:
        pmap(square, source(), backend=backend, n_workers=2, chunksize=4)
    assert "input iterable" in "\n".join(info.value.__notes__)


def test_imap_checks_arguments_when_called_not_when_iterated():
    with pytest.raises(ValueError, match="chunksize"):
        imap(square, range(3), chunksize=0)


def test_closing_imap_early_cancels_the_rest(backend, no_leaks):
    it = imap(jittery, range(10_000), backend=backend, n_workers=2)
    assert next(it) == 0
    it.close()
    # the backend is usable again at once
    assert pmap(square, range(5), backend=backend, n_workers=2) == [0, 1, 4, 9, 16]


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


def test_first_error_reraised_with_index_and_worker_traceback(backend, no_leaks):
    with pytest.raises(ValueError, match="boom at 37") as info:
        pmap(boom_at_37, range(200), backend=backend, n_workers=2)
    exc = info.value
    assert exc.gilfree_index == 37
    notes = "\n".join(getattr(exc, "__notes__", []))
    assert "item 37" in notes and backend in notes
    if backend == "processes":
        cause = exc.__cause__
        assert cause is not None and "boom_at_37" in str(cause)
        assert "raise ValueError" in str(cause)
    else:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        assert "boom_at_37" in text


def test_error_in_imap_stops_the_iteration(backend):
    it = imap(boom_at_37, range(100), backend=backend, n_workers=2, chunksize=1)
    got = []
    with pytest.raises(ValueError):
        for r in it:
            got.append(r)
    assert got == list(range(len(got))) and len(got) <= 37


def test_error_cancels_remaining_work_promptly(backend, tmp_path):
    # after the failure no new task starts: far fewer than all items ran
    marker = str(tmp_path)

    def task(x):
        open(os.path.join(marker, str(x)), "w").close()
        if x == 2:
            raise KeyError("stop")
        time.sleep(0.05)
        return x

    with pytest.raises(KeyError):
        pmap(task, range(200), backend=backend, n_workers=2, chunksize=1)
    time.sleep(0.3)
    assert len(os.listdir(marker)) < 30


def test_unpicklable_exception_still_reported(no_leaks):
    def task(x):
        if x == 4:
            err = ValueError("has a lock")
            err.lock = threading.Lock()
            raise err
        return x

    with pytest.raises(Exception, match="has a lock") as info:
        pmap(task, range(10), backend="processes", n_workers=2)
    assert "item 4" in "\n".join(getattr(info.value, "__notes__", []))


def test_initializer_runs_in_every_worker(backend):
    got = pmap(read_init_value, range(20), backend=backend, n_workers=2,
               initializer=set_global_from_init, initargs=(42,))
    if backend == "threads":
        assert got == [42] * 20  # same module global, set by each worker thread
    else:
        assert got == [42] * 20


def test_failing_initializer_is_reported(backend):
    with pytest.raises(RuntimeError, match="initializer exploded") as info:
        pmap(square, range(10), backend=backend, n_workers=2, initializer=failing_init)
    if backend != "serial":
        assert "initializer" in "\n".join(getattr(info.value, "__notes__", []))


# --------------------------------------------------------------------------
# retries and (gentle) timeouts
# --------------------------------------------------------------------------


def test_retries_rerun_failing_tasks(backend, tmp_path):
    args = [(str(tmp_path), x, 2 if x % 3 == 0 else 0) for x in range(9)]
    assert pmap(flaky, args, backend=backend, n_workers=2, retries=2) == [x * 10 for x in range(9)]


def test_retries_exhausted_raise_the_last_error(backend, tmp_path):
    args = [(str(tmp_path), x, 5 if x == 4 else 0) for x in range(6)]
    with pytest.raises(ConnectionError, match="item 4") as info:
        pmap(flaky, args, backend=backend, n_workers=2, retries=1)
    assert "2 attempts" in "\n".join(info.value.__notes__)
    with open(os.path.join(str(tmp_path), "count-4")) as fh:
        assert fh.read() == "2"


def test_timeout_names_the_item(backend, no_leaks):
    t0 = time.perf_counter()
    with pytest.raises(TaskTimeoutError, match="item 3") as info:
        pmap(sleepy_at_3, range(6), backend=backend, n_workers=2, timeout=0.3, chunksize=1)
    assert isinstance(info.value, TimeoutError)
    assert info.value.index == 3
    assert time.perf_counter() - t0 < 4.0
    # and the backend still works
    assert pmap(square, range(4), backend=backend, n_workers=2) == [0, 1, 4, 9]


def test_timeout_then_retry_succeeds_on_threads(tmp_path):
    path = str(tmp_path)

    def hangs_once(x):
        flag = os.path.join(path, f"seen-{x}")
        if x == 4 and not os.path.exists(flag):
            open(flag, "w").close()
            time.sleep(3)
        return x

    t0 = time.perf_counter()
    # item 4 is in the middle of the chunk [3, 4, 5]: 3 is kept, 5 resubmitted
    assert pmap(hangs_once, range(9), backend="threads", n_workers=2, timeout=0.3,
                retries=1, chunksize=3) == list(range(9))
    assert time.perf_counter() - t0 < 2.5


# --------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------


@pytest.mark.parametrize("ordered", [True, False])
def test_progress_callback_counts_every_task(backend, ordered):
    calls = []
    pmap(jittery, range(50), backend=backend, n_workers=2, ordered=ordered,
         progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 50)
    assert calls[-1] == (50, 50)
    dones = [d for d, _ in calls]
    assert dones == sorted(dones)


def test_progress_with_unknown_total(backend):
    calls = []
    list(imap(square, (i for i in range(30)), backend=backend, n_workers=2,
              progress=lambda d, t: calls.append((d, t))))
    assert calls[-1] == (30, None)


def test_progress_bar(capsys):
    assert pmap(square, range(20), n_workers=2, progress=True) == [x * x for x in range(20)]
    err = capsys.readouterr().err
    assert "20/20" in err


# --------------------------------------------------------------------------
# inner thread limits
# --------------------------------------------------------------------------


def test_inner_threads_limited_inside_workers(backend):
    cores = _config.usable_cores()
    reports = pmap(thread_report, range(8), backend=backend, n_workers=2, chunksize=1)
    expected = max(1, cores // 2) if backend != "serial" else cores
    for r in reports:
        assert r["resolved"] == expected
        if backend == "processes":
            assert r["omp_env"] == str(expected) and r["gilfree_env"] == str(expected)
        if backend != "serial" and r["blas"]:
            assert max(r["blas"]) == expected
    # the caller's own limits are restored afterwards
    assert gilfree.resolve_n_threads(None) == _config.resolve_n_threads(None)


def test_inner_threads_explicit_and_none(backend):
    r = pmap(thread_report, range(2), backend=backend, n_workers=2, inner_threads=3)
    assert all(x["resolved"] == 3 for x in r)
    r = pmap(thread_report, range(2), backend=backend, n_workers=2, inner_threads=None)
    assert all(x["resolved"] >= 1 for x in r)


def test_gilfree_kernels_in_thread_workers_use_their_fair_share():
    import numba

    x = np.random.default_rng(0).standard_normal((2000, 2))
    gilfree.parzen_density(x, x[:10], 0.5, engine="numba")  # starts numba's thread pool

    def kernel_threads(_):
        from gilfree import _config as cfg

        name, mod, nt = cfg.select("parzen", "numba", None)
        return nt, numba.get_num_threads()

    cores = _config.usable_cores()
    got = pmap(kernel_threads, range(4), backend="threads", n_workers=2, chunksize=1)
    assert all(nt == max(1, cores // 2) for nt, _ in got)
    assert all(nb <= max(1, cores // 2) for _, nb in got)
    # results are the same as a plain loop
    pts = np.array_split(x[:200], 8)
    got = pmap(lambda p: gilfree.parzen_density(x, p, 0.5), pts, backend="threads", n_workers=2)
    # (compared with the numpy engine: the cython engine with 2 threads gave wrong
    # counts for some points in this run, a kernel issue reported separately)
    ref = gilfree.parzen_density(x, x[:200], 0.5, engine="numpy")
    np.testing.assert_array_equal(np.concatenate(got), ref)


# --------------------------------------------------------------------------
# shared arrays
# --------------------------------------------------------------------------


def test_shared_array_is_a_read_only_copy(no_leaks):
    a = np.arange(24.0).reshape(4, 6)
    h = shared(a)
    assert isinstance(h, SharedArray) and h.is_shared
    np.testing.assert_array_equal(h, a)
    assert not h.flags.writeable
    with pytest.raises(ValueError):
        h[0, 0] = 1.0
    with pytest.raises(ValueError):
        h.flags.writeable = True
    # computations give plain arrays; views stay shared
    assert type(h + 1) is np.ndarray and type(h.sum(axis=0)) is np.ndarray
    assert isinstance(h[1:3], SharedArray) and h[1:3].is_shared
    assert type(np.concatenate([h, h])) is np.ndarray
    name = h.segment_name
    assert os.path.exists(f"/dev/shm/{name}")
    h.release()
    assert not os.path.exists(f"/dev/shm/{name}")
    np.testing.assert_array_equal(h, a)  # still readable here


def test_shared_array_segment_freed_with_last_view(no_leaks):
    import gc

    h = shared(np.ones(1000))
    name = h.segment_name
    v = h[10:20]
    del h
    gc.collect()
    assert os.path.exists(f"/dev/shm/{name}")
    del v
    gc.collect()
    assert not os.path.exists(f"/dev/shm/{name}")


def test_shared_rejects_object_arrays():
    with pytest.raises(TypeError, match="objects"):
        shared(np.array([{}, []], dtype=object))


def test_shared_array_pickles_by_value_outside_gilfree():
    import pickle

    with shared(np.arange(10)) as h:
        back = pickle.loads(pickle.dumps(h))
    assert type(back) is np.ndarray
    np.testing.assert_array_equal(back, np.arange(10))


def test_shared_array_zero_copy_in_threads(no_leaks):
    with shared(np.random.default_rng(1).random((1000, 100))) as h:
        reports = pmap(array_report, [h, h[100:200]], backend="threads", n_workers=2)
        assert reports[0]["address"] == h.__array_interface__["data"][0]
        assert reports[1]["address"] == h[100:200].__array_interface__["data"][0]
        assert not reports[0]["writeable"]


def test_shared_array_zero_copy_in_processes(no_leaks):
    with shared(np.random.default_rng(2).random((2000, 1000))) as h:  # 16 MB
        # what travels is a reference of a few hundred bytes, not 16 MB
        segs = MapSegments()
        try:
            assert len(make_dumps(segs)(h)) < 1000
            assert len(make_dumps(segs)(h[500:700])) < 1000
        finally:
            segs.close()
        reports = pmap(array_report, [h, h[500:700], h[:, ::2]], backend="processes",
                       n_workers=2, chunksize=1)
        for r, ref in zip(reports, [h, h[500:700], h[:, ::2]]):
            assert r["pid"] != os.getpid()
            assert not r["writeable"]
            assert r["shape"] == ref.shape
            assert r["sum"] == pytest.approx(float(ref.sum()))
            assert h.segment_name in r["maps"]  # mapped from /dev/shm, not unpickled


def test_large_arrays_are_shared_automatically_and_unlinked(no_leaks):
    a = np.random.default_rng(3).random(300_000)  # 2.4 MB
    small = np.arange(10.0)
    reports = pmap(array_report, [a, a, small], backend="processes", n_workers=2, chunksize=1)
    assert reports[0]["sum"] == pytest.approx(float(a.sum()))
    assert not reports[0]["writeable"]
    # the array lies in a shared mapping (a pooled memfd of the caller)
    assert f"gilfree_{os.getpid()}" in _mapping_of(reports[0])
    assert reports[2]["writeable"]  # small arrays are pickled as usual


def _mapping_of(report):
    """The line of /proc/<worker>/maps holding the report's array."""
    addr = report["address"]
    for line in report["maps"].splitlines():
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if lo <= addr < hi:
            return line
    return ""


def test_pooled_buffers_are_reused_but_never_stale(no_leaks):
    from gilfree.parallel._shared import POOL

    POOL.clear()
    a = np.random.default_rng(8).random(400_000)  # 3.2 MB
    assert pmap(_sum, [a, a[::-1]], backend="processes", n_workers=2, chunksize=1) == \
        [float(a.sum()), float(a[::-1].sum())]
    kept = POOL.nbytes
    assert kept >= 2 * a.nbytes  # their chunks finished: the buffers wait for reuse
    a[:] = 7.0  # the same array object, changed: the next map must see 7s
    assert pmap(_sum, [a, a[:200_000]], backend="processes", n_workers=2, chunksize=1) == \
        [7.0 * 400_000, 7.0 * 200_000]
    assert POOL.nbytes <= kept + a.nbytes  # the 3.2 MB buffer was reused
    # a failed map: what its finished chunks used is reusable, the rest is
    # freed; the next map reads its own data
    with pytest.raises(ZeroDivisionError):
        pmap(_sum_or_fail, [a, a * 2], backend="processes", n_workers=2, chunksize=1)
    b = np.full(400_000, 3.0)
    assert pmap(_sum, [b, b * 2], backend="processes", n_workers=2, chunksize=1) == \
        [3.0 * 400_000, 6.0 * 400_000]


def test_an_imap_never_iterated_frees_its_buffers(no_leaks):
    import gc

    a = np.ones(500_000)  # in the function: shared when the map starts
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    it = imap(lambda i: float(a[i]), range(3), backend="processes", n_workers=2)
    del it
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before


def test_buffer_pool_keeps_a_bounded_amount_for_a_while(monkeypatch):
    from gilfree.parallel._shared import Buffer, BufferPool, transport

    kind = transport()
    pool = BufferPool()
    monkeypatch.setattr(_config, "PARALLEL_SHARE_POOL_MAX_BYTES", 5 * 2**20)
    bufs = [Buffer(2**21, kind, "test", data=np.full(2**18, float(i))) for i in range(3)]
    assert [float(np.frombuffer(b.mm, dtype=float)[0]) for b in bufs] == [0.0, 1.0, 2.0]
    for b in bufs:
        pool.give_back(b)
    assert pool.nbytes == 2 * 2**21  # the third would pass the budget
    assert not bufs[0].alive  # the oldest was freed
    again = pool.take(2**21, kind)  # reused, then filled anew
    assert again in bufs
    again.fill(np.full(2**18, 5.0))
    assert float(np.frombuffer(again.mm, dtype=float, count=2**18)[-1]) == 5.0
    assert pool.take(2**21, "other-kind") is None
    pool.give_back(again)
    monkeypatch.setattr(_config, "PARALLEL_SHARE_POOL_MAX_BUFFERS", 1)
    with pool._lock:  # over the count, then idle past the limit: freed
        drop = pool._over_budget_locked(time.monotonic())
        assert len(drop) == 1 and len(pool._free) == 1
        drop += pool._over_budget_locked(time.monotonic() + 1e6)
    assert pool.nbytes == 0 and len(drop) == 2
    for b in drop:
        b.close()
    pool.clear()
    assert not any(b.alive for b in bufs)


def test_a_buffer_that_cannot_be_made_fails_the_map_cleanly(no_leaks, monkeypatch):
    from gilfree.parallel import _shared

    real = _shared.Buffer.__init__

    def init(self, nbytes, kind, what, data=None):
        if nbytes == 8 * 300_001:
            raise MemoryError("no memory for this buffer (simulated)")
        real(self, nbytes, kind, what, data)

    monkeypatch.setattr(_shared.Buffer, "__init__", init)
    _shared.POOL.clear()
    items = [np.ones(300_000), np.ones(300_001), np.ones(300_002)]
    with pytest.raises(MemoryError, match="simulated"):
        pmap(_sum, items, backend="processes", n_workers=2, chunksize=1)
    monkeypatch.undo()
    assert pmap(_sum, items, backend="processes", n_workers=2, chunksize=1) == \
        [300_000.0, 300_001.0, 300_002.0]  # the pool works afterwards


@pytest.mark.parametrize("on_advice", [True, False])
def test_new_buffers_filled_either_way(no_leaks, monkeypatch, on_advice):
    """Where the kernel gives shared memory huge pages only on advice, a new
    buffer is filled through a mapping that asks for them; else by pwrite.
    The data reaching the workers is the same, for any strides and dtype."""
    from gilfree._compat import linux
    from gilfree.parallel import _shared

    monkeypatch.setattr(linux, "shmem_huge_pages_on_advice", lambda: on_advice)
    _shared.POOL.clear()
    a = np.random.default_rng(11).random((700, 900))  # 5 MB
    views = [a, a[::-1, ::2], a.T, a.astype(np.float32)]
    assert pmap(_sum, views, backend="processes", n_workers=2, chunksize=1) == \
        [float(np.ascontiguousarray(v).sum()) for v in views]  # workers get C order
    for kind in ("memfd", "named"):
        if kind == "memfd" and not linux.memfd_usable():
            continue
        buf = _shared.Buffer(a[:, ::3].nbytes, kind, "test", data=a[:, ::3])
        try:
            np.testing.assert_array_equal(
                np.frombuffer(buf.mm, dtype=a.dtype, count=a[:, ::3].size).reshape(700, 300),
                a[:, ::3])
            buf.fill(a[:, 1::3])  # a reuse: through the mapping
            np.testing.assert_array_equal(
                np.frombuffer(buf.mm, dtype=a.dtype, count=a[:, ::3].size).reshape(700, 300),
                a[:, 1::3])
        finally:
            buf.close()
    _shared.POOL.clear()


@pytest.mark.parametrize("top, sizes, expected", [
    ("always within_size advise [never] deny force", {}, False),
    ("always within_size [advise] never deny force", {}, True),
    ("always within_size [advise] never deny force", {"2048kB": "always [inherit] advise never"}, True),
    ("always within_size [advise] never deny force", {"2048kB": "always inherit advise [never]"}, False),
    ("always within_size advise [never] deny force", {"64kB": "always inherit [advise] never"}, True),
    ("[always] within_size advise never deny force", {"2048kB": "always [inherit] advise never"}, False),
    (None, {}, False),  # no transparent huge pages at all
])
def test_shmem_huge_page_mode_is_read_from_sysfs(tmp_path, monkeypatch, top, sizes, expected):
    from gilfree._compat import linux

    if top is not None:
        (tmp_path / "shmem_enabled").write_text(top + "\n")
    for size, mode in sizes.items():
        (tmp_path / f"hugepages-{size}").mkdir()
        (tmp_path / f"hugepages-{size}" / "shmem_enabled").write_text(mode + "\n")
    monkeypatch.setattr(linux, "THP", str(tmp_path if top is not None else tmp_path / "none"))
    monkeypatch.setattr(linux, "_huge_on_advice", None)
    assert linux.shmem_huge_pages_on_advice() is expected


def test_arrays_of_any_dtype_are_shared(no_leaks):
    # dtypes without a buffer format (datetime64) and structured records too
    days = np.arange(300_000).astype("datetime64[D]")
    recs = np.zeros(100_000, dtype=[("x", "f8"), ("n", "i4")])
    recs["n"] = np.arange(100_000)
    got = pmap(lambda i: (str(days[i]), int(recs["n"][i])), [0, 99_999], backend="processes",
               n_workers=2, chunksize=1)
    assert got == [(str(days[0]), 0), (str(days[99_999]), 99_999)]


def test_arrays_in_closures_are_shared_too(no_leaks):
    a = np.random.default_rng(4).random(500_000)
    got = pmap(lambda i: float(a[i::4].sum()), range(4), backend="processes", n_workers=2)
    assert got == pytest.approx([float(a[i::4].sum()) for i in range(4)])


def test_threads_backend_passes_arrays_untouched():
    a = np.ones(300_000)
    got = pmap(lambda x: x.__array_interface__["data"][0], [a], backend="threads", n_workers=2)
    assert got == [a.__array_interface__["data"][0]]


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(ValueError, match="'processes'.*'serial'.*'threads'"):
        pmap(square, [1], backend="gpu")


@pytest.mark.parametrize("n", [0, -1000])
def test_bad_n_workers(n):
    with pytest.raises(ValueError, match="n_workers"):
        pmap(square, [1], n_workers=n)


def test_n_workers_types_and_negative_counts():
    with pytest.raises(TypeError, match="n_workers"):
        pmap(square, [1], n_workers=1.5)
    assert pmap(square, [2], n_workers=-1) == [4]


def test_non_callable_func():
    with pytest.raises(TypeError, match="func must be callable"):
        pmap(42, [1])


@pytest.mark.parametrize("cs, exc", [(0, ValueError), (-3, ValueError), ("big", ValueError),
                                     (2.5, TypeError), (True, TypeError)])
def test_bad_chunksize(cs, exc):
    with pytest.raises(exc, match="chunksize"):
        pmap(square, [1], chunksize=cs)


@pytest.mark.parametrize("t", [-1, 0, float("nan"), float("inf")])
def test_bad_timeout(t):
    with pytest.raises(ValueError, match="timeout"):
        pmap(square, [1], timeout=t)


def test_bad_retries_and_others():
    with pytest.raises(ValueError, match="retries"):
        pmap(square, [1], retries=-1)
    with pytest.raises(TypeError, match="retries"):
        pmap(square, [1], retries=1.5)
    with pytest.raises(ValueError, match="inner_threads"):
        pmap(square, [1], inner_threads=0)
    with pytest.raises(TypeError, match="progress"):
        pmap(square, [1], progress="yes")
    with pytest.raises(TypeError, match="initializer"):
        pmap(square, [1], initializer=3)


def test_unpicklable_function_says_which_object():
    lock = threading.Lock()

    def uses_lock(x):
        with lock:
            return x

    with pytest.raises(TypeError, match=r"closure variable 'lock'.*lock.*module level") as info:
        pmap(uses_lock, range(3), backend="processes", n_workers=2)
    assert "backend='threads'" in str(info.value)
    # the same function is fine on threads
    assert pmap(uses_lock, range(3), backend="threads", n_workers=2) == [0, 1, 2]


def test_unpicklable_item_names_the_item(no_leaks):
    items = [1, 2, threading.Lock()]
    with pytest.raises(TypeError, match="item 2"):
        pmap(str, items, backend="processes", n_workers=2, chunksize=1)


def test_unpicklable_result_names_the_item():
    def make(x):
        return threading.Lock() if x == 3 else x

    with pytest.raises(TypeError, match="return value") as info:
        pmap(make, range(6), backend="processes", n_workers=2, chunksize=6)
    assert info.value.gilfree_index == 3


# --------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------


def test_registry_lists_builtin_backends():
    assert {"serial", "threads", "processes"} <= set(available_backends())


def test_lazy_backend_with_install_hint():
    register_backend("fake-cluster", "gilfree_no_such_module:Backend",
                     install_hint="pip install fake-cluster", replace=True)
    with pytest.raises(gilfree.parallel.BackendUnavailableError, match="pip install fake"):
        pmap(square, [1], backend="fake-cluster", n_workers=2)


def test_registered_backend_class_is_used():
    from gilfree.parallel._backends import ThreadBackend

    class Counting(ThreadBackend):
        name = "counting"
        submitted = 0

        def submit(self, chunk):
            type(self).submitted += 1
            super().submit(chunk)

    register_backend("counting", Counting, replace=True)
    assert pmap(square, range(10), backend="counting", n_workers=2) == [x * x for x in range(10)]
    assert Counting.submitted >= 1


# --------------------------------------------------------------------------
# Parallelize, sweep, with_params
# --------------------------------------------------------------------------


@pytest.mark.parametrize("num_cores", [1, 2, 3, 8])
@pytest.mark.parametrize("n", [1, 5, 7])
def test_parallelize_matches_a_loop(num_cores, n):
    data = list(range(n))
    expected = np.array([vector_of(x) for x in data]).reshape(n, -1)
    got = gilfree.Parallelize(data, vector_of, num_cores=num_cores, backend="threads")
    np.testing.assert_array_equal(got, expected)


def test_parallelize_processes_arrays_and_scalars():
    data = np.arange(12.0).reshape(6, 2)
    got = gilfree.Parallelize(data, np.sum, num_cores=2)
    np.testing.assert_array_equal(got, data.sum(axis=1).reshape(6, 1))
    assert gilfree.Parallelize([], square).shape == (0, 0)
    with pytest.raises(ValueError, match="one size"):
        gilfree.Parallelize([1, 2], lambda x: np.ones(x), backend="serial")


def test_sweep_grid_order_matches_sklearn(backend):
    from sklearn.model_selection import ParameterGrid

    grid = [{"b": [1, 2], "a": [10, 20, 30]}, {"a": [0], "c": ["x", "y"]}]
    out = gilfree.sweep(add_kw, grid, backend=backend, n_workers=2)
    expected = list(ParameterGrid(grid))
    assert [p for p, _ in out] == expected
    assert [r for _, r in out] == [add_kw(**p) for p in expected]
    assert gilfree.parallel._sweep.expand_grid({}) == [{}]


def add_kw(a, b=0, c=""):
    return f"{a}-{b}-{c}"


def test_sweep_bad_grids():
    with pytest.raises(TypeError, match="Wrap a single value"):
        gilfree.sweep(add_kw, {"a": 3})
    with pytest.raises(ValueError, match="at least one value"):
        gilfree.sweep(add_kw, {"a": []})
    with pytest.raises(TypeError, match="dict of lists"):
        gilfree.sweep(add_kw, 5)


def test_with_params_matches_sklearn_clone_and_set_params():
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0))
    params = {"logisticregression__C": 0.1, "standardscaler__with_mean": False}
    ours = gilfree.with_params(pipe, params)
    ref = clone(pipe).set_params(**params)
    assert ours is not pipe
    assert ours.get_params()["logisticregression__C"] == 0.1
    assert pipe.get_params()["logisticregression__C"] == 1.0  # original untouched
    assert {k: repr(v) for k, v in ours.get_params().items()} == {
        k: repr(v) for k, v in ref.get_params().items()
    }
    with pytest.raises(ValueError, match="invalid parameter"):
        gilfree.with_params(pipe, {"nope__C": 1})
    with pytest.raises(TypeError, match="get_params"):
        gilfree.with_params(object(), {})


def _fit_score(C):
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=200, random_state=0)
    est = gilfree.with_params(LogisticRegression(max_iter=200), {"C": C})
    return round(float(est.fit(X, y).score(X, y)), 6)


def test_sweep_over_estimators_matches_a_loop():
    grid = {"C": [0.01, 1.0]}
    out = gilfree.sweep(_fit_score, grid, backend="processes", n_workers=2)
    assert out == [({"C": c}, _fit_score(c)) for c in grid["C"]]


def _sum(a):
    return float(a.sum())


def _sum_or_fail(a):
    if a[0] > 10:
        raise ZeroDivisionError("fails on purpose")
    return float(a.sum())


def _maps_of_worker(_):
    with open("/proc/self/maps") as fh:
        return os.getpid(), fh.read()


def test_workers_unmap_segments_of_finished_maps(no_leaks):
    a = np.random.default_rng(5).random(300_000)
    reports = pmap(array_report, [a, a, a, a], backend="processes", n_workers=2, chunksize=1)
    # (inode, name): every memfd has the same name
    names = {(line.split()[4], line.split(None, 5)[-1]) for r in reports
             for line in r["maps"].splitlines() if "gilfree_" in line}
    assert len(names) >= 2  # the map's board and the shared array's buffer
    time.sleep(1.5)  # the workers' reaper runs every 0.5 s
    for _, maps in pmap(_maps_of_worker, range(4), backend="processes", n_workers=2,
                        chunksize=1):
        mapped = {(line.split()[4], line.split(None, 5)[-1]) for line in maps.splitlines()
                  if "gilfree_" in line}
        assert not names & mapped


@pytest.mark.slow
def test_imap_over_ten_million_items_keeps_memory_flat():
    import tracemalloc

    def gen():
        yield from range(10_000_000)

    n = 0
    tracemalloc.start()
    try:
        for n, r in enumerate(imap(square, gen(), backend="threads", n_workers=2), 1):
            if n == 100_000:
                tracemalloc.reset_peak()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 10_000_000
    assert peak < 20 * 2**20  # a few chunks in flight, never the input or the results


def _worker_pid(_):
    return os.getpid()


def test_maps_kde_and_the_bench_share_one_process_pool():
    """pmap(backend="processes"), the python engine of the KDE kernels and
    gilfree bench's process pools take the same executor for the same
    worker count: none of them shuts the pool down under another."""
    from gilfree._compat import loky as _loky
    from gilfree.bench import _pools
    from gilfree.parallel import _pool

    rng = np.random.default_rng(3)
    x, q = rng.standard_normal((300, 1)), rng.standard_normal((400, 1))
    with _pool.process_executor(2) as ex:
        assert _pools.process_pool(2) is ex
        pids = set(pmap(_worker_pid, range(6), backend="processes", n_workers=2, chunksize=1))
        assert pids <= set(_loky.worker_processes(ex))
        np.testing.assert_allclose(gilfree.kde(x, q, 0.5, engine="python", n_threads=2),
                                   gilfree.kde(x, q, 0.5, engine="numpy"), rtol=1e-12)
        assert _loky.executor_usable(ex) and ex.submit(abs, -3).result() == 3
        _pools.shutdown_processes()  # the bench is done: the block still uses the pool
        assert _loky.executor_usable(ex) and ex.submit(abs, -4).result() == 4
    assert set(pmap(_worker_pid, range(4), backend="processes", n_workers=2)) <= set(
        _loky.worker_processes(ex))
