from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from typing_extensions import Unpack

from ._typing import IntOrPair, IterTilesOptions, TilesOptions

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
    image: ArrayLike, size: IntOrPair, stride: IntOrPair | None = None,
    **options: Unpack[TilesOptions],
) -> Tiles: ...
def iter_tiles(
    image: ArrayLike, size: IntOrPair, stride: IntOrPair | None = None,
    **options: Unpack[IterTilesOptions],
) -> Iterator[Tiles]: ...
