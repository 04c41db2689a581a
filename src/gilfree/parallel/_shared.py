"""NumPy arrays that reach process workers through shared memory, not pickles.

Two ways in:

- ``shared(a)`` copies ``a`` once into a POSIX shared-memory segment and
  returns a read-only :class:`SharedArray` (an ``ndarray`` subclass) backed by
  it.  Use it like any array; slices and other views of it are shared too.
  Threads see the very same buffer; a process worker maps the segment and
  gets a read-only NumPy view of the same pages, whatever the array's size.
  The segment is unlinked when the last view of it in this process is
  garbage collected, when :meth:`SharedArray.release` is called (or its
  ``with`` block ends), and at interpreter exit.
- Plain NumPy arrays of at least ``PARALLEL_SHARE_MIN_BYTES`` (1 MiB) found
  anywhere in a process task's function or arguments are copied into a
  shared :class:`Buffer` when the chunk that needs them is sent (the same
  array in many tasks is copied once while a chunk that uses it runs).  A
  buffer of an argument is released when the last chunk that uses it has
  finished: to the :class:`BufferPool` (its pages, never its data, serve a
  later array) if no worker kept a view of it, else it is freed.  Buffers of
  the function are freed when the map ends.

The transport
-------------
Every piece of shared memory is a :class:`Buffer`: created by this process
only, exclusively, readable and writable by its owner only, and ending with
a random 16-byte *token*.  Workers receive a reference (kind, owner pid,
file descriptor or name, device and inode, size, token) and check, before
they read or unpickle anything, that what they opened is owned by their
user, is the same file (device, inode) and carries the token; anything
else fails the chunk with :class:`SharedMemoryIdentityError`.  Two kinds:

``memfd`` (Linux, the default)
    An anonymous file (``memfd_create``): nothing in /dev/shm, nothing to
    unlink, and the kernel frees it when the last process holding it is
    gone, even after ``kill -9``.  Workers open it through
    ``/proc/<pid>/fd/<n>``, which the kernel allows to processes of the
    same user only, and only while this process is dumpable.
``named``
    A POSIX shared-memory segment (``shm_open(O_CREAT | O_EXCL, 0o600)``,
    what :mod:`multiprocessing.shared_memory` creates), registered with
    multiprocessing's resource tracker (which unlinks it if this process is
    killed outright) and unlinked when released.  Used where ``memfd`` is
    not available: no ``memfd_create`` or no ``/proc`` (macOS, BSDs, old
    kernels), a caller that is not dumpable (after a setuid change, or
    ``prctl(PR_SET_DUMPABLE, 0)``), or ``GILFREE_SHM_TRANSPORT=named``.

Without POSIX shared memory (Windows) the processes backend is not
available; :func:`require_transport` says so.

Workers map buffers read-only (the run's control board read-write) with
``mmap`` and hand user code NumPy views that hold a buffer export of the
mapping, so a mapping is unmapped only when the last view of it is gone;
worker clean-up only drops references.

Nothing here survives ``fork``: in a child the pool and the transport
choice are reset, and a child never unlinks or frees what its parent
created (every clean-up compares the creator's pid with its own).
"""

import contextlib
import errno
import mmap
import os
import secrets
import sys
import threading
import time
import weakref
from multiprocessing import resource_tracker

import numpy as np

from .. import _config
from .._compat import linux
from .._memory import address_span
from ._attach import _SHM_DIR, SEGMENT_PREFIX, TOKEN_BYTES, TRANSPORT_ENV, _posixshmem

__all__ = ["SharedArray", "shared"]

# -- Which transport ---------------------------------------------------------

_transport = None  # cached choice of this process ("memfd", "named" or "")


def transport():
    """The kind of buffer this process creates: ``"memfd"``, ``"named"``, or
    ``""`` where there is no POSIX shared memory.  Chosen at the first map,
    and again if the process stops being dumpable."""
    global _transport
    if _transport == "memfd" and not linux.dumpable():
        _transport = None  # it changed (a setuid, prctl): choose again
    if _transport is None:
        if _posixshmem is None:
            _transport = ""
        else:
            want = os.environ.get(TRANSPORT_ENV, "auto").strip().lower() or "auto"
            if want not in ("auto", "memfd", "named"):
                raise ValueError(
                    f"{TRANSPORT_ENV} must be 'auto', 'memfd' or 'named'; got {want!r}")
            if want == "named":
                _transport = "named"
            elif linux.memfd_usable():
                _transport = "memfd"
            elif want == "memfd":
                raise OSError(
                    f"{TRANSPORT_ENV}=memfd, but this process cannot share memfds with its "
                    "workers (no memfd_create, no /proc, or the process is not dumpable); "
                    f"unset {TRANSPORT_ENV} to use named shared memory")
            else:
                _transport = "named"
    return _transport


def require_transport(what="backend='processes'"):
    """The transport, or a clear error where the platform has none."""
    kind = transport()
    if not kind:
        raise NotImplementedError(
            f"{what} is not supported on this platform ({sys.platform}): its workers read "
            "arrays and report progress through POSIX shared memory (shm_open), which this "
            "Python does not provide. Use backend='threads' (GIL-free code) or 'dask'")
    return kind


def _reset_transport():
    global _transport
    _transport = None


# -- Buffers (creator side) --------------------------------------------------


def _check_space(nbytes, what):
    """Fail clearly (instead of a SIGBUS in a worker, or a hang) when the
    shared-memory filesystem cannot hold ``nbytes`` more."""
    try:
        st = os.statvfs(_SHM_DIR)
    except OSError:
        return
    free = st.f_bavail * st.f_frsize
    if nbytes > free:
        raise MemoryError(
            f"{what} needs {nbytes / 2**20:.1f} MiB of shared memory but {_SHM_DIR} has only "
            f"{free / 2**20:.1f} MiB free: enlarge it (e.g. `docker run --shm-size=...`), pass "
            "smaller arrays, or use backend='threads', which shares memory without copying"
        )


def _os_error(exc, what, nbytes):
    """``exc`` (an OSError from creating or filling shared memory) as what
    it is: too many open files, out of memory, or the original error."""
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        limit = fd_limit()
        limit = "" if limit is None else f" (this process may open {limit} files: `ulimit -n`)"
        return OSError(
            exc.errno,
            f"too many open files{limit} while creating shared memory for {what}: gilfree "
            "keeps one or two descriptors per shared array in flight; raise the limit, lower "
            "prefetch_bytes=, or pass fewer large arrays at once")
    if exc.errno == errno.ENOMEM:
        return MemoryError(f"out of memory while creating shared memory for {what} "
                           f"({nbytes / 2**20:.1f} MiB)")
    if exc.errno == errno.ENOSPC:
        return MemoryError(
            f"out of shared memory while creating it for {what} ({nbytes / 2**20:.1f} MiB): "
            "/dev/shm or the memory cgroup is full; enlarge it, pass smaller arrays, or use "
            "backend='threads'")
    return exc


def _tracker(action, name):
    """Register/unregister with multiprocessing's resource tracker, which
    unlinks what is still registered if this process is killed outright."""
    with contextlib.suppress(Exception):  # the tracker is a safety net only
        getattr(resource_tracker, action)("/" + name, "shared_memory")


def _pwrite_all(fd, data, offset=0):
    if isinstance(data, np.ndarray):  # as bytes in C order, whatever the dtype
        data = np.ascontiguousarray(data).reshape(-1).view(np.uint8)  # (datetime64: no format)
    mv = memoryview(data).cast("B")
    done = 0
    while done < len(mv):
        done += os.pwrite(fd, mv[done : done + 2**30], offset + done)


def _free(pid, kind, name, fd, mm):
    """Release what a :class:`Buffer` holds -- in its creator only: a forked
    child must never close, unlink or unregister its parent's memory."""
    if os.getpid() != pid:
        return
    if mm is not None:
        with contextlib.suppress(BufferError):  # a temporary view is alive: unmapped when it goes
            mm.close()
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    if kind == "named" and name is not None:
        with contextlib.suppress(FileNotFoundError):
            _posixshmem.shm_unlink("/" + name)
        _tracker("unregister", name)


class Buffer:
    """Shared memory created by this process for its process workers.

    Parameters
    ----------
    nbytes : int
        Usable size (the token follows it).
    kind : {"memfd", "named"}
        See the module docstring.
    what : str
        What it is for, for error messages.
    data : ndarray, optional
        Written in (C order) at creation.

    The creator keeps a read-write mapping ``mm`` (one descriptor), plus,
    for a memfd, the descriptor workers open through ``/proc``.  A worker
    gets :attr:`ref`, a picklable reference it checks on open
    (:func:`open_ref`).
    """

    def __init__(self, nbytes, kind, what, data=None):
        self.pid = os.getpid()
        self.size = max(int(nbytes), 1)
        self.kind = kind
        self.token = secrets.token_bytes(TOKEN_BYTES)
        self.populated = False  # every page mapped here (a reuse is a memcpy)
        self.last_used = 0.0
        self.retained = False  # a worker kept a view: never reused
        total = self.size + TOKEN_BYTES
        fd = name = mm = None
        try:
            if kind == "memfd":
                fd = os.memfd_create(SEGMENT_PREFIX + str(self.pid), os.MFD_CLOEXEC)
                name = str(fd)
            else:
                _check_space(total, what)
                while True:
                    name = f"{SEGMENT_PREFIX}{self.pid}_{secrets.token_hex(6)}"
                    try:
                        fd = _posixshmem.shm_open("/" + name,
                                                  os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
                        break
                    except FileExistsError:  # pragma: no cover - a 48-bit clash
                        continue
                _tracker("register", name)
            os.ftruncate(fd, total)
            st = os.fstat(fd)
            self.dev, self.ino = st.st_dev, st.st_ino
            mm = mmap.mmap(fd, total, flags=mmap.MAP_SHARED,
                           prot=mmap.PROT_READ | mmap.PROT_WRITE)
            mm[self.size:total] = self.token
            self.fd, self.mm = fd, mm
            if data is not None:
                self._write_new(data)
        except BaseException as exc:
            # (a name is unlinked only if this process created it)
            _free(self.pid, kind, name if fd is not None else None, fd, mm)
            if isinstance(exc, OSError):
                raise _os_error(exc, what, total) from exc
            raise
        if kind == "named":  # workers open it by name: this descriptor is not needed
            os.close(fd)
            fd = None
        self.fd = fd
        self.name = name
        self.mm = mm
        self._finalizer = weakref.finalize(self, _free, self.pid, kind, name, fd, mm)

    @property
    def ref(self):
        """What a worker needs to open and check this buffer."""
        return (self.kind, self.pid, self.name, self.dev, self.ino, self.size, self.token)

    @property
    def alive(self):
        return self._finalizer.alive

    def _write_new(self, a):
        """Fill new pages with array ``a`` in C order (the cheapest way the
        kernel offers), without mapping them here yet (see populate)."""
        huge = self.size >= _HUGE_PAGE and linux.shmem_huge_pages_on_advice()
        if huge:
            # the kernel gives shared memory huge pages only to mappings that
            # ask (shmem_enabled=advise): about 4x cheaper than 4 KiB pages
            self.mm.madvise(mmap.MADV_HUGEPAGE)
        self.fill(a)  # (pwrite: the cheapest way to fill new 4 KiB pages on Linux)
        self.populated = huge or not sys.platform.startswith("linux")

    def fill(self, a):
        """Copy ``a`` (C order) into the buffer: through this process's
        mapping once its pages are mapped here (a memcpy), else with pwrite
        (cheaper than faulting each page in)."""
        if a.nbytes == 0:
            return
        if not self.populated and self.fd is not None:
            _pwrite_all(self.fd, a)
            return
        dst = np.frombuffer(self.mm, dtype=np.uint8, count=a.nbytes)
        try:
            # C order, whatever the strides of ``a`` (and any dtype)
            np.copyto(dst.view(a.dtype).reshape(a.shape), a, casting="no")
        finally:
            del dst

    def write_bytes(self, blob):
        self.mm[: len(blob)] = blob

    def populate(self):
        """Map every page here at once (MADV_POPULATE_WRITE), so that a
        reuse copies at memcpy speed instead of faulting per page."""
        if self.populated or not self.alive:
            return
        self.populated = True
        linux.populate_write(self.mm, self.size)  # else: faults on reuse

    def close(self):
        """Free it now (in the creator; never in a forked child)."""
        self._finalizer()


_HUGE_PAGE = 2 * 2**20


# -- SharedArray -------------------------------------------------------------


class SharedArray(np.ndarray):
    """A read-only ndarray backed by a shared-memory segment.

    Made by :func:`shared`.  Views and slices of it stay shared (a process
    worker maps the same pages); results of computations on it are ordinary
    arrays.  ``release()`` (or leaving a ``with`` block) unlinks the
    segment: views in this process stay valid, but it can no longer be sent
    to new process workers.
    """

    # the buffer and the address of its first byte in this process
    _gf_seg = None
    _gf_base = 0

    def __array_finalize__(self, obj):
        seg = getattr(obj, "_gf_seg", None)
        if seg is None:
            return
        base = obj._gf_base
        lo, hi = address_span(self)
        if base <= lo and hi <= base + seg.size:
            self._gf_seg = seg
            self._gf_base = base

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(_plain(x) for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(_plain(x) for x in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        result = super().__array_function__(func, types, args, kwargs)
        return _detach_results(result)

    def __reduce__(self):
        # Ordinary pickling (to a file, to a Dask worker...) is by value;
        # only gilfree's process transport sends a reference.
        return _plain(self).__reduce__()

    def __reduce_ex__(self, protocol):
        return _plain(self).__reduce_ex__(protocol)

    def __copy__(self):
        return np.array(self, copy=True).view(np.ndarray)

    def __deepcopy__(self, memo):
        return self.__copy__()

    def copy(self, order="C"):
        return np.ndarray.copy(_plain(self), order=order)

    @property
    def is_shared(self):
        """True while the segment exists and this array lies inside it (in
        the process that made it)."""
        seg = self._gf_seg
        return seg is not None and seg.alive and seg.pid == os.getpid()

    @property
    def segment_name(self):
        """Name of the shared-memory segment (in /dev/shm), or None."""
        return None if self._gf_seg is None else self._gf_seg.name

    def release(self):
        """Unlink the segment now (views in this process stay readable)."""
        if self._gf_seg is not None:
            self._gf_seg.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


def _plain(x):
    return x.view(np.ndarray) if isinstance(x, SharedArray) else x


def _detach_results(result):
    if isinstance(result, SharedArray) and not result.is_shared:
        return result.view(np.ndarray)
    if isinstance(result, tuple):
        return tuple(_detach_results(r) for r in result)
    if isinstance(result, list):
        return [_detach_results(r) for r in result]
    return result


def shared(array):
    """Put an array in shared memory, once, for zero-copy use by workers.

    Parameters
    ----------
    array : array_like
        Any NumPy array (or array-like) without Python objects inside.  It
        is copied once, C-contiguous, into a new shared-memory segment.

    Returns
    -------
    SharedArray
        A read-only ndarray of the same shape and dtype, backed by the
        segment.  In a ``threads`` map the task receives this very buffer;
        in a ``processes`` map a worker maps the same pages (no copy, no
        pickling), also for slices and views of it.  The segment is
        unlinked when the last view of it here is garbage collected, on
        ``release()`` or at the end of a ``with`` block, and at exit; never
        by a child process forked from this one.

    Raises
    ------
    TypeError
        ``array`` holds Python objects (object dtype).
    NotImplementedError
        This platform has no POSIX shared memory.

    Examples
    --------
    >>> import numpy as np, gilfree
    >>> big = gilfree.shared(np.arange(1_000_000.0))
    >>> gilfree.pmap(lambda i: float(big[i::4].sum()), range(4), backend="processes")
    [124999500000.0, 124999750000.0, 125000000000.0, 125000250000.0]
    """
    if isinstance(array, SharedArray) and array.is_shared:
        return array
    a = np.asarray(array)
    if a.dtype.hasobject:
        raise TypeError(
            "array must be a NumPy array (or array-like) of plain values (numbers, bools, "
            "strings, structured records without objects); got "
            f"{type(array).__name__} with dtype {a.dtype}, which holds Python objects"
        )
    require_transport("shared()")
    src = a if a.flags.c_contiguous else np.ascontiguousarray(a)
    # always named: a SharedArray has a name users can see, and lives as long
    # as its views, whatever the transport of the maps it is sent to
    seg = Buffer(src.nbytes, "named", "shared()", data=src)
    # read-only for good: the view holds an export of a read-only memoryview
    # of the mapping (which then stays mapped as long as a view lives)
    raw = np.frombuffer(memoryview(seg.mm).toreadonly(), dtype=np.uint8, count=seg.size)
    view = np.ndarray(src.shape, dtype=src.dtype, buffer=raw)
    out = view.view(SharedArray)
    out._gf_seg = seg
    out._gf_base = out.__array_interface__["data"][0]
    out.flags.writeable = False
    return out


# -- The pool of buffers for arguments ---------------------------------------


class BufferPool:
    """Buffers for the arrays a processes map shares automatically.

    Allocating fresh shared pages costs several times more than copying
    into pages that already exist, so a buffer whose chunks have all
    finished (and of which no worker kept a view) is kept and reused for
    another array of about its size, in the same map or a later one.  The
    *data* is always copied again (nothing can be stale); only the pages
    are reused.  Idle buffers are freed after
    ``PARALLEL_SHARE_POOL_IDLE_SECONDS``; at most
    ``PARALLEL_SHARE_POOL_MAX_BYTES`` and ``PARALLEL_SHARE_POOL_MAX_BUFFERS``
    are kept.
    """

    def __init__(self):
        self._free = []
        self._lock = threading.Lock()
        self._timer = None
        self._to_populate = []  # returned buffers whose pages are not mapped here yet
        self._populator = None  # the thread mapping them (while there are some)

    def take(self, nbytes, kind):
        """An idle buffer of ``kind`` for ``nbytes`` (a little larger at
        most), or None."""
        with self._lock:
            fits = [b for b in self._free if b.kind == kind
                    and nbytes <= b.size <= nbytes + nbytes // 4 + 2**20]
            if not fits:
                return None
            buf = min(fits, key=lambda b: b.size)
            self._free.remove(buf)
            if buf in self._to_populate:  # the map fills it now
                self._to_populate.remove(buf)
        return buf

    def give_back(self, buf, populate=True):
        """Keep ``buf`` for later arrays (no worker reads it any more); its
        pages are mapped here in the background unless ``populate`` is False
        (a map still runs: :meth:`populate_idle` when it ends)."""
        if not _config.PARALLEL_SHARE_POOL or buf.retained or not buf.alive \
                or buf.pid != os.getpid():
            buf.close()
            return
        now = time.monotonic()
        with self._lock:
            buf.last_used = now
            self._free.append(buf)
            drop = self._over_budget_locked(now)
            if self._timer is None and self._free:
                self._arm_timer_locked(_config.PARALLEL_SHARE_POOL_IDLE_SECONDS + 0.5)
        for b in drop:
            b.close()
        if populate and not buf.populated and buf not in drop:
            self._start_populating([buf])

    def populate_idle(self):
        """Map here the pages of every idle buffer not mapped yet (after a
        map, off its path), so that a reuse is a memcpy."""
        with self._lock:
            todo = [b for b in self._free if not b.populated]
        if todo:
            self._start_populating(todo)

    def _start_populating(self, bufs):
        # one thread for all, while there are some
        with self._lock:
            self._to_populate.extend(b for b in bufs if b not in self._to_populate)
            if self._populator is None:
                self._populator = threading.Thread(target=self._populate_loop, daemon=True,
                                                   name="gilfree-populate")
                self._populator.start()

    def _populate_loop(self):
        while True:
            with self._lock:
                if not self._to_populate:
                    self._populator = None
                    return
                buf = self._to_populate.pop(0)
            with contextlib.suppress(ValueError):  # closed meanwhile (pool trimmed or cleared)
                buf.populate()

    def _over_budget_locked(self, now):
        idle = _config.PARALLEL_SHARE_POOL_IDLE_SECONDS
        max_count = pool_max_buffers()
        keep, drop = [], []
        total = 0
        for b in sorted(self._free, key=lambda b: b.last_used, reverse=True):
            if (now - b.last_used < idle
                    and total + b.size <= _config.PARALLEL_SHARE_POOL_MAX_BYTES
                    and len(keep) < max_count):
                keep.append(b)
                total += b.size
            else:
                drop.append(b)
        self._free = keep
        return drop

    def _on_timer(self):
        with self._lock:
            self._timer = None
            drop = self._over_budget_locked(time.monotonic())
            if self._free:
                self._arm_timer_locked(_config.PARALLEL_SHARE_POOL_IDLE_SECONDS / 2)
        for b in drop:
            b.close()

    def _arm_timer_locked(self, delay):
        self._timer = threading.Timer(delay, self._on_timer)
        self._timer.daemon = True
        self._timer.start()

    @property
    def nbytes(self):
        """Bytes held by idle buffers."""
        with self._lock:
            return sum(b.size for b in self._free)

    def __len__(self):
        with self._lock:
            return len(self._free)

    def clear(self):
        """Free every idle buffer now (after their pages are mapped, if that
        is under way)."""
        with self._lock:
            self._to_populate = []
            busy = self._populator
        if busy is not None:
            busy.join()
        with self._lock:
            drop, self._free = self._free, []
        for b in drop:
            b.close()

    def _after_fork_in_child(self):
        """A forked child owns none of these buffers: forget them (their
        finalizers do nothing outside the creator) and the threads."""
        self.__init__()


def fd_limit():
    """This process's soft limit of open files (None: no limit known)."""
    try:
        import resource  # POSIX only

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):  # pragma: no cover
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def pool_max_buffers():
    """Idle buffers the pool may keep: ``PARALLEL_SHARE_POOL_MAX_BUFFERS``, at
    most an eighth of the open-file limit (each holds two descriptors)."""
    cap = _config.PARALLEL_SHARE_POOL_MAX_BUFFERS
    soft = fd_limit()
    return cap if soft is None else max(1, min(cap, soft // 8))


#: the pool of this process (see :class:`BufferPool`)
POOL = BufferPool()


def _after_fork_in_child():
    POOL._after_fork_in_child()
    _reset_transport()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
