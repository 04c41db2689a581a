"""Helpers built on :func:`pmap`: ``Parallelize``, ``sweep``, ``with_params``."""

import copy
import inspect
import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from .._validation import describe
from ._api import pmap
from ._checks import resolve_n_workers
from ._errors import item_repr

__all__ = ["Parallelize", "expand_grid", "sweep", "with_params"]


def Parallelize(data, f, num_cores=None, backend="processes"):
    """Map ``f`` over subjects and stack the results, one row per subject.

    The helper many neuro-imaging analysis scripts carry, without its
    usual bugs: every subject is processed exactly once whatever the split
    (uneven counts, fewer subjects than cores, one core), and rows come
    back in input order.

    Parameters
    ----------
    data : sequence or ndarray
        The subjects (for an array: its rows, along axis 0).
    f : callable
        ``f(subject)`` -> a number or an array-like of the same size for
        every subject.
    num_cores : int, optional
        Workers (None: one per usable core; -1 all, -2 all but one).
    backend : str
        ``"processes"`` (default, for GIL-bound Python), ``"threads"``,
        ``"serial"`` or any registered backend.

    Returns
    -------
    ndarray, shape (len(data), k)
        ``np.array(results).reshape(len(data), -1)``: row ``i`` is
        ``f(data[i])`` flattened; ``k`` is 1 for scalar results.  Empty
        data gives shape (0, 0).
    """
    if not callable(f):
        raise TypeError(f"f must be callable (applied to each subject); got {item_repr(f)} of "
                        f"type {type(f).__name__}")
    try:
        n = len(data)
    except TypeError:
        raise TypeError(
            "data must be a sequence or an array of subjects (Parallelize returns one row per "
            f"subject, so it needs len(data)); got {item_repr(data)} of type "
            f"{type(data).__name__}") from None
    if isinstance(data, (str, bytes)):
        raise TypeError(f"data must be a sequence or an array of subjects; got a "
                        f"{type(data).__name__} ({item_repr(data)})")
    _check_num_cores(num_cores)
    results = pmap(f, data, backend=backend, n_workers=num_cores)
    if n == 0:
        return np.empty((0, 0))
    sizes = {np.size(r) for r in results}
    if len(sizes) != 1:
        raise ValueError(
            "Parallelize needs f to return results of one size for every subject to stack them "
            f"into rows; got sizes {sorted(sizes)}"
        )
    return np.array([np.asarray(r).reshape(-1) for r in results]).reshape(n, -1)


def _check_num_cores(num_cores):
    """num_cores means pmap's n_workers: errors name num_cores."""
    try:
        resolve_n_workers(num_cores)
    except (TypeError, ValueError) as exc:
        raise type(exc)(str(exc).replace("n_workers", "num_cores")) from None


# --------------------------------------------------------------------------
# Parameter grids
# --------------------------------------------------------------------------


def _check_grid_dict(grid, where):
    for key, values in grid.items():
        if not isinstance(key, str):
            raise TypeError(f"parameter names in grid{where} must be strings; got {key!r}")
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
            raise TypeError(
                f"grid{where}[{key!r}] must be a list (or array) of values to try; got "
                f"{item_repr(values)} of type {type(values).__name__}. Wrap a single value "
                "in a list: [value]"
            )
        if len(values) == 0:
            raise ValueError(f"grid{where}[{key!r}] must list at least one value; got an empty "
                             "sequence")


def expand_grid(grid):
    """Expand a grid into a list of parameter dicts, in scikit-learn's
    ``ParameterGrid`` order.

    Parameters
    ----------
    grid : dict of lists, or list of such dicts
        For each dict, every combination of its values; keys are iterated
        in sorted order, the last one varying fastest.  A list of dicts
        gives their expansions one after the other.

    Returns
    -------
    list of dict
    """
    if isinstance(grid, Mapping):
        grids = [grid]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        grids = list(grid)
    else:
        raise TypeError(
            f"grid must be a dict of lists or a list of such dicts; got {type(grid).__name__}"
        )
    out = []
    for i, g in enumerate(grids):
        where = "" if isinstance(grid, Mapping) else f"[{i}]"
        if not isinstance(g, Mapping):
            raise TypeError(f"grid{where} must be a dict of lists; got {type(g).__name__}")
        _check_grid_dict(g, where)
        items = sorted(g.items())
        if not items:
            out.append({})
            continue
        keys, values = zip(*items)
        for combo in itertools.product(*values):
            out.append(dict(zip(keys, combo)))
    return out


class _CallWithParams:
    """``func(**params)`` as a picklable one-argument callable."""

    def __init__(self, func):
        self.func = func

    def __call__(self, params):
        return self.func(**params)


def sweep(func, grid, *, backend="processes", n_workers=None, progress=False):
    """Run ``func(**params)`` for every point of a parameter grid.

    Parameters
    ----------
    func : callable
        Called with the grid point's parameters as keyword arguments.
    grid : dict of lists, or list of such dicts
        Expanded in scikit-learn ``ParameterGrid`` order (see
        :func:`expand_grid`).
    backend, n_workers, progress
        As for :func:`pmap`.

    Returns
    -------
    list of (dict, object)
        ``[(params, func(**params)), ...]`` in grid order.

    Examples
    --------
    >>> import gilfree
    >>> gilfree.sweep(lambda a, b: a * b, {"a": [1, 2], "b": [10, 20]}, backend="serial")
    [({'a': 1, 'b': 10}, 10), ({'a': 1, 'b': 20}, 20), ({'a': 2, 'b': 10}, 20), ({'a': 2, 'b': 20}, 40)]
    """
    if not callable(func):
        raise TypeError(f"func must be callable (called as func(**params)); got "
                        f"{item_repr(func)} of type {type(func).__name__}")
    points = expand_grid(grid)
    results = pmap(_CallWithParams(func), points, backend=backend, n_workers=n_workers,
                   progress=progress)
    return list(zip(points, results))


# --------------------------------------------------------------------------
# with_params: sklearn-style objects
# --------------------------------------------------------------------------


def _is_estimator(obj):
    """True for objects with parameters of their own: ``get_params`` and
    ``set_params`` (gilfree's estimators, scikit-learn's, a gaitmap
    template), not classes."""
    return (callable(getattr(obj, "get_params", None))
            and callable(getattr(obj, "set_params", None)) and not isinstance(obj, type))


class Params:
    """scikit-learn's parameter protocol over the ``__init__`` arguments,
    for gilfree's estimators (:class:`gilfree.KernelDensity`,
    :class:`gilfree.dtw.BarthDtw`, :class:`gilfree.dtw.DtwTemplate`):
    ``get_params``/``set_params``, nested with ``<param>__<sub>`` for
    parameters that have parameters themselves.  Parameters are stored
    unchanged and validated where they are used, so ``sklearn.base.clone``
    and :func:`with_params` rebuild an object from ``get_params``."""

    #: list the parameters sorted by name (scikit-learn's order), else in
    #: the order of the ``__init__`` signature
    _SORTED_PARAMS = False

    @classmethod
    def _get_param_names(cls):
        names = cls.__dict__.get("_PARAM_NAMES")
        if names is None:
            sig = inspect.signature(cls.__init__)
            names = tuple(p.name for p in sig.parameters.values()
                          if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
            names = tuple(sorted(names)) if cls._SORTED_PARAMS else names
            cls._PARAM_NAMES = names
        return names

    def _store_params(self, values):
        """``__init__``'s part, called first with its ``locals()``: every
        argument stored unchanged."""
        for name, value in values.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    def get_params(self, deep=True):
        """Parameters of this object (a dict; nested ones as ``a__b``)."""
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and _is_estimator(value):
                out.update((f"{name}__{k}", v) for k, v in value.get_params(deep=True).items())
            out[name] = value
        return out

    def _unknown_key(self, params, valid):
        """The first key of ``params`` that names no parameter (``valid``:
        :meth:`get_params`), or None.  A nested key is valid if its head is
        set to an object with parameters in the same ``params`` (checked
        when that object's parameters are set)."""
        for key in params:
            head, sep, _ = key.partition("__")
            if head not in self._get_param_names() or (
                    sep and key not in valid and not _is_estimator(params.get(head))):
                return key
        return None

    def _unknown(self, key, valid):
        raise ValueError(
            f"unknown parameter {key!r} for {type(self).__name__}; valid parameters: "
            f"{', '.join(sorted(valid))}"
        )

    def set_params(self, **params):
        """Set parameters (``a__b=...`` sets those of parameter ``a``).
        Unknown names raise ValueError listing the valid ones; nothing is
        set then."""
        valid = self.get_params(deep=True)
        key = self._unknown_key(params, valid)
        if key is not None:
            self._unknown(key, valid)
        direct, nested = _split_nested(params)
        for head, value in direct.items():
            setattr(self, head, value)
        for head, subs in nested.items():
            obj = getattr(self, head)
            if not _is_estimator(obj):
                raise ValueError(
                    f"cannot set {', '.join(f'{head}__{k}' for k in subs)}: {type(self).__name__}"
                    f".{head} is {describe(obj)}, which has no parameters"
                )
            obj.set_params(**subs)
        return self


def _clone(obj):
    """An unfitted copy: rebuilt from ``get_params(deep=False)``,
    recursively for parameters that are estimators themselves (what
    scikit-learn's ``clone`` does, without importing scikit-learn)."""
    if isinstance(obj, (list, tuple, set, frozenset)):
        return type(obj)(_clone(o) for o in obj)
    if not _is_estimator(obj):
        return copy.deepcopy(obj)
    params = obj.get_params(deep=False)
    return type(obj)(**{k: _clone(v) for k, v in params.items()})


def _split_nested(params):
    """``({name: value}, {name: {sub: value}})`` of ``params``, whose keys
    ``name__sub`` set parameter ``sub`` of parameter ``name``."""
    direct, nested = {}, {}
    for key, value in params.items():
        head, sep, rest = key.partition("__")
        if sep:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    return direct, nested


def _apply(obj, params, path):
    valid = obj.get_params(deep=True)
    for key in params:
        head = key.partition("__")[0]
        if head not in valid:
            raise ValueError(
                f"invalid parameter {path + head!r} for {type(obj).__name__}; valid parameters "
                f"are: {sorted(k for k in valid if '__' not in k)}"
            )
    direct, nested = _split_nested(params)
    if direct:
        obj.set_params(**direct)
    if nested:
        valid = obj.get_params(deep=True)
        for head, sub in nested.items():
            child = valid[head]
            if not _is_estimator(child):
                raise ValueError(
                    f"parameter {path + head!r} of {type(obj).__name__} is a "
                    f"{type(child).__name__}, which has no get_params/set_params, so "
                    f"{sorted(path + head + '__' + k for k in sub)} cannot be set"
                )
            _apply(child, sub, path + head + "__")
    return obj


def with_params(obj, params):
    """A copy of an sklearn-style object with parameters set.

    Parameters
    ----------
    obj : object
        Anything with ``get_params(deep=...)`` and ``set_params(**kw)``
        (scikit-learn estimators and pipelines).  It is not modified.
    params : dict
        Parameter names to values; nested objects' parameters use
        ``"step__param"`` keys, as in scikit-learn.

    Returns
    -------
    object
        An unfitted copy (built like scikit-learn's ``clone``) with
        ``params`` applied.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline            # doctest: +SKIP
    >>> from sklearn.svm import SVC                           # doctest: +SKIP
    >>> pipe = make_pipeline(SVC())                           # doctest: +SKIP
    >>> with_params(pipe, {"svc__C": 10.0}).get_params()["svc__C"]  # doctest: +SKIP
    10.0
    """
    if not _is_estimator(obj):
        raise TypeError(
            "with_params needs an sklearn-style object with get_params and set_params; got "
            f"{type(obj).__name__}"
        )
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of parameter names to values; got "
                        f"{type(params).__name__}")
    return _apply(_clone(obj), dict(params), "")
