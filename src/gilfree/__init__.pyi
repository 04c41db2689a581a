# Type stubs of gilfree's public API (PEP 561: the package ships py.typed).
# The implementation modules carry no annotations; these stubs are checked
# against the installed package by ``python -m mypy.stubtest gilfree`` in CI
# (tests/typing/stubtest-allowlist.txt lists what stubtest cannot see).
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from os import PathLike
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, overload

from typing_extensions import Self, Unpack

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import dtw
from . import parallel as parallel
from ._typing import Engine, Float32Like, Float64Like, KernelName, TuningOptions
from .kde import SingularCovarianceError, gaussian_kde, kde
from .parallel import BackendUnavailableError, ParallelError, Parallelize, TaskTimeoutError
from .parallel import WorkerCrashedError, imap, pmap, shared, sweep, with_params
from .parzen import parzen_counts, parzen_density
from .resample import resample_linear, resample_linear_many, resample_poly
from .resize import cv2_method, pillow_method, resize, resize_batch
from .tiles import Tiles, iter_tiles, tiles

# deprecated, outside __all__ (a FutureWarning at run time)
from .parzen import parzen as parzen
from .resample import resample as resample
from .resample import resample_many as resample_many

__version__: Final[str]

# What `from gilfree import *` gives: the runtime's __all__ (stubtest checks
# that they agree), grouped by where the names are defined.
__all__ = [
    "EngineUnavailableError", "get_num_threads", "resolve_n_threads", "set_num_threads",
    "threads", "usable_cores", "show_config", "get_tuning", "set_tuning", "tuning",
    "KernelDensity", "compare", "dtw",
    "SingularCovarianceError", "gaussian_kde", "kde",  # .kde
    "parzen_counts", "parzen_density",  # .parzen
    "resample_linear", "resample_linear_many", "resample_poly",  # .resample
    "cv2_method", "pillow_method", "resize", "resize_batch",  # .resize
    "Tiles", "iter_tiles", "tiles",  # .tiles
    # .parallel
    "BackendUnavailableError", "ParallelError", "Parallelize", "TaskTimeoutError",
    "WorkerCrashedError", "imap", "pmap", "shared", "sweep", "with_params",
]

# -- threads and engines (gilfree._config) ----------------------------------

class EngineUnavailableError(RuntimeError):
    """An engine was asked for that this installation cannot run."""

def get_num_threads() -> int: ...
def set_num_threads(n: int | None) -> None: ...
def threads(n: int | None) -> AbstractContextManager[int | None]: ...
def usable_cores() -> int: ...
def resolve_n_threads(n_threads: int | None = None, *, name: str = "n_threads") -> int: ...

# -- build and machine description (gilfree._info) ---------------------------

@overload
def show_config(mode: Literal["stdout"] = "stdout", *, probe_numba: bool = True) -> None: ...
@overload
def show_config(mode: Literal["dicts"], *, probe_numba: bool = True) -> dict[str, Any]: ...

# -- tuning: memory budgets and thresholds that never change a result --------

def get_tuning() -> dict[str, int | float]: ...
def set_tuning(**values: Unpack[TuningOptions]) -> dict[str, int | float]: ...
def tuning(**values: Unpack[TuningOptions]) -> AbstractContextManager[dict[str, int | float]]: ...

# -- scikit-learn's KernelDensity (gilfree._kernel_density) ------------------

class KernelDensity:
    bandwidth: float | Literal["scott", "silverman"]
    algorithm: Literal["auto", "kd_tree", "ball_tree"]
    kernel: KernelName
    metric: str
    atol: float
    rtol: float
    breadth_first: bool
    leaf_size: int
    metric_params: dict[str, Any] | None
    engine: Engine
    n_threads: int | None
    dtype: Float64Like | Float32Like
    # fitted attributes (set by fit)
    n_features_in_: int
    feature_names_in_: NDArray[np.object_]
    bandwidth_: float
    def __init__(
        self,
        *,
        bandwidth: float | Literal["scott", "silverman"] = 1.0,
        algorithm: Literal["auto", "kd_tree", "ball_tree"] = "auto",
        kernel: KernelName = "gaussian",
        metric: str = "euclidean",
        atol: float = 0,
        rtol: float = 0,
        breadth_first: bool = True,
        leaf_size: int = 40,
        metric_params: dict[str, Any] | None = None,
        engine: Engine = "auto",
        n_threads: int | None = None,
        dtype: Float64Like | Float32Like = ...,
    ) -> None: ...
    def get_params(self, deep: bool = True) -> dict[str, Any]: ...
    def set_params(self, **params: Any) -> Self: ...
    def fit(
        self, X: ArrayLike, y: object = None, sample_weight: ArrayLike | float | None = None
    ) -> Self: ...
    def score_samples(self, X: ArrayLike) -> NDArray[np.floating[Any]]: ...
    def score(self, X: ArrayLike, y: object = None) -> float: ...
    def sample(
        self,
        n_samples: int = 1,
        random_state: int | np.random.RandomState | np.random.Generator | None = None,
    ) -> NDArray[np.float64]: ...

# -- gilfree.compare (gilfree.bench._compare) -----------------------------------

_T = TypeVar("_T")

class _CompareResult:  # runtime: gilfree.bench._compare.CompareResult (a dataclass)
    record: dict[str, Any]
    recommendation: dict[str, Any] | None
    causes: dict[str, Any]
    differs: list[dict[str, Any]]
    paths: list[Path]
    def __init__(
        self,
        record: dict[str, Any],
        recommendation: dict[str, Any] | None,
        causes: dict[str, Any],
        differs: list[dict[str, Any]],
        paths: list[Path] = ...,
    ) -> None: ...
    @property
    def rows(self) -> list[dict[str, Any]]: ...
    def fastest(self) -> dict[str, Any] | None: ...
    def median(self, backend: str, workers: int | None = None) -> float | None: ...
    def lines(self) -> list[str]: ...
    def save(self, out: str | PathLike[str]) -> list[Path]: ...

def compare(
    func: Callable[[_T], object],
    items: Iterable[_T],
    *,
    backends: Sequence[str] = ("serial", "threads", "processes"),
    workers: int | Sequence[int] | None = None,
    chunksize: Literal["auto"] | int = "auto",
    repeats: int = 3,
    budget_s: float = 30,
    out: str | PathLike[str] | None = None,
) -> _CompareResult: ...
