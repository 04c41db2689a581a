"""The shared-memory side of one map (caller side): the buffers its
function and items travel in, pickles that send large arrays and
:class:`SharedArray` views by reference to them, and their release when
the chunks that use them are done.  See :mod:`._shared` for the buffers."""

import io
import threading

import cloudpickle
import numpy as np

from .. import _config
from ._attach import rebuild as _rebuild
from ._shared import POOL, Buffer, SharedArray, require_transport


class _Entry:
    """One array shared by a map: its buffer, the source (kept alive: its
    address is the cache key), and how many unfinished chunks use it (plus
    one for the map itself if the function uses it)."""

    __slots__ = ("key", "buf", "src", "uses", "reduction")

    def __init__(self, key, buf, src, reduction):
        self.key = key
        self.buf = buf
        self.src = src
        self.uses = 0
        self.reduction = reduction


class MapSegments:
    """The shared memory of one processes map.

    - :meth:`new_buffer`: buffers for the whole map (its control board, a
      large pickled function), freed by :meth:`close`.
    - :meth:`pickle`: pickles with large arrays sent by reference.  Arrays
      of the function (``scope="map"``) stay until :meth:`close`; those of a
      chunk's items are counted per chunk and released by :meth:`release`
      when the last chunk using them has finished.
    """

    def __init__(self, kind=None, min_bytes=None):
        self.kind = require_transport() if kind is None else kind
        self.min_bytes = _config.PARALLEL_SHARE_MIN_BYTES if min_bytes is None else min_bytes
        self._entries = {}  # key -> _Entry
        self._own = []  # buffers of the whole map
        self._collect = None  # entries the pickle in progress uses
        self._lock = threading.RLock()
        self.live_bytes = 0  # bytes of argument buffers in use
        self.live_count = 0
        self.closed = False

    def __len__(self):
        with self._lock:
            return len(self._own) + len(self._entries)

    def new_buffer(self, nbytes, what):
        buf = Buffer(nbytes, self.kind, what)
        with self._lock:
            self._own.append(buf)
        return buf

    def reduce_array(self, a):
        """A pickle reduction sending ``a`` by reference, or None."""
        if isinstance(a, SharedArray):
            if a.is_shared:
                seg = a._gf_seg
                lo = a.__array_interface__["data"][0]
                return (_rebuild, (seg.ref, lo - a._gf_base, a.shape, a.strides, a.dtype))
            a = a.view(np.ndarray)
        if a.nbytes < self.min_bytes or a.dtype.hasobject:
            return None
        key = (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._new_entry(key, a)
            if self._collect is not None:
                self._collect.add(entry)
        return entry.reduction

    def _new_entry(self, key, a):
        what = "an array argument of process tasks"
        nbytes = max(a.nbytes, 1)
        buf = POOL.take(nbytes, self.kind)
        try:
            if buf is None:
                buf = Buffer(nbytes, self.kind, what, data=a)
            else:
                buf.fill(a)
        except BaseException:
            if buf is not None:
                buf.close()
            raise
        red = (_rebuild, (buf.ref, 0, a.shape, _c_strides(a.shape, a.itemsize), a.dtype))
        entry = _Entry(key, buf, a, red)
        self._entries[key] = entry
        self.live_bytes += buf.size
        self.live_count += 1
        return entry

    def pickle(self, obj, scope="map"):
        """``(blob, entries)``: ``obj`` pickled; ``entries`` the shared
        arrays it uses, held once more each (by the map for ``scope="map"``,
        else until :meth:`release`)."""
        with self._lock:
            outer, self._collect = self._collect, set()
            try:
                blob = _dumps(obj, self)
                entries = self._collect
            finally:
                self._collect = outer
            for e in entries:
                e.uses += 1
        return blob, entries

    def release(self, entries, retained=(), reuse=True):
        """A chunk that used ``entries`` has finished; a buffer no chunk
        uses any more goes back to the pool (``reuse`` and no worker kept a
        view of it: ``retained`` tokens) or is freed."""
        retained = set(retained)
        done = []
        with self._lock:
            for e in entries:
                if e.buf.token in retained:
                    e.buf.retained = True
                e.uses -= 1
                if e.uses <= 0 and self._entries.get(e.key) is e:
                    del self._entries[e.key]
                    self.live_bytes -= e.buf.size
                    self.live_count -= 1
                    e.src = None
                    done.append(e.buf)
        for buf in done:
            if reuse and not self.closed:
                POOL.give_back(buf, populate=False)  # (when the map ends)
            else:
                buf.close()

    def close(self):
        """Free everything the map still holds (a worker may still read
        what a chunk that never reported used: it keeps its own mapping)."""
        with self._lock:
            self.closed = True
            entries, self._entries = list(self._entries.values()), {}
            own, self._own = self._own, []
            self.live_bytes = self.live_count = 0
        for e in entries:
            e.src = None
            e.buf.close()
        for b in own:
            b.close()
        POOL.populate_idle()


def _c_strides(shape, itemsize):
    strides = []
    acc = itemsize
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


_pickler = None


def _sharing_pickler():
    """cloudpickle's Pickler, sending large arrays by reference (made once)."""
    global _pickler
    if _pickler is None:
        class _SharingPickler(cloudpickle.Pickler):
            segments = None

            def reducer_override(self, o):
                t = type(o)
                if t is np.ndarray or t is SharedArray:
                    red = self.segments.reduce_array(o)
                    if red is not None:
                        return red
                return super().reducer_override(o)

        _pickler = _SharingPickler
    return _pickler


def _dumps(obj, segments):
    buf = io.BytesIO()
    p = _sharing_pickler()(buf, protocol=5)
    p.segments = segments
    p.dump(obj)
    return buf.getvalue()


def make_dumps(segments):
    """``dumps(obj) -> bytes`` with cloudpickle, sending large arrays and
    SharedArrays by reference to buffers held by ``segments`` for the whole
    map."""
    return lambda obj: segments.pickle(obj)[0]


def check_picklable(obj, min_bytes=None):
    """Pickle ``obj`` as a processes map would, without copying any array
    into shared memory (a large array costs a placeholder): raises what
    pickling it would raise."""
    limit = _config.PARALLEL_SHARE_MIN_BYTES if min_bytes is None else min_bytes

    class _DryPickler(cloudpickle.Pickler):
        def reducer_override(self, o):
            if type(o) in (np.ndarray, SharedArray) and o.nbytes >= limit \
                    and not o.dtype.hasobject:
                return (tuple, ((),))
            return super().reducer_override(o)

    _DryPickler(io.BytesIO(), protocol=5).dump(obj)
