"""Bad input to the parallel map and its helpers: a table.

Every parameter of pmap / imap / shared / Parallelize / sweep / with_params,
with the error each bad value must raise and a fragment of its message: the
parameter's name, what was expected and what was received.  pmap and imap
are checked on every backend where the parameter applies, and imap when it
is called (not at the first next()).
"""

import math

import numpy as np
import pytest

import gilfree
from gilfree.parallel import imap, pmap, shared

BACKENDS = ("serial", "threads", "processes")


def square(x):
    return x * x


def _gen():
    yield 1


class _Est:
    """The smallest sklearn-style object (get_params / set_params)."""

    def __init__(self, C=1.0, inner=None):
        self.C = C
        self.inner = inner

    def get_params(self, deep=True):
        return {"C": self.C, "inner": self.inner}

    def set_params(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)
        return self


# (parameters of pmap/imap, error, message fragment)
MAP_CASES = [
    # func
    ({"func": 42}, TypeError, "func must be callable (a function applied to each item); got 42 "
                              "of type int"),
    ({"func": None}, TypeError, "func must be callable (a function applied to each item); got "
                                "None of type NoneType"),
    # iterable
    ({"iterable": 5}, TypeError, "iterable must be an iterable of items (a list, tuple, range, "
                                 "array, generator...); got 5 of type int"),
    ({"iterable": None}, TypeError, "iterable must be an iterable of items"),
    ({"iterable": 2.5}, TypeError, "got 2.5 of type float"),
    # backend
    # (other tests may register more backends: the end of the list)
    ({"backend": "gpu"}, ValueError, "'processes', 'serial', 'threads'; got 'gpu'"),
    ({"backend": 3}, ValueError, "'processes', 'serial', 'threads'; got 3"),
    ({"backend": None}, ValueError, "backend must be one of"),
    # n_workers
    ({"n_workers": 0}, ValueError, "n_workers=0 runs nothing: use None for one worker per usable "
                                   "core, a positive count, or a negative count from the end"),
    ({"n_workers": -1000}, ValueError, "n_workers=-1000 leaves no worker on this machine's"),
    ({"n_workers": 1.5}, TypeError, "n_workers must be an int (or None for all usable cores); "
                                    "got 1.5 of type float"),
    ({"n_workers": "2"}, TypeError, "n_workers must be an int (or None for all usable cores); "
                                    "got '2' of type str"),
    ({"n_workers": True}, TypeError, "n_workers must be an int (or None for all usable cores); "
                                     "got True of type bool"),
    # chunksize
    ({"chunksize": 0}, ValueError, "chunksize must be >= 1 (tasks per chunk) or 'auto'; got 0"),
    ({"chunksize": -3}, ValueError, "chunksize must be >= 1 (tasks per chunk) or 'auto'; got -3"),
    ({"chunksize": "big"}, ValueError, "chunksize must be 'auto' or a positive int; got 'big'"),
    ({"chunksize": 2.5}, TypeError, "chunksize must be 'auto' or a positive int (tasks per "
                                    "chunk); got 2.5 of type float"),
    ({"chunksize": True}, TypeError, "got True of type bool"),
    ({"chunksize": None}, TypeError, "chunksize must be 'auto' or a positive int (tasks per "
                                     "chunk); got None of type NoneType"),
    # ordered
    ({"ordered": "no"}, TypeError, "ordered must be True (results in input order) or False (as "
                                   "completed); got 'no' of type str"),
    ({"ordered": None}, TypeError, "ordered must be True (results in input order) or False (as "
                                   "completed); got None of type NoneType"),
    ({"ordered": 1}, TypeError, "ordered must be True (results in input order) or False (as "
                                "completed); got 1 of type int"),
    # progress
    ({"progress": "yes"}, TypeError, "progress must be True, False or a callable receiving "
                                     "(done, total); got 'yes' of type str"),
    ({"progress": 5}, TypeError, "progress must be True, False or a callable receiving (done, "
                                 "total); got 5 of type int"),
    # timeout
    ({"timeout": -1}, ValueError, "timeout must be a positive, finite number of seconds per "
                                  "task (or None for no limit); got -1.0"),
    ({"timeout": 0}, ValueError, "timeout must be a positive, finite number of seconds per task"
                                 " (or None for no limit); got 0.0"),
    ({"timeout": math.nan}, ValueError, "got nan"),
    ({"timeout": math.inf}, ValueError, "got inf"),
    ({"timeout": "10"}, TypeError, "timeout must be a positive number of seconds per task, or "
                                   "None; got '10' of type str"),
    ({"timeout": True}, TypeError, "timeout must be a positive number of seconds per task, or "
                                   "None; got True of type bool"),
    # retries
    ({"retries": -1}, ValueError, "retries must be an int >= 0 (extra attempts per failing "
                                  "task); got -1"),
    ({"retries": 1.5}, TypeError, "retries must be an int >= 0 (extra attempts per failing "
                                  "task); got 1.5 of type float"),
    ({"retries": None}, TypeError, "retries must be an int >= 0 (extra attempts per failing "
                                   "task); got None of type NoneType"),
    ({"retries": "3"}, TypeError, "retries must be an int >= 0 (extra attempts per failing "
                                  "task); got '3' of type str"),
    ({"retries": True}, TypeError, "got True of type bool"),
    # initializer, initargs
    ({"initializer": 3}, TypeError, "initializer must be a callable run once in each worker, or "
                                    "None; got 3 of type int"),
    ({"initializer": "setup"}, TypeError, "initializer must be a callable run once in each "
                                          "worker, or None; got 'setup' of type str"),
    ({"initializer": print, "initargs": 5}, TypeError, "initargs must be a tuple of arguments "
                                                       "for initializer; got 5 of type int"),
    ({"initializer": print, "initargs": "ab"}, TypeError, "initargs must be a tuple of arguments"
                                                          " for initializer; got 'ab' of type "
                                                          "str"),
    ({"initargs": (1,)}, ValueError, "initargs=(1,) given without an initializer"),
    # inner_threads
    ({"inner_threads": 0}, ValueError, "inner_threads must be 'auto', None or an int >= 1 "
                                       "(threads inside each worker); got 0"),
    ({"inner_threads": -1}, ValueError, "inner_threads must be 'auto', None or an int >= 1 "
                                        "(threads inside each worker); got -1"),
    ({"inner_threads": 1.5}, TypeError, "inner_threads must be 'auto', None or an int >= 1 "
                                        "(threads inside each worker); got 1.5 of type float"),
    ({"inner_threads": "all"}, ValueError, "inner_threads must be 'auto', None or an int >= 1 "
                                           "(threads inside each worker); got 'all'"),
    ({"inner_threads": True}, TypeError, "got True of type bool"),
    # client (only for backend="dask")
    ({"client": 42}, ValueError, "client= is only used by backend='dask' (a dask.distributed "
                                 "Client or a scheduler address); got client=42"),
    # prefetch_bytes
    ({"prefetch_bytes": 0}, ValueError, "prefetch_bytes must be 'auto' or a positive int (bytes "
                                        "of array data read ahead); got 0"),
    ({"prefetch_bytes": -5}, ValueError, "got -5"),
    ({"prefetch_bytes": 1.5}, TypeError, "prefetch_bytes must be 'auto' or a positive int (bytes"
                                         " of array data read ahead); got 1.5 of type float"),
    ({"prefetch_bytes": "lots"}, ValueError, "prefetch_bytes must be 'auto' or a positive int "
                                             "(bytes of array data read ahead); got 'lots'"),
    ({"prefetch_bytes": None}, TypeError, "got None of type NoneType"),
]

#: fragments no message may contain (true for another parameter, not this one)
MISLEADING = {
    "retries": "or None for all usable cores",
    "inner_threads": "or None for all usable cores",
}


def _call(fn, case, backend):
    kwargs = dict(case)
    func = kwargs.pop("func", square)
    iterable = kwargs.pop("iterable", [1, 2, 3])
    kwargs.setdefault("backend", backend)
    kwargs.setdefault("n_workers", 2)
    return fn(func, iterable, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn", [pmap, imap], ids=["pmap", "imap"])
@pytest.mark.parametrize("case, exc, fragment", MAP_CASES,
                         ids=[f"{next(iter(c))}={c[next(iter(c))]!r}" for c, _, _ in MAP_CASES])
def test_bad_map_arguments(fn, backend, case, exc, fragment):
    if "n_workers" in case and backend == "serial":
        pytest.skip("serial ignores n_workers (it is one worker)")
    with pytest.raises(exc) as info:
        _call(fn, case, backend)  # imap too: at the call, before any next()
    msg = str(info.value)
    assert fragment in msg
    for name, wrong in MISLEADING.items():
        if name in case:
            assert wrong not in msg


def test_bad_client_types_on_dask():
    pytest.importorskip("distributed")
    for fn in (pmap, imap):
        with pytest.raises(TypeError, match="client must be a dask.distributed Client, a "
                                            "scheduler address such as 'tcp://127.0.0.1:8786', "
                                            "or None for a local cluster; got 42 of type int"):
            fn(square, [1], backend="dask", client=42)


def test_str_and_bytes_are_iterables_as_for_map():
    assert pmap(ord, "ab", backend="threads", n_workers=2) == [97, 98]


# (callable, args, kwargs, error, message fragment)
HELPER_CASES = [
    # shared(array)
    (shared, (np.array([{}, []], dtype=object),), {}, TypeError,
     "array must be a NumPy array (or array-like) of plain values (numbers, bools, strings, "
     "structured records without objects); got ndarray with dtype object"),
    (shared, (None,), {}, TypeError, "got NoneType with dtype object"),
    (shared, ([1, "a", None],), {}, TypeError, "got list with dtype object"),
    (shared, (square,), {}, TypeError, "got function with dtype object"),
    # Parallelize(data, f, num_cores, backend)
    (gilfree.Parallelize, (_gen(), square), {}, TypeError,
     "data must be a sequence or an array of subjects (Parallelize returns one row per "
     "subject, so it needs len(data)); got <generator object"),
    (gilfree.Parallelize, (5, square), {}, TypeError, "data must be a sequence or an array of "
                                                      "subjects"),
    (gilfree.Parallelize, ("abc", square), {}, TypeError, "data must be a sequence or an array "
                                                          "of subjects; got a str ('abc')"),
    (gilfree.Parallelize, ([1, 2], 3), {}, TypeError, "f must be callable (applied to each "
                                                      "subject); got 3 of type int"),
    (gilfree.Parallelize, ([1, 2], square), {"num_cores": 0}, ValueError,
     "num_cores=0 runs nothing"),
    (gilfree.Parallelize, ([1, 2], square), {"num_cores": 1.5}, TypeError,
     "num_cores must be an int (or None for all usable cores); got 1.5 of type float"),
    (gilfree.Parallelize, ([1, 2], square), {"num_cores": "4"}, TypeError,
     "num_cores must be an int (or None for all usable cores); got '4' of type str"),
    (gilfree.Parallelize, ([1, 2], square), {"backend": "gpu"}, ValueError,
     "backend must be one of"),
    (gilfree.Parallelize, ([1, 2], np.ones), {"backend": "serial"}, ValueError,
     "Parallelize needs f to return results of one size for every subject"),
    # sweep(func, grid, backend, n_workers, progress)
    (gilfree.sweep, (3, {"a": [1]}), {}, TypeError, "func must be callable (called as "
                                                    "func(**params)); got 3 of type int"),
    (gilfree.sweep, (dict, 5), {}, TypeError, "grid must be a dict of lists or a list of such "
                                              "dicts; got int"),
    (gilfree.sweep, (dict, {"a": 3}), {}, TypeError, "grid['a'] must be a list (or array) of "
                                                     "values to try; got 3 of type int. Wrap a "
                                                     "single value in a list"),
    (gilfree.sweep, (dict, {"a": "xyz"}), {}, TypeError, "grid['a'] must be a list (or array) "
                                                         "of values to try; got 'xyz' of type "
                                                         "str"),
    (gilfree.sweep, (dict, {"a": []}), {}, ValueError, "grid['a'] must list at least one value;"
                                                       " got an empty sequence"),
    (gilfree.sweep, (dict, {1: [1]}), {}, TypeError, "parameter names in grid must be strings; "
                                                     "got 1"),
    (gilfree.sweep, (dict, [{"a": [1]}, 5]), {}, TypeError, "grid[1] must be a dict of lists; "
                                                            "got int"),
    (gilfree.sweep, (dict, {"a": [1]}), {"n_workers": 0}, ValueError, "n_workers=0 runs "
                                                                      "nothing"),
    (gilfree.sweep, (dict, {"a": [1]}), {"backend": "gpu"}, ValueError, "backend must be one "
                                                                        "of"),
    (gilfree.sweep, (dict, {"a": [1]}), {"progress": "yes"}, TypeError, "progress must be True,"
                                                                        " False or a callable"),
    # with_params(obj, params)
    (gilfree.with_params, (object(), {}), {}, TypeError, "with_params needs an sklearn-style "
                                                         "object with get_params and set_params;"
                                                         " got object"),
    (gilfree.with_params, (_Est, {}), {}, TypeError, "with_params needs an sklearn-style object "
                                                     "with get_params and set_params; got type"),
    (gilfree.with_params, (_Est(), 5), {}, TypeError, "params must be a dict of parameter names "
                                                      "to values; got int"),
    (gilfree.with_params, (_Est(), {"nope": 1}), {}, ValueError, "invalid parameter 'nope' for "
                                                                 "_Est; valid parameters are: "
                                                                 "['C', 'inner']"),
    (gilfree.with_params, (_Est(), {"C__x": 1}), {}, ValueError, "parameter 'C' of _Est is a "
                                                                 "float, which has no "
                                                                 "get_params/set_params"),
]


@pytest.mark.parametrize("fn, args, kwargs, exc, fragment", HELPER_CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(HELPER_CASES)])
def test_bad_helper_arguments(fn, args, kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert fragment in str(info.value)


def test_the_table_covers_every_parameter():
    import inspect

    covered = {next(iter(c)) for c, _, _ in MAP_CASES} | {k for c, _, _ in MAP_CASES for k in c}
    params = set(inspect.signature(pmap).parameters)
    assert params == set(inspect.signature(imap).parameters)
    assert params <= covered, f"parameters without a bad-input case: {params - covered}"
    assert len(MAP_CASES) + len(HELPER_CASES) + 1 >= 79  # + the dask client types
