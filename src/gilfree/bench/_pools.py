"""Thread and process pools for the benchmark's pure-Python approaches.

Process pools come from loky (spawned workers: safe after OpenMP and Numba
threads have run in this process, unlike a plain fork).
"""

import concurrent.futures


def split(seq, parts):
    """``parts`` contiguous, nearly equal slices of a sequence (no empties)."""
    n = len(seq)
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [seq[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def process_pool(workers):
    from loky import get_reusable_executor

    return get_reusable_executor(max_workers=workers, timeout=60)


def process_map(fn, tasks, workers):
    """``[fn(*t) for t in tasks]`` on a loky process pool (arguments pickled)."""
    ex = process_pool(workers)
    return list(ex.map(fn, *zip(*tasks))) if tasks else []


def thread_map(fn, tasks, workers):
    """``[fn(*t) for t in tasks]`` on a thread pool (GIL-bound for Python)."""
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, *zip(*tasks))) if tasks else []


def shutdown_processes():
    from loky import get_reusable_executor

    get_reusable_executor(max_workers=1).shutdown(wait=True, kill_workers=True)
