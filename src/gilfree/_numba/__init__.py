"""Numba engines, one module per kernel family.

Importing this package imports numba (slow: ~0.3 s) with gilfree's
threading-layer choice applied, so it is only imported when a numba engine
is first used.
"""

import contextlib

from .._config import import_numba

numba = import_numba()


@contextlib.contextmanager
def numba_threads(n):
    """Run the block with ``n`` Numba threads in the calling thread only
    (Numba's thread count is thread-local), capped at NUMBA_NUM_THREADS."""
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(previous)
