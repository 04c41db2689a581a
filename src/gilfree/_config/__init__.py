"""gilfree's configuration: tuning constants (:mod:`.constants`), thread-count
resolution (:mod:`.nthreads`) and the engine registry (:mod:`.registry`).

Everything here is cheap to import: no NumPy kernels, no Numba, no compiled
extension is loaded until an engine is first asked for.  The package
re-exports its submodules' names, and setting one of them here (a test's
``monkeypatch.setattr(_config, NAME, ...)``, :func:`set_tuning`) sets it in
the submodule that owns it too, so the code that reads it sees the change.
"""

import contextlib
import numbers
import sys
import threading
import types

from . import constants, nthreads, registry
from .constants import *  # noqa: F403 - every tuning constant, read as _config.NAME
from .nthreads import *  # noqa: F403
from .nthreads import _cgroup_cache, _check_integral, _inner_limit  # noqa: F401 - used elsewhere
from .registry import *  # noqa: F403
from .registry import _KERNELS, _kernel_spec, _numba_warm  # noqa: F401 - used elsewhere

__all__ = constants.__all__ + nthreads.__all__ + registry.__all__ + [
    "get_tuning", "set_tuning", "tuning"]

_OWNERS = (constants, nthreads, registry)


class _Config(types.ModuleType):
    """This package's module type: an assignment also reaches the owning submodule."""

    def __setattr__(self, name, value):
        for sub in _OWNERS:
            if name in vars(sub):
                setattr(sub, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Config
_this = sys.modules[__name__]
_tuning_lock = threading.Lock()


def _check_tunable(key, value):
    if key not in TUNABLE:  # noqa: F405
        raise TypeError(f"set_tuning() got an unexpected keyword argument {key!r}; "
                        f"the tunable parameters are {', '.join(sorted(TUNABLE))}")  # noqa: F405
    kind, low = TUNABLE[key]  # noqa: F405
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{key} must be an int >= {low}; got {value!r} of type "
                            f"{type(value).__name__}")
        if value < low:
            raise ValueError(f"{key} must be an int >= {low}; got {value}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{key} must be a number of seconds > 0; got {value!r} of type "
                        f"{type(value).__name__}")
    if not 0 < value < float("inf"):
        raise ValueError(f"{key} must be a finite number of seconds > 0; got {value}")
    return float(value)


def get_tuning():
    """The tuning parameters :func:`gilfree.set_tuning` may change, with
    their current values.

    Returns
    -------
    dict
        Parameter name -> value (see :func:`gilfree.set_tuning`).
    """
    return {key: getattr(_this, key.upper()) for key in TUNABLE}  # noqa: F405


def set_tuning(**values):
    """Change tuning parameters of gilfree for this process.

    None of them changes a result; they trade memory, start-up cost and
    waiting.  All values are checked before any is set.

    Parameters
    ----------
    tiles_band_bytes : int >= 1
        Bytes of image (plus staged patches) one band of tile rows may span
        in :func:`gilfree.tiles` (default 32 MiB): a memmapped slide is read,
        processed and released band by band.
    kde_min_pairs_per_thread, parzen_min_pairs_per_thread : int >= 1
        The KDE / Parzen kernels use at most one thread per this many
        (point, sample) terms (tiny calls run on one thread).
    parallel_share_min_bytes : int >= 1
        NumPy arrays at least this large in the arguments of process tasks
        travel through shared memory instead of being pickled.
    dask_scatter_min_bytes : int >= 1
        Arrays at least this large in a Dask map's items are scattered to
        the workers once.
    dask_start_timeout, dask_close_timeout : float > 0
        Seconds to wait for a new local Dask cluster's workers to start, and
        for a cluster gilfree started to close.

    Returns
    -------
    dict
        The previous values of the parameters given (pass them back to
        restore them).

    Notes
    -----
    The settings are process-wide (not per thread) and stay in this
    process: worker processes of ``pmap`` and Dask workers keep their own.
    Use :func:`gilfree.tuning` to change them for a block only.
    """
    checked = {key: _check_tunable(key, value) for key, value in values.items()}
    with _tuning_lock:
        old = {key: getattr(_this, key.upper()) for key in checked}
        for key, value in checked.items():
            setattr(_this, key.upper(), value)
    return old


@contextlib.contextmanager
def tuning(**values):
    """Within this block, the tuning parameters given have these values
    (see :func:`gilfree.set_tuning`); the previous values are restored on
    exit, also on an exception.  Process-wide, like ``set_tuning``.

    Examples
    --------
    >>> import gilfree
    >>> with gilfree.tuning(tiles_band_bytes=8 * 2**20):
    ...     gilfree.get_tuning()["tiles_band_bytes"]
    8388608
    """
    old = set_tuning(**values)
    try:
        yield get_tuning()
    finally:
        set_tuning(**old)
