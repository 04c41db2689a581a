"""The parallel map: one call for serial, threads and processes.

- :func:`pmap` / :func:`imap` map a function over an iterable (lazily for
  ``imap``), in order or as completed, with auto-chunking, progress,
  timeouts, retries and honest failures.
- :func:`shared` puts an array in shared memory once; process workers map
  it read-only without copying.  Large arrays in process tasks' arguments
  are shared automatically.
- :func:`Parallelize` and :func:`sweep` / :func:`with_params` are the
  helpers of many analysis scripts, done right.
- :func:`register_backend` plugs in more backends (e.g. Dask).
- ``backend="auto"`` decides from the first tasks; :func:`last_plan` says
  what it chose and why.
"""

from ._api import imap, pmap
from ._attach import SharedMemoryIdentityError
from ._auto import Plan, last_plan
from ._backends import (
    Backend,
    BackendUnavailableError,
    available_backends,
    register_backend,
)
from ._errors import ParallelError, TaskExitError, TaskTimeoutError, WorkerCrashedError
from ._shared import SharedArray, shared
from ._sweep import Parallelize, sweep, with_params

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "Parallelize",
    "ParallelError",
    "Plan",
    "SharedArray",
    "SharedMemoryIdentityError",
    "TaskExitError",
    "TaskTimeoutError",
    "WorkerCrashedError",
    "available_backends",
    "imap",
    "last_plan",
    "pmap",
    "register_backend",
    "shared",
    "sweep",
    "with_params",
]
