"""What every Numba engine module imports first: numba with gilfree's
threading-layer choice, gilfree's cache locator (``_cache``) installed before
any ``cache=True`` function is defined, and :func:`numba_threads`."""

import contextlib
import warnings

from .._config import import_numba
from .. import _numba_cache as _cache
from ._teams import record

numba = import_numba()

try:
    _cache.install()
except ImportError as exc:  # a Numba whose cache internals changed: Numba's own places
    warnings.warn(str(exc), RuntimeWarning, stacklevel=2)


@contextlib.contextmanager
def numba_threads(n):
    """Run the block with ``n`` Numba threads in the calling thread only
    (Numba's thread count is thread-local), capped at NUMBA_NUM_THREADS."""
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    record(numba.get_num_threads())
    try:
        yield n
    finally:
        numba.set_num_threads(previous)
