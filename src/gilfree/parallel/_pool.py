"""The process pool of this process: one owner for every loky executor
gilfree starts.

``pmap(backend="processes")``, the python engine of the KDE kernels and
``gilfree bench``'s process-pool approaches all take their executor here
(:func:`process_executor`), with the same arguments for the same worker
count, so that one user never shuts down a pool another one is using: a
pool is shared while it fits (workers, initializer, inner threads), and
shut down only when nobody uses it.
"""

import contextlib
import os
import threading
import warnings

from .. import _config
from .._compat import loky as _loky
from .._compat.pythread import register_exit_hook
from ._worker import THREAD_ENV_VARS, process_init

__all__ = ["acquire", "default_inner", "process_executor", "set_exit_callback", "shutdown_idle"]

_exit_callback = None


def set_exit_callback(callback):
    """Call ``callback()`` at exit before the pool is shut down (the map
    layer closes its open maps)."""
    global _exit_callback
    _exit_callback = callback


def default_inner(n_workers):
    """Threads inside each of ``n_workers`` workers by default: a fair share
    of the usable cores (None: one worker, no limit)."""
    return max(1, _config.usable_cores() // n_workers) if n_workers > 1 else None


def _worker_env(inner):
    env = {} if inner is None else {var: str(inner) for var in THREAD_ENV_VARS}
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


def has_pool(n_workers):
    """Whether a pool of ``n_workers`` plain workers (no initializer) is
    running, so that a map on it pays no start-up."""
    p = _shared_pool
    return p is not None and p.key[0] == n_workers and p.key[1] is None


def _acquire_pool(key, make):
    """The shared pool if it fits ``key`` (worker count, initializer, inner
    threads), else a new one: it becomes the shared pool if the old one is
    idle (which is shut down), else it is this map's alone."""
    global _shared_pool
    old = None
    with _pool_lock:
        p = _shared_pool
        if p is not None and p.key == key and _loky.executor_usable(p.ex):
            p.users += 1
            return p
        if p is not None and (p.users == 0 or not _loky.executor_usable(p.ex)):
            old, _shared_pool = p, None
        new = _Pool(make(), key, shared=_shared_pool is None)
        if new.shared:
            _shared_pool = new
    if old is not None:
        _shutdown_executor(old.ex, kill=not _loky.executor_usable(old.ex))
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
    with contextlib.suppress(Exception):  # already broken or gone
        ex.shutdown(wait=not kill, kill_workers=kill)


def _pools_at_exit():
    """When this process exits: close the maps still open (an imap never
    exhausted nor closed) and shut the pool down, killing its workers if
    they still run tasks (of a map closed by `break` whose task goes on),
    so that exiting never waits for them."""
    global _shared_pool
    if _exit_callback is not None:
        _exit_callback()
    with _pool_lock:
        p, _shared_pool = _shared_pool, None
    if p is not None:
        _shutdown_executor(p.ex, kill=_loky.executor_busy(p.ex))


def _forget_pools_after_fork():
    # a forked child must not use (or shut down) its parent's pool
    global _shared_pool, _pool_lock
    _shared_pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_after_fork)


def acquire(n_workers, init_blob=None, inner=None):
    """A pool (see :func:`_acquire_pool`) of ``n_workers`` processes with
    this initializer and inner threads."""
    env = _worker_env(inner)

    def make():
        from loky import ProcessPoolExecutor  # loky costs its import on first use only

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ProcessPoolExecutor(
                max_workers=n_workers,
                timeout=_config.PARALLEL_WORKER_IDLE_TIMEOUT,
                initializer=process_init,
                initargs=(init_blob, inner, os.getpid()),
                env=env,
            )

    return _acquire_pool((n_workers, init_blob, inner, tuple(sorted(env.items()))), make)


@contextlib.contextmanager
def process_executor(n_workers):
    """The loky executor ``pmap(backend="processes", n_workers=n_workers)``
    uses, for the block: shared with maps of the same worker count, never
    shut down while the block runs."""
    pool = acquire(n_workers, None, default_inner(n_workers))
    try:
        yield pool.ex
    finally:
        register_exit_hook(_pools_at_exit)  # after a submit: before loky's own hook
        _release_pool(pool)


def shutdown_idle():
    """Shut the shared pool down now if nothing uses it (its workers exit;
    the next user starts a new one)."""
    global _shared_pool
    with _pool_lock:
        p = _shared_pool
        if p is None or p.users > 0:
            return
        _shared_pool = None
    _shutdown_executor(p.ex, kill=_loky.executor_busy(p.ex))
