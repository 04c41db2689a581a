"""Linux memory and process interfaces the shared-memory transport uses,
each with the portable fallback where it is missing.

- ``memfd_create`` and ``/proc/<pid>/fd/<n>``: anonymous shared memory a
  worker of the same user opens through its creator's descriptor table,
  allowed only while the creator is dumpable (``prctl(PR_GET_DUMPABLE)``,
  through libc).  Fallback: named POSIX shared memory.
- ``madvise(MADV_POPULATE_WRITE / MADV_POPULATE_READ)`` (Linux 5.14): map
  a range's pages in one call.  ``MADV_POPULATE_WRITE`` goes through libc
  (ctypes releases the GIL for the call; :meth:`mmap.mmap.madvise` keeps
  it).  Fallback: a page fault per 4 KiB page.
- ``/sys/kernel/mm/transparent_hugepage/**/shmem_enabled``: whether shared
  memory gets huge pages only when asked (``advise``).  Fallback: 4 KiB
  pages.

Tested on Linux 6.18 with glibc 2.36 (``LINUX_TESTED``; the populate
advice needs Linux 5.14, the fallbacks cover older kernels);
``tests/test_compat_parallel.py`` fails loudly where the fast path is
expected and does not work.
"""

import contextlib
import ctypes
import mmap
import os
import sys

import numpy as np

__all__ = ["LINUX_TESTED", "MADV_POPULATE_READ", "MADV_POPULATE_WRITE", "dumpable",
           "fd_path", "memfd_usable", "populate_read", "populate_write",
           "shmem_huge_pages_on_advice"]

#: kernel versions (major, minor) these interfaces were checked on
LINUX_TESTED = ((6, 18),)

#: ``madvise`` advice values of <linux/mman.h> (Linux 5.14), not in every
#: Python's :mod:`mmap` module
MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23
#: ``prctl`` option of <linux/prctl.h>
PR_GET_DUMPABLE = 3

THP = "/sys/kernel/mm/transparent_hugepage"

_libc = None


def _c():
    """libc (the process's own symbols), or None."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:  # pragma: no cover - no dynamic libc
            _libc = False
    return _libc or None


def dumpable():
    """Whether other processes of this user may open /proc/<our pid>/fd/*
    (``PR_GET_DUMPABLE`` is 1); True where it cannot be asked."""
    libc = _c()
    prctl = getattr(libc, "prctl", None)
    if prctl is None:  # pragma: no cover - no prctl
        return True
    return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1


def fd_path(pid, fd):
    """The path through which another process opens descriptor ``fd`` of
    process ``pid``."""
    return f"/proc/{pid}/fd/{fd}"


def memfd_usable():
    """Whether this process can share anonymous memory files with its
    workers: ``memfd_create``, ``/proc/<pid>/fd`` and a dumpable process."""
    return (hasattr(os, "memfd_create") and os.path.isdir(f"/proc/{os.getpid()}/fd")
            and dumpable())


def populate_write(mm, size):
    """Map every page of the first ``size`` bytes of mapping ``mm`` at once,
    writable.  Returns whether the kernel did (False: pages fault on use)."""
    madvise = getattr(_c(), "madvise", None)
    if madvise is None:  # pragma: no cover - no libc madvise
        return False
    # a view keeps the mapping from being closed during the call
    view = np.frombuffer(mm, dtype=np.uint8)
    try:
        return madvise(ctypes.c_void_p(view.ctypes.data), ctypes.c_size_t(size),
                       ctypes.c_int(MADV_POPULATE_WRITE)) == 0
    finally:
        del view


_can_populate_read = hasattr(mmap.mmap, "madvise") and sys.platform.startswith("linux")


def populate_read(mm, lo, length):
    """Map the pages of bytes ``lo:lo + length`` of mapping ``mm`` at once.
    Returns whether the kernel did (after a first refusal, never asks
    again: an older kernel)."""
    global _can_populate_read
    if not _can_populate_read:
        return False
    try:
        mm.madvise(MADV_POPULATE_READ, lo, length)
    except (OSError, ValueError):  # an older kernel: page faults will do
        _can_populate_read = False
    return _can_populate_read


_huge_on_advice = None


def shmem_huge_pages_on_advice():
    """Whether this kernel gives shared-memory files huge pages when a
    mapping asks with ``MADV_HUGEPAGE`` but not otherwise: ``advise`` in
    ``shmem_enabled``, globally or (Linux 6.x mTHP) for one page size.
    ``always``/``within_size`` give them to ``pwrite`` too; ``never`` (a
    common default) gives none, and each 4 KiB page then costs about a
    microsecond to allocate."""
    global _huge_on_advice
    if _huge_on_advice is None:
        def mode(path):
            try:
                with open(path) as f:
                    text = f.read()
            except OSError:
                return None
            return text[text.find("[") + 1:text.find("]")] if "[" in text else None

        top = mode(f"{THP}/shmem_enabled")
        sizes = []
        with contextlib.suppress(OSError):
            sizes = [mode(f"{THP}/{d}/shmem_enabled") for d in os.listdir(THP)
                     if d.startswith("hugepages-")]
        # per-size settings, where the kernel has them, override the global
        # one unless they say "inherit"
        _huge_on_advice = "advise" in sizes or (
            top == "advise" and (not sizes or "inherit" in sizes))
    return _huge_on_advice
