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

import contextlib
import importlib
import pickle
import queue
import signal
import threading
import time

from .. import _config
from ._errors import ParallelError, WorkerCrashedError
from ._worker import (
    SimpleCtl,
    alarm_handler,
    limit_this_thread,
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

    @classmethod
    def unpickle(cls, blob, failure, elapsed, where):
        """The Outcome of a worker's pickled report: ``blob`` the results,
        ``failure`` None or ``(pos, kind, exc_blob, tb_text, attempt)``."""
        if failure is not None:
            pos, kind, exc_blob, tb, attempt = failure
            failure = (pos, kind, None if exc_blob is None else pickle.loads(exc_blob), tb,
                       attempt)
        return cls([] if blob is None else pickle.loads(blob), failure, elapsed, where)


def _local(failure):
    """``run_items``' failure ``(pos, kind, exc, attempt)`` as an Outcome's:
    the exception is this process's, so no traceback text comes with it."""
    return None if failure is None else (*failure[:3], None, failure[3])


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


# -- serial ------------------------------------------------------------------


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
        self.run.done(chunk, Outcome(ctl.results, _local(failure), elapsed,
                                     "the caller's thread"))

    def shutdown(self, abort=False):
        if self._alarm is not None:
            self._alarm.__exit__(None, None, None)
            self._alarm = None


# -- threads -----------------------------------------------------------------


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
        if self.run.inner is not None:
            # BLAS pools are process-wide: limit them for the map's duration
            with contextlib.suppress(Exception):  # never fail a map over a limit
                self._blas = threadpool_controller().limit(limits=self.run.inner,
                                                           user_api="blas")

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
            run.done(chunk, Outcome(ctl.results, _local(failure), elapsed, where))

    def running(self, chunk):
        ctl = chunk.ctl
        started = None if ctl is None else ctl.started  # read once: a worker resets it
        return None if started is None else (ctl.pos, ctl.attempt, started)

    def on_timeout(self, chunk):
        chunk.ctl.abandoned = True
        with self._lock:
            self._n_threads -= 1
        self._spawn()
        return "abandoned"

    def shutdown(self, abort=False):
        self._cancel.set()
        # drop chunks nobody started, then tell every thread to stop
        with contextlib.suppress(queue.Empty):
            while True:
                self._q.get_nowait()
        for _ in range(self._n_threads):
            self._q.put(None)
        if self._blas is not None:
            with contextlib.suppress(Exception):  # pragma: no cover
                self._blas.restore_original_limits()
            self._blas = None


# -- registry ----------------------------------------------------------------

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
register_backend("processes", "gilfree.parallel._processes:ProcessBackend")
register_backend(
    "dask",
    "gilfree.parallel._dask:DaskBackend",
    install_hint="pip install 'gilfree[dask]'  (dask and distributed)",
)
