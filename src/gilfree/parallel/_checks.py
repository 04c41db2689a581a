"""The arguments of ``pmap``/``imap`` checked (each error names the
parameter, what was expected and what was received), and the chunk sizes
grown from measured task times."""

import contextlib
import math
import numbers
import os

import numpy as np

from .. import _config
from .._config import _check_integral, _inner_limit, usable_cores
from ._errors import item_repr
from ._pool import default_inner
from ._shared import fd_limit, pool_max_buffers

# -- Validation --------------------------------------------------------------


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
    n = _check_count(chunksize, "chunksize", "'auto' or a positive int (tasks per chunk)")
    if n < 1:
        raise ValueError(f"chunksize must be >= 1 (tasks per chunk) or 'auto'; got {n}")
    return n


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


def _check_at_least(value, name, expected, minimum, auto=None):
    """An int >= ``minimum``, or (given ``auto``) ``"auto"``: ``auto()``."""
    if auto is not None and isinstance(value, str):
        if value != "auto":
            raise ValueError(f"{name} must be {expected}; got {value!r}")
        return auto()
    n = _check_count(value, name, expected)
    if n < minimum:
        raise ValueError(f"{name} must be {expected}; got {n}")
    return n


def _check_retries(retries):
    return _check_at_least(retries, "retries", "an int >= 0 (extra attempts per failing task)",
                           0)


def _check_inner(inner_threads, n_workers):
    if inner_threads is None:
        return None
    return _check_at_least(inner_threads, "inner_threads",
                           "'auto', None or an int >= 1 (threads inside each worker)", 1,
                           lambda: default_inner(n_workers))


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
    with contextlib.suppress(ValueError, OSError, AttributeError):
        phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        if phys > 0:
            cap = min(cap, phys // 8)
    return max(cap, 1)


def _check_prefetch(prefetch_bytes):
    return _check_at_least(prefetch_bytes, "prefetch_bytes",
                           "'auto' or a positive int (bytes of array data read ahead)", 1,
                           _auto_prefetch_bytes)


def _max_buffers():
    """Shared arrays a processes map may have in flight: each costs up to two
    descriptors here, so at most a quarter of this process's open-file limit
    (less what the pool may keep)."""
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


# -- Auto chunking -----------------------------------------------------------


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
