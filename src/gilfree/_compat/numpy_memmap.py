"""The ``mmap.mmap`` behind an ``np.memmap`` (NumPy's private ``_mmap``).

:func:`gilfree.tiles` releases the pages of a memory-mapped slide band by
band (``madvise(MADV_DONTNEED)`` on a shared, read-only or writable file
mapping), which needs the mapping object itself: ``np.memmap`` keeps it in
the private attribute ``_mmap`` (set by ``np.memmap.__new__``, None on
views that do not own it).  Checked on NumPy 2.0.2 and 2.4.6 (the versions
of the test environments; the attribute is unchanged since NumPy 1.x).

Public fallback: None, and tiling then keeps the pages it read (the
kernel's results are the same; only the resident memory of a slide larger
than RAM grows until the operating system reclaims it).  The test
``tests/test_compat_kernels.py`` fails loudly when the attribute is gone.
"""

import numpy as np

__all__ = ["file_mapping"]


def file_mapping(arr):
    """The ``mmap.mmap`` an ``np.memmap`` owns, or None (not a memmap, a
    view without its own mapping, or a NumPy without ``_mmap``)."""
    if not isinstance(arr, np.memmap):
        return None
    return getattr(arr, "_mmap", None)
