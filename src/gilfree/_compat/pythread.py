"""CPython's thread and process internals that the parallel map relies on.

- ``PyThreadState_SetAsyncExc`` (the C API, through ``ctypes.pythonapi``):
  raise an exception in another thread at its next bytecode, how a task
  past its timeout is interrupted in a thread that cannot take a signal.
  Public fallback: none in Python (a thread cannot be stopped); without it
  a timed-out task runs to its end and is reported late.
- ``threading._register_atexit``: an exit hook that runs before loky's own
  (which waits for running tasks).  Fallback: :func:`atexit.register`.
- ``multiprocessing.process._children``: the registry of child processes
  that a child forked with :func:`os.fork` inherits.  Fallback: nothing
  (multiprocessing may then try to join the parent's workers at exit).

Tested on CPython 3.10 to 3.14 (``CPYTHON_TESTED``);
``tests/test_compat_parallel.py`` fails loudly when one of them changes.
"""

import contextlib
import ctypes
import os
import threading

__all__ = ["CPYTHON_TESTED", "forget_parents_processes", "register_exit_hook",
           "set_async_exc"]

#: CPython versions (major, minor) these internals were checked against
CPYTHON_TESTED = ((3, 10), (3, 11), (3, 12), (3, 13), (3, 14))

def set_async_exc(tid, exc):
    """Schedule ``exc`` (a class, or None to cancel) in thread ``tid``;
    returns the number of threads changed (0 or 1; 0 where the C API is not
    reachable: not CPython)."""
    api = getattr(getattr(ctypes, "pythonapi", None), "PyThreadState_SetAsyncExc", None)
    if api is None:  # pragma: no cover - not CPython
        return 0
    return api(ctypes.c_ulong(tid), ctypes.py_object(exc) if exc is not None else None)


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
        with contextlib.suppress(ImportError, AttributeError, TypeError):
            from multiprocessing import util

            util.Finalize(None, hook, exitpriority=100)
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
    with contextlib.suppress(ImportError, AttributeError, TypeError):  # another Python
        from multiprocessing import process

        children = process._children
        mine = os.getpid()
        for p in list(children):
            if getattr(p, "_parent_pid", mine) != mine:
                children.discard(p)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
