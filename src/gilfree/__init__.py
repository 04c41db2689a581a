"""gilfree: GIL-free NumPy kernels, a parallel map, and a benchmark.

Hot kernels are compiled twice, with Numba (``prange``) and with Cython
(``nogil`` + OpenMP ``prange``), so that Python threads really use every
core; NumPy and plain-Python versions of each kernel serve as fallback and
as the test oracle.  ``gilfree info`` shows what this installation built.
"""

from ._config import EngineUnavailableError, resolve_n_threads, usable_cores
from ._info import show_config
from .parzen import parzen, parzen_counts
from .kde import gaussian_kde, kde
from .parallel import (
    Parallelize,
    WorkerCrashedError,
    imap,
    pmap,
    shared,
    sweep,
    with_params,
)
from .resample import resample, resample_many, resample_poly
from .resize import resize, resize_batch
from .tiles import Tiles, iter_tiles, tiles
from . import dtw

# The version is written in pyproject.toml only; the installed metadata has it.
from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _dist_version

try:
    __version__ = _dist_version("gilfree")
except _NotInstalled:  # pragma: no cover - a source tree without metadata
    __version__ = "0+unknown"
del _NotInstalled, _dist_version

__all__ = [
    "EngineUnavailableError",
    "gaussian_kde",
    "kde",
    "dtw",
    "parzen",
    "parzen_counts",
    "resample",
    "resample_many",
    "resample_poly",
    "resize",
    "resize_batch",
    "resolve_n_threads",
    "show_config",
    "usable_cores",
    "Tiles",
    "iter_tiles",
    "tiles",
    # parallel map
    "Parallelize",
    "WorkerCrashedError",
    "imap",
    "pmap",
    "shared",
    "sweep",
    "with_params",
]
