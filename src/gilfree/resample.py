"""Signal resampling, GIL-free.

``resample_linear``
    Linear, endpoint aligned: ``np.interp(np.linspace(0, L-1, num),
    np.arange(L), x)`` along ``axis`` for every other index (what gait
    template resampling does), with np.interp's own formula, so the numbers
    are np.interp's.  (Not ``scipy.signal.resample``, which is Fourier
    resampling: hence the name.)
``resample_poly``
    ``scipy.signal.resample_poly(x, up, down, axis)``: a Kaiser (beta 5 by
    default) low-pass FIR of ``20 * max(up, down) + 1`` taps (designed here
    as ``scipy.signal.firwin`` does, no SciPy at run time) applied as a
    polyphase filter with zero padding.  The same arguments are accepted
    and refused with the same exception types as scipy's.
``resample_linear_many``
    Many signals of different lengths (thousands of strides) to one common
    length, ``resample_linear`` on each, in one call with one (k, num, ...)
    output.

``resample`` and ``resample_many`` are the former names of the linear
resamplers, deprecated (a FutureWarning): ``scipy.signal.resample`` of the
same arguments computes something else.

The compiled engines split the output samples (or the signals) among
threads; each output value is computed by one thread in a fixed order, so
results do not depend on the thread count.
"""

import functools
import math
import numbers
import warnings

import numpy as np

from . import _config
from ._validation import check_out, check_positive_int, describe

__all__ = ["resample_linear", "resample_linear_many", "resample_poly"]

_AxisError = getattr(getattr(np, "exceptions", np), "AxisError", ValueError)

_config.register_kernel(
    "resample",
    auto=("cython", "numba", "numpy"),
    engines={
        "numba": "gilfree._numba.resample",
        "cython": "gilfree._cy.resample",
        "numpy": "gilfree._reference.resample",
        "python": "gilfree._reference.resample_python",
    },
)

#: SciPy's resample_poly default window.
KAISER_BETA = 5.0


def _as_signal(x, name):
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of numbers; got {describe(x)} ({exc})") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real-valued; got complex dtype {arr.dtype}")
    if kind == "b":
        raise TypeError(f"{name} must be numeric; got a boolean array (convert with .astype(float))")
    if kind not in "iuf":
        raise TypeError(f"{name} must be a numeric array (float or integer); got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension; got a scalar")
    return arr


def _check_axis(axis, ndim, name="axis"):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {describe(axis)}")
    if not -ndim <= axis < ndim:
        # numpy's AxisError is both a ValueError and an IndexError (scipy's)
        raise _AxisError(f"{name}={axis} is out of range for an array with {ndim} dimensions")
    return int(axis) % ndim


def _to_matrix(arr, axis, dtype=np.float64):
    """(L, M) C-contiguous float64 view/copy with time on axis 0, and the
    shape to restore."""
    moved = np.moveaxis(arr, axis, 0)
    return np.ascontiguousarray(moved.reshape(moved.shape[0], -1), dtype=dtype), moved.shape[1:]


def _from_matrix(mat, rest, axis):
    return np.moveaxis(mat.reshape((mat.shape[0],) + rest), 0, axis)


def resample_linear(x, num, axis=0, *, engine="auto", n_threads=None):
    """Resample ``x`` to ``num`` samples along ``axis`` by linear interpolation.

    Sample ``i`` of the result is ``x`` interpolated at position
    ``i * (L - 1) / (num - 1)``: the first and last samples are kept, as
    ``np.interp(np.linspace(0, L - 1, num), np.arange(L), x)``.

    Parameters
    ----------
    x : array_like, any shape with at least one dimension
        Real numbers (converted once to float64); ``L = x.shape[axis] >= 1``.
    num : int
        Output length along ``axis`` (>= 1).
    axis : int
        Time axis.
    engine : {"auto", "cython", "numba", "numpy", "python"}
    n_threads : int, optional
        Threads for the compiled engines; never changes the result.

    Returns
    -------
    ndarray of float64, ``x``'s shape with ``num`` along ``axis``

    See Also
    --------
    resample_poly : anti-aliased (polyphase FIR) resampling, as scipy's.

    Notes
    -----
    For anti-aliased resampling use :func:`resample_poly`;
    ``scipy.signal.resample`` (Fourier) is a third, different method.

    Examples
    --------
    >>> import numpy as np, gilfree
    >>> gilfree.resample_linear(np.array([0.0, 1.0, 4.0]), 5)
    array([0. , 0.5, 1. , 2.5, 4. ])
    """
    arr = _as_signal(x, "x")
    num = check_positive_int(num, "num")
    axis = _check_axis(axis, arr.ndim)
    if arr.shape[axis] == 0:
        raise ValueError(f"x must have at least one sample along axis {axis}; got shape {arr.shape}")
    _, mod, nt = _config.select("resample", engine, n_threads)
    mat, rest = _to_matrix(arr, axis)
    out = np.empty((num, mat.shape[1]), dtype=np.float64)
    if mat.shape[1]:
        mod.linear(mat, out, nt)
    return _from_matrix(out, rest, axis)


def resample_linear_many(arrays, num, *, out=None, engine="auto", n_threads=None):
    """Resample many signals of different lengths to ``num`` samples each.

    Parameters
    ----------
    arrays : sequence of array_like, each (L_k,) or (L_k, ...)
        Signals with time on axis 0, ``L_k >= 1``, all with the same
        trailing shape (e.g. 3 gyroscope channels).  Real numbers.
    num : int
        Common output length (>= 1).
    out : ndarray of float64, shape (k, num, ...), optional
        Where to write the result (C-contiguous, writeable, not overlapping
        the signals); returned.  Reusing one buffer across calls of the
        same size saves the page faults of a fresh allocation, which on
        virtual machines can cost more than the resampling itself.
    engine, n_threads
        As for :func:`resample_linear`.

    Returns
    -------
    ndarray of float64, shape (k, num, ...)
        ``out[k] == resample_linear(arrays[k], num)``.
    """
    num = check_positive_int(num, "num")
    if isinstance(arrays, np.ndarray) or not hasattr(arrays, "__len__"):
        raise TypeError(
            "arrays must be a list (or tuple) of arrays of possibly different lengths; "
            f"got {describe(arrays)} (for one array use resample_linear())"
        )
    k = len(arrays)
    if k == 0:
        raise ValueError("arrays must contain at least one signal; got an empty sequence")
    first = arrays[0]
    if isinstance(first, np.ndarray) and first.ndim >= 1 and first.size:
        # fast path: float64 C-contiguous signals are read where they are
        rest = first.shape[1:]
        _, mod, nt = _config.select("resample", engine, n_threads)
        dst = _output(out, k, num, rest)
        if mod.linear_list(list(arrays), dst, np.asarray(rest, dtype=np.int64), nt) < 0:
            return dst.reshape((k, num) + rest) if out is None else out
    try:
        lengths = np.fromiter(map(len, arrays), dtype=np.int64, count=k)
    except TypeError:
        bad = next(i for i, a in enumerate(arrays) if np.ndim(a) == 0)
        raise ValueError(
            f"arrays[{bad}] must be an array with time on axis 0; got {describe(arrays[bad])}"
        ) from None
    if lengths.min() < 1:
        bad = int(np.argmin(lengths))
        raise ValueError(f"arrays[{bad}] is empty; every signal needs at least one sample")
    try:
        data = np.concatenate(arrays, axis=0)
    except ValueError as exc:
        shapes = {np.shape(a)[1:] for a in arrays[:1000]}
        raise ValueError(
            "arrays must all have the same shape after their first (time) axis; "
            f"found trailing shapes {sorted(shapes)[:5]} ({exc})"
        ) from None
    data = _as_signal(data, "arrays")
    rest = data.shape[1:]
    mat = np.ascontiguousarray(data.reshape(data.shape[0], -1), dtype=np.float64)
    offsets = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    _, mod, nt = _config.select("resample", engine, n_threads)
    dst = _output(out, k, num, rest)
    if mat.shape[1]:
        mod.linear_many(mat, offsets, dst, nt)
    return dst.reshape((k, num) + rest) if out is None else out


def _output(out, k, num, rest):
    """The kernel's (k, num, prod(rest)) float64 destination: a new array, or
    a view of the caller's ``out`` after checking it."""
    m = int(np.prod(rest, dtype=np.int64))
    if out is None:
        return np.empty((k, num, m), dtype=np.float64)
    return check_out(out, (k, num) + tuple(rest), np.float64).reshape(k, num, m)


def _deprecated(old, new):
    warnings.warn(
        f"gilfree.{old} is deprecated and will be removed in the next release: it is "
        f"linear interpolation, not scipy.signal.{old.replace('_many', '')} (Fourier); "
        f"use gilfree.{new}, with the same arguments",
        FutureWarning,
        stacklevel=3,
    )


def resample(x, num, axis=0, *, method="linear", engine="auto", n_threads=None):
    """Deprecated name of :func:`resample_linear` (a FutureWarning): it is
    linear interpolation, while ``scipy.signal.resample`` with the same
    arguments is Fourier resampling.  ``method`` must be ``"linear"``."""
    _deprecated("resample", "resample_linear")
    if method != "linear":
        raise ValueError(
            f"method must be 'linear'; got {describe(method)} "
            "(use gilfree.resample_poly(x, up, down) for polyphase filtering)"
        )
    return resample_linear(x, num, axis, engine=engine, n_threads=n_threads)


def resample_many(arrays, num, *, out=None, engine="auto", n_threads=None):
    """Deprecated name of :func:`resample_linear_many` (a FutureWarning)."""
    _deprecated("resample_many", "resample_linear_many")
    return resample_linear_many(arrays, num, out=out, engine=engine, n_threads=n_threads)


def _firwin_lowpass(numtaps, cutoff, beta):
    """scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta)):
    windowed sinc, scaled to unit gain at DC (cutoff relative to Nyquist)."""
    alpha = 0.5 * (numtaps - 1)
    m = np.arange(numtaps, dtype=np.float64) - alpha
    h = cutoff * np.sinc(cutoff * m)
    h = h * np.kaiser(numtaps, beta)  # scipy.signal.windows.kaiser(numtaps, beta)
    return h / np.sum(h)


@functools.lru_cache(maxsize=_config.RESAMPLE_FILTER_CACHE)
def _poly_filter(up, down, beta=KAISER_BETA):
    """(reversed polyphase taps (up, nq), n_pre_remove) of
    scipy.signal.resample_poly for the reduced ratio up/down."""
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = _firwin_lowpass(2 * half_len + 1, 1.0 / max_rate, beta) * up
    n_pre_pad = down - half_len % down
    n_pre_remove = (half_len + n_pre_pad) // down
    h = np.concatenate([np.zeros(n_pre_pad), h])
    nq = -(-h.shape[0] // up)
    hp = np.zeros(nq * up)
    hp[: h.shape[0]] = h
    # hp[p + q*up] is tap q of phase p; reverse q so that the kernel walks
    # the signal forwards
    hr = np.ascontiguousarray(hp.reshape(nq, up).T[:, ::-1])
    hr.flags.writeable = False
    return hr, n_pre_remove


def _poly_plan(up, down, n_in, beta=KAISER_BETA):
    """(taps, n_pre_remove, n_out) as in scipy.signal.resample_poly."""
    hr, pre = _poly_filter(up, down, beta)
    return hr, pre, -(-n_in * up // down)


def _rate(value, name):
    """``up`` / ``down`` checked as scipy.signal.resample_poly checks them:
    ``int(value)`` must succeed (its TypeError, ValueError or OverflowError
    otherwise) and equal ``value`` (integral floats such as 2.0 pass), and
    be >= 1 (ValueError)."""
    try:
        iv = int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise type(exc)(
            f"{name} must be an integer >= 1; got {describe(value)} ({exc})"
        ) from None
    if value != iv:
        raise ValueError(f"{name} must be an integer; got {describe(value)}")
    if iv < 1:
        raise ValueError(f"up and down must be >= 1; got {name}={iv}")
    return iv


def _kaiser_beta(window):
    """The beta of a ``("kaiser", beta)`` window, the only kind gilfree
    designs; anything else scipy accepts is NotImplementedError."""
    if (isinstance(window, tuple) and len(window) == 2 and window[0] == "kaiser"
            and isinstance(window[1], numbers.Real) and not isinstance(window[1], bool)
            and math.isfinite(window[1])):
        return float(window[1])
    raise NotImplementedError(
        f"window={window!r} is not supported: gilfree designs scipy's default low-pass "
        "filter with a Kaiser window, window=('kaiser', beta) (scipy's default "
        "('kaiser', 5.0)); use scipy.signal.resample_poly for other windows or your own taps"
    )


def resample_poly(x, up, down, axis=0, window=("kaiser", KAISER_BETA), padtype="constant",
                  cval=None, *, engine="auto", n_threads=None):
    """Resample by the rational factor ``up / down`` with a polyphase FIR.

    Same result as ``scipy.signal.resample_poly(x, up, down, axis)`` with
    its defaults (``window=("kaiser", 5.0)``, ``padtype="constant"``):
    e.g. ``resample_poly(imu, 1000, 2048)`` takes 204.8 Hz to 100 Hz.

    Parameters
    ----------
    x : array_like, at least 1-D
        Real numbers (complex is not supported).
    up, down : int
        Upsampling and downsampling factors (>= 1; reduced by their gcd).
        As in scipy, integral floats (``2.0``) are accepted; other values
        raise scipy's exception types (``ValueError`` for ``1.3`` or
        ``"yo"``, ``TypeError`` for ``None``).
    axis : int
        Time axis.
    window : ("kaiser", float)
        The window of the low-pass design, scipy's default ``("kaiser",
        5.0)``; other Kaiser betas are supported, other windows and
        explicit taps raise NotImplementedError.
    padtype : "constant"
        scipy's default (zeros beyond the ends); the other padding modes
        raise NotImplementedError.
    cval : None or 0
        scipy's constant padding value: only the default (zero).
    engine, n_threads
        As for :func:`resample_linear`.

    Returns
    -------
    ndarray, ``x``'s shape with ``ceil(L * up / down)`` samples along
    ``axis``; float32 for float32 input (computed in float64, where scipy
    computes in float32), else float64.  When ``up == down`` (after the
    gcd), a copy of ``x`` in its own dtype, as scipy returns.
    """
    arr = _as_signal(x, "x")
    up = _rate(up, "up")
    down = _rate(down, "down")
    if cval is not None and padtype != "constant":
        raise ValueError(f"cval has no effect when padtype is {padtype!r}")
    beta = _kaiser_beta(window)
    if padtype != "constant":
        raise NotImplementedError(
            f"padtype={padtype!r} is not supported: gilfree pads with zeros, scipy's default "
            "padtype='constant'; use scipy.signal.resample_poly for the other modes"
        )
    if cval is not None and cval != 0:
        raise NotImplementedError(
            f"cval={cval!r} is not supported: gilfree pads with zeros (scipy's default "
            "cval=None)"
        )
    axis = _check_axis(axis, arr.ndim)
    n_in = arr.shape[axis]
    out_dtype = np.float32 if arr.dtype == np.float32 else np.float64
    g = math.gcd(up, down)
    up, down = up // g, down // g
    if up == down == 1:
        return np.array(arr, copy=True)
    _, mod, nt = _config.select("resample", engine, n_threads)
    hr, pre, n_out = _poly_plan(up, down, n_in, beta)
    if n_in == 0:
        shape = list(arr.shape)
        shape[axis] = 0
        return np.zeros(shape, dtype=out_dtype)
    mat, rest = _to_matrix(arr, axis)
    out = np.empty((n_out, mat.shape[1]), dtype=np.float64)
    if mat.shape[1]:
        mod.poly(mat, out, hr, up, down, pre, nt)
    res = _from_matrix(out, rest, axis)
    return res.astype(np.float32) if out_dtype == np.float32 else res
