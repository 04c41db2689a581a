"""sklearn-style parameters and named-column tables of the DTW estimator
(:class:`gilfree.dtw.BarthDtw`, :class:`gilfree.dtw.DtwTemplate`)."""

from collections.abc import Sequence

import numpy as np

from ._validation import as_float_array, describe
from .parallel._sweep import Params


class _Params(Params):
    """The parameter protocol of :mod:`gilfree.parallel._sweep` (in the
    ``__init__`` order), shown with every parameter but arrays and
    DataFrames."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items()
                         if not isinstance(v, np.ndarray) and not _is_frame(v))
        return f"{type(self).__name__}({args})"


# --------------------------------------------------------------------------
# Tables: DataFrames or arrays with column names
# --------------------------------------------------------------------------


def _is_frame(x):
    return hasattr(x, "columns") and hasattr(x, "iloc") and hasattr(x, "to_numpy")


class _Table:
    """Named 1-D float64 columns of a DataFrame or a 2-D array + names."""

    def __init__(self, data, columns, name):
        self.name = name
        if _is_frame(data):
            if columns is not None:
                raise TypeError(
                    f"columns= is only for arrays; {name} is a DataFrame with its own columns"
                )
            if getattr(data.columns, "nlevels", 1) > 1:
                raise TypeError(
                    f"{name} has multi-level columns (a multi-sensor dataset); pass one "
                    f"sensor's DataFrame, e.g. data[sensor_name]"
                )
            self._frame = data
            self.columns = list(data.columns)
            if len(set(map(repr, self.columns))) != len(self.columns):
                raise ValueError(f"{name} has duplicate column names: {self.columns}")
            self.length = len(data)
            self._array = None
        else:
            arr = np.asarray(data)
            if arr.dtype == object:
                raise TypeError(f"{name} must be a DataFrame or a numeric array; got an object array")
            if arr.ndim == 1:
                arr = arr.reshape(-1, 1)
            if arr.ndim != 2:
                raise ValueError(
                    f"{name} must be a DataFrame or a 2-D array (samples, columns); got shape "
                    f"{arr.shape}"
                )
            if columns is None:
                names = list(range(arr.shape[1]))
            else:
                if isinstance(columns, str) or not isinstance(columns, Sequence):
                    raise TypeError(
                        f"columns must be a sequence of column names; got {describe(columns)}"
                    )
                names = list(columns)
                if len(names) != arr.shape[1]:
                    raise ValueError(
                        f"columns names {len(names)} columns but {name} has {arr.shape[1]} "
                        f"(shape {arr.shape})"
                    )
                if len(set(names)) != len(names):
                    raise ValueError(f"columns has duplicate names: {names}")
            self._frame = None
            self._array = arr
            self.columns = names
            self.length = arr.shape[0]
        self._cache = {}

    def require(self, names, what):
        miss = [c for c in names if c not in set(self.columns)]
        if miss:
            raise ValueError(
                f"{self.name} is missing the column(s) {miss} needed for {what}; "
                f"{self.name} has columns {self.columns}"
            )

    def column(self, col):
        """float64 (length,) finite column (checked once)."""
        key = repr(col)
        out = self._cache.get(key)
        if out is None:
            self.require([col], "this step")
            raw = (self._frame[col].to_numpy() if self._frame is not None
                   else self._array[:, self.columns.index(col)])
            out = as_float_array(raw, f"{self.name} column {col!r}")
            self._cache[key] = out
        return out
