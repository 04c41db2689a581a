# ``client`` is a dask.distributed.Client, a scheduler address or None; it
# is typed Any so that the stub needs no dask installed.
from collections.abc import Callable, Iterable, Mapping, Sequence
from os import PathLike
from typing import Any, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from typing_extensions import deprecated

from .._typing import Engine, Float32Like, Float64Like, IntOrPair, KernelName, PixelT, ResizeMethod, Shape2
from ..dtw import BarthDtw, DtwTemplate
from ..kde import gaussian_kde
from ..tiles import Tiles

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

_R = TypeVar("_R")
_T = TypeVar("_T")

class DaskUnavailableError(ImportError): ...

def local_cluster(
    n_workers: int | None = None, threads_per_worker: int | None = None, *, dashboard: bool = False
) -> Any: ...  # a distributed.Client
def split_bounds(length: int, weights: Iterable[float], min_size: int = 1) -> list[int]: ...
def scale_rows(
    func: Callable[..., Any],
    split: str,
    kwargs: Mapping[str, Any],
    *,
    axis: int = 0,
    out_axis: int = 0,
    min_rows: int = 1,
    threads_arg: str | None = "n_threads",
    combine: Callable[[list[Any]], Any] | None = None,
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> Any: ...
def scale_items(
    func: Callable[..., _R],
    items: Iterable[Any],
    kwargs: Mapping[str, Any] | None = None,
    *,
    threads_arg: str | None = "n_threads",
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> list[_R]: ...
def parzen_counts(
    samples: ArrayLike,
    points: ArrayLike,
    widths: float | ArrayLike,
    *,
    engine: Engine = "auto",
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> NDArray[np.int64]: ...
def parzen_density(
    samples: ArrayLike,
    points: ArrayLike,
    widths: float | ArrayLike,
    *,
    weights: ArrayLike | None = None,
    engine: Engine = "auto",
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> NDArray[np.float64]: ...
@deprecated("gilfree.distributed.parzen is deprecated: use gilfree.distributed.parzen_density")
def parzen(
    samples: ArrayLike,
    points: ArrayLike,
    widths: float | ArrayLike,
    *,
    weights: ArrayLike | None = None,
    engine: Engine = "auto",
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> NDArray[np.float64]: ...
@overload
def kde(
    samples: ArrayLike,
    points: ArrayLike,
    bandwidth: float | ArrayLike,
    *,
    kernel: KernelName = "gaussian",
    weights: ArrayLike | None = None,
    log: bool = False,
    dtype: Float32Like,
    engine: Engine = "auto",
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> NDArray[np.float32]: ...
@overload
def kde(
    samples: ArrayLike,
    points: ArrayLike,
    bandwidth: float | ArrayLike,
    *,
    kernel: KernelName = "gaussian",
    weights: ArrayLike | None = None,
    log: bool = False,
    dtype: Float64Like = ...,
    engine: Engine = "auto",
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> NDArray[np.float64]: ...
def gaussian_kde_evaluate(
    kde: gaussian_kde,
    points: ArrayLike,
    *,
    log: bool = False,
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> NDArray[np.floating[Any]]: ...
@overload
def resize_batch(
    images: NDArray[PixelT],
    shape: Shape2 | None = None,
    method: ResizeMethod = "bicubic",
    *,
    size: Shape2 | None = None,
    engine: Engine = "auto",
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> NDArray[PixelT]: ...
@overload
def resize_batch(
    images: ArrayLike,
    shape: Shape2 | None = None,
    method: ResizeMethod = "bicubic",
    *,
    size: Shape2 | None = None,
    engine: Engine = "auto",
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> NDArray[Any]: ...
def tiles(
    slides: Sequence[ArrayLike | str | PathLike[str]],
    size: IntOrPair,
    stride: IntOrPair | None = None,
    *,
    threshold: float | None = None,
    mask: ArrayLike | Sequence[ArrayLike | str | PathLike[str] | None] | None = None,
    min_fraction: float = 0.0,
    out_shape: IntOrPair | None = None,
    method: ResizeMethod = "area",
    pad: float | Sequence[float] | None = None,
    out_size: IntOrPair | None = None,
    engine: Engine = "auto",
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> list[Tiles]: ...
def dtw_sweep(
    data: Any,
    sampling_rate_hz: float,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
    template: DtwTemplate | Any | None = None,
    *,
    estimator: BarthDtw | None = None,
    columns: Sequence[Any] | None = None,
    engine: Engine = "auto",
    client: Any = None,
    n_workers: int | None = None,
    retries: int | None = None,
) -> list[BarthDtw]: ...
