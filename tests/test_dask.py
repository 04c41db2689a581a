"""The Dask backend of pmap/imap and gilfree.distributed, on a real cluster.

One LocalCluster on loopback (worker processes, 2 workers x 1 thread) serves
the whole module; a few tests start their own through ``client=None`` to
check that nothing is left behind.  The scheduler gives up on a task after
one worker death here (``allowed-failures = 1``) so the worker-kill tests
stay quick.
"""

import functools
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import gilfree
from conftest import dyadic

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")
psutil = pytest.importorskip("psutil")

from gilfree import distributed as gd  # noqa: E402
from gilfree.parallel import WorkerCrashedError  # noqa: E402
from gilfree.parallel._errors import RemoteTraceback  # noqa: E402

N_WORKERS = 2
#: this process's OpenMP setting before any cluster started
_ORIGINAL_OMP = os.environ.get("OMP_NUM_THREADS")


def _children():
    """Our running child processes, less multiprocessing's resource tracker
    (one per interpreter, started by the first spawned process of any pool)."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE:  # exited, not yet reaped
                continue
            if "resource_tracker" in " ".join(p.cmdline()):
                continue
        except psutil.Error:
            continue
        out.add(p.pid)
    return out


def _listening_ports():
    """``(pid, port)`` of every TCP port the child processes of this process
    listen on (the workers of its clusters): other processes of the machine,
    and the nannies of module clusters running in this process, open and
    close ports of their own meanwhile."""
    ports = set()
    for p in psutil.Process().children(recursive=True):
        try:
            conns = p.net_connections(kind="tcp")
        except psutil.Error:  # it exited meanwhile
            continue
        ports.update((p.pid, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN)
    return ports


@pytest.fixture(scope="module")
def client():
    before = _children()
    # quick to give up on a task whose workers die, and on a dead worker.
    # And never "hard-close a lost worker job": a LocalCluster checks,
    # lost-worker-timeout after a worker is removed, whether a worker of
    # that name is back, and closes its nanny for good if not -- which, with
    # the kills of this module, can land while the *next* restart of that
    # worker is still starting, leaving the cluster one worker short.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.comm.timeouts.connect": "5s",
                          "distributed.deploy.lost-worker-timeout": "1h"}):
        c = gd.local_cluster(n_workers=N_WORKERS, threads_per_worker=1)
        try:
            yield c
        finally:
            c.close()
    deadline = time.monotonic() + 10
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _children() - before
    if left:  # a teardown error fails the last test of the module
        raise AssertionError(f"worker processes left running after the cluster closed: {left}")


def _n_running_workers(dask_scheduler):
    """Workers the scheduler counts as running (a restarted worker answers
    ``client.run`` before it does; a broadcast skips it until then)."""
    return sum(ws.status.name == "running" for ws in dask_scheduler.workers.values())


def _all_workers_up(client):
    """Wait until every worker of the module's cluster is up and answering
    (a test may have killed one, which the scheduler may not have noticed
    yet); returns the client."""
    deadline = time.monotonic() + 60
    while True:
        client.wait_for_workers(N_WORKERS, timeout=60)
        try:
            if (len(client.run(os.getpid, on_error="raise")) == N_WORKERS
                    and client.run_on_scheduler(_n_running_workers) == N_WORKERS):
                return client
        except (OSError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the test cluster did not recover its workers")
        time.sleep(0.2)


@pytest.fixture
def full(client):
    """The module's client with all its workers up and answering."""
    return _all_workers_up(client)


# --------------------------------------------------------------------------
# pmap / imap
# --------------------------------------------------------------------------


def _square(x):
    return x * x


def test_cluster_is_on_loopback(full):
    addrs = list(full.nthreads())
    assert full.scheduler.address.startswith("tcp://127.0.0.1:")
    assert addrs and all(a.startswith("tcp://127.0.0.1:") for a in addrs)
    # every socket this process and its workers listen on is on loopback
    procs = [psutil.Process()] + psutil.Process().children(recursive=True)
    listening = [c.laddr for p in procs for c in p.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(a.ip == "127.0.0.1" for a in listening), listening
    # the scheduler's HTTP server has no dashboard pages
    import urllib.error
    import urllib.request

    port = full.scheduler_info()["services"]["dashboard"]
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).status == 200
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10)


def test_pmap_equals_local(full):
    items = list(range(57))
    offset = 3
    want = [x * x + offset for x in items]
    assert gilfree.pmap(lambda x: x * x + offset, items, backend="dask", client=full) == want
    assert gilfree.pmap(_square, items, backend="dask", client=full, chunksize=5) == [
        x * x for x in items]
    assert gilfree.pmap(_square, [], backend="dask", client=full) == []


def test_pmap_by_scheduler_address(full):
    addr = full.scheduler.address
    assert gilfree.pmap(_square, range(10), backend="dask", client=addr) == [
        x * x for x in range(10)]
    assert len(full.nthreads()) == N_WORKERS  # the address's Client closed, not the cluster


def test_imap_lazy_and_unordered(full):
    pulled = []

    def gen():
        for i in range(30):
            pulled.append(i)
            yield i

    it = gilfree.imap(_square, gen(), backend="dask", client=full)
    assert pulled == []  # nothing read before the first next()
    assert next(it) == 0
    assert list(it) == [x * x for x in range(1, 30)]
    got = list(gilfree.imap(_square, range(40), backend="dask", client=full, ordered=False))
    assert sorted(got) == [x * x for x in range(40)]


def test_progress_and_n_workers(full):
    seen = []
    out = gilfree.pmap(_square, range(25), backend="dask", client=full, n_workers=1,
                       progress=lambda done, total: seen.append((done, total)))
    assert out == [x * x for x in range(25)]
    assert seen[-1] == (25, 25)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def _fail_at_7(x):
    if x == 7:
        raise ValueError(f"bad item {x}")
    return x


def test_error_propagates_with_traceback(full):
    with pytest.raises(ValueError, match="bad item 7") as info:
        gilfree.pmap(_fail_at_7, range(20), backend="dask", client=full, chunksize=3)
    exc = info.value
    assert exc.gilfree_index == 7
    assert isinstance(exc.__cause__, RemoteTraceback)
    assert "_fail_at_7" in str(exc.__cause__)
    notes = " ".join(getattr(exc, "__notes__", []))
    assert "item 7" in notes and "'dask' backend" in notes and "dask worker" in notes
    # the cluster is still usable afterwards
    assert gilfree.pmap(_square, range(5), backend="dask", client=full) == [0, 1, 4, 9, 16]


def test_retries_rerun_a_flaky_task(full):
    def flaky(x, _calls={}):
        _calls[x] = _calls.get(x, 0) + 1
        if _calls[x] == 1:
            raise ConnectionError(f"transient failure of {x}")
        return x + 100

    assert gilfree.pmap(flaky, range(6), backend="dask", client=full, retries=1,
                        chunksize=1) == [x + 100 for x in range(6)]
    with pytest.raises(ConnectionError):
        gilfree.pmap(flaky, range(100, 103), backend="dask", client=full, retries=0)


def _slow(x):
    time.sleep(0.3 if x == 2 else 0.0)
    return x


def test_timeout_is_checked_when_the_task_ends(full):
    with pytest.raises(gilfree.parallel.TaskTimeoutError, match="item 2"):
        gilfree.pmap(_slow, range(4), backend="dask", client=full, timeout=0.1, chunksize=1)


def _spin_at_1(x):
    """Item 1 never ends by itself: a pure-Python busy loop."""
    while x == 1:
        pass
    return x


def test_timeout_interrupts_a_running_python_task(full):
    t0 = time.monotonic()
    with pytest.raises(gilfree.parallel.TaskTimeoutError,
                       match=r"item 1 .*interrupted in its worker thread"):
        gilfree.pmap(_spin_at_1, range(3), backend="dask", client=full, timeout=0.5, chunksize=1)
    assert time.monotonic() - t0 < 30
    # the worker thread is free again: the cluster runs the next map
    assert gilfree.pmap(_square, range(4), backend="dask", client=full) == [0, 1, 4, 9]


def test_async_timeout_cancelled_when_the_task_returns_in_time():
    """The timer of a task that finished in time never fires into its thread."""
    from gilfree.parallel._worker import _call_with_async_timeout

    for _ in range(200):
        assert _call_with_async_timeout(_square, 3, 5.0) == 9
    time.sleep(0.05)
    assert sum(range(10)) == 45  # no stray exception surfaced here


def _set_tag(value):
    global _TAG
    _TAG = value


def _get_tag(_):
    return _TAG


_TAG = None


def test_initializer_runs_on_every_worker(full):
    got = gilfree.pmap(_get_tag, range(6), backend="dask", client=full, initializer=_set_tag,
                       initargs=("ready",), chunksize=1)
    assert got == ["ready"] * 6


def _tag_with_restart(x, marker_dir, old_pids):
    """The first item to run kills its worker (the nanny restarts it); the
    surviving old worker then waits until a restarted one has run an item,
    so that some items surely run on a worker that joined mid-map."""
    d = pathlib.Path(marker_dir)
    try:
        os.close(os.open(d / "died", os.O_CREAT | os.O_EXCL))
        os.kill(os.getpid(), signal.SIGKILL)
    except FileExistsError:
        pass
    if os.getpid() in old_pids:
        deadline = time.monotonic() + 30
        while not (d / "new").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    else:
        (d / "new").touch()
    return os.getpid(), _TAG


def test_initializer_reruns_on_a_restarted_worker(full, tmp_path):
    old = set(full.run(os.getpid).values())
    got = gilfree.pmap(functools.partial(_tag_with_restart, marker_dir=str(tmp_path),
                                         old_pids=old),
                       range(8), backend="dask", client=full, initializer=_set_tag,
                       initargs=("ready",), chunksize=1, retries=2)
    pids = {pid for pid, _ in got}
    assert pids - old, "no item ran on the restarted worker"
    assert [tag for _, tag in got] == ["ready"] * 8
    # the plugin was registered for the map only
    plugins = full.run(lambda dask_worker: sorted(dask_worker.plugins))
    assert not any(n.startswith("gilfree-init-") for names in plugins.values() for n in names)


def _failing_init():
    raise RuntimeError("initializer exploded")


def test_failing_initializer_on_dask(full):
    with pytest.raises(RuntimeError, match="initializer exploded") as info:
        gilfree.pmap(_square, range(4), backend="dask", client=full, initializer=_failing_init)
    assert "initializer" in " ".join(getattr(info.value, "__notes__", []))
    plugins = full.run(lambda dask_worker: sorted(dask_worker.plugins))
    assert not any(n.startswith("gilfree-init-") for names in plugins.values() for n in names)
    assert gilfree.pmap(_square, range(3), backend="dask", client=full) == [0, 1, 4]


def test_unpicklable_item_names_it(full):
    items = [1, 2, threading.Lock()]
    with pytest.raises(TypeError, match="item 2.*Dask workers"):
        gilfree.pmap(lambda x: x, items, backend="dask", client=full, chunksize=1)


def test_client_needs_the_dask_backend(full):
    with pytest.raises(ValueError, match="client= is only used by backend='dask'"):
        gilfree.pmap(_square, range(3), backend="threads", client=full)
    with pytest.raises(TypeError, match="client must be a dask.distributed Client"):
        gilfree.pmap(_square, range(3), backend="dask", client=42)


def test_large_arrays_are_scattered_once(full):
    from gilfree.parallel._dask import _Scatterer

    big = np.arange(500_000, dtype=np.float64)  # 4 MB
    sc = _Scatterer(full, 2**20)
    try:
        blob1, refs1 = sc.dumps([(big, 1), (big, 2)])
        blob2, refs2 = sc.dumps([(big, 3)])
        assert len(blob1) < 2000 and len(blob2) < 2000  # references, not the data
        assert len(refs1) == len(refs2) == 1 and refs1[0].key == refs2[0].key
        # broadcast: every worker holds a copy (the scheduler may learn of
        # the last copy a moment after the scatter returns)
        deadline = time.monotonic() + 15
        while (len(full.who_has([refs1[0]])[refs1[0].key]) < N_WORKERS
               and time.monotonic() < deadline):
            time.sleep(0.1)
        assert len(full.who_has([refs1[0]])[refs1[0].key]) == N_WORKERS
    finally:
        sc.release()
    # end to end: items and closures with the same large array
    got = gilfree.pmap(lambda it: float(it[0][it[1]] + big[-1]),
                       [(big, i) for i in range(0, 500_000, 25_000)], backend="dask", client=full)
    assert got == [float(i + 499_999) for i in range(0, 500_000, 25_000)]
    _assert_cluster_memory_released(full)


def _assert_cluster_memory_released(client):
    """Scattered arguments, functions and results were let go of."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        keys = [k for ks in client.has_what().values() for k in ks]
        if not keys:
            return
        time.sleep(0.05)
    raise AssertionError(f"keys left on the workers: {keys}")


def _first_of(a):
    return float(a[0])


def test_scattered_arrays_are_released_when_their_chunks_finish(full):
    """Each large array is scattered for the chunks that use it and released
    from the cluster when the last of them has finished, not kept until the
    map ends."""
    arrays = [np.full(2**18, float(i)) for i in range(24)]  # 2 MiB each, all distinct
    peak = 0
    for i, r in enumerate(gilfree.imap(_first_of, arrays, backend="dask", client=full,
                                       chunksize=1)):
        assert r == float(i)
        keys = {k for ks in full.has_what().values() for k in ks}
        peak = max(peak, len(keys))
    # a few chunks in flight (2 per task slot) and their arrays, never all 24
    assert peak <= 12, f"{peak} keys held on the cluster at once"
    _assert_cluster_memory_released(full)


def _raises_base_at_2(arg):
    x, kind = arg
    if x == 2:
        raise {"SystemExit": SystemExit(2), "KeyboardInterrupt": KeyboardInterrupt()}[kind]
    return x


def _init_exits():
    raise SystemExit("bad command line")


@pytest.mark.parametrize("kind", ["SystemExit", "KeyboardInterrupt"])
def test_base_exception_in_a_dask_task_ends_the_map_clearly(full, kind):
    with pytest.raises(gilfree.parallel.TaskExitError) as info:
        gilfree.pmap(_raises_base_at_2, [(x, kind) for x in range(5)], backend="dask",
                     client=full, chunksize=1)
    assert info.value.index == 2 and f"raised {kind}(" in str(info.value)
    assert type(info.value.__cause__).__name__ == kind
    assert gilfree.pmap(_square, range(3), backend="dask", client=full) == [0, 1, 4]


def test_system_exit_in_a_dask_initializer_ends_the_map_clearly(full):
    with pytest.raises(gilfree.parallel.TaskExitError,
                       match=r"initializer= raised SystemExit\('bad command line'\)"):
        gilfree.pmap(_square, range(4), backend="dask", client=full, initializer=_init_exits)
    assert len(full.run(os.getpid)) == N_WORKERS  # no worker ended
    assert gilfree.pmap(_square, range(3), backend="dask", client=full) == [0, 1, 4]


def _inner():
    return gilfree.resolve_n_threads(None)


def test_inner_threads_share_the_host(full):
    # 2 single-threaded workers on this host: each task's kernels get
    # cores // 2 threads, never all the cores
    want = max(1, gilfree.usable_cores() // N_WORKERS)
    got = gilfree.pmap(lambda _: _inner(), range(4), backend="dask", client=full, chunksize=1)
    assert got == [want] * 4
    got = gilfree.pmap(lambda _: _inner(), range(2), backend="dask", client=full,
                       inner_threads=3)
    assert got == [3, 3]


def _slow_double(x):
    time.sleep(0.05)
    return 2 * x


def test_worker_killed_mid_map_every_result_once(full):
    pids = full.run(os.getpid)
    victim = sorted(pids.values())[0]
    timer = threading.Timer(0.4, os.kill, (victim, signal.SIGKILL))
    timer.start()
    try:
        got = gilfree.pmap(_slow_double, range(60), backend="dask", client=full, chunksize=2)
    finally:
        timer.cancel()
    assert got == [2 * x for x in range(60)]
    assert victim not in full.run(os.getpid).values()  # it really died


def _exit_at_3(x):
    if x == 3:
        os._exit(3)
    return x


def test_worker_crash_with_retries_exhausted_names_the_items(full):
    # (Dask also counts a task merely queued on a dying worker as suspect, so
    # with several chunks in flight an innocent one may be the first to be
    # given up on; one chunk at a time keeps the test deterministic.)
    with pytest.raises(WorkerCrashedError, match=r"items 0\.\.3") as info:
        gilfree.pmap(_exit_at_3, range(4), backend="dask", client=full, chunksize=4)
    assert info.value.candidates == [0, 1, 2, 3]
    assert isinstance(info.value.__cause__, distributed.KilledWorker)
    # both workers back first: with one, item 2 would queue behind item 3 on
    # the dying worker and might be the one given up on
    _all_workers_up(full)
    with pytest.raises(WorkerCrashedError, match=r"item 1 \(3\) was lost") as info:
        gilfree.pmap(_exit_at_3, [2, 3], backend="dask", client=full, chunksize=1)
    assert info.value.index == 1 and info.value.candidates == [1]


def _exit_twice_at_3(x, counter):
    if x == 3:
        path = pathlib.Path(counter)
        n = int(path.read_text()) if path.exists() else 0
        if n < 2:
            path.write_text(str(n + 1))
            os._exit(3)
    return x


def test_killed_worker_chunk_resubmitted_while_retries_remain(full, tmp_path):
    # two deaths exhaust the scheduler (allowed-failures = 1); retries=1
    # resubmits the chunk once more, and then it succeeds
    counter = str(tmp_path / "deaths")
    got = gilfree.pmap(functools.partial(_exit_twice_at_3, counter=counter), range(6),
                       backend="dask", client=full, chunksize=1, retries=1)
    assert got == list(range(6))
    assert pathlib.Path(counter).read_text() == "2"


def _map_raising_interrupt():
    def stop(done, total):
        if done >= 3:
            raise KeyboardInterrupt

    gilfree.pmap(_slow_double, range(50), backend="dask", n_workers=2, chunksize=1,
                 progress=stop)


def test_own_cluster_closed_after_success_error_and_ctrl_c():
    before_children, before_ports = _children(), _listening_ports()
    assert gilfree.pmap(_square, range(8), backend="dask", n_workers=2) == [
        x * x for x in range(8)]
    with pytest.raises(ValueError, match="bad item 7"):
        gilfree.pmap(_fail_at_7, range(10), backend="dask", n_workers=2)
    with pytest.raises(KeyboardInterrupt):
        _map_raising_interrupt()
    deadline = time.monotonic() + 10
    while _children() - before_children and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children() - before_children == set()
    # ports of the processes this map started (a module cluster's workers,
    # running before, may open ports of their own meanwhile)
    assert {(pid, port) for pid, port in _listening_ports() - before_ports
            if pid not in before_children} == set()
    # the nannies must not have changed this process's thread settings
    assert os.environ.get("OMP_NUM_THREADS") == _ORIGINAL_OMP


def test_nanny_environment_does_not_leak(full):
    # Dask's nannies copy OMP_NUM_THREADS=1 into the process that starts them;
    # gilfree's clusters must leave this process's thread settings alone
    assert os.environ.get("OMP_NUM_THREADS") == _ORIGINAL_OMP


# --------------------------------------------------------------------------
# gilfree.distributed
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parzen_data():
    rng = np.random.default_rng(99)
    x = dyadic(rng, (20_000, 2))
    q = dyadic(rng, (3_001, 2))
    h = np.linspace(0.05, 1.0, 12)
    w = rng.random(20_000)
    return x, q, h, w


def test_distributed_parzen_counts_equal_local(full, parzen_data):
    x, q, h, _ = parzen_data
    np.testing.assert_array_equal(gd.parzen_counts(x, q, h, client=full),
                                  gilfree.parzen_counts(x, q, h))
    np.testing.assert_array_equal(gd.parzen_counts(x, q, 0.25, client=full),
                                  gilfree.parzen_counts(x, q, 0.25))
    _assert_cluster_memory_released(full)
    by_address = gd.parzen_counts(x[:, 0], q[:, 0], h, client=full.scheduler.address)
    np.testing.assert_array_equal(by_address, gilfree.parzen_counts(x[:, 0], q[:, 0], h))


@pytest.mark.parametrize("engine", ["cython", "numba"])
def test_distributed_parzen_bitwise_equal_local(full, parzen_data, engine):
    x, q, h, w = parzen_data
    for weights in (None, w):
        want = gilfree.parzen_density(x, q, h, weights=weights, engine=engine)
        got = gd.parzen_density(x, q, h, weights=weights, engine=engine, client=full)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_distributed_parzen_few_points_and_one_worker(full, parzen_data):
    x, q, h, w = parzen_data
    np.testing.assert_array_equal(gd.parzen_density(x, q[:5], h, weights=w, client=full),
                                  gilfree.parzen_density(x, q[:5], h, weights=w))
    np.testing.assert_array_equal(gd.parzen_density(x, q[0], 0.5, client=full, n_workers=1),
                                  gilfree.parzen_density(x, q[0], 0.5))


def test_distributed_validates_on_the_client(full, parzen_data):
    x, q, h, _ = parzen_data
    with pytest.raises(ValueError, match="points must have d = 2"):
        gd.parzen_counts(x, q[:, :1], h, client=full)
    with pytest.raises(ValueError, match="widths"):
        gd.parzen_density(x, q, [-1.0], client=full)
    with pytest.raises(ValueError, match="n_workers must be >= 1"):
        gd.parzen_density(x, q, h, client=full, n_workers=0)


def test_distributed_kernel_error_propagates(full, parzen_data):
    x, q, h, _ = parzen_data
    with pytest.raises(ValueError, match="engine must be one of") as info:
        gd.parzen_counts(x, q, h, engine="fortran", client=full)
    assert "raised by chunk" in " ".join(getattr(info.value, "__notes__", []))


KDE_KERNELS = ("gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine")


@pytest.mark.parametrize("kernel", KDE_KERNELS)
def test_distributed_kde_equals_local(full, kernel):
    rng = np.random.default_rng(11)
    x, q, w = rng.standard_normal((3000, 2)), rng.standard_normal((701, 2)), rng.random(3000)
    for bw in (0.4, np.array([0.1, 0.3, 0.7])):
        for weights, log in ((None, False), (w, True)):
            want = gilfree.kde(x, q, bw, kernel=kernel, weights=weights, log=log)
            got = gd.kde(x, q, bw, kernel=kernel, weights=weights, log=log, client=full)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


def test_distributed_gaussian_kde_equals_local(full):
    rng = np.random.default_rng(12)
    x, q = rng.standard_normal((2, 4000)), rng.standard_normal((2, 901))
    for kde_ in (gilfree.gaussian_kde(x, weights=rng.random(4000)),
                 gilfree.gaussian_kde(x, dtype=np.float32)):
        np.testing.assert_array_equal(kde_.evaluate(q, client=full), kde_.evaluate(q))
        np.testing.assert_array_equal(kde_(q, client=full.scheduler.address), kde_(q))
        np.testing.assert_array_equal(gd.gaussian_kde_evaluate(kde_, q, log=True, client=full),
                                      kde_.logpdf(q))
    one_d = gilfree.gaussian_kde(x[0])
    np.testing.assert_array_equal(one_d.evaluate(q[0], client=full), one_d.evaluate(q[0]))
    with pytest.raises(ValueError, match="points have dimension 3"):
        kde_.evaluate(np.zeros((3, 5)), client=full)


@pytest.mark.parametrize("method", ["bilinear", "lanczos", "area", "nearest"])
def test_distributed_resize_batch_equals_local(full, method):
    rng = np.random.default_rng(13)
    imgs = rng.integers(0, 256, (7, 64, 48, 3), dtype=np.uint8)
    np.testing.assert_array_equal(gd.resize_batch(imgs, (30, 20), method, client=full),
                                  gilfree.resize_batch(imgs, (30, 20), method))
    gray = imgs[..., 0].astype(np.float32)
    np.testing.assert_array_equal(gd.resize_batch(gray, (40, 31), method, client=full),
                                  gilfree.resize_batch(gray, (40, 31), method))


def _threads_seen(item, n_threads):
    return item, n_threads, gilfree.resolve_n_threads(None)


def test_kernel_tasks_use_the_worker_threads(full):
    got = gd.scale_items(_threads_seen, range(6), client=full)
    assert got == [(i, 1, 1) for i in range(6)]


def test_scale_rows_generic(full):
    a = np.arange(40.0).reshape(4, 10)

    def colsum(a, scale):
        return a.sum(axis=0) * scale

    got = gd.scale_rows(colsum, "a", {"a": a, "scale": 2.0}, axis=1, threads_arg=None,
                        client=full)
    np.testing.assert_array_equal(got, a.sum(axis=0) * 2.0)
    assert gd.split_bounds(10, [1, 1]) == [0, 5, 10]
    assert gd.split_bounds(10, [3, 1]) == [0, 8, 10] or gd.split_bounds(10, [3, 1]) == [0, 7, 10]
    assert gd.split_bounds(100, [1, 1, 1], min_size=64) == [0, 100]
    assert gd.split_bounds(0, [1, 1]) == [0, 0]


# --------------------------------------------------------------------------
# gilfree.distributed.tiles
# --------------------------------------------------------------------------


def _same_tiles(got, want):
    assert type(got) is type(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def _slide_image(rng, shape, dtype=np.uint8):
    """A slide with background (bright) and foreground (dark) blocks."""
    img = np.full(shape, 240 if dtype == np.uint8 else 0.95, dtype)
    h, w = shape[:2]
    for _ in range(6):
        r, c = rng.integers(0, h - 20), rng.integers(0, w - 20)
        hh, ww = rng.integers(10, h // 2), rng.integers(10, w // 2)
        img[r:r + hh, c:c + ww] = (rng.integers(0, 150, img[r:r + hh, c:c + ww].shape)
                                   if dtype == np.uint8 else
                                   rng.random(img[r:r + hh, c:c + ww].shape) * 0.5)
    return img


@pytest.fixture(scope="module")
def slide_files(tmp_path_factory):
    """A cohort of uneven slides: in memory, memmaps, .npy and TIFF paths."""
    tifffile = pytest.importorskip("tifffile")
    d = tmp_path_factory.mktemp("slides")
    rng = np.random.default_rng(21)
    a = _slide_image(rng, (300, 410, 3))
    b = _slide_image(rng, (130, 97, 3))
    g = _slide_image(rng, (260, 200), np.float32)
    raw = np.memmap(d / "raw.u8", dtype=np.uint8, mode="w+", shape=(350, 270, 4), offset=96)
    raw[:] = _slide_image(rng, (350, 270, 4))
    raw.flush()
    np.save(d / "a.npy", a)
    np.save(d / "g.npy", g)
    tifffile.imwrite(d / "b.tif", b)
    tifffile.imwrite(d / "c.tif", a[:200], compression="zlib")  # not memory-mappable
    return dict(dir=d, a=a, b=b, g=g, raw=raw, tifffile=tifffile)


def _local_view(slide, files):
    """What a slide path stands for, opened here."""
    if isinstance(slide, (str, os.PathLike)):
        path = str(slide)
        if path.endswith(".npy"):
            return np.load(path, mmap_mode="r")
        return files["tifffile"].imread(path)
    return slide


TILE_CASES = [
    dict(size=64),
    dict(size=(48, 40), stride=32, threshold=200, min_fraction=0.25, out_shape=16),
    dict(size=50, threshold=180, min_fraction=0.1, pad=255, out_shape=(20, 25),
         method="bilinear"),
]


def _cohort(files):
    d, raw = files["dir"], files["raw"]
    ro = np.memmap(d / "raw.u8", dtype=np.uint8, mode="r", shape=(350, 270, 4), offset=96)
    return [files["a"], ro, str(d / "a.npy"), d / "b.tif", ro[40:300, 10:, :3], files["b"],
            files["a"][::2, ::-1], raw,
            str(d / "c.tif")]


@pytest.mark.parametrize("case", range(len(TILE_CASES)))
def test_distributed_tiles_equals_local(full, slide_files, case):
    kw = TILE_CASES[case]
    slides = _cohort(slide_files)
    got = gd.tiles(slides, client=full, **kw)
    assert len(got) == len(slides)
    for s, g in zip(slides, got):
        _same_tiles(g, gilfree.tiles(_local_view(s, slide_files), **kw))


def test_distributed_tiles_float_gray_and_masks(full, slide_files):
    g = slide_files["g"]
    path = str(slide_files["dir"] / "g.npy")
    mask = g < 0.5
    kw = dict(size=32, stride=24, min_fraction=0.3, out_shape=8, method="area")
    got = gd.tiles([g, path, g.tolist()], mask=mask, client=full, **kw)
    want = gilfree.tiles(g, mask=mask, **kw)
    _same_tiles(got[0], want)
    _same_tiles(got[1], want)
    _same_tiles(got[2], gilfree.tiles(g.tolist(), mask=mask.tolist(), **kw))  # float64
    mpath = slide_files["dir"] / "mask.npy"
    np.save(mpath, ~mask)
    got = gd.tiles([g, path], mask=[mask, mpath], client=full, size=40)
    _same_tiles(got[0], gilfree.tiles(g, mask=mask, size=40))
    _same_tiles(got[1], gilfree.tiles(g, mask=~mask, size=40))
    assert gd.tiles([], 64, client=full) == []


def test_distributed_tiles_bands_equal_local(full, slide_files, monkeypatch):
    # a cohort of one large and two small slides: the large one is cut into
    # row bands of whole tile rows, which must not change a single tile
    from gilfree import _config

    monkeypatch.setattr(_config, "DISTRIBUTED_TILES_MIN_PART_BYTES", 2048)
    seen = []
    real_run = gd._tiles._run

    def spy(client, func, parts, *args):
        seen.append(parts)
        return real_run(client, func, parts, *args)

    monkeypatch.setattr(gd._tiles, "_run", spy)
    files = slide_files
    raw = np.memmap(files["dir"] / "raw.u8", dtype=np.uint8, mode="r", shape=(350, 270, 4),
                    offset=96)
    np.save(files["dir"] / "rawmask.npy", np.asarray(raw[..., 0]) < 120)
    mask = np.load(files["dir"] / "rawmask.npy", mmap_mode="r")
    for kw, slides, masks in [
        (TILE_CASES[1], [files["a"], files["b"], raw], None),
        (TILE_CASES[2], [files["a"], raw, str(files["dir"] / "a.npy")], None),
        (dict(size=30, stride=20, pad=0, min_fraction=0.5), [raw, raw[:, :100]],
         [mask, mask[:, :100]]),
        (dict(size=30, stride=45, min_fraction=0.5), [raw, files["a"][..., 0]],
         [np.array(mask), files["a"][..., 1] < 100]),
    ]:
        seen.clear()
        got = gd.tiles(slides, mask=masks, client=full, **kw)
        parts = seen[0]
        assert len(parts) > len(slides)  # some slide was banded
        for i, (s, g) in enumerate(zip(slides, got)):
            m = None if masks is None else masks[i]
            _same_tiles(g, gilfree.tiles(_local_view(s, files), mask=m, **kw))
        # a memmap travels as its file, never with its data
        for part in parts:
            assert not any(isinstance(x, np.memmap) for x in part)
        assert any(isinstance(part[0], gd._tiles._MappedView) for part in parts)


def test_distributed_tiles_errors_equal_local(full, slide_files):
    a = slide_files["a"]
    tif = str(slide_files["dir"] / "b.tif")
    bad = [
        (dict(size=0), {}),
        (dict(size=64, threshold=300), {}),
        (dict(size=64, min_fraction=1.5), {}),
        (dict(size=500), {}),
        (dict(size=64, out_shape=128), {}),
        (dict(size=64, mask=np.zeros((3, 3), bool)), {}),
        (dict(size=64, engine="fortran"), {}),
    ]
    for kw, _ in bad:
        with pytest.raises((TypeError, ValueError)) as local:
            gilfree.tiles(a, **kw)
        with pytest.raises(type(local.value)) as dist:
            gd.tiles([a, a], client=full, **kw)
        assert str(dist.value) == str(local.value), kw
    with pytest.raises(TypeError) as local:
        gilfree.tiles(a.astype(np.int32), 64)
    with pytest.raises(TypeError) as dist:
        gd.tiles([a, a.astype(np.int32)], 64, client=full)
    assert str(dist.value) == str(local.value)
    assert "slide 1 of 2" in " ".join(dist.value.__notes__)
    # a TIFF is checked on its worker, with the same error
    with pytest.raises(ValueError) as local:
        gilfree.tiles(slide_files["b"], 64, threshold=999)
    with pytest.raises(ValueError) as dist:
        gd.tiles([tif], 64, threshold=999, client=full)
    assert str(dist.value) == str(local.value)
    with pytest.raises(TypeError, match=r"slides must be a list.*\[slide\]"):
        gd.tiles(a, 64, client=full)
    with pytest.raises(TypeError, match="slides must be a list"):
        gd.tiles(tif, 64, client=full)
    with pytest.raises(ValueError, match="neither a .npy nor a TIFF"):
        gd.tiles([__file__], 64, client=full)
    with pytest.raises(ValueError, match="a list of 1 for 2 slides"):
        gd.tiles([a, a], 64, mask=[None], client=full)


def _install_dying_tiles(marker):
    """Worker side: the first tiles call on any worker kills its process."""
    import gilfree.tiles  # noqa: F401

    mod = sys.modules["gilfree.tiles"]
    real = getattr(mod, "_real_tiles", mod.tiles)

    def dying(*args, **kwargs):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    mod._real_tiles = real
    mod.tiles = dying


def _uninstall_dying_tiles():
    mod = sys.modules["gilfree.tiles"]
    if hasattr(mod, "_real_tiles"):
        mod.tiles = mod._real_tiles
        del mod._real_tiles


def test_distributed_tiles_survive_a_worker_kill(full, slide_files, tmp_path):
    marker = str(tmp_path / "killed")
    slides = _cohort(slide_files)[:6]
    kw = TILE_CASES[1]
    old = set(full.run(os.getpid).values())
    full.run(_install_dying_tiles, marker)
    try:
        got = gd.tiles(slides, client=full, **kw)
    finally:
        full.run(_uninstall_dying_tiles)
    assert os.path.exists(marker)
    assert old - set(full.run(os.getpid).values())  # a worker really died
    assert len(got) == len(slides)
    for s, g in zip(slides, got):
        _same_tiles(g, gilfree.tiles(_local_view(s, slide_files), **kw))


# --------------------------------------------------------------------------
# gilfree.distributed.dtw_sweep
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dtw_case():
    pd = pytest.importorskip("pandas")
    from gilfree import dtw
    from gilfree._reference import dtw_data as dd

    rec, _ = dd.recording(3000, seed=5, template_samples=50, pause_s=(0.5, 2.0),
                          bout_strides=(5, 15))
    data = pd.DataFrame(rec, columns=dd.AXES)
    tpl = pd.DataFrame(dd.template(50), columns=dd.TEMPLATE_AXES)
    return dtw, data, dtw.DtwTemplate(tpl, 51.2, scale=500.0)


def _same_segmentation(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert type(g) is type(w) and repr(g) == repr(w)
        assert g.get_params(deep=True).keys() == w.get_params(deep=True).keys()
        for name in ("matches_start_end_", "costs_", "cost_function_"):
            a, b = getattr(g, name), getattr(w, name)
            assert a.dtype == b.dtype and a.flags.writeable == b.flags.writeable
            np.testing.assert_array_equal(a, b)
        assert len(g.paths_) == len(w.paths_)
        for a, b in zip(g.paths_, w.paths_):
            np.testing.assert_array_equal(a, b)
            assert not a.flags.writeable


def test_distributed_dtw_sweep_equals_local(full, dtw_case, monkeypatch):
    dtw, data, template = dtw_case
    grid = {"max_cost": [2, 3, 4, 5], "template__use_cols": [("gyr_ml",), ("gyr_ml", "gyr_si")]}
    groups = []
    real = gd._dtw.scale_items

    def spy(func, items, *args, **kwargs):
        groups.append([len(i) for i in items])
        return real(func, items, *args, **kwargs)

    monkeypatch.setattr(gd._dtw, "scale_items", spy)
    got = gd.dtw_sweep(data, 51.2, grid, template=template, client=full)
    want = dtw.sweep(data, 51.2, grid, template=template)
    _same_segmentation(got, want)
    assert groups == [[4, 4]]  # one task per cost matrix
    # points of a group share their cost data, as locally
    assert got[0].cost_function_ is got[2].cost_function_
    assert got[0].cost_function_ is not got[1].cost_function_
    np.testing.assert_array_equal(got[1].acc_cost_mat_, want[1].acc_cost_mat_)
    assert got[1].acc_cost_mat_ is got[3].acc_cost_mat_
    assert template.use_cols is None
    # a list of dicts, an estimator and array data
    grid = [{"min_match_length_s": [0.4, 0.6], "max_match_length_s": [1.5, 3.0]},
            {"snap_to_min_win_ms": [None, 200], "template__use_cols": [("gyr_ml",)]},
            {"template__scale": [400.0]}]
    base = dtw.BarthDtw(template, max_cost=3.5)
    got = gd.dtw_sweep(data.to_numpy(), 51.2, grid, estimator=base, columns=list(data.columns),
                       client=full.scheduler.address)
    want = dtw.sweep(data.to_numpy(), 51.2, grid, estimator=base, columns=list(data.columns))
    _same_segmentation(got, want)
    assert groups[-1] == [4, 2, 1]


def test_distributed_dtw_sweep_errors_equal_local(full, dtw_case):
    dtw, data, template = dtw_case
    for args, kw in [
        ((data, 51.2, {"maxcost": [1, 2]}), dict(template=template)),
        ((data, 51.2, {"max_cost": 3.0}), dict(template=template)),
        ((data, -1.0, {"max_cost": [3.0]}), dict(template=template)),
        ((data, 51.2, {"max_cost": [3.0]}), dict(template=template, engine="fortran")),
        ((data, 51.2, {"max_cost": [3.0]}), dict(template=template, estimator=dtw.BarthDtw(
            template))),
        ((data[["acc_pa"]], 51.2, {"max_cost": [3.0]}), dict(template=template)),
    ]:
        with pytest.raises((TypeError, ValueError)) as local:
            dtw.sweep(*args, **kw)
        with pytest.raises(type(local.value)) as dist:
            gd.dtw_sweep(*args, client=full, **kw)
        assert str(dist.value) == str(local.value)


def _die_once(part, marker, n_threads):
    path = pathlib.Path(marker)
    if not path.exists():
        path.write_text("died once")
        os._exit(7)
    return float(part.sum())


def test_distributed_chunk_survives_its_worker(full, tmp_path):
    # a large part is scattered to its worker only; the worker dies with it,
    # gilfree scatters it again and resubmits the chunk
    parts = [np.full(200_000, float(i)) for i in range(3)]  # 1.6 MB each
    got = gd.scale_items(_die_once, parts, {"marker": str(tmp_path / "m")}, client=full)
    assert got == [200_000.0 * i for i in range(3)]


def test_distributed_killed_chunk_follows_the_one_resubmit_policy(full, tmp_path):
    # two deaths exhaust the scheduler (allowed-failures = 1): retries=1
    # resubmits the chunk once more and it succeeds; with retries=0 the
    # loss is reported, naming the chunk (the policy of pmap on Dask)
    _all_workers_up(full)
    assert gd.scale_items(_exit_twice_at_3, [3], {"counter": str(tmp_path / "a")},
                          threads_arg=None, client=full, retries=1) == [3]
    _all_workers_up(full)
    with pytest.raises(WorkerCrashedError, match=r"chunk 0 of 1 was lost .*retries=0") as info:
        gd.scale_items(_exit_twice_at_3, [3], {"counter": str(tmp_path / "b")},
                       threads_arg=None, client=full, retries=0)
    assert info.value.candidates == [0]
    _all_workers_up(full)
    with pytest.raises(ValueError, match=r"retries must be an int >= 0"):
        gd.scale_items(abs, [1], client=full, retries=-1)


def test_distributed_own_cluster_is_closed(parzen_data):
    x, q, h, _ = parzen_data
    before = _children()
    np.testing.assert_array_equal(gd.parzen_counts(x, q[:200], h, n_workers=2),
                                  gilfree.parzen_counts(x, q[:200], h))
    deadline = time.monotonic() + 10
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children() - before == set()


# --------------------------------------------------------------------------
# Without the extra
# --------------------------------------------------------------------------


def test_missing_extra_gives_the_install_command():
    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "import gilfree\n"
        "from gilfree import distributed as gd\n"
        "from gilfree.parallel import BackendUnavailableError\n"
        "try:\n"
        "    gilfree.pmap(abs, [1], backend='dask')\n"
        "except BackendUnavailableError as e:\n"
        "    print('PMAP', e)\n"
        "try:\n"
        "    gd.parzen_counts([[0.0]], [[0.0]], 1.0)\n"
        "except gd.DaskUnavailableError as e:\n"
        "    print('DIST', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(ln.startswith("PMAP") and "pip install 'gilfree[dask]'" in ln for ln in lines)
    assert any(ln.startswith("DIST") and "pip install 'gilfree[dask]'" in ln for ln in lines)


# --------------------------------------------------------------------------
# gilfree bench --backend dask
# --------------------------------------------------------------------------


def test_bench_parzen_dask_approaches_give_the_reference(full):
    from gilfree.bench import get_workload

    rng = np.random.default_rng(5)
    seed = get_workload("parzen")
    data = (rng.standard_normal((500, 2)), np.zeros((1, 2)), np.linspace(1.0, 1.2, 7))
    ref = seed.reference(data)
    aps = seed.dask_approaches(data, full, [1, 2])
    assert {a.kind for a in aps} == {"dask"} and len(aps) == 3
    for a in aps:
        assert seed.same(a.run(), ref), a.name
    multi = get_workload("parzen-multi")
    x, q, h = rng.standard_normal((3000, 2)), rng.standard_normal((300, 2)), np.linspace(.1, 1, 5)
    ref = gilfree.parzen_counts(x, q, h)
    for a in multi.dask_approaches((x, q, h, 2), full, [1, 2]):
        assert a.kind == "dask" and multi.same(a.run(), ref), a.name


def test_bench_cli_backend_dask(tmp_path):
    import json
    from importlib import resources

    jsonschema = pytest.importorskip("jsonschema")
    before = _children()
    res = subprocess.run(
        [sys.executable, "-m", "gilfree.cli", "bench", "io", "--backend", "dask", "--quick",
         "--repeats", "1", "--workers", "1,2", "--out", str(tmp_path), "--no-plots"],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    record = json.loads((tmp_path / "results.json").read_text())
    schema = json.loads(resources.files("gilfree.bench").joinpath("schema.json").read_text())
    jsonschema.validate(record, schema)
    assert record["settings"]["backend"] == "dask"
    rows = [r for r in record["workloads"][0]["results"] if r["kind"] == "dask"]
    assert sorted(r["workers"] for r in rows) == [1, 2] and all(r["checked"] for r in rows)
    assert "python on dask" in res.stdout
    assert _children() - before == set()
