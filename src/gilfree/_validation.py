"""Input checks shared by the public kernel functions.

Every error names the parameter, what was expected and what was received
(so that the caller can fix it).  Arrays are converted once to the kernel's dtype and layout;
non-contiguous, float32 or integer inputs are accepted and converted.
"""

import numbers
import warnings

import numpy as np

__all__ = [
    "as_float_array",
    "as_points_matrix",
    "check_positive_finite",
    "check_weights",
    "describe",
    "check_number",
]


def describe(x):
    """Short description of a value for an error message."""
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}" if np.ndim(x) == 0 else f"{type(x).__name__}"


def _reject_bad_dtype(arr, name):
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real-valued; got complex dtype {arr.dtype}")
    if kind not in "biuf":
        raise TypeError(
            f"{name} must be a numeric array (float or integer); got dtype {arr.dtype}"
        )


def as_float_array(x, name, *, dtype=np.float64, finite=True):
    """``x`` as a C-contiguous array of ``dtype``, rejecting non-numeric or
    (if ``finite``) NaN/inf values."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of numbers; got {describe(x)} ({exc})") from None
    if arr.dtype == object:
        raise TypeError(f"{name} must be array-like of numbers; got an object array")
    _reject_bad_dtype(arr, name)
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if finite and arr.size and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        where = tuple(int(i) for i in bad)
        raise ValueError(
            f"{name} must contain only finite values; found {arr[where]} at index "
            f"{where if len(where) > 1 else where[0]} (drop or impute NaN/inf first)"
        )
    return arr


def as_points_matrix(x, name, *, d=None, allow_empty=False, dtype=np.float64):
    """A (k, d) float matrix; 1-D input is taken as k points of dimension 1."""
    arr = as_float_array(x, name, dtype=dtype)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    elif arr.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D (k,) or 2-D (k, d); got {arr.ndim}-D with shape {arr.shape}"
        )
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} must contain at least one row; got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column (d >= 1); got shape {arr.shape}")
    if d is not None and arr.shape[1] != d:
        raise ValueError(
            f"{name} must have d = {d} columns to match the samples; got shape {arr.shape}"
        )
    return arr


def check_positive_finite(x, name):
    """A scalar or 1-D array of finite values > 0, as float64 (and whether it
    was a scalar)."""
    scalar = np.ndim(x) == 0
    if scalar and isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a positive number; got {x!r}")
    if scalar and not isinstance(x, (numbers.Real, np.generic, np.ndarray)):
        raise TypeError(f"{name} must be a positive number or a 1-D array of them; got {describe(x)}")
    arr = as_float_array(x, name, finite=False)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or 1-D; got shape {arr.shape}")
    arr = arr.reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} must contain at least one value; got an empty array")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{name} must be finite and > 0; got {float(arr[i])!r}"
            + ("" if scalar else f" at index {i}")
        )
    return arr, scalar


def check_weights(weights, n, name="weights"):
    """Float64 (n,) weights, >= 0, finite, not all zero."""
    w = as_float_array(weights, name)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(
            f"{name} must be 1-D with one weight per sample, shape ({n},); got shape {w.shape}"
        )
    if (w < 0).any():
        i = int(np.argmax(w < 0))
        raise ValueError(f"{name} must be >= 0; got {float(w[i])!r} at index {i}")
    if not (w > 0).any():
        raise ValueError(f"{name} must not be all zero (their sum normalises the estimate)")
    return w


def check_positive_int(value, name, *, minimum=1):
    """An int >= ``minimum`` (NumPy integers accepted; bool and float are not)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}; got {describe(value)}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}")
    return value


def _shape_entry_error(name, shape, label, v, pair_hint):
    return ValueError(
        f"{name} must be {pair_hint}; its {label} is {v!r}"
        + (f" of type {type(v).__name__}" if not isinstance(v, numbers.Integral) else "")
        + (f" (in {name}={tuple(shape)!r})" if hasattr(shape, "__iter__") else "")
    )


def check_shape(shape, name="shape", *, allow_int=False, hint=None,
                labels=("rows (height)", "cols (width)"), length_error=ValueError):
    """An image shape ``(rows, cols)`` (NumPy order: height, width) of two
    ints >= 1, as a tuple of Python ints.

    ``allow_int``: a single int ``n`` means ``(n, n)``.  A value that is not
    a pair is a TypeError (a str, None, a scalar) or ``length_error``
    (another length); an entry that is not an integer, or is zero or
    negative, is a ValueError naming the parameter and the entry (called by
    ``labels``).  ``hint`` replaces the description of what is expected.
    """
    pair_hint = hint or ("a pair (rows, cols) of positive ints"
                         + (" or one positive int" if allow_int else ""))
    if allow_int and isinstance(shape, numbers.Integral) and not isinstance(
            shape, (bool, np.bool_)):
        if shape < 1:
            raise ValueError(f"{name} must be {pair_hint}; got {int(shape)}")
        return (int(shape), int(shape))
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__"):
        raise TypeError(f"{name} must be {pair_hint}; got {describe(shape)}")
    if isinstance(shape, np.ndarray) and shape.ndim != 1:
        raise ValueError(f"{name} must be {pair_hint}; got an array of shape {shape.shape}")
    if len(shape) != 2:
        extra = (" (the channel count is the input's: give only rows and cols)"
                 if len(shape) == 3 and hint is None else "")
        raise length_error(
            f"{name} must be {pair_hint}; got {len(shape)} values {tuple(shape)!r}{extra}"
        )
    out = []
    for label, v in zip(labels, shape):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise _shape_entry_error(name, shape, label, v, pair_hint)
        if v < 1:
            raise _shape_entry_error(name, shape, label, int(v), pair_hint)
        out.append(int(v))
    return tuple(out)


def renamed_argument(func, old, new, old_value, new_value, *, note="", stacklevel=3):
    """Resolve a keyword renamed from ``old`` to ``new``: returns the value
    to use; a value given under the old name raises a FutureWarning (shown
    once per call site by the default warning filters) that names the exact
    replacement, and both at once is a TypeError.  ``stacklevel`` points the
    warning at the user's line (3: called from the public function)."""
    if old_value is None:
        return new_value
    if new_value is not None:
        raise TypeError(
            f"{func}() got both {new}= and its deprecated name {old}=; pass only {new}="
        )
    warnings.warn(
        f"{func}({old}=...) is deprecated and will be removed in the next release; "
        f"use {func}({new}={old_value!r}){note}",
        FutureWarning,
        stacklevel=stacklevel,
    )
    return old_value


def as_typed_array(x, name, dtypes, *, hint=""):
    """``x`` as an ndarray whose dtype is one of ``dtypes`` (no conversion):
    bool, complex, object and other dtypes are rejected with the list."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array; got {describe(x)} ({exc})") from None
    if arr.dtype not in [np.dtype(d) for d in dtypes]:
        allowed = ", ".join(np.dtype(d).name for d in dtypes)
        raise TypeError(
            f"{name} must have dtype {allowed}; got dtype {arr.dtype}" + (f" ({hint})" if hint else "")
        )
    return arr


def check_number(value, name, *, positive=True, allow_none=False, allow_zero=False,
                 allow_inf=False):
    """A real scalar (not bool) as a Python float: > 0 by default (>= 0 with
    ``allow_zero``), finite unless ``allow_inf``; ``None`` passes through when
    ``allow_none``."""
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be a number; got None")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.generic)):
        raise TypeError(
            f"{name} must be a number{' or None' if allow_none else ''}; got {describe(value)}"
        )
    v = float(value)
    if np.isnan(v) or (np.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if positive and (v < 0 or (v == 0 and not allow_zero)):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}; got {value!r}")
    return v


def check_out(out, shape, dtype, name="out"):
    """An output array given by the caller: an ndarray of exactly ``shape``
    and ``dtype``, C-contiguous and writeable (results are written into it
    in place).  Returns it."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array; got {describe(out)}")
    shape = tuple(int(s) for s in shape)
    if out.shape != shape or out.dtype != np.dtype(dtype):
        raise ValueError(
            f"{name} must have shape {shape} and dtype {np.dtype(dtype).name}; "
            f"got shape {out.shape} and dtype {out.dtype.name}"
        )
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (e.g. from np.empty); got a strided view")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable; got a read-only array")
    return out
