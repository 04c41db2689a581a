"""loky's private internals that the processes backend relies on.

- ``ProcessPoolExecutor._flags``, ``._pending_work_items``, ``._processes``:
  whether an executor is broken, busy, and its worker processes.
  Fallback: trust the executor, no pids (a crash is then reported without
  the worker's exit code).
- ``loky.process_executor._ResultItem`` and ``_RecycledWorkerPid`` put on
  ``._result_queue``, and ``._executor_manager_thread.recycling_warned``:
  retire one worker past its timeout without breaking the pool (the
  messages loky's own memory-leak recycling sends).  Fallback: kill the
  worker, which breaks the pool; the map restarts it.

Checked against loky 3.7 (``LOKY_TESTED``; the package requires
``loky>=3.4,<3.8``).  ``tests/test_compat_parallel.py`` fails loudly for
another version, or when these internals change.
"""

import contextlib
import os
import signal

__all__ = ["LOKY_TESTED", "executor_busy", "executor_usable", "retire_worker",
           "worker_processes"]

#: loky versions (major, minor) whose internals these functions were checked
#: against; the compat test fails for another one until it is checked
LOKY_TESTED = ((3, 7),)


def executor_usable(ex):
    """Whether loky executor ``ex`` is neither broken nor shut down."""
    flags = getattr(ex, "_flags", None)
    if flags is None:  # pragma: no cover - another loky: trust it until it fails
        return True
    return not (getattr(flags, "broken", None) or getattr(flags, "shutdown", False))


def executor_busy(ex):
    """Whether loky executor ``ex`` still has work submitted and not done."""
    return bool(getattr(ex, "_pending_work_items", None))


def worker_processes(ex):
    """``{pid: process}`` of loky executor ``ex``'s workers now (empty where
    loky does not say)."""
    procs = getattr(ex, "_processes", None)
    if not procs:
        return {}
    try:
        return dict(procs)
    except RuntimeError:  # pragma: no cover - changed during iteration
        return {}


def retire_worker(ex, pid, future, still_in_task, mark, unmark, killed_exc):
    """Kill worker ``pid`` of loky executor ``ex``, which runs ``future``'s
    task, without breaking the pool (loky has no public way to replace one
    worker).  The worker is stopped (SIGSTOP); if ``still_in_task()``, loky's
    manager is told through its own result queue that the task failed with
    ``killed_exc`` and that the worker left (the messages loky's memory-leak
    recycling sends), then the worker is killed and loky starts another.
    ``mark()`` runs just before the messages are sent, ``unmark()`` if that
    fails.  Returns "killed", "finished" (the task ended meanwhile) or None
    (loky's internals are not as expected: the caller kills the worker and
    the pool breaks)."""
    try:
        from loky.process_executor import _RecycledWorkerPid, _ResultItem

        rq = ex._result_queue
        mgr = ex._executor_manager_thread
        pending = ex._pending_work_items
        if pid not in ex._processes or not hasattr(mgr, "recycling_warned"):
            return None
    except (ImportError, AttributeError):  # pragma: no cover - another loky
        return None
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return None
    try:
        work_id = None
        if still_in_task():
            work_id = next((k for k, w in list(pending.items()) if w.future is future), None)
        if work_id is None:  # the task ended meanwhile, or its result is on its way
            os.kill(pid, signal.SIGCONT)
            return "finished"
        mark()
        mgr.recycling_warned = True  # loky would warn about a memory leak
        rq.put(_ResultItem(work_id, exception=killed_exc))
        rq.put(_RecycledWorkerPid(pid))
    except Exception:  # pragma: no cover - fall back to breaking the pool
        unmark()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return "killed"
