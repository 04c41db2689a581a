"""Thread and process pools for the benchmark's pure-Python approaches.

Process pools are the ones ``pmap(backend="processes")`` uses
(:mod:`gilfree.parallel._pool`: loky, spawned workers, safe after OpenMP
and Numba threads have run in this process, unlike a plain fork), taken
with the same arguments for the same worker count, so that the bench and
gilfree's own maps never shut down each other's pool.  One pool per worker
count is held for the whole run, so that the workloads after the first
reuse started workers instead of starting them again (start-up falls in an
approach's untimed warm-up either way; this saves wall time).
"""

import concurrent.futures
import threading

from loky import BrokenProcessPool

from ..parallel import _pool

_POOLS = {}
_LOCK = threading.Lock()


def split(seq, parts):
    """``parts`` contiguous, nearly equal slices of a sequence (no empties)."""
    n = len(seq)
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [seq[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def process_pool(workers):
    """The run's loky executor of ``workers`` processes (started on first use)."""
    with _LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = _POOLS[workers] = _pool.acquire(workers, None, _pool.default_inner(workers))
        return pool.ex


def _discard(workers, ex):
    with _LOCK:
        pool = _POOLS.get(workers)
        if pool is None or pool.ex is not ex:
            return
        del _POOLS[workers]
    _pool._release_pool(pool, kill=True)  # broken: the next map starts a new pool


def process_map(fn, tasks, workers):
    """``[fn(*t) for t in tasks]`` on a loky process pool (arguments pickled)."""
    ex = process_pool(workers)
    try:
        return list(ex.map(fn, *zip(*tasks))) if tasks else []
    except BrokenProcessPool:
        _discard(workers, ex)
        raise


def thread_map(fn, tasks, workers):
    """``[fn(*t) for t in tasks]`` on a thread pool (GIL-bound for Python)."""
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, *zip(*tasks))) if tasks else []


def shutdown_processes():
    """Let go of every pool :func:`process_pool` took, and stop the shared
    pool's workers if no map uses it."""
    with _LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        _pool._release_pool(pool)
    _pool.shutdown_idle()
