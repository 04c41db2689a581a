"""Thread-count resolution, the engine registry, and tuning constants.

Everything here is cheap to import: no NumPy kernels, no Numba, no compiled
extension is loaded until an engine is first asked for.
"""

import contextlib
import contextvars
import importlib
import math
import numbers
import os
import threading

__all__ = [
    "ENGINES",
    "EngineUnavailableError",
    "available_engines",
    "cgroup_cpu_limit",
    "get_engine",
    "get_num_threads",
    "inner_threads",
    "register_kernel",
    "resolve_engine",
    "resolve_n_threads",
    "set_num_threads",
    "threads",
    "usable_cores",
]

# --------------------------------------------------------------------------
# Tuning constants: every chunk size and threshold lives here.
# --------------------------------------------------------------------------

#: Samples per inner block of the Parzen kernels (must match ext/parzen.pyx).
PARZEN_BLOCK = 256
#: Parzen strips per widest half window along the key dimension (finer
#: strips visit fewer non-candidates but cost more binary searches).
PARZEN_STRIPS_PER_WINDOW = 4
#: Fewest samples per Parzen strip on average (caps the number of strips).
PARZEN_MIN_STRIP_SAMPLES = 32
#: Parzen uses at most one thread per this many (point, sample) pairs.
PARZEN_MIN_PAIRS_PER_THREAD = 2**17
#: Fewest points for which Parzen sorts the samples into strips; below it
#: every sample is visited (sorting would cost more than it saves).
PARZEN_INDEX_MIN_POINTS = 64
#: Parzen width lookup table: buckets per width, and at least this many.
PARZEN_LUT_PER_WIDTH = 8
PARZEN_LUT_MIN = 64
#: Below this many points per thread, Parzen splits each point's samples
#: across threads (unweighted counts only: integer sums are exact).
PARZEN_POINTS_PER_THREAD = 4
#: Fewest samples worth giving a thread of their own when splitting a point.
PARZEN_MIN_SPLIT_SAMPLES = 4096
#: Memory budget (bytes) of one temporary block in the numpy engines.
NUMPY_BLOCK_BYTES = 32 * 2**20

#: 8-bit horizontal resize taps are padded to a multiple of this many when an
#: output has at least this many taps (fixed trip count: the dot product
#: vectorises; zero weights leave the integer sums unchanged).
RESIZE_TAP_PAD = 8
#: Cached tap tables of the image resamplers (one per axis size, method).
RESIZE_PLAN_CACHE = 256
#: Output samples per parallel task of resample_poly (must match
#: ext/resample.pyx).
RESAMPLE_POLY_CHUNK = 1024
#: Cached resample_poly filters (one per reduced up/down ratio).
RESAMPLE_FILTER_CACHE = 64
#: Parallel tasks per thread when the numba engines split rows or samples
#: into chunks (the Cython engines use the same number).
RESIZE_CHUNKS_PER_THREAD = 4

#: Slide tiling: bytes of image (plus staged patches) one band of tile rows
#: may span; a memmap is read, processed and released band by band.
TILES_BAND_BYTES = 32 * 2**20
#: Slide tiling: ``tiles()`` reads the image once and collects the kept
#: patches per band when a resized patch has at most this fraction of a
#: tile's pixels (the extra memory is then at most the output itself);
#: otherwise it measures every tile first, allocates the exact output and
#: reads the bands holding kept tiles a second time.
TILES_ONE_PASS_MAX_RATIO = 0.25
#: Slide tiling: with an engine that can (Cython), a C-contiguous image is
#: processed in one parallel region per pass, its bands' pages released as
#: their last tile is done, instead of one region per band.
TILES_ONE_REGION = True

#: The exp-family KDE kernels need the sample count padded to a multiple of
#: this (must match ext/kde.pyx LANES); every variant's number of partial
#: sums (SIMD_TUNING) divides it.
KDE_LANES = 32
#: Samples per partial sum of the KDE kernels (ext/kde.pyx CHUNK): each
#: point's sum is formed chunk by chunk in this fixed order, whatever the
#: thread count.
KDE_CHUNK = 4096
#: Points per task of the exp-family KDE kernels (ext/kde.pyx PBLOCK): a
#: chunk of samples stays in cache while this many points use it.
KDE_POINT_BLOCK = 32
#: KDE kernels use at most one thread per this many (point, sample,
#: bandwidth, dimension) terms: waking a thread team costs more than a
#: tiny call (one point in a quadrature loop).
KDE_MIN_PAIRS_PER_THREAD = 2**15
#: gaussian_kde from this many dimensions on forms the (point, sample)
#: distances by matrix products (BLAS) instead of the compiled pair loop
#: (gilfree._kde_highdim).
KDE_GEMM_MIN_DIM = 64
#: ... for the points whose rounding bound on a term's relative error (from
#: the cancellation in |q|^2 + |x|^2 - 2 q.x) stays below this; the others
#: use the compiled kernel, which forms every difference exactly.
KDE_GEMM_MAX_TERM_ERROR = 1e-11
#: gaussian_kde whitens by forward substitution column by column up to this
#: many dimensions, beyond by blocks of this many columns and matrix products.
KDE_WHITEN_BLOCK = 64
#: Compact KDE kernels prune with a 2-D grid of cells of edge >= the widest
#: bandwidth; at most this many cells per sample (and KDE_MAX_CELLS overall).
KDE_CELLS_PER_SAMPLE = 2
KDE_MAX_CELLS = 2**22
#: Relative widening of the compact kernels' scan window beyond the widest
#: bandwidth (covers float32 rounding of the distance test).
KDE_WINDOW_MARGIN = 1e-5
#: The python engine with n_threads > 1 runs chunks of points on a process
#: pool; fewest points per chunk.
KDE_PYTHON_MIN_POINTS_PER_TASK = 16
#: Subsequence DTW (gilfree.dtw): the accumulated cost matrix is computed in
#: tiles of (rows / row blocks) x DTW_BLOCK_COLS signal columns, one row band
#: per thread, pipelined along the signal.  Narrower tiles are used for short
#: signals so that every row block still gets DTW_MIN_BLOCKS_PER_ROW_BLOCK
#: tiles.
DTW_BLOCK_COLS = 2048
DTW_MIN_BLOCK_COLS = 64
DTW_MIN_BLOCKS_PER_ROW_BLOCK = 8
#: Fewest template rows per row block: fewer rows than this per thread and
#: the wavefront uses fewer row blocks (threads) than asked.
DTW_MIN_ROWS_PER_BLOCK = 16
#: Column-block width of the NumPy engine's anti-diagonal sweep.
DTW_NUMPY_BLOCK_COLS = 4096
#: Fewest match ends worth backtracking on several threads (a path is a few
#: hundred steps: below this, starting threads costs more than it saves).
DTW_PARALLEL_PATHS_MIN = 4096

#: Tuning constants that differ between the SIMD variants of the compiled
#: kernels (baseline SSE2, AVX2 + FMA with 16 vector registers, AVX-512 with
#: 32): one dict per variant.  The C side (ext/_tuning.pxd) holds the same
#: numbers; every kernel module exports its build's as ``TUNING`` and the
#: tests check both agree.
#:
#: - ``kde_acc_f64`` / ``kde_acc_f32``: partial sums of the exp-family KDE
#:   sample loops (two vectors' worth: enough independent exps in flight to
#:   keep the FMA units busy, few enough to stay in registers on AVX2).
SIMD_TUNING = {
    "baseline": {"kde_acc_f64": 4, "kde_acc_f32": 8},
    "avx2": {"kde_acc_f64": 8, "kde_acc_f32": 16},
    "avx512": {"kde_acc_f64": 16, "kde_acc_f32": 32},
}

#: The engines every kernel family may provide, in the order ``auto`` tries.
ENGINES = ("numba", "cython", "numpy", "python")

# --------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------

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


def _quota_v2(text):
    """CPUs allowed by a cgroup v2 ``cpu.max`` ("max 100000" or "quota period")."""
    parts = (text or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _quota_v1(quota_text, period_text):
    """CPUs allowed by cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``
    (a quota of -1: no limit)."""
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
                    q = _quota_v2(_read(d + "/cpu.max"))
                else:
                    q = _quota_v1(_read(d + "/cpu.cfs_quota_us"), _read(d + "/cpu.cfs_period_us"))
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
    if quota is not None:
        n = min(n, quota)
    return max(1, n)


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
    user = _user_threads.get()
    if user is not None:
        return user
    inner = _inner_limit.get()
    if inner is not None:
        return inner
    env = _env_threads()
    return env if env is not None else usable_cores()


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
    if n is None:
        return None
    return resolve_n_threads(n, name=name)


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


# --------------------------------------------------------------------------
# Numba threading layer
# --------------------------------------------------------------------------

#: The layer gilfree asks Numba for: 'threadsafe' picks tbb when it is
#: installed and GNU/LLVM OpenMP otherwise, and never 'workqueue', which
#: aborts when two Python threads run parallel kernels at once.
NUMBA_THREADING_LAYER = "threadsafe"

_numba_lock = threading.Lock()
_numba_ready = False


def import_numba():
    """Import numba with gilfree's threading-layer choice applied."""
    global _numba_ready
    import numba

    if not _numba_ready:
        with _numba_lock:
            if not _numba_ready:
                if not os.environ.get("NUMBA_THREADING_LAYER"):
                    numba.config.THREADING_LAYER = NUMBA_THREADING_LAYER
                _numba_ready = True
    return numba


# --------------------------------------------------------------------------
# Engine registry
# --------------------------------------------------------------------------


class EngineUnavailableError(RuntimeError):
    """An engine was asked for that this installation cannot run."""


_KERNELS = {}


def register_kernel(kernel, *, auto, engines):
    """Declare a kernel family and where each engine's implementation lives.

    ``engines`` maps an engine name to ``"module"``; a module under
    ``gilfree._cy`` is loaded through the SIMD dispatcher.  ``auto`` lists
    engine names in preference order (a fixed, documented choice).
    """
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise ValueError(f"unknown engines {sorted(unknown)} for kernel {kernel!r}")
    _KERNELS[kernel] = {"auto": tuple(auto), "engines": dict(engines), "loaded": {}}


def _load_module(path):
    if path.startswith("gilfree._cy."):
        from gilfree import _cy

        return _cy.load(path[len("gilfree._cy.") :])
    if path.startswith("gilfree._numba."):
        import_numba()
    return importlib.import_module(path)


def _try_load(kernel, engine):
    """Return (module, None) or (None, reason)."""
    spec = _KERNELS[kernel]
    if engine in spec["loaded"]:
        return spec["loaded"][engine], None
    path = spec["engines"].get(engine)
    if path is None:
        return None, f"kernel {kernel!r} has no {engine!r} engine"
    try:
        mod = _load_module(path)
    except ImportError as exc:
        if engine == "numba":
            why = f"Numba could not be imported ({exc}); `pip install numba`"
        elif engine == "cython":
            why = str(exc)
        else:
            why = f"{path} could not be imported ({exc})"
        return None, why
    spec["loaded"][engine] = mod
    return mod, None


def _kernel_spec(kernel):
    try:
        return _KERNELS[kernel]
    except KeyError:
        raise ValueError(
            f"unknown kernel {kernel!r}; registered kernels: {', '.join(sorted(_KERNELS))}"
        ) from None


def resolve_engine(kernel, engine="auto"):
    """Validate ``engine`` and turn ``auto`` into a concrete engine name."""
    spec = _kernel_spec(kernel)
    if not isinstance(engine, str):
        raise TypeError(
            f"engine must be a string, one of 'auto', {', '.join(map(repr, ENGINES))}; "
            f"got {engine!r}"
        )
    if engine == "auto":
        reasons = []
        for name in spec["auto"]:
            why = _numba_cold(kernel, name, spec)
            mod = None
            if why is None:
                mod, why = _try_load(kernel, name)
            if mod is not None:
                return name
            reasons.append(f"{name}: {why}")
        raise EngineUnavailableError(
            f"no engine of kernel {kernel!r} is available ({'; '.join(reasons)})"
        )
    if engine not in ENGINES:
        raise ValueError(
            f"engine must be one of 'auto', {', '.join(map(repr, ENGINES))}; got {engine!r}"
        )
    return engine


def get_engine(kernel, engine="auto"):
    """Return ``(engine_name, module)`` for a kernel, or raise why not."""
    name = resolve_engine(kernel, engine)
    mod, why = _try_load(kernel, name)
    if mod is None:
        raise EngineUnavailableError(
            f"engine {name!r} is not available for {kernel}: {why}. "
            "Run `gilfree info` to see what this installation has built."
        )
    return name, mod


def available_engines(kernel):
    """Names of the engines of ``kernel`` that load here, and why others do not."""
    spec = _kernel_spec(kernel)
    out = {}
    for name in spec["engines"]:
        mod, why = _try_load(kernel, name)
        out[name] = True if mod is not None else why
    return out


def kernels():
    """Names of the registered kernel families."""
    return sorted(_KERNELS)


def auto_order(kernel):
    """The engines ``auto`` tries for ``kernel``, in order."""
    return _kernel_spec(kernel)["auto"]



_numba_warm = set()


def _numba_cold(kernel, name, spec):
    """Why ``auto`` passes over a Numba engine whose first call would compile
    (seconds) while a later engine in its order is ready, or None.  The
    engine is taken once Numba's cache holds its code (e.g. after
    ``gilfree._numba.warm()`` or one explicit ``engine="numba"`` call);
    ``auto`` never waits for a compilation."""
    if name != "numba" or kernel in _numba_warm:
        return None
    order = spec["auto"]
    if order.index(name) == len(order) - 1:
        return None  # the last resort: nothing else to take
    path = spec["engines"].get(name, "")
    if not path.startswith("gilfree._numba."):
        return None
    from ._numba import _cache

    file = os.path.join(os.path.dirname(_cache.__file__), path.rsplit(".", 1)[1] + ".py")
    if _cache.has_cached_code(file):
        _numba_warm.add(kernel)
        return None
    return ("not compiled yet (its first call would compile for seconds; "
            "gilfree._numba.warm() compiles it once for this machine)")


def _no_openmp(name, mod):
    return name == "cython" and not getattr(mod, "OPENMP", True)


_NO_OPENMP_MSG = (
    "the Cython extension was built without OpenMP, so it runs on one thread only: "
    "reinstall with a compiler that supports -fopenmp (e.g. gcc) to use {n} threads, "
    "or pass n_threads=1. `gilfree info` shows the build state."
)


def select(kernel, engine="auto", n_threads=None):
    """Resolve engine and threads for one kernel call.

    Returns ``(engine_name, module, n_threads)``.  ``auto`` passes over a
    Cython engine built without OpenMP when more than one thread is wanted;
    asking for it explicitly with ``n_threads > 1`` is an error that says why.
    """
    nt = resolve_n_threads(n_threads)
    if engine == "auto":
        spec = _kernel_spec(kernel)
        reasons = []
        for name in spec["auto"]:
            why = _numba_cold(kernel, name, spec)
            mod = None
            if why is None:
                mod, why = _try_load(kernel, name)
            if mod is None:
                reasons.append(f"{name}: {why}")
            elif nt > 1 and _no_openmp(name, mod):
                reasons.append(f"{name}: built without OpenMP")
            else:
                return name, mod, nt
        raise EngineUnavailableError(
            f"no engine of kernel {kernel!r} is available ({'; '.join(reasons)}). "
            "Run `gilfree info` to see what this installation has built."
        )
    name, mod = get_engine(kernel, engine)
    if _no_openmp(name, mod):
        if n_threads is not None and nt > 1:
            raise EngineUnavailableError(_NO_OPENMP_MSG.format(n=nt))
        nt = 1
    return name, mod, nt


# --------------------------------------------------------------------------
# Parallel map (gilfree.parallel)
# --------------------------------------------------------------------------

#: NumPy arrays at least this large (bytes) in the arguments of process tasks
#: travel through shared memory instead of being pickled.
PARALLEL_SHARE_MIN_BYTES = 2**20
#: Shared buffers of arrays whose chunks have all finished are kept and their
#: pages reused for later arrays of about the same size (False: freed at
#: once).  At most PARALLEL_SHARE_POOL_MAX_BYTES and
#: PARALLEL_SHARE_POOL_MAX_BUFFERS idle buffers are kept (and at most an
#: eighth of RLIMIT_NOFILE: each holds two descriptors), each for
#: PARALLEL_SHARE_POOL_IDLE_SECONDS after its last use.
PARALLEL_SHARE_POOL = True
PARALLEL_SHARE_POOL_MAX_BYTES = 2**30
PARALLEL_SHARE_POOL_MAX_BUFFERS = 1024
PARALLEL_SHARE_POOL_IDLE_SECONDS = 20.0
#: Shared arrays one processes map may have in flight (each costs the caller
#: one or two file descriptors); also at most a quarter of RLIMIT_NOFILE.
PARALLEL_SHARE_MAX_BUFFERS = 256
#: prefetch_bytes="auto" of pmap/imap: bytes of arrays the chunks in flight
#: may hold (at most an eighth of the physical memory).
PARALLEL_PREFETCH_BYTES = 512 * 2**20
#: Target duration (seconds) of one chunk of tasks, per kind of backend:
#: long enough to amortise the per-chunk cost, short enough to balance load.
PARALLEL_TARGET_CHUNK_SECONDS = {"serial": 0.01, "threads": 0.01, "processes": 0.05}
#: Auto chunking never puts more tasks than this in one chunk.
PARALLEL_MAX_AUTO_CHUNK = 20_000
#: With a known input length, auto chunks leave at least this many chunks per
#: worker for what remains (load balance at the tail).
PARALLEL_TAIL_CHUNKS_PER_WORKER = 4
#: ... but never shorter than this fraction of the target duration.
PARALLEL_TAIL_MIN_FRACTION = 0.25
#: Tasks in the first auto chunks (the probes) when the input has a length.
PARALLEL_PROBE_TASKS = 8
#: Auto chunk sizes grow at most this factor per measurement.
PARALLEL_CHUNK_GROWTH = 16384
#: Chunks submitted but not finished, per worker (bounded prefetch).
PARALLEL_INFLIGHT_PER_WORKER = 2
#: Chunks finished or running but not yet yielded, per worker (ordered mode).
PARALLEL_PENDING_PER_WORKER = 4
#: The Python fallback of the process workers' task loop (used when the
#: compiled gilfree._cy._runloop is missing) reads the map's stop word once
#: per stride of tasks: the stride doubles while one lasts under
#: PARALLEL_STRIDE_FAST seconds (up to PARALLEL_STRIDE_MAX tasks) and halves
#: when one lasts over PARALLEL_STRIDE_SLOW.
PARALLEL_STRIDE_MAX = 64
PARALLEL_STRIDE_FAST = 0.0005
PARALLEL_STRIDE_SLOW = 0.005
#: Retry back-off: base * 2**attempt seconds, capped, with +-25 % jitter.
PARALLEL_RETRY_BACKOFF_BASE = 0.1
PARALLEL_RETRY_BACKOFF_MAX = 30.0
#: A process task past its timeout is first interrupted inside its worker
#: (Python code); if it is still running this much later it is killed.
PARALLEL_TIMEOUT_GRACE = 1.0
#: Idle process workers exit after this many seconds (the pool is reused
#: between maps until then).
PARALLEL_WORKER_IDLE_TIMEOUT = 300.0
#: How often (seconds) the caller checks timeouts and Ctrl-C while waiting.
PARALLEL_POLL_INTERVAL = 0.05

# --------------------------------------------------------------------------
# Dask scale-out (gilfree.parallel backend "dask", gilfree.distributed)
# --------------------------------------------------------------------------

#: Target duration of one chunk of map tasks on Dask: a task costs the
#: scheduler a few milliseconds, so chunks are longer than on processes.
PARALLEL_TARGET_CHUNK_SECONDS["dask"] = 0.1
#: NumPy arrays at least this large (bytes) in a Dask map's items are
#: scattered to the workers once and referenced by every task.
DASK_SCATTER_MIN_BYTES = 2**20
#: Times a Dask map resubmits a chunk lost with its workers (its result,
#: or the function or arrays scattered for it) -- a rerun, not a retry.
DASK_LOST_RESUBMITS = 5
#: Seconds a broadcast scatter may take before gilfree scatters to one
#: worker instead (the others then fetch from it).
DASK_BROADCAST_TIMEOUT = 10.0
#: Seconds to wait for a LocalCluster gilfree started to close.
DASK_CLOSE_TIMEOUT = 20.0
#: Seconds to wait for a new LocalCluster's workers to come up.
DASK_START_TIMEOUT = 60.0
#: Chunks per worker in gilfree.distributed's kernel scale-out: one coarse
#: chunk per worker (stumpy's ``stumped`` model), sized by its threads.
DISTRIBUTED_CHUNKS_PER_WORKER = 1
#: Times gilfree.distributed resubmits a chunk whose worker (or scattered
#: input) was lost, on top of the scheduler's own reruns.
DISTRIBUTED_CHUNK_RETRIES = 2
#: gilfree.distributed.tiles: a slide is cut into row bands of whole tile
#: rows when it would otherwise be a larger task than the cohort's share of
#: one worker slot divided by this (so uneven cohorts balance) ...
DISTRIBUTED_TILES_PARTS_PER_WORKER = 4
#: ... but never into bands that read fewer bytes of image than this (each
#: task costs the scheduler a few milliseconds).
DISTRIBUTED_TILES_MIN_PART_BYTES = 64 * 2**20
