"""How many threads a kernel uses: usable cores (affinity, cgroup CPU
quotas), the environment, the user's scoped default (:func:`threads`,
:func:`set_num_threads`), a parallel map's fair share and the OpenMP limit of
``threadpoolctl``, resolved in :func:`resolve_n_threads`."""

import contextlib
import contextvars
import math
import numbers
import os
import threading

__all__ = ["cgroup_cpu_limit", "get_num_threads", "inner_threads", "load_openmp", "openmp_limit",
           "resolve_n_threads", "set_num_threads", "threads", "usable_cores"]

_ENV_THREAD_VARS = ("GILFREE_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS")

#: Set by gilfree.parallel inside its workers: the fair share of cores that a
#: kernel called without ``n_threads`` may use there (no oversubscription).
_inner_limit = contextvars.ContextVar("gilfree_inner_threads", default=None)

#: Set by :func:`threads` and :func:`set_num_threads`: the user's default
#: ``n_threads`` in this thread / asyncio task (a contextvar: a new thread
#: starts without it, a task inherits its creator's value).
_user_threads = contextvars.ContextVar("gilfree_user_threads", default=None)

#: cgroup files read by :func:`cgroup_cpu_limit` (a root prefix is prepended
#: in the tests).
_PROC_CGROUP = "/proc/self/cgroup"
_PROC_MOUNTINFO = "/proc/self/mountinfo"

_cgroup_cache = {}


def _read(path):
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _quota(quota_text, period_text):
    """CPUs allowed by a CPU bandwidth quota and its period (cgroup v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, or the two fields of v2's
    ``cpu.max``); None for no limit ("max", -1) or unreadable files."""
    try:
        quota, period = int((quota_text or "").strip()), int((period_text or "").strip())
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _cgroup_mounts(mountinfo):
    """{"v2": [(root, mount point)], "v1": [(root, mount point)]} of the
    cgroup2 mounts and the cgroup v1 mounts with the ``cpu`` controller."""
    out = {"v2": [], "v1": []}
    for line in (mountinfo or "").splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, point = fields[3], fields[4].replace("\\040", " ")
        if tail[0] == "cgroup2":
            out["v2"].append((root, point))
        elif tail[0] == "cgroup" and "cpu" in tail[2].split(","):
            out["v1"].append((root, point))
    return out


def _ancestors(path):
    """``/a/b/c`` -> ``/a/b/c``, ``/a/b``, ``/a``, ``/``."""
    path = "/" + path.strip("/")
    while True:
        yield path
        if path == "/":
            return
        path = path.rsplit("/", 1)[0] or "/"


def _relative(cgroup_path, mount_root):
    """The part of a process's cgroup path below a mount's root (None when
    the cgroup is not under it)."""
    cg, root = "/" + cgroup_path.strip("/"), "/" + mount_root.strip("/")
    if root == "/":
        return cg
    if cg == root or cg.startswith(root + "/"):
        return cg[len(root):] or "/"
    return None


def cgroup_cpu_limit(prefix=""):
    """The CPU bandwidth quota of this process's cgroups, in CPUs (a float),
    or None when there is none (or no cgroup file system).

    Reads ``/proc/self/cgroup`` and ``/proc/self/mountinfo``, then the
    ``cpu.max`` (cgroup v2) or ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``
    (v1) files of the process's cgroup and of every ancestor visible in the
    mount: the smallest quota applies.  With a private cgroup namespace (a
    container), the mount's root is the container's own cgroup.  ``prefix``
    is prepended to every path (for tests).
    """
    cgroups = _read(prefix + _PROC_CGROUP)
    if cgroups is None:
        return None
    mounts = _cgroup_mounts(_read(prefix + _PROC_MOUNTINFO))
    limits = []
    for line in cgroups.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # the unified (v2) hierarchy
            candidates = [(m, "v2") for m in mounts["v2"]]
        elif "cpu" in controllers.split(","):
            candidates = [(m, "v1") for m in mounts["v1"]]
        else:
            continue
        for (root, point), kind in candidates:
            rel = _relative(path, root)
            if rel is None:
                continue
            for sub in _ancestors(rel):
                d = prefix + point.rstrip("/") + (sub if sub != "/" else "")
                if kind == "v2":
                    q = _quota(*((_read(d + "/cpu.max") or "").split() + ["", ""])[:2])
                else:
                    q = _quota(_read(d + "/cpu.cfs_quota_us"), _read(d + "/cpu.cfs_period_us"))
                if q is not None:
                    limits.append(q)
    return min(limits) if limits else None


def _cgroup_cpus():
    """``ceil(cgroup_cpu_limit())`` (at least 1), or None; read once per
    process (a fork re-reads it)."""
    pid = os.getpid()
    if pid not in _cgroup_cache:
        _cgroup_cache.clear()
        try:
            limit = cgroup_cpu_limit()
        except (OSError, ValueError):  # pragma: no cover - unreadable: no limit
            limit = None
        _cgroup_cache[pid] = None if limit is None else max(1, math.ceil(limit - 1e-9))
    return _cgroup_cache[pid]


def usable_cores():
    """Number of CPUs this process may use.

    The CPUs of its affinity mask (``os.sched_getaffinity``, e.g. set by
    ``taskset``, ``setpriv`` or a container's cpuset), capped by its cgroup
    v1/v2 CPU bandwidth quota rounded up (a container limited to 2 CPUs on
    a 64-core host: 2), as ``loky.cpu_count`` counts them.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpus()
    return max(1, n if quota is None else min(n, quota))


def _env_threads():
    for var in _ENV_THREAD_VARS:
        raw = os.environ.get(var, "").strip()
        if not raw:
            continue
        # OMP_NUM_THREADS may be a nested list such as "4,2": the first level.
        first = raw.split(",")[0].strip()
        try:
            value = int(first)
        except ValueError:
            continue
        if value >= 1:
            return value
    return None


def _check_integral(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an int (or None for all usable cores); "
            f"got {value!r} of type {type(value).__name__}"
        )
    return int(value)


# The OpenMP runtime of the Cython extensions.  ``omp_set_num_threads``
# (what ``threadpoolctl.threadpool_limits`` calls) sets the OpenMP
# "nthreads" value of the calling thread only; other threads keep the
# process default (set from OMP_NUM_THREADS when the runtime was loaded).

_omp = {"get": None, "tried": False, "default": None}
_omp_lock = threading.Lock()


def load_openmp():
    """Load the extensions' OpenMP runtime, so that ``threadpoolctl`` finds
    it and its limits reach gilfree (``import gilfree`` calls this).
    Returns the function reporting the calling thread's
    ``omp_get_max_threads()``, or None without a compiled OpenMP extension."""
    if not _omp["tried"]:
        with _omp_lock:
            if not _omp["tried"]:
                try:
                    from gilfree import _cy

                    mod = _cy.build_module()
                    _omp["get"] = mod.omp_max_threads if mod.openmp_enabled() else None
                except ImportError:
                    _omp["get"] = None
                _omp["tried"] = True
    return _omp["get"]


def _omp_default(get):
    """The process default of the OpenMP thread count: what a thread that
    never called ``omp_set_num_threads`` sees, read once on a new thread."""
    if _omp["default"] is None:
        box = []
        t = threading.Thread(target=lambda: box.append(get()), name="gilfree-openmp-probe")
        t.start()
        t.join()
        _omp["default"] = box[0] if box else 0
    return _omp["default"]


def openmp_limit():
    """The calling thread's OpenMP thread limit when it is below the
    process default (``threadpoolctl.threadpool_limits`` or a direct
    ``omp_set_num_threads`` in this thread), else None."""
    get = _omp["get"] if _omp["tried"] else load_openmp()
    if get is None:
        return None
    n = get()
    return n if 1 <= n < _omp_default(get) else None


def _default_threads():
    """What ``n_threads=None`` means here, before the OpenMP limit."""
    for n in (_user_threads.get(), _inner_limit.get(), _env_threads()):
        if n is not None:
            return n
    return usable_cores()


def resolve_n_threads(n_threads=None, *, name="n_threads"):
    """Turn a user's ``n_threads`` into a positive thread count.

    - ``None``: the default, in this order: the innermost
      :func:`gilfree.threads` block or :func:`gilfree.set_num_threads` of
      this thread (or asyncio task); the fair share set by an enclosing
      ``gilfree.parallel`` worker; ``GILFREE_NUM_THREADS`` /
      ``OMP_NUM_THREADS`` / ``NUMBA_NUM_THREADS`` if set; else all usable
      cores (:func:`usable_cores`).  That default is then capped by the
      calling thread's OpenMP limit when one is in force, so inside
      ``threadpoolctl.threadpool_limits(n)`` (user API ``"openmp"`` or all)
      the kernels use at most ``n`` threads.
    - a positive int: that many threads (never capped).
    - a negative int counts from the end: ``-1`` is all usable cores,
      ``-2`` all but one (at least 1 must remain).
    - ``0``, booleans and non-integers are errors.
    """
    if n_threads is None:
        n = _default_threads()
        cap = openmp_limit()
        return n if cap is None else min(n, cap)
    n = _check_integral(n_threads, name)
    if n == 0:
        raise ValueError(
            f"{name}=0 is not a thread count: use None for all usable cores, "
            "a positive count, or a negative count from the end (-1 = all cores)"
        )
    if n < 0:
        cores = usable_cores()
        resolved = cores + 1 + n
        if resolved < 1:
            raise ValueError(
                f"{name}={n} leaves no thread on this machine's {cores} usable cores; "
                f"expected a value between -{cores} and -1, or a positive count"
            )
        return resolved
    return n


def _check_default(n, name):
    """A default thread count given to threads() / set_num_threads()."""
    return None if n is None else resolve_n_threads(n, name=name)


def set_num_threads(n):
    """Set the default ``n_threads`` of gilfree's kernels in the calling
    thread (or asyncio task) until changed again.

    Parameters
    ----------
    n : int or None
        A positive count, a negative count from the end (``-1``: all usable
        cores, resolved now), or None to go back to the default (see
        :func:`gilfree.resolve_n_threads`).

    Notes
    -----
    Like ``numba.set_num_threads``, the setting is local to the calling
    thread; it is stored in a :mod:`contextvars` variable, so asyncio tasks
    and ``contextvars.copy_context().run`` see the value of their creator
    and their own changes stay theirs.  A kernel called with an explicit
    ``n_threads`` ignores it.  Use :func:`gilfree.threads` to set it for a
    block only.
    """
    _user_threads.set(_check_default(n, "n"))


def get_num_threads():
    """The thread count a gilfree kernel called here without ``n_threads``
    uses: ``resolve_n_threads(None)``."""
    return resolve_n_threads(None)


@contextlib.contextmanager
def threads(n):
    """Within this block (this thread or asyncio task), gilfree's kernels
    called without ``n_threads`` use ``n`` threads.

    ``n`` as for :func:`gilfree.set_num_threads`; the previous default is
    restored on exit, also on an exception.  Blocks nest (the innermost
    wins).  An OpenMP limit set in this thread
    (``threadpoolctl.threadpool_limits``) still caps the count.

    Examples
    --------
    >>> import gilfree
    >>> with gilfree.threads(1):
    ...     gilfree.get_num_threads()
    1
    """
    token = _user_threads.set(_check_default(n, "n"))
    try:
        yield _user_threads.get()
    finally:
        _user_threads.reset(token)


@contextlib.contextmanager
def inner_threads(n):
    """Within this block (this thread or task), ``n_threads=None`` means ``n``
    (the fair share of a worker; :func:`threads` blocks inside still win)."""
    n = _check_integral(n, "inner_threads")
    if n < 1:
        raise ValueError(f"inner_threads must be >= 1; got {n}")
    token = _inner_limit.set(n)
    try:
        yield n
    finally:
        _inner_limit.reset(token)
