"""Thread-count probe of the Numba engines (for the tests): the largest and
the last thread count Numba reported for the calling thread when a kernel's
parallel loops started (``numba.get_num_threads()``, what ``prange``
launches with).  Imports nothing, so the package and the engine modules can
both use it."""

_seen = {"largest": 0, "last": 0}


def record(used):
    """Note that a kernel's loops start with ``used`` Numba threads."""
    _seen["last"], _seen["largest"] = used, max(_seen["largest"], used)


def team_size(reset=False):
    """``(largest, last)`` Numba thread count the kernels ran with since the
    previous reset (0, 0 when none ran); ``reset=True`` clears them."""
    out = (_seen["largest"], _seen["last"])
    if reset:
        _seen["largest"] = _seen["last"] = 0
    return out
