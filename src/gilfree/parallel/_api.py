"""``pmap`` and ``imap``: one call for serial, threads and processes.

The caller's thread runs a small scheduler: it pulls the input lazily,
batches it into chunks sized from measured task times, keeps a bounded
number of chunks in flight, yields results in input order (or as they
complete), updates progress, watches timeouts, and on the first failure
stops everything and re-raises the task's exception with the worker's
traceback and the item's index.
"""

import functools
import heapq
import itertools
import math
import numbers
import os
import queue
import signal
import threading
import time
import types
import weakref

import numpy as np

from .. import _config
from .._config import _check_integral, _inner_limit, usable_cores
from ._backends import get_backend
from ._errors import TaskExitError, TaskTimeoutError, add_note, annotate, item_repr
from ._progress import make_progress
from ._shared import MapSegments, check_picklable
from ._worker import Spec, backoff_delay

__all__ = ["imap", "pmap"]


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def resolve_n_workers(n_workers):
    """None: the fair share inside a gilfree worker, else all usable cores;
    negative counts from the end (-1 = all cores); 0 is an error."""
    cores = usable_cores()
    if n_workers is None:
        inner = _inner_limit.get()
        return inner if inner is not None else cores
    n = _check_integral(n_workers, "n_workers")
    if n == 0:
        raise ValueError(
            "n_workers=0 runs nothing: use None for one worker per usable core, a positive "
            "count, or a negative count from the end (-1 = all cores)"
        )
    if n < 0:
        resolved = cores + 1 + n
        if resolved < 1:
            raise ValueError(
                f"n_workers={n} leaves no worker on this machine's {cores} usable cores; "
                f"expected a positive count or a negative one between -{cores} and -1"
            )
        return resolved
    return n


def _check_chunksize(chunksize):
    if isinstance(chunksize, str):
        if chunksize != "auto":
            raise ValueError(f"chunksize must be 'auto' or a positive int; got {chunksize!r}")
        return "auto"
    if isinstance(chunksize, bool) or not isinstance(chunksize, numbers.Integral):
        raise _type_error("chunksize", "'auto' or a positive int (tasks per chunk)", chunksize)
    if chunksize < 1:
        raise ValueError(
            f"chunksize must be >= 1 (tasks per chunk) or 'auto'; got {chunksize}"
        )
    return int(chunksize)


def _check_timeout(timeout):
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise _type_error("timeout", "a positive number of seconds per task, or None", timeout)
    timeout = float(timeout)
    if not (timeout > 0) or math.isinf(timeout):
        raise ValueError(
            f"timeout must be a positive, finite number of seconds per task (or None for no "
            f"limit); got {timeout}"
        )
    return timeout


def _type_error(name, expected, value):
    return TypeError(f"{name} must be {expected}; got {item_repr(value)} of type "
                     f"{type(value).__name__}")


def _check_count(value, name, expected):
    """An int (not a bool); else a TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _type_error(name, expected, value)
    return int(value)


def _check_retries(retries):
    expected = "an int >= 0 (extra attempts per failing task)"
    n = _check_count(retries, "retries", expected)
    if n < 0:
        raise ValueError(f"retries must be {expected}; got {n}")
    return n


def _check_inner(inner_threads, n_workers):
    expected = "'auto', None or an int >= 1 (threads inside each worker)"
    if isinstance(inner_threads, str):
        if inner_threads != "auto":
            raise ValueError(f"inner_threads must be {expected}; got {inner_threads!r}")
        return max(1, usable_cores() // n_workers) if n_workers > 1 else None
    if inner_threads is None:
        return None
    n = _check_count(inner_threads, "inner_threads", expected)
    if n < 1:
        raise ValueError(f"inner_threads must be {expected}; got {n}")
    return n


def _check_progress(progress):
    if progress is None or isinstance(progress, bool) or callable(progress):
        return progress
    raise _type_error("progress", "True, False or a callable receiving (done, total)", progress)


def _check_ordered(ordered):
    if isinstance(ordered, (bool, np.bool_)):
        return bool(ordered)
    raise _type_error("ordered", "True (results in input order) or False (as completed)",
                      ordered)


def _check_iterable(iterable):
    t = type(iterable)
    if not (hasattr(t, "__iter__") or hasattr(t, "__getitem__")):
        raise _type_error(
            "iterable", "an iterable of items (a list, tuple, range, array, generator...)",
            iterable)
    return iterable


def _check_initializer(initializer, initargs):
    if initializer is not None and not callable(initializer):
        raise _type_error("initializer", "a callable run once in each worker, or None",
                          initializer)
    if not isinstance(initargs, (tuple, list)):
        raise _type_error("initargs", "a tuple of arguments for initializer", initargs)
    if initargs and initializer is None:
        raise ValueError(f"initargs={item_repr(initargs)} given without an initializer")
    return tuple(initargs)


def _auto_prefetch_bytes():
    """``PARALLEL_PREFETCH_BYTES``, at most an eighth of the physical memory."""
    cap = _config.PARALLEL_PREFETCH_BYTES
    try:
        phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        if phys > 0:
            cap = min(cap, phys // 8)
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        pass
    return max(cap, 1)


def _check_prefetch(prefetch_bytes):
    expected = "'auto' or a positive int (bytes of array data read ahead)"
    if isinstance(prefetch_bytes, str):
        if prefetch_bytes != "auto":
            raise ValueError(f"prefetch_bytes must be {expected}; got {prefetch_bytes!r}")
        return _auto_prefetch_bytes()
    n = _check_count(prefetch_bytes, "prefetch_bytes", expected)
    if n < 1:
        raise ValueError(f"prefetch_bytes must be {expected}; got {n}")
    return n


def _max_buffers():
    """Shared arrays a processes map may have in flight: each costs up to two
    descriptors here, so at most a quarter of this process's open-file limit
    (less what the pool may keep)."""
    from ._shared import fd_limit, pool_max_buffers

    cap = _config.PARALLEL_SHARE_MAX_BUFFERS
    soft = fd_limit()
    if soft is not None:
        cap = min(cap, max(4, (soft - 64) // 4 - pool_max_buffers() // 2))
    return cap


def _length(iterable):
    try:
        return len(iterable)
    except TypeError:
        return None


# --------------------------------------------------------------------------
# Unpicklable objects: say which one
# --------------------------------------------------------------------------


def _children(obj):
    """(label, child) pairs worth trying when ``obj`` fails to pickle."""
    out = []
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        if obj.__closure__:
            for name, cell in zip(code.co_freevars, obj.__closure__):
                try:
                    out.append((f" -> closure variable {name!r}", cell.cell_contents))
                except ValueError:
                    pass
        g = obj.__globals__
        names = set(code.co_names)
        for const in code.co_consts:  # names used by nested functions
            if isinstance(const, types.CodeType):
                names |= set(const.co_names)
        for name in sorted(names):
            if name in g and not isinstance(g[name], types.ModuleType):
                out.append((f" -> global {name!r}", g[name]))
        for i, d in enumerate(obj.__defaults__ or ()):
            out.append((f" -> default argument {i}", d))
    elif isinstance(obj, types.MethodType):
        out.append((" -> bound object (self)", obj.__self__))
        out.append((" -> method function", obj.__func__))
    elif isinstance(obj, functools.partial):
        out.append((" -> partial's function", obj.func))
        out.extend((f" -> partial's argument {i}", a) for i, a in enumerate(obj.args))
        out.extend((f" -> partial's keyword {k!r}", v) for k, v in obj.keywords.items())
    elif isinstance(obj, dict):
        out.extend((f"[{k!r}]", v) for k, v in itertools.islice(obj.items(), 200))
    elif isinstance(obj, (list, tuple, set, frozenset)):
        out.extend((f"[{i}]", v) for i, v in enumerate(itertools.islice(obj, 200)))
    else:
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            out.extend((f".{k}", v) for k, v in attrs.items())
    return out


def find_unpicklable(obj, dumps, label, depth=0, seen=None):
    """Path and value of the innermost object that fails to pickle."""
    seen = set() if seen is None else seen
    if depth < 6 and id(obj) not in seen:
        seen.add(id(obj))
        for sub_label, child in _children(obj):
            try:
                dumps(child)
            except Exception:
                return find_unpicklable(child, dumps, label + sub_label, depth + 1, seen)
    return label, obj


def _unpicklable_error(what, obj, dumps, label, exc):
    path, culprit = find_unpicklable(obj, dumps, label)
    where = "" if path == label else f": {path} is a {type(culprit).__module__}." \
        f"{type(culprit).__qualname__} ({item_repr(culprit)})"
    return TypeError(
        f"{what} cannot be sent to process workers{where}, which cannot be pickled ({exc}). "
        "Use a function defined at module level that creates such objects itself (or in "
        "initializer=), pass plain data instead, or use backend='threads', which needs no "
        "pickling"
    )


# --------------------------------------------------------------------------
# Auto chunking
# --------------------------------------------------------------------------


class _Batcher:
    """Chunk sizes: fixed, or grown from measured per-task time until a
    chunk takes about the backend's target duration (joblib's
    auto-batching idea), capped so that a known input still leaves a few
    chunks per worker at the tail."""

    def __init__(self, chunksize, n_workers, total, target):
        self.fixed = None if chunksize == "auto" else chunksize
        # the first chunks measure the task time: a few tasks when the input
        # has a known length (the tail cap below keeps them few for short
        # inputs), so that a first call's extra cost does not dominate
        self.size = 1 if total is None else _config.PARALLEL_PROBE_TASKS
        self.n_workers = n_workers
        self.total = total
        self.target = target
        self.per_item = None
        self._last_n = 0

    @property
    def probing(self):
        """Auto sizes, and no chunk time measured yet."""
        return self.fixed is None and self.per_item is None

    def tail_cap(self, submitted):
        """Largest chunk the tail rule alone allows (None: unknown length);
        1 means that measuring task times cannot change the next sizes."""
        if self.total is None:
            return None
        left = self.total - submitted
        return -(-left // (self.n_workers * _config.PARALLEL_TAIL_CHUNKS_PER_WORKER))

    def next_size(self, submitted):
        if self.fixed is not None:
            return self.fixed
        size = self.size
        if self.total is not None:
            cap = self.tail_cap(submitted)
            if self.per_item is not None:
                # tail chunks much shorter than the target only add overhead
                cap = max(cap, int(_config.PARALLEL_TAIL_MIN_FRACTION * self.target
                                   / self.per_item))
            size = min(size, max(1, cap))
        return size

    def record(self, n, elapsed):
        if self.fixed is not None or n <= 0:
            return
        per = max(elapsed / n, 1e-9)
        if self.per_item is None:
            self.per_item = per
        elif per >= self.per_item:
            # slower tasks count at once: chunks must not overshoot the target
            self.per_item = 0.5 * (self.per_item + per)
        else:
            # faster ones are weighed by their number of tasks, so that a first
            # one-task chunk that paid first-call costs is soon forgotten
            w = n / (n + self._last_n)
            self.per_item = w * per + (1.0 - w) * self.per_item
        self._last_n = n
        ideal = self.target / self.per_item
        self.size = int(max(1, min(ideal, n * _config.PARALLEL_CHUNK_GROWTH,
                                   _config.PARALLEL_MAX_AUTO_CHUNK)))


# --------------------------------------------------------------------------
# One map
# --------------------------------------------------------------------------


class _Run:
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
            from ._shared import require_transport

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

    def check_picklable(self):
        """For imap: fail now, not at the first next(), if the function
        cannot be sent to process workers (copies no array)."""
        if self.backend.needs_pickling:
            try:
                check_picklable(self.func)
            except Exception as exc:
                raise _unpicklable_error("func", self.func, check_picklable, "func",
                                         exc) from None

    def _prepare(self):
        """Pickle the function (sharing its large arrays) for the workers."""
        if not self.backend.needs_pickling:
            return
        self.segments = MapSegments()
        try:
            self.fn_blob, _ = self.segments.pickle(self.func)
        except (OSError, MemoryError):  # shared memory could not be had
            raise
        except Exception as exc:
            raise _unpicklable_error("func", self.func, check_picklable, "func",
                                     exc) from None

    # -- called by backends -------------------------------------------------

    def done(self, chunk, raw):
        if not self._closed:  # (a chunk that reports after the end is dropped)
            self.done_q.put((chunk, raw))

    def inflight_chunks(self):
        return list(self.inflight.values())

    def dump_items(self, chunk):
        """``(blob, entries)``: the chunk's items pickled for process
        workers, and the shared arrays they use (held until released)."""
        try:
            return self.segments.pickle(chunk.items, scope="chunk")
        except (OSError, MemoryError):
            raise
        except Exception:
            for pos, item in enumerate(chunk.items):
                try:
                    check_picklable(item)
                except Exception as item_exc:
                    raise _unpicklable_error(
                        f"item {chunk.start + pos}", item, check_picklable,
                        f"item {chunk.start + pos}", item_exc,
                    ) from None
            raise  # pragma: no cover

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

    # -- the scheduler ----------------------------------------------------

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
                from ._errors import RemoteTraceback

                exc.__cause__ = RemoteTraceback(tb)
            return exc
        if kind == "setup":
            add_note(exc, f"gilfree.parallel: a worker of the {backend!r} backend could not "
                          f"start the chunk of items {chunk.start}..."
                          f"{chunk.start + len(chunk.items) - 1} (loading its shared memory, "
                          "the function or its arguments failed there)")
            if tb is not None and exc.__cause__ is None:
                from ._errors import RemoteTraceback

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
        from ._errors import RemoteTraceback

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

    def _emit(self, start, results):
        if not results:
            return
        self.progress.update(len(results))
        if self.ordered:
            self.ready[start] = results
        else:
            self.out.append(results)

    def _drop(self, chunk):
        """The scheduler is done with ``chunk``: its backend resources and its
        share of the read-ahead go."""
        self.ahead.remove(chunk)
        self.backend.release(chunk)

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
            from ._errors import ParallelError

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

    def _new_chunk(self, start, items, base_attempt=0):
        chunk_id = self._ids.__next__()
        from ._backends import Chunk

        return Chunk(chunk_id, start, items, base_attempt)

    def _submit(self, chunk, found=None):
        """Hand ``chunk`` to the backend; ``found``: the arrays its items
        hold, if known (else they are looked for)."""
        self.inflight[chunk.id] = chunk
        self.ahead.add(chunk, found)
        self.backend.submit(chunk)

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

    def _take(self, src, n, start):
        """``(items, capped)``: the next chunk's items, up to ``n``, and no
        more than the chunk's share of ``prefetch_bytes`` of arrays not
        already in flight (``capped``: it stopped there).  Items are read one
        by one while they hold arrays, at C speed while they do not."""
        ahead = self.ahead
        try:
            if ahead.plain_items:
                items = list(itertools.islice(src, n))
                found = None
                if not ahead.sample_is_plain(items):
                    ahead.plain_items = False
                    found = {}
                    for item in items:
                        _arrays_of(item, found)
                return items, False, found
            cap = max(1, self.prefetch_bytes // max(1, self.max_inflight))
            items = []
            found = {}
            total = 0
            counts = ahead.counts
            for item in itertools.islice(src, n):
                items.append(item)
                if type(item) in _PLAIN:
                    continue
                mine = {}
                _arrays_of(item, mine)
                for key, nbytes in mine.items():
                    if key not in found:
                        found[key] = nbytes
                        if key not in counts:
                            total += nbytes
                if total >= cap:
                    return items, len(items) < n, found
            ahead.plain_items = bool(items) and not found
            return items, False, found
        except Exception as exc:
            add_note(exc, f"gilfree.parallel: raised by the input iterable while reading "
                          f"item {start} or after")
            raise

    def _ahead_full(self):
        """Whether the chunks in flight already hold ``prefetch_bytes`` of
        arrays (or, on processes, as many shared arrays as descriptors
        allow): then no more input is read until one finishes."""
        if self.ahead.nbytes >= self.prefetch_bytes:
            return True
        seg = self.segments
        if seg is not None and (seg.live_bytes >= self.prefetch_bytes
                                or seg.live_count >= self.max_buffers):
            return True
        return False

    def results(self):
        """The generator behind ``imap``."""
        for piece in self.pieces():
            yield from piece

    def pieces(self):
        """Lists of consecutive results (in order unless ``ordered=False``)."""
        kill = False
        try:
            yield from self._loop()
        except (KeyboardInterrupt, SystemExit):
            kill = True
            raise
        finally:
            # a Ctrl-C in the consumer's loop body closes this generator with
            # GeneratorExit: it stops the work as fast as one raised in here
            self._close(kill or self._interrupted())

    def _interrupted(self):
        return self._watching_sigint and _SIGINT.count != self._sigints_at_start

    _watching_sigint = False
    _sigints_at_start = 0

    def _loop(self):
        self._watching_sigint = _SIGINT.watch()
        self._sigints_at_start = _SIGINT.count
        _ACTIVE.add(self)
        self.progress = make_progress(self.progress_arg, self.total)
        self.batcher = _Batcher(self.chunksize, self.n_workers, self.total,
                                self.backend.target_chunk_seconds)
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
            if self.timeout is not None or self.retry_heap:
                tick = poll
                if self.retry_heap:
                    tick = max(0.0, min(tick, self.retry_heap[0][0] - time.monotonic()))
            else:
                tick = 0.25
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


# --------------------------------------------------------------------------
# Read-ahead in bytes
# --------------------------------------------------------------------------

#: types whose items hold no array (the fast path of the read-ahead count)
_PLAIN = frozenset({int, float, complex, bool, type(None), str, bytes})
_SAMPLE = 32


def _array_bytes(obj, depth=0, seen=None):
    """Bytes of the NumPy arrays an item holds directly or in tuples, lists
    and dicts (two levels deep; the same array counted once)."""
    t = type(obj)
    if t in _PLAIN:
        return 0
    if isinstance(obj, np.ndarray):
        if seen is not None:
            key = id(obj)
            if key in seen:
                return 0
            seen.add(key)
        return obj.nbytes
    if depth >= 2:
        return 0
    if isinstance(obj, (tuple, list)):
        seen = set() if seen is None else seen
        return sum(_array_bytes(o, depth + 1, seen) for o in itertools.islice(obj, 64))
    if isinstance(obj, dict):
        seen = set() if seen is None else seen
        return sum(_array_bytes(o, depth + 1, seen)
                   for o in itertools.islice(obj.values(), 64))
    return 0


def _arrays_of(obj, out, depth=0):
    """``{key: nbytes}`` of the arrays an item holds (as _array_bytes)."""
    if type(obj) in _PLAIN:
        return
    if isinstance(obj, np.ndarray):
        # the same array (memory, shape, strides, dtype) once; views of one
        # array count their own bytes (what a process map copies)
        out[(obj.__array_interface__["data"][0], obj.shape, obj.strides, obj.dtype.str)] = \
            obj.nbytes
        return
    if depth >= 2:
        return
    if isinstance(obj, (tuple, list)):
        for o in itertools.islice(obj, 64):
            _arrays_of(o, out, depth + 1)
    elif isinstance(obj, dict):
        for o in itertools.islice(obj.values(), 64):
            _arrays_of(o, out, depth + 1)


class _Ahead:
    """Bytes of the arrays held by the chunks in flight, each array counted
    once however many items and chunks hold it."""

    def __init__(self):
        self.nbytes = 0
        self.counts = {}  # key -> [nbytes, chunks holding it]
        self._by_chunk = {}
        # None: unknown yet; True: items hold no arrays (read at C speed)
        self.plain_items = None

    def sample_is_plain(self, items):
        step = max(1, len(items) // _SAMPLE)
        return all(_array_bytes(it) == 0 for it in items[::step])

    def add(self, chunk, found=None):
        if found is None:
            if self.plain_items:
                return
            found = {}
            for item in chunk.items:
                _arrays_of(item, found)
        if not found:
            return
        self._by_chunk[chunk.id] = list(found)
        for key, nbytes in found.items():
            c = self.counts.get(key)
            if c is None:
                self.counts[key] = [nbytes, 1]
                self.nbytes += nbytes
            else:
                c[1] += 1

    def remove(self, chunk):
        for key in self._by_chunk.pop(chunk.id, ()):
            c = self.counts[key]
            c[1] -= 1
            if c[1] == 0:
                del self.counts[key]
                self.nbytes -= c[0]

    def clear(self):
        self.counts.clear()
        self._by_chunk.clear()
        self.nbytes = 0


# --------------------------------------------------------------------------
# Ctrl-C and exit
# --------------------------------------------------------------------------


class _SigintWatch:
    """Counts SIGINTs that arrive while maps run in the main thread, so that
    a KeyboardInterrupt raised in the consumer's loop body (which closes an
    ``imap`` with GeneratorExit) still kills the map's workers.  Installed
    only over Python's default handler, and put back when the last map
    ends; the handler then raises KeyboardInterrupt as the default does."""

    def __init__(self):
        self.count = 0
        self._users = 0
        self._lock = threading.Lock()

    def _handler(self, signum, frame):
        self.count += 1
        signal.default_int_handler(signum, frame)

    def watch(self):
        if threading.current_thread() is not threading.main_thread():
            return False
        with self._lock:
            try:
                current = signal.getsignal(signal.SIGINT)
                if current is signal.default_int_handler:
                    signal.signal(signal.SIGINT, self._handler)
                elif current != self._handler:
                    return False  # the program's own handler: leave it alone
            except (ValueError, OSError):  # pragma: no cover - no signals here
                return False
            self._users += 1
            return True

    def unwatch(self):
        with self._lock:
            self._users -= 1
            if self._users <= 0:
                self._users = 0
                try:
                    if signal.getsignal(signal.SIGINT) == self._handler:
                        signal.signal(signal.SIGINT, signal.default_int_handler)
                except (ValueError, OSError):  # pragma: no cover - exiting
                    pass

    def after_fork(self):
        self._lock = threading.Lock()


_SIGINT = _SigintWatch()
#: maps started and not yet closed (closed, killing their workers, at exit)
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


def _after_fork_in_child():
    # the parent's maps are not this process's: never close them here
    global _ACTIVE
    _ACTIVE = weakref.WeakSet()
    _SIGINT.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------

_PARAMS_DOC = """
    Parameters
    ----------
    func : callable
        Called as ``func(item)`` for each item.  On the ``processes``
        backend it travels with cloudpickle (lambdas and closures work);
        NumPy arrays of 1 MiB or more that it or the items reference go
        through shared memory, read-only, instead of being pickled: copied
        when the map starts (the function's) or when the chunk that needs
        them is sent (the items'), into buffers whose pages are reused for
        later arrays, or with no copy at all if made with :func:`shared`.
        See the guide page "Parallel map guarantees".
    iterable : iterable
        The items.  Read lazily, a chunk at a time: at most a few chunks
        per worker, and at most ``prefetch_bytes`` of arrays, are read
        ahead of the results, so a generator of millions of items (or of
        large arrays) is never held in memory.
    backend : {"threads", "processes", "serial"} or a registered name
        ``threads`` for GIL-free kernels (gilfree's, NumPy, Numba) and
        I/O; ``processes`` for GIL-bound Python code; ``serial`` runs in
        the caller (also what ``n_workers=1`` does); ``dask`` runs on a
        dask.distributed cluster (``pip install 'gilfree[dask]'``); ``auto``
        times the first tasks (serially, then on two threads; their results
        are kept) and runs the rest serially, on threads or on processes,
        whichever it predicts fastest (see ``gilfree.parallel.last_plan()``).
    n_workers : int, optional
        Workers; None is one per usable core, -1 all cores, -2 all but one.
    chunksize : "auto" or int
        Tasks per chunk.  ``auto`` measures task times and grows chunks
        until one takes about 10 ms (threads) or 50 ms (processes), so
        per-task overhead is amortised even for trivial tasks.
    ordered : bool
        True: results in input order (default); False: in completion
        order.
    progress : bool or callable
        True shows a tqdm bar; a callable receives ``(done, total)``
        (``total`` None for inputs without a length).  Counts finished
        tasks, whatever the order of the results.
    timeout : float, optional
        Seconds per task.  A task past it raises :class:`TaskTimeoutError`
        (a :class:`TimeoutError`) naming the item.  On ``processes`` the
        task is interrupted in its worker and, if it does not stop within
        a second (stuck in C code), killed with its worker process (loky
        starts another; the other workers and their tasks go on); on
        ``threads`` it is abandoned (threads cannot be killed).
    retries : int
        Extra attempts for a task that raises (or times out), with
        exponential back-off (0.1 s, 0.2 s, 0.4 s... +-25 %): for flaky
        I/O such as downloads.  On ``processes`` a task whose worker died
        (or was killed past its timeout) is retried too: loky then starts
        a new pool, and the other chunks that were running or queued run
        again there from their start (their tasks may run twice).
    initializer, initargs : callable, tuple
        Run as ``initializer(*initargs)`` once in each worker (thread or
        process) before its first task; in the caller for ``serial``.
    inner_threads : "auto", int or None
        Threads that gilfree kernels, Numba, OpenMP and BLAS may use inside
        each worker: ``auto`` is ``cores // n_workers`` (at least 1) so
        that workers x inner threads never oversubscribe the cores; None
        leaves the libraries alone.
    client : dask.distributed.Client or str, optional
        Only with ``backend="dask"``: the cluster to run on, as a Client or
        a scheduler address (``"tcp://host:8786"``).  None starts a
        LocalCluster on 127.0.0.1 (``n_workers`` single-threaded worker
        processes, no dashboard) for this map and closes it afterwards.
        ``n_workers`` then defaults to the cluster's threads; functions and
        large arrays are sent to each worker once (see ``gilfree.distributed``).
    prefetch_bytes : "auto" or int
        Bytes of NumPy arrays (held by items directly or in tuples, lists
        and dicts, each array counted once; on ``processes`` also the
        shared copies) that the chunks in flight may hold before the map
        stops reading input; one chunk always runs.  ``auto`` is 512 MiB,
        at most an eighth of the physical memory.
"""

_RAISES_DOC = """
    Raises
    ------
    Exception
        The first failing task's own exception (same type), with the
        worker's traceback as its ``__cause__``, a note naming the item's
        index and ``exc.gilfree_index``.  Remaining work is cancelled.
    TaskTimeoutError
        A task ran past ``timeout`` (after its retries).
    WorkerCrashedError
        A process worker died (segfault, ``os._exit``, out-of-memory
        killer) while running a task (after its retries); the pool is
        restarted for the next map.
    TaskExitError
        A task or the initializer raised a ``BaseException`` that is not an
        ``Exception`` (``SystemExit``, ``KeyboardInterrupt``...); the
        original is its ``__cause__``.
    NotImplementedError
        ``backend="processes"`` on a platform without POSIX shared memory.
"""


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

# backend="auto": decided from the first tasks (parallel/_auto.py)
from ._auto import with_auto  # noqa: E402

imap, pmap = with_auto(imap, lazy=True), with_auto(pmap, lazy=False)
