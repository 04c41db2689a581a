"""``pmap`` and ``imap``: one call for serial, threads and processes.

The caller's thread runs a small scheduler: it pulls the input lazily,
batches it into chunks sized from measured task times, keeps a bounded
number of chunks in flight, yields results in input order (or as they
complete), updates progress, watches timeouts, and on the first failure
stops everything and re-raises the task's exception with the worker's
traceback and the item's index.
"""

import heapq
import inspect
import itertools
import os
import queue
import threading
import time
import weakref

from .. import _config
from ._ahead import _SIGINT, _Ahead, _Input
from ._auto import with_auto
from ._backends import Chunk, get_backend
from ._checks import (
    _Batcher,
    _check_chunksize,
    _check_initializer,
    _check_inner,
    _check_iterable,
    _check_ordered,
    _check_prefetch,
    _check_progress,
    _check_retries,
    _check_timeout,
    _length,
    _max_buffers,
    _type_error,
    resolve_n_workers,
)
from ._docs import _PARAMS_DOC, _RAISES_DOC
from ._errors import (
    ParallelError,
    RemoteTraceback,
    TaskExitError,
    TaskTimeoutError,
    add_note,
    annotate,
    item_repr,
)
from ._pool import set_exit_callback
from ._progress import make_progress
from ._shared import require_transport
from ._worker import Spec, backoff_delay

__all__ = ["imap", "pmap"]


# -- One map -----------------------------------------------------------------


class _Failures:
    """How a map's failures are worded and recovered from: a task past its
    timeout, an exception or an exit inside a task, a lost worker."""

    def timeout_error(self, chunk, pos, attempt, killed=False):
        index = chunk.start + pos
        mode = self.spec[4]
        if killed == "alone":
            how = "it was killed with its worker process (loky starts a new one in its place)"
        elif killed:
            how = "it was killed with its worker process (the pool restarts for the next map)"
        elif mode == "alarm":
            how = "it was interrupted"
        elif mode == "async":
            how = ("it was interrupted in its worker thread (a task inside a C call is "
                   "interrupted when the call returns)")
        elif mode == "posthoc":
            how = ("its result was discarded (outside the main thread a serial task cannot be "
                   "interrupted)")
        elif self.backend.name == "threads":
            how = "its thread was abandoned (a thread cannot be stopped; its result is ignored)"
        else:
            how = "it was abandoned"
        tries = f" on each of {attempt + 1} attempts" if attempt else ""
        return TaskTimeoutError(
            f"the task of item {index} ({item_repr(chunk.items[pos])}) ran longer than "
            f"timeout={self.timeout:g} s{tries} on the {self.backend.name!r} backend; {how}",
            index=index, timeout=self.timeout,
        )

    def _failure_error(self, chunk, outcome):
        pos, kind, exc, tb, attempt = outcome.failure
        index = chunk.start + pos
        backend = self.backend.name
        if kind == "timeout":
            return self.timeout_error(chunk, pos, attempt)
        if exc is not None and not isinstance(exc, Exception):
            if self._own_interrupt(exc):
                return exc  # the user's Ctrl-C, landing in a task run in this thread
            return self._exit_error(chunk, pos, kind, exc, tb, outcome.where)
        if kind == "init":
            add_note(exc, f"gilfree.parallel: raised by initializer= in {outcome.where} "
                          f"(the {backend!r} backend); no task ran there")
            if tb is not None:
                exc.__cause__ = RemoteTraceback(tb)
            return exc
        if kind == "setup":
            add_note(exc, f"gilfree.parallel: a worker of the {backend!r} backend could not "
                          f"start the chunk of items {chunk.start}..."
                          f"{chunk.start + len(chunk.items) - 1} (loading its shared memory, "
                          "the function or its arguments failed there)")
            if tb is not None and exc.__cause__ is None:
                exc.__cause__ = RemoteTraceback(tb)
            return exc
        annotate(exc, index, chunk.items[pos], backend, outcome.where, tb)
        if attempt:
            add_note(exc, f"gilfree.parallel: failed on all {attempt + 1} attempts "
                          f"(retries={self.retries})")
        return exc

    def _own_interrupt(self, exc):
        """Whether a KeyboardInterrupt from a task is the user's Ctrl-C: only
        a task run in the caller's main thread (``serial``) can receive it,
        and only if a SIGINT arrived since the map started (or, when gilfree
        could not watch SIGINT, always)."""
        if not isinstance(exc, KeyboardInterrupt) or self.backend.name != "serial":
            return False
        if threading.current_thread() is not threading.main_thread():
            return False
        if not self._watching_sigint:
            return True
        return _SIGINT.count != self._sigints_at_start

    def init_exit_error(self, exc, where):
        """The error for a BaseException (not an Exception) that the
        initializer raised in this process (``exc`` itself for Ctrl-C)."""
        if self._own_interrupt(exc):
            return exc
        return self._exit_error(None, 0, "init", exc, None, where)

    def _exit_error(self, chunk, pos, kind, exc, tb, where):
        """A BaseException that is not an Exception (SystemExit,
        KeyboardInterrupt, GeneratorExit...) from user code in a worker: the
        map ends with an error that says so (re-raising it as such would
        pass for this program's own exit or Ctrl-C)."""
        backend = self.backend.name
        what = f"{type(exc).__name__}({', '.join(map(item_repr, exc.args))})"
        if kind == "init":
            msg = (f"initializer= raised {what} in {where} (the {backend!r} backend); no task "
                   "ran there")
            index = None
        elif kind == "setup":
            msg = (f"loading the chunk of items {chunk.start}..."
                   f"{chunk.start + len(chunk.items) - 1} raised {what} in {where} (the "
                   f"{backend!r} backend)")
            index = None
        else:
            index = chunk.start + pos
            msg = (f"the task of item {index} ({item_repr(chunk.items[pos])}) raised {what} "
                   f"on the {backend!r} backend in {where}")
        err = TaskExitError(
            msg + ". A BaseException that is not an Exception ends the map; it is reported as "
            "this error, not re-raised, so that it is not taken for this program's own exit "
            "or Ctrl-C (the original is the __cause__)", index=index, exc_type=type(exc))
        if tb is not None and exc.__cause__ is None:
            exc.__cause__ = RemoteTraceback(tb)
        err.__cause__ = exc
        return err

    def _recover(self, culprit, pos, attempt, pool_intact=False):
        """A worker died (or was killed past its timeout) running task
        ``pos`` of chunk ``culprit``, and that task has retries left: the
        task is retried after its back-off, the chunk's other tasks run
        again.  If the pool broke, every other chunk lost with it runs again
        from its start on a new pool (their results never came back, so
        their tasks may run twice); ``pool_intact``: the other chunks go on."""
        if pool_intact:
            lost = [culprit]
            del self.inflight[culprit.id]
        else:
            lost = sorted(self.inflight.values(), key=lambda c: c.start)
            self.inflight.clear()
        for c in lost:
            self._drop(c)
        if not pool_intact:
            self.backend.restart()
        now = time.monotonic()
        for c in lost:
            if c is culprit:
                index = c.start + pos
                retry = self._new_chunk(index, [c.items[pos]], attempt + 1)
                due = now + backoff_delay(attempt, self.spec[1], self.spec[2])
                heapq.heappush(self.retry_heap, (due, retry.id, retry))
                parts = [(c.start, c.items[:pos], c.base_attempt),
                         (index + 1, c.items[pos + 1 :], 0)]
            else:
                parts = [(c.start, c.items, c.base_attempt)]
            for start, items, base in parts:
                if items:
                    again = self._new_chunk(start, items, base)
                    heapq.heappush(self.retry_heap, (now, again.id, again))

    def _check_timeouts(self):
        now = time.monotonic()
        grace = _config.PARALLEL_TIMEOUT_GRACE if self.backend.soft_timeouts else 0.0
        for chunk in list(self.inflight.values()):
            info = self.backend.running(chunk)
            if info is None:
                continue
            pos, attempt, started = info
            if now - started <= self.timeout + grace:
                continue
            action = self.backend.on_timeout(chunk)
            if action in ("killed", "finished"):
                continue  # the chunk's outcome reports it (as a TimeoutError if killed)
            if action != "abandoned":
                raise self.timeout_error(chunk, pos, attempt)
            del self.inflight[chunk.id]
            self._drop(chunk)
            self._emit(chunk.start, chunk.ctl.results[:pos])
            index = chunk.start + pos
            if attempt >= self.retries:
                raise self.timeout_error(chunk, pos, attempt)
            retry = self._new_chunk(index, [chunk.items[pos]], attempt + 1)
            due = now + backoff_delay(attempt, self.spec[1], self.spec[2])
            heapq.heappush(self.retry_heap, (due, retry.id, retry))
            rest = chunk.items[pos + 1 :]
            if rest:
                self._submit(self._new_chunk(index + 1, rest))


class _Run(_Failures, _Input):
    """One map: its checked arguments, its backend, and the caller-side
    loop that keeps chunks in flight."""

    def __init__(self, func, iterable, backend, n_workers, chunksize, ordered, progress,
                 timeout, retries, initializer, initargs, inner_threads, client=None,
                 prefetch_bytes="auto"):
        if not callable(func):
            raise _type_error("func", "callable (a function applied to each item)", func)
        _check_iterable(iterable)
        cls = get_backend(backend)
        if client is not None and not getattr(cls, "uses_client", False):
            raise ValueError(
                f"client= is only used by backend='dask' (a dask.distributed Client or a "
                f"scheduler address); got client={item_repr(client)} with backend={backend!r}"
            )
        if client is not None and hasattr(cls, "check_client"):
            cls.check_client(client)
        n = resolve_n_workers(n_workers)
        self.chunksize = _check_chunksize(chunksize)
        self.ordered = _check_ordered(ordered)
        self.timeout = _check_timeout(timeout)
        self.retries = _check_retries(retries)
        self.progress_arg = _check_progress(progress)
        self.initargs = _check_initializer(initializer, initargs)
        self.prefetch_bytes = _check_prefetch(prefetch_bytes)
        if n == 1 and cls.serial_when_single:
            cls = get_backend("serial")
        if cls.name == "serial":
            n = 1
        self.inner = _check_inner(inner_threads, n)
        if getattr(cls, "needs_pickling", False):
            require_transport(f"backend={cls.name!r}")
        self.backend_name = backend
        # what the user asked for, for backends that size themselves on start
        # (dask: the cluster's threads) -- see _resize
        self.client = client
        self.n_workers_arg = n_workers
        self.inner_arg = inner_threads
        self.func = func
        self.iterable = iterable
        self.total = _length(iterable)
        self.initializer = initializer
        self.n_workers = n
        self.max_inflight = max(1, n * _config.PARALLEL_INFLIGHT_PER_WORKER)
        self.max_pending = max(self.max_inflight, n * _config.PARALLEL_PENDING_PER_WORKER)
        if cls.name == "serial":
            self.max_inflight = self.max_pending = 1
        self.backend = cls(n, self)
        mode = self.backend.timeout_mode if self.timeout is not None else None
        self.spec = Spec(self.retries, _config.PARALLEL_RETRY_BACKOFF_BASE,
                         _config.PARALLEL_RETRY_BACKOFF_MAX, self.timeout, mode, self.inner)
        # made when the map starts (the first next() of an imap): nothing is
        # copied or started before
        self.segments = None
        self.fn_blob = None
        self.done_q = queue.SimpleQueue()
        self.inflight = {}
        self.ahead = _Ahead()

    # -- called by backends -------------------------------------------------

    def done(self, chunk, raw):
        if not self._closed:  # (a chunk that reports after the end is dropped)
            self.done_q.put((chunk, raw))

    def inflight_chunks(self):
        return list(self.inflight.values())

    # -- the scheduler ----------------------------------------------------

    def _handle(self, chunk, raw):
        if self.inflight.get(chunk.id) is not chunk:
            return  # a chunk given up on (timeout) reporting late
        outcome = self.backend.outcome(chunk, raw)
        if outcome.crash is not None:
            err = self.backend.crash_error(outcome.crash, chunk, self.inflight_chunks())
            culprit = getattr(err, "culprit", None)
            if (culprit is not None and culprit[2] < self.retries
                    and hasattr(self.backend, "restart")):
                self._recover(*culprit, pool_intact=getattr(err, "pool_intact", False))
                return
            if culprit is not None and culprit[2]:
                add_note(err, f"gilfree.parallel: failed on all {culprit[2] + 1} attempts "
                              f"(retries={self.retries})")
            raise err
        del self.inflight[chunk.id]
        self._drop(chunk)
        if outcome.cancelled:
            raise ParallelError(  # pragma: no cover - another map killed the shared pool
                f"the chunk of items from {chunk.start} was cancelled by the "
                f"{self.backend.name!r} backend while this map was running (another map "
                "sharing the worker pool was interrupted or crashed); run the map again"
            )
        n = len(outcome.results)
        self.batcher.record(n + (outcome.failure is not None), outcome.elapsed)
        self._emit(chunk.start, outcome.results)
        if outcome.failure is not None:
            raise self._failure_error(chunk, outcome)

    def _new_chunk(self, start, items, base_attempt=0):
        return Chunk(next(self._ids), start, items, base_attempt)

    def _submit(self, chunk, found=None):
        """Hand ``chunk`` to the backend; ``found``: the arrays its items
        hold, if known (else they are looked for)."""
        self.inflight[chunk.id] = chunk
        self.ahead.add(chunk, found)
        self.backend.submit(chunk)

    def _interrupted(self):
        return self._watching_sigint and _SIGINT.count != self._sigints_at_start

    _watching_sigint = False
    _sigints_at_start = 0
    #: backend="auto"'s phases: the task time it measured, which sizes the
    #: chunks from the start, and a cap on them while it times tasks
    chunk_hint = None

    def _loop(self):
        self._watching_sigint = _SIGINT.watch()
        self._sigints_at_start = _SIGINT.count
        _ACTIVE.add(self)
        self.progress = make_progress(self.progress_arg, self.total)
        self.batcher = _Batcher(self.chunksize, self.n_workers, self.total,
                                self.backend.target_chunk_seconds)
        hint = self.chunk_hint
        if hint is not None:
            self.batcher.record(1, hint.task_seconds)
        self.max_buffers = _max_buffers()
        self.ready = {}
        self.out = []
        self.retry_heap = []
        self._ids = itertools.count()
        self._prepare()
        self.backend.start()
        self._started = True
        if self.backend.n_workers != self.n_workers:
            self._resize(self.backend.n_workers)
        src = iter(self.iterable)
        next_index = 0
        out_next = 0
        exhausted = False
        inflight = self.inflight
        ready = self.ready
        poll = _config.PARALLEL_POLL_INTERVAL
        batcher = self.batcher
        while True:
            if self.retry_heap:  # retries and chunks lost with a pool first
                now = time.monotonic()
                while (self.retry_heap and self.retry_heap[0][0] <= now
                       and len(inflight) < self.max_inflight):
                    self._submit(heapq.heappop(self.retry_heap)[2])
            while (not exhausted and len(inflight) < self.max_inflight
                   and len(inflight) + len(ready) < self.max_pending):
                if batcher.probing and len(inflight) >= self.n_workers:
                    # one probe per worker until a chunk time is known, unless
                    # the input is so short that chunks are single tasks anyway
                    cap = batcher.tail_cap(next_index)
                    if cap is None or cap > 1:
                        break
                if inflight and self._ahead_full():
                    break
                n = batcher.next_size(next_index)
                if hint is not None and hint.cap:
                    n = min(n, hint.cap)
                items, capped, found = self._take(src, n, next_index)
                if not items:
                    exhausted = True
                    break
                if len(items) < n and not capped:
                    exhausted = True
                chunk = self._new_chunk(next_index, items)
                next_index += len(items)
                self._submit(chunk, found)
            if self.ordered:
                while out_next in ready:
                    piece = ready.pop(out_next)
                    out_next += len(piece)
                    yield piece
            else:
                while self.out:
                    yield self.out.pop(0)
            if not inflight and not self.retry_heap:
                if exhausted and not ready:
                    self._completed = True
                    return
                if not ready or out_next not in ready:
                    continue  # nothing to wait for: read more input
            tick = poll if self.timeout is not None or self.retry_heap else 0.25
            if self.retry_heap:
                tick = max(0.0, min(tick, self.retry_heap[0][0] - time.monotonic()))
            try:
                got = self.done_q.get(timeout=tick)
            except queue.Empty:
                got = None
            while got is not None:
                self._handle(*got)
                try:
                    got = self.done_q.get_nowait()
                except queue.Empty:
                    got = None
            if self.timeout is not None:
                self._check_timeouts()

    def _resize(self, n):
        """A backend that learnt its real worker count on start (e.g. the
        threads of an existing Dask cluster) resizes the map's prefetch."""
        self.n_workers = n
        self.max_inflight = max(1, n * _config.PARALLEL_INFLIGHT_PER_WORKER)
        self.max_pending = max(self.max_inflight, n * _config.PARALLEL_PENDING_PER_WORKER)
        self.batcher.n_workers = n

    _closed = False

    def _close(self, kill):
        """Stop the map and free what it holds: once, whatever the way
        (exhausted, error, close(), garbage collection, Ctrl-C, exit)."""
        if self._closed:
            return
        self._closed = True
        _ACTIVE.discard(self)
        try:
            if getattr(self, "_started", False):
                self.backend.shutdown(abort=kill)
        finally:
            try:
                if self.segments is not None:
                    self.segments.close()
                self.inflight.clear()
                self.ready = {}
                self.out = []
                self.ahead.clear()
                self.retry_heap = []
                while True:  # reports that came after the last one handled
                    try:
                        self.done_q.get_nowait()
                    except queue.Empty:
                        break
                # the run and its backend refer to each other: what the user
                # gave goes now, not at the next garbage collection
                self.iterable = self.func = self.initializer = None
                self.initargs = ()
                progress = getattr(self, "progress", None)
                if progress is not None:
                    progress.close()
            finally:
                if self._watching_sigint:
                    self._watching_sigint = False
                    _SIGINT.unwatch()


_ACTIVE = weakref.WeakSet()


def close_active_maps():
    """At interpreter exit: stop every map still open (an ``imap`` never
    exhausted nor closed), killing its workers, before the pools wait for
    their tasks to finish."""
    for run in list(_ACTIVE):
        try:
            run._close(True)
        except Exception:  # pragma: no cover - exiting anyway
            pass


set_exit_callback(close_active_maps)


def _after_fork_in_child():
    # the parent's maps are not this process's: never close them here
    global _ACTIVE
    _ACTIVE = weakref.WeakSet()
    _SIGINT.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def imap(func, iterable, *, backend="threads", n_workers=None, chunksize="auto", ordered=True,
         progress=False, timeout=None, retries=0, initializer=None, initargs=(),
         inner_threads="auto", client=None, prefetch_bytes="auto"):
    run = _Run(func, iterable, backend, n_workers, chunksize, ordered, progress, timeout,
               retries, initializer, initargs, inner_threads, client, prefetch_bytes)
    run.check_picklable()
    return run.results()


def pmap(func, iterable, *, backend="threads", n_workers=None, chunksize="auto", ordered=True,
         progress=False, timeout=None, retries=0, initializer=None, initargs=(),
         inner_threads="auto", client=None, prefetch_bytes="auto"):
    run = _Run(func, iterable, backend, n_workers, chunksize, ordered, progress, timeout,
               retries, initializer, initargs, inner_threads, client, prefetch_bytes)
    out = []
    for piece in run.pieces():
        out.extend(piece)
    return out


imap.__doc__ = (
    """Lazily map ``func`` over ``iterable`` on threads, processes or serially.

    Returns an iterator that yields ``func(item)`` for each item, in input
    order (or as completed with ``ordered=False``), reading the input only
    a few chunks ahead.  Arguments are checked when ``imap`` is called;
    work starts (and arrays are copied) at the first ``next()``.  Closing
    the iterator (``close()``, ``break`` in a ``for`` loop, garbage
    collection, interpreter exit) cancels the rest and frees what the map
    holds; tasks already running finish in their workers, unless a Ctrl-C
    caused the close (then they are killed, as when it lands inside the
    map).
"""
    + _PARAMS_DOC
    + """
    Returns
    -------
    iterator
"""
    + _RAISES_DOC
)

pmap.__doc__ = (
    """Map ``func`` over ``iterable`` on threads, processes or serially.

    ``pmap(f, xs)`` is ``[f(x) for x in xs]`` run in parallel: the same
    call for GIL-free kernels on threads and GIL-bound Python on
    processes; only the speed differs.
"""
    + _PARAMS_DOC
    + """
    Returns
    -------
    list
        ``[func(item) for item in iterable]`` (completion order with
        ``ordered=False``).
"""
    + _RAISES_DOC
    + """
    Examples
    --------
    >>> import gilfree
    >>> gilfree.pmap(lambda x: x * x, range(5))
    [0, 1, 4, 9, 16]
    >>> gilfree.pmap(abs, [-1, -2, 3], backend="processes", n_workers=2)
    [1, 2, 3]
"""
)

_MAP_DEFAULTS = {name: p.default for name, p in inspect.signature(imap).parameters.items()
                 if p.kind is p.KEYWORD_ONLY}


def _run_phase(func, iterable, chunk_hint, **kwargs):
    """One phase of an auto map: the plain map's pieces of results.
    ``chunk_hint`` (or None): ``task_seconds``, the serial time of one task,
    sizes the chunks from the start; ``cap``, while true, caps them."""
    run = _Run(func, iterable, **{**_MAP_DEFAULTS, **kwargs})
    run.chunk_hint = chunk_hint
    run.check_picklable()
    return run.pieces()


# backend="auto": decided from the first tasks (parallel/_auto.py)
imap, pmap = with_auto(imap, True, _run_phase), with_auto(pmap, False, _run_phase)
