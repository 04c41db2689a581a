"""``gilfree.KernelDensity``: scikit-learn's ``KernelDensity`` estimator,
computed by :func:`gilfree.kde` (the exact sum, on every core).

scikit-learn is not imported here: ``get_params``/``set_params``/``repr``
follow its conventions (parameters are the ``__init__`` arguments, stored
unchanged and validated in ``fit``), so ``sklearn.base.clone``,
``GridSearchCV`` and pipelines work with it as with sklearn's own class.
"""

import inspect
import math
import numbers
import warnings

import numpy as np

from .kde import KERNELS, _check_dtype, _check_engine_threads, kde
from .parallel._sweep import Params

__all__ = ["KernelDensity", "NotFittedError"]

#: scikit-learn's tree algorithms (accepted; gilfree sums every pair instead)
_ALGORITHMS = ("auto", "kd_tree", "ball_tree")
#: metrics that are the Euclidean distance (minkowski needs p = 2)
_EUCLIDEAN = ("euclidean", "l2", "minkowski")
#: kernels scikit-learn can draw samples from
_SAMPLEABLE = ("gaussian", "tophat")


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (like scikit-learn's, a
    ``ValueError`` and an ``AttributeError``)."""


class _ParamsMixin(Params):
    """The parameter protocol of :mod:`gilfree.parallel._sweep` in
    scikit-learn's order and wording, shown as scikit-learn shows it."""

    _SORTED_PARAMS = True

    def _unknown(self, key, valid):
        raise ValueError(
            f"Invalid parameter {key!r} for estimator {self}. Valid parameters are: "
            f"{list(self._get_param_names())!r}."
        )

    def __repr__(self):
        """``Class(param=value, ...)`` with the parameters that differ from
        their defaults (scikit-learn's ``print_changed_only``)."""
        sig = inspect.signature(type(self).__init__)
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name, None)
            default = sig.parameters[name].default
            same = value is default
            if not same:
                try:
                    same = type(value) is type(default) and bool(value == default)
                except (TypeError, ValueError):
                    same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.utils import Tags, TargetTags  # only scikit-learn calls this

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=None, regressor_tags=None, classifier_tags=None)


# --------------------------------------------------------------------------
# input checks (scikit-learn's messages, so code that matches them works)
# --------------------------------------------------------------------------


def _feature_names(X):
    """Column names of a DataFrame-like X if they are all strings, else None."""
    cols = getattr(X, "columns", None)
    if cols is None or not hasattr(X, "iloc"):
        return None
    names = np.asarray(cols, dtype=object)
    if names.ndim != 1:
        return None
    is_str = [isinstance(c, str) for c in names]
    if all(is_str) and names.size:
        return names
    if any(is_str):
        types = sorted({type(c).__qualname__ for c in names})
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. If you want "
            "feature names to be stored and validated, you must convert them all to strings, "
            "by using X.columns = X.columns.astype(str) for example. Otherwise you can remove "
            "feature / column names from your input data, or convert them all to a non-string "
            "data type."
        )
    return None


def _as_matrix(X, owner):
    """X as a float64 C-contiguous (n, d) array with scikit-learn's checks."""
    mod = type(X).__module__
    if mod.startswith("scipy.sparse") or hasattr(X, "tocsr"):
        raise TypeError(
            "Sparse data was passed for X, but dense data is required. Use '.toarray()' to "
            "convert to a dense numpy array."
        )
    arr = np.asarray(X)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{arr!r}\n")
    if arr.dtype.kind not in "biuf":
        arr = arr.astype(np.float64)  # object/str: numpy's own TypeError/ValueError
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(
            f"Expected 2D array, got {('scalar', '1D')[arr.ndim]} array instead:\narray={arr!r}.\n"
            "Reshape your data either using array.reshape(-1, 1) if your data has a single "
            "feature or array.reshape(1, -1) if it contains a single sample."
        )
    if arr.ndim > 2:
        raise ValueError(f"Found array with dim {arr.ndim}. {owner} expected <= 2.")
    n, d = arr.shape
    if n == 0 or d == 0:
        raise ValueError(
            f"Found array with 0 {'sample' if n == 0 else 'feature'}(s) (shape={arr.shape}) "
            f"while a minimum of 1 is required by {owner}."
        )
    if not np.isfinite(arr).all():
        what = "NaN" if np.isnan(arr).any() else "infinity or a value too large for dtype('float64')"
        raise ValueError(f"Input X contains {what}.")
    return arr


def _sample_weight(sample_weight, n):
    if isinstance(sample_weight, numbers.Number) and not isinstance(sample_weight, bool):
        w = np.full(n, float(sample_weight))
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"Sample weights must be 1D array or scalar; got shape {w.shape}")
        if w.shape != (n,):
            raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}!")
    if not np.isfinite(w).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if (w < 0).any():
        raise ValueError("Negative values in data passed to sample_weight")
    if not (w > 0).any():
        raise ValueError(
            "sample_weight must not be all zero: the weights are normalised by their sum"
        )
    return np.ascontiguousarray(w)


def _check_random_state(seed):
    """scikit-learn's ``check_random_state`` (a Generator is accepted too)."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(seed)
    if isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return seed
    raise ValueError(f"{seed!r} cannot be used to seed a numpy.random.RandomState instance")


def _check_params(est):
    """scikit-learn's parameter validation, done in ``fit``."""
    name = type(est).__name__
    if not isinstance(est.kernel, str) or est.kernel not in KERNELS:
        raise ValueError(
            f"The 'kernel' parameter of {name} must be a str among {list(KERNELS)}; "
            f"got {est.kernel!r}"
        )
    if not isinstance(est.algorithm, str) or est.algorithm not in _ALGORITHMS:
        raise ValueError(
            f"The 'algorithm' parameter of {name} must be a str among {list(_ALGORITHMS)}; "
            f"got {est.algorithm!r}"
        )
    if not isinstance(est.metric, str):
        raise ValueError(f"The 'metric' parameter of {name} must be a str; got {est.metric!r}")
    mp = est.metric_params
    if mp is not None and not isinstance(mp, dict):
        raise ValueError(
            f"The 'metric_params' parameter of {name} must be None or a dict; got {mp!r}"
        )
    mp = dict(mp or {})
    euclid = est.metric in _EUCLIDEAN and (
        not mp if est.metric != "minkowski" else set(mp) <= {"p"} and mp.get("p", 2) == 2
    )
    if not euclid:
        raise NotImplementedError(
            f"{name} computes the Euclidean metric only (metric='euclidean', "
            "scikit-learn's default and the only metric for which its output is a "
            f"normalised density); got metric={est.metric!r}, metric_params="
            f"{est.metric_params!r}"
        )
    for key in ("atol", "rtol"):
        v = getattr(est, key)
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
            raise ValueError(f"The '{key}' parameter of {name} must be a float >= 0; got {v!r}")
    if not isinstance(est.breadth_first, (bool, np.bool_)):
        raise ValueError(
            f"The 'breadth_first' parameter of {name} must be a bool; got {est.breadth_first!r}"
        )
    ls = est.leaf_size
    if isinstance(ls, bool) or not isinstance(ls, numbers.Integral) or ls < 1:
        raise ValueError(f"The 'leaf_size' parameter of {name} must be an int >= 1; got {ls!r}")
    bw = est.bandwidth
    if (bw not in ("scott", "silverman") if isinstance(bw, str) else
            isinstance(bw, (bool, np.bool_)) or not isinstance(bw, (numbers.Real, np.floating))
            or not (math.isfinite(bw) and bw > 0)):
        raise ValueError(
            f"The 'bandwidth' parameter of {name} must be a float > 0 or a str among "
            f"{{'scott', 'silverman'}}; got {bw!r}"
        )
    _check_dtype(est.dtype)
    _check_engine_threads(est.engine, est.n_threads)


def _validate(est, X, reset):
    """X as float64 (n, d); sets (``reset``) or checks the fitted feature
    count and names with scikit-learn's messages."""
    name = type(est).__name__
    names = _feature_names(X)
    arr = _as_matrix(X, name)
    if reset:
        est.n_features_in_ = arr.shape[1]
        if names is not None:
            est.feature_names_in_ = names
        elif hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
        return arr
    fitted = getattr(est, "feature_names_in_", None)
    if names is not None and fitted is None:
        warnings.warn(f"X has feature names, but {name} was fitted without feature names",
                      UserWarning, stacklevel=3)
    elif names is None and fitted is not None:
        warnings.warn(
            f"X does not have valid feature names, but {name} was fitted with feature names",
            UserWarning, stacklevel=3)
    elif names is not None and (len(names) != len(fitted) or (names != fitted).any()):
        unexpected = [str(c) for c in names if c not in set(fitted)]
        missing = [str(c) for c in fitted if c not in set(names)]
        detail = ""
        if unexpected:
            detail += f"Feature names unseen at fit time:\n- {unexpected}\n"
        if missing:
            detail += f"Feature names seen at fit time, yet now missing:\n- {missing}\n"
        if not detail:
            detail = "Feature names must be in the same order as they were in fit.\n"
        raise ValueError("The feature names should match those that were passed during "
                         "fit.\n" + detail)
    if arr.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {arr.shape[1]} features, but {name} is expecting "
            f"{est.n_features_in_} features as input."
        )
    return arr


class KernelDensity(_ParamsMixin):
    """Kernel density estimation, scikit-learn's ``KernelDensity`` on every core.

    Same parameters, methods, fitted attributes and numbers as
    ``sklearn.neighbors.KernelDensity``, but the density is the exact sum
    over all samples (what scikit-learn returns with ``rtol=0, atol=0`` and
    ``leaf_size >= n``), computed by :func:`gilfree.kde` without a tree.
    Works with ``sklearn.base.clone``, ``GridSearchCV`` and pipelines;
    importing gilfree does not import scikit-learn.

    Parameters
    ----------
    bandwidth : float or {"scott", "silverman"}, default=1.0
        Kernel bandwidth h > 0, or a rule computed at ``fit`` from the number
        of samples n and features d (scikit-learn's, unweighted):
        ``"scott"``: ``n ** (-1 / (d + 4))``; ``"silverman"``:
        ``(n * (d + 2) / 4) ** (-1 / (d + 4))``.
    algorithm : {"auto", "kd_tree", "ball_tree"}, default="auto"
        Accepted for compatibility; gilfree sums every pair (no tree), so
        every choice gives the exact result.
    kernel : {"gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine"}
        scikit-learn's kernels and normalisation, except the cosine kernel
        in even d, where scikit-learn's normalisation is not a density
        (d = 2: 2.7x too small; d = 4: NaN) and gilfree's is (odd d: same
        numbers).
    metric : str, default="euclidean"
        Only the Euclidean metric (``"euclidean"``, ``"l2"``, or
        ``"minkowski"`` with p = 2) is supported -- the only one for which
        scikit-learn's output is a normalised density; others raise
        ``NotImplementedError`` in ``fit``.
    atol, rtol : float, default=0
        scikit-learn's tolerances for its tree's approximation (>= 0).
        gilfree's sum is exact, which meets any tolerance.
    breadth_first : bool, default=True
        Accepted for compatibility (a tree traversal order); no effect.
    leaf_size : int, default=40
        Accepted for compatibility (the tree's leaf size, >= 1); no effect.
    metric_params : dict, default=None
        For ``metric="minkowski"``: ``{"p": 2}`` only.
    engine : {"auto", "cython", "numba", "numpy", "python"}, default="auto"
        gilfree's engine (see :func:`gilfree.kde`).
    n_threads : int, default=None
        Threads (None: all usable cores); never changes the result.
    dtype : {np.float64, np.float32}, default=np.float64
        ``np.float32`` is the fast mode (about 2x, rtol 1e-4); scores are then
        float32.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str, shape (n_features,)
        Column names of a DataFrame passed to ``fit`` (only if all are strings).
    bandwidth_ : float
        The bandwidth: ``bandwidth``, or the rule's value.

    Notes
    -----
    scikit-learn's ``tree_`` attribute does not exist: there is no tree.
    ``sample`` supports the kernels scikit-learn can sample (gaussian,
    tophat) and draws the same numbers as scikit-learn for the same
    ``random_state``; the tophat kernel needs scipy.

    Examples
    --------
    >>> import numpy as np, gilfree
    >>> X = np.random.default_rng(42).random((100, 3))
    >>> kde = gilfree.KernelDensity(kernel="gaussian", bandwidth=0.5).fit(X)
    >>> kde.score_samples(X[:3]).shape
    (3,)
    """

    def __init__(self, *, bandwidth=1.0, algorithm="auto", kernel="gaussian", metric="euclidean",
                 atol=0, rtol=0, breadth_first=True, leaf_size=40, metric_params=None,
                 engine="auto", n_threads=None, dtype=np.float64):
        self._store_params(locals())

    def _check_fitted(self):
        if not hasattr(self, "_fit_X"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def fit(self, X, y=None, sample_weight=None):
        """Fit the estimate on the samples ``X``.

        Parameters
        ----------
        X : array_like or DataFrame, shape (n_samples, n_features)
            The samples (finite; converted to float64).
        y : None
            Ignored (pipeline compatibility).
        sample_weight : array_like, shape (n_samples,) or float, optional
            Non-negative weights, not all zero.

        Returns
        -------
        self
        """
        _check_params(self)
        arr = _validate(self, X, reset=True)
        n, d = arr.shape
        if isinstance(self.bandwidth, str):
            base = n if self.bandwidth == "scott" else n * (d + 2) / 4
            self.bandwidth_ = base ** (-1 / (d + 4))
        else:
            self.bandwidth_ = self.bandwidth
        self._sample_weight = None if sample_weight is None else _sample_weight(sample_weight, n)
        self._fit_X = arr
        return self

    def score_samples(self, X):
        """Log density of the estimate at each row of ``X``.

        Parameters
        ----------
        X : array_like or DataFrame, shape (n_queries, n_features)

        Returns
        -------
        ndarray, shape (n_queries,)
            float64 (float32 in the fast mode); ``-inf`` outside the support
            of a compact kernel.
        """
        self._check_fitted()
        q = _validate(self, X, reset=False)
        return kde(self._fit_X, q, float(self.bandwidth_), kernel=self.kernel,
                   weights=self._sample_weight, log=True, dtype=self.dtype, engine=self.engine,
                   n_threads=self.n_threads)

    def score(self, X, y=None):
        """Total log-likelihood of ``X`` (the sum of :meth:`score_samples`)."""
        return np.sum(self.score_samples(X))

    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the estimate (gaussian and tophat kernels).

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState, Generator or None
            Same draws as scikit-learn for the same seed or RandomState.

        Returns
        -------
        ndarray of float64, shape (n_samples, n_features)

        Raises
        ------
        NotImplementedError
            For the kernels scikit-learn cannot sample either.
        """
        self._check_fitted()
        if self.kernel not in _SAMPLEABLE:
            raise NotImplementedError(
                f"sample() is implemented for the kernels {list(_SAMPLEABLE)} only (as in "
                f"scikit-learn); this estimator's kernel is {self.kernel!r}"
            )
        if isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, numbers.Integral) \
                or n_samples < 0:
            raise ValueError(f"n_samples must be an int >= 0; got {n_samples!r}")
        data = self._fit_X
        rng = _check_random_state(random_state)
        u = rng.uniform(0, 1, size=n_samples)
        if self._sample_weight is None:
            i = (u * data.shape[0]).astype(np.int64)
        else:
            cumsum = np.cumsum(self._sample_weight)
            i = np.searchsorted(cumsum, u * cumsum[-1])
        if self.kernel == "gaussian":
            return np.atleast_2d(rng.normal(data[i], self.bandwidth_))
        try:
            from scipy.special import gammainc
        except ImportError as exc:  # pragma: no cover - scipy is in the test extra
            raise ImportError("sampling the tophat kernel needs scipy (gammainc)") from exc
        dim = data.shape[1]
        Z = rng.normal(size=(n_samples, dim))
        s_sq = np.einsum("ij,ij->i", Z, Z)
        correction = gammainc(0.5 * dim, 0.5 * s_sq) ** (1.0 / dim) * self.bandwidth_ / np.sqrt(s_sq)
        return data[i] + Z * correction[:, np.newaxis]
