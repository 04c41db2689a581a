import numpy as np
from numpy.typing import ArrayLike, NDArray
from typing_extensions import Unpack, deprecated

from ._typing import EngineOptions, WeightsOptions

__all__ = ["parzen_counts", "parzen_density"]

# shape (m,) for a scalar width, (m, H) for H widths
def parzen_counts(
    samples: ArrayLike, points: ArrayLike, widths: float | ArrayLike, **options: Unpack[EngineOptions]
) -> NDArray[np.int64]: ...
def parzen_density(
    samples: ArrayLike, points: ArrayLike, widths: float | ArrayLike, **options: Unpack[WeightsOptions]
) -> NDArray[np.float64]: ...
@deprecated("gilfree.parzen is deprecated: use gilfree.parzen_density (same arguments)")
def parzen(
    samples: ArrayLike, points: ArrayLike, widths: float | ArrayLike, **options: Unpack[WeightsOptions]
) -> NDArray[np.float64]: ...
