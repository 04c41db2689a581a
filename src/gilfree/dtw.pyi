from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from typing_extensions import Self, TypeAlias, Unpack

from ._typing import DtwSweepOptions, EngineOptions, OutOptions, ParamGrid

__all__ = ["BarthDtw", "DtwTemplate", "subsequence_cost_matrix", "sweep"]

_T = TypeVar("_T")
# an attribute of a segmented BarthDtw: a dict {sensor: value} for
# multi-sensor data (as in gaitmap)
_PerSensor: TypeAlias = _T | dict[Hashable, _T]

def subsequence_cost_matrix(
    template: ArrayLike, signal: ArrayLike, **options: Unpack[OutOptions]
) -> NDArray[np.float64]: ...

class DtwTemplate:
    data: Any
    sampling_rate_hz: float | None
    scale: float
    use_cols: Sequence[Hashable] | None
    columns: Sequence[Hashable] | None
    offset: float
    prescaled: bool
    def __init__(
        self,
        data: ArrayLike,
        sampling_rate_hz: float | None,
        scale: float = 1.0,
        use_cols: Sequence[Hashable] | None = None,
        *,
        columns: Sequence[Hashable] | None = None,
        offset: float = 0.0,
        prescaled: bool = False,
    ) -> None: ...
    @classmethod
    def from_gaitmap(cls, template: Any) -> Self: ...
    def get_params(self, deep: bool = True) -> dict[str, Any]: ...
    def set_params(self, **params: Any) -> Self: ...

# a template: gilfree's, a gaitmap template object, or {sensor: template}
_Template: TypeAlias = DtwTemplate | Any | Mapping[Hashable, Any] | None

class BarthDtw:
    template: _Template
    resample_template: bool
    find_matches_method: Literal["find_peaks", "min_under_thres"]
    max_cost: float | None
    min_match_length_s: float | None
    max_match_length_s: float | None
    max_template_stretch_ms: None
    max_signal_stretch_ms: None
    snap_to_min_win_ms: float | None
    snap_to_min_axis: str
    conflict_resolution: bool
    memory: Any
    # results of segment()
    matches_start_end_: _PerSensor[NDArray[np.int64]]
    costs_: _PerSensor[NDArray[np.float64]]
    cost_function_: _PerSensor[NDArray[np.float64]]
    paths_: _PerSensor[list[NDArray[np.int64]]]
    def __init__(
        self,
        template: _Template = None,
        resample_template: bool = True,
        find_matches_method: Literal["find_peaks", "min_under_thres"] = "find_peaks",
        max_cost: float | None = 4.0,
        min_match_length_s: float | None = 0.6,
        max_match_length_s: float | None = 3.0,
        max_template_stretch_ms: None = None,
        max_signal_stretch_ms: None = None,
        snap_to_min_win_ms: float | None = 300,
        snap_to_min_axis: str = "gyr_ml",
        conflict_resolution: bool = True,
        memory: Any = None,
    ) -> None: ...
    def segment(
        self,
        data: Any,
        sampling_rate_hz: float,
        *,
        columns: Sequence[Hashable] | None = None,
        **options: Unpack[EngineOptions],
    ) -> Self: ...
    @property
    def acc_cost_mat_(self) -> _PerSensor[NDArray[np.float64]]: ...
    @property
    def stride_list_(self) -> Any: ...  # a pandas DataFrame (a dict of them per sensor)
    @property
    def matches_start_end_original_(self) -> _PerSensor[NDArray[np.int64]]: ...
    def get_params(self, deep: bool = True) -> dict[str, Any]: ...
    def set_params(self, **params: Any) -> Self: ...

def sweep(
    data: Any, sampling_rate_hz: float, grid: ParamGrid, template: DtwTemplate | Any | None = None,
    **options: Unpack[DtwSweepOptions],
) -> list[BarthDtw]: ...
