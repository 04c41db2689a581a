"""What a map reads ahead of its workers, counted in bytes, and how Ctrl-C
reaches the caller's scheduler."""

import itertools
import signal
import threading

import numpy as np

# --------------------------------------------------------------------------
# Read-ahead in bytes
# --------------------------------------------------------------------------

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
    if isinstance(obj, (tuple, list)):
        seen = set() if seen is None else seen
        return sum(_array_bytes(o, depth + 1, seen) for o in itertools.islice(obj, 64))
    if isinstance(obj, dict):
        seen = set() if seen is None else seen
        return sum(_array_bytes(o, depth + 1, seen)
                   for o in itertools.islice(obj.values(), 64))
    return 0


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
    if isinstance(obj, (tuple, list)):
        for o in itertools.islice(obj, 64):
            _arrays_of(o, out, depth + 1)
    elif isinstance(obj, dict):
        for o in itertools.islice(obj.values(), 64):
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


# --------------------------------------------------------------------------
# Ctrl-C and exit
# --------------------------------------------------------------------------


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
                try:
                    if signal.getsignal(signal.SIGINT) == self._handler:
                        signal.signal(signal.SIGINT, signal.default_int_handler)
                except (ValueError, OSError):  # pragma: no cover - exiting
                    pass

    def after_fork(self):
        self._lock = threading.Lock()


_SIGINT = _SigintWatch()
#: maps started and not yet closed (closed, killing their workers, at exit)
