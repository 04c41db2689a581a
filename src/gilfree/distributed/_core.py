"""The generic scale-out of gilfree.distributed: a function over the
chunks of one array argument (:func:`scale_rows`) or over the items of a
list (:func:`scale_items`), on a Dask cluster, through gilfree's one Dask
layer (:mod:`gilfree.parallel._cluster`: connecting, scattering, and the
resubmit policy of lost tasks).
"""

import contextlib
import queue
import secrets
import threading

import numpy as np

from .. import _config
from ..parallel import WorkerCrashedError
from ..parallel._checks import _check_retries
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


def _run(client, func, parts, placement, shared, split, threads_arg, retries, what):
    """Run ``_kernel_task`` on every part, each on its worker of
    ``placement`` (None: any), through the one task loop of the Dask layer
    (:class:`gilfree.parallel._cluster.Tasks`); results in order."""
    cluster = _require()
    retries = None if retries is None else _check_retries(retries)
    lock = threading.Lock()
    common = [cluster.scatter_everywhere(client, func),
              cluster.scatter_everywhere(client, shared)]
    held = list(common)

    def submit(i, key, again):
        addr = placement[i]
        with lock:
            if again == "forgotten" or (again and cluster.lost_keys(client, common)):
                # every worker holding them died: scattered data is not recomputed
                common[:] = [cluster.scatter_everywhere(client, func),
                             cluster.scatter_everywhere(client, shared)]
                held.extend(common)
            fn_fut, shared_fut = common
        if again and addr not in cluster.worker_threads(client):
            addr = None
        part, target = parts[i], ([addr] if addr is not None else None)
        # large arrays (a part, or those of a part that is a tuple, e.g. a
        # slide and its mask) go straight to the part's worker, not into the
        # task graph
        pieces = part if type(part) is tuple else (part,)
        out = []
        for p in pieces:
            if isinstance(p, np.ndarray) and p.nbytes >= _config.DASK_SCATTER_MIN_BYTES:
                p, target = cluster.scatter_to(client, p, addr)
                addr = target[0] if target else None
                with lock:
                    held.append(p)
            out.append(p)
        part = tuple(out) if type(part) is tuple else out[0]
        return client.submit(_kernel_task, fn_fut, part, shared_fut, split, threads_arg,
                             key=key, pure=False, workers=target,
                             allow_other_workers=target is not None)

    ends = queue.SimpleQueue()
    tasks = cluster.Tasks(client, retries, f"gilfree-{what}-{secrets.token_hex(5)}", submit,
                          lambda *end: ends.put(end))
    try:
        for i in range(len(parts)):
            tasks.submit(i)
        results = [None] * len(parts)
        for _ in parts:
            i, status, result, exc = _next_end(ends)
            tasks.forget(i)
            if status == "finished":
                results[i] = result
            elif status == "lost" or cluster.Resubmits.is_killed(exc):
                raise WorkerCrashedError(
                    f"gilfree.distributed.{what}: chunk {i} of {len(parts)} was lost with its "
                    f"worker after {tasks.policy.count(i)} resubmission(s) "
                    f"(retries={tasks.policy.retries}): "
                    + (str(exc) if exc is not None else "its task or its input was lost"),
                    candidates=[i],
                )
            else:
                add_note(exc, f"gilfree.distributed.{what}: raised by chunk {i} of "
                              f"{len(parts)} on the Dask cluster")
                raise exc
        return results
    finally:
        tasks.close()
        with contextlib.suppress(Exception):
            client.cancel([f for f in held if f is not None])


def _next_end(ends):
    """The next task end of the queue, waiting in short steps (Ctrl-C
    lands between them)."""
    while True:
        try:
            return ends.get(timeout=0.1)
        except queue.Empty:
            pass


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
    data = np.asarray(kwargs[split])
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
