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
  anywhere in a process task's function or arguments are copied once per
  map (the same array given to many tasks is copied once) into a buffer of
  the :class:`BufferPool` (an anonymous ``memfd``, Linux), or where that is
  unavailable into a segment owned by the map.  Buffers go back to the pool
  when the map ends normally (their pages, never their data, serve a later
  map) and are freed after errors, timeouts, crashes and Ctrl-C; segments
  are unlinked when the map ends, whatever the way.

Workers map segments read-only with ``shm_open`` + ``mmap`` directly rather
than through :class:`multiprocessing.shared_memory.SharedMemory`, whose
resource-tracker registration in every attaching process is what makes
other libraries warn about, or unlink, segments they do not own.  Segments
this process creates *are* registered with multiprocessing's resource
tracker, which unlinks them if this process is killed outright.
"""

import errno
import io
import mmap
import os
import secrets
import threading
import weakref

import numpy as np

from .. import _config

__all__ = ["SharedArray", "shared"]

try:  # POSIX only; shared memory is unavailable elsewhere
    import _posixshmem
except ImportError:  # pragma: no cover - non-POSIX
    _posixshmem = None

_SHM_DIR = "/dev/shm"
#: Prefix of every segment gilfree creates (visible in /dev/shm).
SEGMENT_PREFIX = "gilfree_"


def _new_name():
    return f"{SEGMENT_PREFIX}{os.getpid()}_{secrets.token_hex(6)}"


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


def map_readonly(name, size):
    """Map an existing segment read-only (no resource-tracker registration)."""
    if name.startswith("fd:"):
        return _map_pooled(name, size)
    fd = _posixshmem.shm_open("/" + name, os.O_RDONLY, mode=0o600)
    try:
        return mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)


def _map_pooled(name, size):
    """Map a pooled buffer of another process read-only; ``name`` is
    ``fd:<pid>:<fd>:<inode>:<token>``."""
    _, pid, fd, ino, _ = name.split(":")
    f = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY)
    try:
        if os.fstat(f).st_ino != int(ino):
            raise FileNotFoundError(f"shared buffer {name} is gone (its map has ended)")
        return mmap.mmap(f, size, access=mmap.ACCESS_READ)
    finally:
        os.close(f)


def map_readwrite(name, size):
    fd = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=0o600)
    try:
        return mmap.mmap(fd, size, access=mmap.ACCESS_WRITE)
    finally:
        os.close(fd)


def _tracker(action, name):
    """Register/unregister with multiprocessing's resource tracker, which
    unlinks what is still registered if this process is killed outright."""
    try:
        from multiprocessing import resource_tracker

        getattr(resource_tracker, action)("/" + name, "shared_memory")
    except Exception:  # pragma: no cover - the tracker is a safety net only
        pass


def _unlink_name(name, mm):
    if mm is not None:
        try:
            mm.close()
        except BufferError:  # pragma: no cover - a view still exports the buffer
            pass
    try:
        _posixshmem.shm_unlink("/" + name)
    except FileNotFoundError:
        pass
    _tracker("unregister", name)


def _pwrite_all(fd, data, offset=0):
    if isinstance(data, np.ndarray):  # C-contiguous; as bytes, whatever the dtype
        data = data.reshape(-1).view(np.uint8)  # (datetime64 has no buffer format)
    mv = memoryview(data).cast("B")
    done = 0
    while done < len(mv):
        done += os.pwrite(fd, mv[done : done + 2**30], offset + done)


def _write_into(fd, data):
    """Write a C-contiguous buffer into the segment with ``pwrite``: the
    kernel copies straight into new shared pages (no page fault per 4 KiB
    page, as a copy through a fresh mapping has).  One thread: writers of
    one tmpfs file take turns on its lock, and two threads writing one
    segment were measured slower than one (the cost is allocating pages)."""
    _pwrite_all(fd, data)


class Segment:
    """A shared-memory segment created (and to be unlinked) by this process.

    ``data`` (a C-contiguous buffer) is written in with ``pwrite``;
    without it the creator keeps a read-write mapping (see
    :meth:`writable_buffer`).
    """

    def __init__(self, nbytes, *, what="a shared array", data=None):
        if _posixshmem is None:  # pragma: no cover
            raise OSError("shared memory needs a POSIX system (shm_open)")
        nbytes = max(int(nbytes), 1)
        _check_space(nbytes, what)
        name = _new_name()
        fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
        self._mm = None
        try:
            os.ftruncate(fd, nbytes)
            if data is not None:
                _write_into(fd, data)
            else:
                self._mm = mmap.mmap(fd, nbytes, flags=mmap.MAP_SHARED,
                                     prot=mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException as exc:
            os.close(fd)
            try:
                _posixshmem.shm_unlink("/" + name)
            except FileNotFoundError:  # pragma: no cover
                pass
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                _check_space(2**62, what)  # raises the clear MemoryError
            raise
        os.close(fd)
        _tracker("register", name)
        self.name = name
        self.size = nbytes
        self._finalizer = weakref.finalize(self, _unlink_name, name, self._mm)

    def writable_buffer(self):
        """The creator's read-write mapping (until :meth:`close_writer`)."""
        return memoryview(self._mm)

    def close_writer(self):
        """Drop this process's read-write mapping; the segment stays."""
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:  # pragma: no cover
                pass

    @property
    def alive(self):
        return self._finalizer.alive

    def unlink(self):
        self._finalizer()


# --------------------------------------------------------------------------
# SharedArray
# --------------------------------------------------------------------------


class SharedArray(np.ndarray):
    """A read-only ndarray backed by a shared-memory segment.

    Made by :func:`shared`.  Views and slices of it stay shared (a process
    worker maps the same pages); results of computations on it are ordinary
    arrays.  ``release()`` (or leaving a ``with`` block) unlinks the
    segment: views in this process stay valid, but it can no longer be sent
    to new process workers.
    """

    # the segment and the address of its first byte in this process
    _gf_seg = None
    _gf_base = 0

    def __array_finalize__(self, obj):
        seg = getattr(obj, "_gf_seg", None)
        if seg is None:
            return
        base = obj._gf_base
        lo, hi = _extent(self)
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
        """True while the segment exists and this array lies inside it."""
        return self._gf_seg is not None and self._gf_seg.alive

    @property
    def segment_name(self):
        """Name of the shared-memory segment (in /dev/shm), or None."""
        return None if self._gf_seg is None else self._gf_seg.name

    def release(self):
        """Unlink the segment now (views in this process stay readable)."""
        if self._gf_seg is not None:
            self._gf_seg.unlink()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


def _plain(x):
    return x.view(np.ndarray) if isinstance(x, SharedArray) else x


def _extent(a):
    """Lowest and one-past-highest byte address an array touches."""
    lo = hi = a.__array_interface__["data"][0]
    if a.size == 0:
        return lo, lo
    for n, s in zip(a.shape, a.strides):
        if s >= 0:
            hi += (n - 1) * s
        else:
            lo += (n - 1) * s
    return lo, hi + a.itemsize


def _detach_results(result):
    if isinstance(result, SharedArray) and not result.is_shared:
        return result.view(np.ndarray)
    if isinstance(result, tuple):
        return tuple(_detach_results(r) for r in result)
    if isinstance(result, list):
        return [_detach_results(r) for r in result]
    return result


def _array_into_segment(a, what, owner=None):
    """A new segment holding a C-ordered copy of ``a`` (registered with
    ``owner``'s segments if given)."""
    src = a if a.flags.c_contiguous else np.ascontiguousarray(a)
    if owner is not None:
        return owner.new_segment(src.nbytes, what, data=src)
    return Segment(src.nbytes, what=what, data=src)


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
        ``release()`` or at the end of a ``with`` block, and at exit.

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
            "shared() needs an array of plain values (numbers, bools, strings, structured "
            f"records without objects); got dtype {a.dtype}, which holds Python objects"
        )
    seg = _array_into_segment(a, "shared()")
    mm = map_readonly(seg.name, seg.size)
    view = np.ndarray(a.shape, dtype=a.dtype, buffer=mm)
    out = view.view(SharedArray)
    out._gf_seg = seg
    out._gf_base = view.__array_interface__["data"][0]
    out.flags.writeable = False
    return out


# --------------------------------------------------------------------------
# The process transport: pickling with shared-memory references
# --------------------------------------------------------------------------


def _rebuild_shared(name, size, offset, shape, strides, dtype):
    """Worker side: a read-only view of a segment (mapped once per map)."""
    from ._worker import attach_segment, populate

    mm = attach_segment(name, size)
    if shape and 0 not in shape:
        lo = hi = offset
        for n, st in zip(shape, strides):
            if st >= 0:
                hi += (n - 1) * st
            else:
                lo += (n - 1) * st
        populate(name, mm, lo, hi + np.dtype(dtype).itemsize)
    return np.ndarray(shape, dtype=dtype, buffer=mm, offset=offset, strides=strides)


def _rebuild_pooled(pid, fd, ino, token, size, shape, strides, dtype):
    """Worker side: a read-only view of a pooled buffer of the caller
    (opened through ``/proc/<pid>/fd/<fd>``, mapped once per map)."""
    return _rebuild_shared(f"fd:{pid}:{fd}:{ino}:{token}", size, 0, shape, strides, dtype)


# --------------------------------------------------------------------------
# A pool of anonymous shared buffers for automatically shared arrays
# --------------------------------------------------------------------------


class _PoolBuffer:
    """An anonymous shared-memory file (``memfd``) and this process's
    populated read-write mapping of it."""

    __slots__ = ("fd", "size", "ino", "mm", "last_used", "populated", "_finalizer",
                 "__weakref__")

    def __init__(self, nbytes):
        fd = os.memfd_create(f"{SEGMENT_PREFIX}{os.getpid()}", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, nbytes)
            self.mm = mmap.mmap(fd, nbytes, flags=mmap.MAP_SHARED,
                                prot=mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.size = nbytes
        self.ino = os.fstat(fd).st_ino
        self.last_used = 0.0
        self.populated = False
        self._finalizer = weakref.finalize(self, _close_buffer, fd, self.mm)

    def write_new(self, a):
        """Fill the new buffer's pages with array ``a`` in C order."""
        if self.size >= _HUGE_PAGE and shmem_huge_pages_on_advice():
            # the kernel gives shared memory huge pages only to mappings that
            # ask (shmem_enabled=advise): fill through one, about 4x cheaper
            # than 4 KiB pages
            self.mm.madvise(mmap.MADV_HUGEPAGE)
            self.fill(a)
            self.populated = True
        else:
            # pwrite is the cheapest way to fill new 4 KiB pages (and takes
            # huge pages where the kernel gives them to every shared file);
            # this process's mapping is populated later (see populate), off
            # the map's path
            _pwrite_all(self.fd, a if a.flags.c_contiguous else np.ascontiguousarray(a))

    def populate(self):
        """Map every page into this process at once (MADV_POPULATE_WRITE),
        so that a reuse copies at memcpy speed instead of faulting per page."""
        if self.populated:
            return
        self.populated = True
        try:
            import ctypes

            # a view keeps the mapping from being closed meanwhile; ctypes
            # releases the GIL for the call (the mmap module's madvise keeps it)
            view = np.frombuffer(self.mm, dtype=np.uint8)
            ctypes.CDLL(None).madvise(ctypes.c_void_p(view.ctypes.data),
                                      ctypes.c_size_t(self.size),
                                      ctypes.c_int(_MADV_POPULATE_WRITE))
            del view
        except (OSError, ValueError, AttributeError):  # no madvise: faults on reuse
            pass

    def fill(self, a):
        dst = np.ndarray(a.shape, dtype=a.dtype, buffer=self.mm)
        np.copyto(dst, a, casting="no")  # C order, whatever the strides of ``a``

    def close(self):
        self._finalizer()


def _close_buffer(fd, mm):
    """Unmap and close a pooled buffer (also when it is garbage collected
    without close(), e.g. an imap that was never iterated)."""
    try:
        mm.close()
    except BufferError:  # a view is alive (a populate call): unmapped when it goes
        pass
    try:
        os.close(fd)
    except OSError:  # pragma: no cover
        pass


_MADV_POPULATE_WRITE = 23  # Linux 5.14
_HUGE_PAGE = 2 * 2**20
_THP = "/sys/kernel/mm/transparent_hugepage"
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

        top = mode(f"{_THP}/shmem_enabled")
        sizes = []
        try:
            sizes = [mode(f"{_THP}/{d}/shmem_enabled") for d in os.listdir(_THP)
                     if d.startswith("hugepages-")]
        except OSError:
            pass
        # per-size settings, where the kernel has them, override the global
        # one unless they say "inherit"
        _huge_on_advice = "advise" in sizes or (
            top == "advise" and (not sizes or "inherit" in sizes))
    return _huge_on_advice


_fill_pool = None
_fill_lock = threading.Lock()


def _fill_threads():
    """The threads that fill new shared buffers (started on first use)."""
    global _fill_pool
    with _fill_lock:
        if _fill_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            n = max(1, min(_config.PARALLEL_SHARE_FILL_THREADS, os.cpu_count() or 1))
            _fill_pool = ThreadPoolExecutor(n, thread_name_prefix="gilfree-fill")
        return _fill_pool


def _forget_fill_threads():
    """In a forked child the parent's fill threads do not exist."""
    global _fill_pool, _fill_lock
    _fill_pool = None
    _fill_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_fill_threads)


class BufferPool:
    """Buffers for the arrays a processes map shares automatically.

    Allocating fresh shared pages costs several times more than copying
    into pages that already exist, so a buffer is kept after a map that
    ended normally and reused by the next map for an array of about its
    size.  The *data* is copied again by every map (nothing can be stale);
    only the pages are reused.  Idle buffers are freed after
    ``PARALLEL_SHARE_POOL_IDLE_SECONDS``, and at most
    ``PARALLEL_SHARE_POOL_MAX_BYTES`` are kept.  They are anonymous
    (``memfd``): nothing appears in /dev/shm, and the kernel frees them
    when this process and its workers are gone.  Workers open them through
    ``/proc/<pid>/fd``.
    """

    def __init__(self):
        self._free = []
        self._lock = threading.Lock()
        self._timer = None
        self._populating = []  # threads mapping pages of returned buffers

    @staticmethod
    def available():
        return (_config.PARALLEL_SHARE_POOL and hasattr(os, "memfd_create")
                and os.path.isdir(f"/proc/{os.getpid()}/fd"))

    def acquire(self, a):
        """A buffer holding a C-ordered copy of array ``a``."""
        buf, filling = self.acquire_async(a)
        if filling is not None:
            filling.result()
        return buf

    def acquire_async(self, a):
        """A buffer for a C-ordered copy of ``a``, and None when the copy is
        done or a future that completes when it is.  A pooled buffer is
        refilled at once (a memcpy into mapped pages); a new one is filled by
        one of the fill threads, so that the caller can go on (pickling,
        more buffers) while the kernel allocates its pages."""
        nbytes = max(a.nbytes, 1)
        buf = None
        with self._lock:
            fits = [b for b in self._free if nbytes <= b.size <= nbytes + nbytes // 4 + 2**20]
            if fits:
                buf = min(fits, key=lambda b: b.size)
                self._free.remove(buf)
        if buf is not None:
            buf.fill(a)
            return buf, None
        buf = _PoolBuffer(nbytes)
        try:
            return buf, _fill_threads().submit(buf.write_new, a)
        except BaseException:
            buf.close()
            raise

    def give_back(self, bufs):
        """Keep ``bufs`` for later maps (their map ended normally)."""
        import time

        if not bufs:
            return
        now = time.monotonic()
        with self._lock:
            for b in bufs:
                b.last_used = now
                self._free.append(b)
            drop = self._over_budget_locked(now)
            if self._timer is None and self._free:
                self._timer = threading.Timer(_config.PARALLEL_SHARE_POOL_IDLE_SECONDS + 0.5,
                                              self._on_timer)
                self._timer.daemon = True
                self._timer.start()
        for b in drop:
            b.close()
        fresh = [b for b in bufs if not b.populated and b not in drop]
        if fresh:
            t = threading.Thread(target=_populate_all, args=(fresh,), daemon=True,
                                 name="gilfree-populate")
            with self._lock:
                self._populating = [p for p in self._populating if p.is_alive()] + [t]
            t.start()

    def _over_budget_locked(self, now):
        idle = _config.PARALLEL_SHARE_POOL_IDLE_SECONDS
        keep, drop = [], []
        total = 0
        for b in sorted(self._free, key=lambda b: b.last_used, reverse=True):
            if now - b.last_used < idle and total + b.size <= _config.PARALLEL_SHARE_POOL_MAX_BYTES:
                keep.append(b)
                total += b.size
            else:
                drop.append(b)
        self._free = keep
        return drop

    def _on_timer(self):
        import time

        with self._lock:
            self._timer = None
            drop = self._over_budget_locked(time.monotonic())
            if self._free:
                self._timer = threading.Timer(_config.PARALLEL_SHARE_POOL_IDLE_SECONDS / 2,
                                              self._on_timer)
                self._timer.daemon = True
                self._timer.start()
        for b in drop:
            b.close()

    @property
    def nbytes(self):
        """Bytes held by idle buffers."""
        with self._lock:
            return sum(b.size for b in self._free)

    def clear(self):
        """Free every idle buffer now (after their pages are mapped, if that
        is under way)."""
        with self._lock:
            busy, self._populating = self._populating, []
        for t in busy:
            t.join()
        with self._lock:
            drop, self._free = self._free, []
        for b in drop:
            b.close()


def _populate_all(bufs):
    for b in bufs:
        try:
            b.populate()
        except ValueError:  # closed meanwhile (pool trimmed or cleared)
            pass


#: the pool of this process (see :class:`BufferPool`)
POOL = BufferPool()


def _unfinished(fill):
    """Whether a task using the buffer of ``fill`` (a future, or None for a
    buffer filled at once) must wait for it, or fail with it."""
    if fill is None:
        return False
    return not fill.done() or fill.cancelled() or fill.exception() is not None


class MapSegments:
    """Segments one map created; :meth:`close` unlinks them all."""

    def __init__(self, min_bytes=None):
        self.min_bytes = _config.PARALLEL_SHARE_MIN_BYTES if min_bytes is None else min_bytes
        self._by_key = {}
        self._segments = []
        self._pooled = []
        self._fills = []  # futures of buffers being filled by the fill threads
        self._pending = []  # those a task pickled since take_pending() needs
        self._lock = threading.Lock()
        self._use_pool = None

    def __len__(self):
        return len(self._segments)

    @property
    def names(self):
        return [s.name for s in self._segments]

    def new_segment(self, nbytes, what, data=None):
        seg = Segment(nbytes, what=what, data=data)
        with self._lock:
            self._segments.append(seg)
        return seg

    def reduce_array(self, a):
        """A pickle reduction sending ``a`` by reference, or None."""
        if isinstance(a, SharedArray):
            if a.is_shared:
                lo = a.__array_interface__["data"][0]
                return (
                    _rebuild_shared,
                    (a._gf_seg.name, a._gf_seg.size, lo - a._gf_base, a.shape, a.strides, a.dtype),
                )
            a = a.view(np.ndarray)
        if a.nbytes < self.min_bytes or a.dtype.hasobject:
            return None
        key = (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)
        with self._lock:
            hit = self._by_key.get(key)
            if hit is not None and _unfinished(hit[2]):
                self._pending.append(hit[2])  # this task, too, waits for that fill
        if hit is None:
            filling = None
            if self._use_pool is None:
                self._use_pool = BufferPool.available()
            if self._use_pool:
                buf, filling = POOL.acquire_async(a)
                with self._lock:
                    self._pooled.append(buf)
                    if filling is not None:
                        self._fills.append(filling)
                        self._pending.append(filling)
                # a token per use: workers map it anew in each map
                red = (_rebuild_pooled, (os.getpid(), buf.fd, buf.ino, secrets.token_hex(4),
                                         buf.size, a.shape, _c_strides(a.shape, a.itemsize),
                                         a.dtype))
            else:
                seg = _array_into_segment(a, "sharing an array argument with process workers",
                                          owner=self)
                red = (_rebuild_shared, (seg.name, seg.size, 0, a.shape,
                                         _c_strides(a.shape, a.itemsize), a.dtype))
            # keep ``a`` referenced: its address is the cache key (and a
            # fill thread may still be copying it)
            hit = (red, a, filling)
            with self._lock:
                self._by_key[key] = hit
        return hit[0]

    def take_pending(self):
        """Fills that what was pickled since the last call needs done before
        a worker may read it (futures; empty when every buffer is ready)."""
        with self._lock:
            pending, self._pending = self._pending, []
        return [f for f in pending if _unfinished(f)]

    def wait_pending(self):
        """Block until what was pickled since the last take is readable;
        re-raises a failed fill (e.g. out of memory)."""
        for f in self.take_pending():
            f.result()

    def close(self, reuse=False):
        """Unlink the segments; pooled buffers go back to the pool if
        ``reuse`` (no worker can still be reading them), else are freed."""
        with self._lock:
            segs, self._segments = self._segments, []
            pooled, self._pooled = self._pooled, []
            fills, self._fills = self._fills, []
            self._pending = []
            self._by_key.clear()
        # a buffer is closed only once no fill thread writes into it
        for f in fills:
            f.cancel()
        for f in fills:
            try:
                f.result()
            except Exception:  # cancelled, or failed: the buffer is freed below
                reuse = False
        for s in segs:
            s.unlink()
        if reuse:
            POOL.give_back(pooled)
        else:
            for b in pooled:
                b.close()


def _c_strides(shape, itemsize):
    strides = []
    acc = itemsize
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


def make_dumps(segments):
    """``dumps(obj) -> bytes`` with cloudpickle, sending large arrays and
    SharedArrays through shared memory owned by ``segments``."""
    import cloudpickle

    class _SharingPickler(cloudpickle.Pickler):
        def reducer_override(self, obj):
            t = type(obj)
            if t is np.ndarray or t is SharedArray:
                red = segments.reduce_array(obj)
                if red is not None:
                    return red
            return super().reducer_override(obj)

    def dumps(obj):
        buf = io.BytesIO()
        _SharingPickler(buf, protocol=5).dump(obj)
        return buf.getvalue()

    return dumps
