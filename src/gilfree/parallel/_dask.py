"""The ``dask`` backend of the parallel map, and gilfree's cluster plumbing.

A map on Dask runs the same chunks as on the other backends, each chunk as
one dask.distributed task: the caller-side scheduler of ``_api._Run`` keeps
doing input, chunk sizes, order, progress and errors; the Dask scheduler
places tasks on workers and reruns those whose worker died.

- The function is scattered to every worker once (``broadcast=True``);
  NumPy arrays of ``DASK_SCATTER_MIN_BYTES`` or more found anywhere in the
  items are scattered once too and travel in each task as a reference.  A
  scattered array is released from the cluster when the last chunk that
  uses it has finished (the function's when the map ends), so a long map
  holds only what its chunks in flight need.
- A task's exception comes back with the worker's traceback; ``retries``
  reruns a failing item inside its worker (with back-off), and also
  resubmits a chunk the scheduler gave up on after its workers died
  (``KilledWorker``); past that, :class:`WorkerCrashedError` names the
  items that were lost.
- ``client=None`` starts a LocalCluster on 127.0.0.1 (worker processes,
  dashboard off) for the map and closes it afterwards, also on errors and
  Ctrl-C; a Client or a scheduler address uses an existing cluster.

Importing this module imports ``distributed``: the backend registry loads
it lazily and turns an ImportError into an install hint.
"""

import bisect
import contextlib
import io
import itertools
import os
import pickle
import secrets
import threading
import traceback

import cloudpickle
import distributed
import numpy as np
from distributed.comm import get_address_host

from .. import _config
from ._backends import Backend, Outcome
from ._cluster import (
    Tasks,
    check_client,
    connect,
    inner_threads_by_host,
    lost_keys,
    scatter_everywhere,
    worker_threads,
)
from ._errors import (
    TaskExitError,
    WorkerCrashedError,
    add_note,
    item_repr,
    pack_exception,
    unpicklable_error,
)
from ._worker import SimpleCtl, Spec, limit_this_thread, pack_outcome, run_items

__all__ = ["DaskBackend"]


# --------------------------------------------------------------------------
# Items with large arrays by reference
# --------------------------------------------------------------------------

_tls = threading.local()


def _scattered_ref(i):
    """Worker side: the i-th scattered array of the task being unpickled."""
    return _tls.refs[i]


class _Scatterer:
    """Scatters each large array of a map once; pickles items with
    references to them.  A scattered array is released from the cluster when
    the last chunk (or the function) using it lets go (:meth:`drop`)."""

    def __init__(self, client, min_bytes):
        self.client = client
        self.min_bytes = min_bytes
        self._cache = {}  # (address, shape, strides, dtype) -> [array, future, uses]
        self._by_future = {}  # future key -> cache key
        self._lock = threading.Lock()

    def future_of(self, a):
        key = (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[1].status != "finished":
                # every worker holding it died: scatter it again
                self._forget_locked(key)
                hit = None
        if hit is None:
            fut = scatter_everywhere(self.client, a)
            with self._lock:
                hit = self._cache.get(key)
                if hit is None:
                    hit = self._cache[key] = [a, fut, 0]  # keep ``a``: its address is the key
                    self._by_future[fut.key] = key
        return hit[1]

    def dumps(self, obj):
        """``(blob, [futures])``: ``obj`` pickled, large arrays replaced by
        references to their scattered copies, each held once more until
        :meth:`drop` (or :meth:`release`)."""
        refs = []
        index = {}
        scatterer = self

        class _RefPickler(cloudpickle.Pickler):
            def reducer_override(self, o):
                if (isinstance(o, np.ndarray) and o.nbytes >= scatterer.min_bytes
                        and not o.dtype.hasobject):
                    fut = scatterer.future_of(o.view(np.ndarray))
                    i = index.get(fut.key)
                    if i is None:
                        i = index[fut.key] = len(refs)
                        refs.append(fut)
                    return _scattered_ref, (i,)
                return super().reducer_override(o)

        buf = io.BytesIO()
        _RefPickler(buf, protocol=5).dump(obj)
        with self._lock:
            for fut in refs:
                key = self._by_future.get(fut.key)
                if key is not None:
                    self._cache[key][2] += 1
        return buf.getvalue(), refs

    def drop(self, refs):
        """What held ``refs`` (a finished chunk) lets go: arrays nothing
        holds any more are released from the cluster."""
        gone = []
        with self._lock:
            for fut in refs:
                key = self._by_future.get(fut.key)
                if key is None:
                    continue
                hit = self._cache[key]
                hit[2] -= 1
                if hit[2] <= 0:
                    gone.append(hit[1])
                    self._forget_locked(key)
        self.cancel(gone)

    def _forget_locked(self, key):
        hit = self._cache.pop(key)
        self._by_future.pop(hit[1].key, None)
        hit[0] = None

    def cancel(self, futs):
        if futs and self.client.status == "running":
            with contextlib.suppress(Exception):
                self.client.cancel(futs)

    def forget(self, keys):
        """Drop cached scatters whose keys were lost (scattered anew on use)."""
        with self._lock:
            for k in [k for k, hit in self._cache.items() if hit[1].key in keys]:
                self._forget_locked(k)

    def release(self):
        with self._lock:
            futs = [hit[1] for hit in self._cache.values()]
            self._cache.clear()
            self._by_future.clear()
        self.cancel(futs)


# --------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------


_FN_CACHE = {}  # map token -> function, in a worker (the last few maps)
_FN_CACHE_SIZE = 8
_fn_cache_lock = threading.Lock()


def _load(blob, refs):
    _tls.refs = refs
    try:
        return pickle.loads(blob)
    finally:
        _tls.refs = None


def _function_of(token, fn_blob, fn_refs):
    """The map's function, unpickled once per worker and map."""
    with _fn_cache_lock:
        func = _FN_CACHE.get(token)
    if func is None:
        func = _load(fn_blob, fn_refs)
        with _fn_cache_lock:
            _FN_CACHE[token] = func
            while len(_FN_CACHE) > _FN_CACHE_SIZE:
                _FN_CACHE.pop(next(iter(_FN_CACHE)))
    return func


def run_dask_chunk(token, fn_blob, fn_refs, items_blob, refs, spec, inner_by_host,
                   base_attempt):
    """A chunk of a map in a Dask worker.  Never raises: returns
    ``(n_done, results_blob, failure, elapsed, where)`` like the process
    workers do, ``failure`` being None or ``(pos, kind, exc_blob, tb_text,
    attempt)``."""
    try:
        worker = distributed.get_worker()
        address = worker.address
    except ValueError:  # pragma: no cover - run outside a worker
        address = "?"
    where = f"dask worker {address} (pid {os.getpid()})"
    inner = spec[5]
    if inner == "auto":
        inner = inner_by_host.get(get_address_host(address), 1) if address != "?" else None
    spec = Spec(*spec[:5], inner)
    if inner and getattr(_tls, "limit", None) != inner:
        limit_this_thread(inner)  # per-thread limits (OpenMP, Numba): once per thread and value
        _tls.limit = inner
    try:
        func = _function_of(token, fn_blob, fn_refs)
        items = _load(items_blob, refs)
    except BaseException as exc:  # SystemExit from a __setstate__ too: never kill the worker
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return 0, None, (0, "setup", pack_exception(exc, tb, cloudpickle.dumps), tb, 0), 0.0, where

    # a Dask task cannot be told to stop (cancelling it does not interrupt it):
    # the chunk runs to its end, as in the serial backend; chunks are short
    ctl = SimpleCtl()
    failure, elapsed = run_items(func, items, ctl, spec, base_attempt)
    results = ctl.results
    blob, packed = pack_outcome(results, failure)
    return len(results), blob, packed, elapsed, where


class _InitializerPlugin(distributed.WorkerPlugin):
    """Runs a map's ``initializer(*initargs)`` on every worker: those
    present when the map starts and any that join during it, including a
    worker its nanny restarted after a crash (a new process, whose state
    the initializer must set up again).  Registered for the map only."""

    def __init__(self, initializer, initargs):
        self.initializer = initializer
        self.initargs = tuple(initargs)

    def setup(self, worker):
        try:
            self.initializer(*self.initargs)
        except Exception:
            raise
        except BaseException as exc:
            # SystemExit / KeyboardInterrupt would end the worker (or the
            # plugin's registration) silently: an error that says so instead
            raise TaskExitError(
                f"initializer= raised {type(exc).__name__}"
                f"({', '.join(map(item_repr, exc.args))}) on Dask worker "
                f"{getattr(worker, 'address', '?')}; no task ran there. A BaseException that "
                "is not an Exception ends the map; it is reported as this error, not "
                "re-raised, so that it is not taken for this program's own exit or Ctrl-C",
                exc_type=type(exc)) from exc


# --------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------


class DaskBackend(Backend):
    """Chunks of the map as dask.distributed tasks.

    ``n_workers`` is the number of worker processes of a LocalCluster
    gilfree starts (``client=None``; one thread each), and with an existing
    cluster the number of tasks run at once (default: all its threads).
    A task past its timeout is interrupted in its worker thread at its next
    Python bytecode (inside a C call: when the call returns; Dask cannot
    stop a task).  The initializer runs once on each worker present at the start
    of the map and on every worker that joins (or is restarted) during it:
    a WorkerPlugin registered for the map's duration.  Tasks are followed,
    and lost ones resubmitted, by the one loop of :class:`~._cluster.Tasks`.
    """

    name = "dask"
    isolated = True
    shares_memory = False
    stops_tasks = False
    soft_timeouts = False
    serial_when_single = False
    needs_pickling = False
    uses_client = True
    timeout_mode = "async"
    target_chunk_seconds = _config.PARALLEL_TARGET_CHUNK_SECONDS["dask"]

    def crash_error(self, exc, chunk, inflight):
        lost = list(range(chunk.start, chunk.start + len(chunk.items)))
        tries = self._tasks.policy.killed.get(chunk.id, 0)
        if isinstance(exc, distributed.KilledWorker):
            why = (f"the Dask workers running it died {getattr(exc, 'allowed_failures', '?')}"
                   " + 1 times and the scheduler gave up on it (KilledWorker; "
                   "distributed.scheduler.allowed-failures)")
        else:
            why = str(exc)
        again = f" after {tries} resubmission(s) (retries={self.run.retries})" if tries else ""
        first = item_repr(chunk.items[0])
        which = (f"item {lost[0]} ({first})" if len(lost) == 1
                 else f"items {lost[0]}..{lost[-1]} (first: {first})")
        err = WorkerCrashedError(
            f"the task of {which} was lost{again}: {why}. A task that "
            "crashes its worker (segfault, os._exit, out of memory) ends this way; pass "
            "retries= to resubmit lost tasks more often",
            index=lost[0] if len(lost) == 1 else None,
            candidates=lost,
        )
        err.__cause__ = exc if isinstance(exc, BaseException) else None
        return err

    check_client = staticmethod(check_client)

    def start(self):
        run = self.run
        self._conn = None
        self._scatter = None
        self._fn = None
        self._closing = False
        self._tasks = None
        self._chunks = {}
        self._token = secrets.token_hex(6)
        self._conn = connect(run.client, n_workers=self.n_workers, threads_per_worker=1)
        client = self._conn.client
        self._tasks = Tasks(client, run.retries, f"gilfree-map-{self._token}",
                            self._submit_task, self._task_done)
        nthreads = worker_threads(client)
        total = sum(nthreads.values())
        self._restrict = None
        if run.client is not None and run.n_workers_arg is None:
            self.n_workers = max(1, total)
        elif run.client is not None and self.n_workers < total:
            # n_workers of an existing cluster: the first workers with that
            # many threads (loosely: others step in if they die)
            have = list(itertools.accumulate(nthreads.values()))
            self._restrict = list(nthreads)[:bisect.bisect_left(have, self.n_workers) + 1]
        self._nthreads = nthreads
        if run.inner_arg == "auto":
            self._inner = "auto"
            self._inner_by_host = inner_threads_by_host(client, nthreads)
        else:
            self._inner = run.inner
            self._inner_by_host = {}
        spec = run.spec
        self._spec = (*spec[:4], "async" if spec[3] else None, self._inner)
        self._scatter = _Scatterer(client, _config.DASK_SCATTER_MIN_BYTES)
        self._plugin = None
        if run.initializer is not None:
            self._plugin = f"gilfree-init-{self._token}"
            try:
                client.register_plugin(_InitializerPlugin(run.initializer, run.initargs),
                                       name=self._plugin)
            except Exception as exc:
                # the map never starts, so it never shuts down: a cluster
                # started for it closes here
                self.shutdown(abort=True)
                add_note(exc, "gilfree.parallel: raised by initializer= on a Dask worker "
                              "(the 'dask' backend); no task ran")
                raise
        self._fn_lock = threading.Lock()
        try:
            self._function()
        except Exception as exc:
            self.shutdown(abort=True)
            raise _dask_unpicklable("func", run.func, exc) from None

    def _unregister_plugin(self):
        """Stop running the initializer on workers that join (after the map,
        or when it could not start)."""
        name, self._plugin = getattr(self, "_plugin", None), None
        conn = self._conn
        if name is not None and conn is not None and conn.client.status == "running":
            with contextlib.suppress(Exception):
                conn.client.unregister_worker_plugin(name)

    def _function(self):
        """``(payload, refs)`` of the function: its pickle travels inline
        with each task when small (nothing to lose when workers die), else
        it is scattered to every worker once; large arrays it references are
        scattered once either way.  Rebuilt after a loss (``self._fn =
        None``): scattered data cannot be recomputed by the scheduler."""
        with self._fn_lock:
            if self._fn is None:
                blob, refs = self._scatter.dumps(self.run.func)
                if len(blob) >= _config.DASK_SCATTER_MIN_BYTES:
                    blob = scatter_everywhere(self._conn.client, blob)
                self._fn = (blob, refs)
            return self._fn

    def _fn_futures(self):
        fn = self._fn
        if fn is None:
            return []
        payload, refs = fn
        return ([payload] if isinstance(payload, distributed.Future) else []) + list(refs)

    def describe(self):
        return f"'dask' backend with {self.n_workers} task slot(s)"

    def _dump_items(self, chunk):
        try:
            return self._scatter.dumps(chunk.items)
        except Exception as exc:
            for pos, item in enumerate(chunk.items):
                try:
                    self._scatter.dumps(item)
                except Exception as item_exc:
                    label = f"item {chunk.start + pos}"
                    raise _dask_unpicklable(label, item, item_exc) from None
            raise exc

    def submit(self, chunk):
        chunk.state = self._dump_items(chunk)
        self._chunks[chunk.id] = chunk
        self._tasks.submit(chunk.id)

    def _submit_task(self, tid, key, again):
        chunk = self._chunks[tid]
        blob, refs = chunk.state
        if again:
            # resubmitting: scattered data whose every holder died is gone for
            # good (the scheduler cannot recompute it): scatter it again
            fn_futs = self._fn_futures()
            lost = lost_keys(self._conn.client, fn_futs + list(refs))
            if again == "forgotten":
                lost |= {f.key for f in fn_futs + list(refs)}
            if lost:
                self._scatter.forget(lost)
                with self._fn_lock:
                    if any(f.key in lost for f in fn_futs):
                        self._fn = None
                if any(r.key in lost for r in refs):
                    old = refs
                    blob, refs = chunk.state = self._dump_items(chunk)
                    self._scatter.drop(old)
        fn_blob, fn_refs = self._function()
        return self._conn.client.submit(
            run_dask_chunk, self._token, fn_blob, fn_refs, blob, refs, self._spec,
            self._inner_by_host, chunk.base_attempt, key=key, pure=False,
            workers=self._restrict, allow_other_workers=self._restrict is not None,
        )

    def _task_done(self, tid, status, result, exc):
        chunk = self._chunks.get(tid)
        if chunk is not None and not self._closing:
            self.run.done(chunk, (status, result, exc))

    def outcome(self, chunk, raw):
        status, result, exc = raw
        if status == "lost":
            if self._closing:
                return Outcome(cancelled=True)
            lost = self._tasks.policy.lost.get(chunk.id, 0)
            return Outcome(crash=_LostChunk(f"its task was cancelled or its result lost {lost} "
                                            f"times ({exc or 'no reason given'})"))
        if status == "error":
            if isinstance(exc, distributed.KilledWorker):
                return Outcome(crash=exc)
            return Outcome([], (0, "setup", exc, None, 0), 0.0, "a dask worker")
        n, blob, failure, elapsed, where = result
        return Outcome.unpickle(blob, failure, elapsed, where)

    def release(self, chunk):
        """The chunk is done: its task's future and the arrays scattered for
        it alone are released from the cluster."""
        self._tasks.forget(chunk.id)
        self._chunks.pop(chunk.id, None)
        state, chunk.state = chunk.state, None
        if state is not None and self._scatter is not None:
            self._scatter.drop(state[1])

    def shutdown(self, abort=False):
        self._closing = True
        conn = self._conn
        if conn is None:
            return
        if self._tasks is not None:
            self._tasks.close()
        if self._scatter is not None:  # (else there is no function either)
            self._scatter.release()
            self._scatter.cancel(self._fn_futures())
        self._fn = None
        self._unregister_plugin()
        conn.close(abort=abort)
        self._conn = None


class _LostChunk(Exception):
    """A chunk whose task vanished (cancelled by someone else, or its
    scattered input lost with its worker)."""


def _dask_unpicklable(label, obj, exc):
    """The processes backend's 'cannot be pickled' error, worded for Dask."""
    err = unpicklable_error(label, obj, cloudpickle.dumps, label, exc)
    return TypeError(str(err).replace("process workers", "Dask workers"))

