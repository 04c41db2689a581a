"""The worker side: one loop runs a chunk of tasks on every backend.

``run_items`` calls the function on each item of a chunk with retries,
back-off, timeouts and cancellation, reporting where it is through a small
*control* object: the chunk itself on the threads backend, a slot of a
shared-memory *board* on the processes backend (so that the caller can tell
which item a crashed worker was running, and kill a task past its timeout).

Process workers run :func:`process_init` once (thread limits, SIGINT
ignored: the caller handles Ctrl-C and kills its workers) and then
:func:`process_chunk` per chunk.
"""

import collections
import contextlib
import gc
import itertools
import os
import pickle
import random
import signal
import sys
import threading
import time
import traceback
import weakref

import cloudpickle
from threadpoolctl import ThreadpoolController, threadpool_limits

from .. import _config
from .._compat.pythread import set_async_exc
from .._config import _inner_limit
from ._attach import (
    _cache,
    _ChunkScope,
    _maps,
    _MapState,
    _state_lock,
    load,
    open_ref,
    read_blob,
)
from ._errors import pack_exception

__all__ = ["Spec", "run_items", "process_chunk", "process_init"]


class _SoftTimeout(BaseException):
    """Raised inside a task by the timeout alarm (a BaseException, so that a
    task's own ``except Exception`` does not swallow it)."""


class Spec(collections.namedtuple(
        "Spec", "retries backoff_base backoff_max timeout timeout_mode inner",
        defaults=(0, 0.1, 30.0, None, None, None))):
    """What every chunk of one map needs to know (a picklable tuple), where
    ``timeout_mode`` is ``"alarm"`` (interrupt in this thread with
    SIGALRM), ``"async"`` (interrupt this thread from a timer thread: the
    task sees the exception at its next Python bytecode), ``"posthoc"``
    (check after the call), or None (the caller watches)."""

    __slots__ = ()


def backoff_delay(attempt, base, cap):
    """Exponential back-off with +-25 % jitter: ``base * 2**attempt``."""
    d = min(cap, base * (2.0 ** attempt))
    return d * (0.75 + 0.5 * random.random())


# -- Timeout alarm (main thread only) ----------------------------------------

_alarm_armed = False
_monotonic_ns = time.monotonic_ns


def _on_alarm(signum, frame):
    if _alarm_armed:
        raise _SoftTimeout()


class alarm_handler:
    """Install the SIGALRM handler for the duration of a block."""

    def __enter__(self):
        self._prev = signal.signal(signal.SIGALRM, _on_alarm)
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._prev if self._prev is not None else signal.SIG_DFL)
        return False


def _call_with_alarm(func, item, timeout):
    global _alarm_armed
    signal.setitimer(signal.ITIMER_REAL, timeout)
    _alarm_armed = True
    try:
        return func(item)
    finally:
        _alarm_armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)


class _AsyncWatchdog:
    """Interrupts the tasks this thread runs through :meth:`call` with
    :class:`_SoftTimeout` after ``timeout`` seconds, from one timer thread
    for all of them (no signal needed, any thread): the exception is
    scheduled in this thread, which raises it at its next Python bytecode
    (code inside a C call sees it when the call returns).  A scheduled
    exception not yet raised when the task returns is cancelled; one raised
    on the way out still means the task ran past its timeout."""

    def __init__(self, timeout):
        self._tid = threading.get_ident()
        self._timeout = timeout
        self._cond = threading.Condition()
        self._deadline = None  # of the task running now
        self._fired = False
        self._closed = False
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name="gilfree-task-timeout")
        self._thread.start()

    def _watch(self):
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._fired = set_async_exc(self._tid, _SoftTimeout) == 1
                self._deadline = None

    def call(self, func, item):
        with self._cond:
            self._deadline = time.monotonic() + self._timeout
            self._cond.notify()
        try:
            return func(item)
        finally:
            with self._cond:
                self._deadline = None
                if self._fired:
                    set_async_exc(self._tid, None)
                    self._fired = False

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify()


def _call_with_async_timeout(func, item, timeout):
    """One ``func(item)`` under an :class:`_AsyncWatchdog` of its own."""
    watchdog = _AsyncWatchdog(timeout)
    try:
        return watchdog.call(func, item)
    finally:
        watchdog.close()


# -- The chunk loop ----------------------------------------------------------


def run_items(func, items, ctl, spec, base_attempt=0):
    """Run ``func`` on each item; results go to ``ctl.results``.

    Returns ``(failure, elapsed)``; ``failure`` is None or
    ``(pos, kind, exc, attempt)`` with ``kind`` ``"error"`` or ``"timeout"``.
    Every exception of a task ends the chunk there, ``BaseException`` too
    (SystemExit, KeyboardInterrupt...: reported, never retried, never
    allowed to end the worker silently).  Stops early (no failure) when
    ``ctl.cancelled()``.
    """
    retries, b_base, b_max, timeout, mode, inner = spec
    results = ctl.results
    failure = None
    t0 = time.perf_counter()
    token = _inner_limit.set(inner) if inner else None
    watchdog = _AsyncWatchdog(timeout) if mode == "async" else None
    try:
        if retries == 0 and timeout is None and base_attempt == 0:
            return _run_plain(func, items, ctl), time.perf_counter() - t0
        for pos, item in enumerate(items):
            if ctl.cancelled():
                break
            attempt = base_attempt if pos == 0 else 0
            while True:
                ctl.begin(pos, attempt)
                kind = exc = None
                try:
                    if mode == "alarm":
                        r = _call_with_alarm(func, item, timeout)
                    elif mode in ("async", "posthoc"):
                        t_item = time.perf_counter()
                        r = func(item) if watchdog is None else watchdog.call(func, item)
                        if time.perf_counter() - t_item > timeout:
                            kind = "timeout"
                    else:
                        r = func(item)
                except _SoftTimeout:
                    kind = "timeout"
                except BaseException as e:  # a task failure, reported to the caller
                    kind, exc = "error", e
                ctl.end()
                if kind is None:
                    results.append(r)
                    break
                if (attempt < retries and not ctl.cancelled()
                        and (exc is None or isinstance(exc, Exception))):
                    if not ctl.sleep(backoff_delay(attempt, b_base, b_max)):
                        break
                    attempt += 1
                    continue
                failure = (pos, kind, exc, attempt)
                break
            if failure is not None or len(results) <= pos:
                break
    finally:
        if watchdog is not None:
            watchdog.close()
        if token is not None:
            _inner_limit.reset(token)
    return failure, time.perf_counter() - t0


def _run_plain(func, items, ctl):
    """The loop without retries or timeouts: as little per item as possible."""
    append = ctl.results.append
    board = getattr(ctl, "board", None)
    if board is not None:
        return _run_plain_board(func, items, ctl, board)
    cancel = getattr(ctl, "cancel", None)  # set on a worker thread
    is_set = bool if cancel is None else cancel.is_set  # (bool() is False)
    for pos, item in enumerate(items):
        if is_set():
            break
        try:
            append(func(item))
        except BaseException as exc:
            return (pos, "error", exc, 0)
    return None


def _compiled_loop():
    global _run_board
    if _run_board is None:
        try:
            from .._cy._runloop import run_board
        except ImportError:  # pragma: no cover - a build without compiled modules
            run_board = False
        _run_board = run_board
    return _run_board


_run_board = None


def _run_plain_board(func, items, ctl, board):
    """The plain loop of a process worker.  The position of every task is
    written to the board before it starts (a worker killed by the OS is
    then attributed to its exact item).  Compiled when available; else in
    Python, reading the stop word once per stride (see
    ``PARALLEL_STRIDE_*`` in ``gilfree._config``)."""
    b = ctl.base + 1
    board[b + 1] = _monotonic_ns()  # "running" for the whole chunk
    run_board = _compiled_loop()
    if run_board and type(items) is list:
        try:
            run_board(func, items, ctl.results, board, b)
        except BaseException as exc:
            return (len(ctl.results), "error", exc, 0)
        return None
    append = ctl.results.append
    n = len(items)
    it = iter(items)
    islice = itertools.islice
    clock = time.perf_counter
    pos = 0
    stride = 1
    s_max, s_fast, s_slow = (_config.PARALLEL_STRIDE_MAX, _config.PARALLEL_STRIDE_FAST,
                             _config.PARALLEL_STRIDE_SLOW)
    try:
        while pos < n:
            if board[0]:
                return None
            t0 = clock()
            for pos, item in enumerate(islice(it, stride), pos):
                board[b] = pos
                append(func(item))
            pos += 1
            dt = clock() - t0
            if dt < s_fast:
                if stride < s_max:
                    stride *= 2
            elif dt > s_slow and stride > 1:
                stride //= 2
    except BaseException as exc:
        return (len(ctl.results), "error", exc, 0)
    return None


class SimpleCtl:
    """Control for a chunk run in the caller (serial backend)."""

    __slots__ = ("results",)

    def __init__(self):
        self.results = []

    def begin(self, pos, attempt):
        pass

    def end(self):
        pass

    def cancelled(self):
        return False

    def sleep(self, seconds):
        time.sleep(seconds)
        return True


# -- Inner thread limits -----------------------------------------------------


def limit_this_thread(n):
    """Per-thread limits: OpenMP's thread count (an OpenMP ICV is
    per-thread) and Numba's (thread-local), for code that does not go
    through gilfree's ``n_threads`` resolution."""
    numba_parallel = sys.modules.get("numba.np.ufunc.parallel")
    if numba_parallel is not None and getattr(numba_parallel, "_is_initialized", False):
        try:
            import numba  # only once something imported it (it is slow to import)

            numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
        except Exception:  # pragma: no cover - never fail a task over a limit
            pass
    with contextlib.suppress(Exception):
        threadpool_controller().limit(limits=n, user_api="openmp")


_controller = None  # (len(sys.modules) when made, ThreadpoolController)


def threadpool_controller():
    """A cached ``threadpoolctl.ThreadpoolController``: making one scans
    every loaded library (about 1 ms, per thread and per map before); it is
    made again when modules were imported since (they may have loaded a new
    thread pool)."""
    global _controller
    key = len(sys.modules)
    cached = _controller
    if cached is None or cached[0] != key:
        cached = (key, ThreadpoolController())
        _controller = cached
    return cached[1]


#: environment variables that size the thread pools of compiled libraries
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "GILFREE_NUM_THREADS",
)


# -- Process workers ---------------------------------------------------------

_init_failure = None  # (exc_blob, tb_text) if the user's initializer raised
_running = None  # _ChunkScope of the chunk running now
_reaper = None


def _map_finished(st):
    try:
        return st.board[0] != 0
    except (ValueError, IndexError, TypeError):  # board already let go of
        return True


def _drop_unused_locked(keep=()):
    """Forget mappings that no live map's function and no running chunk
    uses (only references are dropped: a mapping is unmapped when the last
    view of it goes, never under a running task)."""
    live = set(keep)
    for st in _maps.values():
        live |= st.tokens
        live.update(st.recent)
    if _running is not None:
        live |= set(_running.bases)
    for token in [t for t in _cache if t not in live]:
        del _cache[token]


def _prune():
    """Forget maps the caller has finished, and the mappings only they used."""
    with _state_lock:
        for token in [t for t, st in _maps.items() if _map_finished(st)]:
            st = _maps.pop(token)
            st.func = None
            st.board = None
            st.board_mm = None
        _drop_unused_locked()


def _reaper_loop(parent):
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            # the caller died without shutting us down (SIGKILL, OOM): do not
            # finish its tasks as an orphan; exiting also lets the resource
            # tracker (whose pipe we inherited) unlink the caller's segments
            os._exit(1)
        with contextlib.suppress(Exception):  # never kill the worker
            _prune()


def process_init(init_blob, inner, parent=None):
    """Run once in each new process worker (``parent``: the caller's pid)."""
    global _init_failure, _reaper
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if inner:
        with contextlib.suppress(Exception):
            threadpool_limits(limits=inner)
    if parent is None:
        parent = os.getppid()
    if os.getppid() != parent:  # the caller died while this worker was starting
        os._exit(1)
    _reaper = threading.Thread(target=_reaper_loop, args=(parent,),
                               name="gilfree-worker-reaper", daemon=True)
    _reaper.start()
    if init_blob is not None:
        try:
            initializer, initargs = pickle.loads(init_blob)
            initializer(*initargs)
        except BaseException as exc:  # SystemExit too: reported with every chunk
            _init_failure = pack_error(exc)


def pack_error(exc):
    """``(exc_blob, tb_text)`` of an exception, to send to the caller."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return pack_exception(exc, tb, cloudpickle.dumps), tb


class BoardCtl:
    """Control of a chunk in a process worker: its slot on the map's board
    (int64 words: pid, position, start time in ns of CLOCK_MONOTONIC,
    attempt) and the board's state word (non-zero: stop)."""

    __slots__ = ("results", "board", "base")

    def __init__(self, board, slot):
        self.results = []
        self.board = board
        self.base = 1 + 4 * slot
        board[self.base + 2] = 0
        board[self.base] = os.getpid()

    def begin(self, pos, attempt):
        # the start time is zero between tasks (end()), so a reader that sees
        # the same non-zero start time before and after reading the position
        # has a consistent pair
        b = self.base
        board = self.board
        board[b + 1] = pos
        if attempt or board[b + 3]:
            board[b + 3] = attempt
        board[b + 2] = _monotonic_ns()

    def end(self):
        self.board[self.base + 2] = 0

    def cancelled(self):
        return self.board[0] != 0

    def sleep(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if self.board[0] != 0:
                return False
            time.sleep(min(left, 0.05))


def _get_map_state(token, board_ref, fn_ref):
    """This worker's state of the map (made on its first chunk here): the
    board is checked and mapped, and then the function is loaded, unless
    the map has already ended.  Raises FileNotFoundError if the board is
    gone (the map ended)."""
    with _state_lock:
        st = _maps.get(token)
    if st is not None:
        return st
    if _maps:
        _prune()
    st = _MapState()
    st.board_mm = open_ref(board_ref, writable=True)
    st.board = memoryview(st.board_mm).cast("q")
    if st.board[0] != 0:
        return st  # ended: load nothing
    kind, payload = fn_ref
    blob = read_blob(*payload) if kind == "buf" else payload
    st.func = load(blob, st)
    with _state_lock:
        _maps[token] = st
    return st


def _ended(pid):
    return -1, None, None, 0.0, pid, ()


def process_chunk(token, board_ref, fn_ref, slot, items_blob, spec, base_attempt):
    """Entry point of a chunk in a process worker.  Never raises.

    Returns ``(n_done, results_blob, failure, elapsed, pid, retained)``;
    ``failure`` is None or ``(pos, kind, exc_blob, tb_text, attempt)``
    (``kind`` ``"setup"``: the chunk could not start: its shared memory or
    its pickles could not be loaded); ``retained`` lists the tokens of
    buffers of which the task kept a view after the chunk; a cancelled or
    already finished map gives ``n_done = -1``.
    """
    global _running
    pid = os.getpid()
    if _init_failure is not None:
        blob, tb = _init_failure
        return 0, None, (0, "init", blob, tb, 0), 0.0, pid, ()
    try:
        st = _get_map_state(token, board_ref, fn_ref)
    except FileNotFoundError:  # the map already ended and freed its board
        return _ended(pid)
    except BaseException as exc:  # refused shared memory, a function that cannot load
        blob, tb = pack_error(exc)
        return 0, None, (0, "setup", blob, tb, 0), 0.0, pid, ()
    if _map_finished(st):
        return _ended(pid)
    scope = _ChunkScope()
    with _state_lock:
        _running = scope
    try:
        try:
            items = load(items_blob, scope)
        except FileNotFoundError:  # its buffers were freed: the map has ended
            if _map_finished(st):
                return _ended(pid)
            raise
        del items_blob
        n, results_blob, failure, elapsed = _run_chunk(st, items, slot, spec, base_attempt)
        del items
    except BaseException as exc:
        n, results_blob, elapsed = 0, None, 0.0
        blob, tb = pack_error(exc)
        failure = (0, "setup", blob, tb, 0)
    retained = _end_chunk(scope, st)
    return n, results_blob, failure, elapsed, pid, retained


def _run_chunk(st, items, slot, spec, base_attempt):
    ctl = BoardCtl(st.board, slot)
    with alarm_handler() if spec[4] == "alarm" else contextlib.nullcontext():
        failure, elapsed = run_items(st.func, items, ctl, spec, base_attempt)
    ctl.end()
    results_blob, packed_failure = pack_outcome(ctl.results, failure)
    return len(ctl.results), results_blob, packed_failure, elapsed


def _end_chunk(scope, st):
    """The chunk is over: let go of its views, and report the buffers of
    which user code kept one (in a global, a thread, a cycle that outlives
    a collection)."""
    global _running
    refs = [(token, weakref.ref(base)) for token, base in scope.bases.items()]
    used = [token for token, _ in refs]
    scope.bases.clear()
    kept = [token for token, r in refs if r() is not None]
    if kept:
        # most often a reference cycle (a task's exception and its traceback)
        gc.collect()
        kept = [token for token, r in refs if r() is not None]
    with _state_lock:
        _running = None
        # the mappings this chunk used stay while its map runs (the same
        # arrays often come again in the next chunk); the others go
        st.recent = tuple(used)
        _drop_unused_locked()
    return tuple(kept)


def pack_outcome(results, failure):
    """A chunk's results and failure as the caller receives them:
    ``(results_blob, failure)``, ``failure`` None or ``(pos, kind,
    exc_blob, tb_text, attempt)``.  A result that cannot be pickled ends the
    chunk there with an error naming it (the results before it are kept)."""
    packed = None
    if failure is not None:
        pos, kind, exc, attempt = failure
        exc_blob, tb = (None, None) if exc is None else pack_error(exc)
        packed = (pos, kind, exc_blob, tb, attempt)
    try:
        blob = pickle.dumps(results, protocol=5)
    except Exception:
        try:
            blob = cloudpickle.dumps(results, protocol=5)
        except Exception as exc:
            blob, packed = _find_unpicklable_result(results, exc, packed)
    return blob, packed


def _find_unpicklable_result(results, exc, failure):
    """Keep the picklable prefix of ``results`` and report the first result
    that cannot be sent back."""
    for pos, r in enumerate(results):
        try:
            cloudpickle.dumps(r)
        except Exception as e:
            err = TypeError(
                f"the task's return value ({type(r).__name__}) cannot be pickled to send it "
                f"back from the worker process: {e}. Return plain data (numbers, arrays, "
                "lists, dicts) or use backend='threads'"
            )
            return (
                cloudpickle.dumps(results[:pos]),
                (pos, "error", pack_exception(err, None, cloudpickle.dumps), None, 0),
            )
    raise exc  # pragma: no cover - the list failed but no element did
