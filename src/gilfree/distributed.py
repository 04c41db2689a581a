"""Scale-out: gilfree's kernels on a Dask cluster, with the same results.

When one machine is not enough, the same calls run on a dask.distributed
cluster (``pip install 'gilfree[dask]'``).  The model is stumpy's
``stump``/``stumped`` split:

1. the input is cut into a few coarse, balanced chunks, one per worker,
   each sized by that worker's threads;
2. arguments every chunk needs (the samples, the widths...) are scattered
   once to every worker (``broadcast=True``); each chunk's own data goes
   straight to the worker that computes it;
3. each chunk runs the compiled kernel in one task with ``n_threads`` equal
   to its worker's ``nthreads`` (one kernel at a time per worker process,
   so workers sharing a host never oversubscribe its cores);
4. the client reassembles the chunks in order: the result is exactly what
   the local call returns.

A chunk whose worker dies is rerun by the scheduler, and resubmitted (its
input scattered again) up to ``retries`` more times.

Throughput grows with hosts as long as a chunk's compute time dominates
the cost of moving its data: for the Parzen and KDE kernels a chunk of
``m / W`` points costs ``O(n m / W)`` work against ``O(n + m / W)`` data,
so ``W`` hosts give close to ``W`` times the throughput of one until the
broadcast of the samples (``n``) or the scheduler's few milliseconds per
task start to show.

Examples
--------
>>> import numpy as np
>>> from gilfree import distributed as gd
>>> x = np.random.default_rng(0).standard_normal((100_000, 2))
>>> q = np.random.default_rng(1).standard_normal((20_000, 2))
>>> with gd.local_cluster(n_workers=2) as client:              # doctest: +SKIP
...     counts = gd.parzen_counts(x, q, [0.1, 0.2, 0.5], client=client)

``client`` may also be a scheduler address (``"tcp://host:8786"``) or None
(a LocalCluster on 127.0.0.1 for this call only, closed afterwards).

The adapters, each returning exactly what the local call returns:

- :func:`parzen`, :func:`parzen_counts`, :func:`kde`,
  :func:`gaussian_kde_evaluate`: the points split across workers, the
  samples scattered once;
- :func:`resize_batch`: the images split across workers;
- :func:`tiles`: a list of slides (arrays, memmaps, ``.npy`` or TIFF
  paths), one task per slide, or per band of whole tile rows of a slide
  too large for its share of the cohort; a memmap travels as its file
  name, dtype, shape, strides and offset and is mapped read-only on the
  worker, a path is opened there;
- :func:`dtw_sweep`: a :func:`gilfree.dtw.sweep` grid, one task per
  distinct cost matrix (the grid points that share it post-processed on
  the same worker), the recording scattered once.

>>> slides = ["/data/s1.npy", "/data/s2.tif", np.zeros((4096, 4096, 3), np.uint8)]
>>> t = gd.tiles(slides, 256, threshold=220, min_fraction=0.5,      # doctest: +SKIP
...              out_shape=64, client=client)
>>> fits = gd.dtw_sweep(data, 102.4, {"max_cost": [2, 3, 4]},       # doctest: +SKIP
...                     template=template, client=client)

Writing an adapter for another kernel is a few lines around the generic
helpers :func:`scale_rows` (split one array argument, concatenate the
results) and :func:`scale_items` (one task per item of a list).
"""

import collections
import concurrent.futures
import contextlib
import mmap
import os
import threading
import time
import warnings

import numpy as np

from . import _config
from ._validation import (
    as_points_matrix,
    check_positive_finite,
    check_weights,
    renamed_argument,
)

__all__ = [
    "DaskUnavailableError",
    "dtw_sweep",
    "gaussian_kde_evaluate",
    "kde",
    "local_cluster",
    "parzen_counts",
    "parzen_density",
    "resize_batch",
    "scale_items",
    "scale_rows",
    "split_bounds",
    "tiles",
]

_INSTALL = "pip install 'gilfree[dask]'"


class DaskUnavailableError(ImportError):
    """dask.distributed is not installed (the ``gilfree[dask]`` extra)."""


def _require():
    """The backend's plumbing module, or an error with the install command."""
    try:
        from .parallel import _dask
    except ImportError as exc:
        raise DaskUnavailableError(
            f"gilfree.distributed needs dask.distributed ({exc}); install it with: {_INSTALL}"
        ) from exc
    return _dask


# --------------------------------------------------------------------------
# Clusters
# --------------------------------------------------------------------------


def local_cluster(n_workers=None, threads_per_worker=None, *, dashboard=False):
    """A Client of a new LocalCluster on this machine, bound to 127.0.0.1.

    Closing the client (or leaving its ``with`` block) closes the cluster.

    Parameters
    ----------
    n_workers, threads_per_worker : int, optional
        Worker processes and threads in each.  By default one worker per
        group of cores as Dask splits them (2 cores: 2 x 1; 8: 4 x 2;
        32: 8 x 4); given one, the other is ``cores // n`` (at least 1).
    dashboard : bool
        Serve Dask's dashboard on a free port of 127.0.0.1 (off by default).

    Returns
    -------
    distributed.Client
    """
    _dask = _require()
    import distributed

    n_workers, threads_per_worker = _default_layout(n_workers, threads_per_worker)
    kwargs = _dask.local_cluster_kwargs(n_workers, threads_per_worker, dashboard)
    with _dask._quiet_nanny_environ():
        client = distributed.Client(set_as_default=False, **kwargs)
    try:
        client.wait_for_workers(n_workers, timeout=_config.DASK_START_TIMEOUT)
    except BaseException:
        client.close()
        raise
    return client


def _default_layout(n_workers, threads_per_worker):
    """(workers, threads each) of a local cluster: Dask's split of the
    cores by default, else the given count and ``cores // n``."""
    from distributed.deploy.utils import nprocesses_nthreads

    cores = _config.usable_cores()
    if n_workers is None and threads_per_worker is None:
        n_workers, threads_per_worker = nprocesses_nthreads(cores)
    elif n_workers is None:
        threads_per_worker = _positive(threads_per_worker, "threads_per_worker")
        n_workers = max(1, cores // threads_per_worker)
    else:
        n_workers = _positive(n_workers, "n_workers")
        if threads_per_worker is None:
            threads_per_worker = max(1, cores // n_workers)
        threads_per_worker = _positive(threads_per_worker, "threads_per_worker")
    return n_workers, threads_per_worker


def _positive(n, name):
    n = _config._check_integral(n, name)
    if n < 1:
        raise ValueError(f"{name} must be >= 1; got {n}")
    return n


@contextlib.contextmanager
def _connection(client, n_workers):
    """The Client to use, and the workers (address -> nthreads) to use."""
    _dask = _require()
    if n_workers is not None:
        n_workers = _positive(n_workers, "n_workers")
    if client is None:
        n, nt = _default_layout(n_workers, None)
        conn = _dask.start_local_cluster(n, nt)
    else:
        conn = _dask.connect(client)
    try:
        workers = _dask.worker_threads(conn.client)
        if n_workers is not None:
            workers = dict(list(workers.items())[:n_workers])
        yield conn.client, workers
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------

#: One kernel at a time per worker process: each uses all the worker's
#: threads, so chunks that land on the same worker queue instead of
#: multiplying its threads.
_KERNEL_LOCK = threading.Lock()


def _kernel_task(func, part, shared, split, threads_arg):
    from distributed import get_worker

    nt = get_worker().state.nthreads
    kwargs = dict(shared)
    if threads_arg is not None:
        kwargs[threads_arg] = nt
    with _KERNEL_LOCK, _config.inner_threads(nt):
        if split is None:
            return func(part, **kwargs)
        kwargs[split] = part
        return func(**kwargs)


# --------------------------------------------------------------------------
# Generic scale-out
# --------------------------------------------------------------------------


def split_bounds(length, weights, min_size=1):
    """Boundaries of ``len(weights)`` contiguous parts of ``range(length)``
    with sizes proportional to ``weights`` (fewer parts if a part would get
    fewer than ``min_size`` elements).

    Returns
    -------
    bounds : list of int
        ``[0, b1, ..., length]``; part ``k`` is ``bounds[k]:bounds[k + 1]``.
    """
    weights = [float(w) for w in weights] or [1.0]
    k = max(1, min(len(weights), length // max(1, min_size)))
    weights = weights[:k]
    total = sum(weights)
    cum = np.cumsum([0.0] + weights)
    bounds = [int(round(length * c / total)) for c in cum]
    bounds[-1] = length
    sizes = np.diff(bounds)
    if k > 1 and sizes.min() < min_size:  # uneven weights: fall back to equal parts
        bounds = [length * i // k for i in range(k + 1)]
    return bounds


def _is_large_array(obj):
    return isinstance(obj, np.ndarray) and obj.nbytes >= _config.DASK_SCATTER_MIN_BYTES


def _scatter_part(client, part, addr, attempts=4):
    """Scatter a chunk's own data to its worker (another live one if that
    worker is gone); returns ``(future, [address])``."""
    for attempt in range(attempts - 1):
        try:
            [fut] = client.scatter([part], workers=[addr] if addr else None, hash=False)
            return fut, ([addr] if addr else None)
        except (OSError, KeyError):  # that worker died meanwhile
            time.sleep(0.1 * (attempt + 1))
            alive = [a for a in _require().worker_threads(client) if a != addr]
            addr = alive[0] if alive else None
    [fut] = client.scatter([part], workers=[addr] if addr else None, hash=False)
    return fut, ([addr] if addr else None)


def _run(client, func, parts, placement, shared, split, threads_arg, retries, what):
    """Run ``_kernel_task`` on every part; results in order."""
    import distributed

    retries = _config.DISTRIBUTED_CHUNK_RETRIES if retries is None else retries
    retries = _config._check_integral(retries, "retries")
    if retries < 0:
        raise ValueError(f"retries must be >= 0; got {retries}")
    import secrets

    tag = secrets.token_hex(5)
    shared = dict(shared)
    scatter_everywhere = _require().scatter_everywhere
    common = [scatter_everywhere(client, func), scatter_everywhere(client, shared)]
    held = list(common)
    tries = [0] * len(parts)
    futures = [None] * len(parts)

    def submit(i, addr):
        if tries[i] and _require().lost_keys(client, common):
            # every worker holding them died: scattered data is not recomputed
            common[:] = [scatter_everywhere(client, func), scatter_everywhere(client, shared)]
            held.extend(common)
        part = parts[i]
        target = [addr] if addr is not None else None
        if _is_large_array(part):
            part, target = _scatter_part(client, part, addr)
            held.append(part)
        elif type(part) is tuple and any(_is_large_array(p) for p in part):
            # a part carrying large arrays (e.g. a slide and its mask): each
            # goes straight to the part's worker, not into the task graph
            out = []
            for p in part:
                if _is_large_array(p):
                    p, target = _scatter_part(client, p, addr)
                    held.append(p)
                    addr = target[0] if target else None
                out.append(p)
            part = tuple(out)
        for attempt in (0, 1):
            fn_fut, shared_fut = common
            try:
                futures[i] = client.submit(
                    _kernel_task, fn_fut, part, shared_fut, split, threads_arg,
                    key=f"gilfree-{what}-{tag}-{i}-{tries[i]}-{attempt}", pure=False,
                    workers=target, allow_other_workers=target is not None,
                )
                break
            except concurrent.futures.CancelledError:
                if attempt:
                    raise
                # the scheduler had already forgotten the scattered arguments
                common[:] = [scatter_everywhere(client, func),
                             scatter_everywhere(client, shared)]
                held.extend(common)
        held.append(futures[i])

    try:
        for i, addr in enumerate(placement):
            submit(i, addr)
        index = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(parts)
        ac = distributed.as_completed(list(futures), loop=client.loop)
        for done in ac:
            i = index[done.key]
            if done.status == "finished":
                results[i] = done.result()
                continue
            exc = None if done.status == "cancelled" else done.exception()
            lost = exc is None or isinstance(exc, distributed.KilledWorker)
            if lost and tries[i] < retries:
                tries[i] += 1
                time.sleep(_config.PARALLEL_RETRY_BACKOFF_BASE * 2 ** tries[i])
                alive = _require().worker_threads(client)
                submit(i, placement[i] if placement[i] in alive else None)
                index[futures[i].key] = i
                ac.add(futures[i])
                continue
            if lost:
                from .parallel import WorkerCrashedError

                raise WorkerCrashedError(
                    f"gilfree.distributed.{what}: chunk {i} of {len(parts)} was lost with its "
                    f"worker after {tries[i]} resubmission(s) (retries={retries}): "
                    + (str(exc) if exc is not None else "its task or its input was lost"),
                    candidates=[i],
                )
            try:
                done.result()
            except BaseException as err:
                from .parallel._errors import add_note

                add_note(err, f"gilfree.distributed.{what}: raised by chunk {i} of "
                              f"{len(parts)} on the Dask cluster")
                raise
        return results
    finally:
        with contextlib.suppress(Exception):
            client.cancel([f for f in held if f is not None])


def scale_rows(func, split, kwargs, *, axis=0, out_axis=0, min_rows=1, threads_arg="n_threads",
               combine=None, client=None, n_workers=None, retries=None):
    """Run ``func(**kwargs)`` on a cluster, cutting ``kwargs[split]`` into
    one chunk per worker.

    Each chunk is the slice of ``kwargs[split]`` along ``axis`` whose size
    is proportional to its worker's threads; it is sent to that worker
    only.  The other arguments are scattered once to every worker.  Each
    task calls ``func(**kwargs, split=chunk, threads_arg=nthreads)`` and
    the results are joined with ``combine`` (default: concatenated along
    ``out_axis``), in order.

    Parameters
    ----------
    func : callable
        A function of keyword arguments, e.g. a gilfree kernel.
    split : str
        The keyword whose array is split (e.g. ``"points"``).
    kwargs : dict
        All of ``func``'s arguments, including ``split``.
    axis, out_axis : int
        Axis of ``kwargs[split]`` to cut, and of the results to join.
    min_rows : int
        Fewest elements along ``axis`` per chunk (fewer chunks otherwise).
    threads_arg : str or None
        Keyword through which ``func`` takes its thread count (None: none;
        ``n_threads=None`` inside the task still resolves to the worker's
        threads).
    combine : callable, optional
        ``combine(list_of_results) -> result``.
    client : distributed.Client, str or None
        The cluster; None starts a local one for this call.
    n_workers : int, optional
        Use only the first ``n_workers`` workers of the cluster.
    retries : int, optional
        Resubmissions of a chunk lost with its worker (default
        ``DISTRIBUTED_CHUNK_RETRIES``).
    """
    if split not in kwargs:
        raise ValueError(f"split={split!r} is not one of the keyword arguments "
                         f"{sorted(kwargs)}")
    data = kwargs[split]
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    shared = {k: v for k, v in kwargs.items() if k != split}
    with _connection(client, n_workers) as (c, workers):
        per = _config.DISTRIBUTED_CHUNKS_PER_WORKER
        addrs = [a for a in workers for _ in range(per)]
        weights = [workers[a] for a in addrs]
        bounds = split_bounds(data.shape[axis], weights, min_rows)
        index = [slice(None)] * data.ndim
        parts, placement = [], []
        for k in range(len(bounds) - 1):
            index[axis] = slice(bounds[k], bounds[k + 1])
            parts.append(np.ascontiguousarray(data[tuple(index)]))
            placement.append(addrs[k])
        results = _run(c, func, parts, placement, shared, split, threads_arg, retries,
                       getattr(func, "__name__", "scale_rows"))
    if combine is not None:
        return combine(results)
    return np.concatenate(results, axis=out_axis)


def scale_items(func, items, kwargs=None, *, threads_arg="n_threads", client=None,
                n_workers=None, retries=None):
    """``[func(item, **kwargs) for item in items]`` on a cluster, one task
    per item, each with its worker's threads.

    Items are spread over the workers in proportion to their threads
    (large arrays go straight to their worker; paths and small objects
    travel with the task); ``kwargs`` are scattered once to every worker.

    Returns
    -------
    list
        The results, in the order of ``items``.
    """
    items = list(items)
    if not items:
        return []
    with _connection(client, n_workers) as (c, workers):
        slots = [a for a, nt in workers.items() for _ in range(nt)]
        placement = [slots[i % len(slots)] for i in range(len(items))]
        return _run(c, func, items, placement, dict(kwargs or {}), None, threads_arg,
                    retries, getattr(func, "__name__", "scale_items"))


# --------------------------------------------------------------------------
# Kernel adapters
# --------------------------------------------------------------------------


def _parzen_inputs(samples, points, widths, weights):
    """The checks of gilfree.parzen_density, done once on the client."""
    x = as_points_matrix(samples, "samples")
    n, d = x.shape
    q_in = points if isinstance(points, np.ndarray) else np.asarray(points)
    if q_in.ndim == 1 and d > 1 and q_in.shape[0] == d:
        q_in = q_in.reshape(1, d)
    q = as_points_matrix(q_in, "points", d=d)
    h, scalar = check_positive_finite(widths, "widths")
    w = None if weights is None else check_weights(weights, n)
    return x, q, (float(h[0]) if scalar else h), w


def parzen_counts(samples, points, widths, *, engine="auto", client=None, n_workers=None,
                  retries=None):
    """:func:`gilfree.parzen_counts` on a Dask cluster, points split across
    workers; returns exactly what the local call returns.

    Parameters
    ----------
    samples : array_like, shape (n, d) or (n,)
        Scattered once to every worker.
    points : array_like, shape (m, d) or (m,)
        Cut into one chunk per worker (sized by its threads).
    widths : float or array_like, shape (H,)
    engine : str
        Engine used on the workers.
    client : distributed.Client, str or None
        The cluster (None: a LocalCluster for this call).
    n_workers : int, optional
        Use only the first ``n_workers`` workers.
    retries : int, optional
        Resubmissions of a chunk lost with its worker.

    Returns
    -------
    counts : ndarray of int64, shape (m,) for a scalar width, else (m, H)
    """
    from .parzen import parzen_counts as local

    x, q, h, _ = _parzen_inputs(samples, points, widths, None)
    return scale_rows(local, "points", dict(samples=x, points=q, widths=h, engine=engine),
                      min_rows=_config.PARZEN_INDEX_MIN_POINTS, client=client,
                      n_workers=n_workers, retries=retries)


def parzen_density(samples, points, widths, *, weights=None, engine="auto", client=None,
                   n_workers=None, retries=None):
    """:func:`gilfree.parzen_density` on a Dask cluster, points split across
    workers; bit for bit what the local call returns (each chunk keeps at
    least ``PARZEN_INDEX_MIN_POINTS`` points, so it sums the samples in
    the same order as the whole call).

    Returns
    -------
    density : ndarray of float64, shape (m,) for a scalar width, else (m, H)
    """
    from .parzen import parzen_density as local

    x, q, h, w = _parzen_inputs(samples, points, widths, weights)
    return scale_rows(local, "points", dict(samples=x, points=q, widths=h, weights=w,
                                            engine=engine),
                      min_rows=_config.PARZEN_INDEX_MIN_POINTS, client=client,
                      n_workers=n_workers, retries=retries)


def parzen(*args, **kwargs):
    """Deprecated name of :func:`parzen_density` (a FutureWarning)."""
    warnings.warn("gilfree.distributed.parzen is deprecated and will be removed in the next "
                  "release; use gilfree.distributed.parzen_density, with the same arguments",
                  FutureWarning, stacklevel=2)
    return parzen_density(*args, **kwargs)


def kde(samples, points, bandwidth, *, kernel="gaussian", weights=None, log=False,
        dtype=np.float64, engine="auto", client=None, n_workers=None, retries=None):
    """:func:`gilfree.kde` on a Dask cluster, points split across workers.

    The samples (and weights) are scattered once to every worker; each
    worker evaluates its share of the points with all of its threads.
    Returns what the local call returns (same shape and dtype; each point's
    value is computed by the same kernel over the same samples).

    Returns
    -------
    ndarray, shape (m,) for a scalar bandwidth, else (m, H)
    """
    from .kde import _as_points
    from .kde import kde as local

    x = as_points_matrix(samples, "samples")
    q = _as_points(points, x.shape[1])
    check_positive_finite(bandwidth, "bandwidth")
    if weights is not None:
        weights = check_weights(weights, x.shape[0])
    return scale_rows(local, "points",
                      dict(samples=x, points=q, bandwidth=bandwidth, kernel=kernel,
                           weights=weights, log=log, dtype=dtype, engine=engine),
                      client=client, n_workers=n_workers, retries=retries)


def gaussian_kde_evaluate(kde, points, *, log=False, client=None, n_workers=None,
                          retries=None):
    """``kde.evaluate(points)`` (or ``kde.logpdf`` with ``log=True``) of a
    :class:`gilfree.gaussian_kde` on a Dask cluster: the estimator (its
    dataset) is scattered once to every worker, the points are split.
    ``gaussian_kde.evaluate(points, client=...)`` calls this.

    Returns
    -------
    ndarray, shape (m,)
    """
    q = kde._points(points)  # (m, d), checked here as the local call does
    method = kde.logpdf if log else kde.evaluate
    return scale_rows(method, "points" if not log else "x",
                      {("points" if not log else "x"): np.ascontiguousarray(q.T)},
                      axis=1, out_axis=0, threads_arg=None, client=client,
                      n_workers=n_workers, retries=retries)


def resize_batch(images, shape=None, method="bicubic", *, size=None, engine="auto",
                 client=None, n_workers=None, retries=None):
    """:func:`gilfree.resize_batch` on a Dask cluster: the images are split
    across workers (each receives only its own), each worker resizes its
    share with all of its threads; bit for bit the local result.

    ``shape`` is the output ``(rows, cols)`` (NumPy order), ``method`` as for
    :func:`gilfree.resize` (default ``"bicubic"``); ``size`` is the
    deprecated alias of ``shape`` (a FutureWarning).

    Returns
    -------
    ndarray, shape (N, rows, cols) or (N, rows, cols, C), the input dtype
    """
    from .resize import _shape_of
    from .resize import normalize_method
    from .resize import resize_batch as local

    shape = _shape_of("gilfree.distributed.resize_batch", shape, size)
    method = normalize_method(method)
    arr = images if isinstance(images, np.ndarray) else np.asarray(images)
    if arr.ndim not in (3, 4):
        # let the local function word the error
        return local(arr, shape, method, engine=engine, n_threads=1)
    return scale_rows(local, "images", dict(images=arr, shape=shape, method=method,
                                            engine=engine),
                      client=client, n_workers=n_workers, retries=retries)


# --------------------------------------------------------------------------
# Slide tiling
# --------------------------------------------------------------------------

#: A view of a file's bytes, reopened read-only on a worker: the file's
#: path, the view's dtype, shape and strides, and the file offset of its
#: first byte (so a memmap, or any view of one, travels without its data).
_MappedView = collections.namedtuple("_MappedView",
                                     ["filename", "dtype", "shape", "strides", "offset"])

#: A slide file opened on a worker: ``kind`` is "npy" or "tiff".
_SlideFile = collections.namedtuple("_SlideFile", ["kind", "path"])

_TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".ome.tif", ".svs")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _address(a):
    return a.__array_interface__["data"][0]


def _mapped_view(a):
    """``a`` as a :data:`_MappedView` when its memory is a file mapped by an
    ``np.memmap`` (also what ``np.load(mmap_mode=...)`` and
    ``tifffile.memmap`` return), else None."""
    root = a
    while isinstance(root, np.ndarray):
        # the memmap np.memmap() created: its buffer is the mmap itself, its
        # ``offset`` the file offset of its first byte (views copy the
        # parent's ``offset``, so only the root's is that of its data)
        if isinstance(root, np.memmap) and isinstance(root.base, mmap.mmap):
            break
        root = root.base
    else:
        return None
    if getattr(root, "filename", None) is None or a.size == 0:
        return None
    if root.mode in ("r+", "w+"):
        root.flush()  # the workers read the file: write out what was changed through it
    lo = _address(a)
    for n, st in zip(a.shape, a.strides):
        if st < 0:
            lo += (n - 1) * st
    return _MappedView(root.filename, a.dtype.str, a.shape, a.strides,
                       int(root.offset) + (lo - _address(root)))


def _open_mapped(v):
    """Worker side: the view of a :data:`_MappedView`, read-only, backed by
    a memmap of just the bytes it spans."""
    dtype = np.dtype(v.dtype)
    lo = hi = 0
    for n, st in zip(v.shape, v.strides):
        if st < 0:
            lo += (n - 1) * st
        else:
            hi += (n - 1) * st
    span = hi - lo + dtype.itemsize
    mm = np.memmap(v.filename, dtype=np.uint8, mode="r", offset=v.offset, shape=(span,))
    return np.ndarray(v.shape, dtype, buffer=mm, offset=-lo, strides=v.strides)


def _open_tiff(path):
    import tifffile  # on the worker only

    try:
        return tifffile.memmap(path, mode="r")
    except ValueError:  # compressed or tiled: not memory-mappable, read whole
        return tifffile.imread(path)


def _open_source(src):
    """Worker side: the array a slide (or mask) source stands for."""
    if isinstance(src, _MappedView):
        return _open_mapped(src)
    if isinstance(src, _SlideFile):
        if src.kind == "npy":
            return np.load(src.path, mmap_mode="r")
        return _open_tiff(src.path)
    return src


def _file_kind(path):
    """"npy" or "tiff" by the file's suffix, else by its first bytes."""
    low = path.lower()
    if low.endswith(".npy"):
        return "npy"
    if low.endswith(_TIFF_SUFFIXES):
        return "tiff"
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        head = b""
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head[:4] in _TIFF_MAGIC:
        return "tiff"
    raise ValueError(
        f"slide path {path!r} is neither a .npy nor a TIFF file (by its suffix or first "
        "bytes); open other formats yourself and pass the array or an np.memmap"
    )


def _source(obj):
    """``(what travels to the worker, the array the client can check or
    None)`` for a slide or a mask: a path is opened on the worker (a .npy
    header is read here too, to check it); a memmap travels as a
    :data:`_MappedView`; anything else as itself."""
    if isinstance(obj, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(obj))
        kind = _file_kind(path)
        if kind == "npy":
            return _SlideFile("npy", path), np.load(path, mmap_mode="r")
        return _SlideFile("tiff", path), None
    if isinstance(obj, np.ndarray):
        view = _mapped_view(obj)
        return (obj if view is None else view), obj
    return obj, obj


def _tiles_part(part, size, stride, threshold, min_fraction, out_shape, method, pad, engine,
                n_threads):
    """Worker side: the tiles of one slide, or of one band of its tile rows.

    ``part = (slide, slide_rows, mask, mask_rows, shift, last)``: the
    sources and the rows ``(lo, hi)`` to take of each (None: all, or the
    client sent only those rows); ``shift`` is added to the tiles' row
    coordinates, and with ``last`` only tiles whose origin row is at most
    ``last`` (before the shift) are kept.
    """
    from .tiles import Tiles
    from .tiles import tiles as local

    src, rows, msrc, mrows, shift, last = part
    image = _open_source(src)
    if rows is not None:
        image = image[rows[0]:rows[1]]
    mask = None
    if msrc is not None:
        mask = _open_source(msrc)
        if mrows is not None:
            mask = mask[mrows[0]:mrows[1]]
    out = local(image, size, stride, threshold=threshold, mask=mask,
                min_fraction=min_fraction, out_shape=out_shape, method=method, pad=pad,
                engine=engine, n_threads=n_threads)
    if last is None and not shift:
        return out
    # a padded band also has origins below its own last tile row (tiles of
    # the next band, here padded): those go
    k = len(out.coords)
    if last is not None:
        k = int(np.searchsorted(out.coords[:, 0], last, side="right"))
    coords = out.coords[:k].copy()
    coords[:, 0] += shift
    return Tiles(coords, out.fraction[:k], out.patches[:k])


def _join_tiles(parts):
    from .tiles import Tiles

    if len(parts) == 1:
        return parts[0]
    return Tiles(np.concatenate([p.coords for p in parts]),
                 np.concatenate([p.fraction for p in parts]),
                 np.concatenate([p.patches for p in parts]))


def _slide_masks(mask, n):
    if isinstance(mask, (list, tuple)):
        if len(mask) != n:
            raise ValueError(
                f"mask must be one boolean array for every slide, or a list of one (or None) "
                f"per slide; got a list of {len(mask)} for {n} slides"
            )
        return list(mask)
    return [mask] * n


def _band_plan(job, weight, cap):
    """Row bands ``(r_lo, r_hi, last origin)`` of whole tile rows cutting a
    checked slide into parts of at most about ``cap`` bytes read."""
    n_r = len(job.rows)
    k = min(n_r, int(-(-weight // cap))) if cap > 0 else 1
    if k < 2:
        return None
    bounds = split_bounds(n_r, [1.0] * k)
    bands = []
    for i0, i1 in zip(bounds[:-1], bounds[1:]):
        r_lo, last = int(job.rows[i0]), int(job.rows[i1 - 1])
        bands.append((r_lo, min(last + job.th, job.H), last))
    return bands


def tiles(slides, size, stride=None, *, threshold=None, mask=None, min_fraction=0.0,
          out_shape=None, method="area", pad=None, out_size=None, engine="auto", client=None,
          n_workers=None, retries=None):
    """:func:`gilfree.tiles` of every slide of a list, on a Dask cluster.

    Returns exactly ``[gilfree.tiles(s, size, stride, ...) for s in
    slides]`` (same coordinates, fractions and patches, bit for bit), each
    slide tiled by one worker with all of its threads, or cut into bands of
    whole tile rows tiled by several.

    Parameters
    ----------
    slides : list of array_like, np.memmap, str or os.PathLike
        In-memory images (shape (H, W) or (H, W, C), uint8, uint16, float32
        or float64) go to one worker each (directly, when large).  A memmap
        (or any view of one, e.g. from ``np.load(path, mmap_mode="r")`` or
        ``tifffile.memmap``) never travels with its data: its file, dtype,
        shape, strides and offset do, and the worker maps the file
        read-only.  A path to a ``.npy`` file is opened with
        ``np.load(path, mmap_mode="r")`` on the worker, a TIFF with
        ``tifffile.memmap`` (``tifffile.imread`` when it is compressed or
        tiled).  Files must be readable at the same path on the workers
        (a shared filesystem); a copy-on-write (``mode="c"``) memmap is read
        from its file, without changes made through it.
    size, stride, threshold, min_fraction, out_shape, method, pad, engine
        As for :func:`gilfree.tiles`, the same for every slide.
    out_size : int or (int, int), optional
        Deprecated alias of ``out_shape`` (a FutureWarning).
    mask : array, list or None
        One boolean mask for every slide, or a list with one mask (array,
        memmap, ``.npy`` path, or None) per slide.
    client : distributed.Client, str or None
        The cluster (None: a LocalCluster for this call).
    n_workers : int, optional
        Use only the first ``n_workers`` workers.
    retries : int, optional
        Resubmissions of a task lost with its worker.

    Returns
    -------
    list of Tiles
        One per slide, in order.

    Notes
    -----
    The arguments are checked on the client as :func:`gilfree.tiles`
    checks them, with the same errors, slide by slide (a TIFF slide, whose
    header is only read on a worker, is checked there).  A slide larger
    than its share of the cohort (``DISTRIBUTED_TILES_PARTS_PER_WORKER``
    parts per worker, none under ``DISTRIBUTED_TILES_MIN_PART_BYTES`` of
    image) is cut into row bands of whole tile rows: each band is tiled as
    the sub-image of its rows and its coordinates shifted back, which gives
    the same tiles, since every tile depends only on its own pixels.  The
    parts go to the workers largest first, each to the least loaded one.
    """
    from .tiles import _Job

    out_shape = renamed_argument("gilfree.distributed.tiles", "out_size", "out_shape", out_size,
                                 out_shape,
                                 note=" (the same (height, width) order)", stacklevel=3)
    if isinstance(slides, (str, bytes, os.PathLike, np.ndarray)) or not hasattr(
            slides, "__iter__"):
        raise TypeError(
            "slides must be a list of slides (arrays, memmaps or paths); got "
            f"{type(slides).__name__} (wrap a single slide in a list: [slide])"
        )
    slides = list(slides)
    if not slides:
        return []
    masks = _slide_masks(mask, len(slides))
    kwargs = dict(size=size, stride=stride, threshold=threshold, min_fraction=min_fraction,
                  out_shape=out_shape, method=method, pad=pad, engine=engine)

    # the checks of gilfree.tiles, on the client, nothing read
    checked = []  # (slide source, mask source, job or None, weight)
    for i, (slide, m) in enumerate(zip(slides, masks)):
        src, local = _source(slide)
        msrc, mlocal = (None, None) if m is None else _source(m)
        job = None
        if local is not None and (m is None or mlocal is not None):
            try:
                job = _Job(local, size, stride, threshold, mlocal, min_fraction, out_shape,
                           method, pad)
                if engine != "auto":
                    _config.resolve_engine("tiles", engine)
            except (TypeError, ValueError) as exc:
                from .parallel._errors import add_note

                add_note(exc, f"gilfree.distributed.tiles: slide {i} of {len(slides)}")
                raise
            if not isinstance(local, np.ndarray):  # array_like: converted once, here
                src = job.arr[..., 0] if job.squeeze else job.arr
            if m is not None and not isinstance(mlocal, np.ndarray):
                msrc = np.asarray(m)
            weight = max(1, job.n_grid) * job.th * job.tw * job.C * job.dtype.itemsize
        elif isinstance(src, _SlideFile):  # a TIFF: its size stands for its work
            try:
                weight = os.path.getsize(src.path)
            except OSError:
                weight = 1
        else:
            weight = max(1, int(getattr(src, "nbytes", 1)))
        checked.append((src, msrc, job, weight))

    with _connection(client, n_workers) as (c, workers):
        total = sum(w for *_, w in checked)
        cap = max(total / (len(workers) * _config.DISTRIBUTED_TILES_PARTS_PER_WORKER),
                  _config.DISTRIBUTED_TILES_MIN_PART_BYTES)
        parts, owner, weights = [], [], []
        for i, (src, msrc, job, weight) in enumerate(checked):
            bands = _band_plan(job, weight, cap) if job is not None else None
            if bands is None:
                parts.append((src, None, msrc, None, 0, None))
                owner.append(i)
                weights.append(weight)
                continue
            for r_lo, r_hi, last in bands:
                # in memory: only the band's rows travel; files: the worker
                # takes the band's rows of its mapping
                piece = []
                for a in (src, msrc):
                    if isinstance(a, np.ndarray):
                        piece += [a[r_lo:r_hi], None]
                    else:
                        piece += [a, None if a is None else (r_lo, r_hi)]
                parts.append((*piece, r_lo, last - r_lo))
                owner.append(i)
                weights.append(weight * (r_hi - r_lo) / job.H)
        placement = _largest_first(weights, workers)
        results = _run(c, _tiles_part, parts, placement, kwargs, None, "n_threads", retries,
                       "tiles")
    per_slide = [[] for _ in slides]
    for i, res in zip(owner, results):
        per_slide[i].append(res)
    return [_join_tiles(p) for p in per_slide]


def _largest_first(weights, workers):
    """A worker address per part: parts by decreasing weight, each to the
    worker whose load per thread would be least (LPT scheduling)."""
    addrs = list(workers)
    load = {a: 0.0 for a in addrs}
    placement = [None] * len(weights)
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        a = min(addrs, key=lambda a: (load[a] + weights[i]) / workers[a])
        load[a] += weights[i]
        placement[i] = a
    return placement


# --------------------------------------------------------------------------
# DTW parameter sweeps
# --------------------------------------------------------------------------


def _sweep_group(points, data, sampling_rate_hz, estimator, columns, engine, n_threads):
    """Worker side: :func:`gilfree.dtw.sweep` over grid points sharing one
    cost matrix; the estimators come back pickled together, so that they
    still share their cost function and cost data."""
    import cloudpickle

    from . import dtw

    grid = [{k: [v] for k, v in p.items()} for p in points]
    out = dtw.sweep(data, sampling_rate_hz, grid, estimator=estimator, columns=columns,
                    engine=engine, n_threads=n_threads)
    return cloudpickle.dumps(out, protocol=5)


def dtw_sweep(data, sampling_rate_hz, grid, template=None, *, estimator=None, columns=None,
              engine="auto", client=None, n_workers=None, retries=None):
    """:func:`gilfree.dtw.sweep` on a Dask cluster: one task per distinct
    cost matrix.

    The grid points are grouped by the cost matrix they share (template
    columns, scale and resampled template); each group is one task, whose
    worker computes that matrix once with all of its threads and
    post-processes every point of the group.  ``data`` is scattered once to
    every worker.  Returns what the local sweep returns: one segmented
    ``BarthDtw`` per grid point, in grid order, with the same matches,
    costs and paths; points of a group share ``cost_function_`` and
    ``acc_cost_mat_`` (computed on the client on first access).

    Parameters
    ----------
    data, sampling_rate_hz, grid, template, estimator, columns, engine
        As for :func:`gilfree.dtw.sweep` (checked here, with its errors).
    client : distributed.Client, str or None
        The cluster (None: a LocalCluster for this call).
    n_workers : int, optional
        Use only the first ``n_workers`` workers.
    retries : int, optional
        Resubmissions of a task lost with its worker.

    Returns
    -------
    list of BarthDtw
    """
    import pickle

    from . import dtw

    plan = dtw._plan_sweep(data, sampling_rate_hz, grid, template, estimator, columns, engine)
    groups = {}
    for i, (key, *_) in enumerate(plan.inputs):
        groups.setdefault(key, []).append(i)
    members = list(groups.values())
    items = [[plan.points[i] for i in idx] for idx in members]
    shared = dict(data=data, sampling_rate_hz=sampling_rate_hz, estimator=plan.base,
                  columns=columns, engine=engine)
    blobs = scale_items(_sweep_group, items, shared, client=client, n_workers=n_workers,
                        retries=retries)
    out = [None] * len(plan.points)
    for idx, blob in zip(members, blobs):
        ests = pickle.loads(blob)
        for i, est in zip(idx, ests):
            _as_local_sweep(est)
            out[i] = est
    return out


def _as_local_sweep(est):
    """A segmented estimator from a worker as the local sweep leaves it: its
    ``acc_cost_mat_``, computed here on first access, uses this machine's
    threads (pickling kept the arrays' read-only flags and the sharing of
    cost data between the points of a group)."""
    cd = est.__dict__.get("_cost_data")
    if cd is not None:
        cd.n_threads = None
