"""Numba engines, one module per kernel family.

Importing this package imports numba (slow: ~0.3 s) with gilfree's
threading-layer choice applied, so it is only imported when a numba engine
is first used.
"""

import contextlib

from .._config import import_numba

numba = import_numba()

#: Thread-count probe (for the tests): the largest and the last thread count
#: Numba reported for the calling thread when a kernel's parallel loops
#: started (``numba.get_num_threads()``, what ``prange`` launches with).
_probe = {"largest": 0, "last": 0}


def team_size(reset=False):
    """``(largest, last)`` Numba thread count the kernels ran with since the
    previous reset (0, 0 when none ran); ``reset=True`` clears them."""
    out = (_probe["largest"], _probe["last"])
    if reset:
        _probe["largest"] = _probe["last"] = 0
    return out


@contextlib.contextmanager
def numba_threads(n):
    """Run the block with ``n`` Numba threads in the calling thread only
    (Numba's thread count is thread-local), capped at NUMBA_NUM_THREADS."""
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    used = numba.get_num_threads()
    _probe["last"], _probe["largest"] = used, max(_probe["largest"], used)
    try:
        yield n
    finally:
        numba.set_num_threads(previous)
