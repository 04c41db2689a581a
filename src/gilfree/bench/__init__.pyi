# `gilfree bench`: its Python API (the runner, and the Workload / Approach
# classes a plug-in workload subclasses and registers).
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Literal, TypeVar

# the same names as the runtime's __all__ (stubtest checks that they agree)
__all__ = [
    "SCHEMA", "BenchError", "Approach", "Workload", "Unavailable",
    "AmdahlFit", "amdahl_fit", "amdahl_speedup", "scaling_verdict",
    "register", "all_workloads", "get_workload", "default_workers", "run",
]

_W = TypeVar("_W", bound=Workload)

#: the schema name of the results record ("gilfree-bench/<version>")
SCHEMA: Final[str]

class BenchError(RuntimeError): ...

@dataclasses.dataclass
class Approach:
    name: str
    kind: str
    workers: int
    run: Callable[[], Any]
    scale: float = 1.0
    note: str = ""
    serial: str = ""
    close: Callable[[], None] | None = None
    check: Callable[[Any], bool] | None = None
    warmup: bool = True
    @property
    def estimated(self) -> bool: ...

class Workload:
    name: str
    title: str
    description: str
    requires: tuple[str, ...]
    baseline: str
    unit: str
    amdahl_applies: bool
    amdahl_note: str
    def available(self) -> tuple[bool, str]: ...
    def params(self, quick: bool) -> dict[str, Any]: ...
    def describe_size(self, quick: bool = False) -> str: ...
    def summary(self, params: dict[str, Any]) -> str: ...
    def work(self, params: dict[str, Any], data: Any) -> float | None: ...
    def ceiling(self, data: Any) -> dict[str, Any] | None: ...
    def setup(self, params: dict[str, Any]) -> Any: ...
    def reference(self, data: Any) -> Any: ...
    def approaches(self, data: Any, workers: Sequence[int]) -> list[Approach]: ...
    def dask_approaches(self, data: Any, client: Any, workers: Sequence[int]) -> list[Approach]: ...
    def same(self, result: Any, reference: Any) -> bool: ...

class Unavailable(Workload):
    def __init__(self, name: str, title: str, reason: str) -> None: ...

@dataclasses.dataclass(frozen=True)
class AmdahlFit:
    serial_fraction: float
    residual: float
    workers: tuple[int, ...]
    def speedup(self, p: float) -> float: ...

def register(workload: _W) -> _W: ...
def all_workloads() -> list[Workload]: ...
def get_workload(name: str) -> Workload: ...
def amdahl_fit(workers: Sequence[int], seconds: Sequence[float]) -> AmdahlFit | None: ...
def amdahl_speedup(f: float, p: float) -> float: ...
def scaling_verdict(
    points: Iterable[tuple[int, float]] | Mapping[int, float],
    *,
    cores: int | None = None,
    applies: bool = True,
    note: str = "",
) -> dict[str, Any]: ...
def default_workers(cores: int | None = None) -> list[int]: ...
def run(
    names: Sequence[str] | None = None,
    *,
    workers: Sequence[int] | None = None,
    quick: bool = False,
    repeats: int = 3,
    min_time: float | None = None,
    max_time: float | None = None,
    on_step: Callable[[str, Approach], object] | None = None,
    on_workload: Callable[[Workload], object] | None = None,
    backend: Literal["local", "dask"] = "local",
) -> dict[str, Any]: ...
