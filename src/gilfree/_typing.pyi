# Type aliases shared by gilfree's stub files.  This module exists only as a
# stub (there is no gilfree/_typing.py): the names are for type checkers.
from enum import IntEnum
from typing import Any, Literal, TypeAlias, TypeVar

import numpy as np
from numpy.typing import NDArray

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
BackendName: TypeAlias = Literal["threads", "processes", "serial", "dask"] | str

#: ``dtype=`` of the KDE functions: float64 (exact) or float32 (fast mode).
Float32Like: TypeAlias = type[np.float32] | np.dtype[np.float32] | Literal["float32", "f4"]
Float64Like: TypeAlias = (
    type[np.float64] | type[float] | np.dtype[np.float64] | Literal["float64", "f8"]
)

#: The pixel types of the image kernels (resize, tiles).
PixelT = TypeVar("PixelT", np.uint8, np.uint16, np.float32, np.float64)

#: A real-valued float array of unspecified precision.
FloatArray: TypeAlias = NDArray[np.floating[Any]]

#: ``int`` or an ``(int, int)`` pair (tile sizes, strides, output shapes).
IntOrPair: TypeAlias = int | tuple[int, int]

#: A 2-D ``(rows, cols)`` output shape.
Shape2: TypeAlias = tuple[int, int]
