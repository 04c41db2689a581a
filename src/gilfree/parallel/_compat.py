"""The private internals of other projects that the parallel map relies on.

Everything here touches something its owner does not promise to keep: each
function checks what it uses and falls back (or does nothing) when it is not
there, and ``tests/test_parallel_compat.py`` fails loudly when a supported
version stops matching.

Checked against loky 3.7 (``LOKY_TESTED``; the package requires loky >= 3.4)
and CPython 3.11's ``threading``.  A newer loky that changes these internals
makes the compat test fail, and gilfree falls back to breaking the pool
where it would have retired one worker.
"""

import os
import signal
import threading

__all__ = ["executor_busy", "executor_usable", "forget_parents_processes",
           "register_exit_hook", "retire_worker"]

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
    pending = getattr(ex, "_pending_work_items", None)
    return bool(pending)


_exit_hook_registered = False
_exit_lock = threading.Lock()


def register_exit_hook(hook):
    """Run ``hook`` (idempotent) when this process exits, before anything
    waits for worker processes:

    - at interpreter exit, before loky's own exit handler (which waits for
      running tasks).  Both are ``threading._register_atexit`` hooks, run
      in reverse order of registration; loky registers its own when its
      first executor submits, so this is called after a submit;
    - when a process started by multiprocessing ends (its exit skips the
      interpreter's): a ``multiprocessing.util.Finalize`` that runs before
      multiprocessing joins the process's children, which would otherwise
      wait for idle pool workers until their idle timeout."""
    global _exit_hook_registered
    if _exit_hook_registered:
        return
    with _exit_lock:
        if _exit_hook_registered:
            return
        register = getattr(threading, "_register_atexit", None)
        if register is None:  # pragma: no cover - another Python
            import atexit

            atexit.register(hook)
        else:
            try:
                register(hook)
            except RuntimeError:  # pragma: no cover - already shutting down
                return
        try:
            from multiprocessing import util

            util.Finalize(None, hook, exitpriority=100)
        except (ImportError, AttributeError, TypeError):  # pragma: no cover
            pass
        _exit_hook_registered = True


def _after_fork_in_child():
    global _exit_lock, _exit_hook_registered
    _exit_lock = threading.Lock()
    # (multiprocessing clears its finalizers in the children it starts)
    _exit_hook_registered = False
    forget_parents_processes()


def forget_parents_processes():
    """In a child forked with ``os.fork()``: the parent's worker processes
    are not this process's children.  multiprocessing keeps them in its
    registry of children (it clears it only in the processes it forks
    itself), and at exit would try to join them, or terminate the daemonic
    ones -- the parent's.  Forget them."""
    try:
        from multiprocessing import process

        children = process._children
        mine = os.getpid()
        for p in list(children):
            if getattr(p, "_parent_pid", mine) != mine:
                children.discard(p)
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - another Python
        pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
        if not still_in_task():
            os.kill(pid, signal.SIGCONT)
            return "finished"
        work_id = next((k for k, w in list(pending.items()) if w.future is future), None)
        if work_id is None:  # its result is on its way
            os.kill(pid, signal.SIGCONT)
            return "finished"
        mark()
        mgr.recycling_warned = True  # loky would warn about a memory leak
        rq.put(_ResultItem(work_id, exception=killed_exc))
        rq.put(_RecycledWorkerPid(pid))
    except Exception:  # pragma: no cover - fall back to breaking the pool
        unmark()
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        return None
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:  # pragma: no cover
        pass
    return "killed"
