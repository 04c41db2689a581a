# ``client`` is a dask.distributed.Client, a scheduler address or None; it
# is typed Any so that the stub needs no dask installed.
from collections.abc import Callable, Iterable, Mapping, Sequence
from os import PathLike
from typing import Any, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from typing_extensions import Unpack, deprecated

from .._typing import (
    ClusterDtwSweepOptions,
    ClusterEngineOptions,
    ClusterOptions,
    ClusterTilesOptions,
    ClusterWeightsOptions,
    Engine,
    Float32Like,
    Float64Like,
    IntOrPair,
    KernelName,
    ParamGrid,
    PixelT,
    ResizeMethod,
    ScaleItemsOptions,
    ScaleRowsOptions,
    Shape2,
)
from ..dtw import BarthDtw, DtwTemplate
from ..kde import gaussian_kde
from ..tiles import Tiles

# the same names as the runtime's __all__ (stubtest checks that they agree)
__all__ = [
    "DaskUnavailableError", "local_cluster", "split_bounds", "scale_rows", "scale_items",
    "parzen_counts", "parzen_density", "kde", "gaussian_kde_evaluate", "resize_batch", "tiles",
    "dtw_sweep",
]

_R = TypeVar("_R")
_T = TypeVar("_T")

class DaskUnavailableError(ImportError): ...

def local_cluster(
    n_workers: int | None = None, threads_per_worker: int | None = None, *, dashboard: bool = False
) -> Any: ...  # a distributed.Client
def split_bounds(length: int, weights: Iterable[float], min_size: int = 1) -> list[int]: ...
def scale_rows(
    func: Callable[..., Any], split: str, kwargs: Mapping[str, Any], **options: Unpack[ScaleRowsOptions]
) -> Any: ...
def scale_items(
    func: Callable[..., _R], items: Iterable[Any], kwargs: Mapping[str, Any] | None = None,
    **options: Unpack[ScaleItemsOptions],
) -> list[_R]: ...

# the kernels' adapters: the kernel's arguments, less n_threads (each worker
# uses its cores), plus client=, n_workers= and retries=
def parzen_counts(
    samples: ArrayLike, points: ArrayLike, widths: float | ArrayLike,
    **options: Unpack[ClusterEngineOptions],
) -> NDArray[np.int64]: ...
def parzen_density(
    samples: ArrayLike, points: ArrayLike, widths: float | ArrayLike,
    **options: Unpack[ClusterWeightsOptions],
) -> NDArray[np.float64]: ...
@deprecated("gilfree.distributed.parzen is deprecated: use gilfree.distributed.parzen_density")
def parzen(
    samples: ArrayLike, points: ArrayLike, widths: float | ArrayLike,
    **options: Unpack[ClusterWeightsOptions],
) -> NDArray[np.float64]: ...
# (an overload lists its keywords: stubtest cannot check **Unpack[...] in overloads)
@overload
def kde(
    samples: ArrayLike, points: ArrayLike, bandwidth: float | ArrayLike, *,
    kernel: KernelName = "gaussian", weights: ArrayLike | None = None, log: bool = False,
    dtype: Float32Like, engine: Engine = "auto", client: Any = None,
    n_workers: int | None = None, retries: int | None = None,
) -> NDArray[np.float32]: ...
@overload
def kde(
    samples: ArrayLike, points: ArrayLike, bandwidth: float | ArrayLike, *,
    kernel: KernelName = "gaussian", weights: ArrayLike | None = None, log: bool = False,
    dtype: Float64Like = ..., engine: Engine = "auto", client: Any = None,
    n_workers: int | None = None, retries: int | None = None,
) -> NDArray[np.float64]: ...
def gaussian_kde_evaluate(
    kde: gaussian_kde, points: ArrayLike, *, log: bool = False, **options: Unpack[ClusterOptions]
) -> NDArray[np.floating[Any]]: ...
@overload
def resize_batch(
    images: NDArray[PixelT], shape: Shape2 | None = None, method: ResizeMethod = "bicubic", *,
    size: Shape2 | None = None, engine: Engine = "auto", client: Any = None,
    n_workers: int | None = None, retries: int | None = None,
) -> NDArray[PixelT]: ...
@overload
def resize_batch(
    images: ArrayLike, shape: Shape2 | None = None, method: ResizeMethod = "bicubic", *,
    size: Shape2 | None = None, engine: Engine = "auto", client: Any = None,
    n_workers: int | None = None, retries: int | None = None,
) -> NDArray[Any]: ...
def tiles(
    slides: Sequence[ArrayLike | str | PathLike[str]], size: IntOrPair,
    stride: IntOrPair | None = None, **options: Unpack[ClusterTilesOptions],
) -> list[Tiles]: ...
def dtw_sweep(
    data: Any, sampling_rate_hz: float, grid: ParamGrid, template: DtwTemplate | Any | None = None,
    **options: Unpack[ClusterDtwSweepOptions],
) -> list[BarthDtw]: ...
