"""The generic scale-out of gilfree.distributed: a function over the
chunks of one array argument (:func:`scale_rows`) or over the items of a
list (:func:`scale_items`), on a Dask cluster, through gilfree's one Dask
layer (:mod:`gilfree.parallel._cluster`: connecting, scattering, and the
resubmit policy of lost tasks).
"""

import concurrent.futures
import contextlib
import secrets
import threading
import time

import numpy as np

from .. import _config
from ..parallel import WorkerCrashedError
from ..parallel._errors import add_note

_INSTALL = "pip install 'gilfree[dask]'"


class DaskUnavailableError(ImportError):
    """dask.distributed is not installed (the ``gilfree[dask]`` extra)."""


def _require():
    """The Dask layer, or an error with the install command (dask is an
    optional dependency: imported on first use only)."""
    try:
        from ..parallel import _cluster
    except ImportError as exc:
        raise DaskUnavailableError(
            f"gilfree.distributed needs dask.distributed ({exc}); install it with: {_INSTALL}"
        ) from exc
    return _cluster


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
    cluster = _require()
    return cluster.local_client(*cluster.default_layout(n_workers, threads_per_worker),
                                dashboard)


# --------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------

#: One kernel at a time per worker process: each uses all the worker's
#: threads, so chunks that land on the same worker queue instead of
#: multiplying its threads.
_KERNEL_LOCK = threading.Lock()


def _kernel_task(func, part, shared, split, threads_arg):
    from distributed import get_worker  # dask is optional: on the workers only

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


def _run(client, func, parts, placement, shared, split, threads_arg, retries, what):
    """Run ``_kernel_task`` on every part; results in order."""
    cluster = _require()
    retries = _config.DISTRIBUTED_CHUNK_RETRIES if retries is None else retries
    retries = _config._check_integral(retries, "retries")
    if retries < 0:
        raise ValueError(f"retries must be >= 0; got {retries}")
    tag = secrets.token_hex(5)
    shared = dict(shared)
    scatter_everywhere = cluster.scatter_everywhere
    policy = cluster.Resubmits(retries)
    common = [scatter_everywhere(client, func), scatter_everywhere(client, shared)]
    held = list(common)
    futures = [None] * len(parts)

    def submit(i, addr):
        if policy.count(i) and cluster.lost_keys(client, common):
            # every worker holding them died: scattered data is not recomputed
            common[:] = [scatter_everywhere(client, func), scatter_everywhere(client, shared)]
            held.extend(common)
        part = parts[i]
        target = [addr] if addr is not None else None
        if _is_large_array(part):
            part, target = cluster.scatter_to(client, part, addr)
            held.append(part)
        elif type(part) is tuple and any(_is_large_array(p) for p in part):
            # a part carrying large arrays (e.g. a slide and its mask): each
            # goes straight to the part's worker, not into the task graph
            out = []
            for p in part:
                if _is_large_array(p):
                    p, target = cluster.scatter_to(client, p, addr)
                    held.append(p)
                    addr = target[0] if target else None
                out.append(p)
            part = tuple(out)
        for attempt in (0, 1):
            fn_fut, shared_fut = common
            try:
                futures[i] = client.submit(
                    _kernel_task, fn_fut, part, shared_fut, split, threads_arg,
                    key=f"gilfree-{what}-{tag}-{i}-{policy.count(i)}-{attempt}", pure=False,
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
        ac = cluster.distributed.as_completed(list(futures), loop=client.loop)
        for done in ac:
            i = index[done.key]
            if done.status == "finished":
                results[i] = done.result()
                continue
            exc = None if done.status == "cancelled" else done.exception()
            killed = cluster.Resubmits.is_killed(exc)
            if exc is None or killed:
                delay = policy.delay(i, killed)
                if delay is not None:
                    time.sleep(delay)
                    alive = cluster.worker_threads(client)
                    submit(i, placement[i] if placement[i] in alive else None)
                    index[futures[i].key] = i
                    ac.add(futures[i])
                    continue
                raise WorkerCrashedError(
                    f"gilfree.distributed.{what}: chunk {i} of {len(parts)} was lost with its "
                    f"worker after {policy.count(i)} resubmission(s) (retries={retries}): "
                    + (str(exc) if exc is not None else "its task or its input was lost"),
                    candidates=[i],
                )
            try:
                done.result()
            except BaseException as err:
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
        Resubmissions of a chunk whose worker the scheduler gave up on
        (default 2); a chunk that vanished with its worker is resubmitted
        in any case, up to 5 times.
    """
    if split not in kwargs:
        raise ValueError(f"split={split!r} is not one of the keyword arguments "
                         f"{sorted(kwargs)}")
    data = kwargs[split]
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    shared = {k: v for k, v in kwargs.items() if k != split}
    with _require().connection(client, n_workers) as (c, workers):
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
    with _require().connection(client, n_workers) as (c, workers):
        slots = [a for a, nt in workers.items() for _ in range(nt)]
        placement = [slots[i % len(slots)] for i in range(len(items))]
        return _run(c, func, items, placement, dict(kwargs or {}), None, threads_arg,
                    retries, getattr(func, "__name__", "scale_items"))
