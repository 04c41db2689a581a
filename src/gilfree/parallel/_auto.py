"""``pmap(..., backend="auto")``: serial, threads or processes, decided
from the first tasks.

The first tasks run serially in the caller: one, one more (the first may
pay imports or a compile), then batches of 2, 4, ... items until the
batches after the first have taken ``AUTO_PROBE_SHARE`` of the predicted
serial time of the rest (at least ``AUTO_SERIAL_PROBE_MIN_SECONDS``, at
most ``AUTO_SERIAL_PROBE_SECONDS``): that gives the time of one task, the
share of it spent on the CPU (the rest waits: I/O, sleep) and the
first-call cost.  A map that ends within those batches simply ran
serially: no pool was started and nothing was measured beyond the work
itself.  Tasks that mostly wait go to threads.  Otherwise the rest of the
map starts on threads, in small chunks sized from the task time, each
thread's first tasks timed: how busy the threads are against the serial
tasks, and how many tasks a second they finish, give the share of a task
that holds the GIL.  Once two threads have finished two tasks each (and
about ``AUTO_PROBE_SHARE`` of the rest has run, at most
``AUTO_THREAD_PROBE_SECONDS``), the map decides: pickling a few items and
their results gives what processes would pay per task (measured only when
processes could win: their start-up plus the rest divided among the
workers is below the other predictions), and the backend of least
predicted time takes the rest (serial unless another wins by
``AUTO_MIN_GAIN``).  Threads simply go on; otherwise the threads' input is
cut, the tasks they have taken finish there, and the rest goes to serial or
processes.  Every probe task is a task of the map: its result is kept, none
runs twice.

:func:`last_plan` returns the latest decision with its measurements; each
decision is also logged at DEBUG level on the ``gilfree.parallel`` logger.
"""

import dataclasses
import itertools
import logging
import math
import threading
import time

from .. import _config
from .._config import usable_cores
from ._ahead import _array_bytes
from ._checks import resolve_n_workers
from ._errors import TaskExitError, annotate, item_repr
from ._measure import (TaskSpans, ThreadClock, cpu_share, io_workers, measure_pickling,
                       process_pool_running)

__all__ = ["Plan", "auto_map", "last_plan", "with_auto"]

log = logging.getLogger("gilfree.parallel")


@dataclasses.dataclass(frozen=True)
class Plan:
    """What ``backend="auto"`` chose for a map, and why.

    Attributes
    ----------
    backend : str
        ``"serial"``, ``"threads"`` or ``"processes"``: where the tasks after
        the probes ran.
    n_workers : int
        Workers of that backend (1 for serial).
    reason : str
        The decision in one line, with the measurements behind it.
    probe_tasks : int
        Tasks run before the decision (serially, then timed on threads);
        their results are part of the map's.
    probe_seconds : float
        Wall time of those tasks.
    task_seconds : float or None
        Serial time of one task (None: no task ran).
    first_call_seconds : float or None
        Extra time of the first call (imports, JIT compile, caches).
    cpu_share : float or None
        CPU time / wall time of a serial task (below 1: it waits).
    gil_share : float or None
        Share of a task that holds the GIL, from the first tasks on threads
        against the serial ones (0: scales perfectly on threads; 1: threads
        do not help).
    pickle_seconds : float or None
        Pickling and unpickling one item and its result, in the caller.
    pickle_bytes : float or None
        Bytes of one pickled item plus its pickled result.
    picklable : bool or None
        Whether the function and the items sampled could be pickled.
    total : int or None
        Items in the input, when it has a length.
    estimates : dict
        Predicted seconds for the remaining tasks per backend considered.
    """

    backend: str
    n_workers: int
    reason: str
    probe_tasks: int = 0
    probe_seconds: float = 0.0
    task_seconds: float = None
    first_call_seconds: float = None
    cpu_share: float = None
    gil_share: float = None
    pickle_seconds: float = None
    pickle_bytes: float = None
    picklable: bool = None
    total: int = None
    estimates: dict = dataclasses.field(default_factory=dict)


_last = None
_last_lock = threading.Lock()


def last_plan():
    """The plan of the latest ``backend="auto"`` map of this process.

    Returns
    -------
    Plan or None
        None before any such map has decided.

    Examples
    --------
    >>> import gilfree
    >>> from gilfree.parallel import last_plan
    >>> gilfree.pmap(abs, [-1, 2], backend="auto")
    [1, 2]
    >>> last_plan().backend
    'serial'
    """
    return _last


def _set_plan(plan):
    global _last
    with _last_lock:
        _last = plan
    log.debug("pmap(backend='auto'): %s on %d worker(s): %s", plan.backend, plan.n_workers,
              plan.reason)


# --------------------------------------------------------------------------
# the map
# --------------------------------------------------------------------------


@dataclasses.dataclass
class _Chunks:
    """What an auto map's phase is told about its chunks: the serial time
    of one task (they are sized from it from the start) and a cap on their
    size while it is set."""

    task_seconds: float
    cap: int = None


class _Feed:
    """The input as a phase reads it; if ``cuttable``, until ``cut`` (the
    items not read stay in ``it`` for the next phase), counting them in
    ``taken``.  Its length, when ``n`` (the items left) is known, keeps the
    map's tail rule."""

    def __init__(self, it, n=None, cuttable=False):
        self._it, self._n, self.cuttable = it, n, cuttable
        self.taken, self.cut = 0, False

    def __len__(self):
        if self._n is None:
            raise TypeError("length unknown")
        return self._n

    def __iter__(self):
        # a phase that is never cut reads the input at C speed
        return self if self.cuttable else self._it

    def __next__(self):
        if self.cut:
            raise StopIteration
        item = next(self._it)
        self.taken += 1
        return item


def process_start_estimate(n_workers):
    """Predicted seconds before a processes map of ``n_workers`` runs its
    first task: none with an idle pool of that size, else
    ``AUTO_PROCESS_START_SECONDS`` times how oversubscribed the cores are
    (a busy machine starts interpreters slowly)."""
    if process_pool_running(n_workers):
        return 0.0
    import os

    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return _config.AUTO_PROCESS_START_SECONDS * max(1.0, load / max(1, usable_cores()))


class _Progress:
    """One progress count over the phases of an auto map."""

    def __init__(self, progress, total):
        from ._progress import make_progress

        self.sink = make_progress(progress, total)

    def phase(self):
        seen = [0]

        def update(done, _total):
            if done > seen[0]:
                self.sink.update(done - seen[0])
                seen[0] = done

        return update


def _shift_index(exc, offset):
    """An error of a phase that started at input position ``offset``: its
    item index (and note) counted from the start of the whole input."""
    if not offset:
        return
    index = getattr(exc, "gilfree_index", None)
    if isinstance(index, int):
        try:
            exc.gilfree_index = index + offset
        except AttributeError:  # pragma: no cover - exceptions with __slots__
            pass
    if getattr(exc, "index", None) is not None and isinstance(exc.index, int):
        try:
            exc.index += offset
        except AttributeError:  # pragma: no cover
            pass
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        for k, note in enumerate(notes):
            if isinstance(note, str) and note.startswith("gilfree.parallel:") and \
                    isinstance(index, int):
                notes[k] = note.replace(f"item {index}", f"item {index + offset}", 1)


_MAP_KEYS = ("n_workers", "chunksize", "ordered", "progress", "timeout", "retries",
             "initializer", "initargs", "inner_threads", "client", "prefetch_bytes")


def with_auto(map_function, lazy, run_phase):
    """``map_function`` (``imap`` or ``pmap``) that also takes
    ``backend="auto"``; every other backend goes straight through.
    ``run_phase(func, items, chunk_hint, **map_kwargs)`` is the plain map
    the auto map runs its phases on, as pieces of results (passed in, so
    this module does not import the one that wraps its maps with it)."""
    import functools

    @functools.wraps(map_function)
    def wrapper(func, iterable, *, backend="threads", **kwargs):
        if not (isinstance(backend, str) and backend == "auto"):
            return map_function(func, iterable, backend=backend, **kwargs)
        pieces = auto_map(func, iterable, kwargs, lazy, run_phase)
        if lazy:
            return _flatten(pieces)
        out = []
        for piece in pieces:
            out.extend(piece)
        return out

    return wrapper


def _flatten(pieces):
    try:
        for piece in pieces:
            yield from piece
    finally:
        pieces.close()


def auto_map(func, iterable, kwargs, lazy, run_phase):
    """Check the arguments as the map does (now, not at the first next()),
    then return the generator of the auto map's pieces (lists of results,
    each as soon as it is there)."""

    unknown = sorted(set(kwargs) - set(_MAP_KEYS))
    if unknown:
        raise TypeError(f"pmap() got an unexpected keyword argument {unknown[0]!r}")
    client = kwargs.get("client")
    if client is not None:
        raise ValueError(
            f"client= is only used by backend='dask' (a dask.distributed Client or a scheduler "
            f"address); got client={item_repr(client)} with backend='auto'"
        )
    # the threads map checks every argument when it is made, and starts
    # nothing before its first next(): made and dropped, it is the check
    run_phase(func, iterable, None, backend="threads", **kwargs).close()
    opts = {k: v for k, v in kwargs.items() if k not in ("n_workers", "client")}
    opts.setdefault("progress", False)
    return _auto_gen(func, iterable, kwargs.get("n_workers"), opts, lazy, run_phase)


def _auto_gen(func, iterable, n_workers, opts, lazy, run_phase):
    total = None
    try:
        total = len(iterable)
    except TypeError:
        pass
    cores = usable_cores()
    n_asked = resolve_n_workers(n_workers)
    progress = _Progress(opts.pop("progress"), total)
    it = iter(iterable)
    done = 0
    t_start = time.perf_counter()

    def phase(items, backend, n, offset, func=func, chunks=None):
        """The tasks of ``items`` on ``backend``: pieces of results."""
        gen = run_phase(func, items, chunks, backend=backend, n_workers=n,
                        progress=progress.phase(), **opts)
        try:
            yield from gen
        except BaseException as exc:
            _shift_index(exc, offset)
            raise
        finally:
            gen.close()

    def elapsed():
        return time.perf_counter() - t_start

    # no timeout, retries or initializer: serial tasks are plain calls here
    # (what the serial backend does, without its per-chunk bookkeeping)
    direct = (opts.get("timeout") is None and not opts.get("retries")
              and opts.get("initializer") is None)

    def serial(items, offset, block=None):
        """The tasks of ``items`` in this thread: pieces of ``block`` results
        (all of ``items`` when None)."""
        if not direct:
            yield from phase(items, "serial", 1, offset)
            return
        src = iter(items)
        while True:
            chunk = list(itertools.islice(src, block)) if block else src
            out = []
            append = out.append
            try:
                for item in chunk:
                    append(func(item))
            except Exception as exc:
                progress.sink.update(len(out))
                annotate(exc, offset + len(out), item, "serial", "the caller's thread")
                raise
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                raise _exit_error(exc, offset + len(out), item) from exc
            if not out:
                return
            progress.sink.update(len(out))
            offset += len(out)
            yield out
            if not block:
                return

    def serial_rest(task):
        block = max(1, min(_config.PARALLEL_MAX_AUTO_CHUNK,
                           int(_config.PARALLEL_TARGET_CHUNK_SECONDS["serial"]
                               / max(task or 0.0, 1e-9))))
        return serial(_rest(it, total, done), done, block)

    try:
        if n_asked == 1:
            _set_plan(Plan("serial", 1, "n_workers resolves to 1 worker: serial, nothing "
                           "probed", total=total))
            yield from serial(_rest(it, total, 0), 0,
                              block=_config.PARALLEL_PROBE_TASKS if lazy else None)
            return
        # -- 1. serial batches: the task time, its CPU share, the first call
        size, batches = 1, []
        serial_after_first = 0.0
        first = None
        probe_items, probe_results = [], []
        sample_bytes = 0
        ended = False
        clock = clock_from = None
        while True:
            batch = list(itertools.islice(it, size))
            if not batch:
                ended = True
                break
            if clock is None and batches and (elapsed() >= 1e-3 or batches[0][1] >= 1e-4):
                # the run-queue wait is read from /proc only once the
                # batches take long enough for the reads not to count
                clock, clock_from = ThreadClock(), len(batches)
            c0, t0 = time.thread_time(), time.perf_counter()
            results = []
            for piece in serial(batch, done):
                results += piece
            wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
            yield results
            batches.append([len(batch), wall, cpu, 0.0])
            if len(probe_items) < _config.AUTO_PICKLE_SAMPLE and sample_bytes < 8 << 20:
                # a sample for the pickling measurement (of arrays, at most
                # about 8 MB are held for it)
                for x, r in zip(batch[:_config.AUTO_PICKLE_SAMPLE - len(probe_items)], results):
                    probe_items.append(x)
                    probe_results.append(r)
                    sample_bytes += _array_bytes(x) + _array_bytes(r)
                    if sample_bytes >= 8 << 20:
                        break
            done += len(batch)
            if first is None:
                first = wall
                continue  # the first call may pay imports or a compile: one more batch of one
            serial_after_first += wall
            if len(batch) < size or (total is not None and done >= total):
                ended = True
                break
            # enough serial tasks timed: AUTO_PROBE_SHARE of what the rest
            # would take serially, within the serial probe's bounds
            per_task = max(serial_after_first / (done - batches[0][0]), 1e-9)
            rest = per_task * (total - done) if total is not None else elapsed()
            target = min(_config.AUTO_SERIAL_PROBE_SECONDS,
                         max(_config.AUTO_SERIAL_PROBE_MIN_SECONDS,
                             _config.AUTO_PROBE_SHARE * rest))
            if serial_after_first >= target:
                break
            if clock is not None and serial_after_first >= _config.AUTO_IO_PROBE_SECONDS:
                _spread_wait(batches, clock, clock_from)
                if _waits(_measured(batches, clock_from)):
                    break  # tasks that mostly wait: threads, no need to time more
            # double the batch, but no further than the target
            size = max(1, min(2 * size, math.ceil((target - serial_after_first) / per_task)))
        _spread_wait(batches, clock, clock_from)
        later = _measured(batches, clock_from)
        task, share = _task_time(later)
        if ended:
            # the input ended during the serial batches: the map ran serially
            _set_plan(Plan("serial", 1, f"the whole map ({done} task(s)) ran serially in "
                           f"{elapsed():.3g} s while its first tasks were timed: too short "
                           "for workers to pay", probe_tasks=done, probe_seconds=elapsed(),
                           task_seconds=task, total=total))
            return
        first_call = max(0.0, first - task)
        remaining = None if total is None else total - done
        # unknown length: assume at least as much again as has run
        rest_serial = task * remaining if remaining is not None else max(elapsed(), task * done)
        base = dict(task_seconds=task, first_call_seconds=first_call, cpu_share=share,
                    total=total)
        if rest_serial < _config.AUTO_SERIAL_BELOW_SECONDS or share < _config.AUTO_IO_CPU_SHARE:
            probe_items = probe_results = None  # no pickling to measure
        if rest_serial < _config.AUTO_SERIAL_BELOW_SECONDS:
            _set_plan(Plan("serial", 1, f"{remaining} task(s) left of {task * 1e6:.3g} µs each "
                           f"(~{rest_serial * 1e3:.3g} ms): too little for workers to pay",
                           probe_tasks=done, probe_seconds=elapsed(), **base))
            yield from serial_rest(task)
            return

        # -- 2. waiting tasks: threads, many of them
        if share < _config.AUTO_IO_CPU_SHARE:
            # as many threads as the least CPU share of a batch asks for (one
            # batch held up on the CPU must not halve them; a few threads too
            # many cost little to tasks that wait)
            least = min(cpu_share(b[1], b[2], b[3]) for b in later)
            n = n_asked if n_workers is not None else io_workers(least, cores)
            _set_plan(Plan("threads", n, f"tasks spend {1 - share:.0%} of their time "
                           f"waiting (CPU {share:.0%} of {task * 1e3:.3g} ms each): threads, "
                           f"{n} workers", probe_tasks=done, probe_seconds=elapsed(), **base))
            yield from phase(_rest(it, total, done), "threads", n, done, chunks=_Chunks(task))
            return

        # -- 3. the rest on threads, its first tasks timed: how busy the
        # threads are against the serial tasks gives the share of a task that
        # holds the GIL.  Once two threads have each finished two tasks (and
        # about AUTO_PROBE_SHARE of the rest has run; or four times that on
        # one thread: it holds the GIL), the map goes on where it is, or the
        # input is cut (what the threads have taken finishes there) and the
        # rest goes where it is predicted to take least time.  A map that
        # does best on threads thus never stops to decide.
        n = n_asked
        feed = _rest(it, total, done, cuttable=True)
        plan = None

        def decide(gil, timed_tasks):
            nonlocal plan, probe_items, probe_results
            left = None if total is None else total - done - feed.taken
            rest = task * left if left is not None else max(elapsed(), task * done)
            plan = _plan(func, gil, rest, left, n, probe_items, probe_results,
                         probe_tasks=done + timed_tasks, probe_seconds=elapsed(), **base)
            probe_items = probe_results = None  # held no longer than needed
            _set_plan(plan)

        if task < _config.AUTO_THREAD_PROBE_MIN_TASK:
            decide(None, 0)
        else:
            probe_s = min(_config.AUTO_THREAD_PROBE_SECONDS,
                          _config.AUTO_PROBE_SHARE * rest_serial)
            m = max(4, round(probe_s / max(task, 1e-9)))
            timed = TaskSpans(func, min(n, remaining or n),
                              wait=_config.AUTO_THREAD_PROBE_SECONDS / 2)
            # small chunks while timing (about two a thread in the m tasks):
            # the decision comes early and little input is read ahead of it
            chunks = _Chunks(task, max(1, m // (2 * n)))
            pieces = phase(feed, "threads", n, done, func=timed, chunks=chunks)
            try:
                for piece in pieces:
                    yield piece
                    if plan is None:
                        # two threads with two tasks each, or many more tasks
                        # than asked for: one thread keeps the others waiting
                        finished, threads = timed.finished(2)
                        if finished >= m and (threads >= 2 or finished >= 4 * m):
                            timed.measuring = False
                            chunks.cap = None
                            decide(timed.gil_share(share, task, cores), finished)
                            feed.cut = plan.backend != "threads"
            finally:
                pieces.close()  # also when this map is closed at the yield
            done += feed.taken
            if plan is None:
                gil = timed.gil_share(share, task, cores)
                _set_plan(Plan("threads", n, "the input ended on threads while their first "
                               f"tasks were timed (task {task * 1e3:.3g} ms)", probe_tasks=done,
                               probe_seconds=elapsed(),
                               gil_share=None if gil is None else min(gil, 1.0), **base))
                return
            if plan.backend == "threads":
                return
        if plan.backend == "serial":
            yield from serial_rest(task)
        else:
            yield from phase(_rest(it, total, done), plan.backend, plan.n_workers, done,
                             chunks=_Chunks(task))
    finally:
        progress.sink.close()


def _plan(func, gil, rest_serial, remaining, n, probe_items, probe_results, **base):
    """The plan for the rest of a map: ``rest_serial`` predicted seconds
    serially for its ``remaining`` tasks (None: unknown), given the share
    ``gil`` of a task that holds the GIL (None: not measured) and, for
    pickling, a sample of items and their results."""
    task, first_call = base["task_seconds"], base["first_call_seconds"]
    g = 1.0 if gil is None else gil
    est = {"serial": rest_serial, "threads": rest_serial * (g + (1.0 - g) / n)}
    start = process_start_estimate(n) + _config.AUTO_PROCESS_MAP_SECONDS
    items_left = remaining if remaining is not None else rest_serial / max(task, 1e-9)
    # processes with free pickling: when even that cannot win, pickling
    # is not measured (it can take milliseconds for large items)
    floor = start + first_call + rest_serial / n
    pk = {"picklable": None, "error": "", "item_seconds": None, "result_seconds": None,
          "item_bytes": None, "result_bytes": None}
    if floor < min(est.values()):
        pk = measure_pickling(func, probe_items or (), probe_results or ())
    pickle_s = (pk["item_seconds"] or 0.0) + (pk["result_seconds"] or 0.0)
    pickle_b = (pk["item_bytes"] or 0.0) + (pk["result_bytes"] or 0.0)
    # the caller pickles every item and unpickles every result (one after
    # the other); the workers share the tasks and their own pickling
    est_proc = start + first_call + max(items_left * pickle_s,
                                        (rest_serial + items_left * pickle_s) / n)
    if pk["picklable"]:
        est["processes"] = est_proc
    why = (f"task {task * 1e3:.3g} ms, "
           + (f"GIL-bound share {min(g, 1.0):.0%} ({n} threads vs 1"
              + (", slower than one), " if g > 1.0 else "), ")
              if gil is not None else
              "too short for threads to pay (not probed), "
              if task < _config.AUTO_THREAD_PROBE_MIN_TASK else
              "GIL-bound share not measured (one thread ran the probe), ")
           + (f"pickling {pickle_s * 1e6:.3g} µs and {pickle_b:.0f} B per task"
              if pk["picklable"] else pk["error"] if pk["picklable"] is False else
              f"processes cannot win (start-up ~{start:.2g} s, at least ~{floor:.3g} s "
              "for the rest): pickling not measured"))
    best, note = _decide(est, est_proc, pk["picklable"])
    predicted = ", ".join(f"{k} ~{v:.3g} s" for k, v in est.items())
    left = f"{remaining} tasks left" if remaining is not None else "tasks left"
    return Plan(best, 1 if best == "serial" else n,
                f"{why}{note}; predicted for the {left}: {predicted}",
                gil_share=None if gil is None else min(gil, 1.0),
                pickle_seconds=pickle_s if pk["picklable"] else None,
                pickle_bytes=pickle_b if pk["picklable"] else None,
                picklable=pk["picklable"], estimates=est, **base)


def _decide(est, est_proc, picklable):
    """``(backend, note)``: the backend of least predicted time ``est``
    (seconds per backend), serial unless another wins by AUTO_MIN_GAIN;
    threads when processes would win (``est_proc``) but cannot be used
    (``picklable`` False; None: pickling not measured, processes could not
    win)."""
    best = min(est, key=est.get)
    if est[best] * _config.AUTO_MIN_GAIN > est["serial"]:
        best = "serial"
    if picklable is False and best == "serial" and \
            est_proc * _config.AUTO_MIN_GAIN <= est["serial"]:
        return "threads", "; processes would need pickling: threads instead"
    return best, ""


def _exit_error(exc, index, item):
    """A BaseException that is not an Exception from a task run here ends
    the map as the serial backend reports it: a TaskExitError."""

    what = f"{type(exc).__name__}({', '.join(map(item_repr, exc.args))})"
    err = TaskExitError(
        f"the task of item {index} ({item_repr(item)}) raised {what} on the 'serial' backend "
        "in the caller's thread. A BaseException that is not an Exception ends the map; it is "
        "reported as this error, not re-raised, so that it is not taken for this program's "
        "own exit or Ctrl-C (the original is the __cause__)", index=index, exc_type=type(exc))
    err.__cause__ = exc
    return err


def _spread_wait(batches, clock, start):
    """Share the run-queue wait ``clock`` measured since batch ``start``
    among those batches, in proportion to their wall times."""
    if clock is None:
        return
    wait = clock.since()[1]
    wall = sum(b[1] for b in batches[start:])
    for b in batches[start:]:
        b[3] = wait * b[1] / wall if wall > 0 else 0.0


def _waits(batches):
    """Whether the serial batches' tasks mostly waited (I/O, sleep): in two
    batches at least, none of them on the CPU for AUTO_IO_CPU_SHARE of
    its time."""
    return len(batches) >= 2 and _task_time(batches)[1] < _config.AUTO_IO_CPU_SHARE


def _measured(batches, clock_from):
    """The serial batches a task's time and CPU share are taken from: those
    the run-queue clock covered (from batch ``clock_from``: before it, a
    wait for a core would look like a task that waits), else the batches
    after the first (which paid the first call), else the first."""
    if clock_from is not None and batches[clock_from:]:
        return batches[clock_from:]
    return batches[1:] or batches


def _task_time(batches):
    """``(seconds per task, CPU share)`` of the serial tasks of ``batches``
    (lists ``[tasks, wall, cpu, run-queue wait]``).

    The CPU share is the largest of the batches' (CPU time over the wall
    time not spent waiting for a core): a task that waits does so in every
    batch, while a CPU-bound one stalled by what the run-queue clock does
    not see (time a virtual machine's host took, another thread holding
    the GIL) still shows its share in the other batches.  The task time is
    the CPU time per task over that share."""
    n = sum(b[0] for b in batches)
    if not n:
        return None, 1.0
    share = max(cpu_share(b[1], b[2], b[3]) for b in batches)
    cpu = sum(b[2] for b in batches)
    if share > 0 and cpu > 0:
        return cpu / share / n, share
    return sum(max(b[2], b[1] - b[3]) for b in batches) / n, share


def _rest(it, total, done, cuttable=False):
    return _Feed(it, None if total is None else total - done, cuttable)
