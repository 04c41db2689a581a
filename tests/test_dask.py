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
    ports = set()
    for c in psutil.Process().net_connections(kind="tcp"):
        if c.status == psutil.CONN_LISTEN:
            ports.add(c.laddr.port)
    return ports


@pytest.fixture(scope="module")
def client():
    before = _children()
    # quick to give up on a task whose workers die, and on a dead worker
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.comm.timeouts.connect": "5s"}):
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


@pytest.fixture
def full(client):
    """The module's client with all its workers up and answering (a test may
    have killed one, which the scheduler may not have noticed yet)."""
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
    assert _listening_ports() - before_ports == set()
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
        want = gilfree.parzen(x, q, h, weights=weights, engine=engine)
        got = gd.parzen(x, q, h, weights=weights, engine=engine, client=full)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_distributed_parzen_few_points_and_one_worker(full, parzen_data):
    x, q, h, w = parzen_data
    np.testing.assert_array_equal(gd.parzen(x, q[:5], h, weights=w, client=full),
                                  gilfree.parzen(x, q[:5], h, weights=w))
    np.testing.assert_array_equal(gd.parzen(x, q[0], 0.5, client=full, n_workers=1),
                                  gilfree.parzen(x, q[0], 0.5))


def test_distributed_validates_on_the_client(full, parzen_data):
    x, q, h, _ = parzen_data
    with pytest.raises(ValueError, match="points must have d = 2"):
        gd.parzen_counts(x, q[:, :1], h, client=full)
    with pytest.raises(ValueError, match="widths"):
        gd.parzen(x, q, [-1.0], client=full)
    with pytest.raises(ValueError, match="n_workers must be >= 1"):
        gd.parzen(x, q, h, client=full, n_workers=0)


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
