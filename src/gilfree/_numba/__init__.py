"""Numba engines, one module per kernel family.

Importing this package is cheap; importing an engine module imports numba
(slow: ~0.3 s) with gilfree's threading-layer choice and cache locator
applied (``_common``), so numba is only imported when a numba engine is
first used.  ``gilfree._numba_warm.warm`` compiles (or loads from Numba's cache) the
engines ahead of their first call (it lives outside this package, which
its engine modules import); ``gilfree._numba_cache`` says where their
machine code lives.
"""

from ._teams import team_size

__all__ = ["team_size"]
