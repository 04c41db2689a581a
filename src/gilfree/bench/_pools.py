"""Thread and process pools for the benchmark's pure-Python approaches.

Process pools come from loky (spawned workers: safe after OpenMP and Numba
threads have run in this process, unlike a plain fork).  One pool per
worker count is kept for the whole run, so that the workloads after the
first reuse started workers instead of starting them again (start-up
falls in an approach's untimed warm-up either way; this saves wall time).
"""

import concurrent.futures
import threading

_POOLS = {}
_LOCK = threading.Lock()


def split(seq, parts):
    """``parts`` contiguous, nearly equal slices of a sequence (no empties)."""
    n = len(seq)
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [seq[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def process_pool(workers):
    """The run's loky pool of ``workers`` processes (started on first use)."""
    from loky import ProcessPoolExecutor

    with _LOCK:
        ex = _POOLS.get(workers)
        if ex is None:
            ex = _POOLS[workers] = ProcessPoolExecutor(max_workers=workers)
        return ex


def _discard(workers, ex):
    with _LOCK:
        if _POOLS.get(workers) is ex:
            del _POOLS[workers]
    ex.shutdown(wait=False, kill_workers=True)


def process_map(fn, tasks, workers):
    """``[fn(*t) for t in tasks]`` on a loky process pool (arguments pickled)."""
    from loky import BrokenProcessPool

    ex = process_pool(workers)
    try:
        return list(ex.map(fn, *zip(*tasks))) if tasks else []
    except BrokenProcessPool:
        _discard(workers, ex)  # the next map starts a new pool
        raise


def thread_map(fn, tasks, workers):
    """``[fn(*t) for t in tasks]`` on a thread pool (GIL-bound for Python)."""
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, *zip(*tasks))) if tasks else []


def shutdown_processes():
    """Stop every pool :func:`process_pool` started."""
    with _LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for ex in pools:
        ex.shutdown(wait=True, kill_workers=True)
