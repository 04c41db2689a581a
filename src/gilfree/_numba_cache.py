"""Where the Numba engines keep their machine code (Numba's cache locators).

Compatibility module: the only place gilfree touches Numba's cache
internals (``numba.core.caching``: the locator base classes and the
``CacheImpl._locator_classes`` list), tested with Numba 0.59 to 0.68
(:data:`TESTED_NUMBA`); ``tests/test_numba_cache.py`` fails loudly when the
hook stops working.

Numba (``cache=True``) writes compiled code next to the source, in
``gilfree/_numba/__pycache__``, or, when that is not writable (a read-only
site-packages), in its user-wide cache directory; when neither can be
written it refuses to compile at all ("cannot cache function").  For
gilfree's own functions only, :func:`install` adds one place between the
two: after ``NUMBA_CACHE_DIR`` (always the user's choice when set) and the
in-tree ``__pycache__``, a private directory of this user --
``$XDG_CACHE_HOME/gilfree/numba`` (default ``~/.cache/gilfree/numba``), or,
when the home directory is not writable either, ``<tmp>/gilfree-numba-<uid>``.
The directory must be owned by the user and not writable by anyone else
(the cache holds machine code that is loaded and run), else it is skipped.
Functions of other packages are not affected.
"""

import hashlib
import os
import stat
import sys
import tempfile

#: Numba versions (major, minor) this module was tested with, inclusive.
TESTED_NUMBA = ((0, 59), (0, 68))

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))  # gilfree/


def _is_ours(py_file):
    try:
        path = os.path.abspath(py_file)
    except (TypeError, ValueError):
        return False
    return path.startswith(_PACKAGE_DIR + os.sep)


def _writable_dir(path):
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _private_dir(path):
    """Create ``path`` (mode 0700) if needed; return it if it is a real
    directory owned by this user that no one else can write, else None."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
        return None
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return None
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None


def user_cache_base():
    """The private cache directories gilfree tries, in order (not created)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    home = os.path.expanduser("~")
    bases = []
    if xdg and os.path.isabs(xdg):
        bases.append(os.path.join(xdg, "gilfree", "numba"))
    if home and home != "~":
        bases.append(os.path.join(home, ".cache", "gilfree", "numba"))
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    bases.append(os.path.join(tempfile.gettempdir(), f"gilfree-numba-{uid}"))
    return bases


def _subpath(py_file):
    """Numba's per-source-directory sub-directory name (parent name + SHA1)."""
    subpath = os.path.dirname(os.path.abspath(py_file))
    hashed = hashlib.sha1(subpath.encode()).hexdigest()
    return "_".join([os.path.split(subpath)[-1], hashed])


def fallback_dir():
    """The private directory gilfree's functions are cached in when neither
    ``NUMBA_CACHE_DIR`` is set nor the in-tree ``__pycache__`` is writable;
    None when no candidate is usable.  Creates it."""
    for base in user_cache_base():
        if not os.path.basename(base).startswith("gilfree-numba-"):
            # ~/.cache may be shared-readable; only gilfree's own levels are private
            try:
                os.makedirs(os.path.dirname(base), mode=0o700, exist_ok=True)
            except OSError:
                continue
        got = _private_dir(base)
        if got is not None:
            return got
    return None


def cache_location(module_file):
    """Where Numba keeps (or would keep) the code of ``module_file`` (one of
    gilfree's Numba engine modules): ``(kind, directory)`` with kind one of
    ``"NUMBA_CACHE_DIR"``, ``"in-tree"``, ``"gilfree"``, ``"none"``."""
    numba = sys.modules.get("numba")
    config = getattr(numba, "config", None)
    if config is not None and hasattr(config, "CACHE_DIR"):
        user = config.CACHE_DIR or ""  # what Numba read at its import
    else:
        user = os.environ.get("NUMBA_CACHE_DIR", "").strip()
    if user:
        return "NUMBA_CACHE_DIR", os.path.join(user, _subpath(module_file))
    in_tree = os.path.join(os.path.dirname(os.path.abspath(module_file)), "__pycache__")
    if _writable_dir(in_tree) or (
        not os.path.exists(in_tree) and _writable_dir(os.path.dirname(in_tree))
    ):
        return "in-tree", in_tree
    base = fallback_dir()
    if base is None:
        return "none", None
    return "gilfree", os.path.join(base, _subpath(module_file))


def has_cached_code(module_file):
    """Whether Numba's cache holds compiled code of ``module_file`` (an index
    file of one of its functions), i.e. its first call in a new process
    loads machine code instead of compiling it.  Does not import Numba."""
    _, path = cache_location(module_file)
    if path is None or not os.path.isdir(path):
        return False
    stem = os.path.splitext(os.path.basename(module_file))[0] + "."
    try:
        return any(name.startswith(stem) and name.endswith(".nbi") for name in os.listdir(path))
    except OSError:
        return False


_installed = False


def install():
    """Add gilfree's locator to Numba's list (once); returns True if active.

    Raises ImportError when this Numba's cache internals differ from the
    tested ones (the caller decides whether that is fatal)."""
    global _installed
    if _installed:
        return True
    from numba.core import caching

    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    base = getattr(caching, "_CacheLocator", None)
    mixin = getattr(caching, "_SourceFileBackedLocatorMixin", None)
    user_cls = getattr(caching, "_UserProvidedCacheLocator", None) or getattr(
        caching, "UserProvidedCacheLocator", None)
    classes = getattr(impl, "_locator_classes", None)
    if None in (impl, base, mixin, user_cls) or not isinstance(classes, list):
        raise ImportError(
            "numba.core.caching has changed (no CacheImpl._locator_classes list or "
            "locator base classes): gilfree's private Numba cache directory is not "
            f"available; tested with Numba {TESTED_NUMBA[0]} to {TESTED_NUMBA[1]}"
        )

    class GilfreeCacheLocator(mixin, base):
        """gilfree's functions when the in-tree __pycache__ is not writable."""

        def __init__(self, py_func, py_file, path):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = path

        def get_cache_path(self):
            return self._cache_path

        @classmethod
        def from_function(cls, py_func, py_file):
            if not _is_ours(py_file) or not os.path.exists(py_file):
                return None
            kind, path = cache_location(py_file)
            if kind != "gilfree":
                return None  # NUMBA_CACHE_DIR or in-tree: Numba's own locators
            self = cls(py_func, py_file, path)
            try:
                self.ensure_cache_path()
            except OSError:
                return None
            return self

    pos = classes.index(user_cls) + 1 if user_cls in classes else 0
    classes.insert(pos, GilfreeCacheLocator)
    _installed = True
    return True
