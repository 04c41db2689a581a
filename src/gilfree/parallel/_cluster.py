"""gilfree's one Dask layer: clusters, scattering and lost tasks.

Both ways gilfree runs on dask.distributed -- ``pmap(backend="dask")``
(:mod:`._dask`) and the kernel adapters of :mod:`gilfree.distributed` --
go through this module for:

- connecting to a cluster (:func:`connect`: a Client, a scheduler address,
  or a LocalCluster gilfree starts on 127.0.0.1 and closes, also on errors
  and Ctrl-C, killing any worker that does not stop: :class:`Connection`);
- the LocalCluster's layout (:func:`default_layout`) and arguments
  (:func:`local_cluster_kwargs`), its nannies kept from changing this
  process's thread settings (:func:`quiet_nanny_environ`);
- scattering: to every worker (:func:`scatter_everywhere`) or to one
  (:func:`scatter_to`), and telling which scattered data no worker holds
  any more (:func:`lost_keys`: the scheduler cannot recompute it);
- following tasks to their end: results fetched as tasks finish, a task
  lost on the cluster resubmitted under the one policy (:class:`Tasks`,
  :class:`Resubmits`).

Importing this module imports ``distributed`` (and ``dask``): callers load
it lazily and turn an ImportError into an install hint.
"""

import concurrent.futures
import contextlib
import os
import signal
import threading
import time

import dask
import distributed
import psutil
from distributed.comm import get_address_host
from distributed.deploy.utils import nprocesses_nthreads

from .. import _config
from .._config import usable_cores
from ._errors import item_repr
from ._worker import THREAD_ENV_VARS

__all__ = ["Connection", "Resubmits", "Tasks", "check_client", "connect", "connection",
           "default_layout", "inner_threads_by_host", "local_cluster_kwargs", "lost_keys",
           "quiet_nanny_environ", "scatter_everywhere", "scatter_to", "start_local_cluster",
           "worker_threads"]


@contextlib.contextmanager
def quiet_nanny_environ():
    """A LocalCluster's nannies run in this process and copy Dask's
    ``pre-spawn-environ`` (``OMP_NUM_THREADS=1`` and friends) into *this*
    process's environment, which would silently make every later gilfree
    call here single-threaded.  Keep only the memory setting, and put the
    thread variables back as they were."""
    saved = {var: os.environ.get(var) for var in THREAD_ENV_VARS}
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ":
                              {"MALLOC_TRIM_THRESHOLD_": 65536}}):
            yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def local_cluster_kwargs(n_workers, threads_per_worker, dashboard=False):
    """Arguments of gilfree's LocalClusters: worker processes bound to the
    loopback interface, dashboard off unless asked, each worker's thread
    pools sized to its threads before it imports anything."""
    env = {var: str(threads_per_worker) for var in THREAD_ENV_VARS}
    return dict(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        # The scheduler always serves HTTP (health, metrics; the dashboard
        # only when asked): on a free port of the loopback interface, never
        # on 8787 of every interface.
        dashboard_address="127.0.0.1:0",
        scheduler_kwargs={"dashboard": bool(dashboard)},
        env=env,
    )


class Connection:
    """A Client gilfree uses, and whether gilfree must close it (and the
    LocalCluster it started) when done."""

    def __init__(self, client, owns_client=False, cluster=None):
        self.client = client
        self.owns_client = owns_client
        self.cluster = cluster

    def close(self, abort=False):
        timeout = 2.0 if abort else _config.DASK_CLOSE_TIMEOUT
        pids = _worker_pids(self.cluster) if self.cluster is not None else []
        if self.owns_client:
            with contextlib.suppress(Exception):
                self.client.close(timeout=timeout)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=timeout)
        self.cluster = None
        self.owns_client = False
        # a worker that did not stop in time (Ctrl-C, a busy machine) is killed:
        # gilfree's own cluster leaves no process behind
        _reap(pids, 0.5 if abort else 5.0)


def _worker_pids(cluster):
    pids = []
    for nanny in list(getattr(cluster, "workers", {}).values()):
        with contextlib.suppress(Exception):
            pid = nanny.pid
            if isinstance(pid, int):
                pids.append(pid)
    return pids


def _alive(pid):
    """Whether process ``pid`` runs (a zombie does not), on any platform
    (psutil, a dependency of distributed: no /proc on macOS)."""
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # pragma: no cover - exists, but may not be looked at
        return True


def _reap(pids, grace):
    deadline = time.monotonic() + grace
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _alive(p)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def start_local_cluster(n_workers, threads_per_worker=1):
    """A LocalCluster on 127.0.0.1 and a Client of it (not the default
    client of dask collections)."""
    kwargs = local_cluster_kwargs(n_workers, threads_per_worker)
    cluster = client = None
    with quiet_nanny_environ():
        try:
            cluster = distributed.LocalCluster(**kwargs)
            client = distributed.Client(cluster, set_as_default=False,
                                        timeout=_config.DASK_START_TIMEOUT)
            client.wait_for_workers(n_workers, timeout=_config.DASK_START_TIMEOUT)
        except BaseException:
            Connection(client, client is not None, cluster).close(abort=True)
            raise
    return Connection(client, True, cluster)


def connect(client=None, *, n_workers=None, threads_per_worker=1):
    """Resolve a user's ``client=`` into a :class:`Connection`.

    ``None`` starts a LocalCluster of ``n_workers`` processes with
    ``threads_per_worker`` threads each (closed by ``Connection.close``);
    a scheduler address string opens a Client to it (closed, the cluster
    not); a :class:`distributed.Client` is used as it is.
    """
    if client is None:
        n = usable_cores() if n_workers is None else n_workers
        return start_local_cluster(n, threads_per_worker)
    if isinstance(client, str):
        try:
            c = distributed.Client(client, set_as_default=False,
                                   timeout=_config.DASK_START_TIMEOUT)
        except OSError as exc:
            raise OSError(
                f"client={client!r}: could not connect to a Dask scheduler at that address "
                f"({exc}); start one (`dask scheduler`) or pass client=None for a local "
                "cluster"
            ) from exc
        return Connection(c, True)
    check_client(client)
    if client.status not in ("running", "connecting", "newly-created"):
        raise ValueError(
            f"client is {client.status}: pass a running dask.distributed Client, a "
            "scheduler address, or None for a local cluster"
        )
    return Connection(client)


def check_client(client):
    """The type of a ``client=`` that is not None (whether it answers is
    seen when connecting)."""
    if not isinstance(client, (str, distributed.Client)):
        raise TypeError(
            "client must be a dask.distributed Client, a scheduler address such as "
            f"'tcp://127.0.0.1:8786', or None for a local cluster; got {item_repr(client)} "
            f"of type {type(client).__name__}"
        )


def worker_threads(client):
    """``{worker address: nthreads}`` of the cluster's workers, in a stable
    order (waits for at least one worker)."""
    nthreads = client.nthreads()
    if not nthreads:
        client.wait_for_workers(1, timeout=_config.DASK_START_TIMEOUT)
        nthreads = client.nthreads()
    return dict(sorted(nthreads.items()))


def scatter_everywhere(client, obj):
    """Scatter ``obj`` once to every worker (``broadcast=True``); a Future.

    If the broadcast does not finish within ``DASK_BROADCAST_TIMEOUT`` (a
    worker died and the scheduler has not noticed yet: copying to it waits
    for a connect timeout), ``obj`` is scattered to one worker instead and
    the others fetch it from there when a task needs it.
    """
    try:
        [fut] = client.scatter([obj], broadcast=True, hash=False,
                               timeout=_config.DASK_BROADCAST_TIMEOUT)
    except (TimeoutError, OSError):
        [fut] = client.scatter([obj], hash=False)
    return fut


def lost_keys(client, futures):
    """Keys of ``futures`` that no worker holds any more."""
    futures = [f for f in futures if f is not None]
    if not futures:
        return set()
    try:
        who = client.who_has(futures)
    except concurrent.futures.CancelledError:  # already forgotten: all of them
        return {f.key for f in futures}
    return {f.key for f in futures if not who.get(f.key)}


def inner_threads_by_host(client, nthreads):
    """Fair share of a host's cores for one running task there: the host's
    usable cores divided by all worker threads on that host (at least 1), so
    that tasks x inner threads never exceed the host's cores."""
    try:
        cores = client.run(usable_cores)
    except Exception:  # pragma: no cover - a worker left meanwhile
        cores = {}
    threads, host_cores = {}, {}
    for addr, nt in nthreads.items():
        host = get_address_host(addr)
        threads[host] = threads.get(host, 0) + nt
        if addr in cores:
            host_cores[host] = max(host_cores.get(host, 0), cores[addr])
    return {h: max(1, host_cores.get(h, threads[h]) // threads[h]) for h in threads}


def scatter_to(client, obj, addr, attempts=4):
    """Scatter ``obj`` to the worker at ``addr`` (None: any), or to another
    live one if that worker is gone; returns ``(future, [address] or
    None)``."""
    for attempt in range(attempts):
        target = [addr] if addr else None
        try:
            [fut] = client.scatter([obj], workers=target, hash=False)
            return fut, target
        except (OSError, KeyError):  # that worker died meanwhile
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
            alive = [a for a in worker_threads(client) if a != addr]
            addr = alive[0] if alive else None


def check_count(n, name):
    """``n`` as an int >= 1, or an error naming ``name``."""
    n = _config._check_integral(n, name)
    if n < 1:
        raise ValueError(f"{name} must be >= 1; got {n}")
    return n


def default_layout(n_workers, threads_per_worker):
    """(workers, threads each) of a local cluster: Dask's split of the
    cores by default, else the given count and ``cores // n``."""
    cores = usable_cores()
    if n_workers is None and threads_per_worker is None:
        n_workers, threads_per_worker = nprocesses_nthreads(cores)
    elif n_workers is None:
        threads_per_worker = check_count(threads_per_worker, "threads_per_worker")
        n_workers = max(1, cores // threads_per_worker)
    else:
        n_workers = check_count(n_workers, "n_workers")
        if threads_per_worker is None:
            threads_per_worker = max(1, cores // n_workers)
        threads_per_worker = check_count(threads_per_worker, "threads_per_worker")
    return n_workers, threads_per_worker


def local_client(n_workers, threads_per_worker, dashboard=False):
    """A Client that owns a new LocalCluster (closing it closes the
    cluster), once its workers are up."""
    kwargs = local_cluster_kwargs(n_workers, threads_per_worker, dashboard)
    with quiet_nanny_environ():
        client = distributed.Client(set_as_default=False, **kwargs)
    try:
        client.wait_for_workers(n_workers, timeout=_config.DASK_START_TIMEOUT)
    except BaseException:
        client.close()
        raise
    return client


@contextlib.contextmanager
def connection(client, n_workers):
    """The Client to use, and the workers (address -> nthreads) to use: the
    first ``n_workers`` of the cluster (all: None); ``client=None`` starts a
    LocalCluster of Dask's layout for the block."""
    if client is None:  # (default_layout checks n_workers)
        conn = start_local_cluster(*default_layout(n_workers, None))
    else:
        n_workers = None if n_workers is None else check_count(n_workers, "n_workers")
        conn = connect(client)
    try:
        workers = worker_threads(conn.client)
        if n_workers is not None:
            workers = dict(list(workers.items())[:n_workers])
        yield conn.client, workers
    finally:
        conn.close()


class Resubmits:
    """The one policy for tasks lost on a Dask cluster, of a map and of the
    kernel adapters alike.

    A task is lost in one of two ways:

    - it vanished: cancelled by the scheduler, its result lost with its
      worker between finishing and being fetched, or its scattered input
      lost.  It is resubmitted up to ``DASK_LOST_RESUBMITS`` times, whatever
      ``retries`` (nothing of it failed);
    - the scheduler gave up on it after workers died running it
      (``KilledWorker``): it is resubmitted up to ``retries`` times
      (None: ``DASK_KILLED_RESUBMITS``).

    Each resubmission waits ``PARALLEL_RETRY_BACKOFF_BASE * 2**n`` seconds
    (``n``: its resubmissions so far, at most 5), while the scheduler
    digests the worker's death.
    """

    def __init__(self, retries=None):
        self.retries = _config.DASK_KILLED_RESUBMITS if retries is None else retries
        self.lost = {}
        self.killed = {}

    @staticmethod
    def is_killed(exc):
        """Whether ``exc`` is the scheduler giving up on a task."""
        return isinstance(exc, distributed.KilledWorker)

    def count(self, key):
        """Resubmissions of task ``key`` so far."""
        return self.lost.get(key, 0) + self.killed.get(key, 0)

    def delay(self, key, killed):
        """Seconds to wait before resubmitting task ``key`` (``killed``: the
        scheduler gave up on it, else it vanished), or None: it is not
        resubmitted again."""
        n = self.count(key)
        counts, limit = ((self.killed, self.retries) if killed
                         else (self.lost, _config.DASK_LOST_RESUBMITS))
        if counts.get(key, 0) >= limit:
            return None
        counts[key] = counts.get(key, 0) + 1
        return _config.PARALLEL_RETRY_BACKOFF_BASE * 2 ** min(n, 5)


class Tasks:
    """Tasks on a Dask cluster followed to their end -- the one loop of
    ``pmap(backend="dask")`` and of the kernel adapters.

    A task's result is fetched as soon as it finishes (it lives on its
    worker until fetched, and is lost if that worker dies first); a task
    lost on the cluster is resubmitted, after the policy's back-off, under
    the one :class:`Resubmits` policy; every other end is handed on.

    Parameters
    ----------
    client : distributed.Client
    retries : int or None
        ``Resubmits(retries)``.
    prefix : str
        Task keys are ``{prefix}-{tid}`` (``-r{n}`` after n resubmissions).
    submit : callable
        ``submit(tid, key, again) -> Future`` submits task ``tid`` under
        ``key``.  ``again`` is False the first time, True when the task was
        lost (scattered inputs that no worker holds any more must be
        scattered again: the scheduler cannot recompute them), and
        ``"forgotten"`` when submitting raised CancelledError (the scheduler
        had forgotten scattered inputs: scatter them all again).
    done : callable
        ``done(tid, status, result, exc)``, once per task, from a Dask
        callback or timer thread: ``"finished"`` with its result,
        ``"error"`` with the exception it raised (with its traceback; a
        ``KilledWorker`` past the policy too), or ``"lost"`` past the policy
        (``exc``: the reason, or None).
    """

    def __init__(self, client, retries, prefix, submit, done):
        self.client = client
        self.policy = Resubmits(retries)
        self.closing = False
        self._prefix = prefix
        self._submit = submit
        self._done = done
        self._futures = {}
        self._lock = threading.Lock()

    def submit(self, tid, again=False):
        """Submit task ``tid`` (``again``: it was lost); submitted once more,
        with everything scattered again, if the scheduler had forgotten its
        scattered inputs."""
        n = self.policy.count(tid)
        key = f"{self._prefix}-{tid}" + (f"-r{n}" if n else "")
        try:
            fut = self._submit(tid, key, again)
        except concurrent.futures.CancelledError:
            fut = self._submit(tid, key + "-f", "forgotten")
        with self._lock:
            self._futures[tid] = fut
        if self.closing:  # closed meanwhile (a resubmission racing the end)
            return self.close()
        fut.add_done_callback(lambda f: self._on_done(tid, f))

    def _on_done(self, tid, fut):
        if self.closing or self._futures.get(tid) is not fut:
            return
        status, result, exc = fut.status, None, None
        try:
            if status == "finished":
                result = fut.result()
            elif status == "error":
                exc = fut.exception()
                exc = exc.with_traceback(fut.traceback())
            else:
                status = "lost"
        except Exception as e:  # cancelled or lost between its end and the fetch
            status, exc = "lost", e
        if self.closing:
            return
        killed = status == "error" and self.policy.is_killed(exc)
        delay = self.policy.delay(tid, killed) if status == "lost" or killed else None
        if delay is not None:
            timer = threading.Timer(delay, self._resubmit, (tid,))
            timer.daemon = True
            timer.start()
            return
        self._done(tid, status, result, exc)

    def _resubmit(self, tid):
        if self.closing:
            return
        try:
            self.submit(tid, again=True)
        except Exception as err:  # the cluster is gone: report the loss
            if not self.closing:
                self._done(tid, "lost", None, err)

    def forget(self, tid):
        """Task ``tid`` is done with: its Future (its result on the cluster)
        is let go."""
        with self._lock:
            self._futures.pop(tid, None)

    def close(self):
        """Stop following the tasks, and cancel those still on the cluster."""
        self.closing = True
        with self._lock:
            futs = list(self._futures.values())
            self._futures.clear()
        if futs and self.client.status == "running":
            with contextlib.suppress(Exception):
                self.client.cancel(futs)
