from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from typing_extensions import Unpack, deprecated

from ._typing import Engine, EngineOptions, FloatT, Int, OutOptions

__all__ = ["resample_linear", "resample_linear_many", "resample_poly"]

def resample_linear(
    x: ArrayLike, num: Int, axis: Int = 0, **options: Unpack[EngineOptions]
) -> NDArray[np.float64]: ...
def resample_linear_many(
    arrays: Sequence[ArrayLike], num: Int, **options: Unpack[OutOptions]
) -> NDArray[np.float64]: ...

# float32 input gives float32 and float64 input float64; other input float64
# (or, when up == down after the gcd, a copy in the input's own dtype, as
# scipy returns).  An overload lists its keywords: stubtest cannot check
# **Unpack[...] in overloads.
@overload
def resample_poly(
    x: NDArray[FloatT], up: Int, down: Int, axis: Int = 0,
    window: tuple[Literal["kaiser"], float] = ("kaiser", 5.0),
    padtype: Literal["constant"] = "constant", cval: float | None = None, *,
    engine: Engine = "auto", n_threads: int | None = None,
) -> NDArray[FloatT]: ...
@overload
def resample_poly(
    x: ArrayLike, up: Int, down: Int, axis: Int = 0,
    window: tuple[Literal["kaiser"], float] = ("kaiser", 5.0),
    padtype: Literal["constant"] = "constant", cval: float | None = None, *,
    engine: Engine = "auto", n_threads: int | None = None,
) -> NDArray[Any]: ...

# deprecated names (a FutureWarning at run time)
@deprecated("gilfree.resample is linear interpolation: use gilfree.resample_linear")
def resample(
    x: ArrayLike, num: Int, axis: Int = 0, *, method: Literal["linear"] = "linear",
    **options: Unpack[EngineOptions],
) -> NDArray[np.float64]: ...
@deprecated("gilfree.resample_many is linear interpolation: use gilfree.resample_linear_many")
def resample_many(
    arrays: Sequence[ArrayLike], num: Int, **options: Unpack[OutOptions]
) -> NDArray[np.float64]: ...
