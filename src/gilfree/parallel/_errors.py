"""Errors of the parallel map, and how a worker's failure reaches the caller.

A task's exception is re-raised in the caller as the *same type* (so
``except ValueError`` still works), with the worker's formatted traceback
chained as its ``__cause__`` (as :mod:`concurrent.futures` does) and a note
naming the failing item (PEP 678 notes; on Python 3.10 the note is kept in
``__notes__`` but not printed).  The index is also on the exception as
``exc.gilfree_index``.
"""

import contextlib
import functools
import itertools
import pickle
import reprlib
import signal
import types

__all__ = [
    "ParallelError",
    "RemoteTraceback",
    "TaskExitError",
    "TaskTimeoutError",
    "WorkerCrashedError",
    "describe_exitcode",
    "item_repr",
]

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = 6
_repr.maxtuple = 6
_repr.maxdict = 4


def item_repr(item):
    """A short, safe repr of a task's input for an error message."""
    try:
        return _repr.repr(item)
    except Exception:  # a broken __repr__ must not hide the real error
        return f"<{type(item).__name__} object>"


def _reduce(exc, *fields):
    """``__reduce__`` of an error made from its message and keyword ``fields``."""
    return _rebuild, (type(exc), exc.args[0], {f: getattr(exc, f) for f in fields})


def _rebuild(cls, message, kwargs):
    return cls(message, **kwargs)


class ParallelError(RuntimeError):
    """Base class of the errors the parallel map raises itself."""


class RemoteTraceback(Exception):
    """Carries a worker's formatted traceback as an exception's cause."""

    def __init__(self, tb):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return self.tb


class WorkerCrashedError(ParallelError):
    """A worker process died (segfault, ``os._exit``, killed by the OS) while
    running a task.

    Attributes
    ----------
    index : int or None
        Position in the input of the item whose task was running, when it
        could be determined.
    candidates : list of int
        Every item that was running in a worker when the pool broke.
    exitcode : int or None
        The dead worker's exit code (negative: killed by that signal).
    """

    def __init__(self, message, *, index=None, candidates=(), exitcode=None):
        super().__init__(message)
        self.index = index
        self.candidates = list(candidates)
        self.exitcode = exitcode

    def __reduce__(self):
        return _reduce(self, "index", "candidates", "exitcode")


class TaskTimeoutError(TimeoutError):
    """A task ran longer than the map's ``timeout``.

    A subclass of the built-in :class:`TimeoutError`; ``index`` is the
    item's position in the input.
    """

    def __init__(self, message, *, index=None, timeout=None):
        super().__init__(message)
        self.index = index
        self.timeout = timeout

    def __reduce__(self):
        return _reduce(self, "index", "timeout")


class TaskExitError(ParallelError):
    """A task or ``initializer`` raised a ``BaseException`` that is not an
    ``Exception`` (``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit``,
    or a subclass of ``BaseException`` of its own) in a worker.

    The map ends with this error rather than re-raising the original, which
    would pass for the caller's own exit or Ctrl-C.  The original exception
    (with the worker's traceback as its ``__cause__``) is ``__cause__``.

    Attributes
    ----------
    index : int or None
        Position of the task's item in the input; None for the initializer.
    exc_type : type
        The class of the original exception.
    """

    def __init__(self, message, *, index=None, exc_type=None):
        super().__init__(message)
        self.index = index
        self.exc_type = exc_type

    def __reduce__(self):
        return _reduce(self, "index", "exc_type")


class TaskKilled(Exception):
    """Internal: set on the future of a chunk whose worker gilfree killed
    past its timeout without breaking loky's pool (never reaches users)."""


def describe_exitcode(code):
    """``-11`` -> ``'SIGSEGV (exit code -11)'``."""
    if code is None:
        return "unknown exit code"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        extra = {signal.SIGKILL: ", e.g. by the out-of-memory killer",
                 signal.SIGSEGV: ", a segmentation fault"}.get(-code, "")
        return f"{name} (exit code {code}{extra})"
    return f"exit code {code}"


def add_note(exc, note):
    """Attach a PEP 678 note (kept in ``__notes__`` on Python 3.10)."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # pragma: no cover - Python 3.10
        notes = list(getattr(exc, "__notes__", ()))
        notes.append(note)
        with contextlib.suppress(AttributeError):
            exc.__notes__ = notes


def annotate(exc, index, item, backend, where=None, tb_text=None):
    """Name the failing item on ``exc`` and chain the worker traceback."""
    with contextlib.suppress(AttributeError):  # exceptions with __slots__
        exc.gilfree_index = index
    place = f" in {where}" if where else ""
    add_note(
        exc,
        f"gilfree.parallel: raised by the task of item {index} ({item_repr(item)}) "
        f"on the {backend!r} backend{place}",
    )
    if tb_text is not None:
        exc.__cause__ = RemoteTraceback(tb_text)
    return exc


class _UnpicklableRemoteError(ParallelError):
    """Stands in for a worker exception that could not be pickled."""


def pack_exception(exc, tb_text, dumps):
    """Serialise a worker exception; fall back to a stand-in that keeps its
    type name and message when the exception itself cannot be pickled."""
    try:
        blob = dumps(exc)
        pickle.loads(blob)  # some exceptions pickle but cannot be rebuilt
        return blob
    except Exception:
        stand_in = _UnpicklableRemoteError(
            f"{type(exc).__module__}.{type(exc).__qualname__}: {exc} "
            "(the original exception could not be pickled)"
        )
        return dumps(stand_in)


# -- What cannot be pickled --------------------------------------------------


def _children(obj):
    """(label, child) pairs worth trying when ``obj`` fails to pickle."""
    out = []
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        if obj.__closure__:
            for name, cell in zip(code.co_freevars, obj.__closure__):
                with contextlib.suppress(ValueError):
                    out.append((f" -> closure variable {name!r}", cell.cell_contents))
        g = obj.__globals__
        names = set(code.co_names)
        for const in code.co_consts:  # names used by nested functions
            if isinstance(const, types.CodeType):
                names |= set(const.co_names)
        for name in sorted(names):
            if name in g and not isinstance(g[name], types.ModuleType):
                out.append((f" -> global {name!r}", g[name]))
        for i, d in enumerate(obj.__defaults__ or ()):
            out.append((f" -> default argument {i}", d))
    elif isinstance(obj, types.MethodType):
        out.append((" -> bound object (self)", obj.__self__))
        out.append((" -> method function", obj.__func__))
    elif isinstance(obj, functools.partial):
        out.append((" -> partial's function", obj.func))
        out.extend((f" -> partial's argument {i}", a) for i, a in enumerate(obj.args))
        out.extend((f" -> partial's keyword {k!r}", v) for k, v in obj.keywords.items())
    elif isinstance(obj, dict):
        out.extend((f"[{k!r}]", v) for k, v in itertools.islice(obj.items(), 200))
    elif isinstance(obj, (list, tuple, set, frozenset)):
        out.extend((f"[{i}]", v) for i, v in enumerate(itertools.islice(obj, 200)))
    else:
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            out.extend((f".{k}", v) for k, v in attrs.items())
    return out


def find_unpicklable(obj, dumps, label, depth=0, seen=None):
    """Path and value of the innermost object that fails to pickle."""
    seen = set() if seen is None else seen
    if depth < 6 and id(obj) not in seen:
        seen.add(id(obj))
        for sub_label, child in _children(obj):
            try:
                dumps(child)
            except Exception:
                return find_unpicklable(child, dumps, label + sub_label, depth + 1, seen)
    return label, obj


def unpicklable_error(what, obj, dumps, label, exc):
    path, culprit = find_unpicklable(obj, dumps, label)
    where = "" if path == label else f": {path} is a {type(culprit).__module__}." \
        f"{type(culprit).__qualname__} ({item_repr(culprit)})"
    return TypeError(
        f"{what} cannot be sent to process workers{where}, which cannot be pickled ({exc}). "
        "Use a function defined at module level that creates such objects itself (or in "
        "initializer=), pass plain data instead, or use backend='threads', which needs no "
        "pickling"
    )
