import dataclasses
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from typing_extensions import Self, Unpack

from .._typing import BackendName, MapOptions, SweepOptions

# the same names as the runtime's __all__ (stubtest checks that they agree)
__all__ = [
    "pmap", "imap", "shared", "SharedArray", "Parallelize", "sweep", "with_params",
    "ParallelError", "WorkerCrashedError", "TaskTimeoutError", "TaskExitError",
    "BackendUnavailableError", "SharedMemoryIdentityError",
    "Backend", "register_backend", "available_backends", "Plan", "last_plan",
]

_T = TypeVar("_T")
_R = TypeVar("_R")
_ScalarT = TypeVar("_ScalarT", bound=np.generic)
_ScalarT_co = TypeVar("_ScalarT_co", bound=np.generic, covariant=True)

# -- errors -------------------------------------------------------------------

class ParallelError(RuntimeError): ...

class WorkerCrashedError(ParallelError):
    index: int | None
    candidates: list[int]
    exitcode: int | None
    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        candidates: Iterable[int] = (),
        exitcode: int | None = None,
    ) -> None: ...

class TaskTimeoutError(TimeoutError):
    index: int | None
    timeout: float | None
    def __init__(
        self, message: str, *, index: int | None = None, timeout: float | None = None
    ) -> None: ...

class TaskExitError(ParallelError):
    index: int | None
    exc_type: type[BaseException] | None
    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        exc_type: type[BaseException] | None = None,
    ) -> None: ...

class BackendUnavailableError(ParallelError): ...
class SharedMemoryIdentityError(PermissionError): ...

# -- the map ------------------------------------------------------------------

def pmap(
    func: Callable[[_T], _R], iterable: Iterable[_T], **options: Unpack[MapOptions]
) -> list[_R]: ...

# a generator: close() (or leaving a for loop) cancels the rest of the map
def imap(
    func: Callable[[_T], _R], iterable: Iterable[_T], **options: Unpack[MapOptions]
) -> Generator[_R, None, None]: ...

# -- shared memory --------------------------------------------------------------

class SharedArray(np.ndarray[Any, np.dtype[_ScalarT_co]]):
    """A read-only ndarray backed by a shared-memory segment (see shared())."""

    @property
    def is_shared(self) -> bool: ...
    @property
    def segment_name(self) -> str | None: ...
    def release(self) -> None: ...
    # a copy is an ordinary (private, writeable) ndarray
    def copy(self, order: Literal["C", "F", "A", "K"] = "C") -> NDArray[_ScalarT_co]: ...  # type: ignore[override]
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> Literal[False]: ...

@overload
def shared(array: NDArray[_ScalarT]) -> SharedArray[_ScalarT]: ...
@overload
def shared(array: ArrayLike) -> SharedArray[Any]: ...

# -- helpers ----------------------------------------------------------------------

def Parallelize(  # noqa: N802 - the name of the helper it replaces
    data: Sequence[_T] | NDArray[Any],
    f: Callable[[_T], ArrayLike],
    num_cores: int | None = None,
    backend: BackendName = "processes",
) -> NDArray[Any]: ...
def sweep(
    func: Callable[..., _R],
    grid: Mapping[str, Iterable[Any]] | Sequence[Mapping[str, Iterable[Any]]],
    **options: Unpack[SweepOptions],
) -> list[tuple[dict[str, Any], _R]]: ...
def with_params(obj: _T, params: Mapping[str, Any]) -> _T: ...

# -- backends -----------------------------------------------------------------------

class Backend:
    """Base class of the parallel map's backends (see register_backend)."""

    name: ClassVar[str]
    isolated: ClassVar[bool]
    shares_memory: ClassVar[bool]
    stops_tasks: ClassVar[bool]
    soft_timeouts: ClassVar[bool]
    serial_when_single: ClassVar[bool]
    needs_pickling: ClassVar[bool]
    target_chunk_seconds: ClassVar[float]
    timeout_mode: Literal["alarm", "posthoc"] | None
    n_workers: int
    run: Any
    def __init__(self, n_workers: int, run: Any) -> None: ...
    def describe(self) -> str: ...
    def start(self) -> None: ...
    def submit(self, chunk: Any) -> None: ...
    def outcome(self, chunk: Any, raw: Any) -> Any: ...
    def release(self, chunk: Any) -> None: ...
    def running(self, chunk: Any) -> tuple[int, int, float] | None: ...
    def on_timeout(self, chunk: Any) -> Literal["abandoned", "killed"] | None: ...
    def crash_error(self, exc: BaseException, chunk: Any, inflight: Any) -> BaseException: ...
    def shutdown(self, abort: bool = False) -> None: ...

def register_backend(
    name: str,
    factory: type[Backend] | Callable[[int, Any], Backend] | str,
    *,
    install_hint: str | None = None,
    replace: bool = False,
) -> None: ...
def available_backends() -> list[str]: ...

# -- backend="auto" -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Plan:
    """What ``backend="auto"`` chose for a map, and why."""

    backend: str
    n_workers: int
    reason: str
    probe_tasks: int = 0
    probe_seconds: float = 0.0
    task_seconds: float | None = None
    first_call_seconds: float | None = None
    cpu_share: float | None = None
    gil_share: float | None = None
    pickle_seconds: float | None = None
    pickle_bytes: float | None = None
    picklable: bool | None = None
    total: int | None = None
    estimates: dict[str, float] = ...

def last_plan() -> Plan | None: ...
