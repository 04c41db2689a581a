"""Attaching to shared memory, in a worker: the buffers a map's pickles
refer to are opened, checked and mapped here, and user code receives
read-only NumPy views of them that keep their mapping alive.

This is the layer under both sides of the transport: :mod:`._shared`
(the caller, which creates the buffers and pickles references to them)
and :mod:`._worker` (which runs the chunks).  See :mod:`._shared` for what
a buffer is and how its identity is checked.
"""

import errno
import mmap
import os
import pickle
import stat
import threading

import numpy as np

from .._compat.linux import fd_path, populate_read
from .._memory import byte_span

try:  # POSIX only; shared memory is unavailable elsewhere
    import _posixshmem
except ImportError:  # pragma: no cover - non-POSIX
    _posixshmem = None

_SHM_DIR = "/dev/shm"
#: Prefix of every segment and memfd gilfree creates (visible in /dev/shm
#: and in /proc/<pid>/fd).
SEGMENT_PREFIX = "gilfree_"
#: Bytes of the identity token at the end of every buffer.
TOKEN_BYTES = 16
#: Environment variable that picks the transport: ``auto`` (default),
#: ``memfd`` or ``named``.
TRANSPORT_ENV = "GILFREE_SHM_TRANSPORT"


class SharedMemoryIdentityError(PermissionError):
    """A worker opened shared memory that is not the one its map created
    (another owner, another file, or a wrong token): it was refused without
    reading or unpickling anything from it."""


# -- Worker-side state -------------------------------------------------------

_maps = {}  # map token -> _MapState
_cache = {}  # buffer token -> _Mapping (what this worker has mapped)
_loading = None  # _MapState or _ChunkScope whose pickle is being loaded
_state_lock = threading.RLock()


def open_ref(ref, writable=False):
    """Map the buffer ``ref`` refers to (read-only unless ``writable``),
    after checking that it is the one its creator made: owned by this user,
    the same device and inode, the token at its end.  Raises
    FileNotFoundError if it is gone, :class:`SharedMemoryIdentityError` if
    it is not the one, PermissionError if the kernel refuses access."""
    kind, pid, name, dev, ino, size, token = ref
    total = size + TOKEN_BYTES
    flags = (os.O_RDWR if writable else os.O_RDONLY) | getattr(os, "O_CLOEXEC", 0)
    if kind == "memfd":
        path = fd_path(pid, name)
        try:
            fd = os.open(path, flags)
        except PermissionError as exc:
            raise PermissionError(
                exc.errno,
                f"a worker may not open the caller's shared memory {path} (the caller is not "
                f"dumpable, or /proc is restricted): set {TRANSPORT_ENV}=named before the first "
                "map to use named shared memory instead") from None
    elif kind == "named":
        fd = _posixshmem.shm_open("/" + name, flags, mode=0o600)
        path = f"{_SHM_DIR}/{name}"
    else:  # pragma: no cover - a reference from another gilfree version
        raise ValueError(f"unknown shared-memory kind {kind!r}")
    try:
        st = os.fstat(fd)
        why = None
        if st.st_uid != os.geteuid():
            why = f"it is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()})"
        elif not stat.S_ISREG(st.st_mode):
            why = "it is not a regular file"
        elif (st.st_dev, st.st_ino) != (dev, ino):
            why = (f"it is another file (device {st.st_dev}, inode {st.st_ino}; expected "
                   f"{dev}, {ino})")
        elif st.st_size < total:
            why = f"it has {st.st_size} bytes, not {total}"
        if why is None:
            access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
            mm = mmap.mmap(fd, total, access=access)
    finally:
        os.close(fd)
    if why is None and mm[size:total] != token:
        mm.close()
        why = "its identity token does not match"
    if why is not None:
        if kind == "memfd":  # the caller closed it and reused the descriptor number
            raise FileNotFoundError(errno.ENOENT, f"shared memory {path} is gone (its map "
                                                  f"has ended): {why}")
        raise SharedMemoryIdentityError(
            errno.EPERM,
            f"refusing to map shared memory {path}: {why}. It was replaced after its map "
            "created it (by another user, or after the map ended); nothing was read from it")
    return mm


def read_blob(ref, length):
    """The first ``length`` bytes of a buffer (a pickle), checked as above."""
    mm = open_ref(ref)
    try:
        return mm[:length]
    finally:
        mm.close()


class _MapState:
    """What this worker keeps of a map while it runs: its function, its
    board, and the buffers the function's arrays live in."""

    __slots__ = ("func", "board_mm", "board", "tokens", "recent")

    def __init__(self):
        self.func = None
        self.board_mm = None
        self.board = None
        self.tokens = set()  # buffers of the function
        self.recent = ()  # buffers of the last chunk here (often used again)


class _ChunkScope:
    """The buffers a chunk's items use.  Each view given to the task holds
    ``bases[token]`` (an ndarray over the whole mapping) as its base: if one
    is still alive when the chunk has ended, user code kept a view, and the
    caller is told not to reuse that buffer for other data."""

    __slots__ = ("bases",)

    def __init__(self):
        self.bases = {}


class _Mapping:
    """A read-only mapping of a buffer, and the byte ranges whose pages are
    already mapped.  ``base`` serves the function's views (map scope)."""

    __slots__ = ("mm", "base", "ranges")

    def __init__(self, mm):
        self.mm = mm
        self.base = None
        self.ranges = []


def rebuild(ref, offset, shape, strides, dtype):
    """Worker side: a read-only view of a buffer's bytes for user code (what
    a pickled array reference turns into).  The view holds a buffer export of the mapping: the mapping lives as long
    as the view, whatever clean-up happens meanwhile."""
    token = ref[6]
    with _state_lock:
        m = _cache.get(token)
        if m is None:
            m = _Mapping(open_ref(ref))
            _cache[token] = m
        scope = _loading
        if isinstance(scope, _MapState):
            scope.tokens.add(token)
            if m.base is None:
                m.base = np.frombuffer(m.mm, dtype=np.uint8)
            base = m.base
        elif isinstance(scope, _ChunkScope):
            base = scope.bases.get(token)
            if base is None:
                base = scope.bases[token] = np.frombuffer(m.mm, dtype=np.uint8)
        else:  # unpickled outside a chunk: a view of its own
            base = np.frombuffer(m.mm, dtype=np.uint8)
    dtype = np.dtype(dtype)
    lo, hi = byte_span(shape, strides, dtype.itemsize)
    if hi > lo:
        _populate(m, offset + lo, offset + hi)
    return np.ndarray(shape, dtype=dtype, buffer=base, offset=offset, strides=strides)


def _populate(m, lo, hi):
    """Map the pages of bytes ``lo:hi`` of a mapping at once (a task that
    receives an array nearly always reads it): one call costs less than a
    page fault per 4 KiB page.  Once per range and mapping."""
    page = mmap.PAGESIZE
    lo = max(0, lo // page * page)
    hi = min(len(m.mm), hi)
    if hi <= lo:
        return
    with _state_lock:
        if any(a <= lo and hi <= b for a, b in m.ranges):
            return
        m.ranges.append((lo, hi))
    populate_read(m.mm, lo, hi - lo)


def load(blob, scope):
    """Unpickle ``blob``; the buffers its arrays live in belong to ``scope``."""
    global _loading
    with _state_lock:
        _loading = scope
    try:
        return pickle.loads(blob)
    finally:
        with _state_lock:
            _loading = None
