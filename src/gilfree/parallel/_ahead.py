"""What a map reads ahead of its workers, counted in bytes; what it sends
(:class:`_Input`, a part of ``_api._Run``); and how Ctrl-C reaches the
caller's scheduler."""

import contextlib
import itertools
import signal
import threading

import numpy as np

from ._errors import add_note, unpicklable_error
from ._segments import MapSegments, check_picklable

# -- Read-ahead in bytes -----------------------------------------------------

#: types whose items hold no array (the fast path of the read-ahead count)
_PLAIN = frozenset({int, float, complex, bool, type(None), str, bytes})
_SAMPLE = 32


def _array_bytes(obj, depth=0, seen=None):
    """Bytes of the NumPy arrays an item holds directly or in tuples, lists
    and dicts (two levels deep; the same array counted once)."""
    t = type(obj)
    if t in _PLAIN:
        return 0
    if isinstance(obj, np.ndarray):
        if seen is not None:
            key = id(obj)
            if key in seen:
                return 0
            seen.add(key)
        return obj.nbytes
    if depth >= 2:
        return 0
    if isinstance(obj, (tuple, list, dict)):
        seen = set() if seen is None else seen
        return sum(_array_bytes(o, depth + 1, seen) for o in _first_values(obj))
    return 0


def _first_values(obj):
    """The first 64 elements of a tuple or list, or values of a dict."""
    return itertools.islice(obj.values() if isinstance(obj, dict) else obj, 64)


def _arrays_of(obj, out, depth=0):
    """``{key: nbytes}`` of the arrays an item holds (as _array_bytes)."""
    if type(obj) in _PLAIN:
        return
    if isinstance(obj, np.ndarray):
        # the same array (memory, shape, strides, dtype) once; views of one
        # array count their own bytes (what a process map copies)
        out[(obj.__array_interface__["data"][0], obj.shape, obj.strides, obj.dtype.str)] = \
            obj.nbytes
        return
    if depth >= 2:
        return
    if isinstance(obj, (tuple, list, dict)):
        for o in _first_values(obj):
            _arrays_of(o, out, depth + 1)


class _Ahead:
    """Bytes of the arrays held by the chunks in flight, each array counted
    once however many items and chunks hold it."""

    def __init__(self):
        self.nbytes = 0
        self.counts = {}  # key -> [nbytes, chunks holding it]
        self._by_chunk = {}
        # None: unknown yet; True: items hold no arrays (read at C speed)
        self.plain_items = None

    def sample_is_plain(self, items):
        step = max(1, len(items) // _SAMPLE)
        return all(_array_bytes(it) == 0 for it in items[::step])

    def add(self, chunk, found=None):
        if found is None:
            if self.plain_items:
                return
            found = {}
            for item in chunk.items:
                _arrays_of(item, found)
        if not found:
            return
        self._by_chunk[chunk.id] = list(found)
        for key, nbytes in found.items():
            c = self.counts.get(key)
            if c is None:
                self.counts[key] = [nbytes, 1]
                self.nbytes += nbytes
            else:
                c[1] += 1

    def remove(self, chunk):
        for key in self._by_chunk.pop(chunk.id, ()):
            c = self.counts[key]
            c[1] -= 1
            if c[1] == 0:
                del self.counts[key]
                self.nbytes -= c[0]

    def clear(self):
        self.counts.clear()
        self._by_chunk.clear()
        self.nbytes = 0


# -- Ctrl-C and exit ---------------------------------------------------------


class _SigintWatch:
    """Counts SIGINTs that arrive while maps run in the main thread, so that
    a KeyboardInterrupt raised in the consumer's loop body (which closes an
    ``imap`` with GeneratorExit) still kills the map's workers.  Installed
    only over Python's default handler, and put back when the last map
    ends; the handler then raises KeyboardInterrupt as the default does."""

    def __init__(self):
        self.count = 0
        self._users = 0
        self._lock = threading.Lock()

    def _handler(self, signum, frame):
        self.count += 1
        signal.default_int_handler(signum, frame)

    def watch(self):
        if threading.current_thread() is not threading.main_thread():
            return False
        with self._lock:
            try:
                current = signal.getsignal(signal.SIGINT)
                if current is signal.default_int_handler:
                    signal.signal(signal.SIGINT, self._handler)
                elif current != self._handler:
                    return False  # the program's own handler: leave it alone
            except (ValueError, OSError):  # pragma: no cover - no signals here
                return False
            self._users += 1
            return True

    def unwatch(self):
        with self._lock:
            self._users -= 1
            if self._users <= 0:
                self._users = 0
                with contextlib.suppress(ValueError, OSError):  # exiting
                    if signal.getsignal(signal.SIGINT) == self._handler:
                        signal.signal(signal.SIGINT, signal.default_int_handler)

    def after_fork(self):
        self._lock = threading.Lock()


_SIGINT = _SigintWatch()


class _Input:
    """What a map sends: the function checked and prepared once, the items
    pulled lazily into chunks within the read-ahead budget, and the
    results handed back in order."""

    def check_picklable(self):
        """For imap: fail now, not at the first next(), if the function
        cannot be sent to process workers (copies no array)."""
        if self.backend.needs_pickling:
            try:
                check_picklable(self.func)
            except Exception as exc:
                raise unpicklable_error("func", self.func, check_picklable, "func",
                                         exc) from None

    def _prepare(self):
        """Pickle the function (sharing its large arrays) for the workers."""
        if not self.backend.needs_pickling:
            return
        self.segments = MapSegments()
        try:
            self.fn_blob, _ = self.segments.pickle(self.func)
        except (OSError, MemoryError):  # shared memory could not be had
            raise
        except Exception as exc:
            raise unpicklable_error("func", self.func, check_picklable, "func",
                                     exc) from None

    def dump_items(self, chunk):
        """``(blob, entries)``: the chunk's items pickled for process
        workers, and the shared arrays they use (held until released)."""
        try:
            return self.segments.pickle(chunk.items, scope="chunk")
        except (OSError, MemoryError):
            raise
        except Exception:
            for pos, item in enumerate(chunk.items):
                try:
                    check_picklable(item)
                except Exception as item_exc:
                    raise unpicklable_error(
                        f"item {chunk.start + pos}", item, check_picklable,
                        f"item {chunk.start + pos}", item_exc,
                    ) from None
            raise  # pragma: no cover

    def _take(self, src, n, start):
        """``(items, capped)``: the next chunk's items, up to ``n``, and no
        more than the chunk's share of ``prefetch_bytes`` of arrays not
        already in flight (``capped``: it stopped there).  Items are read one
        by one while they hold arrays, at C speed while they do not."""
        ahead = self.ahead
        try:
            if ahead.plain_items:
                items = list(itertools.islice(src, n))
                if not ahead.sample_is_plain(items):
                    ahead.plain_items = False  # (then _Ahead.add looks for the arrays)
                return items, False, None
            cap = max(1, self.prefetch_bytes // max(1, self.max_inflight))
            items = []
            found = {}
            total = 0
            counts = ahead.counts
            for item in itertools.islice(src, n):
                items.append(item)
                if type(item) in _PLAIN:
                    continue
                mine = {}
                _arrays_of(item, mine)
                for key, nbytes in mine.items():
                    if key not in found:
                        found[key] = nbytes
                        if key not in counts:
                            total += nbytes
                if total >= cap:
                    return items, len(items) < n, found
            ahead.plain_items = bool(items) and not found
            return items, False, found
        except Exception as exc:
            add_note(exc, f"gilfree.parallel: raised by the input iterable while reading "
                          f"item {start} or after")
            raise

    def _ahead_full(self):
        """Whether the chunks in flight already hold ``prefetch_bytes`` of
        arrays (or, on processes, as many shared arrays as descriptors
        allow): then no more input is read until one finishes."""
        seg = self.segments
        return self.ahead.nbytes >= self.prefetch_bytes or (
            seg is not None and (seg.live_bytes >= self.prefetch_bytes
                                 or seg.live_count >= self.max_buffers))

    def _emit(self, start, results):
        if not results:
            return
        self.progress.update(len(results))
        if self.ordered:
            self.ready[start] = results
        else:
            self.out.append(results)

    def _drop(self, chunk):
        """The scheduler is done with ``chunk``: its backend resources and its
        share of the read-ahead go."""
        self.ahead.remove(chunk)
        self.backend.release(chunk)

    def results(self):
        """The generator behind ``imap``."""
        for piece in self.pieces():
            yield from piece

    def pieces(self):
        """Lists of consecutive results (in order unless ``ordered=False``)."""
        kill = False
        try:
            yield from self._loop()
        except (KeyboardInterrupt, SystemExit):
            kill = True
            raise
        finally:
            # a Ctrl-C in the consumer's loop body closes this generator with
            # GeneratorExit: it stops the work as fast as one raised in here
            self._close(kill or self._interrupted())
