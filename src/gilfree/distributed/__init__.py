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

A chunk whose worker dies is rerun by the scheduler; one the scheduler
gives up on is resubmitted (its input scattered again) up to ``retries``
more times, and one whose task or input vanished up to 5 times: the
policy of ``pmap(backend="dask")``.

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

- :func:`parzen_density`, :func:`parzen_counts`, :func:`kde`,
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

from ._core import (
    DaskUnavailableError,
    local_cluster,
    scale_items,
    scale_rows,
    split_bounds,
)
from ._dtw import dtw_sweep
from ._gaussian_kde import gaussian_kde_evaluate
from ._kde import kde
from ._parzen import parzen, parzen_counts, parzen_density
from ._resize import resize_batch
from ._tiles import tiles

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
