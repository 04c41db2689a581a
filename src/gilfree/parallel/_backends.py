"""Backends of the parallel map: a registry of small classes.

A backend runs *chunks* (consecutive input items) and reports each chunk's
*outcome* through ``run.done(chunk, raw)`` from any thread; the caller-side
scheduler (``_api._Run``) does everything else (input, chunk sizes,
ordering, progress, retries of abandoned tasks, errors).  Capability flags
tell the scheduler what a backend can do:

``isolated``
    Tasks run in other processes: a crash is survivable and reported,
    arguments and results are pickled.
``shares_memory``
    Tasks see the caller's objects directly (no pickling).
``stops_tasks``
    A task past its timeout is really stopped (its worker process is
    killed); otherwise it is abandoned and its result ignored.
``soft_timeouts``
    A task past its timeout is first interrupted inside its worker (Python
    code), and only stopped ``PARALLEL_TIMEOUT_GRACE`` seconds later.
``serial_when_single``
    ``n_workers=1`` runs serially in the caller instead.

Third-party backends register with :func:`register_backend`, either a class
or a ``"module:Class"`` string imported on first use, with an install hint
shown when the import fails (as joblib's external backends do).
"""

import concurrent.futures
import importlib
import os
import queue
import secrets
import signal
import threading
import time
import warnings
from concurrent.futures.process import BrokenProcessPool

from .. import _config
from . import _compat
from ._errors import ParallelError, TaskKilled, WorkerCrashedError, describe_exitcode
from ._worker import (
    THREAD_ENV_VARS,
    SimpleCtl,
    alarm_handler,
    limit_this_thread,
    process_chunk,
    process_init,
    run_items,
    threadpool_controller,
)

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "Chunk",
    "Outcome",
    "available_backends",
    "get_backend",
    "register_backend",
]


class BackendUnavailableError(ParallelError):
    """A registered backend whose package is not installed."""


class Chunk:
    """Consecutive input items ``items``; the first is input item ``start``."""

    __slots__ = ("id", "start", "items", "base_attempt", "slot", "ctl", "future", "state")

    def __init__(self, id, start, items, base_attempt=0):
        self.id = id
        self.start = start
        self.items = items
        self.base_attempt = base_attempt
        self.slot = None
        self.ctl = None
        self.future = None
        self.state = None  # backend-specific


class Outcome:
    """What came back from a chunk.

    ``results`` holds the first ``len(results)`` items' results;
    ``failure`` is None or ``(pos, kind, exc, tb_text, attempt)`` with kind
    ``"error"``, ``"timeout"``, ``"init"`` (the initializer failed) or
    ``"setup"`` (the worker could not even start the chunk); ``crash`` is
    the exception of a broken process pool; ``cancelled`` means the chunk
    did not run because the map was stopping.
    """

    __slots__ = ("results", "failure", "elapsed", "where", "crash", "cancelled")

    def __init__(self, results=(), failure=None, elapsed=0.0, where=None, crash=None,
                 cancelled=False):
        self.results = results
        self.failure = failure
        self.elapsed = elapsed
        self.where = where
        self.crash = crash
        self.cancelled = cancelled


class Backend:
    """Base class of the backends.

    Parameters
    ----------
    n_workers : int
        Worker count (>= 1).
    run : object
        The map being run; backends use ``run.func``, ``run.spec`` (a
        :class:`~gilfree.parallel._worker.Spec`), ``run.initializer``,
        ``run.initargs``, ``run.inner`` (inner thread limit or None),
        ``run.max_inflight``, ``run.segments`` and ``run.fn_blob`` (for
        pickling backends), and report with ``run.done(chunk, raw)``.

    Notes
    -----
    A subclass must implement :meth:`start`, :meth:`submit` and
    :meth:`shutdown`; the others have safe defaults.  A backend that runs
    chunks elsewhere (e.g. on a Dask cluster) can run there::

        ctl = _worker.SimpleCtl()
        failure, elapsed = _worker.run_items(func, chunk.items, ctl, spec,
                                             chunk.base_attempt)

    (``failure`` is None or ``(pos, kind, exc, attempt)``) and report
    ``Outcome(ctl.results, (pos, kind, exc, tb_text, attempt), elapsed,
    where)`` back with ``run.done(chunk, outcome)``: retries, back-off and
    the inner-thread limit then behave as on the built-in backends.
    """

    name = "base"
    isolated = False
    shares_memory = True
    stops_tasks = False
    soft_timeouts = False
    serial_when_single = True
    #: the backend runs pickled tasks (the scheduler pickles the function
    #: once, sharing large arrays, before the map starts)
    needs_pickling = False
    #: target duration of one chunk, seconds (auto chunking)
    target_chunk_seconds = 0.01
    #: timeout mode of the worker loop ("alarm", "posthoc" or None)
    timeout_mode = None

    def __init__(self, n_workers, run):
        self.n_workers = n_workers
        self.run = run

    def describe(self):
        return f"{self.name!r} backend with {self.n_workers} worker(s)"

    def start(self):
        raise NotImplementedError

    def submit(self, chunk):
        raise NotImplementedError

    def outcome(self, chunk, raw):
        """Turn what a worker reported into an :class:`Outcome` (caller thread)."""
        return raw

    def release(self, chunk):
        """The scheduler is done with ``chunk``."""

    def running(self, chunk):
        """``(pos, attempt, started)`` of the task ``chunk`` is running now
        (``started`` on :func:`time.monotonic`), or None."""
        return None

    def on_timeout(self, chunk):
        """Stop or abandon the running task of ``chunk``: returns
        ``"abandoned"`` (the map goes on without it), ``"killed"`` (a crash
        outcome follows) or None (cannot; the scheduler raises)."""
        return None

    def crash_error(self, exc, chunk, inflight):
        return WorkerCrashedError(
            f"a worker of the {self.name!r} backend died while running the chunk starting "
            f"at item {chunk.start}: {exc}",
            index=None,
            candidates=[chunk.start],
        )

    def shutdown(self, abort=False):
        raise NotImplementedError


# --------------------------------------------------------------------------
# serial
# --------------------------------------------------------------------------


class SerialBackend(Backend):
    """Runs every chunk in the caller, one after the other."""

    name = "serial"
    target_chunk_seconds = _config.PARALLEL_TARGET_CHUNK_SECONDS["serial"]

    def __init__(self, n_workers, run):
        super().__init__(1, run)
        in_main = threading.current_thread() is threading.main_thread()
        self.timeout_mode = "alarm" if in_main and hasattr(signal, "setitimer") else "posthoc"
        self._alarm = None

    def start(self):
        if self.run.spec[3] is not None and self.timeout_mode == "alarm":
            self._alarm = alarm_handler().__enter__()
        if self.run.initializer is not None:
            try:
                self.run.initializer(*self.run.initargs)
            except Exception:
                raise
            except BaseException as exc:  # SystemExit & co.: say where it came from
                err = self.run.init_exit_error(exc, "the caller's thread")
                if err is exc:
                    raise
                raise err from exc

    def submit(self, chunk):
        ctl = SimpleCtl()
        failure, elapsed = run_items(self.run.func, chunk.items, ctl, self.run.spec,
                                     chunk.base_attempt)
        if failure is not None:
            pos, kind, exc, attempt = failure
            failure = (pos, kind, exc, None, attempt)
        self.run.done(chunk, Outcome(ctl.results, failure, elapsed, "the caller's thread"))

    def shutdown(self, abort=False):
        if self._alarm is not None:
            self._alarm.__exit__(None, None, None)
            self._alarm = None


# --------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------


class _ThreadCtl:
    __slots__ = ("results", "pos", "attempt", "started", "abandoned", "cancel")

    def __init__(self, cancel):
        self.results = []
        self.pos = 0
        self.attempt = 0
        self.started = None
        self.abandoned = False
        self.cancel = cancel

    def begin(self, pos, attempt):
        self.pos = pos
        self.attempt = attempt
        self.started = time.monotonic()

    def end(self):
        self.started = None

    def cancelled(self):
        return self.abandoned or self.cancel.is_set()

    def sleep(self, seconds):
        return not self.cancel.wait(seconds) and not self.abandoned


class ThreadBackend(Backend):
    """Daemon worker threads of this process.

    For GIL-free kernels (gilfree's, NumPy's large operations) and I/O.  A
    task past its timeout cannot be stopped: it is abandoned (its thread is
    replaced and its result ignored) and the map goes on or fails.
    """

    name = "threads"
    target_chunk_seconds = _config.PARALLEL_TARGET_CHUNK_SECONDS["threads"]

    def start(self):
        self._q = queue.SimpleQueue()
        self._cancel = threading.Event()
        self._n_threads = 0
        self._lock = threading.Lock()
        self._blas = None
        inner = self.run.inner
        if inner is not None:
            try:
                # BLAS pools are process-wide: limit them for the map's duration
                self._blas = threadpool_controller().limit(limits=inner, user_api="blas")
            except Exception:  # pragma: no cover - never fail a map over a limit
                self._blas = None

    def _spawn(self):
        with self._lock:
            self._n_threads += 1
            n = self._n_threads
        t = threading.Thread(target=self._loop, name=f"gilfree-worker-{n}", daemon=True)
        t.start()

    def submit(self, chunk):
        chunk.ctl = _ThreadCtl(self._cancel)
        self._q.put(chunk)
        if self._n_threads < self.n_workers:
            self._spawn()

    def _loop(self):
        run = self.run
        init_failure = None
        if run.inner is not None:
            limit_this_thread(run.inner)
        if run.initializer is not None:
            try:
                run.initializer(*run.initargs)
            except BaseException as exc:  # SystemExit too: reported, never a silent exit
                init_failure = exc
        where = f"worker thread {threading.current_thread().name}"
        while True:
            chunk = self._q.get()
            if chunk is None:
                return
            ctl = chunk.ctl
            if init_failure is not None:
                run.done(chunk, Outcome([], (0, "init", init_failure, None, 0), 0.0, where))
                continue
            try:
                failure, elapsed = run_items(run.func, chunk.items, ctl, run.spec,
                                             chunk.base_attempt)
            except BaseException as exc:  # SystemExit & co. must not kill the thread silently
                failure, elapsed = (len(ctl.results), "error", exc, 0), 0.0
            if ctl.abandoned:
                return  # the scheduler replaced this thread
            if failure is not None:
                pos, kind, exc, attempt = failure
                failure = (pos, kind, exc, None, attempt)
            run.done(chunk, Outcome(ctl.results, failure, elapsed, where))

    def running(self, chunk):
        ctl = chunk.ctl
        if ctl is None:
            return None
        started = ctl.started
        if started is None:
            return None
        return ctl.pos, ctl.attempt, started

    def on_timeout(self, chunk):
        chunk.ctl.abandoned = True
        with self._lock:
            self._n_threads -= 1
        self._spawn()
        return "abandoned"

    def shutdown(self, abort=False):
        self._cancel.set()
        # drop chunks nobody started, then tell every thread to stop
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        for _ in range(self._n_threads):
            self._q.put(None)
        if self._blas is not None:
            try:
                self._blas.restore_original_limits()
            except Exception:  # pragma: no cover
                pass
            self._blas = None


# --------------------------------------------------------------------------
# processes (loky)
# --------------------------------------------------------------------------

def _worker_env(inner):
    env = {}
    if inner is not None:
        env = {var: str(inner) for var in THREAD_ENV_VARS}
    # loky recycles a worker whose RSS grew by 300 MB, counting the pages of
    # shared arrays it read as a leak: leave that to the user's setting.
    env["LOKY_MAX_MEMORY_LEAK_SIZE"] = os.environ.get("LOKY_MAX_MEMORY_LEAK_SIZE", "1e18")
    return env


class _Pool:
    """A loky executor and the number of maps using it."""

    __slots__ = ("ex", "key", "users", "shared")

    def __init__(self, ex, key, shared):
        self.ex = ex
        self.key = key
        self.users = 1
        self.shared = shared


_pool_lock = threading.Lock()
#: the process pool maps of this process share (whatever thread they run
#: in: loky's own reusable executor is one per thread)
_shared_pool = None


def _acquire_pool(key, make):
    """The shared pool if it fits ``key`` (worker count, initializer, inner
    threads), else a new one: it becomes the shared pool if the old one is
    idle (which is shut down), else it is this map's alone."""
    global _shared_pool
    old = None
    with _pool_lock:
        p = _shared_pool
        if p is not None and p.key == key and _compat.executor_usable(p.ex):
            p.users += 1
            return p
        if p is not None and (p.users == 0 or not _compat.executor_usable(p.ex)):
            old, _shared_pool = p, None
        new = _Pool(make(), key, shared=_shared_pool is None)
        if new.shared:
            _shared_pool = new
    if old is not None:
        _shutdown_executor(old.ex, kill=not _compat.executor_usable(old.ex))
    return new


def _release_pool(p, kill=False):
    """A map is done with pool ``p``: a pool of its own is shut down."""
    global _shared_pool
    with _pool_lock:
        p.users -= 1
        drop = not p.shared and p.users <= 0
        if kill and p.shared and _shared_pool is p:
            _shared_pool = None  # its workers are killed: the next map starts a new one
            p.shared = False
            drop = p.users <= 0
    if drop or kill:
        _shutdown_executor(p.ex, kill=kill)


def _shutdown_executor(ex, kill):
    try:
        ex.shutdown(wait=not kill, kill_workers=kill)
    except Exception:  # pragma: no cover - already broken or gone
        pass


def _pools_at_exit():
    """When this process exits: close the maps still open (an imap never
    exhausted nor closed) and shut the pool down, killing its workers if
    they still run tasks (of a map closed by `break` whose task goes on),
    so that exiting never waits for them."""
    global _shared_pool
    from ._api import close_active_maps

    close_active_maps()
    with _pool_lock:
        p, _shared_pool = _shared_pool, None
    if p is not None:
        _shutdown_executor(p.ex, kill=_compat.executor_busy(p.ex))


def _forget_pools_after_fork():
    # a forked child must not use (or shut down) its parent's pool
    global _shared_pool, _pool_lock
    _shared_pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_after_fork)


class ProcessBackend(Backend):
    """Worker processes of a loky executor shared by the maps of this process.

    Functions and arguments travel with cloudpickle (lambdas and closures
    work); NumPy arrays of 1 MiB or more and :func:`shared` arrays travel
    through shared memory.  Workers are started by loky (a fresh
    interpreter, never a fork of this process), with the inner thread
    limits in their environment before they import anything, and ignore
    SIGINT: the caller handles Ctrl-C by killing them.  A worker that dies
    gives a :class:`WorkerCrashedError` naming the item it was running; a
    task past its timeout is interrupted inside its worker, and killed with
    its worker process if it does not stop (loky replaces that worker; the
    others go on).
    """

    name = "processes"
    isolated = True
    shares_memory = False
    stops_tasks = True
    soft_timeouts = True
    needs_pickling = True
    timeout_mode = "alarm"
    target_chunk_seconds = _config.PARALLEL_TARGET_CHUNK_SECONDS["processes"]

    def start(self):
        import pickle

        run = self.run
        init_blob = None
        if run.initializer is not None:
            import cloudpickle

            init_blob = cloudpickle.dumps((run.initializer, tuple(run.initargs)))
        self._init_blob = init_blob
        self._procs = {}
        self._killed = {}
        self._retired = set()  # chunks whose worker was killed alone
        self._launch_lock = threading.Lock()
        self._closing = False
        self._token = secrets.token_hex(8)
        n_slots = max(1, run.max_inflight)
        self._free = list(range(n_slots - 1, -1, -1))
        seg = run.segments.new_buffer(8 * (1 + 4 * n_slots), "the map's control board")
        self._board_ref = seg.ref
        self._board = memoryview(seg.mm).cast("q")
        blob = run.fn_blob
        if len(blob) >= _config.PARALLEL_SHARE_MIN_BYTES:
            fseg = run.segments.new_buffer(len(blob), "the pickled function")
            fseg.write_bytes(blob)
            self._fn_ref = ("buf", (fseg.ref, len(blob)))
        else:
            self._fn_ref = ("bytes", blob)
        self._pickle = pickle
        self._pool = None
        self._get_executor()

    def _get_executor(self):
        from loky import ProcessPoolExecutor

        run = self.run
        env = _worker_env(run.inner)
        key = (self.n_workers, self._init_blob, run.inner, tuple(sorted(env.items())))

        def make():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ProcessPoolExecutor(
                    max_workers=self.n_workers,
                    timeout=_config.PARALLEL_WORKER_IDLE_TIMEOUT,
                    initializer=process_init,
                    initargs=(self._init_blob, run.inner, os.getpid()),
                    env=env,
                )

        self._pool = _acquire_pool(key, make)
        self._ex = self._pool.ex

    def restart(self):
        """After a worker died and broke loky's pool (loky cannot replace a
        single dead worker): a new pool for the chunks resubmitted."""
        self._killed = {}
        self._retired = set()
        old, self._pool = self._pool, None
        if old is not None:
            _release_pool(old, kill=True)
        self._get_executor()

    def _snapshot_processes(self):
        procs = getattr(self._ex, "_processes", None)
        if procs:
            try:
                self._procs.update(procs)
            except RuntimeError:  # pragma: no cover - changed during iteration
                pass

    def submit(self, chunk):
        run = self.run
        items_blob, entries = run.dump_items(chunk)
        chunk.state = [entries, ()]  # shared arrays it uses; buffers a worker kept
        slot = self._free.pop()
        chunk.slot = slot
        b = 1 + 4 * slot
        self._board[b : b + 4] = memoryview(bytes(32)).cast("q")
        args = (process_chunk, self._token, self._board_ref, self._fn_ref, slot, items_blob,
                run.spec, chunk.base_attempt)
        self._launch(chunk, args)

    def _launch(self, chunk, args):
        """Hand the chunk to loky."""
        from functools import partial

        done = self.run.done
        with self._launch_lock:
            if self._closing:
                fut = concurrent.futures.Future()
                fut.cancel()
            else:
                try:
                    fut = self._ex.submit(*args)
                except BrokenProcessPool as exc:
                    # a worker died after the previous chunk was handed out,
                    # before its own chunk reported it: this chunk is lost
                    # with the pool and reports the crash as those chunks do
                    fut = concurrent.futures.Future()
                    fut.set_exception(exc)
            chunk.future = fut
        _compat.register_exit_hook(_pools_at_exit)
        self._snapshot_processes()
        fut.add_done_callback(partial(_forward, done, chunk))

    def outcome(self, chunk, fut):
        try:
            exc = fut.exception()
        except concurrent.futures.CancelledError:
            return Outcome(cancelled=True)
        if exc is not None:
            if isinstance(exc, (BrokenProcessPool, TaskKilled)):
                return Outcome(crash=exc)
            cls = type(exc).__name__
            if cls == "ShutdownExecutorError":
                return Outcome(cancelled=True)
            return Outcome([], (0, "setup", exc, None, 0), 0.0, "a worker process")
        n, blob, failure, elapsed, pid, retained = fut.result()
        if chunk.state is not None:
            chunk.state[1] = retained
        if n < 0:
            return Outcome(cancelled=True)
        loads = self._pickle.loads
        results = loads(blob) if blob is not None else []
        if failure is not None:
            pos, kind, exc_blob, tb, attempt = failure
            exc = loads(exc_blob) if exc_blob is not None else None
            failure = (pos, kind, exc, tb, attempt)
        return Outcome(results, failure, elapsed, f"worker process {pid}")

    def release(self, chunk):
        """The scheduler is done with ``chunk`` (it reported, or was lost
        with its worker): the buffers only it used are reused or freed."""
        fut, chunk.future = chunk.future, None  # (the future's callback refers to the chunk)
        if fut is not None and not fut.done():
            fut.cancel()
        state, chunk.state = chunk.state, None
        if state is not None:
            entries, retained = state
            self.run.segments.release(entries, retained)
        if chunk.slot is not None:
            self._free.append(chunk.slot)
            chunk.slot = None

    def _slot(self, chunk):
        if chunk.slot is None:
            return None
        b = 1 + 4 * chunk.slot
        board = self._board
        started = board[b + 2]
        pid, pos, attempt = board[b], board[b + 1], board[b + 3]
        if not started or board[b + 2] != started:
            return None
        return pid, pos, attempt, started

    def running(self, chunk):
        s = self._slot(chunk)
        if s is None:
            return None
        pid, pos, attempt, started = s
        return pos, attempt, started / 1e9

    def on_timeout(self, chunk):
        s = self._slot(chunk)
        if s is None:
            return None
        pid, pos, attempt, started = s
        if chunk.id in self._killed:
            return "killed"
        retired = self._retire_worker(chunk, pid, started)
        if retired:
            return retired
        self._killed[chunk.id] = (chunk, pos, attempt)
        try:
            os.kill(pid, signal.SIGKILL)  # loky's pool breaks: crash_error tells
        except ProcessLookupError:
            pass
        return "killed"

    def _retire_worker(self, chunk, pid, started):
        """Kill the worker running ``chunk``'s task without breaking loky's
        pool (see :func:`_compat.retire_worker`).  Returns "killed",
        "finished" (the task ended meanwhile) or None (the caller kills the
        worker and the pool breaks)."""

        def still_in_task():
            s = self._slot(chunk)
            return s is not None and s[0] == pid and s[3] == started

        def mark():
            s = self._slot(chunk)
            self._killed[chunk.id] = (chunk, s[1], s[2])
            self._retired.add(chunk.id)

        def unmark():
            self._retired.discard(chunk.id)
            self._killed.pop(chunk.id, None)

        return _compat.retire_worker(self._ex, pid, chunk.future, still_in_task, mark, unmark,
                                     TaskKilled(pid))

    def crash_error(self, exc, chunk, inflight):
        """The error for a broken pool; ``err.culprit`` is ``(chunk, pos,
        attempt)`` of the task that broke it, when known."""
        if isinstance(exc, TaskKilled) and chunk.id in self._retired:
            self._retired.discard(chunk.id)
            ch, pos, attempt = self._killed.pop(chunk.id)
            err = self.run.timeout_error(ch, pos, attempt, killed="alone")
            err.culprit = (ch, pos, attempt)
            err.pool_intact = True
            return err
        if self._killed:
            ch, pos, attempt = next(iter(self._killed.values()))
            err = self.run.timeout_error(ch, pos, attempt, killed=True)
            err.__cause__ = exc
            err.culprit = (ch, pos, attempt)
            return err
        running = []
        attempts = {}
        for ch in inflight:
            s = self._slot(ch)
            if s is not None:
                running.append((ch, s[1], s[0]))
                attempts[ch.id] = s[2]
        codes = {}
        for _, _, pid in running:
            p = self._procs.get(pid)
            code = None
            if p is not None:
                for _ in range(20):  # the exit code can lag the broken pipe
                    code = p.exitcode
                    if code is not None:
                        break
                    time.sleep(0.01)
            codes[pid] = code
        culprits = [r for r in running if codes.get(r[2]) not in (None, -signal.SIGKILL)]
        if len(culprits) != 1:
            culprits = running if len(running) == 1 else []
        candidates = sorted(ch.start + pos for ch, pos, _ in running)
        if culprits:
            ch, pos, pid = culprits[0]
            index = ch.start + pos
            from ._errors import item_repr

            err = WorkerCrashedError(
                f"the worker process (pid {pid}) running the task of item {index} "
                f"({item_repr(ch.items[pos])}) died: {describe_exitcode(codes.get(pid))}. "
                "A segmentation fault, os._exit() or the out-of-memory killer ends a worker "
                "this way; the pool will be restarted for the next map",
                index=index, candidates=candidates, exitcode=codes.get(pid),
            )
            err.culprit = (ch, pos, attempts.get(ch.id, 0))
        else:
            which = (
                f"items {candidates} were running" if candidates
                else "no task was running (the worker died between tasks)"
            )
            err = WorkerCrashedError(
                f"a worker process died and the item responsible could not be singled out: "
                f"{which}. The pool will be restarted for the next map",
                candidates=candidates,
            )
        err.__cause__ = exc
        return err

    def shutdown(self, abort=False):
        board = getattr(self, "_board", None)
        if board is not None:
            board[0] = 1  # workers stop between items; their caches let go
        for_cancel = getattr(self.run, "inflight_chunks", lambda: [])()
        lock = getattr(self, "_launch_lock", None)
        if lock is not None:
            with lock:  # no chunk is handed to loky from now on
                self._closing = True
        for ch in for_cancel:
            fut, ch.future = ch.future, None
            if fut is not None:
                fut.cancel()
        if abort:
            self._snapshot_processes()
            for p in list(self._procs.values()):
                try:
                    if p.exitcode is None:
                        p.kill()
                except Exception:  # pragma: no cover - already gone
                    pass
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is not None:
            _release_pool(pool, kill=abort)
        if board is not None:
            board.release()
            self._board = None


def _forward(done, chunk, fut):
    done(chunk, fut)


# --------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------

_REGISTRY = {}


def register_backend(name, factory, *, install_hint=None, replace=False):
    """Make a backend available as ``backend=name``.

    Parameters
    ----------
    name : str
        The name users pass as ``backend=``.
    factory : type or str
        A :class:`Backend` subclass, or ``"package.module:ClassName"``
        imported on first use (so that an optional dependency is only
        imported when asked for).
    install_hint : str, optional
        Shown when importing the factory fails, e.g.
        ``"pip install 'dask[distributed]'"``.
    replace : bool
        Allow replacing an existing registration.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"backend name must be a non-empty string; got {name!r}")
    if not (isinstance(factory, str) or callable(factory)):
        raise TypeError(
            f"factory must be a Backend subclass or a 'module:Class' string; got {factory!r}"
        )
    if name in _REGISTRY and not replace:
        raise ValueError(f"backend {name!r} is already registered (pass replace=True)")
    _REGISTRY[name] = {"factory": factory, "hint": install_hint}


def available_backends():
    """Names of the registered backends."""
    return sorted(_REGISTRY)


def get_backend(name):
    """The Backend class registered as ``name`` (imported if lazy)."""
    try:
        entry = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"backend must be one of {', '.join(map(repr, available_backends()))}; "
            f"got {name!r}"
        ) from None
    factory = entry["factory"]
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except ImportError as exc:
            hint = entry["hint"]
            raise BackendUnavailableError(
                f"backend {name!r} could not be loaded ({exc})"
                + (f"; install it with: {hint}" if hint else "")
            ) from exc
        entry["factory"] = factory
    return factory


register_backend("serial", SerialBackend)
register_backend("threads", ThreadBackend)
register_backend("processes", ProcessBackend)
register_backend(
    "dask",
    "gilfree.parallel._dask:DaskBackend",
    install_hint="pip install 'gilfree[dask]'  (dask and distributed)",
)
