from enum import IntEnum
from typing import Any, Final, overload

from numpy.typing import ArrayLike, NDArray

from ._typing import Engine, PixelT, ResizeMethod, ResizeMethodName, Shape2

__all__ = ["METHODS", "cv2_method", "pillow_method", "resize", "resize_batch"]

METHODS: Final[tuple[ResizeMethodName, ...]]

def pillow_method(code: int | IntEnum) -> ResizeMethodName: ...
def cv2_method(code: int | str) -> ResizeMethodName: ...

# The result has the image's dtype (uint8, uint16, float32 or float64).  (An
# overload lists its keywords: stubtest cannot check **Unpack[...] in overloads.)
@overload
def resize(
    image: NDArray[PixelT], shape: Shape2 | None = None, method: ResizeMethod = "bicubic", *,
    size: Shape2 | None = None, engine: Engine = "auto", n_threads: int | None = None,
) -> NDArray[PixelT]: ...
@overload
def resize(
    image: ArrayLike, shape: Shape2 | None = None, method: ResizeMethod = "bicubic", *,
    size: Shape2 | None = None, engine: Engine = "auto", n_threads: int | None = None,
) -> NDArray[Any]: ...
@overload
def resize_batch(
    images: NDArray[PixelT], shape: Shape2 | None = None, method: ResizeMethod = "bicubic", *,
    size: Shape2 | None = None, out: NDArray[PixelT] | None = None, engine: Engine = "auto",
    n_threads: int | None = None,
) -> NDArray[PixelT]: ...
@overload
def resize_batch(
    images: ArrayLike, shape: Shape2 | None = None, method: ResizeMethod = "bicubic", *,
    size: Shape2 | None = None, out: NDArray[Any] | None = None, engine: Engine = "auto",
    n_threads: int | None = None,
) -> NDArray[Any]: ...
