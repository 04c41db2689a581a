"""The parameter and exception sections shared by the docstrings of
``pmap`` and ``imap``."""

_PARAMS_DOC = """
    Parameters
    ----------
    func : callable
        Called as ``func(item)`` for each item.  On the ``processes``
        backend it travels with cloudpickle (lambdas and closures work);
        NumPy arrays of 1 MiB or more that it or the items reference go
        through shared memory, read-only, instead of being pickled: copied
        when the map starts (the function's) or when the chunk that needs
        them is sent (the items'), into buffers whose pages are reused for
        later arrays, or with no copy at all if made with :func:`shared`.
        See the guide page "Parallel map guarantees".
    iterable : iterable
        The items.  Read lazily, a chunk at a time: at most a few chunks
        per worker, and at most ``prefetch_bytes`` of arrays, are read
        ahead of the results, so a generator of millions of items (or of
        large arrays) is never held in memory.
    backend : {"threads", "processes", "serial", "auto"} or a registered name
        ``threads`` for GIL-free kernels (gilfree's, NumPy, Numba) and
        I/O; ``processes`` for GIL-bound Python code; ``serial`` runs in
        the caller (also what ``n_workers=1`` does); ``dask`` runs on a
        dask.distributed cluster (``pip install 'gilfree[dask]'``); ``auto``
        times the first tasks (serially, then on two threads; their results
        are kept) and runs the rest serially, on threads or on processes,
        whichever it predicts fastest (see ``gilfree.parallel.last_plan()``).
    n_workers : int, optional
        Workers; None is one per usable core, -1 all cores, -2 all but one.
    chunksize : "auto" or int
        Tasks per chunk.  ``auto`` measures task times and grows chunks
        until one takes about 10 ms (threads) or 50 ms (processes), so
        per-task overhead is amortised even for trivial tasks.
    ordered : bool
        True: results in input order (default); False: in completion
        order.
    progress : bool or callable
        True shows a tqdm bar; a callable receives ``(done, total)``
        (``total`` None for inputs without a length).  Counts finished
        tasks, whatever the order of the results.
    timeout : float, optional
        Seconds per task.  A task past it raises :class:`TaskTimeoutError`
        (a :class:`TimeoutError`) naming the item.  On ``processes`` the
        task is interrupted in its worker and, if it does not stop within
        a second (stuck in C code), killed with its worker process (loky
        starts another; the other workers and their tasks go on); on
        ``threads`` it is abandoned (threads cannot be killed).
    retries : int
        Extra attempts for a task that raises (or times out), with
        exponential back-off (0.1 s, 0.2 s, 0.4 s... +-25 %): for flaky
        I/O such as downloads.  On ``processes`` a task whose worker died
        (or was killed past its timeout) is retried too: loky then starts
        a new pool, and the other chunks that were running or queued run
        again there from their start (their tasks may run twice).
    initializer, initargs : callable, tuple
        Run as ``initializer(*initargs)`` once in each worker (thread or
        process) before its first task; in the caller for ``serial``.
    inner_threads : "auto", int or None
        Threads that gilfree kernels, Numba, OpenMP and BLAS may use inside
        each worker: ``auto`` is ``cores // n_workers`` (at least 1) so
        that workers x inner threads never oversubscribe the cores; None
        leaves the libraries alone.
    client : dask.distributed.Client or str, optional
        Only with ``backend="dask"``: the cluster to run on, as a Client or
        a scheduler address (``"tcp://host:8786"``).  None starts a
        LocalCluster on 127.0.0.1 (``n_workers`` single-threaded worker
        processes, no dashboard) for this map and closes it afterwards.
        ``n_workers`` then defaults to the cluster's threads; functions and
        large arrays are sent to each worker once (see ``gilfree.distributed``).
    prefetch_bytes : "auto" or int
        Bytes of NumPy arrays (held by items directly or in tuples, lists
        and dicts, each array counted once; on ``processes`` also the
        shared copies) that the chunks in flight may hold before the map
        stops reading input; one chunk always runs.  ``auto`` is 512 MiB,
        at most an eighth of the physical memory.
"""

_RAISES_DOC = """
    Raises
    ------
    Exception
        The first failing task's own exception (same type), with the
        worker's traceback as its ``__cause__``, a note naming the item's
        index and ``exc.gilfree_index``.  Remaining work is cancelled.
    TaskTimeoutError
        A task ran past ``timeout`` (after its retries).
    WorkerCrashedError
        A process worker died (segfault, ``os._exit``, out-of-memory
        killer) while running a task (after its retries); the pool is
        restarted for the next map.
    TaskExitError
        A task or the initializer raised a ``BaseException`` that is not an
        ``Exception`` (``SystemExit``, ``KeyboardInterrupt``...); the
        original is its ``__cause__``.
    NotImplementedError
        ``backend="processes"`` on a platform without POSIX shared memory.
"""
