from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from typing_extensions import TypeAlias

from ._typing import Engine, Float32Like, Float64Like, KernelName

__all__ = ["KERNELS", "SingularCovarianceError", "gaussian_kde", "kde"]

KERNELS: Final[tuple[KernelName, ...]]

class SingularCovarianceError(np.linalg.LinAlgError, ValueError): ...

# The result has the dtype= asked for: float64 (the default) or float32.  (An
# overload lists its keywords: stubtest cannot check **Unpack[...] in overloads.)
@overload
def kde(
    samples: ArrayLike, points: ArrayLike, bandwidth: float | ArrayLike, *,
    kernel: KernelName = "gaussian", weights: ArrayLike | None = None, log: bool = False,
    dtype: Float32Like, engine: Engine = "auto", n_threads: int | None = None,
) -> NDArray[np.float32]: ...
@overload
def kde(
    samples: ArrayLike, points: ArrayLike, bandwidth: float | ArrayLike, *,
    kernel: KernelName = "gaussian", weights: ArrayLike | None = None, log: bool = False,
    dtype: Float64Like = ..., engine: Engine = "auto", n_threads: int | None = None,
) -> NDArray[np.float64]: ...

_BwMethod: TypeAlias = Literal["scott", "silverman"] | float | Callable[[Any], float] | None

class gaussian_kde:
    dataset: NDArray[Any]
    d: int
    n: int
    factor: float
    covariance: NDArray[np.float64]
    cho_cov: NDArray[np.float64]
    log_det: float
    def __init__(
        self,
        dataset: ArrayLike,
        bw_method: _BwMethod = None,
        weights: ArrayLike | None = None,
        *,
        dtype: Float64Like | Float32Like = ...,
        engine: Engine = "auto",
        n_threads: int | None = None,
    ) -> None: ...
    def scotts_factor(self) -> float: ...
    def silverman_factor(self) -> float: ...
    def covariance_factor(self) -> float: ...
    def set_bandwidth(self, bw_method: _BwMethod = None) -> None: ...
    @property
    def inv_cov(self) -> NDArray[np.float64]: ...
    @property
    def weights(self) -> NDArray[np.float64]: ...
    @property
    def neff(self) -> float: ...
    # float64, or float32 for a dtype=np.float32 estimate
    def evaluate(self, points: ArrayLike, client: Any = None) -> NDArray[np.floating[Any]]: ...
    def __call__(self, points: ArrayLike, client: Any = None) -> NDArray[np.floating[Any]]: ...
    def pdf(self, x: ArrayLike) -> NDArray[np.floating[Any]]: ...
    def logpdf(self, x: ArrayLike) -> NDArray[np.floating[Any]]: ...
    def resample(
        self,
        size: int | None = None,
        seed: int | np.random.RandomState | np.random.Generator | None = None,
    ) -> NDArray[np.float64]: ...
    def marginal(self, dimensions: int | Sequence[int] | NDArray[np.integer[Any]]) -> gaussian_kde: ...
    # integrals (scipy's)
    def integrate_gaussian(self, mean: ArrayLike, cov: ArrayLike) -> float: ...
    def integrate_box_1d(self, low: float, high: float) -> float: ...
    def integrate_box(
        self,
        low_bounds: ArrayLike,
        high_bounds: ArrayLike,
        maxpts: int | None = None,
        *,
        rng: int | np.random.Generator | None = None,
    ) -> float: ...
    def integrate_kde(self, other: Any) -> float: ...
