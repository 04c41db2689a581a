from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._typing import Engine, Int, IntOrPair, ResizeMethod

__all__ = ["Tiles", "iter_tiles", "tiles"]

class Tiles(NamedTuple):
    """The kept tiles, in row-major order of their origins."""

    #: top-left ``(row, col)`` of each kept tile, int64 (k, 2)
    coords: NDArray[np.int64]
    #: foreground fraction of each kept tile, float64 (k,)
    fraction: NDArray[np.float64]
    #: the tiles (k, oh, ow[, C]), the image's dtype
    patches: NDArray[Any]

def tiles(
    image: ArrayLike,
    size: IntOrPair,
    stride: IntOrPair | None = None,
    *,
    threshold: float | None = None,
    mask: NDArray[np.bool_] | None = None,
    min_fraction: float = 0.0,
    out_shape: IntOrPair | None = None,
    method: ResizeMethod = "area",
    pad: float | Sequence[float] | None = None,
    out_size: IntOrPair | None = None,
    engine: Engine = "auto",
    n_threads: int | None = None,
) -> Tiles: ...
def iter_tiles(
    image: ArrayLike,
    size: IntOrPair,
    stride: IntOrPair | None = None,
    *,
    threshold: float | None = None,
    mask: NDArray[np.bool_] | None = None,
    min_fraction: float = 0.0,
    out_shape: IntOrPair | None = None,
    method: ResizeMethod = "area",
    pad: float | Sequence[float] | None = None,
    batch_size: Int = 256,
    out_size: IntOrPair | None = None,
    engine: Engine = "auto",
    n_threads: int | None = None,
) -> Iterator[Tiles]: ...
