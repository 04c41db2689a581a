"""What decides between serial, threads and processes, measured on a
function's own tasks: the share of a task that holds the GIL (threads
against one), the CPU share of a task (the rest waits), what pickling an
item and its result costs, and whether a process pool is already running.
Used by ``backend="auto"`` and by :func:`gilfree.compare`.
"""

import math
import pickle
import sys
import threading
import time

import cloudpickle

from .. import _config
from ._pool import has_pool

__all__ = ["TaskSpans", "ThreadClock", "cpu_share", "gil_share", "io_workers", "measure_pickling",
           "process_pool_running"]


def gil_share(serial_seconds, two_thread_seconds):
    """Share of a task that holds the GIL, from the time of the same tasks
    serially and on two threads: Amdahl's serial fraction at two workers,
    ``2 T2 / T1 - 1``, clipped to [0, 1] (None without both times)."""
    if not serial_seconds or not two_thread_seconds or serial_seconds <= 0:
        return None
    return min(1.0, max(0.0, 2.0 * two_thread_seconds / serial_seconds - 1.0))


def measure_pickling(func, items, results):
    """Pickling cost of a map's tasks for process workers, measured with
    cloudpickle (what the processes backend sends them with): the sample
    of ``items`` and of their ``results`` pickled and unpickled as one list
    each (as a chunk travels), per item.

    Returns a dict: ``picklable`` (bool), ``error`` (why not, or ""),
    ``func_bytes``, ``item_bytes`` and ``result_bytes`` (mean per item),
    ``item_seconds`` and ``result_seconds`` (dumps + loads, per item).
    """

    out = {"picklable": True, "error": "", "func_bytes": None, "item_bytes": None,
           "result_bytes": None, "item_seconds": None, "result_seconds": None}
    try:
        out["func_bytes"] = len(cloudpickle.dumps(func))
    except Exception as exc:  # noqa: BLE001 - any pickling failure says "cannot"
        out.update(picklable=False, error=f"func cannot be pickled ({type(exc).__name__}: "
                                          f"{exc})")
        return out
    for what, objs in (("item", list(items)), ("result", list(results))):
        if not objs:
            continue
        try:
            # large objects: fewer of them (at most about 8 MB pickled)
            one = len(cloudpickle.dumps(objs[0]))
            objs = objs[:max(1, min(len(objs), (8 << 20) // max(one, 1)))]
            t0 = time.perf_counter()
            blob = cloudpickle.dumps(objs)
            pickle.loads(blob)
        except Exception:  # noqa: BLE001 - find which one
            for i, obj in enumerate(objs):
                try:
                    pickle.loads(cloudpickle.dumps(obj))
                except Exception as exc:  # noqa: BLE001
                    out.update(picklable=False, error=f"{what} {i} cannot be pickled "
                                                      f"({type(exc).__name__}: {exc})")
                    return out
            raise
        out[f"{what}_seconds"] = (time.perf_counter() - t0) / len(objs)
        out[f"{what}_bytes"] = len(blob) / len(objs)
    return out


def _schedstat_path():
    """This thread's scheduler statistics file (Linux), else None."""

    if not sys.platform.startswith("linux"):
        return None
    return f"/proc/self/task/{threading.get_native_id()}/schedstat"


class ThreadClock:
    """CPU time and run-queue wait of the calling thread since it was made.

    The CPU time is ``time.thread_time()``; the run-queue wait (time the
    thread was ready to run but had no core: a busy machine) comes from
    ``/proc/self/task/<tid>/schedstat`` where Linux has it, else 0.  Only
    waits of the task itself (I/O, sleeps, locks) should make a task look
    like one that waits."""

    def __init__(self):
        self._path = _schedstat_path()
        self.cpu0, self.wait0 = time.thread_time(), self._wait()

    def _wait(self):
        if self._path is not None:
            try:
                with open(self._path, encoding="ascii") as fh:
                    return int(fh.read().split()[1]) * 1e-9
            except (OSError, ValueError, IndexError):
                self._path = None
        return 0.0

    def since(self):
        """``(cpu, runqueue wait)`` seconds since the clock was made."""
        return time.thread_time() - self.cpu0, self._wait() - self.wait0


def cpu_share(wall, cpu, wait):
    """CPU time over the wall time the thread was not kept off a core."""
    avail = wall - wait
    return 1.0 if avail <= 0 else min(1.0, max(0.0, cpu / avail))


def io_workers(cpu_share, cores):
    """Threads for tasks that spend ``cpu_share`` of their time on the CPU:
    enough to keep the cores busy, at most ``AUTO_MAX_IO_WORKERS``."""
    share = max(cpu_share or 0.0, 1.0 / _config.AUTO_MAX_IO_WORKERS)
    return int(min(_config.AUTO_MAX_IO_WORKERS, max(cores, math.ceil(cores / share))))


def process_pool_running(n_workers):
    """Whether the processes backend already has an idle pool of
    ``n_workers`` workers (then a map pays no start-up)."""
    return has_pool(n_workers)


class TaskSpans:
    """``func`` that keeps, per thread, the wall clock, CPU time and
    run-queue wait at the start of its first task, and at the end of its
    last with the count of tasks it finished, while ``measuring``."""

    def __init__(self, func, parties=2, wait=0.0):
        self.func = func
        self.spans = {}
        self.measuring = True
        self._meet = threading.Barrier(max(1, parties))
        self._wait = wait

    def __call__(self, item):
        if not self.measuring:
            return self.func(item)
        tid = threading.get_ident()
        span = self.spans.get(tid)
        if span is None:
            # the first task of each thread waits (briefly) for the others,
            # so that their spans overlap even when one starts late
            try:
                self._meet.wait(self._wait)
            except threading.BrokenBarrierError:
                pass
            span = self.spans[tid] = [ThreadClock(), time.perf_counter(), None]
        try:
            return self.func(item)
        finally:
            if self.measuring:
                tasks = span[2][3] + 1 if span[2] else 1
                span[2] = (time.perf_counter(),) + span[0].since() + (tasks,)

    def finished(self, at_least=1):
        """``(tasks finished, threads that finished at_least tasks)``."""
        counts = [span[2][3] for span in list(self.spans.values()) if span[2]]
        return sum(counts), sum(c >= at_least for c in counts)

    def gil_share(self, serial_busy, task=None, cores=2):
        """Share of a task that held the GIL, from how busy each thread was
        while it ran its tasks (CPU time over the wall time it was not kept
        off a core by other processes), against ``serial_busy``, the same
        ratio of the tasks run serially just before.  By Amdahl's law at p
        workers (the threads that ran tasks, at most ``cores``) a thread is
        ``1 / (1 + (p - 1) g)`` as busy as one alone (g = 0: all computed
        all along; g = 1: they took turns).  None without two threads'
        spans.

        ``task``, the serial time of one task, also bounds the share from
        below by what the threads achieved together (the tasks finished
        from the first start to the last end, times ``task``, over that
        time is the speed-up S; ``g = (p / S - 1) / (p - 1)``): handing the
        GIL back and forth costs time that busy threads do not show, threads
        that take turns are each busy while it is their turn, and threads
        slower than one give a share above 1."""
        busy, starts, ends, done = [], [], [], 0
        for clock, t0, end in list(self.spans.values()):
            if end is None:
                continue
            t1, cpu, wait, tasks = end
            if t1 > t0 and cpu > 0:
                busy.append(cpu_share(t1 - t0, cpu, wait))
                starts.append(t0)
                ends.append(t1)
                done += tasks
        if len(busy) < 2 or serial_busy <= 0:
            return None
        p = max(2, min(len(busy), cores))
        u = min(1.0, sum(busy) / len(busy) / serial_busy)
        g = min(1.0, max(0.0, (1.0 / u - 1.0) / (p - 1)))
        if task:
            speedup = task * done / (max(ends) - min(starts))
            g = max(g, (p / speedup - 1.0) / (p - 1))
        return g
