
import numpy as np
from numpy.typing import ArrayLike, NDArray

from typing_extensions import deprecated

from ._typing import Engine

__all__ = ["parzen_counts", "parzen_density"]

# shape (m,) for a scalar width, (m, H) for H widths
def parzen_counts(
    samples: ArrayLike,
    points: ArrayLike,
    widths: float | ArrayLike,
    *,
    engine: Engine = "auto",
    n_threads: int | None = None,
) -> NDArray[np.int64]: ...
def parzen_density(
    samples: ArrayLike,
    points: ArrayLike,
    widths: float | ArrayLike,
    *,
    weights: ArrayLike | None = None,
    engine: Engine = "auto",
    n_threads: int | None = None,
) -> NDArray[np.float64]: ...
@deprecated("gilfree.parzen is deprecated: use gilfree.parzen_density (same arguments)")
def parzen(
    samples: ArrayLike,
    points: ArrayLike,
    widths: float | ArrayLike,
    *,
    weights: ArrayLike | None = None,
    engine: Engine = "auto",
    n_threads: int | None = None,
) -> NDArray[np.float64]: ...
