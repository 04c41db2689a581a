"""Numba engines, one module per kernel family.

Importing this package is cheap; importing an engine module imports numba
(slow: ~0.3 s) with gilfree's threading-layer choice and cache locator
applied (``_common``), so numba is only imported when a numba engine is
first used.  :func:`warm` compiles (or loads from Numba's cache) the engines
ahead of their first call; ``_cache`` says where their machine code lives.
"""

from ._warm import FAMILIES, warm

#: Thread-count probe (for the tests): the largest and the last thread count
#: Numba reported for the calling thread when a kernel's parallel loops
#: started (``numba.get_num_threads()``, what ``prange`` launches with);
#: ``_common.numba_threads`` records them.
_probe = {"largest": 0, "last": 0}


def team_size(reset=False):
    """``(largest, last)`` Numba thread count the kernels ran with since the
    previous reset (0, 0 when none ran); ``reset=True`` clears them."""
    out = (_probe["largest"], _probe["last"])
    if reset:
        _probe["largest"] = _probe["last"] = 0
    return out


__all__ = ["FAMILIES", "warm"]
