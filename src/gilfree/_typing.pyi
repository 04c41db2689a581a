# Type aliases shared by gilfree's stub files.  This module exists only as a
# stub (there is no gilfree/_typing.py): the names are for type checkers.
from collections.abc import Sequence
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
BackendName: TypeAlias = Literal["auto", "threads", "processes", "serial", "dask"] | str

#: ``dtype=`` of the KDE functions: float64 (exact) or float32 (fast mode).
Float32Like: TypeAlias = type[np.float32] | np.dtype[np.float32] | Literal["float32", "f4"]
Float64Like: TypeAlias = (
    type[np.float64] | type[float] | np.dtype[np.float64] | Literal["float64", "f8"]
)

#: The pixel types of the image kernels (resize, tiles).
PixelT = TypeVar("PixelT", np.uint8, np.uint16, np.float32, np.float64)

#: An integer count or index: Python's or NumPy's (bool is refused at run time).
Int: TypeAlias = int | np.integer[Any]

#: A 2-D ``(rows, cols)`` output shape: a pair of integers (a tuple, a list
#: or a 1-D integer array; the length is checked at run time).
Shape2: TypeAlias = Sequence[Int] | NDArray[np.integer[Any]]

#: An integer or a ``(rows, cols)`` pair (tile sizes, strides, output shapes).
IntOrPair: TypeAlias = Int | Shape2
