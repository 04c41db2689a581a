# Type aliases shared by gilfree's stub files.  This module exists only as a
# stub (there is no gilfree/_typing.py): the names are for type checkers.
from collections.abc import Callable, Hashable, Mapping, Sequence
from enum import IntEnum
from os import PathLike
from typing import Any, Literal, TypeAlias, TypedDict, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .dtw import BarthDtw

#: ``engine=`` of every kernel ("auto" is cython, else numba, else numpy).
Engine: TypeAlias = Literal["auto", "cython", "numba", "numpy", "python"]

#: ``kernel=`` of :func:`gilfree.kde` and :class:`gilfree.KernelDensity`.
KernelName: TypeAlias = Literal[
    "gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine"
]

#: ``method=`` of :func:`gilfree.resize`: a name, or a Pillow
#: ``Image.Resampling`` member (an ``IntEnum``; bare ints are refused).
ResizeMethodName: TypeAlias = Literal[
    "nearest", "box", "bilinear", "hamming", "bicubic", "lanczos", "area"
]
ResizeMethod: TypeAlias = ResizeMethodName | IntEnum

#: The built-in backends of the parallel map; any registered name is a str.
BackendName: TypeAlias = Literal["auto", "threads", "processes", "serial", "dask"] | str

#: ``dtype=`` of the KDE functions: float64 (exact) or float32 (fast mode).
Float32Like: TypeAlias = type[np.float32] | np.dtype[np.float32] | Literal["float32", "f4"]
Float64Like: TypeAlias = (
    type[np.float64] | type[float] | np.dtype[np.float64] | Literal["float64", "f8"]
)

#: The pixel types of the image kernels (resize, tiles).
PixelT = TypeVar("PixelT", np.uint8, np.uint16, np.float32, np.float64)

#: The floating types a kernel keeps: float32 in, float32 out; float64 likewise.
FloatT = TypeVar("FloatT", np.float32, np.float64)

#: An integer count or index: Python's or NumPy's (bool is refused at run time).
Int: TypeAlias = int | np.integer[Any]

#: A 2-D ``(rows, cols)`` output shape: a pair of integers (a tuple, a list
#: or a 1-D integer array; the length is checked at run time).
Shape2: TypeAlias = Sequence[Int] | NDArray[np.integer[Any]]

#: An integer or a ``(rows, cols)`` pair (tile sizes, strides, output shapes).
IntOrPair: TypeAlias = Int | Shape2

#: ``grid=`` of the DTW sweeps: {parameter: values}, or a list of such dicts.
ParamGrid: TypeAlias = Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]]

#: ``progress=`` of the parallel map: False, True (a tqdm bar) or
#: ``callback(done, total)`` (``total`` None for inputs without a length).
Progress: TypeAlias = bool | Callable[[int, int | None], object]

# -- keyword options shared by several functions --------------------------------
# Each set is written once here and taken as ``**options: Unpack[...]`` (the
# keys are keyword-only, optional, checked by name and type; the defaults are
# the runtime's).  The building blocks:

class _Engine(TypedDict, total=False):
    engine: Engine

class EngineOptions(_Engine, total=False):
    """A kernel run in this process: ``engine=`` and ``n_threads=``."""

    n_threads: int | None

class ClusterOptions(TypedDict, total=False):
    """A map on a Dask cluster (gilfree.distributed): the client (a
    ``dask.distributed.Client``, a scheduler address or None, typed Any so the
    stubs need no dask), how many workers, how many resubmits of a lost task."""

    client: Any
    n_workers: int | None
    retries: int | None

class ClusterEngineOptions(_Engine, ClusterOptions, total=False):
    """A kernel adapter of gilfree.distributed: ``engine=`` and the cluster."""

class _Weights(TypedDict, total=False):
    weights: ArrayLike | None

class _TileOptions(TypedDict, total=False):
    threshold: float | None
    min_fraction: float
    out_shape: IntOrPair | None
    method: ResizeMethod
    pad: float | Sequence[float] | None
    out_size: IntOrPair | None

class _DtwSweepOptions(TypedDict, total=False):
    estimator: BarthDtw | None
    columns: Sequence[Hashable] | None

# -- per function family: in this process, and on a cluster ---------------------

class WeightsOptions(_Weights, EngineOptions, total=False): ...
class ClusterWeightsOptions(_Weights, ClusterEngineOptions, total=False): ...

class OutOptions(EngineOptions, total=False):
    """``out=``: a float64 array the result is written into."""

    out: NDArray[np.float64] | None

class TilesOptions(_TileOptions, EngineOptions, total=False):
    mask: NDArray[np.bool_] | None

class IterTilesOptions(TilesOptions, total=False):
    batch_size: Int

class ClusterTilesOptions(_TileOptions, ClusterEngineOptions, total=False):
    #: one mask for every slide, or one per slide (an array, a path or None)
    mask: ArrayLike | Sequence[ArrayLike | str | PathLike[str] | None] | None

class DtwSweepOptions(_DtwSweepOptions, EngineOptions, total=False): ...
class ClusterDtwSweepOptions(_DtwSweepOptions, ClusterEngineOptions, total=False): ...

class SweepOptions(TypedDict, total=False):
    """``gilfree.sweep``: where the grid's points run."""

    backend: BackendName
    n_workers: int | None
    progress: Progress

class MapOptions(SweepOptions, total=False):
    """``pmap`` and ``imap``."""

    chunksize: Literal["auto"] | int
    ordered: bool
    timeout: float | None
    retries: int
    initializer: Callable[..., object] | None
    initargs: tuple[Any, ...]
    inner_threads: Literal["auto"] | int | None
    client: Any
    prefetch_bytes: Literal["auto"] | int

class ScaleItemsOptions(ClusterOptions, total=False):
    """gilfree.distributed.scale_items: the keyword that takes the thread count."""

    threads_arg: str | None

class ScaleRowsOptions(ScaleItemsOptions, total=False):
    axis: int
    out_axis: int
    min_rows: int
    combine: Callable[[list[Any]], Any] | None

class TuningOptions(TypedDict, total=False):
    """``gilfree.set_tuning`` and ``gilfree.tuning``: memory budgets and
    thresholds that never change a result."""

    tiles_band_bytes: int
    kde_min_pairs_per_thread: int
    parzen_min_pairs_per_thread: int
    parallel_share_min_bytes: int
    dask_scatter_min_bytes: int
    dask_start_timeout: float
    dask_close_timeout: float
