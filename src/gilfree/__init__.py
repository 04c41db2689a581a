"""gilfree: GIL-free NumPy kernels, a parallel map, and a benchmark.

Hot kernels are compiled twice, with Numba (``prange``) and with Cython
(``nogil`` + OpenMP ``prange``), so that Python threads really use every
core; NumPy and plain-Python versions of each kernel serve as fallback and
as the test oracle.  ``gilfree info`` shows what this installation built.

Thread counts: a kernel called without ``n_threads`` uses
:func:`get_num_threads` threads, set for a block with :func:`threads` or
for the calling thread with :func:`set_num_threads`, and capped inside
``threadpoolctl.threadpool_limits``.  Memory budgets and thresholds that
never change a result: :func:`get_tuning`, :func:`set_tuning`, :func:`tuning`.
"""

from ._config import (
    EngineUnavailableError,
    get_num_threads,
    get_tuning,
    load_openmp as _load_openmp,
    resolve_n_threads,
    set_num_threads,
    set_tuning,
    threads,
    tuning,
    usable_cores,
)
from ._info import show_config
from .parzen import parzen, parzen_counts, parzen_density  # parzen: deprecated
from .kde import SingularCovarianceError, gaussian_kde, kde
from ._kernel_density import KernelDensity
from .parallel import (
    BackendUnavailableError,
    ParallelError,
    Parallelize,
    TaskTimeoutError,
    WorkerCrashedError,
    imap,
    pmap,
    shared,
    sweep,
    with_params,
)
from .resample import (
    resample,  # deprecated: resample_linear
    resample_linear,
    resample_linear_many,
    resample_many,  # deprecated: resample_linear_many
    resample_poly,
)
from .resize import cv2_method, pillow_method, resize, resize_batch
from .tiles import Tiles, iter_tiles, tiles
from . import dtw
from .bench._compare import compare

from ._version import __version__

# Load the extensions' OpenMP runtime now, so that threadpoolctl (entered
# before the first kernel call) finds it and its limits reach gilfree.
_load_openmp()

__all__ = [
    "EngineUnavailableError",
    "KernelDensity",
    "SingularCovarianceError",
    "compare",
    "cv2_method",
    "gaussian_kde",
    "get_num_threads",
    "get_tuning",
    "kde",
    "dtw",
    "parzen_counts",
    "parzen_density",
    "pillow_method",
    "resample_linear",
    "resample_linear_many",
    "resample_poly",
    "resize",
    "resize_batch",
    "resolve_n_threads",
    "set_num_threads",
    "set_tuning",
    "show_config",
    "threads",
    "tuning",
    "usable_cores",
    "Tiles",
    "iter_tiles",
    "tiles",
    # parallel map
    "BackendUnavailableError",
    "ParallelError",
    "Parallelize",
    "TaskTimeoutError",
    "WorkerCrashedError",
    "imap",
    "pmap",
    "shared",
    "sweep",
    "with_params",
]
