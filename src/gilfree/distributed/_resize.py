""":func:`gilfree.resize_batch` on a Dask cluster: the images split
across workers."""

import numpy as np

from ..resize import _shape_of, normalize_method
from ..resize import resize_batch as _resize_local
from ._core import scale_rows


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
    shape = _shape_of("gilfree.distributed.resize_batch", shape, size)
    method = normalize_method(method)
    arr = images if isinstance(images, np.ndarray) else np.asarray(images)
    if arr.ndim not in (3, 4):
        # let the local function word the error
        return _resize_local(arr, shape, method, engine=engine, n_threads=1)
    return scale_rows(_resize_local, "images", dict(images=arr, shape=shape, method=method,
                                            engine=engine),
                      client=client, n_workers=n_workers, retries=retries)
